//! The control commands against a real `drover start`: `ps`, `stop`,
//! `restart`, `kill`, `logs`, `shutdown`, and how clients find the socket.
//! Every command runs as the real `drover` client binary.

use crate::util::*;

// ---------------------------------------------------------------------------
// ps

#[test]
fn ps_shows_each_instance_as_a_table_and_as_json() {
    let dir = TestDir::new();
    dir.procfile(WEB2);
    dir.write("drover.toml", INSTANCES2);
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let pid1 = dir.pids("web.1.pid")[0];
    let pid2 = dir.pids("web.2.pid")[0];

    let rows = ps(&dir);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    for (r, name, pid) in [(&rows[0], "web.1", pid1), (&rows[1], "web.2", pid2)] {
        let keys: Vec<&str> = r
            .as_object()
            .expect("a row is an object")
            .keys()
            .map(String::as_str)
            .collect();
        for key in [
            "name",
            "pid",
            "state",
            "uptime_secs",
            "restarts",
            "last_exit",
        ] {
            assert!(keys.contains(&key), "{name}: no {key:?} in {r}");
        }
        assert_eq!(r["name"], name, "{r}");
        assert_eq!(r["pid"], pid, "{r}");
        assert_eq!(r["state"], "running", "{r}");
        assert!(r["uptime_secs"].is_u64(), "{r}");
        assert_eq!(r["restarts"], 0, "{r}");
        assert!(r["last_exit"].is_null(), "{r}");
    }

    let table = client(&dir, &["ps"]);
    let table: Vec<Vec<&str>> = table
        .ok()
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        table[0],
        ["NAME", "PID", "STATE", "UPTIME", "RESTARTS", "LAST", "EXIT"],
        "{table:?}"
    );
    assert_eq!(table.len(), 3, "{table:?}");
    for (cols, name, pid) in [(&table[1], "web.1", pid1), (&table[2], "web.2", pid2)] {
        let pid = pid.to_string();
        assert_eq!(cols[..3], [name, pid.as_str(), "running"], "{cols:?}");
        assert!(cols[3].ends_with('s'), "uptime {:?}", cols[3]);
        assert_eq!(cols[4..], ["0", "-"], "{cols:?}");
    }

    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
}

// ---------------------------------------------------------------------------
// stop

#[test]
fn stop_ends_only_the_named_processes_and_drover_keeps_running() {
    let dir = TestDir::new();
    dir.procfile(&format!(
        "{WEB2}worker: $T --trap-term 'worker bye' --stay --pidfile worker.pid\n"
    ));
    dir.write("drover.toml", INSTANCES2);
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let web1 = dir.pids("web.1.pid")[0];
    let web2 = dir.pids("web.2.pid")[0];
    let worker = dir.pids("worker.pid")[0];

    assert_eq!(client(&dir, &["stop", "web.1"]).ok(), "stopping: web.1\n");
    assert_gone(web1, "web.1");
    let rows = wait_for_ps(&dir, "web.1 to be stopped", |r| {
        row(r, "web.1")["state"] == "stopped"
    });
    let r = row(&rows, "web.1");
    assert!(r["pid"].is_null(), "{r}");
    assert!(r["uptime_secs"].is_null(), "{r}");
    assert_eq!(r["last_exit"], "code 0", "{r}");
    assert_eq!(r["restarts"], 0, "{r}");
    assert_eq!(pid_of(&rows, "web.2"), web2);
    assert_eq!(pid_of(&rows, "worker.1"), worker);
    assert!(alive(web2) && alive(worker));
    assert!(!run.exited(), "drover exited after a stop");

    // `web` means every instance; an already stopped one is fine.
    assert_eq!(
        client(&dir, &["stop", "web"]).ok(),
        "stopping: web.1, web.2\n"
    );
    assert_gone(web2, "web.2");
    // Even with every process stopped, drover waits for commands.
    assert_eq!(
        client(&dir, &["stop", "worker.1"]).ok(),
        "stopping: worker.1\n"
    );
    assert_gone(worker, "worker.1");
    let rows = wait_for_ps(&dir, "everything to be stopped", |r| {
        r.iter().all(|p| p["state"] == "stopped")
    });
    assert_eq!(rows.len(), 3);
    assert!(
        !run.exited(),
        "drover exited once every process was stopped"
    );

    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = lines(&f);
    assert_eq!(texts(&lines, "web.1"), ["bye TERM"]);
    assert_eq!(texts(&lines, "web.2"), ["bye TERM"]);
    assert_eq!(texts(&lines, "worker.1"), ["worker bye TERM"]);
    let system = system_lines(&lines);
    for name in ["web.1", "web.2", "worker.1"] {
        assert!(
            system.contains(&format!("stopping {name} (requested)")),
            "{system:#?}"
        );
    }
    // A requested stop is not a process ending on its own: no stop-all.
    assert!(
        !system.iter().any(|l| l.contains("has ended")),
        "{system:#?}"
    );
}

