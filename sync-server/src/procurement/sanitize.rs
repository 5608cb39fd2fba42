//! A reader that repairs the byte-level defects seen in published DECP JSON before
//! serde_json sees them, so one stray byte does not cost a whole 2 GB file: a UTF-8
//! BOM, bare `NaN`/`Infinity` tokens (Python's `json.dump` writes them) and raw
//! control characters inside strings (invalid JSON, found in `objet` fields).

use std::io::{self, Read};

/// Counts of the repairs made, reported with the import summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Repairs {
    pub bom: bool,
    pub non_finite_numbers: u64,
    pub control_characters: u64,
}

pub struct SanitizingReader<R> {
    inner: R,
    input: Vec<u8>,
    output: Vec<u8>,
    out_pos: usize,
    started: bool,
    in_string: bool,
    escaped: bool,
    /// Letters of a bare token (true/false/null/NaN/Infinity) split across reads.
    word: Vec<u8>,
    /// A `-` outside strings is held back until we know it does not precede `Infinity`/`NaN`.
    pending_minus: bool,
    eof: bool,
    pub repairs: Repairs,
}

impl<R: Read> SanitizingReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            input: vec![0; 64 * 1024],
            output: Vec::with_capacity(64 * 1024),
            out_pos: 0,
            started: false,
            in_string: false,
            escaped: false,
            word: Vec::new(),
            pending_minus: false,
            eof: false,
            repairs: Repairs::default(),
        }
    }

    pub fn repairs(&self) -> Repairs {
        self.repairs
    }

    fn flush_word(&mut self) {
        if self.word.is_empty() {
            if self.pending_minus {
                self.output.push(b'-');
                self.pending_minus = false;
            }
            return;
        }
        let non_finite = matches!(self.word.as_slice(), b"NaN" | b"Infinity" | b"nan" | b"inf");
        if non_finite {
            self.repairs.non_finite_numbers += 1;
            self.output.extend_from_slice(b"null");
        } else {
            if self.pending_minus {
                self.output.push(b'-');
            }
            self.output.extend_from_slice(&self.word);
        }
        self.pending_minus = false;
        self.word.clear();
    }

    fn transform(&mut self, n: usize) {
        let mut start = 0;
        if !self.started {
            self.started = true;
            if self.input[..n].starts_with(&[0xEF, 0xBB, 0xBF]) {
                self.repairs.bom = true;
                start = 3;
            }
        }
        for i in start..n {
            let b = self.input[i];
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    self.output.push(b);
                } else if b == b'\\' {
                    self.escaped = true;
                    self.output.push(b);
                } else if b == b'"' {
                    self.in_string = false;
                    self.output.push(b);
                } else if b < 0x20 {
                    self.repairs.control_characters += 1;
                    self.output.push(b' ');
                } else {
                    self.output.push(b);
                }
                continue;
            }
            if b.is_ascii_alphabetic() {
                self.word.push(b);
                continue;
            }
            if b == b'-' && self.word.is_empty() {
                self.flush_word();
                self.pending_minus = true;
                continue;
            }
            // Digits after '-' or after letters (e.g. `1e5` is handled by serde): flush.
            self.flush_word();
            if b == b'"' {
                self.in_string = true;
            }
            self.output.push(b);
        }
    }
}

impl<R: Read> Read for SanitizingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos >= self.output.len() {
            if self.eof {
                return Ok(0);
            }
            self.output.clear();
            self.out_pos = 0;
            let n = self.inner.read(&mut self.input)?;
            if n == 0 {
                self.eof = true;
                self.flush_word();
            } else {
                self.transform(n);
            }
        }
        let available = &self.output[self.out_pos..];
        let len = available.len().min(buf.len());
        buf[..len].copy_from_slice(&available[..len]);
        self.out_pos += len;
        Ok(len)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn clean(input: &[u8]) -> (String, Repairs) {
        let mut r = SanitizingReader::new(input);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        (s, r.repairs())
    }

    #[test]
    fn bom_nan_and_control_characters_are_repaired() {
        let (s, rep) = clean(b"\xEF\xBB\xBF{\"a\": NaN, \"b\": -Infinity, \"c\": \"x\x0by\", \"d\": -1.5e3, \"e\": true}");
        assert_eq!(
            s,
            "{\"a\": null, \"b\": null, \"c\": \"x y\", \"d\": -1.5e3, \"e\": true}"
        );
        assert!(rep.bom);
        assert_eq!(rep.non_finite_numbers, 2);
        assert_eq!(rep.control_characters, 1);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert!(v["a"].is_null());
    }

    #[test]
    fn nan_inside_strings_is_left_alone() {
        let (s, _) = clean(b"{\"a\": \"NaN \\\" NaN\"}");
        assert_eq!(s, "{\"a\": \"NaN \\\" NaN\"}");
    }
}
