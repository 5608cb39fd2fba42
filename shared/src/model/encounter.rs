//! One encounter with people sleeping rough, its per-field edits and its validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::codes::{AgeBand, Installation, InterviewStatus, ObservedSex, Situation, SpaceType};

/// Milliseconds since the Unix epoch (UTC). Always passed in by the caller.
pub type Millis = i64;

/// Headcounts of one encounter. Pregnant women are also counted in `women`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeopleCounts {
    pub men: u32,
    pub women: u32,
    pub unknown_sex: u32,
    pub children: u32,
    pub pregnant_women: u32,
}

impl PeopleCounts {
    /// Adults of any sex plus children.
    pub fn total(&self) -> u64 {
        u64::from(self.men)
            + u64::from(self.women)
            + u64::from(self.unknown_sex)
            + u64::from(self.children)
    }

    pub fn adults(&self) -> u64 {
        u64::from(self.men) + u64::from(self.women) + u64::from(self.unknown_sex)
    }
}

/// Alert flags: any of them means "call 15 / 18" on the spot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alerts {
    pub vulnerable_woman: bool,
    pub minor: bool,
    pub health: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
}

/// One questionnaire answer. Every question allows "doesn't know" and "declines".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "camelCase")]
pub enum Answer {
    /// Code of one option of a single-choice question.
    Choice(String),
    /// Codes of the options of a multiple-choice question.
    Choices(Vec<String>),
    Number(i64),
    Text(String),
    DoesNotKnow,
    Declines,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Encounter {
    /// UUID v7 made by the recording device (the caller).
    pub id: Uuid,
    pub recorded_at: Millis,
    pub space_type: SpaceType,
    /// Street, station, car-park level… as typed by the team.
    pub place_detail: String,
    pub installation: Installation,
    pub situation: Situation,
    pub counts: PeopleCounts,
    pub interview: InterviewStatus,
    /// Only when the interview was not accepted (otherwise the questionnaire says it).
    pub observed_sex: Option<ObservedSex>,
    pub age_band: Option<AgeBand>,
    pub alerts: Alerts,
    pub position: Option<Position>,
    /// Field-only free text to avoid counting someone twice; purged after the night.
    pub distinctive_signs: Option<String>,
    /// Version of the questionnaire the answers refer to.
    pub questionnaire_version: Option<u32>,
    /// Question id -> answer.
    pub answers: BTreeMap<String, Answer>,
    /// Device (or partner source) that recorded the encounter.
    pub source_device: String,
    /// Withdrawn by the team (entered by mistake). A tombstone flag rather than a deletion,
    /// so that a concurrent edit on another device is not silently lost.
    pub withdrawn: bool,
}

/// A change to a single field of an encounter: two devices editing different fields of one
/// encounter write different Automerge keys and merge field by field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "field", content = "value", rename_all = "camelCase")]
pub enum EncounterEdit {
    SpaceType(SpaceType),
    PlaceDetail(String),
    Installation(Installation),
    Situation(Situation),
    Men(u32),
    Women(u32),
    UnknownSex(u32),
    Children(u32),
    PregnantWomen(u32),
    Interview(InterviewStatus),
    ObservedSex(Option<ObservedSex>),
    AgeBand(Option<AgeBand>),
    AlertVulnerableWoman(bool),
    AlertMinor(bool),
    AlertHealth(bool),
    Position(Option<Position>),
    DistinctiveSigns(Option<String>),
    QuestionnaireVersion(Option<u32>),
    #[serde(rename_all = "camelCase")]
    Answer {
        question_id: String,
        answer: Option<Answer>,
    },
    Withdrawn(bool),
}

impl EncounterEdit {
    /// The field name (the Automerge key, or `answers.<question id>` for an answer).
    pub fn field(&self) -> String {
        match self {
            EncounterEdit::Answer { question_id, .. } => format!("answers.{question_id}"),
            other => other.key().unwrap_or_default().to_owned(),
        }
    }

    /// The key of this field in the encounter map; `None` for answers (which live in the
    /// `answers` sub-map).
    pub fn key(&self) -> Option<&'static str> {
        Some(match self {
            EncounterEdit::SpaceType(_) => "spaceType",
            EncounterEdit::PlaceDetail(_) => "placeDetail",
            EncounterEdit::Installation(_) => "installation",
            EncounterEdit::Situation(_) => "situation",
            EncounterEdit::Men(_) => "men",
            EncounterEdit::Women(_) => "women",
            EncounterEdit::UnknownSex(_) => "unknownSex",
            EncounterEdit::Children(_) => "children",
            EncounterEdit::PregnantWomen(_) => "pregnantWomen",
            EncounterEdit::Interview(_) => "interview",
            EncounterEdit::ObservedSex(_) => "observedSex",
            EncounterEdit::AgeBand(_) => "ageBand",
            EncounterEdit::AlertVulnerableWoman(_) => "alertVulnerableWoman",
            EncounterEdit::AlertMinor(_) => "alertMinor",
            EncounterEdit::AlertHealth(_) => "alertHealth",
            EncounterEdit::Position(_) => "position",
            EncounterEdit::DistinctiveSigns(_) => "distinctiveSigns",
            EncounterEdit::QuestionnaireVersion(_) => "questionnaireVersion",
            EncounterEdit::Answer { .. } => return None,
            EncounterEdit::Withdrawn(_) => "withdrawn",
        })
    }
}

