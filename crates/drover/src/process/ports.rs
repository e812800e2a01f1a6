//! Ports: before anything starts, each instance's `PORT` is checked to be
//! free (when the base port was chosen), and named ports are allocated.
//!
//! A busy port is an error naming the process that holds it (from
//! `/proc/net/tcp` and the holders' sockets), so the user can stop it or pick
//! another base port. Named ports are taken from the kernel's free ports and
//! given as `PORT_HTTP` to the process and as `WEB_PORT_HTTP` to the
//! processes that depend on it.

use std::net::TcpListener;

use crate::plan::{ConfigError, Plan};

/// Checks `PORT`s (if the base port was chosen) and allocates named ports.
pub fn prepare(plan: &mut Plan) -> Result<(), ConfigError> {
    if plan.port_explicit {
        // Port 0: the instance has no PORT (its port would pass 65535).
        for spec in plan.specs.iter().filter(|s| s.port != 0) {
            if TcpListener::bind(("0.0.0.0", spec.port)).is_err() {
                let holder = holder(spec.port).map_or(String::new(), |h| format!(" by {h}"));
                return Err(ConfigError::Cli {
                    option: "--port",
                    message: format!("port {} for {} is in use{holder}", spec.port, spec.name),
                    hint: Some("stop what holds it, or choose another base port with -p".into()),
                });
            }
        }
    }
    allocate(plan)
}

/// Gives every named port a free port number, and sets the variables.
fn allocate(plan: &mut Plan) -> Result<(), ConfigError> {
    // Every listener stays open until all are chosen, so no port is given twice.
    let mut held = Vec::new();
    for spec in &mut plan.specs {
        for (_, port) in &mut spec.named_ports {
            let l = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| ConfigError::Cli {
                option: "ports",
                message: format!("cannot find a free port: {e}"),
                hint: None,
            })?;
            *port = l.local_addr().map(|a| a.port()).unwrap_or(0);
            held.push(l);
        }
    }
    drop(held);
    // (process, instance, name, port) for every named port.
    let all: Vec<(String, u32, String, u16)> = plan
        .specs
        .iter()
        .flat_map(|s| {
            s.named_ports
                .iter()
                .map(move |(n, p)| (s.process.clone(), s.instance, n.clone(), *p))
        })
        .collect();
    for spec in &mut plan.specs {
        for (name, port) in &spec.named_ports {
            spec.env
                .push((format!("PORT_{}", var(name)), port.to_string()));
        }
        for (process, instance, name, port) in &all {
            let depends = spec.depends_on.iter().any(|d| &d.process == process);
            if depends && *instance == 1 {
                spec.env.push((
                    format!("{}_PORT_{}", var(process), var(name)),
                    port.to_string(),
                ));
            }
        }
        // A probe naming a named port was left waiting for it by the plan.
        if let Some(ready) = &mut spec.ready {
            crate::plan::expand_named_ports(ready, &spec.env).map_err(|e| ConfigError::Cli {
                option: "ready",
                message: format!("{}: {e}", spec.name),
                hint: None,
            })?;
        }
    }
    Ok(())
}

