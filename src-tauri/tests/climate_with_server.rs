//! The app's `Device` as a climate volunteer against a real carnet-server on a loopback port,
//! without a display: a published kit, fountains and a volunteer group made over HTTP; two
//! devices enrol with the group's codes through the app's own enrolment (which tries the team
//! endpoint first); one starts a visit, the other sees it; with the server stopped both read
//! the kit and the nearest places and tick the same checklist (different items and one item on
//! both); after the server restarts on the same address, both devices and the server's own
//! file converge on the same ticks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use uuid::Uuid;

use carnet_app::device::{Device, DeviceError, ErrorCode};
use carnet_shared::climate::{self, AlertLevel, Field, PlaceKind};
use carnet_shared::ids::DocumentId;
use carnet_shared::model::Millis;
use carnet_shared::store::Store;
use carnet_tests::TestServer;
use carnet_tests::server::ADMIN_TOKEN;
use common::{eventually, fast_reconnect, synced};

const KIT: &str = include_str!("../../shared/kits/canicule.json");
const FOUNTAINS: &str = include_str!("../../shared/kits/fixtures/fontaines-a-boire.csv");
const T0: Millis = 1_782_900_000_000;

/// One admin call over real HTTP; the answer's JSON.
async fn admin(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: String,
) -> serde_json::Value {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = client
        .request(method, format!("http://{addr}{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let value: serde_json::Value = response.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {value}");
    value
}

async fn field(device: &Device) -> Field {
    device
        .volunteer_state()
        .await
        .unwrap()
        .expect("the group's field document is on the device")
        .field
}

fn server_field(db: &Path, doc: &DocumentId) -> Field {
    let stored = Store::open(db).unwrap().load_automerge(doc).unwrap();
    climate::read_field(&stored.expect("the server holds the field document")).unwrap()
}

fn ticks(pairs: &[(&str, bool)]) -> BTreeMap<String, bool> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_volunteer_devices_tick_one_visit_offline_and_converge_with_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server_dir = dir.path().join("server");
    std::fs::create_dir_all(&server_dir).unwrap();
    let server = TestServer::start(&server_dir).await.unwrap();
    let addr = server.addr;
    admin(addr, "POST", "/api/climate/kit", KIT.to_owned()).await;
    admin(
        addr,
        "PUT",
        "/api/climate/alert-level",
        r#"{"level":"orange"}"#.into(),
    )
    .await;
    admin(
        addr,
        "POST",
        "/api/climate/places?kind=fountain&format=csv",
        FOUNTAINS.to_owned(),
    )
    .await;
    let group = admin(
        addr,
        "POST",
        "/api/climate/groups",
        r#"{"name":"Belleville","codes":3}"#.into(),
    )
    .await;
    let codes: Vec<String> = group["enrolment_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let field_doc = DocumentId::parse_url(group["document_url"].as_str().unwrap()).unwrap();
    let url = format!("http://{addr}");

    let mut a = Device::open_with(dir.path().join("a.sqlite3"), [1; 16], fast_reconnect())
        .await
        .unwrap();
    let mut b = Device::open_with(dir.path().join("b.sqlite3"), [2; 16], fast_reconnect())
        .await
        .unwrap();
    let wait = Duration::from_secs(20);
    assert!(a.enrol(&url, &codes[0], T0, wait).await.unwrap().is_none());
    assert!(b.enrol(&url, &codes[1], T0, wait).await.unwrap().is_none());
    // A spent volunteer code is refused as such (not as unknown).
    let mut c = Device::open_with(dir.path().join("c.sqlite3"), [3; 16], fast_reconnect())
        .await
        .unwrap();
    let used = c.enrol(&url, &codes[0], T0, wait).await.unwrap_err();
    assert_eq!(used.code(), ErrorCode::EnrolmentCodeUsed);
    assert!(
        c.enrolment().is_none(),
        "a refused code leaves nothing behind"
    );

    let state = a.volunteer_state().await.unwrap().unwrap();
    assert_eq!(state.group_name, "Belleville");
    assert!(state.field.visits.is_empty());
    assert!(
        a.team_state().await.unwrap().is_none(),
        "a volunteer has no team"
    );
    assert!(matches!(
        a.list_encounters().await,
        Err(DeviceError::NotEnrolled)
    ));

    // A visit started on A reaches B while the server is up.
    let visit = a
        .start_visit(Uuid::now_v7(), "11", "visite", T0)
        .await
        .unwrap();
    assert_eq!(visit.area.as_str(), "75011");
    eventually("B sees A's visit", || async {
        field(&b).await.visits.contains_key(&visit.id)
    })
    .await;
    eventually("A synced", || async { synced(&a) }).await;
    eventually("B synced", || async { synced(&b) }).await;

    // The server goes away.
    server.stop().await.unwrap();

    for device in [&a, &b] {
        let kit = device
            .climate_kit()
            .await
            .unwrap()
            .expect("kit held offline");
        assert_eq!(kit.alert.level, AlertLevel::Orange);
        assert_eq!(kit.kit.as_ref().unwrap().id, "canicule");
        assert!(!kit.current_actions().is_empty());
        // Place de la République: the Wallace fountain there comes first.
        let near = device
            .nearest_places(48.8674, 2.3636, 2, Some(PlaceKind::Fountain))
            .await
            .unwrap();
        assert_eq!(near.len(), 2);
        assert_eq!(near[0].place.id, "450025001");
        assert!(near[0].distance_m <= near[1].distance_m);
    }

    // Different items on each device, and `eau` on both.
    a.tick(visit.id, "eau", true, T0 + 1).await.unwrap();
    a.tick(visit.id, "volets", true, T0 + 2).await.unwrap();
    b.tick(visit.id, "eau", true, T0 + 3).await.unwrap();
    b.tick(visit.id, "ventilateur", true, T0 + 4).await.unwrap();
    let only_b = b.tick(visit.id, "repas", true, T0 + 5).await.unwrap();
    b.tick(visit.id, "repas", false, T0 + 6).await.unwrap();
    assert!(only_b.ticks["repas"]);
    assert!(a.pending_changes() > 0 && b.pending_changes() > 0);
    // Items not in the kit's list, unknown visits: refused, nothing written.
    assert_eq!(
        a.tick(visit.id, "nom-de-la-personne", true, T0)
            .await
            .unwrap_err()
            .code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        a.tick(Uuid::now_v7(), "eau", true, T0)
            .await
            .unwrap_err()
            .code(),
        ErrorCode::NotFound
    );

    // The server comes back on the same address; everyone converges.
    let server = TestServer::start_on(&server_dir, addr).await.unwrap();
    let expected = ticks(&[
        ("eau", true),
        ("repas", false),
        ("ventilateur", true),
        ("volets", true),
    ]);
    for (name, device) in [("A", &a), ("B", &b)] {
        eventually(&format!("{name} converges"), || async {
            field(device).await.visits[&visit.id].ticks == expected
        })
        .await;
    }
    eventually("A synced again", || async { synced(&a) }).await;
    eventually("B synced again", || async { synced(&b) }).await;
    let stored = server_field(&server.db_path, &field_doc);
    assert_eq!(stored.visits.len(), 1);
    assert_eq!(stored.visits[&visit.id].ticks, expected);
    assert_eq!(stored, field(&a).await);

    a.close().await;
    b.close().await;
    c.close().await;
    server.stop().await.unwrap();
}
