//! Retention: after the night, the field-only free text ("distinctive signs", written to avoid
//! counting someone twice) is purged from every team document of the night.
//!
//! `POST /api/nights/{night}/purge-field-data` (admin or a coordinator of the night) runs the
//! purge through the sync actor, as every other document change: each team document's purge
//! is durable before the answer, pushed at once to the devices that have the document open,
//! and reaches the others at their next sync. The team documents are edited concurrently, so
//! the actor commits them in batches; if one fails, the answer is an error and the purges
//! already stored stay (the purge is idempotent: calling again finishes the work). A team
//! document this server cannot read (a newer app's schema, no team header) is left unchanged
//! and listed in `unreadable`, never silently skipped.
//!
//! Automerge keeps deleted values in its change history: the text leaves the documents'
//! current state (readers, exports, reports), not the history.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use carnet_shared::doc;
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{authorised_night, db, edit, sync_failed};
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::sync::SyncError;

/// What a purge did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeReport {
    /// Team documents of the night (all of them were looked at).
    pub documents: usize,
    /// Encounters whose distinctive signs were removed by this call.
    pub purged: usize,
    /// Team documents left unchanged because their content could not be read as a team
    /// document of this version (e.g. a newer app's schema); their signs are still there.
    pub unreadable: Vec<UnreadableTeam>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadableTeam {
    pub team_id: Uuid,
    pub name: String,
}

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/nights/{night_id}/purge-field-data",
        post(purge_field_data),
    )
}

/// `POST /api/nights/{night_id}/purge-field-data` → `{documents, purged}`.
async fn purge_field_data(
    State(state): State<AppState>,
    principal: Principal,
    Path(night_id): Path<String>,
) -> Result<Json<PurgeReport>, ApiError> {
    let night = authorised_night(&state, &principal, &night_id).await?;
    let night_id = night.id;
    let teams = state.db.call(move |c| db::teams(c, night_id)).await?;
    let now = state.now();
    let purged = Arc::new(AtomicUsize::new(0));
    let edits = teams.iter().map(|team| {
        let purged = Arc::clone(&purged);
        edit(
            &state,
            team.document_id,
            Box::new(move |team_doc| {
                let n = doc::purge_distinctive_signs(team_doc, now)?;
                purged.fetch_add(n, Ordering::Relaxed);
                Ok(())
            }),
        )
    });
    let mut unreadable = Vec::new();
    for (team, result) in teams.iter().zip(join_all(edits).await) {
        match result {
            Ok(()) => {}
            // The document's content was refused by the shared model: nothing was changed.
            Err(SyncError::Edit(_)) => unreadable.push(UnreadableTeam {
                team_id: team.id,
                name: team.name.clone(),
            }),
            Err(error) => return Err(sync_failed(error)),
        }
    }
    let report = PurgeReport {
        documents: teams.len(),
        purged: purged.load(Ordering::Relaxed),
        unreadable,
    };
    tracing::info!(
        night_id = %night_id,
        documents = report.documents,
        purged = report.purged,
        unreadable = report.unreadable.len(),
        "field data purged"
    );
    Ok(Json(report))
}
