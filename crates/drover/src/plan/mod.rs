//! From the command line, the Procfile, `drover.toml` and the .env files to a
//! plan: the list of process instances to start, each with its command,
//! environment, working directory, port, stop and restart policy,
//! dependencies and readiness probe.
//!
//! Owns validation of everything the user gave; it starts nothing and
//! imports nothing above it (no supervisor, output or command line). Every
//! error names the file and line or the option at fault, and says what to
//! do.
//!
//! [`plan`] runs the steps in order, one module each: [`sources`] reads the
//! files, [`processes`] merges the Procfile with drover.toml, [`settings`]
//! checks each process's table (with [`ladder`], [`readiness`] and
//! [`dependencies`]), [`formation`] reads `-m`, and [`instances`] assembles
//! ports and environments. The result's types are in [`spec`].

pub mod config_file;
mod dependencies;
mod diff;
pub mod dotenv;
mod formation;
pub mod input;
mod instances;
mod ladder;
mod options;
mod probe_vars;
mod processes;
pub mod procfile;
mod readiness;
mod settings;
mod sockets;
mod sources;
mod spec;
pub mod watching;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::plan::config_file::{Checked, ConfigFile};
use crate::plan::processes::Defined;
use crate::plan::spec::Dependency as Dep;
use crate::types::OutputMode;

pub use crate::plan::diff::{diff, instance_like, Diff};
pub use crate::plan::formation::{parse_formation, Formation};
pub use crate::plan::options::{ConfigError, StartOptions};
pub use crate::plan::readiness::{expand_named_ports, ReadinessError};
pub(crate) use crate::plan::sockets::{resolve_tcp, MAX_SOCKETS};
pub use crate::plan::sockets::{SocketAddr, SocketError, SocketSpec};
pub(crate) use crate::plan::sources::{env_files, read_env, reread_env, root};
pub use crate::plan::spec::WatchSpec;
pub use crate::plan::spec::{
    default_ladder, Backoff, Condition, Dependency, Hooks, KillMode, LogFileSettings, Plan, Probe,
    ProcessSpec, Readiness, RestartPolicy, StopStep,
};

/// Default seconds between the stop signal and SIGKILL.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default base port.
pub const DEFAULT_PORT: u16 = 5000;
/// Default control socket, relative to the root.
pub const DEFAULT_SOCKET: &str = ".drover.sock";

/// Reads and checks everything, and returns the plan; starts nothing.
pub fn plan(opts: &StartOptions) -> Result<Plan, ConfigError> {
    let sources::Sources {
        config_path,
        mut toml,
        entries,
        root,
    } = sources::read(opts)?;
    let env_files = sources::env_files(opts, &root)?;
    let env = sources::read_env(&env_files)?;
    let globals = Globals::read(opts, &toml, &root, env.port)?;
    let defined = processes::define(&entries, &mut toml, &opts.procfile)?;
    let names: Vec<&str> = defined.iter().map(|d| d.name.as_str()).collect();
    processes::check_wanted(&opts.names, &names)?;
    processes::check_can_die(&opts.can_die, &names)?;

    let cx = settings::Context {
        toml: &toml,
        names: &names,
        root: &root,
        timeout: globals.timeout,
        tty_all: opts.tty,
        tty_default: toml.config.tty.unwrap_or(false),
        force_color_all: opts.force_color,
        force_color_default: toml.config.force_color.unwrap_or(false),
        watch_all: opts.watch,
    };
    let settings = defined
        .iter()
        .map(|d| settings::settings(&cx, d))
        .collect::<Result<Vec<_>, _>>()?;
    let deps: Vec<&[Dep]> = settings.iter().map(|s| s.depends_on.as_slice()).collect();
    check_cycles(&toml, &defined, &names, &deps)?;
    let selected = dependencies::select(&opts.names, &names, &deps);
    let formation = parse_formation(opts.formation.as_deref(), &names)?;

    let specs = instances::Instances {
        defined: &defined,
        settings: &settings,
        selected: &selected,
        formation: &formation,
        base_port: globals.base_port,
        env: &env.vars,
        env_files: &env_files,
        can_die: &opts.can_die,
        toml: &toml,
    }
    .specs()?;
    Ok(Plan {
        procfile: opts.procfile.clone(),
        config_file: config_path,
        root,
        env_files,
        port: globals.base_port,
        port_explicit: globals.port_explicit,
        timeout: globals.timeout,
        output: globals.output,
        socket: globals.socket,
        cgroup: globals.cgroup,
        reload: globals.reload,
        log_files: globals.log_files,
        processes: names.iter().map(|n| n.to_string()).collect(),
        specs,
    })
}

