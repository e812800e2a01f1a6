//! `drover tui` and `drover start --tui`: one terminal screen to see and
//! steer a running stack, as a client of its control socket.
//!
//! The TUI is only a client: it can come and go while the stack runs, and
//! a slow or stopped TUI never slows drover (it reads the same bounded
//! `logs -f` follow as the command line client). The screen loop blocks on
//! one channel fed by [`feed`]'s threads and redraws at most
//! [`MAX_FPS`] times a second, only when something changed: idle, it
//! sleeps. `start --tui` runs `drover start` as a child whose output goes
//! only to drover's ring (its stdout is /dev/null), then opens the TUI on
//! its socket; quitting there (after a confirmation) shuts the stack down
//! as Ctrl-C does.

mod app;
mod feed;
mod stats;
mod term;
mod view;

#[cfg(test)]
mod tests;

use std::io::{self, Read as _};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, MouseEventKind};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::cli::{StartArgs, TuiArgs};
use crate::control::client;
use crate::control::protocol::Request;
use crate::control::terminal::clean;
use app::{Action, App};
use feed::{Event, Inbox};

/// The most redraws in a second.
pub const MAX_FPS: u32 = 30;

/// The keys and what they do, for documentation.
pub fn keys() -> &'static [(&'static str, &'static str)] {
    view::KEYS
}

/// Runs `drover tui` and returns its exit status.
pub fn main(args: TuiArgs) -> u8 {
    let paths = client::socket_paths(args.client.socket.as_deref());
    // Fail before taking the terminal when there is nothing to show.
    if let Err(e) = client::call(&paths, Request::Ps) {
        eprintln!("drover: {}", clean(&e.to_string()));
        return 1;
    }
    match run(paths, args.mouse, false) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("drover: the terminal failed: {e}");
            1
        }
    }
}

/// Runs `drover start --tui`: the stack in a child `drover start`, this
/// process the TUI; returns the stack's exit status.
pub fn start(args: &StartArgs) -> u8 {
    let paths = match crate::commands::start::options(args).and_then(|o| crate::plan::plan(&o)) {
        Ok(plan) => {
            let socket = args.socket.clone().unwrap_or(plan.socket);
            let mut paths = vec![socket];
            paths.extend(crate::control::endpoint::fallback(&plan.root).ok());
            paths
        }
        // The child says what is wrong, as `start` does.
        Err(_) => Vec::new(),
    };
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("drover"));
    let child_args = std::env::args_os()
        .skip(1)
        .filter(|a| a != "--tui" && a != "--mouse");
    let mut child = match Command::new(exe)
        .args(child_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("drover: cannot start the stack: {e}");
            return 1;
        }
    };
    let errors = Arc::new(Mutex::new(Vec::new()));
    if let Some(mut stderr) = child.stderr.take() {
        let errors = Arc::clone(&errors);
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf);
            *errors.lock().expect("never poisoned") = buf;
        });
    }
    let finish = |child: &mut std::process::Child| -> u8 {
        let status = child.wait().ok().and_then(|s| s.code()).unwrap_or(1);
        // Give the reader a moment to see the end of the pipe.
        std::thread::sleep(Duration::from_millis(50));
        eprint!(
            "{}",
            String::from_utf8_lossy(&errors.lock().expect("never poisoned"))
        );
        u8::try_from(status).unwrap_or(1)
    };
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return finish(&mut child);
        }
        if !paths.is_empty() && client::call(&paths, Request::Ps).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let outcome = run(paths.clone(), args.mouse, true);
    // Quit after confirming, SIGTERM, or a broken terminal: stop the stack.
    let _ = client::call(&paths, Request::Shutdown);
    if let Err(e) = outcome {
        eprintln!("drover: the terminal failed: {e}");
    }
    finish(&mut child)
}

