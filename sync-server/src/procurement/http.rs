//! `/ocds/...` routes: release and record packages (paginated, filtered), one
//! contracting process by ocid, and the local DECP extension files.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

use super::ocds::{self, OcdsConfig};
use super::pool::ProcurementDb;
use super::publish::{self, ContractFilter, Page, PublishError};

/// Returns the current time as RFC 3339 (injected so tests control it).
pub type Clock = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Clone)]
pub struct ProcurementState {
    /// The server's SQLite file: migrated once, connections shared by all requests.
    pub db: Arc<ProcurementDb>,
    pub ocid_prefix: String,
    pub publisher_name: String,
    /// Public base URL (e.g. `https://carnet.example.org`), used for package URIs and
    /// the extension link.
    pub base_url: String,
    pub clock: Clock,
}

impl ProcurementState {
    fn config(&self) -> OcdsConfig {
        OcdsConfig {
            ocid_prefix: self.ocid_prefix.clone(),
            publisher_name: self.publisher_name.clone(),
            base_url: Some(self.base_url.clone()),
            published_date: (self.clock)(),
        }
    }
}

pub const EXTENSION_JSON: &str = include_str!("extension/extension.json");
pub const EXTENSION_SCHEMA: &str = include_str!("extension/release-schema.json");

pub fn router(state: ProcurementState) -> Router {
    Router::new()
        .route("/ocds/releases", get(releases))
        .route("/ocds/records", get(records))
        .route("/ocds/releases/{ocid}", get(release_by_ocid))
        .route("/ocds/records/{ocid}", get(record_by_ocid))
        .route(
            "/ocds/extension/extension.json",
            get(|| async { json_text(EXTENSION_JSON) }),
        )
        .route(
            "/ocds/extension/release-schema.json",
            get(|| async { json_text(EXTENSION_SCHEMA) }),
        )
        .with_state(state)
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    pub page: Option<u32>,
    pub per_page: Option<u32>,
    /// Keyset cursor (rowid of the last contract of the previous page), as given by the
    /// `Link: rel="next"` header.
    pub after: Option<i64>,
    #[serde(flatten)]
    pub filter: ContractFilter,
}

fn json_text(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn json_response(v: &Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PublishError> + Send + 'static,
) -> Result<T, PublishError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(_) => Err(PublishError::Corrupt(-1)),
    }
}

enum Kind {
    Releases,
    Records,
}

fn failure(e: &PublishError) -> Response {
    match e {
        PublishError::UnknownCursor(_) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        _ => {
            tracing::error!(error = %e, "ocds publication failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "erreur interne").into_response()
        }
    }
}

/// The filter and page size as a query string, for the `Link` header.
fn list_query(filter: &ContractFilter, per_page: u32) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for (k, v) in [
        ("buyer", &filter.buyer),
        ("supplier", &filter.supplier),
        ("cpv", &filter.cpv),
        ("date_from", &filter.date_from),
        ("date_to", &filter.date_to),
    ] {
        if let Some(v) = v {
            pairs.push((k, v.clone()));
        }
    }
    pairs.push(("per_page", per_page.to_string()));
    serde_urlencoded::to_string(&pairs).unwrap_or_default()
}

async fn list(state: ProcurementState, q: ListQuery, kind: Kind) -> Response {
    let page = Page {
        page: q.page.unwrap_or(1).max(1),
        per_page: q.per_page.unwrap_or(100).clamp(1, publish::MAX_PER_PAGE),
        after: q.after,
    };
    let cfg = state.config();
    let path = match kind {
        Kind::Releases => "releases",
        Kind::Records => "records",
    };
    let position = match page.after {
        Some(after) => format!("after={after}"),
        None => format!("page={}", page.page),
    };
    let uri = format!(
        "{}/ocds/{path}?{position}&{}",
        state.base_url,
        list_query(&q.filter, page.per_page)
    );
    let db = state.db.clone();
    let filter = q.filter.clone();
    let result = blocking(move || {
        db.read(|conn| {
            let total = db.cached_count(conn, &format!("ocds {filter:?}"), |c| {
                publish::count(c, &filter)
            })?;
            let stored = publish::contracts(conn, &filter, page)?;
            let last = stored.last().map(|s| s.rowid);
            let full = stored.len() == page.per_page as usize;
            let package = match kind {
                Kind::Releases => ocds::release_package(
                    &cfg,
                    &uri,
                    stored
                        .iter()
                        .flat_map(|s| ocds::releases(&cfg, &s.contract, &s.cpv))
                        .collect(),
                ),
                Kind::Records => ocds::record_package(
                    &cfg,
                    &uri,
                    stored
                        .iter()
                        .map(|s| ocds::record(ocds::releases(&cfg, &s.contract, &s.cpv)))
                        .collect(),
                ),
            };
            // A full page may have a successor; the cursor makes it as cheap as the first.
            Ok((total, package, last.filter(|_| full)))
        })
    })
    .await;
    match result {
        Ok((total, package, next_after)) => {
            let mut response = json_response(&package);
            if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
                response.headers_mut().insert("x-total-count", v);
            }
            if let Some(after) = next_after {
                let next = format!(
                    "<{}/ocds/{path}?after={after}&{}>; rel=\"next\"",
                    state.base_url,
                    list_query(&q.filter, page.per_page)
                );
                if let Ok(v) = HeaderValue::from_str(&next) {
                    response.headers_mut().insert(header::LINK, v);
                }
            }
            response
        }
        Err(e) => failure(&e),
    }
}

async fn releases(State(state): State<ProcurementState>, Query(q): Query<ListQuery>) -> Response {
    list(state, q, Kind::Releases).await
}

async fn records(State(state): State<ProcurementState>, Query(q): Query<ListQuery>) -> Response {
    list(state, q, Kind::Records).await
}

async fn one(state: ProcurementState, ocid: String, kind: Kind) -> Response {
    let cfg = state.config();
    let path = match kind {
        Kind::Releases => "releases",
        Kind::Records => "records",
    };
    let uri = format!("{}/ocds/{path}/{ocid}", state.base_url);
    let db = state.db.clone();
    let result = blocking(move || {
        let Some(stored) = db.read(|conn| publish::by_ocid(conn, &cfg, &ocid))? else {
            return Ok(None);
        };
        let releases = ocds::releases(&cfg, &stored.contract, &stored.cpv);
        Ok(Some(match kind {
            Kind::Releases => ocds::release_package(&cfg, &uri, releases),
            Kind::Records => ocds::record_package(&cfg, &uri, vec![ocds::record(releases)]),
        }))
    })
    .await;
    match result {
        Ok(Some(package)) => json_response(&package),
        Ok(None) => (StatusCode::NOT_FOUND, "procédure inconnue").into_response(),
        Err(e) => failure(&e),
    }
}

async fn release_by_ocid(
    State(state): State<ProcurementState>,
    Path(ocid): Path<String>,
) -> Response {
    one(state, ocid, Kind::Releases).await
}

async fn record_by_ocid(
    State(state): State<ProcurementState>,
    Path(ocid): Path<String>,
) -> Response {
    one(state, ocid, Kind::Records).await
}
