#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use super::*;
use proptest::prelude::*;

/// Frames encoded by automerge-repo 2.5.6's own cbor helper (cbor-x), produced by
/// `fixtures/gen.mjs` and `fixtures/gen2.mjs`.
const JS_FRAMES: &str = include_str!("fixtures/js_frames.txt");

fn js_frame(name: &str) -> Vec<u8> {
    let line = JS_FRAMES
        .lines()
        .find(|l| l.split_once(' ').map(|(n, _)| n) == Some(name))
        .unwrap_or_else(|| panic!("no fixture {name}"));
    hex::decode(line.split_once(' ').unwrap().1).unwrap()
}

fn doc_id() -> DocumentId {
    // gen.mjs uses the bytes 1..=16.
    let mut b = [0u8; 16];
    for (i, x) in b.iter_mut().enumerate() {
        *x = i as u8 + 1;
    }
    DocumentId::from_bytes(b)
}

#[test]
fn decodes_js_join_and_peer() {
    let Frame::Join(join) = Frame::decode(&js_frame("join")).unwrap() else {
        panic!("not a join")
    };
    assert_eq!(join.sender_id, "client-1");
    assert_eq!(join.peer_metadata.storage_id.as_deref(), Some("st-1"));
    assert_eq!(join.peer_metadata.is_ephemeral, Some(false));
    assert_eq!(join.supported_protocol_versions, Some(vec!["1".to_owned()]));

    let Frame::Peer(peer) = Frame::decode(&js_frame("peer")).unwrap() else {
        panic!("not a peer")
    };
    assert_eq!(peer.selected_protocol_version, PROTOCOL_V1);
    assert_eq!(peer.target_id, "client-1");
}

#[test]
fn decodes_js_peer_with_undefined_metadata_and_join_without_versions() {
    let Frame::Peer(peer) = Frame::decode(&js_frame("peer_undefined_meta")).unwrap() else {
        panic!("not a peer")
    };
    assert_eq!(peer.peer_metadata, PeerMetadata::default());
    let Frame::Join(join) = Frame::decode(&js_frame("join_no_versions")).unwrap() else {
        panic!("not a join")
    };
    assert_eq!(join.supported_protocol_versions, None);
    assert!(matches!(
        Frame::decode(&js_frame("join_no_meta")).unwrap(),
        Frame::Join(_)
    ));
}

#[test]
fn decodes_js_sync_request_and_doc_unavailable_with_real_sync_payloads() {
    for name in ["sync", "request"] {
        let frame = Frame::decode(&js_frame(name)).unwrap();
        let (Frame::Sync(f) | Frame::Request(f)) = &frame else {
            panic!("not a sync frame")
        };
        assert_eq!(frame.type_name(), name);
        assert_eq!(f.document_id, doc_id());
        // The payload is a genuine automerge sync message.
        automerge::sync::Message::decode(&f.data).unwrap();
    }
    let Frame::DocUnavailable(f) = Frame::decode(&js_frame("doc_unavailable")).unwrap() else {
        panic!("not doc-unavailable")
    };
    assert_eq!(f.document_id, doc_id());
}

#[test]
fn decodes_js_gossip_frames() {
    let Frame::Ephemeral(e) = Frame::decode(&js_frame("ephemeral")).unwrap() else {
        panic!()
    };
    assert_eq!((e.count, e.session_id.as_str()), (3, "sess-1"));
    let Frame::RemoteSubscriptionChange(r) =
        Frame::decode(&js_frame("remote_subscription_change")).unwrap()
    else {
        panic!()
    };
    assert_eq!(r.add, Some(vec!["st-2".to_owned()]));
    assert_eq!(r.remove, Some(vec!["st-3".to_owned()]));
    let Frame::RemoteHeadsChanged(h) = Frame::decode(&js_frame("remote_heads_changed")).unwrap()
    else {
        panic!()
    };
    // cbor-x wrote this timestamp as a float64.
    assert_eq!(h.new_heads["st-2"].timestamp, 1_764_345_600_123);
    assert_eq!(h.new_heads["st-2"].heads.len(), 1);
    assert!(matches!(
        Frame::decode(&js_frame("leave")).unwrap(),
        Frame::Leave(_)
    ));
    assert!(matches!(
        Frame::decode(&js_frame("error")).unwrap(),
        Frame::Error(_)
    ));
}

