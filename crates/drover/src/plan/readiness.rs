//! drover.toml's `ready`: `"notify"` or one probe (`tcp`, `http`, `command`
//! or `log`) and its interval, read into a [`ReadyTemplate`], and made a
//! [`Readiness`] for each instance: `$PORT`, `${NAME}` in a `tcp` or `http`
//! probe take the instance's values (a `command` is left to the shell, and
//! a `log` pattern's `$` is the regex's).

use std::time::Duration;

use crate::plan::config_file::{Checked, ReadyConfig, ReadyValue, TcpTarget};
use crate::plan::probe_vars::{self, Var, VarError};
use crate::plan::spec::{Probe, Readiness};

/// How often a probe is tried when drover.toml does not say.
const DEFAULT_INTERVAL: Duration = Duration::from_millis(250);

/// How long a tcp, http or command probe may fail before the process
/// counts as failed, when drover.toml does not say. A log line or an
/// sd_notify message has no deadline unless one is set.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A `ready` value that names no probe drover can run.
#[derive(Debug, thiserror::Error)]
pub enum ReadinessError {
    /// A word other than `notify`.
    #[error("{0:?} is not a readiness check; use \"notify\" or a table such as {{ tcp = 5432 }}")]
    NotACheck(String),
    /// An `interval` that is not a duration.
    #[error("{0}")]
    Interval(String),
    /// `interval = 0`.
    #[error("interval must be above 0")]
    ZeroInterval,
    /// A `timeout` that is not a duration.
    #[error("{0}")]
    Timeout(String),
    /// `timeout = 0`.
    #[error("timeout must be above 0")]
    ZeroTimeout,
    /// `tcp = "name"` without a port.
    #[error("tcp = {0:?} is not a port or host:port")]
    TcpTarget(String),
    /// A port outside 1..=65535.
    #[error("{probe} = {given:?}: port {port} is not from 1 to 65535")]
    PortRange {
        /// `tcp` or `http`.
        probe: &'static str,
        /// The value as written.
        given: String,
        /// The port as written.
        port: String,
    },
    /// An `https://` or other URL.
    #[error("http = {0:?} must start with http:// (https is not probed)")]
    NotHttp(String),
    /// A `log` pattern that does not compile.
    #[error("log = {pattern:?} is not a valid regular expression")]
    Regex {
        /// The pattern.
        pattern: String,
        /// Why it does not compile.
        #[source]
        source: regex_lite::Error,
    },
    /// A table without a probe.
    #[error("give one of tcp, http, command or log")]
    NoProbe,
    /// A table with several probes.
    #[error("give only one of tcp, http, command or log")]
    TwoProbes,
    /// A variable in a probe that cannot be expanded.
    #[error("{probe} = {given:?}: {source}")]
    Variable {
        /// `tcp` or `http`.
        probe: &'static str,
        /// The value as written.
        given: String,
        /// What is wrong with it.
        #[source]
        source: VarError,
    },
}

/// A readiness check as drover.toml gives it, before an instance's
/// variables are put in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReadyTemplate {
    probe: ProbeTemplate,
    interval: Duration,
    timeout: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ProbeTemplate {
    /// A probe without variables, already checked.
    Fixed(Probe),
    /// A `tcp` target with `$`, as written.
    Tcp(String),
    /// An `http` URL with `$`, as written.
    Http(String),
}

impl ReadyTemplate {
    /// The check for one instance, `lookup` giving its variables. A named
    /// port (not allocated yet) is left as `${NAME}`, for
    /// [`expand_named_ports`] to put in at the start.
    pub(crate) fn expand(&self, lookup: &dyn Fn(&str) -> Var) -> Result<Readiness, ReadinessError> {
        let probe = match &self.probe {
            ProbeTemplate::Fixed(p) => p.clone(),
            ProbeTemplate::Tcp(t) => match put_vars("tcp", t, lookup)? {
                (text, false) => Probe::Tcp(tcp(&text)?),
                (text, true) if port_of(&text).is_some() => Probe::Tcp(text),
                (text, true) => Probe::Tcp(format!("127.0.0.1:{text}")),
            },
            ProbeTemplate::Http(url) => {
                let (text, later) = put_vars("http", url, lookup)?;
                http(&text, !later)?
            }
        };
        Ok(Readiness {
            probe,
            interval: self.interval,
            timeout: self.timeout,
        })
    }
}

/// `text` with its variables put in, and whether a named port is left.
fn put_vars(
    probe: &'static str,
    text: &str,
    lookup: &dyn Fn(&str) -> Var,
) -> Result<(String, bool), ReadinessError> {
    probe_vars::expand(text, lookup).map_err(|source| ReadinessError::Variable {
        probe,
        given: text.to_owned(),
        source,
    })
}

/// Puts the named ports allocated at the start (`vars`: their variables)
/// into a probe that was left waiting for them, and checks it.
pub fn expand_named_ports(
    ready: &mut Readiness,
    vars: &[(String, String)],
) -> Result<(), ReadinessError> {
    let lookup = |name: &str| match vars.iter().rev().find(|(k, _)| k == name) {
        Some((_, v)) => Var::Value(v.clone()),
        None => Var::Later,
    };
    match &ready.probe {
        Probe::Tcp(address) if address.contains("${") => {
            let (text, _) = put_vars("tcp", address, &lookup)?;
            ready.probe = Probe::Tcp(tcp(&text)?);
        }
        Probe::Http { address, path } if address.contains("${") || path.contains("${") => {
            let url = format!("http://{address}{path}");
            let (text, _) = put_vars("http", &url, &lookup)?;
            ready.probe = http(&text, true)?;
        }
        _ => {}
    }
    Ok(())
}

