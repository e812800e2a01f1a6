//! Procfile parsing: `name: command` lines into a list of entries.
//!
//! This module owns the Procfile format and its error messages. It must not
//! run, split or interpret commands (they go to `/bin/sh -c` unchanged), look
//! at the environment, or decide formations and ports; and it never panics on
//! what a user wrote.
//!
//! The format, as foreman reads it:
//!
//! ```text
//! # comment lines and blank lines are skipped
//! web: bundle exec rails server -p $PORT
//! worker:   ./worker --queue default
//! ```
//!
//! A name is one or more of `A-Z a-z 0-9 _ -`; the command is everything
//! after the first `:`, trimmed. A line ends at LF, CRLF or a lone CR (as
//! honcho reads it); a leading byte-order mark is skipped.

use std::path::{Path, PathBuf};

use crate::plan::input::{self, InputError};
use crate::types::{is_process_name, ProcessName};

/// One process declared in a Procfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcfileEntry {
    /// The process name, e.g. `web`; unique within the file.
    pub name: String,
    /// The command line, trimmed, to be run by `/bin/sh -c`.
    pub command: String,
    /// The 1-based line the entry is on, for later messages about it.
    pub line: usize,
}

/// A parsed Procfile: at least one entry, in file order, names unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Procfile {
    /// The file the entries came from, as the user named it.
    pub path: PathBuf,
    /// The processes, in the order they appear in the file.
    pub entries: Vec<ProcfileEntry>,
}

const EXPECTED: &str = "(expected \"name: command\")";

/// Parses the text of the Procfile at `path`; `path` is only used in
/// messages.
pub fn parse(path: &Path, text: &str) -> Result<Procfile, InputError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut entries: Vec<ProcfileEntry> = Vec::new();
    for (index, raw) in input::lines(text).into_iter().enumerate() {
        let line = index + 1;
        let error = |message: String| InputError::new(path, Some(line), message);
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some((name, command)) = trimmed.split_once(':') else {
            let first_word = trimmed.split_whitespace().next().unwrap_or(trimmed);
            return Err(if is_process_name(first_word) {
                error(format!(
                    "missing ':' after process name {first_word:?} {EXPECTED}"
                ))
            } else {
                error(format!("expected \"name: command\", found {trimmed:?}"))
            });
        };
        let (name, command) = (name.trim(), command.trim());
        if name.is_empty() {
            return Err(error(format!("missing process name before ':' {EXPECTED}")));
        }
        if let Err(e) = ProcessName::new(name) {
            return Err(error(e.to_string()).with_hint(e.hint()));
        }
        if command.is_empty() {
            return Err(error(format!("process {name:?} has no command"))
                .with_hint("write the command after the ':', e.g. \"web: ./server\""));
        }
        if command.contains('\0') {
            return Err(error(format!("command of {name:?} contains a NUL byte"))
                .with_hint("a command line cannot hold NUL bytes; remove it"));
        }
        if let Some(earlier) = entries.iter().find(|entry| entry.name == name) {
            return Err(error(format!(
                "duplicate process name {name:?} (first defined on line {})",
                earlier.line
            ))
            .with_hint("rename or remove one of them"));
        }
        entries.push(ProcfileEntry {
            name: name.to_owned(),
            command: command.to_owned(),
            line,
        });
    }
    if entries.is_empty() {
        return Err(InputError::new(path, None, "no processes defined")
            .with_hint("add a line like \"web: ./server\""));
    }
    Ok(Procfile {
        path: path.to_path_buf(),
        entries,
    })
}

