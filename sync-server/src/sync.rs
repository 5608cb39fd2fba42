//! `GET /sync`: the automerge-repo WebSocket endpoint.
//!
//! The HTTP side authenticates the upgrade (bearer header or `?token=`), binds the token's
//! peer id and scope to the connection, and runs one task per socket that selects on incoming
//! frames, frames the hub queues for it, the token's revocation signal and server shutdown.
//! What a frame *means* is decided by the sync actor ([`actor`]): one thread owning the shared
//! sans-IO engine (server role) and the chunk store; [`SyncHub::handle_frame`] hands it frames.

pub mod activity;
pub mod actor;
pub mod sealed;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use automerge::{ActorId, Automerge};
use carnet_shared::ids::DocumentId;
use carnet_shared::store::Store;
use tokio::sync::oneshot;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::{Notify, mpsc, watch};

use crate::app::AppState;
use crate::auth::{PeerId, Principal, Scope, TokenId};
use crate::error::ApiError;
use actor::{Actor, Input};
pub use actor::{ActorConfig, Checkpoint, DocumentEdit, DocumentSnapshot, SyncError};

/// Frames the hub may queue for one connection before it is considered too slow.
pub const OUTGOING_QUEUE: usize = 64;
/// How long a closing handshake may take before the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a socket closed for an oversized message is held before it is dropped.
const TOO_LARGE_LINGER: Duration = Duration::from_millis(200);

/// WebSocket close codes (RFC 6455 §7.4.1).
pub mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const UNSUPPORTED_DATA: u16 = 1003;
    pub const POLICY_VIOLATION: u16 = 1008;
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    pub const INTERNAL_ERROR: u16 = 1011;
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// What the hub sends to a connection task.
#[derive(Debug)]
pub enum Outgoing {
    Frame(Vec<u8>),
    Close(Closing),
}

/// Why and how a connection is closed: the protocol `error` message sent first (if any) and
/// the WebSocket close frame. Reasons are fixed phrases, never content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closing {
    pub code: u16,
    pub reason: &'static str,
    pub error_message: Option<&'static str>,
}

/// The result of handling one incoming frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameOutcome {
    Continue,
    Close(Closing),
}

/// One live socket as the hub sees it.
#[derive(Debug, Clone)]
pub struct Connection {
    pub id: u64,
    pub peer_id: PeerId,
    pub token_id: TokenId,
    pub scope: Scope,
    /// Signalled when the hub could not queue a frame: the peer reads too slowly.
    overflow: Arc<Notify>,
}

struct Registered {
    peer_id: PeerId,
    outgoing: mpsc::Sender<Outgoing>,
    overflow: Arc<Notify>,
}

/// Frames connection tasks may queue for the sync actor before they wait (backpressure on
/// the sockets' reads rather than unbounded buffering).
const ACTOR_QUEUE: usize = 1024;

