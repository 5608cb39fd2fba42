//! The documents of the benchmark: team documents as the app writes them, through the shared
//! document model (one change per write), and the coordinator's count of what it received.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use automerge::{ActorId, AutoCommit, Automerge, ROOT, ReadDoc, Value};
use carnet_shared::doc::{create_team, load_doc, read_encounter, record_encounter};
use carnet_shared::model::{
    AgeBand, Alerts, Answer, Encounter, Installation, InterviewStatus, Millis, ObservedSex,
    PeopleCounts, Position, SectorId, Situation, SpaceType, TeamHeader, TeamId,
};
use uuid::Uuid;

/// A team document as a night's set-up makes it (header and tally counters, a few changes).
/// Used for the Node server, which cannot create documents itself; our server makes its own.
pub fn team_skeleton(
    actor: ActorId,
    night_id: Uuid,
    team_no: usize,
    now: Millis,
) -> anyhow::Result<AutoCommit> {
    let mut doc = carnet_shared::doc::new_doc(actor);
    let header = TeamHeader {
        team_id: TeamId(format!("team-{team_no}")),
        night_id,
        name: format!("Équipe {team_no}"),
        sectors: BTreeSet::from([SectorId(format!("sector-{team_no}"))]),
    };
    create_team(&mut doc, &header, now).context("creating a team document")?;
    Ok(doc)
}

/// The `n` encounters a team records during its round, each in its own change, written with
/// `actor` on top of `saved` (the team document as the device last synced it). Returns the
/// document as the engine holds it.
pub fn record_round(
    saved: &[u8],
    actor: ActorId,
    device: &str,
    n: usize,
    start: Millis,
    ids: &mut impl FnMut() -> Uuid,
) -> anyhow::Result<Automerge> {
    let mut doc = load_doc(saved, actor.clone()).context("loading the team document")?;
    for i in 0..n {
        let at = start + i64::try_from(i)? * 60_000;
        record_encounter(&mut doc, &encounter(ids(), i, device, at), at)
            .context("recording an encounter")?;
    }
    Ok(Automerge::load(&doc.save())
        .context("reloading the team document")?
        .with_actor(actor))
}

/// A plausible encounter; fields vary with `i` so that documents are not all alike.
fn encounter(id: Uuid, i: usize, device: &str, at: Millis) -> Encounter {
    let pick = |len: usize| i % len;
    let accepted = i.is_multiple_of(3);
    let mut answers = BTreeMap::new();
    if accepted {
        answers.insert("q-age".to_owned(), Answer::Number(25 + (i % 40) as i64));
        answers.insert("q-first-time".to_owned(), Answer::Choice("no".to_owned()));
        answers.insert("q-nights".to_owned(), Answer::DoesNotKnow);
    }
    Encounter {
        id,
        recorded_at: at,
        space_type: SpaceType::ALL[pick(SpaceType::ALL.len())],
        place_detail: format!("rue de la Roquette, n° {}", 10 + i),
        installation: Installation::ALL[pick(Installation::ALL.len())],
        situation: Situation::ALL[pick(Situation::ALL.len())],
        counts: PeopleCounts {
            men: 1 + (i % 2) as u32,
            women: (i % 3 == 1) as u32,
            unknown_sex: 0,
            children: 0,
            pregnant_women: 0,
        },
        interview: if accepted {
            InterviewStatus::Accepted
        } else {
            InterviewStatus::Asleep
        },
        observed_sex: (!accepted).then_some(ObservedSex::Male),
        age_band: (!accepted).then_some(AgeBand::From35To44),
        alerts: Alerts::default(),
        position: Some(Position {
            lat: 48.85 + (i as f64) * 1e-4,
            lon: 2.37 + (i as f64) * 1e-4,
        }),
        distinctive_signs: None,
        questionnaire_version: accepted.then_some(1),
        answers,
        source_device: device.to_owned(),
        withdrawn: false,
    }
}

/// Encounters of a team document that read back whole through the shared model.
pub fn count_encounters(doc: &Automerge) -> usize {
    let Ok(Some((Value::Object(_), encounters))) = doc.get(ROOT, "encounters") else {
        return 0;
    };
    doc.keys(&encounters)
        .filter_map(|key| Uuid::parse_str(&key).ok())
        .filter(|id| read_encounter(doc, *id).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(n: u8) -> ActorId {
        ActorId::from([n; 16].as_slice())
    }

    #[test]
    fn a_round_is_one_change_per_encounter_and_reads_back() {
        let night = Uuid::from_bytes([7; 16]);
        let mut skeleton = team_skeleton(actor(1), night, 3, 1_700_000_000_000).unwrap();
        let skeleton_changes = skeleton.get_changes(&[]).len();
        let mut counter = 0u128;
        let mut ids = || {
            counter += 1;
            Uuid::from_u128(counter)
        };
        let doc = record_round(
            &skeleton.save(),
            actor(2),
            "device-3",
            20,
            1_700_000_000_000,
            &mut ids,
        )
        .unwrap();
        assert_eq!(doc.get_changes(&[]).len(), skeleton_changes + 20);
        assert_eq!(count_encounters(&doc), 20);
        assert_eq!(
            count_encounters(&Automerge::load(&skeleton.save()).unwrap()),
            0
        );
    }

    #[test]
    fn a_document_without_encounters_counts_zero() {
        assert_eq!(count_encounters(&Automerge::new()), 0);
    }
}
