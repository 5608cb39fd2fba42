//! Server processes under test: started as children, observed through `/proc`, stopped with
//! SIGTERM (then SIGKILL). `kill_on_drop` makes sure no server outlives a failed run.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{BufReader, Lines};
use tokio::process::{Child, ChildStdout};

use crate::proc::ProcWatch;

/// A started server.
pub struct Running {
    pub child: Child,
    pub pid: u32,
    pub watch: ProcWatch,
    /// `127.0.0.1:<port>`
    pub addr: String,
    /// Lines the server prints on stdout (the Node server reports there).
    pub stdout: Option<Lines<BufReader<ChildStdout>>>,
    /// Keeps the database / storage directory alive for the run.
    pub _dir: tempfile::TempDir,
}

impl Running {
    pub fn ws_url(&self) -> String {
        format!("ws://{}/sync", self.addr)
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGTERM, then up to 5 s for a clean exit, then SIGKILL. Returns the stdout lines printed
    /// after the signal (the Node server's self-report).
    pub async fn stop(mut self) -> anyhow::Result<Vec<String>> {
        // `kill` rather than a signal crate call: the crate forbids unsafe and needs no more.
        let status = tokio::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await
            .context("running kill -TERM")?;
        if !status.success() {
            bail!("kill -TERM failed for the server process");
        }
        let mut lines = Vec::new();
        if let Some(stdout) = self.stdout.as_mut() {
            let read_all = async {
                while let Ok(Some(line)) = stdout.next_line().await {
                    lines.push(line);
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(5), read_all).await;
        }
        match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(status) => {
                status.context("waiting for the server to exit")?;
            }
            Err(_) => {
                self.child.start_kill().context("killing the server")?;
                let _ = self.child.wait().await;
            }
        }
        Ok(lines)
    }
}

/// Spawns `command` with stdout piped and stderr to a file in `dir` (shown if it fails).
pub fn spawn(
    mut command: tokio::process::Command,
    dir: &tempfile::TempDir,
) -> anyhow::Result<(Child, u32)> {
    let log = std::fs::File::create(dir.path().join("server.log")).context("creating the log")?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(true);
    let child = command.spawn().context("starting the server")?;
    let pid = child.id().context("the server exited at once")?;
    Ok((child, pid))
}

/// The end of the server's log, for error messages when it failed to start.
pub fn log_tail(dir: &tempfile::TempDir) -> String {
    let text = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}
