//! The edit loop's commands: `drover scale` (instances added or retired)
//! and `drover reload` (a new plan's diff applied). Decides only; a new or
//! changed spec leaves as [`Action::SetSpec`] for the shell's tables.
//!
//! Indices are never reused or shifted: an added instance is appended; a
//! removed one is stopped through the normal stop ladder and its slot is
//! *retired* (skipped by `ps`, the digest, readiness, the end check and
//! name resolution).

use tokio::time::Instant;

use super::control::{Answer, Refusal};
use super::state::{Life, Proc};
use super::{say, Action, Core};
use crate::plan::{self, ProcessSpec};

impl Core {
    /// The live (not retired) instances of `process`, by instance number.
    fn live_instances(&self, process: &str) -> Vec<usize> {
        let mut found: Vec<usize> = (0..self.procs.len())
            .filter(|&i| !self.procs[i].retiring && self.procs[i].spec.process == process)
            .collect();
        found.sort_by_key(|&i| self.procs[i].spec.instance);
        found
    }

    /// Appends an instance, waiting to start (`start`) or as its
    /// `autostart` says; the shell learns its spec first.
    fn add_instance(&mut self, spec: ProcessSpec, start: bool) -> String {
        let index = self.procs.len();
        let name = spec.name.clone();
        self.out.push(Action::SetSpec {
            index,
            spec: Box::new(spec.clone()),
        });
        // Orphans at the stop get the longest ladder, its own too.
        let ladder = spec.stop_ladder.iter().map(|s| s.wait).sum();
        self.orphan_timeout = self.orphan_timeout.max(ladder);
        let mut p = Proc::new(spec);
        if start {
            p.life = Life::Waiting;
        }
        self.procs.push(p);
        name
    }

    /// Stops `i` through its stop ladder and retires its slot.
    fn retire(&mut self, i: usize, now: Instant) -> String {
        self.procs[i].retiring = true;
        if !self.procs[i].spec.sockets.is_empty() {
            self.out.push(Action::ReleaseSockets { index: i });
        }
        self.stop_one(i, now)
    }

    /// `drover scale web=3 worker=0`: the highest instances stop first.
    pub(super) fn scale(
        &mut self,
        counts: Vec<(String, u32)>,
        now: Instant,
    ) -> Result<Answer, Refusal> {
        let mut known: Vec<&str> = Vec::new();
        for p in &self.procs {
            if !known.contains(&p.spec.process.as_str()) {
                known.push(&p.spec.process);
            }
        }
        if let Some((name, _)) = counts.iter().find(|(n, _)| !known.contains(&n.as_str())) {
            return Err(Refusal::from(format!(
                "no process named {name} runs here; processes: {}",
                known.join(", ")
            )));
        }
        let mut lines = Vec::new();
        for (process, n) in counts {
            let live = self.live_instances(&process);
            let have = live.len() as u32;
            if n > have {
                // Any instance serves as the model, a retired one too.
                let like = live
                    .last()
                    .copied()
                    .or_else(|| self.procs.iter().rposition(|p| p.spec.process == process))
                    .expect("the process is known");
                let like = self.procs[like].spec.clone();
                for k in have + 1..=n {
                    // Asked for: started whatever its `autostart`.
                    let name = self.add_instance(plan::instance_like(&like, k), true);
                    lines.push(format!("+ {name}"));
                }
            } else {
                for &i in live.iter().skip(n as usize).rev() {
                    let name = self.retire(i, now);
                    lines.push(format!("- {name}"));
                }
            }
        }
        for l in &lines {
            say!(self.out, Info, "scale: {l}");
        }
        Ok(Answer::Changes(lines))
    }

    /// `drover reload`: applies the difference between the instances that
    /// run and `planned`: starts the added, stops the removed, restarts the
    /// changed (with their new spec) and leaves the others alone.
    pub(super) fn reload(&mut self, planned: Vec<ProcessSpec>, now: Instant) -> Answer {
        let running: Vec<&ProcessSpec> = self
            .procs
            .iter()
            .filter(|p| !p.retiring)
            .map(|p| &p.spec)
            .collect();
        let diff = plan::diff(&running, &planned);
        let lines = diff.lines();
        if lines.is_empty() {
            say!(self.out, Info, "reload: nothing changed");
        }
        for l in &lines {
            say!(self.out, Info, "reload: {l}");
        }
        for name in &diff.removed {
            if let Some(i) = self.live_index(name) {
                self.retire(i, now);
            }
        }
        for (spec, _) in diff.changed {
            let Some(i) = self.live_index(&spec.name) else {
                continue;
            };
            self.out.push(Action::SetSpec {
                index: i,
                spec: Box::new(spec.clone()),
            });
            self.procs[i].spec = spec;
            self.emit(i, super::events::EventKind::Reloaded);
            let p = &self.procs[i];
            // One that does not run stays as it is, with its new spec.
            if matches!(p.life, Life::Running(_) | Life::Backoff { .. }) {
                self.restart_for(i, now, "reloaded");
            }
        }
        for spec in diff.added {
            // One with `autostart = false` is defined, not started.
            self.add_instance(spec, false);
        }
        Answer::Changes(lines)
    }

    fn live_index(&self, name: &str) -> Option<usize> {
        self.procs
            .iter()
            .position(|p| !p.retiring && p.spec.name == name)
    }
}
