//! Line framing for a terminal's output: turns what a program writes to its
//! pseudo-terminal into the same whole lines as a pipe's.
//!
//! Owns the line being built on one pty, the escape sequence being parsed and
//! the two timers of a terminal line: a partial line that stays quiet for
//! [`QUIET`] (a prompt) is printed as it stands, and a line rewritten with
//! bare `\r` (a progress bar) prints at most one intermediate state per
//! [`PROGRESS_EVERY`]. It never reads a clock: every call is given `now`, and
//! [`TtyFramer::deadline`] tells the reader when to call
//! [`TtyFramer::tick`], so its timing is tested on tokio's paused clock.
//!
//! What a terminal would draw is not emulated: cursor moves, erasures, title
//! changes (OSC) and every other escape sequence are removed, except SGR
//! (colors), which is kept or removed as asked. A bare `\r` replaces the line
//! being built, `\r\n` (and `\n`) ends it, a backspace removes the last
//! character. It never drops content that ends a line: the last state of a
//! progress line is always printed.

use tokio::time::{Duration, Instant};

use super::framer::{split_point, MAX_LINE};

/// How long a partial line must stay unchanged before it is printed as it
/// stands (a prompt such as `(Pdb) ` never gets its newline until answered).
pub const QUIET: Duration = Duration::from_millis(300);

/// The most often a line rewritten with `\r` prints an intermediate state.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// SGR reset, added after a line that kept colors so they cannot bleed into
/// the next line (which may be another process's).
const RESET: &[u8] = b"\x1b[0m";

/// Where the escape-sequence parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esc {
    /// Plain text.
    Ground,
    /// After ESC.
    Escape,
    /// After ESC and intermediate bytes (`ESC ( B`): ends at a final byte.
    Intermediate,
    /// Inside `ESC [` ... final byte; the bytes so far are in `csi`.
    Csi,
    /// Inside a string (OSC `ESC ]`, DCS `ESC P`, SOS, PM, APC): ends at BEL
    /// or ST (`ESC \`).
    Str,
    /// ESC inside a string: `\` ends it.
    StrEscape,
}

/// One line as the framer emits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtyLine<'a> {
    /// The line without its newline, escape sequences removed (SGR kept
    /// when asked).
    pub bytes: &'a [u8],
    /// The line had not ended: a prompt printed as it stood, or an
    /// intermediate state of a progress line. The rest of the line, if any,
    /// follows as a line of its own.
    pub partial: bool,
}

/// Frames the output of one pseudo-terminal into lines.
#[derive(Debug)]
pub struct TtyFramer {
    /// Keep SGR sequences (drover prints colors).
    keep_sgr: bool,
    max_line: usize,
    /// The line being built.
    line: Vec<u8>,
    /// The line holds something besides SGR sequences.
    visible: bool,
    /// The line holds an SGR sequence (a reset is added when it is emitted).
    colored: bool,
    /// A `\r` was read and what follows decides: `\n` ends the line,
    /// anything shown replaces it.
    cr: bool,
    esc: Esc,
    /// The CSI sequence being read, from its `[`.
    csi: Vec<u8>,
    /// When the line being built last changed.
    changed: Option<Instant>,
    /// When this line began or last printed an intermediate state: the
    /// earliest a rewrite with `\r` prints again is [`PROGRESS_EVERY`] later.
    progress_mark: Option<Instant>,
    /// The line has been rewritten with `\r` at least once.
    rewritten: bool,
    /// Part of this line was already printed as partial: an empty rest is
    /// not printed as a line of its own.
    flushed: bool,
}

impl TtyFramer {
    /// A framer that keeps SGR colors when `keep_sgr`, and removes them
    /// otherwise.
    pub fn new(keep_sgr: bool) -> Self {
        Self::with_max_line(keep_sgr, MAX_LINE)
    }

    /// Like [`new`](Self::new), splitting lines longer than `max_line` bytes.
    pub fn with_max_line(keep_sgr: bool, max_line: usize) -> Self {
        assert!(
            max_line >= 4,
            "a line limit below 4 bytes cannot hold one UTF-8 character"
        );
        Self {
            keep_sgr,
            max_line,
            line: Vec::new(),
            visible: false,
            colored: false,
            cr: false,
            esc: Esc::Ground,
            csi: Vec::new(),
            changed: None,
            progress_mark: None,
            rewritten: false,
            flushed: false,
        }
    }

