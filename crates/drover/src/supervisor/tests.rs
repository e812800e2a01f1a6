//! Policy tests: the core's decisions, driven event by event with explicit
//! instants, asserted on the actions it returns. [`World`] plays the shell:
//! it answers each action at once (depth first, as the shell does) from a
//! table of live groups, and records every action.

use std::collections::HashSet;
use std::time::Duration;

use tokio::time::Instant;

use super::core::state::Life;
use super::core::GROUP_POLL;
use super::core::{
    Action, Answer, Command, Core, Event, RequestId, StopSignal, StreamEnd, Target, DRAIN,
};
use super::reports::PsState;
use crate::output::format::Stream;
use crate::plan::{Backoff, Condition, Dependency, Probe, ProcessSpec, Readiness, RestartPolicy};
use crate::types::{Exit, Pid, Signal};

const TERM: i32 = libc::SIGTERM;
const KILL: i32 = libc::SIGKILL;

/// Answers actions like the shell would; a group lives until the test
/// says it died.
#[derive(Default)]
struct World {
    next_pid: i32,
    alive: HashSet<i32>,
    fail_spawn: HashSet<String>,
    orphans: Vec<i32>,
    /// Every action run, in order.
    log: Vec<Action>,
    next_request: u64,
}

impl World {
    fn answer(&mut self, core: &Core, action: &Action) -> Option<Event> {
        Some(match action {
            Action::Spawn { index, gen } => {
                let name = &core.procs[*index].spec.name;
                if self.fail_spawn.contains(name) {
                    return Some(Event::SpawnFailed {
                        index: *index,
                        gen: *gen,
                        error: "No such file or directory (os error 2)".into(),
                    });
                }
                self.next_pid += 10;
                self.alive.insert(self.next_pid);
                Event::Spawned {
                    index: *index,
                    gen: *gen,
                    pid: pid(self.next_pid),
                }
            }
            Action::SpawnProbe { index, gen, .. } => {
                self.next_pid += 10;
                self.alive.insert(self.next_pid);
                Event::ProbeSpawned {
                    index: *index,
                    gen: *gen,
                    pid: pid(self.next_pid),
                }
            }
            Action::PollGroup { index, gen, pgid } => {
                if self.alive.contains(&pgid.get()) {
                    Event::GroupAlive {
                        index: *index,
                        gen: *gen,
                    }
                } else {
                    Event::GroupGone {
                        index: *index,
                        gen: *gen,
                    }
                }
            }
            Action::ListMembers { pgids } => Event::Members(
                pgids
                    .iter()
                    .map(|g| {
                        let members = if self.alive.contains(&g.get()) {
                            vec![(*g, "member".to_string())]
                        } else {
                            vec![]
                        };
                        (*g, members)
                    })
                    .collect(),
            ),
            Action::FindAdopted => Event::Adopted(
                self.orphans
                    .iter()
                    .map(|p| (pid(*p), "daemon".to_string()))
                    .collect(),
            ),
            Action::SignalForRequest {
                id,
                signal,
                targets,
            } => Event::Signalled {
                id: *id,
                signal: *signal,
                sent: targets.iter().map(|t| t.name.clone()).collect(),
                failed: None,
            },
            _ => return None,
        })
    }
}

fn pid(n: i32) -> Pid {
    Pid::new(n).unwrap()
}

fn spec(name: &str) -> ProcessSpec {
    ProcessSpec {
        port: 5000,
        ..ProcessSpec::for_test(name, "x")
    }
}

struct T {
    s: Core,
    w: World,
    t0: Instant,
}

impl T {
    fn new(specs: Vec<ProcessSpec>) -> Self {
        let (t, step) = Self::with(specs, World::default());
        assert_eq!(step, None);
        t
    }
    /// Starts `specs` in world `w`; the exit status if that ended it.
    fn with(specs: Vec<ProcessSpec>, w: World) -> (Self, Option<u8>) {
        let mut t = T {
            s: Core::new(specs),
            w,
            t0: Instant::now(),
        };
        let step = t.handle(Event::Start, t.t0);
        (t, step)
    }
    /// Runs `event` and every answer, depth first; the exit status if any.
    fn handle(&mut self, event: Event, now: Instant) -> Option<u8> {
        let mut stack = self.s.handle(event, now);
        stack.reverse();
        while let Some(action) = stack.pop() {
            self.w.log.push(action.clone());
            if let Action::Exit(code) = action {
                return Some(code);
            }
            if let Some(answer) = self.w.answer(&self.s, &action) {
                let more = self.s.handle(answer, now);
                stack.extend(more.into_iter().rev());
            }
        }
        None
    }
    fn at(&self, secs: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(secs)
    }
    fn index(&self, name: &str) -> usize {
        self.s
            .procs
            .iter()
            .position(|p| p.spec.name == name)
            .unwrap()
    }
    fn pid_of(&self, name: &str) -> i32 {
        self.s.procs[self.index(name)].current().unwrap().pgid.get()
    }
    /// Signals sent to groups, as (pgid, signal number).
    fn sent(&self) -> Vec<(i32, i32)> {
        self.w
            .log
            .iter()
            .filter_map(|a| match a {
                Action::SignalGroup { pgid, signal, .. } => Some((pgid.get(), signal.number())),
                _ => None,
            })
            .collect()
    }
    /// Signals sent to single processes.
    fn sent_pid(&self) -> Vec<(i32, i32)> {
        self.w
            .log
            .iter()
            .filter_map(|a| match a {
                Action::SignalPid { pid, signal } => Some((pid.get(), signal.number())),
                _ => None,
            })
            .collect()
    }
    /// The (name, start) of each spawn asked for.
    fn spawned(&self) -> Vec<(String, u32)> {
        self.w
            .log
            .iter()
            .filter_map(|a| match a {
                Action::Spawn { index, gen } => {
                    Some((self.s.procs[*index].spec.name.clone(), *gen))
                }
                _ => None,
            })
            .collect()
    }
    fn count(&self, f: impl Fn(&Action) -> bool) -> usize {
        self.w.log.iter().filter(|a| f(a)).count()
    }
    fn systemd(&self) -> Vec<&'static str> {
        self.w
            .log
            .iter()
            .filter_map(|a| match a {
                Action::NotifySystemd(s) => Some(*s),
                _ => None,
            })
            .collect()
    }
    fn lines(&self) -> Vec<&str> {
        self.w
            .log
            .iter()
            .filter_map(|a| match a {
                Action::Say { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }
    fn stream_ends(&mut self, name: &str, gen: u32, now: Instant) -> Option<u8> {
        let index = self.index(name);
        let _ = self.handle(
            Event::StreamEnded {
                index,
                gen,
                stream: Stream::Stdout,
                end: StreamEnd::Closed,
            },
            now,
        );
        self.handle(
            Event::StreamEnded {
                index,
                gen,
                stream: Stream::Stderr,
                end: StreamEnd::Closed,
            },
            now,
        )
    }
    /// The process's leader and group die, and both its streams end.
    fn dies(&mut self, name: &str, exit: Exit, secs: f64) -> Option<u8> {
        let p = self.pid_of(name);
        let gen = self.s.procs[self.index(name)].gen;
        self.w.alive.remove(&p);
        let now = self.at(secs);
        if let Some(code) = self.handle(Event::Reaped { pid: pid(p), exit }, now) {
            return Some(code);
        }
        self.stream_ends(name, gen, now)
    }
    fn control(&mut self, command: Command, secs: f64) -> Result<Answer, String> {
        let id = RequestId(self.w.next_request);
        self.w.next_request += 1;
        let _ = self.handle(Event::Control { id, command }, self.at(secs));
        self.w
            .log
            .iter()
            .find_map(|a| match a {
                Action::Answer { id: i, answer } if *i == id => {
                    Some(answer.clone().map_err(|r| r.0))
                }
                _ => None,
            })
            .expect("control requests are answered at once")
    }
    fn life(&self, name: &str) -> &Life {
        &self.s.procs[self.index(name)].life
    }
    fn running(&self, name: &str) -> bool {
        matches!(self.life(name), Life::Running(_))
    }
}

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_process_exiting_stops_the_others_and_sets_the_status() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let worker = t.pid_of("worker.1");
    assert_eq!(t.dies("web.1", Exit::Code(3), 1.0), None);
    assert_eq!(t.sent(), vec![(worker, TERM)]);
    assert_eq!(t.dies("worker.1", Exit::Signal(TERM), 1.0), Some(3));
    assert_eq!(
        t.lines().last(),
        Some(&"all processes have stopped; exiting with status 3 (status of web.1, which exited with code 3)")
    );
}

#[test]
fn killed_by_a_signal_means_128_plus_the_signal() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let _ = t.dies("worker.1", Exit::Signal(9), 1.0);
    assert_eq!(t.dies("web.1", Exit::Code(0), 1.0), Some(137));
}

