//! Import of every DECP file in the shared data: counts, quality findings, idempotence,
//! version replacement and failure handling.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod procurement_common;

use carnet_server::procurement::db;
use carnet_server::procurement::import::{ImportError, import_reader};
use carnet_server::procurement::quality::CpvList;
use procurement_common::*;
use rusqlite::Connection;

/// (file, read, rejected, duplicates). Expected values were computed independently with
/// Python's json module (records in the file; records without `id` or buyer id; repeated
/// buyer + id pairs) and by counting elements in the XML examples.
const EXPECTED: &[(&str, u64, u64, u64)] = &[
    (
        "decp_quirks_fixtures/bom_nan_ctrlchar_v1_derived.json.txt",
        1,
        0,
        0,
    ),
    (
        "decp_quirks_fixtures/decp-processing_decp_test_2019.json",
        2,
        0,
        0,
    ),
    (
        "decp_quirks_fixtures/decp-processing_decp_test_2022.json",
        5,
        0,
        0,
    ),
    (
        "decp_quirks_fixtures/structural_variants_v1_derived.json",
        8,
        0,
        0,
    ),
    ("decp_v1.5.0/json_cc-avec-modifications.json", 1, 0, 0),
    ("decp_v1.5.0/json_cc-basique-avec-uid.json", 1, 0, 0),
    ("decp_v1.5.0/json_cc-basique.json", 1, 0, 0),
    ("decp_v1.5.0/json_mar-avec-modifications.json", 1, 0, 0),
    ("decp_v1.5.0/json_mar-basique-avec-uid.json", 1, 0, 0),
    ("decp_v1.5.0/json_mar-basique.json", 1, 0, 0),
    ("decp_v1.5.0/json_paquet-avec-uid.json", 2, 0, 0),
    ("decp_v1.5.0/json_paquet-result.json", 2, 0, 0),
    ("decp_v1.5.0/json_paquet.json", 2, 0, 0),
    ("decp_v1.5.0/xml_cc-avec-modifications.xml", 1, 0, 0),
    ("decp_v1.5.0/xml_cc-basique-avec-uid.xml", 1, 0, 0),
    ("decp_v1.5.0/xml_cc-basique.xml", 1, 0, 0),
    ("decp_v1.5.0/xml_mar-avec-modifications.xml", 1, 0, 0),
    ("decp_v1.5.0/xml_mar-basique-avec-uid.xml", 1, 0, 0),
    ("decp_v1.5.0/xml_mar-basique.xml", 1, 0, 0),
    ("decp_v1.5.0/xml_paquet-avec-uid.xml", 4, 0, 0),
    ("decp_v1.5.0/xml_paquet.xml", 4, 0, 0),
    ("decp_v1_paris_sample.json", 209, 0, 0),
    ("decp_v1_with_modifications_sample.json", 120, 3, 16),
    // The official 2022 XML examples repeat the same id for their two records.
    ("decp_v2.0.3/Contrat-concession-modification.xml", 2, 0, 1),
    ("decp_v2.0.3/Contrat-concession.xml", 2, 0, 1),
    ("decp_v2.0.3/Marche.xml", 2, 0, 1),
    ("decp_v2.0.3/concessions.json", 2, 0, 0),
    ("decp_v2.0.3/concessions_avec_modifications.json", 2, 0, 0),
    ("decp_v2.0.3/marches_avec_modifications.json", 2, 0, 0),
    ("decp_v2.0.3/marches_concessions.json", 4, 0, 0),
    ("sources/aife_2019-04-04.json", 4530, 8, 258),
    ("sources/e-marchespublics_2019-04-04.json", 470, 0, 29),
    ("sources/pes_2019-02-01_merged.json", 233, 0, 0),
];

fn data_files(dir: &std::path::Path) -> Vec<String> {
    let mut out = vec![];
    for sub in [
        "",
        "decp_quirks_fixtures",
        "decp_v1.5.0",
        "decp_v2.0.3",
        "sources",
    ] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_file() && p.file_name().is_some_and(|n| n != "cpv_2008_fr.csv") {
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                out.push(if sub.is_empty() {
                    name
                } else {
                    format!("{sub}/{name}")
                });
            }
        }
    }
    out.sort();
    out
}