/// Why an encounter is not consistent. Carries no free text or answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "camelCase")]
pub enum EncounterIssue {
    #[error("an encounter counts at least one person")]
    NoPeople,
    #[error("more pregnant women than women")]
    PregnantExceedsWomen,
    #[error("counts do not match the household situation")]
    CountsContradictSituation,
    #[error("observed sex or age band is for people who were not interviewed")]
    ObservationWhenInterviewed,
    #[error("answers are only recorded for an accepted interview")]
    AnswersWithoutInterview,
    #[error("answers need a questionnaire version")]
    AnswersWithoutVersion,
    #[error("position out of range")]
    InvalidPosition,
    #[error("recorded time before the epoch")]
    InvalidTime,
}

impl Encounter {
    /// Applies one field edit to the in-memory model.
    pub fn apply(&mut self, edit: EncounterEdit) {
        match edit {
            EncounterEdit::SpaceType(v) => self.space_type = v,
            EncounterEdit::PlaceDetail(v) => self.place_detail = v,
            EncounterEdit::Installation(v) => self.installation = v,
            EncounterEdit::Situation(v) => self.situation = v,
            EncounterEdit::Men(v) => self.counts.men = v,
            EncounterEdit::Women(v) => self.counts.women = v,
            EncounterEdit::UnknownSex(v) => self.counts.unknown_sex = v,
            EncounterEdit::Children(v) => self.counts.children = v,
            EncounterEdit::PregnantWomen(v) => self.counts.pregnant_women = v,
            EncounterEdit::Interview(v) => self.interview = v,
            EncounterEdit::ObservedSex(v) => self.observed_sex = v,
            EncounterEdit::AgeBand(v) => self.age_band = v,
            EncounterEdit::AlertVulnerableWoman(v) => self.alerts.vulnerable_woman = v,
            EncounterEdit::AlertMinor(v) => self.alerts.minor = v,
            EncounterEdit::AlertHealth(v) => self.alerts.health = v,
            EncounterEdit::Position(v) => self.position = v,
            EncounterEdit::DistinctiveSigns(v) => self.distinctive_signs = v,
            EncounterEdit::QuestionnaireVersion(v) => self.questionnaire_version = v,
            EncounterEdit::Answer {
                question_id,
                answer,
            } => match answer {
                Some(a) => {
                    self.answers.insert(question_id, a);
                }
                None => {
                    self.answers.remove(&question_id);
                }
            },
            EncounterEdit::Withdrawn(v) => self.withdrawn = v,
        }
    }

