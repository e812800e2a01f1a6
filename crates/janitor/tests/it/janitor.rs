//! Behaviour of the janitor on tokio's paused clock: time only moves when
//! every task waits, so these tests never sleep for real.

use std::future::pending;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use janitor::{JanitorError, TrySpawnJobError};
use tokio::time::{sleep, Instant};

/// Fails a test that hangs instead of hanging the suite. On the paused
/// clock an idle runtime jumps straight to this deadline.
async fn within<F: std::future::Future<Output = ()>>(test: F) {
    tokio::time::timeout(Duration::from_secs(24 * 3600), test)
        .await
        .expect("the test hung for a virtual day: a janitor never finished");
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The `JanitorError` inside a janitor result, which must be an error.
fn janitor_error(result: &Result<(), JanitorError>) -> &JanitorError {
    result.as_ref().expect_err("the janitor should have failed")
}

/// Spawns a job that sleeps, counts itself, and spawns `fanout` children
/// one level deeper, down to `depth` levels.
fn spawn_tree(counter: Arc<AtomicUsize>, depth: u32, fanout: u32) {
    janitor::spawn_job(async move {
        sleep(Duration::from_millis(10 * u64::from(depth))).await;
        if depth > 1 {
            for _ in 0..fanout {
                spawn_tree(Arc::clone(&counter), depth - 1, fanout);
            }
        }
        sleep(secs(1)).await;
        counter.fetch_add(1, SeqCst);
    });
}

#[tokio::test(start_paused = true)]
async fn nested_spawns_at_depth_four_are_all_awaited() {
    within(async move {
        let counter = Arc::new(AtomicUsize::new(0));
        let in_callee = Arc::clone(&counter);
        janitor::enter_janitor(async move {
            spawn_tree(in_callee, 4, 3);
        })
        .await;
        // 1 + 3 + 9 + 27 jobs, spawned by jobs after the callee had returned.
        assert_eq!(counter.load(SeqCst), 40);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn has_active_janitor_inside_callee_and_nested_jobs_only() {
    within(async move {
        assert!(!janitor::has_active_janitor());
        let seen_in_nested_job = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&seen_in_nested_job);
        janitor::enter_janitor(async move {
            assert!(janitor::has_active_janitor());
            janitor::spawn_job(async move {
                janitor::spawn_job(async move {
                    sleep(secs(1)).await;
                    seen.store(janitor::has_active_janitor(), SeqCst);
                });
            });
            // A bare tokio task is not a member of the janitor.
            let bare = tokio::spawn(async { janitor::has_active_janitor() });
            assert!(!bare.await.unwrap());
        })
        .await;
        assert!(seen_in_nested_job.load(SeqCst));
        assert!(!janitor::has_active_janitor());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn one_failing_job_stops_the_others_which_are_awaited() {
    within(async move {
        let cleaned_up = Arc::new(AtomicBool::new(false));
        let cleaned = Arc::clone(&cleaned_up);
        let callee_told = Arc::new(AtomicBool::new(false));
        let told = Arc::clone(&callee_told);
        let result = janitor::try_enter_janitor(async move {
            janitor::job("failing").spawn(async {
                sleep(secs(1)).await;
                anyhow::bail!("disk on fire")
            });
            janitor::job("polite").spawn(async move {
                janitor::stopping().await;
                // Cleanup that takes a while, but less than the grace period.
                sleep(secs(2)).await;
                cleaned.store(true, SeqCst);
            });
            // The callee belongs to stage 0 and is told to stop as well.
            janitor::stopping().await;
            told.store(true, SeqCst);
        })
        .await;
        assert!(cleaned_up.load(SeqCst), "the polite job was not awaited");
        assert!(callee_told.load(SeqCst));
        let err = janitor_error(&result.janitor_result);
        assert_eq!(err.failures().len(), 1);
        assert_eq!(err.failures()[0].name(), "failing");
        assert!(err.to_string().contains("disk on fire"), "{err}");
        assert!(err.aborted().is_empty(), "{err}");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn two_failing_jobs_are_both_reported() {
    within(async move {
        let result = janitor::try_enter_janitor(async {
            janitor::job("first").spawn(async {
                sleep(secs(1)).await;
                anyhow::bail!("first reason")
            });
            janitor::job("second").spawn(async {
                janitor::stopping().await;
                anyhow::bail!("second reason")
            });
            // Unnamed jobs are numbered in spawn order.
            janitor::spawn_job(async {
                janitor::stopping().await;
                sleep(secs(1)).await;
                anyhow::bail!("third reason")
            });
        })
        .await;
        let err = janitor_error(&result.janitor_result);
        let names: Vec<_> = err.failures().iter().map(|f| f.name()).collect();
        assert_eq!(names, ["first", "second", "unnamed job #3"], "{err}");
        let text = err.to_string();
        for reason in ["first reason", "second reason", "third reason"] {
            assert!(text.contains(reason), "{text}");
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_failure_after_the_callee_returned_stops_stage_zero() {
    within(async move {
        let result = janitor::builder()
            .grace_period(secs(3))
            .try_enter(async {
                janitor::job("late failure").spawn(async {
                    sleep(secs(10)).await;
                    anyhow::bail!("gave up")
                });
                janitor::job("server").spawn(async {
                    janitor::stopping().await;
                });
            })
            .await;
        let err = janitor_error(&result.janitor_result);
        assert_eq!(err.failures().len(), 1);
        assert!(err.aborted().is_empty(), "{err}");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_panic_is_reported_with_the_jobs_name_and_message() {
    within(async move {
        let result = janitor::try_enter_janitor(async {
            // A named `async fn`: a diverging async block has no output
            // type for `JobOutput` to accept.
            async fn panics_after_a_second() {
                sleep(secs(1)).await;
                panic!("index out of bounds");
            }
            janitor::job("reader:web.1").spawn(panics_after_a_second());
        })
        .await;
        let err = janitor_error(&result.janitor_result);
        let failure = &err.failures()[0];
        assert_eq!(failure.name(), "reader:web.1");
        assert!(failure.is_panic());
        assert_eq!(
            failure.to_string(),
            "job `reader:web.1` panicked: index out of bounds"
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "job `a` failed: reason a")]
async fn enter_janitor_panics_listing_every_failure() {
    within(async move {
        janitor::enter_janitor(async {
            janitor::job("a").spawn(async { anyhow::bail!("reason a") });
            janitor::job("b").spawn(async { anyhow::bail!("reason b") });
        })
        .await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn enter_janitor_panic_message_names_both_failures() {
    within(async move {
        let panic = tokio::spawn(janitor::enter_janitor(async {
            janitor::job("a").spawn(async { anyhow::bail!("reason a") });
            janitor::job("b").spawn(async { anyhow::bail!("reason b") });
        }))
        .await
        .expect_err("enter_janitor should panic")
        .into_panic();
        let message = panic
            .downcast_ref::<String>()
            .expect("panic message is a String");
        assert!(message.contains("job `a` failed: reason a"), "{message}");
        assert!(message.contains("job `b` failed: reason b"), "{message}");
    })
    .await;
}

/// Tries to spawn a cleanup job when dropped, recording the outcome and
/// whether the refused future ever ran.
struct SpawnOnDrop {
    outcome: Arc<Mutex<Option<Result<(), TrySpawnJobError>>>>,
    ran: Arc<AtomicBool>,
}

impl Drop for SpawnOnDrop {
    fn drop(&mut self) {
        let ran = Arc::clone(&self.ran);
        let outcome = janitor::try_spawn_job(async move {
            ran.store(true, SeqCst);
        });
        *self.outcome.lock().unwrap() = Some(outcome);
    }
}

#[tokio::test(start_paused = true)]
async fn a_refused_spawn_never_runs_the_future() {
    within(async move {
        let outcome = Arc::new(Mutex::new(None));
        let ran = Arc::new(AtomicBool::new(false));
        let guard = SpawnOnDrop {
            outcome: Arc::clone(&outcome),
            ran: Arc::clone(&ran),
        };
        // Dropping the entered janitor half-way aborts its jobs; the job's
        // destructor then meets a janitor that accepts nothing more.
        let entered = janitor::enter_janitor(async move {
            janitor::job("holder").spawn(async move {
                let _guard = guard;
                pending::<()>().await;
            });
            pending::<()>().await
        });
        tokio::time::timeout(secs(1), entered)
            .await
            .expect_err("the callee never returns");
        for _ in 0..100 {
            if outcome.lock().unwrap().is_some() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(
            *outcome.lock().unwrap(),
            Some(Err(TrySpawnJobError::ActiveJanitorTerminating))
        );
        sleep(secs(1)).await;
        assert!(!ran.load(SeqCst), "a refused job was run");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn spawning_outside_a_janitor_is_refused() {
    within(async move {
        let ran = Arc::new(AtomicBool::new(false));
        let in_job = Arc::clone(&ran);
        let outcome = janitor::try_spawn_job(async move {
            in_job.store(true, SeqCst);
        });
        assert_eq!(outcome, Err(TrySpawnJobError::NoActiveJanitor));
        assert_eq!(
            janitor::job("x").stage(1).try_spawn(async {}),
            Err(TrySpawnJobError::NoActiveJanitor)
        );
        tokio::task::yield_now().await;
        assert!(!ran.load(SeqCst));
    })
    .await;
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "cannot spawn an unnamed job: no active janitor")]
async fn spawn_job_outside_a_janitor_panics() {
    within(async move {
        janitor::spawn_job(async {});
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_job_ignoring_stop_is_aborted_after_the_grace_period_and_named() {
    within(async move {
        let start = Instant::now();
        let result = janitor::builder()
            .grace_period(secs(2))
            .try_enter(async {
                async fn deaf() {
                    loop {
                        sleep(secs(1)).await;
                    }
                }
                janitor::job("stubborn").spawn(deaf());
                janitor::job("polite").spawn(async {
                    janitor::stopping().await;
                });
                sleep(secs(1)).await;
                janitor::request_stop();
            })
            .await;
        assert_eq!(start.elapsed(), secs(3), "request at 1 s, grace of 2 s");
        let err = janitor_error(&result.janitor_result);
        assert_eq!(err.aborted(), ["stubborn"]);
        assert!(err.failures().is_empty(), "{err}");
        assert!(err.to_string().contains("job `stubborn` was aborted"));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn default_grace_period_is_five_seconds() {
    within(async move {
        let start = Instant::now();
        let result = janitor::try_enter_janitor(async {
            janitor::job("stubborn").spawn(pending::<()>());
            janitor::request_stop();
        })
        .await;
        assert_eq!(start.elapsed(), janitor::DEFAULT_GRACE_PERIOD);
        assert_eq!(
            janitor_error(&result.janitor_result).aborted(),
            ["stubborn"]
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_later_stage_is_stopped_only_after_every_earlier_stage_ended() {
    within(async move {
        const PRODUCERS: usize = 5;
        let ended = Arc::new(AtomicUsize::new(0));
        // What each later stage saw when it was told to stop.
        let seen_by_stage_1 = Arc::new(Mutex::new(None));
        let seen_by_stage_2 = Arc::new(Mutex::new(None));
        let (ended_c, seen1, seen2) = (
            Arc::clone(&ended),
            Arc::clone(&seen_by_stage_1),
            Arc::clone(&seen_by_stage_2),
        );
        let stage_1_done = Arc::new(AtomicBool::new(false));
        let stage_1_done_c = Arc::clone(&stage_1_done);
        janitor::enter_janitor(async move {
            let ended = ended_c;
            janitor::job("sink").stage(2).spawn(async move {
                janitor::stopping().await;
                *seen2.lock().unwrap() = Some(stage_1_done_c.load(SeqCst));
            });
            let ended_for_writer = Arc::clone(&ended);
            janitor::job("writer").stage(1).spawn(async move {
                assert!(!janitor::is_stopping());
                janitor::stopping().await;
                assert!(janitor::is_stopping());
                *seen1.lock().unwrap() = Some(ended_for_writer.load(SeqCst));
                sleep(secs(1)).await;
                stage_1_done.store(true, SeqCst);
            });
            for n in 0..PRODUCERS {
                let ended = Arc::clone(&ended);
                janitor::job(format!("producer {n}")).spawn(async move {
                    sleep(secs(n as u64 + 1)).await;
                    // A producer spawned by a producer, still in stage 0.
                    let ended_nested = Arc::clone(&ended);
                    janitor::spawn_job(async move {
                        sleep(secs(3)).await;
                        ended_nested.fetch_add(1, SeqCst);
                    });
                    ended.fetch_add(1, SeqCst);
                });
            }
        })
        .await;
        assert_eq!(ended.load(SeqCst), 2 * PRODUCERS);
        assert_eq!(*seen_by_stage_1.lock().unwrap(), Some(2 * PRODUCERS));
        assert_eq!(*seen_by_stage_2.lock().unwrap(), Some(true));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_later_stage_is_not_stopped_while_the_callee_runs() {
    within(async move {
        let told_early = Arc::new(AtomicBool::new(false));
        let told = Arc::clone(&told_early);
        janitor::enter_janitor(async move {
            janitor::job("writer").stage(1).spawn(async {
                janitor::stopping().await;
            });
            sleep(secs(60)).await;
            told.store(janitor::is_stopping(), SeqCst);
        })
        .await;
        assert!(!told_early.load(SeqCst));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_stubborn_later_stage_is_aborted_after_the_grace_period() {
    within(async move {
        let start = Instant::now();
        let result = janitor::builder()
            .grace_period(secs(1))
            .try_enter(async {
                janitor::job("deaf writer").stage(1).spawn(pending::<()>());
            })
            .await;
        assert_eq!(start.elapsed(), secs(1));
        assert_eq!(
            janitor_error(&result.janitor_result).aborted(),
            ["deaf writer"]
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn request_stop_stops_stage_zero_then_later_stages() {
    within(async move {
        let order = Arc::new(Mutex::new(Vec::new()));
        let (o1, o2, o3) = (Arc::clone(&order), Arc::clone(&order), Arc::clone(&order));
        let start = Instant::now();
        janitor::enter_janitor(async move {
            janitor::job("server").spawn(async move {
                janitor::stopping().await;
                sleep(secs(1)).await;
                o1.lock().unwrap().push("server");
            });
            janitor::job("writer").stage(1).spawn(async move {
                janitor::stopping().await;
                o2.lock().unwrap().push("writer");
            });
            janitor::job("trigger").spawn(async {
                sleep(secs(10)).await;
                janitor::request_stop();
            });
            // A long-running callee ends when told to.
            janitor::stopping().await;
            o3.lock().unwrap().push("callee");
        })
        .await;
        assert_eq!(*order.lock().unwrap(), ["callee", "server", "writer"]);
        assert_eq!(start.elapsed(), secs(11));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn stop_helpers_outside_a_janitor() {
    within(async move {
        janitor::request_stop();
        assert!(!janitor::is_stopping());
        let never = tokio::time::timeout(secs(3600), janitor::stopping()).await;
        assert!(never.is_err(), "stopping() resolved outside a janitor");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn ensure_janitor_reuses_the_ambient_one() {
    within(async move {
        let counter = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&counter);
        janitor::enter_janitor(async move {
            let inner = janitor::try_ensure_janitor(async move {
                janitor::spawn_job(async move {
                    sleep(secs(5)).await;
                    c.fetch_add(1, SeqCst);
                });
                "inner"
            })
            .await;
            assert!(inner.janitor_result.is_none(), "a new janitor was entered");
            // The job belongs to the outer janitor and has not run yet.
            assert_eq!(inner.callee_output, "inner");
        })
        .await;
        assert_eq!(counter.load(SeqCst), 1);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn ensure_janitor_enters_one_when_there_is_none() {
    within(async move {
        let counter = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&counter);
        let result = janitor::try_ensure_janitor(async move {
            assert!(janitor::has_active_janitor());
            janitor::spawn_job(async move {
                sleep(secs(5)).await;
                c.fetch_add(1, SeqCst);
            });
            7
        })
        .await;
        assert!(matches!(result.janitor_result, Some(Ok(()))));
        assert_eq!(result.callee_output, 7);
        assert_eq!(counter.load(SeqCst), 1);
        assert_eq!(janitor::ensure_janitor(async { 8 }).await, 8);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn jobs_may_spawn_jobs_while_the_janitor_drains() {
    within(async move {
        let counter = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&counter);
        janitor::enter_janitor(async move {
            janitor::spawn_job(async move {
                // Long after the callee returned.
                sleep(secs(30)).await;
                janitor::try_spawn_job(async move {
                    sleep(secs(30)).await;
                    c.fetch_add(1, SeqCst);
                })
                .expect("spawning while draining is allowed");
            });
        })
        .await;
        assert_eq!(counter.load(SeqCst), 1);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn the_callee_need_not_be_send_and_its_result_is_returned() {
    within(async move {
        let local = Rc::new(5);
        let result = janitor::try_enter_janitor(async move {
            sleep(secs(1)).await;
            Err::<(), _>(format!("callee error {local}"))
        })
        .await;
        assert!(result.janitor_result.is_ok());
        let (janitor_result, callee_result) = result.into_tuple();
        assert!(janitor_result.is_ok());
        assert_eq!(callee_result, Err("callee error 5".to_owned()));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropping_the_entered_future_aborts_every_job() {
    within(async move {
        let finished = Arc::new(AtomicBool::new(false));
        let f = Arc::clone(&finished);
        let entered = janitor::enter_janitor(async move {
            janitor::spawn_job(async move {
                sleep(secs(10)).await;
                f.store(true, SeqCst);
            });
            pending::<()>().await
        });
        tokio::time::timeout(secs(1), entered)
            .await
            .expect_err("the callee never returns");
        sleep(secs(60)).await;
        assert!(!finished.load(SeqCst), "a job outlived its janitor");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn result_helpers() {
    within(async move {
        let ok = janitor::EnterJanitorResult::new(Ok(()), 3);
        assert_eq!(ok.unwrap(), 3);
        let callee_failed =
            janitor::EnterJanitorResult::new(Ok(()), Err::<u8, String>("no".into()));
        assert_eq!(callee_failed.unwrap(), Err("no".to_owned()));
        let reused = janitor::EnsureJanitorResult::from_callee_output(4);
        assert_eq!(reused.unwrap(), 4);
    })
    .await;
}

/// Spawns `width` jobs that each spawn `width` more, all yielding.
fn spawn_fan(counter: Arc<AtomicUsize>, depth: u32, width: usize) {
    for _ in 0..width {
        let counter = Arc::clone(&counter);
        janitor::spawn_job(async move {
            tokio::task::yield_now().await;
            if depth > 1 {
                spawn_fan(Arc::clone(&counter), depth - 1, width);
            }
            counter.fetch_add(1, SeqCst);
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_jobs_on_many_threads_are_all_awaited() {
    // Jobs end on other threads while they are being recorded; every one
    // must still be counted exactly once, repeatedly.
    for _ in 0..5 {
        let counter = Arc::new(AtomicUsize::new(0));
        let in_callee = Arc::clone(&counter);
        tokio::time::timeout(
            secs(60),
            janitor::enter_janitor(async move {
                spawn_fan(in_callee, 3, 20);
            }),
        )
        .await
        .expect("the janitor hung");
        assert_eq!(counter.load(SeqCst), 20 + 400 + 8000);
    }
}

#[tokio::test(start_paused = true)]
async fn a_job_spawned_after_its_stages_grace_period_is_aborted_at_once() {
    within(async {
        let start = Instant::now();
        let result = janitor::builder()
            .grace_period(secs(1))
            .try_enter(async {
                janitor::request_stop();
                // The callee is never aborted; it outstays stage 0's grace.
                sleep(secs(3)).await;
                janitor::job("latecomer").spawn(pending::<()>());
            })
            .await;
        assert_eq!(start.elapsed(), secs(3));
        assert_eq!(
            janitor_error(&result.janitor_result).aborted(),
            ["latecomer"]
        );
    })
    .await;
}
