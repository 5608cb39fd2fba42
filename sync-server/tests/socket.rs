//! `/sync` over a real socket on port 0, with a tokio-tungstenite client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use carnet_server::db::Db;
use carnet_server::{AppState, ServerConfig};
use common::{ADMIN_TOKEN, Auth, call, enrol, night_with_teams, state_with, str_of};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Guards against a hung test, not a performance threshold.
const HANG_GUARD: Duration = Duration::from_secs(20);

struct Server {
    state: AppState,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(config: ServerConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("carnet.sqlite3")).unwrap();
        let state = state_with(db, config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(carnet_server::serve(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        Self {
            state,
            addr,
            stop: Some(stop),
            task,
            _dir: dir,
        }
    }

    fn url(&self, token: &str) -> String {
        format!("ws://{}/sync?token={token}", self.addr)
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(HANG_GUARD, self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

/// A device token and its token id, via the public API.
async fn device(state: &AppState) -> (String, String) {
    let (_, created) = night_with_teams(state, &["Équipe 1"], 1).await;
    let enrolled = enrol(
        state,
        created["teams"][0]["enrolment_codes"][0].as_str().unwrap(),
    )
    .await;
    (
        str_of(&enrolled, "token").to_owned(),
        str_of(&enrolled, "token_id").to_owned(),
    )
}

/// Reads until the server's close frame; returns its code and the protocol `error` messages
/// received before it (decoded CBOR).
async fn read_until_close(client: &mut Client) -> (Option<u16>, Vec<ciborium::Value>) {
    let mut errors = Vec::new();
    let read = async {
        while let Some(message) = client.next().await {
            match message {
                Ok(Message::Binary(bytes)) => {
                    errors.push(ciborium::from_reader(bytes.as_ref()).unwrap());
                }
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(error) => panic!("socket error before the close frame: {error}"),
            }
        }
        None
    };
    let code = tokio::time::timeout(HANG_GUARD, read).await.unwrap();
    (code, errors)
}

fn cbor_field<'a>(value: &'a ciborium::Value, key: &str) -> Option<&'a str> {
    value
        .as_map()?
        .iter()
        .find_map(|(k, v)| (k.as_text() == Some(key)).then(|| v.as_text()).flatten())
}

async fn wait_for_no_connections(state: &AppState) {
    tokio::time::timeout(HANG_GUARD, async {
        while state.hub.connection_count() != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn revocation_closes_a_live_socket_at_once() {
    let server = Server::start(ServerConfig::default()).await;
    let (token, token_id) = device(&server.state).await;
    let (mut client, _) = connect_async(server.url(&token)).await.unwrap();
    // A second socket of the same token, authenticated by header this time.
    let mut request = format!("ws://{}/sync", server.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut second, _) = connect_async(request).await.unwrap();
    tokio::time::timeout(HANG_GUARD, async {
        while server.state.hub.connection_count() != 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();

    let (status, _) = call(
        &server.state,
        "POST",
        &format!("/api/tokens/{token_id}/revoke"),
        Auth::Header(ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    for socket in [&mut client, &mut second] {
        let (code, errors) = read_until_close(socket).await;
        assert_eq!(code, Some(1008));
        assert_eq!(errors.len(), 1);
        assert_eq!(cbor_field(&errors[0], "type"), Some("error"));
        assert_eq!(cbor_field(&errors[0], "message"), Some("token revoked"));
    }
    wait_for_no_connections(&server.state).await;

    // And the token can no longer open one.
    match connect_async(server.url(&token)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        other => panic!("expected a 401, got {:?}", other.map(|(_, r)| r.status())),
    }
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_frame_closes_the_connection_with_1009() {
    let server = Server::start(ServerConfig {
        max_message_bytes: 1024,
        ..ServerConfig::default()
    })
    .await;
    let (token, _) = device(&server.state).await;
    let (mut client, _) = connect_async(server.url(&token)).await.unwrap();
    client
        .send(Message::Binary(vec![0xa0; 4096].into()))
        .await
        .unwrap();
    let (code, errors) = read_until_close(&mut client).await;
    assert_eq!(code, Some(1009));
    assert_eq!(cbor_field(&errors[0], "message"), Some("message too large"));
    wait_for_no_connections(&server.state).await;
    server.stop().await;
}

#[tokio::test]
async fn a_frame_within_the_limit_is_not_treated_as_oversized() {
    // Guards the test above: the 1009 comes from the size cap, not from any frame. Without a
    // sync engine a well-sized frame gets the "cannot sync yet" close instead.
    let server = Server::start(ServerConfig {
        max_message_bytes: 1024,
        ..ServerConfig::default()
    })
    .await;
    let (token, _) = device(&server.state).await;
    let (mut client, _) = connect_async(server.url(&token)).await.unwrap();
    client
        .send(Message::Binary(vec![0xa0; 1000].into()))
        .await
        .unwrap();
    let (code, errors) = read_until_close(&mut client).await;
    assert_eq!(code, Some(1011));
    assert_eq!(cbor_field(&errors[0], "type"), Some("error"));
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_token_cannot_open_a_socket() {
    let server = Server::start(ServerConfig::default()).await;
    match connect_async(server.url("carnet_nope")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        other => panic!("expected a 401, got {:?}", other.map(|(_, r)| r.status())),
    }
    assert_eq!(server.state.hub.connection_count(), 0);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_live_sockets_with_going_away() {
    let server = Server::start(ServerConfig::default()).await;
    let (token, _) = device(&server.state).await;
    let (mut client, _) = connect_async(server.url(&token)).await.unwrap();
    let state = server.state.clone();
    server.stop().await;
    let (code, _) = read_until_close(&mut client).await;
    assert_eq!(code, Some(1001));
    wait_for_no_connections(&state).await;
}

#[tokio::test]
async fn one_token_cannot_open_more_sockets_than_allowed() {
    let server = Server::start(ServerConfig {
        max_sockets_per_token: 1,
        ..ServerConfig::default()
    })
    .await;
    let (token, _) = device(&server.state).await;
    let (_first, _) = connect_async(server.url(&token)).await.unwrap();
    tokio::time::timeout(HANG_GUARD, async {
        while server.state.hub.connection_count() != 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    match connect_async(server.url(&token)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        }
        other => panic!("expected a 429, got {:?}", other.map(|(_, r)| r.status())),
    }
    // Another device is not affected.
    let (other, _) = device(&server.state).await;
    let (_second, _) = connect_async(server.url(&other)).await.unwrap();
    server.stop().await;
}
