//! What the Tauri app keeps between commands: the device behind a mutex, and the sync status
//! the background task publishes.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use uuid::Uuid;

use carnet_shared::model::Millis;

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

#[derive(Debug, Default)]
pub struct SyncView {
    pub status: SyncStatusView,
    /// Encounters the server is known to hold.
    pub acknowledged: BTreeSet<Uuid>,
}

pub struct AppState {
    device: Mutex<Device>,
    sync: Mutex<SyncView>,
}

impl AppState {
    pub fn new(device: Device) -> Self {
        Self {
            device: Mutex::new(device),
            sync: Mutex::new(SyncView::default()),
        }
    }

    pub fn device(&self) -> Result<MutexGuard<'_, Device>, DeviceError> {
        self.device
            .lock()
            .map_err(|_| DeviceError::Internal("device state poisoned"))
    }

    pub fn sync(&self) -> Result<MutexGuard<'_, SyncView>, DeviceError> {
        self.sync
            .lock()
            .map_err(|_| DeviceError::Internal("sync state poisoned"))
    }
}

/// Milliseconds since the epoch, read at the IPC boundary and passed down.
pub fn now_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX))
        .unwrap_or(0)
}
