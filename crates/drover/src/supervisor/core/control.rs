//! The commands of a running drover (`drover ps`, `stop`, `restart`, `kill`,
//! `pause`, `resume`, `shutdown`, the digest) and their typed answers. The
//! wire format is `control`'s business; this module never sees it.

use tokio::time::Instant;

use super::deps::DepStatus;
use super::state::Ready;
use super::state::{Life, Then};
use super::{say, Action, Core, StopCause, Target};
use crate::plan::{Condition, KillMode};
use crate::supervisor::reports::{DigestRow, PsRow, PsState};
use crate::types::resolve::{resolve, Instance};
use crate::types::Exit;
use crate::types::Signal;
use std::time::Duration;

/// Which control request an answer is for; chosen by the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RequestId(pub u64);

/// What a control client asks of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// The process table.
    Ps,
    /// Each process's result so far.
    Digest,
    /// SIGTSTP to every process; timers stop.
    Pause,
    /// SIGCONT to every process; timers go on.
    Resume,
    /// Stop everything, as on SIGTERM.
    Shutdown,
    /// Stop these (instance or process names); without `force`, refused
    /// while running processes depend on them.
    Stop { names: Vec<String>, force: bool },
    /// Restart these; a stopped one is started. With `wait`, answered once
    /// each is ready again, or with why one is not.
    Restart { names: Vec<String>, wait: bool },
    /// Send `signal` to the groups of what `name` names.
    Kill { name: String, signal: Signal },
    /// Run this many instances of each process (`drover scale`).
    Scale { counts: Vec<(String, u32)> },
    /// Apply a new plan's instances (`drover reload`).
    Reload {
        specs: Vec<crate::plan::ProcessSpec>,
    },
}

/// Why drover refused a control command: the message its client shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Refusal(pub String);

impl From<String> for Refusal {
    fn from(message: String) -> Self {
        Refusal(message)
    }
}

impl From<&str> for Refusal {
    fn from(message: &str) -> Self {
        Refusal(message.to_string())
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    /// For [`Command::Ps`].
    Ps(Vec<PsRow>),
    /// For [`Command::Digest`].
    Digest(Vec<DigestRow>),
    /// Done; nothing to tell.
    Done,
    /// These are being stopped.
    Stopped(Vec<String>),
    /// These are being restarted.
    Restarted(Vec<String>),
    /// These were signalled.
    Signalled(Vec<String>),
    /// What `scale` or `reload` changed: `+ web.3`, `- web.2`,
    /// `~ web.1 (command changed)`.
    Changes(Vec<String>),
}

/// A `drover restart --wait` waiting for its processes to be ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Waiter {
    id: RequestId,
    /// Each process, and its latest start when the restart was asked for.
    targets: Vec<(usize, u32)>,
}

impl Core {
    /// Answers each `restart --wait` whose processes are all ready again,
    /// or one of which ended, could not start, or will not start.
    pub(super) fn answer_waiters(&mut self) {
        let waiters = std::mem::take(&mut self.waiters);
        for w in waiters {
            match self.waiter_status(&w) {
                None => self.waiters.push(w),
                Some(answer) => self.out.push(Action::Answer { id: w.id, answer }),
            }
        }
    }

    fn waiter_status(&self, w: &Waiter) -> Option<Result<Answer, Refusal>> {
        if self.stopping.is_some() {
            return Some(Err("drover is shutting down".into()));
        }
        for &(i, gen) in &w.targets {
            let p = &self.procs[i];
            let n = &p.spec.name;
            let why = match &p.life {
                Life::Running(r) if r.gen > gen && r.ready == Ready::Yes => continue,
                Life::Failed { why } => why.clone(),
                Life::Stopped { .. } if p.gen > gen => format!("{n} was stopped"),
                Life::Exited | Life::Backoff { .. } if p.gen > gen => match &p.history.unready {
                    Some(why) => why.clone(),
                    None => format!(
                        "{n} {} before it was ready",
                        p.history.last_exit.map_or("ended".into(), Exit::describe)
                    ),
                },
                _ => return None,
            };
            return Some(Err(why.into()));
        }
        let names = w
            .targets
            .iter()
            .map(|&(i, _)| self.procs[i].spec.name.clone())
            .collect();
        Some(Ok(Answer::Restarted(names)))
    }

