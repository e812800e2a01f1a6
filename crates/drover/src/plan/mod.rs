//! From the command line, the Procfile, `drover.toml` and the .env files to a
//! plan: the list of process instances to start, each with its command,
//! environment, working directory, port, stop and restart policy,
//! dependencies and readiness probe.
//!
//! Owns validation of everything the user gave; it starts nothing. Every
//! error names the file and line or the option at fault, and says what to do.

pub mod config_file;
pub mod dotenv;
pub mod input;
pub mod procfile;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::output::format::OutputMode;
use crate::plan::config_file::{DependsOnValue, FileConfig, TcpTarget};
use crate::plan::input::InputError;
use crate::types::Signal;

/// Default seconds between the stop signal and SIGKILL.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default base port.
pub const DEFAULT_PORT: u16 = 5000;
/// Default control socket, relative to the root.
pub const DEFAULT_SOCKET: &str = ".drover.sock";

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
    /// Base port (`-p`); default: drover.toml's `port`, else 5000.
    pub port: Option<u16>,
    /// Stop timeout (`-t`); default: drover.toml's `timeout`, else 5 s.
    pub timeout: Option<Duration>,
    /// Only these processes (`drover start web worker`) and what they depend on.
    pub names: Vec<String>,
}

impl StartOptions {
    /// The options given by the shared command-line arguments, checked.
    pub fn from_project(args: &crate::cli::ProjectArgs) -> Result<Self, ConfigError> {
        let timeout = match args.timeout {
            None => None,
            Some(t) if t.is_finite() && (0.0..=86_400.0).contains(&t) => {
                Some(Duration::from_secs_f64(t))
            }
            Some(t) => {
                return Err(cli(
                    "--timeout",
                    format!("{t} is not a number of seconds from 0 to 86400"),
                    Some("e.g. -t 5".into()),
                ))
            }
        };
        Ok(StartOptions {
            procfile: args.procfile.clone(),
            config: args.config.clone(),
            env_files: args.env.clone(),
            root: args.root.clone(),
            formation: args.formation.clone(),
            port: args.port,
            timeout,
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

/// Restart delays: `initial`, doubling up to `max`; a run of `reset_after`
/// resets the delay and the count of restarts in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first restart.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
    /// A run this long counts as stable.
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            reset_after: Duration::from_secs(60),
        }
    }
}

/// One step of a stop ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopStep {
    /// The signal sent.
    pub signal: Signal,
    /// How long to wait before the next step.
    pub wait: Duration,
}

/// The default ladder: `signal`, wait `timeout`, SIGKILL.
pub fn default_ladder(signal: Signal, timeout: Duration) -> Vec<StopStep> {
    vec![
        StopStep {
            signal,
            wait: timeout,
        },
        StopStep {
            signal: Signal::KILL,
            wait: Duration::ZERO,
        },
    ]
}

/// What a dependency must have reached before its dependent starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Every instance has been started.
    Started,
    /// Every instance has passed its readiness probe (or started, without one).
    Ready,
    /// Every instance has exited with status 0.
    ExitedOk,
}

impl Condition {
    /// The name used in drover.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Started => "started",
            Condition::Ready => "ready",
            Condition::ExitedOk => "exited_ok",
        }
    }
}

/// One `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The process depended on (`db`, all its instances).
    pub process: String,
    /// What it must reach.
    pub condition: Condition,
}

/// How to tell that a process is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A TCP connection to `host:port` succeeds.
    Tcp(String),
    /// `GET path` on `host:port` answers 2xx.
    Http {
        /// `host:port`.
        address: String,
        /// Request path, from `/`.
        path: String,
    },
    /// `sh -c COMMAND` exits 0.
    Command(String),
    /// An output line matches this regular expression.
    Log(String),
    /// The process sends `READY=1` to `$NOTIFY_SOCKET` (the sd_notify protocol).
    Notify,
}

