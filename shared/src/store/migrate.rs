//! Append-only schema migrations, shared by every crate that keeps tables in the same SQLite
//! file. Each crate owns a *namespace* (e.g. `carnet-shared.store`, `carnet-server`) and a list
//! of SQL steps; step `i` (0-based) brings the namespace to version `i + 1`. Steps are never
//! edited or removed once released, only appended.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::error::StoreError;

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    namespace TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 0)
) WITHOUT ROWID;";

/// The version a namespace is at (0 when it has never been migrated).
pub fn schema_version(conn: &Connection, namespace: &str) -> Result<i64, StoreError> {
    conn.execute_batch(CREATE_TABLE)?;
    let version = conn
        .query_row(
            "SELECT version FROM schema_migrations WHERE namespace = ?1",
            params![namespace],
            |row| row.get::<_, i64>(0),
        )
        .optional()?;
    Ok(version.unwrap_or(0))
}

/// Brings `namespace` up to `steps.len()`, applying the missing steps in order, each in its own
/// transaction together with the version bump (a crash leaves a consistent, older version).
/// Refuses a database already at a newer version than `steps` knows. Returns the new version.
pub fn migrate(conn: &mut Connection, namespace: &str, steps: &[&str]) -> Result<i64, StoreError> {
    let supported = i64::try_from(steps.len()).unwrap_or(i64::MAX);
    conn.execute_batch(CREATE_TABLE)?;
    let found = schema_version(conn, namespace)?;
    if found > supported {
        return Err(StoreError::SchemaTooNew {
            namespace: namespace.to_owned(),
            found,
            supported,
        });
    }
    for (index, step) in steps
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let version = i64::try_from(index + 1).unwrap_or(i64::MAX);
        let failed = |source| StoreError::Migration {
            namespace: namespace.to_owned(),
            version,
            source,
        };
        // IMMEDIATE: two processes opening the same file at once must not both run a step.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed)?;
        // Re-read under the write lock: another process may have migrated meanwhile.
        let current: i64 = tx
            .query_row(
                "SELECT version FROM schema_migrations WHERE namespace = ?1",
                params![namespace],
                |row| row.get(0),
            )
            .optional()
            .map_err(failed)?
            .unwrap_or(0);
        if current >= version {
            continue;
        }
        tx.execute_batch(step).map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_migrations (namespace, version) VALUES (?1, ?2)
             ON CONFLICT(namespace) DO UPDATE SET version = excluded.version",
            params![namespace, version],
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
    }
    Ok(supported.max(found))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const STEPS: &[&str] = &[
        "CREATE TABLE sector (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
        "ALTER TABLE sector ADD COLUMN arrondissement INTEGER;",
    ];

    #[test]
    fn applies_steps_once_and_appends_new_ones() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn, "test", &STEPS[..1]).unwrap(), 1);
        // Running again is a no-op (the CREATE TABLE would fail if re-run).
        assert_eq!(migrate(&mut conn, "test", &STEPS[..1]).unwrap(), 1);
        assert_eq!(migrate(&mut conn, "test", STEPS).unwrap(), 2);
        conn.execute(
            "INSERT INTO sector (name, arrondissement) VALUES ('Halles', 1)",
            [],
        )
        .unwrap();
        assert_eq!(schema_version(&conn, "test").unwrap(), 2);
    }

    #[test]
    fn namespaces_are_independent() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, "a", STEPS).unwrap();
        migrate(
            &mut conn,
            "b",
            &["CREATE TABLE team (id INTEGER PRIMARY KEY);"],
        )
        .unwrap();
        assert_eq!(schema_version(&conn, "a").unwrap(), 2);
        assert_eq!(schema_version(&conn, "b").unwrap(), 1);
        assert_eq!(schema_version(&conn, "c").unwrap(), 0);
    }

    #[test]
    fn refuses_a_database_from_a_newer_build() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, "test", STEPS).unwrap();
        let err = migrate(&mut conn, "test", &STEPS[..1]).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::SchemaTooNew {
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_failing_step_leaves_the_previous_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        let steps = &[STEPS[0], "CREATE TABLE broken (;"];
        let err = migrate(&mut conn, "test", steps).unwrap_err();
        assert!(
            matches!(err, StoreError::Migration { version: 2, .. }),
            "{err:?}"
        );
        assert_eq!(schema_version(&conn, "test").unwrap(), 1);
    }
}
