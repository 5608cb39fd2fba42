//! A night of the count: metadata, sectors, questionnaire, team index.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::DocumentId;

/// A team's id (given by the coordinators, e.g. `T-042`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TeamId(pub String);

/// A sector's id, from the imported sector map.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SectorId(pub String);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sector {
    pub name: String,
    /// 1..=20; `None` for sectors across arrondissements (woods, ring road…).
    pub arrondissement: Option<u8>,
    /// GeoJSON geometry (Polygon or MultiPolygon), kept as text.
    pub geojson: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuestionnaireDefinition {
    pub version: u32,
    /// The questionnaire's definition as JSON text (parsed by the forms module).
    pub definition: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NightHeader {
    pub id: Uuid,
    /// ISO date of the evening the count starts, `YYYY-MM-DD`.
    pub date: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Night {
    #[serde(flatten)]
    pub header: NightHeader,
    pub sectors: BTreeMap<SectorId, Sector>,
    pub questionnaire: Option<QuestionnaireDefinition>,
    /// Team id -> `automerge:` URL of the team document.
    pub teams: BTreeMap<TeamId, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "camelCase")]
pub enum NightIssue {
    #[error("date is not YYYY-MM-DD")]
    BadDate,
    #[error("arrondissement out of 1..=20")]
    BadArrondissement,
    #[error("sector geometry is not JSON")]
    BadGeoJson,
    #[error("questionnaire definition is not JSON")]
    BadQuestionnaire,
    #[error("team document URL is not an automerge URL")]
    BadTeamUrl,
}

/// `YYYY-MM-DD` with a plausible month and day (calendar details are the caller's business).
pub fn is_iso_date(date: &str) -> bool {
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..4) && digits(5..7) && digits(8..10)) {
        return false;
    }
    let month = (b[5] - b'0') * 10 + (b[6] - b'0');
    let day = (b[8] - b'0') * 10 + (b[9] - b'0');
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

impl Sector {
    pub fn validate(&self) -> Result<(), NightIssue> {
        if let Some(a) = self.arrondissement
            && !(1..=20).contains(&a)
        {
            return Err(NightIssue::BadArrondissement);
        }
        if serde_json::from_str::<serde_json::Value>(&self.geojson).is_err() {
            return Err(NightIssue::BadGeoJson);
        }
        Ok(())
    }
}

impl Night {
    pub fn validate(&self) -> Result<(), Vec<NightIssue>> {
        let mut issues = Vec::new();
        if !is_iso_date(&self.header.date) {
            issues.push(NightIssue::BadDate);
        }
        for sector in self.sectors.values() {
            if let Err(e) = sector.validate()
                && !issues.contains(&e)
            {
                issues.push(e);
            }
        }
        if let Some(q) = &self.questionnaire
            && serde_json::from_str::<serde_json::Value>(&q.definition).is_err()
        {
            issues.push(NightIssue::BadQuestionnaire);
        }
        if self
            .teams
            .values()
            .any(|url| DocumentId::parse_url(url).is_err())
        {
            issues.push(NightIssue::BadTeamUrl);
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(issues)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert!(is_iso_date("2026-01-29"));
        for bad in [
            "2026-1-29",
            "2026-13-01",
            "2026-01-00",
            "20260129xx",
            "2026/01/29",
            "２０２６-01-29",
        ] {
            assert!(!is_iso_date(bad), "{bad}");
        }
    }

    #[test]
    fn arrondissement_must_be_1_to_20() {
        let mut s = Sector {
            name: "Halles".into(),
            arrondissement: Some(1),
            geojson: "{}".into(),
        };
        assert_eq!(s.validate(), Ok(()));
        s.arrondissement = Some(21);
        assert_eq!(s.validate(), Err(NightIssue::BadArrondissement));
        s.arrondissement = Some(0);
        assert_eq!(s.validate(), Err(NightIssue::BadArrondissement));
    }
}
