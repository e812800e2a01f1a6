//! [`Pid`]: a process id as a plain value. Holding one grants nothing: the
//! policy names processes with it, and only `process::os` turns it into a
//! signal or a wait.

use std::fmt;

/// A process (or process group) id, always positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(i32);

impl Pid {
    /// The pid `raw`, if it is positive.
    pub fn new(raw: i32) -> Option<Self> {
        (raw > 0).then_some(Self(raw))
    }

    /// The number.
    pub fn get(self) -> i32 {
        self.0
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
