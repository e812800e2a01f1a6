//! Formatting of output lines: prefixes, colors, timestamps and JSON.
//!
//! Owns how a line looks; it never writes anything. Readers format their own
//! lines (in parallel, on the runtime's threads) into byte batches, and the
//! writer only copies batches to stdout.

use std::io::Write as _;
use std::sync::Arc;

use chrono::{Local, TimeZone};

// The mode is a shared value type (the plan reads it from drover.toml);
// re-exported here for the formatter's users.
pub use crate::types::OutputMode;

/// Which of a process's streams a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The process's standard output.
    Stdout,
    /// The process's standard error.
    Stderr,
    /// The process's pseudo-terminal (its stdout and stderr in one).
    Tty,
    /// drover's own records.
    System,
}

impl Stream {
    /// The name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Tty => "tty",
            Stream::System => "system",
        }
    }
}

/// How the whole stream is formatted; shared by every reader.
#[derive(Debug, Clone)]
pub struct Style {
    /// Text or JSON.
    pub mode: OutputMode,
    /// Whether text lines carry ANSI colors.
    pub color: bool,
    /// Whether text lines start with `HH:MM:SS`.
    pub timestamps: bool,
    /// Width of the name column (the longest process name).
    pub name_width: usize,
}

/// ANSI colors given to processes in turn, as foreman does.
const COLORS: &[&str] = &[
    "\x1b[36m", "\x1b[33m", "\x1b[32m", "\x1b[35m", "\x1b[34m", "\x1b[91m", "\x1b[96m", "\x1b[93m",
    "\x1b[92m", "\x1b[95m", "\x1b[94m",
];
const SYSTEM_COLOR: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Formats the lines of one source (a process instance or `system`).
///
/// Holds the prefix bytes ready-made, so formatting a text line is two copies.
#[derive(Debug, Clone)]
pub struct LineFormatter {
    style: Arc<Style>,
    /// `web.1  | ` padded, with its color, without the timestamp.
    prefix: Vec<u8>,
    /// The JSON-escaped process name, quoted.
    json_name: String,
    clock: ClockCache,
}

impl LineFormatter {
    /// Text or JSON: how the whole stream is formatted.
    pub fn mode(&self) -> OutputMode {
        self.style.mode
    }

    /// A formatter for process `name`; `index` picks its color.
    pub fn new(style: Arc<Style>, name: &str, index: usize) -> Self {
        let color = COLORS[index % COLORS.len()];
        Self::with_color(style, name, color)
    }

    /// A formatter of the same style for another process (one added at
    /// run time).
    pub fn for_process(&self, name: &str, index: usize) -> Self {
        Self::new(Arc::clone(&self.style), name, index)
    }

    /// The formatter for drover's own lines.
    pub fn system(style: Arc<Style>) -> Self {
        Self::with_color(style, "system", SYSTEM_COLOR)
    }

    fn with_color(style: Arc<Style>, name: &str, color: &str) -> Self {
        let mut prefix = Vec::new();
        let width = style.name_width;
        if style.color {
            prefix.extend_from_slice(color.as_bytes());
        }
        write!(prefix, "{name:<width$} |").expect("writing to a Vec cannot fail");
        if style.color {
            prefix.extend_from_slice(RESET.as_bytes());
        }
        prefix.push(b' ');
        let json_name = serde_json::to_string(name).expect("a str always serializes");
        Self {
            style,
            prefix,
            json_name,
            clock: ClockCache::default(),
        }
    }

    /// Whether lines are printed with colors (a terminal's SGR colors are
    /// kept then, and removed otherwise).
    pub fn colors(&self) -> bool {
        self.style.color
    }

    /// Starts a batch: reads the clock once for all lines formatted until the
    /// next call.
    pub fn begin_batch(&mut self) {
        if self.style.timestamps || self.style.mode == OutputMode::Json {
            self.clock.refresh(self.style.mode == OutputMode::Json);
        }
    }

    /// Appends `line` (without newline), formatted, plus a newline, to `out`.
    pub fn format(&self, stream: Stream, line: &[u8], out: &mut Vec<u8>) {
        self.format_line(stream, line, false, out);
    }

    /// Like [`format`](Self::format) for a line printed before it ended (a
    /// terminal's prompt): JSON marks it `"partial": true`; text shows it as
    /// any other line.
    pub fn format_partial(&self, stream: Stream, line: &[u8], out: &mut Vec<u8>) {
        self.format_line(stream, line, true, out);
    }

    fn format_line(&self, stream: Stream, line: &[u8], partial: bool, out: &mut Vec<u8>) {
        match self.style.mode {
            OutputMode::Text => {
                if self.style.timestamps {
                    if self.style.color {
                        out.extend_from_slice(b"\x1b[2m");
                    }
                    out.extend_from_slice(&self.clock.hms);
                    if self.style.color {
                        out.extend_from_slice(RESET.as_bytes());
                    }
                    out.push(b' ');
                }
                out.extend_from_slice(&self.prefix);
                out.extend_from_slice(line);
                out.push(b'\n');
            }
            OutputMode::Json => self.format_json(stream, line, partial, out),
        }
    }

