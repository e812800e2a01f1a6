//! The plan's types: what `drover start` will run, each process instance
//! with its command, environment, ports, stop ladder, restart policy,
//! dependencies and readiness probe.
//!
//! Plain data for the layers below (the supervisor, the exports, `check`).
//! Building and checking it is the rest of `plan`'s job; nothing here reads
//! a file or knows drover.toml's syntax beyond the words of its enums.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::types::{OutputMode, Signal};

/// When a process that ended is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Never: its end stops drover (the foreman rule).
    #[default]
    No,
    /// When it exits with a non-zero status or is killed by a signal.
    #[serde(alias = "on_failure")]
    OnFailure,
    /// Whenever it ends.
    Always,
}

impl RestartPolicy {
    /// The name used in drover.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Always => "always",
        }
    }
}

/// Which processes a stop signal (and `drover kill`) reaches, with
/// systemd's words and meaning (`KillMode=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KillMode {
    /// Every signal goes to the whole process group (or cgroup).
    #[default]
    ControlGroup,
    /// The stop ladder's signals and `drover kill` go to the main process
    /// only, so a prefork server can stop its workers itself; the final
    /// SIGKILL still goes to the whole group.
    Mixed,
}

impl KillMode {
    /// The name used in drover.toml (and by systemd).
    pub fn as_str(self) -> &'static str {
        match self {
            KillMode::ControlGroup => "control-group",
            KillMode::Mixed => "mixed",
        }
    }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Every instance has been started.
    Started,
    /// Every instance has passed its readiness probe (or started, without one).
    #[serde(alias = "healthy")]
    Ready,
    /// Every instance has exited with status 0.
    #[serde(alias = "completed_successfully")]
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
    /// Not ready this long after its start: it counts as failed (none:
    /// it may wait for ever).
    pub timeout: Option<Duration>,
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
    /// Its end, with any status, stops nothing (`can_die = true`, or
    /// `--can-die NAME`): a one-off such as a release task. Dependents that
    /// wait for `exited_ok` still need status 0.
    pub can_die: bool,
    /// Which processes its stop signals reach.
    pub kill_mode: KillMode,
    /// The .env files, read again each time it is started again.
    pub env_files: Vec<PathBuf>,
    /// The variables of `env` that come from the .env files (drover.toml's
    /// `env`, `PORT` and `PS` win over them): those a new read replaces.
    pub dotenv_keys: Vec<String>,
    /// It runs on a pseudo-terminal (`tty = true`, or `--tty`): one stream
    /// for its output, and `drover attach` can type into it.
    pub tty: bool,
    /// Colors are asked for through its pipes (`force_color = true`, or
    /// `--force-color`); never set together with `tty`.
    pub force_color: bool,
    /// Listening sockets drover binds once and passes to each start
    /// (`LISTEN_FDS`), in order from descriptor 3.
    pub sockets: Vec<crate::plan::sockets::SocketSpec>,
    /// The files whose changes restart it (`watch = [...]`, or `--watch`).
    pub watch: Option<WatchSpec>,
    /// Restarted when a dependency (`started` or `ready`) that was restarted
    /// by a watch or `drover restart` is ready again.
    pub restart_on_dependency: bool,
    /// `on_ready`, `on_exit`, `on_failure`: commands run on its events.
    pub hooks: Hooks,
    /// Started with the rest (`autostart`, default true); when false it is
    /// defined but waits for `drover restart NAME`.
    pub autostart: bool,
}

/// What a process watches: `watch`, `watch_ignore` and `watch_debounce`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchSpec {
    /// The folder the globs are relative to: its working directory (the
    /// root, for `--watch`).
    pub dir: PathBuf,
    /// Globs and folders to watch (checked to compile).
    pub paths: Vec<String>,
    /// Globs and folders to ignore (checked to compile).
    pub ignore: Vec<String>,
    /// How long the changes must have been quiet before the restart.
    pub debounce: Duration,
}

impl WatchSpec {
    /// The debounce when `watch_debounce` is not set.
    pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(200);
}