// ---------------------------------------------------------------------------
// restart

#[test]
fn restart_starts_a_running_or_stopped_process_again_with_a_new_pid() {
    let dir = TestDir::new();
    dir.procfile(WEB2);
    dir.write("drover.toml", INSTANCES2);
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let web1 = dir.pids("web.1.pid")[0];
    let web2 = dir.pids("web.2.pid")[0];

    // A running process: stopped, then started again.
    assert_eq!(
        client(&dir, &["restart", "web.1"]).ok(),
        "restarting: web.1\n"
    );
    assert_gone(web1, "the first web.1");
    let web1b = new_pid(&dir, "web.1.pid", Some(web1));
    let rows = wait_for_ps(&dir, "web.1 to run again", |r| {
        row(r, "web.1")["pid"] == web1b
    });
    assert_eq!(row(&rows, "web.1")["state"], "running");
    assert_eq!(row(&rows, "web.1")["restarts"], 1);
    assert_eq!(row(&rows, "web.1")["last_exit"], "code 0");
    assert_eq!(pid_of(&rows, "web.2"), web2, "web.2 was left alone");
    assert_eq!(row(&rows, "web.2")["restarts"], 0);

    // A stopped process: started.
    client(&dir, &["stop", "web.2"]).ok();
    assert_gone(web2, "web.2");
    wait_for_ps(&dir, "web.2 to be stopped", |r| {
        row(r, "web.2")["state"] == "stopped"
    });
    assert_eq!(
        client(&dir, &["restart", "web.2"]).ok(),
        "restarting: web.2\n"
    );
    let web2b = new_pid(&dir, "web.2.pid", Some(web2));
    let rows = wait_for_ps(&dir, "web.2 to run again", |r| {
        row(r, "web.2")["pid"] == web2b
    });
    assert_eq!(row(&rows, "web.2")["state"], "running");
    assert_eq!(row(&rows, "web.2")["restarts"], 1);

    // `web`: every instance.
    client(&dir, &["restart", "web"]).ok();
    let web1c = new_pid(&dir, "web.1.pid", Some(web1b));
    let web2c = new_pid(&dir, "web.2.pid", Some(web2b));
    let rows = wait_for_ps(&dir, "both to run again", |r| {
        row(r, "web.1")["pid"] == web1c && row(r, "web.2")["pid"] == web2c
    });
    assert_eq!(row(&rows, "web.1")["restarts"], 2);
    assert_eq!(row(&rows, "web.2")["restarts"], 2);
    assert!(!alive(web1b) && !alive(web2b));

    client(&dir, &["restart", "nope"]).refused("no process named \"nope\"");

    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = lines(&f);
    assert_eq!(texts(&lines, "web.1"), ["bye TERM"; 3]);
    assert_eq!(texts(&lines, "web.2"), ["bye TERM"; 3]);
    let system = system_lines(&lines);
    assert!(
        system.contains(&"restarting web.1 (requested)".to_string()),
        "{system:#?}"
    );
    assert!(
        system.contains(&format!("web.1 started again (pid {web1b})")),
        "{system:#?}"
    );
    assert!(
        system.contains(&"starting web.2 (requested)".to_string()),
        "{system:#?}"
    );
}

// ---------------------------------------------------------------------------
// kill

