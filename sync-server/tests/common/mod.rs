//! Helpers shared by the server's integration tests: a state with an admin token, JSON calls
//! through the router without a socket, and a ready-made night with one team.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use carnet_server::auth::{PeerId, Role, TokenId, TokenSecret};
use carnet_server::db::Db;
use carnet_server::db::tokens::{AdminTokenOutcome, NewToken, ensure_admin_token};
use carnet_server::{AppState, ServerConfig, router};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

pub fn admin_seed() -> NewToken {
    NewToken {
        id: TokenId(uuid::Uuid::from_bytes([42; 16])),
        secret_hash: [0; 32],
        role: Role::Admin,
        peer_id: PeerId("admin-test".to_owned()),
        night_id: None,
        team_id: None,
        label: None,
        created_at: 0,
        expires_at: None,
    }
}

pub fn state_with(db: Db, config: ServerConfig) -> AppState {
    let outcome = db
        .call_blocking(|c| {
            ensure_admin_token(c, Some(ADMIN_TOKEN), TokenSecret::generate(), admin_seed())
        })
        .unwrap();
    assert!(matches!(outcome, AdminTokenOutcome::Stored));
    AppState::new(db, config)
}

pub fn state() -> AppState {
    state_with(Db::open_in_memory().unwrap(), ServerConfig::default())
}

/// How a request carries its token.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    Header(&'a str),
    Query(&'a str),
}

/// One request through the router (no socket); returns the status and the JSON body
/// (`Value::Null` if the body is not JSON).
pub async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    auth: Auth<'_>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let uri = match auth {
        Auth::Query(token) => {
            let sep = if uri.contains('?') { '&' } else { '?' };
            format!("{uri}{sep}token={token}")
        }
        _ => uri.to_owned(),
    };
    let mut request = Request::builder().method(method).uri(uri);
    if let Auth::Header(token) = auth {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

pub fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {value}"))
}

/// A night with the given team names; returns the night and the teams-created JSON.
pub async fn night_with_teams(state: &AppState, teams: &[&str], codes: u32) -> (Value, Value) {
    let (status, night) = call(
        state,
        "POST",
        "/api/nights",
        Auth::Header(ADMIN_TOKEN),
        Some(json!({"name": "Nuit de la Solidarité 2026", "date": "2026-01-22"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{night}");
    let teams: Vec<Value> = teams.iter().map(|name| json!({"name": name})).collect();
    let (status, created) = call(
        state,
        "POST",
        &format!("/api/nights/{}/teams", str_of(&night, "night_id")),
        Auth::Header(ADMIN_TOKEN),
        Some(json!({"teams": teams, "codes_per_team": codes})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (night, created)
}

/// Enrols a device with `code`; panics unless it succeeds.
pub async fn enrol(state: &AppState, code: &str) -> Value {
    let (status, enrolled) = call(
        state,
        "POST",
        "/api/enrol",
        Auth::None,
        Some(json!({"code": code})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{enrolled}");
    enrolled
}
