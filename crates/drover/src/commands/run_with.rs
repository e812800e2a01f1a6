//! `drover run --with NAME[,NAME...] [--timeout 60s] -- CMD ARGS...`: the
//! CI job in one command. Starts the named processes (and what they depend
//! on) with a `drover start` of its own, waits until they are ready, runs
//! CMD in the foreground with the app's environment and the services'
//! ports, then stops everything and exits with CMD's status.
//!
//! The services run in a child `drover start` (its own process group, its
//! output on our stderr, its control socket and a ports file in a private
//! folder, `SIGTERM` to it should we die), so everything `start` guarantees
//! holds for them unchanged; this module only orchestrates: it must not
//! spawn or signal the services itself. If a service fails to get ready, or
//! drover ends while CMD runs, CMD is stopped (`SIGTERM`, then `SIGKILL`
//! after the timeout) and the exit status is [`EXIT_SERVICE_FAILED`].

use std::ffi::OsString;
use std::io;
use std::os::fd::AsFd as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::signal::unix::{signal, SignalKind};

use crate::cli::{ProjectArgs, ReportArgs, RunArgs, TimeoutArg};
use crate::commands::run::{self, EXIT_CANNOT_RUN, EXIT_NOT_FOUND};
use crate::commands::wait::{wait_ready, DEFAULT_TIMEOUT};
use crate::plan::Plan;
use crate::EXIT_BAD_INPUT;

/// Exit status when a service did not get ready or ended while CMD ran.
pub const EXIT_SERVICE_FAILED: u8 = 3;

/// Runs `drover run --with`; the exit status.
pub fn main(args: RunArgs) -> u8 {
    let env = match run::environment(&args.project) {
        Ok(env) => env,
        Err(e) => {
            eprintln!("drover: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let timeout = match args.project.timeout {
        Some(TimeoutArg::Duration(d)) => d.get(),
        Some(TimeoutArg::OutOfRange(s)) => {
            eprintln!("drover: --timeout {s}: not a number of seconds from 0 up");
            return EXIT_BAD_INPUT;
        }
        None => DEFAULT_TIMEOUT,
    };
    let folder = match tempfile_dir() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("drover: run --with: cannot make a private folder: {e}");
            return 1;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("drover: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let status = runtime.block_on(orchestrate(&args, env, timeout, &folder.0));
    // A readiness poll still running sees drover gone at its next turn.
    runtime.shutdown_timeout(Duration::from_millis(200));
    drop(folder);
    status
}

/// A private folder for the socket and the ports file, removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> io::Result<TempDir> {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("drover-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    Ok(TempDir(dir))
}

async fn orchestrate(
    args: &RunArgs,
    env: Vec<(String, String)>,
    timeout: Duration,
    folder: &Path,
) -> u8 {
    let socket = folder.join("drover.sock");
    let ports_file = folder.join("ports");
    let mut drover = match spawn_drover(args, &socket, &ports_file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("drover: run --with: cannot start drover: {e}");
            return 1;
        }
    };
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        eprintln!("drover: run --with: cannot install signal handlers");
        return stop_drover(&mut drover, 1).await;
    };

    // Ready, or why not.
    let given_up = Arc::new(AtomicBool::new(false));
    let ready = {
        let (socket, names, given_up) = (socket.clone(), args.with.clone(), Arc::clone(&given_up));
        tokio::task::spawn_blocking(move || {
            wait_ready(&[socket], &names, timeout, || {
                given_up.load(Ordering::Relaxed)
            })
        })
    };
    tokio::select! {
        r = ready => match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("drover: run --with: {e}; stopping; exit status {EXIT_SERVICE_FAILED}");
                return stop_drover(&mut drover, EXIT_SERVICE_FAILED).await;
            }
            Err(e) => unreachable!("the readiness wait does not panic: {e}"),
        },
        status = drover.wait() => {
            given_up.store(true, Ordering::Relaxed);
            return drover_ended_early(status);
        }
        _ = int.recv() => return stop_drover(&mut drover, 128 + libc::SIGINT as u8).await,
        _ = term.recv() => return stop_drover(&mut drover, 128 + libc::SIGTERM as u8).await,
        _ = hup.recv() => return stop_drover(&mut drover, 128 + libc::SIGHUP as u8).await,
    }

    let mut env = env;
    env.extend(read_ports(&ports_file));
    let mut cmd = match spawn_command(&args.command, env) {
        Ok(c) => c,
        Err((status, why)) => {
            eprintln!("drover: cannot run {:?}: {why}", args.command[0]);
            return stop_drover(&mut drover, status).await;
        }
    };
    loop {
        tokio::select! {
            status = cmd.child.wait() => {
                cmd.release_terminal();
                let status = status.map_or(1, shell_status);
                // What the command left running in its group goes with it.
                cmd.signal(libc::SIGKILL);
                return stop_drover(&mut drover, status).await;
            }
            status = drover.wait() => {
                let how = status.map_or_else(|e| e.to_string(), describe);
                eprintln!(
                    "drover: run --with: the services ended while the command ran (drover {how}); \
                     stopping the command; exit status {EXIT_SERVICE_FAILED}"
                );
                cmd.stop(timeout).await;
                return EXIT_SERVICE_FAILED;
            }
            // Signals sent to drover (a terminal's go to the command's
            // foreground group) are passed on to the command's group.
            _ = int.recv() => cmd.signal(libc::SIGINT),
            _ = term.recv() => cmd.signal(libc::SIGTERM),
            _ = hup.recv() => cmd.signal(libc::SIGHUP),
        }
    }
}

