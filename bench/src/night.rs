//! `carnet-bench night`: the simulated Paris night (400 teams, 3 devices each) through a real
//! server on port 0 (`carnet_tests::night`), then the consolidation API timed: the first
//! answer right after every team is synced, and the median of several calls once the
//! coordinators' decisions and the partners' counts are in. Figures are checked against the
//! simulator's truth before they are reported.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use carnet_shared::sim::SimConfig;
use carnet_tests::night::run_simulated_night;

const START: i64 = 1_769_720_400_000; // 2026-01-29 22:00 (Paris, UTC+1)
const MAX_TEAMS: usize = 2_000;
const MAX_RUNS: usize = 50;

#[derive(clap::Args)]
pub struct NightArgs {
    /// Simulated teams (the Paris night is 400).
    #[arg(long, default_value_t = 400)]
    teams: usize,
    /// Consolidation calls timed; the median is reported.
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Seed of the simulated night.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

pub fn night(args: NightArgs) -> anyhow::Result<()> {
    if args.teams == 0 || args.teams > MAX_TEAMS {
        bail!("--teams takes a number between 1 and {MAX_TEAMS}");
    }
    if args.runs == 0 || args.runs > MAX_RUNS {
        bail!("--runs takes a number between 1 and {MAX_RUNS}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let config = SimConfig {
            teams: args.teams,
            ..SimConfig::paris()
        };
        let dir = tempfile::tempdir()?;
        let set_up = Instant::now();
        let run = run_simulated_night(dir.path(), &config, args.seed, START).await?;
        eprintln!("night set up and pushed in {:?}", set_up.elapsed());
        let path = run.consolidation_path();
        let mut times = Vec::with_capacity(args.runs);
        let mut persons = 0;
        for _ in 0..args.runs {
            let asked = Instant::now();
            let answer = run.get(&path).await?;
            times.push(asked.elapsed());
            ensure!(answer.status == 200, "consolidation: {}", answer.status);
            persons = answer.json()?["totals"]["persons"]
                .as_u64()
                .context("no total")?;
        }
        let t = &run.sim.truth;
        ensure!(persons == t.persons, "{persons} persons, truth {}", t.persons);
        let asked = Instant::now();
        let export = run
            .get(&format!(
                "/api/nights/{}/exports/encounters.csv",
                run.night.night_id
            ))
            .await?;
        let export_time = asked.elapsed();
        ensure!(export.status == 200, "export: {}", export.status);
        let fastest = times.iter().min().copied().unwrap_or_default();
        let slowest = times.iter().max().copied().unwrap_or_default();
        println!(
            "teams {} (+1 unreadable), devices/team {}, persons {}, encounters {}, questionnaires {}",
            config.teams,
            config.devices_per_team,
            t.persons,
            t.encounters,
            t.questionnaires
        );
        println!(
            "all teams synced (every device's push acknowledged): {}",
            ms(run.sync_time)
        );
        println!(
            "all teams synced -> totals returned (first consolidation call): {}",
            ms(run.first_totals_time)
        );
        println!(
            "consolidation API, median of {}: {} (min {}, max {})",
            args.runs,
            ms(median(times)),
            ms(fastest),
            ms(slowest)
        );
        println!(
            "encounters.csv export: {} ({} bytes in {} chunks)",
            ms(export_time),
            export.body.len(),
            export.chunks
        );
        run.server.stop().await?;
        Ok(())
    })
}
