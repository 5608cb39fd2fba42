//! The climate side of the coordinator mode (`carnet_app::climate_coord`) against a real
//! carnet-server on a loopback port (no display): a coordinator signed in with a night's
//! coordinator token publishes an edited kit (an item added, one renamed), a kit with mistakes
//! is refused without reaching the server, the level goes to red; two volunteer devices (the
//! app's `Device`, real WebSocket sync) get the new item and level, hand out items on one visit
//! (their counters add up) and the coordinator's progress counts them for the arrondissement.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use carnet_app::climate_coord;
use carnet_app::coordinator::{CoordinatorErrorCode, CoordinatorState};
use carnet_app::device::Device;
use carnet_shared::climate::{AlertLevel, Area, Handout};
use carnet_shared::model::Millis;
use carnet_tests::server::ADMIN_TOKEN;
use carnet_tests::{HANG_GUARD, TestServer};
use common::{eventually, fast_reconnect};

const T0: Millis = 1_782_900_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_edits_the_kit_and_level_and_follows_items_handed_out_by_volunteers() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await.unwrap();
    let url = format!("http://{}", server.addr);
    let night = server.night(1, 1).await.unwrap();
    let coordinator = server
        .coordinator(&night.night_id, "read-only", "read-only")
        .await
        .unwrap();
    let (status, group) = server
        .api(
            "POST",
            "/api/climate/groups",
            Some(ADMIN_TOKEN),
            Some(json!({"name": "Belleville", "codes": 2})),
        )
        .await
        .unwrap();
    assert!(status.is_success(), "{group}");
    let codes: Vec<String> = group["enrolment_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();

    let state = CoordinatorState::default();
    assert_eq!(
        climate_coord::kit(&state).await.unwrap_err().code(),
        CoordinatorErrorCode::NotSignedIn
    );
    state.sign_in(&url, &coordinator.token).await.unwrap();
    let before = climate_coord::kit(&state).await.unwrap();
    assert!(before.kit.is_none(), "nothing published yet");
    assert_eq!(before.alert.level, AlertLevel::Green);

    // The form: the default kit, one item renamed, one added at the top.
    let mut draft = serde_json::to_value(climate_coord::default_kit().unwrap()).unwrap();
    draft["checklists"][0]["items"][0]["label"] = json!("Eau : une bouteille à portée de main");
    draft["checklists"][0]["items"]
        .as_array_mut()
        .unwrap()
        .insert(
            0,
            json!({"id": "thermometre", "label": "Thermomètre dans la pièce"}),
        );
    let published = climate_coord::publish_kit(&state, &draft).await.unwrap();
    assert!(published.report.is_clean(), "{:?}", published.report);

    // A kit with a duplicate id is refused by the app; the server's kit is unchanged.
    let mut bad = draft.clone();
    bad["checklists"][0]["items"][1]["id"] = json!("thermometre");
    assert_eq!(
        climate_coord::publish_kit(&state, &bad)
            .await
            .unwrap_err()
            .code(),
        CoordinatorErrorCode::InvalidInput
    );
    let level = climate_coord::set_level(&state, AlertLevel::Red)
        .await
        .unwrap();
    assert_eq!(level.label, "Niveau 4 — mobilisation maximale");
    let on_server = climate_coord::kit(&state).await.unwrap();
    assert_eq!(on_server.alert.level, AlertLevel::Red);
    let items = &on_server.kit.as_ref().unwrap().checklists[0].items;
    assert_eq!(items[0].id, "thermometre");
    assert_eq!(items[1].label, "Eau : une bouteille à portée de main");

    // Two volunteers get the new kit and level by sync, and hand out items on one visit.
    let wait = Duration::from_secs(20);
    let mut a = Device::open_with(dir.path().join("a.sqlite3"), [1; 16], fast_reconnect())
        .await
        .unwrap();
    let mut b = Device::open_with(dir.path().join("b.sqlite3"), [2; 16], fast_reconnect())
        .await
        .unwrap();
    a.enrol(&url, &codes[0], T0, wait).await.unwrap();
    b.enrol(&url, &codes[1], T0, wait).await.unwrap();
    for device in [&a, &b] {
        eventually("the new kit on the device", || async {
            device.climate_kit().await.unwrap().is_some_and(|k| {
                k.alert.level == AlertLevel::Red && k.kit.as_ref() == on_server.kit.as_ref()
            })
        })
        .await;
    }
    let visit = a
        .start_visit(Uuid::now_v7(), "11", "visite", T0)
        .await
        .unwrap();
    // The added item can be ticked: it is part of the list the devices hold.
    a.tick(visit.id, "thermometre", true, T0 + 1).await.unwrap();
    eventually("B sees the visit", || async {
        b.volunteer_state()
            .await
            .unwrap()
            .is_some_and(|s| s.field.visits.contains_key(&visit.id))
    })
    .await;
    a.hand_out(visit.id, "eau", 2, T0 + 2).await.unwrap();
    b.hand_out(visit.id, "eau", 1, T0 + 3).await.unwrap();
    b.hand_out(visit.id, "depliant", 1, T0 + 4).await.unwrap();

    let area = Area::parse("75011").unwrap();
    let mut shown = None;
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    while shown.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never: the progress"
        );
        let p = climate_coord::progress(&state).await.unwrap();
        if p.areas
            .get(&area)
            .and_then(|a| a.items.get(&Handout::Water))
            == Some(&3)
            && p.areas[&area].items.get(&Handout::Leaflet) == Some(&1)
        {
            shown = Some(p);
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let p = shown.unwrap();
    assert_eq!(p.areas[&area].visits, 1);
    assert_eq!(p.areas[&area].ticked_items, 1);
    assert_eq!(p.totals.handed_out[&Handout::Water], 3);
    for device in [&a, &b] {
        eventually("both devices count 3 bottles on the visit", || async {
            device
                .volunteer_state()
                .await
                .unwrap()
                .is_some_and(|s| s.field.visits[&visit.id].items.get(&Handout::Water) == Some(&3))
        })
        .await;
    }
    a.close().await;
    b.close().await;
}
