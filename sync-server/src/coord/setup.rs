//! Night set-up: the sector map (GeoJSON import, all or nothing), the sectors of each team,
//! the questionnaire version the teams answer.

use std::collections::BTreeSet;
use std::sync::mpsc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{post, put};
use axum::{Json, Router};
use carnet_shared::doc::{self, DocError};
use carnet_shared::geo::{FeatureIssue, FeatureProblem, Severity, import_sectors};
use carnet_shared::model::{QuestionnaireDefinition, SectorId};
use carnet_shared::questionnaire::validate_definition;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{CoordError, authorised_night, edit, read_one, sync_failed, team_of_night};
use crate::api::ApiJson;
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::sync::SyncError;

/// A sector map of Paris with detailed shapes is a few MiB; refuse more than this.
pub const MAX_SECTOR_MAP_BYTES: usize = 32 * 1024 * 1024;
pub const MAX_QUESTIONNAIRE_BYTES: usize = 1024 * 1024;
pub const MAX_SECTORS_PER_TEAM: usize = 200;
const QUESTIONNAIRE_NOT_NEWER: &str = "questionnaire version must increase";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/nights/{night_id}/sectors",
            post(import_map).layer(DefaultBodyLimit::max(MAX_SECTOR_MAP_BYTES)),
        )
        .route(
            "/api/nights/{night_id}/teams/{team_id}/sectors",
            put(assign_sectors),
        )
        .route(
            "/api/nights/{night_id}/questionnaire",
            post(publish_questionnaire).layer(DefaultBodyLimit::max(MAX_QUESTIONNAIRE_BYTES)),
        )
}

