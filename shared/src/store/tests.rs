//! Store tests against real Automerge documents and a real SQLite database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ROOT, Value};

use super::*;

fn doc_id(n: u8) -> DocumentId {
    DocumentId::from_bytes([n; 16])
}

/// A team document that records encounters, handing out each save as an incremental chunk,
/// like the engine does after a local change.
struct TeamDoc {
    id: DocumentId,
    doc: AutoCommit,
}

impl TeamDoc {
    fn new(id: DocumentId, actor: &str) -> Self {
        let doc = AutoCommit::new().with_actor(ActorId::from(actor.as_bytes()));
        Self { id, doc }
    }

    fn encounters(&mut self) -> automerge::ObjId {
        match self.doc.get(ROOT, "encounters").unwrap() {
            Some((Value::Object(ObjType::Map), id)) => id,
            _ => self
                .doc
                .put_object(ROOT, "encounters", ObjType::Map)
                .unwrap(),
        }
    }

    /// Adds one encounter and returns the incremental write for it.
    fn record(&mut self, n: i64) -> StorageWrite {
        let encounters = self.encounters();
        let enc = self
            .doc
            .put_object(&encounters, format!("enc-{n:05}"), ObjType::Map)
            .unwrap();
        self.doc.put(&enc, "seq", n).unwrap();
        self.doc.put(&enc, "place_type", "street").unwrap();
        self.doc.put(&enc, "installation", "tent").unwrap();
        self.doc.put(&enc, "men", 1_i64).unwrap();
        self.doc.put(&enc, "interview", "asleep").unwrap();
        StorageWrite::incremental(self.id, self.doc.save_incremental())
    }
}

fn encounter_seqs(doc: &Automerge) -> Vec<i64> {
    let Some((_, encounters)) = doc.get(ROOT, "encounters").unwrap() else {
        return Vec::new();
    };
    let mut seqs: Vec<i64> = doc
        .keys(&encounters)
        .map(|key| {
            let (_, enc) = doc.get(&encounters, &key).unwrap().unwrap();
            match doc.get(&enc, "seq").unwrap() {
                Some((Value::Scalar(s), _)) => s.as_i64().unwrap(),
                other => panic!("encounter without seq: {other:?}"),
            }
        })
        .collect();
    seqs.sort_unstable();
    seqs
}

#[test]
fn apply_then_load_round_trips_a_real_document() {
    let mut store = Store::open_in_memory().unwrap();
    let mut team = TeamDoc::new(doc_id(1), "aa01");
    for n in 0..10 {
        store.apply(&[team.record(n)]).unwrap();
    }
    let loaded = store.load_automerge(&doc_id(1)).unwrap().unwrap();
    assert_eq!(encounter_seqs(&loaded), (0..10).collect::<Vec<_>>());
    let mut original = team.doc.clone();
    assert_eq!(loaded.get_heads(), original.get_heads());
    assert_eq!(store.document_ids().unwrap(), vec![doc_id(1)]);
    assert!(store.has_document(&doc_id(1)).unwrap());
}

#[test]
fn an_unknown_document_is_none_not_empty() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(store.load_document(&doc_id(9)).unwrap(), None);
    assert!(store.load_automerge(&doc_id(9)).unwrap().is_none());
    assert!(store.document_ids().unwrap().is_empty());
}

#[test]
fn the_same_incremental_twice_is_stored_once() {
    let mut store = Store::open_in_memory().unwrap();
    let mut team = TeamDoc::new(doc_id(2), "aa02");
    let write = team.record(1);
    store.apply(std::slice::from_ref(&write)).unwrap();
    let once = store.load_document(&doc_id(2)).unwrap();
    store.apply(&[write.clone(), write]).unwrap();
    assert_eq!(store.load_document(&doc_id(2)).unwrap(), once);
    assert_eq!(store.chunk_stats(&doc_id(2)).unwrap().incremental_chunks, 1);
}

