//! Shared helpers for the integration tests that run the real `drover`
//! binary on real, misbehaving children (`drover-testchild`).
//!
//! - [`TestDir`]: a temporary folder per test, with a Procfile written from a
//!   template (`$T` is the testchild, `$D` the folder).
//!   When dropped it SIGKILLs every process named in one of its `*.pid` files
//!   (testchild `--pidfile`s) that still runs there, so a failing test leaves
//!   nothing running.
//! - [`DroverRun`]: a running drover in its own process group. Its output is
//!   collected by threads; every wait on it is bounded by [`WAIT`], a hang
//!   detector, never a speed assertion. On drop it SIGKILLs drover's group if
//!   drover has not exited.
//! - [`parse_text`], [`numbered`]: check that every line arrived intact and in
//!   order per process, with no line torn or repeated.
//!
//! Nothing here sleeps to order events: tests wait for files or output to
//! appear, polling with a bound.

#![allow(dead_code)] // each test binary uses a different part of this file

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::FromRawFd as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// The longest any test waits for something that should happen. Only a hang
/// reaches it; it says nothing about speed.
pub const WAIT: Duration = Duration::from_secs(20);

/// How often bounded waits poll.
const POLL: Duration = Duration::from_millis(5);

/// The `drover` binary under test.
pub const DROVER: &str = env!("CARGO_BIN_EXE_drover");
/// The misbehaving child, `drover-testchild`: built by its own package
/// (crates/testchild) into the folder that holds `drover`, since cargo only
/// tells a test where the binaries of its own package are. Panics, naming
/// the command that builds it, if it is not there.
pub fn testchild() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    if let Some(path) = PATH.get() {
        return path;
    }
    let path = Path::new(DROVER)
        .parent()
        .expect("the drover binary is in a folder")
        .join("drover-testchild");
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build --locked -p drover-testchild` \
         (scripts/test does) before running the tests",
        path.display()
    );
    let path = path
        .into_os_string()
        .into_string()
        .expect("a UTF-8 path to drover-testchild");
    PATH.get_or_init(|| path)
}

/// Flags that make output lines `name | text`, easy to parse.
pub const PLAIN: &[&str] = &["--no-timestamp", "--color", "never"];

// ---------------------------------------------------------------------------
// The test folder

/// A temporary folder for one test. When dropped, it kills every process
/// named in one of its `*.pid` files that still runs in it, then is removed.
pub struct TestDir {
    dir: tempfile::TempDir,
}

impl Drop for TestDir {
    fn drop(&mut self) {
        kill_recorded(self.dir.path());
    }
}

impl Default for TestDir {
    fn default() -> Self {
        Self::new()
    }
}

impl TestDir {
    /// A new empty folder.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("drover-test-")
            .tempdir()
            .expect("creating a temporary folder");
        Self { dir }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `name` inside the folder.
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `Procfile` from `template`: `$T` becomes the testchild's path
    /// and `$D` the folder's.
    pub fn procfile(&self, template: &str) {
        self.write("Procfile", &self.expand(template));
    }

    /// `template` with `$T` and `$D` replaced.
    pub fn expand(&self, template: &str) -> String {
        template
            .replace("$T", testchild())
            .replace("$D", self.path().to_str().expect("a UTF-8 temp path"))
    }

    /// Writes `text` to `name` in the folder (creating parent folders).
    pub fn write(&self, name: &str, text: &str) {
        let path = self.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("creating a folder");
        }
        std::fs::write(path, text).expect("writing a test file");
    }

    /// `drover start ARGS` run in this folder, not started yet.
    pub fn drover(&self, args: &[&str]) -> Launch {
        let mut cmd = Command::new(DROVER);
        cmd.arg("start")
            .args(args)
            .current_dir(self.path())
            .env_remove("NO_COLOR")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0);
        Launch { cmd, pty: false }
    }

    /// Waits until `name` exists in the folder.
    pub fn wait_for_file(&self, name: &str) -> PathBuf {
        let path = self.join(name);
        wait_until(&format!("{} to exist", path.display()), || path.exists());
        path
    }

    /// The pids in pid file `name` (testchild `--pidfile`: its own pid, then
    /// its grandchildren's), once it exists.
    pub fn pids(&self, name: &str) -> Vec<i32> {
        let path = self.wait_for_file(name);
        read_pids(&path)
    }
}

fn read_pids(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Polls `done` until it holds; panics after [`WAIT`] naming `what`.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "gave up after {WAIT:?} waiting for {what}"
        );
        thread::sleep(POLL);
    }
}

// ---------------------------------------------------------------------------
// Processes

/// Whether `pid` is a live process (not gone, not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses, which may
        // itself hold spaces or parentheses.
        Ok(stat) => match stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
        {
            Some("Z") | Some("X") | Some("x") => false,
            Some(_) => true,
            None => false,
        },
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
fn kill_recorded(dir: &Path) {
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
// A running drover

/// A drover command about to be started.
pub struct Launch {
    cmd: Command,
    pty: bool,
}

impl Launch {
    /// Sets an environment variable for drover.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Gives drover a pseudo-terminal as stdout (so it is "a terminal").
    pub fn pty(mut self) -> Self {
        self.pty = true;
        self
    }

    /// Starts drover with its output collected in the background.
    pub fn spawn(self) -> DroverRun {
        let (mut run, stdout) = self.start();
        run.stdout = Some(Collector::start(stdout));
        run
    }

    /// Starts drover and hands its stdout pipe to the test (stderr is still
    /// collected).
    pub fn spawn_with_stdout(self) -> (DroverRun, ChildStdout) {
        assert!(!self.pty);
        let (run, stdout) = self.start();
        let stdout = match stdout {
            Source::Pipe(p) => p,
            Source::Pty(_) | Source::Stderr(_) => unreachable!("a pipe was asked for"),
        };
        (run, stdout)
    }

    /// Runs drover to its end and returns what it did.
    pub fn run(self) -> Finished {
        self.spawn().finish()
    }

    fn start(mut self) -> (DroverRun, Source) {
        let pty = if self.pty {
            let (master, slave) = open_pty();
            self.cmd.stdout(Stdio::from(slave));
            Some(master)
        } else {
            self.cmd.stdout(Stdio::piped());
            None
        };
        let mut child = self.cmd.spawn().expect("starting drover");
        // Our copy of the terminal's slave side was in `cmd`: drop it so the
        // master sees the end when drover exits.
        drop(self.cmd);
        let stderr = Collector::start(Source::Stderr(child.stderr.take().expect("piped")));
        let source = match pty {
            Some(master) => Source::Pty(master),
            None => Source::Pipe(child.stdout.take().expect("piped")),
        };
        let run = DroverRun {
            pid: child.id() as i32,
            child,
            reaped: None,
            stdout: None,
            stderr,
        };
        (run, source)
    }
}

/// Opens a pseudo-terminal: (master, slave).
fn open_pty() -> (File, File) {
    // SAFETY: plain libc calls; every returned fd is checked and owned once.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(master >= 0, "posix_openpt: {}", io::Error::last_os_error());
        let master = File::from_raw_fd(master);
        use std::os::fd::AsRawFd as _;
        assert_eq!(libc::grantpt(master.as_raw_fd()), 0, "grantpt");
        assert_eq!(libc::unlockpt(master.as_raw_fd()), 0, "unlockpt");
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(
            libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()),
            0,
            "ptsname_r"
        );
        let slave = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(
            slave >= 0,
            "opening the pty slave: {}",
            io::Error::last_os_error()
        );
        (master, File::from_raw_fd(slave))
    }
}

enum Source {
    Pipe(ChildStdout),
    Stderr(std::process::ChildStderr),
    Pty(File),
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Pipe(p) => p.read(buf),
            Source::Stderr(p) => p.read(buf),
            Source::Pty(f) => match f.read(buf) {
                // The master reads EIO once every slave fd is closed.
                Err(e) if e.raw_os_error() == Some(libc::EIO) => Ok(0),
                r => r,
            },
        }
    }
}

#[derive(Default)]
struct Collected {
    bytes: Vec<u8>,
    eof: bool,
    error: Option<String>,
}

/// A thread reading one of drover's streams to the end.
struct Collector {
    shared: Arc<(Mutex<Collected>, Condvar)>,
}

impl Collector {
    fn start(mut source: Source) -> Self {
        let shared = Arc::new((Mutex::new(Collected::default()), Condvar::new()));
        let s = Arc::clone(&shared);
        thread::spawn(move || {
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let r = source.read(&mut buf);
                let (lock, cv) = &*s;
                let mut c = lock.lock().unwrap_or_else(|e| e.into_inner());
                match r {
                    Ok(0) => c.eof = true,
                    Ok(n) => c.bytes.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        c.error = Some(e.to_string());
                        c.eof = true;
                    }
                }
                let eof = c.eof;
                cv.notify_all();
                if eof {
                    return;
                }
            }
        });
        Self { shared }
    }

    /// Calls `done` with each complete line read (without its newline), in
    /// order, each once, until it returns true; panics after WAIT or at the
    /// end of the stream.
    fn wait_for_line(&self, what: &str, mut done: impl FnMut(&[u8]) -> bool) {
        let deadline = Instant::now() + WAIT;
        let (lock, cv) = &*self.shared;
        let mut c = lock.lock().unwrap_or_else(|e| e.into_inner());
        // Only new bytes are looked at, so a flood is scanned once.
        let mut start = 0;
        loop {
            while let Some(nl) = newline(&c.bytes[start..]) {
                let line = &c.bytes[start..start + nl];
                start += nl + 1;
                if done(line) {
                    return;
                }
            }
            let now = Instant::now();
            if c.eof || now >= deadline {
                let so_far = tail(&c.bytes);
                let why = if c.eof { "stream ended" } else { "gave up" };
                drop(c);
                panic!("{why} waiting for {what}; output so far (end):\n{so_far}");
            }
            c = cv
                .wait_timeout(c, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Everything, once the stream ended.
    fn take(&self, what: &str) -> Vec<u8> {
        self.wait_for_eof(what);
        let (lock, _) = &*self.shared;
        let mut c = lock.lock().unwrap_or_else(|e| e.into_inner());
        assert!(c.error.is_none(), "reading {what}: {:?}", c.error);
        std::mem::take(&mut c.bytes)
    }

    fn wait_for_eof(&self, what: &str) {
        let deadline = Instant::now() + WAIT;
        let (lock, cv) = &*self.shared;
        let mut c = lock.lock().unwrap_or_else(|e| e.into_inner());
        while !c.eof {
            let now = Instant::now();
            assert!(
                now < deadline,
                "gave up after {WAIT:?} waiting for the end of {what}"
            );
            c = cv
                .wait_timeout(c, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        self.shared
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .bytes
            .clone()
    }
}

/// The last few lines of `bytes`, for failure messages.
pub fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(12);
    lines[from..]
        .iter()
        .map(|l| {
            if l.len() > 150 {
                &l[..l.floor_char_boundary_compat(150)]
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl FloorCharBoundary for str {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

/// A drover process started by a test. Dropping it kills drover's group if
/// drover is still running.
pub struct DroverRun {
    pid: i32,
    child: Child,
    reaped: Option<ExitStatus>,
    stdout: Option<Collector>,
    stderr: Collector,
}

/// What a drover run left: its status and output.
#[derive(Debug)]
pub struct Finished {
    /// drover's exit status.
    pub status: ExitStatus,
    /// Everything on drover's stdout.
    pub stdout: Vec<u8>,
    /// Everything on drover's stderr.
    pub stderr: String,
}

impl Finished {
    /// The exit code; panics (showing the output) if drover was killed.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or_else(|| {
            panic!(
                "drover was killed by a signal: {:?}\nstderr:\n{}\nstdout:\n{}",
                self.status,
                self.stderr,
                tail(&self.stdout)
            )
        })
    }

    /// Asserts the exit code, showing the output if it differs.
    pub fn assert_code(&self, want: i32) {
        assert_eq!(
            self.code(),
            want,
            "drover's exit status\nstderr:\n{}\nstdout (end):\n{}",
            self.stderr,
            tail(&self.stdout)
        );
    }

    /// stdout as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Asserts that nothing panicked and no internal error was reported.
    pub fn assert_clean_stderr(&self) {
        assert!(
            !self.stderr.contains("panicked") && !self.text().contains("panicked"),
            "a panic:\n{}",
            self.stderr
        );
        assert!(
            !self.stderr.contains("internal error"),
            "drover reported an internal error:\n{}",
            self.stderr
        );
    }
}

impl DroverRun {
    /// drover's pid (also its process group).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `sig` to drover.
    pub fn signal(&self, sig: libc::c_int) {
        assert!(self.reaped.is_none(), "drover has already exited");
        signal(self.pid, sig);
    }

    /// Waits until a line of drover's stdout contains `needle`.
    pub fn wait_for_output(&self, needle: &str) {
        let stdout = self.stdout.as_ref().expect("stdout is collected");
        stdout.wait_for_line(&format!("{needle:?} on stdout"), |l| {
            contains(l, needle.as_bytes())
        });
    }

    /// Calls `done` with each line of drover's stdout, once, in order, until
    /// it returns true.
    pub fn wait_for_line(&self, what: &str, done: impl FnMut(&[u8]) -> bool) {
        let stdout = self.stdout.as_ref().expect("stdout is collected");
        stdout.wait_for_line(what, done);
    }

    /// drover's stdout so far.
    pub fn stdout_so_far(&self) -> Vec<u8> {
        self.stdout
            .as_ref()
            .expect("stdout is collected")
            .snapshot()
    }

    /// drover's stderr so far.
    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stderr.snapshot()).into_owned()
    }

    /// Waits for drover to exit by itself; panics after WAIT.
    pub fn wait_exit(&mut self) -> ExitStatus {
        if let Some(s) = self.reaped {
            return s;
        }
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(s) = self.child.try_wait().expect("waiting for drover") {
                self.reaped = Some(s);
                return s;
            }
            if Instant::now() >= deadline {
                let out = self
                    .stdout
                    .as_ref()
                    .map(|s| tail(&s.snapshot()))
                    .unwrap_or_default();
                panic!(
                    "drover did not exit within {WAIT:?}\nstderr:\n{}\nstdout (end):\n{out}",
                    self.stderr_so_far()
                );
            }
            thread::sleep(POLL);
        }
    }

    /// Whether drover has exited (without waiting).
    pub fn exited(&mut self) -> bool {
        if self.reaped.is_none() {
            self.reaped = self.child.try_wait().expect("waiting for drover");
        }
        self.reaped.is_some()
    }

    /// Waits for drover to exit and for its output to end.
    pub fn finish(mut self) -> Finished {
        let status = self.wait_exit();
        let stdout = match &self.stdout {
            Some(s) => s.take("drover's stdout"),
            None => Vec::new(),
        };
        let stderr = String::from_utf8_lossy(&self.stderr.take("drover's stderr")).into_owned();
        Finished {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for DroverRun {
    fn drop(&mut self) {
        if self.reaped.is_none() {
            // Not reaped, so the pid (and group id) cannot have been reused.
            // SAFETY: plain syscall.
            unsafe { libc::kill(-self.pid, libc::SIGKILL) };
            let _ = self.child.wait();
        }
        // The recorded children are killed when the TestDir drops, after the
        // test's own checks that they are gone.
    }
}

fn newline(hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == b'\n')
}

/// Whether `hay` contains `needle`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------
// Output checks

/// One output line: the name column (trimmed) and the text after `| `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// `web.1`, or `system`.
    pub name: String,
    /// The text, without newline.
    pub text: Vec<u8>,
}

impl Line {
    /// The text (lossy), for messages and simple comparisons.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }
}

/// Parses output written with [`PLAIN`] flags: every line is
/// `NAME<padding> | TEXT`, with the `|` in the same column on every line, and
/// the output ends with a newline. Panics on anything else (a torn line).
pub fn parse_text(out: &[u8]) -> Vec<Line> {
    if out.is_empty() {
        return Vec::new();
    }
    assert_eq!(
        out.last(),
        Some(&b'\n'),
        "output does not end with a newline"
    );
    let mut lines = Vec::new();
    let mut column = None;
    for (i, raw) in out[..out.len() - 1].split(|&b| b == b'\n').enumerate() {
        let at = find(raw, b" | ").unwrap_or_else(|| {
            panic!(
                "output line {} has no name column: {:?}",
                i + 1,
                String::from_utf8_lossy(&raw[..raw.len().min(200)])
            )
        });
        match column {
            None => column = Some(at),
            Some(c) => assert_eq!(
                c,
                at,
                "output line {} has its `|` in another column: {:?}",
                i + 1,
                String::from_utf8_lossy(&raw[..raw.len().min(200)])
            ),
        }
        let name = std::str::from_utf8(&raw[..at]).expect("names are UTF-8");
        let trimmed = name.trim_end();
        assert!(
            !trimmed.is_empty() && !trimmed.contains(' '),
            "output line {} has a bad name column: {name:?}",
            i + 1
        );
        lines.push(Line {
            name: trimmed.to_string(),
            text: raw[at + 3..].to_vec(),
        });
    }
    lines
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The texts of `name`'s lines, in order.
pub fn lines_of<'a>(lines: &'a [Line], name: &str) -> Vec<&'a [u8]> {
    lines
        .iter()
        .filter(|l| l.name == name)
        .map(|l| l.text.as_slice())
        .collect()
}

/// `texts` as strings (invalid UTF-8 replaced), for comparisons that print
/// well when they fail.
pub fn lossy(texts: &[&[u8]]) -> Vec<String> {
    texts
        .iter()
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect()
}

/// The texts of `system` lines.
pub fn system_lines(lines: &[Line]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.name == "system")
        .map(Line::text)
        .collect()
}

/// 32-bit FNV-1a, as the testchild uses for its pad letter.
fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The testchild's line `seq` for `tag`, `len` bytes with its newline
/// (returned without the newline).
pub fn expected_line(tag: &str, seq: u64, len: usize) -> Vec<u8> {
    let pad = b'a' + (fnv1a32(tag.as_bytes()) % 26) as u8;
    let mut line = format!("{tag} {:08} ", seq % 100_000_000).into_bytes();
    assert!(line.len() < len, "--len {len} too short for tag {tag:?}");
    line.resize(len - 1, pad);
    line
}

/// The numbered lines among `texts` (those starting with `TAG `), checked:
/// they must be exactly lines 1, 2, 3, ... in that order, each intact. Returns
/// how many there were and the other lines, in order.
pub fn numbered<'a>(texts: &[&'a [u8]], tag: &str, len: usize) -> (u64, Vec<&'a [u8]>) {
    let prefix = format!("{tag} ");
    let mut next = 1u64;
    let mut others = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        if !text.starts_with(prefix.as_bytes()) {
            others.push(*text);
            continue;
        }
        let want = expected_line(tag, next, len);
        if *text != want.as_slice() {
            let got_seq =
                String::from_utf8_lossy(&text[prefix.len()..text.len().min(prefix.len() + 8)]);
            panic!(
                "line {i} of {tag:?}: expected line {next}, got (seq {got_seq:?}, {} bytes):\n  {:?}\nexpected:\n  {:?}",
                text.len(),
                String::from_utf8_lossy(&text[..text.len().min(120)]),
                String::from_utf8_lossy(&want[..want.len().min(120)]),
            );
        }
        next += 1;
    }
    (next - 1, others)
}

/// Asserts that `name`'s lines are exactly `count` numbered lines of `tag`
/// (each `len` bytes) plus, in order, the `extras`.
pub fn assert_all_lines(
    lines: &[Line],
    name: &str,
    tag: &str,
    count: u64,
    len: usize,
    extras: &[&str],
) {
    let texts = lines_of(lines, name);
    let (n, others) = numbered(&texts, tag, len);
    assert_eq!(n, count, "{name}: numbered lines that arrived");
    let others: Vec<String> = others
        .iter()
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect();
    assert_eq!(others, extras, "{name}: its other lines");
}
