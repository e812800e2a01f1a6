//! The error every input parser reports, and the one way input files are read.
//!
//! This module owns the shape of a bad-input message (`file:line: problem`,
//! then an optional hint saying what to do) and turning a file's bytes into
//! text. It must not know any input format: the Procfile and `.env` parsers
//! decide what is wrong; this module only says where and how it is shown.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A problem with a file the user gave drover: it names the file, the line
/// when there is one, the problem, and what to do about it.
///
/// Displays as `{path}:{line}: {message}` (or `{path}: {message}` without a
/// line), followed by `\n  hint: {hint}` when there is a hint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}{}: {message}{}", LineSuffix(*.line), HintSuffix(.hint.as_deref()))]
pub struct InputError {
    /// The file as the user named it.
    pub path: PathBuf,
    /// The 1-based line the problem is on, if it belongs to one line.
    pub line: Option<usize>,
    /// What is wrong, lowercase, without a trailing period.
    pub message: String,
    /// What the user can do about it.
    pub hint: Option<String>,
}

impl InputError {
    /// An error in `path`, on `line` if given, without a hint.
    pub fn new(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        debug_assert!(line != Some(0), "lines are 1-based");
        InputError {
            path: path.to_path_buf(),
            line,
            message: message.into(),
            hint: None,
        }
    }

    /// The same error, telling the user what to do.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// `error` and its causes on one line, `: ` between them: an input error's
/// message tells the whole story, as the user reads only its text.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

struct LineSuffix(Option<usize>);

impl fmt::Display for LineSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(line) => write!(f, ":{line}"),
            None => Ok(()),
        }
    }
}

struct HintSuffix<'a>(Option<&'a str>);

impl fmt::Display for HintSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(hint) => write!(f, "\n  hint: {hint}"),
            None => Ok(()),
        }
    }
}

/// Reads `path` as UTF-8 text.
///
/// A missing file gets `missing_hint`, which should say how to create the
/// file or point drover at another one.
pub fn read_text(path: &Path, missing_hint: &str) -> Result<String, InputError> {
    let bytes = std::fs::read(path).map_err(|err| {
        let error = InputError::new(path, None, format!("cannot read: {}", describe_io(&err)));
        match err.kind() {
            io::ErrorKind::NotFound => error.with_hint(missing_hint),
            io::ErrorKind::PermissionDenied => {
                error.with_hint("check the file's permissions, or run drover as its owner")
            }
            _ => error,
        }
    })?;
    decode(path, bytes)
}

/// Turns the bytes of `path` into text, or names the line and column of the
/// first byte that is not UTF-8.
pub fn decode(path: &Path, bytes: Vec<u8>) -> Result<String, InputError> {
    String::from_utf8(bytes).map_err(|err| {
        let bytes = err.as_bytes();
        let valid = err.utf8_error().valid_up_to();
        let before = &bytes[..valid];
        let line = 1 + memchr::memchr_iter(b'\n', before).count();
        let column = 1 + before.len() - memchr::memrchr(b'\n', before).map_or(0, |nl| nl + 1);
        InputError::new(
            path,
            Some(line),
            format!(
                "not valid UTF-8 (byte 0x{:02x} at column {column})",
                bytes[valid]
            ),
        )
        .with_hint("save the file as UTF-8")
    })
}

/// `io::Error`'s own text is capitalised and carries an OS error number;
/// input errors read better with the common cases in plain words.
fn describe_io(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::NotFound => "no such file".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        io::ErrorKind::IsADirectory => "it is a directory".to_owned(),
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn display_with_line_and_hint() {
        let err = InputError::new(Path::new("Procfile"), Some(3), "missing ':'")
            .with_hint("write \"name: command\"");
        assert_eq!(
            err.to_string(),
            "Procfile:3: missing ':'\n  hint: write \"name: command\""
        );
    }

    #[test]
    fn display_without_line_or_hint() {
        let err = InputError::new(Path::new("dir/.env"), None, "cannot read: no such file");
        assert_eq!(err.to_string(), "dir/.env: cannot read: no such file");
    }

    #[test]
    fn decode_passes_utf8_through() {
        let text = decode(Path::new("f"), "a: é\n".as_bytes().to_vec()).unwrap();
        assert_eq!(text, "a: é\n");
    }

    #[test]
    fn decode_names_line_and_column_of_bad_byte() {
        let err = decode(Path::new("Procfile"), b"web: a\nworker: b\xffc\n".to_vec()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Procfile:2: not valid UTF-8 (byte 0xff at column 10)\n  hint: save the file as UTF-8"
        );
    }

    #[test]
    fn decode_bad_first_byte() {
        let err = decode(Path::new("f"), vec![0x80]).unwrap_err();
        assert_eq!(err.line, Some(1));
        assert_eq!(err.message, "not valid UTF-8 (byte 0x80 at column 1)");
    }

    #[test]
    fn read_text_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Procfile");
        let err = read_text(&path, "create it").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: cannot read: no such file\n  hint: create it",
                path.display()
            )
        );
    }

    #[test]
    fn read_text_directory() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_text(dir.path(), "create it").unwrap_err();
        assert_eq!(err.line, None);
        assert_eq!(err.message, "cannot read: it is a directory");
    }

    #[test]
    fn read_text_reads_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "x=1\n").unwrap();
        assert_eq!(read_text(&path, "").unwrap(), "x=1\n");
    }

    proptest! {
        #[test]
        fn decode_errors_name_a_line_in_the_file(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let lines = 1 + bytes.iter().filter(|&&b| b == b'\n').count();
            if let Err(err) = decode(Path::new("f"), bytes) {
                let line = err.line.expect("decode errors always name a line");
                prop_assert!((1..=lines).contains(&line));
            }
        }
    }
}
