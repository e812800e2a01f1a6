//! The open-file limit: drover holds about three descriptors per process
//! (two pipes and a notify or probe socket), so the usual soft limit of
//! 1,024 stops it near 300 processes. It raises its soft limit to the hard
//! one at start and gives each child the soft limit it was launched with,
//! since some programs (select(2) users) break with more.

use std::sync::atomic::{AtomicU64, Ordering};

/// The soft limit drover was launched with; `u64::MAX` until raised.
static ORIGINAL_SOFT: AtomicU64 = AtomicU64::new(u64::MAX);

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the new soft
/// limit, or `None` when it could not be read or changed.
pub fn raise_nofile() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur >= lim.rlim_max {
            return Some(lim.rlim_cur);
        }
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
            return None;
        }
    }
    ORIGINAL_SOFT.store(lim.rlim_cur, Ordering::Relaxed);
    Some(lim.rlim_max)
}

/// Between fork and exec: puts back the soft limit drover was launched
/// with. Async-signal-safe (an atomic load and setrlimit).
pub fn restore_for_child() {
    let soft = ORIGINAL_SOFT.load(Ordering::Relaxed);
    if soft == u64::MAX {
        return;
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: as above; failure leaves the raised limit, which is harmless.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = soft.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Marks every descriptor above 2 that drover was launched with
/// close-on-exec, so none leaks into the processes it starts (drover's own
/// are close-on-exec already). Call before any thread exists.
pub fn close_on_exec_inherited() {
    for fd in open_fds_above_stdio() {
        // SAFETY: fcntl on a descriptor number; a stale one (the listing's
        // own, now closed) fails with EBADF, which is ignored.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
}

/// This process's open descriptors above 2, from `/proc/self/fd` (the
/// listing's own descriptor among them, closed by the time it returns).
pub fn open_fds_above_stdio() -> Vec<i32> {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .filter(|fd| *fd > 2)
                .collect()
        })
        .unwrap_or_default()
}