fn findings(conn: &Connection, buyer: &str, id: &str) -> Vec<(String, String, String)> {
    let mut stmt = conn
        .prepare(
            "SELECT f.code, f.field, f.detail FROM procurement_quality_findings f
             JOIN procurement_contracts c ON c.rowid = f.contract_rowid
             WHERE c.buyer_id = ?1 AND c.contract_id = ?2 ORDER BY 1, 2",
        )
        .unwrap();
    stmt.query_map([buyer, id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn count_code(conn: &Connection, code: &str) -> i64 {
    conn.query_row(
        "SELECT COUNT(*) FROM procurement_quality_findings WHERE code = ?1",
        [code],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn every_decp_file_is_read_to_the_end_and_accounted_for() {
    let data = data_dir();
    let cpv = cpv(&data);
    let decp = data.join("decp");
    let files = data_files(&decp);
    // Every file in the folder has an expectation: a new file must be looked at.
    let listed: Vec<String> = EXPECTED.iter().map(|e| e.0.to_string()).collect();
    assert_eq!(files, listed);
    for (file, read, rejected, duplicates) in EXPECTED {
        let (_dir, mut conn) = fresh_db();
        let r = import_file(&mut conn, &decp.join(file), &cpv);
        assert_eq!(r.imported() + r.rejected, r.read, "{file}");
        assert_eq!(
            (r.read, r.rejected, r.duplicates),
            (*read, *rejected, *duplicates),
            "{file}"
        );
        let stored: i64 = conn
            .query_row("SELECT COUNT(*) FROM procurement_contracts", [], |x| {
                x.get(0)
            })
            .unwrap();
        assert_eq!(stored as u64, read - rejected - duplicates, "{file}");
    }
}

#[test]
fn quality_findings_name_the_known_defects() {
    let data = data_dir();
    let cpv = cpv(&data);
    let (_dir, mut conn) = fresh_db();
    import_file(
        &mut conn,
        &data.join("decp/decp_v1_paris_sample.json"),
        &cpv,
    );
    // A supplier SIRET that fails the Luhn check (checked by hand in the file).
    let f = findings(&conn, "83455372900015", "2018ACrbVnZu2e00");
    assert!(
        f.contains(&(
            "siret_invalide".into(),
            "titulaires[1].id".into(),
            "55267020700037".into()
        )),
        "{f:?}"
    );
    // 13-digit SIRETs (lost leading zero) are invalid too.
    assert!(count_code(&conn, "siret_invalide") >= 9);
    // " 33530956300096 " is published with spaces around it.
    assert_eq!(count_code(&conn, "identifiant_avec_espaces"), 1);

    let (_dir, mut conn) = fresh_db();
    import_file(
        &mut conn,
        &data.join("decp/sources/aife_2019-04-04.json"),
        &cpv,
    );
    // 25 records carry 0 / 222222 / 999999 / 999999999 (counted with Python); a record
    // kept as a duplicate of another does not add a second finding row for the same key.
    let placeholders = count_code(&conn, "montant_fictif");
    assert!((20..=25).contains(&placeholders), "{placeholders}");
    assert!(count_code(&conn, "doublon_exact") + count_code(&conn, "doublon_identifiant") > 0);
    assert!(count_code(&conn, "cpv_inconnu") > 0);
    let rejected: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM procurement_rejections WHERE reason LIKE '%absent%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rejected, 8);
}

#[test]
fn quirk_fixtures_are_repaired_and_reported() {
    let data = data_dir();
    let cpv = cpv(&data);
    let (_dir, mut conn) = fresh_db();
    let r = import_file(
        &mut conn,
        &data.join("decp/decp_quirks_fixtures/bom_nan_ctrlchar_v1_derived.json.txt"),
        &cpv,
    );
    assert!(r.repairs.bom);
    assert_eq!(
        (r.repairs.non_finite_numbers, r.repairs.control_characters),
        (1, 1)
    );
    let f = findings(&conn, "11000001500013", "2018DyuttvrWnn00");
    assert!(f.iter().any(|x| x.0 == "montant_absent"), "{f:?}");
    assert!(f.iter().any(|x| x.0 == "texte_mal_encode"), "{f:?}");

    let (_dir, mut conn) = fresh_db();
    import_file(
        &mut conn,
        &data.join("decp/decp_quirks_fixtures/decp-processing_decp_test_2019.json"),
        &cpv,
    );
    // Flat "acheteur.id" key and titulaires as a list of lists.
    let (duration, suppliers): (Option<i64>, i64) = conn
        .query_row(
            "SELECT duration_months, (SELECT COUNT(*) FROM procurement_contract_suppliers s WHERE s.contract_rowid = c.rowid)
             FROM procurement_contracts c WHERE buyer_id = '21500222100012' AND contract_id = '2019_83935401'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((duration, suppliers), (Some(11), 1));
    let mods: String = conn
        .query_row(
            "SELECT m.suppliers_json FROM procurement_modifications m JOIN procurement_contracts c ON c.rowid = m.contract_rowid
             WHERE c.contract_id = '2019_83935401'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(mods.contains("12345678900022"), "{mods}");
    // "NC" duration is absent, not zero.
    let nc: Option<i64> = conn
        .query_row("SELECT duration_months FROM procurement_contracts WHERE contract_id = '2019-VI2022.242'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(nc, None);
}

#[test]
fn importing_the_same_files_twice_changes_nothing() {
    let data = data_dir();
    let cpv = cpv(&data);
    let (_dir, mut conn) = fresh_db();
    let files = [
        "decp/decp_v1_paris_sample.json",
        "decp/decp_v1_with_modifications_sample.json",
        "decp/decp_v2.0.3/Marche.xml",
    ];
    for f in files {
        import_file(&mut conn, &data.join(f), &cpv);
    }
    let before = db::table_counts(&conn).unwrap();
    for f in files {
        let r = import_file(&mut conn, &data.join(f), &cpv);
        assert_eq!((r.inserted, r.updated), (0, 0), "{f}");
        assert_eq!(r.unchanged + r.duplicates + r.rejected, r.read, "{f}");
    }
    assert_eq!(db::table_counts(&conn).unwrap(), before);
}

#[test]
fn a_newer_version_of_a_record_replaces_the_older() {
    let (_dir, mut conn) = fresh_db();
    let cpv = CpvList::default();
    let v1 = r#"{"marches":[{"id":"A1","acheteur":{"id":"21750001600019"},"montant":100,"titulaires":[{"id":"73282932000074"}],"modifications":[]}]}"#;
    let v2 = r#"{"marches":[{"id":"A1","acheteur":{"id":"21750001600019"},"montant":100,"titulaires":[{"id":"73282932000074"}],
        "modifications":[{"objetModification":"avenant","montant":150,"datePublicationDonneesModification":"2020-01-02"}]}]}"#;
    let r = import_reader(&mut conn, v1.as_bytes(), &cpv, "v1", "t").unwrap();
    assert_eq!(r.inserted, 1);
    let r = import_reader(&mut conn, v2.as_bytes(), &cpv, "v2", "t").unwrap();
    assert_eq!(r.updated, 1);
    // Re-importing the old file does not roll the contract back.
    let r = import_reader(&mut conn, v1.as_bytes(), &cpv, "v1", "t").unwrap();
    assert_eq!((r.updated, r.unchanged), (0, 1));
    let (amount_final, mods): (f64, i64) = conn
        .query_row(
            "SELECT amount_final, modification_count FROM procurement_contracts",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((amount_final, mods), (150.0, 1));
}

#[test]
fn a_file_broken_midway_keeps_committed_batches_and_says_where_it_stopped() {
    let (_dir, mut conn) = fresh_db();
    let cpv = CpvList::default();
    let n = carnet_server::procurement::import::BATCH_SIZE + 10;
    let mut json = String::from("{\"marches\":[");
    for i in 0..n {
        json.push_str(&format!(
            "{{\"id\":\"{i}\",\"acheteur\":{{\"id\":\"21750001600019\"}},\"montant\":1000}},"
        ));
    }
    json.push_str("{\"id\": tru");
    let err = import_reader(&mut conn, json.as_bytes(), &cpv, "broken", "t").unwrap_err();
    let ImportError::Stopped {
        committed, report, ..
    } = err
    else {
        panic!("{err}")
    };
    let batch = carnet_server::procurement::import::BATCH_SIZE as u64;
    assert_eq!(committed, batch);
    assert_eq!(report.read, batch);
    let stored: i64 = conn
        .query_row("SELECT COUNT(*) FROM procurement_contracts", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored as u64, batch);
    let status: String = conn
        .query_row(
            "SELECT status FROM procurement_import_runs WHERE source = 'broken'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "failed");
}
