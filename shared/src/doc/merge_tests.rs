//! Property tests of the merge laws on team documents: three replicas with distinct actors
//! apply random concurrent operations, then exchange changes (`merge` or a full
//! `automerge::sync` loop over encoded messages).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use automerge::sync::{Message, State, SyncDoc};
use automerge::{AutoCommit, ChangeHash, ROOT, ReadDoc};
use proptest::prelude::*;

use super::round_trip_tests::{T0, actor, minimal_encounter, new_team, uuid_at};
use super::*;
use crate::model::*;

#[derive(Debug, Clone)]
enum Op {
    Record {
        replica: usize,
    },
    Edit {
        replica: usize,
        pick: usize,
        edit: EncounterEdit,
    },
    Tally {
        replica: usize,
        dim: usize,
        delta: i64,
    },
    CheckIn {
        replica: usize,
    },
    CheckOut {
        replica: usize,
        pick: usize,
    },
    Cover {
        replica: usize,
        sector: usize,
        status: CoverageStatus,
    },
    /// A partial exchange in the middle of the run, so that later operations build on
    /// a shared history rather than being all concurrent.
    Merge {
        from: usize,
        to: usize,
    },
}

fn edit_strategy() -> impl Strategy<Value = EncounterEdit> {
    let answer = prop_oneof![
        Just(Answer::DoesNotKnow),
        Just(Answer::Declines),
        "[a-c]{1,3}".prop_map(Answer::Choice),
        (0i64..100).prop_map(Answer::Number),
    ];
    prop_oneof![
        (0u32..6).prop_map(EncounterEdit::Men),
        (0u32..6).prop_map(EncounterEdit::Children),
        "[a-z ]{0,8}".prop_map(EncounterEdit::PlaceDetail),
        proptest::option::of(proptest::sample::select(ObservedSex::ALL))
            .prop_map(EncounterEdit::ObservedSex),
        proptest::sample::select(SpaceType::ALL).prop_map(EncounterEdit::SpaceType),
        proptest::option::of((48.8f64..48.9, 2.2f64..2.5))
            .prop_map(|p| EncounterEdit::Position(p.map(|(lat, lon)| Position { lat, lon }))),
        (
            proptest::sample::select(&["q1", "q2"][..]),
            proptest::option::of(answer)
        )
            .prop_map(|(q, answer)| EncounterEdit::Answer {
                question_id: q.to_owned(),
                answer
            }),
        any::<bool>().prop_map(EncounterEdit::Withdrawn),
        any::<bool>().prop_map(EncounterEdit::AlertHealth),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let r = 0usize..3;
    prop_oneof![
        3 => r.clone().prop_map(|replica| Op::Record { replica }),
        4 => (r.clone(), any::<usize>(), edit_strategy()).prop_map(|(replica, pick, edit)| Op::Edit { replica, pick, edit }),
        4 => (r.clone(), 0usize..6, prop_oneof![Just(1i64), Just(-1), Just(2)])
            .prop_map(|(replica, dim, delta)| Op::Tally { replica, dim, delta }),
        1 => r.clone().prop_map(|replica| Op::CheckIn { replica }),
        1 => (r.clone(), any::<usize>()).prop_map(|(replica, pick)| Op::CheckOut { replica, pick }),
        1 => (r.clone(), 0usize..2, proptest::sample::select(CoverageStatus::ALL))
            .prop_map(|(replica, sector, status)| Op::Cover { replica, sector, status }),
        1 => (r.clone(), r).prop_map(|(from, to)| Op::Merge { from, to }),
    ]
}

/// A few dimensions only, so that concurrent increments often hit the same counter.
fn dim(i: usize) -> TallyDimension {
    TallyDimension::all().nth(i * 7).unwrap_or(TallyDimension {
        space_type: SpaceType::Street,
        sex: ObservedSex::Unknown,
        age_band: AgeBand::Unknown,
    })
}

fn replicas() -> [AutoCommit; 3] {
    let mut base = new_team(1);
    let bytes = base.save();
    [
        base,
        load_doc(&bytes, actor(2)).unwrap(),
        load_doc(&bytes, actor(3)).unwrap(),
    ]
}

fn keys_of(doc: &AutoCommit, map: &str) -> Vec<String> {
    let obj = values::req_map(doc, &ROOT, map).unwrap();
    doc.keys(&obj).collect()
}

/// Applies the operations; returns the expected sum of tally deltas per dimension.
fn run(docs: &mut [AutoCommit; 3], ops: &[Op]) -> BTreeMap<TallyDimension, i64> {
    let mut expected = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        let now = T0 + i as i64 * 1000;
        match op {
            Op::Record { replica } => {
                let mut e = minimal_encounter(uuid_at(now, i as u64));
                e.source_device = format!("device-{replica}");
                record_encounter(&mut docs[*replica], &e, now).unwrap();
            }
            Op::Edit {
                replica,
                pick,
                edit,
            } => {
                let ids = keys_of(&docs[*replica], "encounters");
                if !ids.is_empty() {
                    let id = uuid::Uuid::parse_str(&ids[pick % ids.len()]).unwrap();
                    edit_encounter(&mut docs[*replica], id, edit, now).unwrap();
                }
            }
            Op::Tally {
                replica,
                dim: d,
                delta,
            } => {
                add_to_tally(&mut docs[*replica], dim(*d), *delta, now).unwrap();
                *expected.entry(dim(*d)).or_insert(0) += delta;
            }
            Op::CheckIn { replica } => {
                let round = Round {
                    id: uuid_at(now, i as u64),
                    sector_id: None,
                    checked_in_at: now,
                    checked_out_at: None,
                    device: format!("device-{replica}"),
                };
                check_in(&mut docs[*replica], &round, now).unwrap();
            }
            Op::CheckOut { replica, pick } => {
                let ids = keys_of(&docs[*replica], "rounds");
                if !ids.is_empty() {
                    let id = uuid::Uuid::parse_str(&ids[pick % ids.len()]).unwrap();
                    check_out(&mut docs[*replica], id, now, now).unwrap();
                }
            }
            Op::Cover {
                replica,
                sector,
                status,
            } => {
                let coverage = SectorCoverage {
                    status: *status,
                    updated_at: now,
                    device: format!("device-{replica}"),
                };
                let sector = SectorId(format!("S-01-0{}", 3 + sector));
                mark_coverage(&mut docs[*replica], &sector, &coverage, now).unwrap();
            }
            Op::Merge { from, to } if from != to => {
                let mut source = docs[*from].clone();
                docs[*to].merge(&mut source).unwrap();
            }
            Op::Merge { .. } => {}
        }
    }
    expected
}

