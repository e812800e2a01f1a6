//! The process table's data: one [`Proc`] per instance, whose [`Life`] is a
//! single enum carrying what only that state has, and one [`Start`] per
//! start that still has something alive (a leader, a group, a pipe).
//!
//! Only data and the questions it answers about itself; no decisions.

use std::time::Duration;

use tokio::time::Instant;

use crate::plan::{Probe, ProcessSpec};
use crate::types::{Exit, Pid};

/// Where a process is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Life {
    /// Waiting for its dependencies.
    Waiting,
    /// Asked to be spawned as start `gen`; the answer is on its way.
    Starting {
        /// The start asked for.
        gen: u32,
    },
    /// Start `run.gen` runs.
    Running(Run),
    /// Ended; to be started again at `until`.
    Backoff {
        /// When to start it again.
        until: Instant,
    },
    /// Ended for good (its own exit decided it).
    Exited,
    /// Stopped, or never started because drover is stopping.
    Stopped {
        /// Stopped on request: drover waits for a `restart`.
        by_user: bool,
    },
    /// Could not be started, or its dependencies failed.
    Failed {
        /// Why, for `ps` and the digest.
        why: String,
    },
}

/// The current start of a running process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Run {
    /// Which start.
    pub gen: u32,
    /// Its leader, which is also its process group.
    pub pgid: Pid,
    /// When it was started.
    pub since: Instant,
    /// Whether it is ready.
    pub ready: Ready,
    /// What comes after this run ends.
    pub then: Then,
    /// Failed tries of its probe so far.
    pub tries: u32,
    /// The last failed try's error, said once and again on change.
    pub probe_error: Option<String>,
    /// Started again by `drover restart` after it had ended: a re-run
    /// one-off (an `exited_ok` dependency) then stops nothing when it ends.
    pub by_request: bool,
}

/// Readiness of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ready {
    /// Ready (or it has no readiness check).
    Yes,
    /// Not yet; a command probe runs next at this instant.
    No {
        /// When the next command probe is due.
        next_probe: Option<Instant>,
    },
    /// Not ready by its deadline: it is being stopped as failed.
    TimedOut,
}

/// What a user asked to happen once the current run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Then {
    /// Nothing: the restart policy decides.
    Decide,
    /// `drover stop`: stay stopped.
    Stop,
    /// `drover restart`: start again at once.
    Restart,
}

/// One start of a process: its group, its ladder and its readers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Start {
    /// Which start.
    pub gen: u32,
    /// Its leader and group.
    pub pgid: Pid,
    /// Whether its leader and group are still there.
    pub phase: Phase,
    /// How far down the stop ladder it went.
    pub ladder: Ladder,
    /// Streams (stdout, stderr) still being read.
    pub open: u8,
    /// Its exit line was written.
    pub announced: bool,
    /// It ended by itself with a failure (or missed its readiness deadline).
    pub failed: bool,
    /// What follows its end (`restarting in 1s …`), said on its exit line.
    pub note: Option<(super::Level, String)>,
}

/// The leader and the group of a start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The leader runs.
    Live,
    /// The leader ended; members of its group linger.
    Lingering(Exit),
    /// The leader ended and the group is empty.
    Gone(Exit),
}

/// The stop ladder of a start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ladder {
    /// Not signalled.
    Idle,
    /// `taken` steps were taken; the next is due at `next`.
    Climbing {
        /// Steps taken.
        taken: usize,
        /// When the next step is due.
        next: Option<Instant>,
    },
    /// SIGKILL was sent: nothing further to climb.
    Killed,
}

impl Start {
    /// How the leader ended, once it did.
    pub fn exit(&self) -> Option<Exit> {
        match self.phase {
            Phase::Live => None,
            Phase::Lingering(e) | Phase::Gone(e) => Some(e),
        }
    }

    /// The group is empty.
    pub fn gone(&self) -> bool {
        matches!(self.phase, Phase::Gone(_))
    }

    /// Leader reaped, group empty, both streams ended.
    pub fn over(&self) -> bool {
        self.gone() && self.open == 0
    }

    /// When the next ladder step is due.
    pub fn next_step(&self) -> Option<Instant> {
        match self.ladder {
            Ladder::Climbing { next, .. } => next,
            Ladder::Idle | Ladder::Killed => None,
        }
    }
}

