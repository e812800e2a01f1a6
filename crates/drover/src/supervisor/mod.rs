//! The supervisor: the broker that owns the process table.
//!
//! It alone knows pids, exits, restarts, readiness and deadlines; readers,
//! probes, signal handlers and control connections only send it events, and
//! requests that want an answer carry a oneshot for it. Its loop only
//! collects events; the plain function [`Supervisor::handle`] decides what
//! to do with each, so the policy (dependencies, restarts, the signal
//! ladder, exit status) is tested without processes or real time. It must
//! not touch stdout: everything it says goes through `tracing` as `system`
//! lines.
//!
//! Each start of a process is a *generation* with its own process group,
//! pipes and readers. A generation is over when its leader is reaped, its
//! group is empty and both its streams have ended. A group does not outlive
//! its leader by more than the stop timeout: when the leader exits and the
//! group lingers, the group gets the stop signal, then SIGKILL.
//!
//! Shutdown: the first stop trigger (a signal, a process ending for good,
//! stdout closing, `drover shutdown`) sends each running process its stop
//! signal — a process only once nothing that depends on it still runs — and
//! arms its deadline; at the deadline, or on a second signal, SIGKILL. The
//! supervisor returns once every generation is over.

use std::io;
use std::time::Duration;

use rustix::process::{Pid, WaitOptions};
use serde_json::json;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::control::protocol::{DigestRow, ProcessInfo, Request};
use crate::output::format::Stream;
use crate::plan::{Condition, Probe, ProcessSpec, RestartPolicy};
use crate::process::child::ReaderEnd;
use crate::types::Signal;

/// How long readers keep reading a pipe after the process and its group are
/// gone. Only a process that left the group (setsid) can still hold the pipe
/// then, and it is not waited for longer than this.
pub const DRAIN: Duration = Duration::from_millis(500);

/// How often a waiting shutdown says what it waits for.
const BLOCKER_REPORT: Duration = Duration::from_secs(1);

/// How often the groups of exited processes are checked while they linger.
const GROUP_POLL: Duration = Duration::from_millis(10);

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// It was killed by this signal.
    Signal(i32),
}

impl Exit {
    /// The shell convention: the code, or 128 + the signal number.
    pub fn status(self) -> u8 {
        match self {
            Exit::Code(c) => (c & 0xff) as u8,
            Exit::Signal(s) => (128 + s).clamp(0, 255) as u8,
        }
    }

    /// `exited with code 3`, `was killed by SIGTERM`.
    pub fn describe(self) -> String {
        match self {
            Exit::Code(c) => format!("exited with code {c}"),
            Exit::Signal(s) => format!("was killed by {}", signal_name(s)),
        }
    }

    fn short(self) -> String {
        match self {
            Exit::Code(c) => format!("code {c}"),
            Exit::Signal(s) => format!("signal {}", signal_name(s)),
        }
    }
}

/// The name of signal number `sig`, e.g. `SIGTERM`.
pub fn signal_name(sig: i32) -> String {
    match Signal::from_number(i64::from(sig)) {
        Ok(s) => s.to_string(),
        Err(_) => format!("signal {sig}"),
    }
}

/// A stop request from outside drover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT (Ctrl-C).
    Int,
    /// SIGTERM.
    Term,
    /// SIGHUP (the terminal went away).
    Hup,
}

impl StopSignal {
    fn name(self) -> &'static str {
        match self {
            StopSignal::Int => "SIGINT",
            StopSignal::Term => "SIGTERM",
            StopSignal::Hup => "SIGHUP",
        }
    }
}

/// The answer to a control request.
pub type Reply = oneshot::Sender<Result<serde_json::Value, String>>;

/// Everything the supervisor reacts to.
#[derive(Debug)]
pub enum Event {
    /// `waitpid` returned this child's status.
    Reaped {
        /// The reaped pid.
        pid: Pid,
        /// How it ended.
        exit: Exit,
    },
    /// A reader of one generation of process `index` ended.
    StreamEnded {
        /// Index in the process table.
        index: usize,
        /// Which start of the process.
        generation: u32,
        /// Which stream.
        stream: Stream,
        /// Why it ended.
        end: ReaderEnd,
        /// For a cut stream: the processes that still held the pipe open.
        holders: Vec<(Pid, String)>,
    },
    /// A readiness probe of one generation succeeded.
    Ready {
        /// Index in the process table.
        index: usize,
        /// Which start of the process.
        generation: u32,
    },
    /// drover received a stop signal.
    Signal(StopSignal),
    /// drover's stdout was closed: nobody reads the output any more.
    StdoutClosed,
    /// SIGTSTP (Ctrl-Z): pause every process, then stop drover itself.
    Suspend,
    /// SIGCONT: drover was continued (`fg`); resume every process.
    Continued,
    /// A deadline or a poll interval passed.
    Tick,
    /// A control client's request.
    Control(Request, Reply),
}

/// What the loop should do after an event.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Keep going.
    Continue,
    /// Every process is gone: exit with this status.
    Done(u8),
}

/// The operating-system side of the policy: a seam for tests.
pub trait Os {
    /// Starts generation `generation` of process `index` in a new process
    /// group, with its readers (and network or log probes) reporting as
    /// events; `cut` carries their drain deadline.
    fn spawn(
        &mut self,
        index: usize,
        spec: &ProcessSpec,
        generation: u32,
        cut: watch::Receiver<Option<Instant>>,
    ) -> io::Result<Pid>;
    /// Starts a readiness probe command in its own group, output discarded.
    fn spawn_probe(&mut self, spec: &ProcessSpec, command: &str) -> io::Result<Pid>;
    /// Sends `sig` to every process in group `pgid`.
    fn signal_group(&mut self, pgid: Pid, sig: i32) -> io::Result<()>;
    /// Whether any process is left in group `pgid`.
    fn group_alive(&mut self, pgid: Pid) -> bool;
    /// Sends `sig` to the one process `pid`.
    fn signal_pid(&mut self, pid: Pid, sig: i32) -> io::Result<()>;
    /// The live members of group `pgid`, with their commands.
    fn group_members(&mut self, pgid: Pid) -> Vec<(Pid, String)>;
    /// drover has begun to stop: output may now give up on a stdout that
    /// makes no progress at all.
    fn stopping(&mut self) {}
    /// Tells systemd drover's state (`READY=1`, `STOPPING=1`) when drover
    /// runs as a `Type=notify` service; nothing otherwise.
    fn notify_systemd(&mut self, state: &str);
    /// Stops drover itself (SIGSTOP), as job control expects after Ctrl-Z;
    /// returns once drover is continued.
    fn stop_self(&mut self);
    /// Live processes re-parented to drover (it is a child subreaper) that
    /// it did not start: descendants that left their group, as `(pid,
    /// command)`.
    fn adopted(&mut self) -> Vec<(Pid, String)>;
}

