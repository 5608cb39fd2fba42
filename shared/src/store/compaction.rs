//! When to compact a document. Incremental chunks hold uncompressed changes and weigh about 15×
//! a snapshot of the same history (DESIGN §3), so a document that only ever appends grows fast
//! on disk and loads slowly; compaction folds every chunk into one `Automerge::save` snapshot.

/// What a document's chunks weigh.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChunkStats {
    pub snapshot_chunks: u64,
    pub snapshot_bytes: u64,
    pub incremental_chunks: u64,
    pub incremental_bytes: u64,
}

impl ChunkStats {
    pub fn total_bytes(&self) -> u64 {
        self.snapshot_bytes + self.incremental_bytes
    }

    pub fn total_chunks(&self) -> u64 {
        self.snapshot_chunks + self.incremental_chunks
    }
}

/// Compact when either bound is passed:
/// - more than `max_incremental_chunks` incremental chunks (load time grows with the count), or
/// - incrementals weigh more than `max_incremental_ratio` × the snapshots and at least
///   `min_incremental_bytes` (so a young document is not recompacted at every write).
///
/// Several snapshots (left by concurrent compactions) are always folded into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionPolicy {
    pub max_incremental_chunks: u64,
    pub max_incremental_ratio: u64,
    pub min_incremental_bytes: u64,
}

impl Default for CompactionPolicy {
    /// A team document gets one incremental per encounter or tally tap: 64 chunks is a few
    /// minutes of a busy team, and twice the snapshot keeps the file within ~3× its compact size.
    fn default() -> Self {
        Self {
            max_incremental_chunks: 64,
            max_incremental_ratio: 2,
            min_incremental_bytes: 16 * 1024,
        }
    }
}

impl CompactionPolicy {
    pub fn needs_compaction(&self, stats: &ChunkStats) -> bool {
        if stats.snapshot_chunks > 1 {
            return true;
        }
        if stats.incremental_chunks == 0 {
            return false;
        }
        stats.incremental_chunks > self.max_incremental_chunks
            || (stats.incremental_bytes >= self.min_incremental_bytes
                && stats.incremental_bytes
                    > self
                        .max_incremental_ratio
                        .saturating_mul(stats.snapshot_bytes))
    }
}

/// What one compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionReport {
    pub chunks_replaced: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(snapshot_bytes: u64, incremental_chunks: u64, incremental_bytes: u64) -> ChunkStats {
        ChunkStats {
            snapshot_chunks: u64::from(snapshot_bytes > 0),
            snapshot_bytes,
            incremental_chunks,
            incremental_bytes,
        }
    }

    #[test]
    fn compacts_past_the_chunk_count() {
        let policy = CompactionPolicy::default();
        assert!(!policy.needs_compaction(&stats(10_000, 64, 1_000)));
        assert!(policy.needs_compaction(&stats(10_000, 65, 1_000)));
    }

    #[test]
    fn compacts_past_the_size_ratio_only_above_the_floor() {
        let policy = CompactionPolicy::default();
        // Young document: no snapshot, a few small incrementals.
        assert!(!policy.needs_compaction(&stats(0, 3, 2_000)));
        assert!(policy.needs_compaction(&stats(0, 3, 20_000)));
        assert!(!policy.needs_compaction(&stats(20_000, 10, 40_000)));
        assert!(policy.needs_compaction(&stats(20_000, 10, 40_001)));
    }

    #[test]
    fn a_lone_snapshot_needs_nothing_but_two_are_folded() {
        let policy = CompactionPolicy::default();
        assert!(!policy.needs_compaction(&stats(50_000, 0, 0)));
        let mut two = stats(50_000, 0, 0);
        two.snapshot_chunks = 2;
        assert!(policy.needs_compaction(&two));
    }
}
