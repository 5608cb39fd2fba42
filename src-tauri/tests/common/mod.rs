//! Set-up shared by the tests that run the app's `Device` against a real carnet-server
//! (`mod common;` in each; not a test target of its own).
#![allow(dead_code)] // each test file uses its own subset

use std::future::Future;
use std::time::Duration;

use carnet_app::device::{Device, SyncOptions};
use carnet_shared::net::Backoff;
use carnet_tests::HANG_GUARD;

/// Short reconnection delays keep the tests quick; the backoff policy itself is unit-tested.
pub fn fast_reconnect() -> SyncOptions {
    SyncOptions {
        backoff: Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(500),
            ..Backoff::default()
        },
    }
}

/// Polls `check` until it is true; fails after the hang guard (not a timing threshold).
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The server acknowledged every change of this device (its reported heads cover them).
pub fn synced(device: &Device) -> bool {
    device.client().is_some_and(|c| {
        let status = c.status().borrow().clone();
        status.connected && status.all_synced()
    }) && device.pending_changes() == 0
}
