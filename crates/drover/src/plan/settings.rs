//! Each process's settings from its drover.toml table, checked: instances,
//! restart policy and backoff, stop ladder, dependencies, readiness,
//! environment, named ports and working directory.
//!
//! Every error names drover.toml's line, the process and the key.

use std::collections::BTreeMap;

use crate::plan::sockets::{templates, SocketTemplate};
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use crate::plan::config_file::{BackoffConfig, Checked, ConfigFile, ProcessConfig};
use crate::plan::dependencies::depends_on;
use crate::plan::input::{chain, InputError};
use crate::plan::ladder::parse_ladder;
use crate::plan::processes::Defined;
use crate::plan::readiness::{readiness, ReadyTemplate};
use crate::plan::spec::{
    default_ladder, Backoff, Dependency, Hooks, KillMode, RestartPolicy, StopStep, WatchSpec,
};
use crate::plan::watching;
use crate::types::{is_env_var_name, Signal};

/// The most instances one process may have; more is almost surely a typo.
pub const MAX_INSTANCES: u32 = 1000;

/// The shortest restart delay: a smaller `backoff.initial` is raised to it,
/// so that a process failing at once restarts ten times a second at most,
/// not hundreds, and its output stays readable.
pub const MIN_BACKOFF: Duration = Duration::from_millis(100);

/// What the settings of every process are read against.
pub(super) struct Context<'a> {
    /// drover.toml, to name lines.
    pub toml: &'a ConfigFile,
    /// Every process of the app, for `depends_on`.
    pub names: &'a [&'a str],
    /// The root, for `cwd`.
    pub root: &'a Path,
    /// The global stop timeout.
    pub timeout: Duration,
    /// `--tty`: every process on a pty.
    pub tty_all: bool,
    /// drover.toml's global `tty`, for processes that do not set theirs.
    pub tty_default: bool,
    /// `--force-color`: colors asked for through every process's pipes.
    pub force_color_all: bool,
    /// drover.toml's global `force_color`.
    pub force_color_default: bool,
    /// `--watch`: the root watched for every process without `watch`.
    pub watch_all: bool,
}

/// One process's settings; the defaults where drover.toml says nothing.
#[derive(Debug)]
pub(super) struct Settings {
    /// `instances`, which `-m` overrides.
    pub instances: Option<u32>,
    /// `restart`.
    pub restart: RestartPolicy,
    /// `backoff`, its `max` at least its `initial`.
    pub backoff: Backoff,
    /// `max_restarts`.
    pub max_restarts: Option<u32>,
    /// `stop`, or the default ladder from `stop_signal` and `stop_timeout`.
    pub stop_ladder: Vec<StopStep>,
    /// `depends_on`, each on a process of the app.
    pub depends_on: Vec<Dependency>,
    /// `ready`, before each instance's variables are put in, and its line.
    pub ready: Option<(ReadyTemplate, usize)>,
    /// `env`, added to the .env files' variables.
    pub env: BTreeMap<String, String>,
    /// `cwd` under the root, or the root.
    pub cwd: PathBuf,
    /// `ports`: the names of the ports to allocate.
    pub ports: Vec<String>,
    /// `can_die`.
    pub can_die: bool,
    /// `kill_mode`.
    pub kill_mode: KillMode,
    /// `tty`, or the global one; `--tty` sets it for all.
    pub tty: bool,
    /// `force_color`, or the global one; `--force-color` sets it for all.
    /// Never with `tty`: a pty is a terminal already.
    pub force_color: bool,
    /// `sockets`, before each instance's variables are put in, and its line.
    pub sockets: (Vec<SocketTemplate>, usize),
    /// `watch`, `watch_ignore`, `watch_debounce`, or `--watch`.
    pub watch: Option<WatchSpec>,
    /// `restart_on_dependency`.
    pub restart_on_dependency: bool,
    /// `on_ready`, `on_exit`, `on_failure`.
    pub hooks: Hooks,
    /// `autostart` (default true).
    pub autostart: bool,
}

