//! The official JS automerge-repo client scripts in `tests/js/`, run with node.

use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::process::Command;

/// `tests/js`, checked to have its dependencies installed. Interop tests must not skip
/// silently: without `npm ci` they fail with this message.
pub fn js_dir() -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js");
    if !dir.join("node_modules/@automerge/automerge-repo").is_dir() {
        bail!(
            "tests/js/node_modules is missing: run `cd tests/js && npm ci` before the interop \
             tests (the CI script does)"
        );
    }
    Ok(dir)
}

/// Runs `node tests/js/<script> <args>` and parses its one JSON line. A non-zero exit is an
/// error carrying the script's stderr (which never holds tokens or document content).
pub async fn run_script(script: &str, args: &[String]) -> anyhow::Result<Value> {
    let dir = js_dir()?;
    let output = Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .current_dir(&dir)
        .kill_on_drop(true)
        .output()
        .await
        .context("running node (is Node.js 20+ installed?)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "{script} exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .with_context(|| format!("{script} printed no JSON line"))?;
    Ok(serde_json::from_str(line)?)
}
