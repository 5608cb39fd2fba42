//! The HTTP API through the router, without a socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::http::StatusCode;
use carnet_server::ServerConfig;
use carnet_server::db::Db;
use common::{ADMIN_TOKEN, Auth, call, enrol, night_with_teams, state, state_with, str_of};
use serde_json::{Value, json};

fn count(state: &carnet_server::AppState, sql: &'static str) -> i64 {
    state
        .db
        .call_blocking(|c| Ok(c.query_row(sql, [], |r| r.get(0))?))
        .unwrap()
}

#[tokio::test]
async fn healthz_answers_without_a_token() {
    let state = state();
    let response = tower::ServiceExt::oneshot(
        carnet_server::router(state),
        axum::http::Request::get("/healthz")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn token_is_accepted_in_the_header_and_in_the_query() {
    let state = state();
    for auth in [Auth::Header(ADMIN_TOKEN), Auth::Query(ADMIN_TOKEN)] {
        let (status, me) = call(&state, "GET", "/api/me", auth, None).await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(me["role"], "admin");
        assert_eq!(me["scope"]["all_documents"], "read-write");
    }
}

#[tokio::test]
async fn wrong_or_missing_token_is_401_with_a_json_error() {
    let state = state();
    let wrong = "carnet_0000000000000000000000000000000000000000000000000000000000000000";
    for auth in [Auth::None, Auth::Header(wrong), Auth::Query(wrong)] {
        for uri in ["/api/me", "/sync"] {
            let (status, body) = call(&state, "GET", uri, auth, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
            assert_eq!(body["code"], "unauthorized");
            assert!(body["message"].is_string());
        }
    }
    // A refused create changes nothing.
    let (status, _) = call(
        &state,
        "POST",
        "/api/nights",
        Auth::Header(wrong),
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(count(&state, "SELECT count(*) FROM server_nights"), 0);
}

#[tokio::test]
async fn sync_without_an_upgrade_is_refused_after_auth() {
    let state = state();
    let (status, body) = call(&state, "GET", "/sync", Auth::Header(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::UPGRADE_REQUIRED);
    assert_eq!(body["code"], "upgrade_required");
}

#[tokio::test]
async fn teams_come_with_distinct_single_use_codes_and_document_urls() {
    let state = state();
    let (night, created) = night_with_teams(&state, &["Équipe 1", "Équipe 2"], 3).await;
    assert!(str_of(&night, "document_url").starts_with("automerge:"));
    let teams = created["teams"].as_array().unwrap();
    assert_eq!(teams.len(), 2);
    let mut codes = Vec::new();
    for team in teams {
        let url = str_of(team, "document_url");
        assert!(carnet_shared::ids::DocumentId::parse_url(url).is_ok());
        let team_codes = team["enrolment_codes"].as_array().unwrap();
        assert_eq!(team_codes.len(), 3);
        codes.extend(team_codes.iter().map(|c| c.as_str().unwrap().to_owned()));
    }
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), 6);
    // Only hashes are stored.
    assert_eq!(
        count(&state, "SELECT count(*) FROM server_enrolment_codes"),
        6
    );
    let stored_as_text = state
        .db
        .call_blocking(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM server_enrolment_codes WHERE typeof(code_hash) = 'blob'
                   AND length(code_hash) = 32",
                [],
                |r| r.get::<_, i64>(0),
            )?)
        })
        .unwrap();
    assert_eq!(stored_as_text, 6);
    // Both documents were saved.
    assert_eq!(count(&state, "SELECT count(*) FROM server_documents"), 3);
}

