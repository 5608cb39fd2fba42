//! What the Tauri app keeps between commands: the device behind a mutex, and the sync status
//! the background task publishes.

use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use carnet_shared::model::Millis;
use serde::Serialize;

use crate::device::{Device, DeviceError, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SyncPhase {
    Idle,
    Syncing,
    Offline,
    Error,
}

/// `BackendError` without issues, for the sync status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusError {
    pub code: ErrorCode,
    pub message: String,
}

/// `SyncStatus` in `ui/src/backend.ts` (payload of the `sync-status` event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatusView {
    pub phase: SyncPhase,
    /// Records not yet acknowledged by the server.
    pub pending: u64,
    pub last_sync_at: Option<Millis>,
    pub error: Option<StatusError>,
}

impl Default for SyncStatusView {
    fn default() -> Self {
        Self {
            phase: SyncPhase::Offline,
            pending: 0,
            last_sync_at: None,
            error: None,
        }
    }
}

pub struct AppState {
    device: tokio::sync::Mutex<Device>,
    sync: Mutex<SyncStatusView>,
}

impl AppState {
    pub fn new(device: Device) -> Self {
        Self {
            device: tokio::sync::Mutex::new(device),
            sync: Mutex::new(SyncStatusView::default()),
        }
    }

    /// The device, one command at a time.
    pub async fn device(&self) -> tokio::sync::MutexGuard<'_, Device> {
        self.device.lock().await
    }

    /// The last status the background task published.
    pub fn sync(&self) -> Result<MutexGuard<'_, SyncStatusView>, DeviceError> {
        self.sync
            .lock()
            .map_err(|_| DeviceError::Internal("sync state poisoned"))
    }
}

/// Milliseconds since the epoch, read at the IPC boundary and passed down.
pub fn now_millis() -> Millis {
    to_millis(SystemTime::now())
}

pub fn to_millis(t: SystemTime) -> Millis {
    t.duration_since(UNIX_EPOCH)
        .map(|d| Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX))
        .unwrap_or(0)
}
