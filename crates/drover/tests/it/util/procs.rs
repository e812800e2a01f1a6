//! Processes a test started or learned about, and what `/proc` says of
//! them: whether they live, in which state, how much memory they hold.
//!
//! Every pid a test learns is written to a `*.pid` file in its folder, so
//! the folder's guard ([`TestDir`]'s drop) SIGKILLs whatever of it still runs
//! there when the test ends, even on a panic. A pid counts as left over only
//! while it is alive *and* runs in the test folder, so a pid reused by an
//! unrelated process (`pid_max` may be 32768 here) is never blamed or killed.
//!
//! Every wait is bounded by [`WAIT`] (a hang detector, never a speed
//! assertion); nothing here sleeps to order events.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::*;

// ---------------------------------------------------------------------------
// Pids

/// Whether `pid` is a live process (not gone, not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(state_in(&stat), None | Some('Z' | 'X' | 'x')),
        Err(_) => {
            // SAFETY: kill with signal 0 only checks for existence.
            let r = unsafe { libc::kill(pid, 0) };
            !(r == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH))
        }
    }
}

/// Waits until `pid` is gone (or a zombie); panics naming `what` otherwise.
pub fn assert_gone(pid: i32, what: &str) {
    wait_until(&format!("{what} (pid {pid}) to be gone"), || !alive(pid));
}

/// Sends `sig` to `pid`.
pub fn signal(pid: i32, sig: libc::c_int) {
    // SAFETY: plain syscall.
    let r = unsafe { libc::kill(pid, sig) };
    assert_eq!(r, 0, "kill({pid}, {sig}): {}", io::Error::last_os_error());
}

/// Records pids in `learned.pid` in the test folder; the folder's guard
/// kills those still running there when the test ends.
pub fn learn(dir: &TestDir, pids: &[i32]) {
    if pids.is_empty() {
        return;
    }
    let text: String = pids.iter().map(|p| format!("{p}\n")).collect();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("learned.pid"))
        .expect("opening learned.pid");
    f.write_all(text.as_bytes()).expect("writing learned.pid");
}

/// Whether `pid` is alive (not a zombie) and runs in `dir` or below it:
/// every process a test starts, and their descendants, run there.
pub fn leftover(pid: i32, dir: &Path) -> bool {
    if pid <= 1 || !alive(pid) {
        return false;
    }
    match std::fs::read_link(format!("/proc/{pid}/cwd")) {
        Ok(cwd) => cwd.starts_with(dir),
        // Alive but unreadable: not one of ours (ours are the test's user).
        Err(_) => false,
    }
}

/// Waits (bounded) until none of `pids` is left over in `dir`; panics
/// naming the ones that are.
pub fn assert_none_left(dir: &TestDir, pids: &[i32], what: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let left: Vec<String> = pids
            .iter()
            .filter(|p| leftover(**p, dir.path()))
            .map(|p| format!("{p} ({})", command_of(*p)))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still running after {WAIT:?}: {}",
            left.join(", ")
        );
        thread::sleep(POLL);
    }
}

/// The command line of `pid`, for messages.
pub fn command_of(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            String::from_utf8_lossy(&c)
                .replace('\0', " ")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

/// Every pid in every `*.pid` file of `dir` (recursively one level: also
/// in its subfolders), as testchild `--pidfile`s write them.
pub fn pids_in_files(dir: &Path) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(pids_in_files(&path));
        } else if path.extension().is_some_and(|x| x == "pid") {
            out.extend(read_pids(&path));
        }
    }
    out
}

/// The pids in a pid file, one a line; none if it cannot be read.
pub(super) fn read_pids(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Whether `pid` still belongs to this test: its working folder is `dir`
/// (children and their grandchildren run there). Guards the cleanup against
/// killing an unrelated process that reused a pid.
fn belongs_to(pid: i32, dir: &Path) -> bool {
    match std::fs::read_link(format!("/proc/{pid}/cwd")) {
        Ok(cwd) => {
            cwd.starts_with(dir) || cwd.to_string_lossy().starts_with(&*dir.to_string_lossy())
        }
        Err(_) => false,
    }
}

/// Kills every process named in a `*.pid` file under `dir` that still runs
/// there, with its process group if it leads one.
pub(super) fn kill_recorded(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension() != Some(OsStr::new("pid")) {
            continue;
        }
        for pid in read_pids(&path) {
            if pid > 1 && belongs_to(pid, dir) {
                // SAFETY: plain syscalls; the pid was checked to be ours.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// /proc

/// The state letter of `pid` (`R`, `S`, `T`, `Z`, …), or None if it is gone.
pub fn proc_state(pid: i32) -> Option<char> {
    state_in(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The state letter in the text of a `/proc/PID/stat`. It follows the
/// command name in parentheses, which may itself hold spaces or parentheses.
fn state_in(stat: &str) -> Option<char> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().next()?.chars().next()
}

/// Waits (bounded) until `pid`'s state satisfies `want`; returns it.
pub fn wait_for_state(pid: i32, what: &str, want: impl Fn(Option<char>) -> bool) -> Option<char> {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = proc_state(pid);
        if want(s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {WAIT:?} waiting for {what} (pid {pid}, state {s:?})"
        );
        thread::sleep(POLL);
    }
}

/// Whether `pid` is stopped by a signal (`T`) or traced (`t`).
pub fn stopped(s: Option<char>) -> bool {
    matches!(s, Some('T') | Some('t'))
}

/// `/proc/PID/status` field `key` in kB, or None if `pid` is gone.
fn status_field_kb(pid: i32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// `/proc/PID/status` field `key` in kB; panics if it cannot be read.
pub fn status_kb(pid: i32, key: &str) -> u64 {
    status_field_kb(pid, key).unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

/// How many file descriptors `pid` has open.
pub fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/fd: {e}"))
}

/// A thread that samples a process's `VmHWM` (its peak resident set) until
/// stopped. The peak only grows, so the last sample before the process exits
/// is its peak then.
pub struct HwmSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<thread::JoinHandle<()>>,
}

impl HwmSampler {
    /// Starts sampling `pid` every 20 ms.
    pub fn start(pid: i32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (s, p) = (Arc::clone(&stop), Arc::clone(&peak));
        let thread = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(kib) = status_field_kb(pid, "VmHWM") {
                    p.fetch_max(kib, Ordering::Relaxed);
                }
                thread::sleep(Duration::from_millis(20));
            }
        });
        Self {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    /// The highest VmHWM seen so far, in KiB.
    pub fn peak_kib(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Stops sampling; returns the peak in KiB (0 if never read).
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak_kib()
    }
}

impl Drop for HwmSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------
// Pipes and tools

/// A pipe: (read end, write end), both close-on-exec.
pub fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", io::Error::last_os_error());
    // SAFETY: both descriptors are fresh and owned once here.
    unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
}

/// Whether `python3` runs here; the tests that need it fail saying so
/// rather than skipping.
pub fn require_python() {
    let ok = Command::new("python3")
        .arg("-c")
        .arg("import socket")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "this test needs python3 on PATH");
}
