//! What drover reports on real processes: the failure digest (on stderr at
//! exit, as JSON with `--output json`, and from `drover ps --digest` while
//! running) and the blocker report (what a waiting shutdown waits for, and
//! who still holds a cut pipe).

use crate::util::*;

/// Stays until stopped, saying `bye TERM`; its pid file appears once its
/// handler is installed, and the quitters below wait for it, so a stop
/// always finds it ready.
const STAYER: &str = "stayer: $T --trap-term bye --stay --pidfile stayer.pid\n";

/// Writes 12 numbered lines of 30 bytes, then exits 3.
const QUITTER: &str = "crash: $T --tag c --lines 12 --len 30 --wait-file stayer.pid --exit 3\n";

/// The last ten lines `crash` writes, as the digest shows them.
fn last_ten() -> Vec<String> {
    (3..=12)
        .map(|seq| String::from_utf8(expected_line("c", seq, 30)).expect("ASCII"))
        .collect()
}

/// The digest table's row for `name` (`name  result  restarts  ran[  FAILED]`).
fn digest_row<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no digest row for {name}:\n{text}"))
}

/// The lines after `last N lines of NAME:`, without their `  | ` prefix.
fn digest_lines(text: &str, name: &str) -> Vec<String> {
    let mut lines = text.lines();
    let header = lines
        .by_ref()
        .find(|l| l.starts_with("last ") && l.ends_with(&format!(" lines of {name}:")))
        .unwrap_or_else(|| panic!("no `last N lines of {name}:` in:\n{text}"));
    let n: usize = header
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bad header {header:?}"));
    let shown: Vec<String> = lines
        .take_while(|l| l.starts_with("  | "))
        .map(|l| l["  | ".len()..].to_string())
        .collect();
    assert_eq!(shown.len(), n, "{header:?} announces {n} lines:\n{text}");
    shown
}

#[test]
fn the_exit_digest_names_the_failure_and_shows_its_last_lines() {
    let dir = TestDir::new();
    dir.procfile(&format!("{QUITTER}{STAYER}"));
    let f = dir.drover(PLAIN).run();
    f.assert_code(3);
    f.assert_clean_stderr();
    // The stream came first, whole; the digest is on stderr only.
    let lines = parse_text(&f.stdout);
    assert_all_lines(&lines, "crash.1", "c", 12, 30, &[]);
    assert!(!f.text().contains("PROCESS"), "the digest went to stdout");

    let err = &f.stderr;
    assert!(err.starts_with("drover: summary\n"), "{err}");
    let crash = digest_row(err, "crash.1");
    assert!(
        crash.contains("exited with code 3") && crash.ends_with("FAILED"),
        "{crash:?}"
    );
    let stayer = digest_row(err, "stayer.1");
    assert!(
        stayer.contains("exited with code 0") && !stayer.contains("FAILED"),
        "the stayer stopped when asked: not a failure: {stayer:?}"
    );
    assert_eq!(digest_lines(err, "crash.1"), last_ten());
    assert!(
        !err.contains("lines of stayer.1"),
        "only failed processes show their lines:\n{err}"
    );
}

#[test]
fn with_json_output_the_exit_digest_is_one_json_object() {
    let dir = TestDir::new();
    dir.procfile(&format!("{QUITTER}{STAYER}"));
    let f = dir.drover(&["--output", "json"]).run();
    f.assert_code(3);
    f.assert_clean_stderr();
    let objects: Vec<serde_json::Value> = f
        .stderr
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("a stderr line is not JSON ({e}): {l:?}"))
        })
        .collect();
    assert_eq!(objects.len(), 1, "one object on stderr:\n{}", f.stderr);
    let rows = objects[0]["digest"]
        .as_array()
        .unwrap_or_else(|| panic!("no digest array: {}", objects[0]));
    let crash = rows
        .iter()
        .find(|r| r["name"] == "crash.1")
        .unwrap_or_else(|| panic!("no crash.1 row: {rows:#?}"));
    assert_eq!(crash["result"], "exited with code 3", "{crash}");
    assert_eq!(crash["exit_status"], 3, "{crash}");
    assert_eq!(crash["failed"], true, "{crash}");
    assert_eq!(crash["restarts"], 0, "{crash}");
    let shown: Vec<&str> = crash["last_lines"]
        .as_array()
        .expect("last_lines is an array")
        .iter()
        .map(|l| l.as_str().expect("lines are strings"))
        .collect();
    assert_eq!(shown, last_ten());
    let stayer = rows
        .iter()
        .find(|r| r["name"] == "stayer.1")
        .unwrap_or_else(|| panic!("no stayer.1 row: {rows:#?}"));
    assert_eq!(stayer["failed"], false, "{stayer}");
}

