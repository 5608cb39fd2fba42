//! Climate volunteers through the real app: `carnet-app` in WebKit under Xvfb (tauri-driver),
//! the real `carnet-server` binary with its SQLite file. A coordinator publishes the heat-wave
//! kit, sets the alert level and makes a volunteer group (admin API over HTTP); two app
//! instances (each its own `XDG_DATA_HOME`) enrol with the group's two codes through the UI;
//! one starts a visit, the other sees it; the server stops; the kit opens offline; both tick
//! the visit's checklist (different items, and one item on both); the server restarts on the
//! same address; both apps, the coordinator's progress API and the server's file converge on
//! the same ticks. Then the coordinator, in the app's coordinator mode (a third app process,
//! after B closed), renames a checklist item, adds one, publishes and raises the level to red;
//! A shows the new level and items after sync, hands out two bottles and a leaflet on the
//! visit, and the coordinator's "Climat" tab counts them for the 11th.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use carnet_app_tests::server::{ADMIN_TOKEN, ServerProcess};
use carnet_app_tests::{App, Driver, flow, wait_for};
use carnet_shared::climate;
use carnet_shared::ids::DocumentId;
use carnet_shared::store::Store;
use fantoccini::Locator;
use serde_json::{Value, json};

/// A checkbox of the checklist on screen, by item id.
fn item(id: &str) -> String {
    format!("input[type='checkbox'][data-item='{id}']")
}

async fn tab(app: &App, name: &str) -> anyhow::Result<()> {
    app.click_button(name).await?;
    app.wait_xpath(&format!(
        "//nav[contains(@class,'tabs')]/button[normalize-space()='{name}'][@aria-pressed='true']"
    ))
    .await
}

/// Ticks `id` and waits until the box reads as ticked (the write returned).
async fn tick(app: &App, id: &str) -> anyhow::Result<()> {
    app.click(&item(id)).await?;
    wait_checked(app, id, true).await
}

async fn is_checked(app: &App, id: &str) -> anyhow::Result<Option<bool>> {
    let Ok(e) = app.client.find(Locator::Css(&item(id))).await else {
        return Ok(None);
    };
    Ok(Some(e.prop("checked").await?.as_deref() == Some("true")))
}

async fn wait_checked(app: &App, id: &str, want: bool) -> anyhow::Result<()> {
    wait_for(&format!("{id} checked = {want}"), || async move {
        Ok((is_checked(app, id).await? == Some(want)).then_some(()))
    })
    .await
}

/// Enrols through the UI and waits for the climate screen with the kit.
async fn enrol_volunteer(app: &App, server: &ServerProcess, code: &str) -> anyhow::Result<()> {
    flow::submit_enrolment(app, &server.url(), code).await?;
    app.wait_css(".climate-home").await?;
    app.wait_text(".banner", "the alert level", |t| {
        t.contains("Niveau 3 — alerte canicule")
    })
    .await?;
    Ok(())
}

/// The group's visits on this device: opens the only one there (unless it is open already).
async fn open_visit(app: &App) -> anyhow::Result<()> {
    tab(app, "Visites").await?;
    let shown = app
        .wait_css(&format!("button.visit, {}", item("eau")))
        .await?;
    if shown.attr("data-visit").await?.is_some() {
        app.click("button.visit").await?;
    }
    app.wait_css(&item("eau")).await.map(|_| ())
}

/// `GET /api/climate/progress` as the coordinator (admin token).
async fn progress(server: &ServerProcess) -> anyhow::Result<Value> {
    let (status, p) = server
        .api(
            reqwest::Method::GET,
            "/api/climate/progress",
            Some(ADMIN_TOKEN),
            None,
        )
        .await?;
    anyhow::ensure!(status == 200, "progress: {status} {p}");
    Ok(p)
}

const RENAMED: &str = "Eau : une bouteille à portée de main";
/// The id the coordinator's form makes for "Thermomètre dans la pièce".
const ADDED: &str = "thermometre-dans-la-piece";

