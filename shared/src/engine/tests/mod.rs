#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

//! A server engine and client engines exchanging encoded frames through an in-memory router.

use std::collections::VecDeque;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ROOT, ReadDoc};
use proptest::prelude::*;

use super::*;
use crate::wire::{Ephemeral, Leave, RemoteHeadsChanged, RemoteSubscriptionChange};

mod frames;
mod scenarios;

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
            StorageWrite::Replace { bytes: b, .. } => bytes = b.clone(),
            StorageWrite::SyncState { .. } => {}
        }
    }
    Automerge::load(&bytes).unwrap()
}

fn rw(doc: DocumentId) -> Scope {
    Scope::none().with(doc, Access::ReadWrite)
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
