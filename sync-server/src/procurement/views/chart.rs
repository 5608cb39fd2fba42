//! Small inline-SVG charts: horizontal bar chart, time series (columns), histogram on a
//! log scale with vertical markers. No JavaScript, printable, and accessible: every
//! chart has `role="img"`, a `<title>` and a `<desc>` tied with `aria-labelledby`, and
//! the page always carries the same numbers in a table. All text is XML-escaped here;
//! the output is inserted unescaped in the templates.

use std::fmt::Write;

use super::fmt;

const BAR: &str = "#1f4e8c";
const MARK: &str = "#a4161a";
const INK: &str = "#1a1a1a";
const GRID: &str = "#c8ccd2";
const WIDTH: f64 = 760.0;

/// Escapes text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are invalid in XML 1.0.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// What every chart needs to be understood without seeing it.
pub struct ChartText<'a> {
    /// Unique within the page (used for the `aria-labelledby` ids).
    pub id: &'a str,
    pub title: &'a str,
    pub desc: &'a str,
}

/// Height of the visible title band above every chart.
const TITLE_BAND: f64 = 26.0;

/// Starts the SVG: accessible name and description, a visible title (the chart is also
/// read without its page, e.g. printed), and a group for the plot below the title.
fn open(out: &mut String, t: &ChartText, height: f64) {
    let id = escape(t.id);
    let title = escape(t.title);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} {:.0}" width="100%" aria-labelledby="{id}-t {id}-d" font-family="system-ui, sans-serif" font-size="12"><title id="{id}-t">{title}</title><desc id="{id}-d">{}</desc><text x="0" y="16" font-size="14" font-weight="700" fill="{INK}" aria-hidden="true">{title}</text><g transform="translate(0 {TITLE_BAND})">"#,
        height + TITLE_BAND,
        escape(t.desc)
    );
}

/// Closes what [`open`] started.
fn close(out: &mut String) {
    out.push_str("</g></svg>");
}

/// One bar: a label, a value and its formatted text.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub text: String,
}

/// Horizontal bars, largest scale = largest value; labels on the left.
pub fn bar_chart(t: &ChartText, bars: &[Bar]) -> String {
    let row = 22.0;
    let label_w = 280.0;
    let value_w = 110.0;
    let height = (bars.len().max(1) as f64) * row + 10.0;
    let max = bars
        .iter()
        .map(|b| b.value)
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let mut out = String::new();
    open(&mut out, t, height);
    if bars.is_empty() {
        let _ = write!(
            out,
            r#"<text x="10" y="20" fill="{INK}">Aucune donnée</text>"#
        );
    }
    let span = WIDTH - label_w - value_w;
    for (i, b) in bars.iter().enumerate() {
        let y = 5.0 + i as f64 * row;
        let w = if max > 0.0 && b.value > 0.0 {
            (b.value / max * span).max(1.0)
        } else {
            0.0
        };
        let _ = write!(
            out,
            r#"<g><text x="{:.1}" y="{:.1}" text-anchor="end" fill="{INK}">{}</text><rect x="{label_w}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{BAR}"/><text x="{:.1}" y="{:.1}" fill="{INK}">{}</text></g>"#,
            label_w - 6.0,
            y + 15.0,
            escape(&truncate(&b.label, 36)),
            y + 3.0,
            row - 6.0,
            label_w + w + 4.0,
            y + 15.0,
            escape(&b.text),
        );
    }
    close(&mut out);
    out
}

/// Columns in time order (months or years); only some x labels are written when many.
pub fn time_series(
    t: &ChartText,
    points: &[(String, f64)],
    value_text: fn(f64) -> String,
) -> String {
    let height = 240.0;
    let (left, right, top, bottom) = (70.0, 10.0, 14.0, 40.0);
    let plot_h = height - top - bottom;
    let plot_w = WIDTH - left - right;
    let max = points
        .iter()
        .map(|p| p.1)
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let mut out = String::new();
    open(&mut out, t, height);
    // Axis and two grid lines with their values.
    for frac in [0.0, 0.5, 1.0] {
        let y = top + plot_h * (1.0 - frac);
        let _ = write!(
            out,
            r#"<line x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{GRID}"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="{INK}">{}</text>"#,
            WIDTH - right,
            left - 4.0,
            y + 4.0,
            escape(&value_text(max * frac)),
        );
    }
    if points.is_empty() {
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" fill="{INK}">Aucune donnée</text>"#,
            left + 10.0,
            top + 20.0
        );
    }
    let n = points.len().max(1) as f64;
    let slot = plot_w / n;
    let every = ((points.len() as f64) / 12.0).ceil().max(1.0) as usize;
    for (i, (label, v)) in points.iter().enumerate() {
        let h = if max > 0.0 && *v > 0.0 {
            (v / max * plot_h).max(1.0)
        } else {
            0.0
        };
        let x = left + i as f64 * slot;
        let _ = write!(
            out,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{BAR}"><title>{} : {}</title></rect>"#,
            x + slot * 0.1,
            top + plot_h - h,
            (slot * 0.8).max(1.0),
            escape(label),
            escape(&value_text(*v)),
        );
        if i % every == 0 {
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{INK}">{}</text>"#,
                x + slot / 2.0,
                height - bottom + 16.0,
                escape(label)
            );
        }
    }
    close(&mut out);
    out
}

