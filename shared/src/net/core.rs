//! The engine, its link and the store, and the one place where engine steps are applied.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use automerge::transaction::{CommitOptions, Transaction};
use automerge::{Automerge, ChangeHash};
use rusqlite::{OptionalExtension, params};
use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::config::{ClientConfig, document_actor};
use super::status::{DocumentSyncStatus, LinkProblem, SyncStatus};
use super::{Changed, Clock, NetError, SharedStore, blocking, scope_for};
use crate::engine::{ConnId, Engine, EngineConfig, EngineError, Event, Role, Step};
use crate::ids::DocumentId;
use crate::storage::StorageWrite;
use crate::store::{Store, StoreError};
use crate::sync_status::pending_changes;
use crate::wire::PeerMetadata;

/// The driver's own table: the heads the server last reported per document, so that "synced"
/// survives a restart before the first reconnection. Lagging is harmless (it only errs
/// towards "not synced").
const NAMESPACE: &str = "carnet-net";
const MIGRATIONS: &[&str] = &["CREATE TABLE net_server_heads (
        doc_id BLOB PRIMARY KEY NOT NULL,
        heads BLOB NOT NULL
    ) STRICT;"];

pub(super) enum Outgoing {
    Frame(Vec<u8>),
    /// The engine closed the connection: send what is queued before, then close.
    Close,
}

pub(super) struct Link {
    pub(super) conn: ConnId,
    pub(super) tx: mpsc::UnboundedSender<Outgoing>,
}

pub(super) struct Core {
    pub(super) engine: Engine,
    pub(super) link: Option<Link>,
    pub(super) next_conn: ConnId,
    pub(super) tracked: BTreeSet<DocumentId>,
    unavailable: BTreeSet<DocumentId>,
    last_sync_ok_at: Option<std::time::SystemTime>,
    pub(super) last_error: Option<LinkProblem>,
    /// Writes of a step whose transaction failed: retried first with the next step.
    unsaved: Vec<StorageWrite>,
}

pub(super) struct Shared {
    pub(super) config: ClientConfig,
    pub(super) core: tokio::sync::Mutex<Core>,
    pub(super) store: SharedStore,
    pub(super) status: watch::Sender<SyncStatus>,
    pub(super) changes: broadcast::Sender<DocumentId>,
    pub(super) shutdown: watch::Sender<bool>,
    pub(super) wake: Notify,
    pub(super) task: Mutex<Option<JoinHandle<()>>>,
    clock: Clock,
}

type Loaded = Vec<(DocumentId, Option<Vec<u8>>, Option<Vec<ChangeHash>>)>;

pub(super) async fn start(
    config: ClientConfig,
    store: Store,
    clock: Clock,
) -> Result<Shared, NetError> {
    let store: SharedStore = Arc::new(Mutex::new(store));
    let docs = config.documents.clone();
    let loaded: Loaded = blocking(&store, move |s| {
        s.migrate(NAMESPACE, MIGRATIONS)?;
        docs.into_iter()
            .map(|doc| Ok((doc, s.load_document(&doc)?, load_server_heads(s, &doc)?)))
            .collect()
    })
    .await?;
    let mut engine = Engine::new(EngineConfig {
        peer_id: config.peer_id.clone(),
        role: Role::Client,
        peer_metadata: PeerMetadata::default(),
        limits: config.limits.clone(),
    });
    let mut tracked = BTreeSet::new();
    for (doc, bytes, server_heads) in loaded {
        tracked.insert(doc);
        // No connection yet: these steps carry no frame and no write.
        match bytes {
            Some(bytes) => drop(engine.load_document(doc, &bytes)?),
            None => drop(engine.want_document(doc, document_actor(&config.device_actor, &doc))),
        }
        if let Some(heads) = server_heads {
            engine.set_server_heads(doc, heads);
        }
    }
    let core = Core {
        engine,
        link: None,
        next_conn: 1,
        tracked,
        unavailable: BTreeSet::new(),
        last_sync_ok_at: None,
        last_error: None,
        unsaved: Vec::new(),
    };
    let status = watch::Sender::new(SyncStatus::default());
    let (changes, _) = broadcast::channel(256);
    let shared = Shared {
        config,
        core: tokio::sync::Mutex::new(core),
        store,
        status,
        changes,
        shutdown: watch::Sender::new(false),
        wake: Notify::new(),
        task: Mutex::new(None),
        clock,
    };
    {
        let mut core = shared.core.lock().await;
        shared.publish(&mut core, false);
    }
    Ok(shared)
}

