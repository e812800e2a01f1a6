//! Stopping: the stop ladder of each start, the shutdown and its order,
//! the second signal, escaped descendants, pause/resume, the blocker
//! report, and the end with its exit status. Decides only: every signal
//! leaves as an action, and the exit status comes from `reports`.

use std::time::Duration;

use tokio::time::Instant;

use super::deps::DepStatus;
use super::events::{self, EventKind};
use super::lifecycle::format_duration;
use super::state::{Ladder, Life, Phase, Proc, Ready};
use super::{say, Action, Core, Level, Orphan, StopCause, StopSignal, BLOCKER_REPORT};
use crate::plan::KillMode;
use crate::supervisor::reports::{describe, Ending, ExitReport};
use crate::types::{Exit, Pid, Signal};

/// Escaped descendants named one by one; past these, one summary line.
const ORPHANS_NAMED: usize = 5;

impl Core {
    pub(super) fn on_signal(&mut self, sig: StopSignal, now: Instant) {
        self.signals += 1;
        if self.stopping.is_none() {
            self.begin_stop(StopCause::Signal(sig), now);
        } else if self.signals == 1 {
            // A stop is already under way for another reason; a first
            // signal asks for nothing more.
            say!(
                self.out,
                Info,
                "received {}: already stopping (send it again to kill every process now)",
                sig.name()
            );
        } else if !self.killed_all {
            say!(
                self.out,
                Warn,
                "received {} again: killing every process now",
                sig.name()
            );
            self.kill_all_now();
        }
    }

    pub(super) fn begin_stop(&mut self, cause: StopCause, now: Instant) {
        if self.stopping.is_some() {
            // The first cause stands; it sets the exit status.
            return;
        }
        // A paused process cannot act on its stop signal.
        self.resume(now);
        self.out.push(Action::Stopping);
        self.out.push(Action::NotifySystemd("STOPPING=1"));
        let live = self.procs.iter().filter(|p| p.is_running()).count();
        let why = match &cause {
            StopCause::Signal(s) => format!("received {}", s.name()),
            StopCause::Exited { name, .. } => format!("{name} has ended"),
            StopCause::StdoutClosed { error: None } => "stdout was closed".to_string(),
            StopCause::StdoutClosed { error: Some(e) } => format!("writing stdout failed ({e})"),
            StopCause::SpawnFailed { name } => format!("{name} could not be started"),
            StopCause::Requested => "shutdown requested".to_string(),
            StopCause::AllEnded => "no process is left to run".to_string(),
        };
        if live > 0 {
            let s = if live == 1 { "" } else { "es" };
            say!(self.out, Info, "{why}: stopping {live} process{s}");
        } else {
            say!(self.out, Info, "{why}");
        }
        self.emit_shutdown(why);
        self.stopping = Some(cause);
        self.stop_began = Some(now);
        self.blocker_at = Some(now + BLOCKER_REPORT);
        // Say why a waiting process will never start, when its dependency
        // failed (often the very exit that stops everything).
        for i in 0..self.procs.len() {
            if self.procs[i].life == Life::Waiting {
                if let DepStatus::Failed(why) = self.dependencies(i) {
                    say!(
                        self.out,
                        Warn,
                        "{} will not start: {why}",
                        self.procs[i].spec.name
                    );
                    self.procs[i].life = Life::Failed { why };
                }
            }
        }
        for p in &mut self.procs {
            if matches!(p.life, Life::Waiting | Life::Backoff { .. }) {
                p.life = Life::Stopped { by_user: false };
            }
            if let Some(run) = p.run_mut() {
                if let Ready::No { next_probe } = &mut run.ready {
                    *next_probe = None;
                }
            }
            if let Some(probe) = p.probe {
                // Its status is still reaped and matched before drover exits.
                self.out.push(Action::SignalGroup {
                    pgid: probe.pid,
                    signal: Signal::KILL,
                    name: None,
                });
            }
        }
        self.advance_stop(now);
    }

