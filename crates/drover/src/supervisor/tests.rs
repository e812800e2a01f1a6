//! Policy tests: the supervisor's decisions, driven event by event with a
//! recording fake of the operating system and explicit instants.

use std::collections::HashSet;
use std::path::PathBuf;

use super::*;
use crate::plan::{Backoff, Dependency, Readiness};

/// Records spawns and signals; a group lives until the test says it died.
#[derive(Default)]
struct FakeOs {
    next_pid: i32,
    spawned: Vec<(String, u32)>,
    probes: Vec<String>,
    sent: Vec<(i32, i32)>,
    alive: HashSet<i32>,
    fail_spawn: HashSet<String>,
    sent_pid: Vec<(i32, i32)>,
    orphans: Vec<i32>,
    stopped_self: u32,
    systemd: Vec<String>,
}

impl Os for FakeOs {
    fn spawn(
        &mut self,
        _index: usize,
        spec: &ProcessSpec,
        generation: u32,
        _cut: watch::Receiver<Option<Instant>>,
    ) -> io::Result<Pid> {
        if self.fail_spawn.contains(&spec.name) {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        self.next_pid += 10;
        self.alive.insert(self.next_pid);
        self.spawned.push((spec.name.clone(), generation));
        Ok(pid(self.next_pid))
    }
    fn spawn_probe(&mut self, spec: &ProcessSpec, _command: &str) -> io::Result<Pid> {
        self.next_pid += 10;
        self.alive.insert(self.next_pid);
        self.probes.push(spec.name.clone());
        Ok(pid(self.next_pid))
    }
    fn signal_group(&mut self, pgid: Pid, sig: i32) -> io::Result<()> {
        let n = pgid.as_raw_nonzero().get();
        self.sent.push((n, sig));
        if self.alive.contains(&n) {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(libc::ESRCH))
        }
    }
    fn group_alive(&mut self, pgid: Pid) -> bool {
        self.alive.contains(&pgid.as_raw_nonzero().get())
    }
    fn signal_pid(&mut self, pid: Pid, sig: i32) -> io::Result<()> {
        self.sent_pid.push((pid.as_raw_nonzero().get(), sig));
        Ok(())
    }
    fn stop_self(&mut self) {
        self.stopped_self += 1;
    }
    fn notify_systemd(&mut self, state: &str) {
        self.systemd.push(state.to_string());
    }
    fn group_members(&mut self, pgid: Pid) -> Vec<(Pid, String)> {
        if self.alive.contains(&pgid.as_raw_nonzero().get()) {
            vec![(pgid, "member".into())]
        } else {
            vec![]
        }
    }
    fn adopted(&mut self) -> Vec<(Pid, String)> {
        self.orphans
            .iter()
            .map(|p| (pid(*p), "daemon".to_string()))
            .collect()
    }
}

fn pid(n: i32) -> Pid {
    Pid::from_raw(n).unwrap()
}

fn spec(name: &str) -> ProcessSpec {
    let process = name.split('.').next().unwrap().to_string();
    ProcessSpec {
        name: name.into(),
        process,
        index: 0,
        instance: 1,
        command: "x".into(),
        env: vec![],
        cwd: PathBuf::from("."),
        port: 5000,
        stop_ladder: crate::plan::default_ladder(Signal::TERM, Duration::from_secs(5)),
        restart: RestartPolicy::No,
        backoff: Backoff::default(),
        max_restarts: None,
        depends_on: vec![],
        ready: None,
        named_ports: vec![],
        can_die: false,
        kill_mode: crate::plan::KillMode::ControlGroup,
        tty: false,
        force_color: false,
    }
}

struct T {
    s: Supervisor<FakeOs>,
    t0: Instant,
}

