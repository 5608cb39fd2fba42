//! The summary tables of the unfiltered views (`views::summary`) and the page marks behind
//! deep pages: after an import, a re-import and a newer version of a record, every summary
//! equals what the views compute from the contracts, and page N read from its mark equals
//! page N read with `OFFSET`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod procurement_common;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use carnet_server::procurement::http::{self, ProcurementState};
use carnet_server::procurement::import::import_reader;
use carnet_server::procurement::pool::ProcurementDb;
use carnet_server::procurement::publish::{self, ContractFilter, Page};
use carnet_server::procurement::views::filter::Filter;
use carnet_server::procurement::views::schema::Derived;
use carnet_server::procurement::views::stats::{self, Dimension};
use carnet_server::procurement::views::summary::{self, Listing, MARK_STRIDE, Rendering};
use carnet_server::procurement::views::{self, View, schema};
use http_body_util::BodyExt;
use procurement_common::*;
use rusqlite::Connection;
use serde_json::{Value, json};
use tower::ServiceExt;

const DIMENSIONS: [Dimension; 4] = [
    Dimension::Buyer,
    Dimension::Supplier,
    Dimension::CpvDivision,
    Dimension::Procedure,
];

fn unfiltered_views() -> Vec<(View, bool)> {
    let mut v = vec![
        (View::Overview, true),
        (View::OverTime, true),
        (View::OverTime, false),
        (View::Buyers, true),
        (View::Suppliers, true),
        (View::Cpv, true),
        (View::Procedures, true),
        (View::Amounts, true),
        (View::Amendments, true),
        (View::Competition, true),
        (View::Concentration, true),
        (View::Quality, true),
        (View::Contracts, true),
        (View::Flags, true),
    ];
    for f in views::redflags::FLAGS {
        v.push((View::Flag(f.slug.to_string()), true));
    }
    v
}

/// Renders every unfiltered view from the contracts alone: inside a transaction that
/// marks the derived data stale (so no summary is read), rolled back afterwards.
fn computed_pages(conn: &Connection) -> Vec<(String, String, String, String)> {
    conn.execute_batch("BEGIN").unwrap();
    conn.execute(
        "DELETE FROM procurement_view_state WHERE key = 'flags_version'",
        [],
    )
    .unwrap();
    assert!(
        summary::headline(conn, Derived::Matching)
            .unwrap()
            .is_none(),
        "stale = unused"
    );
    let pages = unfiltered_views()
        .iter()
        .map(|(view, by_year)| {
            let r = summary::render_unfiltered(conn, view, *by_year).unwrap();
            (
                summary::page_key(view, *by_year).unwrap(),
                r.html,
                r.csv,
                r.json,
            )
        })
        .collect();
    conn.execute_batch("ROLLBACK").unwrap();
    pages
}

/// Asserts that every summary equals its computation from the contracts; returns the
/// headline (to compare states).
fn assert_summaries_match(conn: &Connection, when: &str) -> stats::Headline {
    let all = Filter::default();
    let stored = summary::headline(conn, Derived::Matching)
        .unwrap()
        .expect(when);
    assert_eq!(
        stored,
        stats::headline_computed(conn, &all).unwrap(),
        "{when}"
    );
    for dim in DIMENSIONS {
        let (computed, total) = stats::groups_computed(conn, &all, dim, -1, 0).unwrap();
        let (from_summary, stored_total) = summary::groups(conn, Derived::Matching, dim, -1, 0)
            .unwrap()
            .unwrap();
        assert_eq!(stored_total, total, "{when}: {dim:?} total");
        assert_eq!(from_summary, computed, "{when}: {dim:?}");
        // A page in the middle: the same slice.
        let (page, _) = summary::groups(conn, Derived::Matching, dim, 7, 3)
            .unwrap()
            .unwrap();
        let (expected, _) = stats::groups_computed(conn, &all, dim, 7, 3).unwrap();
        assert_eq!(page, expected, "{when}: {dim:?} page");
    }
    for (key, html, csv, json) in computed_pages(conn) {
        for (rendering, expected) in [
            (Rendering::Html, html),
            (Rendering::Csv, csv),
            (Rendering::Json, json),
        ] {
            let (body, _) = summary::stored_page(conn, &key, rendering, Derived::Matching)
                .unwrap()
                .unwrap_or_else(|| panic!("{when}: {key} not stored"));
            assert_eq!(body, expected, "{when}: {key} {rendering:?}");
        }
    }
    stored
}

