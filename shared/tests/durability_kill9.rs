//! Acknowledged means durable, under `kill -9`.
//!
//! The parent test re-executes this test binary as a writer child (selected by an environment
//! variable) that appends encounters to a real SQLite file through `Store::apply`, compacting
//! now and then, and prints `ACK n` only after `apply` returned. The parent kills it with
//! SIGKILL after a seeded random delay, reopens the file, checks SQLite's integrity and that
//! every acknowledged encounter is in the document. The cycles accumulate on the same file.
//!
//! SIGKILL tests process death (torn transactions, half-done compactions), not power loss: the
//! OS page cache survives a killed process. `synchronous=FULL` is what covers power loss.
//!
//! Seed: `CARNET_KILL9_SEED` (decimal), printed at start so a failing run can be replayed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ReadDoc, Value};
use carnet_shared::ids::DocumentId;
use carnet_shared::storage::StorageWrite;
use carnet_shared::store::{CompactionPolicy, Store};

const CHILD_ENV: &str = "CARNET_KILL9_CHILD_DB";
const CYCLE_ENV: &str = "CARNET_KILL9_CYCLE";
const CHILD_TEST: &str = "kill9_writer_child";
const CYCLES: u64 = 60;
const DOC: DocumentId = DocumentId::from_bytes(*b"kill9-team-doc!!");
/// Sequence numbers are `cycle * SEQ_STRIDE + i`: unique across children without the parent
/// having to know what a killed child managed to write.
const SEQ_STRIDE: u64 = 1_000_000;
/// Small so that compaction (and kills in the middle of it) happen often.
const POLICY: CompactionPolicy = CompactionPolicy {
    max_incremental_chunks: 12,
    max_incremental_ratio: 4,
    min_incremental_bytes: 4 * 1024,
};

/// SplitMix64: a seeded, reproducible delay source for the test (no need for a crate).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The child: append encounters until killed. Without the environment variable it is a no-op,
/// so an ordinary `cargo test` run passes through it.
#[test]
fn kill9_writer_child() {
    let Ok(db) = std::env::var(CHILD_ENV) else {
        return;
    };
    let cycle: u64 = std::env::var(CYCLE_ENV).unwrap().parse().unwrap();
    let mut store = Store::open(&db).unwrap();
    let mut doc = match store.load_document(&DOC).unwrap() {
        Some(bytes) => AutoCommit::load(&bytes).unwrap(),
        None => AutoCommit::new(),
    };
    // One actor per writer instance: a killed child may have written changes it never
    // acknowledged, and a successor reusing its actor would fork that actor's history.
    doc.set_actor(ActorId::from(format!("kill9-writer-{cycle}").as_bytes()));
    let mut saved_heads = doc.get_heads();
    let mut out = std::io::stdout().lock();
    // libtest has printed "test kill9_writer_child ... " without a newline: end that line.
    writeln!(out, "\nREADY").unwrap();
    out.flush().unwrap();

    // Bounded so that an orphan (parent gone) stops by itself.
    let deadline = Instant::now() + Duration::from_secs(20);
    for i in 0..SEQ_STRIDE {
        if Instant::now() > deadline {
            break;
        }
        let seq = cycle * SEQ_STRIDE + i;
        let encounters = match doc.get(ROOT, "encounters").unwrap() {
            Some((Value::Object(ObjType::Map), id)) => id,
            _ => doc.put_object(ROOT, "encounters", ObjType::Map).unwrap(),
        };
        let enc = doc
            .put_object(&encounters, format!("enc-{seq}"), ObjType::Map)
            .unwrap();
        doc.put(&enc, "seq", seq).unwrap();
        doc.put(&enc, "place_type", "metro").unwrap();
        doc.put(&enc, "situation", "alone").unwrap();
        doc.put(&enc, "men", 1_i64).unwrap();
        doc.put(&enc, "interview", "refused").unwrap();
        let bytes = doc.save_after(&saved_heads);
        saved_heads = doc.get_heads();
        store
            .apply(&[StorageWrite::incremental(DOC, bytes)])
            .unwrap();
        // Only now is the encounter acknowledged.
        writeln!(out, "ACK {seq}").unwrap();
        out.flush().unwrap();
        if POLICY.needs_compaction(&store.chunk_stats(&DOC).unwrap()) {
            writeln!(out, "COMPACTING").unwrap();
            out.flush().unwrap();
            let report = store.compact(&DOC).unwrap().unwrap();
            writeln!(
                out,
                "COMPACTED {} {} {}",
                report.chunks_replaced, report.bytes_before, report.bytes_after
            )
            .unwrap();
            out.flush().unwrap();
        }
    }
}

enum Line {
    Ready,
    Ack(u64),
    Compacting,
    Compacted,
}

fn parse(line: &str) -> Option<Line> {
    if line == "READY" {
        Some(Line::Ready)
    } else if let Some(n) = line.strip_prefix("ACK ") {
        Some(Line::Ack(n.trim().parse().ok()?))
    } else if line == "COMPACTING" {
        Some(Line::Compacting)
    } else if line.starts_with("COMPACTED ") {
        Some(Line::Compacted)
    } else {
        None // libtest's own chatter
    }
}

