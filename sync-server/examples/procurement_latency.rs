//! In-process latency of the public procurement routes over an imported database, for the
//! procurement benchmarks (`scripts/bench-procurement.sh`).
//!
//! `cargo run --release -p carnet-server --example procurement_latency -- --db X.sqlite3 \
//!   (the server database given to `procurement import`; read: X.procurement.sqlite3)
//!   [--requests 50]`
//!
//! Each URL is requested `--requests` times in a row through the axum router with
//! `tower::ServiceExt::oneshot` (no socket: this measures routing, SQLite and rendering,
//! not the network). Prints one Markdown table row per URL: p50, p95, max, body size.
//! Sample buyers, suppliers, CPV divisions and ocids are read from the database
//! (deterministically: the most frequent ones and evenly spaced rowids).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use carnet_server::procurement::http::{ProcurementState, router};
use http_body_util::BodyExt;
use rusqlite::{Connection, OptionalExtension};
use tower::ServiceExt;

const OCID_PREFIX: &str = "ocds-bench";

struct Args {
    db: PathBuf,
    requests: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        db: PathBuf::new(),
        requests: 50,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--db" => args.db = value.into(),
            "--requests" => args.requests = value.parse().context("--requests")?,
            other => bail!("unknown option {other}"),
        }
    }
    if args.db.as_os_str().is_empty() {
        bail!("--db is required");
    }
    // `--db` names the server database, as given to `procurement import`; the data is in
    // its procurement file.
    args.db = carnet_server::procurement::db::path_for(&args.db);
    Ok(args)
}

/// Query-string-safe form of an identifier taken from the data (SIRETs, contract ids
/// may hold spaces or slashes).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Samples {
    top_buyer: String,
    mid_buyer: String,
    top_supplier: String,
    /// Last page of the largest supplier's listing (per_page 100).
    top_supplier_last_page: i64,
    division: String,
    ocids: Vec<String>,
    rowids: Vec<i64>,
    /// Keyset cursors equivalent to `page=100` and to the last page (per_page 100).
    after_page_100: i64,
    after_last_page: i64,
    total: i64,
}