/// The settings of `d`, its keys checked in a fixed order (so the first
/// error reported does not depend on the file's order).
pub(super) fn settings(cx: &Context<'_>, d: &Defined) -> Result<Settings, InputError> {
    let mut s = Settings {
        instances: None,
        restart: RestartPolicy::No,
        backoff: Backoff::default(),
        max_restarts: None,
        stop_ladder: default_ladder(Signal::TERM, cx.timeout),
        depends_on: Vec::new(),
        ready: None,
        env: BTreeMap::new(),
        cwd: cx.root.to_path_buf(),
        ports: Vec::new(),
        can_die: false,
        kill_mode: KillMode::default(),
        tty: false,
        force_color: false,
        sockets: (Vec::new(), 0),
        watch: None,
        restart_on_dependency: false,
        hooks: Hooks::default(),
        autostart: true,
    };
    let config = d.config.as_ref();
    s.tty = cx.tty_all || config.and_then(|c| c.tty).unwrap_or(cx.tty_default);
    s.force_color = !s.tty
        && (cx.force_color_all
            || config
                .and_then(|c| c.force_color)
                .unwrap_or(cx.force_color_default));
    let whole_root = (cx.root, cx.watch_all);
    let Some(c) = config else {
        s.watch = watching::watch(cx.toml, &d.name, None, &s.cwd, whole_root)?;
        return Ok(s);
    };
    let (name, toml) = (d.name.as_str(), cx.toml);
    if let Some(n) = &c.instances {
        s.instances = Some(instances(toml, name, n)?);
    }
    if let Some(r) = &c.restart {
        s.restart = restart(toml, name, r)?;
    }
    if let Some(b) = &c.backoff {
        s.backoff = backoff(toml, name, b)?;
    }
    s.max_restarts = c.max_restarts;
    s.stop_ladder = stop_ladder(toml, name, c, cx.timeout)?;
    if let Some(deps) = &c.depends_on {
        s.depends_on = depends_on(toml, name, deps, cx.names)?;
    }
    if let Some(r) = &c.ready {
        let ready = readiness(r.get_ref())
            .map_err(|e| toml.error(toml.line(r), format!("{name}: ready: {}", chain(&e))))?;
        s.ready = Some((ready, toml.line(r)));
    }
    if let Some(env) = &c.env {
        s.env = env_vars(toml, name, env)?;
    }
    if let Some(ports) = &c.ports {
        s.ports = port_names(toml, name, ports)?;
    }
    if let Some(cwd) = &c.cwd {
        s.cwd = working_dir(toml, name, cwd, cx.root)?;
    }
    if let Some(sockets) = &c.sockets {
        let t = templates(sockets.get_ref()).map_err(|e| {
            toml.error(toml.line(sockets), format!("{name}: sockets: {e}"))
                .with_hint(
                    "e.g. sockets = [\"tcp:127.0.0.1:$PORT\", \"admin=unix:run/admin.sock\"]",
                )
        })?;
        s.sockets = (t, toml.line(sockets));
    }
    s.can_die = c.can_die.unwrap_or(false);
    s.autostart = c.autostart.unwrap_or(true);
    if let Some(mode) = &c.kill_mode {
        s.kill_mode = kill_mode(toml, name, mode)?;
    }
    s.watch = watching::watch(toml, name, Some(c), &s.cwd, whole_root)?;
    s.restart_on_dependency = c.restart_on_dependency.unwrap_or(false);
    s.hooks = Hooks {
        on_ready: hook(toml, name, "on_ready", c.on_ready.as_ref())?,
        on_exit: hook(toml, name, "on_exit", c.on_exit.as_ref())?,
        on_failure: hook(toml, name, "on_failure", c.on_failure.as_ref())?,
    };
    Ok(s)
}

/// A hook command: any shell command but an empty one.
fn hook(
    toml: &ConfigFile,
    name: &str,
    key: &str,
    command: Option<&Spanned<String>>,
) -> Result<Option<String>, InputError> {
    let Some(command) = command else {
        return Ok(None);
    };
    if command.get_ref().trim().is_empty() {
        return Err(toml
            .error(toml.line(command), format!("{name}: {key} is empty"))
            .with_hint("give a shell command, e.g. on_exit = \"echo $DROVER_EVENT_NAME ended\""));
    }
    Ok(Some(command.get_ref().clone()))
}

fn instances(toml: &ConfigFile, name: &str, n: &Spanned<u32>) -> Result<u32, InputError> {
    let count = *n.get_ref();
    if count > MAX_INSTANCES {
        return Err(toml.error(
            toml.line(n),
            format!("{name}: instances = {count} is more than {MAX_INSTANCES}"),
        ));
    }
    Ok(count)
}

fn restart(
    toml: &ConfigFile,
    name: &str,
    r: &Spanned<Checked<RestartPolicy>>,
) -> Result<RestartPolicy, InputError> {
    match r.get_ref() {
        Checked::Valid(policy) => Ok(*policy),
        Checked::Invalid { given, .. } => Err(toml
            .error(
                toml.line(r),
                format!("{name}: restart = {given} is not a restart policy"),
            )
            .with_hint("use \"no\", \"on-failure\" or \"always\"")),
    }
}

