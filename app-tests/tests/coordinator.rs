//! The coordinator mode of the real app: `carnet-app` in WebKit under Xvfb (tauri-driver), a
//! real `carnet-server` binary with its SQLite file. The night (sectors from GeoJSON, two teams,
//! a coordinator token) is set up through the admin API; the app signs in as coordinator; team
//! devices (`carnet_tests::Device`, the client-role sync engine over the real WebSocket) record
//! encounters and report their sector covered; the app's progress table follows on its own
//! refresh; totals and a duplicate confirmed from the app reach the server's figures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use carnet_app_tests::server::{ADMIN_TOKEN, ServerProcess};
use carnet_app_tests::{App, Driver};
use carnet_shared::doc;
use carnet_shared::ids::DocumentId;
use carnet_shared::model::{CoverageStatus, Position, SectorCoverage, SectorId};
use reqwest::Method;
use serde_json::{Value, json};

const T0: i64 = 1_769_119_200_000; // 2026-01-22 22:00 UTC

fn square(lon: f64, lat: f64) -> Value {
    json!({"type":"Polygon","coordinates":[[
        [lon, lat], [lon + 0.008, lat], [lon + 0.008, lat + 0.004], [lon, lat + 0.004], [lon, lat]]]})
}

/// Three sectors, as a coordinator's GIS export would give them.
fn sector_map() -> Value {
    json!({"type":"FeatureCollection","features":[
        {"type":"Feature","geometry":square(2.3405, 48.8598),"properties":{"name":"Halles","arrondissement":1,"id":"P1-01"}},
        {"type":"Feature","geometry":square(2.3580, 48.8620),"properties":{"name":"Temple","arrondissement":3,"id":"P3-01"}},
        {"type":"Feature","geometry":square(2.3700, 48.8560),"properties":{"name":"Bastille","arrondissement":11,"id":"P11-01"}},
    ]})
}

async fn api_ok(server: &ServerProcess, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = server
        .api(method, path, Some(ADMIN_TOKEN), body)
        .await
        .unwrap();
    assert!((200..300).contains(&status), "{path}: {status} {answer}");
    answer
}

/// A team's phone: enrols with a code over HTTP, then writes over the real `/sync`.
struct TeamPhone {
    device: carnet_tests::Device,
    peer_id: String,
    doc: DocumentId,
}

impl TeamPhone {
    async fn enrol(server: &ServerProcess, code: &str, doc: DocumentId) -> Self {
        let (status, token) = server
            .api(
                Method::POST,
                "/api/enrol",
                None,
                Some(json!({"code": code})),
            )
            .await
            .unwrap();
        assert_eq!(status, 201, "{token}");
        let peer_id = token["peer_id"].as_str().unwrap().to_owned();
        let mut device = carnet_tests::Device::new(&peer_id, token["token"].as_str().unwrap());
        device.connect(server.addr).await.unwrap();
        device.open(doc).await.unwrap();
        Self {
            device,
            peer_id,
            doc,
        }
    }

    /// One man alone, asleep, at `position`.
    async fn record(&mut self, minute: i64, lat: f64, lon: f64) {
        let at = T0 + minute * 60_000;
        let mut e = carnet_tests::encounter(&self.peer_id, 1, at);
        e.position = Some(Position { lat, lon });
        self.device
            .edit(self.doc, |d| doc::record_encounter(d, &e, at))
            .await
            .unwrap();
    }

    async fn covered(&mut self, sector: &str, minute: i64) {
        let at = T0 + minute * 60_000;
        let cov = SectorCoverage {
            status: CoverageStatus::Covered,
            updated_at: at,
            device: self.peer_id.clone(),
        };
        self.device
            .edit(self.doc, |d| {
                doc::mark_coverage(d, &SectorId(sector.into()), &cov, at)
            })
            .await
            .unwrap();
    }

    /// Until the server has stored every change (acknowledged = durable).
    async fn sync(&mut self) {
        self.device.sync_until_acknowledged(self.doc).await.unwrap();
    }
}

fn sector_row(id: &str, state: &str) -> String {
    format!("tr[data-sector='{id}'][data-state='{state}']")
}

