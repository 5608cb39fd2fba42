//! Append-only migrations for the server's tables. The chunk store keeps its own migrations
//! in the same file: each crate has a namespace row in `schema_migrations` (not
//! `user_version`), and the server's tables are prefixed with `server_`.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::DbError;

/// Each entry is applied once, in order; never edit a released entry, append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: nights, teams, tokens, scopes, enrolment codes, documents created by the API.
    "CREATE TABLE server_nights (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        night_date TEXT,
        document_id BLOB NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
     );
     CREATE TABLE server_teams (
        id TEXT PRIMARY KEY,
        night_id TEXT NOT NULL REFERENCES server_nights(id),
        name TEXT NOT NULL,
        document_id BLOB NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        UNIQUE (night_id, name)
     );
     CREATE TABLE server_tokens (
        id TEXT PRIMARY KEY,
        secret_hash BLOB NOT NULL UNIQUE,
        role TEXT NOT NULL
            CHECK (role IN ('admin', 'coordinator', 'team-member', 'volunteer')),
        peer_id TEXT NOT NULL UNIQUE,
        night_id TEXT REFERENCES server_nights(id),
        team_id TEXT REFERENCES server_teams(id),
        label TEXT,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        revoked_at INTEGER
     );
     CREATE INDEX server_tokens_night ON server_tokens (night_id);
     -- Explicit per-document grants (a device: its team document RW, its night RO).
     CREATE TABLE server_token_scopes (
        token_id TEXT NOT NULL REFERENCES server_tokens(id),
        document_id BLOB NOT NULL,
        access TEXT NOT NULL CHECK (access IN ('read-only', 'read-write')),
        PRIMARY KEY (token_id, document_id)
     );
     -- Night-wide grants (a coordinator), expanded to the night's documents at auth time so
     -- teams created later are included.
     CREATE TABLE server_night_grants (
        token_id TEXT NOT NULL REFERENCES server_tokens(id),
        night_id TEXT NOT NULL REFERENCES server_nights(id),
        night_access TEXT NOT NULL CHECK (night_access IN ('read-only', 'read-write')),
        team_access TEXT NOT NULL CHECK (team_access IN ('read-only', 'read-write')),
        PRIMARY KEY (token_id, night_id)
     );
     CREATE TABLE server_enrolment_codes (
        code_hash BLOB PRIMARY KEY,
        team_id TEXT NOT NULL REFERENCES server_teams(id),
        created_at INTEGER NOT NULL,
        used_at INTEGER,
        token_id TEXT REFERENCES server_tokens(id)
     );
     CREATE INDEX server_enrolment_codes_team ON server_enrolment_codes (team_id);
     -- Initial saves of documents made by the API, until the shared chunk store takes over.
     CREATE TABLE server_documents (
        document_id BLOB PRIMARY KEY,
        kind TEXT NOT NULL,
        bytes BLOB NOT NULL,
        created_at INTEGER NOT NULL
     );",
];

pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// This crate's namespace in `schema_migrations`.
pub const NAMESPACE: &str = "carnet-server";

/// The same bookkeeping table as `carnet_shared::store::migrate` (one row per namespace), so
/// the file's layout does not change when this function is replaced by
/// `carnet_shared::store::migrate::migrate(conn, NAMESPACE, MIGRATIONS)` at merge time.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    namespace TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 0)
) WITHOUT ROWID;";

/// Applies the missing steps, all in one IMMEDIATE transaction (two processes opening the file
/// at once cannot both run a step). Refuses a schema newer than this server knows.
pub fn migrate(conn: &mut Connection) -> Result<(), DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(CREATE_TABLE)?;
    let current: i64 = tx
        .query_row(
            "SELECT version FROM schema_migrations WHERE namespace = ?1",
            params![NAMESPACE],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0);
    if current > LATEST_VERSION {
        return Err(DbError::SchemaTooNew {
            found: current,
            known: LATEST_VERSION,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = index as i64 + 1;
        if version > current {
            tx.execute_batch(sql)?;
        }
    }
    tx.execute(
        "INSERT INTO schema_migrations (namespace, version) VALUES (?1, ?2)
         ON CONFLICT(namespace) DO UPDATE SET version = excluded.version",
        params![NAMESPACE, LATEST_VERSION.max(current)],
    )?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn
            .query_row(
                "SELECT version FROM schema_migrations WHERE namespace = ?1",
                params![NAMESPACE],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, LATEST_VERSION);
    }

    #[test]
    fn refuses_a_schema_from_a_newer_server() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute(
            "UPDATE schema_migrations SET version = ?2 WHERE namespace = ?1",
            params![NAMESPACE, LATEST_VERSION + 1],
        )
        .unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(DbError::SchemaTooNew { .. })
        ));
    }

    #[test]
    fn another_namespace_in_the_same_file_is_left_alone() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(CREATE_TABLE).unwrap();
        conn.execute(
            "INSERT INTO schema_migrations (namespace, version) VALUES ('carnet-shared.store', 7)",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let other: i64 = conn
            .query_row(
                "SELECT version FROM schema_migrations WHERE namespace = 'carnet-shared.store'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(other, 7);
    }
}
