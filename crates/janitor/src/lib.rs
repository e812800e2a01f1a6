//! Spawn background jobs from anywhere in a tokio program and know that every
//! one of them is awaited, stopped in order and reported before the
//! surrounding scope ends.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let seen = Arc::new(AtomicUsize::new(0));
//! let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
//!
//! let total = janitor::enter_janitor(async {
//!     // A writer in stage 1: it is told to stop only after every stage-0
//!     // job has ended, so it drains every line they sent.
//!     let writer_seen = Arc::clone(&seen);
//!     janitor::job("writer").stage(1).spawn(async move {
//!         loop {
//!             tokio::select! {
//!                 Some(_line) = rx.recv() => { writer_seen.fetch_add(1, SeqCst); }
//!                 _ = janitor::stopping() => {
//!                     while let Ok(_line) = rx.try_recv() { writer_seen.fetch_add(1, SeqCst); }
//!                     return Ok(());
//!                 }
//!             }
//!         }
//!     });
//!     // Producers in stage 0, one spawned from inside another: both are awaited.
//!     let outer_tx = tx.clone();
//!     janitor::spawn_named_daemon("producer", async move {
//!         janitor::spawn_named_daemon("nested producer", async move {
//!             (0..10).for_each(|n| outer_tx.send(n).expect("the writer outlives stage 0"));
//!             Ok(())
//!         });
//!         (0..10).for_each(|n| tx.send(n).expect("the writer outlives stage 0"));
//!         Ok(())
//!     });
//!     Ok::<_, std::convert::Infallible>(20)
//! })
//! .await
//! .unwrap();
//!
//! assert_eq!(seen.load(SeqCst), total);
//! assert!(!janitor::has_active_janitor());
//! # }
//! ```
//!
//! # Design
//!
//! - **Ambient.** [`enter_janitor`] runs a future (the *callee*) with a fresh
//!   janitor in a tokio task-local. Any code it calls, however deep, can
//!   [`spawn_daemon`] without being handed a `JoinSet`. Jobs carry the
//!   janitor with them: each job runs inside the same task-local scope, so a
//!   job spawned from a job (at any depth) belongs to the same janitor and
//!   is awaited. [`has_active_janitor`] is true in the callee and in every
//!   job, false outside and once the janitor has finished. A task started
//!   with a bare `tokio::spawn` belongs to no janitor.
//! - **Stages.** Every job has a stage (default: the stage of the code that
//!   spawns it; the callee is in stage 0). When the callee returns, the
//!   janitor waits for stage 0 to end on its own. Once every job of stage 0
//!   has ended, stage 1 is told to stop ([`stopping`] resolves for its
//!   jobs) and awaited, then stage 2, and so on. A log writer in stage 1
//!   whose channel never closes thus drains and ends when told, after every
//!   producer in stage 0 has ended.
//! - **Stop.** [`request_stop`], or any job failing (error or panic), starts
//!   an ordered stop: stage 0 (the callee included) is told to stop, gets
//!   the grace period (see [`JanitorBuilder::grace_period`], 5 s by
//!   default), then its remaining jobs are aborted; then the next stage
//!   likewise. A stage told to stop after a normal end gets the same grace
//!   period; a job spawned into a stage whose grace period has already run
//!   out is aborted at once. The callee is never aborted: the janitor waits
//!   for it.
//! - **Reports.** Every failure is kept, not only the first: the janitor's
//!   result is a [`JanitorError`] naming each failed job (with its error or
//!   panic message, in the order they ended) and each aborted job. Name jobs with [`job`] or
//!   [`spawn_named_daemon`]; unnamed ones are reported as `unnamed job #N`.
//! - **Admission.** Jobs may be spawned until the janitor has finished
//!   stopping, also while it waits for the last jobs to end (jobs spawning
//!   jobs). Afterwards `try_spawn_*` returns
//!   [`TrySpawnCleanupJobError::ActiveJanitorTerminating`] and the future is
//!   dropped without ever being polled.
//! - **Cancellation.** If the future returned by [`enter_janitor`] is
//!   dropped before it completes (or the callee panics), every job is
//!   aborted: none keeps running untracked.
//! - The callee need not be `Send`; jobs are `Send + 'static` and return
//!   `anyhow::Result<()>`. No lock is held across an `.await`.
//!
//! # Panicking and `try_` pairs
//!
//! [`enter_janitor`], [`ensure_janitor`], [`spawn_daemon`] and
//! [`JobBuilder::spawn`] panic when something went wrong that the caller
//! likely did not plan for: a job failed, or there is no janitor to spawn
//! into. Their `try_` twins return [`EnterJanitorResult`],
//! [`EnsureJanitorResult`] or [`TrySpawnCleanupJobError`] instead.
//!
//! # When to use janitor rather than …
//!
//! - **`tokio::task::JoinSet`**: it must be passed to every function that
//!   spawns (or those functions must return their handles), it has no notion
//!   of "please stop" or of a grace period, and on the first error it is up
//!   to you what becomes of the other tasks. Prefer a `JoinSet` for a batch
//!   of tasks spawned and joined in one place; prefer janitor when spawning
//!   happens deep in the call graph or inside the tasks themselves.
//! - **`tokio_util::task::TaskTracker`** with a `CancellationToken`: it waits
//!   for tasks, but the tracker and the token must be handed around, its
//!   `wait()` reports neither errors nor panics (you would await every
//!   `JoinHandle` yourself), and one token cancels everything at once.
//!   janitor adds failure reports by job name, a grace period followed by
//!   aborts, and stop in stages.
//! - **`tokio-graceful-shutdown`**: a tree of named subsystems with signal
//!   handling, error propagation and a shutdown timeout. Children are started
//!   through a `SubsystemHandle` that each subsystem receives, and a shutdown
//!   order other than the tree's is arranged by hand. Prefer it when a
//!   subsystem tree is how you think about the program; prefer janitor for
//!   ambient spawning from any code, with the order given by a stage number
//!   (a sink in stage 1 outlives every producer in stage 0) and a result you
//!   can downcast to [`JanitorError`].
//!
//! # Examples
//!
//! `crates/janitor/examples/` holds three programs, each run by a test:
//! `chat` (a loopback chat server that stops cleanly on Ctrl-C, delivering
//! every pending message), `broker` (a Unix-socket service whose state one
//! job owns, answering through `oneshot` channels) and `log_appender`
//! (children's output and the program's own log records through one channel
//! to one writer, with not a line lost at exit). Run one with
//! `cargo run -p janitor --example chat`.
//!
//! # Testing code that uses janitor
//!
//! janitor's own timers are tokio timers, so it runs on tokio's paused
//! clock (`#[tokio::test(start_paused = true)]`): grace periods elapse
//! instantly once every task waits, and tests never sleep for real.

