//! `drover.toml`: the optional file beside the Procfile that says more about
//! each process than a Procfile can (restart policy, dependencies, readiness,
//! stop signal) and sets global defaults.
//!
//! Owns the file's schema and turns every problem serde finds into an
//! [`InputError`] naming the file, the line and, for a misspelt key, the key
//! meant. Values that need the process's name in their message (a restart
//! policy, a signal, a duration) are read as [`Checked`] and reported by the
//! plan. It starts nothing and knows nothing of the Procfile; the plan
//! merges the two.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use toml::Spanned;

use crate::plan::input::{self, InputError};
use crate::plan::spec::{Condition, KillMode, RestartPolicy};
use crate::types::{ByteSize, Duration, OutputMode, Signal};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Seconds (or "500ms", "2s", "1m") between the stop signal and SIGKILL.
    pub timeout: Option<Spanned<Checked<Duration>>>,
    /// Base port.
    pub port: Option<u16>,
    /// `text` or `json`.
    pub output: Option<Spanned<Checked<OutputMode>>>,
    /// Control socket path, relative to the root.
    pub socket: Option<PathBuf>,
    /// Run each process in a cgroup of its own (like `--cgroup`).
    pub cgroup: Option<bool>,
    /// Reload when the Procfile, a .env file or drover.toml changes (like
    /// `--reload`).
    pub reload: Option<bool>,
    /// Folder for one log file per instance, relative to the root.
    pub log_dir: Option<PathBuf>,
    /// Size at which a log file is rotated.
    pub log_max_size: Option<Spanned<Checked<ByteSize>>>,
    /// How many rotated files of each log are kept.
    pub log_keep: Option<u32>,
    /// Give every process a pseudo-terminal (like `--tty`), unless its
    /// table says `tty = false`.
    pub tty: Option<bool>,
    /// Ask every process without a pty for colors through its pipes (like
    /// `--force-color`), unless its table says `force_color = false`.
    pub force_color: Option<bool>,
    /// Per-process settings, by process name.
    #[serde(default)]
    pub processes: BTreeMap<String, Spanned<ProcessConfig>>,
}

/// One `[processes.NAME]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessConfig {
    /// The command; overrides the Procfile's, or defines a process the Procfile lacks.
    pub command: Option<String>,
    /// Extra environment variables.
    pub env: Option<Spanned<BTreeMap<String, String>>>,
    /// Working directory, relative to the root.
    pub cwd: Option<Spanned<PathBuf>>,
    /// How many instances (the formation option overrides it).
    pub instances: Option<Spanned<u32>>,
    /// `no`, `on-failure` or `always`.
    pub restart: Option<Spanned<Checked<RestartPolicy>>>,
    /// Restart delays.
    pub backoff: Option<BackoffConfig>,
    /// Give up after this many restarts in a row.
    pub max_restarts: Option<u32>,
    /// `TERM`, `INT`, `SIGQUIT`, `HUP`, … or a number.
    pub stop_signal: Option<Spanned<Checked<Signal>>>,
    /// Overrides the global timeout for this process.
    pub stop_timeout: Option<Spanned<Checked<Duration>>>,
    /// A stop ladder: `["INT", "5s", "TERM", "5s", "KILL"]`.
    pub stop: Option<Spanned<Vec<LadderItem>>>,
    /// `["db"]` (condition `started`) or `{ db = "ready", migrate = "exited_ok" }`.
    pub depends_on: Option<Spanned<DependsOnValue>>,
    /// When the process counts as ready.
    pub ready: Option<Spanned<ReadyValue>>,
    /// Named ports to allocate: `["http", "metrics"]`.
    pub ports: Option<Spanned<Vec<String>>>,
    /// Its end stops nothing (a one-off).
    pub can_die: Option<bool>,
    /// `control-group` (default) or `mixed`.
    pub kill_mode: Option<Spanned<Checked<KillMode>>>,
    /// Run it on a pseudo-terminal.
    pub tty: Option<bool>,
    /// Set `FORCE_COLOR=1` and `CLICOLOR_FORCE=1` for it (without a pty).
    pub force_color: Option<bool>,
    /// Listening sockets drover binds and hands to each start:
    /// `["tcp:127.0.0.1:$PORT", "admin=unix:run/admin.sock"]`.
    pub sockets: Option<Spanned<Vec<String>>>,
    /// Globs and folders, relative to its `cwd`, whose changes restart it.
    pub watch: Option<Spanned<Vec<String>>>,
    /// Globs and folders whose changes it ignores.
    pub watch_ignore: Option<Spanned<Vec<String>>>,
    /// Quiet time after the last change before the restart (default 200ms).
    pub watch_debounce: Option<Spanned<Checked<Duration>>>,
    /// Restart it when a dependency restarted by a watch or `drover restart`
    /// is ready again.
    pub restart_on_dependency: Option<bool>,
    /// A command run (with `sh -c`) each time it becomes ready.
    pub on_ready: Option<Spanned<String>>,
    /// A command run each time its main process ends.
    pub on_exit: Option<Spanned<String>>,
    /// A command run each time it ends with a failure.
    pub on_failure: Option<Spanned<String>>,
    /// Started with the rest (default); `false`: only by `drover restart`.
    pub autostart: Option<bool>,
}

