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

use carnet_shared::engine::EngineLimits;
use carnet_shared::store::{CompactionPolicy, Store};

use crate::db::Db;
use crate::revocation::Revocations;
use crate::sync::{ActorConfig, SyncError, SyncHub};

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
    /// Bounds on the work one sync peer can cause (changes per message, documents per peer,
    /// payload size). `max_frame_bytes` is taken from `max_message_bytes`.
    pub sync_limits: EngineLimits,
    /// When the chunks of a document are folded into one snapshot.
    pub compaction: CompactionPolicy,
    /// OCDS ocid prefix of the published procurement data (registered with the OCDS helpdesk).
    pub ocid_prefix: String,
    /// Public base URL, used in OCDS package URIs and links.
    pub public_base_url: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 1024 * 1024,
            server_peer_id: "carnet-server".to_owned(),
            max_sockets_per_token: 8,
            sync_limits: EngineLimits {
                max_frame_bytes: 1024 * 1024,
                max_sync_payload_bytes: 1024 * 1024,
                max_changes_per_message: 20_000,
                max_documents_per_peer: 1_024,
            },
            compaction: CompactionPolicy::default(),
            ocid_prefix: "ocds-carnet".to_owned(),
            public_base_url: "http://127.0.0.1:8787".to_owned(),
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
    /// Starts the sync actor on the chunk store in the same SQLite file as `db` (in memory
    /// when `db` is), with compaction on its own connection for a file.
    pub fn new(db: Db, config: ServerConfig) -> Result<Self, SyncError> {
        let (store, compaction_store) = match db.path() {
            Some(path) => (
                secure_delete(Store::open(path)?)?,
                Some(secure_delete(Store::open(path)?)?),
            ),
            None => (Store::open_in_memory()?, None),
        };
        let mut limits = config.sync_limits.clone();
        limits.max_frame_bytes = config.max_message_bytes;
        limits.max_sync_payload_bytes = limits.max_sync_payload_bytes.min(config.max_message_bytes);
        let hub = SyncHub::start(
            ActorConfig {
                server_peer_id: config.server_peer_id.clone(),
                limits,
                compaction: config.compaction,
            },
            store,
            compaction_store,
        )?;
        Ok(Self {
            db,
            hub: Arc::new(hub),
            revocations: Revocations::default(),
            config: Arc::new(config),
            clock: Arc::new(system_now_ms),
        })
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

/// `PRAGMA secure_delete = ON`: what a store connection deletes (chunks of an old history,
/// chunks folded by compaction) is overwritten with zeros, in the page and in freed overflow
/// pages, rather than left readable in free space of the file (DESIGN §8, retention).
fn secure_delete(store: Store) -> Result<Store, SyncError> {
    store
        .connection()
        .pragma_update(None, "secure_delete", "ON")
        .map_err(carnet_shared::store::StoreError::from)?;
    Ok(store)
}

fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The whole HTTP surface. Testable without a socket (`tower::ServiceExt::oneshot`).
pub fn router(state: AppState) -> Router {
    let procurement = procurement_state(&state);
    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .route("/sync", get(crate::sync::sync_handler))
        .merge(crate::api::routes())
        .merge(crate::api::climate::routes())
        .merge(crate::coord::routes())
        .merge(crate::api::report::routes())
        .with_state(state);
    // The procurement tables live in their own file beside the server's; an in-memory server
    // (tests) has no file to put it beside, so it serves the sync and API routes only.
    if let Some(procurement) = procurement {
        app = app
            .merge(crate::procurement::http::router(procurement.clone()))
            .merge(crate::procurement::views::router(procurement));
    }
    app.layer(middleware::from_fn(log_request))
}

fn procurement_state(state: &AppState) -> Option<crate::procurement::http::ProcurementState> {
    let db = crate::procurement::pool::ProcurementDb::new(crate::procurement::db::path_for(
        state.db.path()?,
    ));
    // Migrated here, once; a failure is logged and retried by the first request.
    if let Err(e) = db.prepare() {
        tracing::error!(error = %e, "procurement tables not ready");
    }
    Some(crate::procurement::http::ProcurementState {
        db: Arc::new(db),
        ocid_prefix: state.config.ocid_prefix.clone(),
        publisher_name: "Ville de Paris".to_owned(),
        base_url: state.config.public_base_url.clone(),
        clock: Arc::new(rfc3339_now),
    })
}

fn rfc3339_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
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
