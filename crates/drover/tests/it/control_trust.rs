//! The control socket where others can reach it or it cannot go where it
//! should: another user's socket in a shared folder, a server that sends
//! terminal escape sequences, `logs -f` followers that would starve
//! requests, clients of a stopped drover or of a socket that never
//! answers, a root whose socket path is over 108 bytes, and a root where
//! the socket cannot be made.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;

use serde_json::{json, Value};

use crate::util::*;

fn is_root() -> bool {
    // SAFETY: plain syscall.
    unsafe { libc::geteuid() == 0 }
}

/// A child process killed and reaped when this is dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `setpriv` arguments that run what follows as user nobody.
const AS_NOBODY: &[&str] = &["--reuid=65534", "--regid=65534", "--clear-groups"];

/// A python3 that user nobody can run through `setpriv`, or why there is none.
fn python_for_nobody() -> Result<&'static str, String> {
    if !is_root() {
        return Err("not root: cannot run a server as another user".into());
    }
    for python in ["/usr/bin/python3", "/usr/local/bin/python3"] {
        let ran = Command::new("setpriv")
            .args(AS_NOBODY)
            .args([python, "-c", "pass"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match ran {
            Err(e) => return Err(format!("setpriv cannot be run: {e}")),
            Ok(s) if s.success() => return Ok(python),
            Ok(_) => {}
        }
    }
    Err("no python3 that user nobody can run".into())
}

/// A fake drover of user nobody on `.drover.sock` in the folder given as
/// its argument (open to all, mode 0666): it says yes to every request, so
/// a client that believed it would print "shutting down", and records each
/// request line it gets in `fake.got`.
const FAKE_OF_NOBODY: &str = r#"
import os, socket, sys
d = sys.argv[1]
path = os.path.join(d, ".drover.sock")
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o666)
s.listen(64)
open(os.path.join(d, "fake.ready"), "w").close()
while True:
    c, _ = s.accept()
    try:
        line = c.makefile("rb").readline()
        if line:
            with open(os.path.join(d, "fake.got"), "ab") as f:
                f.write(line)
        c.sendall(b'{"v":1,"ok":true,"result":{}}\n')
    except OSError:
        pass
    c.close()
"#;

#[test]
fn another_users_socket_is_refused_by_clients_and_named_by_start() {
    let python = match python_for_nobody() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let dir = TestDir::new();
    // A shared folder, as /tmp is: anyone may create files in it.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777))
        .expect("opening the folder to all");
    dir.procfile("web: echo started >> starts.log; exec $T --stay --pidfile web.pid\n");
    let fake = Command::new("setpriv")
        .args(AS_NOBODY)
        .args([python, "-c", FAKE_OF_NOBODY])
        .arg(dir.path())
        .stdin(Stdio::null())
        .spawn()
        .expect("starting the fake server");
    let _fake = Reaped(fake);
    dir.wait_for_file("fake.ready");

    for args in [
        &["ps"][..],
        &["shutdown"],
        &["logs"],
        &["logs", "-f"],
        &["stop", "web"],
    ] {
        let out = client(&dir, args);
        out.refused("refused: this drover belongs to another user, nobody (uid 65534)");
        assert!(out.stdout.is_empty(), "{args:?} believed the fake: {out:?}");
    }

    let start = dir.drover(PLAIN).run();
    start.assert_code(1);
    assert!(
        start
            .stderr
            .contains("belongs to another user, nobody (uid 65534)"),
        "start does not name the owner:\n{}",
        start.stderr
    );
    assert!(start.stdout.is_empty(), "{}", start.text());
    assert!(!dir.join("starts.log").exists(), "start started the app");
    assert!(
        !dir.join("fake.got").exists(),
        "a request reached the fake: {:?}",
        std::fs::read_to_string(dir.join("fake.got"))
    );
}

/// Escape sequences a terminal acts on, each given to a fake drover's
/// answers: clear screen, window title, carriage return and erase, C1 CSI,
/// NUL and DEL, a cursor query, a DCS.
const HOSTILE: &[&str] = &[
    "\x1b[2J\x1b[H",
    "\x1b]0;pwned\x07",
    "\r\x1b[K",
    "\u{9b}6n",
    "\x00\x7f",
    "\x1b[6n",
    "\x1bP+q\x1b\\",
];

