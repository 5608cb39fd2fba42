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
    // 4: the data version is now the data generation (procurement migration 4) instead of
    // the highest contract rowid: derived data stamped with the old version of the data as
    // it is gets the new one, so a current database stays current (no full refresh, ~6 min
    // at 1M, just for the new version's spelling) as far as the data goes; a stale one stays
    // stale. (The build that brings this step also changes the views' code: its stamps
    // differ, so its first refresh runs anyway.)
    r#"
UPDATE procurement_view_state
SET value = (SELECT (SELECT COALESCE(MAX(id), 0) || '.' || COUNT(*) FROM procurement_import_runs
                     WHERE status != 'running')
                 || ':g' || (SELECT generation FROM procurement_data_generation))
            || substr(value, instr(value, '#'))
WHERE key IN ('flags_version', 'pages_version') AND instr(value, '#') > 0
  AND substr(value, 1, instr(value, '#') - 1) =
      (SELECT (SELECT COALESCE(MAX(id), 0) || '.' || COUNT(*) FROM procurement_import_runs
               WHERE status != 'running')
           || ':' || (SELECT COALESCE(MAX(rowid), 0) FROM procurement_contracts));
-- Which run the last refresh reflects (for the notice shown during an import): exact for a
-- current database, replaced by the next refresh otherwise.
INSERT OR REPLACE INTO procurement_view_state(key, value)
SELECT 'refreshed_run', MAX(id) FROM procurement_import_runs WHERE status != 'running'
HAVING MAX(id) IS NOT NULL;
"#,
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

/// What the derived data is computed from: the data generation (bumped by triggers with
/// every row inserted, updated or deleted in the data tables, db migration 4) and the
/// finished import runs (the quality page lists them). O(1) on the data: this runs on every
/// request.
pub(crate) fn data_version(conn: &Connection) -> rusqlite::Result<String> {
    conn.query_row(
        "SELECT (SELECT COALESCE(MAX(id), 0) || '.' || COUNT(*) FROM procurement_import_runs
                 WHERE status != 'running')
             || ':g' || (SELECT generation FROM procurement_data_generation)",
        [],
        |r| r.get(0),
    )
}

/// Which derived data (red flags, summaries, page marks, supplier keys, stored pages) a
/// reader may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Derived {
    /// Only derived data that matches the data as it is now: the rule.
    #[default]
    Matching,
    /// The last complete refresh's, whatever the data now: only while an import run is
    /// alive, and the page then says so (`live::Basis::Importing`).
    LastRefresh,
}

/// This build's stamps of the views' code (`build.rs`): derived data stored by a build whose
/// code would derive or render it differently is stale, as if the data had changed. Without
/// them a deploy that fixes a template or a figure kept serving the old stored pages until
/// the next import.
const DERIVED_STAMP: &str = env!("CARNET_VIEWS_DERIVED_STAMP");
const PAGES_STAMP: &str = env!("CARNET_VIEWS_PAGES_STAMP");

/// What `procurement_view_state` must hold under `key` for derived data of `version` made
/// by a build with `stamp`.
fn stamped(version: &str, stamp: &str) -> String {
    format!("{version}#{stamp}")
}

fn state(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT value FROM procurement_view_state WHERE key = ?1",
        [key],
        |r| r.get(0),
    )
    .optional()
}

