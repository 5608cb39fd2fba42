//! The IPC boundary: one thin `#[tauri::command]` per method of `Backend` in
//! `ui/src/backend.ts`, with the same names and argument names (camelCase in JS, snake_case
//! here). Each reads the clock or makes an id if needed and calls `Device`; errors cross as
//! `{code, message, issues?}`. The `team-changed` and `sync-status` events come from the sync
//! task (`sync`), for local and remote changes alike.

use tauri::{AppHandle, Runtime, State};
use uuid::Uuid;

use carnet_shared::climate::{Field, KitDocument, Nearby, PlaceKind, Visit};
use carnet_shared::model::{Encounter, EncounterEdit, Round, SectorCoverage, SectorId};

use crate::device::{
    AlertRequest, DeviceError, EncounterDraft, EncounterRecord, EnrolmentKind, EnrolmentView,
    TeamState, VolunteerState, wait_for_documents,
};
use crate::state::{AppState, SyncStatusView, now_millis};
use crate::{enrol as http, sync};

type Result<T> = std::result::Result<T, DeviceError>;

/// Trades the code for a token, starts syncing, and waits (bounded) for the documents. The
/// team's state for a team code; `null` for a climate volunteer's code (the UI then reads
/// `climate_get_state`); `enrolmentPending` when the documents have not arrived in time (the
/// code is spent and the enrolment kept: the UI shows `get_enrolment` as waiting).
#[tauri::command]
pub async fn enrol<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    server_url: String,
    code: String,
) -> Result<Option<TeamState>> {
    let enrolment = http::enrol(&server_url, &code).await?;
    let docs = [enrolment.shared_doc, enrolment.own_doc];
    let kind = enrolment.kind;
    let client = {
        let mut device = state.device().await;
        device.save_enrolment(enrolment, now_millis()).await?;
        device.client().cloned().ok_or(DeviceError::NotEnrolled)?
    };
    sync::start(&app, client.clone());
    // Not holding the device: the UI may read the sync status meanwhile.
    wait_for_documents(&client, &docs, sync::DOCUMENTS_WAIT).await?;
    match kind {
        EnrolmentKind::Team => state
            .device()
            .await
            .team_state()
            .await?
            .map(Some)
            .ok_or(DeviceError::DocumentsMissing),
        EnrolmentKind::Volunteer => Ok(None),
    }
}

/// `null` before enrolment. Lets the UI tell "not enrolled" from "enrolled, documents on
/// their way".
#[tauri::command]
pub async fn get_enrolment(state: State<'_, AppState>) -> Result<Option<EnrolmentView>> {
    Ok(state.device().await.enrolment_view())
}

#[tauri::command]
pub async fn get_team_state(state: State<'_, AppState>) -> Result<Option<TeamState>> {
    state.device().await.team_state().await
}

#[tauri::command]
pub async fn list_drafts(state: State<'_, AppState>) -> Result<Vec<EncounterDraft>> {
    state.device().await.list_drafts().await
}

#[tauri::command]
pub async fn save_draft(state: State<'_, AppState>, draft: EncounterDraft) -> Result<()> {
    state.device().await.save_draft(&draft, now_millis()).await
}

#[tauri::command]
pub async fn discard_draft(state: State<'_, AppState>, id: Uuid) -> Result<()> {
    state.device().await.discard_draft(id).await
}

#[tauri::command]
pub async fn record_encounter(
    state: State<'_, AppState>,
    draft: EncounterDraft,
) -> Result<Encounter> {
    state
        .device()
        .await
        .record_encounter(&draft, now_millis())
        .await
}

#[tauri::command]
pub async fn edit_encounter(
    state: State<'_, AppState>,
    id: Uuid,
    edit: EncounterEdit,
) -> Result<Encounter> {
    state
        .device()
        .await
        .edit_encounter(id, &edit, now_millis())
        .await
}