#![warn(missing_docs)]

mod error;
mod result;
mod supervisor;

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use error::{JanitorError, JobFailure, JobFailureCause, TrySpawnCleanupJobError};
pub use result::{EnsureJanitorResult, EnterJanitorResult};

use supervisor::{Ctx, Shared, CURRENT};

/// The grace period a stage gets between being told to stop and its
/// remaining jobs being aborted, unless [`JanitorBuilder::grace_period`] says
/// otherwise.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(5);

/// Configure a janitor before entering it.
#[derive(Debug, Clone)]
pub struct JanitorBuilder {
    grace_period: Duration,
}

/// Start configuring a janitor; see [`JanitorBuilder`].
pub fn builder() -> JanitorBuilder {
    JanitorBuilder {
        grace_period: DEFAULT_GRACE_PERIOD,
    }
}

impl JanitorBuilder {
    /// How long a stage told to stop may take before its remaining jobs are
    /// aborted and reported. Default: [`DEFAULT_GRACE_PERIOD`] (5 s).
    pub fn grace_period(mut self, grace_period: Duration) -> Self {
        self.grace_period = grace_period;
        self
    }

    /// Like [`enter_janitor`], with this configuration.
    ///
    /// # Panics
    ///
    /// If a job failed or was aborted; the message lists every such job.
    pub async fn enter<T, E: Debug, F: Future<Output = Result<T, E>>>(self, f: F) -> Result<T, E> {
        self.try_enter(f).await.unwrap_janitor_result()
    }

