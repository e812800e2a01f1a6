//! The control socket inside `drover start`.
//!
//! A Unix socket (mode 0600; peers with another uid are refused) that takes
//! one request per connection. Handlers never touch the process table: they
//! map the request to the supervisor's typed [`Command`], forward it with a
//! oneshot for the typed [`Answer`], and map that back to the protocol;
//! `logs` is served from the log hub. Every handler is bounded: a request line of
//! at most [`MAX_REQUEST`] bytes that must arrive within [`REQUEST_TIMEOUT`];
//! garbage gets an error answer and changes nothing.
//!
//! Requests are never starved: `logs -f` followers, which stay connected,
//! may hold at most [`MAX_FOLLOWERS`] of the [`MAX_CONNECTIONS`] slots. A
//! request whose client has hung up (it gave up waiting) is not acted on.
//! Binding the socket is [`super::listener`]'s business.

use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{broadcast, mpsc, oneshot, watch, Semaphore};

pub use super::listener::{BindError, ControlSocket};

use super::attach;
use super::protocol::{
    DigestRow, Envelope, LogLine, Message, ProcessInfo, Reply, Request, MAX_REQUEST, VERSION,
};
use crate::output::logs::{LineSplitter, LogChunk, LogHub};
use crate::process::terminals::Terminals;
use crate::supervisor::reports;
use crate::supervisor::{Answer, Command, ControlRequest, Refusal};
use crate::types::resolve::{resolve, Instance};

/// How long a client may take to send its request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long connections may go on once every process has stopped.
const LINGER: Duration = Duration::from_secs(1);

/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 64;

/// `logs -f` followers served at once, so that the other slots stay for
/// requests; a follower past it is refused.
const MAX_FOLLOWERS: usize = 48;

/// What every connection's handler shares.
struct Context {
    /// drover's own uid: peers with another are refused.
    uid: rustix::process::Uid,
    events: mpsc::UnboundedSender<ControlRequest>,
    hub: Arc<LogHub>,
    /// The process of each instance, by index, for the name rule of `logs`.
    processes: Arc<[String]>,
    /// One permit per follower.
    followers: Arc<Semaphore>,
    /// The instances' pseudo-terminals, for `send` and `attach`.
    terminals: Arc<Terminals>,
    /// Plans again as `start` did, for `reload`.
    replan: Option<Replan>,
}

/// Reads everything again as `start` did: the new plan's instances, or the
/// error (`file:line: …`) to show the client.
pub(crate) type Replan =
    Arc<dyn Fn() -> Result<Vec<crate::plan::ProcessSpec>, String> + Send + Sync>;

impl ControlSocket {
    /// Accepts connections until `stop` is set, each handled in its own
    /// janitor job, at most [`MAX_CONNECTIONS`] at once; returns once every
    /// handler has ended.
    ///
    /// `processes` names the process of each instance, by index, for the
    /// name rule of `logs`.
    /// `replan` plans again as `start` did, for `reload`.
    pub(crate) async fn serve_with(
        self,
        events: mpsc::UnboundedSender<ControlRequest>,
        (hub, processes, terminals): (Arc<LogHub>, Arc<[String]>, Arc<Terminals>),
        replan: Option<Replan>,
        mut stop: watch::Receiver<bool>,
    ) {
        let cx = Arc::new(Context {
            replan,
            uid: rustix::process::getuid(),
            events,
            hub,
            processes,
            followers: Arc::new(Semaphore::new(MAX_FOLLOWERS)),
            terminals,
        });
        // One permit per connection job, given back when the job's future is
        // dropped however it ends, so ended handlers leave nothing behind.
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut accepted: u64 = 0;
        loop {
            // At the cap, new connections wait in the listen backlog until a
            // handler ends, instead of being turned away.
            let slot = tokio::select! {
                slot = Arc::clone(&slots).acquire_owned() => {
                    slot.expect("the connection semaphore is never closed")
                }
                () = stopped(&mut stop) => break,
            };
            let stream = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of descriptors (EMFILE) or the like: wait
                        // a little instead of spinning on the error.
                        tracing::debug!("control socket: accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = stopped(&mut stop) => break,
            };
            accepted += 1;
            let (cx, stop) = (Arc::clone(&cx), stop.clone());
            janitor::job(format!("control connection #{accepted}")).spawn(async move {
                let _slot = slot;
                let handler = handle(stream, &cx, stop.clone());
                let _ = until_linger_ends(handler, stop).await;
            });
        }
        // Handlers see `stop` too and end promptly (a follower gets the last
        // lines first), and each one gives up LINGER after it: every permit
        // back means every handler has ended.
        let all = u32::try_from(MAX_CONNECTIONS).expect("the cap fits in a u32");
        let _all = slots
            .acquire_many(all)
            .await
            .expect("the connection semaphore is never closed");
    }
}

