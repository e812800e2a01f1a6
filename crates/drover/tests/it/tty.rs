//! Terminals: `tty = true` (a pseudo-terminal per process), `--force-color`
//! and what `drover check` says of them.

use std::io::{self, Read as _};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::*;

#[test]
fn check_shows_a_pty_and_forced_colors() {
    let dir = TestDir::new();
    dir.procfile("repl: python3 -i\nweb: serve\nlog: tail\n");
    dir.write(
        "drover.toml",
        "force_color = true\n[processes.repl]\ntty = true\n[processes.log]\nforce_color = false\n",
    );
    let out = client(&dir, &["check"]);
    let stdout = out.ok();
    assert!(
        stdout.contains(
            "  repl: repl.1 (port 5000)\n    command: python3 -i\n    stop: SIGTERM, then SIGKILL after 5s; restart: no\n    terminal: a pty of its own (one stream; drover attach types into it)\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "  web: web.1 (port 5100)\n    command: serve\n    stop: SIGTERM, then SIGKILL after 5s; restart: no\n    colors: asked for through pipes (FORCE_COLOR=1, CLICOLOR_FORCE=1 unless set)\n"
        ),
        "{stdout}"
    );
    let log = &stdout[stdout.find("  log:").expect("log is shown")..];
    assert!(
        !log.contains("colors:"),
        "log says force_color = false: {stdout}"
    );

    // The options win over drover.toml.
    let out = client(&dir, &["check", "--force-color"]);
    let stdout = out.ok();
    assert_eq!(
        stdout.matches("    colors: asked for").count(),
        2,
        "{stdout}"
    );
    let out = client(&dir, &["check", "--tty"]);
    let stdout = out.ok();
    assert_eq!(
        stdout.matches("    terminal: a pty of its own").count(),
        3,
        "{stdout}"
    );
    assert!(!stdout.contains("colors:"), "{stdout}");
}

/// drover's options for a plain run with every process on a pty.
const PLAIN_TTY: &[&str] = &["--no-timestamp", "--color", "never", "--tty"];

#[test]
fn a_process_on_a_pty_sees_a_terminal_and_line_buffers() {
    require_python();
    let dir = TestDir::new();
    // Python buffers a pipe's output until it exits: only on a terminal
    // does the line come while it still runs.
    dir.procfile(
        "probe: python3 -c \"import sys, time; print('terminal' if sys.stdout.isatty() else 'pipe', sys.stdin.isatty()); time.sleep(60)\"\n",
    );
    let run = dir.drover(PLAIN_TTY).spawn();
    wait_for_child_line(&run, "probe.1", "terminal True");
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    assert_eq!(texts(&parse_text(&f.stdout), "probe.1"), ["terminal True"]);
}

#[test]
fn a_progress_bar_prints_its_last_state_once() {
    let dir = TestDir::new();
    dir.procfile("bar: printf '  0%%\\r 50%%\\r100%%\\r\\ndone\\n'\n");
    let f = dir.drover(PLAIN_TTY).run();
    f.assert_code(0);
    assert_eq!(texts(&parse_text(&f.stdout), "bar.1"), ["100%", "done"]);
}

