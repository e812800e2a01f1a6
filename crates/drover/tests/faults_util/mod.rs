//! Helpers for the fault tests (`faults_*.rs`) and the feature tests
//! (`features_*.rs`), on top of `util` (the temp folder, the drover under
//! test) and `control_util` (the control socket).
//!
//! - [`Pids`]: every pid a test learns is written to `faults-learned.pid`
//!   in the test folder, so the folder's guard SIGKILLs whatever of it is
//!   still running there when the test ends, even on a panic.
//! - [`leftover`] / [`assert_none_left`]: a pid counts as left over only
//!   while it is alive *and* still runs in the test folder, so a pid reused
//!   by an unrelated process (`pid_max` may be 32768 here) is never blamed.
//! - [`proc_state`], [`vm_hwm_kib`], [`HwmSampler`]: what `/proc` says.
//! - [`Raw`]: a drover started with any stdout (a pipe nobody reads, a pipe
//!   the test reads itself), stderr collected, killed with its group on drop.
//!
//! Every wait is bounded (a hang detector, never a speed assertion) and
//! nothing here sleeps to order events.

#![allow(dead_code)] // each test binary uses a different part of this file

use std::io::{self, Read as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::*;

/// How often the waits here poll.
const POLL: Duration = Duration::from_millis(5);

// ---------------------------------------------------------------------------
// Pids

/// Records pids in `faults-learned.pid` in the test folder; the folder's
/// guard kills those still running there when the test ends.
pub fn learn(dir: &TestDir, pids: &[i32]) {
    if pids.is_empty() {
        return;
    }
    let text: String = pids.iter().map(|p| format!("{p}\n")).collect();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("faults-learned.pid"))
        .expect("opening faults-learned.pid");
    f.write_all(text.as_bytes())
        .expect("writing faults-learned.pid");
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
            out.extend(
                std::fs::read_to_string(&path)
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| l.trim().parse::<i32>().ok()),
            );
        }
    }
    out
}

// ---------------------------------------------------------------------------
// /proc

/// The state letter of `pid` (`R`, `S`, `T`, `Z`, …), or None if it is gone.
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
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

/// `VmHWM` of `pid` (its peak resident set) in KiB, while it runs.
pub fn vm_hwm_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A thread that samples a process's `VmHWM` until stopped. The peak only
/// grows, so the last sample before the process exits is its peak then.
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
                if let Some(kib) = vm_hwm_kib(pid) {
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
// Ports and tools

/// A port that was free a moment ago (the kernel's choice).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("asking the kernel for a free port")
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

// ---------------------------------------------------------------------------
// A drover with any stdout

/// A `drover start` whose stdout the test chose. Dropping it SIGKILLs
/// drover's process group if drover has not been reaped.
pub struct Raw {
    child: Child,
    pid: i32,
    reaped: Option<ExitStatus>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_done: Option<thread::JoinHandle<()>>,
}

impl Raw {
    /// `drover start ARGS` in `dir` with `stdout`, in its own process group.
    pub fn spawn(dir: &TestDir, args: &[&str], stdout: Stdio) -> Self {
        let mut child = Command::new(DROVER)
            .arg("start")
            .args(args)
            .current_dir(dir.path())
            .env_remove("NO_COLOR")
            .env_remove("RUST_LOG")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("starting drover");
        let mut err = child.stderr.take().expect("piped");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&stderr);
        let stderr_done = thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match err.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => s
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
        });
        Self {
            pid: child.id() as i32,
            child,
            reaped: None,
            stderr,
            stderr_done: Some(stderr_done),
        }
    }

    /// drover's pid (also its process group).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `sig` to drover.
    pub fn signal(&self, sig: libc::c_int) {
        assert!(self.reaped.is_none(), "drover has already exited");
        signal(self.pid, sig);
    }

    /// drover's stderr so far.
    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Whether drover has exited (without waiting).
    pub fn exited(&mut self) -> bool {
        if self.reaped.is_none() {
            self.reaped = self.child.try_wait().expect("waiting for drover");
        }
        self.reaped.is_some()
    }

    /// Waits up to `bound` (a hang detector) for drover to exit.
    pub fn wait_exit(&mut self, bound: Duration) -> ExitStatus {
        let deadline = Instant::now() + bound;
        while !self.exited() {
            assert!(
                Instant::now() < deadline,
                "drover did not exit within {bound:?}\nstderr:\n{}",
                self.stderr_so_far()
            );
            thread::sleep(POLL);
        }
        self.reaped.expect("exited() saw the status")
    }

    /// Waits for drover to exit (bounded by `bound`) and for its stderr to
    /// end (bounded by WAIT); returns the status and stderr.
    pub fn finish(mut self, bound: Duration) -> (ExitStatus, String) {
        let status = self.wait_exit(bound);
        let deadline = Instant::now() + WAIT;
        let handle = self.stderr_done.take().expect("finished once");
        while !handle.is_finished() {
            assert!(
                Instant::now() < deadline,
                "drover's stderr did not end within {WAIT:?} of its exit (a descendant holds it)"
            );
            thread::sleep(POLL);
        }
        let _ = handle.join();
        (status, self.stderr_so_far())
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        if self.reaped.is_none() {
            // Not reaped, so the pid (and group id) cannot have been reused.
            // SAFETY: plain syscall.
            unsafe { libc::kill(-self.pid, libc::SIGKILL) };
            let _ = self.child.wait();
        }
    }
}

/// A pipe: (read end, write end), both close-on-exec.
pub fn pipe() -> (std::fs::File, std::fs::File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", io::Error::last_os_error());
    use std::os::fd::FromRawFd as _;
    // SAFETY: both descriptors are fresh and owned once here.
    unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    }
}

// ---------------------------------------------------------------------------
// Output

/// Waits until drover prints the line `text` for process `name` (any
/// padding of the name column): `NAME<padding> | TEXT`.
pub fn wait_for_child_line(run: &DroverRun, name: &str, text: &str) {
    run.wait_for_line(&format!("{name} | {text}"), |l| {
        let Some(at) = l.windows(3).position(|w| w == b" | ") else {
            return false;
        };
        l[..at].trim_ascii_end() == name.as_bytes() && &l[at + 3..] == text.as_bytes()
    });
}

/// Waits until drover's socket in `dir` answers `ps`, for a drover whose
/// stdout the test reads itself; panics with drover's stderr if drover
/// exits first.
pub fn wait_for_socket(dir: &TestDir, run: &mut DroverRun) {
    let path = dir.join(".drover.sock");
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(mut s) = std::os::unix::net::UnixStream::connect(&path) {
            s.set_read_timeout(Some(WAIT)).expect("setting a timeout");
            let mut answer = String::new();
            if s.write_all(b"{\"v\":1,\"cmd\":\"ps\"}\n").is_ok()
                && s.read_to_string(&mut answer).is_ok()
                && answer.contains("\"ok\":true")
            {
                return;
            }
        }
        assert!(
            !run.exited(),
            "drover exited before its socket answered\nstderr:\n{}",
            run.stderr_so_far()
        );
        assert!(
            Instant::now() < deadline,
            "gave up after {WAIT:?} waiting for {} to answer ps",
            path.display()
        );
        thread::sleep(POLL);
    }
}
