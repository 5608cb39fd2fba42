//! The coordinators' API after the night (admin, or a coordinator token of that night):
//! consolidated figures, partners' aggregate entries, duplicates, conflicts and exports, all
//! computed by `carnet_shared::report` from the documents the server holds (every team
//! document and the night's review document).
//!
//! Decisions (duplicates, conflict resolutions, partner entries) are written to the review
//! document through the sync actor, so they are durable when the answer comes and reach the
//! coordinators' devices that sync it.

mod load;
mod stream;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use carnet_shared::doc;
use carnet_shared::model::{
    ConflictResolution, DuplicateDecision, DuplicateVerdict, EncounterEdit, PartnerEntry,
    SpaceType, TeamId,
};
use carnet_shared::report::{
    Consolidation, ConsolidationInput, DuplicateCandidate, DuplicateConfig, EffectiveEncounter,
    EncounterCsvOptions, consolidate, encounter_rows, find_duplicate_candidates, geojson_features,
    questionnaire_rows, write_encounters_csv, write_encounters_geojson, write_questionnaires_csv,
    write_totals_csv,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use load::review_document_id;
use load::{NightData, authorize, edit_review, load_night, parse_night};
use stream::streamed;

use super::ApiJson;
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;

pub fn routes() -> Router<AppState> {
    let n = "/api/nights/{night_id}";
    Router::new()
        .route(&format!("{n}/consolidation"), get(consolidation))
        .route(&format!("{n}/consolidation.csv"), get(totals_csv))
        .route(
            &format!("{n}/partner-entries"),
            post(add_partner_entry).get(partner_entries),
        )
        .route(&format!("{n}/duplicates"), get(duplicates))
        .route(&format!("{n}/duplicates/{{pair}}"), post(decide_duplicate))
        .route(
            &format!("{n}/conflicts"),
            get(conflicts).post(resolve_conflict),
        )
        .route(&format!("{n}/exports/encounters.csv"), get(encounters_csv))
        .route(
            &format!("{n}/exports/questionnaires.csv"),
            get(questionnaires_csv),
        )
        .route(&format!("{n}/exports/totals.csv"), get(totals_csv))
        .route(
            &format!("{n}/exports/encounters.geojson"),
            get(encounters_geojson),
        )
}

/// A query string whose rejection is an [`ApiError`] (the default is plain text).
pub struct ApiQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|_| ApiError::bad_request("invalid_query", "the query string is not valid"))
    }
}

/// Loads the night after checking the caller may see it.
async fn night_data(
    state: &AppState,
    principal: &Principal,
    raw_night: &str,
) -> Result<(uuid::Uuid, NightData), ApiError> {
    let night_id = parse_night(raw_night)?;
    authorize(principal, night_id)?;
    Ok((night_id, load_night(state, night_id).await?))
}

/// Consolidates off the async threads.
async fn consolidated(
    data: NightData,
) -> Result<(NightData, Consolidation, Vec<EffectiveEncounter>), ApiError> {
    tokio::task::spawn_blocking(move || {
        let partners = data.partners();
        let (c, encounters) = consolidate(ConsolidationInput {
            night: &data.night,
            teams: &data.teams,
            review: data.review.as_ref(),
            partners: &partners,
        });
        (data, c, encounters)
    })
    .await
    .map_err(|_| ApiError::internal())
}

/// `GET /api/nights/{night}/consolidation`: the night's figures (JSON).
async fn consolidation(
    State(state): State<AppState>,
    principal: Principal,
    Path(night): Path<String>,
) -> Result<Json<Consolidation>, ApiError> {
    let (_, data) = night_data(&state, &principal, &night).await?;
    let (_, c, _) = consolidated(data).await?;
    Ok(Json(c))
}

