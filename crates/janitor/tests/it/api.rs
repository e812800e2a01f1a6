//! The parts of the API beside the lifecycle itself: the job count, job
//! errors kept as sources, the tracing span of each job and the
//! `CancellationToken` bridge (with the `tokio-util` feature). Paused clock.

use std::collections::HashMap;
use std::error::Error as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use janitor::{JanitorError, JobFailureCause};
use tokio::time::sleep;

fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn active_jobs_counts_the_jobs_not_yet_ended() {
    assert_eq!(janitor::active_jobs(), 0, "outside a janitor");
    janitor::enter_janitor(async {
        assert_eq!(janitor::active_jobs(), 0, "the callee is not a job");
        janitor::spawn_job(sleep(millis(1000)));
        janitor::job("b").spawn(sleep(millis(2000)));
        // Counted from the moment the spawn is accepted.
        assert_eq!(janitor::active_jobs(), 2);
        janitor::job("writer").stage(1).spawn(janitor::stopping());
        janitor::job("parent").spawn(async {
            janitor::job("child").spawn(sleep(millis(3000)));
            // A job sees the same count, itself included.
            assert_eq!(janitor::active_jobs(), 5);
            sleep(millis(3000)).await;
        });
        sleep(millis(500)).await;
        assert_eq!(janitor::active_jobs(), 5);
        sleep(millis(1000)).await;
        assert_eq!(janitor::active_jobs(), 4, "the first job ended at 1 s");
        sleep(millis(1000)).await;
        assert_eq!(janitor::active_jobs(), 3, "`b` ended at 2 s");
        sleep(millis(1000)).await;
        assert_eq!(janitor::active_jobs(), 1, "parent and child ended at 3 s");
    })
    .await;
    assert_eq!(janitor::active_jobs(), 0, "after the janitor");
}

#[tokio::test(start_paused = true)]
async fn failed_and_aborted_jobs_leave_the_count() {
    let result = janitor::builder()
        .grace_period(millis(100))
        .try_enter(async {
            janitor::job("deaf").spawn(std::future::pending::<()>());
            janitor::job("failing").spawn(async { Err::<(), _>(std::fmt::Error) });
            assert_eq!(janitor::active_jobs(), 2);
            // The failure stops stage 0; `deaf` is aborted after 100 ms.
            sleep(millis(1000)).await;
            janitor::active_jobs()
        })
        .await;
    assert_eq!(result.callee_output, 0);
    let err = result.janitor_result.expect_err("a job failed");
    assert_eq!(err.aborted(), ["deaf"]);
}

