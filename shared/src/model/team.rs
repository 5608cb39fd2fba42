//! A team's data for one night: rounds, encounters, tallies, sector coverage.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::codes::CoverageStatus;
use super::encounter::{Encounter, Millis};
use super::night::{SectorId, TeamId};
use super::tally::TallyDimension;

/// One round (tournée): checked in when the team sets off, checked out when it is back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Round {
    /// UUID v7 made by the device that checks in.
    pub id: Uuid,
    pub sector_id: Option<SectorId>,
    pub checked_in_at: Millis,
    pub checked_out_at: Option<Millis>,
    pub device: String,
}

/// Latest report about one assigned sector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SectorCoverage {
    pub status: CoverageStatus,
    pub updated_at: Millis,
    pub device: String,
}

/// What a coordinator needs to create a team document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamHeader {
    pub team_id: TeamId,
    pub night_id: Uuid,
    pub name: String,
    pub sectors: BTreeSet<SectorId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    #[serde(flatten)]
    pub header: TeamHeader,
    pub rounds: BTreeMap<Uuid, Round>,
    pub encounters: BTreeMap<Uuid, Encounter>,
    /// Every dimension present in the document, zeros included.
    pub tallies: BTreeMap<TallyDimension, i64>,
    pub coverage: BTreeMap<SectorId, SectorCoverage>,
}

impl Team {
    /// A round is under way (checked in, not yet out).
    pub fn is_out(&self) -> bool {
        self.rounds.values().any(|r| r.checked_out_at.is_none())
    }

    /// Sum of all tallies.
    pub fn tallied(&self) -> i64 {
        self.tallies.values().sum()
    }
}
