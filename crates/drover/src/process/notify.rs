//! The sd_notify protocol, both ways: a process with `ready = "notify"`
//! gets a `NOTIFY_SOCKET` of its own and counts as ready when it sends
//! `READY=1`; and drover, run by systemd as a `Type=notify` service, tells
//! systemd `READY=1` once every process is ready and `STOPPING=1` when it
//! stops.

use std::ffi::OsStr;
use std::io;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::DirBuilderExt as _;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::{Path, PathBuf};

use tokio::sync::watch;
use tokio::time::Instant;

/// A new folder only this user may enter, for the notify sockets of this
/// drover. Never an existing one: in a shared /tmp, someone else may have
/// made it (to spoof READY=1 or block the socket).
pub fn private_dir() -> io::Result<PathBuf> {
    // An XDG_RUNTIME_DIR that cannot be written (a stale one from another
    // session, say) falls back to the temp folder instead of failing.
    let xdg = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir());
    match xdg.map(|base| private_dir_in(&base)) {
        Some(Ok(dir)) => Ok(dir),
        _ => private_dir_in(&std::env::temp_dir()),
    }
}

fn private_dir_in(base: &Path) -> io::Result<PathBuf> {
    for n in 0..100 {
        let dir = base.join(format!("drover-{}-{n}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "cannot make a private folder in {}: 100 names are taken",
        base.display()
    )))
}

/// Waits on `socket` for a datagram with a `READY=1` line, then calls
/// `ready`; gives up when `gone` is set. Removes the socket file at the end.
pub async fn await_ready(
    socket: tokio::net::UnixDatagram,
    path: &Path,
    mut gone: watch::Receiver<Option<Instant>>,
    ready: impl FnOnce(),
) {
    let mut buf = vec![0u8; 4096];
    loop {
        tokio::select! {
            r = socket.recv(&mut buf) => match r {
                Ok(n) if says_ready(&buf[..n]) => {
                    ready();
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            },
            changed = gone.changed() => {
                if changed.is_err() || gone.borrow().is_some() {
                    break;
                }
            }
        }
    }
    let _ = std::fs::remove_file(path);
}

/// Whether an sd_notify message holds the line `READY=1`.
pub fn says_ready(message: &[u8]) -> bool {
    message
        .split(|b| *b == b'\n')
        .any(|line| line == b"READY=1")
}

/// Sends `state` to the socket named by a `NOTIFY_SOCKET` value: a path,
/// or `@name` for an abstract socket.
pub fn send(target: &OsStr, state: &str) -> io::Result<()> {
    let bytes = target.as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(Path::new(target))?,
    };
    let socket = UnixDatagram::unbound()?;
    socket.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_ready_among_other_lines() {
        assert!(says_ready(b"STATUS=warming up\nREADY=1\n"));
        assert!(says_ready(b"READY=1"));
        assert!(!says_ready(b"READY=0\nSTATUS=READY=1 soon"));
    }

    #[tokio::test]
    async fn a_process_saying_ready_is_heard_and_the_socket_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.1.1.sock");
        let socket = tokio::net::UnixDatagram::bind(&path).unwrap();
        let (_tx, gone) = watch::channel(None);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        send(path.as_os_str(), "STATUS=starting").unwrap();
        send(path.as_os_str(), "READY=1\nSTATUS=serving").unwrap();
        await_ready(socket, &path, gone, move || {
            let _ = ready_tx.send(());
        })
        .await;
        ready_rx.await.unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn sends_to_an_abstract_socket() {
        let name = format!("drover-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        send(OsStr::new(&format!("@{name}")), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }
}
