//! From the command line, the Procfile and the .env files to a plan: the list
//! of process instances to start, each with its command, environment,
//! working directory and port.
//!
//! Owns validation of everything the user gave; it starts nothing. Every
//! error names the file and line or the option at fault, and says what to do.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::input::InputError;
use crate::{dotenv, procfile};

/// What `drover start` (and `check`) were asked for.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Path to the Procfile.
    pub procfile: PathBuf,
    /// `.env` files given with `-e`; empty means `ROOT/.env` when present.
    pub env_files: Vec<PathBuf>,
    /// Working directory for the processes; default: the Procfile's folder.
    pub root: Option<PathBuf>,
    /// `-m all=1,web=2`.
    pub formation: Option<String>,
    /// Base port (`-p`).
    pub port: u16,
    /// Seconds between the stop signal and SIGKILL (`-t`).
    pub timeout: Duration,
    /// Only these processes (`drover start web worker`); empty means all.
    pub names: Vec<String>,
}

impl StartOptions {
    /// The options given by the shared command-line arguments, checked.
    pub fn from_project(args: &crate::cli::ProjectArgs) -> Result<Self, ConfigError> {
        if !args.timeout.is_finite() || args.timeout < 0.0 || args.timeout > 86_400.0 {
            return Err(cli(
                "--timeout",
                format!(
                    "{} is not a number of seconds from 0 to 86400",
                    args.timeout
                ),
                Some("e.g. -t 5".into()),
            ));
        }
        Ok(StartOptions {
            procfile: args.procfile.clone(),
            env_files: args.env.clone(),
            root: args.root.clone(),
            formation: args.formation.clone(),
            port: args.port,
            timeout: Duration::from_secs_f64(args.timeout),
            names: Vec::new(),
        })
    }
}

/// When a process that ended is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    /// Never: its end stops drover (the foreman rule).
    #[default]
    No,
    /// When it exits with a non-zero status or is killed by a signal.
    OnFailure,
    /// Whenever it ends.
    Always,
}

/// One process instance to run, e.g. `web.2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// Instance name: `web.2`.
    pub name: String,
    /// Process name from the Procfile: `web`.
    pub process: String,
    /// Position of the process in the Procfile (picks its color and port).
    pub index: usize,
    /// Instance number, from 1.
    pub instance: u32,
    /// The shell command.
    pub command: String,
    /// Variables added to drover's own environment (`.env`, `PORT`, `PS`).
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: PathBuf,
    /// `PORT` given to this instance.
    pub port: u16,
    /// Time between the stop signal and SIGKILL.
    pub stop_timeout: Duration,
    /// The signal that asks it to stop (SIGTERM unless configured).
    pub stop_signal: i32,
    /// Whether it is started again after it ends.
    pub restart: RestartPolicy,
}

/// Everything `drover start` will run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The Procfile read.
    pub procfile: PathBuf,
    /// The working directory of the processes.
    pub root: PathBuf,
    /// The .env files read, in order.
    pub env_files: Vec<PathBuf>,
    /// The instances, in Procfile order.
    pub specs: Vec<ProcessSpec>,
}

/// Bad input: a file's content, or an option's value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A problem in a file (Procfile, .env).
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

fn cli(option: &'static str, message: impl Into<String>, hint: Option<String>) -> ConfigError {
    ConfigError::Cli {
        option,
        message: message.into(),
        hint,
    }
}

/// Reads and checks everything, and returns the plan; starts nothing.
pub fn plan(opts: &StartOptions) -> Result<Plan, ConfigError> {
    let procfile = procfile::load(&opts.procfile)?;
    let root = match &opts.root {
        Some(r) => r.clone(),
        None => opts
            .procfile
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    if !root.is_dir() {
        return Err(cli(
            "--root",
            format!("{} is not a directory", root.display()),
            Some(
                "give an existing folder with -d, or leave it out to use the Procfile's folder"
                    .into(),
            ),
        ));
    }

    let env_files = if opts.env_files.is_empty() {
        let default = root.join(".env");
        if default.is_file() {
            vec![default]
        } else {
            Vec::new()
        }
    } else {
        opts.env_files.clone()
    };
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for file in &env_files {
        let lookup = |key: &str| env.get(key).cloned().or_else(|| std::env::var(key).ok());
        let vars = dotenv::load(file, &lookup)?;
        env.extend(vars);
    }

    let names: Vec<&str> = procfile.entries.iter().map(|e| e.name.as_str()).collect();
    for wanted in &opts.names {
        if !names.contains(&wanted.as_str()) {
            return Err(cli(
                "PROCESS",
                format!("no process named {wanted:?} in {}", opts.procfile.display()),
                Some(format!("the Procfile defines: {}", names.join(", "))),
            ));
        }
    }

    let formation = parse_formation(opts.formation.as_deref(), &names)?;
    let mut specs = Vec::new();
    for (index, entry) in procfile.entries.iter().enumerate() {
        if !opts.names.is_empty() && !opts.names.iter().any(|n| n == &entry.name) {
            continue;
        }
        let count = formation.count(&entry.name);
        for i in 0..count {
            let port = u32::from(opts.port) + 100 * index as u32 + i;
            let port = u16::try_from(port).map_err(|_| {
                cli(
                    "--port",
                    format!(
                        "the port for {}.{} would be {port}, above 65535",
                        entry.name,
                        i + 1
                    ),
                    Some("choose a lower base port with -p".into()),
                )
            })?;
            let name = format!("{}.{}", entry.name, i + 1);
            let mut vars: Vec<(String, String)> =
                env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            vars.push(("PORT".into(), port.to_string()));
            vars.push(("PS".into(), name.clone()));
            specs.push(ProcessSpec {
                name,
                process: entry.name.clone(),
                index,
                instance: i + 1,
                command: entry.command.clone(),
                env: vars,
                cwd: root.clone(),
                port,
                stop_timeout: opts.timeout,
                stop_signal: libc::SIGTERM,
                restart: RestartPolicy::No,
            });
        }
    }
    if specs.is_empty() {
        return Err(cli(
            "--formation",
            "the formation runs no process (every count is 0)",
            Some("give at least one process a count above 0, e.g. -m all=1".into()),
        ));
    }
    Ok(Plan {
        procfile: opts.procfile.clone(),
        root,
        env_files,
        specs,
    })
}

/// Instance counts: a default (`all`) and per-process overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formation {
    all: u32,
    each: BTreeMap<String, u32>,
}