fn import_json(
    conn: &mut Connection,
    json: &Value,
    cpv: &carnet_server::procurement::quality::CpvList,
    label: &str,
) {
    let text = json.to_string();
    import_reader(conn, text.as_bytes(), cpv, label, "2026-01-02T00:00:00Z").unwrap();
}

/// Records that land in the undated tail of the lists, and one more page mark.
fn undated_records(n: usize) -> Value {
    let marches: Vec<Value> = (0..n)
        .map(|i| {
            json!({"id": format!("SANS-DATE-{i}"), "acheteur": {"id": "21750001600019"},
                   "montant": 1000 + i, "titulaires": [{"typeIdentifiant": "SIRET", "id": "73282932000074"}],
                   "modifications": []})
        })
        .collect();
    json!({ "marches": marches })
}

#[test]
fn summary_tables_equal_the_computed_aggregates_after_import_reimport_and_newer_version() {
    let data = data_dir();
    let cpv = cpv(&data);
    let (_dir, mut conn) = fresh_db();
    schema::migrate(&mut conn).unwrap();
    let source = data.join("decp/sources/aife_2019-04-04.json");
    import_file(&mut conn, &source, &cpv);
    // Imported, not yet refreshed: the summaries are not used.
    assert!(
        summary::headline(&conn, Derived::Matching)
            .unwrap()
            .is_none()
    );
    assert!(
        summary::stored_page(&conn, "Overview true", Rendering::Html, Derived::Matching)
            .unwrap()
            .is_none()
    );
    schema::refresh(&conn).unwrap();
    let first = assert_summaries_match(&conn, "after import");
    assert!(
        first.contracts > 4000 && first.without_date > 0,
        "{first:?}"
    );

    // Re-import of the same file: nothing changes, the summaries still match.
    import_file(&mut conn, &source, &cpv);
    schema::refresh(&conn).unwrap();
    assert_eq!(assert_summaries_match(&conn, "after re-import"), first);

    // A newer version of a record (one more modification with an amount) and new
    // contracts: the figures move and the summaries follow.
    let original: Value = serde_json::from_slice(&std::fs::read(&source).unwrap()).unwrap();
    let mut record = original["marches"][0].clone();
    record["modifications"] = json!([{
        "objetModification": "avenant", "montant": 5_000_000,
        "datePublicationDonneesModification": "2019-06-01"
    }]);
    import_json(&mut conn, &json!({ "marches": [record] }), &cpv, "newer");
    import_json(&mut conn, &undated_records(3), &cpv, "undated");
    schema::refresh(&conn).unwrap();
    let newer = assert_summaries_match(&conn, "after a newer version");
    assert_eq!(newer.contracts, first.contracts + 3);
    assert_eq!(newer.modified, first.modified + 1);
    assert_ne!(newer, first);
}

