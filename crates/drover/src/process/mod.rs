//! The operating-system side of running processes: spawning each in its own
//! process group with its readers, signalling and reaping, cgroups, `/proc`,
//! readiness probes, sd_notify sockets and ports.
//!
//! Knows nothing of policy (when to start, restart or stop: that is the
//! supervisor's) and nothing of the wire or the TOML schema; never imports
//! the supervisor.

pub mod cgroup;
pub mod child;
pub mod command;
pub(crate) mod config_watch;
mod framing;
pub mod hooks;
pub mod instance;
pub mod keeper;
pub mod launcher;
pub mod limits;
pub mod notify;
pub mod os;
pub mod ports;
pub mod probe;
pub mod procfs;
pub mod pty;
pub mod runtime;
pub mod sigstate;
pub(crate) mod sockets;
pub(crate) mod spawn;
pub mod terminals;
pub mod watch;
