//! Exports from the app: the server's export routes (encounters CSV, questionnaires CSV,
//! totals CSV, GeoJSON of encounters at a chosen precision) streamed into a file.
//!
//! The body is written to a hidden temporary file next to the destination and renamed into
//! place once complete and flushed to disk: a failed, truncated or cancelled export leaves no
//! file behind, never a complete-looking partial one. Progress (bytes and rows received, with
//! the totals the server announces: `Content-Length`, `X-Carnet-Rows`) goes to a callback; the
//! command emits it as `coord-export-progress` events.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Emitter, Manager, Runtime, State};
use tokio::io::AsyncWriteExt;

use super::{CoordinatorError, CoordinatorState, Result, read_body, status_error};

pub use carnet_shared::report::ROWS_HEADER;
/// The event carrying [`ExportProgress`].
pub const PROGRESS_EVENT: &str = "coord-export-progress";
/// Most decimals of GeoJSON coordinates (the server's limit; 6 ≈ 10 cm).
pub const MAX_PRECISION: u32 = 6;
/// Default GeoJSON precision: 3 decimals ≈ 100 m (coarse, for privacy).
pub const DEFAULT_PRECISION: u32 = 3;
/// An export may take long on a big night; the client's 60 s limit is for small answers.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// How often a download waiting on a silent link looks at its cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(250);
/// Progress is reported at most this often (plus once at the end).
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Which export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ExportKind {
    Encounters,
    Questionnaires,
    Totals,
    Geojson,
}

impl ExportKind {
    fn route(self, precision: u32) -> String {
        match self {
            Self::Encounters => "exports/encounters.csv".into(),
            Self::Questionnaires => "exports/questionnaires.csv".into(),
            Self::Totals => "exports/totals.csv".into(),
            Self::Geojson => format!("exports/encounters.geojson?precision={precision}"),
        }
    }

    fn file_stem(self) -> &'static str {
        match self {
            Self::Encounters => "rencontres",
            Self::Questionnaires => "questionnaires",
            Self::Totals => "totaux",
            Self::Geojson => "rencontres",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Geojson => "geojson",
            _ => "csv",
        }
    }

    /// CSV rows are counted as lines after the header (the exported columns hold no line
    /// breaks); GeoJSON comes as one document, counted only by the announced total.
    fn counts_lines(self) -> bool {
        self != Self::Geojson
    }
}

/// Where an export is: what came so far, and the totals when the server gave them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportProgress {
    pub export_id: String,
    pub bytes: u64,
    pub total_bytes: Option<u64>,
    pub rows: u64,
    pub total_rows: Option<u64>,
    pub done: bool,
}

/// A finished export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportDone {
    pub path: PathBuf,
    pub bytes: u64,
    pub rows: u64,
}

fn file_error(e: std::io::Error) -> CoordinatorError {
    CoordinatorError::File(e.kind())
}

/// Removes the temporary file unless the export finished (then it was renamed).
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Checks an export id given by the UI (a short token of its own, used to cancel).
fn check_export_id(id: &str) -> Result<()> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(CoordinatorError::InvalidInput("export id"));
    }
    Ok(())
}

impl CoordinatorState {
    /// Downloads one export of the signed-in night into `dir` (created if missing), as
    /// `carnet-<night>-<name>.<ext>`, replacing an earlier export of the same name.
    pub async fn export(
        &self,
        export_id: &str,
        kind: ExportKind,
        precision: Option<u32>,
        dir: &Path,
        progress: &mut (dyn FnMut(ExportProgress) + Send),
    ) -> Result<ExportDone> {
        check_export_id(export_id)?;
        let precision = precision.unwrap_or(DEFAULT_PRECISION);
        if precision > MAX_PRECISION {
            return Err(CoordinatorError::InvalidInput("precision"));
        }
        let s = self.session().await?;
        let cancel = Arc::new(AtomicBool::new(false));
        {
            let mut exports = self
                .exports
                .lock()
                .map_err(|_| CoordinatorError::InvalidInput("export state"))?;
            if exports.contains_key(export_id) {
                return Err(CoordinatorError::InvalidInput("export id already in use"));
            }
            exports.insert(export_id.to_owned(), Arc::clone(&cancel));
        }
        let result = async {
            let url = format!("{}{}", s.server_url, s.night_path(&kind.route(precision)));
            let response = s
                .http
                .get(url)
                .bearer_auth(&s.token.0)
                .timeout(EXPORT_TIMEOUT)
                .send()
                .await
                .map_err(|_| CoordinatorError::ServerUnreachable)?;
            let status = response.status().as_u16();
            if !(200..300).contains(&status) {
                let body = read_body(response).await?;
                return Err(status_error(status, &body));
            }
            let name = format!(
                "carnet-{}-{}.{}",
                &s.night_id.simple().to_string()[..8],
                kind.file_stem(),
                kind.extension()
            );
            download(response, export_id, kind, dir, &name, &cancel, progress).await
        }
        .await;
        if let Ok(mut exports) = self.exports.lock() {
            exports.remove(export_id);
        }
        if let Ok(done) = &result {
            tracing::info!(bytes = done.bytes, rows = done.rows, "export written");
        }
        result
    }

    /// Asks a running export to stop; false if no export has that id (already finished).
    pub fn cancel_export(&self, export_id: &str) -> bool {
        self.exports
            .lock()
            .ok()
            .and_then(|exports| exports.get(export_id).cloned())
            .map(|flag| flag.store(true, Ordering::Relaxed))
            .is_some()
    }
}

