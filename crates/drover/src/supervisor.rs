//! The supervisor: the broker that owns the process table.
//!
//! It alone knows pids, exits and deadlines. Its loop only collects events
//! (a child reaped, a stream ended, a signal, a deadline); the plain function
//! [`Supervisor::handle`] decides what to do with each, so the policy (signal
//! ladder, exit status) is tested without processes or real time. It must
//! not touch stdout: everything it says goes through `tracing` as `system`
//! lines.
//!
//! Shutdown: the first stop trigger (a signal, a process exiting, stdout
//! closing) sends each live process group its stop signal and arms its
//! deadline; at the deadline, or on a second signal, the groups still alive
//! get SIGKILL. The supervisor returns once every child is reaped, its group
//! is gone and both its streams have ended.

use std::io;
use std::time::Duration;

use rustix::process::{Pid, Signal, WaitOptions};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::child::{self, ReaderEnd};
use crate::config::ProcessSpec;
use crate::output::format::{LineFormatter, Stream};
use crate::output::OutputSender;

/// How long readers keep reading a pipe after the process and its group are
/// gone. Only a process that left the group (setsid) can still hold the pipe
/// then, and it is not waited for longer than this.
pub const DRAIN: Duration = Duration::from_millis(500);

/// How often the groups of exited processes are checked while they linger.
const GROUP_POLL: Duration = Duration::from_millis(10);

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// It was killed by this signal.
    Signal(i32),
    /// It could not be started.
    NotStarted,
}

impl Exit {
    /// The shell convention: the code, or 128 + the signal number.
    pub fn status(self) -> u8 {
        match self {
            Exit::Code(c) => (c & 0xff) as u8,
            Exit::Signal(s) => (128 + s).clamp(0, 255) as u8,
            Exit::NotStarted => 1,
        }
    }

    fn describe(self) -> String {
        match self {
            Exit::Code(c) => format!("exited with code {c}"),
            Exit::Signal(s) => format!("was killed by {}", signal_name(s)),
            Exit::NotStarted => "could not be started".to_string(),
        }
    }
}

/// The name of signal number `sig`, e.g. `SIGTERM`.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
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
    /// A reader of process `index` ended.
    StreamEnded {
        /// Index in the process table.
        index: usize,
        /// Which stream.
        stream: Stream,
        /// Why it ended.
        end: ReaderEnd,
    },
    /// drover received a stop signal.
    Signal(StopSignal),
    /// drover's stdout was closed: nobody reads the output any more.
    StdoutClosed,
    /// A deadline or a poll interval passed.
    Tick,
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

/// The operating-system calls the policy makes: a seam for tests.
pub trait Os {
    /// Sends `sig` to every process in group `pgid`.
    fn signal_group(&mut self, pgid: Pid, sig: Signal) -> io::Result<()>;
    /// Whether any process is left in group `pgid`.
    fn group_alive(&mut self, pgid: Pid) -> bool;
}

/// The real operating system.
#[derive(Debug, Default)]
pub struct RealOs;

impl Os for RealOs {
    fn signal_group(&mut self, pgid: Pid, sig: Signal) -> io::Result<()> {
        rustix::process::kill_process_group(pgid, sig).map_err(io::Error::from)
    }

    fn group_alive(&mut self, pgid: Pid) -> bool {
        // EPERM would mean a process we may not signal joined the group; it
        // is alive all the same.
        !matches!(
            rustix::process::test_kill_process_group(pgid),
            Err(rustix::io::Errno::SRCH)
        )
    }
}

/// Why drover is stopping.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StopCause {
    Signal(StopSignal),
    Exited { name: String, exit: Exit },
    StdoutClosed,
    SpawnFailed { name: String },
}

#[derive(Debug)]
struct Proc {
    spec: ProcessSpec,
    pid: Option<Pid>,
    exit: Option<Exit>,
    streams_open: u8,
    /// No process is left in the group (checked after the leader exited).
    group_gone: bool,
    /// When SIGKILL is due, once the stop signal was sent.
    kill_at: Option<Instant>,
    /// SIGKILL had to be sent.
    killed: bool,
    /// Tells the readers their drain deadline.
    cut: watch::Sender<Option<Instant>>,
    announced: bool,
}

/// The process table and the stop policy.
#[derive(Debug)]
pub struct Supervisor<O: Os> {
    procs: Vec<Proc>,
    stopping: Option<StopCause>,
    killed_all: bool,
    os: O,
}

