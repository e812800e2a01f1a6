//! The TUI's inputs, each on a thread of its own, all ending in one
//! channel of [`Event`]s that the screen loop blocks on: keys and resizes,
//! the process table every second (and after each request), the log
//! follow, and SIGTERM/SIGHUP.
//!
//! Nothing here draws or decides. The log follow never holds drover back:
//! it reads `logs -f` as fast as lines come and parks them in a bounded
//! [`Inbox`]; when the screen loop is slower, the oldest parked lines are
//! dropped and counted, and when drover says the follow fell behind, the
//! follow is opened again, starting from drover's ring.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, KeyEventKind};

use super::app::{Row, KEEP_LINES, PS_EVERY};
use super::stats::Sampler;
use crate::control::client::{self, ClientError, LogItem, LogStream};
use crate::control::protocol::{LogLine, Reply, Request};

/// Something the screen loop has to look at.
#[derive(Debug)]
pub(crate) enum Event {
    /// A key or a resize.
    Term(TermEvent),
    /// A fresh process table.
    Rows(Vec<Row>),
    /// Lines wait in the [`Inbox`].
    Lines,
    /// What drover answered to a request, for the status line.
    Answer(String),
    /// drover cannot be reached (it exited?).
    Gone(String),
    /// SIGTERM or SIGHUP: leave, restoring the terminal.
    Signal,
}

/// Log lines between the follow thread and the screen loop.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    /// Lines not yet taken, oldest first.
    pub(crate) lines: VecDeque<LogLine>,
    /// The follow started again from the ring: forget the lines shown.
    pub(crate) reset: bool,
    /// Chunks (drover's) or lines (ours) skipped since the last take.
    pub(crate) skipped: u64,
    /// An [`Event::Lines`] is on its way: no need for another.
    notified: bool,
}

/// The shared [`Inbox`].
pub(crate) type SharedInbox = Arc<Mutex<Inbox>>;

impl Inbox {
    /// Takes what waits, for the screen loop.
    pub(crate) fn take(inbox: &SharedInbox) -> Inbox {
        let mut i = inbox.lock().expect("the inbox is never poisoned");
        let taken = std::mem::take(&mut *i);
        Inbox {
            notified: false,
            ..taken
        }
    }

    fn put(inbox: &SharedInbox, events: &Sender<Event>, f: impl FnOnce(&mut Inbox)) -> bool {
        let mut i = inbox.lock().expect("the inbox is never poisoned");
        f(&mut i);
        if i.lines.len() > KEEP_LINES {
            let over = i.lines.len() - KEEP_LINES;
            i.lines.drain(..over);
            i.skipped += over as u64;
        }
        if i.notified {
            return true;
        }
        i.notified = true;
        events.send(Event::Lines).is_ok()
    }
}

/// Asks the key reader to stop reading: it acknowledges on the first
/// sender, then waits for the second channel to say "go on".
pub(crate) type Pause = (Sender<()>, Receiver<()>);

/// How long the key reader waits for a key before looking for a [`Pause`].
const KEY_POLL: Duration = Duration::from_millis(200);

/// Reads keys and resizes; stops reading while paused (while `drover
/// attach` has the terminal), so that no key is taken from it.
pub(crate) fn keys(events: Sender<Event>, pauses: Receiver<Pause>) {
    loop {
        if let Ok((ack, go_on)) = pauses.try_recv() {
            let _ = ack.send(());
            let _ = go_on.recv();
        }
        match crossterm::event::poll(KEY_POLL) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => return,
        }
        let Ok(e) = crossterm::event::read() else {
            return;
        };
        let keep = match &e {
            TermEvent::Key(k) => k.kind != KeyEventKind::Release,
            TermEvent::Resize(..) | TermEvent::Mouse(_) => true,
            _ => false,
        };
        if keep && events.send(Event::Term(e)).is_err() {
            return;
        }
    }
}