/// What a hostile same-user fake answers to `request`.
fn hostile_answers(request: &Value) -> Vec<Value> {
    let all = HOSTILE.concat();
    match request["cmd"].as_str() {
        Some("logs") => {
            let mut out =
                vec![json!({"v": 1, "ok": true, "result": {"names": [format!("web{all}.1")]}})];
            for (i, e) in HOSTILE.iter().enumerate() {
                out.push(json!({"v": 1, "log": {
                    "time": format!("2026-12-04T{e}:00:00.000+00:00"),
                    "process": format!("web{e}.1"),
                    "stream": "stdout",
                    "line": format!("\x1b[31mred\x1b[0m line {i} {e} end"),
                }}));
            }
            out.push(json!({"v": 1, "end": true}));
            out
        }
        Some("ps") => vec![json!({"v": 1, "ok": true, "result": {"processes": [{
            "name": format!("web{all}.1"), "pid": 1, "state": format!("running{all}"),
            "uptime_secs": 1, "restarts": 0, "last_exit": format!("code 0{all}"),
            "exit_status": null,
        }]}})],
        Some("digest") => vec![json!({"v": 1, "ok": true, "result": {"digest": [{
            "name": format!("web{all}.1"), "result": format!("exited{all}"),
            "exit_status": 1, "restarts": 0, "ran_secs": 1.0, "failed": true,
            "last_lines": HOSTILE,
        }]}})],
        Some("stop") => vec![json!({"v": 1, "ok": true, "result": {"stopped": [all]}})],
        _ => vec![json!({"v": 1, "ok": false, "error": format!("no{all}pe")})],
    }
}

/// A fake drover of this user on `path` that answers `n` connections with
/// [`hostile_answers`], then ends.
fn hostile_server(path: &Path, n: usize) -> thread::JoinHandle<()> {
    let listener = UnixListener::bind(path).expect("binding the fake socket");
    thread::spawn(move || {
        for _ in 0..n {
            let (stream, _) = listener.accept().expect("accepting a client");
            stream.set_read_timeout(Some(WAIT)).expect("a timeout");
            let mut line = String::new();
            BufReader::new(&stream)
                .read_line(&mut line)
                .expect("reading the request");
            let request: Value = serde_json::from_str(&line).expect("a JSON request");
            let mut w = &stream;
            for answer in hostile_answers(&request) {
                let _ = writeln!(w, "{answer}");
            }
        }
    })
}

/// Panics unless every escape in `text` is an SGR color and every other
/// control character a newline or a tab.
fn assert_terminal_safe(what: &str, text: &str) {
    for (i, c) in text.char_indices() {
        if c == '\x1b' {
            let rest = &text.as_bytes()[i..];
            let sgr = rest.starts_with(b"\x1b[") && {
                let params = &rest[2..];
                let n = params
                    .iter()
                    .take_while(|b| b.is_ascii_digit() || **b == b';' || **b == b':')
                    .count();
                params.get(n) == Some(&b'm')
            };
            assert!(
                sgr,
                "{what}: an escape sequence other than SGR at byte {i}: {text:?}"
            );
        } else {
            let code = c as u32;
            assert!(
                c == '\n' || c == '\t' || !(code < 0x20 || (0x7f..0xa0).contains(&code)),
                "{what}: control character {code:#x} at byte {i}: {text:?}"
            );
        }
    }
}

#[test]
fn escape_sequences_from_the_socket_are_shown_not_acted_on() {
    let dir = TestDir::new();
    let runs: &[&[&str]] = &[
        &["logs", "-s", "fake.sock"],
        &["logs", "-f", "-s", "fake.sock"],
        &["ps", "-s", "fake.sock"],
        &["ps", "--digest", "-s", "fake.sock"],
        &["stop", "web", "-s", "fake.sock"],
        &["restart", "web", "-s", "fake.sock"],
        &["ps", "--json", "-s", "fake.sock"],
    ];
    let server = hostile_server(&dir.join("fake.sock"), runs.len());
    let mut outs = Vec::new();
    for args in runs {
        let out = client(&dir, args);
        assert_terminal_safe(&format!("{args:?} stdout"), &out.stdout);
        assert_terminal_safe(&format!("{args:?} stderr"), &out.stderr);
        outs.push(out);
    }
    server.join().expect("the fake server");

    let logs = outs[0].ok();
    // drover's own colors pass; the rest is shown as text.
    assert!(logs.contains("\x1b[31mred\x1b[0m line 1"), "{logs}");
    assert!(logs.contains("line 1 \\x1b]0;pwned\\x07 end"), "{logs}");
    assert!(logs.contains("line 3 \\u{9b}6n end"), "{logs}");
    assert!(logs.contains("web\\x1b[2J\\x1b[H.1"), "{logs}");
    assert_eq!(logs.lines().count(), HOSTILE.len(), "{logs}");
    assert_eq!(outs[1].ok(), logs, "logs -f shows the same");
    let ps = outs[2].ok();
    assert!(ps.contains("running\\x1b[2J"), "{ps}");
    let digest = outs[3].ok();
    assert!(digest.contains("| \\x1b]0;pwned\\x07"), "{digest}");
    assert!(outs[4].ok().contains("stopping: \\x1b[2J"), "{:?}", outs[4]);
    outs[5].refused("no\\x1b[2J\\x1b[H\\x1b]0;pwned\\x07");
    // JSON escapes them, and keeps the value.
    let rows: Vec<Value> = serde_json::from_str(outs[6].ok()).expect("ps --json prints JSON");
    assert_eq!(rows[0]["name"], format!("web{}.1", HOSTILE.concat()));
}

