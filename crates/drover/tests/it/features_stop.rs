//! Stopping and pausing real processes: a per-process stop ladder climbed
//! one signal at a time, a second Ctrl-C jumping to SIGKILL, and pause and
//! resume (`drover pause`/`resume`, and Ctrl-Z/`fg` on drover itself).
//!
//! Pausing is checked by the kernel's word, the `T` state in
//! `/proc/PID/stat`, never by waiting to see that no line comes.

use crate::util::*;

#[test]
fn a_stop_ladder_sends_int_then_term_then_kill() {
    let dir = TestDir::new();
    dir.procfile("stubborn: $T --ignore-int --ignore-term --stay --pidfile s.pid\n");
    dir.write(
        "drover.toml",
        "timeout = 600\n\
         [processes.stubborn]\n\
         stop = [\"INT\", \"1s\", \"TERM\", \"1s\", \"KILL\"]\n",
    );
    let run = dir.drover(PLAIN).spawn();
    let pid = dir.pids("s.pid")[0];
    run.signal(libc::SIGTERM);
    // Each step's signal reaches the child, in order; the waits of a
    // second are the ladder's, the 20 s bound only a hang detector.
    wait_for_child_line(&run, "stubborn.1", "ignored SIGINT");
    wait_for_child_line(&run, "stubborn.1", "ignored SIGTERM");
    let f = run.finish();
    f.assert_code(1);
    f.assert_clean_stderr();
    let lines = parse_text(&f.stdout);
    assert_eq!(
        texts(&lines, "stubborn.1"),
        ["ignored SIGINT", "ignored SIGTERM"]
    );
    let system = system_lines(&lines);
    let climbs: Vec<&String> = system
        .iter()
        .filter(|l| l.contains("stubborn.1 is still running"))
        .collect();
    assert_eq!(climbs.len(), 2, "{system:#?}");
    assert!(
        climbs[0].ends_with("1s after SIGINT: sending SIGTERM"),
        "{climbs:?}"
    );
    assert!(
        climbs[1].ends_with("1s after SIGTERM: sending SIGKILL"),
        "{climbs:?}"
    );
    assert!(
        system
            .iter()
            .any(|l| l == "stubborn.1 was killed by SIGKILL"),
        "{system:#?}"
    );
    assert_none_left(&dir, &[pid], "the stubborn child");
}

#[test]
fn a_second_sigint_jumps_every_ladder_to_kill() {
    let dir = TestDir::new();
    // Ladders far longer than the test's bound: only the jump ends them.
    dir.procfile(
        "laddered: $T --ignore-int --ignore-term --stay --pidfile l.pid\n\
         plain: $T --ignore-term --stay --pidfile p.pid\n",
    );
    dir.write(
        "drover.toml",
        "timeout = 600\n\
         [processes.laddered]\n\
         stop = [\"INT\", \"10m\", \"TERM\", \"10m\", \"KILL\"]\n",
    );
    let mut run = dir.drover(PLAIN).spawn();
    let laddered = dir.pids("l.pid")[0];
    let plain = dir.pids("p.pid")[0];
    run.signal(libc::SIGINT);
    wait_for_child_line(&run, "laddered.1", "ignored SIGINT");
    wait_for_child_line(&run, "plain.1", "ignored SIGTERM");
    assert!(!run.exited(), "drover exited before the second SIGINT");
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(1);
    f.assert_clean_stderr();
    let lines = parse_text(&f.stdout);
    assert_eq!(texts(&lines, "laddered.1"), ["ignored SIGINT"]);
    assert_eq!(texts(&lines, "plain.1"), ["ignored SIGTERM"]);
    let system = system_lines(&lines);
    assert!(
        system
            .iter()
            .any(|l| l.ends_with("received SIGINT again: killing every process now")),
        "{system:#?}"
    );
    for name in ["laddered.1", "plain.1"] {
        assert!(
            system
                .iter()
                .any(|l| *l == format!("{name} was killed by SIGKILL")),
            "{name}: {system:#?}"
        );
    }
    assert_none_left(&dir, &[laddered, plain], "the stubborn children");
}

// ---------------------------------------------------------------------------
// Pause and resume

/// A counter that writes the count to `n` before each `tick N` line, so
/// `n` holds at least the last tick written. One process that never forks:
/// a shell loop's `sleep` could be stopped half-way through a vfork, and
/// leave the shell waiting for it in state `D` instead of `T`.
const TICKER: &str = "import os, time
def put(name, text):
    with open(name + '.tmp', 'w') as f:
        f.write(text)
    os.rename(name + '.tmp', name)
