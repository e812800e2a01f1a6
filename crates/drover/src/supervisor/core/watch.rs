//! What a file change does: the restart of the process that watches it,
//! the cascade to its dependents with `restart_on_dependency` once it is
//! ready again, and the restart-loop guard. Decides only: the watching
//! itself (inotify, globs, .gitignore, the debounce) is `process::watch`'s,
//! and a restart leaves through the same path as `drover restart`.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::state::{Life, Ready, Then};
use super::{say, Core};
use crate::plan::Condition;

/// Watch restarts within [`LOOP_WINDOW`] past which a change pauses the
/// watch instead: a process that keeps changing its own watched files.
pub(crate) const LOOP_RESTARTS: usize = 5;

/// The window of [`LOOP_RESTARTS`].
pub(crate) const LOOP_WINDOW: Duration = Duration::from_secs(10);

/// How many changed files a restart line names before it counts the rest.
const NAMED_FILES: usize = 3;

/// The watch and cascade state of one process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Watching {
    /// When its recent watch restarts were decided, oldest first.
    recent: VecDeque<Instant>,
    /// A restart loop paused its watch, until `drover restart` names it.
    paused: bool,
    /// It was restarted while start `gen` was the latest: once a later
    /// start is ready, its dependents with `restart_on_dependency` follow.
    cascade_after: Option<u32>,
}

impl Core {
    /// Files that the process of instance `index` watches changed
    /// (debounced): each of its instances restarts, also one added since
    /// the start.
    pub(super) fn on_files_changed(&mut self, index: usize, files: &[String], now: Instant) {
        if self.stopping.is_some() || self.paused_at.is_some() {
            return;
        }
        let process = self.procs[index].spec.process.clone();
        for i in 0..self.procs.len() {
            if self.procs[i].spec.process == process {
                self.instance_files_changed(i, files, now);
            }
        }
    }

