//! The `drover` binary: parses the command line and runs the command.

use std::process::ExitCode;

use clap::Parser as _;
use drover::cli::{Cli, ClientArgs, Command};
use drover::control::client as control;
use drover::control::protocol::Request;
use drover::control::terminal::clean;
use drover::control::tty_client;

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
        Command::Stop(a) => client(&a.names.client, |p| {
            control::simple(
                p,
                Request::Stop {
                    names: a.names.names,
                    force: a.force,
                },
            )
        }),
        Command::Restart(a) => client(&a.names.client, |p| {
            control::simple(
                p,
                Request::Restart {
                    names: a.names.names,
                    wait: a.wait,
                },
            )
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
        Command::Scale(a) => client(&a.client, |p| {
            control::simple(p, Request::Scale { counts: a.counts })
        }),
        Command::Reload(a) => client(&a, |p| control::simple(p, Request::Reload)),
        Command::Pause(a) => client(&a, |p| control::simple(p, Request::Pause)),
        Command::Resume(a) => client(&a, |p| control::simple(p, Request::Resume)),
        Command::Attach(a) => client(&a.client, |p| {
            let detach = tty_client::keys(&a.detach_keys)
                .map_err(|e| control::ClientError::Refused(format!("--detach-keys: {e}")))?;
            tty_client::attach(p, a.name, a.steal, (detach, &a.detach_keys))
        }),
        Command::Send(a) => client(&a.client, |p| {
            let input = send_input(a.text.as_deref(), !a.no_enter, &a.key)
                .map_err(|e| control::ClientError::Refused(e.0))?;
            tty_client::send(p, a.name, input)
        }),
        Command::Tui(a) => drover::tui::main(a),
        Command::Events(a) => client(&a.client, |p| control::events(p, a.names, a.json)),
    };
    ExitCode::from(status)
}

/// What `drover send` types: the text, Enter unless told not to, then the keys.
fn send_input(
    text: Option<&str>,
    enter: bool,
    keys: &[String],
) -> Result<Vec<u8>, tty_client::KeyError> {
    let mut input = Vec::new();
    if let Some(text) = text {
        input.extend_from_slice(text.as_bytes());
        if enter {
            input.push(b'\r');
        }
    }
    for k in keys {
        input.extend(tty_client::key(k).map_err(|e| tty_client::KeyError(format!("--key: {e}")))?);
    }
    Ok(input)
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
