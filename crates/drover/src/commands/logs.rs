//! `drover logs`: recent lines from a running drover's memory, older ones
//! from its log files, filtered by time (`--since`, `--until`) and text
//! (`--grep`, `-i`), as text or JSON; `-f` then follows new lines.
//!
//! Client side only: the control socket gives the ring's lines and where
//! the log files are; this module reads the files, merges and filters. It
//! must not know the server's internals.

use std::io::{self, BufRead as _, Write as _};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, Local, NaiveTime, TimeZone as _};
use regex_lite::{Regex, RegexBuilder};

use crate::cli::LogsArgs;
use crate::control::client::{self, ClientError, LogItem, LogStream};
use crate::control::protocol::{LogLine, Request};
use crate::control::terminal::clean;
use crate::EXIT_BAD_INPUT;

/// Lines shown without `-n` or `--since`.
const DEFAULT_LINES: usize = 100;

/// Runs `drover logs`; its exit status.
pub fn main(args: LogsArgs) -> u8 {
    let filter = match Filter::new(&args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("drover: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    match run(&args, &filter) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("drover: {e}");
            1
        }
    }
}

/// A `--since`, `--until` or `--grep` that means nothing.
#[derive(Debug, thiserror::Error)]
enum FilterError {
    #[error("{option} {given:?}: not a duration (10m, 2h) nor a time (2026-12-04T17:00:00Z, 17:00, 17:00:30)")]
    Time { option: &'static str, given: String },
    #[error("--grep {given:?}: not a regular expression")]
    Grep {
        given: String,
        #[source]
        source: regex_lite::Error,
    },
}

/// Which lines to show.
struct Filter {
    since: Option<DateTime<FixedOffset>>,
    until: Option<DateTime<FixedOffset>>,
    grep: Option<Regex>,
    lines: usize,
}

impl Filter {
    fn new(args: &LogsArgs) -> Result<Self, FilterError> {
        let since = args
            .since
            .as_deref()
            .map(|t| time_arg("--since", t))
            .transpose()?;
        let until = args
            .until
            .as_deref()
            .map(|t| time_arg("--until", t))
            .transpose()?;
        let grep = args
            .grep
            .as_deref()
            .map(|g| {
                RegexBuilder::new(g)
                    .case_insensitive(args.ignore_case)
                    .build()
                    .map_err(|source| FilterError::Grep {
                        given: g.to_owned(),
                        source,
                    })
            })
            .transpose()?;
        let lines = args.lines.unwrap_or(if since.is_some() {
            usize::MAX
        } else {
            DEFAULT_LINES
        });
        Ok(Self {
            since,
            until,
            grep,
            lines,
        })
    }

