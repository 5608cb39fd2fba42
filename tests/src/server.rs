//! A real `carnet-server` (router, sync actor, SQLite file) on 127.0.0.1:0, and the admin API
//! calls the scenarios need.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail, ensure};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use carnet_server::auth::{PeerId, Role, TokenId, TokenSecret};
use carnet_server::db::Db;
use carnet_server::db::tokens::{NewToken, ensure_admin_token};
use carnet_server::{AppState, ServerConfig, router};
use carnet_shared::ids::DocumentId;
use carnet_shared::store::Store;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::HANG_GUARD;

pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789abcdef0123";

/// A running server. Dropping it without [`TestServer::stop`] aborts it.
pub struct TestServer {
    pub state: AppState,
    pub addr: SocketAddr,
    pub db_path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Starts (or restarts) a server on the SQLite file `dir/carnet.sqlite3`.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        Self::start_with(dir, ServerConfig::default()).await
    }

    pub async fn start_with(dir: &Path, config: ServerConfig) -> anyhow::Result<Self> {
        Self::bind(dir, config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Restarts a stopped server on its address (`server.addr`), where its clients expect it.
    pub async fn start_on(dir: &Path, addr: SocketAddr) -> anyhow::Result<Self> {
        Self::bind(dir, ServerConfig::default(), addr).await
    }

    async fn bind(dir: &Path, config: ServerConfig, addr: SocketAddr) -> anyhow::Result<Self> {
        let db_path = dir.join("carnet.sqlite3");
        let db = Db::open(&db_path)?;
        let seed = NewToken {
            id: TokenId(uuid::Uuid::new_v4()),
            secret_hash: [0; 32],
            role: Role::Admin,
            peer_id: PeerId::for_role(Role::Admin, *uuid::Uuid::new_v4().as_bytes()),
            night_id: None,
            team_id: None,
            label: None,
            created_at: 0,
            expires_at: None,
        };
        db.call_blocking(|c| {
            ensure_admin_token(c, Some(ADMIN_TOKEN), TokenSecret::generate(), seed)
        })?;
        let state = AppState::new(db, config)?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(carnet_server::serve(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            state,
            addr,
            db_path,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The `/sync` URL with the token as query parameter (as browsers and the JS client do).
    pub fn sync_url(&self, token: &str) -> String {
        format!("ws://{}/sync?token={token}", self.addr)
    }

    /// Graceful stop: live sockets get 1001, in-flight requests finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(HANG_GUARD, task).await???;
        }
        Ok(())
    }

    /// One JSON API call through the real router.
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))?,
            None => request.body(Body::empty())?,
        };
        let response = router(self.state.clone()).oneshot(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// The night's consolidated figures without the time they were computed at (for "the
    /// figures did not change" comparisons).
    pub async fn figures(&self, night_id: &str, token: &str) -> anyhow::Result<Value> {
        let (status, mut body) = self
            .api(
                "GET",
                &format!("/api/nights/{night_id}/consolidation"),
                Some(token),
                None,
            )
            .await?;
        ensure!(status == StatusCode::OK, "consolidation: {status} {body}");
        if let Value::Object(map) = &mut body {
            map.remove("generatedAt");
        }
        Ok(body)
    }

    /// A night with `teams` teams (`Équipe 1`…), each with `codes` enrolment codes.
    pub async fn night(&self, teams: usize, codes: u32) -> anyhow::Result<NightSetup> {
        let (status, night) = self
            .api(
                "POST",
                "/api/nights",
                Some(ADMIN_TOKEN),
                Some(json!({"name": "Nuit de la Solidarité 2026", "date": "2026-01-22"})),
            )
            .await?;
        ensure!(status == StatusCode::CREATED, "night: {status} {night}");
        let night_id = text(&night, "night_id")?.to_owned();
        let names: Vec<Value> = (1..=teams)
            .map(|n| json!({"name": format!("Équipe {n}")}))
            .collect();
        let (status, created) = self
            .api(
                "POST",
                &format!("/api/nights/{night_id}/teams"),
                Some(ADMIN_TOKEN),
                Some(json!({"teams": names, "codes_per_team": codes})),
            )
            .await?;
        ensure!(status == StatusCode::CREATED, "teams: {status} {created}");
        let teams = created["teams"]
            .as_array()
            .ok_or_else(|| anyhow!("no teams in {created}"))?
            .iter()
            .map(|t| {
                Ok(TeamSetup {
                    team_id: text(t, "team_id")?.to_owned(),
                    doc: DocumentId::parse(text(t, "document_id")?)?,
                    codes: t["enrolment_codes"]
                        .as_array()
                        .ok_or_else(|| anyhow!("no codes"))?
                        .iter()
                        .filter_map(|c| c.as_str().map(str::to_owned))
                        .collect(),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(NightSetup {
            night_id,
            night_doc: DocumentId::parse(text(&night, "document_id")?)?,
            teams,
        })
    }

    /// Spends an enrolment code.
    pub async fn enrol(&self, code: &str) -> anyhow::Result<Enrolled> {
        let (status, body) = self
            .api("POST", "/api/enrol", None, Some(json!({"code": code})))
            .await?;
        ensure!(status == StatusCode::CREATED, "enrol: {status} {body}");
        Enrolled::from_json(&body)
    }

    /// A coordinator token for the night with the given accesses (`read-only`/`read-write`).
    pub async fn coordinator(
        &self,
        night_id: &str,
        night_access: &str,
        team_access: &str,
    ) -> anyhow::Result<Enrolled> {
        let (status, body) = self
            .api(
                "POST",
                &format!("/api/nights/{night_id}/coordinator-tokens"),
                Some(ADMIN_TOKEN),
                Some(json!({"night_access": night_access, "team_access": team_access})),
            )
            .await?;
        ensure!(
            status == StatusCode::CREATED,
            "coordinator: {status} {body}"
        );
        Enrolled::from_json(&body)
    }

    /// The admin token's identity (its scope is every document, read-write).
    pub async fn admin(&self) -> anyhow::Result<Enrolled> {
        let (status, body) = self.api("GET", "/api/me", Some(ADMIN_TOKEN), None).await?;
        ensure!(status == StatusCode::OK, "me: {status} {body}");
        Ok(Enrolled {
            token: ADMIN_TOKEN.to_owned(),
            token_id: text(&body, "token_id")?.to_owned(),
            peer_id: text(&body, "peer_id")?.to_owned(),
        })
    }

    pub async fn revoke(&self, token_id: &str) -> anyhow::Result<()> {
        let (status, body) = self
            .api(
                "POST",
                &format!("/api/tokens/{token_id}/revoke"),
                Some(ADMIN_TOKEN),
                None,
            )
            .await?;
        if status != StatusCode::OK {
            bail!("revoke: {status} {body}");
        }
        Ok(())
    }

    /// Opens the server's SQLite file with the shared store (a second connection, as an
    /// auditor would): what is there is what was durably stored.
    pub fn open_store(&self) -> anyhow::Result<Store> {
        Ok(Store::open(&self.db_path)?)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

pub struct NightSetup {
    pub night_id: String,
    pub night_doc: DocumentId,
    pub teams: Vec<TeamSetup>,
}

pub struct TeamSetup {
    pub team_id: String,
    pub doc: DocumentId,
    pub codes: Vec<String>,
}

/// A token as the API hands it out.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub token: String,
    pub token_id: String,
    pub peer_id: String,
}

impl Enrolled {
    fn from_json(body: &Value) -> anyhow::Result<Self> {
        Ok(Self {
            token: text(body, "token")?.to_owned(),
            token_id: text(body, "token_id")?.to_owned(),
            peer_id: text(body, "peer_id")?.to_owned(),
        })
    }
}

fn text<'a>(value: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    value[key]
        .as_str()
        .with_context(|| format!("{key} missing in {value}"))
}
