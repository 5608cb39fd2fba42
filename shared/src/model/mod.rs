//! The typed domain model of the street count (DESIGN §3, §9), serde-serialisable as camelCase
//! JSON for Tauri IPC and the HTTP API. Pure: no clock, no randomness, no I/O.

mod codes;
mod encounter;
mod night;
mod review;
mod tally;
mod team;

pub use codes::{
    AgeBand, CoverageStatus, DuplicateVerdict, Installation, InterviewStatus, ObservedSex,
    Situation, SpaceType,
};
pub use encounter::{
    Alerts, Answer, Encounter, EncounterEdit, EncounterIssue, Millis, PeopleCounts, Position,
};
pub use night::{
    Night, NightHeader, NightIssue, QuestionnaireDefinition, Sector, SectorId, TeamId, is_iso_date,
};
pub use review::{
    ConflictResolution, Correction, DuplicateDecision, MAX_PARTNER_CHARS, MAX_PARTNER_PERSONS,
    PartnerEntry, PartnerEntryError, Review,
};
pub use tally::{TallyDimension, TallyKeyError};
pub use team::{Round, SectorCoverage, Team, TeamHeader};

#[cfg(test)]
pub(crate) use encounter::tests::sample_encounter;
