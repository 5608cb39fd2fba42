#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::model::*;
use crate::report::{PartnerAggregate, TeamInput};

fn square(lon: f64, lat: f64) -> String {
    let (l1, a1) = (lon + 0.01, lat + 0.01);
    format!(
        r#"{{"type":"Polygon","coordinates":[[[{lon},{lat}],[{l1},{lat}],[{l1},{a1}],[{lon},{a1}],[{lon},{lat}]]]}}"#
    )
}

fn night() -> Night {
    let mut sectors = BTreeMap::new();
    for (id, arr, lon) in [
        ("A", Some(2), 2.30),
        ("B", Some(11), 2.32),
        ("W", None, 2.34),
    ] {
        sectors.insert(
            crate::model::SectorId(id.into()),
            Sector {
                name: id.into(),
                arrondissement: arr,
                geojson: square(lon, 48.85),
            },
        );
    }
    Night {
        header: NightHeader {
            id: Uuid::from_u128(9),
            date: "2026-01-29".into(),
            label: String::new(),
        },
        sectors,
        questionnaire: None,
        teams: BTreeMap::new(),
    }
}

fn encounter(id: u128, counts: PeopleCounts, position: Option<(f64, f64)>) -> Encounter {
    Encounter {
        id: Uuid::from_u128(id),
        recorded_at: 0,
        space_type: SpaceType::Street,
        place_detail: String::new(),
        installation: Installation::None,
        situation: Situation::Alone,
        counts,
        interview: InterviewStatus::Refused,
        observed_sex: None,
        age_band: Some(AgeBand::From25To34),
        alerts: Alerts::default(),
        position: position.map(|(lon, lat)| Position { lat, lon }),
        distinctive_signs: None,
        questionnaire_version: None,
        answers: BTreeMap::new(),
        source_device: "d".into(),
        withdrawn: false,
    }
}

fn team(
    id: &str,
    sectors: &[&str],
    encounters: Vec<Encounter>,
    tallies: Vec<(TallyDimension, i64)>,
) -> TeamInput {
    TeamInput::Read(Box::new(Team {
        header: TeamHeader {
            team_id: TeamId(id.into()),
            night_id: Uuid::from_u128(9),
            name: id.into(),
            sectors: sectors
                .iter()
                .map(|s| crate::model::SectorId((*s).into()))
                .collect(),
        },
        rounds: BTreeMap::new(),
        encounters: encounters.into_iter().map(|e| (e.id, e)).collect(),
        tallies: tallies.into_iter().collect(),
        coverage: BTreeMap::new(),
    }))
}

fn man() -> PeopleCounts {
    PeopleCounts {
        men: 1,
        ..Default::default()
    }
}

fn line<'a>(c: &'a Consolidation, key: &str) -> &'a AreaLine {
    c.by_area.iter().find(|l| l.key == key).unwrap()
}