fn set_state(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO procurement_view_state(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
    Ok(())
}

/// Which derived data must be rebuilt for the data as it is now.
struct Staleness {
    version: String,
    /// Red flags, aggregates, page marks, supplier keys (and so the pages too).
    derived: bool,
    /// Only the stored pages (this build renders differently).
    pages: bool,
}

fn staleness(conn: &Connection) -> rusqlite::Result<Staleness> {
    let version = data_version(conn)?;
    let derived = state(conn, "flags_version")? != Some(stamped(&version, DERIVED_STAMP));
    let pages = state(conn, "pages_version")? != Some(stamped(&version, PAGES_STAMP));
    Ok(Staleness {
        version,
        derived,
        pages,
    })
}

/// The data version when the red flags, summaries and stored pages are up to date with it
/// and were made by this build's code, else None (then [`refresh`] must run on a writable
/// connection). Read-only.
pub fn current(conn: &Connection) -> rusqlite::Result<Option<String>> {
    let s = staleness(conn)?;
    Ok((!s.derived && !s.pages).then_some(s.version))
}

/// The data version the last complete refresh by this build's code was made for (its
/// aggregates and its pages from the same refresh), whatever the data now.
pub fn last_refresh(conn: &Connection) -> rusqlite::Result<Option<String>> {
    let flags = state(conn, "flags_version")?;
    let pages = state(conn, "pages_version")?;
    let derived_suffix = format!("#{DERIVED_STAMP}");
    let pages_suffix = format!("#{PAGES_STAMP}");
    Ok(match (flags, pages) {
        (Some(flags), Some(pages)) => {
            match (
                flags.strip_suffix(&derived_suffix),
                pages.strip_suffix(&pages_suffix),
            ) {
                (Some(a), Some(b)) if a == b => Some(a.to_string()),
                _ => None,
            }
        }
        _ => None,
    })
}

/// Whether a reader may use the derived data under `derived`.
pub fn usable(conn: &Connection, derived: Derived) -> rusqlite::Result<bool> {
    Ok(match derived {
        Derived::Matching => current(conn)?.is_some(),
        Derived::LastRefresh => last_refresh(conn)?.is_some(),
    })
}

/// When the import run the last refresh reflects finished (RFC 3339, as the importer's clock
/// gave it), if any run had finished then.
pub fn last_refresh_run_finished(conn: &Connection) -> rusqlite::Result<Option<String>> {
    let Some(run) = state(conn, "refreshed_run")? else {
        return Ok(None);
    };
    conn.query_row(
        "SELECT finished_at FROM procurement_import_runs WHERE id = CAST(?1 AS INTEGER)",
        [run],
        |r| r.get::<_, Option<String>>(0),
    )
    .optional()
    .map(Option::flatten)
}

/// Recomputes the red flags and the summary tables if the data (or the code deriving them)
/// changed since the last time, or only the stored pages if just the rendering changed, in
/// one transaction (readers see the old derived data or the new, never a mix). Returns the
/// data version the views now reflect (part of cache keys).
pub fn refresh(conn: &Connection) -> Result<String, SummaryError> {
    if let Some(version) = current(conn)? {
        return Ok(version);
    }
    // IMMEDIATE: two requests racing after an import compute once, the second waits
    // and then sees the stored version.
    conn.execute_batch("BEGIN IMMEDIATE")?;
    in_transaction(conn, refresh_within)
}

/// Runs `f` in the transaction the caller just began: committed if it succeeds, rolled
/// back if not.
pub(crate) fn in_transaction<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, SummaryError>,
) -> Result<T, SummaryError> {
    match f(conn) {
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

/// [`refresh`]'s work inside a write transaction the caller holds (the import's end step
/// runs it in the transaction that marks the run done).
pub fn refresh_within(conn: &Connection) -> Result<String, SummaryError> {
    let s = staleness(conn)?;
    if s.derived {
        redflags::compute(conn)?;
        summary::rebuild_aggregates(conn)?;
        supplier_keys::rebuild(conn)?;
        set_state(conn, "flags_version", &stamped(&s.version, DERIVED_STAMP))?;
        let run: Option<i64> = conn.query_row(
            "SELECT MAX(id) FROM procurement_import_runs WHERE status != 'running'",
            [],
            |r| r.get(0),
        )?;
        match run {
            Some(run) => set_state(conn, "refreshed_run", &run.to_string())?,
            None => {
                conn.execute(
                    "DELETE FROM procurement_view_state WHERE key = 'refreshed_run'",
                    [],
                )?;
            }
        }
    }
    if s.derived || s.pages {
        // Before rendering: the pages are rendered from the aggregates above, which
        // readers use only once both stamps match.
        set_state(conn, "pages_version", &stamped(&s.version, PAGES_STAMP))?;
        summary::rebuild_pages(conn)?;
    }
    Ok(s.version)
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

    /// The version an older build stamped: finished runs and the highest contract rowid.
    fn old_version(conn: &Connection) -> String {
        conn.query_row(
            "SELECT (SELECT COALESCE(MAX(id), 0) || '.' || COUNT(*) FROM procurement_import_runs
                     WHERE status != 'running')
                 || ':' || (SELECT COALESCE(MAX(rowid), 0) FROM procurement_contracts)",
            [],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn the_generation_migration_keeps_a_current_database_current_and_a_stale_one_stale() {
        use crate::procurement::db;
        for current_before in [true, false] {
            let mut conn = Connection::open_in_memory().unwrap();
            // As the previous build left it: three steps of each list.
            carnet_shared::store::migrate(&mut conn, db::NAMESPACE, &db::MIGRATIONS[..3]).unwrap();
            carnet_shared::store::migrate(&mut conn, NAMESPACE, &MIGRATIONS[..3]).unwrap();
            conn.execute_batch(
                "INSERT INTO procurement_buyers(id) VALUES ('b');
                 INSERT INTO procurement_import_runs(id, source, started_at, finished_at, status)
                   VALUES (7, 's', '2026-01-01T00:00:00Z', '2026-01-01T00:10:00Z', 'done');
                 INSERT INTO procurement_contracts(buyer_id, contract_id, kind, format,
                   modification_count, content_hash, raw_json, first_run, last_run)
                   VALUES ('b', 'x', 'marche', '2019', 0, 'h', '{}', 7, 7);",
            )
            .unwrap();
            let old = old_version(&conn);
            let stamped_as = if current_before {
                old
            } else {
                "6.1:1".to_string()
            };
            set_state(&conn, "flags_version", &stamped(&stamped_as, DERIVED_STAMP)).unwrap();
            set_state(&conn, "pages_version", &stamped(&stamped_as, PAGES_STAMP)).unwrap();

            db::migrate(&mut conn).unwrap();
            migrate(&mut conn).unwrap();
            assert_eq!(
                current(&conn).unwrap().is_some(),
                current_before,
                "current before: {current_before}"
            );
            assert_eq!(state(&conn, "refreshed_run").unwrap().as_deref(), Some("7"));
            assert_eq!(
                last_refresh_run_finished(&conn).unwrap().as_deref(),
                Some("2026-01-01T00:10:00Z")
            );
        }
    }

    #[test]
    fn pages_stored_by_another_build_are_stale_and_rebuilt_alone() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::procurement::db::migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let version = refresh(&conn).unwrap();
        let marker = "<!-- rendered by an older build -->";
        conn.execute("UPDATE procurement_view_pages SET html = ?1", [marker])
            .unwrap();
        // A mark in the aggregates: only a full rebuild puts the real count back.
        conn.execute("UPDATE procurement_view_headline SET contracts = 999", [])
            .unwrap();
        // As an older build left it: same data, another renderer.
        set_state(&conn, "pages_version", &stamped(&version, "0.0.0+old")).unwrap();
        assert_eq!(current(&conn).unwrap(), None);
        assert!(
            summary::stored_page(
                &conn,
                "Overview true",
                summary::Rendering::Html,
                Derived::Matching
            )
            .unwrap()
            .is_none(),
            "an older build's page is never served"
        );
        assert_eq!(refresh(&conn).unwrap(), version);
        assert_eq!(current(&conn).unwrap(), Some(version.clone()));
        let (html, _) = summary::stored_page(
            &conn,
            "Overview true",
            summary::Rendering::Html,
            Derived::Matching,
        )
        .unwrap()
        .unwrap();
        assert!(!html.contains(marker));
        let contracts = |conn: &Connection| -> i64 {
            conn.query_row("SELECT contracts FROM procurement_view_headline", [], |r| {
                r.get(0)
            })
            .unwrap()
        };
        assert_eq!(contracts(&conn), 999, "only the pages were rebuilt");

        // Aggregates derived by another build: everything is rebuilt.
        set_state(&conn, "flags_version", &stamped(&version, "0.0.0+old")).unwrap();
        assert_eq!(current(&conn).unwrap(), None);
        assert_eq!(refresh(&conn).unwrap(), version);
        assert_eq!(contracts(&conn), 0);
    }
}