#[tauri::command]
pub async fn add_to_tally(
    state: State<'_, AppState>,
    dimension: String,
    delta: i64,
) -> Result<i64> {
    state
        .device()
        .await
        .add_to_tally(&dimension, delta, now_millis())
        .await
}

#[tauri::command]
pub async fn check_in(state: State<'_, AppState>, sector_id: Option<SectorId>) -> Result<Round> {
    state
        .device()
        .await
        .check_in(sector_id, Uuid::now_v7(), now_millis())
        .await
}

#[tauri::command]
pub async fn check_out(state: State<'_, AppState>) -> Result<Round> {
    state.device().await.check_out(now_millis()).await
}

#[tauri::command]
pub async fn mark_sector_covered(
    state: State<'_, AppState>,
    sector_id: SectorId,
    zero_found: bool,
) -> Result<SectorCoverage> {
    state
        .device()
        .await
        .mark_sector_covered(sector_id, zero_found, now_millis())
        .await
}

#[tauri::command]
pub async fn list_encounters(state: State<'_, AppState>) -> Result<Vec<EncounterRecord>> {
    state.device().await.list_encounters().await
}

/// The change is durable on return and goes out at once if the link is up; if it is down, the
/// client is asked to reconnect now rather than after its backoff.
#[tauri::command]
pub async fn raise_alert(state: State<'_, AppState>, alert: AlertRequest) -> Result<()> {
    let device = state.device().await;
    device.raise_alert(&alert, now_millis()).await?;
    if let Some(client) = device.client() {
        client.reconnect_now();
    }
    Ok(())
}

/// Asks the sync client to reconnect now rather than after its backoff (the "réessayer"
/// button while enrolment waits for its documents). Nothing to do before enrolment.
#[tauri::command]
pub async fn reconnect_now(state: State<'_, AppState>) -> Result<()> {
    if let Some(client) = state.device().await.client() {
        client.reconnect_now();
    }
    Ok(())
}

#[tauri::command]
pub async fn get_sync_status(state: State<'_, AppState>) -> Result<SyncStatusView> {
    Ok(state.sync()?.clone())
}

// ---- climate volunteers (`ui/src/climate/backend.ts`) ---------------------------------------

/// `null` unless the device is enrolled as a climate volunteer and holds its group's document.
#[tauri::command]
pub async fn climate_get_state(state: State<'_, AppState>) -> Result<Option<VolunteerState>> {
    state.device().await.volunteer_state().await
}

#[tauri::command]
pub async fn climate_get_kit(state: State<'_, AppState>) -> Result<Option<KitDocument>> {
    state.device().await.climate_kit().await
}

#[tauri::command]
pub async fn climate_nearest_places(
    state: State<'_, AppState>,
    lat: f64,
    lon: f64,
    n: u32,
    kind: Option<PlaceKind>,
) -> Result<Vec<Nearby>> {
    state.device().await.nearest_places(lat, lon, n, kind).await
}

#[tauri::command]
pub async fn climate_start_visit(
    state: State<'_, AppState>,
    area: String,
    checklist_id: String,
) -> Result<Visit> {
    state
        .device()
        .await
        .start_visit(Uuid::now_v7(), &area, &checklist_id, now_millis())
        .await
}

#[tauri::command]
pub async fn climate_tick(
    state: State<'_, AppState>,
    visit_id: Uuid,
    item_id: String,
    checked: bool,
) -> Result<Visit> {
    state
        .device()
        .await
        .tick(visit_id, &item_id, checked, now_millis())
        .await
}

/// Items handed out on a visit: `delta` (±1…100) of `kind` (`eau`, `eventail`, `brumisateur`,
/// `depliant`); the group's field document as it now reads.
#[tauri::command]
pub async fn climate_hand_out(
    state: State<'_, AppState>,
    visit_id: Uuid,
    kind: String,
    delta: i64,
) -> Result<Field> {
    state
        .device()
        .await
        .hand_out(visit_id, &kind, delta, now_millis())
        .await
}
