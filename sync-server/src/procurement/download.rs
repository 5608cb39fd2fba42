//! `procurement import <URL>`: streams an http(s) DECP file into a temporary file, with a
//! progress bar, and hands it over only when the whole body arrived. A broken download
//! (cut connection, fewer bytes than `Content-Length`, HTTP error status) is an error and
//! nothing is imported.

use std::io::{Seek, SeekFrom, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("URL invalide : {0}")]
    Url(String),
    #[error("connexion impossible à {url} : {source}")]
    Connect { url: String, source: reqwest::Error },
    #[error("le serveur a répondu {status} pour {url} : rien n'a été importé")]
    Status { url: String, status: u16 },
    #[error(
        "téléchargement interrompu après {received} octets{} : {source} ; rien n'a été importé",
        expected_suffix(*.expected)
    )]
    Interrupted {
        received: u64,
        expected: Option<u64>,
        source: reqwest::Error,
    },
    #[error(
        "téléchargement incomplet : {received} octets reçus sur {expected} annoncés ; rien n'a été importé"
    )]
    Incomplete { received: u64, expected: u64 },
    #[error("fichier temporaire du téléchargement : {0}")]
    TempFile(std::io::Error),
    #[error("le téléchargement s'est arrêté anormalement")]
    Aborted,
}

fn expected_suffix(expected: Option<u64>) -> String {
    expected
        .map(|n| format!(" sur {n} annoncés"))
        .unwrap_or_default()
}

/// Progress bar style in bytes: with a total and an ETA when the size is known, a
/// spinner with the bytes received otherwise.
pub fn bar_style(known_length: bool) -> ProgressStyle {
    let template = if known_length {
        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}"
    } else {
        "{spinner} {bytes} {bytes_per_sec}"
    };
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// How long a connection may stay silent before the download is given up.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Downloads `url` into a new temporary file (deleted when dropped), rewound to its start.
/// Runs its own single-threaded tokio runtime on a separate thread, so it can be called
/// from anywhere, including from inside another runtime.
pub fn to_temp_file(
    url: &str,
    bar: &ProgressBar,
) -> Result<tempfile::NamedTempFile, DownloadError> {
    let url = reqwest::Url::parse(url).map_err(|e| DownloadError::Url(e.to_string()))?;
    let bar = bar.clone();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(DownloadError::TempFile)?;
                runtime.block_on(fetch(url, &bar))
            })
            .join()
            .unwrap_or(Err(DownloadError::Aborted))
    })
}

async fn fetch(
    url: reqwest::Url,
    bar: &ProgressBar,
) -> Result<tempfile::NamedTempFile, DownloadError> {
    let shown = url.to_string();
    let client = reqwest::Client::builder()
        .read_timeout(READ_TIMEOUT)
        .user_agent(concat!("carnet-server/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|source| DownloadError::Connect {
            url: shown.clone(),
            source,
        })?;
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|source| DownloadError::Connect {
            url: shown.clone(),
            source,
        })?;
    let status = response.status();
    if !status.is_success() {
        return Err(DownloadError::Status {
            url: shown,
            status: status.as_u16(),
        });
    }
    let expected = response.content_length();
    bar.set_style(bar_style(expected.is_some()));
    match expected {
        Some(n) => bar.set_length(n),
        None => bar.unset_length(),
    }
    let mut file = tempfile::NamedTempFile::new().map_err(DownloadError::TempFile)?;
    let mut received = 0u64;
    loop {
        match response.chunk().await {
            Ok(Some(bytes)) => {
                file.write_all(&bytes).map_err(DownloadError::TempFile)?;
                received += bytes.len() as u64;
                bar.set_position(received);
            }
            Ok(None) => break,
            Err(source) => {
                return Err(DownloadError::Interrupted {
                    received,
                    expected,
                    source,
                });
            }
        }
    }
    // hyper already fails a body shorter than its Content-Length; checked again here so
    // the guarantee does not rest on one library's behaviour.
    if let Some(expected) = expected
        && expected != received
    {
        return Err(DownloadError::Incomplete { received, expected });
    }
    file.flush().map_err(DownloadError::TempFile)?;
    file.as_file_mut()
        .seek(SeekFrom::Start(0))
        .map_err(DownloadError::TempFile)?;
    Ok(file)
}
