//! The JSON API under `/api`: nights, teams, enrolment, coordinator tokens, revocation.
//!
//! Randomness (ids, secrets, codes, actor ids) and time are produced here, at the edge, and
//! passed down to the database and document functions.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use carnet_shared::ids::DocumentId;
use rand::RngExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{Access, EnrolmentCode, PeerId, Principal, Role, Scope, TokenId, TokenSecret};
use crate::db::nights::{self, CreateTeamsOutcome, EnrolRefusal, NewTeam, NightRecord};
use crate::db::tokens::{self, NewToken};
use crate::docs;
use crate::error::ApiError;
use crate::sync::{DocumentEdit, SyncError};

pub mod climate;
pub mod report;

/// Bounds on one request, so a typo cannot create a million codes.
pub const MAX_TEAMS_PER_REQUEST: usize = 1000;
pub const MAX_CODES_PER_TEAM: u32 = 50;
pub const DEFAULT_CODES_PER_TEAM: u32 = 5;
const MAX_NAME_CHARS: usize = 200;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/me", get(me))
        .route("/api/nights", post(create_night))
        .route("/api/nights/{night_id}/teams", post(create_teams))
        .route(
            "/api/nights/{night_id}/coordinator-tokens",
            post(create_coordinator_token),
        )
        .route("/api/enrol", post(enrol))
        .route("/api/tokens/{token_id}/revoke", post(revoke))
}

/// A JSON body whose rejection is an [`ApiError`] (the default is plain text).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| ApiJson(v))
            .map_err(|rejection: JsonRejection| {
                ApiError::new(
                    rejection.status(),
                    "invalid_body",
                    "the request body is not the expected JSON",
                )
            })
    }
}

fn random_uuid() -> Uuid {
    uuid::Builder::from_random_bytes(rand::rng().random()).into_uuid()
}

fn random_document_id() -> DocumentId {
    DocumentId::from_bytes(rand::rng().random())
}

fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::bad_request(
            "invalid_name",
            "a name must have between 1 and 200 characters",
        ));
    }
    Ok(name.to_owned())
}

fn parse_path_id(raw: &str, what: &'static str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found(what, "no such id"))
}

/// One document a token may sync.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScopeEntry {
    pub document_id: String,
    pub document_url: String,
    pub access: Access,
}

/// A scope as the API shows it.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScopeView {
    /// Set for tokens that reach every document (admin).
    pub all_documents: Option<Access>,
    pub documents: Vec<ScopeEntry>,
}