put('ticker.pid', '%d\\n' % os.getpid())
i = 0
while True:
    i += 1
    put('n', str(i))
    print('tick %d' % i, flush=True)
    time.sleep(0.02)
";

/// Writes the ticker and a Procfile that runs it.
fn ticker(dir: &TestDir) {
    require_python();
    dir.write("ticker.py", TICKER);
    dir.procfile("ticker: python3 ticker.py\n");
}

/// The count in `n`.
fn count(dir: &TestDir) -> u64 {
    std::fs::read_to_string(dir.join("n"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits for a tick past the count in `n`: a line written after now.
fn wait_for_new_tick(dir: &TestDir, run: &DroverRun) {
    let want = format!("tick {}", count(dir) + 1);
    wait_for_child_line(run, "ticker.1", &want);
}

fn ps_state(dir: &TestDir) -> String {
    row(&ps(dir), "ticker.1")["state"]
        .as_str()
        .expect("a state")
        .to_string()
}

#[test]
fn pause_and_resume_stop_and_continue_the_processes() {
    let dir = TestDir::new();
    ticker(&dir);
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let pid = dir.pids("ticker.pid")[0];
    learn(&dir, &[pid]);
    wait_for_child_line(&run, "ticker.1", "tick 3");

    client(&dir, &["pause"]).ok();
    wait_for_ps(&dir, "ps to say paused", |rows| {
        row(rows, "ticker.1")["state"] == "paused"
    });
    wait_for_state(pid, "the ticker to be stopped", stopped);
    assert!(!stopped(proc_state(run.pid())), "drover itself runs on");

    client(&dir, &["resume"]).ok();
    wait_for_state(pid, "the ticker to run again", |s| {
        s.is_some() && !stopped(s)
    });
    wait_for_new_tick(&dir, &run);
    assert_eq!(ps_state(&dir), "running");
    // Nothing is paused any more.
    client(&dir, &["resume"]).refused("nothing is paused");

    run.signal(libc::SIGTERM);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let system = system_lines(&parse_text(&f.stdout));
    assert!(
        system
            .iter()
            .any(|l| l == "paused every process (requested)"),
        "{system:#?}"
    );
    assert!(
        system.iter().any(|l| l.starts_with("resumed after ")),
        "{system:#?}"
    );
    assert_none_left(&dir, &[pid], "the ticker");
}

#[test]
fn ctrl_z_suspends_drover_and_its_processes_and_sigcont_resumes_them() {
    let dir = TestDir::new();
    ticker(&dir);
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let pid = dir.pids("ticker.pid")[0];
    learn(&dir, &[pid]);
    wait_for_child_line(&run, "ticker.1", "tick 3");

    // What a terminal sends to the foreground job on Ctrl-Z.
    run.signal(libc::SIGTSTP);
    wait_for_state(pid, "the ticker to be stopped", stopped);
    wait_for_state(run.pid(), "drover to stop itself", stopped);

    // What `fg` sends.
    run.signal(libc::SIGCONT);
    wait_for_state(run.pid(), "drover to run again", |s| {
        s.is_some() && !stopped(s)
    });
    wait_for_state(pid, "the ticker to run again", |s| {
        s.is_some() && !stopped(s)
    });
    wait_for_new_tick(&dir, &run);
    assert_eq!(ps_state(&dir), "running");

    run.signal(libc::SIGTERM);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let system = system_lines(&parse_text(&f.stdout));
    assert!(
        system
            .iter()
            .any(|l| l == "suspended (Ctrl-Z); `fg` resumes every process"),
        "{system:#?}"
    );
    assert_none_left(&dir, &[pid], "the ticker");
}

#[test]
fn a_paused_run_still_stops_on_sigterm() {
    let dir = TestDir::new();
    ticker(&dir);
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let pid = dir.pids("ticker.pid")[0];
    learn(&dir, &[pid]);
    client(&dir, &["pause"]).ok();
    wait_for_state(pid, "the ticker to be stopped", stopped);
    // A stopped process cannot act on SIGTERM: drover continues it first.
    run.signal(libc::SIGTERM);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let system = system_lines(&parse_text(&f.stdout));
    assert!(
        system.iter().any(|l| l == "ticker.1 was killed by SIGTERM"),
        "{system:#?}"
    );
    assert_none_left(&dir, &[pid], "the ticker");
}
