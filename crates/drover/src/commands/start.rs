//! `drover start`: wires the pieces together in the order the shutdown needs.
//!
//! Stage 0 of the janitor holds the supervisor's readers; stage 1 holds the
//! writer, which is told to stop only after every reader has ended, then
//! writes what is queued and ends. So the last byte a child wrote, and the
//! last `system` line, are on stdout before drover exits.

use std::fs::File;
use std::io::{self, IsTerminal as _, Write};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd as _;
use std::sync::Arc;
use std::time::Duration;

use std::path::PathBuf;

use tokio::sync::{mpsc, watch};

use crate::cli::{ColorChoice, StartArgs};
use crate::commands::report::Reports;
use crate::control::server::ControlSocket;
use crate::output::format::{LineFormatter, OutputMode, Style};
use crate::output::logging;
use crate::output::logs::LogHub;
use crate::output::{self, writer};
use crate::plan::{self, Plan, StartOptions};
use crate::process::instance::{InstanceLock, LockError};
use crate::process::keeper;
use crate::process::launcher::Launcher;
use crate::process::os::Signals;
use crate::process::terminals::Terminals;
use crate::EXIT_BAD_INPUT;

/// Runs `drover start` and returns drover's exit status.
pub fn main(args: StartArgs, verbose: u8) -> u8 {
    let opts = match options(&args) {
        Ok(o) => o,
        Err(e) => return bad_input(&e),
    };
    let mut plan = match plan::plan(&opts) {
        Ok(p) => p,
        Err(e) => return bad_input(&e),
    };
    if let Err(e) = crate::process::ports::prepare(&mut plan) {
        return bad_input(&e);
    }
    if let Some(path) = &args.ports_file {
        if let Err(e) = super::run_with::write_ports_file(&plan, path) {
            eprintln!("drover: cannot write {}: {e}", path.display());
            return 1;
        }
    }
    if let Some(dir) = &args.log_dir {
        let settings = plan.log_files.get_or_insert_with(|| plan::LogFileSettings {
            dir: dir.clone(),
            max_size: plan::LogFileSettings::DEFAULT_MAX_SIZE,
            keep: plan::LogFileSettings::DEFAULT_KEEP,
        });
        settings.dir.clone_from(dir);
    }
    let mode = args.output.or(plan.output).unwrap_or(OutputMode::Text);
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    let name_width = plan
        .specs
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(0)
        .max("system".len());
    let style = Style {
        mode,
        color: color && mode == OutputMode::Text,
        timestamps: !args.no_timestamp,
        name_width,
    };
    // Before any thread: what drover must not inherit, one drover per
    // root, what a killed drover left, and the keeper.
    let mut launch = match prepare_launch(&plan.root) {
        Ok(l) => l,
        Err(status) => return status,
    };
    // Once this drover holds the root: a second one would only find its
    // own addresses busy.
    match crate::process::sockets::Sockets::bind(&plan.specs) {
        Ok(sockets) => *launch.sockets.lock().unwrap_or_else(|e| e.into_inner()) = Some(sockets),
        Err(e) => return bad_input(&e),
    }
    launch.reload = args.reload || plan.reload;
    // `drover reload` plans again from the same options.
    launch.replan = Some(Arc::new(move || {
        plan::plan(&opts)
            .map(|p| p.specs)
            .map_err(|e| e.to_string())
    }));
    // Two malloc arenas instead of one per thread: memory freed by one
    // runtime thread is reused by the other instead of staying behind.
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only tunes the allocator; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("drover: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let cgroup = args.cgroup || plan.cgroup;
    let reports = Reports {
        markdown: args.reports.report.clone(),
        junit: args.reports.junit.clone(),
    };
    let status = runtime.block_on(run(
        plan,
        style,
        verbose,
        args.socket.clone(),
        cgroup,
        &launch,
        reports,
    ));
    // Blocking-pool threads may linger idle; they hold nothing to flush.
    runtime.shutdown_timeout(Duration::from_millis(100));
    drop(launch);
    status
}

/// What `start` set up before its runtime, and what it has to say about it.
pub struct Launch {
    /// Held until drover exits: no second drover starts in this root.
    _lock: Option<InstanceLock>,
    /// Things to say once system lines can be written.
    notes: Vec<String>,
    /// SIGHUP was ignored at launch (`nohup`): drover keeps ignoring it.
    hup_ignored: bool,
    /// The processes' listening sockets, bound once the root is ours; the
    /// launcher takes them.
    sockets: std::sync::Mutex<Option<crate::process::sockets::Sockets>>,
    /// Plans again as this start did, for `drover reload`.
    replan: Option<crate::control::server::Replan>,
    /// Reload when the app's files change (`--reload`, `reload = true`).
    reload: bool,
}

impl std::fmt::Debug for Launch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launch")
            .field("notes", &self.notes)
            .field("hup_ignored", &self.hup_ignored)
            .finish_non_exhaustive()
    }
}

