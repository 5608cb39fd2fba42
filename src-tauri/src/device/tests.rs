//! `Device` against a real SQLite file and real team/night documents (made with
//! `carnet_shared::doc`, as the server does), without Tauri.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use automerge::ActorId;
use uuid::Uuid;

use carnet_shared::doc;
use carnet_shared::ids::DocumentId;
use carnet_shared::model::{
    Alerts, Answer, CoverageStatus, EncounterEdit, InterviewStatus, NightHeader,
    QuestionnaireDefinition, Sector, SectorId, Situation, SpaceType, TeamHeader, TeamId,
};

use super::*;

const T0: Millis = 1_769_814_000_000;
const NIGHT: DocumentId = DocumentId::from_bytes([1; 16]);
const TEAM: DocumentId = DocumentId::from_bytes([2; 16]);

fn enrolment() -> Enrolment {
    Enrolment {
        server_url: "http://127.0.0.1:1".into(),
        token: "carnet_secret".into(),
        peer_id: "device-x".into(),
        kind: EnrolmentKind::Team,
        name: "Équipe 42".into(),
        shared_doc: NIGHT,
        own_doc: TEAM,
    }
}

/// The documents as the server creates them (another actor than the device's).
fn server_documents() -> (Vec<u8>, Vec<u8>) {
    let mut night = doc::new_doc(ActorId::from([9u8; 16]));
    doc::create_night(
        &mut night,
        &NightHeader {
            id: Uuid::from_u128(42),
            date: "2026-01-29".into(),
            label: "Nuit de la Solidarité 2026".into(),
        },
        T0,
    )
    .unwrap();
    doc::put_sector(
        &mut night,
        &SectorId("S-01".into()),
        &Sector {
            name: "Halles".into(),
            arrondissement: Some(1),
            geojson: r#"{"type":"Polygon","coordinates":[[[2.34,48.86],[2.35,48.86],[2.35,48.87],[2.34,48.86]]]}"#.into(),
        },
        T0,
    )
    .unwrap();
    doc::set_questionnaire(
        &mut night,
        &QuestionnaireDefinition {
            version: 3,
            definition: "{}".into(),
        },
        T0,
    )
    .unwrap();
    let mut team = doc::new_doc(ActorId::from([8u8; 16]));
    doc::create_team(
        &mut team,
        &TeamHeader {
            team_id: TeamId("T-042".into()),
            night_id: Uuid::from_u128(42),
            name: "Équipe 42".into(),
            sectors: BTreeSet::from([SectorId("S-01".into())]),
        },
        T0,
    )
    .unwrap();
    (night.save(), team.save())
}

async fn enrolled(path: &std::path::Path) -> Device {
    let mut d = Device::open(path, [5; 16]).await.unwrap();
    // As a demo seed does: documents first, then the enrolment starts the sync client (which
    // finds no server at 127.0.0.1:1 and keeps everything on the device).
    let (night, team) = server_documents();
    d.store_document(NIGHT, night).await.unwrap();
    d.store_document(TEAM, team).await.unwrap();
    d.save_enrolment(enrolment(), T0).await.unwrap();
    d
}

fn draft(n: u128) -> EncounterDraft {
    EncounterDraft {
        id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + n),
        started_at: T0 + 60_000,
        space_type: Some(SpaceType::MetroRer),
        place_detail: "  Châtelet, couloir 4 ".into(),
        installation: Some(carnet_shared::model::Installation::None),
        situation: Some(Situation::Alone),
        counts: carnet_shared::model::PeopleCounts {
            women: 1,
            ..Default::default()
        },
        interview: Some(InterviewStatus::Accepted),
        observed_sex: None,
        age_band: None,
        alerts: Alerts::default(),
        position: None,
        distinctive_signs: Some("manteau rouge".into()),
        questionnaire_version: None,
        answers: BTreeMap::from([("sex".to_owned(), Answer::Choice("female".into()))]),
    }
}

