//! The normalised contract both DECP formats and both syntaxes map to, and the
//! tolerant field readers that absorb the shapes met in the wild (wrapped lists,
//! lists of lists, flat `"acheteur.id"` keys, numbers as strings, `"NC"`).

use serde_json::Value;

use super::source::{ListHint, RawRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractKind {
    Marche,
    Concession,
}

impl ContractKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ContractKind::Marche => "marche",
            ContractKind::Concession => "concession",
        }
    }
}

/// An organisation as DECP identifies it (`typeIdentifiant` defaults to SIRET).
#[derive(Debug, Clone, PartialEq)]
pub struct Party {
    pub scheme: String,
    pub id: String,
    pub name: Option<String>,
    /// The published id contained spaces (removed in `id`); reported as a finding.
    pub had_spaces: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Modification {
    /// `id` of the modification (2022) or its 1-based position (2019).
    pub seq: i64,
    pub object: Option<String>,
    pub date_notification: Option<String>,
    pub date_publication: Option<String>,
    pub date_signature: Option<String>,
    pub duration_months: Option<i64>,
    pub amount: Option<f64>,
    pub suppliers: Vec<Party>,
    pub raw: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Contract {
    pub kind: ContractKind,
    pub format: &'static str,
    pub id: String,
    pub uid: Option<String>,
    pub buyer: Party,
    pub nature: Option<String>,
    pub object: Option<String>,
    pub cpv: Option<String>,
    pub procedure: Option<String>,
    pub place_code: Option<String>,
    pub place_type: Option<String>,
    pub place_name: Option<String>,
    pub duration_months: Option<i64>,
    /// Raw date strings as published; quality checks parse them.
    pub date_notification: Option<String>,
    pub date_publication: Option<String>,
    pub date_signature: Option<String>,
    pub date_start: Option<String>,
    pub amount: Option<f64>,
    /// The amount was published as a string (kept as a finding).
    pub amount_was_text: bool,
    pub price_form: Option<String>,
    pub suppliers: Vec<Party>,
    pub modifications: Vec<Modification>,
    pub offers_received: Option<i64>,
    pub framework_id: Option<String>,
    pub techniques: Vec<String>,
    pub social_considerations: Vec<String>,
    pub environmental_considerations: Vec<String>,
    pub execution_modes: Vec<String>,
    pub subcontracting_declared: Option<bool>,
    pub innovative: Option<bool>,
    pub ccag: Option<String>,
    pub public_subsidy: Option<f64>,
    pub source: Option<String>,
    pub raw: Value,
}

/// Why a record cannot be stored at all (everything else is imported with findings).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("l'enregistrement n'est pas un objet JSON")]
    NotAnObject,
    #[error("identifiant du marché absent")]
    MissingId,
    #[error("identifiant de l'acheteur absent")]
    MissingBuyer,
}

/// Text of a scalar: strings trimmed, numbers rendered; `"NC"`, empty and null are absent.
pub fn text(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        // A single-element list where a scalar was expected (naive conversions).
        Value::Array(items) if items.len() == 1 => return text(items.first()),
        _ => return None,
    };
    if s.is_empty() || s.eq_ignore_ascii_case("NC") || s.eq_ignore_ascii_case("null") {
        None
    } else {
        Some(s)
    }
}

/// A number, accepting strings with French decimal commas and spaces.
pub fn number(v: Option<&Value>) -> (Option<f64>, bool) {
    match v {
        Some(Value::Number(n)) => (n.as_f64().filter(|f| f.is_finite()), false),
        Some(Value::String(_)) => {
            let Some(s) = text(v) else {
                return (None, false);
            };
            let cleaned: String = s
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '\u{a0}' && *c != '€')
                .map(|c| if c == ',' { '.' } else { c })
                .collect();
            (cleaned.parse::<f64>().ok().filter(|f| f.is_finite()), true)
        }
        _ => (None, false),
    }
}

