//! A supervisord configuration: one `[program:APP-PROCESS]` per process with
//! `numprocs` instances named by their port (`APP-web-5000`), and a
//! `[group:APP]` over them, listed in `priority` order (dependencies
//! first), which is the order supervisord spawns them in; it waits for
//! nothing. It is meant to be included from the main `supervisord.conf`
//! (`[include] files = ...`).
//!
//! This module owns the format's quoting, which takes three readers into
//! account, in the order supervisord applies them:
//!
//! 1. Python's `configparser`, with `;` and `#` starting a comment after
//!    whitespace, every line stripped, and a line break only as an indented
//!    continuation line;
//! 2. `%`-expansion of `%(name)s` (so `%` is written `%%`);
//! 3. for `environment=`, a non-POSIX `shlex` (quotes, no escapes, then
//!    every leading and trailing quote stripped); for `command=`, a POSIX
//!    `shlex.split`.
//!
//! Step 1 has no escape, so where it would eat a character drover writes
//! [`EMPTY`], a `%`-expansion to nothing, which step 2 removes after step 1
//! has passed. A value the format cannot hold at all is an error naming it,
//! never a silent change.

use std::fmt::Write as _;

use super::{ceil_secs, comment, stop_signal_name, unrepresentable, App, ExportError, Process};
use crate::plan::{KillMode, RestartPolicy};

const FORMAT: &str = "supervisord";

/// Expands to the empty string: a precision of 0 on a name every program
/// section has.
pub const EMPTY: &str = "%(program_name).0s";

/// The configuration file's text.
pub fn render(app: &App) -> Result<String, ExportError> {
    let mut s = format!(
        "; Written by `drover export supervisord` from {}.\n\
         ; Include it from supervisord.conf: [include] files = /path/to/this.conf\n\
         ; Then: supervisorctl update; supervisorctl start {}:*\n\
         ;\n\
         ; supervisord starts the programs in the order of programs= below (priority:\n\
         ; what a process depends on first), but it cannot wait for readiness: it\n\
         ; starts each one without waiting for the one before to be ready, or for a\n\
         ; one-off to exit, and stops them all at once.\n\n",
        comment(&app.procfile),
        app.name
    );
    let priorities = priorities(app);
    let mut order: Vec<usize> = (0..app.processes.len()).collect();
    order.sort_by_key(|&i| priorities[i]);
    let program = |p: &Process| format!("{}-{}", app.name, p.name);
    let programs: Vec<String> = order.iter().map(|&i| program(&app.processes[i])).collect();
    writeln!(s, "[group:{}]\nprograms={}\n", app.name, programs.join(","))
        .expect("writing to a String");
    for (p, priority) in app.processes.iter().zip(priorities) {
        program_section(&mut s, app, p, &program(p), priority)?;
    }
    Ok(s)
}

/// Each process's `priority`: 100 for one that depends on nothing, and
/// 100 more than the highest of its dependencies otherwise, so that what
/// a process depends on starts first (lower numbers start first).
fn priorities(app: &App) -> Vec<u32> {
    fn level(app: &App, p: &Process, depth: usize) -> u32 {
        // The plan refuses cycles; the depth bound only keeps a broken
        // invariant from recursing forever.
        debug_assert!(
            depth <= app.processes.len(),
            "a dependency cycle in the plan"
        );
        if depth > app.processes.len() {
            return 0;
        }
        p.depends_on
            .iter()
            .filter_map(|dep| app.processes.iter().find(|d| d.name == dep.process))
            .map(|d| level(app, d, depth + 1) + 1)
            .max()
            .unwrap_or(0)
    }
    app.processes
        .iter()
        .map(|p| 100 * (level(app, p, 0) + 1))
        .collect()
}