#[tokio::test]
async fn recorded_encounter_reads_back_after_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("carnet.sqlite3");
    let recorded = {
        let mut d = enrolled(&path).await;
        d.save_draft(&draft(1), T0).await.unwrap();
        let e = d.record_encounter(&draft(1), T0 + 90_000).await.unwrap();
        assert_eq!(e.place_detail, "Châtelet, couloir 4");
        assert_eq!(e.source_device, d.device_id());
        assert_eq!(
            e.questionnaire_version,
            Some(3),
            "the night's questionnaire version"
        );
        assert!(
            d.list_drafts().await.unwrap().is_empty(),
            "the draft is dropped"
        );
        d.close().await;
        e
    };
    // A new process on the same file: same device id, the encounter is there.
    let d = Device::open(&path, [6; 16]).await.unwrap();
    assert_eq!(d.device_id(), recorded.source_device);
    let list = d.list_encounters().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].encounter, recorded);
    assert_eq!(list[0].sync_state, RecordSyncState::Device);
    let state = d.team_state().await.unwrap().unwrap();
    assert_eq!(state.team.encounters[&recorded.id], recorded);
    assert_eq!(state.night.sectors.len(), 1);
}

#[tokio::test]
async fn drafts_survive_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("carnet.sqlite3");
    {
        let d = enrolled(&path).await;
        let mut first = draft(1);
        d.save_draft(&first, T0).await.unwrap();
        first.place_detail = "Les Halles, sortie Rambuteau".into();
        d.save_draft(&first, T0 + 1).await.unwrap();
        d.save_draft(&draft(2), T0 + 2).await.unwrap();
        // Dropped without closing anything, as a killed app would.
    }
    let d = Device::open(&path, [6; 16]).await.unwrap();
    let drafts = d.list_drafts().await.unwrap();
    assert_eq!(drafts.len(), 2, "an upsert, not a second row");
    assert_eq!(drafts[1].place_detail, "Les Halles, sortie Rambuteau");
    d.discard_draft(draft(2).id).await.unwrap();
    assert_eq!(d.list_drafts().await.unwrap().len(), 1);
}

#[tokio::test]
async fn recording_twice_gives_one_encounter() {
    let dir = tempfile::tempdir().unwrap();
    let d = enrolled(&dir.path().join("db")).await;
    let a = d.record_encounter(&draft(1), T0).await.unwrap();
    let b = d.record_encounter(&draft(1), T0 + 5).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(d.list_encounters().await.unwrap().len(), 1);
}

#[tokio::test]
async fn tallies_add_up_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let mut d = enrolled(&path).await;
        assert_eq!(
            d.add_to_tally("street:male:from25To34", 1, T0)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            d.add_to_tally("street:male:from25To34", 2, T0)
                .await
                .unwrap(),
            3
        );
        assert_eq!(
            d.add_to_tally("street:male:from25To34", -1, T0)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            d.add_to_tally("metroRer:female:unknown", 1, T0)
                .await
                .unwrap(),
            1
        );
        d.close().await;
    }
    let d = Device::open(&path, [0; 16]).await.unwrap();
    let team = d.team_state().await.unwrap().unwrap().team;
    assert_eq!(team.tallied(), 3);
}

#[tokio::test]
async fn bad_tallies_are_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = enrolled(&dir.path().join("db")).await;
    for (key, delta) in [
        ("street:male", 1),
        ("street:male:from25To34", 0),
        ("street:male:from25To34", -1),
    ] {
        let e = d.add_to_tally(key, delta, T0).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidInput, "{key} {delta}");
    }
}

