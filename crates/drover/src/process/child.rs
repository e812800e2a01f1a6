//! One child process: spawning it in its own process group, and the readers
//! that carry its stdout and stderr to the output channel.
//!
//! Owns nothing after the spawn: the supervisor's shell keeps the pid, reaps
//! it, and tells the readers when to give up on a pipe that an escaped
//! descendant holds open. Knows nothing of the supervisor: `launcher` wires
//! a spawn to its readers and probes.
//!
//! Between the clone and exec (the `pre_exec` closures, see
//! [`crate::process::spawn`]) only raw syscalls run and errors are raw errno
//! values: no allocation, no formatting. The parent maps a distinctive errno
//! to its message ([`spawn`]).

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::process::{Pid, Signal};
use tokio::io::AsyncReadExt as _;
use tokio::net::unix::pipe;
use tokio::sync::watch;
use tokio::time::Instant;

use std::sync::Arc;

use regex_lite::Regex;

use super::framing::Framer;
use crate::output::format::{LineFormatter, Stream};
use crate::output::logs::LogHub;
use crate::output::{OutputSender, SendError};
use crate::plan::ProcessSpec;
use crate::process::command;
use crate::process::spawn::{Command, Stdio};

/// How much one read takes from a pipe (a Linux pipe holds 64 KiB).
const READ_SIZE: usize = 64 * 1024;

/// Input formatted at a time; bounds what one slice can grow to.
const FORMAT_SLICE: usize = 16 * 1024;

/// A formatted batch this large is sent before the rest of the read.
const BATCH_SEND: usize = 256 * 1024;

/// A started child: its pid (also its process group id) and its output.
#[derive(Debug)]
pub struct Spawned {
    /// The child's pid, which is also the id of its process group.
    pub pid: Pid,
    /// Where its output is read.
    pub output: Outputs,
}

/// The read ends of a child's output.
#[derive(Debug)]
pub enum Outputs {
    /// Two pipes.
    Pipes {
        /// Read end of its stdout.
        stdout: pipe::Receiver,
        /// Read end of its stderr.
        stderr: pipe::Receiver,
    },
    /// One pseudo-terminal.
    Tty {
        /// The master side, read for its output.
        master: pipe::Receiver,
        /// The master side again, for its input and window size; it keeps
        /// the terminal open until the process is gone.
        input: OwnedFd,
    },
}

