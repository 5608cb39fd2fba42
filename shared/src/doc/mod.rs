//! Mapping of the model to Automerge documents `night`, `team` and `review` (DESIGN §3).
//!
//! Rules applied throughout:
//! - every document has a `schema` integer and a `kind` string at its root; a reader refuses a
//!   newer schema ([`DocError::UnsupportedSchema`]) or another kind ([`DocError::WrongKind`]);
//! - strings are scalar strings (never Text), times are Automerge timestamps (ms since epoch),
//!   small counts are unsigned integers;
//! - every writer ends with its own commit (message and time passed in), so that documents grow
//!   by small changes rather than one huge seed change;
//! - values that must change atomically (a position, a coverage report, a sector, a
//!   questionnaire answer) are written as one scalar or one freshly created map, so that two
//!   concurrent writes resolve to one whole winner instead of a mix of both;
//! - readers are generic over [`automerge::ReadDoc`], tolerant of missing optional keys and
//!   strict about types.

mod encounter;
mod fresh;
mod night;
mod review;
mod team;
pub(crate) mod values;

#[cfg(test)]
mod merge_tests;
#[cfg(test)]
mod round_trip_tests;

use automerge::{ActorId, AutoCommit, ROOT, ReadDoc};
use uuid::Uuid;

pub use encounter::{
    FieldConflict, edit_encounter, encounter_conflicts, purge_distinctive_signs, read_encounter,
    record_encounter,
};
pub use fresh::{FRESH_HISTORY_MESSAGE, fresh_history};
pub use night::{
    create_night, put_sector, put_team_ref, read_night, remove_sector, set_questionnaire,
    write_night,
};
pub use review::{
    add_correction, create_review, decide_duplicate, put_partner_entry, read_partner_entries,
    read_review, resolve_conflict,
};
pub use team::{
    add_to_tally, check_in, check_out, create_team, mark_coverage, read_team, set_team_sectors,
};

/// The writers' operations without the commit, generic over
/// [`Transactable`](automerge::transaction::Transactable): for a caller that owns the
/// transaction, such as `net::ClientHandle::change_with`. Commit with the writer's message
/// ([`messages`]) and [`commit_options`] so that the change looks the same as the `AutoCommit`
/// writer's:
///
/// ```ignore
/// client.change_with(team, doc::commit_options(doc::messages::RECORD_ENCOUNTER, now), |tx| {
///     doc::tx::record_encounter(tx, &encounter)
/// })
/// ```
pub mod tx {
    pub use super::encounter::tx::*;
    pub use super::night::tx::*;
    pub use super::review::tx::*;
    pub use super::team::tx::*;
}

/// The fixed change message of each writer (never any data in them).
pub mod messages {
    pub const CREATE_NIGHT: &str = "create night";
    pub const PUT_SECTOR: &str = "put sector";
    pub const SET_QUESTIONNAIRE: &str = "set questionnaire";
    pub const PUT_TEAM: &str = "put team";
    pub const CREATE_TEAM: &str = "create team";
    pub const CREATE_TALLIES: &str = "create tallies";
    pub const TALLY: &str = "tally";
    pub const CHECK_IN: &str = "check in";
    pub const CHECK_OUT: &str = "check out";
    pub const MARK_COVERAGE: &str = "mark coverage";
    pub const RECORD_ENCOUNTER: &str = "record encounter";
    pub const EDIT_ENCOUNTER: &str = "edit encounter";
    pub const PURGE_DISTINCTIVE_SIGNS: &str = "purge distinctive signs";
    pub const CREATE_REVIEW: &str = "create review";
    pub const DECIDE_DUPLICATE: &str = "decide duplicate";
    pub const ADD_CORRECTION: &str = "add correction";
    pub const RESOLVE_CONFLICT: &str = "resolve conflict";
}

/// The schema version this code writes and the newest it reads.
pub const SCHEMA_VERSION: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("the document has no schema version")]
    MissingSchema,
    #[error("document schema {found} is not supported (this build reads up to {supported})")]
    UnsupportedSchema { found: u64, supported: u64 },
    #[error("not a {expected} document")]
    WrongKind { expected: &'static str },
    #[error("the document is already initialised")]
    AlreadyInitialised,
    #[error("missing key `{0}`")]
    MissingKey(String),
    #[error("key `{key}` holds a value of the wrong type (expected {expected})")]
    WrongType { key: String, expected: &'static str },
    #[error("key `{0}` holds an unknown code")]
    UnknownCode(String),
    #[error("key `{0}` is not a valid id or tally key")]
    BadKey(String),
    #[error("stored JSON under `{0}` does not parse")]
    BadJson(String),
    #[error("no encounter {0}")]
    NoSuchEncounter(Uuid),
    #[error("encounter {0} already exists")]
    EncounterExists(Uuid),
    #[error("no round {0}")]
    NoSuchRound(Uuid),
    #[error("invalid value: {0}")]
    Invalid(&'static str),
}

/// The kinds of documents this module maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Night,
    Team,
    Review,
}

impl DocKind {
    pub const fn code(self) -> &'static str {
        match self {
            DocKind::Night => "night",
            DocKind::Team => "team",
            DocKind::Review => "review",
        }
    }
}

