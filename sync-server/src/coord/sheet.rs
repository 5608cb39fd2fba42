//! The printable enrolment sheet of a team: an A4 SVG page with one QR code per device, each
//! holding a new single-use enrolment code (stored hashed, like every code), the code also
//! written in clear for typing, and the team's and sectors' names.
//!
//! QR payload (JSON, compact, documented in the README):
//! `{"carnet":"enrol","v":1,"server":"<public base URL>","code":"XXXXX-XXXXX"}`.

use std::fmt::Write;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use carnet_shared::doc;
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use serde::{Deserialize, Serialize};

use super::svg::{esc, fit};
use super::{CoordError, authorised_night, db, sync_failed, team_of_night};
use crate::app::AppState;
use crate::auth::{EnrolmentCode, Principal};
use crate::error::ApiError;

pub const ENROLMENT_PAYLOAD_VERSION: u32 = 1;
pub const DEFAULT_CODES_PER_SHEET: u32 = 6;
pub const MAX_CODES_PER_SHEET: u32 = 12;

/// What a device's camera reads on the sheet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentPayload {
    /// Always `"enrol"`: tells the app what this QR code is.
    pub carnet: String,
    pub v: u32,
    /// Base URL of the server to enrol with (the server's `--public-url`).
    pub server: String,
    /// The enrolment code, in its display form.
    pub code: String,
}

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/nights/{night_id}/teams/{team_id}/enrolment-sheet.svg",
        get(enrolment_sheet),
    )
}

#[derive(Debug, Deserialize)]
pub struct SheetQuery {
    pub codes: Option<u32>,
}

/// `GET /api/nights/{night_id}/teams/{team_id}/enrolment-sheet.svg?codes=N` (1–12, default 6):
/// creates N new codes for the team and returns the page. Every call makes new codes (a
/// printed sheet is the only copy of them); the answer is never cached.
async fn enrolment_sheet(
    State(state): State<AppState>,
    principal: Principal,
    Path((night_id, team_id)): Path<(String, String)>,
    Query(query): Query<SheetQuery>,
) -> Result<impl IntoResponse, CoordError> {
    let night = authorised_night(&state, &principal, &night_id).await?;
    let team = team_of_night(&state, night.id, &team_id).await?;
    let count = query.codes.unwrap_or(DEFAULT_CODES_PER_SHEET);
    if !(1..=MAX_CODES_PER_SHEET).contains(&count) {
        return Err(
            ApiError::bad_request("invalid_codes", "codes must be between 1 and 12").into(),
        );
    }
    // Sector names for the page: the team's assignment, named from the night's map.
    let snapshots = state
        .hub
        .read_documents(vec![night.document_id, team.document_id])
        .await
        .map_err(sync_failed)?;
    let night_doc = snapshots.first().and_then(|s| s.doc.as_ref());
    let team_doc = snapshots.get(1).and_then(|s| s.doc.as_ref());
    let map = night_doc.and_then(|d| doc::read_night(d).ok());
    let sectors: Vec<String> = team_doc
        .and_then(|d| doc::read_team(d).ok())
        .map(|t| {
            t.header
                .sectors
                .iter()
                .map(|id| {
                    map.as_ref()
                        .and_then(|m| m.sectors.get(id))
                        .map(|s| s.name.clone())
                        .unwrap_or_else(|| id.0.clone())
                })
                .collect()
        })
        .unwrap_or_default();

    let codes: Vec<EnrolmentCode> = (0..count).map(|_| EnrolmentCode::generate()).collect();
    let payloads: Vec<String> = codes
        .iter()
        .map(|c| {
            serde_json::to_string(&EnrolmentPayload {
                carnet: "enrol".into(),
                v: ENROLMENT_PAYLOAD_VERSION,
                server: state.config.public_base_url.clone(),
                code: c.display_form(),
            })
        })
        .collect::<Result<_, _>>()
        .map_err(|_| ApiError::internal())?;
    let page = Sheet {
        night: &night.name,
        date: night.night_date.as_deref().unwrap_or(""),
        team: &team.name,
        sectors: &sectors,
    }
    .render(&codes, &payloads)
    .map_err(|error| {
        tracing::error!(%error, "could not draw an enrolment sheet");
        ApiError::internal()
    })?;
    // Codes are stored only once the page exists: a failure above leaves no unusable code.
    let now = state.now();
    let hashes: Vec<_> = codes.iter().map(EnrolmentCode::hash).collect();
    let team_id = team.id;
    state
        .db
        .call(move |c| db::add_codes(c, team_id, &hashes, now))
        .await?;
    tracing::info!(team_id = %team.id, codes = count, "enrolment sheet issued");
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        page,
    ))
}

