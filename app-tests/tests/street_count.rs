//! The street-count night through the real app: `carnet-app` in WebKit under Xvfb (tauri-driver),
//! a real `carnet-server` binary with its SQLite file, real enrolment and real sync. Run with
//! `xvfb-run -a cargo test -p carnet-app-tests -- --test-threads=1` after building both binaries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use carnet_app_tests::flow::{self, wait_encounter_count, wait_home};
use carnet_app_tests::server::ServerProcess;
use carnet_app_tests::{App, Driver};
use carnet_shared::doc;
use carnet_shared::model::{
    AgeBand, Answer, Installation, InterviewStatus, ObservedSex, PeopleCounts, Situation,
    SpaceType, TallyDimension, Team,
};
use carnet_shared::store::Store;

const T0: i64 = 1_769_119_200_000; // 2026-01-22 22:00 UTC

/// The encounter with the whole questionnaire. `called115` is first answered "last week" with
/// an outcome, then changed to "never": the outcome's branch is skipped and its answer must not
/// reach the server; `withWhom = alone` and `phone = none` skip `childrenCount` and
/// `phoneCharging`.
async fn record_interview(app: &App) -> anyhow::Result<()> {
    flow::new_encounter(app).await?;
    app.choose("Type d’espace", "street").await?;
    app.fill("#place-detail", "rue de Rivoli").await?;
    app.choose("Installation", "none").await?;
    app.choose("Situation", "alone").await?;
    app.click("button[aria-label='Femmes +1']").await?;
    app.choose("Questionnaire proposé", "accepted").await?;
    app.answer("sex", "female").await?;
    app.answer("ageBand", "from35To44").await?;
    app.answer("withWhom", "alone").await?;
    app.answer("timeWithoutHousing", "from1To5Years").await?;
    app.answer("reason", "eviction").await?;
    app.answer("reason", "jobLoss").await?;
    app.answer("resources", "rsa").await?;
    app.answer("called115", "lastWeek").await?;
    app.answer("call115Outcome", "noPlace").await?;
    app.answer("called115", "never").await?;
    app.wait_gone("[data-question='call115Outcome']").await?;
    app.answer("whyNot115", "noSuitableOffer").await?;
    app.answer("whyNot115", "safety").await?;
    app.answer("everShelter", "yes").await?;
    app.answer_special("socialWorker", "Ne sait pas").await?;
    app.answer_special("healthCoverage", "Ne souhaite pas répondre")
        .await?;
    app.answer("servicesUsed", "food").await?;
    app.answer("servicesUsed", "showers").await?;
    app.answer("healthCare", "none").await?;
    app.answer("needs", "housing").await?;
    app.answer("needs", "other").await?;
    app.fill("#q-otherNeed", "un duvet").await?;
    app.answer("phone", "none").await?;
    app.wait_gone("[data-question='phoneCharging']").await?;
    app.wait_gone("[data-question='childrenCount']").await?;
    app.screenshot("03-questionnaire").await?;
    flow::record(app).await
}

async fn record_observed(app: &App) -> anyhow::Result<()> {
    flow::new_encounter(app).await?;
    app.choose("Type d’espace", "metroRer").await?;
    app.fill("#place-detail", "Châtelet, quai 4").await?;
    app.choose("Installation", "none").await?;
    app.choose("Situation", "alone").await?;
    app.click("button[aria-label='Femmes +1']").await?;
    app.choose("Questionnaire proposé", "refused").await?;
    app.choose("Sexe observé", "female").await?;
    app.choose("Tranche d’âge estimée", "from25To34").await?;
    flow::record(app).await
}

async fn record_family(app: &App) -> anyhow::Result<()> {
    flow::new_encounter(app).await?;
    app.choose("Type d’espace", "street").await?;
    app.fill("#place-detail", "square du Temple").await?;
    app.choose("Installation", "tent").await?;
    app.choose("Situation", "familyWithChildren").await?;
    app.click("button[aria-label='Hommes +1']").await?;
    app.click("button[aria-label='Femmes +1']").await?;
    app.click("button[aria-label='Enfants +1']").await?;
    app.click("button[aria-label='Enfants +1']").await?;
    app.choose("Questionnaire proposé", "asleep").await?;
    flow::record(app).await
}

