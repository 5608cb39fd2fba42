//! DECP → OCDS 1.1.5. One `award`+`contract` release per contract, then one
//! `contractAmendment` release per modification in modification order (the
//! modification id, not its date: publishers back-date and re-publish). Records carry
//! every release and the compiled release (OCDS merge rules).
//!
//! Conventions shared with Etalab's converter (decp-rama), so identifiers stay stable
//! for reusers: `ocid = <prefix>-<buyer SIRET><contract id>` (the DECP `uid`), release ids
//! `<ocid>-00` then `<ocid>-<modification id, 2 digits>`, award `<ocid>-award-1`, contract
//! `<ocid>-contract-1`, item `<ocid>-item-1`, `durationInDays = ⌊months × 30.5⌋`.
//! Deliberate differences: one party per organisation (id `FR-RCS-<SIRET>`, roles merged)
//! instead of one per role; notified contracts are `active`, not `pending`; modified
//! contracts are published (Etalab's converter dropped them).

use serde_json::{Map, Value, json};

use super::model::{Contract, ContractKind, Modification, Party};
use super::quality::clean_date;

/// Publication settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcdsConfig {
    /// Registered ocid prefix, e.g. `ocds-78apv2`.
    pub ocid_prefix: String,
    pub publisher_name: String,
    /// Public base URL of the server; when set, packages link the local DECP extension.
    pub base_url: Option<String>,
    /// RFC 3339 time stamped on packages (passed in: this module reads no clock).
    pub published_date: String,
}

/// Official CPV code (with check digit) and French label, when known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpvInfo {
    pub code: Option<String>,
    pub label: Option<String>,
}

pub const LICENSE: &str = "https://www.etalab.gouv.fr/licence-ouverte-open-licence";
pub const EXTENSION_PATH: &str = "/ocds/extension/extension.json";

pub fn ocid(cfg: &OcdsConfig, c: &Contract) -> String {
    format!("{}-{}{}", cfg.ocid_prefix, c.buyer.id, c.id)
}

/// `YYYY-MM-DD[+hh:mm]` → RFC 3339 at midnight, keeping a published offset.
pub fn date_time(raw: Option<&str>) -> Option<String> {
    let raw = raw?;
    let day = clean_date(Some(raw))?;
    let rest = raw.get(10..).unwrap_or("");
    let offset = if rest.len() == 6
        && (rest.starts_with('+') || rest.starts_with('-'))
        && rest.as_bytes()[3] == b':'
    {
        rest.to_string()
    } else {
        "Z".to_string()
    };
    Some(format!("{day}T00:00:00{offset}"))
}

/// French procedure label → OCDS `procurementMethod` (closed codelist).
pub fn procurement_method(procedure: &str) -> Option<&'static str> {
    let p = fold(procedure);
    if p.contains("sans publicite") || p.contains("sans mise en concurrence") {
        Some("limited")
    } else if p.contains("restreint")
        || p.contains("negociation")
        || p.contains("negociee")
        || p.contains("dialogue")
        || p.contains("concours")
    {
        if p.contains("ouverte") {
            Some("open")
        } else {
            Some("selective")
        }
    } else if p.contains("ouvert") || p.contains("adaptee") {
        // MAPA: advertised below the EU thresholds; the label stays in the details.
        Some("open")
    } else {
        None
    }
}

fn fold(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| match c {
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'à' | 'â' => 'a',
            'î' | 'ï' => 'i',
            'ô' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            '’' => '\'',
            other => other,
        })
        .collect()
}

/// CPV division → `mainProcurementCategory`.
fn category(cpv: &str) -> Option<&'static str> {
    let division: u32 = cpv.get(..2)?.parse().ok()?;
    Some(match division {
        45 => "works",
        d if d < 45 || d == 48 => "goods",
        _ => "services",
    })
}

/// Identifier scheme: SIRET/SIREN are registered in the RCS/SIRENE (`FR-RCS`, as the
/// French publishers use); other DECP identifier types keep their name.
fn scheme(p: &Party) -> String {
    match p.scheme.to_uppercase().as_str() {
        "SIRET" | "SIREN" => "FR-RCS".to_string(),
        other => format!("DECP-{}", other.replace(' ', "-")),
    }
}

pub fn party_id(p: &Party) -> String {
    format!("{}-{}", scheme(p), p.id)
}

fn party_ref(p: &Party) -> Value {
    let mut v = json!({"id": party_id(p)});
    if let Some(name) = &p.name {
        v["name"] = json!(name);
    }
    v
}

