//! Retention: after the night, the field-only free text ("distinctive signs", written to avoid
//! counting someone twice) is purged from every team document of the night, on the server.
//! Devices receive the purge as an ordinary change at their next sync.
//!
//! Run by `carnet-server purge-field-data --db … --night …` **while the server is stopped**:
//! the purge is written to the store file directly, and a running server would keep serving
//! its in-memory copy until restarted. Automerge keeps deleted values in its change history:
//! the text leaves the documents' current state (readers, exports, reports), not the history.

use std::path::Path;

use automerge::{ActorId, AutoCommit};
use carnet_shared::doc::{self, DocError};
use carnet_shared::storage::StorageWrite;
use carnet_shared::store::{Store, StoreError};
use uuid::Uuid;

use super::db;
use crate::db::{Db, DbError, nights};

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("no such night")]
    NightNotFound,
    #[error("a team document of the night is missing from the store")]
    MissingDocument,
    #[error("a team document could not be purged: {0}")]
    Doc(#[from] DocError),
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeReport {
    pub teams: usize,
    /// Encounters whose distinctive signs were removed.
    pub purged: usize,
}

/// Purges the distinctive signs of every team document of `night_id` in the database file,
/// as `actor` at `now`, in one transaction (all teams or none).
pub fn purge_field_data(
    db_path: &Path,
    night_id: Uuid,
    actor: [u8; 16],
    now: i64,
) -> Result<PurgeReport, RetentionError> {
    let db = Db::open(db_path)?;
    let teams = db.call_blocking(|c| {
        if nights::night(c, night_id)?.is_none() {
            return Ok(None);
        }
        db::teams(c, night_id).map(Some)
    })?;
    let teams = teams.ok_or(RetentionError::NightNotFound)?;
    let mut store = Store::open(db_path)?;
    let mut writes = Vec::new();
    let mut purged = 0;
    for team in &teams {
        let data = store
            .load_automerge(&team.document_id)?
            .ok_or(RetentionError::MissingDocument)?;
        let mut session = AutoCommit::load(&data.save())?.with_actor(ActorId::from(actor));
        let before = session.get_heads();
        purged += doc::purge_distinctive_signs(&mut session, now)?;
        let changes = session.save_after(&before);
        if !changes.is_empty() {
            writes.push(StorageWrite::incremental(team.document_id, changes));
        }
    }
    store.apply(&writes)?;
    Ok(PurgeReport {
        teams: teams.len(),
        purged,
    })
}