#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    #[error("QR encoding: {0}")]
    Qr(#[from] qrcode::types::QrError),
    #[error("the QR renderer's output changed shape")]
    Renderer,
    #[error("formatting")]
    Fmt(#[from] std::fmt::Error),
}

struct Sheet<'a> {
    night: &'a str,
    date: &'a str,
    team: &'a str,
    sectors: &'a [String],
}

/// One QR code as a nested `<svg>` placed at (`x`, `y`) with side `size` (mm), drawn by
/// `qrcode`'s SVG renderer (one user unit per module, 4-module quiet zone).
pub fn qr_svg(payload: &str, x: f64, y: f64, size: f64) -> Result<String, SheetError> {
    let code = QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M)?;
    let rendered = code
        .render::<svg::Color<'_>>()
        .quiet_zone(true)
        .module_dimensions(1, 1)
        .build();
    let side = code.width() + 8;
    let start = rendered.find("<svg ").ok_or(SheetError::Renderer)?;
    let dims = format!(r#"width="{side}" height="{side}""#);
    if !rendered[start..].contains(&dims) {
        return Err(SheetError::Renderer);
    }
    Ok(rendered[start..].replacen(
        &dims,
        &format!(r#"x="{x:.1}" y="{y:.1}" width="{size:.1}" height="{size:.1}""#),
        1,
    ))
}

impl Sheet<'_> {
    fn render(&self, codes: &[EnrolmentCode], payloads: &[String]) -> Result<String, SheetError> {
        let (cols, rows): (u32, u32) = if codes.len() <= 6 { (2, 3) } else { (3, 4) };
        let (margin, top) = (10.0, 42.0);
        let cell_w = (210.0 - 2.0 * margin) / f64::from(cols);
        let cell_h = (297.0 - top - margin) / f64::from(rows);
        let qr = (cell_w - 10.0).min(cell_h - 22.0);
        let mut out = String::new();
        write!(
            out,
            r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" viewBox="0 0 210 297" font-family="sans-serif">
<title>Inscription des appareils — {team}</title>
<rect width="210" height="297" fill="#fff"/>
<text x="10" y="16" font-size="7" font-weight="bold">Carnet — inscription des appareils</text>
<text x="10" y="24" font-size="4.5">{night} {date}</text>
<text x="10" y="31" font-size="5" font-weight="bold">Équipe : {team}</text>
<text x="10" y="37" font-size="3.5">Secteurs : {sectors}</text>
"##,
            team = esc(&fit(self.team, 60)),
            night = esc(&fit(self.night, 70)),
            date = esc(self.date),
            sectors = esc(&fit(
                &if self.sectors.is_empty() {
                    "aucun secteur attribué".to_owned()
                } else {
                    self.sectors.join(", ")
                },
                110
            )),
        )?;
        for (i, (code, payload)) in codes.iter().zip(payloads).enumerate() {
            let (col, row) = (i % cols as usize, i / cols as usize);
            let x = margin + cell_w * col as f64;
            let y = top + cell_h * row as f64;
            let cx = x + cell_w / 2.0;
            writeln!(
                out,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{cell_w:.1}" height="{cell_h:.1}" fill="none" stroke="#999" stroke-width="0.2" stroke-dasharray="2 1"/>"##
            )?;
            out.push_str(&qr_svg(payload, cx - qr / 2.0, y + 3.0, qr)?);
            out.push('\n');
            writeln!(
                out,
                r#"<text x="{cx:.1}" y="{:.1}" font-size="6" font-family="monospace" font-weight="bold" text-anchor="middle">{}</text>"#,
                y + qr + 10.0,
                esc(&code.display_form()),
            )?;
            writeln!(
                out,
                r#"<text x="{cx:.1}" y="{:.1}" font-size="3" text-anchor="middle">Appareil {} — {} — code à usage unique</text>"#,
                y + qr + 16.0,
                i + 1,
                esc(&fit(self.team, 30)),
            )?;
        }
        out.push_str("</svg>\n");
        Ok(out)
    }
}
