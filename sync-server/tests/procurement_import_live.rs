//! The views while `procurement import` runs, through a real server on port 0 and a real
//! SQLite file: the importer runs in its own thread and pauses between two batches (its
//! reader blocks on a channel, no sleeps), the server's clock is set by the test.
//! Guards: an in-place update makes the derived data stale at once; a request during a
//! live run serves the last refresh with a notice and never takes the writer; a run that
//! stopped beating no longer blocks the refresh; a failed import leaves the views as they
//! were.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod procurement_common;

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use carnet_server::procurement::http::{self, ProcurementState};
use carnet_server::procurement::import::{
    BATCH_SIZE, Commit, ImportError, ImportOptions, ImportReport, import_reader_with,
};
use carnet_server::procurement::pool::ProcurementDb;
use carnet_server::procurement::quality::CpvList;
use carnet_server::procurement::views::{self, schema};
use procurement_common::*;
use rusqlite::Connection;
use serde_json::{Value, json};

/// When the paused import started and last beat (its clock never moves).
const IMPORT_TIME: &str = "2026-12-06T14:02:00Z";
/// The first import's time: the one the last refresh reflects.
const FIRST_TIME: &str = "2026-01-01T00:00:00Z";
const OTHER_BUYER: &str = "21690123100011";

fn record(buyer: &str, i: usize, amount: u64, published: &str) -> Value {
    json!({
        "id": format!("LIVE-{i}"),
        "acheteur": {"id": buyer},
        "montant": amount,
        "dateNotification": "2024-01-10",
        "datePublicationDonnees": published,
        "titulaires": [{"typeIdentifiant": "SIRET", "id": "73282932000074"}],
        "modifications": []
    })
}

/// `{"marches": [...]}` split after `first` records: the importer commits its first batch
/// before it asks for the second part.
fn split_document(records: &[Value], first: usize) -> (Vec<u8>, Vec<u8>) {
    let text = |rs: &[Value]| {
        rs.iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let head = format!("{{\"marches\": [{}", text(&records[..first]));
    let tail = format!(",{}]}}", text(&records[first..]));
    (head.into_bytes(), tail.into_bytes())
}

/// Gives the first part, then says so and waits for the test before giving the rest.
struct PausingReader {
    first: Cursor<Vec<u8>>,
    rest: Cursor<Vec<u8>>,
    pause: Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>,
}

impl Read for PausingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.first.read(buf)?;
        if n > 0 {
            return Ok(n);
        }
        if let Some((paused, resume)) = self.pause.take() {
            paused.send(()).unwrap();
            resume.recv().unwrap();
        }
        self.rest.read(buf)
    }
}

/// Where the importer's busy handler reports that it waits for a lock.
static BUSY: Mutex<Option<mpsc::Sender<()>>> = Mutex::new(None);

/// Busy handler: reports the first wait of each lock attempt, then retries every
/// millisecond (SQLite's own busy timeout sleeps too), giving up after ~20 s.
fn on_busy(attempt: i32) -> bool {
    if attempt == 0
        && let Some(tx) = BUSY.lock().unwrap().as_ref()
    {
        let _ = tx.send(());
    }
    std::thread::sleep(std::time::Duration::from_millis(1));
    attempt < 20_000
}

/// An import running in its own thread (as the CLI in its own process: its own
/// connection), paused after its first committed batch.
struct PausedImport {
    resume: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<Result<ImportReport, ImportError>>,
}

impl PausedImport {
    /// Starts the import of `records` (more than one batch) and returns once its first
    /// batch is committed. It ends as the CLI does: refreshing the views in the
    /// transaction that marks the run done.
    async fn start(db: &Path, records: Vec<Value>) -> Self {
        Self::start_with(db, records, false).await
    }

    /// [`PausedImport::start`]; with `report_waits`, the importer's connection reports its
    /// first wait for a lock on [`BUSY`] (and keeps waiting, up to ~20 s).
    async fn start_with(db: &Path, records: Vec<Value>, report_waits: bool) -> Self {
        assert!(records.len() > BATCH_SIZE + 1);
        let (first, rest) = split_document(&records, BATCH_SIZE + 1);
        let (paused_tx, paused_rx) = mpsc::channel();
        let (resume_tx, resume_rx) = mpsc::channel();
        let db = db.to_path_buf();
        let thread = std::thread::spawn(move || {
            let mut conn = carnet_server::procurement::db::open(&db).unwrap();
            if report_waits {
                conn.busy_handler(Some(on_busy)).unwrap();
            }
            let reader = PausingReader {
                first: Cursor::new(first),
                rest: Cursor::new(rest),
                pause: Some((paused_tx, resume_rx)),
            };
            let clock = || IMPORT_TIME.to_string();
            let refresh = |c: &Connection, _: &ImportReport| {
                schema::refresh_within(c)?;
                Ok(())
            };
            import_reader_with(
                &mut conn,
                reader,
                &CpvList::default(),
                "live.json",
                ImportOptions {
                    commit: Commit::PerBatch,
                    clock: &clock,
                    on_done: Some(&refresh),
                },
            )
        });
        tokio::task::spawn_blocking(move || paused_rx.recv().unwrap())
            .await
            .unwrap();
        Self {
            resume: resume_tx,
            thread,
        }
    }

