//! Procurement tables, in their own SQLite file beside the server's ([`path_for`]).
//! Migrations run on the shared runner (`carnet_shared::store::migrate`, namespace
//! [`NAMESPACE`] in `schema_migrations`).

use std::path::{Path, PathBuf};

use carnet_shared::store::StoreError;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::model::{Contract, Party};
use super::quality::{CpvList, Finding, clean_date};

pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: normalised contracts, parties, modifications, findings, runs.
    r#"
CREATE TABLE procurement_buyers (
    id TEXT PRIMARY KEY,             -- SIRET as published (spaces removed)
    name TEXT
);
CREATE TABLE procurement_suppliers (
    rowid INTEGER PRIMARY KEY,
    scheme TEXT NOT NULL,            -- typeIdentifiant: SIRET, TVA, TAHITI, RIDET, HORS-UE…
    id TEXT NOT NULL,
    name TEXT,
    UNIQUE (scheme, id)
);
CREATE TABLE procurement_contracts (
    rowid INTEGER PRIMARY KEY,
    buyer_id TEXT NOT NULL REFERENCES procurement_buyers(id),
    contract_id TEXT NOT NULL,       -- DECP `id` (unique per buyer only)
    kind TEXT NOT NULL,              -- 'marche' | 'concession'
    format TEXT NOT NULL,            -- '2019' | '2022'
    uid TEXT,
    nature TEXT,
    object TEXT,
    cpv TEXT,                        -- official code with check digit when found in the list, else as published
    cpv_division TEXT,               -- first two digits of a known CPV
    cpv_label TEXT,
    procedure TEXT,
    place_code TEXT,
    place_type TEXT,
    place_name TEXT,
    duration_months INTEGER,
    date_notification TEXT,          -- YYYY-MM-DD when plausible (marchés: dateNotification, concessions: dateSignature)
    date_publication TEXT,
    date_start TEXT,
    amount REAL,                     -- montant / valeurGlobale at award
    amount_final REAL,               -- last modification's amount, else amount
    price_form TEXT,
    offers_received INTEGER,
    framework_id TEXT,
    techniques TEXT,                 -- JSON array of strings
    social_considerations TEXT,      -- JSON array
    environmental_considerations TEXT, -- JSON array
    subcontracting_declared INTEGER,
    innovative INTEGER,
    ccag TEXT,
    public_subsidy REAL,
    source TEXT,
    modification_count INTEGER NOT NULL,
    content_hash TEXT NOT NULL,      -- sha256 of the record as read: same hash = same record
    raw_json TEXT NOT NULL,
    first_run INTEGER NOT NULL,
    last_run INTEGER NOT NULL,
    UNIQUE (buyer_id, contract_id)
);
CREATE INDEX procurement_contracts_buyer ON procurement_contracts(buyer_id);
CREATE INDEX procurement_contracts_cpv ON procurement_contracts(cpv_division, cpv);
CREATE INDEX procurement_contracts_procedure ON procurement_contracts(procedure);
CREATE INDEX procurement_contracts_date ON procurement_contracts(date_notification);
CREATE INDEX procurement_contracts_amount ON procurement_contracts(amount);
CREATE TABLE procurement_contract_suppliers (
    contract_rowid INTEGER NOT NULL REFERENCES procurement_contracts(rowid) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    supplier_rowid INTEGER NOT NULL REFERENCES procurement_suppliers(rowid),
    PRIMARY KEY (contract_rowid, position)
);
CREATE INDEX procurement_contract_suppliers_supplier ON procurement_contract_suppliers(supplier_rowid);
CREATE TABLE procurement_modifications (
    contract_rowid INTEGER NOT NULL REFERENCES procurement_contracts(rowid) ON DELETE CASCADE,
    seq INTEGER NOT NULL,            -- modification id (2022) or position (2019); OCDS order
    object TEXT,
    date_notification TEXT,
    date_publication TEXT,
    duration_months INTEGER,
    amount REAL,
    suppliers_json TEXT NOT NULL,    -- JSON [{scheme,id,name}] when suppliers changed, else []
    raw_json TEXT NOT NULL,
    PRIMARY KEY (contract_rowid, seq)
);
CREATE TABLE procurement_quality_findings (
    contract_rowid INTEGER NOT NULL REFERENCES procurement_contracts(rowid) ON DELETE CASCADE,
    code TEXT NOT NULL,
    field TEXT NOT NULL,
    detail TEXT NOT NULL,
    UNIQUE (contract_rowid, code, field, detail)
);
CREATE INDEX procurement_quality_findings_code ON procurement_quality_findings(code);
CREATE TABLE procurement_import_runs (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,            -- 'running' | 'done' | 'failed'
    read INTEGER NOT NULL DEFAULT 0,
    inserted INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE TABLE procurement_rejections (
    run_id INTEGER NOT NULL REFERENCES procurement_import_runs(id),
    record_index INTEGER NOT NULL,
    reason TEXT NOT NULL,
    raw_json TEXT NOT NULL,
    PRIMARY KEY (run_id, record_index)
);
"#,
    // 2: `/ocds/{releases,records}/{ocid}` looks contracts up by `buyer_id || contract_id`
    // (the ocid minus its prefix); without this expression index that is a full scan
    // (measured in docs/benchmarks-procurement.md). The expression must stay identical
    // to the one in `publish::by_ocid` for SQLite to use it.
    r#"
CREATE INDEX procurement_contracts_ocid ON procurement_contracts(buyer_id || contract_id);
"#,
    // 3: `publish::contracts` pages in (date_notification, buyer_id, contract_id) order; with
    // only the date index SQLite sorted the ties in a temporary B-tree on every page (376 ms
    // vs 0.2 ms for a page at offset 9,900 of 94k contracts, see docs/benchmarks-procurement.md).
    r#"
CREATE INDEX procurement_contracts_page_order
    ON procurement_contracts(date_notification, buyer_id, contract_id);
"#,
    // 4: the data generation, bumped by triggers in the transaction of every statement that
    // inserts, updates or deletes a row the views derive from (`views::schema::data_version`
    // reads it in O(1); before, an in-place update of a contract left the version as it was),
    // and the import runs' heartbeat (each committed batch stamps it: a `running` run whose
    // heartbeat is old is dead, see `views::live::HEARTBEAT_TIMEOUT`). See `generation`.
    super::generation::MIGRATION,
];

