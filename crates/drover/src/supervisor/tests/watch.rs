//! File changes: the restart through the stop ladder, what is ignored, the
//! cascade to dependents in dependency order, and the restart-loop guard.

use super::*;

fn changed(t: &mut T, name: &str, files: &[&str], secs: f64) {
    let index = t.index(name);
    let _ = t.handle(
        Event::FilesChanged {
            index,
            files: names(files),
        },
        t.at(secs),
    );
}

/// The process, being restarted, dies of its stop signal and starts again.
fn restarts(t: &mut T, name: &str, secs: f64) {
    let _ = t.dies(name, Exit::Signal(TERM), secs);
    let _ = t.handle(Event::Tick, t.at(secs));
    assert!(t.running(name), "{name} runs again");
}

fn gen(t: &T, name: &str) -> u32 {
    t.s.procs[t.index(name)].gen
}

#[test]
fn a_change_restarts_through_the_stop_ladder_with_one_line() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    let web = t.pid_of("web.1");
    let files = ["src/a.py", "src/b.py", "t/c.html", "d", "e"];
    changed(&mut t, "web.1", &files, 1.0);
    assert_eq!(t.sent(), vec![(web, TERM)]);
    assert!(t
        .lines()
        .contains(&"restarting web.1 (src/a.py, src/b.py, t/c.html and 2 more changed)"));
    // A second change while it stops adds nothing: the next start sees it.
    changed(&mut t, "web.1", &["src/a.py"], 1.05);
    assert_eq!(
        t.count(|a| matches!(a, Action::Say { text, .. } if text.starts_with("restarting"))),
        1
    );
    restarts(&mut t, "web.1", 1.1);
    assert_eq!(gen(&t, "web.1"), 2);
    assert_eq!(gen(&t, "worker.1"), 1, "the others run on");
    let triggered: Vec<_> =
        t.w.log
            .iter()
            .filter_map(|a| match a {
                Action::Event(e) => match &e.kind {
                    crate::supervisor::core::events::EventKind::WatchTriggered { files } => {
                        Some(files.len())
                    }
                    _ => None,
                },
                _ => None,
            })
            .collect();
    assert_eq!(triggered, [5], "one watch_triggered event, with every file");
    assert!(t.s.stopping.is_none());
}

#[test]
fn changes_are_ignored_while_stopping_paused_or_stopped_on_request() {
    let mut t = T::new(vec![spec("web.1"), spec("worker.1")]);
    t.control(
        Command::Stop {
            names: names(&["worker"]),
            force: false,
        },
        0.5,
    )
    .unwrap();
    let _ = t.dies("worker.1", Exit::Signal(TERM), 0.6);
    changed(&mut t, "worker.1", &["a"], 1.0);
    assert_eq!(t.life("worker.1"), &Life::Stopped { by_user: true });
    t.control(Command::Pause, 2.0).unwrap();
    let before = t.sent().len();
    changed(&mut t, "web.1", &["a"], 2.1);
    assert_eq!(t.sent().len(), before, "paused: no restart");
    t.control(Command::Resume, 2.2).unwrap();
    let _ = t.handle(Event::Signal(StopSignal::Term), t.at(3.0));
    let spawns = t.spawned().len();
    changed(&mut t, "web.1", &["a"], 3.1);
    let _ = t.dies("web.1", Exit::Signal(TERM), 3.2);
    assert_eq!(t.spawned().len(), spawns, "stopping: no restart");
}

#[test]
fn a_change_starts_a_process_that_had_ended() {
    let mut web = spec("web.1");
    web.can_die = true;
    let mut t = T::new(vec![web, spec("worker.1")]);
    let _ = t.dies("web.1", Exit::Code(1), 1.0);
    assert_eq!(t.life("web.1"), &Life::Exited);
    changed(&mut t, "web.1", &["app.py"], 2.0);
    assert!(t.running("web.1"));
    assert!(t.lines().contains(&"starting web.1 (app.py changed)"));
}

#[test]
fn dependents_that_ask_restart_once_their_dependency_is_ready_again() {
    let db = probed("db.1", None);
    let mut api = depends(spec("api.1"), "db", Condition::Ready);
    api.restart_on_dependency = true;
    let mut web = depends(spec("web.1"), "api", Condition::Started);
    web.restart_on_dependency = true;
    let other = depends(spec("other.1"), "db", Condition::Ready);
    let mut t = T::new(vec![db, api, web, other]);
    let _ = t.handle(Event::Ready { index: 0, gen: 1 }, t.at(0.5));
    assert!(t.running("web.1") && t.running("other.1"));
    let api_pid = t.pid_of("api.1");
    changed(&mut t, "db.1", &["schema.sql"], 1.0);
    restarts(&mut t, "db.1", 1.1);
    assert!(
        !t.sent().contains(&(api_pid, TERM)),
        "dependents wait for db to be ready again"
    );
    let _ = t.handle(Event::Ready { index: 0, gen: 2 }, t.at(2.0));
    assert!(t.sent().contains(&(api_pid, TERM)));
    assert!(t.lines().contains(&"restarting api.1 (db.1 restarted)"));
    restarts(&mut t, "api.1", 2.1);
    // api has no probe: ready at once, so web follows in the same step.
    let web_pid = t.pid_of("web.1");
    let _ = t.handle(Event::Tick, t.at(2.2));
    assert!(t.sent().contains(&(web_pid, TERM)));
    restarts(&mut t, "web.1", 2.3);
    assert_eq!(
        (gen(&t, "api.1"), gen(&t, "web.1"), gen(&t, "other.1")),
        (2, 2, 1),
        "other did not ask"
    );
}

