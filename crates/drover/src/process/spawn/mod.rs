//! Starting a program without copying drover: `clone(CLONE_VM |
//! CLONE_VFORK)` on a stack of its own, as the C library's `posix_spawn`
//! does, with `pre_exec` steps that `posix_spawn` cannot take (the death
//! signal, the cgroup, a controlling terminal).
//!
//! `std::process::Command` forks as soon as a `pre_exec` step is set, and a
//! fork copies the page tables of the whole drover, which grow with every
//! process it runs: with 1,000 processes drover's own start-up was mostly
//! the kernel copying and tearing down its address space once per spawn.
//! Here the child shares drover's memory until it calls `execve`, and the
//! calling thread waits until then; drover's other threads go on.
//!
//! Owns: building argv, envp and the `PATH` candidates before the clone,
//! and the child's side up to `execve`. The same contract as `pre_exec`:
//! between clone and exec only async-signal-safe calls, no allocation, and
//! errors are raw errno values. The child starts with every signal blocked
//! (the parent blocks them around the clone), so none of drover's handlers
//! can run in it; [`crate::process::sigstate::child_defaults`] then resets
//! them and unblocks.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

use guard::{BlockedSignals, Stack};

/// The start of the entry [`Command::listen_pid`] adds.
const LISTEN_PID: &[u8] = b"LISTEN_PID=";

/// Where one of the child's standard streams goes.
#[derive(Debug)]
pub(crate) enum Stdio {
    /// drover's own.
    Inherit,
    /// `/dev/null`.
    Null,
    /// A new pipe; the parent keeps the other end.
    Piped,
    /// This descriptor (a pseudo-terminal's slave, say).
    Fd(OwnedFd),
}

impl Stdio {
    /// `/dev/null`.
    pub(crate) fn null() -> Self {
        Stdio::Null
    }

    /// A pipe to the parent.
    pub(crate) fn piped() -> Self {
        Stdio::Piped
    }
}

impl From<OwnedFd> for Stdio {
    fn from(fd: OwnedFd) -> Self {
        Stdio::Fd(fd)
    }
}

/// A step run in the child before `execve` (see the module docs).
type Step = Box<dyn FnMut() -> io::Result<()> + Send + Sync>;

/// A program to start, with the parts of `std::process::Command` drover
/// uses and the same meaning: the environment is drover's with the changes
/// made here, a program name without `/` is looked up in the child's
/// `PATH`, and a file that is not an executable format runs with `/bin/sh`.
pub(crate) struct Command {
    program: OsString,
    args: Vec<OsString>,
    env: BTreeMap<OsString, Option<OsString>>,
    cwd: Option<PathBuf>,
    stdio: [Stdio; 3],
    group: bool,
    listen_pid: bool,
    steps: Vec<Step>,
}

/// A started child.
#[derive(Debug)]
pub(crate) struct Child {
    pid: u32,
    /// The read end of its stdout, when piped.
    pub stdout: Option<OwnedFd>,
    /// The read end of its stderr, when piped.
    pub stderr: Option<OwnedFd>,
}

impl Child {
    /// Its pid.
    pub(crate) fn id(&self) -> u32 {
        self.pid
    }
}

impl Command {
    /// Runs `program`; stdin, stdout and stderr are drover's unless set.
    pub(crate) fn new(program: impl AsRef<OsStr>) -> Self {
        Self {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: BTreeMap::new(),
            cwd: None,
            stdio: [Stdio::Inherit, Stdio::Inherit, Stdio::Inherit],
            group: false,
            listen_pid: false,
            steps: Vec::new(),
        }
    }

