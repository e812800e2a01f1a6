//! What drover.toml asks of a real `drover start`: restart policies with
//! backoff and limits, dependencies gated by readiness probes, reverse stop
//! order, and per-process stop signals, timeouts and ladders.
//!
//! Order is checked only where it is causal: a line drover prints before it
//! starts a process, or files the children themselves check or append to.
//! Two children's pipes are read independently, so the order of their
//! lines on stdout proves nothing.

use crate::util::*;

/// A process that stays until stopped, saying `bye TERM` (or `bye INT`).
/// Its pid file appears once its handler is installed: processes that end
/// at once wait for it (`--wait-file stayer.pid`), so it always has last
/// words to say.
const STAYER: &str = "stayer: $T --trap-term bye --stay --pidfile stayer.pid\n";

/// The system lines of `f` that contain `needle`.
fn system_with(lines: &[Line], needle: &str) -> Vec<String> {
    system_lines(lines)
        .into_iter()
        .filter(|l| l.contains(needle))
        .collect()
}

// ---------------------------------------------------------------------------
// Restart policies

#[test]
fn on_failure_restarts_with_backoff_then_gives_up_with_the_status() {
    let dir = TestDir::new();
    dir.procfile(&format!(
        "flaky: $T --tag f --lines 1 --wait-file stayer.pid --exit 3\n{STAYER}"
    ));
    dir.write(
        "drover.toml",
        "[processes.flaky]\n\
         restart = \"on-failure\"\n\
         max_restarts = 3\n\
         backoff = { initial = \"100ms\", max = \"300ms\" }\n",
    );
    let f = dir.drover(PLAIN).run();
    f.assert_code(3);
    f.assert_clean_stderr();
    let lines = lines(&f);
    // The first run and three restarts, each writing its line 1.
    let line1 = String::from_utf8(expected_line("f", 1, 100)).expect("ASCII");
    assert_eq!(texts(&lines, "flaky.1"), [line1.as_str(); 4]);
    // The delay doubles up to `max`.
    assert_eq!(
        system_with(&lines, "restarting in"),
        [
            "flaky.1 exited with code 3; restarting in 0.1s (restart 1 of 3)",
            "flaky.1 exited with code 3; restarting in 0.2s (restart 2 of 3)",
            "flaky.1 exited with code 3; restarting in 0.3s (restart 3 of 3)",
        ]
    );
    let gave_up = system_with(&lines, "giving up");
    assert_eq!(gave_up.len(), 1, "{gave_up:#?}");
    assert!(
        gave_up[0].ends_with("flaky.1 exited with code 3; giving up after 3 restarts in a row"),
        "{gave_up:#?}"
    );
    // Then the foreman rule: everything stops, with flaky's status.
    assert!(!system_with(&lines, "flaky.1 has ended: stopping").is_empty());
    assert_eq!(texts(&lines, "stayer.1"), ["bye TERM"]);
    let system = system_lines(&lines);
    assert_eq!(
        system.last().map(String::as_str),
        Some(
            "all processes have stopped; exiting with status 3 \
             (status of flaky.1, which exited with code 3)"
        )
    );
}

#[test]
fn on_failure_does_not_restart_a_clean_exit() {
    let dir = TestDir::new();
    dir.procfile(&format!(
        "once: $T --tag o --lines 1 --wait-file stayer.pid --exit 0\n{STAYER}"
    ));
    dir.write(
        "drover.toml",
        "[processes.once]\nrestart = \"on-failure\"\nbackoff = { initial = \"10ms\" }\n",
    );
    let f = dir.drover(PLAIN).run();
    f.assert_code(0);
    let lines = lines(&f);
    assert_all_lines(&lines, "once.1", "o", 1, 100, &[]);
    assert!(system_with(&lines, "restarting").is_empty());
    assert!(!system_with(&lines, "once.1 has ended: stopping").is_empty());
    assert_eq!(texts(&lines, "stayer.1"), ["bye TERM"]);
}

