//! Reading the app's files: the drover.toml, the Procfile and the .env
//! files, from the places the options name or the default ones.
//!
//! Owns where each file is looked for; the parsers own their formats.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::plan::config_file::ConfigFile;
use crate::plan::dotenv;
use crate::plan::input::{self, InputError};
use crate::plan::options::{ConfigError, StartOptions};
use crate::plan::procfile::{self, ProcfileEntry};

/// The Procfile and drover.toml as read, and the root they run in.
#[derive(Debug)]
pub(super) struct Sources {
    /// The drover.toml read, if any.
    pub config_path: Option<PathBuf>,
    /// Its values ([`ConfigFile::absent`] without one).
    pub toml: ConfigFile,
    /// The Procfile's entries; none when drover.toml gives every command
    /// and there is no Procfile.
    pub entries: Vec<ProcfileEntry>,
    /// The processes' working directory.
    pub root: PathBuf,
}

/// Reads drover.toml and the Procfile, and checks the root.
pub(super) fn read(opts: &StartOptions) -> Result<Sources, ConfigError> {
    let procfile_dir = procfile_dir(&opts.procfile);
    let config_path = match &opts.config {
        Some(p) => Some(p.clone()),
        None => {
            let default = procfile_dir.join("drover.toml");
            input::present(&default)?.then_some(default)
        }
    };
    let toml = match &config_path {
        Some(p) => ConfigFile::load(p)?,
        None => ConfigFile::absent(),
    };
    // The Procfile may be left out when drover.toml gives every command.
    let toml_has_commands = toml
        .config
        .processes
        .values()
        .any(|p| p.get_ref().command.is_some());
    let entries = if toml_has_commands && !input::present(&opts.procfile)? {
        Vec::new()
    } else {
        procfile::load(&opts.procfile)?.entries
    };
    let root = root(opts);
    if !root.is_dir() {
        return Err(ConfigError::cli(
            "--root",
            format!("{} is not a directory", root.display()),
            Some(
                "give an existing folder with -d, or leave it out to use the Procfile's folder"
                    .into(),
            ),
        ));
    }
    Ok(Sources {
        config_path,
        toml,
        entries,
        root,
    })
}

/// The folder of the Procfile (`.` for a bare file name).
fn procfile_dir(procfile: &Path) -> PathBuf {
    procfile
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The processes' working directory: `-d`, else the Procfile's folder.
pub(crate) fn root(opts: &StartOptions) -> PathBuf {
    match &opts.root {
        Some(r) => r.clone(),
        None => procfile_dir(&opts.procfile),
    }
}

/// The .env files to read: `-e`, else `ROOT/.env` when present (a symlink
/// there that leads nowhere is an error, not an absent file).
pub(crate) fn env_files(opts: &StartOptions, root: &Path) -> Result<Vec<PathBuf>, InputError> {
    if opts.env_files.is_empty() {
        let default = root.join(".env");
        Ok(input::present(&default)?
            .then_some(default)
            .into_iter()
            .collect())
    } else {
        Ok(opts.env_files.clone())
    }
}

/// The variables of the .env files, and the base port their `PORT` sets.
#[derive(Debug, Default)]
pub(crate) struct EnvVars {
    /// Every variable, a later file's value over an earlier one's.
    pub vars: BTreeMap<String, String>,
    /// `PORT` as the last file to set it gives it, checked to be a port.
    pub port: Option<u16>,
}

/// The environment of `spec` with its .env files read again: their
/// variables as they are now, under what drover.toml and drover set.
pub(crate) fn reread_env(
    spec: &crate::plan::ProcessSpec,
) -> Result<Vec<(String, String)>, InputError> {
    let fresh = read_env(&spec.env_files)?.vars;
    let mut env: BTreeMap<String, String> = spec
        .env
        .iter()
        .filter(|(k, _)| !spec.dotenv_keys.contains(k))
        .cloned()
        .collect();
    for (k, v) in fresh {
        if k != "PORT" && k != "PS" {
            env.entry(k).or_insert(v);
        }
    }
    Ok(env.into_iter().collect())
}

/// The variables of `files`, read in order: a later file overrides an
/// earlier one and sees its values (then drover's own environment) in
/// `${NAME}` expansions.
pub(crate) fn read_env(files: &[PathBuf]) -> Result<EnvVars, InputError> {
    let mut env = EnvVars::default();
    for file in files {
        let lookup = |key: &str| {
            env.vars
                .get(key)
                .cloned()
                .or_else(|| std::env::var(key).ok())
        };
        let vars = dotenv::load(file, &lookup)?;
        for (key, value, line) in vars {
            if key == "PORT" && value.is_empty() {
                env.port = None;
            } else if key == "PORT" {
                env.port = Some(value.parse().map_err(|_| {
                    InputError::new(
                        file,
                        Some(line),
                        format!("PORT = {value:?} is not a port from 0 to 65535"),
                    )
                    .with_hint("PORT here sets the base port; give a number, or remove the line")
                })?);
            }
            env.vars.insert(key, value);
        }
    }
    Ok(env)
}