    fn instance_files_changed(&mut self, index: usize, files: &[String], now: Instant) {
        let p = &self.procs[index];
        let busy = match &p.life {
            // Stopped on request: it stays stopped until asked.
            Life::Stopped { .. } => return,
            // Its next start is on its way (or waits for its
            // dependencies), and will see the files as they are then.
            Life::Starting { .. } | Life::Waiting => true,
            Life::Backoff { until } => *until <= now,
            Life::Running(run) => run.then != Then::Decide,
            Life::Exited | Life::Failed { .. } => false,
        };
        let w = self.watching_of(index);
        if busy || w.paused {
            return;
        }
        while w
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= LOOP_WINDOW)
        {
            w.recent.pop_front();
        }
        if w.recent.len() >= LOOP_RESTARTS {
            w.paused = true;
            let name = &self.procs[index].spec.name;
            say!(
                self.out,
                Warn,
                "{name}: stopped watching its files: {LOOP_RESTARTS} restarts in {}s and they \
                 still change (does it write its own watched files?); `drover restart {name}` \
                 watches them again",
                LOOP_WINDOW.as_secs(),
            );
            return;
        }
        self.watching_of(index).recent.push_back(now);
        self.watch_restart(index, files, now);
    }

    /// The one place a restart caused by changed files is decided: process
    /// `index` restarts, as `drover restart` would, because `files` changed.
    fn watch_restart(&mut self, index: usize, files: &[String], now: Instant) {
        self.emit(
            index,
            super::events::EventKind::WatchTriggered {
                files: files.to_vec(),
            },
        );
        self.restart_for(index, now, &changed(files));
    }

    /// The one place a cascade restart is decided: process `index`
    /// restarts because its dependency `from` was restarted and is ready
    /// again.
    fn cascade_restart(&mut self, index: usize, from: usize, now: Instant) {
        let why = format!("{} restarted", self.procs[from].spec.name);
        self.restart_for(index, now, &why);
    }

    /// Process `i` is being restarted: its dependents follow once it is
    /// ready again.
    pub(super) fn restarted(&mut self, i: usize) {
        let gen = self.procs[i].gen;
        self.watching_of(i).cascade_after = Some(gen);
    }

    /// The watch state of process `i`; a process added since the start
    /// (scaled up) gets a fresh one.
    fn watching_of(&mut self, i: usize) -> &mut Watching {
        if self.watching.len() < self.procs.len() {
            self.watching
                .resize_with(self.procs.len(), Watching::default);
        }
        &mut self.watching[i]
    }

    /// `drover restart` names process `i`: a watch paused by a restart
    /// loop goes on.
    pub(super) fn watch_again(&mut self, i: usize) {
        let w = self.watching_of(i);
        w.recent.clear();
        if std::mem::take(&mut w.paused) {
            say!(
                self.out,
                Info,
                "{}: watching its files again",
                self.procs[i].spec.name
            );
        }
    }

    /// Restarts the dependents of each process that was restarted and is
    /// ready again.
    pub(super) fn cascade_ready(&mut self, now: Instant) {
        for i in 0..self.procs.len() {
            let Some(after) = self.watching.get(i).and_then(|w| w.cascade_after) else {
                continue;
            };
            let ready = self.procs[i]
                .run()
                .is_some_and(|r| r.gen > after && r.ready == Ready::Yes);
            if ready {
                self.watching_of(i).cascade_after = None;
                // Once every restarted instance of the process is ready
                // again: a dependent restarted earlier could reach one
                // still on its old run.
                let process = &self.procs[i].spec.process;
                let others = (0..self.procs.len()).any(|j| {
                    j != i
                        && self.procs[j].spec.process == *process
                        && !self.procs[j].retiring
                        && self
                            .watching
                            .get(j)
                            .is_some_and(|w| w.cascade_after.is_some())
                });
                if !others {
                    self.cascade_from(i, now);
                }
            }
        }
    }

    /// Restarts the running dependents of process `i` that ask for it, in
    /// dependency order: one that also depends on another process this
    /// cascade restarts waits for that one to be ready again instead.
    fn cascade_from(&mut self, i: usize, now: Instant) {
        let process = self.procs[i].spec.process.clone();
        let later = self.cascade_set(&process);
        for q in 0..self.procs.len() {
            let p = &self.procs[q];
            let follows = p.spec.restart_on_dependency
                && p.spec
                    .depends_on
                    .iter()
                    .any(|d| d.process == process && d.condition != Condition::ExitedOk);
            let waits = p
                .spec
                .depends_on
                .iter()
                .any(|d| d.process != process && later.contains(&d.process));
            let idle = p.run().is_some_and(|r| r.then == Then::Decide);
            if follows && !waits && idle {
                self.cascade_restart(q, i, now);
            }
        }
    }

    /// The processes a restart of `process` restarts, directly or through
    /// others: running, with `restart_on_dependency`, on a `started` or
    /// `ready` dependency.
    fn cascade_set(&self, process: &str) -> Vec<String> {
        let mut set: Vec<String> = Vec::new();
        let mut frontier = vec![process.to_string()];
        while let Some(dep) = frontier.pop() {
            for p in &self.procs {
                let follows = p.spec.restart_on_dependency
                    && p.is_running()
                    && p.spec
                        .depends_on
                        .iter()
                        .any(|d| d.process == dep && d.condition != Condition::ExitedOk);
                if follows && p.spec.process != process && !set.contains(&p.spec.process) {
                    set.push(p.spec.process.clone());
                    frontier.push(p.spec.process.clone());
                }
            }
        }
        set
    }
}

/// `src/app.py, src/x.py, templates/a.html and 4 more changed`.
fn changed(files: &[String]) -> String {
    let named = files
        .iter()
        .take(NAMED_FILES)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    match files.len().saturating_sub(NAMED_FILES) {
        0 => format!("{named} changed"),
        more => format!("{named} and {more} more changed"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_line_names_three_files_then_counts() {
        let f = |n: usize| (1..=n).map(|i| format!("f{i}")).collect::<Vec<_>>();
        assert_eq!(super::changed(&f(1)), "f1 changed");
        assert_eq!(super::changed(&f(3)), "f1, f2, f3 changed");
        assert_eq!(super::changed(&f(7)), "f1, f2, f3 and 4 more changed");
    }
}