/// A night's coordinator token (the app's coordinator mode signs in with one).
async fn coordinator_token(server: &ServerProcess) -> anyhow::Result<String> {
    let night = server.night("Équipe Canicule", 1).await?;
    let (status, body) = server
        .api(
            reqwest::Method::POST,
            &format!("/api/nights/{}/coordinator-tokens", night.night_id),
            Some(ADMIN_TOKEN),
            Some(json!({"label": "PC canicule"})),
        )
        .await?;
    anyhow::ensure!(status == 201, "coordinator token: {status} {body}");
    body["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no token in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_volunteers_tick_one_visit_offline_and_everyone_converges_after_a_restart()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server_dir = dir.path().join("server");
    std::fs::create_dir_all(&server_dir)?;
    let server = ServerProcess::start(&server_dir, 0).await?;
    let port = server.addr.port();

    // Coordinator: kit, level, one volunteer group with two codes.
    let kit_path = carnet_app_tests::workspace_root().join("shared/kits/canicule.json");
    let kit: Value = serde_json::from_str(&std::fs::read_to_string(kit_path)?)?;
    let (status, published) = server
        .api(
            reqwest::Method::POST,
            "/api/climate/kit",
            Some(ADMIN_TOKEN),
            Some(kit),
        )
        .await?;
    assert!(status < 300, "kit: {status} {published}");
    let (status, level) = server
        .api(
            reqwest::Method::PUT,
            "/api/climate/alert-level",
            Some(ADMIN_TOKEN),
            Some(json!({"level": "orange"})),
        )
        .await?;
    assert!(status < 300, "level: {status} {level}");
    let (status, group) = server
        .api(
            reqwest::Method::POST,
            "/api/climate/groups",
            Some(ADMIN_TOKEN),
            Some(json!({"name": "Belleville", "codes": 2})),
        )
        .await?;
    assert_eq!(status, 201, "group: {group}");
    let codes: Vec<String> = group["enrolment_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    let field_doc = DocumentId::parse(group["document_id"].as_str().expect("document id"))?;

    // Two phones, each its own data folder.
    let home_a = dir.path().join("a");
    let home_b = dir.path().join("b");
    std::fs::create_dir_all(&home_a)?;
    std::fs::create_dir_all(&home_b)?;
    let driver_a = Driver::start(&home_a).await?;
    let driver_b = Driver::start(&home_b).await?;
    let a = driver_a.launch().await?;
    enrol_volunteer(&a, &server, &codes[0]).await?;
    a.screenshot("climate-01-kit").await?;

    // A starts a visit in the 11th.
    tab(&a, "Visites").await?;
    let area = a.wait_css("#visit-area").await?;
    area.select_by_value("75011").await?;
    let list = a.wait_css("#visit-checklist").await?;
    list.select_by_value("visite").await?;
    a.click_button("Commencer la visite").await?;
    a.wait_css(&item("eau")).await?;
    a.screenshot("climate-02-visit-started").await?;

    // B enrols and sees A's visit (through the server).
    let b = driver_b.launch().await?;
    enrol_volunteer(&b, &server, &codes[1]).await?;
    tab(&b, "Visites").await?;
    b.wait_css("button.visit").await?;
    open_visit(&b).await?;
    // The server holds the visit before it goes away (the coordinator sees it).
    wait_for("the visit in the coordinator's progress", || async {
        let p = progress(&server).await?;
        Ok((p["totals"]["visits"] == 1).then_some(()))
    })
    .await?;

    // The server stops; the kit opens offline.
    server.stop()?;
    tab(&b, "Kit").await?;
    b.wait_text(".banner", "the level offline", |t| {
        t.contains("Niveau 3 — alerte canicule")
    })
    .await?;
    b.wait_xpath("//a[@href='tel:15']").await?;
    b.wait_xpath("//h2[normalize-space()='À faire maintenant']")
        .await?;
    b.screenshot("climate-03-kit-offline").await?;
    open_visit(&b).await?;

    // Different items on each phone, and `eau` on both.
    tick(&a, "eau").await?;
    tick(&a, "volets").await?;
    tick(&b, "eau").await?;
    tick(&b, "ventilateur").await?;
    wait_checked(&a, "ventilateur", false).await?;
    wait_checked(&b, "volets", false).await?;
    a.screenshot("climate-04-ticked-offline-a").await?;
    b.screenshot("climate-05-ticked-offline-b").await?;

    // The server comes back on the same address; everyone converges.
    let server = ServerProcess::start(&server_dir, port).await?;
    for (app, name) in [(&a, "A"), (&b, "B")] {
        for id in ["eau", "volets", "ventilateur"] {
            wait_checked(app, id, true)
                .await
                .map_err(|e| e.context(format!("phone {name}")))?;
        }
        wait_checked(app, "repas", false).await?;
        app.wait_text("fieldset legend", "3 ticked of the list", |t| {
            t.contains("(3/")
        })
        .await?;
    }
    a.screenshot("climate-06-converged-a").await?;
    b.screenshot("climate-07-converged-b").await?;

    // The coordinator's view: the progress API reads the server's documents.
    let progress = wait_for("the coordinator's progress", || async {
        let p = progress(&server).await?;
        Ok((p["areas"]["75011"]["ticked_items"] == 3).then_some(p))
    })
    .await?;
    assert_eq!(progress["areas"]["75011"]["visits"], 1);
    assert_eq!(progress["totals"]["visits"], 1);

    // The coordinator, in the app's coordinator mode (a third app process: B goes first, so
    // that two WebKit instances run at a time), edits the kit and raises the level.
    b.close().await?;
    driver_b.stop()?;
    let coordinator_token = coordinator_token(&server).await?;
    let home_c = dir.path().join("c");
    std::fs::create_dir_all(&home_c)?;
    let driver_c = Driver::start(&home_c).await?;
    let c = driver_c.launch().await?;
    c.click_button("Mode coordination").await?;
    c.fill("#coord-server", &server.url()).await?;
    c.fill("#coord-token", &coordinator_token).await?;
    c.click("form.coord-signin button[type='submit']").await?;
    c.wait_css("[data-testid='night-name']").await?;
    c.click_button("Climat").await?;
    c.wait_css("button[data-level='orange'][aria-pressed='true']")
        .await?;
    c.wait_css("tr[data-area='75011'][data-visits='1']").await?;
    c.click_button("Modifier le kit").await?;
    c.fill(
        "fieldset[data-checklist='visite'] li[data-item='eau'] input.item-label",
        RENAMED,
    )
    .await?;
    c.fill("#new-item-0", "Thermomètre dans la pièce").await?;
    c.click_button("Ajouter l’élément").await?;
    c.wait_css(&format!(
        "fieldset[data-checklist='visite'] li[data-item='{ADDED}']"
    ))
    .await?;
    c.screenshot("climate-08-coordinator-kit-edited").await?;
    c.click_button("Publier le kit").await?;
    c.wait_text(".kit-editor .ok", "the publication", |t| {
        t.starts_with("Kit publié")
    })
    .await?;
    c.click("button[data-level='rouge']").await?;
    c.wait_css("button[data-level='rouge'][aria-pressed='true']")
        .await?;
    c.screenshot("climate-09-coordinator-published-red").await?;

    // The volunteer's phone gets the new level and the new item by sync.
    tab(&a, "Kit").await?;
    a.wait_text(".banner", "the new level", |t| {
        t.contains("Niveau 4 — mobilisation maximale")
    })
    .await?;
    a.screenshot("climate-10-volunteer-red").await?;
    open_visit(&a).await?;
    a.wait_css(&item(ADDED)).await?;
    a.wait_xpath(&format!(
        "//label[input[@data-item='eau']]/span[contains(normalize-space(), '{RENAMED}')]"
    ))
    .await?;
    // Items handed out on the visit: two bottles, one leaflet.
    for (kind, count) in [("eau", 1), ("eau", 2), ("depliant", 1)] {
        a.click(&format!(
            "li[data-handout='{kind}'] button[aria-label^='Ajouter']"
        ))
        .await?;
        a.wait_css(&format!("li[data-handout='{kind}'][data-count='{count}']"))
            .await?;
    }
    a.screenshot("climate-11-volunteer-handed-out").await?;

    // The coordinator's progress shows them, on demand.
    c.click_button("Suivi des visites").await?;
    wait_for("the items in the coordinator's screen", || async {
        let row = c
            .client
            .find(Locator::Css("tr[data-area='75011'][data-items='3']"))
            .await
            .ok();
        if row.is_none() {
            c.click_button("Actualiser").await?;
        }
        Ok(row)
    })
    .await?;
    c.wait_text("[data-testid='climate-handed-out']", "the totals", |t| {
        t.contains("Bouteilles d’eau 2") && t.contains("Dépliants 1")
    })
    .await?;
    c.screenshot("climate-12-coordinator-progress").await?;
    c.close().await?;
    driver_c.stop()?;

    a.close().await?;
    driver_a.stop()?;
    let db = server.db_path.clone();
    server.stop()?;

    // The server's own file: one visit with exactly the three ticks of both phones.
    let stored = Store::open(&db)?
        .load_automerge(&field_doc)?
        .expect("the server holds the field document");
    let field = climate::read_field(&stored)?;
    assert_eq!(field.visits.len(), 1);
    let visit = field.visits.values().next().expect("one visit");
    assert_eq!(visit.area.as_str(), "75011");
    assert_eq!(visit.checklist_id, "visite");
    let expected: BTreeMap<String, bool> = ["eau", "ventilateur", "volets"]
        .into_iter()
        .map(|k| (k.to_owned(), true))
        .collect();
    assert_eq!(visit.ticks, expected);
    let items: BTreeMap<climate::Handout, u32> =
        [(climate::Handout::Water, 2), (climate::Handout::Leaflet, 1)].into();
    assert_eq!(visit.items, items);
    Ok(())
}
