//! The app state (`Device`): the SQLite file, this installation's identity, its enrolment, the
//! sync client that holds the team and night documents, and the drafts. Every command of the UI
//! is one method here; the Tauri layer (`commands`) only adapts arguments. Time and randomness
//! are passed in.
//!
//! The documents live in the sync driver (`carnet_shared::net`), which owns the document store
//! (chunks, sync states) of the app's SQLite file: reads go through [`ClientHandle::read`],
//! writes through [`ClientHandle::change_with`] with the writers of `carnet_shared::doc::tx`,
//! and a write is on disk (WAL, `synchronous=FULL`) before the method returns, online or not.
//! The app's own tables (identity, enrolment, drafts) are reached through a second connection
//! to the same file (`appdb`).

mod appdb;
mod climate;
#[cfg(test)]
mod climate_tests;
mod draft;
mod error;
mod schema;
#[cfg(test)]
mod tests;
mod types;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use automerge::transaction::Transaction;
use automerge::{ActorId, Automerge};
use uuid::Uuid;

use carnet_shared::doc::{self, DocError, messages};
use carnet_shared::ids::DocumentId;
use carnet_shared::model::{
    CoverageStatus, Encounter, EncounterEdit, Millis, Round, SectorCoverage, SectorId,
    TallyDimension, Team,
};
use carnet_shared::net::{Backoff, Client, ClientConfig, ClientHandle};
use carnet_shared::store::Store;

pub use climate::{MAX_NEAREST, VolunteerState};
pub use draft::EncounterDraft;
pub use error::{DeviceError, ErrorCode};
pub use types::{
    AccessRevoked, AlertKind, AlertRequest, EmergencyNumber, EncounterRecord, Enrolment,
    EnrolmentKind, EnrolmentView, RecordSyncState, TeamState,
};

use appdb::AppDb;

/// How the sync client behaves (tests shorten the reconnection delays).
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOptions {
    pub backoff: Backoff,
}

pub struct Device {
    path: PathBuf,
    db: AppDb,
    device_id: String,
    actor: ActorId,
    enrolment: Option<Enrolment>,
    client: Option<ClientHandle>,
    options: SyncOptions,
}

impl Device {
    /// Opens (creating if needed) the app's database and, if the device is enrolled, starts
    /// the sync client. `fresh_identity` (16 random bytes) is used only the first time, to
    /// make this installation's device id and actor. Must run inside a tokio runtime.
    pub async fn open(
        path: impl AsRef<Path>,
        fresh_identity: [u8; 16],
    ) -> Result<Self, DeviceError> {
        Self::open_with(path, fresh_identity, SyncOptions::default()).await
    }

