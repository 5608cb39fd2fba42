//! The engine's inputs (configuration, scopes, limits) and outputs (steps).

use std::collections::HashMap;

use automerge::ChangeHash;

use crate::ids::DocumentId;
use crate::storage::StorageWrite;
use crate::wire::{Frame, PeerId, PeerMetadata, WireError};

/// A connection handle chosen by the driver (unique among live connections).
pub type ConnId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Answers `join`; holds many connections; only syncs documents a peer asked about.
    Server,
    /// Sends `join`; syncs every document it holds with its (single) server connection.
    Client,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// The peer may read; its incoming changes are never applied.
    ReadOnly,
    /// The peer may read and write, and may upload a document the server has no data for yet.
    ReadWrite,
}

/// What one connection may touch. Unknown and forbidden documents get the same answer
/// (`doc-unavailable`) so that a scope never leaks which documents exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    all: Option<Access>,
    docs: HashMap<DocumentId, Access>,
}

impl Scope {
    /// Nothing at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every document (coordinators; the client's view of its server).
    pub fn all(access: Access) -> Self {
        Self {
            all: Some(access),
            docs: HashMap::new(),
        }
    }

    pub fn from_docs(docs: impl IntoIterator<Item = (DocumentId, Access)>) -> Self {
        Self {
            all: None,
            docs: docs.into_iter().collect(),
        }
    }

    pub fn with(mut self, doc: DocumentId, access: Access) -> Self {
        self.docs.insert(doc, access);
        self
    }

    /// The stronger of the blanket grant and the per-document grant.
    pub fn access(&self, doc: &DocumentId) -> Option<Access> {
        self.all.max(self.docs.get(doc).copied())
    }
}

/// Bounds on the work one peer can cause (DESIGN §4 "Bounded work per frame").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineLimits {
    /// Whole WebSocket message, checked before CBOR decoding.
    pub max_frame_bytes: usize,
    /// The `data` of one `request`/`sync`, checked before automerge decodes it.
    pub max_sync_payload_bytes: usize,
    /// Change chunks in one sync message.
    pub max_changes_per_message: usize,
    /// Documents one connection may have open at once.
    pub max_documents_per_peer: usize,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            max_frame_bytes: 8 << 20,
            max_sync_payload_bytes: 8 << 20,
            max_changes_per_message: 20_000,
            max_documents_per_peer: 2_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    pub peer_id: PeerId,
    pub role: Role,
    /// Sent in `join`/`peer`. A server with durable storage should set `storage_id`.
    pub peer_metadata: PeerMetadata,
    pub limits: EngineLimits,
}

/// How the driver opens a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Server: the peer id bound to the connection's token. A `join` claiming another
    /// id is refused. `None` accepts the self-asserted id (tests, trusted links).
    pub bound_peer: Option<PeerId>,
    pub scope: Scope,
}

/// Why the engine closes a connection. Carries no frame content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    #[error("frame too large")]
    FrameTooLarge,
    #[error("malformed frame: {0}")]
    Malformed(WireError),
    #[error("unsupported protocol version")]
    UnsupportedProtocol,
    #[error("peer id does not match the credentials")]
    PeerIdMismatch,
    #[error("frame before the handshake")]
    NotJoined,
    #[error("unexpected frame")]
    UnexpectedFrame,
    #[error("sync payload too large")]
    PayloadTooLarge,
    #[error("invalid sync message")]
    InvalidSyncMessage,
    #[error("too many changes in one message")]
    TooManyChanges,
    #[error("too many documents for one peer")]
    TooManyDocuments,
    /// The peer sent `leave`.
    #[error("peer left")]
    PeerLeft,
    /// The peer sent an `error` frame (its text is not kept).
    #[error("peer reported an error")]
    PeerError,
    /// The server replaced a document this connection had open by a new history; the peer
    /// must reconnect (with fresh sync states) to see it.
    #[error("document history replaced")]
    HistoryReplaced,
}

impl CloseReason {
    /// Whether we tell the peer with an `error` frame before closing.
    pub(crate) fn notifies_peer(&self) -> bool {
        !matches!(self, Self::PeerLeft | Self::PeerError)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    pub conn: ConnId,
    pub frame: Frame,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    pub conn: ConnId,
    pub reason: CloseReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed; `peer_id` is the remote's id.
    PeerJoined { conn: ConnId, peer_id: PeerId },
    /// A document's heads moved (local change, loaded data or incoming sync).
    DocumentChanged {
        doc: DocumentId,
        heads: Vec<ChangeHash>,
    },
    /// A peer told us which heads it holds for a document (from sync messages).
    RemoteHeads {
        conn: ConnId,
        doc: DocumentId,
        heads: Vec<ChangeHash>,
    },
    /// The remote has no such document, or does not let us see it.
    DocUnavailable { conn: ConnId, doc: DocumentId },
}

/// The outputs of one engine call.
///
/// CONTRACT for drivers: apply every `writes` entry durably (in order, e.g. in one
/// transaction) BEFORE sending any of this step's `outbound` frames, then send `outbound` in
/// order, then close the connections in `closes` (their `error` frame, if any, is already the
/// last frame queued for them). A peer that learns our heads from a frame can therefore rely
/// on those changes being on disk: that is what makes "acknowledged" mean "durable".
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[must_use]
pub struct Step {
    pub writes: Vec<StorageWrite>,
    pub outbound: Vec<Outbound>,
    pub closes: Vec<Close>,
    pub events: Vec<Event>,
}

impl Step {
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
            && self.outbound.is_empty()
            && self.closes.is_empty()
            && self.events.is_empty()
    }

    /// Appends another step's outputs (keeps the order).
    pub fn extend(&mut self, other: Step) {
        self.writes.extend(other.writes);
        self.outbound.extend(other.outbound);
        self.closes.extend(other.closes);
        self.events.extend(other.events);
    }

    pub(crate) fn send(&mut self, conn: ConnId, frame: Frame) {
        self.outbound.push(Outbound { conn, frame });
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    #[error("unknown document")]
    UnknownDocument,
    #[error("document already present")]
    DocumentExists,
    #[error("document data could not be loaded")]
    Load,
    #[error("stored sync state could not be decoded")]
    SyncState,
}