    /// Checks the methodology's consistency rules; returns every issue found.
    pub fn validate(&self) -> Result<(), Vec<EncounterIssue>> {
        let mut issues = Vec::new();
        let c = &self.counts;
        if c.total() == 0 {
            issues.push(EncounterIssue::NoPeople);
        }
        if c.pregnant_women > c.women {
            issues.push(EncounterIssue::PregnantExceedsWomen);
        }
        let situation_ok = match self.situation {
            Situation::Alone => c.total() == 1,
            Situation::CoupleWithoutChildren => c.adults() == 2 && c.children == 0,
            Situation::FamilyWithChildren => c.children >= 1 && c.adults() >= 1,
            Situation::GroupOfFivePlus => c.total() >= 5,
        };
        if c.total() > 0 && !situation_ok {
            issues.push(EncounterIssue::CountsContradictSituation);
        }
        let interviewed = self.interview == InterviewStatus::Accepted;
        if interviewed && (self.observed_sex.is_some() || self.age_band.is_some()) {
            issues.push(EncounterIssue::ObservationWhenInterviewed);
        }
        if !interviewed && !self.answers.is_empty() {
            issues.push(EncounterIssue::AnswersWithoutInterview);
        }
        if !self.answers.is_empty() && self.questionnaire_version.is_none() {
            issues.push(EncounterIssue::AnswersWithoutVersion);
        }
        if let Some(p) = self.position
            && !(p.lat.is_finite()
                && p.lon.is_finite()
                && (-90.0..=90.0).contains(&p.lat)
                && (-180.0..=180.0).contains(&p.lon))
        {
            issues.push(EncounterIssue::InvalidPosition);
        }
        if self.recorded_at < 0 {
            issues.push(EncounterIssue::InvalidTime);
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(issues)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample_encounter(id: Uuid) -> Encounter {
        let mut answers = BTreeMap::new();
        answers.insert("sex".to_owned(), Answer::Choice("female".to_owned()));
        answers.insert("timeWithoutHousing".to_owned(), Answer::DoesNotKnow);
        answers.insert("reason".to_owned(), Answer::Declines);
        answers.insert(
            "needs".to_owned(),
            Answer::Choices(vec!["food".into(), "health".into()]),
        );
        answers.insert("calls115".to_owned(), Answer::Number(3));
        Encounter {
            id,
            recorded_at: 1_769_814_000_000,
            space_type: SpaceType::MetroRer,
            place_detail: "Châtelet, couloir 4".to_owned(),
            installation: Installation::None,
            situation: Situation::Alone,
            counts: PeopleCounts {
                women: 1,
                pregnant_women: 1,
                ..Default::default()
            },
            interview: InterviewStatus::Accepted,
            observed_sex: None,
            age_band: None,
            alerts: Alerts {
                vulnerable_woman: true,
                ..Default::default()
            },
            position: Some(Position {
                lat: 48.8584,
                lon: 2.347,
            }),
            distinctive_signs: Some("manteau rouge".to_owned()),
            questionnaire_version: Some(3),
            answers,
            source_device: "device-a".to_owned(),
            withdrawn: false,
        }
    }

    fn id() -> Uuid {
        uuid::Builder::from_unix_timestamp_millis(1_769_814_000_000, &[7; 10]).into_uuid()
    }

    #[test]
    fn sample_encounter_is_valid() {
        assert_eq!(sample_encounter(id()).validate(), Ok(()));
    }

    #[test]
    fn serde_json_round_trip_is_camel_case() {
        let e = sample_encounter(id());
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains("\"recordedAt\"") && json.contains("\"pregnantWomen\""));
        assert!(json.contains("\"kind\":\"doesNotKnow\""));
        assert_eq!(serde_json::from_str::<Encounter>(&json).unwrap(), e);
        let edit = EncounterEdit::Answer {
            question_id: "q1".into(),
            answer: Some(Answer::Declines),
        };
        let json = serde_json::to_string(&edit).unwrap();
        assert!(json.contains("\"questionId\""));
        assert_eq!(serde_json::from_str::<EncounterEdit>(&json).unwrap(), edit);
    }

    #[test]
    fn observed_sex_only_when_not_interviewed() {
        let mut e = sample_encounter(id());
        e.apply(EncounterEdit::ObservedSex(Some(ObservedSex::Female)));
        assert_eq!(
            e.validate(),
            Err(vec![EncounterIssue::ObservationWhenInterviewed])
        );
        e.apply(EncounterEdit::Interview(InterviewStatus::Refused));
        // Refused now, but the answers are still there.
        assert_eq!(
            e.validate(),
            Err(vec![EncounterIssue::AnswersWithoutInterview])
        );
        for q in e.answers.keys().cloned().collect::<Vec<_>>() {
            e.apply(EncounterEdit::Answer {
                question_id: q,
                answer: None,
            });
        }
        assert_eq!(e.validate(), Ok(()));
    }

    #[test]
    fn counts_must_match_situation_and_pregnancies() {
        let mut e = sample_encounter(id());
        e.apply(EncounterEdit::Men(1));
        assert_eq!(
            e.validate(),
            Err(vec![EncounterIssue::CountsContradictSituation])
        );
        e.apply(EncounterEdit::Situation(Situation::CoupleWithoutChildren));
        assert_eq!(e.validate(), Ok(()));
        e.apply(EncounterEdit::PregnantWomen(2));
        assert_eq!(
            e.validate(),
            Err(vec![EncounterIssue::PregnantExceedsWomen])
        );
        e.apply(EncounterEdit::PregnantWomen(0));
        e.apply(EncounterEdit::Men(0));
        e.apply(EncounterEdit::Women(0));
        assert_eq!(e.validate(), Err(vec![EncounterIssue::NoPeople]));
    }

    #[test]
    fn position_out_of_range_is_an_issue() {
        let mut e = sample_encounter(id());
        e.apply(EncounterEdit::Position(Some(Position {
            lat: 91.0,
            lon: 2.0,
        })));
        assert_eq!(e.validate(), Err(vec![EncounterIssue::InvalidPosition]));
    }
}
