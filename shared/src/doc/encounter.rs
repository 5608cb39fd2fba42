//! Encounters inside a team document: `encounters.<uuid>` is a map with one key per field.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, Value};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::values::{self, opt, req};
use super::{DocError, DocKind, check_header, messages, write};
use crate::model::{
    AgeBand, Alerts, Answer, Encounter, EncounterEdit, Installation, InterviewStatus, Millis,
    ObservedSex, PeopleCounts, Position, Situation, SpaceType,
};

const ENCOUNTERS: &str = "encounters";
const ANSWERS: &str = "answers";

/// Concurrent values of one encounter field, for the coordinator to choose from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldConflict {
    /// Field name as in [`EncounterEdit::field`] (`answers.<question id>` for answers).
    pub field: String,
    /// Every concurrent value, each as the edit that would write it.
    pub values: Vec<EncounterEdit>,
    /// Index in `values` of the one readers currently see (Automerge's deterministic winner).
    pub current: usize,
}

/// Records a new encounter in its own change. The id is the caller's UUID v7.
pub fn record_encounter(
    doc: &mut AutoCommit,
    encounter: &Encounter,
    now: Millis,
) -> Result<(), DocError> {
    write(doc, messages::RECORD_ENCOUNTER, now, |doc| {
        tx::record_encounter(doc, encounter)
    })
}

/// Changes one field of an existing encounter, in its own change.
pub fn edit_encounter(
    doc: &mut AutoCommit,
    id: Uuid,
    edit: &EncounterEdit,
    now: Millis,
) -> Result<(), DocError> {
    write(doc, messages::EDIT_ENCOUNTER, now, |doc| {
        tx::edit_encounter(doc, id, edit)
    })
}

/// Reads one encounter of the team document.
pub fn read_encounter<D: ReadDoc>(doc: &D, id: Uuid) -> Result<Encounter, DocError> {
    check_header(doc, DocKind::Team)?;
    let obj = encounter_obj(doc, id)?;
    read_encounter_at(doc, id, &obj)
}

/// Deletes the field-only `distinctiveSigns` of every encounter, in one change; returns how
/// many were removed. Automerge keeps deleted values in the change history: the text is gone
/// from the current state (and from readers, exports, reports) but not from saved history.
pub fn purge_distinctive_signs(doc: &mut AutoCommit, now: Millis) -> Result<usize, DocError> {
    write(doc, messages::PURGE_DISTINCTIVE_SIGNS, now, |doc| {
        tx::purge_distinctive_signs(doc)
    })
}

/// Fields whose key holds concurrent values (Automerge `get_all`), with every value decoded.
pub fn encounter_conflicts<D: ReadDoc>(doc: &D, id: Uuid) -> Result<Vec<FieldConflict>, DocError> {
    check_header(doc, DocKind::Team)?;
    let obj = encounter_obj(doc, id)?;
    let mut conflicts = Vec::new();
    for key in doc.keys(&obj) {
        if key == ANSWERS {
            continue;
        }
        let all = doc.get_all(&obj, key.as_str())?;
        if all.len() < 2 {
            continue;
        }
        let winner = doc.get(&obj, key.as_str())?.map(|(_, id)| id);
        let mut values = Vec::new();
        let mut current = 0;
        for (i, (value, vid)) in all.iter().enumerate() {
            let Some(edit) = decode_field(doc, &key, value, vid)? else {
                break;
            };
            if Some(vid) == winner.as_ref() {
                current = i;
            }
            values.push(edit);
        }
        if !values.is_empty() {
            conflicts.push(FieldConflict {
                field: values[0].field(),
                values,
                current,
            });
        }
    }
    if let Some((Value::Object(ObjType::Map), answers)) = doc.get(&obj, ANSWERS)? {
        for question_id in doc.keys(&answers) {
            let all = doc.get_all(&answers, question_id.as_str())?;
            if all.len() < 2 {
                continue;
            }
            let winner = doc.get(&answers, question_id.as_str())?.map(|(_, id)| id);
            let mut values = Vec::new();
            let mut current = 0;
            for (i, (value, vid)) in all.iter().enumerate() {
                let answer: Answer = values::json(value, vid, &question_id)?;
                if Some(vid) == winner.as_ref() {
                    current = i;
                }
                values.push(EncounterEdit::Answer {
                    question_id: question_id.clone(),
                    answer: Some(answer),
                });
            }
            conflicts.push(FieldConflict {
                field: format!("answers.{question_id}"),
                values,
                current,
            });
        }
    }
    Ok(conflicts)
}

