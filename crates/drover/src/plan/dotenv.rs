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
//! GREETING = 'single quotes: literal, no $EXPANSION'
//! MOTD="double quotes: escapes \n \t \r \" \\ \$ and ${DATABASE_URL}
//! may span lines"
//! PATH=$HOME/bin:${PATH}
//! ```
//!
//! - Keys match `[A-Za-z_][A-Za-z0-9_.]*`; `export ` before a key is
//!   ignored; spaces and tabs around `=` are allowed.
//! - Unquoted values end at a `#` that follows whitespace and are trimmed;
//!   backslashes in them are literal.
//! - Single-quoted values are literal and may not contain `'`.
//! - Double-quoted values know the escapes `\n \t \r \" \\ \$`; any other
//!   backslash is kept as written (so `"C:\dir"` stays as it is).
//! - Quoted values may span lines; after the closing quote only whitespace
//!   and a `#` comment may follow.
//! - `${NAME}` and `$NAME` expand in unquoted and double-quoted values: to
//!   the value `NAME` was given earlier in this file, else to `base(NAME)`,
//!   else to nothing. `$NAME` stops at the first character that is not a
//!   letter, digit or `_` (so `$HOST.example.com` works); `${NAME}` may
//!   contain `.`. A `$` not followed by a name is kept. Defaults such as
//!   `${NAME:-x}` are not supported and are rejected rather than misread.
//! - A key given twice keeps its first position and its last value.
//! - CRLF line ends and a leading byte-order mark are tolerated.

use std::path::Path;

use crate::plan::input::{self, InputError};

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
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .collect();
    let mut parser = Parser {
        path,
        lines: &lines,
        base,
        vars: Vec::new(),
    };
    let mut index = 0;
    while index < lines.len() {
        index = parser.entry(index)?;
    }
    Ok(parser.vars)
}

/// Reads and parses the `.env` file at `path`; see [`parse`].
///
/// A missing or unreadable file, or one that is not UTF-8, is an
/// [`InputError`] like any other bad input.
pub fn load(
    path: &Path,
    base: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, InputError> {
    let text = input::read_text(path, "check the path given to -e/--env")?;
    parse(path, &text, base)
}

const EXPECTED: &str = "(expected \"KEY=value\")";

struct Parser<'a> {
    path: &'a Path,
    /// The file's lines without their line ends; `lines[i]` is line `i + 1`.
    lines: &'a [&'a str],
    base: &'a dyn Fn(&str) -> Option<String>,
    vars: Vec<(String, String)>,
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
        let Some((key, after)) = line.split_once('=') else {
            let first_word = line.split_whitespace().next().unwrap_or(line);
            return Err(if is_key(first_word) {
                self.error(
                    index,
                    format!("missing '=' after variable name {first_word:?} {EXPECTED}"),
                )
            } else {
                self.error(index, format!("expected \"KEY=value\", found {whole:?}"))
            });
        };
        let key = key.trim_end();
        if key.is_empty() {
            return Err(self.error(
                index,
                format!("missing variable name before '=' {EXPECTED}"),
            ));
        }
        if !is_key(key) {
            return Err(self
                .error(index, format!("invalid variable name {key:?}"))
                .with_hint(
                "a name starts with a letter or '_' and contains only letters, digits, '_' and '.'",
            ));
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
        match self.vars.iter_mut().find(|(k, _)| k == key) {
            Some((_, old)) => *old = value,
            None => self.vars.push((key.to_owned(), value)),
        }
        Ok(next)
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

    /// Expands the variable reference at the start of `rest` (the text just
    /// after a `$`) onto `value` and returns the text after the reference.
    /// A `$` not followed by a name is kept as it is.
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
            if braced[len..].starts_with('}') && is_key(name) {
                value.push_str(&self.lookup(name));
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
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..len];
        if is_key(name) {
            value.push_str(&self.lookup(name));
            Ok(&rest[len..])
        } else {
            value.push('$');
            Ok(rest)
        }
    }

    fn lookup(&self, name: &str) -> String {
        match self.vars.iter().find(|(k, _)| k == name) {
            Some((_, value)) => value.clone(),
            None => (self.base)(name).unwrap_or_default(),
        }
    }
}