async fn record_car_park(app: &App) -> anyhow::Result<()> {
    flow::new_encounter(app).await?;
    app.choose("Type d’espace", "carPark").await?;
    app.fill("#place-detail", "parking Saint-Eustache, niveau -2")
        .await?;
    app.choose("Installation", "makeshiftCabinOrVehicle")
        .await?;
    app.choose("Situation", "alone").await?;
    app.click("button[aria-label='Sexe inconnu +1']").await?;
    app.choose("Questionnaire proposé", "languageBarrier")
        .await?;
    app.choose("Sexe observé", "unknown").await?;
    app.choose("Tranche d’âge estimée", "unknown").await?;
    app.fill("#signs", "sac de couchage vert").await?;
    flow::record(app).await
}

async fn record_group(app: &App) -> anyhow::Result<()> {
    flow::new_encounter(app).await?;
    app.choose("Type d’espace", "woods").await?;
    app.fill("#place-detail", "bois de Vincennes").await?;
    app.choose("Installation", "tent").await?;
    app.choose("Situation", "groupOfFivePlus").await?;
    for _ in 0..3 {
        app.click("button[aria-label='Hommes +1']").await?;
    }
    for _ in 0..2 {
        app.click("button[aria-label='Femmes +1']").await?;
    }
    app.choose("Questionnaire proposé", "other").await?;
    app.choose("Alerte", "health").await?;
    flow::record(app).await
}

/// Street, men 45–54: +1 three times then −1; women 18–24: +1.
async fn tally(app: &App) -> anyhow::Result<()> {
    wait_home(app).await?;
    app.click_button("Décomptes").await?;
    app.wait_css("section.rows").await?;
    for _ in 0..3 {
        app.click("button[aria-label='45–54 +1']").await?;
    }
    app.click("button[aria-label='45–54 −1']").await?;
    app.wait_text("output[aria-label='45–54']", "2", |t| t == "2")
        .await?;
    app.click_xpath("//button[@role='tab'][starts-with(normalize-space(), 'Femme')]")
        .await?;
    app.click("button[aria-label='18–24 +1']").await?;
    app.wait_text("output[aria-label='18–24']", "1", |t| t == "1")
        .await?;
    app.wait_text(".total strong", "total 3", |t| t == "3")
        .await?;
    app.screenshot("04-tallies").await?;
    app.click("button.back").await?;
    wait_home(app).await
}

/// The list screen shows `n` encounters acknowledged by the server.
async fn wait_all_on_server(app: &App, n: usize) -> anyhow::Result<()> {
    app.click_xpath("//button[starts-with(normalize-space(), 'Rencontres (')]")
        .await?;
    let client = &app.client;
    carnet_app_tests::wait_for("every encounter on the server", || async move {
        let tags = client
            .find_all(fantoccini::Locator::Css(".tag.server"))
            .await?;
        Ok((tags.len() == n).then_some(()))
    })
    .await?;
    Ok(())
}

fn stored_team(db: &std::path::Path, night: &carnet_app_tests::server::Night) -> Team {
    let store = Store::open(db).unwrap();
    let data = store
        .load_automerge(&night.team_doc)
        .unwrap()
        .expect("team document stored");
    doc::read_team(&data).unwrap()
}