/// The screen loop; returns once the user quits (or a signal came).
fn run(paths: Vec<PathBuf>, mouse: bool, owns_stack: bool) -> io::Result<()> {
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let (events, rx) = mpsc::channel();
    feed::signals(events.clone());
    let inbox = Arc::new(Mutex::new(Inbox::default()));
    let (requests, request_rx) = mpsc::channel();
    let (pauses, pause_rx) = mpsc::channel();
    {
        let events = events.clone();
        std::thread::spawn(move || feed::keys(events, pause_rx));
    }
    let socket = paths.clone();
    {
        let (paths, inbox, events) = (paths.clone(), Arc::clone(&inbox), events.clone());
        std::thread::spawn(move || feed::logs(paths, inbox, events));
    }
    std::thread::spawn(move || feed::table(paths, request_rx, events));

    let _guard = term::Guard::enter(mouse)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    let mut app = App::new(owns_stack);
    let frame = Duration::from_secs(1) / MAX_FPS;
    let mut last = Instant::now() - frame;
    let mut dirty = true;
    loop {
        let wait = if dirty {
            frame.saturating_sub(last.elapsed())
        } else {
            feed::IDLE
        };
        let first = match rx.recv_timeout(wait) {
            Ok(e) => Some(e),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        for event in first.into_iter().chain(rx.try_iter()) {
            dirty = true;
            match event {
                Event::Term(TermEvent::Key(key)) => match app.key(key) {
                    Action::None => {}
                    Action::Send(r) => {
                        let _ = requests.send(r);
                    }
                    Action::Copy(text) => {
                        if let Err(e) = term::copy(&text) {
                            app.message = format!("copy failed: {e}");
                        }
                    }
                    Action::Attach(name) => {
                        app.message = attach(&socket, &name, &pauses, mouse)?;
                        terminal.clear()?;
                    }
                    Action::Quit { .. } => return Ok(()),
                },
                Event::Term(TermEvent::Mouse(m)) => match m.kind {
                    MouseEventKind::ScrollUp => app.wheel(true),
                    MouseEventKind::ScrollDown => app.wheel(false),
                    _ => dirty = false,
                },
                Event::Term(_) => {}
                Event::Lines => {
                    let taken = Inbox::take(&inbox);
                    if taken.reset {
                        app.reset_lines();
                    }
                    app.skipped += taken.skipped;
                    for l in &taken.lines {
                        app.push(l);
                    }
                }
                Event::Rows(rows) => {
                    if app.drover == "gone" {
                        app.drover = "running".into();
                        app.message.clear();
                    }
                    app.set_rows(rows);
                }
                Event::Answer(text) => app.message = clean(&text).into_owned(),
                Event::Gone(text) => {
                    app.drover = "gone".into();
                    app.message = clean(&text).into_owned();
                }
                Event::Signal => return Ok(()),
            }
        }
        if dirty && last.elapsed() >= frame {
            terminal.draw(|f| view::render(f, &mut app, color))?;
            last = Instant::now();
            dirty = false;
        }
    }
}

/// Runs `drover attach NAME` on this terminal, the TUI's key reader and
/// modes set aside meanwhile; what to tell the user after.
fn attach(
    paths: &[PathBuf],
    name: &str,
    pauses: &mpsc::Sender<feed::Pause>,
    mouse: bool,
) -> io::Result<String> {
    use std::os::unix::process::CommandExt as _;
    let (ack, acked) = mpsc::channel();
    let (go_on, resume) = mpsc::channel();
    if pauses.send((ack, resume)).is_err() || acked.recv().is_err() {
        return Ok("attach: the key reader is gone".into());
    }
    term::restore();
    let socket = paths
        .iter()
        .find(|p| p.exists())
        .or(paths.first())
        .cloned()
        .unwrap_or_default();
    let mut cmd = Command::new(std::env::current_exe().unwrap_or_else(|_| "drover".into()));
    cmd.arg("attach").arg(name).arg("--socket").arg(socket);
    // SAFETY: only unblocks signals (async-signal-safe) in the child,
    // which should get SIGTERM and SIGINT as any attach does.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let status = cmd.status();
    term::enter(mouse)?;
    let _ = go_on.send(());
    Ok(match status {
        Ok(s) if s.success() => format!("detached from {name}"),
        Ok(_) => format!("attach to {name} failed (a process needs tty = true)"),
        Err(e) => format!("cannot run drover attach: {e}"),
    })
}
