//! `drover check`: reads everything `drover start` would, reports the same
//! errors, and prints the plan instead of starting it.
//!
//! Owns the plan's text for people. It starts nothing and must not decide
//! anything about the plan: that is `config`'s job, so `check` and `start`
//! cannot disagree. Variable values are hidden unless asked for, so the
//! output can be pasted into an issue.

use std::fmt::Write as _;
use std::io::{self, Write as _};

use crate::cli::CheckArgs;
use crate::commands::export;
use crate::plan::{self, KillMode, Plan, Probe, ProcessSpec, RestartPolicy, StartOptions};
use crate::types::{Duration, Signal};
use crate::EXIT_BAD_INPUT;

/// Runs `drover check` and returns drover's exit status: 0 when the app is
/// valid, 2 with `start`'s message when it is not.
pub fn main(args: CheckArgs) -> u8 {
    let options = StartOptions::from_project(&args.project).map(|mut o| {
        args.terminal.apply(&mut o);
        o
    });
    let plan = match options.and_then(|o| plan::plan(&o)) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("drover: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let text = match report(&plan, args.show_env) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("drover: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    match io::stdout().lock().write_all(text.as_bytes()) {
        // A reader that closed the pipe early (`drover check | head`) has
        // what it wanted.
        Ok(()) => 0,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("drover: writing to stdout: {e}");
            1
        }
    }
}

/// The plan as text: foreman's `valid procfile detected (web, worker)`
/// line, the files read, each process with its instances, ports,
/// command, stop and restart, dependencies and readiness probe, then the
/// variables (values as `***` unless `show_env`).
pub fn report(plan: &Plan, show_env: bool) -> Result<String, export::ExportError> {
    let processes = export::group(plan, "check")?;
    let mut out = String::new();
    let w = &mut out;
    // foreman's first line, word for word: scripts look for it.
    line(
        w,
        format_args!("valid procfile detected ({})", plan.processes.join(", ")),
    );
    line(w, format_args!("procfile: {}", plan.procfile.display()));
    if let Some(file) = &plan.config_file {
        line(w, format_args!("config: {}", file.display()));
    }
    line(w, format_args!("root: {}", plan.root.display()));
    if plan.env_files.is_empty() {
        line(w, format_args!("env files: none"));
    } else {
        let files: Vec<String> = plan
            .env_files
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        line(w, format_args!("env files: {}", files.join(", ")));
    }
    let total: usize = processes.iter().map(|p| p.ports.len()).sum();
    line(
        w,
        format_args!(
            "processes: {} ({total} {})",
            processes.len(),
            plural(total, "instance", "instances")
        ),
    );
    for p in &processes {
        process(w, plan, p);
    }
    environment(w, &processes, show_env);
    Ok(out)
}

/// One process: its instances and ports, command, stop and restart,
/// dependencies and readiness probe.
fn process(w: &mut String, plan: &Plan, p: &export::Process) {
    let instances: Vec<String> = plan
        .specs
        .iter()
        .filter(|s| s.process == p.name)
        .map(|s| s.name.clone())
        .collect();
    let ports = match (p.ports.as_slice(), p.ports.contains(&0)) {
        ([0, ..], _) => "no PORT: it would pass 65535".to_string(),
        ([first, ..], true) => format!("ports from {first}, none past 65535"),
        ([one], false) => format!("port {one}"),
        ([first, .., last], false) => format!("ports {first}-{last}"),
        ([], _) => unreachable!("export::group makes no process without instances"),
    };
    line(
        w,
        format_args!("  {}: {} ({ports})", p.name, instances.join(", ")),
    );
    line(w, format_args!("    command: {}", p.command));
    let first = plan
        .specs
        .iter()
        .find(|s| s.process == p.name)
        .expect("export::group made this process from a spec");
    let backoff = match p.restart {
        RestartPolicy::No => String::new(),
        _ => format!(
            " (after {}, doubling up to {})",
            Duration::from(first.backoff.initial),
            Duration::from(first.backoff.max)
        ),
    };
    line(
        w,
        format_args!(
            "    stop: {}; restart: {}{backoff}",
            stop(first),
            p.restart.as_str()
        ),
    );
    if first.kill_mode != KillMode::default() {
        line(
            w,
            format_args!(
                "    kill mode: {} (stop signals to the main process, SIGKILL to the group)",
                first.kill_mode.as_str()
            ),
        );
    }
    if first.can_die {
        line(w, format_args!("    can die: its end stops nothing"));
    }
    if !first.autostart {
        line(
            w,
            format_args!("    autostart: no (`drover restart` starts it)"),
        );
    }
    if first.tty {
        line(
            w,
            format_args!(
                "    terminal: a pty of its own (one stream; drover attach types into it)"
            ),
        );
    }
    if first.force_color {
        line(
            w,
            format_args!(
                "    colors: asked for through pipes (FORCE_COLOR=1, CLICOLOR_FORCE=1 unless set)"
            ),
        );
    }
    if let Some(watch) = &first.watch {
        let ignoring = match watch.ignore.is_empty() {
            true => String::new(),
            false => format!(", ignoring {}", watch.ignore.join(", ")),
        };
        line(
            w,
            format_args!(
                "    watch: {}{ignoring} (debounce {})",
                watch.paths.join(", "),
                Duration::from(watch.debounce)
            ),
        );
    }
    if !first.sockets.is_empty() {
        let sockets: Vec<String> = first
            .sockets
            .iter()
            .map(|s| match &s.addr {
                crate::plan::SocketAddr::Tcp(a) => format!("{}=tcp:{a}", s.name),
                crate::plan::SocketAddr::Unix(p) => format!("{}=unix:{}", s.name, p.display()),
            })
            .collect();
        line(
            w,
            format_args!("    sockets: {} (LISTEN_FDS)", sockets.join(", ")),
        );
        if crate::process::command::keeps_a_shell(&first.command) {
            line(
                w,
                format_args!(
                    "    warning: a shell stays in front of the command, so LISTEN_PID names \
                     the shell and the program will not take the sockets: start it with `exec`"
                ),
            );
        }
    }
    if first.restart_on_dependency {
        line(
            w,
            format_args!("    restarts once a restarted dependency is ready again"),
        );
    }
    if !first.depends_on.is_empty() {
        let deps: Vec<String> = first
            .depends_on
            .iter()
            .map(|d| format!("{} ({})", d.process, d.condition.as_str()))
            .collect();
        line(w, format_args!("    depends on: {}", deps.join(", ")));
    }
    if let Some(ready) = &first.ready {
        // Each instance's probe, its variables put in (`$PORT` differs).
        let probes: Vec<(&str, String)> = plan
            .specs
            .iter()
            .filter(|s| s.process == p.name)
            .filter_map(|s| Some((s.name.as_str(), probe(&s.ready.as_ref()?.probe))))
            .collect();
        let mut every = Duration::from(ready.interval).to_string();
        if let Some(t) = ready.timeout {
            every = format!("{every}, for at most {}", Duration::from(t));
        }
        if probes.windows(2).all(|two| two[0].1 == two[1].1) {
            let (_, text) = &probes[0];
            line(w, format_args!("    ready: {text}, tried every {every}"));
        } else {
            line(w, format_args!("    ready, tried every {every}:"));
            for (name, text) in &probes {
                line(w, format_args!("      {name}: {text}"));
            }
        }
    }
}

