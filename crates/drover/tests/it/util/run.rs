//! A `drover start` run by a test: [`Launch`] sets it up, [`DroverRun`]
//! is the running drover in its own process group, [`Finished`] what it
//! left. Its stdout (a pipe or a pseudo-terminal) and stderr are read to the
//! end by threads, so drover never blocks on them unless a test hands it a
//! stdout of its own. Every wait is bounded by [`WAIT`] (or a bound the test
//! gives), a hang detector; on drop it SIGKILLs drover's group if drover has
//! not exited, never anything else.

use super::*;

/// Gives `cmd` the folder and environment of `old`, and the standard
/// streams and process group every drover run here has.
fn carry_over(old: &Command, cmd: &mut Command) {
    if let Some(dir) = old.get_current_dir() {
        cmd.current_dir(dir);
    }
    for (k, v) in old.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.stdin(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
}

/// A drover command about to be started.
pub struct Launch {
    cmd: Command,
    pty: bool,
}

impl Launch {
    /// `cmd`, a drover command set up by [`TestDir::drover`].
    pub(super) fn new(cmd: Command) -> Self {
        Self { cmd, pty: false }
    }

    /// Sets an environment variable for drover.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Starts drover through `launcher` (a program and its arguments, to
    /// which drover's own command line is appended), as a shell or a
    /// service manager would: the launcher may set up signal masks,
    /// dispositions, limits or descriptors, then `exec` drover.
    pub fn through(self, launcher: &[&str]) -> Self {
        let old = self.cmd;
        let mut cmd = Command::new(launcher[0]);
        cmd.args(&launcher[1..])
            .arg(old.get_program())
            .args(old.get_args());
        carry_over(&old, &mut cmd);
        Self { cmd, pty: self.pty }
    }

    /// Runs `program` (a copy of drover elsewhere) instead of the drover
    /// built beside the tests, with the same arguments and environment.
    pub fn program(mut self, program: &Path) -> Self {
        let mut cmd = Command::new(program);
        cmd.args(self.cmd.get_args());
        carry_over(&self.cmd, &mut cmd);
        self.cmd = cmd;
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

    /// Starts drover with `stdout` as its stdout (a pipe the test holds,
    /// or nobody reads); stderr is still collected.
    pub fn spawn_with_stdout_to(mut self, stdout: Stdio) -> DroverRun {
        assert!(!self.pty);
        self.cmd.stdout(stdout);
        let child = self.cmd.spawn().expect("starting drover");
        // Our copy of `stdout` was in `cmd`: drop it so that only drover
        // holds it.
        drop(self.cmd);
        DroverRun::collecting_stderr(child)
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
        let source = match pty {
            Some(master) => Source::Pty(master),
            None => Source::Pipe(child.stdout.take().expect("piped")),
        };
        (DroverRun::collecting_stderr(child), source)
    }
}

/// Opens a pseudo-terminal: (master, slave).
pub fn open_pty() -> (File, File) {
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
    /// A just started drover, its stderr collected from now on.
    fn collecting_stderr(mut child: Child) -> Self {
        let stderr = Collector::start(Source::Stderr(child.stderr.take().expect("piped")));
        Self {
            pid: child.id() as i32,
            child,
            reaped: None,
            stdout: None,
            stderr,
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

    /// The end of drover's stdout so far, for failure messages; empty when
    /// the test reads drover's stdout itself.
    pub fn stdout_tail(&self) -> String {
        self.stdout
            .as_ref()
            .map(|s| tail(&s.snapshot()))
            .unwrap_or_default()
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
        self.wait_exit_within(WAIT)
    }

    /// Waits for drover to exit by itself; panics after `bound`, a hang
    /// detector for runs whose own timeouts add up to more than [`WAIT`].
    pub fn wait_exit_within(&mut self, bound: Duration) -> ExitStatus {
        if let Some(s) = self.reaped {
            return s;
        }
        let deadline = Instant::now() + bound;
        loop {
            if let Some(s) = self.child.try_wait().expect("waiting for drover") {
                self.reaped = Some(s);
                return s;
            }
            if Instant::now() >= deadline {
                panic!(
                    "drover did not exit within {bound:?}\nstderr:\n{}\nstdout (end):\n{}",
                    self.stderr_so_far(),
                    self.stdout_tail()
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
    pub fn finish(self) -> Finished {
        self.finish_within(WAIT)
    }

    /// Like [`DroverRun::finish`], waiting up to `bound` for drover to exit.
    pub fn finish_within(mut self, bound: Duration) -> Finished {
        let status = self.wait_exit_within(bound);
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
