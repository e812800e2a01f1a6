//! Dependencies: who may start (`depends_on` with `started`, `ready`,
//! `exited_ok`), and the reverse order in which a shutdown stops. Decides
//! only; spawns and signals leave as actions.

use tokio::time::Instant;

use super::state::Life;
use super::{say, Core};
use crate::plan::Condition;
use crate::types::Exit;

/// Whether a process's dependencies let it start.
pub(super) enum DepStatus {
    Satisfied,
    Pending,
    Failed(String),
}

impl Core {
    /// Starts the waiting processes whose dependencies allow it, one spawn
    /// at a time: the scan resumes after the spawn is answered, so that a
    /// failed spawn stops the scan as it did when spawning answered at once.
    pub(super) fn start_waiting(&mut self) {
        let (mut i, mut changed) = self.scan.take().unwrap_or((0, false));
        loop {
            if i >= self.procs.len() {
                if !changed {
                    return;
                }
                (i, changed) = (0, false);
                continue;
            }
            if self.procs[i].life == Life::Waiting {
                match self.dependencies(i) {
                    DepStatus::Satisfied => {
                        self.spawn(i);
                        self.scan = Some((i + 1, true));
                        return;
                    }
                    DepStatus::Failed(why) => {
                        say!(
                            self.out,
                            Warn,
                            "{} will not start: {why}",
                            self.procs[i].spec.name
                        );
                        // Not its own failure: the digest shows why, no FAILED mark.
                        self.procs[i].life = Life::Failed { why };
                        changed = true;
                    }
                    DepStatus::Pending => {}
                }
            }
            if self.stopping.is_some() {
                return;
            }
            i += 1;
        }
    }

    pub(super) fn dependencies(&self, index: usize) -> DepStatus {
        for dep in &self.procs[index].spec.depends_on {
            for p in self
                .procs
                .iter()
                .filter(|p| p.spec.process == dep.process && !p.retiring)
            {
                let n = &p.spec.name;
                let failed = matches!(p.life, Life::Failed { .. });
                let status = match dep.condition {
                    Condition::Started => match &p.life {
                        _ if p.gen > 0 => DepStatus::Satisfied,
                        _ if failed => DepStatus::Failed(format!("{n} could not be started")),
                        _ => DepStatus::Pending,
                    },
                    Condition::Ready => match &p.life {
                        _ if p.history.ever_ready => DepStatus::Satisfied,
                        _ if failed => DepStatus::Failed(format!("{n} could not be started")),
                        Life::Exited if p.history.unready.is_some() => {
                            DepStatus::Failed(p.history.unready.clone().unwrap_or_default())
                        }
                        Life::Exited => DepStatus::Failed(format!(
                            "{n} {} before it was ready",
                            p.history.last_exit.map_or("ended".into(), Exit::describe)
                        )),
                        _ => DepStatus::Pending,
                    },
                    Condition::ExitedOk => match (&p.life, p.history.last_exit) {
                        (Life::Exited, Some(Exit::Code(0))) => DepStatus::Satisfied,
                        (Life::Exited, Some(e)) => {
                            DepStatus::Failed(format!("{n} {}", e.describe()))
                        }
                        _ if failed => DepStatus::Failed(format!("{n} could not be started")),
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

    /// Why process `index` waits, for `drover ps`: the first dependency it
    /// waits for (`waiting: db.1 not ready (tcp 127.0.0.1:5432 refused, 14
    /// tries)`), or, while it runs, its own probe.
    pub(super) fn waiting_why(&self, index: usize) -> Option<String> {
        let me = &self.procs[index];
        match &me.life {
            Life::Running(_) => return self.not_ready(index),
            Life::Waiting => {}
            Life::Stopped { .. } if me.gen == 0 && !me.spec.autostart => {
                return Some("autostart = false: `drover restart` starts it".into());
            }
            _ => return None,
        }
        for dep in &me.spec.depends_on {
            for (i, p) in self.procs.iter().enumerate() {
                if p.spec.process != dep.process {
                    continue;
                }
                let n = &p.spec.name;
                let why = match dep.condition {
                    Condition::Started if p.gen == 0 => format!("{n} not started"),
                    Condition::Ready if !p.history.ever_ready => match self.not_ready(i) {
                        Some(why) => format!("{n} {why}"),
                        None => format!("{n} not started"),
                    },
                    Condition::ExitedOk if p.life != Life::Exited => {
                        format!("{n} has not exited yet")
                    }
                    _ => continue,
                };
                return Some(format!("waiting: {why}"));
            }
        }
        None
    }

    /// `not ready (ERROR, N tries)` for a running process not ready yet.
    fn not_ready(&self, index: usize) -> Option<String> {
        let run = self.procs[index].run()?;
        if !matches!(run.ready, super::state::Ready::No { .. }) {
            return None;
        }
        Some(match &run.probe_error {
            Some(e) => format!("not ready ({e}, {} tries)", run.tries),
            None => "not ready".to_string(),
        })
    }

    /// Another process waits for this one to exit with status 0.
    pub(super) fn is_exited_ok_dependency(&self, index: usize) -> bool {
        let process = &self.procs[index].spec.process;
        self.procs.iter().any(|p| {
            p.spec
                .depends_on
                .iter()
                .any(|d| &d.process == process && d.condition == Condition::ExitedOk)
        })
    }

    /// Sends the stop signal to each running process that nothing running
    /// depends on any more (reverse dependency order).
    pub(super) fn advance_stop(&mut self, now: Instant) {
        for i in 0..self.procs.len() {
            let p = &self.procs[i];
            let signalled = p
                .current()
                .is_none_or(|s| s.ladder != super::state::Ladder::Idle);
            if !p.is_running() || signalled {
                continue;
            }
            let process = &p.spec.process;
            let needed = self.procs.iter().any(|q| {
                q.is_running()
                    && q.spec.process != *process
                    && q.spec.depends_on.iter().any(|d| &d.process == process)
            });
            if !needed {
                self.send_stop(i, now);
            }
        }
    }
}