/// Rowids of the unfiltered OCDS listing, page by `OFFSET` (the reference).
fn ocds_page_by_offset(conn: &Connection, per_page: i64, offset: i64) -> Vec<i64> {
    let mut stmt = conn
        .prepare(
            "SELECT rowid FROM procurement_contracts
             ORDER BY date_notification, buyer_id, contract_id LIMIT ? OFFSET ?",
        )
        .unwrap();
    stmt.query_map([per_page, offset], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<Vec<i64>>>()
        .unwrap()
}

#[test]
fn deep_pages_start_from_their_page_mark_and_equal_offset_pages() {
    let data = data_dir();
    let cpv = cpv(&data);
    let (_dir, mut conn) = fresh_db();
    schema::migrate(&mut conn).unwrap();
    import_file(
        &mut conn,
        &data.join("decp/sources/aife_2019-04-04.json"),
        &cpv,
    );
    import_json(&mut conn, &undated_records(5), &cpv, "undated");
    schema::refresh(&conn).unwrap();
    let total: i64 = conn
        .query_row("SELECT COUNT(*) FROM procurement_contracts", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(total > 20 * MARK_STRIDE, "{total}");
    let marks: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM procurement_page_marks WHERE listing = 'ocds'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(marks, total / MARK_STRIDE);

    // OCDS packages: pages of several sizes, across marks, up to and past the end.
    for per_page in [7_u32, 100, 250] {
        let last = (total + i64::from(per_page) - 1) / i64::from(per_page);
        for page in [1, 2, 14, 15, last / 2, last - 1, last, last + 1] {
            let page = u32::try_from(page.max(1)).unwrap();
            let got: Vec<i64> = publish::contracts(
                &conn,
                &ContractFilter::default(),
                Page {
                    page,
                    per_page,
                    after: None,
                },
            )
            .unwrap()
            .iter()
            .map(|s| s.rowid)
            .collect();
            let offset = (i64::from(page) - 1) * i64::from(per_page);
            assert_eq!(
                got,
                ocds_page_by_offset(&conn, i64::from(per_page), offset),
                "per_page {per_page} page {page}"
            );
        }
    }
    // The seek itself: a deep offset starts from a mark and skips less than a stride.
    let Some(summary::Start::At { after, rest }) =
        summary::seek(&conn, Derived::Matching, Listing::Ocds, 1234).unwrap()
    else {
        panic!("offset 1234 is inside the table");
    };
    assert!(after.is_some());
    assert_eq!(rest, 34);
    // Far past the end: known empty from the marks, no OFFSET walk.
    let past = (total / MARK_STRIDE + 1) * MARK_STRIDE;
    for offset in [past, i64::from(u32::MAX) * 250] {
        assert_eq!(
            summary::seek(&conn, Derived::Matching, Listing::Ocds, offset).unwrap(),
            Some(summary::Start::PastEnd)
        );
    }
    let far = publish::contracts(
        &conn,
        &ContractFilter::default(),
        Page {
            page: u32::MAX,
            per_page: 250,
            after: None,
        },
    )
    .unwrap();
    assert!(far.is_empty());
    let (rows, far_total) =
        stats::contracts(&conn, &Filter::default(), None, 50, i64::MAX / 2).unwrap();
    assert!(rows.is_empty());
    assert_eq!(far_total, total);

    // The views' contract list (newest first, undated last): same rows as the computed
    // query for pages across marks, in the undated tail and past the end.
    let all = Filter::default();
    let per = 50;
    let last = (total + per - 1) / per;
    for page in [1, 2, 3, 10, last / 2, last - 1, last, last + 1] {
        let offset = (page - 1) * per;
        let (fast, fast_total) = stats::contracts(&conn, &all, None, per, offset).unwrap();
        let (slow, slow_total) = stats::contracts_computed(&conn, &all, None, per, offset).unwrap();
        assert_eq!(fast_total, slow_total);
        assert_eq!(fast, slow, "contract list page {page}");
    }
    let undated: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM procurement_contracts WHERE date_notification IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(undated > per, "the undated tail spans pages ({undated})");
}

async fn get(app: &Router, uri: &str) -> (StatusCode, String) {
    let response = app
        .clone()
        .oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn app(path: std::path::PathBuf) -> Router {
    let state = ProcurementState {
        db: Arc::new(ProcurementDb::new(path)),
        ocid_prefix: "ocds-test00".into(),
        publisher_name: "Carnet (tests)".into(),
        base_url: "http://localhost".into(),
        clock: Arc::new(|| "2026-01-01T00:00:00Z".to_string()),
    };
    views::router(state.clone()).merge(http::router(state))
}

#[tokio::test]
async fn a_fresh_server_process_serves_unfiltered_views_from_the_stored_pages() {
    let data = data_dir();
    let cpv = cpv(&data);
    let (dir, mut conn) = fresh_db();
    schema::migrate(&mut conn).unwrap();
    import_file(
        &mut conn,
        &data.join("decp/sources/pes_2019-02-01_merged.json"),
        &cpv,
    );
    schema::refresh(&conn).unwrap();
    // Mark the stored overview so the test can tell it was served from the table (the
    // server cannot have computed this text).
    conn.execute(
        "UPDATE procurement_view_pages SET html = html || '<!-- stored -->'
         WHERE view = 'Overview true'",
        [],
    )
    .unwrap();
    drop(conn);
    let app = app(dir.path().join("carnet.sqlite3"));
    let (status, body) = get(&app, "/marches").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.ends_with("<!-- stored -->"), "served from the table");
    // A filter is computed (not from the table), and answers.
    let (status, body) = get(&app, "/marches?du=2018-01-01").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains("<!-- stored -->"));
    // CSV and JSON of the same view come from the table too, with their headers.
    let response = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/marches/cpv.csv")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("content-disposition")
            .unwrap()
            .to_str()
            .unwrap(),
        "attachment; filename=\"cpv.csv\""
    );
    let (status, body) = get(&app, "/api/procurement/acheteurs").await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["view"], "acheteurs", "{v}");
}