/// One histogram bin `[lo, hi)` with its count.
pub struct Bin {
    pub lo: f64,
    pub hi: f64,
    pub count: i64,
}

/// A vertical line at a value (a legal threshold).
pub struct Marker {
    pub value: f64,
    pub label: String,
}

/// Histogram on a log10 x axis (bins must be positive); markers are drawn on top with
/// staggered labels so close thresholds stay readable.
pub fn histogram(t: &ChartText, bins: &[Bin], markers: &[Marker]) -> String {
    let height = 300.0;
    let (left, right, top, bottom) = (50.0, 10.0, 16.0 + 16.0 * markers.len().min(6) as f64, 40.0);
    let plot_h = height - top - bottom;
    let plot_w = WIDTH - left - right;
    let lo = bins
        .iter()
        .map(|b| b.lo)
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let hi = bins.iter().map(|b| b.hi).fold(0.0_f64, f64::max);
    let max = bins.iter().map(|b| b.count).max().unwrap_or(0);
    let mut out = String::new();
    open(&mut out, t, height);
    if !(lo.is_finite() && hi > lo) {
        let _ = write!(
            out,
            r#"<text x="{left}" y="{:.1}" fill="{INK}">Aucune donnée</text>"#,
            top + 20.0
        );
        close(&mut out);
        return out;
    }
    let (l0, l1) = (lo.log10(), hi.log10());
    let x_of = |v: f64| left + (v.max(lo).log10() - l0) / (l1 - l0) * plot_w;
    for frac in [0.0, 0.5, 1.0] {
        let y = top + plot_h * (1.0 - frac);
        let _ = write!(
            out,
            r#"<line x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{GRID}"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="{INK}">{}</text>"#,
            WIDTH - right,
            left - 4.0,
            y + 4.0,
            fmt::int((max as f64 * frac).round() as i64),
        );
    }
    for b in bins {
        if b.lo <= 0.0 {
            continue;
        }
        let (x0, x1) = (x_of(b.lo), x_of(b.hi));
        let h = if max > 0 {
            b.count as f64 / max as f64 * plot_h
        } else {
            0.0
        };
        let _ = write!(
            out,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{BAR}"><title>{} – {} : {}</title></rect>"#,
            x0 + 0.5,
            top + plot_h - h,
            (x1 - x0 - 1.0).max(0.5),
            escape(&fmt::eur_short(b.lo)),
            escape(&fmt::eur_short(b.hi)),
            fmt::int(b.count),
        );
    }
    // Decade ticks.
    let mut decade = 10f64.powf(l0.ceil());
    while decade <= hi {
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{INK}">{}</text>"#,
            x_of(decade),
            height - bottom + 16.0,
            escape(&fmt::eur_short(decade))
        );
        decade *= 10.0;
    }
    for (i, m) in markers.iter().enumerate() {
        if m.value < lo || m.value > hi {
            continue;
        }
        let x = x_of(m.value);
        let label_y = 14.0 + 16.0 * (i % 6) as f64;
        let anchor = if x > WIDTH * 0.7 { "end" } else { "start" };
        let _ = write!(
            out,
            r#"<g><line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}" stroke="{MARK}" stroke-width="1.5" stroke-dasharray="4 3"/><text x="{:.1}" y="{label_y:.1}" text-anchor="{anchor}" fill="{MARK}">{}</text></g>"#,
            label_y + 3.0,
            top + plot_h,
            if anchor == "end" { x - 3.0 } else { x + 3.0 },
            escape(&m.label)
        );
    }
    close(&mut out);
    out
}

