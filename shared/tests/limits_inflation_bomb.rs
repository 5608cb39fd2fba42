//! Regression: a ~500 KiB sync message that automerge 0.12 would inflate to 512 MiB.
//!
//! The message carries one compressed-change chunk (type 2) wrapping a structurally valid change
//! (correct checksum) whose extra bytes are 512 MiB of zeros: DEFLATE at maximum compression
//! shrinks that about 1000-fold. automerge inflates it with an unbounded `read_to_end` and copies
//! it once more before checking anything. `inspect_sync_message` must refuse it while keeping its
//! own memory flat.
//!
//! This file is its own test binary so that `VmHWM` (peak resident memory) is not disturbed by
//! other tests running in parallel threads.
// Test code: a failed `expect` is a failed test, with its message.
#![allow(clippy::expect_used)]

use std::io::Write;
use std::time::Instant;

use automerge::sync::{Message, MessageFlags, MessageVersion, State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ChangeHash, ROOT};
use carnet_shared::limits::{LimitError, Limits, inspect_sync_message};
use flate2::Compression;
use flate2::write::DeflateEncoder;
use sha2::{Digest, Sha256};

const MIB: usize = 1024 * 1024;
const MAGIC_BYTES: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const CHUNK_CHANGE: u8 = 1;
const CHUNK_COMPRESSED: u8 = 2;

fn uleb(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_uleb(bytes: &[u8]) -> (u64, usize) {
    let mut value = 0;
    for (i, byte) in bytes.iter().enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return (value, i + 1);
        }
    }
    panic!("unterminated LEB128 in automerge's own change");
}

struct Bomb {
    message: Vec<u8>,
    inflated_len: usize,
}

/// Builds the message. `inflated_len` is the size of the change data once inflated.
fn build_bomb(inflated_len: usize) -> Bomb {
    // A real change from automerge, so that the inflated chunk is a valid change.
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "tally", 1_i64).expect("put");
    doc.commit();
    let change = doc.get_changes(&[]).remove(0);
    let raw = change.raw_bytes();
    assert_eq!(raw[..4], MAGIC_BYTES);
    assert_eq!(raw[8], CHUNK_CHANGE);
    let (len, len_bytes) = read_uleb(&raw[9..]);
    let data = &raw[9 + len_bytes..];
    assert_eq!(len as usize, data.len());

    // automerge keeps whatever follows the op columns as the change's "extra bytes".
    let padding = inflated_len - data.len();
    let zeros = vec![0_u8; MIB];
    let mut hasher = Sha256::new();
    let mut prefix = vec![CHUNK_CHANGE];
    uleb(inflated_len as u64, &mut prefix);
    hasher.update(&prefix);
    hasher.update(data);
    let mut deflater = DeflateEncoder::new(Vec::new(), Compression::best());
    deflater.write_all(data).expect("deflate");
    let mut left = padding;
    while left > 0 {
        let block = &zeros[..left.min(MIB)];
        hasher.update(block);
        deflater.write_all(block).expect("deflate");
        left -= block.len();
    }
    let hash: [u8; 32] = hasher.finalize().into();
    let deflated = deflater.finish().expect("deflate");

    let mut chunk = MAGIC_BYTES.to_vec();
    chunk.extend_from_slice(&hash[..4]);
    chunk.push(CHUNK_COMPRESSED);
    uleb(deflated.len() as u64, &mut chunk);
    chunk.extend_from_slice(&deflated);

    let message = Message {
        heads: vec![ChangeHash(hash)],
        need: Vec::new(),
        have: Vec::new(),
        changes: vec![chunk].into(),
        flags: Some(MessageFlags::new()),
        version: MessageVersion::V1,
    };
    Bomb {
        message: message.encode(),
        inflated_len,
    }
}

