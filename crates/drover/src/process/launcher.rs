//! [`Launcher`]: the OS side of the supervisor's actions. Starts a process
//! with its readers and readiness probes, signals groups (through the
//! cgroup with `--cgroup`), answers whether a group is empty and who is in
//! it, and tells systemd.
//!
//! Decides nothing: the supervisor's shell calls it for each action. Its
//! tasks report through a channel of [`ChildEvent`]s, a type of its own, so
//! nothing here knows the supervisor.

use crate::process::spawn::{Command, Stdio};
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use regex_lite::Regex;
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::cgroup::{Cgroup, CgroupRoot};
use super::child::{
    read_stream, reset_signals_and_limits, set_death_signal, spawn, spawn_error, Outputs,
    ReaderCtx, ReaderEnd, ReadyPattern,
};
use super::terminals::Terminals;
use super::{keeper, os, procfs};
use crate::output::format::{LineFormatter, Stream};
use crate::output::logs::LogHub;
use crate::output::OutputSender;
use crate::plan::{Probe, ProcessSpec, Readiness};
use crate::types::{Pid, Signal};

/// What the tasks of a start report.
#[derive(Debug)]
pub enum ChildEvent {
    /// A reader of start `gen` of instance `index` ended.
    StreamEnded {
        /// Index in the table.
        index: usize,
        /// Which start.
        gen: u32,
        /// Which stream.
        stream: Stream,
        /// Why it ended.
        end: ReaderEnd,
        /// For a cut stream: the processes that still held the pipe open.
        holders: Vec<(Pid, String)>,
    },
    /// A readiness check (log line, sd_notify, TCP, HTTP) of start `gen` passed.
    Ready {
        /// Index in the table.
        index: usize,
        /// Which start.
        gen: u32,
    },
    /// A try of a TCP or HTTP probe of start `gen` failed.
    ProbeMissed {
        /// Index in the table.
        index: usize,
        /// Which start.
        gen: u32,
        /// What went wrong.
        error: String,
    },
    /// Files that the process of instance `index` watches changed, and
    /// have been quiet for its debounce (`process::watch`).
    FilesChanged {
        /// Index in the table.
        index: usize,
        /// The paths, relative to its watch folder, in the order seen.
        files: Vec<String>,
    },
}

/// Starts and signals processes for the supervisor's shell.
pub struct Launcher {
    /// Where sd_notify sockets go (a private folder, made when first needed).
    pub notify_dir: Option<PathBuf>,
    /// drover's own `NOTIFY_SOCKET`, when systemd started it with `Type=notify`.
    pub systemd: Option<std::ffi::OsString>,
    /// One formatter per instance, by index.
    pub formatters: Vec<LineFormatter>,
    /// The output channel.
    pub out: OutputSender,
    /// Where the tasks of each start report.
    pub events: mpsc::UnboundedSender<ChildEvent>,
    /// Recent output, for `drover logs`.
    pub hub: Arc<LogHub>,
    /// With `--cgroup`: drover's cgroup, and each running start's own, by
    /// the start's pid.
    pub cgroups: Option<(CgroupRoot, HashMap<Pid, Cgroup>)>,
    /// Readiness commands running, and descendants adopted at the stop:
    /// registered with the keeper until they are reaped.
    pub registered: HashSet<Pid>,
    /// The leaders of the starts whose groups are registered.
    pub groups: HashSet<Pid>,
    /// The instances' pseudo-terminals, shared with the control server.
    pub terminals: Arc<Terminals>,
    /// The master of each running start on a pty, by its pgid: kept open
    /// until the group is gone, since closing it would hang the process up.
    pub masters: HashMap<Pid, Arc<std::os::fd::OwnedFd>>,
    /// The listening sockets handed to each start (`sockets = [...]`).
    pub sockets: crate::process::sockets::Sockets,
}

fn to_pid(p: rustix::process::Pid) -> Pid {
    Pid::new(p.as_raw_nonzero().get()).expect("pids are positive")
}

impl Launcher {
    /// The cgroup of the start whose pid is `pgid`, with `--cgroup`.
    fn cgroup_of(&self, pgid: Pid) -> Option<&Cgroup> {
        let (_, map) = self.cgroups.as_ref()?;
        map.get(&pgid)
    }

