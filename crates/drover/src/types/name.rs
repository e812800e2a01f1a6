//! Names the user gives: [`ProcessName`] (one rule for the Procfile,
//! drover.toml and `-m`) and environment variable names (one rule for the
//! .env files and drover.toml's `env`).
//!
//! Owns the rules and their error text; it knows nothing of files or lines,
//! which the caller adds.

use std::fmt;

/// A process name as the Procfile declares it: `web`, `worker_2`, `api-v1`.
///
/// One or more ASCII letters, digits, `_` and `-`. A `.` is not allowed:
/// it separates a process from its instance number (`web.2`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessName(String);

/// The longest process name: it leads every output line and names units and
/// pods in exports (a DNS label has at most 63 characters).
pub const MAX_NAME_LEN: usize = 63;

/// A text that cannot name a process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A character outside the allowed set, or no character at all.
    #[error("invalid process name {0:?}")]
    Invalid(String),
    /// More than [`MAX_NAME_LEN`] characters.
    #[error("process name {:?} is {} characters long, more than {MAX_NAME_LEN}", Shortened(.0), .0.len())]
    TooLong(String),
}

impl NameError {
    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            NameError::Invalid(_) => "a process name may contain only letters, digits, '_' and '-'",
            NameError::TooLong(_) => "shorten the name to 63 characters or fewer",
        }
    }
}

/// The start of a long name, enough to find it in the file.
struct Shortened<'a>(&'a str);

impl fmt::Debug for Shortened<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Process names are ASCII once they reach this check.
        match self.0.get(..20) {
            Some(start) if self.0.len() > 20 => write!(f, "\"{start}...\""),
            _ => write!(f, "{:?}", self.0),
        }
    }
}

impl ProcessName {
    /// `name`, if it is a process name.
    pub fn new(name: &str) -> Result<Self, NameError> {
        if !is_process_name(name) {
            Err(NameError::Invalid(name.to_owned()))
        } else if name.len() > MAX_NAME_LEN {
            Err(NameError::TooLong(name.to_owned()))
        } else {
            Ok(ProcessName(name.to_owned()))
        }
    }
}

impl fmt::Display for ProcessName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `name` may name a process (see [`ProcessName`]).
pub fn is_process_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether `key` may name an environment variable given in an .env file or
/// drover.toml: `[A-Za-z_][A-Za-z0-9_.]*` (the `.` for Java-style names).
pub fn is_env_var_name(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_names() {
        for ok in ["web", "Web_2-b", "1"] {
            assert_eq!(ProcessName::new(ok).map(|n| n.to_string()), Ok(ok.into()));
        }
        for bad in ["", "web.1", "my web", "wéb", "a:b"] {
            assert_eq!(ProcessName::new(bad), Err(NameError::Invalid(bad.into())));
        }
        assert_eq!(
            NameError::Invalid("web.1".into()).to_string(),
            "invalid process name \"web.1\""
        );
        let longest = "a".repeat(MAX_NAME_LEN);
        assert!(ProcessName::new(&longest).is_ok());
        let long = "a".repeat(MAX_NAME_LEN + 1);
        assert_eq!(
            ProcessName::new(&long).unwrap_err().to_string(),
            "process name \"aaaaaaaaaaaaaaaaaaaa...\" is 64 characters long, more than 63"
        );
    }

    #[test]
    fn env_var_names() {
        for ok in ["A", "_x", "java.home", "PATH2"] {
            assert!(is_env_var_name(ok), "{ok}");
        }
        for bad in ["", "1A", "A=B", "a-b", ".x", "A\0"] {
            assert!(!is_env_var_name(bad), "{bad:?}");
        }
    }
}