fn parties(buyer: &Party, suppliers: &[Party]) -> Vec<Value> {
    let mut out: Vec<(Party, Vec<&str>)> = vec![(buyer.clone(), vec!["buyer"])];
    for s in suppliers {
        match out.iter_mut().find(|(p, _)| party_id(p) == party_id(s)) {
            Some((p, roles)) => {
                if !roles.contains(&"supplier") {
                    roles.push("supplier");
                }
                if p.name.is_none() {
                    p.name.clone_from(&s.name);
                }
            }
            None => out.push((s.clone(), vec!["supplier"])),
        }
    }
    out.into_iter()
        .map(|(p, roles)| {
            let mut identifier = json!({"scheme": scheme(&p), "id": p.id});
            let mut v = json!({"id": party_id(&p), "roles": roles});
            if let Some(name) = &p.name {
                identifier["legalName"] = json!(name);
                v["name"] = json!(name);
            }
            v["identifier"] = identifier;
            v
        })
        .collect()
}

fn unique_suppliers(list: &[Party]) -> Vec<Party> {
    let mut out: Vec<Party> = Vec::new();
    for s in list {
        if !out.iter().any(|o| party_id(o) == party_id(s)) {
            out.push(s.clone());
        }
    }
    out
}

/// Whole euros print as integers (`80000`, not `80000.0`), like the publishers' files.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

fn value(amount: f64) -> Value {
    json!({"amount": number(amount), "currency": "EUR"})
}

fn duration_days(months: i64) -> i64 {
    (months as f64 * 30.5).floor() as i64
}

/// DECP fields OCDS has no place for, under the local `decp` extension (see
/// `extension/README.md`).
fn decp_extension(c: &Contract) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    };
    put("uid", c.uid.clone().map(Value::from));
    if c.kind == ContractKind::Concession {
        put("typeContrat", Some(json!("contrat de concession")));
    }
    put("nature", c.nature.clone().map(Value::from));
    put("formePrix", c.price_form.clone().map(Value::from));
    put("dureeMois", c.duration_months.map(Value::from));
    put(
        "datePublicationDonnees",
        c.date_publication.clone().map(Value::from),
    );
    put("source", c.source.clone().map(Value::from));
    put("ccag", c.ccag.clone().map(Value::from));
    put("marcheInnovant", c.innovative.map(Value::from));
    put("idAccordCadre", c.framework_id.clone().map(Value::from));
    put(
        "sousTraitanceDeclaree",
        c.subcontracting_declared.map(Value::from),
    );
    put(
        "montantSubventionPublique",
        c.public_subsidy.map(Value::from),
    );
    let list = |v: &[String]| (!v.is_empty()).then(|| json!(v));
    put("techniques", list(&c.techniques));
    put("considerationsSociales", list(&c.social_considerations));
    put(
        "considerationsEnvironnementales",
        list(&c.environmental_considerations),
    );
    put("modalitesExecution", list(&c.execution_modes));
    if c.place_code.is_some() || c.place_name.is_some() {
        let mut place = Map::new();
        for (k, v) in [
            ("code", &c.place_code),
            ("typeCode", &c.place_type),
            ("nom", &c.place_name),
        ] {
            if let Some(v) = v {
                place.insert(k.to_string(), json!(v));
            }
        }
        m.insert("lieuExecution".to_string(), Value::Object(place));
    }
    Value::Object(m)
}