    pub(super) fn on_control(&mut self, id: RequestId, command: Command, now: Instant) {
        let answer = self.command(id, command, now);
        if let Some(answer) = answer {
            self.out.push(Action::Answer { id, answer });
        }
    }

    /// The answer, or None when an action's result decides it.
    fn command(
        &mut self,
        id: RequestId,
        command: Command,
        now: Instant,
    ) -> Option<Result<Answer, Refusal>> {
        let read_only = matches!(command, Command::Ps | Command::Shutdown | Command::Digest);
        if self.stopping.is_some() && !read_only {
            return Some(Err("drover is shutting down".into()));
        }
        let answer = match command {
            Command::Ps => Ok(Answer::Ps(self.ps(now))),
            Command::Digest => Ok(Answer::Digest(self.digest(now))),
            Command::Pause => {
                self.pause(now);
                say!(self.out, Info, "paused every process (requested)");
                Ok(Answer::Done)
            }
            Command::Resume if self.paused_at.is_none() => Err("nothing is paused".into()),
            Command::Resume => {
                self.resume(now);
                Ok(Answer::Done)
            }
            Command::Shutdown => {
                if self.stopping.is_none() {
                    self.begin_stop(StopCause::Requested, now);
                }
                Ok(Answer::Done)
            }
            Command::Stop { names, force } => self.resolve(&names).and_then(|found| {
                let broken = self.dependents_running(&found);
                if !force && !broken.is_empty() {
                    return Err(Refusal::from(format!(
                        "{} running: {}; stop them first, or use --force to stop it anyway",
                        if broken.len() == 1 {
                            "a dependent is"
                        } else {
                            "dependents are"
                        },
                        broken.join(", ")
                    )));
                }
                for b in &broken {
                    say!(self.out, Warn, "{b} (stop forced)");
                }
                let done = found.into_iter().map(|i| self.stop_one(i, now)).collect();
                Ok(Answer::Stopped(done))
            }),
            Command::Restart { names, wait } => match self.resolve(&names) {
                Ok(found) => {
                    for &i in &found {
                        self.watch_again(i);
                    }
                    let targets: Vec<(usize, u32)> =
                        found.iter().map(|&i| (i, self.procs[i].gen)).collect();
                    let done = found
                        .into_iter()
                        .map(|i| self.restart_one(i, now))
                        .collect();
                    if wait {
                        self.waiters.push(Waiter { id, targets });
                        return None;
                    }
                    Ok(Answer::Restarted(done))
                }
                Err(e) => Err(e),
            },
            Command::Kill { name, signal } => return self.kill(id, name, signal),
            Command::Scale { counts } => self.scale(counts, now),
            Command::Reload { specs } => Ok(self.reload(specs, now)),
        };
        Some(answer)
    }