#[test]
fn a_batch_with_a_failing_write_leaves_nothing() {
    let mut store = Store::open_in_memory().unwrap();
    let mut team = TeamDoc::new(doc_id(3), "aa03");
    store.apply(&[team.record(0)]).unwrap();
    let before = store.load_document(&doc_id(3)).unwrap();

    let good = team.record(1);
    let sync = StorageWrite::SyncState {
        doc: doc_id(4),
        peer: "peer-a".into(),
        bytes: vec![1, 2, 3],
    };
    let StorageWrite::Incremental { bytes, .. } = team.record(2) else {
        unreachable!()
    };
    let bad_hash = StorageWrite::Incremental {
        doc: doc_id(3),
        hash: [0; 32],
        bytes,
    };
    let err = store.apply(&[good, sync, bad_hash]).unwrap_err();
    assert!(matches!(err, StoreError::HashMismatch { .. }), "{err:?}");

    assert_eq!(store.load_document(&doc_id(3)).unwrap(), before);
    assert_eq!(store.load_sync_state(&doc_id(4), "peer-a").unwrap(), None);
    let docs: i64 = store
        .connection()
        .query_row("SELECT count(*) FROM documents", [], |r| r.get(0))
        .unwrap();
    assert_eq!(docs, 1, "the sync state's document row was rolled back too");
}

#[test]
fn empty_and_non_automerge_chunks_are_refused_at_write() {
    let mut store = Store::open_in_memory().unwrap();
    let err = store
        .apply(&[StorageWrite::incremental(doc_id(5), Vec::new())])
        .unwrap_err();
    assert!(matches!(err, StoreError::EmptyChunk { .. }), "{err:?}");
    let err = store
        .apply(&[StorageWrite::incremental(
            doc_id(5),
            b"not automerge".to_vec(),
        )])
        .unwrap_err();
    assert!(matches!(err, StoreError::NotAutomerge { .. }), "{err:?}");
    assert!(store.document_ids().unwrap().is_empty());
}

#[test]
fn zero_bytes_are_an_error_not_an_empty_document() {
    // Automerge itself would happily load this as an empty document.
    assert!(Automerge::load(&[]).is_ok());
    let err = load_stored_bytes(&doc_id(6), &[]).unwrap_err();
    assert!(matches!(err, StoreError::EmptyDocument { .. }), "{err:?}");
}

#[test]
fn a_torn_chunk_fails_to_load_instead_of_loading_partially() {
    let mut store = Store::open_in_memory().unwrap();
    let mut team = TeamDoc::new(doc_id(7), "aa07");
    store.apply(&[team.record(0)]).unwrap();
    let StorageWrite::Incremental { bytes, .. } = team.record(1) else {
        unreachable!()
    };
    // Magic intact, body cut: passes the cheap write check, must fail at load.
    let torn = bytes[..bytes.len() / 2].to_vec();
    store
        .apply(&[StorageWrite::incremental(doc_id(7), torn)])
        .unwrap();
    let err = store.load_automerge(&doc_id(7)).unwrap_err();
    assert!(matches!(err, StoreError::CorruptDocument { .. }), "{err:?}");
}

#[test]
fn garbage_in_the_database_is_reported_on_load() {
    let mut store = Store::open_in_memory().unwrap();
    let mut team = TeamDoc::new(doc_id(8), "aa08");
    store.apply(&[team.record(0)]).unwrap();
    // Simulate a foreign writer bypassing `apply`.
    store
        .connection()
        .execute(
            "UPDATE chunks SET bytes = X'DEADBEEF' WHERE doc_id = ?1",
            params![doc_id(8).as_bytes().as_slice()],
        )
        .unwrap();
    let err = store.load_document(&doc_id(8)).unwrap_err();
    assert!(matches!(err, StoreError::NotAutomerge { .. }), "{err:?}");
}

