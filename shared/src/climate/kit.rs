//! The heat-wave kit file (`shared/kits/FORMAT.md`): JSON read with serde, checked section by
//! section. A kit is imported even when parts of it are wrong: unknown fields, missing
//! sections and rejected entries are listed in a [`KitReport`]; only a file that is not a JSON
//! object, a newer format or a kit without `id`/`title` is refused.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::AlertLevel;
use super::places::Place;

/// The kit format this build writes and the newest it reads.
pub const KIT_FORMAT: u32 = 1;

/// A published heat-wave kit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kit {
    pub format: u32,
    /// Stable id of the kit (`canicule`).
    pub id: String,
    pub title: String,
    /// Free version label (`2026-1`).
    #[serde(default)]
    pub version: String,
    pub sections: Vec<Section>,
    pub checklists: Vec<Checklist>,
    pub emergency_numbers: Vec<EmergencyNumber>,
    /// Places listed in the kit itself; the open-data places are imported apart.
    #[serde(default)]
    pub places: Vec<Place>,
    /// What to do at each alert level.
    pub level_actions: BTreeMap<AlertLevel, Vec<String>>,
}

impl Kit {
    /// The actions for `level` (empty if the kit has none for it).
    pub fn actions(&self, level: AlertLevel) -> &[String] {
        self.level_actions
            .get(&level)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub fn checklist(&self, id: &str) -> Option<&Checklist> {
        self.checklists.iter().find(|c| c.id == id)
    }
}

/// A sheet of text: a title and paragraphs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    pub id: String,
    pub title: String,
    pub paragraphs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checklist {
    pub id: String,
    pub title: String,
    pub items: Vec<ChecklistItem>,
}

/// One item; its `id` is what ticks are stored under, so it must never change meaning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistItem {
    pub id: String,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmergencyNumber {
    pub number: String,
    pub label: String,
    /// When to call it.
    pub when: String,
}

/// Why a kit file is refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum KitError {
    #[error("the file is not JSON (line {line}, column {column})")]
    NotJson { line: usize, column: usize },
    #[error("the file is not a JSON object")]
    NotAnObject,
    #[error("kit format {found} is not supported (this build reads up to {supported})")]
    UnsupportedFormat { found: u64, supported: u32 },
    #[error("the kit has no `{field}`")]
    MissingField { field: &'static str },
}

/// An entry left out of the import, with the JSON path and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub path: String,
    pub reason: String,
}

/// What the import noticed. Empty lists mean the file was imported as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KitReport {
    /// JSON paths of fields this format does not know (ignored).
    pub unknown_fields: Vec<String>,
    /// Sections (or alert levels under `level_actions`) the file lacks.
    pub missing_sections: Vec<String>,
    pub rejected: Vec<Rejected>,
}

