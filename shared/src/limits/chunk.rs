//! Automerge storage chunks inside a sync message, measured without materialising them.
//!
//! automerge 0.12 passes the concatenated change entries of a sync message to
//! `load_incremental`, which reads them as a sequence of chunks:
//!
//! `magic (85 6f 4a 83) | checksum (4) | type (1) | LEB128 length | data`
//!
//! * type 1, change: columns must be uncompressed (automerge refuses compressed change
//!   columns before inflating anything), so its size is its size.
//! * type 2, compressed change: the whole data is raw DEFLATE; automerge inflates it with
//!   `read_to_end` into one `Vec`, then copies it once more, with no bound.
//! * type 0, document (the V2 "whole document" message) and type 3, bundle: column metadata
//!   says which columns are DEFLATE-compressed (bit 3 of the column spec); automerge inflates
//!   each of them, again without a bound.
//!
//! We inflate into a fixed scratch buffer and only count, stopping as soon as the budget of the
//! whole message is spent.

use flate2::{Decompress, FlushDecompress, Status};

use super::LimitError;
use super::reader::Reader;
use super::rows::RowCounter;

const MAGIC_BYTES: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const CHUNK_DOCUMENT: u8 = 0;
const CHUNK_CHANGE: u8 = 1;
const CHUNK_COMPRESSED: u8 = 2;
const CHUNK_BUNDLE: u8 = 3;
/// Bit of a column specification marking DEFLATE-compressed column data.
const COLUMN_DEFLATE: u64 = 0b1000;
/// Inflated bytes are written here and immediately forgotten: only their count matters.
const SCRATCH_LEN: usize = 32 * 1024;
/// Magic bytes, checksum and chunk type.
const CHUNK_HEADER_FIXED: u64 = 9;

fn uleb_len(value: u64) -> u64 {
    u64::from((64 - (value | 1).leading_zeros()).div_ceil(7))
}

/// Running totals for one sync message, shared by all of its chunks.
pub(super) struct ChunkTally {
    pub(super) chunks: usize,
    pub(super) documents: usize,
    pub(super) compressed_bytes: u64,
    pub(super) inflated_bytes: u64,
    /// Rows announced by the columns: operations, plus changes inside documents and bundles.
    pub(super) ops: u64,
    max_inflated_bytes: u64,
    max_ops: u64,
    max_chunks: usize,
    inflater: Inflater,
}

impl ChunkTally {
    /// `max_chunks` also caps changes packed together in one entry (automerge's V2 messages
    /// concatenate all changes into a single entry).
    pub(super) fn new(max_inflated_bytes: u64, max_chunks: usize, max_ops: u64) -> Self {
        Self {
            max_chunks,
            ops: 0,
            max_ops,
            chunks: 0,
            documents: 0,
            compressed_bytes: 0,
            inflated_bytes: 0,
            max_inflated_bytes,
            inflater: Inflater::new(),
        }
    }

    /// Walks one change entry of the message, which must hold one or more whole chunks.
    pub(super) fn entry(&mut self, entry: &[u8]) -> Result<(), LimitError> {
        let mut r = Reader::new(entry);
        if r.is_empty() {
            return Err(LimitError::Malformed {
                what: "empty change entry",
            });
        }
        while !r.is_empty() {
            self.chunk(&mut r)?;
        }
        Ok(())
    }

    fn chunk(&mut self, r: &mut Reader<'_>) -> Result<(), LimitError> {
        let before = r.remaining();
        let magic = r.take(4, "chunk magic bytes")?;
        if magic != MAGIC_BYTES {
            return Err(LimitError::Malformed {
                what: "chunk magic bytes",
            });
        }
        r.take(4, "chunk checksum")?;
        let chunk_type = r.u8("chunk type")?;
        let data = r.length_prefixed("chunk length")?;
        let header_len = (before - r.remaining() - data.len()) as u64;
        self.chunks += 1;
        if self.chunks > self.max_chunks {
            return Err(LimitError::TooManyChanges {
                count: self.chunks as u64,
                limit: self.max_chunks,
            });
        }
        match chunk_type {
            CHUNK_CHANGE => {
                self.count(header_len + data.len() as u64)?;
                self.change_ops(data)
            }
            CHUNK_COMPRESSED => {
                self.compressed_bytes += data.len() as u64;
                // First pass: size only, in constant memory; the bomb stops here.
                let inflated = self.inflate(data, &mut |_| Ok(()))?;
                // automerge rebuilds the change chunk header around the inflated data.
                self.count(CHUNK_HEADER_FIXED + uleb_len(inflated))?;
                // Second pass, now that the size is known to be within the budget: the change
                // inside is needed whole to find its op columns.
                self.change_ops(&inflate_within(data, inflated)?)
            }
            CHUNK_DOCUMENT => {
                self.documents += 1;
                self.count(header_len)?;
                self.columnar(data, ColumnarLayout::Document)
            }
            CHUNK_BUNDLE => {
                self.count(header_len)?;
                self.columnar(data, ColumnarLayout::Bundle)
            }
            _ => Err(LimitError::Malformed { what: "chunk type" }),
        }
    }

