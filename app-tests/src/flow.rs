//! Steps a team member takes in the app, as taps on the real UI (French wording, option codes),
//! and the coordinator's set-up that the app needs (a published questionnaire).

use anyhow::Context;
use carnet_shared::doc;
use carnet_shared::model::QuestionnaireDefinition;

use crate::App;
use crate::server::{Night, ServerProcess};

/// The questionnaire shipped with Carnet (`shared/questionnaire/default-2026.json`).
pub fn default_questionnaire() -> anyhow::Result<QuestionnaireDefinition> {
    let path = crate::workspace_root().join("shared/questionnaire/default-2026.json");
    let definition =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let version = serde_json::from_str::<serde_json::Value>(&definition)?["version"]
        .as_u64()
        .and_then(|v| u32::try_from(v).ok())
        .context("questionnaire without a version")?;
    Ok(QuestionnaireDefinition {
        version,
        definition,
    })
}

/// Publishes `q` in the night document as a coordinator would: a sync client with the admin
/// token writes it over the real `/sync` WebSocket and waits for the server's acknowledgement.
pub async fn publish_questionnaire(
    server: &ServerProcess,
    night: &Night,
    q: &QuestionnaireDefinition,
    now: i64,
) -> anyhow::Result<()> {
    let peer_id = server.admin_peer_id().await?;
    let mut coordinator = carnet_tests::Device::new(&peer_id, crate::server::ADMIN_TOKEN);
    coordinator.connect(server.addr).await?;
    coordinator.open(night.night_doc).await?;
    coordinator
        .edit(night.night_doc, |d| doc::set_questionnaire(d, q, now))
        .await?;
    coordinator.sync_until_acknowledged(night.night_doc).await?;
    coordinator.go_offline().await;
    Ok(())
}

/// Enrolment form: server address and code, then "Rejoindre". Does not wait for the outcome.
pub async fn submit_enrolment(app: &App, server_url: &str, code: &str) -> anyhow::Result<()> {
    app.fill("#server", server_url).await?;
    app.fill("#code", code).await?;
    app.click("form.enrol button[type='submit']").await
}

/// The home screen of an enrolled device.
pub async fn wait_home(app: &App) -> anyhow::Result<()> {
    app.wait_css("section.head").await.map(|_| ())
}

/// "+ Nouvelle rencontre": a fresh draft on screen.
pub async fn new_encounter(app: &App) -> anyhow::Result<()> {
    wait_home(app).await?;
    app.click_button("+ Nouvelle rencontre").await?;
    app.wait_text(".form .title h1", "a new encounter form", |t| {
        t == "Nouvelle rencontre"
    })
    .await
    .map(|_| ())
}

/// "Enregistrer la rencontre", then back on the home screen.
pub async fn record(app: &App) -> anyhow::Result<()> {
    app.click_button("Enregistrer la rencontre").await?;
    wait_home(app).await
}

/// The count shown on the home screen's "Rencontres (n)" button.
pub async fn wait_encounter_count(app: &App, n: usize) -> anyhow::Result<()> {
    let want = format!("Rencontres ({n})");
    app.wait_xpath(&format!("//button[normalize-space()='{want}']"))
        .await
}

/// A quick encounter (street, no installation, one man alone, asleep): the benchmark's tap.
pub async fn fill_quick_encounter(app: &App) -> anyhow::Result<()> {
    app.choose("Type d’espace", "street").await?;
    app.choose("Installation", "none").await?;
    app.choose("Situation", "alone").await?;
    app.click("button[aria-label='Hommes +1']").await?;
    app.choose("Questionnaire proposé", "asleep").await
}
