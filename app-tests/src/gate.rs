//! A loopback TCP relay in front of the server that can refuse the sync WebSocket while still
//! letting plain HTTP through: the phone that enrols at the briefing and loses the signal before
//! its documents arrive (the enrolment POST got through; `GET /sync` does not).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Gate {
    pub addr: SocketAddr,
    sync_open: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Gate {
    /// Relays every connection to `upstream`; connections whose request starts with
    /// `GET /sync` are closed at once while the sync path is shut.
    pub async fn start(upstream: SocketAddr, sync_open: bool) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let open = Arc::new(AtomicBool::new(sync_open));
        let flag = open.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let flag = flag.clone();
                tokio::spawn(async move {
                    let _ = relay(inbound, upstream, &flag).await;
                });
            }
        });
        Ok(Self {
            addr,
            sync_open: open,
            task,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Lets sync connections through from now on (already refused ones stay refused).
    pub fn open_sync(&self) {
        self.sync_open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(
    mut inbound: TcpStream,
    upstream: SocketAddr,
    sync_open: &AtomicBool,
) -> anyhow::Result<()> {
    // The request line arrives in the first segment on loopback; 16 bytes hold `GET /sync`.
    let mut head = vec![0u8; 16];
    let mut read = 0;
    while read < head.len() {
        let n = inbound.read(&mut head[read..]).await?;
        if n == 0 {
            break;
        }
        read += n;
    }
    head.truncate(read);
    if head.starts_with(b"GET /sync") && !sync_open.load(Ordering::SeqCst) {
        return Ok(()); // dropped: the client sees the connection closed
    }
    let mut outbound = TcpStream::connect(upstream).await?;
    outbound.write_all(&head).await?;
    tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await?;
    Ok(())
}
