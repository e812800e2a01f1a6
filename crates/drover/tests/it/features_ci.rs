//! What drover gives CI: the exit reports (`--report` Markdown, also
//! appended to `$GITHUB_STEP_SUMMARY`, and `--junit` XML read back by a
//! real JUnit consumer, `junitparser` from PyPI).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

/// Stays until stopped; its pid file appears once its handler is installed.
const STAYER: &str =
    "stayer: $T --tag s --lines 2 --len 20 --trap-term bye --stay --pidfile stayer.pid\n";

/// Writes 12 numbered lines, then exits 3, once the stayer is up.
const QUITTER: &str = "crash: $T --tag c --lines 12 --len 30 --wait-file stayer.pid --exit 3\n";

/// The Python of the test venv, which must hold `junitparser`
/// (`scripts/test` installs it into `target/test-venv`).
fn venv_python() -> PathBuf {
    let venv = std::env::var_os("DROVER_TEST_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import junitparser"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{} cannot import junitparser: run scripts/test, or pip install junitparser into that venv",
        python.display()
    );
    python
}

/// The JUnit file as junitparser reads it: one line per testcase,
/// `name|result|message|failure text|system-out`, after a line with the
/// suite's counts.
fn read_junit(path: &Path) -> Vec<String> {
    const SCRIPT: &str = r#"
import sys
from junitparser import JUnitXml, Failure
xml = JUnitXml.fromfile(sys.argv[1])
suites = list(xml)
assert len(suites) == 1, suites
suite = suites[0]
print(f"suite {suite.name} tests={suite.tests} failures={suite.failures}")
for case in suite:
    failures = [r for r in case.result if isinstance(r, Failure)]
    result = "failed" if failures else "passed"
    message = failures[0].message if failures else ""
    text = (failures[0].text or "") if failures else ""
    out = case.system_out or ""
    print("|".join([case.name, result, message, text.replace("\n", "\\n"), out.replace("\n", "\\n")]))
"#;
    let out = Command::new(venv_python())
        .args(["-c", SCRIPT])
        .arg(path)
        .output()
        .expect("running python");
    assert!(
        out.status.success(),
        "junitparser could not read {}:\n{}\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(path).unwrap_or_default()
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn crash_lines(from: u64, to: u64) -> String {
    (from..=to)
        .map(|seq| String::from_utf8(expected_line("c", seq, 30)).expect("ASCII"))
        .collect::<Vec<_>>()
        .join("\\n")
}

#[test]
fn junit_and_markdown_reports_name_the_failure() {
    let dir = TestDir::new();
    dir.procfile(&format!("{QUITTER}{STAYER}"));
    let summary = dir.join("step-summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let f = dir
        .drover(&[PLAIN, &["--report", "report.md", "--junit", "junit.xml"]].concat())
        .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())
        .run();
    f.assert_code(3);
    f.assert_clean_stderr();

    let cases = read_junit(&dir.join("junit.xml"));
    assert_eq!(cases[0], "suite drover tests=2 failures=1", "{cases:#?}");
    let crash: Vec<&str> = cases[1].split('|').collect();
    assert_eq!(
        &crash[..3],
        ["crash.1", "failed", "crash.1 exited with code 3"]
    );
    assert_eq!(
        crash[3],
        format!("{}\\n", crash_lines(3, 12)),
        "the last ten lines"
    );
    assert_eq!(
        crash[4],
        format!("{}\\n", crash_lines(1, 12)),
        "recent output"
    );
    let stayer: Vec<&str> = cases[2].split('|').collect();
    assert_eq!(&stayer[..4], ["stayer.1", "passed", "", ""], "{cases:#?}");
    assert!(stayer[4].contains("bye TERM"), "{cases:#?}");

    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("| `crash.1` | exited with code 3 | 0 |") && md.contains("**FAILED** |"),
        "{md}"
    );
    assert!(md.contains("| `stayer.1` | exited with code 0 |"), "{md}");
    let fenced = format!(
        "### Last 10 lines of `crash.1`\n\n```text\n{}\n```\n",
        crash_lines(3, 12).replace("\\n", "\n")
    );
    assert!(md.contains(&fenced), "{md}");
    assert_eq!(
        std::fs::read_to_string(&summary).unwrap(),
        format!("earlier step\n{md}"),
        "the same report, appended"
    );
}

#[test]
fn reports_are_written_after_ctrl_c() {
    let dir = TestDir::new();
    dir.procfile(STAYER);
    let run = dir
        .drover(&[PLAIN, &["--report", "report.md", "--junit", "junit.xml"]].concat())
        .spawn();
    dir.pids("stayer.pid");
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    let cases = read_junit(&dir.join("junit.xml"));
    assert_eq!(cases[0], "suite drover tests=1 failures=0", "{cases:#?}");
    assert!(cases[1].starts_with("stayer.1|passed|||"), "{cases:#?}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("No process failed."), "{md}");
}

/// The files in `dir`, sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn log_files_rotate_at_the_size_and_keep_the_count() {
    let dir = TestDir::new();
    // 400 lines of 40 bytes, about 55 bytes each in the file: 22 KB.
    dir.procfile("talk: $T --tag t --lines 400 --len 40\n");
    dir.write(
        "drover.toml",
        "log_dir = \"log\"\nlog_max_size = \"4K\"\nlog_keep = 3\n",
    );
    let f = dir.drover(PLAIN).run();
    f.assert_code(0);
    let log = dir.join("log");
    assert_eq!(
        files_in(&log),
        [
            "drover.log",
            "talk.1.log",
            "talk.1.log.1",
            "talk.1.log.2",
            "talk.1.log.3"
        ]
    );
    let mut kept = Vec::new();
    for name in ["talk.1.log.3", "talk.1.log.2", "talk.1.log.1", "talk.1.log"] {
        let text = std::fs::read_to_string(log.join(name)).unwrap();
        assert!(text.len() <= 4096, "{name} is {} bytes", text.len());
        if name != "talk.1.log" {
            assert!(
                text.len() > 4096 - 100,
                "{name} was rotated early: {} bytes",
                text.len()
            );
        }
        for line in text.lines() {
            // `2026-12-04T17:14:51.123+00:00 stdout | TEXT`
            let (head, body) = line.split_once(" | ").unwrap_or_else(|| panic!("{line:?}"));
            let (time, stream) = head.split_once(' ').unwrap();
            assert_eq!(stream, "stdout", "{line:?}");
            assert!(
                chrono_like(time),
                "a timestamp with milliseconds and zone: {line:?}"
            );
            kept.push(body.to_owned());
        }
    }
    // The newest lines, in order and whole, up to the last.
    let expected: Vec<String> = (401 - kept.len() as u64..=400)
        .map(|seq| String::from_utf8(expected_line("t", seq, 40)).unwrap())
        .collect();
    assert_eq!(kept, expected);
    let system = std::fs::read_to_string(log.join("drover.log")).unwrap();
    assert!(
        system
            .lines()
            .any(|l| l.contains(" system | ") && l.contains("talk.1")),
        "{system}"
    );
}

/// `YYYY-MM-DDTHH:MM:SS.mmm±HH:MM`.
fn chrono_like(text: &str) -> bool {
    text.len() == 29 && text.as_bytes()[10] == b'T' && text.as_bytes()[19] == b'.'
}

#[test]
fn a_full_disk_stops_the_files_once_and_the_stream_goes_on() {
    let dir = TestDir::new();
    dir.procfile("talk: $T --tag t --lines 2000 --len 40\n");
    std::fs::create_dir(dir.join("log")).unwrap();
    // Every write to /dev/full fails with ENOSPC.
    std::os::unix::fs::symlink("/dev/full", dir.join("log/talk.1.log")).unwrap();
    let f = dir.drover(&[PLAIN, &["--log-dir", "log"]].concat()).run();
    f.assert_code(0);
    let lines = parse_text(&f.stdout);
    assert_all_lines(&lines, "talk.1", "t", 2000, 40, &[]);
    // A system line, or on stderr when the file thread got there only
    // after the stream had ended.
    let said: Vec<String> = system_lines(&lines)
        .into_iter()
        .chain(f.stderr.lines().map(str::to_owned))
        .filter(|l| l.contains("log files"))
        .collect();
    assert_eq!(said.len(), 1, "{said:#?}");
    assert!(
        said[0].contains("talk.1.log") && said[0].contains("No space left on device"),
        "{said:#?}"
    );
}

/// The `line` fields of `drover logs --json` output.
fn json_lines(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
            assert_eq!(v["process"], "talk.1", "{l}");
            v["line"].as_str().expect("a line").to_owned()
        })
        .collect()
}

