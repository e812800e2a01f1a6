//! Starts, exits, restarts with backoff, readiness and the timers of a
//! running table. Decides; never acts (see the module above).

use std::time::Duration;

use tokio::time::Instant;

use super::events::{probe_kind, EventKind};
use super::state::{Ladder, Life, Phase, ProbeRun, Ready, Run, Start, Then};
use super::{say, Action, Core, Level, StopCause, StreamEnd, DRAIN};
use crate::output::format::Stream;
use crate::plan::RestartPolicy;
use crate::types::{Exit, Pid};

impl Core {
    /// Asks for a new start of process `index`.
    pub(super) fn spawn(&mut self, index: usize) {
        let p = &mut self.procs[index];
        p.gen += 1;
        p.life = Life::Starting { gen: p.gen };
        let gen = p.gen;
        self.emit(index, EventKind::Starting);
        self.out.push(Action::Spawn { index, gen });
    }

    pub(super) fn on_spawned(&mut self, index: usize, gen: u32, pid: Pid, now: Instant) {
        let p = &mut self.procs[index];
        debug_assert_eq!(
            p.life,
            Life::Starting { gen },
            "{}: an unasked spawn",
            p.spec.name
        );
        if gen > 1 {
            say!(self.out, Info, "{} started again (pid {pid})", p.spec.name);
        } else {
            say!(self.out, Info, "{} started (pid {pid})", p.spec.name);
        }
        p.starts.retain(|s| !s.over());
        p.starts.push(Start {
            gen,
            pgid: pid,
            phase: Phase::Live,
            ladder: Ladder::Idle,
            // A pty is one stream; pipes are two.
            open: if p.spec.tty { 1 } else { 2 },
            announced: false,
            failed: false,
            note: None,
        });
        let ready = if p.spec.ready.is_none() {
            Ready::Yes
        } else {
            Ready::No {
                next_probe: p.command_probe().map(|_| now),
            }
        };
        p.history.ever_ready |= ready == Ready::Yes;
        p.life = Life::Running(Run {
            gen,
            pgid: pid,
            since: now,
            ready,
            then: Then::Decide,
            tries: 0,
            probe_error: None,
            by_request: std::mem::take(&mut p.requested),
        });
        self.emit(index, EventKind::Started { pid });
        if ready == Ready::Yes {
            // No readiness check: ready as soon as it runs.
            let after = Duration::ZERO;
            self.emit(index, EventKind::Ready { after, probe: None });
        }
    }

    pub(super) fn on_spawn_failed(&mut self, index: usize, gen: u32, error: &str, now: Instant) {
        let p = &mut self.procs[index];
        debug_assert_eq!(
            p.life,
            Life::Starting { gen },
            "{}: an unasked spawn",
            p.spec.name
        );
        say!(
            self.out,
            Error,
            "{}: cannot start `{}`: {error}",
            p.spec.name,
            p.spec.command
        );
        p.life = Life::Failed {
            why: format!("cannot start: {error}"),
        };
        p.history.failed = true;
        let name = p.spec.name.clone();
        if self.stopping.is_none() {
            self.begin_stop(StopCause::SpawnFailed { name }, now);
        }
    }

    pub(super) fn on_probe_spawned(&mut self, index: usize, gen: u32, pid: Pid) {
        self.procs[index].probe = Some(ProbeRun { pid, gen });
    }

    pub(super) fn on_probe_failed(&mut self, index: usize, error: &str, now: Instant) {
        let p = &mut self.procs[index];
        say!(
            self.out,
            Warn,
            "{}: cannot run the readiness command: {error}",
            p.spec.name
        );
        let interval = p
            .spec
            .ready
            .as_ref()
            .map_or(Duration::from_secs(1), |r| r.interval);
        if let Some(run) = p.run_mut() {
            run.ready = Ready::No {
                next_probe: Some(now + interval),
            };
        }
    }

    /// A command probe ended.
    fn on_probe_reaped(&mut self, index: usize, exit: Exit, now: Instant) {
        let stopping = self.stopping.is_some();
        let p = &mut self.procs[index];
        let probe = p.probe.take().expect("the caller found the probe");
        let interval = p
            .spec
            .ready
            .as_ref()
            .map_or(Duration::from_millis(250), |r| r.interval);
        // A probe started for an earlier start says nothing of this one.
        let latest = p.gen;
        let Some(run) = p.run_mut() else { return };
        if probe.gen != latest || run.ready == Ready::Yes || stopping {
            return;
        }
        let gen = run.gen;
        if exit == Exit::Code(0) {
            self.on_ready(index, gen, now);
        } else {
            run.ready = Ready::No {
                next_probe: Some(now + interval),
            };
            let command = p.command_probe().unwrap_or_default();
            let error = format!("command `{command}` {}", exit.describe());
            self.on_probe_missed(index, gen, error);
        }
    }

