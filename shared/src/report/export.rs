//! Exports as pure writers to `impl Write`: encounters CSV, questionnaires CSV, consolidated
//! totals CSV and a GeoJSON map of encounters.
//!
//! Privacy (DESIGN §8): the distinctive-signs free text is never exported; exact positions only
//! on request (CSV) and coarse by default on the map; free-text answers only on request.

use std::io::Write;

use serde::{Deserialize, Serialize};

use super::consolidate::{Consolidation, Line, questionnaire_completed};
use super::effective::{EffectiveEncounter, EncounterStatus};
use crate::model::Answer;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Rows written so far, of `total`. Called every [`PROGRESS_EVERY`] rows and at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
}

pub const PROGRESS_EVERY: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncounterCsvOptions {
    /// Include latitude/longitude (rounded to `position_decimals`); off by default.
    pub include_position: bool,
    pub position_decimals: u32,
    /// Include withdrawn encounters and confirmed duplicates, with their status.
    pub include_excluded: bool,
}

fn report(progress: &mut dyn FnMut(Progress), done: usize, total: usize) {
    if done.is_multiple_of(PROGRESS_EVERY) || done == total {
        progress(Progress { done, total });
    }
}

fn status_code(s: &EncounterStatus) -> String {
    match s {
        EncounterStatus::Counted => "counted".into(),
        EncounterStatus::Withdrawn => "withdrawn".into(),
        EncounterStatus::DuplicateOf { kept } => format!("duplicateOf:{kept}"),
    }
}

/// Rounds to `decimals` (3 ≈ 100 m, 4 ≈ 10 m), for privacy.
pub fn round_coordinate(v: f64, decimals: u32) -> f64 {
    let f = 10f64.powi(decimals.min(9) as i32);
    (v * f).round() / f
}

/// HTTP header in which the server announces the rows (GeoJSON features) of an export, so
/// that a client can show progress and tell a cut body from a whole one.
pub const ROWS_HEADER: &str = "x-carnet-rows";

/// Whether [`write_encounters_csv`] writes a row for `e` (the encounters counted, or all with
/// `include_excluded`); [`encounter_rows`] counts with the same rule.
fn is_encounter_row(e: &EffectiveEncounter, include_excluded: bool) -> bool {
    include_excluded || e.status == EncounterStatus::Counted
}

/// Rows [`write_encounters_csv`] writes.
pub fn encounter_rows(encounters: &[EffectiveEncounter], include_excluded: bool) -> usize {
    encounters
        .iter()
        .filter(|e| is_encounter_row(e, include_excluded))
        .count()
}

/// Rows [`write_questionnaires_csv`] writes (completed questionnaires of counted encounters).
pub fn questionnaire_rows(encounters: &[EffectiveEncounter]) -> usize {
    encounters
        .iter()
        .filter(|e| is_questionnaire_row(e))
        .count()
}

/// Features [`write_encounters_geojson`] writes (counted encounters with a position).
pub fn geojson_features(encounters: &[EffectiveEncounter]) -> usize {
    encounters.iter().filter(|e| is_geojson_feature(e)).count()
}

fn is_questionnaire_row(e: &EffectiveEncounter) -> bool {
    e.status == EncounterStatus::Counted && questionnaire_completed(&e.encounter)
}

fn is_geojson_feature(e: &EffectiveEncounter) -> bool {
    e.status == EncounterStatus::Counted && e.encounter.position.is_some()
}

