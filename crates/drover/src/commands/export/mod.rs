//! `drover export`: the plan turned into service definitions for systemd,
//! Kubernetes or supervisord, so an app is deployed with the Procfile it is
//! developed with.
//!
//! This module owns what the formats share: the processes grouped from
//! their instances, each with the argv `start` runs and whether it is a
//! one-off, and the options; `checks` checks the names, `write` writes the
//! files without overwriting any unless `--force` is given. Each format's
//! module owns its syntax and its quoting, and returns the files' text; none
//! of them touches the disk. Nothing here starts a process.
//!
//! Every format names an instance by its port (`APP-web@5000.service`,
//! `APP-web-5000`), so `PORT` is exact without arithmetic the target cannot
//! do, and one more instance is started by naming a free port. `PS` is
//! therefore `web.5000` under systemd and supervisord (`web.1` under `drover
//! start`); under Kubernetes it is the pod's name.

mod checks;
mod grouping;
pub mod kubernetes;
pub mod supervisord;
pub mod systemd;
mod write;
mod yaml;

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{ExportArgs, ExportFormat};
use crate::plan::{
    self, ConfigError, Dependency, KillMode, Plan, Probe, Readiness, RestartPolicy, StartOptions,
};
use crate::types::Signal;
use crate::EXIT_BAD_INPUT;

pub use checks::{app_name_from, check_app_name, check_user};
use grouping::absolute_utf8;
pub use grouping::group;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The Procfile, an .env file or an option is wrong (as for `start`).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A value the target format cannot express exactly.
    #[error("{}", Problem { what: &format!("export {format}: {what}"), message, hint })]
    Unrepresentable {
        /// The format: `systemd`, `kubernetes`, `supervisord`.
        format: &'static str,
        /// What cannot be written, e.g. `variable SECRET`.
        what: String,
        /// Why not.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
    /// A bad `-a`, `-u`, `--image` or DEST.
    #[error("{}", Problem { what: option, message, hint })]
    Option {
        /// The option, e.g. `--app`.
        option: &'static str,
        /// What is wrong.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
    /// A file the export would write exists and `--force` was not given.
    #[error("{}: already exists; nothing was written\n  hint: pass --force to overwrite it", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// Writing failed.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl ExportError {
    /// drover's exit status for this error: 2 for bad input, 1 for a failed write.
    pub fn exit_status(&self) -> u8 {
        match self {
            ExportError::Write { .. } => 1,
            _ => EXIT_BAD_INPUT,
        }
    }
}

struct Problem<'a> {
    what: &'a str,
    message: &'a str,
    hint: &'a Option<String>,
}

impl fmt::Display for Problem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.message)?;
        if let Some(h) = self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// A value `format` cannot express.
pub(crate) fn unrepresentable(
    format: &'static str,
    what: impl Into<String>,
    message: impl Into<String>,
    hint: Option<&str>,
) -> ExportError {
    ExportError::Unrepresentable {
        format,
        what: what.into(),
        message: message.into(),
        hint: hint.map(str::to_owned),
    }
}

fn bad_option(option: &'static str, message: impl Into<String>, hint: Option<&str>) -> ExportError {
    ExportError::Option {
        option,
        message: message.into(),
        hint: hint.map(str::to_owned),
    }
}

/// What every exporter is given: the app, checked, with its processes.
#[derive(Debug, Clone)]
pub struct App {
    /// The app's name: `[A-Za-z0-9][A-Za-z0-9_.-]*`.
    pub name: String,
    /// The user the processes run as (`-u`), checked by [`check_user`].
    pub user: Option<String>,
    /// The container image (`--image`); default `APP:latest`.
    pub image: String,
    /// The variables Kubernetes gets in a Secret (`--secret`), each a
    /// variable of some process.
    pub secrets: Vec<String>,
    /// Whether a non-TERM stop signal is asked for with Kubernetes'
    /// `lifecycle.stopSignal` (`--k8s-stop-signal`).
    pub k8s_stop_signal: bool,
    /// The app's root folder, absolute and UTF-8.
    pub root: String,
    /// The Procfile the processes came from, for the files' headers.
    pub procfile: String,
    /// The processes with at least one instance, in plan order.
    pub processes: Vec<Process>,
}

