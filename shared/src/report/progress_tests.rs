#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use uuid::Uuid;

use super::*;
use crate::model::*;
use crate::report::TeamProblem;

const NOW: Millis = 1_769_126_400_000;
const MIN: Millis = 60_000;

fn square(lon: f64, lat: f64) -> String {
    let (l1, a1) = (lon + 0.01, lat + 0.01);
    format!(
        r#"{{"type":"Polygon","coordinates":[[[{lon},{lat}],[{l1},{lat}],[{l1},{a1}],[{lon},{a1}],[{lon},{lat}]]]}}"#
    )
}

fn night() -> Night {
    let sectors = [
        ("A", Some(2), 2.30),
        ("B", Some(11), 2.32),
        ("C", Some(20), 2.34),
        ("D", None, 2.36),
        ("E", Some(5), 2.38),
    ]
    .into_iter()
    .map(|(id, arr, lon)| {
        (
            SectorId(id.into()),
            Sector {
                name: format!("Secteur {id}"),
                arrondissement: arr,
                geojson: square(lon, 48.85),
            },
        )
    })
    .collect();
    Night {
        header: NightHeader {
            id: Uuid::from_u128(9),
            date: "2026-01-22".into(),
            label: String::new(),
        },
        sectors,
        questionnaire: None,
        teams: BTreeMap::new(),
    }
}

fn encounter(id: u128, people: u32, position: Option<(f64, f64)>, at: Millis) -> Encounter {
    Encounter {
        id: Uuid::from_u128(id),
        recorded_at: at,
        space_type: SpaceType::Street,
        place_detail: String::new(),
        installation: Installation::None,
        situation: Situation::Alone,
        counts: PeopleCounts {
            men: people,
            ..Default::default()
        },
        interview: InterviewStatus::Refused,
        observed_sex: None,
        age_band: None,
        alerts: Alerts::default(),
        position: position.map(|(lon, lat)| Position { lat, lon }),
        distinctive_signs: None,
        questionnaire_version: None,
        answers: BTreeMap::new(),
        source_device: "d".into(),
        withdrawn: false,
    }
}

fn team(id: &str, sectors: &[&str]) -> Team {
    Team {
        header: TeamHeader {
            team_id: TeamId(id.into()),
            night_id: Uuid::from_u128(9),
            name: id.into(),
            sectors: sectors.iter().map(|s| SectorId((*s).into())).collect(),
        },
        rounds: BTreeMap::new(),
        encounters: BTreeMap::new(),
        tallies: BTreeMap::new(),
        coverage: BTreeMap::new(),
    }
}

fn round(team: &mut Team, n: u128, sector: &str, from: Millis, to: Option<Millis>) {
    team.rounds.insert(
        Uuid::from_u128(n),
        Round {
            id: Uuid::from_u128(n),
            sector_id: Some(SectorId(sector.into())),
            checked_in_at: from,
            checked_out_at: to,
            device: "d".into(),
        },
    );
}

fn cover(team: &mut Team, sector: &str, status: CoverageStatus, at: Millis) {
    team.coverage.insert(
        SectorId(sector.into()),
        SectorCoverage {
            status,
            updated_at: at,
            device: "d".into(),
        },
    );
}

fn add(team: &mut Team, e: Encounter) {
    team.encounters.insert(e.id, e);
}

fn input(team: Team, last: Option<Millis>) -> ProgressTeam {
    ProgressTeam {
        name: team.header.name.clone(),
        input: TeamInput::Read(Box::new(team)),
        last_change_at: last,
    }
}

/// The night of the test: A in progress with 2 people placed by position (and a withdrawn
/// encounter that must not count), B covered with 3 people placed by the round under way, C
/// covered with nobody found, D started but silent for 45 minutes, E untouched.
fn teams() -> Vec<ProgressTeam> {
    let mut t1 = team("T1", &["A"]);
    round(&mut t1, 1, "A", NOW - 60 * MIN, None);
    add(
        &mut t1,
        encounter(10, 2, Some((2.305, 48.855)), NOW - 30 * MIN),
    );
    let mut withdrawn = encounter(11, 5, Some((2.305, 48.855)), NOW - 20 * MIN);
    withdrawn.withdrawn = true;
    add(&mut t1, withdrawn);
    t1.tallies.insert(
        TallyDimension {
            space_type: SpaceType::Street,
            sex: ObservedSex::Male,
            age_band: AgeBand::From25To34,
        },
        4,
    );

    let mut t2 = team("T2", &["B", "E"]);
    round(&mut t2, 2, "B", NOW - 90 * MIN, Some(NOW - 10 * MIN));
    add(&mut t2, encounter(20, 3, None, NOW - 50 * MIN));
    cover(&mut t2, "B", CoverageStatus::InProgress, NOW - 80 * MIN);
    // A later report from another team wins.
    let mut t3 = team("T3", &["C"]);
    cover(
        &mut t3,
        "C",
        CoverageStatus::CoveredNoneFound,
        NOW - 15 * MIN,
    );
    cover(&mut t3, "B", CoverageStatus::Covered, NOW - 12 * MIN);

    let mut t4 = team("T4", &["D"]);
    round(&mut t4, 4, "D", NOW - 70 * MIN, None);

    vec![
        input(t1, Some(NOW - 5 * MIN)),
        input(t2, Some(NOW - 10 * MIN)),
        input(t3, Some(NOW - 12 * MIN)),
        input(t4, Some(NOW - 45 * MIN)),
        ProgressTeam {
            input: TeamInput::Unreadable {
                team_id: TeamId("T5".into()),
                problem: TeamProblem::UnsupportedSchema { found: 2 },
            },
            name: "T5".into(),
            last_change_at: None,
        },
    ]
}

