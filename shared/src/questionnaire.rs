//! Validation of a questionnaire definition (format of `ui/src/questionnaire/FORMAT.md`,
//! `formatVersion` 1) before the coordinators publish it in the night document: the server
//! refuses what the app's `parseDefinition` would refuse, so that no team ever receives a
//! questionnaire it cannot show. Pure: text in, findings out.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The newest `formatVersion` this build (and the app) reads.
pub const FORMAT_VERSION: u64 = 1;

const MAX_ID_CHARS: usize = 64;
const MAX_TEXT_LENGTH: u64 = 10_000;

/// One problem found in a definition, located by a JSON path (`questions[3].showIf.question`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefinitionIssue {
    pub path: String,
    /// A fixed English phrase (never a value from the definition).
    pub problem: &'static str,
}

/// What a valid definition says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidDefinition {
    pub id: String,
    pub version: u32,
    pub questions: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Single,
    Multiple,
    Integer,
    Text,
}

struct Known {
    kind: Kind,
    codes: BTreeSet<String>,
}

struct Checker {
    issues: Vec<DefinitionIssue>,
}

impl Checker {
    fn issue(&mut self, path: impl Into<String>, problem: &'static str) {
        self.issues.push(DefinitionIssue {
            path: path.into(),
            problem,
        });
    }

    fn unknown_keys(&mut self, obj: &Map<String, Value>, path: &str, allowed: &[&str]) {
        for key in obj.keys() {
            if !allowed.contains(&key.as_str()) {
                self.issue(join(path, key), "unknown key");
            }
        }
    }

    /// `{fr, en}`, both non-empty strings.
    fn text(&mut self, value: Option<&Value>, path: &str, required: bool) {
        let Some(value) = value else {
            if required {
                self.issue(path, "missing");
            }
            return;
        };
        let Some(obj) = value.as_object() else {
            return self.issue(path, "must be an object {fr, en}");
        };
        self.unknown_keys(obj, path, &["fr", "en"]);
        for lang in ["fr", "en"] {
            match obj.get(lang).and_then(Value::as_str) {
                Some(s) if !s.trim().is_empty() => {}
                _ => self.issue(join(path, lang), "must be a non-empty string"),
            }
        }
    }

    fn question(&mut self, q: &Value, path: &str, known: &mut BTreeMap<String, Known>) {
        let Some(obj) = q.as_object() else {
            return self.issue(path, "must be an object");
        };
        self.unknown_keys(
            obj,
            path,
            &[
                "id",
                "type",
                "label",
                "help",
                "section",
                "required",
                "showIf",
                "options",
                "min",
                "max",
                "unit",
                "maxLength",
            ],
        );
        let id = obj.get("id").and_then(Value::as_str);
        match id {
            Some(id) if is_identifier(id) => {}
            _ => self.issue(join(path, "id"), "must match [A-Za-z][A-Za-z0-9_]* (≤ 64)"),
        }
        let kind = match obj.get("type").and_then(Value::as_str) {
            Some("single") => Some(Kind::Single),
            Some("multiple") => Some(Kind::Multiple),
            Some("integer") => Some(Kind::Integer),
            Some("text") => Some(Kind::Text),
            _ => {
                self.issue(
                    join(path, "type"),
                    "must be single, multiple, integer or text",
                );
                None
            }
        };
        self.text(obj.get("label"), &join(path, "label"), true);
        self.text(obj.get("help"), &join(path, "help"), false);
        self.text(obj.get("section"), &join(path, "section"), false);
        if !obj.get("required").is_some_and(Value::is_boolean) {
            self.issue(join(path, "required"), "must be a boolean");
        }
        if let Some(condition) = obj.get("showIf") {
            self.condition(condition, &join(path, "showIf"), known);
        }
        let mut codes = BTreeSet::new();
        let choice = matches!(kind, Some(Kind::Single | Kind::Multiple));
        match (obj.get("options"), choice) {
            (Some(options), true) => codes = self.options(options, path, kind),
            (None, true) => self.issue(join(path, "options"), "missing"),
            (Some(_), false) => self.issue(join(path, "options"), "only for single or multiple"),
            (None, false) => {}
        }
        let integer = kind == Some(Kind::Integer);
        let bound = |key: &str| obj.get(key).map(Value::as_i64);
        for key in ["min", "max", "unit"] {
            if obj.contains_key(key) && !integer {
                self.issue(join(path, key), "only for integer questions");
            }
        }
        if integer {
            match (bound("min"), bound("max")) {
                (Some(None), _) => self.issue(join(path, "min"), "must be an integer"),
                (_, Some(None)) => self.issue(join(path, "max"), "must be an integer"),
                (Some(Some(min)), Some(Some(max))) if min > max => {
                    self.issue(join(path, "min"), "must not exceed max")
                }
                _ => {}
            }
            if obj.contains_key("unit") {
                self.text(obj.get("unit"), &join(path, "unit"), false);
            }
        }
        match (obj.get("maxLength"), kind == Some(Kind::Text)) {
            (Some(v), true) => match v.as_u64() {
                Some(n) if (1..=MAX_TEXT_LENGTH).contains(&n) => {}
                _ => self.issue(join(path, "maxLength"), "must be an integer 1…10000"),
            },
            (None, true) => self.issue(join(path, "maxLength"), "missing"),
            (Some(_), false) => self.issue(join(path, "maxLength"), "only for text questions"),
            (None, false) => {}
        }
        if let (Some(id), Some(kind)) = (id, kind) {
            if known.contains_key(id) {
                self.issue(join(path, "id"), "duplicate question id");
            } else {
                known.insert(id.to_owned(), Known { kind, codes });
            }
        }
    }

