//! The `drover` binary: parses the command line and runs the command.

use std::process::ExitCode;

use clap::Parser as _;
use drover::cli::{Cli, Command};

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with status 2.
    let cli = Cli::parse();
    let status = match cli.command {
        Command::Start(args) => drover::start::main(args, cli.verbose),
    };
    ExitCode::from(status)
}
