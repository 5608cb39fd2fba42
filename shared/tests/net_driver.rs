//! The `net` client driver against an in-test server host (server-role engine + SQLite store
//! on 127.0.0.1): durability, acknowledgement, offline work, reconnection, concurrent counters.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod net_common;

use std::convert::Infallible;
use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutomergeError, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use carnet_shared::ids::DocumentId;
use carnet_shared::net::{Backoff, Client, ClientConfig, ClientHandle, TokenPlacement};
use carnet_shared::store::Store;
use net_common::{TestServer, eventually, free_port, wait_status};

const ENCOUNTER: &str = "0193a1b2-0000-7000-8000-00000000000a";

fn doc_id(n: u8) -> DocumentId {
    DocumentId::from_bytes([n; 16])
}

fn config(url: &str, device: u8, docs: Vec<DocumentId>) -> ClientConfig {
    let mut c = ClientConfig::new(
        url,
        Some("jeton-de-test".into()),
        format!("device-{device}"),
        ActorId::from([device; 16]),
        docs,
    );
    // Short delays keep reconnection tests quick; the policy itself is unit-tested.
    c.backoff = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
        ..Backoff::default()
    };
    c
}

async fn client(dir: &tempfile::TempDir, name: &str, config: ClientConfig) -> ClientHandle {
    let store = Store::open(dir.path().join(name)).unwrap();
    Client::start(config, store).await.unwrap()
}

/// A small team document: schema, encounters map, a tally counter.
fn seed(tx: &mut automerge::transaction::Transaction<'_>) -> Result<(), AutomergeError> {
    tx.put(ROOT, "schema", 1)?;
    tx.put_object(ROOT, "encounters", ObjType::Map)?;
    tx.put(ROOT, "seen", ScalarValue::counter(0))?;
    Ok(())
}

fn add_encounter(
    tx: &mut automerge::transaction::Transaction<'_>,
    id: &str,
) -> Result<(), AutomergeError> {
    let (_, encounters) = tx.get(ROOT, "encounters")?.expect("encounters map");
    let e = tx.put_object(&encounters, id, ObjType::Map)?;
    tx.put(&e, "place", "Gare du Nord")?;
    Ok(())
}