impl KitReport {
    pub fn is_clean(&self) -> bool {
        self.unknown_fields.is_empty()
            && self.missing_sections.is_empty()
            && self.rejected.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct KitImport {
    pub kit: Kit,
    pub report: KitReport,
}

const TOP_FIELDS: &[&str] = &[
    "format",
    "id",
    "title",
    "version",
    "sections",
    "checklists",
    "emergency_numbers",
    "places",
    "level_actions",
];
const REQUIRED_LISTS: &[&str] = &["sections", "checklists", "emergency_numbers"];

/// Parses a kit file. See the module documentation for what is refused and what is reported.
pub fn parse_kit(text: &str) -> Result<KitImport, KitError> {
    let value: Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| {
        KitError::NotJson {
            line: e.line(),
            column: e.column(),
        }
    })?;
    let Value::Object(root) = value else {
        return Err(KitError::NotAnObject);
    };
    let mut report = KitReport::default();
    let format = match root.get("format") {
        None => {
            report.missing_sections.push("format".to_owned());
            KIT_FORMAT
        }
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 && n <= u64::from(KIT_FORMAT) => KIT_FORMAT,
            Some(n) => {
                return Err(KitError::UnsupportedFormat {
                    found: n,
                    supported: KIT_FORMAT,
                });
            }
            None => {
                report.rejected.push(Rejected {
                    path: "format".to_owned(),
                    reason: "n'est pas un entier".to_owned(),
                });
                KIT_FORMAT
            }
        },
    };
    unknown_keys(&root, "", TOP_FIELDS, &mut report);
    let id = required_text(&root, "id")?;
    let title = required_text(&root, "title")?;
    let version = match root.get("version") {
        None => String::new(),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(_) => {
            report.rejected.push(Rejected {
                path: "version".to_owned(),
                reason: "n'est pas un texte".to_owned(),
            });
            String::new()
        }
    };
    for &name in REQUIRED_LISTS {
        if !root.contains_key(name) {
            report.missing_sections.push(name.to_owned());
        }
    }
    let sections: Vec<Section> = list(
        &root,
        "sections",
        &["id", "title", "paragraphs"],
        &mut report,
        |s: &Section| (!s.id.is_empty()).then_some(s.id.as_str()),
    );
    let mut checklists: Vec<Checklist> = Vec::new();
    if let Some(value) = root.get("checklists") {
        for (path, item) in entries(value, "checklists", &mut report) {
            if let Some(checklist) = checklist(item, &path, &mut report) {
                if checklists.iter().any(|c| c.id == checklist.id) {
                    report.rejected.push(duplicate(&path, &checklist.id));
                } else {
                    checklists.push(checklist);
                }
            }
        }
    }
    let emergency_numbers: Vec<EmergencyNumber> = list(
        &root,
        "emergency_numbers",
        &["number", "label", "when"],
        &mut report,
        |n: &EmergencyNumber| Some(n.number.as_str()),
    );
    let places: Vec<Place> = list(
        &root,
        "places",
        &[
            "id",
            "kind",
            "name",
            "lat",
            "lon",
            "address",
            "arrondissement",
            "hours",
            "available",
        ],
        &mut report,
        |p: &Place| Some(p.id.as_str()),
    );
    let level_actions = level_actions(root.get("level_actions"), &mut report);
    Ok(KitImport {
        kit: Kit {
            format,
            id,
            title,
            version,
            sections,
            checklists,
            emergency_numbers,
            places,
            level_actions,
        },
        report,
    })
}

fn required_text(root: &Map<String, Value>, field: &'static str) -> Result<String, KitError> {
    match root.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        _ => Err(KitError::MissingField { field }),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn unknown_keys(obj: &Map<String, Value>, path: &str, known: &[&str], report: &mut KitReport) {
    for key in obj.keys() {
        if !known.contains(&key.as_str()) {
            report.unknown_fields.push(join(path, key));
        }
    }
}

fn duplicate(path: &str, id: &str) -> Rejected {
    Rejected {
        path: path.to_owned(),
        reason: format!("identifiant « {id} » déjà utilisé"),
    }
}

/// The elements of a list section with their paths; a non-list is rejected whole.
fn entries<'v>(value: &'v Value, path: &str, report: &mut KitReport) -> Vec<(String, &'v Value)> {
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("{path}[{i}]"), v))
            .collect(),
        _ => {
            report.rejected.push(Rejected {
                path: path.to_owned(),
                reason: "n'est pas une liste".to_owned(),
            });
            Vec::new()
        }
    }
}

/// One entry: an object, unknown keys reported, decoded with serde, its id checked.
fn entry<T: DeserializeOwned>(
    value: &Value,
    path: &str,
    known: &[&str],
    report: &mut KitReport,
) -> Option<T> {
    let Value::Object(obj) = value else {
        report.rejected.push(Rejected {
            path: path.to_owned(),
            reason: "n'est pas un objet".to_owned(),
        });
        return None;
    };
    unknown_keys(obj, path, known, report);
    match serde_json::from_value::<T>(value.clone()) {
        Ok(t) => Some(t),
        Err(e) => {
            report.rejected.push(Rejected {
                path: path.to_owned(),
                reason: e.to_string(),
            });
            None
        }
    }
}

