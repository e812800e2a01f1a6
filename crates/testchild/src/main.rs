//! `drover-testchild`: a deterministic, misbehaving child process for drover's
//! integration tests and benchmarks.
//!
//! It writes numbered, fixed-length lines in several write patterns, can hold
//! on to or close its pipes, ignore or trap signals, fork grandchildren that
//! keep (or escape) the pipes and process group, and exit or die in chosen
//! ways. Flags compose; see `--help` or [`USAGE`].
//!
//! Line format (checkers can rely on it):
//!
//! ```text
//! TAG SEQ PAD\n
//! ```
//!
//! `SEQ` is the 1-based line number, zero padded to 8 digits (modulo 10^8),
//! and `PAD` is one letter repeated so the whole line, newline included, is
//! exactly `--len` bytes. The letter is `'a' + fnv1a32(TAG) % 26`. With
//! `--checksum` the last 8 bytes before the newline are instead the lowercase
//! hex `fnv1a32` of every byte before them.
//!
//! Deliberately std + libc only with hand-rolled argument parsing, so it starts
//! fast and stays small.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::process;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const USAGE: &str = "\
drover-testchild: deterministic misbehaving child for drover tests

USAGE: drover-testchild [FLAGS]   (flags compose; `--flag=value` also works)

Lines (each `TAG SEQ PAD\\n`, exactly --len bytes; SEQ = 8-digit line number
from 1; PAD = one letter, 'a' + fnv1a32(TAG) % 26, repeated):
  --tag T            line tag (default \"t\")
  --len N            line length incl. newline (default 100; must fit tag+seq)
  --lines N          numbered lines to write (default 0)
  --stderr           write the lines to stderr instead of stdout
  --both             odd SEQ to stdout, even SEQ to stderr
  --write MODE       raw   = 4096-byte write()s, not line aligned
                     block = line-aligned write()s of <= 64 KiB (default)
                     line  = one write() per line
  --checksum         last 8 bytes before the newline = hex fnv1a32 of the rest
  --flood            write lines forever (until killed or EPIPE)

Extra output, on stdout, in this order after the lines:
  --long N           one line of N 'x' bytes plus newline
  --invalid-utf8     the line b\"bad:\\xff\\xfe\\x80end\\n\"
  --marker TEXT      TEXT plus newline
  --no-newline TEXT  TEXT with no newline (partial last line), last of all

Signals (handlers only count; the main loop reports on stdout):
  --ignore-term      ignore SIGTERM, print `ignored SIGTERM` per arrival
  --ignore-int       ignore SIGINT, print `ignored SIGINT` per arrival
  --trap-term TEXT   on SIGTERM/SIGINT (not ignored above) print `TEXT TERM`
                     or `TEXT INT` after pending output and exit 0

Processes and files:
  --fork-sleep SECS     fork a grandchild `sleep SECS` that keeps stdio;
                        prints `grandchild PID`
  --fork-detached SECS  same, but setsid() and stdio on /dev/null first;
                        prints `detached PID`
  --pidfile PATH     write own pid (then grandchild pids, one a line) to PATH
                     atomically, after signal handlers are installed
  --wait-file PATH   before writing, wait until PATH exists (5 ms polls,
                     exit 3 after 60 s)
  --sentinel PATH    create empty PATH once all output is written

Ending:
  --close-stdout     close fds 1 and 2 after writing; implies --stay
  --sleep-ms N       sleep N ms after writing
  --kill-self SIG    then kill itself with SIG (number or name: TERM, KILL,
                     INT, HUP, QUIT, SEGV, ABRT, USR1, ...)
  --stay             then stay alive until a signal ends it
  --exit N           exit status otherwise (default 0)
  -h, --help         this text

Order: handlers, forks, pidfile, wait-file, fork reports, lines, --long,
--invalid-utf8, --marker, --no-newline, close-stdout, sentinel, sleep,
kill-self, stay, exit. A write failing with EPIPE exits 1 quietly.
";

/// Writes of `--write block` are at most this large.
const BLOCK: usize = 64 * 1024;
/// Every write of `--write raw` but possibly the last is exactly this large.
const RAW_CHUNK: usize = 4096;
/// Width of the sequence number.
const SEQ_DIGITS: usize = 8;
/// Width of the `--checksum` field.
const SUM_DIGITS: usize = 8;

// ---------------------------------------------------------------------------
// Line formatting

/// 32-bit FNV-1a.
fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The padding letter of lines tagged `tag`.
fn pad_letter(tag: &[u8]) -> u8 {
    b'a' + (fnv1a32(tag) % 26) as u8
}

/// Shortest allowed line for `tag`: tag, space, seq, space, then at least one
/// pad letter (or the checksum), then the newline.
fn min_len(tag: &[u8], checksum: bool) -> usize {
    tag.len() + 1 + SEQ_DIGITS + 1 + if checksum { SUM_DIGITS } else { 1 } + 1
}

/// Produces successive numbered lines, rewriting only the changing bytes of
/// one reusable buffer.
struct LineGen {
    line: Vec<u8>,
    seq_at: usize,
    checksum: bool,
}

impl LineGen {
    fn new(tag: &[u8], len: usize, checksum: bool) -> LineGen {
        assert!(len >= min_len(tag, checksum));
        let mut line = Vec::with_capacity(len);
        line.extend_from_slice(tag);
        line.push(b' ');
        let seq_at = line.len();
        line.extend_from_slice(&[b'0'; SEQ_DIGITS]);
        line.push(b' ');
        line.resize(len - 1, pad_letter(tag));
        line.push(b'\n');
        LineGen {
            line,
            seq_at,
            checksum,
        }
    }

    /// The line numbered `seq` (taken modulo 10^8).
    fn line(&mut self, seq: u64) -> &[u8] {
        let mut n = seq % 100_000_000;
        for d in self.line[self.seq_at..self.seq_at + SEQ_DIGITS]
            .iter_mut()
            .rev()
        {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
        if self.checksum {
            let end = self.line.len() - 1;
            let at = end - SUM_DIGITS;
            let sum = fnv1a32(&self.line[..at]);
            put_hex(&mut self.line[at..end], sum);
        }
        &self.line
    }
}

fn put_hex(out: &mut [u8], v: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, d) in out.iter_mut().enumerate() {
        *d = HEX[((v >> (28 - 4 * i)) & 0xf) as usize];
    }
}

// ---------------------------------------------------------------------------
// Raw fd output

fn write_fd(fd: libc::c_int, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: buf is a valid, initialised slice for the duration of the call.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// Exits for a write error in the data phase: quietly (status 1) on EPIPE.
fn die_write(e: io::Error) -> ! {
    if e.raw_os_error() != Some(libc::EPIPE) {
        let _ = write_fd(2, format!("drover-testchild: write: {e}\n").as_bytes());
    }
    process::exit(1)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Raw,
    Block,
    Line,
}

/// Buffered output to one fd in one of the `--write` patterns.
struct Writer {
    fd: libc::c_int,
    mode: Mode,
    buf: Vec<u8>,
    closed: bool,
}

impl Writer {
    fn new(fd: libc::c_int, mode: Mode) -> Writer {
        let cap = if mode == Mode::Line { 0 } else { BLOCK };
        Writer {
            fd,
            mode,
            buf: Vec::with_capacity(cap),
            closed: false,
        }
    }

    fn push(&mut self, data: &[u8]) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        match self.mode {
            Mode::Line => write_fd(self.fd, data),
            Mode::Block => {
                if self.buf.len() + data.len() > BLOCK {
                    self.flush()?;
                }
                if data.len() > BLOCK {
                    write_fd(self.fd, data)
                } else {
                    self.buf.extend_from_slice(data);
                    Ok(())
                }
            }
            Mode::Raw => {
                self.buf.extend_from_slice(data);
                if self.buf.len() >= BLOCK {
                    let full = self.buf.len() / RAW_CHUNK * RAW_CHUNK;
                    let r = self.buf[..full]
                        .chunks(RAW_CHUNK)
                        .try_for_each(|c| write_fd(self.fd, c));
                    self.buf.copy_within(full.., 0);
                    self.buf.truncate(self.buf.len() - full);
                    r?;
                }
                Ok(())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = match self.mode {
            Mode::Raw => self
                .buf
                .chunks(RAW_CHUNK)
                .try_for_each(|c| write_fd(self.fd, c)),
            _ => write_fd(self.fd, &self.buf),
        };
        self.buf.clear();
        if self.closed {
            return Ok(());
        }
        r
    }

    fn close(&mut self) {
        self.buf.clear();
        self.closed = true;
        // SAFETY: closing a plain fd number; nothing else owns it.
        unsafe { libc::close(self.fd) };
    }
}

// ---------------------------------------------------------------------------
// Signals

static PENDING: AtomicBool = AtomicBool::new(false);
static TERM_COUNT: AtomicUsize = AtomicUsize::new(0);
static INT_COUNT: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    if sig == libc::SIGTERM {
        TERM_COUNT.fetch_add(1, Ordering::SeqCst);
    } else if sig == libc::SIGINT {
        INT_COUNT.fetch_add(1, Ordering::SeqCst);
    }
    PENDING.store(true, Ordering::SeqCst);
}

fn set_handler(sig: libc::c_int, handler: libc::sighandler_t) {
    // SAFETY: a zeroed sigaction is valid; the handler only touches atomics.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        sa.sa_flags = 0; // no SA_RESTART: let sleeps and pause wake up
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

fn parse_signal(s: &str) -> Option<libc::c_int> {
    if let Ok(n) = s.parse::<libc::c_int>() {
        return (n > 0).then_some(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    Some(match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "SYS" => libc::SIGSYS,
        "WINCH" => libc::SIGWINCH,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// Options

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Stdout,
    Stderr,
    Both,
}

#[derive(Debug)]
struct Opts {
    tag: Vec<u8>,
    len: usize,
    lines: u64,
    target: Target,
    mode: Mode,
    marker: Option<Vec<u8>>,
    no_newline: Option<Vec<u8>>,
    long: Option<usize>,
    invalid_utf8: bool,
    ignore_term: bool,
    ignore_int: bool,
    trap_term: Option<Vec<u8>>,
    fork_sleep: Option<OsString>,
    fork_detached: Option<OsString>,
    pidfile: Option<PathBuf>,
    sentinel: Option<PathBuf>,
    wait_file: Option<PathBuf>,
    stay: bool,
    sleep_ms: u64,
    exit: i32,
    kill_self: Option<libc::c_int>,
    close_stdout: bool,
    flood: bool,
    checksum: bool,
}

fn usage_error(msg: &str) -> ! {
    let _ = write_fd(
        2,
        format!("drover-testchild: {msg}\ntry `drover-testchild --help`\n").as_bytes(),
    );
    process::exit(2)
}

fn number<T: std::str::FromStr>(flag: &str, v: &OsStr) -> T {
    v.to_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| usage_error(&format!("{flag}: bad number {v:?}")))
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Opts {
    let mut o = Opts {
        tag: b"t".to_vec(),
        len: 100,
        lines: 0,
        target: Target::Stdout,
        mode: Mode::Block,
        marker: None,
        no_newline: None,
        long: None,
        invalid_utf8: false,
        ignore_term: false,
        ignore_int: false,
        trap_term: None,
        fork_sleep: None,
        fork_detached: None,
        pidfile: None,
        sentinel: None,
        wait_file: None,
        stay: false,
        sleep_ms: 0,
        exit: 0,
        kill_self: None,
        close_stdout: false,
        flood: false,
        checksum: false,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let bytes = arg.as_bytes();
        // `--flag=value` or `--flag value`.
        let (flag, mut inline) = match bytes.iter().position(|&b| b == b'=') {
            Some(i) if bytes.starts_with(b"--") => (
                String::from_utf8_lossy(&bytes[..i]).into_owned(),
                Some(OsStr::from_bytes(&bytes[i + 1..]).to_os_string()),
            ),
            _ => (String::from_utf8_lossy(bytes).into_owned(), None),
        };
        let mut value = || -> OsString {
            inline
                .take()
                .or_else(|| args.next())
                .unwrap_or_else(|| usage_error(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "-h" | "--help" => {
                let _ = write_fd(1, USAGE.as_bytes());
                process::exit(0)
            }
            "--tag" => o.tag = value().into_vec(),
            "--len" => o.len = number(&flag, &value()),
            "--lines" => o.lines = number(&flag, &value()),
            "--stderr" => o.target = Target::Stderr,
            "--both" => o.target = Target::Both,
            "--write" => {
                o.mode = match value().to_str() {
                    Some("raw") => Mode::Raw,
                    Some("block") => Mode::Block,
                    Some("line") => Mode::Line,
                    _ => usage_error("--write takes raw, block or line"),
                }
            }
            "--marker" => o.marker = Some(value().into_vec()),
            "--no-newline" => o.no_newline = Some(value().into_vec()),
            "--long" => o.long = Some(number(&flag, &value())),
            "--invalid-utf8" => o.invalid_utf8 = true,
            "--ignore-term" => o.ignore_term = true,
            "--ignore-int" => o.ignore_int = true,
            "--trap-term" => o.trap_term = Some(value().into_vec()),
            "--fork-sleep" => o.fork_sleep = Some(value()),
            "--fork-detached" => o.fork_detached = Some(value()),
            "--pidfile" => o.pidfile = Some(value().into()),
            "--sentinel" => o.sentinel = Some(value().into()),
            "--wait-file" => o.wait_file = Some(value().into()),
            "--stay" => o.stay = true,
            "--sleep-ms" => o.sleep_ms = number(&flag, &value()),
            "--exit" => o.exit = number(&flag, &value()),
            "--kill-self" => {
                let v = value();
                o.kill_self = Some(
                    v.to_str()
                        .and_then(parse_signal)
                        .unwrap_or_else(|| usage_error(&format!("--kill-self: bad signal {v:?}"))),
                );
            }
            "--close-stdout" => o.close_stdout = true,
            "--flood" => o.flood = true,
            "--checksum" => o.checksum = true,
            _ => usage_error(&format!("unknown flag {arg:?}")),
        }
        if inline.is_some() {
            usage_error(&format!("{flag} takes no value"));
        }
    }
    let min = min_len(&o.tag, o.checksum);
    if o.len < min {
        usage_error(&format!("--len {} too short, at least {min} needed", o.len));
    }
    o
}

// ---------------------------------------------------------------------------
// The child

struct Child {
    o: Opts,
    out: Writer,
    err: Writer,
    seen_term: usize,
    seen_int: usize,
}

/// Exits with status 1 on a data-phase write error.
fn ok(r: io::Result<()>) {
    if let Err(e) = r {
        die_write(e)
    }
}

impl Child {
    /// Reports signals that arrived since the last call: `ignored SIG...`, or
    /// the `--trap-term` last words and exit 0. Report writes never fail the
    /// child.
    fn poll_signals(&mut self) {
        PENDING.store(false, Ordering::SeqCst);
        for (name, count, seen, ignore) in [
            ("TERM", &TERM_COUNT, &mut self.seen_term, self.o.ignore_term),
            ("INT", &INT_COUNT, &mut self.seen_int, self.o.ignore_int),
        ] {
            let now = count.load(Ordering::SeqCst);
            while *seen < now {
                *seen += 1;
                if ignore {
                    let _ = self.out.push(format!("ignored SIG{name}\n").as_bytes());
                    let _ = self.out.flush();
                } else if let Some(text) = &self.o.trap_term {
                    let mut msg = text.clone();
                    msg.push(b' ');
                    msg.extend_from_slice(name.as_bytes());
                    msg.push(b'\n');
                    let _ = self.err.flush();
                    let _ = self.out.push(&msg);
                    let _ = self.out.flush();
                    process::exit(0);
                }
            }
        }
    }

    fn check_signals(&mut self) {
        if PENDING.load(Ordering::Relaxed) {
            self.poll_signals();
        }
    }

    fn write_lines(&mut self) {
        let mut gen = LineGen::new(&self.o.tag, self.o.len, self.o.checksum);
        let end = if self.o.flood { u64::MAX } else { self.o.lines };
        let mut seq = 1;
        while seq <= end {
            let line = gen.line(seq);
            let w = match self.o.target {
                Target::Stdout => &mut self.out,
                Target::Stderr => &mut self.err,
                Target::Both if seq % 2 == 1 => &mut self.out,
                Target::Both => &mut self.err,
            };
            ok(w.push(line));
            self.check_signals();
            seq += 1;
        }
        ok(self.out.flush());
        ok(self.err.flush());
    }

    /// Sleeps `d`, reporting signals as they arrive.
    fn sleep(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        loop {
            self.poll_signals();
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            let left = deadline - now;
            let ts = libc::timespec {
                tv_sec: left.as_secs() as libc::time_t,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            };
            // SAFETY: valid timespec; interruption is handled by looping.
            unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
        }
    }

    fn wait_file(&mut self, path: &PathBuf) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !path.exists() {
            if Instant::now() >= deadline {
                let _ = write_fd(
                    2,
                    format!("drover-testchild: gave up waiting for {path:?}\n").as_bytes(),
                );
                process::exit(3);
            }
            self.sleep(Duration::from_millis(5));
        }
    }

    /// Stays alive, reporting signals, until one ends the process.
    fn stay(&mut self) -> ! {
        // SAFETY: plain signal-mask manipulation on this single thread.
        unsafe {
            let mut block: libc::sigset_t = std::mem::zeroed();
            let mut orig: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut block);
            libc::sigaddset(&mut block, libc::SIGTERM);
            libc::sigaddset(&mut block, libc::SIGINT);
            libc::sigprocmask(libc::SIG_BLOCK, &block, &mut orig);
            libc::sigdelset(&mut orig, libc::SIGTERM);
            libc::sigdelset(&mut orig, libc::SIGINT);
            loop {
                // Signals are blocked here, so none slips in between the
                // check and the wait.
                self.poll_signals();
                libc::sigsuspend(&orig);
            }
        }
    }

    fn kill_self(&mut self, sig: libc::c_int) {
        let ours = (sig == libc::SIGTERM && (self.o.ignore_term || self.o.trap_term.is_some()))
            || (sig == libc::SIGINT && (self.o.ignore_int || self.o.trap_term.is_some()));
        if !ours && sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // The runtime ignores SIGPIPE and hooks SIGSEGV/SIGBUS; the
            // default action is what is wanted here.
            set_handler(sig, libc::SIG_DFL);
        }
        // SAFETY: plain syscalls on our own process.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::kill(libc::getpid(), sig);
        }
        self.poll_signals();
    }
}

/// Closes every fd from `first` up; async-signal-safe.
fn close_from(first: libc::c_int) {
    // SAFETY: plain syscalls on fd numbers.
    unsafe {
        #[cfg(target_os = "linux")]
        if libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            0,
        ) == 0
        {
            return;
        }
        let max = match libc::sysconf(libc::_SC_OPEN_MAX) {
            n if n > 0 => n.min(65536) as libc::c_int,
            _ => 1024,
        };
        for fd in first..max {
            libc::close(fd);
        }
    }
}

/// Forks `sleep SECS`; `detached` puts it in a new session with stdio on
/// /dev/null first. Returns the grandchild's pid.
fn fork_sleep(secs: &OsStr, detached: bool) -> libc::pid_t {
    let prog = CString::new("sleep").unwrap();
    let arg = CString::new(secs.as_bytes())
        .unwrap_or_else(|_| usage_error("sleep duration contains NUL"));
    let argv = [prog.as_ptr(), arg.as_ptr(), std::ptr::null()];
    let devnull = CString::new("/dev/null").unwrap();
    // SAFETY: single-threaded; the child only makes async-signal-safe calls
    // on data prepared before the fork, then execs or _exits.
    unsafe {
        let pid = libc::fork();
        if pid < 0 {
            let _ = write_fd(2, b"drover-testchild: fork failed\n");
            process::exit(1);
        }
        if pid == 0 {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            if detached {
                libc::setsid();
                let fd = libc::open(devnull.as_ptr(), libc::O_RDWR);
                if fd >= 0 {
                    libc::dup2(fd, 0);
                    libc::dup2(fd, 1);
                    libc::dup2(fd, 2);
                }
                // Hold no other inherited descriptor (e.g. a pipe) either.
                close_from(3);
            }
            libc::execvp(prog.as_ptr(), argv.as_ptr());
            libc::_exit(127);
        }
        pid
    }
}

fn write_pidfile(path: &PathBuf, pids: &[libc::pid_t]) {
    let text: String = pids.iter().map(|p| format!("{p}\n")).collect();
    let mut tmp = path.clone().into_os_string();
    tmp.push(format!(".tmp.{}", process::id()));
    let r = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = r {
        let _ = write_fd(
            2,
            format!("drover-testchild: pidfile {path:?}: {e}\n").as_bytes(),
        );
        process::exit(1);
    }
}

fn main() {
    let o = parse_args(std::env::args_os().skip(1));

    // Handlers first, so a test that waits for the pidfile can signal safely.
    if o.ignore_term || o.trap_term.is_some() {
        set_handler(
            libc::SIGTERM,
            on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    if o.ignore_int || o.trap_term.is_some() {
        set_handler(
            libc::SIGINT,
            on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }

    let mut reports = Vec::new();
    let mut pids = vec![process::id() as libc::pid_t];
    if let Some(secs) = &o.fork_sleep {
        let pid = fork_sleep(secs, false);
        reports.extend_from_slice(format!("grandchild {pid}\n").as_bytes());
        pids.push(pid);
    }
    if let Some(secs) = &o.fork_detached {
        let pid = fork_sleep(secs, true);
        reports.extend_from_slice(format!("detached {pid}\n").as_bytes());
        pids.push(pid);
    }
    if let Some(path) = &o.pidfile {
        write_pidfile(path, &pids);
    }

    let mut c = Child {
        out: Writer::new(1, o.mode),
        err: Writer::new(2, o.mode),
        o,
        seen_term: 0,
        seen_int: 0,
    };

    if let Some(path) = c.o.wait_file.clone() {
        c.wait_file(&path);
    }
    if !reports.is_empty() {
        ok(c.out.push(&reports));
        ok(c.out.flush());
    }

    c.write_lines();
    if let Some(n) = c.o.long {
        let mut line = vec![b'x'; n + 1];
        line[n] = b'\n';
        ok(c.out.push(&line));
    }
    if c.o.invalid_utf8 {
        ok(c.out.push(b"bad:\xff\xfe\x80end\n"));
    }
    if let Some(m) = c.o.marker.take() {
        let mut line = m;
        line.push(b'\n');
        ok(c.out.push(&line));
    }
    if let Some(t) = c.o.no_newline.take() {
        ok(c.out.push(&t));
    }
    ok(c.out.flush());
    c.check_signals();

    if c.o.close_stdout {
        c.out.close();
        c.err.close();
    }
    if let Some(path) = &c.o.sentinel {
        if let Err(e) = std::fs::File::create(path) {
            let _ = c
                .err
                .push(format!("drover-testchild: sentinel {path:?}: {e}\n").as_bytes());
            let _ = c.err.flush();
            process::exit(1);
        }
    }
    if c.o.sleep_ms > 0 {
        c.sleep(Duration::from_millis(c.o.sleep_ms));
    }
    if let Some(sig) = c.o.kill_self {
        c.kill_self(sig);
    }
    if c.o.stay || c.o.close_stdout {
        c.stay();
    }
    c.poll_signals();
    process::exit(c.o.exit);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(tag: &str, seq: u64, len: usize, checksum: bool) -> Vec<u8> {
        LineGen::new(tag.as_bytes(), len, checksum)
            .line(seq)
            .to_vec()
    }

    fn checksum_ok(l: &[u8]) -> bool {
        let at = l.len() - 1 - SUM_DIGITS;
        let mut want = [0u8; SUM_DIGITS];
        put_hex(&mut want, fnv1a32(&l[..at]));
        l[at..l.len() - 1] == want
    }

    #[test]
    fn exact_length_and_layout() {
        for len in [min_len(b"web", false), 50, 100, 4097] {
            let l = line("web", 42, len, false);
            assert_eq!(l.len(), len);
            assert!(l.starts_with(b"web 00000042 "));
            assert_eq!(l.last(), Some(&b'\n'));
            let pad = &l[13..len - 1];
            assert!(!pad.is_empty());
            assert!(pad.iter().all(|&b| b == pad_letter(b"web")));
        }
    }

    #[test]
    fn default_line() {
        let l = line("t", 1, 100, false);
        let mut want = b"t 00000001 ".to_vec();
        want.resize(99, pad_letter(b"t"));
        want.push(b'\n');
        assert_eq!(l, want);
    }

    #[test]
    fn letter_comes_from_tag() {
        assert_eq!(pad_letter(b"t"), b'a' + (fnv1a32(b"t") % 26) as u8);
        assert!(pad_letter(b"anything").is_ascii_lowercase());
        assert_ne!(pad_letter(b"a"), pad_letter(b"b"));
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
    }

    #[test]
    fn seq_updates_in_place_and_wraps() {
        let mut g = LineGen::new(b"x", 30, false);
        assert!(g.line(7).starts_with(b"x 00000007 "));
        assert!(g.line(12345678).starts_with(b"x 12345678 "));
        assert!(g.line(100_000_001).starts_with(b"x 00000001 "));
    }

    #[test]
    fn checksum_lines() {
        for len in [min_len(b"db", true), 64, 100] {
            let l = line("db", 9, len, true);
            assert_eq!(l.len(), len);
            assert!(l.starts_with(b"db 00000009 "));
            assert!(checksum_ok(&l));
            let mut bad = l.clone();
            bad[5] ^= 1;
            assert!(!checksum_ok(&bad));
        }
        assert_eq!(min_len(b"db", true), 2 + 1 + 8 + 1 + 8 + 1);
    }

    #[test]
    fn minimum_length() {
        // "t 00000001 a\n"
        assert_eq!(min_len(b"t", false), 13);
        assert_eq!(line("t", 1, 13, false).len(), 13);
    }

    #[test]
    fn parses_flags() {
        let o = parse_args(
            [
                "--tag=web",
                "--len",
                "40",
                "--both",
                "--write",
                "raw",
                "--kill-self",
                "SIGSEGV",
            ]
            .map(OsString::from),
        );
        assert_eq!(o.tag, b"web");
        assert_eq!(o.len, 40);
        assert_eq!(o.target, Target::Both);
        assert_eq!(o.mode, Mode::Raw);
        assert_eq!(o.kill_self, Some(libc::SIGSEGV));
        assert_eq!(parse_signal("9"), Some(9));
        assert_eq!(parse_signal("term"), Some(libc::SIGTERM));
        assert_eq!(parse_signal("NOPE"), None);
    }
}
