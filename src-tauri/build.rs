// Generates one `allow-<command>` permission per app command, so that the capability file can
// list exactly the commands the UI uses (and nothing else is callable from the webview).
const COMMANDS: &[&str] = &[
    "enrol",
    "get_team_state",
    "get_enrolment",
    "list_drafts",
    "save_draft",
    "discard_draft",
    "record_encounter",
    "edit_encounter",
    "add_to_tally",
    "check_in",
    "check_out",
    "mark_sector_covered",
    "list_encounters",
    "raise_alert",
    "get_sync_status",
    "reconnect_now",
    "climate_get_state",
    "climate_get_kit",
    "climate_nearest_places",
    "climate_start_visit",
    "climate_tick",
    "climate_hand_out",
    "coord_sign_in",
    "coord_session",
    "coord_sign_out",
    "coord_progress",
    "coord_progress_map",
    "coord_consolidation",
    "coord_duplicates",
    "coord_decide_duplicate",
    "coord_climate_kit",
    "coord_climate_default_kit",
    "coord_climate_check_kit",
    "coord_climate_publish_kit",
    "coord_climate_set_level",
    "coord_climate_progress",
    "coord_export",
    "coord_cancel_export",
    "coord_conflicts",
    "coord_resolve_conflict",
    "coord_purge_field_data",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .unwrap_or_else(|e| panic!("tauri-build: {e:#}"));
}
