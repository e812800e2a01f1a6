//! [`OutputMode`]: text for people or JSON lines for programs, as chosen by
//! `--output` or drover.toml's `output`.

use std::fmt;

/// Text for people or JSON lines for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputMode {
    /// `HH:MM:SS web.1  | text`
    Text,
    /// One JSON object a line: `time`, `process`, `stream`, `line`.
    Json,
}

impl OutputMode {
    /// The name used on the command line and in drover.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputMode::Text => "text",
            OutputMode::Json => "json",
        }
    }
}

impl fmt::Display for OutputMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