/// A readiness probe and how often to try it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// The probe.
    pub probe: Probe,
    /// Time between tries.
    pub interval: Duration,
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
    /// Variables added to drover's own environment (`.env`, drover.toml, `PORT`, `PS`).
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: PathBuf,
    /// `PORT` given to this instance.
    pub port: u16,
    /// How to stop it: each step's signal, then its wait before the next.
    /// Ends with SIGKILL. Default: SIGTERM, the timeout, SIGKILL. The first
    /// step is the stop signal.
    pub stop_ladder: Vec<StopStep>,
    /// Whether it is started again after it ends.
    pub restart: RestartPolicy,
    /// Restart delays.
    pub backoff: Backoff,
    /// Give up after this many restarts in a row (none: no limit).
    pub max_restarts: Option<u32>,
    /// Processes that must reach a condition before this one starts.
    pub depends_on: Vec<Dependency>,
    /// When it counts as ready; without a probe, once started.
    pub ready: Option<Readiness>,
    /// Named ports (`ports = ["http"]`), allocated free before the start
    /// (0 until then); given as `PORT_HTTP`, and to dependents as `WEB_PORT_HTTP`.
    pub named_ports: Vec<(String, u16)>,
}

/// Everything `drover start` will run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The Procfile read (it may be absent when drover.toml defines every command).
    pub procfile: PathBuf,
    /// The drover.toml read, if any.
    pub config_file: Option<PathBuf>,
    /// The working directory of the processes.
    pub root: PathBuf,
    /// The .env files read, in order.
    pub env_files: Vec<PathBuf>,
    /// Base port.
    pub port: u16,
    /// The base port was chosen (`-p` or drover.toml): each PORT is checked
    /// to be free before the start.
    pub port_explicit: bool,
    /// Global stop timeout.
    pub timeout: Duration,
    /// Output mode from drover.toml, if set there.
    pub output: Option<OutputMode>,
    /// The control socket's path.
    pub socket: PathBuf,
    /// drover.toml asks for a cgroup per process.
    pub cgroup: bool,
    /// The instances, in Procfile order, then drover.toml-only processes by name.
    pub specs: Vec<ProcessSpec>,
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

fn cli(option: &'static str, message: impl Into<String>, hint: Option<String>) -> ConfigError {
    ConfigError::Cli {
        option,
        message: message.into(),
        hint,
    }
}

/// A process as defined by the Procfile and drover.toml together.
struct Defined {
    name: String,
    command: String,
    config: Option<config_file::ProcessConfig>,
    /// Line of its `[processes.NAME]` table in drover.toml.
    config_line: Option<usize>,
}