    async fn finish(self) -> ImportReport {
        self.resume.send(()).unwrap();
        tokio::task::spawn_blocking(move || self.thread.join().unwrap().unwrap())
            .await
            .unwrap()
    }
}

/// The real server on port 0, whose clock the test sets.
struct Server {
    base: String,
    now: Arc<Mutex<String>>,
    client: reqwest::Client,
}

impl Server {
    async fn start(db: &Path) -> Self {
        let now = Arc::new(Mutex::new(IMPORT_TIME.to_string()));
        let clock_now = now.clone();
        let pool = ProcurementDb::new(db);
        // At start-up, as `app.rs` does: requests find the file migrated.
        pool.prepare().unwrap();
        let state = ProcurementState {
            db: Arc::new(pool),
            ocid_prefix: "ocds-test00".into(),
            publisher_name: "Carnet (tests)".into(),
            base_url: "http://localhost".into(),
            clock: Arc::new(move || clock_now.lock().unwrap().clone()),
        };
        let app = views::router(state.clone()).merge(http::router(state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base: format!("http://{addr}"),
            now,
            client: reqwest::Client::new(),
        }
    }

    fn set_now(&self, t: &str) {
        *self.now.lock().unwrap() = t.to_string();
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK, "{path}");
        response
    }

    async fn text(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    async fn json(&self, path: &str) -> Value {
        serde_json::from_str(&self.text(path).await).unwrap()
    }
}

fn figure(page: &Value, key: &str) -> Value {
    page["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == key)
        .unwrap_or_else(|| panic!("no figure {key} in {page}"))["value"]
        .clone()
}

fn contracts_in_db(db: &Path) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM procurement_contracts", [], |r| {
            r.get(0)
        })
        .unwrap()
}

fn view_state(db: &Path, key: &str) -> Option<String> {
    Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT value FROM procurement_view_state WHERE key = ?1",
            [key],
            |r| r.get(0),
        )
        .ok()
}

