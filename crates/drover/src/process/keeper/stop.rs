//! Stopping what is registered: each group, adopted descendant and their
//! descendants (found through `/proc`), then each cgroup.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use super::state::State;
use super::{CGROUP_WAIT, RUN_ID_VAR};

/// One process as `/proc/PID/stat` shows it.
#[derive(Debug, Clone, Copy)]
struct Proc {
    pid: i32,
    ppid: i32,
    pgrp: i32,
    start: u64,
}

fn read_proc(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state, ppid, pgrp, …, starttime (the 20th).
    Some(Proc {
        pid,
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
    })
}

pub(super) fn start_time(pid: i32) -> Option<u64> {
    read_proc(pid).map(|p| p.start)
}

fn all_procs() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read_proc)
        .collect()
}

/// Freezes, then kills, every registered group, adopted descendant and
/// their descendants, then every cgroup. Returns the pids killed.
pub(super) fn stop_everything(state: &State) -> Vec<i32> {
    let me = std::process::id() as i32;
    let marker = format!("{RUN_ID_VAR}={}\0", state.run_id);
    let mut targets: Vec<i32> = Vec::new();
    // Twice: a process that forked between the scan and its SIGSTOP has its
    // child found the second time.
    for _ in 0..2 {
        let procs = all_procs();
        let mut found: Vec<i32> = procs
            .iter()
            .filter(|p| p.pid != me)
            .filter(|p| {
                let leader_ok = |pgid: i32, t: u64| {
                    // A group whose leader lives on with another start time
                    // is not ours: its pid was recycled.
                    procs
                        .iter()
                        .find(|q| q.pid == pgid)
                        .is_none_or(|q| t == 0 || q.start == t)
                };
                state
                    .groups
                    .get(&p.pgrp)
                    .is_some_and(|(t, _)| leader_ok(p.pgrp, *t))
                    || state.pids.get(&p.pid) == Some(&p.start)
                    || targets.contains(&p.pid)
                    || carries(p.pid, &marker)
            })
            .map(|p| p.pid)
            .collect();
        // Descendants, by parent links, to any depth.
        loop {
            let more: Vec<i32> = procs
                .iter()
                .filter(|p| p.pid != me && !found.contains(&p.pid) && found.contains(&p.ppid))
                .map(|p| p.pid)
                .collect();
            if more.is_empty() {
                break;
            }
            found.extend(more);
        }
        for pid in &found {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(*pid, libc::SIGSTOP) };
        }
        targets = found;
    }
    for pid in &targets {
        // SAFETY: as above.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    // Made parent first, so removed child first.
    for cgroup in state.cgroups.iter().rev() {
        kill_cgroup(cgroup);
    }
    targets
}

/// Whether `pid`'s environment holds `marker` (`NAME=VALUE\0`): it
/// descends from a process of this run, whoever its parent is now.
fn carries(pid: i32, marker: &str) -> bool {
    if marker.len() <= RUN_ID_VAR.len() + 2 {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.windows(marker.len()).any(|w| w == marker.as_bytes()))
}

/// `cgroup.kill`, then waits (bounded) for it to empty and removes it.
fn kill_cgroup(path: &Path) {
    if std::fs::write(path.join("cgroup.kill"), "1").is_err() {
        // Before Linux 5.14: kill each member.
        if let Ok(procs) = std::fs::read_to_string(path.join("cgroup.procs")) {
            for pid in procs.lines().filter_map(|l| l.parse::<i32>().ok()) {
                // SAFETY: kill(2) has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    let deadline = Instant::now() + CGROUP_WAIT;
    while Instant::now() < deadline {
        if std::fs::remove_dir(path).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub(super) fn describe(pids: &[i32], state: &State) -> String {
    let mut names: Vec<&str> = state.groups.values().map(|(_, n)| n.as_str()).collect();
    names.retain(|n| !n.is_empty());
    names.dedup();
    let mut text = format!(
        "{} process{}",
        pids.len(),
        if pids.len() == 1 { "" } else { "es" }
    );
    if !names.is_empty() {
        text.push_str(&format!(" ({})", names.join(", ")));
    }
    if !state.cgroups.is_empty() {
        text.push_str(&format!(" and {} cgroup(s)", state.cgroups.len()));
    }
    text
}

/// Stops what a drover that died with its keeper left in this root, as
/// recorded in `state`, and says what it stopped. Does nothing when the
/// file is missing, belongs to another user, or its drover still runs.
pub fn clean_up_leftovers(state: &Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(state).ok()?;
    // SAFETY: getuid has no preconditions.
    let me = unsafe { libc::getuid() };
    if !meta.is_file() || meta.uid() != me || meta.mode() & 0o022 != 0 {
        return None;
    }
    let text = std::fs::read_to_string(state).ok()?;
    let left = State::parse(&text);
    let (pid, t) = left.drover;
    if pid > 0 && start_time(pid).is_some_and(|now| now == t) {
        // That drover still runs: its processes are not leftovers.
        return None;
    }
    let _ = std::fs::remove_file(state);
    if left.is_empty() {
        return None;
    }
    let stopped = stop_everything(&left);
    if stopped.is_empty() && left.cgroups.iter().all(|c| !c.exists()) {
        return None;
    }
    Some(format!(
        "a drover (pid {pid}) that ended without stopping its processes left {}; stopped them",
        describe(&stopped, &left)
    ))
}
