//! `.env` parsing: `KEY=value` lines into variables, as foreman and the
//! dotenv libraries read them.
//!
//! This module owns the `.env` format, variable expansion inside it, and its
//! error messages. It must not read or change drover's own environment (the
//! caller passes it in as `base`), merge several files, or decide which file
//! to load; and it never panics on what a user wrote.
//!
//! ```text
//! # comment
//! export DATABASE_URL=postgres://localhost/app   # trailing comment
//! GREETING = 'single quotes: literal, no ${EXPANSION}'
//! MOTD="double quotes: escapes \n \t \r \" \\ \$ and ${DATABASE_URL}
//! may span lines"
//! PATH=${HOME}/bin:${PATH}
//! PASSWORD=pa$word                                 # a bare $ stays as written
//! ```
//!
//! - Keys match `[A-Za-z_][A-Za-z0-9_.]*`; `export ` before a key is
//!   ignored; spaces and tabs around `=` are allowed. A key in single quotes
//!   (`'KEY'=value`) is read without them, as python-dotenv reads it; double
//!   quotes are part of the key for python-dotenv, so `"KEY"=value` is an
//!   invalid name here.
//! - Unquoted values end at a `#` that follows whitespace and are trimmed;
//!   backslashes in them are literal.
//! - Single-quoted values are literal and may not contain `'`.
//! - Double-quoted values know the escapes `\n \t \r \" \\ \$`; any other
//!   backslash is kept as written (so `"C:\dir"` stays as it is).
//! - Quoted values may span lines; after the closing quote only whitespace
//!   and a `#` comment may follow.
//! - `${NAME}` expands in unquoted and double-quoted values: to the value
//!   `NAME` was given earlier in this file, else to `base(NAME)`, else to
//!   nothing. A bare `$NAME` is kept as written, as foreman, honcho and
//!   python-dotenv keep it (a password such as `pa$word` must not change).
//!   Defaults such as `${NAME:-x}` are not supported and are rejected rather
//!   than misread.
//! - A value holds at most [`MAX_VALUE_SIZE`] bytes after expansion, and a
//!   file's keys and values [`MAX_TOTAL_SIZE`] in all.
//! - A key given twice keeps its first position and its last value.
//! - A line ends at LF, CRLF or a lone CR; a leading byte-order mark is
//!   skipped.

use std::path::Path;

use crate::plan::input::{self, InputError};
use crate::types::is_env_var_name;

/// Parses the text of the `.env` file at `path` into `(key, value)` pairs in
/// file order, each key once; `path` is only used in messages.
///
/// `base` looks up variables not defined earlier in this file, usually in
/// the environment drover was started with (plus earlier `.env` files, if
/// the caller loads several).
pub fn parse(
    path: &Path,
    text: &str,
    base: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, InputError> {
    Ok(parse_lines(path, text, base)?
        .into_iter()
        .map(|(key, value, _)| (key, value))
        .collect())
}

/// As [`parse`], with the 1-based line of each variable's last definition,
/// for messages about a value (such as `PORT`) that the file got right but
/// drover cannot use.
pub fn parse_lines(
    path: &Path,
    text: &str,
    base: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String, usize)>, InputError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = input::lines(text);
    let mut parser = Parser {
        path,
        lines: &lines,
        base,
        vars: Vec::new(),
        total: 0,
    };
    let mut index = 0;
    while index < lines.len() {
        index = parser.entry(index)?;
    }
    Ok(parser.vars)
}

/// Reads and parses the `.env` file at `path`; see [`parse_lines`].
///
/// A missing or unreadable file, or one that is not UTF-8, is an
/// [`InputError`] like any other bad input.
pub fn load(
    path: &Path,
    base: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String, usize)>, InputError> {
    let text = input::read_text(path, "check the path given to -e/--env")?;
    parse_lines(path, &text, base)
}

const EXPECTED: &str = "(expected \"KEY=value\")";

/// The longest value, after expansion: Linux refuses to start a program
/// with a `KEY=value` string over 128 KiB, and a value that grows past this
/// is almost surely a runaway expansion (`A1=${A0}${A0}`, line after line).
pub const MAX_VALUE_SIZE: usize = 64 * 1024;

/// The most bytes of keys and values one file may give, after expansion:
/// a program's whole environment must fit in about 2 MiB.
pub const MAX_TOTAL_SIZE: usize = 1024 * 1024;

struct Parser<'a> {
    path: &'a Path,
    /// The file's lines without their line ends; `lines[i]` is line `i + 1`.
    lines: &'a [&'a str],
    base: &'a dyn Fn(&str) -> Option<String>,
    /// Key, value and the line it was last defined on.
    vars: Vec<(String, String, usize)>,
    /// Bytes of keys and values in `vars`.
    total: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    Single,
    Double,
}

impl<'a> Parser<'a> {
    fn error(&self, index: usize, message: String) -> InputError {
        InputError::new(self.path, Some(index + 1), message)
    }

