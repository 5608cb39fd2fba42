//! Public procurement views (DESIGN §6): server-rendered HTML with inline SVG charts under
//! `/marches/…`, the same data as CSV (`?format=csv`) and as JSON under
//! `/api/procurement/…`. Every filter lives in the URL query (see [`filter`]).

pub mod chart;
pub mod cpv_divisions;
pub mod detail;
pub mod filter;
pub mod fmt;
pub mod live;
pub mod page;
pub mod pages;
pub mod redflags;
pub mod render;
pub mod schema;
pub mod stats;
pub mod summary;
pub mod supplier_keys;
pub mod thresholds;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::http::ProcurementState;
use super::ocds::OcdsConfig;
use super::pool::ProcurementDb;
use detail::DetailError;
use filter::{Filter, FilterError};
use page::Page;
use stats::Dimension;

/// Path prefix of the HTML views.
pub const BASE: &str = "/marches";
/// Path prefix of the JSON API.
pub const API: &str = "/api/procurement";

/// One view, resolved from the path after the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    Overview,
    OverTime,
    Buyers,
    Buyer(String),
    Suppliers,
    Supplier(String),
    Cpv,
    Procedures,
    Amounts,
    Amendments,
    Competition,
    Concentration,
    Quality,
    Contracts,
    Contract(i64),
    Flags,
    Flag(String),
}

impl View {
    /// `""`, `"acheteurs"`, `"acheteurs/123"`… (already percent-decoded by axum).
    pub fn resolve(rest: &str) -> Option<View> {
        let rest = rest.trim_matches('/');
        let (head, tail) = match rest.split_once('/') {
            Some((h, t)) => (h, Some(t)),
            None => (rest, None),
        };
        let head = head.strip_suffix(".csv").unwrap_or(head);
        Some(match (head, tail) {
            ("" | "synthese", None) => View::Overview,
            ("periodes", None) => View::OverTime,
            ("acheteurs", None) => View::Buyers,
            ("acheteurs", Some(id)) if !id.is_empty() => {
                View::Buyer(id.strip_suffix(".csv").unwrap_or(id).to_string())
            }
            ("titulaires", None) => View::Suppliers,
            ("titulaires", Some(id)) if !id.is_empty() => {
                View::Supplier(id.strip_suffix(".csv").unwrap_or(id).to_string())
            }
            ("cpv", None) => View::Cpv,
            ("procedures", None) => View::Procedures,
            ("montants", None) => View::Amounts,
            ("modifications", None) => View::Amendments,
            ("concurrence", None) => View::Competition,
            ("concentration", None) => View::Concentration,
            ("qualite", None) => View::Quality,
            ("contrats", None) => View::Contracts,
            ("contrats", Some(id)) => {
                View::Contract(id.strip_suffix(".csv").unwrap_or(id).parse().ok()?)
            }
            ("alertes", None) => View::Flags,
            ("alertes", Some(slug)) => {
                View::Flag(slug.strip_suffix(".csv").unwrap_or(slug).to_string())
            }
            _ => return None,
        })
    }
}

