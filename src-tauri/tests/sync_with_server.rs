//! The app's `Device` against a real carnet-server (router, sync actor, SQLite file) on a
//! loopback port, without a display: enrolment over HTTP with a real code, encounters and a
//! tally synced over the real WebSocket, offline writes across a server stop and an app
//! restart, and the server's own file as the judge of what it holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use uuid::Uuid;

use carnet_app::device::{Device, EncounterDraft, RecordSyncState};
use carnet_shared::doc;
use carnet_shared::model::{
    Alerts, Answer, InterviewStatus, Millis, PeopleCounts, Situation, SpaceType, TallyDimension,
};
use carnet_shared::store::Store;
use carnet_tests::TestServer;
use common::{eventually, fast_reconnect, synced};

const T0: Millis = 1_769_814_000_000;
const TALLY: &str = "street:male:from25To34";

fn draft(n: u32) -> EncounterDraft {
    EncounterDraft {
        id: Uuid::now_v7(),
        started_at: T0 + i64::from(n) * 60_000,
        space_type: Some(SpaceType::MetroRer),
        place_detail: format!("Châtelet, couloir {n}"),
        installation: Some(carnet_shared::model::Installation::None),
        situation: Some(Situation::Alone),
        counts: PeopleCounts {
            women: 1,
            ..Default::default()
        },
        interview: Some(InterviewStatus::Accepted),
        observed_sex: None,
        age_band: None,
        alerts: Alerts::default(),
        position: None,
        distinctive_signs: None,
        // The night made through the API has no questionnaire: the form's version is kept.
        questionnaire_version: Some(2026),
        answers: BTreeMap::from([("sex".to_owned(), Answer::Choice("female".into()))]),
    }
}

/// The team document as the server stored it (a second connection to its file).
fn server_team(db: &Path, team: &carnet_shared::ids::DocumentId) -> carnet_shared::model::Team {
    let stored = Store::open(db).unwrap().load_automerge(team).unwrap();
    doc::read_team(&stored.expect("the server holds the team document")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encounters_and_a_tally_reach_the_server_across_a_server_stop_and_an_app_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server_dir = dir.path().join("server");
    std::fs::create_dir_all(&server_dir).unwrap();
    let server = TestServer::start(&server_dir).await.unwrap();
    let addr = server.addr;
    let night = server.night(1, 1).await.unwrap();
    let team = &night.teams[0];
    let app_db = dir.path().join("carnet.sqlite3");

    // Enrolment over HTTP with a real single-use code; the documents come over /sync.
    let mut device = Device::open_with(&app_db, [7; 16], fast_reconnect())
        .await
        .unwrap();
    let state = device
        .enrol(
            &format!("http://{addr}"),
            &team.codes[0],
            T0,
            Duration::from_secs(20),
        )
        .await
        .unwrap()
        .expect("a team code enrols a team device");
    assert_eq!(state.team.header.team_id.0, team.team_id);
    assert!(state.team.encounters.is_empty());
    let device_id = device.device_id().to_owned();

    let mut ids = BTreeSet::new();
    for n in 0..3 {
        ids.insert(device.record_encounter(&draft(n), T0).await.unwrap().id);
    }
    assert_eq!(device.add_to_tally(TALLY, 2, T0).await.unwrap(), 2);
    eventually("the server acknowledges the first writes", || async {
        synced(&device)
    })
    .await;
    let listed = device.list_encounters().await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        listed
            .iter()
            .all(|r| r.sync_state == RecordSyncState::Server)
    );
    assert_eq!(
        server_team(&server.db_path, &team.doc).encounters.len(),
        3,
        "acknowledged means stored by the server"
    );

    // The server goes away; the team keeps working.
    server.stop().await.unwrap();
    for n in 3..5 {
        ids.insert(device.record_encounter(&draft(n), T0).await.unwrap().id);
    }
    let offline = device.list_encounters().await.unwrap();
    assert_eq!(
        offline
            .iter()
            .filter(|r| r.sync_state == RecordSyncState::Device)
            .count(),
        2
    );
    assert!(device.pending_changes() >= 2);

    // The app restarts (same file, same identity), then the server comes back.
    device.close().await;
    drop(device);
    let device = Device::open_with(&app_db, [8; 16], fast_reconnect())
        .await
        .unwrap();
    assert_eq!(
        device.device_id(),
        device_id,
        "identity survives the restart"
    );
    assert_eq!(device.list_encounters().await.unwrap().len(), 5);
    let server = TestServer::start_on(&server_dir, addr).await.unwrap();
    eventually("the offline writes reach the restarted server", || async {
        synced(&device)
    })
    .await;
    assert!(
        device
            .list_encounters()
            .await
            .unwrap()
            .iter()
            .all(|r| r.sync_state == RecordSyncState::Server)
    );
    let mut device = device;
    device.close().await;
    server.stop().await.unwrap();

    // The server's file holds exactly the five encounters and the tally, signed by the device.
    let held = server_team(&server_dir.join("carnet.sqlite3"), &team.doc);
    assert_eq!(
        held.encounters.keys().copied().collect::<BTreeSet<_>>(),
        ids
    );
    assert!(
        held.encounters
            .values()
            .all(|e| e.source_device == device_id)
    );
    let dim = TallyDimension::parse_key(TALLY).unwrap();
    assert_eq!(held.tallies[&dim], 2);
    assert_eq!(held.tallied(), 2);
}
