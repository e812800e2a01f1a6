//! The `drover` binary: parses the command line and runs the command.

use std::process::ExitCode;

use clap::Parser as _;
use drover::cli::{Cli, ClientArgs, Command};
use drover::control::client as control;
use drover::control::protocol::Request;
use drover::control::terminal;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with status 2.
    let cli = Cli::parse();
    let status = match cli.command {
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
        Command::Logs(a) => client(&a.client, |p| control::logs(p, a.names, a.lines, a.follow)),
        Command::Shutdown(a) => client(&a, |p| control::simple(p, Request::Shutdown)),
        Command::Pause(a) => client(&a, |p| control::simple(p, Request::Pause)),
        Command::Resume(a) => client(&a, |p| control::simple(p, Request::Resume)),
        Command::Attach(a) => client(&a.client, |p| {
            let detach = terminal::keys(&a.detach_keys)
                .map_err(|e| control::ClientError::Refused(format!("--detach-keys: {e}")))?;
            terminal::attach(p, a.name, a.steal, (detach, &a.detach_keys))
        }),
        Command::Send(a) => client(&a.client, |p| {
            let input = send_input(a.text.as_deref(), !a.no_enter, &a.key)
                .map_err(control::ClientError::Refused)?;
            terminal::send(p, a.name, input)
        }),
    };
    ExitCode::from(status)
}

/// What `drover send` types: the text, Enter unless told not to, then the keys.
fn send_input(text: Option<&str>, enter: bool, keys: &[String]) -> Result<Vec<u8>, String> {
    let mut input = Vec::new();
    if let Some(text) = text {
        input.extend_from_slice(text.as_bytes());
        if enter {
            input.push(b'\r');
        }
    }
    for k in keys {
        input.extend(terminal::key(k).map_err(|e| format!("--key: {e}"))?);
    }
    Ok(input)
}

/// Runs a control client command; 0 on success, 1 when drover refused or is
/// not running.
fn client(
    args: &ClientArgs,
    f: impl FnOnce(&std::path::Path) -> Result<(), control::ClientError>,
) -> u8 {
    let path = control::socket_path(args.socket.as_deref());
    match f(&path) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("drover: {e}");
            1
        }
    }
}