    pub async fn open_with(
        path: impl AsRef<Path>,
        fresh_identity: [u8; 16],
        options: SyncOptions,
    ) -> Result<Self, DeviceError> {
        let path = path.as_ref().to_path_buf();
        let at = path.clone();
        let opened = tokio::task::spawn_blocking(move || AppDb::open(&at, fresh_identity))
            .await
            .map_err(|_| DeviceError::Internal("opening the database"))??;
        let mut device = Self {
            path,
            db: opened.db,
            device_id: opened.device_id,
            actor: opened.actor,
            enrolment: opened.enrolment,
            client: None,
            options,
        };
        if device.enrolment.is_some() {
            device.start_client().await?;
        }
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

    /// The enrolment without its token, for the UI.
    pub fn enrolment_view(&self) -> Option<EnrolmentView> {
        self.enrolment.as_ref().map(|e| EnrolmentView {
            kind: e.kind,
            name: e.name.clone(),
            server_url: e.server_url.clone(),
        })
    }

    /// The running sync client (enrolled devices only).
    pub fn client(&self) -> Option<&ClientHandle> {
        self.client.as_ref()
    }

    /// Keeps what enrolment gave and (re)starts the sync client for its documents. Replaces
    /// an earlier enrolment (a device re-enrolled for another night).
    pub async fn save_enrolment(&mut self, e: Enrolment, now: Millis) -> Result<(), DeviceError> {
        self.db.save_enrolment(e.clone(), now).await?;
        if let Some(old) = self.client.take() {
            old.shutdown().await;
        }
        self.enrolment = Some(e);
        self.start_client().await?;
        Ok(())
    }

    /// Enrolment as the UI does it: trades `code` for a token at `server_url` (a team's or a
    /// volunteer group's code), keeps it, starts the sync client, then waits (at most `wait`)
    /// for both documents to arrive. Fails with `enrolmentPending` if they did not: the
    /// enrolment is kept and the client keeps trying in the background. The team's state for a team device, `None` for
    /// a volunteer (see [`Device::volunteer_state`]).
    pub async fn enrol(
        &mut self,
        server_url: &str,
        code: &str,
        now: Millis,
        wait: Duration,
    ) -> Result<Option<TeamState>, DeviceError> {
        let enrolment = crate::enrol::enrol(server_url, code).await?;
        let docs = [enrolment.shared_doc, enrolment.own_doc];
        let kind = enrolment.kind;
        self.save_enrolment(enrolment, now).await?;
        let client = self.client.clone().ok_or(DeviceError::NotEnrolled)?;
        wait_for_documents(&client, &docs, wait).await?;
        match kind {
            EnrolmentKind::Team => self
                .team_state()
                .await?
                .map(Some)
                .ok_or(DeviceError::DocumentsMissing),
            EnrolmentKind::Volunteer => Ok(None),
        }
    }

    async fn start_client(&mut self) -> Result<(), DeviceError> {
        let e = self.enrolment.as_ref().ok_or(DeviceError::NotEnrolled)?;
        let mut config = ClientConfig::new(
            crate::enrol::sync_url(&e.server_url),
            Some(e.token.clone()),
            e.peer_id.clone(),
            self.actor.clone(),
            vec![e.shared_doc, e.own_doc],
        );
        config.backoff = self.options.backoff;
        let path = self.path.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(path))
            .await
            .map_err(|_| DeviceError::Internal("opening the document store"))??;
        self.client = Some(Client::start(config, store).await?);
        Ok(())
    }

    /// The server confirmed (`enrol::token_revoked`, asked by the caller *without* holding
    /// the device, so that no write waits on the network) that this device's token is
    /// revoked: the coordination closed the night, or revoked the device. If the server holds
    /// every change, the device erases the enrolment's documents, its token and its drafts —
    /// after a night's close the server rewrote the history without the distinctive signs,
    /// and this device's copy must never send the old one back. If changes never reached the
    /// server (checked here, under the device, so a write made meanwhile counts), nothing is
    /// erased: they are the only copy.
    pub async fn on_access_revoked(&mut self) -> Result<AccessRevoked, DeviceError> {
        let e = self.enrolment.clone().ok_or(DeviceError::NotEnrolled)?;
        let pending = self.pending_changes();
        if pending > 0 {
            return Ok(AccessRevoked::Kept { pending });
        }
        if let Some(client) = self.client.take() {
            client.shutdown().await;
        }
        if let Err(error) = self.db.erase_enrolment(vec![e.shared_doc, e.own_doc]).await {
            // Nothing was erased (one transaction): the device is still enrolled and must
            // keep working, so its client runs again (it retries, and asks again on the next
            // refusal) instead of every write failing with `NotEnrolled` until a restart.
            if let Err(restart) = self.start_client().await {
                tracing::error!(error = %restart, "sync client not restarted after a failed erase");
            }
            return Err(error);
        }
        self.enrolment = None;
        Ok(AccessRevoked::Erased)
    }

    /// Stops the sync client (everything written is already on disk). Call before dropping
    /// the device when the same file is opened again in this process.
    pub async fn close(&mut self) {
        if let Some(client) = self.client.take() {
            client.shutdown().await;
        }
    }

