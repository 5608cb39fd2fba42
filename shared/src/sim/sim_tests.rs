#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::report::{
    ConsolidationInput, DuplicateConfig, TeamInput, TeamProblem, consolidate,
    find_duplicate_candidates, team_input,
};

const START: Millis = 1_769_720_400_000; // 2026-01-29 22:00 (Paris, UTC+1)

/// Runs the simulation, reads every document back (merged Automerge documents, through
/// `doc::read_*`), consolidates, and checks every figure against the generator's truth.
/// Returns (consolidation time, duplicate recall).
fn check_against_truth(config: &SimConfig, seed: u64) -> (std::time::Duration, f64) {
    let sim = simulate(config, seed, START).unwrap();
    let night = doc::read_night(&sim.night_doc).unwrap();
    assert_eq!(night, sim.night);
    let review = doc::read_review(&sim.review_doc).unwrap();
    let teams: Vec<TeamInput> = sim
        .team_docs
        .iter()
        .map(|(id, d)| team_input(id.clone(), d))
        .collect();

    let started = std::time::Instant::now();
    let (c, encounters) = consolidate(ConsolidationInput {
        night: &night,
        teams: &teams,
        review: Some(&review),
        partners: &sim.partners,
    });
    let elapsed = started.elapsed();

    let t = &sim.truth;
    assert_eq!(c.totals.persons, t.persons);
    assert_eq!(c.totals.men, t.men);
    assert_eq!(c.totals.women, t.women);
    assert_eq!(c.totals.unknown_sex, t.unknown_sex);
    assert_eq!(c.totals.children, t.children);
    assert_eq!(c.tallied_persons, t.tallied);
    assert_eq!(c.partner_persons, t.partner_persons);
    assert_eq!(c.encounters, t.encounters);
    assert_eq!(c.questionnaires_completed, t.questionnaires);
    assert_eq!(c.excluded.withdrawn_encounters, t.withdrawn_encounters);
    assert_eq!(c.excluded.duplicate_encounters, t.duplicate_encounters);
    let by_area: BTreeMap<String, u64> = c
        .by_area
        .iter()
        .filter(|l| l.counts.persons > 0)
        .map(|l| (l.key.clone(), l.counts.persons))
        .collect();
    let truth_area: BTreeMap<String, u64> = t
        .by_area
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(by_area, truth_area);
    let nonzero = |lines: &[crate::report::Line]| -> BTreeMap<String, u64> {
        lines
            .iter()
            .filter(|l| l.counts.persons > 0)
            .map(|l| (l.key.clone(), l.counts.persons))
            .collect()
    };
    let truth_space: BTreeMap<String, u64> = t
        .by_space_type
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(nonzero(&c.by_space_type), truth_space);
    let truth_interview: BTreeMap<String, u64> = t
        .by_interview
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(nonzero(&c.by_interview), truth_interview);
    let sex = c.questions.iter().find(|q| q.question_id == "sex").unwrap();
    assert_eq!(sex.counts, t.sex_answers);
    assert_eq!(c.questions[0].question_id, "sex", "questionnaire order");
    assert_eq!(
        c.teams
            .unreadable
            .iter()
            .map(|u| u.team_id.clone())
            .collect::<Vec<_>>(),
        t.unreadable_teams
    );
    assert_eq!(
        c.teams.unreadable[0].problem,
        TeamProblem::UnsupportedSchema { found: 2 }
    );
    assert!(c.teams.missing.is_empty());
    assert_eq!(c.teams.consolidated as usize, config.teams);
    assert!(matches!(teams.last(), Some(TeamInput::Unreadable { .. })));

    // Duplicate finder: recall on the planted pairs.
    let started = std::time::Instant::now();
    let candidates =
        find_duplicate_candidates(&encounters, Some(&review), DuplicateConfig::default());
    let finder_time = started.elapsed();
    let found: BTreeSet<(Uuid, Uuid)> = candidates.iter().map(|c| (c.first, c.second)).collect();
    let hits = t
        .planted_pairs
        .iter()
        .filter(|(a, b)| found.contains(&(*a.min(b), *a.max(b))))
        .count();
    let recall = hits as f64 / t.planted_pairs.len() as f64;
    println!(
        "teams {} persons {} questionnaires {} encounters {} planted {} candidates {} recall {:.3} consolidation {:?} finder {:?}",
        config.teams,
        c.totals.persons,
        c.questionnaires_completed,
        encounters.len(),
        t.planted_pairs.len(),
        candidates.len(),
        recall,
        elapsed,
        finder_time
    );
    (elapsed, recall)
}