fn csv_response(body: Vec<u8>, filename: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// `GET …/consolidation.csv` and `…/exports/totals.csv`: the figures as one CSV table.
async fn totals_csv(
    State(state): State<AppState>,
    principal: Principal,
    Path(night): Path<String>,
) -> Result<Response, ApiError> {
    let (_, data) = night_data(&state, &principal, &night).await?;
    let (_, c, _) = consolidated(data).await?;
    let mut body = Vec::new();
    write_totals_csv(&mut body, &c).map_err(|error| {
        tracing::error!(%error, "totals CSV");
        ApiError::internal()
    })?;
    Ok(csv_response(body, "totaux.csv"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PartnerEntryBody {
    partner: String,
    space_type: SpaceType,
    arrondissement: Option<u8>,
    #[serde(default)]
    men: u32,
    #[serde(default)]
    women: u32,
    #[serde(default)]
    unknown: u32,
}

/// `POST /api/nights/{night}/partner-entries`: a partner's aggregate count, validated, stored
/// in the review document → 201 the entry.
async fn add_partner_entry(
    State(state): State<AppState>,
    principal: Principal,
    Path(night): Path<String>,
    ApiJson(body): ApiJson<PartnerEntryBody>,
) -> Result<(StatusCode, Json<PartnerEntry>), ApiError> {
    let night_id = parse_night(&night)?;
    authorize(&principal, night_id)?;
    exists(&state, night_id).await?;
    let now = state.now();
    let entry = PartnerEntry {
        id: uuid_v7(now),
        partner: body.partner.trim().to_owned(),
        space_type: body.space_type,
        arrondissement: body.arrondissement,
        men: body.men,
        women: body.women,
        unknown: body.unknown,
        entered_by: principal.peer_id.0.clone(),
        entered_at: now,
    };
    entry.validate().map_err(|error| {
        use carnet_shared::model::PartnerEntryError as E;
        let (code, message) = match error {
            E::Name => (
                "invalid_partner",
                "the partner name must have 1 to 100 characters",
            ),
            E::Arrondissement => (
                "invalid_arrondissement",
                "the arrondissement must be 1 to 20",
            ),
            E::TooMany => ("invalid_count", "each count must be at most 5000"),
        };
        ApiError::bad_request(code, message)
    })?;
    let stored = entry.clone();
    edit_review(&state, night_id, move || {
        let e = stored.clone();
        Box::new(move |d| doc::put_partner_entry(d, &e, now))
    })
    .await?;
    tracing::info!(%night_id, by = %principal.peer_id, "partner entry added");
    Ok((StatusCode::CREATED, Json(entry)))
}

/// `GET /api/nights/{night}/partner-entries`.
async fn partner_entries(
    State(state): State<AppState>,
    principal: Principal,
    Path(night): Path<String>,
) -> Result<Json<Vec<PartnerEntry>>, ApiError> {
    let (_, data) = night_data(&state, &principal, &night).await?;
    Ok(Json(data.partner_entries.into_values().collect()))
}

async fn exists(state: &AppState, night_id: Uuid) -> Result<(), ApiError> {
    state
        .db
        .call(move |c| crate::db::nights::night(c, night_id))
        .await?
        .map(|_| ())
        .ok_or(ApiError::not_found("night_not_found", "no such night"))
}

fn uuid_v7(now: i64) -> Uuid {
    use rand::RngExt;
    uuid::Builder::from_unix_timestamp_millis(
        u64::try_from(now).unwrap_or_default(),
        &rand::rng().random::<[u8; 10]>(),
    )
    .into_uuid()
}

#[derive(Debug, Deserialize)]
struct DuplicateQuery {
    distance_m: Option<f64>,
    window_min: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CandidateView {
    /// The pair's key for `POST …/duplicates/{pair}`.
    pub pair: String,
    #[serde(flatten)]
    pub candidate: DuplicateCandidate,
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DuplicatesView {
    pub config: DuplicateConfig,
    pub candidates: Vec<CandidateView>,
}

/// `GET /api/nights/{night}/duplicates?distance_m=&window_min=`: candidate pairs, best first,
/// with the decision already taken if any.
async fn duplicates(
    State(state): State<AppState>,
    principal: Principal,
    Path(night): Path<String>,
    ApiQuery(query): ApiQuery<DuplicateQuery>,
) -> Result<Json<DuplicatesView>, ApiError> {
    let mut config = DuplicateConfig::default();
    if let Some(d) = query.distance_m {
        if !(d.is_finite() && (1.0..=2000.0).contains(&d)) {
            return Err(ApiError::bad_request(
                "invalid_distance",
                "distance_m must be 1 to 2000",
            ));
        }
        config.max_distance_m = d;
    }
    if let Some(w) = query.window_min {
        if !(1..=720).contains(&w) {
            return Err(ApiError::bad_request(
                "invalid_window",
                "window_min must be 1 to 720",
            ));
        }
        config.max_gap_ms = i64::from(w) * 60_000;
    }
    let (_, data) = night_data(&state, &principal, &night).await?;
    let (data, _, encounters) = consolidated(data).await?;
    let candidates = tokio::task::spawn_blocking(move || {
        find_duplicate_candidates(&encounters, data.review.as_ref(), config)
    })
    .await
    .map_err(|_| ApiError::internal())?;
    Ok(Json(DuplicatesView {
        config,
        candidates: candidates
            .into_iter()
            .map(|c| CandidateView {
                pair: DuplicateDecision::pair_key(c.first, c.second),
                reason: c.reason_fr(),
                candidate: c,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Verdict {
    verdict: DuplicateVerdict,
}

/// `POST /api/nights/{night}/duplicates/{first}+{second}` `{verdict: confirmed|rejected}`:
/// both encounters must be in the night. A confirmed pair leaves the figures once.
async fn decide_duplicate(
    State(state): State<AppState>,
    principal: Principal,
    Path((night, pair)): Path<(String, String)>,
    ApiJson(body): ApiJson<Verdict>,
) -> Result<Json<DuplicateDecision>, ApiError> {
    let bad_pair = ApiError::bad_request(
        "invalid_pair",
        "the pair must be <uuid>+<uuid> of two encounters",
    );
    let (a, b) = pair.split_once('+').ok_or(bad_pair)?;
    let (a, b) = (
        Uuid::parse_str(a).map_err(|_| bad_pair)?,
        Uuid::parse_str(b).map_err(|_| bad_pair)?,
    );
    if a == b {
        return Err(bad_pair);
    }
    let (night_id, data) = night_data(&state, &principal, &night).await?;
    let known = |id: Uuid| {
        data.teams.iter().any(|t| match t {
            carnet_shared::report::TeamInput::Read(team) => team.encounters.contains_key(&id),
            _ => false,
        })
    };
    if !known(a) || !known(b) {
        return Err(ApiError::not_found(
            "encounter_not_found",
            "no such encounter in this night",
        ));
    }
    let now = state.now();
    let decision = DuplicateDecision::new(a, b, body.verdict, principal.peer_id.0.clone(), now);
    let stored = decision.clone();
    edit_review(&state, night_id, move || {
        let d = stored.clone();
        Box::new(move |doc| doc::decide_duplicate(doc, &d, now))
    })
    .await?;
    tracing::info!(%night_id, by = %principal.peer_id, verdict = %body.verdict, "duplicate decided");
    Ok(Json(decision))
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConflictView {
    pub team_id: TeamId,
    pub encounter_id: Uuid,
    pub field: String,
    /// Every concurrent value, each as the edit that would write it.
    pub values: Vec<EncounterEdit>,
    /// Index of the value the documents show now.
    pub current: usize,
    /// The coordinators' choice, if made.
    pub resolution: Option<EncounterEdit>,
}

fn find_conflicts(data: &NightData) -> Vec<ConflictView> {
    let mut out = Vec::new();
    for ((team_uuid, d), input) in data.team_docs.iter().zip(&data.teams) {
        let carnet_shared::report::TeamInput::Read(team) = input else {
            continue;
        };
        for id in team.encounters.keys() {
            let Ok(conflicts) = doc::encounter_conflicts(d, *id) else {
                continue;
            };
            for c in conflicts {
                let resolution = data.review.as_ref().and_then(|r| {
                    r.resolutions
                        .get(&format!("{id}/{}", c.field))
                        .map(|r| r.chosen.clone())
                });
                out.push(ConflictView {
                    team_id: crate::docs::team_id_of(*team_uuid),
                    encounter_id: *id,
                    field: c.field,
                    values: c.values,
                    current: c.current,
                    resolution,
                });
            }
        }
    }
    out
}

/// How many concurrent edits of the night still wait for the coordinators' decision (the
/// night's close keeps only the visible value of each, so it refuses while any is open).
pub(crate) async fn undecided_conflicts(
    state: &AppState,
    principal: &Principal,
    night: &str,
) -> Result<usize, ApiError> {
    let (_, data) = night_data(state, principal, night).await?;
    tokio::task::spawn_blocking(move || {
        find_conflicts(&data)
            .iter()
            .filter(|c| c.resolution.is_none())
            .count()
    })
    .await
    .map_err(|_| ApiError::internal())
}

/// `GET /api/nights/{night}/conflicts`: fields of encounters edited concurrently.
async fn conflicts(
    State(state): State<AppState>,
    principal: Principal,
    Path(night): Path<String>,
) -> Result<Json<Vec<ConflictView>>, ApiError> {
    let (_, data) = night_data(&state, &principal, &night).await?;
    let found = tokio::task::spawn_blocking(move || find_conflicts(&data))
        .await
        .map_err(|_| ApiError::internal())?;
    Ok(Json(found))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Resolve {
    encounter_id: Uuid,
    chosen: EncounterEdit,
}

/// `POST /api/nights/{night}/conflicts` `{encounterId, chosen}`: `chosen` must be one of the
/// concurrent values of that field.
async fn resolve_conflict(
    State(state): State<AppState>,
    principal: Principal,
    Path(night): Path<String>,
    ApiJson(body): ApiJson<Resolve>,
) -> Result<Json<ConflictResolution>, ApiError> {
    let (night_id, data) = night_data(&state, &principal, &night).await?;
    let field = body.chosen.field();
    let (data, found) = tokio::task::spawn_blocking(move || {
        let found = find_conflicts(&data);
        (data, found)
    })
    .await
    .map_err(|_| ApiError::internal())?;
    drop(data);
    let conflict = found
        .into_iter()
        .find(|c| c.encounter_id == body.encounter_id && c.field == field)
        .ok_or(ApiError::not_found(
            "conflict_not_found",
            "no conflict on this field of this encounter",
        ))?;
    if !conflict.values.contains(&body.chosen) {
        return Err(ApiError::bad_request(
            "invalid_choice",
            "the value chosen is not one of the conflicting values",
        ));
    }
    let now = state.now();
    let resolution = ConflictResolution {
        team_id: conflict.team_id,
        encounter_id: body.encounter_id,
        chosen: body.chosen,
        resolved_by: principal.peer_id.0.clone(),
        resolved_at: now,
    };
    let stored = resolution.clone();
    edit_review(&state, night_id, move || {
        let r = stored.clone();
        Box::new(move |d| doc::resolve_conflict(d, &r, now))
    })
    .await?;
    tracing::info!(%night_id, by = %principal.peer_id, "conflict resolved");
    Ok(Json(resolution))
}

#[derive(Debug, Default, Deserialize)]
struct EncounterExportQuery {
    #[serde(default)]
    position: bool,
    decimals: Option<u32>,
    #[serde(default)]
    excluded: bool,
}

/// `GET …/exports/encounters.csv?position=&decimals=&excluded=`: one row per counted
/// encounter (positions only on request, rounded; withdrawn and duplicates on request).
async fn encounters_csv(
    State(state): State<AppState>,
    principal: Principal,
    Path(night): Path<String>,
    ApiQuery(query): ApiQuery<EncounterExportQuery>,
) -> Result<Response, ApiError> {
    let decimals = check_decimals(query.decimals.unwrap_or(3))?;
    let (_, data) = night_data(&state, &principal, &night).await?;
    let (_, _, encounters) = consolidated(data).await?;
    let options = EncounterCsvOptions {
        include_position: query.position,
        position_decimals: decimals,
        include_excluded: query.excluded,
    };
    let rows = encounter_rows(&encounters, query.excluded);
    Ok(streamed(
        "text/csv; charset=utf-8",
        "rencontres.csv",
        Some(rows),
        move |w| write_encounters_csv(w, &encounters, options, &mut |_| {}).map(|_| ()),
    ))
}

#[derive(Debug, Default, Deserialize)]
struct QuestionnaireExportQuery {
    #[serde(default)]
    free_text: bool,
}

/// `GET …/exports/questionnaires.csv?free_text=`: one row per completed questionnaire.
async fn questionnaires_csv(
    State(state): State<AppState>,
    principal: Principal,
    Path(night): Path<String>,
    ApiQuery(query): ApiQuery<QuestionnaireExportQuery>,
) -> Result<Response, ApiError> {
    let (_, data) = night_data(&state, &principal, &night).await?;
    let question_ids = question_ids(&data);
    let (_, _, encounters) = consolidated(data).await?;
    let rows = questionnaire_rows(&encounters);
    Ok(streamed(
        "text/csv; charset=utf-8",
        "questionnaires.csv",
        Some(rows),
        move |w| {
            write_questionnaires_csv(w, &encounters, &question_ids, query.free_text, &mut |_| {})
                .map(|_| ())
        },
    ))
}

/// Question ids in the order of the night's questionnaire.
fn question_ids(data: &NightData) -> Vec<String> {
    let Some(q) = &data.night.questionnaire else {
        return Vec::new();
    };
    serde_json::from_str::<serde_json::Value>(&q.definition)
        .ok()
        .and_then(|v| {
            v.get("questions")?.as_array().map(|qs| {
                qs.iter()
                    .filter_map(|q| q.get("id")?.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
}

fn check_decimals(decimals: u32) -> Result<u32, ApiError> {
    if decimals > 6 {
        return Err(ApiError::bad_request(
            "invalid_precision",
            "at most 6 decimals",
        ));
    }
    Ok(decimals)
}

#[derive(Debug, Default, Deserialize)]
struct GeojsonQuery {
    precision: Option<u32>,
}

/// `GET …/exports/encounters.geojson?precision=` (decimals, default 3 ≈ 100 m).
async fn encounters_geojson(
    State(state): State<AppState>,
    principal: Principal,
    Path(night): Path<String>,
    ApiQuery(query): ApiQuery<GeojsonQuery>,
) -> Result<Response, ApiError> {
    let decimals = check_decimals(query.precision.unwrap_or(3))?;
    let (_, data) = night_data(&state, &principal, &night).await?;
    let (_, _, encounters) = consolidated(data).await?;
    let rows = geojson_features(&encounters);
    Ok(streamed(
        "application/geo+json",
        "rencontres.geojson",
        Some(rows),
        move |w| write_encounters_geojson(w, &encounters, decimals, &mut |_| {}).map(|_| ()),
    ))
}