    /// The first step of the ladder for the current start of `index`.
    pub(super) fn send_stop(&mut self, index: usize, now: Instant) {
        let p = &self.procs[index];
        let Some(gen) = p.run().map(|r| r.gen) else {
            return;
        };
        let Some(si) = p
            .starts
            .iter()
            .rposition(|s| s.gen == gen && s.exit().is_none())
        else {
            return;
        };
        if p.starts[si].ladder == Ladder::Idle {
            self.ladder_step(index, si, now);
        }
    }

    /// Takes the next step of the stop ladder for start `si` of `index`:
    /// sends its signal and arms the time until the step after.
    pub(super) fn ladder_step(&mut self, index: usize, si: usize, now: Instant) {
        let stopping = self.stopping.is_some();
        let paused = self.paused_at.is_some();
        let p = &mut self.procs[index];
        let ladder = &p.spec.stop_ladder;
        let s = &mut p.starts[si];
        let taken = match s.ladder {
            Ladder::Idle => 0,
            Ladder::Climbing { taken, .. } => taken,
            Ladder::Killed => return,
        };
        let Some(step) = ladder.get(taken).copied() else {
            s.ladder = Ladder::Climbing { taken, next: None };
            return;
        };
        if taken == 0 {
            let phase = s.phase;
            let reason = events::stop_reason(p, phase, stopping);
            self.emit(index, EventKind::Stopping { reason });
        }
        let p = &mut self.procs[index];
        let ladder = &p.spec.stop_ladder;
        let s = &mut p.starts[si];
        if taken > 0 {
            let previous = ladder[taken - 1];
            say!(
                self.out,
                Warn,
                "{} is still running {} after {}: sending {}",
                p.spec.name,
                format_duration(previous.wait),
                previous.signal,
                step.signal
            );
        }
        let taken = taken + 1;
        if step.signal == Signal::KILL {
            // SIGKILL ends the climb. Only a kill during the stop makes a
            // requested stop "not in time"; one while running (a lingering
            // group, drover stop) does not.
            s.ladder = Ladder::Killed;
            p.history.killed_in_stop |= stopping;
            let killed = events::action(index, &p.spec.name, EventKind::Killed);
            self.out.push(killed);
        } else {
            s.ladder = Ladder::Climbing {
                taken,
                next: (taken < ladder.len()).then(|| now + step.wait),
            };
        }
        let pgid = s.pgid;
        // `kill_mode = "mixed"`: a prefork server stops its own workers, so
        // only its main process hears the stop signals while it runs; the
        // final SIGKILL, and any signal once it is gone, reach the group.
        let leader_only = p.spec.kill_mode == KillMode::Mixed
            && step.signal != Signal::KILL
            && s.phase == Phase::Live;
        if leader_only {
            self.out.push(Action::SignalPid {
                pid: pgid,
                signal: step.signal,
            });
        } else {
            self.out.push(Action::SignalGroup {
                pgid,
                signal: step.signal,
                name: Some(p.spec.name.clone()),
            });
        }
        if paused {
            // A paused (SIGTSTP) process cannot act on its stop signal.
            self.out.push(signal_group(pgid, Signal::CONT));
        }
    }

    fn kill_all_now(&mut self) {
        self.killed_all = true;
        for (i, p) in self.procs.iter_mut().enumerate() {
            for s in p.starts.iter_mut().filter(|s| !s.gone()) {
                s.ladder = Ladder::Killed;
                p.history.killed_in_stop = true;
                self.out.push(signal_group(s.pgid, Signal::KILL));
                let killed = events::action(i, &p.spec.name, EventKind::Killed);
                self.out.push(killed);
            }
        }
        for o in &mut self.orphans {
            o.kill_at = None;
            self.orphan_killed = true;
            self.out.push(signal_group(o.pid, Signal::KILL));
            self.out.push(Action::SignalPid {
                pid: o.pid,
                signal: Signal::KILL,
            });
        }
    }

