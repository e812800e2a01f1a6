//! The exit reports CI systems show: the digest as Markdown (`--report`,
//! also appended to `$GITHUB_STEP_SUMMARY`) and as JUnit XML (`--junit`).
//!
//! Pure rendering of the digest rows plus the writing of the files. Knows
//! nothing of how the rows were made; must not touch stdout (the writer owns
//! it) — failures to write are said on stderr by the caller.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::control::protocol::DigestRow;

/// How many recent lines of each instance the JUnit `<system-out>` holds.
pub(crate) const RECENT_LINES: usize = 50;

/// Which reports to write at exit.
#[derive(Debug, Clone, Default)]
pub struct Reports {
    /// `--report FILE.md`.
    pub markdown: Option<PathBuf>,
    /// `--junit FILE.xml`.
    pub junit: Option<PathBuf>,
}

/// A report that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the report {path}")]
pub struct ReportError {
    path: PathBuf,
    #[source]
    source: io::Error,
}

impl Reports {
    /// Whether any report needs each instance's recent output.
    pub(crate) fn wants_output(&self) -> bool {
        self.junit.is_some()
    }

    /// Writes every report asked for; `recent[i]` is the recent output of
    /// `rows[i]` (empty when not collected). Goes on after a failure, and
    /// returns every failure.
    pub(crate) fn write(&self, rows: &[DigestRow], recent: &[Vec<String>]) -> Vec<ReportError> {
        let mut errors = Vec::new();
        if let Some(path) = &self.markdown {
            let text = markdown(rows);
            if let Err(source) = std::fs::write(path, &text) {
                errors.push(ReportError {
                    path: path.clone(),
                    source,
                });
            }
            // GitHub Actions shows this file on the run's page.
            if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty())
            {
                if let Err(source) = append(Path::new(&summary), &text) {
                    errors.push(ReportError {
                        path: summary.into(),
                        source,
                    });
                }
            }
        }
        if let Some(path) = &self.junit {
            if let Err(source) = std::fs::write(path, junit(rows, recent)) {
                errors.push(ReportError {
                    path: path.clone(),
                    source,
                });
            }
        }
        errors
    }
}

fn append(path: &Path, text: &str) -> io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// The digest as Markdown: a table, then the last lines of each failed
/// process in a fenced block.
pub(crate) fn markdown(rows: &[DigestRow]) -> String {
    let failed = rows.iter().filter(|r| r.failed).count();
    let mut out = String::from("## drover\n\n");
    if failed == 0 {
        out.push_str("No process failed.\n\n");
    } else {
        let _ = writeln!(out, "{failed} of {} processes failed.\n", rows.len());
    }
    out.push_str("| Process | Result | Restarts | Ran | |\n|---|---|---:|---:|---|\n");
    for r in rows {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {:.1}s | {} |",
            r.name,
            table_cell(&r.result),
            r.restarts,
            r.ran_secs,
            if r.failed { "**FAILED**" } else { "" }
        );
    }
    for r in rows.iter().filter(|r| r.failed && !r.last_lines.is_empty()) {
        let _ = writeln!(
            out,
            "\n### Last {} lines of `{}`\n",
            r.last_lines.len(),
            r.name
        );
        // A fence longer than any run of backticks in the lines.
        let longest = r
            .last_lines
            .iter()
            .map(|l| longest_run(l, '`'))
            .max()
            .unwrap_or(0);
        let fence = "`".repeat(longest.max(2) + 1);
        let _ = writeln!(out, "{fence}text");
        for l in &r.last_lines {
            let _ = writeln!(out, "{l}");
        }
        let _ = writeln!(out, "{fence}");
    }
    out
}

/// A table cell: `|` would end it and a newline the row.
fn table_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for x in text.chars() {
        run = if x == c { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// The digest as JUnit XML: one testsuite `drover`, one testcase per
/// instance, a `<failure>` for each failed one, its recent output in
/// `<system-out>`.
pub(crate) fn junit(rows: &[DigestRow], recent: &[Vec<String>]) -> String {
    let failures = rows.iter().filter(|r| r.failed).count();
    let total: f64 = rows.iter().map(|r| r.ran_secs).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"drover\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{total:.3}\">",
        rows.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"drover\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{total:.3}\">",
        rows.len()
    );
    for (i, r) in rows.iter().enumerate() {
        let class = r.name.split('.').next().unwrap_or(&r.name);
        let _ = writeln!(
            out,
            "    <testcase name=\"{}\" classname=\"drover.{}\" time=\"{:.3}\">",
            xml(&r.name),
            xml(class),
            r.ran_secs
        );
        if r.failed {
            let status = r
                .exit_status
                .map_or_else(|| "none".to_string(), |s| s.to_string());
            let _ = writeln!(
                out,
                "      <failure message=\"{}\" type=\"exit status {status}\">{}</failure>",
                xml(&format!("{} {}", r.name, r.result)),
                xml(&lines_text(&r.last_lines))
            );
        }
        if let Some(lines) = recent.get(i).filter(|l| !l.is_empty()) {
            let _ = writeln!(
                out,
                "      <system-out>{}</system-out>",
                xml(&lines_text(lines))
            );
        }
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn lines_text(lines: &[String]) -> String {
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

/// `text` escaped for an XML attribute or element. Characters XML 1.0
/// cannot hold at all (most control characters, such as the escape of
/// terminal colors) become U+FFFD.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' => out.push(c),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, failed: bool, lines: &[&str]) -> DigestRow {
        DigestRow {
            name: name.into(),
            result: if failed {
                "exited with code 3".into()
            } else {
                "exited with code 0".into()
            },
            exit_status: Some(if failed { 3 } else { 0 }),
            restarts: 0,
            ran_secs: 1.5,
            failed,
            last_lines: lines.iter().map(|l| l.to_string()).collect(),
            recovered: false,
        }
    }

    #[test]
    fn markdown_fences_outlast_backticks_in_the_lines() {
        let text = markdown(&[
            row("web.1", true, &["a ``` b", "c"]),
            row("w.1", false, &[]),
        ]);
        assert!(text.contains("| `web.1` | exited with code 3 | 0 | 1.5s | **FAILED** |"));
        assert!(text.contains("\n````text\na ``` b\nc\n````\n"), "{text}");
        assert!(!text.contains("lines of `w.1`"));
    }

    #[test]
    fn junit_escapes_and_replaces_what_xml_cannot_hold() {
        let rows = [row("web.1", true, &["<&\"'>", "\x1b[31mred"])];
        let text = junit(&rows, &[vec!["out".into()]]);
        assert!(text.contains("&lt;&amp;&quot;&apos;&gt;\n\u{FFFD}[31mred\n</failure>"));
        assert!(text.contains("<system-out>out\n</system-out>"));
        assert!(text.contains("failures=\"1\""));
    }
}