    /// Adds bytes that reach automerge as they are.
    fn count(&mut self, bytes: u64) -> Result<(), LimitError> {
        self.inflated_bytes = self.inflated_bytes.saturating_add(bytes);
        if self.inflated_bytes > self.max_inflated_bytes {
            return Err(LimitError::InflatesTooMuch {
                limit: self.max_inflated_bytes,
            });
        }
        Ok(())
    }

    fn add_ops(&mut self, rows: u64) -> Result<(), LimitError> {
        self.ops = self.ops.saturating_add(rows);
        if self.ops > self.max_ops {
            return Err(LimitError::TooManyOps {
                limit: self.max_ops,
            });
        }
        Ok(())
    }

    fn ops_budget(&self) -> u64 {
        self.max_ops.saturating_sub(self.ops)
    }

    /// The operations of a change chunk's data (automerge's `parse_following_header`).
    fn change_ops(&mut self, data: &[u8]) -> Result<(), LimitError> {
        let mut r = Reader::new(data);
        r.hash_list(usize::MAX, "change dependencies")?;
        r.length_prefixed("change actor")?;
        r.uleb("change seq")?;
        r.uleb("change start op")?;
        r.skip_sleb("change timestamp")?;
        r.length_prefixed("change message")?;
        r.skip_actor_list("change actors")?;
        let columns = column_metadata(&mut r)?;
        if columns.iter().any(|c| c.deflate) {
            // automerge refuses these too, before inflating.
            return Err(LimitError::Malformed {
                what: "compressed columns in a change",
            });
        }
        let rows = self.group_rows(&mut r, &columns, false)?;
        self.add_ops(rows)
    }

    /// Inflates within what is left of the budget, counts and returns the inflated length,
    /// passing the inflated bytes through `sink` as they come.
    fn inflate(
        &mut self,
        deflated: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), LimitError>,
    ) -> Result<u64, LimitError> {
        let budget = self.max_inflated_bytes.saturating_sub(self.inflated_bytes);
        match self.inflater.measure(deflated, budget, sink)? {
            Some(inflated) => self.count(inflated).map(|()| inflated),
            None => Err(LimitError::InflatesTooMuch {
                limit: self.max_inflated_bytes,
            }),
        }
    }

    /// Documents and bundles: walk the prefix to the column metadata, then the column data.
    fn columnar(&mut self, data: &[u8], layout: ColumnarLayout) -> Result<(), LimitError> {
        let mut r = Reader::new(data);
        let before = r.remaining();
        match layout {
            ColumnarLayout::Document => {
                r.skip_actor_list("document actors")?;
                r.hash_list(usize::MAX, "document heads")?;
                let change_columns = column_metadata(&mut r)?;
                let op_columns = column_metadata(&mut r)?;
                self.count((before - r.remaining()) as u64)?;
                let changes = self.group_rows(&mut r, &change_columns, true)?;
                self.add_ops(changes)?;
                let ops = self.group_rows(&mut r, &op_columns, true)?;
                self.add_ops(ops)?;
            }
            ColumnarLayout::Bundle => {
                r.hash_list(usize::MAX, "bundle dependencies")?;
                r.skip_actor_list("bundle actors")?;
                let change_columns = column_metadata(&mut r)?;
                self.count((before - r.remaining()) as u64)?;
                let changes = self.group_rows(&mut r, &change_columns, true)?;
                self.add_ops(changes)?;
                let before_ops = r.remaining();
                let op_columns = column_metadata(&mut r)?;
                self.count((before_ops - r.remaining()) as u64)?;
                let ops = self.group_rows(&mut r, &op_columns, true)?;
                self.add_ops(ops)?;
            }
        }
        // Whatever follows (a document's head indices) is passed through as is.
        self.count(r.remaining() as u64)
    }

    /// Reads the data of a group of columns (all describing the same rows), counting bytes and,
    /// for documents and bundles, inflating compressed ones; returns the group's row count,
    /// the largest any of its columns announces.
    fn group_rows(
        &mut self,
        r: &mut Reader<'_>,
        columns: &[Column],
        count_bytes: bool,
    ) -> Result<u64, LimitError> {
        let mut rows = 0;
        for column in columns {
            let bytes = r.take(column.len, "column data")?;
            let mut counter = RowCounter::new(column.spec, self.ops_budget());
            if column.deflate {
                self.compressed_bytes += bytes.len() as u64;
                self.inflate(bytes, &mut |inflated| counter.feed(inflated))?;
            } else {
                if count_bytes {
                    self.count(bytes.len() as u64)?;
                }
                counter.feed(bytes)?;
            }
            rows = rows.max(counter.finish()?);
        }
        Ok(rows)
    }
}