fn counter(doc: &automerge::Automerge) -> i64 {
    match doc.get(ROOT, "seen").unwrap() {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Counter(c) => i64::from(c),
            other => panic!("not a counter: {other:?}"),
        },
        other => panic!("no counter: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_document_reaches_the_server_store_and_is_then_reported_synced() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server.sqlite3"), 0, false).await;
    let c = client(&dir, "a.sqlite3", config(&server.url(), 1, vec![])).await;
    let doc = doc_id(1);
    let created = c.create_document(doc, seed).await.unwrap().unwrap();
    // Durable before returning: a fresh connection to the client's file sees the heads.
    let on_disk = Store::open(dir.path().join("a.sqlite3"))
        .unwrap()
        .load_automerge(&doc)
        .unwrap()
        .unwrap();
    assert_eq!(on_disk.get_heads(), created.heads);

    let status = wait_status(&c, "document synced", |s| {
        s.connected && s.documents.get(&doc).is_some_and(|d| d.server_has_all)
    })
    .await;
    assert!(status.last_sync_ok_at.is_some());
    assert_eq!(status.documents[&doc].pending_changes, 0);
    assert_eq!(server.stored(&doc).unwrap().get_heads(), created.heads);
    // The token travelled in the Authorization header only.
    let first_upgrade = server.observed.lock().unwrap().upgrades[0].clone();
    assert_eq!(
        first_upgrade,
        (Some("Bearer jeton-de-test".to_owned()), None)
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_can_travel_in_the_query_string() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server.sqlite3"), 0, false).await;
    let mut cfg = config(&server.url(), 1, vec![]);
    cfg.token_placement = TokenPlacement::Query;
    let c = client(&dir, "a.sqlite3", cfg).await;
    wait_status(&c, "connected", |s| s.connected).await;
    let first_upgrade = server.observed.lock().unwrap().upgrades[0].clone();
    assert_eq!(
        first_upgrade,
        (None, Some("token=jeton%2Dde%2Dtest".to_owned()))
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_has_all_stays_false_while_the_server_has_not_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mute = TestServer::start(&dir.path().join("mute.sqlite3"), 0, true).await;
    let c = client(&dir, "a.sqlite3", config(&mute.url(), 1, vec![])).await;
    let doc = doc_id(2);
    c.create_document(doc, seed).await.unwrap().unwrap();
    c.change(doc, |tx| add_encounter(tx, ENCOUNTER))
        .await
        .unwrap()
        .unwrap();
    wait_status(&c, "connected", |s| s.connected).await;
    // The client has sent its sync messages, the server took them and said nothing.
    eventually("sync frames at the mute server", || async {
        (mute.observed.lock().unwrap().sync_frames >= 1).then_some(())
    })
    .await;
    let status = c.status().borrow().clone();
    assert!(!status.documents[&doc].server_has_all);
    assert_eq!(status.documents[&doc].pending_changes, 2);
    assert_eq!(status.last_sync_ok_at, None);
    assert_eq!(
        c.unsynced_encounters(doc).await.unwrap(),
        [ENCOUNTER.to_owned()].into()
    );
    c.shutdown().await;
    drop(mute);

    // The same device, restarted against a server that stores and acknowledges.
    let server = TestServer::start(&dir.path().join("server.sqlite3"), 0, false).await;
    let c = client(&dir, "a.sqlite3", config(&server.url(), 1, vec![doc])).await;
    wait_status(&c, "acknowledged", |s| {
        s.documents.get(&doc).is_some_and(|d| d.server_has_all)
    })
    .await;
    assert!(c.unsynced_encounters(doc).await.unwrap().is_empty());
    assert_eq!(
        server.stored(&doc).unwrap().get_heads(),
        c.document(doc).await.unwrap().get_heads()
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_writes_are_saved_then_synced_when_the_server_comes_up() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().await;
    let url = format!("ws://127.0.0.1:{port}/sync");
    let c = client(&dir, "a.sqlite3", config(&url, 1, vec![])).await;
    let doc = doc_id(3);
    c.create_document(doc, seed).await.unwrap().unwrap();
    for i in 0..5 {
        c.change(doc, |tx| {
            tx.increment(ROOT, "seen", 1)?;
            add_encounter(tx, &format!("{ENCOUNTER}-{i}"))
        })
        .await
        .unwrap()
        .unwrap();
    }
    let status = wait_status(&c, "a link error", |s| s.last_error.is_some()).await;
    assert!(!status.connected);
    assert_eq!(status.documents[&doc].pending_changes, 6);
    assert_eq!(c.unsynced_encounters(doc).await.unwrap().len(), 5);
    let on_disk = Store::open(dir.path().join("a.sqlite3"))
        .unwrap()
        .load_automerge(&doc)
        .unwrap()
        .unwrap();
    assert_eq!(counter(&on_disk), 5);

    let server = TestServer::start(&dir.path().join("server.sqlite3"), port, false).await;
    c.reconnect_now();
    let status = wait_status(&c, "synced after coming online", |s| {
        s.connected && s.documents.get(&doc).is_some_and(|d| d.server_has_all)
    })
    .await;
    assert_eq!(status.last_error, None);
    assert_eq!(counter(&server.stored(&doc).unwrap()), 5);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_is_reconnected_to_and_everything_resyncs() {
    let dir = tempfile::tempdir().unwrap();
    let server_db = dir.path().join("server.sqlite3");
    let server = TestServer::start(&server_db, 0, false).await;
    let port = server.addr.port();
    let c = client(&dir, "a.sqlite3", config(&server.url(), 1, vec![])).await;
    let doc = doc_id(4);
    c.create_document(doc, seed).await.unwrap().unwrap();
    wait_status(&c, "first sync", |s| {
        s.documents.get(&doc).is_some_and(|d| d.server_has_all)
    })
    .await;

    server.kill();
    drop(server);
    wait_status(&c, "disconnected", |s| !s.connected).await;
    c.change(doc, |tx| tx.increment(ROOT, "seen", 7))
        .await
        .unwrap()
        .unwrap();
    let status = c.status().borrow().clone();
    assert!(!status.documents[&doc].server_has_all);

    let server = TestServer::start(&server_db, port, false).await;
    let status = wait_status(&c, "resynced", |s| {
        s.connected && s.documents.get(&doc).is_some_and(|d| d.server_has_all)
    })
    .await;
    assert_eq!(status.documents[&doc].pending_changes, 0);
    assert_eq!(counter(&server.stored(&doc).unwrap()), 7);
    assert!(!server.observed.lock().unwrap().upgrades.is_empty());
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_counter_increments_from_two_devices_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server.sqlite3"), 0, false).await;
    let doc = doc_id(5);
    let a = client(&dir, "a.sqlite3", config(&server.url(), 1, vec![])).await;
    a.create_document(doc, seed).await.unwrap().unwrap();
    wait_status(&a, "created doc synced", |s| {
        s.documents.get(&doc).is_some_and(|d| d.server_has_all)
    })
    .await;
    // B knows the document only by id: it asks the server for it.
    let b = client(&dir, "b.sqlite3", config(&server.url(), 2, vec![doc])).await;
    eventually("B received the document", || async {
        b.read(doc, |d| d.get(ROOT, "seen").ok().flatten().map(|_| ()))
            .await
            .flatten()
    })
    .await;

    const N: i64 = 20;
    let bump = |h: ClientHandle| async move {
        for _ in 0..N {
            h.change(doc, |tx| tx.increment(ROOT, "seen", 1))
                .await
                .unwrap()
                .unwrap();
        }
    };
    tokio::join!(bump(a.clone()), bump(b.clone()));

    for h in [&a, &b] {
        eventually("both increments everywhere", || async {
            let d = h.document(doc).await?;
            (counter(&d) == 2 * N).then_some(())
        })
        .await;
        wait_status(h, "all acknowledged", |s| {
            s.documents.get(&doc).is_some_and(|d| d.server_has_all)
        })
        .await;
    }
    assert_eq!(counter(&server.stored(&doc).unwrap()), 2 * N);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_the_server_lacks_is_reported_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server.sqlite3"), 0, false).await;
    let doc = doc_id(6);
    let c = client(&dir, "a.sqlite3", config(&server.url(), 1, vec![doc])).await;
    let status = wait_status(&c, "unavailable", |s| {
        s.documents.get(&doc).is_some_and(|d| d.unavailable)
    })
    .await;
    assert!(status.connected);
    // Nothing to lose: an empty document is trivially held.
    assert_eq!(status.documents[&doc].pending_changes, 0);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_change_closure_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(
        &dir,
        "a.sqlite3",
        config("ws://127.0.0.1:9/sync", 1, vec![]),
    )
    .await;
    let doc = doc_id(7);
    let first = c.create_document(doc, seed).await.unwrap().unwrap();
    let out: Result<_, &str> = c
        .change(doc, |tx| {
            tx.put(ROOT, "schema", 2).map_err(|_| "put")?;
            Err::<(), _>("refused by the model")
        })
        .await
        .unwrap();
    assert_eq!(out.unwrap_err(), "refused by the model");
    assert_eq!(c.document(doc).await.unwrap().get_heads(), first.heads);
    let ok: Result<_, Infallible> = c.change(doc, |_| Ok(())).await.unwrap();
    assert_eq!(ok.unwrap().heads, first.heads);
    assert!(
        c.change(doc_id(99), |_| Ok::<_, Infallible>(()))
            .await
            .is_err()
    );
    c.shutdown().await;
}

/// Regression: `shutdown` right after `start` used to hang when the background task had not
/// subscribed to the shutdown signal yet (`watch::Sender::send` drops a value nobody watches).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_right_after_start_returns() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..20 {
        let c = client(
            &dir,
            "a.sqlite3",
            config("ws://127.0.0.1:9/sync", 1, vec![]),
        )
        .await;
        tokio::time::timeout(net_common::PATIENCE, c.shutdown())
            .await
            .expect("shutdown returns");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synced_survives_a_restart_without_network_and_new_writes_are_pending() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server.sqlite3"), 0, false).await;
    let doc = doc_id(8);
    let c = client(&dir, "a.sqlite3", config(&server.url(), 1, vec![])).await;
    c.create_document(doc, seed).await.unwrap().unwrap();
    wait_status(&c, "synced", |s| {
        s.documents.get(&doc).is_some_and(|d| d.server_has_all)
    })
    .await;
    c.shutdown().await;
    drop(server);

    // Restarted with no server at all: the last acknowledged heads come from the device's file.
    let offline = format!("ws://127.0.0.1:{}/sync", free_port().await);
    let c = client(&dir, "a.sqlite3", config(&offline, 1, vec![doc])).await;
    let status = c.status().borrow().clone();
    assert!(!status.connected);
    assert!(status.documents[&doc].server_has_all);
    c.change(doc, |tx| add_encounter(tx, ENCOUNTER))
        .await
        .unwrap()
        .unwrap();
    let status = c.status().borrow().clone();
    assert!(!status.documents[&doc].server_has_all);
    assert_eq!(status.documents[&doc].pending_changes, 1);
    assert_eq!(
        c.unsynced_encounters(doc).await.unwrap(),
        [ENCOUNTER.to_owned()].into()
    );
    c.shutdown().await;
}

/// `change_with` runs the document writers of `carnet_shared::doc::tx` inside the driver's
/// transaction, and the change keeps the writer's fixed message and the caller's time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_with_keeps_the_writers_message_and_time() {
    use carnet_shared::doc;
    use carnet_shared::model::{TallyDimension, TeamHeader, TeamId};
    let dir = tempfile::tempdir().unwrap();
    let c = client(
        &dir,
        "a.sqlite3",
        config("ws://127.0.0.1:9/sync", 1, vec![]),
    )
    .await;
    let team = doc_id(8);
    let now = 1_769_814_000_000;
    let header = TeamHeader {
        team_id: TeamId("T-1".into()),
        night_id: uuid::Uuid::from_u128(1),
        name: "Équipe 1".into(),
        sectors: Default::default(),
    };
    c.create_document(team, |tx| doc::tx::init_team(tx, &header))
        .await
        .unwrap()
        .unwrap();
    let dim = TallyDimension::all_for(carnet_shared::model::SpaceType::Street)
        .next()
        .unwrap();
    let changed = c
        .change_with(team, doc::commit_options(doc::messages::TALLY, now), |tx| {
            doc::tx::add_to_tally(tx, dim, 2)
        })
        .await
        .unwrap()
        .unwrap();
    let data = c.document(team).await.unwrap();
    let change = data.get_change_by_hash(&changed.heads[0]).unwrap();
    assert_eq!(change.message(), Some("tally"));
    assert_eq!(change.timestamp(), now / 1000);
    assert_eq!(doc::read_team(&data).unwrap().tallies[&dim], 2);
    // A writer's error rolls the transaction back: nothing changes.
    let refused = c
        .change_with(
            team,
            doc::commit_options(doc::messages::CHECK_OUT, now),
            |tx| doc::tx::check_out(tx, uuid::Uuid::from_u128(9), now),
        )
        .await
        .unwrap();
    assert!(matches!(refused, Err(doc::DocError::NoSuchRound(_))));
    assert_eq!(c.document(team).await.unwrap().get_heads(), changed.heads);
    c.shutdown().await;
}
