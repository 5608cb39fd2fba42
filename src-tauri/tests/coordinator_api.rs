//! The coordinator mode's Rust side (`carnet_app::coordinator`) against a real carnet-server on
//! a loopback port (no display): sign-in with a real coordinator token, the live progress after
//! two teams' devices synced over the real WebSocket, the map, the consolidated figures, a
//! duplicate pair confirmed (the figures drop it), and the errors a coordinator can meet.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use carnet_app::coordinator::{CoordinatorErrorCode, CoordinatorState};
use carnet_shared::doc;
use carnet_shared::model::{CoverageStatus, DuplicateVerdict, Position, SectorCoverage, SectorId};
use carnet_shared::report::SectorState;
use carnet_tests::{Device, TestServer};

const T0: i64 = 1_769_119_200_000; // 2026-01-22 22:00 UTC

fn sectors() -> Value {
    let square = |lon: f64, lat: f64| {
        json!({"type":"Polygon","coordinates":[[
            [lon, lat], [lon + 0.008, lat], [lon + 0.008, lat + 0.004], [lon, lat + 0.004], [lon, lat]]]})
    };
    json!({"type":"FeatureCollection","features":[
        {"type":"Feature","geometry":square(2.3405, 48.8598),"properties":{"name":"Halles","arrondissement":1,"id":"P1-01"}},
        {"type":"Feature","geometry":square(2.3580, 48.8620),"properties":{"name":"Temple","arrondissement":3,"id":"P3-01"}},
    ]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_follows_the_night_and_confirms_a_duplicate_through_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await.unwrap();
    let night = server.night(2, 1).await.unwrap();
    let admin = Some(carnet_tests::server::ADMIN_TOKEN);
    let base = format!("/api/nights/{}", night.night_id);
    let (status, body) = server
        .api("POST", &format!("{base}/sectors"), admin, Some(sectors()))
        .await
        .unwrap();
    assert!(status.is_success(), "{body}");
    for (team, sector) in night.teams.iter().zip(["P1-01", "P3-01"]) {
        let (status, body) = server
            .api(
                "PUT",
                &format!("{base}/teams/{}/sectors", team.team_id),
                admin,
                Some(json!({"sectors": [sector]})),
            )
            .await
            .unwrap();
        assert!(status.is_success(), "{body}");
    }
    let coordinator = server
        .coordinator(&night.night_id, "read-only", "read-only")
        .await
        .unwrap();
    let url = format!("http://{}", server.addr);

    let state = CoordinatorState::default();
    // A team token is not a coordinator's; an unknown token is refused.
    let team_token = server.enrol(&night.teams[0].codes[0]).await.unwrap();
    assert_eq!(
        state
            .sign_in(&url, &team_token.token)
            .await
            .unwrap_err()
            .code(),
        CoordinatorErrorCode::NotCoordinator
    );
    assert_eq!(
        state.sign_in(&url, "carnet_0000").await.unwrap_err().code(),
        CoordinatorErrorCode::Unauthorized
    );
    assert!(
        state.current().await.is_none(),
        "a refused sign-in keeps nothing"
    );

    let session = state.sign_in(&url, &coordinator.token).await.unwrap();
    assert_eq!(session.night_name, "Nuit de la Solidarité 2026");
    assert_eq!(session.night_id.to_string(), night.night_id);
    let view = serde_json::to_string(&session).unwrap();
    assert!(
        !view.contains(&coordinator.token),
        "the token never goes to the UI"
    );

    let progress = state.progress(None).await.unwrap();
    assert_eq!(progress.progress.sectors.len(), 2);
    assert!(
        progress
            .progress
            .sectors
            .iter()
            .all(|s| s.state == SectorState::NotStarted)
    );

    // Two teams meet the same man in Les Halles, minutes apart; team 1 reports its sector covered.
    let second = server.enrol(&night.teams[1].codes[0]).await.unwrap();
    let mut ids = Vec::new();
    for (n, (enrolled, team)) in [(&team_token, &night.teams[0]), (&second, &night.teams[1])]
        .into_iter()
        .enumerate()
    {
        let mut device = Device::new(&enrolled.peer_id, &enrolled.token);
        device.connect(server.addr).await.unwrap();
        device.open(team.doc).await.unwrap();
        let at = T0 + n as i64 * 5 * 60_000;
        let mut e = carnet_tests::encounter(&enrolled.peer_id, 1, at);
        e.position = Some(Position {
            lat: 48.8610 + n as f64 * 0.0002,
            lon: 2.3440,
        });
        ids.push(e.id);
        device
            .edit(team.doc, |d| doc::record_encounter(d, &e, at))
            .await
            .unwrap();
        if n == 0 {
            let cov = SectorCoverage {
                status: CoverageStatus::Covered,
                updated_at: at,
                device: enrolled.peer_id.clone(),
            };
            device
                .edit(team.doc, |d| {
                    doc::mark_coverage(d, &SectorId("P1-01".into()), &cov, at)
                })
                .await
                .unwrap();
        }
        device.sync_until_acknowledged(team.doc).await.unwrap();
        device.go_offline().await;
    }

    let progress = state.progress(Some(30)).await.unwrap();
    let halles = progress
        .progress
        .sectors
        .iter()
        .find(|s| s.sector_id.0 == "P1-01")
        .unwrap();
    assert_eq!(halles.state, SectorState::Covered);
    assert_eq!((halles.encounters, halles.persons), (2, 2));
    let map = state.progress_map().await.unwrap();
    assert!(map.contains("Halles") && map.contains("<svg"), "{map}");

    let figures = state.consolidation().await.unwrap();
    assert_eq!(figures.totals.persons, 2);

    let duplicates = state.duplicates().await.unwrap();
    assert_eq!(duplicates.candidates.len(), 1, "{duplicates:?}");
    let pair = &duplicates.candidates[0].candidate;
    let decision = state
        .decide_duplicate(pair.first, pair.second, DuplicateVerdict::Confirmed)
        .await
        .unwrap();
    assert_eq!(decision.verdict, DuplicateVerdict::Confirmed);
    assert_eq!(decision.decided_by, coordinator.peer_id);
    let figures = state.consolidation().await.unwrap();
    assert_eq!(
        figures.totals.persons, 1,
        "a confirmed duplicate leaves the figures"
    );
    assert_eq!(figures.excluded.duplicate_encounters, 1);
    assert_eq!(
        state.duplicates().await.unwrap().candidates[0]
            .candidate
            .decision,
        Some(DuplicateVerdict::Confirmed)
    );

    // An encounter the night does not have, and the same id twice.
    assert_eq!(
        state
            .decide_duplicate(ids[0], uuid::Uuid::now_v7(), DuplicateVerdict::Rejected)
            .await
            .unwrap_err()
            .code(),
        CoordinatorErrorCode::NotFound
    );
    assert_eq!(
        state
            .decide_duplicate(ids[0], ids[0], DuplicateVerdict::Rejected)
            .await
            .unwrap_err()
            .code(),
        CoordinatorErrorCode::InvalidInput
    );

    // Revoked at HQ: the next read says so; signed out: nothing is read.
    server.revoke(&coordinator.token_id).await.unwrap();
    assert_eq!(
        state.progress(None).await.unwrap_err().code(),
        CoordinatorErrorCode::Unauthorized
    );
    state.sign_out().await;
    assert_eq!(
        state.consolidation().await.unwrap_err().code(),
        CoordinatorErrorCode::NotSignedIn
    );
    server.stop().await.unwrap();
}