/// An import finding as the API shows it: the shared issue plus its French message.
fn issue_json(issue: &FeatureIssue) -> Value {
    let mut value = serde_json::to_value(issue).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("message".into(), Value::String(issue.problem.message_fr()));
    }
    value
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ImportedSector {
    pub sector_id: String,
    pub name: String,
    pub arrondissement: Option<u8>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SectorsImported {
    pub night_id: Uuid,
    pub sectors: Vec<ImportedSector>,
    /// Sectors of the previous map that the new one no longer has (removed).
    pub removed: Vec<String>,
    /// Imported anyway, for the coordinator to look at (e.g. no arrondissement).
    pub warnings: Vec<Value>,
}

/// `POST /api/nights/{night_id}/sectors`: the body is the GeoJSON FeatureCollection. The new
/// map replaces the night's map as a whole, or nothing changes (422 with every issue).
async fn import_map(
    State(state): State<AppState>,
    principal: Principal,
    Path(night_id): Path<String>,
    body: Bytes,
) -> Result<Json<SectorsImported>, CoordError> {
    let night = authorised_night(&state, &principal, &night_id).await?;
    let refused = |issues: Vec<FeatureIssue>| CoordError::Rejected {
        code: "invalid_sectors",
        message: "the sector map was refused; nothing was imported",
        issues: issues.iter().map(issue_json).collect(),
    };
    let text = std::str::from_utf8(&body).map_err(|_| {
        refused(vec![FeatureIssue {
            index: None,
            severity: Severity::Error,
            problem: FeatureProblem::NotJson,
        }])
    })?;
    let import = import_sectors(text).map_err(refused)?;
    let now = state.now();
    let sectors = import.sectors.clone();
    let (removed_tx, removed_rx) = mpsc::channel();
    edit(
        &state,
        night.document_id,
        Box::new(move |night_doc| {
            // Read inside the edit, so that two imports never interleave their removals.
            let current = doc::read_night(night_doc)?;
            let new: BTreeSet<&SectorId> = sectors.iter().map(|(id, _)| id).collect();
            let removed: Vec<SectorId> = current
                .sectors
                .into_keys()
                .filter(|id| !new.contains(id))
                .collect();
            for (id, sector) in &sectors {
                doc::put_sector(night_doc, id, sector, now)?;
            }
            for id in &removed {
                doc::remove_sector(night_doc, id, now)?;
            }
            let _ = removed_tx.send(removed);
            Ok(())
        }),
    )
    .await
    .map_err(sync_failed)?;
    let removed = removed_rx.try_recv().unwrap_or_default();
    tracing::info!(night_id = %night.id, sectors = import.sectors.len(), removed = removed.len(), "sector map imported");
    Ok(Json(SectorsImported {
        night_id: night.id,
        sectors: import
            .sectors
            .into_iter()
            .map(|(id, s)| ImportedSector {
                sector_id: id.0,
                name: s.name,
                arrondissement: s.arrondissement,
            })
            .collect(),
        removed: removed.into_iter().map(|id| id.0).collect(),
        warnings: import.warnings.iter().map(issue_json).collect(),
    }))
}

#[derive(Debug, Deserialize)]
pub struct AssignSectors {
    pub sectors: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SectorsAssigned {
    pub team_id: Uuid,
    pub sectors: Vec<String>,
}

/// `PUT /api/nights/{night_id}/teams/{team_id}/sectors`: `{sectors: [id…]}` replaces the
/// team's sectors; every id must be a sector of the night's map (422 lists the unknown ones).
async fn assign_sectors(
    State(state): State<AppState>,
    principal: Principal,
    Path((night_id, team_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<AssignSectors>,
) -> Result<Json<SectorsAssigned>, CoordError> {
    let night = authorised_night(&state, &principal, &night_id).await?;
    let team = team_of_night(&state, night.id, &team_id).await?;
    if body.sectors.len() > MAX_SECTORS_PER_TEAM {
        return Err(
            ApiError::bad_request("invalid_sectors", "at most 200 sectors per team").into(),
        );
    }
    let snapshot = read_one(&state, night.document_id).await?;
    let map = snapshot
        .doc
        .as_ref()
        .map(doc::read_night)
        .transpose()
        .map_err(|error| {
            tracing::error!(%error, "night document unreadable");
            ApiError::internal()
        })?
        .map(|n| n.sectors)
        .unwrap_or_default();
    let unknown: Vec<Value> = body
        .sectors
        .iter()
        .enumerate()
        .filter(|(_, id)| !map.contains_key(&SectorId((*id).clone())))
        .map(|(index, id)| serde_json::json!({"index": index, "sector_id": id, "code": "unknownSector"}))
        .collect();
    if !unknown.is_empty() {
        return Err(CoordError::Rejected {
            code: "unknown_sectors",
            message: "some sectors are not in this night's sector map; nothing was changed",
            issues: unknown,
        });
    }
    let wanted: BTreeSet<SectorId> = body.sectors.into_iter().map(SectorId).collect();
    let now = state.now();
    let assigned = wanted.clone();
    edit(
        &state,
        team.document_id,
        Box::new(move |team_doc| doc::set_team_sectors(team_doc, &assigned, now)),
    )
    .await
    .map_err(sync_failed)?;
    tracing::info!(team_id = %team.id, sectors = wanted.len(), "team sectors assigned");
    Ok(Json(SectorsAssigned {
        team_id: team.id,
        sectors: wanted.into_iter().map(|s| s.0).collect(),
    }))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct QuestionnairePublished {
    pub night_id: Uuid,
    pub questionnaire_id: String,
    pub version: u32,
    pub questions: usize,
}

/// `POST /api/nights/{night_id}/questionnaire`: the body is the definition (FORMAT.md). It
/// is validated (422 with every issue), and its `version` must be newer than the published
/// one (409), except for the very same definition again (idempotent).
async fn publish_questionnaire(
    State(state): State<AppState>,
    principal: Principal,
    Path(night_id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<QuestionnairePublished>), CoordError> {
    let night = authorised_night(&state, &principal, &night_id).await?;
    let rejected = |issues: Vec<Value>| CoordError::Rejected {
        code: "invalid_questionnaire",
        message: "the questionnaire definition was refused; nothing was published",
        issues,
    };
    let text = std::str::from_utf8(&body).map_err(|_| {
        rejected(vec![
            serde_json::json!({"path": "", "problem": "not UTF-8"}),
        ])
    })?;
    let valid = validate_definition(text).map_err(|issues| {
        rejected(
            issues
                .iter()
                .map(|i| serde_json::to_value(i).unwrap_or(Value::Null))
                .collect(),
        )
    })?;
    let definition = QuestionnaireDefinition {
        version: valid.version,
        definition: text.trim().to_owned(),
    };
    let now = state.now();
    let result = edit(
        &state,
        night.document_id,
        Box::new(
            move |night_doc| match doc::read_night(night_doc)?.questionnaire {
                Some(current) if current == definition => Ok(()),
                Some(current) if current.version >= definition.version => {
                    Err(DocError::Invalid(QUESTIONNAIRE_NOT_NEWER))
                }
                _ => doc::set_questionnaire(night_doc, &definition, now),
            },
        ),
    )
    .await;
    match result {
        Ok(()) => {}
        Err(SyncError::Edit(DocError::Invalid(QUESTIONNAIRE_NOT_NEWER))) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "questionnaire_version_not_newer",
                "a questionnaire with this version or a newer one is already published",
            )
            .into());
        }
        Err(error) => return Err(sync_failed(error).into()),
    }
    tracing::info!(night_id = %night.id, version = valid.version, "questionnaire published");
    Ok((
        StatusCode::CREATED,
        Json(QuestionnairePublished {
            night_id: night.id,
            questionnaire_id: valid.id,
            version: valid.version,
            questions: valid.questions,
        }),
    ))
}
