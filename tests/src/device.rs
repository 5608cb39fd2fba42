//! A simulated device: the shared client-role sync engine over a real WebSocket
//! (tokio-tungstenite). Kept small on purpose: the production driver is `carnet_shared::net`;
//! this one only does what the scenarios need (connect, open a document, edit it with the
//! shared model's writers, sync until the server acknowledges, go offline).

use std::collections::HashMap;
use std::time::Duration;

use automerge::{ActorId, AutoCommit, Automerge};
use carnet_shared::doc::DocError;
use carnet_shared::engine::{
    Access, ConnectOptions, Engine, EngineConfig, EngineLimits, Event, Role, Scope, Step,
};
use carnet_shared::ids::DocumentId;
use carnet_shared::wire::PeerMetadata;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use crate::HANG_GUARD;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("the server refused the connection: {0}")]
    Refused(String),
    #[error("the server closed the connection (code {code:?})")]
    Closed { code: Option<u16> },
    #[error("the server says the document is unavailable")]
    Unavailable,
    #[error("not connected")]
    Offline,
    #[error("timed out waiting for the server")]
    Timeout,
    #[error("document: {0}")]
    Doc(#[from] DocError),
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("engine: {0}")]
    Engine(#[from] carnet_shared::engine::EngineError),
    #[error("websocket: {0}")]
    Socket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("wire: {0}")]
    Wire(#[from] carnet_shared::wire::WireError),
}

pub struct Device {
    pub peer_id: String,
    token: String,
    engine: Engine,
    socket: Option<Socket>,
    conn: u64,
    /// One actor per device and document (DESIGN §3).
    actors: HashMap<DocumentId, ActorId>,
    unavailable: Vec<DocumentId>,
}