#[test]
fn followers_cannot_starve_requests() {
    const FOLLOWERS: usize = 64;
    let dir = TestDir::new();
    dir.procfile("web: $T --marker hello --trap-term bye --stay --pidfile web.pid\n");
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    run.wait_for_output("web.1  | hello");

    let mut followers: Vec<Follower> = (0..FOLLOWERS)
        .map(|_| Follower::start(&dir, &["-f"]))
        .collect();
    // Each one follows (it printed the recent line) or was turned away.
    wait_until("every follower to follow or be turned away", || {
        followers
            .iter_mut()
            .all(|f| f.saw("web.1 | hello") || f.exited().is_some())
    });
    let following = followers.iter().filter(|f| f.saw("web.1 | hello")).count();
    eprintln!("{following} of {FOLLOWERS} followers follow");
    // 48 may follow at once; the other 16 slots stay for requests.
    assert_eq!(following, 48);

    // Requests still answer, at once.
    assert_eq!(ps(&dir).len(), 1);
    assert!(client(&dir, &["logs"]).ok().contains("hello"));
    client(&dir, &["shutdown"]).ok();
    run.finish().assert_code(0);
    let mut codes = [0usize; 2];
    for f in followers {
        let (code, lines) = f.finish();
        assert!(code == 0 || code == 1, "follower exit code {code}");
        if code == 0 {
            assert!(
                lines.iter().any(|l| l.ends_with("web.1 | bye TERM")),
                "{lines:#?}"
            );
        }
        codes[code as usize] += 1;
    }
    assert_eq!(codes, [following, FOLLOWERS - following]);
}

#[test]
fn clients_of_a_stopped_drover_give_up_and_what_they_asked_is_not_done() {
    let dir = TestDir::new();
    dir.procfile("web: $T --trap-term bye --stay --pidfile web.pid\n");
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let web = dir.pids("web.pid")[0];

    run.signal(libc::SIGSTOP);
    wait_until("drover to be stopped", || {
        proc_state(run.pid()) == Some('T')
    });
    client(&dir, &["shutdown"]).refused("did not answer within 5s");
    run.signal(libc::SIGCONT);
    // drover reads the queued request now, from a client that is gone.
    run.wait_for_output("a `shutdown` request was not done: its client hung up");
    assert!(alive(web), "web was stopped");
    assert_eq!(pid_of(&ps(&dir), "web.1"), web);

    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    let system = system_lines(&lines(&f));
    let requested = system
        .iter()
        .filter(|l| l.starts_with("shutdown requested"))
        .count();
    assert_eq!(requested, 1, "{system:#?}");
}

#[test]
fn clients_give_up_on_a_socket_that_never_answers() {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let dir = TestDir::new();
    let path = sock(&dir);

    // Nobody listens: a crashed drover's socket.
    drop(UnixListener::bind(&path).expect("binding"));
    client(&dir, &["ps"]).refused("no drover is running here");
    std::fs::remove_file(&path).expect("removing the socket");

    // Something listens and never accepts: no answer comes.
    let addr = SocketAddrUnix::new(path.as_path()).expect("a socket address");
    let unix = || {
        rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .expect("a socket")
    };
    let listener = unix();
    rustix::net::bind(&listener, &addr).expect("binding");
    rustix::net::listen(&listener, 0).expect("listening");
    client(&dir, &["ps"]).refused("did not answer within 5s");

    // Its queue full: the connection itself is not taken.
    let mut queued = Vec::new();
    loop {
        let s = unix();
        match rustix::net::connect(&s, &addr) {
            Ok(()) => queued.push(s),
            Err(rustix::io::Errno::AGAIN) => break,
            Err(e) => panic!("connecting: {e}"),
        }
        assert!(queued.len() < 1000, "the queue never filled");
    }
    client(&dir, &["shutdown"]).refused("did not take the connection within 5s");
}

