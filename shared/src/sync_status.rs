//! What the server holds of a document, per change and per encounter ("acknowledged means
//! durable", DESIGN §4). Pure: the server's heads are passed in (the client engine learns them
//! from the server's sync messages, which the server only sends once the changes are on disk).
//!
//! A record may be shown as "synced" only when the server's heads cover every change that
//! created or edited it; everything here errs towards "not synced".

use std::collections::BTreeSet;

use automerge::legacy::{Key, ObjectId};
use automerge::{Automerge, Change, ChangeHash, Prop, ROOT, ReadDoc};

/// The root key of a team document under which encounters live, keyed by their UUID.
pub const ENCOUNTERS_KEY: &str = "encounters";

/// The server heads that `doc` knows of. A head we don't hold yet (the server has changes from
/// another device that have not reached us) says nothing about our own changes, so it is left
/// out: the changes it would cover are then counted as not held, never the other way round.
fn known_heads(doc: &Automerge, server_heads: &[ChangeHash]) -> Vec<ChangeHash> {
    server_heads
        .iter()
        .filter(|h| doc.get_change_meta_by_hash(h).is_some())
        .copied()
        .collect()
}

/// Our changes the server does not hold (not ancestors of its heads).
pub fn changes_not_on_server(doc: &Automerge, server_heads: &[ChangeHash]) -> Vec<Change> {
    doc.get_changes(&known_heads(doc, server_heads))
}

/// How many of our changes the server does not hold.
pub fn pending_changes(doc: &Automerge, server_heads: &[ChangeHash]) -> usize {
    doc.get_changes_meta(&known_heads(doc, server_heads)).len()
}

/// True when the server holds every change of `doc` (an empty document is trivially held).
pub fn server_has_all(doc: &Automerge, server_heads: &[ChangeHash]) -> bool {
    pending_changes(doc, server_heads) == 0
}

/// The ids of the encounters (keys of the root `encounters` map) that a change the server does
/// not hold creates, edits or deletes, at any depth below `encounters/<id>`.
///
/// Empty `server_heads` (the server never reported) makes every encounter ever touched unsynced.
pub fn unsynced_encounters(doc: &Automerge, server_heads: &[ChangeHash]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for change in changes_not_on_server(doc, server_heads) {
        for op in change.decode().operations {
            if let Some(id) = encounter_of(doc, &op.obj, &op.key) {
                out.insert(id);
            }
        }
    }
    out
}