    /// Writes the exit line of a start once it exited and its output
    /// ended, so the line comes after the process's last output.
    pub(super) fn announce(&mut self, index: usize, gen: u32) {
        let p = &mut self.procs[index];
        let Some(si) = p.start_of(gen) else { return };
        let s = &mut p.starts[si];
        if s.announced || s.open > 0 {
            return;
        }
        let Some(exit) = s.exit() else { return };
        s.announced = true;
        if s.failed {
            // Its output has ended: the ring's last lines are this run's.
            self.out.push(Action::KeepFailedLines { index });
        }
        let (level, note) = s.note.take().unwrap_or((Level::Info, String::new()));
        let after_kill = s.ladder == Ladder::Killed && exit != Exit::Signal(Signal::KILL.number());
        let after_kill = if after_kill { " (after SIGKILL)" } else { "" };
        self.out.push(Action::Say {
            level,
            text: format!("{} {}{after_kill}{note}", p.spec.name, exit.describe()),
        });
    }

    /// Sends SIGTSTP to every running process and stops the timers
    /// (restart backoff, probes, the stop ladder).
    /// Passes `sig` on to every running process's group; drover runs on.
    pub(super) fn forward(&mut self, sig: Signal) {
        let mut names = Vec::new();
        for p in &self.procs {
            if let Some(s) = p.current() {
                self.out.push(Action::SignalGroup {
                    pgid: s.pgid,
                    signal: sig,
                    name: Some(p.spec.name.clone()),
                });
                names.push(p.spec.name.as_str());
            }
        }
        if names.is_empty() {
            say!(
                self.out,
                Info,
                "received {sig}: no process runs to pass it on to"
            );
        } else {
            say!(
                self.out,
                Info,
                "received {sig}: passed it on to {}",
                names.join(", ")
            );
        }
    }

    pub(super) fn pause(&mut self, now: Instant) {
        if self.paused_at.is_some() {
            return;
        }
        self.paused_at = Some(now);
        let mut pgids = Vec::new();
        for (i, p) in self.procs.iter().enumerate() {
            if let Some(s) = p.current() {
                self.out.push(signal_group(s.pgid, Signal::TSTP));
                pgids.push(s.pgid);
                let paused = events::action(i, &p.spec.name, EventKind::Paused);
                self.out.push(paused);
            }
        }
        // A descendant that left its group (setsid) is in an orphaned group
        // of its own, where SIGTSTP does nothing: SIGSTOP stops it.
        self.out.push(Action::SignalEscaped {
            pgids,
            signal: Signal::STOP,
        });
    }

    /// Sends SIGCONT to every running process and moves every timer on by
    /// the time spent paused.
    pub(super) fn resume(&mut self, now: Instant) {
        let Some(since) = self.paused_at.take() else {
            return;
        };
        let paused = now.saturating_duration_since(since);
        let mut pgids = Vec::new();
        for (i, p) in self.procs.iter_mut().enumerate() {
            shift_timers(p, paused);
            if let Some(s) = p.current() {
                self.out.push(signal_group(s.pgid, Signal::CONT));
                pgids.push(s.pgid);
                let resumed = events::action(i, &p.spec.name, EventKind::Resumed);
                self.out.push(resumed);
            }
        }
        self.out.push(Action::SignalEscaped {
            pgids,
            signal: Signal::CONT,
        });
        say!(
            self.out,
            Info,
            "resumed after {}",
            format_duration(Duration::from_secs(paused.as_secs()))
        );
    }

    /// Asks who is still in each group the shutdown waits for.
    pub(super) fn ask_blockers(&mut self) {
        let pgids = self
            .procs
            .iter()
            .flat_map(|p| &p.starts)
            .filter(|s| !s.gone() && matches!(s.ladder, Ladder::Climbing { .. }))
            .map(|s| s.pgid)
            .collect();
        self.out.push(Action::ListMembers { pgids });
    }

