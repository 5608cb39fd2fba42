//! Counting the rows (operations, changes) a column claims, without materialising them.
//!
//! Automerge's columns are run-length encoded: `count | value` repeats a value `count` times,
//! so a 95-byte change can announce millions of operations, each of which automerge then
//! builds in memory (about 370 bytes per list insertion on loading, measured). The byte
//! bound on inflation does not bound that; counting rows does.
//!
//! Encodings (column type = low 3 bits of the column spec):
//! * RLE (group, actor, integer, delta, string, value metadata): records of a signed LEB128
//!   count `c`: `c > 0` one value repeated `c` times, `c < 0` `-c` literal values, `c == 0` an
//!   unsigned count of nulls. Values are LEB128 (signed for delta) or length-prefixed strings.
//! * boolean: unsigned LEB128 run lengths, alternating false/true.
//! * value: raw bytes whose extent comes from the value metadata; no rows of its own.
//!
//! The counter is a byte-at-a-time state machine so that it can follow both plain column data
//! and the output of the bounded inflater, chunk by chunk.

use super::LimitError;

const COLUMN_TYPE_BOOLEAN: u64 = 4;
const COLUMN_TYPE_STRING: u64 = 5;
const COLUMN_TYPE_VALUE: u64 = 7;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// RLE of unsigned or signed LEB128 values: only their extent matters.
    RleLeb,
    /// RLE of length-prefixed strings.
    RleString,
    Boolean,
    /// Raw bytes (the value column): no rows.
    Raw,
}

#[derive(Clone, Copy)]
enum State {
    /// Expecting the signed count of the next RLE record.
    Count,
    /// Expecting `left` more values of the current record.
    Values { left: u64 },
    /// Skipping the bytes of a string, then `left` more values.
    StringBody { bytes: u64, left: u64 },
    /// Expecting the unsigned count of a null run.
    NullCount,
}

/// Incremental LEB128 reader; keeps only the low 64 bits, rejects runaway encodings.
#[derive(Clone, Copy, Default)]
struct Leb {
    value: u64,
    shift: u32,
}

/// A complete LEB128 number: `raw` read as unsigned, `negative` whether it is negative when
/// read as signed, and `magnitude` its absolute value when read as signed.
#[derive(Clone, Copy)]
struct Number {
    raw: u64,
    negative: bool,
    magnitude: u64,
}

impl Leb {
    fn push(&mut self, byte: u8) -> Result<Option<Number>, LimitError> {
        if self.shift >= 70 {
            return Err(LimitError::Malformed {
                what: "column LEB128",
            });
        }
        if self.shift < 64 {
            self.value |= u64::from(byte & 0x7f) << self.shift;
        }
        self.shift += 7;
        if byte & 0x80 != 0 {
            return Ok(None);
        }
        let (raw, shift) = (self.value, self.shift);
        *self = Self::default();
        let negative = byte & 0x40 != 0;
        let signed = if negative && shift < 64 {
            raw | (u64::MAX << shift)
        } else {
            raw
        };
        Ok(Some(Number {
            raw,
            negative,
            magnitude: if negative { signed.wrapping_neg() } else { raw },
        }))
    }
}

/// Counts the rows of one column, refusing as soon as they pass `budget`.
pub(super) struct RowCounter {
    encoding: Encoding,
    state: State,
    leb: Leb,
    rows: u64,
    budget: u64,
}

impl RowCounter {
    pub(super) fn new(spec: u64, budget: u64) -> Self {
        let encoding = match spec & 0b111 {
            COLUMN_TYPE_VALUE => Encoding::Raw,
            COLUMN_TYPE_BOOLEAN => Encoding::Boolean,
            COLUMN_TYPE_STRING => Encoding::RleString,
            // Group, actor, integer, delta and value metadata: RLE of LEB128 numbers (signed
            // for delta, which has the same extent).
            _ => Encoding::RleLeb,
        };
        Self {
            encoding,
            state: State::Count,
            leb: Leb::default(),
            rows: 0,
            budget,
        }
    }

    fn add_rows(&mut self, rows: u64) -> Result<(), LimitError> {
        self.rows = self.rows.saturating_add(rows);
        if self.rows > self.budget {
            return Err(LimitError::TooManyOps { limit: self.budget });
        }
        Ok(())
    }

