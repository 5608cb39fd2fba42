//! Model -> document -> bytes -> document -> model, and the storage rules of DESIGN §3.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use uuid::Uuid;

use super::*;
use crate::model::*;

pub(crate) const T0: Millis = 1_769_814_000_000;

pub(crate) fn actor(n: u8) -> ActorId {
    ActorId::from(vec![n; 16])
}

pub(crate) fn uuid_at(ms: Millis, n: u64) -> Uuid {
    let mut rand = [0u8; 10];
    rand[2..].copy_from_slice(&n.to_be_bytes());
    uuid::Builder::from_unix_timestamp_millis(ms as u64, &rand).into_uuid()
}

pub(crate) fn team_header() -> TeamHeader {
    TeamHeader {
        team_id: TeamId("T-042".into()),
        night_id: Uuid::from_u128(42),
        name: "Équipe 42".into(),
        sectors: BTreeSet::from([SectorId("S-01-03".into()), SectorId("S-01-04".into())]),
    }
}

pub(crate) fn new_team(actor_n: u8) -> AutoCommit {
    let mut doc = new_doc(actor(actor_n));
    create_team(&mut doc, &team_header(), T0).unwrap();
    doc
}

/// A minimal encounter: only the required fields.
pub(crate) fn minimal_encounter(id: Uuid) -> Encounter {
    Encounter {
        id,
        recorded_at: T0 + 60_000,
        space_type: SpaceType::Street,
        place_detail: String::new(),
        installation: Installation::Tent,
        situation: Situation::Alone,
        counts: PeopleCounts {
            men: 1,
            ..Default::default()
        },
        interview: InterviewStatus::Asleep,
        observed_sex: Some(ObservedSex::Male),
        age_band: Some(AgeBand::From35To44),
        alerts: Alerts::default(),
        position: None,
        distinctive_signs: None,
        questionnaire_version: None,
        answers: BTreeMap::new(),
        source_device: "device-b".into(),
        withdrawn: false,
    }
}

fn reload(doc: &mut AutoCommit, actor_n: u8) -> AutoCommit {
    load_doc(&doc.save(), actor(actor_n)).unwrap()
}

#[test]
fn team_round_trips_through_bytes() {
    let mut doc = new_team(1);
    let full = crate::model::sample_encounter(uuid_at(T0, 1));
    let minimal = minimal_encounter(uuid_at(T0, 2));
    record_encounter(&mut doc, &full, T0).unwrap();
    record_encounter(&mut doc, &minimal, T0).unwrap();
    let round = Round {
        id: uuid_at(T0, 3),
        sector_id: Some(SectorId("S-01-03".into())),
        checked_in_at: T0,
        checked_out_at: None,
        device: "device-a".into(),
    };
    check_in(&mut doc, &round, T0).unwrap();
    check_out(&mut doc, round.id, T0 + 3_600_000, T0).unwrap();
    let dim = TallyDimension {
        space_type: SpaceType::Street,
        sex: ObservedSex::Female,
        age_band: AgeBand::Unknown,
    };
    add_to_tally(&mut doc, dim, 3, T0).unwrap();
    add_to_tally(&mut doc, dim, -1, T0).unwrap();
    let coverage = SectorCoverage {
        status: CoverageStatus::CoveredNoneFound,
        updated_at: T0,
        device: "device-a".into(),
    };
    mark_coverage(&mut doc, &SectorId("S-01-04".into()), &coverage, T0).unwrap();

    let mut tallies: BTreeMap<TallyDimension, i64> =
        TallyDimension::all().map(|d| (d, 0)).collect();
    tallies.insert(dim, 2);
    let expected = Team {
        header: team_header(),
        rounds: BTreeMap::from([(
            round.id,
            Round {
                checked_out_at: Some(T0 + 3_600_000),
                ..round
            },
        )]),
        encounters: BTreeMap::from([(full.id, full), (minimal.id, minimal)]),
        tallies,
        coverage: BTreeMap::from([(SectorId("S-01-04".into()), coverage)]),
    };
    assert_eq!(read_team(&doc).unwrap(), expected);
    let loaded = reload(&mut doc, 2);
    assert_eq!(read_team(&loaded).unwrap(), expected);
    assert!(!expected.is_out());

    let json = serde_json::to_string(&expected).unwrap();
    assert!(json.contains("\"street:female:unknown\":2"));
    assert!(json.contains("\"teamId\":\"T-042\""));
    assert_eq!(serde_json::from_str::<Team>(&json).unwrap(), expected);
}

