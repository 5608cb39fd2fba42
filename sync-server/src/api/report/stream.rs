//! Streamed exports: the shared writers (`impl Write`) run on a blocking thread and hand the
//! response body chunks through a small bounded channel, so a long export is sent as it is
//! written (chunked transfer) instead of being held whole in memory.

use std::io::Write;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

/// Bytes gathered before a chunk is sent.
const CHUNK: usize = 32 * 1024;
/// Chunks queued before the writer waits for the client.
const QUEUE: usize = 8;

type Chunk = Result<Bytes, std::io::Error>;

/// A `Write` whose output becomes the response body, chunk by chunk.
pub struct BodyWriter {
    buffer: Vec<u8>,
    tx: mpsc::Sender<Chunk>,
}

impl BodyWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for BodyWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Sends the error that ends the body when dropped still armed (see `streamed`).
struct Unfinished(Option<mpsc::Sender<Chunk>>);

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.blocking_send(Err(std::io::Error::other("export failed")));
        }
    }
}

/// The number of data rows (or GeoJSON features) an export will hold, so that a client can
/// show its progress; absent when not known in advance (the totals).
pub use carnet_shared::report::ROWS_HEADER;

/// Streams what `write` writes as the body of a 200 answer with the given type and download
/// name, announcing `rows` data rows if known. If `write` fails midway, the body ends with an error (the client sees a truncated
/// transfer, never a complete-looking file).
pub fn streamed<E: std::fmt::Display>(
    content_type: &'static str,
    filename: &'static str,
    rows: Option<usize>,
    write: impl FnOnce(&mut BodyWriter) -> Result<(), E> + Send + 'static,
) -> Response {
    let (tx, mut rx) = mpsc::channel::<Chunk>(QUEUE);
    tokio::task::spawn_blocking(move || {
        let mut writer = BodyWriter {
            buffer: Vec::with_capacity(CHUNK),
            tx: tx.clone(),
        };
        // Ends the body with an error unless the export finished — also when `write`
        // panics (the guard is dropped while unwinding), so a client never takes a cut body
        // for a whole file.
        let mut unfinished = Unfinished(Some(tx.clone()));
        let result = write(&mut writer).map_err(|e| e.to_string());
        let result = result.and_then(|()| writer.flush().map_err(|e| e.to_string()));
        match result {
            Ok(()) => unfinished.0 = None,
            Err(error) => tracing::warn!(%error, filename, "export stopped"),
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    if let Some(rows) = rows {
        headers.insert(ROWS_HEADER, HeaderValue::from(rows));
    }
    response
}
