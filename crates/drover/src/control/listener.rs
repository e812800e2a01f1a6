//! Binding the control socket of `drover start`: where it goes, and what
//! may already be there.
//!
//! A stale socket file (nobody listens) is replaced; a live one means a
//! drover runs already, and whose it is is said (another user's socket in a
//! shared folder must not pass for ours). A path too long for a socket
//! address is bound through its folder; a socket that cannot be made in the
//! root at all (a read-only folder) goes to the root's place in the runtime
//! folder, and a `system` line says where. It is never silently dropped.
//!
//! Serving connections is the server's business, not this module's.

use std::io;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::UnixListener;

use super::endpoint;

/// How long `start` waits for an existing socket to take a connection
/// before taking it for a live but swamped drover.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A bound control socket; the file is removed when this is dropped.
#[derive(Debug)]
pub struct ControlSocket {
    pub(super) listener: UnixListener,
    path: PathBuf,
    inode: u64,
}

/// Why the socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Another drover of this user answers on this socket.
    #[error("drover is already running here: {0} answers (stop it with `drover shutdown`, or give another --socket)")]
    AlreadyRunning(PathBuf),
    /// The socket belongs to another user.
    #[error("{path} belongs to another user, {owner}: a drover of theirs (or a socket passing for one) is there; nothing was started (ask them to stop it, or give another --socket)")]
    OtherUser {
        /// The socket path.
        path: PathBuf,
        /// Its user, named.
        owner: String,
    },
    /// The socket could not be made.
    #[error("cannot create the control socket {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Neither in the root nor in the runtime folder.
    #[error("cannot create the control socket {path} ({why}), nor {fallback} in the runtime folder: {source}")]
    Nowhere {
        /// The socket path asked for.
        path: PathBuf,
        /// Why it could not be made there.
        why: String,
        /// The runtime folder's socket for the root.
        fallback: PathBuf,
        /// Why that could not be made either.
        #[source]
        source: io::Error,
    },
}

impl ControlSocket {
    /// Binds `path`; if it cannot be made there, binds the root's socket in
    /// the runtime folder instead and says so in a `system` line. A live
    /// drover at either place is an error. Must be called inside the
    /// runtime, with logging installed.
    pub fn bind_for_root(path: &Path, root: &Path) -> Result<Self, BindError> {
        let why = match Self::bind(path) {
            Err(BindError::Io { source, .. }) => source,
            done => return done,
        };
        let io_err = |fallback: PathBuf| {
            let why = why.to_string();
            move |source| BindError::Nowhere {
                path: path.to_path_buf(),
                why,
                fallback,
                source,
            }
        };
        let fallback = endpoint::fallback(root).map_err(io_err("(none)".into()))?;
        match Self::bind(&fallback) {
            Ok(socket) => {
                tracing::warn!(
                    "the control socket cannot be made at {} ({why}); it is {} instead, where `drover ps` and the other commands run in {} find it",
                    path.display(),
                    fallback.display(),
                    root.display()
                );
                Ok(socket)
            }
            Err(BindError::Io { source, .. }) => Err(io_err(fallback)(source)),
            Err(e) => Err(e),
        }
    }

    /// Binds `path`, replacing a stale socket file left by a crashed drover.
    /// Must be called inside the runtime.
    pub fn bind(path: &Path) -> Result<Self, BindError> {
        let io_err = |source| BindError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(io_err(io::Error::other(
                    "a file that is not a socket is in the way",
                )));
            }
            check_existing(path, meta.uid())?;
        }
        let reach = endpoint::reachable(path).map_err(io_err)?;
        let std_listener = std::os::unix::net::UnixListener::bind(&reach.path).map_err(io_err)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_err)?;
        std_listener.set_nonblocking(true).map_err(io_err)?;
        let inode = std::fs::metadata(path).map_err(io_err)?.ino();
        let listener = UnixListener::from_std(std_listener).map_err(io_err)?;
        Ok(Self {
            listener,
            path: path.to_path_buf(),
            inode,
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Decides about the socket file already at `path`, owned by `file_uid`:
/// removes it if nobody listens, else says whose drover listens.
fn check_existing(path: &Path, file_uid: u32) -> Result<(), BindError> {
    let io_err = |source| BindError::Io {
        path: path.to_path_buf(),
        source,
    };
    let other_user = |uid| BindError::OtherUser {
        path: path.to_path_buf(),
        owner: endpoint::user(uid),
    };
    match endpoint::connect(path, PROBE_TIMEOUT) {
        Ok(stream) => match endpoint::peer_uid(&stream) {
            Ok(uid) if uid != endpoint::own_uid() => Err(other_user(uid)),
            _ => Err(BindError::AlreadyRunning(path.to_path_buf())),
        },
        // A queue that stays full: a drover, stopped or swamped.
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            if file_uid == endpoint::own_uid() {
                Err(BindError::AlreadyRunning(path.to_path_buf()))
            } else {
                Err(other_user(file_uid))
            }
        }
        // Not ours to connect to: another user's socket, live or not.
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Err(other_user(file_uid)),
        // Nobody listens: a crashed drover's socket. Replace it.
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            std::fs::remove_file(path).map_err(io_err)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(e)),
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        // Remove the file only if it is still ours (not a later drover's).
        if std::fs::metadata(&self.path).is_ok_and(|m| m.ino() == self.inode) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
