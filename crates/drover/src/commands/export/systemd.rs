//! systemd units: `APP.target`, which wants every instance of the
//! formation, and one template `APP-PROCESS@.service` per process whose
//! instance name is the port (`APP-web@5000.service`).
//!
//! A template rather than one unit per instance (foreman's choice): one file
//! per process to read and edit, and scaling up is `systemctl start
//! APP-web@5002` without exporting again, with `PORT` exact because it is the
//! instance name itself. The formation lives in the target's `Wants=`.
//! A one-off is a `Type=oneshot` unit that its `exited_ok` dependents
//! `Requires=`; `ready = "notify"` is `Type=notify`.
//!
//! This module owns the unit file syntax and its quoting (systemd.syntax(7),
//! systemd.exec(5), systemd.service(5)); it writes nothing to disk.

use std::fmt::Write as _;
use std::time::Duration;

use super::{comment, probe_name, stop_signal_name, unrepresentable, App, ExportError, Process};
use crate::plan::{Condition, Probe, RestartPolicy};

const FORMAT: &str = "systemd";

/// The unit files: (file name, text).
pub fn render(app: &App) -> Result<Vec<(String, String)>, ExportError> {
    let mut files = Vec::new();
    let mut target = format!(
        "# Written by `drover export systemd` from {}.\n\
         # Start the app with `systemctl start {app}.target`.\n\
         [Unit]\n\
         Description={app}: every process of its Procfile\n",
        comment(&app.procfile),
        app = app.name,
    );
    for p in &app.processes {
        // Unit names are specifier-expanded too; app and process names
        // hold no `%` (checked in `super::check_app_name` and the Procfile
        // parser).
        let wants: Vec<String> = p
            .ports
            .iter()
            .map(|port| format!("{}-{}@{port}.service", app.name, p.name))
            .collect();
        writeln!(target, "Wants={}", wants.join(" ")).expect("writing to a String");
        files.push((
            format!("{}-{}@.service", app.name, p.name),
            service(app, p)?,
        ));
        for (name, addr) in &p.sockets {
            files.push((
                format!("{}@.socket", socket_unit_name(app, p, name)),
                socket_unit(app, p, name, addr)?,
            ));
        }
    }
    target.push_str("\n[Install]\nWantedBy=multi-user.target\n");
    files.insert(0, (format!("{}.target", app.name), target));
    Ok(files)
}

fn service(app: &App, p: &Process) -> Result<String, ExportError> {
    let mut s = unit_section(app, p);
    let sockets = socket_units(app, p);
    if !sockets.is_empty() {
        // Sockets= passes them; it neither pulls them in nor orders.
        writeln!(s, "Requires={0}\nAfter={0}", sockets.join(" ")).expect("writing to a String");
    }
    if p.one_off {
        // It runs to its end: `active` once it exited 0, which is what
        // After= in the units that wait for it waits for. drover gives a
        // one-off all the time it takes.
        s.push_str("\n[Service]\nType=oneshot\nRemainAfterExit=yes\nTimeoutStartSec=infinity\n");
    } else if p.ready.as_ref().is_some_and(|r| r.probe == Probe::Notify) {
        // drover's notify probe is systemd's protocol: the start (which
        // After= waits for) completes at READY=1, from any process of the
        // service as under drover.
        s.push_str("\n[Service]\nType=notify\nNotifyAccess=all\n");
    } else {
        s.push_str("\n[Service]\nType=simple\n");
    }
    let line = |s: &mut String, text: String| {
        s.push_str(&text);
        s.push('\n');
    };
    if let Some(user) = &app.user {
        // `super::check_user` allows no character systemd would read specially.
        line(&mut s, format!("User={user}"));
    }
    if !sockets.is_empty() {
        line(&mut s, format!("Sockets={}", sockets.join(" ")));
    }
    line(&mut s, format!("WorkingDirectory={}", path(&p.cwd)?));
    for (key, value) in &p.env {
        if !is_env_name(key) {
            return Err(unrepresentable(
                FORMAT,
                format!("variable {key}"),
                "systemd accepts only letters, digits and '_' in variable names",
                Some("rename the variable in the .env file"),
            ));
        }
        line(
            &mut s,
            format!(
                "Environment={}",
                quote(&format!("{key}={value}"), '"', false)
            ),
        );
    }
    line(&mut s, "Environment=PORT=%i".into());
    line(&mut s, format!("Environment=PS={}.%i", p.name));
    line(&mut s, format!("ExecStart={}", exec_line(p)?));
    // drover's kill_mode has systemd's words and meaning.
    line(&mut s, format!("KillMode={}", p.kill_mode.as_str()));
    line(
        &mut s,
        format!("KillSignal=SIG{}", stop_signal_name(FORMAT, p)?),
    );
    line(
        &mut s,
        format!("TimeoutStopSec={}", timespan(p.stop_timeout)),
    );
    let restart = p.restart_in_force();
    let restart = match restart {
        RestartPolicy::No => "no",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::Always => "always",
    };
    line(&mut s, format!("Restart={restart}"));
    line(
        &mut s,
        format!("SyslogIdentifier={}-{}.%i", app.name, p.name),
    );
    Ok(s)
}

