//! Policy tests of the edit loop: `autostart = false`, `scale`, `reload`.

use super::*;

fn manual(name: &str) -> ProcessSpec {
    let mut s = spec(name);
    s.autostart = false;
    s
}

#[test]
fn autostart_false_is_not_started_and_drover_waits() {
    let mut t = T::new(vec![manual("db.1"), spec("web.1")]);
    assert_eq!(t.spawned(), vec![("web.1".to_string(), 1)]);
    assert_eq!(t.life("db.1"), &Life::Stopped { by_user: true });
    assert!(t.systemd().contains(&"READY=1"), "db is not waited for");
    let ps = match t.control(Command::Ps, 0.1) {
        Ok(Answer::Ps(rows)) => rows,
        other => panic!("{other:?}"),
    };
    assert!(ps[0].why.as_deref().unwrap().contains("autostart = false"));
    assert_eq!(ps[0].state, PsState::NotStarted);
}

#[test]
fn autostart_false_alone_keeps_drover_running() {
    let mut w = spec("once.1");
    w.can_die = true;
    let (mut t, end) = T::with(vec![manual("db.1"), w], World::default());
    assert_eq!(end, None);
    assert_eq!(
        t.dies("once.1", Exit::Code(0), 1.0),
        None,
        "db may still be started"
    );
}

#[test]
fn dependent_of_autostart_false_waits_and_restart_starts_both() {
    let web = depends(spec("web.1"), "db", Condition::Started);
    let mut t = T::new(vec![manual("db.1"), web, spec("other.1")]);
    assert_eq!(t.spawned(), vec![("other.1".to_string(), 1)]);
    assert_eq!(t.life("web.1"), &Life::Waiting);
    let _ = t.control(
        Command::Restart {
            names: vec!["db".into()],
            wait: false,
        },
        1.0,
    );
    let names: Vec<String> = t.spawned().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec!["other.1", "db.1", "web.1"]);
}

#[test]
fn restart_starts_the_dependencies_that_do_not_run() {
    let mut db = manual("db.1");
    db.ready = Some(Readiness {
        probe: Probe::Tcp("127.0.0.1:1".into()),
        interval: Duration::from_millis(100),
        timeout: None,
    });
    let web = depends(manual("web.1"), "db", Condition::Ready);
    let mut t = T::new(vec![db, web, spec("other.1")]);
    let answer = t.control(
        Command::Restart {
            names: vec!["web".into()],
            wait: false,
        },
        1.0,
    );
    assert_eq!(answer, Ok(Answer::Restarted(vec!["web.1".into()])));
    let names: Vec<String> = t.spawned().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec!["other.1", "db.1"], "db first");
    assert_eq!(t.life("web.1"), &Life::Waiting);
    let _ = t.handle(Event::Ready { index: 0, gen: 1 }, t.at(2.0));
    let names: Vec<String> = t.spawned().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        vec!["other.1", "db.1", "web.1"],
        "then web, once db is ready"
    );
}

fn changes(answer: Result<Answer, String>) -> Vec<String> {
    match answer {
        Ok(Answer::Changes(lines)) => lines,
        other => panic!("{other:?}"),
    }
}

