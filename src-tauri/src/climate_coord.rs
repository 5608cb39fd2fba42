//! The climate plan in the app's coordinator mode (the "Climat" tab): read the published
//! heat-wave kit, check an edited kit with the kit file's own rules
//! (`carnet_shared::climate::parse_kit`, `shared/kits/FORMAT.md`) and show what is wrong per
//! field in French, publish it, set the alert level, and follow the volunteers' progress per
//! arrondissement. Thin commands over the signed-in coordinator session
//! (`coordinator::CoordinatorState`: the token stays there, never crosses IPC nor reaches a
//! log). Volunteers' devices get a published kit and level by sync.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tauri::State;

use carnet_shared::climate::{self, AlertLevel, Kit, KitDocument, KitError, KitReport, Progress};

use crate::coordinator::{CoordinatorError, CoordinatorState};

type Result<T> = std::result::Result<T, CoordinatorError>;

/// The default kit of the repository ("Le volontaire et la canicule"), a starting point when
/// nothing is published yet.
const DEFAULT_KIT: &str = include_str!("../../shared/kits/canicule.json");

/// One problem of an edited kit: the JSON path of the field (`checklists[0].items[2].label`,
/// as the kit format's report writes it) and what is wrong, in French.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KitIssue {
    pub path: String,
    pub message: String,
}

/// The check of an edited kit: publishable only without issues; `kit` is the kit as it would
/// be published (texts trimmed), absent when the file rules refuse it as a whole.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KitCheck {
    pub ok: bool,
    pub issues: Vec<KitIssue>,
    pub kit: Option<Kit>,
}

/// What the server answered to a publication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KitPublished {
    pub report: KitReport,
}

/// What the server answered to a new alert level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelSet {
    pub level: AlertLevel,
    pub label: String,
    pub set_at: i64,
}

fn issue(path: impl Into<String>, message: impl Into<String>) -> KitIssue {
    KitIssue {
        path: path.into(),
        message: message.into(),
    }
}

fn refusal_fr(e: &KitError) -> KitIssue {
    match e {
        KitError::NotJson { line, column } => issue(
            "",
            format!("Le kit n’est pas du JSON valide (ligne {line}, colonne {column})."),
        ),
        KitError::NotAnObject => issue("", "Le kit doit être un objet JSON."),
        KitError::UnsupportedFormat { found, supported } => issue(
            "format",
            format!(
                "Format {found} non pris en charge (cette version lit jusqu’au format {supported})."
            ),
        ),
        KitError::MissingField { field } => issue(*field, "Champ obligatoire : à remplir."),
    }
}

/// A serde message of a rejected entry (`missing field `label``, `invalid type: …`) in French,
/// with the path of the field when serde names it.
fn rejected_fr(path: &str, reason: &str) -> KitIssue {
    if let Some(rest) = reason.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default();
        return issue(format!("{path}.{field}"), "Champ obligatoire : à remplir.");
    }
    if reason.starts_with("invalid type") {
        return issue(path, "Type de valeur incorrect.");
    }
    if reason.starts_with("unknown variant") {
        return issue(path, "Valeur inconnue.");
    }
    // The kit parser's own reasons are already in French ("identifiant « x » déjà utilisé").
    let mut chars = reason.chars();
    let message = match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => "Entrée refusée.".to_owned(),
    };
    issue(path, message)
}

/// Empty texts the file format lets through but a volunteer could not use.
fn empty_texts(kit: &Kit) -> Vec<KitIssue> {
    let mut out = Vec::new();
    let mut check = |path: String, text: &str| {
        if text.trim().is_empty() {
            out.push(issue(path, "Texte vide : à remplir ou à supprimer."));
        }
    };
    for (i, s) in kit.sections.iter().enumerate() {
        check(format!("sections[{i}].title"), &s.title);
        for (j, p) in s.paragraphs.iter().enumerate() {
            check(format!("sections[{i}].paragraphs[{j}]"), p);
        }
    }
    for (i, c) in kit.checklists.iter().enumerate() {
        check(format!("checklists[{i}].title"), &c.title);
        for (j, item) in c.items.iter().enumerate() {
            check(format!("checklists[{i}].items[{j}].label"), &item.label);
        }
    }
    for (i, n) in kit.emergency_numbers.iter().enumerate() {
        check(format!("emergency_numbers[{i}].number"), &n.number);
        check(format!("emergency_numbers[{i}].label"), &n.label);
    }
    for (level, actions) in &kit.level_actions {
        for (j, a) in actions.iter().enumerate() {
            check(format!("level_actions.{}[{j}]", level.code()), a);
        }
    }
    out
}

