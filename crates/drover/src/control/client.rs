//! The client side: `drover ps`, `stop`, `restart`, `kill`, `logs`,
//! `shutdown` talk to a running drover over its control socket and print
//! the answer for people (or JSON with `ps --json`).
//!
//! A client trusts only a drover of its own user (the server's uid, from
//! `SO_PEERCRED`, is checked before anything is sent), waits at most
//! [`ANSWER_TIMEOUT`] to connect and for each answer (not for the lines of
//! `logs -f`, which may be far apart), and prints text from the socket only
//! through [`clean`], so a server cannot drive the terminal.

use std::borrow::Cow;
use std::io::{self, BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::endpoint;
use super::protocol::{DigestRow, Envelope, Message, Reply, Request, VERSION};
use super::terminal::{clean, clean_json};

/// How long a client waits to connect, and for each answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// The socket is another user's, and this user may not connect to it.
    #[error("cannot connect to {path}: it belongs to another user, {owner} ({source})")]
    NotYours {
        /// The socket path.
        path: PathBuf,
        /// The file's owner, named.
        owner: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The server runs as another user: nothing was sent to it.
    #[error("refused: this drover belongs to another user, {owner}, not to you: {path} (nothing was sent to it; give your own drover's socket with --socket)")]
    OtherUser {
        /// The socket path.
        path: PathBuf,
        /// The server's user, named.
        owner: String,
    },
    /// The listener's queue stayed full.
    #[error("drover at {path} did not take the connection within {}s: it is stopped (SIGSTOP?) or swamped", ANSWER_TIMEOUT.as_secs())]
    Busy {
        /// The socket path.
        path: PathBuf,
    },
    /// Connected, but no answer came in time.
    #[error("drover at {path} did not answer within {}s: it is stopped (SIGSTOP?), stuck, or not a drover", ANSWER_TIMEOUT.as_secs())]
    NoAnswer {
        /// The socket path.
        path: PathBuf,
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

/// Where to look for drover's socket: `--socket`, else `DROVER_SOCKET`
/// (clap reads it), else `.drover.sock` in the current folder, then the
/// current folder's socket in the runtime folder (where `drover start` binds
/// when the root's cannot be made).
pub fn socket_paths(given: Option<&Path>) -> Vec<PathBuf> {
    endpoint::candidates(given)
}

struct Connection {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    write_error: Option<String>,
}

/// Connects to the first of `paths` that takes the connection, and checks
/// that its server is this user's.
fn reach(paths: &[PathBuf]) -> Result<(PathBuf, UnixStream), ClientError> {
    let mut first = None;
    for path in paths {
        let stream = match endpoint::connect(path, ANSWER_TIMEOUT) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(ClientError::Busy { path: path.clone() })
            }
            Err(source) => {
                first.get_or_insert_with(|| not_running(path, source));
                continue;
            }
        };
        let owner = endpoint::peer_uid(&stream).map_err(|e| ClientError::Protocol {
            path: path.clone(),
            message: format!("cannot tell who runs it: {e}"),
        })?;
        if owner != endpoint::own_uid() {
            return Err(ClientError::OtherUser {
                path: path.clone(),
                owner: endpoint::user(owner),
            });
        }
        return Ok((path.clone(), stream));
    }
    Err(first.expect("a client always has a socket path to try"))
}

/// The error for a socket that could not be connected to.
fn not_running(path: &Path, source: io::Error) -> ClientError {
    use std::os::unix::fs::MetadataExt as _;
    if source.kind() == io::ErrorKind::PermissionDenied {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if meta.uid() != endpoint::own_uid() {
                return ClientError::NotYours {
                    path: path.to_path_buf(),
                    owner: endpoint::user(meta.uid()),
                    source,
                };
            }
        }
    }
    ClientError::NotRunning {
        path: path.to_path_buf(),
        source,
    }
}

