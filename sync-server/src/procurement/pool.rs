//! SQLite connections shared by the procurement routes. The file is opened and migrated
//! once (not per request); queries run on pooled read-only connections, which keep their
//! page cache and prepared statements between requests; the one writer connection only
//! refreshes the views' derived tables after an import (when no import run is alive, see
//! `views::live`; it then also marks runs that stopped beating as failed). Counts of
//! filtered listings are cached per data version.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::db::{self, DbError};
use super::views::schema;

/// Idle read-only connections kept open (the blocking pool may run more at once; the extra
/// ones are closed after use).
const MAX_IDLE_READERS: usize = 4;
/// Cached counts kept before the cache is emptied.
const MAX_COUNTS: usize = 1024;
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct ProcurementDb {
    path: PathBuf,
    /// Opened and migrated on first use (start-up, see [`ProcurementDb::prepare`]); a
    /// failed migration is retried on the next request rather than remembered.
    writer: Mutex<Option<Connection>>,
    migrated: AtomicBool,
    readers: Mutex<Vec<Connection>>,
    counts: Mutex<HashMap<String, i64>>,
}

impl ProcurementDb {
    /// Nothing is opened yet: call [`ProcurementDb::prepare`] at start-up.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            writer: Mutex::new(None),
            migrated: AtomicBool::new(false),
            readers: Mutex::new(Vec::new()),
            counts: Mutex::new(HashMap::new()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the writer connection and applies the procurement and views migrations.
    pub fn prepare(&self) -> Result<(), DbError> {
        self.write(|_| Ok(()))
    }

    /// Runs `f` on the writer connection (one at a time).
    pub fn write<T, E: From<DbError>>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        // A panic while holding the lock may leave the connection inside a transaction
        // (a refresh's `BEGIN IMMEDIATE`), and SQLite refuses to begin another one then: roll
        // it back before reuse, so poisoning can be ignored.
        let mut guard = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let conn = match guard.take() {
            Some(conn) if !conn.is_autocommit() => {
                conn.execute_batch("ROLLBACK").map_err(DbError::from)?;
                conn
            }
            Some(conn) => conn,
            None => {
                let mut conn = db::open(&self.path)?;
                schema::migrate(&mut conn).map_err(DbError::from)?;
                self.migrated.store(true, Ordering::Release);
                conn
            }
        };
        let result = f(&conn);
        *guard = Some(conn);
        result
    }

    /// Runs `f` on a pooled read-only connection.
    pub fn read<T, E: From<DbError>>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        if !self.migrated.load(Ordering::Acquire) {
            self.prepare()?;
        }
        let idle = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI,
                )
                .map_err(DbError::from)?;
                conn.busy_timeout(BUSY_TIMEOUT).map_err(DbError::from)?;
                conn
            }
        };
        let result = f(&conn);
        let mut idle = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        result
    }

    /// The count under `key` for the current data version, computed by `count` on a miss.
    /// The key must name everything the count depends on except the data.
    pub fn cached_count<E: From<rusqlite::Error>>(
        &self,
        conn: &Connection,
        key: &str,
        count: impl FnOnce(&Connection) -> Result<i64, E>,
    ) -> Result<i64, E> {
        let key = format!("{}\u{0}{key}", schema::data_version(conn)?);
        if let Some(n) = self
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(*n);
        }
        let n = count(conn)?;
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.len() >= MAX_COUNTS {
            counts.clear();
        }
        counts.insert(key, n);
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn readers_are_read_only_and_reused_and_counts_follow_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let db = ProcurementDb::new(dir.path().join("p.sqlite3"));
        // The first read migrates through the writer.
        let count = |c: &Connection| -> Result<i64, DbError> {
            Ok(
                c.query_row("SELECT COUNT(*) FROM procurement_contracts", [], |r| {
                    r.get(0)
                })?,
            )
        };
        let n: i64 = db.read(count).unwrap();
        assert_eq!(n, 0);
        let refused = db.read(|c| -> Result<usize, DbError> {
            Ok(c.execute("INSERT INTO procurement_buyers(id) VALUES ('b')", [])?)
        });
        assert!(refused.is_err(), "a reader must not write");
        assert_eq!(
            db.readers.lock().unwrap().len(),
            1,
            "the reader went back to the pool"
        );

        assert_eq!(db.read(|c| db.cached_count(c, "all", count)).unwrap(), 0);
        db.write(|c| -> Result<usize, DbError> {
            c.execute("INSERT INTO procurement_buyers(id) VALUES ('b')", [])?;
            Ok(c.execute(
                "INSERT INTO procurement_contracts(buyer_id, contract_id, kind, format,
                   modification_count, content_hash, raw_json, first_run, last_run)
                 VALUES ('b', 'x', 'marche', '2019', 0, 'h', '{}', 1, 1)",
                [],
            )?)
        })
        .unwrap();
        // New data, new version: the cached 0 is not served.
        assert_eq!(db.read(|c| db.cached_count(c, "all", count)).unwrap(), 1);
    }

    #[test]
    fn a_panic_inside_a_write_transaction_leaves_the_writer_usable() {
        let dir = tempfile::tempdir().unwrap();
        let db = ProcurementDb::new(dir.path().join("p.sqlite3"));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            db.write(|c| -> Result<(), DbError> {
                c.execute_batch("BEGIN IMMEDIATE")?;
                panic!("a refresh fails halfway");
            })
        }));
        assert!(panicked.is_err());
        db.write(|c| -> Result<(), DbError> {
            c.execute_batch("BEGIN IMMEDIATE; COMMIT;")?;
            Ok(())
        })
        .unwrap();
    }
}
