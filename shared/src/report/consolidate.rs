//! The consolidated figures of a night, from every team document, the review and the
//! partners' aggregates.
//!
//! Counting rules (written down because the figures are published):
//! - **persons** = men + women + unknown sex + children of every counted encounter, plus every
//!   tallied person, plus the partners' aggregates. Children are persons: the Paris count
//!   counts everyone, adults and children;
//! - pregnant women are already counted among women (`pregnantWomen` is shown apart, not added);
//! - **by sex**: men / women / unknown from the counts; children have their own line (their sex
//!   is not recorded); tallies by their observed sex; **share of women** = women / persons;
//! - **by age band**: children are "under 18"; an encounter's adults take its age band
//!   (observed, or the questionnaire's `ageBand` answer), else "unknown"; tallies their band;
//!   partners "unknown";
//! - **by household situation / interview status**: the encounter's; tallies are "counted
//!   without interview", partners "partner aggregate", both "not recorded" for the situation;
//! - withdrawn encounters and confirmed duplicates (all but one per cluster) leave every figure;
//!   they are counted in `excluded`;
//! - every person lands in exactly one area line; those that cannot be placed are on a
//!   "non attribué" line with the reason. The sum over areas is the total.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::effective::{
    Anomaly, Area, EffectiveEncounter, EncounterStatus, PartnerAggregate, PlacedBy, TeamInput,
    TeamProblem, UnassignedReason, effective_encounters, team_area,
};
use super::labels;
use crate::geo::SectorIndex;
use crate::model::{
    AgeBand, Answer, InterviewStatus, Night, ObservedSex, Review, Situation, SpaceType, TeamId,
};

