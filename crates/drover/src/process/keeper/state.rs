//! What the keeper knows ([`State`]) and the file it keeps it in
//! ([`StateFile`]) for a next drover in the same root.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::stop::start_time;

/// Appended bytes after which the state file is written anew (at least).
const COMPACT_AFTER: usize = 64 * 1024;

/// What the keeper knows.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct State {
    /// drover's pid and start time.
    pub(super) drover: (i32, u64),
    /// The run's `DROVER_RUN_ID`.
    pub(super) run_id: String,
    /// Process groups: pgid -> (leader's start time, 0 if unknown; name).
    pub(super) groups: BTreeMap<i32, (u64, String)>,
    /// Adopted descendants: pid -> start time.
    pub(super) pids: BTreeMap<i32, u64>,
    pub(super) cgroups: Vec<PathBuf>,
}

impl State {
    pub(super) fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.pids.is_empty() && self.cgroups.is_empty()
    }

    /// Applies one registration from drover; returns the line that says
    /// the same in the state file, if anything changed.
    pub(super) fn apply(&mut self, line: &str) -> Option<String> {
        let (op, rest) = line.split_once(' ').unwrap_or((line, ""));
        let number = || rest.split(' ').next().and_then(|n| n.parse::<i32>().ok());
        match op {
            "g+" => {
                let pgid = number()?;
                let name = rest.split_once(' ').map_or("", |(_, n)| n).to_string();
                let t = start_time(pgid).unwrap_or(0);
                let line = format!("g {pgid} {t} {name}\n");
                self.groups.insert(pgid, (t, name));
                Some(line)
            }
            "g-" => {
                let pgid = number()?;
                self.groups.remove(&pgid)?;
                Some(format!("g- {pgid}\n"))
            }
            "p+" => {
                let pid = number()?;
                let t = start_time(pid)?;
                self.pids.insert(pid, t);
                Some(format!("p {pid} {t}\n"))
            }
            "p-" => {
                let pid = number()?;
                self.pids.remove(&pid)?;
                Some(format!("p- {pid}\n"))
            }
            "c+" => {
                self.cgroups.push(PathBuf::from(rest));
                Some(format!("c {rest}\n"))
            }
            "c-" => {
                self.cgroups.retain(|c| c.as_os_str() != rest);
                Some(format!("c- {rest}\n"))
            }
            _ => None,
        }
    }

    pub(super) fn render(&self) -> String {
        let mut out = format!("drover {} {}\n", self.drover.0, self.drover.1);
        out.push_str(&format!("run {}\n", self.run_id));
        for (pgid, (t, name)) in &self.groups {
            out.push_str(&format!("g {pgid} {t} {name}\n"));
        }
        for (pid, t) in &self.pids {
            out.push_str(&format!("p {pid} {t}\n"));
        }
        for c in &self.cgroups {
            out.push_str(&format!("c {}\n", c.display()));
        }
        out
    }

    pub(super) fn parse(text: &str) -> State {
        let mut s = State::default();
        for line in text.lines() {
            let mut f = line.splitn(4, ' ');
            let (kind, a, b) = (f.next(), f.next(), f.next());
            let num = |x: Option<&str>| x.and_then(|n| n.parse::<u64>().ok());
            match (kind, num(a), num(b)) {
                (Some("drover"), Some(p), Some(t)) => s.drover = (p as i32, t),
                (Some("run"), _, _) => s.run_id = line[4..].to_string(),
                (Some("g"), Some(p), Some(t)) => {
                    let name = f.next().unwrap_or("").to_string();
                    s.groups.insert(p as i32, (t, name));
                }
                (Some("p"), Some(p), Some(t)) => {
                    s.pids.insert(p as i32, t);
                }
                (Some("c"), _, _) => s.cgroups.push(PathBuf::from(&line[2..])),
                // Removals appended after the snapshot (see `StateFile`).
                (Some("g-"), Some(p), _) => {
                    s.groups.remove(&(p as i32));
                }
                (Some("p-"), Some(p), _) => {
                    s.pids.remove(&(p as i32));
                }
                (Some("c-"), _, _) => s.cgroups.retain(|c| c.as_os_str() != &line[3..]),
                _ => {}
            }
        }
        s
    }
}

