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

/// The largest Procfile, drover.toml or .env file drover reads: far above
/// any real one, and small enough that a wrong path (a log, an image) is
/// refused at once instead of read into memory.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// Reads `path` as UTF-8 text.
///
/// A missing file gets `missing_hint`, which should say how to create the
/// file or point drover at another one. Anything but a regular file (a FIFO,
/// a device such as `/dev/zero`, a directory) and a file over
/// [`MAX_FILE_SIZE`] are refused: input must end, and end soon.
pub fn read_text(path: &Path, missing_hint: &str) -> Result<String, InputError> {
    use std::io::Read as _;
    use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};

    let cannot_read = |err: io::Error| {
        let error = InputError::new(path, None, format!("cannot read: {}", describe_io(&err)));
        match err.kind() {
            io::ErrorKind::NotFound => error.with_hint(missing_hint),
            io::ErrorKind::PermissionDenied => {
                error.with_hint("check the file's permissions, or run drover as its owner")
            }
            _ => error,
        }
    };
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
    // writer, forever if none comes; the type is checked before any read.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(cannot_read)?;
    let kind = file.metadata().map_err(cannot_read)?.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else {
            "not a file"
        };
        return Err(
            InputError::new(path, None, format!("is not a regular file ({what})"))
                .with_hint("give the path of a file; drover reads no pipes, devices or folders"),
        );
    }
    let mut bytes = Vec::new();
    // One byte past the cap tells a file at the cap from a larger one, even
    // if the file grows while it is read.
    (&mut file)
        .take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(InputError::new(
            path,
            None,
            format!("is larger than {} MiB", MAX_FILE_SIZE / (1024 * 1024)),
        )
        .with_hint("check the path; an input file of drover is a few lines of text"));
    }
    decode(path, bytes)
}

/// Whether a file drover looks for by default (`drover.toml` beside the
/// Procfile, `.env` in the root) is there to read.
///
/// Nothing at `path` is `false`: the file is optional. Anything else is
/// there and meant to be read, so a symlink that leads nowhere (dangling, or
/// a loop) is an error naming it rather than a file silently left out; a
/// folder or a FIFO is `true`, and [`read_text`] refuses it.
pub fn present(path: &Path) -> Result<bool, InputError> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            return Err(InputError::new(
                path,
                None,
                format!("cannot read: {}", describe_io(&e)),
            ))
        }
    }
    match std::fs::metadata(path) {
        Ok(_) => Ok(true),
        Err(e) => {
            let target = std::fs::read_link(path)
                .map(|t| format!(" to {}", t.display()))
                .unwrap_or_default();
            let message = if e.raw_os_error() == Some(libc::ELOOP) {
                format!("is a symlink{target} that loops")
            } else if e.kind() == io::ErrorKind::NotFound {
                format!("is a symlink{target}, which does not exist")
            } else {
                format!("cannot read: {}", describe_io(&e))
            };
            Err(InputError::new(path, None, message)
                .with_hint("fix or remove the link; drover reads this file when it is there"))
        }
    }
}

/// The lines of `text` without their ends: `\r\n`, `\n` and a lone `\r`
/// each end a line, as python-dotenv and honcho read files. Text that ends
/// with a line end has an empty last line.
pub fn lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(end) = rest.find(['\n', '\r']) {
        lines.push(&rest[..end]);
        let width = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + width..];
    }
    lines.push(rest);
    lines
}

/// Turns the bytes of `path` into text, or names the line and column of the
/// first byte that is not UTF-8 (lines end as [`lines`] says).
pub fn decode(path: &Path, bytes: Vec<u8>) -> Result<String, InputError> {
    String::from_utf8(bytes).map_err(|err| {
        let bytes = err.as_bytes();
        let valid = err.utf8_error().valid_up_to();
        // The valid part is text; its last line is where the bad byte is.
        let before = std::str::from_utf8(&bytes[..valid]).expect("valid up to here");
        let lines = lines(before);
        let line = lines.len();
        let column = 1 + lines.last().map_or(0, |l| l.len());
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
    fn lines_end_at_lf_crlf_and_a_lone_cr() {
        assert_eq!(lines("a\nb\r\nc\rd"), ["a", "b", "c", "d"]);
        assert_eq!(lines("a\r\r\n"), ["a", "", ""]);
        assert_eq!(lines(""), [""]);
        let err = decode(Path::new("f"), b"a\rb\r\xff".to_vec()).unwrap_err();
        assert_eq!(err.line, Some(3));
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
        assert_eq!(err.message, "is not a regular file (a directory)");
    }

    #[test]
    fn read_text_refuses_a_fifo_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let err = read_text(&path, "").unwrap_err();
        assert_eq!(err.message, "is not a regular file (a FIFO)");
    }

    #[test]
    fn read_text_refuses_a_device() {
        let err = read_text(Path::new("/dev/zero"), "").unwrap_err();
        assert_eq!(err.to_string(), "/dev/zero: is not a regular file (a character device)\n  hint: give the path of a file; drover reads no pipes, devices or folders");
    }

    #[test]
    fn read_text_caps_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'#'; MAX_FILE_SIZE as usize]).unwrap();
        assert_eq!(read_text(&path, "").unwrap().len(), MAX_FILE_SIZE as usize);
        std::fs::write(&path, vec![b'#'; MAX_FILE_SIZE as usize + 1]).unwrap();
        assert_eq!(
            read_text(&path, "").unwrap_err().message,
            "is larger than 1 MiB"
        );
    }

    #[test]
    fn present_is_false_only_for_nothing_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        assert_eq!(present(&path("none")), Ok(false));
        std::fs::write(path("file"), "").unwrap();
        assert_eq!(present(&path("file")), Ok(true));
        assert_eq!(present(dir.path()), Ok(true));
        std::os::unix::fs::symlink("nowhere", path("dangling")).unwrap();
        assert_eq!(
            present(&path("dangling")).unwrap_err().message,
            "is a symlink to nowhere, which does not exist"
        );
        std::os::unix::fs::symlink("loop", path("loop")).unwrap();
        assert_eq!(
            present(&path("loop")).unwrap_err().message,
            "is a symlink to loop that loops"
        );
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
            // LF, CRLF and a lone CR each end a line.
            let ends = bytes
                .iter()
                .enumerate()
                .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
                .count();
            let lines = 1 + ends;
            if let Err(err) = decode(Path::new("f"), bytes) {
                let line = err.line.expect("decode errors always name a line");
                prop_assert!((1..=lines).contains(&line));
            }
        }
    }
}
