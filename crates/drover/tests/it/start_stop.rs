//! Stopping `drover start`: triggers, the signal ladder, exit statuses, and
//! no process left behind.

use std::io::{BufRead as _, BufReader};

use crate::util::*;

// ---------------------------------------------------------------------------
// Exit statuses

#[test]
fn a_process_exiting_with_3_makes_drover_exit_3() {
    let dir = TestDir::new();
    dir.procfile(
        "quitter: $T --tag q --lines 5 --wait-file go --exit 3 --pidfile q.pid\n\
         stayer: $T --trap-term bye --stay --pidfile s.pid\n",
    );
    let run = dir.drover(PLAIN).spawn();
    dir.wait_for_file("s.pid");
    dir.write("go", "");
    let f = run.finish();
    f.assert_code(3);
    f.assert_clean_stderr();
    let lines = parse_text(&f.stdout);
    assert_all_lines(&lines, "quitter.1", "q", 5, 100, &[]);
    assert_all_lines(&lines, "stayer.1", "t", 0, 100, &["bye TERM"]);
    let system = system_lines(&lines);
    assert!(
        system.iter().any(|l| l == "quitter.1 exited with code 3"),
        "{system:#?}"
    );
    assert!(
        system.last().unwrap().contains("exiting with status 3"),
        "{system:#?}"
    );
}

#[test]
fn a_process_killed_by_sigsegv_makes_drover_exit_139() {
    let dir = TestDir::new();
    dir.procfile(
        "crasher: $T --tag c --lines 5 --wait-file go --kill-self SEGV --pidfile c.pid\n\
         stayer: $T --stay --pidfile s.pid\n",
    );
    let run = dir.drover(PLAIN).spawn();
    dir.wait_for_file("s.pid");
    dir.write("go", "");
    let f = run.finish();
    f.assert_code(139);
    f.assert_clean_stderr();
    let lines = parse_text(&f.stdout);
    assert_all_lines(&lines, "crasher.1", "c", 5, 100, &[]);
    let system = system_lines(&lines);
    assert!(
        system
            .iter()
            .any(|l| l == "crasher.1 was killed by SIGSEGV"),
        "{system:#?}"
    );
}

#[test]
fn a_requested_stop_where_everyone_stops_in_time_exits_0() {
    let dir = TestDir::new();
    dir.procfile(
        "plain: $T --stay --pidfile p.pid\n\
         polite: $T --trap-term bye --stay --pidfile q.pid\n",
    );
    let run = dir.drover(PLAIN).spawn();
    dir.wait_for_file("p.pid");
    dir.wait_for_file("q.pid");
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let system = system_lines(&parse_text(&f.stdout));
    assert!(
        system.iter().any(|l| l == "plain.1 was killed by SIGTERM"),
        "{system:#?}"
    );
    assert!(
        system.iter().any(|l| l == "polite.1 exited with code 0"),
        "{system:#?}"
    );
    assert!(
        system
            .last()
            .unwrap()
            .contains("exiting with status 0 (every process stopped in time)"),
        "{system:#?}"
    );
}

/// A child that ignores SIGTERM is SIGKILLed after `-t`; drover says so,
/// exits 1, and the child is gone.
#[test]
fn a_stubborn_child_is_sigkilled_after_the_timeout_and_drover_exits_1() {
    let dir = TestDir::new();
    dir.procfile(
        "stubborn: $T --ignore-term --stay --pidfile s.pid\n\
         polite: $T --trap-term bye --stay --pidfile p.pid\n",
    );
    let run = dir
        .drover(&["--no-timestamp", "--color", "never", "-t", "1"])
        .spawn();
    let stubborn = dir.pids("s.pid")[0];
    dir.wait_for_file("p.pid");
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(1);
    f.assert_clean_stderr();
    let lines = parse_text(&f.stdout);
    assert_all_lines(&lines, "stubborn.1", "t", 0, 100, &["ignored SIGTERM"]);
    assert_all_lines(&lines, "polite.1", "t", 0, 100, &["bye TERM"]);
    let system = system_lines(&lines);
    assert!(
        system
            .iter()
            .any(|l| l.contains("stubborn.1") && l.contains("sending SIGKILL")),
        "no line names the process and SIGKILL: {system:#?}"
    );
    assert!(
        system
            .iter()
            .any(|l| l.starts_with("stubborn.1 was killed by SIGKILL")),
        "{system:#?}"
    );
    assert!(
        !system
            .iter()
            .any(|l| l.contains("polite.1") && l.contains("SIGKILL")),
        "{system:#?}"
    );
    assert!(
        system
            .last()
            .unwrap()
            .contains("exiting with status 1 (SIGKILL was needed for stubborn.1)"),
        "{system:#?}"
    );
    assert_gone(stubborn, "the stubborn child");
}

#[test]
fn a_second_sigint_kills_at_once() {
    let dir = TestDir::new();
    dir.procfile("stubborn: $T --ignore-term --stay --pidfile s.pid\n");
    // With -t 30 only the second SIGINT can end this before WAIT (20 s).
    let mut run = dir
        .drover(&["--no-timestamp", "--color", "never", "-t", "30"])
        .spawn();
    let stubborn = dir.pids("s.pid")[0];
    run.signal(libc::SIGINT);
    run.wait_for_output("stubborn.1 | ignored SIGTERM");
    assert!(!run.exited(), "drover exited before the second SIGINT");
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(1);
    f.assert_clean_stderr();
    let system = system_lines(&parse_text(&f.stdout));
    assert!(
        system
            .iter()
            .any(|l| l.contains("received SIGINT again: killing every process now")),
        "{system:#?}"
    );
    assert_gone(stubborn, "the stubborn child");
}

