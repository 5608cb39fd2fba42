//! The Node reference server (`tests/js/bench-server.mjs`: automerge-repo 2.5.6 behind the
//! official WebSocket server adapter, share policy "request").

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::proc::ProcWatch;
use crate::server::{Running, log_tail, spawn};

/// What the Node server says about itself on SIGTERM (`process.cpuUsage`, `resourceUsage`).
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct SelfReport {
    pub cpu_total_us: u64,
    pub max_rss_kib: u64,
}

/// Starts the Node server on a free port; with `storage`, on NodeFS storage in a fresh
/// directory (otherwise it keeps documents in memory only).
pub async fn launch(
    script: &Path,
    storage: bool,
    max_seconds: u64,
    ticks: u64,
) -> anyhow::Result<Running> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let mut command = tokio::process::Command::new("node");
    command
        .arg(script)
        .args(["--port", "0", "--max-seconds", &max_seconds.to_string()]);
    if storage {
        command.arg("--storage").arg(dir.path().join("storage"));
    }
    let (mut child, pid) = spawn(command, &dir)?;
    let stdout = child.stdout.take().context("no stdout from node")?;
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .context("the Node server did not report its port")?
        .context("reading the Node server's stdout")?;
    let Some(first) = first else {
        bail!("the Node server exited at start:\n{}", log_tail(&dir));
    };
    #[derive(Deserialize)]
    struct Listening {
        port: u16,
    }
    let listening: Listening =
        serde_json::from_str(&first).context("the Node server's first line is not {port}")?;
    Ok(Running {
        child,
        pid,
        watch: ProcWatch::new(pid, ticks),
        addr: format!("127.0.0.1:{}", listening.port),
        stdout: Some(lines),
        _dir: dir,
    })
}

/// Finds the self-report among the lines printed after SIGTERM.
pub fn self_report(lines: &[String]) -> Option<SelfReport> {
    lines
        .iter()
        .find_map(|l| serde_json::from_str::<SelfReport>(l).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_report_is_found_among_other_lines() {
        let lines = vec![
            "something else".to_owned(),
            r#"{"stopped_by":"SIGTERM","cpu_user_us":10,"cpu_system_us":5,"cpu_total_us":15,"max_rss_kib":2048,"wall_ms":3}"#.to_owned(),
        ];
        let report = self_report(&lines).unwrap();
        assert_eq!(report.cpu_total_us, 15);
        assert_eq!(report.max_rss_kib, 2048);
        assert!(self_report(&lines[..1]).is_none());
    }
}
