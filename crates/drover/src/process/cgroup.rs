//! Optional cgroup v2 containment (`--cgroup`, or `cgroup = true` in
//! drover.toml): each start of a process runs in a cgroup of its own, so
//! that every descendant — also one that left the process group with
//! `setsid` — is signalled with it and killed with `cgroup.kill`, and the
//! start is over only when the cgroup is empty.
//!
//! Where it holds: a writable cgroup v2 hierarchy (root, or a delegated
//! subtree as under a systemd user session). Elsewhere drover says so once
//! and falls back to process groups plus the child-subreaper sweep.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use rustix::process::Pid;

use crate::process::keeper;

/// drover's own folder in the cgroup hierarchy; removed when dropped.
#[derive(Debug)]
pub struct CgroupRoot {
    dir: PathBuf,
}

/// The cgroup of one start of one process.
#[derive(Debug)]
pub struct Cgroup {
    dir: PathBuf,
    /// `…/cgroup.procs`, ready for the child to write its pid between fork
    /// and exec (no allocation there).
    procs: CString,
}

impl CgroupRoot {
    /// Creates `drover-PID` below drover's own cgroup.
    pub fn create() -> io::Result<Self> {
        let mount = cgroup2_mount()?;
        let own = std::fs::read_to_string("/proc/self/cgroup")?
            .lines()
            .find_map(|l| l.strip_prefix("0::").map(str::to_string))
            .ok_or_else(|| io::Error::other("drover is in no cgroup v2"))?;
        let dir = mount
            .join(own.trim_start_matches('/'))
            .join(format!("drover-{}", std::process::id()));
        std::fs::create_dir(&dir)?;
        keeper::add_cgroup(&dir);
        Ok(Self { dir })
    }

    /// A new, empty cgroup named `name` (e.g. `web.1-3`).
    pub fn child(&self, name: &str) -> io::Result<Cgroup> {
        let dir = self.dir.join(name);
        std::fs::create_dir(&dir)?;
        keeper::add_cgroup(&dir);
        let procs = CString::new(dir.join("cgroup.procs").as_os_str().as_bytes())
            .map_err(|_| io::Error::other("a cgroup path holds a NUL byte"))?;
        Ok(Cgroup { dir, procs })
    }
}

impl Drop for CgroupRoot {
    fn drop(&mut self) {
        // Only empty cgroups can be removed; children first.
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) && std::fs::remove_dir(e.path()).is_ok()
                {
                    keeper::remove_cgroup(&e.path());
                }
            }
        }
        if std::fs::remove_dir(&self.dir).is_ok() {
            keeper::remove_cgroup(&self.dir);
        }
    }
}

impl Cgroup {
    /// The path the child writes its pid to, between fork and exec.
    pub fn procs_path(&self) -> &CString {
        &self.procs
    }

    /// Whether any process is left in the cgroup.
    pub fn populated(&self) -> bool {
        std::fs::read_to_string(self.dir.join("cgroup.events"))
            .map(|events| events.lines().any(|l| l == "populated 1"))
            // Unreadable: assume the worst, so nothing is taken for gone.
            .unwrap_or(true)
    }

    /// Its `cgroup.procs` file, which lists its processes.
    pub fn procs_file(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// The processes in the cgroup.
    pub fn members(&self) -> Vec<Pid> {
        std::fs::read_to_string(self.dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .filter_map(Pid::from_raw)
            .collect()
    }

    /// Kills every process in the cgroup at once.
    pub fn kill(&self) -> io::Result<()> {
        std::fs::write(self.dir.join("cgroup.kill"), "1")
    }

    /// Removes the (empty) cgroup.
    pub fn remove(&self) {
        if std::fs::remove_dir(&self.dir).is_ok() {
            keeper::remove_cgroup(&self.dir);
        }
    }
}

/// Moves the calling process into the cgroup whose `cgroup.procs` is
/// `procs`. Only async-signal-safe calls: it runs between fork and exec.
pub fn join_from_child(procs: &CString) -> io::Result<()> {
    // SAFETY: open/write/close with a valid NUL-terminated path and a stack
    // buffer; no allocation, no locks.
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = [0u8; 12];
        let mut n = libc::getpid() as u32;
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let written = libc::write(fd, buf[i..].as_ptr().cast(), buf.len() - i);
        let err = io::Error::last_os_error();
        libc::close(fd);
        if written < 0 {
            return Err(err);
        }
    }
    Ok(())
}

/// Where the cgroup v2 hierarchy is mounted (from /proc/self/mountinfo).
fn cgroup2_mount() -> io::Result<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    info.lines()
        .find_map(|l| {
            // "… MOUNTPOINT OPTIONS … - FSTYPE SOURCE SUPEROPTS"
            let (left, right) = l.split_once(" - ")?;
            (right.split_whitespace().next()? == "cgroup2")
                .then(|| left.split_whitespace().nth(4).map(PathBuf::from))?
        })
        .filter(|p| Path::new(p).is_dir())
        .ok_or_else(|| io::Error::other("no cgroup v2 hierarchy is mounted"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs only where this user may create cgroups (root on a writable
    /// hierarchy); elsewhere it checks that creation fails cleanly.
    #[test]
    fn a_cgroup_holds_a_child_and_is_killed_and_removed() {
        let root = match CgroupRoot::create() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("cgroups not available here: {e}");
                return;
            }
        };
        let cg = root.child("t-1").unwrap();
        let procs = cg.procs_path().clone();
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("30");
        // SAFETY: join_from_child is async-signal-safe.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || join_from_child(&procs));
        }
        let mut child = cmd.spawn().unwrap();
        assert!(cg.populated());
        assert_eq!(
            cg.members(),
            vec![Pid::from_raw(child.id() as i32).unwrap()]
        );
        cg.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL)
        );
        // The kernel updates cgroup.events once the process is reaped.
        assert!(!cg.populated());
        cg.remove();
        drop(root);
    }
}