/// Navigation entries: (path under BASE, label).
pub const NAV: &[(&str, &str)] = &[
    ("", "Synthèse"),
    ("/periodes", "Dans le temps"),
    ("/acheteurs", "Acheteurs"),
    ("/titulaires", "Titulaires"),
    ("/cpv", "Secteurs (CPV)"),
    ("/procedures", "Procédures"),
    ("/montants", "Montants et seuils"),
    ("/modifications", "Modifications"),
    ("/concurrence", "Concurrence"),
    ("/concentration", "Concentration"),
    ("/alertes", "Alertes"),
    ("/qualite", "Qualité des données"),
    ("/contrats", "Contrats"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Html,
    Csv,
    Json,
}

#[derive(Debug, thiserror::Error)]
enum ViewError {
    #[error("{0}")]
    Filter(#[from] FilterError),
    #[error("page introuvable")]
    NotFound,
    #[error("erreur interne")]
    Internal,
}

/// What a request serves from: the derived data's rule for its readers and, while an
/// import runs, the notice its response carries.
struct Served {
    version: String,
    derived: schema::Derived,
    notice: Option<live::ImportNotice>,
}

/// Decides how this request serves the views (`now` from the state's clock): refreshes the
/// derived data first when it is stale and no import is alive (the writer is taken only
/// then), never while an import runs.
fn decide(db: &ProcurementDb, now: &str) -> Result<Served, ViewError> {
    let now = time::OffsetDateTime::parse(now, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            tracing::error!(error = %e, "procurement clock unreadable");
            ViewError::Internal
        })?;
    let basis = match db.read(|c| Ok::<_, ViewError>(live::basis(c, now)?))? {
        live::Basis::Stale => db.write(|c| Ok::<_, ViewError>(live::refresh_at(c, now)?))?,
        found => found,
    };
    let derived = basis.derived();
    Ok(match basis {
        live::Basis::Current(version) => Served {
            version,
            derived,
            notice: None,
        },
        live::Basis::Importing { version, notice } => Served {
            version,
            derived,
            notice: Some(notice),
        },
        // `refresh_at` never leaves it stale; computing is always correct.
        live::Basis::Stale => Served {
            version: String::new(),
            derived: schema::Derived::Matching,
            notice: None,
        },
    })
}

impl From<DetailError> for ViewError {
    fn from(e: DetailError) -> Self {
        match e {
            DetailError::NotFound => ViewError::NotFound,
            other => {
                tracing::error!(error = %other, "procurement view failed");
                ViewError::Internal
            }
        }
    }
}

impl From<crate::procurement::db::DbError> for ViewError {
    fn from(e: crate::procurement::db::DbError) -> Self {
        tracing::error!(error = %e, "procurement database unavailable");
        ViewError::Internal
    }
}

impl From<summary::SummaryError> for ViewError {
    fn from(e: summary::SummaryError) -> Self {
        tracing::error!(error = %e, "procurement summary refresh failed");
        ViewError::Internal
    }
}

impl From<rusqlite::Error> for ViewError {
    fn from(e: rusqlite::Error) -> Self {
        tracing::error!(error = %e, "procurement view query failed");
        ViewError::Internal
    }
}

pub fn router(state: ProcurementState) -> Router {
    Router::new()
        .route(BASE, get(html_root))
        .route(&format!("{BASE}/"), get(html_root))
        .route(&format!("{BASE}/{{*rest}}"), get(html_view))
        .route(API, get(api_root))
        .route(&format!("{API}/{{*rest}}"), get(api_view))
        .with_state(state)
}

fn ocds_config(state: &ProcurementState) -> OcdsConfig {
    OcdsConfig {
        ocid_prefix: state.ocid_prefix.clone(),
        publisher_name: state.publisher_name.clone(),
        base_url: Some(state.base_url.clone()),
        published_date: (state.clock)(),
    }
}

/// Built pages, keyed by database, data version, view and filter: the data only changes
/// with an import, so a page is computed once per import. Bounded; emptied when full.
type PageCache = Mutex<HashMap<String, Arc<Page>>>;
const CACHE_ENTRIES: usize = 512;

fn cache() -> &'static PageCache {
    static CACHE: OnceLock<PageCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Builds one page on a pooled read-only connection, or takes it from the cache. `f.derived`
/// and `version` come from [`decide`].
fn build(
    db: &ProcurementDb,
    version: &str,
    view: &View,
    f: &Filter,
    cfg: &OcdsConfig,
    by_year: bool,
) -> Result<Arc<Page>, ViewError> {
    let key = format!(
        "{}\u{0}{version}\u{0}{:?}\u{0}{view:?}\u{0}{}\u{0}{by_year}",
        db.path().display(),
        f.derived,
        f.to_query()
    );
    if let Ok(cache) = cache().lock()
        && let Some(page) = cache.get(&key)
    {
        return Ok(page.clone());
    }
    let page = Arc::new(db.read(|c| compute(c, view, f, cfg, by_year))?);
    if let Ok(mut cache) = cache().lock() {
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, page.clone());
    }
    Ok(page)
}

