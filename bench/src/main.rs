//! `carnet-bench sync`: the side-by-side benchmark of DESIGN §4. K teams reconnect at once and
//! upload their encounters, then a coordinator fetches every team document; against our server
//! and the Node reference server, one after the other, N runs each; medians to stdout and to
//! `docs/benchmarks.md`.
#![forbid(unsafe_code)]

mod client;
mod night;
mod node;
mod ours;
mod proc;
mod report;
mod run;
mod server;
mod workload;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};

use crate::run::{RunConfig, RunResult, ServerKind};

#[derive(Parser)]
#[command(name = "carnet-bench", about = "Carnet benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// K teams upload at once, one coordinator fetches: our server against Node's.
    Sync(SyncArgs),
    /// The simulated Paris night through a real server; consolidation API timings.
    Night(night::NightArgs),
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    Ours,
    Node,
}

#[derive(clap::Args)]
struct SyncArgs {
    /// Numbers of teams, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "25,100,400")]
    teams: Vec<usize>,
    /// Runs per (server, teams); medians are reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Encounters each team records (one change each).
    #[arg(long, default_value_t = 20)]
    records: usize,
    /// Servers to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "ours,node")]
    servers: Vec<Which>,
    /// Hard timeout of one run (set-up included), in seconds.
    #[arg(long, default_value_t = 180)]
    timeout_secs: u64,
    /// Our server's binary. Built in release first unless --no-build.
    #[arg(long, default_value = "target/release/carnet-server")]
    server_bin: PathBuf,
    /// Do not run `cargo build --release -p carnet-server` first.
    #[arg(long)]
    no_build: bool,
    /// The Node reference server.
    #[arg(long, default_value = "tests/js/bench-server.mjs")]
    node_script: PathBuf,
    /// Run the Node server on NodeFS storage (default: in memory, as `bench-server.mjs` does
    /// without --storage).
    #[arg(long)]
    node_storage: bool,
    /// Write the results into this markdown file (its sync section only).
    #[arg(long)]
    out: Option<PathBuf>,
}

const MAX_TEAMS: usize = 2_000;
const MAX_RUNS: usize = 20;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Sync(args) => sync(args),
        Command::Night(args) => night::night(args),
    }
}

fn sync(args: SyncArgs) -> anyhow::Result<()> {
    // Bounded by construction: the loops below run at most MAX_TEAMS × MAX_RUNS × 2 runs,
    // each under its hard timeout.
    if args.teams.is_empty() || args.teams.iter().any(|&k| k == 0 || k > MAX_TEAMS) {
        bail!("--teams takes numbers between 1 and {MAX_TEAMS}");
    }
    if args.runs == 0 || args.runs > MAX_RUNS {
        bail!("--runs takes a number between 1 and {MAX_RUNS}");
    }
    let use_ours = args.servers.contains(&Which::Ours);
    let use_node = args.servers.contains(&Which::Node);
    if use_ours && !args.no_build {
        build_server()?;
    }
    let ticks = proc::clock_ticks_per_second()?;
    let load_before = load_average();
    // One thread for every client: the machine is small and only server CPU is measured.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;

    let mut kinds = Vec::new();
    if use_ours {
        kinds.push(ServerKind::Ours);
    }
    if use_node {
        kinds.push(ServerKind::Node);
    }
    let mut summaries = Vec::new();
    let mut failures = Vec::new();
    for &teams in &args.teams {
        let config = RunConfig {
            teams,
            records: args.records,
            timeout: Duration::from_secs(args.timeout_secs),
            server_bin: args.server_bin.clone(),
            node_script: args.node_script.clone(),
            node_storage: args.node_storage,
            ticks,
        };
        let mut results: Vec<(ServerKind, RunResult)> = Vec::new();
        // Interleaved (ours, node, ours, node…) so that both see the same machine noise.
        for run in 1..=args.runs {
            for &kind in &kinds {
                eprintln!(
                    "{} teams, {}, run {run}/{}…",
                    teams,
                    kind.label(),
                    args.runs
                );
                match runtime.block_on(run::run_once(kind, &config)) {
                    Ok(r) => {
                        eprintln!(
                            "  cpu {:.2}s (uploads {:.2}s), rss {:.0} MiB, upload {:.2}s, fetch {:.2}s, records {}/{}",
                            r.cpu_s,
                            r.cpu_upload_s,
                            r.peak_rss_kib as f64 / 1024.0,
                            r.upload_wall_s,
                            r.fetch_wall_s,
                            r.records,
                            teams * args.records
                        );
                        results.push((kind, r));
                    }
                    Err(e) => {
                        eprintln!("  failed: {e:#}");
                        failures.push(format!("{teams} teams, {}, run {run}: {e:#}", kind.label()));
                    }
                }
            }
        }
        for &kind in &kinds {
            let runs: Vec<RunResult> = results
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, r)| r.clone())
                .collect();
            summaries.push(report::summarize(
                kind,
                teams,
                teams * args.records,
                args.runs,
                &runs,
            ));
        }
    }

    let tables = report::tables(&summaries);
    println!("{tables}");
    for f in &failures {
        println!("failed: {f}");
    }
    if let Some(out) = &args.out {
        let load = format!("{load_before} before the runs, {} after", load_average());
        let section = section(&args, &tables, &failures, &load)?;
        report::write_section(out, &section)?;
        eprintln!("written to {}", out.display());
    }
    Ok(())
}