#[test]
fn values_are_scalar_strings_timestamps_and_counters() {
    let mut doc = new_team(1);
    let e = crate::model::sample_encounter(uuid_at(T0, 1));
    record_encounter(&mut doc, &e, T0).unwrap();
    let encounters = values::req_map(&doc, &ROOT, "encounters").unwrap();
    let obj = values::req_map(&doc, &encounters, &e.id.to_string()).unwrap();
    let get = |key: &str| doc.get(&obj, key).unwrap().unwrap().0;
    assert!(
        matches!(get("placeDetail"), Value::Scalar(s) if matches!(s.as_ref(), ScalarValue::Str(_)))
    );
    assert!(
        matches!(get("recordedAt"), Value::Scalar(s) if matches!(s.as_ref(), ScalarValue::Timestamp(t) if *t == e.recorded_at))
    );
    let tallies = values::req_map(&doc, &ROOT, "tallies").unwrap();
    assert_eq!(doc.keys(&tallies).count(), 192);
    assert!(
        doc.values(&tallies)
            .all(|(v, _)| matches!(v, Value::Scalar(s) if s.is_counter()))
    );
    assert!(
        matches!(doc.get(ROOT, "schema").unwrap().unwrap().0, Value::Scalar(s) if matches!(s.as_ref(), ScalarValue::Uint(1)))
    );
}

#[test]
fn team_creation_is_several_small_changes() {
    let mut doc = new_team(1);
    let changes = doc.get_changes(&[]);
    assert_eq!(changes.len(), 1 + SpaceType::ALL.len());
    // One change per type of space: 3 sexes x 8 age bands counters, never all 192 at once.
    assert!(
        changes.iter().all(|c| c.len() <= 24),
        "{:?}",
        changes.iter().map(|c| c.len()).collect::<Vec<_>>()
    );
}

#[test]
fn reader_tolerates_missing_optional_keys_and_rejects_wrong_types() {
    let mut doc = new_team(1);
    let e = minimal_encounter(uuid_at(T0, 1));
    record_encounter(&mut doc, &e, T0).unwrap();
    let encounters = values::req_map(&doc, &ROOT, "encounters").unwrap();
    let obj = values::req_map(&doc, &encounters, &e.id.to_string()).unwrap();
    // As another client might write it: no counts other than men, no alerts, no answers map.
    for key in [
        "placeDetail",
        "women",
        "children",
        "alertHealth",
        "withdrawn",
        "answers",
    ] {
        doc.delete(&obj, key).unwrap();
    }
    doc.commit();
    assert_eq!(read_team(&doc).unwrap().encounters[&e.id], e);

    // Collaborative Text where a scalar string belongs is refused, not silently read.
    doc.put_object(&obj, "placeDetail", ObjType::Text).unwrap();
    assert!(
        matches!(read_team(&doc), Err(DocError::WrongType { ref key, .. }) if key == "placeDetail")
    );
    doc.put(&obj, "placeDetail", "Rue de Rivoli").unwrap();
    doc.put(&obj, "men", "one").unwrap();
    assert!(matches!(read_team(&doc), Err(DocError::WrongType { ref key, .. }) if key == "men"));
    doc.put(&obj, "men", ScalarValue::Int(-1)).unwrap();
    assert!(matches!(read_team(&doc), Err(DocError::WrongType { .. })));
    doc.put(&obj, "men", ScalarValue::Int(1)).unwrap();
    doc.put(&obj, "spaceType", "beach").unwrap();
    assert!(matches!(read_team(&doc), Err(DocError::UnknownCode(ref k)) if k == "spaceType"));
    doc.put(&obj, "spaceType", "street").unwrap();
    doc.delete(&obj, "recordedAt").unwrap();
    assert!(matches!(read_team(&doc), Err(DocError::MissingKey(ref k)) if k == "recordedAt"));
}

#[test]
fn recording_the_same_encounter_twice_is_refused() {
    let mut doc = new_team(1);
    let e = minimal_encounter(uuid_at(T0, 1));
    record_encounter(&mut doc, &e, T0).unwrap();
    assert!(
        matches!(record_encounter(&mut doc, &e, T0), Err(DocError::EncounterExists(id)) if id == e.id)
    );
    assert!(matches!(
        edit_encounter(&mut doc, uuid_at(T0, 9), &EncounterEdit::Men(2), T0),
        Err(DocError::NoSuchEncounter(_))
    ));
}

