//! The policy core: a pure state machine over the process table.
//!
//! [`Core::handle`] takes one [`Event`] and the current instant and returns
//! the [`Action`]s to take, in order; results of actions (a pid, a failed
//! spawn, an empty group, the members of a group) come back as events. The
//! shell must run the actions in order and feed each result back at once,
//! before the next action, so that every decision sees the answers of the
//! calls before it (as the synchronous calls did). A decision that needs an
//! answer waits for it: what follows a reaped leader (a lingering group's
//! first stop signal, then the restart policy) is decided when the poll of
//! its group is answered, and the end is decided on [`Event::Adopted`],
//! asked for last, after every other action of the event.
//!
//! Owns: dependencies, restarts and backoff, readiness, the stop ladder and
//! the shutdown order, pause/resume, the exit status, the control commands.
//! Must not: touch the OS (no libc, rustix, /proc, tokio signals or
//! channels), know the wire protocol or the TOML schema, or write output
//! other than [`Action::Say`].
//!
//! Files: `state` (the table's data), `lifecycle` (starts, exits, restarts,
//! readiness, timers), `deps` (dependencies and the stop order), `stop`
//! (the stop ladder, shutdown, orphans, pause, the exit), `control` (the
//! commands of `drover stop`/`restart`/`kill`/...), `watch` (restarts on
//! file changes, the cascade to dependents, the restart-loop guard).

mod control;
mod deps;
mod edit;
pub(crate) mod events;
mod lifecycle;
pub(crate) mod state;
mod stop;
mod watch;

use std::time::Duration;

use tokio::time::Instant;

use crate::output::format::Stream;
use crate::plan::ProcessSpec;
use crate::types::{Exit, Pid, Signal};

pub(crate) use control::{Answer, Command, Refusal, RequestId};
use state::{Life, Proc};

/// How long readers keep reading a pipe after the process and its group are
/// gone. Only a process that left the group (setsid) can still hold the pipe
/// then, and it is not waited for longer than this.
pub(crate) const DRAIN: Duration = Duration::from_millis(500);

/// How often a waiting shutdown says what it waits for.
const BLOCKER_REPORT: Duration = Duration::from_secs(1);

/// How often the groups of exited processes are checked while they linger.
pub(crate) const GROUP_POLL: Duration = Duration::from_millis(10);

/// A stop request from outside drover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT (Ctrl-C).
    Int,
    /// SIGTERM.
    Term,
    /// SIGHUP (the terminal went away).
    Hup,
    /// SIGQUIT (Ctrl-\\).
    Quit,
}

impl StopSignal {
    fn name(self) -> &'static str {
        match self {
            StopSignal::Int => "SIGINT",
            StopSignal::Term => "SIGTERM",
            StopSignal::Hup => "SIGHUP",
            StopSignal::Quit => "SIGQUIT",
        }
    }
}

/// How a stream of a start ended, as far as the policy cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamEnd {
    /// End of file, or nobody left to write to: nothing to say.
    Closed,
    /// Cut at the drain deadline: these processes (if found) held it open.
    HeldOpen(Vec<(Pid, String)>),
    /// drover's stdout accepted nothing; the rest was dropped.
    Stuck,
}

