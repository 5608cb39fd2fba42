//! What the coordinators' reports read: the night's documents as the server holds them (night,
//! team and review documents, copied from the sync actor after its commit), read with the
//! shared model; and the review document's edits, made through the sync actor.

use std::collections::BTreeMap;

use automerge::Automerge;
use carnet_shared::doc::{self, DocError};
use carnet_shared::ids::DocumentId;
use carnet_shared::model::{Night, PartnerEntry, Review};
use carnet_shared::report::{PartnerAggregate, TeamInput, team_input};
use rusqlite::params;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{Principal, Role};
use crate::db::nights;
use crate::docs;
use crate::error::ApiError;
use crate::sync::{DocumentEdit, SyncError};

/// One night as the reports see it.
pub struct NightData {
    pub night: Night,
    pub teams: Vec<TeamInput>,
    /// The team documents themselves, for the conflict finder.
    pub team_docs: Vec<(Uuid, Automerge)>,
    pub review: Option<Review>,
    pub partner_entries: BTreeMap<Uuid, PartnerEntry>,
}

impl NightData {
    pub fn partners(&self) -> Vec<PartnerAggregate> {
        self.partner_entries
            .values()
            .map(|e| PartnerAggregate {
                partner: e.partner.clone(),
                space_type: e.space_type,
                arrondissement: e.arrondissement,
                men: e.men,
                women: e.women,
                unknown: e.unknown,
            })
            .collect()
    }
}

/// The review document of a night: its id is derived from the night's id, so that no table
/// is needed to find it and two first uses cannot create two of them.
pub fn review_document_id(night_id: Uuid) -> DocumentId {
    let digest = Sha256::digest(format!("carnet-review:{night_id}").as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    DocumentId::from_bytes(id)
}

/// Admin, or a coordinator of this night.
pub fn authorize(principal: &Principal, night_id: Uuid) -> Result<(), ApiError> {
    principal.require_role(&[Role::Admin, Role::Coordinator])?;
    if principal.role == Role::Coordinator && principal.night_id != Some(night_id) {
        return Err(ApiError::forbidden());
    }
    Ok(())
}

pub fn parse_night(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("night_not_found", "no such night"))
}

fn unreadable(error: DocError) -> ApiError {
    tracing::error!(%error, "a night or review document could not be read");
    ApiError::internal()
}

fn sync_failed(error: SyncError) -> ApiError {
    tracing::error!(%error, "the sync actor could not serve a report");
    ApiError::internal()
}

/// Team ids and document ids of a night, from the server's tables.
fn team_documents(
    conn: &rusqlite::Connection,
    night_id: Uuid,
) -> Result<Vec<(Uuid, DocumentId)>, crate::db::DbError> {
    let mut stmt = conn.prepare(
        "SELECT id, document_id FROM server_teams WHERE night_id = ?1 ORDER BY created_at, name",
    )?;
    let rows = stmt.query_map(params![night_id.to_string()], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, doc) = row?;
        let id = Uuid::parse_str(&id).map_err(|_| crate::db::DbError::Corrupt("team id"))?;
        out.push((id, crate::db::document_id_from_blob(&doc)?));
    }
    Ok(out)
}

/// Loads every document of the night and reads it (off the async threads).
pub async fn load_night(state: &AppState, night_id: Uuid) -> Result<NightData, ApiError> {
    let (night, teams) = state
        .db
        .call(move |c| {
            let night = nights::night(c, night_id)?;
            let teams = team_documents(c, night_id)?;
            Ok((night, teams))
        })
        .await?;
    let night = night.ok_or(ApiError::not_found("night_not_found", "no such night"))?;
    let review_id = review_document_id(night_id);
    let mut wanted = vec![night.document_id, review_id];
    wanted.extend(teams.iter().map(|(_, d)| *d));
    let mut copies = state
        .hub
        .read_documents(wanted)
        .await
        .map_err(sync_failed)?
        .into_iter()
        .map(|snapshot| snapshot.doc);
    let night_doc = copies.next().flatten();
    let review_doc = copies.next().flatten();
    let team_docs: Vec<(Uuid, Automerge)> = teams
        .iter()
        .zip(copies)
        .filter_map(|((team, _), d)| d.map(|d| (*team, d)))
        .collect();
    tokio::task::spawn_blocking(move || {
        let night_doc = night_doc.ok_or_else(|| {
            tracing::error!(%night_id, "the night document is not stored");
            ApiError::internal()
        })?;
        let night = doc::read_night(&night_doc).map_err(unreadable)?;
        let teams = team_docs
            .iter()
            .map(|(id, d)| team_input(docs::team_id_of(*id), d))
            .collect();
        let (review, partner_entries) = match &review_doc {
            Some(d) => (
                Some(doc::read_review(d).map_err(unreadable)?),
                doc::read_partner_entries(d).map_err(unreadable)?,
            ),
            None => (None, BTreeMap::new()),
        };
        Ok(NightData {
            night,
            teams,
            team_docs,
            review,
            partner_entries,
        })
    })
    .await
    .map_err(|_| ApiError::internal())?
}

/// A new, empty review document for the night.
fn new_review(night_id: Uuid, now: i64) -> Result<Automerge, DocError> {
    let mut review = doc::new_doc(crate::docs::server_actor());
    doc::create_review(&mut review, night_id, now)?;
    Ok(review.document().clone())
}

/// Applies `edit` to the night's review document through the sync actor (durable on return),
/// creating the document on first use. `make_edit` is called again if the first attempt
/// found no document.
pub async fn edit_review(
    state: &AppState,
    night_id: Uuid,
    make_edit: impl Fn() -> DocumentEdit,
) -> Result<(), ApiError> {
    let id = review_document_id(night_id);
    let actor = crate::docs::server_actor;
    match state.hub.edit_document(id, actor(), make_edit()).await {
        Ok(()) => return Ok(()),
        Err(SyncError::UnknownDocument) => {}
        Err(SyncError::Edit(error)) => return Err(refused(error)),
        Err(other) => return Err(sync_failed(other)),
    }
    let review = new_review(night_id, state.now()).map_err(unreadable)?;
    match state.hub.create_documents(vec![(id, review)]).await {
        // Another request created it in between: ours is not needed.
        Ok(()) | Err(SyncError::DocumentExists) => {}
        Err(other) => return Err(sync_failed(other)),
    }
    match state.hub.edit_document(id, actor(), make_edit()).await {
        Ok(()) => Ok(()),
        Err(SyncError::Edit(error)) => Err(refused(error)),
        Err(other) => Err(sync_failed(other)),
    }
}

fn refused(error: DocError) -> ApiError {
    tracing::warn!(%error, "a review edit was refused");
    ApiError::bad_request(
        "invalid_review_edit",
        "the review document refused this edit",
    )
}