impl From<&Scope> for ScopeView {
    fn from(scope: &Scope) -> Self {
        Self {
            all_documents: scope.all_documents(),
            documents: scope
                .documents()
                .map(|(doc, access)| ScopeEntry {
                    document_id: doc.to_bs58check(),
                    document_url: doc.url(),
                    access,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MeResponse {
    pub token_id: TokenId,
    pub peer_id: PeerId,
    pub role: Role,
    pub night_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub scope: ScopeView,
}

/// `GET /api/me`: who this token is and what it may sync.
async fn me(principal: Principal) -> Json<MeResponse> {
    Json(MeResponse {
        token_id: principal.token_id,
        scope: ScopeView::from(&principal.scope),
        peer_id: principal.peer_id,
        role: principal.role,
        night_id: principal.night_id,
        team_id: principal.team_id,
    })
}

#[derive(Debug, Deserialize)]
pub struct CreateNight {
    pub name: String,
    /// Calendar date of the count, e.g. `2026-01-22`.
    pub date: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct NightCreated {
    pub night_id: Uuid,
    pub name: String,
    pub date: Option<String>,
    pub document_id: String,
    pub document_url: String,
}

/// `POST /api/nights` (admin).
async fn create_night(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateNight>,
) -> Result<(StatusCode, Json<NightCreated>), ApiError> {
    principal.require_role(&[Role::Admin])?;
    let name = check_name(&body.name)?;
    let now = state.now();
    let night_date = body
        .date
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    let night = NightRecord {
        id: random_uuid(),
        name,
        night_date,
        document_id: random_document_id(),
        created_at: now,
    };
    let date = night
        .night_date
        .clone()
        .unwrap_or_else(|| docs::utc_date(now));
    if !carnet_shared::model::is_iso_date(&date) {
        return Err(ApiError::bad_request(
            "invalid_date",
            "the date must be YYYY-MM-DD",
        ));
    }
    let document = docs::night_document(rand::rng().random(), night.id, &night.name, &date, now)
        .map_err(|error| {
            tracing::error!(%error, "could not build a night document");
            ApiError::internal()
        })?;
    // The document first: a night row never points at a document that is not stored.
    state
        .hub
        .create_documents(vec![(night.document_id, document)])
        .await
        .map_err(sync_failed)?;
    let record = night.clone();
    state
        .db
        .call(move |c| nights::create_night(c, &record))
        .await?;
    tracing::info!(night_id = %night.id, "night created");
    Ok((
        StatusCode::CREATED,
        Json(NightCreated {
            night_id: night.id,
            name: night.name,
            date: night.night_date,
            document_id: night.document_id.to_bs58check(),
            document_url: night.document_id.url(),
        }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct TeamSpec {
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct CreateTeams {
    pub teams: Vec<TeamSpec>,
    pub codes_per_team: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TeamCreated {
    pub team_id: Uuid,
    pub name: String,
    pub document_id: String,
    pub document_url: String,
    /// Single-use codes, shown this once (only their hashes are stored).
    pub enrolment_codes: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TeamsCreated {
    pub night_id: Uuid,
    pub teams: Vec<TeamCreated>,
}

/// `POST /api/nights/{night_id}/teams` (admin, or a coordinator of that night).
async fn create_teams(
    State(state): State<AppState>,
    principal: Principal,
    Path(night_id): Path<String>,
    ApiJson(body): ApiJson<CreateTeams>,
) -> Result<(StatusCode, Json<TeamsCreated>), ApiError> {
    let night_id = parse_path_id(&night_id, "night_not_found")?;
    principal.require_role(&[Role::Admin, Role::Coordinator])?;
    if principal.role == Role::Coordinator && principal.night_id != Some(night_id) {
        return Err(ApiError::forbidden());
    }
    if body.teams.is_empty() || body.teams.len() > MAX_TEAMS_PER_REQUEST {
        return Err(ApiError::bad_request(
            "invalid_teams",
            "give between 1 and 1000 teams",
        ));
    }
    let codes_per_team = body.codes_per_team.unwrap_or(DEFAULT_CODES_PER_TEAM);
    if !(1..=MAX_CODES_PER_TEAM).contains(&codes_per_team) {
        return Err(ApiError::bad_request(
            "invalid_codes_per_team",
            "codes_per_team must be between 1 and 50",
        ));
    }
    let now = state.now();
    let night = state
        .db
        .call(move |c| nights::night(c, night_id))
        .await?
        .ok_or(ApiError::not_found("night_not_found", "no such night"))?;
    let mut new_teams = Vec::with_capacity(body.teams.len());
    let mut documents = Vec::with_capacity(body.teams.len());
    let mut shown = Vec::with_capacity(body.teams.len());
    for spec in &body.teams {
        let name = check_name(&spec.name)?;
        let id = random_uuid();
        let document_id = random_document_id();
        let document = docs::team_document(rand::rng().random(), night_id, id, &name, now)
            .map_err(|error| {
                tracing::error!(%error, "could not build a team document");
                ApiError::internal()
            })?;
        documents.push((document_id, document));
        let codes: Vec<EnrolmentCode> = (0..codes_per_team)
            .map(|_| EnrolmentCode::generate())
            .collect();
        new_teams.push(NewTeam {
            id,
            name: name.clone(),
            document_id,
            code_hashes: codes.iter().map(EnrolmentCode::hash).collect(),
        });
        shown.push(TeamCreated {
            team_id: id,
            name,
            document_id: document_id.to_bs58check(),
            document_url: document_id.url(),
            enrolment_codes: codes.iter().map(EnrolmentCode::display_form).collect(),
        });
    }
    // Documents first, so that no team row ever points at a missing document. If the rows
    // are then refused (duplicate name), the documents stay unreferenced: no token grants them.
    state
        .hub
        .create_documents(documents)
        .await
        .map_err(sync_failed)?;
    let count = new_teams.len();
    let refs: Vec<(Uuid, String)> = new_teams
        .iter()
        .map(|t| (t.id, t.document_id.url()))
        .collect();
    let outcome = state
        .db
        .call(move |c| nights::create_teams(c, night_id, &new_teams, now))
        .await?;
    match outcome {
        CreateTeamsOutcome::Created => {
            index_teams(&state, night.document_id, refs, now).await;
            tracing::info!(%night_id, teams = count, codes_per_team, "teams created");
            Ok((
                StatusCode::CREATED,
                Json(TeamsCreated {
                    night_id,
                    teams: shown,
                }),
            ))
        }
        CreateTeamsOutcome::NightNotFound => {
            Err(ApiError::not_found("night_not_found", "no such night"))
        }
        CreateTeamsOutcome::DuplicateName => Err(ApiError::new(
            StatusCode::CONFLICT,
            "duplicate_team_name",
            "a team of that name already exists in this night",
        )),
    }
}

/// Adds the new teams to the night document's team index, as one server change per team in
/// one edit. The teams exist once their rows are committed: a failure here is logged, not
/// returned (devices get their team document at enrolment; the index is for browsing).
async fn index_teams(state: &AppState, night_doc: DocumentId, refs: Vec<(Uuid, String)>, now: i64) {
    let edit: DocumentEdit = Box::new(move |night| {
        for (team, url) in &refs {
            carnet_shared::doc::put_team_ref(night, &docs::team_id_of(*team), url, now)?;
        }
        Ok(())
    });
    let actor = crate::docs::server_actor();
    if let Err(error) = state.hub.edit_document(night_doc, actor, edit).await {
        tracing::error!(%error, "could not add teams to the night index");
    }
}

fn sync_failed(error: SyncError) -> ApiError {
    tracing::error!(%error, "could not store a document");
    ApiError::internal()
}

/// A freshly made token, shown once.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenIssued {
    pub token: String,
    pub token_id: TokenId,
    pub peer_id: PeerId,
    pub role: Role,
    pub night_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub expires_at: Option<i64>,
    pub scope: ScopeView,
}

#[derive(Debug, Default, Deserialize)]
pub struct CreateCoordinatorToken {
    pub label: Option<String>,
    /// Access to the night document; read-only unless asked.
    pub night_access: Option<Access>,
    /// Access to the night's team documents; read-only unless asked.
    pub team_access: Option<Access>,
    pub expires_in_seconds: Option<u32>,
}

/// `POST /api/nights/{night_id}/coordinator-tokens` (admin).
async fn create_coordinator_token(
    State(state): State<AppState>,
    principal: Principal,
    Path(night_id): Path<String>,
    ApiJson(body): ApiJson<CreateCoordinatorToken>,
) -> Result<(StatusCode, Json<TokenIssued>), ApiError> {
    let night_id = parse_path_id(&night_id, "night_not_found")?;
    principal.require_role(&[Role::Admin])?;
    let label = body.label.as_deref().map(check_name).transpose()?;
    let now = state.now();
    let expires_at = body
        .expires_in_seconds
        .map(|s| now.saturating_add(i64::from(s) * 1000));
    let secret = TokenSecret::generate();
    let token = NewToken {
        id: TokenId(random_uuid()),
        secret_hash: secret.hash(),
        role: Role::Coordinator,
        peer_id: PeerId::for_role(Role::Coordinator, rand::rng().random()),
        night_id: Some(night_id),
        team_id: None,
        label,
        created_at: now,
        expires_at,
    };
    let night_access = body.night_access.unwrap_or(Access::ReadOnly);
    let team_access = body.team_access.unwrap_or(Access::ReadOnly);
    let row = token.clone();
    let scope = state
        .db
        .call(move |c| {
            match tokens::create_coordinator_token(c, &row, night_access, team_access)? {
                Some(()) => tokens::resolve_scope(c, row.id, row.role).map(Some),
                None => Ok(None),
            }
        })
        .await?
        .ok_or(ApiError::not_found("night_not_found", "no such night"))?;
    tracing::info!(token_id = %token.id, peer_id = %token.peer_id, %night_id, "coordinator token created");
    Ok((
        StatusCode::CREATED,
        Json(TokenIssued {
            token: secret.into_exposed(),
            token_id: token.id,
            peer_id: token.peer_id,
            role: token.role,
            night_id: token.night_id,
            team_id: None,
            expires_at,
            scope: ScopeView::from(&scope),
        }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct Enrol {
    pub code: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Enrolled {
    #[serde(flatten)]
    pub token: TokenIssued,
    pub team_name: String,
    /// The team document, read-write.
    pub team_document_url: String,
    /// The night document, read-only.
    pub night_document_url: String,
}

/// `POST /api/enrol` (public): spends a code, returns the device's token.
async fn enrol(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Enrol>,
) -> Result<(StatusCode, Json<Enrolled>), ApiError> {
    let unknown = ApiError::not_found("unknown_code", "this enrolment code does not exist");
    let code = EnrolmentCode::parse_typed(&body.code).ok_or(unknown)?;
    let code_hash = code.hash();
    let now = state.now();
    let secret = TokenSecret::generate();
    let token = NewToken {
        id: TokenId(random_uuid()),
        secret_hash: secret.hash(),
        role: Role::TeamMember,
        peer_id: PeerId::for_role(Role::TeamMember, rand::rng().random()),
        night_id: None,
        team_id: None,
        label: None,
        created_at: now,
        expires_at: None,
    };
    let row = token.clone();
    let enrolment = state
        .db
        .call(move |c| nights::enrol(c, &code_hash, row))
        .await?;
    let enrolment = match enrolment {
        Ok(enrolment) => enrolment,
        Err(EnrolRefusal::UnknownCode) => return Err(unknown),
        Err(EnrolRefusal::AlreadyUsed) => {
            tracing::info!("enrolment refused: code already used");
            return Err(ApiError::new(
                StatusCode::GONE,
                "code_used",
                "this enrolment code has already been used",
            ));
        }
    };
    let mut scope = Scope::default();
    scope.grant(enrolment.team_document, Access::ReadWrite);
    scope.grant(enrolment.night_document, Access::ReadOnly);
    tracing::info!(
        token_id = %token.id,
        peer_id = %token.peer_id,
        team_id = %enrolment.team_id,
        "device enrolled"
    );
    Ok((
        StatusCode::CREATED,
        Json(Enrolled {
            token: TokenIssued {
                token: secret.into_exposed(),
                token_id: token.id,
                peer_id: token.peer_id,
                role: Role::TeamMember,
                night_id: Some(enrolment.night_id),
                team_id: Some(enrolment.team_id),
                expires_at: None,
                scope: ScopeView::from(&scope),
            },
            team_name: enrolment.team_name,
            team_document_url: enrolment.team_document.url(),
            night_document_url: enrolment.night_document.url(),
        }),
    ))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Revoked {
    pub token_id: TokenId,
    /// False if it had been revoked before.
    pub newly_revoked: bool,
}

/// `POST /api/tokens/{token_id}/revoke`: admin, or a coordinator for the devices of its night
/// (a lost phone is reported to night HQ). Live sockets of the token close at once.
async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(token_id): Path<String>,
) -> Result<Json<Revoked>, ApiError> {
    let not_found = ApiError::not_found("token_not_found", "no such token");
    let token_id = TokenId(parse_path_id(&token_id, "token_not_found")?);
    principal.require_role(&[Role::Admin, Role::Coordinator])?;
    let info = state
        .db
        .call(move |c| tokens::token_info(c, token_id))
        .await?
        .ok_or(not_found)?;
    if principal.role == Role::Coordinator
        && (info.role != Role::TeamMember || info.night_id != principal.night_id)
    {
        return Err(ApiError::forbidden());
    }
    let now = state.now();
    let newly_revoked = state
        .db
        .call(move |c| tokens::revoke_token(c, token_id, now))
        .await?;
    // After the database: a socket that authenticates from now on is refused, and one that
    // authenticated just before subscribes to a channel that is already `true`.
    state.revocations.revoke(token_id);
    tracing::info!(%token_id, by = %principal.peer_id, newly_revoked, "token revoked");
    Ok(Json(Revoked {
        token_id,
        newly_revoked,
    }))
}
