//! A minimal SMTP server on loopback that records what it receives (RFC 5321 subset:
//! EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT). It can refuse recipients with 550.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

/// One received message.
#[derive(Debug, Clone)]
pub struct Received {
    /// The `AUTH PLAIN` credentials the client sent, if any.
    pub auth: Option<(String, String)>,
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl Received {
    /// The value of a header of the top-level message.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let prefix = format!("{}:", name.to_lowercase());
        head.split("\r\n")
            .find(|l| l.to_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_string())
    }

    /// The message with quoted-printable soft breaks and escapes undone (good enough
    /// to search for ASCII phrases).
    pub fn decoded(&self) -> String {
        let joined = self.data.replace("=\r\n", "");
        let mut out = String::with_capacity(joined.len());
        let bytes = joined.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'='
                && i + 2 < bytes.len()
                && let Ok(v) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
            {
                out.push(v as char);
                i += 3;
                continue;
            }
            out.push(bytes[i] as char);
            i += 1;
        }
        out
    }
}

/// A running SMTP sink.
#[derive(Clone)]
pub struct SmtpSink {
    pub addr: SocketAddr,
    up: Arc<std::sync::atomic::AtomicBool>,
    pub received: Arc<Mutex<Vec<Received>>>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

impl SmtpSink {
    /// Starts a sink on a free loopback port.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), false).await
    }

    /// A sink that is "down": it holds its port but drops every connection at once,
    /// until [`SmtpSink::set_up`].
    pub async fn start_down() -> Self {
        let sink = Self::start_on("127.0.0.1:0".parse().unwrap(), false).await;
        sink.up.store(false, std::sync::atomic::Ordering::SeqCst);
        sink
    }

    /// Starts answering SMTP.
    pub fn set_up(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Starts a sink on `addr`; with `reject`, every recipient is refused (550).
    pub async fn start_on(addr: SocketAddr, reject: bool) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind smtp sink");
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let is_up = up.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else { return };
                if !is_up.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(sock);
                    continue;
                }
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = session(sock, store, reject).await;
                });
            }
        });
        Self {
            addr,
            up,
            received,
            task: Arc::new(task),
        }
    }

    /// The `smtp://` URL of this sink.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub async fn messages(&self) -> Vec<Received> {
        self.received.lock().await.clone()
    }

    /// Waits until at least `n` messages arrived; returns them.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let msgs = self.messages().await;
            if msgs.len() >= n {
                return msgs;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {n} mails, got {}",
                msgs.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn session(sock: tokio::net::TcpStream, store: Arc<Mutex<Vec<Received>>>, reject: bool) -> std::io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut auth = None;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_uppercase();
        if upper.starts_with("EHLO") {
            w.write_all(b"250-sink.test\r\n250-8BITMIME\r\n250-AUTH PLAIN\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if upper.starts_with("AUTH PLAIN") {
            use base64::Engine;
            let decoded = cmd
                .split_whitespace()
                .nth(2)
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .unwrap_or_default();
            let parts: Vec<String> = decoded
                .split(|b| *b == 0)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            if parts.len() == 3 {
                auth = Some((parts[1].clone(), parts[2].clone()));
                w.write_all(b"235 2.7.0 Authentication successful\r\n").await?;
            } else {
                w.write_all(b"501 5.5.2 Cannot decode\r\n").await?;
            }
        } else if upper.starts_with("HELO") {
            w.write_all(b"250 sink.test\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = cmd[10..].trim().to_string();
            to.clear();
            w.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            if reject {
                w.write_all(b"550 5.1.1 No such user here\r\n").await?;
            } else {
                to.push(cmd[8..].trim().to_string());
                w.write_all(b"250 OK\r\n").await?;
            }
        } else if upper == "DATA" {
            w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                let l = line.strip_prefix('.').unwrap_or(&line);
                data.push_str(l);
            }
            store.lock().await.push(Received {
                auth: auth.clone(),
                from: from.clone(),
                to: to.clone(),
                data,
            });
            w.write_all(b"250 OK queued\r\n").await?;
        } else if upper == "RSET" || upper == "NOOP" {
            w.write_all(b"250 OK\r\n").await?;
        } else if upper == "QUIT" {
            w.write_all(b"221 Bye\r\n").await?;
            return Ok(());
        } else {
            w.write_all(b"502 Command not implemented\r\n").await?;
        }
    }
}
