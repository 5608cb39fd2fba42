//! The DECP importer: streams records from JSON or XML, normalises and checks each,
//! and stores them in batches, one transaction per batch. Every record read ends in
//! exactly one bucket of [`ImportReport`].

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use rusqlite::{Connection, TransactionBehavior, params};

use super::db::{self, Stored};
use super::model::{self, Contract};
use super::quality::{self, CpvList, Finding};
use super::sanitize::Repairs;
use super::source::{self, RawRecord, SourceError};

/// Records per transaction: big enough to amortise fsyncs, small enough that a failure
/// loses little.
pub const BATCH_SIZE: usize = 500;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub run_id: i64,
    pub read: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Records whose buyer + id were already seen earlier in the same file.
    pub duplicates: u64,
    pub rejected: u64,
    pub repairs: RepairsSummary,
    /// Rejection reasons with their counts.
    pub rejection_reasons: Vec<(String, u64)>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RepairsSummary {
    pub bom: bool,
    pub non_finite_numbers: u64,
    pub control_characters: u64,
}

impl From<Repairs> for RepairsSummary {
    fn from(r: Repairs) -> Self {
        Self {
            bom: r.bom,
            non_finite_numbers: r.non_finite_numbers,
            control_characters: r.control_characters,
        }
    }
}