/// The readiness check `value` describes.
pub(crate) fn readiness(value: &ReadyValue) -> Result<ReadyTemplate, ReadinessError> {
    let r = match value {
        ReadyValue::Word(w) if w == "notify" => {
            return Ok(ReadyTemplate {
                probe: ProbeTemplate::Fixed(Probe::Notify),
                interval: DEFAULT_INTERVAL,
                timeout: None,
            })
        }
        ReadyValue::Word(w) => return Err(ReadinessError::NotACheck(w.clone())),
        ReadyValue::Probe(r) => r,
    };
    let interval = match &r.interval {
        Some(Checked::Valid(i)) => i.get(),
        Some(Checked::Invalid { problem, .. }) => {
            return Err(ReadinessError::Interval(problem.clone()))
        }
        None => DEFAULT_INTERVAL,
    };
    if interval.is_zero() {
        return Err(ReadinessError::ZeroInterval);
    }
    let timeout = match &r.timeout {
        Some(Checked::Valid(t)) if t.get().is_zero() => return Err(ReadinessError::ZeroTimeout),
        Some(Checked::Valid(t)) => Some(t.get()),
        Some(Checked::Invalid { problem, .. }) => {
            return Err(ReadinessError::Timeout(problem.clone()))
        }
        None => None,
    };
    let mut probes = probes(r)?;
    match probes.len() {
        1 => {
            let probe = probes.pop().expect("one probe");
            let waits_for_output = matches!(probe, ProbeTemplate::Fixed(Probe::Log(_)));
            Ok(ReadyTemplate {
                probe,
                interval,
                timeout: timeout.or((!waits_for_output).then_some(DEFAULT_TIMEOUT)),
            })
        }
        0 => Err(ReadinessError::NoProbe),
        _ => Err(ReadinessError::TwoProbes),
    }
}

/// Every probe the table gives (one, when it is right); a `tcp` or `http`
/// one with a `$` is checked once its variables are in.
fn probes(r: &ReadyConfig) -> Result<Vec<ProbeTemplate>, ReadinessError> {
    use ProbeTemplate::{Fixed, Http, Tcp};
    let mut probes = Vec::new();
    if let Some(t) = &r.tcp {
        probes.push(match t {
            TcpTarget::Port(p) => Fixed(Probe::Tcp(tcp(&p.to_string())?)),
            TcpTarget::Address(a) if a.contains('$') => Tcp(a.clone()),
            TcpTarget::Address(a) => Fixed(Probe::Tcp(tcp(a)?)),
        });
    }
    if let Some(url) = &r.http {
        if !url.starts_with("http://") {
            return Err(ReadinessError::NotHttp(url.clone()));
        }
        probes.push(match url.contains('$') {
            true => Http(url.clone()),
            false => Fixed(http(url, true)?),
        });
    }
    if let Some(c) = &r.command {
        probes.push(Fixed(Probe::Command(c.clone())));
    }
    if let Some(pattern) = &r.log {
        regex_lite::Regex::new(pattern).map_err(|source| ReadinessError::Regex {
            pattern: pattern.clone(),
            source,
        })?;
        probes.push(Fixed(Probe::Log(pattern.clone())));
    }
    Ok(probes)
}

/// `PORT` (on 127.0.0.1) or `host:port`, as `host:port`.
fn tcp(target: &str) -> Result<String, ReadinessError> {
    if !target.is_empty() && target.bytes().all(|b| b.is_ascii_digit()) {
        return checked_port("tcp", target, format!("127.0.0.1:{target}"));
    }
    match port_of(target) {
        Some(_) => checked_port("tcp", target, target.to_owned()),
        None => Err(ReadinessError::TcpTarget(target.to_owned())),
    }
}

/// `http://host[:port][/path]`; the port defaults to 80 and the path to `/`.
/// The port is checked unless a named port is still to come.
fn http(url: &str, check: bool) -> Result<Probe, ReadinessError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| ReadinessError::NotHttp(url.to_owned()))?;
    let (address, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let address = match port_of(address) {
        Some(_) if check => checked_port("http", url, address.to_owned())?,
        Some(_) => address.to_owned(),
        None => format!("{address}:80"),
    };
    Ok(Probe::Http {
        address,
        path: path.to_string(),
    })
}

/// The port of `host:port` (`[v6]:port` too), as written; `None` without one.
fn port_of(address: &str) -> Option<&str> {
    let (host, port) = address.rsplit_once(':')?;
    // `[::1]` alone has colons but no port.
    (!host.starts_with('[') || host.ends_with(']')).then_some(port)
}

/// `address` if its port is from 1 to 65535; `given` is the value as
/// written, for the message.
fn checked_port(
    probe: &'static str,
    given: &str,
    address: String,
) -> Result<String, ReadinessError> {
    let port = port_of(&address).unwrap_or_default();
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(address),
        _ => Err(ReadinessError::PortRange {
            probe,
            given: given.to_owned(),
            port: port.to_owned(),
        }),
    }
}