impl T {
    fn new(specs: Vec<ProcessSpec>) -> Self {
        let mut s = Supervisor::new(specs, FakeOs::default());
        let t0 = Instant::now();
        assert_eq!(s.start(t0), Step::Continue);
        T { s, t0 }
    }
    fn at(&self, secs: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(secs)
    }
    fn pid_of(&self, name: &str) -> i32 {
        let p = self.s.procs.iter().find(|p| p.spec.name == name).unwrap();
        p.current().unwrap().pgid.as_raw_nonzero().get()
    }
    fn index(&self, name: &str) -> usize {
        self.s
            .procs
            .iter()
            .position(|p| p.spec.name == name)
            .unwrap()
    }
    /// The process's leader and group die, and both its streams end.
    fn dies(&mut self, name: &str, exit: Exit, secs: f64) -> Step {
        let p = self.pid_of(name);
        let index = self.index(name);
        let generation = self.s.procs[index].generation;
        self.s.os.alive.remove(&p);
        let now = self.at(secs);
        let _ = self.s.handle(Event::Reaped { pid: pid(p), exit }, now);
        let _ = self.s.handle(
            Event::StreamEnded {
                index,
                generation,
                stream: Stream::Stdout,
                end: ReaderEnd::Eof,
                holders: vec![],
            },
            now,
        );
        self.s.handle(
            Event::StreamEnded {
                index,
                generation,
                stream: Stream::Stderr,
                end: ReaderEnd::Eof,
                holders: vec![],
            },
            now,
        )
    }
    fn control(&mut self, request: Request, secs: f64) -> Result<serde_json::Value, String> {
        let (tx, mut rx) = oneshot::channel();
        let _ = self.s.handle(Event::Control(request, tx), self.at(secs));
        rx.try_recv()
            .expect("control requests are answered at once")
    }
    /// The earliest pending stop-ladder step.
    fn next_step(&self) -> Option<Instant> {
        self.s
            .procs
            .iter()
            .flat_map(|p| &p.gens)
            .filter_map(|g| g.kill_at)
            .min()
    }
    fn state(&self, name: &str) -> &State {
        &self.s.procs[self.index(name)].state
    }
}

#[test]
fn a_process_exiting_stops_the_others_and_sets_the_status() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let worker = t.pid_of("worker.1");
    assert_eq!(t.dies("web.1", Exit::Code(3), 1.0), Step::Continue);
    assert_eq!(t.s.os.sent, vec![(worker, libc::SIGTERM)]);
    assert_eq!(
        t.dies("worker.1", Exit::Signal(libc::SIGTERM), 1.0),
        Step::Done(3)
    );
}

#[test]
fn killed_by_a_signal_means_128_plus_the_signal() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let _ = t.dies("worker.1", Exit::Signal(9), 1.0);
    assert_eq!(t.dies("web.1", Exit::Code(0), 1.0), Step::Done(137));
}

#[test]
fn signal_ladder_stop_signal_then_kill_at_the_deadline() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let (web, worker) = (t.pid_of("web.1"), t.pid_of("worker.1"));
    let _ = t.s.handle(Event::Signal(StopSignal::Int), t.at(0.0));
    assert_eq!(
        t.s.os.sent,
        vec![(web, libc::SIGTERM), (worker, libc::SIGTERM)]
    );
    let _ = t.dies("web.1", Exit::Code(0), 1.0);
    assert_eq!(t.next_step(), Some(t.at(5.0)));
    let _ = t.s.handle(Event::Tick, t.at(4.999));
    assert_eq!(t.s.os.sent.len(), 2, "no SIGKILL before the deadline");
    let _ = t.s.handle(Event::Tick, t.at(5.0));
    assert_eq!(t.s.os.sent[2], (worker, libc::SIGKILL));
    // A requested stop that needed SIGKILL exits 1.
    assert_eq!(t.dies("worker.1", Exit::Signal(9), 5.0), Step::Done(1));
}

#[test]
fn requested_stop_in_time_exits_zero() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let _ = t.s.handle(Event::Signal(StopSignal::Term), t.at(0.0));
    let _ = t.dies("web.1", Exit::Signal(15), 0.1);
    assert_eq!(t.dies("worker.1", Exit::Code(0), 0.1), Step::Done(0));
}

