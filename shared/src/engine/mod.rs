//! The sans-IO sync engine: automerge-repo's protocol v1 on top of `automerge::sync`, for the
//! server (many connections) and the app (one server connection).
//!
//! Inputs are method calls (frames received, local changes, loaded data, connections opening and
//! closing); every call returns a [`Step`] with storage writes, frames to send, connections to
//! close and events. No sockets, clocks, threads or randomness in here (automerge draws a random
//! actor id when it makes an empty document; the engine replaces it with one passed in or derived
//! from the peer id before any change is made).
//!
//! Driver loop: `decode_frame` -> if [`Engine::needs_document`] names a document, load its
//! chunks from storage with [`Engine::load_document`] -> [`Engine::handle_decoded`] -> apply the
//! step as documented on [`Step`].

mod client;
mod guard;
mod protocol;
mod types;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};

use automerge::sync::{self, SyncDoc};
use automerge::{ActorId, Automerge, ChangeHash};

use crate::ids::DocumentId;
use crate::storage::{StorageWrite, chunk_hash};
use crate::wire::{
    DocUnavailable, ErrorFrame, Frame, Join, PROTOCOL_V1, PeerId, PeerMetadata, SyncFrame,
    WireError,
};

pub use types::{
    Access, Close, CloseReason, ConnId, ConnectOptions, EngineConfig, EngineError, EngineLimits,
    Event, Outbound, Role, Scope, Step,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Server side, before `join`.
    AwaitingJoin,
    /// Client side, after sending `join`, before `peer`.
    AwaitingPeer,
    Open,
}

/// Per (connection, document) state.
#[derive(Debug)]
struct PeerDoc {
    sync: sync::State,
    /// The remote said `doc-unavailable`: don't push to it until it syncs again.
    unavailable: bool,
}

impl PeerDoc {
    fn new(access: Access) -> Self {
        Self {
            sync: if access == Access::ReadOnly {
                sync::State::new_read_only()
            } else {
                sync::State::new()
            },
            unavailable: false,
        }
    }
}

#[derive(Debug)]
struct Conn {
    phase: Phase,
    bound_peer: Option<PeerId>,
    remote: Option<PeerId>,
    remote_metadata: PeerMetadata,
    /// The remote's storage id when its sync states are worth keeping (not ephemeral).
    sync_state_key: Option<String>,
    scope: Scope,
    docs: HashMap<DocumentId, PeerDoc>,
}

#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    docs: HashMap<DocumentId, Automerge>,
    // BTreeMap: outputs come out in a deterministic order.
    conns: BTreeMap<ConnId, Conn>,
    /// Client role: the latest heads the server reported per document, kept across reconnects
    /// (the server only reports heads it has stored).
    server_heads: HashMap<DocumentId, Vec<ChangeHash>>,
    /// Server role: documents no peer may change any more, whatever its scope (a closed
    /// night's team documents: a copy of their old history synced back by any token, the
    /// admin's included, would bring erased data back). Only local changes reach them.
    sealed: HashSet<DocumentId>,
}

/// What a scope grants on `doc`, capped at read-only when the document is sealed.
fn effective_access(
    sealed: &HashSet<DocumentId>,
    scope: &Scope,
    doc: &DocumentId,
) -> Option<Access> {
    let access = scope.access(doc)?;
    Some(if sealed.contains(doc) {
        Access::ReadOnly
    } else {
        access
    })
}

