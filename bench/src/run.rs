//! One measured run: start a server, set up K teams (not measured), then K devices connect at
//! once and upload their round, then one coordinator fetches every team document.
//!
//! Both servers do the same work in the measured part. The team documents already exist on the
//! server and on each device before it starts (our server creates them when the night is set
//! up; on Node a set-up connection per team uploads the same kind of skeleton), because our
//! server only accepts a device's writes to the team document it was enrolled in. Each device
//! then records its encounters offline (one change each) and reconnects: that reconnection
//! storm is what is measured.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use automerge::{ActorId, Automerge};
use carnet_shared::engine::Engine;
use carnet_shared::ids::DocumentId;
use rand::RngExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use uuid::Uuid;

use crate::client::{self, Goal, Seat};
use crate::server::Running;
use crate::workload;
use crate::{node, ours};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ServerKind {
    Ours,
    Node,
}

impl ServerKind {
    pub fn label(self) -> &'static str {
        match self {
            ServerKind::Ours => "carnet-server",
            ServerKind::Node => "Node automerge-repo",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub teams: usize,
    pub records: usize,
    /// Hard limit for the whole run, set-up included.
    pub timeout: Duration,
    pub server_bin: PathBuf,
    pub node_script: PathBuf,
    pub node_storage: bool,
    pub ticks: u64,
}

/// The measurements of one run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Server CPU (user + system, /proc) from just before the devices connect until the
    /// coordinator has every document.
    pub cpu_s: f64,
    /// The same, until every upload is acknowledged.
    pub cpu_upload_s: f64,
    /// VmHWM over the server's whole life (start, set-up and measured part).
    pub peak_rss_kib: u64,
    /// From the moment the devices start connecting until the last acknowledgement.
    pub upload_wall_s: f64,
    /// The coordinator: connect and receive every team document.
    pub fetch_wall_s: f64,
    pub records: usize,
    /// Node only: `process.cpuUsage()` (from after module loading to SIGTERM) and maxRSS.
    pub self_cpu_s: Option<f64>,
    pub self_rss_kib: Option<u64>,
}

/// A device ready to reconnect: its engine holds the team document with its new encounters.
struct Device {
    seat: Seat,
    doc: DocumentId,
    engine: Engine,
}

pub async fn run_once(kind: ServerKind, config: &RunConfig) -> anyhow::Result<RunResult> {
    let deadline = Instant::now() + config.timeout;
    let (server, admin) = match kind {
        ServerKind::Ours => {
            let (server, admin) = ours::launch(&config.server_bin, config.ticks).await?;
            (server, Some(admin))
        }
        ServerKind::Node => {
            let max_seconds = config.timeout.as_secs() + 30;
            let server = node::launch(
                &config.node_script,
                config.node_storage,
                max_seconds,
                config.ticks,
            )
            .await?;
            (server, None)
        }
    };
    // Any early return drops `server`, which kills it (`kill_on_drop`).
    let outcome = tokio::time::timeout_at(deadline, measure(&server, admin, config, deadline))
        .await
        .context("the run hit its hard timeout")?;
    let mut result = match outcome {
        Ok(result) => result,
        Err(e) => {
            let _ = server.stop().await;
            return Err(e);
        }
    };
    let lines = server.stop().await?;
    if kind == ServerKind::Node {
        let report = node::self_report(&lines).context("the Node server did not report")?;
        result.self_cpu_s = Some(report.cpu_total_us as f64 / 1e6);
        result.self_rss_kib = Some(report.max_rss_kib);
    }
    Ok(result)
}

