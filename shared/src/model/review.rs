//! Coordinators' review of a night: duplicates, corrections, conflict resolutions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::codes::DuplicateVerdict;
use super::encounter::{EncounterEdit, Millis};
use super::night::TeamId;

/// A decision on a suspected duplicate pair. The pair is unordered: `first < second`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DuplicateDecision {
    pub first: Uuid,
    pub second: Uuid,
    pub verdict: DuplicateVerdict,
    pub decided_by: String,
    pub decided_at: Millis,
}

impl DuplicateDecision {
    /// Builds a decision with the pair in canonical order.
    pub fn new(
        a: Uuid,
        b: Uuid,
        verdict: DuplicateVerdict,
        decided_by: String,
        decided_at: Millis,
    ) -> Self {
        let (first, second) = if a <= b { (a, b) } else { (b, a) };
        Self {
            first,
            second,
            verdict,
            decided_by,
            decided_at,
        }
    }

    /// Key of the pair in the review document, the same whichever order the ids came in.
    pub fn pair_key(a: Uuid, b: Uuid) -> String {
        let (first, second) = if a <= b { (a, b) } else { (b, a) };
        format!("{first}+{second}")
    }

    pub fn key(&self) -> String {
        Self::pair_key(self.first, self.second)
    }
}

/// A coordinator's correction of one field of an encounter; the team's data is left as is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Correction {
    /// UUID v7 made by the caller.
    pub id: Uuid,
    pub team_id: TeamId,
    pub encounter_id: Uuid,
    pub edit: EncounterEdit,
    pub made_by: String,
    pub made_at: Millis,
}

/// The value a coordinator chose among concurrent values of one encounter field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConflictResolution {
    pub team_id: TeamId,
    pub encounter_id: Uuid,
    pub chosen: EncounterEdit,
    pub resolved_by: String,
    pub resolved_at: Millis,
}

impl ConflictResolution {
    /// One resolution per encounter field: `<encounter id>/<field>`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.encounter_id, self.chosen.field())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    pub night_id: Uuid,
    /// Keyed by [`DuplicateDecision::key`].
    pub duplicates: BTreeMap<String, DuplicateDecision>,
    pub corrections: BTreeMap<Uuid, Correction>,
    /// Keyed by [`ConflictResolution::key`].
    pub resolutions: BTreeMap<String, ConflictResolution>,
}

/// Longest partner name accepted (e.g. "RATP", "AP-HP — Hôpital Saint-Louis").
pub const MAX_PARTNER_CHARS: usize = 100;
/// Most persons one partner entry may report per sex: far above any real count, low enough to
/// catch a typo (an extra zero or two).
pub const MAX_PARTNER_PERSONS: u32 = 5_000;

/// A partner's aggregate-only count (RATP, SNCF, AP-HP, car-park operators): no encounter, only
/// how many persons of each sex in one type of space and, when known, one arrondissement.
/// Entered by a coordinator into the night's review document. All zeros is a valid entry (the
/// partner looked and found nobody).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartnerEntry {
    /// UUID v7 made by the caller.
    pub id: Uuid,
    pub partner: String,
    pub space_type: super::codes::SpaceType,
    /// 1–20, or `None` when the partner could not say (counted on a "non attribué" line).
    pub arrondissement: Option<u8>,
    pub men: u32,
    pub women: u32,
    pub unknown: u32,
    pub entered_by: String,
    pub entered_at: Millis,
}

/// Why a partner entry is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PartnerEntryError {
    #[error("the partner name must have between 1 and {MAX_PARTNER_CHARS} characters")]
    Name,
    #[error("the arrondissement must be between 1 and 20")]
    Arrondissement,
    #[error("each count must be at most {MAX_PARTNER_PERSONS}")]
    TooMany,
}

impl PartnerEntry {
    pub fn validate(&self) -> Result<(), PartnerEntryError> {
        let name = self.partner.trim();
        if name.is_empty() || name.chars().count() > MAX_PARTNER_CHARS {
            return Err(PartnerEntryError::Name);
        }
        if self.arrondissement.is_some_and(|a| !(1..=20).contains(&a)) {
            return Err(PartnerEntryError::Arrondissement);
        }
        if [self.men, self.women, self.unknown]
            .iter()
            .any(|&n| n > MAX_PARTNER_PERSONS)
        {
            return Err(PartnerEntryError::TooMany);
        }
        Ok(())
    }
}
