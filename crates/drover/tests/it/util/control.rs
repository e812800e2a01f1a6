//! Helpers for the tests that drive a running `drover start` through its
//! control socket: the real client commands (`drover ps`, `stop`, …) run as
//! processes, raw requests over a `UnixStream`, and a `drover logs -f`
//! follower whose output is collected by a thread.
//!
//! Builds on the rest of `util` (the temp folder, the drover under test).
//! Every wait is
//! bounded by [`WAIT`], a hang detector, never a speed assertion; nothing here
//! sleeps to order events. Pids learned from `drover ps` are appended to
//! `learned.pid` in the test folder, so the folder's guard kills them too if
//! a test fails half-way.

use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::*;

/// How often waits that run a client process poll (each poll is a process).
const CLIENT_POLL: Duration = Duration::from_millis(20);

/// A Procfile line for two instances (with [`INSTANCES2`] as drover.toml)
/// of a child that says `bye TERM` when asked to stop.
pub const WEB2: &str = "web: $T --trap-term bye --stay --pidfile $PS.pid\n";
/// drover.toml giving `web` two instances.
pub const INSTANCES2: &str = "[processes.web]\ninstances = 2\n";

/// What a client command did.
#[derive(Debug)]
pub struct CliOut {
    /// Its exit code.
    pub code: i32,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl CliOut {
    /// Asserts exit 0 and an empty stderr; returns stdout.
    pub fn ok(&self) -> &str {
        assert!(
            self.code == 0 && self.stderr.is_empty(),
            "client failed: code {}\nstderr: {}\nstdout: {}",
            self.code,
            self.stderr,
            self.stdout
        );
        &self.stdout
    }

    /// Asserts exit 1 with `needle` on stderr.
    pub fn refused(&self, needle: &str) {
        assert_eq!(
            self.code, 1,
            "client exit code\nstderr: {}\nstdout: {}",
            self.stderr, self.stdout
        );
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
    }
}

/// `drover ARGS` (a client command) run in `cwd`, without DROVER_SOCKET
/// unless `env` sets it; waits for it, bounded.
pub fn client_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> CliOut {
    let mut cmd = Command::new(DROVER);
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("DROVER_SOCKET")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_bounded(cmd, &format!("drover {}", args.join(" ")))
}

/// `drover ARGS` run in the test folder.
pub fn client(dir: &TestDir, args: &[&str]) -> CliOut {
    client_in(dir.path(), args, &[])
}

/// Runs `cmd` to its end; SIGKILLs it and panics if it takes longer than WAIT.
pub fn run_bounded(mut cmd: Command, what: &str) -> CliOut {
    let child = cmd.spawn().expect("starting a client");
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(WAIT) {
        Ok(out) => {
            let out = out.expect("waiting for a client");
            CliOut {
                code: out.status.code().unwrap_or_else(|| {
                    panic!("{what} was killed: {:?}", out.status);
                }),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
        Err(_) => {
            // Not reaped yet, so the pid is still this client's.
            signal(pid, libc::SIGKILL);
            panic!("{what} did not end within {WAIT:?}");
        }
    }
}

/// The default socket of a drover started in `dir`.
pub fn sock(dir: &TestDir) -> PathBuf {
    dir.join(".drover.sock")
}

// ---------------------------------------------------------------------------
// Raw requests

/// Connects to `path`; reads are bounded by WAIT.
pub fn connect(path: &Path) -> UnixStream {
    let s = UnixStream::connect(path)
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", path.display()));
    s.set_read_timeout(Some(WAIT)).expect("setting a timeout");
    s
}

/// Sends `bytes` on a fresh connection (from a thread, so a huge request
/// cannot block the test while drover answers), optionally closing our
/// writing side after them, then reads every answer line until drover
/// closes the connection.
pub fn raw(path: &Path, bytes: &[u8], close_write: bool) -> Vec<Value> {
    let stream = connect(path);
    let mut writer = stream.try_clone().expect("cloning a socket");
    let bytes = bytes.to_vec();
    let sender = thread::spawn(move || {
        // drover may answer and hang up before reading everything (a huge
        // line): a broken pipe here is expected.
        let _ = writer.write_all(&bytes);
        if close_write {
            let _ = writer.shutdown(std::net::Shutdown::Write);
        }
    });
    let answers = read_answers(stream);
    sender.join().expect("the sender thread");
    answers
}

/// Every JSON line until end of stream; panics on a read timeout.
pub fn read_answers(stream: UnixStream) -> Vec<Value> {
    let mut out = Vec::new();
    for line in BufReader::new(stream).lines() {
        let line = match line {
            Ok(l) => l,
            // drover closed with our unread request bytes still queued.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading drover's answer: {e}"),
        };
        out.push(
            serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("drover answered with bad JSON ({e}): {line:?}")),
        );
    }
    out
}

/// Sends one request line and returns the single answer.
pub fn request(path: &Path, json: &str) -> Value {
    let answers = raw(path, format!("{json}\n").as_bytes(), false);
    assert_eq!(answers.len(), 1, "one answer to {json}: {answers:#?}");
    answers.into_iter().next().expect("one answer")
}

/// Asserts that `answer` is a version-1 error containing `needle`.
pub fn assert_error(answer: &Value, needle: &str) {
    assert_eq!(answer["v"], 1, "{answer}");
    assert_eq!(answer["ok"], false, "{answer}");
    let error = answer["error"].as_str().unwrap_or_else(|| {
        panic!("an error answer without an error text: {answer}");
    });
    assert!(error.contains(needle), "error {error:?} lacks {needle:?}");
}

/// Waits until drover's socket in `dir` answers a `ps` request; panics (with
/// drover's output) if drover exits first. Works whether drover's stdout is
/// collected or read by the test.
pub fn wait_for_control(dir: &TestDir, run: &mut DroverRun) {
    wait_for_control_at(&sock(dir), run);
}

/// Like [`wait_for_control`], for the socket at `path`.
pub fn wait_for_control_at(path: &Path, run: &mut DroverRun) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(mut s) = UnixStream::connect(path) {
            s.set_read_timeout(Some(WAIT)).expect("setting a timeout");
            let mut answer = String::new();
            if s.write_all(b"{\"v\":1,\"cmd\":\"ps\"}\n").is_ok()
                && s.read_to_string(&mut answer).is_ok()
                && answer.contains("\"ok\":true")
            {
                return;
            }
        }
        if run.exited() {
            panic!(
                "drover exited before its socket answered\nstderr:\n{}\nstdout:\n{}",
                run.stderr_so_far(),
                run.stdout_tail()
            );
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {WAIT:?} waiting for {} to answer ps",
            path.display()
        );
        thread::sleep(POLL);
    }
}