#[test]
fn signal_ladder_stop_signal_then_kill_at_the_deadline() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let (web, worker) = (t.pid_of("web.1"), t.pid_of("worker.1"));
    let _ = t.handle(Event::Signal(StopSignal::Int), t.at(0.0));
    assert_eq!(t.sent(), vec![(web, TERM), (worker, TERM)]);
    let _ = t.dies("web.1", Exit::Code(0), 1.0);
    assert_eq!(t.s.next_step(), Some(t.at(5.0)));
    let _ = t.handle(Event::Tick, t.at(4.999));
    assert_eq!(t.sent().len(), 2, "no SIGKILL before the deadline");
    let _ = t.handle(Event::Tick, t.at(5.0));
    assert_eq!(t.sent()[2], (worker, KILL));
    // A requested stop that needed SIGKILL exits 1.
    assert_eq!(t.dies("worker.1", Exit::Signal(9), 5.0), Some(1));
}

#[test]
fn requested_stop_in_time_exits_zero() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let _ = t.handle(Event::Signal(StopSignal::Term), t.at(0.0));
    let _ = t.dies("web.1", Exit::Signal(15), 0.1);
    assert_eq!(t.dies("worker.1", Exit::Code(0), 0.1), Some(0));
}

#[test]
fn second_signal_kills_at_once() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let (web, worker) = (t.pid_of("web.1"), t.pid_of("worker.1"));
    let _ = t.handle(Event::Signal(StopSignal::Int), t.at(0.0));
    let _ = t.handle(Event::Signal(StopSignal::Int), t.at(0.1));
    assert_eq!(
        t.sent(),
        vec![(web, 15), (worker, 15), (web, 9), (worker, 9)]
    );
    assert_eq!(t.s.next_step(), None);
}

#[test]
fn a_lingering_group_gets_the_stop_signal_then_sigkill() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let web = t.pid_of("web.1");
    // web's leader exits on its own, but a grandchild keeps its group alive.
    let _ = t.handle(
        Event::Reaped {
            pid: pid(web),
            exit: Exit::Code(0),
        },
        t.at(1.0),
    );
    assert!(
        t.sent().contains(&(web, TERM)),
        "the lingering group is told to stop"
    );
    assert_eq!(t.s.next_wakeup(t.at(1.0)), Some(t.at(1.0) + GROUP_POLL));
    let _ = t.handle(Event::Tick, t.at(6.0));
    assert!(t.sent().contains(&(web, KILL)));
    t.w.alive.remove(&web);
    let _ = t.handle(Event::Tick, t.at(6.01));
    let _ = t.stream_ends("web.1", 1, t.at(6.1));
    assert_eq!(t.dies("worker.1", Exit::Code(0), 6.2), Some(0));
}

#[test]
fn a_group_that_empties_before_its_step_is_not_told_it_still_runs() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let web = t.pid_of("web.1");
    let _ = t.handle(
        Event::Reaped {
            pid: pid(web),
            exit: Exit::Code(0),
        },
        t.at(1.0),
    );
    // The group empties just as its SIGKILL falls due.
    t.w.alive.remove(&web);
    let _ = t.handle(Event::Tick, t.at(6.0));
    assert!(!t.sent().contains(&(web, KILL)));
    assert!(!t
        .lines()
        .iter()
        .any(|l| l.starts_with("web.1 is still running")));
}

#[test]
fn drain_deadline_starts_when_the_group_is_gone() {
    let mut t = T::new(vec![spec("web.1")]);
    let web = t.pid_of("web.1");
    assert_eq!(t.count(|a| matches!(a, Action::CutReaders { .. })), 0);
    t.w.alive.remove(&web);
    let _ = t.handle(
        Event::Reaped {
            pid: pid(web),
            exit: Exit::Code(0),
        },
        t.at(1.0),
    );
    assert!(t.w.log.contains(&Action::CutReaders {
        index: 0,
        gen: 1,
        at: t.at(1.0) + DRAIN
    }));
}

#[test]
fn stdout_closed_stops_everything() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let _ = t.handle(Event::StdoutClosed { error: None }, t.at(0.0));
    assert_eq!(t.sent().len(), 2);
    assert_eq!(t.count(|a| *a == Action::Stopping), 1);
}

#[test]
fn unknown_pids_are_ignored() {
    let mut t = T::new(vec![spec("web.1")]);
    let step = t.handle(
        Event::Reaped {
            pid: pid(9999),
            exit: Exit::Code(0),
        },
        t.at(0.0),
    );
    assert_eq!(step, None);
    assert!(t.sent().is_empty());
}

#[test]
fn on_failure_restarts_with_doubling_backoff_up_to_max_restarts() {
    let mut web = spec("web.1");
    web.restart = RestartPolicy::OnFailure;
    web.max_restarts = Some(2);
    web.backoff = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(30),
        reset_after: Duration::from_secs(60),
    };
    let mut t = T::new(vec![web, spec("worker.1")]);
    let _ = t.dies("web.1", Exit::Code(1), 1.0);
    assert_eq!(t.life("web.1"), &Life::Backoff { until: t.at(2.0) });
    assert!(t
        .lines()
        .contains(&"web.1 exited with code 1; restarting in 1s (restart 1 of 2)"));
    let _ = t.handle(Event::Tick, t.at(2.0));
    assert_eq!(t.spawned().iter().filter(|(n, _)| n == "web.1").count(), 2);
    let _ = t.dies("web.1", Exit::Code(1), 3.0);
    assert_eq!(
        t.life("web.1"),
        &Life::Backoff { until: t.at(5.0) },
        "the delay doubled"
    );
    let _ = t.handle(Event::Tick, t.at(5.0));
    // Third failure in a row: max_restarts = 2 reached, the foreman rule applies.
    let worker = t.pid_of("worker.1");
    let _ = t.dies("web.1", Exit::Code(1), 6.0);
    assert_eq!(t.life("web.1"), &Life::Exited);
    assert!(t.sent().contains(&(worker, TERM)));
    assert_eq!(t.dies("worker.1", Exit::Code(0), 6.5), Some(1));
}