fn talk_lines(seqs: impl Iterator<Item = u64>) -> Vec<String> {
    seqs.map(|seq| String::from_utf8(expected_line("t", seq, 100)).unwrap())
        .collect()
}

#[test]
fn logs_filter_by_time_and_text_and_reach_back_into_the_files() {
    let dir = TestDir::new();
    // 400 KB: more than the 256 KiB ring keeps, so the first lines are only
    // in the file.
    dir.procfile("talk: $T --tag t --lines 4000 --len 100 --trap-term bye --stay\n");
    dir.write("drover.toml", "log_dir = \"log\"\n");
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    run.wait_for_output(&format!("t {:08} ", 4000));
    let all = talk_lines(1..=4000);
    // The file thread writes on its own time: wait until it has all.
    let mut shown = Vec::new();
    wait_until("every line through drover logs", || {
        shown = json_lines(client(&dir, &["logs", "--json", "-n", "100000", "talk"]).ok());
        shown.len() >= 4000
    });
    assert_eq!(shown, all, "the file's lines, then the ring's, each once");

    let first_two = talk_lines(1..=2);
    let grep = client(&dir, &["logs", "--json", "--grep", "^t 0000000[12] "]);
    assert_eq!(json_lines(grep.ok()), first_two, "lines only in the file");
    let grep_i = client(&dir, &["logs", "--json", "-i", "--grep", "^T 0000000[12] "]);
    assert_eq!(json_lines(grep_i.ok()), first_two);
    let since = client(&dir, &["logs", "--json", "--since", "1h"]);
    assert_eq!(
        json_lines(since.ok()),
        all,
        "--since shows every line since"
    );
    let last = client(&dir, &["logs", "--json", "--since", "1h", "-n", "3"]);
    assert_eq!(json_lines(last.ok()), talk_lines(3998..=4000));
    let until = client(&dir, &["logs", "--until", "2000-01-01T00:00:00Z"]);
    assert_eq!(until.ok(), "", "nothing that old");
    let text = client(&dir, &["logs", "--grep", "^t 00000001 "]);
    assert!(
        text.ok().ends_with(&format!(" talk.1 | {}\n", all[0])),
        "{}",
        text.stdout
    );
    let bad = client(&dir, &["logs", "--since", "yesterday"]);
    assert_eq!(bad.code, 2, "{bad:?}");

    run.signal(libc::SIGTERM);
    run.finish().assert_code(0);
    // drover is gone: the files alone.
    let files = client(
        &dir,
        &[
            "logs",
            "--json",
            "--log-dir",
            "log",
            "--grep",
            "^t 0000000[12] ",
        ],
    );
    assert_eq!(json_lines(files.ok()), first_two);
}

