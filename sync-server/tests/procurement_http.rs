//! The `/ocds/...` routes served by the real router over a real database.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod procurement_common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use carnet_server::procurement::http::{ProcurementState, router};
use carnet_server::procurement::pool::ProcurementDb;
use http_body_util::BodyExt;
use procurement_common::*;
use serde_json::Value;
use tower::ServiceExt;

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, axum::http::HeaderMap, Value) {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Every ocid of a listing walked by page number (`&page=N` appended).
async fn ocids_by_page(app: &axum::Router, first: &str) -> Vec<String> {
    let mut out = Vec::new();
    for page in 1.. {
        let (_, _, body) = get(app, &format!("{first}&page={page}")).await;
        let records = body["records"].as_array().unwrap();
        if records.is_empty() {
            break;
        }
        out.extend(
            records
                .iter()
                .map(|r| r["ocid"].as_str().unwrap().to_string()),
        );
    }
    out
}

/// Every ocid of a listing walked through the `Link: rel="next"` headers.
async fn ocids_by_link(app: &axum::Router, first: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut next = Some(first.to_string());
    while let Some(uri) = next.take() {
        let (status, headers, body) = get(app, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        out.extend(
            body["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["ocid"].as_str().unwrap().to_string()),
        );
        next = headers.get("link").map(|l| {
            let l = l.to_str().unwrap();
            let start = l.find("/ocds/").unwrap();
            l[start..l.find('>').unwrap()].to_string()
        });
    }
    out
}

/// A fresh database with `files` (under `decp/`) imported, and its contract count.
fn imported(
    data: &std::path::Path,
    files: &[&str],
) -> (tempfile::TempDir, rusqlite::Connection, i64) {
    let cpv = cpv(data);
    let (dir, mut conn) = fresh_db();
    for f in files {
        import_file(&mut conn, &data.join("decp").join(f), &cpv);
    }
    let total = conn
        .query_row("SELECT COUNT(*) FROM procurement_contracts", [], |r| {
            r.get(0)
        })
        .unwrap();
    (dir, conn, total)
}

/// The OCDS router over `dir/carnet.sqlite3`.
fn app_over(dir: &std::path::Path) -> axum::Router {
    router(ProcurementState {
        db: Arc::new(ProcurementDb::new(dir.join("carnet.sqlite3"))),
        ocid_prefix: "ocds-test".into(),
        publisher_name: "Ville de Paris".into(),
        base_url: "https://carnet.example.org".into(),
        clock: Arc::new(|| "2026-01-01T00:00:00Z".to_string()),
    })
}

#[tokio::test]
async fn ocds_routes_page_filter_and_find_by_ocid() {
    let data = data_dir();
    let (dir, conn, total) = imported(&data, &["decp_v1_with_modifications_sample.json"]);
    drop(conn);
    let app = app_over(dir.path());

    let (status, headers, body) = get(&app, "/ocds/records?page=1&per_page=10").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["records"].as_array().unwrap().len(), 10);
    assert_eq!(headers["x-total-count"], total.to_string().as_str());
    let link = headers["link"].to_str().unwrap();
    assert!(
        link.contains("after=") && link.contains("per_page=10"),
        "{link}"
    );
    assert_eq!(
        body["extensions"][0],
        "https://carnet.example.org/ocds/extension/extension.json"
    );

    // Pages partition the contracts.
    let mut seen = std::collections::BTreeSet::new();
    let mut page = 1;
    loop {
        let (_, _, body) = get(&app, &format!("/ocds/records?page={page}&per_page=40")).await;
        let records = body["records"].as_array().unwrap();
        if records.is_empty() {
            break;
        }
        for r in records {
            assert!(seen.insert(r["ocid"].as_str().unwrap().to_string()));
        }
        page += 1;
    }
    assert_eq!(seen.len() as i64, total);

    let ocid = seen.iter().next().unwrap().clone();
    let (status, _, body) = get(&app, &format!("/ocds/records/{ocid}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["records"][0]["ocid"], ocid.as_str());
    let (status, _, body) = get(&app, &format!("/ocds/releases/{ocid}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["releases"].as_array().unwrap().len() >= 2);
    let (status, _, _) = get(&app, "/ocds/records/ocds-test-nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Filters: every release of a buyer-filtered page names that buyer.
    let buyer = body["releases"][0]["buyer"]["id"]
        .as_str()
        .unwrap()
        .trim_start_matches("FR-RCS-")
        .to_string();
    let (_, _, body) = get(&app, &format!("/ocds/releases?buyer={buyer}&per_page=1000")).await;
    let releases = body["releases"].as_array().unwrap();
    assert!(!releases.is_empty());
    assert!(
        releases
            .iter()
            .all(|r| r["buyer"]["id"] == format!("FR-RCS-{buyer}").as_str())
    );
    let (_, _, body) = get(
        &app,
        "/ocds/releases?cpv=45&date_from=2019-01-01&per_page=1000",
    )
    .await;
    for r in body["releases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["tag"][0] == "award")
    {
        assert!(
            r["awards"][0]["items"][0]["classification"]["id"]
                .as_str()
                .unwrap()
                .starts_with("45")
        );
        assert!(r["awards"][0]["date"].as_str().unwrap() >= "2019-01-01");
    }
    let (status, _, ext) = get(&app, "/ocds/extension/release-schema.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ext["definitions"]["Contract"]["properties"]["decp"].is_object());
}

#[tokio::test]
async fn keyset_links_walk_the_same_contracts_as_numbered_pages() {
    let data = data_dir();
    // The Paris sample has contracts without a notification date (they sort first).
    let (dir, conn, total) = imported(
        &data,
        &[
            "decp_v1_with_modifications_sample.json",
            "decp_v1_paris_sample.json",
        ],
    );
    let buyer: String = conn
        .query_row(
            "SELECT buyer_id FROM procurement_contracts GROUP BY buyer_id ORDER BY COUNT(*) DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(conn);
    let app = app_over(dir.path());
    // Following the keyset `Link: rel="next"` chain gives the same contracts in the same
    // order as the numbered pages (the sample has contracts without a notification date,
    // which sort first: both branches of the cursor condition are walked).
    let by_page = ocids_by_page(&app, "/ocds/records?per_page=40").await;
    let by_link = ocids_by_link(&app, "/ocds/records?per_page=40").await;
    assert_eq!(by_page.len() as i64, total);
    assert_eq!(by_link, by_page);
    // The links keep the filters.
    let filtered = format!("/ocds/records?per_page=3&buyer={buyer}");
    let by_page = ocids_by_page(&app, &filtered).await;
    assert!(by_page.len() > 3);
    assert_eq!(ocids_by_link(&app, &filtered).await, by_page);
    let nulls: i64 = rusqlite::Connection::open(dir.path().join("carnet.sqlite3"))
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM procurement_contracts WHERE date_notification IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(nulls > 0 && nulls < total, "{nulls}");
    let (status, _, _) = get(&app, "/ocds/records?after=999999").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
