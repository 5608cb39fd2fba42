//! The views' own tables and indexes, migrated separately from the importer's (their own
//! version table, so the two lists can grow independently), and the refresh of the
//! materialised red flags after an import.

use rusqlite::{Connection, OptionalExtension};

use super::redflags;
use super::summary::{self, SummaryError};
use super::supplier_keys;

const MIGRATIONS: &[&str] = &[
    // 1: covering indexes for the aggregations (the contract rows carry the raw JSON,
    // so scanning an index instead of the table is an order of magnitude less I/O),
    // supplier lookup by identifier, and the materialised red flags.
    r#"
CREATE INDEX IF NOT EXISTS procurement_views_by_date ON procurement_contracts(
    date_notification, amount, buyer_id, cpv_division, procedure, modification_count,
    amount_final, offers_received);
CREATE INDEX IF NOT EXISTS procurement_views_by_buyer ON procurement_contracts(
    buyer_id, date_notification, amount, cpv_division, procedure, modification_count,
    amount_final, offers_received);
CREATE INDEX IF NOT EXISTS procurement_views_supplier_id ON procurement_suppliers(id);
CREATE TABLE procurement_view_flags (
    flag TEXT NOT NULL,
    contract_rowid INTEGER NOT NULL REFERENCES procurement_contracts(rowid) ON DELETE CASCADE,
    value REAL,
    PRIMARY KEY (flag, contract_rowid)
) WITHOUT ROWID;
CREATE INDEX procurement_view_flags_contract ON procurement_view_flags(contract_rowid);
CREATE TABLE procurement_view_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#,
    // 2: summary tables of the unfiltered views (see `summary`), rebuilt with the flags.
    summary::MIGRATION,
    // 3: the supplier listing's page keys (see `supplier_keys`), rebuilt with the summaries.
    supplier_keys::MIGRATION,
];

/// Namespace of the views' tables in `schema_migrations`.
pub const NAMESPACE: &str = "carnet-server.procurement-views";

pub fn migrate(conn: &mut Connection) -> Result<(), carnet_shared::store::StoreError> {
    crate::procurement::db::run_migrations(
        conn,
        NAMESPACE,
        "procurement_views_migrations",
        MIGRATIONS,
    )
}

/// What the derived data was computed from: the finished import runs and the highest
/// contract rowid (both O(log n): this runs on every request).
pub(crate) fn data_version(conn: &Connection) -> rusqlite::Result<String> {
    conn.query_row(
        "SELECT (SELECT COALESCE(MAX(id), 0) || '.' || COUNT(*) FROM procurement_import_runs
                 WHERE status != 'running')
             || ':' || (SELECT COALESCE(MAX(rowid), 0) FROM procurement_contracts)",
        [],
        |r| r.get(0),
    )
}

/// The data version when the red flags are up to date with it, else None (then
/// [`refresh`] must run on a writable connection). Read-only.
pub fn current(conn: &Connection) -> rusqlite::Result<Option<String>> {
    let version = data_version(conn)?;
    let stored: Option<String> = conn
        .query_row(
            "SELECT value FROM procurement_view_state WHERE key = 'flags_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok((stored.as_deref() == Some(version.as_str())).then_some(version))
}

/// Recomputes the red flags and the summary tables if the data changed since the last
/// time, in one transaction (readers see the old derived data or the new, never a mix).
/// Returns the data version the views now reflect (part of cache keys).
pub fn refresh(conn: &Connection) -> Result<String, SummaryError> {
    if let Some(version) = current(conn)? {
        return Ok(version);
    }
    // IMMEDIATE: two requests racing after an import compute once, the second waits
    // and then sees the stored version.
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| -> Result<String, SummaryError> {
        let stored: Option<String> = conn
            .query_row(
                "SELECT value FROM procurement_view_state WHERE key = 'flags_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let version = data_version(conn)?;
        if stored.as_deref() != Some(version.as_str()) {
            redflags::compute(conn)?;
            summary::rebuild_aggregates(conn)?;
            supplier_keys::rebuild(conn)?;
            conn.execute(
                "INSERT INTO procurement_view_state(key, value) VALUES ('flags_version', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [&version],
            )?;
            // After the version: the pages are rendered from the aggregates above.
            summary::rebuild_pages(conn)?;
        }
        Ok(version)
    })();
    match result {
        Ok(v) => {
            conn.execute_batch("COMMIT")?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn migrations_are_idempotent_and_refresh_recomputes_on_new_data() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::procurement::db::migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v1 = refresh(&conn).unwrap();
        assert_eq!(refresh(&conn).unwrap(), v1);
        conn.execute("INSERT INTO procurement_buyers(id) VALUES ('b')", [])
            .unwrap();
        conn.execute(
            "INSERT INTO procurement_contracts(buyer_id, contract_id, kind, format, procedure,
               modification_count, content_hash, raw_json, first_run, last_run)
             VALUES ('b', 'x', 'marche', '2019', 'Marché négocié sans publicité ni mise en concurrence préalable', 0, 'h', '{}', 1, 1)",
            [],
        )
        .unwrap();
        let v2 = refresh(&conn).unwrap();
        assert_ne!(v1, v2);
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM procurement_view_flags", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 1);
    }
}
