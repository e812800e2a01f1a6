//! The client side: `drover ps`, `stop`, `restart`, `kill`, `logs`,
//! `shutdown` talk to a running drover over its control socket and print
//! the answer for people (or JSON with `ps --json`).

use std::io::{self, BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use super::protocol::{DigestRow, Envelope, Message, Reply, Request, VERSION};
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

    /// The next message, or None at end of stream.
    fn next(&mut self) -> Result<Option<Message>, ClientError> {
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
        Message::parse(&line)
            .map(Some)
            .map_err(|e| self.broken(e.to_string()))
    }

    /// The first answer: its result, or the error it carries.
    fn result(&mut self) -> Result<Reply, ClientError> {
        match self.next()? {
            Some(Message::Ok(reply)) => Ok(reply),
            Some(Message::Error(e)) => Err(ClientError::Refused(e)),
            Some(other) => Err(self.broken(format!("expected an answer, got {other:?}"))),
            None => Err(self.broken("drover closed the connection".into())),
        }
    }
}

/// Sends `request` and returns its result.
pub fn call(path: &Path, request: Request) -> Result<Reply, ClientError> {
    Connection::open(path, request)?.result()
}

/// A reply of another shape than the request wants.
fn unexpected(path: &Path, reply: &Reply) -> ClientError {
    ClientError::Protocol {
        path: path.to_path_buf(),
        message: format!("bad answer: unexpected {reply:?}"),
    }
}

/// `drover ps`: a table, or the JSON rows.
pub fn ps(path: &Path, json: bool) -> Result<(), ClientError> {
    let rows = match call(path, Request::Ps)? {
        Reply::Processes { processes } => processes,
        other => return Err(unexpected(path, &other)),
    };
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
    let width = match c.result()? {
        Reply::Names { names } => names.iter().map(String::len).max().unwrap_or(0),
        other => return Err(unexpected(path, &other)),
    };
    let mut out = io::stdout().lock();
    while let Some(message) = c.next()? {
        let l = match message {
            Message::End => break,
            Message::Skipped(n) => {
                let _ = writeln!(
                    out,
                    "({n} chunks of output skipped: this client fell behind)"
                );
                continue;
            }
            Message::Log(l) => l,
            other => return Err(c.broken(format!("expected a log line, got {other:?}"))),
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
        Request::Ps
        | Request::Logs { .. }
        | Request::Digest { .. }
        | Request::Send { .. }
        | Request::Attach { .. } => "",
    };
    let names = match call(path, request)? {
        Reply::Stopped { stopped: names }
        | Reply::Restarted { restarted: names }
        | Reply::Signalled { signalled: names } => names,
        Reply::Done {} => Vec::new(),
        other => return Err(unexpected(path, &other)),
    };
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
    let rows = match call(path, Request::Digest { lines })? {
        Reply::Digest { digest } => digest,
        other => return Err(unexpected(path, &other)),
    };
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