async fn measure(
    server: &Running,
    admin: Option<String>,
    config: &RunConfig,
    deadline: Instant,
) -> anyhow::Result<RunResult> {
    let now_ms = wall_clock_ms()?;
    let (seats, coordinator) = match &admin {
        Some(admin) => {
            let night = ours::provision(server, admin, config.teams).await?;
            let seats = night
                .devices
                .into_iter()
                .map(|d| (d.seat, d.doc))
                .collect::<Vec<_>>();
            (seats, night.coordinator)
        }
        None => node_seats(server, config.teams),
    };
    let saved = setup(seats, admin.is_some(), now_ms, deadline).await?;

    // Offline: every device records its round (client CPU, before the measurement starts).
    let mut devices = Vec::with_capacity(saved.len());
    for (i, (seat, doc, actor, bytes)) in saved.into_iter().enumerate() {
        let device = format!("device-{i}");
        let round = workload::record_round(
            &bytes,
            actor,
            &device,
            config.records,
            now_ms + 3_600_000,
            &mut Uuid::now_v7,
        )?;
        let mut engine = seat.engine();
        let _ = engine.insert_document(doc, round)?;
        devices.push(Device { seat, doc, engine });
    }
    let docs: Vec<DocumentId> = devices.iter().map(|d| d.doc).collect();

    // Measured part 1: every device reconnects at once and uploads.
    let cpu_start = server.watch.cpu_seconds()?;
    let started = Instant::now();
    let mut uploads = JoinSet::new();
    for device in devices {
        uploads.spawn(async move {
            client::run(
                &device.seat,
                device.engine,
                &Goal::Acked(device.doc),
                deadline,
            )
            .await
        });
    }
    while let Some(joined) = uploads.join_next().await {
        joined.context("an upload task panicked")??;
    }
    let upload_wall_s = started.elapsed().as_secs_f64();
    let cpu_uploaded = server.watch.cpu_seconds()?;

    // Measured part 2: the coordinator fetches every team document.
    let mut engine = coordinator.engine();
    let actor = random_actor();
    for doc in &docs {
        let _ = engine.want_document(*doc, actor.clone());
    }
    let session = client::run(&coordinator, engine, &Goal::Mirror(docs.clone()), deadline).await?;
    let cpu_end = server.watch.cpu_seconds()?;
    let peak_rss_kib = server.watch.peak_rss_kib()?;
    let records = docs
        .iter()
        .filter_map(|doc| session.engine.document(doc))
        .map(workload::count_encounters)
        .sum();
    Ok(RunResult {
        cpu_s: cpu_end - cpu_start,
        cpu_upload_s: cpu_uploaded - cpu_start,
        peak_rss_kib,
        upload_wall_s,
        fetch_wall_s: session.elapsed.as_secs_f64(),
        records,
        self_cpu_s: None,
        self_rss_kib: None,
    })
}

/// Node has no enrolment: each device picks a peer id and a document id for its team.
fn node_seats(server: &Running, teams: usize) -> (Vec<(Seat, DocumentId)>, Seat) {
    let mut rng = rand::rng();
    let seats = (0..teams)
        .map(|i| {
            let seat = Seat {
                ws_url: server.ws_url(),
                token: None,
                peer_id: format!("bench-device-{i}-{}", hex::encode(rng.random::<[u8; 6]>())),
            };
            (seat, DocumentId::from_bytes(rng.random()))
        })
        .collect();
    let coordinator = Seat {
        ws_url: server.ws_url(),
        token: None,
        peer_id: format!("bench-coordinator-{}", hex::encode(rng.random::<[u8; 6]>())),
    };
    (seats, coordinator)
}

/// Not measured: each device gets its team document in sync with the server. On our server it
/// downloads the document the server made; on Node it uploads a skeleton made the same way.
/// Returns, per device, its seat, document, actor and saved document.
async fn setup(
    seats: Vec<(Seat, DocumentId)>,
    server_made: bool,
    now_ms: i64,
    deadline: Instant,
) -> anyhow::Result<Vec<(Seat, DocumentId, ActorId, Vec<u8>)>> {
    // Gentle: set-up connections are not what is measured.
    let gate = Arc::new(Semaphore::new(32));
    let night_id = Uuid::now_v7();
    let mut tasks = JoinSet::new();
    for (i, (seat, doc)) in seats.into_iter().enumerate() {
        let gate = Arc::clone(&gate);
        let actor = random_actor();
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let mut engine = seat.engine();
            let goal = if server_made {
                let _ = engine.want_document(doc, actor.clone());
                Goal::Mirror(vec![doc])
            } else {
                let mut skeleton = workload::team_skeleton(actor.clone(), night_id, i + 1, now_ms)?;
                let data = Automerge::load(&skeleton.save())?.with_actor(actor.clone());
                let _ = engine.insert_document(doc, data)?;
                Goal::Acked(doc)
            };
            let session = client::run(&seat, engine, &goal, deadline).await?;
            if !session.unavailable.is_empty() {
                bail!("the server said the team document is unavailable");
            }
            let bytes = session
                .engine
                .document(&doc)
                .context("the team document is missing after set-up")?
                .save();
            anyhow::Ok((i, seat, doc, actor, bytes))
        });
    }
    let mut out = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        out.push(joined.context("a set-up task panicked")??);
    }
    out.sort_by_key(|(i, ..)| *i);
    Ok(out
        .into_iter()
        .map(|(_, seat, doc, actor, bytes)| (seat, doc, actor, bytes))
        .collect())
}

fn random_actor() -> ActorId {
    ActorId::from(rand::rng().random::<[u8; 16]>().as_slice())
}

fn wall_clock_ms() -> anyhow::Result<i64> {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?;
    Ok(i64::try_from(since.as_millis())?)
}