    /// A try of the readiness check of start `gen` failed: counted, and
    /// its error said once, then again only when it changes.
    pub(super) fn on_probe_missed(&mut self, index: usize, gen: u32, error: String) {
        let p = &mut self.procs[index];
        let name = &p.spec.name;
        let Life::Running(run) = &mut p.life else {
            return;
        };
        if run.gen != gen || !matches!(run.ready, Ready::No { .. }) {
            return;
        }
        run.tries += 1;
        if run.probe_error.as_ref() != Some(&error) {
            say!(self.out, Info, "{name} is not ready yet: {error}");
            run.probe_error = Some(error.clone());
            self.emit(index, EventKind::ProbeFailed { error });
        }
    }

    /// The readiness deadline of the current run of `i` passed: it counts
    /// as failed and is stopped; its end then goes by its restart policy.
    fn ready_timed_out(&mut self, i: usize, timeout: Duration, now: Instant) {
        let p = &mut self.procs[i];
        let Some(run) = p.run_mut() else { return };
        run.ready = Ready::TimedOut;
        let last = match &run.probe_error {
            Some(e) => format!("{e}, {} tries", run.tries),
            None => "no answer".to_string(),
        };
        let why = format!("not ready within {}", format_duration(timeout));
        say!(
            self.out,
            Error,
            "{} was {why} (last: {last}): stopping it",
            p.spec.name
        );
        p.history.failed = true;
        p.history.unready = Some(format!("{} was {why}", p.spec.name));
        self.send_stop(i, now);
    }

    pub(super) fn on_reaped(&mut self, pid: Pid, exit: Exit, now: Instant) {
        if let Some(i) = self
            .procs
            .iter()
            .position(|p| p.probe.is_some_and(|r| r.pid == pid))
        {
            self.on_probe_reaped(i, exit, now);
            return;
        }
        let found = self.procs.iter().enumerate().find_map(|(i, p)| {
            p.starts
                .iter()
                .position(|s| s.pgid == pid && s.phase == Phase::Live)
                .map(|si| (i, si))
        });
        let Some((index, si)) = found else {
            // A descendant re-parented to drover (it is a subreaper).
            self.orphans.retain(|o| o.pid != pid);
            say!(self.out, Debug, "reaped pid {pid} ({})", exit.describe());
            return;
        };
        let p = &mut self.procs[index];
        let timed_out = p
            .run()
            .is_some_and(|r| r.gen == p.starts[si].gen && r.ready == Ready::TimedOut);
        let ran = p
            .run()
            .filter(|r| r.gen == p.starts[si].gen)
            .map(|r| now.saturating_duration_since(r.since));
        let s = &mut p.starts[si];
        s.phase = Phase::Lingering(exit);
        let gen = s.gen;
        p.history.last_exit = Some(exit);
        // Nobody asked it to stop: it failed on its own. A stop asked for
        // (and answered with any status) is no failure.
        s.failed = (s.ladder == Ladder::Idle && exit != Exit::Code(0)) || timed_out;
        p.history.failed = s.failed;
        p.history.failures += u32::from(s.failed);
        let failed = s.failed;
        if let Some(ran) = ran {
            self.emit(index, EventKind::Exited { exit, ran, failed });
        }
        // Is the group empty? What follows waits for the answer
        // (`on_group_answer`).
        self.out.push(Action::PollGroup {
            index,
            gen,
            pgid: pid,
        });
    }

