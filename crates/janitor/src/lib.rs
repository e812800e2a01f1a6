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
//! // The callee may return any value; the janitor hands it back once every
//! // job has ended (and panics if one failed: see `try_enter_janitor`).
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
//!                     return;
//!                 }
//!             }
//!         }
//!     });
//!     // Producers in stage 0, one spawned from inside another: both are
//!     // awaited. A job returns `()` or a `Result<(), E>` for any error E.
//!     let outer_tx = tx.clone();
//!     janitor::job("producer").spawn(async move {
//!         janitor::job("nested producer").spawn(async move {
//!             for n in 0..10 {
//!                 outer_tx.send(n)?;
//!             }
//!             Ok::<_, tokio::sync::mpsc::error::SendError<u32>>(())
//!         });
//!         (0..10).for_each(|n| tx.send(n).expect("the writer outlives stage 0"));
//!     });
//!     20
//! })
//! .await;
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
//!   [`spawn_job`] (or [`job`]`(name).spawn(…)`) without being handed a
//!   `JoinSet`. Jobs carry the janitor with them: each job runs inside the
//!   same task-local scope, so a job spawned from a job (at any depth)
//!   belongs to the same janitor and is awaited. [`has_active_janitor`] is
//!   true in the callee and in every job, false outside and once the janitor
//!   has finished; [`active_jobs`] counts the jobs not yet ended. A task
//!   started with a bare `tokio::spawn` belongs to no janitor.
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
//!   result is a [`JanitorError`] naming each failed job (with its error,
//!   kept as the [`JobFailure`]'s source, or its panic message, in the order
//!   they ended) and each aborted job. Name jobs with [`job`]; unnamed ones
//!   are reported as `unnamed job #N`.
//! - **Admission.** Jobs may be spawned until the janitor has finished
//!   stopping, also while it waits for the last jobs to end (jobs spawning
//!   jobs). Afterwards [`try_spawn_job`] returns
//!   [`TrySpawnJobError::ActiveJanitorTerminating`] and the future is
//!   dropped without ever being polled.
//! - **Cancellation.** If the future returned by [`enter_janitor`] is
//!   dropped before it completes (or the callee panics), every job is
//!   aborted: none keeps running untracked.
//! - The callee need not be `Send` and may return any type; jobs are
//!   `Send + 'static` and return a [`JobOutput`]: `()` or `Result<(), E>`.
//!   No lock is held across an `.await`.
//!
//! # Panicking and `try_` pairs
//!
//! [`enter_janitor`], [`ensure_janitor`], [`spawn_job`] and
//! [`JobBuilder::spawn`] panic when something went wrong that the caller
//! likely did not plan for: a job failed, or there is no janitor to spawn
//! into. Their `try_` twins return [`EnterJanitorResult`],
//! [`EnsureJanitorResult`] or [`TrySpawnJobError`] instead.
//!
//! # Integrations
//!
//! - **tracing**: every job runs in an `INFO` span named `job`, with its
//!   `name` and `stage` as fields (target `janitor`).
//! - **tokio-util** (feature `tokio-util`, off by default):
//!   `cancellation_token()` returns a `CancellationToken` cancelled when
//!   [`stopping`] would resolve, for code written against tokio-util.
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
//!   (a sink in stage 1 outlives every producer in stage 0) and a typed
//!   [`JanitorError`] listing every failure.
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
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod result;
mod supervisor;

use std::error::Error;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use error::{JanitorError, JobFailure, JobFailureCause, TrySpawnJobError};
pub use result::{EnsureJanitorResult, EnterJanitorResult};

use error::BoxError;
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
    pub async fn enter<F: Future>(self, f: F) -> F::Output {
        self.try_enter(f).await.unwrap()
    }

    /// Like [`try_enter_janitor`], with this configuration.
    pub async fn try_enter<F: Future>(self, f: F) -> EnterJanitorResult<F::Output> {
        let shared = Shared::new(self.grace_period);
        // Aborts every job if this future is dropped half-way or the callee
        // panics; a no-op once the supervisor has finished.
        let _abandon = AbandonOnDrop(Arc::clone(&shared));
        let ctx = Ctx {
            shared: Arc::clone(&shared),
            stage: 0,
        };
        let callee = async {
            let output = CURRENT.scope(ctx, f).await;
            shared.callee_done();
            output
        };
        let (callee_output, janitor_result) = tokio::join!(callee, shared.supervise());
        EnterJanitorResult::new(janitor_result, callee_output)
    }
}

struct AbandonOnDrop(Arc<Shared>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        self.0.abandon();
    }
}

/// Run `f` with a fresh janitor, then wait for every job spawned inside it
/// (see the crate docs for the order) and return what `f` returned, whatever
/// its type.
///
/// # Panics
///
/// If a job failed or had to be aborted; the message lists every such job.
/// Use [`try_enter_janitor`] to handle that instead.
pub async fn enter_janitor<F: Future>(f: F) -> F::Output {
    builder().enter(f).await
}

/// Run `f` with a fresh janitor, then wait for every job spawned inside it;
/// return both the janitor's verdict and what `f` returned.
pub async fn try_enter_janitor<F: Future>(f: F) -> EnterJanitorResult<F::Output> {
    builder().try_enter(f).await
}

/// Run `f` under the ambient janitor if there is a live one, else like
/// [`enter_janitor`].
///
/// # Panics
///
/// If a janitor had to be entered and one of its jobs failed or was aborted.
pub async fn ensure_janitor<F: Future>(f: F) -> F::Output {
    try_ensure_janitor(f).await.unwrap()
}

