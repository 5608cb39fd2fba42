//! A simulated night through the real server (`carnet_tests::night`: the seeded simulator
//! written on top of the server's documents, every device pushing its own copy over a real
//! WebSocket, decisions and partners' counts through the report API); the consolidation the
//! API returns is checked exactly against the simulator's ground truth.
//!
//! Size: `CARNET_SIM_TEAMS` teams (default 60, enough for every case the simulator plants);
//! the full Paris size (400) runs in `carnet-bench night`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use carnet_shared::model::DuplicateDecision;
use carnet_shared::sim::SimConfig;
use carnet_tests::http;
use carnet_tests::night::run_simulated_night;
use serde_json::{Value, json};

const START: i64 = 1_769_720_400_000; // 2026-01-29 22:00 (Paris, UTC+1)
const SEED: u64 = 2026;

fn teams_in_test() -> usize {
    std::env::var("CARNET_SIM_TEAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

fn nonzero(lines: &Value) -> BTreeMap<String, u64> {
    lines
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["persons"].as_u64().unwrap() > 0)
        .map(|l| {
            (
                l["key"].as_str().unwrap().to_owned(),
                l["persons"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn nonzero_truth(map: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    map.iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_night_through_the_real_server_consolidates_to_the_ground_truth() {
    let config = SimConfig {
        teams: teams_in_test(),
        ..SimConfig::paris()
    };
    let dir = tempfile::tempdir().unwrap();
    let run = run_simulated_night(dir.path(), &config, SEED, START)
        .await
        .unwrap();
    println!(
        "{} teams synced in {:?}; first totals in {:?}",
        config.teams, run.sync_time, run.first_totals_time
    );
    let (server, night, coordinator, sim, review) = (
        &run.server,
        &run.night,
        &run.coordinator,
        &run.sim,
        &run.review,
    );
    // The server finds exactly the conflicts the simulator made (and resolved).
    let resolved: BTreeSet<(String, String)> = review
        .resolutions
        .values()
        .map(|r| (r.encounter_id.to_string(), r.chosen.field()))
        .collect();
    assert_eq!(run.conflicts_found, resolved);
    assert!(!resolved.is_empty());
    let n = &night.night_id;
    let token = Some(coordinator.token.as_str());

    // The figures, over a real HTTP connection.
    let asked = std::time::Instant::now();
    let answer = http::get(
        server.addr,
        &format!("/api/nights/{n}/consolidation"),
        &coordinator.token,
    )
    .await
    .unwrap();
    println!("consolidation answered in {:?}", asked.elapsed());
    assert_eq!(answer.status, 200);
    let c = answer.json().unwrap();
    let t = &sim.truth;
    let total = |k: &str| c["totals"][k].as_u64().unwrap();
    assert_eq!(total("persons"), t.persons);
    assert_eq!(total("men"), t.men);
    assert_eq!(total("women"), t.women);
    assert_eq!(total("unknownSex"), t.unknown_sex);
    assert_eq!(total("children"), t.children);
    assert_eq!(c["talliedPersons"].as_u64(), Some(t.tallied));
    assert_eq!(c["partnerPersons"].as_u64(), Some(t.partner_persons));
    assert_eq!(c["encounters"].as_u64(), Some(t.encounters));
    assert_eq!(
        c["questionnairesCompleted"].as_u64(),
        Some(t.questionnaires)
    );
    assert_eq!(
        c["excluded"]["withdrawnEncounters"].as_u64(),
        Some(t.withdrawn_encounters)
    );
    assert_eq!(
        c["excluded"]["duplicateEncounters"].as_u64(),
        Some(t.duplicate_encounters)
    );
    assert_eq!(nonzero(&c["byArea"]), nonzero_truth(&t.by_area));
    assert_eq!(nonzero(&c["bySpaceType"]), nonzero_truth(&t.by_space_type));
    assert_eq!(nonzero(&c["byInterview"]), nonzero_truth(&t.by_interview));
    let sex = c["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["questionId"] == "sex")
        .unwrap();
    let sex_counts: BTreeMap<String, u64> = serde_json::from_value(sex["counts"].clone()).unwrap();
    assert_eq!(sex_counts, t.sex_answers);
    let share = c["shareOfWomen"].as_f64().unwrap();
    assert!((share - t.women as f64 / t.persons as f64).abs() < 1e-12);
    assert_eq!(
        c["teams"]["consolidated"].as_u64(),
        Some(config.teams as u64)
    );
    assert_eq!(c["teams"]["missing"], json!([]));
    let unreadable = c["teams"]["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), t.unreadable_teams.len());
    assert_eq!(unreadable[0]["teamId"], night.teams.last().unwrap().team_id);
    assert_eq!(unreadable[0]["problem"]["found"], 2);
    // Paris Centre is one line for the 1st–4th arrondissements.
    assert!(nonzero(&c["byArea"]).contains_key("paris-centre"));
    assert!(!nonzero(&c["byArea"]).keys().any(|k| k == "75101"));

    // Duplicates: every planted pair is a candidate, with the decision the API recorded.
    let (status, d) = server
        .api("GET", &format!("/api/nights/{n}/duplicates"), token, None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let found: BTreeMap<String, Value> = d["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["pair"].as_str().unwrap().to_owned(),
                c["decision"].clone(),
            )
        })
        .collect();
    let planted: Vec<String> = t
        .planted_pairs
        .iter()
        .map(|(a, b)| DuplicateDecision::pair_key(*a, *b))
        .collect();
    let hits = planted.iter().filter(|p| found.contains_key(*p)).count();
    let recall = hits as f64 / planted.len() as f64;
    println!(
        "duplicates: {} planted, {} candidates, recall {recall:.3}",
        planted.len(),
        found.len()
    );
    assert_eq!(hits, planted.len(), "recall {recall}");
    for decision in review.duplicates.values() {
        assert_eq!(found[&decision.key()], json!(decision.verdict));
    }

    // Exports: streamed, and consistent with the figures.
    let csv = http::get(
        server.addr,
        &format!("/api/nights/{n}/exports/encounters.csv"),
        &coordinator.token,
    )
    .await
    .unwrap();
    assert_eq!(csv.status, 200);
    assert!(csv.chunks >= 1, "chunked transfer");
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let announced = csv
        .header(carnet_shared::report::ROWS_HEADER)
        .map(str::to_owned);
    let rows = String::from_utf8(csv.body).unwrap().lines().count() - 1;
    assert_eq!(rows as u64, t.encounters);
    assert_eq!(
        announced,
        Some(rows.to_string()),
        "the rows header for progress bars"
    );
    let q = http::get(
        server.addr,
        &format!("/api/nights/{n}/exports/questionnaires.csv"),
        &coordinator.token,
    )
    .await
    .unwrap();
    assert_eq!(q.status, 200);
    assert_eq!(csv_rows(&q.body).len() as u64, t.questionnaires);
    assert_eq!(
        q.header(carnet_shared::report::ROWS_HEADER),
        Some(t.questionnaires.to_string().as_str())
    );
    let totals = http::get(
        server.addr,
        &format!("/api/nights/{n}/exports/totals.csv"),
        &coordinator.token,
    )
    .await
    .unwrap();
    let totals = String::from_utf8(totals.body).unwrap();
    let total_line = totals.lines().nth(1).unwrap();
    assert!(total_line.starts_with(&format!("total,total,Total,{},", t.persons)));
    let map = http::get(
        server.addr,
        &format!("/api/nights/{n}/exports/encounters.geojson"),
        &coordinator.token,
    )
    .await
    .unwrap();
    assert_eq!(map.status, 200);
    let announced = map
        .header(carnet_shared::report::ROWS_HEADER)
        .map(str::to_owned);
    let map = map.json().unwrap();
    let features = map["features"].as_array().unwrap();
    assert!(!features.is_empty());
    assert_eq!(announced, Some(features.len().to_string()));
    for f in features {
        for v in f["geometry"]["coordinates"].as_array().unwrap() {
            let v = v.as_f64().unwrap();
            assert!(
                ((v * 1000.0).round() / 1000.0 - v).abs() < 1e-9,
                "coarse by default"
            );
        }
    }

    // Retention through the running server: every readable team document purged, the team
    // with a newer schema listed (left unchanged), the figures unchanged.
    let before = server
        .api(
            "GET",
            &format!("/api/nights/{n}/consolidation"),
            token,
            None,
        )
        .await
        .unwrap()
        .1;
    let asked = std::time::Instant::now();
    let (status, purge) = server
        .api(
            "POST",
            &format!("/api/nights/{n}/purge-field-data"),
            token,
            None,
        )
        .await
        .unwrap();
    println!(
        "purge of {} team documents answered in {:?}",
        night.teams.len(),
        asked.elapsed()
    );
    assert_eq!(status, StatusCode::OK, "{purge}");
    assert_eq!(purge["documents"].as_u64(), Some(night.teams.len() as u64));
    assert!(purge["purged"].as_u64().unwrap() >= t.encounters, "{purge}");
    let unreadable = purge["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1, "{purge}");
    assert_eq!(
        unreadable[0]["team_id"],
        night.teams.last().unwrap().team_id
    );
    let after = server
        .api(
            "GET",
            &format!("/api/nights/{n}/consolidation"),
            token,
            None,
        )
        .await
        .unwrap()
        .1;
    let without_time = |mut v: Value| {
        if let Value::Object(m) = &mut v {
            m.remove("generatedAt");
        }
        v
    };
    assert_eq!(without_time(after), without_time(before.clone()));
    let (_, again) = server
        .api(
            "POST",
            &format!("/api/nights/{n}/purge-field-data"),
            token,
            None,
        )
        .await
        .unwrap();
    assert_eq!(again["purged"], 0, "{again}");

    // Closing the night (fresh histories, devices revoked) keeps the figures to the byte.
    let asked = std::time::Instant::now();
    let (status, closed) = server
        .api("POST", &format!("/api/nights/{n}/close"), token, None)
        .await
        .unwrap();
    println!(
        "close of {} team documents answered in {:?}: {closed}",
        night.teams.len(),
        asked.elapsed()
    );
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(closed["unreadable"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        closed["rewritten"].as_u64(),
        Some(night.teams.len() as u64 - 1)
    );
    let after_close = server
        .api(
            "GET",
            &format!("/api/nights/{n}/consolidation"),
            token,
            None,
        )
        .await
        .unwrap()
        .1;
    assert_eq!(without_time(after_close), without_time(before));
}

/// Data rows of a CSV body (header left out).
fn csv_rows(body: &[u8]) -> Vec<String> {
    String::from_utf8(body.to_vec())
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect()
}