#[test]
fn on_failure_does_not_restart_a_clean_exit_and_always_does() {
    let mut a = spec("a.1");
    a.restart = RestartPolicy::OnFailure;
    let mut b = spec("b.1");
    b.restart = RestartPolicy::Always;
    let mut t = T::new(vec![a, b, spec("c.1")]);
    let _ = t.dies("b.1", Exit::Code(0), 1.0);
    assert!(matches!(t.life("b.1"), Life::Backoff { .. }));
    let _ = t.dies("a.1", Exit::Code(0), 1.0);
    assert_eq!(t.life("a.1"), &Life::Exited);
    assert!(
        t.s.stopping.is_some(),
        "a clean exit without restart stops everything"
    );
}

#[test]
fn a_stable_run_resets_the_backoff() {
    let mut web = spec("web.1");
    web.restart = RestartPolicy::Always;
    let mut t = T::new(vec![web]);
    let _ = t.dies("web.1", Exit::Code(1), 1.0);
    let _ = t.handle(Event::Tick, t.at(2.0));
    let _ = t.dies("web.1", Exit::Code(1), 100.0);
    assert_eq!(
        t.life("web.1"),
        &Life::Backoff { until: t.at(101.0) },
        "back to the initial delay"
    );
}

fn depends(mut s: ProcessSpec, on: &str, condition: Condition) -> ProcessSpec {
    s.depends_on.push(Dependency {
        process: on.into(),
        condition,
    });
    s
}

#[test]
fn dependency_on_ready_waits_for_the_probe() {
    let mut db = spec("db.1");
    db.ready = Some(Readiness {
        probe: Probe::Tcp("127.0.0.1:1".into()),
        interval: Duration::from_millis(100),
        timeout: None,
    });
    let web = depends(spec("web.1"), "db", Condition::Ready);
    let mut t = T::new(vec![db, web]);
    assert_eq!(t.spawned(), vec![("db.1".to_string(), 1)]);
    assert_eq!(t.life("web.1"), &Life::Waiting);
    let _ = t.handle(Event::Ready { index: 0, gen: 1 }, t.at(1.0));
    assert_eq!(t.spawned().len(), 2, "web starts once db is ready");
}

#[test]
fn command_probe_runs_until_it_exits_zero() {
    let mut db = spec("db.1");
    db.ready = Some(Readiness {
        probe: Probe::Command("check".into()),
        interval: Duration::from_millis(100),
        timeout: None,
    });
    let web = depends(spec("web.1"), "db", Condition::Ready);
    let mut t = T::new(vec![db, web]);
    let _ = t.handle(Event::Tick, t.at(0.0));
    assert_eq!(t.count(|a| matches!(a, Action::SpawnProbe { .. })), 1);
    let probe = t.s.procs[0].probe.unwrap().pid;
    let _ = t.handle(
        Event::Reaped {
            pid: probe,
            exit: Exit::Code(1),
        },
        t.at(0.05),
    );
    assert_eq!(t.s.next_wakeup(t.at(0.05)), Some(t.at(0.15)));
    let _ = t.handle(Event::Tick, t.at(0.15));
    let probe = t.s.procs[0].probe.unwrap().pid;
    let _ = t.handle(
        Event::Reaped {
            pid: probe,
            exit: Exit::Code(0),
        },
        t.at(0.2),
    );
    assert!(t.running("web.1"));
}

#[test]
fn exited_ok_dependency_runs_first_and_its_success_does_not_stop_drover() {
    let migrate = spec("migrate.1");
    let web = depends(spec("web.1"), "migrate", Condition::ExitedOk);
    let mut t = T::new(vec![migrate, web]);
    assert_eq!(t.life("web.1"), &Life::Waiting);
    let _ = t.dies("migrate.1", Exit::Code(0), 1.0);
    assert!(t.s.stopping.is_none());
    assert!(t.running("web.1"));
}

#[test]
fn a_failed_dependency_means_the_dependent_never_starts() {
    let migrate = spec("migrate.1");
    let web = depends(spec("web.1"), "migrate", Condition::ExitedOk);
    let mut t = T::new(vec![migrate, web]);
    assert_eq!(t.dies("migrate.1", Exit::Code(2), 1.0), Some(2));
    assert!(matches!(
        t.life("web.1"),
        Life::Stopped { .. } | Life::Failed { .. }
    ));
    assert_eq!(t.spawned().len(), 1, "web was never started");
}

#[test]
fn stop_goes_in_reverse_dependency_order() {
    let db = spec("db.1");
    let web = depends(spec("web.1"), "db", Condition::Started);
    let mut t = T::new(vec![db, web]);
    let (db, web) = (t.pid_of("db.1"), t.pid_of("web.1"));
    let _ = t.handle(Event::Signal(StopSignal::Term), t.at(0.0));
    assert_eq!(t.sent(), vec![(web, 15)], "db waits until web is gone");
    let _ = t.dies("web.1", Exit::Code(0), 0.5);
    assert_eq!(t.sent(), vec![(web, 15), (db, 15)]);
    assert_eq!(t.dies("db.1", Exit::Code(0), 0.6), Some(0));
}

#[test]
fn a_spawn_failure_stops_everything_with_status_1() {
    let mut w = World::default();
    w.fail_spawn.insert("b.1".into());
    let (mut t, step) = T::with(vec![spec("a.1"), spec("b.1")], w);
    assert_eq!(step, None);
    assert!(t.s.stopping.is_some());
    assert!(t
        .lines()
        .contains(&"b.1: cannot start `x`: No such file or directory (os error 2)"));
    assert_eq!(t.dies("a.1", Exit::Signal(15), 0.0), Some(1));
}

#[test]
fn a_spawn_failure_starts_nothing_after_it() {
    let mut w = World::default();
    w.fail_spawn.insert("a.1".into());
    let (t, step) = T::with(vec![spec("a.1"), spec("b.1")], w);
    assert_eq!(step, Some(1), "nothing runs: drover ends at once");
    assert_eq!(t.spawned(), vec![("a.1".to_string(), 1)]);
    assert_eq!(t.life("b.1"), &Life::Stopped { by_user: false });
}

#[test]
fn control_stop_and_restart() {
    let mut t = T::new(vec![spec("web.1"), spec("web.2"), spec("worker.1")]);
    let (w1, w2) = (t.pid_of("web.1"), t.pid_of("web.2"));
    let r = t
        .control(
            Command::Stop {
                names: names(&["web"]),
                force: false,
            },
            1.0,
        )
        .unwrap();
    assert_eq!(r, Answer::Stopped(names(&["web.1", "web.2"])));
    assert_eq!(t.sent(), vec![(w1, 15), (w2, 15)]);
    let _ = t.dies("web.1", Exit::Signal(15), 1.1);
    let _ = t.dies("web.2", Exit::Signal(15), 1.1);
    assert!(
        t.s.stopping.is_none(),
        "a requested stop is not the foreman rule"
    );
    assert_eq!(t.life("web.1"), &Life::Stopped { by_user: true });
    t.control(
        Command::Restart {
            names: names(&["web.2"]),
            wait: false,
        },
        2.0,
    )
    .unwrap();
    assert!(t.running("web.2"));
    assert_eq!(t.life("web.1"), &Life::Stopped { by_user: true });
    // Restart of a running process: stop, then start again on exit.
    let w2b = t.pid_of("web.2");
    t.control(
        Command::Restart {
            names: names(&["web.2"]),
            wait: false,
        },
        3.0,
    )
    .unwrap();
    assert!(t.sent().contains(&(w2b, 15)));
    let _ = t.dies("web.2", Exit::Signal(15), 3.1);
    let _ = t.handle(Event::Tick, t.at(3.1));
    assert!(t.running("web.2"));
    let Answer::Ps(rows) = t.control(Command::Ps, 4.0).unwrap() else {
        panic!("ps answers with rows");
    };
    assert_eq!(rows[1].restarts, 2);
    assert_eq!(rows[0].state, PsState::Stopped);
}

