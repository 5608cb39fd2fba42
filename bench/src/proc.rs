//! Server-side measurements read from `/proc`, the same way for both servers: CPU time of the
//! whole process (all threads, user + system) and its peak resident set.

use std::path::PathBuf;

use anyhow::{Context, bail};

/// Clock ticks per second (`getconf CLK_TCK`), the unit of `utime`/`stime` in `/proc/<pid>/stat`.
/// Asked once from `getconf` rather than through `sysconf` because the crate forbids `unsafe`.
pub fn clock_ticks_per_second() -> anyhow::Result<u64> {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .context("running getconf CLK_TCK")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let ticks: u64 = text.trim().parse().context("parsing getconf CLK_TCK")?;
    if ticks == 0 {
        bail!("getconf CLK_TCK returned 0");
    }
    Ok(ticks)
}

/// One process observed through `/proc`.
#[derive(Debug, Clone)]
pub struct ProcWatch {
    pid: u32,
    ticks_per_second: u64,
}

impl ProcWatch {
    pub fn new(pid: u32, ticks_per_second: u64) -> Self {
        Self {
            pid,
            ticks_per_second,
        }
    }

    fn path(&self, file: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/{file}", self.pid))
    }

    /// utime + stime of every thread so far, in seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat =
            std::fs::read_to_string(self.path("stat")).context("reading /proc/<pid>/stat")?;
        let ticks = cpu_ticks_from_stat(&stat)?;
        // Tick counts stay far below 2^52, so the conversion is exact.
        Ok(ticks as f64 / self.ticks_per_second as f64)
    }

    /// Peak resident set size (VmHWM) in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let status =
            std::fs::read_to_string(self.path("status")).context("reading /proc/<pid>/status")?;
        vm_hwm_kib(&status)
    }
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name (field 2)
/// is in parentheses and may itself contain spaces or parentheses, so fields are counted from
/// the last `)`.
pub fn cpu_ticks_from_stat(stat: &str) -> anyhow::Result<u64> {
    let Some(close) = stat.rfind(')') else {
        bail!("/proc stat line without a command name");
    };
    // After ")": field 3 (state) is index 0, so field n is index n - 3.
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let field = |n: usize| -> anyhow::Result<u64> {
        fields
            .get(n - 3)
            .context("/proc stat line too short")?
            .parse::<u64>()
            .context("/proc stat field is not a number")
    };
    Ok(field(14)? + field(15)?)
}

/// `VmHWM:   12345 kB` from `/proc/<pid>/status`.
pub fn vm_hwm_kib(status: &str) -> anyhow::Result<u64> {
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM line in /proc status")?;
    let mut parts = line["VmHWM:".len()..].split_whitespace();
    let value: u64 = parts
        .next()
        .context("empty VmHWM line")?
        .parse()
        .context("VmHWM is not a number")?;
    match parts.next() {
        Some("kB") => Ok(value),
        _ => bail!("VmHWM in an unexpected unit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        // A command name with a space and a parenthesis must not shift the fields.
        let stat = "4242 (node (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 123 45 0 0 20 0 11 0 \
                    100 1000000 5000 18446744073709551615";
        assert_eq!(cpu_ticks_from_stat(stat).unwrap(), 168);
    }

    #[test]
    fn truncated_stat_line_is_an_error() {
        assert!(cpu_ticks_from_stat("1 (x) S 1 2").is_err());
        assert!(cpu_ticks_from_stat("no parenthesis").is_err());
    }

    #[test]
    fn vm_hwm_is_read_in_kib() {
        let status = "Name:\tnode\nVmPeak:\t  999 kB\nVmHWM:\t   51234 kB\nVmRSS:\t 50000 kB\n";
        assert_eq!(vm_hwm_kib(status).unwrap(), 51234);
        assert!(vm_hwm_kib("VmRSS: 1 kB\n").is_err());
        assert!(vm_hwm_kib("VmHWM: 1 MB\n").is_err());
    }

    #[test]
    fn own_process_is_measurable() {
        let watch = ProcWatch::new(std::process::id(), clock_ticks_per_second().unwrap());
        assert!(watch.cpu_seconds().unwrap() >= 0.0);
        assert!(watch.peak_rss_kib().unwrap() > 0);
    }
}
