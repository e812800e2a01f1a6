//! What real stacks need: a prefork server that stops its own workers
//! (`kill_mode = "mixed"`), one-off processes whose end stops nothing
//! (`can_die`), probes that believe only the process they probe, and a
//! readiness deadline. The stand-ins are small python3 programs that
//! behave like the real servers in the one way each test is about.

use crate::util::*;

/// A prefork parent: two workers in its group; SIGHUP reloads them (TERM
/// to each, two new ones), SIGTERM stops them and waits, then exits 0.
/// Every worker appends to `w.log` each signal it gets, and from whom, so
/// the test can tell a signal from the parent from one sent to the group.
const PREFORK: &str = r#"
import os, signal, sys
SIGS = {signal.SIGHUP, signal.SIGTERM, signal.SIGINT}
signal.pthread_sigmask(signal.SIG_BLOCK, SIGS)
parent = os.getpid()

def worker():
    while True:
        info = signal.sigwaitinfo(SIGS)
        who = 'parent' if info.si_pid == parent else 'someone else'
        with open('w.log', 'a') as f:
            f.write('%s from %s\n' % (signal.Signals(info.si_signo).name, who))
        if info.si_signo != signal.SIGHUP:
            os._exit(0)

def fork():
    pid = os.fork()
    if pid == 0:
        worker()
    return pid

def stop(workers):
    for w in workers:
        os.kill(w, signal.SIGTERM)
    for w in workers:
        os.waitpid(w, 0)

workers = [fork(), fork()]
with open('master.pid', 'w') as f:
    f.write('%d\n' % parent)
print('booted 2 workers', flush=True)
while True:
    info = signal.sigwaitinfo(SIGS)
    if info.si_signo == signal.SIGHUP:
        stop(workers)
        workers = [fork(), fork()]
        print('reloaded 2 workers', flush=True)
    else:
        stop(workers)
        print('workers stopped', flush=True)
        sys.exit(0)
"#;

fn prefork(dir: &TestDir, kill_mode: &str) {
    require_python();
    dir.write("prefork.py", PREFORK);
    dir.procfile("web: python3 prefork.py\n");
    dir.write(
        "drover.toml",
        &format!("[processes.web]\nkill_mode = \"{kill_mode}\"\n"),
    );
}

