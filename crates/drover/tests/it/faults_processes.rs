//! Nothing escapes: descendants that daemonize, groups that outlive their
//! leader, and drover itself being SIGKILLed, on real processes.
//!
//! Pids are checked with `leftover`: alive *and* still running in the test
//! folder, so that a pid the kernel reused for someone else's process is
//! never taken for ours.

use crate::util::*;

/// The process group of `pid`, from `/proc/PID/stat`.
fn pgrp(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/stat: {e}"));
    let rest = &stat[stat.rfind(')').expect("a stat line") + 1..];
    rest.split_whitespace()
        .nth(2)
        .and_then(|g| g.parse().ok())
        .expect("a process group field")
}

#[test]
fn a_daemonizing_grandchild_is_signalled_and_reaped_at_shutdown() {
    let dir = TestDir::new();
    dir.procfile("parent: $T --fork-detached 300 --stay --pidfile d.pid\n");
    let run = dir.drover(PLAIN).spawn();
    let pids = dir.pids("d.pid");
    assert_eq!(pids.len(), 2, "the child and its daemon");
    let (child, daemon) = (pids[0], pids[1]);
    // The daemon really left: its own session and group, beyond the reach
    // of a signal to the child's group.
    wait_until("the daemon to call setsid", || pgrp(daemon) == daemon);
    assert_ne!(pgrp(daemon), pgrp(child));

    run.signal(libc::SIGTERM);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = parse_text(&f.stdout);
    assert_eq!(
        lossy(&lines_of(&lines, "parent.1")),
        [format!("detached {daemon}")]
    );
    let system = system_lines(&lines);
    let adopted =
        format!("pid {daemon} (sleep 300) left its process group and outlived it: sending SIGTERM");
    assert!(
        system.iter().any(|l| l.ends_with(&adopted)),
        "no line says the daemon was adopted and signalled: {system:#?}"
    );
    // drover waited for it: its exit line is the last.
    assert!(
        system
            .last()
            .is_some_and(|l| l.contains("exiting with status 0")),
        "{system:#?}"
    );
    assert_none_left(&dir, &[child, daemon], "the child and its daemon");
}

/// drover SIGKILLed cannot stop anything itself: its keeper stops its
/// direct children, even one that ignores SIGTERM (and, as `field_death`
/// shows, everything they forked).
#[test]
fn when_drover_is_sigkilled_its_direct_children_die() {
    let dir = TestDir::new();
    dir.procfile(
        "a: $T --stay --pidfile a.pid\n\
         b: $T --ignore-term --ignore-int --stay --pidfile b.pid\n\
         c: $T --fork-sleep 300 --stay --pidfile c.pid\n\
         w: sh -c '$T --stay --pidfile w.pid; echo after'\n",
    );
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let a = dir.pids("a.pid")[0];
    let b = dir.pids("b.pid")[0];
    let c = dir.pids("c.pid");
    let w = dir.pids("w.pid")[0];
    let rows = ps(&dir);
    let shell = pid_of(&rows, "w.1");
    assert_ne!(shell, w, "w.1 is the shell, the testchild its child");
    for (name, pid) in [("a.1", a), ("b.1", b), ("c.1", c[0])] {
        assert_eq!(pid_of(&rows, name), pid, "{name} is drover's direct child");
    }

    run.signal(libc::SIGKILL);
    let status = run.wait_exit();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    assert_none_left(&dir, &[a, b, c[0], shell], "drover's direct children");
    assert_none_left(&dir, &[c[1], w], "their children");
}

#[test]
fn a_group_outliving_its_leader_is_stopped_and_drover_exits() {
    let dir = TestDir::new();
    // The child exits by itself at once; its grandchild, in its group,
    // holds both pipes.
    dir.procfile("parent: $T --fork-sleep 300 --marker done --exit 0 --pidfile g.pid\n");
    let f = dir.drover(PLAIN).run();
    let pids = dir.pids("g.pid");
    assert_eq!(pids.len(), 2, "the child and its grandchild");
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = parse_text(&f.stdout);
    assert_all_lines(
        &lines,
        "parent.1",
        "t",
        0,
        100,
        &[&format!("grandchild {}", pids[1]), "done"],
    );
    let system = system_lines(&lines);
    assert!(
        system.iter().any(|l| l == "parent.1 exited with code 0"),
        "{system:#?}"
    );
    assert_none_left(&dir, &pids, "the child and its grandchild");
}

