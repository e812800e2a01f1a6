//! CPU and memory of drover's processes, for the TUI's list.
//!
//! From the process's cgroup when drover gave it one (`cpu.stat`,
//! `memory.current`: every descendant counted), else from `/proc/PID/stat`
//! and `statm` of the instance's process group leader. Read-only, best
//! effort: a process that is gone or unreadable has no figures.

use std::collections::HashMap;
use std::time::Instant;

/// What a process uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Usage {
    /// Percent of one core since the last sample.
    pub(crate) cpu: f64,
    /// Resident memory in bytes.
    pub(crate) rss: u64,
}

/// CPU time seen at the last sample, by pid.
#[derive(Debug, Default)]
pub(crate) struct Sampler {
    last: HashMap<i32, (f64, Instant)>,
}

impl Sampler {
    /// The usage of `pid` now; `None` the first time (no rate yet for the
    /// CPU) or when it cannot be read.
    pub(crate) fn sample(&mut self, pid: i32, now: Instant) -> Option<Usage> {
        let (cpu_secs, rss) = read_cgroup(pid).or_else(|| read_proc(pid))?;
        let prev = self.last.insert(pid, (cpu_secs, now));
        let cpu = match prev {
            Some((before, at)) if now > at => {
                100.0 * (cpu_secs - before).max(0.0) / now.duration_since(at).as_secs_f64()
            }
            _ => 0.0,
        };
        Some(Usage { cpu, rss })
    }

    /// Forgets pids not in `live`.
    pub(crate) fn retain(&mut self, live: &[i32]) {
        self.last.retain(|pid, _| live.contains(pid));
    }
}

/// CPU seconds and RSS from the cgroup of `pid`, if drover made one.
fn read_cgroup(pid: i32) -> Option<(f64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    if !path.contains("drover") {
        return None;
    }
    let dir = format!("/sys/fs/cgroup{path}");
    let stat = std::fs::read_to_string(format!("{dir}/cpu.stat")).ok()?;
    let usec: f64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("usage_usec "))?
        .trim()
        .parse()
        .ok()?;
    let mem = std::fs::read_to_string(format!("{dir}/memory.current"))
        .ok()
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or(0);
    Some((usec / 1e6, mem))
}

/// CPU seconds and RSS of `pid` from `/proc`.
fn read_proc(pid: i32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let (cpu, rss_pages) = parse(&stat, &statm)?;
    // SAFETY: sysconf only reads a constant of the system.
    let (tick, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    Some((
        cpu as f64 / tick.max(1) as f64,
        rss_pages * page.max(1) as u64,
    ))
}

/// utime + stime (ticks) from `stat`, resident pages from `statm`.
fn parse(stat: &str, statm: &str) -> Option<(u64, u64)> {
    // After "(comm)": state is field 3, utime 14, stime 15.
    let (_, rest) = stat.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    let rss = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some((utime + stime, rss))
}

/// A byte count as `12.3M`.
pub(crate) fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1}G", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1}M", n as f64 / (1u64 << 20) as f64),
        n => format!("{}K", n >> 10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_comm_with_spaces() {
        let stat = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 1 0 99 1000 3";
        assert_eq!(parse(stat, "1000 250 10 1 0 100 0\n"), Some((12, 250)));
    }

    #[test]
    fn own_process_is_readable() {
        let mut s = Sampler::default();
        let me = std::process::id() as i32;
        assert!(s.sample(me, Instant::now()).is_some_and(|u| u.rss > 0));
        assert_eq!(bytes(3 << 20), "3.0M");
    }
}
