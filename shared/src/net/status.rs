//! What the UI shows about synchronisation (published through a `tokio::sync::watch`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use automerge::ChangeHash;

use crate::ids::DocumentId;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncStatus {
    /// The WebSocket is open and the `join`/`peer` handshake is done.
    pub connected: bool,
    /// The last time (driver clock) the server confirmed holding every change of every
    /// document we keep.
    pub last_sync_ok_at: Option<SystemTime>,
    /// Why the link last failed (no token, no document content). Cleared on a successful
    /// handshake.
    pub last_error: Option<LinkProblem>,
    pub documents: BTreeMap<DocumentId, DocumentSyncStatus>,
}

impl SyncStatus {
    /// Every document kept is fully held by the server.
    pub fn all_synced(&self) -> bool {
        self.documents.values().all(|d| d.server_has_all)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocumentSyncStatus {
    /// The server's last reported heads cover every change we hold ("synced" may be shown).
    pub server_has_all: bool,
    /// Our changes the server does not hold yet.
    pub pending_changes: usize,
    /// The heads the server last reported (durable on its side), for per-record status with
    /// [`crate::sync_status::unsynced_encounters`].
    pub server_heads: Option<Vec<ChangeHash>>,
    /// The server answered `doc-unavailable` (unknown to it, or outside our token's scope).
    pub unavailable: bool,
}

/// Why the link to the server is down. Words only: never the token, never document content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkProblem {
    /// The URL does not parse or is not `ws://`.
    BadUrl,
    /// The token cannot travel in an HTTP header.
    BadToken,
    /// No TCP connection (no network, server down).
    Unreachable,
    /// The server refused the upgrade with this HTTP status (401/403: token refused).
    Refused(u16),
    /// Connecting, or the handshake, took too long.
    Timeout,
    /// The link broke or went silent (no pong) and was dropped.
    Lost,
    /// The server closed the connection.
    ClosedByServer,
    /// The server broke the protocol, or told us we did (engine close reason, no content).
    Protocol(String),
    /// Writing to the local database failed: nothing is acknowledged until it works again.
    Storage,
}

impl fmt::Display for LinkProblem {
    // French: this is shown to volunteers and coordinators.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadUrl => write!(f, "adresse du serveur invalide"),
            Self::BadToken => write!(f, "jeton d'accès invalide"),
            Self::Unreachable => write!(f, "serveur injoignable"),
            Self::Refused(401 | 403) => write!(f, "accès refusé par le serveur"),
            Self::Refused(code) => write!(f, "connexion refusée par le serveur (HTTP {code})"),
            Self::Timeout => write!(f, "le serveur ne répond pas"),
            Self::Lost => write!(f, "connexion perdue"),
            Self::ClosedByServer => write!(f, "connexion fermée par le serveur"),
            Self::Protocol(reason) => write!(f, "erreur de protocole : {reason}"),
            Self::Storage => write!(f, "écriture impossible dans la base locale"),
        }
    }
}
