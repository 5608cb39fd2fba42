//! Multi-peer sync scenarios through the in-memory router.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use super::*;

#[test]
fn client_created_document_reaches_server_then_second_client() {
    let doc = doc_id(1);
    let mut net = Net::new(EngineLimits::default(), &["phone-a", "phone-b"]);
    net.connect(0, rw(doc));
    net.connect(1, Scope::none().with(doc, Access::ReadOnly));
    net.run();
    let step = net.clients[0]
        .engine
        .insert_document(doc, team_doc(1, "enc-1"))
        .unwrap();
    net.apply_client(0, step);
    net.run();

    let client_heads = Net::heads(&net.clients[0].engine, doc);
    assert_eq!(Net::heads(&net.server.engine, doc), client_heads);
    // What the server acknowledged is what it asked to store.
    assert_eq!(
        from_storage(&net.server.writes, doc).get_heads(),
        client_heads
    );
    assert!(net.clients[0].engine.server_has_all(&doc));

    let step = net.clients[1]
        .engine
        .want_document(doc, ActorId::from(vec![2; 16]));
    net.apply_client(1, step);
    net.run();
    let b = net.clients[1].engine.document(&doc).unwrap();
    assert_eq!(b.get_heads(), client_heads);
    assert!(b.get(ROOT, "enc-1").unwrap().is_some());
    assert!(net.server.closes.is_empty() && net.clients[1].closes.is_empty());
}

#[test]
fn concurrent_offline_edits_converge() {
    let doc = doc_id(2);
    let mut net = Net::new(EngineLimits::default(), &["phone-a", "phone-b", "laptop"]);
    for i in 0..3 {
        net.connect(i, rw(doc));
    }
    let step = net.clients[0]
        .engine
        .insert_document(doc, team_doc(1, "enc-0"))
        .unwrap();
    net.apply_client(0, step);
    net.run();
    for i in 1..3 {
        let step = net.clients[i]
            .engine
            .want_document(doc, ActorId::from(vec![i as u8 + 1; 16]));
        net.apply_client(i, step);
    }
    net.run();
    // Everyone goes offline and edits, then reconnects.
    for i in 0..3 {
        net.disconnect(i);
        net.edit(i, doc, &format!("enc-{}-offline", i), "tent");
        net.edit(i, doc, "round", &format!("device {i}"));
    }
    for i in 0..3 {
        net.connect(i, rw(doc));
    }
    net.run();
    let heads = Net::heads(&net.server.engine, doc);
    assert_eq!(heads.len(), 3, "three concurrent branches");
    for i in 0..3 {
        let d = net.clients[i].engine.document(&doc).unwrap();
        assert_eq!(d.get_heads(), heads, "client {i}");
        for j in 0..3 {
            assert!(d.get(ROOT, format!("enc-{j}-offline")).unwrap().is_some());
        }
        assert!(net.clients[i].engine.server_has_all(&doc));
    }
    assert_eq!(from_storage(&net.server.writes, doc).get_heads(), heads);
}

#[test]
fn forbidden_document_gets_the_same_answer_as_an_unknown_one() {
    let secret = doc_id(3);
    let unknown = doc_id(4);
    let mut net = Net::new(EngineLimits::default(), &["owner", "snoop"]);
    net.connect(0, rw(secret));
    net.connect(1, rw(unknown));
    let step = net.clients[0]
        .engine
        .insert_document(secret, team_doc(1, "enc"))
        .unwrap();
    net.apply_client(0, step);
    net.run();
    assert!(net.server.engine.has_document(&secret));

    for doc in [secret, unknown] {
        let step = net.clients[1]
            .engine
            .want_document(doc, ActorId::from(vec![9; 16]));
        net.apply_client(1, step);
    }
    net.run();
    let snoop = &net.clients[1];
    for doc in [secret, unknown] {
        assert!(
            snoop
                .events
                .contains(&Event::DocUnavailable { conn: 0, doc })
        );
        assert_eq!(Net::heads(&snoop.engine, doc), vec![]);
    }
    // The server did not create the unknown document on request.
    assert!(!net.server.engine.has_document(&unknown));
    assert!(net.server.writes.iter().all(|w| *w.doc() == secret));
}