/// `drover wait ARGS` started in the background in `dir`.
fn spawn_client(dir: &TestDir, args: &[&str]) -> std::process::Child {
    Command::new(DROVER)
        .args(args)
        .current_dir(dir.path())
        .env_remove("DROVER_SOCKET")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting drover wait")
}

/// Waits for `child` (bounded) and returns its code and stderr.
fn finish_client(child: std::process::Child) -> (i32, String) {
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx.recv_timeout(WAIT).unwrap_or_else(|_| {
        signal(pid, libc::SIGKILL);
        panic!("drover wait did not end")
    });
    let out = out.expect("waiting for drover wait");
    (
        out.status.code().expect("an exit code"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn wait_ends_once_every_process_is_ready() {
    let dir = TestDir::new();
    dir.procfile("web: $T --trap-term bye --stay\nworker: $T --trap-term bye --stay\n");
    dir.write(
        "drover.toml",
        "[processes.web]\nready = { command = \"test -f ready.flag\", interval = \"20ms\" }\n",
    );
    let mut run = dir.drover(PLAIN).spawn();
    // Started before drover listens is fine: it retries until the deadline.
    let waiter = spawn_client(&dir, &["wait", "--timeout", "20s"]);
    let worker = spawn_client(&dir, &["wait", "worker"]);
    wait_for_control(&dir, &mut run);
    assert_eq!(
        finish_client(worker),
        (0, String::new()),
        "worker has no probe"
    );
    let rows = ps(&dir);
    assert_eq!(row(&rows, "web.1")["ready"], false, "{rows:?}");
    std::fs::write(dir.join("ready.flag"), "").unwrap();
    assert_eq!(finish_client(waiter), (0, String::new()));
    assert_eq!(row(&ps(&dir), "web.1")["ready"], true);
    run.signal(libc::SIGTERM);
    run.finish().assert_code(0);
}

#[test]
fn wait_fails_saying_which_and_why() {
    let dir = TestDir::new();
    // web ignores SIGTERM: once crash has ended, drover waits for web
    // (until the second signal below), and crash's end can be seen.
    dir.procfile(&format!(
        "web: $T --ignore-term --stay --pidfile stayer.pid\n{}",
        QUITTER.replace("stayer.pid", "go")
    ));
    dir.write(
        "drover.toml",
        "[processes.web]\nready = { command = \"false\", interval = \"20ms\" }\n",
    );
    let mut run = dir.drover(&[PLAIN, &["-t", "60s"]].concat()).spawn();
    wait_for_control(&dir, &mut run);
    dir.pids("stayer.pid");

    let never = client(&dir, &["wait", "--timeout", "300ms", "web"]);
    assert_eq!(never.code, 1, "{never:?}");
    assert!(
        never
            .stderr
            .contains("not ready after 0.3s: web.1 (running)"),
        "{}",
        never.stderr
    );

    // crash runs (and, with no probe, is ready) until it finds `go`; web
    // never gets ready: the wait for both ends when crash fails.
    let waiter = spawn_client(&dir, &["wait", "--timeout", "20s"]);
    std::fs::write(dir.join("go"), "").unwrap();
    let (code, stderr) = finish_client(waiter);
    let crashed = CliOut {
        code,
        stdout: String::new(),
        stderr,
    };
    assert_eq!(crashed.code, 1, "{crashed:?}");
    let mut expected = "drover: crash.1 exited with code 3; its last 10 lines:".to_string();
    for seq in 3..=12 {
        expected.push_str("\n  | ");
        expected.push_str(std::str::from_utf8(&expected_line("c", seq, 30)).unwrap());
    }
    assert_eq!(crashed.stderr, expected + "\n");

    let unknown = client(&dir, &["wait", "nosuch"]);
    unknown.refused("no process is named nosuch");
    // web would wait out the 60 s stop timeout.
    signal(dir.pids("stayer.pid")[0], libc::SIGKILL);
    run.finish().assert_code(3);
}

/// An HTTP server on its named port `http`, ready once it answers; it
/// starts listening only after a moment. Its shell's pid is in web.pid.
const HTTP_WEB: &str =
    "web: echo $$ > web.pid; sleep 0.3; exec python3 -m http.server $PORT_HTTP --bind 127.0.0.1\n";
const HTTP_TOML: &str = "[processes.web]\nports = [\"http\"]\nready = { http = \"http://127.0.0.1:$PORT_HTTP/\", interval = \"20ms\" }\n";

/// Fetches the server's page through WEB_PORT_HTTP, then ends with the
/// status given (137: killed by SIGKILL).
const CHECK_PY: &str = r#"
import os, sys, signal, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s/" % os.environ["WEB_PORT_HTTP"]).read()
print("fetched; WEB_PORT=%s" % os.environ["WEB_PORT"])
sys.stdout.flush()
code = int(sys.argv[1])
if code == 137:
    os.kill(os.getpid(), signal.SIGKILL)
sys.exit(code)
"#;

#[test]
fn run_with_waits_for_the_service_and_passes_the_status_through() {
    let dir = TestDir::new();
    dir.procfile(&format!("{HTTP_WEB}other: $T --stay --pidfile other.pid\n"));
    dir.write("drover.toml", HTTP_TOML);
    dir.write("check.py", CHECK_PY);
    for status in ["0", "1", "137"] {
        let out = client(
            &dir,
            &["run", "--with", "web", "--", "python3", "check.py", status],
        );
        assert_eq!(out.code.to_string(), status, "{out:?}");
        assert_eq!(
            out.stdout, "fetched; WEB_PORT=5000\n",
            "CMD's stdout is unchanged"
        );
        assert!(
            out.stderr.contains("web.1  | Serving HTTP"),
            "services' output on stderr: {out:?}"
        );
        assert!(out.stderr.contains("system | web.1 is ready"), "{out:?}");
        assert!(
            !out.stderr.contains("other"),
            "only web was started: {out:?}"
        );
        assert_gone(dir.pids("web.pid")[0], "the service after run --with");
        std::fs::remove_file(dir.join("web.pid")).unwrap();
    }
}

#[test]
fn run_with_a_service_that_never_gets_ready_exits_3() {
    let dir = TestDir::new();
    dir.procfile("web: $T --trap-term bye --stay --pidfile web.pid\n");
    dir.write(
        "drover.toml",
        "[processes.web]\nready = { command = \"false\", interval = \"20ms\" }\n",
    );
    let out = client(
        &dir,
        &[
            "run",
            "--with",
            "web",
            "--timeout",
            "500ms",
            "--",
            "touch",
            "ran",
        ],
    );
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr.contains(
            "drover: run --with: not ready after 0.5s: web.1 (running); stopping; exit status 3"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("drover: summary\n") && out.stderr.contains("\nweb.1 "),
        "the digest names it: {}",
        out.stderr
    );
    assert!(!dir.join("ran").exists(), "the command did not run");
    assert_gone(dir.pids("web.pid")[0], "the service");
}

#[test]
fn run_with_writes_the_services_reports_after_the_command() {
    let dir = TestDir::new();
    dir.procfile("web: $T --tag w --lines 2 --len 20 --trap-term bye --stay\n");
    let summary = dir.join("step-summary.md");
    let out = client_in(
        dir.path(),
        &[
            "run",
            "--with",
            "web",
            "--report",
            "report.md",
            "--junit",
            "junit.xml",
            "--",
            "sh -c 'exit 1'",
        ],
        &[("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
    );
    assert_eq!(out.code, 1, "the command's status: {out:?}");
    let cases = read_junit(&dir.join("junit.xml"));
    assert_eq!(cases[0], "suite drover tests=1 failures=0", "{cases:#?}");
    let web: Vec<&str> = cases[1].split('|').collect();
    assert_eq!(&web[..2], ["web.1", "passed"], "{cases:#?}");
    assert!(web[4].contains("bye TERM"), "its output: {cases:#?}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("| `web.1` |"), "{md}");
    assert_eq!(std::fs::read_to_string(&summary).unwrap(), md);

    // Without --with there are no services to report on.
    let out = client(&dir, &["run", "--report", "r.md", "--", "true"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("--report and --junit report the services of --with"),
        "{out:?}"
    );
}

#[test]
fn run_with_a_service_dying_during_the_command_stops_it_and_exits_3() {
    let dir = TestDir::new();
    // web runs (and, with no probe, is ready) until the command makes `go`.
    dir.procfile("web: $T --tag w --lines 3 --len 20 --wait-file go --exit 5\n");
    let out = client(
        &dir,
        &[
            "run",
            "--with",
            "web",
            "--",
            "sh -c 'echo $$ > cmd.pid; touch go; exec sleep 100'",
        ],
    );
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr.contains("drover: run --with: the services ended while the command ran (drover exited with status 5); stopping the command; exit status 3"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("exited with code 5") && out.stderr.contains("FAILED"),
        "the digest: {}",
        out.stderr
    );
    assert_gone(dir.pids("cmd.pid")[0], "the command");
}

#[test]
fn run_with_ctrl_c_stops_the_command_and_the_services() {
    let dir = TestDir::new();
    dir.procfile("web: $T --trap-term bye --stay --pidfile web.pid\n");
    let run = spawn_client(
        &dir,
        &[
            "run",
            "--with",
            "web",
            "--",
            "sh -c 'echo $$ > cmd.pid; exec sleep 100'",
        ],
    );
    let cmd = dir.pids("cmd.pid")[0];
    let web = dir.pids("web.pid")[0];
    signal(run.id() as i32, libc::SIGINT);
    let (code, stderr) = finish_client(run);
    assert_eq!(code, 128 + libc::SIGINT, "the command's status: {stderr}");
    assert!(stderr.contains("web.1  | bye TERM"), "{stderr}");
    assert_gone(cmd, "the command");
    assert_gone(web, "the service");
}
