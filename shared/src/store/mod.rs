//! The SQLite store of Automerge documents: chunks (snapshots and incrementals), per-peer sync
//! states, schema migrations and compaction.
//!
//! The sync engine describes what to persist as [`StorageWrite`]s; the driver applies them with
//! [`Store::apply`] (one transaction per call, durable on return thanks to WAL +
//! `synchronous=FULL`) and only then sends the frames of the same step. So anything a peer may
//! learn we hold is on disk, and "acknowledged" means durable.
//!
//! Other crates keep their own tables in the same file: open a [`Store`], then run their own
//! append-only list with [`Store::migrate`] under their own namespace.

mod compaction;
mod error;
mod migrate;
mod schema;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Duration;

use automerge::{Automerge, ReadDoc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::ids::DocumentId;
use crate::storage::{ChunkHash, StorageWrite, chunk_hash};

pub use compaction::{ChunkStats, CompactionPolicy, CompactionReport};
pub use error::StoreError;
pub use migrate::{migrate, schema_version};
pub use schema::{MIGRATIONS as STORE_MIGRATIONS, NAMESPACE as STORE_NAMESPACE};

/// Every automerge chunk (document, change, compressed change, bundle) starts with these bytes.
const AUTOMERGE_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// How long a writer waits for another connection's write lock before giving up with `BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A chunk as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    Snapshot,
    Incremental,
}

impl ChunkKind {
    fn as_sql(self) -> &'static str {
        match self {
            Self::Snapshot => "snapshot",
            Self::Incremental => "incremental",
        }
    }
}

