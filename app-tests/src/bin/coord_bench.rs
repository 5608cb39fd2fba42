//! Benchmark of the coordinator mode (not a test: figures only, no thresholds).
//!
//! `xvfb-run -a -s "-screen 0 420x860x24" cargo run -p carnet-app-tests --bin carnet-app-coord-bench -- [TEAMS] [RUNS]`
//!
//! The simulated Paris night (`carnet_tests::night::run_simulated_night`: TEAMS teams, default
//! 400, 3 devices each, every push acknowledged by a real server on a loopback port), then the
//! real app signs in as the night's coordinator. Timed inside the webview with
//! `performance.now()`: the tap on "Totaux" → the total of persons on screen equals the
//! simulator's truth (IPC, the server's consolidation of every team document, rendering), RUNS
//! times (default 5; the first is the one right after "all teams synced").
#![forbid(unsafe_code)]

use anyhow::{Context, ensure};
use carnet_app_tests::Driver;
use carnet_shared::sim::SimConfig;
use carnet_tests::night::run_simulated_night;

const START: i64 = 1_769_720_400_000; // 2026-01-29 22:00 (Paris, UTC+1)

/// In-page: taps the button named `arguments[0]` and resolves with the milliseconds until the
/// text of `arguments[1]` (digits only) equals `arguments[2]`.
const TIMED_TAP: &str = r#"
const [name, css, want, done] = arguments;
const button = [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === name);
if (!button) { done(-1); return; }
let t0 = 0;
const seen = () => {
  const el = document.querySelector(css);
  if (el && el.textContent.replace(/\D/g, '') === want) { observer.disconnect(); done(performance.now() - t0); }
};
const observer = new MutationObserver(seen);
observer.observe(document.body, { childList: true, subtree: true, characterData: true, attributes: true });
t0 = performance.now();
button.click();
"#;

fn ms_list(v: &[f64]) -> String {
    v.iter()
        .map(|m| format!("{m:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn timed_tap(
    app: &carnet_app_tests::App,
    button: &str,
    css: &str,
    want: &str,
) -> anyhow::Result<f64> {
    let ms = app
        .client
        .execute_async(TIMED_TAP, vec![button.into(), css.into(), want.into()])
        .await?
        .as_f64()
        .context("timing script")?;
    ensure!(ms >= 0.0, "button {button} not found");
    Ok(ms)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let teams: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(400);
    let runs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);
    ensure!(
        (1..=2000).contains(&teams) && (1..=50).contains(&runs),
        "1–2000 teams, 1–50 runs"
    );

    let config = SimConfig {
        teams,
        ..SimConfig::paris()
    };
    let dir = tempfile::tempdir()?;
    let started = std::time::Instant::now();
    let run = run_simulated_night(dir.path(), &config, 2026, START).await?;
    eprintln!("night set up and pushed in {:?}", started.elapsed());
    let truth = run.sim.truth.persons.to_string();

    let phone = tempfile::tempdir()?;
    let driver = Driver::start(phone.path()).await?;
    let app = driver.launch().await?;
    app.click_button("Mode coordination").await?;
    app.fill("#coord-server", &format!("http://{}", run.server.addr))
        .await?;
    app.fill("#coord-token", &run.coordinator.token).await?;
    app.click("form.coord-signin button[type='submit']").await?;
    app.wait_css("[data-testid='persons']").await?;

    let mut totals = Vec::with_capacity(runs);
    for _ in 0..runs {
        totals.push(timed_tap(&app, "Totaux", "[data-testid='total-persons']", &truth).await?);
        // Back to the progress tab: the next tap on "Totaux" fetches again.
        app.click_button("Avancement").await?;
        app.wait_css("[data-testid='persons']").await?;
    }
    app.close().await?;
    driver.stop()?;

    let t = &run.sim.truth;
    println!(
        "teams {teams} (+1 unreadable), devices/team {}, persons {}, encounters {}",
        config.devices_per_team, t.persons, t.encounters
    );
    println!(
        "all teams synced (every push acknowledged): {:.0} ms",
        run.sync_time.as_secs_f64() * 1000.0
    );
    println!(
        "server alone, all teams synced -> first consolidation answer: {:.0} ms",
        run.first_totals_time.as_secs_f64() * 1000.0
    );
    println!(
        "app: tap \"Totaux\" -> {} persons on screen, ms per run (first right after the night): {}",
        t.persons,
        ms_list(&totals)
    );
    run.server.stop().await?;
    Ok(())
}