#[test]
fn second_signal_kills_at_once() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let (web, worker) = (t.pid_of("web.1"), t.pid_of("worker.1"));
    let _ = t.s.handle(Event::Signal(StopSignal::Int), t.at(0.0));
    let _ = t.s.handle(Event::Signal(StopSignal::Int), t.at(0.1));
    assert_eq!(
        t.s.os.sent,
        vec![(web, 15), (worker, 15), (web, 9), (worker, 9)]
    );
    assert_eq!(t.next_step(), None);
}

#[test]
fn a_lingering_group_gets_the_stop_signal_then_sigkill() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let web = t.pid_of("web.1");
    // web's leader exits on its own, but a grandchild keeps its group alive.
    let _ = t.s.handle(
        Event::Reaped {
            pid: pid(web),
            exit: Exit::Code(0),
        },
        t.at(1.0),
    );
    assert!(
        t.s.os.sent.contains(&(web, libc::SIGTERM)),
        "the lingering group is told to stop"
    );
    assert_eq!(t.s.next_wakeup(t.at(1.0)), Some(t.at(1.0) + GROUP_POLL));
    let _ = t.s.handle(Event::Tick, t.at(6.0));
    assert!(t.s.os.sent.contains(&(web, libc::SIGKILL)));
    t.s.os.alive.remove(&web);
    let _ = t.s.handle(Event::Tick, t.at(6.01));
    let index = t.index("web.1");
    for stream in [Stream::Stdout, Stream::Stderr] {
        let _ = t.s.handle(
            Event::StreamEnded {
                index,
                generation: 1,
                stream,
                end: ReaderEnd::Eof,
                holders: vec![],
            },
            t.at(6.1),
        );
    }
    assert_eq!(t.dies("worker.1", Exit::Code(0), 6.2), Step::Done(0));
}

#[test]
fn drain_deadline_starts_when_the_group_is_gone() {
    let mut t = T::new(vec![spec("web.1")]);
    let cut = t.s.procs[0].gens[0].cut.subscribe();
    assert_eq!(*cut.borrow(), None);
    let web = t.pid_of("web.1");
    t.s.os.alive.remove(&web);
    let _ = t.s.handle(
        Event::Reaped {
            pid: pid(web),
            exit: Exit::Code(0),
        },
        t.at(1.0),
    );
    assert_eq!(*cut.borrow(), Some(t.at(1.0) + DRAIN));
}

#[test]
fn stdout_closed_stops_everything() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let _ = t.s.handle(Event::StdoutClosed, t.at(0.0));
    assert_eq!(t.s.os.sent.len(), 2);
}

#[test]
fn unknown_pids_are_ignored() {
    let mut t = T::new(vec![spec("web.1")]);
    let step = t.s.handle(
        Event::Reaped {
            pid: pid(9999),
            exit: Exit::Code(0),
        },
        t.at(0.0),
    );
    assert_eq!(step, Step::Continue);
    assert!(t.s.os.sent.is_empty());
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
    assert_eq!(t.state("web.1"), &State::Backoff { until: t.at(2.0) });
    let _ = t.s.handle(Event::Tick, t.at(2.0));
    assert_eq!(
        t.s.os.spawned.iter().filter(|(n, _)| n == "web.1").count(),
        2
    );
    let _ = t.dies("web.1", Exit::Code(1), 3.0);
    assert_eq!(
        t.state("web.1"),
        &State::Backoff { until: t.at(5.0) },
        "the delay doubled"
    );
    let _ = t.s.handle(Event::Tick, t.at(5.0));
    // Third failure in a row: max_restarts = 2 reached, the foreman rule applies.
    let worker = t.pid_of("worker.1");
    let _ = t.dies("web.1", Exit::Code(1), 6.0);
    assert_eq!(t.state("web.1"), &State::Exited);
    assert!(t.s.os.sent.contains(&(worker, libc::SIGTERM)));
    assert_eq!(t.dies("worker.1", Exit::Code(0), 6.5), Step::Done(1));
}