/// Namespace of the procurement tables in `schema_migrations` (`carnet_shared::store::migrate`).
pub const NAMESPACE: &str = "carnet-server.procurement";
/// Where versions were recorded before `schema_migrations`; carried over once.
const LEGACY_TABLE: &str = "procurement_migrations";

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("base de données : {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Includes a file written by a newer build (`StoreError::SchemaTooNew`): refused.
    #[error("schéma de la base : {0}")]
    Schema(#[from] StoreError),
}

/// How long a connection waits for another one's write transaction before giving up.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The procurement database that belongs to the server database `server_db`: its own SQLite
/// file beside it (`carnet.sqlite3` → `carnet.procurement.sqlite3`). Not the server's file:
/// SQLite has one writer per file, and an import batch or the views' refresh (minutes at 1M
/// contracts) would hold the lock the sync store needs to acknowledge devices' changes (its
/// writes give up after a few seconds, and the sync actor then closes every connection).
pub fn path_for(server_db: &Path) -> PathBuf {
    let stem = server_db
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "carnet".to_owned());
    server_db.with_file_name(format!("{stem}.procurement.sqlite3"))
}

/// Opens (creating if needed) the database and applies pending migrations.
pub fn open(path: &Path) -> Result<Connection, DbError> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    migrate(&mut conn)?;
    Ok(conn)
}

pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    run_migrations(conn, NAMESPACE, LEGACY_TABLE, MIGRATIONS)
}