impl Engine {
    pub fn new(config: EngineConfig) -> Self {
        Self {
            config,
            docs: HashMap::new(),
            conns: BTreeMap::new(),
            server_heads: HashMap::new(),
            sealed: HashSet::new(),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    // ----- documents -----

    pub fn has_document(&self, doc: &DocumentId) -> bool {
        self.docs.contains_key(doc)
    }

    pub fn document(&self, doc: &DocumentId) -> Option<&Automerge> {
        self.docs.get(doc)
    }

    pub fn document_ids(&self) -> impl Iterator<Item = &DocumentId> {
        self.docs.keys()
    }

    /// Hands the engine a document's stored chunks (concatenated snapshot and incremental
    /// chunks, as read from the store). Nothing is written back; peers that have the
    /// document open are brought up to date.
    pub fn load_document(&mut self, doc: DocumentId, bytes: &[u8]) -> Result<Step, EngineError> {
        let mut step = Step::default();
        let old_heads = match self.docs.get_mut(&doc) {
            Some(existing) => {
                let old = existing.get_heads();
                existing
                    .load_incremental(bytes)
                    .map_err(|_| EngineError::Load)?;
                old
            }
            None => {
                let loaded = Automerge::load(bytes)
                    .map_err(|_| EngineError::Load)?
                    .with_actor(self.passive_actor());
                self.docs.insert(doc, loaded);
                Vec::new()
            }
        };
        if self.heads(&doc) != old_heads {
            self.sync_to_peers(doc, None, &mut step);
        }
        Ok(step)
    }

    /// Adds a document made elsewhere (e.g. a new team document built by the app, with its
    /// device actor). Emits a snapshot write and offers it to connected peers.
    pub fn insert_document(
        &mut self,
        doc: DocumentId,
        data: Automerge,
    ) -> Result<Step, EngineError> {
        if self.docs.contains_key(&doc) {
            return Err(EngineError::DocumentExists);
        }
        let mut step = Step::default();
        let heads = data.get_heads();
        if !heads.is_empty() {
            let bytes = data.save();
            step.writes.push(StorageWrite::Snapshot {
                doc,
                hash: chunk_hash(&bytes),
                bytes,
                replaces: Vec::new(),
            });
            step.events.push(Event::DocumentChanged { doc, heads });
        }
        self.docs.insert(doc, data);
        self.sync_to_peers(doc, None, &mut step);
        Ok(step)
    }

    /// Server: replaces a document's history by `data` (e.g. a fresh document holding only
    /// its current state): one [`StorageWrite::Replace`] drops every stored chunk and sync
    /// state of the document. Connections that had it open are closed
    /// ([`CloseReason::HistoryReplaced`]): their sync states describe the old history, and
    /// continuing with them makes the two sides loop; a reconnect starts afresh. Whoever still
    /// holds the old history with write access must be kept away (revoked, or the document
    /// sealed with [`Self::seal`]): syncing it back would merge the old history in again.
    pub fn replace_document(&mut self, doc: DocumentId, data: Automerge) -> Step {
        let mut step = Step::default();
        let data = data.with_actor(self.passive_actor());
        let bytes = data.save();
        step.writes.push(StorageWrite::Replace {
            doc,
            hash: chunk_hash(&bytes),
            bytes,
        });
        step.events.push(Event::DocumentChanged {
            doc,
            heads: data.get_heads(),
        });
        self.docs.insert(doc, data);
        let had_it: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.docs.contains_key(&doc))
            .map(|(id, _)| *id)
            .collect();
        for conn in had_it {
            self.close(conn, CloseReason::HistoryReplaced, &mut step);
        }
        step
    }

    /// Server: from now on no peer's change to `doc` is applied, whatever its scope; peers
    /// still receive the document. Connections that have it open become read-only on it at
    /// once. Sealing is not persisted here: the driver stores it and seals again on start.
    pub fn seal(&mut self, doc: DocumentId) {
        self.sealed.insert(doc);
        for c in self.conns.values_mut() {
            if let Some(peer_doc) = c.docs.get_mut(&doc) {
                peer_doc.sync.set_read_only(true);
            }
        }
    }

    pub fn is_sealed(&self, doc: &DocumentId) -> bool {
        self.sealed.contains(doc)
    }

    /// Client: asks connected peers for a document we only know by id (an empty local
    /// document is kept and filled when the server answers; `Event::DocUnavailable` otherwise).
    pub fn want_document(&mut self, doc: DocumentId, actor: ActorId) -> Step {
        let mut step = Step::default();
        self.docs
            .entry(doc)
            .or_insert_with(|| Automerge::new().with_actor(actor));
        self.sync_to_peers(doc, None, &mut step);
        step
    }

    /// Local changes: runs `f` on the document, then persists and syncs whatever it changed.
    pub fn with_doc_mut<R>(
        &mut self,
        doc: DocumentId,
        f: impl FnOnce(&mut Automerge) -> R,
    ) -> Result<(R, Step), EngineError> {
        let data = self
            .docs
            .get_mut(&doc)
            .ok_or(EngineError::UnknownDocument)?;
        let old_heads = data.get_heads();
        let out = f(data);
        let mut step = Step::default();
        if self.persist_if_changed(doc, &old_heads, &mut step) {
            self.sync_to_peers(doc, None, &mut step);
        }
        Ok((out, step))
    }

    // ----- connections -----

    /// Opens a connection. A client sends `join` at once; a server waits for it.
    /// Sync states start fresh: reconnecting re-syncs every document from scratch.
    pub fn connect(&mut self, conn: ConnId, options: ConnectOptions) -> Step {
        let mut step = Step::default();
        let phase = match self.config.role {
            Role::Server => Phase::AwaitingJoin,
            Role::Client => {
                step.send(
                    conn,
                    Frame::Join(Join {
                        sender_id: self.config.peer_id.clone(),
                        peer_metadata: self.config.peer_metadata.clone(),
                        supported_protocol_versions: Some(vec![PROTOCOL_V1.to_owned()]),
                    }),
                );
                Phase::AwaitingPeer
            }
        };
        self.conns.insert(
            conn,
            Conn {
                phase,
                bound_peer: options.bound_peer,
                remote: None,
                remote_metadata: PeerMetadata::default(),
                sync_state_key: None,
                scope: options.scope,
                docs: HashMap::new(),
            },
        );
        step
    }

    /// The transport closed. Forgets the connection's sync states.
    pub fn disconnect(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }

    pub fn is_open(&self, conn: ConnId) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| c.phase == Phase::Open)
    }

    /// The remote's peer id once the handshake is done.
    pub fn remote_peer(&self, conn: ConnId) -> Option<&str> {
        self.conns.get(&conn).and_then(|c| c.remote.as_deref())
    }

    pub fn remote_metadata(&self, conn: ConnId) -> Option<&PeerMetadata> {
        self.conns.get(&conn).map(|c| &c.remote_metadata)
    }

    /// Changes what a connection may see (e.g. a token's scope was edited or revoked).
    /// Revoked documents stop syncing; a downgrade to read-only stops applying changes at once;
    /// an upgrade to read-write resets the sync state so the peer resends what we ignored.
    pub fn set_scope(&mut self, conn: ConnId, scope: Scope) -> Step {
        let mut step = Step::default();
        let Some(c) = self.conns.get_mut(&conn) else {
            return step;
        };
        c.docs.retain(|doc, _| scope.access(doc).is_some());
        let mut upgraded = Vec::new();
        for (doc, peer_doc) in c.docs.iter_mut() {
            let read_only = effective_access(&self.sealed, &scope, doc) == Some(Access::ReadOnly);
            if peer_doc.sync.read_only && !read_only {
                upgraded.push(*doc);
            }
            peer_doc.sync.set_read_only(read_only);
        }
        c.scope = scope;
        upgraded.sort();
        for doc in upgraded {
            self.send_sync(conn, doc, &mut step);
        }
        step
    }

    /// A `request`/`sync` that opens a document on a connection whose remote keeps durable
    /// storage: the driver may load the sync state stored for (document, key) and hand
    /// it to [`Self::load_sync_state`] before [`Self::handle_decoded`], so that a reconnecting
    /// peer does not resend what both sides share.
    pub fn needs_sync_state(&self, conn: ConnId, frame: &Frame) -> Option<(DocumentId, String)> {
        let (Frame::Request(f) | Frame::Sync(f)) = frame else {
            return None;
        };
        let c = self.conns.get(&conn)?;
        let key = c.sync_state_key.clone()?;
        (!c.docs.contains_key(&f.document_id) && c.scope.access(&f.document_id).is_some())
            .then_some((f.document_id, key))
    }

    /// Restores a stored `automerge::sync::State` for (conn, doc). Ignored when the document is
    /// already open on that connection or not granted. A client may call it right after
    /// [`Self::connect`] for the documents it last synced with the same server.
    pub fn load_sync_state(
        &mut self,
        conn: ConnId,
        doc: DocumentId,
        bytes: &[u8],
    ) -> Result<(), EngineError> {
        let state = sync::State::decode(bytes).map_err(|_| EngineError::SyncState)?;
        let Some(c) = self.conns.get_mut(&conn) else {
            return Ok(());
        };
        let Some(access) = effective_access(&self.sealed, &c.scope, &doc) else {
            return Ok(());
        };
        c.docs.entry(doc).or_insert_with(|| {
            let mut peer_doc = PeerDoc::new(access);
            let read_only = peer_doc.sync.read_only;
            peer_doc.sync = state;
            peer_doc.sync.set_read_only(read_only);
            peer_doc
        });
        Ok(())
    }

    // ----- frames -----

    /// Decodes a binary message after checking its size.
    pub fn decode_frame(&self, bytes: &[u8]) -> Result<Frame, CloseReason> {
        if bytes.len() > self.config.limits.max_frame_bytes {
            return Err(CloseReason::FrameTooLarge);
        }
        Frame::decode(bytes).map_err(CloseReason::Malformed)
    }

    /// The document the driver should load from storage before [`Self::handle_decoded`]:
    /// a `request`/`sync` for a document the engine does not hold and the connection's scope
    /// grants (no disk work for forbidden documents).
    pub fn needs_document(&self, conn: ConnId, frame: &Frame) -> Option<DocumentId> {
        let (Frame::Request(f) | Frame::Sync(f)) = frame else {
            return None;
        };
        let scope = &self.conns.get(&conn)?.scope;
        (!self.docs.contains_key(&f.document_id) && scope.access(&f.document_id).is_some())
            .then_some(f.document_id)
    }

    /// Decode + handle, for drivers that keep every document in memory.
    pub fn handle_frame(&mut self, conn: ConnId, bytes: &[u8]) -> Step {
        let mut step = Step::default();
        if !self.conns.contains_key(&conn) {
            return step;
        }
        match self.decode_frame(bytes) {
            Ok(frame) => step.extend(self.handle_decoded(conn, frame)),
            Err(reason) => self.close(conn, reason, &mut step),
        }
        step
    }

    pub fn handle_decoded(&mut self, conn: ConnId, frame: Frame) -> Step {
        let mut step = Step::default();
        let Some(c) = self.conns.get(&conn) else {
            return step;
        };
        let phase = c.phase;
        match (self.config.role, phase, frame) {
            (_, _, Frame::Leave(_)) => self.close(conn, CloseReason::PeerLeft, &mut step),
            (_, _, Frame::Error(_)) => self.close(conn, CloseReason::PeerError, &mut step),
            (Role::Server, Phase::AwaitingJoin, Frame::Join(join)) => {
                self.on_join(conn, join, &mut step)
            }
            (Role::Client, Phase::AwaitingPeer, Frame::Peer(peer)) => {
                self.on_peer(conn, peer, &mut step)
            }
            (_, Phase::Open, frame) => self.on_open_frame(conn, frame, &mut step),
            (_, Phase::AwaitingJoin | Phase::AwaitingPeer, _) => {
                self.close(conn, CloseReason::NotJoined, &mut step)
            }
        }
        step
    }

    // ----- helpers -----

    fn heads(&self, doc: &DocumentId) -> Vec<ChangeHash> {
        self.docs
            .get(doc)
            .map(Automerge::get_heads)
            .unwrap_or_default()
    }

    /// The actor of documents this engine never edits itself (server copies, loaded data):
    /// derived from our peer id so that no randomness is needed.
    fn passive_actor(&self) -> ActorId {
        ActorId::from(self.config.peer_id.as_bytes())
    }

    /// Emits an incremental chunk and an event if the heads moved since `old_heads`.
    fn persist_if_changed(
        &mut self,
        doc: DocumentId,
        old_heads: &[ChangeHash],
        step: &mut Step,
    ) -> bool {
        let Some(data) = self.docs.get(&doc) else {
            return false;
        };
        let heads = data.get_heads();
        if heads == old_heads {
            return false;
        }
        step.writes
            .push(StorageWrite::incremental(doc, data.save_after(old_heads)));
        step.events.push(Event::DocumentChanged { doc, heads });
        true
    }

    /// Pushes a document to the peers that should see it: on a server, the connections that
    /// opened it; on a client, every open connection whose scope grants it.
    fn sync_to_peers(&mut self, doc: DocumentId, except: Option<ConnId>, step: &mut Step) {
        let role = self.config.role;
        let targets: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(id, c)| {
                Some(**id) != except
                    && c.phase == Phase::Open
                    && match role {
                        Role::Server => c.docs.get(&doc).is_some_and(|pd| !pd.unavailable),
                        Role::Client => c.scope.access(&doc).is_some(),
                    }
            })
            .map(|(id, _)| *id)
            .collect();
        for conn in targets {
            self.send_sync(conn, doc, step);
        }
    }

    /// Generates and queues the next sync message for (conn, doc), if automerge has one.
    fn send_sync(&mut self, conn: ConnId, doc: DocumentId, step: &mut Step) {
        let (Some(data), Some(c)) = (self.docs.get(&doc), self.conns.get_mut(&conn)) else {
            return;
        };
        let Some(access) = effective_access(&self.sealed, &c.scope, &doc) else {
            return;
        };
        let Some(remote) = c.remote.clone() else {
            return;
        };
        if !c.docs.contains_key(&doc) && c.docs.len() >= self.config.limits.max_documents_per_peer {
            return;
        }
        let peer_doc = c.docs.entry(doc).or_insert_with(|| PeerDoc::new(access));
        let Some(message) = data.generate_sync_message(&mut peer_doc.sync) else {
            return;
        };
        let peer_has_it = peer_doc
            .sync
            .their_heads
            .as_ref()
            .is_some_and(|h| !h.is_empty());
        let body = SyncFrame {
            sender_id: self.config.peer_id.clone(),
            target_id: remote,
            document_id: doc,
            data: message.encode(),
        };
        // As automerge-repo: a peer with nothing, talking to a peer not known to have the
        // document, asks with `request`, so that the other side answers `doc-unavailable`
        // rather than leaving it waiting.
        let frame = if data.get_heads().is_empty() && !peer_has_it {
            Frame::Request(body)
        } else {
            Frame::Sync(body)
        };
        step.send(conn, frame);
    }

    fn unavailable(&mut self, conn: ConnId, doc: DocumentId, step: &mut Step) {
        let Some(remote) = self.conns.get(&conn).and_then(|c| c.remote.clone()) else {
            return;
        };
        step.send(
            conn,
            Frame::DocUnavailable(DocUnavailable {
                sender_id: self.config.peer_id.clone(),
                target_id: remote,
                document_id: doc,
            }),
        );
    }

    /// Queues an `error` frame (when the peer should be told) and the close, and forgets the
    /// connection so that nothing else it sends is processed.
    fn close(&mut self, conn: ConnId, reason: CloseReason, step: &mut Step) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        if reason.notifies_peer() {
            step.send(
                conn,
                Frame::Error(ErrorFrame {
                    sender_id: Some(self.config.peer_id.clone()),
                    message: reason.to_string(),
                    target_id: c.remote,
                }),
            );
        }
        step.closes.push(Close { conn, reason });
    }
}

/// The key sync states are stored under: the remote's peer id and storage id. automerge-repo
/// keys by storage id alone, but storage ids are self-asserted: with the peer id (bound to a
/// token on the server) in the key, a peer cannot overwrite another device's sync states.
/// Never for ephemeral peers.
fn sync_state_key(peer_id: &str, meta: &PeerMetadata) -> Option<String> {
    if meta.is_ephemeral == Some(true) {
        return None;
    }
    meta.storage_id
        .as_ref()
        .map(|storage| format!("{peer_id}/{storage}"))
}

impl From<WireError> for CloseReason {
    fn from(e: WireError) -> Self {
        Self::Malformed(e)
    }
}
