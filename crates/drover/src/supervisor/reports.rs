//! What the supervisor reports, as typed values: the rows of `drover ps`,
//! the rows of the failure digest, and the exit status with its reason.
//!
//! Pure data and its wording. Knows nothing of the process table (the core
//! fills these in), of the wire (the control server maps them to the
//! protocol) or of where they are printed.

use std::fmt;

use crate::types::{Exit, Pid};

/// One row of `drover ps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PsRow {
    /// `web.1`.
    pub name: String,
    /// Its pid while running.
    pub pid: Option<Pid>,
    /// What it is doing.
    pub state: PsState,
    /// It runs and is ready (it passed its readiness check, or has none).
    pub ready: bool,
    /// Seconds since the current run started, while running.
    pub uptime_secs: Option<u64>,
    /// How many times it was started again.
    pub restarts: u32,
    /// How the last start ended.
    pub last_exit: Option<Exit>,
    /// Why it waits or is not ready yet: `waiting: db.1 not ready (...)`.
    pub why: Option<String>,
}

/// The state column of `drover ps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PsState {
    Paused,
    Stopping,
    Ready,
    Running,
    Starting,
    Waiting,
    Restarting,
    Exited,
    Stopped,
    Failed(String),
    /// `autostart = false`, and not started yet.
    NotStarted,
}

impl fmt::Display for PsState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PsState::Paused => "paused",
            PsState::Stopping => "stopping",
            PsState::Ready => "ready",
            PsState::Running | PsState::Starting => "running",
            PsState::Waiting => "waiting",
            PsState::Restarting => "restarting",
            PsState::Exited => "exited",
            PsState::Stopped => "stopped",
            PsState::NotStarted => "not started",
            PsState::Failed(why) => return write!(f, "failed: {why}"),
        })
    }
}

/// One row of the failure digest, without output lines (the log hub has
/// those; the caller adds them).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DigestRow {
    /// `web.1`.
    pub name: String,
    /// `exited with code 3`, `running`, `never started: …`.
    pub result: String,
    /// The last exit as a shell status.
    pub exit_status: Option<u8>,
    /// How many times it was started again.
    pub restarts: u32,
    /// Seconds it ran, over all its starts.
    pub ran_secs: f64,
    /// Its last run ended on its own with a failure, or needed SIGKILL to
    /// stop, or it could not start.
    pub failed: bool,
    /// An earlier run failed, the last did not: the digest shows the lines
    /// of the last failed run.
    pub recovered: bool,
}

/// How drover's stop came about, as far as the exit status cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// A process ended on its own.
    Exited { name: String, exit: Exit },
    /// A process could not be started.
    SpawnFailed { name: String },
    /// A signal, a closed stdout, `drover shutdown`, or nothing left to run.
    Requested,
    /// Writing stdout failed for another reason than a closed pipe (a full
    /// disk): the output was not all written.
    OutputFailed { error: String },
}

/// drover's exit status and why: the one table (see the crate docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExitReport {
    /// The status.
    pub status: u8,
    /// Why, for the last system line.
    pub how: String,
}

impl ExitReport {
    /// The status for `ending` when `killed` needed SIGKILL during the stop.
    pub fn new(ending: Ending, killed: &[String]) -> Self {
        let status = match &ending {
            Ending::Exited { exit, .. } => exit.status(),
            Ending::SpawnFailed { .. } => 1,
            Ending::Requested => u8::from(!killed.is_empty()),
            Ending::OutputFailed { .. } => 1,
        };
        let how = match ending {
            Ending::Exited { name, exit } => {
                format!("status of {name}, which {}", exit.describe())
            }
            Ending::SpawnFailed { name } => format!("{name} could not be started"),
            Ending::Requested if killed.is_empty() => "every process stopped in time".to_string(),
            Ending::Requested => format!("SIGKILL was needed for {}", killed.join(", ")),
            Ending::OutputFailed { error } => format!("writing stdout failed: {error}"),
        };
        Self { status, how }
    }
}

/// `123 (sleep 300), 456 (sh -c …)`.
pub(crate) fn describe(procs: &[(Pid, String)]) -> String {
    procs
        .iter()
        .map(|(p, c)| format!("{p} ({c})"))
        .collect::<Vec<_>>()
        .join(", ")
}