/// Everything the core reacts to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// Begin: start every process whose dependencies allow it.
    Start,
    /// `waitpid` returned this child's status.
    Reaped { pid: Pid, exit: Exit },
    /// Answer to [`Action::Spawn`]: it runs as `pid`.
    Spawned { index: usize, gen: u32, pid: Pid },
    /// Answer to [`Action::Spawn`]: it could not be started.
    SpawnFailed {
        index: usize,
        gen: u32,
        error: String,
    },
    /// Answer to [`Action::SpawnProbe`].
    ProbeSpawned { index: usize, gen: u32, pid: Pid },
    /// Answer to [`Action::SpawnProbe`]: the probe could not be started.
    ProbeFailed { index: usize, error: String },
    /// Answer to [`Action::PollGroup`]: the group is empty.
    GroupGone { index: usize, gen: u32 },
    /// Answer to [`Action::PollGroup`]: members remain.
    GroupAlive { index: usize, gen: u32 },
    /// A signal to a group failed for another reason than "no such group".
    SignalFailed {
        name: String,
        signal: Signal,
        error: String,
    },
    /// Answer to [`Action::FindAdopted`]: live re-parented descendants.
    Adopted(Vec<(Pid, String)>),
    /// Answer to [`Action::ListMembers`]: the live members of each group.
    Members(Vec<(Pid, Vec<(Pid, String)>)>),
    /// Answer to [`Action::SignalForRequest`].
    Signalled {
        id: RequestId,
        signal: Signal,
        sent: Vec<String>,
        failed: Option<(String, String)>,
    },
    /// A reader of start `gen` of process `index` ended.
    StreamEnded {
        index: usize,
        gen: u32,
        stream: Stream,
        end: StreamEnd,
    },
    /// A readiness check of start `gen` succeeded.
    Ready { index: usize, gen: u32 },
    /// A try of a readiness check of start `gen` failed with `error`.
    ProbeMissed {
        index: usize,
        gen: u32,
        error: String,
    },
    /// drover received a stop signal.
    Signal(StopSignal),
    /// drover received a signal it passes on to every running process
    /// (SIGUSR1, SIGUSR2), as foreman does.
    Forward(Signal),
    /// drover's stdout failed: closed (nobody reads the output any more,
    /// `error` is none) or another error, such as a full disk.
    StdoutClosed { error: Option<String> },
    /// SIGTSTP (Ctrl-Z): pause every process, then stop drover itself.
    Suspend,
    /// SIGCONT: drover was continued (`fg`); resume every process.
    Continued,
    /// A deadline or a poll interval passed.
    Tick,
    /// A control client's command.
    Control { id: RequestId, command: Command },
    /// Files that the process of instance `index` watches changed and have
    /// been quiet for its debounce: paths relative to its watch folder, in
    /// the order seen. Every instance of that process restarts.
    FilesChanged { index: usize, files: Vec<String> },
}

/// How loud a system line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// What the shell must do, in order.
#[must_use]
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Spawn start `gen` of process `index` in a new group, with its readers;
    /// answer [`Event::Spawned`] or [`Event::SpawnFailed`].
    Spawn { index: usize, gen: u32 },
    /// Run the readiness command in its own group, output discarded; answer
    /// [`Event::ProbeSpawned`] or [`Event::ProbeFailed`].
    SpawnProbe {
        index: usize,
        gen: u32,
        command: String,
    },
    /// Signal every member of group `pgid`. "No such group" is not an
    /// error; other errors are answered with [`Event::SignalFailed`] when
    /// `name` is given.
    SignalGroup {
        pgid: Pid,
        signal: Signal,
        name: Option<String>,
    },
    /// Signal the one process `pid`; errors are ignored.
    SignalPid { pid: Pid, signal: Signal },
    /// Signal the descendants of these groups' members that left them
    /// (`setsid`); errors are ignored.
    SignalEscaped { pgids: Vec<Pid>, signal: Signal },
    /// Is the group of start `gen` of `index` empty? Answer
    /// [`Event::GroupGone`] or [`Event::GroupAlive`].
    PollGroup { index: usize, gen: u32, pgid: Pid },
    /// The readers of start `gen` of `index` stop at `at` if their pipe is
    /// still open then.
    CutReaders { index: usize, gen: u32, at: Instant },
    /// List the members of these groups (one scan); answer [`Event::Members`].
    ListMembers { pgids: Vec<Pid> },
    /// List live re-parented descendants; answer [`Event::Adopted`].
    FindAdopted,
    /// Signal these targets in order, stopping at the first error; answer
    /// [`Event::Signalled`].
    SignalForRequest {
        id: RequestId,
        signal: Signal,
        targets: Vec<Target>,
    },
    /// drover has begun to stop: output may give up on a stuck stdout.
    Stopping,
    /// Tell systemd (`READY=1`, `STOPPING=1`) when run as a notify service.
    NotifySystemd(&'static str),
    /// Stop drover itself (SIGSTOP) until it is continued.
    StopSelf,
    /// Write a `system` line.
    Say { level: Level, text: String },
    /// A run of `index` failed and its output ended: keep its last lines,
    /// for the digest once it has recovered.
    KeepFailedLines { index: usize },
    /// Answer control request `id`.
    Answer {
        id: RequestId,
        answer: Result<Answer, Refusal>,
    },
    /// Every process is gone: exit with this status.
    Exit(u8),
    /// A lifecycle event happened: stream it, and run its hook.
    Event(events::LifeEvent),
    /// Instance `index` is retired: drover stops holding its listening
    /// sockets (its process keeps its own copies until it ends).
    ReleaseSockets { index: usize },
    /// Process `index` has this spec from now on; an `index` one past the
    /// last adds an instance (`drover scale`, `drover reload`).
    SetSpec {
        index: usize,
        spec: Box<crate::plan::ProcessSpec>,
    },
}

/// Pushes an [`Action::Say`] with a formatted line.
macro_rules! say {
    ($out:expr, $level:ident, $($arg:tt)*) => {
        $out.push($crate::supervisor::core::Action::Say {
            level: $crate::supervisor::core::Level::$level,
            text: format!($($arg)*),
        })
    };
}
pub(crate) use say;

