//! Stamps of the procurement views' code, so that data derived and stored by one build (red
//! flags, summary tables, rendered pages) is not served by a build that would derive it
//! differently: `CARNET_VIEWS_PAGES_STAMP` covers everything under `src/procurement/views/`
//! (templates included), `CARNET_VIEWS_DERIVED_STAMP` the files the stored aggregates come
//! from. See `src/procurement/views/schema.rs`.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

const VIEWS: &str = "src/procurement/views";
/// The aggregates' sources (the rest of the directory only renders them).
const DERIVED: &[&str] = &[
    "cpv_divisions.rs",
    "filter.rs",
    "redflags.rs",
    "schema.rs",
    "stats.rs",
    "summary.rs",
    "supplier_keys.rs",
    "thresholds.rs",
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// SHA-256 of the files' names and contents (not `DefaultHasher`, whose output may change
/// with the Rust release: a toolchain bump alone would mark every stored page stale and cost
/// a full refresh, minutes at 1M contracts). Sixteen hex digits are plenty.
fn stamp(paths: &[PathBuf]) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    for path in paths {
        let name = path.to_string_lossy();
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        let bytes = std::fs::read(path)?;
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    let digest = hasher.finalize();
    Ok(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
}

fn main() -> std::io::Result<()> {
    println!("cargo::rerun-if-changed={VIEWS}");
    let mut all = Vec::new();
    files(Path::new(VIEWS), &mut all)?;
    all.sort();
    let derived: Vec<PathBuf> = DERIVED.iter().map(|f| Path::new(VIEWS).join(f)).collect();
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!(
        "cargo::rustc-env=CARNET_VIEWS_PAGES_STAMP={version}+{}",
        stamp(&all)?
    );
    println!(
        "cargo::rustc-env=CARNET_VIEWS_DERIVED_STAMP={version}+{}",
        stamp(&derived)?
    );
    Ok(())
}