/// Resolves once `stop` is set, or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // Cancel-safe: a new call looks at the current value first.
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Runs a connection's handler; once `stop` is set it gets [`LINGER`] more,
/// then is dropped. A client that cannot be served to the end (it stops
/// reading, or never sends its request) must not keep drover from exiting.
async fn until_linger_ends<T>(
    handler: impl std::future::Future<Output = T>,
    mut stop: watch::Receiver<bool>,
) -> Option<T> {
    let linger_ended = async {
        stopped(&mut stop).await;
        tokio::time::sleep(LINGER).await;
    };
    tokio::select! {
        output = handler => Some(output),
        () = linger_ended => None,
    }
}

async fn handle(stream: UnixStream, cx: &Context, stop: watch::Receiver<bool>) -> io::Result<()> {
    let peer = stream.peer_cred()?;
    let (read, mut write) = stream.into_split();
    let mut line = Vec::new();
    let mut reader = BufReader::new(read).take(MAX_REQUEST as u64 + 1);
    let got = tokio::time::timeout(REQUEST_TIMEOUT, reader.read_until(b'\n', &mut line)).await;
    // The request is read (and ignored) before refusing, so that the client
    // is not cut off mid-write and sees why.
    if peer.uid() != cx.uid.as_raw() {
        return send_error(&mut write, "refused: this drover belongs to another user").await;
    }
    match got {
        Err(_) => return send_error(&mut write, "no request within 10s").await,
        Ok(Err(e)) => return Err(e),
        Ok(Ok(0)) => return Ok(()),
        Ok(Ok(_)) => {}
    }
    if line.len() > MAX_REQUEST {
        return send_error(
            &mut write,
            &format!("request longer than {MAX_REQUEST} bytes"),
        )
        .await;
    }
    let envelope: Envelope = match serde_json::from_slice(&line) {
        Ok(e) => e,
        Err(e) => {
            return send_error(&mut write, &format!("not a valid request: {e}")).await;
        }
    };
    if envelope.v != VERSION {
        return send_error(
            &mut write,
            &format!(
                "protocol version {} is not supported (this drover speaks {VERSION})",
                envelope.v
            ),
        )
        .await;
    }
    let (command, lines) = match envelope.request {
        Request::Logs {
            names,
            lines,
            follow,
        } => {
            // Held until this follower ends.
            let _follower = match follow {
                false => None,
                true => match Arc::clone(&cx.followers).try_acquire_owned() {
                    Ok(permit) => Some(permit),
                    Err(_) => {
                        let message = format!("too many `logs -f` followers ({MAX_FOLLOWERS}): end one first; `logs` without -f still answers");
                        return send_error(&mut write, &message).await;
                    }
                },
            };
            let table = LogTable {
                hub: &cx.hub,
                processes: &cx.processes,
            };
            return serve_logs(&mut write, table, &names, lines, follow, stop).await;
        }
        Request::Events { names } => {
            // Held until this follower ends.
            let Ok(_follower) = Arc::clone(&cx.followers).try_acquire_owned() else {
                let message = format!("too many followers ({MAX_FOLLOWERS}): end one first");
                return send_error(&mut write, &message).await;
            };
            let table = (&*cx.hub, &*cx.processes);
            return super::events::serve_events(&mut write, table, &names, stop).await;
        }
        Request::Send { name, input } => {
            let table = attach::Table {
                hub: &cx.hub,
                processes: &cx.processes,
                terminals: &cx.terminals,
            };
            return attach::serve_send(&mut write, table, &name, &input).await;
        }
        Request::Attach {
            name,
            steal,
            cols,
            rows,
        } => {
            let table = attach::Table {
                hub: &cx.hub,
                processes: &cx.processes,
                terminals: &cx.terminals,
            };
            // Bytes the client sent after its request are in the buffer.
            let read = reader.into_inner();
            let how = (name.as_str(), steal, (cols, rows));
            return attach::serve_attach((read, &mut write), table, how, stop).await;
        }
        Request::Reload => match cx.replan.as_ref().map(|replan| replan()) {
            Some(Ok(specs)) => (Command::Reload { specs }, 0),
            Some(Err(message)) => return send_error(&mut write, &message).await,
            None => return send_error(&mut write, "this drover cannot reload").await,
        },
        request => match command(request) {
            Ok(c) => c,
            Err(refusal) => return send_error(&mut write, &refusal.0).await,
        },
    };
    // A client that gave up waiting (its connection queued behind others)
    // is gone: what it asked must not happen later behind its back.
    if hung_up(write.as_ref()) {
        match verb(&command) {
            Some(verb) => tracing::info!(
                "control: a `{verb}` request was not done: its client hung up before drover read it"
            ),
            None => tracing::debug!("control: a client hung up before its {command:?} was read"),
        }
        return Ok(());
    }
    let (tx, rx) = oneshot::channel();
    if cx
        .events
        .send(ControlRequest { command, reply: tx })
        .is_err()
    {
        return send_error(&mut write, "drover is exiting").await;
    }
    let message = match rx.await {
        Ok(Ok(answer)) => Message::Ok(reply(answer, &cx.hub, lines)),
        Ok(Err(refusal)) => Message::Error(refusal.0),
        Err(_) => Message::Error("drover is exiting".into()),
    };
    write.write_all(&message.to_line()).await
}