fn kill_mode(
    toml: &ConfigFile,
    name: &str,
    m: &Spanned<Checked<KillMode>>,
) -> Result<KillMode, InputError> {
    match m.get_ref() {
        Checked::Valid(mode) => Ok(*mode),
        Checked::Invalid { given, .. } => Err(toml
            .error(
                toml.line(m),
                format!("{name}: kill_mode = {given} is not a kill mode"),
            )
            .with_hint("use \"control-group\" (every signal to the group) or \"mixed\" (stop signals to the main process, SIGKILL to the group)")),
    }
}

fn backoff(toml: &ConfigFile, name: &str, b: &BackoffConfig) -> Result<Backoff, InputError> {
    let mut backoff = Backoff::default();
    for (field, target) in [
        (&b.initial, &mut backoff.initial),
        (&b.max, &mut backoff.max),
        (&b.reset_after, &mut backoff.reset_after),
    ] {
        if let Some(v) = field {
            *target = toml.checked(format_args!("{name}: backoff"), v)?.get();
        }
    }
    backoff.initial = backoff.initial.max(MIN_BACKOFF);
    if backoff.max < backoff.initial {
        backoff.max = backoff.initial;
    }
    Ok(backoff)
}

/// `stop` (a ladder), or `stop_signal` and `stop_timeout` (the default
/// ladder's signal and wait); not both `stop` and `stop_signal`.
fn stop_ladder(
    toml: &ConfigFile,
    name: &str,
    c: &ProcessConfig,
    timeout: Duration,
) -> Result<Vec<StopStep>, InputError> {
    let signal = match &c.stop_signal {
        Some(sig) => toml.checked(format_args!("{name}: stop_signal"), sig)?,
        None => Signal::TERM,
    };
    let timeout = match &c.stop_timeout {
        Some(t) => toml.checked(format_args!("{name}: stop_timeout"), t)?.get(),
        None => timeout,
    };
    let Some(stop) = &c.stop else {
        return Ok(default_ladder(signal, timeout));
    };
    let line = toml.line(stop);
    let ladder = parse_ladder(stop.get_ref(), timeout).map_err(|e| {
        toml.error(line, format!("{name}: stop: {e}"))
            .with_hint("write it as stop = [\"INT\", \"5s\", \"TERM\", \"5s\", \"KILL\"]")
    })?;
    if c.stop_signal.is_some() {
        return Err(toml
            .error(
                line,
                format!("{name}: give either stop or stop_signal, not both"),
            )
            .with_hint("the stop ladder's first signal is the stop signal"));
    }
    Ok(ladder)
}

fn env_vars(
    toml: &ConfigFile,
    name: &str,
    env: &Spanned<BTreeMap<String, String>>,
) -> Result<BTreeMap<String, String>, InputError> {
    for (k, v) in env.get_ref() {
        if !is_env_var_name(k) || v.contains('\0') {
            return Err(toml
                .error(
                    toml.line(env),
                    format!(
                        "{name}: env: {k:?} is not a variable name (or its value holds a NUL byte)"
                    ),
                )
                .with_hint("names are letters, digits and '_', without '='"));
        }
    }
    Ok(env.get_ref().clone())
}

fn port_names(
    toml: &ConfigFile,
    name: &str,
    ports: &Spanned<Vec<String>>,
) -> Result<Vec<String>, InputError> {
    let mut names: Vec<String> = Vec::new();
    for p in ports.get_ref() {
        let ok = !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok || names.contains(p) {
            return Err(toml
                .error(
                    toml.line(ports),
                    format!("{name}: ports: {p:?} is not a port name, or is given twice"),
                )
                .with_hint(
                    "use names of letters, digits and '_', e.g. ports = [\"http\", \"metrics\"]",
                ));
        }
        names.push(p.clone());
    }
    Ok(names)
}

fn working_dir(
    toml: &ConfigFile,
    name: &str,
    cwd: &Spanned<PathBuf>,
    root: &Path,
) -> Result<PathBuf, InputError> {
    let dir = root.join(cwd.get_ref());
    if !dir.is_dir() {
        return Err(toml.error(
            toml.line(cwd),
            format!("{name}: cwd {} is not a directory", dir.display()),
        ));
    }
    Ok(dir)
}
