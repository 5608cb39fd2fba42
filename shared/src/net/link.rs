//! The WebSocket link: connect, run one session, back off, reconnect, until shut down.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::config::{ClientConfig, TokenPlacement};
use super::core::{Outgoing, Shared};
use super::status::LinkProblem;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The background task: forever connect, sync, and back off after a failure.
pub(super) async fn run(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut attempt: u32 = 0;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let problem = match open(&shared.config).await {
            Ok(ws) => {
                let (joined, problem) = session(&shared, ws).await;
                if joined {
                    // The server worked: the next failure starts again from the short delay.
                    attempt = 0;
                }
                problem
            }
            Err(problem) => Some(problem),
        };
        if *shutdown.borrow() {
            break;
        }
        if let Some(problem) = problem {
            tracing::debug!(%problem, attempt, "sync link down");
            shared.set_problem(problem).await;
        }
        let delay = shared.config.backoff.delay(attempt, rand::random::<f64>());
        attempt = attempt.saturating_add(1);
        tokio::select! {
            _ = sleep(delay) => {}
            _ = stopped(&mut shutdown) => {}
            _ = shared.wake.notified() => {}
        }
    }
}

/// Resolves once shutdown is asked (the watch guard is not held across awaits).
async fn stopped(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// TCP + WebSocket upgrade, with the token.
async fn open(config: &ClientConfig) -> Result<Ws, LinkProblem> {
    let request = upgrade_request(config)?;
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(config.limits.max_frame_bytes))
        .max_frame_size(Some(config.limits.max_frame_bytes));
    match timeout(
        config.connect_timeout,
        tokio_tungstenite::connect_async_with_config(request, Some(ws_config), true),
    )
    .await
    {
        Err(_) => Err(LinkProblem::Timeout),
        Ok(Err(e)) => Err(connect_problem(&e)),
        Ok(Ok((ws, _response))) => Ok(ws),
    }
}

fn upgrade_request(config: &ClientConfig) -> Result<Request, LinkProblem> {
    let mut url = config.url.clone();
    let token = config.token.as_deref();
    if let Some(token) = token
        && matches!(
            config.token_placement,
            TokenPlacement::Query | TokenPlacement::HeaderAndQuery
        )
    {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str("token=");
        url.extend(utf8_percent_encode(token, NON_ALPHANUMERIC));
    }
    // The URL may now hold the token: its parse error is not kept.
    let mut request = url.into_client_request().map_err(|_| LinkProblem::BadUrl)?;
    if let Some(token) = token
        && matches!(
            config.token_placement,
            TokenPlacement::Header | TokenPlacement::HeaderAndQuery
        )
    {
        let value =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| LinkProblem::BadToken)?;
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    Ok(request)
}

fn connect_problem(e: &WsError) -> LinkProblem {
    match e {
        WsError::Http(response) => LinkProblem::Refused(response.status().as_u16()),
        WsError::Io(_) | WsError::ConnectionClosed | WsError::AlreadyClosed => {
            LinkProblem::Unreachable
        }
        WsError::Url(_) => LinkProblem::BadUrl,
        _ => LinkProblem::Protocol("websocket".into()),
    }
}

/// One connection, from `join` to its end. Returns whether the handshake completed and why the
/// link ended (`None` when we closed it: shutdown, or the engine closed and said why).
async fn session(shared: &Arc<Shared>, mut ws: Ws) -> (bool, Option<LinkProblem>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let conn = match shared.connect(tx).await {
        Ok(conn) => conn,
        Err(_) => {
            let _ = ws.close(None).await;
            return (false, Some(LinkProblem::Storage));
        }
    };
    let mut shutdown = shared.shutdown.subscribe();
    let ping_every = shared.config.ping_interval.max(Duration::from_millis(10));
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let handshake_deadline = Instant::now() + shared.config.handshake_timeout;
    let mut last_heard = Instant::now();
    let mut joined = false;
    let problem = loop {
        tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => {
                let _ = ws.close(None).await;
                break None;
            }
            out = rx.recv() => match out {
                Some(Outgoing::Frame(bytes)) => {
                    if ws.send(Message::Binary(bytes.into())).await.is_err() {
                        break Some(LinkProblem::Lost);
                    }
                }
                Some(Outgoing::Close) | None => {
                    let _ = ws.close(None).await;
                    break None;
                }
            },
            message = ws.next() => {
                last_heard = Instant::now();
                match message {
                    None | Some(Ok(Message::Close(_))) => break Some(LinkProblem::ClosedByServer),
                    Some(Err(_)) => break Some(LinkProblem::Lost),
                    Some(Ok(Message::Binary(bytes))) => {
                        if shared.on_message(conn, &bytes).await.is_err() {
                            // Storage failed: the step already dropped the link.
                            break None;
                        }
                        if !joined && shared.is_open(conn).await {
                            joined = true;
                        }
                    }
                    // Pings are answered by tungstenite; the protocol has no text frames.
                    Some(Ok(_)) => {}
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > ping_every * 3 {
                    break Some(LinkProblem::Lost);
                }
                if ws.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break Some(LinkProblem::Lost);
                }
            }
            _ = sleep_until(handshake_deadline), if !joined => break Some(LinkProblem::Timeout),
        }
    };
    shared.disconnected(conn, problem.clone()).await;
    (joined, problem)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use automerge::ActorId;

    use super::*;

    fn config(placement: TokenPlacement) -> ClientConfig {
        let mut c = ClientConfig::new(
            "ws://127.0.0.1:9/sync",
            Some("a b&c=d".into()),
            "peer",
            ActorId::from([1u8; 16]),
            vec![],
        );
        c.token_placement = placement;
        c
    }

    #[test]
    fn header_placement_sends_a_bearer_token_and_leaves_the_url_alone() {
        let r = upgrade_request(&config(TokenPlacement::Header)).unwrap();
        assert_eq!(r.headers()[AUTHORIZATION], "Bearer a b&c=d");
        assert_eq!(r.uri().query(), None);
    }

    #[test]
    fn query_placement_percent_encodes_the_token() {
        let r = upgrade_request(&config(TokenPlacement::Query)).unwrap();
        assert!(r.headers().get(AUTHORIZATION).is_none());
        assert_eq!(r.uri().query(), Some("token=a%20b%26c%3Dd"));
    }

    #[test]
    fn a_token_that_cannot_be_a_header_is_reported_without_its_value() {
        let mut c = config(TokenPlacement::Header);
        c.token = Some("bad\ntoken".into());
        assert_eq!(upgrade_request(&c).unwrap_err(), LinkProblem::BadToken);
    }
}
