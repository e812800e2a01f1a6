//! The keeper: what stops the app when drover itself is killed.
//!
//! `PR_SET_PDEATHSIG` reaches only drover's direct children, and the kernel
//! clears it when a child changes its credentials; grandchildren, daemons
//! and cgroups would outlive a `kill -9` of drover. So `drover start` forks
//! a keeper before its runtime starts any thread: a small single-threaded
//! process, in a process group of its own (Ctrl-C does not reach it), that
//! holds the read end of a pipe. drover writes one line to the pipe for each
//! process group it starts or sees gone, each descendant it adopts, and each
//! cgroup it makes. When drover's end closes while something is still
//! registered — drover died without stopping it — the keeper stops every
//! registered group and its descendants (found by their parent links in
//! `/proc`, frozen with SIGSTOP first so none can fork away), kills each
//! cgroup, says so on stderr, and exits. After a clean stop nothing is
//! registered and it exits silently.
//!
//! The keeper also keeps the registrations in a state file (see
//! [`state_path`]), so that when the keeper dies with drover (a `kill -9` of
//! both, the OOM killer), the next `drover start` in the same root stops
//! what was left ([`clean_up_leftovers`]). Every entry carries the start
//! time of its process, so a recycled pid is never signalled.
//!
//! The keeper is its own small program, `drover-keeper` beside `drover`
//! (built and installed with it): a fork of drover kept every page of
//! drover's code it touched, about 1.2 MB of PSS, where the program of its
//! own costs about 0.75 MB. Without that file (a `drover` copied alone),
//! drover forks the keeper as before.
//!
//! Files: `state` (what the keeper knows, and its state file), `stop`
//! (stopping what is registered, and what a dead drover left).
//!
//! Must not: allocate between fork and the keeper's own code (there is no
//! other thread at the fork, so the child is an ordinary process), or hold
//! any of drover's descriptors except the pipe and stderr (a reader of
//! drover's stdout must see its end when drover ends).

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

mod state;
mod stop;

use state::{State, StateFile};
pub use stop::clean_up_leftovers;
use stop::{describe, start_time, stop_everything};

/// The write end of the keeper's pipe, and the keeper's pid.
#[derive(Debug)]
struct Link {
    pipe: Mutex<File>,
    pid: i32,
}

static LINK: OnceLock<Link> = OnceLock::new();

/// The variable every process drover starts gets, naming this run of
/// drover; its descendants inherit it, so the keeper finds them even after
/// their parents died and they were re-parented.
pub const RUN_ID_VAR: &str = "DROVER_RUN_ID";

/// This run's id: drover's pid and start time.
static RUN_ID: OnceLock<String> = OnceLock::new();

/// How long the keeper waits for a killed cgroup to empty.
const CGROUP_WAIT: Duration = Duration::from_secs(2);

/// The keeper's program, beside drover's.
const PROGRAM: &str = "drover-keeper";

/// The descriptor the keeper's program reads its pipe on.
const PIPE_FD: i32 = 3;

/// Forks the keeper. Call before any thread exists (before the runtime);
/// later calls do nothing. `state` is where the registrations are kept.
pub fn start(state: PathBuf) -> io::Result<()> {
    if LINK.get().is_some() {
        return Ok(());
    }
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let drover = std::process::id() as i32;
    let run_id = RUN_ID.get_or_init(|| format!("{drover}.{}", start_time(drover).unwrap_or(0)));
    // A keeper program that does not run (a noexec mount, another
    // architecture) leaves the fork, as without one.
    let pid = match program().map(|p| exec_keeper(&p, &read, (drover, run_id), &state)) {
        Some(Ok(pid)) => {
            drop(read);
            pid
        }
        Some(Err(_)) | None => fork_keeper(read, (drover, run_id), &state)?,
    };
    let _ = LINK.set(Link {
        pipe: Mutex::new(File::from(write)),
        pid,
    });
    Ok(())
}

