//! A DEFLATE bomb: a small sync message that automerge 0.12 would inflate to `inflated_len`
//! bytes before checking anything (the construction of `shared/tests/limits_inflation_bomb.rs`).

use std::io::Write;

use automerge::sync::{Message, MessageFlags, MessageVersion};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ChangeHash, ROOT};
use flate2::Compression;
use flate2::write::DeflateEncoder;
use sha2::{Digest, Sha256};

const MAGIC_BYTES: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const CHUNK_CHANGE: u8 = 1;
const CHUNK_COMPRESSED: u8 = 2;
const MIB: usize = 1024 * 1024;

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

fn read_uleb(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// The encoded sync message: one compressed change chunk wrapping a valid change padded with
/// zeros up to `inflated_len` bytes.
pub fn deflate_bomb(inflated_len: usize) -> anyhow::Result<Vec<u8>> {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "tally", 1_i64)?;
    doc.commit();
    let change = doc
        .get_changes(&[])
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no change"))?;
    let raw = change.raw_bytes();
    anyhow::ensure!(raw.get(..4) == Some(&MAGIC_BYTES[..]) && raw.get(8) == Some(&CHUNK_CHANGE));
    let (len, len_bytes) = read_uleb(&raw[9..]).ok_or_else(|| anyhow::anyhow!("bad length"))?;
    let data = &raw[9 + len_bytes..];
    anyhow::ensure!(len as usize == data.len());

    let zeros = vec![0_u8; MIB];
    let mut hasher = Sha256::new();
    let mut prefix = vec![CHUNK_CHANGE];
    uleb(inflated_len as u64, &mut prefix);
    hasher.update(&prefix);
    hasher.update(data);
    let mut deflater = DeflateEncoder::new(Vec::new(), Compression::best());
    deflater.write_all(data)?;
    let mut left = inflated_len - data.len();
    while left > 0 {
        let block = &zeros[..left.min(MIB)];
        hasher.update(block);
        deflater.write_all(block)?;
        left -= block.len();
    }
    let hash: [u8; 32] = hasher.finalize().into();
    let deflated = deflater.finish()?;

    let mut chunk = MAGIC_BYTES.to_vec();
    chunk.extend_from_slice(&hash[..4]);
    chunk.push(CHUNK_COMPRESSED);
    uleb(deflated.len() as u64, &mut chunk);
    chunk.extend_from_slice(&deflated);
    Ok(Message {
        heads: vec![ChangeHash(hash)],
        need: Vec::new(),
        have: Vec::new(),
        changes: vec![chunk].into(),
        flags: Some(MessageFlags::new()),
        version: MessageVersion::V1,
    }
    .encode())
}
