//! The client side: `drover ps`, `stop`, `restart`, `kill`, `logs`,
//! `shutdown` talk to a running drover over its control socket and print
//! the answer for people (or JSON with `ps --json`).

use std::io::{self, BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use super::protocol::{DigestRow, Envelope, LogLine, ProcessInfo, Request, VERSION};
use crate::plan::DEFAULT_SOCKET;

/// Why a client command failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No drover listens there.
    #[error("no drover is running here: cannot connect to {path} ({source}); start one with `drover start`, or give --socket")]
    NotRunning {
        /// The socket path tried.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// drover answered with an error.
    #[error("{0}")]
    Refused(String),
    /// The connection broke or the answer made no sense.
    #[error("talking to drover at {path}: {message}")]
    Protocol {
        /// The socket path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// The socket path: `--socket`, else `DROVER_SOCKET` (clap reads it), else
/// `.drover.sock` in the current folder.
pub fn socket_path(given: Option<&Path>) -> PathBuf {
    given.map_or_else(|| PathBuf::from(DEFAULT_SOCKET), Path::to_path_buf)
}

struct Connection {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    write_error: Option<String>,
}

impl Connection {
    fn open(path: &Path, request: Request) -> Result<Self, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::NotRunning {
            path: path.to_path_buf(),
            source,
        })?;
        let mut bytes = serde_json::to_vec(&Envelope {
            v: VERSION,
            request,
        })
        .expect("requests serialize");
        bytes.push(b'\n');
        let mut c = Self {
            path: path.to_path_buf(),
            reader: BufReader::new(stream),
            write_error: None,
        };
        // A refusing drover may answer and close before reading the
        // request; its answer is still there to read, so a failed write is
        // only reported when no answer comes.
        if let Err(e) = c.reader.get_mut().write_all(&bytes) {
            c.write_error = Some(e.to_string());
        }
        Ok(c)
    }

    fn broken(&self, message: String) -> ClientError {
        ClientError::Protocol {
            path: self.path.clone(),
            message,
        }
    }

    /// The next JSON object, or None at end of stream.
    fn next(&mut self) -> Result<Option<serde_json::Value>, ClientError> {
        let mut line = String::new();
        let n = match self.reader.read_line(&mut line) {
            Ok(n) => n,
            Err(e) => return Err(self.broken(self.write_error.clone().unwrap_or(e.to_string()))),
        };
        if n == 0 {
            if let Some(e) = &self.write_error {
                return Err(self.broken(e.clone()));
            }
            return Ok(None);
        }
        serde_json::from_str(&line)
            .map(Some)
            .map_err(|e| self.broken(format!("bad answer: {e}")))
    }

    /// The first answer: its `result`, or the error it carries.
    fn result(&mut self) -> Result<serde_json::Value, ClientError> {
        let v = self
            .next()?
            .ok_or_else(|| self.broken("drover closed the connection".into()))?;
        if v["ok"] == true {
            Ok(v["result"].clone())
        } else {
            Err(ClientError::Refused(
                v["error"].as_str().unwrap_or("unknown error").to_string(),
            ))
        }
    }
}

/// Sends `request` and returns its result.
pub fn call(path: &Path, request: Request) -> Result<serde_json::Value, ClientError> {
    Connection::open(path, request)?.result()
}

/// `drover ps`: a table, or the JSON rows.
pub fn ps(path: &Path, json: bool) -> Result<(), ClientError> {
    let result = call(path, Request::Ps)?;
    let rows: Vec<ProcessInfo> =
        serde_json::from_value(result["processes"].clone()).map_err(|e| ClientError::Protocol {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let mut out = io::stdout().lock();
    if json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&rows).expect("rows serialize")
        );
        return Ok(());
    }
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(
        out,
        "{:<width$}  {:>7}  {:<10}  {:>8}  {:>8}  LAST EXIT",
        "NAME", "PID", "STATE", "UPTIME", "RESTARTS"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<width$}  {:>7}  {:<10}  {:>8}  {:>8}  {}",
            r.name,
            r.pid.map_or("-".into(), |p| p.to_string()),
            r.state,
            r.uptime_secs.map_or("-".into(), uptime),
            r.restarts,
            r.last_exit.unwrap_or_else(|| "-".into())
        );
    }
    Ok(())
}