/// Trims every text of the form (spaces typed around a label are not part of it).
fn trim_texts(value: &mut Value) {
    match value {
        Value::String(s) if s.trim().len() != s.len() => *s = s.trim().to_owned(),
        Value::Array(items) => items.iter_mut().for_each(trim_texts),
        Value::Object(fields) => fields.values_mut().for_each(trim_texts),
        _ => {}
    }
}

/// Checks an edited kit (texts trimmed) with the rules of the kit file (the same parser the
/// server runs on publication), plus non-empty texts. Pure.
pub fn check_kit(draft: &Value) -> KitCheck {
    let mut draft = draft.clone();
    trim_texts(&mut draft);
    let import = match climate::parse_kit(&draft.to_string()) {
        Ok(import) => import,
        Err(e) => {
            return KitCheck {
                ok: false,
                issues: vec![refusal_fr(&e)],
                kit: None,
            };
        }
    };
    let report = &import.report;
    let mut issues: Vec<KitIssue> = Vec::new();
    issues.extend(
        report
            .unknown_fields
            .iter()
            .map(|p| issue(p.as_str(), "Champ inconnu du format des kits.")),
    );
    issues.extend(report.missing_sections.iter().map(|p| {
        let message = if p.starts_with("level_actions.") {
            "Actions de ce niveau d’alerte manquantes (une liste, même vide)."
        } else {
            "Section obligatoire manquante."
        };
        issue(p.as_str(), message)
    }));
    issues.extend(
        report
            .rejected
            .iter()
            .map(|r| rejected_fr(&r.path, &r.reason)),
    );
    issues.extend(empty_texts(&import.kit));
    KitCheck {
        ok: issues.is_empty(),
        issues,
        kit: Some(import.kit),
    }
}

/// The default kit of the repository, parsed.
pub fn default_kit() -> Result<Kit> {
    climate::parse_kit(DEFAULT_KIT)
        .map(|i| i.kit)
        .map_err(|_| CoordinatorError::BadAnswer("default kit"))
}

fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|_| CoordinatorError::BadAnswer("not the expected JSON"))
}

/// `GET /api/climate/kit`: the kit document as the server holds it.
pub async fn kit(state: &CoordinatorState) -> Result<KitDocument> {
    json(
        &state
            .call(reqwest::Method::GET, "/api/climate/kit", None)
            .await?,
    )
}

/// Checks `draft` and publishes it (`POST /api/climate/kit`) only if it has no issue.
pub async fn publish_kit(state: &CoordinatorState, draft: &Value) -> Result<KitPublished> {
    let check = check_kit(draft);
    let (true, Some(kit)) = (check.ok, check.kit) else {
        return Err(CoordinatorError::InvalidInput("the kit has problems"));
    };
    let body = serde_json::to_string(&kit).map_err(|_| CoordinatorError::InvalidInput("kit"))?;
    let answer = state
        .call(reqwest::Method::POST, "/api/climate/kit", Some(body))
        .await?;
    tracing::info!(kit = %kit.id, "climate kit published from the app");
    json(&answer)
}

/// `PUT /api/climate/alert-level`.
pub async fn set_level(state: &CoordinatorState, level: AlertLevel) -> Result<LevelSet> {
    let body = serde_json::json!({ "level": level.code() }).to_string();
    json(
        &state
            .call(reqwest::Method::PUT, "/api/climate/alert-level", Some(body))
            .await?,
    )
}

/// `GET /api/climate/progress`: visits, items, alerts per arrondissement.
pub async fn progress(state: &CoordinatorState) -> Result<Progress> {
    json(
        &state
            .call(reqwest::Method::GET, "/api/climate/progress", None)
            .await?,
    )
}

// ---- Commands (thin): names and arguments as `ui/src/coordinator/climate/backend.ts` ----

#[tauri::command]
pub async fn coord_climate_kit(state: State<'_, CoordinatorState>) -> Result<KitDocument> {
    kit(&state).await
}

#[tauri::command]
pub async fn coord_climate_default_kit() -> Result<Kit> {
    default_kit()
}

#[tauri::command]
pub async fn coord_climate_check_kit(kit: Value) -> Result<KitCheck> {
    Ok(check_kit(&kit))
}

#[tauri::command]
pub async fn coord_climate_publish_kit(
    state: State<'_, CoordinatorState>,
    kit: Value,
) -> Result<KitPublished> {
    publish_kit(&state, &kit).await
}