#[test]
fn control_errors_change_nothing() {
    let mut t = T::new(vec![spec("web.1")]);
    let e = t
        .control(
            Command::Stop {
                names: names(&["nope"]),
                force: false,
            },
            1.0,
        )
        .unwrap_err();
    assert!(e.contains("no process named \"nope\""), "{e}");
    let e = t
        .control(
            Command::Stop {
                names: vec![],
                force: false,
            },
            1.0,
        )
        .unwrap_err();
    assert_eq!(e, "name at least one process");
    assert!(t.sent().is_empty());
    let kill = Command::Kill {
        name: "web".into(),
        signal: Signal::HUP,
    };
    assert_eq!(
        t.control(kill, 1.0),
        Ok(Answer::Signalled(names(&["web.1"])))
    );
    assert_eq!(t.sent(), vec![]);
    assert!(t.w.log.contains(&Action::SignalForRequest {
        id: RequestId(2),
        signal: Signal::HUP,
        targets: vec![Target {
            name: "web.1".into(),
            pid: pid(t.pid_of("web.1")),
            whole_group: true,
        }],
    }));
    assert!(t.lines().contains(&"sent SIGHUP to web.1 (requested)"));
}

#[test]
fn a_failed_kill_is_the_clients_error() {
    let mut t = T::new(vec![spec("web.1")]);
    let _ = t.s.handle(
        Event::Control {
            id: RequestId(7),
            command: Command::Kill {
                name: "web".into(),
                signal: Signal::HUP,
            },
        },
        t.at(1.0),
    );
    let actions = t.s.handle(
        Event::Signalled {
            id: RequestId(7),
            signal: Signal::HUP,
            sent: vec![],
            failed: Some(("web.1".into(), "Operation not permitted".into())),
        },
        t.at(1.0),
    );
    assert_eq!(
        actions,
        vec![Action::Answer {
            id: RequestId(7),
            answer: Err("sending SIGHUP to web.1: Operation not permitted".into())
        }]
    );
}

#[test]
fn an_instance_name_is_not_taken_for_a_process_name() {
    let mut t = T::new(vec![spec("web.1"), spec("web.2")]);
    let r = t
        .control(
            Command::Stop {
                names: names(&["web.2"]),
                force: false,
            },
            1.0,
        )
        .unwrap();
    assert_eq!(r, Answer::Stopped(names(&["web.2"])));
}

#[test]
fn shutdown_request_stops_everything() {
    let mut t = T::new(vec![spec("web.1")]);
    t.control(Command::Shutdown, 1.0).unwrap();
    assert_eq!(t.dies("web.1", Exit::Signal(15), 1.1), Some(0));
    assert_eq!(
        t.control(Command::Pause, 1.2),
        Err("drover is shutting down".into())
    );
}

#[test]
fn escaped_descendants_are_stopped_and_reaped_before_exit() {
    let mut t = T::new(vec![spec("web.1")]);
    let _ = t.handle(Event::Signal(StopSignal::Term), t.at(0.0));
    // A daemon that called setsid() was re-parented to drover.
    t.w.orphans.push(777);
    assert_eq!(
        t.dies("web.1", Exit::Code(0), 0.1),
        None,
        "the orphan is still alive"
    );
    assert_eq!(t.sent_pid(), vec![(777, TERM)]);
    // It ignores SIGTERM: SIGKILL at the timeout.
    let _ = t.handle(Event::Tick, t.at(5.2));
    assert!(t.sent_pid().contains(&(777, KILL)));
    t.w.orphans.clear();
    // It needed SIGKILL: the requested stop was not in time.
    assert_eq!(
        t.handle(
            Event::Reaped {
                pid: pid(777),
                exit: Exit::Signal(9)
            },
            t.at(5.3)
        ),
        Some(1)
    );
}

/// Escaped descendants found once a slow group is gone share the stop's
/// one deadline instead of getting a timeout of their own (which made a
/// TERM-ignoring daemon take twice the timeout); past five, one line each
/// for SIGTERM and SIGKILL says how many more.
#[test]
fn escaped_descendants_share_the_stops_deadline_and_are_summarised() {
    let mut t = T::new(vec![spec("web.1")]);
    let _ = t.handle(Event::Signal(StopSignal::Term), t.at(0.0));
    t.w.orphans.extend(700..720);
    // web.1 takes 4 s of its 5 s to go.
    assert_eq!(t.dies("web.1", Exit::Code(0), 4.0), None);
    assert_eq!(t.sent_pid().len(), 20, "every orphan got SIGTERM");
    let said = t.lines();
    let named = said
        .iter()
        .filter(|l| l.contains("left its process group and outlived it"))
        .count();
    assert_eq!(named, 5, "{said:#?}");
    assert!(
        said.contains(
            &"15 more processes left their process groups and outlived them: sending SIGTERM"
        ),
        "{said:#?}"
    );
    // The stop began at 0 with a 5 s timeout: SIGKILL at 5, not at 9.
    let _ = t.handle(Event::Tick, t.at(5.0));
    assert_eq!(t.sent_pid().iter().filter(|(_, s)| *s == KILL).count(), 20);
    assert!(t
        .lines()
        .contains(&"15 more processes that left their groups are still running: sending SIGKILL"));
}

#[test]
fn a_stop_ladder_is_climbed_step_by_step() {
    use crate::plan::StopStep;
    let mut web = spec("web.1");
    web.stop_ladder = vec![
        StopStep {
            signal: Signal::INT,
            wait: Duration::from_secs(2),
        },
        StopStep {
            signal: Signal::TERM,
            wait: Duration::from_secs(3),
        },
        StopStep {
            signal: Signal::KILL,
            wait: Duration::ZERO,
        },
    ];
    let mut t = T::new(vec![web]);
    let p = t.pid_of("web.1");
    let _ = t.handle(Event::Signal(StopSignal::Int), t.at(0.0));
    assert_eq!(t.sent(), vec![(p, libc::SIGINT)]);
    assert_eq!(t.s.next_step(), Some(t.at(2.0)));
    let _ = t.handle(Event::Tick, t.at(2.0));
    assert_eq!(t.sent(), vec![(p, libc::SIGINT), (p, TERM)]);
    assert!(t
        .lines()
        .contains(&"web.1 is still running 2s after SIGINT: sending SIGTERM"));
    let _ = t.handle(Event::Tick, t.at(4.9));
    assert_eq!(t.sent().len(), 2);
    let _ = t.handle(Event::Tick, t.at(5.0));
    assert_eq!(t.sent()[2], (p, KILL));
    assert_eq!(t.s.next_step(), None);
    assert_eq!(t.dies("web.1", Exit::Signal(9), 5.1), Some(1));
}

#[test]
fn a_waiting_shutdown_reports_once_a_second_from_one_scan() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let _ = t.handle(Event::Signal(StopSignal::Term), t.at(0.0));
    assert_eq!(
        t.s.next_wakeup(t.at(0.0)),
        Some(t.at(1.0)),
        "the first report is due after 1s"
    );
    let _ = t.handle(Event::Tick, t.at(1.0));
    assert_eq!(t.s.blocker_at, Some(t.at(2.0)));
    assert_eq!(t.count(|a| matches!(a, Action::ListMembers { .. })), 1);
    let web = t.pid_of("web.1");
    assert!(t
        .lines()
        .contains(&format!("waiting for web.1: {web} (member); SIGKILL in 4s").as_str()));
}

