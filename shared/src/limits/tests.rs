//! Agreement with automerge's own encoder/decoder, refusals, and no-panic properties.

use super::*;
use automerge::sync::{BloomFilter, Have, Message, MessageFlags, MessageVersion, State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use proptest::prelude::*;

/// Runs automerge's sync protocol between `a` and `b` until quiet, returning every encoded
/// message exchanged, in order.
fn sync_pair(a: &mut AutoCommit, b: &mut AutoCommit) -> Vec<Vec<u8>> {
    sync_pair_as(a, b, false)
}

/// Encodes a generated message; a `legacy` peer strips the flags section, as automerge
/// implementations without V2 support do, so that replies stay V1 with one change per entry.
fn encode(message: Message, legacy: bool) -> Vec<u8> {
    if legacy {
        Message {
            flags: None,
            ..message
        }
        .encode()
    } else {
        message.encode()
    }
}

fn sync_pair_as(a: &mut AutoCommit, b: &mut AutoCommit, legacy: bool) -> Vec<Vec<u8>> {
    let (mut state_a, mut state_b) = (State::new(), State::new());
    let mut exchanged = Vec::new();
    for _ in 0..32 {
        let mut quiet = true;
        if let Some(message) = a.sync().generate_sync_message(&mut state_a) {
            quiet = false;
            let encoded = encode(message, legacy);
            let decoded = Message::decode(&encoded);
            assert!(decoded.is_ok());
            if let Ok(decoded) = decoded {
                assert!(b.sync().receive_sync_message(&mut state_b, decoded).is_ok());
            }
            exchanged.push(encoded);
        }
        if let Some(message) = b.sync().generate_sync_message(&mut state_b) {
            quiet = false;
            let encoded = encode(message, legacy);
            let decoded = Message::decode(&encoded);
            assert!(decoded.is_ok());
            if let Ok(decoded) = decoded {
                assert!(a.sync().receive_sync_message(&mut state_a, decoded).is_ok());
            }
            exchanged.push(encoded);
        }
        if quiet {
            break;
        }
    }
    assert_eq!(a.get_heads(), b.get_heads(), "sync did not converge");
    exchanged
}

/// A team document with `tallies` entries, one change per entry, and a long free-text note.
fn team_doc(actor: u8, tallies: usize, note_len: usize) -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(automerge::ActorId::from(vec![actor; 16]));
    for i in 0..tallies {
        assert!(
            doc.put(ROOT, format!("tally-{actor}-{i}"), i as i64)
                .is_ok()
        );
        doc.commit();
    }
    if note_len > 0 {
        let note = "rue de Rivoli, secteur 4. ".repeat(note_len / 26 + 1);
        assert!(doc.put(ROOT, format!("note-{actor}"), note).is_ok());
        doc.commit();
    }
    doc
}

/// Inspects a message and checks the counts against what automerge decodes from it.
fn assert_agrees(encoded: &[u8]) -> SyncMessageStats {
    let stats = inspect_sync_message(encoded, &Limits::default());
    assert!(stats.is_ok(), "refused a genuine message: {stats:?}");
    let decoded = Message::decode(encoded);
    assert!(decoded.is_ok());
    let (Ok(stats), Ok(decoded)) = (stats, decoded) else {
        unreachable!("checked above");
    };
    assert_eq!(stats.changes, decoded.changes.len());
    assert_eq!(stats.heads, decoded.heads.len());
    assert_eq!(stats.need, decoded.need.len());
    assert_eq!(stats.have, decoded.have.len());
    assert_eq!(stats.has_flags, decoded.flags.is_some());
    let expected_version = match decoded.version {
        MessageVersion::V1 => SyncMessageVersion::V1,
        MessageVersion::V2 => SyncMessageVersion::V2,
    };
    assert_eq!(stats.version, expected_version);
    let raw: usize = decoded.changes.iter().map(<[u8]>::len).sum();
    assert!(stats.inflated_bytes >= raw as u64 - stats.compressed_bytes);
    // Entries holding exactly one change: automerge's own op count must match ours.
    let plain_changes = decoded.changes.iter().all(|entry| entry.get(8) == Some(&1));
    if plain_changes && stats.chunks == stats.changes {
        let ops: usize = decoded
            .changes
            .iter()
            .map(|entry| automerge::Change::from_bytes(entry.to_vec()).map_or(0, |c| c.len()))
            .sum();
        assert_eq!(stats.ops, ops as u64);
    }
    stats
}