/// Reads and parses the Procfile at `path`.
///
/// A missing or unreadable file, or one that is not UTF-8, is an
/// [`InputError`] like any other bad input.
pub fn load(path: &Path) -> Result<Procfile, InputError> {
    let text = input::read_text(
        path,
        "create a Procfile with lines like \"web: ./server\", or name another with -f/--procfile",
    )?;
    parse(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(text: &str) -> Vec<(String, String, usize)> {
        parse(Path::new("Procfile"), text)
            .unwrap_or_else(|err| panic!("{err}"))
            .entries
            .into_iter()
            .map(|e| (e.name, e.command, e.line))
            .collect()
    }

    fn err(text: &str) -> String {
        parse(Path::new("Procfile"), text)
            .expect_err("input should be rejected")
            .to_string()
    }

    fn entry(name: &str, command: &str, line: usize) -> (String, String, usize) {
        (name.to_owned(), command.to_owned(), line)
    }

    #[test]
    fn name_command_lines() {
        assert_eq!(
            ok("web: ./server -p $PORT\nworker: ./worker\n"),
            vec![
                entry("web", "./server -p $PORT", 1),
                entry("worker", "./worker", 2)
            ]
        );
    }

    #[test]
    fn keeps_path() {
        let procfile = parse(Path::new("app/Procfile.dev"), "web: x").unwrap();
        assert_eq!(procfile.path, Path::new("app/Procfile.dev"));
    }

    #[test]
    fn skips_comments_and_blank_lines_counting_lines() {
        assert_eq!(
            ok("# the app\n\n   \n  # indented comment\nweb: a\n\t\nworker: b"),
            vec![entry("web", "a", 5), entry("worker", "b", 7)]
        );
    }

    #[test]
    fn trims_whitespace_around_name_and_command() {
        assert_eq!(
            ok("  web  :   ./server  \t\n\tworker:b"),
            vec![entry("web", "./server", 1), entry("worker", "b", 2)]
        );
    }

    #[test]
    fn command_keeps_later_colons_and_hashes() {
        assert_eq!(
            ok("web: curl http://localhost:80/ # not a comment"),
            vec![entry("web", "curl http://localhost:80/ # not a comment", 1)]
        );
    }

    #[test]
    fn name_charset() {
        assert_eq!(ok("Web_2-b: x"), vec![entry("Web_2-b", "x", 1)]);
    }

    #[test]
    fn tolerates_crlf_and_byte_order_mark() {
        assert_eq!(
            ok("\u{feff}web: a\r\n\r\nworker: b\r\n"),
            vec![entry("web", "a", 1), entry("worker", "b", 3)]
        );
    }

    #[test]
    fn a_lone_cr_ends_a_line() {
        assert_eq!(
            ok("web: a\rworker: b\r\r# c\rclock: c"),
            vec![
                entry("web", "a", 1),
                entry("worker", "b", 2),
                entry("clock", "c", 5)
            ]
        );
    }

    #[test]
    fn rejects_missing_colon() {
        assert_eq!(
            err("web: a\n\nweb2 ./server\n"),
            "Procfile:3: missing ':' after process name \"web2\" (expected \"name: command\")"
        );
    }

    #[test]
    fn rejects_line_that_is_no_entry() {
        assert_eq!(
            err("!!! oops"),
            "Procfile:1: expected \"name: command\", found \"!!! oops\""
        );
    }

    #[test]
    fn rejects_missing_name() {
        assert_eq!(
            err("web: a\n  : ./server"),
            "Procfile:2: missing process name before ':' (expected \"name: command\")"
        );
    }

    #[test]
    fn rejects_invalid_name() {
        assert_eq!(
            err("web.1: ./server"),
            "Procfile:1: invalid process name \"web.1\"\n  \
             hint: a process name may contain only letters, digits, '_' and '-'"
        );
        assert_eq!(
            err("my web: ./server"),
            "Procfile:1: invalid process name \"my web\"\n  \
             hint: a process name may contain only letters, digits, '_' and '-'"
        );
    }

    #[test]
    fn rejects_empty_command() {
        assert_eq!(
            err("web:   \r\n"),
            "Procfile:1: process \"web\" has no command\n  \
             hint: write the command after the ':', e.g. \"web: ./server\""
        );
    }

    #[test]
    fn rejects_nul_in_command() {
        assert_eq!(
            err("web: a\0b"),
            "Procfile:1: command of \"web\" contains a NUL byte\n  \
             hint: a command line cannot hold NUL bytes; remove it"
        );
    }

    #[test]
    fn rejects_duplicate_name_naming_earlier_line() {
        assert_eq!(
            err("# procs\nweb: a\nworker: b\nweb: c\n"),
            "Procfile:4: duplicate process name \"web\" (first defined on line 2)\n  \
             hint: rename or remove one of them"
        );
    }

    #[test]
    fn names_are_case_sensitive() {
        assert_eq!(
            ok("web: a\nWeb: b"),
            vec![entry("web", "a", 1), entry("Web", "b", 2)]
        );
    }

    #[test]
    fn rejects_file_without_entries() {
        let expected = "Procfile: no processes defined\n  hint: add a line like \"web: ./server\"";
        assert_eq!(err(""), expected);
        assert_eq!(err("# only\n\n# comments\n"), expected);
    }

    #[test]
    fn load_reads_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Procfile");
        std::fs::write(&path, "web: ./server\n").unwrap();
        let procfile = load(&path).unwrap();
        assert_eq!(procfile.path, path);
        assert_eq!(procfile.entries[0].command, "./server");
    }

    #[test]
    fn load_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Procfile");
        assert_eq!(
            load(&path).unwrap_err().to_string(),
            format!(
                "{}: cannot read: no such file\n  hint: create a Procfile with lines like \
                 \"web: ./server\", or name another with -f/--procfile",
                path.display()
            )
        );
    }

    #[test]
    fn load_rejects_non_utf8_naming_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Procfile");
        std::fs::write(&path, b"web: a\n\nworker: \xe9cho\n").unwrap();
        assert_eq!(
            load(&path).unwrap_err().to_string(),
            format!(
                "{}:3: not valid UTF-8 (byte 0xe9 at column 9)\n  hint: save the file as UTF-8",
                path.display()
            )
        );
    }

    fn line_count(text: &str) -> usize {
        input::lines(text).len()
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            if let Err(err) = parse(Path::new("Procfile"), &text) {
                if let Some(line) = err.line {
                    prop_assert!((1..=line_count(&text)).contains(&line));
                }
            }
        }

        #[test]
        fn procfile_like_text_errors_name_a_line_in_the_file(
            text in "([a-z_#: \t.-]{0,12}[\r]?\n){0,8}[a-z_#: .-]{0,12}"
        ) {
            match parse(Path::new("Procfile"), &text) {
                Ok(procfile) => {
                    prop_assert!(!procfile.entries.is_empty());
                    for entry in &procfile.entries {
                        prop_assert!((1..=line_count(&text)).contains(&entry.line));
                    }
                }
                Err(err) => {
                    if let Some(line) = err.line {
                        prop_assert!((1..=line_count(&text)).contains(&line));
                    } else {
                        prop_assert_eq!(err.message, "no processes defined");
                    }
                }
            }
        }

        #[test]
        fn rendered_entries_parse_back(
            entries in proptest::collection::btree_map(
                "[A-Za-z0-9_-]{1,10}",
                "[^\\s:\\x00][^\n\r\\x00]{0,20}[^\\s\\x00]|[^\\s:\\x00]",
                1..8,
            ),
            pad in "[ \t]{0,2}",
        ) {
            let text: String = entries
                .iter()
                .map(|(name, command)| format!("# {name}\n{pad}{name}{pad}:{pad}{command}{pad}\r\n\n"))
                .collect();
            let parsed = parse(Path::new("Procfile"), &text).unwrap();
            let got: Vec<(String, String)> = parsed
                .entries
                .iter()
                .map(|e| (e.name.clone(), e.command.clone()))
                .collect();
            let want: Vec<(String, String)> = entries.into_iter().collect();
            prop_assert_eq!(got, want);
            for (index, entry) in parsed.entries.iter().enumerate() {
                prop_assert_eq!(entry.line, 3 * index + 2);
            }
        }
    }
}