/// Whether the peer of `socket` has closed its end entirely. A client that
/// only shut down its writing side (it still waits for the answer) has not.
fn hung_up(socket: impl AsFd) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(&socket, PollFlags::empty())];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // POLLHUP is reported whatever is asked: on a Unix socket, once both
    // directions are shut down, which a peer's close does.
    matches!(poll(&mut fds, Some(&now)), Ok(n) if n > 0)
        && fds[0].revents().contains(PollFlags::HUP)
}

/// The client command of a request that changes something; None for one
/// that only reads.
fn verb(command: &Command) -> Option<&'static str> {
    match command {
        Command::Ps | Command::Digest => None,
        Command::Pause => Some("pause"),
        Command::Resume => Some("resume"),
        Command::Shutdown => Some("shutdown"),
        Command::Stop { .. } => Some("stop"),
        Command::Restart { .. } => Some("restart"),
        Command::Kill { .. } => Some("kill"),
        Command::Scale { .. } => Some("scale"),
        Command::Reload { .. } => Some("reload"),
    }
}

/// The supervisor's command for `request` (not `logs`), with the digest's
/// line count; a signal that is not one is the client's error.
fn command(request: Request) -> Result<(Command, usize), Refusal> {
    Ok(match request {
        Request::Ps => (Command::Ps, 0),
        Request::Digest { lines } => (Command::Digest, lines),
        Request::Pause => (Command::Pause, 0),
        Request::Resume => (Command::Resume, 0),
        Request::Shutdown => (Command::Shutdown, 0),
        Request::Stop { names, force } => (Command::Stop { names, force }, 0),
        Request::Restart { names, wait } => (Command::Restart { names, wait }, 0),
        Request::Scale { counts } => (Command::Scale { counts }, 0),
        Request::Kill { name, signal } => {
            let signal = signal
                .parse::<crate::types::Signal>()
                .map_err(|e| Refusal(e.to_string()))?;
            (Command::Kill { name, signal }, 0)
        }
        Request::Logs { .. }
        | Request::Send { .. }
        | Request::Attach { .. }
        | Request::Events { .. }
        | Request::Reload => {
            unreachable!(
                "logs, events, send, attach and reload are served here, not by the supervisor"
            )
        }
    })
}

