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

mod args;
mod lines;

use args::*;
use lines::*;

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