#[test]
fn placement_paris_centre_unassigned_duplicates_and_withdrawn() {
    let family = PeopleCounts {
        women: 1,
        children: 2,
        ..Default::default()
    };
    let mut withdrawn = encounter(4, man(), Some((2.305, 48.855)));
    withdrawn.withdrawn = true;
    let teams = vec![
        team(
            "T1",
            &["A"],
            vec![
                encounter(1, man(), Some((2.305, 48.855))), // in A (2e) -> Paris Centre
                encounter(2, family, None),                 // no position -> team's A
                encounter(3, man(), Some((2.345, 48.855))), // in W: no arrondissement
                withdrawn,
            ],
            vec![(
                TallyDimension {
                    space_type: SpaceType::MetroRer,
                    sex: ObservedSex::Female,
                    age_band: AgeBand::From65,
                },
                2,
            )],
        ),
        team(
            "T2",
            &["A", "B"],
            vec![
                encounter(5, man(), Some((2.325, 48.855))),   // in B (11e)
                encounter(6, man(), None),                    // team across two areas
                encounter(7, man(), Some((2.3051, 48.8551))), // duplicate of 1
            ],
            vec![(
                TallyDimension {
                    space_type: SpaceType::Street,
                    sex: ObservedSex::Male,
                    age_band: AgeBand::Unknown,
                },
                -1,
            )],
        ),
        TeamInput::Unreadable {
            team_id: TeamId("T3".into()),
            problem: TeamProblem::UnsupportedSchema { found: 2 },
        },
    ];
    let mut review = Review {
        night_id: Uuid::from_u128(9),
        duplicates: BTreeMap::new(),
        corrections: BTreeMap::new(),
        resolutions: BTreeMap::new(),
    };
    let d = DuplicateDecision::new(
        Uuid::from_u128(7),
        Uuid::from_u128(1),
        DuplicateVerdict::Confirmed,
        "c".into(),
        0,
    );
    review.duplicates.insert(d.key(), d);
    let partners = vec![
        PartnerAggregate {
            partner: "RATP".into(),
            space_type: SpaceType::MetroRer,
            arrondissement: Some(11),
            men: 3,
            women: 1,
            unknown: 0,
        },
        PartnerAggregate {
            partner: "SNCF".into(),
            space_type: SpaceType::SncfStation,
            arrondissement: None,
            men: 2,
            women: 0,
            unknown: 1,
        },
    ];
    let mut n = night();
    n.teams.insert(TeamId("T9".into()), "automerge:x".into());
    let (c, eff) = consolidate(ConsolidationInput {
        night: &n,
        teams: &teams,
        review: Some(&review),
        partners: &partners,
    });

    // 1 + 3 (family) + 1 (W) + 1 (B) + 1 (T2 no position) + 2 tallied + 4 + 3 partners.
    assert_eq!(c.totals.persons, 16);
    assert_eq!(c.totals.children, 2);
    assert_eq!(c.totals.women, 1 + 2 + 1);
    assert_eq!(line(&c, "paris-centre").counts.persons, 1 + 3 + 2);
    assert_eq!(line(&c, "75111").counts.persons, 1 + 4);
    assert_eq!(
        line(&c, "75105").counts.persons,
        0,
        "fixed lines are present with zeros"
    );
    assert_eq!(
        line(&c, "non-attribue-secteur-sans-arrondissement")
            .counts
            .persons,
        1
    );
    assert_eq!(
        line(&c, "non-attribue-equipe-multi-arrondissements")
            .counts
            .persons,
        1
    );
    assert_eq!(
        line(&c, "non-attribue-partenaire-sans-arrondissement")
            .counts
            .persons,
        3
    );
    assert_eq!(c.excluded.withdrawn_encounters, 1);
    assert_eq!(c.excluded.duplicate_encounters, 1);
    assert_eq!(c.teams.unreadable.len(), 1);
    assert_eq!(c.teams.missing, vec![TeamId("T9".into())]);
    assert!(
        c.anomalies
            .iter()
            .any(|a| matches!(a, Anomaly::NegativeTally { .. }))
    );
    let age = |k: &str| {
        c.by_age_band
            .iter()
            .find(|l| l.key == k)
            .unwrap()
            .counts
            .persons
    };
    assert_eq!(age("under18"), 2);
    assert_eq!(age("from65"), 2);
    assert_eq!(c.share_of_women, Some(4.0 / 16.0));
    assert_eq!(
        eff.iter()
            .find(|e| e.encounter.id == Uuid::from_u128(7))
            .unwrap()
            .status,
        EncounterStatus::DuplicateOf {
            kept: Uuid::from_u128(1)
        }
    );
    let json = serde_json::to_string(&c).unwrap();
    assert!(json.contains("\"byArea\"") && json.contains("\"shareOfWomen\""));
}

#[test]
fn exports_leave_out_distinctive_signs_and_round_positions() {
    let mut e = encounter(1, man(), Some((2.305_678, 48.855_432)));
    e.distinctive_signs = Some("manteau rouge".into());
    e.interview = InterviewStatus::Accepted;
    e.age_band = None;
    e.questionnaire_version = Some(1);
    e.answers.insert(
        "needs".into(),
        Answer::Choices(vec!["food".into(), "health".into()]),
    );
    e.answers
        .insert("otherNeed".into(), Answer::Text("secret".into()));
    let teams = vec![team("T1", &["A"], vec![e], vec![])];
    let (c, eff) = consolidate(ConsolidationInput {
        night: &night(),
        teams: &teams,
        review: None,
        partners: &[],
    });
    let mut calls = Vec::new();
    let mut buf = Vec::new();
    write_encounters_csv_for_test(&mut buf, &eff, &mut calls);
    let text = String::from_utf8(buf).unwrap();
    assert!(
        !text.contains("manteau") && !text.contains("48.85"),
        "{text}"
    );
    assert_eq!(
        calls
            .last()
            .map(|p: &crate::report::Progress| (p.done, p.total)),
        Some((1, 1))
    );

    let mut buf = Vec::new();
    crate::report::write_questionnaires_csv(&mut buf, &eff, &["needs".into()], false, &mut |_| {})
        .unwrap();
    let text = String::from_utf8(buf).unwrap();
    assert!(
        text.contains("food|health") && text.contains("otherNeed") && !text.contains("secret"),
        "{text}"
    );

    let mut buf = Vec::new();
    crate::report::write_encounters_geojson(&mut buf, &eff, 3, &mut |_| {}).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
    assert_eq!(
        v["features"][0]["geometry"]["coordinates"],
        serde_json::json!([2.306, 48.855])
    );

    let mut buf = Vec::new();
    crate::report::write_totals_csv(&mut buf, &c).unwrap();
    let text = String::from_utf8(buf).unwrap();
    assert!(text.starts_with("section,key,label,persons"));
    assert!(text.contains("total,total,Total,1,1,0,0,0"), "{text}");
    assert!(
        text.contains("area,paris-centre,Paris Centre (1er–4e),1,"),
        "{text}"
    );
}

