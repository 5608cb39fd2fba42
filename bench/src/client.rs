//! The load client: one client-role [`Engine`] per simulated device over one WebSocket,
//! speaking automerge-repo's protocol (join → peer, then sync). No storage: the engine's
//! storage writes are dropped, since only the server's work is measured.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context, bail};
use carnet_shared::engine::{
    Access, ConnId, ConnectOptions, Engine, EngineConfig, EngineLimits, Event, Role, Scope, Step,
};
use carnet_shared::ids::DocumentId;
use carnet_shared::wire::PeerMetadata;
use futures_util::{SinkExt, StreamExt};
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;

/// The one connection a client engine has.
const CONN: ConnId = 1;

/// Where and as whom a simulated device connects.
#[derive(Debug, Clone)]
pub struct Seat {
    /// `ws://127.0.0.1:<port>/sync`
    pub ws_url: String,
    /// Bearer token (our server); `None` for the Node server, which has no auth.
    pub token: Option<String>,
    /// The peer id to announce: the one bound to the token on our server.
    pub peer_id: String,
}

impl Seat {
    /// A client engine for this seat. Storage-less and ephemeral, like a device that does not
    /// advertise a storage id, so that neither server keeps per-peer sync states.
    pub fn engine(&self) -> Engine {
        Engine::new(EngineConfig {
            peer_id: self.peer_id.clone(),
            role: Role::Client,
            peer_metadata: PeerMetadata {
                storage_id: None,
                is_ephemeral: Some(true),
            },
            limits: EngineLimits::default(),
        })
    }
}

/// When a session has done its job.
#[derive(Debug, Clone)]
pub enum Goal {
    /// The server's announced heads cover every change of our copy (`server_has_all`).
    Acked(DocumentId),
    /// For every document: we hold exactly the heads the server announced (a download is
    /// complete), or the server said it is unavailable.
    Mirror(Vec<DocumentId>),
}

#[derive(Debug)]
pub struct Session {
    pub engine: Engine,
    /// Documents the server answered `doc-unavailable` for.
    pub unavailable: Vec<DocumentId>,
    /// From the start of the connection attempt to the goal.
    pub elapsed: Duration,
}

type WsSink = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;

/// Connects, syncs until `goal` holds, then closes the socket. Fails at `deadline`.
pub async fn run(
    seat: &Seat,
    mut engine: Engine,
    goal: &Goal,
    deadline: Instant,
) -> anyhow::Result<Session> {
    let started = Instant::now();
    let mut request = seat
        .ws_url
        .as_str()
        .into_client_request()
        .context("building the WebSocket request")?;
    if let Some(token) = &seat.token {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .context("token is not a valid header value")?;
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    let (ws, _) = timeout_at(deadline, tokio_tungstenite::connect_async(request))
        .await
        .context("timed out connecting")?
        .context("WebSocket connection failed")?;
    let (mut sink, mut stream) = ws.split();

    let mut pending: HashSet<DocumentId> = match goal {
        Goal::Acked(doc) => HashSet::from([*doc]),
        Goal::Mirror(docs) => docs.iter().copied().collect(),
    };
    let mut unavailable = Vec::new();
    let step = engine.connect(
        CONN,
        ConnectOptions {
            bound_peer: None,
            scope: Scope::all(Access::ReadWrite),
        },
    );
    let mut touched = send_step(&mut sink, step, &mut unavailable).await?;
    loop {
        // Only documents an event mentioned can have reached the goal since the last check.
        for doc in touched.drain() {
            if pending.contains(&doc) && reached(&engine, goal, &doc, &unavailable) {
                pending.remove(&doc);
            }
        }
        if pending.is_empty() {
            break;
        }
        let message = timeout_at(deadline, stream.next())
            .await
            .with_context(|| format!("timed out with {} document(s) pending", pending.len()))?;
        match message {
            Some(Ok(Message::Binary(bytes))) => {
                let step = engine.handle_frame(CONN, &bytes);
                touched = send_step(&mut sink, step, &mut unavailable).await?;
            }
            Some(Ok(Message::Close(_))) | None => bail!("the server closed the connection"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e).context("WebSocket error"),
        }
    }
    let elapsed = started.elapsed();
    // Best effort: the measurement is taken, a slow close must not hold the run.
    let _ = tokio::time::timeout(Duration::from_secs(2), sink.close()).await;
    engine.disconnect(CONN);
    Ok(Session {
        engine,
        unavailable,
        elapsed,
    })
}

fn reached(engine: &Engine, goal: &Goal, doc: &DocumentId, unavailable: &[DocumentId]) -> bool {
    match goal {
        Goal::Acked(_) => engine.server_has_all(doc),
        Goal::Mirror(_) => {
            if unavailable.contains(doc) {
                return true;
            }
            let Some(data) = engine.document(doc) else {
                return false;
            };
            let mut ours = data.get_heads();
            if ours.is_empty() {
                return false;
            }
            let Some(theirs) = engine.server_heads(doc) else {
                return false;
            };
            let mut theirs = theirs.to_vec();
            ours.sort();
            theirs.sort();
            ours == theirs
        }
    }
}

/// Sends a step's frames (batched, one flush) and returns the documents its events mention.
async fn send_step(
    sink: &mut WsSink,
    step: Step,
    unavailable: &mut Vec<DocumentId>,
) -> anyhow::Result<HashSet<DocumentId>> {
    if let Some(close) = step.closes.first() {
        bail!("the client engine closed the connection: {}", close.reason);
    }
    let mut touched = HashSet::new();
    for event in step.events {
        match event {
            Event::DocumentChanged { doc, .. } | Event::RemoteHeads { doc, .. } => {
                touched.insert(doc);
            }
            Event::DocUnavailable { doc, .. } => {
                unavailable.push(doc);
                touched.insert(doc);
            }
            Event::PeerJoined { .. } => {}
        }
    }
    if step.outbound.is_empty() {
        return Ok(touched);
    }
    for out in step.outbound {
        let bytes = out.frame.encode().context("encoding a frame")?;
        sink.feed(Message::binary(bytes))
            .await
            .context("sending a frame")?;
    }
    sink.flush().await.context("sending frames")?;
    Ok(touched)
}
