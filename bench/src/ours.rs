//! Our server (`carnet-server serve`) and the admin/enrolment API calls the benchmark needs.
//! Every route and field name of that API lives in this module only.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use carnet_shared::ids::DocumentId;
use rand::RngExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::client::Seat;
use crate::proc::ProcWatch;
use crate::server::{Running, log_tail, spawn};

/// One enrolled device of one team.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub seat: Seat,
    pub doc: DocumentId,
}

/// What the benchmark needs from a provisioned night.
#[derive(Debug)]
pub struct Night {
    pub devices: Vec<Enrolled>,
    pub coordinator: Seat,
}

/// Starts `carnet-server serve` on a fresh database and waits for `/healthz`.
pub async fn launch(bin: &Path, ticks: u64) -> anyhow::Result<(Running, String)> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let port = free_port()?;
    let admin_token = format!("bench_{}", hex::encode(rand::rng().random::<[u8; 32]>()));
    let mut command = tokio::process::Command::new(bin);
    command
        .arg("serve")
        .arg("--db")
        .arg(dir.path().join("bench.sqlite3"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env("CARNET_ADMIN_TOKEN", &admin_token);
    let (mut child, pid) = spawn(command, &dir)?;
    let addr = format!("127.0.0.1:{port}");
    let http = http_client()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "carnet-server exited at start ({status}):\n{}",
                log_tail(&dir)
            );
        }
        let healthy = http
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if healthy {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("carnet-server did not answer /healthz:\n{}", log_tail(&dir));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let running = Running {
        child,
        pid,
        watch: ProcWatch::new(pid, ticks),
        addr,
        stdout: None,
        _dir: dir,
    };
    Ok((running, admin_token))
}

/// A night with `teams` teams, one enrolled device per team, and a coordinator token that can
/// read every team document.
pub async fn provision(server: &Running, admin: &str, teams: usize) -> anyhow::Result<Night> {
    let http = http_client()?;
    let night: NightCreated = post(
        &http,
        &server.http_url("/api/nights"),
        Some(admin),
        json!({ "name": "Nuit de la Solidarité (banc d'essai)" }),
    )
    .await?;
    let specs: Vec<_> = (1..=teams)
        .map(|i| json!({ "name": format!("Équipe {i}") }))
        .collect();
    let created: TeamsCreated = post(
        &http,
        &server.http_url(&format!("/api/nights/{}/teams", night.night_id)),
        Some(admin),
        json!({ "teams": specs, "codes_per_team": 1 }),
    )
    .await?;
    let mut devices = Vec::with_capacity(created.teams.len());
    for team in &created.teams {
        let code = team
            .enrolment_codes
            .first()
            .context("a team came without an enrolment code")?;
        let enrolled: EnrolAnswer = post(
            &http,
            &server.http_url("/api/enrol"),
            None,
            json!({ "code": code }),
        )
        .await?;
        let doc = DocumentId::parse_url(&enrolled.team_document_url)
            .context("the team document URL does not parse")?;
        devices.push(Enrolled {
            seat: Seat {
                ws_url: server.ws_url(),
                token: Some(enrolled.token),
                peer_id: enrolled.peer_id,
            },
            doc,
        });
    }
    let coordinator: TokenIssued = post(
        &http,
        &server.http_url(&format!(
            "/api/nights/{}/coordinator-tokens",
            night.night_id
        )),
        Some(admin),
        json!({ "label": "bench coordinator", "team_access": "read-only" }),
    )
    .await?;
    Ok(Night {
        devices,
        coordinator: Seat {
            ws_url: server.ws_url(),
            token: Some(coordinator.token),
            peer_id: coordinator.peer_id,
        },
    })
}

#[derive(Deserialize)]
struct NightCreated {
    night_id: String,
}

#[derive(Deserialize)]
struct TeamCreated {
    enrolment_codes: Vec<String>,
}

#[derive(Deserialize)]
struct TeamsCreated {
    teams: Vec<TeamCreated>,
}

#[derive(Deserialize)]
struct TokenIssued {
    token: String,
    peer_id: String,
}

#[derive(Deserialize)]
struct EnrolAnswer {
    token: String,
    peer_id: String,
    team_document_url: String,
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    // Loopback only: never route through a proxy from the environment.
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")
}

async fn post<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    body: serde_json::Value,
) -> anyhow::Result<T> {
    let mut request = http.post(url).json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.context("API request failed")?;
    let status = response.status();
    if !status.is_success() {
        // The error body is the server's `{code, message}`: no secrets in it.
        let text = response.text().await.unwrap_or_default();
        bail!("API call answered {status}: {text}");
    }
    response.json().await.context("API answer does not parse")
}

/// A port free at the time of asking (the server binds it right after).
fn free_port() -> anyhow::Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}
