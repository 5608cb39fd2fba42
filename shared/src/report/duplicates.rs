//! Candidate duplicates across teams: the same people met by two neighbouring teams.
//!
//! Encounters are bucketed in a grid whose cells are at least `max_distance_m` wide, so each
//! encounter is only compared with the ones in its own and the 8 neighbouring cells: linear in
//! the number of encounters for a night's density, instead of all pairs.

use std::collections::{BTreeMap, HashMap};

use ::geo::{Distance, Haversine, Point};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::effective::{EffectiveEncounter, EncounterStatus};
use crate::model::{DuplicateDecision, DuplicateVerdict, Millis, ObservedSex, Review, TeamId};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DuplicateConfig {
    pub max_distance_m: f64,
    pub max_gap_ms: Millis,
}

impl Default for DuplicateConfig {
    fn default() -> Self {
        Self {
            max_distance_m: 150.0,
            max_gap_ms: 45 * 60 * 1000,
        }
    }
}

/// How the two compositions compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Composition {
    /// Same counts of men, women, unknown sex and children.
    Same,
    /// Same numbers of adults and children; the sexes differ only where one team wrote
    /// "unknown".
    CompatibleSex,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DuplicateCandidate {
    /// `first < second`, as in [`DuplicateDecision`].
    pub first: Uuid,
    pub second: Uuid,
    pub first_team: TeamId,
    pub second_team: TeamId,
    pub distance_m: f64,
    pub minutes_apart: f64,
    pub composition: Composition,
    /// 0–1, higher is likelier: closeness in space (50 %), in time (30 %), composition (20 %).
    pub score: f64,
    /// The review's decision on this pair, if any.
    pub decision: Option<DuplicateVerdict>,
}

impl DuplicateCandidate {
    /// The reason in French, for the review screen.
    pub fn reason_fr(&self) -> String {
        let composition = match self.composition {
            Composition::Same => "même composition",
            Composition::CompatibleSex => "composition compatible (sexe non déterminé)",
        };
        format!(
            "{} m et {} min d'écart, même type de lieu, {composition}",
            self.distance_m.round(),
            self.minutes_apart.round()
        )
    }
}

fn composition(a: &EffectiveEncounter, b: &EffectiveEncounter) -> Option<Composition> {
    let (x, y) = (&a.encounter.counts, &b.encounter.counts);
    if x.men == y.men
        && x.women == y.women
        && x.unknown_sex == y.unknown_sex
        && x.children == y.children
    {
        return Some(Composition::Same);
    }
    let within =
        |p: u32, q: u32, unknown_q: u32| u64::from(p) <= u64::from(q) + u64::from(unknown_q);
    let sexes_fit = within(x.men, y.men, y.unknown_sex)
        && within(y.men, x.men, x.unknown_sex)
        && within(x.women, y.women, y.unknown_sex)
        && within(y.women, x.women, x.unknown_sex);
    let observed_clash = matches!(
        (a.encounter.observed_sex, b.encounter.observed_sex),
        (Some(p), Some(q)) if p != q && p != ObservedSex::Unknown && q != ObservedSex::Unknown
    );
    (x.children == y.children && x.adults() == y.adults() && sexes_fit && !observed_clash)
        .then_some(Composition::CompatibleSex)
}

