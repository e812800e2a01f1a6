//! The commands of a running drover (`drover ps`, `stop`, `restart`, `kill`,
//! `pause`, `resume`, `shutdown`, the digest) and their typed answers. The
//! wire format is `control`'s business; this module never sees it.

use tokio::time::Instant;

use super::deps::DepStatus;
use super::state::Ready;
use super::state::{Life, Then};
use super::{say, Action, Core, StopCause};
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
    /// Stop these (instance or process names).
    Stop(Vec<String>),
    /// Restart these; a stopped one is started.
    Restart(Vec<String>),
    /// Send `signal` to the groups of what `name` names.
    Kill { name: String, signal: Signal },
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
}

impl Core {
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
    ) -> Option<Result<Answer, String>> {
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
            Command::Stop(names) => self.resolve(&names).map(|found| {
                let done = found.into_iter().map(|i| self.stop_one(i, now)).collect();
                Answer::Stopped(done)
            }),
            Command::Restart(names) => self.resolve(&names).map(|found| {
                let done = found
                    .into_iter()
                    .map(|i| self.restart_one(i, now))
                    .collect();
                Answer::Restarted(done)
            }),
            Command::Kill { name, signal } => return self.kill(id, name, signal),
        };
        Some(answer)
    }

    /// Resolves names by the one rule (see `types::resolve`).
    fn resolve(&self, names: &[String]) -> Result<Vec<usize>, String> {
        let table: Vec<Instance<'_>> = self
            .procs
            .iter()
            .map(|p| Instance {
                name: &p.spec.name,
                process: &p.spec.process,
            })
            .collect();
        let found = resolve(names, &table).map_err(|e| e.to_string())?;
        if found.is_empty() {
            return Err("name at least one process".into());
        }
        Ok(found)
    }

    fn stop_one(&mut self, i: usize, now: Instant) -> String {
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
        let p = &mut self.procs[i];
        p.history.in_row = 0;
        match &mut p.life {
            Life::Running(run) => {
                run.then = Then::Restart;
                say!(self.out, Info, "restarting {} (requested)", p.spec.name);
                self.send_stop(i, now);
            }
            Life::Waiting | Life::Starting { .. } => {}
            Life::Backoff { .. } => {
                // Counted when the delayed restart was scheduled.
                say!(self.out, Info, "starting {} now (requested)", p.spec.name);
                self.spawn(i);
            }
            Life::Exited | Life::Stopped { .. } | Life::Failed { .. } => {
                if let DepStatus::Satisfied = self.dependencies(i) {
                    let p = &mut self.procs[i];
                    p.history.restarts += u32::from(p.gen > 0);
                    say!(self.out, Info, "starting {} (requested)", p.spec.name);
                    self.spawn(i);
                } else {
                    // Back in line: it starts once its dependencies allow,
                    // as at the start.
                    let p = &mut self.procs[i];
                    say!(
                        self.out,
                        Info,
                        "{} will start once its dependencies allow (requested)",
                        p.spec.name
                    );
                    p.life = Life::Waiting;
                }
            }
        }
        self.procs[i].spec.name.clone()
    }

    fn kill(
        &mut self,
        id: RequestId,
        name: String,
        signal: Signal,
    ) -> Option<Result<Answer, String>> {
        let found = match self.resolve(std::slice::from_ref(&name)) {
            Ok(found) => found,
            Err(e) => return Some(Err(e)),
        };
        let targets: Vec<(String, crate::types::Pid)> = found
            .into_iter()
            .filter_map(|i| {
                let p = &self.procs[i];
                p.current().map(|s| (p.spec.name.clone(), s.pgid))
            })
            .collect();
        if targets.is_empty() {
            return Some(Err(format!("{name} is not running")));
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
            Some((name, error)) => Err(format!("sending {signal} to {name}: {error}")),
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
                DigestRow {
                    name: p.spec.name.clone(),
                    result,
                    exit_status: h.last_exit.map(Exit::status),
                    restarts: h.restarts,
                    ran_secs: (h.ran + running).as_secs_f64(),
                    failed: h.failed,
                }
            })
            .collect()
    }

    /// The rows of `drover ps`.
    pub(crate) fn ps(&self, now: Instant) -> Vec<PsRow> {
        self.procs
            .iter()
            .map(|p| {
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
                }
            })
            .collect()
    }
}
