//! The control protocol: newline-delimited JSON, one request per
//! connection, versioned by `"v"`.
//!
//! Request: `{"v":1,"cmd":"ps"}`, `{"v":1,"cmd":"stop","names":["web"]}`,
//! `{"v":1,"cmd":"restart","names":["web.2"]}`,
//! `{"v":1,"cmd":"kill","name":"web","signal":"HUP"}`,
//! `{"v":1,"cmd":"logs","names":[],"lines":100,"follow":false}`,
//! `{"v":1,"cmd":"shutdown"}`,
//! `{"v":1,"cmd":"send","name":"repl","input":"1+1\r"}`,
//! `{"v":1,"cmd":"attach","name":"repl.1","steal":false,"cols":80,"rows":24}`,
//! `{"v":1,"cmd":"events","names":[]}`.
//!
//! Response: `{"v":1,"ok":true,"result":…}` or `{"v":1,"ok":false,"error":"…"}`.
//! `logs` answers with a header response, then one `{"v":1,"log":{…}}` per
//! line, then `{"v":1,"end":true}` (unless following, which ends when drover
//! exits).
//!
//! `events` answers with a header response (the instances it follows),
//! then one `{"v":1,"event":{…}}` per lifecycle event (the object of the
//! event schema, README "Events and hooks") until drover exits, then
//! `{"v":1,"end":true}`.
//!
//! `attach` answers `{"v":1,"ok":true,"result":{"attached":"repl.1"}}`, then
//! the connection carries raw bytes: from drover, the terminal's output as
//! the process wrote it; from the client, [`Frame`]s (typed input, window
//! sizes). The client detaches by closing the connection.
//!
//! Every message either side sends is a type here ([`Envelope`] one way,
//! [`Message`] the other), shared by the client and the server: a reply
//! that does not fit its type is an error, never a default.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The protocol version this drover speaks.
pub const VERSION: u32 = 1;

/// How an event message begins: the event object follows.
const EVENT_PREFIX: &str = "{\"v\":1,\"event\":";

/// The longest request line accepted.
pub const MAX_REQUEST: usize = 64 * 1024;

/// A request with its version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// Protocol version; must be [`VERSION`].
    pub v: u32,
    /// The request.
    #[serde(flatten)]
    pub request: Request,
}

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// The process table.
    Ps,
    /// Stop these processes (`web` = every instance, `web.2` = one).
    Stop {
        /// Names.
        names: Vec<String>,
        /// Stop them even while running processes depend on them.
        #[serde(default)]
        force: bool,
    },
    /// Restart these processes; a stopped one is started.
    Restart {
        /// Names.
        names: Vec<String>,
        /// Answer once they are ready again (or failed), not at once.
        #[serde(default)]
        wait: bool,
    },
    /// Send a signal to these processes' groups.
    Kill {
        /// Name.
        name: String,
        /// `HUP`, `SIGUSR1`, `9`, …
        signal: String,
    },
    /// Recent output, then optionally what follows.
    Logs {
        /// Names; empty means all.
        #[serde(default)]
        names: Vec<String>,
        /// How many recent lines.
        #[serde(default = "default_lines")]
        lines: usize,
        /// Keep sending new lines.
        #[serde(default)]
        follow: bool,
    },
    /// Stop every process and exit, as on SIGTERM.
    Shutdown,
    /// Send SIGTSTP to every process and stop drover's timers.
    Pause,
    /// Send SIGCONT to every process and restart the timers.
    Resume,
    /// Write input to a process's terminal, as if typed.
    Send {
        /// `repl` (every instance) or `repl.1`.
        name: String,
        /// The bytes to type (control keys included, e.g. `\u{3}` for Ctrl-C).
        input: String,
    },
    /// Attach to one instance's terminal: its output raw, then [`Frame`]s.
    Attach {
        /// `repl.1`, or `repl` when it has one instance.
        name: String,
        /// Take the terminal from a client already attached.
        #[serde(default)]
        steal: bool,
        /// The client's window width.
        cols: u16,
        /// The client's window height.
        rows: u16,
    },
    /// Lifecycle events from now on, until drover exits.
    Events {
        /// Names; empty means all (drover's own `shutdown` always comes).
        #[serde(default)]
        names: Vec<String>,
    },
    /// Run this many instances of each process: `[["web", 3], ["worker", 0]]`.
    Scale {
        /// Process names and counts.
        counts: Vec<(String, u32)>,
    },
    /// Read everything again as `start` did and apply the difference.
    Reload,
    /// The failure digest: each process's result, and the last lines of the failed.
    Digest {
        /// How many last lines of each failed process.
        #[serde(default = "default_digest_lines")]
        lines: usize,
    },
}