fn compute(
    conn: &rusqlite::Connection,
    view: &View,
    f: &Filter,
    cfg: &OcdsConfig,
    by_year: bool,
) -> Result<Page, ViewError> {
    match view {
        View::Contract(rowid) => Ok(detail::contract(conn, *rowid, cfg)?),
        other => compute_list(conn, other, f, by_year),
    }
}

/// Every view but the contract page (which needs the OCDS configuration).
fn compute_list(
    conn: &rusqlite::Connection,
    view: &View,
    f: &Filter,
    by_year: bool,
) -> Result<Page, ViewError> {
    Ok(match view {
        View::Overview => pages::overview(conn, f)?,
        View::OverTime => pages::over_time(conn, f, by_year)?,
        View::Buyers => pages::by_dimension(conn, f, Dimension::Buyer)?,
        View::Buyer(id) => detail::buyer(conn, id, f)?,
        View::Suppliers => pages::by_dimension(conn, f, Dimension::Supplier)?,
        View::Supplier(id) => detail::supplier(conn, id, f)?,
        View::Cpv => pages::by_dimension(conn, f, Dimension::CpvDivision)?,
        View::Procedures => pages::by_dimension(conn, f, Dimension::Procedure)?,
        View::Amounts => pages::amounts(conn, f)?,
        View::Amendments => pages::amendments(conn, f)?,
        View::Competition => pages::competition(conn, f)?,
        View::Concentration => pages::concentration(conn, f)?,
        View::Quality => pages::quality(conn, f)?,
        View::Contracts => detail::contracts(conn, f)?,
        View::Contract(_) => return Err(ViewError::NotFound),
        View::Flags => detail::flags_index(conn, f)?,
        View::Flag(slug) => detail::flag(conn, slug, f)?,
    })
}

async fn respond(
    state: ProcurementState,
    rest: String,
    query: Option<String>,
    api: bool,
) -> Response {
    let raw = query.unwrap_or_default();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&raw).unwrap_or_default();
    let value = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let format = if api {
        Format::Json
    } else if value("format") == Some("csv") || rest.ends_with(".csv") {
        Format::Csv
    } else if value("format") == Some("json") {
        Format::Json
    } else {
        Format::Html
    };
    let by_year = value("par") != Some("mois");
    let path = format!("{BASE}/{}", rest.trim_matches('/'))
        .trim_end_matches('/')
        .trim_end_matches(".csv")
        .to_string();
    let (view, filter) = match (View::resolve(&rest), Filter::parse(&pairs)) {
        (None, _) => return finish(Err(ViewError::NotFound), format, &path, by_year, None),
        (Some(_), Err(e)) => {
            return finish(Err(ViewError::Filter(e)), format, &path, by_year, None);
        }
        (Some(view), Ok(filter)) => (view, filter),
    };
    let db = state.db.clone();
    let now = (state.clock)();
    let served = match tokio::task::spawn_blocking(move || decide(&db, &now)).await {
        Ok(Ok(served)) => served,
        Ok(Err(e)) => return finish(Err(e), format, &path, by_year, None),
        Err(_) => return finish(Err(ViewError::Internal), format, &path, by_year, None),
    };
    let filter = Filter {
        derived: served.derived,
        ..filter
    };
    // Deeper pages of the contract lists read the contracts live (`stats::contracts`).
    let from_summaries = filter.is_empty()
        && summary::page_key(&view, by_year).is_some()
        && (filter.page == 1 || !matches!(view, View::Contracts | View::Flag(_)));
    let notice = served
        .notice
        .as_ref()
        .map(|n| (n, n.message(from_summaries)));
    if filter.is_empty()
        && filter.page == 1
        && path == summary::view_path(&view)
        && let Some(key) = summary::page_key(&view, by_year)
    {
        // Page 1 of an unfiltered view: stored by the last refresh.
        let rendering = match format {
            Format::Html => summary::Rendering::Html,
            Format::Csv => summary::Rendering::Csv,
            Format::Json => summary::Rendering::Json,
        };
        let db = state.db.clone();
        let derived = served.derived;
        let stored = tokio::task::spawn_blocking(move || {
            db.read(|c| summary::stored_page(c, &key, rendering, derived).map_err(ViewError::from))
        })
        .await;
        if let Ok(Ok(Some((body, slug)))) = stored {
            return page_response(body, &slug, format, notice);
        }
    }
    let result = computed(&state, &served.version, view, filter, by_year).await;
    finish(result, format, &path, by_year, notice)
}

