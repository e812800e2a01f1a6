//! The edit loop against a real `drover start`: `autostart = false`,
//! `drover scale` and `drover reload`.

use crate::util::*;

const STAY: &str = "--trap-term bye --stay --pidfile $PS.pid";

#[test]
fn autostart_false_starts_on_restart_with_its_dependency() {
    let dir = TestDir::new();
    dir.procfile(&format!("web: $T {STAY}\ndb: $T {STAY}\napi: $T {STAY}\n"));
    dir.write(
        "drover.toml",
        "[processes.db]\nautostart = false\n\
         [processes.api]\nautostart = false\ndepends_on = [\"db\"]\n",
    );
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let rows = ps(&dir);
    assert_eq!(row(&rows, "web.1")["state"], "running", "{rows:#?}");
    assert_eq!(row(&rows, "db.1")["state"], "not started", "{rows:#?}");
    assert_eq!(row(&rows, "api.1")["state"], "not started", "{rows:#?}");
    assert!(!run.exited(), "drover runs though db and api do not");
    // `drover wait` does not wait for them, unless named.
    assert_eq!(client(&dir, &["wait", "--timeout", "30s"]).code, 0);

    assert_eq!(
        client(&dir, &["restart", "api"]).ok(),
        "restarting: api.1\n"
    );
    let rows = wait_for_ps(&dir, "api and db to run", |r| {
        row(r, "api.1")["state"] == "running" && row(r, "db.1")["state"] == "running"
    });
    let db = pid_of(&rows, "db.1");
    let api = pid_of(&rows, "api.1");
    assert!(alive(db) && alive(api));

    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    assert_none_left(&dir, &[db, api], "after the shutdown");
}

#[test]
fn scale_up_then_down_stops_the_highest_first() {
    let dir = TestDir::new();
    dir.procfile(&format!(
        "web: $T --marker is-$PS-on-$PORT {STAY}\nworker: $T {STAY}\n"
    ));
    let args: Vec<&str> = PLAIN.iter().copied().chain(["--log-dir", "logs"]).collect();
    let mut run = dir.drover(&args).spawn();
    wait_for_control(&dir, &mut run);
    let web1 = pid_of(&ps(&dir), "web.1");

    assert_eq!(client(&dir, &["scale", "web=3"]).ok(), "+ web.2\n+ web.3\n");
    let rows = wait_for_ps(&dir, "web.2 and web.3 to run", |r| {
        r.len() == 4 && r.iter().all(|p| p["state"] == "running")
    });
    let (web2, web3) = (pid_of(&rows, "web.2"), pid_of(&rows, "web.3"));
    assert_eq!(pid_of(&rows, "web.1"), web1, "web.1 is left alone");
    // PORT and PS as `-m web=3` gives them.
    run.wait_for_output("is-web.3-on-5002");
    let logs = client(&dir, &["logs", "web"]);
    assert!(logs.ok().contains("is-web.3-on-5002"), "{}", logs.stdout);
    wait_until("web.3's log file", || {
        std::fs::read_to_string(dir.join("logs/web.3.log"))
            .is_ok_and(|t| t.contains("is-web.3-on-5002"))
    });

    assert_eq!(
        client(&dir, &["scale", "web=1", "worker=0"]).ok(),
        "- web.3\n- web.2\n- worker.1\n"
    );
    assert_gone(web3, "web.3");
    assert_gone(web2, "web.2");
    let rows = wait_for_ps(&dir, "only web.1 left", |r| r.len() == 1);
    assert_eq!(pid_of(&rows, "web.1"), web1);
    assert!(!run.exited(), "drover runs on");

    client(&dir, &["scale", "nope=2"]).refused("no process named nope");

    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    assert_none_left(&dir, &[web1, web2, web3], "after the shutdown");
}

