//! Document identifiers and `automerge:` URLs, as automerge-repo spells them:
//! 16 random bytes, written in base58check (bs58 with a 4-byte double-SHA-256 checksum).

use std::fmt;
use std::str::FromStr;

/// The prefix of an automerge-repo document URL.
pub const URL_PREFIX: &str = "automerge:";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("not a base58check document id")]
    NotBase58Check,
    #[error("a document id has 16 bytes, this one has {0}")]
    WrongLength(usize),
    #[error("an automerge URL starts with `automerge:`")]
    NotAnAutomergeUrl,
}

/// A document id: 16 bytes. Random generation is the caller's job (pass the bytes in).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId([u8; 16]);

impl DocumentId {
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Parses the raw binary form (as carried in storage keys).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, IdError> {
        let arr: [u8; 16] = bytes
            .try_into()
            .map_err(|_| IdError::WrongLength(bytes.len()))?;
        Ok(Self(arr))
    }

    /// The base58check form used on the wire (`documentId` fields).
    pub fn to_bs58check(&self) -> String {
        bs58::encode(self.0).with_check().into_string()
    }

    pub fn url(&self) -> String {
        format!("{URL_PREFIX}{}", self.to_bs58check())
    }

    /// Parses either a bare base58check id or an `automerge:` URL.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let body = s.strip_prefix(URL_PREFIX).unwrap_or(s);
        // automerge-repo URLs may carry `#heads`: the id is what precedes it.
        let body = body.split('#').next().unwrap_or(body);
        let bytes = bs58::decode(body)
            .with_check(None)
            .into_vec()
            .map_err(|_| IdError::NotBase58Check)?;
        Self::from_slice(&bytes)
    }

    /// Parses an `automerge:` URL and nothing else.
    pub fn parse_url(s: &str) -> Result<Self, IdError> {
        if !s.starts_with(URL_PREFIX) {
            return Err(IdError::NotAnAutomergeUrl);
        }
        Self::parse(s)
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_bs58check())
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({})", self.to_bs58check())
    }
}

impl FromStr for DocumentId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for DocumentId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_bs58check())
    }
}

impl<'de> serde::Deserialize<'de> for DocumentId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_url_and_bare_form() {
        let id = DocumentId::from_bytes([7; 16]);
        assert_eq!(DocumentId::parse(&id.url()).unwrap(), id);
        assert_eq!(DocumentId::parse(&id.to_bs58check()).unwrap(), id);
        assert_eq!(DocumentId::parse_url(&id.url()).unwrap(), id);
    }

    #[test]
    fn rejects_a_corrupted_checksum() {
        let mut s = DocumentId::from_bytes([1; 16]).to_bs58check();
        let last = s.pop().unwrap();
        s.push(if last == '2' { '3' } else { '2' });
        assert_eq!(DocumentId::parse(&s), Err(IdError::NotBase58Check));
    }

    #[test]
    fn rejects_wrong_length_and_missing_prefix() {
        let short = bs58::encode([1u8; 8]).with_check().into_string();
        assert_eq!(DocumentId::parse(&short), Err(IdError::WrongLength(8)));
        let id = DocumentId::from_bytes([2; 16]);
        assert_eq!(
            DocumentId::parse_url(&id.to_bs58check()),
            Err(IdError::NotAnAutomergeUrl)
        );
    }
}
