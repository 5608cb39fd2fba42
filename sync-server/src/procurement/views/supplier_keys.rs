//! `procurement_supplier_keys`: every (supplier, contract) link with the contract's OCDS
//! page key (`date_notification, buyer_id, contract_id`), indexed by supplier then page key.
//! `/ocds/releases?supplier=` pages the largest supplier's 16,978 contracts (1M database):
//! through the link index SQLite fetched them all and sorted them in a temporary B-tree on
//! every page (p95 54.6 ms, docs/benchmarks-procurement.md); with this index a page is a
//! range read within the supplier (OFFSET walks index entries only, then 100 rows are
//! fetched).
//!
//! Derived data like the other summary tables: rebuilt by [`super::schema::refresh`] in the
//! transaction that records the data version, and read only when
//! [`super::schema::current`] says it matches the contracts (otherwise the listing falls
//! back to the link-table query, `publish::contracts`).

use rusqlite::{Connection, OptionalExtension};

/// Fills the table from the links; the same statement in the migration and the refresh.
macro_rules! fill_sql {
    () => {
        "INSERT INTO procurement_supplier_keys(supplier_rowid, date_notification, buyer_id,
             contract_id, contract_rowid)
         SELECT DISTINCT cs.supplier_rowid, c.date_notification, c.buyer_id, c.contract_id,
             cs.contract_rowid
         FROM procurement_contract_suppliers cs
         JOIN procurement_contracts c ON c.rowid = cs.contract_rowid"
    };
}

/// Views migration 3. Filled at once: a database whose derived data is current stays
/// current (no full refresh, ~10 min at 1M, just for this table); a stale one is rebuilt
/// by the next refresh anyway.
pub(super) const MIGRATION: &str = concat!(
    "CREATE TABLE procurement_supplier_keys (
    supplier_rowid INTEGER NOT NULL,
    date_notification TEXT,
    buyer_id TEXT NOT NULL,
    contract_id TEXT NOT NULL,
    contract_rowid INTEGER NOT NULL
);
",
    fill_sql!(),
    ";
-- After the fill (one sort instead of a B-tree insert per row). The page key, then the
-- contract so the index alone answers a page's keys.
CREATE INDEX procurement_supplier_keys_page ON procurement_supplier_keys(
    supplier_rowid, date_notification, buyer_id, contract_id, contract_rowid);
"
);

/// Rebuilds the table from the links. Runs inside `refresh`'s transaction.
pub(super) fn rebuild(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM procurement_supplier_keys", [])?;
    conn.execute(fill_sql!(), [])?;
    Ok(())
}

/// One page of a supplier's contracts in the OCDS listing order, read from the keys:
/// `?1` supplier rowid, then the keyset arguments, then LIMIT and OFFSET. The subquery
/// pages the index alone; only the page's contracts are read.
pub fn page_sql(keyset: &str) -> String {
    format!(
        "SELECT c.rowid, c.kind, c.format, c.raw_json, c.cpv, c.cpv_label
         FROM (SELECT k.contract_rowid, k.date_notification, k.buyer_id, k.contract_id
               FROM procurement_supplier_keys k INDEXED BY procurement_supplier_keys_page
               WHERE k.supplier_rowid = ? {keyset}
               ORDER BY k.date_notification, k.buyer_id, k.contract_id LIMIT ? OFFSET ?) k
         JOIN procurement_contracts c ON c.rowid = k.contract_rowid
         ORDER BY k.date_notification, k.buyer_id, k.contract_id"
    )
}

/// Number of a supplier's contracts, from the keys.
pub const COUNT_SQL: &str = "SELECT COUNT(*) FROM procurement_supplier_keys
     INDEXED BY procurement_supplier_keys_page WHERE supplier_rowid = ?";

/// The row of supplier `id` when the keys match the data and `id` names exactly one
/// supplier row (one range of the index). None: use the link-table query (stale keys, an
/// unknown id, or an id under several schemes, whose contracts must be merged).
pub fn supplier_rowid(conn: &Connection, id: &str) -> rusqlite::Result<Option<i64>> {
    if super::schema::current(conn)?.is_none() {
        return Ok(None);
    }
    let rows: Option<(i64, i64)> = conn
        .query_row(
            "SELECT MIN(rowid), COUNT(*) FROM procurement_suppliers WHERE id = ?",
            [id],
            |r| Ok((r.get::<_, Option<i64>>(0)?, r.get(1)?)),
        )
        .optional()?
        .and_then(|(rowid, n)| rowid.map(|rowid| (rowid, n)));
    Ok(match rows {
        Some((rowid, 1)) => Some(rowid),
        _ => None,
    })
}
