//! When each document last received a change from a sync peer (a device), kept by the sync
//! actor in the same SQLite transaction as the change itself, so that "no news from this team
//! for 40 minutes" on the coordinators' progress page is exactly what the server has stored.
//! The time is the one the connection task read from the server's clock when the frame
//! arrived (passed in; the actor never reads a clock).

use std::collections::BTreeMap;

use carnet_shared::ids::DocumentId;
use carnet_shared::store::{Store, StoreError};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// The table lives in the chunk store's connection (in-memory servers have no other), under
/// its own namespace in `schema_migrations`.
pub const NAMESPACE: &str = "carnet-server.activity";

const MIGRATIONS: &[&str] = &["CREATE TABLE server_document_activity (
        document_id BLOB PRIMARY KEY NOT NULL,
        last_change_at INTEGER NOT NULL
     ) WITHOUT ROWID;"];

pub fn migrate(store: &mut Store) -> Result<(), StoreError> {
    store.migrate(NAMESPACE, MIGRATIONS).map(|_| ())
}

/// Records the batch's changes (document -> time), never moving a time backwards.
pub fn record(tx: &Transaction<'_>, changes: &BTreeMap<DocumentId, i64>) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO server_document_activity (document_id, last_change_at) VALUES (?1, ?2)
         ON CONFLICT (document_id) DO UPDATE
            SET last_change_at = max(last_change_at, excluded.last_change_at)",
    )?;
    for (doc, at) in changes {
        stmt.execute(params![doc.as_bytes().as_slice(), at])?;
    }
    Ok(())
}

pub fn last_change_at(conn: &Connection, doc: &DocumentId) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT last_change_at FROM server_document_activity WHERE document_id = ?1",
            params![doc.as_bytes().as_slice()],
            |row| row.get(0),
        )
        .optional()?)
}
