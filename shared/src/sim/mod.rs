//! A deterministic night simulator: sectors, teams with several devices writing real
//! Automerge team documents through `doc::*` (concurrently, then merged), partner aggregates,
//! duplicates planted between neighbouring teams, a coordinators' review — and the ground
//! truth the generator knows, to check the consolidation against.
//!
//! Randomness is passed in as a seed (ChaCha8: the same seed gives the same night everywhere);
//! time is passed in as the start of the night.

mod generator;
mod questionnaire;

use std::collections::{BTreeMap, BTreeSet};

use automerge::AutoCommit;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use uuid::Uuid;

use crate::doc::{self, DocError};
use crate::model::*;
use crate::report::PartnerAggregate;
use generator::{
    COLUMNS, Generator, LAT0, LON0, Planned, SECTOR_LAT, SECTOR_LON, actor, area_key,
    sector_arrondissement, sector_origin, uuid_at,
};
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
    /// Per team (same order as `team_docs`, without the unreadable one), each device's copy
    /// just before the last sync: together they make the team document, and they hold
    /// concurrent edits that only a merge of all of them resolves.
    pub device_docs: Vec<Vec<AutoCommit>>,
    pub review_doc: AutoCommit,
    pub partners: Vec<PartnerAggregate>,
    pub truth: GroundTruth,
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

/// Documents made elsewhere (e.g. by a server) for the simulated night to be written into:
/// the night document (header only) and one team document per team (header only, no
/// sectors). The night then gets the simulated sectors and questionnaire, each team its
/// sectors and encounters, all as changes on top of these documents; the night's team index
/// is left as the base has it.
pub struct SimBases {
    pub night: AutoCommit,
    pub teams: Vec<AutoCommit>,
}

/// Simulates a whole night. `start` is the time teams set off (e.g. 22:00).
pub fn simulate(config: &SimConfig, seed: u64, start: Millis) -> Result<SimNight, DocError> {
    simulate_on(config, seed, start, None)
}

/// [`simulate`] on top of existing documents (`bases.teams` must hold `config.teams`
/// documents). Without bases, the same as [`simulate`]; with them, the same encounters,
/// tallies and truth for the same seed.
pub fn simulate_on(
    config: &SimConfig,
    seed: u64,
    start: Millis,
    bases: Option<SimBases>,
) -> Result<SimNight, DocError> {
    let based = bases.is_some();
    let (night_base, mut team_bases) = match bases {
        Some(b) => {
            if b.teams.len() != config.teams {
                return Err(DocError::Invalid("one base document per team is needed"));
            }
            (Some(b.night), b.teams.into_iter().map(Some).collect())
        }
        None => (None, vec![None; config.teams]),
    };
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
    let (mut night_doc, header) = match night_base {
        Some(mut base) => {
            let header = doc::read_night(&base)?.header;
            (base.fork().with_actor(coordinator.clone()), header)
        }
        None => {
            let mut night_doc = doc::new_doc(coordinator.clone());
            let header = NightHeader {
                id: night_id,
                date: "2026-01-29".into(),
                label: "Nuit simulée".into(),
            };
            doc::create_night(&mut night_doc, &header, start)?;
            (night_doc, header)
        }
    };
    let night_id = header.id;
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

    let mut device_docs = Vec::new();
    for t in 0..config.teams {
        let base = team_bases.get_mut(t).and_then(Option::take);
        // Every tenth team also covers the next sector.
        let mut team_sectors = vec![t];
        if t % 10 == 9 && t + 1 < config.teams {
            team_sectors.push(t + 1);
        }
        let sector_ids: BTreeSet<SectorId> = team_sectors
            .iter()
            .map(|s| SectorId(format!("S{:03}", s + 1)))
            .collect();
        let (team_id, mut main) = match base {
            Some(mut base) => {
                let team_id = doc::read_team(&base)?.header.team_id;
                let mut main = base.fork().with_actor(coordinator.clone());
                doc::set_team_sectors(&mut main, &sector_ids, start)?;
                (team_id, main)
            }
            None => {
                let team_id = TeamId(format!("T-{:03}", t + 1));
                let header = TeamHeader {
                    team_id: team_id.clone(),
                    night_id,
                    name: format!("Équipe {}", t + 1),
                    sectors: sector_ids,
                };
                let mut main = doc::new_doc(coordinator.clone());
                doc::create_team(&mut main, &header, start)?;
                (team_id, main)
            }
        };
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
            } else if roll < 8
                && n > 1
                && !matches!(
                    p.encounter.space_type,
                    SpaceType::SpecificSector | SpaceType::MetroRer
                )
            {
                // Two devices set the type of space concurrently; the coordinators resolve it.
                // Only when both values differ from the current one: Automerge drops a put of
                // the value a key already holds, which would leave no conflict to resolve.
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
        device_docs.push(devices.clone());
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
        if !based {
            doc::put_team_ref(&mut night_doc, &team_id, &url, start)?;
            teams_index.insert(team_id.clone(), url);
        }
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
        // On base documents, the caller makes its own unreadable team (if any).
        if !based {
            doc::put_team_ref(&mut night_doc, &team_id, &url, start)?;
            teams_index.insert(team_id.clone(), url);
        }
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

    if based {
        teams_index = doc::read_night(&night_doc)?.teams;
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
        device_docs,
        review_doc,
        partners,
        truth: g.truth,
    })
}

#[cfg(test)]
#[path = "sim_tests.rs"]
mod tests;
