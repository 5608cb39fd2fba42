//! Medians over runs, the markdown tables, and the `docs/benchmarks.md` section they go into.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use crate::run::{RunResult, ServerKind};

/// Medians of the successful runs of one (server, teams) pair.
#[derive(Debug, Clone)]
pub struct Summary {
    pub kind: ServerKind,
    pub teams: usize,
    pub runs_ok: usize,
    pub runs_total: usize,
    pub cpu_s: f64,
    pub cpu_upload_s: f64,
    pub peak_rss_mib: f64,
    pub upload_wall_s: f64,
    pub fetch_wall_s: f64,
    /// The worst run: fewest records seen.
    pub records_min: usize,
    pub expected: usize,
    pub self_cpu_s: Option<f64>,
    pub self_rss_mib: Option<f64>,
}

pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

pub fn summarize(
    kind: ServerKind,
    teams: usize,
    expected: usize,
    runs_total: usize,
    runs: &[RunResult],
) -> Summary {
    let med = |f: &dyn Fn(&RunResult) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
    let self_cpu: Vec<f64> = runs.iter().filter_map(|r| r.self_cpu_s).collect();
    let self_rss: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.self_rss_kib)
        .map(|k| k as f64 / 1024.0)
        .collect();
    Summary {
        kind,
        teams,
        runs_ok: runs.len(),
        runs_total,
        cpu_s: med(&|r| r.cpu_s),
        cpu_upload_s: med(&|r| r.cpu_upload_s),
        peak_rss_mib: med(&|r| r.peak_rss_kib as f64 / 1024.0),
        upload_wall_s: med(&|r| r.upload_wall_s),
        fetch_wall_s: med(&|r| r.fetch_wall_s),
        records_min: runs.iter().map(|r| r.records).min().unwrap_or(0),
        expected,
        self_cpu_s: (!self_cpu.is_empty()).then(|| median(&mut self_cpu.clone())),
        self_rss_mib: (!self_rss.is_empty()).then(|| median(&mut self_rss.clone())),
    }
}

fn ratio(node: f64, ours: f64) -> String {
    if ours > 0.0 && node.is_finite() && ours.is_finite() {
        format!("{:.1}×", node / ours)
    } else {
        "–".to_owned()
    }
}

fn num(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "–".to_owned()
    }
}

/// The two tables: measurements per server, then Node / ours ratios.
pub fn tables(summaries: &[Summary]) -> String {
    let mut out = String::new();
    out.push_str(
        "| teams | server | runs ok | server CPU s | CPU s (uploads only) | peak RSS MiB | \
         uploads acked, wall s | coordinator fetch, wall s | records seen | Node self-report CPU s / RSS MiB |\n",
    );
    out.push_str("|---:|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for s in summaries {
        let self_report = match (s.self_cpu_s, s.self_rss_mib) {
            (Some(c), Some(r)) => format!("{c:.2} / {r:.0}"),
            _ => "–".to_owned(),
        };
        let missing = s.expected.saturating_sub(s.records_min);
        let _ = writeln!(
            out,
            "| {} | {} | {}/{} | {} | {} | {} | {} | {} | {}/{} ({} missing) | {} |",
            s.teams,
            s.kind.label(),
            s.runs_ok,
            s.runs_total,
            num(s.cpu_s, 2),
            num(s.cpu_upload_s, 2),
            num(s.peak_rss_mib, 0),
            num(s.upload_wall_s, 2),
            num(s.fetch_wall_s, 2),
            s.records_min,
            s.expected,
            missing,
            self_report,
        );
    }
    out.push('\n');
    out.push_str(
        "| teams | CPU Node/ours | CPU (uploads) Node/ours | peak RSS Node/ours | \
         upload wall Node/ours | fetch wall Node/ours |\n",
    );
    out.push_str("|---:|---:|---:|---:|---:|---:|\n");
    let mut teams: Vec<usize> = summaries.iter().map(|s| s.teams).collect();
    teams.dedup();
    for k in teams {
        let find = |kind| {
            summaries
                .iter()
                .find(|s| s.teams == k && s.kind == kind && s.runs_ok > 0)
        };
        let (Some(o), Some(n)) = (find(ServerKind::Ours), find(ServerKind::Node)) else {
            continue;
        };
        let _ = writeln!(
            out,
            "| {k} | {} | {} | {} | {} | {} |",
            ratio(n.cpu_s, o.cpu_s),
            ratio(n.cpu_upload_s, o.cpu_upload_s),
            ratio(n.peak_rss_mib, o.peak_rss_mib),
            ratio(n.upload_wall_s, o.upload_wall_s),
            ratio(n.fetch_wall_s, o.fetch_wall_s),
        );
    }
    out
}

pub const START: &str = "<!-- bench:sync:start -->";
pub const END: &str = "<!-- bench:sync:end -->";

/// Replaces the sync benchmark's section of `path` (between its markers), or appends it;
/// creates the file with a title when missing. Other sections are left untouched.
pub fn write_section(path: &Path, section: &str) -> anyhow::Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            "# Benchmarks\n\nOne section per benchmark; each says how to reproduce it.\n".to_owned()
        }
        Err(e) => return Err(e).context("reading the benchmarks file"),
    };
    let updated = splice(&existing, section);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).context("creating the docs directory")?;
    }
    std::fs::write(path, updated).context("writing the benchmarks file")
}

fn splice(existing: &str, section: &str) -> String {
    let block = format!("{START}\n{}\n{END}", section.trim_end());
    match (existing.find(START), existing.find(END)) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{block}{}", &existing[..a], &existing[b + END.len()..])
        }
        _ => format!("{}\n\n{block}\n", existing.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(cpu: f64, records: usize) -> RunResult {
        RunResult {
            cpu_s: cpu,
            cpu_upload_s: cpu / 2.0,
            peak_rss_kib: 10 * 1024,
            upload_wall_s: 1.0,
            fetch_wall_s: 0.5,
            records,
            self_cpu_s: None,
            self_rss_kib: None,
        }
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn summary_takes_medians_and_the_worst_record_count() {
        let runs = [result(1.0, 40), result(9.0, 38), result(2.0, 40)];
        let s = summarize(ServerKind::Ours, 2, 40, 3, &runs);
        assert_eq!(s.cpu_s, 2.0);
        assert_eq!(s.records_min, 38);
        assert_eq!(s.peak_rss_mib, 10.0);
    }

    #[test]
    fn ratios_are_node_over_ours() {
        let ours = summarize(ServerKind::Ours, 2, 40, 1, &[result(0.5, 40)]);
        let node = summarize(ServerKind::Node, 2, 40, 1, &[result(5.0, 40)]);
        let text = tables(&[ours, node]);
        assert!(
            text.contains("| 2 | 10.0× | 10.0× | 1.0× | 1.0× | 1.0× |"),
            "{text}"
        );
        assert!(text.contains("40/40 (0 missing)"));
    }

    #[test]
    fn section_is_replaced_in_place_and_other_sections_kept() {
        let first = splice("# Benchmarks\n\n## Other\ntext\n", "## Sync\nv1");
        assert!(first.starts_with("# Benchmarks\n\n## Other\ntext\n\n"));
        let second = splice(&format!("{first}\n## Later\nmore\n"), "## Sync\nv2");
        assert!(second.contains("## Sync\nv2"));
        assert!(!second.contains("v1"));
        assert!(second.contains("## Other\ntext") && second.contains("## Later\nmore"));
    }
}