#[tokio::test]
async fn an_enrolment_code_works_once() {
    let state = state();
    let (_, created) = night_with_teams(&state, &["Équipe 7"], 2).await;
    let code = created["teams"][0]["enrolment_codes"][0]
        .as_str()
        .unwrap()
        .to_owned();
    // Typed in lower case without the dash: still the same code.
    let typed = code.to_lowercase().replace('-', "");
    let first = enrol(&state, &typed).await;
    let tokens_after_first = count(&state, "SELECT count(*) FROM server_tokens");

    let (status, body) = call(
        &state,
        "POST",
        "/api/enrol",
        Auth::None,
        Some(json!({"code": code})),
    )
    .await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(body["code"], "code_used");
    assert_eq!(
        count(&state, "SELECT count(*) FROM server_tokens"),
        tokens_after_first
    );
    // The first device's token still works.
    let (status, _) = call(
        &state,
        "GET",
        "/api/me",
        Auth::Header(str_of(&first, "token")),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The team's other code is unaffected.
    let other = created["teams"][0]["enrolment_codes"][1].as_str().unwrap();
    enrol(&state, other).await;
}

#[tokio::test]
async fn an_unknown_code_is_404_and_changes_nothing() {
    let state = state();
    night_with_teams(&state, &["Équipe 1"], 1).await;
    for code in ["ZZZZZ-ZZZZZ", "not a code", ""] {
        let (status, body) = call(
            &state,
            "POST",
            "/api/enrol",
            Auth::None,
            Some(json!({"code": code})),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["code"], "unknown_code");
    }
    assert_eq!(count(&state, "SELECT count(*) FROM server_tokens"), 1);
}

#[tokio::test]
async fn a_device_scope_is_its_team_read_write_and_its_night_read_only() {
    let state = state();
    let (night, created) = night_with_teams(&state, &["Équipe A", "Équipe B"], 1).await;
    let team_a = &created["teams"][0];
    let enrolled = enrol(&state, team_a["enrolment_codes"][0].as_str().unwrap()).await;
    assert_eq!(enrolled["role"], "team-member");
    assert!(str_of(&enrolled, "peer_id").starts_with("device-"));
    assert_eq!(enrolled["team_document_url"], team_a["document_url"]);
    assert_eq!(enrolled["night_document_url"], night["document_url"]);
    let mut expected = vec![
        (str_of(team_a, "document_url").to_owned(), "read-write"),
        (str_of(&night, "document_url").to_owned(), "read-only"),
    ];
    expected.sort();
    let scope_of = |scope: &Value| {
        let mut got: Vec<(String, &'static str)> = scope["documents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let access = match e["access"].as_str().unwrap() {
                    "read-write" => "read-write",
                    "read-only" => "read-only",
                    other => panic!("unexpected access {other}"),
                };
                (str_of(e, "document_url").to_owned(), access)
            })
            .collect();
        got.sort();
        got
    };
    assert_eq!(scope_of(&enrolled["scope"]), expected);
    assert!(enrolled["scope"]["all_documents"].is_null());
    // What the server resolves at authentication is the same scope, bound to the same peer.
    let (status, me) = call(
        &state,
        "GET",
        "/api/me",
        Auth::Query(str_of(&enrolled, "token")),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(scope_of(&me["scope"]), expected);
    assert_eq!(me["peer_id"], enrolled["peer_id"]);
    assert_eq!(me["team_id"], team_a["team_id"]);
}