    /// Parses the entry (or comment, or blank line) starting on line
    /// `index + 1` and returns the index of the line after it.
    fn entry(&mut self, index: usize) -> Result<usize, InputError> {
        // Only the start is trimmed: trailing spaces on the first line of a
        // multi-line quoted value belong to the value.
        let line = self.lines[index].trim_start();
        if line.is_empty() || line.starts_with('#') {
            return Ok(index + 1);
        }
        let whole = line.trim_end();
        let line = match line.strip_prefix("export") {
            Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start(),
            _ => line,
        };
        let (key, after) = match line.strip_prefix('\'') {
            Some(quoted) => self.single_quoted_key(index, whole, quoted)?,
            None => match line.split_once('=') {
                Some((key, after)) => (key.trim_end(), after),
                None => return Err(self.no_equals(index, line, whole)),
            },
        };
        if key.is_empty() {
            return Err(self.error(
                index,
                format!("missing variable name before '=' {EXPECTED}"),
            ));
        }
        if !is_env_var_name(key) {
            let hint = if key.starts_with('"') {
                "python-dotenv reads double quotes as part of the name; \
                 write the name bare or in single quotes"
            } else {
                "a name starts with a letter or '_' and contains only letters, digits, '_' and '.'"
            };
            return Err(self
                .error(index, format!("invalid variable name {key:?}"))
                .with_hint(hint));
        }
        let value = after.trim_start_matches([' ', '\t']);
        let (value, next) = match value.chars().next() {
            Some('\'') => self.quoted(key, Quote::Single, index, &value[1..])?,
            Some('"') => self.quoted(key, Quote::Double, index, &value[1..])?,
            _ => (self.unquoted(key, index, after)?, index + 1),
        };
        if value.contains('\0') {
            return Err(self
                .error(index, format!("value of {key:?} contains a NUL byte"))
                .with_hint("environment variables cannot hold NUL bytes; remove it"));
        }
        self.check_size(key, index, &value)?;
        self.total += value.len();
        match self.vars.iter_mut().find(|(k, _, _)| k == key) {
            Some((_, old, line)) => (*old, *line) = (value, index + 1),
            None => {
                self.total += key.len();
                self.vars.push((key.to_owned(), value, index + 1));
            }
        }
        if self.total > MAX_TOTAL_SIZE {
            return Err(self
                .error(
                    index,
                    format!(
                        "the variables of this file pass {} MiB in all at {key:?}",
                        MAX_TOTAL_SIZE / (1024 * 1024)
                    ),
                )
                .with_hint(
                    "a process's environment must fit in about 2 MiB; remove or shorten values",
                ));
        }
        Ok(next)
    }

    /// Refuses a value over [`MAX_VALUE_SIZE`]; called after each expansion
    /// too, so a runaway one stops before it takes much memory.
    fn check_size(&self, key: &str, index: usize, value: &str) -> Result<(), InputError> {
        if value.len() <= MAX_VALUE_SIZE {
            return Ok(());
        }
        Err(self.too_long(key, index))
    }

    fn too_long(&self, key: &str, index: usize) -> InputError {
        self.error(
            index,
            format!(
                "value of {key:?} is longer than {} KiB",
                MAX_VALUE_SIZE / 1024
            ),
        )
        .with_hint("check the ${NAME} references in it; a value may hold at most 64 KiB")
    }

    /// `'KEY'=...`, with `quoted` the text after the opening quote: the key
    /// and the text after the `=`.
    fn single_quoted_key(
        &self,
        index: usize,
        whole: &str,
        quoted: &'a str,
    ) -> Result<(&'a str, &'a str), InputError> {
        let Some((key, rest)) = quoted.split_once('\'') else {
            return Err(self
                .error(
                    index,
                    format!("unterminated single quote in the name on this line: {whole:?}"),
                )
                .with_hint("close the quote after the name: 'KEY'=value"));
        };
        match rest.trim_start_matches([' ', '\t']).strip_prefix('=') {
            Some(after) => Ok((key, after)),
            None => Err(self.error(
                index,
                format!("missing '=' after variable name {key:?} {EXPECTED}"),
            )),
        }
    }

    fn no_equals(&self, index: usize, line: &str, whole: &str) -> InputError {
        let first_word = line.split_whitespace().next().unwrap_or(line);
        if is_env_var_name(first_word) {
            self.error(
                index,
                format!("missing '=' after variable name {first_word:?} {EXPECTED}"),
            )
        } else {
            self.error(index, format!("expected \"KEY=value\", found {whole:?}"))
        }
    }

    /// `after` is everything after the `=`, untrimmed: a `#` starts a comment
    /// only after whitespace, and `KEY= #x` has whitespace before the `#`.
    fn unquoted(&self, key: &str, index: usize, after: &str) -> Result<String, InputError> {
        let end = after
            .char_indices()
            .find(|&(at, c)| c == '#' && after[..at].ends_with([' ', '\t']))
            .map_or(after.len(), |(at, _)| at);
        let raw = after[..end].trim();
        let mut value = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(dollar) = rest.find('$') {
            value.push_str(&rest[..dollar]);
            rest = &rest[dollar + 1..];
            rest = self.expand(key, index, rest, &mut value)?;
        }
        value.push_str(rest);
        Ok(value)
    }

