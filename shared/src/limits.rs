//! Bounded work per sync frame.
//!
//! automerge 0.12 trusts what a sync message says: `receive_sync_message` inflates every
//! DEFLATE-compressed chunk or column with an unbounded `read_to_end` before checking anything
//! (a 509 KiB message reached 1.5 GiB of memory in a measurement), and a Bloom filter in `have`
//! may ask for billions of probes, or for probes into zero bits (a division by zero). So every
//! incoming `sync`/`request` payload goes through [`inspect_sync_message`] first; only messages it
//! accepts are handed to `automerge::sync::Message::decode` and `receive_sync_message`.
//!
//! The inspector walks the sync message format of automerge 0.12 (see `automerge/src/sync.rs`):
//!
//! ```text
//! type (0x42 = V1, 0x43 = V2)
//! heads:   LEB128 count, 32-byte hashes
//! need:    LEB128 count, 32-byte hashes
//! have:    LEB128 count, each { last_sync hashes, LEB128 length, Bloom filter }
//! changes: LEB128 count, each LEB128 length + one or more storage chunks
//! flags:   optional, LEB128 length + bytes (capability advertisement, read-only, reset)
//! ```
//!
//! A V2 message carries the whole document as a single document chunk in `changes`, or all its
//! changes concatenated in a single entry. Chunks are measured in `chunk` with a bounded
//! inflater, and the rows their run-length-encoded columns announce are counted in `rows`.
//! Nothing here allocates in proportion to a length read from the wire.

mod chunk;
mod reader;
mod rows;

use chunk::ChunkTally;
use reader::Reader;

const MESSAGE_TYPE_SYNC_V1: u8 = 0x42;
const MESSAGE_TYPE_SYNC_V2: u8 = 0x43;
const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Caps on the work one peer can cause the server with one frame or one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted sync message (the `data` of a `sync`/`request` frame), in bytes.
    pub max_frame_bytes: usize,
    /// Largest total size of the storage chunks of one message once decompressed, in bytes.
    pub max_inflated_bytes: u64,
    /// Most change entries, and most storage chunks, in one sync message.
    pub max_changes_per_message: usize,
    /// Most rows the columns of one message may announce: operations, plus the changes listed
    /// inside a document. Run-length encoding lets a few bytes announce millions of them, and
    /// automerge builds each one: a 161-byte message announcing 2 million list insertions cost
    /// automerge 40 s and 890 MiB (measured, `tests/limits_rle_bomb.rs`), ~450 bytes per op.
    pub max_ops_per_message: u64,
    /// Most documents one peer may have open at the same time.
    pub max_documents_per_peer: usize,
    /// Most hashes in one `heads`, `need` or `last_sync` list.
    pub max_hashes_per_list: usize,
    /// Most `have` entries (Bloom filters) in one message; automerge sends at most one.
    pub max_have_entries: usize,
    /// Most probes per Bloom filter lookup; automerge uses 7, each probe costs work per hash.
    pub max_bloom_probes: u32,
}

impl Default for Limits {
    /// Sized for the street count: a team document is tens of KiB (thousands to tens of
    /// thousands of operations) and a first upload after a night offline a few MiB, so these
    /// leave a wide margin for honest peers while keeping automerge's memory for one message in
    /// the tens of MiB (16 MiB inflated, 100,000 rows at ~450 bytes each).
    fn default() -> Self {
        Self {
            max_frame_bytes: 8 * MIB,
            max_inflated_bytes: 16 * MIB as u64,
            max_changes_per_message: 20_000,
            max_ops_per_message: 100_000,
            max_documents_per_peer: 1_024,
            max_hashes_per_list: 4_096,
            max_have_entries: 16,
            max_bloom_probes: 32,
        }
    }
}

impl Limits {
    /// Whether a peer that already has `open_documents` documents may open one more.
    pub fn admit_document(&self, open_documents: usize) -> Result<(), LimitError> {
        if open_documents >= self.max_documents_per_peer {
            return Err(LimitError::TooManyDocuments {
                limit: self.max_documents_per_peer,
            });
        }
        Ok(())
    }
}

/// Why a sync message (or a peer's request) was refused. Carries sizes and counts only, never
/// message content, so it is safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("sync message of {size} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge { size: usize, limit: usize },
    #[error("sync message announces {count} changes, more than the limit of {limit}")]
    TooManyChanges { count: u64, limit: usize },
    #[error("sync message would inflate beyond the limit of {limit} bytes")]
    InflatesTooMuch { limit: u64 },
    #[error("sync message announces more than {limit} operations")]
    TooManyOps { limit: u64 },
    #[error("hash list of {count} entries exceeds the limit of {limit}")]
    TooManyHashes { count: u64, limit: usize },
    #[error("{count} bloom filters exceed the limit of {limit}")]
    TooManyHaves { count: u64, limit: usize },
    #[error("bloom filter asks for {probes} probes, more than the limit of {limit}")]
    BloomTooCostly { probes: u64, limit: u32 },
    #[error("peer already has the maximum of {limit} documents open")]
    TooManyDocuments { limit: usize },
    #[error("malformed sync message: {what}")]
    Malformed { what: &'static str },
}

/// Sync message format version, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMessageVersion {
    V1,
    V2,
}