    /// The answer to a poll of the group of start `gen`: a lingering group
    /// gets its first stop signal (or its next, when due); an empty one
    /// starts its readers' drain deadline. After a reaped leader, what
    /// follows its exit is decided here, as it was right after the check.
    pub(super) fn on_group_answer(&mut self, index: usize, gen: u32, alive: bool, now: Instant) {
        let p = &mut self.procs[index];
        let Some(si) = p.start_of(gen) else { return };
        let Some(exit) = p.starts[si].exit() else {
            unreachable!("only the group of a reaped leader is polled");
        };
        let reaped_now = p.run().is_some_and(|r| r.gen == gen);
        let s = &mut p.starts[si];
        if alive {
            let due = match s.ladder {
                Ladder::Idle => true,
                Ladder::Climbing { next, .. } => next.is_some_and(|at| at <= now),
                Ladder::Killed => false,
            };
            if due {
                self.ladder_step(index, si, now);
            }
        } else if !s.gone() {
            s.phase = Phase::Gone(exit);
            if let Ladder::Climbing { next, .. } = &mut s.ladder {
                *next = None;
            }
            self.out.push(Action::CutReaders {
                index,
                gen,
                at: now + DRAIN,
            });
        }
        let stop = if reaped_now {
            self.after_exit(index, exit, now)
        } else {
            None
        };
        // Once its output has ended too (it says nothing if already said);
        // before the stop it causes, which it explains.
        self.announce(index, gen);
        if let Some(cause) = stop {
            self.begin_stop(cause, now);
        }
        if reaped_now {
            self.after(now);
        }
    }

    /// Decides what comes after the current run of `index` ended; returns
    /// the stop of everything it calls for (the foreman rule), if any.
    fn after_exit(&mut self, index: usize, exit: Exit, now: Instant) -> Option<StopCause> {
        let exited_ok_dependency = self.is_exited_ok_dependency(index);
        let dependency_done = exit == Exit::Code(0) && exited_ok_dependency;
        let stopping = self.stopping.is_some();
        let p = &mut self.procs[index];
        let Life::Running(run) = std::mem::replace(&mut p.life, Life::Exited) else {
            unreachable!("after_exit is only called for a running process");
        };
        let ran = now.saturating_duration_since(run.since);
        p.history.ran += ran;
        let name = p.spec.name.clone();
        match run.then {
            _ if stopping => {
                p.life = if run.then == Then::Stop {
                    Life::Stopped { by_user: true }
                } else {
                    Life::Exited
                };
                return None;
            }
            Then::Restart => {
                p.history.restarts += 1;
                p.life = Life::Backoff { until: now };
                let count = p.history.in_row;
                let delay = std::time::Duration::ZERO;
                self.emit(index, EventKind::Restarting { delay, count });
                return None;
            }
            Then::Stop => {
                p.life = Life::Stopped { by_user: true };
                return None;
            }
            Then::Decide => {}
        }
        if ran >= p.spec.backoff.reset_after {
            p.history.in_row = 0;
        }
        // A run stopped for missing its readiness deadline failed,
        // whatever its status.
        let failed = exit != Exit::Code(0) || run.ready == Ready::TimedOut;
        let wants = match p.spec.restart {
            RestartPolicy::No => false,
            RestartPolicy::OnFailure => failed,
            RestartPolicy::Always => true,
        };
        let h = &mut p.history;
        let allowed = p.spec.max_restarts.is_none_or(|m| h.in_row < m);
        if wants && allowed {
            let b = &p.spec.backoff;
            let delay = backoff_delay(b.initial, b.max, h.in_row);
            h.in_row += 1;
            h.restarts += 1;
            p.life = Life::Backoff { until: now + delay };
            let note = format!(
                "; restarting in {} (restart {}{})",
                format_duration(delay),
                h.in_row,
                p.spec
                    .max_restarts
                    .map_or(String::new(), |m| format!(" of {m}"))
            );
            // One line per crash: the exit line says what follows.
            if let Some(s) = p.starts.iter_mut().find(|s| s.gen == run.gen) {
                s.note = Some((Level::Info, note));
            }
            let count = h.in_row;
            self.emit(index, EventKind::Restarting { delay, count });
            return None;
        }
        if wants {
            let note = format!("; giving up after {} restarts in a row", h.in_row);
            if let Some(s) = p.starts.iter_mut().find(|s| s.gen == run.gen) {
                s.note = Some((Level::Warn, note));
            }
        }
        if p.spec.can_die || (run.by_request && exited_ok_dependency) {
            // A one-off: its end, with any status, stops nothing; an
            // `exited_ok` dependent still needs status 0 (`deps`).
            return None;
        }
        (!dependency_done || wants).then_some(StopCause::Exited { name, exit })
    }

