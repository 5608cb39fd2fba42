//! The coordinator mode after the night (`carnet_app::coordinator::{exports, review}`) against a
//! real carnet-server on a loopback port (no display): two devices of one team sync over the
//! real WebSocket, edit the same field of one encounter concurrently; the coordinator exports
//! every file (rows checked against what the team synced, progress reported, temp file renamed),
//! cancels an export, decides the conflict and purges the distinctive signs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use carnet_app::coordinator::exports::{ExportKind, ExportProgress};
use carnet_app::coordinator::{CoordinatorErrorCode, CoordinatorState};
use carnet_shared::doc;
use carnet_shared::model::{EncounterEdit, Position};
use carnet_tests::{Device, TestServer};

const T0: i64 = 1_769_119_200_000; // 2026-01-22 22:00 UTC
const SIGNS: &str = "écharpe verte, sac de sport bleu";

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_exports_decides_a_conflict_and_purges_through_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await.unwrap();
    let night = server.night(1, 2).await.unwrap();
    let team = night.teams[0].doc;

    // Device A records three encounters (one with distinctive signs); device B gets them.
    let a = server.enrol(&night.teams[0].codes[0]).await.unwrap();
    let b = server.enrol(&night.teams[0].codes[1]).await.unwrap();
    let mut device_a = Device::new(&a.peer_id, &a.token);
    device_a.connect(server.addr).await.unwrap();
    device_a.open(team).await.unwrap();
    let mut synced = Vec::new();
    for n in 0..3u32 {
        let at = T0 + i64::from(n) * 60_000;
        let mut e = carnet_tests::encounter(&a.peer_id, n, at);
        e.position = Some(Position {
            lat: 48.861_234 + f64::from(n) * 0.01,
            lon: 2.344_567,
        });
        if n == 0 {
            e.distinctive_signs = Some(SIGNS.into());
        }
        device_a
            .edit(team, |d| doc::record_encounter(d, &e, at))
            .await
            .unwrap();
        synced.push(e.id);
    }
    device_a.sync_until_acknowledged(team).await.unwrap();
    let mut device_b = Device::new(&b.peer_id, &b.token);
    device_b.connect(server.addr).await.unwrap();
    device_b.open(team).await.unwrap();
    device_b
        .sync_until(team, |d| {
            doc::read_team(d).is_ok_and(|t| t.encounters.len() == 3)
        })
        .await
        .unwrap();

    // Offline, both change the number of men of the first encounter.
    device_a.go_offline().await;
    device_b.go_offline().await;
    let first = synced[0];
    device_a
        .edit(team, |d| {
            doc::edit_encounter(d, first, &EncounterEdit::Men(2), T0 + 3_600_000)
        })
        .await
        .unwrap();
    device_b
        .edit(team, |d| {
            doc::edit_encounter(d, first, &EncounterEdit::Men(3), T0 + 3_600_000)
        })
        .await
        .unwrap();
    for device in [&mut device_a, &mut device_b] {
        device.connect(server.addr).await.unwrap();
        device.open(team).await.unwrap();
        device.sync_until_acknowledged(team).await.unwrap();
        device.go_offline().await;
    }

    let coordinator = server
        .coordinator(&night.night_id, "read-only", "read-only")
        .await
        .unwrap();
    let state = CoordinatorState::default();
    state
        .sign_in(&format!("http://{}", server.addr), &coordinator.token)
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let exports = out.path().join("Téléchargements");

    // Encounters CSV: one row per synced encounter, progress up to the announced total.
    let mut events: Vec<ExportProgress> = Vec::new();
    let mut record = |p: ExportProgress| events.push(p);
    let done = state
        .export("e1", ExportKind::Encounters, None, &exports, &mut record)
        .await
        .unwrap();
    let text = std::fs::read_to_string(&done.path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("encounterId,teamId,"), "{}", lines[0]);
    let mut exported: Vec<String> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap().to_owned())
        .collect();
    exported.sort();
    let mut expected: Vec<String> = synced.iter().map(ToString::to_string).collect();
    expected.sort();
    assert_eq!(exported, expected);
    assert_eq!((done.rows, done.bytes), (3, text.len() as u64));
    let last = events.last().unwrap();
    assert!(last.done);
    assert_eq!(
        (last.rows, last.total_rows, last.bytes),
        (3, Some(3), done.bytes)
    );
    assert!(events.windows(2).all(|w| w[0].bytes <= w[1].bytes));
    assert!(
        !text.contains(SIGNS),
        "distinctive signs are never exported"
    );
    assert!(
        done.path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .ends_with("-rencontres.csv"),
        "{:?}",
        done.path
    );

    // GeoJSON: coarse (3 decimals) by default, 2 on request.
    let mut ignore = |_| {};
    let geo = state
        .export("g1", ExportKind::Geojson, None, &exports, &mut ignore)
        .await
        .unwrap();
    let fc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&geo.path).unwrap()).unwrap();
    let features = fc["features"].as_array().unwrap();
    assert_eq!((features.len(), geo.rows), (3, 3));
    let lon = features[0]["geometry"]["coordinates"][0].as_f64().unwrap();
    assert!((lon - 2.345).abs() < 1e-9, "{lon}");
    let geo2 = state
        .export("g2", ExportKind::Geojson, Some(2), &exports, &mut ignore)
        .await
        .unwrap();
    let fc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&geo2.path).unwrap()).unwrap();
    let lon = fc["features"][0]["geometry"]["coordinates"][0]
        .as_f64()
        .unwrap();
    assert!((lon - 2.34).abs() < 1e-9, "{lon}");

    // Totals (a Content-Length: the bytes total is known) and questionnaires (none completed).
    let mut totals_events = Vec::new();
    let mut record_totals = |p: ExportProgress| totals_events.push(p);
    let totals = state
        .export("t1", ExportKind::Totals, None, &exports, &mut record_totals)
        .await
        .unwrap();
    assert_eq!(
        totals_events.last().unwrap().total_bytes,
        Some(totals.bytes)
    );
    assert!(
        std::fs::read_to_string(&totals.path)
            .unwrap()
            .contains("persons")
    );
    let q = state
        .export(
            "q1",
            ExportKind::Questionnaires,
            None,
            &exports,
            &mut ignore,
        )
        .await
        .unwrap();
    assert_eq!(q.rows, 0);

    // A cancelled export leaves nothing behind, not even its temporary file.
    let before = files_in(&exports);
    let state_ref = &state;
    let mut cancel_at_once = |p: ExportProgress| {
        assert!(state_ref.cancel_export(&p.export_id));
    };
    let e = state
        .export(
            "c1",
            ExportKind::Encounters,
            None,
            &exports,
            &mut cancel_at_once,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), CoordinatorErrorCode::Cancelled);
    assert_eq!(files_in(&exports), before);
    assert_eq!(before.len(), 4, "{before:?}");
    // A destination that is a file: a file error, nothing written.
    let e = state
        .export(
            "f1",
            ExportKind::Totals,
            None,
            &done.path.join("x"),
            &mut ignore,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), CoordinatorErrorCode::FileError);

    // The night cannot be closed while the conflict waits: its fresh history would keep only
    // the visible value.
    let close = format!("/api/nights/{}/close", night.night_id);
    let (status, body) = server
        .api("POST", &close, Some(&coordinator.token), None)
        .await
        .unwrap();
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "undecidedConflicts");

    // The conflict: the two values, choose one; the list then shows the resolution.
    let conflicts = state.conflicts().await.unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let c = &conflicts[0];
    assert_eq!((c.encounter_id, c.field.as_str()), (first, "men"));
    let mut values = c.values.clone();
    values.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(values, [EncounterEdit::Men(2), EncounterEdit::Men(3)]);
    let e = state
        .resolve_conflict(first, EncounterEdit::Men(9))
        .await
        .unwrap_err();
    assert_eq!(e.code(), CoordinatorErrorCode::InvalidInput);
    let e = state
        .resolve_conflict(uuid::Uuid::now_v7(), EncounterEdit::Men(2))
        .await
        .unwrap_err();
    assert_eq!(e.code(), CoordinatorErrorCode::NotFound);
    let resolution = state
        .resolve_conflict(first, EncounterEdit::Men(2))
        .await
        .unwrap();
    assert_eq!(resolution.resolved_by, coordinator.peer_id);
    let conflicts = state.conflicts().await.unwrap();
    assert_eq!(conflicts[0].resolution, Some(EncounterEdit::Men(2)));
    let figures = state.consolidation().await.unwrap();
    assert_eq!(figures.totals.men, 4, "the chosen value counts (2 + 1 + 1)");

    // The purge: the signs leave the server's documents; the figures stay.
    let report = state.purge_field_data().await.unwrap();
    assert_eq!((report.documents, report.purged), (1, 1));
    assert!(report.unreadable.is_empty());
    assert_eq!(state.purge_field_data().await.unwrap().purged, 0);
    assert_eq!(state.consolidation().await.unwrap(), figures);
    // Decided: the night closes.
    let (status, body) = server
        .api("POST", &close, Some(&coordinator.token), None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let stored = server.open_store().unwrap().load_automerge(&team).unwrap();
    let stored = doc::read_team(&stored.unwrap()).unwrap();
    assert!(
        stored
            .encounters
            .values()
            .all(|e| e.distinctive_signs.is_none())
    );
    server.stop().await.unwrap();
}