/// Log bins: `per_decade` bins per power of ten from `lo` (a power of ten) to `hi`.
pub fn log_bins(lo: f64, hi: f64, per_decade: u32) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    if !(lo > 0.0 && hi > lo && per_decade > 0) {
        return out;
    }
    let step = 1.0 / f64::from(per_decade);
    // Count bins up front so float drift never adds a sliver bin at the end.
    let n = (((hi / lo).log10() * f64::from(per_decade)) - 1e-9).ceil() as u32;
    for k in 0..n {
        let a = lo * 10f64.powf(f64::from(k) * step);
        let b = lo * 10f64.powf(f64::from(k + 1) * step);
        out.push((a, b));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    fn text() -> ChartText<'static> {
        ChartText {
            id: "c1",
            title: "Montants <par> \"acheteur\" & co",
            desc: "desc",
        }
    }

    fn well_formed(svg: &str) {
        assert!(svg.starts_with("<svg"));
        assert!(svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<svg").count(), 1);
        assert_eq!(
            svg.matches("<title").count(),
            svg.matches("</title>").count()
        );
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    }

    #[test]
    fn escape_covers_markup_and_controls() {
        assert_eq!(
            escape("<a href=\"x\">&'\u{1}"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39; "
        );
    }

    #[test]
    fn bar_chart_is_accessible_and_escapes_labels() {
        let bars = vec![
            Bar {
                label: "<script>alert(1)</script>".into(),
                value: 10.0,
                text: "10".into(),
            },
            Bar {
                label: "B".into(),
                value: 5.0,
                text: "5".into(),
            },
        ];
        let svg = bar_chart(&text(), &bars);
        well_formed(&svg);
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains(r#"aria-labelledby="c1-t c1-d""#));
        assert!(svg.contains("Montants &lt;par&gt; &quot;acheteur&quot; &amp; co"));
        assert!(!svg.contains("<script>"));
        // The largest bar spans the plot, the half-value bar half of it.
        let widths: Vec<f64> = svg
            .split("width=\"")
            .skip(2)
            .filter_map(|s| s.split('"').next()?.parse().ok())
            .collect();
        assert_eq!(widths.len(), 2);
        assert!((widths[0] / widths[1] - 2.0).abs() < 0.01);
    }

    #[test]
    fn empty_charts_say_so() {
        assert!(bar_chart(&text(), &[]).contains("Aucune donnée"));
        assert!(histogram(&text(), &[], &[]).contains("Aucune donnée"));
        assert!(time_series(&text(), &[], fmt::int_f).contains("Aucune donnée"));
    }

    #[test]
    fn time_series_draws_one_column_per_point_and_thins_labels() {
        let points: Vec<(String, f64)> = (1..=36).map(|m| (format!("m{m}"), m as f64)).collect();
        let svg = time_series(&text(), &points, fmt::int_f);
        well_formed(&svg);
        assert_eq!(svg.matches("<rect").count(), 36);
        assert!(svg.contains(">m1<"));
        assert!(!svg.contains(">m2<"));
    }

    #[test]
    fn histogram_marks_thresholds_inside_the_range_only() {
        let bins: Vec<Bin> = log_bins(100.0, 1e7, 4)
            .into_iter()
            .map(|(lo, hi)| Bin { lo, hi, count: 3 })
            .collect();
        assert_eq!(bins.len(), 20);
        let markers = vec![
            Marker {
                value: 40_000.0,
                label: "40 k€ <dispense>".into(),
            },
            Marker {
                value: 1e9,
                label: "hors champ".into(),
            },
        ];
        let svg = histogram(&text(), &bins, &markers);
        well_formed(&svg);
        assert!(svg.contains("40 k€ &lt;dispense&gt;"));
        assert!(!svg.contains("hors champ"));
        assert_eq!(svg.matches("stroke-dasharray").count(), 1);
    }

    #[test]
    fn log_bins_cover_the_range_contiguously() {
        let bins = log_bins(1.0, 1000.0, 2);
        assert_eq!(bins.len(), 6);
        for w in bins.windows(2) {
            assert!((w[0].1 - w[1].0).abs() < 1e-9);
        }
        assert!((bins[5].1 - 1000.0).abs() < 1e-6);
        assert!(log_bins(0.0, 10.0, 2).is_empty());
    }
}
