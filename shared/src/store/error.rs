//! The store's typed errors. Messages name documents and schema versions, never chunk contents:
//! chunks carry questionnaire answers and must not reach logs.

use crate::ids::DocumentId;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),

    /// The file was written by a newer build; opening it could corrupt data this build does
    /// not understand, so we refuse instead of guessing.
    #[error(
        "schema `{namespace}` is at version {found}, newer than the {supported} this build knows; refusing to open"
    )]
    SchemaTooNew {
        namespace: String,
        found: i64,
        supported: i64,
    },

    #[error("migration {version} of schema `{namespace}` failed: {source}")]
    Migration {
        namespace: String,
        version: i64,
        #[source]
        source: rusqlite::Error,
    },

    #[error("write for document {doc}: the chunk hash does not match its bytes")]
    HashMismatch { doc: DocumentId },

    #[error("write for document {doc}: empty chunk")]
    EmptyChunk { doc: DocumentId },

    #[error("document {doc}: a chunk is not automerge data")]
    NotAutomerge { doc: DocumentId },

    /// Automerge loads zero bytes as a valid empty document; for a stored document that can
    /// only mean lost data, so it is an error rather than a silently empty document.
    #[error("document {doc} is stored with zero bytes")]
    EmptyDocument { doc: DocumentId },

    #[error("document {doc} does not load: {source}")]
    CorruptDocument {
        doc: DocumentId,
        // Boxed: AutomergeError is large and would bloat every `Result` of the store.
        #[source]
        source: Box<automerge::AutomergeError>,
    },

    /// Saving a document whose changes wait for missing dependencies would drop those
    /// changes, so compaction refuses.
    #[error("document {doc} has {missing} missing dependencies; not compacting")]
    MissingDependencies { doc: DocumentId, missing: usize },

    #[error("a stored document id is malformed")]
    BadStoredId,

    #[error("SQLite integrity check failed: {0}")]
    Integrity(String),
}
