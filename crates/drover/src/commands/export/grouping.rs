//! The plan's instances grouped into the processes the formats write: one
//! entry per process, with its instances' ports, its working directory
//! and its sockets as the files name them.

use std::fs;
use std::path::Path;

use super::{bad_option, unrepresentable, ExportError, Process};
use crate::plan::{Condition, Plan, RestartPolicy};
use crate::process::command::invocation;

/// `dir` made absolute, as text: service files name it from anywhere.
pub(super) fn absolute_utf8(dir: &Path) -> Result<String, ExportError> {
    let abs = fs::canonicalize(dir).map_err(|e| {
        bad_option(
            "--root",
            format!(
                "cannot resolve the working directory {}: {e}",
                dir.display()
            ),
            None,
        )
    })?;
    abs.to_str().map(str::to_owned).ok_or_else(|| {
        bad_option(
            "--root",
            format!("{} is not UTF-8", abs.display()),
            Some("service files are text: move the app to a folder with a UTF-8 name"),
        )
    })
}

/// The plan's instances grouped by process, in plan order.
pub fn group(plan: &Plan, format: &'static str) -> Result<Vec<Process>, ExportError> {
    let mut processes: Vec<Process> = Vec::new();
    for spec in &plan.specs {
        let env: Vec<(String, String)> = spec
            .env
            .iter()
            .filter(|(k, _)| k != "PORT" && k != "PS")
            .cloned()
            .collect();
        match processes.iter_mut().find(|p| p.name == spec.process) {
            None => processes.push(Process {
                name: spec.process.clone(),
                command: spec.command.clone(),
                argv: invocation(&spec.command).argv(),
                env,
                ports: vec![spec.port],
                cwd: absolute_utf8(&spec.cwd)?,
                depends_on: spec.depends_on.clone(),
                stop_signal: spec.stop_signal(),
                stop_timeout: spec.time_to_kill(),
                restart: spec.restart,
                ready: spec.ready.clone(),
                // A process that may end, and is not kept up whenever it
                // ends, has a task to finish.
                one_off: spec.can_die && spec.restart != RestartPolicy::Always,
                kill_mode: spec.kill_mode,
                named_ports: spec.named_ports.iter().map(|(n, _)| n.clone()).collect(),
                sockets: spec
                    .sockets
                    .iter()
                    .map(|s| socket_template(&s.addr, spec.port).map(|a| (s.name.clone(), a)))
                    .collect::<Result<_, _>>()?,
            }),
            Some(p) => {
                let last = *p.ports.last().expect("a group is created with one port");
                // Port 0: no PORT (past 65535); start runs it, export refuses.
                if (spec.port != 0 && spec.port != last.wrapping_add(1))
                    || p.env != env
                    || p.command != spec.command
                    || p.cwd != absolute_utf8(&spec.cwd)?
                {
                    // The plan gives instances of one process consecutive
                    // ports and one environment; the formats rely on it.
                    return Err(unrepresentable(
                        format,
                        format!("process {}", spec.process),
                        "its instances differ in more than PORT and PS",
                        None,
                    ));
                }
                p.ports.push(spec.port);
            }
        }
    }
    for spec in &plan.specs {
        for dep in &spec.depends_on {
            if dep.condition == Condition::ExitedOk {
                if let Some(p) = processes.iter_mut().find(|p| p.name == dep.process) {
                    p.one_off = true;
                }
            }
        }
    }
    Ok(processes)
}

/// A socket's address for the export: a TCP one with the instance's `port`
/// as `%i` (the instance name of the systemd units), a Unix one's path.
fn socket_template(addr: &crate::plan::SocketAddr, port: u16) -> Result<String, ExportError> {
    Ok(match addr {
        crate::plan::SocketAddr::Tcp(text) => match text.rsplit_once(':') {
            Some((host, p)) if port != 0 && p == port.to_string() => format!("{host}:%i"),
            _ => text.clone(),
        },
        // Its folder made absolute as the working directory is; the file
        // itself need not exist.
        crate::plan::SocketAddr::Unix(path) => {
            let dir = path.parent().unwrap_or(Path::new("."));
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            let file = path.file_name().map(|f| f.to_string_lossy().into_owned());
            match fs::canonicalize(dir) {
                Ok(abs) => format!("{}/{}", abs.display(), file.unwrap_or_default()),
                Err(_) => std::path::absolute(path)
                    .unwrap_or_else(|_| path.clone())
                    .display()
                    .to_string(),
            }
        }
    })
}
