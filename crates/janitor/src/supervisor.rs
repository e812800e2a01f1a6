//! The state one janitor shares with its jobs, and the supervisor that the
//! entering task polls beside the callee: it reaps ended jobs, records
//! failures, tells stages to stop in order and aborts what outlives its grace
//! period. It never runs user code while holding the state lock, and it never
//! holds that lock across an `.await` (it is a plain `poll` function).

use std::any::Any;
use std::collections::BTreeMap;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::{Instant, Sleep};
use tracing::Instrument as _;

use crate::error::{
    BoxError, CancelledBehindTheJanitorsBack, JanitorError, JobFailure, JobFailureCause,
    TrySpawnJobError,
};

/// What every job returns, once its own output is converted.
pub(crate) type JobResult = Result<(), BoxError>;

tokio::task_local! {
    /// The janitor (and the stage) the running code belongs to. Set around
    /// the callee and around every job, since `tokio::spawn` does not carry
    /// task-locals into the new task.
    pub(crate) static CURRENT: Ctx;
}

/// A task's membership: which janitor, which stage.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) stage: u8,
}

impl Ctx {
    /// The ambient membership, if the caller runs inside a janitor.
    pub(crate) fn current() -> Option<Ctx> {
        CURRENT.try_with(Ctx::clone).ok()
    }
}

/// One janitor: its state behind a lock that is only ever held briefly.
pub(crate) struct Shared {
    state: Mutex<State>,
    grace: Duration,
}

struct State {
    /// `Finished` once the supervisor saw nothing left to wait for; from then
    /// on every spawn is refused.
    finished: bool,
    /// Set by [`crate::request_stop`] and by any failed or aborted job: stop
    /// every stage in order, starting with stage 0, each with a grace period.
    stop_requested: bool,
    /// The callee counts as a member of stage 0 until it returns.
    callee_done: bool,
    stages: BTreeMap<u8, Stage>,
    /// Numbers jobs, for `unnamed job #N`.
    jobs_spawned: u64,
    /// Jobs admitted whose future has not been dropped yet: what
    /// [`crate::active_jobs`] reports.
    active: usize,
    failures: Vec<JobFailure>,
    aborted: Vec<String>,
    /// Jobs whose future was dropped (it returned, panicked or was aborted)
    /// and whose join handle the supervisor has not collected yet. Only
    /// these are polled, so an ended job costs O(1), not O(jobs).
    ended: Vec<(u8, u64)>,
    /// Woken whenever something the supervisor waits for changed: a job was
    /// added or ended, a stop requested, the callee returned.
    supervisor: Option<Waker>,
}

struct Stage {
    jobs: BTreeMap<u64, Job>,
    /// Spawns admitted but whose task is not yet in `jobs` (the task is
    /// spawned outside the lock). The stage is live while this is non-zero.
    spawning: usize,
    /// `true` once this stage was told to stop; [`crate::stopping`] waits on it.
    stop: watch::Sender<bool>,
    /// Set when the stage is told to stop: after it, remaining jobs are aborted.
    deadline: Option<Instant>,
    /// Cancelled together with `stop`; callers get child tokens, so that
    /// one caller cancelling its token cannot stop the whole stage.
    #[cfg(feature = "tokio-util")]
    cancel: tokio_util::sync::CancellationToken,
}

struct Job {
    name: String,
    handle: JoinHandle<JobResult>,
    aborted: bool,
}

/// What the supervisor does next, decided by [`State::step`].
#[must_use]
enum Step {
    /// Wait for a job to end, for a wake-up, or until the given deadline.
    Wait { until: Option<Instant> },
    /// Nothing is live and nothing can be spawned any more.
    Finished,
}

impl Stage {
    fn new() -> Self {
        Stage {
            jobs: BTreeMap::new(),
            spawning: 0,
            stop: watch::Sender::new(false),
            deadline: None,
            #[cfg(feature = "tokio-util")]
            cancel: tokio_util::sync::CancellationToken::new(),
        }
    }

    /// Tell the stage's jobs to stop: [`crate::stopping`] resolves and
    /// cancellation tokens are cancelled.
    fn tell_stop(&mut self) {
        self.stop.send_replace(true);
        #[cfg(feature = "tokio-util")]
        self.cancel.cancel();
    }

    fn is_live(&self) -> bool {
        !self.jobs.is_empty() || self.spawning > 0
    }
}