/// `backoff = { initial = "1s", max = "30s", reset_after = "60s" }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffConfig {
    /// Delay before the first restart.
    pub initial: Option<Spanned<Checked<Duration>>>,
    /// The delay doubles up to this.
    pub max: Option<Spanned<Checked<Duration>>>,
    /// A run this long resets the delay and the restart count.
    pub reset_after: Option<Spanned<Checked<Duration>>>,
}

/// `ready = "notify"` or a probe table.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ReadyValue {
    /// `"notify"`: the process says `READY=1` on `$NOTIFY_SOCKET`.
    Word(String),
    /// A probe.
    Probe(ReadyConfig),
}

/// `ready = { tcp = 5432 }`, `{ http = "http://127.0.0.1:8000/health" }`,
/// `{ command = "pg_isready" }` or `{ log = "listening on" }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadyConfig {
    /// A port on 127.0.0.1, or `host:port`, that must accept a connection.
    pub tcp: Option<TcpTarget>,
    /// An `http://` URL whose GET must answer 2xx.
    pub http: Option<String>,
    /// A shell command that must exit 0.
    pub command: Option<String>,
    /// A regular expression an output line must match.
    pub log: Option<String>,
    /// Time between probes (default 250ms).
    pub interval: Option<Checked<Duration>>,
    /// How long the process may take to be ready before it counts as
    /// failed (default 60s for tcp, http and command; none for log).
    pub timeout: Option<Checked<Duration>>,
}

/// A TCP probe target: a port or `host:port`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TcpTarget {
    /// A port on 127.0.0.1 (checked to be from 1 to 65535 by the plan).
    Port(i64),
    /// `host:port`.
    Address(String),
}

/// An item of a stop ladder: a signal (name or number) or a wait. Which one
/// depends on its place in the ladder, so the plan reads it.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LadderItem {
    /// A signal number, or seconds.
    Number(f64),
    /// A signal name or a duration with a unit.
    Text(String),
}

/// The `depends_on` forms.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DependsOnValue {
    /// Names, each with the condition `started`.
    List(Vec<String>),
    /// Name to condition.
    Table(BTreeMap<String, Checked<Condition>>),
}

/// A value read by `T`'s own `Deserialize`. A value `T` refuses is kept with
/// the problem instead of failing the whole file, so that the plan can say
/// which process and key it belongs to, and what to write instead.
#[derive(Debug, Clone, PartialEq)]
pub enum Checked<T> {
    /// `T` read it.
    Valid(T),
    /// `T` refused it.
    Invalid {
        /// The value as a message shows it: a string quoted, `3`, `true`.
        given: String,
        /// Why `T` refused it.
        problem: String,
    },
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Checked<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Read once into a value, so a refusal by `T` leaves it to report.
        let value = toml::Value::deserialize(d)?;
        let given = shown(&value);
        Ok(match T::deserialize(value) {
            Ok(t) => Checked::Valid(t),
            Err(e) => Checked::Invalid {
                given,
                problem: e.message().to_owned(),
            },
        })
    }
}

/// A value as an error message quotes it.
fn shown(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(n) => n.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(_) => "an array".to_owned(),
        toml::Value::Table(_) => "a table".to_owned(),
    }
}

/// A drover.toml as read: the schema's values, and the text to find the
/// line of each.
#[derive(Debug, Default)]
pub struct ConfigFile {
    /// The file's path as the user named it (`drover.toml` when there is none).
    pub path: PathBuf,
    /// The values.
    pub config: FileConfig,
    text: String,
}

impl ConfigFile {
    /// The empty configuration used without a drover.toml.
    pub fn absent() -> Self {
        ConfigFile {
            path: PathBuf::from("drover.toml"),
            ..ConfigFile::default()
        }
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, InputError> {
        let text = input::read_text(path, "give a drover.toml with -c/--config, or leave it out")?;
        let config = parse(path, &text)?;
        Ok(ConfigFile {
            path: path.to_path_buf(),
            config,
            text,
        })
    }

    /// The 1-based line of a value.
    pub fn line<T>(&self, value: &Spanned<T>) -> usize {
        line_of(&self.text, value.span().start)
    }

    /// A problem with the value on `line`.
    pub fn error(&self, line: usize, message: impl Into<String>) -> InputError {
        InputError::new(&self.path, Some(line), message)
    }

    /// The value `T` read, or the error `{what}: {problem}` on its line.
    pub fn checked<T: Clone>(
        &self,
        what: impl std::fmt::Display,
        value: &Spanned<Checked<T>>,
    ) -> Result<T, InputError> {
        match value.get_ref() {
            Checked::Valid(t) => Ok(t.clone()),
            Checked::Invalid { problem, .. } => {
                Err(self.error(self.line(value), format!("{what}: {problem}")))
            }
        }
    }
}

/// Parses the text of a drover.toml.
pub fn parse(path: &Path, text: &str) -> Result<FileConfig, InputError> {
    toml::from_str(text).map_err(|e| from_toml_error(path, text, &e))
}

fn from_toml_error(path: &Path, text: &str, e: &toml::de::Error) -> InputError {
    let line = e.span().map(|s| line_of(text, s.start));
    let message = e.message().trim().to_string();
    let mut err = InputError::new(path, line, message.clone());
    if let Some(hint) = unknown_key_hint(&message) {
        err = err.with_hint(hint);
    }
    err
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" message: the
/// closest known key, or the list.
fn unknown_key_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    let known: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    let best = known
        .iter()
        .map(|k| (strsim::levenshtein(key, k), *k))
        .min()
        .filter(|(d, k)| *d <= 2.max(k.len() / 3));
    Some(match best {
        Some((_, k)) => format!("did you mean \"{k}\"?"),
        None => format!("known keys here: {}", known.join(", ")),
    })
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p() -> &'static Path {
        Path::new("drover.toml")
    }

