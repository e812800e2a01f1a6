//! What `start` sets up beside the supervisor that is neither a reader nor
//! the control server: drover's window size followed for the processes on
//! a pty, a reload when the app's own files change, and `--cgroup`'s root.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

use crate::control::server::Replan;
use crate::process::terminals::Terminals;
use crate::supervisor::{Command, ControlRequest};

/// Gives every pty without an attached client drover's window size
/// whenever drover's terminal is resized (SIGWINCH).
pub(super) fn follow_window_size(terminals: Arc<Terminals>, mut stopped: watch::Receiver<bool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut winch = match signal(SignalKind::window_change()) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!("cannot follow the window size: {e}");
            return;
        }
    };
    janitor::job("window size").spawn(async move {
        loop {
            // Both are cancel-safe; the job ends when drover stops.
            tokio::select! {
                Some(()) = winch.recv() => {
                    terminals.resize_all(crate::process::pty::drover_size());
                }
                // Every process is gone: nothing left to resize.
                _ = stopped.wait_for(|s| *s) => break,
            }
        }
    });
}

/// `reload = true` / `--reload`: each quiet burst of changes to `files`
/// (the Procfile, the .env files, drover.toml) reloads as `drover reload`
/// does. A plan that does not read is said once per burst, and nothing
/// changes.
pub(super) fn reload_on_change(
    files: &[PathBuf],
    replan: Replan,
    requests: mpsc::UnboundedSender<ControlRequest>,
    stopped: watch::Receiver<bool>,
) {
    crate::process::config_watch::spawn(files, stopped, move || {
        let replan = Arc::clone(&replan);
        let requests = requests.clone();
        async move {
            let specs = match replan() {
                Ok(specs) => specs,
                Err(e) => {
                    tracing::warn!("reload: {e}; nothing changed");
                    return;
                }
            };
            let (reply, answer) = oneshot::channel();
            let command = Command::Reload { specs };
            // The supervisor is gone only once drover is stopping.
            if requests.send(ControlRequest { command, reply }).is_ok() {
                if let Ok(Err(refusal)) = answer.await {
                    tracing::warn!("reload: {}", refusal.0);
                }
            }
        }
    });
}

/// The app's own files, for `--reload`: the Procfile, the .env files and
/// drover.toml (also when there is none yet).
pub(super) fn app_files(plan: &crate::plan::Plan) -> Vec<PathBuf> {
    std::iter::once(plan.procfile.clone())
        .chain(plan.env_files.iter().cloned())
        .chain(std::iter::once(
            plan.config_file
                .clone()
                .unwrap_or_else(|| plan.root.join("drover.toml")),
        ))
        .collect()
}

/// With `--cgroup`: drover's cgroup and an empty table of the starts' own.
pub(super) fn cgroups() -> Option<(
    crate::process::cgroup::CgroupRoot,
    std::collections::HashMap<crate::types::Pid, crate::process::cgroup::Cgroup>,
)> {
    match crate::process::cgroup::CgroupRoot::create() {
        Ok(root) => Some((root, std::collections::HashMap::new())),
        Err(e) => {
            tracing::warn!("--cgroup: cgroups cannot be used here ({e}); each process runs in its process group only");
            None
        }
    }
}
