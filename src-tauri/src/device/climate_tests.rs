//! `Device` as a climate volunteer without a server: documents seeded as the server makes
//! them, the enrolment kept across reopening, offline visits and ticks, bad input refused.

use automerge::{ActorId, AutoCommit};
use uuid::Uuid;

use carnet_shared::climate::{self, KitImport};
use carnet_shared::ids::DocumentId;
use carnet_shared::model::Millis;

use super::*;

const T0: Millis = 1_782_900_000_000;
const KIT: DocumentId = DocumentId::from_bytes([3; 16]);
const FIELD: DocumentId = DocumentId::from_bytes([4; 16]);

fn volunteer_enrolment() -> Enrolment {
    Enrolment {
        server_url: "http://127.0.0.1:1".into(),
        token: "carnet_secret".into(),
        peer_id: "volunteer-x".into(),
        kind: EnrolmentKind::Volunteer,
        name: "Belleville".into(),
        shared_doc: KIT,
        own_doc: FIELD,
    }
}

/// The kit and field documents as the server makes them (another actor than the device's).
fn server_documents() -> (Vec<u8>, Vec<u8>) {
    let KitImport { kit, .. } =
        climate::parse_kit(include_str!("../../../shared/kits/canicule.json")).unwrap();
    let mut k = AutoCommit::new().with_actor(ActorId::from([9u8; 16]));
    climate::create_kit_doc(&mut k, T0).unwrap();
    climate::publish_kit(&mut k, &kit, T0).unwrap();
    climate::set_alert_level(&mut k, climate::AlertLevel::Red, T0).unwrap();
    let mut f = AutoCommit::new().with_actor(ActorId::from([9u8; 16]));
    climate::create_field_doc(&mut f, Uuid::from_u128(7), "Belleville").unwrap();
    (k.save(), f.save())
}

async fn volunteer(path: &std::path::Path) -> Device {
    let mut d = Device::open(path, [6; 16]).await.unwrap();
    let (kit, field) = server_documents();
    d.store_document(KIT, kit).await.unwrap();
    d.store_document(FIELD, field).await.unwrap();
    d.save_enrolment(volunteer_enrolment(), T0).await.unwrap();
    d
}

#[tokio::test]
async fn a_volunteer_visit_and_its_ticks_survive_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("carnet.sqlite3");
    let id = Uuid::now_v7();
    {
        let mut d = volunteer(&path).await;
        let v = d.start_visit(id, "20e", "visite", T0).await.unwrap();
        assert_eq!(v.area.as_str(), "75020");
        // A double tap gives the same visit, not a second one.
        assert_eq!(d.start_visit(id, "20", "visite", T0 + 5).await.unwrap(), v);
        let after = d.tick(id, "volets", true, T0 + 1).await.unwrap();
        assert!(after.ticks["volets"]);
        d.close().await;
    }
    let mut d = Device::open(&path, [0; 16]).await.unwrap();
    assert_eq!(d.enrolment().unwrap().kind, EnrolmentKind::Volunteer);
    let state = d.volunteer_state().await.unwrap().unwrap();
    assert_eq!(state.group_name, "Belleville");
    assert_eq!(state.field.visits.len(), 1);
    assert_eq!(
        state.field.visits[&id].ticks,
        [("volets".to_owned(), true)].into()
    );
    let kit = d.climate_kit().await.unwrap().unwrap();
    assert_eq!(kit.alert.level, climate::AlertLevel::Red);
    d.close().await;
}

#[tokio::test]
async fn volunteer_and_team_commands_refuse_the_other_kind_of_device() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = volunteer(&dir.path().join("v.sqlite3")).await;
    assert!(v.team_state().await.unwrap().is_none());
    assert_eq!(
        v.add_to_tally("street:male:from25To34", 1, T0)
            .await
            .unwrap_err()
            .code(),
        ErrorCode::NotEnrolled
    );
    v.close().await;
    let mut t = Device::open(dir.path().join("t.sqlite3"), [8; 16])
        .await
        .unwrap();
    assert!(t.volunteer_state().await.unwrap().is_none());
    assert_eq!(
        t.climate_kit().await.unwrap_err().code(),
        ErrorCode::NotEnrolled
    );
    t.close().await;
}

