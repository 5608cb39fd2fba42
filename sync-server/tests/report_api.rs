//! The coordinators' report API through the router: who may call it, validation, and figures
//! on small nights whose team documents are edited on the server (the full night through real
//! devices is `tests/tests/night_report.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use carnet_server::AppState;
use carnet_shared::ids::DocumentId;
use carnet_shared::model::{
    AgeBand, Alerts, Encounter, EncounterEdit, Installation, InterviewStatus, ObservedSex,
    PeopleCounts, Position, Situation, SpaceType,
};
use common::{ADMIN_TOKEN, Auth, call, enrol, night_with_teams, state, str_of};
use serde_json::{Value, json};
use uuid::Uuid;

async fn coordinator(state: &AppState, night_id: &str) -> String {
    let (status, body) = call(
        state,
        "POST",
        &format!("/api/nights/{night_id}/coordinator-tokens"),
        Auth::Header(ADMIN_TOKEN),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    str_of(&body, "token").to_owned()
}

fn encounter(id: u128, men: u32, lat: f64, at: i64) -> Encounter {
    Encounter {
        id: Uuid::from_u128(id),
        recorded_at: at,
        space_type: SpaceType::Street,
        place_detail: String::new(),
        installation: Installation::Tent,
        situation: Situation::Alone,
        counts: PeopleCounts {
            men,
            ..Default::default()
        },
        interview: InterviewStatus::Asleep,
        observed_sex: Some(ObservedSex::Male),
        age_band: Some(AgeBand::From35To44),
        alerts: Alerts::default(),
        position: Some(Position { lat, lon: 2.35 }),
        distinctive_signs: None,
        questionnaire_version: None,
        answers: Default::default(),
        source_device: "d".into(),
        withdrawn: false,
    }
}

/// Writes into a team document as the server (a stand-in for a device, enough here).
async fn record(state: &AppState, team_doc: &str, encounters: Vec<Encounter>) {
    let doc = DocumentId::parse(team_doc).unwrap();
    state
        .hub
        .edit_document(
            doc,
            automerge::ActorId::from(vec![9u8; 16]),
            Box::new(move |d| {
                for e in &encounters {
                    carnet_shared::doc::record_encounter(d, e, 0)?;
                }
                Ok(())
            }),
        )
        .await
        .unwrap();
}

async fn get(state: &AppState, uri: &str, token: &str) -> (StatusCode, Value) {
    call(state, "GET", uri, Auth::Header(token), None).await
}

#[tokio::test]
async fn reports_are_for_the_admin_and_the_coordinators_of_that_night_only() {
    let state = state();
    let (night, created) = night_with_teams(&state, &["A"], 1).await;
    let (other, _) = night_with_teams(&state, &["B"], 1).await;
    let n = str_of(&night, "night_id");
    let mine = coordinator(&state, n).await;
    let theirs = coordinator(&state, str_of(&other, "night_id")).await;
    let code = created["teams"][0]["enrolment_codes"][0].as_str().unwrap();
    let device = enrol(&state, code).await;
    let uri = format!("/api/nights/{n}/consolidation");
    assert_eq!(get(&state, &uri, ADMIN_TOKEN).await.0, StatusCode::OK);
    assert_eq!(get(&state, &uri, &mine).await.0, StatusCode::OK);
    let (status, body) = get(&state, &uri, &theirs).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "forbidden");
    let (status, _) = get(&state, &uri, str_of(&device, "token")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = call(&state, "GET", &uri, Auth::None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let unknown = format!("/api/nights/{}/consolidation", Uuid::from_u128(1));
    let (status, body) = get(&state, &unknown, ADMIN_TOKEN).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "night_not_found");
}

#[tokio::test]
async fn an_empty_night_has_every_published_line_at_zero() {
    let state = state();
    let (night, _) = night_with_teams(&state, &["A", "B"], 1).await;
    let n = str_of(&night, "night_id");
    let (status, c) = get(
        &state,
        &format!("/api/nights/{n}/consolidation"),
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["totals"]["persons"], 0);
    assert_eq!(c["shareOfWomen"], Value::Null);
    // Paris Centre and the 5th to 20th arrondissements: 17 lines.
    assert_eq!(c["byArea"].as_array().unwrap().len(), 17);
    assert_eq!(c["byArea"][0]["key"], "paris-centre");
    assert_eq!(c["teams"]["consolidated"], 2);
    assert_eq!(c["teams"]["missing"], json!([]));
}

#[tokio::test]
async fn partner_entries_are_validated_and_counted() {
    let state = state();
    let (night, _) = night_with_teams(&state, &["A"], 1).await;
    let n = str_of(&night, "night_id");
    let uri = format!("/api/nights/{n}/partner-entries");
    for (body, code) in [
        (
            json!({"partner": " ", "spaceType": "metroRer", "men": 1}),
            "invalid_partner",
        ),
        (
            json!({"partner": "RATP", "spaceType": "metroRer", "arrondissement": 21, "men": 1}),
            "invalid_arrondissement",
        ),
        (
            json!({"partner": "RATP", "spaceType": "metroRer", "men": 5001}),
            "invalid_count",
        ),
        (
            json!({"partner": "RATP", "spaceType": "tunnel", "men": 1}),
            "invalid_body",
        ),
        (
            json!({"partner": "RATP", "spaceType": "metroRer", "men": -1}),
            "invalid_body",
        ),
    ] {
        let (status, answer) =
            call(&state, "POST", &uri, Auth::Header(ADMIN_TOKEN), Some(body)).await;
        assert!(status.is_client_error(), "{answer}");
        assert_eq!(answer["code"], code, "{answer}");
    }
    // Nothing was stored by the refused ones.
    let (_, entries) = get(&state, &uri, ADMIN_TOKEN).await;
    assert_eq!(entries, json!([]));
    for body in [
        json!({"partner": "RATP", "spaceType": "metroRer", "arrondissement": 2, "men": 4, "women": 1}),
        json!({"partner": "AP-HP", "spaceType": "hospital", "men": 2, "unknown": 1}),
    ] {
        let (status, answer) =
            call(&state, "POST", &uri, Auth::Header(ADMIN_TOKEN), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let (_, entries) = get(&state, &uri, ADMIN_TOKEN).await;
    assert_eq!(entries.as_array().unwrap().len(), 2);
    let (_, c) = get(
        &state,
        &format!("/api/nights/{n}/consolidation"),
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(c["totals"]["persons"], 8);
    assert_eq!(c["partnerPersons"], 8);
    let area = |key: &str| {
        c["byArea"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["key"] == key)
            .map(|l| l["persons"].clone())
    };
    assert_eq!(area("paris-centre"), Some(json!(5)));
    assert_eq!(
        area("non-attribue-partenaire-sans-arrondissement"),
        Some(json!(3))
    );
}

#[tokio::test]
async fn a_confirmed_duplicate_leaves_the_totals_and_a_rejected_one_stays() {
    let dir = tempfile::tempdir().unwrap();
    let state = common::state_with(
        carnet_server::db::Db::open(&dir.path().join("c.sqlite3")).unwrap(),
        carnet_server::ServerConfig::default(),
    );
    let (night, created) = night_with_teams(&state, &["A", "B"], 1).await;
    let n = str_of(&night, "night_id");
    let (a, b) = (
        str_of(&created["teams"][0], "document_id"),
        str_of(&created["teams"][1], "document_id"),
    );
    record(
        &state,
        a,
        vec![encounter(1, 1, 48.85, 0), encounter(3, 2, 48.80, 0)],
    )
    .await;
    record(
        &state,
        b,
        vec![
            encounter(2, 1, 48.8501, 600_000),
            encounter(4, 2, 48.8001, 0),
        ],
    )
    .await;
    let (status, d) = get(&state, &format!("/api/nights/{n}/duplicates"), ADMIN_TOKEN).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    let pairs: Vec<&str> = d["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["pair"].as_str().unwrap())
        .collect();
    let p12 = format!("{}+{}", Uuid::from_u128(1), Uuid::from_u128(2));
    let p34 = format!("{}+{}", Uuid::from_u128(3), Uuid::from_u128(4));
    assert_eq!(pairs.len(), 2, "{d}");
    assert!(pairs.contains(&p12.as_str()) && pairs.contains(&p34.as_str()));
    // Narrower window: the pair 10 minutes apart is no longer a candidate.
    let (_, narrow) = get(
        &state,
        &format!("/api/nights/{n}/duplicates?window_min=5"),
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(narrow["candidates"].as_array().unwrap().len(), 1);
    let (status, bad) = get(
        &state,
        &format!("/api/nights/{n}/duplicates?window_min=x"),
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(
        (status, bad["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_query"))
    );

    let decide = |pair: String, verdict: &'static str| {
        let state = state.clone();
        let uri = format!("/api/nights/{n}/duplicates/{pair}");
        async move {
            call(
                &state,
                "POST",
                &uri,
                Auth::Header(ADMIN_TOKEN),
                Some(json!({"verdict": verdict})),
            )
            .await
        }
    };
    let (status, _) = decide(p12.clone(), "confirmed").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = decide(p34.clone(), "rejected").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = decide(
        format!("{}+{}", Uuid::from_u128(1), Uuid::from_u128(99)),
        "confirmed",
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("encounter_not_found"))
    );
    let (status, body) = decide("not-a-pair".into(), "confirmed").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_pair"))
    );
    let (_, c) = get(
        &state,
        &format!("/api/nights/{n}/consolidation"),
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(c["totals"]["persons"], 1 + 2 + 2);
    assert_eq!(c["excluded"]["duplicateEncounters"], 1);
    let (_, d) = get(&state, &format!("/api/nights/{n}/duplicates"), ADMIN_TOKEN).await;
    let decisions: Vec<&str> = d["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions.len(), 2);
    assert!(decisions.contains(&"confirmed") && decisions.contains(&"rejected"));
}

#[tokio::test]
async fn a_conflict_is_listed_and_only_one_of_its_values_may_be_chosen() {
    let state = state();
    let (night, created) = night_with_teams(&state, &["A"], 1).await;
    let n = str_of(&night, "night_id");
    let team_doc = DocumentId::parse(str_of(&created["teams"][0], "document_id")).unwrap();
    record(
        &state,
        &team_doc.to_bs58check(),
        vec![encounter(1, 1, 48.85, 0)],
    )
    .await;
    // Two concurrent edits of the same field: two actors from the same heads, merged.
    state
        .hub
        .edit_document(
            team_doc,
            automerge::ActorId::from(vec![1u8; 16]),
            Box::new(|d| {
                let mut other = d.fork().with_actor(automerge::ActorId::from(vec![2u8; 16]));
                let id = Uuid::from_u128(1);
                carnet_shared::doc::edit_encounter(
                    d,
                    id,
                    &EncounterEdit::SpaceType(SpaceType::MetroRer),
                    1,
                )?;
                carnet_shared::doc::edit_encounter(
                    &mut other,
                    id,
                    &EncounterEdit::SpaceType(SpaceType::Woods),
                    1,
                )?;
                d.merge(&mut other)?;
                Ok(())
            }),
        )
        .await
        .unwrap();
    let uri = format!("/api/nights/{n}/conflicts");
    let (status, list) = get(&state, &uri, ADMIN_TOKEN).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["field"], "spaceType");
    assert_eq!(list[0]["resolution"], Value::Null);
    let choose = |value: &'static str| json!({"encounterId": Uuid::from_u128(1), "chosen": {"field": "spaceType", "value": value}});
    let (status, body) = call(
        &state,
        "POST",
        &uri,
        Auth::Header(ADMIN_TOKEN),
        Some(choose("street")),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_choice"))
    );
    let (status, body) = call(
        &state,
        "POST",
        &uri,
        Auth::Header(ADMIN_TOKEN),
        Some(choose("woods")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, list) = get(&state, &uri, ADMIN_TOKEN).await;
    assert_eq!(list[0]["resolution"]["value"], "woods");
    let (_, c) = get(
        &state,
        &format!("/api/nights/{n}/consolidation"),
        ADMIN_TOKEN,
    )
    .await;
    let woods = c["bySpaceType"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["key"] == "woods")
        .unwrap();
    assert_eq!(woods["persons"], 1);
}
