//! The control socket of a real `drover start` under abuse: bad requests,
//! hang-ups, thousands of connections, another user, a second drover, a
//! stale socket file, and removal of the file when drover exits.

use std::io::Write as _;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::util::*;

/// What must not change when a request is refused: every row as it was.
fn assert_unchanged(before: &[Value], after: &[Value]) {
    assert_eq!(before.len(), after.len(), "{after:#?}");
    for (b, a) in before.iter().zip(after) {
        for key in ["name", "pid", "state", "restarts", "last_exit"] {
            assert_eq!(b[key], a[key], "{key} changed:\nbefore {b}\nafter {a}");
        }
        let pid = a["pid"].as_i64().expect("still running") as i32;
        assert!(alive(pid), "{} (pid {pid}) is gone", a["name"]);
    }
}

#[test]
fn bad_requests_get_a_clear_error_and_change_nothing() {
    let dir = TestDir::new();
    dir.procfile(WEB2);
    dir.write("drover.toml", INSTANCES2);
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    dir.pids("web.1.pid");
    dir.pids("web.2.pid");
    let before = ps(&dir);
    let path = sock(&dir);

    let cases: &[(&str, &[u8], &str)] = &[
        ("garbage", b"hello drover\n", "not a valid request"),
        ("an empty line", b"\n", "not a valid request"),
        ("binary", b"\xff\xfe\x00\x01\n", "not a valid request"),
        ("a JSON array", b"[1,2]\n", "not a valid request"),
        (
            "an unknown command",
            b"{\"v\":1,\"cmd\":\"frobnicate\"}\n",
            "unknown variant `frobnicate`",
        ),
        ("no version", b"{\"cmd\":\"ps\"}\n", "missing field `v`"),
        (
            "a future version",
            b"{\"v\":2,\"cmd\":\"ps\"}\n",
            "protocol version 2 is not supported (this drover speaks 1)",
        ),
        (
            "stop without names",
            b"{\"v\":1,\"cmd\":\"stop\"}\n",
            "missing field `names`",
        ),
        (
            "stop of an unknown process",
            b"{\"v\":1,\"cmd\":\"stop\",\"names\":[\"nope\"]}\n",
            "no process named \"nope\" (running here: web.1, web.2)",
        ),
        (
            "stop of a known and an unknown process",
            b"{\"v\":1,\"cmd\":\"stop\",\"names\":[\"web.1\",\"nope\"]}\n",
            "no process named \"nope\"",
        ),
        (
            "stop of nothing",
            b"{\"v\":1,\"cmd\":\"stop\",\"names\":[]}\n",
            "name at least one process",
        ),
        (
            "restart of an unknown instance",
            b"{\"v\":1,\"cmd\":\"restart\",\"names\":[\"web.3\"]}\n",
            "no process named \"web.3\"",
        ),
        (
            "a bad signal",
            b"{\"v\":1,\"cmd\":\"kill\",\"name\":\"web\",\"signal\":\"FOO\"}\n",
            "\"FOO\" is not a signal drover knows",
        ),
        (
            "signal 0",
            b"{\"v\":1,\"cmd\":\"kill\",\"name\":\"web\",\"signal\":\"0\"}\n",
            "is not a signal",
        ),
        (
            "logs of an unknown process",
            b"{\"v\":1,\"cmd\":\"logs\",\"names\":[\"nope\"]}\n",
            "no process named \"nope\"",
        ),
    ];
    for (what, bytes, needle) in cases {
        let answers = raw(&path, bytes, false);
        assert_eq!(answers.len(), 1, "{what}: one answer: {answers:#?}");
        assert_error(&answers[0], needle);
    }

    // A line over 64 KiB, with and without its newline: refused once the
    // limit is passed, without waiting for the rest.
    let mut huge = b"{\"v\":1,\"cmd\":\"stop\",\"names\":[\"".to_vec();
    huge.resize(100 * 1024, b'x');
    let answers = raw(&path, &huge, false);
    assert_eq!(answers.len(), 1, "{answers:#?}");
    assert_error(&answers[0], "request longer than 65536 bytes");
    huge.push(b'\n');
    let answers = raw(&path, &huge, true);
    assert_eq!(answers.len(), 1, "{answers:#?}");
    assert_error(&answers[0], "request longer than 65536 bytes");

    // A client hanging up mid-request: half-closed, it still gets an answer;
    // gone entirely, there is nobody to answer.
    let answers = raw(&path, b"{\"v\":1,\"cmd\":\"stop\",\"na", true);
    assert_eq!(answers.len(), 1, "{answers:#?}");
    assert_error(&answers[0], "not a valid request: EOF while parsing");
    for _ in 0..20 {
        let mut s = connect(&path);
        s.write_all(b"{\"v\":1,\"cmd\":\"shutdown\"")
            .expect("writing half a request");
        drop(s);
    }

    // One request per connection: a second line is never acted on.
    let answers = raw(
        &path,
        b"{\"v\":1,\"cmd\":\"ps\"}\n{\"v\":1,\"cmd\":\"shutdown\"}\n",
        false,
    );
    assert_eq!(answers.len(), 1, "{answers:#?}");
    assert_eq!(answers[0]["ok"], true, "{answers:#?}");

    // A client that connects and says nothing holds up nobody.
    let silent = connect(&path);
    assert_eq!(request(&path, r#"{"v":1,"cmd":"ps"}"#)["ok"], true);

    // The client commands report drover's refusal.
    client(&dir, &["stop", "nope"]).refused("no process named \"nope\"");
    client(&dir, &["kill", "web", "FOO"]).refused("is not a signal drover knows");

    assert_unchanged(&before, &ps(&dir));
    assert!(!run.exited(), "drover exited after bad requests");
    drop(silent);

    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = lines(&f);
    assert_eq!(texts(&lines, "web.1"), ["bye TERM"]);
    assert_eq!(texts(&lines, "web.2"), ["bye TERM"]);
    let system = system_lines(&lines);
    // The first line after the start's own (`started`, `every process is ready`).
    assert_eq!(
        after_start(&system).first().map(String::as_str),
        Some("shutdown requested: stopping 2 processes"),
        "a refused request left a trace: {system:#?}"
    );
}

#[test]
fn a_request_line_of_64_kib_is_accepted_and_a_longer_one_refused() {
    let dir = TestDir::new();
    dir.procfile("web: $T --trap-term bye --stay --pidfile web.pid\n");
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let padded = |len: usize| {
        let mut line = br#"{"v":1,"cmd":"ps"}"#.to_vec();
        line.resize(len - 1, b' ');
        line.push(b'\n');
        line
    };
    let answers = raw(&sock(&dir), &padded(64 * 1024), false);
    assert_eq!(answers.len(), 1, "{answers:#?}");
    assert_eq!(answers[0]["ok"], true, "{answers:#?}");
    let answers = raw(&sock(&dir), &padded(64 * 1024 + 2), false);
    assert_eq!(answers.len(), 1, "{answers:#?}");
    assert_error(&answers[0], "request longer than 65536 bytes");
    client(&dir, &["shutdown"]).ok();
    run.finish().assert_code(0);
}

#[test]
fn thousands_of_connections_leave_memory_and_descriptors_bounded() {
    let dir = TestDir::new();
    dir.procfile(WEB2);
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    dir.pids("web.1.pid");
    let before = ps(&dir);
    let path = sock(&dir);
    let pid = run.pid();

    let cycle = |i: usize| {
        let mut s = UnixStream::connect(&path).expect("connecting");
        match i % 4 {
            // Connect and hang up.
            0 => {}
            // Half a request, then hang up.
            1 => {
                let _ = s.write_all(b"{\"v\":1,\"cm");
            }
            // Garbage, then hang up without reading the answer.
            2 => {
                let _ = s.write_all(b"garbage\n");
            }
            // A whole request, answer unread.
            _ => {
                let _ = s.write_all(b"{\"v\":1,\"cmd\":\"ps\"}\n");
            }
        }
    };
    // Warm up, so allocator pools and the runtime's buffers exist.
    for i in 0..200 {
        cycle(i);
    }
    assert_eq!(request(&path, r#"{"v":1,"cmd":"ps"}"#)["ok"], true);
    let rss_before = status_kb(pid, "VmRSS");
    let fds_before = open_fds(pid);

    for i in 0..2000 {
        cycle(i);
    }
    assert_eq!(request(&path, r#"{"v":1,"cmd":"ps"}"#)["ok"], true);
    assert_unchanged(&before, &ps(&dir));
    // Handlers of hung-up clients end on their own; wait for their sockets to
    // be closed. A leak detector, not a speed test.
    wait_until("drover's descriptors to return to their count", || {
        open_fds(pid) <= fds_before + 4
    });
    let rss_after = status_kb(pid, "VmRSS");
    eprintln!(
        "VmRSS {rss_before} kB -> {rss_after} kB, fds {fds_before} -> {}",
        open_fds(pid)
    );
    assert!(
        rss_after <= rss_before + 20 * 1024,
        "drover's VmRSS grew from {rss_before} kB to {rss_after} kB over 2000 connections"
    );

    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
}

/// `drover ARGS` in `dir` as user nobody.
fn as_nobody(dir: &TestDir, args: &[&str]) -> CliOut {
    let mut cmd = Command::new(DROVER);
    cmd.args(args)
        .current_dir(dir.path())
        .env_remove("DROVER_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .uid(65534)
        .gid(65534);
    run_bounded(cmd, &format!("drover {} as nobody", args.join(" ")))
}

fn is_root() -> bool {
    // SAFETY: plain syscall.
    unsafe { libc::geteuid() == 0 }
}

/// A drover whose folder (but not socket) is open to other users.
fn open_folder_with_drover(dir: &TestDir) -> (DroverRun, i32) {
    dir.procfile("web: $T --trap-term bye --stay --pidfile web.pid\n");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("opening the folder");
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(dir, &mut run);
    let web = dir.pids("web.pid")[0];
    (run, web)
}

#[test]
fn the_socket_is_private_to_its_user() {
    let dir = TestDir::new();
    let (run, web) = open_folder_with_drover(&dir);
    let path = sock(&dir);

    let meta = std::fs::metadata(&path).expect("the socket file");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "socket mode");
    // SAFETY: plain syscall.
    assert_eq!(meta.uid(), unsafe { libc::geteuid() }, "socket owner");

    if is_root() {
        // The mode keeps another user out.
        as_nobody(&dir, &["ps"]).refused("Permission denied");
        // Even through a socket opened to all, another user changes nothing.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))
            .expect("opening the socket");
        for args in [
            &["stop", "web"][..],
            &["kill", "web", "KILL"],
            &["shutdown"],
        ] {
            let out = as_nobody(&dir, args);
            out.refused("refused: this drover belongs to another user");
            assert!(out.stdout.is_empty(), "{args:?} as nobody: {out:?}");
        }
        assert!(alive(web), "web was stopped by another user");
        assert_eq!(pid_of(&ps(&dir), "web.1"), web);
    } else {
        eprintln!("not root: cannot try the socket as another user");
    }

    client(&dir, &["shutdown"]).ok();
    run.finish().assert_code(0);
}

#[test]
fn another_users_client_is_told_it_is_refused() {
    if !is_root() {
        eprintln!("not root: cannot try the socket as another user");
        return;
    }
    let dir = TestDir::new();
    let (run, _web) = open_folder_with_drover(&dir);
    std::fs::set_permissions(sock(&dir), std::fs::Permissions::from_mode(0o666))
        .expect("opening the socket");
    for _ in 0..5 {
        as_nobody(&dir, &["ps"]).refused("refused: this drover belongs to another user");
    }
    client(&dir, &["shutdown"]).ok();
    run.finish().assert_code(0);
}

#[test]
fn a_second_drover_in_the_same_folder_is_refused_and_starts_nothing() {
    let dir = TestDir::new();
    // Each start of the process leaves a line in starts.log.
    dir.procfile("web: echo $$ >> starts.log; exec $T --trap-term bye --stay --pidfile web.pid\n");
    let mut first = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut first);
    let web = dir.pids("web.pid")[0];
    let inode = std::fs::metadata(sock(&dir)).expect("the socket").ino();

    let second = dir.drover(PLAIN).run();
    second.assert_code(1);
    assert!(
        second.stderr.contains("drover is already running here"),
        "{}",
        second.stderr
    );
    assert!(second.stdout.is_empty(), "{}", second.text());
    let starts = std::fs::read_to_string(dir.join("starts.log")).expect("starts.log");
    assert_eq!(starts.lines().count(), 1, "starts: {starts:?}");

    // The first drover and its socket are untouched.
    assert_eq!(
        std::fs::metadata(sock(&dir)).expect("the socket").ino(),
        inode,
        "the second drover replaced the socket"
    );
    assert_eq!(pid_of(&ps(&dir), "web.1"), web);
    client(&dir, &["shutdown"]).ok();
    first.finish().assert_code(0);
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let dir = TestDir::new();
    dir.procfile("web: $T --trap-term bye --stay --pidfile web.pid\n");
    // A crashed drover's socket: bound, nobody listening any more.
    drop(UnixListener::bind(sock(&dir)).expect("binding a socket"));
    assert!(sock(&dir).exists());

    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let web = dir.pids("web.pid")[0];
    assert_eq!(pid_of(&ps(&dir), "web.1"), web);
    let mode = std::fs::metadata(sock(&dir))
        .expect("the socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    assert!(!sock(&dir).exists());
}

#[test]
fn the_socket_file_is_removed_after_sigterm() {
    let dir = TestDir::new();
    dir.procfile("web: $T --trap-term bye --stay --pidfile web.pid\n");
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    dir.pids("web.pid");
    run.signal(libc::SIGTERM);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    assert_eq!(texts(&lines(&f), "web.1"), ["bye TERM"]);
    assert!(!sock(&dir).exists(), "the socket file is left behind");
}

#[test]
fn a_client_without_a_drover_says_none_is_running() {
    let dir = TestDir::new();
    for args in [
        &["ps"][..],
        &["stop", "web"],
        &["restart", "web"],
        &["kill", "web", "HUP"],
        &["logs"],
        &["shutdown"],
    ] {
        client(&dir, args).refused("no drover is running here");
    }
}
