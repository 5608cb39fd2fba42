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
//! Automerge keeps deleted values in its change history: the purge removes the text from the
//! documents' current state (readers, exports, reports), not from the history. Erasing it
//! for real is `POST /api/nights/{night}/close` (admin or a coordinator of the night), once
//! the night is consolidated:
//! 1. purge as above (connected devices drop the signs from their state);
//! 2. revoke every team-member token of the night and spend its unused enrolment codes (one
//!    transaction), signal the live sockets, and make the sync actor forget their
//!    connections before anything queued afterwards, so no device can send the old history
//!    back; coordinator and admin tokens stay;
//! 3. purge again (signs sent between the first purge and the revocation);
//! 4. replace each readable team document's history by a fresh document holding only its
//!    current state (same id), through the sync actor: memory and chunk store change in one
//!    step, every old chunk and sync state deleted — with `secure_delete` on, the deleted
//!    bytes are zeroed in the file;
//! 5. `wal_checkpoint(TRUNCATE)`, so the WAL no longer holds the old pages either.
//!
//! Calling it again is harmless (nothing left to revoke or purge; histories made afresh again).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use carnet_shared::doc;
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{TeamRecord, authorised_night, db, edit, sync_failed};
use crate::app::AppState;
use crate::auth::Principal;
use crate::db::tokens;
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
    Router::new()
        .route(
            "/api/nights/{night_id}/purge-field-data",
            post(purge_field_data),
        )
        .route("/api/nights/{night_id}/close", post(close_night))
}

/// `POST /api/nights/{night_id}/purge-field-data` → `{documents, purged, unreadable}`.
async fn purge_field_data(
    State(state): State<AppState>,
    principal: Principal,
    Path(night_id): Path<String>,
) -> Result<Json<PurgeReport>, ApiError> {
    let night = authorised_night(&state, &principal, &night_id).await?;
    let night_id = night.id;
    let teams = state.db.call(move |c| db::teams(c, night_id)).await?;
    let report = purge(&state, &teams).await?;
    tracing::info!(
        night_id = %night_id,
        documents = report.documents,
        purged = report.purged,
        unreadable = report.unreadable.len(),
        "field data purged"
    );
    Ok(Json(report))
}

/// Removes the distinctive signs from every team document, through the sync actor.
async fn purge(state: &AppState, teams: &[TeamRecord]) -> Result<PurgeReport, ApiError> {
    let now = state.now();
    let purged = Arc::new(AtomicUsize::new(0));
    let edits = teams.iter().map(|team| {
        let purged = Arc::clone(&purged);
        edit(
            state,
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
    Ok(PurgeReport {
        documents: teams.len(),
        purged: purged.load(Ordering::Relaxed),
        unreadable,
    })
}

/// What closing a night did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseReport {
    /// Team documents of the night.
    pub documents: usize,
    /// Encounters whose distinctive signs were removed by this call (both purges).
    pub purged: usize,
    /// Team documents whose content could not be read: not purged, history not replaced.
    pub unreadable: Vec<UnreadableTeam>,
    /// Team-member tokens revoked by this call.
    pub revoked_tokens: usize,
    /// Their sync connections that were open when the night was closed (now closed).
    pub closed_connections: usize,
    /// Unused enrolment codes of the night spent by this call.
    pub voided_codes: usize,
    /// Team documents whose history was replaced by a fresh one.
    pub rewritten: usize,
    /// Whether the WAL was checkpointed and emptied (false: a reader held it; the bytes of
    /// the old histories may stay in the `-wal` file until the next checkpoint).
    pub wal_truncated: bool,
}

fn undecided_conflicts_error() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "undecidedConflicts",
        "concurrent edits still wait for a decision (GET …/conflicts); decide them, then close",
    )
}