/// Starts `spec` in a new process group, stdin from `/dev/null`, stdout and
/// stderr on separate pipes, the way [`command::invocation`] says: its words
/// executed directly, or `/bin/sh -c` (with `exec` in front of one simple
/// command, so the pid is the program's own); or, with `tty`, in a new
/// session (its own group too) on a new pseudo-terminal of `size` (columns,
/// rows) as stdin, stdout, stderr and controlling terminal.
///
/// The child starts with an empty signal mask, the default action for every
/// signal and the open-file limit drover was launched with. It gets SIGKILL
/// if drover dies without stopping it (`PR_SET_PDEATHSIG`); that signal
/// follows the *thread* that forked, which here is a runtime worker living
/// as long as drover's runtime. What it forks itself is the keeper's.
pub fn spawn(
    spec: &ProcessSpec,
    notify_socket: Option<&Path>,
    cgroup: Option<&crate::process::cgroup::Cgroup>,
    size: (u16, u16),
    sockets: &[(String, OwnedFd)],
) -> io::Result<Spawned> {
    let argv = command::invocation(&spec.command).argv();
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    cmd.current_dir(&spec.cwd)
        // drover's own NOTIFY_SOCKET (from systemd) is drover's, not theirs.
        .env_remove("NOTIFY_SOCKET")
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .envs(spec.terminal_env(|k| std::env::var_os(k).is_some()));
    let pty = if spec.tty {
        let (master, slave) = crate::process::pty::open(size)?;
        crate::process::pty::attach_stdio(&mut cmd, &slave)?;
        // setsid also makes its own process group.
        crate::process::pty::set_controlling_terminal(&mut cmd);
        Some(master)
    } else {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        None
    };
    if let Some(path) = notify_socket {
        cmd.env("NOTIFY_SOCKET", path);
    }
    if let Some(id) = crate::process::keeper::run_id() {
        cmd.env(crate::process::keeper::RUN_ID_VAR, id);
    }
    if let Some(cg) = cgroup {
        let procs = cg.procs_path().clone();
        // SAFETY: join_from_child only makes async-signal-safe calls.
        unsafe {
            cmd.pre_exec(move || crate::process::cgroup::join_from_child(&procs));
        }
    }
    if !sockets.is_empty() {
        pass_sockets(&mut cmd, sockets);
    }
    set_death_signal(&mut cmd);
    reset_signals_and_limits(&mut cmd);
    let mut child = cmd.spawn().map_err(spawn_error)?;
    // The slave's copies in `cmd` go now: the master sees the end of the
    // output once the child and its descendants have closed theirs.
    drop(cmd);
    let pid = Pid::from_raw(child.id() as i32).expect("a spawned child has a positive pid");
    // `child` is dropped without waiting: the supervisor reaps every child
    // with waitpid(-1), also the ones re-parented to it.
    let output = match pty {
        Some(master) => Outputs::Tty {
            input: master.try_clone()?,
            // A terminal is no pipe; the runtime reads it all the same.
            master: pipe::Receiver::from_owned_fd_unchecked(master)?,
        },
        None => {
            let stdout: OwnedFd = child.stdout.take().expect("stdout was piped");
            let stderr: OwnedFd = child.stderr.take().expect("stderr was piped");
            Outputs::Pipes {
                stdout: pipe::Receiver::from_owned_fd(stdout)?,
                stderr: pipe::Receiver::from_owned_fd(stderr)?,
            }
        }
    };
    Ok(Spawned { pid, output })
}

/// Hands `sockets` to the child as descriptors 3, 4, ... with
/// `LISTEN_FDS`, `LISTEN_FDNAMES` and `LISTEN_PID` (systemd's socket
/// activation).
fn pass_sockets(cmd: &mut Command, sockets: &[(String, OwnedFd)]) {
    use std::os::fd::AsRawFd as _;
    let names: Vec<&str> = sockets.iter().map(|(n, _)| n.as_str()).collect();
    cmd.env("LISTEN_FDS", sockets.len().to_string())
        .env("LISTEN_FDNAMES", names.join(":"))
        .listen_pid();
    let mut fds = [-1; crate::plan::MAX_SOCKETS];
    for (slot, (_, fd)) in fds.iter_mut().zip(sockets) {
        *slot = fd.as_raw_fd();
    }
    let n = sockets.len().min(fds.len());
    // SAFETY: only fcntl and dup2, which are async-signal-safe; errors are
    // raw errno values; the array is the closure's own.
    unsafe {
        cmd.pre_exec(move || {
            let first = 3;
            // First above every target, so that no dup2 below overwrites a
            // socket still to be placed; these copies close at exec.
            let mut high = [-1; crate::plan::MAX_SOCKETS];
            for i in 0..n {
                high[i] = libc::fcntl(fds[i], libc::F_DUPFD_CLOEXEC, first + n as i32);
                if high[i] < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            for (i, fd) in high.iter().enumerate().take(n) {
                // dup2 onto another number clears close-on-exec there.
                if libc::dup2(*fd, first + i as i32) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// The errno the child reports when drover died between fork and prctl.
/// ESRCH ("no such process") cannot come from exec itself.
const DROVER_GONE: i32 = libc::ESRCH;

/// The error of a failed spawn, with the message of drover's own errno.
pub fn spawn_error(e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(DROVER_GONE) {
        io::Error::other("drover exited while starting the process")
    } else {
        e
    }
}

/// Gives the child an empty signal mask, default signal actions and the
/// open-file limit drover was launched with.
pub fn reset_signals_and_limits(cmd: &mut Command) {
    // SAFETY: both only make async-signal-safe calls and return raw errno.
    unsafe {
        cmd.pre_exec(|| {
            crate::process::limits::restore_for_child();
            crate::process::sigstate::child_defaults()
        });
    }
}

/// Makes the child get SIGKILL when drover dies without stopping it.
///
/// With a keeper, the signal is SIGSTOP, not SIGKILL: a child that died at
/// once would leave what it forked (a setsid'ed daemon, say) re-parented to
/// init before the keeper could follow the parent links to it. Frozen, the
/// whole tree waits for the keeper, which kills it.
pub fn set_death_signal(cmd: &mut Command) {
    let parent = rustix::process::getpid();
    let death = if crate::process::keeper::pid().is_some() {
        Signal::STOP
    } else {
        Signal::KILL
    };
    // SAFETY: the closure runs between fork and exec and only makes raw
    // syscalls (prctl, getppid), which are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(death))
                .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))?;
            // drover may have died between fork and prctl: then nobody would
            // ever stop this child, so do not start it.
            if rustix::process::getppid() != Some(parent) {
                // A raw errno: nothing may allocate between fork and exec.
                // The parent maps it to its message (see `spawn_error`).
                return Err(io::Error::from_raw_os_error(DROVER_GONE));
            }
            Ok(())
        });
    }
}

/// Why a reader ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderEnd {
    /// The pipe reached end of file: every writer closed it.
    Eof,
    /// The drain deadline passed with the pipe still open: some process
    /// outside the child's group holds it. What was read was delivered.
    Cut,
    /// The output writer is gone; nothing more can be delivered.
    WriterGone,
    /// drover's stdout accepted nothing for a while after the process was
    /// gone; the rest of its output was dropped (and counted).
    Stuck,
}

