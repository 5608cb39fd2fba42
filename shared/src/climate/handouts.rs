//! Items handed out during a visit, counted with Automerge counters: the visit's own counter
//! (`visits.<id>.items.<kind>`) and the group's running total (`handedOut.<kind>`) move
//! together, so that +1 on one device and +1 on another (offline, then synced) give +2 on both,
//! where a plain integer would keep one of the two writes.

use automerge::transaction::Transactable;
use automerge::{ObjId, ScalarValue, Value};

use super::Handout;
use super::doc::{KIND_FIELD, check_header, increment, visit_obj};
use crate::doc::DocError;
use crate::doc::values::{self, opt};

/// The largest step of one +/− (a box of leaflets, a pack of bottles).
pub const MAX_HANDOUT_STEP: i64 = 100;

/// A visit's count of one kind: a counter, or a plain integer written by earlier builds. A
/// counter taken below zero by concurrent corrections reads as zero.
pub(super) fn as_count(v: &Value<'_>, _: &ObjId, key: &str) -> Result<u32, DocError> {
    let n = match v {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Counter(c) => i64::from(c),
            ScalarValue::Uint(n) => i64::try_from(*n).unwrap_or(i64::MAX),
            ScalarValue::Int(n) => *n,
            _ => return Err(wrong(key)),
        },
        Value::Object(_) => return Err(wrong(key)),
    };
    Ok(u32::try_from(n.max(0)).unwrap_or(u32::MAX))
}

fn wrong(key: &str) -> DocError {
    DocError::WrongType {
        key: key.to_owned(),
        expected: "counter",
    }
}

/// Adds `delta` (negative to correct a mistake) items of `kind` to the visit `visit` and to the
/// group's total; returns the visit's new count. Refused, writing nothing: a step of 0 or
/// beyond [`MAX_HANDOUT_STEP`], an unknown visit, or taking back more than this document
/// shows handed out on that visit.
pub fn hand_out_on_visit<T: Transactable>(
    tx: &mut T,
    visit: uuid::Uuid,
    kind: Handout,
    delta: i64,
) -> Result<u32, DocError> {
    check_header(tx, KIND_FIELD)?;
    if delta == 0 || delta.unsigned_abs() > MAX_HANDOUT_STEP.unsigned_abs() {
        return Err(DocError::Invalid("a handout step is between 1 and 100"));
    }
    let obj = visit_obj(tx, visit)?;
    let items = values::req_map(tx, &obj, "items")?;
    let current = i64::from(opt(tx, &items, kind.code(), as_count)?.unwrap_or(0));
    if current + delta < 0 {
        return Err(DocError::Invalid(
            "cannot take back more items than were handed out on this visit",
        ));
    }
    let is_counter = matches!(
        tx.get(&items, kind.code())?,
        Some((Value::Scalar(s), _)) if s.is_counter()
    );
    if !is_counter {
        // A visit of an earlier build (plain integer) or without this kind: a counter from
        // what it holds. Two devices doing this concurrently keep one side's step: only old
        // visits are exposed, new ones get every counter when they are made.
        tx.put(&items, kind.code(), ScalarValue::counter(current))?;
    }
    tx.increment(&items, kind.code(), delta)?;
    increment(tx, kind, delta)?;
    u32::try_from(current + delta).map_err(|_| DocError::Invalid("count out of range"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use automerge::{ActorId, AutoCommit};
    use uuid::Uuid;

    use super::*;
    use crate::climate::{Area, Visit, create_field_doc, read_field, record_visit};
    use crate::doc::new_doc;

    const T0: i64 = 1_782_900_000_000;

    fn field_with_visit(actor: u8) -> (AutoCommit, Uuid) {
        let mut doc = new_doc(ActorId::from([actor; 16]));
        create_field_doc(&mut doc, Uuid::from_u128(7), "Belleville").unwrap();
        let id = Uuid::from_u128(1);
        let visit = Visit {
            id,
            at: T0,
            area: Area::parse("75011").unwrap(),
            checklist_id: "visite".to_owned(),
            ticks: Default::default(),
            items: [(Handout::Leaflet, 1)].into(),
            alert: false,
        };
        record_visit(&mut doc, &visit).unwrap();
        doc.commit();
        (doc, id)
    }

    #[test]
    fn handouts_on_one_visit_from_two_offline_devices_add_up() {
        let (mut a, id) = field_with_visit(1);
        let mut b = a.fork().with_actor(ActorId::from([2u8; 16]));
        assert_eq!(hand_out_on_visit(&mut a, id, Handout::Water, 2).unwrap(), 2);
        assert_eq!(hand_out_on_visit(&mut b, id, Handout::Water, 3).unwrap(), 3);
        assert_eq!(
            hand_out_on_visit(&mut b, id, Handout::Water, -1).unwrap(),
            2
        );
        assert_eq!(
            hand_out_on_visit(&mut b, id, Handout::Leaflet, 1).unwrap(),
            2
        );
        a.commit();
        b.commit();
        a.merge(&mut b).unwrap();
        b.merge(&mut a).unwrap();
        for doc in [&a, &b] {
            let field = read_field(doc).unwrap();
            let visit = &field.visits[&id];
            assert_eq!(visit.items[&Handout::Water], 4);
            assert_eq!(visit.items[&Handout::Leaflet], 2);
            assert!(
                !visit.items.contains_key(&Handout::Fan),
                "zero counts are not listed"
            );
            assert_eq!(field.handed_out[&Handout::Water], 4);
            assert_eq!(field.handed_out[&Handout::Leaflet], 2);
        }
    }

    #[test]
    fn bad_handout_steps_are_refused_and_write_nothing() {
        let (mut doc, id) = field_with_visit(3);
        let before = read_field(&doc).unwrap();
        for (visit, delta) in [(id, 0), (id, 101), (id, -2), (Uuid::from_u128(99), 1)] {
            assert!(
                matches!(
                    hand_out_on_visit(&mut doc, visit, Handout::Leaflet, delta),
                    Err(DocError::Invalid(_))
                ),
                "{visit} {delta}"
            );
        }
        assert_eq!(
            hand_out_on_visit(&mut doc, id, Handout::Water, -1).ok(),
            None
        );
        assert_eq!(read_field(&doc).unwrap(), before);
    }

    #[test]
    fn a_visit_with_plain_integers_from_an_earlier_build_is_read_and_counted_on() {
        let (mut doc, id) = field_with_visit(4);
        let items = {
            let visits = values::req_map(&doc, &automerge::ROOT, "visits").unwrap();
            let visit = values::req_map(&doc, &visits, &id.to_string()).unwrap();
            values::req_map(&doc, &visit, "items").unwrap()
        };
        doc.put(&items, Handout::Fan.code(), ScalarValue::Uint(2))
            .unwrap();
        doc.commit();
        assert_eq!(
            read_field(&doc).unwrap().visits[&id].items[&Handout::Fan],
            2
        );
        assert_eq!(hand_out_on_visit(&mut doc, id, Handout::Fan, 1).unwrap(), 3);
        assert_eq!(
            read_field(&doc).unwrap().visits[&id].items[&Handout::Fan],
            3
        );
    }
}
