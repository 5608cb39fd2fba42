//! The `net` client driver against the official automerge-repo 2.5.6 reference server
//! (`tests/js/server.mjs`, Node), with the official JS client scripts on the other side.
//! Needs `node` and `cd tests/js && npm ci` (scripts/install-deps.sh does it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod net_common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutomergeError, ROOT, ReadDoc, ScalarValue, Value};
use carnet_shared::ids::DocumentId;
use carnet_shared::net::{Backoff, Client, ClientConfig, ClientHandle};
use carnet_shared::store::Store;
use net_common::{eventually, wait_status};
use serde_json::Value as Json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/js")
}

fn require_js() {
    assert!(
        js_dir()
            .join("node_modules/@automerge/automerge-repo")
            .is_dir(),
        "the JS reference peers are not installed: run `cd tests/js && npm ci`"
    );
}

/// The reference server; killed on drop.
struct JsServer {
    child: Child,
    port: u16,
}

impl JsServer {
    async fn start() -> Self {
        require_js();
        let mut child = Command::new("node")
            .args(["server.mjs", "--port", "0", "--max-seconds", "120"])
            .current_dir(js_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(net_common::PATIENCE, lines.next_line())
            .await
            .expect("server start")
            .unwrap()
            .expect("a port line");
        let port = serde_json::from_str::<Json>(&line).unwrap()["port"]
            .as_u64()
            .unwrap();
        Self {
            child,
            port: u16::try_from(port).unwrap(),
        }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/sync", self.port)
    }
}

impl Drop for JsServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Runs a JS client script and returns its JSON line.
async fn js(script: &str, args: &[String]) -> Json {
    let out = Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(js_dir())
        .kill_on_drop(true)
        .output()
        .await
        .expect("node");
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

async fn client(dir: &tempfile::TempDir, url: &str, docs: Vec<DocumentId>) -> ClientHandle {
    let mut config =
        ClientConfig::new(url, None, "carnet-device-1", ActorId::from([1u8; 16]), docs);
    config.backoff = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
        ..Backoff::default()
    };
    let store = Store::open(dir.path().join("device.sqlite3")).unwrap();
    Client::start(config, store).await.unwrap()
}

fn str_at(doc: &automerge::Automerge, key: &str) -> Option<String> {
    match doc.get(ROOT, key).ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_written_by_our_client_is_read_by_the_js_client() {
    let server = JsServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let c = client(&dir, &server.url(), vec![]).await;
    let doc = DocumentId::from_bytes(*uuid::Uuid::now_v7().as_bytes());
    c.create_document(doc, |tx| -> Result<(), AutomergeError> {
        tx.put(ROOT, "schema", 1)?;
        tx.put(ROOT, "night", "2026-01-22")?;
        tx.put(ROOT, "seen", ScalarValue::counter(3))
    })
    .await
    .unwrap()
    .unwrap();
    let changed = c
        .change(doc, |tx| tx.increment(ROOT, "seen", 2))
        .await
        .unwrap()
        .unwrap();
    // The JS server's own sync messages acknowledge it.
    wait_status(&c, "acknowledged by the JS server", |s| {
        s.documents.get(&doc).is_some_and(|d| d.server_has_all)
    })
    .await;

    let read = js(
        "client-read.mjs",
        &[
            "--url".into(),
            format!("ws://127.0.0.1:{}/", server.port),
            "--doc".into(),
            doc.url(),
        ],
    )
    .await;
    assert_eq!(read["doc"]["night"], "2026-01-22");
    assert_eq!(read["doc"]["seen"], 5);
    assert_eq!(read["doc"]["schema"], 1);
    let heads: Vec<String> = changed.heads.iter().map(|h| h.to_string()).collect();
    assert_eq!(read["heads"], serde_json::json!(heads));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_written_by_the_js_client_is_read_and_followed_by_ours() {
    let server = JsServer::start().await;
    let written = js(
        "client-write.mjs",
        &[
            "--url".into(),
            server.url(),
            "--set".into(),
            "sector=Paris 10e".into(),
            "--set".into(),
            r#"tally={"$counter": 4}"#.into(),
        ],
    )
    .await;
    let doc = DocumentId::parse_url(written["url"].as_str().unwrap()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let c = client(&dir, &server.url(), vec![doc]).await;
    eventually("the JS document arrived", || async {
        c.read(doc, |d| str_at(d, "sector")).await.flatten()
    })
    .await;
    assert_eq!(
        c.read(doc, |d| str_at(d, "sector"))
            .await
            .flatten()
            .as_deref(),
        Some("Paris 10e")
    );
    // Received data is stored on the device before anything is acknowledged.
    let stored = Store::open(dir.path().join("device.sqlite3"))
        .unwrap()
        .load_automerge(&doc)
        .unwrap()
        .unwrap();
    assert_eq!(str_at(&stored, "sector").as_deref(), Some("Paris 10e"));

    // A later JS write to the same document reaches our connected client.
    js(
        "client-write.mjs",
        &[
            "--url".into(),
            server.url(),
            "--doc".into(),
            doc.url(),
            "--set".into(),
            "status=covered".into(),
        ],
    )
    .await;
    eventually("the later JS change arrived", || async {
        c.read(doc, |d| str_at(d, "status")).await.flatten()
    })
    .await;

    // And our change on top of it goes back to JS.
    c.change(doc, |tx| tx.increment(ROOT, "tally", 1))
        .await
        .unwrap()
        .unwrap();
    wait_status(&c, "acknowledged", |s| {
        s.documents.get(&doc).is_some_and(|d| d.server_has_all)
    })
    .await;
    let read = js(
        "client-read.mjs",
        &[
            "--url".into(),
            server.url(),
            "--doc".into(),
            doc.url(),
            "--expect".into(),
            "tally=5".into(),
        ],
    )
    .await;
    assert_eq!(read["doc"]["status"], "covered");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_writes_reach_the_js_server_once_it_is_up() {
    require_js();
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens yet: find the JS server's port only after the writes.
    let placeholder = net_common::free_port().await;
    let c0 = client(&dir, &format!("ws://127.0.0.1:{placeholder}/sync"), vec![]).await;
    let doc = DocumentId::from_bytes(*uuid::Uuid::now_v7().as_bytes());
    c0.create_document(doc, |tx| tx.put(ROOT, "night", "offline"))
        .await
        .unwrap()
        .unwrap();
    c0.shutdown().await;
    drop(c0);

    let server = JsServer::start().await;
    let c = client(&dir, &server.url(), vec![doc]).await;
    wait_status(&c, "synced", |s| {
        s.documents.get(&doc).is_some_and(|d| d.server_has_all)
    })
    .await;
    let read = js(
        "client-read.mjs",
        &["--url".into(), server.url(), "--doc".into(), doc.url()],
    )
    .await;
    assert_eq!(read["doc"]["night"], "offline");
    c.shutdown().await;
}