#[tokio::test]
async fn errors_map_to_the_ui_codes() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = Device::open(dir.path().join("fresh"), [1; 16])
        .await
        .unwrap();
    assert!(fresh.team_state().await.unwrap().is_none());
    assert_eq!(
        fresh
            .record_encounter(&draft(1), T0)
            .await
            .unwrap_err()
            .code(),
        ErrorCode::NotEnrolled
    );
    assert_eq!(
        fresh.check_out(T0).await.unwrap_err().code(),
        ErrorCode::NotEnrolled
    );

    let d = enrolled(&dir.path().join("db")).await;
    let mut incomplete = draft(1);
    incomplete.space_type = None;
    incomplete.counts = Default::default();
    match d.record_encounter(&incomplete, T0).await.unwrap_err() {
        DeviceError::InvalidEncounter(issues) => {
            assert_eq!(issues, vec!["missing:spaceType".to_owned()])
        }
        other => panic!("{other:?}"),
    }
    let mut empty = draft(2);
    empty.counts = Default::default();
    match d.record_encounter(&empty, T0).await.unwrap_err() {
        DeviceError::InvalidEncounter(issues) => assert!(issues.contains(&"noPeople".to_owned())),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        d.edit_encounter(Uuid::from_u128(7), &EncounterEdit::Men(1), T0)
            .await
            .unwrap_err()
            .code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        d.check_out(T0).await.unwrap_err().code(),
        ErrorCode::NoOpenRound
    );
    d.check_in(Some(SectorId("S-01".into())), Uuid::from_u128(1), T0)
        .await
        .unwrap();
    assert_eq!(
        d.check_in(None, Uuid::from_u128(2), T0)
            .await
            .unwrap_err()
            .code(),
        ErrorCode::RoundAlreadyOpen
    );
    assert_eq!(
        d.mark_sector_covered(SectorId("S-99".into()), true, T0)
            .await
            .unwrap_err()
            .code(),
        ErrorCode::NotFound
    );
}

#[tokio::test]
async fn closed_round_refuses_edits() {
    let dir = tempfile::tempdir().unwrap();
    let d = enrolled(&dir.path().join("db")).await;
    d.check_in(Some(SectorId("S-01".into())), Uuid::from_u128(1), T0)
        .await
        .unwrap();
    let e = d.record_encounter(&draft(1), T0 + 90_000).await.unwrap();
    let edited = d
        .edit_encounter(
            e.id,
            &EncounterEdit::PlaceDetail("Quai 2".into()),
            T0 + 100_000,
        )
        .await
        .unwrap();
    assert_eq!(edited.place_detail, "Quai 2");
    let round = d.check_out(T0 + 3_600_000).await.unwrap();
    assert_eq!(round.checked_out_at, Some(T0 + 3_600_000));
    assert_eq!(
        d.edit_encounter(
            e.id,
            &EncounterEdit::PlaceDetail("x".into()),
            T0 + 3_700_000
        )
        .await
        .unwrap_err()
        .code(),
        ErrorCode::RoundClosed
    );
    // Safety first: an alert can still be raised on it.
    d.raise_alert(
        &AlertRequest {
            encounter_id: Some(e.id),
            kinds: vec![AlertKind::Health],
            called_number: Some(EmergencyNumber::Samu),
        },
        T0 + 3_800_000,
    )
    .await
    .unwrap();
    let list = d.list_encounters().await.unwrap();
    assert!(list[0].encounter.alerts.health);
    assert_eq!(list[0].encounter.place_detail, "Quai 2");
}

#[tokio::test]
async fn coverage_and_rounds_are_signed_by_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let d = enrolled(&dir.path().join("db")).await;
    let before = d.pending_changes();
    let c = d
        .mark_sector_covered(SectorId("S-01".into()), true, T0)
        .await
        .unwrap();
    assert_eq!(c.status, CoverageStatus::CoveredNoneFound);
    let r = d.check_in(None, Uuid::from_u128(3), T0).await.unwrap();
    let team = d.team_state().await.unwrap().unwrap().team;
    assert_eq!(
        team.coverage[&SectorId("S-01".into())].device,
        d.device_id()
    );
    assert_eq!(team.rounds[&r.id].device, d.device_id());
    assert_eq!(
        d.pending_changes() - before,
        2,
        "two writes, two changes the server does not hold"
    );
}

#[tokio::test]
async fn alert_on_a_draft_sets_its_flags() {
    let dir = tempfile::tempdir().unwrap();
    let d = enrolled(&dir.path().join("db")).await;
    d.save_draft(&draft(4), T0).await.unwrap();
    d.raise_alert(
        &AlertRequest {
            encounter_id: Some(draft(4).id),
            kinds: vec![AlertKind::Minor, AlertKind::VulnerableWoman],
            called_number: None,
        },
        T0,
    )
    .await
    .unwrap();
    let drafts = d.list_drafts().await.unwrap();
    assert!(drafts[0].alerts.minor && drafts[0].alerts.vulnerable_woman);
    assert!(!drafts[0].alerts.health);
}