/// `drover ps` in `cwd` until it answers; panics if drover exits first.
fn wait_for_ps_in(cwd: &Path, run: &mut DroverRun) {
    wait_until("drover ps to answer", || {
        assert!(!run.exited(), "drover exited:\n{}", run.stderr_so_far());
        client_in(cwd, &["ps"], &[]).code == 0
    });
}

#[test]
fn a_root_whose_socket_path_is_over_108_bytes_has_working_control_commands() {
    let dir = TestDir::new();
    let rel = format!("{}/{}", "a".repeat(60), "b".repeat(60));
    dir.write(
        &format!("{rel}/Procfile"),
        &dir.expand("web: $T --marker hello --trap-term bye --stay --pidfile $D/web.pid\n"),
    );
    let root = dir.join(&rel);
    let socket = root.join(".drover.sock");
    assert!(socket.as_os_str().len() > 108);

    let procfile = format!("{rel}/Procfile");
    let mut run = dir
        .drover(&["-f", &procfile, "--no-timestamp", "--color", "never"])
        .spawn();
    wait_for_ps_in(&root, &mut run);
    let web = dir.pids("web.pid")[0];
    assert!(socket.exists(), "the socket is not in the root");
    // In the root by its relative name, anywhere by its full path.
    assert_eq!(pid_of(&ps_in(&root), "web.1"), web);
    let full = socket.to_str().expect("a UTF-8 path");
    assert!(client(&dir, &["ps", "-s", full]).ok().contains("web.1"));
    assert!(client_in(&root, &["logs"], &[]).ok().contains("hello"));

    // A second drover there is refused; the first is untouched.
    let second = dir.drover(&["-f", &procfile]).run();
    second.assert_code(1);
    assert!(
        second.stderr.contains("drover is already running here"),
        "{}",
        second.stderr
    );
    client(&dir, &["shutdown", "-s", full]).ok();
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    assert!(!socket.exists(), "the socket file is left behind");
}

/// `drover ps --json` in `cwd`: the rows.
fn ps_in(cwd: &Path) -> Vec<Value> {
    let out = client_in(cwd, &["ps", "--json"], &[]);
    serde_json::from_str(out.ok()).expect("ps --json prints JSON")
}

#[test]
fn a_socket_that_cannot_be_made_in_the_root_is_in_the_runtime_folder() {
    let dir = TestDir::new();
    dir.write(
        "app/Procfile",
        &dir.expand("web: $T --marker hello --trap-term bye --stay --pidfile $D/web.pid\n"),
    );
    let app = dir.join("app");
    if is_root() {
        // Permissions do not bind root: a folder that does not exist does.
        dir.write("app/drover.toml", "socket = \"no/such/folder/ctl.sock\"\n");
    } else {
        std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o555))
            .expect("making the root read-only");
    }
    let mut run = dir.drover(&["-f", "app/Procfile"]).spawn();
    run.wait_for_output("where `drover ps` and the other commands run in");
    let said = String::from_utf8_lossy(&run.stdout_so_far()).into_owned();
    let place = said
        .split_once("; it is ")
        .and_then(|(_, rest)| rest.split_once(" instead"))
        .map(|(path, _)| std::path::PathBuf::from(path))
        .unwrap_or_else(|| panic!("no socket path in the system line:\n{said}"));
    assert!(place.exists(), "{} does not exist", place.display());

    // Clients in the root find it, with no option.
    wait_for_ps_in(&app, &mut run);
    let web = dir.pids("web.pid")[0];
    assert_eq!(pid_of(&ps_in(&app), "web.1"), web);
    assert!(client_in(&app, &["logs"], &[]).ok().contains("hello"));

    // A second drover in the root finds the first there.
    let second = dir.drover(&["-f", "app/Procfile"]).run();
    second.assert_code(1);
    assert!(
        second.stderr.contains("drover is already running here"),
        "{}",
        second.stderr
    );
    client_in(&app, &["shutdown"], &[]).ok();
    run.finish().assert_code(0);
    assert!(!place.exists(), "the socket file is left behind");
    std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o755))
        .expect("making the root writable again");
}