/// A command probe that runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProbeRun {
    /// Its pid (and group).
    pub pid: Pid,
    /// The start it was run for.
    pub gen: u32,
}

/// What a process did over all its starts: the digest's facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct History {
    /// Starts after the first.
    pub restarts: u32,
    /// Automatic restarts since the last stable run.
    pub in_row: u32,
    /// How the last start ended.
    pub last_exit: Option<Exit>,
    /// Time run, over all starts that ended.
    pub ran: Duration,
    /// Its last run that ended, ended on its own with a non-zero status or
    /// a signal (or missed its readiness deadline), or it never started.
    pub failed: bool,
    /// Runs that failed so, over all its starts.
    pub failures: u32,
    /// Needed SIGKILL while drover was stopping.
    pub killed_in_stop: bool,
    /// Was ready at least once.
    pub ever_ready: bool,
    /// Its last run was not ready by its deadline: why, for dependents.
    pub unready: Option<String>,
}

/// One instance in the table.
#[derive(Debug, Clone)]
pub(crate) struct Proc {
    /// What to run.
    pub spec: ProcessSpec,
    /// Where it is.
    pub life: Life,
    /// The number of the latest start asked for (0: never).
    pub gen: u32,
    /// Starts with something still alive.
    pub starts: Vec<Start>,
    /// A running command probe.
    pub probe: Option<ProbeRun>,
    /// Its facts.
    pub history: History,
    /// The start asked for was requested by `drover restart` after it ended.
    pub requested: bool,
    /// Removed by `drover scale` or `drover reload`: stopped, then its slot
    /// is skipped (indices are never reused).
    pub retiring: bool,
}

impl Proc {
    /// A waiting process; one with `autostart = false` is stopped, as if
    /// on request, and waits for `drover restart`.
    pub fn new(spec: ProcessSpec) -> Self {
        let life = if spec.autostart {
            Life::Waiting
        } else {
            Life::Stopped { by_user: true }
        };
        Self {
            spec,
            life,
            gen: 0,
            starts: Vec::new(),
            probe: None,
            history: History::default(),
            requested: false,
            retiring: false,
        }
    }

    /// The current run, if it runs.
    pub fn run(&self) -> Option<&Run> {
        match &self.life {
            Life::Running(r) => Some(r),
            _ => None,
        }
    }

    /// The current run, if it runs.
    pub fn run_mut(&mut self) -> Option<&mut Run> {
        match &mut self.life {
            Life::Running(r) => Some(r),
            _ => None,
        }
    }

    /// The index of the start numbered `gen`.
    pub fn start_of(&self, gen: u32) -> Option<usize> {
        self.starts.iter().position(|s| s.gen == gen)
    }

    /// The start of the current run.
    pub fn current(&self) -> Option<&Start> {
        let gen = self.run()?.gen;
        self.starts
            .iter()
            .find(|s| s.gen == gen && s.phase == Phase::Live)
    }

    /// The readiness command, for a command probe.
    pub fn command_probe(&self) -> Option<&str> {
        match &self.spec.ready {
            Some(r) => match &r.probe {
                Probe::Command(c) => Some(c),
                _ => None,
            },
            None => None,
        }
    }

    /// Nothing of it runs any more: no run, no probe, every start over.
    pub fn quiet(&self) -> bool {
        !matches!(self.life, Life::Running(_) | Life::Starting { .. })
            && self.probe.is_none()
            && self.starts.iter().all(Start::over)
    }

    /// Quiet, counting a lingering group as gone: it may be, once the poll
    /// asked for in the same event is answered.
    pub fn maybe_quiet(&self) -> bool {
        !matches!(self.life, Life::Running(_) | Life::Starting { .. })
            && self.probe.is_none()
            && self
                .starts
                .iter()
                .all(|s| s.exit().is_some() && s.open == 0)
    }

    /// No ended start of it still has its output to read (its group gone,
    /// its exit line not said yet): its next start may be announced.
    pub fn output_settled(&self) -> bool {
        self.starts.iter().all(|s| s.announced || !s.gone())
    }

    /// Removed, and nothing of it runs any more: as if it were not there.
    pub fn retired(&self) -> bool {
        self.retiring && self.quiet()
    }

    /// Runs and is not being stopped: the state the control commands act on.
    pub fn is_running(&self) -> bool {
        matches!(self.life, Life::Running(_))
    }
}
