//! Live progress of a night: `GET …/progress` (JSON), `…/progress.svg` (map of the sectors
//! coloured by state, legend in French) and `…/progress.html` (the map and a table). The
//! figures are `carnet_shared::report::night_progress` over the documents as the server holds
//! them and the time each team document last received a change from a device.

use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use carnet_shared::doc;
use carnet_shared::geo::parse_sector_geometry;
use carnet_shared::model::{Millis, Night};
use carnet_shared::report::{
    DEFAULT_SILENT_AFTER_MS, NightProgress, ProgressTeam, SectorState, night_progress, team_input,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::svg::{esc, fit};
use super::{CoordError, authorised_night, db, sync_failed};
use crate::app::AppState;
use crate::auth::Principal;
use crate::docs;
use crate::error::ApiError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/nights/{night_id}/progress", get(progress_json))
        .route("/api/nights/{night_id}/progress.svg", get(progress_svg))
        .route("/api/nights/{night_id}/progress.html", get(progress_html))
}

#[derive(Debug, Deserialize)]
pub struct ProgressQuery {
    /// Minutes without news after which a sector in progress is flagged (default 30).
    pub silent_after_minutes: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ProgressAnswer {
    pub night_id: Uuid,
    pub night_name: String,
    #[serde(flatten)]
    pub progress: NightProgress,
}

async fn compute(
    state: &AppState,
    principal: &Principal,
    night_id: &str,
    query: &ProgressQuery,
) -> Result<(Night, ProgressAnswer), CoordError> {
    let night = authorised_night(state, principal, night_id).await?;
    let silent_after = query
        .silent_after_minutes
        .map_or(DEFAULT_SILENT_AFTER_MS, |m| Millis::from(m) * 60_000);
    let id = night.id;
    let teams = state.db.call(move |c| db::teams(c, id)).await?;
    let mut wanted = vec![night.document_id];
    wanted.extend(teams.iter().map(|t| t.document_id));
    let snapshots = state
        .hub
        .read_documents(wanted)
        .await
        .map_err(sync_failed)?;
    let night_doc = snapshots
        .first()
        .and_then(|s| s.doc.as_ref())
        .ok_or_else(|| {
            tracing::error!(night_id = %night.id, "night document missing");
            ApiError::internal()
        })?;
    let model = doc::read_night(night_doc).map_err(|error| {
        tracing::error!(%error, "night document unreadable");
        ApiError::internal()
    })?;
    let inputs: Vec<ProgressTeam> = teams
        .iter()
        .zip(snapshots.iter().skip(1))
        .map(|(team, snapshot)| {
            let team_id = docs::team_id_of(team.id);
            let input = match &snapshot.doc {
                Some(d) => team_input(team_id, d),
                None => carnet_shared::report::TeamInput::Unreadable {
                    team_id,
                    problem: carnet_shared::report::TeamProblem::Unreadable,
                },
            };
            ProgressTeam {
                input,
                name: team.name.clone(),
                last_change_at: snapshot.last_change_at,
            }
        })
        .collect();
    let progress = night_progress(&model, &inputs, state.now(), silent_after);
    Ok((
        model,
        ProgressAnswer {
            night_id: night.id,
            night_name: night.name,
            progress,
        },
    ))
}

/// `GET /api/nights/{night_id}/progress?silent_after_minutes=30`.
async fn progress_json(
    State(state): State<AppState>,
    principal: Principal,
    Path(night_id): Path<String>,
    Query(query): Query<ProgressQuery>,
) -> Result<Json<ProgressAnswer>, CoordError> {
    let (_, answer) = compute(&state, &principal, &night_id, &query).await?;
    Ok(Json(answer))
}

/// `GET /api/nights/{night_id}/progress.svg`.
async fn progress_svg(
    State(state): State<AppState>,
    principal: Principal,
    Path(night_id): Path<String>,
    Query(query): Query<ProgressQuery>,
) -> Result<impl IntoResponse, CoordError> {
    let (night, answer) = compute(&state, &principal, &night_id, &query).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        map_svg(&answer.night_name, &night, &answer.progress),
    ))
}

/// `GET /api/nights/{night_id}/progress.html` (open with `?token=` in a browser).
async fn progress_html(
    State(state): State<AppState>,
    principal: Principal,
    Path(night_id): Path<String>,
    Query(query): Query<ProgressQuery>,
) -> Result<impl IntoResponse, CoordError> {
    let (night, answer) = compute(&state, &principal, &night_id, &query).await?;
    let map = map_svg(&answer.night_name, &night, &answer.progress);
    let page = html_page(&answer, &map).map_err(|error| {
        tracing::error!(%error, "progress page template failed");
        ApiError::internal()
    })?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(page)))
}