#[test]
fn always_restarts_a_clean_exit() {
    let dir = TestDir::new();
    dir.procfile(&format!(
        "looper: $T --tag l --lines 1 --wait-file stayer.pid --exit 0\n{STAYER}"
    ));
    dir.write(
        "drover.toml",
        "[processes.looper]\nrestart = \"always\"\nbackoff = { initial = \"20ms\", max = \"20ms\" }\n",
    );
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let rows = wait_for_ps(&dir, "looper to be restarted 3 times", |r| {
        row(r, "looper.1")["restarts"].as_u64() >= Some(3)
    });
    assert_eq!(row(&rows, "looper.1")["last_exit"], "code 0");
    assert_eq!(row(&rows, "stayer.1")["state"], "running");
    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = lines(&f);
    // Three restarts: three runs ended, each after its line.
    let runs = texts(&lines, "looper.1").len();
    assert!(runs >= 3, "looper ran {runs} times");
    for n in 1..=3 {
        let want = format!("(restart {n})");
        assert!(
            system_with(&lines, "looper.1 exited with code 0; restarting in")
                .iter()
                .any(|l| l.ends_with(&want)),
            "no {want}: {:#?}",
            system_lines(&lines)
        );
    }
    assert!(system_with(&lines, "has ended").is_empty());
}

#[test]
fn restart_no_stops_everything_with_the_status_of_the_process() {
    let dir = TestDir::new();
    dir.procfile(&format!(
        "quitter: $T --marker done --wait-file stayer.pid --exit 5\n{STAYER}"
    ));
    dir.write("drover.toml", "[processes.quitter]\nrestart = \"no\"\n");
    let f = dir.drover(PLAIN).run();
    f.assert_code(5);
    let lines = lines(&f);
    assert_eq!(texts(&lines, "quitter.1"), ["done"]);
    assert!(system_with(&lines, "restarting").is_empty());
    assert!(!system_with(&lines, "quitter.1 has ended: stopping").is_empty());
    assert_eq!(texts(&lines, "stayer.1"), ["bye TERM"]);
    assert!(
        !dir.join(".drover.sock").exists(),
        "the socket is left behind"
    );
}

#[test]
fn a_stable_run_resets_the_backoff_and_the_count() {
    let dir = TestDir::new();
    // Each run lasts at least 100 ms, longer than reset_after.
    dir.procfile(&format!(
        "flaky: $T --tag f --lines 1 --wait-file stayer.pid --sleep-ms 100 --exit 3\n{STAYER}"
    ));
    dir.write(
        "drover.toml",
        "[processes.flaky]\n\
         restart = \"on-failure\"\n\
         max_restarts = 1\n\
         backoff = { initial = \"100ms\", max = \"10s\", reset_after = \"50ms\" }\n",
    );
    let run = dir.drover(PLAIN).spawn();
    wait_for_nth(&run, "restarting in", 3);
    run.signal(libc::SIGTERM);
    let f = run.finish();
    f.assert_code(0);
    let lines = lines(&f);
    let restarts = system_with(&lines, "restarting in");
    assert!(restarts.len() >= 3, "{restarts:#?}");
    for l in &restarts {
        assert_eq!(
            l, "flaky.1 exited with code 3; restarting in 0.1s (restart 1 of 1)",
            "the delay or count was not reset"
        );
    }
    assert!(system_with(&lines, "giving up").is_empty());
}

// ---------------------------------------------------------------------------
// Dependencies and readiness

/// db: ready once `db.ready` exists. Appends `db` to stops.log when stopped.
const DB_SH: &str = "\
echo $$ > db.pid
trap 'echo db >> stops.log; echo \"db bye\"; exit 0' TERM
echo 'db up'
touch db.ready
sleep 1000 &
wait
";

/// web: refuses to run unless db is ready and migrate has exited (it was
/// reaped, so its pid is gone). Appends `web` to stops.log when stopped.
const WEB_SH: &str = "\
test -f db.ready || { echo 'db is not ready'; exit 10; }
test -f migrate.pid || { echo 'migrate never ran'; exit 11; }
if kill -0 \"$(cat migrate.pid)\" 2>/dev/null; then echo 'migrate still runs'; exit 12; fi
echo $$ > web.pid
trap 'echo web >> stops.log; echo \"web bye\"; exit 0' TERM
echo 'web up'
sleep 1000 &
wait
";