    /// Stores document bytes received from elsewhere (a test, a seeded demo) as one chunk.
    /// Only before enrolment: afterwards the sync client owns the documents.
    pub async fn store_document(
        &mut self,
        doc: DocumentId,
        bytes: Vec<u8>,
    ) -> Result<(), DeviceError> {
        if bytes.is_empty() {
            return Err(DeviceError::InvalidInput("empty document"));
        }
        if self.client.is_some() {
            return Err(DeviceError::InvalidInput(
                "documents are kept by the sync client",
            ));
        }
        self.db.store_document(doc, bytes).await
    }

    fn session(&self) -> Result<(&Enrolment, &ClientHandle), DeviceError> {
        match (&self.enrolment, &self.client) {
            (Some(e), Some(c)) => Ok((e, c)),
            _ => Err(DeviceError::NotEnrolled),
        }
    }

    /// The session of a street-count team device (a volunteer is not enrolled in a team).
    fn team_session(&self) -> Result<(&Enrolment, &ClientHandle), DeviceError> {
        self.session().and_then(|s| match s.0.kind {
            EnrolmentKind::Team => Ok(s),
            EnrolmentKind::Volunteer => Err(DeviceError::NotEnrolled),
        })
    }

    /// Reads one document; `None` while it has not arrived from the server.
    async fn read_doc<T>(
        &self,
        doc: DocumentId,
        f: impl FnOnce(&Automerge) -> Result<T, DocError>,
    ) -> Result<Option<T>, DeviceError> {
        let (_, client) = self.session()?;
        let read = client
            .read(doc, |d| (!d.get_heads().is_empty()).then(|| f(d)))
            .await;
        match read.flatten() {
            None => Ok(None),
            Some(result) => Ok(Some(result?)),
        }
    }

    /// Both documents are on this device: the team can work offline.
    pub async fn has_documents(&self) -> bool {
        self.team_state().await.is_ok_and(|s| s.is_some())
    }

    /// `None` until the device is enrolled and holds both documents.
    pub async fn team_state(&self) -> Result<Option<TeamState>, DeviceError> {
        let Ok((e, _)) = self.team_session() else {
            return Ok(None);
        };
        let night = self.read_doc(e.shared_doc, doc::read_night).await?;
        let team = self.read_doc(e.own_doc, doc::read_team).await?;
        let (Some(night), Some(team)) = (night, team) else {
            return Ok(None);
        };
        Ok(Some(TeamState {
            device_id: self.device_id.clone(),
            server_url: e.server_url.clone(),
            night,
            team,
        }))
    }

    async fn read_team(&self) -> Result<Team, DeviceError> {
        let (e, _) = self.team_session()?;
        self.read_doc(e.own_doc, doc::read_team)
            .await?
            .ok_or(DeviceError::DocumentsMissing)
    }

    /// Runs writers of `carnet_shared::doc::tx` on the team document as one change with the
    /// writer's fixed message; durable before returning. A writer's error rolls it back.
    async fn change_team<R: Send>(
        &self,
        message: &'static str,
        now: Millis,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<R, DocError> + Send,
    ) -> Result<R, DeviceError> {
        let (e, client) = self.team_session()?;
        let changed = client
            .change_with(e.own_doc, doc::commit_options(message, now), f)
            .await??;
        Ok(changed.value)
    }

    // ---- drafts ----------------------------------------------------------------------------

    pub async fn list_drafts(&self) -> Result<Vec<EncounterDraft>, DeviceError> {
        self.db.list_drafts().await
    }

    /// Upserts the whole draft (autosave). Durable on return.
    pub async fn save_draft(&self, draft: &EncounterDraft, now: Millis) -> Result<(), DeviceError> {
        self.team_session()?;
        self.db.save_draft(draft, now).await
    }

    pub async fn discard_draft(&self, id: Uuid) -> Result<(), DeviceError> {
        self.db.discard_draft(id).await
    }

    // ---- encounters ------------------------------------------------------------------------

