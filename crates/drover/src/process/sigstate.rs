//! The signal state drover starts with and hands to its children.
//!
//! A launcher may leave signals blocked (a blocked SIGCHLD would keep drover
//! from ever reaping) or ignored (`sh -c 'drover start &'` ignores SIGQUIT
//! and SIGINT, and an ignored signal stays ignored across `exec`). drover
//! clears its own mask before any thread starts, as tini does, and gives
//! every child an empty mask and the default action for every signal, so a
//! process whose stop signal is QUIT stops on QUIT.
//!
//! Signals that would end drover without its ordered stop are either
//! handled (see the shell's signal streams) or ignored here: SIGALRM,
//! SIGVTALRM, SIGPROF, SIGXFSZ, SIGIO and SIGSTKFLT mean nothing to drover.
//! Program-error signals (SEGV, BUS, FPE, ILL, TRAP, SYS, ABRT) keep their
//! default action: the keeper then stops the app.

use std::io;

/// What drover was launched with, as far as it matters after the reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Inherited {
    /// SIGHUP was ignored (`nohup drover start`): drover keeps ignoring
    /// it instead of stopping when the terminal goes away.
    pub hup_ignored: bool,
    /// Signals that were blocked, as a count (for the debug log).
    pub blocked: u32,
}

/// Signals drover ignores: each would otherwise end it abruptly.
const IGNORED: &[i32] = &[
    libc::SIGALRM,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGXFSZ,
    libc::SIGIO,
    libc::SIGSTKFLT,
];

/// Clears the signal mask and ignores [`IGNORED`]. Call before any thread
/// exists: threads inherit the mask of the thread that creates them.
pub fn reset_at_start() -> Inherited {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it, and the
    // calls below only read and write the process's own signal state.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigemptyset(&mut old);
        libc::pthread_sigmask(libc::SIG_SETMASK, &empty, &mut old);
        let blocked = (1..=64)
            .filter(|s| libc::sigismember(&old, *s) == 1)
            .count() as u32;
        let mut hup: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGHUP, std::ptr::null(), &mut hup);
        for sig in IGNORED {
            libc::signal(*sig, libc::SIG_IGN);
        }
        Inherited {
            hup_ignored: hup.sa_sigaction == libc::SIG_IGN,
            blocked,
        }
    }
}

/// Between fork and exec: an empty signal mask and the default action for
/// every signal. Only async-signal-safe calls; an error is the raw errno.
pub fn child_defaults() -> io::Result<()> {
    // SAFETY: sigemptyset, sigprocmask and the raw rt_sigaction are
    // async-signal-safe and touch only this (single-threaded, forked)
    // process's state.
    unsafe {
        // The raw system call: the C library refuses to touch the signals
        // it reserves for itself (32 and 33), which a launcher may still
        // have left ignored. A zeroed kernel sigaction is SIG_DFL with no
        // flags and an empty mask on every architecture.
        let dfl = [0u64; 4];
        for sig in 1..=64 {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                dfl.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            );
        }
        // Unblocked only now: the child starts with every signal blocked
        // and shares drover's memory (see `spawn`), so none of drover's
        // handlers may run in it.
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
