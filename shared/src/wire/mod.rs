//! automerge-repo's WebSocket protocol, version "1": the CBOR frames exchanged by
//! `@automerge/automerge-repo-network-websocket` 2.x (checked against 2.5.6).
//!
//! The JS side encodes with cbor-x (`useRecords: false`, `tagUint8Array: false`), so a frame is a
//! plain CBOR map with text keys, and `data` is a CBOR byte string. Decoding is tolerant the way
//! the JS library is: unknown fields are ignored, `peerMetadata` may be absent or `undefined`,
//! `supportedProtocolVersions` may be absent (the JS server then assumes "1"). Anything else that
//! does not fit is a typed [`WireError`] that never carries frame content (peer ids, document ids
//! and payloads stay out of errors and logs).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::DocumentId;

#[cfg(test)]
mod tests;

/// The only protocol version automerge-repo 2.x speaks.
pub const PROTOCOL_V1: &str = "1";

/// A peer id as automerge-repo spells it: any string, self-asserted by the peer.
pub type PeerId = String;
/// A storage id (automerge-repo `StorageId`): names a peer's durable storage.
pub type StorageId = String;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("frame is not valid CBOR")]
    NotCbor,
    #[error("frame is not a CBOR map with a text `type` field")]
    NoType,
    #[error("unknown frame type")]
    UnknownType,
    #[error("`{0}` frame has missing or ill-typed fields")]
    BadFields(&'static str),
    #[error("frame could not be encoded")]
    Encode,
}

/// What a peer says about itself (`PeerMetadata` in automerge-repo).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PeerMetadata {
    #[serde(rename = "storageId", default, skip_serializing_if = "Option::is_none")]
    pub storage_id: Option<StorageId>,
    #[serde(
        rename = "isEphemeral",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub is_ephemeral: Option<bool>,
}

/// Client -> server, first frame of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Join {
    #[serde(rename = "senderId")]
    pub sender_id: PeerId,
    #[serde(rename = "peerMetadata", default, deserialize_with = "de_metadata")]
    pub peer_metadata: PeerMetadata,
    /// `None` when the field is absent: the JS server then selects "1".
    #[serde(
        rename = "supportedProtocolVersions",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub supported_protocol_versions: Option<Vec<String>>,
}

/// Server -> client answer to `join`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    #[serde(rename = "senderId")]
    pub sender_id: PeerId,
    #[serde(rename = "peerMetadata", default, deserialize_with = "de_metadata")]
    pub peer_metadata: PeerMetadata,
    #[serde(rename = "selectedProtocolVersion")]
    pub selected_protocol_version: String,
    #[serde(rename = "targetId")]
    pub target_id: PeerId,
}

/// The sender closes the connection after this frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFrame {
    #[serde(rename = "senderId", default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<PeerId>,
    pub message: String,
    #[serde(rename = "targetId", default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<PeerId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leave {
    #[serde(rename = "senderId")]
    pub sender_id: PeerId,
}

/// The body of `request` and `sync`: one encoded `automerge::sync::Message` for one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncFrame {
    #[serde(rename = "senderId")]
    pub sender_id: PeerId,
    #[serde(rename = "targetId")]
    pub target_id: PeerId,
    #[serde(rename = "documentId")]
    pub document_id: DocumentId,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocUnavailable {
    #[serde(rename = "senderId")]
    pub sender_id: PeerId,
    #[serde(rename = "targetId")]
    pub target_id: PeerId,
    #[serde(rename = "documentId")]
    pub document_id: DocumentId,
}

/// Presence-style data attached to a document; `data` is itself CBOR, opaque to us.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ephemeral {
    #[serde(rename = "senderId")]
    pub sender_id: PeerId,
    #[serde(rename = "targetId")]
    pub target_id: PeerId,
    pub count: u64,
    #[serde(rename = "sessionId")]
    pub session_id: String,
    #[serde(rename = "documentId")]
    pub document_id: DocumentId,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteSubscriptionChange {
    #[serde(rename = "senderId")]
    pub sender_id: PeerId,
    #[serde(rename = "targetId")]
    pub target_id: PeerId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add: Option<Vec<StorageId>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove: Option<Vec<StorageId>>,
}

/// Heads of a document as held by one storage, as gossiped by automerge-repo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteHeads {
    /// Hex change hashes.
    pub heads: Vec<String>,
    /// Milliseconds since the Unix epoch. cbor-x writes values above 2^32 as float64, so
    /// decoding accepts integers and floats.
    #[serde(deserialize_with = "de_millis")]
    pub timestamp: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteHeadsChanged {
    #[serde(rename = "senderId")]
    pub sender_id: PeerId,
    #[serde(rename = "targetId")]
    pub target_id: PeerId,
    #[serde(rename = "documentId")]
    pub document_id: DocumentId,
    #[serde(rename = "newHeads")]
    pub new_heads: BTreeMap<StorageId, RemoteHeads>,
}

/// One WebSocket binary message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Join(Join),
    Peer(Peer),
    Error(ErrorFrame),
    Leave(Leave),
    /// A sync message from a peer that does not have the document yet and asks for it.
    Request(SyncFrame),
    Sync(SyncFrame),
    DocUnavailable(DocUnavailable),
    Ephemeral(Ephemeral),
    RemoteSubscriptionChange(RemoteSubscriptionChange),
    RemoteHeadsChanged(RemoteHeadsChanged),
}