/// The keeper's own program, beside drover's.
fn program() -> Option<PathBuf> {
    let path = std::env::current_exe().ok()?.with_file_name(PROGRAM);
    let meta = std::fs::metadata(&path).ok()?;
    (meta.is_file() && meta.mode() & 0o111 != 0).then_some(path)
}

/// Starts `drover-keeper FD DROVER RUN_ID STATE` with the pipe's read end.
fn exec_keeper(
    program: &Path,
    read: &OwnedFd,
    (drover, run_id): (i32, &str),
    state: &Path,
) -> io::Result<i32> {
    let fd = read.as_raw_fd();
    let mut cmd = crate::process::spawn::Command::new(program);
    cmd.arg(PIPE_FD.to_string())
        .arg(drover.to_string())
        .arg(run_id)
        .arg(state);
    // SAFETY: dup2 is async-signal-safe; errors are raw errno values.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto another number clears close-on-exec on the copy;
            // the pipe may be that number already (fd 3 was free), and
            // then only clearing the flag keeps it open across exec.
            let r = if fd == PIPE_FD {
                libc::fcntl(fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, PIPE_FD)
            };
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    Ok(child.id() as i32)
}

/// Forks the keeper: the child runs [`keeper_main`] and never returns.
fn fork_keeper(read: OwnedFd, drover: (i32, &str), state: &Path) -> io::Result<i32> {
    // SAFETY: no other thread exists (the caller's contract), so the child
    // may run ordinary code: no lock can be held by a thread that is gone.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            let status = keeper_main(read, drover, state);
            // SAFETY: _exit skips the parent's atexit handlers and buffers.
            unsafe { libc::_exit(status) }
        }
        pid => Ok(pid),
    }
}

/// `drover-keeper FD DROVER RUN_ID STATE`: the keeper's own program (see
/// the module docs); returns its exit status. Not for people: drover
/// starts it.
pub fn program_main(args: &[std::ffi::OsString]) -> i32 {
    use std::os::fd::FromRawFd as _;
    let [_, fd, drover, run_id, state] = args else {
        let _ = writeln!(
            io::stderr(),
            "drover-keeper: started by drover, not by hand"
        );
        return 2;
    };
    let number = |s: &std::ffi::OsString| s.to_str().and_then(|s| s.parse::<i32>().ok());
    let (Some(fd), Some(drover), Some(run_id)) = (number(fd), number(drover), run_id.to_str())
    else {
        let _ = writeln!(
            io::stderr(),
            "drover-keeper: started by drover, not by hand"
        );
        return 2;
    };
    if fd != PIPE_FD {
        return 2;
    }
    // SAFETY: drover passed the pipe's read end as this descriptor; if it
    // is not open, or not a pipe, nothing is taken over.
    let pipe = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let is_pipe = rustix::fs::fstat(pipe).is_ok_and(|st| {
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Fifo
    });
    if !is_pipe {
        let _ = writeln!(
            io::stderr(),
            "drover-keeper: started by drover, not by hand"
        );
        return 2;
    }
    // SAFETY: checked above: an open pipe, drover's to hand over.
    let pipe = unsafe { OwnedFd::from_raw_fd(fd) };
    keeper_main(pipe, (drover, run_id), Path::new(state))
}

/// `DROVER_RUN_ID`'s value for the processes of this run, once the keeper
/// runs.
pub fn run_id() -> Option<&'static str> {
    LINK.get().and(RUN_ID.get()).map(String::as_str)
}

/// The keeper's pid, when there is one: it is drover's child but none of
/// the app's processes.
pub fn pid() -> Option<i32> {
    LINK.get().map(|l| l.pid)
}

/// Registers process group `pgid`, led by instance `name`.
pub fn add_group(pgid: i32, name: &str) {
    send(&format!("g+ {pgid} {}\n", one_line(name)));
}

