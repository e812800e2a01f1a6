//! The imperative shell around the policy core: owns the OS side.
//!
//! The `select!` loop only collects events (signals, reaped children, the
//! readers' and probes' reports, control requests, timers); the core
//! decides; [`Shell::apply`] runs the actions through `process::` one by
//! one and feeds each answer back to the core at once, depth first, so a
//! decision never runs ahead of the answer it depends on. Only the shell
//! holds pids as something to signal, the readers' drain deadlines, and
//! the control clients' reply channels.
//!
//! Must not decide anything: no policy here, only "do this, say what came
//! of it".

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::core::events::LifeEvent;
use super::core::{
    Action, Answer, Command, Core, Event, Level, Refusal, RequestId, StopSignal, StreamEnd, Target,
};
use super::reports::DigestRow;
use crate::plan::ProcessSpec;
use crate::process::child::ReaderEnd;
use crate::process::launcher::{ChildEvent, Launcher};
use crate::process::os::{self, Signals};
use crate::process::procfs;
use crate::types::Signal;

/// How often re-parented descendants are looked for, for the keeper.
const ADOPTION_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// A control client's command, with where its answer goes.
#[derive(Debug)]
pub(crate) struct ControlRequest {
    /// The command.
    pub command: Command,
    /// The answer, or the error to show the client.
    pub reply: oneshot::Sender<Result<Answer, Refusal>>,
}

/// What running an action gave.
enum Outcome {
    Nothing,
    Answer(Event),
    Exit(u8),
}

/// The OS side of the supervisor.
pub(crate) struct Shell {
    core: Core,
    specs: Vec<ProcessSpec>,
    launcher: Launcher,
    /// The drain deadline of each start's readers, until it is set.
    cuts: HashMap<(usize, u32), watch::Sender<Option<Instant>>>,
    replies: HashMap<RequestId, oneshot::Sender<Result<Answer, Refusal>>>,
    next_request: u64,
    /// `--output json`: lifecycle events go into the output too.
    json_output: bool,
}

/// Starts the processes and runs until every process is gone; returns
/// drover's exit status and the failure digest (without output lines).
pub(crate) async fn run(
    specs: Vec<ProcessSpec>,
    launcher: Launcher,
    signals: Signals,
    children: mpsc::UnboundedReceiver<ChildEvent>,
    control: mpsc::UnboundedReceiver<ControlRequest>,
) -> (u8, Vec<DigestRow>) {
    let json_output = launcher
        .formatters
        .first()
        .is_some_and(|f| f.mode() == crate::types::OutputMode::Json);
    let mut shell = Shell {
        json_output,
        core: Core::new(specs.clone()),
        specs,
        launcher,
        cuts: HashMap::new(),
        replies: HashMap::new(),
        next_request: 0,
    };
    let status = shell.run_loop(signals, children, control).await;
    (status, shell.core.digest(Instant::now()))
}