    /// Validates the draft, writes the encounter to the team document (durable), then drops
    /// the draft. Recording the same draft twice (a double tap, or a crash between the two
    /// steps) returns the encounter already recorded instead of a duplicate.
    pub async fn record_encounter(
        &self,
        draft: &EncounterDraft,
        now: Millis,
    ) -> Result<Encounter, DeviceError> {
        let (e, _) = self.team_session()?;
        let questionnaire = self
            .read_doc(e.shared_doc, |d| {
                doc::read_night(d).map(|n| n.questionnaire.map(|q| q.version))
            })
            .await?
            .flatten();
        self.read_team().await?;
        let encounter = draft.to_encounter(&self.device_id, questionnaire)?;
        // The check and the write are one transaction: two taps cannot both write.
        let recorded = self
            .change_team(
                messages::RECORD_ENCOUNTER,
                now,
                move |tx| match doc::read_encounter(&*tx, encounter.id) {
                    Ok(existing) => Ok(existing),
                    Err(DocError::NoSuchEncounter(_)) => {
                        doc::tx::record_encounter(tx, &encounter)?;
                        Ok(encounter)
                    }
                    Err(other) => Err(other),
                },
            )
            .await?;
        self.discard_draft(draft.id).await?;
        Ok(recorded)
    }

    /// One field of a recorded encounter; refused once a checked-out round covers its time.
    pub async fn edit_encounter(
        &self,
        id: Uuid,
        edit: &EncounterEdit,
        now: Millis,
    ) -> Result<Encounter, DeviceError> {
        let team = self.read_team().await?;
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
        let edit = edit.clone();
        self.change_team(messages::EDIT_ENCOUNTER, now, move |tx| {
            doc::tx::edit_encounter(tx, id, &edit)?;
            doc::read_encounter(&*tx, id)
        })
        .await
    }

