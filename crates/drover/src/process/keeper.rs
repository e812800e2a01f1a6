//! The keeper: what stops the app when drover itself is killed.
//!
//! `PR_SET_PDEATHSIG` reaches only drover's direct children, and the kernel
//! clears it when a child changes its credentials; grandchildren, daemons
//! and cgroups would outlive a `kill -9` of drover. So `drover start` forks
//! a keeper before its runtime starts any thread: a small single-threaded
//! process, in a process group of its own (Ctrl-C does not reach it), that
//! holds the read end of a pipe. drover writes one line to the pipe for each
//! process group it starts or sees gone, each descendant it adopts, and each
//! cgroup it makes. When drover's end closes while something is still
//! registered — drover died without stopping it — the keeper stops every
//! registered group and its descendants (found by their parent links in
//! `/proc`, frozen with SIGSTOP first so none can fork away), kills each
//! cgroup, says so on stderr, and exits. After a clean stop nothing is
//! registered and it exits silently.
//!
//! The keeper also keeps the registrations in a state file (see
//! [`state_path`]), so that when the keeper dies with drover (a `kill -9` of
//! both, the OOM killer), the next `drover start` in the same root stops
//! what was left ([`clean_up_leftovers`]). Every entry carries the start
//! time of its process, so a recycled pid is never signalled.
//!
//! The keeper is its own small program, `drover-keeper` beside `drover`
//! (built and installed with it): a fork of drover kept every page of
//! drover's code it touched, about 1.2 MB of PSS, where the program of its
//! own costs about 0.75 MB. Without that file (a `drover` copied alone),
//! drover forks the keeper as before.
//!
//! Must not: allocate between fork and the keeper's own code (there is no
//! other thread at the fork, so the child is an ordinary process), or hold
//! any of drover's descriptors except the pipe and stderr (a reader of
//! drover's stdout must see its end when drover ends).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The write end of the keeper's pipe, and the keeper's pid.
#[derive(Debug)]
struct Link {
    pipe: Mutex<File>,
    pid: i32,
}

static LINK: OnceLock<Link> = OnceLock::new();

/// The variable every process drover starts gets, naming this run of
/// drover; its descendants inherit it, so the keeper finds them even after
/// their parents died and they were re-parented.
pub const RUN_ID_VAR: &str = "DROVER_RUN_ID";

/// This run's id: drover's pid and start time.
static RUN_ID: OnceLock<String> = OnceLock::new();

/// How long the keeper waits for a killed cgroup to empty.
const CGROUP_WAIT: Duration = Duration::from_secs(2);

/// The keeper's program, beside drover's.
const PROGRAM: &str = "drover-keeper";

/// The descriptor the keeper's program reads its pipe on.
const PIPE_FD: i32 = 3;

/// Appended bytes after which the state file is written anew (at least).
const COMPACT_AFTER: usize = 64 * 1024;

/// Forks the keeper. Call before any thread exists (before the runtime);
/// later calls do nothing. `state` is where the registrations are kept.
pub fn start(state: PathBuf) -> io::Result<()> {
    if LINK.get().is_some() {
        return Ok(());
    }
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let drover = std::process::id() as i32;
    let run_id = RUN_ID.get_or_init(|| format!("{drover}.{}", start_time(drover).unwrap_or(0)));
    let pid = match program() {
        Some(program) => exec_keeper(&program, read, (drover, run_id), &state)?,
        None => fork_keeper(read, (drover, run_id), &state)?,
    };
    let _ = LINK.set(Link {
        pipe: Mutex::new(File::from(write)),
        pid,
    });
    Ok(())
}

/// The keeper's own program, beside drover's.
fn program() -> Option<PathBuf> {
    let path = std::env::current_exe().ok()?.with_file_name(PROGRAM);
    let meta = std::fs::metadata(&path).ok()?;
    (meta.is_file() && meta.mode() & 0o111 != 0).then_some(path)
}