fn integer(v: Option<&Value>) -> Option<i64> {
    let (n, _) = number(v);
    // Durations and counts are whole numbers; anything else is noise.
    n.filter(|f| f.fract() == 0.0 && f.abs() < 1e12)
        .map(|f| f as i64)
}

fn boolean(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        other => match text(Some(other))?.to_lowercase().as_str() {
            "oui" | "true" | "1" => Some(true),
            "non" | "false" | "0" => Some(false),
            _ => None,
        },
    }
}

/// Items of a possibly wrapped list: `[obj]`, `[{inner: obj}]`, `{inner: obj|[obj]}`,
/// `[[obj]]`, or a bare object.
pub fn items<'a>(v: Option<&'a Value>, inner: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    fn walk<'a>(v: &'a Value, inner: &str, out: &mut Vec<&'a Value>) {
        match v {
            Value::Array(list) => list.iter().for_each(|x| walk(x, inner, out)),
            Value::Object(map) => match map.get(inner) {
                Some(wrapped) if map.len() == 1 => walk(wrapped, inner, out),
                _ => out.push(v),
            },
            Value::String(_) | Value::Number(_) => out.push(v),
            _ => {}
        }
    }
    if let Some(v) = v {
        walk(v, inner, &mut out);
    }
    out
}

fn strings(v: Option<&Value>, inner: &str) -> Vec<String> {
    items(v, inner)
        .into_iter()
        .filter_map(|x| text(Some(x)))
        .collect()
}

/// Reads a field that may be nested (`acheteur: {id}`) or flattened (`"acheteur.id"`).
fn nested<'a>(record: &'a Value, outer: &str, field: &str) -> Option<&'a Value> {
    record
        .get(outer)
        .and_then(|o| o.get(field))
        .or_else(|| record.get(format!("{outer}.{field}")))
}

fn has_whitespace(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str)
        .is_some_and(|s| s.chars().any(char::is_whitespace))
}

fn party(v: &Value) -> Option<Party> {
    let raw_id = text(v.get("id")).or_else(|| text(Some(v)).filter(|_| !v.is_object()))?;
    let id: String = raw_id.chars().filter(|c| !c.is_whitespace()).collect();
    Some(Party {
        scheme: text(v.get("typeIdentifiant")).unwrap_or_else(|| "SIRET".to_string()),
        had_spaces: has_whitespace(v.get("id")),
        id,
        name: text(v.get("denominationSociale")).or_else(|| text(v.get("nom"))),
    })
}

fn parties(record: &Value, list: &str, inner: &str) -> Vec<Party> {
    items(record.get(list), inner)
        .into_iter()
        .filter_map(party)
        .collect()
}