#[test]
fn every_js_fixture_re_encodes_to_the_same_frame() {
    for line in JS_FRAMES.lines() {
        let (name, hex_bytes) = line.split_once(' ').unwrap();
        let bytes = hex::decode(hex_bytes).unwrap();
        match Frame::decode(&bytes) {
            Ok(frame) => {
                let again = Frame::decode(&frame.encode().unwrap()).unwrap();
                assert_eq!(again, frame, "{name}");
            }
            Err(e) => assert_eq!((name, e), ("unknown_type", WireError::UnknownType)),
        }
    }
}

#[test]
fn data_is_encoded_as_a_cbor_byte_string() {
    let frame = Frame::Sync(SyncFrame {
        sender_id: "s".into(),
        target_id: "c".into(),
        document_id: doc_id(),
        data: vec![0x42, 1, 2, 3],
    });
    let bytes = frame.encode().unwrap();
    let value: ciborium::Value = ciborium::from_reader(&bytes[..]).unwrap();
    let map = value.as_map().unwrap();
    assert_eq!(map[0].0.as_text(), Some("type"));
    let data = map
        .iter()
        .find(|(k, _)| k.as_text() == Some("data"))
        .unwrap();
    assert_eq!(data.1.as_bytes(), Some(&vec![0x42, 1, 2, 3]));
}

#[test]
fn rejects_malformed_frames_with_typed_errors() {
    assert_eq!(Frame::decode(&[0xff, 0x00]), Err(WireError::NotCbor));
    assert_eq!(Frame::decode(&[]), Err(WireError::NotCbor));
    // A CBOR integer, not a map.
    assert_eq!(Frame::decode(&[0x01]), Err(WireError::NoType));
    let mut sync = js_frame("sync");
    // Corrupt the bs58check document id: checksum fails.
    let pos = sync.windows(4).position(|w| w == b"pEbm").unwrap();
    sync[pos] = b'q';
    assert_eq!(Frame::decode(&sync), Err(WireError::BadFields("sync")));
}

fn arb_frame() -> impl Strategy<Value = Frame> {
    let peer = "[a-z0-9-]{0,12}";
    let doc = any::<[u8; 16]>().prop_map(DocumentId::from_bytes);
    let data = proptest::collection::vec(any::<u8>(), 0..64);
    prop_oneof![
        (
            peer,
            proptest::option::of(proptest::collection::vec("[0-9]", 0..3))
        )
            .prop_map(|(s, v)| Frame::Join(Join {
                sender_id: s,
                peer_metadata: PeerMetadata {
                    storage_id: Some("st".into()),
                    is_ephemeral: None
                },
                supported_protocol_versions: v,
            })),
        (peer, peer, doc.clone(), data.clone()).prop_map(|(s, t, d, data)| Frame::Sync(
            SyncFrame {
                sender_id: s,
                target_id: t,
                document_id: d,
                data
            }
        )),
        (peer, peer, doc.clone(), data).prop_map(|(s, t, d, data)| Frame::Request(SyncFrame {
            sender_id: s,
            target_id: t,
            document_id: d,
            data
        })),
        (peer, peer, doc).prop_map(|(s, t, d)| Frame::DocUnavailable(DocUnavailable {
            sender_id: s,
            target_id: t,
            document_id: d
        })),
    ]
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Frame::decode(&bytes);
    }

    #[test]
    fn decoding_mutated_js_frames_never_panics(idx in 0usize..12, pos in any::<usize>(), byte in any::<u8>()) {
        let line = JS_FRAMES.lines().nth(idx % JS_FRAMES.lines().count()).unwrap();
        let mut bytes = hex::decode(line.split_once(' ').unwrap().1).unwrap();
        let at = pos % bytes.len();
        bytes[at] = byte;
        let _ = Frame::decode(&bytes);
        let _ = Frame::decode(&bytes[..at]);
    }

    #[test]
    fn frames_round_trip(frame in arb_frame()) {
        let bytes = frame.encode().unwrap();
        prop_assert_eq!(Frame::decode(&bytes).unwrap(), frame);
    }
}
