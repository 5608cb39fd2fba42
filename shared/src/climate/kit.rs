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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const DEFAULT_KIT: &str = include_str!("../../kits/canicule.json");

    #[test]
    fn the_default_kit_imports_cleanly() {
        let import = parse_kit(DEFAULT_KIT).unwrap();
        assert!(import.report.is_clean(), "{:?}", import.report);
        let kit = import.kit;
        assert_eq!(kit.title, "Le volontaire et la canicule");
        let visit = kit.checklist("visite").unwrap();
        let ids: Vec<&str> = visit.items.iter().map(|i| i.id.as_str()).collect();
        for expected in [
            "eau",
            "temperature-piece",
            "volets",
            "ventilateur",
            "signes-coup-de-chaleur",
            "signes-deshydratation",
            "salle-rafraichie",
            "inscription-3975",
        ] {
            assert!(ids.contains(&expected), "{expected} missing from {ids:?}");
        }
        let numbers: Vec<&str> = kit
            .emergency_numbers
            .iter()
            .map(|n| n.number.as_str())
            .collect();
        for expected in ["15", "112", "3975", "18"] {
            assert!(numbers.contains(&expected), "{expected}");
        }
        for level in AlertLevel::ALL {
            assert!(!kit.actions(level).is_empty(), "{level:?}");
        }
    }

    #[test]
    fn unknown_fields_are_reported_with_their_path_and_the_rest_imported() {
        let text = r#"{"format":1,"id":"k","title":"T","colour":"red",
            "sections":[{"id":"a","title":"A","paragraphs":["p"],"image":"x.png"}],
            "checklists":[{"id":"c","title":"C","items":[{"id":"i","label":"L","weight":2}]}],
            "emergency_numbers":[{"number":"15","label":"SAMU","when":"urgence"}],
            "level_actions":{"vert":[],"jaune":[],"orange":[],"rouge":["x"],"violet":[]}}"#;
        let import = parse_kit(text).unwrap();
        assert_eq!(
            import.report.unknown_fields,
            vec![
                "colour",
                "sections[0].image",
                "checklists[0].items[0].weight",
                "level_actions.violet"
            ]
        );
        assert!(import.report.missing_sections.is_empty());
        assert_eq!(import.kit.sections.len(), 1);
        assert_eq!(import.kit.checklists[0].items[0].id, "i");
        assert_eq!(import.kit.actions(AlertLevel::Red), ["x"]);
    }

    #[test]
    fn missing_sections_are_reported_and_present_ones_imported() {
        let text = r#"{"format":1,"id":"k","title":"T",
            "checklists":[{"id":"c","title":"C","items":[{"id":"i","label":"L"}]}],
            "level_actions":{"vert":["v"],"rouge":["r"]}}"#;
        let import = parse_kit(text).unwrap();
        assert_eq!(
            import.report.missing_sections,
            vec![
                "sections",
                "emergency_numbers",
                "level_actions.jaune",
                "level_actions.orange"
            ]
        );
        assert_eq!(import.kit.checklists.len(), 1);
        assert_eq!(import.kit.actions(AlertLevel::Green), ["v"]);
        assert!(import.kit.actions(AlertLevel::Orange).is_empty());
    }

    #[test]
    fn bad_entries_are_rejected_one_by_one() {
        let text = r#"{"format":1,"id":"k","title":"T",
            "sections":[{"id":"a","title":"A","paragraphs":["p"]},{"id":"a","title":"B","paragraphs":[]},
                        {"title":"no id","paragraphs":[]}, 3],
            "checklists":[{"id":"Visite Maison","title":"C","items":[]},
                          {"id":"v","title":"V","items":[{"id":"x","label":"1"},{"id":"x","label":"2"},{"id":"y"}]}],
            "emergency_numbers":"15",
            "level_actions":{"vert":"boire","jaune":[],"orange":[],"rouge":[]}}"#;
        let import = parse_kit(text).unwrap();
        let paths: Vec<&str> = import
            .report
            .rejected
            .iter()
            .map(|r| r.path.as_str())
            .collect();
        assert_eq!(
            paths,
            vec![
                "sections[1]",
                "sections[2]",
                "sections[3]",
                "checklists[0]",
                "checklists[1].items[1]",
                "checklists[1].items[2]",
                "emergency_numbers",
                "level_actions.vert"
            ]
        );
        assert_eq!(import.kit.sections.len(), 1);
        assert_eq!(import.kit.checklists.len(), 1);
        assert_eq!(import.kit.checklists[0].items.len(), 1);
    }

    #[test]
    fn files_that_cannot_be_a_kit_are_refused() {
        assert!(matches!(
            parse_kit("{\"id\": "),
            Err(KitError::NotJson { line: 1, .. })
        ));
        assert_eq!(parse_kit("[1,2]"), Err(KitError::NotAnObject));
        assert_eq!(
            parse_kit(r#"{"format":2,"id":"k","title":"T"}"#),
            Err(KitError::UnsupportedFormat {
                found: 2,
                supported: 1
            })
        );
        assert_eq!(
            parse_kit(r#"{"format":1,"id":"k","title":"  "}"#),
            Err(KitError::MissingField { field: "title" })
        );
    }

    proptest::proptest! {
        /// Dropping any top-level section of the default kit still imports the others and
        /// names the dropped one.
        #[test]
        fn dropping_a_section_reports_it_and_keeps_the_rest(which in 0usize..4) {
            let mut value: Value = serde_json::from_str(DEFAULT_KIT).unwrap();
            let name = ["sections", "checklists", "emergency_numbers", "level_actions"][which];
            value.as_object_mut().unwrap().remove(name);
            let import = parse_kit(&value.to_string()).unwrap();
            proptest::prop_assert_eq!(import.report.missing_sections, vec![name.to_owned()]);
            proptest::prop_assert_eq!(import.kit.sections.is_empty(), name == "sections");
            proptest::prop_assert_eq!(import.kit.checklists.is_empty(), name == "checklists");
            proptest::prop_assert_eq!(import.kit.level_actions.is_empty(), name == "level_actions");
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = parse_kit(&text);
        }

        #[test]
        fn parsing_arbitrary_json_objects_never_panics(
            keys in proptest::collection::vec("[a-z_]{1,12}", 0..8),
            numbers in proptest::collection::vec(proptest::prelude::any::<i64>(), 8),
        ) {
            let mut obj = Map::new();
            obj.insert("id".into(), Value::from("k"));
            obj.insert("title".into(), Value::from("T"));
            for (k, n) in keys.iter().zip(&numbers) {
                obj.insert(k.clone(), Value::from(*n));
            }
            let _ = parse_kit(&Value::Object(obj).to_string());
        }
    }
}