/// `drover start NAME...` for the services: its own process group, its
/// stdout on our stderr, SIGTERM when we die.
fn spawn_drover(args: &RunArgs, socket: &Path, ports_file: &Path) -> io::Result<Child> {
    let exe = std::env::current_exe()?;
    let stderr = io::stderr().as_fd().try_clone_to_owned()?;
    let mut c = Command::new(exe);
    c.arg("start")
        .args(&args.with)
        .args(project_args(&args.project))
        .arg("--socket")
        .arg(socket)
        .arg("--ports-file")
        .arg(ports_file)
        .args(report_args(&args.reports))
        .stdin(Stdio::null())
        .stdout(Stdio::from(stderr))
        .process_group(0);
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        c.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c.spawn()
}

/// `--report` and `--junit`, passed on: the services' drover writes them
/// as it exits, after the command.
fn report_args(r: &ReportArgs) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    if let Some(f) = &r.report {
        a.extend(["--report".into(), f.clone().into()]);
    }
    if let Some(f) = &r.junit {
        a.extend(["--junit".into(), f.clone().into()]);
    }
    a
}

/// The project options as `drover start` takes them (the timeout is ours).
fn project_args(p: &ProjectArgs) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["-f".into(), p.procfile.clone().into()];
    for e in &p.env {
        a.extend(["-e".into(), e.clone().into()]);
    }
    if let Some(root) = &p.root {
        a.extend(["-d".into(), root.clone().into()]);
    }
    if let Some(m) = &p.formation {
        a.extend(["-m".into(), m.into()]);
    }
    if let Some(port) = p.port {
        a.extend(["-p".into(), port.to_string().into()]);
    }
    if let Some(config) = &p.config {
        a.extend(["-c".into(), config.clone().into()]);
    }
    if !p.can_die.is_empty() {
        a.extend(["--can-die".into(), p.can_die.join(",").into()]);
    }
    a
}

/// CMD with the environment, in our process group and on our terminal,
/// signals at their defaults.
fn spawn_command(command: &[String], env: Vec<(String, String)>) -> Result<Cmd, (u8, String)> {
    // As `run`: one argument is a command line, several are the argv.
    let argv = if command.len() == 1 {
        crate::process::command::invocation(&command[0]).argv()
    } else {
        command.to_vec()
    };
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]);
    c.envs(env).process_group(0);
    // On a terminal where we are in the foreground, the command's group
    // takes the foreground, as a shell's job does: Ctrl-C and reads from
    // the terminal reach it. Done in the child (before exec) so it never
    // reads as a background job.
    // SAFETY: isatty/tcgetpgrp/getpgrp have no side effects.
    let foreground = unsafe { libc::isatty(0) == 1 && libc::tcgetpgrp(0) == libc::getpgrp() };
    if foreground {
        // SAFETY: signal, tcsetpgrp and getpid are async-signal-safe.
        unsafe {
            c.pre_exec(|| {
                libc::signal(libc::SIGTTOU, libc::SIG_IGN);
                libc::tcsetpgrp(0, libc::getpid());
                libc::signal(libc::SIGTTOU, libc::SIG_DFL);
                Ok(())
            });
        }
    }
    let child = c.spawn().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => (EXIT_NOT_FOUND, "command not found".to_owned()),
        io::ErrorKind::PermissionDenied => (EXIT_CANNOT_RUN, "permission denied".to_owned()),
        _ => (EXIT_CANNOT_RUN, e.to_string()),
    })?;
    let group = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .expect("a child just spawned has its pid");
    Ok(Cmd {
        child,
        group,
        foreground,
    })
}

