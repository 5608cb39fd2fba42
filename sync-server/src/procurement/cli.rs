//! `carnet-server import-decp`: the command-line entry the binary wires in.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use super::db;
use super::import::{ImportError, ImportReport, import_reader};
use super::quality::{CpvError, CpvList};

/// Import a DECP file (2019 or 2022/2024 format, JSON or XML) into the server database.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// Path or http(s) URL of a DECP file (JSON or XML, detected from its content).
    #[arg(value_name = "FILE|URL")]
    pub source: String,
    /// SQLite database of the server.
    #[arg(long, env = "CARNET_DB", default_value = "carnet.sqlite3")]
    pub db: PathBuf,
    /// OCDS ocid prefix (registered with the OCDS helpdesk), used when publishing.
    #[arg(long, env = "CARNET_OCID_PREFIX", default_value = "ocds-carnet")]
    pub ocid_prefix: String,
    /// Official CPV 2008 list (`CODE,FR` CSV) to validate codes against.
    #[arg(long, env = "CARNET_CPV_CSV")]
    pub cpv: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("impossible d'ouvrir le fichier : {0}")]
    Open(std::io::Error),
    #[error(
        "import depuis une URL non disponible dans cette version : téléchargez le fichier puis importez-le"
    )]
    UrlUnsupported,
    #[error(transparent)]
    Cpv(#[from] CpvError),
    #[error("base de données : {0}")]
    Db(#[from] rusqlite::Error),
    #[error(transparent)]
    Import(#[from] ImportError),
}

/// Runs an import and prints the summary (French, for the operator). `now` is the
/// RFC 3339 start time recorded in the run log.
pub fn run_import(args: &ImportArgs, now: &str) -> Result<ImportReport, CliError> {
    let cpv = match &args.cpv {
        Some(path) => CpvList::load(path)?,
        None => CpvList::default(),
    };
    let (input, len): (Box<dyn Read>, u64) = if is_url(&args.source) {
        // URL import (reqwest, streaming body) is not built yet: say so rather than fail oddly.
        return Err(CliError::UrlUnsupported);
    } else {
        let file = File::open(&args.source).map_err(CliError::Open)?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(file), len)
    };
    // indicatif hides itself when stderr is not a terminal.
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
    {
        bar.set_style(style);
    }
    let mut conn = db::open(&args.db)?;
    let result = import_reader(&mut conn, bar.wrap_read(input), &cpv, &args.source, now);
    bar.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(ImportError::Stopped {
            source,
            committed,
            report,
        }) => {
            eprintln!("{}", summary(&report));
            return Err(CliError::Import(ImportError::Stopped {
                source,
                committed,
                report,
            }));
        }
        Err(e) => return Err(e.into()),
    };
    println!("{}", summary(&report));
    Ok(report)
}

fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// One-paragraph French summary: `importés + rejetés = lus` always holds.
pub fn summary(r: &ImportReport) -> String {
    let mut s = format!(
        "{} lus = {} importés ({} nouveaux, {} mis à jour, {} inchangés, {} doublons) + {} rejetés",
        r.read,
        r.imported(),
        r.inserted,
        r.updated,
        r.unchanged,
        r.duplicates,
        r.rejected
    );
    for (reason, n) in &r.rejection_reasons {
        s.push_str(&format!("\n  rejet : {reason} ({n})"));
    }
    if r.repairs.bom || r.repairs.non_finite_numbers > 0 || r.repairs.control_characters > 0 {
        s.push_str(&format!(
            "\n  réparations : BOM {}, NaN/Infinity {}, caractères de contrôle {}",
            if r.repairs.bom { "oui" } else { "non" },
            r.repairs.non_finite_numbers,
            r.repairs.control_characters
        ));
    }
    s
}
