//! The DECP importer: streams records from JSON or XML, normalises and checks each,
//! and stores them in batches, one transaction per batch. Every record read ends in
//! exactly one bucket of [`ImportReport`].

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use rusqlite::{Connection, params};

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
        // A savepoint: a transaction of its own, or nested in the all-or-nothing one.
        let tx = self.conn.savepoint()?;
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
        tx.commit()?;
        self.seen.extend(seen_now);
        self.committed = report.read;
        self.report = report;
        Ok(())
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

/// Imports one DECP document, one transaction per batch. `source_label` names it in the
/// run log; `started_at` is passed in (RFC 3339) so this stays testable.
pub fn import_reader<R: Read>(
    conn: &mut Connection,
    reader: R,
    cpv: &CpvList,
    source_label: &str,
    started_at: &str,
) -> Result<ImportReport, ImportError> {
    import_reader_with(
        conn,
        reader,
        cpv,
        source_label,
        started_at,
        Commit::PerBatch,
    )
}

/// [`import_reader`] with the commit policy chosen by the caller.
pub fn import_reader_with<R: Read>(
    conn: &mut Connection,
    reader: R,
    cpv: &CpvList,
    source_label: &str,
    started_at: &str,
    commit: Commit,
) -> Result<ImportReport, ImportError> {
    let mut reader = BufReader::with_capacity(256 * 1024, reader);
    let syntax = sniff(&mut reader)?;
    conn.execute(
        "INSERT INTO procurement_import_runs(source, started_at, status) VALUES (?1, ?2, 'running')",
        params![source_label, started_at],
    )?;
    let run_id = conn.last_insert_rowid();
    if commit == Commit::AllOrNothing {
        conn.execute_batch("BEGIN")?;
    }
    let mut importer = Importer {
        conn,
        cpv,
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
    if commit == Commit::AllOrNothing {
        match &outcome {
            Ok(()) => importer.conn.execute_batch("COMMIT")?,
            Err(_) => {
                importer.conn.execute_batch("ROLLBACK")?;
                importer.committed = 0;
            }
        }
    }
    let report = importer.report.clone();
    let (status, error) = match &outcome {
        Ok(()) => ("done", None),
        Err(e) => ("failed", Some(e.to_string())),
    };
    importer.conn.execute(
        "UPDATE procurement_import_runs SET status = ?2, read = ?3, inserted = ?4, updated = ?5,
            unchanged = ?6, duplicates = ?7, rejected = ?8, error = ?9, finished_at = ?10 WHERE id = ?1",
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
            started_at,
        ],
    )?;
    match outcome {
        Ok(()) => Ok(report),
        Err(source) => Err(ImportError::Stopped {
            source,
            committed: importer.committed,
            report: Box::new(report),
        }),
    }
}