/// The query plan of the headline count within `filter`.
fn plan(conn: &Connection, filter: &Filter) -> String {
    let (w, args) = filter.where_clause();
    let mut stmt = conn
        .prepare(&format!(
            "EXPLAIN QUERY PLAN SELECT COUNT(*), SUM(c.amount) FROM procurement_contracts c {w}"
        ))
        .unwrap();
    stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap()
        .join(" / ")
}

#[test]
fn filtered_views_search_an_index_for_each_filter() {
    let (_dir, mut conn) = fresh_db();
    schema::migrate(&mut conn).unwrap();
    for query in [
        "du=2019-01-01&au=2019-06-30",
        "acheteur=21750001600019",
        "titulaire=73282932000074",
        "cpv=45",
        "procedure=Appel%20d%27offres%20ouvert",
        "min=40000",
        "max=90000",
        "min=40000&max=90000",
    ] {
        let filter = Filter::parse_query(query).unwrap();
        let plan = plan(&conn, &filter);
        assert!(
            plan.contains("SEARCH c ") && !plan.contains("SCAN c"),
            "{query}: {plan}"
        );
    }
    // `modifie=oui|non` alone has no index (a per-row index for a yes/no column would slow
    // every import for little): it scans, and says so here.
    let plan = plan(&conn, &Filter::parse_query("modifie=oui").unwrap());
    assert!(plan.contains("SCAN c"), "{plan}");
}

#[test]
fn a_database_from_before_the_summary_tables_gets_them_at_the_next_refresh() {
    let data = data_dir();
    let cpv = cpv(&data);
    let (_dir, mut conn) = fresh_db();
    schema::migrate(&mut conn).unwrap();
    import_file(
        &mut conn,
        &data.join("decp/sources/pes_2019-02-01_merged.json"),
        &cpv,
    );
    schema::refresh(&conn).unwrap();
    // Back to the views' schema version 1 with current flags and no summary tables (nor
    // the supplier keys of version 3).
    conn.execute_batch(
        "DROP TABLE procurement_view_headline; DROP TABLE procurement_view_groups;
         DROP TABLE procurement_page_marks; DROP TABLE procurement_view_pages;
         DROP TABLE procurement_supplier_keys;
         UPDATE schema_migrations SET version = 1 WHERE namespace = 'carnet-server.procurement-views';",
    )
    .unwrap();
    assert!(schema::current(&conn).unwrap().is_some());
    schema::migrate(&mut conn).unwrap();
    assert!(
        schema::current(&conn).unwrap().is_none(),
        "empty summaries must not count as current"
    );
    assert!(
        summary::groups(&conn, Derived::Matching, Dimension::Buyer, 10, 0)
            .unwrap()
            .is_none()
    );
    schema::refresh(&conn).unwrap();
    assert_summaries_match(&conn, "after the upgrade");
}
