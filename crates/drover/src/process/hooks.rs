//! Hooks: a process's `on_ready`, `on_exit` or `on_failure` command, run
//! with `sh -c` in a group of its own (registered with the keeper, like a
//! readiness command), the event in its environment. Its output (stdout
//! and stderr together) becomes `system` lines that begin with `hook`; it
//! is killed if it still runs after the process's stop timeout.
//!
//! Must not decide when a hook runs: the shell asks.

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _};
use tokio::net::unix::pipe;

use super::child::spawn_error;
use super::launcher::Launcher;
use super::spawn::Stdio;
use super::{keeper, os};
use crate::plan::ProcessSpec;
use crate::types::{Pid, Signal};

/// The longest hook output line passed on; the rest of a longer one is cut.
const MAX_LINE: usize = 16 * 1024;

impl Launcher {
    /// Starts hook `which` (`on_exit`, …) of `spec`: `command` with the
    /// instance's environment and `vars`. Its output is read, and it is
    /// bounded by `spec`'s stop timeout, in a janitor job.
    pub fn spawn_hook(
        &mut self,
        spec: &ProcessSpec,
        which: &str,
        command: &str,
        vars: Vec<(String, String)>,
    ) -> io::Result<Pid> {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let write: OwnedFd = write;
        let write_err = write.try_clone()?;
        let mut cmd = super::launcher::side_command(spec, command);
        cmd.envs(vars)
            .stdout(Stdio::from(write))
            .stderr(Stdio::from(write_err));
        let child = cmd.spawn().map_err(spawn_error)?;
        // drover's copies of the write end go: the reader sees the end once
        // the hook and what it started have closed theirs.
        drop(cmd);
        let pid = Pid::new(child.id() as i32).expect("a spawned child has a positive pid");
        let label = format!("{} {which}", spec.name);
        keeper::add_group(pid.get(), &format!("hook {label}"));
        self.registered.insert(pid);
        let output = pipe::Receiver::from_owned_fd(read)?;
        let timeout: Duration = spec.stop_ladder.iter().map(|s| s.wait).sum();
        // A ladder of SIGKILL alone waits for nothing; a hook gets a second.
        let timeout = if timeout.is_zero() {
            Duration::from_secs(1)
        } else {
            timeout
        };
        janitor::job(format!("hook:{label}")).spawn(async move {
            run(output, pid, &label, timeout).await;
        });
        Ok(pid)
    }
}

/// Passes the hook's lines on until its output ends, or kills its group
/// at `timeout`. A line longer than [`MAX_LINE`] is passed on in pieces.
async fn run(output: pipe::Receiver, pid: Pid, label: &str, timeout: Duration) {
    let mut reader = tokio::io::BufReader::new(output);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut line = Vec::new();
    loop {
        let mut limited = (&mut reader).take(MAX_LINE as u64);
        match tokio::time::timeout_at(deadline, limited.read_until(b'\n', &mut line)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(_)) => {
                say_line(label, &line);
                line.clear();
            }
            Err(_) => {
                tracing::warn!(
                    target: "drover::hook",
                    "hook {label} is still running after {}s: killing it",
                    timeout.as_secs_f64()
                );
                // Not reaped yet (its output is open), so the group is its.
                let _ = os::kill_group(pid, Signal::KILL);
                break;
            }
        }
    }
    if !line.is_empty() {
        say_line(label, &line);
    }
    // Its output ended; what it runs may go on without it (`exec
    // >/dev/null`): the deadline holds for the group all the same. The
    // group exists as long as a member does, so its id is the hook's.
    while os::group_alive(pid) {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                target: "drover::hook",
                "hook {label} is still running after {}s: killing it",
                timeout.as_secs_f64()
            );
            let _ = os::kill_group(pid, Signal::KILL);
            break;
        }
        tokio::time::sleep(GROUP_CHECK).await;
    }
}

/// How often a hook's group is looked at once its output has ended.
const GROUP_CHECK: Duration = Duration::from_millis(50);

fn say_line(label: &str, line: &[u8]) {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = String::from_utf8_lossy(line);
    tracing::info!(target: "drover::hook", "hook {label}: {text}");
}