/// The hook commands of a process, each run with `sh -c` and the event in
/// its environment (`DROVER_EVENT_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    /// Run each time it becomes ready.
    pub on_ready: Option<String>,
    /// Run each time its main process ends.
    pub on_exit: Option<String>,
    /// Run each time it ends with a failure (a status other than 0 nobody
    /// asked for, or a missed readiness deadline).
    pub on_failure: Option<String>,
}

#[cfg(test)]
impl ProcessSpec {
    /// A plain instance named `name` (`web.1`) running `command`, with the
    /// defaults of a Procfile line, for tests.
    pub(crate) fn for_test(name: &str, command: &str) -> Self {
        Self {
            name: name.into(),
            process: name.split('.').next().unwrap_or(name).into(),
            index: 0,
            instance: 1,
            command: command.into(),
            env: vec![],
            cwd: PathBuf::from("."),
            port: 0,
            stop_ladder: default_ladder(Signal::TERM, Duration::from_secs(5)),
            restart: RestartPolicy::No,
            backoff: Backoff::default(),
            max_restarts: None,
            depends_on: vec![],
            ready: None,
            named_ports: vec![],
            can_die: false,
            kill_mode: KillMode::ControlGroup,
            env_files: vec![],
            dotenv_keys: vec![],
            tty: false,
            force_color: false,
            sockets: Vec::new(),
            watch: None,
            restart_on_dependency: false,
            hooks: Hooks::default(),
            autostart: true,
        }
    }
}

/// `TERM` for a process on a pty when drover's environment has none.
pub const DEFAULT_TERM: &str = "xterm-256color";

impl ProcessSpec {
    /// The variables the spawn adds for the terminal settings, each only
    /// when the user has not set it, in the plan's `env` or in drover's own
    /// environment (`inherited` says whether drover's has it): `TERM` for a
    /// pty, `FORCE_COLOR=1` and `CLICOLOR_FORCE=1` with `force_color`.
    pub fn terminal_env(
        &self,
        inherited: impl Fn(&str) -> bool,
    ) -> Vec<(&'static str, &'static str)> {
        let wanted: &[(&'static str, &'static str)] = if self.tty {
            &[("TERM", DEFAULT_TERM)]
        } else if self.force_color {
            &[("FORCE_COLOR", "1"), ("CLICOLOR_FORCE", "1")]
        } else {
            &[]
        };
        wanted
            .iter()
            .filter(|(key, _)| !inherited(key) && !self.env.iter().any(|(k, _)| k == key))
            .copied()
            .collect()
    }

    /// The signal that asks it to stop: the ladder's first.
    pub fn stop_signal(&self) -> Signal {
        self.stop_ladder
            .first()
            .expect("a stop ladder ends with SIGKILL, so it is never empty")
            .signal
    }

    /// The time from the stop signal to SIGKILL: the sum of the ladder's
    /// waits before its SIGKILL.
    pub fn time_to_kill(&self) -> Duration {
        self.stop_ladder
            .iter()
            .take_while(|step| step.signal != Signal::KILL)
            .map(|step| step.wait)
            .sum()
    }
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
    /// drover.toml asks to reload when the app's files change.
    pub reload: bool,
    /// Where and how to keep log files, when drover.toml asks for them.
    pub log_files: Option<LogFileSettings>,
    /// Every process the app defines, in the same order, whether or not it
    /// runs (a count of 0, or not named on the command line).
    pub processes: Vec<String>,
    /// The instances, in Procfile order, then drover.toml-only processes by name.
    pub specs: Vec<ProcessSpec>,
}

/// drover.toml's `log_dir`, `log_max_size` and `log_keep`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFileSettings {
    /// The folder (the root joined).
    pub dir: PathBuf,
    /// A file is rotated before it grows past this many bytes.
    pub max_size: u64,
    /// Rotated files kept per log, besides the current one.
    pub keep: u32,
}

impl LogFileSettings {
    /// 10 MiB.
    pub const DEFAULT_MAX_SIZE: u64 = 10 << 20;
    /// Five rotated files.
    pub const DEFAULT_KEEP: u32 = 5;
}
