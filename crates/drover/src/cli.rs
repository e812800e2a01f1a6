//! The command line: clap definitions, and their conversion into the
//! plan's options. The only module that knows clap: the value types it
//! parses (durations, the output mode) live in `types` and know nothing of
//! it.

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::plan::{ConfigError, StartOptions};
use crate::types::{Duration, DurationError, OutputMode};

/// drover runs the processes of a Procfile app as one readable stream and
/// stops them all cleanly.
#[derive(Debug, Parser)]
#[command(name = "drover", version, about, max_term_width = 100)]
pub struct Cli {
    /// More of drover's own records: -v debug, -vv trace (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// drover's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start every process of the Procfile (or only those named) and show their output.
    Start(StartArgs),
    /// Check the Procfile, .env files and drover.toml, and print the plan.
    Check(CheckArgs),
    /// Run one command with the app's environment (.env, PORT).
    Run(RunArgs),
    /// Write service definitions for another process manager.
    Export(ExportArgs),
    /// Show the processes of a running drover.
    Ps(PsArgs),
    /// Stop processes of a running drover (`web` = every instance, `web.2` = one).
    Stop(StopArgs),
    /// Restart processes of a running drover; a stopped one is started.
    Restart(RestartArgs),
    /// Send a signal to a process of a running drover.
    Kill(KillArgs),
    /// Show recent output of a running drover, and follow it with -f.
    Logs(LogsArgs),
    /// Wait until the processes of a running drover (all, or those named) are ready:
    /// exit 0 once they are, 1 at the deadline or when one failed, saying which and why.
    Wait(WaitArgs),
    /// Stop every process of a running drover and make it exit.
    Shutdown(ClientArgs),
    /// Pause every process of a running drover (SIGTSTP) and its timers.
    Pause(ClientArgs),
    /// Resume every paused process (SIGCONT).
    Resume(ClientArgs),
    /// See and steer a running drover in one terminal screen (q quits; the stack keeps running).
    Tui(TuiArgs),
    /// Type into a process's terminal (`tty = true`) from here; detach with Ctrl-].
    Attach(AttachArgs),
    /// Write input to a process's terminal (`tty = true`) without attaching.
    Send(SendArgs),
    /// Print the lifecycle events of a running drover (started, ready, exited, …) until it exits.
    Events(EventsArgs),
    /// Change how many instances of processes a running drover runs: `web=3 worker=0`.
    Scale(ScaleArgs),
    /// Read the Procfile, drover.toml and .env files again and apply what changed.
    Reload(ClientArgs),
}

/// Options of `drover events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only these processes: `web` or `web.2` [default: all].
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// One JSON object per line (schema version 1, see README "Events and hooks").
    #[arg(long)]
    pub json: bool,
    /// How to reach drover.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Options of `drover scale`.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Process and count: `web=3` (the highest instances stop first).
    #[arg(value_name = "NAME=N", required = true, value_parser = scale_count)]
    pub counts: Vec<(String, u32)>,
    /// How to reach drover.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `web=3` as (`web`, 3).
fn scale_count(text: &str) -> Result<(String, u32), String> {
    let (name, n) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=N, e.g. web=3"))?;
    let n = n
        .trim()
        .parse::<u32>()
        .map_err(|e| format!("{text:?}: the count {n:?} is not a number: {e}"))?;
    if name.trim().is_empty() {
        return Err(format!("{text:?}: no process name"));
    }
    Ok((name.trim().to_string(), n))
}

/// Options of `drover tui`.
#[derive(Debug, Args)]
pub struct TuiArgs {
    /// How to reach drover.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Capture the mouse (off by default, so the terminal's own selection works).
    #[arg(long)]
    pub mouse: bool,
}