/// The state file, for a next drover in the same root should the keeper
/// itself be killed: a snapshot (a new file renamed over the old one),
/// then each change appended. Appending keeps a burst of a thousand starts
/// linear: rewriting the file each time was quadratic, and each rename over
/// the old file made ext4 write the data out at once.
pub(super) struct StateFile<'a> {
    path: &'a Path,
    /// Open for appending after a snapshot.
    file: Option<File>,
    /// Bytes appended since the snapshot.
    appended: usize,
    /// The snapshot's size.
    snapshot: usize,
    /// Written at least once: only then is it this keeper's to remove.
    pub(super) wrote: bool,
}

impl<'a> StateFile<'a> {
    pub(super) fn new(path: &'a Path) -> Self {
        Self {
            path,
            file: None,
            appended: 0,
            snapshot: 0,
            wrote: false,
        }
    }

    /// Records `changes`, the lines `state` changed by.
    pub(super) fn record(&mut self, state: &State, changes: &str) {
        if let Some(f) = &mut self.file {
            // Compacted once the changes outweigh a snapshot.
            if self.appended < COMPACT_AFTER.max(self.snapshot * 2)
                && f.write_all(changes.as_bytes()).is_ok()
            {
                self.appended += changes.len();
                return;
            }
        }
        self.snapshot(state);
    }

    fn snapshot(&mut self, state: &State) {
        let tmp = self.path.with_extension("tmp");
        let text = state.render();
        self.snapshot = text.len();
        let saved = File::create(&tmp)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .and_then(|()| std::fs::rename(&tmp, self.path));
        self.file = saved
            .and_then(|()| File::options().append(true).open(self.path))
            .ok();
        self.appended = 0;
        self.wrote |= self.file.is_some();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_round_trip_through_the_state_file() {
        let mut s = State {
            drover: (42, 7),
            run_id: "42.7".into(),
            ..State::default()
        };
        s.apply("g+ 1 web.1");
        s.apply("g+ 2 worker name.1");
        s.apply("g- 1");
        s.apply("c+ /sys/fs/cgroup/x/web.1-1");
        s.apply("c+ /sys/fs/cgroup/x/y");
        s.apply("c- /sys/fs/cgroup/x/y");
        s.apply("bogus line");
        let back = State::parse(&s.render());
        assert_eq!(back, s);
        assert_eq!(back.groups.len(), 1);
        assert_eq!(back.groups[&2].1, "worker name.1");
        assert_eq!(
            back.cgroups,
            vec![PathBuf::from("/sys/fs/cgroup/x/web.1-1")]
        );
        s.apply("g- 2");
        s.apply("c- /sys/fs/cgroup/x/web.1-1");
        assert!(s.is_empty());
    }

    #[test]
    fn a_snapshot_with_changes_appended_reads_back_as_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        let mut file = StateFile::new(&path);
        let mut s = State {
            drover: (42, 7),
            run_id: "42.7".into(),
            ..State::default()
        };
        let mut step = |s: &mut State, line: &str| {
            let change = s.apply(line).unwrap();
            file.record(s, &change);
            assert_eq!(State::parse(&std::fs::read_to_string(&path).unwrap()), *s);
        };
        step(&mut s, "g+ 1 web.1");
        step(&mut s, "g+ 2 worker.1");
        step(&mut s, "c+ /sys/fs/cgroup/x/a b");
        step(&mut s, "g- 1");
        step(&mut s, "c- /sys/fs/cgroup/x/a b");
        for n in 3..1500 {
            step(&mut s, &format!("g+ {n} many.{n}"));
        }
        for n in 3..1490 {
            step(&mut s, &format!("g- {n}"));
        }
        assert_eq!(s.groups.len(), 11);
        // Compacted along the way: far less than every line ever appended.
        assert!(std::fs::metadata(&path).unwrap().len() < 100 * 1024);
        assert!(file.wrote);
    }
}