impl ImportReport {
    pub fn imported(&self) -> u64 {
        self.inserted + self.updated + self.unchanged + self.duplicates
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("base de données : {0}")]
    Db(#[from] rusqlite::Error),
    #[error("lecture : {0}")]
    Io(#[from] std::io::Error),
    /// The file could not be read to the end; batches before `committed` records are stored.
    #[error("import interrompu ({source}) ; {committed} enregistrements enregistrés avant l'arrêt")]
    Stopped {
        source: SourceError,
        committed: u64,
        report: Box<ImportReport>,
    },
    /// Every record is stored and the run is marked done, but the caller's end step
    /// ([`ImportOptions::on_done`]) failed and was rolled back.
    #[error("import terminé, mais l'étape finale a échoué : {source}")]
    Finish {
        source: Box<dyn std::error::Error + Send + Sync>,
        report: Box<ImportReport>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Json,
    Xml,
}

/// Looks at the first significant byte: DECP XML starts with `<`, JSON with `{`.
pub fn sniff<R: BufRead>(reader: &mut R) -> std::io::Result<Syntax> {
    let buf = reader.fill_buf()?;
    let first = buf
        .iter()
        .copied()
        .find(|b| ![0xEF, 0xBB, 0xBF, b' ', b'\n', b'\r', b'\t'].contains(b));
    Ok(if first == Some(b'<') {
        Syntax::Xml
    } else {
        Syntax::Json
    })
}

struct Importer<'c> {
    conn: &'c mut Connection,
    cpv: &'c CpvList,
    clock: &'c dyn Fn() -> String,
    run_id: i64,
    batch: Vec<RawRecord>,
    seen: HashMap<(String, String), String>,
    report: ImportReport,
    committed: u64,
}

impl Importer<'_> {
    fn push(&mut self, record: RawRecord) -> Result<(), String> {
        self.batch.push(record);
        if self.batch.len() >= BATCH_SIZE {
            self.flush().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn flush(&mut self) -> rusqlite::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        // Counts and the duplicate map only change once the batch is committed.
        let mut report = self.report.clone();
        let mut seen_now: Vec<((String, String), String)> = Vec::new();
        // A transaction of its own, or a savepoint in the all-or-nothing one.
        let tx = BatchTx::begin(self.conn)?;
        for raw in &batch {
            report.read += 1;
            let contract = match model::normalise(raw) {
                Ok(c) => c,
                Err(reason) => {
                    report.rejected += 1;
                    let reason = reason.to_string();
                    match report
                        .rejection_reasons
                        .iter_mut()
                        .find(|(r, _)| *r == reason)
                    {
                        Some((_, n)) => *n += 1,
                        None => report.rejection_reasons.push((reason.clone(), 1)),
                    }
                    tx.execute(
                        "INSERT OR REPLACE INTO procurement_rejections(run_id, record_index, reason, raw_json)
                         VALUES (?1, ?2, ?3, ?4)",
                        params![self.run_id, raw.index as i64, reason, raw.value.to_string()],
                    )?;
                    continue;
                }
            };
            let findings = quality::check(&contract, self.cpv);
            let key = (contract.buyer.id.clone(), contract.id.clone());
            let hash = db::content_hash(&contract.raw);
            let earlier = self
                .seen
                .get(&key)
                .or_else(|| seen_now.iter().find(|(k, _)| *k == key).map(|(_, h)| h))
                .cloned();
            let (stored, rowid) =
                db::store_contract(&tx, self.run_id, &contract, &findings, self.cpv)?;
            if let Some(earlier_hash) = earlier {
                report.duplicates += 1;
                let code = if earlier_hash == hash {
                    "doublon_exact"
                } else {
                    "doublon_identifiant"
                };
                db::add_finding(&tx, rowid, &duplicate_finding(code, &contract))?;
            } else {
                match stored {
                    Stored::Inserted => report.inserted += 1,
                    Stored::Updated => report.updated += 1,
                    Stored::Unchanged | Stored::Older => report.unchanged += 1,
                }
                seen_now.push((key, hash));
            }
        }
        // The heartbeat, with the batch: a run whose batches stop coming is dead (its views
        // notice then ends, see `views::live`). `running` again if the server had declared
        // it dead while it was only stalled.
        tx.prepare_cached(
            "UPDATE procurement_import_runs SET heartbeat_at = ?2, status = 'running', error = NULL
             WHERE id = ?1",
        )?
        .execute(params![self.run_id, (self.clock)()])?;
        tx.commit()?;
        self.seen.extend(seen_now);
        self.committed = report.read;
        self.report = report;
        Ok(())
    }
}

/// One batch's transaction. Its own one starts IMMEDIATE, taking the write lock before
/// its first read: a deferred one reads, then waits for the lock, and fails at once
/// (`SQLITE_BUSY_SNAPSHOT`, whatever the busy timeout) if the holder commits in the
/// meantime — measured: an import stopped after 1,000 records, "database is locked", when
/// a server refreshed its views (docs/benchmarks-procurement.md).
enum BatchTx<'c> {
    Own(rusqlite::Transaction<'c>),
    Nested(rusqlite::Savepoint<'c>),
}

impl<'c> BatchTx<'c> {
    fn begin(conn: &'c mut Connection) -> rusqlite::Result<Self> {
        Ok(if conn.is_autocommit() {
            BatchTx::Own(conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
        } else {
            BatchTx::Nested(conn.savepoint()?)
        })
    }

    fn commit(self) -> rusqlite::Result<()> {
        match self {
            BatchTx::Own(tx) => tx.commit(),
            BatchTx::Nested(sp) => sp.commit(),
        }
    }
}

impl std::ops::Deref for BatchTx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match self {
            BatchTx::Own(tx) => tx,
            BatchTx::Nested(sp) => sp,
        }
    }
}

fn duplicate_finding(code: &'static str, c: &Contract) -> Finding {
    Finding {
        code,
        field: "id".to_string(),
        detail: format!("{} / {}", c.buyer.id, c.id),
    }
}

/// When the records read are made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// One transaction per [`BATCH_SIZE`] records: a file that breaks mid-way keeps the
    /// batches before the break (reported as `committed`).
    PerBatch,
    /// One transaction for the whole document: an error anywhere imports nothing (the run
    /// log still records the failure). Used for downloads, whose end cannot always be told
    /// from a cut.
    AllOrNothing,
}

/// Error of an [`ImportOptions::on_done`] step.
pub type FinishError = Box<dyn std::error::Error + Send + Sync>;
/// An end step of [`ImportOptions::on_done`]: the connection in the run's last
/// transaction and the final report.
pub type FinishStep<'a> = &'a dyn Fn(&Connection, &ImportReport) -> Result<(), FinishError>;

/// How an import runs.
pub struct ImportOptions<'a> {
    pub commit: Commit,
    /// The current time, RFC 3339: the run's start, each batch's heartbeat, its end.
    pub clock: &'a dyn Fn() -> String,
    /// Runs in the transaction that marks a successful run `done` (in a savepoint: its
    /// failure is rolled back alone and reported as [`ImportError::Finish`]). The CLI
    /// refreshes the views' derived data there, so readers see the run end and the new
    /// derived data at once: while the run is `running` they serve the previous derived
    /// data with a notice (`views::live::basis`), never a half-made refresh, and never
    /// start one themselves.
    pub on_done: Option<FinishStep<'a>>,
}

/// Imports one DECP document, one transaction per batch. `source_label` names it in the
/// run log; `started_at` is passed in (RFC 3339) so this stays testable, and is also the
/// time recorded as heartbeat and end (use [`import_reader_with`] with a clock otherwise).
pub fn import_reader<R: Read>(
    conn: &mut Connection,
    reader: R,
    cpv: &CpvList,
    source_label: &str,
    started_at: &str,
) -> Result<ImportReport, ImportError> {
    let clock = || started_at.to_string();
    import_reader_with(
        conn,
        reader,
        cpv,
        source_label,
        ImportOptions {
            commit: Commit::PerBatch,
            clock: &clock,
            on_done: None,
        },
    )
}

