//! The `review` document, per night, written by coordinators only — kept apart from the team
//! documents so coordinators never write the keys teams write.
//!
//! Root keys: `schema`, `kind` = "review", `nightId`, `duplicates` (pair key -> map),
//! `corrections` (uuid -> map), `resolutions` (`<encounter>/<field>` -> map), `partners`
//! (uuid -> JSON scalar of a [`PartnerEntry`]; absent from review documents made before it
//! existed, and then created by the first entry). Each entry is a fresh map or one scalar
//! written whole; edits are stored as JSON scalars so they change atomically.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};
use uuid::Uuid;

use super::values::{self, req};
use super::{DocError, DocKind, check_header, init_header, messages, write};
use crate::model::{
    ConflictResolution, Correction, DuplicateDecision, DuplicateVerdict, EncounterEdit, Millis,
    PartnerEntry, Review, TeamId,
};

const PARTNERS: &str = "partners";

pub fn create_review(doc: &mut AutoCommit, night_id: Uuid, now: Millis) -> Result<(), DocError> {
    write(doc, messages::CREATE_REVIEW, now, |doc| {
        tx::create_review(doc, night_id)
    })
}

/// Records (or replaces) the decision on a pair of encounters, whatever the order of the pair.
pub fn decide_duplicate(
    doc: &mut AutoCommit,
    decision: &DuplicateDecision,
    now: Millis,
) -> Result<(), DocError> {
    write(doc, messages::DECIDE_DUPLICATE, now, |doc| {
        tx::decide_duplicate(doc, decision)
    })
}

pub fn add_correction(
    doc: &mut AutoCommit,
    correction: &Correction,
    now: Millis,
) -> Result<(), DocError> {
    write(doc, messages::ADD_CORRECTION, now, |doc| {
        tx::add_correction(doc, correction)
    })
}

/// Records the value chosen for a conflicted field (one resolution per encounter field).
pub fn resolve_conflict(
    doc: &mut AutoCommit,
    resolution: &ConflictResolution,
    now: Millis,
) -> Result<(), DocError> {
    write(doc, messages::RESOLVE_CONFLICT, now, |doc| {
        tx::resolve_conflict(doc, resolution)
    })
}

/// The writers' operations, for any transaction (an `AutoCommit` or an `automerge`
/// `Transaction` such as the sync driver's); the caller commits.
pub(super) mod tx {
    use super::*;

    pub fn create_review<T: Transactable>(doc: &mut T, night_id: Uuid) -> Result<(), DocError> {
        init_header(doc, DocKind::Review)?;
        values::put_str(doc, &ROOT, "nightId", &night_id.to_string())?;
        for key in ["duplicates", "corrections", "resolutions", PARTNERS] {
            doc.put_object(ROOT, key, ObjType::Map)?;
        }
        Ok(())
    }

    pub fn decide_duplicate<T: Transactable>(
        doc: &mut T,
        decision: &DuplicateDecision,
    ) -> Result<(), DocError> {
        check_header(doc, DocKind::Review)?;
        let map = values::req_map(doc, &ROOT, "duplicates")?;
        let (first, second) = if decision.first <= decision.second {
            (decision.first, decision.second)
        } else {
            (decision.second, decision.first)
        };
        let obj = doc.put_object(&map, decision.key().as_str(), ObjType::Map)?;
        values::put_str(doc, &obj, "first", &first.to_string())?;
        values::put_str(doc, &obj, "second", &second.to_string())?;
        values::put_str(doc, &obj, "verdict", decision.verdict.code())?;
        values::put_str(doc, &obj, "decidedBy", &decision.decided_by)?;
        values::put_timestamp(doc, &obj, "decidedAt", decision.decided_at)?;
        Ok(())
    }

    pub fn add_correction<T: Transactable>(
        doc: &mut T,
        correction: &Correction,
    ) -> Result<(), DocError> {
        check_header(doc, DocKind::Review)?;
        let map = values::req_map(doc, &ROOT, "corrections")?;
        let obj = doc.put_object(&map, correction.id.to_string().as_str(), ObjType::Map)?;
        values::put_str(doc, &obj, "teamId", &correction.team_id.0)?;
        values::put_str(
            doc,
            &obj,
            "encounterId",
            &correction.encounter_id.to_string(),
        )?;
        values::put_str(doc, &obj, "edit", &values::to_json(&correction.edit)?)?;
        values::put_str(doc, &obj, "madeBy", &correction.made_by)?;
        values::put_timestamp(doc, &obj, "madeAt", correction.made_at)?;
        Ok(())
    }

