//! Network readiness probes: a TCP connect, or an HTTP GET that must answer
//! 2xx. Each runs as a task for one start of one process and reports once;
//! it gives up when that start's process group is gone.
//!
//! Command probes are not here: the supervisor starts them itself, since it
//! reaps every child and must know their pids (see `supervisor`). Log-line
//! probes live in the readers.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::plan::Probe;

/// How long one probe attempt may take.
const ATTEMPT: Duration = Duration::from_secs(2);

/// Tries `probe` every `interval` until it succeeds (then calls `ready`) or
/// `gone` is set (the process's group is gone: give up).
pub async fn run(
    probe: Probe,
    interval: Duration,
    mut gone: watch::Receiver<Option<Instant>>,
    ready: impl FnOnce(),
) {
    loop {
        if gone.borrow_and_update().is_some() {
            return;
        }
        // An attempt hanging on a server that accepts and never answers must
        // not hold up a stop: the group going away ends it.
        let ok = tokio::select! {
            r = tokio::time::timeout(ATTEMPT, attempt(&probe)) => r.unwrap_or(false),
            changed = gone.changed() => {
                if changed.is_err() || gone.borrow().is_some() {
                    return;
                }
                false
            }
        };
        if ok {
            ready();
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            changed = gone.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

async fn attempt(probe: &Probe) -> bool {
    match probe {
        Probe::Tcp(address) => TcpStream::connect(address.as_str()).await.is_ok(),
        Probe::Http { address, path } => http_ok(address, path).await.unwrap_or(false),
        // Handled by the supervisor and the readers.
        Probe::Command(_) | Probe::Log(_) | Probe::Notify => false,
    }
}

/// `GET path` with HTTP/1.0 (the server closes the connection); true for a
/// 2xx status line.
async fn http_ok(address: &str, path: &str) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect(address).await?;
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: drover\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = [0u8; 64];
    let mut n = 0;
    // The status line is all we need: "HTTP/1.x NNN ...".
    while n < 12 {
        let m = stream.read(&mut head[n..]).await?;
        if m == 0 {
            break;
        }
        n += m;
    }
    let line = &head[..n];
    Ok(line.starts_with(b"HTTP/") && line.len() >= 12 && line[9] == b'2')
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn http_probe_accepts_2xx_and_rejects_others() {
        for (status, expect) in [("200 OK", true), ("503 Service Unavailable", false)] {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap().to_string();
            let server = tokio::spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 256];
                let n = s.read(&mut buf).await.unwrap();
                assert!(buf[..n].starts_with(b"GET /health HTTP/1.0\r\n"));
                s.write_all(format!("HTTP/1.0 {status}\r\n\r\n").as_bytes())
                    .await
                    .unwrap();
            });
            assert_eq!(http_ok(&address, "/health").await.unwrap(), expect);
            server.await.unwrap();
        }
    }

    #[tokio::test]
    async fn tcp_probe_reports_ready_once_a_port_accepts() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (_tx, gone) = watch::channel(None);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        run(
            Probe::Tcp(address),
            Duration::from_millis(10),
            gone,
            move || {
                let _ = ready_tx.send(());
            },
        )
        .await;
        ready_rx.await.unwrap();
    }

    #[tokio::test]
    async fn probe_gives_up_when_the_group_is_gone() {
        let (tx, gone) = watch::channel(None);
        tx.send_replace(Some(Instant::now()));
        // Port 1 on loopback refuses; the probe must end without success.
        run(
            Probe::Tcp("127.0.0.1:1".into()),
            Duration::from_millis(10),
            gone,
            || panic!("not ready"),
        )
        .await;
    }
}