/// What an accepted sync message contains, measured without decoding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncMessageStats {
    pub version: SyncMessageVersion,
    pub heads: usize,
    pub need: usize,
    pub have: usize,
    /// Change entries, as `Message::decode(..).changes.len()` counts them.
    pub changes: usize,
    /// Storage chunks inside those entries (one per entry from automerge itself).
    pub chunks: usize,
    /// Document chunks (a V2 message sends the whole document as one).
    pub documents: usize,
    /// Bytes of DEFLATE data in the chunks.
    pub compressed_bytes: u64,
    /// Total size of the chunks once decompressed, which is what automerge will hold in memory.
    pub inflated_bytes: u64,
    /// Rows announced by the chunks' columns: operations, plus changes inside documents.
    pub ops: u64,
    /// Whether the optional flags section is present.
    pub has_flags: bool,
}

/// Checks a sync message against `limits` before automerge sees it.
///
/// Accepts every message `automerge::sync::Message` 0.12 produces within the limits, and refuses
/// (never panics on) anything whose decoding would exceed them. Memory: a 32 KiB inflation
/// buffer, allocations proportional to the input size, and for a compressed change chunk (which
/// automerge itself never sends in sync messages) its inflated copy, only once its size is known
/// to be within `max_inflated_bytes`. Work: proportional to the input plus `max_inflated_bytes`.
///
/// It does not verify checksums or decode values: automerge still does, after this.
pub fn inspect_sync_message(bytes: &[u8], limits: &Limits) -> Result<SyncMessageStats, LimitError> {
    if bytes.len() > limits.max_frame_bytes {
        return Err(LimitError::FrameTooLarge {
            size: bytes.len(),
            limit: limits.max_frame_bytes,
        });
    }
    let mut r = Reader::new(bytes);
    let version = match r.u8("message type")? {
        MESSAGE_TYPE_SYNC_V1 => SyncMessageVersion::V1,
        MESSAGE_TYPE_SYNC_V2 => SyncMessageVersion::V2,
        _ => {
            return Err(LimitError::Malformed {
                what: "message type",
            });
        }
    };
    let heads = r.hash_list(limits.max_hashes_per_list, "heads")?;
    let need = r.hash_list(limits.max_hashes_per_list, "need")?;
    let have = have_list(&mut r, limits)?;

    let announced = r.uleb("change count")?;
    if announced > limits.max_changes_per_message as u64 {
        return Err(LimitError::TooManyChanges {
            count: announced,
            limit: limits.max_changes_per_message,
        });
    }
    let mut tally = ChunkTally::new(
        limits.max_inflated_bytes,
        limits.max_changes_per_message,
        limits.max_ops_per_message,
    );
    for _ in 0..announced {
        tally.entry(r.length_prefixed("change entry")?)?;
    }

    // automerge reads the flags only if bytes remain, and ignores anything after them.
    let has_flags = !r.is_empty();
    if has_flags {
        r.length_prefixed("flags")?;
    }

    Ok(SyncMessageStats {
        version,
        heads,
        need,
        have,
        // `announced <= max_changes_per_message`, which is a usize.
        changes: announced as usize,
        chunks: tally.chunks,
        documents: tally.documents,
        compressed_bytes: tally.compressed_bytes,
        inflated_bytes: tally.inflated_bytes,
        ops: tally.ops,
        has_flags,
    })
}

fn have_list(r: &mut Reader<'_>, limits: &Limits) -> Result<usize, LimitError> {
    let count = r.uleb("have count")?;
    if count > limits.max_have_entries as u64 {
        return Err(LimitError::TooManyHaves {
            count,
            limit: limits.max_have_entries,
        });
    }
    for _ in 0..count {
        r.hash_list(limits.max_hashes_per_list, "have last_sync")?;
        bloom_filter(r.length_prefixed("bloom filter")?, limits)?;
    }
    // `count <= max_have_entries`, which is a usize.
    Ok(count as usize)
}

/// `num_entries | bits_per_entry | num_probes | bits`, or empty for an empty filter.
///
/// automerge computes `hash % (8 * bits.len())` for each probe: a filter with entries but no bits
/// panics (division by zero), and `num_probes` sizes a `Vec` per lookup.
fn bloom_filter(bytes: &[u8], limits: &Limits) -> Result<(), LimitError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let mut r = Reader::new(bytes);
    let what = "bloom filter";
    let num_entries = r.uleb(what)?;
    let bits_per_entry = r.uleb(what)?;
    let num_probes = r.uleb(what)?;
    if num_entries > u64::from(u32::MAX)
        || bits_per_entry > u64::from(u32::MAX)
        || num_probes > u64::from(u32::MAX)
    {
        return Err(LimitError::Malformed { what });
    }
    if num_probes > u64::from(limits.max_bloom_probes) {
        return Err(LimitError::BloomTooCostly {
            probes: num_probes,
            limit: limits.max_bloom_probes,
        });
    }
    // Same rounding as automerge's `bits_capacity`: ceil(entries * bits_per_entry / 8).
    let bits_len = (num_entries * bits_per_entry).div_ceil(8);
    if num_entries > 0 && bits_len == 0 {
        return Err(LimitError::Malformed {
            what: "bloom filter without bits",
        });
    }
    // automerge computes `8 * bits.len()` as a u32 and adds probes below it.
    if bits_len >= 1 << 28 {
        return Err(LimitError::Malformed { what });
    }
    r.take(bits_len, what)?;
    Ok(())
}

#[cfg(test)]
mod tests;