async fn sign_in(app: &App, server: &ServerProcess, token: &str) {
    app.click_button("Mode coordination").await.unwrap();
    app.fill("#coord-server", &server.url()).await.unwrap();
    app.fill("#coord-token", token).await.unwrap();
    app.click("form.coord-signin button[type='submit']")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coordinator_screen_follows_a_team_that_syncs_and_its_duplicate_decision_reaches_the_server()
 {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), 0).await.unwrap();
    let night = server.night("Équipe Halles", 1).await.unwrap();
    let base = format!("/api/nights/{}", night.night_id);
    let second = api_ok(
        &server,
        Method::POST,
        &format!("{base}/teams"),
        Some(json!({"teams": [{"name": "Équipe Temple"}], "codes_per_team": 1})),
    )
    .await;
    let second = &second["teams"][0];
    api_ok(
        &server,
        Method::POST,
        &format!("{base}/sectors"),
        Some(sector_map()),
    )
    .await;
    for (team, sector) in [
        (night.team_id.as_str(), "P1-01"),
        (second["team_id"].as_str().unwrap(), "P3-01"),
    ] {
        api_ok(
            &server,
            Method::PUT,
            &format!("{base}/teams/{team}/sectors"),
            Some(json!({"sectors": [sector]})),
        )
        .await;
    }
    let coordinator = api_ok(
        &server,
        Method::POST,
        &format!("{base}/coordinator-tokens"),
        Some(json!({"label": "PC nuit"})),
    )
    .await;
    let coordinator_token = coordinator["token"].as_str().unwrap().to_owned();

    let data_home = tempfile::tempdir().unwrap();
    let driver = Driver::start(data_home.path()).await.unwrap();
    let app = driver.launch().await.unwrap();

    // A refused token: French message, still on the form.
    sign_in(&app, &server, "carnet_not-a-real-token").await;
    app.wait_text("form.coord-signin .error", "the refusal", |t| {
        t.contains("Jeton refusé")
    })
    .await
    .unwrap();
    app.fill("#coord-token", &coordinator_token).await.unwrap();
    app.click("form.coord-signin button[type='submit']")
        .await
        .unwrap();
    app.wait_text("[data-testid='night-name']", "the night's name", |t| {
        t == "Nuit de la Solidarité 2026"
    })
    .await
    .unwrap();
    for id in ["P1-01", "P3-01", "P11-01"] {
        app.wait_css(&sector_row(id, "notStarted")).await.unwrap();
    }
    app.wait_css("img.map").await.unwrap();
    app.screenshot("coord-01-progress-not-started")
        .await
        .unwrap();

    // Team 1 meets two people in Les Halles and reports the sector covered.
    let mut halles = TeamPhone::enrol(&server, &night.codes[0], night.team_doc).await;
    halles.record(10, 48.8610, 2.3440).await;
    halles.record(25, 48.8620, 2.3470).await;
    halles.covered("P1-01", 40).await;
    halles.sync().await;
    let synced = Instant::now();
    // No tap: the screen refreshes itself (every 10 s).
    let row = app.wait_css(&sector_row("P1-01", "covered")).await.unwrap();
    let shown_after = synced.elapsed();
    assert_eq!(
        row.find(fantoccini::Locator::Css("td.state"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "Couvert — 2 personnes"
    );
    app.wait_css(&sector_row("P3-01", "notStarted"))
        .await
        .unwrap();
    app.wait_text("[data-testid='persons']", "2 persons", |t| t == "2")
        .await
        .unwrap();
    app.screenshot("coord-02-progress-covered").await.unwrap();
    println!("coordinator screen updated {shown_after:?} after the team's sync was acknowledged");

    // Team 2 meets the same man, 20 m and 5 minutes from team 1's first encounter.
    let mut temple = TeamPhone::enrol(
        &server,
        second["enrolment_codes"][0].as_str().unwrap(),
        DocumentId::parse(second["document_id"].as_str().unwrap()).unwrap(),
    )
    .await;
    temple.record(15, 48.8612, 2.3440).await;
    temple.sync().await;
    app.click_button("Actualiser").await.unwrap();
    app.wait_text("[data-testid='persons']", "3 persons", |t| t == "3")
        .await
        .unwrap();

    app.click_button("Totaux").await.unwrap();
    app.wait_text("[data-testid='total-persons']", "3 in the totals", |t| {
        t == "3"
    })
    .await
    .unwrap();
    app.wait_text(
        "tr[data-key='paris-centre'] td",
        "the Paris Centre line",
        |t| t.starts_with("Paris Centre"),
    )
    .await
    .unwrap();
    app.screenshot("coord-03-totals").await.unwrap();

    app.click_button("Doublons").await.unwrap();
    app.wait_css("li[data-decision='none']").await.unwrap();
    app.wait_text("li[data-decision='none'] p", "the teams' names", |t| {
        t.contains("Équipe Halles") && t.contains("Équipe Temple")
    })
    .await
    .unwrap();
    app.click_button("Confirmer le doublon").await.unwrap();
    app.wait_css("li[data-decision='confirmed']").await.unwrap();
    app.screenshot("coord-04-duplicate-confirmed")
        .await
        .unwrap();

    // The decision is the server's now: its figures count the man once.
    let figures = api_ok(&server, Method::GET, &format!("{base}/consolidation"), None).await;
    assert_eq!(figures["totals"]["persons"], 2, "{figures}");
    assert_eq!(figures["excluded"]["duplicateEncounters"], 1);
    app.click_button("Totaux").await.unwrap();
    app.wait_text(
        "[data-testid='total-persons']",
        "2 after the decision",
        |t| t == "2",
    )
    .await
    .unwrap();

    app.close().await.unwrap();
    driver.stop().unwrap();
    // The token stayed in the app's memory: not in its database, not in its log.
    let mut leaked = Vec::new();
    for entry in walk(data_home.path()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        if bytes
            .windows(coordinator_token.len())
            .any(|w| w == coordinator_token.as_bytes())
        {
            leaked.push(entry);
        }
    }
    assert!(leaked.is_empty(), "token found in {leaked:?}");
    server.stop().unwrap();
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