/// Every encounter of the team document.
pub(crate) fn read_encounters<D: ReadDoc>(doc: &D) -> Result<BTreeMap<Uuid, Encounter>, DocError> {
    let encounters = values::req_map(doc, &ROOT, ENCOUNTERS)?;
    let mut out = BTreeMap::new();
    for key in doc.keys(&encounters) {
        let id = Uuid::parse_str(&key).map_err(|_| DocError::BadKey(key.clone()))?;
        let obj = values::req_map(doc, &encounters, &key)?;
        out.insert(id, read_encounter_at(doc, id, &obj)?);
    }
    Ok(out)
}

fn encounter_obj<D: ReadDoc>(doc: &D, id: Uuid) -> Result<ObjId, DocError> {
    let encounters = values::req_map(doc, &ROOT, ENCOUNTERS)?;
    match doc.get(&encounters, id.to_string().as_str())? {
        Some((Value::Object(ObjType::Map), obj)) => Ok(obj),
        Some(_) => Err(DocError::WrongType {
            key: id.to_string(),
            expected: "map",
        }),
        None => Err(DocError::NoSuchEncounter(id)),
    }
}

fn read_encounter_at<D: ReadDoc>(doc: &D, id: Uuid, obj: &ObjId) -> Result<Encounter, DocError> {
    // The map key is authoritative; a stored `id` must agree with it.
    if let Some(stored) = opt(doc, obj, "id", values::as_uuid)?
        && stored != id
    {
        return Err(DocError::BadKey("id".to_owned()));
    }
    let mut encounter = Encounter {
        id,
        recorded_at: req(doc, obj, "recordedAt", values::as_timestamp)?,
        space_type: req(doc, obj, "spaceType", |v, i, k| {
            values::code(v, i, k, SpaceType::from_code)
        })?,
        place_detail: String::new(),
        installation: req(doc, obj, "installation", |v, i, k| {
            values::code(v, i, k, Installation::from_code)
        })?,
        situation: req(doc, obj, "situation", |v, i, k| {
            values::code(v, i, k, Situation::from_code)
        })?,
        counts: PeopleCounts::default(),
        interview: req(doc, obj, "interview", |v, i, k| {
            values::code(v, i, k, InterviewStatus::from_code)
        })?,
        observed_sex: None,
        age_band: None,
        alerts: Alerts::default(),
        position: None,
        distinctive_signs: None,
        questionnaire_version: None,
        answers: BTreeMap::new(),
        source_device: req(doc, obj, "sourceDevice", values::as_str)?,
        withdrawn: false,
    };
    for key in doc.keys(obj) {
        if let Some((value, vid)) = doc.get(obj, key.as_str())?
            && let Some(edit) = decode_field(doc, &key, &value, &vid)?
        {
            encounter.apply(edit);
        }
    }
    if let Some(answers) = opt(doc, obj, ANSWERS, values::as_map)? {
        for question_id in doc.keys(&answers) {
            let answer: Answer = req(doc, &answers, &question_id, values::json)?;
            encounter.answers.insert(question_id, answer);
        }
    }
    Ok(encounter)
}