    /// Reads a quoted value whose opening quote is on line `open + 1`, with
    /// `rest` the text after that quote. Returns the value and the index of
    /// the line after the closing quote.
    fn quoted(
        &self,
        key: &str,
        quote: Quote,
        open: usize,
        mut rest: &'a str,
    ) -> Result<(String, usize), InputError> {
        let mut value = String::new();
        let mut index = open;
        loop {
            let mut chars = rest.char_indices();
            let mut closed = None;
            while let Some((at, c)) = chars.next() {
                match (quote, c) {
                    (Quote::Single, '\'') | (Quote::Double, '"') => {
                        closed = Some(&rest[at + 1..]);
                        break;
                    }
                    (Quote::Double, '\\') => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, 't')) => value.push('\t'),
                        Some((_, 'r')) => value.push('\r'),
                        Some((_, escaped @ ('"' | '\\' | '$'))) => value.push(escaped),
                        Some((_, other)) => {
                            value.push('\\');
                            value.push(other);
                        }
                        None => value.push('\\'),
                    },
                    (Quote::Double, '$') => {
                        let after = self.expand(key, index, &rest[at + 1..], &mut value)?;
                        let consumed = rest.len() - after.len();
                        chars = rest[consumed..].char_indices();
                        rest = &rest[consumed..];
                    }
                    _ => value.push(c),
                }
            }
            if let Some(tail) = closed {
                self.check_tail(key, quote, index, tail)?;
                return Ok((value, index + 1));
            }
            index += 1;
            let Some(next) = self.lines.get(index) else {
                let (name, close) = match quote {
                    Quote::Single => ("single", '\''),
                    Quote::Double => ("double", '"'),
                };
                return Err(self
                    .error(
                        open,
                        format!("unterminated {name} quote in value of {key:?}"),
                    )
                    .with_hint(format!(
                        "add the closing {close}; a quoted value may span lines \
                         but must end before the end of the file"
                    )));
            };
            value.push('\n');
            rest = next;
        }
    }

    fn check_tail(
        &self,
        key: &str,
        quote: Quote,
        index: usize,
        tail: &str,
    ) -> Result<(), InputError> {
        let tail = tail.trim();
        if tail.is_empty() || tail.starts_with('#') {
            return Ok(());
        }
        let hint = match quote {
            Quote::Single => {
                "a single-quoted value cannot contain '; use double quotes, \
                 or start a comment with '#'"
            }
            Quote::Double => "quote the whole value, or start a comment with '#'",
        };
        Err(self
            .error(
                index,
                format!("unexpected {tail:?} after the closing quote of {key:?}"),
            )
            .with_hint(hint))
    }

    /// Expands the `${NAME}` reference at the start of `rest` (the text just
    /// after a `$`) onto `value` and returns the text after the reference.
    /// A `$` not followed by `{` is kept as it is.
    fn expand<'r>(
        &self,
        key: &str,
        index: usize,
        rest: &'r str,
        value: &mut String,
    ) -> Result<&'r str, InputError> {
        if let Some(braced) = rest.strip_prefix('{') {
            let len = braced
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .unwrap_or(braced.len());
            let name = &braced[..len];
            if braced[len..].starts_with('}') && is_env_var_name(name) {
                self.push_lookup(key, index, name, value)?;
                return Ok(&braced[len + 1..]);
            }
            return Err(match braced.find('}') {
                Some(close) => {
                    let reference = format!("${}", &rest[..close + 2]);
                    self.error(
                        index,
                        format!("invalid variable reference {reference:?} in value of {key:?}"),
                    )
                    .with_hint(
                        "write ${NAME} with a NAME of letters, digits, '_' and '.'; \
                         defaults like ${NAME:-x} are not supported",
                    )
                }
                None => self
                    .error(index, format!("unterminated \"${{\" in value of {key:?}"))
                    .with_hint("close the reference with '}', or write \\$ for a literal '$'"),
            });
        }
        // A bare `$NAME` is literal, as in foreman, honcho and python-dotenv.
        value.push('$');
        Ok(rest)
    }

    /// Appends the value of `name` to `value`, within [`MAX_VALUE_SIZE`].
    fn push_lookup(
        &self,
        key: &str,
        index: usize,
        name: &str,
        value: &mut String,
    ) -> Result<(), InputError> {
        let found = self.lookup(name);
        if value.len() + found.len() > MAX_VALUE_SIZE {
            return Err(self.too_long(key, index));
        }
        value.push_str(&found);
        Ok(())
    }

    fn lookup(&self, name: &str) -> String {
        match self.vars.iter().find(|(k, _, _)| k == name) {
            Some((_, value, _)) => value.clone(),
            None => (self.base)(name).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests;
