//! After the night: the concurrent edits of one field (Automerge conflicts) the coordinator
//! decides, and the retention purge of the field-only free text ("distinctive signs"), both
//! done by the server (`GET/POST …/conflicts`, `POST …/purge-field-data`).

use serde::{Deserialize, Serialize};
use tauri::State;
use uuid::Uuid;

use carnet_shared::model::{ConflictResolution, EncounterEdit, TeamId};

use super::{CoordinatorState, Result};

/// One field of an encounter edited concurrently (`GET …/conflicts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConflictView {
    pub team_id: TeamId,
    pub encounter_id: Uuid,
    pub field: String,
    /// Every concurrent value, each as the edit that would write it.
    pub values: Vec<EncounterEdit>,
    /// Index of the value the documents show now.
    pub current: usize,
    /// The coordinators' choice, if made.
    pub resolution: Option<EncounterEdit>,
}

/// What `POST …/purge-field-data` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeReport {
    /// Team documents of the night.
    pub documents: usize,
    /// Encounters whose distinctive signs this call removed.
    pub purged: usize,
    /// Team documents the server could not read (a newer app's schema): left unchanged.
    /// Absent from older servers' answers: a purge that worked is not a bad answer.
    #[serde(default)]
    pub unreadable: Vec<UnreadableTeam>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadableTeam {
    pub team_id: Uuid,
    pub name: String,
}

impl CoordinatorState {
    pub async fn conflicts(&self) -> Result<Vec<ConflictView>> {
        let s = self.session().await?;
        s.get_json(&s.night_path("conflicts")).await
    }

    /// Chooses `chosen` (one of the conflict's values) for that field of the encounter.
    pub async fn resolve_conflict(
        &self,
        encounter_id: Uuid,
        chosen: EncounterEdit,
    ) -> Result<ConflictResolution> {
        let s = self.session().await?;
        let body = serde_json::json!({ "encounterId": encounter_id, "chosen": chosen });
        s.post_json("conflicts", Some(body)).await
    }

    /// Removes the distinctive signs from every team document of the night, on the server and
    /// on the devices (at once if connected, else at their next sync).
    pub async fn purge_field_data(&self) -> Result<PurgeReport> {
        let s = self.session().await?;
        let report: PurgeReport = s.post_json("purge-field-data", None).await?;
        tracing::info!(
            documents = report.documents,
            purged = report.purged,
            unreadable = report.unreadable.len(),
            "field data purged"
        );
        Ok(report)
    }
}

#[tauri::command]
pub async fn coord_conflicts(state: State<'_, CoordinatorState>) -> Result<Vec<ConflictView>> {
    state.conflicts().await
}

#[tauri::command]
pub async fn coord_resolve_conflict(
    state: State<'_, CoordinatorState>,
    encounter_id: Uuid,
    chosen: EncounterEdit,
) -> Result<ConflictResolution> {
    state.resolve_conflict(encounter_id, chosen).await
}

#[tauri::command]
pub async fn coord_purge_field_data(state: State<'_, CoordinatorState>) -> Result<PurgeReport> {
    state.purge_field_data().await
}