/// A new, empty document written by `actor` (one actor per device and document).
pub fn new_doc(actor: ActorId) -> AutoCommit {
    AutoCommit::new().with_actor(actor)
}

/// Loads a saved document and sets this device's actor on it.
pub fn load_doc(bytes: &[u8], actor: ActorId) -> Result<AutoCommit, DocError> {
    Ok(AutoCommit::load(bytes)?.with_actor(actor))
}

/// The kind of a document, after checking that its schema is one this build reads.
pub fn document_kind<D: ReadDoc>(doc: &D) -> Result<DocKind, DocError> {
    check_schema(doc)?;
    let kind = values::req(doc, &ROOT, "kind", values::as_str)?;
    [DocKind::Night, DocKind::Team, DocKind::Review]
        .into_iter()
        .find(|k| k.code() == kind)
        .ok_or(DocError::UnknownCode("kind".to_owned()))
}

fn check_schema<D: ReadDoc>(doc: &D) -> Result<(), DocError> {
    let found =
        values::opt(doc, &ROOT, "schema", values::as_u64)?.ok_or(DocError::MissingSchema)?;
    if found == 0 || found > SCHEMA_VERSION {
        return Err(DocError::UnsupportedSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Checks schema and kind before reading or writing.
fn check_header<D: ReadDoc>(doc: &D, expected: DocKind) -> Result<(), DocError> {
    if document_kind(doc)? != expected {
        return Err(DocError::WrongKind {
            expected: expected.code(),
        });
    }
    Ok(())
}

/// Writes `schema` and `kind` into an empty document.
fn init_header<T: automerge::transaction::Transactable>(
    doc: &mut T,
    kind: DocKind,
) -> Result<(), DocError> {
    if doc.get(ROOT, "schema")?.is_some() || doc.get(ROOT, "kind")?.is_some() {
        return Err(DocError::AlreadyInitialised);
    }
    doc.put(ROOT, "schema", automerge::ScalarValue::Uint(SCHEMA_VERSION))?;
    values::put_str(doc, &ROOT, "kind", kind.code())?;
    Ok(())
}

/// Runs one writer as one change: commits it if `f` succeeds, rolls it back if `f` fails (so a
/// failed write never leaves half an encounter pending). Operations the caller left pending
/// are committed first, as their own change, so that a rollback never discards them.
fn write<T>(
    doc: &mut AutoCommit,
    message: &'static str,
    now: crate::model::Millis,
    f: impl FnOnce(&mut AutoCommit) -> Result<T, DocError>,
) -> Result<T, DocError> {
    use automerge::transaction::Transactable;
    if doc.pending_ops() > 0 {
        doc.commit();
    }
    let result = f(doc);
    match result {
        Ok(_) => commit(doc, message, now),
        Err(_) => {
            doc.rollback();
        }
    }
    result
}

/// Commits pending operations as one change. Messages are fixed strings: no data in them.
fn commit(doc: &mut AutoCommit, message: &'static str, now: crate::model::Millis) {
    doc.commit_with(commit_options(message, now));
}

/// The commit options of every writer: its fixed message ([`messages`]) and the time `now`
/// (milliseconds, passed in; Automerge change times are in seconds).
pub fn commit_options(
    message: &str,
    now: crate::model::Millis,
) -> automerge::transaction::CommitOptions {
    automerge::transaction::CommitOptions::default()
        .with_message(message.to_owned())
        .with_time(now.div_euclid(1000))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;

    #[test]
    fn newer_schema_is_refused() {
        let mut doc = new_doc(ActorId::from(vec![1u8; 16]));
        doc.put(
            ROOT,
            "schema",
            automerge::ScalarValue::Uint(SCHEMA_VERSION + 1),
        )
        .unwrap();
        doc.put(ROOT, "kind", "team").unwrap();
        assert!(matches!(
            read_team(&doc),
            Err(DocError::UnsupportedSchema {
                found: 2,
                supported: 1
            })
        ));
        let empty = new_doc(ActorId::from(vec![2u8; 16]));
        assert!(matches!(read_team(&empty), Err(DocError::MissingSchema)));
    }

    #[test]
    fn schema_of_the_wrong_type_is_refused() {
        let mut doc = new_doc(ActorId::from(vec![1u8; 16]));
        doc.put(ROOT, "schema", "1").unwrap();
        assert!(matches!(read_night(&doc), Err(DocError::WrongType { .. })));
    }

    #[test]
    fn reading_a_team_document_as_a_night_is_refused() {
        let mut doc = new_doc(ActorId::from(vec![1u8; 16]));
        create_review(&mut doc, Uuid::from_u128(1), 0).unwrap();
        assert_eq!(document_kind(&doc).unwrap(), DocKind::Review);
        assert!(matches!(
            read_night(&doc),
            Err(DocError::WrongKind { expected: "night" })
        ));
    }
}