/// A change inserting `len` nulls into a list: a few dozen bytes whatever `len`, since every
/// column is a single run.
fn list_of_nulls(len: usize) -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(automerge::ActorId::from(vec![7; 16]));
    let list = doc.put_object(ROOT, "encounters", automerge::ObjType::List);
    assert!(list.is_ok());
    if let Ok(list) = list {
        for i in 0..len {
            assert!(doc.insert(&list, i, automerge::ScalarValue::Null).is_ok());
        }
    }
    doc.commit();
    doc
}

#[test]
fn counts_run_length_encoded_ops_like_automerge() {
    let mut doc = list_of_nulls(1_000);
    let mut peer = AutoCommit::new();
    let messages = sync_pair_as(&mut doc, &mut peer, true);
    let carrying: Vec<_> = messages
        .iter()
        .map(|m| assert_agrees(m))
        .filter(|s| s.chunks > 0)
        .collect();
    assert_eq!(carrying.len(), 1);
    assert_eq!(carrying[0].ops, 1_001);
    assert!(carrying[0].inflated_bytes < 200, "{:?}", carrying[0]);
}

#[test]
fn refuses_ops_announced_beyond_the_limit() {
    let mut doc = list_of_nulls(1_000);
    let mut peer = AutoCommit::new();
    let limits = Limits {
        max_ops_per_message: 1_000,
        ..Limits::default()
    };
    let refused: Vec<_> = sync_pair_as(&mut doc, &mut peer, true)
        .iter()
        .filter_map(|m| inspect_sync_message(m, &limits).err())
        .collect();
    assert_eq!(refused, vec![LimitError::TooManyOps { limit: 1_000 }]);
}

#[test]
fn accepts_bundles_with_rows_of_changes_and_ops() {
    let mut doc = team_doc(5, 400, 3_000);
    let changes = doc.get_changes(&[]);
    let expected_ops: u64 = changes.iter().map(|c| c.len() as u64).sum();
    let hashes: Vec<_> = changes.iter().map(|c| c.hash()).collect();
    let bundle = doc.bundle(hashes);
    assert!(bundle.is_ok());
    let Ok(bundle) = bundle else { return };
    let message = Message {
        heads: doc.get_heads(),
        need: Vec::new(),
        have: Vec::new(),
        changes: vec![bundle.bytes().to_vec()].into(),
        flags: Some(MessageFlags::new()),
        version: MessageVersion::V2,
    }
    .encode();
    let stats = assert_agrees(&message);
    assert_eq!(stats.chunks, 1);
    assert_eq!(stats.ops, changes.len() as u64 + expected_ops);
    let limits = Limits {
        max_ops_per_message: stats.ops - 1,
        ..Limits::default()
    };
    assert!(inspect_sync_message(&message, &limits).is_err());
}

#[test]
fn document_rows_are_its_changes_plus_its_ops() {
    let mut a = team_doc(1, 2_000, 20_000);
    let expected_changes = a.get_changes(&[]).len() as u64;
    let expected_ops: u64 = a.get_changes(&[]).iter().map(|c| c.len() as u64).sum();
    let mut b = AutoCommit::new();
    let whole: Vec<_> = sync_pair(&mut a, &mut b)
        .iter()
        .map(|m| assert_agrees(m))
        .filter(|s| s.documents == 1)
        .collect();
    assert_eq!(whole.len(), 1);
    assert_eq!(whole[0].ops, expected_changes + expected_ops);
}

