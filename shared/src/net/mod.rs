//! The app's sync driver: one client-role [`Engine`] and one SQLite [`Store`], a WebSocket to
//! the server that is reopened forever with backoff, and a handle for the UI.
//!
//! Durability rules (DESIGN §4, "acknowledged means durable"):
//! - a local change is on disk before [`ClientHandle::change`] returns, whether or not we are
//!   online;
//! - every engine step is applied to the store in one transaction before its frames are sent;
//! - "synced" is only reported when the heads the server announced (which it sends after its own
//!   durable write) cover our changes.
//!
//! SQLite never runs on the async runtime: the store sits behind a mutex and is only touched in
//! `spawn_blocking`. The engine sits behind an async mutex, held across the store write so that
//! frames leave in the order the engine produced them.

mod config;
mod core;
mod link;
mod status;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use automerge::transaction::{CommitOptions, Transaction};
use automerge::{Automerge, ChangeHash};
use tokio::sync::{broadcast, watch};

use crate::engine::{EngineError, Scope};
use crate::ids::DocumentId;
use crate::store::{Store, StoreError};

pub use config::{Backoff, ClientConfig, TokenPlacement, document_actor};
pub use status::{DocumentSyncStatus, LinkProblem, SyncStatus};

use self::core::Shared;

/// The driver's clock (for `last_sync_ok_at`); tests may pass their own.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The local database refused the write or read. For a change: it is kept in memory and
    /// retried with the next write; it is NOT saved yet.
    #[error("local storage: {0}")]
    Store(#[from] StoreError),
    #[error("sync engine: {0}")]
    Engine(#[from] EngineError),
    /// The storage thread panicked or the store lock is poisoned.
    #[error("local storage is unavailable")]
    StoreUnavailable,
    #[error("the document is not kept by this client")]
    UnknownDocument,
    #[error("the sync client is shut down")]
    ShutDown,
}

/// The outcome of a local change that was saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed<R> {
    /// What the change closure returned.
    pub value: R,
    /// The document's heads after the change (durable on this device).
    pub heads: Vec<ChangeHash>,
}

/// Starts the driver.
pub struct Client;

impl Client {
    /// Loads the configured documents from `store` (documents absent from it are requested from
    /// the server), then connects in the background. Must be called inside a tokio runtime.
    pub async fn start(config: ClientConfig, store: Store) -> Result<ClientHandle, NetError> {
        Self::start_with_clock(config, store, Arc::new(SystemTime::now)).await
    }

    pub async fn start_with_clock(
        config: ClientConfig,
        store: Store,
        clock: Clock,
    ) -> Result<ClientHandle, NetError> {
        let shared = Arc::new(core::start(config, store, clock).await?);
        let task = tokio::spawn(link::run(shared.clone()));
        if let Ok(mut slot) = shared.task.lock() {
            *slot = Some(task);
        }
        Ok(ClientHandle { shared })
    }
}

/// The UI's side of the driver. Cheap to clone.
#[derive(Clone)]
pub struct ClientHandle {
    shared: Arc<Shared>,
}

impl ClientHandle {
    /// Applies a local change to `doc` in one Automerge transaction, stores it durably, then
    /// sends it if connected. The outer error is the driver's (the change may not be saved);
    /// the inner one is the closure's (the transaction was rolled back, nothing changed).
    pub async fn change<R, E, F>(
        &self,
        doc: DocumentId,
        f: F,
    ) -> Result<Result<Changed<R>, E>, NetError>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<R, E> + Send,
        R: Send,
        E: Send,
    {
        self.shared.change(doc, None, f).await
    }

    /// [`change`](Self::change) with the commit's message and time, e.g.
    /// `doc::commit_options(doc::messages::RECORD_ENCOUNTER, now)`, so that a change made
    /// through the driver carries the same fixed message and the caller's clock.
    pub async fn change_with<R, E, F>(
        &self,
        doc: DocumentId,
        options: CommitOptions,
        f: F,
    ) -> Result<Result<Changed<R>, E>, NetError>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<R, E> + Send,
        R: Send,
        E: Send,
    {
        self.shared.change(doc, Some(options), f).await
    }

    /// Creates `doc` with a first change made by `f`, stores it, keeps it in sync from now on.
    pub async fn create_document<R, E, F>(
        &self,
        doc: DocumentId,
        f: F,
    ) -> Result<Result<Changed<R>, E>, NetError>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<R, E> + Send,
        R: Send,
        E: Send,
    {
        self.shared.create_document(doc, f).await
    }

    /// Starts keeping `doc` in sync: loaded from the store, or asked from the server.
    pub async fn open_document(&self, doc: DocumentId) -> Result<(), NetError> {
        self.shared.open_document(doc).await
    }

    /// A copy of the document as this device holds it (`None` if it is not kept).
    pub async fn document(&self, doc: DocumentId) -> Option<Automerge> {
        self.read(doc, Automerge::clone).await
    }

    /// Reads the document without copying it.
    pub async fn read<T>(&self, doc: DocumentId, f: impl FnOnce(&Automerge) -> T) -> Option<T> {
        let core = self.shared.core.lock().await;
        core.engine.document(&doc).map(f)
    }

    /// The ids of the encounters of `doc` that the server does not hold yet (see
    /// [`crate::sync_status::unsynced_encounters`]).
    pub async fn unsynced_encounters(&self, doc: DocumentId) -> Option<BTreeSet<String>> {
        let core = self.shared.core.lock().await;
        let data = core.engine.document(&doc)?;
        let heads = core.engine.server_heads(&doc).unwrap_or_default();
        Some(crate::sync_status::unsynced_encounters(data, heads))
    }

    /// The documents kept in sync.
    pub async fn documents(&self) -> BTreeSet<DocumentId> {
        self.shared.core.lock().await.tracked.clone()
    }

    /// The sync status; `changed().await` on it to follow.
    pub fn status(&self) -> watch::Receiver<SyncStatus> {
        self.shared.status.subscribe()
    }

    /// Ids of documents whose content changed (local or remote), for the UI to re-read.
    pub fn subscribe_changes(&self) -> broadcast::Receiver<DocumentId> {
        self.shared.changes.subscribe()
    }

    /// Skips the current backoff wait (e.g. the OS reports the network is back).
    pub fn reconnect_now(&self) {
        self.shared.wake.notify_waiters();
    }

    /// Closes the link and stops reconnecting; returns when the background task has ended.
    /// Everything changed before is already on disk.
    pub async fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        self.shared.wake.notify_waiters();
        let task = self.shared.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// The client's scope towards its server: the documents it keeps, read-write. Anything else
/// the server pushes is answered `doc-unavailable` and never stored.
fn scope_for(tracked: &BTreeSet<DocumentId>) -> Scope {
    Scope::from_docs(
        tracked
            .iter()
            .map(|d| (*d, crate::engine::Access::ReadWrite)),
    )
}

type SharedStore = Arc<Mutex<Store>>;

/// Runs `f` on the store off the async runtime.
async fn blocking<T, F>(store: &SharedStore, f: F) -> Result<T, NetError>
where
    T: Send + 'static,
    F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let mut guard = store.lock().map_err(|_| NetError::StoreUnavailable)?;
        f(&mut guard).map_err(NetError::Store)
    })
    .await
    .map_err(|_| NetError::StoreUnavailable)?
}