/// Options of `drover attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The instance: `repl.1`, or `repl` when it has one.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The keys that detach, comma-separated: ctrl-X, or one character each.
    #[arg(long, value_name = "KEYS", default_value = "ctrl-]")]
    pub detach_keys: String,
    /// Take the terminal over from a client already attached.
    #[arg(long)]
    pub steal: bool,
    /// How to reach drover.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Options of `drover send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The process: `repl` (every instance) or `repl.1`.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The text to type; Enter follows it unless --no-enter.
    #[arg(value_name = "TEXT", required_unless_present = "key")]
    pub text: Option<String>,
    /// Keys to type after the text: ctrl-c, ctrl-d, enter, tab, esc, up, ... (repeatable).
    #[arg(long, value_name = "KEY")]
    pub key: Vec<String>,
    /// Do not press Enter after the text.
    #[arg(short = 'n', long)]
    pub no_enter: bool,
    /// How to reach drover.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// How to reach a running drover.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The control socket [default: .drover.sock in the current folder].
    #[arg(short = 's', long, value_name = "PATH", env = "DROVER_SOCKET")]
    pub socket: Option<PathBuf>,
}

/// Options of `drover ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// How to reach drover.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The failure digest: each process's result, and the last lines of the failed.
    #[arg(long)]
    pub digest: bool,
}

/// Options of `drover stop` and `drover restart`.
#[derive(Debug, Args)]
pub struct NamesArgs {
    /// Processes: `web` (every instance) or `web.2`.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    /// How to reach drover.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Options of `drover stop`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// What to stop, and how to reach drover.
    #[command(flatten)]
    pub names: NamesArgs,
    /// Stop them even while running processes depend on them.
    #[arg(long)]
    pub force: bool,
}

/// Options of `drover restart`.
#[derive(Debug, Args)]
pub struct RestartArgs {
    /// What to restart, and how to reach drover.
    #[command(flatten)]
    pub names: NamesArgs,
    /// Return once they are ready again, or fail with the reason.
    #[arg(long)]
    pub wait: bool,
}

/// Options of `drover kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// The process: `web` (every instance) or `web.2`.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The signal: HUP, USR1, SIGTERM, 9, …
    #[arg(value_name = "SIGNAL")]
    pub signal: String,
    /// How to reach drover.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Options of `drover logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Only these processes: `web` or `web.2` [default: all].
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// How many recent lines (after filtering) [default: 100; all with --since].
    #[arg(short = 'n', long)]
    pub lines: Option<usize>,
    /// Keep printing new lines until drover exits.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only lines from this time on: a duration ago (10m, 2h), an RFC 3339 time, or HH:MM[:SS] today.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only lines up to this time (as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only lines matching this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub grep: Option<String>,
    /// --grep ignores case.
    #[arg(short = 'i', long)]
    pub ignore_case: bool,
    /// One JSON object a line: time, process, stream, line.
    #[arg(long)]
    pub json: bool,
    /// The log files to read older lines from [default: the running drover's log_dir]; without a running drover, the files alone.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// How to reach drover.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Options of `drover wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Only these processes: `web` (every instance) or `web.2` [default: all].
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Give up after this long: seconds, or 500ms, 2s, 1m [default: 60s].
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// How to reach drover.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Where the app is and how many of what to run: shared by start, check, run and export.
#[derive(Debug, Clone, Args)]
pub struct ProjectArgs {
    /// The Procfile to read.
    #[arg(short = 'f', long, value_name = "FILE", default_value = "Procfile")]
    pub procfile: PathBuf,
    /// .env files to load: repeatable, or comma-separated (a.env,b.env); default: .env in the root, when present.
    #[arg(short = 'e', long = "env", value_name = "FILE", value_delimiter = ',')]
    pub env: Vec<PathBuf>,
    /// Working directory of the processes; default: the Procfile's folder.
    #[arg(short = 'd', long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// How many of each process to run, e.g. all=1,web=2,worker=0.
    #[arg(short = 'm', long, value_name = "FORMATION")]
    pub formation: Option<String>,
    /// Base port: PORT = base + 100 × process index + instance index [default: PORT from .env, else from the environment, else drover.toml's port, else 5000].
    #[arg(short = 'p', long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Time between the stop signal and SIGKILL: seconds, or 500ms, 2s, 1m [default: 5].
    #[arg(short = 't', long, value_name = "DURATION", value_parser = timeout_arg)]
    pub timeout: Option<TimeoutArg>,
    /// drover.toml to read [default: drover.toml beside the Procfile, when present].
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Processes whose end, with any status, stops nothing (one-offs), like `can_die = true`.
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    pub can_die: Vec<String>,
}

