//! Lifecycle events: what happened to a process, as data, for `drover
//! events`, `--output json` and hooks. The core only says that something
//! happened ([`Action::Event`]); the shell stamps the time, formats it and
//! passes it on.
//!
//! Owns: the event kinds and their fields. Must not: format JSON, know the
//! wall clock, or run hooks.

use std::time::Duration;

use super::state::{Phase, Proc, Ready, Then};
use super::{Action, Core};
use crate::plan::Probe;
use crate::types::{Exit, Pid};

/// One lifecycle event of a process (or of drover, for `shutdown`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LifeEvent {
    /// The instance it is about, by index and name; none for `shutdown`.
    pub process: Option<(usize, String)>,
    /// What happened.
    pub kind: EventKind,
}

/// The kinds of lifecycle event and their fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EventKind {
    /// It is being spawned.
    Starting,
    /// It runs as `pid`.
    Started { pid: Pid },
    /// Its readiness check passed `after` its start.
    Ready {
        after: Duration,
        probe: Option<&'static str>,
    },
    /// A try of its readiness check failed: said on the first error and
    /// again when the error changes.
    ProbeFailed { error: String },
    /// Its leader ended after running `ran`; `failed` when nobody asked it
    /// to stop and it did not end with status 0.
    Exited {
        exit: Exit,
        ran: Duration,
        failed: bool,
    },
    /// It will be started again after `delay`; `count` restarts in a row.
    Restarting { delay: Duration, count: u32 },
    /// Its stop ladder begins, for `reason`.
    Stopping { reason: String },
    /// It was sent SIGKILL.
    Killed,
    /// It was paused (SIGTSTP).
    Paused,
    /// It was resumed (SIGCONT).
    Resumed,
    /// Its configuration was reloaded.
    Reloaded,
    /// A watched file changed: these files.
    WatchTriggered { files: Vec<String> },
    /// drover begins to stop everything, for `reason`.
    Shutdown { reason: String },
}

impl EventKind {
    /// The `event` field: `probe_failed`, `watch_triggered`, …
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Starting => "starting",
            EventKind::Started { .. } => "started",
            EventKind::Ready { .. } => "ready",
            EventKind::ProbeFailed { .. } => "probe_failed",
            EventKind::Exited { .. } => "exited",
            EventKind::Restarting { .. } => "restarting",
            EventKind::Stopping { .. } => "stopping",
            EventKind::Killed => "killed",
            EventKind::Paused => "paused",
            EventKind::Resumed => "resumed",
            EventKind::Reloaded => "reloaded",
            EventKind::WatchTriggered { .. } => "watch_triggered",
            EventKind::Shutdown { .. } => "shutdown",
        }
    }
}

/// The `probe` field of `ready`: which kind of check passed.
pub(super) fn probe_kind(probe: &Probe) -> &'static str {
    match probe {
        Probe::Tcp(_) => "tcp",
        Probe::Http { .. } => "http",
        Probe::Command(_) => "command",
        Probe::Log(_) => "log",
        Probe::Notify => "notify",
    }
}

/// Event `kind` of process `index`, named `name`, as an action.
pub(super) fn action(index: usize, name: &str, kind: EventKind) -> Action {
    Action::Event(LifeEvent {
        process: Some((index, name.to_string())),
        kind,
    })
}

/// The `reason` of a `stopping` event: why the ladder of `p` begins.
pub(super) fn stop_reason(p: &Proc, phase: Phase, stopping: bool) -> String {
    let reason = if stopping {
        "shutdown"
    } else if matches!(phase, Phase::Lingering(_)) {
        // Its leader ended; what it left in its group is stopped.
        "exited"
    } else {
        match p.run() {
            Some(r) if r.then == Then::Restart => "restart",
            Some(r) if r.then == Then::Stop => "stop",
            Some(r) if r.ready == Ready::TimedOut => "not_ready",
            _ => "requested",
        }
    };
    reason.to_string()
}

impl Core {
    /// Says that `kind` happened to process `index`.
    pub(super) fn emit(&mut self, index: usize, kind: EventKind) {
        let name = self.procs[index].spec.name.clone();
        self.out.push(Action::Event(LifeEvent {
            process: Some((index, name)),
            kind,
        }));
    }

    /// Says that drover begins to stop, for `reason`.
    pub(super) fn emit_shutdown(&mut self, reason: String) {
        self.out.push(Action::Event(LifeEvent {
            process: None,
            kind: EventKind::Shutdown { reason },
        }));
    }
}