    /// Adds an argument.
    pub(crate) fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub(crate) fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets a variable.
    pub(crate) fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.env
            .insert(key.as_ref().to_owned(), Some(value.as_ref().to_owned()));
        self
    }

    /// Sets variables.
    pub(crate) fn envs<I, K, V>(&mut self, vars: I) -> &mut Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self.env(k, v);
        }
        self
    }

    /// Removes a variable.
    pub(crate) fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.env.insert(key.as_ref().to_owned(), None);
        self
    }

    /// Sets the working directory.
    pub(crate) fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Sets stdin.
    pub(crate) fn stdin(&mut self, io: impl Into<Stdio>) -> &mut Self {
        self.stdio[0] = io.into();
        self
    }

    /// Sets stdout.
    pub(crate) fn stdout(&mut self, io: impl Into<Stdio>) -> &mut Self {
        self.stdio[1] = io.into();
        self
    }

    /// Sets stderr.
    pub(crate) fn stderr(&mut self, io: impl Into<Stdio>) -> &mut Self {
        self.stdio[2] = io.into();
        self
    }

    /// Makes the child the leader of a new process group (only `0`, its own
    /// pid, is supported).
    pub(crate) fn process_group(&mut self, pgid: i32) -> &mut Self {
        debug_assert_eq!(pgid, 0, "only a group of its own");
        self.group = true;
        self
    }

    /// Sets `LISTEN_PID` to the child's own pid (socket activation: a
    /// program takes the sockets passed to it only if the variable names
    /// it). The pid is known only in the child, which writes it into a
    /// buffer made for it here.
    pub(crate) fn listen_pid(&mut self) -> &mut Self {
        self.listen_pid = true;
        self.env_remove("LISTEN_PID");
        self
    }

    /// Adds a step run in the child before `execve`, after the group, the
    /// standard streams and the working directory are set.
    ///
    /// # Safety
    ///
    /// As for `std::os::unix::process::CommandExt::pre_exec`: the step runs
    /// in a child that shares drover's memory; it may only make
    /// async-signal-safe calls, must not allocate or take locks, and must
    /// report errors as raw errno values.
    pub(crate) unsafe fn pre_exec<F>(&mut self, step: F) -> &mut Self
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static,
    {
        self.steps.push(Box::new(step));
        self
    }

    /// Starts the child and returns once it has called `execve` (or failed
    /// to: then the error is its errno and the child has been reaped).
    pub(crate) fn spawn(&mut self) -> io::Result<Child> {
        let env = self.envp();
        let path = env
            .iter()
            .find_map(|(k, v)| (k == "PATH").then_some(v.clone()));
        let plan = Plan {
            candidates: candidates(&self.program, path.as_deref())?,
            argv: self
                .args
                .iter()
                .map(|a| cstring(a))
                .collect::<io::Result<Vec<_>>>()?,
            argv0: cstring(&self.program)?,
            envp: env
                .iter()
                .map(|(k, v)| {
                    let mut kv = k.clone();
                    kv.push("=");
                    kv.push(v);
                    cstring(&kv)
                })
                .collect::<io::Result<Vec<_>>>()?,
            cwd: self
                .cwd
                .as_deref()
                .map(|d| cstring(d.as_os_str()))
                .transpose()?,
        };
        let mut parent_ends: [Option<OwnedFd>; 3] = [None, None, None];
        let mut child_fds: [RawFd; 3] = [-1; 3];
        let mut keep: Vec<OwnedFd> = Vec::new();
        for (i, io) in self.stdio.iter_mut().enumerate() {
            let fd = match std::mem::replace(io, Stdio::Inherit) {
                Stdio::Inherit => continue,
                Stdio::Null => open_null()?,
                Stdio::Fd(fd) => fd,
                Stdio::Piped => {
                    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
                    parent_ends[i] = Some(read);
                    write
                }
            };
            // Above the standard numbers, so that setting 0, 1 and 2 in the
            // child never overwrites a source still to be used.
            let fd = above_stdio(fd)?;
            child_fds[i] = fd.as_raw_fd();
            keep.push(fd);
        }
        // `LISTEN_PID=` and room for any pid and its NUL.
        let mut listen_pid = self.listen_pid.then(|| {
            let mut buf = LISTEN_PID.to_vec();
            buf.resize(LISTEN_PID.len() + 12, 0);
            buf
        });
        let pid = plan.clone_child(
            child_fds,
            self.group,
            listen_pid.as_deref_mut(),
            &mut self.steps,
        )?;
        drop(keep);
        Ok(Child {
            pid,
            stdout: parent_ends[1].take(),
            stderr: parent_ends[2].take(),
        })
    }

    /// The child's environment: drover's with this command's changes.
    fn envp(&self) -> Vec<(OsString, OsString)> {
        let mut vars: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
        for (k, v) in &self.env {
            match v {
                Some(v) => vars.insert(k.clone(), v.clone()),
                None => vars.remove(k),
            };
        }
        vars.into_iter().collect()
    }
}

/// Everything the child needs, built before the clone.
struct Plan {
    /// The paths to try, in order.
    candidates: Vec<CString>,
    argv0: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: Option<CString>,
}

/// What the child reads, through the pointer the clone passes it.
struct ChildArgs<'a> {
    candidates: &'a [CString],
    argv: Vec<*const libc::c_char>,
    /// `/bin/sh PATH ARGS...` for a file that is not an executable format;
    /// the child sets slot 1 to the candidate that failed so.
    sh_argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    cwd: Option<&'a CString>,
    stdio: [RawFd; 3],
    group: bool,
    /// The `LISTEN_PID=` entry of `envp`, for the child to finish.
    listen_pid: Option<*mut u8>,
    steps: &'a mut [Step],
    /// The child's errno if it fails before or at `execve`; 0 otherwise.
    error: AtomicI32,
}