// ---------------------------------------------------------------------------
// drover ps --json

/// `drover ps --json` in `dir`: the rows. Pids are recorded for cleanup.
pub fn ps(dir: &TestDir) -> Vec<Value> {
    let out = client(dir, &["ps", "--json"]);
    let rows: Vec<Value> = serde_json::from_str(out.ok())
        .unwrap_or_else(|e| panic!("ps --json is not a JSON array ({e}):\n{}", out.stdout));
    let pids: Vec<i32> = rows
        .iter()
        .filter_map(|r| r["pid"].as_i64())
        .map(|p| p as i32)
        .collect();
    learn(dir, &pids);
    rows
}

/// The row of `name`.
pub fn row<'a>(rows: &'a [Value], name: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row for {name}: {rows:#?}"))
}

/// The pid `ps` shows for `name` (it must be running).
pub fn pid_of(rows: &[Value], name: &str) -> i32 {
    let r = row(rows, name);
    r["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("{name} has no pid: {r}")) as i32
}

/// Polls `drover ps --json` until `done` holds for the rows; returns them.
pub fn wait_for_ps(
    dir: &TestDir,
    what: &str,
    mut done: impl FnMut(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let rows = ps(dir);
        if done(&rows) {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {WAIT:?} waiting for {what}; ps shows:\n{rows:#?}"
        );
        thread::sleep(CLIENT_POLL);
    }
}

/// The pid in pid file `name` once it holds one different from `old`.
pub fn new_pid(dir: &TestDir, name: &str, old: Option<i32>) -> i32 {
    let path = dir.join(name);
    let mut pid = None;
    wait_until(&format!("a new pid in {name} (old: {old:?})"), || {
        pid = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<i32>().ok()))
            .filter(|p| Some(*p) != old);
        pid.is_some()
    });
    pid.expect("the wait found a pid")
}

// ---------------------------------------------------------------------------
// drover logs -f

#[derive(Default)]
struct Lines {
    lines: Vec<String>,
    eof: bool,
}

