//! The coordinators' night set-up and live progress, under `/api/nights/{night_id}/…`:
//! sector map import, team sector assignment, questionnaire publication, enrolment QR sheets,
//! progress (JSON, SVG map, HTML table); the retention purge of field-only free text and the
//! closing of the night (erasure from history, devices locked out).
//!
//! Every route takes the admin token or a coordinator token of that night. Documents are
//! changed through the sync actor ([`crate::sync::SyncHub::edit_document`]), so the change is
//! durable when the call returns and connected devices receive it at once.

mod db;
mod progress;
pub mod retention;
mod setup;
mod sheet;
mod svg;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use carnet_shared::ids::DocumentId;
use serde::Serialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{Principal, Role};
use crate::db::nights::{self, NightRecord};
use crate::error::ApiError;
use crate::sync::{DocumentEdit, DocumentSnapshot, SyncError};

pub use db::TeamRecord;
pub use sheet::{ENROLMENT_PAYLOAD_VERSION, EnrolmentPayload};

pub fn routes() -> Router<AppState> {
    setup::routes()
        .merge(sheet::routes())
        .merge(progress::routes())
        .merge(retention::routes())
}

/// An answer to a refused request: `{code, message}` as every API error, plus the list of
/// what is wrong (`issues`) when the body was refused item by item.
#[derive(Debug)]
pub enum CoordError {
    Api(ApiError),
    Rejected {
        code: &'static str,
        message: &'static str,
        issues: Vec<serde_json::Value>,
    },
}

impl From<ApiError> for CoordError {
    fn from(e: ApiError) -> Self {
        CoordError::Api(e)
    }
}

impl From<crate::db::DbError> for CoordError {
    fn from(e: crate::db::DbError) -> Self {
        CoordError::Api(e.into())
    }
}

#[derive(Serialize)]
struct RejectedBody<'a> {
    code: &'static str,
    message: &'static str,
    issues: &'a [serde_json::Value],
}

impl IntoResponse for CoordError {
    fn into_response(self) -> Response {
        match self {
            CoordError::Api(e) => e.into_response(),
            CoordError::Rejected {
                code,
                message,
                issues,
            } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(RejectedBody {
                    code,
                    message,
                    issues: &issues,
                }),
            )
                .into_response(),
        }
    }
}

/// Admin, or a coordinator whose token is for this night.
fn require_night_coordinator(principal: &Principal, night_id: Uuid) -> Result<(), ApiError> {
    principal.require_role(&[Role::Admin, Role::Coordinator])?;
    if principal.role == Role::Coordinator && principal.night_id != Some(night_id) {
        return Err(ApiError::forbidden());
    }
    Ok(())
}

fn parse_id(raw: &str, code: &'static str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found(code, "no such id"))
}

/// The night of the path, after checking the caller may run it.
async fn authorised_night(
    state: &AppState,
    principal: &Principal,
    raw_night: &str,
) -> Result<NightRecord, ApiError> {
    let night_id = parse_id(raw_night, "night_not_found")?;
    require_night_coordinator(principal, night_id)?;
    state
        .db
        .call(move |c| nights::night(c, night_id))
        .await?
        .ok_or(ApiError::not_found("night_not_found", "no such night"))
}

async fn team_of_night(
    state: &AppState,
    night_id: Uuid,
    raw_team: &str,
) -> Result<TeamRecord, ApiError> {
    let team_id = parse_id(raw_team, "team_not_found")?;
    state
        .db
        .call(move |c| db::team(c, night_id, team_id))
        .await?
        .ok_or(ApiError::not_found(
            "team_not_found",
            "no such team in this night",
        ))
}

fn sync_failed(error: SyncError) -> ApiError {
    tracing::error!(%error, "sync actor could not serve a coordinator request");
    ApiError::internal()
}

/// One stored document, or an internal error if the server lost it.
async fn read_one(state: &AppState, doc: DocumentId) -> Result<DocumentSnapshot, ApiError> {
    state
        .hub
        .read_documents(vec![doc])
        .await
        .map_err(sync_failed)?
        .into_iter()
        .find(|s| s.doc.is_some())
        .ok_or_else(|| {
            tracing::error!("a night or team document referenced by the database is missing");
            ApiError::internal()
        })
}

/// Applies `edit` to a stored document as a fresh server actor.
async fn edit(state: &AppState, doc: DocumentId, edit: DocumentEdit) -> Result<(), SyncError> {
    let actor = crate::docs::server_actor();
    state.hub.edit_document(doc, actor, edit).await
}
