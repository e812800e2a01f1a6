//! The supervisor: the broker that owns the process table.
//!
//! It alone knows pids, exits, restarts, readiness and deadlines; readers,
//! probes, signal handlers and control connections only send it events, and
//! requests that want an answer carry a oneshot for it. Three parts:
//!
//! - `core/`: the policy, a pure state machine (`Event` in, `Action`s out)
//!   that knows nothing of the OS, the wire or the TOML schema;
//! - `shell`: the loop that collects events and runs actions through
//!   `process::`, feeding their answers back;
//! - `reports`: the `ps` rows, the digest rows and the exit status, as
//!   typed values.
//!
//! It must not touch stdout: everything it says goes through `tracing` as
//! `system` lines.
//!
//! Each start of a process is a *generation* with its own process group,
//! pipes and readers. A generation is over when its leader is reaped, its
//! group is empty and both its streams have ended. A group does not outlive
//! its leader by more than the stop timeout: when the leader exits and the
//! group lingers, the group gets the stop signal, then SIGKILL.
//!
//! Shutdown: the first stop trigger (a signal, a process ending for good,
//! stdout closing, `drover shutdown`) sends each running process its stop
//! signal — a process only once nothing that depends on it still runs — and
//! arms its deadline; at the deadline, or on a second signal, SIGKILL. The
//! supervisor returns once every generation is over.

pub(crate) mod core;
mod events;
pub(crate) mod reports;
mod shell;

pub(crate) use self::core::{Answer, Command, Refusal};
pub(crate) use shell::{run, ControlRequest};

#[cfg(test)]
mod tests;
