//! Enrolment: trades a single-use code for a device token and the document URLs. Codes of
//! street-count teams (`POST {server}/api/enrol`) and of climate volunteer groups
//! (`POST {server}/api/climate/enrol`) look alike, so the team endpoint is asked first and the
//! volunteer one only if the code is unknown there (an unknown code is not spent); the answer
//! says which kind the device is (see `sync-server/README.md`). The only HTTP calls the app
//! makes; everything after them goes through the sync driver.

use std::time::Duration;

use serde::Deserialize;

use carnet_shared::ids::DocumentId;

use crate::device::{DeviceError, Enrolment, EnrolmentKind};

/// A team device's answer (a token answer plus the team's documents). Unknown fields are
/// ignored.
#[derive(Deserialize)]
struct TeamAnswer {
    token: String,
    peer_id: String,
    team_name: String,
    team_document_url: String,
    night_document_url: String,
}

/// A climate volunteer's answer (a token answer plus the group's documents).
#[derive(Deserialize)]
struct VolunteerAnswer {
    token: String,
    peer_id: String,
    role: String,
    group_name: String,
    field_document_url: String,
    kit_document_url: String,
}

/// The base URL without a trailing slash, `http` or `https` only, no credentials or query.
pub fn normalise_server_url(raw: &str) -> Result<String, DeviceError> {
    let url = reqwest::Url::parse(raw.trim()).map_err(|_| DeviceError::InvalidServerUrl)?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
    {
        return Err(DeviceError::InvalidServerUrl);
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// The WebSocket sync endpoint of a server base URL (`http` → `ws`, `https` → `wss`).
pub fn sync_url(server_url: &str) -> String {
    let rest = server_url
        .strip_prefix("https://")
        .map(|r| format!("wss://{r}"))
        .or_else(|| {
            server_url
                .strip_prefix("http://")
                .map(|r| format!("ws://{r}"))
        })
        .unwrap_or_else(|| server_url.to_owned());
    format!("{rest}/sync")
}

/// Calls the server: the team endpoint, then (code unknown there) the volunteer one. The code
/// and the token never appear in errors or logs.
pub async fn enrol(server_url: &str, code: &str) -> Result<Enrolment, DeviceError> {
    let base = normalise_server_url(server_url)?;
    let code = code.trim();
    if code.is_empty() || code.len() > 64 {
        return Err(DeviceError::InvalidEnrolmentCode);
    }
    // Only the server the team was given: no redirect (to another host or scheme), no proxy
    // taken from the environment.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|_| DeviceError::Internal("http client"))?;
    let parse =
        |url: &str| DocumentId::parse_url(url).map_err(|_| DeviceError::Internal("document URL"));
    match post(&client, &format!("{base}/api/enrol"), code).await {
        Ok(bytes) => {
            let answer: TeamAnswer = serde_json::from_slice(&bytes)
                .map_err(|_| DeviceError::Internal("enrolment answer"))?;
            return Ok(Enrolment {
                server_url: base,
                token: answer.token,
                peer_id: answer.peer_id,
                kind: EnrolmentKind::Team,
                name: answer.team_name,
                shared_doc: parse(&answer.night_document_url)?,
                own_doc: parse(&answer.team_document_url)?,
            });
        }
        Err(DeviceError::InvalidEnrolmentCode) => {}
        Err(other) => return Err(other),
    }
    let bytes = post(&client, &format!("{base}/api/climate/enrol"), code).await?;
    let answer: VolunteerAnswer =
        serde_json::from_slice(&bytes).map_err(|_| DeviceError::Internal("enrolment answer"))?;
    if answer.role != "volunteer" {
        return Err(DeviceError::Internal("enrolment answer"));
    }
    Ok(Enrolment {
        server_url: base,
        token: answer.token,
        peer_id: answer.peer_id,
        kind: EnrolmentKind::Volunteer,
        name: answer.group_name,
        shared_doc: parse(&answer.kit_document_url)?,
        own_doc: parse(&answer.field_document_url)?,
    })
}

/// Asks the enrolled server itself whether `token` is revoked: `GET {server}/api/me` answers
/// 401 with the server's own `{"code": "unauthorized"}`. A refusal of the sync upgrade alone
/// is not enough before erasing anything: a captive portal or a proxy on the way can answer
/// 401/403 too. `ServerUnreachable` when the server cannot be asked.
pub async fn token_revoked(server_url: &str, token: &str) -> Result<bool, DeviceError> {
    #[derive(Deserialize)]
    struct ErrorBody {
        code: String,
    }
    let base = normalise_server_url(server_url)?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|_| DeviceError::Internal("http client"))?;
    let response = client
        .get(format!("{base}/api/me"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|_| DeviceError::ServerUnreachable)?;
    if response.status() != reqwest::StatusCode::UNAUTHORIZED {
        return Ok(false);
    }
    let body = response
        .bytes()
        .await
        .map_err(|_| DeviceError::ServerUnreachable)?;
    Ok(serde_json::from_slice::<ErrorBody>(&body).is_ok_and(|b| b.code == "unauthorized"))
}

/// `POST {"code"}` to one enrolment endpoint; the answer's body on 200/201.
async fn post(client: &reqwest::Client, url: &str, code: &str) -> Result<Vec<u8>, DeviceError> {
    let body = serde_json::json!({ "code": code }).to_string();
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|_| DeviceError::ServerUnreachable)?;
    let status = response.status().as_u16();
    let bytes = response
        .bytes()
        .await
        .map_err(|_| DeviceError::ServerUnreachable)?;
    match status {
        200 | 201 => Ok(bytes.to_vec()),
        404 | 400 | 422 => Err(DeviceError::InvalidEnrolmentCode),
        410 => Err(DeviceError::EnrolmentCodeUsed),
        _ => Err(DeviceError::ServerUnreachable),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_checked_and_normalised() {
        assert_eq!(
            normalise_server_url(" https://carnet.example.org/ ").unwrap(),
            "https://carnet.example.org"
        );
        assert_eq!(
            normalise_server_url("http://127.0.0.1:8787").unwrap(),
            "http://127.0.0.1:8787"
        );
        for bad in [
            "",
            "carnet.example.org",
            "ftp://x.org",
            "https://u:p@x.org",
            "https://x.org/?a=1",
        ] {
            assert!(
                matches!(
                    normalise_server_url(bad),
                    Err(DeviceError::InvalidServerUrl)
                ),
                "{bad}"
            );
        }
        assert_eq!(sync_url("https://x.org"), "wss://x.org/sync");
        assert_eq!(sync_url("http://127.0.0.1:1"), "ws://127.0.0.1:1/sync");
    }

    /// Regression guard: a captive portal answering 401 with its own page must not make the
    /// device erase its night.
    #[tokio::test]
    async fn a_401_that_is_not_the_servers_own_does_not_count_as_revoked() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let body = "<html>Connectez-vous au Wi-Fi</html>";
                let answer = format!(
                    "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        assert!(
            !token_revoked(&format!("http://{addr}"), "carnet_secret")
                .await
                .unwrap()
        );
        let err = token_revoked("http://127.0.0.1:9", "carnet_secret")
            .await
            .unwrap_err();
        assert_eq!(err.code(), crate::device::ErrorCode::ServerUnreachable);
    }

    #[tokio::test]
    async fn unreachable_server_is_reported_as_such() {
        // Port 9 on loopback: nothing listens there.
        let err = enrol("http://127.0.0.1:9", "ABCDE-FGHIJ")
            .await
            .unwrap_err();
        assert_eq!(err.code(), crate::device::ErrorCode::ServerUnreachable);
    }
}