/// A database with the Paris sample imported (at [`FIRST_TIME`]) and its views refreshed;
/// the stored overview page carries a mark only the stored table can serve.
fn imported_and_refreshed() -> (tempfile::TempDir, PathBuf, i64) {
    let data = data_dir();
    let cpv = cpv(&data);
    let (dir, mut conn) = fresh_db();
    schema::migrate(&mut conn).unwrap();
    import_file(
        &mut conn,
        &data.join("decp/decp_v1_paris_sample.json"),
        &cpv,
    );
    schema::refresh(&conn).unwrap();
    conn.execute(
        "UPDATE procurement_view_pages SET html = html || '<!-- stored -->'
         WHERE view = 'Overview true'",
        [],
    )
    .unwrap();
    let contracts: i64 = conn
        .query_row("SELECT COUNT(*) FROM procurement_contracts", [], |r| {
            r.get(0)
        })
        .unwrap();
    let db = dir.path().join("carnet.sqlite3");
    (dir, db, contracts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_place_newer_version_makes_the_views_stale_and_the_refresh_shows_the_new_amount() {
    let (dir, mut conn) = fresh_db();
    schema::migrate(&mut conn).unwrap();
    let db = dir.path().join("carnet.sqlite3");
    let n = BATCH_SIZE + 20;
    let v1: Vec<Value> = (0..n)
        .map(|i| record(OTHER_BUYER, i, 1_000, "2024-01-15"))
        .collect();
    let text = json!({ "marches": v1 }).to_string();
    carnet_server::procurement::import::import_reader(
        &mut conn,
        text.as_bytes(),
        &CpvList::default(),
        "v1",
        FIRST_TIME,
    )
    .unwrap();
    schema::refresh(&conn).unwrap();
    let max_rowid = |c: &Connection| -> i64 {
        c.query_row("SELECT MAX(rowid) FROM procurement_contracts", [], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let rowid_before = max_rowid(&conn);
    let version_before = schema::current(&conn).unwrap().unwrap();

    // Newer versions of the same records (later publication, new amount): replaced in
    // place, same rowids, while the run is still `running`.
    let v2: Vec<Value> = (0..n)
        .map(|i| record(OTHER_BUYER, i, 7_000, "2024-02-01"))
        .collect();
    let import = PausedImport::start(&db, v2).await;
    assert_eq!(max_rowid(&conn), rowid_before, "no new rowid");
    let amount: f64 = conn
        .query_row(
            "SELECT amount FROM procurement_contracts WHERE contract_id = 'LIVE-0'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(amount, 7_000.0, "the first batch is committed");
    assert_eq!(
        schema::current(&conn).unwrap(),
        None,
        "the summaries no longer read as current"
    );
    let report = import.finish().await;
    assert_eq!(report.updated, n as u64);

    let version = schema::current(&conn)
        .unwrap()
        .expect("refreshed at the end");
    assert_ne!(version, version_before);
    let headline = views::summary::headline(&conn, schema::Derived::Matching)
        .unwrap()
        .unwrap();
    assert_eq!(headline.contracts, n as i64);
    assert_eq!(headline.amount, 7_000.0 * n as f64);

    // A change outside any import (a fix by hand) is seen too.
    conn.execute(
        "UPDATE procurement_contracts SET amount = 1 WHERE contract_id = 'LIVE-0'",
        [],
    )
    .unwrap();
    assert_eq!(schema::current(&conn).unwrap(), None);
    schema::refresh(&conn).unwrap();
    let headline = views::summary::headline(&conn, schema::Derived::Matching)
        .unwrap()
        .unwrap();
    assert_eq!(headline.amount, 7_000.0 * (n - 1) as f64 + 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_during_a_live_import_serves_the_last_refresh_with_a_notice_and_never_refreshes()
{
    let (_dir, db, before) = imported_and_refreshed();
    let server = Server::start(&db).await;
    let flags_version = view_state(&db, "flags_version").unwrap();
    let n = BATCH_SIZE + 100;
    let records: Vec<Value> = (0..n)
        .map(|i| record(OTHER_BUYER, i, 500, "2024-01-15"))
        .collect();
    let import = PausedImport::start(&db, records).await;
    assert_eq!(contracts_in_db(&db), before + BATCH_SIZE as i64);
    server.set_now("2026-12-06T14:03:30Z");

    // The stored overview, as the last refresh left it, with the notice.
    let html = server.text("/marches").await;
    assert!(
        html.contains("<!-- stored -->"),
        "served from the stored pages"
    );
    assert!(
        html.contains(
            "<p class=\"notice\" role=\"status\">Mise à jour des données en cours depuis \
             14 h 02 (UTC) : les chiffres sont ceux du dernier import terminé, le 1 janvier \
             2026 à 0 h 00 (UTC).</p>"
        ),
        "{html}"
    );
    let overview = server.json("/api/procurement").await;
    assert_eq!(figure(&overview, "contrats"), json!(before));
    assert_eq!(overview["mise_a_jour_en_cours"]["depuis"], IMPORT_TIME);
    assert_eq!(overview["mise_a_jour_en_cours"]["donnees_du"], FIRST_TIME);
    // An unfiltered list past page 1 reads the last refresh's summaries too.
    let buyers = server.json("/api/procurement/acheteurs?page=2").await;
    assert_eq!(
        buyers["pagination"]["total"],
        json!(before_buyers(&db, OTHER_BUYER))
    );
    let csv = server.get("/marches/cpv.csv").await;
    assert_eq!(csv.headers()["x-carnet-import-en-cours"], IMPORT_TIME);
    assert_eq!(csv.headers()["x-carnet-donnees-du"], FIRST_TIME);
    // A filtered view is computed from the data already imported, and says so.
    let filtered = server
        .json(&format!("/api/procurement?acheteur={OTHER_BUYER}"))
        .await;
    assert_eq!(figure(&filtered, "contrats"), json!(BATCH_SIZE));
    assert!(
        filtered["mise_a_jour_en_cours"]["message"]
            .as_str()
            .unwrap()
            .contains("calculée sur les données déjà importées"),
        "{filtered}"
    );
    let html = server
        .text(&format!("/marches/acheteurs/{OTHER_BUYER}"))
        .await;
    assert!(html.contains("Mise à jour des données en cours"), "{html}");

    // No request refreshed: the derived data and the stored pages are the last refresh's.
    assert_eq!(view_state(&db, "flags_version").unwrap(), flags_version);
    assert!(server.text("/marches").await.contains("<!-- stored -->"));

    // The run ends with its refresh, in one transaction: the notice is gone, the new
    // figures are there.
    let report = import.finish().await;
    assert_eq!(report.inserted, n as u64);
    server.set_now("2026-12-06T14:05:00Z");
    let html = server.text("/marches").await;
    assert!(!html.contains("Mise à jour des données en cours"));
    assert!(
        !html.contains("<!-- stored -->"),
        "pages rebuilt by the import"
    );
    let overview = server.json("/api/procurement").await;
    assert_eq!(figure(&overview, "contrats"), json!(before + n as i64));
    assert!(overview.get("mise_a_jour_en_cours").is_none());
    let csv = server.get("/marches/cpv.csv").await;
    assert!(csv.headers().get("x-carnet-import-en-cours").is_none());
}

/// Buyers in the database other than `except` (the groups the last refresh ranked).
fn before_buyers(db: &Path, except: &str) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT COUNT(DISTINCT buyer_id) FROM procurement_contracts WHERE buyer_id != ?1",
            [except],
            |r| r.get(0),
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_heartbeat_is_stale_no_longer_blocks_the_refresh() {
    let (_dir, db, before) = imported_and_refreshed();
    let server = Server::start(&db).await;
    let n = BATCH_SIZE + 100;
    let records: Vec<Value> = (0..n)
        .map(|i| record(OTHER_BUYER, i, 500, "2024-01-15"))
        .collect();
    let import = PausedImport::start(&db, records).await;
    // Just alive: the notice, the old figures.
    server.set_now("2026-12-06T14:06:59Z");
    let overview = server.json("/api/procurement").await;
    assert_eq!(figure(&overview, "contrats"), json!(before));
    assert!(overview.get("mise_a_jour_en_cours").is_some());
    // Five minutes without a batch: dead. The request refreshes, marks the run failed.
    server.set_now("2026-12-06T14:07:00Z");
    let overview = server.json("/api/procurement").await;
    assert!(overview.get("mise_a_jour_en_cours").is_none(), "{overview}");
    assert_eq!(
        figure(&overview, "contrats"),
        json!(before + BATCH_SIZE as i64)
    );
    let (status, error): (String, String) = Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT status, error FROM procurement_import_runs WHERE source = 'live.json'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(status, "failed");
    assert_eq!(
        error,
        format!("interrompu : aucun signe de vie depuis {IMPORT_TIME}")
    );
    // It was only stalled: its next batch says it is alive again, and it ends done.
    let report = import.finish().await;
    assert_eq!(report.inserted, n as u64);
    let status: String = Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT status FROM procurement_import_runs WHERE source = 'live.json'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "done");
    let overview = server.json("/api/procurement").await;
    assert_eq!(figure(&overview, "contrats"), json!(before + n as i64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_heartbeat_while_the_run_holds_the_write_lock_is_an_import_finishing() {
    let (_dir, db, before) = imported_and_refreshed();
    let server = Server::start(&db).await;
    // A run whose last batch beat long ago and whose process now holds the write lock
    // (its final transaction: the views' refresh, minutes at 1M), the data changed.
    let importer = Connection::open(&db).unwrap();
    importer
        .execute(
            "INSERT INTO procurement_import_runs(source, started_at, heartbeat_at, status)
             VALUES ('big.json', ?1, ?1, 'running')",
            [IMPORT_TIME],
        )
        .unwrap();
    importer
        .execute(
            "UPDATE procurement_contracts SET amount = amount + 1 WHERE rowid = 1",
            [],
        )
        .unwrap();
    importer.execute_batch("BEGIN IMMEDIATE").unwrap();
    server.set_now("2026-12-06T15:00:00Z");
    // Not waited for (a refresh would wait for the lock, then fail): the notice.
    let overview = server.json("/api/procurement").await;
    assert_eq!(figure(&overview, "contrats"), json!(before));
    assert_eq!(overview["mise_a_jour_en_cours"]["depuis"], IMPORT_TIME);
    // The process died: lock released, no heartbeat. The next request refreshes.
    importer.execute_batch("ROLLBACK").unwrap();
    drop(importer);
    let overview = server.json("/api/procurement").await;
    assert!(overview.get("mise_a_jour_en_cours").is_none(), "{overview}");
    let status: String = Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT status FROM procurement_import_runs WHERE source = 'big.json'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_import_leaves_the_views_as_they_were() {
    let (_dir, db, before) = imported_and_refreshed();
    let server = Server::start(&db).await;
    server.set_now("2026-12-06T14:10:00Z");
    let html_before = server.text("/marches/acheteurs").await;
    let json_before = server.json("/api/procurement").await;
    assert_eq!(figure(&json_before, "contrats"), json!(before));
    // A document cut after more than a batch, imported all-or-nothing (a download), and
    // one cut inside its first batch, imported batch by batch: neither stores a contract.
    let records: Vec<Value> = (0..BATCH_SIZE + 10)
        .map(|i| record(OTHER_BUYER, i, 500, "2024-01-15"))
        .collect();
    let whole = json!({ "marches": records }).to_string();
    for (commit, cut) in [
        (Commit::AllOrNothing, whole.len() - 40),
        (Commit::PerBatch, 2_000),
    ] {
        let mut conn = carnet_server::procurement::db::open(&db).unwrap();
        let clock = || IMPORT_TIME.to_string();
        let result = import_reader_with(
            &mut conn,
            &whole.as_bytes()[..cut],
            &CpvList::default(),
            "cut.json",
            ImportOptions {
                commit,
                clock: &clock,
                on_done: None,
            },
        );
        assert!(
            matches!(result, Err(ImportError::Stopped { committed: 0, .. })),
            "{commit:?}: {result:?}"
        );
        assert_eq!(contracts_in_db(&db), before);
        let json_after = server.json("/api/procurement").await;
        assert_eq!(json_after, json_before, "{commit:?}");
        assert_eq!(
            server.text("/marches/acheteurs").await,
            html_before,
            "{commit:?}"
        );
    }
}

#[test]
fn a_failed_end_step_keeps_the_import_and_marks_the_run_done() {
    let (_dir, db, before) = imported_and_refreshed();
    let flags_version = view_state(&db, "flags_version").unwrap();
    let records: Vec<Value> = (0..10)
        .map(|i| record(OTHER_BUYER, i, 500, "2024-01-15"))
        .collect();
    let text = json!({ "marches": records }).to_string();
    let mut conn = carnet_server::procurement::db::open(&db).unwrap();
    let clock = || IMPORT_TIME.to_string();
    // Writes, then fails: what it wrote is rolled back with it, nothing else.
    let failing = |c: &Connection,
                   _: &ImportReport|
     -> Result<(), carnet_server::procurement::import::FinishError> {
        c.execute(
            "UPDATE procurement_view_state SET value = 'x' WHERE key = 'flags_version'",
            [],
        )?;
        Err("refresh failed".into())
    };
    let result = import_reader_with(
        &mut conn,
        text.as_bytes(),
        &CpvList::default(),
        "end.json",
        ImportOptions {
            commit: Commit::PerBatch,
            clock: &clock,
            on_done: Some(&failing),
        },
    );
    match result {
        Err(ImportError::Finish { source, report }) => {
            assert_eq!(source.to_string(), "refresh failed");
            assert_eq!(report.inserted, 10);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(contracts_in_db(&db), before + 10);
    assert_eq!(view_state(&db, "flags_version").unwrap(), flags_version);
    let (status, finished): (String, String) = conn
        .query_row(
            "SELECT status, finished_at FROM procurement_import_runs WHERE source = 'end.json'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), finished.as_str()), ("done", IMPORT_TIME));
    // The derived data is stale, not current: the next request refreshes it.
    assert_eq!(schema::current(&conn).unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_batch_waits_for_a_refresh_holding_the_lock_instead_of_failing() {
    let (_dir, db, before) = imported_and_refreshed();
    let (waiting_tx, waiting_rx) = mpsc::channel();
    *BUSY.lock().unwrap() = Some(waiting_tx);
    let n = BATCH_SIZE + 100;
    let records: Vec<Value> = (0..n)
        .map(|i| record(OTHER_BUYER, i, 500, "2024-01-15"))
        .collect();
    let import = PausedImport::start_with(&db, records, true).await;
    // Between two batches, a server takes the write lock (a refresh after a dead run) …
    let holder = Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    holder
        .execute(
            "INSERT INTO procurement_view_state(key, value) VALUES ('held', 'x')",
            [],
        )
        .unwrap();
    import.resume.send(()).unwrap();
    // … the importer's next batch waits for it …
    tokio::task::spawn_blocking(move || waiting_rx.recv().unwrap())
        .await
        .unwrap();
    // … and the holder commits a change. A deferred batch transaction that had read
    // before waiting fails here at once (SQLITE_BUSY_SNAPSHOT): "database is locked".
    holder.execute_batch("COMMIT").unwrap();
    let report = tokio::task::spawn_blocking(move || import.thread.join().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.inserted, n as u64);
    assert_eq!(contracts_in_db(&db), before + n as i64);
}