/// Options of `drover start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Run only these processes (names from the Procfile).
    #[arg(value_name = "PROCESS")]
    pub processes: Vec<String>,
    /// The app: Procfile, .env, formation, ports.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Leave the time out of each line.
    #[arg(long)]
    pub no_timestamp: bool,
    /// When to color the output (auto: when stdout is a terminal and NO_COLOR is unset).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Text for people, or one JSON object per line for programs [default: text].
    #[arg(long, value_parser = output_modes())]
    pub output: Option<OutputMode>,
    /// The control socket [default: .drover.sock in the root].
    #[arg(short = 's', long, value_name = "PATH", env = "DROVER_SOCKET")]
    pub socket: Option<PathBuf>,
    /// Run each process in a cgroup v2 of its own, so that descendants that
    /// leave the process group are stopped with it (needs a writable cgroup
    /// hierarchy; falls back to process groups, and says so).
    #[arg(long)]
    pub cgroup: bool,
    /// Reload when the Procfile, a .env file or drover.toml changes, as
    /// `drover reload` does (drover.toml: `reload = true`).
    #[arg(long)]
    pub reload: bool,
    /// Open the TUI on the stack (the output goes to the TUI); quitting it
    /// stops the stack, after a confirmation.
    #[arg(long)]
    pub tui: bool,
    /// With --tui: capture the mouse.
    #[arg(long, requires = "tui")]
    pub mouse: bool,
    /// Restart each process that sets no `watch` in drover.toml when a file
    /// under the root changes (.git/ and what .gitignore excludes aside).
    #[arg(long)]
    pub watch: bool,
    /// Write WEB_PORT=… lines here once the ports are chosen (for `run --with`).
    #[arg(long, value_name = "FILE", hide = true)]
    pub ports_file: Option<PathBuf>,
    /// Keep one log file per instance in DIR (and DIR/drover.log), like drover.toml's log_dir.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Reports written at exit (also after Ctrl-C or a signal).
    #[command(flatten)]
    pub reports: ReportArgs,
    /// Terminals: a pty per process, colors through pipes.
    #[command(flatten)]
    pub terminal: TerminalArgs,
}

/// `--report` and `--junit`: what CI systems show.
#[derive(Debug, Clone, Default, Args)]
pub struct ReportArgs {
    /// Write the digest as Markdown here at exit; with GITHUB_STEP_SUMMARY set, append it there too.
    #[arg(long, value_name = "FILE.md")]
    pub report: Option<PathBuf>,
    /// Write JUnit XML here at exit: one testcase per process instance, a failure for each FAILED one.
    #[arg(long, value_name = "FILE.xml")]
    pub junit: Option<PathBuf>,
}

/// How the processes see a terminal: shared by start and check.
#[derive(Debug, Clone, Default, Args)]
pub struct TerminalArgs {
    /// Run every process on a pseudo-terminal of its own (like `tty = true`
    /// in drover.toml): programs keep their colors and line buffering, and
    /// `drover attach` can type into them.
    #[arg(long)]
    pub tty: bool,
    /// Set FORCE_COLOR=1 and CLICOLOR_FORCE=1 for every process without a
    /// pty (unless already set), so that programs that check them keep
    /// their colors through pipes (like `force_color = true`).
    #[arg(long)]
    pub force_color: bool,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Color when stdout is a terminal and NO_COLOR is not set.
    Auto,
    /// Always color.
    Always,
    /// Never color.
    Never,
}

/// Options of `drover check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The app: Procfile, .env, formation, ports.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Show environment values (hidden by default).
    #[arg(long)]
    pub show_env: bool,
    /// Terminals, as `start` would be given them.
    #[command(flatten)]
    pub terminal: TerminalArgs,
}

/// Options of `drover run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The app: Procfile, .env, formation, ports.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Start these processes (and what they depend on) first, wait until
    /// they are ready (the deadline is --timeout, default 60s), run the
    /// command with their ports (WEB_PORT, WEB_PORT_HTTP), then stop them;
    /// exit with the command's status, or 3 if a service failed.
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    pub with: Vec<String>,
    /// Reports of the services (with --with), written when they stop.
    #[command(flatten)]
    pub reports: ReportArgs,
    /// The command and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

