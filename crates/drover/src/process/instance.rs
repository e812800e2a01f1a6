//! One drover per root: an exclusive `flock` on a file in this user's
//! runtime folder, keyed by the root, taken before anything starts.
//!
//! The control socket alone cannot decide it: two drovers starting at once
//! both find no live socket, and a socket that cannot be made (a read-only
//! folder, a path too long) says nothing. The lock is held by an open file
//! description that every start's children lose at `exec` (close-on-exec),
//! and the kernel drops it when drover dies however it dies, so a stale lock
//! cannot exist.

use std::fs::File;
use std::io::{self, Read as _, Seek as _, Write as _};
use std::os::fd::AsFd as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use crate::process::runtime::key_path;

/// The lock of the drover running in one root. Dropping it releases it.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    path: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another drover holds it.
    #[error("drover is already running here (pid {pid}, in {root}): stop it with `drover shutdown`, or start in another folder")]
    Held {
        /// Its pid, as it wrote it (0 if unknown).
        pid: u32,
        /// The root both were started in.
        root: String,
    },
    /// The lock file could not be made or locked.
    #[error("cannot take the lock {path} that keeps two drovers out of one folder")]
    Io {
        /// The lock file.
        path: String,
        /// What failed.
        #[source]
        source: io::Error,
    },
}

impl InstanceLock {
    /// Takes the lock for `root`, or says who holds it.
    pub fn acquire(root: &Path) -> Result<Self, LockError> {
        let path = key_path(root, "lock").map_err(|source| LockError::Io {
            path: "(the runtime folder)".into(),
            source,
        })?;
        let io_err = |source| LockError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = loop {
            let mut file = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io_err)?;
            match rustix::fs::flock(
                file.as_fd(),
                rustix::fs::FlockOperation::NonBlockingLockExclusive,
            ) {
                Ok(()) => {}
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    return Err(LockError::Held {
                        pid: text.trim().parse().unwrap_or(0),
                        root: root.display().to_string(),
                    });
                }
                Err(e) => return Err(io_err(e.into())),
            }
            // The holder before us removes the file as it lets go: locked,
            // ours is only the lock if it is still the file at the path.
            let same = std::fs::metadata(&path)
                .ok()
                .zip(file.metadata().ok())
                .is_some_and(|(at_path, ours)| at_path.ino() == ours.ino());
            if same {
                break file;
            }
        };
        // Ours: say who holds it, for the next one's message.
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = writeln!(file, "{}", std::process::id());
        Ok(Self { _file: file, path })
    }
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        // Removed while still locked, so the folder does not fill with one
        // file per root ever used; a drover that opened it meanwhile sees
        // that it is no longer at the path and tries again.
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_root_is_refused_until_the_first_drops() {
        let dir = tempfile::tempdir().unwrap();
        let first = InstanceLock::acquire(dir.path()).unwrap();
        match InstanceLock::acquire(dir.path()) {
            Err(LockError::Held { pid, .. }) => assert_eq!(pid, std::process::id()),
            other => panic!("{other:?}"),
        }
        let other = tempfile::tempdir().unwrap();
        let _elsewhere = InstanceLock::acquire(other.path()).unwrap();
        drop(first);
        let file = crate::process::runtime::key_path(dir.path(), "lock").unwrap();
        assert!(!file.exists(), "the lock file goes with its lock");
        let _again = InstanceLock::acquire(dir.path()).unwrap();
        assert!(file.exists());
    }

    #[test]
    fn key_paths_depend_on_the_root_only() {
        use crate::process::runtime::key_path;
        let a = key_path(Path::new("/srv/app"), "lock").unwrap();
        assert_eq!(a, key_path(Path::new("/srv/app"), "lock").unwrap());
        assert_ne!(a, key_path(Path::new("/srv/other"), "lock").unwrap());
        assert_ne!(a, key_path(Path::new("/srv/app"), "sock").unwrap());
    }
}