/// `HH:MM` UTC of an instant.
fn hhmm(at: Millis) -> String {
    let minutes = at.div_euclid(60_000).rem_euclid(24 * 60);
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

const MAP_W: f64 = 1000.0;
const MAP_H: f64 = 760.0;
const LEGEND_W: f64 = 300.0;

/// The sectors drawn in an equirectangular projection (longitudes scaled by the cosine of the
/// mean latitude: true shapes at the scale of a city), coloured by state, with a legend.
pub fn map_svg(night_name: &str, night: &Night, progress: &NightProgress) -> String {
    let shapes: Vec<_> = progress
        .sectors
        .iter()
        .filter_map(|s| {
            let sector = night.sectors.get(&s.sector_id)?;
            parse_sector_geometry(&sector.geojson)
                .ok()
                .map(|shape| (s, shape))
        })
        .collect();
    let coords = || {
        shapes.iter().flat_map(|(_, mp)| {
            mp.0.iter()
                .flat_map(|p| p.exterior().0.iter().map(|c| (c.x, c.y)))
        })
    };
    let (mut min_x, mut min_y, mut max_x, mut max_y) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (x, y) in coords() {
        min_x = min_x.min(x);
        max_x = max_x.max(x);
        min_y = min_y.min(y);
        max_y = max_y.max(y);
    }
    let lat0 = ((min_y + max_y) / 2.0).to_radians().cos().max(0.1);
    let (span_x, span_y) = (
        ((max_x - min_x) * lat0).max(1e-9),
        (max_y - min_y).max(1e-9),
    );
    let margin = 20.0;
    let scale = ((MAP_W - 2.0 * margin) / span_x).min((MAP_H - 2.0 * margin) / span_y);
    let project = |x: f64, y: f64| {
        (
            margin + (x - min_x) * lat0 * scale,
            margin + (max_y - y) * scale,
        )
    };

    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {MAP_H}" width="{w}" height="{MAP_H}" font-family="sans-serif" role="img" aria-label="Carte d'avancement">
<title>Avancement — {name}</title>
<rect width="{w}" height="{MAP_H}" fill="#fff"/>
"##,
        w = MAP_W + LEGEND_W,
        name = esc(night_name),
    );
    for (sector, shape) in &shapes {
        let mut d = String::new();
        for polygon in &shape.0 {
            for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
                for (i, c) in ring.0.iter().enumerate() {
                    let (x, y) = project(c.x, c.y);
                    let _ = write!(d, "{}{x:.1} {y:.1}", if i == 0 { "M" } else { "L" });
                }
                d.push('Z');
            }
        }
        let _ = writeln!(
            out,
            r##"<path d="{d}" fill="{fill}" fill-rule="evenodd" stroke="#333" stroke-width="0.6" data-sector="{id}" data-state="{state}"><title>{name} — {label} — {persons} personne(s)</title></path>"##,
            fill = sector.state.colour(),
            id = esc(&sector.sector_id.0),
            state = serde_json::to_value(sector.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            name = esc(&sector.name),
            label = sector.state.label_fr(),
            persons = sector.persons,
        );
    }
    for (sector, shape) in &shapes {
        let pts: Vec<(f64, f64)> = shape
            .0
            .iter()
            .flat_map(|p| p.exterior().0.iter().map(|c| project(c.x, c.y)))
            .collect();
        if pts.is_empty() {
            continue;
        }
        let (sx, sy) = pts
            .iter()
            .fold((0.0, 0.0), |(ax, ay), (x, y)| (ax + x, ay + y));
        let n = pts.len() as f64;
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
            sx / n,
            sy / n,
            esc(&fit(&sector.name, 24)),
        );
    }
    let lx = MAP_W + 10.0;
    let _ = writeln!(
        out,
        r#"<text x="{lx}" y="30" font-size="16" font-weight="bold">{}</text>
<text x="{lx}" y="52" font-size="12">État à {} UTC</text>"#,
        esc(&fit(night_name, 30)),
        hhmm(progress.generated_at),
    );
    for (i, state) in SectorState::ALL.iter().enumerate() {
        let y = 80.0 + 26.0 * i as f64;
        let count = progress.totals.sectors.get(state).copied().unwrap_or(0);
        let label = if *state == SectorState::Silent {
            format!(
                "{} depuis {} min ({count})",
                state.label_fr(),
                progress.silent_after_minutes
            )
        } else {
            format!("{} ({count})", state.label_fr())
        };
        let _ = writeln!(
            out,
            r##"<rect x="{lx}" y="{y}" width="18" height="18" fill="{}" stroke="#333" stroke-width="0.6"/><text x="{}" y="{}" font-size="12">{}</text>"##,
            state.colour(),
            lx + 26.0,
            y + 14.0,
            esc(&label),
        );
    }
    let t = &progress.totals;
    let y = 80.0 + 26.0 * SectorState::ALL.len() as f64 + 20.0;
    let _ = writeln!(
        out,
        r#"<text x="{lx}" y="{y}" font-size="12">Personnes rencontrées : {}</text>
<text x="{lx}" y="{}" font-size="12">Personnes décomptées : {}</text>
<text x="{lx}" y="{}" font-size="12">Équipes en tournée : {} / {}</text>"#,
        t.persons,
        y + 18.0,
        t.tallied,
        y + 36.0,
        t.teams_out,
        t.teams,
    );
    out.push_str("</svg>\n");
    out
}

