//! The command line: the usage text and the options it parses into.

use super::*;

pub(crate) const USAGE: &str = "\
drover-testchild: deterministic misbehaving child for drover tests

USAGE: drover-testchild [FLAGS]   (flags compose; `--flag=value` also works)

Lines (each `TAG SEQ PAD\\n`, exactly --len bytes; SEQ = 8-digit line number
from 1; PAD = one letter, 'a' + fnv1a32(TAG) % 26, repeated):
  --tag T            line tag (default \"t\")
  --len N            line length incl. newline (default 100; must fit tag+seq)
  --lines N          numbered lines to write (default 0)
  --stderr           write the lines to stderr instead of stdout
  --both             odd SEQ to stdout, even SEQ to stderr
  --write MODE       raw   = 4096-byte write()s, not line aligned
                     block = line-aligned write()s of <= 64 KiB (default)
                     line  = one write() per line
  --checksum         last 8 bytes before the newline = hex fnv1a32 of the rest
  --flood            write lines forever (until killed or EPIPE)

Extra output, on stdout, in this order after the lines:
  --long N           one line of N 'x' bytes plus newline
  --invalid-utf8     the line b\"bad:\\xff\\xfe\\x80end\\n\"
  --marker TEXT      TEXT plus newline
  --no-newline TEXT  TEXT with no newline (partial last line), last of all

Signals (handlers only count; the main loop reports on stdout):
  --ignore-term      ignore SIGTERM, print `ignored SIGTERM` per arrival
  --ignore-int       ignore SIGINT, print `ignored SIGINT` per arrival
  --trap-term TEXT   on SIGTERM/SIGINT (not ignored above) print `TEXT TERM`
                     or `TEXT INT` after pending output and exit 0

Processes and files:
  --fork-sleep SECS     fork a grandchild `sleep SECS` that keeps stdio;
                        prints `grandchild PID`
  --fork-detached SECS  same, but setsid() and stdio on /dev/null first;
                        prints `detached PID`
  --pidfile PATH     write own pid (then grandchild pids, one a line) to PATH
                     atomically, after signal handlers are installed
  --wait-file PATH   before writing, wait until PATH exists (5 ms polls,
                     exit 3 after 60 s)
  --sentinel PATH    create empty PATH once all output is written

Ending:
  --close-stdout     close fds 1 and 2 after writing; implies --stay
  --sleep-ms N       sleep N ms after writing
  --kill-self SIG    then kill itself with SIG (number or name: TERM, KILL,
                     INT, HUP, QUIT, SEGV, ABRT, USR1, ...)
  --stay             then stay alive until a signal ends it
  --exit N           exit status otherwise (default 0)
  -h, --help         this text

Order: handlers, forks, pidfile, wait-file, fork reports, lines, --long,
--invalid-utf8, --marker, --no-newline, close-stdout, sentinel, sleep,
kill-self, stay, exit. A write failing with EPIPE exits 1 quietly.
";

// ---------------------------------------------------------------------------
// Options

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Target {
    Stdout,
    Stderr,
    Both,
}

#[derive(Debug)]
pub(crate) struct Opts {
    pub(crate) tag: Vec<u8>,
    pub(crate) len: usize,
    pub(crate) lines: u64,
    pub(crate) target: Target,
    pub(crate) mode: Mode,
    pub(crate) marker: Option<Vec<u8>>,
    pub(crate) no_newline: Option<Vec<u8>>,
    pub(crate) long: Option<usize>,
    pub(crate) invalid_utf8: bool,
    pub(crate) ignore_term: bool,
    pub(crate) ignore_int: bool,
    pub(crate) trap_term: Option<Vec<u8>>,
    pub(crate) fork_sleep: Option<OsString>,
    pub(crate) fork_detached: Option<OsString>,
    pub(crate) pidfile: Option<PathBuf>,
    pub(crate) sentinel: Option<PathBuf>,
    pub(crate) wait_file: Option<PathBuf>,
    pub(crate) stay: bool,
    pub(crate) sleep_ms: u64,
    pub(crate) exit: i32,
    pub(crate) kill_self: Option<libc::c_int>,
    pub(crate) close_stdout: bool,
    pub(crate) flood: bool,
    pub(crate) checksum: bool,
}

pub(crate) fn usage_error(msg: &str) -> ! {
    let _ = write_fd(
        2,
        format!("drover-testchild: {msg}\ntry `drover-testchild --help`\n").as_bytes(),
    );
    process::exit(2)
}

pub(crate) fn number<T: std::str::FromStr>(flag: &str, v: &OsStr) -> T {
    v.to_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| usage_error(&format!("{flag}: bad number {v:?}")))
}

