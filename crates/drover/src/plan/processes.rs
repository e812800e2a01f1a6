//! The app's processes: the Procfile's entries merged with drover.toml's
//! `[processes.NAME]` tables, and the names the command line picks.

use std::path::Path;

use toml::Spanned;

use crate::plan::config_file::{ConfigFile, ProcessConfig};
use crate::plan::input::InputError;
use crate::plan::options::ConfigError;
use crate::plan::procfile::ProcfileEntry;
use crate::types::ProcessName;

/// A process as defined by the Procfile and drover.toml together.
#[derive(Debug)]
pub(super) struct Defined {
    /// Its name.
    pub name: String,
    /// Its command: drover.toml's, else the Procfile's.
    pub command: String,
    /// Its drover.toml table, if any.
    pub config: Option<ProcessConfig>,
    /// Line of its `[processes.NAME]` table in drover.toml.
    pub config_line: Option<usize>,
}

/// Every process, Procfile order first, then those only in drover.toml (by
/// name). Takes drover.toml's tables out of `toml`.
pub(super) fn define(
    entries: &[ProcfileEntry],
    toml: &mut ConfigFile,
    procfile: &Path,
) -> Result<Vec<Defined>, ConfigError> {
    let mut tables = std::mem::take(&mut toml.config.processes);
    let mut defined: Vec<Defined> = Vec::new();
    for entry in entries {
        let table = tables.remove(&entry.name);
        let config_line = table.as_ref().map(|t| toml.line(t));
        let config = table.map(Spanned::into_inner);
        let command = config
            .as_ref()
            .and_then(|c| c.command.clone())
            .unwrap_or_else(|| entry.command.clone());
        defined.push(Defined {
            name: entry.name.clone(),
            command,
            config,
            config_line,
        });
    }
    for (name, table) in tables {
        defined.push(only_in_toml(toml, procfile, name, table)?);
    }
    if defined.is_empty() {
        return Err(InputError::new(procfile, None, "no processes defined")
            .with_hint("add lines like `web: python -m http.server $PORT`")
            .into());
    }
    Ok(defined)
}

/// A process drover.toml defines that the Procfile does not: its name is
/// checked as the Procfile's are, and it must give a command.
fn only_in_toml(
    toml: &ConfigFile,
    procfile: &Path,
    name: String,
    table: Spanned<ProcessConfig>,
) -> Result<Defined, InputError> {
    let line = toml.line(&table);
    let config = table.into_inner();
    if let Err(e) = ProcessName::new(&name) {
        return Err(toml.error(line, e.to_string()).with_hint(e.hint()));
    }
    let Some(command) = config.command.clone() else {
        return Err(toml
            .error(
                line,
                format!(
                    "process {name:?} has no command here and is not in {}",
                    procfile.display()
                ),
            )
            .with_hint("add `command = \"...\"` to its table, or a line to the Procfile"));
    };
    Ok(Defined {
        name,
        command,
        config: Some(config),
        config_line: Some(line),
    })
}

/// Checks that every process named by `--can-die` exists.
pub(super) fn check_can_die(can_die: &[String], names: &[&str]) -> Result<(), ConfigError> {
    match can_die.iter().find(|w| !names.contains(&w.as_str())) {
        Some(unknown) => Err(ConfigError::cli(
            "--can-die",
            format!("no process named {unknown:?}"),
            Some(format!("the app defines: {}", names.join(", "))),
        )),
        None => Ok(()),
    }
}

/// Checks that every process `wanted` on the command line exists.
pub(super) fn check_wanted(wanted: &[String], names: &[&str]) -> Result<(), ConfigError> {
    match wanted.iter().find(|w| !names.contains(&w.as_str())) {
        Some(unknown) => Err(ConfigError::cli(
            "PROCESS",
            format!("no process named {unknown:?}"),
            Some(format!("the app defines: {}", names.join(", "))),
        )),
        None => Ok(()),
    }
}