fn program_section(
    s: &mut String,
    app: &App,
    p: &Process,
    program: &str,
    priority: u32,
) -> Result<(), ExportError> {
    let what = |w: &str| format!("{w} of process {}", p.name);
    let words: Vec<String> = p.argv_from_cwd().iter().map(|w| sh_word(w)).collect();
    let command = ini(&words.join(" "))
        .map_err(|e| unrepresentable(FORMAT, what("the command"), e.to_string(), None))?;
    let directory = ini(&p.cwd)
        .map_err(|e| unrepresentable(FORMAT, "the working directory", e.to_string(), None))?;
    // PORT is the instance's number, which is its port (numprocs_start).
    let mut env = vec![
        "PORT=\"%(process_num)d\"".to_owned(),
        format!("PS=\"{}.%(process_num)d\"", p.name),
    ];
    for (key, value) in &p.env {
        if !is_key(key) {
            return Err(unrepresentable(
                FORMAT,
                format!("variable {key}"),
                "supervisord reads only letters, digits, '_' and '.' in variable names",
                Some("rename the variable in the .env file"),
            ));
        }
        let quoted = env_value(value).map_err(|e| {
            unrepresentable(
                FORMAT,
                format!("variable {key}"),
                e.to_string(),
                Some("export to systemd or kubernetes, which can hold it, or change the value"),
            )
        })?;
        env.push(format!("{key}={quoted}"));
    }
    let restart = p.restart_in_force();
    let autorestart = match restart {
        RestartPolicy::No => "false",
        RestartPolicy::OnFailure => "unexpected",
        RestartPolicy::Always => "true",
    };
    let count = p.ports.len();
    if p.one_off {
        writeln!(
            s,
            "; A one-off: it runs once. supervisord starts the programs that wait for it\n\
             ; to exit 0 without waiting."
        )
        .expect("writing to a String");
    }
    for note in p.named_port_note().into_iter().chain(p.socket_note()) {
        writeln!(s, "; {}", comment(&note)).expect("writing to a String");
    }
    if !p.depends_on.is_empty() {
        let deps: Vec<String> = p
            .depends_on
            .iter()
            .map(|d| format!("{} ({})", d.process, d.condition.as_str()))
            .collect();
        writeln!(
            s,
            "; Under drover start it waits for {}; supervisord only starts it after them.",
            comment(&deps.join(", "))
        )
        .expect("writing to a String");
    }
    writeln!(s, "[program:{program}]").expect("writing to a String");
    let mut line = |k: &str, v: &str| writeln!(s, "{k}={v}").expect("writing to a String");
    line("command", &command);
    line("process_name", "%(program_name)s-%(process_num)d");
    line("numprocs", &count.to_string());
    line("numprocs_start", &p.base_port().to_string());
    line("directory", &directory);
    if let Some(user) = &app.user {
        // `super::check_user` allows no character any step above reads.
        line("user", user);
    }
    line("environment", &env.join(","));
    line("priority", &priority.to_string());
    line("autostart", "true");
    line("autorestart", autorestart);
    line("exitcodes", "0");
    // Without this a process that ends within a second is retried as if
    // it had failed to start, even under autorestart=false; a one-off that
    // exited 0 at once has done its work.
    if restart == RestartPolicy::No || p.one_off {
        line("startsecs", "0");
    }
    line("stopsignal", stop_signal_name(FORMAT, p)?);
    line("stopwaitsecs", &ceil_secs(p.stop_timeout).to_string());
    // mixed: the stop signal to the main process only, the final SIGKILL
    // to its whole group, as under drover.
    let stop_as_group = p.kill_mode == KillMode::ControlGroup;
    line("stopasgroup", &stop_as_group.to_string());
    line("killasgroup", "true");
    line("redirect_stderr", "true");
    s.push('\n');
    Ok(())
}

