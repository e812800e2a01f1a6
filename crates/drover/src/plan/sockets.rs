//! `sockets = ["tcp:127.0.0.1:$PORT", "metrics=unix:run/m.sock"]`: the
//! listening sockets drover binds once for a process and hands to each of
//! its starts (systemd's socket activation: `LISTEN_FDS`).
//!
//! Owns the syntax, the names and the per-instance addresses; binding is
//! `process::sockets`'s.

use std::path::{Path, PathBuf};

use super::probe_vars::{self, Var};

/// At most this many sockets per process (descriptors 3 and up).
pub(crate) const MAX_SOCKETS: usize = 16;

/// Longest path a Unix socket address holds (`sun_path`, without its NUL).
const UNIX_PATH_MAX: usize = 107;

/// One entry of `sockets`, as written (variables not put in yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SocketTemplate {
    /// `NAME=` before the address, if given.
    name: Option<String>,
    unix: bool,
    /// The address after `tcp:` or `unix:`.
    text: String,
}

/// One socket of one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketSpec {
    /// Its name in `LISTEN_FDNAMES` (the process's name unless given).
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Where a socket listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketAddr {
    /// `IP:PORT`; may still hold `${NAME}` for a named port, which is
    /// allocated at the start.
    Tcp(String),
    /// A path (under the process's working folder when relative).
    Unix(PathBuf),
}

/// What is wrong with an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SocketError {
    /// Neither `tcp:` nor `unix:`.
    #[error("{0:?} is neither tcp:ADDRESS nor unix:PATH")]
    Kind(String),
    /// A name with characters `LISTEN_FDNAMES` cannot carry.
    #[error("{0:?} is not a socket name (letters, digits, '.', '-' and '_')")]
    Name(String),
    /// The same name twice.
    #[error("the name {0:?} is given twice")]
    Twice(String),
    /// More than [`MAX_SOCKETS`].
    #[error("{0} sockets; at most {MAX_SOCKETS}")]
    TooMany(usize),
    /// A variable that cannot be put in.
    #[error("{given:?}: {source}")]
    Variable {
        /// The entry.
        given: String,
        /// Why.
        #[source]
        source: probe_vars::VarError,
    },
    /// Not `IP:PORT` once expanded.
    #[error("{0:?} is not IP:PORT (e.g. 127.0.0.1:$PORT)")]
    Tcp(String),
    /// A path too long for a Unix socket.
    #[error("{} is longer than the {UNIX_PATH_MAX} bytes a Unix socket's path may have", .0.display())]
    LongPath(PathBuf),
}

/// The entries of `sockets`, checked.
pub(crate) fn templates(entries: &[String]) -> Result<Vec<SocketTemplate>, SocketError> {
    if entries.len() > MAX_SOCKETS {
        return Err(SocketError::TooMany(entries.len()));
    }
    let mut out: Vec<SocketTemplate> = Vec::new();
    for entry in entries {
        let (name, addr) = match entry.split_once('=') {
            Some((n, a)) if !n.contains(':') => (Some(n), a),
            _ => (None, entry.as_str()),
        };
        if let Some(n) = name {
            let ok = !n.is_empty()
                && n.len() <= 255
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
            if !ok {
                return Err(SocketError::Name(n.to_owned()));
            }
        }
        let (unix, text) = if let Some(t) = addr.strip_prefix("tcp:") {
            (false, t)
        } else if let Some(t) = addr.strip_prefix("unix:") {
            (true, t)
        } else {
            return Err(SocketError::Kind(entry.clone()));
        };
        if text.is_empty() {
            return Err(SocketError::Kind(entry.clone()));
        }
        out.push(SocketTemplate {
            name: name.map(str::to_owned),
            unix,
            text: text.to_owned(),
        });
    }
    let mut seen: Vec<&str> = Vec::new();
    for t in &out {
        if let Some(n) = &t.name {
            if seen.contains(&n.as_str()) {
                return Err(SocketError::Twice(n.clone()));
            }
            seen.push(n);
        }
    }
    Ok(out)
}