/// Streams `response` into `dir/name` through a temporary file.
async fn download(
    mut response: reqwest::Response,
    export_id: &str,
    kind: ExportKind,
    dir: &Path,
    name: &str,
    cancel: &AtomicBool,
    progress: &mut (dyn FnMut(ExportProgress) + Send),
) -> Result<ExportDone> {
    let total_rows = response
        .headers()
        .get(ROWS_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut state = ExportProgress {
        export_id: export_id.to_owned(),
        bytes: 0,
        total_bytes: response.content_length(),
        rows: 0,
        total_rows,
        done: false,
    };
    tokio::fs::create_dir_all(dir).await.map_err(file_error)?;
    let final_path = dir.join(name);
    let temp_path = dir.join(format!(".{name}.{}.part", uuid::Uuid::new_v4().simple()));
    let mut temp = TempFile(Some(temp_path.clone()));
    let mut file = tokio::fs::File::create(&temp_path)
        .await
        .map_err(file_error)?;
    let mut lines: u64 = 0;
    let mut last_report = Instant::now();
    progress(state.clone());
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(CoordinatorError::Cancelled);
        }
        // A stalled link must not keep a cancelled export waiting: look at the flag again at
        // least every CANCEL_POLL.
        let Ok(chunk) = tokio::time::timeout(CANCEL_POLL, response.chunk()).await else {
            continue;
        };
        let chunk = chunk.map_err(|_| CoordinatorError::ServerUnreachable)?;
        let Some(chunk) = chunk else { break };
        file.write_all(&chunk).await.map_err(file_error)?;
        state.bytes += chunk.len() as u64;
        if kind.counts_lines() {
            lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
            state.rows = lines.saturating_sub(1);
        }
        if last_report.elapsed() >= PROGRESS_EVERY {
            last_report = Instant::now();
            progress(state.clone());
        }
    }
    // A body shorter than announced is a truncated transfer. CSV rows are counted by line
    // ends, which a quoted field may add to but a cut body can only lack.
    if state.total_bytes.is_some_and(|total| total != state.bytes)
        || (kind.counts_lines() && total_rows.is_some_and(|total| state.rows < total))
    {
        return Err(CoordinatorError::BadAnswer("truncated export"));
    }
    if !kind.counts_lines() {
        state.rows = total_rows.unwrap_or(0);
    }
    file.flush().await.map_err(file_error)?;
    file.sync_all().await.map_err(file_error)?;
    drop(file);
    // Cancelled after the last chunk: the UI was told it stopped, so no file appears.
    if cancel.load(Ordering::Relaxed) {
        return Err(CoordinatorError::Cancelled);
    }
    tokio::fs::rename(&temp_path, &final_path)
        .await
        .map_err(file_error)?;
    temp.0 = None;
    state.done = true;
    progress(state.clone());
    Ok(ExportDone {
        path: final_path,
        bytes: state.bytes,
        rows: state.rows,
    })
}

/// The folder exports go to: the user's download folder, else the app's data folder.
fn export_dir<R: Runtime>(app: &AppHandle<R>) -> Result<PathBuf> {
    let paths = app.path();
    paths
        .download_dir()
        .or_else(|_| paths.app_data_dir().map(|d| d.join("exports")))
        .map_err(|_| CoordinatorError::File(std::io::ErrorKind::NotFound))
}

#[tauri::command]
pub async fn coord_export<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, CoordinatorState>,
    export_id: String,
    kind: ExportKind,
    precision: Option<u32>,
) -> Result<ExportDone> {
    let dir = export_dir(&app)?;
    let mut emit = |p: ExportProgress| {
        let _ = app.emit(PROGRESS_EVENT, p);
    };
    state
        .export(&export_id, kind, precision, &dir, &mut emit)
        .await
}

#[tauri::command]
pub async fn coord_cancel_export(
    state: State<'_, CoordinatorState>,
    export_id: String,
) -> Result<bool> {
    Ok(state.cancel_export(&export_id))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn export_ids_are_short_plain_tokens() {
        assert!(check_export_id("exp-1_a").is_ok());
        for bad in ["", "a/b", "../x", &"x".repeat(65)] {
            assert!(check_export_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn routes_and_file_names_per_kind() {
        assert_eq!(
            ExportKind::Geojson.route(2),
            "exports/encounters.geojson?precision=2"
        );
        assert_eq!(ExportKind::Totals.route(3), "exports/totals.csv");
        assert_eq!(ExportKind::Geojson.extension(), "geojson");
        assert_eq!(ExportKind::Questionnaires.file_stem(), "questionnaires");
    }

    #[tokio::test]
    async fn an_export_needs_a_session_and_a_sane_precision() {
        let state = CoordinatorState::default();
        let dir = tempfile::tempdir().unwrap();
        let mut sink = |_| {};
        let e = state
            .export("a", ExportKind::Geojson, Some(7), dir.path(), &mut sink)
            .await
            .unwrap_err();
        assert_eq!(e.code(), super::super::CoordinatorErrorCode::InvalidInput);
        let e = state
            .export("a", ExportKind::Encounters, None, dir.path(), &mut sink)
            .await
            .unwrap_err();
        assert_eq!(e.code(), super::super::CoordinatorErrorCode::NotSignedIn);
        assert!(!state.cancel_export("a"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