/// A page's response in its format, with the import notice if any (stored pages are served
/// as they are; computed ones once rendered).
fn page_response(
    body: String,
    slug: &str,
    format: Format,
    notice: Option<(&live::ImportNotice, String)>,
) -> Response {
    let (extra, body) = live::with_notice(body, format, notice);
    let extra = live::header_map(extra);
    match format {
        Format::Html => (
            extra,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        Format::Csv => {
            let disposition = format!("attachment; filename=\"{slug}.csv\"");
            (
                extra,
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                body,
            )
                .into_response()
        }
        Format::Json => (extra, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
    }
}

async fn computed(
    state: &ProcurementState,
    version: &str,
    view: View,
    filter: Filter,
    by_year: bool,
) -> Result<(Arc<Page>, Filter), ViewError> {
    let cfg = ocds_config(state);
    let db = state.db.clone();
    let f = filter.clone();
    let version = version.to_string();
    match tokio::task::spawn_blocking(move || build(&db, &version, &view, &f, &cfg, by_year)).await
    {
        Ok(r) => r.map(|p| (p, filter)),
        Err(_) => Err(ViewError::Internal),
    }
}

fn finish(
    result: Result<(Arc<Page>, Filter), ViewError>,
    format: Format,
    path: &str,
    by_year: bool,
    notice: Option<(&live::ImportNotice, String)>,
) -> Response {
    match (result, format) {
        (Ok((page, f)), Format::Html) => match render::html(&page, &f, path, by_year) {
            Ok(body) => page_response(body, &page.slug, format, notice),
            Err(e) => {
                tracing::error!(error = %e, "procurement template failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "erreur interne").into_response()
            }
        },
        (Ok((page, _)), Format::Csv) => {
            page_response(page::to_csv(&page.main_table()), &page.slug, format, notice)
        }
        (Ok((page, f)), Format::Json) => page_response(
            page.to_json(&f.pairs()).to_string(),
            &page.slug,
            format,
            notice,
        ),
        (Err(e), format) => {
            let status = match e {
                ViewError::Filter(_) => StatusCode::BAD_REQUEST,
                ViewError::NotFound => StatusCode::NOT_FOUND,
                ViewError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            };
            match format {
                Format::Json => (
                    status,
                    [(header::CONTENT_TYPE, "application/json")],
                    serde_json::json!({"error": e.to_string()}).to_string(),
                )
                    .into_response(),
                _ => match render::error(status.as_u16(), &e.to_string()) {
                    Ok(body) => (
                        status,
                        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                        body,
                    )
                        .into_response(),
                    Err(_) => (status, e.to_string()).into_response(),
                },
            }
        }
    }
}

async fn html_root(State(state): State<ProcurementState>, RawQuery(q): RawQuery) -> Response {
    respond(state, String::new(), q, false).await
}

async fn html_view(
    State(state): State<ProcurementState>,
    Path(rest): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    respond(state, rest, q, false).await
}

async fn api_root(State(state): State<ProcurementState>, RawQuery(q): RawQuery) -> Response {
    respond(state, String::new(), q, true).await
}

async fn api_view(
    State(state): State<ProcurementState>,
    Path(rest): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    respond(state, rest, q, true).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_views() {
        assert_eq!(View::resolve(""), Some(View::Overview));
        assert_eq!(View::resolve("acheteurs"), Some(View::Buyers));
        assert_eq!(
            View::resolve("acheteurs/213 75"),
            Some(View::Buyer("213 75".into()))
        );
        assert_eq!(View::resolve("contrats/12"), Some(View::Contract(12)));
        assert_eq!(View::resolve("contrats/x"), None);
        assert_eq!(View::resolve("cpv.csv"), Some(View::Cpv));
        assert_eq!(
            View::resolve("alertes/offre-unique"),
            Some(View::Flag("offre-unique".into()))
        );
        assert_eq!(View::resolve("inconnu"), None);
    }
}