/// A readiness pattern and what to call on the first line matching it.
pub struct ReadyPattern {
    pattern: Regex,
    on_ready: Box<dyn FnOnce() + Send>,
    /// A line matched; the callback runs once the batch holding that line
    /// is sent, so drover's "is ready" comes after the line.
    matched: bool,
}

impl ReadyPattern {
    /// `on_ready` is called once, after the first line matching `pattern`
    /// has been handed to the output.
    pub fn new(pattern: Regex, on_ready: Box<dyn FnOnce() + Send>) -> Self {
        Self {
            pattern,
            on_ready,
            matched: false,
        }
    }
}

/// What one reader needs besides its pipe.
pub struct ReaderCtx {
    /// Formats this process's lines.
    pub fmt: LineFormatter,
    /// Which stream it reads.
    pub stream: Stream,
    /// Where formatted lines go.
    pub out: OutputSender,
    /// The drain deadline: once set, the reader stops at that instant if the
    /// pipe is still open (a descendant that left the group may hold it).
    pub cut: watch::Receiver<Option<Instant>>,
    /// Where raw output is kept for `drover logs`, and this instance's index.
    pub hub: Option<(Arc<LogHub>, usize)>,
    /// A readiness pattern and what to call on the first matching line.
    pub ready: Option<ReadyPattern>,
}