/// Clears the signal state drover was launched with, raises its open-file
/// limit, takes the root's lock (the exit status when another drover holds
/// it), stops what a drover killed with its keeper left here, and forks the
/// keeper. Must run before any thread exists.
fn prepare_launch(root: &std::path::Path) -> Result<Launch, u8> {
    let inherited = crate::process::sigstate::reset_at_start();
    crate::process::limits::close_on_exec_inherited();
    crate::process::limits::raise_nofile();
    let mut notes = Vec::new();
    if inherited.blocked > 0 {
        notes.push(format!(
            "debug:cleared {} signal(s) blocked by drover's launcher",
            inherited.blocked
        ));
    }
    let lock = match InstanceLock::acquire(root) {
        Ok(lock) => Some(lock),
        Err(e @ LockError::Held { .. }) => {
            eprintln!("drover: {e}");
            return Err(1);
        }
        Err(e) => {
            let cause = std::error::Error::source(&e).map_or(String::new(), |c| format!(": {c}"));
            notes.push(format!(
                "warn:{e}{cause}; a second drover in this folder is not kept out"
            ));
            None
        }
    };
    match keeper::state_path(root) {
        Ok(state) => {
            if let Some(left) = keeper::clean_up_leftovers(&state) {
                notes.push(format!("warn:{left}"));
            }
            if let Err(e) = keeper::start(state) {
                notes.push(format!(
                    "warn:cannot start the keeper ({e}); if drover is killed, what its processes forked may survive"
                ));
            }
        }
        Err(e) => notes.push(format!(
            "warn:no runtime folder for the keeper ({e}); if drover is killed, what its processes forked may survive"
        )),
    }
    Ok(Launch {
        _lock: lock,
        notes,
        hup_ignored: inherited.hup_ignored,
        sockets: std::sync::Mutex::new(None),
        replan: None,
        reload: false,
    })
}

fn bad_input(e: &dyn std::fmt::Display) -> u8 {
    eprintln!("drover: {e}");
    EXIT_BAD_INPUT
}

pub(crate) fn options(args: &StartArgs) -> Result<StartOptions, plan::ConfigError> {
    let mut opts = StartOptions::from_project(&args.project)?;
    opts.names = args.processes.clone();
    args.terminal.apply(&mut opts);
    opts.watch = args.watch;
    Ok(opts)
}

