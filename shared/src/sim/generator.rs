//! The random parts of the simulated night: sectors on a grid, encounters, answers, and the
//! truth each of them adds.

use std::collections::{BTreeMap, BTreeSet};

use automerge::ActorId;
use rand::RngExt;
use rand::rngs::ChaCha8Rng;
use uuid::Uuid;

use super::GroundTruth;
use super::questionnaire::{self, Definition};
use crate::model::*;

pub(super) const LAT0: f64 = 48.82;
pub(super) const LON0: f64 = 2.25;
pub(super) const SECTOR_LAT: f64 = 0.004;
pub(super) const SECTOR_LON: f64 = 0.006;
pub(super) const COLUMNS: usize = 20;

pub(super) fn sector_origin(i: usize) -> (f64, f64) {
    let (row, col) = (i / COLUMNS, i % COLUMNS);
    (
        LAT0 + row as f64 * SECTOR_LAT,
        LON0 + col as f64 * SECTOR_LON,
    )
}

/// Sector `i`'s arrondissement: 1–20 in turn, every 21st sector has none (woods, ring road).
pub(super) fn sector_arrondissement(i: usize) -> Option<u8> {
    u8::try_from(i % 21).ok().filter(|a| *a > 0)
}

/// The area key as published, computed here independently of `report`.
pub(super) fn area_key(arrondissement: Option<u8>) -> String {
    match arrondissement {
        Some(a) if a <= 4 => "paris-centre".into(),
        Some(a) => format!("751{a:02}"),
        None => "non-attribue-secteur-sans-arrondissement".into(),
    }
}

pub(super) fn actor(rng: &mut ChaCha8Rng) -> ActorId {
    ActorId::from(rng.random::<[u8; 16]>().to_vec())
}

pub(super) fn uuid_at(rng: &mut ChaCha8Rng, at: Millis) -> Uuid {
    uuid::Builder::from_unix_timestamp_millis(
        u64::try_from(at).unwrap_or_default(),
        &rng.random::<[u8; 10]>(),
    )
    .into_uuid()
}

pub(super) struct Generator<'a> {
    pub(super) rng: ChaCha8Rng,
    pub(super) start: Millis,
    pub(super) truth: GroundTruth,
    pub(super) definition: &'a Definition,
}

/// One planned encounter and what the truth should count for it.
pub(super) struct Planned {
    pub(super) encounter: Encounter,
    pub(super) area: String,
}