/// Starts `drover-keeper FD DROVER RUN_ID STATE` with the pipe's read end.
fn exec_keeper(
    program: &Path,
    read: OwnedFd,
    (drover, run_id): (i32, &str),
    state: &Path,
) -> io::Result<i32> {
    let fd = read.as_raw_fd();
    let mut cmd = crate::process::spawn::Command::new(program);
    cmd.arg(PIPE_FD.to_string())
        .arg(drover.to_string())
        .arg(run_id)
        .arg(state);
    // SAFETY: dup2 is async-signal-safe; errors are raw errno values.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto another number clears close-on-exec on the copy.
            if libc::dup2(fd, PIPE_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    drop(read);
    Ok(child.id() as i32)
}

/// Forks the keeper: the child runs [`keeper_main`] and never returns.
fn fork_keeper(read: OwnedFd, drover: (i32, &str), state: &Path) -> io::Result<i32> {
    // SAFETY: no other thread exists (the caller's contract), so the child
    // may run ordinary code: no lock can be held by a thread that is gone.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            let status = keeper_main(read, drover, state);
            // SAFETY: _exit skips the parent's atexit handlers and buffers.
            unsafe { libc::_exit(status) }
        }
        pid => Ok(pid),
    }
}

/// `drover-keeper FD DROVER RUN_ID STATE`: the keeper's own program (see
/// the module docs); returns its exit status. Not for people: drover
/// starts it.
pub fn program_main(args: &[std::ffi::OsString]) -> i32 {
    use std::os::fd::FromRawFd as _;
    let [_, fd, drover, run_id, state] = args else {
        let _ = writeln!(
            io::stderr(),
            "drover-keeper: started by drover, not by hand"
        );
        return 2;
    };
    let number = |s: &std::ffi::OsString| s.to_str().and_then(|s| s.parse::<i32>().ok());
    let (Some(fd), Some(drover), Some(run_id)) = (number(fd), number(drover), run_id.to_str())
    else {
        let _ = writeln!(
            io::stderr(),
            "drover-keeper: started by drover, not by hand"
        );
        return 2;
    };
    if fd != PIPE_FD {
        return 2;
    }
    // SAFETY: drover passed the pipe's read end as this descriptor; if it
    // is not open, or not a pipe, nothing is taken over.
    let pipe = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let is_pipe = rustix::fs::fstat(pipe).is_ok_and(|st| {
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Fifo
    });
    if !is_pipe {
        let _ = writeln!(
            io::stderr(),
            "drover-keeper: started by drover, not by hand"
        );
        return 2;
    }
    // SAFETY: checked above: an open pipe, drover's to hand over.
    let pipe = unsafe { OwnedFd::from_raw_fd(fd) };
    keeper_main(pipe, (drover, run_id), Path::new(state))
}

/// `DROVER_RUN_ID`'s value for the processes of this run, once the keeper
/// runs.
pub fn run_id() -> Option<&'static str> {
    LINK.get().and(RUN_ID.get()).map(String::as_str)
}

/// The keeper's pid, when there is one: it is drover's child but none of
/// the app's processes.
pub fn pid() -> Option<i32> {
    LINK.get().map(|l| l.pid)
}

/// Registers process group `pgid`, led by instance `name`.
pub fn add_group(pgid: i32, name: &str) {
    send(&format!("g+ {pgid} {}\n", one_line(name)));
}

/// Unregisters process group `pgid`: it is empty.
pub fn remove_group(pgid: i32) {
    send(&format!("g- {pgid}\n"));
}

/// Registers a descendant that left its group and was re-parented to drover.
pub fn add_pid(pid: i32) {
    send(&format!("p+ {pid}\n"));
}

/// Unregisters an adopted descendant: it was reaped.
pub fn remove_pid(pid: i32) {
    send(&format!("p- {pid}\n"));
}

/// Registers a cgroup drover made.
pub fn add_cgroup(path: &Path) {
    send(&format!("c+ {}\n", path.display()));
}