    #[test]
    fn full_example_parses() {
        let text = r#"
timeout = 3
port = 6000
output = "json"

[processes.web]
command = "server --port $PORT"
env = { MODE = "dev" }
instances = 2
restart = "on-failure"
backoff = { initial = "500ms", max = "10s", reset_after = 60 }
max_restarts = 5
stop_signal = "INT"
stop_timeout = "10s"
depends_on = { db = "ready", migrate = "exited_ok" }
ready = { http = "http://127.0.0.1:5000/health", interval = "100ms" }

[processes.db]
ready = { tcp = 5432 }

[processes.migrate]
depends_on = ["db"]
"#;
        let c = parse(p(), text).unwrap();
        assert_eq!(c.port, Some(6000));
        let web = c.processes["web"].get_ref();
        assert_eq!(web.instances.as_ref().map(|n| *n.get_ref()), Some(2));
        assert!(
            matches!(web.depends_on.as_ref().unwrap().get_ref(), DependsOnValue::Table(t) if t["db"] == Checked::Valid(Condition::Ready))
        );
        assert!(matches!(
            c.processes["db"]
                .get_ref()
                .ready
                .as_ref()
                .unwrap()
                .get_ref(),
            ReadyValue::Probe(ReadyConfig {
                tcp: Some(TcpTarget::Port(5432)),
                ..
            })
        ));
    }

    #[test]
    fn unknown_key_names_line_and_suggests() {
        let text = "[processes.web]\ncommand = \"x\"\ndepnds_on = [\"db\"]\n";
        let e = parse(p(), text).unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("depnds_on"), "{e}");
        assert_eq!(e.hint.as_deref(), Some("did you mean \"depends_on\"?"));
        let e = parse(p(), "timout = 3\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        assert_eq!(e.hint.as_deref(), Some("did you mean \"timeout\"?"));
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = parse(p(), "port = 1\n[processes.web\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn durations_and_signals() {
        fn value<T: DeserializeOwned>(toml: &str) -> Checked<T> {
            #[derive(Deserialize)]
            #[serde(bound = "T: DeserializeOwned")]
            struct One<T> {
                v: Checked<T>,
            }
            toml::from_str::<One<T>>(&format!("v = {toml}")).unwrap().v
        }
        let duration = |t: &str| match value::<Duration>(t) {
            Checked::Valid(d) => Ok(d.get()),
            Checked::Invalid { problem, .. } => Err(problem),
        };
        assert_eq!(
            duration("\"500ms\""),
            Ok(std::time::Duration::from_millis(500))
        );
        assert_eq!(duration("\"2s\""), Ok(std::time::Duration::from_secs(2)));
        assert_eq!(duration("\"1m\""), Ok(std::time::Duration::from_secs(60)));
        assert_eq!(duration("1.5"), Ok(std::time::Duration::from_millis(1500)));
        assert!(duration("\"soon\"").is_err());
        assert!(duration("-1.0").is_err());
        let signal = |t: &str| match value::<Signal>(t) {
            Checked::Valid(s) => Ok(s),
            Checked::Invalid { problem, .. } => Err(problem),
        };
        assert_eq!(signal("\"int\""), Ok(Signal::INT));
        assert_eq!(signal("\"SIGQUIT\""), Ok(Signal::QUIT));
        assert_eq!(signal("10"), Ok(Signal::USR1));
        assert!(signal("\"NOPE\"").is_err());
        assert!(signal("0").is_err());
        assert_eq!(
            value::<RestartPolicy>("\"sometimes\""),
            Checked::Invalid {
                given: "\"sometimes\"".into(),
                problem: "unknown variant `sometimes`, expected one of `no`, `on-failure`, `on_failure`, `always`"
                    .into()
            }
        );
        assert_eq!(
            value::<RestartPolicy>("\"on_failure\""),
            Checked::Valid(RestartPolicy::OnFailure)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics_and_errors_name_a_line(text in "[\\[\\]a-z_=\"{}0-9., \n#-]{0,200}") {
            if let Err(e) = parse(p(), &text) {
                let lines = text.lines().count().max(1) + 1;
                if let Some(l) = e.line { prop_assert!(l >= 1 && l <= lines, "{} of {}", l, lines); }
            }
        }
    }
}