#[tauri::command]
pub async fn coord_climate_set_level(
    state: State<'_, CoordinatorState>,
    level: AlertLevel,
) -> Result<LevelSet> {
    set_level(&state, level).await
}

#[tauri::command]
pub async fn coord_climate_progress(state: State<'_, CoordinatorState>) -> Result<Progress> {
    progress(&state).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn draft() -> Value {
        serde_json::to_value(default_kit().unwrap()).unwrap()
    }

    fn paths(check: &KitCheck) -> Vec<&str> {
        check.issues.iter().map(|i| i.path.as_str()).collect()
    }

    #[test]
    fn the_default_kit_edited_in_the_form_checks_clean_and_keeps_the_edits() {
        let mut d = draft();
        d["checklists"][0]["items"][0]["label"] = json!("  Eau fraîche à portée de main  ");
        let items = d["checklists"][0]["items"].as_array_mut().unwrap();
        items.push(json!({"id": "thermometre", "label": "Thermomètre posé dans la pièce"}));
        items.swap(0, 1);
        d["level_actions"]["rouge"]
            .as_array_mut()
            .unwrap()
            .push(json!("Appeler chaque personne deux fois par jour"));
        let check = check_kit(&d);
        assert!(check.ok, "{:?}", check.issues);
        let kit = check.kit.unwrap();
        let items = &kit.checklists[0].items;
        assert_eq!(items[1].label, "Eau fraîche à portée de main");
        assert_eq!(items.last().unwrap().id, "thermometre");
        assert!(
            kit.actions(AlertLevel::Red)
                .iter()
                .any(|a| a.contains("deux fois"))
        );
    }

    #[test]
    fn form_mistakes_are_reported_per_field_in_french() {
        let mut d = draft();
        let items = d["checklists"][0]["items"].as_array_mut().unwrap();
        let first_id = items[0]["id"].clone();
        items.push(json!({"id": first_id, "label": "Doublon"}));
        items.push(json!({"id": "Avec Espace", "label": "x"}));
        items.push(json!({"id": "sans-libelle"}));
        d["checklists"][0]["items"][1]["label"] = json!("   ");
        d["sections"][0]["color"] = json!("red");
        d["level_actions"].as_object_mut().unwrap().remove("jaune");
        let n = d["checklists"][0]["items"].as_array().unwrap().len();
        let check = check_kit(&d);
        assert!(!check.ok);
        let p = paths(&check);
        assert!(p.contains(&"sections[0].color"), "{p:?}");
        assert!(p.contains(&"level_actions.jaune"), "{p:?}");
        assert!(p.contains(&"checklists[0].items[1].label"), "{p:?}");
        assert!(p.contains(&format!("checklists[0].items[{}]", n - 3).as_str()));
        assert!(p.contains(&format!("checklists[0].items[{}]", n - 2).as_str()));
        assert!(p.contains(&format!("checklists[0].items[{}].label", n - 1).as_str()));
        let dup = check
            .issues
            .iter()
            .find(|i| i.path == format!("checklists[0].items[{}]", n - 3))
            .unwrap();
        assert!(dup.message.starts_with("Identifiant « "), "{dup:?}");
        assert!(dup.message.contains("déjà utilisé"), "{dup:?}");
        for i in &check.issues {
            assert!(!i.message.contains("missing field"), "{i:?}");
        }
    }

    #[test]
    fn a_kit_without_title_or_a_newer_format_is_refused_whole() {
        let mut d = draft();
        d["title"] = json!(" ");
        let check = check_kit(&d);
        assert_eq!((check.ok, check.kit.is_none()), (false, true));
        assert_eq!(paths(&check), ["title"]);
        let mut d = draft();
        d["format"] = json!(9);
        assert_eq!(paths(&check_kit(&d)), ["format"]);
        assert_eq!(paths(&check_kit(&json!([1, 2]))), [""]);
    }

    #[test]
    fn the_check_never_panics_on_arbitrary_json() {
        for v in [
            json!(null),
            json!({"id": "k", "title": "t", "sections": 3, "checklists": [1, {"id": 2}]}),
            json!({"id": "k", "title": "t", "level_actions": {"rouge": [1]}}),
            json!({"id": "k", "title": "t", "checklists": [{"id": "a", "title": "", "items": "x"}]}),
        ] {
            let check = check_kit(&v);
            assert!(!check.ok);
            assert!(check.issues.iter().all(|i| !i.message.is_empty()));
        }
    }
}
