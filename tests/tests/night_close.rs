//! Closing a night erases the field-only free text for real: devices record encounters with
//! distinctive signs over real WebSockets, the night is closed through the API, and the bytes
//! of the server's SQLite file (and its `-wal`/`-shm`) no longer hold the text anywhere, while
//! the consolidation is unchanged, the devices' tokens are refused and a restart reloads the
//! documents.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automerge::ReadDoc;
use axum::http::StatusCode;
use carnet_server::ServerConfig;
use carnet_shared::doc;
use carnet_shared::ids::DocumentId;
use carnet_shared::model::EncounterEdit;
use carnet_shared::store::{CompactionPolicy, Store};
use carnet_tests::disk::{contains, markers_on_disk};
use carnet_tests::{Device, DeviceError, TestServer, encounter};
use serde_json::json;

const T0: i64 = 1_769_119_200_000; // 2026-01-22 22:00 UTC

/// Markers found anywhere in the stored history of `docs` (uncompressed, so that a marker
/// inside a DEFLATE-compressed column is found too).
fn markers_in_history(store: &Store, docs: &[DocumentId], markers: &[String]) -> Vec<String> {
    let histories: Vec<Vec<u8>> = docs
        .iter()
        .map(|d| store.load_automerge(d).unwrap().unwrap().save_nocompress())
        .collect();
    markers
        .iter()
        .filter(|m| histories.iter().any(|h| contains(h, m.as_bytes())))
        .cloned()
        .collect()
}

/// `device` (holding a pre-close copy of `team`'s history) syncs with the server until it has
/// the fresh history; the server's stored history is still the one fresh change.
async fn old_copy_syncs_back(server: &TestServer, device: &mut Device, team: DocumentId) {
    let fresh_heads = {
        let store = server.open_store().unwrap();
        store.load_automerge(&team).unwrap().unwrap().get_heads()
    };
    device.connect(server.addr).await.unwrap();
    device
        .sync_until(team, |d| {
            fresh_heads
                .iter()
                .all(|h| d.get_change_by_hash(h).is_some())
        })
        .await
        .unwrap();
    // Time for the old changes to arrive, were they taken.
    carnet_tests::device::settle().await;
    device.go_offline().await;
    let store = server.open_store().unwrap();
    let stored = store.load_automerge(&team).unwrap().unwrap();
    assert_eq!(stored.get_changes(&[]).len(), 1, "still one fresh change");
    assert_eq!(stored.get_heads(), fresh_heads);
}