    fn notify_socket(
        &mut self,
        spec: &ProcessSpec,
        generation: u32,
    ) -> io::Result<(PathBuf, tokio::net::UnixDatagram)> {
        let dir = match &self.notify_dir {
            Some(d) => d.clone(),
            None => {
                let d = crate::process::notify::private_dir()?;
                self.notify_dir = Some(d.clone());
                d
            }
        };
        let path = dir.join(format!("{}.{generation}.sock", spec.name));
        if path.as_os_str().len() >= 108 {
            return Err(io::Error::other(format!(
                "its NOTIFY_SOCKET {} would be too long for a Unix socket (108 bytes at most); \
                 set XDG_RUNTIME_DIR or TMPDIR to a shorter folder",
                path.display()
            )));
        }
        let socket = tokio::net::UnixDatagram::bind(&path)?;
        Ok((path, socket))
    }

    /// Starts start `gen` of instance `index` in a new process group, with
    /// its readers (and network or sd_notify probes) reporting as
    /// [`ChildEvent`]s; `cut` carries their drain deadline.
    pub fn spawn(
        &mut self,
        index: usize,
        spec: &ProcessSpec,
        gen: u32,
        cut: watch::Receiver<Option<Instant>>,
    ) -> io::Result<Pid> {
        // sd_notify readiness: a datagram socket of this start's own.
        let notify = match &spec.ready {
            Some(Readiness {
                probe: Probe::Notify,
                ..
            }) => Some(self.notify_socket(spec, gen)?),
            _ => None,
        };
        let cgroup = match &self.cgroups {
            Some((root, _)) => match root.child(&format!("{}-{gen}", spec.name)) {
                Ok(cg) => Some(cg),
                Err(e) => {
                    tracing::warn!(
                        "{}: cannot make its cgroup ({e}); it runs in its process group only",
                        spec.name
                    );
                    None
                }
            },
            None => None,
        };
        let path = notify.as_ref().map(|(path, _)| path.as_path());
        let size = crate::process::pty::drover_size();
        let sockets = self.sockets.of(index);
        let spawned = match spawn(spec, path, cgroup.as_ref(), size, sockets) {
            Ok(s) => s,
            Err(e) => {
                if let Some(cg) = &cgroup {
                    cg.remove();
                }
                return Err(e);
            }
        };
        let pid = to_pid(spawned.pid);
        keeper::add_group(pid.get(), &spec.name);
        self.groups.insert(pid);
        if let (Some(cg), Some((_, map))) = (cgroup, &mut self.cgroups) {
            map.insert(pid, cg);
        }
        if let Some((path, socket)) = notify {
            let (tx, cut) = (self.events.clone(), cut.clone());
            janitor::job(format!("notify:{}", spec.name)).spawn(async move {
                crate::process::notify::await_ready(socket, &path, cut, move || {
                    let _ = tx.send(ChildEvent::Ready { index, gen });
                })
                .await;
            });
        }
        let log_pattern = match &spec.ready {
            Some(Readiness {
                probe: Probe::Log(p),
                ..
            }) => Some(Regex::new(p).map_err(|e| io::Error::other(e.to_string()))?),
            _ => None,
        };
        match spawned.output {
            Outputs::Pipes { stdout, stderr } => {
                for (pipe, stream) in [(stdout, Stream::Stdout), (stderr, Stream::Stderr)] {
                    self.start_reader(pipe, stream, spec, (index, gen), &cut, log_pattern.clone());
                }
            }
            Outputs::Tty { master, input } => {
                let input = Arc::new(input);
                self.terminals.started(index, pid, Arc::clone(&input));
                self.masters.insert(pid, input);
                self.start_reader(master, Stream::Tty, spec, (index, gen), &cut, log_pattern);
            }
        }
        if let Some(Readiness {
            probe, interval, ..
        }) = &spec.ready
        {
            if matches!(probe, Probe::Tcp(_) | Probe::Http { .. }) {
                let (probe, interval, tx) = (probe.clone(), *interval, self.events.clone());
                let missed_tx = tx.clone();
                let owner = crate::process::probe::Owner {
                    pgid: pid,
                    cgroup_procs: self.cgroup_of(pid).map(Cgroup::procs_file),
                };
                let cut = cut.clone();
                janitor::job(format!("probe:{}", spec.name)).spawn(async move {
                    let ready = move || {
                        let _ = tx.send(ChildEvent::Ready { index, gen });
                    };
                    let missed = move |error| {
                        let _ = missed_tx.send(ChildEvent::ProbeMissed { index, gen, error });
                    };
                    crate::process::probe::run(probe, interval, Some(owner), cut, ready, missed)
                        .await;
                });
            }
        }
        Ok(pid)
    }