#[derive(Clone, Copy)]
enum ColumnarLayout {
    Document,
    Bundle,
}

struct Column {
    spec: u64,
    deflate: bool,
    len: u64,
}

/// `count | (spec, length)*`; the data of all columns follows later, in order.
fn column_metadata(r: &mut Reader<'_>) -> Result<Vec<Column>, LimitError> {
    let what = "column metadata";
    let count = r.uleb(what)?;
    // Each column takes at least two bytes of metadata, which bounds the allocation by the input.
    if count > (r.remaining() / 2) as u64 {
        return Err(LimitError::Malformed { what });
    }
    let mut columns = Vec::new();
    for _ in 0..count {
        let spec = r.uleb(what)?;
        if spec > u64::from(u32::MAX) {
            return Err(LimitError::Malformed { what });
        }
        let len = r.uleb(what)?;
        columns.push(Column {
            spec,
            deflate: spec & COLUMN_DEFLATE != 0,
            len,
        });
    }
    Ok(columns)
}

/// Inflates a stream already measured at `len` bytes, reading at most that much.
fn inflate_within(deflated: &[u8], len: u64) -> Result<Vec<u8>, LimitError> {
    use std::io::Read;
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    flate2::read::DeflateDecoder::new(deflated)
        .take(len)
        .read_to_end(&mut out)
        .map_err(|_| LimitError::Malformed {
            what: "DEFLATE stream",
        })?;
    Ok(out)
}

/// A raw-DEFLATE inflater (what `flate2::bufread::DeflateDecoder` reads) writing into a fixed
/// scratch buffer, so memory stays constant whatever the stream expands to.
struct Inflater {
    state: Decompress,
    scratch: Box<[u8]>,
}

impl Inflater {
    fn new() -> Self {
        Self {
            state: Decompress::new(false),
            scratch: vec![0; SCRATCH_LEN].into_boxed_slice(),
        }
    }

    /// Inflated length of `deflated`, or `None` as soon as it passes `budget`.
    ///
    /// Work is bounded too: each round either consumes input or produces output, and output
    /// stops at `budget`.
    fn measure(
        &mut self,
        deflated: &[u8],
        budget: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), LimitError>,
    ) -> Result<Option<u64>, LimitError> {
        self.state.reset(false);
        loop {
            let consumed = usize::try_from(self.state.total_in()).unwrap_or(usize::MAX);
            let input = deflated.get(consumed..).unwrap_or_default();
            let (in_before, out_before) = (self.state.total_in(), self.state.total_out());
            let status = self
                .state
                .decompress(input, &mut self.scratch, FlushDecompress::None)
                .map_err(|_| LimitError::Malformed {
                    what: "DEFLATE stream",
                })?;
            let produced = self.state.total_out();
            if produced > budget {
                return Ok(None);
            }
            let fresh = usize::try_from(produced - out_before).unwrap_or(usize::MAX);
            sink(self.scratch.get(..fresh).unwrap_or_default())?;
            if status == Status::StreamEnd {
                return Ok(Some(produced));
            }
            if self.state.total_in() == in_before && produced == out_before {
                // No progress with input left or not: a truncated or stuck stream.
                return Err(LimitError::Malformed {
                    what: "truncated DEFLATE stream",
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::DeflateEncoder;
    use std::io::Write;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::best());
        let written = encoder.write_all(data);
        assert!(written.is_ok());
        encoder.finish().unwrap_or_default()
    }

    #[test]
    fn inflater_measures_exact_length() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut inflater = Inflater::new();
        assert_eq!(
            inflater.measure(&deflate(&data), u64::MAX, &mut |_| Ok(())),
            Ok(Some(data.len() as u64))
        );
        assert_eq!(
            inflater.measure(&deflate(&[]), 0, &mut |_| Ok(())),
            Ok(Some(0))
        );
    }

    #[test]
    fn inflater_stops_at_budget() {
        let zeros = vec![0u8; 4 * 1024 * 1024];
        let mut inflater = Inflater::new();
        assert_eq!(
            inflater.measure(&deflate(&zeros), 1024 * 1024, &mut |_| Ok(())),
            Ok(None)
        );
    }

    #[test]
    fn inflater_rejects_truncated_and_garbage_streams() {
        let stream = deflate(&[7u8; 10_000]);
        let mut inflater = Inflater::new();
        assert!(
            inflater
                .measure(&stream[..stream.len() / 2], u64::MAX, &mut |_| Ok(()))
                .is_err()
        );
        assert!(
            inflater
                .measure(&[0xff; 64], u64::MAX, &mut |_| Ok(()))
                .is_err()
        );
        assert!(inflater.measure(&[], u64::MAX, &mut |_| Ok(())).is_err());
    }
}
