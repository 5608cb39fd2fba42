//! The climate volunteers' API under `/api/climate` (coordinator or admin tokens unless said):
//!
//! - `POST /api/climate/kit`: body = a kit file (`shared/kits/FORMAT.md`); parsed with a
//!   report, then published in the `kit` document (made on first use);
//! - `PUT /api/climate/alert-level`: `{"level": "vert" | "jaune" | "orange" | "rouge"}`;
//! - `POST /api/climate/places?kind=cool-room|green-space|fountain&format=csv|geojson`: body =
//!   an open-data export; the places of that kind are replaced (only differences are written);
//! - `POST /api/climate/groups`: `{"name", "codes"}` → a group with its `field` document and
//!   single-use enrolment codes;
//! - `POST /api/climate/enrol` (public): `{"code"}` → a `volunteer` token (its group's field
//!   document read-write, the kit read-only);
//! - `GET /api/climate/kit` (also volunteers): the kit document as JSON;
//! - `GET /api/climate/progress`: visits, items and alerts per arrondissement.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use automerge::AutoCommit;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use carnet_shared::climate::{
    self, AlertLevel, KitDocument, KitReport, PlaceKind, PlacesReport, Progress,
};
use carnet_shared::doc::DocError;
use carnet_shared::ids::DocumentId;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ApiJson, ScopeView, TokenIssued, random_document_id, random_uuid, sync_failed};
use crate::app::AppState;
use crate::auth::{Access, EnrolmentCode, PeerId, Principal, Role, Scope, TokenId, TokenSecret};
use crate::db::climate::{self as db, NewGroup};
use crate::db::nights::EnrolRefusal;
use crate::db::tokens::NewToken;
use crate::error::ApiError;
use crate::sync::{DocumentEdit, SyncError};

/// Open-data exports with polygons (green spaces) run to several megabytes.
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;
pub const MAX_CODES_PER_GROUP: u32 = 50;
/// Places written per Automerge change, so that an import is many small changes.
const PLACES_PER_CHANGE: usize = 200;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/climate/kit", post(publish_kit).get(read_kit))
        .route("/api/climate/alert-level", put(set_alert_level))
        .route("/api/climate/places", post(import_places))
        .route("/api/climate/groups", post(create_group))
        .route("/api/climate/enrol", post(enrol))
        .route("/api/climate/progress", get(progress))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
}

const COORDINATORS: &[Role] = &[Role::Admin, Role::Coordinator];

/// A 422 with the parser's own description of what is wrong (line/column, missing field).
fn unprocessable(code: &'static str, detail: impl Serialize) -> Response {
    #[derive(Serialize)]
    struct Body<D> {
        code: &'static str,
        message: &'static str,
        detail: D,
    }
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(Body {
            code,
            message: "the file cannot be imported",
            detail,
        }),
    )
        .into_response()
}

fn utf8(body: &Bytes) -> Result<&str, ApiError> {
    std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("not_utf8", "the file must be UTF-8 text"))
}

/// The kit document, made (empty, level green) on first use.
async fn kit_document(state: &AppState) -> Result<DocumentId, ApiError> {
    if let Some(doc) = state.db.call(|c| db::kit_document(c)).await? {
        return Ok(doc);
    }
    let now = state.now();
    let mut doc = AutoCommit::new().with_actor(crate::docs::server_actor());
    climate::create_kit_doc(&mut doc, now).map_err(|error| {
        tracing::error!(%error, "could not build the kit document");
        ApiError::internal()
    })?;
    doc.commit();
    let id = random_document_id();
    state
        .hub
        .create_documents(vec![(id, doc.document().clone())])
        .await
        .map_err(sync_failed)?;
    // If another request made one meanwhile, theirs is kept; ours stays unreferenced.
    Ok(state
        .db
        .call(move |c| db::set_kit_document(c, id, now))
        .await?)
}

/// Runs `edit` on a stored document as a fresh server actor.
async fn edit(state: &AppState, doc: DocumentId, edit: DocumentEdit) -> Result<(), ApiError> {
    state
        .hub
        .edit_document(doc, crate::docs::server_actor(), edit)
        .await
        .map_err(|error| match error {
            SyncError::Edit(error) => {
                tracing::error!(%error, "a climate document refused an edit");
                ApiError::new(
                    StatusCode::CONFLICT,
                    "document_refused",
                    "the stored document does not accept this change",
                )
            }
            other => sync_failed(other),
        })
}

/// Reads a stored document through the sync actor (which holds its latest state).
async fn read<T: Send + 'static>(
    state: &AppState,
    doc: DocumentId,
    f: impl FnOnce(&AutoCommit) -> Result<T, DocError> + Send + 'static,
) -> Result<T, ApiError> {
    let slot: Arc<Mutex<Option<T>>> = Arc::default();
    let out = Arc::clone(&slot);
    edit(
        state,
        doc,
        Box::new(move |d| {
            let value = f(d)?;
            if let Ok(mut slot) = out.lock() {
                *slot = Some(value);
            }
            Ok(())
        }),
    )
    .await?;
    let value = slot.lock().ok().and_then(|mut s| s.take());
    value.ok_or_else(ApiError::internal)
}

