//! Benchmarks of the real app (not a test: figures only, no thresholds).
//!
//! `xvfb-run -a -s "-screen 0 420x860x24" cargo run -p carnet-app-tests --bin carnet-app-bench -- [STARTS] [SAVES]`
//!
//! - cold start: `carnet-app` process start (from `/proc`, 10 ms ticks) → the first screen's DOM
//!   is seen through WebDriver (enrolment form, then the team's home once enrolled), STARTS
//!   launches each (default 10);
//! - save: the tap on "Enregistrer la rencontre" → the `record_encounter` command has resolved
//!   (its write is durable before it resolves; seen in-page when the "recorded" message shows),
//!   timed inside the webview with `performance.now()`, SAVES encounters (default 30).
#![forbid(unsafe_code)]

use anyhow::Context;
use carnet_app_tests::server::ServerProcess;
use carnet_app_tests::{Driver, flow, process};
use fantoccini::Locator;

/// In-page: taps the record button and resolves with the milliseconds until the "recorded"
/// message appears (the UI shows it right after the command resolves).
const TIMED_SAVE: &str = r#"
const done = arguments[arguments.length - 1];
const button = [...document.querySelectorAll('button')]
  .find((b) => b.textContent.trim() === 'Enregistrer la rencontre');
if (!button) { done(-1); return; }
let t0 = 0;
const seen = () => {
  const toast = document.querySelector('.toast');
  if (toast && toast.textContent.includes('Rencontre enregistrée')) {
    observer.disconnect();
    done(performance.now() - t0);
  }
};
const observer = new MutationObserver(seen);
observer.observe(document.body, { childList: true, subtree: true, characterData: true });
t0 = performance.now();
button.click();
"#;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(what: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{what}: n={} p50={:.0} ms p99={:.0} ms min={:.0} ms max={:.0} ms",
        ms.len(),
        percentile(&ms, 50.0),
        percentile(&ms, 99.0),
        ms.first().copied().unwrap_or(f64::NAN),
        ms.last().copied().unwrap_or(f64::NAN),
    );
}

async fn cold_starts(driver: &Driver, runs: usize) -> anyhow::Result<Vec<f64>> {
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let app = driver.launch().await?;
        let pid = app.pid.context("app process not found")?;
        ms.push(process::age(pid)?.as_secs_f64() * 1000.0);
        app.close().await?;
        // The next start begins once this app has exited.
        carnet_app_tests::wait_for("the app to exit", || async move {
            Ok(process::is_dead(pid).then_some(()))
        })
        .await?;
    }
    Ok(ms)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let starts: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10);
    let saves: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(30);

    let dir = tempfile::tempdir()?;
    let server = ServerProcess::start(dir.path(), 0).await?;
    let night = server.night("Équipe banc d’essai", 1).await?;
    let phone = tempfile::tempdir()?;
    let driver = Driver::start(phone.path()).await?;

    // Not enrolled yet: the first screen is the enrolment form.
    report(
        "cold start, not enrolled (process start -> enrolment form DOM)",
        cold_starts(&driver, starts).await?,
    );

    let app = driver.launch().await?;
    let code = night.codes.first().context("no code")?;
    flow::submit_enrolment(&app, &server.url(), code).await?;
    app.wait_css("section.head, form.enrol .error").await?;
    if app.client.find(Locator::Css("section.head")).await.is_err() {
        println!("enrolment failed in the app: no enrolled figures (save, enrolled start)");
        app.close().await?;
        driver.stop()?;
        server.stop()?;
        return Ok(());
    }

    let mut save_ms = Vec::with_capacity(saves);
    for n in 0..saves {
        flow::new_encounter(&app).await?;
        flow::fill_quick_encounter(&app).await?;
        // The previous run's message must be gone, or it would be taken for this one's.
        app.wait_gone(".toast").await?;
        let ms = app
            .client
            .execute_async(TIMED_SAVE, vec![])
            .await?
            .as_f64()
            .context("timing script")?;
        anyhow::ensure!(ms >= 0.0, "record button not found");
        save_ms.push(ms);
        flow::wait_encounter_count(&app, n + 1).await?;
    }
    app.close().await?;
    report("save (tap -> record_encounter resolved)", save_ms);

    // Enrolled: the first screen is the team's home (database and both documents loaded).
    report(
        "cold start, enrolled (process start -> home DOM)",
        cold_starts(&driver, starts).await?,
    );
    driver.stop()?;
    server.stop()?;
    Ok(())
}
