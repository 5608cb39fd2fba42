//! OCDS output validated against the official 1.1.5 schemas (loaded locally) and
//! compared with Etalab's DECP→OCDS conversion pairs.

mod procurement_common;

use std::path::{Path, PathBuf};

use carnet_server::procurement::ocds::OcdsConfig;
use carnet_server::procurement::publish::{self, ContractFilter, Page};
use procurement_common::*;
use serde_json::Value;

/// Serves `https://standard.open-contracting.org/schema/1__1__5/<file>` from the local copy.
struct LocalSchemas(PathBuf);

impl jsonschema::Retrieve for LocalSchemas {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri
            .as_str()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let text = std::fs::read_to_string(self.0.join(&name))
            .map_err(|e| format!("{name}: {e} (no network in tests)"))?;
        Ok(serde_json::from_str(&text)?)
    }
}

fn validate(ocds_dir: &Path, schema_file: &str, doc: &Value) -> Vec<String> {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(ocds_dir.join(schema_file)).unwrap())
            .unwrap();
    let validator = jsonschema::options()
        .with_retriever(LocalSchemas(ocds_dir.to_path_buf()))
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn config() -> OcdsConfig {
    OcdsConfig {
        ocid_prefix: "ocds-78apv2".into(),
        publisher_name: "Ville de Paris".into(),
        base_url: None,
        published_date: "2026-01-01T00:00:00Z".into(),
    }
}

const ALL: Page = Page {
    page: 1,
    per_page: 1000,
};

fn packages_for(file: &str) -> Option<(PathBuf, Value, Value)> {
    let data = data_dir()?;
    let cpv = cpv(&data);
    let (_dir, mut conn) = fresh_db();
    import_file(&mut conn, &data.join("decp").join(file), &cpv);
    let cfg = config();
    let releases = publish::release_package(
        &conn,
        &cfg,
        "https://example.org/r",
        &ContractFilter::default(),
        ALL,
    )
    .unwrap();
    let records = publish::record_package(
        &conn,
        &cfg,
        "https://example.org/r",
        &ContractFilter::default(),
        ALL,
    )
    .unwrap();
    Some((data.join("ocds"), releases, records))
}

#[test]
fn paris_sample_release_and_record_packages_are_schema_valid() {
    let Some((ocds, releases, records)) = packages_for("decp_v1_paris_sample.json") else {
        return;
    };
    assert_eq!(releases["releases"].as_array().unwrap().len(), 209);
    assert_eq!(records["records"].as_array().unwrap().len(), 209);
    let errors = validate(&ocds, "release-package-schema.json", &releases);
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    let errors = validate(&ocds, "record-package-schema.json", &records);
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    if let Ok(out) = std::env::var("CARNET_OCDS_OUT") {
        std::fs::write(out, serde_json::to_string_pretty(&releases).unwrap()).unwrap();
    }
}

#[test]
fn modified_contracts_get_one_amendment_release_per_modification_in_id_order() {
    let Some((ocds, releases, records)) = packages_for("decp_v1_with_modifications_sample.json")
    else {
        return;
    };
    let errors = validate(&ocds, "release-package-schema.json", &releases);
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    let errors = validate(&ocds, "record-package-schema.json", &records);
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    let list = releases["releases"].as_array().unwrap();
    let amendments = list
        .iter()
        .filter(|r| r["tag"][0] == "contractAmendment")
        .count();
    assert!(amendments > 0);
    for record in records["records"].as_array().unwrap() {
        let rels = record["releases"].as_array().unwrap();
        assert_eq!(rels[0]["tag"], serde_json::json!(["award", "contract"]));
        let ids: Vec<&str> = rels.iter().map(|r| r["id"].as_str().unwrap()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "releases out of modification order");
        let compiled = &record["compiledRelease"];
        let n_amend = rels.len() - 1;
        let compiled_amend = compiled["contracts"][0]["amendments"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0);
        assert_eq!(compiled_amend, n_amend);
    }
}

/// Guards the validator itself: a release with a tag outside the closed codelist and a
/// non-numeric amount must be reported, otherwise "0 errors" above would mean nothing.
#[test]
fn schema_validation_rejects_a_broken_release() {
    let Some((ocds, mut releases, _)) = packages_for("decp_v1_paris_sample.json") else {
        return;
    };
    releases["releases"][0]["tag"] = serde_json::json!(["nonsense"]);
    releases["releases"][0]["awards"][0]["value"]["amount"] = serde_json::json!("12");
    let errors = validate(&ocds, "release-package-schema.json", &releases);
    assert!(errors.len() >= 2, "{errors:?}");
}
