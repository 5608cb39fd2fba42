//! One bad peer (garbage, oversized frames, bad sync payloads, a DEFLATE bomb, a forged peer
//! id, too many documents) is closed alone, nothing of it is stored, and another
//! device keeps syncing meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automerge::sync::{Message, MessageVersion};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use carnet_server::ServerConfig;
use carnet_shared::doc;
use carnet_shared::ids::DocumentId;
use carnet_shared::wire::{Frame, Join, PROTOCOL_V1, PeerMetadata, SyncFrame};
use carnet_tests::{Device, HANG_GUARD, TestServer, encounter};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const T0: i64 = 1_769_119_200_000;

/// Makes a bad peer's input from its peer id.
type BadInput = Box<dyn Fn(&str) -> Vec<u8>>;

/// What the server did with a raw peer's input: the `error` frame it sent (if any) and the
/// close code.
#[derive(Debug)]
struct Outcome {
    error_frame: bool,
    close_code: Option<u16>,
}

/// Connects with `token`, joins as `peer_id`, sends `bad`, and reads until the close.
async fn raw_peer(server: &TestServer, token: &str, join_as: &str, bad: Vec<u8>) -> Outcome {
    let (mut socket, _) = connect_async(server.sync_url(token)).await.unwrap();
    let join = Frame::Join(Join {
        sender_id: join_as.to_owned(),
        peer_metadata: PeerMetadata::default(),
        supported_protocol_versions: Some(vec![PROTOCOL_V1.to_owned()]),
    });
    socket
        .send(WsMessage::Binary(join.encode().unwrap().into()))
        .await
        .unwrap();
    if !bad.is_empty() {
        // An oversized message may be cut off by the server before it is fully written.
        let _ = socket.send(WsMessage::Binary(bad.into())).await;
    }
    let mut outcome = Outcome {
        error_frame: false,
        close_code: None,
    };
    let read = async {
        while let Some(message) = socket.next().await {
            match message {
                Ok(WsMessage::Binary(bytes)) => {
                    if let Ok(Frame::Error(_)) = Frame::decode(&bytes) {
                        outcome.error_frame = true;
                    }
                }
                Ok(WsMessage::Close(frame)) => {
                    outcome.close_code = frame.map(|f| u16::from(f.code));
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    };
    tokio::time::timeout(HANG_GUARD, read).await.unwrap();
    outcome
}

fn sync_frame(peer: &str, doc: DocumentId, data: Vec<u8>) -> Vec<u8> {
    Frame::Sync(SyncFrame {
        sender_id: peer.to_owned(),
        target_id: "carnet-server".to_owned(),
        document_id: doc,
        data,
    })
    .encode()
    .unwrap()
}

/// A sync message whose only "change" is a truncated document chunk.
fn truncated_document_message() -> Vec<u8> {
    let mut d = AutoCommit::new();
    d.put(ROOT, "kind", "team").unwrap();
    d.commit();
    let mut bytes = d.save();
    bytes.truncate(bytes.len() / 2);
    Message {
        heads: d.get_heads(),
        need: Vec::new(),
        have: Vec::new(),
        changes: vec![bytes].into(),
        flags: None,
        version: MessageVersion::V1,
    }
    .encode()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_peer_is_closed_alone_while_another_device_keeps_syncing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await.unwrap();
    let night = server.night(1, 12).await.unwrap();
    let team = night.teams[0].doc;
    let good = server.enrol(&night.teams[0].codes[0]).await.unwrap();
    let mut device = Device::new(&good.peer_id, &good.token);
    device.connect(server.addr).await.unwrap();
    device.open(team).await.unwrap();

    let bomb = carnet_tests::bomb::deflate_bomb(64 << 20).unwrap();
    assert!(bomb.len() < ServerConfig::default().max_message_bytes);
    let oversized = vec![0xa1; ServerConfig::default().max_message_bytes + 1];
    let unknown_type = {
        let mut out = Vec::new();
        ciborium::into_writer(
            &ciborium::Value::Map(vec![(
                ciborium::Value::Text("type".into()),
                ciborium::Value::Text("frobnicate".into()),
            )]),
            &mut out,
        )
        .unwrap();
        out
    };
    let cases: Vec<(&str, BadInput, u16)> = vec![
        (
            "not CBOR",
            Box::new(|_: &str| vec![0xff, 0x00, 0x13, 0x37]),
            1002,
        ),
        (
            "unknown frame type",
            Box::new(move |_: &str| unknown_type.clone()),
            1002,
        ),
        (
            "garbage sync payload",
            Box::new(move |p: &str| sync_frame(p, team, b"\x42garbage".to_vec())),
            1002,
        ),
        (
            "zero-byte sync payload",
            Box::new(move |p: &str| sync_frame(p, team, Vec::new())),
            1002,
        ),
        (
            "truncated document",
            Box::new(move |p: &str| sync_frame(p, team, truncated_document_message())),
            1002,
        ),
        (
            "oversized frame",
            Box::new(move |_: &str| oversized.clone()),
            1009,
        ),
        (
            "DEFLATE bomb (64 MiB inflated)",
            Box::new(move |p: &str| sync_frame(p, team, bomb.clone())),
            1009,
        ),
    ];
    let before = server
        .open_store()
        .unwrap()
        .load_automerge(&team)
        .unwrap()
        .unwrap()
        .get_heads();
    let mut expected_heads = before;
    for (n, (what, bad, code)) in cases.iter().enumerate() {
        let bad_token = server.enrol(&night.teams[0].codes[n + 1]).await.unwrap();
        let outcome = raw_peer(
            &server,
            &bad_token.token,
            &bad_token.peer_id,
            bad(&bad_token.peer_id),
        )
        .await;
        assert_eq!(outcome.close_code, Some(*code), "{what}: {outcome:?}");
        if *what != "oversized frame" {
            assert!(outcome.error_frame, "{what}: an error frame comes first");
        }
        // The good device is still connected and its records are acknowledged.
        let e = encounter(&good.peer_id, n as u32, T0);
        device
            .edit(team, |d| doc::record_encounter(d, &e, T0))
            .await
            .unwrap();
        device.sync_until_acknowledged(team).await.unwrap();
        expected_heads = device.document(&team).unwrap().get_heads();
    }
    // Nothing from the bad peers was stored: the document is exactly the good device's.
    let stored = server
        .open_store()
        .unwrap()
        .load_automerge(&team)
        .unwrap()
        .unwrap();
    assert_eq!(stored.get_heads(), expected_heads);
    assert_eq!(
        doc::read_team(&stored).unwrap().encounters.len(),
        cases.len()
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_claiming_another_peer_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await.unwrap();
    let night = server.night(1, 1).await.unwrap();
    let enrolled = server.enrol(&night.teams[0].codes[0]).await.unwrap();
    let outcome = raw_peer(&server, &enrolled.token, "coordinator-forged", Vec::new()).await;
    assert!(outcome.error_frame, "{outcome:?}");
    assert_eq!(outcome.close_code, Some(1008));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_documents_close_only_that_peer() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::default();
    config.sync_limits.max_documents_per_peer = 2;
    let server = TestServer::start_with(dir.path(), config).await.unwrap();
    let night = server.night(3, 1).await.unwrap();
    let team = night.teams[0].doc;
    let good = server.enrol(&night.teams[0].codes[0]).await.unwrap();
    let mut good = Device::new(&good.peer_id, &good.token);
    good.connect(server.addr).await.unwrap();
    good.open(team).await.unwrap();

    // A coordinator opening more documents than a peer may hold at once.
    let hq = server
        .coordinator(&night.night_id, "read-only", "read-only")
        .await
        .unwrap();
    let mut hq = Device::new(&hq.peer_id, &hq.token);
    hq.connect(server.addr).await.unwrap();
    hq.open(night.teams[0].doc).await.unwrap();
    hq.open(night.teams[1].doc).await.unwrap();
    assert!(matches!(
        hq.open(night.teams[2].doc).await,
        Err(carnet_tests::DeviceError::Closed { code: Some(1008) })
    ));
    assert!(!hq.is_online());
    // The good device is unaffected.
    let e = encounter("good", 2, T0);
    good.edit(team, |d| doc::record_encounter(d, &e, T0))
        .await
        .unwrap();
    good.sync_until_acknowledged(team).await.unwrap();
    let stored = server
        .open_store()
        .unwrap()
        .load_automerge(&team)
        .unwrap()
        .unwrap();
    assert_eq!(doc::read_team(&stored).unwrap().encounters.len(), 1);
    server.stop().await.unwrap();
}