/// A value supervisord cannot read back as it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// A `\r`, which Python's universal newlines make a line break.
    #[error("supervisord reads a carriage return as a line break")]
    CarriageReturn,
    /// A quote at either end, which supervisord strips.
    #[error("supervisord strips quotes at the start and end of a value")]
    QuoteAtEnd,
    /// Both kinds of quote, which its shlex cannot escape.
    #[error(
        "supervisord's environment= cannot hold a value with both ' and \" (it has no escapes)"
    )]
    BothQuotes,
}

/// A value as `configparser` and `%`-expansion give it back (steps 1 and
/// 2): `%` doubled, [`EMPTY`] before a `;` or `#` that follows whitespace
/// and around each line break, which becomes an indented continuation line.
/// The caller's quoting must keep the text's first and last characters off
/// whitespace.
pub fn ini(text: &str) -> Result<String, ValueError> {
    if text.contains('\r') {
        // Python reads the file with universal newlines.
        return Err(ValueError::CarriageReturn);
    }
    let mut out = String::with_capacity(text.len());
    let mut prev: Option<char> = None;
    for c in text.chars() {
        match c {
            '%' => out.push_str("%%"),
            ';' | '#' if prev.is_some_and(py_isspace) => {
                out.push_str(EMPTY);
                out.push(c);
            }
            // The stripped indentation and any whitespace at either side of
            // the break come back because EMPTY is not whitespace.
            '\n' => {
                out.push_str(EMPTY);
                out.push_str("\n  ");
                out.push_str(EMPTY);
            }
            c => out.push(c),
        }
        prev = Some(c);
    }
    Ok(out)
}

/// Python's `str.isspace`, which configparser uses.
fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// One `environment=` value, quoted for the non-POSIX shlex (step 3) and
/// then for steps 1 and 2.
pub fn env_value(value: &str) -> Result<String, ValueError> {
    if value.starts_with(['\'', '"']) || value.ends_with(['\'', '"']) {
        return Err(ValueError::QuoteAtEnd);
    }
    let q = match (value.contains('"'), value.contains('\'')) {
        (false, _) => '"',
        (true, false) => '\'',
        (true, true) => return Err(ValueError::BothQuotes),
    };
    Ok(format!("{q}{}{q}", ini(value)?))
}

/// One word of `command=`: plain when POSIX `shlex.split` reads it back
/// unchanged, else [`sh_quote`]d.
fn sh_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=+,@-".contains(c));
    if plain {
        word.to_owned()
    } else {
        sh_quote(word)
    }
}

/// `text` as one word for POSIX `shlex.split` (and sh): single-quoted,
/// with each `'` written `'\''`.
pub fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn is_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_starts_and_line_breaks_are_protected() {
        assert_eq!(ini("a;b").unwrap(), "a;b");
        assert_eq!(
            ini("a ;b\t#c").unwrap(),
            "a %(program_name).0s;b\t%(program_name).0s#c"
        );
        assert_eq!(
            ini("x \n  y").unwrap(),
            "x %(program_name).0s\n  %(program_name).0s  y"
        );
        assert_eq!(ini("100%").unwrap(), "100%%");
        assert!(ini("a\rb").is_err());
    }

    #[test]
    fn env_values_pick_a_quote_or_refuse() {
        assert_eq!(env_value("a b,c").unwrap(), "\"a b,c\"");
        assert_eq!(env_value("say \"hi\" now").unwrap(), "'say \"hi\" now'");
        assert_eq!(
            env_value("it's \"x\" ok").unwrap_err(),
            ValueError::BothQuotes
        );
        assert!(env_value("'x").is_err());
        assert!(env_value("x\"").is_err());
        assert_eq!(env_value("").unwrap(), "\"\"");
    }

    #[test]
    fn shell_words() {
        assert_eq!(sh_word("/bin/sh"), "/bin/sh");
        assert_eq!(sh_word("daemon off;"), "'daemon off;'");
        assert_eq!(sh_word(""), "''");
        assert_eq!(sh_quote("echo 'hi'"), r"'echo '\''hi'\'''");
    }
}
