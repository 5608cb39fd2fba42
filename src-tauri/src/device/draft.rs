//! An encounter being written (`EncounterDraft` in `ui/src/backend.ts`): saved whole on every
//! autosave, turned into an [`Encounter`] when the team records it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use carnet_shared::model::{
    AgeBand, Alerts, Answer, Encounter, Installation, InterviewStatus, Millis, ObservedSex,
    PeopleCounts, Position, Situation, SpaceType,
};

use super::error::DeviceError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncounterDraft {
    /// UUID v7 made by the UI when the form opens; becomes the encounter's id.
    pub id: Uuid,
    pub started_at: Millis,
    pub space_type: Option<SpaceType>,
    pub place_detail: String,
    pub installation: Option<Installation>,
    pub situation: Option<Situation>,
    pub counts: PeopleCounts,
    pub interview: Option<InterviewStatus>,
    pub observed_sex: Option<ObservedSex>,
    pub age_band: Option<AgeBand>,
    pub alerts: Alerts,
    pub position: Option<Position>,
    pub distinctive_signs: Option<String>,
    pub questionnaire_version: Option<u32>,
    pub answers: BTreeMap<String, Answer>,
}

impl EncounterDraft {
    /// The encounter this draft records, as the UI's `draftToEncounter` builds it: answers only
    /// for an accepted interview, observations only for the others, trimmed text. Fails with
    /// every missing field (`missing:<field>`) and every consistency issue at once.
    pub fn to_encounter(
        &self,
        source_device: &str,
        night_questionnaire: Option<u32>,
    ) -> Result<Encounter, DeviceError> {
        let mut missing = Vec::new();
        if self.space_type.is_none() {
            missing.push("missing:spaceType".to_owned());
        }
        if self.installation.is_none() {
            missing.push("missing:installation".to_owned());
        }
        if self.situation.is_none() {
            missing.push("missing:situation".to_owned());
        }
        if self.interview.is_none() {
            missing.push("missing:interview".to_owned());
        }
        let (Some(space_type), Some(installation), Some(situation), Some(interview)) = (
            self.space_type,
            self.installation,
            self.situation,
            self.interview,
        ) else {
            return Err(DeviceError::InvalidEncounter(missing));
        };
        let accepted = interview == InterviewStatus::Accepted;
        let answers = if accepted {
            self.answers.clone()
        } else {
            BTreeMap::new()
        };
        let questionnaire_version = if answers.is_empty() {
            None
        } else {
            night_questionnaire.or(self.questionnaire_version)
        };
        let encounter = Encounter {
            id: self.id,
            recorded_at: self.started_at,
            space_type,
            place_detail: self.place_detail.trim().to_owned(),
            installation,
            situation,
            counts: self.counts,
            interview,
            observed_sex: if accepted { None } else { self.observed_sex },
            age_band: if accepted { None } else { self.age_band },
            alerts: self.alerts,
            position: self.position,
            distinctive_signs: self
                .distinctive_signs
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            questionnaire_version,
            answers,
            source_device: source_device.to_owned(),
            withdrawn: false,
        };
        encounter.validate().map_err(|issues| {
            DeviceError::InvalidEncounter(
                issues
                    .iter()
                    .filter_map(|i| serde_json::to_value(i).ok())
                    .filter_map(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned))
                    .collect(),
            )
        })?;
        Ok(encounter)
    }
}