#[tokio::test]
async fn the_token_is_not_in_debug_output() {
    assert!(!format!("{:?}", enrolment()).contains("secret"));
}

#[tokio::test]
async fn the_draft_json_is_the_ui_shape() {
    let json = r#"{"id":"01900000-0000-7000-8000-000000000001","startedAt":1769814060000,
      "spaceType":null,"placeDetail":"","installation":null,"situation":null,
      "counts":{"men":0,"women":0,"unknownSex":0,"children":0,"pregnantWomen":0},
      "interview":null,"observedSex":null,"ageBand":null,
      "alerts":{"vulnerableWoman":false,"minor":false,"health":false},
      "position":null,"distinctiveSigns":null,"questionnaireVersion":null,"answers":{}}"#;
    let d: EncounterDraft = serde_json::from_str(json).unwrap();
    assert_eq!(d.started_at, 1_769_814_060_000);
    assert!(d.space_type.is_none());
}

#[tokio::test]
async fn documents_that_never_arrive_are_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Device::open(dir.path().join("db"), [1; 16]).await.unwrap();
    d.save_enrolment(enrolment(), T0).await.unwrap();
    assert!(d.team_state().await.unwrap().is_none());
    let client = d.client().unwrap().clone();
    let err = wait_for_documents(&client, &[NIGHT, TEAM], Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, DeviceError::EnrolmentPending), "{err:?}");
    assert_eq!(err.code(), ErrorCode::EnrolmentPending);
    // The enrolment is kept: the UI shows it as waiting, not the enrolment form.
    let view = d.enrolment_view().unwrap();
    assert_eq!(view.kind, EnrolmentKind::Team);
    assert_eq!(view.name, enrolment().name);
    // Once the sync client runs, documents only come through it.
    assert_eq!(
        d.store_document(TEAM, vec![1, 2, 3])
            .await
            .unwrap_err()
            .code(),
        ErrorCode::InvalidInput
    );
    d.close().await;
}

/// Not a test: writes a demo database (enrolled, the default questionnaire, a round, two
/// encounters, tallies, a draft) for looking at the real app, e.g.
/// `CARNET_SEED_DB=$XDG_DATA_HOME/fr.paris.carnet/carnet.sqlite3 cargo test -p carnet-app
/// seed_demo_database -- --ignored`. The enrolment points at 127.0.0.1:1 (no server): the app
/// shows the device offline with its records pending.
#[tokio::test]
#[ignore = "writes the file named by CARNET_SEED_DB"]
async fn seed_demo_database() {
    let Ok(path) = std::env::var("CARNET_SEED_DB") else {
        return;
    };
    let path = std::path::PathBuf::from(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut d = Device::open(&path, [5; 16]).await.unwrap();
    let (night, team) = server_documents();
    // The real questionnaire, so that the form renders as in the field.
    let mut night = doc::load_doc(&night, ActorId::from([9u8; 16])).unwrap();
    doc::set_questionnaire(
        &mut night,
        &QuestionnaireDefinition {
            version: 2026,
            definition: include_str!("../../../shared/questionnaire/default-2026.json").into(),
        },
        T0,
    )
    .unwrap();
    d.store_document(NIGHT, night.save()).await.unwrap();
    d.store_document(TEAM, team).await.unwrap();
    d.save_enrolment(enrolment(), T0).await.unwrap();
    d.check_in(Some(SectorId("S-01".into())), Uuid::from_u128(1), T0)
        .await
        .unwrap();
    d.record_encounter(&draft(1), T0 + 60_000).await.unwrap();
    let mut family = draft(2);
    family.started_at = T0 + 600_000;
    family.space_type = Some(SpaceType::Street);
    family.situation = Some(Situation::FamilyWithChildren);
    family.counts.men = 1;
    family.counts.children = 2;
    family.interview = Some(InterviewStatus::Asleep);
    family.answers.clear();
    family.distinctive_signs = None;
    d.record_encounter(&family, T0 + 600_000).await.unwrap();
    d.add_to_tally("street:male:from25To34", 2, T0)
        .await
        .unwrap();
    d.add_to_tally("street:female:unknown", 1, T0)
        .await
        .unwrap();
    d.save_draft(&draft(3), T0 + 700_000).await.unwrap();
    d.close().await;
}