#[test]
fn kill_sends_the_signal_to_the_named_instances_only() {
    let dir = TestDir::new();
    dir.procfile("web: $T --ignore-int --trap-term bye --stay --pidfile $PS.pid\n");
    dir.write("drover.toml", INSTANCES2);
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let web1 = dir.pids("web.1.pid")[0];
    let web2 = dir.pids("web.2.pid")[0];

    assert_eq!(
        client(&dir, &["kill", "web.2", "INT"]).ok(),
        "signalled: web.2\n"
    );
    wait_for_nth(&run, "web.2  | ignored SIGINT", 1);
    // A number, and every instance.
    assert_eq!(
        client(&dir, &["kill", "web", "2"]).ok(),
        "signalled: web.1, web.2\n"
    );
    wait_for_nth(&run, "web.1  | ignored SIGINT", 1);
    wait_for_nth(&run, "web.2  | ignored SIGINT", 2);

    client(&dir, &["kill", "web", "BOGUS"]).refused("\"BOGUS\" is not a signal drover knows");
    client(&dir, &["kill", "nope", "INT"]).refused("no process named \"nope\"");
    client(&dir, &["stop", "web.1"]).ok();
    assert_gone(web1, "web.1");
    wait_for_ps(&dir, "web.1 to be stopped", |r| {
        row(r, "web.1")["state"] == "stopped"
    });
    client(&dir, &["kill", "web.1", "INT"]).refused("web.1 is not running");

    let rows = ps(&dir);
    assert_eq!(pid_of(&rows, "web.2"), web2, "web.2 still runs as before");
    assert_eq!(row(&rows, "web.2")["restarts"], 0);

    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = lines(&f);
    assert_eq!(texts(&lines, "web.1"), ["ignored SIGINT", "bye TERM"]);
    assert_eq!(
        texts(&lines, "web.2"),
        ["ignored SIGINT", "ignored SIGINT", "bye TERM"]
    );
    let system = system_lines(&lines);
    assert!(
        system.contains(&"sent SIGINT to web.2 (requested)".to_string()),
        "{system:#?}"
    );
}

// ---------------------------------------------------------------------------
// logs

#[test]
fn logs_prints_the_last_lines_of_the_named_processes() {
    let dir = TestDir::new();
    dir.procfile(
        "web: $T --tag $PS --lines 10 --trap-term bye --stay\n\
         worker: $T --tag wk --lines 5 --stderr --trap-term bye --stay\n",
    );
    dir.write("drover.toml", INSTANCES2);
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    // Every line has been read once drover has printed it.
    run.wait_for_output("web.1 00000010");
    run.wait_for_output("web.2 00000010");
    run.wait_for_output("wk 00000005");

    let parse = |out: &str| -> Vec<(String, String)> {
        out.lines()
            .map(|l| {
                let (n, t) = log_line(l);
                (n.to_string(), t.to_string())
            })
            .collect()
    };
    let want = |name: &str, tag: &str, seqs: std::ops::RangeInclusive<u64>| {
        seqs.map(|s| {
            (
                name.to_string(),
                String::from_utf8(expected_line(tag, s, 100)).expect("ASCII"),
            )
        })
        .collect::<Vec<_>>()
    };

    let got = parse(client(&dir, &["logs", "web.1", "-n", "3"]).ok());
    assert_eq!(got, want("web.1", "web.1", 8..=10));

    // `web` is every instance; each instance's lines stay in order.
    let got = parse(client(&dir, &["logs", "web"]).ok());
    assert_eq!(got.len(), 20, "{got:#?}");
    let of = |name: &str| -> Vec<(String, String)> {
        got.iter().filter(|(n, _)| n == name).cloned().collect()
    };
    assert_eq!(of("web.1"), want("web.1", "web.1", 1..=10));
    assert_eq!(of("web.2"), want("web.2", "web.2", 1..=10));

    // Every process by default; stderr lines too.
    let got = parse(client(&dir, &["logs", "--lines", "100"]).ok());
    assert_eq!(got.len(), 25, "{got:#?}");
    let got = parse(client(&dir, &["logs", "worker", "-n", "2"]).ok());
    assert_eq!(got, want("worker.1", "wk", 4..=5));
    assert_eq!(client(&dir, &["logs", "-n", "0"]).ok(), "");

    client(&dir, &["logs", "nope"]).refused("no process named \"nope\"");

    client(&dir, &["shutdown"]).ok();
    run.finish().assert_code(0);
}

#[test]
fn logs_follow_prints_new_lines_until_drover_exits() {
    let dir = TestDir::new();
    dir.procfile(
        "early: $T --marker early --trap-term 'early bye' --stay\n\
         late: $T --tag late --lines 3 --wait-file go --marker 'late done' --trap-term 'late bye' --stay\n",
    );
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    run.wait_for_output("early.1 | early");

    let follower = Follower::start(&dir, &["-f", "-n", "5"]);
    let quitter = Follower::start(&dir, &["-f", "late"]);
    // The recent line shows the follower is connected; what comes next is
    // new.
    follower.wait_for("early.1 | early");
    dir.write("go", "");
    follower.wait_for("late.1  | late done");
    quitter.wait_for("late.1 | late done");
    // A follower hanging up leaves drover running.
    quitter.hang_up();
    assert_eq!(ps(&dir).len(), 2);

    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    let (code, lines) = follower.finish();
    assert_eq!(code, 0, "drover logs -f exit code");
    let lines: Vec<(&str, &str)> = lines.iter().map(|l| log_line(l)).collect();
    let of = |name: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, t)| t.to_string())
            .collect()
    };
    assert_eq!(of("early.1"), ["early", "early bye TERM"]);
    let mut want: Vec<String> = (1..=3)
        .map(|s| String::from_utf8(expected_line("late", s, 100)).expect("ASCII"))
        .collect();
    want.push("late done".into());
    want.push("late bye TERM".into());
    assert_eq!(of("late.1"), want);
}