/// The running command: its process, its group, whether it has the terminal.
struct Cmd {
    child: Child,
    /// Its process group's id (its pid), kept after it is reaped.
    group: i32,
    foreground: bool,
}

impl Cmd {
    /// `sig` to the command's process group: what the command started too.
    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on the group our child leads; while any member
        // remains the id cannot be reused, and with none it fails harmlessly.
        unsafe { libc::kill(-self.group, sig) };
    }

    /// SIGTERM to the group, SIGKILL after `timeout` (and to whatever is
    /// left in the group).
    async fn stop(&mut self, timeout: Duration) {
        self.signal(libc::SIGTERM);
        let _ = tokio::time::timeout(timeout, self.child.wait()).await;
        self.signal(libc::SIGKILL);
        let _ = self.child.wait().await;
        self.release_terminal();
    }

    /// The terminal's foreground back to our group, if the command had it.
    fn release_terminal(&self) {
        if !self.foreground {
            return;
        }
        // SAFETY: plain libc calls on fd 0; SIGTTOU is ignored around
        // tcsetpgrp so that a background group may call it.
        unsafe {
            let old = libc::signal(libc::SIGTTOU, libc::SIG_IGN);
            libc::tcsetpgrp(0, libc::getpgrp());
            libc::signal(libc::SIGTTOU, old);
        }
    }
}

/// `KEY=VALUE` lines that `drover start --ports-file` wrote.
fn read_ports(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `WEB_PORT` and `WEB_PORT_HTTP` for the first instance of each process.
pub(crate) fn port_vars(plan: &Plan) -> Vec<(String, String)> {
    let mut vars = Vec::new();
    for spec in plan.specs.iter().filter(|s| s.instance == 1) {
        let process = crate::process::ports::var(&spec.process);
        if spec.port != 0 {
            vars.push((format!("{process}_PORT"), spec.port.to_string()));
        }
        for (name, port) in &spec.named_ports {
            let name = crate::process::ports::var(name);
            vars.push((format!("{process}_PORT_{name}"), port.to_string()));
        }
    }
    vars
}

/// Writes [`port_vars`] for `run --with`.
pub(crate) fn write_ports_file(plan: &Plan, path: &Path) -> io::Result<()> {
    let text: String = port_vars(plan)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    std::fs::write(path, text)
}

/// SIGTERM to drover, then its end; returns `status`.
async fn stop_drover(drover: &mut Child, status: u8) -> u8 {
    if let Some(pid) = drover.id() {
        // SAFETY: plain kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    }
    let _ = drover.wait().await;
    status
}

/// drover ended before the services were ready: bad input keeps its status.
fn drover_ended_early(status: io::Result<ExitStatus>) -> u8 {
    let how = status
        .as_ref()
        .map_or_else(|e| e.to_string(), |s| describe(*s));
    if status.is_ok_and(|s| s.code() == Some(i32::from(EXIT_BAD_INPUT))) {
        return EXIT_BAD_INPUT;
    }
    eprintln!(
        "drover: run --with: drover {how} before the services were ready; exit status {EXIT_SERVICE_FAILED}"
    );
    EXIT_SERVICE_FAILED
}

/// The status a shell would show: the code, or 128 + the signal.
fn shell_status(s: ExitStatus) -> u8 {
    match (s.code(), s.signal()) {
        (Some(c), _) => u8::try_from(c).unwrap_or(1),
        (None, Some(sig)) => u8::try_from(128 + sig).unwrap_or(255),
        (None, None) => 1,
    }
}

fn describe(s: ExitStatus) -> String {
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        (None, None) => "ended".to_owned(),
    }
}
