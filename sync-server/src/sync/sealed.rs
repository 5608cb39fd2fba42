//! Documents no sync peer may change any more (a closed night's team documents, see
//! `coord::retention`): recorded by the sync actor in the transaction that replaces their
//! history, and handed to the engine ([`carnet_shared::engine::Engine::seal`]) whenever the
//! actor builds one. Without it, any token still allowed to write (the admin's) could sync a
//! pre-close copy back and merge the erased history in again.

use std::collections::{BTreeMap, BTreeSet};

use carnet_shared::ids::DocumentId;
use carnet_shared::store::{Store, StoreError};
use rusqlite::{Connection, Transaction, params};

/// Lives in the chunk store's connection like `activity`, under its own namespace.
pub const NAMESPACE: &str = "carnet-server.sealed";

const MIGRATIONS: &[&str] = &["CREATE TABLE server_sealed_documents (
        document_id BLOB PRIMARY KEY NOT NULL,
        sealed_at INTEGER NOT NULL
     ) WITHOUT ROWID;"];

pub fn migrate(store: &mut Store) -> Result<(), StoreError> {
    store.migrate(NAMESPACE, MIGRATIONS).map(|_| ())
}

/// Records documents sealed in this batch (document -> time); sealing again keeps the first
/// time.
pub fn record(tx: &Transaction<'_>, sealed: &BTreeMap<DocumentId, i64>) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO server_sealed_documents (document_id, sealed_at) VALUES (?1, ?2)
         ON CONFLICT (document_id) DO NOTHING",
    )?;
    for (doc, at) in sealed {
        stmt.execute(params![doc.as_bytes().as_slice(), at])?;
    }
    Ok(())
}

/// Every sealed document.
pub fn all(conn: &Connection) -> Result<BTreeSet<DocumentId>, StoreError> {
    let mut stmt = conn.prepare("SELECT document_id FROM server_sealed_documents")?;
    let rows = stmt.query_map([], |row| row.get::<_, Vec<u8>>(0))?;
    let mut out = BTreeSet::new();
    for bytes in rows {
        let bytes = bytes?;
        out.insert(DocumentId::from_slice(&bytes).map_err(|_| StoreError::BadStoredId)?);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn sealing_is_recorded_once_and_read_back() {
        let mut store = Store::open_in_memory().unwrap();
        migrate(&mut store).unwrap();
        migrate(&mut store).unwrap();
        let (a, b) = (
            DocumentId::from_bytes([1; 16]),
            DocumentId::from_bytes([2; 16]),
        );
        store
            .apply_with(&[], |tx| record(tx, &BTreeMap::from([(a, 10), (b, 20)])))
            .unwrap();
        store
            .apply_with(&[], |tx| record(tx, &BTreeMap::from([(a, 30)])))
            .unwrap();
        assert_eq!(all(store.connection()).unwrap(), BTreeSet::from([a, b]));
        let at: i64 = store
            .connection()
            .query_row(
                "SELECT sealed_at FROM server_sealed_documents WHERE document_id = ?1",
                [a.as_bytes().as_slice()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(at, 10);
    }
}
