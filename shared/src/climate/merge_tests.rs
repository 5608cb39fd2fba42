//! Merge laws of the `field` document: ticks made on two replicas concurrently converge, and
//! counters add up.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use automerge::{ActorId, AutoCommit};
use proptest::prelude::*;
use uuid::Uuid;

use super::{Area, Handout, Visit, create_field_doc, hand_out, read_field, record_visit, tick};
use crate::doc::new_doc;

const ITEMS: [&str; 6] = [
    "eau",
    "volets",
    "ventilateur",
    "temperature-piece",
    "repas",
    "inscription-3975",
];

fn visit_id() -> Uuid {
    Uuid::from_u128(42)
}

/// A field document with one visit, saved by a third device, loaded by two replicas.
fn replicas() -> (AutoCommit, AutoCommit) {
    let mut origin = new_doc(ActorId::from([9u8; 16]));
    create_field_doc(&mut origin, Uuid::from_u128(1), "G").unwrap();
    origin.commit();
    record_visit(
        &mut origin,
        &Visit {
            id: visit_id(),
            at: 0,
            area: Area::parse("75019").unwrap(),
            checklist_id: "visite".to_owned(),
            ticks: BTreeMap::new(),
            items: BTreeMap::new(),
            alert: false,
        },
    )
    .unwrap();
    origin.commit();
    let bytes = origin.save();
    let a = AutoCommit::load(&bytes)
        .unwrap()
        .with_actor(ActorId::from([1u8; 16]));
    let b = AutoCommit::load(&bytes)
        .unwrap()
        .with_actor(ActorId::from([2u8; 16]));
    (a, b)
}

fn ops() -> impl Strategy<Value = Vec<(usize, bool)>> {
    proptest::collection::vec((0..ITEMS.len(), any::<bool>()), 0..12)
}

fn apply(doc: &mut AutoCommit, ops: &[(usize, bool)]) {
    for &(item, checked) in ops {
        tick(doc, visit_id(), ITEMS[item], checked).unwrap();
        doc.commit();
    }
}

/// The value each item ends with on one replica alone.
fn last_values(ops: &[(usize, bool)]) -> BTreeMap<&'static str, bool> {
    ops.iter().map(|&(i, c)| (ITEMS[i], c)).collect()
}

proptest! {
    #[test]
    fn concurrent_ticks_on_two_replicas_converge(a_ops in ops(), b_ops in ops()) {
        let (mut a, mut b) = replicas();
        apply(&mut a, &a_ops);
        apply(&mut b, &b_ops);
        let mut a2 = a.clone();
        a2.merge(&mut b).unwrap();
        b.merge(&mut a).unwrap();
        let from_a = read_field(&a2).unwrap();
        let from_b = read_field(&b).unwrap();
        prop_assert_eq!(&from_a, &from_b);
        // An item only one side touched keeps that side's last value; one both touched takes
        // one of the two last values.
        let (la, lb) = (last_values(&a_ops), last_values(&b_ops));
        let ticks = &from_a.visits[&visit_id()].ticks;
        for item in ITEMS {
            let got = ticks.get(item).copied();
            match (la.get(item), lb.get(item)) {
                (None, None) => prop_assert_eq!(got, None),
                (Some(&v), None) | (None, Some(&v)) => prop_assert_eq!(got, Some(v)),
                (Some(&x), Some(&y)) => prop_assert!(got == Some(x) || got == Some(y)),
            }
        }
    }

    #[test]
    fn handouts_from_two_replicas_add_up(a_n in proptest::collection::vec(1i64..5, 0..8), b_n in proptest::collection::vec(1i64..5, 0..8)) {
        let (mut a, mut b) = replicas();
        for n in &a_n {
            hand_out(&mut a, Handout::Water, *n).unwrap();
            a.commit();
        }
        for n in &b_n {
            hand_out(&mut b, Handout::Water, *n).unwrap();
            b.commit();
        }
        a.merge(&mut b).unwrap();
        let total: i64 = a_n.iter().chain(&b_n).sum();
        prop_assert_eq!(read_field(&a).unwrap().handed_out[&Handout::Water], total);
    }
}