#[test]
fn ctrl_z_pauses_processes_and_timers_and_fg_resumes_them() {
    let mut web = spec("web.1");
    web.restart = RestartPolicy::Always;
    let mut t = T::new(vec![web, spec("worker.1")]);
    let worker = t.pid_of("worker.1");
    let _ = t.dies("web.1", Exit::Code(1), 1.0);
    assert_eq!(t.life("web.1"), &Life::Backoff { until: t.at(2.0) });
    let _ = t.handle(Event::Suspend, t.at(1.5));
    assert_eq!(
        t.count(|a| *a == Action::StopSelf),
        1,
        "drover stops itself after pausing"
    );
    assert!(t.sent().contains(&(worker, libc::SIGTSTP)));
    assert_eq!(
        t.s.next_wakeup(t.at(1.5)),
        None,
        "no timer runs while paused"
    );
    let _ = t.handle(Event::Tick, t.at(10.0));
    assert!(
        matches!(t.life("web.1"), Life::Backoff { .. }),
        "no restart while paused"
    );
    // `fg` after 8.5 s: SIGCONT, and the backoff has 0.5 s left.
    let _ = t.handle(Event::Continued, t.at(10.0));
    assert!(t.sent().contains(&(worker, libc::SIGCONT)));
    assert_eq!(t.life("web.1"), &Life::Backoff { until: t.at(10.5) });
}

#[test]
fn a_stop_while_paused_continues_the_processes_first() {
    let mut t = T::new(vec![spec("web.1")]);
    let web = t.pid_of("web.1");
    t.control(Command::Pause, 1.0).unwrap();
    let _ = t.handle(Event::Signal(StopSignal::Int), t.at(2.0));
    assert_eq!(
        t.sent(),
        vec![(web, libc::SIGTSTP), (web, libc::SIGCONT), (web, TERM)]
    );
}

#[test]
fn systemd_hears_ready_once_everything_is_ready_and_stopping_on_shutdown() {
    let mut db = spec("db.1");
    db.ready = Some(Readiness {
        probe: Probe::Notify,
        interval: Duration::from_millis(250),
        timeout: None,
    });
    let mut t = T::new(vec![db, spec("web.1")]);
    assert!(t.systemd().is_empty(), "db is not ready yet");
    let _ = t.handle(Event::Ready { index: 0, gen: 1 }, t.at(1.0));
    assert_eq!(t.systemd(), vec!["READY=1"]);
    let _ = t.handle(Event::Tick, t.at(2.0));
    assert_eq!(t.systemd(), vec!["READY=1"], "said once");
    let _ = t.handle(Event::Signal(StopSignal::Term), t.at(3.0));
    assert_eq!(t.systemd(), vec!["READY=1", "STOPPING=1"]);
}

#[test]
fn one_signal_during_a_stop_for_another_reason_kills_nothing() {
    let db = spec("db.1");
    let web = depends(spec("web.1"), "db", Condition::Started);
    let mut t = T::new(vec![db, web, spec("crash.1")]);
    let db = t.pid_of("db.1");
    let _ = t.dies("crash.1", Exit::Code(1), 1.0);
    // systemd (or a user) sends SIGTERM once while drover already stops.
    let _ = t.handle(Event::Signal(StopSignal::Term), t.at(1.1));
    assert!(
        !t.sent().contains(&(db, KILL)),
        "db still waits for its turn"
    );
    assert!(!t.sent().contains(&(db, TERM)), "web is not gone yet");
    let _ = t.handle(Event::Signal(StopSignal::Term), t.at(1.2));
    assert!(t.sent().contains(&(db, KILL)), "a second signal kills");
}

#[test]
fn a_kill_before_the_stop_does_not_make_a_requested_stop_late() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let web = t.pid_of("web.1");
    // web's leader exits; its lingering group needs SIGKILL, while running.
    let _ = t.handle(
        Event::Reaped {
            pid: pid(web),
            exit: Exit::Code(0),
        },
        t.at(1.0),
    );
    let _ = t.handle(Event::Tick, t.at(6.0));
    assert!(t.sent().contains(&(web, KILL)));
    assert!(
        t.s.stopping.is_some(),
        "web ended: the foreman rule stops the rest"
    );
}

#[test]
fn the_exit_line_comes_after_the_output_and_names_sigkill() {
    let mut t = T::new(vec![spec("web.1")]);
    let web = t.pid_of("web.1");
    let _ = t.handle(Event::Signal(StopSignal::Term), t.at(0.0));
    let _ = t.handle(Event::Tick, t.at(5.0));
    t.w.alive.remove(&web);
    let _ = t.handle(
        Event::Reaped {
            pid: pid(web),
            exit: Exit::Code(0),
        },
        t.at(5.1),
    );
    assert!(!t.lines().iter().any(|l| l.starts_with("web.1 exited")));
    assert_eq!(t.stream_ends("web.1", 1, t.at(5.2)), Some(1));
    assert!(t
        .lines()
        .contains(&"web.1 exited with code 0 (after SIGKILL)"));
}

#[test]
fn a_leader_reaped_while_paused_gets_its_group_continued_after_the_stop_signal() {
    let mut web = spec("web.1");
    web.restart = RestartPolicy::Always;
    let mut t = T::new(vec![web]);
    let p = t.pid_of("web.1");
    t.control(Command::Pause, 1.0).unwrap();
    // The leader is killed from outside; a grandchild keeps the group.
    let _ = t.handle(
        Event::Reaped {
            pid: pid(p),
            exit: Exit::Signal(KILL),
        },
        t.at(2.0),
    );
    assert_eq!(
        t.sent(),
        vec![(p, libc::SIGTSTP), (p, TERM), (p, libc::SIGCONT)]
    );
    assert!(matches!(t.life("web.1"), Life::Backoff { .. }));
}

#[test]
fn an_earlier_start_lingering_after_a_restart_is_stopped_and_announced() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let old = t.pid_of("web.1");
    t.control(
        Command::Restart {
            names: names(&["web.1"]),
            wait: false,
        },
        1.0,
    )
    .unwrap();
    let _ = t.handle(
        Event::Reaped {
            pid: pid(old),
            exit: Exit::Signal(TERM),
        },
        t.at(1.1),
    );
    let _ = t.handle(Event::Tick, t.at(1.1));
    assert!(t.running("web.1"), "started again at once");
    assert_ne!(t.pid_of("web.1"), old);
    // The old group still lingers; its output ends later.
    assert_eq!(t.spawned().len(), 3);
    let _ = t.stream_ends("web.1", 1, t.at(1.2));
    assert!(t.lines().contains(&"web.1 was killed by SIGTERM"));
    let _ = t.handle(Event::Tick, t.at(6.1));
    assert!(
        t.sent().contains(&(old, KILL)),
        "the old group's ladder goes on"
    );
}

fn mixed(name: &str) -> ProcessSpec {
    let mut s = spec(name);
    s.kill_mode = crate::plan::KillMode::Mixed;
    s
}