/// Reads and checks everything, and returns the plan; starts nothing.
pub fn plan(opts: &StartOptions) -> Result<Plan, ConfigError> {
    let procfile_dir = opts
        .procfile
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let config_path = match &opts.config {
        Some(p) => Some(p.clone()),
        None => Some(procfile_dir.join("drover.toml")).filter(|p| p.is_file()),
    };
    let (file, file_text) = match &config_path {
        Some(p) => {
            let (c, t) = config_file::load(p)?;
            (c, t)
        }
        None => (FileConfig::default(), String::new()),
    };
    let config_path_ref = config_path.as_deref().unwrap_or(Path::new("drover.toml"));
    let at = |span: std::ops::Range<usize>| config_file::line_of(&file_text, span.start);
    let file_err = |line: usize, message: String, hint: Option<&str>| -> ConfigError {
        let e = InputError::new(config_path_ref, Some(line), message);
        match hint {
            Some(h) => e.with_hint(h).into(),
            None => e.into(),
        }
    };

    // The Procfile may be left out when drover.toml gives every command.
    let toml_has_commands = file
        .processes
        .values()
        .any(|p| p.get_ref().command.is_some());
    let entries = if !opts.procfile.exists() && toml_has_commands {
        Vec::new()
    } else {
        procfile::load(&opts.procfile)?.entries
    };

    let root = match &opts.root {
        Some(r) => r.clone(),
        None => procfile_dir.clone(),
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

    let timeout = match (opts.timeout, &file.timeout) {
        (Some(t), _) => t,
        (None, Some(t)) => config_file::duration(t.get_ref())
            .map_err(|m| file_err(at(t.span()), format!("timeout: {m}"), None))?,
        (None, None) => DEFAULT_TIMEOUT,
    };
    let base_port = opts.port.or(file.port).unwrap_or(DEFAULT_PORT);
    let output = match &file.output {
        None => None,
        Some(o) => Some(match o.get_ref().as_str() {
            "text" => OutputMode::Text,
            "json" => OutputMode::Json,
            other => {
                return Err(file_err(
                    at(o.span()),
                    format!("output: {other:?} is not an output mode"),
                    Some("use \"text\" or \"json\""),
                ))
            }
        }),
    };
    let socket = root.join(
        file.socket
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET)),
    );

    // Every process, Procfile order first, then those only in drover.toml.
    let mut file_procs = file.processes;
    let mut defined: Vec<Defined> = Vec::new();
    for entry in &entries {
        let (config, line) = match file_procs.remove(&entry.name) {
            Some(c) => {
                let line = at(c.span());
                (Some(c.into_inner()), Some(line))
            }
            None => (None, None),
        };
        let command = config
            .as_ref()
            .and_then(|c| c.command.clone())
            .unwrap_or_else(|| entry.command.clone());
        defined.push(Defined {
            name: entry.name.clone(),
            command,
            config,
            config_line: line,
        });
    }
    for (name, c) in file_procs {
        let line = at(c.span());
        let config = c.into_inner();
        if !valid_name(&name) {
            return Err(file_err(
                line,
                format!("invalid process name {name:?}"),
                Some("use letters, digits, '_' and '-'"),
            ));
        }
        let Some(command) = config.command.clone() else {
            return Err(file_err(
                line,
                format!(
                    "process {name:?} has no command here and is not in {}",
                    opts.procfile.display()
                ),
                Some("add `command = \"...\"` to its table, or a line to the Procfile"),
            ));
        };
        defined.push(Defined {
            name,
            command,
            config: Some(config),
            config_line: Some(line),
        });
    }
    if defined.is_empty() {
        return Err(
            InputError::new(&opts.procfile, None, "no processes defined")
                .with_hint("add lines like `web: python -m http.server $PORT`")
                .into(),
        );
    }

    let names: Vec<&str> = defined.iter().map(|d| d.name.as_str()).collect();
    for wanted in &opts.names {
        if !names.contains(&wanted.as_str()) {
            return Err(cli(
                "PROCESS",
                format!("no process named {wanted:?}"),
                Some(format!("the app defines: {}", names.join(", "))),
            ));
        }
    }

    let mut env: BTreeMap<String, String> = BTreeMap::new();
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
    for file in &env_files {
        let lookup = |key: &str| env.get(key).cloned().or_else(|| std::env::var(key).ok());
        let vars = dotenv::load(file, &lookup)?;
        env.extend(vars);
    }

    // Per-process settings from drover.toml, checked.
    struct Settings {
        instances: Option<u32>,
        restart: RestartPolicy,
        backoff: Backoff,
        max_restarts: Option<u32>,
        stop_signal: Signal,
        stop_timeout: Duration,
        stop_ladder: Option<Vec<StopStep>>,
        depends_on: Vec<Dependency>,
        ready: Option<Readiness>,
        env: BTreeMap<String, String>,
        cwd: PathBuf,
        ports: Vec<String>,
    }
    let mut settings: Vec<Settings> = Vec::new();
    for d in &defined {
        let mut s = Settings {
            instances: None,
            restart: RestartPolicy::No,
            backoff: Backoff::default(),
            max_restarts: None,
            stop_signal: Signal::TERM,
            stop_timeout: timeout,
            stop_ladder: None,
            depends_on: Vec::new(),
            ready: None,
            env: BTreeMap::new(),
            cwd: root.clone(),
            ports: Vec::new(),
        };
        if let Some(c) = &d.config {
            let name = &d.name;
            if let Some(n) = &c.instances {
                if *n.get_ref() > MAX_INSTANCES {
                    return Err(file_err(
                        at(n.span()),
                        format!(
                            "{name}: instances = {} is more than {MAX_INSTANCES}",
                            n.get_ref()
                        ),
                        None,
                    ));
                }
                s.instances = Some(*n.get_ref());
            }
            if let Some(r) = &c.restart {
                s.restart = match r.get_ref().as_str() {
                    "no" => RestartPolicy::No,
                    "on-failure" | "on_failure" => RestartPolicy::OnFailure,
                    "always" => RestartPolicy::Always,
                    other => {
                        return Err(file_err(
                            at(r.span()),
                            format!("{name}: restart = {other:?} is not a restart policy"),
                            Some("use \"no\", \"on-failure\" or \"always\""),
                        ))
                    }
                };
            }
            if let Some(b) = &c.backoff {
                for (field, target) in [
                    (&b.initial, &mut s.backoff.initial),
                    (&b.max, &mut s.backoff.max),
                    (&b.reset_after, &mut s.backoff.reset_after),
                ] {
                    if let Some(v) = field {
                        *target = config_file::duration(v.get_ref()).map_err(|m| {
                            file_err(at(v.span()), format!("{name}: backoff: {m}"), None)
                        })?;
                    }
                }
                if s.backoff.max < s.backoff.initial {
                    s.backoff.max = s.backoff.initial;
                }
            }
            s.max_restarts = c.max_restarts;
            if let Some(sig) = &c.stop_signal {
                s.stop_signal = config_file::signal(sig.get_ref()).map_err(|m| {
                    file_err(at(sig.span()), format!("{name}: stop_signal: {m}"), None)
                })?;
            }
            if let Some(t) = &c.stop_timeout {
                s.stop_timeout = config_file::duration(t.get_ref()).map_err(|m| {
                    file_err(at(t.span()), format!("{name}: stop_timeout: {m}"), None)
                })?;
            }
            if let Some(stop) = &c.stop {
                let ladder = parse_ladder(stop.get_ref(), s.stop_timeout).map_err(|m| {
                    file_err(
                        at(stop.span()),
                        format!("{name}: stop: {m}"),
                        Some("write it as stop = [\"INT\", \"5s\", \"TERM\", \"5s\", \"KILL\"]"),
                    )
                })?;
                if c.stop_signal.is_some() {
                    return Err(file_err(
                        at(stop.span()),
                        format!("{name}: give either stop or stop_signal, not both"),
                        Some("the stop ladder's first signal is the stop signal"),
                    ));
                }
                s.stop_signal = ladder[0].signal;
                s.stop_timeout = ladder[0].wait;
                s.stop_ladder = Some(ladder);
            }
            if let Some(deps) = &c.depends_on {
                let line = at(deps.span());
                let list: Vec<(String, String)> = match deps.get_ref() {
                    DependsOnValue::List(l) => {
                        l.iter().map(|n| (n.clone(), "started".into())).collect()
                    }
                    DependsOnValue::Table(t) => {
                        t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
                    }
                };
                for (dep, cond) in list {
                    if !names.contains(&dep.as_str()) {
                        return Err(file_err(
                            line,
                            format!("{name} depends on {dep:?}, which is not a process"),
                            Some(&format!("the app defines: {}", names.join(", "))),
                        ));
                    }
                    if dep == *name {
                        return Err(file_err(line, format!("{name} depends on itself"), None));
                    }
                    let condition = match cond.as_str() {
                        "started" => Condition::Started,
                        "ready" | "healthy" => Condition::Ready,
                        "exited_ok" | "completed_successfully" => Condition::ExitedOk,
                        other => {
                            return Err(file_err(
                                line,
                                format!("{name}: {other:?} is not a dependency condition"),
                                Some("use \"started\", \"ready\" or \"exited_ok\""),
                            ))
                        }
                    };
                    s.depends_on.push(Dependency {
                        process: dep,
                        condition,
                    });
                }
            }
            if let Some(r) = &c.ready {
                s.ready =
                    Some(readiness(r.get_ref()).map_err(|m| {
                        file_err(at(r.span()), format!("{name}: ready: {m}"), None)
                    })?);
            }
            if let Some(env) = &c.env {
                for (k, v) in env.get_ref() {
                    if k.is_empty() || k.contains(['=', '\0']) || v.contains('\0') {
                        return Err(file_err(
                            at(env.span()),
                            format!("{name}: env: {k:?} is not a variable name (or its value holds a NUL byte)"),
                            Some("names are letters, digits and '_', without '='"),
                        ));
                    }
                    s.env.insert(k.clone(), v.clone());
                }
            }
            if let Some(ports) = &c.ports {
                for p in ports.get_ref() {
                    let ok =
                        !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                    if !ok || s.ports.contains(p) {
                        return Err(file_err(
                            at(ports.span()),
                            format!("{name}: ports: {p:?} is not a port name, or is given twice"),
                            Some("use names of letters, digits and '_', e.g. ports = [\"http\", \"metrics\"]"),
                        ));
                    }
                    s.ports.push(p.clone());
                }
            }
            if let Some(cwd) = &c.cwd {
                s.cwd = root.join(cwd.get_ref());
                if !s.cwd.is_dir() {
                    return Err(file_err(
                        at(cwd.span()),
                        format!("{name}: cwd {} is not a directory", s.cwd.display()),
                        None,
                    ));
                }
            }
        }
        settings.push(s);
    }
    if let Some(cycle) = find_cycle(
        &defined,
        &settings.iter().map(|s| &s.depends_on).collect::<Vec<_>>(),
    ) {
        let line = defined
            .iter()
            .find(|d| d.name == cycle[0])
            .and_then(|d| d.config_line)
            .unwrap_or(1);
        return Err(file_err(
            line,
            format!("dependency cycle: {}", cycle.join(" -> ")),
            Some("remove one of these depends_on entries"),
        ));
    }

    // `drover start web`: web and, transitively, what it depends on.
    let mut selected: BTreeSet<String> = opts.names.iter().cloned().collect();
    if !selected.is_empty() {
        let mut todo: Vec<String> = selected.iter().cloned().collect();
        while let Some(n) = todo.pop() {
            let i = names
                .iter()
                .position(|x| *x == n)
                .expect("selected names exist");
            for dep in &settings[i].depends_on {
                if selected.insert(dep.process.clone()) {
                    todo.push(dep.process.clone());
                }
            }
        }
    }

    let formation = parse_formation(opts.formation.as_deref(), &names)?;
    let mut specs = Vec::new();
    for (index, (d, s)) in defined.iter().zip(&settings).enumerate() {
        if !selected.is_empty() && !selected.contains(&d.name) {
            continue;
        }
        let count = formation.count_or(&d.name, s.instances);
        for i in 0..count {
            let port = u32::from(base_port) + 100 * index as u32 + i;
            let port = u16::try_from(port).map_err(|_| {
                cli(
                    "--port",
                    format!(
                        "the port for {}.{} would be {port}, above 65535",
                        d.name,
                        i + 1
                    ),
                    Some("choose a lower base port with -p".into()),
                )
            })?;
            let name = format!("{}.{}", d.name, i + 1);
            let mut vars: BTreeMap<String, String> = env.clone();
            vars.extend(s.env.iter().map(|(k, v)| (k.clone(), v.clone())));
            vars.insert("PORT".into(), port.to_string());
            vars.insert("PS".into(), name.clone());
            specs.push(ProcessSpec {
                name,
                process: d.name.clone(),
                index,
                instance: i + 1,
                command: d.command.clone(),
                env: vars.into_iter().collect(),
                cwd: s.cwd.clone(),
                port,
                stop_ladder: s
                    .stop_ladder
                    .clone()
                    .unwrap_or_else(|| default_ladder(s.stop_signal, s.stop_timeout)),
                restart: s.restart,
                backoff: s.backoff,
                max_restarts: s.max_restarts,
                depends_on: s.depends_on.clone(),
                ready: s.ready.clone(),
                named_ports: s.ports.iter().map(|n| (n.clone(), 0)).collect(),
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
        config_file: config_path,
        root,
        env_files,
        port: base_port,
        port_explicit: opts.port.is_some() || file.port.is_some(),
        timeout,
        output,
        socket,
        cgroup: file.cgroup.unwrap_or(false),
        specs,
    })
}

/// Parses `["INT", "5s", "TERM", "5s", "KILL"]`: signals and waits
/// alternating, from a signal. A ladder that does not end with KILL gets
/// `timeout` and KILL appended.
fn parse_ladder(
    items: &[config_file::LadderItem],
    timeout: Duration,
) -> Result<Vec<StopStep>, String> {
    use config_file::LadderItem;
    let mut steps: Vec<StopStep> = Vec::new();
    let mut expect_signal = true;
    for item in items {
        if expect_signal {
            let value = match item {
                LadderItem::Number(n) if n.fract() == 0.0 && n.abs() < 1e6 => {
                    config_file::SignalValue::Number(*n as i64)
                }
                LadderItem::Number(n) => return Err(format!("{n} is not a signal number")),
                LadderItem::Text(t) => config_file::SignalValue::Name(t.clone()),
            };
            let signal = config_file::signal(&value)?;
            steps.push(StopStep {
                signal,
                wait: Duration::ZERO,
            });
        } else {
            let value = match item {
                LadderItem::Number(n) => config_file::DurationValue::Seconds(*n),
                LadderItem::Text(t) => config_file::DurationValue::Text(t.clone()),
            };
            let wait = config_file::duration(&value)?;
            steps.last_mut().expect("a wait follows a signal").wait = wait;
        }
        expect_signal = !expect_signal;
    }
    if steps.is_empty() {
        return Err("the ladder is empty".into());
    }
    if expect_signal {
        return Err("the ladder ends with a wait; end it with a signal".into());
    }
    if let Some(i) = steps.iter().position(|s| s.signal == Signal::KILL) {
        if i + 1 != steps.len() {
            return Err("nothing can follow KILL".into());
        }
    } else {
        steps.last_mut().expect("not empty").wait = timeout;
        steps.push(StopStep {
            signal: Signal::KILL,
            wait: Duration::ZERO,
        });
    }
    Ok(steps)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn readiness(value: &config_file::ReadyValue) -> Result<Readiness, String> {
    let r = match value {
        config_file::ReadyValue::Word(w) if w == "notify" => {
            return Ok(Readiness {
                probe: Probe::Notify,
                interval: Duration::from_millis(250),
            })
        }
        config_file::ReadyValue::Word(w) => {
            return Err(format!(
                "{w:?} is not a readiness check; use \"notify\" or a table such as {{ tcp = 5432 }}"
            ))
        }
        config_file::ReadyValue::Probe(r) => r,
    };
    let interval = match &r.interval {
        Some(i) => config_file::duration(i)?,
        None => Duration::from_millis(250),
    };
    if interval.is_zero() {
        return Err("interval must be above 0".into());
    }
    let mut probes = Vec::new();
    if let Some(t) = &r.tcp {
        probes.push(Probe::Tcp(match t {
            TcpTarget::Port(p) => format!("127.0.0.1:{p}"),
            TcpTarget::Address(a) if a.contains(':') => a.clone(),
            TcpTarget::Address(a) => return Err(format!("tcp = {a:?} is not a port or host:port")),
        }));
    }
    if let Some(url) = &r.http {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            format!("http = {url:?} must start with http:// (https is not probed)")
        })?;
        let (address, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let address = if address.contains(':') {
            address.to_string()
        } else {
            format!("{address}:80")
        };
        probes.push(Probe::Http {
            address,
            path: path.to_string(),
        });
    }
    if let Some(c) = &r.command {
        probes.push(Probe::Command(c.clone()));
    }
    if let Some(pattern) = &r.log {
        regex_lite::Regex::new(pattern)
            .map_err(|e| format!("log = {pattern:?} is not a valid regular expression: {e}"))?;
        probes.push(Probe::Log(pattern.clone()));
    }
    match probes.len() {
        1 => Ok(Readiness {
            probe: probes.pop().expect("one probe"),
            interval,
        }),
        0 => Err("give one of tcp, http, command or log".into()),
        _ => Err("give only one of tcp, http, command or log".into()),
    }
}

/// A dependency cycle, as names from the first back to it, if any.
fn find_cycle(defined: &[Defined], deps: &[&Vec<Dependency>]) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(
        i: usize,
        defined: &[Defined],
        deps: &[&Vec<Dependency>],
        marks: &mut [Mark],
        path: &mut Vec<usize>,
    ) -> Option<Vec<String>> {
        marks[i] = Mark::Active;
        path.push(i);
        for d in deps[i] {
            let j = defined
                .iter()
                .position(|x| x.name == d.process)
                .expect("dependencies were checked");
            match marks[j] {
                Mark::Active => {
                    let start = path
                        .iter()
                        .position(|p| *p == j)
                        .expect("active nodes are on the path");
                    let mut cycle: Vec<String> = path[start..]
                        .iter()
                        .map(|p| defined[*p].name.clone())
                        .collect();
                    cycle.push(defined[j].name.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(j, defined, deps, marks, path) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks[i] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; defined.len()];
    for i in 0..defined.len() {
        if marks[i] == Mark::New {
            if let Some(c) = visit(i, defined, deps, &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// Instance counts: a default (`all`) and per-process overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formation {
    all: Option<u32>,
    each: BTreeMap<String, u32>,
}

impl Formation {
    /// How many instances of `name` to run.
    pub fn count(&self, name: &str) -> u32 {
        self.count_or(name, None)
    }

    /// How many instances of `name` to run, `configured` (drover.toml's
    /// `instances`) applying when the formation names neither it nor `all`.
    pub fn count_or(&self, name: &str, configured: Option<u32>) -> u32 {
        self.each
            .get(name)
            .copied()
            .or(self.all)
            .or(configured)
            .unwrap_or(1)
    }
}

/// The most instances one process may have; more is almost surely a typo.
const MAX_INSTANCES: u32 = 1000;

/// Parses `all=1,web=2,worker=0`; `names` are the app's processes.
pub fn parse_formation(text: Option<&str>, names: &[&str]) -> Result<Formation, ConfigError> {
    let mut f = Formation {
        all: None,
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
            f.all = Some(count);
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
            config: None,
            env_files: vec![],
            root: None,
            formation: None,
            port: None,
            timeout: None,
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

    #[test]
    fn stop_ladder_from_drover_toml() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Procfile"), "web: a\nworker: b\napi: c\n").unwrap();
        std::fs::write(
            dir.path().join("drover.toml"),
            "[processes.web]\nstop = [\"INT\", \"2s\", \"TERM\", 3, \"KILL\"]\n[processes.worker]\nstop = [\"QUIT\"]\n",
        )
        .unwrap();
        let plan = plan(&opts(dir.path())).unwrap();
        let steps = |i: usize| -> Vec<(i32, u64)> {
            plan.specs[i]
                .stop_ladder
                .iter()
                .map(|s| (s.signal.number(), s.wait.as_secs()))
                .collect()
        };
        assert_eq!(
            steps(0),
            vec![(libc::SIGINT, 2), (libc::SIGTERM, 3), (libc::SIGKILL, 0)]
        );
        assert_eq!(plan.specs[0].stop_ladder[0].signal, Signal::INT);
        assert_eq!(
            steps(1),
            vec![(libc::SIGQUIT, 5), (libc::SIGKILL, 0)],
            "KILL appended after the timeout"
        );
        assert_eq!(
            steps(2),
            vec![(libc::SIGTERM, 5), (libc::SIGKILL, 0)],
            "the default ladder"
        );
    }

    #[test]
    fn bad_stop_ladders_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Procfile"), "web: a\n").unwrap();
        for (ladder, wanted) in [
            ("[\"INT\", \"5s\"]", "ends with a wait"),
            ("[\"KILL\", \"1s\", \"TERM\"]", "nothing can follow KILL"),
            ("[\"NOPE\"]", "not a signal"),
            ("[\"INT\", \"soon\", \"KILL\"]", "not a duration"),
        ] {
            std::fs::write(
                dir.path().join("drover.toml"),
                format!("[processes.web]\n\nstop = {ladder}\n"),
            )
            .unwrap();
            let e = plan(&opts(dir.path())).unwrap_err().to_string();
            assert!(e.contains("drover.toml:3: web: stop:"), "{e}");
            assert!(e.contains(wanted), "{e}");
        }
    }

    #[test]
    fn more_bad_values_name_their_key_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Procfile"), "web: a\n").unwrap();
        for (toml, line, wanted) in [
            (
                "[processes.web]\n\ncwd = \"nope\"\n",
                3,
                "is not a directory",
            ),
            ("[processes.web]\ninstances = 5000\n", 2, "more than 1000"),
            ("[processes.web]\nstop = [2.7]\n", 2, "not a signal number"),
            (
                "[processes.web]\nenv = { \"A=B\" = \"x\" }\n",
                2,
                "not a variable name",
            ),
        ] {
            std::fs::write(dir.path().join("drover.toml"), toml).unwrap();
            let e = plan(&opts(dir.path())).unwrap_err().to_string();
            assert!(e.contains(&format!("drover.toml:{line}:")), "{e}");
            assert!(e.contains(wanted), "{e}");
        }
    }
}
