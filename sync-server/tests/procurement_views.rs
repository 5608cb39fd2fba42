//! The public procurement views through the real router (no socket): every page answers,
//! filters change the figures, CSV and JSON carry the same data.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod procurement_common;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use carnet_server::procurement::http::{self, ProcurementState};
use carnet_server::procurement::views;
use http_body_util::BodyExt;
use procurement_common::*;
use serde_json::Value;
use tower::ServiceExt;

fn app(dir: &tempfile::TempDir) -> Router {
    let state = ProcurementState {
        db: std::sync::Arc::new(carnet_server::procurement::pool::ProcurementDb::new(
            dir.path().join("carnet.sqlite3"),
        )),
        ocid_prefix: "ocds-test00".into(),
        publisher_name: "Carnet (tests)".into(),
        base_url: "http://localhost".into(),
        clock: Arc::new(|| "2026-01-01T00:00:00Z".to_string()),
    };
    views::router(state.clone()).merge(http::router(state))
}

/// A temp DB with both Paris samples imported, or None when the shared data is absent.
fn setup() -> Option<(tempfile::TempDir, Router)> {
    setup_counted().map(|(d, a, _)| (d, a))
}

/// Same, with the number of stored contracts counted directly in the database.
fn setup_counted() -> Option<(tempfile::TempDir, Router, i64)> {
    let data = data_dir();
    let cpv = cpv(&data);
    let (dir, mut conn) = fresh_db();
    for file in [
        "decp_v1_paris_sample.json",
        "decp_v1_with_modifications_sample.json",
    ] {
        import_file(&mut conn, &data.join("decp").join(file), &cpv);
    }
    let stored: i64 = conn
        .query_row("SELECT COUNT(*) FROM procurement_contracts", [], |r| {
            r.get(0)
        })
        .unwrap();
    drop(conn);
    let app = app(&dir);
    Some((dir, app, stored))
}

async fn get(app: &Router, uri: &str) -> (StatusCode, String, String) {
    let response = app
        .clone()
        .oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let ctype = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, ctype, String::from_utf8(body.to_vec()).unwrap())
}