fn state_of(p: &NightProgress, id: &str) -> (SectorState, u64, Vec<String>) {
    let s = p.sectors.iter().find(|s| s.sector_id.0 == id).unwrap();
    (
        s.state,
        s.persons,
        s.teams.iter().map(|t| t.0.clone()).collect(),
    )
}

#[test]
fn each_sector_state_from_the_team_documents() {
    let p = night_progress(&night(), &teams(), NOW, DEFAULT_SILENT_AFTER_MS);
    assert_eq!(
        state_of(&p, "A"),
        (SectorState::InProgress, 2, vec!["T1".into()])
    );
    assert_eq!(
        state_of(&p, "B"),
        (SectorState::Covered, 3, vec!["T2".into(), "T3".into()])
    );
    assert_eq!(
        state_of(&p, "C"),
        (SectorState::CoveredNoneFound, 0, vec!["T3".into()])
    );
    assert_eq!(
        state_of(&p, "D"),
        (SectorState::Silent, 0, vec!["T4".into()])
    );
    assert_eq!(
        state_of(&p, "E"),
        (SectorState::NotStarted, 0, vec!["T2".into()])
    );
    let d = p.sectors.iter().find(|s| s.sector_id.0 == "D").unwrap();
    assert_eq!(d.minutes_since_change, Some(45));
    let t = &p.totals;
    assert_eq!((t.encounters, t.persons, t.tallied), (2, 5, 4));
    assert_eq!((t.teams, t.teams_out, t.unreadable_teams), (5, 2, 1));
    assert_eq!(t.unplaced_persons, 0);
    assert_eq!(t.sectors.values().sum::<u64>(), 5);
    assert_eq!(t.sectors[&SectorState::Silent], 1);
    assert!(!p.teams[4].readable);
}

#[test]
fn silence_is_flagged_only_past_the_threshold() {
    let at_threshold = night_progress(&night(), &teams(), NOW, 45 * MIN);
    assert_eq!(state_of(&at_threshold, "D").0, SectorState::InProgress);
    let past = night_progress(&night(), &teams(), NOW + 1, 45 * MIN);
    assert_eq!(state_of(&past, "D").0, SectorState::Silent);
}

#[test]
fn encounter_without_position_or_round_goes_to_the_only_sector_or_is_unplaced() {
    let mut single = team("S", &["E"]);
    add(&mut single, encounter(30, 1, None, NOW - MIN));
    let mut several = team("M", &["A", "B"]);
    add(&mut several, encounter(31, 6, None, NOW - MIN));
    let p = night_progress(
        &night(),
        &[input(single, Some(NOW)), input(several, Some(NOW))],
        NOW,
        DEFAULT_SILENT_AFTER_MS,
    );
    assert_eq!(state_of(&p, "E").0, SectorState::InProgress);
    assert_eq!(state_of(&p, "E").1, 1);
    assert_eq!(state_of(&p, "A").0, SectorState::NotStarted);
    assert_eq!(p.totals.unplaced_persons, 6);
    assert_eq!(p.totals.persons, 7);
}

#[test]
fn an_empty_night_has_every_sector_not_started() {
    let p = night_progress(&night(), &[], NOW, DEFAULT_SILENT_AFTER_MS);
    assert!(p.sectors.iter().all(|s| s.state == SectorState::NotStarted));
    assert_eq!(p.totals.sectors[&SectorState::NotStarted], 5);
    assert_eq!(p.totals.sectors.len(), SectorState::ALL.len());
}

#[test]
fn a_simulated_night_adds_up() {
    use crate::report::team_input;
    use crate::sim::{SimConfig, simulate};
    let sim = simulate(&SimConfig::small(), 7, NOW).unwrap();
    let teams: Vec<ProgressTeam> = sim
        .team_docs
        .iter()
        .map(|(id, d)| ProgressTeam {
            input: team_input(id.clone(), d),
            name: id.0.clone(),
            last_change_at: Some(NOW),
        })
        .collect();
    let p = night_progress(&sim.night, &teams, NOW + 3_600_000, DEFAULT_SILENT_AFTER_MS);
    // Live progress applies no review: planted duplicates are still counted.
    assert_eq!(
        p.totals.encounters,
        sim.truth.encounters + sim.truth.duplicate_encounters
    );
    assert_eq!(p.totals.tallied, sim.truth.tallied);
    assert_eq!(
        p.totals.unreadable_teams,
        sim.truth.unreadable_teams.len() as u64
    );
    assert_eq!(p.totals.teams, sim.team_docs.len() as u64);
    assert_eq!(
        p.totals.sectors.values().sum::<u64>(),
        sim.night.sectors.len() as u64
    );
    // Nothing heard for an hour: every started sector without a final report is silent.
    assert_eq!(p.totals.sectors[&SectorState::InProgress], 0);
}