/// Applies one append-only migration list under `namespace` with the shared runner (each
/// step in its own transaction, a newer schema refused). Shared by the procurement tables
/// and the views' derived tables, which version themselves separately.
pub(crate) fn run_migrations(
    conn: &mut Connection,
    namespace: &str,
    legacy_table: &'static str,
    steps: &[&str],
) -> Result<(), StoreError> {
    adopt_legacy_version(conn, namespace, legacy_table)?;
    carnet_shared::store::migrate(conn, namespace, steps)?;
    Ok(())
}

/// Databases migrated before `schema_migrations` recorded their version in `legacy_table`
/// (a constant of ours, never input): that version is carried over once, so no step runs
/// twice. The old table is left as it was, for older builds.
fn adopt_legacy_version(
    conn: &Connection,
    namespace: &str,
    legacy_table: &'static str,
) -> Result<(), StoreError> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [legacy_table],
        |r| r.get(0),
    )?;
    if exists {
        // Creates `schema_migrations` when absent.
        carnet_shared::store::schema_version(conn, namespace)?;
        conn.execute(
            &format!(
                "INSERT OR IGNORE INTO schema_migrations(namespace, version)
                 SELECT ?1, COALESCE(MAX(version), 0) FROM {legacy_table}"
            ),
            [namespace],
        )?;
    }
    Ok(())
}

pub fn content_hash(raw: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(raw.to_string().as_bytes()))
}

/// What storing a record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Inserted,
    Updated,
    Unchanged,
    /// An older version than the stored one: kept the stored one.
    Older,
}

/// "Newer" for DECP: more modifications, then later publication date, then content.
fn version_key(modifications: i64, date_publication: Option<&str>) -> (i64, String) {
    (
        modifications,
        date_publication.unwrap_or_default().to_string(),
    )
}

fn upsert_supplier(tx: &Connection, p: &Party) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO procurement_suppliers(scheme, id, name) VALUES (?1, ?2, ?3)
         ON CONFLICT(scheme, id) DO UPDATE SET name = COALESCE(excluded.name, name)",
    )?
    .execute(params![p.scheme.to_uppercase(), p.id, p.name])?;
    tx.prepare_cached("SELECT rowid FROM procurement_suppliers WHERE scheme = ?1 AND id = ?2")?
        .query_row(params![p.scheme.to_uppercase(), p.id], |r| r.get(0))
}

fn parties_json(parties: &[Party]) -> String {
    serde_json::Value::Array(
        parties
            .iter()
            .map(|p| serde_json::json!({"scheme": p.scheme, "id": p.id, "name": p.name}))
            .collect(),
    )
    .to_string()
}