    /// Resolves names by the one rule (see `types::resolve`).
    fn resolve(&self, names: &[String]) -> Result<Vec<usize>, Refusal> {
        // Retired slots are not there for names.
        let live: Vec<usize> = (0..self.procs.len())
            .filter(|&i| !self.procs[i].retiring)
            .collect();
        let table: Vec<Instance<'_>> = live
            .iter()
            .map(|&i| Instance {
                name: &self.procs[i].spec.name,
                process: &self.procs[i].spec.process,
            })
            .collect();
        let found: Vec<usize> = resolve(names, &table)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|t| live[t])
            .collect();
        if found.is_empty() {
            return Err("name at least one process".into());
        }
        Ok(found)
    }

    /// `web.1 depends on db` for each running process, other than those in
    /// `found`, that depends on a process of a running one in `found`.
    fn dependents_running(&self, found: &[usize]) -> Vec<String> {
        let mut broken = Vec::new();
        for (qi, q) in self.procs.iter().enumerate() {
            if !q.is_running() || found.contains(&qi) {
                continue;
            }
            let on: Vec<&str> = q
                .spec
                .depends_on
                .iter()
                .filter(|d| {
                    found.iter().any(|&i| {
                        let p = &self.procs[i];
                        p.is_running() && p.spec.process == d.process
                    })
                })
                .map(|d| d.process.as_str())
                .collect();
            if !on.is_empty() {
                broken.push(format!("{} depends on {}", q.spec.name, on.join(", ")));
            }
        }
        broken
    }

    pub(super) fn stop_one(&mut self, i: usize, now: Instant) -> String {
        let p = &mut self.procs[i];
        match &mut p.life {
            Life::Running(run) => {
                run.then = Then::Stop;
                say!(self.out, Info, "stopping {} (requested)", p.spec.name);
                self.send_stop(i, now);
            }
            Life::Waiting | Life::Backoff { .. } => {
                p.life = Life::Stopped { by_user: true };
                say!(
                    self.out,
                    Info,
                    "{} will not be started (stop requested)",
                    p.spec.name
                );
            }
            Life::Starting { .. } | Life::Exited | Life::Stopped { .. } | Life::Failed { .. } => {}
        }
        self.procs[i].spec.name.clone()
    }

    fn restart_one(&mut self, i: usize, now: Instant) -> String {
        self.restart_for(i, now, "requested")
    }

    /// Restarts process `i` through its stop ladder (or starts it, when it
    /// does not run), saying `why` on its line: `drover restart`, a watch,
    /// a dependency's restart. Its dependents with `restart_on_dependency`
    /// follow once it is ready again (`watch`).
    pub(super) fn restart_for(&mut self, i: usize, now: Instant, why: &str) -> String {
        self.restarted(i);
        let p = &mut self.procs[i];
        p.history.in_row = 0;
        match &mut p.life {
            Life::Running(run) => {
                run.then = Then::Restart;
                say!(self.out, Info, "restarting {} ({why})", p.spec.name);
                self.send_stop(i, now);
            }
            Life::Starting { .. } => {}
            Life::Waiting => {
                // It may wait for a dependency nothing starts (one with
                // `autostart = false`, or stopped): that one starts now.
                for q in self.idle_dependencies(i) {
                    self.start_again(q, why);
                }
            }
            Life::Backoff { .. } => {
                // Counted when the delayed restart was scheduled.
                say!(self.out, Info, "starting {} now ({why})", p.spec.name);
                self.spawn(i);
            }
            Life::Exited | Life::Stopped { .. } | Life::Failed { .. } => {
                // What it depends on and does not run is started first
                // (an `autostart = false` dependency, one stopped).
                for q in self.idle_dependencies(i) {
                    self.start_again(q, why);
                }
                self.start_again(i, why);
            }
        }
        self.procs[i].spec.name.clone()
    }

    /// Starts `i`, which ended or never started, or puts it back in line
    /// until its dependencies allow.
    fn start_again(&mut self, i: usize, why: &str) {
        if let DepStatus::Satisfied = self.dependencies(i) {
            let p = &mut self.procs[i];
            p.history.restarts += u32::from(p.gen > 0);
            p.requested = true;
            say!(self.out, Info, "starting {} ({why})", p.spec.name);
            self.spawn(i);
        } else {
            // Back in line: it starts once its dependencies allow,
            // as at the start.
            let p = &mut self.procs[i];
            say!(
                self.out,
                Info,
                "{} will start once its dependencies allow ({why})",
                p.spec.name
            );
            p.life = Life::Waiting;
            p.requested = true;
        }
    }

    /// The transitive dependencies of `i` that neither run nor wait to,
    /// nor did their job (`exited_ok` with status 0): the deepest first.
    fn idle_dependencies(&self, i: usize) -> Vec<usize> {
        let mut found: Vec<usize> = Vec::new();
        let mut next = vec![i];
        while let Some(j) = next.pop() {
            for dep in &self.procs[j].spec.depends_on {
                for (qi, q) in self.procs.iter().enumerate() {
                    if q.spec.process != dep.process || qi == i || found.contains(&qi) {
                        continue;
                    }
                    let done = dep.condition == Condition::ExitedOk
                        && q.history.last_exit == Some(Exit::Code(0));
                    let idle = match q.life {
                        Life::Stopped { .. } | Life::Failed { .. } => true,
                        Life::Exited => !done,
                        _ => false,
                    };
                    if idle {
                        found.push(qi);
                        next.push(qi);
                    }
                }
            }
        }
        found.reverse();
        found
    }

    fn kill(
        &mut self,
        id: RequestId,
        name: String,
        signal: Signal,
    ) -> Option<Result<Answer, Refusal>> {
        let found = match self.resolve(std::slice::from_ref(&name)) {
            Ok(found) => found,
            Err(e) => return Some(Err(e)),
        };
        let targets: Vec<Target> = found
            .into_iter()
            .filter_map(|i| {
                let p = &self.procs[i];
                p.current().map(|s| Target {
                    name: p.spec.name.clone(),
                    pid: s.pgid,
                    whole_group: p.spec.kill_mode == KillMode::ControlGroup,
                })
            })
            .collect();
        if targets.is_empty() {
            return Some(Err(Refusal::from(format!("{name} is not running"))));
        }
        self.out.push(Action::SignalForRequest {
            id,
            signal,
            targets,
        });
        None
    }

    /// The signals of a `kill` request were sent (or one failed).
    pub(super) fn on_signalled(
        &mut self,
        id: RequestId,
        signal: Signal,
        sent: Vec<String>,
        failed: Option<(String, String)>,
    ) {
        for name in &sent {
            say!(self.out, Info, "sent {signal} to {name} (requested)");
        }
        let answer = match failed {
            Some((name, error)) => Err(Refusal::from(format!(
                "sending {signal} to {name}: {error}"
            ))),
            None => Ok(Answer::Signalled(sent)),
        };
        self.out.push(Action::Answer { id, answer });
    }
}

