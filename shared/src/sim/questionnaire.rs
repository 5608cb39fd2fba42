//! Just enough of the questionnaire format (ui/src/questionnaire/FORMAT.md) to answer the
//! default questionnaire plausibly: question ids, types, options, bounds and `showIf`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::Answer;

/// The default questionnaire of the Paris count, as published to teams.
pub const DEFAULT_QUESTIONNAIRE: &str = include_str!("../../questionnaire/default-2026.json");

#[derive(Debug, Clone, Deserialize)]
pub struct Definition {
    pub version: u32,
    pub questions: Vec<Question>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Question {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub options: Vec<QOption>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub show_if: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct QOption {
    pub code: String,
    #[serde(default)]
    pub exclusive: bool,
}

impl Definition {
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// Evaluates the `showIf` conditions the default questionnaire uses (and the combinators).
pub fn visible(condition: Option<&serde_json::Value>, answers: &BTreeMap<String, Answer>) -> bool {
    let Some(c) = condition else { return true };
    if let Some(all) = c.get("all").and_then(|v| v.as_array()) {
        return all.iter().all(|c| visible(Some(c), answers));
    }
    if let Some(any) = c.get("any").and_then(|v| v.as_array()) {
        return any.iter().any(|c| visible(Some(c), answers));
    }
    if let Some(not) = c.get("not") {
        return !visible(Some(not), answers);
    }
    let Some(q) = c.get("question").and_then(|v| v.as_str()) else {
        return false;
    };
    let answer = answers.get(q);
    if let Some(code) = c.get("equals").and_then(|v| v.as_str()) {
        return matches!(answer, Some(Answer::Choice(a)) if a == code);
    }
    if let Some(codes) = c.get("in").and_then(|v| v.as_array()) {
        return matches!(answer, Some(Answer::Choice(a)) if codes.iter().any(|c| c.as_str() == Some(a)));
    }
    if let Some(code) = c.get("includes").and_then(|v| v.as_str()) {
        return matches!(answer, Some(Answer::Choices(a)) if a.iter().any(|x| x == code));
    }
    if let Some(answered) = c.get("answered").and_then(|v| v.as_bool()) {
        return answer.is_some() == answered;
    }
    false
}