struct CycleOutcome {
    acked: Vec<u64>,
    compactions: u64,
    /// The last thing the child announced was a compaction it never finished.
    killed_while_compacting: bool,
    killed_by_signal: bool,
}

fn run_cycle(exe: &Path, db: &Path, cycle: u64, rng: &mut SplitMix64) -> CycleOutcome {
    let mut child = Command::new(exe)
        .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, db)
        .env(CYCLE_ENV, cycle.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(parsed) = parse(&line)
                && tx.send(parsed).is_err()
            {
                break;
            }
        }
    });

    // Where the random delay starts: every 8th cycle from the spawn (the kill may land while
    // opening, migrating or loading); otherwise from READY or, every other cycle, from the first
    // ACK, so that half the cycles are sure to die while writing whatever the machine's speed.
    let early = cycle % 8 == 7;
    let after_first_ack = !early && cycle.is_multiple_of(2);
    let mut lines = Vec::new();
    if !early {
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("child never became ready or never acknowledged");
            let go = match line {
                Line::Ready => !after_first_ack,
                Line::Ack(_) => true,
                _ => false,
            };
            lines.push(line);
            if go {
                break;
            }
        }
    }
    let delay_ms = if early {
        rng.below(6)
    } else {
        2 + rng.below(79)
    };
    std::thread::sleep(Duration::from_millis(delay_ms));
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());

    use std::os::unix::process::ExitStatusExt;
    let mut outcome = CycleOutcome {
        acked: Vec::new(),
        compactions: 0,
        killed_while_compacting: false,
        killed_by_signal: status.signal() == Some(9),
    };
    for line in lines {
        outcome.killed_while_compacting = matches!(line, Line::Compacting);
        match line {
            Line::Ack(n) => outcome.acked.push(n),
            Line::Compacted => outcome.compactions += 1,
            Line::Ready | Line::Compacting => {}
        }
    }
    outcome
}

fn stored_seqs(store: &Store) -> Vec<u64> {
    let Some(doc) = store.load_automerge(&DOC).unwrap() else {
        return Vec::new();
    };
    let Some((_, encounters)) = doc.get(ROOT, "encounters").unwrap() else {
        return Vec::new();
    };
    let mut seqs: Vec<u64> = doc
        .keys(&encounters)
        .map(|key| {
            let (_, enc) = doc.get(&encounters, &key).unwrap().unwrap();
            match doc.get(&enc, "seq").unwrap() {
                Some((Value::Scalar(s), _)) => s.as_u64().unwrap(),
                other => panic!("encounter without seq: {other:?}"),
            }
        })
        .collect();
    seqs.sort_unstable();
    seqs
}

#[test]
fn acknowledged_encounters_survive_kill9() {
    let seed: u64 = std::env::var("CARNET_KILL9_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_CA12_2026);
    println!("kill9 seed: {seed}");
    let mut rng = SplitMix64(seed);
    let exe = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db: PathBuf = dir.path().join("carnet-kill9.sqlite3");

    let started = Instant::now();
    let mut all_acked: Vec<u64> = Vec::new();
    let mut compactions = 0;
    let mut kills_while_compacting = 0;
    let mut cycles_with_acks = 0;
    let mut lost_total = 0;
    for cycle in 0..CYCLES {
        let outcome = run_cycle(&exe, &db, cycle, &mut rng);
        assert!(
            outcome.killed_by_signal,
            "cycle {cycle}: the writer exited by itself instead of being killed"
        );
        cycles_with_acks += u64::from(!outcome.acked.is_empty());
        compactions += outcome.compactions;
        kills_while_compacting += u64::from(outcome.killed_while_compacting);
        all_acked.extend(outcome.acked);

        let store = Store::open(&db).unwrap();
        store.integrity_check().unwrap();
        let stored = stored_seqs(&store);
        let lost: Vec<u64> = all_acked
            .iter()
            .copied()
            .filter(|seq| stored.binary_search(seq).is_err())
            .collect();
        lost_total = lost.len();
        assert!(
            lost.is_empty(),
            "cycle {cycle}: {} acknowledged encounters lost, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
    }

    let store = Store::open(&db).unwrap();
    let stored = stored_seqs(&store);
    let stats = store.chunk_stats(&DOC).unwrap();
    println!(
        "kill9 summary: cycles={CYCLES} cycles_with_acks={cycles_with_acks} acked={} stored={} \
         unacked_but_stored={} lost={lost_total} compactions_seen={compactions} \
         kills_while_compacting={kills_while_compacting} \
         final_chunks={} final_bytes={} elapsed={:.1}s",
        all_acked.len(),
        stored.len(),
        stored.len() - all_acked.len(),
        stats.total_chunks(),
        stats.total_bytes(),
        started.elapsed().as_secs_f64()
    );
    // Even cycles wait for a first ACK before their delay starts (and are never "early").
    assert!(
        cycles_with_acks >= CYCLES / 2,
        "only {cycles_with_acks} cycles acknowledged anything: the writer is not writing"
    );
    assert!(
        compactions > 0,
        "no compaction ran: the test would miss kills during one"
    );
}