#[test]
fn a_prompt_without_newline_appears_marked_partial_and_the_answer_follows() {
    require_python();
    let dir = TestDir::new();
    dir.procfile(
        "ask: python3 -c \"import sys, time; sys.stdout.write('(Pdb) '); sys.stdout.flush(); time.sleep(60)\"\n",
    );
    let run = dir.drover(&["--output", "json", "--tty"]).spawn();
    run.wait_for_line("the prompt, marked partial", |line| {
        contains(line, br#""line":"(Pdb) ","partial":true"#)
    });
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    let out = f.text();
    let prompt = out
        .lines()
        .find(|l| l.contains("(Pdb)"))
        .expect("the prompt");
    let v: serde_json::Value = serde_json::from_str(prompt).unwrap();
    assert_eq!(v["stream"], "tty");
    assert_eq!(v["process"], "ask.1");
    assert_eq!(out.matches("(Pdb)").count(), 1, "printed once: {out}");
}

#[test]
fn colors_are_kept_with_color_always_and_removed_with_never() {
    let dir = TestDir::new();
    dir.procfile("paint: printf '\\033]0;title\\007\\033[31mred\\033[0m \\033[2Kplain\\n'\n");
    let f = dir
        .drover(&["--no-timestamp", "--color", "always", "--tty"])
        .run();
    f.assert_code(0);
    let out = f.text();
    assert!(
        out.contains("\x1b[31mred\x1b[0m plain\x1b[0m\n"),
        "colors kept, the rest removed: {out:?}"
    );
    let f = dir.drover(PLAIN_TTY).run();
    assert_eq!(texts(&parse_text(&f.stdout), "paint.1"), ["red plain"]);
}

#[test]
fn the_pty_takes_its_size_from_columns_and_lines_without_a_terminal() {
    let dir = TestDir::new();
    dir.procfile("size: sh -c 'stty size; sleep 60'\nterm: sh -c 'printenv TERM; sleep 60'\n");
    let run = dir
        .drover(PLAIN_TTY)
        .env("COLUMNS", "100")
        .env("LINES", "30")
        .env("TERM", "screen")
        .spawn();
    wait_for_child_line(&run, "size.1", "30 100");
    wait_for_child_line(&run, "term.1", "screen");
    run.signal(libc::SIGINT);
    let f = run.finish();
    let lines = parse_text(&f.stdout);
    assert_eq!(texts(&lines, "size.1"), ["30 100"]);
    assert_eq!(texts(&lines, "term.1"), ["screen"]);
}

#[test]
fn force_color_sets_the_variables_for_pipes_unless_set() {
    let dir = TestDir::new();
    dir.procfile("a: sh -c 'echo $FORCE_COLOR $CLICOLOR_FORCE'\n");
    dir.write(".env", "CLICOLOR_FORCE=0\n");
    let f = dir
        .drover(&["--no-timestamp", "--color", "never", "--force-color"])
        .run();
    assert_eq!(texts(&parse_text(&f.stdout), "a.1"), ["1 0"]);
}

#[test]
fn four_floods_of_100k_lines_through_ptys_arrive_whole_after_sigint() {
    const LINES: u64 = 100_000;
    let dir = TestDir::new();
    let mut procfile = String::new();
    for tag in ["a", "b", "c", "d"] {
        procfile.push_str(&format!(
            "{tag}: $T --tag {tag} --lines {LINES} --sentinel {tag}.done --pidfile {tag}.pid --trap-term bye --stay\n"
        ));
    }
    dir.procfile(&procfile);
    let run = dir.drover(PLAIN_TTY).spawn();
    for tag in ["a", "b", "c", "d"] {
        dir.wait_for_file(&format!("{tag}.done"));
    }
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = parse_text(&f.stdout);
    for tag in ["a", "b", "c", "d"] {
        assert_all_lines(&lines, &format!("{tag}.1"), tag, LINES, 100, &["bye TERM"]);
    }
    let pids: Vec<i32> = ["a", "b", "c", "d"]
        .iter()
        .flat_map(|t| dir.pids(&format!("{t}.pid")))
        .collect();
    assert_none_left(&dir, &pids, "the floods");
}

#[test]
fn on_a_pty_the_first_exit_sets_the_status_and_its_lines_all_arrive() {
    let dir = TestDir::new();
    dir.procfile(
        "a: $T --tag a --lines 50000 --wait-file go --exit 7 --pidfile a.pid\n\
         b: $T --tag b --flood --trap-term bye --pidfile b.pid\n",
    );
    let run = dir.drover(PLAIN_TTY).spawn();
    dir.wait_for_file("b.pid");
    dir.write("go", "");
    let f = run.finish();
    f.assert_code(7);
    let lines = parse_text(&f.stdout);
    assert_all_lines(&lines, "a.1", "a", 50_000, 100, &[]);
    let texts = lines_of(&lines, "b.1");
    let (_, others) = numbered(&texts, "b", 100);
    assert_eq!(lossy(&others), ["bye TERM"], "b.1: its last words, last");
}

#[test]
fn on_a_pty_a_stop_ladder_sends_int_then_term_then_kill() {
    let dir = TestDir::new();
    dir.procfile("stubborn: $T --ignore-int --ignore-term --stay --pidfile s.pid\n");
    dir.write(
        "drover.toml",
        "timeout = 600\n[processes.stubborn]\ntty = true\nstop = [\"INT\", \"1s\", \"TERM\", \"1s\", \"KILL\"]\n",
    );
    let run = dir.drover(PLAIN).spawn();
    let pid = dir.pids("s.pid")[0];
    run.signal(libc::SIGTERM);
    wait_for_child_line(&run, "stubborn.1", "ignored SIGINT");
    wait_for_child_line(&run, "stubborn.1", "ignored SIGTERM");
    let f = run.finish();
    f.assert_code(1);
    let lines = parse_text(&f.stdout);
    assert_eq!(
        texts(&lines, "stubborn.1"),
        ["ignored SIGINT", "ignored SIGTERM"]
    );
    assert!(
        system_lines(&lines)
            .iter()
            .any(|l| l == "stubborn.1 was killed by SIGKILL"),
        "{}",
        f.text()
    );
    assert_none_left(&dir, &[pid], "the stubborn child");
}

/// A Python REPL on a pty, its prompt seen in drover's stream.
fn repl(dir: &TestDir) -> DroverRun {
    require_python();
    dir.procfile("repl: python3 -i -q\nweb: sleep 600\n");
    dir.write("drover.toml", "[processes.repl]\ntty = true\n");
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(dir, &mut run);
    wait_for_child_line(&run, "repl.1", ">>> ");
    run
}

#[test]
fn send_types_a_line_and_keys_into_a_pty_and_is_refused_without_one() {
    let dir = TestDir::new();
    let run = repl(&dir);
    assert_eq!(
        client(&dir, &["send", "repl", "6*7"]).ok(),
        "sent to repl.1\n"
    );
    wait_for_child_line(&run, "repl.1", "42");
    let logs = client(&dir, &["logs", "repl"]);
    assert!(
        logs.ok().contains(" | 42\n"),
        "no \\r left: {:?}",
        logs.stdout
    );
    let out = client(&dir, &["send", "web", "hello"]);
    out.refused("web.1 has no terminal");
    assert!(out.stderr.contains("tty = true"), "{}", out.stderr);
    // Ctrl-D ends the REPL, and with it the run.
    client(&dir, &["send", "repl", "--key", "ctrl-d"]).ok();
    let f = run.finish();
    f.assert_code(0);
    let lines = parse_text(&f.stdout);
    assert_eq!(texts(&lines, "repl.1")[..3], [">>> ", "6*7", "42"]);
}

/// A user's terminal for `drover attach`: a pty pair whose slave is the
/// client's stdin, stdout and stderr (and controlling terminal, so that
/// a resize reaches it), and whose master the test reads and types into.
struct UserTerminal {
    master: std::fs::File,
    slave: std::fs::File,
    seen: Arc<Mutex<Vec<u8>>>,
    child: Child,
}

impl UserTerminal {
    fn attach(dir: &TestDir, args: &[&str]) -> Self {
        use std::os::unix::process::CommandExt as _;
        let (master, slave) = open_pty();
        set_winsize(&slave, 100, 30);
        let mut cmd = Command::new(DROVER);
        cmd.arg("attach")
            .args(args)
            .current_dir(dir.path())
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave.try_clone().unwrap());
        // SAFETY: only raw syscalls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("starting drover attach");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (mut reader, into) = (master.try_clone().unwrap(), Arc::clone(&seen));
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                into.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Self {
            master,
            slave,
            seen,
            child,
        }
    }

    fn wait_for(&self, needle: &str) {
        wait_until(&format!("{needle:?} in the attached terminal"), || {
            contains(&self.seen.lock().unwrap(), needle.as_bytes())
        });
    }

    fn seen(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    fn type_keys(&mut self, keys: &[u8]) {
        use std::io::Write as _;
        self.master.write_all(keys).expect("typing");
    }

    /// The terminal's local modes: raw mode clears ICANON and ECHO.
    fn lflag(&self) -> libc::tcflag_t {
        use std::os::fd::AsRawFd as _;
        // SAFETY: a zeroed termios is a valid buffer for tcgetattr.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: a valid fd and buffer.
        assert_eq!(
            unsafe { libc::tcgetattr(self.slave.as_raw_fd(), &mut t) },
            0
        );
        t.c_lflag
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "attach did not end: {}",
                self.seen()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for UserTerminal {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn set_winsize(tty: &std::fs::File, cols: u16, rows: u16) {
    use std::os::fd::AsRawFd as _;
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: a valid fd and winsize.
    assert_eq!(
        unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, &ws) },
        0
    );
}

const COOKED: libc::tcflag_t = libc::ICANON | libc::ECHO;

#[test]
fn attach_shows_the_repl_types_into_it_follows_resizes_and_detaches_on_ctrl_bracket() {
    let dir = TestDir::new();
    let run = repl(&dir);
    let mut user = UserTerminal::attach(&dir, &["repl"]);
    user.wait_for("attached to repl.1; detach with ctrl-]");
    // The last screenful: the prompt the REPL printed before.
    user.wait_for(">>> ");
    wait_until("raw mode on the user's terminal", || {
        user.lflag() & COOKED == 0
    });

    // One client at a time.
    let answer = request(
        &sock(&dir),
        r#"{"v":1,"cmd":"attach","name":"repl","cols":80,"rows":24}"#,
    );
    assert_error(&answer, "already has a client attached");

    user.type_keys(b"6*7\r");
    user.wait_for("42");
    wait_for_child_line(&run, "repl.1", "42");

    // The client's size was given at attach; a resize follows.
    user.type_keys(b"import os; os.system('stty size')\r");
    user.wait_for("30 100");
    set_winsize(&user.slave, 50, 20);
    // The kernel tells the client (SIGWINCH), the client tells drover.
    wait_until("the resize to reach the REPL", || {
        user.type_keys(b"os.system('stty size')\r");
        thread::sleep(Duration::from_millis(100));
        user.seen().contains("20 50")
    });

    user.type_keys(&[0x1d]);
    let status = user.wait_exit();
    assert!(status.success(), "{status:?}\n{}", user.seen());
    assert_eq!(user.lflag() & COOKED, COOKED, "the terminal is restored");
    assert!(user.seen().contains("detached"), "{}", user.seen());

    // Still running, still printing to the main stream.
    client(&dir, &["send", "repl", "'still'+'here'"]).ok();
    wait_for_child_line(&run, "repl.1", "'stillhere'");
    run.signal(libc::SIGINT);
    run.finish().assert_code(0);
}

#[test]
fn attach_restores_the_terminal_on_sigterm_and_on_a_lost_connection() {
    let dir = TestDir::new();
    let run = repl(&dir);
    let mut user = UserTerminal::attach(&dir, &["repl.1"]);
    user.wait_for("detach with ctrl-]");
    wait_until("raw mode", || user.lflag() & COOKED == 0);
    signal(user.child.id() as i32, libc::SIGTERM);
    assert!(user.wait_exit().success(), "{}", user.seen());
    assert_eq!(user.lflag() & COOKED, COOKED, "restored after SIGTERM");

    // --steal takes over from a client; drover ending ends it.
    let mut first = UserTerminal::attach(&dir, &["repl", "--detach-keys", "ctrl-p,ctrl-q"]);
    first.wait_for("detach with ctrl-p,ctrl-q");
    let mut second = UserTerminal::attach(&dir, &["repl", "--steal"]);
    second.wait_for("attached to repl.1");
    assert_eq!(first.wait_exit().code(), Some(1), "{}", first.seen());
    assert_eq!(first.lflag() & COOKED, COOKED, "restored after the steal");
    wait_until("raw mode", || second.lflag() & COOKED == 0);
    client(&dir, &["shutdown"]).ok();
    assert_eq!(second.wait_exit().code(), Some(1), "{}", second.seen());
    assert_eq!(
        second.lflag() & COOKED,
        COOKED,
        "restored after drover left"
    );
    assert!(
        second.seen().contains("the connection ended"),
        "{}",
        second.seen()
    );
    run.finish().assert_code(0);
}

#[test]
fn attach_is_refused_without_a_pty_with_a_hint() {
    let dir = TestDir::new();
    let mut run = {
        dir.procfile("web: sleep 600\n");
        dir.drover(PLAIN).spawn()
    };
    wait_for_control(&dir, &mut run);
    let answer = request(
        &sock(&dir),
        r#"{"v":1,"cmd":"attach","name":"web","cols":80,"rows":24}"#,
    );
    assert_error(&answer, "web.1 has no terminal: set `tty = true`");
    run.signal(libc::SIGINT);
    run.finish().assert_code(0);
}