impl Shared {
    /// `options` are the commit's message and time (`None`: Automerge's defaults).
    pub(super) async fn change<R, E, F>(
        &self,
        doc: DocumentId,
        options: Option<CommitOptions>,
        f: F,
    ) -> Result<Result<Changed<R>, E>, NetError>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<R, E> + Send,
        R: Send,
        E: Send,
    {
        let actor = document_actor(&self.config.device_actor, &doc);
        let mut core = self.core.lock().await;
        if !core.tracked.contains(&doc) {
            return Err(NetError::UnknownDocument);
        }
        let (out, step) = core.engine.with_doc_mut(doc, |data| {
            data.set_actor(actor);
            let result = match options {
                Some(options) => data.transact_with(|_| options, f),
                None => data.transact(f),
            };
            result.map(|s| s.result).map_err(|e| e.error)
        })?;
        let heads = heads_of(core.engine.document(&doc));
        self.apply_step(&mut core, step).await?;
        Ok(out.map(|value| Changed { value, heads }))
    }

    pub(super) async fn create_document<R, E, F>(
        &self,
        doc: DocumentId,
        f: F,
    ) -> Result<Result<Changed<R>, E>, NetError>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<R, E> + Send,
        R: Send,
        E: Send,
    {
        let mut data = Automerge::new().with_actor(document_actor(&self.config.device_actor, &doc));
        let value = match data.transact(f) {
            Ok(success) => success.result,
            Err(failure) => return Ok(Err(failure.error)),
        };
        let heads = data.get_heads();
        let mut core = self.core.lock().await;
        if core.engine.has_document(&doc) {
            return Err(EngineError::DocumentExists.into());
        }
        let mut step = self.track(&mut core, doc);
        step.extend(core.engine.insert_document(doc, data)?);
        self.apply_step(&mut core, step).await?;
        Ok(Ok(Changed { value, heads }))
    }

    pub(super) async fn open_document(&self, doc: DocumentId) -> Result<(), NetError> {
        let mut core = self.core.lock().await;
        if core.tracked.contains(&doc) {
            return Ok(());
        }
        let (bytes, server_heads) = blocking(&self.store, move |s| {
            Ok((s.load_document(&doc)?, load_server_heads(s, &doc)?))
        })
        .await?;
        let mut step = self.track(&mut core, doc);
        if let Some(heads) = server_heads {
            core.engine.set_server_heads(doc, heads);
        }
        step.extend(match bytes {
            Some(bytes) => core.engine.load_document(doc, &bytes)?,
            None => core
                .engine
                .want_document(doc, document_actor(&self.config.device_actor, &doc)),
        });
        self.apply_step(&mut core, step).await
    }

    /// Adds `doc` to the kept set and to the open connection's scope.
    fn track(&self, core: &mut Core, doc: DocumentId) -> Step {
        core.tracked.insert(doc);
        let scope = scope_for(&core.tracked);
        match core.link.as_ref().map(|l| l.conn) {
            Some(conn) => core.engine.set_scope(conn, scope),
            None => Step::default(),
        }
    }

    /// One binary message from the server, following the engine's driver contract.
    pub(super) async fn on_message(&self, conn: ConnId, bytes: &[u8]) -> Result<(), NetError> {
        let mut core = self.core.lock().await;
        if core.link.as_ref().map(|l| l.conn) != Some(conn) {
            return Ok(());
        }
        let frame = match core.engine.decode_frame(bytes) {
            Ok(frame) => frame,
            // Let the engine close with its `error` frame.
            Err(_) => {
                let step = core.engine.handle_frame(conn, bytes);
                return self.apply_step(&mut core, step).await;
            }
        };
        if let Some(doc) = core.engine.needs_document(conn, &frame) {
            let stored = blocking(&self.store, move |s| s.load_document(&doc)).await?;
            if let Some(stored) = stored {
                let step = core.engine.load_document(doc, &stored)?;
                self.apply_step(&mut core, step).await?;
            }
        }
        if let Some((doc, key)) = core.engine.needs_sync_state(conn, &frame) {
            let stored = blocking(&self.store, move |s| s.load_sync_state(&doc, &key)).await?;
            if let Some(stored) = stored {
                // A state that does not decode only costs a full resync.
                let _ = core.engine.load_sync_state(conn, doc, &stored);
            }
        }
        let step = core.engine.handle_decoded(conn, frame);
        self.apply_step(&mut core, step).await
    }