#[test]
fn compaction_keeps_every_change_and_shrinks_storage() {
    let mut store = Store::open_in_memory().unwrap();
    let mut team = TeamDoc::new(doc_id(10), "aa10");
    for n in 0..200 {
        store.apply(&[team.record(n)]).unwrap();
    }
    let before = store.chunk_stats(&doc_id(10)).unwrap();
    let heads_before = store
        .load_automerge(&doc_id(10))
        .unwrap()
        .unwrap()
        .get_heads();

    let report = store.compact(&doc_id(10)).unwrap().unwrap();
    let after = store.chunk_stats(&doc_id(10)).unwrap();
    println!(
        "compaction of 200 encounters: {} incremental chunks, {} bytes -> 1 snapshot, {} bytes ({:.1}x smaller)",
        before.incremental_chunks,
        before.total_bytes(),
        after.total_bytes(),
        before.total_bytes() as f64 / after.total_bytes() as f64
    );
    assert_eq!(report.chunks_replaced, 200);
    assert_eq!(report.bytes_before, before.total_bytes());
    assert_eq!(report.bytes_after, after.total_bytes());
    assert_eq!(after.snapshot_chunks, 1);
    assert_eq!(after.incremental_chunks, 0);
    assert!(after.total_bytes() < before.total_bytes());

    let loaded = store.load_automerge(&doc_id(10)).unwrap().unwrap();
    assert_eq!(loaded.get_heads(), heads_before);
    assert_eq!(encounter_seqs(&loaded), (0..200).collect::<Vec<_>>());

    // Appends after compaction load on top of the snapshot; compacting twice is a no-op.
    store.apply(&[team.record(200)]).unwrap();
    let loaded = store.load_automerge(&doc_id(10)).unwrap().unwrap();
    assert_eq!(encounter_seqs(&loaded), (0..=200).collect::<Vec<_>>());
    store.compact(&doc_id(10)).unwrap().unwrap();
    assert_eq!(store.compact(&doc_id(10)).unwrap(), None);
}

#[test]
fn a_snapshot_replaces_only_the_chunks_it_names() {
    // Models an append racing a compaction: the snapshot was made from chunks 0..3 while
    // chunk 3 arrived; chunk 3 must survive the replacement.
    let mut store = Store::open_in_memory().unwrap();
    let mut team = TeamDoc::new(doc_id(11), "aa11");
    let mut read = Vec::new();
    for n in 0..3 {
        let write = team.record(n);
        if let StorageWrite::Incremental { hash, .. } = &write {
            read.push(*hash);
        }
        store.apply(&[write]).unwrap();
    }
    let snapshot = store.load_automerge(&doc_id(11)).unwrap().unwrap().save();
    store.apply(&[team.record(3)]).unwrap();
    store
        .apply(&[StorageWrite::Snapshot {
            doc: doc_id(11),
            hash: chunk_hash(&snapshot),
            bytes: snapshot,
            replaces: read,
        }])
        .unwrap();
    let stats = store.chunk_stats(&doc_id(11)).unwrap();
    assert_eq!((stats.snapshot_chunks, stats.incremental_chunks), (1, 1));
    let loaded = store.load_automerge(&doc_id(11)).unwrap().unwrap();
    assert_eq!(encounter_seqs(&loaded), vec![0, 1, 2, 3]);
}

#[test]
fn compact_if_needed_follows_the_policy() {
    let mut store = Store::open_in_memory().unwrap();
    let mut team = TeamDoc::new(doc_id(12), "aa12");
    let policy = CompactionPolicy {
        max_incremental_chunks: 5,
        max_incremental_ratio: u64::MAX,
        min_incremental_bytes: u64::MAX,
    };
    for n in 0..5 {
        store.apply(&[team.record(n)]).unwrap();
    }
    assert_eq!(store.compact_if_needed(&doc_id(12), &policy).unwrap(), None);
    store.apply(&[team.record(5)]).unwrap();
    assert!(
        store
            .compact_if_needed(&doc_id(12), &policy)
            .unwrap()
            .is_some()
    );
    let loaded = store.load_automerge(&doc_id(12)).unwrap().unwrap();
    assert_eq!(encounter_seqs(&loaded), (0..6).collect::<Vec<_>>());
}

