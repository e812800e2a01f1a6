//! One child process: spawning it in its own process group, and the readers
//! that carry its stdout and stderr to the output channel.
//!
//! Owns nothing after the spawn: the supervisor keeps the pid, reaps it (see
//! `supervisor`), and tells the readers when to give up on a pipe that an
//! escaped descendant holds open.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};

use rustix::process::{Pid, Signal};
use tokio::io::AsyncReadExt as _;
use tokio::net::unix::pipe;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::ProcessSpec;
use crate::output::format::{LineFormatter, Stream};
use crate::output::framer::LineFramer;
use crate::output::OutputSender;

/// How much one read takes from a pipe (a Linux pipe holds 64 KiB).
const READ_SIZE: usize = 64 * 1024;

/// A started child: its pid (also its process group id) and its output pipes.
#[derive(Debug)]
pub struct Spawned {
    /// The child's pid, which is also the id of its process group.
    pub pid: Pid,
    /// Read end of its stdout.
    pub stdout: pipe::Receiver,
    /// Read end of its stderr.
    pub stderr: pipe::Receiver,
}

/// Starts `spec` as `/bin/sh -c COMMAND` in a new process group, stdin from
/// `/dev/null`, stdout and stderr on separate pipes.
///
/// The shell `exec`s the command when it is a simple one, so the pid is the
/// command's own. The child gets SIGKILL if drover dies without stopping it
/// (`PR_SET_PDEATHSIG`); that signal follows the *thread* that forked, which
/// here is a runtime worker living as long as drover's runtime.
pub fn spawn(spec: &ProcessSpec) -> io::Result<Spawned> {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(shell_script(&spec.command))
        .current_dir(&spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs between fork and exec and only makes raw
    // syscalls (prctl, getppid), which are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            // drover may have died between fork and prctl: then nobody would
            // ever stop this child, so do not start it.
            if rustix::process::getppid() != Some(parent) {
                return Err(io::Error::other("drover exited while starting the process"));
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let pid = Pid::from_raw(child.id() as i32).expect("a spawned child has a positive pid");
    let stdout: OwnedFd = child.stdout.take().expect("stdout was piped").into();
    let stderr: OwnedFd = child.stderr.take().expect("stderr was piped").into();
    // `child` is dropped without waiting: the supervisor reaps every child
    // with waitpid(-1), also the ones re-parented to it.
    Ok(Spawned {
        pid,
        stdout: pipe::Receiver::from_owned_fd(stdout)?,
        stderr: pipe::Receiver::from_owned_fd(stderr)?,
    })
}

/// The script given to `sh -c`: `exec COMMAND` when the command is one
/// simple command, so no shell stays between drover and the process;
/// otherwise the command as written.
pub fn shell_script(command: &str) -> String {
    if is_simple(command) {
        format!("exec {command}")
    } else {
        command.to_string()
    }
}

/// A command that `exec` may prefix without changing its meaning: no lists,
/// pipes, subshells, background jobs or substitutions, and not starting with
/// a keyword, builtin-only word or variable assignment.
fn is_simple(command: &str) -> bool {
    // `$VAR` and `${VAR}` are fine: the shell expands them before exec.
    const SPECIAL: &[char] = &[';', '&', '|', '\n', '(', ')'];
    if command.contains(SPECIAL) {
        return false;
    }
    let Some(first) = command.split_whitespace().next() else {
        return false;
    };
    const KEYWORDS: &[&str] = &[
        "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
        "!", "{", "}", "exec", "cd", "export", "set", "trap", "wait", ".", "source", "eval",
        "exit",
    ];
    !KEYWORDS.contains(&first) && !first.contains('=') && !first.starts_with(['<', '>'])
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
}

/// Reads one stream of a child until end of file, framing it into lines and
/// sending them, formatted, to the output channel in batches.
///
/// `cut` carries the drain deadline: once set, the reader stops at that
/// instant if the pipe is still open (a descendant that left the process
/// group may hold it forever).
pub async fn read_stream(
    mut pipe: pipe::Receiver,
    mut fmt: LineFormatter,
    stream: Stream,
    out: OutputSender,
    mut cut: watch::Receiver<Option<Instant>>,
) -> ReaderEnd {
    let mut buf = vec![0u8; READ_SIZE];
    let mut framer = LineFramer::default();
    let end = loop {
        let deadline = *cut.borrow_and_update();
        // `read` on a pipe is cancel-safe: if the other branch wins, no
        // bytes were taken from the pipe.
        let read = match deadline {
            Some(at) => match tokio::time::timeout_at(at, pipe.read(&mut buf)).await {
                Ok(r) => r,
                Err(_) => break ReaderEnd::Cut,
            },
            None => tokio::select! {
                r = pipe.read(&mut buf) => r,
                changed = cut.changed() => {
                    if changed.is_err() {
                        // The supervisor is gone; keep reading to EOF.
                        let r = pipe.read(&mut buf).await;
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
        fmt.begin_batch();
        let mut batch = Vec::with_capacity(n + n / 4 + 64);
        framer.push(&buf[..n], |line| fmt.format(stream, line, &mut batch));
        if out.send(batch).await.is_err() {
            return ReaderEnd::WriterGone;
        }
    };
    // Whatever ended the stream, the partial last line is delivered.
    let mut batch = Vec::new();
    fmt.begin_batch();
    framer.finish(|line| fmt.format(stream, line, &mut batch));
    if out.send(batch).await.is_err() {
        return ReaderEnd::WriterGone;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_commands_are_execed() {
        assert_eq!(
            shell_script("python app.py --port 5"),
            "exec python app.py --port 5"
        );
        assert_eq!(shell_script("server > log.txt"), "exec server > log.txt");
        assert_eq!(
            shell_script("rails s -p ${PORT}"),
            "exec rails s -p ${PORT}"
        );
    }

    #[test]
    fn compound_commands_are_left_alone() {
        for cmd in [
            "a && b",
            "a; b",
            "a | b",
            "sleep 1 &",
            "echo $(date)",
            "{ a; }",
            "FOO=1 server",
            "trap 'x' TERM",
            "while true; do x; done",
            "(a)",
            "cd web",
        ] {
            assert_eq!(shell_script(cmd), cmd, "{cmd}");
        }
    }
}
