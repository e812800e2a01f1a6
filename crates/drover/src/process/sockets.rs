//! The listening sockets of `sockets = [...]`: bound once, before anything
//! starts, and held by drover for its whole run, so that each start of a
//! process gets the same sockets (`LISTEN_FDS`) and a connection made while
//! it restarts waits in the socket's queue instead of being refused.
//!
//! Owns the descriptors (close-on-exec in drover; `child` hands copies to
//! each start) and the Unix socket files, removed when drover is done.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use rustix::net::{sockopt, AddressFamily, SocketType};

use crate::plan::{ConfigError, ProcessSpec, SocketAddr};

/// How many connections wait for `accept` while the process restarts.
const BACKLOG: i32 = 1024;

/// Every instance's bound sockets, by the instance's index.
#[derive(Debug, Default)]
pub(crate) struct Sockets {
    by_index: Vec<Vec<(String, OwnedFd)>>,
    /// Unix socket files made here, with their instance's index; removed
    /// when that instance lets them go, or on drop.
    files: Vec<(usize, PathBuf)>,
}

/// One instance's sockets, bound, and the Unix socket files made for them.
type Bound = (Vec<(String, OwnedFd)>, Vec<PathBuf>);

impl Sockets {
    /// Binds the sockets of every instance of `specs`. A socket that cannot
    /// be bound is an error naming the process and the address; then
    /// nothing is left bound.
    pub(crate) fn bind(specs: &[ProcessSpec]) -> Result<Self, ConfigError> {
        let mut out = Sockets::default();
        for (index, spec) in specs.iter().enumerate() {
            out.add(index, spec)?;
        }
        Ok(out)
    }

    /// Binds the sockets of `spec`, the instance at `index` in the table:
    /// one at the start, or one added at run time (`drover scale`,
    /// `drover reload`).
    pub(crate) fn add(&mut self, index: usize, spec: &ProcessSpec) -> Result<(), ConfigError> {
        let bound = bind_spec(spec)?;
        self.install(index, bound);
        Ok(())
    }

    /// `spec`'s sockets changed (`drover reload`): the new ones are bound
    /// first, then the old ones let go; if the new ones cannot be bound
    /// (the same address, still held), the instance keeps the old ones.
    pub(crate) fn replace(&mut self, index: usize, spec: &ProcessSpec) -> Result<(), ConfigError> {
        let bound = bind_spec(spec)?;
        self.release(index);
        self.install(index, bound);
        Ok(())
    }

    /// The instance at `index` is retired: drover stops holding its
    /// sockets (a connection is refused once its process is gone) and
    /// removes its Unix socket files.
    pub(crate) fn release(&mut self, index: usize) {
        if let Some(mine) = self.by_index.get_mut(index) {
            mine.clear();
        }
        self.files.retain(|(i, f)| {
            if *i == index {
                let _ = std::fs::remove_file(f);
            }
            *i != index
        });
    }

    fn install(&mut self, index: usize, (mine, files): Bound) {
        if self.by_index.len() <= index {
            self.by_index.resize_with(index + 1, Vec::new);
        }
        self.by_index[index] = mine;
        self.files.extend(files.into_iter().map(|f| (index, f)));
    }

    /// The sockets of the instance at `index`, in `LISTEN_FDS` order.
    pub(crate) fn of(&self, index: usize) -> &[(String, OwnedFd)] {
        self.by_index.get(index).map_or(&[], Vec::as_slice)
    }
}

/// Binds every socket of `spec`; on an error, what was bound is let go.
fn bind_spec(spec: &ProcessSpec) -> Result<Bound, ConfigError> {
    let mut mine = Vec::new();
    let mut files = Vec::new();
    for s in &spec.sockets {
        let bound = match &s.addr {
            SocketAddr::Tcp(text) => crate::plan::resolve_tcp(text, &spec.env)
                .map_err(|e| e.to_string())
                .and_then(|text| {
                    bind_tcp(&text).map_err(|e| format!("cannot listen on {text}: {e}"))
                }),
            SocketAddr::Unix(path) => bind_unix(path)
                .inspect(|_| files.push(path.clone()))
                .map_err(|e| format!("cannot listen on {}: {e}", path.display())),
        };
        match bound {
            Ok(fd) => mine.push((s.name.clone(), fd)),
            Err(message) => {
                for f in &files {
                    let _ = std::fs::remove_file(f);
                }
                return Err(ConfigError::Cli {
                    option: "sockets",
                    message: format!("{}: socket {}: {message}", spec.name, s.name),
                    hint: Some(
                        "stop what listens there, or give the process another address".into(),
                    ),
                });
            }
        }
    }
    Ok((mine, files))
}

impl Drop for Sockets {
    fn drop(&mut self) {
        for (_, f) in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

fn bind_tcp(text: &str) -> io::Result<OwnedFd> {
    let addr: std::net::SocketAddr = text
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "not IP:PORT"))?;
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?;
    // A restart of drover itself must not wait out TIME_WAIT.
    sockopt::set_socket_reuseaddr(&fd, true)?;
    rustix::net::bind(&fd, &addr)?;
    rustix::net::listen(&fd, BACKLOG)?;
    Ok(fd)
}

/// Binds `path`; a socket file left by a drover that is gone (nothing
/// accepts on it) is replaced, one something listens on is an error.
fn bind_unix(path: &Path) -> io::Result<OwnedFd> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let listener = match UnixListener::bind(path) {
        Ok(l) => l,
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            // Only a socket file is drover's to replace: a regular file at
            // a mistyped path is the user's.
            let is_socket = std::fs::symlink_metadata(path)
                .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()));
            if !is_socket {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "a file that is not a socket is there",
                ));
            }
            if UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "something listens there already",
                ));
            }
            std::fs::remove_file(path)?;
            UnixListener::bind(path)?
        }
        Err(e) => return Err(e),
    };
    let fd = OwnedFd::from(listener);
    rustix::net::listen(&fd, BACKLOG)?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_address_and_a_live_unix_socket_are_refused_a_stale_file_replaced() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = held.local_addr().unwrap().to_string();
        assert!(bind_tcp(&busy).is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/a.sock");
        let first = bind_unix(&path).unwrap();
        assert!(bind_unix(&path).is_err(), "something listens there");
        drop(first);
        // The file stays after its listener is gone: stale, replaced.
        assert!(path.exists());
        assert!(bind_unix(&path).is_ok());
        // A file that is no socket is never removed.
        let config = dir.path().join("config.yml");
        std::fs::write(&config, "keep me").unwrap();
        assert!(bind_unix(&config).is_err());
        assert_eq!(std::fs::read_to_string(&config).unwrap(), "keep me");
    }
}
