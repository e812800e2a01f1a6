//! `drover events` and hooks against a real `drover start`: every kind of
//! lifecycle event a scenario triggers, as JSON objects of the documented
//! schema; the same objects in `start --output json`; hooks run with the
//! event in their environment and their output prefixed `hook`.

use serde_json::Value;

use crate::util::*;

/// Parses the JSON objects among `lines`.
fn objects(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The events of `name` (None: drover's own), by kind, in order.
fn kinds<'a>(events: &'a [Value], name: Option<&str>) -> Vec<&'a str> {
    events
        .iter()
        .filter(|e| e["name"].as_str() == name)
        .map(|e| e["event"].as_str().expect("every event has a kind"))
        .collect()
}

fn first<'a>(events: &'a [Value], name: &str, kind: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["name"] == name && e["event"] == kind)
        .unwrap_or_else(|| panic!("no {kind} event of {name}: {events:#?}"))
}

/// `drover events ARGS`, once it follows: drover pauses and resumes until
/// the follower has heard `resumed` (it prints `seen` then).
fn following(dir: &TestDir, args: &[&str], seen: &str) -> Follower {
    let events = Follower::command(dir, "events", args);
    wait_until("the events follower to follow", || {
        client(dir, &["pause"]).ok();
        client(dir, &["resume"]).ok();
        events.saw(seen)
    });
    events
}

const SCENARIO: &str = "\
web: $T --stay --ignore-term --pidfile web.pid
crash: $T --wait-file $D/go --exit 3
";

const SCENARIO_TOML: &str = r#"
[processes.web]
ready = { command = "test -e ready.flag", interval = "50ms" }
stop_timeout = "300ms"
on_ready = "printenv | grep ^DROVER_EVENT > ready.tmp && mv ready.tmp ready.env"

[processes.crash]
restart = "on-failure"
max_restarts = 1
backoff = { initial = "100ms" }
can_die = true
on_failure = "echo \"$DROVER_EVENT $DROVER_EVENT_NAME status $DROVER_EVENT_STATUS\""
"#;

