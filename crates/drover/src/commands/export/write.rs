//! Writing an export's files: into DEST, a folder (systemd, Kubernetes) or
//! one file (supervisord), creating the folders it needs, and never
//! overwriting a file without `--force`. It writes all or, when it refuses,
//! nothing.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use super::{bad_option, ExportError};
use crate::cli::ExportFormat;

/// Writes `files`, refusing to overwrite any unless `force`: all are checked
/// before the first is written, so a refusal writes nothing.
pub(crate) fn write_files(
    dest: &Path,
    format: ExportFormat,
    files: &[(PathBuf, String)],
    force: bool,
) -> Result<(), ExportError> {
    match format {
        ExportFormat::Systemd | ExportFormat::Kubernetes => {
            if dest.exists() && !dest.is_dir() {
                return Err(bad_option(
                    "DEST",
                    format!("{} is not a folder", dest.display()),
                    Some("systemd and kubernetes exports write several files into a folder"),
                ));
            }
            fs::create_dir_all(dest).map_err(|source| ExportError::Write {
                path: dest.to_path_buf(),
                source,
            })?;
        }
        ExportFormat::Supervisord => {
            if dest.is_dir() {
                return Err(bad_option(
                    "DEST",
                    format!("{} is a folder", dest.display()),
                    Some("supervisord exports one file: name it, e.g. /etc/supervisor/conf.d/app.conf"),
                ));
            }
            // Its folder is made as the other formats make DEST.
            if let Some(folder) = dest.parent().filter(|f| !f.as_os_str().is_empty()) {
                fs::create_dir_all(folder).map_err(|source| ExportError::Write {
                    path: folder.to_path_buf(),
                    source,
                })?;
            }
        }
    }
    if !force {
        if let Some((path, _)) = files.iter().find(|(p, _)| p.exists()) {
            return Err(ExportError::Exists { path: path.clone() });
        }
    }
    for (path, text) in files {
        let mut options = fs::OpenOptions::new();
        options.write(true);
        if force {
            options.create(true).truncate(true);
        } else {
            // Another writer may have created it since the check above.
            options.create_new(true);
        }
        let result = options
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(ExportError::Exists { path: path.clone() })
            }
            Err(source) => {
                return Err(ExportError::Write {
                    path: path.clone(),
                    source,
                })
            }
        }
    }
    Ok(())
}