#[test]
fn accepts_real_messages_between_small_docs() {
    let mut a = team_doc(1, 3, 0);
    let mut b = team_doc(2, 2, 0);
    let messages = sync_pair(&mut a, &mut b);
    assert!(messages.len() >= 2);
    // Each side sends more than a third of the merged document, so automerge sends its whole
    // document (V2) rather than changes: both directions carry a chunk.
    let chunks: usize = messages.iter().map(|m| assert_agrees(m).chunks).sum();
    assert_eq!(chunks, 2);
}

#[test]
fn accepts_v2_whole_document_with_compressed_columns() {
    let mut a = team_doc(1, 2_000, 20_000);
    let mut b = AutoCommit::new();
    let messages = sync_pair(&mut a, &mut b);
    let stats: Vec<_> = messages.iter().map(|m| assert_agrees(m)).collect();
    let whole = stats.iter().find(|s| s.documents == 1);
    assert!(whole.is_some(), "expected a V2 document message: {stats:?}");
    if let Some(whole) = whole {
        assert_eq!(whole.version, SyncMessageVersion::V2);
        assert!(whole.compressed_bytes > 0, "{whole:?}");
        assert!(whole.inflated_bytes > whole.compressed_bytes, "{whole:?}");
    }
}

/// Adds `count` changes to an existing document.
fn add_tallies(doc: &mut AutoCommit, prefix: &str, count: usize) {
    for i in 0..count {
        assert!(doc.put(ROOT, format!("{prefix}-{i}"), i as i64).is_ok());
        doc.commit();
    }
}

#[test]
fn accepts_many_changes_in_v1_messages() {
    let mut a = team_doc(1, 600, 0);
    let mut b = AutoCommit::new();
    sync_pair(&mut a, &mut b);
    // Less than a third of the document is new on each side: automerge sends changes.
    add_tallies(&mut a, "a", 150);
    add_tallies(&mut b, "b", 150);
    let (mut old_a, mut old_b) = (a.clone(), b.clone());

    // Between V2 peers automerge concatenates the changes into a single entry.
    let stats: Vec<_> = sync_pair(&mut a, &mut b)
        .iter()
        .map(|m| assert_agrees(m))
        .collect();
    assert_eq!(stats.iter().map(|s| s.changes).sum::<usize>(), 2);
    assert_eq!(stats.iter().map(|s| s.chunks).sum::<usize>(), 300);
    assert!(stats.iter().all(|s| s.documents == 0));

    // Towards peers without V2 support, each change is its own entry.
    let stats: Vec<_> = sync_pair_as(&mut old_a, &mut old_b, true)
        .iter()
        .map(|m| assert_agrees(m))
        .collect();
    assert_eq!(stats.iter().map(|s| s.changes).sum::<usize>(), 300);
    assert_eq!(stats.iter().map(|s| s.chunks).sum::<usize>(), 300);
}

#[test]
fn refuses_too_many_chunks_packed_in_one_entry() {
    let mut a = team_doc(1, 60, 0);
    let mut b = AutoCommit::new();
    sync_pair(&mut a, &mut b);
    add_tallies(&mut a, "a", 15);
    let messages = sync_pair(&mut a, &mut b);
    let packed = messages
        .iter()
        .find(|m| assert_agrees(m).chunks == 15)
        .cloned()
        .unwrap_or_default();
    let limits = Limits {
        max_changes_per_message: 14,
        ..Limits::default()
    };
    assert_eq!(
        inspect_sync_message(&packed, &limits),
        Err(LimitError::TooManyChanges {
            count: 15,
            limit: 14
        })
    );
}