#[test]
fn on_failure_does_not_restart_a_clean_exit_and_always_does() {
    let mut a = spec("a.1");
    a.restart = RestartPolicy::OnFailure;
    let mut b = spec("b.1");
    b.restart = RestartPolicy::Always;
    let mut t = T::new(vec![a, b, spec("c.1")]);
    let _ = t.dies("b.1", Exit::Code(0), 1.0);
    assert!(matches!(t.state("b.1"), State::Backoff { .. }));
    let _ = t.dies("a.1", Exit::Code(0), 1.0);
    assert_eq!(t.state("a.1"), &State::Exited);
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
    let _ = t.s.handle(Event::Tick, t.at(2.0));
    let _ = t.dies("web.1", Exit::Code(1), 100.0);
    assert_eq!(
        t.state("web.1"),
        &State::Backoff { until: t.at(101.0) },
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
    });
    let web = depends(spec("web.1"), "db", Condition::Ready);
    let mut t = T::new(vec![db, web]);
    assert_eq!(t.s.os.spawned, vec![("db.1".to_string(), 1)]);
    assert_eq!(t.state("web.1"), &State::Waiting);
    let _ = t.s.handle(
        Event::Ready {
            index: 0,
            generation: 1,
        },
        t.at(1.0),
    );
    assert_eq!(t.s.os.spawned.len(), 2, "web starts once db is ready");
}

#[test]
fn command_probe_runs_until_it_exits_zero() {
    let mut db = spec("db.1");
    db.ready = Some(Readiness {
        probe: Probe::Command("check".into()),
        interval: Duration::from_millis(100),
    });
    let web = depends(spec("web.1"), "db", Condition::Ready);
    let mut t = T::new(vec![db, web]);
    let _ = t.s.handle(Event::Tick, t.at(0.0));
    assert_eq!(t.s.os.probes.len(), 1);
    let probe = t.s.procs[0].probe_pid.unwrap();
    let _ = t.s.handle(
        Event::Reaped {
            pid: probe,
            exit: Exit::Code(1),
        },
        t.at(0.05),
    );
    assert_eq!(t.s.next_wakeup(t.at(0.05)), Some(t.at(0.15)));
    let _ = t.s.handle(Event::Tick, t.at(0.15));
    let probe = t.s.procs[0].probe_pid.unwrap();
    let _ = t.s.handle(
        Event::Reaped {
            pid: probe,
            exit: Exit::Code(0),
        },
        t.at(0.2),
    );
    assert_eq!(t.state("web.1"), &State::Running);
}

#[test]
fn exited_ok_dependency_runs_first_and_its_success_does_not_stop_drover() {
    let migrate = spec("migrate.1");
    let web = depends(spec("web.1"), "migrate", Condition::ExitedOk);
    let mut t = T::new(vec![migrate, web]);
    assert_eq!(t.state("web.1"), &State::Waiting);
    let _ = t.dies("migrate.1", Exit::Code(0), 1.0);
    assert!(t.s.stopping.is_none());
    assert_eq!(t.state("web.1"), &State::Running);
}

#[test]
fn a_failed_dependency_means_the_dependent_never_starts() {
    let migrate = spec("migrate.1");
    let web = depends(spec("web.1"), "migrate", Condition::ExitedOk);
    let mut t = T::new(vec![migrate, web]);
    assert_eq!(t.dies("migrate.1", Exit::Code(2), 1.0), Step::Done(2));
    assert!(matches!(
        t.state("web.1"),
        State::Stopped | State::Failed(_)
    ));
    assert_eq!(t.s.os.spawned.len(), 1, "web was never started");
}

