//! A TCP proxy between a node and a server (its object store, a voter) that can cut the
//! network, hang it, or answer every request itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, copy_bidirectional};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

const UP: u8 = 0;
const DOWN: u8 = 1;
const HANG: u8 = 2;
const ANSWER: u8 = 3;

/// Forwards a loopback port to a target; it can be cut (connections reset), hung (connections
/// accepted and never answered, as a stalled server or a black-holed network does), or made to
/// answer every HTTP request with one status.
#[derive(Debug)]
pub struct Proxy {
    port: u16,
    mode: Arc<AtomicU8>,
    status: Arc<AtomicU64>,
    cut: Arc<Notify>,
    refused: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

async fn answer(mut inbound: TcpStream, status: u16) {
    // Read the request head (and whatever body came with it), then answer S3-style.
    let mut buf = vec![0u8; 64 * 1024];
    let _ = tokio::time::timeout(Duration::from_millis(200), inbound.read(&mut buf)).await;
    let (code, reason) = match status {
        403 => ("AccessDenied", "Forbidden"),
        404 => ("NoSuchBucket", "Not Found"),
        503 => ("SlowDown", "Service Unavailable"),
        _ => ("InternalError", "Error"),
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{reason}</Message></Error>"
    );
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = inbound.write_all(head.as_bytes()).await;
    let _ = inbound.write_all(body.as_bytes()).await;
    let _ = inbound.shutdown().await;
}

impl Proxy {
    /// Starts forwarding a new loopback port to `target` (`HOST:PORT`).
    pub async fn start(target: String) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let mode = Arc::new(AtomicU8::new(UP));
        let status = Arc::new(AtomicU64::new(503));
        let cut = Arc::new(Notify::new());
        let refused = Arc::new(AtomicU64::new(0));
        let (mode2, status2, cut2, refused2) =
            (mode.clone(), status.clone(), cut.clone(), refused.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                match mode2.load(Ordering::SeqCst) {
                    DOWN => {
                        refused2.fetch_add(1, Ordering::SeqCst);
                        drop(inbound);
                        continue;
                    }
                    ANSWER => {
                        let s = status2.load(Ordering::SeqCst) as u16;
                        tokio::spawn(answer(inbound, s));
                        continue;
                    }
                    HANG => {
                        // Hold the connection open without a byte until the mode changes.
                        let (mode, cut) = (mode2.clone(), cut2.clone());
                        tokio::spawn(async move {
                            while mode.load(Ordering::SeqCst) == HANG {
                                cut.notified().await;
                            }
                            drop(inbound);
                        });
                        continue;
                    }
                    _ => {}
                }
                let (target, mode, cut) = (target.clone(), mode2.clone(), cut2.clone());
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    loop {
                        tokio::select! {
                            _ = copy_bidirectional(&mut inbound, &mut outbound) => return,
                            _ = cut.notified() => {}
                        }
                        match mode.load(Ordering::SeqCst) {
                            UP => continue,
                            HANG => {
                                // Stop forwarding but keep both connections: they stall.
                                while mode.load(Ordering::SeqCst) == HANG {
                                    cut.notified().await;
                                }
                                return;
                            }
                            _ => return,
                        }
                    }
                });
            }
        });
        Ok(Self {
            port,
            mode,
            status,
            cut,
            refused,
            task,
        })
    }

    /// Returns the proxy's address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn set(&self, mode: u8) {
        // Forwarding connections are interrupted only by a real change (a restarted copy
        // would lose what the old one buffered).
        if self.mode.swap(mode, Ordering::SeqCst) != mode {
            self.cut.notify_waiters();
        }
    }

    /// Cuts the network: open connections are closed, new ones are reset.
    pub fn down(&self) {
        self.set(DOWN);
    }

    /// Hangs the network: open connections stall, new ones are accepted and never answered.
    pub fn hang(&self) {
        self.set(HANG);
    }

    /// Answers every new request with `status` (S3-style error body) instead of forwarding it.
    pub fn answer_with(&self, status: u16) {
        self.status.store(u64::from(status), Ordering::SeqCst);
        self.set(ANSWER);
    }

    /// Restores the network (hung connections are closed; new ones are forwarded).
    pub fn up(&self) {
        self.set(UP);
    }

    /// Returns how many connections were refused while down.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