    /// Says which processes (and which members of their groups) the
    /// shutdown still waits for, and when the next step of their ladder is due.
    pub(super) fn on_members(&mut self, groups: &[(Pid, Vec<(Pid, String)>)], now: Instant) {
        let secs = |at: Instant| at.saturating_duration_since(now).as_secs_f64().ceil() as u64;
        // Past a handful, the rest of the processes are counted in one line
        // (with the soonest next step), not named one by one each second.
        let mut named = 0usize;
        let mut more = 0usize;
        let mut soonest: Option<(Instant, Signal)> = None;
        for p in &self.procs {
            // A group already sent SIGKILL has nothing left to announce:
            // the line that said so stands.
            // Only what was signalled: a process still waiting for its
            // dependents to stop is not what the stop waits for.
            for s in p
                .starts
                .iter()
                .filter(|s| !s.gone() && matches!(s.ladder, Ladder::Climbing { .. }))
            {
                let Some((_, members)) = groups.iter().find(|(g, _)| *g == s.pgid) else {
                    continue;
                };
                if members.is_empty() {
                    continue;
                }
                let taken = match s.ladder {
                    Ladder::Climbing { taken, .. } => taken,
                    Ladder::Idle | Ladder::Killed => 0,
                };
                let step = s.next_step().zip(p.spec.stop_ladder.get(taken));
                if named == ORPHANS_NAMED {
                    more += 1;
                    if let Some((at, step)) = step {
                        if soonest.is_none_or(|(t, _)| at < t) {
                            soonest = Some((at, step.signal));
                        }
                    }
                    continue;
                }
                named += 1;
                let next = match step {
                    Some((at, step)) => format!("; {} in {}s", step.signal, secs(at)),
                    None => String::new(),
                };
                say!(
                    self.out,
                    Info,
                    "waiting for {}: {}{next}",
                    p.spec.name,
                    describe(members)
                );
            }
        }
        if more > 0 {
            let next = soonest.map_or(String::new(), |(at, sig)| {
                format!("; {sig} in {}s", secs(at))
            });
            say!(self.out, Info, "waiting for {more} more processes{next}");
        }
        for o in self.orphans.iter().take(ORPHANS_NAMED) {
            let next = o
                .kill_at
                .map_or(String::new(), |at| format!("; SIGKILL in {}s", secs(at)));
            say!(self.out, Info, "waiting for pid {}{next}", o.pid);
        }
        if let Some(rest) = self
            .orphans
            .len()
            .checked_sub(ORPHANS_NAMED)
            .filter(|n| *n > 0)
        {
            let next = self
                .orphans
                .iter()
                .filter_map(|o| o.kill_at)
                .min()
                .map_or(String::new(), |at| format!("; SIGKILL in {}s", secs(at)));
            say!(
                self.out,
                Info,
                "waiting for {rest} more processes that left their groups{next}"
            );
        }
    }

    /// While stopping: the next processes in the stop order, and once
    /// every start may be over, a look for escaped descendants. Asked last,
    /// so its answer sees the answers to this event's polls.
    pub(super) fn settle(&mut self, now: Instant) {
        self.advance_stop(now);
        if self.procs.iter().all(Proc::maybe_quiet) {
            self.out.push(Action::FindAdopted);
        }
    }