#[test]
fn edits_of_different_fields_on_two_devices_merge_field_by_field() {
    let mut a = new_team(1);
    let e = minimal_encounter(uuid_at(T0, 1));
    record_encounter(&mut a, &e, T0).unwrap();
    let mut b = reload(&mut a, 2);
    edit_encounter(
        &mut a,
        e.id,
        &EncounterEdit::PlaceDetail("sous le pont".into()),
        T0,
    )
    .unwrap();
    edit_encounter(&mut b, e.id, &EncounterEdit::AlertHealth(true), T0).unwrap();
    edit_encounter(
        &mut b,
        e.id,
        &EncounterEdit::Position(Some(Position {
            lat: 48.85,
            lon: 2.35,
        })),
        T0,
    )
    .unwrap();
    a.merge(&mut b).unwrap();
    let merged = &read_team(&a).unwrap().encounters[&e.id];
    assert_eq!(merged.place_detail, "sous le pont");
    assert!(merged.alerts.health);
    assert_eq!(
        merged.position,
        Some(Position {
            lat: 48.85,
            lon: 2.35
        })
    );
    assert!(encounter_conflicts(&a, e.id).unwrap().is_empty());
}

#[test]
fn concurrent_edits_of_one_field_are_listed_as_conflicts() {
    let mut a = new_team(1);
    let e = crate::model::sample_encounter(uuid_at(T0, 1));
    record_encounter(&mut a, &e, T0).unwrap();
    let mut b = reload(&mut a, 2);
    edit_encounter(&mut a, e.id, &EncounterEdit::Women(2), T0).unwrap();
    edit_encounter(&mut b, e.id, &EncounterEdit::Women(3), T0).unwrap();
    let answer = |a: Answer| EncounterEdit::Answer {
        question_id: "sex".into(),
        answer: Some(a),
    };
    edit_encounter(&mut a, e.id, &answer(Answer::Declines), T0).unwrap();
    edit_encounter(&mut b, e.id, &answer(Answer::Choice("male".into())), T0).unwrap();
    a.merge(&mut b).unwrap();
    let conflicts = encounter_conflicts(&a, e.id).unwrap();
    assert_eq!(conflicts.len(), 2, "{conflicts:?}");
    let women = conflicts.iter().find(|c| c.field == "women").unwrap();
    let mut seen: Vec<_> = women
        .values
        .clone()
        .into_iter()
        .map(|v| format!("{v:?}"))
        .collect();
    seen.sort();
    assert_eq!(seen, vec!["Women(2)", "Women(3)"]);
    let read = read_team(&a).unwrap().encounters[&e.id].counts.women;
    assert_eq!(women.values[women.current], EncounterEdit::Women(read));
    let sex = conflicts.iter().find(|c| c.field == "answers.sex").unwrap();
    assert_eq!(sex.values.len(), 2);
    // Same winner on the other replica.
    b.merge(&mut a).unwrap();
    assert_eq!(read_team(&b).unwrap(), read_team(&a).unwrap());
}

#[test]
fn withdrawal_concurrent_with_an_edit_keeps_the_edit() {
    let mut a = new_team(1);
    let e = minimal_encounter(uuid_at(T0, 1));
    record_encounter(&mut a, &e, T0).unwrap();
    let mut b = reload(&mut a, 2);
    edit_encounter(&mut a, e.id, &EncounterEdit::Withdrawn(true), T0).unwrap();
    edit_encounter(&mut b, e.id, &EncounterEdit::Children(2), T0).unwrap();
    a.merge(&mut b).unwrap();
    let merged = &read_team(&a).unwrap().encounters[&e.id];
    assert!(merged.withdrawn);
    assert_eq!(merged.counts.children, 2);
}

#[test]
fn concurrent_increments_on_one_tally_add_up() {
    let mut a = new_team(1);
    let mut b = reload(&mut a, 2);
    let dim = TallyDimension {
        space_type: SpaceType::MetroRer,
        sex: ObservedSex::Male,
        age_band: AgeBand::From45To54,
    };
    add_to_tally(&mut a, dim, 1, T0).unwrap();
    add_to_tally(&mut b, dim, 1, T0).unwrap();
    a.merge(&mut b).unwrap();
    b.merge(&mut a).unwrap();
    assert_eq!(read_team(&a).unwrap().tallies[&dim], 2);
    assert_eq!(read_team(&b).unwrap().tallies[&dim], 2);
}

/// Guards the reason `create_team` creates every counter: a counter first created by two
/// devices concurrently is two counters in conflict, and one side's increments are not seen.
#[test]
fn concurrent_first_put_of_a_counter_loses_increments_hence_create_team_initialises_all() {
    let mut base = new_team(1);
    let dim = TallyDimension {
        space_type: SpaceType::Woods,
        sex: ObservedSex::Unknown,
        age_band: AgeBand::From65,
    };
    let tallies = values::req_map(&base, &ROOT, "tallies").unwrap();
    base.delete(&tallies, dim.key().as_str()).unwrap();
    base.commit();
    let mut a = reload(&mut base, 2);
    let mut b = reload(&mut base, 3);
    add_to_tally(&mut a, dim, 1, T0).unwrap();
    add_to_tally(&mut b, dim, 1, T0).unwrap();
    a.merge(&mut b).unwrap();
    assert_eq!(
        read_team(&a).unwrap().tallies[&dim],
        1,
        "one device's +1 is hidden by the conflict"
    );
    assert_eq!(a.get_all(&tallies, dim.key().as_str()).unwrap().len(), 2);
}