/// One SQLite connection holding documents. Not `Sync`: give each thread or task its own
/// `Store` on the same file (WAL lets readers run alongside the writer).
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the database file and brings the store's schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::setup(Connection::open(path)?)
    }

    /// A private in-memory database (tests, previews). Not durable, obviously.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL: readers don't block the writer. An in-memory database answers "memory"; a file
        // system that refuses WAL leaves the rollback journal, slower for concurrent readers but
        // just as durable with synchronous=FULL, so opening goes on either way.
        let _mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        // FULL: a commit is fsynced before `apply` returns, which is what lets the caller
        // acknowledge a change to a peer (NORMAL could lose the last commits on power loss).
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate::migrate(&mut conn, schema::NAMESPACE, schema::MIGRATIONS)?;
        Ok(Self { conn })
    }

    /// The underlying connection, for crates that keep their own tables in the same file.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Runs another crate's append-only migrations under its own `namespace` in this file.
    pub fn migrate(&mut self, namespace: &str, steps: &[&str]) -> Result<i64, StoreError> {
        migrate::migrate(&mut self.conn, namespace, steps)
    }

    /// Applies all `writes` in one transaction: either all are stored or none is. Idempotent:
    /// a chunk whose hash the document holds, or held before a snapshot folded it, is skipped.
    /// A `Snapshot` is inserted and the chunks it replaces deleted in the same transaction.
    pub fn apply(&mut self, writes: &[StorageWrite]) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        self.apply_with(writes, |_| Ok(()))
    }

    /// [`Store::apply`], plus `extra` in the same transaction (a crate's own bookkeeping in
    /// its own tables of the same file, e.g. when a document last changed): both or neither.
    pub fn apply_with(
        &mut self,
        writes: &[StorageWrite],
        extra: impl FnOnce(&Transaction<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for write in writes {
            apply_one(&tx, write)?;
        }
        extra(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// The document's chunks concatenated, snapshots first then incrementals in insertion
    /// order: the byte string `Automerge::load` accepts. `None` when the document has no chunk.
    pub fn load_document(&self, doc: &DocumentId) -> Result<Option<Vec<u8>>, StoreError> {
        let chunks = self.read_chunks(doc)?;
        if chunks.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(chunks.iter().map(|c| c.bytes.len()).sum());
        for chunk in &chunks {
            check_chunk_bytes(doc, &chunk.bytes)?;
            out.extend_from_slice(&chunk.bytes);
        }
        Ok(Some(out))
    }

    /// Loads the document into Automerge. Garbage or zero bytes are an error, never an
    /// empty document.
    pub fn load_automerge(&self, doc: &DocumentId) -> Result<Option<Automerge>, StoreError> {
        match self.load_document(doc)? {
            None => Ok(None),
            Some(bytes) => load_stored_bytes(doc, &bytes).map(Some),
        }
    }

    /// Ids of the documents that have at least one chunk, in id order.
    pub fn document_ids(&self) -> Result<Vec<DocumentId>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT doc_id FROM chunks ORDER BY doc_id")?;
        let rows = stmt.query_map([], |row| row.get::<_, Vec<u8>>(0))?;
        let mut ids = Vec::new();
        for row in rows {
            ids.push(DocumentId::from_slice(&row?).map_err(|_| StoreError::BadStoredId)?);
        }
        Ok(ids)
    }

    pub fn has_document(&self, doc: &DocumentId) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM chunks WHERE doc_id = ?1 LIMIT 1",
                params![doc.as_bytes().as_slice()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// The encoded `automerge::sync::State` last stored for (document, peer).
    pub fn load_sync_state(
        &self,
        doc: &DocumentId,
        peer: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT bytes FROM sync_states WHERE doc_id = ?1 AND peer = ?2",
                params![doc.as_bytes().as_slice(), peer],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Deletes a document with its chunks and sync states. Returns whether it existed.
    pub fn delete_document(&mut self, doc: &DocumentId) -> Result<bool, StoreError> {
        let deleted = self.conn.execute(
            "DELETE FROM documents WHERE doc_id = ?1",
            params![doc.as_bytes().as_slice()],
        )?;
        Ok(deleted > 0)
    }

    /// Counts and sizes of the document's chunks (all zero for an unknown document).
    pub fn chunk_stats(&self, doc: &DocumentId) -> Result<ChunkStats, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT kind, count(*), coalesce(sum(length(bytes)), 0)
             FROM chunks WHERE doc_id = ?1 GROUP BY kind",
        )?;
        let rows = stmt.query_map(params![doc.as_bytes().as_slice()], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })?;
        let mut stats = ChunkStats::default();
        for row in rows {
            let (kind, count, bytes) = row?;
            let (count, bytes) = (count.max(0).unsigned_abs(), bytes.max(0).unsigned_abs());
            if kind == ChunkKind::Snapshot.as_sql() {
                stats.snapshot_chunks = count;
                stats.snapshot_bytes = bytes;
            } else {
                stats.incremental_chunks = count;
                stats.incremental_bytes = bytes;
            }
        }
        Ok(stats)
    }

    /// Folds every chunk of the document into one snapshot (`Automerge::save`).
    ///
    /// The chunks are read, loaded and saved outside any write lock; the snapshot is then
    /// inserted and exactly the chunks that were read are deleted, in one transaction. A chunk
    /// appended meanwhile (by another connection) is not among them and survives, so nothing
    /// is lost; if one of the chunks read is gone meanwhile (replaced by another connection),
    /// nothing is written. Returns `None` when there is nothing to fold (or it was skipped).
    pub fn compact(&mut self, doc: &DocumentId) -> Result<Option<CompactionReport>, StoreError> {
        let chunks = self.read_chunks(doc)?;
        let already_compact = match chunks.as_slice() {
            [] => true,
            [only] => only.kind == ChunkKind::Snapshot,
            _ => false,
        };
        if already_compact {
            return Ok(None);
        }
        let mut bytes = Vec::with_capacity(chunks.iter().map(|c| c.bytes.len()).sum());
        for chunk in &chunks {
            check_chunk_bytes(doc, &chunk.bytes)?;
            bytes.extend_from_slice(&chunk.bytes);
        }
        let loaded = load_stored_bytes(doc, &bytes)?;
        let missing = loaded.get_missing_deps(&[]).len();
        if missing > 0 {
            return Err(StoreError::MissingDependencies { doc: *doc, missing });
        }
        let snapshot = loaded.save();
        let report = CompactionReport {
            chunks_replaced: u64::try_from(chunks.len()).unwrap_or(u64::MAX),
            bytes_before: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
            bytes_after: u64::try_from(snapshot.len()).unwrap_or(u64::MAX),
        };
        let read: Vec<ChunkHash> = chunks.iter().map(|c| c.hash).collect();
        let write = StorageWrite::Snapshot {
            doc: *doc,
            hash: chunk_hash(&snapshot),
            bytes: snapshot,
            replaces: read.clone(),
        };
        Ok(self.commit_fold(doc, &read, &write)?.then_some(report))
    }

    /// Stores a compaction's snapshot `write` if every chunk it folded (`read`) is still
    /// there; `false` (nothing written) if another connection replaced one meanwhile (a
    /// concurrent compaction, or a new history that erased the old one): folding what was
    /// read would bring back what that replacement removed.
    fn commit_fold(
        &mut self,
        doc: &DocumentId,
        read: &[ChunkHash],
        write: &StorageWrite,
    ) -> Result<bool, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut still_there =
            tx.prepare_cached("SELECT 1 FROM chunks WHERE doc_id = ?1 AND hash = ?2")?;
        for hash in read {
            if !still_there.exists(params![doc.as_bytes().as_slice(), hash.as_slice()])? {
                return Ok(false);
            }
        }
        drop(still_there);
        apply_one(&tx, write)?;
        tx.commit()?;
        Ok(true)
    }

    /// [`Store::compact`] if `policy` says the document's chunks call for it.
    pub fn compact_if_needed(
        &mut self,
        doc: &DocumentId,
        policy: &CompactionPolicy,
    ) -> Result<Option<CompactionReport>, StoreError> {
        if policy.needs_compaction(&self.chunk_stats(doc)?) {
            self.compact(doc)
        } else {
            Ok(None)
        }
    }

    /// `PRAGMA integrity_check`: `Ok` when SQLite answers "ok".
    pub fn integrity_check(&self) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let lines = stmt
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        if lines.len() == 1 && lines[0] == "ok" {
            Ok(())
        } else {
            Err(StoreError::Integrity(lines.join("; ")))
        }
    }

    /// Snapshots first (a document chunk must lead for Automerge to accept changes whose
    /// dependencies it holds), then incrementals in insertion order.
    fn read_chunks(&self, doc: &DocumentId) -> Result<Vec<StoredChunk>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT hash, kind, bytes FROM chunks WHERE doc_id = ?1
             ORDER BY kind = 'snapshot' DESC, seq",
        )?;
        let rows = stmt.query_map(params![doc.as_bytes().as_slice()], |row| {
            Ok((
                row.get::<_, Vec<u8>>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        let mut chunks = Vec::new();
        for row in rows {
            let (hash, kind, bytes) = row?;
            let hash: ChunkHash = hash
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::NotAutomerge { doc: *doc })?;
            let kind = if kind == ChunkKind::Snapshot.as_sql() {
                ChunkKind::Snapshot
            } else {
                ChunkKind::Incremental
            };
            chunks.push(StoredChunk { hash, kind, bytes });
        }
        Ok(chunks)
    }
}

struct StoredChunk {
    hash: ChunkHash,
    kind: ChunkKind,
    bytes: Vec<u8>,
}

/// Loads bytes read from the store. Unlike `Automerge::load`, zero bytes are an error: a
/// stored document is never legitimately empty.
pub fn load_stored_bytes(doc: &DocumentId, bytes: &[u8]) -> Result<Automerge, StoreError> {
    check_chunk_bytes(doc, bytes)?;
    Automerge::load(bytes).map_err(|source| StoreError::CorruptDocument {
        doc: *doc,
        source: Box::new(source),
    })
}

fn check_chunk_bytes(doc: &DocumentId, bytes: &[u8]) -> Result<(), StoreError> {
    if bytes.is_empty() {
        return Err(StoreError::EmptyDocument { doc: *doc });
    }
    if !bytes.starts_with(&AUTOMERGE_MAGIC) {
        return Err(StoreError::NotAutomerge { doc: *doc });
    }
    Ok(())
}

/// Checks what can be checked cheaply without parsing: non-empty, automerge magic, and the hash
/// the engine computed (a mismatch would break idempotence and compaction's bookkeeping).
fn validate_chunk(doc: &DocumentId, hash: &ChunkHash, bytes: &[u8]) -> Result<(), StoreError> {
    if bytes.is_empty() {
        return Err(StoreError::EmptyChunk { doc: *doc });
    }
    if !bytes.starts_with(&AUTOMERGE_MAGIC) {
        return Err(StoreError::NotAutomerge { doc: *doc });
    }
    if chunk_hash(bytes) != *hash {
        return Err(StoreError::HashMismatch { doc: *doc });
    }
    Ok(())
}

fn ensure_document(tx: &Transaction<'_>, doc: &DocumentId) -> Result<(), StoreError> {
    tx.prepare_cached("INSERT OR IGNORE INTO documents (doc_id) VALUES (?1)")?
        .execute(params![doc.as_bytes().as_slice()])?;
    Ok(())
}

// Validation happens write by write inside the transaction (not up front), so a bad write in
// the middle of a batch really exercises the rollback of the writes before it.
fn apply_one(tx: &Transaction<'_>, write: &StorageWrite) -> Result<(), StoreError> {
    match write {
        StorageWrite::Incremental { doc, hash, bytes } => {
            validate_chunk(doc, hash, bytes)?;
            ensure_document(tx, doc)?;
            let folded = tx
                .prepare_cached("SELECT 1 FROM folded_chunks WHERE doc_id = ?1 AND hash = ?2")?
                .exists(params![doc.as_bytes().as_slice(), hash.as_slice()])?;
            if !folded {
                tx.prepare_cached(
                    "INSERT INTO chunks (doc_id, hash, kind, bytes)
                     VALUES (?1, ?2, 'incremental', ?3)
                     ON CONFLICT (doc_id, hash) DO NOTHING",
                )?
                .execute(params![
                    doc.as_bytes().as_slice(),
                    hash.as_slice(),
                    bytes
                ])?;
            }
        }
        StorageWrite::Snapshot {
            doc,
            hash,
            bytes,
            replaces,
        } => {
            validate_chunk(doc, hash, bytes)?;
            ensure_document(tx, doc)?;
            // Same bytes already stored as an incremental: it now counts as the snapshot.
            tx.prepare_cached(
                "INSERT INTO chunks (doc_id, hash, kind, bytes) VALUES (?1, ?2, 'snapshot', ?3)
                 ON CONFLICT (doc_id, hash) DO UPDATE SET kind = 'snapshot'",
            )?
            .execute(params![doc.as_bytes().as_slice(), hash.as_slice(), bytes])?;
            let mut delete =
                tx.prepare_cached("DELETE FROM chunks WHERE doc_id = ?1 AND hash = ?2")?;
            let mut fold = tx.prepare_cached(
                "INSERT OR IGNORE INTO folded_chunks (doc_id, hash) VALUES (?1, ?2)",
            )?;
            for replaced in replaces.iter().filter(|h| *h != hash) {
                delete.execute(params![doc.as_bytes().as_slice(), replaced.as_slice()])?;
                fold.execute(params![doc.as_bytes().as_slice(), replaced.as_slice()])?;
            }
        }
        StorageWrite::Replace { doc, hash, bytes } => {
            validate_chunk(doc, hash, bytes)?;
            ensure_document(tx, doc)?;
            let id = doc.as_bytes();
            for table in ["chunks", "folded_chunks", "sync_states"] {
                tx.prepare_cached(&format!("DELETE FROM {table} WHERE doc_id = ?1"))?
                    .execute(params![id.as_slice()])?;
            }
            tx.prepare_cached(
                "INSERT INTO chunks (doc_id, hash, kind, bytes) VALUES (?1, ?2, 'snapshot', ?3)",
            )?
            .execute(params![id.as_slice(), hash.as_slice(), bytes])?;
        }
        StorageWrite::SyncState { doc, peer, bytes } => {
            ensure_document(tx, doc)?;
            tx.prepare_cached(
                "INSERT INTO sync_states (doc_id, peer, bytes) VALUES (?1, ?2, ?3)
                 ON CONFLICT (doc_id, peer) DO UPDATE SET bytes = excluded.bytes",
            )?
            .execute(params![doc.as_bytes().as_slice(), peer, bytes])?;
        }
    }
    Ok(())
}
