//! Frame handling: handshake, refusals, malformed input, gossip frames, JS-made frames.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use super::*;
use crate::wire::Peer;

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
    let fixtures = include_str!("../../wire/fixtures/js_frames.txt");
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
