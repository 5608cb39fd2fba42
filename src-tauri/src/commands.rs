//! The IPC boundary: one thin `#[tauri::command]` per method of `Backend` in
//! `ui/src/backend.ts`, with the same names and argument names (camelCase in JS, snake_case
//! here). Each reads the clock or makes an id if needed and calls `Device`; errors cross as
//! `{code, message, issues?}`.

use tauri::{AppHandle, Runtime, State};
use uuid::Uuid;

use carnet_shared::model::{Encounter, EncounterEdit, Round, SectorCoverage, SectorId};

use crate::device::{AlertRequest, DeviceError, EncounterDraft, EncounterRecord, TeamState};
use crate::state::{AppState, SyncStatusView, now_millis};
use crate::{enrol as http, sync};

type Result<T> = std::result::Result<T, DeviceError>;

#[tauri::command]
pub async fn enrol<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    server_url: String,
    code: String,
) -> Result<TeamState> {
    let enrolment = http::enrol(&server_url, &code).await?;
    state.device()?.save_enrolment(enrolment, now_millis())?;
    sync::start(&app);
    sync::wait_for_documents(&state).await?;
    state
        .device()?
        .team_state()?
        .ok_or(DeviceError::ServerUnreachable)
}

#[tauri::command]
pub async fn get_team_state(state: State<'_, AppState>) -> Result<Option<TeamState>> {
    state.device()?.team_state()
}

#[tauri::command]
pub async fn list_drafts(state: State<'_, AppState>) -> Result<Vec<EncounterDraft>> {
    state.device()?.list_drafts()
}

#[tauri::command]
pub async fn save_draft(state: State<'_, AppState>, draft: EncounterDraft) -> Result<()> {
    state.device()?.save_draft(&draft, now_millis())
}

#[tauri::command]
pub async fn discard_draft(state: State<'_, AppState>, id: Uuid) -> Result<()> {
    state.device()?.discard_draft(id)
}

#[tauri::command]
pub async fn record_encounter<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    draft: EncounterDraft,
) -> Result<Encounter> {
    let out = state.device()?.record_encounter(&draft, now_millis())?;
    sync::local_change(&app);
    Ok(out)
}

#[tauri::command]
pub async fn edit_encounter<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: Uuid,
    edit: EncounterEdit,
) -> Result<Encounter> {
    let out = state.device()?.edit_encounter(id, &edit, now_millis())?;
    sync::local_change(&app);
    Ok(out)
}

#[tauri::command]
pub async fn add_to_tally<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    dimension: String,
    delta: i64,
) -> Result<i64> {
    let out = state
        .device()?
        .add_to_tally(&dimension, delta, now_millis())?;
    sync::local_change(&app);
    Ok(out)
}

#[tauri::command]
pub async fn check_in<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    sector_id: Option<SectorId>,
) -> Result<Round> {
    let out = state
        .device()?
        .check_in(sector_id, Uuid::now_v7(), now_millis())?;
    sync::local_change(&app);
    Ok(out)
}

#[tauri::command]
pub async fn check_out<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) -> Result<Round> {
    let out = state.device()?.check_out(now_millis())?;
    sync::local_change(&app);
    Ok(out)
}

#[tauri::command]
pub async fn mark_sector_covered<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    sector_id: SectorId,
    zero_found: bool,
) -> Result<SectorCoverage> {
    let out = state
        .device()?
        .mark_sector_covered(sector_id, zero_found, now_millis())?;
    sync::local_change(&app);
    Ok(out)
}

#[tauri::command]
pub async fn list_encounters(state: State<'_, AppState>) -> Result<Vec<EncounterRecord>> {
    let acknowledged = state.sync()?.acknowledged.clone();
    state
        .device()?
        .list_encounters(|id| acknowledged.contains(id))
}

#[tauri::command]
pub async fn raise_alert<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    alert: AlertRequest,
) -> Result<()> {
    state.device()?.raise_alert(&alert, now_millis())?;
    sync::local_change(&app);
    sync::push_now(&app);
    Ok(())
}

#[tauri::command]
pub async fn get_sync_status(state: State<'_, AppState>) -> Result<SyncStatusView> {
    Ok(state.sync()?.status.clone())
}
