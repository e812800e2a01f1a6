//! The `drover` binary: parses the command line and runs the command.

use std::process::ExitCode;

use clap::Parser as _;
use drover::cli::{Cli, ClientArgs, Command};
use drover::control::client as control;
use drover::control::protocol::Request;
use drover::control::terminal::clean;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with status 2.
    let cli = Cli::parse();
    let status = match cli.command {
        Command::Start(args) if args.tui => drover::tui::start(&args),
        Command::Start(args) => drover::commands::start::main(args, cli.verbose),
        Command::Check(args) => drover::commands::check::main(args),
        Command::Run(args) => drover::commands::run::main(args),
        Command::Export(args) => drover::commands::export::main(args),
        Command::Ps(a) if a.digest => client(&a.client, |p| control::digest(p, 10)),
        Command::Ps(a) => client(&a.client, |p| control::ps(p, a.json)),
        Command::Stop(a) => client(&a.client, |p| {
            control::simple(p, Request::Stop { names: a.names })
        }),
        Command::Restart(a) => client(&a.client, |p| {
            control::simple(p, Request::Restart { names: a.names })
        }),
        Command::Kill(a) => client(&a.client, |p| {
            control::simple(
                p,
                Request::Kill {
                    name: a.name,
                    signal: a.signal,
                },
            )
        }),
        Command::Wait(a) => drover::commands::wait::main(a),
        Command::Logs(a) => drover::commands::logs::main(a),
        Command::Shutdown(a) => client(&a, |p| control::simple(p, Request::Shutdown)),
        Command::Pause(a) => client(&a, |p| control::simple(p, Request::Pause)),
        Command::Resume(a) => client(&a, |p| control::simple(p, Request::Resume)),
        Command::Tui(a) => drover::tui::main(a),
    };
    ExitCode::from(status)
}

/// Runs a control client command; 0 on success, 1 when drover refused or is
/// not running.
fn client(
    args: &ClientArgs,
    f: impl FnOnce(&[std::path::PathBuf]) -> Result<(), control::ClientError>,
) -> u8 {
    let paths = control::socket_paths(args.socket.as_deref());
    match f(&paths) {
        Ok(()) => 0,
        Err(e) => {
            // The message may quote what the server sent.
            eprintln!("drover: {}", clean(&e.to_string()));
            1
        }
    }
}
