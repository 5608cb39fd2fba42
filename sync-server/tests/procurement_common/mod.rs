//! Shared helpers for the procurement tests: locating `<repo>/../shared/data`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report
#![allow(dead_code)]

use std::path::PathBuf;

use carnet_server::procurement::db;
use carnet_server::procurement::import::{ImportReport, import_reader};
use carnet_server::procurement::quality::CpvList;

/// `<repo>/../shared/data`. Panics when absent: a test that skipped silently would pass
/// without checking anything (CI always has `../shared` beside the checkout).
pub fn data_dir() -> PathBuf {
    find_data_dir().unwrap_or_else(|| {
        panic!(
            "shared data absent beside {}: the procurement tests need ../shared/data",
            env!("CARGO_MANIFEST_DIR")
        )
    })
}

fn find_data_dir() -> Option<PathBuf> {
    // The repository root is the crate's parent; `shared/` sits beside the checkout
    // (for a worktree under `wt/<name>`, one level further up).
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let repo = manifest.parent()?.to_path_buf();
    for base in repo.ancestors().skip(1).take(2) {
        let dir = base.join("shared/data");
        if dir.join("decp").is_dir() {
            return Some(dir);
        }
    }
    None
}

pub fn cpv(data: &std::path::Path) -> CpvList {
    CpvList::load(&data.join("decp/cpv_2008_fr.csv")).unwrap()
}

pub fn fresh_db() -> (tempfile::TempDir, rusqlite::Connection) {
    let dir = tempfile::tempdir().unwrap();
    let conn = db::open(&dir.path().join("carnet.sqlite3")).unwrap();
    (dir, conn)
}

pub fn import_file(
    conn: &mut rusqlite::Connection,
    path: &std::path::Path,
    cpv: &CpvList,
) -> ImportReport {
    let file = std::fs::File::open(path).unwrap();
    import_reader(
        conn,
        file,
        cpv,
        &path.display().to_string(),
        "2026-01-01T00:00:00Z",
    )
    .unwrap()
}