fn default_digest_lines() -> usize {
    10
}

/// One row of the failure digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestRow {
    /// `web.1`.
    pub name: String,
    /// `exited with code 3`, `was killed by SIGTERM`, `running`, `never started: …`.
    pub result: String,
    /// The last exit as a shell status.
    pub exit_status: Option<u8>,
    /// How many times it was started again.
    pub restarts: u32,
    /// Seconds it ran, over all its starts.
    pub ran_secs: f64,
    /// It ended on its own with a non-zero status or a signal, or could not start.
    pub failed: bool,
    /// It recovered: an earlier run failed, its last did not; its
    /// `last_lines` are those of its last failed run.
    #[serde(default)]
    pub recovered: bool,
    /// Its last lines of output, for a failed process (or its last failed
    /// run's, for one that recovered).
    #[serde(default)]
    pub last_lines: Vec<String>,
}

fn default_lines() -> usize {
    100
}

/// One row of `drover ps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// `web.1`.
    pub name: String,
    /// Its pid while running.
    pub pid: Option<i32>,
    /// `running`, `ready`, `waiting`, `restarting`, `stopping`, `stopped`, `exited`, `failed`.
    pub state: String,
    /// It runs and is ready (it passed its readiness check, or has none).
    #[serde(default)]
    pub ready: bool,
    /// Seconds since the current run started.
    pub uptime_secs: Option<u64>,
    /// How many times it was restarted.
    pub restarts: u32,
    /// The last exit: `code 0`, `signal SIGTERM`.
    pub last_exit: Option<String>,
    /// The last exit as a shell status.
    pub exit_status: Option<u8>,
    /// Why it waits, or is not ready yet (absent when neither).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// One line of `drover logs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// RFC 3339 time the line was read.
    pub time: String,
    /// `web.1`.
    pub process: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The text (not-UTF-8 bytes replaced).
    pub line: String,
}

/// What a successful answer carries: one shape per request.
///
/// On the wire a plain object (`{"processes":[…]}`, `{"stopped":[…]}`,
/// `{}`), so the shapes are told apart by their one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reply {
    /// `ps`.
    Processes {
        /// The rows.
        processes: Vec<ProcessInfo>,
    },
    /// `digest`.
    Digest {
        /// The rows.
        digest: Vec<DigestRow>,
    },
    /// `stop`.
    Stopped {
        /// The instances being stopped.
        stopped: Vec<String>,
    },
    /// `restart`.
    Restarted {
        /// The instances being restarted.
        restarted: Vec<String>,
    },
    /// `kill`.
    Signalled {
        /// The instances signalled.
        signalled: Vec<String>,
    },
    /// `send`.
    Sent {
        /// The instances written to.
        sent: Vec<String>,
    },
    /// `attach`: raw bytes follow.
    Attached {
        /// The instance attached to.
        attached: String,
    },
    /// The header of `logs`.
    Names {
        /// The instances whose lines follow.
        names: Vec<String>,
        /// Where drover keeps log files, when it does: older lines are there.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log_dir: Option<PathBuf>,
    },
    /// `scale`, `reload`: what changed (`+ web.3`, `- web.2`,
    /// `~ web.1 (command changed)`).
    Changes {
        /// One line per instance added, removed or changed.
        changes: Vec<String>,
    },
    /// `pause`, `resume`, `shutdown`: nothing to tell. Last, since any
    /// object fits it.
    Done {},
}