#[test]
fn ps_digest_shows_a_failure_while_drover_runs() {
    let dir = TestDir::new();
    dir.procfile(&format!("{QUITTER}{STAYER}"));
    // A long backoff keeps crash waiting for its restart while we look.
    dir.write(
        "drover.toml",
        "[processes.crash]\nrestart = \"on-failure\"\nbackoff = { initial = \"10m\" }\n",
    );
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    wait_for_ps(&dir, "crash.1 to wait for its restart", |rows| {
        row(rows, "crash.1")["state"] == "restarting"
    });
    let out = client(&dir, &["ps", "--digest"]);
    let text = out.ok();
    let crash = digest_row(text, "crash.1");
    assert!(
        crash.contains("exited with code 3, restarting") && crash.ends_with("FAILED"),
        "{crash:?}"
    );
    assert!(digest_row(text, "stayer.1").contains("running"), "{text}");
    assert_eq!(digest_lines(text, "crash.1"), last_ten());

    run.signal(libc::SIGTERM);
    let f = run.finish();
    // A requested stop in which everyone stopped in time.
    f.assert_code(0);
    f.assert_clean_stderr();
}

// ---------------------------------------------------------------------------
// Blocker report

#[test]
fn a_waiting_shutdown_names_the_blockers_and_when_they_get_sigkill() {
    let dir = TestDir::new();
    // The child and its grandchild, in its group, both ignore SIGTERM.
    dir.procfile(
        "stubborn: sh -c '$T --ignore-term --stay --pidfile g.pid & exec $T --ignore-term --wait-file g.pid --stay --pidfile s.pid'\n",
    );
    let run = dir
        .drover(&["--no-timestamp", "--color", "never", "-t", "3"])
        .spawn();
    let child = dir.pids("s.pid")[0];
    let grandchild = dir.pids("g.pid")[0];
    run.signal(libc::SIGTERM);
    // The report comes once a second while the shutdown waits.
    run.wait_for_line("a blocker report line", |l| {
        contains(l, b"waiting for stubborn.1: ") && contains(l, b"; SIGKILL in ")
    });
    let f = run.finish();
    f.assert_code(1);
    f.assert_clean_stderr();
    let lines = parse_text(&f.stdout);
    assert_eq!(
        lossy(&lines_of(&lines, "stubborn.1")),
        ["ignored SIGTERM", "ignored SIGTERM"]
    );
    let system = system_lines(&lines);
    let reports: Vec<&String> = system
        .iter()
        .filter(|l| l.starts_with("waiting for "))
        .collect();
    assert!(!reports.is_empty(), "{system:#?}");
    for r in &reports {
        // `waiting for stubborn.1: PID (COMMAND), PID (COMMAND); SIGKILL in Ns`
        let (members, secs) = r
            .strip_prefix("waiting for stubborn.1: ")
            .and_then(|rest| rest.rsplit_once("; SIGKILL in "))
            .unwrap_or_else(|| panic!("not a report on stubborn.1 with its SIGKILL: {r:?}"));
        for pid in [child, grandchild] {
            assert!(
                members.starts_with(&format!("{pid} (")) || members.contains(&format!(", {pid} (")),
                "{pid} is not named: {r:?}"
            );
        }
        assert!(members.contains("drover-testchild"), "the commands: {r:?}");
        let secs: u64 = secs
            .strip_suffix('s')
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no `SIGKILL in Ns`: {r:?}"));
        assert!(secs <= 3, "within the timeout: {r:?}");
    }
    // The report comes before the kill it announces.
    let kill = system
        .iter()
        .position(|l| l.contains("sending SIGKILL"))
        .unwrap_or_else(|| panic!("{system:#?}"));
    let first = system
        .iter()
        .position(|l| l.starts_with("waiting for "))
        .expect("seen above");
    assert!(first < kill, "{system:#?}");
    assert_none_left(
        &dir,
        &[child, grandchild],
        "the stubborn child and grandchild",
    );
}

#[test]
fn a_cut_pipe_names_the_process_that_holds_it() {
    let dir = TestDir::new();
    // The shell leaves a daemon (new session, stdout and stderr kept) and
    // exits once the daemon has left its group (it writes its pid file
    // after setsid): a daemon still in the group when the shell exits
    // would be stopped with the lingering group instead.
    dir.procfile(
        "leaver: sh -c 'setsid sh -c \"echo \\$\\$ > holder.pid; exec sleep 300\" & exec $T --wait-file holder.pid --marker bye'\n",
    );
    let f = dir.drover(PLAIN).run();
    let holder = dir.pids("holder.pid")[0];
    // leaver exited 0 on its own; drover stopped and exits with its status.
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = parse_text(&f.stdout);
    assert_eq!(lossy(&lines_of(&lines, "leaver.1")), ["bye"]);
    let system = system_lines(&lines);
    let warning = format!("leaver.1: its stdout is still held open by {holder} (sleep 300)");
    assert!(
        system.iter().any(|l| l.contains(&warning)),
        "no warning naming the holder {holder}: {system:#?}"
    );
    // drover, the daemon's subreaper, stopped it before exiting.
    assert!(
        system
            .iter()
            .any(|l| l.contains(&format!("pid {holder} (sleep 300) left its process group"))),
        "{system:#?}"
    );
    assert_none_left(&dir, &[holder], "the daemon holding the pipe");
}