    /// Like [`try_enter_janitor`], with this configuration.
    pub async fn try_enter<T, E, F: Future<Output = Result<T, E>>>(
        self,
        f: F,
    ) -> EnterJanitorResult<T, E> {
        let shared = Shared::new(self.grace_period);
        // Aborts every job if this future is dropped half-way or the callee
        // panics; a no-op once the supervisor has finished.
        let _abandon = AbandonOnDrop(Arc::clone(&shared));
        let ctx = Ctx {
            shared: Arc::clone(&shared),
            stage: 0,
        };
        let callee = async {
            let result = CURRENT.scope(ctx, f).await;
            shared.callee_done();
            result
        };
        let (callee_result, janitor_result) = tokio::join!(callee, shared.supervise());
        EnterJanitorResult::new(janitor_result, callee_result)
    }
}

struct AbandonOnDrop(Arc<Shared>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        self.0.abandon();
    }
}

/// Run `f` with a fresh janitor, then wait for every job spawned inside it
/// (see the crate docs for the order) and return `f`'s result.
///
/// # Panics
///
/// If a job failed or had to be aborted; the message lists every such job.
/// Use [`try_enter_janitor`] to handle that instead.
pub async fn enter_janitor<T, E: Debug, F: Future<Output = Result<T, E>>>(f: F) -> Result<T, E> {
    builder().enter(f).await
}

/// Run `f` with a fresh janitor, then wait for every job spawned inside it;
/// return both the janitor's verdict and `f`'s result.
pub async fn try_enter_janitor<T, E, F: Future<Output = Result<T, E>>>(
    f: F,
) -> EnterJanitorResult<T, E> {
    builder().try_enter(f).await
}

/// Run `f` under the ambient janitor if there is a live one, else like
/// [`enter_janitor`].
///
/// # Panics
///
/// If a janitor had to be entered and one of its jobs failed or was aborted.
pub async fn ensure_janitor<T, E: Debug, F: Future<Output = Result<T, E>>>(f: F) -> Result<T, E> {
    try_ensure_janitor(f).await.unwrap_janitor_result()
}

/// Run `f` under the ambient janitor if there is a live one (then
/// `janitor_result` is `None`: that janitor reports to whoever entered it),
/// else like [`try_enter_janitor`].
pub async fn try_ensure_janitor<T, E, F: Future<Output = Result<T, E>>>(
    f: F,
) -> EnsureJanitorResult<T, E> {
    if has_active_janitor() {
        EnsureJanitorResult::from_callee_result(f.await)
    } else {
        try_enter_janitor(f).await.into()
    }
}

/// Whether the caller runs inside a janitor (in its callee or one of its
/// jobs) that has not finished yet.
pub fn has_active_janitor() -> bool {
    Ctx::current().is_some_and(|ctx| ctx.shared.is_running())
}

/// Start a job under the ambient janitor, in the caller's stage.
///
/// Use it for work that runs alongside the caller, e.g. a connection
/// handler. Same as [`spawn_cleanup_job`]; the two names say why a job exists.
///
/// # Panics
///
/// Outside a janitor (wrap the program in [`enter_janitor`] or
/// [`ensure_janitor`]), or once the janitor has finished stopping.
pub fn spawn_daemon<F: Future<Output = anyhow::Result<()>> + Send + 'static>(f: F) {
    JobBuilder::unnamed().spawn(f)
}

/// Start a job under the ambient janitor, in the caller's stage.
///
/// Use it for cleanup that must finish before the program does, e.g. from a
/// destructor. Same as [`spawn_daemon`].
///
/// # Panics
///
/// Outside a janitor, or once the janitor has finished stopping.
pub fn spawn_cleanup_job<F: Future<Output = anyhow::Result<()>> + Send + 'static>(f: F) {
    JobBuilder::unnamed().spawn(f)
}

/// [`spawn_daemon`] that returns an error instead of panicking. A refused
/// future is dropped without ever being polled.
pub fn try_spawn_daemon<F: Future<Output = anyhow::Result<()>> + Send + 'static>(
    f: F,
) -> Result<(), TrySpawnCleanupJobError> {
    JobBuilder::unnamed().try_spawn(f)
}