/// The protocol's reply for the supervisor's answer; `lines` last lines of
/// each failed process go into a digest.
fn reply(answer: Answer, hub: &LogHub, lines: usize) -> Reply {
    match answer {
        Answer::Ps(rows) => Reply::Processes {
            processes: rows.into_iter().map(process_info).collect(),
        },
        Answer::Digest(rows) => {
            let mut digest = digest_rows(rows);
            fill_last_lines(&mut digest, hub, lines);
            Reply::Digest { digest }
        }
        Answer::Done => Reply::Done {},
        Answer::Stopped(stopped) => Reply::Stopped { stopped },
        Answer::Restarted(restarted) => Reply::Restarted { restarted },
        Answer::Signalled(signalled) => Reply::Signalled { signalled },
        Answer::Changes(changes) => Reply::Changes { changes },
    }
}

fn process_info(r: reports::PsRow) -> ProcessInfo {
    ProcessInfo {
        name: r.name,
        pid: r.pid.map(crate::types::Pid::get),
        state: r.state.to_string(),
        ready: r.ready,
        uptime_secs: r.uptime_secs,
        restarts: r.restarts,
        last_exit: r.last_exit.map(crate::types::Exit::short),
        exit_status: r.last_exit.map(crate::types::Exit::status),
        why: r.why,
    }
}

/// The digest rows of the protocol, without output lines yet.
pub(crate) fn digest_rows(rows: Vec<reports::DigestRow>) -> Vec<DigestRow> {
    rows.into_iter()
        .map(|r| DigestRow {
            name: r.name,
            result: r.result,
            exit_status: r.exit_status,
            restarts: r.restarts,
            ran_secs: r.ran_secs,
            failed: r.failed,
            recovered: r.recovered,
            last_lines: Vec::new(),
        })
        .collect()
}

async fn send_error(w: &mut (impl tokio::io::AsyncWrite + Unpin), message: &str) -> io::Result<()> {
    w.write_all(&Message::Error(message.to_string()).to_line())
        .await
}

/// What `logs` reads: the hub, and the process of each instance.
#[derive(Clone, Copy)]
struct LogTable<'a> {
    hub: &'a LogHub,
    processes: &'a [String],
}

