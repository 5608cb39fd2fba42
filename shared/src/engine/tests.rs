#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

//! A server engine and client engines exchanging encoded frames through an in-memory router.

use std::collections::VecDeque;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ROOT, ReadDoc};
use proptest::prelude::*;

use super::*;
use crate::wire::{Ephemeral, Leave, RemoteHeadsChanged, RemoteSubscriptionChange};

const SERVER: &str = "carnet-server";

fn doc_id(n: u8) -> DocumentId {
    DocumentId::from_bytes([n; 16])
}

fn server_engine(limits: EngineLimits) -> Engine {
    Engine::new(EngineConfig {
        peer_id: SERVER.into(),
        role: Role::Server,
        peer_metadata: PeerMetadata {
            storage_id: Some("server-storage".into()),
            is_ephemeral: Some(false),
        },
        limits,
    })
}

fn client_engine(name: &str) -> Engine {
    Engine::new(EngineConfig {
        peer_id: name.into(),
        role: Role::Client,
        peer_metadata: PeerMetadata::default(),
        limits: EngineLimits::default(),
    })
}

/// A team document with one encounter, made with a device actor.
fn team_doc(device: u8, encounter: &str) -> Automerge {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(vec![device; 16]));
    doc.put(ROOT, "schema", 1).unwrap();
    doc.put(ROOT, encounter, "street").unwrap();
    doc.commit();
    doc.document().clone()
}

struct Node {
    engine: Engine,
    writes: Vec<StorageWrite>,
    events: Vec<Event>,
    closes: Vec<Close>,
    /// Stored sync states by (document, remote storage id), as the store keeps them.
    sync_states: std::collections::HashMap<(DocumentId, String), Vec<u8>>,
    restored_states: usize,
}