#[test]
fn night_round_trips_through_bytes() {
    let night = Night {
        header: NightHeader { id: Uuid::from_u128(7), date: "2026-01-29".into(), label: "NDLS 2026".into() },
        sectors: BTreeMap::from([
            (
                SectorId("S-01-03".into()),
                Sector {
                    name: "Les Halles".into(),
                    arrondissement: Some(1),
                    geojson: r#"{"type":"Polygon","coordinates":[[[2.34,48.86],[2.35,48.86],[2.35,48.87],[2.34,48.86]]]}"#.into(),
                },
            ),
            (SectorId("B-VIN".into()), Sector { name: "Bois de Vincennes".into(), arrondissement: None, geojson: "{}".into() }),
        ]),
        questionnaire: Some(QuestionnaireDefinition { version: 3, definition: r#"{"questions":[]}"#.into() }),
        teams: BTreeMap::from([(TeamId("T-042".into()), crate::ids::DocumentId::from_bytes([9; 16]).url())]),
    };
    assert_eq!(night.validate(), Ok(()));
    let mut doc = new_doc(actor(1));
    write_night(&mut doc, &night, T0).unwrap();
    assert_eq!(
        doc.get_changes(&[]).len(),
        5,
        "header, 2 sectors, questionnaire, team: one change each"
    );
    assert_eq!(read_night(&doc).unwrap(), night);
    assert_eq!(read_night(&reload(&mut doc, 2)).unwrap(), night);
    let json = serde_json::to_string(&night).unwrap();
    assert_eq!(serde_json::from_str::<Night>(&json).unwrap(), night);

    let bad = Sector {
        name: "x".into(),
        arrondissement: Some(21),
        geojson: "{}".into(),
    };
    assert!(matches!(
        put_sector(&mut doc, &SectorId("x".into()), &bad, T0),
        Err(DocError::Invalid(_))
    ));
    assert!(matches!(
        put_team_ref(&mut doc, &TeamId("T-1".into()), "http://x", T0),
        Err(DocError::Invalid(_))
    ));
    assert!(matches!(
        create_night(&mut doc, &night.header, T0),
        Err(DocError::AlreadyInitialised)
    ));
}

#[test]
fn review_round_trips_through_bytes() {
    let (x, y) = (uuid_at(T0, 5), uuid_at(T0, 4));
    let decision = DuplicateDecision::new(x, y, DuplicateVerdict::Confirmed, "coord-1".into(), T0);
    assert_eq!(decision.first, y);
    let correction = Correction {
        id: uuid_at(T0, 6),
        team_id: TeamId("T-042".into()),
        encounter_id: x,
        edit: EncounterEdit::Situation(Situation::CoupleWithoutChildren),
        made_by: "coord-1".into(),
        made_at: T0,
    };
    let resolution = ConflictResolution {
        team_id: TeamId("T-042".into()),
        encounter_id: x,
        chosen: EncounterEdit::Answer {
            question_id: "sex".into(),
            answer: Some(Answer::DoesNotKnow),
        },
        resolved_by: "coord-2".into(),
        resolved_at: T0 + 1,
    };
    let mut doc = new_doc(actor(1));
    create_review(&mut doc, Uuid::from_u128(7), T0).unwrap();
    decide_duplicate(&mut doc, &decision, T0).unwrap();
    add_correction(&mut doc, &correction, T0).unwrap();
    resolve_conflict(&mut doc, &resolution, T0).unwrap();
    let expected = Review {
        night_id: Uuid::from_u128(7),
        duplicates: BTreeMap::from([(DuplicateDecision::pair_key(x, y), decision.clone())]),
        corrections: BTreeMap::from([(correction.id, correction)]),
        resolutions: BTreeMap::from([(format!("{x}/answers.sex"), resolution)]),
    };
    assert_eq!(read_review(&doc).unwrap(), expected);
    assert_eq!(read_review(&reload(&mut doc, 2)).unwrap(), expected);
    let json = serde_json::to_string(&expected).unwrap();
    assert_eq!(serde_json::from_str::<Review>(&json).unwrap(), expected);
    // Same pair given the other way round replaces the decision rather than adding one.
    let reversed =
        DuplicateDecision::new(y, x, DuplicateVerdict::Rejected, "coord-2".into(), T0 + 5);
    decide_duplicate(&mut doc, &reversed, T0).unwrap();
    let review = read_review(&doc).unwrap();
    assert_eq!(review.duplicates.len(), 1);
    assert_eq!(
        review.duplicates.values().next().unwrap().verdict,
        DuplicateVerdict::Rejected
    );
}

#[test]
fn purging_distinctive_signs_removes_them_from_every_encounter() {
    let mut doc = new_team(1);
    let with_signs = crate::model::sample_encounter(uuid_at(T0, 1));
    let without = minimal_encounter(uuid_at(T0, 2));
    record_encounter(&mut doc, &with_signs, T0).unwrap();
    record_encounter(&mut doc, &without, T0).unwrap();
    assert_eq!(purge_distinctive_signs(&mut doc, T0).unwrap(), 1);
    let read = read_encounter(&doc, with_signs.id).unwrap();
    assert_eq!(read.distinctive_signs, None);
    assert_eq!(
        read,
        Encounter {
            distinctive_signs: None,
            ..with_signs
        }
    );
    assert_eq!(read_encounter(&doc, without.id).unwrap(), without);
    assert_eq!(purge_distinctive_signs(&mut doc, T0).unwrap(), 0);
}

#[test]
fn failed_write_leaves_no_half_encounter() {
    let mut doc = new_team(1);
    let heads = doc.get_heads();
    let mut bad = minimal_encounter(uuid_at(T0, 1));
    bad.position = Some(Position {
        lat: f64::NAN,
        lon: 2.3,
    });
    assert!(matches!(
        record_encounter(&mut doc, &bad, T0),
        Err(DocError::Invalid(_))
    ));
    assert_eq!(doc.get_heads(), heads);
    assert!(read_team(&doc).unwrap().encounters.is_empty());
    // The next successful write does not carry leftovers of the failed one.
    let good = minimal_encounter(uuid_at(T0, 2));
    record_encounter(&mut doc, &good, T0).unwrap();
    assert_eq!(
        read_team(&doc)
            .unwrap()
            .encounters
            .keys()
            .collect::<Vec<_>>(),
        vec![&good.id]
    );
}

/// The `tx` writers inside an `automerge::Automerge` transaction (as the sync driver runs them)
/// make the same document, change for change, as the `AutoCommit` writers.
#[test]
fn tx_writers_in_a_transaction_match_the_autocommit_writers() {
    let encounter = minimal_encounter(uuid_at(T0, 1));
    let mut auto = new_team(1);
    record_encounter(&mut auto, &encounter, T0 + 5_000).unwrap();

    let mut data = automerge::Automerge::load(&new_team(1).save()).unwrap();
    data.set_actor(actor(1));
    data.transact_with::<_, _, DocError, _>(
        |_| commit_options(messages::RECORD_ENCOUNTER, T0 + 5_000),
        |tx| tx::record_encounter(tx, &encounter),
    )
    .unwrap();
    assert_eq!(data.get_heads(), auto.get_heads());
    assert_eq!(read_team(&data).unwrap(), read_team(&auto).unwrap());
}

#[test]
fn assigning_sectors_replaces_the_team_set_and_keeps_the_rest() {
    let mut doc = new_team(1);
    let before = read_team(&doc).unwrap();
    let wanted: BTreeSet<SectorId> = [SectorId("P1-01".into()), SectorId("P3-07".into())]
        .into_iter()
        .collect();
    set_team_sectors(&mut doc, &wanted, 2_000).unwrap();
    let mut reloaded = reload(&mut doc, 2);
    let after = read_team(&reloaded).unwrap();
    assert_eq!(after.header.sectors, wanted);
    assert_eq!(after.tallies, before.tallies);
    let narrowed: BTreeSet<SectorId> = [SectorId("P3-07".into())].into_iter().collect();
    set_team_sectors(&mut reloaded, &narrowed, 3_000).unwrap();
    assert_eq!(read_team(&reloaded).unwrap().header.sectors, narrowed);
    // A night document is not a team: refused, nothing written.
    let mut night = new_doc(actor(3));
    create_night(
        &mut night,
        &NightHeader {
            id: Uuid::from_u128(9),
            date: "2026-01-22".into(),
            label: "n".into(),
        },
        0,
    )
    .unwrap();
    let heads = night.get_heads();
    assert!(set_team_sectors(&mut night, &wanted, 4_000).is_err());
    assert_eq!(night.get_heads(), heads);
}
