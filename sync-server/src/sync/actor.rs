//! The sync actor: one thread owning the server-role [`Engine`] and the chunk [`Store`].
//!
//! Connection tasks and the API send it [`Input`]s over a bounded channel. It handles a batch of
//! them (whatever is already queued, up to [`MAX_BATCH`]), applies every storage write of the
//! batch in ONE transaction (`synchronous=FULL`), and only then queues the batch's frames to the
//! connections, performs the closes and answers the API. So a peer that learns our heads has
//! them on disk: "acknowledged means durable" (DESIGN §4).
//!
//! A dedicated OS thread rather than a tokio task: every step does blocking SQLite work, and one
//! owner of the engine needs no lock. Compaction runs on a second thread with its own
//! connection to the same file, off the hot path.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;

use automerge::{ActorId, AutoCommit, Automerge};
use carnet_shared::doc::DocError;
use carnet_shared::engine::{
    self, Close, CloseReason, ConnectOptions, Engine, EngineConfig, EngineLimits, Role, Step,
};
use carnet_shared::ids::DocumentId;
use carnet_shared::storage::StorageWrite;
use carnet_shared::store::{CompactionPolicy, Store, StoreError};
use carnet_shared::wire::{Frame, PeerMetadata};
use tokio::sync::{mpsc, oneshot};

use super::{Closing, Registry, activity, close_code, sealed};
use crate::auth::{self, PeerId};

/// Inputs handled before one commit. Bounds the latency a batch adds and the size of a
/// transaction; under load, batching turns one fsync per frame into one per batch.
pub const MAX_BATCH: usize = 64;

/// A change the API makes to a document the server holds (e.g. adding a team to the night
/// index), run on an `AutoCommit` with the given actor.
pub type DocumentEdit = Box<dyn FnOnce(&mut AutoCommit) -> Result<(), DocError> + Send>;

/// Why the API could not create or edit a document. Carries no document content.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("the sync actor is not running")]
    Stopped,
    #[error("could not start a sync thread: {0}")]
    Spawn(std::io::Error),
    #[error("document already exists")]
    DocumentExists,
    #[error("unknown document")]
    UnknownDocument,
    #[error("stored document could not be loaded")]
    Load,
    #[error("document edit refused: {0}")]
    Edit(#[from] DocError),
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("the change could not be stored")]
    NotStored,
}

type Reply = oneshot::Sender<Result<(), SyncError>>;
type CheckpointReply = oneshot::Sender<Result<Checkpoint, SyncError>>;

/// What `PRAGMA wal_checkpoint(TRUNCATE)` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// False when another connection's reader kept the checkpoint from completing: the WAL
    /// was not emptied (the next checkpoint will).
    pub complete: bool,
    /// WAL frames copied back into the database file.
    pub frames: i64,
}
type ReadReply = oneshot::Sender<Result<Vec<DocumentSnapshot>, SyncError>>;

/// A document as the server holds it, for the coordinators' API (progress, retention).
#[derive(Debug, Clone)]
pub struct DocumentSnapshot {
    pub id: DocumentId,
    /// `None` when the server has no such document.
    pub doc: Option<Automerge>,
    /// When a sync peer's change to it was last stored (unix ms); `None` if never.
    pub last_change_at: Option<i64>,
}

/// What the actor is asked to do.
pub enum Input {
    Connect {
        conn: u64,
        peer: PeerId,
        scope: auth::Scope,
    },
    Frame {
        conn: u64,
        bytes: Vec<u8>,
        /// Server time when the frame arrived (unix ms).
        received_at: i64,
    },
    Disconnect {
        conn: u64,
    },
    /// Stores new documents (made by the API) and makes them available to sync.
    CreateDocuments {
        docs: Vec<(DocumentId, Automerge)>,
        reply: Reply,
    },
    /// Applies a server-side edit to a stored document and syncs it to the peers that have it.
    EditDocument {
        doc: DocumentId,
        actor: ActorId,
        edit: DocumentEdit,
        reply: Reply,
    },
    /// Replaces a stored document's history by a fresh document holding its current state
    /// ([`carnet_shared::doc::fresh_history`], written by `actor` at `now`) and seals it (see
    /// [`super::sealed`]): connections that had it open are closed, and no peer's change is
    /// applied to it any more, whatever its scope. Durable on reply, seal included.
    ReplaceHistory {
        doc: DocumentId,
        actor: ActorId,
        now: i64,
        /// Applied to the current state in the same turn, just before (e.g. the last purge):
        /// no peer's frame can come in between.
        last_edit: DocumentEdit,
        reply: Reply,
    },
    /// Forgets at once every connection bound to one of `peers` (their tokens were revoked):
    /// nothing they send afterwards is handled. Replies with how many there were.
    DisconnectPeers {
        peers: BTreeSet<String>,
        reply: oneshot::Sender<usize>,
    },
    /// `PRAGMA wal_checkpoint(TRUNCATE)` on the store, after the batch is committed.
    Checkpoint {
        reply: CheckpointReply,
    },
    /// Copies of stored documents (answered after the batch is durable).
    ReadDocuments {
        docs: Vec<DocumentId>,
        reply: ReadReply,
    },
}