impl Shared {
    pub(crate) fn new(grace: Duration) -> Arc<Self> {
        Arc::new(Shared {
            state: Mutex::new(State {
                finished: false,
                stop_requested: false,
                callee_done: false,
                stages: BTreeMap::new(),
                jobs_spawned: 0,
                active: 0,
                failures: Vec::new(),
                aborted: Vec::new(),
                ended: Vec::new(),
                supervisor: None,
            }),
            grace,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("janitor state lock poisoned: janitor never runs user code while holding it")
    }

    /// Wake the supervisor; called with the lock released.
    fn wake(waker: Option<Waker>) {
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub(crate) fn is_running(&self) -> bool {
        !self.lock().finished
    }

    /// Start `fut` as a job of `stage`, or refuse without ever polling it.
    pub(crate) fn spawn<F>(
        self: &Arc<Self>,
        name: Option<String>,
        stage: u8,
        fut: F,
    ) -> Result<(), TrySpawnJobError>
    where
        F: Future<Output = JobResult> + Send + 'static,
    {
        let id = {
            let mut state = self.lock();
            if state.finished {
                return Err(TrySpawnJobError::ActiveJanitorTerminating);
            }
            state.jobs_spawned += 1;
            state.active += 1;
            state.stage_mut(stage).spawning += 1;
            state.jobs_spawned
        };
        let name = name.unwrap_or_else(|| format!("unnamed job #{id}"));
        let span = tracing::info_span!(target: "janitor", "job", name = %name, stage);
        let ctx = Ctx {
            shared: Arc::clone(self),
            stage,
        };
        let ended = JobEnded {
            shared: Arc::clone(self),
            stage,
            id,
        };
        let job = async move {
            // Dropped with the future however it ends, even unpolled.
            let _ended = ended;
            CURRENT.scope(ctx, fut).await
        }
        .instrument(span);
        // Spawned with the lock released: a runtime that is shutting down
        // drops the future inside `spawn`, and its destructor (and
        // `JobEnded`) call back into janitor.
        let handle = tokio::spawn(job);
        let waker = {
            let mut state = self.lock();
            let stage = state.stage_mut(stage);
            stage.spawning = stage
                .spawning
                .checked_sub(1)
                .expect("a spawn in flight was counted when it was admitted");
            stage.jobs.insert(
                id,
                Job {
                    name,
                    handle,
                    aborted: false,
                },
            );
            state.supervisor.take()
        };
        Self::wake(waker);
        Ok(())
    }

    pub(crate) fn request_stop(&self) {
        let waker = {
            let mut state = self.lock();
            state.stop_requested = true;
            state.supervisor.take()
        };
        Self::wake(waker);
    }

    pub(crate) fn callee_done(&self) {
        let waker = {
            let mut state = self.lock();
            state.callee_done = true;
            state.supervisor.take()
        };
        Self::wake(waker);
    }

    /// How many jobs have been admitted and not ended yet.
    pub(crate) fn active_jobs(&self) -> usize {
        self.lock().active
    }

    /// A token cancelled once `stage` is told to stop (at once if it was).
    #[cfg(feature = "tokio-util")]
    pub(crate) fn cancellation_token(&self, stage: u8) -> tokio_util::sync::CancellationToken {
        self.lock().stage_mut(stage).cancel.child_token()
    }

    /// A receiver that turns `true` once `stage` is told to stop.
    pub(crate) fn stop_signal(&self, stage: u8) -> watch::Receiver<bool> {
        self.lock().stage_mut(stage).stop.subscribe()
    }

    pub(crate) fn is_stage_stopping(&self, stage: u8) -> bool {
        self.lock()
            .stages
            .get(&stage)
            .is_some_and(|stage| *stage.stop.borrow())
    }

    /// Run until every job has ended and the callee returned; then report.
    pub(crate) async fn supervise(&self) -> Result<(), JanitorError> {
        let mut timer = None;
        poll_fn(|cx| self.poll_supervise(cx, &mut timer)).await;
        let mut state = self.lock();
        let failures = std::mem::take(&mut state.failures);
        let aborted = std::mem::take(&mut state.aborted);
        if failures.is_empty() && aborted.is_empty() {
            Ok(())
        } else {
            Err(JanitorError { failures, aborted })
        }
    }

    fn poll_supervise(
        &self,
        cx: &mut Context<'_>,
        timer: &mut Option<Pin<Box<Sleep>>>,
    ) -> Poll<()> {
        loop {
            // Panic payloads (user values with arbitrary destructors) are
            // dropped, and tasks aborted, only once the lock is released.
            let mut payloads = Vec::new();
            let mut to_abort = Vec::new();
            let step = {
                let mut state = self.lock();
                state.reap(cx, &mut payloads);
                let step = state.step(Instant::now(), self.grace, &mut to_abort);
                // Registered before the aborts below, whose `JobEnded` wakes it.
                state.supervisor = Some(cx.waker().clone());
                step
            };
            drop(payloads);
            to_abort.iter().for_each(AbortHandle::abort);
            let deadline = match step {
                Step::Finished => return Poll::Ready(()),
                Step::Wait { until: None } => return Poll::Pending,
                Step::Wait {
                    until: Some(deadline),
                } => deadline,
            };
            let sleep = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            sleep.as_mut().reset(deadline);
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The deadline passed: step again, which aborts.
        }
    }

    /// The entering future was dropped before the janitor finished (it was
    /// cancelled, or the callee panicked): abort every job so that none keeps
    /// running untracked, and refuse further spawns.
    pub(crate) fn abandon(&self) {
        let to_abort: Vec<AbortHandle> = {
            let mut state = self.lock();
            if state.finished {
                return;
            }
            state.finished = true;
            let stages = state.stages.values();
            stages
                .flat_map(|stage| stage.jobs.values())
                .map(|job| job.handle.abort_handle())
                .collect()
        };
        to_abort.iter().for_each(AbortHandle::abort);
    }
}

impl State {
    fn stage_mut(&mut self, stage: u8) -> &mut Stage {
        self.stages.entry(stage).or_insert_with(Stage::new)
    }

    /// Collect the jobs that ended; record failures and aborts.
    fn reap(&mut self, cx: &mut Context<'_>, payloads: &mut Vec<Box<dyn Any + Send>>) {
        let mut ended = Vec::new();
        let mut not_yet = Vec::new();
        for (stage, id) in std::mem::take(&mut self.ended) {
            let jobs = &mut self.stage_mut(stage).jobs;
            // A job can end before its spawner has recorded it, and its
            // output is stored only after its future is dropped: look again
            // when woken (by the spawner or by the join handle).
            let Some(job) = jobs.get_mut(&id) else {
                not_yet.push((stage, id));
                continue;
            };
            match Pin::new(&mut job.handle).poll(cx) {
                Poll::Pending => not_yet.push((stage, id)),
                Poll::Ready(result) => {
                    let job = jobs.remove(&id).expect("the job was found just above");
                    ended.push((job.name, job.aborted, result));
                }
            }
        }
        self.ended = not_yet;
        for (name, aborted, result) in ended {
            let cause = match result {
                Ok(Ok(())) => continue,
                Ok(Err(err)) => JobFailureCause::Error(err),
                Err(err) if err.is_panic() => {
                    let payload = err.into_panic();
                    let message = panic_message(payload.as_ref());
                    payloads.push(payload);
                    JobFailureCause::Panic(message)
                }
                Err(_) if aborted => {
                    self.stop_requested = true;
                    self.aborted.push(name);
                    continue;
                }
                Err(err) => JobFailureCause::Error(Box::new(CancelledBehindTheJanitorsBack(err))),
            };
            self.stop_requested = true;
            self.failures.push(JobFailure { name, cause });
        }
    }

    /// Decide what to do now: tell stages to stop, in order, and mark the
    /// jobs that outlived their stage's grace period as aborted. Their abort
    /// handles go to `to_abort`; the caller aborts them once the lock is
    /// released.
    fn step(&mut self, now: Instant, grace: Duration, to_abort: &mut Vec<AbortHandle>) -> Step {
        let first_live_stage = self
            .stages
            .iter()
            .find(|(_, stage)| stage.is_live())
            .map(|(&n, _)| n);
        let lowest = match (self.callee_done, first_live_stage) {
            (false, _) => 0,
            (true, Some(n)) => n,
            (true, None) => {
                self.finished = true;
                return Step::Finished;
            }
        };
        // A requested stop (or a failure) stops stage 0 too; a normal end
        // lets stage 0 finish on its own and stops later stages in order.
        let first_told = if self.stop_requested {
            Some(0)
        } else if self.callee_done {
            Some(1)
        } else {
            None
        };
        if let Some(first_told) = first_told {
            for n in first_told..=lowest {
                let stage = self.stage_mut(n);
                if stage.deadline.is_none() {
                    stage.deadline = Some(now + grace);
                    stage.tell_stop();
                }
            }
        }
        let Some(stage) = self.stages.get_mut(&lowest) else {
            return Step::Wait { until: None };
        };
        match stage.deadline {
            Some(deadline) if now >= deadline => {
                for job in stage.jobs.values_mut().filter(|job| !job.aborted) {
                    job.aborted = true;
                    to_abort.push(job.handle.abort_handle());
                }
                Step::Wait { until: None }
            }
            until => Step::Wait { until },
        }
    }
}

/// Tells the supervisor that a job's future is gone.
struct JobEnded {
    shared: Arc<Shared>,
    stage: u8,
    id: u64,
}

impl Drop for JobEnded {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.shared.lock();
            state.active = state
                .active
                .checked_sub(1)
                .expect("every ending job was counted when it was admitted");
            state.ended.push((self.stage, self.id));
            state.supervisor.take()
        };
        Shared::wake(waker);
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic payload that is not a string".to_owned()
    }
}

/// The stop policy, decided by [`State::step`] alone, without a supervisor.
#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(5);