    fn keeps(&self, l: &Entry) -> bool {
        self.since.is_none_or(|s| l.time.is_some_and(|t| t >= s))
            && self.until.is_none_or(|u| l.time.is_some_and(|t| t <= u))
            && self.grep.as_ref().is_none_or(|g| g.is_match(&l.line.line))
    }
}

/// `10m` (that long ago), an RFC 3339 time, or `HH:MM[:SS]` today.
fn time_arg(option: &'static str, text: &str) -> Result<DateTime<FixedOffset>, FilterError> {
    let bad = || FilterError::Time {
        option,
        given: text.to_owned(),
    };
    if let Ok(d) = text.parse::<crate::types::Duration>() {
        let ago = chrono::Duration::from_std(d.get()).map_err(|_| bad())?;
        return Ok((Local::now() - ago).fixed_offset());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t);
    }
    let clock = NaiveTime::parse_from_str(text, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
        .map_err(|_| bad())?;
    Local
        .from_local_datetime(&Local::now().date_naive().and_time(clock))
        .earliest()
        .map(|t| t.fixed_offset())
        .ok_or_else(bad)
}

/// A line and its parsed time (none when it does not parse: such a line
/// passes no time filter, and is shown without one).
#[derive(Debug, Clone)]
struct Entry {
    time: Option<DateTime<FixedOffset>>,
    line: LogLine,
}

impl Entry {
    fn new(line: LogLine) -> Self {
        let time = DateTime::parse_from_rfc3339(&line.time).ok();
        Self { time, line }
    }
}

fn run(args: &LogsArgs, filter: &Filter) -> Result<(), ClientError> {
    let paths = client::socket_paths(args.client.socket.as_deref());
    let request = |lines, follow| Request::Logs {
        names: args.names.clone(),
        lines,
        follow,
    };
    if args.follow {
        return follow(&paths, request(filter.lines, true), filter, args.json);
    }
    let (names, lines) = match LogStream::open(&paths, request(usize::MAX, false)) {
        Ok(mut stream) => {
            let mut ring = Vec::new();
            while let Some(item) = stream.next_line()? {
                if let LogItem::Line(l) = item {
                    ring.push(Entry::new(l));
                }
            }
            let dir = args.log_dir.clone().or(stream.log_dir.clone());
            let mut all = dir.map_or_else(Vec::new, |d| older_from_files(&d, &stream.names, &ring));
            all.extend(ring);
            (stream.names, all)
        }
        // Not running: the files alone, when the user says where they are.
        Err(ClientError::NotRunning { .. }) if args.log_dir.is_some() => {
            let dir = args.log_dir.as_deref().expect("checked");
            let names = file_names(dir, &args.names);
            let lines = older_from_files(dir, &names, &[]);
            (names, lines)
        }
        Err(e) => return Err(e),
    };
    let width = names.iter().map(|n| clean(n).len()).max().unwrap_or(0);
    let mut out = io::stdout().lock();
    let kept: Vec<&Entry> = lines.iter().filter(|l| filter.keeps(l)).collect();
    let skip = kept.len().saturating_sub(filter.lines);
    for l in &kept[skip..] {
        if print(&mut out, l, args.json, width).is_err() {
            // stdout closed (`drover logs | head`): stop quietly.
            break;
        }
    }
    Ok(())
}

/// `logs -f`: the last lines drover keeps (`-n`, or all with `--since`),
/// then new ones as they come, each filtered; from memory only.
fn follow(
    paths: &[PathBuf],
    request: Request,
    filter: &Filter,
    json: bool,
) -> Result<(), ClientError> {
    let mut stream = LogStream::open(paths, request)?;
    let width = stream
        .names
        .iter()
        .map(|n| clean(n).len())
        .max()
        .unwrap_or(0);
    let mut out = io::stdout().lock();
    while let Some(item) = stream.next_line()? {
        let entry = match item {
            LogItem::Skipped(n) => {
                let _ = writeln!(
                    out,
                    "({n} chunks of output skipped: this client fell behind)"
                );
                continue;
            }
            LogItem::Line(l) => Entry::new(l),
        };
        if filter.keeps(&entry) && print(&mut out, &entry, json, width).is_err() {
            break;
        }
    }
    Ok(())
}

fn print(out: &mut impl io::Write, l: &Entry, json: bool, width: usize) -> io::Result<()> {
    if json {
        let mut text = serde_json::to_string(&l.line).expect("lines serialize");
        text.push('\n');
        out.write_all(text.as_bytes())
    } else {
        // What a process wrote may hold terminal controls: shown escaped.
        let time = clean(l.line.time.get(11..19).unwrap_or(""));
        let (process, line) = (clean(&l.line.process), clean(&l.line.line));
        writeln!(out, "{time} {process:<width$} | {line}")
    }
}

/// The instances with a log file in `dir`, of the processes `wanted`
/// (`web` or `web.1`; all when empty).
fn file_names(dir: &Path, wanted: &[String]) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let instance = name.strip_suffix(".log")?.to_owned();
            (name != crate::output::logfiles::SYSTEM_LOG).then_some(instance)
        })
        .filter(|n| {
            wanted.is_empty()
                || wanted
                    .iter()
                    .any(|w| w == n || n.rsplit_once('.').is_some_and(|(p, _)| p == w))
        })
        .collect();
    names.sort();
    names
}

