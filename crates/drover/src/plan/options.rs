//! What the plan is asked for ([`StartOptions`]) and what can be wrong with
//! it ([`ConfigError`]).
//!
//! The command line fills the options (see `cli`); the plan never reads
//! clap's types.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::plan::input::InputError;

/// What `drover start` (and `check`, `run`, `export`) were asked for.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Path to the Procfile.
    pub procfile: PathBuf,
    /// `drover.toml` given with `-c`; default: beside the Procfile, when present.
    pub config: Option<PathBuf>,
    /// `.env` files given with `-e`; empty means `ROOT/.env` when present.
    pub env_files: Vec<PathBuf>,
    /// Working directory for the processes; default: the Procfile's folder.
    pub root: Option<PathBuf>,
    /// `-m all=1,web=2`.
    pub formation: Option<String>,
    /// Base port (`-p`); default: `PORT` in the .env files, else in
    /// drover's environment, else drover.toml's `port`, else 5000.
    pub port: Option<u16>,
    /// Stop timeout (`-t`); default: drover.toml's `timeout`, else 5 s.
    pub timeout: Option<Duration>,
    /// Only these processes (`drover start web worker`) and what they depend on.
    pub names: Vec<String>,
    /// Processes whose end stops nothing (`--can-die`), besides drover.toml's
    /// `can_die = true`.
    pub can_die: Vec<String>,
    /// Every process on a pseudo-terminal (`--tty`), whatever drover.toml says.
    pub tty: bool,
    /// Colors asked for through pipes for every process without a pty
    /// (`--force-color`), whatever drover.toml says.
    pub force_color: bool,
    /// `--watch`: restart each process without `watch` when a file under
    /// the root changes.
    pub watch: bool,
}

/// Bad input: a file's content, or an option's value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A problem in a file (Procfile, .env, drover.toml).
    #[error(transparent)]
    Input(#[from] InputError),
    /// A problem in a command-line option or argument.
    #[error("{}", CliProblem(.option, .message, .hint))]
    Cli {
        /// The option, e.g. `--formation`.
        option: &'static str,
        /// What is wrong.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
}

struct CliProblem<'a>(&'a str, &'a str, &'a Option<String>);

impl fmt::Display for CliProblem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0, self.1)?;
        if let Some(h) = self.2 {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl ConfigError {
    /// A problem with `option`, and what to do about it.
    pub fn cli(option: &'static str, message: impl Into<String>, hint: Option<String>) -> Self {
        ConfigError::Cli {
            option,
            message: message.into(),
            hint,
        }
    }
}