/// The live connections, shared by the hub (which registers them) and the sync actor (which
/// queues frames and closes for them).
#[derive(Default)]
pub struct Registry {
    connections: Mutex<HashMap<u64, Registered>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Registered>> {
        self.connections
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a frame for a connection without waiting. `false` if the connection is gone or
    /// its queue is full; a full queue means the peer reads too slowly, and its task closes it
    /// (code 1013) rather than buffering without bound — it resyncs when it reconnects.
    pub fn send_to(&self, connection_id: u64, frame: Vec<u8>) -> bool {
        self.queue(connection_id, Outgoing::Frame(frame))
    }

    /// Asks a connection's task to close it (after the frames already queued).
    pub fn close(&self, connection_id: u64, closing: Closing) -> bool {
        self.queue(connection_id, Outgoing::Close(closing))
    }

    fn queue(&self, connection_id: u64, item: Outgoing) -> bool {
        let target = self
            .lock()
            .get(&connection_id)
            .map(|c| (c.outgoing.clone(), Arc::clone(&c.overflow)));
        let Some((outgoing, overflow)) = target else {
            return false;
        };
        match outgoing.try_send(item) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                overflow.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// The peer id bound to a connection, for logs.
    pub fn peer_of(&self, connection_id: u64) -> Option<String> {
        self.lock().get(&connection_id).map(|c| c.peer_id.0.clone())
    }

    /// The connections bound to one of `peers`.
    pub fn connections_of_peers(&self, peers: &std::collections::BTreeSet<String>) -> Vec<u64> {
        self.lock()
            .iter()
            .filter(|(_, c)| peers.contains(&c.peer_id.0))
            .map(|(id, _)| *id)
            .collect()
    }

    pub fn ids(&self) -> Vec<u64> {
        self.lock().keys().copied().collect()
    }
}

/// The server side of sync: live connections and the sync actor they feed.
pub struct SyncHub {
    server_peer_id: String,
    next_id: AtomicU64,
    registry: Arc<Registry>,
    inputs: mpsc::Sender<Input>,
    shutdown: watch::Sender<bool>,
}

impl SyncHub {
    /// Starts the sync actor on `store`. `compaction_store` (a second connection to the same
    /// file) enables compaction on its own thread; `None` (in-memory stores) disables it.
    pub fn start(
        config: ActorConfig,
        mut store: Store,
        compaction_store: Option<Store>,
    ) -> Result<Self, SyncError> {
        activity::migrate(&mut store)?;
        sealed::migrate(&mut store)?;
        let sealed = sealed::all(store.connection())?;
        let registry = Arc::new(Registry::default());
        let (inputs, receiver) = mpsc::channel(ACTOR_QUEUE);
        let compactor = match compaction_store {
            Some(compaction_store) => {
                let (tx, rx) = std::sync::mpsc::channel();
                let policy = config.compaction;
                std::thread::Builder::new()
                    .name("carnet-compactor".to_owned())
                    .spawn(move || actor::run_compactor(compaction_store, policy, rx))
                    .map_err(SyncError::Spawn)?;
                Some(tx)
            }
            None => None,
        };
        let actor = Actor::new(&config, store, sealed, Arc::clone(&registry), compactor);
        std::thread::Builder::new()
            .name("carnet-sync".to_owned())
            .spawn(move || actor.run(receiver))
            .map_err(SyncError::Spawn)?;
        Ok(Self {
            server_peer_id: config.server_peer_id,
            next_id: AtomicU64::new(1),
            registry,
            inputs,
            shutdown: watch::channel(false).0,
        })
    }

    pub fn server_peer_id(&self) -> &str {
        &self.server_peer_id
    }

    /// Registers a socket; `outgoing` is where frames for it are queued.
    pub async fn register(
        &self,
        principal: &Principal,
        outgoing: mpsc::Sender<Outgoing>,
    ) -> Connection {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let overflow = Arc::new(Notify::new());
        self.registry.lock().insert(
            id,
            Registered {
                peer_id: principal.peer_id.clone(),
                outgoing,
                overflow: Arc::clone(&overflow),
            },
        );
        // If the actor is gone, the first frame gets the error; nothing to do here.
        let _ = self
            .inputs
            .send(Input::Connect {
                conn: id,
                peer: principal.peer_id.clone(),
                scope: principal.scope.clone(),
            })
            .await;
        Connection {
            id,
            peer_id: principal.peer_id.clone(),
            token_id: principal.token_id,
            scope: principal.scope.clone(),
            overflow,
        }
    }

    pub async fn unregister(&self, connection: &Connection) {
        self.registry.lock().remove(&connection.id);
        let _ = self
            .inputs
            .send(Input::Disconnect {
                conn: connection.id,
            })
            .await;
    }

    pub fn connection_count(&self) -> usize {
        self.registry.lock().len()
    }

    /// Number of live sockets bound to `peer`.
    pub fn connections_of(&self, peer: &PeerId) -> usize {
        self.registry
            .lock()
            .values()
            .filter(|c| &c.peer_id == peer)
            .count()
    }

    /// Queues a frame for a connection without waiting (see [`Registry::send_to`]).
    pub fn send_to(&self, connection_id: u64, frame: Vec<u8>) -> bool {
        self.registry.send_to(connection_id, frame)
    }

    /// Hands one binary frame from `connection` to the sync actor, which decodes it, checks
    /// the sender against the token's peer id and each document against the token's scope
    /// (unknown and forbidden both answer `doc-unavailable`, read-only never applies changes),
    /// runs the engine, stores its writes and only then queues its answers. Waits while the
    /// actor's queue is full. `received_at` (unix ms, the server's clock) is recorded as the
    /// document's last change if the frame brings changes ([`activity`]).
    pub async fn handle_frame(
        &self,
        connection: &Connection,
        frame: &[u8],
        received_at: i64,
    ) -> FrameOutcome {
        let input = Input::Frame {
            conn: connection.id,
            bytes: frame.to_vec(),
            received_at,
        };
        if self.inputs.send(input).await.is_err() {
            tracing::error!(peer_id = %connection.peer_id, connection = connection.id, "sync actor stopped");
            return FrameOutcome::Close(Closing {
                code: close_code::INTERNAL_ERROR,
                reason: "sync engine unavailable",
                error_message: Some("sync engine unavailable"),
            });
        }
        FrameOutcome::Continue
    }

    /// Stores documents made by the API (night, teams) so that they can be synced. Returns
    /// once they are durable.
    pub async fn create_documents(
        &self,
        docs: Vec<(DocumentId, Automerge)>,
    ) -> Result<(), SyncError> {
        let (reply, answer) = oneshot::channel();
        self.inputs
            .send(Input::CreateDocuments { docs, reply })
            .await
            .map_err(|_| SyncError::Stopped)?;
        answer.await.map_err(|_| SyncError::Stopped)?
    }

    /// Edits a stored document as `actor` (e.g. adds teams to the night index); the change is
    /// durable on return and pushed to the peers that have the document open.
    pub async fn edit_document(
        &self,
        doc: DocumentId,
        actor: ActorId,
        edit: DocumentEdit,
    ) -> Result<(), SyncError> {
        let (reply, answer) = oneshot::channel();
        self.inputs
            .send(Input::EditDocument {
                doc,
                actor,
                edit,
                reply,
            })
            .await
            .map_err(|_| SyncError::Stopped)?;
        answer.await.map_err(|_| SyncError::Stopped)?
    }

    /// Replaces a stored document's history by a fresh one holding only its current state,
    /// written by `actor` at `now` after `last_edit` is applied to it in the same turn of the
    /// actor, and seals the document: no peer's change is applied to it any more (see
    /// [`actor::Input::ReplaceHistory`]). Durable on return, seal included.
    pub async fn replace_history(
        &self,
        doc: DocumentId,
        actor: ActorId,
        now: i64,
        last_edit: DocumentEdit,
    ) -> Result<(), SyncError> {
        let (reply, answer) = oneshot::channel();
        self.inputs
            .send(Input::ReplaceHistory {
                doc,
                actor,
                now,
                last_edit,
                reply,
            })
            .await
            .map_err(|_| SyncError::Stopped)?;
        answer.await.map_err(|_| SyncError::Stopped)?
    }

    /// Makes the sync actor forget every connection bound to one of `peers` (revoked
    /// tokens) before it handles anything queued after this call, and closes them. Returns
    /// how many connections there were.
    pub async fn disconnect_peers(
        &self,
        peers: std::collections::BTreeSet<String>,
    ) -> Result<usize, SyncError> {
        let (reply, answer) = oneshot::channel();
        self.inputs
            .send(Input::DisconnectPeers { peers, reply })
            .await
            .map_err(|_| SyncError::Stopped)?;
        answer.await.map_err(|_| SyncError::Stopped)
    }

    /// `PRAGMA wal_checkpoint(TRUNCATE)` on the chunk store, once everything queued before is
    /// durable.
    pub async fn checkpoint(&self) -> Result<Checkpoint, SyncError> {
        let (reply, answer) = oneshot::channel();
        self.inputs
            .send(Input::Checkpoint { reply })
            .await
            .map_err(|_| SyncError::Stopped)?;
        answer.await.map_err(|_| SyncError::Stopped)?
    }

    /// The stored state of `docs` (what peers have been acknowledged, nothing pending) with
    /// the time a peer last changed each; a document the server does not hold comes back
    /// with `doc: None`.
    pub async fn read_documents(
        &self,
        docs: Vec<DocumentId>,
    ) -> Result<Vec<DocumentSnapshot>, SyncError> {
        let (reply, answer) = oneshot::channel();
        self.inputs
            .send(Input::ReadDocuments { docs, reply })
            .await
            .map_err(|_| SyncError::Stopped)?;
        answer.await.map_err(|_| SyncError::Stopped)?
    }

    /// Asks every connection task to close (server shutting down).
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// An automerge-repo `error` message (CBOR), sent before the server closes a socket.
    pub fn error_frame(&self, target: &PeerId, message: &str) -> Vec<u8> {
        #[derive(Serialize)]
        struct ErrorMessage<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            #[serde(rename = "senderId")]
            sender_id: &'a str,
            #[serde(rename = "targetId")]
            target_id: &'a str,
            message: &'a str,
        }
        let mut out = Vec::new();
        // Serialising a struct of strings into a Vec cannot fail.
        let _ = ciborium::into_writer(
            &ErrorMessage {
                kind: "error",
                sender_id: &self.server_peer_id,
                target_id: target.as_str(),
                message,
            },
            &mut out,
        );
        out
    }
}

/// `GET /sync`: authenticate, then upgrade. The token may come as `?token=` because browser
/// WebSocket clients cannot set headers; the request log only records the path.
pub async fn sync_handler(
    State(state): State<AppState>,
    principal: Principal,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            "this endpoint only accepts WebSocket upgrades",
        )
        .into_response();
    };
    // Checked before the upgrade, counted once the task registers: a burst of simultaneous
    // upgrades can overshoot by the burst size, which is all this needs to bound.
    if state.hub.connections_of(&principal.peer_id) >= state.config.max_sockets_per_token {
        tracing::warn!(peer_id = %principal.peer_id, "sync socket refused: too many for this token");
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_connections",
            "this token already has too many open sync connections",
        )
        .into_response();
    }
    let revoked = state.revocations.subscribe(principal.token_id);
    let limit = state.config.max_message_bytes;
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_failed_upgrade(|error| tracing::warn!(%error, "sync upgrade failed"))
        .on_upgrade(move |socket| run_connection(socket, state, principal, revoked))
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    ClientClosed,
    ClientGone,
    ReadError,
    SendFailed,
    Revoked,
    ShuttingDown,
    TooLarge,
    TooSlow,
    TextFrame,
    Hub(Closing),
}