/// Follows drover's output into `inbox`, opening the follow again (from
/// the ring) when drover says it fell behind or the connection drops.
pub(crate) fn logs(paths: Vec<PathBuf>, inbox: SharedInbox, events: Sender<Event>) {
    loop {
        match follow(&paths, &inbox, &events) {
            // The screen loop is gone.
            Ok(false) => return,
            // drover ended the stream, or the follow fell behind.
            Ok(true) => {}
            Err(e) => {
                if events.send(Event::Gone(e.to_string())).is_err() {
                    return;
                }
                std::thread::sleep(PS_EVERY);
            }
        }
    }
}

/// One `logs -f` connection, its lines put into `inbox`; `Ok(false)` once
/// the screen loop is gone.
fn follow(
    paths: &[PathBuf],
    inbox: &SharedInbox,
    events: &Sender<Event>,
) -> Result<bool, ClientError> {
    let request = Request::Logs {
        names: Vec::new(),
        lines: KEEP_LINES,
        follow: true,
    };
    let mut stream = LogStream::open(paths, request)?;
    let mut first = true;
    while let Some(item) = stream.next_line()? {
        let (line, skip) = match item {
            LogItem::Line(l) => (Some(l), 0),
            LogItem::Skipped(n) => (None, n),
        };
        // A new connection replays drover's ring: it replaces what was shown.
        let reset = std::mem::take(&mut first);
        let open = Inbox::put(inbox, events, |i| {
            if reset {
                i.lines.clear();
                i.reset = true;
            }
            i.skipped += skip;
            i.lines.extend(line);
        });
        if !open {
            return Ok(false);
        }
        if skip > 0 {
            // Fallen behind: start again from the ring.
            return Ok(true);
        }
    }
    Ok(true)
}

/// Polls drover's process table at once, then every [`PS_EVERY`] and
/// after each of `requests`, which it sends to drover.
pub(crate) fn table(paths: Vec<PathBuf>, requests: Receiver<Request>, events: Sender<Event>) {
    let mut sampler = Sampler::default();
    loop {
        let event = match client::call(&paths, Request::Ps) {
            Ok(Reply::Processes { processes }) => {
                let now = Instant::now();
                let live: Vec<i32> = processes.iter().filter_map(|p| p.pid).collect();
                sampler.retain(&live);
                Event::Rows(
                    processes
                        .into_iter()
                        .map(|info| Row {
                            usage: info.pid.and_then(|p| sampler.sample(p, now)),
                            info,
                        })
                        .collect(),
                )
            }
            Ok(other) => Event::Gone(format!("unexpected answer to ps: {other:?}")),
            Err(e @ ClientError::Refused(_)) => Event::Answer(e.to_string()),
            Err(e) => Event::Gone(e.to_string()),
        };
        if events.send(event).is_err() {
            return;
        }
        match requests.recv_timeout(PS_EVERY) {
            Ok(request) => {
                let answer = match client::call(&paths, request) {
                    Ok(reply) => describe(&reply),
                    Err(e) => e.to_string(),
                };
                if events.send(Event::Answer(answer)).is_err() {
                    return;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn describe(reply: &Reply) -> String {
    match reply {
        Reply::Stopped { stopped: n } => format!("stopping: {}", n.join(", ")),
        Reply::Restarted { restarted: n } => format!("restarting: {}", n.join(", ")),
        Reply::Signalled { signalled: n } => format!("signalled: {}", n.join(", ")),
        _ => "done".into(),
    }
}

/// Blocks SIGTERM, SIGHUP and SIGINT in this thread and those it starts
/// after, and starts one that waits for them and says so: the screen loop
/// then restores the terminal as on `q`.
pub(crate) fn signals(events: Sender<Event>) {
    // SAFETY: plain libc calls on a local, initialised signal set.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || loop {
        let mut sig = 0;
        // SAFETY: `set` is initialised; sigwait only writes `sig`.
        if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
            let _ = events.send(Event::Signal);
            return;
        }
    });
}

/// How long the screen loop waits when nothing is due: long, since every
/// input wakes it.
pub(crate) const IDLE: Duration = Duration::from_secs(3600);