#[test]
fn mixed_kill_mode_signals_the_main_process_then_kills_the_group() {
    let mut t = T::new(vec![mixed("web.1"), spec("worker.1")]);
    let (web, worker) = (t.pid_of("web.1"), t.pid_of("worker.1"));
    let kill = Command::Kill {
        name: "web".into(),
        signal: Signal::HUP,
    };
    t.control(kill, 0.5).unwrap();
    assert!(t.w.log.contains(&Action::SignalForRequest {
        id: RequestId(0),
        signal: Signal::HUP,
        targets: vec![Target {
            name: "web.1".into(),
            pid: pid(web),
            whole_group: false,
        }],
    }));
    let _ = t.handle(Event::Signal(StopSignal::Int), t.at(1.0));
    assert_eq!(
        t.sent_pid(),
        vec![(web, TERM)],
        "the stop signal: main only"
    );
    assert_eq!(t.sent(), vec![(worker, TERM)], "control-group: the group");
    let _ = t.dies("worker.1", Exit::Signal(TERM), 1.1);
    let _ = t.handle(Event::Tick, t.at(6.0));
    assert_eq!(
        t.sent(),
        vec![(worker, TERM), (web, KILL)],
        "SIGKILL: the group"
    );
}

#[test]
fn mixed_kill_mode_signals_the_group_once_the_main_process_is_gone() {
    let mut t = T::new(vec![mixed("web.1"), spec("worker.1")]);
    let web = t.pid_of("web.1");
    // The main process ends; a worker lingers in its group.
    let _ = t.handle(
        Event::Reaped {
            pid: pid(web),
            exit: Exit::Code(0),
        },
        t.at(1.0),
    );
    assert_eq!(t.sent_pid(), vec![]);
    assert!(t.sent().contains(&(web, TERM)), "{:?}", t.sent());
}

#[test]
fn a_can_die_process_ending_with_any_status_stops_nothing() {
    let mut release = spec("release.1");
    release.can_die = true;
    let mut t = T::new(vec![
        spec("web.1"),
        release,
        depends(spec("migrate.1"), "release", Condition::ExitedOk),
    ]);
    assert_eq!(t.dies("release.1", Exit::Code(1), 1.0), None);
    assert!(
        t.s.stopping.is_none(),
        "no foreman rule for a can_die process"
    );
    assert!(t.running("web.1"));
    assert!(t.sent().is_empty());
    // Its exited_ok dependent still needed status 0.
    assert!(matches!(t.life("migrate.1"), Life::Failed { .. }));
    assert!(t.s.digest(t.at(1.0))[1].failed, "its own failure is FAILED");
}

#[test]
fn restarting_a_failing_one_off_does_not_take_the_stack_down() {
    let mut t = T::new(vec![
        spec("release.1"),
        depends(spec("web.1"), "release", Condition::ExitedOk),
    ]);
    assert_eq!(t.dies("release.1", Exit::Code(0), 1.0), None);
    assert!(t.running("web.1"));
    t.control(
        Command::Restart {
            names: names(&["release"]),
            wait: false,
        },
        2.0,
    )
    .unwrap();
    assert!(t.running("release.1"));
    assert_eq!(t.dies("release.1", Exit::Code(1), 3.0), None);
    assert!(t.s.stopping.is_none(), "a re-run one-off stops nothing");
    assert!(t.running("web.1"));
    // At its first run, the same failure would have stopped everything.
    let mut t = T::new(vec![
        spec("release.1"),
        depends(spec("web.1"), "release", Condition::ExitedOk),
    ]);
    assert_eq!(t.dies("release.1", Exit::Code(1), 1.0), Some(1));
}

fn probed(name: &str, timeout: Option<f64>) -> ProcessSpec {
    let mut s = spec(name);
    s.ready = Some(Readiness {
        probe: Probe::Tcp("127.0.0.1:5432".into()),
        interval: Duration::from_millis(250),
        timeout: timeout.map(Duration::from_secs_f64),
    });
    s
}

fn missed(t: &mut T, index: usize, error: &str, secs: f64) {
    let _ = t.handle(
        Event::ProbeMissed {
            index,
            gen: t.s.procs[index].gen,
            error: error.into(),
        },
        t.at(secs),
    );
}

#[test]
fn a_probe_error_is_said_once_then_on_change_and_ps_says_why_dependents_wait() {
    let web = depends(spec("web.1"), "db", Condition::Ready);
    let mut t = T::new(vec![probed("db.1", None), web]);
    for i in 0..14 {
        missed(&mut t, 0, "tcp 127.0.0.1:5432 refused", 0.25 * f64::from(i));
    }
    missed(
        &mut t,
        0,
        "tcp 127.0.0.1:5432: port 5432 is held by pid 9",
        4.0,
    );
    let said: Vec<&str> = t
        .lines()
        .into_iter()
        .filter(|l| l.contains("is not ready yet"))
        .collect();
    assert_eq!(
        said,
        [
            "db.1 is not ready yet: tcp 127.0.0.1:5432 refused",
            "db.1 is not ready yet: tcp 127.0.0.1:5432: port 5432 is held by pid 9"
        ]
    );
    missed(&mut t, 0, "tcp 127.0.0.1:5432 refused", 4.25);
    let Answer::Ps(rows) = t.control(Command::Ps, 5.0).unwrap() else {
        panic!("ps answers with rows");
    };
    assert_eq!(
        rows[1].why.as_deref(),
        Some("waiting: db.1 not ready (tcp 127.0.0.1:5432 refused, 16 tries)")
    );
    assert_eq!(
        rows[0].why.as_deref(),
        Some("not ready (tcp 127.0.0.1:5432 refused, 16 tries)")
    );
}

#[test]
fn past_its_readiness_deadline_a_process_fails_and_its_dependents_are_told() {
    let web = depends(spec("web.1"), "db", Condition::Ready);
    let mut t = T::new(vec![probed("db.1", Some(60.0)), web, spec("worker.1")]);
    let db = t.pid_of("db.1");
    missed(&mut t, 0, "tcp 127.0.0.1:5432 refused", 1.0);
    assert_eq!(t.s.next_wakeup(t.at(1.0)), Some(t.at(60.0)));
    let _ = t.handle(Event::Tick, t.at(59.9));
    assert!(t.sent().is_empty());
    let _ = t.handle(Event::Tick, t.at(60.0));
    assert!(t.lines().contains(
        &"db.1 was not ready within 60s (last: tcp 127.0.0.1:5432 refused, 1 tries): stopping it"
    ));
    assert_eq!(t.sent(), vec![(db, TERM)]);
    // A late success does not count.
    let _ = t.handle(Event::Ready { index: 0, gen: 1 }, t.at(60.1));
    assert_eq!(t.spawned().len(), 2, "web never starts");
    // restart = "no": the foreman rule; web is told why it never starts.
    let _ = t.dies("db.1", Exit::Signal(TERM), 60.2);
    assert!(t.s.stopping.is_some());
    assert!(t
        .lines()
        .contains(&"web.1 will not start: db.1 was not ready within 60s"));
    assert!(t.s.digest(t.at(61.0))[0].failed);
}

#[test]
fn a_deadline_miss_goes_by_the_restart_policy_first() {
    let mut db = probed("db.1", Some(10.0));
    db.restart = RestartPolicy::OnFailure;
    let mut t = T::new(vec![db, spec("worker.1")]);
    let _ = t.handle(Event::Tick, t.at(10.0));
    // It exits 0 when told to stop: still a failure, so it restarts.
    let _ = t.dies("db.1", Exit::Code(0), 10.5);
    assert!(t.s.stopping.is_none());
    let _ = t.handle(Event::Tick, t.at(11.5));
    assert_eq!(t.spawned().last(), Some(&("db.1".to_string(), 2)));
}