#[test]
fn stop_goes_in_reverse_dependency_order() {
    let db = spec("db.1");
    let web = depends(spec("web.1"), "db", Condition::Started);
    let mut t = T::new(vec![db, web]);
    let (db, web) = (t.pid_of("db.1"), t.pid_of("web.1"));
    let _ = t.s.handle(Event::Signal(StopSignal::Term), t.at(0.0));
    assert_eq!(t.s.os.sent, vec![(web, 15)], "db waits until web is gone");
    let _ = t.dies("web.1", Exit::Code(0), 0.5);
    assert_eq!(t.s.os.sent, vec![(web, 15), (db, 15)]);
    assert_eq!(t.dies("db.1", Exit::Code(0), 0.6), Step::Done(0));
}

#[test]
fn a_spawn_failure_stops_everything_with_status_1() {
    let mut os = FakeOs::default();
    os.fail_spawn.insert("b.1".into());
    let mut s = Supervisor::new(vec![spec("a.1"), spec("b.1")], os);
    let t0 = Instant::now();
    assert_eq!(s.start(t0), Step::Continue);
    assert!(s.stopping.is_some());
    let a = s.procs[0].current().unwrap().pgid;
    s.os.alive.remove(&a.as_raw_nonzero().get());
    let _ = s.handle(
        Event::Reaped {
            pid: a,
            exit: Exit::Signal(15),
        },
        t0,
    );
    let _ = s.handle(
        Event::StreamEnded {
            index: 0,
            generation: 1,
            stream: Stream::Stdout,
            end: ReaderEnd::Eof,
            holders: vec![],
        },
        t0,
    );
    let step = s.handle(
        Event::StreamEnded {
            index: 0,
            generation: 1,
            stream: Stream::Stderr,
            end: ReaderEnd::Eof,
            holders: vec![],
        },
        t0,
    );
    assert_eq!(step, Step::Done(1));
}

#[test]
fn control_stop_and_restart() {
    let mut t = T::new(vec![spec("web.1"), spec("web.2"), spec("worker.1")]);
    let (w1, w2) = (t.pid_of("web.1"), t.pid_of("web.2"));
    let r = t
        .control(
            Request::Stop {
                names: vec!["web".into()],
            },
            1.0,
        )
        .unwrap();
    assert_eq!(r["stopped"], serde_json::json!(["web.1", "web.2"]));
    assert_eq!(t.s.os.sent, vec![(w1, 15), (w2, 15)]);
    let _ = t.dies("web.1", Exit::Signal(15), 1.1);
    let _ = t.dies("web.2", Exit::Signal(15), 1.1);
    assert!(
        t.s.stopping.is_none(),
        "a requested stop is not the foreman rule"
    );
    assert_eq!(t.state("web.1"), &State::Stopped);
    t.control(
        Request::Restart {
            names: vec!["web.2".into()],
        },
        2.0,
    )
    .unwrap();
    assert_eq!(t.state("web.2"), &State::Running);
    assert_eq!(t.state("web.1"), &State::Stopped);
    // Restart of a running process: stop, then start again on exit.
    let w2b = t.pid_of("web.2");
    t.control(
        Request::Restart {
            names: vec!["web.2".into()],
        },
        3.0,
    )
    .unwrap();
    assert!(t.s.os.sent.contains(&(w2b, 15)));
    let _ = t.dies("web.2", Exit::Signal(15), 3.1);
    let _ = t.s.handle(Event::Tick, t.at(3.1));
    assert_eq!(t.state("web.2"), &State::Running);
    let rows = t.control(Request::Ps, 4.0).unwrap();
    assert_eq!(rows["processes"][1]["restarts"], 2);
    assert_eq!(rows["processes"][0]["state"], "stopped");
}

