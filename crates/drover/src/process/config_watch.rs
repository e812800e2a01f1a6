//! `reload = true` / `drover start --reload`: the app's own files (the
//! Procfile, the `.env` files, drover.toml) watched, and each burst of
//! changes to them, once quiet for the debounce, told as one `()`.
//!
//! The folders holding them are watched, not the files: an editor that
//! saves by writing a new file and renaming it over the old one replaces
//! the inode a watch on the file would follow. No polling.
//! Must not decide what a change does (`start` reloads).

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ::notify::event::{AccessKind, EventKind};
use ::notify::{RecursiveMode, Watcher as _};
use tokio::sync::{mpsc, watch};

/// Quiet time after the last change before the reload.
pub(crate) const DEBOUNCE: Duration = Duration::from_millis(200);

/// Watches `files` and calls `changed` after each quiet burst of changes,
/// until `stopped` is set; `changed` may take its time (the next burst
/// waits). Runs as a janitor job.
pub(crate) fn spawn<F, Fut>(files: &[PathBuf], mut stopped: watch::Receiver<bool>, changed: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let names: HashSet<(PathBuf, OsString)> = files
        .iter()
        .filter_map(|f| {
            let f = std::path::absolute(f).ok()?;
            Some((f.parent()?.to_path_buf(), f.file_name()?.to_os_string()))
        })
        .collect();
    let dirs: HashSet<PathBuf> = names.iter().map(|(d, _)| d.clone()).collect();
    janitor::job("config watcher").spawn(async move {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let watcher =
            ::notify::recommended_watcher(move |ev: ::notify::Result<::notify::Event>| {
                let ours = match &ev {
                    Ok(ev) => {
                        !matches!(
                            ev.kind,
                            EventKind::Access(AccessKind::Open(_) | AccessKind::Read)
                        ) && ev.paths.iter().any(|p| is_one_of(p, &names))
                    }
                    // An overflow may have hidden a change: reload to be sure.
                    Err(_) => true,
                };
                if ours {
                    // Gone only once drover is stopping.
                    let _ = tx.send(());
                }
            });
        let mut watcher = match watcher {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!("cannot watch the app's files ({e}): no reload on change");
                return;
            }
        };
        for dir in &dirs {
            if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
                tracing::warn!(
                    "cannot watch {} ({e}): no reload on its changes",
                    dir.display()
                );
            }
        }
        loop {
            tokio::select! {
                Some(()) = rx.recv() => {}
                _ = stopped.wait_for(|s| *s) => break,
            }
            // Quiet for the debounce: what else came meanwhile is the same burst.
            loop {
                tokio::select! {
                    Some(()) = rx.recv() => continue,
                    () = tokio::time::sleep(DEBOUNCE) => break,
                    _ = stopped.wait_for(|s| *s) => return,
                }
            }
            changed().await;
        }
    });
}

/// Whether `path` is one of the watched files (by folder and name).
fn is_one_of(path: &Path, names: &HashSet<(PathBuf, OsString)>) -> bool {
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => names.contains(&(dir.to_path_buf(), name.to_os_string())),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_files_count() {
        let names: HashSet<(PathBuf, OsString)> = [(PathBuf::from("/app"), "Procfile".into())]
            .into_iter()
            .collect();
        assert!(is_one_of(Path::new("/app/Procfile"), &names));
        assert!(!is_one_of(Path::new("/app/Procfile.swp"), &names));
        assert!(!is_one_of(Path::new("/other/Procfile"), &names));
    }
}