/// `APP-web-NAME`: the socket unit of one of a process's sockets, without
/// its `@.socket`.
fn socket_unit_name(app: &App, p: &Process, name: &str) -> String {
    format!("{}-{}-{name}", app.name, p.name)
}

/// The instance's socket units, as the service names them.
fn socket_units(app: &App, p: &Process) -> Vec<String> {
    p.sockets
        .iter()
        .map(|(name, _)| format!("{}@%i.socket", socket_unit_name(app, p, name)))
        .collect()
}

/// One socket unit per socket (systemd names every descriptor of a unit
/// alike): systemd binds it and passes it to the service of the same
/// instance, as drover does.
fn socket_unit(app: &App, p: &Process, name: &str, addr: &str) -> Result<String, ExportError> {
    let addr = if addr.starts_with('/') {
        path(addr)?
    } else {
        addr.to_owned()
    };
    Ok(format!(
        "# Written by `drover export systemd` from process {process} of {procfile}.\n\
         # Socket {name}, passed to {app}-{process}@%i.service as drover passes it\n\
         # (LISTEN_FDS, LISTEN_FDNAMES).\n\
         [Unit]\n\
         Description={app} {process} socket {name} for port %i\n\
         PartOf={app}.target\n\
         \n\
         [Socket]\n\
         ListenStream={addr}\n\
         FileDescriptorName={name}\n\
         Backlog=1024\n\
         Service={app}-{process}@%i.service\n",
        process = p.name,
        procfile = comment(&app.procfile),
        app = app.name,
    ))
}

/// `[Unit]`: what the unit is, and the units it waits for.
fn unit_section(app: &App, p: &Process) -> String {
    let mut s = format!(
        "# Written by `drover export systemd` from process {} of {}.\n\
         # The instance name is the port: {}-{}@{}.service.\n",
        p.name,
        comment(&app.procfile),
        app.name,
        p.name,
        p.base_port(),
    );
    if let Some(note) = p.named_port_note() {
        writeln!(s, "# {}", comment(&note)).expect("writing to a String");
    }
    if p.one_off {
        s.push_str("# A one-off: it runs once; the units that wait for it to exit 0 require it.\n");
    }
    writeln!(
        s,
        "[Unit]\nDescription={app} {name} on port %i\nPartOf={app}.target",
        app = app.name,
        name = p.name
    )
    .expect("writing to a String");
    if let Some(ready) = p.ready.as_ref().filter(|r| r.probe != Probe::Notify) {
        writeln!(
            s,
            "# drover's readiness probe ({}) has no systemd equivalent: units that wait\n\
             # for this one start once it has started.",
            comment(&probe_name(&ready.probe))
        )
        .expect("writing to a String");
    }
    // depends_on orders the start. `exited_ok` is Requires= on a oneshot
    // unit: this one starts once that one exited 0, and fails if it failed.
    // `started` and `ready` are Wants=; systemd waits for the start of a
    // simple unit only, not for drover's readiness probes.
    let (mut wants, mut requires) = (Vec::new(), Vec::new());
    for d in &app.processes {
        let Some(dep) = p.depends_on.iter().find(|dep| dep.process == d.name) else {
            continue;
        };
        let units = d
            .ports
            .iter()
            .map(|port| format!("{}-{}@{port}.service", app.name, d.name));
        if dep.condition == Condition::ExitedOk {
            requires.extend(units);
        } else {
            wants.extend(units);
        }
    }
    for (key, units) in [("Wants", &wants), ("Requires", &requires)] {
        if !units.is_empty() {
            writeln!(s, "{key}={}", units.join(" ")).expect("writing to a String");
        }
    }
    if !wants.is_empty() || !requires.is_empty() {
        writeln!(s, "After={}", [wants, requires].concat().join(" ")).expect("writing to a String");
    }
    s
}