/// Configuration of the actor.
#[derive(Debug, Clone)]
pub struct ActorConfig {
    pub server_peer_id: String,
    pub limits: EngineLimits,
    pub compaction: CompactionPolicy,
}

/// Maps the server's auth scope to the engine's.
pub fn engine_scope(scope: &auth::Scope) -> engine::Scope {
    let map = |a: auth::Access| match a {
        auth::Access::ReadOnly => engine::Access::ReadOnly,
        auth::Access::ReadWrite => engine::Access::ReadWrite,
    };
    let base = match scope.all_documents() {
        Some(access) => engine::Scope::all(map(access)),
        None => engine::Scope::none(),
    };
    scope
        .documents()
        .fold(base, |s, (doc, access)| s.with(doc, map(access)))
}

/// How a close decided by the engine reaches the socket. The engine has already queued the
/// protocol `error` frame, so none is added here. Reasons are fixed phrases.
fn closing_for(reason: &CloseReason) -> Closing {
    let (code, reason) = match reason {
        CloseReason::FrameTooLarge => (close_code::MESSAGE_TOO_BIG, "frame too large"),
        CloseReason::PayloadTooLarge => (close_code::MESSAGE_TOO_BIG, "sync payload too large"),
        CloseReason::Malformed(_) => (close_code::PROTOCOL_ERROR, "malformed frame"),
        CloseReason::UnsupportedProtocol => {
            (close_code::PROTOCOL_ERROR, "unsupported protocol version")
        }
        CloseReason::PeerIdMismatch => (close_code::POLICY_VIOLATION, "peer id mismatch"),
        CloseReason::NotJoined => (close_code::PROTOCOL_ERROR, "frame before join"),
        CloseReason::UnexpectedFrame => (close_code::PROTOCOL_ERROR, "unexpected frame"),
        CloseReason::InvalidSyncMessage => (close_code::PROTOCOL_ERROR, "invalid sync message"),
        CloseReason::TooManyChanges => (close_code::POLICY_VIOLATION, "too many changes"),
        CloseReason::TooManyDocuments => (close_code::POLICY_VIOLATION, "too many documents"),
        CloseReason::PeerLeft => (close_code::NORMAL, "peer left"),
        CloseReason::PeerError => (close_code::NORMAL, "peer reported an error"),
        CloseReason::HistoryReplaced => (close_code::TRY_AGAIN_LATER, "document history replaced"),
    };
    Closing {
        code,
        reason,
        error_message: None,
    }
}

/// A fresh engine with the stored seals applied.
fn sealed_engine(config: &EngineConfig, sealed: &BTreeSet<DocumentId>) -> Engine {
    let mut engine = Engine::new(config.clone());
    for doc in sealed {
        engine.seal(*doc);
    }
    engine
}

/// What one batch produced, released only after its writes are durable.
#[derive(Default)]
struct Batch {
    writes: Vec<StorageWrite>,
    frames: Vec<(u64, Vec<u8>)>,
    closes: Vec<(u64, Closing)>,
    replies: Vec<(Reply, Result<(), SyncError>)>,
    reads: Vec<(ReadReply, Result<Vec<DocumentSnapshot>, SyncError>)>,
    checkpoints: Vec<CheckpointReply>,
    /// Documents changed by sync peers in this batch, with the latest arrival time.
    activity: BTreeMap<DocumentId, i64>,
    /// Documents sealed in this batch, with the time.
    sealed: BTreeMap<DocumentId, i64>,
}