/// A V1 message carrying one change in automerge's compressed-change chunk (type 2), which
/// automerge emits from `Change::bytes()` for changes over 256 bytes.
fn compressed_change_message() -> (Vec<u8>, usize) {
    let mut doc = team_doc(3, 0, 5_000);
    let mut changes = doc.get_changes(&[]);
    assert_eq!(changes.len(), 1);
    let raw_len = changes[0].raw_bytes().len();
    let compressed = changes[0].bytes().to_vec();
    assert!(compressed.len() < raw_len, "change was not compressed");
    let message = Message {
        heads: doc.get_heads(),
        need: Vec::new(),
        have: vec![Have {
            last_sync: Vec::new(),
            bloom: BloomFilter::default(),
        }],
        changes: vec![compressed].into(),
        flags: Some(MessageFlags::new()),
        version: MessageVersion::V1,
    };
    (message.encode(), raw_len)
}

#[test]
fn measures_compressed_change_chunks_exactly() {
    let (encoded, raw_len) = compressed_change_message();
    let stats = assert_agrees(&encoded);
    assert_eq!(stats.chunks, 1);
    assert!(stats.compressed_bytes > 0);
    assert_eq!(stats.inflated_bytes, raw_len as u64);
    // And automerge really applies it.
    let mut receiver = AutoCommit::new();
    let decoded = Message::decode(&encoded);
    assert!(decoded.is_ok());
    if let Ok(decoded) = decoded {
        let applied = receiver
            .sync()
            .receive_sync_message(&mut State::new(), decoded);
        assert!(applied.is_ok());
    }
    assert_eq!(receiver.get_changes(&[]).len(), 1);
}

#[test]
fn refuses_compressed_change_over_inflation_limit() {
    let (encoded, raw_len) = compressed_change_message();
    let limits = Limits {
        max_inflated_bytes: raw_len as u64 - 1,
        ..Limits::default()
    };
    assert_eq!(
        inspect_sync_message(&encoded, &limits),
        Err(LimitError::InflatesTooMuch {
            limit: raw_len as u64 - 1
        })
    );
}

#[test]
fn refuses_frame_over_size_limit() {
    let limits = Limits {
        max_frame_bytes: 10,
        ..Limits::default()
    };
    assert_eq!(
        inspect_sync_message(&[0x42; 11], &limits),
        Err(LimitError::FrameTooLarge {
            size: 11,
            limit: 10
        })
    );
}

#[test]
fn refuses_announced_change_count_before_reading_entries() {
    // Empty heads, need and have, then 2^35 announced changes and nothing else.
    let message = [0x42, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
    assert_eq!(
        inspect_sync_message(&message, &Limits::default()),
        Err(LimitError::TooManyChanges {
            count: 1 << 35,
            limit: Limits::default().max_changes_per_message
        })
    );
}

fn message_with_bloom(bloom: &[u8]) -> Vec<u8> {
    let mut message = vec![0x42, 0, 0, 1, 0, bloom.len() as u8];
    message.extend_from_slice(bloom);
    message.push(0);
    message
}

#[test]
fn bloom_filter_without_bits_is_refused_because_automerge_divides_by_zero() {
    // One entry, zero bits per entry: automerge computes `hash % 0` when the filter is used.
    let message = message_with_bloom(&[1, 0, 7]);
    assert_eq!(
        inspect_sync_message(&message, &Limits::default()),
        Err(LimitError::Malformed {
            what: "bloom filter without bits"
        })
    );
    // Show the guard is needed: automerge decodes it, then panics when generating a reply.
    let decoded = Message::decode(&message);
    assert!(decoded.is_ok());
    let outcome = std::panic::catch_unwind(move || {
        let mut doc = team_doc(4, 1, 0);
        let mut state = State::new();
        if let Ok(decoded) = decoded {
            let _ = doc.sync().receive_sync_message(&mut state, decoded);
        }
        let _ = doc.sync().generate_sync_message(&mut state);
    });
    assert!(outcome.is_err(), "automerge no longer panics on this");
}

#[test]
fn bloom_filter_with_billions_of_probes_is_refused() {
    let message = message_with_bloom(&[1, 10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff, 0xff]);
    assert_eq!(
        inspect_sync_message(&message, &Limits::default()),
        Err(LimitError::BloomTooCostly {
            probes: u64::from(u32::MAX),
            limit: 32
        })
    );
}

#[test]
fn admit_document_caps_documents_per_peer() {
    let limits = Limits {
        max_documents_per_peer: 2,
        ..Limits::default()
    };
    assert!(limits.admit_document(1).is_ok());
    assert_eq!(
        limits.admit_document(2),
        Err(LimitError::TooManyDocuments { limit: 2 })
    );
}

/// Valid messages of every kind, to be mutated.
fn corpus() -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut a = team_doc(1, 40, 600);
    let mut b = team_doc(2, 5, 0);
    messages.extend(sync_pair(&mut a, &mut b));
    let mut c = AutoCommit::new();
    messages.extend(sync_pair(&mut a, &mut c));
    messages.push(compressed_change_message().0);
    let mut nulls = list_of_nulls(300);
    messages.extend(sync_pair_as(&mut nulls, &mut AutoCommit::new(), true));
    messages
}