/// `VmHWM` (peak) and `VmRSS` (current) of this process, in bytes.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kib| kib * 1024)
            .expect("memory field")
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Resets `VmHWM` to the current resident size (Linux >= 4.0), so that the peak measured next
/// belongs to what runs next and not to building the bomb. Returns whether it worked.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[test]
fn inflation_bomb_is_refused_with_flat_memory() {
    let bomb = build_bomb(512 * MIB);
    let limits = Limits::default();
    let peak_reset = reset_peak();
    let (hwm_before, rss_before) = memory();
    let started = Instant::now();
    let verdict = inspect_sync_message(&bomb.message, &limits);
    let elapsed = started.elapsed();
    let (hwm_after, rss_after) = memory();

    let peak_growth = hwm_after.saturating_sub(hwm_before);
    println!(
        "inflation bomb: message {} bytes ({:.0} KiB), inflates to {} bytes ({} MiB); \
         verdict {:?} in {:?}; VmHWM {} -> {} kB (+{} kB, peak reset: {}), VmRSS {} -> {} kB",
        bomb.message.len(),
        bomb.message.len() as f64 / 1024.0,
        bomb.inflated_len,
        bomb.inflated_len / MIB,
        verdict,
        elapsed,
        hwm_before / 1024,
        hwm_after / 1024,
        peak_growth / 1024,
        peak_reset,
        rss_before / 1024,
        rss_after / 1024,
    );
    assert!(bomb.message.len() < 600 * 1024);
    assert_eq!(
        verdict,
        Err(LimitError::InflatesTooMuch {
            limit: limits.max_inflated_bytes
        })
    );
    assert!(
        peak_growth < 64 * MIB as u64,
        "peak grew by {peak_growth} bytes"
    );
}

#[test]
fn inflation_bomb_is_measured_exactly_when_the_limit_allows_it() {
    // Same construction, small enough to inflate fully: proves the bomb's chunk is counted as
    // the change automerge would rebuild, not just refused for some other reason.
    let bomb = build_bomb(4 * MIB);
    let stats = inspect_sync_message(&bomb.message, &Limits::default()).expect("accepted");
    assert_eq!(stats.chunks, 1);
    // Rebuilt header: magic, checksum, type, LEB128 length (4 MiB takes 4 bytes).
    assert_eq!(stats.inflated_bytes, bomb.inflated_len as u64 + 9 + 4);
    // And automerge accepts it as a valid change: the bomb is not malformed.
    let mut doc = AutoCommit::new();
    let message = Message::decode(&bomb.message).expect("decode");
    doc.sync()
        .receive_sync_message(&mut State::new(), message)
        .expect("automerge applies the padded change");
    assert_eq!(doc.get_changes(&[]).len(), 1);
}

const CHILD_ENV: &str = "CARNET_INFLATION_BOMB_CHILD";

/// Shows what the guard prevents: automerge alone, fed the same 512 MiB bomb, in a child process
/// limited to 4 GiB of address space. Run with `cargo test --test limits_inflation_bomb --
/// --ignored --nocapture`.
#[test]
#[ignore = "allocates over 1 GiB in a child process"]
fn automerge_alone_inflates_the_bomb() {
    let exe = std::env::current_exe().expect("current exe");
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -v 4194304 && exec "$0" --ignored --exact --nocapture automerge_child_receives_the_bomb"#)
        .arg(&exe)
        .env(CHILD_ENV, "1")
        .output()
        .expect("spawn child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("child ({}):\n{stdout}", output.status);
    let growth_kib = stdout
        .lines()
        .find_map(|l| l.strip_prefix("automerge VmHWM growth kB: "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    match growth_kib {
        Some(kib) => assert!(kib > 512 * 1024, "automerge grew by only {kib} kB"),
        // Refused by the address-space limit: also proof that it tried to allocate that much.
        None => assert!(!output.status.success(), "child reported nothing"),
    }
}

#[test]
#[ignore = "run only by automerge_alone_inflates_the_bomb, in a memory-limited child"]
fn automerge_child_receives_the_bomb() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let bomb = build_bomb(512 * MIB);
    reset_peak();
    let (hwm_before, _) = memory();
    let started = Instant::now();
    let mut doc = AutoCommit::new();
    let outcome = Message::decode(&bomb.message)
        .map_err(|e| e.to_string())
        .and_then(|m| {
            doc.sync()
                .receive_sync_message(&mut State::new(), m)
                .map_err(|e| e.to_string())
        });
    let elapsed = started.elapsed();
    let (hwm_after, rss_after) = memory();
    println!(
        "automerge outcome {:?} in {elapsed:?}; changes stored {}; VmRSS after {} kB",
        outcome.is_ok(),
        doc.get_changes(&[]).len(),
        rss_after / 1024
    );
    println!(
        "automerge VmHWM growth kB: {}",
        hwm_after.saturating_sub(hwm_before) / 1024
    );
}