#[test]
fn events_json_shows_every_kind_and_a_hook_sees_its_event() {
    let dir = TestDir::new();
    dir.procfile(SCENARIO);
    dir.write("drover.toml", SCENARIO_TOML);
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let events = following(&dir, &["--json"], r#""event":"resumed""#);
    // Now it hears a pause from its start.
    client(&dir, &["pause"]).ok();
    client(&dir, &["resume"]).ok();
    events.wait_for(r#""event":"paused""#);
    // web ignores SIGTERM: its restart needs SIGKILL; its new run is not
    // ready until ready.flag exists.
    client(&dir, &["restart", "web"]).ok();
    // The new run's probe fails (the first run's may have too, earlier).
    events.wait_for_after(r#""event":"restarting""#, r#""event":"probe_failed""#);
    dir.write("ready.flag", "");
    events.wait_for(r#""event":"ready","time""#);
    // crash fails, is restarted once, fails again: its hook runs twice.
    dir.write("go", "");
    wait_for_nth(&run, "hook crash.1 on_failure: exited crash.1 status 3", 2);
    dir.wait_for_file("ready.env");
    client(&dir, &["shutdown"]).ok();
    // Not 0: web needed SIGKILL to stop, and crash failed.
    let f = run.finish();
    assert_ne!(f.code(), 0);
    f.assert_clean_stderr();
    let (code, lines) = events.finish();
    assert_eq!(code, 0, "{lines:#?}");
    let events = objects(&lines);

    for e in &events {
        assert_eq!(e["v"], 1, "{e}");
        let time = e["time"].as_str().expect("a time");
        assert!(
            chrono::DateTime::parse_from_rfc3339(time).is_ok(),
            "not RFC 3339: {e}"
        );
    }
    let web = kinds(&events, Some("web.1"));
    for kind in [
        "paused",
        "resumed",
        "stopping",
        "killed",
        "exited",
        "restarting",
        "starting",
        "started",
        "probe_failed",
        "ready",
    ] {
        assert!(web.contains(&kind), "no {kind} in {web:?}");
    }
    assert_eq!(kinds(&events, None), ["shutdown"]);
    assert_eq!(first(&events, "web.1", "stopping")["reason"], "restart");
    let exited = first(&events, "web.1", "exited");
    assert_eq!(exited["signal"], "SIGKILL", "{exited}");
    assert!(exited["run_ms"].is_u64(), "{exited}");
    assert!(first(&events, "web.1", "started")["pid"].is_i64());
    let ready = first(&events, "web.1", "ready");
    assert_eq!(ready["probe"], "command", "{ready}");
    assert!(ready["after_ms"].is_u64(), "{ready}");
    assert!(first(&events, "web.1", "probe_failed")["error"]
        .as_str()
        .unwrap()
        .contains("test -e ready.flag"));
    let crash = first(&events, "crash.1", "exited");
    assert_eq!(
        (&crash["status"], &crash["failed"]),
        (&3.into(), &true.into())
    );
    let restarting = first(&events, "crash.1", "restarting");
    assert_eq!(
        (&restarting["delay_ms"], &restarting["count"]),
        (&100.into(), &1.into())
    );
    // The shutdown stops web again, with SIGKILL in the end.
    let after: Vec<&str> = kinds(&events, Some("web.1"))
        .into_iter()
        .rev()
        .take(3)
        .collect();
    assert_eq!(after, ["exited", "killed", "stopping"], "{events:#?}");

    let env = std::fs::read_to_string(dir.join("ready.env")).unwrap();
    for var in [
        "DROVER_EVENT=ready",
        "DROVER_EVENT_NAME=web.1",
        "DROVER_EVENT_PROBE=command",
        "DROVER_EVENT_V=1",
        "DROVER_EVENT_JSON={\"v\":1,\"event\":\"ready\"",
    ] {
        assert!(env.contains(var), "no {var} in:\n{env}");
    }
    assert!(env.contains("DROVER_EVENT_AFTER_MS="), "{env}");
}

#[test]
fn events_text_and_a_name_filter() {
    let dir = TestDir::new();
    dir.procfile("web: $T --stay --trap-term bye\nworker: $T --stay --trap-term bye\n");
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let events = following(&dir, &["worker"], "worker.1 resumed");
    client(&dir, &["restart", "web", "worker"]).ok();
    events.wait_for("worker.1 started pid=");
    client(&dir, &["shutdown"]).ok();
    run.finish().assert_code(0);
    let (code, lines) = events.finish();
    assert_eq!(code, 0);
    assert!(lines.iter().all(|l| !l.contains("web.1")), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("worker.1 stopping reason=restart")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("drover shutdown reason=\"shutdown requested\"")),
        "{lines:#?}"
    );
    assert_eq!(
        client(&dir, &["events", "nosuch"]).code,
        1,
        "no drover is running any more"
    );
}

#[test]
fn start_output_json_carries_the_events_among_the_lines() {
    let dir = TestDir::new();
    dir.procfile("once: $T --marker hello --exit 0\n");
    let f = dir.drover(&["--output", "json"]).run();
    f.assert_code(0);
    let lines: Vec<String> = f.text().lines().map(str::to_string).collect();
    let all = objects(&lines);
    let events: Vec<Value> = all
        .iter()
        .filter(|o| o.get("event").is_some())
        .cloned()
        .collect();
    assert_eq!(
        kinds(&events, Some("once.1")),
        ["starting", "started", "ready", "exited"],
        "{events:#?}"
    );
    assert_eq!(kinds(&events, None), ["shutdown"]);
    // In order with the lines: `starting` is said before the spawn, so
    // before anything the process writes.
    let starting = all.iter().position(|o| o["event"] == "starting").unwrap();
    let hello = all.iter().position(|o| o["line"] == "hello").unwrap();
    assert!(starting < hello, "{lines:#?}");
}

#[test]
fn a_hook_still_running_after_the_stop_timeout_is_killed() {
    let dir = TestDir::new();
    dir.procfile("web: $T --stay --trap-term bye\n");
    dir.write(
        "drover.toml",
        "[processes.web]\nstop_timeout = \"300ms\"\n\
         on_ready = \"echo begun; echo $$ > hook.pid; exec sleep 30\"\n",
    );
    let run = dir.drover(PLAIN).spawn();
    run.wait_for_output("hook web.1 on_ready: begun");
    let hook = dir.pids("hook.pid")[0];
    run.wait_for_output("hook web.1 on_ready is still running after 0.3s: killing it");
    assert_gone(hook, "the hook");
    run.signal(libc::SIGTERM);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
}

#[test]
fn a_hook_that_closes_its_output_is_still_killed_at_the_timeout() {
    let dir = TestDir::new();
    dir.procfile("web: $T --stay --trap-term bye\n");
    dir.write(
        "drover.toml",
        "[processes.web]\nstop_timeout = \"300ms\"\n\
         on_ready = \"echo $$ > hook.pid; exec sleep 30 >/dev/null 2>&1\"\n",
    );
    let run = dir.drover(PLAIN).spawn();
    dir.wait_for_file("hook.pid");
    let hook = dir.pids("hook.pid")[0];
    run.wait_for_output("hook web.1 on_ready is still running after 0.3s: killing it");
    assert_gone(hook, "the hook");
    run.signal(libc::SIGTERM);
    run.finish().assert_code(0);
}

#[test]
fn an_empty_hook_is_refused_naming_its_line() {
    let dir = TestDir::new();
    dir.procfile("web: $T --stay --pidfile web.pid\n");
    dir.write("drover.toml", "[processes.web]\non_exit = \"  \"\n");
    let f = dir.drover(PLAIN).run();
    f.assert_code(2);
    assert!(
        f.stderr.contains("drover.toml:2: web: on_exit is empty"),
        "{}",
        f.stderr
    );
    assert!(!dir.join("web.pid").exists(), "web started");
}

#[test]
fn a_watch_restart_is_a_watch_triggered_event_with_the_files() {
    let dir = TestDir::new();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    dir.write("src/app.py", "1\n");
    dir.procfile("web: $T --stay --trap-term bye\n");
    dir.write(
        "drover.toml",
        "[processes.web]\nwatch = [\"src/\"]\nwatch_debounce = \"50ms\"\n",
    );
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let events = following(&dir, &["--json"], "\"resumed\"");
    dir.write("src/app.py", "2\n");
    events.wait_for("\"watch_triggered\"");
    events.wait_for("\"started\"");
    client(&dir, &["shutdown"]).ok();
    run.finish().assert_code(0);
    let (code, lines) = events.finish();
    assert_eq!(code, 0);
    let events = objects(&lines);
    let triggered = first(&events, "web.1", "watch_triggered");
    assert_eq!(triggered["v"], 1);
    assert_eq!(
        triggered["files"],
        serde_json::json!(["src/app.py"]),
        "{triggered}"
    );
    let after: Vec<&str> = kinds(&events, Some("web.1"))
        .into_iter()
        .skip_while(|k| *k != "watch_triggered")
        .collect();
    assert_eq!(
        &after[..3],
        ["watch_triggered", "stopping", "exited"],
        "{events:#?}"
    );
}

#[test]
fn a_reload_that_changes_a_process_is_a_reloaded_event() {
    let dir = TestDir::new();
    dir.procfile("web: $T --stay --trap-term bye\nsame: $T --stay --trap-term bye\n");
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let events = following(&dir, &["--json"], "\"resumed\"");
    dir.write(
        "drover.toml",
        "[processes.web]\nenv = { COLOR = \"blue\" }\n",
    );
    client(&dir, &["reload"]).ok();
    events.wait_for_after("\"reloaded\"", "\"started\"");
    client(&dir, &["shutdown"]).ok();
    run.finish().assert_code(0);
    let (_, lines) = events.finish();
    let events = objects(&lines);
    let web: Vec<&str> = kinds(&events, Some("web.1"))
        .into_iter()
        .skip_while(|k| *k != "reloaded")
        .collect();
    assert_eq!(
        &web[..4],
        ["reloaded", "stopping", "exited", "restarting"],
        "{events:#?}"
    );
    assert!(
        !kinds(&events, Some("same.1")).contains(&"reloaded"),
        "same.1 did not change"
    );
}