/// Decodes the value of one editable field; `None` for keys that are not editable fields
/// (`id`, `recordedAt`, `sourceDevice`, `answers`, keys from a later minor version).
fn decode_field<D: ReadDoc>(
    doc: &D,
    key: &str,
    v: &Value<'_>,
    id: &ObjId,
) -> Result<Option<EncounterEdit>, DocError> {
    use EncounterEdit as E;
    Ok(Some(match key {
        "spaceType" => E::SpaceType(values::code(v, id, key, SpaceType::from_code)?),
        "placeDetail" => E::PlaceDetail(values::as_str(v, id, key)?),
        "installation" => E::Installation(values::code(v, id, key, Installation::from_code)?),
        "situation" => E::Situation(values::code(v, id, key, Situation::from_code)?),
        "men" => E::Men(values::as_u32(v, id, key)?),
        "women" => E::Women(values::as_u32(v, id, key)?),
        "unknownSex" => E::UnknownSex(values::as_u32(v, id, key)?),
        "children" => E::Children(values::as_u32(v, id, key)?),
        "pregnantWomen" => E::PregnantWomen(values::as_u32(v, id, key)?),
        "interview" => E::Interview(values::code(v, id, key, InterviewStatus::from_code)?),
        "observedSex" => E::ObservedSex(Some(values::code(v, id, key, ObservedSex::from_code)?)),
        "ageBand" => E::AgeBand(Some(values::code(v, id, key, AgeBand::from_code)?)),
        "alertVulnerableWoman" => E::AlertVulnerableWoman(values::as_bool(v, id, key)?),
        "alertMinor" => E::AlertMinor(values::as_bool(v, id, key)?),
        "alertHealth" => E::AlertHealth(values::as_bool(v, id, key)?),
        "position" => {
            let pos = values::as_map(v, id, key)?;
            E::Position(Some(Position {
                lat: req(doc, &pos, "lat", values::as_f64)?,
                lon: req(doc, &pos, "lon", values::as_f64)?,
            }))
        }
        "distinctiveSigns" => E::DistinctiveSigns(Some(values::as_str(v, id, key)?)),
        "questionnaireVersion" => E::QuestionnaireVersion(Some(values::as_u32(v, id, key)?)),
        "withdrawn" => E::Withdrawn(values::as_bool(v, id, key)?),
        _ => return Ok(None),
    }))
}

/// The edits that write every editable field of `e` (used when recording it).
fn edits_of(e: &Encounter) -> Vec<EncounterEdit> {
    use EncounterEdit as E;
    let mut edits = vec![
        E::SpaceType(e.space_type),
        E::PlaceDetail(e.place_detail.clone()),
        E::Installation(e.installation),
        E::Situation(e.situation),
        E::Men(e.counts.men),
        E::Women(e.counts.women),
        E::UnknownSex(e.counts.unknown_sex),
        E::Children(e.counts.children),
        E::PregnantWomen(e.counts.pregnant_women),
        E::Interview(e.interview),
        E::AlertVulnerableWoman(e.alerts.vulnerable_woman),
        E::AlertMinor(e.alerts.minor),
        E::AlertHealth(e.alerts.health),
        E::Withdrawn(e.withdrawn),
    ];
    // Absent optional fields are simply not written.
    if e.observed_sex.is_some() {
        edits.push(E::ObservedSex(e.observed_sex));
    }
    if e.age_band.is_some() {
        edits.push(E::AgeBand(e.age_band));
    }
    if e.position.is_some() {
        edits.push(E::Position(e.position));
    }
    if e.distinctive_signs.is_some() {
        edits.push(E::DistinctiveSigns(e.distinctive_signs.clone()));
    }
    if e.questionnaire_version.is_some() {
        edits.push(E::QuestionnaireVersion(e.questionnaire_version));
    }
    for (question_id, answer) in &e.answers {
        edits.push(E::Answer {
            question_id: question_id.clone(),
            answer: Some(answer.clone()),
        });
    }
    edits
}