    fn format_json(&self, stream: Stream, line: &[u8], partial: bool, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"time\":\"");
        out.extend_from_slice(self.clock.rfc3339.as_bytes());
        out.extend_from_slice(b"\",\"process\":");
        out.extend_from_slice(self.json_name.as_bytes());
        out.extend_from_slice(b",\"stream\":\"");
        out.extend_from_slice(stream.as_str().as_bytes());
        out.extend_from_slice(b"\",\"line\":");
        let (text, lossy) = match std::str::from_utf8(line) {
            Ok(s) => (std::borrow::Cow::Borrowed(s), false),
            Err(_) => (String::from_utf8_lossy(line), true),
        };
        serde_json::to_writer(&mut *out, &*text).expect("writing to a Vec cannot fail");
        if lossy {
            // The line had bytes that are not UTF-8; they were replaced by U+FFFD.
            out.extend_from_slice(b",\"invalid_utf8\":true");
        }
        if partial {
            out.extend_from_slice(b",\"partial\":true");
        }
        out.extend_from_slice(b"}\n");
    }
}

/// The wall clock, formatted, re-read at most once per batch and re-formatted
/// only when the second changes.
#[derive(Debug, Clone)]
struct ClockCache {
    second: i64,
    hms: [u8; 8],
    rfc3339: String,
}

impl Default for ClockCache {
    fn default() -> Self {
        let mut c = Self {
            second: i64::MIN,
            hms: *b"00:00:00",
            rfc3339: String::new(),
        };
        c.refresh(true);
        c
    }
}

impl ClockCache {
    fn refresh(&mut self, millis: bool) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let second = now.as_secs() as i64;
        if !millis && second == self.second {
            return;
        }
        let Some(local) = Local.timestamp_opt(second, now.subsec_nanos()).single() else {
            return;
        };
        if second != self.second {
            let text = local.format("%H:%M:%S").to_string();
            self.hms.copy_from_slice(&text.as_bytes()[..8]);
            self.second = second;
        }
        if millis {
            self.rfc3339 = local.to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style(mode: OutputMode, color: bool, timestamps: bool) -> Arc<Style> {
        Arc::new(Style {
            mode,
            color,
            timestamps,
            name_width: 6,
        })
    }

    #[test]
    fn text_line_pads_the_name_column() {
        let f = LineFormatter::new(style(OutputMode::Text, false, false), "web.1", 0);
        let mut out = Vec::new();
        f.format(Stream::Stdout, b"hello", &mut out);
        assert_eq!(out, b"web.1  | hello\n");
    }

    #[test]
    fn text_line_has_timestamp_and_color_when_asked() {
        let mut f = LineFormatter::new(style(OutputMode::Text, true, true), "web.1", 0);
        f.begin_batch();
        let mut out = Vec::new();
        f.format(Stream::Stdout, b"hi", &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("\x1b[36mweb.1  |\x1b[0m hi\n"), "{s:?}");
        assert_eq!(s.as_bytes()[6], b':', "{s:?}");
    }

    #[test]
    fn invalid_utf8_passes_through_in_text_mode() {
        let f = LineFormatter::new(style(OutputMode::Text, false, false), "a", 0);
        let mut out = Vec::new();
        f.format(Stream::Stdout, b"\xff\xfe", &mut out);
        assert!(out.ends_with(b"| \xff\xfe\n"));
    }

    #[test]
    fn json_line_replaces_invalid_utf8_and_says_so() {
        let mut f = LineFormatter::new(style(OutputMode::Json, false, true), "web.1", 0);
        f.begin_batch();
        let mut out = Vec::new();
        f.format(Stream::Stderr, b"a\"b\xff", &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["process"], "web.1");
        assert_eq!(v["stream"], "stderr");
        assert_eq!(v["line"], "a\"b\u{fffd}");
        assert_eq!(v["invalid_utf8"], true);
        assert!(v["time"].as_str().unwrap().len() >= 20);
    }

    #[test]
    fn json_marks_a_partial_tty_line() {
        let f = LineFormatter::new(style(OutputMode::Json, false, false), "repl", 0);
        let mut out = Vec::new();
        f.format_partial(Stream::Tty, b"(Pdb) ", &mut out);
        f.format(Stream::Tty, b"42", &mut out);
        let lines: Vec<serde_json::Value> = serde_json::Deserializer::from_slice(&out)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(lines[0]["stream"], "tty");
        assert_eq!(lines[0]["line"], "(Pdb) ");
        assert_eq!(lines[0]["partial"], true);
        assert_eq!(lines[1].get("partial"), None);
    }

    #[test]
    fn text_shows_a_partial_line_as_any_other() {
        let f = LineFormatter::new(style(OutputMode::Text, false, false), "repl", 0);
        let mut out = Vec::new();
        f.format_partial(Stream::Tty, b">>> ", &mut out);
        assert_eq!(out, b"repl   | >>> \n");
    }
}