impl<O: Os> Supervisor<O> {
    /// A table with one entry per spec; nothing is started yet.
    pub fn new(specs: Vec<ProcessSpec>, os: O) -> Self {
        let procs = specs
            .into_iter()
            .map(|spec| Proc {
                spec,
                pid: None,
                exit: None,
                streams_open: 0,
                group_gone: false,
                kill_at: None,
                killed: false,
                cut: watch::Sender::new(None),
                announced: false,
            })
            .collect();
        Self {
            procs,
            stopping: None,
            killed_all: false,
            os,
        }
    }

    /// Records that process `index` runs as `pid` with two open streams.
    pub fn started(&mut self, index: usize, pid: Pid) {
        let p = &mut self.procs[index];
        debug_assert!(p.pid.is_none(), "{} started twice", p.spec.name);
        p.pid = Some(pid);
        p.streams_open = 2;
    }

    /// Records that process `index` could not be started, and stops the rest.
    pub fn spawn_failed(&mut self, index: usize, error: &io::Error, now: Instant) {
        let p = &mut self.procs[index];
        tracing::error!(
            "{}: cannot start `{}`: {error}",
            p.spec.name,
            p.spec.command
        );
        p.exit = Some(Exit::NotStarted);
        p.group_gone = true;
        p.announced = true;
        let name = p.spec.name.clone();
        self.begin_stop(StopCause::SpawnFailed { name }, now);
    }

    /// A receiver of process `index`'s drain deadline, for its readers.
    pub fn cut_receiver(&self, index: usize) -> watch::Receiver<Option<Instant>> {
        self.procs[index].cut.subscribe()
    }

