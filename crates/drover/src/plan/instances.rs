//! The instances to run: each selected process times its count, with its
//! `PORT` (foreman's: base + 100 × process index + instance index) and its
//! environment (.env files, then drover.toml's `env`, then `PORT` and `PS`),
//! and its readiness probe with those variables put in.

use std::collections::{BTreeMap, BTreeSet};

use crate::plan::config_file::ConfigFile;
use crate::plan::formation::Formation;
use crate::plan::input::chain;
use crate::plan::options::ConfigError;
use crate::plan::probe_vars::Var;
use crate::plan::processes::Defined;
use crate::plan::settings::Settings;
use crate::plan::spec::ProcessSpec;

/// What every instance is built from.
pub(super) struct Instances<'a> {
    /// The processes, in plan order.
    pub defined: &'a [Defined],
    /// Their settings, in the same order.
    pub settings: &'a [Settings],
    /// The processes to run; empty: all.
    pub selected: &'a BTreeSet<String>,
    /// The counts.
    pub formation: &'a Formation,
    /// The base port.
    pub base_port: u16,
    /// The variables of the .env files.
    pub env: &'a BTreeMap<String, String>,
    /// The .env files read.
    pub env_files: &'a [std::path::PathBuf],
    /// The processes `--can-die` names.
    pub can_die: &'a [String],
    /// drover.toml, to name the line of a probe that cannot be expanded.
    pub toml: &'a ConfigFile,
}

impl Instances<'_> {
    /// The variables of the named ports `s` gets at the start: its own
    /// (`PORT_HTTP`) and its dependencies' (`WEB_PORT_HTTP`).
    fn named_port_vars(&self, s: &Settings) -> Vec<String> {
        let own = s.ports.iter().map(|p| format!("PORT_{}", env_name(p)));
        let theirs = s.depends_on.iter().flat_map(|dep| {
            let ports = self
                .defined
                .iter()
                .zip(self.settings)
                .find(|(d, _)| d.name == dep.process)
                .map_or(&[][..], |(_, s)| &s.ports[..]);
            ports
                .iter()
                .map(|p| format!("{}_PORT_{}", env_name(&dep.process), env_name(p)))
        });
        own.chain(theirs).collect()
    }

    /// Every instance, in plan order; at least one.
    pub fn specs(&self) -> Result<Vec<ProcessSpec>, ConfigError> {
        let mut specs = Vec::new();
        debug_assert_eq!(self.defined.len(), self.settings.len());
        for (index, (d, s)) in self.defined.iter().zip(self.settings).enumerate() {
            if !self.selected.is_empty() && !self.selected.contains(&d.name) {
                continue;
            }
            let count = self.formation.count_or(&d.name, s.instances);
            for i in 0..count {
                specs.push(self.instance(index, d, s, i + 1)?);
            }
        }
        if specs.is_empty() {
            return Err(ConfigError::cli(
                "--formation",
                "the formation runs no process (every count is 0)",
                Some("give at least one process a count above 0, e.g. -m all=1".into()),
            ));
        }
        Ok(specs)
    }

    fn instance(
        &self,
        index: usize,
        d: &Defined,
        s: &Settings,
        instance: u32,
    ) -> Result<ProcessSpec, ConfigError> {
        // Past 65535 there is no port to give: the instance gets no PORT
        // (0 here), which stops nothing that does not use it; `start` says
        // which instances, and the exports refuse it.
        let port = u32::from(self.base_port) + 100 * index as u32 + instance - 1;
        let port = u16::try_from(port).unwrap_or(0);
        let name = format!("{}.{instance}", d.name);
        let mut vars: BTreeMap<String, String> = self.env.clone();
        vars.extend(s.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        if port != 0 {
            vars.insert("PORT".into(), port.to_string());
        }
        vars.insert("PS".into(), name.clone());
        // What `$NAME` stands for in a probe or a socket: a named port is
        // known only once allocated at the start.
        let later = self.named_port_vars(s);
        let lookup = |key: &str| {
            if later.iter().any(|l| l == key) {
                Var::Later
            } else if let Some(v) = vars.get(key) {
                Var::Value(v.clone())
            } else {
                std::env::var(key).map_or(Var::Unknown, Var::Value)
            }
        };
        let ready = match &s.ready {
            None => None,
            Some((template, line)) => {
                let ready = template.expand(&lookup).map_err(|e| {
                    self.toml
                        .error(*line, format!("{name}: ready: {}", chain(&e)))
                        .with_hint(
                            "a probe sees its instance's variables: the .env files, env, \
                             PORT, PS and named ports, then drover's own environment",
                        )
                })?;
                Some(ready)
            }
        };
        let sockets = {
            let (templates, line) = &s.sockets;
            crate::plan::sockets::expand(templates, &d.name, &s.cwd, &lookup).map_err(|e| {
                self.toml
                    .error(*line, format!("{name}: sockets: {}", chain(&e)))
                    .with_hint(
                        "a socket sees its instance's variables: the .env files, env, \
                         PORT, PS and named ports, then drover's own environment",
                    )
            })?
        };
        Ok(ProcessSpec {
            name,
            process: d.name.clone(),
            index,
            instance,
            command: d.command.clone(),
            env: vars.into_iter().collect(),
            cwd: s.cwd.clone(),
            port,
            stop_ladder: s.stop_ladder.clone(),
            restart: s.restart,
            backoff: s.backoff,
            max_restarts: s.max_restarts,
            depends_on: s.depends_on.clone(),
            ready,
            named_ports: s.ports.iter().map(|n| (n.clone(), 0)).collect(),
            can_die: s.can_die || self.can_die.contains(&d.name),
            kill_mode: s.kill_mode,
            env_files: self.env_files.to_vec(),
            dotenv_keys: self
                .env
                .keys()
                .filter(|k| !s.env.iter().any(|(o, _)| o == *k) && *k != "PORT" && *k != "PS")
                .cloned()
                .collect(),
            tty: s.tty,
            force_color: s.force_color,
            sockets,
            watch: s.watch.clone(),
            restart_on_dependency: s.restart_on_dependency,
            hooks: s.hooks.clone(),
            autostart: s.autostart,
        })
    }
}

/// A process or port name as a variable name, as process::ports gives them:
/// `web-api` is `WEB_API`.
fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() => c.to_ascii_uppercase(),
            _ => '_',
        })
        .collect()
}