    pub(super) fn on_ready(&mut self, index: usize, gen: u32, now: Instant) {
        let p = &mut self.procs[index];
        // Ready only while it runs: a leader already reaped is not.
        let live = p.current().is_some();
        let Some(run) = p.run_mut() else { return };
        if run.gen != gen || !matches!(run.ready, Ready::No { .. }) || !live {
            return;
        }
        run.ready = Ready::Yes;
        let after = now.saturating_duration_since(run.since);
        p.history.unready = None;
        p.history.ever_ready = true;
        if let Some(r) = &p.spec.ready {
            say!(self.out, Info, "{} is ready", p.spec.name);
            let probe = Some(probe_kind(&r.probe));
            self.emit(index, EventKind::Ready { after, probe });
        }
    }

    pub(super) fn on_stream_ended(
        &mut self,
        index: usize,
        gen: u32,
        stream: Stream,
        end: StreamEnd,
    ) {
        let p = &mut self.procs[index];
        let name = p.spec.name.clone();
        if let Some(si) = p.start_of(gen) {
            let s = &mut p.starts[si];
            debug_assert!(s.open > 0, "{name}: a stream ended twice");
            s.open = s.open.saturating_sub(1);
        }
        let stream = stream.as_str();
        match end {
            StreamEnd::HeldOpen(holders) if holders.is_empty() => say!(
                self.out,
                Warn,
                "{name}: its {stream} is still held open by a process that left its group; stopped reading it"
            ),
            StreamEnd::HeldOpen(holders) => say!(
                self.out,
                Warn,
                "{name}: its {stream} is still held open by {}, which left its group; stopped reading it",
                crate::supervisor::reports::describe(&holders)
            ),
            StreamEnd::Stuck => say!(
                self.out,
                Warn,
                "{name}: stdout accepted nothing for {}s; the rest of its {stream} was dropped",
                crate::output::STALL.as_secs()
            ),
            StreamEnd::Closed => {}
        }
        self.announce(index, gen);
    }

    pub(super) fn on_tick(&mut self, now: Instant) {
        if self.paused_at.is_some() {
            return;
        }
        self.tick_orphans(now);
        for i in 0..self.procs.len() {
            for si in 0..self.procs[i].starts.len() {
                let s = &self.procs[i].starts[si];
                match s.phase {
                    // Its ladder step waits for the answer: a group that
                    // just emptied needs none.
                    Phase::Lingering(_) => self.out.push(Action::PollGroup {
                        index: i,
                        gen: s.gen,
                        pgid: s.pgid,
                    }),
                    Phase::Live if s.next_step().is_some_and(|at| at <= now) => {
                        self.ladder_step(i, si, now);
                    }
                    Phase::Live | Phase::Gone(_) => {}
                }
            }
            if self.stopping.is_some() {
                continue;
            }
            self.tick_timers(i, now);
        }
        // After the ladder's steps: the report says what is still due.
        if self.blocker_at.is_some_and(|t| t <= now) {
            self.blocker_at = Some(now + super::BLOCKER_REPORT);
            self.ask_blockers();
        }
    }

    /// A due restart, or a due command probe, of process `i`.
    fn tick_timers(&mut self, i: usize, now: Instant) {
        let p = &mut self.procs[i];
        if let Life::Backoff { until } = p.life {
            // The exit line of the run before comes before the next start's.
            if until <= now && p.output_settled() {
                self.spawn(i);
            }
            return;
        }
        let probe_running = p.probe.is_some();
        let timeout = p.spec.ready.as_ref().and_then(|r| r.timeout);
        let Some(run) = p.run_mut() else { return };
        if let (Ready::No { .. }, Some(t)) = (run.ready, timeout) {
            if run.since + t <= now {
                self.ready_timed_out(i, t, now);
                return;
            }
        }
        let Ready::No {
            next_probe: Some(at),
        } = run.ready
        else {
            return;
        };
        if at > now || probe_running {
            return;
        }
        run.ready = Ready::No { next_probe: None };
        let gen = run.gen;
        let command = p
            .command_probe()
            .expect("a next probe is only set for command probes")
            .to_string();
        self.out.push(Action::SpawnProbe {
            index: i,
            gen,
            command,
        });
    }
}

/// `initial × 2^n`, at most `max`.
fn backoff_delay(initial: Duration, max: Duration, n: u32) -> Duration {
    initial.saturating_mul(1u32 << n.min(20)).min(max)
}

/// `5s`, `0.5s`.
pub(super) fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}
