//! The raw process syscalls drover's shell needs: signalling a process or a
//! group, asking whether a group is empty, reaping, and the signal streams.
//!
//! Owns no state and makes no decision: callers say whom to signal. Nothing
//! here is called between fork and exec (see `child` for that).

use std::io;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::types::{Exit, Pid, Signal};

/// Sends `sig` to process group `pgid`.
pub fn kill_group(pgid: Pid, sig: Signal) -> io::Result<()> {
    // SAFETY: kill(2) has no memory-safety preconditions.
    if unsafe { libc::kill(-pgid.get(), sig.number()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sends `sig` to process `pid`.
pub fn kill_pid(pid: Pid, sig: Signal) -> io::Result<()> {
    // SAFETY: kill(2) has no memory-safety preconditions.
    if unsafe { libc::kill(pid.get(), sig.number()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether any process is left in group `pgid` (zombies included).
pub fn group_alive(pgid: Pid) -> bool {
    let Some(raw) = rustix::process::Pid::from_raw(pgid.get()) else {
        return false;
    };
    // EPERM would mean a process we may not signal joined the group; it
    // is alive all the same.
    !matches!(
        rustix::process::test_kill_process_group(raw),
        Err(rustix::io::Errno::SRCH)
    )
}

/// Reaps every child that has ended, without blocking.
pub fn reap_all() -> Vec<(Pid, Exit)> {
    let mut reaped = Vec::new();
    loop {
        match rustix::process::wait(rustix::process::WaitOptions::NOHANG) {
            Ok(Some((pid, status))) => {
                let exit = if let Some(code) = status.exit_status() {
                    Exit::Code(code)
                } else if let Some(sig) = status.terminating_signal() {
                    Exit::Signal(sig)
                } else {
                    // Stopped/continued are not reported without WUNTRACED.
                    continue;
                };
                let pid = Pid::new(pid.as_raw_nonzero().get()).expect("pids are positive");
                reaped.push((pid, exit));
            }
            Ok(None) => break,
            Err(rustix::io::Errno::INTR) => continue,
            // ECHILD: no children left.
            Err(_) => break,
        }
    }
    reaped
}

/// drover's own pid.
pub fn own_pid() -> Pid {
    Pid::new(rustix::process::getpid().as_raw_nonzero().get()).expect("pids are positive")
}

/// The signal streams the supervisor listens to, registered before any
/// child is spawned so that no SIGCHLD or SIGINT is missed.
#[derive(Debug)]
pub struct Signals {
    /// SIGCHLD.
    pub child: tokio::signal::unix::Signal,
    /// SIGINT.
    pub int: tokio::signal::unix::Signal,
    /// SIGTERM.
    pub term: tokio::signal::unix::Signal,
    /// SIGHUP.
    pub hup: tokio::signal::unix::Signal,
    /// SIGTSTP.
    pub tstp: tokio::signal::unix::Signal,
    /// SIGCONT.
    pub cont: tokio::signal::unix::Signal,
    /// The writer found stdout closed.
    pub stdout_closed: mpsc::UnboundedReceiver<()>,
}

impl Signals {
    /// Installs the handlers; `stdout_closed` reports a closed stdout.
    pub fn install(stdout_closed: mpsc::UnboundedReceiver<()>) -> io::Result<Self> {
        Ok(Self {
            child: signal(SignalKind::child())?,
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            tstp: signal(SignalKind::from_raw(libc::SIGTSTP))?,
            cont: signal(SignalKind::from_raw(libc::SIGCONT))?,
            stdout_closed,
        })
    }
}