#[test]
fn read_only_scope_never_applies_incoming_changes() {
    let doc = doc_id(5);
    let mut net = Net::new(EngineLimits::default(), &["coordinator", "reader"]);
    net.connect(0, rw(doc));
    net.connect(1, Scope::none().with(doc, Access::ReadOnly));
    let step = net.clients[0]
        .engine
        .insert_document(doc, team_doc(1, "enc"))
        .unwrap();
    net.apply_client(0, step);
    net.run();
    let step = net.clients[1]
        .engine
        .want_document(doc, ActorId::from(vec![7; 16]));
    net.apply_client(1, step);
    net.run();
    let server_heads = Net::heads(&net.server.engine, doc);
    assert_eq!(Net::heads(&net.clients[1].engine, doc), server_heads);
    let writes_before = net.server.writes.len();

    net.edit(1, doc, "forged", "yes");
    net.run();
    assert_eq!(Net::heads(&net.server.engine, doc), server_heads);
    assert_eq!(net.server.writes.len(), writes_before);
    assert!(!net.clients[1].engine.server_has_all(&doc));
    // The writer still receives nothing from the reader, and still syncs.
    net.edit(0, doc, "tally", "3");
    net.run();
    assert_eq!(
        Net::heads(&net.clients[1].engine, doc).len(),
        2,
        "reader got the writer's change next to its own"
    );
    assert!(net.server.closes.is_empty());
}

#[test]
fn read_only_unknown_document_is_not_created() {
    let doc = doc_id(6);
    let mut net = Net::new(EngineLimits::default(), &["reader"]);
    net.connect(0, Scope::none().with(doc, Access::ReadOnly));
    let step = net.clients[0]
        .engine
        .insert_document(doc, team_doc(1, "enc"))
        .unwrap();
    net.apply_client(0, step);
    net.run();
    assert!(!net.server.engine.has_document(&doc));
    assert!(net.server.writes.is_empty());
    assert!(
        net.clients[0]
            .events
            .contains(&Event::DocUnavailable { conn: 0, doc })
    );
}

#[test]
fn changes_per_message_limit_closes_only_that_connection() {
    let doc = doc_id(7);
    let limits = EngineLimits {
        max_changes_per_message: 3,
        ..EngineLimits::default()
    };
    let mut net = Net::new(limits, &["busy", "calm"]);
    net.connect(0, rw(doc));
    net.connect(1, rw(doc));
    let step = net.clients[0]
        .engine
        .insert_document(doc, team_doc(1, "enc"))
        .unwrap();
    net.apply_client(0, step);
    net.run();
    let step = net.clients[1]
        .engine
        .want_document(doc, ActorId::from(vec![2; 16]));
    net.apply_client(1, step);
    net.run();
    // A long history, so that six new changes stay under the third of the document above
    // which automerge sends a whole-document chunk instead (bounded by the payload guard).
    for n in 0..30 {
        net.edit(1, doc, "tally", &n.to_string());
    }
    net.run();
    let writes_before = net.server.writes.len();
    let heads_before = Net::heads(&net.server.engine, doc);

    net.disconnect(0);
    for n in 0..6 {
        net.edit(0, doc, &format!("enc-{n}"), "street");
    }
    net.connect(0, rw(doc));
    net.run();
    assert_eq!(
        net.server.closes,
        vec![Close {
            conn: 0,
            reason: CloseReason::TooManyChanges
        }]
    );
    assert_eq!(net.server.writes.len(), writes_before);
    assert_eq!(Net::heads(&net.server.engine, doc), heads_before);
    // The other peer is unaffected.
    assert!(net.server.engine.is_open(1));
    net.edit(1, doc, "calm", "ok");
    net.run();
    assert!(net.clients[1].engine.server_has_all(&doc));
}

#[test]
fn documents_per_peer_limit() {
    let limits = EngineLimits {
        max_documents_per_peer: 2,
        ..EngineLimits::default()
    };
    let mut net = Net::new(limits, &["hoarder"]);
    net.connect(0, Scope::all(Access::ReadWrite));
    for n in 0..3 {
        let step = net.clients[0]
            .engine
            .insert_document(doc_id(10 + n), team_doc(1, "enc"))
            .unwrap();
        net.apply_client(0, step);
    }
    net.run();
    assert_eq!(
        net.server
            .closes
            .iter()
            .map(|c| &c.reason)
            .collect::<Vec<_>>(),
        vec![&CloseReason::TooManyDocuments]
    );
}

