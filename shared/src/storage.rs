//! What the sync engine asks the store to write. The engine only *describes* writes;
//! the driver (server or app) applies them with `store::Store::apply` and only then sends
//! the frames produced by the same step, so that anything a peer learns we hold is on disk.

use crate::ids::DocumentId;

/// A chunk key: the SHA-256 of the chunk bytes.
pub type ChunkHash = [u8; 32];

pub fn chunk_hash(bytes: &[u8]) -> ChunkHash {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(&digest);
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageWrite {
    /// New changes of one document (the output of `Automerge::save_after` or of saving
    /// applied changes), appended as an incremental chunk.
    Incremental {
        doc: DocumentId,
        hash: ChunkHash,
        bytes: Vec<u8>,
    },
    /// A full snapshot (`Automerge::save`) that replaces the listed chunks (compaction).
    /// Applying it must insert the snapshot and delete the replaced chunks atomically.
    Snapshot {
        doc: DocumentId,
        hash: ChunkHash,
        bytes: Vec<u8>,
        replaces: Vec<ChunkHash>,
    },
    /// A new history for the document (e.g. a fresh document holding only the current state
    /// of an old one, to erase what the old history held): every stored chunk, folded-chunk
    /// record and sync state of the document is deleted and the snapshot inserted, atomically.
    Replace {
        doc: DocumentId,
        hash: ChunkHash,
        bytes: Vec<u8>,
    },
    /// The encoded `automerge::sync::State` for (document, peer), so that a reconnecting
    /// peer does not resend what both sides already share.
    SyncState {
        doc: DocumentId,
        peer: String,
        bytes: Vec<u8>,
    },
}

impl StorageWrite {
    pub fn incremental(doc: DocumentId, bytes: Vec<u8>) -> Self {
        Self::Incremental {
            doc,
            hash: chunk_hash(&bytes),
            bytes,
        }
    }

    pub fn doc(&self) -> &DocumentId {
        match self {
            Self::Incremental { doc, .. }
            | Self::Snapshot { doc, .. }
            | Self::Replace { doc, .. }
            | Self::SyncState { doc, .. } => doc,
        }
    }
}