const CHAIN_TOML: &str = "\
[processes.db]
ready = { command = \"test -f db.ready\", interval = \"20ms\" }

[processes.migrate]
depends_on = { db = \"ready\" }

[processes.web]
depends_on = { migrate = \"exited_ok\", db = \"ready\" }
";

#[test]
fn a_dependency_chain_starts_in_order_and_stops_in_reverse() {
    let dir = TestDir::new();
    dir.write("db.sh", DB_SH);
    dir.write("web.sh", WEB_SH);
    dir.procfile(
        "web: sh web.sh\n\
         migrate: test -f db.ready && exec $T --marker migrating --wait-file go --pidfile migrate.pid\n\
         db: sh db.sh\n",
    );
    dir.write("drover.toml", CHAIN_TOML);
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    dir.pids("migrate.pid");
    // migrate holds on: web waits for it.
    let rows = ps(&dir);
    assert_eq!(row(&rows, "db.1")["state"], "ready", "{rows:#?}");
    assert_eq!(row(&rows, "migrate.1")["state"], "running", "{rows:#?}");
    assert_eq!(row(&rows, "web.1")["state"], "waiting", "{rows:#?}");
    assert!(row(&rows, "web.1")["pid"].is_null());
    assert!(!dir.join("web.pid").exists());

    dir.write("go", "");
    dir.pids("web.pid");
    let rows = wait_for_ps(&dir, "web to run", |r| {
        row(r, "web.1")["state"] == "running"
    });
    assert_eq!(row(&rows, "migrate.1")["state"], "exited");
    assert_eq!(row(&rows, "migrate.1")["last_exit"], "code 0");
    assert_eq!(row(&rows, "db.1")["state"], "ready");

    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = lines(&f);
    assert_eq!(texts(&lines, "db.1"), ["db up", "db bye"]);
    assert_eq!(texts(&lines, "migrate.1"), ["migrating"]);
    assert_eq!(texts(&lines, "web.1"), ["web up", "web bye"]);
    // drover says db is ready before it starts what waits for it.
    let ready = position(&lines, "system", "db.1 is ready");
    assert!(ready < position(&lines, "migrate.1", "migrating"));
    assert!(ready < position(&lines, "web.1", "web up"));
    // web is stopped, and gone, before db gets its signal.
    let stops = std::fs::read_to_string(dir.join("stops.log")).expect("stops.log");
    assert_eq!(stops, "web\ndb\n");
}

#[test]
fn a_failed_dependency_keeps_its_dependent_from_starting() {
    let dir = TestDir::new();
    dir.write("db.sh", DB_SH);
    dir.procfile(
        "web: $T --marker 'web up' --trap-term bye --stay --pidfile web.pid\n\
         migrate: $T --marker migrating --exit 3\n\
         db: sh db.sh\n",
    );
    dir.write("drover.toml", CHAIN_TOML);
    let f = dir.drover(PLAIN).run();
    f.assert_code(3);
    f.assert_clean_stderr();
    assert!(!dir.join("web.pid").exists(), "web was started");
    let lines = lines(&f);
    assert!(texts(&lines, "web.1").is_empty(), "web was started");
    assert_eq!(texts(&lines, "migrate.1"), ["migrating"]);
    assert_eq!(texts(&lines, "db.1"), ["db up", "db bye"]);
    let system = system_lines(&lines);
    assert_eq!(
        system.last().map(String::as_str),
        Some(
            "all processes have stopped; exiting with status 3 \
             (status of migrate.1, which exited with code 3)"
        )
    );
}

#[test]
fn drover_says_why_a_dependent_never_starts() {
    let dir = TestDir::new();
    dir.write("db.sh", DB_SH);
    dir.procfile(
        "web: $T --marker 'web up' --trap-term bye --stay --pidfile web.pid\n\
         migrate: $T --marker migrating --exit 3\n\
         db: sh db.sh\n",
    );
    dir.write("drover.toml", CHAIN_TOML);
    let f = dir.drover(PLAIN).run();
    f.assert_code(3);
    let lines = lines(&f);
    // README: "If a dependency can no longer reach it, the dependent never
    // starts and drover says why." On stdout or in the summary on stderr.
    let mut said = system_with(&lines, "web.1");
    said.extend(
        f.stderr
            .lines()
            .filter(|l| l.contains("web.1"))
            .map(String::from),
    );
    assert!(
        said.iter().any(|l| l.contains("migrate.1")),
        "nothing says why web.1 did not start:\n{}\n{}",
        system_lines(&lines).join("\n"),
        f.stderr
    );
}

#[test]
fn a_log_line_probe_gates_a_dependent() {
    let dir = TestDir::new();
    dir.procfile(
        "db: $T --tag d --lines 2 --wait-file go --marker 'listening on 5432' --trap-term bye --stay\n\
         web: $T --marker 'web up' --trap-term bye --stay --pidfile web.pid\n",
    );
    dir.write(
        "drover.toml",
        "[processes.db]\nready = { log = 'listening on \\d+' }\n\
         [processes.web]\ndepends_on = { db = \"ready\" }\n",
    );
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let rows = ps(&dir);
    assert_eq!(row(&rows, "db.1")["state"], "running", "{rows:#?}");
    assert_eq!(row(&rows, "web.1")["state"], "waiting", "{rows:#?}");
    dir.write("go", "");
    dir.pids("web.pid");
    let rows = ps(&dir);
    assert_eq!(row(&rows, "db.1")["state"], "ready", "{rows:#?}");
    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    let lines = lines(&f);
    assert_all_lines(
        &lines,
        "db.1",
        "d",
        2,
        100,
        &["listening on 5432", "bye TERM"],
    );
    assert!(position(&lines, "system", "db.1 is ready") < position(&lines, "web.1", "web up"));
}

/// A free port on 127.0.0.1 (free when asked; nothing else here takes it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

fn have_python() -> bool {
    std::process::Command::new("python3")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn tcp_and_http_probes_gate_a_dependent() {
    if !have_python() {
        eprintln!("no python3: cannot run the servers this test probes");
        return;
    }
    let (tcp, http) = (free_port(), free_port());
    let dir = TestDir::new();
    // The TCP server listens only once `go` exists.
    dir.write(
        "probe_tcp.py",
        "import os, signal, socket, time\n\
         open('tcp.pid', 'w').write(str(os.getpid()))\n\
         while not os.path.exists('go'):\n    time.sleep(0.005)\n\
         s = socket.socket()\n\
         s.bind(('127.0.0.1', int(os.environ['PROBE_PORT'])))\n\
         s.listen()\n\
         signal.pause()\n",
    );
    dir.write(
        "probe_http.py",
        "import http.server, os\n\
         open('http.pid', 'w').write(str(os.getpid()))\n\
         http.server.HTTPServer(('127.0.0.1', int(os.environ['PROBE_PORT'])), \
         http.server.SimpleHTTPRequestHandler).serve_forever()\n",
    );
    dir.procfile(
        "tcp: python3 probe_tcp.py\n\
         http: python3 probe_http.py\n\
         web: $T --marker 'web up' --trap-term bye --stay --pidfile web.pid\n",
    );
    dir.write(
        "drover.toml",
        &format!(
            "[processes.tcp]\n\
             env = {{ PROBE_PORT = \"{tcp}\" }}\n\
             ready = {{ tcp = {tcp}, interval = \"20ms\" }}\n\
             [processes.http]\n\
             env = {{ PROBE_PORT = \"{http}\" }}\n\
             ready = {{ http = \"http://127.0.0.1:{http}/\", interval = \"20ms\" }}\n\
             [processes.web]\n\
             depends_on = {{ tcp = \"ready\", http = \"ready\" }}\n"
        ),
    );
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    dir.pids("tcp.pid");
    dir.pids("http.pid");
    let rows = wait_for_ps(&dir, "the HTTP server to be ready", |r| {
        row(r, "http.1")["state"] == "ready"
    });
    assert_eq!(row(&rows, "tcp.1")["state"], "running", "{rows:#?}");
    assert_eq!(row(&rows, "web.1")["state"], "waiting", "{rows:#?}");
    dir.write("go", "");
    dir.pids("web.pid");
    assert_eq!(row(&ps(&dir), "tcp.1")["state"], "ready");
    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    let lines = lines(&f);
    let web_up = position(&lines, "web.1", "web up");
    assert!(position(&lines, "system", "tcp.1 is ready") < web_up);
    assert!(position(&lines, "system", "http.1 is ready") < web_up);
}

// ---------------------------------------------------------------------------
// Stopping

#[test]
fn stop_signal_is_sent_instead_of_sigterm() {
    let dir = TestDir::new();
    dir.procfile(
        "polite: $T --trap-term bye --stay --pidfile polite.pid\n\
         numeric: $T --stay --pidfile numeric.pid\n\
         plain: $T --trap-term bye --stay --pidfile plain.pid\n",
    );
    dir.write(
        "drover.toml",
        "[processes.polite]\nstop_signal = \"INT\"\n\
         [processes.numeric]\nstop_signal = 10\n",
    );
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let polite = dir.pids("polite.pid")[0];
    dir.pids("numeric.pid");
    dir.pids("plain.pid");
    // A requested stop uses it too.
    client(&dir, &["stop", "polite"]).ok();
    assert_gone(polite, "polite");
    run.signal(libc::SIGTERM);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = lines(&f);
    assert_eq!(texts(&lines, "polite.1"), ["bye INT"]);
    assert_eq!(texts(&lines, "plain.1"), ["bye TERM"]);
    let system = system_lines(&lines);
    assert!(
        system.contains(&"numeric.1 was killed by SIGUSR1".to_string()),
        "{system:#?}"
    );
}

#[test]
fn stop_timeout_applies_to_its_process_only() {
    let dir = TestDir::new();
    dir.procfile(
        "stubborn: $T --ignore-term --stay --pidfile stubborn.pid\n\
         polite: $T --trap-term bye --stay --pidfile polite.pid\n",
    );
    // The global timeout is longer than any wait here: only the process's
    // own timeout lets this test end.
    dir.write(
        "drover.toml",
        "timeout = 600\n[processes.stubborn]\nstop_timeout = \"200ms\"\n",
    );
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    dir.pids("stubborn.pid");
    dir.pids("polite.pid");
    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(1);
    f.assert_clean_stderr();
    let lines = lines(&f);
    // The child reports the signal from its main loop; SIGKILL may come
    // first, so its line is not required.
    assert!(texts(&lines, "stubborn.1").len() <= 1);
    assert!(texts(&lines, "stubborn.1")
        .iter()
        .all(|t| t == "ignored SIGTERM"));
    assert_eq!(texts(&lines, "polite.1"), ["bye TERM"]);
    let system = system_lines(&lines);
    assert!(
        system.iter().any(|l| l
            .ends_with("stubborn.1 is still running 0.2s after SIGTERM: sending SIGKILL")),
        "{system:#?}"
    );
    assert_eq!(
        system.last().map(String::as_str),
        Some(
            "all processes have stopped; exiting with status 1 (SIGKILL was needed for stubborn.1)"
        )
    );
}

#[test]
fn a_stop_ladder_climbs_one_signal_at_a_time() {
    let dir = TestDir::new();
    dir.procfile("stubborn: $T --ignore-int --ignore-term --stay --pidfile stubborn.pid\n");
    dir.write(
        "drover.toml",
        "timeout = 600\n\
         [processes.stubborn]\n\
         stop = [\"INT\", \"100ms\", \"TERM\", \"100ms\", \"KILL\"]\n",
    );
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    dir.pids("stubborn.pid");
    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(1);
    let lines = lines(&f);
    // Whatever the child managed to report before SIGKILL, in order.
    let said = texts(&lines, "stubborn.1");
    assert!(
        ["ignored SIGINT", "ignored SIGTERM"]
            .iter()
            .filter(|t| said.contains(&t.to_string()))
            .count()
            == said.len()
            && said.windows(2).all(|w| w[0] == "ignored SIGINT"),
        "{said:#?}"
    );
    assert!(
        system_lines(&lines)
            .iter()
            .any(|l| l.starts_with("stubborn.1 was killed by SIGKILL")),
        "{:#?}",
        system_lines(&lines)
    );
    let system = system_with(&lines, "stubborn.1 is still running");
    assert_eq!(system.len(), 2, "{system:#?}");
    assert!(system[0].ends_with("0.1s after SIGINT: sending SIGTERM"));
    assert!(system[1].ends_with("0.1s after SIGTERM: sending SIGKILL"));
}