impl Core {
    /// Each process's result so far: the failure digest without output lines.
    pub(crate) fn digest(&self, now: Instant) -> Vec<DigestRow> {
        self.procs
            .iter()
            .filter(|p| !p.retiring)
            .map(|p| {
                let h = &p.history;
                let running = p
                    .run()
                    .map_or(Duration::ZERO, |r| now.saturating_duration_since(r.since));
                let result = match (&p.life, h.last_exit) {
                    (Life::Running(_) | Life::Starting { .. }, _) => "running".to_string(),
                    (Life::Failed { why }, _) => format!("never started: {why}"),
                    (Life::Backoff { .. }, Some(e)) => format!("{}, restarting", e.describe()),
                    (Life::Stopped { .. } | Life::Waiting, None) => "never started".to_string(),
                    (_, Some(e)) => e.describe(),
                    (_, None) => "never started".to_string(),
                };
                // FAILED: its last run ended by itself with a failure, or
                // needed SIGKILL to stop; a process running again is not.
                let runs = matches!(p.life, Life::Running(_) | Life::Starting { .. });
                let failed = !runs && (h.failed || h.killed_in_stop);
                DigestRow {
                    name: p.spec.name.clone(),
                    result,
                    exit_status: h.last_exit.map(Exit::status),
                    restarts: h.restarts,
                    ran_secs: (h.ran + running).as_secs_f64(),
                    failed,
                    recovered: !failed && h.failures > 0,
                }
            })
            .collect()
    }

    /// The rows of `drover ps`.
    pub(crate) fn ps(&self, now: Instant) -> Vec<PsRow> {
        self.procs
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.retired())
            .map(|(i, p)| {
                let state = match &p.life {
                    Life::Running(_) if self.paused_at.is_some() => PsState::Paused,
                    Life::Running(_)
                        if p.current()
                            .is_some_and(|s| s.ladder != super::state::Ladder::Idle) =>
                    {
                        PsState::Stopping
                    }
                    Life::Running(r) if p.spec.ready.is_some() && r.ready == Ready::Yes => {
                        PsState::Ready
                    }
                    Life::Running(_) => PsState::Running,
                    Life::Starting { .. } => PsState::Starting,
                    Life::Waiting => PsState::Waiting,
                    Life::Backoff { .. } => PsState::Restarting,
                    Life::Exited => PsState::Exited,
                    Life::Stopped { .. } if p.gen == 0 && !p.spec.autostart => PsState::NotStarted,
                    Life::Stopped { .. } => PsState::Stopped,
                    Life::Failed { why } => PsState::Failed(why.clone()),
                };
                let ready = matches!(&p.life, Life::Running(r) if r.ready == Ready::Yes);
                PsRow {
                    name: p.spec.name.clone(),
                    pid: p.current().map(|s| s.pgid),
                    state,
                    ready,
                    uptime_secs: p
                        .run()
                        .map(|r| now.saturating_duration_since(r.since).as_secs()),
                    restarts: p.history.restarts,
                    last_exit: p.history.last_exit,
                    why: self.waiting_why(i),
                }
            })
            .collect()
    }
}