/// One process of the Procfile and its instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// `web`.
    pub name: String,
    /// The shell command, as the Procfile gives it.
    pub command: String,
    /// The program and its arguments exactly as `start` runs the command
    /// (`process::command::invocation`): its words when the shell would change nothing,
    /// else `/bin/sh -c SCRIPT`, with `exec` in front of one simple command
    /// so the shell replaces itself and the service's main process is the
    /// program's own.
    pub argv: Vec<String>,
    /// The variables every instance gets, without `PORT` and `PS`.
    pub env: Vec<(String, String)>,
    /// The instances' ports, consecutive and ascending.
    pub ports: Vec<u16>,
    /// Its working directory, absolute and UTF-8.
    pub cwd: String,
    /// The processes it waits for under `drover start` (drover.toml's
    /// `depends_on`), each with its condition.
    pub depends_on: Vec<Dependency>,
    /// The signal that asks it to stop: the stop ladder's first.
    pub stop_signal: Signal,
    /// Time between the stop signal and SIGKILL: the ladder's waits before
    /// its SIGKILL. A longer ladder (`INT`, wait, `TERM`, wait, `KILL`) has
    /// no equivalent in the formats: it becomes its first signal and this
    /// sum, so a process gets at least the time it had under `drover start`.
    pub stop_timeout: Duration,
    /// Whether it is started again after it ends.
    pub restart: RestartPolicy,
    /// When it counts as ready under `drover start`: its first instance's
    /// probe (every Kubernetes replica has that instance's `PORT`).
    pub ready: Option<Readiness>,
    /// It runs to its end once rather than serving: another process waits
    /// for it to exit 0 (`exited_ok`), or its end stops nothing (`can_die`)
    /// and it is not restarted whenever it ends. It becomes a Job, a
    /// oneshot unit.
    pub one_off: bool,
    /// Its named ports (`ports = ["metrics"]`), which `start` allocates free
    /// and no format can: the files say so.
    pub named_ports: Vec<String>,
    /// Its listening sockets (`sockets = [...]`): each name and the
    /// address with the first instance's port as `%i` (systemd's instance
    /// name, which is the port), or the path of a Unix socket.
    pub sockets: Vec<(String, String)>,
    /// Which processes its stop signals reach (drover.toml's `kill_mode`).
    pub kill_mode: KillMode,
}

impl Process {
    /// The first instance's port (`PORT` where every instance shares one).
    pub fn base_port(&self) -> u16 {
        *self
            .ports
            .first()
            .expect("a process is only exported with at least one instance")
    }

    /// [`Process::argv`] with a relative program path (`./bin/web`) made
    /// absolute against the working directory, where `start` finds it:
    /// systemd accepts only an absolute path or a bare name, and
    /// supervisord looks for the program from its own folder.
    pub fn argv_from_cwd(&self) -> Vec<String> {
        let mut argv = self.argv.clone();
        if let Some(program) = argv.first_mut() {
            if program.contains('/') && !program.starts_with('/') {
                *program = lexical_join(&self.cwd, program);
            }
        }
        argv
    }

    /// The restart policy in force: its own, except that a one-off that ran
    /// to its end with status 0 is done, so `always` becomes `on-failure`
    /// (systemd refuses `Restart=always` for a oneshot unit, and a Job's pods
    /// restart only on failure).
    pub fn restart_in_force(&self) -> RestartPolicy {
        match self.restart {
            RestartPolicy::Always if self.one_off => RestartPolicy::OnFailure,
            r => r,
        }
    }

    /// What the files of a format without socket activation must say.
    pub(crate) fn socket_note(&self) -> Option<String> {
        (!self.sockets.is_empty()).then(|| {
            "drover start binds this process's sockets and passes them (LISTEN_FDS); \
             this format cannot: the program must listen itself"
                .to_owned()
        })
    }