fn is_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn base(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/app".to_owned()),
            "PATH" => Some("/usr/bin".to_owned()),
            "DOLLAR" => Some("$HOME".to_owned()),
            _ => None,
        }
    }

    fn ok(text: &str) -> Vec<(String, String)> {
        parse(Path::new(".env"), text, &base).unwrap_or_else(|err| panic!("{err}"))
    }

    fn one(text: &str) -> String {
        let vars = ok(text);
        assert_eq!(vars.len(), 1, "{vars:?}");
        vars.into_iter().next().unwrap().1
    }

    fn err(text: &str) -> String {
        parse(Path::new(".env"), text, &base)
            .expect_err("input should be rejected")
            .to_string()
    }

    fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|&(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn key_value_lines_in_order() {
        assert_eq!(ok("B=2\nA=1\n"), pairs(&[("B", "2"), ("A", "1")]));
    }

    #[test]
    fn export_prefix() {
        assert_eq!(
            ok("export A=1\nexport\tB=2\nexport=3\nexported=4"),
            pairs(&[("A", "1"), ("B", "2"), ("export", "3"), ("exported", "4")])
        );
    }

    #[test]
    fn whitespace_around_equals() {
        assert_eq!(
            ok("  A = 1\nB\t=\t2\nC= 3 "),
            pairs(&[("A", "1"), ("B", "2"), ("C", "3")])
        );
    }

    #[test]
    fn key_charset() {
        assert_eq!(
            ok("_a.B9_=1\nlog.level=debug"),
            pairs(&[("_a.B9_", "1"), ("log.level", "debug")])
        );
    }

    #[test]
    fn comments_and_blank_lines() {
        assert_eq!(
            ok("# top\n\n   # indented\n\t\nA=1\n#B=2\n"),
            pairs(&[("A", "1")])
        );
        assert_eq!(ok(""), pairs(&[]));
        assert_eq!(ok("# only a comment"), pairs(&[]));
    }

    #[test]
    fn unquoted_value_ends_at_comment_and_is_trimmed() {
        assert_eq!(one("A=hello world # greeting"), "hello world");
        assert_eq!(one("A=x\t#tab comment"), "x");
        assert_eq!(one("A= # only a comment"), "");
        assert_eq!(one("A=  spaced out  "), "spaced out");
    }

    #[test]
    fn unquoted_hash_without_space_is_kept() {
        assert_eq!(one("A=#fff"), "#fff");
        assert_eq!(one("A=page#anchor"), "page#anchor");
    }

    #[test]
    fn unquoted_backslashes_and_quotes_are_literal() {
        assert_eq!(one(r"A=C:\new\dir"), r"C:\new\dir");
        assert_eq!(one(r#"A=say "hi" it's"#), r#"say "hi" it's"#);
    }

    #[test]
    fn empty_values() {
        assert_eq!(
            ok("A=\nB=\"\"\nC=''\nD=   "),
            pairs(&[("A", ""), ("B", ""), ("C", ""), ("D", "")])
        );
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(one(r"A='$HOME ${HOME} \n \' # x'"), r"$HOME ${HOME} \n \");
        assert_eq!(one("A = '  padded  '  # comment"), "  padded  ");
    }

    #[test]
    fn single_quotes_may_span_lines() {
        assert_eq!(
            ok("KEY='-----BEGIN-----\nabc  \n-----END-----'\nB=2"),
            pairs(&[("KEY", "-----BEGIN-----\nabc  \n-----END-----"), ("B", "2")])
        );
    }

    #[test]
    fn double_quote_escapes() {
        assert_eq!(
            one(r#"A="a\nb\tc\rd\"e\\f\$HOME""#),
            "a\nb\tc\rd\"e\\f$HOME"
        );
    }

    #[test]
    fn double_quote_unknown_escape_is_kept() {
        assert_eq!(one(r#"A="C:\dir\x""#), r"C:\dir\x");
        assert_eq!(one("A=\"a\\\nb\""), "a\\\nb");
    }

    #[test]
    fn double_quotes_keep_hash_and_spaces() {
        assert_eq!(one(r#"A=" x # y "  # real comment"#), " x # y ");
        assert_eq!(one(r##"A="x"# comment without space"##), "x");
    }

    #[test]
    fn double_quotes_may_span_lines() {
        assert_eq!(
            ok("A=\"first  \n\n  third\" # done\nB=$A"),
            pairs(&[("A", "first  \n\n  third"), ("B", "first  \n\n  third")])
        );
    }

    #[test]
    fn expansion_from_file_then_base_then_empty() {
        assert_eq!(
            ok("HOME=/srv\nA=${HOME}/x\nB=$PATH:$NOPE:${NOPE}end"),
            pairs(&[("HOME", "/srv"), ("A", "/srv/x"), ("B", "/usr/bin::end")])
        );
    }

    #[test]
    fn expansion_in_double_quotes_not_single() {
        assert_eq!(
            ok("A=\"$HOME/a ${HOME}\"\nB='$HOME'"),
            pairs(&[("A", "/home/app/a /home/app"), ("B", "$HOME")])
        );
    }

    #[test]
    fn expansion_sees_only_earlier_lines() {
        assert_eq!(ok("A=$LATER\nLATER=x"), pairs(&[("A", ""), ("LATER", "x")]));
    }

    #[test]
    fn self_reference_extends_base() {
        assert_eq!(one("PATH=$HOME/bin:$PATH"), "/home/app/bin:/usr/bin");
    }

    #[test]
    fn redefinition_sees_previous_value() {
        assert_eq!(one("A=1\nA=$A-2\nA=\"${A}-3\""), "1-2-3");
    }

    #[test]
    fn bare_reference_stops_at_non_name_character() {
        assert_eq!(
            ok("HOST=db\nA=$HOST.example.com\nB=$HOST-1\nhost.name=h\nC=${host.name}"),
            pairs(&[
                ("HOST", "db"),
                ("A", "db.example.com"),
                ("B", "db-1"),
                ("host.name", "h"),
                ("C", "h")
            ])
        );
    }

    #[test]
    fn dollar_without_name_is_kept() {
        assert_eq!(one("A=costs $5 $ and $"), "costs $5 $ and $");
        assert_eq!(one("A=\"$ $1 $-\""), "$ $1 $-");
    }

    #[test]
    fn expanded_values_are_not_expanded_again() {
        assert_eq!(one("A=$DOLLAR"), "$HOME");
        assert_eq!(one("A=\"\\$HOME\""), "$HOME");
    }

    #[test]
    fn duplicate_key_keeps_first_position_and_last_value() {
        assert_eq!(ok("A=1\nB=2\nA=3"), pairs(&[("A", "3"), ("B", "2")]));
    }

    #[test]
    fn tolerates_crlf_and_byte_order_mark() {
        assert_eq!(
            ok("\u{feff}A=1\r\n\r\nB=\"x\r\ny\"\r\nC='z' \r\n"),
            pairs(&[("A", "1"), ("B", "x\ny"), ("C", "z")])
        );
    }

    #[test]
    fn rejects_missing_equals() {
        assert_eq!(
            err("A=1\n\nexport DEBUG\n"),
            ".env:3: missing '=' after variable name \"DEBUG\" (expected \"KEY=value\")"
        );
        assert_eq!(
            err("A=1\nDEBUG true"),
            ".env:2: missing '=' after variable name \"DEBUG\" (expected \"KEY=value\")"
        );
    }

    #[test]
    fn rejects_line_that_is_no_entry() {
        assert_eq!(
            err("-- oops --  "),
            ".env:1: expected \"KEY=value\", found \"-- oops --\""
        );
        assert_eq!(
            err("export  \t"),
            ".env:1: expected \"KEY=value\", found \"export\""
        );
    }

    #[test]
    fn rejects_missing_key() {
        assert_eq!(
            err("  = value"),
            ".env:1: missing variable name before '=' (expected \"KEY=value\")"
        );
    }

    #[test]
    fn rejects_invalid_key() {
        let hint = "\n  hint: a name starts with a letter or '_' and contains only letters, \
                    digits, '_' and '.'";
        assert_eq!(
            err("1A=x"),
            format!(".env:1: invalid variable name \"1A\"{hint}")
        );
        assert_eq!(
            err("A-B=x"),
            format!(".env:1: invalid variable name \"A-B\"{hint}")
        );
        assert_eq!(
            err("A B=x"),
            format!(".env:1: invalid variable name \"A B\"{hint}")
        );
        assert_eq!(
            err("\"A\"=x"),
            format!(".env:1: invalid variable name \"\\\"A\\\"\"{hint}")
        );
    }

    #[test]
    fn rejects_unterminated_double_quote_naming_opening_line() {
        assert_eq!(
            err("A=1\nB=\"open\nstill open\n"),
            ".env:2: unterminated double quote in value of \"B\"\n  \
             hint: add the closing \"; a quoted value may span lines but must end \
             before the end of the file"
        );
        assert_eq!(
            err(r#"A="escaped end\""#),
            ".env:1: unterminated double quote in value of \"A\"\n  \
             hint: add the closing \"; a quoted value may span lines but must end \
             before the end of the file"
        );
    }

    #[test]
    fn rejects_unterminated_single_quote() {
        assert_eq!(
            err("A='open"),
            ".env:1: unterminated single quote in value of \"A\"\n  \
             hint: add the closing '; a quoted value may span lines but must end \
             before the end of the file"
        );
    }

    #[test]
    fn rejects_text_after_closing_quote() {
        assert_eq!(
            err("A=\"x\" y"),
            ".env:1: unexpected \"y\" after the closing quote of \"A\"\n  \
             hint: quote the whole value, or start a comment with '#'"
        );
        assert_eq!(
            err("A=1\nB=\"multi\nline\"oops"),
            ".env:3: unexpected \"oops\" after the closing quote of \"B\"\n  \
             hint: quote the whole value, or start a comment with '#'"
        );
    }

    #[test]
    fn rejects_single_quote_inside_single_quotes() {
        assert_eq!(
            err("A='it's'"),
            ".env:1: unexpected \"s'\" after the closing quote of \"A\"\n  \
             hint: a single-quoted value cannot contain '; use double quotes, \
             or start a comment with '#'"
        );
    }

    #[test]
    fn rejects_invalid_reference() {
        let hint = "\n  hint: write ${NAME} with a NAME of letters, digits, '_' and '.'; \
                    defaults like ${NAME:-x} are not supported";
        assert_eq!(
            err("A=${HOME:-/root}"),
            format!(
                ".env:1: invalid variable reference \"${{HOME:-/root}}\" in value of \"A\"{hint}"
            )
        );
        assert_eq!(
            err("A=\"\n${}\""),
            format!(".env:2: invalid variable reference \"${{}}\" in value of \"A\"{hint}")
        );
        assert_eq!(
            err("A=${1X}"),
            format!(".env:1: invalid variable reference \"${{1X}}\" in value of \"A\"{hint}")
        );
    }

    #[test]
    fn rejects_unterminated_reference() {
        assert_eq!(
            err("A=x\nB=\"${HOME\""),
            ".env:2: unterminated \"${\" in value of \"B\"\n  \
             hint: close the reference with '}', or write \\$ for a literal '$'"
        );
        assert_eq!(
            err("A=${"),
            ".env:1: unterminated \"${\" in value of \"A\"\n  \
             hint: close the reference with '}', or write \\$ for a literal '$'"
        );
    }

    #[test]
    fn rejects_nul_in_value() {
        assert_eq!(
            err("A=a\0b"),
            ".env:1: value of \"A\" contains a NUL byte\n  \
             hint: environment variables cannot hold NUL bytes; remove it"
        );
    }

    #[test]
    fn load_reads_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "A=1\nB=\"$A $HOME\"\n").unwrap();
        assert_eq!(
            load(&path, &base).unwrap(),
            pairs(&[("A", "1"), ("B", "1 /home/app")])
        );
    }

    #[test]
    fn load_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env.local");
        assert_eq!(
            load(&path, &base).unwrap_err().to_string(),
            format!(
                "{}: cannot read: no such file\n  hint: check the path given to -e/--env",
                path.display()
            )
        );
    }

    #[test]
    fn load_rejects_non_utf8_naming_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, b"A=1\nB=caf\xe9\n").unwrap();
        assert_eq!(
            load(&path, &base).unwrap_err().to_string(),
            format!(
                "{}:2: not valid UTF-8 (byte 0xe9 at column 6)\n  hint: save the file as UTF-8",
                path.display()
            )
        );
    }

    fn assert_lines_in_file(text: &str) -> Result<(), TestCaseError> {
        let lines = text.split('\n').count();
        if let Err(err) = parse(Path::new(".env"), text, &base) {
            let line = err.line.expect("every parse error names a line");
            prop_assert!(
                (1..=lines).contains(&line),
                "line {} of {}: {}",
                line,
                lines,
                err
            );
        }
        Ok(())
    }

    /// Renders `value` as a double-quoted `.env` value; newlines are written
    /// raw (as a multi-line value) or as `\n`.
    fn render(value: &str, raw_newlines: bool) -> String {
        let mut out = String::from("\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '$' => out.push_str("\\$"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\n' if !raw_newlines => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            assert_lines_in_file(&text)?;
        }

        #[test]
        fn env_like_text_errors_name_a_line_in_the_file(
            text in "([A-Za-z_ =\"'#${}\\\\\t.:-]{0,14}\r?\n){0,8}[A-Za-z_ =\"'#${}\\\\.:-]{0,14}"
        ) {
            assert_lines_in_file(&text)?;
        }

        #[test]
        fn double_quoted_values_round_trip(
            vars in proptest::collection::btree_map(
                "[A-Za-z_][A-Za-z0-9_.]{0,8}",
                "[^\\x00]{0,20}",
                0..8,
            ),
            raw_newlines in any::<bool>(),
            export in any::<bool>(),
        ) {
            let text: String = vars
                .iter()
                .map(|(key, value)| {
                    let export = if export { "export " } else { "" };
                    format!("{export}{key} = {}  # {key}\n", render(value, raw_newlines))
                })
                .collect();
            let parsed = parse(Path::new(".env"), &text, &|_| Some("unused".to_owned()))
                .map_err(|err| TestCaseError::fail(format!("{err}\n{text}")))?;
            let want: Vec<(String, String)> = vars.into_iter().collect();
            prop_assert_eq!(parsed, want);
        }
    }
}