/// One process a `drover kill` signals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// Its instance name, for the answer.
    pub name: String,
    /// Its leader (and group).
    pub pid: Pid,
    /// Signal its whole group (`kill_mode = "control-group"`), or only the
    /// leader (`"mixed"`).
    pub whole_group: bool,
}

/// Why drover is stopping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StopCause {
    Signal(StopSignal),
    Exited { name: String, exit: Exit },
    StdoutClosed { error: Option<String> },
    SpawnFailed { name: String },
    Requested,
    AllEnded,
}

/// A re-parented descendant being stopped at shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Orphan {
    pub pid: Pid,
    /// When it gets SIGKILL (None: it got it).
    pub kill_at: Option<Instant>,
}

/// The process table and the policy.
#[derive(Debug)]
pub(crate) struct Core {
    pub(in crate::supervisor) procs: Vec<Proc>,
    pub(in crate::supervisor) stopping: Option<StopCause>,
    killed_all: bool,
    orphans: Vec<Orphan>,
    /// The longest stop ladder, used for orphans.
    orphan_timeout: Duration,
    /// When the stop began: escaped descendants share its deadline.
    stop_began: Option<Instant>,
    /// When to next say what the shutdown is waiting for.
    pub(in crate::supervisor) blocker_at: Option<Instant>,
    /// Since when every process is paused (SIGTSTP); timers stand still.
    pub(in crate::supervisor) paused_at: Option<Instant>,
    told_ready: bool,
    /// Stop signals received from outside (SIGINT, SIGTERM, SIGHUP).
    signals: u32,
    /// An escaped descendant needed SIGKILL during the stop.
    orphan_killed: bool,
    /// Where the start-up scan resumes once its spawn is answered.
    scan: Option<(usize, bool)>,
    /// `drover restart --wait` requests not answered yet.
    waiters: Vec<control::Waiter>,
    /// Each process's watch and cascade state, by index.
    watching: Vec<watch::Watching>,
    /// The actions decided so far for the event being handled.
    out: Vec<Action>,
}

impl Core {
    /// A table with one entry per spec, all waiting; nothing is started
    /// until [`Event::Start`].
    pub fn new(specs: Vec<ProcessSpec>) -> Self {
        let procs: Vec<Proc> = specs.into_iter().map(Proc::new).collect();
        let watching = vec![watch::Watching::default(); procs.len()];
        let orphan_timeout = procs
            .iter()
            .map(|p| p.spec.stop_ladder.iter().map(|s| s.wait).sum::<Duration>())
            .max()
            .unwrap_or(Duration::from_secs(5));
        Self {
            procs,
            stopping: None,
            killed_all: false,
            orphans: Vec::new(),
            orphan_timeout,
            stop_began: None,
            blocker_at: None,
            paused_at: None,
            told_ready: false,
            signals: 0,
            orphan_killed: false,
            scan: None,
            waiters: Vec::new(),
            watching,
            out: Vec::new(),
        }
    }