impl End {
    fn as_str(self) -> &'static str {
        match self {
            End::ClientClosed => "client closed",
            End::ClientGone => "client gone",
            End::ReadError => "read error",
            End::SendFailed => "send failed",
            End::Revoked => "token revoked",
            End::ShuttingDown => "server shutting down",
            End::TooLarge => "message too large",
            End::TooSlow => "peer reads too slowly",
            End::TextFrame => "text frame",
            End::Hub(closing) => closing.reason,
        }
    }

    /// What to tell the peer, if it can still be told anything.
    fn closing(self) -> Option<Closing> {
        let closing = |code, reason, error_message| {
            Some(Closing {
                code,
                reason,
                error_message,
            })
        };
        match self {
            End::ClientClosed | End::ClientGone | End::ReadError | End::SendFailed => None,
            End::Revoked => closing(
                close_code::POLICY_VIOLATION,
                "token revoked",
                Some("token revoked"),
            ),
            End::ShuttingDown => closing(close_code::GOING_AWAY, "server shutting down", None),
            End::TooLarge => closing(
                close_code::MESSAGE_TOO_BIG,
                "message too large",
                Some("message too large"),
            ),
            End::TooSlow => closing(
                close_code::TRY_AGAIN_LATER,
                "peer reads too slowly",
                Some("peer reads too slowly"),
            ),
            End::TextFrame => closing(
                close_code::UNSUPPORTED_DATA,
                "binary CBOR frames only",
                Some("binary CBOR frames only"),
            ),
            End::Hub(closing) => Some(closing),
        }
    }
}

