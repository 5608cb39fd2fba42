//! The real `carnet-server` binary on a loopback port, with its SQLite file in a directory the
//! test owns, and the admin API calls the scenarios need (plain HTTP, `reqwest`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, anyhow, bail, ensure};
use carnet_shared::ids::DocumentId;
use serde_json::{Value, json};

use crate::{binary, process, wait_for};

pub const ADMIN_TOKEN: &str = "app-e2e-admin-token-0123456789abcdef";

pub struct ServerProcess {
    pub addr: SocketAddr,
    pub db_path: PathBuf,
    child: Child,
    http: reqwest::Client,
}

/// What `POST /api/nights` + `POST /api/nights/{id}/teams` gave.
#[derive(Debug, Clone)]
pub struct Night {
    pub night_id: String,
    pub night_doc: DocumentId,
    pub team_id: String,
    pub team_name: String,
    pub team_doc: DocumentId,
    pub codes: Vec<String>,
}

impl ServerProcess {
    /// Starts `carnet-server serve` on `dir/carnet.sqlite3`, listening on `port` (0: any free
    /// port; the one taken is read from the server's `listening` log line).
    pub async fn start(dir: &Path, port: u16) -> anyhow::Result<Self> {
        let bin = binary("CARNET_SERVER_BIN", "carnet-server");
        ensure!(
            bin.exists(),
            "{} missing: cargo build -p carnet-server",
            bin.display()
        );
        let db_path = dir.join("carnet.sqlite3");
        let log_path = dir.join(format!("server-{}.log", uuid::Uuid::new_v4()));
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(&bin)
            .arg("serve")
            .arg("--db")
            .arg(&db_path)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env("CARNET_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut server = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            db_path,
            child,
            http: reqwest::Client::new(),
        };
        let child = &mut server.child;
        server.addr = wait_for("the server's listening line", || {
            let exited = child.try_wait();
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            async move {
                if let Some(status) = exited? {
                    bail!("carnet-server exited at start ({status}):\n{text}");
                }
                Ok(text
                    .lines()
                    .find(|l| l.contains("listening"))
                    .and_then(|l| l.split("addr=").nth(1))
                    .and_then(|a| a.split_whitespace().next())
                    .and_then(|a| a.parse::<SocketAddr>().ok()))
            }
        })
        .await?;
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Graceful stop (SIGTERM): live sockets are closed, the file is left consistent.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let status = process::terminate(&mut self.child, Duration::from_secs(20))?;
        ensure!(status.success(), "carnet-server exited with {status}");
        Ok(())
    }

    /// One JSON API call.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self.http.request(method, format!("{}{path}", self.url()));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// A night with one team and `codes` enrolment codes, through the admin API.
    pub async fn night(&self, team_name: &str, codes: u32) -> anyhow::Result<Night> {
        let (status, night) = self
            .api(
                reqwest::Method::POST,
                "/api/nights",
                Some(ADMIN_TOKEN),
                Some(json!({"name": "Nuit de la Solidarité 2026", "date": "2026-01-22"})),
            )
            .await?;
        ensure!(status == 201, "night: {status} {night}");
        let night_id = text(&night, "night_id")?.to_owned();
        let (status, created) = self
            .api(
                reqwest::Method::POST,
                &format!("/api/nights/{night_id}/teams"),
                Some(ADMIN_TOKEN),
                Some(json!({"teams": [{"name": team_name}], "codes_per_team": codes})),
            )
            .await?;
        ensure!(status == 201, "teams: {status} {created}");
        let team = created["teams"]
            .get(0)
            .ok_or_else(|| anyhow!("no team in {created}"))?;
        Ok(Night {
            night_doc: DocumentId::parse(text(&night, "document_id")?)?,
            night_id,
            team_id: text(team, "team_id")?.to_owned(),
            team_name: team_name.to_owned(),
            team_doc: DocumentId::parse(text(team, "document_id")?)?,
            codes: team["enrolment_codes"]
                .as_array()
                .ok_or_else(|| anyhow!("no codes in {team}"))?
                .iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect(),
        })
    }

    /// The admin token's peer id (its scope is every document, read-write).
    pub async fn admin_peer_id(&self) -> anyhow::Result<String> {
        let (status, me) = self
            .api(reqwest::Method::GET, "/api/me", Some(ADMIN_TOKEN), None)
            .await?;
        ensure!(status == 200, "me: {status} {me}");
        Ok(text(&me, "peer_id")?.to_owned())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = process::terminate(&mut self.child, Duration::from_secs(10));
    }
}

fn text<'a>(value: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    value[key]
        .as_str()
        .with_context(|| format!("{key} missing in {value}"))
}
