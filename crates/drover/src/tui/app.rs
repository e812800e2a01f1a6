//! The TUI's state and what each key does to it.
//!
//! Pure: no terminal, no socket, no clock of its own. Keys become changes
//! of [`App`] and, for what drover must do, [`Action`]s that the caller
//! carries out; the view only reads an [`App`]. That keeps every key
//! testable without a terminal.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use regex_lite::Regex;

use super::stats::Usage;
use crate::control::protocol::{LogLine, ProcessInfo, Request};
use crate::control::terminal::clean;

/// Lines kept in the TUI's own buffer: about what drover's ring holds for a
/// few busy processes; older lines are dropped first.
pub(crate) const KEEP_LINES: usize = 20_000;

/// One line of output as the TUI keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// Arrival order, never reused: scrolling and search anchor on it.
    pub(crate) seq: u64,
    /// `web.1`.
    pub(crate) process: String,
    /// `HH:MM:SS`.
    pub(crate) time: String,
    /// The text, without any terminal control.
    pub(crate) text: String,
    /// It came from stderr.
    pub(crate) stderr: bool,
}

/// One row of the process list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    /// What drover says.
    pub(crate) info: ProcessInfo,
    /// CPU and memory, when they could be read.
    pub(crate) usage: Option<Usage>,
}

/// What is being typed at the bottom line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Prompt {
    /// A search regex.
    Search(String),
    /// The signal to send to the selected process.
    Signal(String),
    /// Quit `start --tui` and stop the stack? (y/n)
    ConfirmQuit,
}

/// What the caller has to do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Nothing beyond a redraw.
    None,
    /// Send this request to drover.
    Send(Request),
    /// Copy this text to the clipboard (OSC 52).
    Copy(String),
    /// Hand the terminal to `drover attach` for this instance (drover
    /// refuses one without a pty), then come back.
    Attach(String),
    /// Leave the TUI; `true`: stop the stack first.
    Quit {
        /// Shut the stack down before leaving.
        shutdown: bool,
    },
}

/// Everything the screen shows.
#[derive(Debug)]
pub(crate) struct App {
    /// The process table, in drover's order (that is the color order).
    pub(crate) rows: Vec<Row>,
    /// The selected row.
    pub(crate) selected: usize,
    /// Show only the selected instance's lines.
    pub(crate) one: bool,
    /// Recent lines, oldest first, at most [`KEEP_LINES`].
    pub(crate) lines: VecDeque<Line>,
    next_seq: u64,
    /// Stay at the newest line.
    pub(crate) follow: bool,
    /// When not following: the seq of the lowest line shown.
    pub(crate) anchor: u64,
    /// Height of the log pane at the last draw, for paging.
    pub(crate) page: usize,
    /// The search, once entered.
    pub(crate) search: Option<Regex>,
    /// The line being typed, if any.
    pub(crate) prompt: Option<Prompt>,
    /// The help screen is up.
    pub(crate) help: bool,
    /// The last thing to tell the user (an answer, an error).
    pub(crate) message: String,
    /// Lines drover's follow skipped because the TUI fell behind, in all.
    pub(crate) skipped: u64,
    /// drover's own state as far as the TUI knows: `running`, `paused`,
    /// `stopping`, `gone`.
    pub(crate) drover: String,
    /// Quitting stops the stack (`start --tui`).
    pub(crate) owns_stack: bool,
    /// The process name of each instance, for the color of its lines.
    pub(crate) colors: HashMap<String, usize>,
}

impl App {
    /// An empty screen; `owns_stack` for `start --tui`.
    pub(crate) fn new(owns_stack: bool) -> Self {
        Self {
            rows: Vec::new(),
            selected: 0,
            one: false,
            lines: VecDeque::new(),
            next_seq: 0,
            follow: true,
            anchor: 0,
            page: 10,
            search: None,
            prompt: None,
            help: false,
            message: String::new(),
            skipped: 0,
            drover: "running".into(),
            owns_stack,
            colors: HashMap::new(),
        }
    }

    /// The name of the selected instance.
    pub(crate) fn selected_name(&self) -> Option<&str> {
        self.rows.get(self.selected).map(|r| r.info.name.as_str())
    }