/// A library's error with a cause of its own.
#[derive(Debug, thiserror::Error)]
#[error("fetching the feed")]
struct FetchError(#[source] std::io::Error);

#[tokio::test(start_paused = true)]
async fn a_jobs_error_is_kept_as_the_failures_source() {
    let result = janitor::try_enter_janitor(async {
        janitor::job("fetcher")
            .spawn(async { Err::<(), _>(FetchError(std::io::Error::other("connection reset"))) });
    })
    .await;
    let err: JanitorError = result.janitor_result.expect_err("the job failed");
    let failure = &err.failures()[0];
    assert_eq!(failure.to_string(), "job `fetcher` failed");
    let source = failure.source().expect("the job's error is the source");
    let fetch = source
        .downcast_ref::<FetchError>()
        .expect("the source is the job's own error type");
    assert_eq!(fetch.0.to_string(), "connection reset");
    assert!(matches!(failure.cause(), JobFailureCause::Error(_)));
    // The janitor's source is the (first) failure; its report shows the
    // whole chain.
    let first = err.source().expect("a failure is the source");
    assert_eq!(first.to_string(), "job `fetcher` failed");
    assert!(
        err.to_string()
            .contains("job `fetcher` failed: fetching the feed: connection reset"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn anyhow_errors_and_boxed_errors_are_accepted() {
    let result = janitor::try_enter_janitor(async {
        janitor::job("anyhow").spawn(async {
            let err = anyhow::anyhow!("disk full").context("writing the log");
            Err::<(), _>(err)
        });
        janitor::job("boxed").spawn(async {
            let err: Box<dyn std::error::Error + Send + Sync> = "plain message".into();
            Err::<(), _>(err)
        });
    })
    .await;
    let text = result.janitor_result.expect_err("both failed").to_string();
    assert!(
        text.contains("job `anyhow` failed: writing the log: disk full"),
        "{text}"
    );
    assert!(text.contains("job `boxed` failed: plain message"), "{text}");
}

/// An event's message and the name of the job whose span it is in.
type Seen = (String, Option<String>);

/// Records, for each event, the `name` field of the `job` span it is in.
#[derive(Default, Clone)]
struct JobSpans {
    names: Arc<Mutex<HashMap<tracing::span::Id, String>>>,
    events: Arc<Mutex<Vec<Seen>>>,
}

struct FieldText<'a>(&'a str, &'a mut Option<String>);

impl tracing::field::Visit for FieldText<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == self.0 {
            *self.1 = Some(format!("{value:?}").trim_matches('"').to_owned());
        }
    }
}

impl<S> tracing_subscriber::Layer<S> for JobSpans
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        assert_eq!(attrs.metadata().target(), "janitor");
        if attrs.metadata().name() == "job" {
            let mut name = None;
            attrs.record(&mut FieldText("name", &mut name));
            let name = name.expect("a job span has a name");
            self.names.lock().unwrap().insert(id.clone(), name);
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let mut message = None;
        event.record(&mut FieldText("message", &mut message));
        let job = ctx
            .event_span(event)
            .and_then(|span| self.names.lock().unwrap().get(&span.id()).cloned());
        self.events
            .lock()
            .unwrap()
            .push((message.unwrap_or_default(), job));
    }
}

#[tokio::test(start_paused = true)]
async fn every_job_runs_in_a_span_with_its_name() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let layer = JobSpans::default();
    let subscriber = tracing_subscriber::registry().with(layer.clone());
    // This runtime has one thread, so the thread's default subscriber sees
    // every job.
    let _guard = tracing::subscriber::set_default(subscriber);
    // Whether a callsite is of interest is cached for every thread: one
    // first hit by a test on another thread, at the moment this subscriber
    // was being registered, may have been cached as of no interest.
    tracing::callsite::rebuild_interest_cache();
    janitor::enter_janitor(async {
        tracing::info!("in the callee");
        janitor::job("reader:web.1").spawn(async {
            tracing::info!("in a named job");
            janitor::spawn_job(async {
                tracing::info!("in an unnamed job");
            });
        });
    })
    .await;
    let mut events = layer.events.lock().unwrap().clone();
    events.sort();
    let expected = [
        ("in a named job", Some("reader:web.1")),
        ("in an unnamed job", Some("unnamed job #2")),
        ("in the callee", None),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(m, j)| (m.to_string(), j.map(str::to_owned)))
        .collect();
    assert_eq!(events, expected);
}

#[cfg(feature = "tokio-util")]
mod cancellation_token {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn is_cancelled_when_the_callers_stage_is_told_to_stop() {
        let cancelled_while_callee_ran = Arc::new(AtomicBool::new(true));
        let seen = Arc::clone(&cancelled_while_callee_ran);
        let (token_tx, token_rx) = tokio::sync::oneshot::channel();
        janitor::enter_janitor(async move {
            janitor::job("writer").stage(1).spawn(async move {
                let token = janitor::cancellation_token();
                // Handed to a bare task, which needs no janitor to see it.
                token_tx.send(token.clone()).unwrap();
                token.cancelled().await;
                assert!(janitor::is_stopping());
            });
            sleep(millis(60_000)).await;
            seen.store(token_rx.await.unwrap().is_cancelled(), SeqCst);
        })
        .await;
        assert!(!cancelled_while_callee_ran.load(SeqCst));
    }

    #[tokio::test(start_paused = true)]
    async fn follows_a_requested_stop_and_is_cancelled_at_once_afterwards() {
        janitor::enter_janitor(async {
            let token = janitor::cancellation_token();
            assert!(!token.is_cancelled());
            janitor::request_stop();
            token.cancelled().await;
            assert!(janitor::cancellation_token().is_cancelled());
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn cancelling_ones_own_token_stops_nothing_else() {
        janitor::enter_janitor(async {
            let mine = janitor::cancellation_token();
            mine.cancel();
            assert!(!janitor::cancellation_token().is_cancelled());
            assert!(!janitor::is_stopping());
        })
        .await;
        let outside = janitor::cancellation_token();
        tokio::time::timeout(millis(3_600_000), outside.cancelled())
            .await
            .expect_err("a token from outside any janitor is never cancelled");
    }
}