/// Gives the named ports of an instance added at run time (`drover scale`,
/// `drover reload`) free port numbers of its own, as `PORT_NAME`, and puts
/// them in its readiness probe (one copied from another instance names that
/// one's numbers, which are replaced).
pub(crate) fn allocate_added(spec: &mut crate::plan::ProcessSpec) -> std::io::Result<()> {
    let mut held = Vec::new();
    for (name, port) in &mut spec.named_ports {
        let l = TcpListener::bind(("127.0.0.1", 0))?;
        let new = l.local_addr()?.port();
        held.push(l);
        let key = format!("PORT_{}", var(name));
        spec.env.retain(|(k, _)| *k != key);
        spec.env.push((key, new.to_string()));
        if let Some(ready) = &mut spec.ready {
            replace_port(&mut ready.probe, *port, new);
        }
        *port = new;
    }
    if let Some(ready) = &mut spec.ready {
        crate::plan::expand_named_ports(ready, &spec.env)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    Ok(())
}

/// `host:OLD` becomes `host:NEW` in a network probe.
fn replace_port(probe: &mut crate::plan::Probe, old: u16, new: u16) {
    use crate::plan::Probe;
    if old == 0 {
        return;
    }
    let from = format!(":{old}");
    if let Probe::Tcp(a) | Probe::Http { address: a, .. } = probe {
        if let Some(host) = a.strip_suffix(&from) {
            *a = format!("{host}:{new}");
        }
    }
}

/// `web-api` → `WEB_API`.
pub(crate) fn var(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The process listening on TCP `port`, as `pid 123 (command)`.
pub fn holder(port: u16) -> Option<String> {
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .find_map(|table| listening_inode(&table, port))?;
    // drover's own listeners are not in the way: it holds none before the start.
    let pid = crate::process::procfs::fd_holders(&format!("socket:[{inode}]"))
        .into_iter()
        .next()?;
    Some(format!(
        "pid {pid} ({})",
        crate::process::procfs::command(pid)
    ))
}

/// Whether a listening socket on a port belongs to some processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owned {
    /// One of them holds a listener on it.
    Yes,
    /// Nothing on this host (in drover's view) listens on it.
    NotHere,
    /// Others hold it: the first, as `pid 123 (command)`, if found.
    No(Option<String>),
}

/// Whether one of `pids` holds a socket listening on TCP `port`.
pub fn owned_by(port: u16, pids: &[i32]) -> Owned {
    let inodes: Vec<u64> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|table| listening_inodes(&table, port))
        .collect();
    if inodes.is_empty() {
        return Owned::NotHere;
    }
    let targets: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let holds = |pid: &i32| {
        std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
            fds.flatten().any(|fd| {
                std::fs::read_link(fd.path())
                    .is_ok_and(|l| targets.iter().any(|t| l.as_os_str() == t.as_str()))
            })
        })
    };
    if pids.iter().any(holds) {
        return Owned::Yes;
    }
    let holder = targets.iter().find_map(|t| {
        let pid = *crate::process::procfs::fd_holders(t).first()?;
        Some(format!(
            "pid {pid} ({})",
            crate::process::procfs::command(pid)
        ))
    });
    Owned::No(holder)
}

/// The inodes of the sockets listening on `port` in a `/proc/net/tcp` table.
fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = u16::from_str_radix(f.get(1)?.rsplit_once(':')?.1, 16).ok()?;
            (local_port == port && *f.get(3)? == "0A").then(|| f.get(9)?.parse().ok())?
        })
        .collect()
}

/// The inode of the socket listening on `port` in a `/proc/net/tcp` table.
fn listening_inode(table: &str, port: u16) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let local_port = u16::from_str_radix(f.get(1)?.rsplit_once(':')?.1, 16).ok()?;
        // State 0A is LISTEN.
        (local_port == port && *f.get(3)? == "0A").then(|| f.get(9)?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_listening_socket_in_a_tcp_table() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 424242 1 0\n\
   1: 0100007F:1389 0100007F:9999 01 00000000:00000000 00:00000000 00000000  1000        0 7 1 0\n";
        assert_eq!(listening_inode(table, 5000), Some(424242));
        assert_eq!(
            listening_inode(table, 5001),
            None,
            "an established socket is not a listener"
        );
    }

    #[test]
    fn names_the_holder_of_a_port_we_listen_on() {
        let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        let h = holder(port).expect("our own listener is found");
        assert!(
            h.starts_with(&format!("pid {} (", std::process::id())),
            "{h}"
        );
    }

    #[test]
    fn variable_names() {
        assert_eq!(var("web-api"), "WEB_API");
        assert_eq!(var("http"), "HTTP");
    }
}