    /// Reads one stream of a start in a janitor job until it ends.
    fn start_reader(
        &self,
        pipe: pipe::Receiver,
        stream: Stream,
        spec: &ProcessSpec,
        (index, gen): (usize, u32),
        cut: &watch::Receiver<Option<Instant>>,
        log_pattern: Option<Regex>,
    ) {
        let ready = log_pattern.map(|re| {
            let tx = self.events.clone();
            let on_ready: Box<dyn FnOnce() + Send> = Box::new(move || {
                let _ = tx.send(ChildEvent::Ready { index, gen });
            });
            ReadyPattern::new(re, on_ready)
        });
        let ctx = ReaderCtx {
            fmt: self.formatters[index].clone(),
            stream,
            out: self.out.clone(),
            cut: cut.clone(),
            hub: Some((Arc::clone(&self.hub), index)),
            ready,
        };
        let tx = self.events.clone();
        let name = format!("reader:{}:{}", spec.name, stream.as_str());
        let inode = rustix::fs::fstat(&pipe).map(|st| st.st_ino).ok();
        janitor::job(name).spawn(async move {
            let end = read_stream(pipe, ctx).await;
            // Who kept the pipe open past the drain deadline.
            let holders = match (end, inode) {
                (ReaderEnd::Cut, Some(inode)) => crate::process::procfs::pipe_holders(inode),
                _ => Vec::new(),
            };
            // The supervisor may already be gone if drover is being torn
            // down; then nobody needs to know.
            let _ = tx.send(ChildEvent::StreamEnded {
                index,
                gen,
                stream,
                end,
                holders,
            });
        });
    }

    /// Starts a readiness command in its own group, output discarded.
    pub fn spawn_probe(&mut self, spec: &ProcessSpec, command: &str) -> io::Result<Pid> {
        let mut cmd = side_command(spec, command);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let child = cmd.spawn().map_err(spawn_error)?;
        let pid = Pid::new(child.id() as i32).expect("a spawned child has a positive pid");
        keeper::add_group(pid.get(), &format!("readiness command of {}", spec.name));
        self.registered.insert(pid);
        Ok(pid)
    }

    /// A child was reaped: a readiness command's or an adopted
    /// descendant's registration with the keeper ends.
    pub fn reaped(&mut self, pid: Pid) {
        if self.registered.remove(&pid) {
            keeper::remove_group(pid.get());
            keeper::remove_pid(pid.get());
        }
    }

    /// Registers with the keeper each descendant re-parented to drover
    /// (one that left its group and whose parent ended) since the last
    /// call, so that a `kill -9` of drover stops it too. Reads only
    /// drover's own child lists, not all of /proc.
    pub fn register_adopted(&mut self) {
        let keeper = keeper::pid();
        for pid in procfs::own_children() {
            let Some(pid) = Pid::new(pid) else { continue };
            if Some(pid.get()) == keeper
                || self.groups.contains(&pid)
                || self.registered.contains(&pid)
            {
                continue;
            }
            self.registered.insert(pid);
            keeper::add_pid(pid.get());
        }
    }

    /// Live processes re-parented to drover that it did not start (the
    /// keeper is drover's child, but none of the app's), registered with
    /// the keeper.
    pub fn adopted(&mut self) -> Vec<(Pid, String)> {
        let keeper = keeper::pid();
        let found: Vec<(Pid, String)> = procfs::adopted_children()
            .into_iter()
            .filter(|(pid, _)| Some(pid.get()) != keeper)
            .collect();
        for (pid, _) in &found {
            if self.registered.insert(*pid) {
                keeper::add_pid(pid.get());
            }
        }
        found
    }