/// Sends `sig` to process group `pgid`.
pub fn kill_group(pgid: Pid, sig: i32) -> io::Result<()> {
    // SAFETY: kill(2) has no memory-safety preconditions.
    if unsafe { libc::kill(-pgid.as_raw_nonzero().get(), sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sends `sig` to process `pid`.
pub fn kill_pid(pid: Pid, sig: i32) -> io::Result<()> {
    // SAFETY: kill(2) has no memory-safety preconditions.
    if unsafe { libc::kill(pid.as_raw_nonzero().get(), sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether any process is left in group `pgid` (zombies included).
pub fn group_alive(pgid: Pid) -> bool {
    // EPERM would mean a process we may not signal joined the group; it
    // is alive all the same.
    !matches!(
        rustix::process::test_kill_process_group(pgid),
        Err(rustix::io::Errno::SRCH)
    )
}

/// Why drover is stopping.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StopCause {
    Signal(StopSignal),
    Exited { name: String, exit: Exit },
    StdoutClosed,
    SpawnFailed { name: String },
    Requested,
    AllEnded,
}

/// Where a process is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Waiting for its dependencies.
    Waiting,
    /// Its current generation runs.
    Running,
    /// Ended; to be started again at `until`.
    Backoff { until: Instant },
    /// Ended for good (its own exit decided it).
    Exited,
    /// Stopped on request, or never started because drover is stopping.
    Stopped,
    /// Could not be started, or its dependencies failed.
    Failed(String),
}

/// One start of a process.
#[derive(Debug)]
struct Gen {
    generation: u32,
    pgid: Pid,
    exit: Option<Exit>,
    group_gone: bool,
    signalled: bool,
    /// How many steps of the stop ladder were taken.
    step: usize,
    /// When the next step of the stop ladder is due.
    kill_at: Option<Instant>,
    killed: bool,
    open: u8,
    cut: watch::Sender<Option<Instant>>,
    announced: bool,
}

impl Gen {
    fn over(&self) -> bool {
        self.exit.is_some() && self.group_gone && self.open == 0
    }
}

#[derive(Debug)]
struct Proc {
    spec: ProcessSpec,
    state: State,
    generation: u32,
    gens: Vec<Gen>,
    started_at: Option<Instant>,
    ready: bool,
    ever_ready: bool,
    restarts_in_row: u32,
    restarts: u32,
    last_exit: Option<Exit>,
    user_stopped: bool,
    want_restart: bool,
    killed_any: bool,
    /// Time run, over all generations that ended.
    ran: Duration,
    /// Ended on its own with a non-zero status or a signal, or never started.
    failed: bool,
    /// A running command probe, and when to run the next one.
    probe_pid: Option<Pid>,
    /// The generation the running command probe was started for.
    probe_generation: u32,
    probe_at: Option<Instant>,
}

impl Proc {
    fn current(&self) -> Option<&Gen> {
        self.gens
            .iter()
            .rev()
            .find(|g| g.generation == self.generation && g.exit.is_none())
    }

    fn command_probe(&self) -> Option<&str> {
        match &self.spec.ready {
            Some(r) => match &r.probe {
                Probe::Command(c) => Some(c),
                _ => None,
            },
            None => None,
        }
    }
}

enum DepStatus {
    Satisfied,
    Pending,
    Failed(String),
}

/// The process table and the policy.
#[derive(Debug)]
pub struct Supervisor<O: Os> {
    procs: Vec<Proc>,
    stopping: Option<StopCause>,
    killed_all: bool,
    /// Re-parented descendants being stopped at shutdown, with their SIGKILL deadline.
    orphans: Vec<(Pid, Option<Instant>)>,
    /// The longest stop timeout, used for orphans.
    orphan_timeout: Duration,
    /// When to next say what the shutdown is waiting for.
    blocker_at: Option<Instant>,
    /// Since when every process is paused (SIGTSTP); timers stand still.
    paused_at: Option<Instant>,
    /// systemd was told READY=1.
    told_ready: bool,
    /// Stop signals received from outside (SIGINT, SIGTERM, SIGHUP).
    signals: u32,
    /// An escaped descendant needed SIGKILL during the stop.
    orphan_killed: bool,
    os: O,
}

impl<O: Os> Supervisor<O> {
    /// A table with one entry per spec, all waiting; nothing is started yet.
    pub fn new(specs: Vec<ProcessSpec>, os: O) -> Self {
        let procs: Vec<Proc> = specs
            .into_iter()
            .map(|spec| Proc {
                spec,
                state: State::Waiting,
                generation: 0,
                gens: Vec::new(),
                started_at: None,
                ready: false,
                ever_ready: false,
                restarts_in_row: 0,
                restarts: 0,
                last_exit: None,
                user_stopped: false,
                want_restart: false,
                killed_any: false,
                ran: Duration::ZERO,
                failed: false,
                probe_pid: None,
                probe_generation: 0,
                probe_at: None,
            })
            .collect();
        let orphan_timeout = procs
            .iter()
            .map(|p: &Proc| p.spec.stop_ladder.iter().map(|s| s.wait).sum::<Duration>())
            .max()
            .unwrap_or(Duration::from_secs(5));
        Self {
            procs,
            stopping: None,
            killed_all: false,
            orphans: Vec::new(),
            orphan_timeout,
            blocker_at: None,
            paused_at: None,
            told_ready: false,
            signals: 0,
            orphan_killed: false,
            os,
        }
    }

    /// Starts every process whose dependencies allow it.
    pub fn start(&mut self, now: Instant) -> Step {
        self.start_waiting(now);
        self.after(now)
    }

    /// Decides what to do about `event`.
    pub fn handle(&mut self, event: Event, now: Instant) -> Step {
        match event {
            Event::Reaped { pid, exit } => self.on_reaped(pid, exit, now),
            Event::StreamEnded {
                index,
                generation,
                stream,
                end,
                holders,
            } => {
                let name = self.procs[index].spec.name.clone();
                if let Some(g) = self.procs[index]
                    .gens
                    .iter_mut()
                    .find(|g| g.generation == generation)
                {
                    debug_assert!(g.open > 0, "{name}: a stream ended twice");
                    g.open = g.open.saturating_sub(1);
                }
                match end {
                    ReaderEnd::Cut if holders.is_empty() => tracing::warn!(
                        "{name}: its {} is still held open by a process that left its group; stopped reading it",
                        stream.as_str()
                    ),
                    ReaderEnd::Cut => tracing::warn!(
                        "{name}: its {} is still held open by {}, which left its group; stopped reading it",
                        stream.as_str(),
                        crate::process::procfs::describe(&holders)
                    ),
                    ReaderEnd::Stuck => tracing::warn!(
                        "{name}: stdout accepted nothing for {}s; the rest of its {} was dropped",
                        crate::output::STALL.as_secs(),
                        stream.as_str()
                    ),
                    ReaderEnd::Eof | ReaderEnd::WriterGone => {}
                }
                self.announce(index, generation);
            }
            Event::Ready { index, generation } => self.on_ready(index, generation),
            Event::Signal(sig) => {
                self.signals += 1;
                if self.stopping.is_none() {
                    self.begin_stop(StopCause::Signal(sig), now);
                } else if self.signals == 1 {
                    // A stop is already under way for another reason; a
                    // first signal asks for nothing more.
                    tracing::info!(
                        "received {}: already stopping (send it again to kill every process now)",
                        sig.name()
                    );
                } else if !self.killed_all {
                    tracing::warn!("received {} again: killing every process now", sig.name());
                    self.kill_all_now();
                }
            }
            Event::StdoutClosed => {
                if self.stopping.is_none() {
                    self.begin_stop(StopCause::StdoutClosed, now);
                }
            }
            Event::Tick => self.on_tick(now),
            Event::Suspend => {
                if self.stopping.is_none() {
                    self.pause(now);
                    tracing::info!("suspended (Ctrl-Z); `fg` resumes every process");
                    self.os.stop_self();
                }
            }
            Event::Continued => self.resume(now),
            Event::Control(request, reply) => {
                let answer = self.control(request, now);
                // The client may have hung up; nothing to do then.
                let _ = reply.send(answer);
            }
        }
        self.after(now)
    }

    /// When the loop must wake up even without events.
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
            for g in &p.gens {
                if let Some(k) = g.kill_at {
                    if !g.group_gone {
                        at(k);
                    }
                }
                if g.exit.is_some() && !g.group_gone {
                    at(now + GROUP_POLL);
                }
            }
            if self.stopping.is_none() {
                if let State::Backoff { until } = p.state {
                    at(until);
                }
                if let Some(t) = p.probe_at {
                    at(t);
                }
            }
        }
        wake
    }

    fn after(&mut self, now: Instant) -> Step {
        if self.stopping.is_none() {
            self.start_waiting(now);
        }
        // Starting may itself have begun the stop (a failed spawn).
        if self.stopping.is_none() {
            let active = self.procs.iter().any(|p| {
                matches!(
                    p.state,
                    State::Running | State::Waiting | State::Backoff { .. }
                )
            });
            // A process stopped on request may be restarted: drover waits.
            let any_user_stopped = self
                .procs
                .iter()
                .any(|p| p.state == State::Stopped && p.user_stopped);
            if !active && !any_user_stopped {
                self.begin_stop(StopCause::AllEnded, now);
            } else if !self.told_ready && self.all_ready() {
                self.told_ready = true;
                tracing::debug!("every process is ready");
                self.os.notify_systemd("READY=1");
            }
        } else {
            self.advance_stop(now);
            self.stop_orphans(now);
        }
        self.finished()
    }

    fn on_reaped(&mut self, pid: Pid, exit: Exit, now: Instant) {
        // A command probe?
        if let Some(i) = self.procs.iter().position(|p| p.probe_pid == Some(pid)) {
            let p = &mut self.procs[i];
            p.probe_pid = None;
            // A probe started for an earlier start says nothing of this one.
            let current = p.probe_generation == p.generation;
            if current && p.state == State::Running && !p.ready && self.stopping.is_none() {
                if exit == Exit::Code(0) {
                    let generation = p.generation;
                    self.on_ready(i, generation);
                } else {
                    let interval = p
                        .spec
                        .ready
                        .as_ref()
                        .map_or(Duration::from_millis(250), |r| r.interval);
                    p.probe_at = Some(now + interval);
                }
            }
            return;
        }
        let found = self.procs.iter().enumerate().find_map(|(i, p)| {
            p.gens
                .iter()
                .position(|g| g.pgid == pid && g.exit.is_none())
                .map(|gi| (i, gi))
        });
        let Some((index, gi)) = found else {
            // A descendant re-parented to drover (it is a subreaper).
            self.orphans.retain(|(p, _)| *p != pid);
            tracing::debug!("reaped pid {} ({})", pid.as_raw_nonzero(), exit.describe());
            return;
        };
        let p = &mut self.procs[index];
        let generation = p.gens[gi].generation;
        p.gens[gi].exit = Some(exit);
        p.last_exit = Some(exit);
        if !p.gens[gi].signalled && exit != Exit::Code(0) {
            // Nobody asked it to stop: it failed on its own.
            p.failed = true;
        }
        let is_current = generation == p.generation && p.state == State::Running;
        self.check_group(index, gi, now);
        // The leader is gone but its group lingers: it goes down the stop
        // ladder (the stop signal, then SIGKILL after the timeout).
        if !self.procs[index].gens[gi].group_gone && !self.procs[index].gens[gi].signalled {
            self.ladder_step(index, gi, now);
        }
        if is_current {
            self.after_exit(index, exit, now);
        }
        self.announce(index, generation);
    }

    /// Decides what comes after the current generation of `index` ended.
    fn after_exit(&mut self, index: usize, exit: Exit, now: Instant) {
        let dependency_done = exit == Exit::Code(0) && self.is_exited_ok_dependency(index);
        let stopping = self.stopping.is_some();
        let p = &mut self.procs[index];
        p.ready = false;
        p.probe_at = None;
        let run = p
            .started_at
            .take()
            .map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
        p.ran += run;
        let name = p.spec.name.clone();
        if stopping {
            p.state = if p.user_stopped {
                State::Stopped
            } else {
                State::Exited
            };
            return;
        }
        if p.want_restart {
            p.want_restart = false;
            p.restarts += 1;
            p.state = State::Backoff { until: now };
            return;
        }
        if p.user_stopped {
            p.state = State::Stopped;
            return;
        }
        if run >= p.spec.backoff.reset_after {
            p.restarts_in_row = 0;
        }
        let wants = match p.spec.restart {
            RestartPolicy::No => false,
            RestartPolicy::OnFailure => exit != Exit::Code(0),
            RestartPolicy::Always => true,
        };
        let allowed = p.spec.max_restarts.is_none_or(|m| p.restarts_in_row < m);
        if wants && allowed {
            let delay = backoff_delay(
                p.spec.backoff.initial,
                p.spec.backoff.max,
                p.restarts_in_row,
            );
            p.restarts_in_row += 1;
            p.restarts += 1;
            p.state = State::Backoff { until: now + delay };
            tracing::info!(
                "{name} {}; restarting in {} (restart {}{})",
                exit.describe(),
                format_duration(delay),
                p.restarts_in_row,
                p.spec
                    .max_restarts
                    .map_or(String::new(), |m| format!(" of {m}"))
            );
            return;
        }
        p.state = State::Exited;
        if wants {
            tracing::warn!(
                "{name} {}; giving up after {} restarts in a row",
                exit.describe(),
                p.restarts_in_row
            );
        }
        if !dependency_done || wants {
            self.begin_stop(StopCause::Exited { name, exit }, now);
        }
    }

    fn on_ready(&mut self, index: usize, generation: u32) {
        let p = &mut self.procs[index];
        if p.generation != generation || p.state != State::Running || p.ready {
            return;
        }
        p.ready = true;
        p.ever_ready = true;
        p.probe_at = None;
        if p.spec.ready.is_some() {
            tracing::info!("{} is ready", p.spec.name);
        }
    }

    fn on_tick(&mut self, now: Instant) {
        if self.paused_at.is_some() {
            return;
        }
        for (pid, kill_at) in &mut self.orphans {
            if kill_at.is_some_and(|k| k <= now) {
                *kill_at = None;
                self.orphan_killed = true;
                tracing::warn!(
                    "pid {} is still running: sending SIGKILL",
                    pid.as_raw_nonzero()
                );
                // Its own group (it left ours, often with setsid), then
                // the process itself in case it leads none.
                let _ = self.os.signal_group(*pid, libc::SIGKILL);
                let _ = self.os.signal_pid(*pid, libc::SIGKILL);
            }
        }
        for i in 0..self.procs.len() {
            for gi in 0..self.procs[i].gens.len() {
                let g = &self.procs[i].gens[gi];
                if g.exit.is_some() && !g.group_gone {
                    self.check_group(i, gi, now);
                }
                let g = &self.procs[i].gens[gi];
                if g.kill_at.is_some_and(|at| at <= now) && !g.group_gone {
                    self.ladder_step(i, gi, now);
                }
            }
            if self.stopping.is_some() {
                continue;
            }
            if let State::Backoff { until } = self.procs[i].state {
                if until <= now {
                    self.spawn(i, now);
                }
            }
            let p = &mut self.procs[i];
            if let Some(at) = p.probe_at {
                if at <= now && p.probe_pid.is_none() && p.state == State::Running && !p.ready {
                    p.probe_at = None;
                    let command = p
                        .command_probe()
                        .expect("probe_at is only set for command probes")
                        .to_string();
                    match self.os.spawn_probe(&p.spec, &command) {
                        Ok(pid) => {
                            p.probe_pid = Some(pid);
                            p.probe_generation = p.generation;
                        }
                        Err(e) => {
                            tracing::warn!(
                                "{}: cannot run the readiness command: {e}",
                                p.spec.name
                            );
                            let interval = p
                                .spec
                                .ready
                                .as_ref()
                                .map_or(Duration::from_secs(1), |r| r.interval);
                            p.probe_at = Some(now + interval);
                        }
                    }
                }
            }
        }
        // After the ladder's steps: the report says what is still due.
        if self.blocker_at.is_some_and(|t| t <= now) {
            self.blocker_at = Some(now + BLOCKER_REPORT);
            self.report_blockers(now);
        }
    }

    /// Marks generation `gi` of `index` gone if its group is empty, and then
    /// starts its readers' drain deadline.
    fn check_group(&mut self, index: usize, gi: usize, now: Instant) {
        let g = &mut self.procs[index].gens[gi];
        if !g.group_gone && !self.os.group_alive(g.pgid) {
            g.group_gone = true;
            g.kill_at = None;
            g.cut.send_replace(Some(now + DRAIN));
        }
    }

    fn start_waiting(&mut self, now: Instant) {
        loop {
            let mut changed = false;
            for i in 0..self.procs.len() {
                if self.procs[i].state != State::Waiting {
                    continue;
                }
                match self.dependencies(i) {
                    DepStatus::Satisfied => {
                        self.spawn(i, now);
                        changed = true;
                    }
                    DepStatus::Failed(why) => {
                        tracing::warn!("{} will not start: {why}", self.procs[i].spec.name);
                        // Not its own failure: the digest shows why, no FAILED mark.
                        self.procs[i].state = State::Failed(why);
                        changed = true;
                    }
                    DepStatus::Pending => {}
                }
                if self.stopping.is_some() {
                    return;
                }
            }
            if !changed {
                return;
            }
        }
    }

    fn dependencies(&self, index: usize) -> DepStatus {
        for dep in &self.procs[index].spec.depends_on {
            for p in self.procs.iter().filter(|p| p.spec.process == dep.process) {
                let n = &p.spec.name;
                let status = match dep.condition {
                    Condition::Started => match &p.state {
                        _ if p.generation > 0 => DepStatus::Satisfied,
                        State::Failed(_) => DepStatus::Failed(format!("{n} could not be started")),
                        _ => DepStatus::Pending,
                    },
                    Condition::Ready => match &p.state {
                        _ if p.ever_ready => DepStatus::Satisfied,
                        State::Failed(_) => DepStatus::Failed(format!("{n} could not be started")),
                        State::Exited => DepStatus::Failed(format!(
                            "{n} {} before it was ready",
                            p.last_exit.map_or("ended".into(), Exit::describe)
                        )),
                        _ => DepStatus::Pending,
                    },
                    Condition::ExitedOk => match (&p.state, p.last_exit) {
                        (State::Exited, Some(Exit::Code(0))) => DepStatus::Satisfied,
                        (State::Exited, Some(e)) => {
                            DepStatus::Failed(format!("{n} {}", e.describe()))
                        }
                        (State::Failed(_), _) => {
                            DepStatus::Failed(format!("{n} could not be started"))
                        }
                        _ => DepStatus::Pending,
                    },
                };
                match status {
                    DepStatus::Satisfied => {}
                    other => return other,
                }
            }
        }
        DepStatus::Satisfied
    }

    fn is_exited_ok_dependency(&self, index: usize) -> bool {
        let process = &self.procs[index].spec.process;
        self.procs.iter().any(|p| {
            p.spec
                .depends_on
                .iter()
                .any(|d| &d.process == process && d.condition == Condition::ExitedOk)
        })
    }

    /// Starts a new generation of process `index`.
    fn spawn(&mut self, index: usize, now: Instant) {
        let p = &mut self.procs[index];
        p.generation += 1;
        let cut = watch::Sender::new(None);
        match self.os.spawn(index, &p.spec, p.generation, cut.subscribe()) {
            Ok(pid) => {
                if p.generation > 1 {
                    tracing::info!(
                        "{} started again (pid {})",
                        p.spec.name,
                        pid.as_raw_nonzero()
                    );
                } else {
                    tracing::debug!(
                        "{} started as pid {}: {}",
                        p.spec.name,
                        pid.as_raw_nonzero(),
                        p.spec.command
                    );
                }
                p.gens.retain(|g| !g.over());
                p.gens.push(Gen {
                    generation: p.generation,
                    pgid: pid,
                    exit: None,
                    group_gone: false,
                    signalled: false,
                    step: 0,
                    kill_at: None,
                    killed: false,
                    open: 2,
                    cut,
                    announced: false,
                });
                p.state = State::Running;
                p.started_at = Some(now);
                p.ready = p.spec.ready.is_none();
                p.ever_ready |= p.ready;
                if p.command_probe().is_some() {
                    p.probe_at = Some(now);
                }
            }
            Err(e) => {
                tracing::error!("{}: cannot start `{}`: {e}", p.spec.name, p.spec.command);
                p.state = State::Failed(format!("cannot start: {e}"));
                p.failed = true;
                let name = p.spec.name.clone();
                if self.stopping.is_none() {
                    self.begin_stop(StopCause::SpawnFailed { name }, now);
                }
            }
        }
    }

    /// Every process runs and is ready, or has done its one job.
    fn all_ready(&self) -> bool {
        self.procs.iter().all(|p| match p.state {
            State::Running => p.ready,
            State::Exited => p.last_exit == Some(Exit::Code(0)),
            _ => false,
        })
    }

    fn begin_stop(&mut self, cause: StopCause, now: Instant) {
        if self.stopping.is_some() {
            // The first cause stands; it sets the exit status.
            return;
        }
        // A paused process cannot act on its stop signal.
        self.resume(now);
        self.os.stopping();
        self.os.notify_systemd("STOPPING=1");
        let live = self
            .procs
            .iter()
            .filter(|p| p.state == State::Running)
            .count();
        let why = match &cause {
            StopCause::Signal(s) => format!("received {}", s.name()),
            StopCause::Exited { name, .. } => format!("{name} has ended"),
            StopCause::StdoutClosed => "stdout was closed".to_string(),
            StopCause::SpawnFailed { name } => format!("{name} could not be started"),
            StopCause::Requested => "shutdown requested".to_string(),
            StopCause::AllEnded => "no process is left to run".to_string(),
        };
        if live > 0 {
            tracing::info!(
                "{why}: stopping {live} process{}",
                if live == 1 { "" } else { "es" }
            );
        } else {
            tracing::info!("{why}");
        }
        self.stopping = Some(cause);
        self.blocker_at = Some(now + BLOCKER_REPORT);
        // Say why a waiting process will never start, when its dependency
        // failed (often the very exit that stops everything).
        for i in 0..self.procs.len() {
            if self.procs[i].state == State::Waiting {
                if let DepStatus::Failed(why) = self.dependencies(i) {
                    tracing::warn!("{} will not start: {why}", self.procs[i].spec.name);
                    self.procs[i].state = State::Failed(why);
                }
            }
        }
        for p in &mut self.procs {
            if matches!(p.state, State::Waiting | State::Backoff { .. }) {
                p.state = State::Stopped;
            }
            p.probe_at = None;
            if let Some(pid) = p.probe_pid {
                // Its status is still reaped and matched before drover exits.
                let _ = self.os.signal_group(pid, libc::SIGKILL);
            }
        }
        self.advance_stop(now);
    }

    /// Sends the stop signal to each running process that nothing running
    /// depends on any more (reverse dependency order).
    fn advance_stop(&mut self, now: Instant) {
        for i in 0..self.procs.len() {
            let p = &self.procs[i];
            if p.state != State::Running || p.current().is_none_or(|g| g.signalled) {
                continue;
            }
            let process = &p.spec.process;
            let needed = self.procs.iter().any(|q| {
                q.state == State::Running
                    && q.spec.process != *process
                    && q.spec.depends_on.iter().any(|d| &d.process == process)
            });
            if !needed {
                self.send_stop(i, now);
            }
        }
    }

    fn send_stop(&mut self, index: usize, now: Instant) {
        let p = &self.procs[index];
        let Some(gi) = p
            .gens
            .iter()
            .rposition(|g| g.generation == p.generation && g.exit.is_none())
        else {
            return;
        };
        if !p.gens[gi].signalled {
            self.ladder_step(index, gi, now);
        }
    }

    /// Takes the next step of the stop ladder for generation `gi` of
    /// `index`: sends its signal and arms the time until the step after.
    fn ladder_step(&mut self, index: usize, gi: usize, now: Instant) {
        let stopping = self.stopping.is_some();
        let p = &mut self.procs[index];
        let ladder = &p.spec.stop_ladder;
        let g = &mut p.gens[gi];
        let Some(step) = ladder.get(g.step).copied() else {
            g.kill_at = None;
            return;
        };
        if g.step > 0 {
            let previous = ladder[g.step - 1];
            tracing::warn!(
                "{} is still running {} after {}: sending {}",
                p.spec.name,
                format_duration(previous.wait),
                previous.signal,
                step.signal
            );
        }
        g.signalled = true;
        g.step += 1;
        g.kill_at = (g.step < ladder.len()).then(|| now + step.wait);
        if step.signal == Signal::KILL {
            g.killed = true;
            // Only a kill during the stop makes a requested stop "not in
            // time"; one while running (a lingering group, drover stop)
            // does not.
            p.killed_any |= stopping;
        }
        match self.os.signal_group(g.pgid, step.signal.number()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                // Already gone; its SIGCHLD is on the way.
            }
            Err(e) => tracing::error!("{}: sending {}: {e}", p.spec.name, step.signal),
        }
        if self.paused_at.is_some() {
            // A paused (SIGTSTP) process cannot act on its stop signal.
            let _ = self.os.signal_group(g.pgid, libc::SIGCONT);
        }
    }

    fn kill_all_now(&mut self) {
        self.killed_all = true;
        for p in &mut self.procs {
            for g in p.gens.iter_mut().filter(|g| !g.group_gone) {
                g.kill_at = None;
                g.killed = true;
                p.killed_any = true;
                let _ = self.os.signal_group(g.pgid, libc::SIGKILL);
            }
        }
        for (pid, kill_at) in &mut self.orphans {
            *kill_at = None;
            self.orphan_killed = true;
            let _ = self.os.signal_group(*pid, libc::SIGKILL);
            let _ = self.os.signal_pid(*pid, libc::SIGKILL);
        }
    }

    /// Prints the exit line of a generation once it exited and its output
    /// ended, so the line comes after the process's last output.
    fn announce(&mut self, index: usize, generation: u32) {
        let p = &mut self.procs[index];
        let Some(g) = p.gens.iter_mut().find(|g| g.generation == generation) else {
            return;
        };
        if g.announced || g.open > 0 {
            return;
        }
        let Some(exit) = g.exit else { return };
        g.announced = true;
        if g.killed && exit != Exit::Signal(libc::SIGKILL) {
            tracing::info!("{} {} (after SIGKILL)", p.spec.name, exit.describe());
        } else {
            tracing::info!("{} {}", p.spec.name, exit.describe());
        }
    }

    /// Sends SIGTSTP to every running process and stops the timers
    /// (restart backoff, probes, the stop ladder).
    fn pause(&mut self, now: Instant) {
        if self.paused_at.is_some() {
            return;
        }
        self.paused_at = Some(now);
        for p in &self.procs {
            if let (State::Running, Some(g)) = (&p.state, p.current()) {
                let _ = self.os.signal_group(g.pgid, libc::SIGTSTP);
            }
        }
    }

    /// Sends SIGCONT to every running process and moves every timer on by
    /// the time spent paused.
    fn resume(&mut self, now: Instant) {
        let Some(since) = self.paused_at.take() else {
            return;
        };
        let paused = now.saturating_duration_since(since);
        let shift = |t: &mut Instant| *t += paused;
        for p in &mut self.procs {
            if let State::Backoff { until } = &mut p.state {
                shift(until);
            }
            if let Some(t) = &mut p.probe_at {
                shift(t);
            }
            for g in &mut p.gens {
                if let Some(t) = &mut g.kill_at {
                    shift(t);
                }
            }
            if let (State::Running, Some(g)) = (&p.state, p.current()) {
                let _ = self.os.signal_group(g.pgid, libc::SIGCONT);
            }
        }
        tracing::info!(
            "resumed after {}",
            format_duration(Duration::from_secs(paused.as_secs()))
        );
    }

    /// Says which processes (and which members of their groups) the
    /// shutdown still waits for, and when the next step of their ladder is due.
    fn report_blockers(&mut self, now: Instant) {
        for p in &self.procs {
            // A group already sent SIGKILL has nothing left to announce:
            // the line that said so stands.
            for g in p.gens.iter().filter(|g| !g.group_gone && !g.killed) {
                let members = self.os.group_members(g.pgid);
                if members.is_empty() {
                    continue;
                }
                let next = match (g.kill_at, p.spec.stop_ladder.get(g.step)) {
                    (Some(at), Some(step)) => format!(
                        "; {} in {}s",
                        step.signal,
                        at.saturating_duration_since(now).as_secs_f64().ceil() as u64
                    ),
                    _ => String::new(),
                };
                tracing::info!(
                    "waiting for {}: {}{next}",
                    p.spec.name,
                    crate::process::procfs::describe(&members)
                );
            }
        }
        for (pid, kill_at) in &self.orphans {
            let next = kill_at.map_or(String::new(), |at| {
                format!(
                    "; SIGKILL in {}s",
                    at.saturating_duration_since(now).as_secs_f64().ceil() as u64
                )
            });
            tracing::info!("waiting for pid {}{next}", pid.as_raw_nonzero());
        }
    }

    /// Once every generation is over: descendants that escaped their group
    /// and were re-parented to drover get SIGTERM, then SIGKILL after the
    /// timeout; drover waits until they are reaped.
    fn stop_orphans(&mut self, now: Instant) {
        if self.stopping.is_none() {
            return;
        }
        let all_over = self.procs.iter().all(|p| {
            p.state != State::Running && p.probe_pid.is_none() && p.gens.iter().all(Gen::over)
        });
        if !all_over {
            return;
        }
        for (pid, command) in self.os.adopted() {
            if self.orphans.iter().any(|(p, _)| *p == pid) {
                continue;
            }
            tracing::warn!(
                "pid {} ({command}) left its process group and outlived it: sending SIGTERM",
                pid.as_raw_nonzero()
            );
            let _ = self.os.signal_pid(pid, libc::SIGTERM);
            let kill_at = if self.killed_all {
                now
            } else {
                now + self.orphan_timeout
            };
            self.orphans.push((pid, Some(kill_at)));
        }
    }

    fn finished(&self) -> Step {
        let Some(cause) = &self.stopping else {
            return Step::Continue;
        };
        let all_over = self.procs.iter().all(|p| {
            p.state != State::Running && p.probe_pid.is_none() && p.gens.iter().all(Gen::over)
        });
        if !all_over {
            return Step::Continue;
        }
        if !self.orphans.is_empty() {
            return Step::Continue;
        }
        let mut killed: Vec<&str> = self
            .procs
            .iter()
            .filter(|p| p.killed_any)
            .map(|p| p.spec.name.as_str())
            .collect();
        if self.orphan_killed {
            killed.push("processes that left their group");
        }
        let status = match cause {
            StopCause::Exited { exit, .. } => exit.status(),
            StopCause::SpawnFailed { .. } => 1,
            StopCause::Signal(_)
            | StopCause::StdoutClosed
            | StopCause::Requested
            | StopCause::AllEnded => u8::from(!killed.is_empty()),
        };
        let how = match cause {
            StopCause::Exited { name, exit } => {
                format!("status of {name}, which {}", exit.describe())
            }
            StopCause::SpawnFailed { name } => format!("{name} could not be started"),
            _ if killed.is_empty() => "every process stopped in time".to_string(),
            _ => format!("SIGKILL was needed for {}", killed.join(", ")),
        };
        tracing::info!("all processes have stopped; exiting with status {status} ({how})");
        Step::Done(status)
    }

    /// Resolves `web` (every instance) or `web.2` to table indexes.
    fn resolve(&self, names: &[String]) -> Result<Vec<usize>, String> {
        let mut out = Vec::new();
        for n in names {
            let found: Vec<usize> = self
                .procs
                .iter()
                .enumerate()
                .filter(|(_, p)| &p.spec.name == n || &p.spec.process == n)
                .map(|(i, _)| i)
                .collect();
            if found.is_empty() {
                let known: Vec<&str> = self.procs.iter().map(|p| p.spec.name.as_str()).collect();
                return Err(format!(
                    "no process named {n:?} (running here: {})",
                    known.join(", ")
                ));
            }
            for i in found {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
        if out.is_empty() {
            return Err("name at least one process".into());
        }
        Ok(out)
    }

    fn control(&mut self, request: Request, now: Instant) -> Result<serde_json::Value, String> {
        if self.stopping.is_some()
            && !matches!(
                request,
                Request::Ps | Request::Shutdown | Request::Digest { .. }
            )
        {
            return Err("drover is shutting down".into());
        }
        match request {
            Request::Ps => Ok(json!({ "processes": self.ps(now) })),
            Request::Digest { .. } => Ok(json!({ "digest": self.digest(now) })),
            Request::Pause => {
                self.pause(now);
                tracing::info!("paused every process (requested)");
                Ok(json!({}))
            }
            Request::Resume => {
                if self.paused_at.is_none() {
                    return Err("nothing is paused".into());
                }
                self.resume(now);
                Ok(json!({}))
            }
            Request::Shutdown => {
                if self.stopping.is_none() {
                    self.begin_stop(StopCause::Requested, now);
                }
                Ok(json!({}))
            }
            Request::Stop { names } => {
                let indexes = self.resolve(&names)?;
                let mut done = Vec::new();
                for i in indexes {
                    let p = &mut self.procs[i];
                    match p.state {
                        State::Running => {
                            p.user_stopped = true;
                            p.want_restart = false;
                            tracing::info!("stopping {} (requested)", p.spec.name);
                            self.send_stop(i, now);
                        }
                        State::Waiting | State::Backoff { .. } => {
                            p.user_stopped = true;
                            p.state = State::Stopped;
                            tracing::info!("{} will not be started (stop requested)", p.spec.name);
                        }
                        State::Exited | State::Stopped | State::Failed(_) => {}
                    }
                    done.push(self.procs[i].spec.name.clone());
                }
                Ok(json!({ "stopped": done }))
            }
            Request::Restart { names } => {
                let indexes = self.resolve(&names)?;
                let mut done = Vec::new();
                for i in indexes {
                    let p = &mut self.procs[i];
                    p.user_stopped = false;
                    p.restarts_in_row = 0;
                    match p.state {
                        State::Running => {
                            p.want_restart = true;
                            tracing::info!("restarting {} (requested)", p.spec.name);
                            self.send_stop(i, now);
                        }
                        State::Waiting => {}
                        State::Backoff { .. } => {
                            // Counted when the delayed restart was scheduled.
                            tracing::info!("starting {} now (requested)", p.spec.name);
                            self.spawn(i, now);
                        }
                        State::Exited | State::Stopped | State::Failed(_) => {
                            if let DepStatus::Satisfied = self.dependencies(i) {
                                let p = &mut self.procs[i];
                                p.restarts += u32::from(p.generation > 0);
                                tracing::info!("starting {} (requested)", p.spec.name);
                                self.spawn(i, now);
                            } else {
                                // Back in line: it starts once its
                                // dependencies allow, as at the start.
                                let p = &mut self.procs[i];
                                tracing::info!(
                                    "{} will start once its dependencies allow (requested)",
                                    p.spec.name
                                );
                                p.state = State::Waiting;
                            }
                        }
                    }
                    done.push(self.procs[i].spec.name.clone());
                }
                Ok(json!({ "restarted": done }))
            }
            Request::Kill { name, signal } => {
                let sig: Signal = signal
                    .parse()
                    .map_err(|e: crate::types::SignalError| e.to_string())?;
                let indexes = self.resolve(std::slice::from_ref(&name))?;
                let mut sent = Vec::new();
                for i in indexes {
                    let p = &self.procs[i];
                    if let (State::Running, Some(g)) = (&p.state, p.current()) {
                        self.os
                            .signal_group(g.pgid, sig.number())
                            .map_err(|e| format!("sending {sig} to {}: {e}", p.spec.name))?;
                        tracing::info!("sent {sig} to {} (requested)", p.spec.name);
                        sent.push(p.spec.name.clone());
                    }
                }
                if sent.is_empty() {
                    return Err(format!("{name} is not running"));
                }
                Ok(json!({ "signalled": sent }))
            }
            Request::Logs { .. } => Err("logs are served by the control server".into()),
        }
    }

    /// Each process's result so far: the failure digest without output lines.
    pub fn digest(&self, now: Instant) -> Vec<DigestRow> {
        self.procs
            .iter()
            .map(|p| {
                let running = p
                    .started_at
                    .map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
                let result = match (&p.state, p.last_exit) {
                    (State::Running, _) => "running".to_string(),
                    (State::Failed(why), _) => format!("never started: {why}"),
                    (State::Backoff { .. }, Some(e)) => format!("{}, restarting", e.describe()),
                    (State::Stopped, None) | (State::Waiting, None) => "never started".to_string(),
                    (_, Some(e)) => e.describe(),
                    (_, None) => "never started".to_string(),
                };
                DigestRow {
                    name: p.spec.name.clone(),
                    result,
                    exit_status: p.last_exit.map(Exit::status),
                    restarts: p.restarts,
                    ran_secs: (p.ran + running).as_secs_f64(),
                    failed: p.failed,
                    last_lines: Vec::new(),
                }
            })
            .collect()
    }

    fn ps(&self, now: Instant) -> Vec<ProcessInfo> {
        self.procs
            .iter()
            .map(|p| {
                let running = p.state == State::Running;
                let stopping = running && p.current().is_some_and(|g| g.signalled);
                let state = match &p.state {
                    State::Running if self.paused_at.is_some() => "paused".to_string(),
                    State::Running if stopping => "stopping".to_string(),
                    State::Running if p.spec.ready.is_some() && p.ready => "ready".to_string(),
                    State::Running => "running".to_string(),
                    State::Waiting => "waiting".to_string(),
                    State::Backoff { .. } => "restarting".to_string(),
                    State::Exited => "exited".to_string(),
                    State::Stopped => "stopped".to_string(),
                    State::Failed(why) => format!("failed: {why}"),
                };
                ProcessInfo {
                    name: p.spec.name.clone(),
                    pid: if running {
                        p.current().map(|g| g.pgid.as_raw_nonzero().get())
                    } else {
                        None
                    },
                    state,
                    uptime_secs: if running {
                        p.started_at
                            .map(|s| now.saturating_duration_since(s).as_secs())
                    } else {
                        None
                    },
                    restarts: p.restarts,
                    last_exit: p.last_exit.map(Exit::short),
                    exit_status: p.last_exit.map(Exit::status),
                }
            })
            .collect()
    }
}

/// `initial × 2^n`, at most `max`.
fn backoff_delay(initial: Duration, max: Duration, n: u32) -> Duration {
    initial.saturating_mul(1u32 << n.min(20)).min(max)
}

impl<O: Os> Supervisor<O> {
    /// Starts the processes and runs the loop until every process is gone;
    /// returns drover's exit status and the failure digest.
    pub async fn run(
        mut self,
        signals: Signals,
        events: mpsc::UnboundedReceiver<Event>,
    ) -> (u8, Vec<DigestRow>) {
        let status = self.run_loop(signals, events).await;
        (status, self.digest(Instant::now()))
    }

    async fn run_loop(
        &mut self,
        mut signals: Signals,
        mut events: mpsc::UnboundedReceiver<Event>,
    ) -> u8 {
        if let Step::Done(code) = self.start(Instant::now()) {
            return code;
        }
        loop {
            let now = Instant::now();
            let wake = self.next_wakeup(now);
            // Each arm only turns what happened into an Event; `handle`
            // decides. All arms are cancel-safe (channel and signal receivers).
            let event = tokio::select! {
                Some(ev) = events.recv() => ev,
                Some(()) = signals.child.recv() => {
                    for (pid, exit) in reap_all() {
                        if let Step::Done(code) = self.handle(Event::Reaped { pid, exit }, Instant::now()) {
                            // Anything else reaped in this batch was a
                            // re-parented descendant; nothing waits for it.
                            return code;
                        }
                    }
                    continue;
                }
                Some(()) = signals.int.recv() => Event::Signal(StopSignal::Int),
                Some(()) = signals.term.recv() => Event::Signal(StopSignal::Term),
                Some(()) = signals.hup.recv() => Event::Signal(StopSignal::Hup),
                Some(()) = signals.tstp.recv() => Event::Suspend,
                Some(()) = signals.cont.recv() => Event::Continued,
                Some(()) = signals.stdout_closed.recv() => Event::StdoutClosed,
                () = sleep_until_opt(wake) => Event::Tick,
            };
            if let Step::Done(code) = self.handle(event, Instant::now()) {
                return code;
            }
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The signal streams the supervisor listens to, registered before any
/// child is spawned so that no SIGCHLD or SIGINT is missed.
#[derive(Debug)]
pub struct Signals {
    child: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    tstp: tokio::signal::unix::Signal,
    cont: tokio::signal::unix::Signal,
    stdout_closed: mpsc::UnboundedReceiver<()>,
}

impl Signals {
    /// Installs the handlers; `stdout_closed` reports a closed stdout.
    pub fn install(stdout_closed: mpsc::UnboundedReceiver<()>) -> io::Result<Self> {
        Ok(Self {
            child: signal(SignalKind::child())?,
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            tstp: signal(SignalKind::from_raw(libc::SIGTSTP))?,
            cont: signal(SignalKind::from_raw(libc::SIGCONT))?,
            stdout_closed,
        })
    }
}

/// Reaps every child that has ended, without blocking.
fn reap_all() -> Vec<(Pid, Exit)> {
    let mut reaped = Vec::new();
    loop {
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some((pid, status))) => {
                let exit = if let Some(code) = status.exit_status() {
                    Exit::Code(code)
                } else if let Some(sig) = status.terminating_signal() {
                    Exit::Signal(sig)
                } else {
                    // Stopped/continued are not reported without WUNTRACED.
                    continue;
                };
                reaped.push((pid, exit));
            }
            Ok(None) => break,
            Err(rustix::io::Errno::INTR) => continue,
            // ECHILD: no children left.
            Err(_) => break,
        }
    }
    reaped
}

fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests;
