//! Reads back the QR codes of an SVG page drawn with `qrcode`'s SVG renderer (the enrolment
//! sheet): each code's module path is rasterised and decoded with `rqrr`, an independent
//! decoder, so a test sees what a phone camera would read.

use anyhow::{Context, bail};

/// Pixels per QR module in the rasterised image.
const SCALE: usize = 4;

/// The payloads of every QR code in `svg`, in document order.
pub fn decode_svg_qr_codes(svg: &str) -> anyhow::Result<Vec<String>> {
    let mut payloads = Vec::new();
    let marker = r#"shape-rendering="crispEdges">"#;
    let mut rest = svg;
    while let Some(at) = rest.find(marker) {
        let head = &rest[..at];
        let view = head
            .rfind(r#"viewBox="0 0 "#)
            .context("QR code without viewBox")?;
        let side: usize = head[view + 13..]
            .split_whitespace()
            .next()
            .context("viewBox")?
            .parse()?;
        let body = &rest[at + marker.len()..];
        let start = body.find(r#" d=""#).context("QR code without path")? + 4;
        let end = body[start..].find('"').context("unterminated path")? + start;
        payloads.push(decode_path(side, &body[start..end])?);
        rest = &body[end..];
    }
    Ok(payloads)
}

/// Rasterises `M{l} {t}h{w}v{h}H{l}V{t}` rectangles (module units) and decodes the code.
fn decode_path(side: usize, d: &str) -> anyhow::Result<String> {
    let px = side * SCALE;
    let mut dark = vec![false; px * px];
    for rect in d.split('M').filter(|r| !r.is_empty()) {
        let numbers: Vec<usize> = rect
            .split(|c: char| c.is_ascii_alphabetic() || c == ' ')
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        let [left, top, width, height, ..] = numbers[..] else {
            bail!("unexpected path segment");
        };
        for y in top * SCALE..(top + height) * SCALE {
            for x in left * SCALE..(left + width) * SCALE {
                if x < px && y < px {
                    dark[y * px + x] = true;
                }
            }
        }
    }
    let mut image = rqrr::PreparedImage::prepare_from_bitmap(px, px, |x, y| dark[y * px + x]);
    let grids = image.detect_grids();
    let grid = grids.first().context("no QR code found")?;
    let (_, payload) = grid.decode().context("QR code does not decode")?;
    Ok(payload)
}