    /// Descendants that escaped their group and were re-parented to drover
    /// get SIGTERM, then SIGKILL after the timeout; drover waits until they
    /// are reaped.
    pub(super) fn on_adopted(&mut self, found: Vec<(Pid, String)>, now: Instant) {
        if !self.procs.iter().all(Proc::quiet) {
            // A group polled in the same event still has members.
            return;
        }
        // One deadline for the whole stop: a descendant found late gets
        // what is left of the timeout, not a timeout of its own.
        let deadline = self.stop_began.map_or(now, |t| t + self.orphan_timeout);
        let mut told = self.orphans.len();
        let mut untold = 0usize;
        for (pid, command) in found {
            if self.orphans.iter().any(|o| o.pid == pid) {
                continue;
            }
            if told < ORPHANS_NAMED {
                say!(
                    self.out,
                    Warn,
                    "pid {pid} ({command}) left its process group and outlived it: sending SIGTERM"
                );
                told += 1;
            } else {
                untold += 1;
            }
            self.out.push(Action::SignalPid {
                pid,
                signal: Signal::TERM,
            });
            let kill_at = if self.killed_all {
                now
            } else {
                deadline.max(now)
            };
            self.orphans.push(Orphan {
                pid,
                kill_at: Some(kill_at),
            });
        }
        if untold > 0 {
            say!(
                self.out,
                Warn,
                "{untold} more processes left their process groups and outlived them: sending SIGTERM"
            );
        }
        self.finished();
    }

    pub(super) fn tick_orphans(&mut self, now: Instant) {
        let mut killed = 0usize;
        for o in &mut self.orphans {
            if o.kill_at.is_some_and(|k| k <= now) {
                o.kill_at = None;
                self.orphan_killed = true;
                if killed < ORPHANS_NAMED {
                    say!(
                        self.out,
                        Warn,
                        "pid {} is still running: sending SIGKILL",
                        o.pid
                    );
                }
                killed += 1;
                // Its own group (it left ours, often with setsid), then
                // the process itself in case it leads none.
                self.out.push(signal_group(o.pid, Signal::KILL));
                self.out.push(Action::SignalPid {
                    pid: o.pid,
                    signal: Signal::KILL,
                });
            }
        }
        if killed > ORPHANS_NAMED {
            say!(
                self.out,
                Warn,
                "{} more processes that left their groups are still running: sending SIGKILL",
                killed - ORPHANS_NAMED
            );
        }
    }

    /// Once stopping and everything is over: the exit line and the exit.
    pub(super) fn finished(&mut self) {
        let Some(cause) = &self.stopping else {
            return;
        };
        if !self.procs.iter().all(Proc::quiet) || !self.orphans.is_empty() {
            return;
        }
        let mut killed: Vec<String> = self
            .procs
            .iter()
            .filter(|p| p.history.killed_in_stop)
            .map(|p| p.spec.name.clone())
            .collect();
        if self.orphan_killed {
            killed.push("processes that left their group".into());
        }
        let ending = match cause {
            StopCause::Exited { name, exit } => Ending::Exited {
                name: name.clone(),
                exit: *exit,
            },
            StopCause::SpawnFailed { name } => Ending::SpawnFailed { name: name.clone() },
            StopCause::StdoutClosed { error: Some(e) } => Ending::OutputFailed { error: e.clone() },
            StopCause::Signal(_)
            | StopCause::StdoutClosed { error: None }
            | StopCause::Requested
            | StopCause::AllEnded => Ending::Requested,
        };
        let report = ExitReport::new(ending, &killed);
        say!(
            self.out,
            Info,
            "all processes have stopped; exiting with status {} ({})",
            report.status,
            report.how
        );
        self.out.push(Action::Exit(report.status));
    }
}

/// A signal to a group whose failure nobody needs to hear of.
fn signal_group(pgid: Pid, signal: Signal) -> Action {
    Action::SignalGroup {
        pgid,
        signal,
        name: None,
    }
}

/// Moves every timer of `p` on by `paused`.
fn shift_timers(p: &mut Proc, paused: Duration) {
    if let Life::Backoff { until } = &mut p.life {
        *until += paused;
    }
    if let Some(run) = p.run_mut() {
        if let Ready::No {
            next_probe: Some(t),
        } = &mut run.ready
        {
            *t += paused;
        }
    }
    for s in &mut p.starts {
        if let Ladder::Climbing { next: Some(t), .. } = &mut s.ladder {
            *t += paused;
        }
    }
}