    /// Opens a connection in the engine (sends `join`).
    pub(super) async fn connect(
        &self,
        tx: mpsc::UnboundedSender<Outgoing>,
    ) -> Result<ConnId, NetError> {
        let mut core = self.core.lock().await;
        let conn = core.next_conn;
        core.next_conn += 1;
        core.link = Some(Link { conn, tx });
        let scope = scope_for(&core.tracked);
        let step = core.engine.connect(
            conn,
            crate::engine::ConnectOptions {
                bound_peer: None,
                scope,
            },
        );
        self.apply_step(&mut core, step).await?;
        Ok(conn)
    }

    /// The transport of `conn` is gone.
    pub(super) async fn disconnected(&self, conn: ConnId, problem: Option<LinkProblem>) {
        let mut core = self.core.lock().await;
        if core.link.as_ref().map(|l| l.conn) == Some(conn) {
            core.link = None;
        }
        core.engine.disconnect(conn);
        if problem.is_some() {
            core.last_error = problem;
        }
        self.publish(&mut core, false);
    }

    pub(super) async fn set_problem(&self, problem: LinkProblem) {
        let mut core = self.core.lock().await;
        core.last_error = Some(problem);
        self.publish(&mut core, false);
    }

    pub(super) async fn is_open(&self, conn: ConnId) -> bool {
        self.core.lock().await.engine.is_open(conn)
    }

    /// The engine's contract: writes durably, then frames in order, then closes.
    async fn apply_step(&self, core: &mut Core, step: Step) -> Result<(), NetError> {
        let Step {
            writes,
            outbound,
            closes,
            events,
        } = step;
        let heads_reports: Vec<(DocumentId, Vec<ChangeHash>)> = events
            .iter()
            .filter_map(|e| match e {
                Event::RemoteHeads { doc, heads, .. } => Some((*doc, heads.clone())),
                _ => None,
            })
            .collect();
        let mut writes_all = std::mem::take(&mut core.unsaved);
        writes_all.extend(writes);
        if !writes_all.is_empty() || !heads_reports.is_empty() {
            let compaction = self.config.compaction;
            let store = self.store.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                let result = store
                    .lock()
                    .map_err(|_| NetError::StoreUnavailable)
                    .and_then(|mut s| {
                        persist(&mut s, &writes_all, &heads_reports, compaction.as_ref())
                            .map_err(NetError::Store)
                    });
                (writes_all, result)
            })
            .await;
            let failure = match outcome {
                Ok((_, Ok(()))) => None,
                Ok((writes, Err(e))) => Some((writes, e)),
                Err(_) => Some((Vec::new(), NetError::StoreUnavailable)),
            };
            if let Some((writes, error)) = failure {
                // Nothing of this step may be sent: a peer would take it as stored. Dropping
                // the link makes both sides forget their sync states, so the frames withheld
                // here are regenerated after reconnection.
                core.unsaved = writes;
                core.last_error = Some(LinkProblem::Storage);
                if let Some(link) = core.link.take() {
                    let _ = link.tx.send(Outgoing::Close);
                    core.engine.disconnect(link.conn);
                }
                self.publish(core, false);
                return Err(error);
            }
        }
        if let Some(link) = &core.link {
            for out in outbound.into_iter().filter(|o| o.conn == link.conn) {
                // Encoding our own frames cannot fail short of a codec bug; skip such a frame
                // (the sync protocol recovers from a lost message on the next exchange).
                if let Ok(bytes) = out.frame.encode() {
                    let _ = link.tx.send(Outgoing::Frame(bytes));
                }
            }
        }
        for close in closes {
            if core.link.as_ref().map(|l| l.conn) == Some(close.conn)
                && let Some(link) = core.link.take()
            {
                let _ = link.tx.send(Outgoing::Close);
                core.last_error = Some(LinkProblem::Protocol(close.reason.to_string()));
            }
        }
        let mut heard_from_server = false;
        for event in events {
            match event {
                Event::DocumentChanged { doc, .. } => {
                    let _ = self.changes.send(doc);
                }
                Event::RemoteHeads { doc, .. } => {
                    core.unavailable.remove(&doc);
                    heard_from_server = true;
                }
                Event::DocUnavailable { doc, .. } => {
                    core.unavailable.insert(doc);
                }
                Event::PeerJoined { .. } => core.last_error = None,
            }
        }
        self.publish(core, heard_from_server);
        Ok(())
    }

    /// Recomputes and publishes the status (only notifies watchers when it changed).
    fn publish(&self, core: &mut Core, heard_from_server: bool) {
        let mut documents = std::collections::BTreeMap::new();
        for doc in &core.tracked {
            let server_heads = core.engine.server_heads(doc).map(<[ChangeHash]>::to_vec);
            let (pending, empty) = core.engine.document(doc).map_or((0, true), |d| {
                (
                    pending_changes(d, server_heads.as_deref().unwrap_or_default()),
                    d.get_heads().is_empty(),
                )
            });
            documents.insert(
                *doc,
                DocumentSyncStatus {
                    server_has_all: empty || (server_heads.is_some() && pending == 0),
                    pending_changes: pending,
                    server_heads,
                    unavailable: core.unavailable.contains(doc),
                },
            );
        }
        if heard_from_server && documents.values().all(|d| d.server_has_all) {
            core.last_sync_ok_at = Some((self.clock)());
        }
        let connected = core
            .link
            .as_ref()
            .is_some_and(|l| core.engine.is_open(l.conn));
        let status = SyncStatus {
            connected,
            last_sync_ok_at: core.last_sync_ok_at,
            last_error: core.last_error.clone(),
            documents,
        };
        self.status.send_if_modified(|current| {
            if *current == status {
                false
            } else {
                *current = status;
                true
            }
        });
    }
}