/// The encounter an operation on (`obj`, `key`) belongs to, if any.
fn encounter_of(doc: &Automerge, obj: &ObjectId, key: &Key) -> Option<String> {
    let ObjectId::Id(op_id) = obj else {
        // Root-level ops (e.g. creating the `encounters` map itself) belong to no encounter.
        return None;
    };
    // The legacy form prints as `counter@actorhex`, the form `import_obj` reads back.
    let ex_id = doc.import_obj(&op_id.to_string()).ok()?;
    let path = doc.parents(&ex_id).ok()?.path();
    match path.as_slice() {
        // The op is in the `encounters` map itself: its key is the encounter id.
        [(root, Prop::Map(top))] if *root == ROOT && top == ENCOUNTERS_KEY => match key {
            Key::Map(id) => Some(id.to_string()),
            Key::Seq(_) => None,
        },
        // Deeper: the second path component is the encounter's key in `encounters`.
        [(root, Prop::Map(top)), (_, Prop::Map(id)), ..]
            if *root == ROOT && top == ENCOUNTERS_KEY =>
        {
            Some(id.clone())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use automerge::transaction::Transactable;
    use automerge::{ActorId, AutoCommit, ObjType, ScalarValue};

    use super::*;

    const E1: &str = "0193a1b2-0000-7000-8000-000000000001";
    const E2: &str = "0193a1b2-0000-7000-8000-000000000002";
    const E3: &str = "0193a1b2-0000-7000-8000-000000000003";

    /// A small team document: root `schema`, `encounters` map of maps, a tally counter.
    fn team(device: u8) -> AutoCommit {
        let mut doc = AutoCommit::new().with_actor(ActorId::from(vec![device; 16]));
        doc.put(ROOT, "schema", 1).unwrap();
        doc.put_object(ROOT, ENCOUNTERS_KEY, ObjType::Map).unwrap();
        let tallies = doc.put_object(ROOT, "tallies", ObjType::Map).unwrap();
        doc.put(&tallies, "seen", ScalarValue::counter(0)).unwrap();
        doc.commit();
        doc
    }

    fn encounters(doc: &AutoCommit) -> automerge::ObjId {
        doc.get(ROOT, ENCOUNTERS_KEY).unwrap().unwrap().1
    }

    fn add_encounter(doc: &mut AutoCommit, id: &str, place: &str) {
        let enc = encounters(doc);
        let e = doc.put_object(&enc, id, ObjType::Map).unwrap();
        doc.put(&e, "place", place).unwrap();
        let answers = doc.put_object(&e, "answers", ObjType::Map).unwrap();
        doc.put(&answers, "age", "30-39").unwrap();
        doc.commit();
    }

    fn set_answer(doc: &mut AutoCommit, id: &str, key: &str, value: &str) {
        let enc = encounters(doc);
        let e = doc.get(&enc, id).unwrap().unwrap().1;
        let answers = doc.get(&e, "answers").unwrap().unwrap().1;
        doc.put(&answers, key, value).unwrap();
        doc.commit();
    }

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn nothing_reported_means_every_touched_encounter_is_unsynced() {
        let mut doc = team(1);
        add_encounter(&mut doc, E1, "Gare du Nord");
        add_encounter(&mut doc, E2, "Canal");
        assert_eq!(unsynced_encounters(doc.document(), &[]), set(&[E1, E2]));
        assert_eq!(pending_changes(doc.document(), &[]), 3);
        assert!(!server_has_all(doc.document(), &[]));
    }

    #[test]
    fn encounters_covered_by_the_server_heads_are_synced() {
        let mut doc = team(1);
        add_encounter(&mut doc, E1, "Gare du Nord");
        let server = doc.get_heads();
        add_encounter(&mut doc, E2, "Canal");
        assert_eq!(unsynced_encounters(doc.document(), &server), set(&[E2]));
        assert_eq!(pending_changes(doc.document(), &server), 1);
        let all = doc.get_heads();
        assert!(unsynced_encounters(doc.document(), &all).is_empty());
        assert!(server_has_all(doc.document(), &all));
    }

    #[test]
    fn a_nested_edit_of_a_synced_encounter_makes_it_unsynced_again() {
        let mut doc = team(1);
        add_encounter(&mut doc, E1, "Gare du Nord");
        add_encounter(&mut doc, E2, "Canal");
        let server = doc.get_heads();
        set_answer(&mut doc, E1, "sex", "F");
        assert_eq!(unsynced_encounters(doc.document(), &server), set(&[E1]));
    }

    #[test]
    fn deleting_an_encounter_is_an_unsynced_touch() {
        let mut doc = team(1);
        add_encounter(&mut doc, E1, "Gare du Nord");
        let server = doc.get_heads();
        let enc = encounters(&doc);
        doc.delete(&enc, E1).unwrap();
        doc.commit();
        assert_eq!(unsynced_encounters(doc.document(), &server), set(&[E1]));
    }

    #[test]
    fn changes_outside_encounters_touch_no_encounter() {
        let mut doc = team(1);
        add_encounter(&mut doc, E1, "Gare du Nord");
        let server = doc.get_heads();
        let tallies = doc.get(ROOT, "tallies").unwrap().unwrap().1;
        doc.increment(&tallies, "seen", 1).unwrap();
        doc.put(ROOT, "round", "checked-in").unwrap();
        doc.commit();
        assert!(unsynced_encounters(doc.document(), &server).is_empty());
        assert_eq!(pending_changes(doc.document(), &server), 1);
    }

    #[test]
    fn server_heads_we_do_not_hold_never_make_our_changes_synced() {
        // Device 2 wrote something the server holds and we don't: its head is unknown here.
        let mut ours = team(1);
        let mut theirs = ours.fork().with_actor(ActorId::from(vec![2u8; 16]));
        add_encounter(&mut theirs, E3, "Bastille");
        let base = ours.get_heads();
        add_encounter(&mut ours, E1, "Gare du Nord");
        let server = theirs.get_heads();
        assert_eq!(unsynced_encounters(ours.document(), &server), set(&[E1]));
        // The server holds our base and their change: only E1 is ours and pending.
        let mut merged_server = server.clone();
        merged_server.extend(base);
        assert_eq!(
            unsynced_encounters(ours.document(), &merged_server),
            set(&[E1])
        );
    }

    #[test]
    fn merged_concurrent_encounters_are_synced_once_the_server_merges_them() {
        let mut a = team(1);
        let mut b = a.fork().with_actor(ActorId::from(vec![2u8; 16]));
        add_encounter(&mut a, E1, "Gare du Nord");
        add_encounter(&mut b, E2, "Canal");
        let mut server = a.fork().with_actor(ActorId::from(vec![9u8; 16]));
        server.merge(&mut b).unwrap();
        a.merge(&mut b).unwrap();
        assert!(unsynced_encounters(a.document(), &server.get_heads()).is_empty());
        set_answer(&mut a, E2, "age", "40-49");
        assert_eq!(
            unsynced_encounters(a.document(), &server.get_heads()),
            set(&[E2])
        );
    }

    #[derive(Debug, Clone)]
    enum Edit {
        /// Create or edit encounter `n` (creates it if absent).
        Answer(usize, u8),
        Delete(usize),
        /// Something outside `encounters`.
        Tally,
    }

    fn edit() -> impl proptest::strategy::Strategy<Value = Edit> {
        use proptest::prelude::*;
        prop_oneof![
            (0..4usize, any::<u8>()).prop_map(|(n, v)| Edit::Answer(n, v)),
            (0..4usize).prop_map(Edit::Delete),
            Just(Edit::Tally),
        ]
    }

    proptest::proptest! {
        /// Whatever the history and wherever the server stopped, the unsynced encounters are
        /// exactly those edited by a change after the server's cut.
        #[test]
        fn unsynced_encounters_are_exactly_those_edited_after_the_server_cut(
            edits in proptest::collection::vec(edit(), 1..20),
            cut in 0usize..20,
        ) {
            let ids = [E1, E2, E3, "0193a1b2-0000-7000-8000-000000000004"];
            let mut doc = team(1);
            let mut heads_after = vec![doc.get_heads()];
            let mut touched_after: Vec<Option<&str>> = Vec::new();
            for e in &edits {
                let enc = encounters(&doc);
                let touched = match e {
                    Edit::Answer(n, v) => {
                        let obj = match doc.get(&enc, ids[*n]).unwrap() {
                            Some((_, obj)) => obj,
                            None => doc.put_object(&enc, ids[*n], ObjType::Map).unwrap(),
                        };
                        doc.put(&obj, "answer", i64::from(*v)).unwrap();
                        Some(ids[*n])
                    }
                    Edit::Delete(n) => {
                        if doc.get(&enc, ids[*n]).unwrap().is_some() {
                            doc.delete(&enc, ids[*n]).unwrap();
                            Some(ids[*n])
                        } else {
                            None
                        }
                    }
                    Edit::Tally => {
                        let tallies = doc.get(ROOT, "tallies").unwrap().unwrap().1;
                        doc.increment(&tallies, "seen", 1).unwrap();
                        None
                    }
                };
                if doc.commit().is_some() {
                    heads_after.push(doc.get_heads());
                    touched_after.push(touched);
                }
            }
            let cut = cut.min(touched_after.len());
            let expected: BTreeSet<String> = touched_after[cut..]
                .iter()
                .flatten()
                .map(|s| s.to_string())
                .collect();
            proptest::prop_assert_eq!(
                unsynced_encounters(doc.document(), &heads_after[cut]),
                expected
            );
            proptest::prop_assert_eq!(
                pending_changes(doc.document(), &heads_after[cut]),
                touched_after.len() - cut
            );
        }
    }
}
