//! What `/proc` says about processes: who drover adopted, who is in a
//! process group, who holds a pipe open. Used to name the processes a
//! shutdown waits for; never to decide whom to signal beyond drover's own
//! children and groups.

use std::collections::HashMap;

use crate::types::Pid;

/// One line of `/proc/PID/stat`, the fields drover needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The process.
    pub pid: i32,
    /// Its parent.
    pub ppid: i32,
    /// Its process group.
    pub pgrp: i32,
    /// Exited but not reaped.
    pub zombie: bool,
}

/// Parses the text of `/proc/PID/stat`: "pid (comm) state ppid pgrp …"
/// (comm may hold spaces and parentheses).
pub fn parse_stat(pid: i32, stat: &str) -> Option<Entry> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some(Entry {
        pid,
        ppid,
        pgrp,
        zombie: state == "Z",
    })
}

/// Every process visible in `/proc`.
pub fn entries() -> Vec<Entry> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            parse_stat(pid, &stat)
        })
        .collect()
}

/// The command line of `pid`, shortened for a log line.
pub fn command(pid: i32) -> String {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let mut command = String::from_utf8_lossy(&cmdline)
        .replace('\0', " ")
        .trim()
        .to_string();
    if command.len() > 80 {
        let mut cut = 77;
        while !command.is_char_boundary(cut) {
            cut -= 1;
        }
        command.truncate(cut);
        command.push_str("...");
    }
    command
}

fn with_commands(pids: impl Iterator<Item = i32>) -> Vec<(Pid, String)> {
    pids.filter_map(|p| Some((Pid::new(p)?, command(p))))
        .collect()
}

/// Live children of drover that it did not start itself: descendants that
/// left their group and were re-parented to drover (a child subreaper).
pub fn adopted_children() -> Vec<(Pid, String)> {
    let me = std::process::id() as i32;
    with_commands(
        entries()
            .into_iter()
            .filter(|e| e.ppid == me && !e.zombie)
            .map(|e| e.pid),
    )
}

/// drover's own children, from the child lists of its threads (cheap: no
/// scan of /proc).
pub fn own_children() -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut out: Vec<i32> = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Live descendants of the members of the groups `pgids` that left those
/// groups (`setsid`) while their parent lives: one scan of `/proc`. A
/// descendant whose parent died was re-parented to drover and is not found.
pub fn escaped_descendants(pgids: &[Pid]) -> Vec<Pid> {
    let all = entries();
    let inside = |e: &Entry| pgids.iter().any(|g| g.get() == e.pgrp);
    let mut frontier: Vec<i32> = all.iter().filter(|e| inside(e)).map(|e| e.pid).collect();
    let mut found = Vec::new();
    while let Some(parent) = frontier.pop() {
        for e in all.iter().filter(|e| e.ppid == parent && !e.zombie) {
            frontier.push(e.pid);
            if !inside(e) {
                found.extend(Pid::new(e.pid));
            }
        }
    }
    found
}

/// Live members of each of the groups `pgids`, from one scan of `/proc`.
pub fn group_members(pgids: &[Pid]) -> HashMap<Pid, Vec<(Pid, String)>> {
    let mut by_group: HashMap<Pid, Vec<i32>> = HashMap::new();
    if pgids.is_empty() {
        return HashMap::new();
    }
    for e in entries() {
        if e.zombie {
            continue;
        }
        if let Some(g) = pgids.iter().find(|g| g.get() == e.pgrp) {
            by_group.entry(*g).or_default().push(e.pid);
        }
    }
    by_group
        .into_iter()
        .map(|(g, mut pids)| {
            pids.sort_unstable();
            (g, with_commands(pids.into_iter()))
        })
        .collect()
}

/// Processes with an open file descriptor whose link reads `target`
/// (`pipe:[123]`, `socket:[456]`).
pub fn fd_holders(target: &str) -> Vec<i32> {
    entries()
        .into_iter()
        .filter(|e| {
            std::fs::read_dir(format!("/proc/{}/fd", e.pid)).is_ok_and(|fds| {
                fds.flatten()
                    .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target))
            })
        })
        .map(|e| e.pid)
        .collect()
}

/// Processes other than drover that have the pipe with inode `inode` open.
pub fn pipe_holders(inode: u64) -> Vec<(Pid, String)> {
    let me = std::process::id() as i32;
    let holders = fd_holders(&format!("pipe:[{inode}]"));
    with_commands(holders.into_iter().filter(|p| *p != me))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let e = parse_stat(42, "42 (a (b) c) S 7 42 42 0 -1 4194560").unwrap();
        assert_eq!(
            e,
            Entry {
                pid: 42,
                ppid: 7,
                pgrp: 42,
                zombie: false
            }
        );
        assert!(parse_stat(1, "1 (x) Z 0 1").unwrap().zombie);
        assert_eq!(parse_stat(1, "garbage"), None);
    }

    #[test]
    fn finds_own_children_and_pipe_holders() {
        let (r, w) = rustix::pipe::pipe().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .stdout(std::process::Stdio::from(w))
            .spawn()
            .unwrap();
        let inode = rustix::fs::fstat(&r).unwrap().st_ino;
        let holders = pipe_holders(inode);
        let pid = child.id() as i32;
        assert!(
            holders
                .iter()
                .any(|(p, c)| p.get() == pid && c.starts_with("sleep")),
            "{holders:?}"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