fn worker_log(dir: &TestDir) -> Vec<String> {
    std::fs::read_to_string(dir.join("w.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn mixed_kill_mode_lets_a_prefork_server_reload_and_stop_its_own_workers() {
    let dir = TestDir::new();
    prefork(&dir, "mixed");
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    wait_for_child_line(&run, "web.1", "booted 2 workers");
    let master = dir.pids("master.pid")[0];
    assert_eq!(
        client(&dir, &["kill", "web", "HUP"]).ok(),
        "signalled: web.1\n"
    );
    wait_for_child_line(&run, "web.1", "reloaded 2 workers");
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = parse_text(&f.stdout);
    assert_eq!(
        texts(&lines, "web.1"),
        ["booted 2 workers", "reloaded 2 workers", "workers stopped"]
    );
    // The reload's two TERMs and the stop's two, all from the parent:
    // neither HUP nor the stop signal reached a worker from drover.
    assert_eq!(worker_log(&dir), vec!["SIGTERM from parent"; 4]);
    assert_none_left(&dir, &[master], "the prefork parent");
}

#[test]
fn control_group_kill_mode_signals_the_workers_too() {
    let dir = TestDir::new();
    prefork(&dir, "control-group");
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    wait_for_child_line(&run, "web.1", "booted 2 workers");
    let master = dir.pids("master.pid")[0];
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    // Each worker got SIGTERM from drover, not (only) from its parent.
    let log = worker_log(&dir);
    assert!(
        log.iter()
            .filter(|l| *l == "SIGTERM from someone else")
            .count()
            == 2,
        "{log:?}"
    );
    assert_none_left(&dir, &[master], "the prefork parent");
}

#[test]
fn a_can_die_one_off_failing_and_rerun_stops_nothing() {
    let dir = TestDir::new();
    dir.procfile(
        "web: $T --stay --pidfile web.pid\n\
         release: $T --exit 1\n",
    );
    dir.write("drover.toml", "[processes.release]\ncan_die = true\n");
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let web = dir.pids("web.pid")[0];
    run.wait_for_output("release.1 exited with code 1");
    client(&dir, &["restart", "release"]).ok();
    wait_for_nth(&run, "release.1 exited with code 1", 2);
    // Both ends stopped nothing: web runs on, drover answers.
    assert_eq!(row(&ps(&dir), "web.1")["state"], "running");
    assert!(alive(web));
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_clean_stderr();
    let system = system_lines(&parse_text(&f.stdout));
    assert!(
        system
            .iter()
            .any(|l| l == "received SIGINT: stopping 1 process"),
        "{system:#?}"
    );
    assert_none_left(&dir, &[web], "web");
}

#[test]
fn a_probe_on_a_port_someone_else_holds_never_passes_and_the_deadline_fails_it() {
    let dir = TestDir::new();
    // Someone else (this test) listens on the port db.1 is probed on.
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = other.local_addr().unwrap().port();
    dir.procfile("db: $T --stay --pidfile db.pid\n");
    dir.write(
        "drover.toml",
        &format!(
            "[processes.db]\nready = {{ tcp = {port}, interval = \"50ms\", timeout = \"1s\" }}\n"
        ),
    );
    let run = dir.drover(PLAIN).spawn();
    let db = dir.pids("db.pid")[0];
    let f = run.finish();
    f.assert_clean_stderr();
    let system = system_lines(&parse_text(&f.stdout));
    let me = std::process::id();
    let held =
        format!("db.1 is not ready yet: tcp 127.0.0.1:{port}: port {port} is held by pid {me} (");
    assert_eq!(
        system.iter().filter(|l| l.starts_with(&held)).count(),
        1,
        "said once: {system:#?}"
    );
    assert!(
        system.iter().any(
            |l| l.starts_with("error: db.1 was not ready within 1s (last: tcp ")
                && l.ends_with(" tries): stopping it")
        ),
        "{system:#?}"
    );
    assert!(!system.iter().any(|l| l == "db.1 is ready"), "{system:#?}");
    assert_ne!(f.code(), 0);
    assert_none_left(&dir, &[db], "db");
    drop(other);
}

#[test]
fn a_probe_on_its_own_listener_passes_and_ps_says_why_others_wait() {
    require_python();
    let dir = TestDir::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = closed.local_addr().unwrap().port();
    drop(closed);
    dir.write(
        "serve.py",
        "import socket, os\n\
         s = socket.socket(); s.bind(('127.0.0.1', int(os.environ['PORT_HTTP']))); s.listen()\n\
         print('listening', flush=True)\n\
         while True: s.accept()[0].close()\n",
    );
    dir.procfile(
        "api: python3 serve.py\n\
         db: $T --stay\n\
         web: $T --stay\n",
    );
    dir.write(
        "drover.toml",
        &format!(
            "[processes.db]\nready = {{ tcp = {refused}, timeout = \"10m\" }}\n\
             [processes.web]\ndepends_on = {{ db = \"ready\" }}\n\
             [processes.api]\nports = [\"http\"]\nready = {{ tcp = \"${{PORT_HTTP}}\" }}\n"
        ),
    );
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let why = format!("waiting: db.1 not ready (tcp 127.0.0.1:{refused} refused, ");
    wait_for_ps(&dir, "ps to say why web.1 waits", |rows| {
        row(rows, "web.1")["why"]
            .as_str()
            .is_some_and(|w| w.starts_with(&why))
    });
    run.wait_for_output("api.1 is ready");
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
}

#[test]
fn a_process_that_recovered_shows_its_restarts_and_its_last_failed_run() {
    require_python();
    let dir = TestDir::new();
    // Crashes at start-up twice, with a traceback, then runs healthy.
    dir.write(
        "flaky.py",
        "import os, sys, time\n\
         n = len(os.listdir('runs')) + 1\n\
         open('runs/%d' % n, 'w').close()\n\
         if n <= 2:\n\
         \x20   print('Traceback (run %d)' % n, flush=True)\n\
         \x20   print('ImportError: boom', flush=True)\n\
         \x20   sys.exit(1)\n\
         print('healthy', flush=True)\n\
         while True: time.sleep(1)\n",
    );
    std::fs::create_dir(dir.join("runs")).unwrap();
    dir.procfile("worker: python3 flaky.py\n");
    dir.write(
        "drover.toml",
        "[processes.worker]\nrestart = \"on-failure\"\nbackoff = { initial = \"100ms\" }\n",
    );
    let run = dir.drover(PLAIN).spawn();
    wait_for_child_line(&run, "worker.1", "healthy");
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    // One line per start, and one per crash saying what follows it.
    let system = system_lines(&parse_text(&f.stdout));
    let about = |prefix: &str| system.iter().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(about("worker.1 started (pid "), 1, "{system:#?}");
    assert_eq!(about("worker.1 started again (pid "), 2, "{system:#?}");
    assert_eq!(
        about("worker.1 exited with code 1; restarting in "),
        2,
        "{system:#?}"
    );
    assert_eq!(about("worker.1 exited with code 1"), 2, "{system:#?}");
    assert_eq!(about("every process is ready"), 1, "{system:#?}");
    let err = &f.stderr;
    let worker = err
        .lines()
        .find(|l| l.starts_with("worker.1 "))
        .unwrap_or_else(|| panic!("no digest row:\n{err}"));
    assert!(!worker.contains("FAILED"), "it recovered: {worker:?}");
    assert!(
        worker.contains(" SIGTERM         2 "),
        "two restarts: {worker:?}"
    );
    let label = "last 2 lines of worker.1's last failed run (it recovered after 2 restarts):";
    let after: Vec<&str> = err.lines().skip_while(|l| *l != label).collect();
    assert_eq!(
        after.get(1..3),
        Some(&["  | Traceback (run 2)", "  | ImportError: boom"][..]),
        "{err}"
    );
}

#[test]
fn stopping_a_process_others_depend_on_asks_for_force() {
    let dir = TestDir::new();
    dir.procfile(
        "db: $T --stay --pidfile db.pid\n\
         web: $T --stay --pidfile web.pid\n",
    );
    dir.write("drover.toml", "[processes.web]\ndepends_on = [\"db\"]\n");
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let (db, web) = (dir.pids("db.pid")[0], dir.pids("web.pid")[0]);
    client(&dir, &["stop", "db"])
        .refused("a dependent is running: web.1 depends on db; stop them first, or use --force");
    assert!(alive(db));
    assert_eq!(
        client(&dir, &["stop", "--force", "db"]).ok(),
        "stopping: db.1\n"
    );
    assert_gone(db, "db.1");
    assert_eq!(row(&ps(&dir), "web.1")["state"], "running");
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    let system = system_lines(&parse_text(&f.stdout));
    assert!(
        system
            .iter()
            .any(|l| l.ends_with("web.1 depends on db (stop forced)")),
        "{system:#?}"
    );
    assert_none_left(&dir, &[db, web], "db and web");
}

#[test]
fn a_restart_reads_the_env_files_again() {
    let dir = TestDir::new();
    dir.write(".env", "GREETING=one\nKEPT=toml wins\n");
    dir.write(
        "app.sh",
        "echo \"greeting=$GREETING kept=$KEPT\"\n\
         while [ ! -f next ]; do sleep 0.02; done\n\
         rm next\n\
         exit 1\n",
    );
    dir.procfile("app: sh app.sh\n");
    dir.write(
        "drover.toml",
        "[processes.app]\nrestart = \"on-failure\"\nbackoff = { initial = \"100ms\" }\n\
         env = { KEPT = \"from drover.toml\" }\n",
    );
    let run = dir.drover(PLAIN).spawn();
    wait_for_child_line(&run, "app.1", "greeting=one kept=from drover.toml");
    dir.write(".env", "GREETING=two\nKEPT=toml still wins\n");
    dir.write("next", "");
    wait_for_child_line(&run, "app.1", "greeting=two kept=from drover.toml");
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
}

#[test]
fn restart_wait_returns_once_the_process_is_ready_again() {
    let dir = TestDir::new();
    dir.write(
        "app.sh",
        "echo booting\n\
         while [ ! -f go ]; do sleep 0.02; done\n\
         echo listening\n\
         exec sleep 600\n",
    );
    dir.write("go", "");
    dir.procfile("app: sh app.sh\n");
    dir.write(
        "drover.toml",
        "[processes.app]\nready = { log = \"listening\" }\n",
    );
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    run.wait_for_output("app.1 is ready");
    let old = pid_of(&ps(&dir), "app.1");
    std::fs::remove_file(dir.join("go")).unwrap();
    let path = dir.path().to_path_buf();
    let waiting = std::thread::spawn(move || {
        client_in(&path, &["restart", "--wait", "app"], &[])
            .ok()
            .to_string()
    });
    wait_for_nth(&run, "app.1  | booting", 2);
    dir.write("go", "");
    assert_eq!(waiting.join().unwrap(), "ready again: app.1\n");
    let rows = ps(&dir);
    assert_eq!(row(&rows, "app.1")["state"], "ready", "{rows:#?}");
    assert_ne!(pid_of(&rows, "app.1"), old);
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    // drover's lines about app.1 come after the lines it wrote before them:
    // each "is ready" after its "listening", the exit line before the
    // next start's.
    let order: Vec<String> = parse_text(&f.stdout)
        .iter()
        .map(|l| format!("{} | {}", l.name, l.text()))
        .filter(|l| l.contains("app.1"))
        .collect();
    let at = |needle: &str, nth: usize| {
        order
            .iter()
            .enumerate()
            .filter(|(_, l)| l.contains(needle))
            .nth(nth)
            .map(|(i, _)| i)
            .unwrap_or_else(|| panic!("no {needle:?} #{nth}: {order:#?}"))
    };
    assert!(
        at("app.1 | listening", 0) < at("app.1 is ready", 0),
        "{order:#?}"
    );
    assert!(
        at("app.1 | listening", 1) < at("app.1 is ready", 1),
        "{order:#?}"
    );
    assert!(
        at("app.1 was killed by SIGTERM", 0) < at("app.1 started again", 0),
        "{order:#?}"
    );
}

#[test]
fn pause_stops_a_descendant_that_left_its_group_too() {
    let dir = TestDir::new();
    dir.procfile("parent: $T --fork-detached 300 --stay --pidfile d.pid\n");
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let pids = dir.pids("d.pid");
    let (child, daemon) = (pids[0], pids[1]);
    wait_until("the daemon to lead its own group", || {
        proc_pgrp(daemon) == Some(daemon)
    });
    client(&dir, &["pause"]).ok();
    wait_for_state(child, "the child to be stopped", stopped);
    wait_for_state(daemon, "the daemon to be stopped", stopped);
    client(&dir, &["resume"]).ok();
    wait_for_state(daemon, "the daemon to run again", |s| {
        s.is_some() && !stopped(s)
    });
    run.signal(libc::SIGTERM);
    run.finish().assert_code(0);
    assert_none_left(&dir, &[child, daemon], "the child and its daemon");
}

/// The process group of `pid`, from `/proc/PID/stat`.
fn proc_pgrp(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(2)?.parse().ok()
}
