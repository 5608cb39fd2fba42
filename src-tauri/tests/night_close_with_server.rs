//! The app's `Device` when the coordination closes the night (`POST /api/nights/{id}/close`
//! on a real carnet-server, loopback, real WebSocket): the server refuses the device's token
//! from then on. A device whose changes all reached the server erases the night's documents,
//! its token and its drafts — the raw bytes of its SQLite file no longer hold the distinctive
//! signs, so it can never send the erased history back; a device with changes the server
//! never got keeps everything (they are the only copy).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use uuid::Uuid;

use carnet_app::device::{AccessRevoked, Device, EncounterDraft};
use carnet_app::enrol::token_revoked;
use carnet_shared::model::{Alerts, InterviewStatus, Millis, PeopleCounts, Situation, SpaceType};
use carnet_shared::net::LinkProblem;
use carnet_tests::{HANG_GUARD, TestServer};
use common::{eventually, fast_reconnect, synced};

const T0: Millis = 1_769_814_000_000;

fn draft(signs: &str) -> EncounterDraft {
    EncounterDraft {
        id: Uuid::now_v7(),
        started_at: T0,
        space_type: Some(SpaceType::Street),
        place_detail: "rue de Rivoli".into(),
        installation: Some(carnet_shared::model::Installation::None),
        situation: Some(Situation::Alone),
        counts: PeopleCounts {
            men: 1,
            ..Default::default()
        },
        interview: Some(InterviewStatus::Asleep),
        observed_sex: None,
        age_band: None,
        alerts: Alerts::default(),
        position: None,
        distinctive_signs: Some(signs.to_owned()),
        questionnaire_version: None,
        answers: BTreeMap::new(),
    }
}

fn refused(device: &Device) -> bool {
    device.client().is_some_and(|c| {
        let s = c.status().borrow().clone();
        !s.connected && matches!(s.last_error, Some(LinkProblem::Refused(401 | 403)))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_night_erases_a_synced_device_and_keeps_an_unsynced_one() {
    let dir = tempfile::tempdir().unwrap();
    let server_dir = dir.path().join("server");
    std::fs::create_dir_all(&server_dir).unwrap();
    let server = TestServer::start(&server_dir).await.unwrap();
    let night = server.night(1, 2).await.unwrap();
    let team = &night.teams[0];
    let url = format!("http://{}", server.addr);

    let synced_marker = format!("signe-synced-{}", Uuid::new_v4().simple());
    let kept_marker = format!("signe-kept-{}", Uuid::new_v4().simple());
    let db_a = dir.path().join("a.sqlite3");
    let db_b = dir.path().join("b.sqlite3");
    let mut a = Device::open_with(&db_a, [1; 16], fast_reconnect())
        .await
        .unwrap();
    let mut b = Device::open_with(&db_b, [2; 16], fast_reconnect())
        .await
        .unwrap();
    a.enrol(&url, &team.codes[0], T0, HANG_GUARD).await.unwrap();
    b.enrol(&url, &team.codes[1], T0, HANG_GUARD).await.unwrap();

    a.record_encounter(&draft(&synced_marker), T0)
        .await
        .unwrap();
    let open_form = draft("brouillon en cours");
    a.save_draft(&open_form, T0).await.unwrap();
    eventually("device A's encounter reaches the server", || async {
        synced(&a)
    })
    .await;
    assert!(
        carnet_tests::disk::on_disk(&db_a, &synced_marker),
        "the marker is findable before"
    );

    // Device B is in sync now; after the close it writes a change the server refuses, which
    // stays pending (below).
    eventually("device B is in sync", || async { synced(&b) }).await;

    // The server does not confirm a revocation while the token is valid.
    let token_a = a.enrolment().unwrap().token.clone();
    assert!(!token_revoked(&url, &token_a).await.unwrap());

    let coordinator = server
        .coordinator(&night.night_id, "read-only", "read-only")
        .await
        .unwrap();
    let (status, body) = server
        .api(
            "POST",
            &format!("/api/nights/{}/close", night.night_id),
            Some(&coordinator.token),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");

    // B writes after the close: the server refuses it, the change stays pending.
    b.record_encounter(&draft(&kept_marker), T0).await.unwrap();
    eventually("A's token is refused", || async { refused(&a) }).await;
    eventually("B's token is refused", || async { refused(&b) }).await;

    assert!(token_revoked(&url, &token_a).await.unwrap());
    assert_eq!(a.on_access_revoked().await.unwrap(), AccessRevoked::Erased);
    assert!(a.enrolment_view().is_none());
    assert!(a.team_state().await.unwrap().is_none());
    assert!(a.list_drafts().await.unwrap().is_empty());
    assert!(
        !carnet_tests::disk::on_disk(&db_a, &synced_marker),
        "erased from the file's bytes"
    );
    assert!(!carnet_tests::disk::on_disk(&db_a, "brouillon en cours"));

    let kept = b.on_access_revoked().await.unwrap();
    assert!(
        matches!(kept, AccessRevoked::Kept { pending } if pending > 0),
        "{kept:?}"
    );
    assert!(b.enrolment_view().is_some());
    assert!(
        carnet_tests::disk::on_disk(&db_b, &kept_marker),
        "the only copy stays"
    );
    assert_eq!(
        b.list_encounters().await.unwrap().len(),
        2,
        "B keeps both encounters"
    );

    // A restarted app stays erased (nothing to resume, no client started).
    a.close().await;
    drop(a);
    let a = Device::open_with(&db_a, [1; 16], fast_reconnect())
        .await
        .unwrap();
    assert!(a.enrolment_view().is_none());
    assert!(a.client().is_none());
    b.close().await;
    server.stop().await.unwrap();
}