    /// What its files must say they leave out: a note per named port.
    pub(crate) fn named_port_note(&self) -> Option<String> {
        if self.named_ports.is_empty() {
            return None;
        }
        // As `plan` names them: uppercase, other characters `_`.
        let env_name = |name: &str| -> String {
            name.chars()
                .map(|c| match c {
                    c if c.is_ascii_alphanumeric() => c.to_ascii_uppercase(),
                    _ => '_',
                })
                .collect()
        };
        let vars: Vec<String> = self
            .named_ports
            .iter()
            .map(|n| format!("PORT_{}", env_name(n)))
            .collect();
        Some(format!(
            "drover start gives {} a free port (and its dependents {}_PORT_...); \
             no file here does: set them in env",
            vars.join(", "),
            env_name(&self.name)
        ))
    }

    /// Whether it serves on `PORT`: it is named `web`, or its command
    /// mentions `$PORT` or `${PORT}` (foreman's and Heroku's convention).
    pub fn takes_port(&self) -> bool {
        self.name == "web" || mentions_port(&self.command)
    }
}

/// `base/rel` without `.` parts, each `..` taking the part before it away
/// (systemd refuses a program path that is not normalized).
fn lexical_join(base: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn mentions_port(command: &str) -> bool {
    command.contains("${PORT}")
        || command.match_indices("$PORT").any(|(i, m)| {
            !command[i + m.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Runs `drover export` and returns drover's exit status.
pub fn main(args: ExportArgs) -> u8 {
    match export(&args) {
        Ok(written) => {
            let mut out = io::stdout().lock();
            for path in written {
                // A closed stdout loses only this report; the files are written.
                if writeln!(out, "wrote {}", path.display()).is_err() {
                    break;
                }
            }
            0
        }
        Err(e) => {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            // ConfigError's own text already is the whole story.
            if !matches!(e, ExportError::Config(_)) {
                while let Some(s) = source {
                    message.push_str(&format!(": {s}"));
                    source = s.source();
                }
            }
            eprintln!("drover: {message}");
            e.exit_status()
        }
    }
}

/// Reads the app, renders `args.format` and writes it; returns the files written.
pub fn export(args: &ExportArgs) -> Result<Vec<PathBuf>, ExportError> {
    let opts = StartOptions::from_project(&args.project)?;
    let plan = plan::plan(&opts)?;
    // The formats name an instance by its port: each needs one.
    if let Some(spec) = plan.specs.iter().find(|s| s.port == 0) {
        return Err(bad_option(
            "--port",
            format!("{} would get a port above 65535", spec.name),
            Some("choose a lower base port with -p, or run instances of fewer entries (-m)"),
        ));
    }
    let app = app(&plan, args)?;
    let files = render(args.format, &app)?;
    let targets: Vec<(PathBuf, String)> = match args.format {
        ExportFormat::Systemd | ExportFormat::Kubernetes => files
            .into_iter()
            .map(|(name, text)| (args.dest.join(name), text))
            .collect(),
        ExportFormat::Supervisord => {
            let [(_, text)] = <[_; 1]>::try_from(files)
                .expect("the supervisord exporter renders exactly one file");
            vec![(args.dest.clone(), text)]
        }
    };
    write::write_files(&args.dest, args.format, &targets, args.force)?;
    Ok(targets.into_iter().map(|(p, _)| p).collect())
}

/// The files of `format` for `app`: (file name, text).
pub fn render(format: ExportFormat, app: &App) -> Result<Vec<(String, String)>, ExportError> {
    match format {
        ExportFormat::Systemd => systemd::render(app),
        ExportFormat::Kubernetes => kubernetes::render(app),
        ExportFormat::Supervisord => {
            supervisord::render(app).map(|text| vec![(String::new(), text)])
        }
    }
}

/// Checks the options and groups the plan's instances by process.
pub fn app(plan: &Plan, args: &ExportArgs) -> Result<App, ExportError> {
    let root = fs::canonicalize(&plan.root).map_err(|e| {
        bad_option(
            "--root",
            format!("cannot resolve {}: {e}", plan.root.display()),
            None,
        )
    })?;
    let name = match &args.app {
        Some(name) => check_app_name(name)?,
        None => app_name_from(&root)?,
    };
    if let Some(user) = &args.user {
        check_user(user)?;
    }
    let image = match &args.image {
        Some(image) => checks::check_image(image)?,
        None => format!("{}:latest", name.to_ascii_lowercase()),
    };
    let root = absolute_utf8(&root)?;
    let processes = group(plan, format_name(args.format))?;
    check_kubernetes_options(args, &processes)?;
    Ok(App {
        name,
        user: args.user.clone(),
        image,
        secrets: args.secret.clone(),
        k8s_stop_signal: args.k8s_stop_signal,
        root,
        procfile: plan.procfile.display().to_string(),
        processes,
    })
}

/// `--secret` and `--k8s-stop-signal` are Kubernetes' alone, and each
/// secret must be a variable of the app.
fn check_kubernetes_options(args: &ExportArgs, processes: &[Process]) -> Result<(), ExportError> {
    if args.format != ExportFormat::Kubernetes {
        let given = [
            ("--secret", !args.secret.is_empty()),
            ("--k8s-stop-signal", args.k8s_stop_signal),
        ];
        if let Some((option, _)) = given.iter().find(|(_, given)| *given) {
            return Err(bad_option(
                option,
                format!("only the kubernetes export takes {option}"),
                Some("drop it, or export to kubernetes"),
            ));
        }
    }
    for key in &args.secret {
        let known = processes
            .iter()
            .any(|p| p.env.iter().any(|(k, _)| k == key));
        if !known {
            return Err(bad_option(
                "--secret",
                format!("{key:?} is not a variable of any process"),
                Some("name keys from .env or drover.toml's env; PORT and PS are not secret"),
            ));
        }
    }
    Ok(())
}

/// The format's name as the command line spells it.
pub fn format_name(format: ExportFormat) -> &'static str {
    match format {
        ExportFormat::Systemd => "systemd",
        ExportFormat::Kubernetes => "kubernetes",
        ExportFormat::Supervisord => "supervisord",
    }
}

/// The stop signal's name, or the error saying `format` cannot send it.
pub(crate) fn stop_signal_name(
    format: &'static str,
    p: &Process,
) -> Result<&'static str, ExportError> {
    p.stop_signal.name().ok_or_else(|| {
        unrepresentable(
            format,
            format!("process {}", p.name),
            format!("stop signal {} has no name drover knows", p.stop_signal),
            Some("use TERM, INT, QUIT, HUP, USR1, USR2 or KILL"),
        )
    })
}

/// A readiness probe in a few words, for the files' comments.
pub(crate) fn probe_name(probe: &Probe) -> String {
    match probe {
        Probe::Tcp(address) => format!("tcp {address}"),
        Probe::Http { address, path } => format!("http {address}{path}"),
        Probe::Command(c) => format!("command {c}"),
        Probe::Log(re) => format!("an output line matching {re}"),
        Probe::Notify => "READY=1 on $NOTIFY_SOCKET".to_owned(),
    }
}

/// Whole seconds, rounded up: the formats that count in seconds must not
/// cut a grace period short.
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// `text` for a one-line comment in a generated file: control characters
/// (a newline would end the comment) become `?`.
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_mentions() {
        assert!(mentions_port("serve -p $PORT"));
        assert!(mentions_port("serve --port=${PORT}"));
        assert!(mentions_port("serve :$PORT/x"));
        assert!(!mentions_port("echo $PORTS"));
        assert!(!mentions_port("echo $PORT_X"));
        assert!(!mentions_port("worker"));
    }

    #[test]
    fn relative_programs_are_found_from_the_working_directory() {
        assert_eq!(lexical_join("/srv/app", "./bin/web"), "/srv/app/bin/web");
        assert_eq!(lexical_join("/srv/app/", "../x//y/./z"), "/srv/x/y/z");
        assert_eq!(lexical_join("/", "a"), "/a");
    }

    #[test]
    fn rounding_up_seconds() {
        assert_eq!(ceil_secs(Duration::from_secs(5)), 5);
        assert_eq!(ceil_secs(Duration::from_millis(5001)), 6);
        assert_eq!(ceil_secs(Duration::ZERO), 0);
    }
}