    /// A new process table; the selection stays on the same name.
    pub(crate) fn set_rows(&mut self, rows: Vec<Row>) {
        let keep = self.selected_name().map(str::to_owned);
        self.rows = rows;
        self.selected = keep
            .and_then(|n| self.rows.iter().position(|r| r.info.name == n))
            .unwrap_or(self.selected)
            .min(self.rows.len().saturating_sub(1));
        self.colors = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.info.name.clone(), i))
            .collect();
        if self.drover != "gone" && self.drover != "paused" {
            let stopping = !self.rows.is_empty()
                && self.rows.iter().all(|r| {
                    matches!(
                        r.info.state.as_str(),
                        "stopping" | "stopped" | "exited" | "not started"
                    )
                })
                && self.rows.iter().any(|r| r.info.state == "stopping");
            self.drover = if stopping { "stopping" } else { "running" }.into();
        }
        if self.rows.iter().any(|r| r.info.state == "paused") {
            self.drover = "paused".into();
        }
    }

    /// Appends a line from drover, dropping the oldest past [`KEEP_LINES`].
    pub(crate) fn push(&mut self, l: &LogLine) {
        let line = Line {
            seq: self.next_seq,
            process: plain(&l.process),
            time: l.time.get(11..19).unwrap_or("").to_owned(),
            text: plain(&l.line),
            stderr: l.stream == "stderr",
        };
        self.next_seq += 1;
        if self.lines.len() == KEEP_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// Forgets every line: the follow starts again from drover's ring.
    pub(crate) fn reset_lines(&mut self) {
        self.lines.clear();
    }

    /// Whether the log pane shows this line.
    pub(crate) fn shows(&self, l: &Line) -> bool {
        !self.one || self.selected_name() == Some(l.process.as_str())
    }

    /// The lines of the log pane, oldest first, at most `height`.
    pub(crate) fn window(&self, height: usize) -> Vec<&Line> {
        let mut out: Vec<&Line> = self
            .lines
            .iter()
            .rev()
            .filter(|l| self.follow || l.seq <= self.anchor)
            .filter(|l| self.shows(l))
            .take(height)
            .collect();
        out.reverse();
        out
    }

    /// The seq `n` shown lines above (negative: below) the current bottom.
    fn moved(&self, n: isize) -> Option<u64> {
        let bottom = if self.follow {
            self.lines.back()?.seq
        } else {
            self.anchor
        };
        let shown = |l: &&Line| self.shows(l);
        if n >= 0 {
            let mut up = self
                .lines
                .iter()
                .rev()
                .filter(|l| l.seq <= bottom)
                .filter(shown);
            let last = up.clone().last().map(|l| l.seq);
            up.nth(n as usize).map(|l| l.seq).or(last)
        } else {
            let mut down = self.lines.iter().filter(|l| l.seq >= bottom).filter(shown);
            // None: past the newest line, so the caller follows again.
            down.nth(n.unsigned_abs()).map(|l| l.seq)
        }
    }

    fn scroll(&mut self, n: isize) {
        match self.moved(n) {
            Some(seq) => {
                // The top page is as far as it goes: a full pane, not one line.
                let top = self
                    .lines
                    .iter()
                    .filter(|l| self.shows(l))
                    .take(self.page)
                    .last()
                    .map_or(seq, |l| l.seq);
                self.follow = false;
                self.anchor = seq.max(top);
            }
            None if n < 0 => self.follow = true,
            None => {}
        }
    }

    /// The next (`forward`: newer) line matching the search, from the
    /// current bottom line; scrolls there.
    fn find(&mut self, forward: bool) {
        let Some(re) = &self.search else {
            self.message = "no search: press / first".into();
            return;
        };
        let bottom = if self.follow { u64::MAX } else { self.anchor };
        let hit = |l: &&Line| self.shows(l) && re.is_match(&l.text);
        let found = if forward {
            self.lines.iter().filter(|l| l.seq > bottom).find(hit)
        } else {
            self.lines.iter().rev().filter(|l| l.seq < bottom).find(hit)
        };
        match found.map(|l| l.seq) {
            Some(seq) => {
                self.follow = false;
                self.anchor = seq;
                self.message.clear();
            }
            None => self.message = "no more matches".into(),
        }
    }

    /// The mouse wheel (with `--mouse`): three lines up or down.
    pub(crate) fn wheel(&mut self, up: bool) {
        self.scroll(if up { 3 } else { -3 });
    }

    /// What key `key` does.
    pub(crate) fn key(&mut self, key: KeyEvent) -> Action {
        if let Some(prompt) = self.prompt.take() {
            return self.prompt_key(prompt, key);
        }
        if self.help {
            self.help = false;
            return Action::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        self.message.clear();
        match key.code {
            KeyCode::Char('c') if ctrl => return self.quit(),
            KeyCode::Char('q') => return self.quit(),
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(self.rows.len().saturating_sub(1));
            }
            KeyCode::Enter => self.one = !self.one,
            KeyCode::Char('r') => {
                return self.on_selected(|n| Request::Restart {
                    names: vec![n],
                    wait: false,
                })
            }
            KeyCode::Char('s') => {
                let stopped = self.rows.get(self.selected).is_some_and(|r| {
                    matches!(
                        r.info.state.as_str(),
                        "stopped" | "exited" | "failed" | "not started"
                    )
                });
                return self.on_selected(|n| {
                    if stopped {
                        Request::Restart {
                            names: vec![n],
                            wait: false,
                        }
                    } else {
                        Request::Stop {
                            names: vec![n],
                            force: false,
                        }
                    }
                });
            }
            KeyCode::Char('x') if !self.rows.is_empty() => {
                self.prompt = Some(Prompt::Signal(String::new()));
            }
            KeyCode::Char('p') => {
                let paused = self.drover == "paused";
                self.drover = if paused { "running" } else { "paused" }.into();
                return Action::Send(if paused {
                    Request::Resume
                } else {
                    Request::Pause
                });
            }
            KeyCode::Char('/') => self.prompt = Some(Prompt::Search(String::new())),
            KeyCode::Char('n') => self.find(true),
            KeyCode::Char('N') => self.find(false),
            KeyCode::Char('f') => {
                self.follow = !self.follow;
                if let (false, Some(l)) = (self.follow, self.lines.back()) {
                    self.anchor = l.seq;
                }
            }
            KeyCode::PageUp => self.scroll(self.page.saturating_sub(1).max(1) as isize),
            KeyCode::PageDown => self.scroll(-(self.page.saturating_sub(1).max(1) as isize)),
            KeyCode::Home => self.scroll(isize::MAX / 2),
            KeyCode::End => self.follow = true,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('a') => {
                return match self.selected_name() {
                    Some(n) => Action::Attach(n.to_owned()),
                    None => Action::None,
                };
            }
            KeyCode::Char('c') => {
                let text: Vec<String> = self
                    .window(self.page)
                    .iter()
                    .map(|l| format!("{} {} | {}", l.time, l.process, l.text))
                    .collect();
                self.message = format!("copied {} lines", text.len());
                return Action::Copy(text.join("\n"));
            }
            _ => {}
        }
        Action::None
    }

    fn quit(&mut self) -> Action {
        if self.owns_stack && self.drover != "gone" {
            self.prompt = Some(Prompt::ConfirmQuit);
            return Action::None;
        }
        Action::Quit { shutdown: false }
    }

    fn on_selected(&mut self, request: impl FnOnce(String) -> Request) -> Action {
        match self.selected_name() {
            Some(n) => Action::Send(request(n.to_owned())),
            None => Action::None,
        }
    }

    fn prompt_key(&mut self, prompt: Prompt, key: KeyEvent) -> Action {
        if prompt == Prompt::ConfirmQuit {
            return match key.code {
                KeyCode::Char('y' | 'Y') => Action::Quit { shutdown: true },
                _ => Action::None,
            };
        }
        let (mut text, search) = match prompt {
            Prompt::Search(t) => (t, true),
            Prompt::Signal(t) => (t, false),
            Prompt::ConfirmQuit => unreachable!("handled above"),
        };
        match key.code {
            KeyCode::Esc => return Action::None,
            KeyCode::Enter if search => {
                match Regex::new(&text) {
                    Ok(re) if !text.is_empty() => {
                        self.search = Some(re);
                        self.follow = true;
                        self.find(false);
                    }
                    Ok(_) => self.search = None,
                    Err(e) => self.message = format!("bad regex: {e}"),
                }
                return Action::None;
            }
            KeyCode::Enter => {
                return match self.selected_name() {
                    Some(n) if !text.is_empty() => Action::Send(Request::Kill {
                        name: n.to_owned(),
                        signal: text,
                    }),
                    _ => Action::None,
                };
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) => text.push(c),
            _ => {}
        }
        self.prompt = Some(if search {
            Prompt::Search(text)
        } else {
            Prompt::Signal(text)
        });
        Action::None
    }
}

/// `text` as plain characters for a cell grid: terminal controls shown
/// escaped (as the other clients print them), drover's and the processes'
/// colors dropped, tabs as spaces.
pub(crate) fn plain(text: &str) -> String {
    let cleaned = clean(text);
    if !cleaned.contains(['\x1b', '\t']) {
        return cleaned.into_owned();
    }
    let mut out = String::with_capacity(cleaned.len());
    let mut rest = cleaned.as_ref();
    while let Some(i) = rest.find(['\x1b', '\t']) {
        out.push_str(&rest[..i]);
        if rest[i..].starts_with('\t') {
            out.push_str("    ");
            rest = &rest[i + 1..];
            continue;
        }
        // clean() lets only SGR through: ESC [ params m.
        let end = rest[i..].find('m').map_or(rest.len(), |m| i + m + 1);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// `secs` as drover's `ps` shows an uptime.
pub(crate) fn uptime(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// How long the TUI waits between two `ps`.
pub(crate) const PS_EVERY: Duration = Duration::from_secs(1);