/// Unregisters process group `pgid`: it is empty.
pub fn remove_group(pgid: i32) {
    send(&format!("g- {pgid}\n"));
}

/// Registers a descendant that left its group and was re-parented to drover.
pub fn add_pid(pid: i32) {
    send(&format!("p+ {pid}\n"));
}

/// Unregisters an adopted descendant: it was reaped.
pub fn remove_pid(pid: i32) {
    send(&format!("p- {pid}\n"));
}

/// Registers a cgroup drover made.
pub fn add_cgroup(path: &Path) {
    send(&format!("c+ {}\n", path.display()));
}

/// Unregisters a cgroup: it is empty and removed.
pub fn remove_cgroup(path: &Path) {
    send(&format!("c- {}\n", path.display()));
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

fn send(line: &str) {
    let Some(link) = LINK.get() else { return };
    let mut pipe = link.pipe.lock().unwrap_or_else(|e| e.into_inner());
    // A line under PIPE_BUF is written whole. If the keeper is gone there is
    // nobody to tell; drover's own stop still works.
    let _ = pipe.write_all(line.as_bytes());
}

/// Where the registrations of the drover running in `root` are kept: the
/// runtime folder (`$XDG_RUNTIME_DIR`, else a private folder in the temp
/// folder), one file per root.
pub fn state_path(root: &Path) -> io::Result<PathBuf> {
    crate::process::runtime::key_path(root, "keeper")
}

/// The keeper process: reads registrations until drover's end closes, then
/// stops what is left. Returns its exit status.
fn keeper_main(pipe: OwnedFd, (drover, run_id): (i32, &str), state_file: &Path) -> i32 {
    detach(&pipe);
    let mut state = State {
        drover: (drover, start_time(drover).unwrap_or(0)),
        run_id: run_id.to_string(),
        ..State::default()
    };
    let mut pipe = File::from(pipe);
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    // Only a keeper that wrote the state file removes it: a second drover
    // that gives up at once (another runs here) must not remove the first's.
    let mut file = StateFile::new(state_file);
    loop {
        match pipe.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
        let mut changes = String::new();
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            if let Some(change) = state.apply(String::from_utf8_lossy(&line[..nl]).as_ref()) {
                changes.push_str(&change);
            }
        }
        if !changes.is_empty() {
            file.record(&state, &changes);
        }
    }
    let wrote = file.wrote;
    if state.is_empty() {
        if wrote {
            let _ = std::fs::remove_file(state_file);
        }
        return 0;
    }
    let stopped = stop_everything(&state);
    let _ = std::fs::remove_file(state_file);
    let mut err = io::stderr();
    let _ = writeln!(
        err,
        "drover: drover (pid {drover}) ended without stopping its processes; \
         its keeper killed {}",
        describe(&stopped, &state)
    );
    0
}

/// Leaves drover's process group and descriptors: only `pipe` and stderr
/// stay; stdin and stdout read and write /dev/null.
fn detach(pipe: &OwnedFd) {
    // SAFETY: plain syscalls on the keeper's own process.
    unsafe {
        libc::setpgid(0, 0);
        for sig in [
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGHUP,
            libc::SIGTSTP,
            libc::SIGTTIN,
            libc::SIGTTOU,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGPIPE,
            libc::SIGALRM,
            libc::SIGWINCH,
        ] {
            libc::signal(sig, libc::SIG_IGN);
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        // SAFETY: dup2 onto the standard descriptors.
        unsafe {
            libc::dup2(null.as_raw_fd(), 0);
            libc::dup2(null.as_raw_fd(), 1);
        }
    }
    let keep = pipe.as_raw_fd();
    for fd in crate::process::limits::open_fds_above_stdio() {
        if fd != keep {
            // SAFETY: closing descriptors this process inherited and does
            // not use (the directory's own one is already closed).
            unsafe { libc::close(fd) };
        }
    }
}