// ---------------------------------------------------------------------------
// Triggers and last words

/// `sig` to drover stops every process gracefully: each gets SIGTERM, and
/// what a child prints in its handler arrives.
fn graceful_stop_on(sig: libc::c_int, name: &str) {
    let dir = TestDir::new();
    dir.procfile(
        "web: $T --tag w --lines 10 --trap-term bye --sentinel w.done --stay --pidfile w.pid\n\
         worker: $T --tag k --lines 10 --trap-term farewell --sentinel k.done --stay --pidfile k.pid\n",
    );
    let run = dir.drover(PLAIN).spawn();
    let web = dir.pids("w.pid")[0];
    let worker = dir.pids("k.pid")[0];
    dir.wait_for_file("w.done");
    dir.wait_for_file("k.done");
    run.signal(sig);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = parse_text(&f.stdout);
    assert_all_lines(&lines, "web.1", "w", 10, 100, &["bye TERM"]);
    assert_all_lines(&lines, "worker.1", "k", 10, 100, &["farewell TERM"]);
    let system = system_lines(&lines);
    assert!(
        system
            .iter()
            .any(|l| l == &format!("received {name}: stopping 2 processes")),
        "{system:#?}"
    );
    // Each exit line follows that process's last words.
    let pos = |name: &str, text: &str| {
        lines
            .iter()
            .position(|l| l.name == name && l.text == text.as_bytes())
            .unwrap_or_else(|| panic!("no {name} | {text}"))
    };
    assert!(pos("web.1", "bye TERM") < pos("system", "web.1 exited with code 0"));
    assert!(pos("worker.1", "farewell TERM") < pos("system", "worker.1 exited with code 0"));
    assert_gone(web, "web.1");
    assert_gone(worker, "worker.1");
}

#[test]
fn sigint_stops_gracefully_with_last_words() {
    graceful_stop_on(libc::SIGINT, "SIGINT");
}

#[test]
fn sigterm_stops_gracefully_with_last_words() {
    graceful_stop_on(libc::SIGTERM, "SIGTERM");
}

#[test]
fn sighup_stops_gracefully_with_last_words() {
    graceful_stop_on(libc::SIGHUP, "SIGHUP");
}

/// `drover start | head -1`: the reader goes away; drover stops everything
/// and exits without a panic.
#[test]
fn closed_stdout_stops_everything_without_a_panic() {
    let dir = TestDir::new();
    dir.procfile(
        "flood: $T --tag f --flood --pidfile f.pid\n\
         quiet: $T --stay --pidfile q.pid\n",
    );
    let (mut run, stdout) = dir.drover(PLAIN).spawn_with_stdout();
    let flood = dir.pids("f.pid")[0];
    let quiet = dir.pids("q.pid")[0];
    let mut reader = BufReader::new(stdout);
    // The first line a process wrote, after drover's own `started` lines.
    let mut first = String::new();
    while first.is_empty() || first.starts_with("system ") {
        first.clear();
        reader
            .read_line(&mut first)
            .expect("reading drover's first line");
    }
    assert!(first.starts_with("flood.1 | f 00000001 "), "{first:?}");
    drop(reader); // closes the pipe, like `head -1` exiting
    let status = run.wait_exit();
    let stderr = run.stderr_so_far();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("internal error"), "{stderr}");
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    assert_gone(flood, "the flooding child");
    assert_gone(quiet, "the quiet child");
}

// ---------------------------------------------------------------------------
// Grandchildren

/// A grandchild left in the child's process group dies with it.
#[test]
fn a_background_grandchild_is_gone_after_a_stop() {
    let dir = TestDir::new();
    dir.procfile("parent: $T --fork-sleep 300 --sentinel g.done --stay --pidfile g.pid\n");
    let run = dir.drover(PLAIN).spawn();
    let pids = dir.pids("g.pid");
    dir.wait_for_file("g.done");
    assert_eq!(pids.len(), 2, "the child and its grandchild");
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = parse_text(&f.stdout);
    assert_all_lines(
        &lines,
        "parent.1",
        "t",
        0,
        100,
        &[&format!("grandchild {}", pids[1])],
    );
    assert_gone(pids[0], "the child");
    assert_gone(pids[1], "the grandchild");
}

/// A grandchild that left the process group (setsid) escapes the group
/// signal; drover, a child subreaper, adopts it and stops it before exiting.
#[test]
fn a_detached_grandchild_is_gone_after_drover_exits() {
    let dir = TestDir::new();
    dir.procfile("parent: $T --fork-detached 300 --stay --pidfile d.pid\n");
    let run = dir.drover(PLAIN).spawn();
    let pids = dir.pids("d.pid");
    assert_eq!(pids.len(), 2, "the child and its detached grandchild");
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    assert_gone(pids[0], "the child");
    assert_gone(pids[1], "the detached grandchild");
}
