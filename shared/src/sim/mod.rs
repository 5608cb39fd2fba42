//! A deterministic night simulator: sectors, teams with several devices writing real
//! Automerge team documents through `doc::*` (concurrently, then merged), partner aggregates,
//! duplicates planted between neighbouring teams, a coordinators' review — and the ground
//! truth the generator knows, to check the consolidation against.
//!
//! Randomness is passed in as a seed (ChaCha8: the same seed gives the same night everywhere);
//! time is passed in as the start of the night.

mod questionnaire;

use std::collections::{BTreeMap, BTreeSet};

use automerge::{ActorId, AutoCommit};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use uuid::Uuid;

use crate::doc::{self, DocError};
use crate::model::*;
use crate::report::PartnerAggregate;
pub use questionnaire::{DEFAULT_QUESTIONNAIRE, Definition};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimConfig {
    pub teams: usize,
    pub devices_per_team: usize,
    /// Duplicate pairs planted between neighbouring teams.
    pub planted_duplicates: usize,
    pub partner_aggregates: usize,
}

impl SimConfig {
    /// The size of a Paris night: ~400 teams, ~3,500 persons, ~1,500 questionnaires.
    pub fn paris() -> Self {
        Self {
            teams: 400,
            devices_per_team: 3,
            planted_duplicates: 60,
            partner_aggregates: 24,
        }
    }

    pub fn small() -> Self {
        Self {
            teams: 40,
            devices_per_team: 3,
            planted_duplicates: 8,
            partner_aggregates: 6,
        }
    }
}

/// What the generator knows, computed as it generates (not by the consolidation code).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroundTruth {
    pub persons: u64,
    pub men: u64,
    pub women: u64,
    pub unknown_sex: u64,
    pub children: u64,
    pub tallied: u64,
    pub partner_persons: u64,
    pub questionnaires: u64,
    pub encounters: u64,
    pub withdrawn_encounters: u64,
    pub duplicate_encounters: u64,
    /// Area key (`paris-centre`, `75105`…, `non-attribue-…`) -> persons.
    pub by_area: BTreeMap<String, u64>,
    /// Space type code -> persons.
    pub by_space_type: BTreeMap<String, u64>,
    /// Interview status code (+ `tallied`, `partnerAggregate`) -> persons.
    pub by_interview: BTreeMap<String, u64>,
    /// Answers to the question `sex`: code -> count.
    pub sex_answers: BTreeMap<String, u64>,
    pub planted_pairs: Vec<(Uuid, Uuid)>,
    pub unreadable_teams: Vec<TeamId>,
}

pub struct SimNight {
    pub night: Night,
    pub night_doc: AutoCommit,
    /// Every team document, merged from its devices.
    pub team_docs: Vec<(TeamId, AutoCommit)>,
    pub review_doc: AutoCommit,
    pub partners: Vec<PartnerAggregate>,
    pub truth: GroundTruth,
}

const LAT0: f64 = 48.82;
const LON0: f64 = 2.25;
const SECTOR_LAT: f64 = 0.004;
const SECTOR_LON: f64 = 0.006;
const COLUMNS: usize = 20;

fn sector_origin(i: usize) -> (f64, f64) {
    let (row, col) = (i / COLUMNS, i % COLUMNS);
    (
        LAT0 + row as f64 * SECTOR_LAT,
        LON0 + col as f64 * SECTOR_LON,
    )
}

/// Sector `i`'s arrondissement: 1–20 in turn, every 21st sector has none (woods, ring road).
fn sector_arrondissement(i: usize) -> Option<u8> {
    u8::try_from(i % 21).ok().filter(|a| *a > 0)
}

/// The area key as published, computed here independently of `report`.
fn area_key(arrondissement: Option<u8>) -> String {
    match arrondissement {
        Some(a) if a <= 4 => "paris-centre".into(),
        Some(a) => format!("751{a:02}"),
        None => "non-attribue-secteur-sans-arrondissement".into(),
    }
}

fn actor(rng: &mut ChaCha8Rng) -> ActorId {
    ActorId::from(rng.random::<[u8; 16]>().to_vec())
}