/// Candidate pairs among `encounters` (withdrawn ones left out), best first. Encounters
/// without a position cannot be compared and are skipped.
pub fn find_duplicate_candidates(
    encounters: &[EffectiveEncounter],
    review: Option<&Review>,
    config: DuplicateConfig,
) -> Vec<DuplicateCandidate> {
    let usable: Vec<(&EffectiveEncounter, f64, f64)> = encounters
        .iter()
        .filter(|e| e.status != EncounterStatus::Withdrawn)
        .filter_map(|e| {
            let p = e.encounter.position?;
            (p.lat.is_finite() && p.lon.is_finite() && p.lat.abs() <= 89.0)
                .then_some((e, p.lat, p.lon))
        })
        .collect();
    if usable.is_empty() || config.max_distance_m.is_nan() || config.max_distance_m <= 0.0 {
        return Vec::new();
    }
    // Cells: `max_distance_m` tall; wide enough in longitude at the highest latitude present,
    // so that two encounters closer than the distance are always in neighbouring cells.
    let max_lat = usable.iter().map(|u| u.1.abs()).fold(0.0f64, f64::max);
    let lat_cell = config.max_distance_m / 111_000.0;
    let lon_cell = lat_cell / max_lat.to_radians().cos().max(0.01);
    let cell = |lat: f64, lon: f64| {
        (
            (lat / lat_cell).floor() as i64,
            (lon / lon_cell).floor() as i64,
        )
    };
    let mut grid: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
    for (i, (_, lat, lon)) in usable.iter().enumerate() {
        grid.entry(cell(*lat, *lon)).or_default().push(i);
    }
    let decisions: BTreeMap<String, DuplicateVerdict> = review
        .map(|r| {
            r.duplicates
                .values()
                .map(|d| (d.key(), d.verdict))
                .collect()
        })
        .unwrap_or_default();

    let mut out = Vec::new();
    for (i, (a, lat, lon)) in usable.iter().enumerate() {
        let (cy, cx) = cell(*lat, *lon);
        for dy in -1..=1 {
            for dx in -1..=1 {
                let Some(members) = grid.get(&(cy + dy, cx + dx)) else {
                    continue;
                };
                for &j in members {
                    if j <= i {
                        continue;
                    }
                    let (b, blat, blon) = usable[j];
                    if a.team_id == b.team_id || a.encounter.space_type != b.encounter.space_type {
                        continue;
                    }
                    let gap = (a.encounter.recorded_at - b.encounter.recorded_at).abs();
                    if gap > config.max_gap_ms {
                        continue;
                    }
                    let Some(composition) = composition(a, b) else {
                        continue;
                    };
                    let distance =
                        Haversine.distance(Point::new(*lon, *lat), Point::new(blon, blat));
                    if distance > config.max_distance_m {
                        continue;
                    }
                    let (first, second, first_team, second_team) =
                        if a.encounter.id <= b.encounter.id {
                            (a.encounter.id, b.encounter.id, &a.team_id, &b.team_id)
                        } else {
                            (b.encounter.id, a.encounter.id, &b.team_id, &a.team_id)
                        };
                    let near = 1.0 - distance / config.max_distance_m;
                    let soon = if config.max_gap_ms > 0 {
                        1.0 - gap as f64 / config.max_gap_ms as f64
                    } else {
                        1.0
                    };
                    let same = match composition {
                        Composition::Same => 1.0,
                        Composition::CompatibleSex => 0.5,
                    };
                    out.push(DuplicateCandidate {
                        first,
                        second,
                        first_team: first_team.clone(),
                        second_team: second_team.clone(),
                        distance_m: distance,
                        minutes_apart: gap as f64 / 60_000.0,
                        composition,
                        score: 0.5 * near + 0.3 * soon + 0.2 * same,
                        decision: decisions
                            .get(&DuplicateDecision::pair_key(first, second))
                            .copied(),
                    });
                }
            }
        }
    }
    out.sort_by(|x, y| {
        y.score
            .total_cmp(&x.score)
            .then(x.first.cmp(&y.first))
            .then(x.second.cmp(&y.second))
    });
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::{
        Alerts, Encounter, Installation, InterviewStatus, PeopleCounts, Position, Situation,
        SpaceType,
    };
    use crate::report::{Area, PlacedBy};

    fn enc(
        team: &str,
        id: u128,
        at_min: i64,
        lat: f64,
        lon: f64,
        counts: PeopleCounts,
    ) -> EffectiveEncounter {
        EffectiveEncounter {
            team_id: TeamId(team.into()),
            encounter: Encounter {
                id: Uuid::from_u128(id),
                recorded_at: 1_769_814_000_000 + at_min * 60_000,
                space_type: SpaceType::Street,
                place_detail: String::new(),
                installation: Installation::None,
                situation: Situation::Alone,
                counts,
                interview: InterviewStatus::Asleep,
                observed_sex: None,
                age_band: None,
                alerts: Alerts::default(),
                position: Some(Position { lat, lon }),
                distinctive_signs: None,
                questionnaire_version: None,
                answers: Default::default(),
                source_device: "d".into(),
                withdrawn: false,
            },
            sector_id: None,
            area: Area::ParisCentre,
            placed_by: PlacedBy::Position,
            status: EncounterStatus::Counted,
        }
    }

    fn one_man() -> PeopleCounts {
        PeopleCounts {
            men: 1,
            ..Default::default()
        }
    }

    #[test]
    fn near_pairs_of_other_teams_are_candidates_and_far_or_same_team_are_not() {
        let unknown = PeopleCounts {
            unknown_sex: 1,
            ..Default::default()
        };
        let woman = PeopleCounts {
            women: 1,
            ..Default::default()
        };
        let list = vec![
            enc("A", 1, 0, 48.8600, 2.3400, one_man()),
            // ~55 m north, 10 min later, other team: candidate (same).
            enc("B", 2, 10, 48.8605, 2.3400, one_man()),
            // Same team as 1: never.
            enc("A", 3, 5, 48.8601, 2.3400, one_man()),
            // Unknown sex, ~110 m east: compatible.
            enc("C", 4, 20, 48.8600, 2.3415, unknown),
            // A woman: not compatible with one man.
            enc("D", 5, 0, 48.8600, 2.3401, woman),
            // 60 min later: outside the window.
            enc("E", 6, 60, 48.8600, 2.3400, one_man()),
            // 300 m away.
            enc("F", 7, 0, 48.8627, 2.3400, one_man()),
        ];
        let c = find_duplicate_candidates(&list, None, DuplicateConfig::default());
        let pairs: Vec<(u128, u128, Composition)> = c
            .iter()
            .map(|c| (c.first.as_u128(), c.second.as_u128(), c.composition))
            .collect();
        assert!(pairs.contains(&(1, 2, Composition::Same)));
        assert!(pairs.contains(&(2, 3, Composition::Same)));
        assert!(pairs.contains(&(1, 4, Composition::CompatibleSex)));
        // Woman vs man, 60 min apart, 300 m apart: never.
        for never in [(1, 5), (1, 6), (2, 6), (1, 7)] {
            assert!(!pairs.iter().any(|p| (p.0, p.1) == never), "{pairs:?}");
        }
        assert!(!pairs.iter().any(|p| p.1 == 7), "{pairs:?}");
        assert!(!pairs.iter().any(|p| (p.0, p.1) == (1, 3)));
        // Sorted best first; the nearest same-composition pair leads.
        assert!(c.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(c[0].distance_m < 60.0);
        assert!(c[0].reason_fr().contains("même composition"));
    }

    #[test]
    fn grid_finds_the_same_pairs_as_all_pairs() {
        // Deterministic pseudo-random cloud around Paris, compared with a naive O(n²) scan.
        let mut list = Vec::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 10_000) as f64 / 10_000.0
        };
        for i in 0..600u128 {
            let team = format!("T{}", (next() * 20.0) as u32);
            let lat = 48.85 + next() * 0.01;
            let lon = 2.33 + next() * 0.015;
            let at = (next() * 180.0) as i64;
            list.push(enc(&team, i, at, lat, lon, one_man()));
        }
        let config = DuplicateConfig::default();
        let fast = find_duplicate_candidates(&list, None, config);
        let mut naive = 0;
        for i in 0..list.len() {
            for j in i + 1..list.len() {
                let (a, b) = (&list[i], &list[j]);
                let (p, q) = (a.encounter.position.unwrap(), b.encounter.position.unwrap());
                let d = Haversine.distance(Point::new(p.lon, p.lat), Point::new(q.lon, q.lat));
                if a.team_id != b.team_id
                    && d <= config.max_distance_m
                    && (a.encounter.recorded_at - b.encounter.recorded_at).abs()
                        <= config.max_gap_ms
                {
                    naive += 1;
                }
            }
        }
        assert!(naive > 0);
        assert_eq!(fast.len(), naive);
    }
}