impl Connection {
    fn open(paths: &[PathBuf], request: Request) -> Result<Self, ClientError> {
        let (path, stream) = reach(paths)?;
        let mut bytes = serde_json::to_vec(&Envelope {
            v: VERSION,
            request,
        })
        .expect("requests serialize");
        bytes.push(b'\n');
        let mut c = Self {
            path,
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

    /// No read timeout from now on: a follower waits as long as it takes.
    fn untimed(&self) -> Result<(), ClientError> {
        self.reader
            .get_ref()
            .set_read_timeout(None)
            .map_err(|e| self.broken(format!("cannot stop the read timeout: {e}")))
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
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(ClientError::NoAnswer {
                    path: self.path.clone(),
                })
            }
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

/// Sends `request` to the first of `paths` that answers and returns its
/// result.
pub fn call(paths: &[PathBuf], request: Request) -> Result<Reply, ClientError> {
    Ok(ask(paths, request)?.1)
}

/// Sends `request`; the connection (for the path, and what follows) and
/// the first answer.
fn ask(paths: &[PathBuf], request: Request) -> Result<(Connection, Reply), ClientError> {
    let mut c = Connection::open(paths, request)?;
    let reply = c.result()?;
    Ok((c, reply))
}

/// A reply of another shape than the request wants.
fn unexpected(c: &Connection, reply: &Reply) -> ClientError {
    c.broken(format!("bad answer: unexpected {reply:?}"))
}

/// `drover ps`: a table, or the JSON rows.
pub fn ps(paths: &[PathBuf], json: bool) -> Result<(), ClientError> {
    let rows = match ask(paths, Request::Ps)? {
        (_, Reply::Processes { processes }) => processes,
        (c, other) => return Err(unexpected(&c, &other)),
    };
    let mut out = io::stdout().lock();
    if json {
        let json = serde_json::to_string_pretty(&rows).expect("rows serialize");
        let _ = writeln!(out, "{}", clean_json(&json));
        return Ok(());
    }
    let names: Vec<Cow<'_, str>> = rows.iter().map(|r| clean(&r.name)).collect();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(
        out,
        "{:<width$}  {:>7}  {:<10}  {:>8}  {:>8}  LAST EXIT",
        "NAME", "PID", "STATE", "UPTIME", "RESTARTS"
    );
    for (r, name) in rows.iter().zip(&names) {
        let _ = writeln!(
            out,
            "{:<width$}  {:>7}  {:<10}  {:>8}  {:>8}  {}",
            name,
            r.pid.map_or("-".into(), |p| p.to_string()),
            clean(&r.state),
            r.uptime_secs.map_or("-".into(), uptime),
            r.restarts,
            clean(r.last_exit.as_deref().unwrap_or("-"))
        );
        if let Some(why) = &r.why {
            let _ = writeln!(out, "{:<width$}  {}", "", clean(why));
        }
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
    paths: &[PathBuf],
    names: Vec<String>,
    lines: usize,
    follow: bool,
) -> Result<(), ClientError> {
    let request = Request::Logs {
        names,
        lines,
        follow,
    };
    let (mut c, width) = match ask(paths, request)? {
        (c, Reply::Names { names, .. }) => {
            let width = names.iter().map(|n| clean(n).len()).max().unwrap_or(0);
            (c, width)
        }
        (c, other) => return Err(unexpected(&c, &other)),
    };
    if follow {
        // New lines may be hours apart: only the answer above is timed.
        c.untimed()?;
    }
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
        let time = clean(l.time.get(11..19).unwrap_or(""));
        let (process, line) = (clean(&l.process), clean(&l.line));
        if writeln!(out, "{time} {process:<width$} | {line}").is_err() {
            // stdout closed (`drover logs | head`): stop quietly.
            return Ok(());
        }
    }
    Ok(())
}

/// `drover events`: each lifecycle event until drover exits, as its JSON
/// object (`json`) or as `time name event field=value …`.
pub fn events(paths: &[PathBuf], names: Vec<String>, json: bool) -> Result<(), ClientError> {
    let mut c = match ask(paths, Request::Events { names })? {
        (c, Reply::Names { .. }) => c,
        (c, other) => return Err(unexpected(&c, &other)),
    };
    // Events may be hours apart: only the answer above is timed.
    c.untimed()?;
    let mut out = io::stdout().lock();
    while let Some(message) = c.next()? {
        let text = match message {
            Message::End => break,
            Message::Skipped(n) => format!("({n} events skipped: this client fell behind)"),
            Message::Event(object) if json => clean_json(&object).into_owned(),
            Message::Event(object) => event_text(&object),
            other => return Err(c.broken(format!("expected an event, got {other:?}"))),
        };
        if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
            // stdout closed (`drover events | head`): stop quietly.
            return Ok(());
        }
    }
    Ok(())
}

/// `12:00:01.250 web.1 exited status=1 run_ms=1500 failed=true`.
fn event_text(object: &str) -> String {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(object) else {
        return clean(object).into_owned();
    };
    let text = |key: &str| fields.get(key).and_then(|v| v.as_str()).unwrap_or("");
    let time = text("time").get(11..23).unwrap_or("");
    let name = fields
        .get("name")
        .and_then(|v| v.as_str())
        .unwrap_or("drover");
    let mut line = format!("{time} {name} {}", text("event"));
    for (key, value) in &fields {
        if matches!(key.as_str(), "v" | "time" | "name" | "event") {
            continue;
        }
        match value {
            serde_json::Value::String(s) if !s.contains(' ') && !s.is_empty() => {
                line.push_str(&format!(" {key}={s}"));
            }
            other => line.push_str(&format!(" {key}={other}")),
        }
    }
    clean(&line).into_owned()
}

/// A `logs` answer being read: its header, then [`LogStream::next_line`].
pub(crate) struct LogStream {
    c: Connection,
    /// The instances whose lines follow.
    pub names: Vec<String>,
    /// Where drover keeps log files, if it does.
    pub log_dir: Option<PathBuf>,
}

/// One message of a `logs` answer.
pub(crate) enum LogItem {
    /// A line.
    Line(crate::control::protocol::LogLine),
    /// A follower fell behind by this many chunks.
    Skipped(u64),
}

impl LogStream {
    /// Sends `request` (a `logs` request) and reads the header.
    pub(crate) fn open(paths: &[PathBuf], request: Request) -> Result<Self, ClientError> {
        let follow = matches!(request, Request::Logs { follow: true, .. });
        match ask(paths, request)? {
            (c, Reply::Names { names, log_dir }) => {
                if follow {
                    // New lines may be hours apart: only the header is timed.
                    c.untimed()?;
                }
                Ok(Self { c, names, log_dir })
            }
            (c, other) => Err(unexpected(&c, &other)),
        }
    }