    fn options(&mut self, options: &Value, path: &str, kind: Option<Kind>) -> BTreeSet<String> {
        let path = join(path, "options");
        let mut codes = BTreeSet::new();
        let Some(list) = options.as_array().filter(|l| !l.is_empty()) else {
            self.issue(path, "must be a non-empty array");
            return codes;
        };
        for (i, option) in list.iter().enumerate() {
            let at = format!("{path}[{i}]");
            let Some(obj) = option.as_object() else {
                self.issue(at, "must be an object");
                continue;
            };
            self.unknown_keys(obj, &at, &["code", "label", "exclusive"]);
            match obj.get("code").and_then(Value::as_str) {
                Some(code) if is_identifier(code) => {
                    if !codes.insert(code.to_owned()) {
                        self.issue(join(&at, "code"), "duplicate option code");
                    }
                }
                _ => self.issue(join(&at, "code"), "must match [A-Za-z][A-Za-z0-9_]* (≤ 64)"),
            }
            self.text(obj.get("label"), &join(&at, "label"), true);
            match obj.get("exclusive") {
                None => {}
                Some(Value::Bool(_)) if kind == Some(Kind::Multiple) => {}
                Some(Value::Bool(_)) => {
                    self.issue(join(&at, "exclusive"), "only for multiple-choice questions")
                }
                Some(_) => self.issue(join(&at, "exclusive"), "must be a boolean"),
            }
        }
        codes
    }

