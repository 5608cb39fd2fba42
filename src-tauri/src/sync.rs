//! The background task between the sync client (`carnet_shared::net`) and the UI: it follows
//! `ClientHandle::status()` and publishes it as `SyncStatusView` (event `sync-status`), and
//! tells the UI to re-read (event `team-changed`) whenever a document changed, locally or
//! from the server. One task per app, started at launch when the device is enrolled, or right
//! after enrolment (a new enrolment replaces the task).

use std::sync::Mutex;
use std::time::Duration;

use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::broadcast::error::RecvError;

use carnet_shared::net::{ClientHandle, LinkProblem, SyncStatus};

use crate::device::{AccessRevoked, ErrorCode};
use crate::state::{AppState, StatusError, SyncPhase, SyncStatusView, to_millis};

/// How long enrolment waits for the documents to arrive.
pub const DOCUMENTS_WAIT: Duration = Duration::from_secs(20);

#[derive(Default)]
pub struct SyncControl {
    task: Mutex<Option<tauri::async_runtime::JoinHandle<()>>>,
}

/// Starts (or restarts, for a new client) the background task.
pub fn start<R: Runtime>(app: &AppHandle<R>, client: ClientHandle) {
    let Some(control) = app.try_state::<SyncControl>() else {
        return;
    };
    let app_for_task = app.clone();
    let task = tauri::async_runtime::spawn(run(app_for_task, client));
    if let Ok(mut slot) = control.task.lock()
        && let Some(old) = slot.replace(task)
    {
        old.abort();
    }
}

async fn run<R: Runtime>(app: AppHandle<R>, client: ClientHandle) {
    let mut status = client.status();
    let mut changes = client.subscribe_changes();
    let first = status.borrow_and_update().clone();
    publish(&app, &first);
    // A confirmed revocation is handled once per client (a kept device goes on showing the
    // error); an unconfirmed refusal is asked about again at the next status change.
    let mut revocation_handled = false;
    loop {
        tokio::select! {
            changed = status.changed() => {
                if changed.is_err() {
                    return;
                }
                let now = status.borrow_and_update().clone();
                publish(&app, &now);
                if !revocation_handled && token_refused(&now) {
                    match access_revoked(&app).await {
                        Some(AccessRevoked::Erased) => return,
                        Some(AccessRevoked::Kept { .. }) => revocation_handled = true,
                        None => {}
                    }
                }
            }
            doc = changes.recv() => match doc {
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    let _ = app.emit("team-changed", ());
                }
                Err(RecvError::Closed) => return,
            },
        }
    }
}

/// The server refused the token on the sync upgrade (not a network failure).
fn token_refused(status: &SyncStatus) -> bool {
    !status.connected && matches!(status.last_error, Some(LinkProblem::Refused(401 | 403)))
}

/// Asks the server whether the token is really revoked (a captive portal or a proxy can
/// refuse the upgrade too), without holding the device: recording goes on meanwhile. Then lets
/// the device decide (erase or keep, see `Device::on_access_revoked`) and tells the UI
/// (`access-revoked`, then `team-changed`). `None` when the server did not confirm.
async fn access_revoked<R: Runtime>(app: &AppHandle<R>) -> Option<AccessRevoked> {
    let state = app.try_state::<AppState>()?;
    let (server_url, token) = {
        let device = state.device().await;
        let e = device.enrolment()?;
        (e.server_url.clone(), e.token.clone())
    };
    match crate::enrol::token_revoked(&server_url, &token).await {
        Ok(true) => {}
        Ok(false) => return None,
        Err(e) => {
            tracing::info!(code = ?e.code(), "could not ask the server about a refused token");
            return None;
        }
    }
    match state.device().await.on_access_revoked().await {
        Ok(outcome) => {
            tracing::info!(?outcome, "sync token revoked by the server");
            let _ = app.emit("access-revoked", outcome);
            let _ = app.emit("team-changed", ());
            Some(outcome)
        }
        Err(e) => {
            tracing::warn!(code = ?e.code(), "handling a revoked token failed");
            None
        }
    }
}

fn publish<R: Runtime>(app: &AppHandle<R>, status: &SyncStatus) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    let view = status_view(status);
    let changed = match state.sync() {
        Ok(mut current) if *current != view => {
            *current = view.clone();
            true
        }
        _ => false,
    };
    if changed {
        let _ = app.emit("sync-status", view);
    }
}