fn write_encounters_csv_for_test(
    buf: &mut Vec<u8>,
    eff: &[EffectiveEncounter],
    calls: &mut Vec<crate::report::Progress>,
) {
    crate::report::write_encounters_csv(
        buf,
        eff,
        crate::report::EncounterCsvOptions::default(),
        &mut |p| calls.push(p),
    )
    .unwrap();
}

fn arb_encounter() -> impl Strategy<Value = (u8, u8, u8, u8, Option<(f64, f64)>, bool)> {
    (
        0u8..3,
        0u8..3,
        0u8..2,
        0u8..3,
        proptest::option::of((2.29f64..2.36, 48.845..48.865)),
        any::<bool>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the encounters, tallies, partners and decisions: the areas add up to the total,
    /// every breakdown adds up to the total, and each line's persons is the sum of its columns.
    #[test]
    fn consolidation_breakdowns_add_up_to_the_total(
        encs in prop::collection::vec(arb_encounter(), 0..25),
        tally in -2i64..5,
        partner in (0u32..5, 0u32..5, 0u32..5, proptest::option::of(0u8..25)),
        dup in (0usize..25, 0usize..25),
    ) {
        let mut list = Vec::new();
        for (i, (m, w, u, ch, pos, withdrawn)) in encs.into_iter().enumerate() {
            let mut e = encounter(i as u128 + 1, PeopleCounts { men: m.into(), women: w.into(), unknown_sex: u.into(), children: ch.into(), pregnant_women: 0 }, pos);
            e.withdrawn = withdrawn;
            list.push(e);
        }
        let (a, b) = (list.len() / 2, list.len());
        let second = list.split_off(a.min(b));
        let dim = TallyDimension { space_type: SpaceType::Woods, sex: ObservedSex::Unknown, age_band: AgeBand::Unknown };
        let teams = vec![team("T1", &["A"], list, vec![(dim, tally)]), team("T2", &["A", "B"], second, vec![])];
        let mut review = Review { night_id: Uuid::from_u128(9), duplicates: BTreeMap::new(), corrections: BTreeMap::new(), resolutions: BTreeMap::new() };
        let d = DuplicateDecision::new(Uuid::from_u128(dup.0 as u128 + 1), Uuid::from_u128(dup.1 as u128 + 1), DuplicateVerdict::Confirmed, "c".into(), 0);
        review.duplicates.insert(d.key(), d);
        let partners = vec![PartnerAggregate { partner: "P".into(), space_type: SpaceType::CarPark, arrondissement: partner.3, men: partner.0, women: partner.1, unknown: partner.2 }];
        let (c, _) = consolidate(ConsolidationInput { night: &night(), teams: &teams, review: Some(&review), partners: &partners });
        let t = c.totals;
        prop_assert_eq!(t.persons, t.men + t.women + t.unknown_sex + t.children);
        prop_assert_eq!(c.by_area.iter().map(|l| l.counts.persons).sum::<u64>(), t.persons);
        prop_assert_eq!(c.by_area.iter().map(|l| l.encounters).sum::<u64>(), c.encounters);
        for lines in [&c.by_space_type, &c.by_age_band, &c.by_situation, &c.by_interview] {
            prop_assert_eq!(lines.iter().map(|l| l.counts.persons).sum::<u64>(), t.persons);
            for l in lines.iter() {
                prop_assert_eq!(l.counts.persons, l.counts.men + l.counts.women + l.counts.unknown_sex + l.counts.children);
            }
        }
    }
}
