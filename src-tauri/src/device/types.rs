//! The shapes the UI exchanges with the device (`ui/src/backend.ts`), and the enrolment.

use std::fmt;

use serde::Serialize;
use uuid::Uuid;

use carnet_shared::ids::DocumentId;
use carnet_shared::model::{Encounter, Night, Team};

/// What the UI knows about its team (`TeamState` in `ui/src/backend.ts`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamState {
    pub device_id: String,
    pub server_url: String,
    pub night: Night,
    pub team: Team,
}

/// Where an encounter is: only on this device, or acknowledged (stored) by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RecordSyncState {
    Device,
    Server,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EncounterRecord {
    pub encounter: Encounter,
    pub sync_state: RecordSyncState,
}

/// `AlertRequest` in `ui/src/backend.ts`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertRequest {
    pub encounter_id: Option<Uuid>,
    pub kinds: Vec<AlertKind>,
    pub called_number: Option<EmergencyNumber>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AlertKind {
    VulnerableWoman,
    Minor,
    Health,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum EmergencyNumber {
    #[serde(rename = "15")]
    Samu,
    #[serde(rename = "18")]
    Pompiers,
    #[serde(rename = "112")]
    European,
    #[serde(rename = "115")]
    SamuSocial,
}

/// What enrolment gave this device. The token never leaves Rust.
#[derive(Clone, PartialEq, Eq)]
pub struct Enrolment {
    pub server_url: String,
    pub token: String,
    pub peer_id: String,
    pub team_name: String,
    pub night_doc: DocumentId,
    pub team_doc: DocumentId,
}

impl fmt::Debug for Enrolment {
    // By hand: the token must never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enrolment")
            .field("server_url", &self.server_url)
            .field("token", &"<redacted>")
            .field("peer_id", &self.peer_id)
            .field("night_doc", &self.night_doc)
            .field("team_doc", &self.team_doc)
            .finish_non_exhaustive()
    }
}