    /// The next line, or None at the end.
    pub(crate) fn next_line(&mut self) -> Result<Option<LogItem>, ClientError> {
        match self.c.next()? {
            None | Some(Message::End) => Ok(None),
            Some(Message::Skipped(n)) => Ok(Some(LogItem::Skipped(n))),
            Some(Message::Log(l)) => Ok(Some(LogItem::Line(l))),
            Some(other) => Err(self.c.broken(format!("expected a log line, got {other:?}"))),
        }
    }
}

/// Prints what a simple request did.
pub fn simple(paths: &[PathBuf], request: Request) -> Result<(), ClientError> {
    let verb = match &request {
        Request::Stop { .. } => "stopping",
        Request::Restart { wait: true, .. } => "ready again",
        Request::Restart { .. } => "restarting",
        Request::Kill { .. } => "signalled",
        Request::Shutdown => "shutting down",
        Request::Pause => "paused",
        Request::Resume => "resumed",
        Request::Scale { .. } | Request::Reload => return changes(paths, request),
        Request::Ps
        | Request::Logs { .. }
        | Request::Events { .. }
        | Request::Digest { .. }
        | Request::Send { .. }
        | Request::Attach { .. } => "",
    };
    let names = match ask(paths, request)? {
        (
            _,
            Reply::Stopped { stopped: names }
            | Reply::Restarted { restarted: names }
            | Reply::Signalled { signalled: names },
        ) => names,
        (_, Reply::Done {}) => Vec::new(),
        (c, other) => return Err(unexpected(&c, &other)),
    };
    // A closed stdout (`drover stop web | head -0`) is no failure: the
    // request has taken effect.
    let mut out = io::stdout().lock();
    let _ = if names.is_empty() {
        writeln!(out, "{verb}")
    } else {
        writeln!(out, "{verb}: {}", clean(&names.join(", ")))
    };
    Ok(())
}

/// Prints what `scale` or `reload` changed, one instance a line.
fn changes(paths: &[PathBuf], request: Request) -> Result<(), ClientError> {
    let lines = match ask(paths, request)? {
        (_, Reply::Changes { changes }) => changes,
        (c, other) => return Err(unexpected(&c, &other)),
    };
    let mut out = io::stdout().lock();
    if lines.is_empty() {
        let _ = writeln!(out, "nothing changed");
    }
    for l in &lines {
        let _ = writeln!(out, "{}", clean(l));
    }
    Ok(())
}

/// `drover ps --digest`: each process's result, and the last lines of the failed.
pub fn digest(paths: &[PathBuf], lines: usize) -> Result<(), ClientError> {
    let mut rows = match ask(paths, Request::Digest { lines })? {
        (_, Reply::Digest { digest }) => digest,
        (c, other) => return Err(unexpected(&c, &other)),
    };
    for r in &mut rows {
        r.name = clean(&r.name).into_owned();
        r.result = clean(&r.result).into_owned();
        for l in &mut r.last_lines {
            *l = clean(l).into_owned();
        }
    }
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
    for r in rows
        .iter()
        .filter(|r| (r.failed || r.recovered) && !r.last_lines.is_empty())
    {
        let n = r.last_lines.len();
        if r.failed {
            let _ = writeln!(out, "last {n} lines of {}:", r.name);
        } else {
            let _ = writeln!(
                out,
                "last {n} lines of {}'s last failed run (it recovered after {} restarts):",
                r.name, r.restarts
            );
        }
        for l in &r.last_lines {
            let _ = writeln!(out, "  | {l}");
        }
    }
    out
}
