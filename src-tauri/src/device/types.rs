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

/// What a device was enrolled as: a street-count team member or a climate volunteer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum EnrolmentKind {
    /// `POST /api/enrol`: the team document (read-write) and the night document (read-only).
    Team,
    /// `POST /api/climate/enrol`: the group's field document (read-write) and the kit
    /// document (read-only).
    Volunteer,
}

impl EnrolmentKind {
    pub const fn code(self) -> &'static str {
        match self {
            Self::Team => "team",
            Self::Volunteer => "volunteer",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [Self::Team, Self::Volunteer]
            .into_iter()
            .find(|k| k.code() == code)
    }
}

/// What the device did when the server refused its token (the coordination closed the night,
/// or revoked this device): event `access-revoked`, `AccessRevoked` in `ui/src/backend.ts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum AccessRevoked {
    /// Everything had reached the server: documents, token and drafts are erased from the
    /// device (a closed night's history must never be sent back to the server).
    Erased,
    /// Changes never reached the server: nothing is erased, the coordination decides.
    Kept { pending: usize },
}

/// What the UI may know of an enrolment (`EnrolmentView` in `ui/src/backend.ts`): never the
/// token. Shown while the device waits for its documents after enrolling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrolmentView {
    pub kind: EnrolmentKind,
    /// The team's or the volunteer group's name.
    pub name: String,
    pub server_url: String,
}

/// What enrolment gave this device. The token never leaves Rust.
#[derive(Clone, PartialEq, Eq)]
pub struct Enrolment {
    pub server_url: String,
    pub token: String,
    pub peer_id: String,
    pub kind: EnrolmentKind,
    /// The team's or the volunteer group's name.
    pub name: String,
    /// The document this device reads only: the night (team) or the kit (volunteer).
    pub shared_doc: DocumentId,
    /// The document this device writes: the team's (team) or the group's field document
    /// (volunteer).
    pub own_doc: DocumentId,
}

impl fmt::Debug for Enrolment {
    // By hand: the token must never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enrolment")
            .field("server_url", &self.server_url)
            .field("token", &"<redacted>")
            .field("peer_id", &self.peer_id)
            .field("kind", &self.kind)
            .field("shared_doc", &self.shared_doc)
            .field("own_doc", &self.own_doc)
            .finish_non_exhaustive()
    }
}