#[test]
fn server_has_change_flips_only_after_the_server_replies() {
    let doc = doc_id(8);
    let mut net = Net::new(EngineLimits::default(), &["phone"]);
    net.connect(0, rw(doc));
    let step = net.clients[0]
        .engine
        .insert_document(doc, team_doc(1, "enc-1"))
        .unwrap();
    net.apply_client(0, step);
    net.run();
    assert!(net.clients[0].engine.server_has_all(&doc));

    net.edit(0, doc, "enc-2", "car park");
    let new_head = Net::heads(&net.clients[0].engine, doc)[0];
    let client = &net.clients[0].engine;
    assert!(!client.server_has_all(&doc));
    assert!(!client.server_has_change(&doc, &new_head));
    // Deliver only client -> server frames: the server applies but has not answered yet.
    while let Some(pos) = net
        .queue
        .iter()
        .position(|(d, _)| matches!(d, Dest::Server { .. }))
    {
        let item = net.queue.remove(pos).unwrap();
        net.queue.push_front(item);
        net.deliver_one();
    }
    assert_eq!(Net::heads(&net.server.engine, doc), vec![new_head]);
    assert!(!net.clients[0].engine.server_has_change(&doc, &new_head));
    net.run();
    assert!(net.clients[0].engine.server_has_change(&doc, &new_head));
    assert!(net.clients[0].engine.server_has_all(&doc));
}

#[test]
fn a_loaded_document_is_served_without_being_rewritten() {
    let doc = doc_id(9);
    let stored = team_doc(1, "enc").save();
    let mut net = Net::new(EngineLimits::default(), &["phone"]);
    let step = net.server.engine.load_document(doc, &stored).unwrap();
    assert!(step.writes.is_empty());
    net.connect(0, rw(doc));
    let step = net.clients[0]
        .engine
        .want_document(doc, ActorId::from(vec![3; 16]));
    net.apply_client(0, step);
    net.run();
    assert_eq!(
        Net::heads(&net.clients[0].engine, doc),
        Net::heads(&net.server.engine, doc)
    );
    assert!(net.server.writes.is_empty());
    assert!(net.clients[0].engine.server_has_all(&doc));
}

#[test]
fn revoked_scope_stops_sync_and_answers_doc_unavailable() {
    let doc = doc_id(20);
    let mut net = Net::new(EngineLimits::default(), &["writer", "revoked"]);
    net.connect(0, rw(doc));
    net.connect(1, rw(doc));
    let step = net.clients[0]
        .engine
        .insert_document(doc, team_doc(1, "enc"))
        .unwrap();
    net.apply_client(0, step);
    net.run();
    let step = net.clients[1]
        .engine
        .want_document(doc, ActorId::from(vec![2; 16]));
    net.apply_client(1, step);
    net.run();
    let before = Net::heads(&net.clients[1].engine, doc);
    assert!(!before.is_empty());

    let step = net.server.engine.set_scope(1, Scope::none());
    net.apply_server(step);
    net.edit(0, doc, "after-revocation", "x");
    net.run();
    assert_eq!(Net::heads(&net.clients[1].engine, doc), before);
    net.edit(1, doc, "from-revoked", "x");
    net.run();
    assert!(
        net.clients[1]
            .events
            .contains(&Event::DocUnavailable { conn: 0, doc })
    );
    let server_doc = net.server.engine.document(&doc).unwrap();
    assert!(server_doc.get(ROOT, "from-revoked").unwrap().is_none());
}

#[derive(Debug, Clone)]
enum Op {
    Edit { client: usize, key: u8 },
    Deliver,
    Toggle { client: usize },
}

