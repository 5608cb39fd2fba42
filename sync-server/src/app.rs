//! Application state, the router and the launcher.

use std::future::Future;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::db::Db;
use crate::revocation::Revocations;
use crate::sync::SyncHub;

/// Unix milliseconds. Injected so tests can move time (token expiry).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Limits and identity of this server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest WebSocket message (and frame) accepted on `/sync`; a bigger one closes the
    /// connection (DESIGN §4: automerge inflates data before checking it).
    pub max_message_bytes: usize,
    /// The server's automerge-repo peer id, sent as `senderId`.
    pub server_peer_id: String,
    /// Live sockets one token may hold (a device reconnecting on a flaky network may briefly
    /// have two); more are refused with 429 so one token cannot exhaust the server.
    pub max_sockets_per_token: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 1024 * 1024,
            server_peer_id: "carnet-server".to_owned(),
            max_sockets_per_token: 8,
        }
    }
}

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub hub: Arc<SyncHub>,
    pub revocations: Revocations,
    pub config: Arc<ServerConfig>,
    clock: Clock,
}

impl AppState {
    pub fn new(db: Db, config: ServerConfig) -> Self {
        Self {
            db,
            hub: Arc::new(SyncHub::new(config.server_peer_id.clone())),
            revocations: Revocations::default(),
            config: Arc::new(config),
            clock: Arc::new(system_now_ms),
        }
    }

    /// Replaces the wall clock (unix milliseconds).
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    pub fn now(&self) -> i64 {
        (self.clock)()
    }
}

fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The whole HTTP surface. Testable without a socket (`tower::ServiceExt::oneshot`).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/sync", get(crate::sync::sync_handler))
        .merge(crate::api::routes())
        // Procurement views and API plug in here: `.merge(crate::procurement::routes())`.
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

/// Request log: method, path, status, duration. Only the path: the query string may hold a
/// token (`/sync?token=…`).
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// Serves `state` on `listener` until `shutdown` completes, then closes live sync sockets
/// (code 1001) and waits for in-flight HTTP requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let hub = Arc::clone(&state.hub);
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            hub.shutdown();
        })
        .await
}
