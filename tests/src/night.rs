//! A simulated night through a real server, shared by the end-to-end test
//! (`tests/night_report.rs`, which checks the figures) and `carnet-bench night` (which times
//! them): `carnet_shared::sim` writes a seeded night on top of the documents the server made,
//! every team's devices push their own copies (with their concurrent edits) over real
//! WebSockets, and the coordinators' decisions and the partners' counts go through the report
//! API.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use automerge::AutoCommit;
use automerge::transaction::Transactable;
use axum::http::StatusCode;
use carnet_shared::doc::{self, DocError};
use carnet_shared::model::{Millis, Review};
use carnet_shared::sim::{SimBases, SimConfig, SimNight, simulate_on};
use serde_json::json;
use tokio::task::JoinSet;

use crate::{Device, DeviceError, Enrolled, NightSetup, TestServer, http};

pub struct NightRun {
    pub server: TestServer,
    pub night: NightSetup,
    pub coordinator: Enrolled,
    pub sim: SimNight,
    /// The simulator's review (decisions replayed through the API).
    pub review: Review,
    /// From the first push to the last team acknowledged.
    pub sync_time: Duration,
    /// The first consolidation answer after the last team was acknowledged, before any
    /// decision (the time from "all teams synced" to "totals returned").
    pub first_totals_time: Duration,
    /// `(encounter id, field)` of the conflicts the server listed.
    pub conflicts_found: BTreeSet<(String, String)>,
}

impl NightRun {
    pub fn consolidation_path(&self) -> String {
        format!("/api/nights/{}/consolidation", self.night.night_id)
    }

    /// `GET` through a real HTTP connection with the coordinator's token.
    pub async fn get(&self, path: &str) -> anyhow::Result<http::HttpResponse> {
        http::get(self.server.addr, path, &self.coordinator.token).await
    }
}

fn to_auto(doc: Option<&automerge::Automerge>) -> anyhow::Result<AutoCommit> {
    Ok(AutoCommit::load(&doc.context("document not held")?.save())?)
}

/// Runs the whole night: `config.teams` simulated teams plus one whose newer app writes
/// schema 2 (reported as unreadable), each with `config.devices_per_team` devices.
pub async fn run_simulated_night(
    dir: &Path,
    config: &SimConfig,
    seed: u64,
    start: Millis,
) -> anyhow::Result<NightRun> {
    let server = TestServer::start(dir).await?;
    let devices_per_team = u32::try_from(config.devices_per_team)?;
    let night = server.night(config.teams + 1, devices_per_team).await?;
    let coordinator = server
        .coordinator(&night.night_id, "read-write", "read-only")
        .await?;
    let mut hq = Device::new(&coordinator.peer_id, &coordinator.token);
    hq.connect(server.addr).await?;
    hq.open(night.night_doc).await?;

    // Every device enrols and opens its team document.
    let mut devices: Vec<Vec<Device>> = Vec::new();
    let mut bases = Vec::new();
    for team in &night.teams {
        let mut team_devices = Vec::new();
        for code in &team.codes {
            let enrolled = server.enrol(code).await?;
            let mut device = Device::new(&enrolled.peer_id, &enrolled.token);
            device.connect(server.addr).await?;
            device.open(team.doc).await?;
            team_devices.push(device);
        }
        bases.push(to_auto(
            team_devices.first().and_then(|d| d.document(&team.doc)),
        )?);
        devices.push(team_devices);
    }
    bases.pop();
    let night_base = to_auto(hq.document(&night.night_doc))?;
    let mut sim = simulate_on(
        config,
        seed,
        start,
        Some(SimBases {
            night: night_base,
            teams: bases,
        }),
    )?;
    let review = doc::read_review(&sim.review_doc)?;

    // The night's sectors and questionnaire, from the coordinators' device.
    let mut night_doc = sim.night_doc.fork();
    hq.edit(night.night_doc, |d| {
        d.merge(&mut night_doc).map_err(DocError::from)
    })
    .await?;
    hq.sync_until_acknowledged(night.night_doc).await?;

    // Every device pushes its own copy, all teams at once.
    let pushed = Instant::now();
    let mut pushes = JoinSet::new();
    let newer = devices.pop().context("no teams")?;
    for ((team, team_devices), copies) in night
        .teams
        .iter()
        .zip(devices)
        .zip(std::mem::take(&mut sim.device_docs))
    {
        let doc_id = team.doc;
        pushes.spawn(async move {
            for (mut device, mut copy) in team_devices.into_iter().zip(copies) {
                device
                    .edit(doc_id, |d| d.merge(&mut copy).map_err(DocError::from))
                    .await?;
                device.sync_until_acknowledged(doc_id).await?;
                device.go_offline().await;
            }
            Ok::<_, DeviceError>(())
        });
    }
    // The newer app of the last team.
    let newer_doc = night.teams.last().context("no teams")?.doc;
    let mut newer_device = newer.into_iter().next().context("no device")?;
    newer_device
        .edit(newer_doc, |d| {
            d.put(automerge::ROOT, "schema", automerge::ScalarValue::Uint(2))?;
            Ok(())
        })
        .await?;
    newer_device.sync_until_acknowledged(newer_doc).await?;
    while let Some(joined) = pushes.join_next().await {
        joined??;
    }
    let sync_time = pushed.elapsed();
    let asked = Instant::now();
    let first = http::get(
        server.addr,
        &format!("/api/nights/{}/consolidation", night.night_id),
        &coordinator.token,
    )
    .await?;
    let first_totals_time = asked.elapsed();
    ensure!(first.status == 200, "consolidation: {}", first.status);

    // The coordinators' decisions and the partners' counts, through the API.
    let n = night.night_id.clone();
    let token = Some(coordinator.token.as_str());
    for d in review.duplicates.values() {
        let (status, body) = server
            .api(
                "POST",
                &format!("/api/nights/{n}/duplicates/{}", d.key()),
                token,
                Some(json!({"verdict": d.verdict})),
            )
            .await?;
        ensure!(status == StatusCode::OK, "duplicate: {status} {body}");
    }
    let (status, conflicts) = server
        .api("GET", &format!("/api/nights/{n}/conflicts"), token, None)
        .await?;
    ensure!(status == StatusCode::OK, "conflicts: {status}");
    let conflicts_found = conflicts
        .as_array()
        .context("conflicts")?
        .iter()
        .filter_map(|c| {
            Some((
                c["encounterId"].as_str()?.to_owned(),
                c["field"].as_str()?.to_owned(),
            ))
        })
        .collect();
    for r in review.resolutions.values() {
        let (status, body) = server
            .api(
                "POST",
                &format!("/api/nights/{n}/conflicts"),
                token,
                Some(json!({"encounterId": r.encounter_id, "chosen": r.chosen})),
            )
            .await?;
        ensure!(status == StatusCode::OK, "resolution: {status} {body}");
    }
    for p in &sim.partners {
        let (status, body) = server
            .api(
                "POST",
                &format!("/api/nights/{n}/partner-entries"),
                token,
                Some(serde_json::to_value(p)?),
            )
            .await?;
        ensure!(status == StatusCode::CREATED, "partner: {status} {body}");
    }
    Ok(NightRun {
        server,
        night,
        coordinator,
        sim,
        review,
        sync_time,
        first_totals_time,
        conflicts_found,
    })
}