/// Unregisters a cgroup: it is empty and removed.
pub fn remove_cgroup(path: &Path) {
    send(&format!("c- {}\n", path.display()));
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

fn send(line: &str) {
    let Some(link) = LINK.get() else { return };
    let mut pipe = link.pipe.lock().unwrap_or_else(|e| e.into_inner());
    // A line under PIPE_BUF is written whole. If the keeper is gone there is
    // nobody to tell; drover's own stop still works.
    let _ = pipe.write_all(line.as_bytes());
}

/// Where the registrations of the drover running in `root` are kept: the
/// runtime folder (`$XDG_RUNTIME_DIR`, else a private folder in the temp
/// folder), one file per root.
pub fn state_path(root: &Path) -> io::Result<PathBuf> {
    crate::process::runtime::key_path(root, "keeper")
}

/// What the keeper knows.
#[derive(Debug, Default, PartialEq, Eq)]
struct State {
    /// drover's pid and start time.
    drover: (i32, u64),
    /// The run's `DROVER_RUN_ID`.
    run_id: String,
    /// Process groups: pgid -> (leader's start time, 0 if unknown; name).
    groups: BTreeMap<i32, (u64, String)>,
    /// Adopted descendants: pid -> start time.
    pids: BTreeMap<i32, u64>,
    cgroups: Vec<PathBuf>,
}

impl State {
    fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.pids.is_empty() && self.cgroups.is_empty()
    }

    /// Applies one registration from drover; returns the line that says
    /// the same in the state file, if anything changed.
    fn apply(&mut self, line: &str) -> Option<String> {
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

    fn render(&self) -> String {
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

    fn parse(text: &str) -> State {
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

/// The keeper process: reads registrations until drover's end closes, then
/// stops what is left. Returns its exit status.
fn keeper_main(pipe: OwnedFd, (drover, run_id): (i32, &str), state_file: &Path) -> i32 {
    detach(&pipe);
    let mut state = State {
        drover: (drover, start_time(drover).unwrap_or(0)),
        run_id: run_id.to_string(),
        ..State::default()
    };
    let mut pipe = File::from(pipe);
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    // Only a keeper that wrote the state file removes it: a second drover
    // that gives up at once (another runs here) must not remove the first's.
    let mut file = StateFile::new(state_file);
    loop {
        match pipe.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
        let mut changes = String::new();
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            if let Some(change) = state.apply(String::from_utf8_lossy(&line[..nl]).as_ref()) {
                changes.push_str(&change);
            }
        }
        if !changes.is_empty() {
            file.record(&state, &changes);
        }
    }
    let wrote = file.wrote;
    if state.is_empty() {
        if wrote {
            let _ = std::fs::remove_file(state_file);
        }
        return 0;
    }
    let stopped = stop_everything(&state);
    let _ = std::fs::remove_file(state_file);
    let mut err = io::stderr();
    let _ = writeln!(
        err,
        "drover: drover (pid {drover}) ended without stopping its processes; \
         its keeper killed {}",
        describe(&stopped, &state)
    );
    0
}

/// Leaves drover's process group and descriptors: only `pipe` and stderr
/// stay; stdin and stdout read and write /dev/null.
fn detach(pipe: &OwnedFd) {
    // SAFETY: plain syscalls on the keeper's own process.
    unsafe {
        libc::setpgid(0, 0);
        for sig in [
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGHUP,
            libc::SIGTSTP,
            libc::SIGTTIN,
            libc::SIGTTOU,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGPIPE,
            libc::SIGALRM,
            libc::SIGWINCH,
        ] {
            libc::signal(sig, libc::SIG_IGN);
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        // SAFETY: dup2 onto the standard descriptors.
        unsafe {
            libc::dup2(null.as_raw_fd(), 0);
            libc::dup2(null.as_raw_fd(), 1);
        }
    }
    let keep = pipe.as_raw_fd();
    for fd in crate::process::limits::open_fds_above_stdio() {
        if fd != keep {
            // SAFETY: closing descriptors this process inherited and does
            // not use (the directory's own one is already closed).
            unsafe { libc::close(fd) };
        }
    }
}

/// The state file, for a next drover in the same root should the keeper
/// itself be killed: a snapshot (a new file renamed over the old one),
/// then each change appended. Appending keeps a burst of a thousand starts
/// linear: rewriting the file each time was quadratic, and each rename over
/// the old file made ext4 write the data out at once.
struct StateFile<'a> {
    path: &'a Path,
    /// Open for appending after a snapshot.
    file: Option<File>,
    /// Bytes appended since the snapshot.
    appended: usize,
    /// The snapshot's size.
    snapshot: usize,
    /// Written at least once: only then is it this keeper's to remove.
    wrote: bool,
}

impl<'a> StateFile<'a> {
    fn new(path: &'a Path) -> Self {
        Self {
            path,
            file: None,
            appended: 0,
            snapshot: 0,
            wrote: false,
        }
    }

    /// Records `changes`, the lines `state` changed by.
    fn record(&mut self, state: &State, changes: &str) {
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

fn start_time(pid: i32) -> Option<u64> {
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
fn stop_everything(state: &State) -> Vec<i32> {
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

fn describe(pids: &[i32], state: &State) -> String {
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