/// Stores one contract (replacing an older version) with its findings; returns what happened
/// and the contract's rowid.
pub fn store_contract(
    tx: &Connection,
    run_id: i64,
    c: &Contract,
    findings: &[Finding],
    cpv: &CpvList,
) -> rusqlite::Result<(Stored, i64)> {
    let hash = content_hash(&c.raw);
    let date_publication = clean_date(c.date_publication.as_deref());
    let existing: Option<(i64, String, i64, Option<String>)> = tx
        .query_row(
            "SELECT rowid, content_hash, modification_count, date_publication
             FROM procurement_contracts WHERE buyer_id = ?1 AND contract_id = ?2",
            params![c.buyer.id, c.id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let outcome = match &existing {
        None => Stored::Inserted,
        Some((_, h, _, _)) if *h == hash => Stored::Unchanged,
        Some((_, _, mods, date)) => {
            let old = version_key(*mods, date.as_deref());
            let new = version_key(c.modifications.len() as i64, date_publication.as_deref());
            if new >= old {
                Stored::Updated
            } else {
                Stored::Older
            }
        }
    };
    if let (Stored::Unchanged | Stored::Older, Some((rowid, ..))) = (outcome, &existing) {
        return Ok((outcome, *rowid));
    }
    tx.prepare_cached(
        "INSERT INTO procurement_buyers(id, name) VALUES (?1, ?2)
         ON CONFLICT(id) DO UPDATE SET name = COALESCE(excluded.name, name)",
    )?
    .execute(params![c.buyer.id, c.buyer.name])?;
    let known_cpv = c.cpv.as_deref().and_then(|code| cpv.lookup(code));
    let cpv_code = known_cpv
        .map(|(code, _)| code.to_string())
        .or_else(|| c.cpv.clone());
    let cpv_division = known_cpv.map(|(code, _)| code[..2].to_string());
    let signed = clean_date(
        c.date_notification
            .as_deref()
            .or(c.date_signature.as_deref()),
    );
    let amount_final = c
        .modifications
        .iter()
        .rev()
        .find_map(|m| m.amount)
        .or(c.amount);
    let json_list = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    let first_run = existing.as_ref().map(|_| -1).unwrap_or(run_id);
    // RETURNING: the rowid of the inserted or updated row without a second lookup.
    let rowid: i64 = tx.prepare_cached(
        "INSERT INTO procurement_contracts(buyer_id, contract_id, kind, format, uid, nature, object,
            cpv, cpv_division, cpv_label, procedure, place_code, place_type, place_name,
            duration_months, date_notification, date_publication, date_start, amount, amount_final,
            price_form, offers_received, framework_id, techniques, social_considerations,
            environmental_considerations, subcontracting_declared, innovative, ccag, public_subsidy,
            source, modification_count, content_hash, raw_json, first_run, last_run)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,
            ?24,?25,?26,?27,?28,?29,?30,?31,?32,?33,?34,?35,?36)
         ON CONFLICT(buyer_id, contract_id) DO UPDATE SET kind=excluded.kind, format=excluded.format,
            uid=excluded.uid, nature=excluded.nature, object=excluded.object, cpv=excluded.cpv,
            cpv_division=excluded.cpv_division, cpv_label=excluded.cpv_label,
            procedure=excluded.procedure, place_code=excluded.place_code,
            place_type=excluded.place_type, place_name=excluded.place_name,
            duration_months=excluded.duration_months, date_notification=excluded.date_notification,
            date_publication=excluded.date_publication, date_start=excluded.date_start,
            amount=excluded.amount, amount_final=excluded.amount_final,
            price_form=excluded.price_form, offers_received=excluded.offers_received,
            framework_id=excluded.framework_id, techniques=excluded.techniques,
            social_considerations=excluded.social_considerations,
            environmental_considerations=excluded.environmental_considerations,
            subcontracting_declared=excluded.subcontracting_declared,
            innovative=excluded.innovative, ccag=excluded.ccag,
            public_subsidy=excluded.public_subsidy, source=excluded.source,
            modification_count=excluded.modification_count, content_hash=excluded.content_hash,
            raw_json=excluded.raw_json, last_run=excluded.last_run
         RETURNING rowid",
    )?
    .query_row(
        params![
            c.buyer.id,
            c.id,
            c.kind.as_str(),
            c.format,
            c.uid,
            c.nature,
            c.object,
            cpv_code,
            cpv_division,
            known_cpv.map(|(_, label)| label.to_string()),
            c.procedure,
            c.place_code,
            c.place_type,
            c.place_name,
            c.duration_months,
            signed,
            date_publication,
            clean_date(c.date_start.as_deref()),
            c.amount,
            amount_final,
            c.price_form,
            c.offers_received,
            c.framework_id,
            json_list(&c.techniques),
            json_list(&c.social_considerations),
            json_list(&c.environmental_considerations),
            c.subcontracting_declared,
            c.innovative,
            c.ccag,
            c.public_subsidy,
            c.source,
            c.modifications.len() as i64,
            hash,
            c.raw.to_string(),
            first_run,
            run_id,
        ],
        |r| r.get(0),
    )?;

    tx.prepare_cached("DELETE FROM procurement_contract_suppliers WHERE contract_rowid = ?1")?
        .execute([rowid])?;
    tx.prepare_cached("DELETE FROM procurement_modifications WHERE contract_rowid = ?1")?
        .execute([rowid])?;
    // Duplicate findings belong to the key, not to one version: keep them.
    tx.prepare_cached(
        "DELETE FROM procurement_quality_findings WHERE contract_rowid = ?1 AND code NOT LIKE 'doublon%'",
    )?
    .execute(
        [rowid],
    )?;
    let mut position = 0i64;
    for s in &c.suppliers {
        let supplier = upsert_supplier(tx, s)?;
        // The same supplier listed twice (seen in the wild) is stored once.
        let n = tx.prepare_cached(
            "INSERT INTO procurement_contract_suppliers(contract_rowid, position, supplier_rowid)
             SELECT ?1, ?2, ?3 WHERE NOT EXISTS (SELECT 1 FROM procurement_contract_suppliers
               WHERE contract_rowid = ?1 AND supplier_rowid = ?3)",
        )?
        .execute(
            params![rowid, position, supplier],
        )?;
        position += n as i64;
    }
    for m in &c.modifications {
        tx.prepare_cached(
            "INSERT INTO procurement_modifications(contract_rowid, seq, object, date_notification,
                date_publication, duration_months, amount, suppliers_json, raw_json)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
        )?
        .execute(params![
            rowid,
            m.seq,
            m.object,
            clean_date(
                m.date_notification
                    .as_deref()
                    .or(m.date_signature.as_deref())
            ),
            clean_date(m.date_publication.as_deref()),
            m.duration_months,
            m.amount,
            parties_json(&m.suppliers),
            m.raw.to_string(),
        ])?;
    }
    for f in findings {
        add_finding(tx, rowid, f)?;
    }
    Ok((outcome, rowid))
}

