//! The coordinator mode of the real app: `carnet-app` in WebKit under Xvfb (tauri-driver), a
//! real `carnet-server` binary with its SQLite file. The night (sectors from GeoJSON, two teams,
//! a coordinator token) is set up through the admin API; the app signs in as coordinator; team
//! devices (`carnet_tests::Device`, the client-role sync engine over the real WebSocket) record
//! encounters and report their sector covered; the app's progress table follows on its own
//! refresh; totals and a duplicate confirmed from the app reach the server's figures; after the
//! night, a conflict (two phones of one team changed the same field offline) is decided in the
//! app, the encounters CSV is exported from the app and its rows checked against what the teams
//! synced, and the distinctive signs are purged after the app's confirmation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use carnet_app_tests::server::{ADMIN_TOKEN, ServerProcess};
use carnet_app_tests::{App, Driver};
use carnet_shared::doc;
use carnet_shared::ids::DocumentId;
use carnet_shared::model::{CoverageStatus, EncounterEdit, Position, SectorCoverage, SectorId};
use reqwest::Method;
use serde_json::{Value, json};

const T0: i64 = 1_769_119_200_000; // 2026-01-22 22:00 UTC
const SIGNS: &str = "anorak orange, chien beige";

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

    /// One man alone, asleep, at `position`; returns the encounter's id.
    async fn record(&mut self, minute: i64, lat: f64, lon: f64) -> uuid::Uuid {
        self.record_with_signs(minute, lat, lon, None).await
    }

    async fn record_with_signs(
        &mut self,
        minute: i64,
        lat: f64,
        lon: f64,
        signs: Option<&str>,
    ) -> uuid::Uuid {
        let at = T0 + minute * 60_000;
        let mut e = carnet_tests::encounter(&self.peer_id, 1, at);
        e.position = Some(Position { lat, lon });
        e.distinctive_signs = signs.map(str::to_owned);
        self.device
            .edit(self.doc, |d| doc::record_encounter(d, &e, at))
            .await
            .unwrap();
        e.id
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
    let night = server.night("Équipe Halles", 2).await.unwrap();
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
    let h1 = halles
        .record_with_signs(10, 48.8610, 2.3440, Some(SIGNS))
        .await;
    let h2 = halles.record(25, 48.8620, 2.3470).await;
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
    let t1 = temple.record(15, 48.8612, 2.3440).await;
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

    // A second Halles phone; both change the number of men of h2 while offline.
    let mut halles_b = TeamPhone::enrol(&server, &night.codes[1], night.team_doc).await;
    halles_b
        .device
        .sync_until(night.team_doc, |d| {
            doc::read_team(d).is_ok_and(|t| t.encounters.contains_key(&h2))
        })
        .await
        .unwrap();
    halles.device.go_offline().await;
    halles_b.device.go_offline().await;
    for (phone, men) in [(&mut halles, 2), (&mut halles_b, 3)] {
        phone
            .device
            .edit(phone.doc, |d| {
                doc::edit_encounter(d, h2, &EncounterEdit::Men(men), T0 + 3_600_000)
            })
            .await
            .unwrap();
    }
    for phone in [&mut halles, &mut halles_b] {
        phone.device.connect(server.addr).await.unwrap();
        phone.device.open(phone.doc).await.unwrap();
        phone.sync().await;
    }
    app.click_button("Conflits").await.unwrap();
    let conflict = format!("li[data-conflict='{h2}/men'][data-resolved='no']");
    app.wait_text(&conflict, "the conflict on men", |t| {
        t.contains("Hommes") && t.contains("Équipe Halles")
    })
    .await
    .unwrap();
    app.click_button("Retenir 3").await.unwrap();
    app.wait_text(
        &format!("li[data-conflict='{h2}/men'][data-resolved='yes']"),
        "the decision",
        |t| t.contains("Valeur retenue : 3"),
    )
    .await
    .unwrap();
    app.screenshot("coord-05-conflict-decided").await.unwrap();
    let figures = api_ok(&server, Method::GET, &format!("{base}/consolidation"), None).await;
    assert_eq!(
        figures["totals"]["persons"], 4,
        "h1 (kept of the pair) + h2 with 3 men: {figures}"
    );

    // The encounters CSV, exported from the app into a file.
    app.click_button("Exports").await.unwrap();
    app.click("li[data-export='encounters'] button")
        .await
        .unwrap();
    let path = app
        .wait_text("[data-testid='export-path']", "the exported file", |t| {
            t.ends_with("-rencontres.csv")
        })
        .await
        .unwrap();
    app.screenshot("coord-06-export-done").await.unwrap();
    let csv = std::fs::read_to_string(path.trim()).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: std::collections::BTreeMap<String, String> = lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            (
                cells[col("encounterId")].to_owned(),
                cells[col("men")].to_owned(),
            )
        })
        .collect();
    // Synced: h1, h2 (Halles) and t1 (Temple); the confirmed pair keeps the smaller id.
    let kept = h1.min(t1);
    let expected: std::collections::BTreeMap<String, String> = [
        (kept.to_string(), "1".to_owned()),
        (h2.to_string(), "3".to_owned()),
    ]
    .into();
    assert_eq!(rows, expected, "{csv}");
    assert!(!csv.contains(SIGNS));

    // The purge, after the confirmation that says what is deleted.
    app.click_button("Effacement").await.unwrap();
    app.click_button("Effacer les signes distinctifs…")
        .await
        .unwrap();
    app.wait_text("[role='alertdialog']", "the confirmation", |t| {
        t.contains("signes distinctifs de toutes les rencontres")
    })
    .await
    .unwrap();
    app.screenshot("coord-07-purge-confirm").await.unwrap();
    app.click_button("Oui, effacer").await.unwrap();
    app.wait_text("[data-testid='purge-report']", "the purge's counts", |t| {
        t.contains("effacés de 1 rencontre")
    })
    .await
    .unwrap();
    app.screenshot("coord-08-purged").await.unwrap();
    // The connected Halles phone receives the purge at once.
    halles
        .device
        .sync_until(night.team_doc, |d| {
            doc::read_team(d)
                .is_ok_and(|t| t.encounters.values().all(|e| e.distinctive_signs.is_none()))
        })
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