#[tokio::test]
async fn a_coordinator_reads_every_document_of_its_night_including_later_teams() {
    let state = state();
    let (night, created) = night_with_teams(&state, &["Équipe 1"], 1).await;
    let night_id = str_of(&night, "night_id");
    let (status, coordinator) = call(
        &state,
        "POST",
        &format!("/api/nights/{night_id}/coordinator-tokens"),
        Auth::Header(ADMIN_TOKEN),
        Some(json!({"label": "PC Hôtel de Ville"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{coordinator}");
    assert!(str_of(&coordinator, "peer_id").starts_with("coordinator-"));
    let docs = coordinator["scope"]["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 2);
    assert!(docs.iter().all(|d| d["access"] == "read-only"));
    let token = str_of(&coordinator, "token").to_owned();

    // The coordinator adds a team to its own night; its scope then includes it.
    let (status, later) = call(
        &state,
        "POST",
        &format!("/api/nights/{night_id}/teams"),
        Auth::Header(&token),
        Some(json!({"teams": [{"name": "Équipe 2"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{later}");
    assert_eq!(
        later["teams"][0]["enrolment_codes"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let (_, me) = call(&state, "GET", "/api/me", Auth::Header(&token), None).await;
    let urls: Vec<&str> = me["scope"]["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| str_of(d, "document_url"))
        .collect();
    assert_eq!(urls.len(), 3);
    assert!(urls.contains(&str_of(&later["teams"][0], "document_url")));
    assert!(urls.contains(&str_of(&created["teams"][0], "document_url")));

    // Configurable: night read-write.
    let (_, writer) = call(
        &state,
        "POST",
        &format!("/api/nights/{night_id}/coordinator-tokens"),
        Auth::Header(ADMIN_TOKEN),
        Some(json!({"night_access": "read-write"})),
    )
    .await;
    let night_entry = writer["scope"]["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["document_url"] == night["document_url"])
        .unwrap()
        .clone();
    assert_eq!(night_entry["access"], "read-write");
}

#[tokio::test]
async fn roles_are_enforced() {
    let state = state();
    let (night, created) = night_with_teams(&state, &["Équipe 1"], 1).await;
    let device = enrol(
        &state,
        created["teams"][0]["enrolment_codes"][0].as_str().unwrap(),
    )
    .await;
    let device_token = str_of(&device, "token");
    let night_id = str_of(&night, "night_id");
    for (uri, body) in [
        ("/api/nights".to_owned(), json!({"name": "x"})),
        (
            format!("/api/nights/{night_id}/teams"),
            json!({"teams": [{"name": "y"}]}),
        ),
        (
            format!("/api/nights/{night_id}/coordinator-tokens"),
            json!({}),
        ),
    ] {
        let (status, body) =
            call(&state, "POST", &uri, Auth::Header(device_token), Some(body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
        assert_eq!(body["code"], "forbidden");
    }
    // A coordinator of another night cannot touch this one.
    let (_, other_night) = call(
        &state,
        "POST",
        "/api/nights",
        Auth::Header(ADMIN_TOKEN),
        Some(json!({"name": "Autre nuit"})),
    )
    .await;
    let (_, other_coordinator) = call(
        &state,
        "POST",
        &format!(
            "/api/nights/{}/coordinator-tokens",
            str_of(&other_night, "night_id")
        ),
        Auth::Header(ADMIN_TOKEN),
        Some(json!({})),
    )
    .await;
    let other = str_of(&other_coordinator, "token");
    let (status, _) = call(
        &state,
        "POST",
        &format!("/api/nights/{night_id}/teams"),
        Auth::Header(other),
        Some(json!({"teams": [{"name": "z"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        &state,
        "POST",
        &format!("/api/tokens/{}/revoke", str_of(&device, "token_id")),
        Auth::Header(other),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(count(&state, "SELECT count(*) FROM server_teams"), 1);
}

#[tokio::test]
async fn a_revoked_token_gets_401() {
    let state = state();
    let (night, created) = night_with_teams(&state, &["Équipe 1"], 1).await;
    let device = enrol(
        &state,
        created["teams"][0]["enrolment_codes"][0].as_str().unwrap(),
    )
    .await;
    let token = str_of(&device, "token");
    // The night's coordinator revokes the lost phone.
    let (_, coordinator) = call(
        &state,
        "POST",
        &format!(
            "/api/nights/{}/coordinator-tokens",
            str_of(&night, "night_id")
        ),
        Auth::Header(ADMIN_TOKEN),
        Some(json!({})),
    )
    .await;
    let uri = format!("/api/tokens/{}/revoke", str_of(&device, "token_id"));
    let (status, body) = call(
        &state,
        "POST",
        &uri,
        Auth::Header(str_of(&coordinator, "token")),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["newly_revoked"], true);
    for auth in [Auth::Header(token), Auth::Query(token)] {
        let (status, body) = call(&state, "GET", "/api/me", auth, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["code"], "unauthorized");
    }
    let (status, body) = call(&state, "POST", &uri, Auth::Header(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["newly_revoked"], false);
    let (status, body) = call(
        &state,
        "POST",
        "/api/tokens/00000000-0000-0000-0000-000000000000/revoke",
        Auth::Header(ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "token_not_found");
}

#[tokio::test]
async fn an_expired_token_gets_401() {
    let now = Arc::new(AtomicI64::new(1_700_000_000_000));
    let clock = Arc::clone(&now);
    let state = state_with(Db::open_in_memory().unwrap(), ServerConfig::default())
        .with_clock(move || clock.load(Ordering::SeqCst));
    let (night, _) = night_with_teams(&state, &["Équipe 1"], 1).await;
    let (_, coordinator) = call(
        &state,
        "POST",
        &format!(
            "/api/nights/{}/coordinator-tokens",
            str_of(&night, "night_id")
        ),
        Auth::Header(ADMIN_TOKEN),
        Some(json!({"expires_in_seconds": 3600})),
    )
    .await;
    let token = str_of(&coordinator, "token");
    assert_eq!(
        call(&state, "GET", "/api/me", Auth::Header(token), None)
            .await
            .0,
        StatusCode::OK
    );
    now.fetch_add(3600 * 1000, Ordering::SeqCst);
    assert_eq!(
        call(&state, "GET", "/api/me", Auth::Header(token), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn duplicate_team_names_create_nothing() {
    let state = state();
    let (night, _) = night_with_teams(&state, &["Équipe 1"], 1).await;
    let (status, body) = call(
        &state,
        "POST",
        &format!("/api/nights/{}/teams", str_of(&night, "night_id")),
        Auth::Header(ADMIN_TOKEN),
        Some(json!({"teams": [{"name": "Équipe 2"}, {"name": "Équipe 1"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "duplicate_team_name");
    assert_eq!(count(&state, "SELECT count(*) FROM server_teams"), 1);
    assert_eq!(
        count(&state, "SELECT count(*) FROM server_enrolment_codes"),
        1
    );
}

#[tokio::test]
async fn malformed_bodies_and_ids_get_json_errors() {
    let state = state();
    let (status, body) = call(
        &state,
        "POST",
        "/api/nights",
        Auth::Header(ADMIN_TOKEN),
        Some(json!({"nom": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["code"], "invalid_body");
    let (status, body) = call(
        &state,
        "POST",
        "/api/nights/not-a-uuid/teams",
        Auth::Header(ADMIN_TOKEN),
        Some(json!({"teams": [{"name": "a"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "night_not_found");
    let (status, body) = call(
        &state,
        "POST",
        "/api/nights/00000000-0000-0000-0000-000000000000/teams",
        Auth::Header(ADMIN_TOKEN),
        Some(json!({"teams": [{"name": "a"}], "codes_per_team": 500})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_codes_per_team");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_enrolments_with_one_code_make_exactly_one_device() {
    let state = state();
    let (_, created) = night_with_teams(&state, &["Équipe 1"], 1).await;
    let code = created["teams"][0]["enrolment_codes"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let state = state.clone();
            let code = code.clone();
            tokio::spawn(async move {
                call(
                    &state,
                    "POST",
                    "/api/enrol",
                    Auth::None,
                    Some(json!({ "code": code })),
                )
                .await
                .0
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::GONE).count(),
        7
    );
    assert_eq!(
        count(
            &state,
            "SELECT count(*) FROM server_tokens WHERE role = 'team-member'"
        ),
        1
    );
}