fn store_checkpoint(server: &TestServer) -> (i64, i64, i64) {
    let store = server.open_store().unwrap();
    store
        .connection()
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_night_erases_distinctive_signs_from_the_server_files_and_locks_devices_out() {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let marker = |name: &str| format!("signe-{name}-{run}");
    let markers = vec![
        marker("a-first"),
        marker("a-rewritten"),
        marker("b"),
        marker("late"),
    ];
    let dir = tempfile::tempdir().unwrap();
    // No compaction: it would fold the chunks into DEFLATE-compressed snapshots at its own
    // pace, and the raw search below must find the text before the close, deterministically.
    let config = ServerConfig {
        compaction: CompactionPolicy {
            max_incremental_chunks: u64::MAX,
            max_incremental_ratio: u64::MAX,
            min_incremental_bytes: u64::MAX,
        },
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(dir.path(), config).await.unwrap();
    let night = server.night(2, 2).await.unwrap();
    let night_id = night.night_id.clone();
    let coordinator = server
        .coordinator(&night_id, "read-only", "read-only")
        .await
        .unwrap();
    // A coordinator allowed to write the team documents (to make corrections during the night).
    let _writer = server
        .coordinator(&night_id, "read-only", "read-write")
        .await
        .unwrap();
    let (team_a, team_b) = (night.teams[0].doc, night.teams[1].doc);

    // Team A stays connected; its signs are written, then rewritten (both in the history).
    let a = server.enrol(&night.teams[0].codes[0]).await.unwrap();
    let mut device_a = Device::new(&a.peer_id, &a.token);
    device_a.connect(server.addr).await.unwrap();
    device_a.open(team_a).await.unwrap();
    let mut met = encounter(&device_a.peer_id, 1, T0);
    met.distinctive_signs = Some(markers[0].clone());
    let plain = encounter(&device_a.peer_id, 2, T0);
    device_a
        .edit(team_a, |d| {
            doc::record_encounter(d, &met, T0)?;
            doc::record_encounter(d, &plain, T0)
        })
        .await
        .unwrap();
    device_a.sync_until_acknowledged(team_a).await.unwrap();
    let rewrite = EncounterEdit::DistinctiveSigns(Some(markers[1].clone()));
    device_a
        .edit(team_a, |d| {
            doc::edit_encounter(d, met.id, &rewrite, T0 + 1_000)
        })
        .await
        .unwrap();
    device_a.sync_until_acknowledged(team_a).await.unwrap();

    // Team B syncs, then goes offline with its history.
    let b = server.enrol(&night.teams[1].codes[0]).await.unwrap();
    let mut device_b = Device::new(&b.peer_id, &b.token);
    device_b.connect(server.addr).await.unwrap();
    device_b.open(team_b).await.unwrap();
    // One large change (many encounters): its chunk spills onto overflow pages, which SQLite
    // frees without clearing them unless `secure_delete` is on.
    let mut seen = encounter(&device_b.peer_id, 1, T0 + 60_000);
    seen.distinctive_signs = Some(markers[2].clone());
    let crowd: Vec<_> = (2..300)
        .map(|n| encounter(&device_b.peer_id, n, T0 + 60_000))
        .collect();
    device_b
        .edit(team_b, |d| {
            for other in &crowd {
                doc::record_encounter(d, other, T0 + 60_000)?;
            }
            doc::record_encounter(d, &seen, T0 + 60_000)
        })
        .await
        .unwrap();
    device_b.sync_until_acknowledged(team_b).await.unwrap();
    device_b.go_offline().await;
    // The admin token (every document, read-write) takes a copy of team B's history, signs
    // included, and goes offline with it.
    // A second copy syncs back only after a restart.
    let admin = server.admin().await.unwrap();
    let mut admin_device = Device::new(&admin.peer_id, &admin.token);
    let mut admin_late = Device::new(&admin.peer_id, &admin.token);
    for device in [&mut admin_device, &mut admin_late] {
        device.connect(server.addr).await.unwrap();
        device.open(team_b).await.unwrap();
        device.go_offline().await;
    }

    // The purge alone leaves every marker in the stored history: the search can fail.
    let (status, body) = server
        .api(
            "POST",
            &format!("/api/nights/{night_id}/purge-field-data"),
            Some(&coordinator.token),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["purged"], 2);
    // A busy night's WAL is checkpointed into the main file long before the close (SQLite
    // does it every 1000 pages); do it now so that the history is in the main file too.
    let (busy, _, _): (i64, i64, i64) = store_checkpoint(&server);
    assert_eq!(busy, 0);
    assert_eq!(
        markers_on_disk(&server.db_path, &markers),
        markers[..3],
        "the raw search finds the uncompressed chunks in the main file"
    );
    // A late encounter after the purge: its signs are in the WAL only.
    let mut more = encounter(&device_a.peer_id, 3, T0 + 2_000);
    more.distinctive_signs = Some(markers[3].clone());
    device_a
        .edit(team_a, |d| doc::record_encounter(d, &more, T0 + 2_000))
        .await
        .unwrap();
    device_a.sync_until_acknowledged(team_a).await.unwrap();
    assert!(
        markers_on_disk(&server.db_path, &markers).contains(&markers[3]),
        "the raw search finds the late chunk in the WAL"
    );
    let store = server.open_store().unwrap();
    assert_eq!(
        markers_in_history(&store, &[team_a, team_b], &markers),
        markers
    );
    drop(store);
    let before = server.figures(&night_id, &coordinator.token).await.unwrap();

    // Refused callers change nothing: a device, another night's coordinator.
    let path = format!("/api/nights/{night_id}/close");
    let stranger = server.night(1, 1).await.unwrap();
    let other = server
        .coordinator(&stranger.night_id, "read-only", "read-only")
        .await
        .unwrap();
    for token in [a.token.as_str(), other.token.as_str()] {
        let (status, body) = server.api("POST", &path, Some(token), None).await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    assert!(device_a.is_online());

    // The coordinator closes the night while device A is connected.
    let (status, body) = server
        .api("POST", &path, Some(&coordinator.token), None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "documents": 2,
            "purged": 1,
            "unreadable": [],
            "revoked_tokens": 2,
            "closed_connections": 1,
            "voided_codes": 2,
            "rewritten": 2,
            "wal_truncated": true,
        })
    );
    // No coordinator may write the team documents any more: an old copy merged back would
    // bring the erased text back.
    let team_access: Vec<String> = {
        let store = server.open_store().unwrap();
        let mut stmt = store
            .connection()
            .prepare("SELECT team_access FROM server_night_grants WHERE night_id = ?1")
            .unwrap();
        stmt.query_map([&night_id], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(team_access, ["read-only", "read-only"]);
    // Device A's socket is closed as revoked (1008).
    assert_eq!(device_a.wait_closed().await.unwrap(), Some(1008));

    // Not one marker left in the file, its WAL or its shared memory index.
    assert_eq!(
        markers_on_disk(&server.db_path, &markers),
        Vec::<String>::new()
    );
    let store = server.open_store().unwrap();
    assert_eq!(
        markers_in_history(&store, &[team_a, team_b], &markers),
        Vec::<String>::new()
    );
    for team in [team_a, team_b] {
        let stored = store.load_automerge(&team).unwrap().unwrap();
        assert_eq!(stored.get_changes(&[]).len(), 1, "one fresh change");
    }
    drop(store);
    assert_eq!(
        server.figures(&night_id, &coordinator.token).await.unwrap(),
        before
    );

    // The devices are locked out: sync and HTTP API refuse their tokens, the spare codes too.
    for device in [&mut device_a, &mut device_b] {
        match device.connect(server.addr).await {
            Err(DeviceError::Refused(status)) => assert!(
                status.starts_with("401") || status.starts_with("403"),
                "{status}"
            ),
            other => panic!("reconnect after close: {other:?}"),
        }
    }
    for token in [&a.token, &b.token] {
        let response = carnet_tests::http::get(server.addr, "/api/me", token)
            .await
            .unwrap();
        assert_eq!(response.status, 401);
    }
    let (status, body) = server
        .api(
            "POST",
            "/api/enrol",
            None,
            Some(json!({"code": night.teams[0].codes[1]})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::GONE, "{body}");

    // Closing again finds nothing to do and changes no figure.
    let (status, body) = server
        .api("POST", &path, Some(&coordinator.token), None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revoked_tokens"], 0);
    assert_eq!(body["purged"], 0);

    // The admin's old copy syncs again: it receives the fresh history, and the server, whose
    // team documents are sealed, takes none of the old changes back.
    old_copy_syncs_back(&server, &mut admin_device, team_b).await;
    store_checkpoint(&server);
    assert_eq!(
        markers_on_disk(&server.db_path, &markers),
        Vec::<String>::new()
    );

    // A restart reloads the fresh documents; the figures are still the same.
    let addr = server.addr;
    server.stop().await.unwrap();
    let server = TestServer::start_on(dir.path(), addr).await.unwrap();
    assert_eq!(
        server.figures(&night_id, &coordinator.token).await.unwrap(),
        before
    );
    let store = server.open_store().unwrap();
    for team in [team_a, team_b] {
        let stored = store.load_automerge(&team).unwrap().unwrap();
        let read = doc::read_team(&stored).unwrap();
        assert!(
            read.encounters
                .values()
                .all(|e| e.distinctive_signs.is_none())
        );
    }
    let read_a = doc::read_team(&store.load_automerge(&team_a).unwrap().unwrap()).unwrap();
    assert_eq!(read_a.encounters.len(), 3, "the encounters themselves stay");
    drop(store);
    // Still sealed after the restart.
    old_copy_syncs_back(&server, &mut admin_late, team_b).await;
    assert_eq!(
        markers_on_disk(&server.db_path, &markers),
        Vec::<String>::new()
    );
    server.stop().await.unwrap();
}
