//! Climate volunteers end to end: the real server on 127.0.0.1:0 (router, sync actor, SQLite
//! file), the climate API, and two volunteers' devices running the production `net` client
//! driver (each with its own SQLite store). Both tick the same visit checklist while the server
//! is stopped; after it restarts on the same address, both devices and a coordinator converge.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use automerge::ActorId;
use carnet_shared::climate::{self, AlertLevel, Area, Field, Handout, Visit};
use carnet_shared::ids::DocumentId;
use carnet_shared::net::{Backoff, Client, ClientConfig, ClientHandle};
use carnet_shared::store::Store;
use carnet_tests::server::ADMIN_TOKEN;
use carnet_tests::{HANG_GUARD, TestServer};
use serde_json::{Value, json};

const KIT: &str = include_str!("../../shared/kits/canicule.json");
const FOUNTAINS: &str = include_str!("../../shared/kits/fixtures/fontaines-a-boire.csv");
const T0: i64 = 1_782_900_000_000; // 2026-07-01

async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn api(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> Value {
    let (status, answer) = server.api(method, path, token, Some(body)).await.unwrap();
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
    answer
}

/// Posts a raw file body (kit, places) through the real router.
async fn upload(server: &TestServer, path: &str, body: &str) -> Value {
    use axum::body::Body;
    use axum::http::{Request, header};
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let request = Request::builder()
        .method("POST")
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .body(Body::from(body.to_owned()))
        .unwrap();
    let response = carnet_server::router(server.state.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(status.is_success(), "{path}: {status} {value}");
    value
}

struct Volunteer {
    client: ClientHandle,
    field: DocumentId,
    kit: DocumentId,
}

async fn volunteer(server: &TestServer, dir: &tempfile::TempDir, code: &str, n: u8) -> Volunteer {
    let enrolled = api(
        server,
        "POST",
        "/api/climate/enrol",
        None,
        json!({ "code": code }),
    )
    .await;
    let field = DocumentId::parse_url(enrolled["field_document_url"].as_str().unwrap()).unwrap();
    let kit = DocumentId::parse_url(enrolled["kit_document_url"].as_str().unwrap()).unwrap();
    let client = start_client(
        server,
        dir,
        &format!("volunteer-{n}.sqlite3"),
        enrolled["token"].as_str().unwrap(),
        enrolled["peer_id"].as_str().unwrap(),
        vec![field, kit],
        n,
    )
    .await;
    Volunteer { client, field, kit }
}

async fn start_client(
    server: &TestServer,
    dir: &tempfile::TempDir,
    file: &str,
    token: &str,
    peer_id: &str,
    documents: Vec<DocumentId>,
    n: u8,
) -> ClientHandle {
    let mut config = ClientConfig::new(
        format!("ws://{}/sync", server.addr),
        Some(token.to_owned()),
        peer_id.to_owned(),
        ActorId::from([n; 16]),
        documents,
    );
    config.backoff = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(300),
        ..Backoff::default()
    };
    let store = Store::open(dir.path().join(file)).unwrap();
    Client::start(config, store).await.unwrap()
}

async fn field_of(client: &ClientHandle, doc: DocumentId) -> Option<Field> {
    client
        .read(doc, |d| climate::read_field(d).ok())
        .await
        .flatten()
}

async fn all_synced(client: &ClientHandle) {
    let mut status = client.status();
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    loop {
        {
            let s = status.borrow_and_update();
            if s.connected && !s.documents.is_empty() && s.all_synced() {
                return;
            }
        }
        tokio::time::timeout_at(deadline, status.changed())
            .await
            .expect("timed out waiting for sync")
            .unwrap();
    }
}

async fn tick(
    client: &ClientHandle,
    doc: DocumentId,
    visit: uuid::Uuid,
    item: &str,
    checked: bool,
) {
    client
        .change(doc, |tx| climate::tick(tx, visit, item, checked))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_volunteers_tick_one_checklist_offline_and_everyone_converges_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await.unwrap();
    let addr = server.addr;

    // Coordinator: kit, level, places, one group with two codes.
    let published = upload(&server, "/api/climate/kit", KIT).await;
    assert_eq!(published["report"]["rejected"], json!([]));
    api(
        &server,
        "PUT",
        "/api/climate/alert-level",
        Some(ADMIN_TOKEN),
        json!({"level": "orange"}),
    )
    .await;
    let places = upload(
        &server,
        "/api/climate/places?kind=fountain&format=csv",
        FOUNTAINS,
    )
    .await;
    assert_eq!(places["report"]["imported"], 4);
    let group = api(
        &server,
        "POST",
        "/api/climate/groups",
        Some(ADMIN_TOKEN),
        json!({"name": "Belleville", "codes": 2}),
    )
    .await;
    let codes: Vec<String> = group["enrolment_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();

    let a = volunteer(&server, &dir, &codes[0], 1).await;
    let b = volunteer(&server, &dir, &codes[1], 2).await;
    assert_eq!(a.field, b.field);

    // Both devices hold the kit offline, with the level's actions and the places.
    for v in [&a, &b] {
        let kit = eventually("kit on the device", || async {
            v.client
                .read(v.kit, |d| climate::read_kit_doc(d).ok())
                .await
                .flatten()
                .filter(|k| k.kit.is_some())
        })
        .await;
        assert_eq!(kit.alert.level, AlertLevel::Orange);
        assert!(!kit.current_actions().is_empty());
        let near = climate::nearest(
            &kit.places,
            climate::Position {
                lat: 48.8674,
                lon: 2.3636,
            },
            2,
            None,
        );
        assert_eq!(near[0].place.id, "450025001");
        eventually("field document on the device", || {
            field_of(&v.client, v.field)
        })
        .await;
    }

    // A opens the visit online; B receives it.
    let visit = Visit {
        id: uuid::Uuid::now_v7(),
        at: T0,
        area: Area::parse("75019").unwrap(),
        checklist_id: "visite".to_owned(),
        ticks: BTreeMap::new(),
        items: [(Handout::Water, 1)].into(),
        alert: false,
    };
    let v = visit.clone();
    a.client
        .change(a.field, move |tx| climate::record_visit(tx, &v))
        .await
        .unwrap()
        .unwrap();
    all_synced(&a.client).await;
    eventually("B sees the visit", || async {
        field_of(&b.client, b.field)
            .await
            .filter(|f| f.visits.contains_key(&visit.id))
            .map(|_| ())
    })
    .await;

    // The server goes down; both devices keep working.
    server.stop().await.unwrap();
    tick(&a.client, a.field, visit.id, "eau", true).await;
    tick(&a.client, a.field, visit.id, "volets", true).await;
    tick(&b.client, b.field, visit.id, "ventilateur", true).await;
    tick(&b.client, b.field, visit.id, "eau", true).await;
    tick(&b.client, b.field, visit.id, "inscription-3975", true).await;
    a.client
        .change(a.field, |tx| climate::hand_out(tx, Handout::Water, 2))
        .await
        .unwrap()
        .unwrap();
    b.client
        .change(b.field, |tx| {
            climate::hand_out(tx, Handout::Water, 3)?;
            climate::set_visit_alert(tx, visit.id, true)
        })
        .await
        .unwrap()
        .unwrap();

    // Back up on the same address: the drivers reconnect by themselves.
    let server = TestServer::start_on(dir.path(), addr).await.unwrap();
    let expected_ticks: BTreeMap<String, bool> =
        ["eau", "volets", "ventilateur", "inscription-3975"]
            .into_iter()
            .map(|i| (i.to_owned(), true))
            .collect();
    let converged = |f: &Field| {
        f.visits
            .get(&visit.id)
            .is_some_and(|v| v.ticks == expected_ticks && v.alert)
            && f.handed_out[&Handout::Water] == 6
    };
    let mut seen = Vec::new();
    for v in [&a, &b] {
        all_synced(&v.client).await;
        let field = eventually("converged on the device", || async {
            field_of(&v.client, v.field).await.filter(|f| converged(f))
        })
        .await;
        seen.push(field);
    }
    assert_eq!(seen[0], seen[1]);

    // The coordinator (admin token) syncs the group's document and gets the same state.
    let me = api(&server, "GET", "/api/me", Some(ADMIN_TOKEN), Value::Null).await;
    let hq = start_client(
        &server,
        &dir,
        "hq.sqlite3",
        ADMIN_TOKEN,
        me["peer_id"].as_str().unwrap(),
        vec![a.field],
        3,
    )
    .await;
    let at_hq = eventually("coordinator has the field document", || async {
        field_of(&hq, a.field).await.filter(|f| converged(f))
    })
    .await;
    assert_eq!(at_hq, seen[0]);

    // Durable on the server, and counted in the progress JSON.
    let stored = server
        .open_store()
        .unwrap()
        .load_automerge(&a.field)
        .unwrap()
        .unwrap();
    assert_eq!(climate::read_field(&stored).unwrap(), seen[0]);
    let (_, progress) = server
        .api("GET", "/api/climate/progress", Some(ADMIN_TOKEN), None)
        .await
        .unwrap();
    assert_eq!(progress["totals"]["visits"], 1);
    assert_eq!(progress["totals"]["alerts"], 1);
    assert_eq!(progress["totals"]["handed_out"]["eau"], 6);
    assert_eq!(progress["areas"]["75019"]["ticked_items"], 4);
    assert_eq!(progress["areas"]["75019"]["items"]["eau"], 1);

    for client in [&a.client, &b.client, &hq] {
        client.shutdown().await;
    }
    server.stop().await.unwrap();
}
