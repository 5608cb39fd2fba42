//! End to end, the coordinators' side of a night: a real server (router, sync actor, SQLite
//! file) on 127.0.0.1:0 set up through the API by a coordinator token (sector map,
//! questionnaire, team sectors, enrolment QR sheet), a device enrolled from a code read back
//! from the printed sheet's QR code, syncing over a real WebSocket, and the progress the
//! coordinators watch changing as it works; then the retention purge after the night, through
//! the running server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use carnet_server::ServerConfig;
use carnet_server::coord::EnrolmentPayload;
use carnet_shared::doc;
use carnet_shared::ids::DocumentId;
use carnet_shared::model::{
    CoverageStatus, PeopleCounts, Position, Round, SectorCoverage, SectorId,
};
use carnet_shared::sim::DEFAULT_QUESTIONNAIRE;
use carnet_tests::qr::decode_svg_qr_codes;
use carnet_tests::{Device, TestServer, encounter};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const T0: i64 = 1_769_119_200_000; // 2026-01-22 22:00 UTC

/// Les Halles (1er), a rough real-world quadrilateral (same shapes as `geo`'s fixtures).
fn halles() -> Value {
    json!({"type":"Polygon","coordinates":[[
        [2.3405,48.8598],[2.3489,48.8591],[2.3502,48.8630],[2.3420,48.8641],[2.3405,48.8598]]]})
}

/// Square du Temple (3e) with the garden as a hole.
fn temple_with_hole() -> Value {
    json!({"type":"Polygon","coordinates":[
        [[2.3580,48.8620],[2.3650,48.8620],[2.3650,48.8670],[2.3580,48.8670],[2.3580,48.8620]],
        [[2.3600,48.8635],[2.3625,48.8635],[2.3625,48.8655],[2.3600,48.8655],[2.3600,48.8635]]]})
}

/// Bois de Vincennes in two parts, no arrondissement.
fn vincennes_multi() -> Value {
    json!({"type":"MultiPolygon","coordinates":[
        [[[2.4120,48.8300],[2.4400,48.8300],[2.4400,48.8420],[2.4120,48.8420],[2.4120,48.8300]]],
        [[[2.4450,48.8250],[2.4700,48.8250],[2.4700,48.8400],[2.4450,48.8400],[2.4450,48.8250]]]]})
}

fn feature(geometry: Value, properties: Value) -> Value {
    json!({"type":"Feature","geometry":geometry,"properties":properties})
}

fn sector_map() -> String {
    json!({"type":"FeatureCollection","features":[
        feature(halles(), json!({"name":"Halles","arrondissement":1,"id":"P1-01"})),
        feature(temple_with_hole(), json!({"nom":"Temple","c_ar":"75103","code":"P3-01"})),
        feature(vincennes_multi(), json!({"nom":"Bois de Vincennes","id":"BV"})),
    ]})
    .to_string()
}

/// One request through the server's router; the answer's body as text.
async fn call(
    server: &TestServer,
    method: &str,
    path: &str,
    token: &str,
    body: Option<String>,
) -> (StatusCode, String) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.map_or_else(Body::empty, Body::from))
        .unwrap();
    let response = carnet_server::router(server.state.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

async fn call_json(
    server: &TestServer,
    method: &str,
    path: &str,
    token: &str,
    body: Option<String>,
) -> (StatusCode, Value) {
    let (status, text) = call(server, method, path, token, body).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn sector<'a>(progress: &'a Value, id: &str) -> &'a Value {
    progress["sectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sectorId"] == id)
        .unwrap_or_else(|| panic!("no sector {id} in {progress}"))
}