    /// Decides what to do about `event`.
    pub fn handle(&mut self, event: Event, now: Instant) -> Step {
        match event {
            Event::Reaped { pid, exit } => self.on_reaped(pid, exit, now),
            Event::StreamEnded { index, stream, end } => {
                let p = &mut self.procs[index];
                debug_assert!(p.streams_open > 0, "{}: a stream ended twice", p.spec.name);
                p.streams_open = p.streams_open.saturating_sub(1);
                if end == ReaderEnd::Cut {
                    tracing::warn!(
                        "{}: its {} is still held open by a process that left its group; stopped reading it",
                        p.spec.name,
                        stream.as_str()
                    );
                }
                self.announce(index);
            }
            Event::Signal(sig) => {
                if self.stopping.is_none() {
                    self.begin_stop(StopCause::Signal(sig), now);
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
        }
        self.finished()
    }

    /// When the loop must wake up even without events: the next SIGKILL
    /// deadline, or soon if a lingering group must be polled.
    pub fn next_wakeup(&self, now: Instant) -> Option<Instant> {
        let mut wake = self
            .procs
            .iter()
            .filter(|p| !p.group_gone)
            .filter_map(|p| p.kill_at)
            .min();
        if self.procs.iter().any(|p| p.exit.is_some() && !p.group_gone) {
            let poll = now + GROUP_POLL;
            wake = Some(wake.map_or(poll, |w| w.min(poll)));
        }
        wake
    }

    fn on_reaped(&mut self, pid: Pid, exit: Exit, now: Instant) {
        let Some(index) = self
            .procs
            .iter()
            .position(|p| p.pid == Some(pid) && p.exit.is_none())
        else {
            // A descendant re-parented to drover (it is a subreaper).
            tracing::debug!("reaped pid {} ({})", pid.as_raw_nonzero(), exit.describe());
            return;
        };
        self.procs[index].exit = Some(exit);
        self.check_group(index, now);
        if self.stopping.is_none() {
            let name = self.procs[index].spec.name.clone();
            self.begin_stop(StopCause::Exited { name, exit }, now);
        }
        self.announce(index);
    }

    fn on_tick(&mut self, now: Instant) {
        for i in 0..self.procs.len() {
            let p = &self.procs[i];
            if p.exit.is_some() && !p.group_gone {
                self.check_group(i, now);
            }
            let p = &mut self.procs[i];
            if let Some(at) = p.kill_at {
                if at <= now && !p.group_gone {
                    p.kill_at = None;
                    let pgid = p.pid.expect("a process with a deadline was started");
                    tracing::warn!(
                        "{} is still running {} after the stop signal: sending SIGKILL",
                        p.spec.name,
                        format_duration(p.spec.stop_timeout)
                    );
                    p.killed = true;
                    let _ = self.os.signal_group(pgid, Signal::KILL);
                }
            }
        }
    }

    /// Marks the group of exited process `index` gone if it is, and then
    /// starts its readers' drain deadline.
    fn check_group(&mut self, index: usize, now: Instant) {
        let p = &mut self.procs[index];
        let pgid = p.pid.expect("only started processes are checked");
        if !self.os.group_alive(pgid) {
            p.group_gone = true;
            p.kill_at = None;
            p.cut.send_replace(Some(now + DRAIN));
        }
    }

    fn begin_stop(&mut self, cause: StopCause, now: Instant) {
        let live = self
            .procs
            .iter()
            .filter(|p| !p.group_gone && p.pid.is_some())
            .count();
        let why = match &cause {
            StopCause::Signal(s) => format!("received {}", s.name()),
            StopCause::Exited { name, .. } => format!("{name} has ended"),
            StopCause::StdoutClosed => "stdout was closed".to_string(),
            StopCause::SpawnFailed { name } => format!("{name} could not be started"),
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
        for p in &mut self.procs {
            let Some(pgid) = p.pid else { continue };
            if p.group_gone {
                continue;
            }
            match self.os.signal_group(pgid, Signal::TERM) {
                Ok(()) => p.kill_at = Some(now + p.spec.stop_timeout),
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                    // Already gone; its SIGCHLD is on the way.
                }
                Err(e) => tracing::error!("{}: sending SIGTERM: {e}", p.spec.name),
            }
        }
    }

    fn kill_all_now(&mut self) {
        self.killed_all = true;
        for p in &mut self.procs {
            let Some(pgid) = p.pid else { continue };
            if p.group_gone {
                continue;
            }
            p.kill_at = None;
            p.killed = true;
            let _ = self.os.signal_group(pgid, Signal::KILL);
        }
    }

    /// Prints the exit line of process `index` once it exited and its output
    /// ended, so the line comes after the process's last output.
    fn announce(&mut self, index: usize) {
        let p = &mut self.procs[index];
        if p.announced || p.streams_open > 0 {
            return;
        }
        let Some(exit) = p.exit else { return };
        p.announced = true;
        if p.killed {
            tracing::info!("{} {} (after SIGKILL)", p.spec.name, exit.describe());
        } else {
            tracing::info!("{} {}", p.spec.name, exit.describe());
        }
    }

    fn finished(&self) -> Step {
        let Some(cause) = &self.stopping else {
            return Step::Continue;
        };
        let all_gone = self
            .procs
            .iter()
            .all(|p| p.exit.is_some() && p.group_gone && p.streams_open == 0);
        if !all_gone {
            return Step::Continue;
        }
        let killed: Vec<&str> = self
            .procs
            .iter()
            .filter(|p| p.killed)
            .map(|p| p.spec.name.as_str())
            .collect();
        let status = match cause {
            StopCause::Exited { exit, .. } => exit.status(),
            StopCause::SpawnFailed { .. } => 1,
            StopCause::Signal(_) | StopCause::StdoutClosed => u8::from(!killed.is_empty()),
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
}

impl<O: Os> Supervisor<O> {
    /// Starts every process and its two readers, then runs the loop until
    /// every process is gone; returns drover's exit status.
    ///
    /// Must run inside a janitor: the readers are its daemons.
    pub async fn run(
        mut self,
        formatters: Vec<LineFormatter>,
        out: OutputSender,
        mut signals: Signals,
        events_tx: mpsc::UnboundedSender<Event>,
        mut events: mpsc::UnboundedReceiver<Event>,
    ) -> u8 {
        for (index, fmt) in formatters.into_iter().enumerate() {
            if self.stopping.is_some() {
                // A process failed to start: start no more.
                let p = &mut self.procs[index];
                p.exit = Some(Exit::NotStarted);
                p.group_gone = true;
                p.announced = true;
                continue;
            }
            match child::spawn(&self.procs[index].spec) {
                Ok(spawned) => {
                    self.started(index, spawned.pid);
                    tracing::debug!(
                        "{} started as pid {}: {}",
                        self.procs[index].spec.name,
                        spawned.pid.as_raw_nonzero(),
                        self.procs[index].spec.command
                    );
                    for (pipe, stream) in [
                        (spawned.stdout, Stream::Stdout),
                        (spawned.stderr, Stream::Stderr),
                    ] {
                        let (fmt, out, tx) = (fmt.clone(), out.clone(), events_tx.clone());
                        let cut = self.cut_receiver(index);
                        let name =
                            format!("reader:{}:{}", self.procs[index].spec.name, stream.as_str());
                        janitor::spawn_named_daemon(name, async move {
                            let end = child::read_stream(pipe, fmt, stream, out, cut).await;
                            // The supervisor may already be gone if drover
                            // is being torn down; then nobody needs to know.
                            let _ = tx.send(Event::StreamEnded { index, stream, end });
                            Ok(())
                        });
                    }
                }
                Err(e) => self.spawn_failed(index, &e, Instant::now()),
            }
        }
        // Only readers send events now; the supervisor keeps no sender of
        // its own so that a stuck reader is visible as a hang in tests,
        // never as a silently ignored event.
        drop(events_tx);
        drop(out);
        if let Step::Done(code) = self.finished() {
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
                    let mut step = Step::Continue;
                    for (pid, exit) in reap_all() {
                        step = self.handle(Event::Reaped { pid, exit }, Instant::now());
                    }
                    if let Step::Done(code) = step {
                        return code;
                    }
                    continue;
                }
                Some(()) = signals.int.recv() => Event::Signal(StopSignal::Int),
                Some(()) = signals.term.recv() => Event::Signal(StopSignal::Term),
                Some(()) = signals.hup.recv() => Event::Signal(StopSignal::Hup),
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
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::path::PathBuf;

    /// Records signals; groups die when told to by the test.
    #[derive(Default)]
    struct FakeOs {
        sent: Vec<(i32, Signal)>,
        alive: HashSet<i32>,
    }

    impl Os for FakeOs {
        fn signal_group(&mut self, pgid: Pid, sig: Signal) -> io::Result<()> {
            self.sent.push((pgid.as_raw_nonzero().get(), sig));
            if self.alive.contains(&pgid.as_raw_nonzero().get()) {
                Ok(())
            } else {
                Err(io::Error::from_raw_os_error(libc::ESRCH))
            }
        }
        fn group_alive(&mut self, pgid: Pid) -> bool {
            self.alive.contains(&pgid.as_raw_nonzero().get())
        }
    }

    fn spec(name: &str, timeout: u64) -> ProcessSpec {
        ProcessSpec {
            name: name.into(),
            process: name.into(),
            index: 0,
            instance: 1,
            command: "x".into(),
            env: vec![],
            cwd: PathBuf::from("."),
            port: 5000,
            stop_timeout: Duration::from_secs(timeout),
            stop_signal: libc::SIGTERM,
            restart: crate::config::RestartPolicy::No,
        }
    }

    fn pid(n: i32) -> Pid {
        Pid::from_raw(n).unwrap()
    }

    /// Two running processes, pids 10 and 20, groups alive.
    fn two() -> Supervisor<FakeOs> {
        let mut os = FakeOs::default();
        os.alive.extend([10, 20]);
        let mut s = Supervisor::new(vec![spec("web.1", 5), spec("worker.1", 5)], os);
        s.started(0, pid(10));
        s.started(1, pid(20));
        s
    }

    fn end_streams(s: &mut Supervisor<FakeOs>, index: usize, now: Instant) -> Step {
        let _ = s.handle(
            Event::StreamEnded {
                index,
                stream: Stream::Stdout,
                end: ReaderEnd::Eof,
            },
            now,
        );
        s.handle(
            Event::StreamEnded {
                index,
                stream: Stream::Stderr,
                end: ReaderEnd::Eof,
            },
            now,
        )
    }

    fn exits(s: &mut Supervisor<FakeOs>, p: i32, exit: Exit, now: Instant) -> Step {
        s.os.alive.remove(&p);
        s.handle(Event::Reaped { pid: pid(p), exit }, now)
    }

    #[test]
    fn a_process_exiting_stops_the_others_and_sets_the_status() {
        let t0 = Instant::now();
        let mut s = two();
        assert_eq!(exits(&mut s, 10, Exit::Code(3), t0), Step::Continue);
        assert_eq!(s.os.sent, vec![(20, Signal::TERM)]);
        assert_eq!(end_streams(&mut s, 0, t0), Step::Continue);
        assert_eq!(
            exits(&mut s, 20, Exit::Signal(libc::SIGTERM), t0),
            Step::Continue
        );
        assert_eq!(end_streams(&mut s, 1, t0), Step::Done(3));
    }

    #[test]
    fn killed_by_a_signal_means_128_plus_the_signal() {
        let t0 = Instant::now();
        let mut s = two();
        let _ = exits(&mut s, 20, Exit::Signal(9), t0);
        let _ = end_streams(&mut s, 1, t0);
        let _ = exits(&mut s, 10, Exit::Code(0), t0);
        assert_eq!(end_streams(&mut s, 0, t0), Step::Done(137));
    }

    #[test]
    fn signal_ladder_term_then_kill_at_the_deadline() {
        let t0 = Instant::now();
        let mut s = two();
        let _ = s.handle(Event::Signal(StopSignal::Int), t0);
        assert_eq!(s.os.sent, vec![(10, Signal::TERM), (20, Signal::TERM)]);
        // web stops in time; worker ignores SIGTERM.
        let _ = exits(&mut s, 10, Exit::Code(0), t0 + Duration::from_secs(1));
        let _ = end_streams(&mut s, 0, t0);
        assert_eq!(s.next_wakeup(t0), Some(t0 + Duration::from_secs(5)));
        let _ = s.handle(Event::Tick, t0 + Duration::from_millis(4999));
        assert_eq!(s.os.sent.len(), 2, "no SIGKILL before the deadline");
        let _ = s.handle(Event::Tick, t0 + Duration::from_secs(5));
        assert_eq!(s.os.sent[2], (20, Signal::KILL));
        let _ = exits(&mut s, 20, Exit::Signal(9), t0 + Duration::from_secs(5));
        // A requested stop that needed SIGKILL exits 1.
        assert_eq!(end_streams(&mut s, 1, t0), Step::Done(1));
    }

    #[test]
    fn requested_stop_in_time_exits_zero() {
        let t0 = Instant::now();
        let mut s = two();
        let _ = s.handle(Event::Signal(StopSignal::Term), t0);
        let _ = exits(&mut s, 10, Exit::Signal(15), t0);
        let _ = exits(&mut s, 20, Exit::Code(0), t0);
        let _ = end_streams(&mut s, 0, t0);
        assert_eq!(end_streams(&mut s, 1, t0), Step::Done(0));
    }

    #[test]
    fn second_signal_kills_at_once() {
        let t0 = Instant::now();
        let mut s = two();
        let _ = s.handle(Event::Signal(StopSignal::Int), t0);
        let _ = s.handle(Event::Signal(StopSignal::Int), t0);
        assert_eq!(
            s.os.sent,
            vec![
                (10, Signal::TERM),
                (20, Signal::TERM),
                (10, Signal::KILL),
                (20, Signal::KILL)
            ]
        );
        assert_eq!(s.next_wakeup(t0), None);
    }

    #[test]
    fn a_lingering_group_is_polled_and_killed() {
        let t0 = Instant::now();
        let mut s = two();
        let _ = s.handle(Event::Signal(StopSignal::Term), t0);
        // The leader of web exits but a grandchild keeps its group alive.
        let _ = s.handle(
            Event::Reaped {
                pid: pid(10),
                exit: Exit::Code(0),
            },
            t0,
        );
        let _ = end_streams(&mut s, 0, t0);
        let _ = exits(&mut s, 20, Exit::Code(0), t0);
        assert_eq!(
            end_streams(&mut s, 1, t0),
            Step::Continue,
            "group 10 is still alive"
        );
        assert_eq!(s.next_wakeup(t0), Some(t0 + GROUP_POLL));
        let _ = s.handle(Event::Tick, t0 + Duration::from_secs(5));
        assert!(s.os.sent.contains(&(10, Signal::KILL)));
        s.os.alive.remove(&10);
        assert_eq!(
            s.handle(Event::Tick, t0 + Duration::from_secs(5)),
            Step::Done(1)
        );
    }

    #[test]
    fn drain_deadline_starts_when_the_group_is_gone() {
        let t0 = Instant::now();
        let mut s = two();
        let cut = s.cut_receiver(0);
        assert_eq!(*cut.borrow(), None);
        let _ = exits(&mut s, 10, Exit::Code(0), t0);
        assert_eq!(*cut.borrow(), Some(t0 + DRAIN));
    }

    #[test]
    fn stdout_closed_stops_everything() {
        let t0 = Instant::now();
        let mut s = two();
        let _ = s.handle(Event::StdoutClosed, t0);
        assert_eq!(s.os.sent, vec![(10, Signal::TERM), (20, Signal::TERM)]);
    }

    #[test]
    fn unknown_pids_are_ignored() {
        let t0 = Instant::now();
        let mut s = two();
        assert_eq!(
            s.handle(
                Event::Reaped {
                    pid: pid(99),
                    exit: Exit::Code(0)
                },
                t0
            ),
            Step::Continue
        );
        assert!(s.os.sent.is_empty());
    }
}