pub fn add_finding(tx: &Connection, rowid: i64, f: &Finding) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO procurement_quality_findings(contract_rowid, code, field, detail)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![rowid, f.code, f.field, f.detail])?;
    Ok(())
}

/// Row counts of the data tables (for idempotence checks and the summary).
pub fn table_counts(conn: &Connection) -> rusqlite::Result<Vec<(&'static str, i64)>> {
    super::generation::DATA_TABLES
        .iter()
        .map(|t| {
            conn.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))
                .map(|n| (*t, n))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn a_database_migrated_by_the_old_runner_is_adopted_without_rerunning_steps() {
        let mut conn = Connection::open_in_memory().unwrap();
        // What the previous runner left: the steps applied and its own version table.
        conn.execute_batch("CREATE TABLE procurement_migrations (version INTEGER PRIMARY KEY)")
            .unwrap();
        for (i, step) in MIGRATIONS.iter().enumerate() {
            conn.execute_batch(step).unwrap();
            conn.execute(
                "INSERT INTO procurement_migrations(version) VALUES (?1)",
                [i as i64 + 1],
            )
            .unwrap();
        }
        // Re-running step 1 would fail (CREATE TABLE without IF NOT EXISTS).
        migrate(&mut conn).unwrap();
        assert_eq!(
            carnet_shared::store::schema_version(&conn, NAMESPACE).unwrap(),
            MIGRATIONS.len() as i64
        );
        migrate(&mut conn).unwrap();
    }

    #[test]
    fn a_database_from_a_newer_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.sqlite3");
        drop(open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE schema_migrations SET version = version + 1 WHERE namespace = ?1",
            [NAMESPACE],
        )
        .unwrap();
        drop(conn);
        assert!(matches!(
            open(&path),
            Err(DbError::Schema(StoreError::SchemaTooNew { .. }))
        ));
    }

    #[test]
    fn the_procurement_file_sits_beside_the_server_file() {
        assert_eq!(
            path_for(Path::new("/srv/carnet/carnet.sqlite3")),
            Path::new("/srv/carnet/carnet.procurement.sqlite3")
        );
        assert_eq!(
            path_for(Path::new("data/server.db")),
            Path::new("data/server.procurement.sqlite3")
        );
        assert_eq!(
            path_for(Path::new("carnet")),
            Path::new("carnet.procurement.sqlite3")
        );
    }
}
