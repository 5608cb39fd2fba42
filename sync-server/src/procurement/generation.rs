//! The data generation (procurement migration 4): one counter bumped by triggers in the
//! transaction of every statement that inserts, updates or deletes a row of a table the
//! views derive from, whoever writes (the importer, a fix by hand). The views' data version
//! (`views::schema::data_version`) reads it: one row, on every request. It replaced the
//! highest contract rowid, which an in-place update (a newer version of a record keeps its
//! row) left as it was. Cost: ~5.5 firings per imported record (docs/benchmarks-procurement.md,
//! "Data generation triggers").

/// The data tables the views derive from: any row change in them bumps the generation.
/// Not the run log nor the rejections (the version reads the finished runs itself).
pub const DATA_TABLES: [&str; 6] = [
    "procurement_contracts",
    "procurement_buyers",
    "procurement_suppliers",
    "procurement_contract_suppliers",
    "procurement_modifications",
    "procurement_quality_findings",
];

/// `CREATE TRIGGER <table>_gen_{i,u,d}` for each table: a constant string, as shipped
/// migrations must be. A test checks the list against [`DATA_TABLES`].
macro_rules! generation_triggers {
    ($($table:literal),* $(,)?) => {
        concat!($(
            "CREATE TRIGGER ", $table, "_gen_i AFTER INSERT ON ", $table,
            " BEGIN UPDATE procurement_data_generation SET generation = generation + 1; END;\n",
            "CREATE TRIGGER ", $table, "_gen_u AFTER UPDATE ON ", $table,
            " BEGIN UPDATE procurement_data_generation SET generation = generation + 1; END;\n",
            "CREATE TRIGGER ", $table, "_gen_d AFTER DELETE ON ", $table,
            " BEGIN UPDATE procurement_data_generation SET generation = generation + 1; END;\n",
        )*)
    };
}

/// Procurement migration 4: the counter, its triggers, and the runs' heartbeat (stamped by
/// each committed batch, see `views::live`).
pub(crate) const MIGRATION: &str = concat!(
    "CREATE TABLE procurement_data_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO procurement_data_generation(id, generation) VALUES (1, 0);
",
    generation_triggers!(
        "procurement_contracts",
        "procurement_buyers",
        "procurement_suppliers",
        "procurement_contract_suppliers",
        "procurement_modifications",
        "procurement_quality_findings",
    ),
    "ALTER TABLE procurement_import_runs ADD COLUMN heartbeat_at TEXT;\n",
);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report
mod tests {
    use rusqlite::Connection;

    use super::*;

    #[test]
    fn every_change_to_a_data_table_bumps_the_generation() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::procurement::db::migrate(&mut conn).unwrap();
        let generation = |conn: &Connection| -> i64 {
            conn.query_row(
                "SELECT generation FROM procurement_data_generation",
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        // One trigger per table and kind of change, none forgotten, none more.
        let triggers: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(triggers, 3 * DATA_TABLES.len() as i64);
        for table in DATA_TABLES {
            for (suffix, event) in [("i", "INSERT"), ("u", "UPDATE"), ("d", "DELETE")] {
                let sql: String = conn
                    .query_row(
                        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
                        [format!("{table}_gen_{suffix}")],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert!(sql.contains(&format!("AFTER {event} ON {table} ")), "{sql}");
            }
        }
        let before = generation(&conn);
        conn.execute(
            "INSERT INTO procurement_buyers(id, name) VALUES ('b', 'x')",
            [],
        )
        .unwrap();
        let inserted = generation(&conn);
        assert!(inserted > before);
        // An in-place update keeps every rowid: only the generation tells.
        conn.execute("UPDATE procurement_buyers SET name = 'y'", [])
            .unwrap();
        let updated = generation(&conn);
        assert!(updated > inserted);
        conn.execute("DELETE FROM procurement_buyers", []).unwrap();
        assert!(generation(&conn) > updated);
        // The run log is not data the views derive from.
        let now = generation(&conn);
        conn.execute(
            "INSERT INTO procurement_import_runs(source, started_at, status)
             VALUES ('s', 't', 'running')",
            [],
        )
        .unwrap();
        assert_eq!(generation(&conn), now);
    }
}
