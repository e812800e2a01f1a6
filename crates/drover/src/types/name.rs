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

/// A text that cannot name a process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid process name {0:?}")]
pub struct NameError(pub String);

impl NameError {
    /// What the user can do about it.
    pub const HINT: &'static str = "a process name may contain only letters, digits, '_' and '-'";
}

impl ProcessName {
    /// `name`, if it is a process name.
    pub fn new(name: &str) -> Result<Self, NameError> {
        if is_process_name(name) {
            Ok(ProcessName(name.to_owned()))
        } else {
            Err(NameError(name.to_owned()))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
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
            assert_eq!(ProcessName::new(bad), Err(NameError(bad.into())));
        }
        assert_eq!(
            NameError("web.1".into()).to_string(),
            "invalid process name \"web.1\""
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