fn arb_ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        prop_oneof![
            3 => (0usize..3, 0u8..4).prop_map(|(client, key)| Op::Edit { client, key }),
            6 => Just(Op::Deliver),
            1 => (0usize..3).prop_map(|client| Op::Toggle { client }),
        ],
        0..60,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Whatever the interleaving of edits, deliveries and reconnections, once everyone is
    /// connected and the network is quiet, all copies and the server's stored chunks agree and
    /// every client sees its work acknowledged.
    #[test]
    fn any_interleaving_converges_and_is_acknowledged(ops in arb_ops()) {
        let doc = doc_id(30);
        let mut net = Net::new(EngineLimits::default(), &["a", "b", "c"]);
        let mut online = [true; 3];
        for i in 0..3 {
            net.connect(i, rw(doc));
        }
        let step = net.clients[0].engine.insert_document(doc, team_doc(1, "enc")).unwrap();
        net.apply_client(0, step);
        net.run();
        for i in 1..3 {
            let step = net.clients[i].engine.want_document(doc, ActorId::from(vec![i as u8 + 1; 16]));
            net.apply_client(i, step);
        }
        net.run();
        for (n, op) in ops.iter().enumerate() {
            match op {
                Op::Edit { client, key } => net.edit(*client, doc, &format!("k{key}"), &format!("{n}")),
                Op::Deliver => { net.deliver_one(); }
                Op::Toggle { client } => {
                    if online[*client] {
                        net.disconnect(*client);
                    } else {
                        net.connect(*client, rw(doc));
                    }
                    online[*client] = !online[*client];
                }
            }
        }
        for (i, up) in online.iter().enumerate() {
            if !up {
                net.connect(i, rw(doc));
            }
        }
        net.run();
        let heads = Net::heads(&net.server.engine, doc);
        prop_assert_eq!(from_storage(&net.server.writes, doc).get_heads(), heads.clone());
        for i in 0..3 {
            prop_assert_eq!(Net::heads(&net.clients[i].engine, doc), heads.clone());
            prop_assert!(net.clients[i].engine.server_has_all(&doc));
        }
        prop_assert!(net.server.closes.is_empty());
    }
}

#[test]
fn sync_states_of_durable_peers_are_stored_and_restored_on_reconnect() {
    let doc = doc_id(40);
    let mut net = Net::new(EngineLimits::default(), &["phone", "browser-tab"]);
    for (i, storage, ephemeral) in [(0, "phone-storage", false), (1, "tab-storage", true)] {
        net.clients[i].engine = Engine::new(EngineConfig {
            peer_id: net.clients[i].engine.config().peer_id.clone(),
            role: Role::Client,
            peer_metadata: PeerMetadata {
                storage_id: Some(storage.into()),
                is_ephemeral: Some(ephemeral),
            },
            limits: EngineLimits::default(),
        });
        net.connect(i, rw(doc));
    }
    let step = net.clients[0]
        .engine
        .insert_document(doc, team_doc(1, "enc"))
        .unwrap();
    net.apply_client(0, step);
    net.run();
    let step = net.clients[1]
        .engine
        .want_document(doc, ActorId::from(vec![2; 16]));
    net.apply_client(1, step);
    net.run();
    let keys: Vec<_> = net.server.sync_states.keys().cloned().collect();
    assert_eq!(
        keys,
        vec![(doc, "phone/phone-storage".to_owned())],
        "never for ephemeral peers"
    );

    net.disconnect(0);
    net.edit(0, doc, "offline", "yes");
    net.connect(0, rw(doc));
    net.run();
    assert_eq!(net.server.restored_states, 1);
    assert_eq!(
        Net::heads(&net.server.engine, doc),
        Net::heads(&net.clients[0].engine, doc)
    );
    assert!(net.clients[0].engine.server_has_all(&doc));
}