/// The first release: award and contract as notified.
pub fn award_release(cfg: &OcdsConfig, c: &Contract, cpv: &CpvInfo) -> Value {
    let ocid = ocid(cfg, c);
    let suppliers = unique_suppliers(&c.suppliers);
    let signed = c
        .date_notification
        .as_deref()
        .or(c.date_signature.as_deref());
    let date = date_time(c.date_publication.as_deref())
        .or_else(|| date_time(signed))
        .unwrap_or_else(|| cfg.published_date.clone());
    let description = c.object.clone();
    let mut item = json!({"id": format!("{ocid}-item-1")});
    if let Some(d) = &description {
        item["description"] = json!(d);
    }
    let cpv_code = cpv.code.clone().or_else(|| c.cpv.clone());
    if let Some(code) = &cpv_code {
        let mut classification = json!({"scheme": "CPV", "id": code});
        if let Some(label) = &cpv.label {
            classification["description"] = json!(label);
        }
        item["classification"] = classification;
    }
    let mut award = json!({
        "id": format!("{ocid}-award-1"),
        "status": "active",
        "suppliers": suppliers.iter().map(party_ref).collect::<Vec<_>>(),
        "items": [item.clone()],
    });
    let mut contract = json!({
        "id": format!("{ocid}-contract-1"),
        "awardID": format!("{ocid}-award-1"),
        "status": "active",
        "items": [item],
    });
    if let Some(d) = &description {
        award["description"] = json!(d);
        contract["description"] = json!(d);
    }
    if let Some(d) = date_time(signed) {
        award["date"] = json!(d);
        contract["dateSigned"] = json!(d);
    }
    if let Some(a) = c.amount {
        award["value"] = value(a);
        contract["value"] = value(a);
    }
    if let Some(months) = c.duration_months.filter(|m| *m >= 0) {
        let mut period = json!({"durationInDays": duration_days(months)});
        if let Some(start) = date_time(c.date_start.as_deref()) {
            period["startDate"] = json!(start);
        }
        award["contractPeriod"] = period.clone();
        contract["period"] = period;
    }
    contract["decp"] = decp_extension(c);
    let mut tender = json!({"id": format!("{ocid}-tender")});
    if let Some(p) = &c.procedure {
        if let Some(m) = procurement_method(p) {
            tender["procurementMethod"] = json!(m);
        }
        tender["procurementMethodDetails"] = json!(p);
    }
    if let Some(cat) = cpv_code.as_deref().and_then(category) {
        tender["mainProcurementCategory"] = json!(cat);
    }
    if let Some(n) = c.offers_received.filter(|n| *n >= 0) {
        tender["numberOfTenderers"] = json!(n);
    }
    json!({
        "ocid": ocid,
        "id": format!("{ocid}-00"),
        "date": date,
        "language": "fr",
        "tag": ["award", "contract"],
        "initiationType": "tender",
        "parties": parties(&c.buyer, &suppliers),
        "buyer": party_ref(&c.buyer),
        "tender": tender,
        "awards": [award],
        "contracts": [contract],
    })
}

/// A `contractAmendment` release for one modification.
pub fn amendment_release(cfg: &OcdsConfig, c: &Contract, m: &Modification) -> Value {
    let ocid = ocid(cfg, c);
    let suppliers = unique_suppliers(&m.suppliers);
    let date = date_time(m.date_publication.as_deref())
        .or_else(|| date_time(m.date_notification.as_deref()))
        .or_else(|| date_time(c.date_publication.as_deref()))
        .unwrap_or_else(|| cfg.published_date.clone());
    let mut amendment = json!({"id": format!("{ocid}-amendment-{}", m.seq), "date": date});
    if let Some(d) = &m.object {
        amendment["description"] = json!(d);
    }
    let mut contract = json!({
        "id": format!("{ocid}-contract-1"),
        "awardID": format!("{ocid}-award-1"),
        "amendments": [amendment],
    });
    if let Some(a) = m.amount {
        contract["value"] = value(a);
    }
    if let Some(months) = m.duration_months.filter(|m| *m >= 0) {
        contract["period"] = json!({"durationInDays": duration_days(months)});
    }
    let mut release = json!({
        "ocid": ocid,
        "id": format!("{ocid}-{:02}", m.seq),
        "date": date,
        "language": "fr",
        "tag": ["contractAmendment"],
        "initiationType": "tender",
        "parties": parties(&c.buyer, &suppliers),
        "buyer": party_ref(&c.buyer),
        "contracts": [contract],
    });
    if !suppliers.is_empty() {
        // New holders are an award change: OCDS puts suppliers on the award.
        release["awards"] = json!([{
            "id": format!("{ocid}-award-1"),
            "suppliers": suppliers.iter().map(party_ref).collect::<Vec<_>>(),
        }]);
    }
    release
}

/// All releases of a contract, in publication order.
pub fn releases(cfg: &OcdsConfig, c: &Contract, cpv: &CpvInfo) -> Vec<Value> {
    let mut out = vec![award_release(cfg, c, cpv)];
    let mut mods: Vec<&Modification> = c.modifications.iter().collect();
    mods.sort_by_key(|m| m.seq);
    out.extend(mods.into_iter().map(|m| amendment_release(cfg, c, m)));
    out
}