fn heads_of(doc: Option<&Automerge>) -> Vec<ChangeHash> {
    doc.map(Automerge::get_heads).unwrap_or_default()
}

/// One step's writes in one transaction, then the server's reported heads, then compaction of
/// the documents written (best effort: a failed compaction leaves the chunks as they were).
fn persist(
    store: &mut Store,
    writes: &[StorageWrite],
    heads_reports: &[(DocumentId, Vec<ChangeHash>)],
    compaction: Option<&crate::store::CompactionPolicy>,
) -> Result<(), StoreError> {
    store.apply(writes)?;
    for (doc, heads) in heads_reports {
        let bytes: Vec<u8> = heads.iter().flat_map(|h| h.0).collect();
        store.connection().execute(
            "INSERT INTO net_server_heads (doc_id, heads) VALUES (?1, ?2)
             ON CONFLICT (doc_id) DO UPDATE SET heads = excluded.heads",
            params![doc.as_bytes().as_slice(), bytes],
        )?;
    }
    if let Some(policy) = compaction {
        let written: BTreeSet<DocumentId> = writes
            .iter()
            .filter(|w| !matches!(w, StorageWrite::SyncState { .. }))
            .map(|w| *w.doc())
            .collect();
        for doc in written {
            let _ = store.compact_if_needed(&doc, policy);
        }
    }
    Ok(())
}

fn load_server_heads(
    store: &Store,
    doc: &DocumentId,
) -> Result<Option<Vec<ChangeHash>>, StoreError> {
    let bytes: Option<Vec<u8>> = store
        .connection()
        .query_row(
            "SELECT heads FROM net_server_heads WHERE doc_id = ?1",
            params![doc.as_bytes().as_slice()],
            |row| row.get(0),
        )
        .optional()?;
    // A row that does not split into hashes is ignored: we then just don't know (not synced).
    Ok(bytes.and_then(|b| {
        b.chunks(32)
            .map(|c| ChangeHash::try_from(c).ok())
            .collect::<Option<Vec<_>>>()
    }))
}