fn put_edit<T: Transactable>(
    doc: &mut T,
    obj: &ObjId,
    edit: &EncounterEdit,
) -> Result<(), DocError> {
    use EncounterEdit as E;
    let Some(key) = edit.key() else {
        let E::Answer {
            question_id,
            answer,
        } = edit
        else {
            return Err(DocError::Invalid("edit without a key"));
        };
        let answers = match doc.get(obj, ANSWERS)? {
            Some((Value::Object(ObjType::Map), answers)) => answers,
            Some(_) => {
                return Err(DocError::WrongType {
                    key: ANSWERS.to_owned(),
                    expected: "map",
                });
            }
            // Only documents written elsewhere lack it (see `record_encounter`).
            None => doc.put_object(obj, ANSWERS, ObjType::Map)?,
        };
        // One JSON scalar per answer: a concurrent edit replaces the whole answer, never
        // a mix of the kind of one and the value of the other.
        return match answer {
            Some(a) => values::put_str(doc, &answers, question_id, &values::to_json(a)?),
            None => values::delete(doc, &answers, question_id),
        };
    };
    match edit {
        E::SpaceType(v) => values::put_str(doc, obj, key, v.code()),
        E::PlaceDetail(v) => values::put_str(doc, obj, key, v),
        E::Installation(v) => values::put_str(doc, obj, key, v.code()),
        E::Situation(v) => values::put_str(doc, obj, key, v.code()),
        E::Men(n) | E::Women(n) | E::UnknownSex(n) | E::Children(n) | E::PregnantWomen(n) => {
            values::put_uint(doc, obj, key, u64::from(*n))
        }
        E::Interview(v) => values::put_str(doc, obj, key, v.code()),
        E::ObservedSex(v) => match v {
            Some(v) => values::put_str(doc, obj, key, v.code()),
            None => values::delete(doc, obj, key),
        },
        E::AgeBand(v) => match v {
            Some(v) => values::put_str(doc, obj, key, v.code()),
            None => values::delete(doc, obj, key),
        },
        E::AlertVulnerableWoman(b) | E::AlertMinor(b) | E::AlertHealth(b) | E::Withdrawn(b) => {
            values::put_bool(doc, obj, key, *b)
        }
        E::Position(p) => match p {
            Some(p) => {
                if !(p.lat.is_finite() && p.lon.is_finite()) {
                    return Err(DocError::Invalid("position is not finite"));
                }
                // A fresh map per position: concurrent moves resolve to one whole position.
                let pos = doc.put_object(obj, key, ObjType::Map)?;
                doc.put(&pos, "lat", p.lat)?;
                doc.put(&pos, "lon", p.lon)?;
                Ok(())
            }
            None => values::delete(doc, obj, key),
        },
        E::DistinctiveSigns(v) => match v {
            Some(v) => values::put_str(doc, obj, key, v),
            None => values::delete(doc, obj, key),
        },
        E::QuestionnaireVersion(v) => match v {
            Some(v) => values::put_uint(doc, obj, key, u64::from(*v)),
            None => values::delete(doc, obj, key),
        },
        E::Answer { .. } => Err(DocError::Invalid("answer edit has no field key")),
    }
}

/// The writers' operations, for any transaction (an `AutoCommit` or an `automerge`
/// `Transaction` such as the sync driver's); the caller commits.
pub(super) mod tx {
    use super::*;

    pub fn record_encounter<T: Transactable>(
        doc: &mut T,
        encounter: &Encounter,
    ) -> Result<(), DocError> {
        check_header(doc, DocKind::Team)?;
        let encounters = values::req_map(doc, &ROOT, ENCOUNTERS)?;
        let key = encounter.id.to_string();
        if doc.get(&encounters, key.as_str())?.is_some() {
            return Err(DocError::EncounterExists(encounter.id));
        }
        let obj = doc.put_object(&encounters, key.as_str(), ObjType::Map)?;
        values::put_str(doc, &obj, "id", &key)?;
        values::put_timestamp(doc, &obj, "recordedAt", encounter.recorded_at)?;
        values::put_str(doc, &obj, "sourceDevice", &encounter.source_device)?;
        // The answers map is always created with the encounter: if two devices created it
        // lazily and concurrently, one of the two maps (with its answers) would lose the
        // conflict.
        doc.put_object(&obj, ANSWERS, ObjType::Map)?;
        for edit in edits_of(encounter) {
            put_edit(doc, &obj, &edit)?;
        }
        Ok(())
    }

    pub fn edit_encounter<T: Transactable>(
        doc: &mut T,
        id: Uuid,
        edit: &EncounterEdit,
    ) -> Result<(), DocError> {
        check_header(doc, DocKind::Team)?;
        let obj = encounter_obj(doc, id)?;
        put_edit(doc, &obj, edit)
    }

    pub fn purge_distinctive_signs<T: Transactable>(doc: &mut T) -> Result<usize, DocError> {
        check_header(doc, DocKind::Team)?;
        let encounters = values::req_map(doc, &ROOT, ENCOUNTERS)?;
        let ids: Vec<String> = doc.keys(&encounters).collect();
        let mut purged = 0;
        for key in ids {
            let obj = values::req_map(doc, &encounters, &key)?;
            if doc.get(&obj, "distinctiveSigns")?.is_some() {
                doc.delete(&obj, "distinctiveSigns")?;
                purged += 1;
            }
        }
        Ok(purged)
    }
}