/// What an attached client sends after its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Keystrokes: tag 0, a 16-bit big-endian length, the bytes.
    Input(Vec<u8>),
    /// The window's size: tag 1, columns and rows as 16-bit big-endian.
    Resize {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
}

/// A frame with an unknown tag.
#[derive(Debug, thiserror::Error)]
#[error("bad frame tag {0}")]
pub struct FrameError(pub u8);

impl Frame {
    /// Appends the frame's bytes to `out`; input longer than 65535 bytes
    /// becomes several frames.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Frame::Input(bytes) => {
                for piece in bytes.chunks(usize::from(u16::MAX)) {
                    out.push(0);
                    let len = u16::try_from(piece.len()).expect("chunks of at most u16::MAX");
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(piece);
                }
            }
            Frame::Resize { cols, rows } => {
                out.push(1);
                out.extend_from_slice(&cols.to_be_bytes());
                out.extend_from_slice(&rows.to_be_bytes());
            }
        }
    }

    /// The first whole frame at the start of `buf`, and its length; `None`
    /// while it is incomplete.
    pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
        let Some(&tag) = buf.first() else {
            return Ok(None);
        };
        let word = |at: usize| {
            buf.get(at..at + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
        };
        match tag {
            0 => {
                let Some(len) = word(1) else { return Ok(None) };
                let end = 3 + usize::from(len);
                Ok(buf
                    .get(3..end)
                    .map(|bytes| (Frame::Input(bytes.to_vec()), end)))
            }
            1 => Ok(word(1)
                .zip(word(3))
                .map(|(cols, rows)| (Frame::Resize { cols, rows }, 5))),
            other => Err(FrameError(other)),
        }
    }
}

/// One message from drover to a client.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// `{"ok":true,"result":…}`.
    Ok(Reply),
    /// `{"ok":false,"error":"…"}`.
    Error(String),
    /// `{"log":{…}}`: one line of `logs`.
    Log(LogLine),
    /// `{"skipped":n}`: a follower fell behind by `n` chunks.
    Skipped(u64),
    /// `{"end":true}`: the end of `logs`.
    End,
    /// `{"event":{…}}`: one lifecycle event of `events`, the object's text
    /// as drover wrote it (its fields in the documented order).
    Event(String),
}

/// [`Message`] as it is on the wire: every field optional.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ok: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result: Option<Reply>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log: Option<LogLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    skipped: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event: Option<serde_json::Value>,
}