pub(crate) fn parse_args(args: impl IntoIterator<Item = OsString>) -> Opts {
    let mut o = Opts {
        tag: b"t".to_vec(),
        len: 100,
        lines: 0,
        target: Target::Stdout,
        mode: Mode::Block,
        marker: None,
        no_newline: None,
        long: None,
        invalid_utf8: false,
        ignore_term: false,
        ignore_int: false,
        trap_term: None,
        fork_sleep: None,
        fork_detached: None,
        pidfile: None,
        sentinel: None,
        wait_file: None,
        stay: false,
        sleep_ms: 0,
        exit: 0,
        kill_self: None,
        close_stdout: false,
        flood: false,
        checksum: false,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let bytes = arg.as_bytes();
        // `--flag=value` or `--flag value`.
        let (flag, mut inline) = match bytes.iter().position(|&b| b == b'=') {
            Some(i) if bytes.starts_with(b"--") => (
                String::from_utf8_lossy(&bytes[..i]).into_owned(),
                Some(OsStr::from_bytes(&bytes[i + 1..]).to_os_string()),
            ),
            _ => (String::from_utf8_lossy(bytes).into_owned(), None),
        };
        let mut value = || -> OsString {
            inline
                .take()
                .or_else(|| args.next())
                .unwrap_or_else(|| usage_error(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "-h" | "--help" => {
                let _ = write_fd(1, USAGE.as_bytes());
                process::exit(0)
            }
            "--tag" => o.tag = value().into_vec(),
            "--len" => o.len = number(&flag, &value()),
            "--lines" => o.lines = number(&flag, &value()),
            "--stderr" => o.target = Target::Stderr,
            "--both" => o.target = Target::Both,
            "--write" => {
                o.mode = match value().to_str() {
                    Some("raw") => Mode::Raw,
                    Some("block") => Mode::Block,
                    Some("line") => Mode::Line,
                    _ => usage_error("--write takes raw, block or line"),
                }
            }
            "--marker" => o.marker = Some(value().into_vec()),
            "--no-newline" => o.no_newline = Some(value().into_vec()),
            "--long" => o.long = Some(number(&flag, &value())),
            "--invalid-utf8" => o.invalid_utf8 = true,
            "--ignore-term" => o.ignore_term = true,
            "--ignore-int" => o.ignore_int = true,
            "--trap-term" => o.trap_term = Some(value().into_vec()),
            "--fork-sleep" => o.fork_sleep = Some(value()),
            "--fork-detached" => o.fork_detached = Some(value()),
            "--pidfile" => o.pidfile = Some(value().into()),
            "--sentinel" => o.sentinel = Some(value().into()),
            "--wait-file" => o.wait_file = Some(value().into()),
            "--stay" => o.stay = true,
            "--sleep-ms" => o.sleep_ms = number(&flag, &value()),
            "--exit" => o.exit = number(&flag, &value()),
            "--kill-self" => {
                let v = value();
                o.kill_self = Some(
                    v.to_str()
                        .and_then(parse_signal)
                        .unwrap_or_else(|| usage_error(&format!("--kill-self: bad signal {v:?}"))),
                );
            }
            "--close-stdout" => o.close_stdout = true,
            "--flood" => o.flood = true,
            "--checksum" => o.checksum = true,
            _ => usage_error(&format!("unknown flag {arg:?}")),
        }
        if inline.is_some() {
            usage_error(&format!("{flag} takes no value"));
        }
    }
    let min = min_len(&o.tag, o.checksum);
    if o.len < min {
        usage_error(&format!("--len {} too short, at least {min} needed", o.len));
    }
    o
}