/// The command line of `ExecStart=`: the program as `start` runs it, each
/// word plain when systemd reads it back unchanged, else quoted.
fn exec_line(p: &Process) -> Result<String, ExportError> {
    let argv = p.argv_from_cwd();
    let program = argv.first().expect("a command has at least one word");
    // systemd reads these at the start of the program as flags (`-` ignore
    // failure, `@` argv[0], `+` full privileges, ...), and expands no
    // variable in the program, so neither can be escaped there.
    if program.starts_with(['@', '-', ':', '+', '!', '|']) || program.contains('$') {
        return Err(unrepresentable(
            FORMAT,
            format!("the command of process {}", p.name),
            format!("systemd cannot run a program named {program:?}"),
            Some("name the program by its path, e.g. ./bin/x"),
        ));
    }
    let mut words: Vec<String> = argv.iter().map(|w| exec_word(w)).collect();
    // systemd looks a bare program name up in its own fixed path, not in
    // the PATH the unit sets; env(1) looks it up in that PATH, as `start`
    // does, and then replaces itself with the program.
    let sets_path = p.env.iter().any(|(k, _)| k == "PATH");
    if sets_path && !program.contains('/') {
        if program.contains('=') {
            return Err(unrepresentable(
                FORMAT,
                format!("the command of process {}", p.name),
                format!("env(1) would read the program {program:?} as a variable"),
                Some("name the program by its path"),
            ));
        }
        words.insert(0, "/usr/bin/env".to_owned());
    }
    Ok(words.join(" "))
}

/// One word of a command line: plain when it holds only characters that
/// systemd takes as they are, else single-quoted by [`quote`].
fn exec_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=+,@-".contains(c));
    if plain {
        word.to_owned()
    } else {
        quote(word, '\'', true)
    }
}

/// `text` as one quoted word of a unit file (systemd.syntax(7)): inside
/// `quote_char`, `\`, the quote and control characters are C-escaped; `%`
/// is doubled because specifiers expand even inside quotes; in command lines
/// (`exec`) `$` is doubled because systemd expands `$VAR` there.
pub fn quote(text: &str, quote_char: char, exec: bool) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote_char);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '%' => out.push_str("%%"),
            '$' if exec => out.push_str("$$"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == quote_char => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii_control() => {
                write!(out, "\\x{:02x}", u32::from(c)).expect("writing to a String")
            }
            c => out.push(c),
        }
    }
    out.push(quote_char);
    out
}

/// A path setting such as `WorkingDirectory=`: not unquoted by systemd, so
/// only `%` needs escaping; what a line cannot hold is refused.
fn path(p: &str) -> Result<String, ExportError> {
    if p.chars().any(|c| c.is_control()) || p.trim() != p {
        return Err(unrepresentable(
            FORMAT,
            format!("working directory {p:?}"),
            "a unit file cannot hold a path with control characters or spaces at its ends",
            Some("move the app, or give another folder with -d"),
        ));
    }
    Ok(p.replace('%', "%%"))
}

fn is_env_name(key: &str) -> bool {
    key.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A time span systemd reads back exactly. 0 means "no timeout" to systemd,
/// while to drover it means SIGKILL at once, so it becomes 1ms.
fn timespan(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.subsec_nanos() == 0 && !d.is_zero() {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis().max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_what_systemd_reads_specially() {
        assert_eq!(
            quote("A=it's \"x\" 100% $HOME \\n\nz", '"', false),
            r#""A=it's \"x\" 100%% $HOME \\n\nz""#
        );
        assert_eq!(
            quote("echo 'a' $PORT %i\t\x01", '\'', true),
            r"'echo \'a\' $$PORT %%i\t\x01'"
        );
    }

    #[test]
    fn command_words() {
        assert_eq!(exec_word("node"), "node");
        assert_eq!(exec_word("a b"), "'a b'");
        assert_eq!(exec_word(""), "''");
        assert_eq!(exec_word("daemon off;"), "'daemon off;'");
        assert_eq!(exec_word("$x%"), "'$$x%%'");
    }

    #[test]
    fn timespans() {
        assert_eq!(timespan(Duration::from_secs(5)), "5s");
        assert_eq!(timespan(Duration::from_millis(2500)), "2500ms");
        assert_eq!(timespan(Duration::ZERO), "1ms");
    }

    #[test]
    fn env_names() {
        assert!(is_env_name("_A1"));
        assert!(!is_env_name("log.level"));
        assert!(!is_env_name("1A"));
    }
}