/// True if the read failed because the peer sent a frame or message over the cap.
fn is_too_large(error: axum::Error) -> bool {
    error
        .into_inner()
        .downcast_ref::<tungstenite_axum::Error>()
        .is_some_and(|e| matches!(e, tungstenite_axum::Error::Capacity(_)))
}

async fn run_connection(
    mut socket: WebSocket,
    state: AppState,
    principal: Principal,
    mut revoked: watch::Receiver<bool>,
) {
    let hub = &state.hub;
    let (outgoing_tx, mut outgoing) = mpsc::channel(OUTGOING_QUEUE);
    let connection = hub.register(&principal, outgoing_tx).await;
    let mut shutdown = hub.shutdown_signal();
    tracing::info!(peer_id = %connection.peer_id, connection = connection.id, role = principal.role.as_str(), "sync connection opened");

    let end = loop {
        if *revoked.borrow_and_update() {
            break End::Revoked;
        }
        if *shutdown.borrow_and_update() {
            break End::ShuttingDown;
        }
        tokio::select! {
            changed = revoked.changed() => {
                // A dropped sender cannot vouch for the token any more: fail closed.
                if changed.is_err() {
                    break End::Revoked;
                }
            }
            () = connection.overflow.notified() => break End::TooSlow,
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break End::ShuttingDown;
                }
            }
            queued = outgoing.recv() => match queued {
                Some(Outgoing::Frame(frame)) => {
                    if socket.send(Message::Binary(frame.into())).await.is_err() {
                        break End::SendFailed;
                    }
                }
                Some(Outgoing::Close(closing)) => break End::Hub(closing),
                // The hub dropped this connection.
                None => break End::ShuttingDown,
            },
            incoming = socket.recv() => match incoming {
                None => break End::ClientGone,
                Some(Ok(Message::Binary(frame))) => {
                    if let FrameOutcome::Close(closing) = hub.handle_frame(&connection, &frame, state.now()).await {
                        break End::Hub(closing);
                    }
                }
                Some(Ok(Message::Text(_))) => break End::TextFrame,
                Some(Ok(Message::Close(_))) => break End::ClientClosed,
                // axum answers pings itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Err(error)) => {
                    break if is_too_large(error) { End::TooLarge } else { End::ReadError };
                }
            },
        }
    };

    hub.unregister(&connection).await;
    if let Some(closing) = end.closing() {
        let farewell = async {
            if let Some(message) = closing.error_message {
                let frame = hub.error_frame(&connection.peer_id, message);
                socket.send(Message::Binary(frame.into())).await?;
            }
            socket
                .send(Message::Close(Some(CloseFrame {
                    code: closing.code,
                    reason: closing.reason.into(),
                })))
                .await
        };
        // A peer that stopped reading must not keep this task alive.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, farewell).await;
        if end == End::TooLarge {
            // The rest of the oversized message is unread: reading on would buffer it, and
            // dropping the socket now would reset the TCP connection and could discard the
            // close frame still in flight. Hold the socket a moment, unread.
            tokio::time::sleep(TOO_LARGE_LINGER).await;
        } else {
            // Complete the closing handshake: wait for the peer's close (or its departure).
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                while let Some(Ok(message)) = socket.recv().await {
                    if matches!(message, Message::Close(_)) {
                        break;
                    }
                }
            })
            .await;
        }
    }
    drop(revoked);
    state.revocations.release(connection.token_id);
    tracing::info!(
        peer_id = %connection.peer_id,
        connection = connection.id,
        reason = end.as_str(),
        "sync connection closed"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn principal() -> Principal {
        Principal {
            token_id: TokenId(uuid::Uuid::from_bytes([1; 16])),
            role: Role::TeamMember,
            peer_id: PeerId("device-test".to_owned()),
            night_id: None,
            team_id: None,
            scope: Scope::default(),
        }
    }

    fn hub(server_peer_id: &str) -> SyncHub {
        SyncHub::start(
            ActorConfig {
                server_peer_id: server_peer_id.to_owned(),
                limits: Default::default(),
                compaction: Default::default(),
            },
            Store::open_in_memory().unwrap(),
            None,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_full_queue_flags_the_slow_peer_instead_of_growing() {
        let hub = hub("server");
        let (tx, mut rx) = mpsc::channel(1);
        let connection = hub.register(&principal(), tx).await;
        assert!(hub.send_to(connection.id, vec![1]));
        assert!(!hub.send_to(connection.id, vec![2]));
        // The permit is stored: the connection task sees it even if it was busy meanwhile.
        connection.overflow.notified().await;
        assert!(matches!(rx.recv().await, Some(Outgoing::Frame(f)) if f == vec![1]));
        hub.unregister(&connection).await;
        assert!(!hub.send_to(connection.id, vec![3]));
        assert_eq!(hub.connection_count(), 0);
    }

    #[tokio::test]
    async fn error_frame_is_an_automerge_repo_error_message() {
        let hub = hub("carnet-server");
        let frame = hub.error_frame(&PeerId("device-x".to_owned()), "token revoked");
        let value: ciborium::Value = ciborium::from_reader(frame.as_slice()).unwrap();
        let map = value.as_map().unwrap();
        let field = |key: &str| {
            map.iter()
                .find(|(k, _)| k.as_text() == Some(key))
                .and_then(|(_, v)| v.as_text())
        };
        assert_eq!(field("type"), Some("error"));
        assert_eq!(field("senderId"), Some("carnet-server"));
        assert_eq!(field("targetId"), Some("device-x"));
        assert_eq!(field("message"), Some("token revoked"));
    }
}