/// A message that fits no shape of [`Message`].
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// Not JSON, or a field of the wrong type.
    #[error("bad answer: {0}")]
    Json(#[from] serde_json::Error),
    /// Valid JSON with no known shape.
    #[error("bad answer: {0}")]
    Shape(&'static str),
}

impl Message {
    /// The message as one line of JSON, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        if let Message::Event(object) = self {
            return format!("{EVENT_PREFIX}{object}}}\n").into_bytes();
        }
        let mut wire = Wire {
            v: VERSION,
            ..Wire::default()
        };
        match self {
            Message::Ok(reply) => {
                wire.ok = Some(true);
                wire.result = Some(reply.clone());
            }
            Message::Error(e) => {
                wire.ok = Some(false);
                wire.error = Some(e.clone());
            }
            Message::Log(l) => wire.log = Some(l.clone()),
            Message::Skipped(n) => wire.skipped = Some(*n),
            Message::End => wire.end = Some(true),
            Message::Event(_) => unreachable!("written above"),
        }
        let mut bytes = serde_json::to_vec(&wire).expect("messages serialize");
        bytes.push(b'\n');
        bytes
    }

    /// Appends `{"v":1,"log":…}` and a newline to `out`, without copying
    /// the line: the same bytes as `Message::Log(line).to_line()`.
    pub fn push_log(line: &LogLine, out: &mut Vec<u8>) {
        #[derive(Serialize)]
        struct LogWire<'a> {
            v: u32,
            log: &'a LogLine,
        }
        serde_json::to_writer(
            &mut *out,
            &LogWire {
                v: VERSION,
                log: line,
            },
        )
        .expect("writing to a Vec cannot fail");
        out.push(b'\n');
    }

    /// Parses one line sent by drover.
    pub fn parse(line: &str) -> Result<Self, MessageError> {
        let wire: Wire = serde_json::from_str(line)?;
        Ok(match wire {
            Wire {
                ok: Some(true),
                result: Some(r),
                ..
            } => Message::Ok(r),
            Wire {
                ok: Some(false),
                error: Some(e),
                ..
            } => Message::Error(e),
            Wire { log: Some(l), .. } => Message::Log(l),
            Wire {
                skipped: Some(n), ..
            } => Message::Skipped(n),
            Wire {
                end: Some(true), ..
            } => Message::End,
            Wire {
                event: Some(serde_json::Value::Object(object)),
                ..
            } => {
                // The object's own text keeps its fields' order.
                let raw = line
                    .trim_end()
                    .strip_prefix(EVENT_PREFIX)
                    .and_then(|rest| rest.strip_suffix('}'));
                Message::Event(raw.map_or_else(
                    || serde_json::Value::Object(object).to_string(),
                    str::to_string,
                ))
            }
            _ => return Err(MessageError::Shape("no result, error, log line or end")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_the_documented_wire_format() {
        let line = Message::Ok(Reply::Stopped {
            stopped: vec!["web.1".into()],
        })
        .to_line();
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"v": 1, "ok": true, "result": {"stopped": ["web.1"]}})
        );
        let done: serde_json::Value =
            serde_json::from_slice(&Message::Ok(Reply::Done {}).to_line()).unwrap();
        assert_eq!(done, serde_json::json!({"v": 1, "ok": true, "result": {}}));
        for m in [
            Message::Ok(Reply::Done {}),
            Message::Error("no".into()),
            Message::Skipped(3),
            Message::End,
            Message::Event(r#"{"v":1,"event":"started","time":"t","name":"web.1","pid":7}"#.into()),
            Message::Ok(Reply::Names {
                names: vec![],
                log_dir: Some("log".into()),
            }),
            Message::Log(LogLine {
                time: "t".into(),
                process: "web.1".into(),
                stream: "stdout".into(),
                line: "hi".into(),
            }),
        ] {
            let line = String::from_utf8(m.to_line()).unwrap();
            assert_eq!(Message::parse(&line).unwrap(), m, "{line}");
            if let Message::Log(l) = &m {
                let mut pushed = Vec::new();
                Message::push_log(l, &mut pushed);
                assert_eq!(pushed, line.as_bytes());
            }
        }
    }

    #[test]
    fn frames_round_trip_and_wait_for_their_bytes() {
        let mut buf = Vec::new();
        Frame::Input(b"1+1\r".to_vec()).encode(&mut buf);
        Frame::Resize { cols: 80, rows: 24 }.encode(&mut buf);
        assert_eq!(Frame::decode(&buf[..4]).unwrap(), None);
        let (first, n) = Frame::decode(&buf).unwrap().unwrap();
        assert_eq!(first, Frame::Input(b"1+1\r".to_vec()));
        let (second, m) = Frame::decode(&buf[n..]).unwrap().unwrap();
        assert_eq!(second, Frame::Resize { cols: 80, rows: 24 });
        assert_eq!(n + m, buf.len());
        assert!(Frame::decode(&[7]).is_err());
    }

    #[test]
    fn a_digest_that_does_not_fit_is_an_error() {
        let line = r#"{"v":1,"ok":true,"result":{"digest":[{"name":1}]}}"#;
        assert!(!matches!(
            Message::parse(line),
            Ok(Message::Ok(Reply::Digest { .. }))
        ));
    }
}