    pub(super) fn feed(&mut self, mut bytes: &[u8]) -> Result<(), LimitError> {
        if self.encoding == Encoding::Raw {
            return Ok(());
        }
        while let Some((&byte, rest)) = bytes.split_first() {
            if let State::StringBody {
                bytes: left_bytes,
                left,
            } = self.state
            {
                // Skip string contents in bulk.
                let skip = usize::try_from(left_bytes)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                bytes = &bytes[skip..];
                let remaining = left_bytes - skip as u64;
                self.state = if remaining > 0 {
                    State::StringBody {
                        bytes: remaining,
                        left,
                    }
                } else {
                    self.after_value(left)
                };
                continue;
            }
            bytes = rest;
            let Some(number) = self.leb.push(byte)? else {
                continue;
            };
            match (self.encoding, self.state) {
                (Encoding::Boolean, _) => self.add_rows(number.raw)?,
                (_, State::Count) => {
                    if number.raw == 0 {
                        self.state = State::NullCount;
                    } else if number.negative {
                        self.add_rows(number.magnitude)?;
                        self.state = State::Values {
                            left: number.magnitude,
                        };
                    } else {
                        self.add_rows(number.raw)?;
                        self.state = State::Values { left: 1 };
                    }
                }
                (_, State::NullCount) => {
                    self.add_rows(number.raw)?;
                    self.state = State::Count;
                }
                (Encoding::RleString, State::Values { left }) => {
                    let len = number.raw;
                    self.state = if len > 0 {
                        State::StringBody { bytes: len, left }
                    } else {
                        self.after_value(left)
                    };
                }
                (_, State::Values { left }) => self.state = self.after_value(left),
                (_, State::StringBody { .. }) => {}
            }
        }
        Ok(())
    }

    fn after_value(&self, left: u64) -> State {
        if left <= 1 {
            State::Count
        } else {
            State::Values { left: left - 1 }
        }
    }

    /// The column must end on a record boundary, as automerge's decoders require.
    pub(super) fn finish(&self) -> Result<u64, LimitError> {
        let clean = self.leb.shift == 0
            && (self.encoding != Encoding::RleLeb && self.encoding != Encoding::RleString
                || matches!(self.state, State::Count));
        if !clean {
            return Err(LimitError::Malformed {
                what: "column ends inside a record",
            });
        }
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the bytes and wherever they are cut (as inflated output is), the counter
        /// never panics and reaches the same verdict.
        #[test]
        fn any_column_split_anywhere_counts_the_same(
            spec in 0u64..16,
            bytes in proptest::collection::vec(any::<u8>(), 0..256),
            cut in any::<prop::sample::Index>(),
            budget in prop_oneof![Just(u64::MAX), 0u64..10_000],
        ) {
            let whole = rows(spec, &bytes, budget);
            let cut = cut.index(bytes.len() + 1);
            let mut counter = RowCounter::new(spec, budget);
            let split = counter
                .feed(&bytes[..cut])
                .and_then(|()| counter.feed(&bytes[cut..]))
                .and_then(|()| counter.finish());
            prop_assert_eq!(split, whole);
        }
    }

    const INTEGER: u64 = 2;
    const DELTA: u64 = 3;

    fn rows(spec: u64, bytes: &[u8], budget: u64) -> Result<u64, LimitError> {
        let mut counter = RowCounter::new(spec, budget);
        counter.feed(bytes)?;
        counter.finish()
    }

    #[test]
    fn counts_runs_literals_and_nulls() {
        // run of 3 × 5, then 2 literals (-2 = 0x7e) 1 and 2, then 4 nulls.
        assert_eq!(rows(INTEGER, &[3, 5, 0x7e, 1, 2, 0, 4], u64::MAX), Ok(9));
        // Delta: a run of 1000 (0xe8 0x07) × +1.
        assert_eq!(rows(DELTA, &[0xe8, 0x07, 1], u64::MAX), Ok(1_000));
        // Strings: run of 2 × "ab", then one literal "c".
        assert_eq!(
            rows(
                COLUMN_TYPE_STRING,
                &[2, 2, b'a', b'b', 0x7f, 1, b'c'],
                u64::MAX
            ),
            Ok(3)
        );
        // Booleans: 3 false, 2 true.
        assert_eq!(rows(COLUMN_TYPE_BOOLEAN, &[3, 2], u64::MAX), Ok(5));
        assert_eq!(rows(COLUMN_TYPE_VALUE, &[1, 2, 3], u64::MAX), Ok(0));
    }

    #[test]
    fn split_feeding_counts_the_same() {
        let bytes = [0xe8, 0x07, 1, 0x7e, 0x81, 0x01, 0x05, 0, 0x90, 0x4e];
        let whole = rows(DELTA, &bytes, u64::MAX);
        for split in 0..bytes.len() {
            let mut counter = RowCounter::new(DELTA, u64::MAX);
            assert!(counter.feed(&bytes[..split]).is_ok());
            assert!(counter.feed(&bytes[split..]).is_ok());
            assert_eq!(counter.finish(), whole);
        }
    }

    #[test]
    fn a_run_of_a_billion_in_four_bytes_is_refused() {
        // 1_000_000_000 as LEB128, then the repeated value.
        let bomb = [0x80, 0x94, 0xeb, 0xdc, 0x03, 0];
        assert_eq!(
            rows(INTEGER, &bomb, 250_000),
            Err(LimitError::TooManyOps { limit: 250_000 })
        );
    }

    #[test]
    fn columns_ending_mid_record_are_malformed() {
        assert!(rows(INTEGER, &[3], u64::MAX).is_err());
        assert!(rows(INTEGER, &[0x80], u64::MAX).is_err());
        assert!(rows(COLUMN_TYPE_STRING, &[1, 5, b'a'], u64::MAX).is_err());
    }
}