/// Run `f` under the ambient janitor if there is a live one (then
/// `janitor_result` is `None`: that janitor reports to whoever entered it),
/// else like [`try_enter_janitor`].
pub async fn try_ensure_janitor<F: Future>(f: F) -> EnsureJanitorResult<F::Output> {
    if has_active_janitor() {
        EnsureJanitorResult::from_callee_output(f.await)
    } else {
        try_enter_janitor(f).await.into()
    }
}

/// Whether the caller runs inside a janitor (in its callee or one of its
/// jobs) that has not finished yet.
pub fn has_active_janitor() -> bool {
    Ctx::current().is_some_and(|ctx| ctx.shared.is_running())
}

/// How many jobs of the ambient janitor have been spawned and not ended yet,
/// over every stage; the callee does not count. `0` outside a janitor.
///
/// A job counts from the moment its spawn is accepted until its future is
/// dropped (it returned, panicked or was aborted).
pub fn active_jobs() -> usize {
    Ctx::current().map_or(0, |ctx| ctx.shared.active_jobs())
}

/// What a job's future may return: `()` for a job that cannot fail, or
/// `Result<(), E>` for any error `E` that converts into
/// `Box<dyn Error + Send + Sync>`: every `E: Error + Send + Sync + 'static`,
/// a boxed error, or an error-reporting type such as `anyhow::Error`.
///
/// An error is kept, boxed, as the [`source`](Error::source) of the
/// [`JobFailure`] that reports it. This trait is sealed.
pub trait JobOutput: sealed::Sealed {
    /// The job's outcome as janitor stores it.
    #[doc(hidden)]
    fn into_job_result(self) -> Result<(), Box<dyn Error + Send + Sync + 'static>>;
}

impl JobOutput for () {
    fn into_job_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<E: Into<BoxError>> JobOutput for Result<(), E> {
    fn into_job_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}

mod sealed {
    /// Keeps [`super::JobOutput`] to the two shapes janitor documents.
    pub trait Sealed {}
    impl Sealed for () {}
    impl<E: Into<super::BoxError>> Sealed for Result<(), E> {}
}

/// Start an unnamed job under the ambient janitor, in the caller's stage.
///
/// Use it for anything that runs alongside the caller and must end before
/// the janitor does: a connection handler, a flush started from a
/// destructor. To give the job a name (for reports and its tracing span) or
/// another stage, use [`job`]. The job is reported as `unnamed job #N`.
///
/// # Panics
///
/// Outside a janitor (wrap the program in [`enter_janitor`] or
/// [`ensure_janitor`]), or once the janitor has finished stopping. Use
/// [`try_spawn_job`] to handle that instead.
#[track_caller]
pub fn spawn_job<F>(f: F)
where
    F: Future + Send + 'static,
    F::Output: JobOutput,
{
    JobBuilder::unnamed().spawn(f)
}

/// [`spawn_job`] that returns an error instead of panicking. A refused
/// future is dropped without ever being polled.
pub fn try_spawn_job<F>(f: F) -> Result<(), TrySpawnJobError>
where
    F: Future + Send + 'static,
    F::Output: JobOutput,
{
    JobBuilder::unnamed().try_spawn(f)
}

/// Describe a job to spawn: its name (used in reports and as its tracing
/// span's `name` field) and, optionally, its stage.
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
    /// The job runs inside an `INFO` [tracing] span named `job` with the
    /// fields `name` and `stage`, so its own events carry its name.
    ///
    /// # Panics
    ///
    /// Outside a janitor (wrap the program in [`enter_janitor`] or
    /// [`ensure_janitor`]), or once the janitor has finished stopping. Use
    /// [`try_spawn`](Self::try_spawn) to handle that instead.
    #[track_caller]
    pub fn spawn<F>(self, f: F)
    where
        F: Future + Send + 'static,
        F::Output: JobOutput,
    {
        let name = self.name.clone();
        if let Err(err) = self.try_spawn(f) {
            let name = name.as_deref().unwrap_or("an unnamed job");
            panic!("cannot spawn {name}: {err}");
        }
    }

    /// Start the job under the ambient janitor, or say why not. A refused
    /// future is dropped without ever being polled.
    pub fn try_spawn<F>(self, f: F) -> Result<(), TrySpawnJobError>
    where
        F: Future + Send + 'static,
        F::Output: JobOutput,
    {
        let ctx = Ctx::current().ok_or(TrySpawnJobError::NoActiveJanitor)?;
        let stage = self.stage.unwrap_or(ctx.stage);
        let job = async move { f.await.into_job_result() };
        ctx.shared.spawn(self.name, stage, job)
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

/// A [`CancellationToken`](tokio_util::sync::CancellationToken) cancelled
/// when the janitor tells the caller's stage to stop (already cancelled if
/// it has): the same moment [`stopping`] resolves, for code that takes a
/// token.
///
/// Each call returns a child token: cancelling it stops nothing else. Call
/// it from the job (or the callee) itself; the token can then be handed to
/// any task. Outside any janitor the token is never cancelled by janitor.
#[cfg(feature = "tokio-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio-util")))]
pub fn cancellation_token() -> tokio_util::sync::CancellationToken {
    match Ctx::current() {
        Some(ctx) => ctx.shared.cancellation_token(ctx.stage),
        None => tokio_util::sync::CancellationToken::new(),
    }
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

/// The README's example, run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