/// People counted on one line, split by sex (children apart). `persons` is always the sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub persons: u64,
    pub men: u64,
    pub women: u64,
    pub unknown_sex: u64,
    pub children: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.persons += other.persons;
        self.men += other.men;
        self.women += other.women;
        self.unknown_sex += other.unknown_sex;
        self.children += other.children;
    }

    fn of(men: u64, women: u64, unknown_sex: u64, children: u64) -> Counts {
        Counts {
            persons: men + women + unknown_sex + children,
            men,
            women,
            unknown_sex,
            children,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub key: String,
    pub label: String,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AreaLine {
    pub area: Area,
    pub key: String,
    pub label: String,
    #[serde(flatten)]
    pub counts: Counts,
    pub encounters: u64,
    pub questionnaires: u64,
}

/// Answers to one question, over completed questionnaires. Multiple choices count once per
/// chosen code (so counts may add up to more than `respondents`); free text is counted as
/// `text`, never shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuestionDistribution {
    pub question_id: String,
    pub respondents: u64,
    pub counts: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Excluded {
    pub withdrawn_encounters: u64,
    pub withdrawn_persons: u64,
    pub duplicate_encounters: u64,
    pub duplicate_persons: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnreadableTeam {
    pub team_id: TeamId,
    pub problem: TeamProblem,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamSummary {
    pub consolidated: u64,
    /// Documents this build could not read (e.g. a newer schema): their people are NOT in
    /// the figures, which is why they are listed.
    pub unreadable: Vec<UnreadableTeam>,
    /// Teams of the night index without any document in the input.
    pub missing: Vec<TeamId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    pub by_position: u64,
    pub by_team_sectors: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Consolidation {
    pub night_id: Uuid,
    pub totals: Counts,
    pub pregnant_women: u64,
    pub encounters: u64,
    pub tallied_persons: u64,
    pub partner_persons: u64,
    /// Women / persons; `None` when nobody was counted.
    pub share_of_women: Option<f64>,
    pub questionnaires_completed: u64,
    /// Questionnaires completed / persons counted.
    pub questionnaire_rate: Option<f64>,
    pub by_area: Vec<AreaLine>,
    pub by_space_type: Vec<Line>,
    pub by_age_band: Vec<Line>,
    pub by_situation: Vec<Line>,
    pub by_interview: Vec<Line>,
    pub questions: Vec<QuestionDistribution>,
    pub excluded: Excluded,
    /// Placement of counted encounters (tallies and partners are not encounters).
    pub placement: Placement,
    pub teams: TeamSummary,
    pub anomalies: Vec<Anomaly>,
}

/// Everything the consolidation reads.
#[derive(Debug, Clone, Copy)]
pub struct ConsolidationInput<'a> {
    pub night: &'a Night,
    pub teams: &'a [TeamInput],
    pub review: Option<&'a Review>,
    pub partners: &'a [PartnerAggregate],
}

/// The consolidated figures and the encounters as counted (for exports and the duplicate
/// finder).
pub fn consolidate(input: ConsolidationInput<'_>) -> (Consolidation, Vec<EffectiveEncounter>) {
    let mut anomalies = Vec::new();
    let index = SectorIndex::new(&input.night.sectors);
    for (sector_id, _) in index.unreadable() {
        anomalies.push(Anomaly::UnreadableSectorGeometry {
            sector_id: sector_id.clone(),
        });
    }
    let encounters = effective_encounters(
        input.night,
        input.teams,
        input.review,
        &index,
        &mut anomalies,
    );

    let mut acc = Accumulator::default();
    let mut excluded = Excluded::default();
    let mut placement = Placement::default();
    for e in &encounters {
        let c = &e.encounter.counts;
        match e.status {
            EncounterStatus::Withdrawn => {
                excluded.withdrawn_encounters += 1;
                excluded.withdrawn_persons += c.total();
                continue;
            }
            EncounterStatus::DuplicateOf { .. } => {
                excluded.duplicate_encounters += 1;
                excluded.duplicate_persons += c.total();
                continue;
            }
            EncounterStatus::Counted => {}
        }
        match e.placed_by {
            PlacedBy::Position => placement.by_position += 1,
            PlacedBy::TeamSectors => placement.by_team_sectors += 1,
        }
        acc.encounter(e);
    }

    let mut teams = TeamSummary::default();
    let mut present = std::collections::BTreeSet::new();
    for input_team in input.teams {
        match input_team {
            TeamInput::Read(team) => {
                teams.consolidated += 1;
                present.insert(team.header.team_id.clone());
                let area = team_area(team, input.night);
                for (dim, &value) in &team.tallies {
                    if value < 0 {
                        anomalies.push(Anomaly::NegativeTally {
                            team_id: team.header.team_id.clone(),
                            dimension: dim.key(),
                        });
                    }
                    let n = u64::try_from(value).unwrap_or(0);
                    if n > 0 {
                        acc.tally(area, dim.space_type, dim.sex, dim.age_band, n);
                    }
                }
            }
            TeamInput::Unreadable { team_id, problem } => {
                present.insert(team_id.clone());
                teams.unreadable.push(UnreadableTeam {
                    team_id: team_id.clone(),
                    problem: problem.clone(),
                });
            }
        }
    }
    teams.missing = input
        .night
        .teams
        .keys()
        .filter(|t| !present.contains(*t))
        .cloned()
        .collect();

    for (i, p) in input.partners.iter().enumerate() {
        let area = match p.arrondissement {
            Some(a) if (1..=20).contains(&a) => Area::of_arrondissement(Some(a)),
            other => {
                if other.is_some() {
                    anomalies.push(Anomaly::InvalidPartnerArrondissement { index: i });
                }
                Area::Unassigned {
                    reason: UnassignedReason::PartnerWithoutArrondissement,
                }
            }
        };
        acc.partner(area, p);
    }
    anomalies.sort();
    anomalies.dedup();

    let question_order = question_order(input.night);
    let consolidation = acc.finish(
        input.night.header.id,
        excluded,
        placement,
        teams,
        anomalies,
        &question_order,
    );
    (consolidation, encounters)
}

/// Question ids in the order of the night's questionnaire (when it parses).
fn question_order(night: &Night) -> Vec<String> {
    let Some(q) = &night.questionnaire else {
        return Vec::new();
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&q.definition) else {
        return Vec::new();
    };
    value
        .get("questions")
        .and_then(|qs| qs.as_array())
        .map(|qs| {
            qs.iter()
                .filter_map(|q| q.get("id").and_then(|id| id.as_str()).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The age band an encounter documents: observed, or declared in the questionnaire.
pub(crate) fn documented_age_band(e: &crate::model::Encounter) -> AgeBand {
    if let Some(band) = e.age_band {
        return band;
    }
    match e.answers.get("ageBand") {
        Some(Answer::Choice(code)) => AgeBand::from_code(code).unwrap_or(AgeBand::Unknown),
        _ => AgeBand::Unknown,
    }
}

pub(crate) fn questionnaire_completed(e: &crate::model::Encounter) -> bool {
    e.interview == InterviewStatus::Accepted && !e.answers.is_empty()
}

const TALLIED: &str = "tallied";
const PARTNER: &str = "partnerAggregate";
const NOT_RECORDED: &str = "notRecorded";

#[derive(Default)]
struct Accumulator {
    totals: Counts,
    pregnant_women: u64,
    encounters: u64,
    tallied: u64,
    partners: u64,
    questionnaires: u64,
    areas: BTreeMap<Area, (Counts, u64, u64)>,
    space: BTreeMap<SpaceType, Counts>,
    age: BTreeMap<AgeBand, Counts>,
    situation: BTreeMap<String, Counts>,
    interview: BTreeMap<String, Counts>,
    questions: BTreeMap<String, QuestionDistribution>,
}

impl Accumulator {
    fn common(&mut self, area: Area, space: SpaceType, counts: Counts) {
        self.totals.add(counts);
        self.areas.entry(area).or_default().0.add(counts);
        self.space.entry(space).or_default().add(counts);
    }

    fn encounter(&mut self, e: &EffectiveEncounter) {
        let enc = &e.encounter;
        let c = enc.counts;
        let counts = Counts::of(
            c.men.into(),
            c.women.into(),
            c.unknown_sex.into(),
            c.children.into(),
        );
        self.common(e.area, enc.space_type, counts);
        self.encounters += 1;
        self.pregnant_women += u64::from(c.pregnant_women);
        let completed = questionnaire_completed(enc);
        let area = self.areas.entry(e.area).or_default();
        area.1 += 1;
        area.2 += u64::from(completed);
        let band = documented_age_band(enc);
        let adults = Counts::of(c.men.into(), c.women.into(), c.unknown_sex.into(), 0);
        self.age.entry(band).or_default().add(adults);
        self.age
            .entry(AgeBand::Under18)
            .or_default()
            .add(Counts::of(0, 0, 0, c.children.into()));
        self.situation
            .entry(enc.situation.code().to_owned())
            .or_default()
            .add(counts);
        self.interview
            .entry(enc.interview.code().to_owned())
            .or_default()
            .add(counts);
        if completed {
            self.questionnaires += 1;
            for (question_id, answer) in &enc.answers {
                let d = self
                    .questions
                    .entry(question_id.clone())
                    .or_insert_with(|| QuestionDistribution {
                        question_id: question_id.clone(),
                        respondents: 0,
                        counts: BTreeMap::new(),
                    });
                d.respondents += 1;
                let mut bump = |k: &str| *d.counts.entry(k.to_owned()).or_default() += 1;
                match answer {
                    Answer::Choice(code) => bump(code),
                    Answer::Choices(codes) => codes.iter().for_each(|c| bump(c)),
                    Answer::Number(n) => bump(&n.to_string()),
                    Answer::Text(_) => bump("text"),
                    Answer::DoesNotKnow => bump("doesNotKnow"),
                    Answer::Declines => bump("declines"),
                }
            }
        }
    }

    fn tally(&mut self, area: Area, space: SpaceType, sex: ObservedSex, band: AgeBand, n: u64) {
        let counts = match sex {
            ObservedSex::Male => Counts::of(n, 0, 0, 0),
            ObservedSex::Female => Counts::of(0, n, 0, 0),
            ObservedSex::Unknown => Counts::of(0, 0, n, 0),
        };
        self.common(area, space, counts);
        self.tallied += n;
        self.age.entry(band).or_default().add(counts);
        self.situation
            .entry(NOT_RECORDED.into())
            .or_default()
            .add(counts);
        self.interview
            .entry(TALLIED.into())
            .or_default()
            .add(counts);
    }

    fn partner(&mut self, area: Area, p: &PartnerAggregate) {
        let counts = Counts::of(p.men.into(), p.women.into(), p.unknown.into(), 0);
        self.common(area, p.space_type, counts);
        self.partners += counts.persons;
        self.age.entry(AgeBand::Unknown).or_default().add(counts);
        self.situation
            .entry(NOT_RECORDED.into())
            .or_default()
            .add(counts);
        self.interview
            .entry(PARTNER.into())
            .or_default()
            .add(counts);
    }

    fn finish(
        mut self,
        night_id: Uuid,
        excluded: Excluded,
        placement: Placement,
        teams: TeamSummary,
        anomalies: Vec<Anomaly>,
        question_order: &[String],
    ) -> Consolidation {
        let ratio = |n: u64, d: u64| (d > 0).then(|| n as f64 / d as f64);
        let line = |key: &str, label: &str, counts: Counts| Line {
            key: key.to_owned(),
            label: label.to_owned(),
            counts,
        };
        // Every code gets a line, zeros included: the published tables have a fixed shape.
        let mut by_area: Vec<AreaLine> = Vec::new();
        let fixed = std::iter::once(Area::ParisCentre)
            .chain((5..=20).map(|number| Area::Arrondissement { number }));
        for area in fixed {
            self.areas.entry(area).or_default();
        }
        for (area, (counts, encounters, questionnaires)) in self.areas {
            by_area.push(AreaLine {
                area,
                key: area.key(),
                label: area.label(),
                counts,
                encounters,
                questionnaires,
            });
        }
        let by_space_type = SpaceType::ALL
            .iter()
            .map(|&s| {
                let counts = self.space.get(&s).copied().unwrap_or_default();
                line(s.code(), labels::space_type(s), counts)
            })
            .collect();
        let by_age_band = AgeBand::ALL
            .iter()
            .map(|&a| {
                let counts = self.age.get(&a).copied().unwrap_or_default();
                line(a.code(), labels::age_band(a), counts)
            })
            .collect();
        let take =
            |map: &mut BTreeMap<String, Counts>, key: &str| map.remove(key).unwrap_or_default();
        let mut by_situation: Vec<Line> = Situation::ALL
            .iter()
            .map(|&s| {
                line(
                    s.code(),
                    labels::situation(s),
                    take(&mut self.situation, s.code()),
                )
            })
            .collect();
        by_situation.push(line(
            NOT_RECORDED,
            "Non renseigné (comptage sans entretien, partenaires)",
            take(&mut self.situation, NOT_RECORDED),
        ));
        let mut by_interview: Vec<Line> = InterviewStatus::ALL
            .iter()
            .map(|&s| {
                line(
                    s.code(),
                    labels::interview(s),
                    take(&mut self.interview, s.code()),
                )
            })
            .collect();
        by_interview.push(line(
            TALLIED,
            "Compté·e sans entretien",
            take(&mut self.interview, TALLIED),
        ));
        by_interview.push(line(
            PARTNER,
            "Comptage agrégé des partenaires",
            take(&mut self.interview, PARTNER),
        ));
        let mut questions = Vec::new();
        for id in question_order {
            if let Some(d) = self.questions.remove(id) {
                questions.push(d);
            }
        }
        questions.extend(self.questions.into_values());

        Consolidation {
            night_id,
            totals: self.totals,
            pregnant_women: self.pregnant_women,
            encounters: self.encounters,
            tallied_persons: self.tallied,
            partner_persons: self.partners,
            share_of_women: ratio(self.totals.women, self.totals.persons),
            questionnaires_completed: self.questionnaires,
            questionnaire_rate: ratio(self.questionnaires, self.totals.persons),
            by_area,
            by_space_type,
            by_age_band,
            by_situation,
            by_interview,
            questions,
            excluded,
            placement,
            teams,
            anomalies,
        }
    }
}

#[cfg(test)]
#[path = "consolidate_tests.rs"]
mod tests;