    /// Newest first, each with its sync state: `server` once the heads the server reported
    /// (after its durable write) cover every change to it.
    pub async fn list_encounters(&self) -> Result<Vec<EncounterRecord>, DeviceError> {
        let (e, client) = self.team_session()?;
        let team = self.read_team().await?;
        let unsynced: BTreeSet<String> = client
            .unsynced_encounters(e.own_doc)
            .await
            .unwrap_or_default();
        let mut list: Vec<EncounterRecord> = team
            .encounters
            .into_values()
            .map(|encounter| EncounterRecord {
                sync_state: if unsynced.contains(&encounter.id.to_string()) {
                    RecordSyncState::Device
                } else {
                    RecordSyncState::Server
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

    /// Sets alert flags on a recorded encounter (one change) or on an open draft. An alert
    /// tied to no encounter yet writes nothing: the call itself is made by the phone.
    pub async fn raise_alert(&self, alert: &AlertRequest, now: Millis) -> Result<(), DeviceError> {
        self.team_session()?;
        let Some(id) = alert.encounter_id else {
            return Ok(());
        };
        let recorded = self.read_team().await?.encounters.contains_key(&id);
        if recorded {
            let edits: Vec<EncounterEdit> = alert
                .kinds
                .iter()
                .map(|kind| match kind {
                    AlertKind::VulnerableWoman => EncounterEdit::AlertVulnerableWoman(true),
                    AlertKind::Minor => EncounterEdit::AlertMinor(true),
                    AlertKind::Health => EncounterEdit::AlertHealth(true),
                })
                .collect();
            // Alerts are raised even on a closed round: safety before bookkeeping.
            return self
                .change_team(messages::EDIT_ENCOUNTER, now, move |tx| {
                    edits
                        .iter()
                        .try_for_each(|edit| doc::tx::edit_encounter(tx, id, edit))
                })
                .await;
        }
        let mut draft = self
            .db
            .draft(id)
            .await?
            .ok_or(DeviceError::NotFound("encounter"))?;
        for kind in &alert.kinds {
            match kind {
                AlertKind::VulnerableWoman => draft.alerts.vulnerable_woman = true,
                AlertKind::Minor => draft.alerts.minor = true,
                AlertKind::Health => draft.alerts.health = true,
            }
        }
        self.save_draft(&draft, now).await
    }

    // ---- tallies, rounds, coverage ---------------------------------------------------------

    /// Adds `delta` to one tally; returns its new value. Refuses to go below zero.
    pub async fn add_to_tally(
        &self,
        dimension: &str,
        delta: i64,
        now: Millis,
    ) -> Result<i64, DeviceError> {
        let dim = TallyDimension::parse_key(dimension)
            .map_err(|_| DeviceError::InvalidInput("not a tally key"))?;
        if delta == 0 || delta.unsigned_abs() > 1000 {
            return Err(DeviceError::InvalidInput("tally delta out of range"));
        }
        let current = self
            .read_team()
            .await?
            .tallies
            .get(&dim)
            .copied()
            .unwrap_or(0);
        current
            .checked_add(delta)
            .filter(|n| *n >= 0)
            .ok_or(DeviceError::InvalidInput("tally below zero"))?;
        // Read back in the same transaction: the counter includes what other devices added.
        self.change_team(messages::TALLY, now, move |tx| {
            doc::tx::add_to_tally(tx, dim, delta)?;
            Ok(doc::read_team(&*tx)?
                .tallies
                .get(&dim)
                .copied()
                .unwrap_or_default())
        })
        .await
    }

    /// Opens a round (one at a time). `round_id` is a UUID v7 made by the caller.
    pub async fn check_in(
        &self,
        sector: Option<SectorId>,
        round_id: Uuid,
        now: Millis,
    ) -> Result<Round, DeviceError> {
        let team = self.read_team().await?;
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
        let written = round.clone();
        self.change_team(messages::CHECK_IN, now, move |tx| {
            doc::tx::check_in(tx, &written)
        })
        .await?;
        Ok(round)
    }

    /// Closes the open round (the latest, should two devices have opened one each).
    pub async fn check_out(&self, now: Millis) -> Result<Round, DeviceError> {
        let team = self.read_team().await?;
        let mut round = team
            .rounds
            .into_values()
            .filter(|r| r.checked_out_at.is_none())
            .max_by_key(|r| (r.checked_in_at, r.id))
            .ok_or(DeviceError::NoOpenRound)?;
        let at = now.max(round.checked_in_at);
        let id = round.id;
        self.change_team(messages::CHECK_OUT, now, move |tx| {
            doc::tx::check_out(tx, id, at)
        })
        .await?;
        round.checked_out_at = Some(at);
        Ok(round)
    }

    pub async fn mark_sector_covered(
        &self,
        sector: SectorId,
        zero_found: bool,
        now: Millis,
    ) -> Result<SectorCoverage, DeviceError> {
        if !self.read_team().await?.header.sectors.contains(&sector) {
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
        let written = coverage.clone();
        self.change_team(messages::MARK_COVERAGE, now, move |tx| {
            doc::tx::mark_coverage(tx, &sector, &written)
        })
        .await?;
        Ok(coverage)
    }

    /// Changes of the team and night documents the server does not hold yet.
    pub fn pending_changes(&self) -> usize {
        self.client.as_ref().map_or(0, |c| {
            c.status()
                .borrow()
                .documents
                .values()
                .map(|d| d.pending_changes)
                .sum()
        })
    }
}

/// Waits until every document of `docs` holds content (it arrived from the server), at most
/// `wait`; then `EnrolmentPending` (the enrolment stays, the client keeps trying).
pub async fn wait_for_documents(
    client: &ClientHandle,
    docs: &[DocumentId],
    wait: Duration,
) -> Result<(), DeviceError> {
    let mut changes = client.subscribe_changes();
    let arrived = async {
        loop {
            let mut all = true;
            for doc in docs {
                let has = client.read(*doc, |d| !d.get_heads().is_empty()).await;
                all &= has == Some(true);
            }
            if all {
                return;
            }
            // A change, or a periodic look in case a notification was missed.
            let _ = tokio::time::timeout(Duration::from_millis(500), changes.recv()).await;
        }
    };
    tokio::time::timeout(wait, arrived)
        .await
        .map_err(|_| DeviceError::EnrolmentPending)
}

impl Drop for Device {
    // The driver's task holds the client alive; stop it when the app state goes away.
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move { client.shutdown().await });
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
