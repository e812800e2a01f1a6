//! The control protocol: newline-delimited JSON, one request per
//! connection, versioned by `"v"`.
//!
//! Request: `{"v":1,"cmd":"ps"}`, `{"v":1,"cmd":"stop","names":["web"]}`,
//! `{"v":1,"cmd":"restart","names":["web.2"]}`,
//! `{"v":1,"cmd":"kill","name":"web","signal":"HUP"}`,
//! `{"v":1,"cmd":"logs","names":[],"lines":100,"follow":false}`,
//! `{"v":1,"cmd":"shutdown"}`.
//!
//! Response: `{"v":1,"ok":true,"result":…}` or `{"v":1,"ok":false,"error":"…"}`.
//! `logs` answers with a header response, then one `{"v":1,"log":{…}}` per
//! line, then `{"v":1,"end":true}` (unless following, which ends when drover
//! exits).

use serde::{Deserialize, Serialize};

/// The protocol version this drover speaks.
pub const VERSION: u32 = 1;

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
    },
    /// Restart these processes; a stopped one is started.
    Restart {
        /// Names.
        names: Vec<String>,
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
    /// Its last lines of output, for a failed process.
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
    /// Seconds since the current run started.
    pub uptime_secs: Option<u64>,
    /// How many times it was restarted.
    pub restarts: u32,
    /// The last exit: `code 0`, `signal SIGTERM`.
    pub last_exit: Option<String>,
    /// The last exit as a shell status.
    pub exit_status: Option<u8>,
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