#[test]
fn a_stubborn_group_outliving_its_leader_gets_sigkill_after_the_timeout() {
    let dir = TestDir::new();
    // The grandchild ignores SIGTERM: only the ladder's SIGKILL ends it.
    dir.procfile(
        "parent: sh -c '$T --ignore-term --stay --pidfile gc.pid & exec $T --wait-file gc.pid --marker done --exit 0 --pidfile p.pid'\n",
    );
    let f = dir
        .drover(&["--no-timestamp", "--color", "never", "-t", "1"])
        .run();
    let leader = dir.pids("p.pid")[0];
    let grandchild = dir.pids("gc.pid")[0];
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = parse_text(&f.stdout);
    assert_eq!(
        lossy(&lines_of(&lines, "parent.1")),
        ["done", "ignored SIGTERM"]
    );
    let system = system_lines(&lines);
    assert!(
        system
            .iter()
            .any(|l| l.ends_with("parent.1 is still running 1s after SIGTERM: sending SIGKILL")),
        "{system:#?}"
    );
    assert!(
        system
            .iter()
            .any(|l| l == "parent.1 exited with code 0 (after SIGKILL)"),
        "{system:#?}"
    );
    assert_none_left(&dir, &[leader, grandchild], "the leader and its grandchild");
}

/// A daemon that ignores SIGTERM is adopted and signalled once every
/// generation is over; a second SIGINT then SIGKILLs it at once instead of
/// waiting out the timeout (600 s here, far past the test's bound).
#[test]
fn a_second_sigint_kills_an_adopted_daemon_at_once() {
    let dir = TestDir::new();
    dir.procfile(
        "parent: sh -c 'setsid $T --ignore-term --stay --pidfile d.pid > /dev/null 2>&1 & exec $T --wait-file d.pid --stay --pidfile p.pid'\n",
    );
    let run = dir
        .drover(&["--no-timestamp", "--color", "never", "-t", "600"])
        .spawn();
    let parent = dir.pids("p.pid")[0];
    let daemon = dir.pids("d.pid")[0];
    run.signal(libc::SIGINT);
    run.wait_for_output(&format!("pid {daemon} ("));
    run.wait_for_output("left its process group and outlived it: sending SIGTERM");
    run.signal(libc::SIGINT);
    let f = run.finish();
    // The daemon needed SIGKILL: the stop was not in time.
    f.assert_code(1);
    f.assert_clean_stderr();
    let system = system_lines(&parse_text(&f.stdout));
    assert!(
        system
            .iter()
            .any(|l| l.ends_with("received SIGINT again: killing every process now")),
        "{system:#?}"
    );
    assert_none_left(&dir, &[parent, daemon], "the child and its daemon");
}

/// `(ppid, state)` of `pid` from `/proc/PID/stat`, if it exists.
fn stat(pid: i32) -> Option<(i32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((ppid, state))
}

/// A classic double fork: the intermediate shell exits at once, so both
/// daemons are re-parented to drover (a child subreaper) while it runs.
/// The short one's exit is reaped then, leaving no zombie; the long one is
/// stopped at shutdown.
#[test]
fn double_forked_daemons_are_adopted_reaped_and_stopped() {
    let dir = TestDir::new();
    dir.procfile(
        "p: sh -c '(setsid sh -c \"sleep 300 & echo \\$! > long.pid; sleep 0.2 & echo \\$! > short.pid\" &); exec $T --stay --pidfile p.pid'\n",
    );
    let mut run = dir.drover(PLAIN).spawn();
    let drover = run.pid();
    let child = dir.pids("p.pid")[0];
    let long = dir.pids("long.pid")[0];
    let short = dir.pids("short.pid")[0];
    learn(&dir, &[long, short]);
    wait_until("drover to adopt the long daemon", || {
        stat(long).is_some_and(|(ppid, _)| ppid == drover)
    });
    // Not reaped means a zombie whose parent is drover; once reaped the pid
    // is gone (or someone else's).
    wait_until("drover to reap the short daemon", || {
        !stat(short).is_some_and(|(ppid, state)| ppid == drover && state == 'Z')
    });
    assert!(!run.exited(), "drover runs on");

    run.signal(libc::SIGTERM);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let system = system_lines(&parse_text(&f.stdout));
    let adopted =
        format!("pid {long} (sleep 300) left its process group and outlived it: sending SIGTERM");
    assert!(system.iter().any(|l| l.ends_with(&adopted)), "{system:#?}");
    assert_none_left(&dir, &[child, long, short], "the child and the daemons");
}
