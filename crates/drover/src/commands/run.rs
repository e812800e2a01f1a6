//! `drover run`: one command with the app's environment (the .env files and
//! `PORT` = the base port), e.g. `drover run rake db:migrate`; or, as
//! foreman's `run`, a Procfile entry by its name (`drover run release`),
//! with that process's environment (drover.toml's `env`, `PORT`, `PS`) and
//! folder, run as `start` would run it.
//!
//! Owns choosing between `sh -c` and a direct exec, and the environment's
//! assembly when there is no Procfile. drover does not stay around: it
//! replaces itself with the command (`exec`), so the command has drover's
//! pid, its signals (SIGINT, SIGTERM, SIGHUP, any other) reach it directly,
//! and its exit status, or the signal that killed it (a shell shows
//! 128 + signal), is drover's by construction, with nothing to forward and
//! no window where a signal could be lost.

use std::io;
use std::os::unix::process::CommandExt as _;
use std::process::Command;

use crate::cli::{ProjectArgs, RunArgs};
use crate::plan::{self, ConfigError, StartOptions};
use crate::EXIT_BAD_INPUT;

/// Exit status when the command does not exist (as in sh).
pub const EXIT_NOT_FOUND: u8 = 127;
/// Exit status when the command exists but cannot be run (as in sh).
pub const EXIT_CANNOT_RUN: u8 = 126;

/// Runs `drover run`. Returns only if the command could not be started, with
/// drover's exit status; otherwise the command has replaced drover.
pub fn main(args: RunArgs) -> u8 {
    if !args.with.is_empty() {
        return super::run_with::main(args);
    }
    if args.reports.report.is_some() || args.reports.junit.is_some() {
        eprintln!(
            "drover: run: --report and --junit report the services of --with; \
             name them with --with NAME,... or use `drover start --report`"
        );
        return 2;
    }
    if let Some(spec) = procfile_entry(&args) {
        let argv = crate::process::command::invocation(&spec.command).argv();
        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&spec.cwd);
        return exec(command, &spec.command);
    }
    let env = match environment(&args.project) {
        Ok(env) => env,
        Err(e) => {
            eprintln!("drover: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let Some(program) = args.command.first() else {
        // clap requires COMMAND; this is for callers of the library.
        eprintln!("drover: run: give the command to run, e.g. drover run -- rake db:migrate");
        return EXIT_BAD_INPUT;
    };
    // One argument is a command line, read as `start` reads a Procfile
    // command; several are the program and its arguments, as given.
    let argv = if args.command.len() == 1 {
        crate::process::command::invocation(program).argv()
    } else {
        args.command.clone()
    };
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]);
    // A relative program is looked up in the new environment's PATH, so an
    // .env that sets PATH is honoured.
    command.envs(env);
    exec(command, program)
}

/// The first instance of the process named by a lone COMMAND word, when
/// the app's plan has one by that name.
fn procfile_entry(args: &RunArgs) -> Option<crate::plan::ProcessSpec> {
    let [name] = args.command.as_slice() else {
        return None;
    };
    let opts = StartOptions::from_project(&args.project).ok()?;
    let plan = plan::plan(&opts).ok()?;
    plan.specs.into_iter().find(|s| &s.process == name)
}

/// Replaces drover with `command`; returns only if that failed, with the
/// status a shell would give.
fn exec(mut command: Command, program: &str) -> u8 {
    let err = command.exec();
    let (status, why) = match err.kind() {
        io::ErrorKind::NotFound => (EXIT_NOT_FOUND, "command not found".to_owned()),
        io::ErrorKind::PermissionDenied => (EXIT_CANNOT_RUN, "permission denied".to_owned()),
        _ => (EXIT_CANNOT_RUN, err.to_string()),
    };
    eprintln!("drover: cannot run {program:?}: {why}");
    status
}

/// The variables the command gets on top of drover's own environment: those
/// of the .env files as `start` reads them, then `PORT`, the base port (`-p`,
/// else `PORT` from the .env files or the environment, else drover.toml's,
/// else 5000). A process's own `env` in drover.toml is
/// not included: the command belongs to no process.
///
/// The app's files are checked as by `start` when there is a Procfile; with
/// none, the .env files are still read by the same rules (root: `-d`, else
/// the Procfile's folder; files: `-e`, else `ROOT/.env` when present), so
/// `run` works in a folder that only has an .env.
pub fn environment(project: &ProjectArgs) -> Result<Vec<(String, String)>, ConfigError> {
    let opts = StartOptions::from_project(project)?;
    let (env_files, port) = match plan::plan(&opts) {
        Ok(plan) => (plan.env_files, Some(plan.port)),
        Err(_) if !opts.procfile.exists() => {
            let files = plan::env_files(&opts, &plan::root(&opts))?;
            (files, None)
        }
        Err(e) => return Err(e),
    };
    let env = plan::read_env(&env_files)?;
    // Without a Procfile there is no drover.toml to read either.
    let port = match port {
        Some(port) => port,
        None => plan::base_port(opts.port, env.port, None)?.unwrap_or(plan::DEFAULT_PORT),
    };
    let mut env = env.vars;
    env.insert("PORT".into(), port.to_string());
    Ok(env.into_iter().collect())
}