fn ps_names(t: &mut T, secs: f64) -> Vec<String> {
    match t.control(Command::Ps, secs) {
        Ok(Answer::Ps(rows)) => rows.into_iter().map(|r| r.name).collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn scale_appends_instances_and_retires_the_highest_first() {
    let mut web = spec("web.1");
    web.env = vec![
        ("PORT".into(), "5000".into()),
        ("PS".into(), "web.1".into()),
    ];
    let mut t = T::new(vec![web, spec("worker.1")]);
    let up = t.control(
        Command::Scale {
            counts: vec![("web".into(), 3)],
        },
        1.0,
    );
    assert_eq!(changes(up), ["+ web.2", "+ web.3"]);
    assert_eq!(t.index("web.3"), 3, "appended, never shifted");
    assert!(t.w.log.iter().any(|a| matches!(
        a,
        Action::SetSpec { index: 3, spec } if spec.port == 5002
    )));
    let spawned: Vec<String> = t.spawned().into_iter().map(|(n, _)| n).collect();
    assert_eq!(spawned, ["web.1", "worker.1", "web.2", "web.3"]);

    let (web2, web3) = (t.pid_of("web.2"), t.pid_of("web.3"));
    let down = t.control(
        Command::Scale {
            counts: vec![("web".into(), 1), ("worker".into(), 0)],
        },
        2.0,
    );
    assert_eq!(changes(down), ["- web.3", "- web.2", "- worker.1"]);
    let sent = t.sent();
    assert!(sent.contains(&(web3, TERM)) && sent.contains(&(web2, TERM)));
    let _ = t.dies("web.3", Exit::Signal(TERM), 2.1);
    let _ = t.dies("web.2", Exit::Signal(TERM), 2.1);
    let _ = t.dies("worker.1", Exit::Signal(TERM), 2.1);
    assert_eq!(
        ps_names(&mut t, 3.0),
        ["web.1"],
        "retired slots are skipped"
    );

    // Up again: new slots, the old ones stay retired.
    let up = t.control(
        Command::Scale {
            counts: vec![("web".into(), 2)],
        },
        4.0,
    );
    assert_eq!(changes(up), ["+ web.2"]);
    assert_eq!(t.s.procs.len(), 5);
    assert_eq!(ps_names(&mut t, 4.1), ["web.1", "web.2"]);

    let refused = t.control(
        Command::Scale {
            counts: vec![("nope".into(), 1)],
        },
        5.0,
    );
    assert!(refused.unwrap_err().contains("no process named nope"));
}

#[test]
fn reload_starts_added_stops_removed_restarts_changed_only() {
    let mut t = T::new(vec![spec("same.1"), spec("changed.1"), spec("old.1")]);
    let (same, changed, old) = (t.pid_of("same.1"), t.pid_of("changed.1"), t.pid_of("old.1"));
    let mut changed2 = spec("changed.1");
    changed2.command = "y".into();
    let planned = vec![spec("same.1"), changed2, spec("new.1")];
    let lines = changes(t.control(Command::Reload { specs: planned }, 1.0));
    assert_eq!(
        lines,
        ["+ new.1", "- old.1", "~ changed.1 (command changed)"]
    );
    let sent = t.sent();
    assert!(sent.contains(&(old, TERM)));
    assert!(sent.contains(&(changed, TERM)));
    assert!(
        !sent.iter().any(|(p, _)| *p == same),
        "the unchanged is left alone"
    );
    let _ = t.dies("old.1", Exit::Signal(TERM), 1.1);
    let _ = t.dies("changed.1", Exit::Signal(TERM), 1.1);
    let _ = t.handle(Event::Tick, t.at(1.2));
    assert_eq!(t.pid_of("same.1"), same);
    assert_eq!(t.s.procs[t.index("changed.1")].spec.command, "y");
    let spawned: Vec<(String, u32)> = t.spawned();
    assert!(spawned.contains(&("changed.1".into(), 2)), "{spawned:?}");
    assert!(spawned.contains(&("new.1".into(), 1)), "{spawned:?}");
    assert_eq!(ps_names(&mut t, 2.0), ["same.1", "changed.1", "new.1"]);

    let lines = changes(t.control(
        Command::Reload {
            specs: vec![
                spec("same.1"),
                {
                    let mut c = spec("changed.1");
                    c.command = "y".into();
                    c
                },
                spec("new.1"),
            ],
        },
        3.0,
    ));
    assert!(lines.is_empty(), "nothing changed: {lines:?}");
}

#[test]
fn restart_of_a_waiting_dependent_starts_its_autostart_false_dependency() {
    let web = depends(spec("web.1"), "db", Condition::Started);
    let mut t = T::new(vec![manual("db.1"), web]);
    assert_eq!(t.life("web.1"), &Life::Waiting);
    let _ = t.control(
        Command::Restart {
            names: vec!["web".into()],
            wait: false,
        },
        1.0,
    );
    let names: Vec<String> = t.spawned().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec!["db.1", "web.1"]);
}