/// One row per encounter. Returns the number of rows written.
pub fn write_encounters_csv<W: Write>(
    out: W,
    encounters: &[EffectiveEncounter],
    options: EncounterCsvOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<usize, ExportError> {
    let mut w = csv::Writer::from_writer(out);
    let mut header = vec![
        "encounterId",
        "teamId",
        "recordedAt",
        "status",
        "area",
        "sectorId",
        "spaceType",
        "installation",
        "situation",
        "men",
        "women",
        "unknownSex",
        "children",
        "pregnantWomen",
        "persons",
        "interview",
        "observedSex",
        "ageBand",
        "alertVulnerableWoman",
        "alertMinor",
        "alertHealth",
        "questionnaireCompleted",
        "questionnaireVersion",
    ];
    if options.include_position {
        header.extend(["lat", "lon"]);
    }
    w.write_record(&header)?;
    let rows: Vec<&EffectiveEncounter> = encounters
        .iter()
        .filter(|e| is_encounter_row(e, options.include_excluded))
        .collect();
    let total = rows.len();
    for (i, e) in rows.into_iter().enumerate() {
        let n = &e.encounter;
        let c = n.counts;
        let mut record = vec![
            n.id.to_string(),
            e.team_id.0.clone(),
            n.recorded_at.to_string(),
            status_code(&e.status),
            e.area.key(),
            e.sector_id
                .as_ref()
                .map(|s| s.0.clone())
                .unwrap_or_default(),
            n.space_type.code().into(),
            n.installation.code().into(),
            n.situation.code().into(),
            c.men.to_string(),
            c.women.to_string(),
            c.unknown_sex.to_string(),
            c.children.to_string(),
            c.pregnant_women.to_string(),
            c.total().to_string(),
            n.interview.code().into(),
            n.observed_sex
                .map(|s| s.code().to_owned())
                .unwrap_or_default(),
            n.age_band.map(|s| s.code().to_owned()).unwrap_or_default(),
            n.alerts.vulnerable_woman.to_string(),
            n.alerts.minor.to_string(),
            n.alerts.health.to_string(),
            questionnaire_completed(n).to_string(),
            n.questionnaire_version
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ];
        if options.include_position {
            let (lat, lon) = n
                .position
                .map(|p| {
                    (
                        round_coordinate(p.lat, options.position_decimals).to_string(),
                        round_coordinate(p.lon, options.position_decimals).to_string(),
                    )
                })
                .unwrap_or_default();
            record.extend([lat, lon]);
        }
        w.write_record(&record)?;
        report(progress, i + 1, total);
    }
    if total == 0 {
        progress(Progress { done: 0, total: 0 });
    }
    w.flush()?;
    Ok(total)
}

/// One row per completed questionnaire of a counted encounter, one column per question id:
/// `question_ids` first (the questionnaire's order), then any other id found in answers.
/// Multiple choices are joined with `|`. Free-text answers are written only if
/// `include_free_text`, otherwise the cell says `text` (an answer was given).
pub fn write_questionnaires_csv<W: Write>(
    out: W,
    encounters: &[EffectiveEncounter],
    question_ids: &[String],
    include_free_text: bool,
    progress: &mut dyn FnMut(Progress),
) -> Result<usize, ExportError> {
    let rows: Vec<&EffectiveEncounter> = encounters
        .iter()
        .filter(|e| is_questionnaire_row(e))
        .collect();
    let mut columns: Vec<String> = question_ids.to_vec();
    let mut extra = std::collections::BTreeSet::new();
    for e in &rows {
        for id in e.encounter.answers.keys() {
            if !question_ids.contains(id) {
                extra.insert(id.clone());
            }
        }
    }
    columns.extend(extra);
    let mut w = csv::Writer::from_writer(out);
    let mut header = vec![
        "encounterId".to_owned(),
        "teamId".to_owned(),
        "area".to_owned(),
        "spaceType".to_owned(),
        "questionnaireVersion".to_owned(),
    ];
    header.extend(columns.iter().cloned());
    w.write_record(&header)?;
    let total = rows.len();
    for (i, e) in rows.into_iter().enumerate() {
        let n = &e.encounter;
        let mut record = vec![
            n.id.to_string(),
            e.team_id.0.clone(),
            e.area.key(),
            n.space_type.code().to_owned(),
            n.questionnaire_version
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ];
        for q in &columns {
            record.push(match n.answers.get(q) {
                None => String::new(),
                Some(Answer::Choice(c)) => c.clone(),
                Some(Answer::Choices(cs)) => cs.join("|"),
                Some(Answer::Number(v)) => v.to_string(),
                Some(Answer::Text(t)) if include_free_text => t.clone(),
                Some(Answer::Text(_)) => "text".into(),
                Some(Answer::DoesNotKnow) => "doesNotKnow".into(),
                Some(Answer::Declines) => "declines".into(),
            });
        }
        w.write_record(&record)?;
        report(progress, i + 1, total);
    }
    if total == 0 {
        progress(Progress { done: 0, total: 0 });
    }
    w.flush()?;
    Ok(total)
}

/// The consolidated figures as one CSV table: `section,key,label,persons,men,women,
/// unknownSex,children`, sections `total`, `area`, `spaceType`, `ageBand`, `situation`,
/// `interview`.
pub fn write_totals_csv<W: Write>(out: W, c: &Consolidation) -> Result<(), ExportError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "section",
        "key",
        "label",
        "persons",
        "men",
        "women",
        "unknownSex",
        "children",
    ])?;
    let mut row = |section: &str, key: &str, label: &str, n: &super::Counts| {
        w.write_record([
            section,
            key,
            label,
            &n.persons.to_string(),
            &n.men.to_string(),
            &n.women.to_string(),
            &n.unknown_sex.to_string(),
            &n.children.to_string(),
        ])
    };
    row("total", "total", "Total", &c.totals)?;
    for a in &c.by_area {
        row("area", &a.key, &a.label, &a.counts)?;
    }
    let sections: [(&str, &Vec<Line>); 4] = [
        ("spaceType", &c.by_space_type),
        ("ageBand", &c.by_age_band),
        ("situation", &c.by_situation),
        ("interview", &c.by_interview),
    ];
    for (section, lines) in sections {
        for l in lines {
            row(section, &l.key, &l.label, &l.counts)?;
        }
    }
    w.flush()?;
    Ok(())
}