/// `POST /api/nights/{night_id}/close` → [`CloseReport`]. See the module documentation.
async fn close_night(
    State(state): State<AppState>,
    principal: Principal,
    Path(night_id): Path<String>,
) -> Result<Json<CloseReport>, ApiError> {
    let night = authorised_night(&state, &principal, &night_id).await?;
    // A fresh history keeps one value per field: concurrent edits must be decided first.
    if crate::api::report::undecided_conflicts(&state, &principal, &night_id).await? > 0 {
        return Err(undecided_conflicts_error());
    }
    let night_id = night.id;
    let teams = state.db.call(move |c| db::teams(c, night_id)).await?;

    // 1. Purge while the devices are still connected: they drop the signs from their state.
    let first = purge(&state, &teams).await?;

    // 2. Revoke the night's devices and make the sync actor forget their connections before
    //    anything queued after this point: no frame of theirs is handled from now on.
    let now = state.now();
    let revoked = state
        .db
        .call(move |c| tokens::revoke_night_devices(c, night_id, now))
        .await?;
    // Counted before the signal: the signal closes the sockets itself, racing the sweep below
    // (whose own count misses those already gone).
    let closed_connections = revoked
        .tokens
        .iter()
        .map(|(_, peer)| state.hub.connections_of(peer))
        .sum();
    // Signal first: a socket registering after the actor's sweep below sees the signal before
    // it reads a frame; the sweep then catches every socket registered before it.
    for (token, _) in &revoked.tokens {
        state.revocations.revoke(*token);
    }
    let peers: BTreeSet<String> = revoked
        .tokens
        .iter()
        .map(|(_, peer)| peer.0.clone())
        .collect();
    state
        .hub
        .disconnect_peers(peers)
        .await
        .map_err(sync_failed)?;

    // 3. Purge again: signs a device sent between the first purge and its revocation.
    let second = purge(&state, &teams).await?;
    // Devices still connected before step 2 may have made new concurrent edits since the
    // check above: checked again, now that none can write. Calling close again after the
    // decisions finishes the job (revoking again is a no-op).
    let night_key = night_id.to_string();
    if crate::api::report::undecided_conflicts(&state, &principal, &night_key).await? > 0 {
        return Err(undecided_conflicts_error());
    }

    // 4. A fresh history for every readable team document; old chunks deleted (zeroed).
    let readable: Vec<&TeamRecord> = teams
        .iter()
        .filter(|t| !second.unreadable.iter().any(|u| u.team_id == t.id))
        .collect();
    let now = state.now();
    // The last purge runs in the same turn of the sync actor as the replacement (a writer
    // still connected, the admin's token, could otherwise send signs in between).
    let last = Arc::new(AtomicUsize::new(0));
    let replaced = readable.iter().map(|team| {
        let last = Arc::clone(&last);
        let purge_last: crate::sync::DocumentEdit = Box::new(move |team_doc| {
            last.fetch_add(
                doc::purge_distinctive_signs(team_doc, now)?,
                Ordering::Relaxed,
            );
            Ok(())
        });
        state.hub.replace_history(
            team.document_id,
            crate::docs::server_actor(),
            now,
            purge_last,
        )
    });
    for result in join_all(replaced).await {
        result.map_err(sync_failed)?;
    }

    // 5. Empty the WAL, where the deleted pages' former contents still are.
    let checkpoint = state.hub.checkpoint().await.map_err(sync_failed)?;
    if !checkpoint.complete {
        tracing::warn!(%night_id, "WAL checkpoint could not complete: a reader held it");
    }
    let report = CloseReport {
        documents: teams.len(),
        purged: first.purged + second.purged + last.load(Ordering::Relaxed),
        unreadable: second.unreadable,
        revoked_tokens: revoked.tokens.len(),
        closed_connections,
        voided_codes: revoked.codes_voided,
        rewritten: readable.len(),
        wal_truncated: checkpoint.complete,
    };
    tracing::info!(
        night_id = %night_id,
        documents = report.documents,
        purged = report.purged,
        unreadable = report.unreadable.len(),
        revoked_tokens = report.revoked_tokens,
        closed_connections = report.closed_connections,
        voided_codes = report.voided_codes,
        rewritten = report.rewritten,
        wal_frames = checkpoint.frames,
        wal_truncated = report.wal_truncated,
        "night closed"
    );
    Ok(Json(report))
}