fn choice(s: &str) -> Answer {
    Answer::Choice(s.to_owned())
}
fn choices(v: &[&str]) -> Answer {
    Answer::Choices(v.iter().map(|s| (*s).to_owned()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_night_recorded_in_the_app_reaches_the_server_across_server_and_app_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), 0).await.unwrap();
    let port = server.addr.port();
    let night = server.night("Équipe 12", 2).await.unwrap();
    let questionnaire = flow::default_questionnaire().unwrap();
    flow::publish_questionnaire(&server, &night, &questionnaire, T0)
        .await
        .unwrap();

    let phone = tempfile::tempdir().unwrap();
    let driver = Driver::start(phone.path()).await.unwrap();
    let app = driver.launch().await.unwrap();
    app.screenshot("01-enrolment").await.unwrap();

    // Real enrolment: the code is traded for a token, then the documents come by sync.
    flow::submit_enrolment(&app, &server.url(), &night.codes[0])
        .await
        .unwrap();
    wait_home(&app).await.unwrap();
    app.wait_text(".brand .small", "the team's name", |t| t == "Équipe 12")
        .await
        .unwrap();
    app.screenshot("02-home").await.unwrap();

    record_interview(&app).await.unwrap();
    record_observed(&app).await.unwrap();
    record_family(&app).await.unwrap();
    wait_encounter_count(&app, 3).await.unwrap();
    tally(&app).await.unwrap();
    // Online: the server acknowledges the three encounters (its heads cover them).
    wait_all_on_server(&app, 3).await.unwrap();
    app.screenshot("05-list-synced").await.unwrap();
    app.click("button.back").await.unwrap();

    // The server goes away; the team keeps working.
    server.stop().unwrap();
    record_car_park(&app).await.unwrap();
    record_group(&app).await.unwrap();
    wait_encounter_count(&app, 5).await.unwrap();
    app.wait_text("[role=status].sync", "offline or pending", |t| {
        t.contains("Hors ligne") || t.contains("en attente")
    })
    .await
    .unwrap();
    app.screenshot("06-home-offline").await.unwrap();

    // The phone's app is killed (no chance to flush) and started again: all five are there.
    app.kill().await.unwrap();
    let app = driver.launch().await.unwrap();
    wait_encounter_count(&app, 5).await.unwrap();

    // The server comes back on the same address and file; the app reconnects by itself.
    let server = ServerProcess::start(dir.path(), port).await.unwrap();
    wait_all_on_server(&app, 5).await.unwrap();
    app.screenshot("07-list-after-restarts").await.unwrap();
    app.close().await.unwrap();
    driver.stop().unwrap();
    server.stop().unwrap();

    // What the server durably holds, read from its SQLite file.
    let team = stored_team(&dir.path().join("carnet.sqlite3"), &night);
    assert_eq!(team.encounters.len(), 5, "{:#?}", team.encounters);
    let by_place: BTreeMap<&str, _> = team
        .encounters
        .values()
        .map(|e| (e.place_detail.as_str(), e))
        .collect();
    let devices: std::collections::BTreeSet<&str> = team
        .encounters
        .values()
        .map(|e| e.source_device.as_str())
        .collect();
    assert_eq!(devices.len(), 1, "one device wrote them all: {devices:?}");
    assert!(devices.iter().all(|d| d.starts_with("device-")));

    let e1 = by_place["rue de Rivoli"];
    assert_eq!(e1.space_type, SpaceType::Street);
    assert_eq!(e1.installation, Installation::None);
    assert_eq!(e1.situation, Situation::Alone);
    assert_eq!(
        e1.counts,
        PeopleCounts {
            women: 1,
            ..Default::default()
        }
    );
    assert_eq!(e1.interview, InterviewStatus::Accepted);
    assert_eq!(e1.questionnaire_version, Some(questionnaire.version));
    let expected: BTreeMap<String, Answer> = [
        ("sex", choice("female")),
        ("ageBand", choice("from35To44")),
        ("withWhom", choice("alone")),
        ("timeWithoutHousing", choice("from1To5Years")),
        ("reason", choices(&["eviction", "jobLoss"])),
        ("resources", choices(&["rsa"])),
        ("called115", choice("never")),
        ("whyNot115", choices(&["noSuitableOffer", "safety"])),
        ("everShelter", choice("yes")),
        ("socialWorker", Answer::DoesNotKnow),
        ("healthCoverage", Answer::Declines),
        ("servicesUsed", choices(&["food", "showers"])),
        ("healthCare", choices(&["none"])),
        ("needs", choices(&["housing", "other"])),
        ("otherNeed", Answer::Text("un duvet".to_owned())),
        ("phone", choice("none")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(e1.answers, expected, "skipped branches hold no answer");

    let e2 = by_place["Châtelet, quai 4"];
    assert_eq!(e2.space_type, SpaceType::MetroRer);
    assert_eq!(e2.interview, InterviewStatus::Refused);
    assert_eq!(e2.observed_sex, Some(ObservedSex::Female));
    assert_eq!(e2.age_band, Some(AgeBand::From25To34));
    assert!(e2.answers.is_empty());

    let e3 = by_place["square du Temple"];
    assert_eq!(e3.situation, Situation::FamilyWithChildren);
    assert_eq!(
        e3.counts,
        PeopleCounts {
            men: 1,
            women: 1,
            children: 2,
            ..Default::default()
        }
    );
    assert_eq!(e3.interview, InterviewStatus::Asleep);

    let e4 = by_place["parking Saint-Eustache, niveau -2"];
    assert_eq!(e4.space_type, SpaceType::CarPark);
    assert_eq!(e4.installation, Installation::MakeshiftCabinOrVehicle);
    assert_eq!(e4.interview, InterviewStatus::LanguageBarrier);
    assert_eq!(e4.observed_sex, Some(ObservedSex::Unknown));
    assert_eq!(e4.age_band, Some(AgeBand::Unknown));
    assert_eq!(
        e4.distinctive_signs.as_deref(),
        Some("sac de couchage vert")
    );

    let e5 = by_place["bois de Vincennes"];
    assert_eq!(e5.space_type, SpaceType::Woods);
    assert_eq!(e5.situation, Situation::GroupOfFivePlus);
    assert_eq!(
        e5.counts,
        PeopleCounts {
            men: 3,
            women: 2,
            ..Default::default()
        }
    );
    assert!(e5.alerts.health && !e5.alerts.minor && !e5.alerts.vulnerable_woman);
    assert!(team.encounters.values().all(|e| !e.withdrawn));

    let tallies: BTreeMap<TallyDimension, i64> =
        team.tallies.into_iter().filter(|(_, n)| *n != 0).collect();
    let dim = |sex, age_band| TallyDimension {
        space_type: SpaceType::Street,
        sex,
        age_band,
    };
    assert_eq!(
        tallies,
        BTreeMap::from([
            (dim(ObservedSex::Male, AgeBand::From45To54), 2),
            (dim(ObservedSex::Female, AgeBand::From18To24), 1),
        ])
    );
}

/// Rows of the app's enrolment table (read-only, beside the running app).
fn enrolment_rows(db: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    conn.query_row("SELECT count(*) FROM app_enrolment", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_enrolment_input_shows_a_french_error_and_saves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), 0).await.unwrap();
    let night = server.night("Équipe 3", 2).await.unwrap();
    // One code already spent (by another phone).
    let (status, _) = server
        .api(
            reqwest::Method::POST,
            "/api/enrol",
            None,
            Some(serde_json::json!({"code": night.codes[1]})),
        )
        .await
        .unwrap();
    assert_eq!(status, 201);

    let phone = tempfile::tempdir().unwrap();
    let driver = Driver::start(phone.path()).await.unwrap();
    let app = driver.launch().await.unwrap();
    let error = "form.enrol .error[role=alert]";
    let cases = [
        (
            server.url(),
            "ZZZZZ-ZZZZZ".to_owned(),
            "Ce code n’existe pas. Vérifiez-le avec la coordination.",
        ),
        (
            server.url(),
            night.codes[1].clone(),
            "Ce code a déjà servi. Demandez-en un nouveau à la coordination.",
        ),
        (
            format!(
                "http://127.0.0.1:{}",
                carnet_app_tests::free_port().unwrap()
            ),
            night.codes[0].clone(),
            "Le serveur ne répond pas. Vérifiez la connexion et réessayez.",
        ),
    ];
    for (n, (url, code, message)) in cases.iter().enumerate() {
        flow::submit_enrolment(&app, url, code).await.unwrap();
        app.wait_text(error, message, |t| t == *message)
            .await
            .unwrap();
        if n == 0 {
            app.screenshot("00-enrolment-wrong-code").await.unwrap();
        }
        assert_eq!(
            enrolment_rows(&driver.database()),
            0,
            "case {n}: nothing saved"
        );
        app.wait_css("form.enrol").await.unwrap();
    }
    app.close().await.unwrap();
    driver.stop().unwrap();

    // The good code was not spent by the failed attempt at a dead address.
    let (status, body) = server
        .api(
            reqwest::Method::POST,
            "/api/enrol",
            None,
            Some(serde_json::json!({"code": night.codes[0]})),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{body}");
    server.stop().unwrap();
}

/// Regression (issue 3's known bug): the code was spent but the documents did not come within
/// the enrolment's wait, and the app said "server unreachable"; retrying said "code already
/// used" and the team appeared only after a relaunch. Now: a waiting screen, then the team as
/// soon as the documents arrive, in the same app session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_whose_documents_are_late_waits_then_shows_the_team_without_relaunch() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), 0).await.unwrap();
    let night = server.night("Équipe 9", 1).await.unwrap();
    // Enrolment (HTTP) gets through; the sync WebSocket does not, until opened.
    let gate = carnet_app_tests::gate::Gate::start(server.addr, false)
        .await
        .unwrap();

    let phone = tempfile::tempdir().unwrap();
    let driver = Driver::start(phone.path()).await.unwrap();
    let app = driver.launch().await.unwrap();
    flow::submit_enrolment(&app, &gate.url(), &night.codes[0])
        .await
        .unwrap();
    // After the enrolment's bounded wait (20 s), the waiting screen, not an error.
    app.wait_text("section.pending h1", "waiting screen", |t| {
        t == "Inscription enregistrée"
    })
    .await
    .unwrap();
    let text = app.wait_css("section.pending").await.unwrap();
    assert!(text.text().await.unwrap().contains("« Équipe 9 »"));
    app.wait_gone("form.enrol .error").await.unwrap();
    app.screenshot("00b-enrolment-waiting").await.unwrap();
    assert_eq!(
        enrolment_rows(&driver.database()),
        1,
        "the enrolment is kept"
    );

    gate.open_sync();
    app.click_button("Réessayer maintenant").await.unwrap();
    wait_home(&app).await.unwrap();
    app.wait_text(".brand .small", "team name", |t| t == "Équipe 9")
        .await
        .unwrap();
    app.close().await.unwrap();
    driver.stop().unwrap();
    server.stop().unwrap();
}

/// After the night, the coordination closes it (`POST /api/nights/{id}/close`): the server
/// erases the distinctive signs from its history and refuses the devices' tokens; the app,
/// whose changes all reached the server, erases its copy of the night and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_night_is_erased_from_the_phone_with_a_french_notice() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), 0).await.unwrap();
    let night = server.night("Équipe 5", 1).await.unwrap();
    let marker = format!("bonnet-rouge-{}", uuid::Uuid::new_v4().simple());

    let phone = tempfile::tempdir().unwrap();
    let driver = Driver::start(phone.path()).await.unwrap();
    let app = driver.launch().await.unwrap();
    flow::submit_enrolment(&app, &server.url(), &night.codes[0])
        .await
        .unwrap();
    flow::new_encounter(&app).await.unwrap();
    flow::fill_quick_encounter(&app).await.unwrap();
    app.fill("#signs", &marker).await.unwrap();
    flow::record(&app).await.unwrap();
    wait_all_on_server(&app, 1).await.unwrap();
    assert!(
        carnet_tests::disk::on_disk(&driver.database(), &marker),
        "findable before"
    );

    let (status, body) = server
        .api(
            reqwest::Method::POST,
            &format!("/api/nights/{}/close", night.night_id),
            Some(carnet_app_tests::server::ADMIN_TOKEN),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");

    let notice = "La coordination a clôturé la nuit : les données de l’équipe ont été effacées de cet appareil.";
    app.wait_text("main .notice", "the closed-night notice", |t| t == notice)
        .await
        .unwrap();
    app.wait_css("form.enrol").await.unwrap();
    app.screenshot("08-night-closed").await.unwrap();
    assert_eq!(enrolment_rows(&driver.database()), 0);
    assert!(
        !carnet_tests::disk::on_disk(&driver.database(), &marker),
        "the distinctive signs left the phone's file"
    );
    app.close().await.unwrap();
    driver.stop().unwrap();
    server.stop().unwrap();
}
