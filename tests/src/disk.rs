//! What an auditor holding the disk would find: raw byte searches of a SQLite file and its
//! `-wal` and `-shm` companions (for erasure tests: a value deleted from a document must leave
//! the bytes, not only the current state).

use std::path::Path;

/// The raw bytes of the database file and of its `-wal` and `-shm` files (absent = empty).
pub fn file_bytes(db: &Path) -> Vec<(String, Vec<u8>)> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| {
            let path = format!("{}{suffix}", db.display());
            let bytes = std::fs::read(&path).unwrap_or_default();
            (path, bytes)
        })
        .collect()
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The markers found anywhere in the raw files of `db`.
pub fn markers_on_disk(db: &Path, markers: &[String]) -> Vec<String> {
    let files = file_bytes(db);
    markers
        .iter()
        .filter(|m| files.iter().any(|(_, b)| contains(b, m.as_bytes())))
        .cloned()
        .collect()
}

/// `marker` is somewhere in the raw files of `db`.
pub fn on_disk(db: &Path, marker: &str) -> bool {
    !markers_on_disk(db, &[marker.to_owned()]).is_empty()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_marker_in_the_wal_and_not_an_absent_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.sqlite3");
        std::fs::write(&db, b"header").unwrap();
        std::fs::write(dir.path().join("x.sqlite3-wal"), b"..marker-1..").unwrap();
        assert!(on_disk(&db, "marker-1"));
        assert!(!on_disk(&db, "marker-2"));
        assert!(!contains(b"abc", b""), "an empty marker is never found");
    }
}
