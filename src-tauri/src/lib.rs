//! Carnet's street-count and climate-volunteer app: the Tauri shell. Commands are thin adapters (`commands`) over the
//! app state (`device`), which holds all the logic and is tested without Tauri.
#![forbid(unsafe_code)]

pub mod climate_coord;
pub mod commands;
pub mod coordinator;
pub mod device;
pub mod enrol;
pub mod state;
pub mod sync;

use tauri::Manager;

/// The database file inside the platform's app-data folder
/// (`$XDG_DATA_HOME/fr.paris.carnet/` on Linux).
pub const DATABASE_FILE: &str = "carnet.sqlite3";

/// Registers every command of `ui/src/backend.ts` and `ui/src/climate/backend.ts` (keep in step with `build.rs` and
/// `capabilities/default.json`).
pub fn builder<R: tauri::Runtime>() -> tauri::Builder<R> {
    tauri::Builder::<R>::new().invoke_handler(tauri::generate_handler![
        commands::enrol,
        commands::get_team_state,
        commands::get_enrolment,
        commands::list_drafts,
        commands::save_draft,
        commands::discard_draft,
        commands::record_encounter,
        commands::edit_encounter,
        commands::add_to_tally,
        commands::check_in,
        commands::check_out,
        commands::mark_sector_covered,
        commands::list_encounters,
        commands::raise_alert,
        commands::get_sync_status,
        commands::reconnect_now,
        commands::climate_get_state,
        commands::climate_get_kit,
        commands::climate_nearest_places,
        commands::climate_start_visit,
        commands::climate_tick,
        commands::climate_hand_out,
        coordinator::coord_sign_in,
        coordinator::coord_session,
        coordinator::coord_sign_out,
        coordinator::coord_progress,
        coordinator::coord_progress_map,
        coordinator::coord_consolidation,
        coordinator::coord_duplicates,
        coordinator::coord_decide_duplicate,
        climate_coord::coord_climate_kit,
        climate_coord::coord_climate_default_kit,
        climate_coord::coord_climate_check_kit,
        climate_coord::coord_climate_publish_kit,
        climate_coord::coord_climate_set_level,
        climate_coord::coord_climate_progress,
        coordinator::exports::coord_export,
        coordinator::exports::coord_cancel_export,
        coordinator::review::coord_conflicts,
        coordinator::review::coord_resolve_conflict,
        coordinator::review::coord_purge_field_data,
    ])
}

/// Opens the device database in the app-data folder and puts the app state in place.
pub fn setup<R: tauri::Runtime>(app: &mut tauri::App<R>) -> Result<(), Box<dyn std::error::Error>> {
    let dir = app.path().app_data_dir()?;
    std::fs::create_dir_all(&dir)?;
    // Inside the async runtime: the sync client (enrolled devices) starts with the device.
    let device = tauri::async_runtime::block_on(device::Device::open(
        dir.join(DATABASE_FILE),
        *uuid::Uuid::new_v4().as_bytes(),
    ))?;
    let client = device.client().cloned();
    app.manage(state::AppState::new(device));
    app.manage(sync::SyncControl::default());
    app.manage(coordinator::CoordinatorState::default());
    if let Some(client) = client {
        sync::start(app.handle(), client);
    }
    Ok(())
}

#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = builder::<tauri::Wry>()
        .setup(setup)
        .run(tauri::generate_context!());
    if let Err(e) = result {
        tracing::error!("carnet: {e}");
        std::process::exit(1);
    }
}