#[test]
fn a_process_is_not_ready_once_its_leader_is_reaped() {
    let mut t = T::new(vec![probed("db.1", None), spec("worker.1")]);
    let mut db = t.s.procs[0].clone();
    let pgid = db.current().unwrap().pgid;
    // The leader is reaped; its group lingers; a probe then passes.
    let _ = t.handle(
        Event::Reaped {
            pid: pgid,
            exit: Exit::Code(1),
        },
        t.at(1.0),
    );
    let _ = t.handle(Event::Ready { index: 0, gen: 1 }, t.at(1.0));
    db = t.s.procs[0].clone();
    assert!(!db.history.ever_ready);
    assert!(!t.lines().contains(&"db.1 is ready"));
}

fn failed(t: &T, secs: f64) -> Vec<(String, bool, bool)> {
    t.s.digest(t.at(secs))
        .into_iter()
        .map(|r| (r.name, r.failed, r.recovered))
        .collect()
}

fn row(name: &str, failed: bool, recovered: bool) -> (String, bool, bool) {
    (name.to_string(), failed, recovered)
}

#[test]
fn the_digest_marks_only_runs_that_failed_by_themselves_or_needed_sigkill() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1"), spec("slow.1")]);
    let _ = t.handle(Event::Signal(StopSignal::Int), t.at(1.0));
    // Told to stop: exiting 0 or 1 then is no failure.
    let _ = t.dies("web.1", Exit::Code(0), 1.1);
    let _ = t.dies("worker.1", Exit::Code(1), 1.1);
    // slow.1 does not stop in time: SIGKILL.
    let _ = t.handle(Event::Tick, t.at(6.0));
    let _ = t.dies("slow.1", Exit::Signal(KILL), 6.0);
    assert_eq!(
        failed(&t, 6.0),
        [
            row("web.1", false, false),
            row("worker.1", false, false),
            row("slow.1", true, false)
        ]
    );
}

#[test]
fn after_a_double_ctrl_c_every_process_killed_is_failed_and_no_other() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1"), spec("db.1")]);
    let _ = t.handle(Event::Signal(StopSignal::Int), t.at(1.0));
    let _ = t.dies("db.1", Exit::Signal(TERM), 1.1);
    let _ = t.handle(Event::Signal(StopSignal::Int), t.at(1.2));
    let _ = t.dies("web.1", Exit::Signal(KILL), 1.3);
    // worker.1 had just exited 0 on its own when the SIGKILL came.
    let _ = t.dies("worker.1", Exit::Code(0), 1.3);
    assert_eq!(
        failed(&t, 2.0),
        [
            row("web.1", true, false),
            row("worker.1", true, false),
            row("db.1", false, false)
        ]
    );
}

#[test]
fn a_process_that_recovered_is_not_failed_and_its_failed_run_lines_are_kept() {
    let mut web = spec("web.1");
    web.restart = RestartPolicy::OnFailure;
    let mut t = T::new(vec![web, spec("worker.1")]);
    for i in 0..3 {
        let at = f64::from(i) * 10.0;
        let _ = t.dies("web.1", Exit::Code(1), at + 1.0);
        let _ = t.handle(Event::Tick, t.at(at + 9.0));
    }
    assert!(t.running("web.1"));
    assert_eq!(t.count(|a| *a == Action::KeepFailedLines { index: 0 }), 3);
    let d = t.s.digest(t.at(40.0));
    assert_eq!(
        (d[0].failed, d[0].recovered, d[0].restarts),
        (false, true, 3)
    );
    // Stopped on request at the end: still recovered, not failed.
    let _ = t.handle(Event::Signal(StopSignal::Term), t.at(41.0));
    let _ = t.dies("web.1", Exit::Signal(TERM), 41.1);
    assert_eq!(failed(&t, 42.0)[0], row("web.1", false, true));
    assert_eq!(t.count(|a| *a == Action::KeepFailedLines { index: 0 }), 3);
}

#[test]
fn one_line_per_crash_says_the_exit_and_what_follows() {
    let mut web = spec("web.1");
    web.restart = RestartPolicy::OnFailure;
    web.max_restarts = Some(1);
    let mut t = T::new(vec![web, spec("worker.1")]);
    assert!(t.lines().contains(&"web.1 started (pid 10)"));
    let _ = t.dies("web.1", Exit::Code(1), 1.0);
    let _ = t.handle(Event::Tick, t.at(2.0));
    let _ = t.dies("web.1", Exit::Code(1), 3.0);
    let about: Vec<&str> = t
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("web.1 "))
        .collect();
    assert_eq!(
        about,
        [
            "web.1 started (pid 10)",
            "web.1 exited with code 1; restarting in 1s (restart 1 of 1)",
            "web.1 started again (pid 30)",
            // Reaped before its streams ended: the stop comes first.
            "web.1 has ended: stopping 1 process",
            "web.1 exited with code 1; giving up after 1 restarts in a row",
        ]
    );
}

#[test]
fn the_blocker_report_names_only_processes_that_were_signalled() {
    // web depends on db: db gets its stop signal only once web is gone.
    let web = depends(spec("web.1"), "db", Condition::Started);
    let mut t = T::new(vec![spec("db.1"), web]);
    let _ = t.handle(Event::Signal(StopSignal::Term), t.at(0.0));
    let _ = t.handle(Event::Tick, t.at(1.0));
    let waiting: Vec<&str> = t
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("waiting for"))
        .collect();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert!(waiting[0].starts_with("waiting for web.1: "), "{waiting:?}");
}

#[test]
fn stopping_what_running_processes_depend_on_needs_force() {
    let web = depends(spec("web.1"), "db", Condition::Ready);
    let mut t = T::new(vec![spec("db.1"), web]);
    let db = t.pid_of("db.1");
    let stop = |force| Command::Stop {
        names: names(&["db"]),
        force,
    };
    let e = t.control(stop(false), 1.0).unwrap_err();
    assert_eq!(
        e,
        "a dependent is running: web.1 depends on db; stop them first, or use --force to stop it anyway"
    );
    assert!(t.sent().is_empty());
    // Stopping both at once breaks nothing that keeps running.
    let both = Command::Stop {
        names: names(&["db", "web"]),
        force: false,
    };
    assert!(t.control(both.clone(), 1.5).is_ok());
    let mut t = T::new(vec![
        spec("db.1"),
        depends(spec("web.1"), "db", Condition::Ready),
    ]);
    assert_eq!(
        t.control(stop(true), 2.0),
        Ok(Answer::Stopped(names(&["db.1"])))
    );
    assert_eq!(t.sent(), vec![(db, TERM)]);
    assert!(t.lines().contains(&"web.1 depends on db (stop forced)"));
}