fn issue_indexes(body: &Value) -> Vec<(Option<u64>, String)> {
    body["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["index"].as_u64(),
                i["problem"]["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_night_set_up_by_its_coordinator_shows_a_devices_work_in_the_progress() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        public_base_url: "https://carnet.example.org".into(),
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(dir.path(), config).await.unwrap();
    let night = server.night(2, 1).await.unwrap();
    let coordinator = server
        .coordinator(&night.night_id, "read-only", "read-only")
        .await
        .unwrap();
    let token = coordinator.token.as_str();
    let base = format!("/api/nights/{}", night.night_id);

    // Sector map: polygons, a hole, a MultiPolygon without arrondissement (warning).
    let (status, body) = call_json(
        &server,
        "POST",
        &format!("{base}/sectors"),
        token,
        Some(sector_map()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sectors"].as_array().unwrap().len(), 3);
    assert_eq!(
        issue_indexes(&json!({"issues": body["warnings"]})),
        [(Some(2), "noArrondissement".into())]
    );

    // Refused maps change nothing, and every bad feature is reported by index.
    let (status, body) = call_json(
        &server,
        "POST",
        &format!("{base}/sectors"),
        token,
        Some("{\"type\":".into()),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["code"], "invalid_sectors");
    assert_eq!(issue_indexes(&body), [(None, "notJson".into())]);
    let unclosed = json!({"type":"Polygon","coordinates":[[[2.30,48.85],[2.31,48.85],[2.31,48.86],[2.30,48.86]]]});
    let bowtie = json!({"type":"Polygon","coordinates":[[[2.30,48.85],[2.31,48.86],[2.31,48.85],[2.30,48.86],[2.30,48.85]]]});
    let bad = json!({"type":"FeatureCollection","features":[
        feature(halles(), json!({"name":"Only this one is fine","arrondissement":1,"id":"NEW"})),
        feature(unclosed, json!({"name":"Unclosed","arrondissement":5})),
        feature(bowtie, json!({"name":"Bow tie","arrondissement":6})),
        feature(temple_with_hole(), json!({"arrondissement":3})),
    ]})
    .to_string();
    let (status, body) = call_json(
        &server,
        "POST",
        &format!("{base}/sectors"),
        token,
        Some(bad),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let found = issue_indexes(&body);
    assert!(
        found.contains(&(Some(1), "unclosedRing".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&(Some(2), "selfIntersection".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&(Some(3), "missingName".into())),
        "{found:?}"
    );
    assert!(!found.iter().any(|(i, _)| *i == Some(0)), "{found:?}");

    // Questionnaire: the default one; again (idempotent); an older version; an invalid one.
    let (status, body) = call_json(
        &server,
        "POST",
        &format!("{base}/questionnaire"),
        token,
        Some(DEFAULT_QUESTIONNAIRE.into()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["version"], 2026);
    let (status, _) = call(
        &server,
        "POST",
        &format!("{base}/questionnaire"),
        token,
        Some(DEFAULT_QUESTIONNAIRE.into()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut older: Value = serde_json::from_str(DEFAULT_QUESTIONNAIRE).unwrap();
    older["version"] = json!(2025);
    let (status, body) = call_json(
        &server,
        "POST",
        &format!("{base}/questionnaire"),
        token,
        Some(older.to_string()),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (
            StatusCode::CONFLICT,
            Some("questionnaire_version_not_newer")
        )
    );
    older["questions"][0]["type"] = json!("slider");
    older["version"] = json!(2027);
    let (status, body) = call_json(
        &server,
        "POST",
        &format!("{base}/questionnaire"),
        token,
        Some(older.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["issues"][0]["path"], "questions[0].type");

    // Sectors of the teams; an unknown sector is refused with nothing changed.
    let team = &night.teams[0];
    let team_path = format!("{base}/teams/{}/sectors", team.team_id);
    let (status, body) = call_json(
        &server,
        "PUT",
        &team_path,
        token,
        Some(json!({"sectors": ["P1-01", "P9-99"]}).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["issues"][0]["sector_id"], "P9-99");
    let (status, body) = call_json(
        &server,
        "PUT",
        &team_path,
        token,
        Some(json!({"sectors": ["P1-01"]}).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let other = format!("{base}/teams/{}/sectors", night.teams[1].team_id);
    let (status, _) = call(
        &server,
        "PUT",
        &other,
        token,
        Some(json!({"sectors": ["P3-01", "BV"]}).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Nothing done yet: every sector not started.
    let (status, progress) =
        call_json(&server, "GET", &format!("{base}/progress"), token, None).await;
    assert_eq!(status, StatusCode::OK, "{progress}");
    assert_eq!(progress["totals"]["sectors"]["notStarted"], 3);
    assert_eq!(sector(&progress, "P1-01")["teams"], json!([team.team_id]));
    // The server's own edits (sector assignment) are not news from a team.
    assert!(
        progress["teams"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["lastChangeAt"].is_null()),
        "{progress}"
    );

    // The enrolment sheet: two new codes, read back from the QR codes of the page.
    let (status, page) = call(
        &server,
        "GET",
        &format!("{base}/teams/{}/enrolment-sheet.svg?codes=2", team.team_id),
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"viewBox="0 0 210 297""#));
    assert!(
        page.contains("Équipe 1") && page.contains("Halles"),
        "team and sector names"
    );
    let payloads: Vec<EnrolmentPayload> = decode_svg_qr_codes(&page)
        .unwrap()
        .iter()
        .map(|p| serde_json::from_str(p).unwrap())
        .collect();
    assert_eq!(payloads.len(), 2);
    assert_ne!(payloads[0].code, payloads[1].code);
    for p in &payloads {
        assert_eq!(
            (p.carnet.as_str(), p.v, p.server.as_str()),
            ("enrol", 1, "https://carnet.example.org")
        );
        assert!(page.contains(&p.code), "the code is also printed in clear");
    }
    let enrolled = server.enrol(&payloads[0].code).await.unwrap();
    let (status, _) = server
        .api(
            "POST",
            "/api/enrol",
            None,
            Some(json!({"code": payloads[0].code})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::GONE, "single use");
    let (status, _) = call(
        &server,
        "GET",
        &format!("{base}/teams/{}/enrolment-sheet.svg?codes=13", team.team_id),
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A full page (3 × 4) still reads back, every code distinct.
    let (status, full) = call(
        &server,
        "GET",
        &format!(
            "{base}/teams/{}/enrolment-sheet.svg?codes=12",
            night.teams[1].team_id
        ),
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let codes: BTreeSet<String> = decode_svg_qr_codes(&full)
        .unwrap()
        .iter()
        .map(|p| serde_json::from_str::<EnrolmentPayload>(p).unwrap().code)
        .collect();
    assert_eq!(codes.len(), 12);
    assert!(full.contains("Temple") && full.contains("Bois de Vincennes"));

    // The device gets its sectors and the questionnaire by sync.
    let mut device = Device::new(&enrolled.peer_id, &enrolled.token);
    device.connect(server.addr).await.unwrap();
    device.open(team.doc).await.unwrap();
    device.open(night.night_doc).await.unwrap();
    let mine = doc::read_team(device.document(&team.doc).unwrap()).unwrap();
    assert_eq!(
        mine.header.sectors,
        BTreeSet::from([SectorId("P1-01".into())])
    );
    let map = doc::read_night(device.document(&night.night_doc).unwrap()).unwrap();
    assert_eq!(map.questionnaire.unwrap().version, 2026);
    assert_eq!(map.sectors.len(), 3);

    // The team sets off and meets two people in Les Halles.
    let me = device.peer_id.clone();
    let round = Round {
        id: uuid::Uuid::now_v7(),
        sector_id: Some(SectorId("P1-01".into())),
        checked_in_at: T0,
        checked_out_at: None,
        device: me.clone(),
    };
    let mut met = encounter(&me, 1, T0 + 60_000);
    met.counts = PeopleCounts {
        men: 1,
        women: 1,
        ..Default::default()
    };
    met.position = Some(Position {
        lat: 48.8615,
        lon: 2.3450,
    });
    device
        .edit(team.doc, |d| {
            doc::check_in(d, &round, T0)?;
            doc::record_encounter(d, &met, T0 + 60_000)
        })
        .await
        .unwrap();
    device.sync_until_acknowledged(team.doc).await.unwrap();
    let (_, progress) = call_json(&server, "GET", &format!("{base}/progress"), token, None).await;
    let halles = sector(&progress, "P1-01");
    assert_eq!(
        (halles["state"].as_str(), halles["persons"].as_u64()),
        (Some("inProgress"), Some(2))
    );
    assert_eq!(halles["minutesSinceChange"], 0, "{halles}");
    assert_eq!(sector(&progress, "P3-01")["state"], "notStarted");
    assert_eq!(progress["totals"]["teamsOut"], 1);
    assert!(halles["lastChangeAt"].as_i64().is_some());

    // Sector done.
    let covered = SectorCoverage {
        status: CoverageStatus::Covered,
        updated_at: T0 + 3_600_000,
        device: me,
    };
    device
        .edit(team.doc, |d| {
            doc::mark_coverage(d, &SectorId("P1-01".into()), &covered, T0 + 3_600_000)
        })
        .await
        .unwrap();
    device.sync_until_acknowledged(team.doc).await.unwrap();
    let (_, progress) = call_json(&server, "GET", &format!("{base}/progress"), token, None).await;
    assert_eq!(sector(&progress, "P1-01")["state"], "covered");
    assert_eq!(progress["totals"]["persons"], 2);
    let (status, svg) = call(&server, "GET", &format!("{base}/progress.svg"), token, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        svg.contains(r#"data-sector="P1-01" data-state="covered""#),
        "{svg}"
    );
    assert!(svg.contains(r#"data-sector="BV" data-state="notStarted""#));
    assert!(svg.contains("Non commencé (2)") && svg.contains("Couvert (1)"));
    let (status, html) = call(
        &server,
        "GET",
        &format!("{base}/progress.html"),
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<td>Halles</td><td>1</td><td>Couvert</td><td class=\"n\">2</td>"),
        "{html}"
    );

    // Another night's coordinator and a device token may not touch this night.
    let stranger = server.night(1, 1).await.unwrap();
    let other_coordinator = server
        .coordinator(&stranger.night_id, "read-only", "read-only")
        .await
        .unwrap();
    for t in [other_coordinator.token.as_str(), enrolled.token.as_str()] {
        let (status, _) = call(&server, "GET", &format!("{base}/progress"), t, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = call(
            &server,
            "POST",
            &format!("{base}/sectors"),
            t,
            Some(sector_map()),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    server.stop().await.unwrap();
}

fn stored_signs(server: &TestServer, team: &DocumentId) -> Vec<Option<String>> {
    let data = server
        .open_store()
        .unwrap()
        .load_automerge(team)
        .unwrap()
        .unwrap();
    doc::read_team(&data)
        .unwrap()
        .encounters
        .values()
        .map(|e| e.distinctive_signs.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purging_field_data_through_the_running_server_reaches_connected_devices_at_once() {
    const SIGNS: &str = "bonnet rouge, chien noir";
    const OTHER_SIGNS: &str = "parka jaune, béquille";
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await.unwrap();
    let night = server.night(2, 1).await.unwrap();
    let night_id = night.night_id.clone();
    let coordinator = server
        .coordinator(&night_id, "read-only", "read-only")
        .await
        .unwrap();
    let (team_a, team_b) = (night.teams[0].doc, night.teams[1].doc);

    // Team A stays connected; team B syncs, then goes offline before the purge.
    let a = server.enrol(&night.teams[0].codes[0]).await.unwrap();
    let mut device_a = Device::new(&a.peer_id, &a.token);
    device_a.connect(server.addr).await.unwrap();
    device_a.open(team_a).await.unwrap();
    let mut met = encounter(&device_a.peer_id, 1, T0);
    met.distinctive_signs = Some(SIGNS.into());
    let kept = encounter(&device_a.peer_id, 2, T0);
    device_a
        .edit(team_a, |d| {
            doc::record_encounter(d, &met, T0)?;
            doc::record_encounter(d, &kept, T0)
        })
        .await
        .unwrap();
    device_a.sync_until_acknowledged(team_a).await.unwrap();

    let b = server.enrol(&night.teams[1].codes[0]).await.unwrap();
    let mut device_b = Device::new(&b.peer_id, &b.token);
    device_b.connect(server.addr).await.unwrap();
    device_b.open(team_b).await.unwrap();
    let mut seen = encounter(&device_b.peer_id, 1, T0 + 60_000);
    seen.distinctive_signs = Some(OTHER_SIGNS.into());
    device_b
        .edit(team_b, |d| doc::record_encounter(d, &seen, T0 + 60_000))
        .await
        .unwrap();
    device_b.sync_until_acknowledged(team_b).await.unwrap();
    device_b.go_offline().await;
    assert!(stored_signs(&server, &team_a).contains(&Some(SIGNS.into())));
    let before = server.figures(&night_id, &coordinator.token).await.unwrap();

    // Refused callers change nothing: a device, another night's coordinator, an unknown night.
    let path = format!("/api/nights/{night_id}/purge-field-data");
    let stranger = server.night(1, 1).await.unwrap();
    let other_coordinator = server
        .coordinator(&stranger.night_id, "read-only", "read-only")
        .await
        .unwrap();
    for t in [a.token.as_str(), other_coordinator.token.as_str()] {
        let (status, body) = server.api("POST", &path, Some(t), None).await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["code"], "forbidden");
    }
    let (status, body) = server
        .api(
            "POST",
            &format!("/api/nights/{}/purge-field-data", uuid::Uuid::nil()),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = server
        .api(
            "POST",
            "/api/nights/not-a-night/purge-field-data",
            Some(carnet_tests::ADMIN_TOKEN),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "night_not_found");
    assert!(stored_signs(&server, &team_a).contains(&Some(SIGNS.into())));

    // The coordinator purges while device A is connected.
    let (status, body) = server
        .api("POST", &path, Some(&coordinator.token), None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"documents": 2, "purged": 2, "unreadable": []}));

    // Device A receives the purge without sending anything.
    device_a
        .sync_until(team_a, |d| {
            doc::read_team(d)
                .map(|t| t.encounters.values().all(|e| e.distinctive_signs.is_none()))
                .unwrap_or(false)
        })
        .await
        .unwrap();
    let on_a = doc::read_team(device_a.document(&team_a).unwrap()).unwrap();
    assert_eq!(on_a.encounters.len(), 2, "the encounters themselves stay");

    // Counts and consolidation are unchanged.
    assert_eq!(
        server.figures(&night_id, &coordinator.token).await.unwrap(),
        before
    );

    // A second purge finds nothing more to remove.
    let (status, body) = server
        .api("POST", &path, Some(&coordinator.token), None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"documents": 2, "purged": 0, "unreadable": []}));

    // Device B gets it at its next sync.
    device_b.connect(server.addr).await.unwrap();
    device_b
        .sync_until(team_b, |d| {
            doc::read_team(d)
                .map(|t| t.encounters.values().all(|e| e.distinctive_signs.is_none()))
                .unwrap_or(false)
        })
        .await
        .unwrap();
    device_a.go_offline().await;
    device_b.go_offline().await;
    server.stop().await.unwrap();

    // What the SQLite file holds, reloaded from its chunks by a fresh store.
    for team in [team_a, team_b] {
        let signs = stored_signs_in(dir.path(), team);
        assert!(!signs.is_empty());
        assert!(signs.iter().all(Option::is_none), "{signs:?}");
    }
    let server = TestServer::start(dir.path()).await.unwrap();
    assert_eq!(
        server.figures(&night_id, &coordinator.token).await.unwrap(),
        before
    );
    server.stop().await.unwrap();
}

fn stored_signs_in(dir: &std::path::Path, team: DocumentId) -> Vec<Option<String>> {
    let store = carnet_shared::store::Store::open(dir.join("carnet.sqlite3")).unwrap();
    let data = store.load_automerge(&team).unwrap().unwrap();
    doc::read_team(&data)
        .unwrap()
        .encounters
        .values()
        .map(|e| e.distinctive_signs.clone())
        .collect()
}
