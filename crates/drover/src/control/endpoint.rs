//! Where a control socket is, how to reach it, and who is behind it; shared
//! by the server and the clients.
//!
//! - A Unix socket address holds a path of at most [`MAX_SOCKET_PATH`]
//!   bytes. A longer path is reached through its folder, opened with
//!   `O_PATH`, as `/proc/self/fd/N/NAME`: the socket still lives where it
//!   was asked to be, and clients reach it the same way.
//! - When a root's socket cannot be made at all (a read-only folder, no
//!   `/proc`), the server binds [`fallback`] in this user's runtime folder
//!   instead, keyed by the root; clients given no path look there when
//!   `.drover.sock` in the current folder does not answer ([`candidates`]).
//! - Who is behind a socket: the peer's uid (`SO_PEERCRED`) and that user's
//!   name, for messages.
//! - Clients connect with a deadline ([`connect`]): a listener whose queue
//!   is full (a stopped or swamped drover) must not hang them.
//!
//! This module decides nothing: whether another user's socket is refused,
//! and what to tell the user, is the caller's business.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd as _, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::net::{sockopt, AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::plan::DEFAULT_SOCKET;
use crate::process::runtime;

/// The longest path a Unix socket address holds (108 bytes with the NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// A path short enough for a socket address, and the folder descriptor
/// that keeps it meaning the path it stands for (while this lives).
#[derive(Debug)]
pub(crate) struct Reachable {
    /// The path itself, or `/proc/self/fd/N/NAME`.
    pub(crate) path: PathBuf,
    _dir: Option<OwnedFd>,
}

/// `path` as a socket address can hold it: itself if short enough, else
/// through its folder's descriptor.
pub(crate) fn reachable(path: &Path) -> io::Result<Reachable> {
    if path.as_os_str().len() <= MAX_SOCKET_PATH {
        return Ok(Reachable {
            path: path.to_path_buf(),
            _dir: None,
        });
    }
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("the socket path names no file"))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = rustix::fs::open(
        parent,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let short = Path::new("/proc/self/fd")
        .join(dir.as_raw_fd().to_string())
        .join(name);
    if short.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the file name is too long for a Unix socket ({} bytes at most)",
                MAX_SOCKET_PATH - "/proc/self/fd/NNNN/".len()
            ),
        ));
    }
    if !Path::new("/proc/self/fd").is_dir() {
        return Err(io::Error::other(
            "the path is too long for a Unix socket (108 bytes at most), and /proc, which reaches it through its folder, is not mounted",
        ));
    }
    Ok(Reachable {
        path: short,
        _dir: Some(dir),
    })
}

/// The socket of the drover in `root` when the root's own cannot be made:
/// a file in this user's private runtime folder, the same for every
/// spelling of the root.
pub fn fallback(root: &Path) -> io::Result<PathBuf> {
    runtime::key_path(root, "sock")
}

/// Where a client looks, in order: the path it was given; else
/// `.drover.sock` in the current folder, then the current folder's
/// [`fallback`] if that file exists.
pub fn candidates(given: Option<&Path>) -> Vec<PathBuf> {
    if let Some(path) = given {
        return vec![path.to_path_buf()];
    }
    let mut found = vec![PathBuf::from(DEFAULT_SOCKET)];
    if let Some(path) = std::env::current_dir()
        .ok()
        .and_then(|cwd| fallback(&cwd).ok())
    {
        if std::fs::symlink_metadata(&path).is_ok() {
            found.push(path);
        }
    }
    found
}

/// Connects to the socket at `path`, giving up after `timeout` if the
/// listener's queue stays full (an error of kind `WouldBlock`); reads and
/// writes on the stream then time out after `timeout` too.
pub(crate) fn connect(path: &Path, timeout: Duration) -> io::Result<UnixStream> {
    let reach = reachable(path)?;
    let addr = SocketAddrUnix::new(reach.path.as_path())?;
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    // A Unix socket's connect waits for room in the listener's queue for
    // as long as the send timeout allows, then fails with EAGAIN.
    sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, Some(timeout))?;
    rustix::net::connect(&fd, &addr)?;
    let stream = UnixStream::from(fd);
    stream.set_read_timeout(Some(timeout))?;
    Ok(stream)
}

/// The uid of the process at the other end of a connected Unix socket, as
/// it was when the socket was bound or connected.
pub(crate) fn peer_uid(socket: impl AsFd) -> io::Result<u32> {
    Ok(sockopt::socket_peercred(socket)?.uid.as_raw())
}

/// This process's uid.
pub(crate) fn own_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// `nobody (uid 65534)`, or `uid 65534` for a uid without a name.
pub(crate) fn user(uid: u32) -> String {
    match user_name(uid) {
        Some(name) => format!("{name} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

/// The login name of `uid`, from the password database.
fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: an all-zero passwd is a valid value for getpwuid_r to fill.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call, and the buffer's length
    // is the one given.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded, so pw_name points to a NUL-terminated
    // string inside `buf`, which is still alive.
    let name = unsafe { CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_path_is_reached_through_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("d".repeat(60)).join("e".repeat(60));
        std::fs::create_dir_all(&deep).unwrap();
        let path = deep.join(".drover.sock");
        assert!(path.as_os_str().len() > MAX_SOCKET_PATH);
        let reach = reachable(&path).unwrap();
        let listener = std::os::unix::net::UnixListener::bind(&reach.path).unwrap();
        assert!(path.exists(), "the socket is in its folder");
        let stream = connect(&path, Duration::from_secs(5)).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert_eq!(peer_uid(&stream).unwrap(), own_uid());
        assert_eq!(peer_uid(&accepted).unwrap(), own_uid());
    }

    #[test]
    fn a_short_path_is_itself() {
        let reach = reachable(Path::new(".drover.sock")).unwrap();
        assert_eq!(reach.path, Path::new(".drover.sock"));
    }

    #[test]
    fn users_are_named_when_they_have_a_name() {
        assert_eq!(user(0), "root (uid 0)");
        assert_eq!(user(4_000_000_000), "uid 4000000000");
    }
}
