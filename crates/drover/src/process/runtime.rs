//! This user's runtime folder, where drover keeps what must outlive one
//! process but not a reboot: the lock of each root and the keeper's state.

use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// This user's folder for drover's runtime files: `$XDG_RUNTIME_DIR/drover`,
/// else (no such folder, or not writable) `drover-UID` in the temp folder.
/// Made with mode 0700; one that another user owns, or that others may
/// enter, is refused.
pub fn runtime_dir() -> io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt as _;
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let make = |dir: PathBuf| -> io::Result<PathBuf> {
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let meta = std::fs::symlink_metadata(&dir)?;
        if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
            return Err(io::Error::other(format!(
                "{} is not a private folder of this user (owner uid {}, mode {:o})",
                dir.display(),
                meta.uid(),
                meta.mode() & 0o7777
            )));
        }
        Ok(dir)
    };
    if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        if let Ok(dir) = make(PathBuf::from(xdg).join("drover")) {
            return Ok(dir);
        }
    }
    make(std::env::temp_dir().join(format!("drover-{uid}")))
}

/// `NAME-HASH.EXT` in this user's runtime folder, one per root: the same
/// root (however it is spelled) always gives the same path.
pub fn key_path(root: &Path, ext: &str) -> io::Result<PathBuf> {
    let dir = runtime_dir()?;
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    // FNV-1a: stable across runs and versions, unlike the std hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in root.as_os_str().as_encoded_bytes() {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    Ok(dir.join(format!("root-{h:016x}.{ext}")))
}
