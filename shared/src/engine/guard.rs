//! The single place where an incoming sync payload is vetted before automerge touches it.

use super::types::{CloseReason, EngineLimits};
use crate::limits::{LimitError, Limits, inspect_sync_message};

/// Checks a `request`/`sync` payload BEFORE `automerge::sync::Message::decode`.
///
/// automerge inflates DEFLATE columns while decoding, before any check of its own (DESIGN §4:
/// a 509 KiB message reached 1.5 GiB), so the payload goes through
/// [`crate::limits::inspect_sync_message`], which walks the message with a bounded inflater
/// (inflated size, changes, operations, hashes, Bloom filters). This is the only call site.
pub(crate) fn guard_sync_payload(bytes: &[u8], limits: &EngineLimits) -> Result<(), CloseReason> {
    if bytes.len() > limits.max_sync_payload_bytes {
        return Err(CloseReason::PayloadTooLarge);
    }
    let inspect = Limits {
        max_frame_bytes: limits.max_sync_payload_bytes,
        max_changes_per_message: limits.max_changes_per_message,
        max_documents_per_peer: limits.max_documents_per_peer,
        ..Limits::default()
    };
    match inspect_sync_message(bytes, &inspect) {
        Ok(_) => Ok(()),
        Err(LimitError::TooManyChanges { .. }) => Err(CloseReason::TooManyChanges),
        Err(LimitError::Malformed { .. }) => Err(CloseReason::InvalidSyncMessage),
        Err(_) => Err(CloseReason::PayloadTooLarge),
    }
}

/// The first bytes of every automerge storage chunk.
const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// Counts the storage chunks in a sync message's change list by walking chunk headers
/// (magic, checksum, type, LEB128 length) without inflating anything. A v2 message carries all
/// its changes concatenated in one entry, so `message.changes.len()` alone says little.
/// A change chunk is one change; a whole-document chunk counts as one here (its size is bounded
/// by the payload guard). `None` when the headers don't parse.
pub(crate) fn count_change_chunks<'a>(entries: impl Iterator<Item = &'a [u8]>) -> Option<usize> {
    let mut count = 0usize;
    for mut rest in entries {
        while !rest.is_empty() {
            let header = rest.get(..9)?;
            if header[..4] != CHUNK_MAGIC {
                return None;
            }
            let (len, used) = read_uleb(rest.get(9..)?)?;
            let start = 9 + used;
            let end = start.checked_add(usize::try_from(len).ok()?)?;
            rest = rest.get(end..)?;
            count = count.checked_add(1)?;
        }
    }
    Some(count)
}

fn read_uleb(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().take(10).enumerate() {
        let part = u64::from(byte & 0x7f);
        value |= part.checked_shl(7 * i as u32)?;
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};
    use proptest::prelude::*;

    #[test]
    fn counts_each_change_of_a_concatenated_v2_entry() {
        let mut doc = AutoCommit::new();
        for n in 0..5 {
            doc.put(ROOT, "n", n).unwrap();
            doc.commit();
        }
        let changes: Vec<Vec<u8>> = doc
            .get_changes(&[])
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        let joined = changes.concat();
        assert_eq!(
            count_change_chunks([joined.as_slice()].into_iter()),
            Some(5)
        );
        assert_eq!(
            count_change_chunks(changes.iter().map(Vec::as_slice)),
            Some(5)
        );
        let mut truncated = joined.clone();
        truncated.pop();
        assert_eq!(
            count_change_chunks([truncated.as_slice()].into_iter()),
            None
        );
    }

    proptest! {
        #[test]
        fn chunk_counting_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let mut with_magic = CHUNK_MAGIC.to_vec();
            with_magic.extend_from_slice(&bytes);
            let _ = count_change_chunks([bytes.as_slice(), with_magic.as_slice()].into_iter());
        }
    }
}