/// Starts every process of `plan` and runs until they have all stopped.
pub async fn run(
    plan: Plan,
    style: Style,
    verbose: u8,
    socket: Option<PathBuf>,
    cgroup: bool,
    launch: &Launch,
    reports: Reports,
) -> u8 {
    let style = Arc::new(style);
    let (out, rx) = output::channel(output::OUTPUT_BUDGET);
    logging::install(
        LineFormatter::system(Arc::clone(&style)),
        out.clone(),
        verbose,
    );
    let unported: Vec<&str> = plan
        .specs
        .iter()
        .filter(|s| s.port == 0)
        .map(|s| s.name.as_str())
        .collect();
    if let Some(first) = unported.first() {
        tracing::warn!(
            "{first}{}: no PORT, as it would pass 65535 (a lower base port, -p, gives one)",
            match unported.len() {
                1 => String::new(),
                n => format!(" and {} more", n - 1),
            }
        );
    }
    let (control, signals, closed_tx) = match prepare_run(&plan, socket, launch) {
        Ok(parts) => parts,
        Err(status) => return status,
    };
    // Descendants that daemonize are re-parented to drover instead of init,
    // so they are reaped here. Not fatal where the kernel refuses.
    if let Err(e) = rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
        tracing::debug!("cannot become a child subreaper: {e}");
    }
    let cgroups = cgroup.then(super::side_jobs::cgroups).flatten();
    let formatters: Vec<LineFormatter> = plan
        .specs
        .iter()
        .map(|s| LineFormatter::new(Arc::clone(&style), &s.name, s.index))
        .collect();
    let hub = LogHub::new(plan.specs.iter().map(|s| s.name.clone()).collect());
    let files = plan
        .log_files
        .as_ref()
        .and_then(|settings| start_log_files(settings, &hub));
    let processes: Arc<[String]> = plan.specs.iter().map(|s| s.process.clone()).collect();
    let digest_hub = Arc::clone(&hub);
    let ttys: Vec<bool> = plan.specs.iter().map(|s| s.tty).collect();
    let terminals = Terminals::new(plan.specs.iter().map(|s| s.name.clone()).collect(), &ttys);
    let mode = style.mode;
    let reload = launch.reload;
    let reload_files = super::side_jobs::app_files(&plan);
    let sockets = launch
        .sockets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or_default();
    // drover's own files are never a change the app made.
    let own_files: Vec<PathBuf> = std::iter::once(plan.socket.clone())
        .chain(plan.log_files.as_ref().map(|l| l.dir.clone()))
        .collect();

    let progress = out.progress();
    // A write error other than a closed pipe (a full disk), for the last word.
    let write_error = Arc::new(std::sync::Mutex::new(None));
    let writer_error = Arc::clone(&write_error);
    // Every job ends by itself: readers at end of file or their drain
    // deadline, the writer once the queue is written or stdout is stuck.
    // The grace period only bounds a bug, so it leaves a slow terminal
    // (4 MiB of backlog at ~70 KB/s) time to scroll.
    let result = janitor::builder()
        .grace_period(Duration::from_secs(60))
        .try_enter(async move {
            spawn_writer(rx, &out, closed_tx, writer_error);
            let (events_tx, events_rx) = mpsc::unbounded_channel();
            let (requests_tx, requests_rx) = mpsc::unbounded_channel();
            let (stop_control, control_stopped) = watch::channel(false);
            // Ends with the control server, once every process is gone.
            crate::process::watch::spawn(
                &plan.specs,
                own_files,
                events_tx.clone(),
                control_stopped.clone(),
            );
            if ttys.contains(&true) {
                super::side_jobs::follow_window_size(
                    Arc::clone(&terminals),
                    control_stopped.clone(),
                );
            }
            if let Some(replan) = launch.replan.clone().filter(|_| reload) {
                super::side_jobs::reload_on_change(
                    &reload_files,
                    replan,
                    requests_tx.clone(),
                    control_stopped.clone(),
                );
            }
            if let Some(control) = control {
                let hub = Arc::clone(&hub);
                janitor::job("control server").spawn(control.serve_with(
                    requests_tx,
                    (hub, processes, Arc::clone(&terminals)),
                    launch.replan.clone(),
                    control_stopped,
                ));
            }
            let launcher = Launcher {
                cgroups,
                notify_dir: None,
                systemd: std::env::var_os("NOTIFY_SOCKET"),
                formatters,
                out,
                events: events_tx,
                hub,
                registered: std::collections::HashSet::new(),
                groups: std::collections::HashSet::new(),
                terminals,
                masters: std::collections::HashMap::new(),
                sockets,
            };
            let (status, rows) =
                crate::supervisor::run(plan.specs, launcher, signals, events_rx, requests_rx).await;
            let mut digest = crate::control::server::digest_rows(rows);
            crate::control::server::fill_last_lines(&mut digest, &digest_hub, DIGEST_LINES);
            let recent = recent_output(&reports, &digest_hub);
            // Every process is gone: the control server stops accepting,
            // followers get their last lines, and the socket file goes.
            stop_control.send_replace(true);
            (status, digest, recent, reports)
        })
        .await;
    let (status, digest, recent, reports) = result.callee_output;
    if let Some(files) = files {
        // Every reader has ended: what they read is queued already.
        tokio::task::block_in_place(|| files.finish());
    }
    let status = last_words(
        status,
        mode,
        (&digest, &recent, reports),
        &progress,
        &write_error,
    );
    match result.janitor_result {
        Ok(()) => status,
        Err(e) => {
            // Our bug, not the user's: say so loudly.
            eprintln!("drover: internal error: {e}");
            status.max(1)
        }
    }
}

/// Says the launch notes, binds the control socket and installs the signal
/// handlers, before any child exists; the exit status when drover cannot
/// run (a second drover here, no socket anywhere, no signal handlers).
#[expect(clippy::type_complexity, reason = "three parts of one set-up")]
fn prepare_run(
    plan: &Plan,
    socket: Option<PathBuf>,
    launch: &Launch,
) -> Result<
    (
        Option<ControlSocket>,
        Signals,
        mpsc::UnboundedSender<Option<String>>,
    ),
    u8,
> {
    for note in &launch.notes {
        match note.split_once(':') {
            Some(("debug", text)) => tracing::debug!("{text}"),
            Some((_, text)) => tracing::warn!("{text}"),
            None => tracing::warn!("{note}"),
        }
    }
    let socket_path = socket.unwrap_or_else(|| plan.socket.clone());
    // A socket that cannot be made in the root goes to the runtime folder
    // (a system line says so); one that cannot be made anywhere, or a live
    // one, stops drover here.
    let control = match ControlSocket::bind_for_root(&socket_path, &plan.root) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("drover: {e}");
            return Err(1);
        }
    };
    let (closed_tx, closed_rx) = mpsc::unbounded_channel();
    let signals = match Signals::install(closed_rx, launch.hup_ignored) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("drover: cannot install signal handlers: {e}");
            return Err(1);
        }
    };
    Ok((control, signals, closed_tx))
}