impl Generator<'_> {
    pub(super) fn pick<'b, T>(&mut self, items: &'b [T]) -> &'b T {
        &items[self.rng.random_range(0..items.len())]
    }

    pub(super) fn counts(&mut self) -> (Situation, PeopleCounts) {
        let r = self.rng.random_range(0..100);
        let mut c = PeopleCounts::default();
        let adult = |rng: &mut ChaCha8Rng, c: &mut PeopleCounts| match rng.random_range(0..100) {
            0..85 => c.men += 1,
            85..98 => c.women += 1,
            _ => c.unknown_sex += 1,
        };
        let situation = match r {
            0..79 => {
                adult(&mut self.rng, &mut c);
                Situation::Alone
            }
            79..91 => {
                c.men = 1;
                c.women = 1;
                Situation::CoupleWithoutChildren
            }
            91..97 => {
                c.women = 1;
                c.men = self.rng.random_range(0..2);
                c.children = self.rng.random_range(1..4);
                c.pregnant_women = u32::from(self.rng.random_bool(0.2));
                Situation::FamilyWithChildren
            }
            _ => {
                for _ in 0..self.rng.random_range(5..8) {
                    adult(&mut self.rng, &mut c);
                }
                Situation::GroupOfFivePlus
            }
        };
        (situation, c)
    }

    pub(super) fn answers(&mut self, counts: &PeopleCounts) -> BTreeMap<String, Answer> {
        let mut answers = BTreeMap::new();
        for q in &self.definition.questions {
            if !questionnaire::visible(q.show_if.as_ref(), &answers) {
                continue;
            }
            let answer = if q.id == "sex" {
                Answer::Choice(if counts.women > 0 { "female" } else { "male" }.into())
            } else if self.rng.random_bool(0.06) {
                if self.rng.random_bool(0.5) {
                    Answer::DoesNotKnow
                } else {
                    Answer::Declines
                }
            } else {
                match q.kind.as_str() {
                    "single" if !q.options.is_empty() => {
                        Answer::Choice(self.pick(&q.options).code.clone())
                    }
                    "multiple" if !q.options.is_empty() => {
                        let first = self.pick(&q.options).clone();
                        let mut codes = vec![first.code.clone()];
                        if !first.exclusive {
                            let second = self.pick(&q.options).clone();
                            if !second.exclusive && second.code != first.code {
                                codes.push(second.code);
                            }
                        }
                        Answer::Choices(codes)
                    }
                    "integer" => {
                        let (min, max) = (q.min.unwrap_or(0), q.max.unwrap_or(20));
                        Answer::Number(self.rng.random_range(min..=max.max(min)))
                    }
                    "text" => Answer::Text("texte libre".into()),
                    _ => Answer::DoesNotKnow,
                }
            };
            answers.insert(q.id.clone(), answer);
        }
        answers
    }

    /// A random encounter of team `t` (sector `t`), with its truth area.
    pub(super) fn encounter(&mut self, t: usize, team_sectors: &[usize], device: &str) -> Planned {
        let at = self.start + self.rng.random_range(0..180) * 60_000;
        let (situation, counts) = self.counts();
        let accepted = self.rng.random_bool(0.72);
        let interview = if accepted {
            InterviewStatus::Accepted
        } else {
            *self.pick(&InterviewStatus::ALL[1..])
        };
        let space_type = *self.pick(&[
            SpaceType::Street,
            SpaceType::Street,
            SpaceType::Street,
            SpaceType::SpecificSector,
            SpaceType::MetroRer,
            SpaceType::Woods,
        ]);
        let (observed_sex, age_band) = if accepted {
            (None, None)
        } else if situation == Situation::Alone {
            let sex = if counts.men > 0 {
                ObservedSex::Male
            } else if counts.women > 0 {
                ObservedSex::Female
            } else {
                ObservedSex::Unknown
            };
            (Some(sex), Some(*self.pick(AgeBand::ALL)))
        } else {
            (None, None)
        };
        let answers = if accepted {
            self.answers(&counts)
        } else {
            BTreeMap::new()
        };
        let with_position = self.rng.random_bool(0.85);
        let (position, area) = if with_position {
            let (lat, lon) = sector_origin(t);
            let p = Position {
                lat: lat + SECTOR_LAT * self.rng.random_range(0.1..0.9),
                lon: lon + SECTOR_LON * self.rng.random_range(0.1..0.4),
            };
            (Some(p), area_key(sector_arrondissement(t)))
        } else {
            let areas: BTreeSet<String> = team_sectors
                .iter()
                .map(|&s| area_key(sector_arrondissement(s)))
                .collect();
            let area = if areas.len() == 1 {
                areas.into_iter().next().unwrap_or_default()
            } else {
                "non-attribue-equipe-multi-arrondissements".into()
            };
            (None, area)
        };
        Planned {
            encounter: Encounter {
                id: uuid_at(&mut self.rng, at),
                recorded_at: at,
                space_type,
                place_detail: String::new(),
                installation: *self.pick(Installation::ALL),
                situation,
                counts,
                interview,
                observed_sex,
                age_band,
                alerts: Alerts::default(),
                position,
                distinctive_signs: Some("signe distinctif".into()),
                questionnaire_version: accepted.then_some(self.definition.version),
                answers,
                source_device: device.to_owned(),
                withdrawn: false,
            },
            area,
        }
    }

    pub(super) fn count(&mut self, p: &Planned) {
        let e = &p.encounter;
        let c = e.counts;
        let t = &mut self.truth;
        t.encounters += 1;
        t.persons += c.total();
        t.men += u64::from(c.men);
        t.women += u64::from(c.women);
        t.unknown_sex += u64::from(c.unknown_sex);
        t.children += u64::from(c.children);
        *t.by_area.entry(p.area.clone()).or_default() += c.total();
        *t.by_space_type
            .entry(e.space_type.code().into())
            .or_default() += c.total();
        *t.by_interview.entry(e.interview.code().into()).or_default() += c.total();
        if e.interview == InterviewStatus::Accepted && !e.answers.is_empty() {
            t.questionnaires += 1;
            if let Some(Answer::Choice(code)) = e.answers.get("sex") {
                *t.sex_answers.entry(code.clone()).or_default() += 1;
            }
        }
    }
}