/// The UI's view of the driver's status: phase, changes the server does not hold yet, last
/// successful sync, and why the link is down (in French, from `LinkProblem`).
pub fn status_view(status: &SyncStatus) -> SyncStatusView {
    let pending: usize = status.documents.values().map(|d| d.pending_changes).sum();
    let pending = u64::try_from(pending).unwrap_or(u64::MAX);
    let last_sync_at = status.last_sync_ok_at.map(to_millis);
    let refused_document = status.documents.values().any(|d| d.unavailable);
    let (phase, error) = if status.connected {
        if refused_document {
            (
                SyncPhase::Error,
                Some(StatusError {
                    code: ErrorCode::NotFound,
                    message: "le serveur ne fournit pas les documents de l'équipe".to_owned(),
                }),
            )
        } else if status.all_synced() {
            (SyncPhase::Idle, None)
        } else {
            (SyncPhase::Syncing, None)
        }
    } else {
        match &status.last_error {
            None => (SyncPhase::Offline, None),
            Some(problem) => {
                let (phase, code) = classify(problem);
                (
                    phase,
                    Some(StatusError {
                        code,
                        message: problem.to_string(),
                    }),
                )
            }
        }
    };
    SyncStatusView {
        phase,
        pending,
        last_sync_at,
        error,
    }
}

/// Offline is the normal state of a team in a car park; an error needs someone to act.
fn classify(problem: &LinkProblem) -> (SyncPhase, ErrorCode) {
    match problem {
        LinkProblem::Unreachable
        | LinkProblem::Timeout
        | LinkProblem::Lost
        | LinkProblem::ClosedByServer => (SyncPhase::Offline, ErrorCode::ServerUnreachable),
        LinkProblem::BadUrl => (SyncPhase::Error, ErrorCode::InvalidServerUrl),
        LinkProblem::BadToken | LinkProblem::Refused(401 | 403) => {
            (SyncPhase::Error, ErrorCode::NotEnrolled)
        }
        LinkProblem::Refused(_) => (SyncPhase::Offline, ErrorCode::ServerUnreachable),
        LinkProblem::Storage => (SyncPhase::Error, ErrorCode::Storage),
        LinkProblem::Protocol(_) => (SyncPhase::Error, ErrorCode::Internal),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, UNIX_EPOCH};

    use carnet_shared::ids::DocumentId;
    use carnet_shared::net::DocumentSyncStatus;

    use super::*;

    fn doc(n: u8, pending: usize, server_has_all: bool) -> (DocumentId, DocumentSyncStatus) {
        (
            DocumentId::from_bytes([n; 16]),
            DocumentSyncStatus {
                server_has_all,
                pending_changes: pending,
                server_heads: None,
                unavailable: false,
            },
        )
    }

    #[test]
    fn connected_and_acknowledged_is_idle_with_the_last_sync_time() {
        let at = UNIX_EPOCH + Duration::from_millis(1_769_814_000_123);
        let view = status_view(&SyncStatus {
            connected: true,
            last_sync_ok_at: Some(at),
            last_error: None,
            documents: BTreeMap::from([doc(1, 0, true), doc(2, 0, true)]),
        });
        assert_eq!(view.phase, SyncPhase::Idle);
        assert_eq!(view.pending, 0);
        assert_eq!(view.last_sync_at, Some(1_769_814_000_123));
        assert!(view.error.is_none());
    }

    #[test]
    fn connected_with_unacknowledged_changes_is_syncing() {
        let view = status_view(&SyncStatus {
            connected: true,
            last_sync_ok_at: None,
            last_error: None,
            documents: BTreeMap::from([doc(1, 0, true), doc(2, 3, false)]),
        });
        assert_eq!(view.phase, SyncPhase::Syncing);
        assert_eq!(view.pending, 3);
    }

    #[test]
    fn an_unreachable_server_is_offline_in_french_words() {
        let view = status_view(&SyncStatus {
            connected: false,
            last_sync_ok_at: None,
            last_error: Some(LinkProblem::Unreachable),
            documents: BTreeMap::from([doc(2, 5, false)]),
        });
        assert_eq!(view.phase, SyncPhase::Offline);
        assert_eq!(view.pending, 5);
        let error = view.error.unwrap();
        assert_eq!(error.code, ErrorCode::ServerUnreachable);
        assert_eq!(error.message, "serveur injoignable");
    }

    #[test]
    fn a_refused_token_is_an_error_not_offline() {
        let view = status_view(&SyncStatus {
            connected: false,
            last_sync_ok_at: None,
            last_error: Some(LinkProblem::Refused(401)),
            documents: BTreeMap::new(),
        });
        assert_eq!(view.phase, SyncPhase::Error);
        let error = view.error.unwrap();
        assert_eq!(error.code, ErrorCode::NotEnrolled);
        assert_eq!(error.message, "accès refusé par le serveur");
    }

    #[test]
    fn a_document_the_server_refuses_is_an_error() {
        let (id, mut refused) = doc(2, 0, true);
        refused.unavailable = true;
        let view = status_view(&SyncStatus {
            connected: true,
            last_sync_ok_at: None,
            last_error: None,
            documents: BTreeMap::from([(id, refused)]),
        });
        assert_eq!(view.phase, SyncPhase::Error);
        assert_eq!(view.error.unwrap().code, ErrorCode::NotFound);
    }
}
