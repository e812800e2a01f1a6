//! Pseudo-terminals for processes with `tty = true`: opening a pair, the
//! window size they get, and making the slave the child's controlling
//! terminal between fork and exec.
//!
//! Owns no table of terminals (see `terminals`) and decides nothing. The
//! master side is the reader's and the input writer's; it must stay open
//! until the process is gone, since closing it hangs the process up
//! (SIGHUP).

use crate::process::spawn::Command;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::pty::OpenptFlags;
use rustix::termios::Winsize;

/// The window size without a terminal and without `COLUMNS`/`LINES`.
pub const DEFAULT_SIZE: (u16, u16) = (120, 40);

/// A new pseudo-terminal of `size` (columns, rows): (master, slave), both
/// close-on-exec; the master is non-blocking, for the runtime.
pub fn open(size: (u16, u16)) -> io::Result<(OwnedFd, OwnedFd)> {
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
    let master = rustix::pty::openpt(flags)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let slave = match rustix::pty::ioctl_tiocgptpeer(&master, flags) {
        Ok(slave) => slave,
        // Kernels before 4.13: open the slave by its name.
        Err(_) => {
            let name = rustix::pty::ptsname(&master, Vec::new())?;
            rustix::fs::open(
                name.as_c_str(),
                rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )?
        }
    };
    set_size(&master, size)?;
    rustix::fs::fcntl_setfl(&master, rustix::fs::OFlags::NONBLOCK)?;
    Ok((master, slave))
}

/// Sets the window size of the terminal `fd` (either side); the kernel
/// sends SIGWINCH to its foreground process group.
pub fn set_size(fd: impl AsFd, (cols, rows): (u16, u16)) -> io::Result<()> {
    let ws = Winsize {
        ws_col: cols,
        ws_row: rows,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(fd, ws)?;
    Ok(())
}

/// The size a new pty gets: drover's own terminal's (stdout, else stdin),
/// else `COLUMNS` x `LINES`, else [`DEFAULT_SIZE`].
pub fn drover_size() -> (u16, u16) {
    for fd in [rustix::stdio::stdout(), rustix::stdio::stdin()] {
        if let Ok(ws) = rustix::termios::tcgetwinsize(fd) {
            if ws.ws_col > 0 && ws.ws_row > 0 {
                return (ws.ws_col, ws.ws_row);
            }
        }
    }
    size_from_env(
        std::env::var("COLUMNS").ok().as_deref(),
        std::env::var("LINES").ok().as_deref(),
    )
}

/// `COLUMNS` x `LINES` when both are positive numbers, else [`DEFAULT_SIZE`].
fn size_from_env(columns: Option<&str>, lines: Option<&str>) -> (u16, u16) {
    let parse = |v: Option<&str>| v?.trim().parse::<u16>().ok().filter(|n| *n > 0);
    match (parse(columns), parse(lines)) {
        (Some(c), Some(l)) => (c, l),
        _ => DEFAULT_SIZE,
    }
}

/// Makes the child the leader of a new session with its stdin (the pty
/// slave) as controlling terminal. Its process group is then its own (pgid
/// = pid), as for pipes; `process_group(0)` must not be set too, since
/// setsid fails for a process that already leads a group.
pub fn set_controlling_terminal(cmd: &mut Command) {
    // SAFETY: the closure runs between fork and exec and only makes raw
    // syscalls (setsid, ioctl); errors are raw errno values.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid()
                .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))?;
            rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())
                .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))?;
            Ok(())
        });
    }
}

/// Gives the child the slave as stdin, stdout and stderr.
pub fn attach_stdio(cmd: &mut Command, slave: &OwnedFd) -> io::Result<()> {
    cmd.stdin(slave.try_clone()?)
        .stdout(slave.try_clone()?)
        .stderr(slave.try_clone()?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_falls_back_to_columns_and_lines_then_120x40() {
        assert_eq!(size_from_env(Some("100"), Some("30")), (100, 30));
        assert_eq!(size_from_env(Some("100"), None), DEFAULT_SIZE);
        assert_eq!(size_from_env(Some("0"), Some("30")), DEFAULT_SIZE);
        assert_eq!(size_from_env(Some("wide"), Some("30")), DEFAULT_SIZE);
    }

    #[test]
    fn a_new_pty_has_the_size_asked_for() {
        let (master, slave) = open((90, 25)).unwrap();
        let ws = rustix::termios::tcgetwinsize(&slave).unwrap();
        assert_eq!((ws.ws_col, ws.ws_row), (90, 25));
        drop(master);
    }
}