impl Batch {
    fn push_step(&mut self, step: Step, registry: &Registry) {
        self.writes.extend(step.writes);
        for out in step.outbound {
            match out.frame.encode() {
                Ok(bytes) => self.frames.push((out.conn, bytes)),
                // Encoding our own frames cannot fail on valid ids; log and drop if it does.
                Err(error) => tracing::error!(%error, "could not encode an outgoing frame"),
            }
        }
        for Close { conn, reason } in step.closes {
            let peer = registry.peer_of(conn);
            let closing = closing_for(&reason);
            if matches!(reason, CloseReason::PeerLeft | CloseReason::PeerError) {
                tracing::info!(peer_id = %peer.as_deref().unwrap_or("?"), connection = conn, reason = closing.reason, "sync peer left");
            } else {
                tracing::warn!(peer_id = %peer.as_deref().unwrap_or("?"), connection = conn, reason = %reason, "sync connection refused a frame");
            }
            self.closes.push((conn, closing));
        }
    }
}

pub(super) struct Actor {
    engine: Engine,
    engine_config: EngineConfig,
    /// Sealed documents as stored (committed batches only): every engine built is sealed on
    /// them.
    sealed: BTreeSet<DocumentId>,
    store: Store,
    registry: Arc<Registry>,
    compactor: Option<std_mpsc::Sender<DocumentId>>,
}

impl Actor {
    pub(super) fn new(
        config: &ActorConfig,
        store: Store,
        sealed: BTreeSet<DocumentId>,
        registry: Arc<Registry>,
        compactor: Option<std_mpsc::Sender<DocumentId>>,
    ) -> Self {
        let engine_config = EngineConfig {
            peer_id: config.server_peer_id.clone(),
            role: Role::Server,
            peer_metadata: PeerMetadata {
                storage_id: None,
                is_ephemeral: Some(false),
            },
            limits: config.limits.clone(),
        };
        Self {
            engine: sealed_engine(&engine_config, &sealed),
            engine_config,
            sealed,
            store,
            registry,
            compactor,
        }
    }

    /// Runs until every sender is dropped.
    pub(super) fn run(mut self, mut inputs: mpsc::Receiver<Input>) {
        while let Some(first) = inputs.blocking_recv() {
            let mut batch = Batch::default();
            self.handle(first, &mut batch);
            for _ in 1..MAX_BATCH {
                match inputs.try_recv() {
                    Ok(input) => self.handle(input, &mut batch),
                    Err(_) => break,
                }
            }
            self.commit(batch);
        }
        tracing::info!("sync actor stopped");
    }

    fn handle(&mut self, input: Input, batch: &mut Batch) {
        match input {
            Input::Connect { conn, peer, scope } => {
                let step = self.engine.connect(
                    conn,
                    ConnectOptions {
                        bound_peer: Some(peer.0),
                        scope: engine_scope(&scope),
                    },
                );
                batch.push_step(step, &self.registry);
            }
            Input::Disconnect { conn } => self.engine.disconnect(conn),
            Input::Frame {
                conn,
                bytes,
                received_at,
            } => self.on_frame(conn, &bytes, received_at, batch),
            Input::CreateDocuments { docs, reply } => {
                let result = self.create_documents(docs, batch);
                batch.replies.push((reply, result));
            }
            Input::EditDocument {
                doc,
                actor,
                edit,
                reply,
            } => {
                let result = self.edit_document(doc, actor, edit, batch);
                batch.replies.push((reply, result));
            }
            Input::ReadDocuments { docs, reply } => {
                let result = self.read_documents(docs, batch);
                batch.reads.push((reply, result));
            }
            Input::ReplaceHistory {
                doc,
                actor,
                now,
                last_edit,
                reply,
            } => {
                let result = self.replace_history(doc, actor, now, last_edit, batch);
                batch.replies.push((reply, result));
            }
            Input::DisconnectPeers { peers, reply } => {
                let conns = self.registry.connections_of_peers(&peers);
                for &conn in &conns {
                    self.engine.disconnect(conn);
                    batch.closes.push((
                        conn,
                        Closing {
                            code: close_code::POLICY_VIOLATION,
                            reason: "token revoked",
                            error_message: Some("token revoked"),
                        },
                    ));
                }
                let _ = reply.send(conns.len());
            }
            Input::Checkpoint { reply } => batch.checkpoints.push(reply),
        }
    }