    /// Sends `sig` to every process of group `pgid` (and of its cgroup).
    pub fn signal_group(&mut self, pgid: Pid, sig: Signal) -> io::Result<()> {
        let Some(cg) = self.cgroup_of(pgid) else {
            return os::kill_group(pgid, sig);
        };
        // The cgroup holds the group and whatever left it (setsid).
        if sig == Signal::KILL {
            return cg.kill();
        }
        let members = cg.members();
        if members.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        for pid in members {
            let _ = os::kill_pid(to_pid(pid), sig);
        }
        Ok(())
    }

    /// Whether any process is left in group `pgid` (or its cgroup).
    pub fn group_alive(&mut self, pgid: Pid) -> bool {
        let alive = self.group_alive_inner(pgid);
        if !alive {
            // Nobody is left to hang up: its terminal may close.
            self.terminals.gone(pgid);
            self.masters.remove(&pgid);
        }
        alive
    }

    fn group_alive_inner(&mut self, pgid: Pid) -> bool {
        match self
            .cgroups
            .as_mut()
            .and_then(|(_, map)| map.get(&pgid).map(Cgroup::populated))
        {
            Some(true) => true,
            Some(false) => {
                keeper::remove_group(pgid.get());
                self.groups.remove(&pgid);
                // Empty for good: nothing can join it again.
                if let Some(cg) = self.cgroups.as_mut().and_then(|(_, map)| map.remove(&pgid)) {
                    cg.remove();
                }
                false
            }
            None => {
                let alive = os::group_alive(pgid);
                if !alive {
                    keeper::remove_group(pgid.get());
                    self.groups.remove(&pgid);
                }
                alive
            }
        }
    }

    /// drover has begun to stop: output may now give up on a stdout that
    /// makes no progress at all.
    pub fn stopping(&mut self) {
        self.out.progress().begin_stop();
    }

    /// Tells systemd drover's state (`READY=1`, `STOPPING=1`) when drover
    /// runs as a `Type=notify` service; nothing otherwise.
    pub fn notify_systemd(&mut self, state: &str) {
        if let Some(target) = &self.systemd {
            if let Err(e) = crate::process::notify::send(target, state) {
                tracing::debug!("telling systemd {state}: {e}");
            }
        }
    }

    /// The live members of each group, with their commands: the cgroup's
    /// members where there is one, else one scan of `/proc` for all.
    pub fn group_members(&mut self, pgids: &[Pid]) -> Vec<(Pid, Vec<(Pid, String)>)> {
        let (in_cgroup, plain): (Vec<Pid>, Vec<Pid>) =
            pgids.iter().partition(|p| self.cgroup_of(**p).is_some());
        let mut scanned = crate::process::procfs::group_members(&plain);
        pgids
            .iter()
            .map(|pgid| {
                let members = if in_cgroup.contains(pgid) {
                    let cg = self.cgroup_of(*pgid).expect("partitioned above");
                    cg.members()
                        .into_iter()
                        .map(|p| {
                            let p = to_pid(p);
                            (p, crate::process::procfs::command(p.get()))
                        })
                        .collect()
                } else {
                    scanned.remove(pgid).unwrap_or_default()
                };
                (*pgid, members)
            })
            .collect()
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        if let Some(d) = &self.notify_dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// `sh -c COMMAND` beside a process (a readiness command, a hook): in its
/// folder and with its variables, in a group of its own, stdin from
/// `/dev/null`, and stopped with drover as a process is.
pub(crate) fn side_command(spec: &ProcessSpec, command: &str) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(&spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        // drover's own NOTIFY_SOCKET (from systemd) is drover's.
        .env_remove("NOTIFY_SOCKET")
        .process_group(0);
    if let Some(id) = keeper::run_id() {
        cmd.env(keeper::RUN_ID_VAR, id);
    }
    set_death_signal(&mut cmd);
    reset_signals_and_limits(&mut cmd);
    cmd
}
