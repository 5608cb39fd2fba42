//! Climate volunteers (Volontaires du Climat, heat-wave plan): the heat-wave **kit** format and
//! its parser, the city's **alert level**, **places** (cool rooms, cool green spaces, drinking
//! fountains) imported from Paris open data with a nearest-places search, the Automerge
//! documents `kit` and `field`, and the aggregated progress coordinators follow.
//!
//! Pure: no clock, no randomness, no I/O; times and ids are passed in.

mod doc;
mod handouts;
mod kit;
mod places;
mod progress;

#[cfg(test)]
mod merge_tests;

use serde::{Deserialize, Serialize};

pub use doc::{
    AlertState, Field, KitDocument, Visit, create_field_doc, create_kit_doc, hand_out, publish_kit,
    read_field, read_kit_doc, record_visit, remove_places_except, set_alert_level, set_visit_alert,
    tick, upsert_places,
};
pub use handouts::{MAX_HANDOUT_STEP, hand_out_on_visit};
pub use kit::{
    Checklist, ChecklistItem, EmergencyNumber, KIT_FORMAT, Kit, KitError, KitImport, KitReport,
    Rejected, Section, parse_kit,
};
pub use places::{
    Nearby, Place, PlaceKind, PlacesError, PlacesImport, PlacesReport, Position, RowProblem,
    RowReason, import_places_csv, import_places_geojson, nearest,
};
pub use progress::{AreaProgress, Progress, ProgressTotals, progress};

/// The city's heat-wave levels, tied to Météo-France's vigilance colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AlertLevel {
    /// Niveau 1, veille saisonnière (1 June – 15 September).
    #[serde(rename = "vert")]
    Green,
    /// Niveau 2, avertissement chaleur.
    #[serde(rename = "jaune")]
    Yellow,
    /// Niveau 3, alerte canicule.
    #[serde(rename = "orange")]
    Orange,
    /// Niveau 4, mobilisation maximale.
    #[serde(rename = "rouge")]
    Red,
}

impl AlertLevel {
    pub const ALL: [AlertLevel; 4] = [
        AlertLevel::Green,
        AlertLevel::Yellow,
        AlertLevel::Orange,
        AlertLevel::Red,
    ];

    /// The Météo-France colour, as stored and as written in kit files.
    pub const fn code(self) -> &'static str {
        match self {
            AlertLevel::Green => "vert",
            AlertLevel::Yellow => "jaune",
            AlertLevel::Orange => "orange",
            AlertLevel::Red => "rouge",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.code() == code)
    }

    /// The level's number in the city's plan (1–4).
    pub const fn number(self) -> u8 {
        match self {
            AlertLevel::Green => 1,
            AlertLevel::Yellow => 2,
            AlertLevel::Orange => 3,
            AlertLevel::Red => 4,
        }
    }

    /// The level's name in the plan, for the UI.
    pub const fn label_fr(self) -> &'static str {
        match self {
            AlertLevel::Green => "Niveau 1 — veille saisonnière",
            AlertLevel::Yellow => "Niveau 2 — avertissement chaleur",
            AlertLevel::Orange => "Niveau 3 — alerte canicule",
            AlertLevel::Red => "Niveau 4 — mobilisation maximale",
        }
    }
}

/// What volunteers hand out; each has an Automerge counter in the `field` document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Handout {
    #[serde(rename = "eau")]
    Water,
    #[serde(rename = "eventail")]
    Fan,
    #[serde(rename = "brumisateur")]
    Mister,
    #[serde(rename = "depliant")]
    Leaflet,
}

impl Handout {
    pub const ALL: [Handout; 4] = [
        Handout::Water,
        Handout::Fan,
        Handout::Mister,
        Handout::Leaflet,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            Handout::Water => "eau",
            Handout::Fan => "eventail",
            Handout::Mister => "brumisateur",
            Handout::Leaflet => "depliant",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.code() == code)
    }
}

/// A coarse area: a Paris arrondissement by postal code (`75001`–`75020`, `75116`). Visits are
/// logged with nothing finer, so that the log never holds an address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Area(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Paris arrondissement (expected 75001–75020, 75116 or 1–20)")]
pub struct BadArea;

impl Area {
    /// Accepts a postal code (`75011`, `75116`) or an arrondissement number (`11`, `11e`).
    pub fn parse(text: &str) -> Result<Self, BadArea> {
        let t = text
            .trim()
            .trim_end_matches(['e', 'E'])
            .trim_end_matches("er");
        if t == "75116" {
            return Ok(Self(t.to_owned()));
        }
        let number: u8 = match t.strip_prefix("750") {
            Some(rest) if t.len() == 5 => rest.parse().map_err(|_| BadArea)?,
            _ if t.len() <= 2 => t.parse().map_err(|_| BadArea)?,
            _ => return Err(BadArea),
        };
        if (1..=20).contains(&number) {
            Ok(Self(format!("750{number:02}")))
        } else {
            Err(BadArea)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Area {
    type Error = BadArea;
    fn try_from(s: String) -> Result<Self, BadArea> {
        Self::parse(&s)
    }
}

impl From<Area> for String {
    fn from(a: Area) -> String {
        a.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn area_accepts_postal_codes_and_numbers_and_refuses_addresses() {
        assert_eq!(Area::parse("75011").unwrap().as_str(), "75011");
        assert_eq!(Area::parse("11").unwrap().as_str(), "75011");
        assert_eq!(Area::parse("1er").unwrap().as_str(), "75001");
        assert_eq!(Area::parse("20e").unwrap().as_str(), "75020");
        assert_eq!(Area::parse("75116").unwrap().as_str(), "75116");
        for bad in [
            "75021",
            "0",
            "21",
            "12 rue de la Paix",
            "93200",
            "",
            "750011",
        ] {
            assert_eq!(Area::parse(bad), Err(BadArea), "{bad}");
        }
    }

    #[test]
    fn level_and_handout_codes_round_trip() {
        for level in AlertLevel::ALL {
            assert_eq!(AlertLevel::from_code(level.code()), Some(level));
            let json = serde_json::to_string(&level).unwrap();
            assert_eq!(json, format!("\"{}\"", level.code()));
        }
        for h in Handout::ALL {
            assert_eq!(Handout::from_code(h.code()), Some(h));
        }
        assert_eq!(AlertLevel::from_code("violet"), None);
    }
}
