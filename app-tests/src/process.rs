//! Child processes: signals (through `kill(1)`, no unsafe code), waiting with a guard, and the
//! process tree read from `/proc` (to find the app that WebKitWebDriver started).

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Sends `signal` (`TERM`, `KILL`…) to `pid`.
pub fn signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running kill")?;
    if !status.success() {
        bail!("kill -{signal} {pid} failed ({status})");
    }
    Ok(())
}

/// Waits for `child` to exit, at most `limit`.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> anyhow::Result<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            bail!("process {} did not exit within {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGTERM, then SIGKILL if it has not exited after `grace`.
pub fn terminate(child: &mut Child, grace: Duration) -> anyhow::Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    signal(child.id(), "TERM")?;
    match wait_timeout(child, grace) {
        Ok(status) => Ok(status),
        Err(_) => {
            let _ = child.kill();
            Ok(child.wait()?)
        }
    }
}

/// `(pid, ppid, comm, start ticks since boot)` of a process, `None` once it is gone or a zombie.
fn stat(pid: u32) -> Option<(u32, u32, String, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid … starttime(22nd field) …"; comm may hold spaces and parentheses.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let rest: Vec<&str> = text.get(close + 2..)?.split_whitespace().collect();
    if rest.first() == Some(&"Z") {
        return None;
    }
    let ppid = rest.get(1)?.parse().ok()?;
    let start = rest.get(19)?.parse().ok()?;
    Some((pid, ppid, comm, start))
}

/// Live descendants of `root` whose command name is `comm` (`/proc/<pid>/comm` is cut at 15
/// bytes, compare with a prefix of the binary's name), oldest first.
pub fn descendants_named(root: u32, comm: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let procs: Vec<(u32, u32, String, u64)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(stat)
        .collect();
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (pid, ppid, name, start) in &procs {
            if *ppid == parent {
                frontier.push(*pid);
                if comm.starts_with(name.as_str()) && !name.is_empty() {
                    found.push((*start, *pid));
                }
            }
        }
    }
    found.sort_unstable();
    found.into_iter().map(|(_, pid)| pid).collect()
}

/// The process has exited (gone, or a zombie not yet reaped).
pub fn is_dead(pid: u32) -> bool {
    stat(pid).is_none()
}

/// How long ago `pid` started, from `/proc` (resolution: one clock tick, 10 ms on Linux).
pub fn age(pid: u32) -> anyhow::Result<Duration> {
    let (_, _, _, start_ticks) = stat(pid).context("process gone")?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")?
        .split_whitespace()
        .next()
        .context("empty /proc/uptime")?
        .parse()?;
    // USER_HZ is 100 on every Linux ABI this runs on.
    let started = start_ticks as f64 / 100.0;
    Ok(Duration::from_secs_f64((uptime - started).max(0.0)))
}