async fn json(app: &Router, uri: &str) -> Value {
    let (status, ctype, body) = get(app, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    assert_eq!(ctype, "application/json");
    serde_json::from_str(&body).unwrap()
}

fn figure(v: &Value, key: &str) -> Value {
    v["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == key)
        .map(|f| f["value"].clone())
        .unwrap_or(Value::Null)
}

const PAGES: &[&str] = &[
    "/marches",
    "/marches/periodes",
    "/marches/periodes?par=mois",
    "/marches/acheteurs",
    "/marches/titulaires",
    "/marches/cpv",
    "/marches/procedures",
    "/marches/montants",
    "/marches/modifications",
    "/marches/concurrence",
    "/marches/concentration",
    "/marches/qualite",
    "/marches/contrats",
    "/marches/alertes",
    "/marches/alertes/sans-concurrence",
    "/marches/alertes/modification-10-15",
    "/marches/alertes/modification-50",
    "/marches/alertes/sous-seuil",
    "/marches/alertes/offre-unique",
    "/marches/alertes/concentration",
    "/marches/alertes/publication-tardive",
];

#[tokio::test]
async fn every_view_answers_with_html_svg_and_a_table() {
    let Some((_dir, app)) = setup() else { return };
    for uri in PAGES {
        let (status, ctype, body) = get(&app, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(ctype, "text/html; charset=utf-8", "{uri}");
        assert!(body.contains("<html lang=\"fr\">"), "{uri}");
        assert!(body.contains("<svg"), "{uri} has no chart");
        assert!(body.contains("role=\"img\""), "{uri}");
        assert!(body.contains("<table"), "{uri} has no table");
        assert!(body.contains("format=csv"), "{uri}");
    }
}

#[tokio::test]
async fn a_filter_changes_the_headline_figures() {
    let Some((_dir, app, stored)) = setup_counted() else {
        return;
    };
    let all = json(&app, "/api/procurement").await;
    let total = figure(&all, "contrats").as_i64().unwrap();
    assert_eq!(total, stored);
    let y2019 = json(&app, "/api/procurement?du=2019-01-01&au=2019-12-31").await;
    let n2019 = figure(&y2019, "contrats").as_i64().unwrap();
    assert!(n2019 > 0 && n2019 < total);
    assert_eq!(y2019["filters"]["du"], "2019-01-01");
    let modified = json(&app, "/api/procurement?modifie=oui").await;
    let unmodified = json(&app, "/api/procurement?modifie=non").await;
    assert_eq!(
        figure(&modified, "contrats").as_i64().unwrap()
            + figure(&unmodified, "contrats").as_i64().unwrap(),
        total
    );
    // The HTML shows the filtered figure.
    let (_, _, html) = get(&app, "/marches?du=2019-01-01&au=2019-12-31").await;
    assert!(html.contains("Filtres actifs"));
    let (_, _, html_all) = get(&app, "/marches").await;
    assert_ne!(html, html_all);
}

#[tokio::test]
async fn csv_downloads_follow_the_filters() {
    let Some((_dir, app)) = setup() else { return };
    let (status, ctype, body) = get(&app, "/marches/contrats?format=csv").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctype, "text/csv; charset=utf-8");
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(lines[0].starts_with("date,acheteur,objet,"));
    assert_eq!(lines.len(), 51, "header + one page of 50");
    let (_, _, filtered) = get(&app, "/marches/contrats.csv?cpv=45").await;
    let api = json(&app, "/api/procurement/contrats?cpv=45").await;
    let n = api["pagination"]["total"].as_i64().unwrap();
    assert!(n > 0 && n < 50);
    assert_eq!(
        filtered.split("\r\n").filter(|l| !l.is_empty()).count() as i64,
        n + 1
    );
    let (_, _, cpv) = get(&app, "/marches/cpv?format=csv").await;
    assert!(cpv.starts_with("division,libelle,contrats,montant\r\n"));
    assert!(cpv.contains("Travaux de construction"));
}

#[tokio::test]
async fn json_api_has_figures_tables_and_rows_keyed_by_column() {
    let Some((_dir, app)) = setup() else { return };
    let v = json(&app, "/api/procurement/acheteurs").await;
    assert_eq!(v["view"], "acheteurs");
    let table = &v["tables"][0];
    let columns: Vec<&str> = table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["siret", "nom", "contrats", "montant"]);
    let first = &table["rows"][0];
    assert!(first["siret"].is_string() && first["contrats"].is_i64());
    // Buyers are ordered by amount.
    let amounts: Vec<f64> = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["montant"].as_f64().unwrap())
        .collect();
    assert!(amounts.windows(2).all(|w| w[0] >= w[1]));
    // The buyer page and its filter agree with the list.
    let siret = first["siret"].as_str().unwrap();
    let buyer = json(&app, &format!("/api/procurement/acheteurs/{siret}")).await;
    assert_eq!(figure(&buyer, "contrats"), first["contrats"]);
    let flags = json(&app, "/api/procurement/alertes").await;
    assert_eq!(flags["tables"][0]["rows"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn amendments_and_red_flags_come_from_the_modified_sample() {
    let Some((dir, app)) = setup() else { return };
    let conn = rusqlite::Connection::open(dir.path().join("carnet.sqlite3")).unwrap();
    let stored: i64 = conn
        .query_row("SELECT COUNT(*) FROM procurement_modifications", [], |r| {
            r.get(0)
        })
        .unwrap();
    let v = json(&app, "/api/procurement/modifications").await;
    assert_eq!(figure(&v, "modifications").as_i64().unwrap(), stored);
    assert!(stored >= figure(&v, "modifies").as_i64().unwrap());
    let no_comp = json(&app, "/api/procurement/alertes/sans-concurrence").await;
    assert_eq!(
        figure(&no_comp, "signales").as_i64().unwrap(),
        9 + 6 + 1,
        "labels of both samples"
    );
    let raised = json(&app, "/api/procurement/alertes/modification-10-15").await;
    assert!(figure(&raised, "signales").as_i64().unwrap() > 0);
}

#[tokio::test]
async fn contract_page_embeds_its_ocds_release_and_record() {
    let Some((_dir, app)) = setup() else { return };
    let list = json(&app, "/api/procurement/contrats?modifie=oui").await;
    let (status, _, body) = get(&app, "/marches/contrats?modifie=oui").await;
    // minijinja escapes `/` in attributes as `&#x2f;` (decoded by browsers).
    let body = body.replace("&#x2f;", "/");
    assert_eq!(status, StatusCode::OK);
    let link = body
        .split("href=\"/marches/contrats/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    assert!(list["pagination"]["total"].as_i64().unwrap() > 0);
    let (status, _, page) = get(&app, &format!("/marches/contrats/{link}")).await;
    let page = page.replace("&#x2f;", "/");
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("/ocds/releases/ocds-test00-"));
    assert!(page.contains("/ocds/records/ocds-test00-"));
    assert!(page.contains("&quot;ocid&quot;") || page.contains("\"ocid\""));
    assert!(page.contains("amendment") || page.contains("contractAmendment"));
    let href = page
        .split("href=\"/ocds/releases/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap();
    let (status, _, release) = get(&app, &format!("/ocds/releases/{href}")).await;
    assert_eq!(status, StatusCode::OK, "the linked OCDS release exists");
    assert!(release.contains("\"releases\""));
}

#[tokio::test]
async fn bad_filters_and_unknown_pages_are_refused_politely() {
    let Some((_dir, app)) = setup() else { return };
    let (status, _, body) = get(&app, "/marches?du=2019-13-45").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("date invalide"));
    let (status, _, _) = get(&app, "/marches/inconnu").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&app, "/marches/acheteurs/acheteur-inconnu").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, ctype, _) = get(&app, "/api/procurement/contrats/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(ctype, "application/json");
}
