#![allow(clippy::unwrap_used)]

use super::*;
use crate::db::Db;
use crate::db::tokens::ensure_admin_token;
use axum::body::Body;
use axum::http::{Request, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const ADMIN: &str = "climate-admin-token-0123456789abcdef";
const KIT: &str = include_str!("../../../shared/kits/canicule.json");
const FOUNTAINS: &str = include_str!("../../../shared/kits/fixtures/fontaines-a-boire.csv");

fn state() -> AppState {
    let db = Db::open_in_memory().unwrap();
    let seed = NewToken {
        id: TokenId(Uuid::from_u128(1)),
        secret_hash: [0; 32],
        role: Role::Admin,
        peer_id: PeerId("admin-1".to_owned()),
        night_id: None,
        team_id: None,
        label: None,
        created_at: 0,
        expires_at: None,
    };
    db.call_blocking(|c| ensure_admin_token(c, Some(ADMIN), TokenSecret::generate(), seed))
        .unwrap();
    AppState::new(db, crate::ServerConfig::default())
        .unwrap()
        .with_clock(|| 1_782_900_000_000)
}

async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Body,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap();
    let response = crate::router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn publishing_a_kit_reports_and_volunteers_read_it_with_the_level() {
    let state = state();
    let (status, body) = call(
        &state,
        "POST",
        "/api/climate/kit",
        Some(ADMIN),
        Body::from(KIT),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["report"]["unknown_fields"], json!([]));
    let (status, body) = call(
        &state,
        "PUT",
        "/api/climate/alert-level",
        Some(ADMIN),
        Body::from(r#"{"level":"rouge"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(
        &state,
        "POST",
        "/api/climate/places?kind=fountain&format=csv",
        Some(ADMIN),
        Body::from(FOUNTAINS),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["written"], 4);
    assert_eq!(body["report"]["problems"].as_array().unwrap().len(), 2);

    let (status, group) = call(
        &state,
        "POST",
        "/api/climate/groups",
        Some(ADMIN),
        Body::from(r#"{"name":"Belleville","codes":1}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let code = group["enrolment_codes"][0].as_str().unwrap().to_owned();
    let (status, enrolled) = call(
        &state,
        "POST",
        "/api/climate/enrol",
        None,
        Body::from(json!({ "code": code }).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{enrolled}");
    assert_eq!(enrolled["role"], "volunteer");
    assert_eq!(enrolled["kit_document_url"], group["kit_document_url"]);
    let (status, again) = call(
        &state,
        "POST",
        "/api/climate/enrol",
        None,
        Body::from(json!({ "code": code }).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::GONE, "{again}");

    let volunteer = enrolled["token"].as_str().unwrap();
    let (status, kit) = call(
        &state,
        "GET",
        "/api/climate/kit",
        Some(volunteer),
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{kit}");
    assert_eq!(kit["alert"]["level"], "rouge");
    assert_eq!(kit["kit"]["title"], "Le volontaire et la canicule");
    assert_eq!(kit["places"].as_array().unwrap().len(), 4);
    // A volunteer cannot change the level nor see others' progress.
    let (status, _) = call(
        &state,
        "PUT",
        "/api/climate/alert-level",
        Some(volunteer),
        Body::from(r#"{"level":"vert"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        &state,
        "GET",
        "/api/climate/progress",
        Some(volunteer),
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, progress) = call(
        &state,
        "GET",
        "/api/climate/progress",
        Some(ADMIN),
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(progress["totals"]["groups"], 1);
    assert_eq!(progress["totals"]["visits"], 0);
}

#[tokio::test]
async fn bad_files_and_levels_are_refused_and_change_nothing() {
    let state = state();
    let (status, body) = call(
        &state,
        "POST",
        "/api/climate/kit",
        Some(ADMIN),
        Body::from("{\"format\": 1, \"id\": "),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"]["code"], "not-json");
    let (status, body) = call(
        &state,
        "POST",
        "/api/climate/places?kind=fountain&format=csv",
        Some(ADMIN),
        Body::from("nom;adresse\nA;B\n"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"]["code"], "no-coordinate-columns");
    let (status, _) = call(
        &state,
        "POST",
        "/api/climate/places?kind=toilets",
        Some(ADMIN),
        Body::from(FOUNTAINS),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(
        &state,
        "PUT",
        "/api/climate/alert-level",
        Some(ADMIN),
        Body::from(r#"{"level":"violet"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, kit) = call(
        &state,
        "GET",
        "/api/climate/kit",
        Some(ADMIN),
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kit["kit"], Value::Null);
    assert_eq!(kit["alert"]["level"], "vert");
    assert_eq!(kit["places"], json!([]));
    let (status, _) = call(&state, "POST", "/api/climate/kit", None, Body::from(KIT)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