fn heads(doc: &mut AutoCommit) -> Vec<ChangeHash> {
    let mut h = doc.get_heads();
    h.sort();
    h
}

fn merged(a: &AutoCommit, b: &AutoCommit) -> AutoCommit {
    let mut out = a.clone();
    out.merge(&mut b.clone()).unwrap();
    out
}

/// Runs the sync protocol between two documents until neither has anything to send,
/// passing every message through its byte encoding as the network would.
fn sync_pair(a: &mut AutoCommit, b: &mut AutoCommit) {
    let (mut sa, mut sb) = (State::new(), State::new());
    for _ in 0..64 {
        let to_b = a.sync().generate_sync_message(&mut sa);
        let to_a = b.sync().generate_sync_message(&mut sb);
        if to_b.is_none() && to_a.is_none() {
            return;
        }
        if let Some(m) = to_b {
            let m = Message::decode(&m.encode()).unwrap();
            b.sync().receive_sync_message(&mut sb, m).unwrap();
        }
        if let Some(m) = to_a {
            let m = Message::decode(&m.encode()).unwrap();
            a.sync().receive_sync_message(&mut sa, m).unwrap();
        }
    }
    panic!("sync did not settle");
}

fn pair(docs: &mut [AutoCommit; 3], i: usize, j: usize) -> (&mut AutoCommit, &mut AutoCommit) {
    let (left, right) = docs.split_at_mut(j);
    (&mut left[i], &mut right[0])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn replicas_converge_after_exchanging_changes(
        ops in proptest::collection::vec(op_strategy(), 0..30),
        use_sync_protocol in any::<bool>(),
    ) {
        let mut docs = replicas();
        let expected_tallies = run(&mut docs, &ops);
        for (i, j) in [(0, 1), (1, 2), (0, 2)] {
            let (a, b) = pair(&mut docs, i, j);
            if use_sync_protocol {
                sync_pair(a, b);
            } else {
                a.merge(b).unwrap();
                b.merge(a).unwrap();
            }
        }
        let team0 = read_team(&docs[0]).unwrap();
        let heads0 = heads(&mut docs[0]);
        for doc in docs.iter_mut().skip(1) {
            prop_assert_eq!(heads(doc), heads0.clone());
            prop_assert_eq!(read_team(doc).unwrap(), team0.clone());
        }
        // Every increment from every replica is counted exactly once.
        for (d, sum) in expected_tallies {
            prop_assert_eq!(team0.tallies[&d], sum);
        }
        let untouched: i64 = team0.tallies.values().sum();
        prop_assert_eq!(untouched, team0.tallied());
        prop_assert_eq!(team0.tallies.len(), 192);
        // Conflicts are listable on every merged encounter.
        for id in team0.encounters.keys() {
            for c in encounter_conflicts(&docs[0], *id).unwrap() {
                prop_assert!(c.values.len() >= 2 && c.current < c.values.len());
            }
        }
    }

    #[test]
    fn merge_is_commutative_associative_and_idempotent(
        ops in proptest::collection::vec(op_strategy(), 0..30),
    ) {
        let mut docs = replicas();
        run(&mut docs, &ops);
        let [a, b, c] = &docs;

        let mut ab = merged(a, b);
        let mut ba = merged(b, a);
        prop_assert_eq!(heads(&mut ab), heads(&mut ba));
        prop_assert_eq!(read_team(&ab).unwrap(), read_team(&ba).unwrap());

        let mut ab_c = merged(&ab, c);
        let mut a_bc = merged(a, &merged(b, c));
        prop_assert_eq!(heads(&mut ab_c), heads(&mut a_bc));
        prop_assert_eq!(read_team(&ab_c).unwrap(), read_team(&a_bc).unwrap());

        let before = (heads(&mut ab), read_team(&ab).unwrap());
        ab.merge(&mut b.clone()).unwrap();
        ab.merge(&mut ab.clone()).unwrap();
        prop_assert_eq!(heads(&mut ab), before.0);
        prop_assert_eq!(read_team(&ab).unwrap(), before.1);
    }

    #[test]
    fn concurrent_plus_ones_on_one_tally_add_up(
        d in 0usize..6,
        plus in proptest::collection::vec(0u8..4, 3),
    ) {
        let mut docs = replicas();
        for (doc, n) in docs.iter_mut().zip(&plus) {
            for _ in 0..*n {
                add_to_tally(doc, dim(d), 1, T0).unwrap();
            }
        }
        let mut all = merged(&merged(&docs[0], &docs[1]), &docs[2]);
        let total: i64 = plus.iter().map(|n| i64::from(*n)).sum();
        prop_assert_eq!(read_team(&all).unwrap().tallies[&dim(d)], total);
        let reloaded = load_doc(&all.save(), actor(9)).unwrap();
        prop_assert_eq!(read_team(&reloaded).unwrap().tallies[&dim(d)], total);
    }
}