/// xorshift64*: a fixed-seed generator so that a failing mutation is reproducible.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn mutate(&mut self, original: &[u8]) -> Vec<u8> {
        let mut bytes = original.to_vec();
        for _ in 0..=self.below(4) {
            let at = self.below(bytes.len());
            match self.below(9) {
                0 => bytes[at] ^= 1 << self.below(8),
                1 => bytes[at] = 0xff,
                2 => bytes[at] = 0x80,
                3 => bytes[at] = 0,
                4 => bytes[at] = 1,
                5 => bytes[at] = bytes[at].wrapping_add(1),
                6 => bytes.truncate(at),
                7 => bytes.insert(at, self.next() as u8),
                _ => {
                    if at < bytes.len() {
                        bytes.remove(at);
                    }
                }
            }
            if bytes.is_empty() {
                break;
            }
        }
        bytes
    }
}

/// Whatever the mutation, the inspector answers; and what it accepts automerge can take in
/// without panicking (receiving, then replying, which consults the Bloom filters).
#[test]
fn mutated_real_messages_never_panic_and_accepted_ones_are_safe_for_automerge() {
    let corpus = corpus();
    let receiver = team_doc(9, 3, 0);
    let mut mutator = Mutator(0x5eed_cafe_f00d_0001);
    let mut accepted = 0;
    for round in 0..20_000 {
        let original = &corpus[round % corpus.len()];
        let mutated = mutator.mutate(original);
        if inspect_sync_message(&mutated, &Limits::default()).is_err() {
            continue;
        }
        accepted += 1;
        let mut doc = receiver.clone();
        let outcome = std::panic::catch_unwind(move || {
            let mut state = State::new();
            if let Ok(message) = Message::decode(&mutated) {
                let _ = doc.sync().receive_sync_message(&mut state, message);
                let _ = doc.sync().generate_sync_message(&mut state);
            }
        });
        assert!(
            outcome.is_ok(),
            "automerge panicked on mutation round {round}"
        );
    }
    // Many mutations land in hashes, Bloom bits or values and stay acceptable: those are the
    // ones that reach automerge.
    assert!(accepted > 1_000, "only {accepted} mutations accepted");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = inspect_sync_message(&bytes, &Limits::default());
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_type_never_panic(
        version in prop_oneof![Just(0x42u8), Just(0x43u8)],
        tail in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = vec![version];
        bytes.extend(tail);
        let _ = inspect_sync_message(&bytes, &Limits::default());
    }

    #[test]
    fn any_synced_team_doc_is_accepted_with_matching_counts(
        tallies_a in 0usize..60,
        tallies_b in 0usize..60,
        note in 0usize..4_000,
    ) {
        let mut a = team_doc(1, tallies_a, note);
        let mut b = team_doc(2, tallies_b, 0);
        for message in sync_pair(&mut a, &mut b) {
            assert_agrees(&message);
        }
    }
}