/// The settings for the whole app: the options, else drover.toml's, else
/// the defaults.
struct Globals {
    timeout: Duration,
    base_port: u16,
    port_explicit: bool,
    output: Option<OutputMode>,
    socket: PathBuf,
    cgroup: bool,
    reload: bool,
    log_files: Option<LogFileSettings>,
}

impl Globals {
    fn read(
        opts: &StartOptions,
        toml: &ConfigFile,
        root: &Path,
        env_port: Option<u16>,
    ) -> Result<Self, ConfigError> {
        let file = &toml.config;
        let timeout = match (opts.timeout, &file.timeout) {
            (Some(t), _) => t,
            (None, Some(t)) => toml.checked("timeout", t)?.get(),
            (None, None) => DEFAULT_TIMEOUT,
        };
        let output = match &file.output {
            None => None,
            Some(o) => match o.get_ref() {
                Checked::Valid(mode) => Some(*mode),
                Checked::Invalid { given, .. } => {
                    return Err(toml
                        .error(
                            toml.line(o),
                            format!("output: {given} is not an output mode"),
                        )
                        .with_hint("use \"text\" or \"json\"")
                        .into())
                }
            },
        };
        let socket = file
            .socket
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
        let base_port = base_port(opts.port, env_port, file.port)?;
        let log_files = match &file.log_dir {
            None => None,
            Some(dir) => Some(LogFileSettings {
                dir: root.join(dir),
                max_size: match &file.log_max_size {
                    Some(size) => toml.checked("log_max_size", size)?.0.max(1),
                    None => LogFileSettings::DEFAULT_MAX_SIZE,
                },
                keep: file.log_keep.unwrap_or(LogFileSettings::DEFAULT_KEEP),
            }),
        };
        Ok(Globals {
            timeout,
            base_port: base_port.unwrap_or(DEFAULT_PORT),
            port_explicit: base_port.is_some(),
            output,
            socket: root.join(socket),
            cgroup: file.cgroup.unwrap_or(false),
            reload: file.reload.unwrap_or(false),
            log_files,
        })
    }
}

/// The base port, from the first that gives one: `-p`, `PORT` in the .env
/// files, `PORT` in drover's own environment, drover.toml's `port`. The
/// first three are foreman's and honcho's order; drover.toml's `port` only
/// replaces the default of 5000. `None`: none gives one.
pub(crate) fn base_port(
    option: Option<u16>,
    env_file: Option<u16>,
    toml: Option<u16>,
) -> Result<Option<u16>, ConfigError> {
    if option.is_some() || env_file.is_some() {
        return Ok(option.or(env_file));
    }
    match std::env::var("PORT") {
        Ok(value) if !value.is_empty() => match value.parse::<u16>() {
            Ok(port) => Ok(Some(port)),
            Err(_) => Err(ConfigError::cli(
                "PORT",
                format!("drover's environment has PORT={value:?}, not a port from 0 to 65535"),
                Some("unset PORT, or give the base port with -p".into()),
            )),
        },
        _ => Ok(toml),
    }
}

/// Refuses a dependency cycle, naming the line of its first process's table.
fn check_cycles(
    toml: &ConfigFile,
    defined: &[Defined],
    names: &[&str],
    deps: &[&[Dep]],
) -> Result<(), ConfigError> {
    let Some(cycle) = dependencies::find_cycle(names, deps) else {
        return Ok(());
    };
    let line = defined
        .iter()
        .find(|d| d.name == cycle[0])
        .and_then(|d| d.config_line)
        .unwrap_or(1);
    Err(toml
        .error(line, format!("dependency cycle: {}", cycle.join(" -> ")))
        .with_hint("remove one of these depends_on entries")
        .into())
}

#[cfg(test)]
mod tests;
