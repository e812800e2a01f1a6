//! The operating-system side of running processes: spawning each in its own
//! process group with its readers, cgroups, `/proc`, readiness probes,
//! sd_notify sockets and ports.
//!
//! Knows nothing of policy (when to start, restart or stop: that is the
//! supervisor's) and nothing of the wire or the TOML schema.

pub mod cgroup;
pub mod child;
pub mod command;
pub mod instance;
pub mod keeper;
pub mod limits;
pub mod notify;
pub mod ports;
pub mod probe;
pub mod procfs;
pub mod sigstate;
