//! The `drover` binary: parses the command line and runs the command.

use std::process::ExitCode;

use clap::Parser as _;
use drover::cli::{Cli, Command};

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with status 2.
    let cli = Cli::parse();
    let status = match cli.command {
        Command::Start(args) => drover::start::main(args, cli.verbose),
        Command::Check(_) | Command::Run(_) | Command::Export(_) => {
            eprintln!("drover: this command is not available yet");
            1
        }
    };
    ExitCode::from(status)
}