    fn replace_history(
        &mut self,
        doc: DocumentId,
        actor: ActorId,
        now: i64,
        last_edit: DocumentEdit,
        batch: &mut Batch,
    ) -> Result<(), SyncError> {
        if !self.engine.has_document(&doc) && !self.load(doc, batch)? {
            return Err(SyncError::UnknownDocument);
        }
        let current = self
            .engine
            .document(&doc)
            .ok_or(SyncError::UnknownDocument)?;
        // The last edit, the fresh history and the seal in this one turn: a frame handled
        // between a separate edit and the replacement (a writer still connected) would be
        // copied into the fresh history and kept there by the seal. The edit's own change is
        // dropped with the old history; only its effect on the state is kept.
        let mut session = AutoCommit::load(&current.save())?.with_actor(actor.clone());
        last_edit(&mut session)?;
        let fresh = carnet_shared::doc::fresh_history(session.document(), actor, now)?;
        let step = self.engine.replace_document(doc, fresh);
        batch.push_step(step, &self.registry);
        // Nothing a peer sends from now on (later in this batch too) is applied.
        self.engine.seal(doc);
        batch.sealed.insert(doc, now);
        Ok(())
    }

    fn checkpoint(&self) -> Result<Checkpoint, SyncError> {
        let (busy, _log, copied): (i64, i64, i64) = self
            .store
            .connection()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .map_err(StoreError::from)?;
        Ok(Checkpoint {
            complete: busy == 0,
            frames: copied.max(0),
        })
    }

    fn read_documents(
        &mut self,
        docs: Vec<DocumentId>,
        batch: &mut Batch,
    ) -> Result<Vec<DocumentSnapshot>, SyncError> {
        let mut out = Vec::with_capacity(docs.len());
        for id in docs {
            if !self.engine.has_document(&id) {
                self.load(id, batch)?;
            }
            out.push(DocumentSnapshot {
                id,
                doc: self.engine.document(&id).cloned(),
                last_change_at: activity::last_change_at(self.store.connection(), &id)?,
            });
        }
        Ok(out)
    }

    fn on_frame(&mut self, conn: u64, bytes: &[u8], received_at: i64, batch: &mut Batch) {
        let frame = match self.engine.decode_frame(bytes) {
            Ok(frame) => frame,
            Err(_) => {
                // The engine decodes again to close with the right reason; only on this
                // error path, and bounded by the frame cap.
                let step = self.engine.handle_frame(conn, bytes);
                return batch.push_step(step, &self.registry);
            }
        };
        if let Err(error) = self.prepare(conn, &frame, batch) {
            let peer = self.registry.peer_of(conn);
            tracing::error!(peer_id = %peer.as_deref().unwrap_or("?"), connection = conn, %error, "could not load a stored document");
            self.engine.disconnect(conn);
            batch.closes.push((
                conn,
                Closing {
                    code: close_code::INTERNAL_ERROR,
                    reason: "stored document unreadable",
                    error_message: Some("server storage error"),
                },
            ));
            return;
        }
        let step = self.engine.handle_decoded(conn, frame);
        for write in &step.writes {
            if !matches!(write, StorageWrite::SyncState { .. }) {
                let at = batch.activity.entry(*write.doc()).or_insert(received_at);
                *at = (*at).max(received_at);
            }
        }
        batch.push_step(step, &self.registry);
    }

    /// Loads from the store what the engine needs before handling `frame`: the document (only
    /// for documents the connection's scope grants) and the stored sync state for it.
    fn prepare(&mut self, conn: u64, frame: &Frame, batch: &mut Batch) -> Result<(), SyncError> {
        if let Some(doc) = self.engine.needs_document(conn, frame) {
            self.load(doc, batch)?;
        }
        if let Some((doc, key)) = self.engine.needs_sync_state(conn, frame)
            && let Some(state) = self.store.load_sync_state(&doc, &key)?
            && self.engine.load_sync_state(conn, doc, &state).is_err()
        {
            // A sync state that does not decode is only an optimisation lost: start afresh.
            tracing::warn!(
                connection = conn,
                "stored sync state ignored: does not decode"
            );
        }
        Ok(())
    }

    /// Hands a stored document to the engine if it has chunks. `Ok(false)` if none.
    fn load(&mut self, doc: DocumentId, batch: &mut Batch) -> Result<bool, SyncError> {
        let Some(bytes) = self.store.load_document(&doc)? else {
            return Ok(false);
        };
        if bytes.is_empty() {
            return Err(SyncError::Load);
        }
        let step = self
            .engine
            .load_document(doc, &bytes)
            .map_err(|_| SyncError::Load)?;
        batch.push_step(step, &self.registry);
        Ok(true)
    }