#[test]
fn control_errors_change_nothing() {
    let mut t = T::new(vec![spec("web.1")]);
    let e = t
        .control(
            Request::Stop {
                names: vec!["nope".into()],
            },
            1.0,
        )
        .unwrap_err();
    assert!(e.contains("no process named \"nope\""), "{e}");
    let e = t
        .control(
            Request::Kill {
                name: "web".into(),
                signal: "BOGUS".into(),
            },
            1.0,
        )
        .unwrap_err();
    assert!(e.contains("not a signal"), "{e}");
    assert!(t.s.os.sent.is_empty());
    t.control(
        Request::Kill {
            name: "web".into(),
            signal: "HUP".into(),
        },
        1.0,
    )
    .unwrap();
    assert_eq!(t.s.os.sent, vec![(t.pid_of("web.1"), libc::SIGHUP)]);
}

#[test]
fn shutdown_request_stops_everything() {
    let mut t = T::new(vec![spec("web.1")]);
    t.control(Request::Shutdown, 1.0).unwrap();
    assert_eq!(t.dies("web.1", Exit::Signal(15), 1.1), Step::Done(0));
}

#[test]
fn escaped_descendants_are_stopped_and_reaped_before_exit() {
    let mut t = T::new(vec![spec("web.1")]);
    let _ = t.s.handle(Event::Signal(StopSignal::Term), t.at(0.0));
    // A daemon that called setsid() was re-parented to drover.
    t.s.os.orphans.push(777);
    assert_eq!(
        t.dies("web.1", Exit::Code(0), 0.1),
        Step::Continue,
        "the orphan is still alive"
    );
    assert_eq!(t.s.os.sent_pid, vec![(777, libc::SIGTERM)]);
    // It ignores SIGTERM: SIGKILL at the timeout.
    let _ = t.s.handle(Event::Tick, t.at(5.2));
    assert!(t.s.os.sent_pid.contains(&(777, libc::SIGKILL)));
    t.s.os.orphans.clear();
    // It needed SIGKILL: the requested stop was not in time.
    assert_eq!(
        t.s.handle(
            Event::Reaped {
                pid: pid(777),
                exit: Exit::Signal(9)
            },
            t.at(5.3)
        ),
        Step::Done(1)
    );
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
    let _ = t.s.handle(Event::Signal(StopSignal::Int), t.at(0.0));
    assert_eq!(t.s.os.sent, vec![(p, libc::SIGINT)]);
    assert_eq!(t.next_step(), Some(t.at(2.0)));
    let _ = t.s.handle(Event::Tick, t.at(2.0));
    assert_eq!(t.s.os.sent, vec![(p, libc::SIGINT), (p, libc::SIGTERM)]);
    let _ = t.s.handle(Event::Tick, t.at(4.9));
    assert_eq!(t.s.os.sent.len(), 2);
    let _ = t.s.handle(Event::Tick, t.at(5.0));
    assert_eq!(t.s.os.sent[2], (p, libc::SIGKILL));
    assert_eq!(t.next_step(), None);
    assert_eq!(t.dies("web.1", Exit::Signal(9), 5.1), Step::Done(1));
}

#[test]
fn a_waiting_shutdown_reports_once_a_second() {
    let mut t = T::new(vec![spec("web.1")]);
    let _ = t.s.handle(Event::Signal(StopSignal::Term), t.at(0.0));
    assert_eq!(
        t.s.next_wakeup(t.at(0.0)),
        Some(t.at(1.0)),
        "the first report is due after 1s"
    );
    let _ = t.s.handle(Event::Tick, t.at(1.0));
    assert_eq!(t.s.blocker_at, Some(t.at(2.0)));
}

