//! A TCP proxy on loopback in front of a real service (PostgreSQL, Redis) that can be
//! switched off — open connections are cut and new ones are closed at once — and on
//! again, to test what the application does while a dependency is unreachable.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// A proxy to `target`, initially up or down.
    pub async fn start(target: SocketAddr, up: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let flag = Arc::new(AtomicBool::new(up));
        let (generation, _) = watch::channel(0u64);
        let gen_tx = generation.clone();
        let state = flag.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !state.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cut = gen_tx.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self {
            addr,
            up: flag,
            generation,
            task,
        }
    }

    /// Cuts every open connection and refuses new ones.
    pub fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Accepts connections again.
    pub fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// The socket address of a `scheme://host:port/...` URL.
pub fn target_of(url: &str, default_port: u16) -> SocketAddr {
    let u = url::Url::parse(url).expect("service URL");
    let host = u.host_str().unwrap_or("127.0.0.1");
    let host = if host == "localhost" { "127.0.0.1" } else { host };
    format!("{host}:{}", u.port().unwrap_or(default_port))
        .parse()
        .expect("service address")
}

/// `url` with its host and port replaced by the proxy's.
pub fn via(url: &str, proxy: &Proxy) -> String {
    let mut u = url::Url::parse(url).expect("service URL");
    let _ = u.set_host(Some("127.0.0.1"));
    let _ = u.set_port(Some(proxy.addr.port()));
    u.to_string()
}
