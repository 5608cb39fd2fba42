//! Test support for the `net` driver tests: a tiny, faithful server host around a server-role
//! `Engine` and a SQLite `Store` on 127.0.0.1, and waiting helpers.
//!
//! The host follows the engine's driver contract exactly (load documents and sync states the
//! engine asks for, apply writes durably, then send frames, then close), so it doubles as a
//! reference for the real server's integration.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::result_large_err
)]

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use carnet_shared::engine::{
    Access, ConnId, ConnectOptions, Engine, EngineConfig, EngineLimits, Role, Scope, Step,
};
use carnet_shared::net::{ClientHandle, SyncStatus};
use carnet_shared::store::Store;
use carnet_shared::wire::{Frame, PeerMetadata};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

/// Upper bound for anything a test waits for (a safety net, not a measured threshold).
pub const PATIENCE: Duration = Duration::from_secs(30);

enum Out {
    Frame(Vec<u8>),
    Close,
}

struct Host {
    engine: Engine,
    store: Arc<StdMutex<Store>>,
    conns: HashMap<ConnId, mpsc::UnboundedSender<Out>>,
    next: ConnId,
}

#[derive(Default)]
pub struct Observed {
    /// The `Authorization` header and the query string of each upgrade request.
    pub upgrades: Vec<(Option<String>, Option<String>)>,
    /// `request`/`sync` frames received (counted even when muted).
    pub sync_frames: usize,
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub store_path: PathBuf,
    pub observed: Arc<StdMutex<Observed>>,
    tasks: Arc<StdMutex<Vec<JoinHandle<()>>>>,
}

