//! [`Signal`]: one type for a Unix signal, with the one table of names that
//! drover.toml, the command line, the control protocol, the reports and the
//! exports all read and write.

use std::fmt;
use std::str::FromStr;

/// A Unix signal number (1 to 64), named where it has a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal(i32);

/// The names drover knows, without `SIG`, by number (Linux numbering).
const TABLE: &[(i32, &str)] = &[
    (libc::SIGHUP, "HUP"),
    (libc::SIGINT, "INT"),
    (libc::SIGQUIT, "QUIT"),
    (libc::SIGILL, "ILL"),
    (libc::SIGTRAP, "TRAP"),
    (libc::SIGABRT, "ABRT"),
    (libc::SIGBUS, "BUS"),
    (libc::SIGFPE, "FPE"),
    (libc::SIGKILL, "KILL"),
    (libc::SIGUSR1, "USR1"),
    (libc::SIGSEGV, "SEGV"),
    (libc::SIGUSR2, "USR2"),
    (libc::SIGPIPE, "PIPE"),
    (libc::SIGALRM, "ALRM"),
    (libc::SIGTERM, "TERM"),
    (libc::SIGCHLD, "CHLD"),
    (libc::SIGCONT, "CONT"),
    (libc::SIGSTOP, "STOP"),
    (libc::SIGTSTP, "TSTP"),
    (libc::SIGTTIN, "TTIN"),
    (libc::SIGTTOU, "TTOU"),
    (libc::SIGURG, "URG"),
    (libc::SIGXCPU, "XCPU"),
    (libc::SIGXFSZ, "XFSZ"),
    (libc::SIGVTALRM, "VTALRM"),
    (libc::SIGPROF, "PROF"),
    (libc::SIGWINCH, "WINCH"),
    (libc::SIGIO, "IO"),
    (libc::SIGPWR, "PWR"),
    (libc::SIGSYS, "SYS"),
];

/// A signal name or number that is not a signal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    /// A name not in the table.
    #[error("{0:?} is not a signal drover knows (use TERM, INT, QUIT, HUP, USR1, USR2, KILL, another name or a number)")]
    UnknownName(String),
    /// A number outside 1 to 64.
    #[error("{0} is not a signal number (1 to 64)")]
    OutOfRange(i64),
}

impl Signal {
    /// SIGHUP.
    pub const HUP: Signal = Signal(libc::SIGHUP);
    /// SIGINT.
    pub const INT: Signal = Signal(libc::SIGINT);
    /// SIGQUIT.
    pub const QUIT: Signal = Signal(libc::SIGQUIT);
    /// SIGKILL.
    pub const KILL: Signal = Signal(libc::SIGKILL);
    /// SIGUSR1.
    pub const USR1: Signal = Signal(libc::SIGUSR1);
    /// SIGUSR2.
    pub const USR2: Signal = Signal(libc::SIGUSR2);
    /// SIGTERM.
    pub const TERM: Signal = Signal(libc::SIGTERM);
    /// SIGCONT.
    pub const CONT: Signal = Signal(libc::SIGCONT);
    /// SIGSTOP.
    pub const STOP: Signal = Signal(libc::SIGSTOP);
    /// SIGTSTP.
    pub const TSTP: Signal = Signal(libc::SIGTSTP);
    /// SIGWINCH.
    pub const WINCH: Signal = Signal(libc::SIGWINCH);

    /// The signal with number `n`, if `n` is one (1 to 64).
    pub fn from_number(n: i64) -> Result<Self, SignalError> {
        if (1..=64).contains(&n) {
            Ok(Signal(n as i32))
        } else {
            Err(SignalError::OutOfRange(n))
        }
    }

    /// The signal's number.
    pub fn number(self) -> i32 {
        self.0
    }

    /// Its name without `SIG` (`TERM`), when it has one.
    pub fn name(self) -> Option<&'static str> {
        TABLE.iter().find(|(n, _)| *n == self.0).map(|(_, s)| *s)
    }
}

impl FromStr for Signal {
    type Err = SignalError;

    /// `TERM`, `SIGTERM`, `term` or `15`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Ok(n) = text.parse::<i64>() {
            return Signal::from_number(n);
        }
        let upper = text.to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        TABLE
            .iter()
            .find(|(_, name)| *name == bare)
            .map(|(n, _)| Signal(*n))
            .ok_or_else(|| SignalError::UnknownName(text.to_string()))
    }
}

impl fmt::Display for Signal {
    /// `SIGTERM`, or `signal 40` for a number without a name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "SIG{name}"),
            None => write!(f, "signal {}", self.0),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Signal {
    /// A name (`"TERM"`, `"SIGTERM"`) or a number (`15`).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Signal;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a signal name such as \"TERM\" or a number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Signal, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Signal, E> {
                Signal::from_number(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Signal, E> {
                Signal::from_number(i64::try_from(v).unwrap_or(i64::MAX)).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl serde::Serialize for Signal {
    /// Its name without `SIG`, or its number.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.name() {
            Some(name) => s.serialize_str(name),
            None => s.serialize_i32(self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_prefixes_parse_to_one_signal() {
        assert_eq!("TERM".parse(), Ok(Signal::TERM));
        assert_eq!("sigint".parse(), Ok(Signal::INT));
        assert_eq!(" SIGQUIT ".parse(), Ok(Signal::QUIT));
        assert_eq!("10".parse(), Ok(Signal::USR1));
        for name in ["ABRT", "SEGV", "BUS", "FPE", "PIPE", "VTALRM", "PROF"] {
            let s: Signal = name.parse().expect(name);
            assert_eq!(s.name(), Some(name));
        }
        assert!(matches!(
            "NOPE".parse::<Signal>(),
            Err(SignalError::UnknownName(_))
        ));
        assert_eq!("0".parse::<Signal>(), Err(SignalError::OutOfRange(0)));
        assert_eq!("65".parse::<Signal>(), Err(SignalError::OutOfRange(65)));
    }

    #[test]
    fn every_name_in_the_table_round_trips() {
        for (n, name) in TABLE {
            let s = Signal::from_number(i64::from(*n)).unwrap();
            assert_eq!(s.to_string(), format!("SIG{name}"));
            assert_eq!(s.to_string().parse(), Ok(s));
        }
        assert_eq!(Signal::from_number(40).unwrap().to_string(), "signal 40");
    }
}