#[tokio::test]
async fn bad_climate_input_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = volunteer(&dir.path().join("carnet.sqlite3")).await;
    let code = |e: DeviceError| e.code();
    let id = Uuid::now_v7();
    for area in ["12 rue de la Paix", "93200", ""] {
        let e = d.start_visit(id, area, "visite", T0).await.unwrap_err();
        assert_eq!(code(e), ErrorCode::InvalidInput, "{area}");
    }
    let e = d.start_visit(id, "11", "inconnue", T0).await.unwrap_err();
    assert_eq!(code(e), ErrorCode::NotFound);
    assert!(
        d.volunteer_state()
            .await
            .unwrap()
            .unwrap()
            .field
            .visits
            .is_empty()
    );
    for (lat, lon, n) in [
        (f64::NAN, 2.3, 5),
        (91.0, 2.3, 5),
        (48.8, 2.3, 0),
        (48.8, 2.3, 51),
    ] {
        let e = d.nearest_places(lat, lon, n, None).await.unwrap_err();
        assert_eq!(code(e), ErrorCode::InvalidInput, "{lat} {lon} {n}");
    }
    // The kit has no places of its own and none were imported: an empty answer.
    assert!(
        d.nearest_places(48.8, 2.3, 5, None)
            .await
            .unwrap()
            .is_empty()
    );
    d.start_visit(id, "11", "maraude", T0).await.unwrap();
    // `volets` is on the home-visit list, not on the street one.
    let e = d.tick(id, "volets", true, T0).await.unwrap_err();
    assert_eq!(code(e), ErrorCode::NotFound);
    let visit = &d.volunteer_state().await.unwrap().unwrap().field.visits[&id];
    assert!(visit.ticks.is_empty());
    d.close().await;
}

#[tokio::test]
async fn items_handed_out_on_a_visit_count_on_the_visit_and_the_group_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("carnet.sqlite3");
    let id = Uuid::now_v7();
    {
        let mut d = volunteer(&path).await;
        d.start_visit(id, "11", "visite", T0).await.unwrap();
        d.hand_out(id, "eau", 1, T0 + 1).await.unwrap();
        d.hand_out(id, "eau", 1, T0 + 2).await.unwrap();
        let field = d.hand_out(id, "depliant", 1, T0 + 3).await.unwrap();
        assert_eq!(field.visits[&id].items[&climate::Handout::Water], 2);
        let field = d.hand_out(id, "eau", -1, T0 + 4).await.unwrap();
        assert_eq!(field.visits[&id].items[&climate::Handout::Water], 1);
        assert_eq!(field.handed_out[&climate::Handout::Water], 1);
        assert_eq!(field.handed_out[&climate::Handout::Leaflet], 1);
        d.close().await;
    }
    let mut d = Device::open(&path, [0; 16]).await.unwrap();
    let field = d.volunteer_state().await.unwrap().unwrap().field;
    assert_eq!(field.visits[&id].items[&climate::Handout::Water], 1);
    assert_eq!(field.handed_out[&climate::Handout::Water], 1);

    // Bad input: refused, nothing written.
    let code = |e: DeviceError| e.code();
    for (visit, kind, delta, want) in [
        (id, "champagne", 1, ErrorCode::InvalidInput),
        (id, "eau", 0, ErrorCode::InvalidInput),
        (id, "eau", 101, ErrorCode::InvalidInput),
        (id, "eau", -2, ErrorCode::InvalidInput),
        (id, "eventail", -1, ErrorCode::InvalidInput),
        (Uuid::now_v7(), "eau", 1, ErrorCode::NotFound),
    ] {
        let e = d.hand_out(visit, kind, delta, T0 + 9).await.unwrap_err();
        assert_eq!(code(e), want, "{kind} {delta}");
    }
    assert_eq!(d.volunteer_state().await.unwrap().unwrap().field, field);
    d.close().await;
}
