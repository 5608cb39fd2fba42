//! A forward-only cursor over untrusted bytes with automerge's LEB128 rules.
//!
//! Every read is checked against the remaining input, so no length read from the wire is ever
//! used to allocate or index before it has been compared with what is actually there.

use super::LimitError;

/// Size of a change hash on the wire.
pub(super) const HASH_LEN: usize = 32;

#[derive(Clone, Copy)]
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(super) fn remaining(&self) -> usize {
        self.bytes.len()
    }

    pub(super) fn u8(&mut self, what: &'static str) -> Result<u8, LimitError> {
        let (&first, rest) = self
            .bytes
            .split_first()
            .ok_or(LimitError::Malformed { what })?;
        self.bytes = rest;
        Ok(first)
    }

    pub(super) fn take(&mut self, len: u64, what: &'static str) -> Result<&'a [u8], LimitError> {
        let len = usize::try_from(len).map_err(|_| LimitError::Malformed { what })?;
        if len > self.bytes.len() {
            return Err(LimitError::Malformed { what });
        }
        let (taken, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(taken)
    }

    /// Unsigned LEB128, rejecting overlong and oversized encodings exactly like automerge's
    /// `leb128_u64`, so that we never accept a length automerge would read differently.
    pub(super) fn uleb(&mut self, what: &'static str) -> Result<u64, LimitError> {
        let mut value: u64 = 0;
        let mut shift: u32 = 0;
        loop {
            let byte = self.u8(what)?;
            if shift < 64 {
                value |= u64::from(byte & 0x7f) << shift;
            }
            shift += 7;
            if byte & 0x80 == 0 {
                if (shift > 64 && byte > 1) || (shift > 7 && byte == 0) {
                    return Err(LimitError::Malformed { what });
                }
                return Ok(value);
            } else if shift > 64 {
                return Err(LimitError::Malformed { what });
            }
        }
    }

    /// Skips a signed LEB128 (timestamps); only its extent matters here.
    pub(super) fn skip_sleb(&mut self, what: &'static str) -> Result<(), LimitError> {
        for _ in 0..10 {
            if self.u8(what)? & 0x80 == 0 {
                return Ok(());
            }
        }
        Err(LimitError::Malformed { what })
    }

    /// A LEB128 count followed by that many bytes.
    pub(super) fn length_prefixed(&mut self, what: &'static str) -> Result<&'a [u8], LimitError> {
        let len = self.uleb(what)?;
        self.take(len, what)
    }

    /// A LEB128 count followed by that many 32-byte hashes; returns the count.
    ///
    /// The count is compared with `max` and with the input left before anything is skipped.
    pub(super) fn hash_list(
        &mut self,
        max: usize,
        what: &'static str,
    ) -> Result<usize, LimitError> {
        let count = self.uleb(what)?;
        if count > max as u64 {
            return Err(LimitError::TooManyHashes { count, limit: max });
        }
        let bytes = count
            .checked_mul(HASH_LEN as u64)
            .ok_or(LimitError::Malformed { what })?;
        self.take(bytes, what)?;
        // `count <= max`, which is a usize.
        Ok(count as usize)
    }

    /// A LEB128 count followed by that many length-prefixed actor ids.
    pub(super) fn skip_actor_list(&mut self, what: &'static str) -> Result<(), LimitError> {
        let count = self.uleb(what)?;
        // Each actor takes at least its one-byte length, which bounds the loop by the input.
        if count > self.remaining() as u64 {
            return Err(LimitError::Malformed { what });
        }
        for _ in 0..count {
            self.length_prefixed(what)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uleb(bytes: &[u8]) -> Result<u64, LimitError> {
        Reader::new(bytes).uleb("test")
    }

    #[test]
    fn uleb_reads_like_automerge() {
        assert_eq!(uleb(&[0x01]), Ok(1));
        assert_eq!(uleb(&[0x81, 0x01]), Ok(129));
        assert_eq!(
            uleb(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Ok(u64::MAX)
        );
    }

    #[test]
    fn uleb_rejects_overlong_oversized_and_truncated() {
        assert!(uleb(&[0x80, 0x00]).is_err());
        assert!(uleb(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).is_err());
        assert!(uleb(&[0x80; 11]).is_err());
        assert!(uleb(&[0x80]).is_err());
        assert!(uleb(&[]).is_err());
    }

    #[test]
    fn take_never_reads_past_the_end() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert!(r.take(4, "t").is_err());
        assert!(r.take(u64::MAX, "t").is_err());
        assert_eq!(r.take(3, "t"), Ok(&[1u8, 2, 3][..]));
    }
}