// ---------------------------------------------------------------------------
// shutdown

#[test]
fn shutdown_stops_everything_exits_0_and_removes_the_socket() {
    let dir = TestDir::new();
    dir.procfile(
        "web: $T --trap-term bye --stay --pidfile web.pid\n\
         worker: $T --stay --pidfile worker.pid\n",
    );
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let web = dir.pids("web.pid")[0];
    let worker = dir.pids("worker.pid")[0];

    assert_eq!(client(&dir, &["shutdown"]).ok(), "shutting down\n");
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    assert!(!alive(web) && !alive(worker));
    assert!(!sock(&dir).exists(), "the socket file is left behind");
    let lines = lines(&f);
    assert_eq!(texts(&lines, "web.1"), ["bye TERM"]);
    let system = system_lines(&lines);
    // The first line after the start's own (`started`, `every process is ready`).
    assert_eq!(
        after_start(&system).first().map(String::as_str),
        Some("shutdown requested: stopping 2 processes"),
        "{system:#?}"
    );
    assert!(
        system.contains(&"worker.1 was killed by SIGTERM".to_string()),
        "{system:#?}"
    );

    client(&dir, &["ps"]).refused("no drover is running here");
}

// ---------------------------------------------------------------------------
// Finding the socket

#[test]
fn clients_find_the_socket_by_option_environment_and_root() {
    let dir = TestDir::new();
    dir.write(
        "app/Procfile",
        &dir.expand("web: $T --trap-term bye --stay\n"),
    );
    let app = dir.join("app");

    // Default: .drover.sock in the root, the Procfile's folder.
    let mut run = dir
        .drover(&["-f", "app/Procfile", "--no-timestamp"])
        .spawn();
    wait_for_control_at(&app.join(".drover.sock"), &mut run);
    assert!(!sock(&dir).exists());
    let rows = client_in(&app, &["ps", "--json"], &[]);
    assert!(rows.ok().contains("\"web.1\""));
    client_in(&app, &["shutdown"], &[]).ok();
    run.finish().assert_code(0);

    // --socket, relative to the current folder; clients use -s or
    // DROVER_SOCKET.
    let mut run = dir
        .drover(&["-f", "app/Procfile", "--socket", "ctl.sock"])
        .spawn();
    wait_for_control_at(&dir.join("ctl.sock"), &mut run);
    assert!(!app.join(".drover.sock").exists());
    client(&dir, &["ps"]).refused("no drover is running here");
    assert!(client(&dir, &["ps", "-s", "ctl.sock"])
        .ok()
        .contains("web.1"));
    let by_env = client_in(dir.path(), &["ps"], &[("DROVER_SOCKET", "ctl.sock")]);
    assert!(by_env.ok().contains("web.1"));
    client(&dir, &["shutdown", "--socket", "ctl.sock"]).ok();
    run.finish().assert_code(0);
    assert!(!dir.join("ctl.sock").exists());

    // `socket` in drover.toml, relative to the root.
    dir.write("app/drover.toml", "socket = \"toml.sock\"\n");
    let mut run = dir.drover(&["-f", "app/Procfile"]).spawn();
    wait_for_control_at(&app.join("toml.sock"), &mut run);
    let path = app.join("toml.sock");
    let path = path.to_str().expect("a UTF-8 path");
    let by_env = client_in(dir.path(), &["ps"], &[("DROVER_SOCKET", path)]);
    assert!(by_env.ok().contains("web.1"));
    client(&dir, &["shutdown", "-s", path]).ok();
    run.finish().assert_code(0);
}

// ---------------------------------------------------------------------------
// Stopped, waiting and restarting processes

/// Fails its first run (exit 3), then stays.
const FAILS_ONCE: &str = "flaky: if test -f ran; then exec $T --trap-term bye --stay --pidfile flaky.pid; fi; touch ran; echo failing; exit 3\n";

/// A restart delay no test waits for.
const LONG_BACKOFF: &str =
    "[processes.flaky]\nrestart = \"on-failure\"\nbackoff = { initial = \"600s\" }\n";