/// Options of `drover export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The target format.
    #[arg(value_enum)]
    pub format: ExportFormat,
    /// Where to write: a folder (systemd, kubernetes) or a file (supervisord).
    #[arg(value_name = "DEST")]
    pub dest: PathBuf,
    /// The app: Procfile, .env, formation, ports.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Name of the app (default: the root folder's name).
    #[arg(short = 'a', long, value_name = "APP")]
    pub app: Option<String>,
    /// User the services run as.
    #[arg(short = 'u', long, value_name = "USER")]
    pub user: Option<String>,
    /// Container image of the Kubernetes Deployments (default: APP:latest).
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// Variables (from .env or drover.toml) that Kubernetes gets in a Secret
    /// instead of the ConfigMap.
    #[arg(long, value_name = "KEY,...", value_delimiter = ',')]
    pub secret: Vec<String>,
    /// Ask Kubernetes for a non-TERM stop signal with lifecycle.stopSignal
    /// (needs the ContainerStopSignals feature gate, Kubernetes 1.33+).
    #[arg(long)]
    pub k8s_stop_signal: bool,
    /// Overwrite files that already exist.
    #[arg(long)]
    pub force: bool,
}

/// `drover export FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// systemd units: APP.target and APP-NAME@.service templates.
    Systemd,
    /// Kubernetes Deployments, Services and a ConfigMap.
    Kubernetes,
    /// A supervisord configuration file.
    Supervisord,
}

/// `--timeout` as given. Text that is no duration is clap's usage error; a
/// number out of range is drover's bad-input error (status 2, said in
/// drover's words by [`StartOptions::from_project`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeoutArg {
    /// A duration from 0 up.
    Duration(Duration),
    /// A number of seconds below 0 (or too large to hold).
    OutOfRange(f64),
}

/// The longest `--timeout`: a day, in seconds.
const MAX_TIMEOUT_SECS: f64 = 86_400.0;

fn timeout_arg(text: &str) -> Result<TimeoutArg, DurationError> {
    match text.parse::<Duration>() {
        Ok(d) => Ok(TimeoutArg::Duration(d)),
        Err(DurationError::OutOfRange { seconds }) => Ok(TimeoutArg::OutOfRange(seconds)),
        Err(e) => Err(e),
    }
}

/// `--output text|json`, each with its help.
fn output_modes() -> impl TypedValueParser<Value = OutputMode> {
    let values = [
        PossibleValue::new(OutputMode::Text.as_str()).help("`HH:MM:SS web.1  | text`"),
        PossibleValue::new(OutputMode::Json.as_str())
            .help("One JSON object a line: `time`, `process`, `stream`, `line`"),
    ];
    PossibleValuesParser::new(values).map(|s| match s.as_str() {
        "json" => OutputMode::Json,
        "text" => OutputMode::Text,
        other => unreachable!("clap admits only the possible values, not {other:?}"),
    })
}

// The conversion lives here, with clap, so that `plan` never reads the
// command line's types.
impl StartOptions {
    /// The options given by the shared command-line arguments, checked.
    pub fn from_project(args: &ProjectArgs) -> Result<Self, ConfigError> {
        let timeout = match args.timeout {
            None => None,
            Some(TimeoutArg::Duration(d)) if d.get().as_secs_f64() <= MAX_TIMEOUT_SECS => {
                Some(d.get())
            }
            Some(TimeoutArg::Duration(d)) => return Err(bad_timeout(d.get().as_secs_f64())),
            Some(TimeoutArg::OutOfRange(seconds)) => return Err(bad_timeout(seconds)),
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
            can_die: args.can_die.clone(),
            tty: false,
            force_color: false,
            watch: false,
        })
    }
}

impl TerminalArgs {
    /// Puts `--tty` and `--force-color` into `opts`.
    pub fn apply(&self, opts: &mut StartOptions) {
        opts.tty |= self.tty;
        opts.force_color |= self.force_color;
    }
}

fn bad_timeout(seconds: f64) -> ConfigError {
    ConfigError::cli(
        "--timeout",
        format!("{seconds} is not a number of seconds from 0 to {MAX_TIMEOUT_SECS}"),
        Some("e.g. -t 5".into()),
    )
}