#[test]
fn restart_wait_answers_once_ready_again_or_with_why_not() {
    let mut db = probed("db.1", None);
    db.restart = RestartPolicy::OnFailure;
    let mut t = T::new(vec![db, spec("web.1")]);
    let _ = t.handle(Event::Ready { index: 0, gen: 1 }, t.at(0.5));
    let restart = Command::Restart {
        names: names(&["db"]),
        wait: true,
    };
    let id = RequestId(t.w.next_request);
    let answered = |t: &T, id: RequestId| {
        t.w.log.iter().find_map(|a| match a {
            Action::Answer { id: i, answer } if *i == id => Some(answer.clone()),
            _ => None,
        })
    };
    t.w.next_request += 1;
    let _ = t.handle(
        Event::Control {
            id,
            command: restart.clone(),
        },
        t.at(1.0),
    );
    assert_eq!(
        answered(&t, id),
        None,
        "the old run's readiness does not count"
    );
    let _ = t.dies("db.1", Exit::Signal(TERM), 1.1);
    let _ = t.handle(Event::Tick, t.at(1.1));
    assert_eq!(answered(&t, id), None, "started again, not ready yet");
    let _ = t.handle(Event::Ready { index: 0, gen: 2 }, t.at(2.0));
    assert_eq!(
        answered(&t, id),
        Some(Ok(Answer::Restarted(names(&["db.1"]))))
    );
    // A new run that ends before it is ready fails the wait, saying so.
    let id = RequestId(t.w.next_request);
    t.w.next_request += 1;
    let _ = t.handle(
        Event::Control {
            id,
            command: restart,
        },
        t.at(3.0),
    );
    let _ = t.dies("db.1", Exit::Signal(TERM), 3.1);
    let _ = t.handle(Event::Tick, t.at(3.1));
    let _ = t.dies("db.1", Exit::Code(2), 3.2);
    assert_eq!(
        answered(&t, id),
        Some(Err("db.1 exited with code 2 before it was ready".into()))
    );
}

#[test]
fn a_restart_is_announced_after_the_exit_line_of_the_run_before() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let web = t.pid_of("web.1");
    t.control(
        Command::Restart {
            names: names(&["web"]),
            wait: false,
        },
        1.0,
    )
    .unwrap();
    t.w.alive.remove(&web);
    let _ = t.handle(
        Event::Reaped {
            pid: pid(web),
            exit: Exit::Signal(TERM),
        },
        t.at(1.1),
    );
    let _ = t.handle(Event::Tick, t.at(1.2));
    assert_eq!(t.spawned().len(), 2, "its output is still being read");
    assert_eq!(t.s.next_wakeup(t.at(1.2)), None);
    let _ = t.stream_ends("web.1", 1, t.at(1.3));
    let when = t.s.next_wakeup(t.at(1.3)).unwrap();
    let _ = t.handle(Event::Tick, when);
    assert_eq!(t.spawned().len(), 3);
    let lines = t.lines();
    let exit = lines
        .iter()
        .position(|l| *l == "web.1 was killed by SIGTERM")
        .unwrap();
    let again = lines
        .iter()
        .position(|l| l.starts_with("web.1 started again"))
        .unwrap();
    assert!(exit < again, "{lines:?}");
}

#[test]
fn pause_stops_descendants_that_left_their_group_and_resume_continues_them() {
    let mut t = T::new(vec![spec("web.1")]);
    let web = pid(t.pid_of("web.1"));
    t.control(Command::Pause, 1.0).unwrap();
    assert!(t.w.log.contains(&Action::SignalEscaped {
        pgids: vec![web],
        signal: Signal::STOP,
    }));
    t.control(Command::Resume, 2.0).unwrap();
    assert!(t.w.log.contains(&Action::SignalEscaped {
        pgids: vec![web],
        signal: Signal::CONT,
    }));
}

mod watch;
/// The lifecycle events said, as (name or "-", kind).
fn events(t: &T) -> Vec<(String, super::core::events::EventKind)> {
    t.w.log
        .iter()
        .filter_map(|a| match a {
            Action::Event(e) => Some((
                e.process.as_ref().map_or("-".into(), |(_, n)| n.clone()),
                e.kind.clone(),
            )),
            _ => None,
        })
        .collect()
}

fn kinds(t: &T, name: &str) -> Vec<&'static str> {
    events(t)
        .into_iter()
        .filter(|(n, _)| n == name)
        .map(|(_, k)| k.name())
        .collect()
}

#[test]
fn a_crash_says_starting_started_ready_exited_and_restarting() {
    use super::core::events::EventKind;
    let mut web = spec("web.1");
    web.restart = RestartPolicy::OnFailure;
    let mut t = T::new(vec![web, spec("worker.1")]);
    let first = t.pid_of("web.1");
    let _ = t.dies("web.1", Exit::Code(3), 2.0);
    assert_eq!(
        kinds(&t, "web.1"),
        ["starting", "started", "ready", "exited", "restarting"]
    );
    let evs = events(&t);
    assert!(evs.contains(&("web.1".into(), EventKind::Started { pid: pid(first) })));
    assert!(evs.contains(&(
        "web.1".into(),
        EventKind::Exited {
            exit: Exit::Code(3),
            ran: Duration::from_secs(2),
            failed: true,
        }
    )));
    assert!(evs.contains(&(
        "web.1".into(),
        EventKind::Restarting {
            delay: Backoff::default().initial,
            count: 1,
        }
    )));
    // Without a readiness check it is ready at once.
    assert!(evs.contains(&(
        "worker.1".into(),
        EventKind::Ready {
            after: Duration::ZERO,
            probe: None,
        }
    )));
}

#[test]
fn readiness_says_each_new_probe_error_and_how_long_it_took() {
    use super::core::events::EventKind;
    let mut t = T::new(vec![probed("db.1", None)]);
    missed(&mut t, 0, "refused", 0.25);
    missed(&mut t, 0, "refused", 0.5);
    missed(&mut t, 0, "held by pid 9", 0.75);
    let _ = t.handle(Event::Ready { index: 0, gen: 1 }, t.at(1.5));
    let evs: Vec<EventKind> = events(&t).into_iter().map(|(_, k)| k).collect();
    assert_eq!(
        evs[2..],
        [
            EventKind::ProbeFailed {
                error: "refused".into()
            },
            EventKind::ProbeFailed {
                error: "held by pid 9".into()
            },
            EventKind::Ready {
                after: Duration::from_millis(1500),
                probe: Some("tcp"),
            },
        ]
    );
}

#[test]
fn a_stop_says_shutdown_then_stopping_and_killed_and_pause_is_said() {
    use super::core::events::EventKind;
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    assert_eq!(t.control(Command::Pause, 0.5), Ok(Answer::Done));
    assert_eq!(t.control(Command::Resume, 0.7), Ok(Answer::Done));
    let _ = t.handle(Event::Signal(StopSignal::Term), t.at(1.0));
    let _ = t.dies("worker.1", Exit::Signal(TERM), 1.1);
    // web ignores SIGTERM: SIGKILL after the 5s of its ladder.
    let _ = t.handle(Event::Tick, t.at(6.0));
    assert_eq!(
        kinds(&t, "web.1"),
        ["starting", "started", "ready", "paused", "resumed", "stopping", "killed"]
    );
    let evs = events(&t);
    let shutdown = evs.iter().position(|(n, _)| n == "-").unwrap();
    assert_eq!(
        evs[shutdown].1,
        EventKind::Shutdown {
            reason: "received SIGTERM".into()
        }
    );
    assert!(evs[shutdown + 1..].contains(&(
        "web.1".into(),
        EventKind::Stopping {
            reason: "shutdown".into()
        }
    )));
}

#[test]
fn a_requested_restart_says_why_it_stops() {
    use super::core::events::EventKind;
    let mut t = T::new(vec![spec("web.1")]);
    let answer = t.control(
        Command::Restart {
            names: names(&["web.1"]),
            wait: false,
        },
        1.0,
    );
    assert!(answer.is_ok(), "{answer:?}");
    assert!(events(&t).contains(&(
        "web.1".into(),
        EventKind::Stopping {
            reason: "restart".into()
        }
    )));
}
mod reload;