/// [`spawn_cleanup_job`] that returns an error instead of panicking. A
/// refused future is dropped without ever being polled.
pub fn try_spawn_cleanup_job<F: Future<Output = anyhow::Result<()>> + Send + 'static>(
    f: F,
) -> Result<(), TrySpawnCleanupJobError> {
    JobBuilder::unnamed().try_spawn(f)
}

/// [`spawn_daemon`] with a name that reports use (`"reader:web.1"`).
///
/// # Panics
///
/// Outside a janitor, or once the janitor has finished stopping.
pub fn spawn_named_daemon<F: Future<Output = anyhow::Result<()>> + Send + 'static>(
    name: impl Into<String>,
    f: F,
) {
    job(name).spawn(f)
}

/// Describe a job to spawn: its name and, optionally, its stage.
pub fn job(name: impl Into<String>) -> JobBuilder {
    JobBuilder {
        name: Some(name.into()),
        stage: None,
    }
}

/// A job about to be spawned; see [`job`].
#[derive(Debug, Clone)]
#[must_use = "a JobBuilder does nothing until spawn or try_spawn is called"]
pub struct JobBuilder {
    name: Option<String>,
    stage: Option<u8>,
}

impl JobBuilder {
    fn unnamed() -> Self {
        JobBuilder {
            name: None,
            stage: None,
        }
    }

    /// Put the job in `stage`: it is told to stop only after every job of
    /// the stages below it has ended. Default: the spawning code's stage
    /// (the callee's is 0).
    pub fn stage(mut self, stage: u8) -> Self {
        self.stage = Some(stage);
        self
    }

    /// Start the job under the ambient janitor.
    ///
    /// # Panics
    ///
    /// Outside a janitor (wrap the program in [`enter_janitor`] or
    /// [`ensure_janitor`]), or once the janitor has finished stopping.
    pub fn spawn<F: Future<Output = anyhow::Result<()>> + Send + 'static>(self, f: F) {
        let name = self.name.clone();
        if let Err(err) = self.try_spawn(f) {
            let name = name.as_deref().unwrap_or("an unnamed job");
            panic!("cannot spawn {name}: {err}");
        }
    }

    /// Start the job under the ambient janitor, or say why not. A refused
    /// future is dropped without ever being polled.
    pub fn try_spawn<F: Future<Output = anyhow::Result<()>> + Send + 'static>(
        self,
        f: F,
    ) -> Result<(), TrySpawnCleanupJobError> {
        let ctx = Ctx::current().ok_or(TrySpawnCleanupJobError::NoActiveJanitor)?;
        let stage = self.stage.unwrap_or(ctx.stage);
        ctx.shared.spawn(self.name, stage, f)
    }
}

/// Resolves once the janitor tells the calling job's stage to stop (or at
/// once if it already has). Jobs `select!` on it to finish their work and
/// return.
///
/// Cancel-safe and cheap: `select!` on it in a loop, or call it again after
/// dropping it; once the stage was told, every call resolves at once.
///
/// Outside any janitor it never resolves: there is nobody to ask for a stop.
/// It looks the janitor up when first polled, so poll it from the job
/// itself, not from a task spawned with bare `tokio::spawn`.
pub async fn stopping() {
    let Some(ctx) = Ctx::current() else {
        return std::future::pending().await;
    };
    let mut signal = ctx.shared.stop_signal(ctx.stage);
    // An error means the sender is gone, which cannot happen while `ctx`
    // keeps the janitor alive; treat it as "stop" all the same.
    let _ = signal.wait_for(|stop| *stop).await;
}

/// Whether the calling job's stage has been told to stop. `false` outside
/// a janitor.
pub fn is_stopping() -> bool {
    Ctx::current().is_some_and(|ctx| ctx.shared.is_stage_stopping(ctx.stage))
}

/// Ask the ambient janitor to begin an ordered stop: stage 0 (the callee
/// included) is told to stop, gets the grace period, then its remaining jobs
/// are aborted; then the next stage likewise. A no-op outside a janitor.
pub fn request_stop() {
    if let Some(ctx) = Ctx::current() {
        ctx.shared.request_stop();
    }
}
