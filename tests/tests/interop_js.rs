//! Interop with the official JS automerge-repo client (tests/js, `npm ci` first) against OUR
//! server: JS writes and Rust reads, Rust writes and JS reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automerge::{ReadDoc, ScalarValue, Value};
use carnet_shared::doc;
use carnet_shared::model::{AgeBand, ObservedSex, SpaceType, TallyDimension};
use carnet_tests::js::run_script;
use carnet_tests::{Device, TestServer, encounter};

const T0: i64 = 1_769_119_200_000;

fn scalar(doc: &automerge::Automerge, key: &str) -> Option<ScalarValue> {
    match doc.get(automerge::ROOT, key).unwrap() {
        Some((Value::Scalar(s), _)) => Some(s.into_owned()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_js_client_edits_a_team_document_and_rust_reads_it_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await.unwrap();
    let night = server.night(1, 2).await.unwrap();
    let team = &night.teams[0];
    let js = server.enrol(&team.codes[0]).await.unwrap();
    let out = run_script(
        "client-write.mjs",
        &[
            "--url".into(),
            server.sync_url(&js.token),
            "--peer-id".into(),
            js.peer_id.clone(),
            "--doc".into(),
            team.doc.url(),
            "--set".into(),
            "jsNote=écrit par JS".into(),
            "--set".into(),
            "jsCount=3".into(),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        out["documentId"].as_str(),
        Some(team.doc.to_bs58check().as_str())
    );

    // client-write returns once the server acknowledged: it is in the file.
    let stored = server
        .open_store()
        .unwrap()
        .load_automerge(&team.doc)
        .unwrap()
        .unwrap();
    assert_eq!(
        scalar(&stored, "jsNote"),
        Some(ScalarValue::Str("écrit par JS".into()))
    );
    assert_eq!(scalar(&stored, "jsCount"), Some(ScalarValue::Int(3)));
    // The shared model still reads the team document JS edited.
    assert_eq!(doc::read_team(&stored).unwrap().header.name, "Équipe 1");

    // And a Rust device of the team syncs it through the server.
    let rust = server.enrol(&team.codes[1]).await.unwrap();
    let mut device = Device::new(&rust.peer_id, &rust.token);
    device.connect(server.addr).await.unwrap();
    device.open(team.doc).await.unwrap();
    assert_eq!(
        scalar(device.document(&team.doc).unwrap(), "jsNote"),
        Some(ScalarValue::Str("écrit par JS".into()))
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_device_writes_and_the_js_client_reads_through_our_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await.unwrap();
    let night = server.night(1, 2).await.unwrap();
    let team = &night.teams[0];
    let rust = server.enrol(&team.codes[0]).await.unwrap();
    let mut device = Device::new(&rust.peer_id, &rust.token);
    device.connect(server.addr).await.unwrap();
    device.open(team.doc).await.unwrap();
    let e = encounter(&rust.peer_id, 1, T0);
    device
        .edit(team.doc, |d| doc::record_encounter(d, &e, T0))
        .await
        .unwrap();
    let dim = TallyDimension {
        space_type: SpaceType::Street,
        sex: ObservedSex::Unknown,
        age_band: AgeBand::Unknown,
    };
    device
        .edit(team.doc, |d| doc::add_to_tally(d, dim, 2, T0))
        .await
        .unwrap();
    device.sync_until_acknowledged(team.doc).await.unwrap();

    let js = server.enrol(&team.codes[1]).await.unwrap();
    let out = run_script(
        "client-read.mjs",
        &[
            "--url".into(),
            server.sync_url(&js.token),
            "--peer-id".into(),
            js.peer_id.clone(),
            "--doc".into(),
            team.doc.url(),
        ],
    )
    .await
    .unwrap();
    let read = &out["doc"];
    assert_eq!(read["kind"], "team");
    assert_eq!(read["name"], "Équipe 1");
    let key = e.id.to_string();
    assert_eq!(read["encounters"][&key]["placeDetail"], "rue 1");
    assert_eq!(
        read["encounters"][&key]["sourceDevice"],
        rust.peer_id.as_str()
    );
    assert_eq!(read["tallies"][&dim.key()], 2);
    let heads: Vec<String> = out["heads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_owned())
        .collect();
    let ours: Vec<String> = device
        .document(&team.doc)
        .unwrap()
        .get_heads()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(heads, ours);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_js_client_with_a_write_everywhere_scope_creates_a_document_on_our_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await.unwrap();
    let admin = server.admin().await.unwrap();
    let out = run_script(
        "client-write.mjs",
        &[
            "--url".into(),
            server.sync_url(&admin.token),
            "--peer-id".into(),
            admin.peer_id.clone(),
            "--set".into(),
            "title=Kit canicule".into(),
        ],
    )
    .await
    .unwrap();
    let id = carnet_shared::ids::DocumentId::parse(out["documentId"].as_str().unwrap()).unwrap();
    let stored = server
        .open_store()
        .unwrap()
        .load_automerge(&id)
        .unwrap()
        .expect("the new document is stored");
    assert_eq!(
        scalar(&stored, "title"),
        Some(ScalarValue::Str("Kit canicule".into()))
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_js_client_claiming_another_peer_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await.unwrap();
    let night = server.night(1, 1).await.unwrap();
    let team = &night.teams[0];
    let js = server.enrol(&team.codes[0]).await.unwrap();
    let result = run_script(
        "client-read.mjs",
        &[
            "--url".into(),
            server.sync_url(&js.token),
            "--peer-id".into(),
            "someone-else".into(),
            "--doc".into(),
            team.doc.url(),
            "--timeout".into(),
            "5000".into(),
        ],
    )
    .await;
    assert!(result.is_err(), "{result:?}");
    server.stop().await.unwrap();
}
