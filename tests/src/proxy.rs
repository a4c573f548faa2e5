//! A TCP proxy that can cut the network between a node and its object store.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Forwards a loopback port to a target; while down, it resets every connection.
#[derive(Debug)]
pub struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    cut: Arc<Notify>,
    refused: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Starts forwarding a new loopback port to `target` (`HOST:PORT`).
    pub async fn start(target: String) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(Notify::new());
        let refused = Arc::new(AtomicU64::new(0));
        let (up2, cut2, refused2) = (up.clone(), cut.clone(), refused.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    refused2.fetch_add(1, Ordering::SeqCst);
                    drop(inbound);
                    continue;
                }
                let (target, up, cut) = (target.clone(), up2.clone(), cut2.clone());
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = async {
                            loop {
                                cut.notified().await;
                                if !up.load(Ordering::SeqCst) {
                                    break;
                                }
                            }
                        } => {}
                    }
                });
            }
        });
        Ok(Self {
            port,
            up,
            cut,
            refused,
            task,
        })
    }

    /// Returns the proxy's address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Cuts the network: open connections are closed, new ones are reset.
    pub fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    /// Restores the network.
    pub fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
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