impl TestServer {
    /// Starts a server on `127.0.0.1:port` (0: any) with its store in `store_path`.
    /// `mute`: completes handshakes but never hands `request`/`sync` frames to the engine
    /// (a server that never acknowledges anything).
    pub async fn start(store_path: &Path, port: u16, mute: bool) -> Self {
        let store = Store::open(store_path).unwrap();
        let engine = Engine::new(EngineConfig {
            peer_id: "test-server".into(),
            role: Role::Server,
            peer_metadata: PeerMetadata {
                storage_id: Some("test-server-storage".into()),
                is_ephemeral: Some(false),
            },
            limits: EngineLimits::default(),
        });
        let host = Arc::new(Mutex::new(Host {
            engine,
            store: Arc::new(StdMutex::new(store)),
            conns: HashMap::new(),
            next: 1,
        }));
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let observed = Arc::new(StdMutex::new(Observed::default()));
        let tasks = Arc::new(StdMutex::new(Vec::new()));
        let accept = {
            let (observed, tasks) = (observed.clone(), tasks.clone());
            tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let (host, observed) = (host.clone(), observed.clone());
                    let task = tokio::spawn(serve(host, observed, tcp, mute));
                    tasks.lock().unwrap().push(task);
                }
            })
        };
        tasks.lock().unwrap().push(accept);
        Self {
            addr,
            store_path: store_path.to_owned(),
            observed,
            tasks,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/sync", self.addr)
    }

    /// Kills the server: listener and every connection dropped at once (no goodbye).
    pub fn kill(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// A fresh read of the server's store file.
    pub fn stored(&self, doc: &carnet_shared::ids::DocumentId) -> Option<automerge::Automerge> {
        Store::open(&self.store_path)
            .unwrap()
            .load_automerge(doc)
            .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn serve(
    host: Arc<Mutex<Host>>,
    observed: Arc<StdMutex<Observed>>,
    tcp: tokio::net::TcpStream,
    mute: bool,
) {
    let seen = observed.clone();
    let callback = move |req: &Request, resp: Response| {
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let query = req.uri().query().map(str::to_owned);
        seen.lock().unwrap().upgrades.push((auth, query));
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let conn = {
        let mut h = host.lock().await;
        let conn = h.next;
        h.next += 1;
        h.conns.insert(conn, tx);
        let step = h.engine.connect(
            conn,
            ConnectOptions {
                bound_peer: None,
                scope: Scope::all(Access::ReadWrite),
            },
        );
        apply(&mut h, step).await;
        conn
    };
    loop {
        tokio::select! {
            biased;
            out = rx.recv() => match out {
                Some(Out::Frame(bytes)) => {
                    if ws.send(Message::Binary(bytes.into())).await.is_err() { break; }
                }
                Some(Out::Close) | None => { let _ = ws.close(None).await; break; }
            },
            msg = ws.next() => match msg {
                Some(Ok(Message::Binary(bytes))) => {
                    let mut h = host.lock().await;
                    on_frame(&mut h, &observed, conn, &bytes, mute).await;
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let mut h = host.lock().await;
    h.conns.remove(&conn);
    h.engine.disconnect(conn);
}

async fn on_frame(
    h: &mut Host,
    observed: &StdMutex<Observed>,
    conn: ConnId,
    bytes: &[u8],
    mute: bool,
) {
    let frame = match h.engine.decode_frame(bytes) {
        Ok(frame) => frame,
        Err(_) => {
            let step = h.engine.handle_frame(conn, bytes);
            return apply(h, step).await;
        }
    };
    if matches!(frame, Frame::Request(_) | Frame::Sync(_)) {
        observed.lock().unwrap().sync_frames += 1;
        if mute {
            return;
        }
    }
    if let Some(doc) = h.engine.needs_document(conn, &frame) {
        let stored = blocking(&h.store, move |s| s.load_document(&doc).unwrap()).await;
        if let Some(stored) = stored {
            let step = h.engine.load_document(doc, &stored).unwrap();
            apply(h, step).await;
        }
    }
    if let Some((doc, key)) = h.engine.needs_sync_state(conn, &frame) {
        let stored = blocking(&h.store, move |s| s.load_sync_state(&doc, &key).unwrap()).await;
        if let Some(stored) = stored {
            h.engine.load_sync_state(conn, doc, &stored).unwrap();
        }
    }
    let step = h.engine.handle_decoded(conn, frame);
    apply(h, step).await;
}

/// Writes durably, then frames, then closes (the engine's contract).
async fn apply(h: &mut Host, step: Step) {
    let writes = step.writes;
    if !writes.is_empty() {
        blocking(&h.store, move |s| s.apply(&writes).unwrap()).await;
    }
    for out in step.outbound {
        if let Some(tx) = h.conns.get(&out.conn) {
            let _ = tx.send(Out::Frame(out.frame.encode().unwrap()));
        }
    }
    for close in step.closes {
        if let Some(tx) = h.conns.remove(&close.conn) {
            let _ = tx.send(Out::Close);
        }
    }
}

async fn blocking<T: Send + 'static>(
    store: &Arc<StdMutex<Store>>,
    f: impl FnOnce(&mut Store) -> T + Send + 'static,
) -> T {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&mut store.lock().unwrap()))
        .await
        .unwrap()
}

/// A port nothing listens on (yet).
pub async fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// Waits until the client's status satisfies `pred`; panics with the last status otherwise.
pub async fn wait_status(
    client: &ClientHandle,
    what: &str,
    pred: impl Fn(&SyncStatus) -> bool,
) -> SyncStatus {
    let mut rx = client.status();
    let waited = tokio::time::timeout(PATIENCE, async {
        loop {
            {
                let s = rx.borrow_and_update();
                if pred(&s) {
                    return s.clone();
                }
            }
            if rx.changed().await.is_err() {
                return rx.borrow().clone();
            }
        }
    })
    .await;
    match waited {
        Ok(s) if pred(&s) => s,
        _ => panic!("timed out waiting for {what}; status: {:?}", *rx.borrow()),
    }
}

/// Polls `f` until it returns `Some` (for conditions that are not in the status).
pub async fn eventually<T, Fut: Future<Output = Option<T>>>(what: &str, f: impl Fn() -> Fut) -> T {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