#[test]
fn a_process_waiting_to_restart_can_be_stopped_and_restarted_at_once() {
    let dir = TestDir::new();
    dir.procfile(&format!(
        "{FAILS_ONCE}stayer: $T --trap-term bye --stay --pidfile stayer.pid\n"
    ));
    dir.write("drover.toml", LONG_BACKOFF);
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let rows = wait_for_ps(&dir, "flaky to wait for its restart", |r| {
        row(r, "flaky.1")["state"] == "restarting"
    });
    assert!(row(&rows, "flaky.1")["pid"].is_null());
    assert_eq!(row(&rows, "flaky.1")["last_exit"], "code 3");

    // Stopped while waiting: it stays stopped, drover keeps running.
    client(&dir, &["stop", "flaky"]).ok();
    let rows = ps(&dir);
    assert_eq!(row(&rows, "flaky.1")["state"], "stopped", "{rows:#?}");
    assert_eq!(row(&rows, "stayer.1")["state"], "running", "{rows:#?}");

    // Restarted: it runs now, not in 600 s.
    client(&dir, &["restart", "flaky"]).ok();
    let flaky = dir.pids("flaky.pid")[0];
    let rows = wait_for_ps(&dir, "flaky to run", |r| row(r, "flaky.1")["pid"] == flaky);
    assert_eq!(row(&rows, "flaky.1")["state"], "running");

    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    let lines = lines(&f);
    assert_eq!(texts(&lines, "flaky.1"), ["failing", "bye TERM"]);
    let system = system_lines(&lines);
    assert!(
        system.contains(&"flaky.1 will not be started (stop requested)".to_string()),
        "{system:#?}"
    );
}

#[test]
fn a_restart_during_the_backoff_delay_counts_once() {
    let dir = TestDir::new();
    dir.procfile(&format!(
        "{FAILS_ONCE}stayer: $T --trap-term bye --stay --pidfile stayer.pid\n"
    ));
    dir.write("drover.toml", LONG_BACKOFF);
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    wait_for_ps(&dir, "flaky to wait for its restart", |r| {
        row(r, "flaky.1")["state"] == "restarting"
    });
    client(&dir, &["restart", "flaky"]).ok();
    let flaky = dir.pids("flaky.pid")[0];
    let rows = wait_for_ps(&dir, "flaky to run", |r| row(r, "flaky.1")["pid"] == flaky);
    // Started twice: restarted once.
    assert_eq!(row(&rows, "flaky.1")["restarts"], 1, "{rows:#?}");
    client(&dir, &["shutdown"]).ok();
    run.finish().assert_code(0);
}

#[test]
fn a_restarted_process_still_waits_for_its_dependencies() {
    let dir = TestDir::new();
    dir.procfile(
        "db: $T --marker 'db up' --wait-file db.go --sentinel db.ready --trap-term bye --stay\n\
         web: test -f db.ready || exit 10; exec $T --marker 'web up' --trap-term bye --stay --pidfile web.pid\n",
    );
    dir.write(
        "drover.toml",
        "[processes.db]\nready = { command = \"test -f db.ready\", interval = \"20ms\" }\n\
         [processes.web]\ndepends_on = { db = \"ready\" }\n",
    );
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    assert_eq!(row(&ps(&dir), "web.1")["state"], "waiting");
    client(&dir, &["stop", "web"]).ok();
    assert_eq!(row(&ps(&dir), "web.1")["state"], "stopped");
    client(&dir, &["restart", "web"]).ok();
    // db is not ready: web must wait for it again.
    let rows = ps(&dir);
    assert_eq!(row(&rows, "web.1")["state"], "waiting", "{rows:#?}");
    dir.write("db.go", "");
    dir.pids("web.pid");
    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    assert_eq!(texts(&lines(&f), "web.1"), ["web up", "bye TERM"]);
}

#[test]
fn a_stopped_process_can_be_restarted_after_another_exited_ok() {
    let dir = TestDir::new();
    dir.procfile(
        "migrate: $T --marker migrating\n\
         web: $T --marker 'web up' --trap-term bye --stay --pidfile web.pid\n",
    );
    dir.write(
        "drover.toml",
        "[processes.web]\ndepends_on = { migrate = \"exited_ok\" }\n",
    );
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let web = dir.pids("web.pid")[0];
    client(&dir, &["stop", "web"]).ok();
    assert_gone(web, "web");
    // README: a stopped process stays stopped, without the foreman rule,
    // until `drover restart`.
    wait_for_ps(&dir, "web to be stopped", |r| {
        row(r, "web.1")["state"] == "stopped"
    });
    client(&dir, &["restart", "web"]).ok();
    let web2 = new_pid(&dir, "web.pid", Some(web));
    assert_eq!(pid_of(&ps(&dir), "web.1"), web2);
    client(&dir, &["shutdown"]).ok();
    run.finish().assert_code(0);
}
