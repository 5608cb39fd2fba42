//! The background task that keeps the sync status up to date and tells the UI about it
//! (`sync-status`, `team-changed` events). One task per app, started at launch when the device
//! is enrolled, or right after enrolment.
//!
//! Until the network driver (`carnet_shared::net`) is wired in, the task reports the device as
//! offline with every local change pending: honest, and what the UI's indicator shows.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::Notify;

use crate::device::{DeviceError, ErrorCode};
use crate::state::{AppState, StatusError, SyncPhase, SyncStatusView};

/// How often the status is recomputed without a nudge.
const PERIOD: Duration = Duration::from_secs(5);
/// How long enrolment waits for the documents to arrive.
const DOCUMENTS_WAIT: Duration = Duration::from_secs(20);

#[derive(Default)]
pub struct SyncControl {
    started: AtomicBool,
    nudge: Notify,
}

/// Starts the background task once (no-op if it runs already).
pub fn start<R: Runtime>(app: &AppHandle<R>) {
    let Some(control) = app.try_state::<SyncControl>() else {
        return;
    };
    if control.started.swap(true, Ordering::SeqCst) {
        control.nudge.notify_one();
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            publish(&app);
            let Some(control) = app.try_state::<SyncControl>() else {
                return;
            };
            let _ = tokio::time::timeout(PERIOD, control.nudge.notified()).await;
        }
    });
}

/// A local write happened: tell the UI (as the dev backend does, so that every screen re-reads)
/// and recompute the pending count now.
pub fn local_change<R: Runtime>(app: &AppHandle<R>) {
    let _ = app.emit("team-changed", ());
    if let Some(control) = app.try_state::<SyncControl>() {
        control.nudge.notify_one();
    }
}

/// Something urgent (an alert) should reach the server as soon as possible.
pub fn push_now<R: Runtime>(app: &AppHandle<R>) {
    local_change(app);
}

/// Waits until both documents of the enrolment are on the device.
pub async fn wait_for_documents(state: &AppState) -> Result<(), DeviceError> {
    let deadline = tokio::time::Instant::now() + DOCUMENTS_WAIT;
    loop {
        if state.device()?.has_documents() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(DeviceError::ServerUnreachable);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn current_status(state: &AppState) -> Result<SyncStatusView, DeviceError> {
    let mut device = state.device()?;
    if device.enrolment().is_none() {
        return Ok(SyncStatusView::default());
    }
    let pending = u64::try_from(device.local_changes()).unwrap_or(u64::MAX);
    Ok(SyncStatusView {
        phase: SyncPhase::Offline,
        pending,
        last_sync_at: None,
        error: Some(StatusError {
            code: ErrorCode::ServerUnreachable,
            message: "sync driver not running".to_owned(),
        }),
    })
}

fn publish<R: Runtime>(app: &AppHandle<R>) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    let Ok(status) = current_status(&state) else {
        return;
    };
    let changed = match state.sync() {
        Ok(mut view) if view.status != status => {
            view.status = status.clone();
            true
        }
        _ => false,
    };
    if changed {
        let _ = app.emit("sync-status", status);
    }
}
