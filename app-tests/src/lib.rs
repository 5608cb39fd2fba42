//! Harness for the real-app end-to-end tests and benchmarks: a real `carnet-server` binary on a
//! loopback port (its own SQLite file, restartable on the same port), `tauri-driver` on a free
//! port with one `XDG_DATA_HOME` per app, and the built `carnet-app` driven in WebKit through
//! WebDriver (`fantoccini`). Needs a display: run under `xvfb-run -a`.
//!
//! Binaries are taken from `target/debug/` (build them first: `scripts/build-app.sh` and
//! `cargo build -p carnet-server`); `CARNET_APP_BIN`, `CARNET_SERVER_BIN` and `TAURI_DRIVER`
//! override the paths.
#![forbid(unsafe_code)]

pub mod app;
pub mod flow;
pub mod gate;
pub mod process;
pub mod server;

use std::path::PathBuf;
use std::time::Duration;

pub use app::{App, Driver};
pub use server::ServerProcess;

/// Guards against a hung step (a DOM condition that never comes); not a performance threshold.
pub const HANG_GUARD: Duration = Duration::from_secs(60);

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// A binary: `$ENV_VAR` if set, else `target/debug/<name>` of this workspace.
pub fn binary(env_var: &str, name: &str) -> PathBuf {
    match std::env::var_os(env_var) {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target"))
            .join("debug")
            .join(name),
    }
}

/// Where screenshots go: `artifacts/app-screenshots/` at the workspace root.
pub fn screenshot_dir() -> anyhow::Result<PathBuf> {
    let dir = workspace_root().join("artifacts/app-screenshots");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Polls `f` every 100 ms until it returns `Some`, or fails after `HANG_GUARD` with `what`.
pub async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