/// The sockets of one instance of `process`, its variables from `lookup`
/// (a named port, not allocated yet, is left as `${NAME}`).
pub(crate) fn expand(
    templates: &[SocketTemplate],
    process: &str,
    cwd: &Path,
    lookup: &dyn Fn(&str) -> Var,
) -> Result<Vec<SocketSpec>, SocketError> {
    templates
        .iter()
        .map(|t| {
            let (text, later) =
                probe_vars::expand(&t.text, lookup).map_err(|source| SocketError::Variable {
                    given: t.text.clone(),
                    source,
                })?;
            let addr = if t.unix {
                let path = cwd.join(text);
                if path.as_os_str().len() > UNIX_PATH_MAX {
                    return Err(SocketError::LongPath(path));
                }
                SocketAddr::Unix(path)
            } else {
                if !later && text.parse::<std::net::SocketAddr>().is_err() {
                    return Err(SocketError::Tcp(text));
                }
                SocketAddr::Tcp(text)
            };
            Ok(SocketSpec {
                name: t.name.clone().unwrap_or_else(|| process.to_owned()),
                addr,
            })
        })
        .collect()
}

/// A TCP address with its named ports put in, from the instance's
/// environment (`PORT_HTTP`), and checked.
pub(crate) fn resolve_tcp(text: &str, env: &[(String, String)]) -> Result<String, SocketError> {
    let lookup = |name: &str| match env.iter().rev().find(|(k, _)| k == name) {
        Some((_, v)) => Var::Value(v.clone()),
        None => Var::Unknown,
    };
    let (text, _) = probe_vars::expand(text, &lookup).map_err(|source| SocketError::Variable {
        given: text.to_owned(),
        source,
    })?;
    match text.parse::<std::net::SocketAddr>() {
        Ok(_) => Ok(text),
        Err(_) => Err(SocketError::Tcp(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Var {
        match name {
            "PORT" => Var::Value("5001".into()),
            "PORT_HTTP" => Var::Later,
            _ => Var::Unknown,
        }
    }

    #[test]
    fn entries_expand_per_instance_with_names_and_paths() {
        let t = templates(&[
            "tcp:127.0.0.1:$PORT".into(),
            "admin=unix:run/a.sock".into(),
            "http=tcp:0.0.0.0:${PORT_HTTP}".into(),
        ])
        .unwrap();
        let s = expand(&t, "web", Path::new("/app"), &lookup).unwrap();
        assert_eq!(s[0].name, "web");
        assert_eq!(s[0].addr, SocketAddr::Tcp("127.0.0.1:5001".into()));
        assert_eq!(s[1].name, "admin");
        assert_eq!(s[1].addr, SocketAddr::Unix("/app/run/a.sock".into()));
        assert_eq!(s[2].addr, SocketAddr::Tcp("0.0.0.0:${PORT_HTTP}".into()));
        let env = [("PORT_HTTP".to_string(), "6000".to_string())];
        assert_eq!(
            resolve_tcp("0.0.0.0:${PORT_HTTP}", &env).unwrap(),
            "0.0.0.0:6000"
        );
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        let err = |e: &[&str]| {
            let e: Vec<String> = e.iter().map(|s| s.to_string()).collect();
            templates(&e).and_then(|t| expand(&t, "web", Path::new("/app"), &lookup))
        };
        assert!(matches!(err(&["udp:1.2.3.4:5"]), Err(SocketError::Kind(_))));
        assert!(matches!(
            err(&["a b=tcp:1.2.3.4:5"]),
            Err(SocketError::Name(_))
        ));
        assert!(matches!(
            err(&["a=tcp:127.0.0.1:1", "a=tcp:127.0.0.1:2"]),
            Err(SocketError::Twice(_))
        ));
        assert!(matches!(err(&["tcp:localhost"]), Err(SocketError::Tcp(_))));
        assert!(matches!(
            err(&["tcp:127.0.0.1:$NOPE"]),
            Err(SocketError::Variable { .. })
        ));
        let long = format!("unix:{}", "x".repeat(200));
        assert!(matches!(err(&[&long]), Err(SocketError::LongPath(_))));
    }
}