/// OCDS merge (1.1 rules, simplified to what these releases use): objects merge
/// recursively, arrays of objects with `id` merge by id, other values replace.
pub fn merge(target: &mut Value, update: &Value) {
    match (target, update) {
        (Value::Object(t), Value::Object(u)) => {
            for (k, v) in u {
                match t.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(t), Value::Array(u))
            if u.iter().all(|x| x.get("id").is_some())
                && t.iter().all(|x| x.get("id").is_some()) =>
        {
            for item in u {
                match t.iter_mut().find(|x| x.get("id") == item.get("id")) {
                    Some(existing) => merge(existing, item),
                    None => t.push(item.clone()),
                }
            }
        }
        (t, u) => *t = u.clone(),
    }
}

/// The compiled release of a contracting process.
pub fn compile(releases: &[Value]) -> Value {
    let mut compiled = Value::Object(Map::new());
    for r in releases {
        let mut r = r.clone();
        if let Some(obj) = r.as_object_mut() {
            obj.remove("tag");
            obj.remove("id");
        }
        merge(&mut compiled, &r);
    }
    let ocid = releases
        .first()
        .and_then(|r| r.get("ocid"))
        .cloned()
        .unwrap_or(Value::Null);
    if let Some(obj) = compiled.as_object_mut() {
        obj.insert("tag".into(), json!(["compiled"]));
        obj.insert(
            "id".into(),
            json!(format!("{}-compiled", ocid.as_str().unwrap_or(""))),
        );
    }
    compiled
}

pub fn record(releases: Vec<Value>) -> Value {
    let compiled = compile(&releases);
    let ocid = compiled.get("ocid").cloned().unwrap_or(Value::Null);
    json!({"ocid": ocid, "releases": releases, "compiledRelease": compiled})
}

fn package_head(cfg: &OcdsConfig, uri: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("uri".into(), json!(uri));
    m.insert("version".into(), json!("1.1"));
    m.insert("publishedDate".into(), json!(cfg.published_date));
    m.insert("publisher".into(), json!({"name": cfg.publisher_name}));
    m.insert("license".into(), json!(LICENSE));
    if let Some(base) = &cfg.base_url {
        m.insert(
            "extensions".into(),
            json!([format!("{}{}", base.trim_end_matches('/'), EXTENSION_PATH)]),
        );
    }
    m
}

pub fn release_package(cfg: &OcdsConfig, uri: &str, releases: Vec<Value>) -> Value {
    let mut m = package_head(cfg, uri);
    m.insert("releases".into(), Value::Array(releases));
    Value::Object(m)
}

pub fn record_package(cfg: &OcdsConfig, uri: &str, records: Vec<Value>) -> Value {
    let mut m = package_head(cfg, uri);
    m.insert("records".into(), Value::Array(records));
    Value::Object(m)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn procedure_labels_map_to_the_closed_codelist() {
        assert_eq!(procurement_method("Appel d'offres ouvert"), Some("open"));
        assert_eq!(
            procurement_method("Appel d'offres restreint"),
            Some("selective")
        );
        assert_eq!(procurement_method("Procédure adaptée"), Some("open"));
        assert_eq!(
            procurement_method("Marché négocié sans publicité ni mise en concurrence préalable"),
            Some("limited")
        );
        assert_eq!(
            procurement_method("Procédure négociée ouverte"),
            Some("open")
        );
        assert_eq!(
            procurement_method("Procédure concurrentielle avec négociation"),
            Some("selective")
        );
        assert_eq!(procurement_method("Dialogue compétitif"), Some("selective"));
        assert_eq!(procurement_method("xyz"), None);
    }

    #[test]
    fn dates_keep_published_offsets() {
        assert_eq!(
            date_time(Some("2019-04-25+02:00")).as_deref(),
            Some("2019-04-25T00:00:00+02:00")
        );
        assert_eq!(
            date_time(Some("2018-12-03")).as_deref(),
            Some("2018-12-03T00:00:00Z")
        );
        assert_eq!(date_time(Some("0218-12-03")), None);
    }

    #[test]
    fn merge_by_id_accumulates_amendments() {
        let mut a =
            json!({"contracts":[{"id":"c","value":{"amount":1},"amendments":[{"id":"1"}]}]});
        merge(
            &mut a,
            &json!({"contracts":[{"id":"c","value":{"amount":2},"amendments":[{"id":"2"}]}]}),
        );
        assert_eq!(a["contracts"][0]["value"]["amount"], 2);
        assert_eq!(
            a["contracts"][0]["amendments"].as_array().map(Vec::len),
            Some(2)
        );
    }
}