    fn create_documents(
        &mut self,
        docs: Vec<(DocumentId, Automerge)>,
        batch: &mut Batch,
    ) -> Result<(), SyncError> {
        for (id, _) in &docs {
            if self.engine.has_document(id) || self.store.has_document(id)? {
                return Err(SyncError::DocumentExists);
            }
        }
        for (id, data) in docs {
            let step = self
                .engine
                .insert_document(id, data)
                .map_err(|_| SyncError::DocumentExists)?;
            batch.push_step(step, &self.registry);
        }
        Ok(())
    }

    fn edit_document(
        &mut self,
        doc: DocumentId,
        actor: ActorId,
        edit: DocumentEdit,
        batch: &mut Batch,
    ) -> Result<(), SyncError> {
        if !self.engine.has_document(&doc) && !self.load(doc, batch)? {
            return Err(SyncError::UnknownDocument);
        }
        // The shared doc writers work on `AutoCommit`; the engine holds `Automerge`. Edits are
        // rare (API calls), so a save/load round trip is an acceptable bridge.
        let (result, step) = self
            .engine
            .with_doc_mut(doc, |data| -> Result<(), SyncError> {
                let before = data.get_heads();
                let mut session = AutoCommit::load(&data.save())?.with_actor(actor);
                edit(&mut session)?;
                let changes = session.save_after(&before);
                data.load_incremental(&changes)?;
                Ok(())
            })
            .map_err(|_| SyncError::UnknownDocument)?;
        batch.push_step(step, &self.registry);
        result
    }

    fn commit(&mut self, batch: Batch) {
        let Batch {
            writes,
            frames,
            closes,
            replies,
            reads,
            checkpoints,
            activity,
            sealed: newly_sealed,
        } = batch;
        let stored = if writes.is_empty() && newly_sealed.is_empty() {
            Ok(())
        } else {
            self.store.apply_with(&writes, |tx| {
                activity::record(tx, &activity)?;
                sealed::record(tx, &newly_sealed)
            })
        };
        if let Err(error) = stored {
            for (reply, _) in reads {
                let _ = reply.send(Err(SyncError::NotStored));
            }
            for reply in checkpoints {
                let _ = reply.send(Err(SyncError::NotStored));
            }
            return self.storage_failed(error, replies);
        }
        self.sealed.extend(newly_sealed.into_keys());
        let dirty: BTreeSet<DocumentId> = writes
            .iter()
            .filter(|w| !matches!(w, StorageWrite::SyncState { .. }))
            .map(|w| *w.doc())
            .collect();
        for (conn, frame) in frames {
            self.registry.send_to(conn, frame);
        }
        for (conn, closing) in closes {
            self.registry.close(conn, closing);
        }
        for (reply, result) in replies {
            let _ = reply.send(result);
        }
        for (reply, result) in reads {
            let _ = reply.send(result);
        }
        for reply in checkpoints {
            let _ = reply.send(self.checkpoint());
        }
        if let Some(compactor) = &self.compactor {
            for doc in dirty {
                let _ = compactor.send(doc);
            }
        }
    }

    /// The batch's changes are in the engine's memory but not on disk: nothing of it may be
    /// acknowledged. The engine is rebuilt from the store (documents reload on demand) and
    /// every connection is closed so that peers resync against what is really stored.
    fn storage_failed(&mut self, error: StoreError, replies: Vec<(Reply, Result<(), SyncError>)>) {
        tracing::error!(%error, "storing a sync batch failed; closing every sync connection");
        self.engine = sealed_engine(&self.engine_config, &self.sealed);
        for conn in self.registry.ids() {
            self.registry.close(
                conn,
                Closing {
                    code: close_code::INTERNAL_ERROR,
                    reason: "server storage error",
                    error_message: Some("server storage error"),
                },
            );
        }
        for (reply, _) in replies {
            let _ = reply.send(Err(SyncError::NotStored));
        }
    }
}

/// Compacts documents named on `docs` with its own connection to the store file, so that
/// folding a large document never delays the sync actor. Ends when the actor ends.
pub(super) fn run_compactor(
    mut store: Store,
    policy: CompactionPolicy,
    docs: std_mpsc::Receiver<DocumentId>,
) {
    while let Ok(first) = docs.recv() {
        let mut pending = BTreeSet::from([first]);
        pending.extend(docs.try_iter());
        for doc in pending {
            match store.compact_if_needed(&doc, &policy) {
                Ok(Some(report)) => tracing::debug!(
                    chunks = report.chunks_replaced,
                    bytes_before = report.bytes_before,
                    bytes_after = report.bytes_after,
                    "document compacted"
                ),
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "compaction failed; will retry later"),
            }
        }
    }
}