impl Frame {
    /// The `type` field of this frame.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Join(_) => "join",
            Self::Peer(_) => "peer",
            Self::Error(_) => "error",
            Self::Leave(_) => "leave",
            Self::Request(_) => "request",
            Self::Sync(_) => "sync",
            Self::DocUnavailable(_) => "doc-unavailable",
            Self::Ephemeral(_) => "ephemeral",
            Self::RemoteSubscriptionChange(_) => "remote-subscription-change",
            Self::RemoteHeadsChanged(_) => "remote-heads-changed",
        }
    }

    pub fn sender_id(&self) -> Option<&str> {
        match self {
            Self::Join(f) => Some(&f.sender_id),
            Self::Peer(f) => Some(&f.sender_id),
            Self::Error(f) => f.sender_id.as_deref(),
            Self::Leave(f) => Some(&f.sender_id),
            Self::Request(f) | Self::Sync(f) => Some(&f.sender_id),
            Self::DocUnavailable(f) => Some(&f.sender_id),
            Self::Ephemeral(f) => Some(&f.sender_id),
            Self::RemoteSubscriptionChange(f) => Some(&f.sender_id),
            Self::RemoteHeadsChanged(f) => Some(&f.sender_id),
        }
    }

    /// The document a frame is about, if any.
    pub fn document_id(&self) -> Option<DocumentId> {
        match self {
            Self::Request(f) | Self::Sync(f) => Some(f.document_id),
            Self::DocUnavailable(f) => Some(f.document_id),
            Self::Ephemeral(f) => Some(f.document_id),
            Self::RemoteHeadsChanged(f) => Some(f.document_id),
            _ => None,
        }
    }

    /// Decodes one binary WebSocket message. Never panics; the caller caps the frame size
    /// before calling this.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let value: ciborium::Value =
            ciborium::from_reader(bytes).map_err(|_| WireError::NotCbor)?;
        let ty = value
            .as_map()
            .and_then(|entries| {
                entries
                    .iter()
                    .find(|(k, _)| k.as_text() == Some("type"))
                    .and_then(|(_, v)| v.as_text())
            })
            .ok_or(WireError::NoType)?
            .to_owned();
        fn fields<T: serde::de::DeserializeOwned>(
            value: &ciborium::Value,
            name: &'static str,
        ) -> Result<T, WireError> {
            value.deserialized().map_err(|_| WireError::BadFields(name))
        }
        Ok(match ty.as_str() {
            "join" => Self::Join(fields(&value, "join")?),
            "peer" => Self::Peer(fields(&value, "peer")?),
            "error" => Self::Error(fields(&value, "error")?),
            "leave" => Self::Leave(fields(&value, "leave")?),
            "request" => Self::Request(fields(&value, "request")?),
            "sync" => Self::Sync(fields(&value, "sync")?),
            "doc-unavailable" => Self::DocUnavailable(fields(&value, "doc-unavailable")?),
            "ephemeral" => Self::Ephemeral(fields(&value, "ephemeral")?),
            "remote-subscription-change" => {
                Self::RemoteSubscriptionChange(fields(&value, "remote-subscription-change")?)
            }
            "remote-heads-changed" => {
                Self::RemoteHeadsChanged(fields(&value, "remote-heads-changed")?)
            }
            _ => return Err(WireError::UnknownType),
        })
    }

    /// Encodes as a definite-length CBOR map with the `type` field first, as cbor-x writes it.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        fn enc<T: Serialize>(ty: &'static str, body: &T) -> Result<Vec<u8>, WireError> {
            let body = ciborium::Value::serialized(body).map_err(|_| WireError::Encode)?;
            let ciborium::Value::Map(fields) = body else {
                return Err(WireError::Encode);
            };
            let mut entries = Vec::with_capacity(fields.len() + 1);
            entries.push((ciborium::Value::from("type"), ciborium::Value::from(ty)));
            entries.extend(fields);
            let mut out = Vec::new();
            ciborium::into_writer(&ciborium::Value::Map(entries), &mut out)
                .map_err(|_| WireError::Encode)?;
            Ok(out)
        }
        let ty = self.type_name();
        match self {
            Self::Join(f) => enc(ty, f),
            Self::Peer(f) => enc(ty, f),
            Self::Error(f) => enc(ty, f),
            Self::Leave(f) => enc(ty, f),
            Self::Request(f) | Self::Sync(f) => enc(ty, f),
            Self::DocUnavailable(f) => enc(ty, f),
            Self::Ephemeral(f) => enc(ty, f),
            Self::RemoteSubscriptionChange(f) => enc(ty, f),
            Self::RemoteHeadsChanged(f) => enc(ty, f),
        }
    }
}

/// `peerMetadata` may be missing, `null` or `undefined` on the JS side: all mean "nothing".
fn de_metadata<'de, D: serde::Deserializer<'de>>(d: D) -> Result<PeerMetadata, D::Error> {
    Ok(Option::<PeerMetadata>::deserialize(d)?.unwrap_or_default())
}

fn de_millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    use serde::de::Error;
    match ciborium::Value::deserialize(d)? {
        ciborium::Value::Integer(i) => {
            u64::try_from(i128::from(i)).map_err(|_| D::Error::custom("negative timestamp"))
        }
        ciborium::Value::Float(f) if (0.0..1.8e19).contains(&f) => {
            // Truncation is intended: JS timestamps are whole milliseconds.
            Ok(f as u64)
        }
        _ => Err(D::Error::custom("timestamp is not a number")),
    }
}