#[test]
fn two_devices_chunks_merge_on_load() {
    let mut store = Store::open_in_memory().unwrap();
    let mut phone = TeamDoc::new(doc_id(13), "bb01");
    store.apply(&[phone.record(0)]).unwrap();
    let mut laptop = TeamDoc {
        id: doc_id(13),
        doc: AutoCommit::load(&store.load_document(&doc_id(13)).unwrap().unwrap())
            .unwrap()
            .with_actor(ActorId::from(b"bb02".as_slice())),
    };
    laptop.doc.save_incremental(); // the load is already stored
    store.apply(&[phone.record(1), laptop.record(2)]).unwrap();
    let loaded = store.load_automerge(&doc_id(13)).unwrap().unwrap();
    assert_eq!(encounter_seqs(&loaded), vec![0, 1, 2]);
}

#[test]
fn sync_states_are_upserted_per_peer_and_deleted_with_the_document() {
    let mut store = Store::open_in_memory().unwrap();
    let mut team = TeamDoc::new(doc_id(14), "aa14");
    let state = |peer: &str, bytes: &[u8]| StorageWrite::SyncState {
        doc: doc_id(14),
        peer: peer.into(),
        bytes: bytes.to_vec(),
    };
    store
        .apply(&[team.record(0), state("p1", &[1]), state("p2", &[2])])
        .unwrap();
    store.apply(&[state("p1", &[3])]).unwrap();
    assert_eq!(
        store.load_sync_state(&doc_id(14), "p1").unwrap(),
        Some(vec![3])
    );
    assert_eq!(
        store.load_sync_state(&doc_id(14), "p2").unwrap(),
        Some(vec![2])
    );
    assert!(store.delete_document(&doc_id(14)).unwrap());
    assert!(!store.delete_document(&doc_id(14)).unwrap());
    assert_eq!(store.load_sync_state(&doc_id(14), "p1").unwrap(), None);
    assert_eq!(store.load_document(&doc_id(14)).unwrap(), None);
}

#[test]
fn a_file_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("carnet.sqlite3");
    let mut store = Store::open(&path).unwrap();
    let mode: String = store
        .connection()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = store
        .connection()
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
    store
        .connection_mut()
        .execute(
            "UPDATE schema_migrations SET version = version + 1 WHERE namespace = ?1",
            params![STORE_NAMESPACE],
        )
        .unwrap();
    drop(store);
    let err = Store::open(&path).err().unwrap();
    assert!(
        matches!(&err, StoreError::SchemaTooNew { found, supported, .. }
            if *found == *supported + 1),
        "{err:?}"
    );
}

#[test]
fn another_crate_adds_its_tables_to_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("carnet.sqlite3");
    let server_steps: &[&str] =
        &["CREATE TABLE tokens (hash BLOB PRIMARY KEY, role TEXT NOT NULL) WITHOUT ROWID;"];
    {
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.migrate("carnet-server", server_steps).unwrap(), 1);
        store
            .connection()
            .execute("INSERT INTO tokens VALUES (X'01', 'coordinator')", [])
            .unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.migrate("carnet-server", server_steps).unwrap(), 1);
    assert_eq!(
        schema_version(store.connection(), STORE_NAMESPACE).unwrap(),
        i64::try_from(STORE_MIGRATIONS.len()).unwrap()
    );
    store.integrity_check().unwrap();
}

#[test]
fn replaying_a_chunk_after_compaction_stores_nothing() {
    let mut store = Store::open_in_memory().unwrap();
    let mut team = TeamDoc::new(doc_id(15), "aa15");
    let first = team.record(0);
    store.apply(&[first.clone(), team.record(1)]).unwrap();
    store.compact(&doc_id(15)).unwrap().unwrap();
    let compacted = store.load_document(&doc_id(15)).unwrap();
    store.apply(&[first]).unwrap();
    assert_eq!(store.load_document(&doc_id(15)).unwrap(), compacted);
    assert_eq!(
        store.chunk_stats(&doc_id(15)).unwrap().incremental_chunks,
        0
    );
}

