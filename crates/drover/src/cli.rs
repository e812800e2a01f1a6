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
}

/// Options of `drover start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Run only these processes (names from the Procfile).
    #[arg(value_name = "PROCESS")]
    pub processes: Vec<String>,
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
