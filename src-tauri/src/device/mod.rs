//! The app state (`Device`): the SQLite file, this installation's identity, its enrolment, the
//! team and night documents, and the drafts. Every command of the UI is one method here; the
//! Tauri layer (`commands`) only adapts arguments. Time and randomness are passed in.
//!
//! Writes to the team document go through [`Device::change_team`], the one seam between the
//! document functions of `carnet_shared::doc` and durability: the change is stored in the
//! same SQLite file (WAL, `synchronous=FULL`) before the method returns.

mod draft;
mod error;
mod schema;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;

use automerge::{ActorId, AutoCommit};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use uuid::Uuid;

use carnet_shared::doc::{self, DocError};
use carnet_shared::ids::DocumentId;
use carnet_shared::model::{
    CoverageStatus, Encounter, EncounterEdit, Millis, Night, Round, SectorCoverage, SectorId,
    TallyDimension, Team,
};
use carnet_shared::storage::StorageWrite;
use carnet_shared::store::Store;

pub use draft::EncounterDraft;
pub use error::{DeviceError, ErrorCode};

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

/// The actor this installation uses in one document: SHA-256(device actor ‖ document id), first
/// 16 bytes — the same derivation as `carnet_shared::net::document_actor`, so that the sync
/// driver and this module write as one actor and never reuse a (actor, seq) pair.
pub fn document_actor(device: &ActorId, doc: &DocumentId) -> ActorId {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(device.to_bytes());
    h.update(doc.as_bytes());
    ActorId::from(&h.finalize()[..16])
}

pub struct Device {
    store: Store,
    device_id: String,
    actor: ActorId,
    enrolment: Option<Enrolment>,
    night: Option<AutoCommit>,
    team: Option<AutoCommit>,
}

impl Device {
    /// Opens (creating if needed) the app's database. `fresh_identity` (16 random bytes) is
    /// used only the first time, to make this installation's device id and actor.
    pub fn open(path: impl AsRef<Path>, fresh_identity: [u8; 16]) -> Result<Self, DeviceError> {
        Self::with_store(Store::open(path)?, fresh_identity)
    }

    pub fn with_store(mut store: Store, fresh_identity: [u8; 16]) -> Result<Self, DeviceError> {
        store.migrate(schema::NAMESPACE, schema::MIGRATIONS)?;
        let conn = store.connection();
        let stored: Option<(String, Vec<u8>)> = conn
            .query_row(
                "SELECT device_id, actor FROM app_identity WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (device_id, actor) = match stored {
            Some(found) => found,
            None => {
                let id = uuid::Builder::from_random_bytes(fresh_identity).into_uuid();
                let device_id = format!("device-{id}");
                conn.execute(
                    "INSERT INTO app_identity (id, device_id, actor) VALUES (1, ?1, ?2)",
                    params![device_id, fresh_identity.as_slice()],
                )?;
                (device_id, fresh_identity.to_vec())
            }
        };
        let enrolment = read_enrolment(&store)?;
        let mut device = Self {
            store,
            device_id,
            actor: ActorId::from(actor),
            enrolment,
            night: None,
            team: None,
        };
        device.reload_documents()?;
        Ok(device)
    }

    /// The id every write of this device is signed with (`sourceDevice`, `device`).
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// This installation's actor (the sync driver derives its per-document actors from it).
    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    pub fn enrolment(&self) -> Option<&Enrolment> {
        self.enrolment.as_ref()
    }

    /// Keeps what enrolment gave. Replaces an earlier enrolment (a device re-enrolled for
    /// another night); the documents of the new one are loaded if already stored.
    pub fn save_enrolment(&mut self, e: Enrolment, now: Millis) -> Result<(), DeviceError> {
        self.store.connection().execute(
            "INSERT INTO app_enrolment
                 (id, server_url, token, peer_id, team_name, night_doc, team_doc, enrolled_at)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET server_url = excluded.server_url,
                 token = excluded.token, peer_id = excluded.peer_id,
                 team_name = excluded.team_name, night_doc = excluded.night_doc,
                 team_doc = excluded.team_doc, enrolled_at = excluded.enrolled_at",
            params![
                e.server_url,
                e.token,
                e.peer_id,
                e.team_name,
                e.night_doc.as_bytes().as_slice(),
                e.team_doc.as_bytes().as_slice(),
                now
            ],
        )?;
        self.enrolment = Some(e);
        self.reload_documents()
    }