const PAGE: &str = r#"<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="60">
<title>Avancement — {{ night_name }}</title>
<style>
body { font-family: sans-serif; margin: 1rem; }
table { border-collapse: collapse; margin-top: 1rem; }
th, td { border: 1px solid #999; padding: 0.2rem 0.5rem; text-align: left; }
td.n { text-align: right; }
svg { max-width: 100%; height: auto; }
</style>
</head>
<body>
<h1>Avancement — {{ night_name }}</h1>
<p>État à {{ at }} UTC. Personnes rencontrées : {{ totals.persons }} ; décomptées : {{ totals.tallied }} ; équipes en tournée : {{ totals.teamsOut }} / {{ totals.teams }}.</p>
{{ map|safe }}
<h2>Secteurs</h2>
<table>
<thead><tr><th>Secteur</th><th>Arrondissement</th><th>État</th><th>Personnes</th><th>Rencontres</th><th>Dernières nouvelles</th><th>Équipes</th></tr></thead>
<tbody>
{% for s in sectors %}<tr data-sector="{{ s.id }}"><td>{{ s.name }}</td><td>{{ s.arrondissement }}</td><td>{{ s.label }}</td><td class="n">{{ s.persons }}</td><td class="n">{{ s.encounters }}</td><td>{{ s.since }}</td><td>{{ s.teams }}</td></tr>
{% endfor %}</tbody>
</table>
<h2>Équipes</h2>
<table>
<thead><tr><th>Équipe</th><th>En tournée</th><th>Personnes</th><th>Décomptées</th><th>Dernières nouvelles</th></tr></thead>
<tbody>
{% for t in teams %}<tr><td>{{ t.name }}</td><td>{{ t.out }}</td><td class="n">{{ t.persons }}</td><td class="n">{{ t.tallied }}</td><td>{{ t.since }}</td></tr>
{% endfor %}</tbody>
</table>
</body>
</html>
"#;

fn since(minutes: Option<i64>) -> String {
    match minutes {
        None => "aucune".into(),
        Some(0) => "à l'instant".into(),
        Some(m) => format!("il y a {m} min"),
    }
}

fn html_page(answer: &ProgressAnswer, map: &str) -> Result<String, minijinja::Error> {
    #[derive(Serialize)]
    struct Row {
        id: String,
        name: String,
        arrondissement: String,
        label: &'static str,
        persons: u64,
        encounters: u64,
        since: String,
        teams: String,
    }
    #[derive(Serialize)]
    struct TeamRow {
        name: String,
        out: &'static str,
        persons: u64,
        tallied: u64,
        since: String,
    }
    let p = &answer.progress;
    let names: std::collections::BTreeMap<_, _> = p
        .teams
        .iter()
        .map(|t| (&t.team_id, t.name.as_str()))
        .collect();
    let sectors: Vec<Row> = p
        .sectors
        .iter()
        .map(|s| Row {
            id: s.sector_id.0.clone(),
            name: s.name.clone(),
            arrondissement: s.arrondissement.map(|a| a.to_string()).unwrap_or_default(),
            label: s.state.label_fr(),
            persons: s.persons,
            encounters: s.encounters,
            since: since(s.minutes_since_change),
            teams: s
                .teams
                .iter()
                .map(|t| names.get(t).copied().unwrap_or(t.0.as_str()))
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    let teams: Vec<TeamRow> = p
        .teams
        .iter()
        .map(|t| TeamRow {
            name: if t.readable {
                t.name.clone()
            } else {
                format!("{} (illisible)", t.name)
            },
            out: if t.out { "oui" } else { "non" },
            persons: t.persons,
            tallied: t.tallied,
            since: since(t.minutes_since_change),
        })
        .collect();
    let mut env = minijinja::Environment::new();
    env.add_template("progress.html", PAGE)?;
    env.get_template("progress.html")?
        .render(minijinja::context! {
            night_name => answer.night_name,
            at => hhmm(p.generated_at),
            totals => p.totals,
            map => map,
            sectors => sectors,
            teams => teams,
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn clock_labels() {
        assert_eq!(hhmm(0), "00:00");
        assert_eq!(hhmm(1_769_126_400_000 + 23 * 60_000 + 59_999), "00:23");
        assert_eq!(since(Some(42)), "il y a 42 min");
    }
}
