//! Client role: what the server is known to hold ("acknowledged means durable", DESIGN §4).
//!
//! The server only sends frames after the storage writes of the same step are durable, so the
//! heads it reports in a sync message are heads it has on disk. We keep the latest report per
//! document across reconnects.

use automerge::{Automerge, ChangeHash};

use super::Engine;
use crate::ids::DocumentId;

impl Engine {
    /// The heads the server last reported for `doc`, if it ever did.
    pub fn server_heads(&self, doc: &DocumentId) -> Option<&[ChangeHash]> {
        self.server_heads.get(doc).map(Vec::as_slice)
    }

    /// Seeds the server's heads (e.g. persisted by the app at the last sync), so that
    /// "synced" survives a restart before the first reconnect.
    pub fn set_server_heads(&mut self, doc: DocumentId, heads: Vec<ChangeHash>) {
        self.server_heads.insert(doc, heads);
    }

    /// True when every change of our copy of `doc` is held by the server.
    pub fn server_has_all(&self, doc: &DocumentId) -> bool {
        let Some(data) = self.docs.get(doc) else {
            return false;
        };
        if data.get_heads().is_empty() {
            return true;
        }
        match self.server_heads.get(doc) {
            Some(heads) => not_covered(data, heads).next().is_none(),
            None => false,
        }
    }

    /// True when the server holds the change `hash` (which we must hold too).
    pub fn server_has_change(&self, doc: &DocumentId, hash: &ChangeHash) -> bool {
        let (Some(data), Some(heads)) = (self.docs.get(doc), self.server_heads.get(doc)) else {
            return false;
        };
        if data.get_change_meta_by_hash(hash).is_none() {
            return false;
        }
        !not_covered(data, heads).any(|h| h == *hash)
    }
}

/// Our changes that are not ancestors of (the part we know of) the server's heads.
/// Server heads we don't hold yet are skipped: the answer can only err towards "not synced".
fn not_covered<'a>(
    data: &'a Automerge,
    server_heads: &[ChangeHash],
) -> impl Iterator<Item = ChangeHash> + 'a {
    let known: Vec<ChangeHash> = server_heads
        .iter()
        .filter(|h| data.get_change_meta_by_hash(h).is_some())
        .copied()
        .collect();
    data.get_changes_meta(&known).into_iter().map(|m| m.hash)
}