#[test]
fn a_cascade_waits_for_every_restarted_instance_of_the_dependency() {
    let mut api = depends(spec("api.1"), "db", Condition::Ready);
    api.restart_on_dependency = true;
    let mut t = T::new(vec![probed("db.1", None), probed("db.2", None), api]);
    let _ = t.handle(Event::Ready { index: 0, gen: 1 }, t.at(0.2));
    let _ = t.handle(Event::Ready { index: 1, gen: 1 }, t.at(0.3));
    assert!(t.running("api.1"));
    let api_pid = t.pid_of("api.1");
    t.control(
        Command::Restart {
            names: names(&["db"]),
            wait: false,
        },
        1.0,
    )
    .unwrap();
    restarts(&mut t, "db.1", 1.1);
    restarts(&mut t, "db.2", 1.1);
    let _ = t.handle(Event::Ready { index: 0, gen: 2 }, t.at(1.5));
    assert!(
        !t.sent().contains(&(api_pid, TERM)),
        "db.2 is not ready again yet"
    );
    let _ = t.handle(Event::Ready { index: 1, gen: 2 }, t.at(1.6));
    assert!(t.sent().contains(&(api_pid, TERM)));
    restarts(&mut t, "api.1", 1.7);
    assert_eq!(gen(&t, "api.1"), 2, "once");
}

#[test]
fn a_dependent_of_two_restarted_processes_restarts_once_after_the_later() {
    // web depends on db and on api, which depends on db: web waits for api.
    let mut api = depends(spec("api.1"), "db", Condition::Started);
    api.restart_on_dependency = true;
    let mut web = depends(spec("web.1"), "db", Condition::Started);
    web.depends_on.push(Dependency {
        process: "api".into(),
        condition: Condition::Ready,
    });
    web.restart_on_dependency = true;
    let mut t = T::new(vec![spec("db.1"), api, web]);
    let web_pid = t.pid_of("web.1");
    t.control(
        Command::Restart {
            names: names(&["db"]),
            wait: false,
        },
        1.0,
    )
    .unwrap();
    restarts(&mut t, "db.1", 1.1);
    assert!(!t.sent().contains(&(web_pid, TERM)), "web waits for api");
    restarts(&mut t, "api.1", 1.2);
    let _ = t.handle(Event::Tick, t.at(1.3));
    assert!(t.sent().contains(&(web_pid, TERM)));
    restarts(&mut t, "web.1", 1.4);
    assert_eq!(gen(&t, "web.1"), 2, "once");
}

#[test]
fn a_restart_loop_pauses_the_watch_until_restart_names_it() {
    let mut t = T::new(vec![spec("web.1")]);
    for n in 0..5 {
        let at = 1.0 + f64::from(n);
        changed(&mut t, "web.1", &["out.log"], at);
        restarts(&mut t, "web.1", at + 0.1);
    }
    assert_eq!(gen(&t, "web.1"), 6);
    changed(&mut t, "web.1", &["out.log"], 6.0);
    assert_eq!(gen(&t, "web.1"), 6, "the sixth in 10 s is not restarted");
    assert!(t
        .lines()
        .iter()
        .any(|l| l.starts_with("web.1: stopped watching its files: 5 restarts in 10s")));
    changed(&mut t, "web.1", &["out.log"], 30.0);
    assert_eq!(gen(&t, "web.1"), 6, "paused for good");
    t.control(
        Command::Restart {
            names: names(&["web"]),
            wait: false,
        },
        31.0,
    )
    .unwrap();
    restarts(&mut t, "web.1", 31.1);
    assert!(t.lines().contains(&"web.1: watching its files again"));
    changed(&mut t, "web.1", &["app.py"], 32.0);
    restarts(&mut t, "web.1", 32.1);
    assert_eq!(gen(&t, "web.1"), 8);
}

#[test]
fn restarts_spread_over_more_than_ten_seconds_are_no_loop() {
    let mut t = T::new(vec![spec("web.1")]);
    for n in 0..8 {
        let at = 1.0 + 3.0 * f64::from(n);
        changed(&mut t, "web.1", &["app.py"], at);
        restarts(&mut t, "web.1", at + 0.1);
    }
    assert_eq!(gen(&t, "web.1"), 9);
}

#[test]
fn a_change_restarts_every_instance_of_the_process() {
    let mut t = T::new(vec![spec("web.1"), spec("web.2"), spec("worker.1")]);
    let (w1, w2) = (t.pid_of("web.1"), t.pid_of("web.2"));
    changed(&mut t, "web.1", &["app.py"], 1.0);
    assert_eq!(t.sent(), vec![(w1, TERM), (w2, TERM)]);
    restarts(&mut t, "web.1", 1.1);
    restarts(&mut t, "web.2", 1.1);
    assert_eq!(gen(&t, "worker.1"), 1);
}
