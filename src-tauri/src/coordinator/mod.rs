//! Coordinator mode: a coordinator signs in with the server address and a coordinator token of
//! a night; the app then reads the night's live progress (JSON and the SVG map), the
//! consolidated figures and the duplicate candidates from the server's HTTP API, and records
//! duplicate decisions; after the night it exports files (`exports`), decides concurrent edits
//! and purges the field-only free text (`review`). Online only: nothing of the coordinator's is
//! stored on the device but the exported files the coordinator asks for.
//!
//! The token stays in this process's memory (`Session`), is sent only to the configured
//! server (no redirects, no proxy from the environment), never crosses IPC and never reaches a
//! log or an error message. Signing out or quitting the app forgets it.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize};
use tauri::State;
use uuid::Uuid;

use carnet_shared::model::{DuplicateDecision, DuplicateVerdict};
use carnet_shared::report::{Consolidation, DuplicateCandidate, DuplicateConfig, NightProgress};

use crate::enrol::normalise_server_url;

pub mod exports;
pub mod review;

/// Largest answer read from the server (a night's progress or figures are far smaller).
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// Error codes that cross IPC (`CoordinatorErrorCode` in `ui/src/coordinator/backend.ts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CoordinatorErrorCode {
    InvalidServerUrl,
    ServerUnreachable,
    Unauthorized,
    NotCoordinator,
    NotSignedIn,
    NotFound,
    InvalidInput,
    ServerError,
    Cancelled,
    FileError,
}

#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    #[error("the server address is not an http(s) URL without credentials or query")]
    InvalidServerUrl,
    #[error("the server could not be reached")]
    ServerUnreachable,
    #[error("the server refused the token (unknown, expired or revoked)")]
    Unauthorized,
    #[error("the token is not a coordinator token of a night")]
    NotCoordinator,
    #[error("not signed in as a coordinator")]
    NotSignedIn,
    #[error("not found on the server: {0}")]
    NotFound(&'static str),
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    #[error("unexpected answer from the server (HTTP {0})")]
    Status(u16),
    #[error("the server's answer could not be read: {0}")]
    BadAnswer(&'static str),
    #[error("the export was cancelled")]
    Cancelled,
    #[error("the export file could not be written: {0}")]
    File(std::io::ErrorKind),
}

impl CoordinatorError {
    pub fn code(&self) -> CoordinatorErrorCode {
        match self {
            Self::InvalidServerUrl => CoordinatorErrorCode::InvalidServerUrl,
            Self::ServerUnreachable => CoordinatorErrorCode::ServerUnreachable,
            Self::Unauthorized => CoordinatorErrorCode::Unauthorized,
            Self::NotCoordinator => CoordinatorErrorCode::NotCoordinator,
            Self::NotSignedIn => CoordinatorErrorCode::NotSignedIn,
            Self::NotFound(_) => CoordinatorErrorCode::NotFound,
            Self::InvalidInput(_) => CoordinatorErrorCode::InvalidInput,
            Self::Status(_) | Self::BadAnswer(_) => CoordinatorErrorCode::ServerError,
            Self::Cancelled => CoordinatorErrorCode::Cancelled,
            Self::File(_) => CoordinatorErrorCode::FileError,
        }
    }
}

/// `{code, message}` over IPC.
impl Serialize for CoordinatorError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("CoordinatorError", 2)?;
        st.serialize_field("code", &self.code())?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}

type Result<T> = std::result::Result<T, CoordinatorError>;

/// The coordinator token, printed as `***` by `Debug`.
struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// What the UI learns about the signed-in coordinator (no token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub server_url: String,
    pub night_id: Uuid,
    pub night_name: String,
    pub peer_id: String,
}

/// `GET /api/progress` as the server answers it (`night_id`/`night_name` in snake case, the
/// rest as `report::NightProgress`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressView {
    pub night_id: Uuid,
    pub night_name: String,
    #[serde(flatten)]
    pub progress: NightProgress,
}

