//! Live revocation: one `watch` channel per token with open sockets. Revoking a token flips
//! its channel to `true`; every socket task of that token selects on it and closes at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::auth::TokenId;

#[derive(Clone, Default)]
pub struct Revocations {
    channels: Arc<Mutex<HashMap<TokenId, watch::Sender<bool>>>>,
}

impl Revocations {
    fn lock(&self) -> MutexGuard<'_, HashMap<TokenId, watch::Sender<bool>>> {
        // The map holds no invariant a panic could break half-way.
        self.channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The revocation signal of `token`, already `true` if it was revoked while this server
    /// runs. Subscribe *after* authenticating: a revocation that lands in between is still
    /// seen, because revoked entries are kept.
    pub fn subscribe(&self, token: TokenId) -> watch::Receiver<bool> {
        self.lock()
            .entry(token)
            .or_insert_with(|| watch::channel(false).0)
            .subscribe()
    }

    /// Signals every live socket of `token`. Call after the database marks it revoked.
    pub fn revoke(&self, token: TokenId) {
        self.lock()
            .entry(token)
            .or_insert_with(|| watch::channel(false).0)
            .send_replace(true);
    }

    /// Forgets the channel of a token that is not revoked and has no socket left (called when
    /// a socket closes, after dropping its receiver), so the map only holds live tokens and
    /// tokens revoked during this run.
    pub fn release(&self, token: TokenId) {
        let mut channels = self.lock();
        if let Some(sender) = channels.get(&token)
            && !*sender.borrow()
            && sender.receiver_count() == 0
        {
            channels.remove(&token);
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn a_socket_opened_after_revocation_sees_it() {
        let revocations = Revocations::default();
        let token = TokenId(Uuid::from_bytes([1; 16]));
        let mut early = revocations.subscribe(token);
        revocations.revoke(token);
        assert!(early.has_changed().unwrap());
        assert!(*early.borrow_and_update());
        let late = revocations.subscribe(token);
        assert!(*late.borrow());
    }

    #[test]
    fn release_forgets_only_idle_unrevoked_tokens() {
        let revocations = Revocations::default();
        let live = TokenId(Uuid::from_bytes([1; 16]));
        let revoked = TokenId(Uuid::from_bytes([2; 16]));
        let receiver = revocations.subscribe(live);
        revocations.revoke(revoked);
        revocations.release(live);
        revocations.release(revoked);
        assert_eq!(revocations.tracked(), 2);
        drop(receiver);
        revocations.release(live);
        assert_eq!(revocations.tracked(), 1);
    }
}