fn samples(conn: &Connection) -> anyhow::Result<Samples> {
    let one = |sql: &str| -> anyhow::Result<String> {
        conn.query_row(sql, [], |r| r.get::<_, String>(0))
            .optional()?
            .with_context(|| format!("no sample for {sql}"))
    };
    let total: i64 = conn.query_row("SELECT COUNT(*) FROM procurement_contracts", [], |r| {
        r.get(0)
    })?;
    let top_buyer = one(
        "SELECT buyer_id FROM procurement_contracts GROUP BY buyer_id ORDER BY COUNT(*) DESC, buyer_id LIMIT 1",
    )?;
    let mid_buyer = one(
        "SELECT buyer_id FROM (SELECT buyer_id, COUNT(*) n FROM procurement_contracts GROUP BY buyer_id)
         ORDER BY n DESC, buyer_id LIMIT 1 OFFSET 500",
    )
    .or_else(|_| Ok::<_, anyhow::Error>(top_buyer.clone()))?;
    let top_supplier = one(
        "SELECT s.id FROM procurement_contract_suppliers cs JOIN procurement_suppliers s ON s.rowid = cs.supplier_rowid
         GROUP BY cs.supplier_rowid ORDER BY COUNT(*) DESC, s.id LIMIT 1",
    )?;
    let supplier_contracts: i64 = conn.query_row(
        "SELECT COUNT(DISTINCT cs.contract_rowid) FROM procurement_contract_suppliers cs
         JOIN procurement_suppliers s ON s.rowid = cs.supplier_rowid WHERE s.id = ?1",
        [&top_supplier],
        |r| r.get(0),
    )?;
    let top_supplier_last_page = ((supplier_contracts - 1) / 100 + 1).max(1);
    let division = one(
        "SELECT cpv_division FROM procurement_contracts WHERE cpv_division IS NOT NULL
         GROUP BY cpv_division ORDER BY COUNT(*) DESC LIMIT 1",
    )?;
    let step = (total / 20).max(1);
    let mut stmt = conn.prepare(
        "SELECT buyer_id || contract_id FROM procurement_contracts WHERE rowid % ?1 = 0 ORDER BY rowid LIMIT 20",
    )?;
    let ocids = stmt
        .query_map([step], |r| r.get::<_, String>(0))?
        .map(|r| r.map(|uid| format!("{OCID_PREFIX}-{uid}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut stmt = conn.prepare(
        "SELECT rowid FROM procurement_contracts WHERE rowid % ?1 = 0 ORDER BY rowid LIMIT 20",
    )?;
    let rowids = stmt
        .query_map([step], |r| r.get::<_, i64>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let cursor = |offset: i64| -> anyhow::Result<i64> {
        Ok(conn.query_row(
            "SELECT rowid FROM procurement_contracts
             ORDER BY date_notification, buyer_id, contract_id LIMIT 1 OFFSET ?1",
            [offset.max(0)],
            |r| r.get(0),
        )?)
    };
    let after_page_100 = cursor(99 * 100 - 1)?;
    let after_last_page = cursor(((total - 1) / 100) * 100 - 1)?;
    Ok(Samples {
        top_buyer,
        mid_buyer,
        top_supplier,
        top_supplier_last_page,
        division,
        ocids,
        rowids,
        after_page_100,
        after_last_page,
        total,
    })
}

/// (label, URLs cycled through). Labels are stable so runs can be compared.
fn cases(s: &Samples) -> Vec<(String, Vec<String>)> {
    let last_page = (s.total / 100).max(1);
    let mut out: Vec<(String, Vec<String>)> = vec![
        (
            "/ocds/releases (page 1)".into(),
            vec!["/ocds/releases".into()],
        ),
        (
            "/ocds/releases?page=100".into(),
            vec!["/ocds/releases?page=100".into()],
        ),
        (
            format!("/ocds/releases?page={last_page} (last)"),
            vec![format!("/ocds/releases?page={last_page}")],
        ),
        (
            "/ocds/releases?after= (keyset, = page 100)".into(),
            vec![format!("/ocds/releases?after={}", s.after_page_100)],
        ),
        (
            "/ocds/releases?after= (keyset, = last page)".into(),
            vec![format!("/ocds/releases?after={}", s.after_last_page)],
        ),
        (
            "/ocds/releases?buyer= (largest buyer)".into(),
            vec![format!("/ocds/releases?buyer={}", enc(&s.top_buyer))],
        ),
        (
            "/ocds/releases?buyer= (500th buyer)".into(),
            vec![format!("/ocds/releases?buyer={}", enc(&s.mid_buyer))],
        ),
        (
            "/ocds/releases?supplier= (largest supplier)".into(),
            vec![format!("/ocds/releases?supplier={}", enc(&s.top_supplier))],
        ),
        (
            "/ocds/releases?supplier=&page={last} (largest supplier)".into(),
            vec![format!(
                "/ocds/releases?supplier={}&page={}",
                enc(&s.top_supplier),
                s.top_supplier_last_page
            )],
        ),
        (
            "/ocds/releases?cpv=&date_from=&date_to=".into(),
            vec![format!(
                "/ocds/releases?cpv={}&date_from=2021-01-01&date_to=2021-06-30",
                enc(&s.division)
            )],
        ),
        (
            "/ocds/records (page 1)".into(),
            vec!["/ocds/records".into()],
        ),
        (
            "/ocds/records/{ocid} (20 ocids)".into(),
            s.ocids
                .iter()
                .map(|o| format!("/ocds/records/{}", enc(o)))
                .collect(),
        ),
        (
            "/ocds/releases/{ocid} (20 ocids)".into(),
            s.ocids
                .iter()
                .map(|o| format!("/ocds/releases/{}", enc(o)))
                .collect(),
        ),
    ];
    out.extend(extra_cases(s));
    out
}

/// The public views (HTML, JSON and CSV). Page 1 of an unfiltered view is stored by the
/// import (`views::summary`): its "first" column is a read of the stored page by a fresh
/// process. Other pages are computed once and then served from the in-memory page cache:
/// their "first" column is the computation, p50/p95 the cached path.
fn extra_cases(s: &Samples) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = [
        "",
        "/periodes",
        "/acheteurs",
        "/titulaires",
        "/cpv",
        "/procedures",
        "/montants",
        "/modifications",
        "/concurrence",
        "/concentration",
        "/alertes",
        "/alertes/sans-concurrence",
        "/qualite",
        "/contrats",
        "/contrats?page=100",
    ]
    .iter()
    .map(|p| (format!("/marches{p}"), vec![format!("/marches{p}")]))
    .collect();
    let last_view_page = ((s.total + 49) / 50).max(1);
    out.push((
        "/marches/contrats?page={last}".into(),
        vec![format!("/marches/contrats?page={last_view_page}")],
    ));
    out.push((
        "/marches/titulaires?page=100".into(),
        vec!["/marches/titulaires?page=100".into()],
    ));
    out.push((
        "/marches/acheteurs/{largest buyer}".into(),
        vec![format!("/marches/acheteurs/{}", enc(&s.top_buyer))],
    ));
    out.push((
        "/marches/titulaires/{largest supplier}".into(),
        vec![format!("/marches/titulaires/{}", enc(&s.top_supplier))],
    ));
    out.push((
        "/marches/contrats/{rowid} (20 contracts)".into(),
        s.rowids
            .iter()
            .map(|r| format!("/marches/contrats/{r}"))
            .collect(),
    ));
    out.push((
        "/marches?du=&au=&cpv= (filtered)".into(),
        vec![format!(
            "/marches?du=2021-01-01&au=2021-06-30&cpv={}",
            enc(&s.division)
        )],
    ));
    out.push((
        "/api/procurement (JSON)".into(),
        vec!["/api/procurement".into()],
    ));
    out.push(("/marches/cpv.csv".into(), vec!["/marches/cpv.csv".into()]));
    out
}

/// The routes over `db`, opened and migrated first as the server does at start-up (a new
/// migration's cost is not any route's first request).
fn app(db: PathBuf) -> anyhow::Result<Router> {
    let db = std::sync::Arc::new(carnet_server::procurement::pool::ProcurementDb::new(db));
    let started = Instant::now();
    db.prepare()?;
    eprintln!("opened and migrated in {} ms", ms(started.elapsed()));
    let state = ProcurementState {
        db,
        ocid_prefix: OCID_PREFIX.into(),
        publisher_name: "bench".into(),
        base_url: "http://127.0.0.1".into(),
        clock: Arc::new(|| "2026-01-01T00:00:00Z".to_string()),
    };
    Ok(router(state.clone()).merge(carnet_server::procurement::views::router(state)))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let conn = Connection::open(&args.db)?;
    let s = samples(&conn)?;
    drop(conn);
    let app = app(args.db.clone())?;
    println!("| route | requests | first ms | p50 ms | p95 ms | max ms | body KiB | status |");
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    for (label, urls) in cases(&s) {
        // One warm-up request, timed apart: the first touch of a page range reads it from
        // disk, and a view page is computed then cached.
        let started = Instant::now();
        let first = app
            .clone()
            .oneshot(Request::get(&urls[0]).body(Body::empty())?)
            .await?;
        let _ = first.into_body().collect().await?;
        let first = started.elapsed();
        let mut times = Vec::with_capacity(args.requests);
        let mut bytes = 0usize;
        let mut status = StatusCode::OK;
        for i in 0..args.requests {
            let url = &urls[i % urls.len()];
            let started = Instant::now();
            let response = app
                .clone()
                .oneshot(Request::get(url).body(Body::empty())?)
                .await?;
            let code = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            times.push(started.elapsed());
            bytes = body.len();
            if code != StatusCode::OK {
                status = code;
            }
        }
        times.sort();
        println!(
            "| `{label}` | {} | {} | {} | {} | {} | {:.0} | {} |",
            args.requests,
            ms(first),
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95)),
            ms(times[times.len() - 1]),
            bytes as f64 / 1024.0,
            status.as_u16()
        );
    }
    Ok(())
}