/// Reads one stream of a child until end of file, framing it into lines and
/// sending them, formatted, to the output channel in batches.
pub async fn read_stream(mut pipe: pipe::Receiver, ctx: ReaderCtx) -> ReaderEnd {
    let ReaderCtx {
        mut fmt,
        stream,
        out,
        mut cut,
        hub,
        mut ready,
    } = ctx;
    // Read into spare capacity: no page of the buffer is touched (or
    // counted in drover's memory) until data arrives.
    let mut buf: Vec<u8> = Vec::with_capacity(READ_SIZE);
    let mut framer = Framer::for_stream(stream, fmt.colors());
    // Past the drain deadline, the pipe is read with plain non-blocking
    // reads until it is empty: readiness may lag behind on a loaded machine,
    // and bytes already in the pipe (or its end of file) must not be taken
    // for a pipe that someone holds open.
    let mut past_deadline = false;
    let end = loop {
        let deadline = *cut.borrow_and_update();
        // A terminal's partial line (a prompt) is printed once it has been
        // quiet a while: wait for that too. Cancel-safe as the reads are.
        if let Some(tick) = framer.tick_at().filter(|_| !past_deadline) {
            let wake = deadline.map_or(tick, |d| d.min(tick));
            let woke = tokio::select! {
                _ = pipe.readable() => false,
                () = tokio::time::sleep_until(wake) => true,
            };
            if woke && Instant::now() >= tick {
                let mut batch = Vec::new();
                fmt.begin_batch();
                framer.tick(Instant::now(), &fmt, &mut batch, &mut ready);
                match out.send_or_give_up(batch, &cut).await {
                    Ok(()) => {
                        fire_ready(&mut ready);
                        continue;
                    }
                    Err(SendError::WriterGone) => return ReaderEnd::WriterGone,
                    Err(SendError::Stuck) => break ReaderEnd::Stuck,
                }
            }
        }
        // `read` on a pipe is cancel-safe: if the other branch wins, no
        // bytes were taken from the pipe.
        let read = match deadline {
            _ if past_deadline => {
                match rustix::io::read(&pipe, rustix::buffer::spare_capacity(&mut buf)) {
                    Ok(n) => Ok(n),
                    // Empty, and a writer still has it open: give up on it.
                    Err(rustix::io::Errno::AGAIN) => break ReaderEnd::Cut,
                    Err(e) => Err(io::Error::from(e)),
                }
            }
            Some(at) => match tokio::time::timeout_at(at, pipe.read_buf(&mut buf)).await {
                Ok(r) => r,
                Err(_) => {
                    past_deadline = true;
                    continue;
                }
            },
            None => tokio::select! {
                r = pipe.read_buf(&mut buf) => r,
                changed = cut.changed() => {
                    if changed.is_err() {
                        // The supervisor is gone; keep reading to EOF.
                        let r = pipe.read_buf(&mut buf).await;
                        r
                    } else {
                        continue;
                    }
                }
            },
        };
        let n = match read {
            Ok(0) => break ReaderEnd::Eof,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A read error on a pipe means it is unusable; treat as closed.
            Err(_) => break ReaderEnd::Eof,
        };
        // A pty hands its reader about 4 KiB a read: take what else is
        // there now, so that one batch carries more.
        let n = if stream == Stream::Tty {
            top_up(&pipe, &mut buf, n)
        } else {
            n
        };
        if let Some((hub, index)) = &hub {
            hub.record(*index, stream, &buf[..n]);
        }
        let delivered = deliver(&buf[..n], &mut framer, &mut fmt, &mut ready, &out, &cut).await;
        // Formatted: the read buffer is free for the next read.
        buf.clear();
        match delivered {
            Ok(()) => fire_ready(&mut ready),
            Err(ReaderEnd::WriterGone) => return ReaderEnd::WriterGone,
            Err(end) => break end,
        }
    };
    // Whatever ended the stream, the partial last line is delivered.
    let mut batch = Vec::new();
    fmt.begin_batch();
    framer.finish(&fmt, &mut batch, &mut ready);
    let sent = out.send_or_give_up(batch, &cut).await;
    fire_ready(&mut ready);
    match sent {
        Ok(()) => end,
        Err(SendError::WriterGone) => ReaderEnd::WriterGone,
        Err(SendError::Stuck) => ReaderEnd::Stuck,
    }
}

/// Frames and formats `data` (one read) and sends it: formatting can
/// multiply the size (a read of empty lines becomes 20 bytes a line in
/// text, 90 in JSON), so it is formatted in slices and a batch goes out
/// whenever it passes [`BATCH_SEND`], and what waits for budget stays small.
/// The error is how the stream ends when the output cannot take it.
async fn deliver(
    data: &[u8],
    framer: &mut Framer,
    fmt: &mut LineFormatter,
    ready: &mut Option<ReadyPattern>,
    out: &OutputSender,
    cut: &watch::Receiver<Option<Instant>>,
) -> Result<(), ReaderEnd> {
    let n = data.len();
    fmt.begin_batch();
    let mut batch = out.buffer(n + n / 4 + 64);
    let now = Instant::now();
    for slice in data.chunks(FORMAT_SLICE) {
        framer.push(slice, now, fmt, &mut batch, ready);
        if batch.len() >= BATCH_SEND {
            let full = std::mem::replace(&mut batch, out.buffer(n + n / 4 + 64));
            send(out, full, cut).await?;
        }
    }
    send(out, batch, cut).await
}