/// A `drover logs ARGS` client running in the background, its stdout lines
/// collected. Killed on drop if still running.
pub struct Follower {
    child: Child,
    reaped: bool,
    shared: Arc<(Mutex<Lines>, Condvar)>,
}

impl Follower {
    /// Starts `drover logs ARGS` in `dir`.
    pub fn start(dir: &TestDir, args: &[&str]) -> Self {
        Self::command(dir, "logs", args)
    }

    /// Starts `drover COMMAND ARGS` (a command that prints lines until
    /// drover exits: `logs -f`, `events`) in `dir`.
    pub fn command(dir: &TestDir, command: &str, args: &[&str]) -> Self {
        let mut child = Command::new(DROVER)
            .arg(command)
            .args(args)
            .current_dir(dir.path())
            .env_remove("DROVER_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting drover logs");
        let stdout = child.stdout.take().expect("piped");
        let shared = Arc::new((Mutex::new(Lines::default()), Condvar::new()));
        let s = Arc::clone(&shared);
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let (lock, cv) = &*s;
                lock.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .lines
                    .push(line);
                cv.notify_all();
            }
            let (lock, cv) = &*s;
            lock.lock().unwrap_or_else(|e| e.into_inner()).eof = true;
            cv.notify_all();
        });
        Self {
            child,
            reaped: false,
            shared,
        }
    }

    /// Waits until some line contains `needle`.
    pub fn wait_for(&self, needle: &str) {
        self.wait_for_after("", needle);
    }

    /// Waits until a line containing `needle` comes after one containing
    /// `first` (any line, for an empty `first`).
    pub fn wait_for_after(&self, first: &str, needle: &str) {
        let deadline = Instant::now() + WAIT;
        let (lock, cv) = &*self.shared;
        let mut l = lock.lock().unwrap_or_else(|e| e.into_inner());
        let found = |lines: &[String]| {
            let from = if first.is_empty() {
                Some(0)
            } else {
                lines.iter().position(|x| x.contains(first)).map(|i| i + 1)
            };
            from.is_some_and(|i| lines[i..].iter().any(|x| x.contains(needle)))
        };
        while !found(&l.lines) {
            let now = Instant::now();
            assert!(
                !l.eof && now < deadline,
                "drover logs: no line with {needle:?} (ended: {}); got:\n{}",
                l.eof,
                l.lines.join("\n")
            );
            l = cv
                .wait_timeout(l, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Whether some line so far contains `needle`.
    pub fn saw(&self, needle: &str) -> bool {
        let (lock, _) = &*self.shared;
        let l = lock.lock().unwrap_or_else(|e| e.into_inner());
        l.lines.iter().any(|x| x.contains(needle))
    }

    /// The client's exit code if it has exited (it stays reapable by
    /// [`Follower::finish`]).
    pub fn exited(&mut self) -> Option<i32> {
        let status = self.child.try_wait().expect("waiting for drover logs")?;
        Some(status.code().expect("drover logs exited normally"))
    }

    /// Kills the client (a follower hanging up).
    pub fn hang_up(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
    }

    /// Waits for the client to exit by itself; returns its code and lines.
    pub fn finish(mut self) -> (i32, Vec<String>) {
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("waiting for drover logs") {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "drover logs -f did not end within {WAIT:?}"
            );
            thread::sleep(POLL);
        };
        self.reaped = true;
        let (lock, cv) = &*self.shared;
        let mut l = lock.lock().unwrap_or_else(|e| e.into_inner());
        while !l.eof {
            let now = Instant::now();
            assert!(now < deadline, "drover logs: stdout did not end");
            l = cv
                .wait_timeout(l, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        (
            status.code().expect("drover logs exited normally"),
            std::mem::take(&mut l.lines),
        )
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Splits a `drover logs` line, `HH:MM:SS NAME | TEXT`, into name and text;
/// checks the time's shape.
pub fn log_line(line: &str) -> (&str, &str) {
    let (left, text) = line
        .split_once(" | ")
        .unwrap_or_else(|| panic!("a logs line without ` | `: {line:?}"));
    let (time, name) = left
        .split_once(' ')
        .unwrap_or_else(|| panic!("a logs line without a time: {line:?}"));
    assert!(
        time.len() == 8 && time.as_bytes()[2] == b':' && time.as_bytes()[5] == b':',
        "a logs line whose time is not HH:MM:SS: {line:?}"
    );
    (name.trim(), text)
}
