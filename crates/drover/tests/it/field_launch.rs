//! Guarantees under hostile launch conditions: a launcher that blocks or
//! ignores signals, leaves descriptors open or lowers the open-file limit;
//! signals other than the stop signals; a second drover in the same folder.
//! Each launcher is a few lines of Python that set the condition up and
//! `exec` drover, as a shell, a service manager or a script would.

use crate::util::*;

/// Blocks SIGCHLD and SIGTERM, ignores SIGQUIT (as `sh -c 'cmd &'` does),
/// leaves fd 9 open without close-on-exec, lowers the soft open-file limit
/// to 256, then becomes drover.
const HOSTILE: &str = "\
import os, resource, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD, signal.SIGTERM})
signal.signal(signal.SIGQUIT, signal.SIG_IGN)
fd = os.open('/dev/null', os.O_RDONLY)
os.dup2(fd, 9, inheritable=True)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
os.execv(sys.argv[1], sys.argv[1:])
";

/// drover clears the mask it was launched with (a blocked SIGCHLD would
/// keep it from reaping, a blocked SIGTERM from stopping), and each child
/// starts with an empty mask, no ignored signal, none of the launcher's
/// descriptors and the launcher's open-file limit, while drover itself runs
/// 120 processes on a soft limit of 256.
#[test]
fn a_hostile_launcher_leaves_nothing_behind_in_drover_or_its_children() {
    require_python();
    let dir = TestDir::new();
    dir.procfile(
        "sig: grep -E '^Sig(Blk|Ign)' /proc/self/status\n\
         fds: sh -c 'test -e /proc/self/fd/9 && echo fd9 leaked || echo fd9 closed; grep \"open files\" /proc/self/limits'\n\
         q: $T --marker up --stay --pidfile q.pid\n\
         many: sleep 300\n",
    );
    // q starts once sig and fds exited 0, which drover only sees by reaping
    // them (SIGCHLD); QUIT is q's stop signal.
    dir.write(
        "drover.toml",
        "[processes.q]\n\
         depends_on = { sig = \"exited_ok\", fds = \"exited_ok\" }\n\
         stop_signal = \"QUIT\"\n\
         [processes.many]\n\
         instances = 120\n",
    );
    let mut run = dir
        .drover(&["--no-timestamp", "--color", "never", "-t", "15"])
        .through(&["python3", "-c", HOSTILE])
        .spawn();
    wait_for_control(&dir, &mut run);
    run.wait_for_output("q.1      | up");
    let q = dir.pids("q.pid")[0];
    let rows = ps(&dir);
    let running = rows.iter().filter(|r| r["state"] == "running").count();
    assert!(running >= 121, "{} rows running: {rows:#?}", running);
    // SIGTERM was blocked by the launcher: it must still stop drover.
    run.signal(libc::SIGTERM);
    let f = run.finish();
    let lines = lines(&f);
    let sig = texts(&lines, "sig.1");
    assert_eq!(
        sig,
        vec!["SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000"],
        "{}",
        f.text()
    );
    let fds = texts(&lines, "fds.1");
    assert_eq!(fds[0], "fd9 closed", "{}", f.text());
    assert!(
        fds[1].starts_with("Max open files") && fds[1].contains(" 256 "),
        "the launcher's soft limit: {fds:?}"
    );
    let system = system_lines(&lines);
    assert!(
        system.iter().any(|l| l == "q.1 was killed by SIGQUIT"),
        "QUIT, ignored by the launcher, reached q: {system:#?}"
    );
    f.assert_code(0);
    assert_gone(q, "q");
}

/// SIGQUIT (Ctrl-\) stops drover as SIGTERM does: in order, nothing left,
/// the socket removed.
#[test]
fn sigquit_stops_drover_in_order() {
    let dir = TestDir::new();
    dir.procfile("web: $T --fork-sleep 300 --trap-term bye --stay --pidfile web.pid\n");
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let pids = dir.pids("web.pid");
    run.signal(libc::SIGQUIT);
    let f = run.finish();
    f.assert_code(0);
    let lines = lines(&f);
    assert!(
        system_lines(&lines)
            .iter()
            .any(|l| l.starts_with("received SIGQUIT: stopping")),
        "{}",
        f.text()
    );
    assert!(texts(&lines, "web.1").contains(&"bye TERM".to_string()));
    assert!(!sock(&dir).exists(), "the socket is removed");
    assert_none_left(&dir, &pids, "web and its grandchild");
}

