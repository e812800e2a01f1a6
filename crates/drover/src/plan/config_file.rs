//! `drover.toml`: the optional file beside the Procfile that says more about
//! each process than a Procfile can (restart policy, dependencies, readiness,
//! stop signal) and sets global defaults.
//!
//! Owns the file's schema and turns every problem into an [`InputError`]
//! naming the file, the line and, for a misspelt key, the key meant. It
//! starts nothing and knows nothing of the Procfile; `config` merges the two.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::plan::input::{self, InputError};
use crate::types::Signal;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Seconds (or "500ms", "2s", "1m") between the stop signal and SIGKILL.
    pub timeout: Option<Spanned<DurationValue>>,
    /// Base port.
    pub port: Option<u16>,
    /// `text` or `json`.
    pub output: Option<Spanned<String>>,
    /// Control socket path, relative to the root.
    pub socket: Option<PathBuf>,
    /// Run each process in a cgroup of its own (like `--cgroup`).
    pub cgroup: Option<bool>,
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
    pub restart: Option<Spanned<String>>,
    /// Restart delays.
    pub backoff: Option<BackoffConfig>,
    /// Give up after this many restarts in a row.
    pub max_restarts: Option<u32>,
    /// `TERM`, `INT`, `SIGQUIT`, `HUP`, … or a number.
    pub stop_signal: Option<Spanned<SignalValue>>,
    /// Overrides the global timeout for this process.
    pub stop_timeout: Option<Spanned<DurationValue>>,
    /// A stop ladder: `["INT", "5s", "TERM", "5s", "KILL"]`.
    pub stop: Option<Spanned<Vec<LadderItem>>>,
    /// `["db"]` (condition `started`) or `{ db = "ready", migrate = "exited_ok" }`.
    pub depends_on: Option<Spanned<DependsOnValue>>,
    /// When the process counts as ready.
    pub ready: Option<Spanned<ReadyValue>>,
    /// Named ports to allocate: `["http", "metrics"]`.
    pub ports: Option<Spanned<Vec<String>>>,
}

/// `backoff = { initial = "1s", max = "30s", reset_after = "60s" }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffConfig {
    /// Delay before the first restart.
    pub initial: Option<Spanned<DurationValue>>,
    /// The delay doubles up to this.
    pub max: Option<Spanned<DurationValue>>,
    /// A run this long resets the delay and the restart count.
    pub reset_after: Option<Spanned<DurationValue>>,
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
    pub interval: Option<DurationValue>,
}

/// A TCP probe target: a port or `host:port`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TcpTarget {
    /// A port on 127.0.0.1.
    Port(u16),
    /// `host:port`.
    Address(String),
}

/// An item of a stop ladder: a signal (name or number) or a wait.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LadderItem {
    /// A signal number, or seconds.
    Number(f64),
    /// A signal name or a duration with a unit.
    Text(String),
}

/// A duration: seconds as a number, or text such as `500ms`, `2s`, `1m`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DurationValue {
    /// Seconds.
    Seconds(f64),
    /// With a unit.
    Text(String),
}

/// A signal: a name or a number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SignalValue {
    /// The signal's number.
    Number(i64),
    /// `TERM`, `SIGTERM`, `term`.
    Name(String),
}

/// The `depends_on` forms.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DependsOnValue {
    /// Names, each with the condition `started`.
    List(Vec<String>),
    /// Name to condition.
    Table(BTreeMap<String, String>),
}

/// Reads and parses `path`.
pub fn load(path: &Path) -> Result<(FileConfig, String), InputError> {
    let text = input::read_text(path, "give a drover.toml with -c/--config, or leave it out")?;
    let config = parse(path, &text)?;
    Ok((config, text))
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
        .map(|k| (edit_distance(key, k), *k))
        .min()
        .filter(|(d, k)| *d <= 2.max(k.len() / 3));
    Some(match best {
        Some((_, k)) => format!("did you mean \"{k}\"?"),
        None => format!("known keys here: {}", known.join(", ")),
    })
}

/// Levenshtein distance; keys are short, so the quadratic table is fine.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
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

/// Parses a duration value.
pub fn duration(value: &DurationValue) -> Result<Duration, String> {
    match value {
        DurationValue::Seconds(s) if s.is_finite() && *s >= 0.0 && *s <= 86_400.0 * 365.0 => {
            Ok(Duration::from_secs_f64(*s))
        }
        DurationValue::Seconds(s) => Err(format!("{s} is not a number of seconds of 0 or more")),
        DurationValue::Text(t) => parse_duration(t),
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. \"500ms\", \"2s\", \"1m\")"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{text:?} has an unknown unit (use ms, s, m or h)")),
    };
    duration(&DurationValue::Seconds(secs))
}

/// Parses a signal name (`TERM`, `SIGTERM`, `term`) or number.
pub fn signal(value: &SignalValue) -> Result<Signal, String> {
    match value {
        SignalValue::Number(n) => Signal::from_number(*n),
        SignalValue::Name(name) => name.parse(),
    }
    .map_err(|e| e.to_string())
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
            matches!(web.depends_on.as_ref().unwrap().get_ref(), DependsOnValue::Table(t) if t["db"] == "ready")
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
        assert_eq!(
            duration(&DurationValue::Text("500ms".into())),
            Ok(Duration::from_millis(500))
        );
        assert_eq!(
            duration(&DurationValue::Text("2s".into())),
            Ok(Duration::from_secs(2))
        );
        assert_eq!(
            duration(&DurationValue::Text("1m".into())),
            Ok(Duration::from_secs(60))
        );
        assert_eq!(
            duration(&DurationValue::Seconds(1.5)),
            Ok(Duration::from_millis(1500))
        );
        assert!(duration(&DurationValue::Text("soon".into())).is_err());
        assert!(duration(&DurationValue::Seconds(-1.0)).is_err());
        assert_eq!(signal(&SignalValue::Name("int".into())), Ok(Signal::INT));
        assert_eq!(
            signal(&SignalValue::Name("SIGQUIT".into())),
            Ok(Signal::QUIT)
        );
        assert_eq!(signal(&SignalValue::Number(10)), Ok(Signal::USR1));
        assert!(signal(&SignalValue::Name("NOPE".into())).is_err());
        assert!(signal(&SignalValue::Number(0)).is_err());
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
