//! `drover wait [--timeout D] [NAME...]`: waits until a running drover's
//! processes (all, or those named) are ready, polling `ps` over the control
//! socket; says which one failed and why, or which are not ready at the
//! deadline. `run --with` waits the same way.
//!
//! Client side only: must not know the supervisor beyond the `ps` and
//! `digest` answers.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cli::WaitArgs;
use crate::control::client::{self, call, ClientError};
use crate::control::protocol::{DigestRow, ProcessInfo, Reply, Request};
use crate::control::terminal::clean;

/// How often `ps` is asked.
const POLL: Duration = Duration::from_millis(100);

/// How many last lines of a failed process are shown.
const FAILED_LINES: usize = 10;

/// Why the wait ended without every process ready.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// A process ended or failed.
    #[error("{name} {why}{}", lines_text(.last_lines))]
    Failed {
        /// `web.1`.
        name: String,
        /// `exited with code 3`, `failed: …`.
        why: String,
        /// Its last lines of output.
        last_lines: Vec<String>,
    },
    /// The deadline passed.
    #[error("not ready after {}: {}", crate::types::Duration::from(*.after), .waiting.join(", "))]
    Deadline {
        /// How long it waited.
        after: Duration,
        /// `web.1 (running)`, each not ready.
        waiting: Vec<String>,
    },
    /// drover exited while some were not ready.
    #[error("drover exited before these were ready: {}", .0.join(", "))]
    Gone(Vec<String>),
    /// No process has one of the names.
    #[error("no process is named {0}")]
    Unknown(String),
    /// The socket went quiet or refused.
    #[error(transparent)]
    Client(#[from] ClientError),
}

fn lines_text(lines: &[String]) -> String {
    let mut text = String::new();
    if !lines.is_empty() {
        text.push_str(&format!("; its last {} lines:", lines.len()));
        for l in lines {
            text.push_str("\n  | ");
            text.push_str(l);
        }
    }
    text
}

/// Runs `drover wait`; 0 once ready, 1 otherwise (said on stderr).
pub fn main(args: WaitArgs) -> u8 {
    let paths = client::socket_paths(args.client.socket.as_deref());
    let timeout = args.timeout.map_or(DEFAULT_TIMEOUT, |d| d.get());
    match wait_ready(&paths, &args.names, timeout, || false) {
        Ok(()) => 0,
        Err(e) => {
            // What the server sent is cleaned where it is taken in; a
            // client error may quote it as well.
            let text = match &e {
                WaitError::Client(c) => clean(&c.to_string()).into_owned(),
                other => other.to_string(),
            };
            eprintln!("drover: {text}");
            1
        }
    }
}

/// `--timeout`'s default.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Waits until every process of `names` (all when empty) is ready, for at
/// most `timeout`. Until drover answers, it is retried: it may still be
/// starting. `gave_up` is asked at each poll: true ends the wait as the
/// deadline does (`run --with`'s drover ended).
pub(crate) fn wait_ready(
    paths: &[PathBuf],
    names: &[String],
    timeout: Duration,
    mut gave_up: impl FnMut() -> bool,
) -> Result<(), WaitError> {
    let start = Instant::now();
    let mut last: Vec<ProcessInfo> = Vec::new();
    let mut answered = false;
    loop {
        match call(paths, Request::Ps) {
            Ok(Reply::Processes { processes }) => {
                let rows = selected(processes, names)?;
                if let Some(bad) = rows.iter().find(|r| failed(r)) {
                    return Err(failure(paths, bad));
                }
                if rows.iter().all(done) {
                    return Ok(());
                }
                last = rows;
                answered = true;
            }
            Ok(_) => {}
            Err(ClientError::NotRunning { .. }) if answered => {
                return Err(WaitError::Gone(not_done(&last)));
            }
            // Not listening yet: the deadline decides.
            Err(ClientError::NotRunning { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        if start.elapsed() >= timeout || gave_up() {
            let waiting = not_done(&last);
            let waiting = if waiting.is_empty() {
                vec!["drover did not answer".to_string()]
            } else {
                waiting
            };
            return Err(WaitError::Deadline {
                after: timeout,
                waiting,
            });
        }
        std::thread::sleep(POLL);
    }
}

/// `web.1 (running)` for each row not ready.
fn not_done(rows: &[ProcessInfo]) -> Vec<String> {
    rows.iter()
        .filter(|r| !done(r))
        .map(|r| format!("{} ({})", clean(&r.name), clean(&r.state)))
        .collect()
}

/// The rows of `names`: `web` is every instance of web, `web.2` one.
fn selected(rows: Vec<ProcessInfo>, names: &[String]) -> Result<Vec<ProcessInfo>, WaitError> {
    if names.is_empty() {
        // `autostart = false`, not started: not waited for unless named.
        return Ok(rows
            .into_iter()
            .filter(|r| r.state != "not started")
            .collect());
    }
    for n in names {
        if !rows.iter().any(|r| matches(&r.name, n)) {
            return Err(WaitError::Unknown(n.clone()));
        }
    }
    Ok(rows
        .into_iter()
        .filter(|r| names.iter().any(|n| matches(&r.name, n)))
        .collect())
}

fn matches(instance: &str, name: &str) -> bool {
    instance == name || instance.rsplit_once('.').is_some_and(|(p, _)| p == name)
}

/// Ready, or a one-off that ended well.
fn done(r: &ProcessInfo) -> bool {
    (r.ready && matches!(r.state.as_str(), "ready" | "running"))
        || (r.state == "exited" && r.exit_status == Some(0))
}

/// Ended for good: failed, stopped, or exited with a bad status.
fn failed(r: &ProcessInfo) -> bool {
    r.state.starts_with("failed")
        || r.state == "stopped"
        || (r.state == "exited" && r.exit_status != Some(0))
}

/// The failure of `row`, with its last lines from the digest.
fn failure(paths: &[PathBuf], row: &ProcessInfo) -> WaitError {
    let digest: Vec<DigestRow> = match call(
        paths,
        Request::Digest {
            lines: FAILED_LINES,
        },
    ) {
        Ok(Reply::Digest { digest }) => digest,
        _ => Vec::new(),
    };
    let found = digest.into_iter().find(|d| d.name == row.name);
    let why = match (&found, &row.last_exit) {
        (Some(d), _) if !d.result.is_empty() => d.result.clone(),
        (_, Some(exit)) => format!("{} (last exit: {exit})", row.state),
        _ => row.state.clone(),
    };
    let last_lines = found.map(|d| d.last_lines).unwrap_or_default();
    // The server's words may hold terminal controls: shown escaped.
    WaitError::Failed {
        name: clean(&row.name).into_owned(),
        why: clean(&why).into_owned(),
        last_lines: last_lines.iter().map(|l| clean(l).into_owned()).collect(),
    }
}