/// The lines of each of `names`' log files from before that instance's
/// lines in `ring`, oldest first.
fn older_from_files(dir: &Path, names: &[String], ring: &[Entry]) -> Vec<Entry> {
    let mut lines = Vec::new();
    for name in names {
        let mut file_lines = Vec::new();
        for file in log_files(dir, name) {
            let Ok(f) = std::fs::File::open(&file) else {
                continue;
            };
            let raw = io::BufReader::new(f).split(b'\n').map_while(Result::ok);
            file_lines.extend(raw.filter_map(|raw| parse_file_line(name, &raw)));
        }
        let ring: Vec<&Entry> = ring.iter().filter(|l| &l.line.process == name).collect();
        let older = overlap_start(&file_lines, &ring);
        file_lines.truncate(older);
        lines.append(&mut file_lines);
    }
    // Stable: lines of one instance keep their order.
    lines.sort_by_key(|l| l.time);
    lines
}

/// Where the ring's lines begin in the file's: the ring holds the newest
/// lines, and the file the same lines up to what it has written yet, so the
/// file's tail is a prefix of the ring. Compared by stream and text (the
/// ring dates merged reads by the first), the largest such overlap wins;
/// with none, the file's lines dated before the ring's first are older.
fn overlap_start(file: &[Entry], ring: &[&Entry]) -> usize {
    /// Lines compared at each candidate start: enough to tell repeated
    /// lines apart, few enough to stay cheap.
    const CHECK: usize = 64;
    let Some(first) = ring.first() else {
        return file.len();
    };
    let same = |a: &Entry, b: &Entry| a.line.stream == b.line.stream && a.line.line == b.line.line;
    let from = file.len().saturating_sub(ring.len());
    for p in from..file.len() {
        if file[p..]
            .iter()
            .zip(ring)
            .take(CHECK)
            .all(|(f, r)| same(f, r))
        {
            return p;
        }
    }
    let Some(first) = first.time else {
        return file.len();
    };
    file.iter()
        .position(|l| l.time.is_some_and(|t| t >= first))
        .unwrap_or(file.len())
}

/// `DIR/NAME.log.N` … `DIR/NAME.log.1`, `DIR/NAME.log`: oldest first.
fn log_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    let current = dir.join(format!("{name}.log"));
    let mut rotated: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let n = file.strip_prefix(&format!("{name}.log."))?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    rotated.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    files.push(current);
    files
}

/// `2026-12-04T17:14:51.123+01:00 stdout | TEXT`.
fn parse_file_line(process: &str, raw: &[u8]) -> Option<Entry> {
    let text = String::from_utf8_lossy(raw);
    let (head, line) = text.split_once(" | ")?;
    let (time, stream) = head.split_once(' ')?;
    let entry = Entry::new(LogLine {
        time: time.to_owned(),
        process: process.to_owned(),
        stream: stream.to_owned(),
        line: line.to_owned(),
    });
    entry.time.is_some().then_some(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_file_line() {
        let e = parse_file_line("web.1", b"2026-12-04T17:14:51.123+01:00 stderr | a | b").unwrap();
        assert_eq!(e.line.stream, "stderr");
        assert_eq!(e.line.line, "a | b");
        assert!(parse_file_line("web.1", b"garbage").is_none());
    }

    #[test]
    fn times_are_durations_ago_or_clock_times() {
        assert!(time_arg("--since", "10m").unwrap() < Local::now().fixed_offset());
        assert!(time_arg("--since", "2026-12-04T17:00:00Z").is_ok());
        assert!(time_arg("--since", "17:30").is_ok());
        assert!(time_arg("--since", "yesterday").is_err());
    }
}
