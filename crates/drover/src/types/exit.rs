//! [`Exit`]: how a process ended, and the shell's way of saying it.

use super::Signal;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// It was killed by this signal number.
    Signal(i32),
}

impl Exit {
    /// The shell convention: the code, or 128 + the signal number.
    pub fn status(self) -> u8 {
        match self {
            Exit::Code(c) => (c & 0xff) as u8,
            Exit::Signal(s) => (128 + s).clamp(0, 255) as u8,
        }
    }

    /// `exited with code 3`, `was killed by SIGTERM`.
    pub fn describe(self) -> String {
        match self {
            Exit::Code(c) => format!("exited with code {c}"),
            Exit::Signal(s) => format!("was killed by {}", signal_name(s)),
        }
    }

    /// `code 3`, `signal SIGTERM`: the last-exit column of `drover ps`.
    pub fn short(self) -> String {
        match self {
            Exit::Code(c) => format!("code {c}"),
            Exit::Signal(s) => format!("signal {}", signal_name(s)),
        }
    }
}

/// The name of signal number `sig`, e.g. `SIGTERM`.
pub fn signal_name(sig: i32) -> String {
    match Signal::from_number(i64::from(sig)) {
        Ok(s) => s.to_string(),
        Err(_) => format!("signal {sig}"),
    }
}