#[test]
fn reload_adds_removes_restarts_and_leaves_the_rest() {
    let dir = TestDir::new();
    dir.procfile(&format!(
        "same: $T {STAY}\nchanged: $T {STAY}\nold: $T {STAY}\n"
    ));
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let rows = ps(&dir);
    let (same, changed, old) = (
        pid_of(&rows, "same.1"),
        pid_of(&rows, "changed.1"),
        pid_of(&rows, "old.1"),
    );

    // A Procfile that does not read changes nothing.
    dir.write("Procfile", "same: x\nthis is not a Procfile line\n");
    let out = client(&dir, &["reload"]);
    out.refused("Procfile:2");
    let rows = ps(&dir);
    assert_eq!(rows.len(), 3, "{rows:#?}");
    assert_eq!(pid_of(&rows, "same.1"), same);
    assert_eq!(pid_of(&rows, "changed.1"), changed);
    assert_eq!(pid_of(&rows, "old.1"), old);

    dir.procfile(&format!(
        "same: $T {STAY}\nchanged: $T --marker two {STAY}\nnew: $T {STAY}\n"
    ));
    assert_eq!(
        client(&dir, &["reload"]).ok(),
        "+ new.1\n- old.1\n~ changed.1 (command changed)\n"
    );
    assert_gone(old, "old.1");
    assert_gone(changed, "changed.1 (restarted)");
    let rows = wait_for_ps(&dir, "new.1 and the new changed.1 to run", |r| {
        r.len() == 3 && r.iter().all(|p| p["state"] == "running")
    });
    assert_eq!(pid_of(&rows, "same.1"), same, "the unchanged keeps its pid");
    let changed2 = pid_of(&rows, "changed.1");
    let new = pid_of(&rows, "new.1");
    assert_ne!(changed2, changed);
    run.wait_for_output("reload: + new.1");

    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    assert_none_left(
        &dir,
        &[same, changed, changed2, old, new],
        "after the shutdown",
    );
}

#[test]
fn a_scaled_instance_gets_named_ports_of_its_own() {
    let dir = TestDir::new();
    dir.procfile(&format!("web: $T --marker $PS-http-$PORT_HTTP {STAY}\n"));
    dir.write("drover.toml", "[processes.web]\nports = [\"http\"]\n");
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    run.wait_for_output("web.1-http-");
    assert_eq!(client(&dir, &["scale", "web=2"]).ok(), "+ web.2\n");
    run.wait_for_output("web.2-http-");
    let rows = wait_for_ps(&dir, "web.2 to run", |r| {
        r.len() == 2 && r.iter().all(|p| p["state"] == "running")
    });
    let out = String::from_utf8_lossy(&run.stdout_so_far()).into_owned();
    let port = |who: &str| -> String {
        let at = out.find(&format!("{who}-http-")).unwrap() + who.len() + 6;
        out[at..].chars().take_while(char::is_ascii_digit).collect()
    };
    let (one, two) = (port("web.1"), port("web.2"));
    assert!(!one.is_empty() && !two.is_empty(), "{out}");
    assert_ne!(one, two, "each instance has its own port");
    let pids = [pid_of(&rows, "web.1"), pid_of(&rows, "web.2")];
    client(&dir, &["shutdown"]).ok();
    run.finish().assert_code(0);
    assert_none_left(&dir, &pids, "after the shutdown");
}

#[test]
fn with_reload_a_changed_file_reloads_and_a_broken_one_changes_nothing() {
    let dir = TestDir::new();
    dir.procfile(&format!("same: $T {STAY}\n"));
    let args: Vec<&str> = PLAIN.iter().copied().chain(["--reload"]).collect();
    let mut run = dir.drover(&args).spawn();
    wait_for_control(&dir, &mut run);
    let same = pid_of(&ps(&dir), "same.1");

    // A broken Procfile is said, and nothing changes.
    dir.write("Procfile", "same: x\nthis is not a Procfile line\n");
    run.wait_for_output("Procfile:2");
    assert!(
        run.stdout_tail().contains("nothing changed"),
        "{}",
        run.stdout_tail()
    );
    assert_eq!(pid_of(&ps(&dir), "same.1"), same);

    // Fixed and grown: the new process starts, the other keeps its pid.
    dir.procfile(&format!(
        "same: $T {STAY}\nnew: $T --marker arrived {STAY}\n"
    ));
    run.wait_for_output("reload: + new.1");
    run.wait_for_output("arrived");
    let rows = ps(&dir);
    assert_eq!(pid_of(&rows, "same.1"), same, "the unchanged keeps its pid");

    // drover.toml too, though there was none at the start.
    dir.write(
        "drover.toml",
        "[processes.new]\nenv = { COLOR = \"blue\" }\n",
    );
    run.wait_for_output("reload: ~ new.1 (environment changed)");

    client(&dir, &["shutdown"]).ok();
    run.finish().assert_code(0);
}