    /// Bytes held back, waiting for the end of their line.
    pub fn pending(&self) -> usize {
        self.line.len()
    }

    /// Feeds `data`, read at `now`, and calls `emit` with each line it ends.
    pub fn push(&mut self, data: &[u8], now: Instant, mut emit: impl FnMut(TtyLine<'_>)) {
        let mut i = 0;
        while i < data.len() {
            if self.esc == Esc::Ground {
                // Fast path: a run of printable bytes (UTF-8 included).
                let run = data[i..]
                    .iter()
                    .position(|&b| b < 0x20 || b == 0x7f)
                    .unwrap_or(data.len() - i);
                if run > 0 {
                    self.show(&data[i..i + run], now, &mut emit);
                    i += run;
                    continue;
                }
            }
            self.control(data[i], now, &mut emit);
            i += 1;
        }
    }

    /// One byte that is not plain text, or any byte inside an escape sequence.
    fn control(&mut self, b: u8, now: Instant, emit: &mut impl FnMut(TtyLine<'_>)) {
        match self.esc {
            Esc::Ground => match b {
                b'\n' => self.end_line(emit),
                b'\r' => self.cr = true,
                0x1b => self.esc = Esc::Escape,
                b'\t' => self.show(b"\t", now, emit),
                0x08 => self.backspace(now),
                // BEL, NUL, shift-in/out, DEL and the other C0 controls draw nothing.
                _ => {}
            },
            Esc::Escape => match b {
                b'[' => {
                    self.csi.clear();
                    self.esc = Esc::Csi;
                }
                b']' | b'P' | b'X' | b'^' | b'_' => self.esc = Esc::Str,
                0x20..=0x2f => self.esc = Esc::Intermediate,
                0x1b => {}
                // A lone ESC followed by a control: drop the ESC, handle the control.
                0x00..=0x1f => {
                    self.esc = Esc::Ground;
                    self.control(b, now, emit);
                }
                // A two-byte sequence (ESC 7, ESC =, ESC M, ...): removed.
                _ => self.esc = Esc::Ground,
            },
            Esc::Intermediate => {
                if (0x30..=0x7e).contains(&b) {
                    self.esc = Esc::Ground;
                }
            }
            Esc::Csi => match b {
                0x40..=0x7e => {
                    self.esc = Esc::Ground;
                    if b == b'm' && self.keep_sgr {
                        let mut seq = Vec::with_capacity(self.csi.len() + 3);
                        seq.extend_from_slice(b"\x1b[");
                        seq.extend_from_slice(&self.csi);
                        seq.push(b'm');
                        self.add(&seq, now, emit);
                        self.colored = true;
                    }
                }
                0x1b => self.esc = Esc::Escape,
                // A control inside CSI is executed, as a terminal does.
                0x00..=0x1f => self.control_in_csi(b, now, emit),
                _ => {
                    // Bounded: a runaway sequence is dropped, not buffered.
                    if self.csi.len() < 64 {
                        self.csi.push(b);
                    }
                }
            },
            Esc::Str => match b {
                0x07 => self.esc = Esc::Ground,
                0x1b => self.esc = Esc::StrEscape,
                _ => {}
            },
            Esc::StrEscape => {
                self.esc = if b == b'\\' { Esc::Ground } else { Esc::Str };
            }
        }
    }

    fn control_in_csi(&mut self, b: u8, now: Instant, emit: &mut impl FnMut(TtyLine<'_>)) {
        self.esc = Esc::Ground;
        self.control(b, now, emit);
        if self.esc == Esc::Ground {
            self.esc = Esc::Csi;
        }
    }

    /// Shows printable bytes: first settles a pending `\r`.
    fn show(&mut self, text: &[u8], now: Instant, emit: &mut impl FnMut(TtyLine<'_>)) {
        self.add(text, now, emit);
        self.visible = true;
        if self.line.len() > self.max_line {
            self.flush_overlong(emit);
        }
    }

    /// Appends to the line being built; a pending bare `\r` first replaces it.
    fn add(&mut self, bytes: &[u8], now: Instant, emit: &mut impl FnMut(TtyLine<'_>)) {
        if self.cr {
            self.cr = false;
            self.replace(now, emit);
        }
        if self.changed.is_none() && self.progress_mark.is_none() {
            self.progress_mark = Some(now);
        }
        self.line.extend_from_slice(bytes);
        self.changed = Some(now);
    }

    /// A bare `\r` was followed by something to show: the line is drawn
    /// anew. Its old state is printed only if the last print of this line is
    /// [`PROGRESS_EVERY`] ago.
    fn replace(&mut self, now: Instant, emit: &mut impl FnMut(TtyLine<'_>)) {
        self.rewritten = true;
        let due = self
            .progress_mark
            .is_some_and(|mark| now >= mark + PROGRESS_EVERY);
        if self.visible && due {
            self.emit_line(true, emit);
            self.flushed = true;
            self.progress_mark = Some(now);
        }
        self.clear_line();
    }

    fn backspace(&mut self, now: Instant) {
        if self.cr {
            // At the start of the line, a backspace moves nowhere.
            return;
        }
        // Remove one character: its UTF-8 continuation bytes and its lead byte.
        while let Some(b) = self.line.pop() {
            if b & 0b1100_0000 != 0b1000_0000 {
                break;
            }
        }
        self.changed = Some(now);
    }

    /// `\n` (or `\r\n`): the line ends.
    fn end_line(&mut self, emit: &mut impl FnMut(TtyLine<'_>)) {
        self.cr = false;
        // The rest of a line already printed in part is printed only if
        // there is any: a prompt answered with nothing echoed (a password)
        // leaves no empty line behind.
        if self.visible || !self.flushed {
            self.emit_line(false, emit);
        }
        self.clear_line();
        self.changed = None;
        self.progress_mark = None;
        self.rewritten = false;
        self.flushed = false;
    }

    /// When [`tick`](Self::tick) has something to print, if ever.
    pub fn deadline(&self) -> Option<Instant> {
        if !self.visible {
            return None;
        }
        let quiet = self.changed? + QUIET;
        match (self.rewritten, self.progress_mark) {
            (true, Some(mark)) => Some(quiet.max(mark + PROGRESS_EVERY)),
            _ => Some(quiet),
        }
    }

    /// Prints the line being built as partial if it has been quiet long
    /// enough (see [`deadline`](Self::deadline)).
    pub fn tick(&mut self, now: Instant, mut emit: impl FnMut(TtyLine<'_>)) {
        let Some(deadline) = self.deadline() else {
            return;
        };
        if now < deadline {
            return;
        }
        // An incomplete UTF-8 character at the end waits for its other bytes.
        let keep = incomplete_utf8_tail(&self.line);
        let tail = self.line.split_off(self.line.len() - keep);
        self.emit_line(true, &mut emit);
        self.clear_line();
        self.line = tail;
        self.flushed = true;
        self.progress_mark = Some(now);
    }

    /// The stream ended: what is left of the line is printed as a last line.
    pub fn finish(&mut self, mut emit: impl FnMut(TtyLine<'_>)) {
        if self.visible {
            self.emit_line(false, &mut emit);
        }
        self.clear_line();
        self.cr = false;
        self.esc = Esc::Ground;
        self.changed = None;
        self.progress_mark = None;
        self.rewritten = false;
        self.flushed = false;
    }

    fn emit_line(&mut self, partial: bool, emit: &mut impl FnMut(TtyLine<'_>)) {
        if self.colored {
            self.line.extend_from_slice(RESET);
        }
        let mut rest: &[u8] = &self.line;
        while rest.len() > self.max_line {
            let cut = split_point(rest, self.max_line);
            emit(TtyLine {
                bytes: &rest[..cut],
                partial,
            });
            rest = &rest[cut..];
        }
        emit(TtyLine {
            bytes: rest,
            partial,
        });
    }

    /// While the line is over the limit, prints full-size pieces of it.
    fn flush_overlong(&mut self, emit: &mut impl FnMut(TtyLine<'_>)) {
        let mut start = 0;
        while self.line.len() - start > self.max_line {
            let cut = start + split_point(&self.line[start..], self.max_line);
            emit(TtyLine {
                bytes: &self.line[start..cut],
                partial: false,
            });
            start = cut;
        }
        self.line.drain(..start);
    }

    fn clear_line(&mut self) {
        self.line.clear();
        self.visible = false;
        self.colored = false;
    }
}

/// How many bytes at the end of `line` start a UTF-8 character whose other
/// bytes have not come yet (0 when the end is complete or not UTF-8).
fn incomplete_utf8_tail(line: &[u8]) -> usize {
    for back in 1..=3.min(line.len()) {
        let b = line[line.len() - back];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue;
        }
        let width = match b {
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => return 0,
        };
        return if width > back { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests;