impl Formation {
    /// How many instances of `name` to run.
    pub fn count(&self, name: &str) -> u32 {
        self.each.get(name).copied().unwrap_or(self.all)
    }
}

/// The most instances one process may have; more is almost surely a typo.
const MAX_INSTANCES: u32 = 1000;

/// Parses `all=1,web=2,worker=0`; `names` are the Procfile's processes.
pub fn parse_formation(text: Option<&str>, names: &[&str]) -> Result<Formation, ConfigError> {
    let mut f = Formation {
        all: 1,
        each: BTreeMap::new(),
    };
    let Some(text) = text else { return Ok(f) };
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((name, count)) = item.split_once('=') else {
            return Err(cli(
                "--formation",
                format!("{item:?} is not NAME=COUNT"),
                Some("write it as all=1,web=2".into()),
            ));
        };
        let (name, count) = (name.trim(), count.trim());
        let count: u32 = count
            .parse()
            .ok()
            .filter(|c| *c <= MAX_INSTANCES)
            .ok_or_else(|| {
                cli(
                    "--formation",
                    format!("{count:?} in {item:?} is not a count from 0 to {MAX_INSTANCES}"),
                    None,
                )
            })?;
        if name == "all" {
            f.all = count;
        } else if names.contains(&name) {
            f.each.insert(name.to_string(), count);
        } else {
            return Err(cli(
                "--formation",
                format!("no process named {name:?}"),
                Some(format!("the Procfile defines: {}", names.join(", "))),
            ));
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formation_defaults_and_overrides() {
        let f = parse_formation(Some("all=2, web=3,worker=0"), &["web", "worker", "x"]).unwrap();
        assert_eq!((f.count("web"), f.count("worker"), f.count("x")), (3, 0, 2));
        assert_eq!(parse_formation(None, &["web"]).unwrap().count("web"), 1);
    }

    #[test]
    fn formation_errors_name_the_problem() {
        let e = parse_formation(Some("web"), &["web"])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "--formation: \"web\" is not NAME=COUNT\n  hint: write it as all=1,web=2"
        );
        let e = parse_formation(Some("wbe=2"), &["web"])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--formation: no process named \"wbe\""),
            "{e}"
        );
        assert!(e.contains("the Procfile defines: web"), "{e}");
        let e = parse_formation(Some("web=-1"), &["web"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a count"), "{e}");
    }

    fn opts(dir: &Path) -> StartOptions {
        StartOptions {
            procfile: dir.join("Procfile"),
            env_files: vec![],
            root: None,
            formation: None,
            port: 5000,
            timeout: Duration::from_secs(5),
            names: vec![],
        }
    }

    #[test]
    fn ports_follow_foreman() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Procfile"), "web: a\nworker: b\n").unwrap();
        let mut o = opts(dir.path());
        o.formation = Some("web=2,worker=2".into());
        let plan = plan(&o).unwrap();
        let ports: Vec<(String, u16)> = plan
            .specs
            .iter()
            .map(|s| (s.name.clone(), s.port))
            .collect();
        assert_eq!(
            ports,
            vec![
                ("web.1".into(), 5000),
                ("web.2".into(), 5001),
                ("worker.1".into(), 5100),
                ("worker.2".into(), 5101)
            ]
        );
        let env = &plan.specs[1].env;
        assert!(env.contains(&("PS".into(), "web.2".into())));
        assert!(env.contains(&("PORT".into(), "5001".into())));
    }

    #[test]
    fn default_env_file_is_read_from_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Procfile"), "web: a\n").unwrap();
        std::fs::write(dir.path().join(".env"), "GREETING=hi\n").unwrap();
        let plan = plan(&opts(dir.path())).unwrap();
        assert!(plan.specs[0]
            .env
            .contains(&("GREETING".into(), "hi".into())));
    }

    #[test]
    fn unknown_process_and_empty_formation_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Procfile"), "web: a\n").unwrap();
        let mut o = opts(dir.path());
        o.names = vec!["api".into()];
        let e = plan(&o).unwrap_err().to_string();
        assert!(e.contains("no process named \"api\""), "{e}");
        let mut o = opts(dir.path());
        o.formation = Some("all=0".into());
        let e = plan(&o).unwrap_err().to_string();
        assert!(e.contains("runs no process"), "{e}");
    }
}