fn build_server() -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "carnet-server",
            "--bin",
            "carnet-server",
        ])
        .status()
        .context("running cargo build for carnet-server")?;
    if !status.success() {
        bail!("building carnet-server failed");
    }
    Ok(())
}

fn section(
    args: &SyncArgs,
    tables: &str,
    failures: &[String],
    load: &str,
) -> anyhow::Result<String> {
    let mut s = String::new();
    let teams: Vec<String> = args.teams.iter().map(usize::to_string).collect();
    let servers: Vec<&str> = args
        .servers
        .iter()
        .map(|w| match w {
            Which::Ours => "ours",
            Which::Node => "node",
        })
        .collect();
    let mut command = format!(
        "cargo run --release -p carnet-bench -- sync --teams {} --runs {} --records {} --servers {} --timeout-secs {}",
        teams.join(","),
        args.runs,
        args.records,
        servers.join(","),
        args.timeout_secs,
    );
    if args.node_storage {
        command.push_str(" --node-storage");
    }
    if let Some(out) = &args.out {
        let _ = write!(command, " --out {}", out.display());
    }
    let facts = machine_facts();
    let _ = write!(
        s,
        "## Sync: K teams upload at once, one coordinator fetches\n\n\
         **Workload.** A night with K teams; each team document already exists on the server and on \
         its device (set-up, not measured: our server creates team documents when the night is set \
         up and each enrolled device downloads its own; on Node each device uploads a skeleton made \
         by `carnet_shared::doc::create_team`). Each device then records {records} encounters \
         offline with `record_encounter` (one small change each) and all K devices reconnect at \
         once (one WebSocket each, automerge-repo protocol: `join` → `peer`, then `sync`). An \
         upload counts as acknowledged when the heads the server announces cover every local \
         head (`Engine::server_has_all`). Then one coordinator connects and fetches all K team \
         documents; it must see K × {records} encounters (read back with `read_encounter`).\n\n\
         **Servers.** `carnet-server serve` (release build, fresh SQLite file per run, tokens \
         from its admin API: one device token per team, one coordinator token) and the Node \
         reference server `node tests/js/bench-server.mjs --port 0` (automerge-repo 2.5.6, share \
         policy `request`, {node_storage}, no auth). Each run starts a fresh server process.\n\n\
         **Measures.** Server CPU = utime + stime of the server process from `/proc/<pid>/stat` \
         (same method for both), from just before the devices connect until the coordinator has \
         every document; \"uploads only\" stops at the last acknowledgement. Peak RSS = VmHWM from \
         `/proc/<pid>/status` (whole process life, set-up included). Wall times are seen by the \
         clients. The Node column on the right is its own `process.cpuUsage()` (from after module \
         loading to SIGTERM, so set-up included) and `maxRSS`. All clients run in the benchmark \
         process on one tokio thread, over loopback. Medians of {runs} runs; \"records seen\" is \
         the worst run.\n\n\
         **Machine.** {facts} Load average (1, 5, 15 min, from `/proc/loadavg`): {load}; \
         other processes (builds and tests of other helpers) were running at the same time.\n\n\
         **Command.**\n\n```sh\n{command}\n```\n\n{tables}",
        records = args.records,
        runs = args.runs,
        node_storage = if args.node_storage {
            "NodeFS storage"
        } else {
            "in-memory: no storage adapter"
        },
    );
    if !failures.is_empty() {
        s.push_str("\nFailed runs:\n\n");
        for f in failures {
            let _ = writeln!(s, "- {f}");
        }
    }
    Ok(s)
}

/// `/proc/loadavg`'s 1, 5 and 15 minute averages: how busy the shared machine was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" / "))
        .unwrap_or_else(|| "?".to_owned())
}

/// nproc, memory, CPU model, date, commit, Node version: what the numbers depend on.
fn machine_facts() -> String {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or("?".to_owned(), |kib| {
            format!("{:.1} GiB", kib / 1024.0 / 1024.0)
        });
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "?".to_owned());
    let run = |cmd: &str, args: &[&str]| {
        std::process::Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "?".to_owned())
    };
    format!(
        "{nproc} CPUs ({cpu}), {mem_gib} RAM; {date}; commit {commit}; Node {node}; \
         shared with other work, so expect some noise.",
        date = run("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        commit = run("git", &["rev-parse", "--short", "HEAD"]),
        node = run("node", &["--version"]),
    )
}
