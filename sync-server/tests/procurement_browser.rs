//! The public procurement views in a real headless Chromium, driven through chromedriver
//! (WebDriver, `fantoccini`): the real router served on a loopback port, the Paris sample
//! imported, every page loaded with its SVG chart, a filter submitted through the form
//! changes the headline figures. Screenshots go to `<repo>/artifacts/screenshots/`.
//! Skips with a message when chromium or chromedriver is absent
//! (`scripts/install-chromium.sh` installs them).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod procurement_common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use carnet_server::procurement::http::{self, ProcurementState};
use carnet_server::procurement::views;
use fantoccini::{Client, ClientBuilder, Locator};
use procurement_common::*;
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver, stopped when the test ends (even on failure).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_driver() -> (Driver, u16) {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let driver = Driver(child);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (driver, port);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

async fn browser(driver_port: u16, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars",
                "--window-size=1280,900", "--lang=fr-FR",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .unwrap()
}

fn screenshot_dir() -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let dir = repo.join("artifacts/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Full-page PNG: the window is resized to the document's height first.
async fn screenshot(client: &Client, name: &str) {
    let height = client
        .execute(
            "return Math.min(document.documentElement.scrollHeight, 6000);",
            vec![],
        )
        .await
        .unwrap()
        .as_u64()
        .unwrap_or(900) as u32;
    client.set_window_size(1280, height.max(600)).await.unwrap();
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
    client.set_window_size(1280, 900).await.unwrap();
}

async fn headline(client: &Client) -> String {
    client
        .find(Locator::Css("dl.figures div[data-key='contrats'] dd"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

const PAGES: &[(&str, &str)] = &[
    ("synthese", "/marches"),
    ("periodes", "/marches/periodes?par=mois"),
    ("acheteurs", "/marches/acheteurs"),
    ("titulaires", "/marches/titulaires"),
    ("cpv", "/marches/cpv"),
    ("procedures", "/marches/procedures"),
    ("montants", "/marches/montants"),
    ("modifications", "/marches/modifications"),
    ("concurrence", "/marches/concurrence"),
    ("concentration", "/marches/concentration"),
    ("qualite", "/marches/qualite"),
    ("contrats", "/marches/contrats"),
    ("alertes", "/marches/alertes"),
    (
        "alerte-sans-concurrence",
        "/marches/alertes/sans-concurrence",
    ),
    ("alerte-sous-seuil", "/marches/alertes/sous-seuil"),
];

#[tokio::test]
async fn procurement_views_in_headless_chromium() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        // CI installs both (scripts/install-deps.sh): there, a missing browser is a failure,
        // not a silent pass.
        assert!(
            std::env::var_os("CI").is_none(),
            "{CHROMIUM} or {CHROMEDRIVER} absent in CI (scripts/install-deps.sh installs them)"
        );
        eprintln!("SKIP: {CHROMIUM} or {CHROMEDRIVER} absent (run scripts/install-chromium.sh)");
        return;
    }
    let data = data_dir();
    let cpv = cpv(&data);
    let (dir, mut conn) = fresh_db();
    import_file(
        &mut conn,
        &data.join("decp/decp_v1_paris_sample.json"),
        &cpv,
    );
    drop(conn);
    let state = ProcurementState {
        db: std::sync::Arc::new(carnet_server::procurement::pool::ProcurementDb::new(
            dir.path().join("carnet.sqlite3"),
        )),
        ocid_prefix: "ocds-test00".into(),
        publisher_name: "Carnet (tests)".into(),
        base_url: "http://127.0.0.1".into(),
        clock: Arc::new(|| "2026-01-01T00:00:00Z".to_string()),
    };
    let app = views::router(state.clone()).merge(http::router(state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let (_driver, driver_port) = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let client = browser(driver_port, profile.path()).await;

    let result = async {
        for (name, path) in PAGES {
            client.goto(&format!("{base}{path}")).await.unwrap();
            let title = client.title().await.unwrap();
            assert!(title.contains("Carnet"), "{path}: title {title}");
            let lang = client
                .find(Locator::Css("html"))
                .await
                .unwrap()
                .attr("lang")
                .await
                .unwrap();
            assert_eq!(lang.as_deref(), Some("fr"));
            let svg = client.find(Locator::Css("svg.chart")).await.unwrap();
            assert_eq!(svg.attr("role").await.unwrap().as_deref(), Some("img"));
            let all = headline(&client).await;
            screenshot(&client, name).await;
            // The same page filtered to large contracts shows other figures.
            let sep = if path.contains('?') { '&' } else { '?' };
            client
                .goto(&format!("{base}{path}{sep}min=100000"))
                .await
                .unwrap();
            let filtered = headline(&client).await;
            assert_ne!(all, filtered, "{path}: the filter changed nothing");
        }

        // Through the form, as a visitor would: type a minimum amount and submit.
        client.goto(&format!("{base}/marches")).await.unwrap();
        let before = headline(&client).await;
        let min = client
            .find(Locator::Css("input[name='min']"))
            .await
            .unwrap();
        min.send_keys("90000").await.unwrap();
        client
            .find(Locator::Css("form.filters button[type='submit']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        for _ in 0..50 {
            let url = client.current_url().await.unwrap();
            if url.query().is_some_and(|q| q.contains("min=90000")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let after = headline(&client).await;
        assert_ne!(before, after, "submitting the form changed the figures");
        screenshot(&client, "synthese-filtre-montant").await;

        // A contract page with its embedded OCDS.
        client
            .goto(&format!("{base}/marches/contrats"))
            .await
            .unwrap();
        let first = client
            .find(Locator::Css("#table-contrats tbody a"))
            .await
            .unwrap();
        first.click().await.unwrap();
        client.find(Locator::Css("pre.json")).await.unwrap();
        screenshot(&client, "contrat").await;
    }
    .await;
    client.close().await.unwrap();
    server.abort();
    result
}