impl Shell {
    async fn run_loop(
        &mut self,
        mut signals: Signals,
        mut children: mpsc::UnboundedReceiver<ChildEvent>,
        mut control: mpsc::UnboundedReceiver<ControlRequest>,
    ) -> u8 {
        if let Some(code) = self.apply(Event::Start, Instant::now()) {
            return code;
        }
        // Once a second, descendants re-parented to drover are registered
        // with the keeper (not a policy matter: the core never hears of it).
        let mut adoption = tokio::time::interval(ADOPTION_CHECK);
        adoption.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let wake = self.core.next_wakeup(Instant::now());
            // Each arm only turns what happened into an Event. All arms are
            // cancel-safe (channel and signal receivers, a sleep).
            let event = tokio::select! {
                Some(ev) = children.recv() => child_event(ev),
                Some(req) = control.recv() => {
                    let id = RequestId(self.next_request);
                    self.next_request += 1;
                    self.replies.insert(id, req.reply);
                    Event::Control { id, command: req.command }
                }
                Some(()) = signals.child.recv() => {
                    for (pid, exit) in os::reap_all() {
                        self.launcher.reaped(pid);
                        if let Some(code) = self.apply(Event::Reaped { pid, exit }, Instant::now()) {
                            // Anything else reaped in this batch was a
                            // re-parented descendant; nothing waits for it.
                            return code;
                        }
                    }
                    continue;
                }
                Some(()) = signals.int.recv() => Event::Signal(StopSignal::Int),
                Some(()) = signals.term.recv() => Event::Signal(StopSignal::Term),
                Some(()) = recv_opt(&mut signals.hup) => Event::Signal(StopSignal::Hup),
                Some(()) = signals.quit.recv() => Event::Signal(StopSignal::Quit),
                Some(()) = signals.usr1.recv() => Event::Forward(Signal::USR1),
                Some(()) = signals.usr2.recv() => Event::Forward(Signal::USR2),
                Some(()) = signals.tstp.recv() => Event::Suspend,
                Some(()) = signals.cont.recv() => Event::Continued,
                Some(error) = signals.stdout_closed.recv() => Event::StdoutClosed { error },
                _ = adoption.tick() => {
                    self.launcher.register_adopted();
                    continue;
                }
                () = sleep_until_opt(wake) => Event::Tick,
            };
            if let Some(code) = self.apply(event, Instant::now()) {
                return code;
            }
        }
    }

    /// Lets the core decide about `event` and runs the actions, each
    /// answer decided (and its actions run) before the next action.
    fn apply(&mut self, event: Event, now: Instant) -> Option<u8> {
        let mut stack: Vec<Action> = self.core.handle(event, now);
        stack.reverse();
        while let Some(action) = stack.pop() {
            match self.execute(action) {
                Outcome::Nothing => {}
                Outcome::Answer(event) => {
                    let more = self.core.handle(event, now);
                    stack.extend(more.into_iter().rev());
                }
                Outcome::Exit(code) => return Some(code),
            }
        }
        None
    }

    fn execute(&mut self, action: Action) -> Outcome {
        let answer = match action {
            Action::Spawn { index, gen } => self.spawn(index, gen),
            Action::SpawnProbe {
                index,
                gen,
                command,
            } => match self.launcher.spawn_probe(&self.specs[index], &command) {
                Ok(pid) => Event::ProbeSpawned { index, gen, pid },
                Err(e) => Event::ProbeFailed {
                    index,
                    error: e.to_string(),
                },
            },
            Action::SignalGroup { pgid, signal, name } => {
                match (self.launcher.signal_group(pgid, signal), name) {
                    // Already gone; its SIGCHLD is on the way.
                    (Err(e), _) if e.raw_os_error() == Some(libc::ESRCH) => {
                        return Outcome::Nothing
                    }
                    (Err(e), Some(name)) => Event::SignalFailed {
                        name,
                        signal,
                        error: e.to_string(),
                    },
                    (Ok(()) | Err(_), _) => return Outcome::Nothing,
                }
            }
            Action::SignalPid { pid, signal } => {
                let _ = os::kill_pid(pid, signal);
                return Outcome::Nothing;
            }
            Action::SignalEscaped { pgids, signal } => {
                for pid in procfs::escaped_descendants(&pgids) {
                    let _ = os::kill_pid(pid, signal);
                }
                return Outcome::Nothing;
            }
            Action::PollGroup { index, gen, pgid } => {
                if self.launcher.group_alive(pgid) {
                    Event::GroupAlive { index, gen }
                } else {
                    Event::GroupGone { index, gen }
                }
            }
            Action::CutReaders { index, gen, at } => {
                // Dropping the sender after setting the deadline is fine:
                // a reader sees the value before it sees the close.
                if let Some(cut) = self.cuts.remove(&(index, gen)) {
                    cut.send_replace(Some(at));
                }
                return Outcome::Nothing;
            }
            Action::ListMembers { pgids } => Event::Members(self.launcher.group_members(&pgids)),
            Action::FindAdopted => Event::Adopted(self.launcher.adopted()),
            Action::SignalForRequest {
                id,
                signal,
                targets,
            } => self.signal_for_request(id, signal, targets),
            Action::Exit(code) => return Outcome::Exit(code),
            other => {
                self.side_effect(other);
                return Outcome::Nothing;
            }
        };
        Outcome::Answer(answer)
    }

    /// Actions that answer nothing.
    fn side_effect(&mut self, action: Action) {
        match action {
            Action::Stopping => self.launcher.stopping(),
            Action::NotifySystemd(state) => self.launcher.notify_systemd(state),
            Action::StopSelf => {
                // SIGSTOP cannot be caught: drover stops here, with every
                // thread, until the shell sends SIGCONT.
                let _ = os::kill_pid(os::own_pid(), Signal::STOP);
            }
            Action::Say { level, text } => say(level, &text),
            Action::SetSpec { index, spec } => self.set_spec(index, *spec),
            Action::ReleaseSockets { index } => self.launcher.sockets.release(index),
            Action::KeepFailedLines { index } => self.launcher.hub.keep_failed_lines(index),
            Action::Event(event) => self.publish(&event),
            Action::Answer { id, answer } => {
                // The client may have hung up; nothing to do then.
                if let Some(reply) = self.replies.remove(&id) {
                    let _ = reply.send(answer);
                }
            }
            other => unreachable!("answered actions are run by `execute`: {other:?}"),
        }
    }

    /// Process `index` has `spec` from now on; one past the last is a new
    /// instance, appended to every per-index table.
    fn set_spec(&mut self, index: usize, spec: ProcessSpec) {
        let mut spec = spec;
        if index < self.specs.len() {
            // Named ports keep the numbers they were given.
            let old = &self.specs[index];
            for (name, port) in &mut spec.named_ports {
                if let Some((_, p)) = old.named_ports.iter().find(|(n, _)| n == name) {
                    *port = *p;
                }
            }
            for (k, v) in old.env.iter().filter(|(k, _)| k.starts_with("PORT_")) {
                spec.env.retain(|(n, _)| n != k);
                spec.env.push((k.clone(), v.clone()));
            }
            if spec.sockets != old.sockets {
                if let Err(e) = self.launcher.sockets.replace(index, &spec) {
                    say(
                        Level::Warn,
                        &format!("reload: {e}; it keeps the sockets it had"),
                    );
                }
            }
            self.specs[index] = spec;
            return;
        }
        if let Err(e) = crate::process::ports::allocate_added(&mut spec) {
            say(
                Level::Warn,
                &format!("{}: cannot give it its named ports: {e}", spec.name),
            );
        }
        debug_assert_eq!(index, self.specs.len(), "instances are appended");
        let l = &mut self.launcher;
        let formatter = l.formatters[0].for_process(&spec.name, spec.index);
        l.formatters.push(formatter);
        let at = l.hub.add(spec.name.clone());
        debug_assert_eq!(at, index, "the log hub follows the table");
        l.terminals.add(spec.tty);
        if let Err(e) = l.sockets.add(index, &spec) {
            say(Level::Warn, &format!("{e}; it starts without its sockets"));
        }
        self.specs.push(spec);
    }

    fn spawn(&mut self, index: usize, gen: u32) -> Event {
        let (cut, cut_rx) = watch::channel(None);
        self.launcher.hub.run_starts(index);
        if gen > 1 {
            // A restart sees the .env files as they are now.
            match crate::plan::reread_env(&self.specs[index]) {
                Ok(env) => self.specs[index].env = env,
                Err(e) => tracing::warn!(
                    target: "drover::supervisor",
                    "{}: reading the .env files again: {e}; it keeps the variables it had",
                    self.specs[index].name
                ),
            }
        }
        match self.launcher.spawn(index, &self.specs[index], gen, cut_rx) {
            Ok(pid) => {
                self.cuts.insert((index, gen), cut);
                Event::Spawned { index, gen, pid }
            }
            Err(e) => Event::SpawnFailed {
                index,
                gen,
                error: e.to_string(),
            },
        }
    }

    /// Stamps `event` with the time and passes it on: to `drover events`
    /// followers, into the output with `--output json`, and to its hooks.
    fn publish(&mut self, event: &LifeEvent) {
        let hooks = event.process.as_ref().map_or(Vec::new(), |(index, _)| {
            super::events::hooks_for(&self.specs[*index].hooks, &event.kind)
        });
        // Thousands of starts make thousands of events: nothing is
        // formatted when nobody reads them.
        if !self.json_output && hooks.is_empty() && !self.launcher.hub.has_event_followers() {
            return;
        }
        let time = chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
        let json = super::events::to_json(event, &time);
        if self.json_output {
            let mut line = Vec::with_capacity(json.len() + 1);
            line.extend_from_slice(json.as_bytes());
            line.push(b'\n');
            // Once the writer has ended, nobody reads the output any more.
            let _ = self.launcher.out.send_unmetered(line);
        }
        let name = event.process.as_ref().map(|(_, name)| name.clone());
        self.launcher
            .hub
            .publish_event(crate::output::logs::EventLine {
                name,
                json: json.clone(),
            });
        let Some((index, _)) = &event.process else {
            return;
        };
        let spec = &self.specs[*index];
        for (which, command) in hooks {
            let vars = super::events::hook_env(&json);
            if let Err(e) = self.launcher.spawn_hook(spec, which, command, vars) {
                tracing::warn!(
                    target: "drover::hook",
                    "{}: cannot run its {which} hook: {e}",
                    spec.name
                );
            }
        }
    }

    fn signal_for_request(&mut self, id: RequestId, signal: Signal, targets: Vec<Target>) -> Event {
        let mut sent = Vec::new();
        let mut failed = None;
        for t in targets {
            let result = if t.whole_group {
                self.launcher.signal_group(t.pid, signal)
            } else {
                os::kill_pid(t.pid, signal)
            };
            match result {
                Ok(()) => sent.push(t.name),
                Err(e) => {
                    failed = Some((t.name, e.to_string()));
                    break;
                }
            }
        }
        Event::Signalled {
            id,
            signal,
            sent,
            failed,
        }
    }
}