fn list<T: DeserializeOwned>(
    root: &Map<String, Value>,
    name: &str,
    known: &[&str],
    report: &mut KitReport,
    id_of: fn(&T) -> Option<&str>,
) -> Vec<T> {
    let Some(value) = root.get(name) else {
        return Vec::new();
    };
    let mut out: Vec<T> = Vec::new();
    let mut seen = BTreeSet::new();
    for (path, item) in entries(value, name, report) {
        let Some(t) = entry::<T>(item, &path, known, report) else {
            continue;
        };
        match id_of(&t) {
            Some(id) if !valid_id(id) && name != "emergency_numbers" => {
                report.rejected.push(bad_id(&path, id));
            }
            Some(id) if !seen.insert(id.to_owned()) => report.rejected.push(duplicate(&path, id)),
            None => report.rejected.push(Rejected {
                path,
                reason: "identifiant vide".to_owned(),
            }),
            Some(_) => out.push(t),
        }
    }
    out
}

/// Stable ids: lowercase ASCII letters, digits, `-` and `_`, 1 to 64 characters.
fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn bad_id(path: &str, id: &str) -> Rejected {
    Rejected {
        path: path.to_owned(),
        reason: format!(
            "identifiant « {id} » invalide (minuscules, chiffres, - et _ ; 64 caractères au plus)"
        ),
    }
}

fn checklist(value: &Value, path: &str, report: &mut KitReport) -> Option<Checklist> {
    #[derive(Deserialize)]
    struct Head {
        id: String,
        title: String,
    }
    let head: Head = entry(value, path, &["id", "title", "items"], report)?;
    if !valid_id(&head.id) {
        report.rejected.push(bad_id(path, &head.id));
        return None;
    }
    let mut items: Vec<ChecklistItem> = Vec::new();
    match value.get("items") {
        None => report.missing_sections.push(join(path, "items")),
        Some(list) => {
            for (item_path, item) in entries(list, &join(path, "items"), report) {
                let Some(item) =
                    entry::<ChecklistItem>(item, &item_path, &["id", "label", "hint"], report)
                else {
                    continue;
                };
                if !valid_id(&item.id) {
                    report.rejected.push(bad_id(&item_path, &item.id));
                } else if items.iter().any(|i| i.id == item.id) {
                    report.rejected.push(duplicate(&item_path, &item.id));
                } else {
                    items.push(item);
                }
            }
        }
    }
    Some(Checklist {
        id: head.id,
        title: head.title,
        items,
    })
}

fn level_actions(
    value: Option<&Value>,
    report: &mut KitReport,
) -> BTreeMap<AlertLevel, Vec<String>> {
    let mut out = BTreeMap::new();
    let Some(value) = value else {
        report.missing_sections.push("level_actions".to_owned());
        return out;
    };
    let Value::Object(obj) = value else {
        report.rejected.push(Rejected {
            path: "level_actions".to_owned(),
            reason: "n'est pas un objet".to_owned(),
        });
        return out;
    };
    let known: Vec<&str> = AlertLevel::ALL.iter().map(|l| l.code()).collect();
    unknown_keys(obj, "level_actions", &known, report);
    for level in AlertLevel::ALL {
        let path = join("level_actions", level.code());
        match obj.get(level.code()) {
            None => report.missing_sections.push(path),
            Some(v) => match serde_json::from_value::<Vec<String>>(v.clone()) {
                Ok(actions) => {
                    out.insert(level, actions);
                }
                Err(_) => report.rejected.push(Rejected {
                    path,
                    reason: "n'est pas une liste de textes".to_owned(),
                }),
            },
        }
    }
    out
}

#[cfg(test)]
#[path = "kit_tests.rs"]
mod tests;