pub fn normalise(raw: &RawRecord) -> Result<Contract, Rejection> {
    let r = &raw.value;
    if !r.is_object() {
        return Err(Rejection::NotAnObject);
    }
    let kind = match raw.hint {
        ListHint::Marche => ContractKind::Marche,
        ListHint::Concession => ContractKind::Concession,
        ListHint::Mixed => {
            let t = text(r.get("_type")).unwrap_or_default().to_lowercase();
            if t.contains("concession") || r.get("autoriteConcedante").is_some() {
                ContractKind::Concession
            } else {
                ContractKind::Marche
            }
        }
    };
    let id = text(r.get("id")).ok_or(Rejection::MissingId)?;
    let (buyer_key, supplier_list, supplier_inner) = match kind {
        ContractKind::Marche => ("acheteur", "titulaires", "titulaire"),
        ContractKind::Concession => ("autoriteConcedante", "concessionnaires", "concessionnaire"),
    };
    let buyer_id = text(nested(r, buyer_key, "id"))
        .or_else(|| text(nested(r, "acheteur", "id")))
        .ok_or(Rejection::MissingBuyer)?;
    let buyer_clean: String = buyer_id.chars().filter(|c| !c.is_whitespace()).collect();
    let buyer = Party {
        scheme: "SIRET".to_string(),
        had_spaces: has_whitespace(nested(r, buyer_key, "id")),
        id: buyer_clean,
        name: text(nested(r, buyer_key, "nom")),
    };
    let (amount, amount_was_text) = match kind {
        ContractKind::Marche => number(r.get("montant")),
        ContractKind::Concession => number(r.get("valeurGlobale")),
    };
    let mut modifications: Vec<Modification> = items(r.get("modifications"), "modification")
        .into_iter()
        .enumerate()
        .map(|(i, m)| Modification {
            seq: integer(m.get("id")).unwrap_or(i as i64 + 1),
            object: text(m.get("objetModification")),
            date_notification: text(m.get("dateNotificationModification")),
            date_publication: text(m.get("datePublicationDonneesModification")),
            date_signature: text(m.get("dateSignatureModification")),
            duration_months: integer(m.get("dureeMois")),
            amount: number(m.get("montant").or_else(|| m.get("valeurGlobale"))).0,
            suppliers: parties(m, supplier_list, supplier_inner),
            raw: m.clone(),
        })
        .collect();
    // OCDS wants amendments in modification order, not publication order.
    modifications.sort_by_key(|m| m.seq);
    modifications.dedup_by_key(|m| m.seq);
    Ok(Contract {
        kind,
        format: if raw.format_2022 { "2022" } else { "2019" },
        id,
        uid: text(r.get("uid")),
        buyer,
        nature: text(r.get("nature")),
        object: text(r.get("objet")),
        cpv: text(r.get("codeCPV")),
        procedure: text(r.get("procedure")),
        place_code: text(nested(r, "lieuExecution", "code")),
        place_type: text(nested(r, "lieuExecution", "typeCode")),
        place_name: text(nested(r, "lieuExecution", "nom")),
        duration_months: integer(r.get("dureeMois")),
        date_notification: text(r.get("dateNotification")),
        date_publication: text(r.get("datePublicationDonnees")),
        date_signature: text(r.get("dateSignature")),
        date_start: text(r.get("dateDebutExecution")),
        amount,
        amount_was_text,
        price_form: text(r.get("formePrix")),
        suppliers: parties(r, supplier_list, supplier_inner),
        modifications,
        offers_received: integer(r.get("offresRecues")),
        framework_id: text(r.get("idAccordCadre")),
        techniques: strings(r.get("techniques"), "technique"),
        social_considerations: strings(r.get("considerationsSociales"), "considerationSociale"),
        environmental_considerations: strings(
            r.get("considerationsEnvironnementales"),
            "considerationEnvironnementale",
        ),
        execution_modes: strings(r.get("modalitesExecution"), "modaliteExecution"),
        subcontracting_declared: boolean(r.get("sousTraitanceDeclaree")),
        innovative: boolean(r.get("marcheInnovant")),
        ccag: text(r.get("ccag")),
        public_subsidy: number(r.get("montantSubventionPublique")).0,
        source: text(r.get("source")),
        raw: r.clone(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> RawRecord {
        RawRecord {
            index: 0,
            hint: ListHint::Mixed,
            format_2022: false,
            value: v,
        }
    }

    #[test]
    fn wrapped_and_nested_supplier_lists_are_flattened() {
        let c = normalise(&rec(json!({"id":"1","acheteur.id":"21500222100012",
            "titulaires":[[{"id":"1"}],{"titulaire":{"id":"2"}}],"montant":"1 234,5","dureeMois":"NC"})))
        .unwrap();
        assert_eq!(c.buyer.id, "21500222100012");
        assert_eq!(c.suppliers.len(), 2);
        assert_eq!(c.amount, Some(1234.5));
        assert!(c.amount_was_text);
        assert_eq!(c.duration_months, None);
    }

    #[test]
    fn records_without_id_or_buyer_are_rejected() {
        assert_eq!(
            normalise(&rec(json!({"acheteur":{"id":"1"}}))),
            Err(Rejection::MissingId)
        );
        assert_eq!(
            normalise(&rec(json!({"id":"x"}))),
            Err(Rejection::MissingBuyer)
        );
        assert_eq!(normalise(&rec(json!([1]))), Err(Rejection::NotAnObject));
    }
}