async fn serve_logs(
    w: &mut (impl tokio::io::AsyncWrite + Unpin),
    LogTable { hub, processes }: LogTable<'_>,
    names: &[String],
    lines: usize,
    follow: bool,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let all = &hub.names();
    let indexes: Vec<usize> = if names.is_empty() {
        (0..all.len()).collect()
    } else {
        let table: Vec<Instance<'_>> = all
            .iter()
            .enumerate()
            .map(|(i, name)| Instance {
                name,
                process: process_of(processes, name, i),
            })
            .collect();
        // `logs web web.1` names web.1 twice: its lines are shown once.
        match resolve(names, &table) {
            Ok(found) => found,
            Err(e) => return send_error(w, &e.to_string()).await,
        }
    };
    let names = indexes.iter().map(|i| all[*i].clone()).collect();
    let log_dir = hub.log_dir().map(std::path::Path::to_path_buf);
    w.write_all(&Message::Ok(Reply::Names { names, log_dir }).to_line())
        .await?;
    let (chunks, mut rx) = hub.snapshot(&indexes);
    let mut splitter = LineSplitter::default();
    let mut recent: Vec<LogLine> = Vec::new();
    for c in &chunks {
        splitter.push(c, |c, l| recent.push(log_line(all, c, l)));
    }
    let skip = recent.len().saturating_sub(lines);
    let mut out = Vec::new();
    for l in &recent[skip..] {
        push_line(&mut out, l);
    }
    w.write_all(&out).await?;
    if !follow {
        return w.write_all(&Message::End.to_line()).await;
    }
    loop {
        let chunk: Arc<LogChunk> = tokio::select! {
            r = rx.recv() => match r {
                Ok(c) => c,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    w.write_all(&Message::Skipped(n).to_line()).await?;
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = stop.changed() => break,
        };
        if !indexes.contains(&chunk.index) {
            continue;
        }
        let mut out = Vec::new();
        splitter.push(&chunk, |c, l| push_line(&mut out, &log_line(all, c, l)));
        w.write_all(&out).await?;
    }
    // What readers recorded before drover began exiting is still queued.
    while let Ok(chunk) = rx.try_recv() {
        if indexes.contains(&chunk.index) {
            let mut out = Vec::new();
            splitter.push(&chunk, |c, l| push_line(&mut out, &log_line(all, c, l)));
            w.write_all(&out).await?;
        }
    }
    w.write_all(&Message::End.to_line()).await
}

/// Adds the last `n` lines of output to each failed row.
pub fn fill_last_lines(rows: &mut [DigestRow], hub: &LogHub, n: usize) {
    for (i, row) in rows.iter_mut().enumerate() {
        if row.failed {
            row.last_lines = hub.last_lines(i, n);
        } else if row.recovered {
            row.last_lines = hub.failed_run_lines(i, n);
        }
    }
}

/// The process of instance `i`, `name`: from the start's table, or, for
/// an instance added at run time (`drover scale`), from its name.
pub(super) fn process_of<'a>(processes: &'a [String], name: &'a str, i: usize) -> &'a str {
    match processes.get(i) {
        Some(p) => p,
        None => name.rsplit_once('.').map_or(name, |(p, _)| p),
    }
}

fn log_line(names: &[String], c: &LogChunk, line: &[u8]) -> LogLine {
    let time: chrono::DateTime<chrono::Local> = c.time.into();
    // A terminal ends its lines with \r\n; the ring keeps the raw bytes.
    let line = match c.stream {
        crate::output::format::Stream::Tty => line.strip_suffix(b"\r").unwrap_or(line),
        _ => line,
    };
    LogLine {
        time: time.to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
        process: names.get(c.index).cloned().unwrap_or_default(),
        stream: c.stream.as_str().to_string(),
        line: String::from_utf8_lossy(line).into_owned(),
    }
}

fn push_line(out: &mut Vec<u8>, l: &LogLine) {
    Message::push_log(l, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits (without a deadline of its own) until `cond` holds.
    async fn wait_until(mut cond: impl FnMut() -> bool) {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_the_cap_a_connection_waits_until_a_handler_ends() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("control.sock");
        let socket = ControlSocket::bind(&path).expect("binding the socket");
        let (events, _events) = mpsc::unbounded_channel();
        let hub = LogHub::new(Vec::new());
        let (stop_tx, stop) = watch::channel(false);
        let test = janitor::enter_janitor(async move {
            let processes: Arc<[String]> = Arc::from(Vec::new());
            let terminals = Terminals::new(Vec::new(), &[]);
            janitor::job("control server").spawn(socket.serve_with(
                events,
                (hub, processes, terminals),
                None,
                stop,
            ));
            let mut idle = Vec::new();
            for _ in 0..MAX_CONNECTIONS {
                idle.push(UnixStream::connect(&path).await.expect("connecting"));
            }
            // Past the cap: it connects (the listen backlog) and sends its
            // request, but waits to be accepted.
            let mut last = UnixStream::connect(&path).await.expect("connecting");
            last.write_all(b"garbage\n").await.expect("sending");
            // The server job and one job per accepted connection; without
            // the cap the count would go on to 66 while the loop yields.
            let server_and_handlers = 1 + MAX_CONNECTIONS;
            wait_until(|| janitor::active_jobs() >= server_and_handlers).await;
            for _ in 0..100 {
                tokio::task::yield_now().await;
            }
            assert_eq!(janitor::active_jobs(), server_and_handlers);
            // One idle client hangs up: its handler ends, the last is served.
            drop(idle.pop());
            let mut answer = String::new();
            BufReader::new(&mut last)
                .read_line(&mut answer)
                .await
                .expect("reading the answer");
            assert!(answer.contains("not a valid request"), "{answer}");
            // Hung-up clients' handlers end at once, so stopping is quick.
            drop(idle);
            stop_tx.send_replace(true);
        });
        tokio::time::timeout(Duration::from_secs(60), test)
            .await
            .expect("the control server test hung");
    }
}
