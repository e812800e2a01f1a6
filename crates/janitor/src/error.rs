//! Errors janitor reports: refusals to spawn, and the summary of a janitor
//! whose jobs failed or had to be aborted. Nothing here decides anything.

use std::error::Error;
use std::fmt;

/// A job's error, kept as the job returned it (boxed) so that it can be
/// downcast and its sources walked.
pub(crate) type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// Why [`try_spawn_job`](crate::try_spawn_job) or
/// [`JobBuilder::try_spawn`](crate::JobBuilder::try_spawn) refused a job.
///
/// A refused job's future was dropped without being polled once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrySpawnJobError {
    /// The caller runs outside any janitor.
    #[error("no active janitor: spawn from inside enter_janitor(…) or ensure_janitor(…)")]
    NoActiveJanitor,
    /// The ambient janitor has finished stopping and accepts no more jobs.
    #[error("the active janitor has finished stopping and accepts no new jobs")]
    ActiveJanitorTerminating,
}

/// How one job failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum JobFailureCause {
    /// The job returned this error (it is also the failure's
    /// [`source`](Error::source)).
    Error(Box<dyn Error + Send + Sync + 'static>),
    /// The job panicked; this is the panic message.
    Panic(String),
}

/// One job that failed, by name.
///
/// Its `Display` names the job and, for a panic, gives the message; a
/// returned error is its [`source`](Error::source), so that error reporters
/// print its whole chain once.
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
            JobFailureCause::Error(_) => write!(f, "job `{}` failed", self.name),
            JobFailureCause::Panic(msg) => write!(f, "job `{}` panicked: {msg}", self.name),
        }
    }
}

impl Error for JobFailure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.cause {
            JobFailureCause::Error(err) => Some(err.as_ref()),
            JobFailureCause::Panic(_) => None,
        }
    }
}

/// Everything that went wrong under one janitor: each failed job and each
/// job aborted because it outlived its stage's grace period.
///
/// It is the error in
/// [`EnterJanitorResult::janitor_result`](crate::EnterJanitorResult::janitor_result).
/// Its `Display` is a full report: a summary line, then one line per entry
/// with each failure's whole source chain. Its [`source`](Error::source) is
/// the first failure (whose own source is that job's error); the others are
/// in [`failures`](Self::failures).
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
            let mut source = failure.source();
            while let Some(err) = source {
                write!(f, ": {err}")?;
                source = err.source();
            }
        }
        for name in &self.aborted {
            write!(f, "\n  - job `{name}` was aborted after the grace period")?;
        }
        Ok(())
    }
}

impl Error for JanitorError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.failures.first().map(|failure| failure as &dyn Error)
    }
}

/// A job that ended neither by returning nor by a panic nor by janitor's
/// abort: something else cancelled its task (the runtime shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the job was cancelled behind the janitor's back")]
pub(crate) struct CancelledBehindTheJanitorsBack(#[source] pub(crate) tokio::task::JoinError);
