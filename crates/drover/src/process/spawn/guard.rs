//! What the clone needs around it: the child's own stack, and every signal
//! blocked on the calling thread while the child shares drover's memory.

use std::io;

/// The child's stack. The steps are a few system calls deep; glibc's
/// posix_spawn uses far less. A guard page below it turns an overflow
/// into a fault instead of corrupting drover's memory.
const STACK_SIZE: usize = 256 * 1024;

/// The child's stack: anonymous memory with a guard page at its low end.
pub(super) struct Stack {
    base: *mut libc::c_void,
}

impl Stack {
    pub(super) fn new() -> io::Result<Self> {
        // SAFETY: a fresh private anonymous mapping, unmapped on drop.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                STACK_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the lowest page of the mapping just made.
        unsafe {
            libc::mprotect(base, page_size(), libc::PROT_NONE);
        }
        Ok(Self { base })
    }

    /// The stack grows down: the child starts at the top.
    pub(super) fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of the mapping, as clone expects.
        unsafe { self.base.cast::<u8>().add(STACK_SIZE).cast() }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`; the child no longer uses it.
        unsafe {
            libc::munmap(self.base, STACK_SIZE);
        }
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).unwrap_or(4096)
}

/// Every signal blocked on this thread until dropped, so that the child
/// (which starts with this thread's mask) runs none of drover's handlers.
pub(super) struct BlockedSignals {
    old: libc::sigset_t,
}

impl BlockedSignals {
    pub(super) fn new() -> Self {
        // SAFETY: sigfillset and pthread_sigmask on local sets.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            Self { old }
        }
    }
}

impl Drop for BlockedSignals {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `new`.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
        }
    }
}