/// Counted encounters with a position, as a GeoJSON FeatureCollection of points rounded to
/// `decimals` (3 by default ≈ 100 m). Returns the number of features written.
pub fn write_encounters_geojson<W: Write>(
    mut out: W,
    encounters: &[EffectiveEncounter],
    decimals: u32,
    progress: &mut dyn FnMut(Progress),
) -> Result<usize, ExportError> {
    let rows: Vec<&EffectiveEncounter> = encounters
        .iter()
        .filter(|e| is_geojson_feature(e))
        .collect();
    let total = rows.len();
    let mut features = Vec::with_capacity(total);
    for (i, e) in rows.into_iter().enumerate() {
        let n = &e.encounter;
        let Some(p) = n.position else { continue };
        let geometry = geojson::Geometry::new(geojson::GeometryValue::new_point([
            round_coordinate(p.lon, decimals),
            round_coordinate(p.lat, decimals),
        ]));
        let mut properties = geojson::JsonObject::new();
        properties.insert("teamId".into(), e.team_id.0.clone().into());
        properties.insert("area".into(), e.area.key().into());
        properties.insert("spaceType".into(), n.space_type.code().into());
        properties.insert("situation".into(), n.situation.code().into());
        properties.insert("persons".into(), n.counts.total().into());
        properties.insert("interview".into(), n.interview.code().into());
        features.push(geojson::Feature {
            bbox: None,
            geometry: Some(geometry),
            id: None,
            properties: Some(properties),
            foreign_members: None,
        });
        report(progress, i + 1, total);
    }
    if total == 0 {
        progress(Progress { done: 0, total: 0 });
    }
    let collection = geojson::FeatureCollection {
        bbox: None,
        features,
        foreign_members: None,
    };
    serde_json::to_writer(&mut out, &collection)?;
    out.flush()?;
    Ok(total)
}
