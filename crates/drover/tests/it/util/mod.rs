//! What drover's integration tests share. They run the real `drover`
//! binary on real, misbehaving children (`drover-testchild`).
//!
//! - here: [`TestDir`], a temporary folder per test, with a Procfile written
//!   from a template (`$T` is the testchild, `$D` the folder). When dropped
//!   it SIGKILLs every process named in one of its `*.pid` files (testchild
//!   `--pidfile`s, pids a test learned) that still runs there, so a failing
//!   test leaves nothing running.
//! - [`run`]: [`DroverRun`], a running `drover start` in its own process
//!   group, its output collected by threads. On drop it SIGKILLs drover's
//!   group if drover has not exited.
//! - [`lines`]: [`parse_text`], [`numbered`]: check that every line arrived
//!   intact and in order per process, with no line torn or repeated.
//! - [`control`]: the control socket and the client commands.
//! - [`procs`]: pids, and what `/proc` says about them.
//!
//! Every wait is bounded by [`WAIT`], a hang detector, never a speed
//! assertion. Nothing here sleeps to order events: tests wait for files or
//! output to appear, polling with a bound. The test modules take all of it
//! with `use crate::util::*`.

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

mod control;
mod lines;
mod procs;
mod run;

pub use control::*;
pub use lines::*;
pub use procs::*;
pub use run::*;

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
            .env_remove("NOTIFY_SOCKET")
            // PORT in the environment sets the base port, as in foreman.
            .env_remove("PORT")
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0);
        Launch::new(cmd)
    }

    /// Waits until `name` exists in the folder.
    pub fn wait_for_file(&self, name: &str) -> PathBuf {
        let path = self.join(name);
        wait_until(&format!("{} to exist", path.display()), || path.exists());
        path
    }

    /// The pids in pid file `name` (testchild `--pidfile`: its own pid, then
    /// its grandchildren's), once it holds one.
    pub fn pids(&self, name: &str) -> Vec<i32> {
        let path = self.join(name);
        let mut pids = Vec::new();
        // A shell's `echo $! > name` creates the file before it writes the
        // pid, so the file alone may still be empty.
        wait_until(&format!("a pid in {}", path.display()), || {
            pids = read_pids(&path);
            !pids.is_empty()
        });
        pids
    }
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