fn child_event(ev: ChildEvent) -> Event {
    match ev {
        ChildEvent::StreamEnded {
            index,
            gen,
            stream,
            end,
            holders,
        } => Event::StreamEnded {
            index,
            gen,
            stream,
            end: match end {
                ReaderEnd::Eof | ReaderEnd::WriterGone => StreamEnd::Closed,
                ReaderEnd::Cut => StreamEnd::HeldOpen(holders),
                ReaderEnd::Stuck => StreamEnd::Stuck,
            },
        },
        ChildEvent::Ready { index, gen } => Event::Ready { index, gen },
        ChildEvent::ProbeMissed { index, gen, error } => Event::ProbeMissed { index, gen, error },
        ChildEvent::FilesChanged { index, files } => Event::FilesChanged { index, files },
    }
}

/// Writes a system line through `tracing` (the output layer makes it a
/// `system` line), under the supervisor's target as before the split.
fn say(level: Level, text: &str) {
    match level {
        Level::Debug => tracing::debug!(target: "drover::supervisor", "{text}"),
        Level::Info => tracing::info!(target: "drover::supervisor", "{text}"),
        Level::Warn => tracing::warn!(target: "drover::supervisor", "{text}"),
        Level::Error => tracing::error!(target: "drover::supervisor", "{text}"),
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The next delivery of an optional signal stream; never, without one.
async fn recv_opt(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}