    pub fn resolve_conflict<T: Transactable>(
        doc: &mut T,
        resolution: &ConflictResolution,
    ) -> Result<(), DocError> {
        check_header(doc, DocKind::Review)?;
        let map = values::req_map(doc, &ROOT, "resolutions")?;
        let obj = doc.put_object(&map, resolution.key().as_str(), ObjType::Map)?;
        values::put_str(doc, &obj, "teamId", &resolution.team_id.0)?;
        values::put_str(
            doc,
            &obj,
            "encounterId",
            &resolution.encounter_id.to_string(),
        )?;
        values::put_str(doc, &obj, "chosen", &values::to_json(&resolution.chosen)?)?;
        values::put_str(doc, &obj, "resolvedBy", &resolution.resolved_by)?;
        values::put_timestamp(doc, &obj, "resolvedAt", resolution.resolved_at)?;
        Ok(())
    }
}

/// Records (or replaces, same id) a partner's aggregate entry, validated first.
pub fn put_partner_entry(
    doc: &mut AutoCommit,
    entry: &PartnerEntry,
    now: Millis,
) -> Result<(), DocError> {
    entry
        .validate()
        .map_err(|_| DocError::Invalid("partner entry"))?;
    write(doc, "partner entry", now, |doc| {
        check_header(doc, DocKind::Review)?;
        let map = match values::opt(doc, &ROOT, PARTNERS, values::as_map)? {
            Some(map) => map,
            // Review documents made before partner entries existed.
            None => doc.put_object(ROOT, PARTNERS, ObjType::Map)?,
        };
        values::put_str(doc, &map, &entry.id.to_string(), &values::to_json(entry)?)?;
        Ok(())
    })
}

/// The partners' entries of a review document, by id (none if it predates them).
pub fn read_partner_entries<D: ReadDoc>(doc: &D) -> Result<BTreeMap<Uuid, PartnerEntry>, DocError> {
    check_header(doc, DocKind::Review)?;
    let mut entries = BTreeMap::new();
    let Some(map) = values::opt(doc, &ROOT, PARTNERS, values::as_map)? else {
        return Ok(entries);
    };
    for key in doc.keys(&map) {
        let id = Uuid::parse_str(&key).map_err(|_| DocError::BadKey(key.clone()))?;
        let entry: PartnerEntry = req(doc, &map, &key, values::json)?;
        if entry.id != id {
            return Err(DocError::BadKey(key));
        }
        entries.insert(id, entry);
    }
    Ok(entries)
}