/// After the stream: the summary, the reports, and what could not be
/// written; returns the status, raised to 1 if a report failed.
fn last_words(
    mut status: u8,
    mode: OutputMode,
    (digest, recent, reports): (
        &[crate::control::protocol::DigestRow],
        &[Vec<String>],
        Reports,
    ),
    progress: &output::Progress,
    write_error: &std::sync::Mutex<Option<String>>,
) -> u8 {
    // Everything the processes wrote is out already.
    print_summary(mode, digest);
    for e in reports.write(digest, recent) {
        report_to_stderr(format!(
            "drover: {e}: {}\n",
            std::error::Error::source(&e).map_or(String::new(), |s| s.to_string())
        ));
        status = status.max(1);
    }
    let unwritten = progress.unwritten();
    let write_error = write_error.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(e) = write_error {
        report_to_stderr(format!(
            "drover: writing stdout failed: {e}; {unwritten} bytes of output could not be written\n"
        ));
    } else if unwritten > 0 {
        report_to_stderr(format!(
            "drover: {unwritten} bytes of output could not be written: stdout was closed or accepted nothing for {}s\n",
            output::STALL.as_secs()
        ));
    }
    status
}

/// Starts the log files and tees the hub's reads to them; a folder that
/// cannot be made is said, and drover goes on without files.
fn start_log_files(
    settings: &plan::LogFileSettings,
    hub: &LogHub,
) -> Option<crate::output::logfiles::FilesJob> {
    let rotation = crate::output::logfiles::Rotation {
        max_size: settings.max_size,
        keep: settings.keep,
    };
    match crate::output::logfiles::start(&settings.dir, &hub.names(), rotation) {
        Ok((files, job)) => {
            hub.tee_to_files(files);
            Some(job)
        }
        Err(e) => {
            tracing::warn!(
                "log files: cannot use {}: {e}; running without log files",
                settings.dir.display()
            );
            None
        }
    }
}

/// Each instance's recent output, when a report shows it.
fn recent_output(reports: &Reports, hub: &LogHub) -> Vec<Vec<String>> {
    if !reports.wants_output() {
        return Vec::new();
    }
    (0..hub.names().len())
        .map(|i| hub.last_lines(i, super::report::RECENT_LINES))
        .collect()
}

/// Starts the writer, janitor's stage 1: it owns stdout; a closed stdout
/// is reported on `closed`.
fn spawn_writer(
    rx: mpsc::UnboundedReceiver<output::Chunk>,
    out: &output::OutputSender,
    closed: mpsc::UnboundedSender<Option<String>>,
    write_error: Arc<std::sync::Mutex<Option<String>>>,
) {
    let progress = out.progress();
    let pool = out.pool();
    janitor::job("writer").stage(1).spawn(async move {
        let sink = Box::new(RawStdout::new());
        let report = writer::run(rx, sink, progress, pool, janitor::stopping(), move |e| {
            // Tells the supervisor to stop the processes whose output has
            // nowhere to go; a closed pipe is a reader that left, anything
            // else (a full disk) an error the exit status shows.
            let error = (e.kind() != io::ErrorKind::BrokenPipe).then(|| e.to_string());
            if let Some(e) = &error {
                *write_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
            }
            let _ = closed.send(error);
        })
        .await;
        if let Some(err) = &report.error {
            tracing::debug!("stdout: {err}");
        }
    });
}

/// The failure digest on stderr: a table, or `{"digest":[…]}` in JSON mode.
fn print_summary(mode: OutputMode, digest: &[crate::control::protocol::DigestRow]) {
    if mode == OutputMode::Json {
        /// The summary in JSON output.
        #[derive(serde::Serialize)]
        struct Summary<'a> {
            digest: &'a [crate::control::protocol::DigestRow],
        }
        let line = serde_json::to_string(&Summary { digest }).expect("rows serialize") + "\n";
        report_to_stderr(line);
    } else {
        report_to_stderr(format!(
            "drover: summary\n{}",
            crate::control::client::format_digest(digest)
        ));
    }
}

/// How many last lines of each failed process the exit digest shows.
const DIGEST_LINES: usize = 10;

/// Writes `message` to stderr from a helper thread, waiting for it at most a
/// moment: stderr may be the same stuck pipe as stdout, and drover must exit.
fn report_to_stderr(message: String) {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = io::stderr().write_all(message.as_bytes());
        let _ = done_tx.send(());
    });
    let _ = done_rx.recv_timeout(Duration::from_millis(200));
}

/// File descriptor 1, written without any buffering of its own.
struct RawStdout(ManuallyDrop<File>);

impl RawStdout {
    fn new() -> Self {
        // SAFETY: fd 1 stays open for the life of the process; ManuallyDrop
        // keeps this File from closing it.
        Self(ManuallyDrop::new(unsafe { File::from_raw_fd(1) }))
    }
}

impl Write for RawStdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