    /// Decides what to do about `event`.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        debug_assert!(self.out.is_empty(), "actions left from an earlier event");
        match event {
            // Answers to actions: only what depends on the answer.
            Event::Spawned { index, gen, pid } => {
                self.on_spawned(index, gen, pid, now);
                self.after(now);
            }
            Event::SpawnFailed { index, gen, error } => {
                self.on_spawn_failed(index, gen, &error, now);
                self.after(now);
            }
            Event::ProbeSpawned { index, gen, pid } => self.on_probe_spawned(index, gen, pid),
            Event::ProbeFailed { index, error } => self.on_probe_failed(index, &error, now),
            Event::GroupGone { index, gen } => self.on_group_answer(index, gen, false, now),
            Event::GroupAlive { index, gen } => self.on_group_answer(index, gen, true, now),
            Event::SignalFailed {
                name,
                signal,
                error,
            } => say!(self.out, Error, "{name}: sending {signal}: {error}"),
            Event::Adopted(found) => self.on_adopted(found, now),
            Event::Members(groups) => self.on_members(&groups, now),
            Event::Signalled {
                id,
                signal,
                sent,
                failed,
            } => self.on_signalled(id, signal, sent, failed),
            // Things that happened.
            event => {
                self.on_event(event, now);
                self.after(now);
            }
        }
        if !self.waiters.is_empty() {
            self.answer_waiters();
        }
        std::mem::take(&mut self.out)
    }

    fn on_event(&mut self, event: Event, now: Instant) {
        match event {
            Event::Start => {}
            Event::Reaped { pid, exit } => self.on_reaped(pid, exit, now),
            Event::StreamEnded {
                index,
                gen,
                stream,
                end,
            } => self.on_stream_ended(index, gen, stream, end),
            Event::Ready { index, gen } => self.on_ready(index, gen, now),
            Event::ProbeMissed { index, gen, error } => self.on_probe_missed(index, gen, error),
            Event::Signal(sig) => self.on_signal(sig, now),
            Event::Forward(sig) => self.forward(sig),
            Event::StdoutClosed { error } => {
                if self.stopping.is_none() {
                    self.begin_stop(StopCause::StdoutClosed { error }, now);
                }
            }
            Event::Tick => self.on_tick(now),
            Event::Suspend => {
                if self.stopping.is_none() {
                    self.pause(now);
                    say!(
                        self.out,
                        Info,
                        "suspended (Ctrl-Z); `fg` resumes every process"
                    );
                    self.out.push(Action::StopSelf);
                }
            }
            Event::Continued => self.resume(now),
            Event::Control { id, command } => self.on_control(id, command, now),
            Event::FilesChanged { index, files } => self.on_files_changed(index, &files, now),
            answer => unreachable!("answers are handled in `handle`: {answer:?}"),
        }
    }

    /// When the shell must send [`Event::Tick`] even without events.
    pub fn next_wakeup(&self, now: Instant) -> Option<Instant> {
        if self.paused_at.is_some() {
            // Timers stand still while paused; nothing is due.
            return None;
        }
        let mut wake: Option<Instant> = None;
        let mut at = |t: Instant| wake = Some(wake.map_or(t, |w| w.min(t)));
        if !self.orphans.is_empty() {
            at(now + GROUP_POLL);
        }
        if let Some(t) = self.blocker_at {
            at(t);
        }
        for p in &self.procs {
            for s in p.starts.iter().filter(|s| !s.gone()) {
                if let Some(k) = s.next_step() {
                    at(k);
                }
                if s.exit().is_some() {
                    at(now + GROUP_POLL);
                }
            }
            if self.stopping.is_none() {
                match &p.life {
                    // Once the last run's output is read (a stream end wakes).
                    Life::Backoff { until } if p.output_settled() => at(*until),
                    Life::Running(r) => {
                        if let state::Ready::No { next_probe } = r.ready {
                            if let Some(t) = next_probe {
                                at(t);
                            }
                            if let Some(t) = p.spec.ready.as_ref().and_then(|r| r.timeout) {
                                at(r.since + t);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        wake
    }

    /// After an event: start what may start, stop what must stop, and
    /// notice the end.
    fn after(&mut self, now: Instant) {
        if self.stopping.is_none() {
            self.cascade_ready(now);
            self.start_waiting();
        }
        // Starting may itself have begun the stop (a failed spawn).
        if self.stopping.is_none() {
            let active = self.procs.iter().any(|p| {
                matches!(
                    p.life,
                    Life::Running(_) | Life::Starting { .. } | Life::Waiting | Life::Backoff { .. }
                )
            });
            // A process stopped on request may be restarted: drover waits.
            let any_user_stopped = self
                .procs
                .iter()
                .any(|p| p.life == Life::Stopped { by_user: true } && !p.retiring);
            if !active && !any_user_stopped {
                self.begin_stop(StopCause::AllEnded, now);
                // As before the split: the end of every process on its own
                // does not look for escaped descendants first.
                self.finished();
            } else if !self.told_ready && self.all_ready() {
                self.told_ready = true;
                say!(self.out, Info, "every process is ready");
                self.out.push(Action::NotifySystemd("READY=1"));
            }
        } else {
            self.settle(now);
        }
    }

    /// Every process runs and is ready, or has done its one job.
    fn all_ready(&self) -> bool {
        self.procs.iter().all(|p| match &p.life {
            _ if p.retiring => true,
            // `autostart = false`, never started: not waited for.
            Life::Stopped { .. } if p.gen == 0 && !p.spec.autostart => true,
            Life::Running(r) => r.ready == state::Ready::Yes,
            // A one-off that may die has done its job, whatever its status.
            Life::Exited => p.spec.can_die || p.history.last_exit == Some(Exit::Code(0)),
            _ => false,
        })
    }
}

#[cfg(test)]
impl Core {
    /// The earliest pending stop-ladder step.
    pub(in crate::supervisor) fn next_step(&self) -> Option<Instant> {
        self.procs
            .iter()
            .flat_map(|p| &p.starts)
            .filter_map(state::Start::next_step)
            .min()
    }
}
