//! The server's own tables (tokens, nights, teams, enrolment codes, scopes), in the same
//! SQLite file the chunk store uses. All access goes through [`Db::call`], which runs the
//! closure on tokio's blocking pool so a slow fsync never stalls the async runtime.
//!
//! One connection behind a mutex: writes are tiny and rare (enrolment, revocation) and
//! SQLite serialises writers anyway; reads on the auth path are single indexed lookups.

pub mod climate;
pub mod migrations;
pub mod nights;
pub mod tokens;

use std::path::{Path, PathBuf};
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
    #[error("store: {0}")]
    Store(#[from] carnet_shared::store::StoreError),
}

/// Handle on the server database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    /// The file, so that the chunk store opens the same one; `None` in memory.
    path: Option<PathBuf>,
}

impl Db {
    /// Opens (or creates) the database file and applies the server's migrations.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        Self::from_connection(Connection::open(path)?, Some(path.to_owned()))
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Self, DbError> {
        Self::from_connection(Connection::open_in_memory()?, None)
    }

    /// The database file (`None` for an in-memory database).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn from_connection(mut conn: Connection, path: Option<PathBuf>) -> Result<Self, DbError> {
        // WAL lets readers proceed during a write; FULL makes an acknowledged write survive
        // power loss (DESIGN §5); busy_timeout because the chunk store shares the file.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )?;
        migrations::migrate(&mut conn)?;
        climate::migrate(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path,
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