/// A probe as `check` shows it.
fn probe(probe: &Probe) -> String {
    match probe {
        Probe::Tcp(address) => format!("tcp {address}"),
        Probe::Http { address, path } => format!("http {address}{path}"),
        Probe::Command(c) => format!("command {c}"),
        Probe::Log(re) => format!("log line matching {re}"),
        Probe::Notify => "READY=1 on $NOTIFY_SOCKET".to_string(),
    }
}

/// The stop ladder: `SIGTERM, then SIGKILL after 5s`, or each step of a
/// longer one.
fn stop(spec: &ProcessSpec) -> String {
    if spec.stop_ladder.len() <= 2 {
        return format!(
            "{}, then SIGKILL after {}",
            spec.stop_signal(),
            Duration::from(spec.time_to_kill())
        );
    }
    let steps: Vec<String> = spec
        .stop_ladder
        .iter()
        .map(|step| {
            let name = step.signal.to_string();
            if step.signal == Signal::KILL {
                name
            } else {
                format!("{name}, wait {}", Duration::from(step.wait))
            }
        })
        .collect();
    steps.join(", ")
}

/// The variables: once when every process has the same, else per process.
fn environment(w: &mut String, processes: &[export::Process], show_env: bool) {
    let hidden = if show_env {
        ""
    } else {
        "; values hidden, --show-env shows them"
    };
    let shared = processes.windows(2).all(|w| w[0].env == w[1].env);
    let groups: Vec<(String, &[(String, String)])> = if shared {
        vec![(
            "environment of every process".to_owned(),
            processes.first().map_or(&[][..], |p| &p.env[..]),
        )]
    } else {
        processes
            .iter()
            .map(|p| (format!("environment of {}", p.name), &p.env[..]))
            .collect()
    };
    for (title, env) in groups {
        line(
            w,
            format_args!(
                "{title} (besides PORT and PS): {} {}{hidden}",
                env.len(),
                plural(env.len(), "variable", "variables")
            ),
        );
        for (key, value) in env {
            if show_env {
                line(w, format_args!("  {key}={}", shown(value)));
            } else {
                line(w, format_args!("  {key}=***"));
            }
        }
    }
}

fn line(out: &mut String, args: std::fmt::Arguments<'_>) {
    out.write_fmt(args).expect("writing to a String");
    out.push('\n');
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// A value on one line: as it is when that is unambiguous, else quoted with
/// escapes.
fn shown(value: &str) -> String {
    if value.chars().any(char::is_control) || value.trim() != value || value.starts_with('"') {
        format!("{value:?}")
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_shown_unambiguously() {
        assert_eq!(shown("plain value"), "plain value");
        assert_eq!(shown(" x"), "\" x\"");
        assert_eq!(shown("a\nb"), "\"a\\nb\"");
        assert_eq!(shown("\"q\""), "\"\\\"q\\\"\"");
    }
}