#[test]
fn simulated_night_consolidates_exactly_to_its_ground_truth() {
    let (_, recall) = check_against_truth(&SimConfig::small(), 7);
    assert!(recall > 0.0);
}

#[test]
fn same_seed_same_night_other_seed_other_night() {
    let a = simulate(
        &SimConfig {
            teams: 6,
            ..SimConfig::small()
        },
        1,
        START,
    )
    .unwrap();
    let b = simulate(
        &SimConfig {
            teams: 6,
            ..SimConfig::small()
        },
        1,
        START,
    )
    .unwrap();
    let c = simulate(
        &SimConfig {
            teams: 6,
            ..SimConfig::small()
        },
        2,
        START,
    )
    .unwrap();
    assert_eq!(a.truth, b.truth);
    let read = |s: &SimNight| doc::read_team(&s.team_docs[0].1).unwrap();
    assert_eq!(read(&a), read(&b));
    assert_ne!(a.truth, c.truth);
}

#[test]
fn team_documents_hold_several_device_actors() {
    let mut sim = simulate(
        &SimConfig {
            teams: 3,
            ..SimConfig::small()
        },
        3,
        START,
    )
    .unwrap();
    let doc = &mut sim.team_docs[0].1;
    let actors: BTreeSet<_> = doc
        .get_changes(&[])
        .iter()
        .map(|c| c.actor_id().clone())
        .collect();
    assert!(actors.len() >= 2, "{}", actors.len());
}

/// Full scale (400 teams): run with `cargo test -p carnet-shared --release -- --ignored
/// paris_scale --nocapture` to see the consolidation time and the recall.
#[test]
#[ignore]
fn paris_scale_night() {
    let (elapsed, recall) = check_against_truth(&SimConfig::paris(), 2026);
    println!("consolidation of 400 teams: {elapsed:?}, duplicate recall {recall:.3}");
}

#[test]
fn a_night_simulated_on_base_documents_keeps_the_truth_and_their_headers() {
    let config = SimConfig {
        teams: 12,
        ..SimConfig::small()
    };
    let plain = simulate(&config, 11, START).unwrap();
    let night_id = Uuid::from_u128(77);
    let mut night = doc::new_doc(automerge::ActorId::from(vec![7u8; 16]));
    doc::create_night(
        &mut night,
        &NightHeader {
            id: night_id,
            date: "2026-01-22".into(),
            label: "Serveur".into(),
        },
        START,
    )
    .unwrap();
    let teams: Vec<AutoCommit> = (0..config.teams)
        .map(|t| {
            let mut d = doc::new_doc(automerge::ActorId::from(vec![8u8; 16]));
            let header = TeamHeader {
                team_id: TeamId(format!("server-{t}")),
                night_id,
                name: format!("Équipe serveur {t}"),
                sectors: BTreeSet::new(),
            };
            doc::create_team(&mut d, &header, START).unwrap();
            d
        })
        .collect();
    let mut based = simulate_on(&config, 11, START, Some(SimBases { night, teams })).unwrap();
    assert_eq!(based.truth, plain.truth);
    assert_eq!(based.night.header.id, night_id);
    assert_eq!(based.device_docs.len(), config.teams);
    for (t, devices) in based.device_docs.iter_mut().enumerate() {
        // The devices' copies, merged, are the team document.
        let mut merged = devices[0].fork();
        for d in devices.iter_mut().skip(1) {
            merged.merge(d).unwrap();
        }
        let team = doc::read_team(&merged).unwrap();
        assert_eq!(team, doc::read_team(&based.team_docs[t].1).unwrap());
        assert_eq!(team.header.team_id, TeamId(format!("server-{t}")));
        let plain_team = doc::read_team(&plain.team_docs[t].1).unwrap();
        assert_eq!(team.header.sectors, plain_team.header.sectors);
        assert_eq!(team.encounters, plain_team.encounters);
    }
}
