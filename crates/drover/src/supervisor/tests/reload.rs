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
