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
    /// Base port: PORT = base + 100 × process index + instance index.
    #[arg(short = 'p', long, value_name = "PORT", default_value_t = 5000)]
    pub port: u16,
    /// Seconds between the stop signal and SIGKILL.
    #[arg(short = 't', long, value_name = "SECONDS", default_value_t = 5.0)]
    pub timeout: f64,
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
    /// Text for people, or one JSON object per line for programs.
    #[arg(long, value_enum, default_value_t = OutputMode::Text)]
    pub output: OutputMode,
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
