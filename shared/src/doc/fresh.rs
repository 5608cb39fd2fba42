//! A fresh history: a new Automerge document holding only another one's current state.
//!
//! Automerge keeps every value ever written in its change history, so a value deleted from
//! the current state (e.g. purged distinctive signs) stays readable in the saved bytes. Copying
//! the current state into a new document, in one change by a new actor, leaves the old
//! history behind. The copy is generic (every map, list, text, counter and scalar, including
//! keys this build does not know), so that readers see the same document; what is lost is the
//! history itself: concurrent values of a key (Automerge conflicts) keep only the one readers
//! see, and text marks are not copied.

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use super::DocError;
use crate::model::Millis;

/// The message of the one change of a fresh history.
pub const FRESH_HISTORY_MESSAGE: &str = "fresh history (old history erased)";

/// A new document, written by `actor` at `now` in one change, whose current state is the
/// current state of `source`.
pub fn fresh_history(
    source: &Automerge,
    actor: ActorId,
    now: Millis,
) -> Result<Automerge, DocError> {
    let mut fresh = Automerge::new().with_actor(actor);
    fresh
        .transact_with::<_, _, DocError, _>(
            |_| super::commit_options(FRESH_HISTORY_MESSAGE, now),
            |tx| copy_map(source, &ROOT, tx, &ROOT),
        )
        .map_err(|failure| failure.error)?;
    Ok(fresh)
}

fn copy_map<T: Transactable>(
    source: &Automerge,
    from: &ObjId,
    tx: &mut T,
    to: &ObjId,
) -> Result<(), DocError> {
    for key in source.keys(from) {
        let Some((value, id)) = source.get(from, key.as_str())? else {
            continue;
        };
        match value {
            Value::Scalar(scalar) => tx.put(to, key.as_str(), scalar_copy(&scalar))?,
            Value::Object(kind) => {
                let child = tx.put_object(to, key.as_str(), kind)?;
                copy_object(source, &id, kind, tx, &child)?;
            }
        }
    }
    Ok(())
}

fn copy_list<T: Transactable>(
    source: &Automerge,
    from: &ObjId,
    tx: &mut T,
    to: &ObjId,
) -> Result<(), DocError> {
    for index in 0..source.length(from) {
        let Some((value, id)) = source.get(from, index)? else {
            continue;
        };
        let at = tx.length(to);
        match value {
            Value::Scalar(scalar) => tx.insert(to, at, scalar_copy(&scalar))?,
            Value::Object(kind) => {
                let child = tx.insert_object(to, at, kind)?;
                copy_object(source, &id, kind, tx, &child)?;
            }
        }
    }
    Ok(())
}

fn copy_object<T: Transactable>(
    source: &Automerge,
    from: &ObjId,
    kind: ObjType,
    tx: &mut T,
    to: &ObjId,
) -> Result<(), DocError> {
    match kind {
        ObjType::Map | ObjType::Table => copy_map(source, from, tx, to),
        ObjType::List => copy_list(source, from, tx, to),
        ObjType::Text => {
            let text = source.text(from)?;
            tx.splice_text(to, 0, 0, &text)?;
            Ok(())
        }
    }
}

/// A counter is copied as a counter holding its current total (its increments are history).
fn scalar_copy(value: &ScalarValue) -> ScalarValue {
    match value {
        ScalarValue::Counter(counter) => ScalarValue::counter(i64::from(counter)),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use automerge::{AutoCommit, ObjType};

    use super::*;

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_fresh_history_has_the_same_state_and_none_of_the_deleted_values() {
        const MARKER: &str = "marqueur-efface-7f3a";
        let mut old = AutoCommit::new().with_actor(ActorId::from(b"device-a".as_slice()));
        let map = old.put_object(ROOT, "encounters", ObjType::Map).unwrap();
        let enc = old.put_object(&map, "e1", ObjType::Map).unwrap();
        old.put(&enc, "distinctiveSigns", MARKER).unwrap();
        old.put(&enc, "men", 2_i64).unwrap();
        old.put(&enc, "seen", true).unwrap();
        old.put(&enc, "at", ScalarValue::Timestamp(1_700_000_000_000))
            .unwrap();
        old.put(&enc, "unknownFutureField", ScalarValue::Uint(7))
            .unwrap();
        old.put(&enc, "bytes", ScalarValue::Bytes(vec![1, 2, 3]))
            .unwrap();
        old.put(&enc, "nothing", ScalarValue::Null).unwrap();
        old.put(&enc, "ratio", 0.5_f64).unwrap();
        let list = old.put_object(&enc, "answers", ObjType::List).unwrap();
        old.insert(&list, 0, "a").unwrap();
        let nested = old.insert_object(&list, 1, ObjType::Map).unwrap();
        old.put(&nested, "k", "v").unwrap();
        old.insert(&list, 2, "c").unwrap();
        old.delete(&list, 0).unwrap();
        let note = old.put_object(&enc, "note", ObjType::Text).unwrap();
        old.splice_text(&note, 0, 0, "bonjour tout le monde")
            .unwrap();
        old.splice_text(&note, 8, 5, "").unwrap();
        old.put(ROOT, "tally", ScalarValue::counter(3)).unwrap();
        old.commit();
        old.increment(ROOT, "tally", 4).unwrap();
        old.delete(&enc, "distinctiveSigns").unwrap();
        old.commit();
        let old = old.document().clone();
        assert!(contains(&old.save_nocompress(), MARKER.as_bytes()));

        let fresh =
            fresh_history(&old, ActorId::from(b"server".as_slice()), 1_700_000_000_000).unwrap();

        let state =
            |doc: &Automerge| serde_json::to_value(automerge::AutoSerde::from(doc)).unwrap();
        assert_eq!(state(&fresh), state(&old));
        assert_eq!(
            state(&fresh)["encounters"]["e1"]["note"],
            "bonjour le monde"
        );
        assert!(!contains(&fresh.save_nocompress(), MARKER.as_bytes()));
        assert_eq!(fresh.get_changes(&[]).len(), 1);
        let reloaded = Automerge::load(&fresh.save()).unwrap();
        assert_eq!(
            reloaded.get(ROOT, "tally").unwrap().map(|(v, _)| v),
            Some(Value::Scalar(std::borrow::Cow::Owned(
                ScalarValue::counter(7)
            )))
        );
        // A counter stays a counter: it can still be incremented.
        let mut more = AutoCommit::load(&fresh.save()).unwrap();
        more.increment(ROOT, "tally", 1).unwrap();
    }
}
