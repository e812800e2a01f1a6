//! Network readiness probes: a TCP connect, or an HTTP GET that must answer
//! 2xx, on a port whose listening socket the probed process holds (its
//! group, or its cgroup: see `ports::owned_by`). Each runs as a task for
//! one start of one process, reports each failed try with its error, and
//! success once; it gives up when that start's process group is gone.
//!
//! Command probes are not here: the supervisor starts them itself, since it
//! reaps every child and must know their pids (see `supervisor`). Log-line
//! probes live in the readers.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{ports, procfs};
use crate::plan::Probe;
use crate::types::Pid;

/// How long one probe attempt may take.
const ATTEMPT: Duration = Duration::from_secs(2);

/// Tries `probe` every `interval` until it succeeds (then calls `ready`) or
/// `gone` is set (the process's group is gone: give up). Each failed try
/// is told to `missed` with its error. With `owner`, a listener held by
/// another process does not count.
pub async fn run(
    probe: Probe,
    interval: Duration,
    owner: Option<Owner>,
    mut gone: watch::Receiver<Option<Instant>>,
    ready: impl FnOnce(),
    mut missed: impl FnMut(String),
) {
    loop {
        if gone.borrow_and_update().is_some() {
            return;
        }
        // An attempt hanging on a server that accepts and never answers must
        // not hold up a stop: the group going away ends it.
        let result = tokio::select! {
            r = tokio::time::timeout(ATTEMPT, attempt(&probe)) => {
                r.unwrap_or_else(|_| Err(format!("{}: no answer in {}s", describe(&probe), ATTEMPT.as_secs())))
            }
            changed = gone.changed() => {
                if changed.is_err() || gone.borrow().is_some() {
                    return;
                }
                continue;
            }
        };
        let result = match (result, &owner) {
            (Ok(()), Some(owner)) => owner.holds(&probe),
            (result, _) => result,
        };
        match result {
            Ok(()) => {
                ready();
                return;
            }
            Err(e) => missed(e),
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

/// Whose listening socket counts: the probed start's group (or cgroup).
#[derive(Debug, Clone)]
pub struct Owner {
    /// The start's process group.
    pub pgid: Pid,
    /// Its cgroup's `cgroup.procs`, with `--cgroup`.
    pub cgroup_procs: Option<std::path::PathBuf>,
}

impl Owner {
    /// Ok when the port `probe` reached listens in this owner's processes
    /// (or its listener is not on this host); else who holds it.
    fn holds(&self, probe: &Probe) -> Result<(), String> {
        let address = match probe {
            Probe::Tcp(a) | Probe::Http { address: a, .. } => a,
            Probe::Command(_) | Probe::Log(_) | Probe::Notify => return Ok(()),
        };
        let Some(port) = address.rsplit_once(':').and_then(|(_, p)| p.parse().ok()) else {
            return Ok(());
        };
        let members: Vec<i32> = match &self.cgroup_procs {
            Some(path) => std::fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect(),
            None => procfs::group_members(&[self.pgid])
                .remove(&self.pgid)
                .unwrap_or_default()
                .into_iter()
                .map(|(p, _)| p.get())
                .collect(),
        };
        match ports::owned_by(port, &members) {
            ports::Owned::Yes | ports::Owned::NotHere => Ok(()),
            ports::Owned::No(holder) => Err(format!(
                "{}: port {port} is held by {}, not by this process",
                describe(probe),
                holder.as_deref().unwrap_or("a process drover cannot see")
            )),
        }
    }
}

/// `tcp 127.0.0.1:5432`, `http 127.0.0.1:8000/health`.
fn describe(probe: &Probe) -> String {
    match probe {
        Probe::Tcp(address) => format!("tcp {address}"),
        Probe::Http { address, path } => format!("http {address}{path}"),
        Probe::Command(c) => format!("command `{c}`"),
        Probe::Log(_) | Probe::Notify => String::new(),
    }
}

/// One try: Ok, or what went wrong in a few words.
async fn attempt(probe: &Probe) -> Result<(), String> {
    let why = |e: std::io::Error| {
        let e = match e.kind() {
            std::io::ErrorKind::ConnectionRefused => "refused".to_string(),
            _ => e.to_string(),
        };
        format!("{} {e}", describe(probe))
    };
    match probe {
        Probe::Tcp(address) => TcpStream::connect(address.as_str())
            .await
            .map(drop)
            .map_err(why),
        Probe::Http { address, path } => match http_ok(address, path).await {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("{} answered {status}", describe(probe))),
            Err(e) => Err(why(e)),
        },
        // Handled by the supervisor and the readers.
        Probe::Command(_) | Probe::Log(_) | Probe::Notify => Err(String::new()),
    }
}

/// `GET path` with HTTP/1.0 (the server closes the connection); None for a
/// 2xx status line, else the status line's start.
async fn http_ok(address: &str, path: &str) -> std::io::Result<Option<String>> {
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
    if line.starts_with(b"HTTP/") && line.len() >= 12 {
        if line[9] == b'2' {
            return Ok(None);
        }
        return Ok(Some(String::from_utf8_lossy(&line[9..12]).into_owned()));
    }
    Ok(Some("no HTTP status line".into()))
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
            assert_eq!(
                http_ok(&address, "/health").await.unwrap().is_none(),
                expect
            );
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
            None,
            gone,
            move || {
                let _ = ready_tx.send(());
            },
            |_| {},
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
            None,
            gone,
            || panic!("not ready"),
            |_| {},
        )
        .await;
    }
}
