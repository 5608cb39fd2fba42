//! The seam where the API creates Automerge documents for a new night and its teams.
//!
//! Placeholder until the shared document model lands: a root map with `schema`, `kind`, the
//! ids and the creation time, nothing else. At merge time these two functions become calls to
//! the shared model's init functions and the bytes go to the shared chunk store instead of
//! `server_documents`; nothing else in the server builds documents.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, AutomergeError, ROOT, ScalarValue};
use carnet_shared::ids::DocumentId;
use uuid::Uuid;

/// Version of the placeholder document layout.
pub const SCHEMA_VERSION: i64 = 1;

/// The saved initial state of a night document. `actor` is the server's actor for this
/// document (random, passed in); `now_ms` is unix milliseconds.
pub fn new_night_document(
    actor: [u8; 16],
    night_id: Uuid,
    document_id: DocumentId,
    name: &str,
    now_ms: i64,
) -> Result<Vec<u8>, AutomergeError> {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(actor));
    put_header(&mut doc, "night", document_id, now_ms)?;
    doc.put(ROOT, "night_id", night_id.to_string())?;
    doc.put(ROOT, "name", name)?;
    Ok(finish(doc, now_ms))
}

/// The saved initial state of a team document.
pub fn new_team_document(
    actor: [u8; 16],
    night_id: Uuid,
    team_id: Uuid,
    document_id: DocumentId,
    name: &str,
    now_ms: i64,
) -> Result<Vec<u8>, AutomergeError> {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(actor));
    put_header(&mut doc, "team", document_id, now_ms)?;
    doc.put(ROOT, "night_id", night_id.to_string())?;
    doc.put(ROOT, "team_id", team_id.to_string())?;
    doc.put(ROOT, "name", name)?;
    Ok(finish(doc, now_ms))
}

fn put_header(
    doc: &mut AutoCommit,
    kind: &str,
    document_id: DocumentId,
    now_ms: i64,
) -> Result<(), AutomergeError> {
    // `&str` values are Automerge scalar strings, never collaborative Text (DESIGN §3).
    doc.put(ROOT, "schema", SCHEMA_VERSION)?;
    doc.put(ROOT, "kind", kind)?;
    doc.put(ROOT, "document_id", document_id.to_bs58check())?;
    doc.put(ROOT, "created_at", ScalarValue::Timestamp(now_ms))?;
    Ok(())
}

fn finish(mut doc: AutoCommit, now_ms: i64) -> Vec<u8> {
    // Change times are seconds in Automerge.
    doc.commit_with(CommitOptions::default().with_time(now_ms / 1000));
    doc.save()
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{ReadDoc, Value};

    #[test]
    fn team_document_carries_schema_kind_and_ids() {
        let doc_id = DocumentId::from_bytes([9; 16]);
        let night = Uuid::from_bytes([1; 16]);
        let team = Uuid::from_bytes([2; 16]);
        let bytes = new_team_document([3; 16], night, team, doc_id, "Équipe 12", 1_700_000_000_000)
            .unwrap();
        let doc = AutoCommit::load(&bytes).unwrap();
        let get = |key: &str| match doc.get(ROOT, key).unwrap() {
            Some((Value::Scalar(s), _)) => s.into_owned(),
            other => panic!("{key}: {other:?}"),
        };
        assert_eq!(get("schema"), ScalarValue::Int(SCHEMA_VERSION));
        assert_eq!(get("kind"), ScalarValue::Str("team".into()));
        assert_eq!(get("team_id"), ScalarValue::Str(team.to_string().into()));
        assert_eq!(
            get("document_id"),
            ScalarValue::Str(doc_id.to_bs58check().into())
        );
        assert_eq!(get("created_at"), ScalarValue::Timestamp(1_700_000_000_000));
    }

    #[test]
    fn night_document_is_one_small_change() {
        let bytes = new_night_document(
            [4; 16],
            Uuid::from_bytes([5; 16]),
            DocumentId::from_bytes([6; 16]),
            "Nuit 2026",
            0,
        )
        .unwrap();
        let mut doc = AutoCommit::load(&bytes).unwrap();
        assert_eq!(doc.get_changes(&[]).len(), 1);
    }
}
