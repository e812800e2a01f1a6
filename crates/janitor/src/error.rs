//! Errors janitor reports: refusals to spawn, and the summary of a janitor
//! whose jobs failed or had to be aborted. Nothing here decides anything.

use std::fmt;

/// Why [`try_spawn_daemon`](crate::try_spawn_daemon) and friends refused a job.
///
/// A refused job's future was dropped without being polled once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TrySpawnCleanupJobError {
    /// The caller runs outside any janitor.
    #[error("no active janitor: spawn from inside enter_janitor(…) or ensure_janitor(…)")]
    NoActiveJanitor,
    /// The ambient janitor has finished stopping and accepts no more jobs.
    #[error("the active janitor has finished stopping and accepts no new jobs")]
    ActiveJanitorTerminating,
}

/// How one job failed.
#[derive(Debug)]
pub enum JobFailureCause {
    /// The job returned an error.
    Error(anyhow::Error),
    /// The job panicked; this is the panic message.
    Panic(String),
}

/// One job that failed, by name.
#[derive(Debug)]
pub struct JobFailure {
    pub(crate) name: String,
    pub(crate) cause: JobFailureCause,
}

impl JobFailure {
    /// The job's name, or `unnamed job #N` if it was spawned without one.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What went wrong.
    pub fn cause(&self) -> &JobFailureCause {
        &self.cause
    }

    /// Whether the job panicked (rather than returned an error).
    pub fn is_panic(&self) -> bool {
        matches!(self.cause, JobFailureCause::Panic(_))
    }
}

impl fmt::Display for JobFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            JobFailureCause::Error(err) => write!(f, "job `{}` failed: {err:#}", self.name),
            JobFailureCause::Panic(msg) => write!(f, "job `{}` panicked: {msg}", self.name),
        }
    }
}

/// Everything that went wrong under one janitor: each failed job and each
/// job aborted because it outlived its stage's grace period.
///
/// It is the error inside
/// [`EnterJanitorResult::janitor_result`](crate::EnterJanitorResult::janitor_result);
/// get it back with `err.downcast_ref::<JanitorError>()`. Its `Display`
/// lists every entry, one per line.
#[derive(Debug)]
pub struct JanitorError {
    pub(crate) failures: Vec<JobFailure>,
    pub(crate) aborted: Vec<String>,
}

impl JanitorError {
    /// Every job that returned an error or panicked, in the order the
    /// janitor saw them end.
    pub fn failures(&self) -> &[JobFailure] {
        &self.failures
    }

    /// The names of the jobs aborted after their stage's grace period.
    pub fn aborted(&self) -> &[String] {
        &self.aborted
    }
}

impl fmt::Display for JanitorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let (failed, aborted) = (self.failures.len(), self.aborted.len());
        write!(
            f,
            "{failed} job{} failed, {aborted} job{} aborted after the grace period",
            plural(failed),
            plural(aborted)
        )?;
        for failure in &self.failures {
            write!(f, "\n  - {failure}")?;
        }
        for name in &self.aborted {
            write!(f, "\n  - job `{name}` was aborted after the grace period")?;
        }
        Ok(())
    }
}

impl std::error::Error for JanitorError {}
