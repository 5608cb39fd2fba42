//! The `import` command run as the binary will run it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod procurement_common;

use carnet_server::procurement::cli::{ImportArgs, run_import};
use procurement_common::*;

fn args(source: String, db: std::path::PathBuf, data: &std::path::Path) -> ImportArgs {
    ImportArgs {
        source,
        db,
        ocid_prefix: "ocds-test".into(),
        cpv: Some(data.join("decp/cpv_2008_fr.csv")),
    }
}

#[test]
fn import_command_counts_add_up_and_a_rerun_changes_nothing() {
    let data = data_dir();
    let path = data.join("decp/decp_v1_with_modifications_sample.json");
    let dir = tempfile::tempdir().unwrap();
    let a = args(
        path.display().to_string(),
        dir.path().join("a.sqlite3"),
        &data,
    );
    let first = run_import(&a, &|| "2026-01-01T00:00:00Z".to_string()).unwrap();
    assert_eq!((first.read, first.rejected, first.duplicates), (120, 3, 16));
    assert_eq!(first.imported() + first.rejected, first.read);
    let second = run_import(&a, &|| "2026-01-02T00:00:00Z".to_string()).unwrap();
    assert_eq!((second.inserted, second.updated), (0, 0));
}

#[test]
fn import_command_leaves_the_red_flags_up_to_date_for_the_views() {
    let data = data_dir();
    let path = data.join("decp/decp_v1_with_modifications_sample.json");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.sqlite3");
    run_import(
        &args(path.display().to_string(), db.clone(), &data),
        &|| "2026-01-01T00:00:00Z".to_string(),
    )
    .unwrap();
    // The server's file stays as it was: the data is in its procurement file.
    assert!(!db.exists());
    let conn = rusqlite::Connection::open(carnet_server::procurement::db::path_for(&db)).unwrap();
    assert!(
        carnet_server::procurement::views::schema::current(&conn)
            .unwrap()
            .is_some(),
        "the first view request would have to recompute the red flags"
    );
    let flags: i64 = conn
        .query_row("SELECT COUNT(*) FROM procurement_view_flags", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(flags > 0);
}