#[test]
fn ctrl_z_pauses_processes_and_timers_and_fg_resumes_them() {
    let mut web = spec("web.1");
    web.restart = RestartPolicy::Always;
    let mut t = T::new(vec![web, spec("worker.1")]);
    let worker = t.pid_of("worker.1");
    let _ = t.dies("web.1", Exit::Code(1), 1.0);
    assert_eq!(t.state("web.1"), &State::Backoff { until: t.at(2.0) });
    let _ = t.s.handle(Event::Suspend, t.at(1.5));
    assert_eq!(t.s.os.stopped_self, 1, "drover stops itself after pausing");
    assert!(t.s.os.sent.contains(&(worker, libc::SIGTSTP)));
    assert_eq!(
        t.s.next_wakeup(t.at(1.5)),
        None,
        "no timer runs while paused"
    );
    let _ = t.s.handle(Event::Tick, t.at(10.0));
    assert!(
        matches!(t.state("web.1"), State::Backoff { .. }),
        "no restart while paused"
    );
    // `fg` after 8.5 s: SIGCONT, and the backoff has 0.5 s left.
    let _ = t.s.handle(Event::Continued, t.at(10.0));
    assert!(t.s.os.sent.contains(&(worker, libc::SIGCONT)));
    assert_eq!(t.state("web.1"), &State::Backoff { until: t.at(10.5) });
}

#[test]
fn a_stop_while_paused_continues_the_processes_first() {
    let mut t = T::new(vec![spec("web.1")]);
    let web = t.pid_of("web.1");
    t.control(Request::Pause, 1.0).unwrap();
    let _ = t.s.handle(Event::Signal(StopSignal::Int), t.at(2.0));
    assert_eq!(
        t.s.os.sent,
        vec![
            (web, libc::SIGTSTP),
            (web, libc::SIGCONT),
            (web, libc::SIGTERM)
        ]
    );
}

#[test]
fn systemd_hears_ready_once_everything_is_ready_and_stopping_on_shutdown() {
    let mut db = spec("db.1");
    db.ready = Some(Readiness {
        probe: Probe::Notify,
        interval: Duration::from_millis(250),
    });
    let mut t = T::new(vec![db, spec("web.1")]);
    assert!(t.s.os.systemd.is_empty(), "db is not ready yet");
    let _ = t.s.handle(
        Event::Ready {
            index: 0,
            generation: 1,
        },
        t.at(1.0),
    );
    assert_eq!(t.s.os.systemd, vec!["READY=1"]);
    let _ = t.s.handle(Event::Tick, t.at(2.0));
    assert_eq!(t.s.os.systemd, vec!["READY=1"], "said once");
    let _ = t.s.handle(Event::Signal(StopSignal::Term), t.at(3.0));
    assert_eq!(t.s.os.systemd, vec!["READY=1", "STOPPING=1"]);
}

#[test]
fn one_signal_during_a_stop_for_another_reason_kills_nothing() {
    let db = spec("db.1");
    let web = depends(spec("web.1"), "db", Condition::Started);
    let mut t = T::new(vec![db, web, spec("crash.1")]);
    let db = t.pid_of("db.1");
    let _ = t.dies("crash.1", Exit::Code(1), 1.0);
    // systemd (or a user) sends SIGTERM once while drover already stops.
    let _ = t.s.handle(Event::Signal(StopSignal::Term), t.at(1.1));
    assert!(
        !t.s.os.sent.contains(&(db, libc::SIGKILL)),
        "db still waits for its turn"
    );
    assert!(
        !t.s.os.sent.contains(&(db, libc::SIGTERM)),
        "web is not gone yet"
    );
    let _ = t.s.handle(Event::Signal(StopSignal::Term), t.at(1.2));
    assert!(
        t.s.os.sent.contains(&(db, libc::SIGKILL)),
        "a second signal kills"
    );
}

#[test]
fn a_kill_before_the_stop_does_not_make_a_requested_stop_late() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let web = t.pid_of("web.1");
    // web's leader exits; its lingering group needs SIGKILL, while running.
    let _ = t.s.handle(
        Event::Reaped {
            pid: pid(web),
            exit: Exit::Code(0),
        },
        t.at(1.0),
    );
    let _ = t.s.handle(Event::Tick, t.at(6.0));
    assert!(t.s.os.sent.contains(&(web, libc::SIGKILL)));
    assert!(
        t.s.stopping.is_some(),
        "web ended: the foreman rule stops the rest"
    );
}
