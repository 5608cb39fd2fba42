//! The store's own tables (namespace `carnet-shared.store`). Append only: never edit a step
//! that has shipped; add a new one.

pub const NAMESPACE: &str = "carnet-shared.store";

pub const MIGRATIONS: &[&str] = &[
    // v1: documents, their chunks and per-peer sync states.
    "CREATE TABLE documents (
        doc_id BLOB PRIMARY KEY NOT NULL CHECK (length(doc_id) = 16)
    ) WITHOUT ROWID;

    -- seq is the insertion order: incrementals are loaded in it, after the snapshots.
    CREATE TABLE chunks (
        seq INTEGER PRIMARY KEY,
        doc_id BLOB NOT NULL REFERENCES documents (doc_id) ON DELETE CASCADE,
        hash BLOB NOT NULL CHECK (length(hash) = 32),
        kind TEXT NOT NULL CHECK (kind IN ('snapshot', 'incremental')),
        bytes BLOB NOT NULL CHECK (length(bytes) > 0),
        UNIQUE (doc_id, hash)
    );
    CREATE INDEX chunks_by_doc ON chunks (doc_id, seq);

    CREATE TABLE sync_states (
        doc_id BLOB NOT NULL REFERENCES documents (doc_id) ON DELETE CASCADE,
        peer TEXT NOT NULL,
        bytes BLOB NOT NULL,
        PRIMARY KEY (doc_id, peer)
    ) WITHOUT ROWID;",
    // v2: hashes of chunks folded into a snapshot, so that replaying one of them after a
    // compaction stays a no-op instead of storing its bytes again.
    "CREATE TABLE folded_chunks (
        doc_id BLOB NOT NULL REFERENCES documents (doc_id) ON DELETE CASCADE,
        hash BLOB NOT NULL CHECK (length(hash) = 32),
        PRIMARY KEY (doc_id, hash)
    ) WITHOUT ROWID;",
];