fn uptime(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// `drover logs`: recent lines, then (with `follow`) new ones until drover exits.
pub fn logs(
    path: &Path,
    names: Vec<String>,
    lines: usize,
    follow: bool,
) -> Result<(), ClientError> {
    let mut c = Connection::open(
        path,
        Request::Logs {
            names,
            lines,
            follow,
        },
    )?;
    let header = c.result()?;
    let width = header["names"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str())
                .map(str::len)
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    let mut out = io::stdout().lock();
    while let Some(v) = c.next()? {
        if v["end"] == true {
            break;
        }
        if let Some(n) = v["skipped"].as_u64() {
            let _ = writeln!(
                out,
                "({n} chunks of output skipped: this client fell behind)"
            );
            continue;
        }
        let Ok(l) = serde_json::from_value::<LogLine>(v["log"].clone()) else {
            continue;
        };
        let time = l.time.get(11..19).unwrap_or("");
        if writeln!(out, "{time} {:<width$} | {}", l.process, l.line).is_err() {
            // stdout closed (`drover logs | head`): stop quietly.
            return Ok(());
        }
    }
    Ok(())
}

/// Prints what a simple request did.
pub fn simple(path: &Path, request: Request) -> Result<(), ClientError> {
    let verb = match &request {
        Request::Stop { .. } => "stopping",
        Request::Restart { .. } => "restarting",
        Request::Kill { .. } => "signalled",
        Request::Shutdown => "shutting down",
        Request::Pause => "paused",
        Request::Resume => "resumed",
        Request::Ps | Request::Logs { .. } | Request::Digest { .. } => "",
    };
    let result = call(path, request)?;
    let names: Vec<&str> = ["stopped", "restarted", "signalled"]
        .iter()
        .filter_map(|k| result[*k].as_array())
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    // A closed stdout (`drover stop web | head -0`) is no failure: the
    // request has taken effect.
    let mut out = io::stdout().lock();
    let _ = if names.is_empty() {
        writeln!(out, "{verb}")
    } else {
        writeln!(out, "{verb}: {}", names.join(", "))
    };
    Ok(())
}

/// `drover ps --digest`: each process's result, and the last lines of the failed.
pub fn digest(path: &Path, lines: usize) -> Result<(), ClientError> {
    let result = call(path, Request::Digest { lines })?;
    let rows: Vec<DigestRow> =
        serde_json::from_value(result["digest"].clone()).map_err(|e| ClientError::Protocol {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let _ = io::stdout()
        .lock()
        .write_all(format_digest(&rows).as_bytes());
    Ok(())
}

/// The digest as a table, then the last lines of each failed process.
pub fn format_digest(rows: &[DigestRow]) -> String {
    use std::fmt::Write as _;
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(7).max(7);
    let rw = rows
        .iter()
        .map(|r| r.result.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:<rw$}  {:>8}  {:>8}",
        "PROCESS", "RESULT", "RESTARTS", "RAN"
    );
    for r in rows {
        let mark = if r.failed { "  FAILED" } else { "" };
        let _ = writeln!(
            out,
            "{:<width$}  {:<rw$}  {:>8}  {:>7.1}s{mark}",
            r.name, r.result, r.restarts, r.ran_secs
        );
    }
    for r in rows.iter().filter(|r| r.failed && !r.last_lines.is_empty()) {
        let _ = writeln!(out, "last {} lines of {}:", r.last_lines.len(), r.name);
        for l in &r.last_lines {
            let _ = writeln!(out, "  | {l}");
        }
    }
    out
}