    /// Stores document bytes received from elsewhere (the server, a test) as one chunk and
    /// reloads the documents.
    pub fn store_document(&mut self, doc: DocumentId, bytes: Vec<u8>) -> Result<(), DeviceError> {
        if bytes.is_empty() {
            return Err(DeviceError::InvalidInput("empty document"));
        }
        self.store.apply(&[StorageWrite::incremental(doc, bytes)])?;
        self.reload_documents()
    }

    /// Re-reads both documents from the store (after the sync driver stored remote changes).
    pub fn reload_documents(&mut self) -> Result<(), DeviceError> {
        let Some(e) = &self.enrolment else {
            self.night = None;
            self.team = None;
            return Ok(());
        };
        let (night, team) = (e.night_doc, e.team_doc);
        self.night = self.load(night)?;
        self.team = self.load(team)?;
        Ok(())
    }

    fn load(&self, doc: DocumentId) -> Result<Option<AutoCommit>, DeviceError> {
        match self.store.load_document(&doc)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(doc::load_doc(
                &bytes,
                document_actor(&self.actor, &doc),
            )?)),
        }
    }

    /// Both documents are on this device: the team can work offline.
    pub fn has_documents(&self) -> bool {
        self.night.is_some() && self.team.is_some()
    }

    /// `None` until the device is enrolled and holds both documents.
    pub fn team_state(&self) -> Result<Option<TeamState>, DeviceError> {
        let (Some(e), Some(night), Some(team)) = (&self.enrolment, &self.night, &self.team) else {
            return Ok(None);
        };
        Ok(Some(TeamState {
            device_id: self.device_id.clone(),
            server_url: e.server_url.clone(),
            night: doc::read_night(night)?,
            team: doc::read_team(team)?,
        }))
    }

    fn read_team(&self) -> Result<Team, DeviceError> {
        let team = self.team.as_ref().ok_or(DeviceError::NotEnrolled)?;
        Ok(doc::read_team(team)?)
    }

    /// Runs one writer of `carnet_shared::doc` on the team document and stores the change
    /// durably before returning. If storing fails, the in-memory document is reloaded from
    /// disk so that the UI never shows what a restart would lose.
    ///
    /// This is the seam for the sync driver: with `carnet_shared::net`, the same writers run
    /// inside `ClientHandle::change`, which also stores before returning.
    fn change_team<R>(
        &mut self,
        f: impl FnOnce(&mut AutoCommit) -> Result<R, DocError>,
    ) -> Result<R, DeviceError> {
        let doc_id = self
            .enrolment
            .as_ref()
            .map(|e| e.team_doc)
            .ok_or(DeviceError::NotEnrolled)?;
        let team = self.team.as_mut().ok_or(DeviceError::NotEnrolled)?;
        let out = f(team)?;
        let bytes = team.save_incremental();
        if !bytes.is_empty()
            && let Err(e) = self
                .store
                .apply(&[StorageWrite::incremental(doc_id, bytes)])
        {
            self.team = self.load(doc_id).ok().flatten();
            return Err(e.into());
        }
        Ok(out)
    }

    // ---- drafts ----------------------------------------------------------------------------

    pub fn list_drafts(&self) -> Result<Vec<EncounterDraft>, DeviceError> {
        let mut stmt = self
            .store
            .connection()
            .prepare("SELECT draft FROM app_drafts ORDER BY updated_at DESC, id")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut drafts = Vec::new();
        for row in rows {
            // A draft this build cannot read (written by a newer one) is skipped, not fatal.
            if let Ok(d) = serde_json::from_str::<EncounterDraft>(&row?) {
                drafts.push(d);
            }
        }
        Ok(drafts)
    }

    /// Upserts the whole draft (autosave). Durable on return.
    pub fn save_draft(&mut self, draft: &EncounterDraft, now: Millis) -> Result<(), DeviceError> {
        self.require_enrolled()?;
        let json = serde_json::to_string(draft).map_err(|_| DeviceError::Internal("draft"))?;
        self.store.connection().execute(
            "INSERT INTO app_drafts (id, draft, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET draft = excluded.draft,
                 updated_at = excluded.updated_at",
            params![draft.id.to_string(), json, now],
        )?;
        Ok(())
    }

    pub fn discard_draft(&mut self, id: Uuid) -> Result<(), DeviceError> {
        self.store.connection().execute(
            "DELETE FROM app_drafts WHERE id = ?1",
            params![id.to_string()],
        )?;
        Ok(())
    }

    fn draft(&self, id: Uuid) -> Result<Option<EncounterDraft>, DeviceError> {
        let json: Option<String> = self
            .store
            .connection()
            .query_row(
                "SELECT draft FROM app_drafts WHERE id = ?1",
                params![id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    fn require_enrolled(&self) -> Result<&Enrolment, DeviceError> {
        self.enrolment.as_ref().ok_or(DeviceError::NotEnrolled)
    }

    // ---- encounters ------------------------------------------------------------------------

    /// Validates the draft, writes the encounter to the team document (durable), then drops
    /// the draft. Recording the same draft twice (a double tap, or a crash between the two
    /// steps) returns the encounter already recorded instead of a duplicate.
    pub fn record_encounter(
        &mut self,
        draft: &EncounterDraft,
        now: Millis,
    ) -> Result<Encounter, DeviceError> {
        self.require_enrolled()?;
        let team = self.team.as_ref().ok_or(DeviceError::NotEnrolled)?;
        if let Ok(existing) = doc::read_encounter(team, draft.id) {
            self.discard_draft(draft.id)?;
            return Ok(existing);
        }
        let questionnaire = match &self.night {
            Some(night) => doc::read_night(night)?.questionnaire.map(|q| q.version),
            None => None,
        };
        let encounter = draft.to_encounter(&self.device_id, questionnaire)?;
        self.change_team(|d| doc::record_encounter(d, &encounter, now))?;
        self.discard_draft(draft.id)?;
        Ok(encounter)
    }

    /// One field of a recorded encounter; refused once a checked-out round covers its time.
    pub fn edit_encounter(
        &mut self,
        id: Uuid,
        edit: &EncounterEdit,
        now: Millis,
    ) -> Result<Encounter, DeviceError> {
        let team = self.read_team()?;
        let encounter = team
            .encounters
            .get(&id)
            .ok_or(DeviceError::NotFound("encounter"))?;
        if !is_editable(&team, encounter) {
            return Err(DeviceError::RoundClosed);
        }
        if let EncounterEdit::Position(Some(p)) = edit
            && !(p.lat.is_finite()
                && p.lon.is_finite()
                && p.lat.abs() <= 90.0
                && p.lon.abs() <= 180.0)
        {
            return Err(DeviceError::InvalidInput("position out of range"));
        }
        self.change_team(|d| doc::edit_encounter(d, id, edit, now))?;
        let team = self.team.as_ref().ok_or(DeviceError::NotEnrolled)?;
        Ok(doc::read_encounter(team, id)?)
    }

    /// Newest first. `acknowledged` tells whether the server holds an encounter.
    pub fn list_encounters(
        &self,
        acknowledged: impl Fn(&Uuid) -> bool,
    ) -> Result<Vec<EncounterRecord>, DeviceError> {
        let team = self.read_team()?;
        let mut list: Vec<EncounterRecord> = team
            .encounters
            .into_values()
            .map(|encounter| EncounterRecord {
                sync_state: if acknowledged(&encounter.id) {
                    RecordSyncState::Server
                } else {
                    RecordSyncState::Device
                },
                encounter,
            })
            .collect();
        list.sort_by(|a, b| {
            b.encounter
                .recorded_at
                .cmp(&a.encounter.recorded_at)
                .then(b.encounter.id.cmp(&a.encounter.id))
        });
        Ok(list)
    }

    /// Sets alert flags on a recorded encounter (one edit per flag) or on an open draft.
    /// An alert tied to no encounter yet writes nothing: the call itself is made by the phone.
    pub fn raise_alert(&mut self, alert: &AlertRequest, now: Millis) -> Result<(), DeviceError> {
        self.require_enrolled()?;
        let Some(id) = alert.encounter_id else {
            return Ok(());
        };
        let recorded = self.read_team()?.encounters.contains_key(&id);
        if recorded {
            for kind in &alert.kinds {
                let edit = match kind {
                    AlertKind::VulnerableWoman => EncounterEdit::AlertVulnerableWoman(true),
                    AlertKind::Minor => EncounterEdit::AlertMinor(true),
                    AlertKind::Health => EncounterEdit::AlertHealth(true),
                };
                // Alerts are raised even on a closed round: safety before bookkeeping.
                self.change_team(|d| doc::edit_encounter(d, id, &edit, now))?;
            }
            return Ok(());
        }
        let mut draft = self.draft(id)?.ok_or(DeviceError::NotFound("encounter"))?;
        for kind in &alert.kinds {
            match kind {
                AlertKind::VulnerableWoman => draft.alerts.vulnerable_woman = true,
                AlertKind::Minor => draft.alerts.minor = true,
                AlertKind::Health => draft.alerts.health = true,
            }
        }
        self.save_draft(&draft, now)
    }

    // ---- tallies, rounds, coverage ---------------------------------------------------------

    /// Adds `delta` to one tally; returns its new value. Refuses to go below zero.
    pub fn add_to_tally(
        &mut self,
        dimension: &str,
        delta: i64,
        now: Millis,
    ) -> Result<i64, DeviceError> {
        let dim = TallyDimension::parse_key(dimension)
            .map_err(|_| DeviceError::InvalidInput("not a tally key"))?;
        if delta == 0 || delta.unsigned_abs() > 1000 {
            return Err(DeviceError::InvalidInput("tally delta out of range"));
        }
        let current = self.read_team()?.tallies.get(&dim).copied().unwrap_or(0);
        let next = current
            .checked_add(delta)
            .filter(|n| *n >= 0)
            .ok_or(DeviceError::InvalidInput("tally below zero"))?;
        self.change_team(|d| doc::add_to_tally(d, dim, delta, now))?;
        // Read back: the counter includes whatever other devices added meanwhile.
        Ok(self.read_team()?.tallies.get(&dim).copied().unwrap_or(next))
    }

    /// Opens a round (one at a time). `round_id` is a UUID v7 made by the caller.
    pub fn check_in(
        &mut self,
        sector: Option<SectorId>,
        round_id: Uuid,
        now: Millis,
    ) -> Result<Round, DeviceError> {
        let team = self.read_team()?;
        if team.is_out() {
            return Err(DeviceError::RoundAlreadyOpen);
        }
        if let Some(s) = &sector
            && !team.header.sectors.contains(s)
        {
            return Err(DeviceError::NotFound("sector"));
        }
        let round = Round {
            id: round_id,
            sector_id: sector,
            checked_in_at: now,
            checked_out_at: None,
            device: self.device_id.clone(),
        };
        self.change_team(|d| doc::check_in(d, &round, now))?;
        Ok(round)
    }

    /// Closes the open round (the latest, should two devices have opened one each).
    pub fn check_out(&mut self, now: Millis) -> Result<Round, DeviceError> {
        let team = self.read_team()?;
        let mut round = team
            .rounds
            .into_values()
            .filter(|r| r.checked_out_at.is_none())
            .max_by_key(|r| (r.checked_in_at, r.id))
            .ok_or(DeviceError::NoOpenRound)?;
        let at = now.max(round.checked_in_at);
        self.change_team(|d| doc::check_out(d, round.id, at, now))?;
        round.checked_out_at = Some(at);
        Ok(round)
    }

    pub fn mark_sector_covered(
        &mut self,
        sector: SectorId,
        zero_found: bool,
        now: Millis,
    ) -> Result<SectorCoverage, DeviceError> {
        if !self.read_team()?.header.sectors.contains(&sector) {
            return Err(DeviceError::NotFound("sector"));
        }
        let coverage = SectorCoverage {
            status: if zero_found {
                CoverageStatus::CoveredNoneFound
            } else {
                CoverageStatus::Covered
            },
            updated_at: now,
            device: self.device_id.clone(),
        };
        self.change_team(|d| doc::mark_coverage(d, &sector, &coverage, now))?;
        Ok(coverage)
    }

    /// Changes this device made to the team document (all of them are unacknowledged until a
    /// sync driver reports the server's heads).
    pub fn local_changes(&mut self) -> usize {
        let Some(e) = &self.enrolment else { return 0 };
        let actor = document_actor(&self.actor, &e.team_doc);
        match self.team.as_mut() {
            Some(team) => team
                .get_changes(&[])
                .iter()
                .filter(|c| c.actor_id() == &actor)
                .count(),
            None => 0,
        }
    }
}

/// An encounter stays editable until the round it was recorded in closes (same rule as the
/// UI's `isEditable`).
pub fn is_editable(team: &Team, e: &Encounter) -> bool {
    !team.rounds.values().any(|r| {
        r.checked_out_at
            .is_some_and(|out| r.checked_in_at <= e.recorded_at && e.recorded_at <= out)
    })
}

fn read_enrolment(store: &Store) -> Result<Option<Enrolment>, DeviceError> {
    type Row = (String, String, String, String, Vec<u8>, Vec<u8>);
    let row: Option<Row> = store
        .connection()
        .query_row(
            "SELECT server_url, token, peer_id, team_name, night_doc, team_doc
             FROM app_enrolment WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .optional()?;
    let Some((server_url, token, peer_id, team_name, night, team)) = row else {
        return Ok(None);
    };
    let bad = |_| DeviceError::Internal("stored document id");
    Ok(Some(Enrolment {
        server_url,
        token,
        peer_id,
        team_name,
        night_doc: DocumentId::from_slice(&night).map_err(bad)?,
        team_doc: DocumentId::from_slice(&team).map_err(bad)?,
    }))
}