impl Device {
    /// A device known to the server as `peer_id` (the one bound to `token`).
    pub fn new(peer_id: &str, token: &str) -> Self {
        let engine = Engine::new(EngineConfig {
            peer_id: peer_id.to_owned(),
            role: Role::Client,
            // Not ephemeral, with a storage id: the server keeps sync states for us.
            peer_metadata: PeerMetadata {
                storage_id: Some(uuid::Uuid::new_v4().to_string()),
                is_ephemeral: Some(false),
            },
            limits: EngineLimits::default(),
        });
        Self {
            peer_id: peer_id.to_owned(),
            token: token.to_owned(),
            engine,
            socket: None,
            conn: 0,
            actors: HashMap::new(),
            unavailable: Vec::new(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn document(&self, doc: &DocumentId) -> Option<&Automerge> {
        self.engine.document(doc)
    }

    pub fn is_online(&self) -> bool {
        self.socket.is_some()
    }

    /// Connects to `ws://addr/sync?token=…` and completes the handshake.
    pub async fn connect(&mut self, addr: std::net::SocketAddr) -> Result<(), DeviceError> {
        let url = format!("ws://{addr}/sync?token={}", self.token);
        let (socket, _) = connect_async(url).await.map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(response) => {
                DeviceError::Refused(response.status().to_string())
            }
            other => DeviceError::Socket(other),
        })?;
        self.socket = Some(socket);
        self.conn += 1;
        let step = self.engine.connect(
            self.conn,
            ConnectOptions {
                bound_peer: None,
                scope: Scope::all(Access::ReadWrite),
            },
        );
        self.send_step(step).await?;
        let conn = self.conn;
        self.pump_until(|engine, _| engine.is_open(conn)).await
    }

    /// Drops the connection (a tunnel, a dead battery): nothing is sent.
    pub async fn go_offline(&mut self) {
        if let Some(mut socket) = self.socket.take() {
            let _ = socket.close(None).await;
        }
        self.engine.disconnect(self.conn);
    }

    /// Asks the server for a document and waits until we hold its content.
    pub async fn open(&mut self, doc: DocumentId) -> Result<(), DeviceError> {
        let actor = self.actor(doc);
        let step = self.engine.want_document(doc, actor);
        self.send_step(step).await?;
        self.pump_until(|engine, unavailable| {
            unavailable.contains(&doc)
                || engine
                    .document(&doc)
                    .is_some_and(|d| !d.get_heads().is_empty() && engine.server_has_all(&doc))
        })
        .await?;
        if self.unavailable.contains(&doc) {
            return Err(DeviceError::Unavailable);
        }
        Ok(())
    }

    /// Edits a document with the shared model's writers (which work on `AutoCommit`), online or
    /// offline. Online, the change is sent at once.
    pub async fn edit<R>(
        &mut self,
        doc: DocumentId,
        f: impl FnOnce(&mut AutoCommit) -> Result<R, DocError>,
    ) -> Result<R, DeviceError> {
        let actor = self.actor(doc);
        let (result, step) = self
            .engine
            .with_doc_mut(doc, |data| -> Result<R, DeviceError> {
                let before = data.get_heads();
                let mut session = AutoCommit::load(&data.save())?.with_actor(actor);
                let out = f(&mut session)?;
                data.load_incremental(&session.save_after(&before))?;
                Ok(out)
            })?;
        let out = result?;
        if self.socket.is_some() {
            self.send_step(step).await?;
        }
        Ok(out)
    }

    /// Syncs until the server has acknowledged (stored) every change we hold of `doc`.
    pub async fn sync_until_acknowledged(&mut self, doc: DocumentId) -> Result<(), DeviceError> {
        self.pump_until(|engine, _| engine.server_has_all(&doc))
            .await
    }

    /// Syncs until `cond` holds on our copy of `doc`.
    pub async fn sync_until(
        &mut self,
        doc: DocumentId,
        cond: impl Fn(&Automerge) -> bool,
    ) -> Result<(), DeviceError> {
        self.pump_until(|engine, _| engine.document(&doc).is_some_and(&cond))
            .await
    }

    /// Reads frames until the socket closes; returns the close code.
    pub async fn wait_closed(&mut self) -> Result<Option<u16>, DeviceError> {
        match self.pump_until(|_, _| false).await {
            Err(DeviceError::Closed { code }) => Ok(code),
            Err(other) => Err(other),
            Ok(()) => Ok(None),
        }
    }

    fn actor(&mut self, doc: DocumentId) -> ActorId {
        self.actors
            .entry(doc)
            .or_insert_with(|| ActorId::from(*uuid::Uuid::new_v4().as_bytes()))
            .clone()
    }

    async fn send_step(&mut self, step: Step) -> Result<(), DeviceError> {
        for event in &step.events {
            if let Event::DocUnavailable { doc, .. } = event {
                self.unavailable.push(*doc);
            }
        }
        let socket = self.socket.as_mut().ok_or(DeviceError::Offline)?;
        for out in step.outbound {
            socket
                .send(Message::Binary(out.frame.encode()?.into()))
                .await?;
        }
        if !step.closes.is_empty() {
            self.go_offline().await;
            return Err(DeviceError::Closed { code: None });
        }
        Ok(())
    }

    async fn drain_to_close(&mut self) -> DeviceError {
        let mut code = None;
        if let Some(socket) = self.socket.as_mut() {
            let _ = tokio::time::timeout(HANG_GUARD, async {
                while let Some(Ok(message)) = socket.next().await {
                    if let Message::Close(frame) = message {
                        code = frame.map(|f| u16::from(f.code));
                        break;
                    }
                }
            })
            .await;
        }
        self.go_offline().await;
        DeviceError::Closed { code }
    }

    async fn pump_until(
        &mut self,
        cond: impl Fn(&Engine, &[DocumentId]) -> bool,
    ) -> Result<(), DeviceError> {
        let deadline = tokio::time::Instant::now() + HANG_GUARD;
        loop {
            if cond(&self.engine, &self.unavailable) {
                return Ok(());
            }
            let socket = self.socket.as_mut().ok_or(DeviceError::Offline)?;
            let next = tokio::time::timeout_at(deadline, socket.next())
                .await
                .map_err(|_| DeviceError::Timeout)?;
            match next {
                Some(Ok(Message::Binary(bytes))) => {
                    let step = self.engine.handle_frame(self.conn, &bytes);
                    if step.closes.is_empty() {
                        self.send_step(step).await?;
                    } else {
                        // The server sent `error` (or we refuse its frame): read on to its
                        // close frame, to report the close code.
                        return Err(self.drain_to_close().await);
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map(|f| u16::from(f.code));
                    self.socket = None;
                    self.engine.disconnect(self.conn);
                    return Err(DeviceError::Closed { code });
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    self.socket = None;
                    self.engine.disconnect(self.conn);
                    return Err(DeviceError::Closed { code: None });
                }
            }
        }
    }
}

/// Waits a little for the server to settle, e.g. before checking that nothing happened.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}