impl Node {
    fn new(engine: Engine) -> Self {
        Self {
            engine,
            writes: Vec::new(),
            events: Vec::new(),
            closes: Vec::new(),
            sync_states: Default::default(),
            restored_states: 0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Dest {
    Server { from_client: usize },
    Client(usize),
}

/// Client `i` talks to the server over server-side connection `i`; clients use conn 0.
struct Net {
    server: Node,
    clients: Vec<Node>,
    queue: VecDeque<(Dest, Vec<u8>)>,
}

impl Net {
    fn new(limits: EngineLimits, clients: &[&str]) -> Self {
        Self {
            server: Node::new(server_engine(limits)),
            clients: clients
                .iter()
                .map(|n| Node::new(client_engine(n)))
                .collect(),
            queue: VecDeque::new(),
        }
    }

    fn connect(&mut self, i: usize, scope: Scope) {
        let peer = self.clients[i].engine.config().peer_id.clone();
        let step = self.server.engine.connect(
            i as ConnId,
            ConnectOptions {
                bound_peer: Some(peer),
                scope,
            },
        );
        self.apply_server(step);
        let step = self.clients[i].engine.connect(
            0,
            ConnectOptions {
                bound_peer: None,
                scope: Scope::all(Access::ReadWrite),
            },
        );
        self.apply_client(i, step);
    }

    fn disconnect(&mut self, i: usize) {
        self.server.engine.disconnect(i as ConnId);
        self.clients[i].engine.disconnect(0);
        self.queue.retain(|(d, _)| match d {
            Dest::Server { from_client } => *from_client != i,
            Dest::Client(c) => *c != i,
        });
    }

    fn apply_server(&mut self, step: Step) {
        // Writes first, then frames: the driver contract.
        for w in &step.writes {
            if let StorageWrite::SyncState { doc, peer, bytes } = w {
                self.server
                    .sync_states
                    .insert((*doc, peer.clone()), bytes.clone());
            }
        }
        self.server.writes.extend(step.writes);
        self.server.events.extend(step.events);
        for o in step.outbound {
            let bytes = o.frame.encode().unwrap();
            self.queue.push_back((Dest::Client(o.conn as usize), bytes));
        }
        for c in step.closes {
            self.clients[c.conn as usize].engine.disconnect(0);
            self.server.closes.push(c);
        }
    }

    fn apply_client(&mut self, i: usize, step: Step) {
        self.clients[i].writes.extend(step.writes);
        self.clients[i].events.extend(step.events);
        for o in step.outbound {
            let bytes = o.frame.encode().unwrap();
            self.queue
                .push_back((Dest::Server { from_client: i }, bytes));
        }
        for c in step.closes {
            self.server.engine.disconnect(i as ConnId);
            self.clients[i].closes.push(c);
        }
    }

    /// Delivers one queued frame; false when the queue is empty.
    fn deliver_one(&mut self) -> bool {
        let Some((dest, bytes)) = self.queue.pop_front() else {
            return false;
        };
        match dest {
            Dest::Server { from_client } => {
                // As the server driver does: decode, load what the frame needs, handle.
                let conn = from_client as ConnId;
                let step = match self.server.engine.decode_frame(&bytes) {
                    Ok(frame) => {
                        if let Some(key) = self.server.engine.needs_sync_state(conn, &frame)
                            && let Some(state) = self.server.sync_states.get(&key)
                        {
                            self.server
                                .engine
                                .load_sync_state(conn, key.0, state)
                                .unwrap();
                            self.server.restored_states += 1;
                        }
                        self.server.engine.handle_decoded(conn, frame)
                    }
                    Err(_) => self.server.engine.handle_frame(conn, &bytes),
                };
                self.apply_server(step);
            }
            Dest::Client(i) => {
                let step = self.clients[i].engine.handle_frame(0, &bytes);
                self.apply_client(i, step);
            }
        }
        true
    }

    fn run(&mut self) {
        for _ in 0..10_000 {
            if !self.deliver_one() {
                return;
            }
        }
        panic!("sync did not quiesce");
    }

    fn edit(&mut self, i: usize, doc: DocumentId, key: &str, value: &str) {
        let (_, step) = self.clients[i]
            .engine
            .with_doc_mut(doc, |d| {
                let mut tx = d.transaction();
                tx.put(ROOT, key, value).unwrap();
                tx.commit();
            })
            .unwrap();
        self.apply_client(i, step);
    }

    fn heads(engine: &Engine, doc: DocumentId) -> Vec<ChangeHash> {
        engine
            .document(&doc)
            .map(|d| d.get_heads())
            .unwrap_or_default()
    }
}

/// Rebuilds a document from the chunks a node asked to store, as the store would.
fn from_storage(writes: &[StorageWrite], doc: DocumentId) -> Automerge {
    let mut bytes = Vec::new();
    for w in writes.iter().filter(|w| *w.doc() == doc) {
        match w {
            StorageWrite::Incremental { bytes: b, .. }
            | StorageWrite::Snapshot { bytes: b, .. } => bytes.extend_from_slice(b),
            StorageWrite::SyncState { .. } => {}
        }
    }
    Automerge::load(&bytes).unwrap()
}

fn rw(doc: DocumentId) -> Scope {
    Scope::none().with(doc, Access::ReadWrite)
}

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

/// A server with one joined client on conn 1; returns the server and its step log.
fn joined_server(limits: EngineLimits) -> Engine {
    let mut server = server_engine(limits);
    let _ = server.connect(
        1,
        ConnectOptions {
            bound_peer: Some("phone".into()),
            scope: Scope::all(Access::ReadWrite),
        },
    );
    let join = Frame::Join(Join {
        sender_id: "phone".into(),
        peer_metadata: PeerMetadata::default(),
        supported_protocol_versions: Some(vec!["1".into()]),
    });
    let step = server.handle_frame(1, &join.encode().unwrap());
    assert!(matches!(step.outbound[0].frame, Frame::Peer(_)));
    server
}

fn assert_closed_with(step: &Step, reason: CloseReason) {
    assert!(step.writes.is_empty(), "nothing stored");
    assert!(
        matches!(
            step.outbound.last().map(|o| &o.frame),
            Some(Frame::Error(_))
        ),
        "error frame first"
    );
    assert_eq!(step.closes, vec![Close { conn: 1, reason }]);
}

#[test]
fn malformed_frames_close_the_connection_and_store_nothing() {
    let mut server = joined_server(EngineLimits::default());
    let step = server.handle_frame(1, &[0xff, 0x13, 0x37]);
    assert_closed_with(&step, CloseReason::Malformed(WireError::NotCbor));
    assert!(!server.is_open(1));
    // Later frames on the closed connection are ignored.
    assert!(server.handle_frame(1, &[0x00]).is_empty());

    let mut server = joined_server(EngineLimits::default());
    let bad_sync = Frame::Sync(SyncFrame {
        sender_id: "phone".into(),
        target_id: SERVER.into(),
        document_id: doc_id(1),
        data: vec![0x42, 0xff, 0xff],
    });
    let step = server.handle_frame(1, &bad_sync.encode().unwrap());
    assert_closed_with(&step, CloseReason::InvalidSyncMessage);
    assert!(!server.has_document(&doc_id(1)));
}

#[test]
fn handshake_refusals() {
    let join = |sender: &str, versions: Vec<&str>| {
        Frame::Join(Join {
            sender_id: sender.into(),
            peer_metadata: PeerMetadata::default(),
            supported_protocol_versions: Some(versions.into_iter().map(String::from).collect()),
        })
        .encode()
        .unwrap()
    };
    let opts = || ConnectOptions {
        bound_peer: Some("phone".into()),
        scope: Scope::all(Access::ReadWrite),
    };
    let mut server = server_engine(EngineLimits::default());
    let _ = server.connect(1, opts());
    assert_closed_with(
        &server.handle_frame(1, &join("someone-else", vec!["1"])),
        CloseReason::PeerIdMismatch,
    );
    let _ = server.connect(1, opts());
    assert_closed_with(
        &server.handle_frame(1, &join("phone", vec!["2"])),
        CloseReason::UnsupportedProtocol,
    );
    let _ = server.connect(1, opts());
    let leave = Frame::Leave(Leave {
        sender_id: "phone".into(),
    });
    let step = server.handle_frame(1, &leave.encode().unwrap());
    assert!(
        step.outbound.is_empty(),
        "no error frame for a peer that leaves"
    );
    assert_eq!(step.closes[0].reason, CloseReason::PeerLeft);
}

#[test]
fn frames_before_join_and_spoofed_senders_are_refused() {
    let mut server = server_engine(EngineLimits::default());
    let _ = server.connect(
        1,
        ConnectOptions {
            bound_peer: None,
            scope: Scope::all(Access::ReadWrite),
        },
    );
    let sync = |sender: &str| {
        Frame::Request(SyncFrame {
            sender_id: sender.into(),
            target_id: SERVER.into(),
            document_id: doc_id(1),
            data: automerge::sync::Message {
                heads: vec![],
                need: vec![],
                have: vec![],
                changes: automerge::sync::ChunkList::empty(),
                flags: None,
                version: automerge::sync::MessageVersion::V1,
            }
            .encode(),
        })
        .encode()
        .unwrap()
    };
    assert_closed_with(
        &server.handle_frame(1, &sync("phone")),
        CloseReason::NotJoined,
    );
    let mut server = joined_server(EngineLimits::default());
    assert_closed_with(
        &server.handle_frame(1, &sync("not-phone")),
        CloseReason::PeerIdMismatch,
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
fn gossip_frames_are_accepted_and_leave_closes_quietly() {
    let mut server = joined_server(EngineLimits::default());
    let frames = [
        Frame::Ephemeral(Ephemeral {
            sender_id: "phone".into(),
            target_id: SERVER.into(),
            count: 1,
            session_id: "s".into(),
            document_id: doc_id(1),
            data: vec![0xa0],
        }),
        Frame::RemoteSubscriptionChange(RemoteSubscriptionChange {
            sender_id: "phone".into(),
            target_id: SERVER.into(),
            add: Some(vec!["x".into()]),
            remove: None,
        }),
        Frame::RemoteHeadsChanged(RemoteHeadsChanged {
            sender_id: "phone".into(),
            target_id: SERVER.into(),
            document_id: doc_id(1),
            new_heads: Default::default(),
        }),
    ];
    for f in frames {
        assert!(server.handle_frame(1, &f.encode().unwrap()).is_empty());
    }
    assert!(server.is_open(1));
    let step = server.handle_frame(
        1,
        &Frame::Leave(Leave {
            sender_id: "phone".into(),
        })
        .encode()
        .unwrap(),
    );
    assert!(step.outbound.is_empty());
    assert_eq!(
        step.closes,
        vec![Close {
            conn: 1,
            reason: CloseReason::PeerLeft
        }]
    );
}

#[test]
fn needs_document_only_for_granted_documents_the_engine_lacks() {
    let server = joined_server(EngineLimits::default());
    let frame = |doc| {
        Frame::Sync(SyncFrame {
            sender_id: "phone".into(),
            target_id: SERVER.into(),
            document_id: doc,
            data: vec![],
        })
    };
    assert_eq!(server.needs_document(1, &frame(doc_id(1))), Some(doc_id(1)));
    assert_eq!(server.needs_document(2, &frame(doc_id(1))), None);
    let mut server = server;
    let _ = server.set_scope(1, Scope::none());
    assert_eq!(server.needs_document(1, &frame(doc_id(1))), None);
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn arbitrary_frames_never_panic_the_server(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut server = joined_server(EngineLimits::default());
        let step = server.handle_frame(1, &bytes);
        prop_assert!(step.writes.is_empty());
    }
}

/// Frames produced by automerge-repo 2.5.6 (see `wire/fixtures/gen.mjs`) drive the server.
#[test]
fn js_client_frames_drive_the_server() {
    let fixtures = include_str!("../wire/fixtures/js_frames.txt");
    let js = |name: &str| {
        let line = fixtures
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap();
        hex::decode(line.split_once(' ').unwrap().1).unwrap()
    };
    let mut id = [0u8; 16];
    for (i, b) in id.iter_mut().enumerate() {
        *b = i as u8 + 1;
    }
    let doc = DocumentId::from_bytes(id);
    let mut server = server_engine(EngineLimits::default());
    let _ = server.connect(
        1,
        ConnectOptions {
            bound_peer: Some("client-1".into()),
            scope: rw(doc),
        },
    );
    let step = server.handle_frame(1, &js("join"));
    let Frame::Peer(peer) = &step.outbound[0].frame else {
        panic!("no peer answer")
    };
    assert_eq!(
        (
            peer.target_id.as_str(),
            peer.selected_protocol_version.as_str()
        ),
        ("client-1", "1")
    );
    assert_eq!(
        server.remote_metadata(1).unwrap().storage_id.as_deref(),
        Some("st-1")
    );
    // The JS client asks for a document the server does not have.
    let step = server.handle_frame(1, &js("request"));
    assert!(matches!(
        step.outbound[..],
        [Outbound {
            frame: Frame::DocUnavailable(_),
            ..
        }]
    ));
    assert!(!server.has_document(&doc));
    // It then offers its own copy: the read-write scope lets the server take it.
    let step = server.handle_frame(1, &js("sync"));
    assert!(step.closes.is_empty());
    assert!(matches!(
        step.outbound[..],
        [Outbound {
            frame: Frame::Sync(_),
            ..
        }]
    ));
    assert!(server.has_document(&doc));
}

/// Prints frames as our encoder writes them, for checking with cbor-x by hand
/// (`cargo test -p carnet-shared print_rust_frames -- --ignored --nocapture`).
#[test]
#[ignore]
fn print_rust_frames() {
    let mut server = joined_server(EngineLimits::default());
    let step = server.set_scope(1, Scope::none());
    assert!(step.is_empty());
    let frames = [
        Frame::Peer(Peer {
            sender_id: SERVER.into(),
            peer_metadata: PeerMetadata {
                storage_id: Some("st".into()),
                is_ephemeral: Some(false),
            },
            selected_protocol_version: "1".into(),
            target_id: "phone".into(),
        }),
        Frame::Sync(SyncFrame {
            sender_id: SERVER.into(),
            target_id: "phone".into(),
            document_id: doc_id(1),
            data: team_doc(1, "enc").save(),
        }),
        Frame::DocUnavailable(DocUnavailable {
            sender_id: SERVER.into(),
            target_id: "phone".into(),
            document_id: doc_id(1),
        }),
    ];
    for f in frames {
        println!("{} {}", f.type_name(), hex::encode(f.encode().unwrap()));
    }
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
        vec![(doc, "phone-storage".to_owned())],
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
