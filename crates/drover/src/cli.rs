//! The command line: clap definitions and nothing else.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::output::format::OutputMode;

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
    Stop(NamesArgs),
    /// Restart processes of a running drover; a stopped one is started.
    Restart(NamesArgs),
    /// Send a signal to a process of a running drover.
    Kill(KillArgs),
    /// Show recent output of a running drover, and follow it with -f.
    Logs(LogsArgs),
    /// Stop every process of a running drover and make it exit.
    Shutdown(ClientArgs),
    /// Pause every process of a running drover (SIGTSTP) and its timers.
    Pause(ClientArgs),
    /// Resume every paused process (SIGCONT).
    Resume(ClientArgs),
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
    /// How many recent lines.
    #[arg(short = 'n', long, default_value_t = 100)]
    pub lines: usize,
    /// Keep printing new lines until drover exits.
    #[arg(short = 'f', long)]
    pub follow: bool,
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
    /// An .env file to load (repeatable); default: .env in the root, when present.
    #[arg(short = 'e', long = "env", value_name = "FILE")]
    pub env: Vec<PathBuf>,
    /// Working directory of the processes; default: the Procfile's folder.
    #[arg(short = 'd', long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// How many of each process to run, e.g. all=1,web=2,worker=0.
    #[arg(short = 'm', long, value_name = "FORMATION")]
    pub formation: Option<String>,
    /// Base port: PORT = base + 100 × process index + instance index [default: 5000].
    #[arg(short = 'p', long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Seconds between the stop signal and SIGKILL [default: 5].
    #[arg(short = 't', long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// drover.toml to read [default: drover.toml beside the Procfile, when present].
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<PathBuf>,
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
    #[arg(long, value_enum)]
    pub output: Option<OutputMode>,
    /// The control socket [default: .drover.sock in the root].
    #[arg(short = 's', long, value_name = "PATH", env = "DROVER_SOCKET")]
    pub socket: Option<PathBuf>,
    /// Run each process in a cgroup v2 of its own, so that descendants that
    /// leave the process group are stopped with it (needs a writable cgroup
    /// hierarchy; falls back to process groups, and says so).
    #[arg(long)]
    pub cgroup: bool,
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
}

/// Options of `drover run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The app: Procfile, .env, formation, ports.
    #[command(flatten)]
    pub project: ProjectArgs,
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