#[test]
fn compaction_racing_another_connection_loses_no_append() {
    // Two connections on one file: one appends encounters while the other compacts in a loop.
    // Each compaction deletes only the chunks it read, so every append must survive.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.sqlite3");
    let mut compactor = Store::open(&path).unwrap();
    let writer_path = path.clone();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer_done = done.clone();
    let writer = std::thread::spawn(move || {
        let mut store = Store::open(&writer_path).unwrap();
        let mut team = TeamDoc::new(doc_id(16), "aa16");
        for n in 0..150 {
            store.apply(&[team.record(n)]).unwrap();
            // Leave the write lock free now and then, or the compactor starves.
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        writer_done.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let mut compactions = 0;
    while !done.load(std::sync::atomic::Ordering::SeqCst) {
        if compactor.compact(&doc_id(16)).unwrap().is_some() {
            compactions += 1;
        }
    }
    writer.join().unwrap();
    println!("compactions while appending: {compactions}");
    let loaded = compactor.load_automerge(&doc_id(16)).unwrap().unwrap();
    assert_eq!(encounter_seqs(&loaded), (0..150).collect::<Vec<_>>());
}

mod model {
    //! The store against a model: whatever mix of appends, replays and compactions, the
    //! document holds exactly the encounters appended, and replays never add chunks.
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Append,
        Replay(usize),
        Compact,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => Just(Op::Append),
            2 => any::<usize>().prop_map(Op::Replay),
            1 => Just(Op::Compact),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn the_store_holds_exactly_what_was_appended(ops in proptest::collection::vec(op(), 1..40)) {
            let mut store = Store::open_in_memory().unwrap();
            let mut team = TeamDoc::new(doc_id(20), "cc01");
            let mut written: Vec<StorageWrite> = Vec::new();
            let mut since_compaction = 0_u64;
            for op in ops {
                match op {
                    Op::Append => {
                        let write = team.record(i64::try_from(written.len()).unwrap());
                        store.apply(std::slice::from_ref(&write)).unwrap();
                        written.push(write);
                        since_compaction += 1;
                    }
                    Op::Replay(i) if !written.is_empty() => {
                        store.apply(&[written[i % written.len()].clone()]).unwrap();
                    }
                    Op::Replay(_) => {}
                    Op::Compact => {
                        store.compact(&doc_id(20)).unwrap();
                        since_compaction = 0;
                    }
                }
                prop_assert_eq!(
                    store.chunk_stats(&doc_id(20)).unwrap().incremental_chunks,
                    since_compaction
                );
            }
            let expected: Vec<i64> = (0..i64::try_from(written.len()).unwrap()).collect();
            let stored = store
                .load_automerge(&doc_id(20))
                .unwrap()
                .map(|doc| encounter_seqs(&doc))
                .unwrap_or_default();
            prop_assert_eq!(stored, expected);
        }
    }
}

#[test]
fn a_replace_write_drops_every_chunk_fold_and_sync_state_of_the_document() {
    let mut store = Store::open_in_memory().unwrap();
    let mut team = TeamDoc::new(doc_id(20), "aa20");
    let mut other = TeamDoc::new(doc_id(21), "aa21");
    for n in 0..4 {
        store.apply(&[team.record(n), other.record(n)]).unwrap();
    }
    store.compact(&doc_id(20)).unwrap().unwrap();
    store.apply(&[team.record(4)]).unwrap();
    let sync_state = |doc| StorageWrite::SyncState {
        doc,
        peer: "device-a/storage".to_owned(),
        bytes: vec![1, 2, 3],
    };
    store
        .apply(&[sync_state(doc_id(20)), sync_state(doc_id(21))])
        .unwrap();

    // A fresh history: one encounter only, written by another actor.
    let mut fresh = TeamDoc::new(doc_id(20), "bb20");
    fresh.record(99);
    let bytes = fresh.doc.save();
    store
        .apply(&[StorageWrite::Replace {
            doc: doc_id(20),
            hash: chunk_hash(&bytes),
            bytes: bytes.clone(),
        }])
        .unwrap();

    assert_eq!(store.load_document(&doc_id(20)).unwrap(), Some(bytes));
    let stats = store.chunk_stats(&doc_id(20)).unwrap();
    assert_eq!((stats.snapshot_chunks, stats.incremental_chunks), (1, 0));
    assert_eq!(
        store
            .load_sync_state(&doc_id(20), "device-a/storage")
            .unwrap(),
        None
    );
    let folded: i64 = store
        .connection()
        .query_row(
            "SELECT count(*) FROM folded_chunks WHERE doc_id = ?1",
            params![doc_id(20).as_bytes().as_slice()],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(folded, 0);
    let loaded = store.load_automerge(&doc_id(20)).unwrap().unwrap();
    assert_eq!(encounter_seqs(&loaded), vec![99]);
    // The other document is untouched.
    let untouched = store.load_automerge(&doc_id(21)).unwrap().unwrap();
    assert_eq!(encounter_seqs(&untouched), vec![0, 1, 2, 3]);
    assert!(
        store
            .load_sync_state(&doc_id(21), "device-a/storage")
            .unwrap()
            .is_some()
    );
}

#[test]
fn a_compaction_racing_a_replaced_history_writes_nothing() {
    // The compactor read the old chunks and made its snapshot; meanwhile the sync actor's
    // connection replaced the history. Storing that snapshot would bring the old history back.
    let mut store = Store::open_in_memory().unwrap();
    let mut team = TeamDoc::new(doc_id(22), "aa22");
    for n in 0..3 {
        store.apply(&[team.record(n)]).unwrap();
    }
    let read: Vec<ChunkHash> = store
        .read_chunks(&doc_id(22))
        .unwrap()
        .iter()
        .map(|c| c.hash)
        .collect();
    let old_snapshot = store.load_automerge(&doc_id(22)).unwrap().unwrap().save();
    let fold = StorageWrite::Snapshot {
        doc: doc_id(22),
        hash: chunk_hash(&old_snapshot),
        bytes: old_snapshot,
        replaces: read.clone(),
    };
    let mut fresh = TeamDoc::new(doc_id(22), "bb22");
    fresh.record(7);
    let fresh_bytes = fresh.doc.save();
    store
        .apply(&[StorageWrite::Replace {
            doc: doc_id(22),
            hash: chunk_hash(&fresh_bytes),
            bytes: fresh_bytes.clone(),
        }])
        .unwrap();

    assert!(!store.commit_fold(&doc_id(22), &read, &fold).unwrap());
    assert_eq!(store.load_document(&doc_id(22)).unwrap(), Some(fresh_bytes));
    // With the chunks still there, the same fold is stored.
    let mut other = TeamDoc::new(doc_id(23), "aa23");
    for n in 0..2 {
        store.apply(&[other.record(n)]).unwrap();
    }
    let read: Vec<ChunkHash> = store
        .read_chunks(&doc_id(23))
        .unwrap()
        .iter()
        .map(|c| c.hash)
        .collect();
    let snapshot = store.load_automerge(&doc_id(23)).unwrap().unwrap().save();
    let fold = StorageWrite::Snapshot {
        doc: doc_id(23),
        hash: chunk_hash(&snapshot),
        bytes: snapshot,
        replaces: read.clone(),
    };
    assert!(store.commit_fold(&doc_id(23), &read, &fold).unwrap());
    assert_eq!(store.chunk_stats(&doc_id(23)).unwrap().total_chunks(), 1);
}