impl Plan {
    fn clone_child(
        &self,
        stdio: [RawFd; 3],
        group: bool,
        listen_pid: Option<&mut [u8]>,
        steps: &mut [Step],
    ) -> io::Result<u32> {
        let null = std::ptr::null::<libc::c_char>();
        let mut argv = vec![self.argv0.as_ptr()];
        argv.extend(self.argv.iter().map(|a| a.as_ptr()));
        argv.push(null);
        let mut sh_argv = vec![c"sh".as_ptr(), null];
        sh_argv.extend(self.argv.iter().map(|a| a.as_ptr()));
        sh_argv.push(null);
        let mut envp: Vec<_> = self.envp.iter().map(|e| e.as_ptr()).collect();
        let listen_pid = listen_pid.map(|buf| {
            // One pointer for both: the child writes through it, execve reads.
            let at = buf.as_mut_ptr();
            envp.push(at.cast_const().cast());
            at
        });
        envp.push(null);
        let mut args = ChildArgs {
            candidates: &self.candidates,
            argv,
            sh_argv,
            envp,
            cwd: self.cwd.as_ref(),
            stdio,
            group,
            listen_pid,
            steps,
            error: AtomicI32::new(0),
        };
        let stack = Stack::new()?;
        let pid = {
            let _blocked = BlockedSignals::new();
            // SAFETY: the child runs `child_main` on its own stack and only
            // reads `args` (alive in this frame: CLONE_VFORK suspends this
            // thread until the child has called execve or exited).
            unsafe {
                libc::clone(
                    child_main,
                    stack.top(),
                    libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                    std::ptr::from_mut(&mut args).cast(),
                )
            }
        };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        let errno = args.error.load(Ordering::Acquire);
        if errno != 0 {
            // It has exited; reap it here, nobody else knows it.
            // SAFETY: waitpid on our own child's pid.
            unsafe {
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
            return Err(io::Error::from_raw_os_error(errno));
        }
        Ok(pid.unsigned_abs())
    }
}

/// The child's side, from the clone to `execve`.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's `ChildArgs`, alive while it waits.
    let args = unsafe { &mut *arg.cast::<ChildArgs>() };
    let errno = match child_setup(args) {
        Ok(()) => exec(args),
        Err(e) => e.raw_os_error().unwrap_or(libc::EINVAL),
    };
    args.error.store(errno, Ordering::Release);
    // SAFETY: leaving the child without running anything of drover's.
    unsafe { libc::_exit(127) }
}

fn child_setup(args: &mut ChildArgs) -> io::Result<()> {
    let check = |r: libc::c_int| {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    // SAFETY: raw system calls on descriptors and this child's own state.
    unsafe {
        if args.group {
            check(libc::setpgid(0, 0))?;
        }
        for (target, fd) in args.stdio.iter().enumerate() {
            // -1: drover's own. dup2 onto another number clears
            // close-on-exec on the copy.
            if *fd >= 0 {
                check(libc::dup2(*fd, target as RawFd))?;
            }
        }
        if let Some(dir) = args.cwd {
            check(libc::chdir(dir.as_ptr()))?;
        }
    }
    if let Some(buf) = args.listen_pid {
        // SAFETY: getpid has no preconditions; `buf` has room for
        // `LISTEN_PID=`, ten digits and a NUL (see `spawn`).
        unsafe { write_pid(buf.add(LISTEN_PID.len()), libc::getpid()) };
    }
    for step in args.steps.iter_mut() {
        step()?;
    }
    Ok(())
}

/// Writes `pid` in decimal and a NUL at `at`, without allocating.
///
/// # Safety
///
/// `at` must have room for 11 bytes.
unsafe fn write_pid(at: *mut u8, pid: libc::pid_t) {
    let mut digits = [0u8; 10];
    let mut n = pid.unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        // SAFETY: within the 11 bytes the caller promises.
        unsafe { *at.add(i) = digits[len - 1 - i] };
    }
    // SAFETY: as above.
    unsafe { *at.add(len) = 0 };
}

/// Tries each candidate as `execvp` does; returns the errno to report.
fn exec(args: &mut ChildArgs) -> i32 {
    let mut error = libc::ENOENT;
    let mut denied = false;
    for path in args.candidates {
        // SAFETY: NUL-terminated arrays of pointers to live C strings.
        unsafe {
            libc::execve(path.as_ptr(), args.argv.as_ptr(), args.envp.as_ptr());
        }
        error = io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL);
        match error {
            libc::ENOEXEC => {
                args.sh_argv[1] = path.as_ptr();
                // SAFETY: as above.
                unsafe {
                    libc::execve(
                        c"/bin/sh".as_ptr(),
                        args.sh_argv.as_ptr(),
                        args.envp.as_ptr(),
                    );
                }
                return io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EINVAL);
            }
            libc::EACCES => denied = true,
            libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
            _ => return error,
        }
    }
    if denied {
        libc::EACCES
    } else {
        error
    }
}

/// The paths `execvp` would try for `program` with this `PATH`.
fn candidates(program: &OsStr, path: Option<&OsStr>) -> io::Result<Vec<CString>> {
    if program.as_bytes().contains(&b'/') {
        return Ok(vec![cstring(program)?]);
    }
    let path = path.map_or_else(|| OsString::from("/bin:/usr/bin"), OsStr::to_owned);
    path.as_bytes()
        .split(|b| *b == b':')
        .map(|dir| {
            let dir = if dir.is_empty() { b"." as &[u8] } else { dir };
            let mut full = PathBuf::from(OsStr::from_bytes(dir));
            full.push(program);
            cstring(full.as_os_str())
        })
        .collect()
}

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{:?} contains a NUL byte", s),
        )
    })
}

fn open_null() -> io::Result<OwnedFd> {
    Ok(std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?
        .into())
}

/// `fd` itself if its number is above 2, else a copy that is.
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: as in `dup`.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

mod guard;

#[cfg(test)]
mod tests;