pub fn read_review<D: ReadDoc>(doc: &D) -> Result<Review, DocError> {
    check_header(doc, DocKind::Review)?;
    let night_id = req(doc, &ROOT, "nightId", values::as_uuid)?;

    let mut duplicates = BTreeMap::new();
    let map = values::req_map(doc, &ROOT, "duplicates")?;
    for key in doc.keys(&map) {
        let obj = values::req_map(doc, &map, &key)?;
        let decision = DuplicateDecision {
            first: req(doc, &obj, "first", values::as_uuid)?,
            second: req(doc, &obj, "second", values::as_uuid)?,
            verdict: req(doc, &obj, "verdict", |v, i, k| {
                values::code(v, i, k, DuplicateVerdict::from_code)
            })?,
            decided_by: req(doc, &obj, "decidedBy", values::as_str)?,
            decided_at: req(doc, &obj, "decidedAt", values::as_timestamp)?,
        };
        duplicates.insert(key, decision);
    }

    let mut corrections = BTreeMap::new();
    let map = values::req_map(doc, &ROOT, "corrections")?;
    for key in doc.keys(&map) {
        let id = Uuid::parse_str(&key).map_err(|_| DocError::BadKey(key.clone()))?;
        let obj = values::req_map(doc, &map, &key)?;
        let edit: EncounterEdit = req(doc, &obj, "edit", values::json)?;
        corrections.insert(
            id,
            Correction {
                id,
                team_id: TeamId(req(doc, &obj, "teamId", values::as_str)?),
                encounter_id: req(doc, &obj, "encounterId", values::as_uuid)?,
                edit,
                made_by: req(doc, &obj, "madeBy", values::as_str)?,
                made_at: req(doc, &obj, "madeAt", values::as_timestamp)?,
            },
        );
    }

    let mut resolutions = BTreeMap::new();
    let map = values::req_map(doc, &ROOT, "resolutions")?;
    for key in doc.keys(&map) {
        let obj = values::req_map(doc, &map, &key)?;
        let chosen: EncounterEdit = req(doc, &obj, "chosen", values::json)?;
        resolutions.insert(
            key,
            ConflictResolution {
                team_id: TeamId(req(doc, &obj, "teamId", values::as_str)?),
                encounter_id: req(doc, &obj, "encounterId", values::as_uuid)?,
                chosen,
                resolved_by: req(doc, &obj, "resolvedBy", values::as_str)?,
                resolved_at: req(doc, &obj, "resolvedAt", values::as_timestamp)?,
            },
        );
    }

    Ok(Review {
        night_id,
        duplicates,
        corrections,
        resolutions,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::doc::new_doc;
    use crate::model::{MAX_PARTNER_PERSONS, SpaceType};
    use automerge::ActorId;
    use automerge::transaction::Transactable;

    fn entry(id: u128, men: u32) -> PartnerEntry {
        PartnerEntry {
            id: Uuid::from_u128(id),
            partner: "RATP".into(),
            space_type: SpaceType::MetroRer,
            arrondissement: Some(12),
            men,
            women: 1,
            unknown: 0,
            entered_by: "coordinator-x".into(),
            entered_at: 5,
        }
    }

    #[test]
    fn partner_entries_round_trip_and_replace_by_id() {
        let mut doc = new_doc(ActorId::from(vec![1u8; 16]));
        create_review(&mut doc, Uuid::from_u128(9), 0).unwrap();
        put_partner_entry(&mut doc, &entry(1, 3), 1).unwrap();
        put_partner_entry(&mut doc, &entry(2, 4), 2).unwrap();
        put_partner_entry(&mut doc, &entry(1, 7), 3).unwrap();
        let read = read_partner_entries(&doc).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[&Uuid::from_u128(1)], entry(1, 7));
        assert_eq!(read[&Uuid::from_u128(2)], entry(2, 4));
        // The rest of the review reads as before.
        assert!(read_review(&doc).unwrap().duplicates.is_empty());
    }

    #[test]
    fn partner_entries_in_a_review_made_before_they_existed() {
        let mut doc = new_doc(ActorId::from(vec![1u8; 16]));
        create_review(&mut doc, Uuid::from_u128(9), 0).unwrap();
        doc.delete(automerge::ROOT, PARTNERS).unwrap();
        doc.commit();
        assert!(read_partner_entries(&doc).unwrap().is_empty());
        put_partner_entry(&mut doc, &entry(1, 3), 1).unwrap();
        assert_eq!(read_partner_entries(&doc).unwrap().len(), 1);
    }

    #[test]
    fn invalid_partner_entry_is_refused_and_nothing_is_written() {
        let mut doc = new_doc(ActorId::from(vec![1u8; 16]));
        create_review(&mut doc, Uuid::from_u128(9), 0).unwrap();
        let heads = doc.get_heads();
        let mut bad = entry(1, 3);
        bad.arrondissement = Some(21);
        assert!(put_partner_entry(&mut doc, &bad, 1).is_err());
        let mut blank = entry(3, 1);
        blank.partner = "  ".into();
        assert!(put_partner_entry(&mut doc, &blank, 1).is_err());
        let mut huge = entry(4, MAX_PARTNER_PERSONS + 1);
        huge.partner = "SNCF".into();
        assert!(put_partner_entry(&mut doc, &huge, 1).is_err());
        assert_eq!(doc.get_heads(), heads);
    }
}