    fn state() -> State {
        let shared = Shared::new(GRACE);
        let shared = Arc::into_inner(shared).expect("no clone was made");
        shared.state.into_inner().expect("fresh lock")
    }

    /// Adds a job that never ends to `stage`.
    fn add_job(state: &mut State, stage: u8, name: &str) {
        state.jobs_spawned += 1;
        let id = state.jobs_spawned;
        let job = Job {
            name: name.to_owned(),
            handle: tokio::spawn(std::future::pending()),
            aborted: false,
        };
        state.stage_mut(stage).jobs.insert(id, job);
    }

    fn told(state: &State, stage: u8) -> bool {
        state
            .stages
            .get(&stage)
            .is_some_and(|stage| *stage.stop.borrow())
    }

    fn step(state: &mut State, now: Instant) -> (Step, Vec<AbortHandle>) {
        let mut to_abort = Vec::new();
        let step = state.step(now, GRACE, &mut to_abort);
        (step, to_abort)
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_told_while_the_callee_runs() {
        let mut state = state();
        add_job(&mut state, 0, "a");
        add_job(&mut state, 1, "writer");
        let (next, aborts) = step(&mut state, Instant::now());
        assert!(matches!(next, Step::Wait { until: None }));
        assert!(aborts.is_empty());
        assert!(!told(&state, 0) && !told(&state, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_normal_end_tells_the_next_stage_only_once_the_earlier_ones_are_empty() {
        let mut state = state();
        state.callee_done = true;
        add_job(&mut state, 0, "a");
        add_job(&mut state, 2, "writer");
        let now = Instant::now();
        let _ = step(&mut state, now);
        assert!(
            !told(&state, 0),
            "stage 0 ends on its own after a normal end"
        );
        assert!(!told(&state, 2));

        state.stage_mut(0).jobs.clear();
        let (next, _) = step(&mut state, now);
        assert!(told(&state, 1) && told(&state, 2));
        assert!(matches!(next, Step::Wait { until: Some(t) } if t == now + GRACE));
    }

    #[tokio::test(start_paused = true)]
    async fn a_requested_stop_tells_stage_zero_then_aborts_it_after_the_grace_period() {
        let mut state = state();
        state.stop_requested = true;
        add_job(&mut state, 0, "a");
        add_job(&mut state, 1, "writer");
        let now = Instant::now();
        let (next, aborts) = step(&mut state, now);
        assert!(told(&state, 0) && !told(&state, 1));
        assert!(matches!(next, Step::Wait { until: Some(t) } if t == now + GRACE));
        assert!(aborts.is_empty());

        let (next, aborts) = step(&mut state, now + GRACE);
        assert!(matches!(next, Step::Wait { until: None }));
        assert_eq!(aborts.len(), 1);
        assert!(state.stages[&0].jobs.values().all(|job| job.aborted));
        assert!(!told(&state, 1), "stage 1 waits until stage 0 is gone");
        // Aborted once, not at every step.
        assert!(step(&mut state, now + GRACE).1.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_spawn_in_flight_keeps_its_stage_live() {
        let mut state = state();
        state.callee_done = true;
        state.stage_mut(0).spawning = 1;
        assert!(matches!(
            step(&mut state, Instant::now()).0,
            Step::Wait { .. }
        ));
        assert!(!state.finished);
        state.stage_mut(0).spawning = 0;
        assert!(matches!(step(&mut state, Instant::now()).0, Step::Finished));
        assert!(state.finished);
    }
}