#[derive(Debug, Serialize, Deserialize)]
pub struct KitPublished {
    pub document_id: String,
    pub document_url: String,
    pub report: KitReport,
}

/// `POST /api/climate/kit`.
async fn publish_kit(
    State(state): State<AppState>,
    principal: Principal,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require_role(COORDINATORS)?;
    let import = match climate::parse_kit(utf8(&body)?) {
        Ok(import) => import,
        Err(error) => return Ok(unprocessable("invalid_kit", error)),
    };
    let doc = kit_document(&state).await?;
    let now = state.now();
    let kit = import.kit;
    edit(
        &state,
        doc,
        Box::new(move |d| {
            climate::publish_kit(d, &kit, now)?;
            d.commit();
            Ok(())
        }),
    )
    .await?;
    tracing::info!(by = %principal.peer_id, clean = import.report.is_clean(), "kit published");
    Ok(Json(KitPublished {
        document_id: doc.to_bs58check(),
        document_url: doc.url(),
        report: import.report,
    })
    .into_response())
}

/// `GET /api/climate/kit`.
async fn read_kit(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<KitDocument>, ApiError> {
    principal.require_role(&[Role::Admin, Role::Coordinator, Role::Volunteer])?;
    let doc = kit_document(&state).await?;
    Ok(Json(read(&state, doc, climate::read_kit_doc).await?))
}

#[derive(Debug, Deserialize)]
pub struct SetLevel {
    pub level: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LevelSet {
    pub level: AlertLevel,
    pub label: String,
    pub set_at: i64,
}

/// `PUT /api/climate/alert-level`.
async fn set_alert_level(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<SetLevel>,
) -> Result<Json<LevelSet>, ApiError> {
    principal.require_role(COORDINATORS)?;
    let level = AlertLevel::from_code(body.level.trim()).ok_or(ApiError::bad_request(
        "invalid_level",
        "the level must be vert, jaune, orange or rouge",
    ))?;
    let doc = kit_document(&state).await?;
    let now = state.now();
    edit(
        &state,
        doc,
        Box::new(move |d| {
            climate::set_alert_level(d, level, now)?;
            d.commit();
            Ok(())
        }),
    )
    .await?;
    tracing::info!(by = %principal.peer_id, level = level.code(), "alert level set");
    Ok(Json(LevelSet {
        level,
        label: level.label_fr().to_owned(),
        set_at: now,
    }))
}

#[derive(Debug, Deserialize)]
pub struct PlacesQuery {
    pub kind: String,
    pub format: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PlacesImported {
    pub kind: PlaceKind,
    pub report: PlacesReport,
    /// Places new or changed in the kit document.
    pub written: usize,
    /// Places of this kind no longer in the data, removed.
    pub removed: usize,
}

/// `POST /api/climate/places?kind=…&format=csv|geojson`.
async fn import_places(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<PlacesQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require_role(COORDINATORS)?;
    let kind = PlaceKind::from_code(&query.kind).ok_or(ApiError::bad_request(
        "invalid_kind",
        "kind must be cool-room, green-space or fountain",
    ))?;
    let text = utf8(&body)?;
    let imported = match query.format.as_deref().unwrap_or("csv") {
        "csv" => climate::import_places_csv(text, kind),
        "geojson" | "json" => climate::import_places_geojson(text, kind),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_format",
                "format must be csv or geojson",
            ));
        }
    };
    let import = match imported {
        Ok(import) => import,
        Err(error) => return Ok(unprocessable("invalid_places", error)),
    };
    let doc = kit_document(&state).await?;
    let places = import.places;
    let counts: Arc<Mutex<(usize, usize)>> = Arc::default();
    let out = Arc::clone(&counts);
    edit(
        &state,
        doc,
        Box::new(move |d| {
            let mut written = 0;
            for chunk in places.chunks(PLACES_PER_CHANGE) {
                written += climate::upsert_places(d, chunk)?;
                d.commit();
            }
            let keep: BTreeSet<String> = places.iter().map(|p| p.id.clone()).collect();
            let removed = climate::remove_places_except(d, kind, &keep)?;
            d.commit();
            if let Ok(mut out) = out.lock() {
                *out = (written, removed);
            }
            Ok(())
        }),
    )
    .await?;
    let (written, removed) = counts.lock().map(|c| *c).unwrap_or_default();
    tracing::info!(
        kind = kind.code(),
        imported = import.report.imported,
        problems = import.report.problems.len(),
        written,
        removed,
        "places imported"
    );
    Ok(Json(PlacesImported {
        kind,
        report: import.report,
        written,
        removed,
    })
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct CreateGroup {
    pub name: String,
    pub codes: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct GroupCreated {
    pub group_id: Uuid,
    pub name: String,
    pub document_id: String,
    pub document_url: String,
    pub kit_document_url: String,
    /// Single-use codes, shown this once.
    pub enrolment_codes: Vec<String>,
}

/// `POST /api/climate/groups`.
async fn create_group(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateGroup>,
) -> Result<(StatusCode, Json<GroupCreated>), ApiError> {
    principal.require_role(COORDINATORS)?;
    let name = super::check_name(&body.name)?;
    let codes = body.codes.unwrap_or(super::DEFAULT_CODES_PER_TEAM);
    if !(1..=MAX_CODES_PER_GROUP).contains(&codes) {
        return Err(ApiError::bad_request(
            "invalid_codes",
            "codes must be between 1 and 50",
        ));
    }
    // The kit first: an enrolled volunteer always gets it.
    let kit = kit_document(&state).await?;
    let id = random_uuid();
    let mut doc = AutoCommit::new().with_actor(crate::docs::server_actor());
    climate::create_field_doc(&mut doc, id, &name).map_err(|error| {
        tracing::error!(%error, "could not build a field document");
        ApiError::internal()
    })?;
    doc.commit();
    let document_id = random_document_id();
    state
        .hub
        .create_documents(vec![(document_id, doc.document().clone())])
        .await
        .map_err(sync_failed)?;
    let codes: Vec<EnrolmentCode> = (0..codes).map(|_| EnrolmentCode::generate()).collect();
    let group = NewGroup {
        id,
        name: name.clone(),
        document_id,
        code_hashes: codes.iter().map(EnrolmentCode::hash).collect(),
    };
    let now = state.now();
    let created = state
        .db
        .call(move |c| db::create_group(c, &group, now))
        .await?;
    if !created {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "duplicate_group_name",
            "a group of that name already exists",
        ));
    }
    tracing::info!(group_id = %id, codes = codes.len(), "volunteer group created");
    Ok((
        StatusCode::CREATED,
        Json(GroupCreated {
            group_id: id,
            name,
            document_id: document_id.to_bs58check(),
            document_url: document_id.url(),
            kit_document_url: kit.url(),
            enrolment_codes: codes.iter().map(EnrolmentCode::display_form).collect(),
        }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct Enrol {
    pub code: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct VolunteerEnrolled {
    #[serde(flatten)]
    pub token: TokenIssued,
    pub group_id: Uuid,
    pub group_name: String,
    pub field_document_url: String,
    pub kit_document_url: String,
}

/// `POST /api/climate/enrol` (public).
async fn enrol(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Enrol>,
) -> Result<(StatusCode, Json<VolunteerEnrolled>), ApiError> {
    let unknown = ApiError::not_found("unknown_code", "this enrolment code does not exist");
    let code = EnrolmentCode::parse_typed(&body.code).ok_or(unknown)?;
    let code_hash = code.hash();
    let secret = TokenSecret::generate();
    let token = NewToken {
        id: TokenId(random_uuid()),
        secret_hash: secret.hash(),
        role: Role::Volunteer,
        peer_id: PeerId::for_role(Role::Volunteer, rand::rng().random()),
        night_id: None,
        team_id: None,
        label: None,
        created_at: state.now(),
        expires_at: None,
    };
    let row = token.clone();
    let enrolment = match state
        .db
        .call(move |c| db::enrol_volunteer(c, &code_hash, row))
        .await?
    {
        Ok(enrolment) => enrolment,
        Err(EnrolRefusal::UnknownCode) => return Err(unknown),
        Err(EnrolRefusal::AlreadyUsed) => {
            tracing::info!("volunteer enrolment refused: code already used");
            return Err(ApiError::new(
                StatusCode::GONE,
                "code_used",
                "this enrolment code has already been used",
            ));
        }
    };
    let mut scope = Scope::default();
    scope.grant(enrolment.field_document, Access::ReadWrite);
    scope.grant(enrolment.kit_document, Access::ReadOnly);
    tracing::info!(token_id = %token.id, peer_id = %token.peer_id, group_id = %enrolment.group_id, "volunteer enrolled");
    Ok((
        StatusCode::CREATED,
        Json(VolunteerEnrolled {
            token: TokenIssued {
                token: secret.into_exposed(),
                token_id: token.id,
                peer_id: token.peer_id,
                role: Role::Volunteer,
                night_id: None,
                team_id: None,
                expires_at: None,
                scope: ScopeView::from(&scope),
            },
            group_id: enrolment.group_id,
            group_name: enrolment.group_name,
            field_document_url: enrolment.field_document.url(),
            kit_document_url: enrolment.kit_document.url(),
        }),
    ))
}

/// `GET /api/climate/progress`.
async fn progress(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Progress>, ApiError> {
    principal.require_role(COORDINATORS)?;
    let groups = state.db.call(|c| db::groups(c)).await?;
    let mut fields = Vec::with_capacity(groups.len());
    for (_, _, doc) in groups {
        fields.push(read(&state, doc, climate::read_field).await?);
    }
    Ok(Json(climate::progress(&fields)))
}

#[cfg(test)]
#[path = "climate_tests.rs"]
mod tests;