fn uuid_at(rng: &mut ChaCha8Rng, at: Millis) -> Uuid {
    uuid::Builder::from_unix_timestamp_millis(
        u64::try_from(at).unwrap_or_default(),
        &rng.random::<[u8; 10]>(),
    )
    .into_uuid()
}

struct Generator<'a> {
    rng: ChaCha8Rng,
    start: Millis,
    truth: GroundTruth,
    definition: &'a Definition,
}

/// One planned encounter and what the truth should count for it.
struct Planned {
    encounter: Encounter,
    area: String,
}

impl Generator<'_> {
    fn pick<'b, T>(&mut self, items: &'b [T]) -> &'b T {
        &items[self.rng.random_range(0..items.len())]
    }

    fn counts(&mut self) -> (Situation, PeopleCounts) {
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

    fn answers(&mut self, counts: &PeopleCounts) -> BTreeMap<String, Answer> {
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
    fn encounter(&mut self, t: usize, team_sectors: &[usize], device: &str) -> Planned {
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

    fn count(&mut self, p: &Planned) {
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

/// Merges every device's changes into every other (a full sync of the team).
fn sync_all(devices: &mut [AutoCommit]) -> Result<(), DocError> {
    let Some((first, rest)) = devices.split_first_mut() else {
        return Ok(());
    };
    for d in rest.iter_mut() {
        first.merge(d)?;
    }
    for d in rest.iter_mut() {
        d.merge(first)?;
    }
    Ok(())
}

/// Simulates a whole night. `start` is the time teams set off (e.g. 22:00).
pub fn simulate(config: &SimConfig, seed: u64, start: Millis) -> Result<SimNight, DocError> {
    let definition = Definition::parse(DEFAULT_QUESTIONNAIRE)
        .map_err(|_| DocError::Invalid("default questionnaire does not parse"))?;
    let mut g = Generator {
        rng: ChaCha8Rng::seed_from_u64(seed),
        start,
        truth: GroundTruth::default(),
        definition: &definition,
    };
    let coordinator = actor(&mut g.rng);
    let night_id = uuid_at(&mut g.rng, start);

    // Night: one rectangular sector per team, on a 20-column grid.
    let mut night_doc = doc::new_doc(coordinator.clone());
    let header = NightHeader {
        id: night_id,
        date: "2026-01-29".into(),
        label: "Nuit simulée".into(),
    };
    doc::create_night(&mut night_doc, &header, start)?;
    let mut sectors = BTreeMap::new();
    for i in 0..config.teams {
        let (lat, lon) = sector_origin(i);
        let (lat1, lon1) = (lat + SECTOR_LAT, lon + SECTOR_LON);
        let geojson = format!(
            r#"{{"type":"Polygon","coordinates":[[[{lon},{lat}],[{lon1},{lat}],[{lon1},{lat1}],[{lon},{lat1}],[{lon},{lat}]]]}}"#
        );
        let sector = Sector {
            name: format!("Secteur {}", i + 1),
            arrondissement: sector_arrondissement(i),
            geojson,
        };
        let id = SectorId(format!("S{:03}", i + 1));
        doc::put_sector(&mut night_doc, &id, &sector, start)?;
        sectors.insert(id, sector);
    }
    doc::set_questionnaire(
        &mut night_doc,
        &QuestionnaireDefinition {
            version: definition.version,
            definition: DEFAULT_QUESTIONNAIRE.to_owned(),
        },
        start,
    )?;

    let mut review_doc = doc::new_doc(coordinator.clone());
    doc::create_review(&mut review_doc, night_id, start)?;

    let mut team_docs = Vec::new();
    let mut teams_index = BTreeMap::new();
    // Planted duplicates: (team, encounter) pairs to record, decided below.
    let mut planted: Vec<(Planned, Planned)> = Vec::new();
    let neighbours: Vec<usize> = (0..config.teams.saturating_sub(1))
        .filter(|i| i % COLUMNS != COLUMNS - 1)
        .collect();
    for k in 0..config.planted_duplicates.min(neighbours.len()) {
        let left = neighbours[(k * 7) % neighbours.len()];
        let (lat, lon) = sector_origin(left);
        let border = lon + SECTOR_LON;
        let y = lat + SECTOR_LAT * g.rng.random_range(0.2..0.8);
        let at = start + g.rng.random_range(0..150) * 60_000;
        let counts = PeopleCounts {
            men: 1,
            ..Default::default()
        };
        let make = |g: &mut Generator<'_>, team: usize, dlon: f64, dt: Millis| {
            let mut p = g.encounter(team, &[team], "planted");
            p.encounter.recorded_at = at + dt;
            p.encounter.id = uuid_at(&mut g.rng, at + dt);
            p.encounter.space_type = SpaceType::Street;
            p.encounter.situation = Situation::Alone;
            p.encounter.counts = counts;
            p.encounter.interview = InterviewStatus::Asleep;
            p.encounter.observed_sex = Some(ObservedSex::Male);
            p.encounter.answers.clear();
            p.encounter.questionnaire_version = None;
            p.encounter.position = Some(Position {
                lat: y,
                lon: border + dlon,
            });
            p.area = area_key(sector_arrondissement(team));
            p
        };
        // ~30 m on each side of the border, 5–25 minutes apart.
        let gap = g.rng.random_range(5..25) * 60_000;
        let a = make(&mut g, left, -0.0004, 0);
        let mut b = make(&mut g, left + 1, 0.0004, gap);
        if k % 3 == 2 {
            // The other team could not tell the sex: a compatible, not identical, composition.
            b.encounter.counts = PeopleCounts {
                unknown_sex: 1,
                ..Default::default()
            };
            b.encounter.observed_sex = Some(ObservedSex::Unknown);
        }
        planted.push((a, b));
    }
    let mut planted_by_team: BTreeMap<usize, Vec<Planned>> = BTreeMap::new();
    for (k, (a, b)) in planted.into_iter().enumerate() {
        g.truth.planted_pairs.push((a.encounter.id, b.encounter.id));
        // Two thirds are confirmed by the coordinators (the later-kept one counts once), one
        // in six is rejected, the rest is undecided: both of those count twice.
        let verdict = match k % 6 {
            0..4 => Some(DuplicateVerdict::Confirmed),
            4 => Some(DuplicateVerdict::Rejected),
            _ => None,
        };
        if let Some(verdict) = verdict {
            let decision = DuplicateDecision::new(
                a.encounter.id,
                b.encounter.id,
                verdict,
                "coordination".into(),
                start + 4 * 3_600_000,
            );
            doc::decide_duplicate(&mut review_doc, &decision, start + 4 * 3_600_000)?;
        }
        let (left, right) = (a, b);
        let team_of = |p: &Planned| -> usize {
            let lon = p.encounter.position.map(|p| p.lon).unwrap_or(LON0);
            let lat = p.encounter.position.map(|p| p.lat).unwrap_or(LAT0);
            let col = ((lon - LON0) / SECTOR_LON).floor() as usize;
            let row = ((lat - LAT0) / SECTOR_LAT).floor() as usize;
            row * COLUMNS + col
        };
        g.count(&left);
        if verdict == Some(DuplicateVerdict::Confirmed) {
            // The cluster keeps the smaller id; the other leaves the figures.
            let dropped = if left.encounter.id < right.encounter.id {
                &right
            } else {
                &left
            };
            let c = dropped.encounter.counts;
            let t = &mut g.truth;
            t.duplicate_encounters += 1;
            // Undo what `count` adds for the dropped one by not counting it, and, when the
            // dropped one is `left` (already counted), by subtracting it.
            if std::ptr::eq(dropped, &left) {
                t.encounters -= 1;
                t.persons -= c.total();
                t.men -= u64::from(c.men);
                *t.by_area.entry(left.area.clone()).or_default() -= c.total();
                *t.by_space_type.entry("street".into()).or_default() -= c.total();
                *t.by_interview.entry("asleep".into()).or_default() -= c.total();
                g.count(&right);
            }
        } else {
            g.count(&right);
        }
        planted_by_team
            .entry(team_of(&left))
            .or_default()
            .push(left);
        planted_by_team
            .entry(team_of(&right))
            .or_default()
            .push(right);
    }

    for t in 0..config.teams {
        let team_id = TeamId(format!("T-{:03}", t + 1));
        // Every tenth team also covers the next sector.
        let mut team_sectors = vec![t];
        if t % 10 == 9 && t + 1 < config.teams {
            team_sectors.push(t + 1);
        }
        let header = TeamHeader {
            team_id: team_id.clone(),
            night_id,
            name: format!("Équipe {}", t + 1),
            sectors: team_sectors
                .iter()
                .map(|s| SectorId(format!("S{:03}", s + 1)))
                .collect(),
        };
        let mut main = doc::new_doc(coordinator.clone());
        doc::create_team(&mut main, &header, start)?;
        let mut devices: Vec<AutoCommit> = (0..config.devices_per_team.max(1))
            .map(|_| {
                let a = actor(&mut g.rng);
                main.fork().with_actor(a)
            })
            .collect();
        let n = devices.len();

        // Phase 1: every device records on its own, offline.
        let mut recorded = Vec::new();
        for _ in 0..g.rng.random_range(3..8) {
            let d = g.rng.random_range(0..n);
            let p = g.encounter(t, &team_sectors, &format!("device-{d}"));
            doc::record_encounter(&mut devices[d], &p.encounter, p.encounter.recorded_at)?;
            recorded.push(p);
        }
        for p in planted_by_team.remove(&t).unwrap_or_default() {
            let d = g.rng.random_range(0..n);
            doc::record_encounter(&mut devices[d], &p.encounter, p.encounter.recorded_at)?;
            // Already counted in the truth above; kept out of later edits.
        }
        let tallies = g.rng.random_range(0..3);
        for _ in 0..tallies {
            let dim = TallyDimension {
                space_type: SpaceType::Street,
                sex: *g.pick(ObservedSex::ALL),
                age_band: *g.pick(AgeBand::ALL),
            };
            // Two devices tap "+1" for the same person; one undoes it: net +1.
            let (d1, d2) = (g.rng.random_range(0..n), g.rng.random_range(0..n));
            doc::add_to_tally(&mut devices[d1], dim, 1, start)?;
            doc::add_to_tally(&mut devices[d2], dim, 1, start)?;
            doc::add_to_tally(&mut devices[d2], dim, -1, start)?;
            let area = if team_sectors.len() == 1 {
                area_key(sector_arrondissement(t))
            } else {
                let a: BTreeSet<String> = team_sectors
                    .iter()
                    .map(|&s| area_key(sector_arrondissement(s)))
                    .collect();
                if a.len() == 1 {
                    a.into_iter().next().unwrap_or_default()
                } else {
                    "non-attribue-equipe-multi-arrondissements".into()
                }
            };
            let tr = &mut g.truth;
            tr.tallied += 1;
            tr.persons += 1;
            match dim.sex {
                ObservedSex::Male => tr.men += 1,
                ObservedSex::Female => tr.women += 1,
                ObservedSex::Unknown => tr.unknown_sex += 1,
            }
            *tr.by_area.entry(area).or_default() += 1;
            *tr.by_space_type.entry("street".into()).or_default() += 1;
            *tr.by_interview.entry("tallied".into()).or_default() += 1;
        }
        sync_all(&mut devices)?;

        // Phase 2: concurrent edits on the shared state.
        let edit_at = start + 200 * 60_000;
        for p in &mut recorded {
            let roll = g.rng.random_range(0..100);
            let id = p.encounter.id;
            if roll < 3 {
                // Entered by mistake: withdrawn on one device while another edits a field.
                doc::edit_encounter(
                    &mut devices[0],
                    id,
                    &EncounterEdit::Withdrawn(true),
                    edit_at,
                )?;
                doc::edit_encounter(
                    &mut devices[n - 1],
                    id,
                    &EncounterEdit::AlertHealth(true),
                    edit_at,
                )?;
                p.encounter.withdrawn = true;
            } else if roll < 8 && n > 1 {
                // Two devices set the type of space concurrently; the coordinators resolve it.
                doc::edit_encounter(
                    &mut devices[0],
                    id,
                    &EncounterEdit::SpaceType(SpaceType::SpecificSector),
                    edit_at,
                )?;
                doc::edit_encounter(
                    &mut devices[1],
                    id,
                    &EncounterEdit::SpaceType(SpaceType::MetroRer),
                    edit_at,
                )?;
                let chosen = *g.pick(&[SpaceType::SpecificSector, SpaceType::MetroRer]);
                let resolution = ConflictResolution {
                    team_id: team_id.clone(),
                    encounter_id: id,
                    chosen: EncounterEdit::SpaceType(chosen),
                    resolved_by: "coordination".into(),
                    resolved_at: start + 5 * 3_600_000,
                };
                doc::resolve_conflict(&mut review_doc, &resolution, start + 5 * 3_600_000)?;
                p.encounter.space_type = chosen;
            } else if roll < 12 && n > 1 {
                // Different fields edited concurrently: both survive the merge.
                doc::edit_encounter(
                    &mut devices[0],
                    id,
                    &EncounterEdit::PlaceDetail("sous le pont".into()),
                    edit_at,
                )?;
                doc::edit_encounter(
                    &mut devices[1],
                    id,
                    &EncounterEdit::AlertVulnerableWoman(true),
                    edit_at,
                )?;
            }
        }
        sync_all(&mut devices)?;
        for p in &recorded {
            if p.encounter.withdrawn {
                g.truth.withdrawn_encounters += 1;
            } else {
                g.count(p);
            }
        }
        let mut merged = main;
        for d in devices.iter_mut() {
            merged.merge(d)?;
        }
        let url = crate::ids::DocumentId::from_bytes(g.rng.random::<[u8; 16]>()).url();
        doc::put_team_ref(&mut night_doc, &team_id, &url, start)?;
        teams_index.insert(team_id.clone(), url);
        team_docs.push((team_id, merged));
    }

    // A team whose app is newer than the coordinators': schema 2, reported, not read.
    {
        use automerge::transaction::Transactable;
        let team_id = TeamId("T-NEW".into());
        let mut newer = doc::new_doc(coordinator.clone());
        newer.put(automerge::ROOT, "schema", automerge::ScalarValue::Uint(2))?;
        newer.put(automerge::ROOT, "kind", "team")?;
        newer.commit();
        let url = crate::ids::DocumentId::from_bytes(g.rng.random::<[u8; 16]>()).url();
        doc::put_team_ref(&mut night_doc, &team_id, &url, start)?;
        teams_index.insert(team_id.clone(), url);
        g.truth.unreadable_teams.push(team_id.clone());
        team_docs.push((team_id, newer));
    }

    let partner_kinds = [
        ("RATP", SpaceType::MetroRer),
        ("SNCF", SpaceType::SncfStation),
        ("AP-HP", SpaceType::Hospital),
        ("Parkings", SpaceType::CarPark),
    ];
    let mut partners = Vec::new();
    for i in 0..config.partner_aggregates {
        let (partner, space_type) = partner_kinds[i % partner_kinds.len()];
        let arrondissement = if i % 10 == 9 {
            None
        } else {
            Some(g.rng.random_range(1..=20u8))
        };
        let p = PartnerAggregate {
            partner: partner.into(),
            space_type,
            arrondissement,
            men: g.rng.random_range(0..12),
            women: g.rng.random_range(0..3),
            unknown: g.rng.random_range(0..2),
        };
        let n = u64::from(p.men) + u64::from(p.women) + u64::from(p.unknown);
        let tr = &mut g.truth;
        tr.partner_persons += n;
        tr.persons += n;
        tr.men += u64::from(p.men);
        tr.women += u64::from(p.women);
        tr.unknown_sex += u64::from(p.unknown);
        let area = match arrondissement {
            Some(a) => area_key(Some(a)),
            None => "non-attribue-partenaire-sans-arrondissement".into(),
        };
        *tr.by_area.entry(area).or_default() += n;
        *tr.by_space_type
            .entry(space_type.code().into())
            .or_default() += n;
        *tr.by_interview
            .entry("partnerAggregate".into())
            .or_default() += n;
        partners.push(p);
    }

    let night = Night {
        header,
        sectors,
        questionnaire: Some(QuestionnaireDefinition {
            version: definition.version,
            definition: DEFAULT_QUESTIONNAIRE.to_owned(),
        }),
        teams: teams_index,
    };
    Ok(SimNight {
        night,
        night_doc,
        team_docs,
        review_doc,
        partners,
        truth: g.truth,
    })
}

#[cfg(test)]
#[path = "sim_tests.rs"]
mod tests;
