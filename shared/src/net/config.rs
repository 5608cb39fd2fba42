//! How the client driver connects: server URL, token, peer id, documents, reconnection policy.

use std::fmt;
use std::time::Duration;

use automerge::ActorId;

use crate::engine::EngineLimits;
use crate::ids::DocumentId;
use crate::store::CompactionPolicy;
use crate::wire::PeerId;

/// Where the token travels on the WebSocket upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenPlacement {
    /// `Authorization: Bearer <token>` (Carnet's server).
    #[default]
    Header,
    /// `?token=<token>` appended to the URL, for servers (and browsers) that cannot read headers.
    Query,
    /// Both, for a server behind a proxy that strips one of them.
    HeaderAndQuery,
}

/// Exponential reconnection delays with jitter: `initial × factor^attempt`, capped at `max`,
/// then a random fraction `jitter` of it is taken off so that devices do not reconnect in step
/// after a server restart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub factor: f64,
    /// In [0, 1]: the share of the delay that is random.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            factor: 2.0,
            jitter: 0.5,
        }
    }
}

impl Backoff {
    /// The delay before reconnection attempt `attempt` (0 for the first retry). `unit` is a
    /// random number in [0, 1) drawn by the caller, so that this stays deterministic.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let exp = i32::try_from(attempt.min(64)).unwrap_or(64);
        let base = (self.initial.as_secs_f64() * self.factor.max(1.0).powi(exp))
            .min(self.max.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
        Duration::from_secs_f64((base * (1.0 - jitter)).max(0.0))
    }
}

/// Everything the driver needs besides the store.
#[derive(Clone)]
pub struct ClientConfig {
    /// `ws://host:port/sync` (the path is free for the JS reference server).
    pub url: String,
    /// Never logged nor put in errors.
    pub token: Option<String>,
    pub token_placement: TokenPlacement,
    /// Our automerge-repo peer id (bound to the token by Carnet's server).
    pub peer_id: PeerId,
    /// This installation's actor; each document gets its own actor derived from it
    /// ([`document_actor`]). Must be random per installation: two live instances sharing it
    /// would produce different changes with the same (actor, seq).
    pub device_actor: ActorId,
    /// The documents kept in sync from the start (more with `open_document`/`create_document`).
    pub documents: Vec<DocumentId>,
    pub backoff: Backoff,
    /// TCP connect + WebSocket upgrade.
    pub connect_timeout: Duration,
    /// From the upgrade to the server's `peer` answer.
    pub handshake_timeout: Duration,
    /// A ping is sent this often; a link silent for three periods is dropped and reopened.
    pub ping_interval: Duration,
    pub limits: EngineLimits,
    /// Compacts a document's chunks after local writes when the policy says so.
    pub compaction: Option<CompactionPolicy>,
}

impl ClientConfig {
    pub fn new(
        url: impl Into<String>,
        token: Option<String>,
        peer_id: impl Into<PeerId>,
        device_actor: ActorId,
        documents: Vec<DocumentId>,
    ) -> Self {
        Self {
            url: url.into(),
            token,
            token_placement: TokenPlacement::default(),
            peer_id: peer_id.into(),
            device_actor,
            documents,
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(20),
            limits: EngineLimits::default(),
            compaction: Some(CompactionPolicy::default()),
        }
    }
}

impl fmt::Debug for ClientConfig {
    // By hand: the token must never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_placement", &self.token_placement)
            .field("peer_id", &self.peer_id)
            .field("documents", &self.documents.len())
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

/// The actor this installation uses in one document: SHA-256(device actor ‖ document id),
/// first 16 bytes. Distinct per document, stable across restarts, no randomness needed.
pub fn document_actor(device: &ActorId, doc: &DocumentId) -> ActorId {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(device.to_bytes());
    h.update(doc.as_bytes());
    ActorId::from(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_then_caps() {
        let b = Backoff {
            jitter: 0.0,
            ..Backoff::default()
        };
        assert_eq!(b.delay(0, 0.7), Duration::from_millis(500));
        assert_eq!(b.delay(1, 0.7), Duration::from_secs(1));
        assert_eq!(b.delay(3, 0.7), Duration::from_secs(4));
        assert_eq!(b.delay(6, 0.7), Duration::from_secs(30));
        assert_eq!(b.delay(u32::MAX, 0.7), Duration::from_secs(30));
    }

    #[test]
    fn backoff_jitter_only_shortens_within_its_share() {
        let b = Backoff::default();
        assert_eq!(b.delay(2, 0.0), Duration::from_secs(2));
        assert_eq!(b.delay(2, 1.0), Duration::from_secs(1));
        let mid = b.delay(2, 0.5);
        assert!(mid > Duration::from_secs(1) && mid < Duration::from_secs(2));
    }

    #[test]
    fn document_actors_differ_per_document_and_are_stable() {
        let device = ActorId::from([7u8; 16]);
        let a = DocumentId::from_bytes([1; 16]);
        let b = DocumentId::from_bytes([2; 16]);
        assert_ne!(document_actor(&device, &a), document_actor(&device, &b));
        assert_eq!(document_actor(&device, &a), document_actor(&device, &a));
        assert_ne!(
            document_actor(&device, &a),
            document_actor(&ActorId::from([8u8; 16]), &a)
        );
    }

    #[test]
    fn debug_output_hides_the_token() {
        let c = ClientConfig::new(
            "ws://127.0.0.1:1/sync",
            Some("s3cr3t-token".into()),
            "peer",
            ActorId::from([1u8; 16]),
            vec![],
        );
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
