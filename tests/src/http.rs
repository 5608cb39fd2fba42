//! A minimal HTTP/1.1 client over a real TCP socket, for checking how the server frames a
//! response (status, headers, chunked transfer) — what the router-level `api` helper cannot see.

use std::net::SocketAddr;

use anyhow::{Context, anyhow, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct HttpResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Number of chunks the body came in (0 if not chunked).
    pub chunks: usize,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

/// `GET path` with a bearer token; reads the whole answer (`Connection: close`).
pub async fn get(addr: SocketAddr, path: &str, token: &str) -> anyhow::Result<HttpResponse> {
    let mut socket = tokio::net::TcpStream::connect(addr).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    socket.read_to_end(&mut raw).await?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = std::str::from_utf8(&raw[..split])?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .context("no status line")?
        .parse()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    if !chunked {
        return Ok(HttpResponse {
            status,
            headers,
            body: rest.to_vec(),
            chunks: 0,
        });
    }
    let (mut body, mut chunks, mut at) = (Vec::new(), 0, 0);
    loop {
        let line_end = rest[at..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| at + p)
            .ok_or_else(|| anyhow!("truncated chunked body"))?;
        let size = usize::from_str_radix(std::str::from_utf8(&rest[at..line_end])?.trim(), 16)?;
        at = line_end + 2;
        if size == 0 {
            break;
        }
        if at + size > rest.len() {
            bail!("truncated chunk");
        }
        body.extend_from_slice(&rest[at..at + size]);
        chunks += 1;
        at += size + 2;
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
        chunks,
    })
}
