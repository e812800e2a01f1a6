//! drover.toml's `ready`: `"notify"` or one probe (`tcp`, `http`, `command`
//! or `log`) and its interval, read into a [`Readiness`].

use std::time::Duration;

use crate::plan::config_file::{Checked, ReadyConfig, ReadyValue, TcpTarget};
use crate::plan::spec::{Probe, Readiness};

/// How often a probe is tried when drover.toml does not say.
const DEFAULT_INTERVAL: Duration = Duration::from_millis(250);

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
}

/// The readiness check `value` describes.
pub fn readiness(value: &ReadyValue) -> Result<Readiness, ReadinessError> {
    let r = match value {
        ReadyValue::Word(w) if w == "notify" => {
            return Ok(Readiness {
                probe: Probe::Notify,
                interval: DEFAULT_INTERVAL,
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
    let mut probes = probes(r)?;
    match probes.len() {
        1 => Ok(Readiness {
            probe: probes.pop().expect("one probe"),
            interval,
        }),
        0 => Err(ReadinessError::NoProbe),
        _ => Err(ReadinessError::TwoProbes),
    }
}

/// Every probe the table gives (one, when it is right).
fn probes(r: &ReadyConfig) -> Result<Vec<Probe>, ReadinessError> {
    let mut probes = Vec::new();
    if let Some(t) = &r.tcp {
        probes.push(Probe::Tcp(match t {
            TcpTarget::Port(p) => tcp(&p.to_string())?,
            TcpTarget::Address(a) => tcp(a)?,
        }));
    }
    if let Some(url) = &r.http {
        probes.push(http(url)?);
    }
    if let Some(c) = &r.command {
        probes.push(Probe::Command(c.clone()));
    }
    if let Some(pattern) = &r.log {
        regex_lite::Regex::new(pattern).map_err(|source| ReadinessError::Regex {
            pattern: pattern.clone(),
            source,
        })?;
        probes.push(Probe::Log(pattern.clone()));
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
fn http(url: &str) -> Result<Probe, ReadinessError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| ReadinessError::NotHttp(url.to_owned()))?;
    let (address, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let address = match port_of(address) {
        Some(_) => checked_port("http", url, address.to_owned())?,
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