/// [`import_reader`] with the commit policy, the clock and the end step chosen by the
/// caller.
pub fn import_reader_with<R: Read>(
    conn: &mut Connection,
    reader: R,
    cpv: &CpvList,
    source_label: &str,
    options: ImportOptions<'_>,
) -> Result<ImportReport, ImportError> {
    let ImportOptions {
        commit,
        clock,
        on_done,
    } = options;
    let mut reader = BufReader::with_capacity(256 * 1024, reader);
    let syntax = sniff(&mut reader)?;
    let started_at = clock();
    conn.execute(
        "INSERT INTO procurement_import_runs(source, started_at, heartbeat_at, status)
         VALUES (?1, ?2, ?2, 'running')",
        params![source_label, started_at],
    )?;
    let run_id = conn.last_insert_rowid();
    if commit == Commit::AllOrNothing {
        // IMMEDIATE, as each batch's own transaction (see `BatchTx`).
        conn.execute_batch("BEGIN IMMEDIATE")?;
    }
    let mut importer = Importer {
        conn,
        cpv,
        clock,
        run_id,
        batch: Vec::new(),
        seen: HashMap::new(),
        report: ImportReport {
            run_id,
            ..ImportReport::default()
        },
        committed: 0,
    };
    let mut sink = |r: RawRecord| importer.push(r);
    let result = match syntax {
        Syntax::Json => source::read_json(reader, &mut sink),
        Syntax::Xml => source::read_xml(reader, &mut sink),
    };
    let outcome = match result {
        Ok((_, repairs)) => match importer.flush() {
            Ok(()) => {
                importer.report.repairs = repairs.into();
                Ok(())
            }
            Err(e) => Err(SourceError::Sink(e.to_string())),
        },
        Err(e) => Err(e),
    };
    let conn = &*importer.conn;
    let report = importer.report.clone();
    match outcome {
        Ok(()) => {
            // All-or-nothing: the data, the run's end and `on_done` commit together.
            let finished = (|| {
                if commit == Commit::PerBatch {
                    conn.execute_batch("BEGIN IMMEDIATE")?;
                }
                record_end(conn, run_id, "done", &report, None, &clock())?;
                let step_failure = match on_done {
                    Some(step) => run_in_savepoint(conn, step, &report)?,
                    None => None,
                };
                conn.execute_batch("COMMIT")?;
                Ok::<_, rusqlite::Error>(step_failure)
            })();
            match finished {
                Ok(None) => Ok(report),
                Ok(Some(source)) => Err(ImportError::Finish {
                    source,
                    report: Box::new(report),
                }),
                Err(e) => {
                    if !conn.is_autocommit() {
                        let _ = conn.execute_batch("ROLLBACK");
                    }
                    // The run's end is written whatever happened: a run left `running` reads
                    // as an import still alive (the views' notice) until its heartbeat ages.
                    let message = format!("fin de l'import impossible : {e}");
                    if let Err(end) =
                        record_end(conn, run_id, "failed", &report, Some(&message), &clock())
                    {
                        tracing::error!(run_id, error = %end, "could not record the end of an import run");
                    }
                    Err(e.into())
                }
            }
        }
        Err(source) => {
            let mut committed = importer.committed;
            if commit == Commit::AllOrNothing {
                conn.execute_batch("ROLLBACK")?;
                committed = 0;
            }
            record_end(
                conn,
                run_id,
                "failed",
                &report,
                Some(&source.to_string()),
                &clock(),
            )?;
            Err(ImportError::Stopped {
                source,
                committed,
                report: Box::new(report),
            })
        }
    }
}

/// `step` in a savepoint of the open transaction: its failure is rolled back alone and
/// returned (Ok(Some)), so the rest of the transaction can still commit.
fn run_in_savepoint(
    conn: &Connection,
    step: FinishStep<'_>,
    report: &ImportReport,
) -> rusqlite::Result<Option<FinishError>> {
    conn.execute_batch("SAVEPOINT import_on_done")?;
    match step(conn, report) {
        Ok(()) => {
            conn.execute_batch("RELEASE import_on_done")?;
            Ok(None)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO import_on_done; RELEASE import_on_done")?;
            Ok(Some(e))
        }
    }
}

fn record_end(
    conn: &Connection,
    run_id: i64,
    status: &str,
    report: &ImportReport,
    error: Option<&str>,
    finished_at: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE procurement_import_runs SET status = ?2, read = ?3, inserted = ?4, updated = ?5,
            unchanged = ?6, duplicates = ?7, rejected = ?8, error = ?9, finished_at = ?10,
            heartbeat_at = ?10 WHERE id = ?1",
        params![
            run_id,
            status,
            report.read as i64,
            report.inserted as i64,
            report.updated as i64,
            report.unchanged as i64,
            report.duplicates as i64,
            report.rejected as i64,
            error,
            finished_at,
        ],
    )?;
    Ok(())
}