/// One candidate pair of `GET …/duplicates`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateView {
    pub pair: String,
    pub reason: String,
    #[serde(flatten)]
    pub candidate: DuplicateCandidate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicatesView {
    pub config: DuplicateConfig,
    pub candidates: Vec<CandidateView>,
}

#[derive(Deserialize)]
struct Me {
    peer_id: String,
    role: String,
    night_id: Option<Uuid>,
}

#[derive(Deserialize)]
struct ApiErrorBody {
    code: String,
}

#[derive(Debug)]
struct Session {
    server_url: String,
    token: Token,
    night_id: Uuid,
    night_name: String,
    peer_id: String,
    http: reqwest::Client,
}

fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|_| CoordinatorError::BadAnswer("http client"))
}

/// Reads a body up to `MAX_ANSWER_BYTES`.
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| CoordinatorError::ServerUnreachable)?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(CoordinatorError::BadAnswer("answer too large"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Maps the server's error statuses (`{code, message}` bodies) to ours.
fn status_error(status: u16, body: &[u8]) -> CoordinatorError {
    let code = serde_json::from_slice::<ApiErrorBody>(body)
        .map(|b| b.code)
        .unwrap_or_default();
    match (status, code.as_str()) {
        (401, _) => CoordinatorError::Unauthorized,
        (403, _) => CoordinatorError::NotCoordinator,
        (404, "encounter_not_found") => CoordinatorError::NotFound("encounter"),
        (404, "conflict_not_found") => CoordinatorError::NotFound("conflict"),
        (404, _) => CoordinatorError::NotFound("night"),
        (400 | 422, _) => CoordinatorError::InvalidInput("refused by the server"),
        (s, _) => CoordinatorError::Status(s),
    }
}

impl Session {
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Vec<u8>> {
        let response = request
            .bearer_auth(&self.token.0)
            .send()
            .await
            .map_err(|_| CoordinatorError::ServerUnreachable)?;
        let status = response.status().as_u16();
        let body = read_body(response).await?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(status_error(status, &body))
        }
    }

    async fn get(&self, path: &str) -> Result<Vec<u8>> {
        self.send(self.http.get(format!("{}{path}", self.server_url)))
            .await
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let body = self.get(path).await?;
        serde_json::from_slice(&body)
            .map_err(|_| CoordinatorError::BadAnswer("not the expected JSON"))
    }

    /// `POST` of a JSON body (or none) to a path of the night; the answer as `T`.
    async fn post_json<T: DeserializeOwned>(
        &self,
        rest: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T> {
        let url = format!("{}{}", self.server_url, self.night_path(rest));
        let mut request = self.http.post(url);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let answer = self.send(request).await?;
        serde_json::from_slice(&answer)
            .map_err(|_| CoordinatorError::BadAnswer("not the expected JSON"))
    }

    fn night_path(&self, rest: &str) -> String {
        format!("/api/nights/{}/{rest}", self.night_id)
    }

    fn view(&self) -> SessionView {
        SessionView {
            server_url: self.server_url.clone(),
            night_id: self.night_id,
            night_name: self.night_name.clone(),
            peer_id: self.peer_id.clone(),
        }
    }
}

/// Tauri-managed state: the signed-in coordinator, if any (memory only).
#[derive(Default)]
pub struct CoordinatorState {
    session: tokio::sync::RwLock<Option<Arc<Session>>>,
    /// Exports under way, by the id the UI gave them: set to cancel.
    exports:
        std::sync::Mutex<std::collections::HashMap<String, Arc<std::sync::atomic::AtomicBool>>>,
}

impl CoordinatorState {
    async fn session(&self) -> Result<Arc<Session>> {
        self.session
            .read()
            .await
            .clone()
            .ok_or(CoordinatorError::NotSignedIn)
    }

    /// Checks the token with `GET /api/me` (a coordinator token bound to a night) and reads the
    /// night's name from its progress; only then is the session kept.
    pub async fn sign_in(&self, server_url: &str, token: &str) -> Result<SessionView> {
        let server_url =
            normalise_server_url(server_url).map_err(|_| CoordinatorError::InvalidServerUrl)?;
        let token = token.trim();
        if token.is_empty() || token.len() > 256 || !token.chars().all(|c| c.is_ascii_graphic()) {
            return Err(CoordinatorError::InvalidInput("token"));
        }
        let mut session = Session {
            server_url,
            token: Token(token.to_owned()),
            night_id: Uuid::nil(),
            night_name: String::new(),
            peer_id: String::new(),
            http: http_client()?,
        };
        let me: Me = session.get_json("/api/me").await?;
        let night_id = match (me.role.as_str(), me.night_id) {
            ("coordinator", Some(night)) => night,
            _ => return Err(CoordinatorError::NotCoordinator),
        };
        session.night_id = night_id;
        session.peer_id = me.peer_id;
        let progress: ProgressView = session.get_json(&session.night_path("progress")).await?;
        session.night_name = progress.night_name;
        let view = session.view();
        *self.session.write().await = Some(Arc::new(session));
        tracing::info!(night_id = %night_id, "coordinator signed in");
        Ok(view)
    }

    /// Sends `method path` (with a JSON body if given) to the signed-in coordinator's server
    /// with the token; for the other coordinator screens (`climate_coord`).
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        json_body: Option<String>,
    ) -> Result<Vec<u8>> {
        let s = self.session().await?;
        let mut request = s.http.request(method, format!("{}{path}", s.server_url));
        if let Some(body) = json_body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        s.send(request).await
    }

    pub async fn current(&self) -> Option<SessionView> {
        self.session.read().await.as_ref().map(|s| s.view())
    }

    /// Forgets the session and stops the exports under way (each holds the session's token).
    pub async fn sign_out(&self) {
        *self.session.write().await = None;
        if let Ok(exports) = self.exports.lock() {
            for flag in exports.values() {
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    /// `GET …/progress?silent_after_minutes=` (1–720; the server's default is 30).
    pub async fn progress(&self, silent_after_minutes: Option<u32>) -> Result<ProgressView> {
        let s = self.session().await?;
        let query = match silent_after_minutes {
            Some(m) if (1..=720).contains(&m) => format!("?silent_after_minutes={m}"),
            Some(_) => return Err(CoordinatorError::InvalidInput("silent_after_minutes")),
            None => String::new(),
        };
        s.get_json(&s.night_path(&format!("progress{query}"))).await
    }

    /// `GET …/progress.svg`: the map, as SVG text (shown by the UI as an image, never inlined).
    pub async fn progress_map(&self) -> Result<String> {
        let s = self.session().await?;
        let body = s.get(&s.night_path("progress.svg")).await?;
        let svg = String::from_utf8(body).map_err(|_| CoordinatorError::BadAnswer("map"))?;
        if !svg.trim_start().starts_with("<svg") && !svg.trim_start().starts_with("<?xml") {
            return Err(CoordinatorError::BadAnswer("map"));
        }
        Ok(svg)
    }

    pub async fn consolidation(&self) -> Result<Consolidation> {
        let s = self.session().await?;
        s.get_json(&s.night_path("consolidation")).await
    }

    pub async fn duplicates(&self) -> Result<DuplicatesView> {
        let s = self.session().await?;
        s.get_json(&s.night_path("duplicates")).await
    }

    pub async fn decide_duplicate(
        &self,
        first: Uuid,
        second: Uuid,
        verdict: DuplicateVerdict,
    ) -> Result<DuplicateDecision> {
        if first == second {
            return Err(CoordinatorError::InvalidInput("pair"));
        }
        let s = self.session().await?;
        let url = format!(
            "{}{}",
            s.server_url,
            s.night_path(&format!("duplicates/{first}+{second}"))
        );
        let body = serde_json::json!({ "verdict": verdict }).to_string();
        let answer = s
            .send(
                s.http
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await?;
        serde_json::from_slice(&answer).map_err(|_| CoordinatorError::BadAnswer("decision"))
    }
}

// ---- Commands (thin): names and arguments as `ui/src/coordinator/backend.ts` ----

#[tauri::command]
pub async fn coord_sign_in(
    state: State<'_, CoordinatorState>,
    server_url: String,
    token: String,
) -> Result<SessionView> {
    state.sign_in(&server_url, &token).await
}

#[tauri::command]
pub async fn coord_session(state: State<'_, CoordinatorState>) -> Result<Option<SessionView>> {
    Ok(state.current().await)
}

#[tauri::command]
pub async fn coord_sign_out(state: State<'_, CoordinatorState>) -> Result<()> {
    state.sign_out().await;
    Ok(())
}

#[tauri::command]
pub async fn coord_progress(
    state: State<'_, CoordinatorState>,
    silent_after_minutes: Option<u32>,
) -> Result<ProgressView> {
    state.progress(silent_after_minutes).await
}

#[tauri::command]
pub async fn coord_progress_map(state: State<'_, CoordinatorState>) -> Result<String> {
    state.progress_map().await
}

#[tauri::command]
pub async fn coord_consolidation(state: State<'_, CoordinatorState>) -> Result<Consolidation> {
    state.consolidation().await
}

#[tauri::command]
pub async fn coord_duplicates(state: State<'_, CoordinatorState>) -> Result<DuplicatesView> {
    state.duplicates().await
}

#[tauri::command]
pub async fn coord_decide_duplicate(
    state: State<'_, CoordinatorState>,
    first: Uuid,
    second: Uuid,
    verdict: DuplicateVerdict,
) -> Result<DuplicateDecision> {
    state.decide_duplicate(first, second, verdict).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn errors_cross_as_code_and_message_without_the_token() {
        let e = serde_json::to_value(CoordinatorError::Unauthorized).unwrap();
        assert_eq!(e["code"], "unauthorized");
        assert!(e["message"].as_str().unwrap().contains("refused"));
        let t = Token("carnet_secret".into());
        assert_eq!(format!("{t:?}"), "Token(***)");
        assert_eq!(
            serde_json::to_value(CoordinatorError::BadAnswer("x")).unwrap()["code"],
            "serverError"
        );
    }

    #[test]
    fn server_statuses_map_to_codes() {
        let body = br#"{"code":"encounter_not_found","message":"no"}"#;
        assert_eq!(
            status_error(404, body).code(),
            CoordinatorErrorCode::NotFound
        );
        assert_eq!(
            status_error(401, b"").code(),
            CoordinatorErrorCode::Unauthorized
        );
        assert_eq!(
            status_error(403, b"").code(),
            CoordinatorErrorCode::NotCoordinator
        );
        assert_eq!(
            status_error(400, b"{}").code(),
            CoordinatorErrorCode::InvalidInput
        );
        assert_eq!(
            status_error(500, b"").code(),
            CoordinatorErrorCode::ServerError
        );
    }

    #[tokio::test]
    async fn nothing_is_read_before_signing_in_and_bad_input_is_refused() {
        let state = CoordinatorState::default();
        assert_eq!(
            state.progress(None).await.unwrap_err().code(),
            CoordinatorErrorCode::NotSignedIn
        );
        assert_eq!(
            state.sign_in("ftp://x.org", "t").await.unwrap_err().code(),
            CoordinatorErrorCode::InvalidServerUrl
        );
        assert_eq!(
            state
                .sign_in("http://127.0.0.1:9", "a token with spaces")
                .await
                .unwrap_err()
                .code(),
            CoordinatorErrorCode::InvalidInput
        );
        assert_eq!(
            state
                .sign_in("http://127.0.0.1:9", "carnet_0123")
                .await
                .unwrap_err()
                .code(),
            CoordinatorErrorCode::ServerUnreachable
        );
        assert!(state.current().await.is_none());
    }
}