#[test]
fn a_replaced_history_is_stored_alone_and_offered_afresh_to_open_connections() {
    let doc = doc_id(9);
    let mut net = Net::new(
        EngineLimits::default(),
        &["phone-a", "coordinator", "newcomer"],
    );
    net.connect(0, rw(doc));
    net.connect(1, Scope::none().with(doc, Access::ReadOnly));
    net.run();
    let step = net.clients[0]
        .engine
        .insert_document(doc, team_doc(1, "enc-1"))
        .unwrap();
    net.apply_client(0, step);
    net.run();
    let step = net.clients[1]
        .engine
        .want_document(doc, ActorId::from(vec![2; 16]));
    net.apply_client(1, step);
    net.run();
    net.edit(0, doc, "enc-2", "car");
    net.run();
    let old_heads = Net::heads(&net.server.engine, doc);

    // The device holding the old history leaves; the server starts a new history.
    net.disconnect(0);
    let mut fresh = AutoCommit::new().with_actor(ActorId::from(vec![7; 16]));
    fresh.put(ROOT, "schema", 1).unwrap();
    fresh.put(ROOT, "enc-1", "street").unwrap();
    fresh.put(ROOT, "enc-2", "car").unwrap();
    fresh.commit();
    let fresh = fresh.document().clone();
    let step = net.server.engine.replace_document(doc, fresh.clone());
    assert!(matches!(
        step.writes.as_slice(),
        [StorageWrite::Replace { .. }]
    ));
    // The coordinator's connection had the document open: it is closed (its sync state
    // describes the old history) and told why.
    assert_eq!(
        step.closes,
        vec![Close {
            conn: 1,
            reason: CloseReason::HistoryReplaced
        }]
    );
    assert!(
        matches!(step.outbound.as_slice(), [o] if o.conn == 1 && matches!(o.frame, Frame::Error(_)))
    );
    net.apply_server(step);
    net.run();
    // It reconnects with fresh sync states on both sides: the two histories meet, the
    // read-only server keeps its own, and sync quiesces.
    net.connect(1, Scope::none().with(doc, Access::ReadOnly));
    net.run();

    let stored = from_storage(&net.server.writes, doc);
    assert_eq!(stored.get_heads(), fresh.get_heads());
    assert_eq!(stored.get_changes(&[]).len(), 1);
    assert_ne!(stored.get_heads(), old_heads);

    // A newcomer gets the new history only.
    net.connect(2, Scope::none().with(doc, Access::ReadOnly));
    net.run();
    let step = net.clients[2]
        .engine
        .want_document(doc, ActorId::from(vec![3; 16]));
    net.apply_client(2, step);
    net.run();
    let got = net.clients[2].engine.document(&doc).unwrap();
    assert_eq!(got.get_heads(), fresh.get_heads());
    assert_eq!(got.get_changes(&[]).len(), 1);
    assert_eq!(net.server.closes.len(), 1);
    assert_eq!(Net::heads(&net.server.engine, doc), fresh.get_heads());
}

#[test]
fn sealed_document_applies_no_peer_change_even_from_an_all_documents_writer() {
    let doc = doc_id(11);
    let mut net = Net::new(EngineLimits::default(), &["phone", "admin"]);
    net.connect(0, rw(doc));
    net.connect(1, Scope::all(Access::ReadWrite));
    let step = net.clients[0]
        .engine
        .insert_document(doc, team_doc(1, "enc"))
        .unwrap();
    net.apply_client(0, step);
    net.run();
    let step = net.clients[1]
        .engine
        .want_document(doc, ActorId::from(vec![8; 16]));
    net.apply_client(1, step);
    net.run();
    let sealed_heads = Net::heads(&net.server.engine, doc);
    assert_eq!(Net::heads(&net.clients[1].engine, doc), sealed_heads);

    net.server.engine.seal(doc);
    assert!(net.server.engine.is_sealed(&doc));
    let doc_writes = |net: &Net| {
        net.server
            .writes
            .iter()
            .filter(|w| !matches!(w, StorageWrite::SyncState { .. }))
            .count()
    };
    let writes_before = doc_writes(&net);
    // An open connection: read-only on the document from the seal on.
    net.edit(1, doc, "old-history", "signe distinctif");
    net.edit(0, doc, "late", "encounter");
    net.run();
    assert_eq!(Net::heads(&net.server.engine, doc), sealed_heads);
    assert_eq!(doc_writes(&net), writes_before);
    // A connection opened after the seal, with the same blanket grant: still nothing.
    net.disconnect(1);
    net.edit(1, doc, "offline", "again");
    net.connect(1, Scope::all(Access::ReadWrite));
    net.run();
    assert_eq!(Net::heads(&net.server.engine, doc), sealed_heads);
    assert_eq!(doc_writes(&net), writes_before);
    assert!(
        net.server
            .engine
            .document(&doc)
            .unwrap()
            .get(ROOT, "old-history")
            .unwrap()
            .is_none()
    );
    // Peers still receive the sealed document.
    assert!(
        net.clients[1]
            .engine
            .document(&doc)
            .unwrap()
            .get(ROOT, "enc")
            .unwrap()
            .is_some()
    );
    assert!(net.server.closes.is_empty());
}
