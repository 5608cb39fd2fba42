//! End to end: the real server (router, sync actor, SQLite file) on 127.0.0.1:0 and simulated
//! devices driving the shared client-role engine over real WebSockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use carnet_shared::doc;
use carnet_shared::ids::DocumentId;
use carnet_shared::model::{AgeBand, ObservedSex, SpaceType, TallyDimension, TeamId};
use carnet_tests::device::settle;
use carnet_tests::{Device, DeviceError, TestServer, encounter};
use tokio::task::JoinSet;

const T0: i64 = 1_769_119_200_000; // 2026-01-22 22:00 UTC

fn tally_dim() -> TallyDimension {
    TallyDimension {
        space_type: SpaceType::MetroRer,
        sex: ObservedSex::Female,
        age_band: AgeBand::From25To34,
    }
}

async fn enrolled_device(server: &TestServer, code: &str) -> Device {
    let enrolled = server.enrol(code).await.unwrap();
    Device::new(&enrolled.peer_id, &enrolled.token)
}

/// Encounters of a team document as stored in the server's SQLite file.
fn stored_team(server: &TestServer, doc: &DocumentId) -> carnet_shared::model::Team {
    let store = server.open_store().unwrap();
    let data = store
        .load_automerge(doc)
        .unwrap()
        .expect("team document stored");
    doc::read_team(&data).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_devices_in_ten_teams_record_offline_then_a_coordinator_sees_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await.unwrap();
    let night = server.night(10, 2).await.unwrap();
    const PER_DEVICE: u32 = 3;

    let mut devices = JoinSet::new();
    for (t, team) in night.teams.iter().enumerate() {
        for code in &team.codes {
            let mut device = enrolled_device(&server, code).await;
            let addr = server.addr;
            let doc = team.doc;
            devices.spawn(async move {
                device.connect(addr).await?;
                device.open(doc).await?;
                device.go_offline().await;
                // Offline: encounters and a tally tap, with the shared model's writers.
                let me = device.peer_id.clone();
                for n in 0..PER_DEVICE {
                    let e = encounter(&me, n, T0 + i64::from(n) * 60_000);
                    device
                        .edit(doc, |d| doc::record_encounter(d, &e, T0))
                        .await?;
                }
                device
                    .edit(doc, |d| doc::add_to_tally(d, tally_dim(), 1, T0))
                    .await?;
                device.connect(addr).await?;
                device.sync_until_acknowledged(doc).await?;
                device.go_offline().await;
                Ok::<_, DeviceError>(t)
            });
        }
    }
    while let Some(joined) = devices.join_next().await {
        joined.unwrap().unwrap();
    }

    // Durable: every record is in the server's file.
    for team in &night.teams {
        let stored = stored_team(&server, &team.doc);
        assert_eq!(stored.encounters.len(), 2 * PER_DEVICE as usize);
        assert_eq!(stored.tallies[&tally_dim()], 2);
    }

    // A coordinator (night-wide, read-only) syncs every team document and the night index.
    let coordinator = server
        .coordinator(&night.night_id, "read-only", "read-only")
        .await
        .unwrap();
    let mut hq = Device::new(&coordinator.peer_id, &coordinator.token);
    hq.connect(server.addr).await.unwrap();
    let mut total = 0;
    for team in &night.teams {
        hq.open(team.doc).await.unwrap();
        let read = doc::read_team(hq.document(&team.doc).unwrap()).unwrap();
        assert_eq!(read.encounters.len(), 2 * PER_DEVICE as usize);
        assert_eq!(read.tallies[&tally_dim()], 2);
        let sources: std::collections::BTreeSet<_> = read
            .encounters
            .values()
            .map(|e| e.source_device.clone())
            .collect();
        assert_eq!(sources.len(), 2, "both devices of the team are there");
        total += read.encounters.len();
    }
    assert_eq!(total, 10 * 2 * PER_DEVICE as usize);
    hq.open(night.night_doc).await.unwrap();
    let index = doc::read_night(hq.document(&night.night_doc).unwrap()).unwrap();
    let expected: BTreeMap<TeamId, String> = night
        .teams
        .iter()
        .map(|t| (TeamId(t.team_id.clone()), t.doc.url()))
        .collect();
    assert_eq!(index.teams, expected);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_of_one_team_tally_concurrently_and_the_counter_adds_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await.unwrap();
    let night = server.night(1, 2).await.unwrap();
    let team = &night.teams[0];
    let mut a = enrolled_device(&server, &team.codes[0]).await;
    let mut b = enrolled_device(&server, &team.codes[1]).await;
    for device in [&mut a, &mut b] {
        device.connect(server.addr).await.unwrap();
        device.open(team.doc).await.unwrap();
        device.go_offline().await;
    }
    for _ in 0..5 {
        a.edit(team.doc, |d| doc::add_to_tally(d, tally_dim(), 1, T0))
            .await
            .unwrap();
    }
    for _ in 0..7 {
        b.edit(team.doc, |d| doc::add_to_tally(d, tally_dim(), 1, T0))
            .await
            .unwrap();
    }
    a.connect(server.addr).await.unwrap();
    b.connect(server.addr).await.unwrap();
    a.sync_until_acknowledged(team.doc).await.unwrap();
    b.sync_until_acknowledged(team.doc).await.unwrap();
    let twelve = |d: &automerge::Automerge| {
        doc::read_team(d).is_ok_and(|t| t.tallies.get(&tally_dim()) == Some(&12))
    };
    // The server pushes each device's increments to the other one.
    a.sync_until(team.doc, twelve).await.unwrap();
    b.sync_until(team.doc, twelve).await.unwrap();
    assert_eq!(stored_team(&server, &team.doc).tallies[&tally_dim()], 12);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_when_the_server_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await.unwrap();
    let night = server.night(1, 1).await.unwrap();
    let team = (night.teams[0].doc, night.teams[0].codes.clone());
    let mut device = enrolled_device(&server, &team.1[0]).await;
    device.connect(server.addr).await.unwrap();
    device.open(team.0).await.unwrap();
    let first = encounter(&device.peer_id, 1, T0);
    device
        .edit(team.0, |d| doc::record_encounter(d, &first, T0))
        .await
        .unwrap();
    device.sync_until_acknowledged(team.0).await.unwrap();
    device.go_offline().await;
    // The server goes away abruptly (no graceful stop).
    drop(server);

    // Recorded while the server is down.
    let second = encounter(&device.peer_id, 2, T0 + 60_000);
    device
        .edit(team.0, |d| doc::record_encounter(d, &second, T0))
        .await
        .unwrap();

    let server = TestServer::start(dir.path()).await.unwrap();
    // Acknowledged before the crash: on disk.
    assert!(
        stored_team(&server, &team.0)
            .encounters
            .contains_key(&first.id)
    );
    device.connect(server.addr).await.unwrap();
    device.sync_until_acknowledged(team.0).await.unwrap();
    let stored = stored_team(&server, &team.0);
    assert!(stored.encounters.contains_key(&first.id));
    assert!(stored.encounters.contains_key(&second.id));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_asking_for_another_teams_document_gets_doc_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await.unwrap();
    let night = server.night(2, 1).await.unwrap();
    let mut device = enrolled_device(&server, &night.teams[0].codes[0]).await;
    device.connect(server.addr).await.unwrap();
    assert!(matches!(
        device.open(night.teams[1].doc).await,
        Err(DeviceError::Unavailable)
    ));
    // An unknown document gets the same answer, and the connection stays usable.
    assert!(matches!(
        device.open(DocumentId::from_bytes([7; 16])).await,
        Err(DeviceError::Unavailable)
    ));
    device.open(night.teams[0].doc).await.unwrap();
    device.open(night.night_doc).await.unwrap();
    assert!(
        device
            .document(&night.teams[1].doc)
            .is_none_or(|d| d.get_heads().is_empty())
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_scope_never_changes_the_server_state() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await.unwrap();
    let night = server.night(1, 2).await.unwrap();
    let team = night.teams[0].doc;
    let before_team = server
        .open_store()
        .unwrap()
        .load_automerge(&team)
        .unwrap()
        .unwrap()
        .get_heads();
    let before_night = server
        .open_store()
        .unwrap()
        .load_automerge(&night.night_doc)
        .unwrap()
        .unwrap()
        .get_heads();

    // A read-only coordinator writes into a team document.
    let coordinator = server
        .coordinator(&night.night_id, "read-only", "read-only")
        .await
        .unwrap();
    let mut hq = Device::new(&coordinator.peer_id, &coordinator.token);
    hq.connect(server.addr).await.unwrap();
    hq.open(team).await.unwrap();
    let e = encounter("hq", 1, T0);
    hq.edit(team, |d| doc::record_encounter(d, &e, T0))
        .await
        .unwrap();
    // A device writes into its night document (read-only for devices).
    let mut device = enrolled_device(&server, &night.teams[0].codes[0]).await;
    device.connect(server.addr).await.unwrap();
    device.open(night.night_doc).await.unwrap();
    device
        .edit(night.night_doc, |d| {
            doc::put_team_ref(d, &TeamId("intrus".into()), &team.url(), T0)
        })
        .await
        .unwrap();
    // Both keep talking to the server; it never acknowledges those changes.
    assert!(matches!(
        tokio::time::timeout(
            std::time::Duration::from_secs(2),
            hq.sync_until_acknowledged(team)
        )
        .await,
        Err(_) | Ok(Err(_))
    ));
    settle().await;
    let store = server.open_store().unwrap();
    assert_eq!(
        store.load_automerge(&team).unwrap().unwrap().get_heads(),
        before_team
    );
    assert_eq!(
        store
            .load_automerge(&night.night_doc)
            .unwrap()
            .unwrap()
            .get_heads(),
        before_night
    );
    // And a fresh reader of the team does not see them.
    let mut reader = enrolled_device(&server, &night.teams[0].codes[1]).await;
    reader.connect(server.addr).await.unwrap();
    reader.open(team).await.unwrap();
    let read = doc::read_team(reader.document(&team).unwrap()).unwrap();
    assert!(read.encounters.is_empty());
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_cut_off_and_cannot_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await.unwrap();
    let night = server.night(1, 1).await.unwrap();
    let enrolled = server.enrol(&night.teams[0].codes[0]).await.unwrap();
    let mut device = Device::new(&enrolled.peer_id, &enrolled.token);
    device.connect(server.addr).await.unwrap();
    device.open(night.teams[0].doc).await.unwrap();
    server.revoke(&enrolled.token_id).await.unwrap();
    assert_eq!(device.wait_closed().await.unwrap(), Some(1008));
    assert!(matches!(
        device.connect(server.addr).await,
        Err(DeviceError::Refused(status)) if status.starts_with("401")
    ));
    server.stop().await.unwrap();
}

/// The procurement data has its own SQLite file: an import batch or the views' refresh
/// (minutes at 1M contracts) holding its write lock must not stop the sync store from
/// acknowledging devices' changes. In one shared file the store's write gave up after its
/// busy timeout and the sync actor closed every connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_procurement_write_lock_does_not_stop_devices_syncing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await.unwrap();
    let (status, _) = server.api("GET", "/marches", None, None).await.unwrap();
    assert_eq!(
        status,
        axum::http::StatusCode::OK,
        "procurement views served"
    );
    let procurement = carnet_server::procurement::db::path_for(&server.db_path);
    assert!(procurement.exists() && procurement != server.db_path);
    let night = server.night(1, 1).await.unwrap();
    let team = night.teams[0].doc;
    let mut device = enrolled_device(&server, &night.teams[0].codes[0]).await;
    device.connect(server.addr).await.unwrap();
    device.open(team).await.unwrap();

    // An importer in the middle of a batch: the procurement file's write lock is taken.
    let importer = rusqlite::Connection::open(&procurement).unwrap();
    importer.execute_batch("BEGIN IMMEDIATE").unwrap();

    let met = encounter(&device.peer_id, 1, T0);
    device
        .edit(team, |d| doc::record_encounter(d, &met, T0))
        .await
        .unwrap();
    device.sync_until_acknowledged(team).await.unwrap();
    assert!(device.is_online());
    assert!(stored_team(&server, &team).encounters.contains_key(&met.id));
    importer.execute_batch("ROLLBACK").unwrap();
    server.stop().await.unwrap();
}
