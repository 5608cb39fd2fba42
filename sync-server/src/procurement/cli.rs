//! `carnet-server import-decp`: the command-line entry the binary wires in.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

use indicatif::ProgressBar;

use super::db;
use super::download::{self, DownloadError};
use super::import::{Commit, ImportError, ImportOptions, ImportReport, import_reader_with};
use super::quality::{CpvError, CpvList};

/// Import a DECP file (2019 or 2022/2024 format, JSON or XML) into the server's procurement
/// database.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// Path or http(s) URL of a DECP file (JSON or XML, detected from its content).
    #[arg(value_name = "FILE|URL")]
    pub source: String,
    /// SQLite database of the server (the same `--db` as `serve`); the procurement data goes
    /// to its own file beside it (`carnet.sqlite3` → `carnet.procurement.sqlite3`).
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
    #[error(transparent)]
    Download(#[from] DownloadError),
    #[error(transparent)]
    Cpv(#[from] CpvError),
    #[error("base de données : {0}")]
    Db(#[from] rusqlite::Error),
    #[error(transparent)]
    Database(#[from] db::DbError),
    #[error(transparent)]
    Import(#[from] ImportError),
}

/// `PRAGMA cache_size` of the import connection, in KiB (negative = KiB for SQLite).
const IMPORT_CACHE_KIB: i64 = -131_072;

/// How long the importer waits for the write lock: a server refreshing the views after a
/// failed import holds it for minutes at 1M contracts; the import waits for it instead of
/// failing on its first batch.
const IMPORT_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// Runs an import and prints the summary (French, for the operator). `clock` gives the
/// current time (RFC 3339): the run's start, each batch's heartbeat, its end.
///
/// A file is imported one batch per transaction (a file broken mid-way keeps what was
/// read before the break, and says so). A URL is first downloaded whole to a temporary
/// file and then imported in one transaction: a broken download imports nothing.
/// Gzip-compressed content (file or download) is recognised by its magic bytes.
pub fn run_import(args: &ImportArgs, clock: &dyn Fn() -> String) -> Result<ImportReport, CliError> {
    let cpv = match &args.cpv {
        Some(path) => CpvList::load(path)?,
        None => CpvList::default(),
    };
    // Opened (and migrated) first: a wrong --db fails before a long download.
    let mut conn = db::open(&db::path_for(&args.db))?;
    // 128 MiB of page cache for this connection (default 2 MiB): the contracts table's
    // indexes outgrow the default past ~50k contracts and every insert then re-reads pages
    // (docs/benchmarks-procurement.md).
    conn.pragma_update(None, "cache_size", IMPORT_CACHE_KIB)?;
    conn.busy_timeout(IMPORT_BUSY_TIMEOUT)?;
    // The views' tables too: the run's end step refreshes them.
    super::views::schema::migrate(&mut conn).map_err(db::DbError::from)?;
    // Kept alive until the import ends: dropping it deletes the downloaded file.
    let mut downloaded = None;
    let (file, commit) = if is_url(&args.source) {
        // indicatif hides itself when stderr is not a terminal.
        let bar = ProgressBar::no_length();
        let tmp = download::to_temp_file(&args.source, &bar);
        bar.finish_and_clear();
        let tmp = tmp?;
        let file = tmp.reopen().map_err(CliError::Open)?;
        downloaded = Some(tmp);
        (file, Commit::AllOrNothing)
    } else {
        (
            File::open(&args.source).map_err(CliError::Open)?,
            Commit::PerBatch,
        )
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(len);
    bar.set_style(download::bar_style(true));
    let input = decompressed(BufReader::new(bar.wrap_read(file))).map_err(CliError::Open)?;
    // The views' red flags and summary tables are derived from the whole table: computed
    // here, once, in the transaction that marks the run done (38 s at 100k contracts, ~6 min
    // at 1M, see docs/benchmarks-procurement.md), rather than by a visitor. Until that
    // commits, the server serves the previous derived data with a notice and never refreshes
    // itself. Failing here loses nothing: the run is still done, the derived data stays
    // stale and the next request refreshes it.
    let refresh_time = std::cell::Cell::new(None);
    let refresh = |conn: &rusqlite::Connection,
                   report: &ImportReport|
     -> Result<(), super::import::FinishError> {
        // The reading is over: said now, before the refresh's minutes (the benchmark
        // scripts also take the import step's CPU time at this line).
        println!("{}", summary(report));
        let started = std::time::Instant::now();
        super::views::schema::refresh_within(conn)?;
        refresh_time.set(Some(started.elapsed()));
        Ok(())
    };
    let result = import_reader_with(
        &mut conn,
        input,
        &cpv,
        &args.source,
        ImportOptions {
            commit,
            clock,
            on_done: Some(&refresh),
        },
    );
    bar.finish_and_clear();
    drop(downloaded);
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
        // Only the views' refresh failed: every record is imported and the run is done (an
        // error exit would have a scheduler run the whole import again). The next request
        // refreshes the views.
        Err(ImportError::Finish { source, report }) => {
            // (The summary line was printed when the reading ended.)
            eprintln!(
                "attention : import terminé, mais les vues n'ont pas été recalculées ({source}) ; \
                 la prochaine requête les recalculera"
            );
            *report
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(took) = refresh_time.get() {
        println!(
            "vues : alertes et tableaux de synthèse recalculés en {:.1} s",
            took.as_secs_f64()
        );
    }
    Ok(report)
}

/// The content itself, inflated when it starts with the gzip magic bytes.
fn decompressed<R: BufRead + 'static>(mut input: R) -> std::io::Result<Box<dyn Read>> {
    Ok(if input.fill_buf()?.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(input))
    } else {
        Box::new(input)
    })
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
