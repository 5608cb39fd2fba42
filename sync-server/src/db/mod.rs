//! The server's own tables (tokens, nights, teams, enrolment codes, scopes), in the same
//! SQLite file the chunk store uses. All access goes through [`Db::call`], which runs the
//! closure on tokio's blocking pool so a slow fsync never stalls the async runtime.
//!
//! One connection behind a mutex: writes are tiny and rare (enrolment, revocation) and
//! SQLite serialises writers anyway; reads on the auth path are single indexed lookups.

pub mod migrations;
pub mod nights;
pub mod tokens;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database connection was poisoned by a panic")]
    Poisoned,
    #[error("the database task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("stored value is not valid: {0}")]
    Corrupt(&'static str),
    #[error("the database schema is version {found}, newer than this server knows ({known})")]
    SchemaTooNew { found: i64, known: i64 },
}

/// Handle on the server database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    /// Opens (or creates) the database file and applies the server's migrations.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        Self::from_connection(Connection::open(path)?)
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Self, DbError> {
        Self::from_connection(Connection::open_in_memory()?)
    }

    fn from_connection(mut conn: Connection) -> Result<Self, DbError> {
        // WAL lets readers proceed during a write; FULL makes an acknowledged write survive
        // power loss (DESIGN §5); busy_timeout because the chunk store shares the file.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )?;
        migrations::migrate(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<F, R>(&self, f: F) -> Result<R, DbError>
    where
        F: FnOnce(&mut Connection) -> Result<R, DbError> + Send + 'static,
        R: Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| DbError::Poisoned)?;
            f(&mut guard)
        })
        .await?
    }

    /// Runs `f` on the calling thread (for startup code outside the runtime, and tests).
    pub fn call_blocking<F, R>(&self, f: F) -> Result<R, DbError>
    where
        F: FnOnce(&mut Connection) -> Result<R, DbError>,
    {
        let mut guard = self.conn.lock().map_err(|_| DbError::Poisoned)?;
        f(&mut guard)
    }
}

/// Reads a 16-byte document id column.
pub(crate) fn document_id_from_blob(
    bytes: &[u8],
) -> Result<carnet_shared::ids::DocumentId, DbError> {
    carnet_shared::ids::DocumentId::from_slice(bytes)
        .map_err(|_| DbError::Corrupt("document id is not 16 bytes"))
}

/// Reads a UUID stored as text.
pub(crate) fn uuid_from_text(text: &str) -> Result<uuid::Uuid, DbError> {
    uuid::Uuid::parse_str(text).map_err(|_| DbError::Corrupt("id is not a UUID"))
}