/// SIGUSR1 and SIGUSR2 are passed on to every process and drover runs on;
/// SIGALRM, SIGVTALRM and SIGPROF are ignored.
#[test]
fn user_signals_are_passed_on_and_timer_signals_ignored() {
    require_python();
    let dir = TestDir::new();
    dir.write(
        "app.py",
        "import signal, sys, time\n\
         for s in (signal.SIGUSR1, signal.SIGUSR2):\n\
         \x20   signal.signal(s, lambda n, f: print('got', signal.Signals(n).name, flush=True))\n\
         print('ready', flush=True)\n\
         while True: time.sleep(1)\n",
    );
    dir.procfile("a: python3 app.py\nb: python3 app.py\n");
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    wait_for_nth(&run, "| ready", 2);
    for sig in [libc::SIGALRM, libc::SIGVTALRM, libc::SIGPROF] {
        run.signal(sig);
    }
    run.signal(libc::SIGUSR1);
    wait_for_nth(&run, "got SIGUSR1", 2);
    run.signal(libc::SIGUSR2);
    wait_for_nth(&run, "got SIGUSR2", 2);
    // Still running and answering.
    assert_eq!(ps(&dir).len(), 2);
    assert!(!run.exited());
    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    let system = system_lines(&lines(&f));
    assert!(
        system
            .iter()
            .any(|l| l == "received SIGUSR1: passed it on to a.1, b.1"),
        "{system:#?}"
    );
}

/// Two drovers in one folder never both run, even with different sockets:
/// the second exits 1 naming the first and starts nothing.
#[test]
fn a_second_drover_with_another_socket_is_still_refused() {
    let dir = TestDir::new();
    dir.procfile("web: echo $$ >> starts.log; exec $T --stay --pidfile web.pid\n");
    let mut first = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut first);
    let second = dir
        .drover(&["--no-timestamp", "--color", "never", "-s", "other.sock"])
        .run();
    second.assert_code(1);
    assert!(
        second
            .stderr
            .contains("drover is already running here (pid ")
            && second.stderr.contains(&first.pid().to_string()),
        "{}",
        second.stderr
    );
    let starts = std::fs::read_to_string(dir.join("starts.log")).expect("starts.log");
    assert_eq!(starts.lines().count(), 1, "starts: {starts:?}");
    client(&dir, &["shutdown"]).ok();
    first.finish().assert_code(0);
}

/// stdout on a full disk (here /dev/full: every write fails with ENOSPC)
/// stops the app like a closed stdout, but drover exits 1 and says why.
#[test]
fn a_full_disk_on_stdout_stops_the_app_with_status_1_and_says_why() {
    let dir = TestDir::new();
    dir.procfile("web: $T --lines 10 --stay --pidfile web.pid\n");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let mut run = dir.drover(PLAIN).spawn_with_stdout_to(full.into());
    // drover's first line (web.1 started) may already fail: the stop can
    // come before web writes its pid file.
    let status = run.wait_exit();
    let pids = pids_in_files(dir.path());
    assert_eq!(status.code(), Some(1), "{}", run.stderr_so_far());
    let stderr = run.stderr_so_far();
    assert!(
        stderr.contains("writing stdout failed") && stderr.contains("No space left on device"),
        "{stderr}"
    );
    assert_none_left(&dir, &pids, "web");
}

/// An instance whose port would pass 65535 gets no PORT instead of stopping
/// everything: `start` runs it and says so, `check` shows it, the exports
/// (which name an instance by its port) refuse with a hint.
#[test]
fn an_instance_past_port_65535_runs_without_a_port() {
    let dir = TestDir::new();
    dir.procfile(
        "a: sh -c 'echo a has ${PORT:-none}; exec sleep 100'\n\
         b: sh -c 'echo b has ${PORT:-none}; exec sleep 100'\n",
    );
    let run = dir
        .drover(&["--no-timestamp", "--color", "never", "-p", "65500"])
        .spawn();
    run.wait_for_output("a has");
    run.wait_for_output("b has");
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    let lines = lines(&f);
    assert_eq!(texts(&lines, "a.1"), vec!["a has 65500"], "{}", f.text());
    assert_eq!(texts(&lines, "b.1"), vec!["b has none"], "{}", f.text());
    assert!(
        system_lines(&lines)
            .iter()
            .any(|l| l.contains("b.1: no PORT, as it would pass 65535")),
        "{}",
        f.text()
    );
    let check = std::process::Command::new(DROVER)
        .args(["check", "-p", "65500"])
        .current_dir(dir.path())
        .env_remove("PORT")
        .output()
        .expect("drover check");
    assert!(check.status.success());
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(out.contains("no PORT: it would pass 65535"), "{out}");
    let export = std::process::Command::new(DROVER)
        .args(["export", "systemd", "out", "-p", "65500"])
        .current_dir(dir.path())
        .env_remove("PORT")
        .output()
        .expect("drover export");
    assert_eq!(export.status.code(), Some(2));
    let err = String::from_utf8_lossy(&export.stderr);
    assert!(err.contains("b.1 would get a port above 65535"), "{err}");
}