/// Sends one batch; the stream's end when the output cannot take it.
async fn send(
    out: &OutputSender,
    batch: Vec<u8>,
    cut: &watch::Receiver<Option<Instant>>,
) -> Result<(), ReaderEnd> {
    match out.send_or_give_up(batch, cut).await {
        Ok(()) => Ok(()),
        Err(SendError::WriterGone) => Err(ReaderEnd::WriterGone),
        Err(SendError::Stuck) => Err(ReaderEnd::Stuck),
    }
}

/// After a read of `n` bytes into `buf`, reads on without waiting while
/// more is there and the buffer has room; returns the bytes in `buf`.
fn top_up(pipe: &pipe::Receiver, buf: &mut Vec<u8>, mut n: usize) -> usize {
    while buf.capacity() - buf.len() >= 4096 {
        match rustix::io::read(pipe, rustix::buffer::spare_capacity(&mut *buf)) {
            Ok(0) | Err(_) => break,
            Ok(more) => n += more,
        }
    }
    n
}

/// Notes the first line matching the readiness pattern; [`fire_ready`]
/// calls the callback once that line is sent.
pub(crate) fn check_ready(ready: &mut Option<ReadyPattern>, line: &[u8]) {
    if let Some(p) = ready {
        if !p.matched && p.pattern.is_match(&String::from_utf8_lossy(line)) {
            p.matched = true;
        }
    }
}

/// Calls the readiness callback if its line matched and has been sent.
fn fire_ready(ready: &mut Option<ReadyPattern>) {
    if ready.as_ref().is_some_and(|p| p.matched) {
        let p = ready.take().expect("checked above");
        (p.on_ready)();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::format::{OutputMode, Style};

    fn ctx(out: OutputSender, cut: watch::Receiver<Option<Instant>>) -> ReaderCtx {
        let style = Arc::new(Style {
            mode: OutputMode::Text,
            color: false,
            timestamps: false,
            name_width: 1,
        });
        ReaderCtx {
            fmt: LineFormatter::new(style, "a", 0),
            stream: Stream::Stdout,
            out,
            cut,
            hub: None,
            ready: None,
        }
    }

    /// Bytes already in the pipe when the drain deadline has passed are
    /// delivered, and its end of file is seen, even if readiness lags.
    #[tokio::test]
    async fn a_passed_deadline_still_drains_what_is_in_the_pipe() {
        let (r, w) = rustix::pipe::pipe().unwrap();
        rustix::io::write(&w, b"one\ntwo\nthree").unwrap();
        drop(w);
        let pipe = pipe::Receiver::from_owned_fd(r).unwrap();
        let (out, mut rx) = crate::output::channel(1 << 20);
        let (_tx, cut) = watch::channel(Some(Instant::now() - std::time::Duration::from_secs(1)));
        let end = read_stream(pipe, ctx(out, cut)).await;
        assert_eq!(end, ReaderEnd::Eof);
        let mut got = Vec::new();
        while let Ok(c) = rx.try_recv() {
            got.extend_from_slice(&c.bytes);
        }
        assert_eq!(got, b"a | one\na | two\na | three\n");
    }

    /// A pipe that a writer still holds open, and that is empty, is cut at
    /// the deadline.
    #[tokio::test]
    async fn an_empty_pipe_held_open_is_cut_at_the_deadline() {
        let (r, w) = rustix::pipe::pipe().unwrap();
        rustix::io::write(&w, b"last\n").unwrap();
        let pipe = pipe::Receiver::from_owned_fd(r).unwrap();
        let (out, mut rx) = crate::output::channel(1 << 20);
        let (_tx, cut) = watch::channel(Some(Instant::now()));
        assert_eq!(read_stream(pipe, ctx(out, cut)).await, ReaderEnd::Cut);
        assert_eq!(rx.try_recv().unwrap().bytes, b"a | last\n");
        drop(w);
    }
}