    fn condition(&mut self, c: &Value, path: &str, known: &BTreeMap<String, Known>) {
        let Some(obj) = c.as_object() else {
            return self.issue(path, "must be an object");
        };
        for combinator in ["all", "any"] {
            if let Some(list) = obj.get(combinator) {
                self.unknown_keys(obj, path, &[combinator]);
                let at = join(path, combinator);
                match list.as_array().filter(|l| !l.is_empty()) {
                    Some(list) => {
                        for (i, c) in list.iter().enumerate() {
                            self.condition(c, &format!("{at}[{i}]"), known);
                        }
                    }
                    None => self.issue(at, "must be a non-empty array"),
                }
                return;
            }
        }
        if let Some(inner) = obj.get("not") {
            self.unknown_keys(obj, path, &["not"]);
            return self.condition(inner, &join(path, "not"), known);
        }
        let Some(target) = obj.get("question").and_then(Value::as_str) else {
            return self.issue(join(path, "question"), "missing");
        };
        let Some(question) = known.get(target) else {
            return self.issue(join(path, "question"), "must name an earlier question");
        };
        let has_code = |v: &Value| v.as_str().is_some_and(|c| question.codes.contains(c));
        if let Some(v) = obj.get("equals") {
            self.unknown_keys(obj, path, &["question", "equals"]);
            if question.kind != Kind::Single || !has_code(v) {
                self.issue(
                    join(path, "equals"),
                    "must be an option of a single question",
                );
            }
        } else if let Some(v) = obj.get("in") {
            self.unknown_keys(obj, path, &["question", "in"]);
            let ok = v
                .as_array()
                .is_some_and(|l| !l.is_empty() && l.iter().all(has_code));
            if question.kind != Kind::Single || !ok {
                self.issue(join(path, "in"), "must list options of a single question");
            }
        } else if let Some(v) = obj.get("includes") {
            self.unknown_keys(obj, path, &["question", "includes"]);
            if question.kind != Kind::Multiple || !has_code(v) {
                self.issue(
                    join(path, "includes"),
                    "must be an option of a multiple question",
                );
            }
        } else if obj.contains_key("min") || obj.contains_key("max") {
            self.unknown_keys(obj, path, &["question", "min", "max"]);
            let int = |k: &str| obj.get(k).is_none_or(Value::is_i64);
            if question.kind != Kind::Integer || !int("min") || !int("max") {
                self.issue(path, "min/max must be integers about an integer question");
            }
        } else if let Some(v) = obj.get("answered") {
            self.unknown_keys(obj, path, &["question", "answered"]);
            if !v.is_boolean() {
                self.issue(join(path, "answered"), "must be a boolean");
            }
        } else {
            self.issue(path, "no operator");
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    s.chars().count() <= MAX_ID_CHARS
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks a definition; `Err` lists every problem found (an unsupported `formatVersion` stops
/// the check, as the app stops reading there).
pub fn validate_definition(text: &str) -> Result<ValidDefinition, Vec<DefinitionIssue>> {
    let mut c = Checker { issues: Vec::new() };
    let Ok(root) = serde_json::from_str::<Value>(text) else {
        c.issue("", "not JSON");
        return Err(c.issues);
    };
    let Some(obj) = root.as_object() else {
        c.issue("", "must be an object");
        return Err(c.issues);
    };
    match obj.get("formatVersion").and_then(Value::as_u64) {
        Some(v) if (1..=FORMAT_VERSION).contains(&v) => {}
        Some(v) if v > FORMAT_VERSION => {
            c.issue("formatVersion", "newer than this server reads");
            return Err(c.issues);
        }
        _ => c.issue("formatVersion", "must be an integer ≥ 1"),
    }
    c.unknown_keys(
        obj,
        "",
        &[
            "formatVersion",
            "id",
            "version",
            "title",
            "questions",
            "$comment",
        ],
    );
    let id = obj.get("id").and_then(Value::as_str).unwrap_or_default();
    if id.trim().is_empty() {
        c.issue("id", "must be a non-empty string");
    }
    let version = obj
        .get("version")
        .and_then(Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| *v >= 1);
    if version.is_none() {
        c.issue("version", "must be an integer 1…4294967295");
    }
    c.text(obj.get("title"), "title", true);
    let mut known = BTreeMap::new();
    match obj.get("questions").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => {
            for (i, q) in list.iter().enumerate() {
                c.question(q, &format!("questions[{i}]"), &mut known);
            }
        }
        _ => c.issue("questions", "must be a non-empty array"),
    }
    match version {
        Some(version) if c.issues.is_empty() => Ok(ValidDefinition {
            id: id.to_owned(),
            version,
            questions: known.len(),
        }),
        _ => Err(c.issues),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::sim::DEFAULT_QUESTIONNAIRE;
    use serde_json::json;

    fn paths(text: &str) -> Vec<String> {
        validate_definition(text)
            .unwrap_err()
            .into_iter()
            .map(|i| i.path)
            .collect()
    }

    fn minimal() -> Value {
        json!({
            "formatVersion": 1, "id": "q", "version": 7,
            "title": {"fr": "Titre", "en": "Title"},
            "questions": [
                {"id": "sleeps", "type": "single", "required": true,
                 "label": {"fr": "Où ?", "en": "Where?"},
                 "options": [{"code": "street", "label": {"fr": "Rue", "en": "Street"}},
                             {"code": "car", "label": {"fr": "Voiture", "en": "Car"}}]},
                {"id": "since", "type": "integer", "required": false, "min": 0, "max": 90,
                 "label": {"fr": "Depuis ?", "en": "Since?"},
                 "showIf": {"question": "sleeps", "equals": "street"}}
            ]
        })
    }

    #[test]
    fn the_default_questionnaire_is_valid() {
        let valid = validate_definition(DEFAULT_QUESTIONNAIRE).unwrap();
        assert_eq!(valid.id, "nds-paris");
        assert_eq!(valid.version, 2026);
        assert!(valid.questions > 5);
    }

    #[test]
    fn a_minimal_definition_is_valid() {
        let valid = validate_definition(&minimal().to_string()).unwrap();
        assert_eq!((valid.version, valid.questions), (7, 2));
    }

    #[test]
    fn every_problem_is_located() {
        let mut d = minimal();
        d["showif"] = json!(true);
        d["questions"][0]["options"][1]["code"] = json!("street");
        d["questions"][1]["showIf"] = json!({"question": "sleeps", "equals": "boat"});
        d["questions"][1]["min"] = json!(100);
        d["title"]["en"] = json!("");
        assert_eq!(
            paths(&d.to_string()),
            [
                "showif",
                "title.en",
                "questions[0].options[1].code",
                "questions[1].showIf.equals",
                "questions[1].min",
            ]
        );
    }

    #[test]
    fn forward_references_and_duplicate_ids_are_refused() {
        let mut d = minimal();
        d["questions"][0]["showIf"] = json!({"question": "since", "answered": true});
        d["questions"][1]["id"] = json!("sleeps");
        d["questions"][1]["showIf"] = json!({"any": []});
        assert_eq!(
            paths(&d.to_string()),
            [
                "questions[0].showIf.question",
                "questions[1].showIf.any",
                "questions[1].id"
            ]
        );
    }

    #[test]
    fn newer_format_not_json_and_bad_version_are_refused() {
        let mut d = minimal();
        d["formatVersion"] = json!(2);
        assert_eq!(paths(&d.to_string()), ["formatVersion"]);
        assert_eq!(paths("{\"formatVersion\": 1,"), [""]);
        let mut d = minimal();
        d["version"] = json!(0);
        assert_eq!(paths(&d.to_string()), ["version"]);
        d["version"] = json!(5_000_000_000u64);
        assert_eq!(paths(&d.to_string()), ["version"]);
    }
}
