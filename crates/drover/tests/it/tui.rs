//! `drover tui` and `drover start --tui`, driven in tmux: keys are typed
//! with `send-keys`, the screen is read with `capture-pane` (`-e` for the
//! colors of a search hit). Skipped, saying why, where tmux is missing
//! (scripts/test installs it).

use std::process::{Command, Stdio};

use crate::util::*;

/// Three processes that keep talking.
const STACK: &str = "\
alpha: sh -c 'i=0; while :; do i=$((i+1)); echo \"alpha tick $i\"; sleep 0.2; done'
beta: sh -c 'i=0; while :; do i=$((i+1)); echo \"beta needle $i\"; sleep 0.2; done'
gamma: sh -c 'i=0; while :; do i=$((i+1)); echo \"gamma tock $i\"; sleep 0.3; done'
";

/// Tells the tests' tmux servers apart.
static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A tmux server of the test's own, killed (with what runs in it) on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// A server running `command` in a 100x30 window, or None (said why)
    /// when tmux is not there.
    fn start(dir: &TestDir, command: &str) -> Option<Self> {
        let probe = Command::new("tmux").arg("-V").output();
        if !probe.is_ok_and(|o| o.status.success()) {
            eprintln!("skipped: tmux is not installed (scripts/test installs it with apt-get)");
            return None;
        }
        let t = Tmux {
            socket: format!(
                "drover-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
        };
        let shell = format!(
            "cd '{}' && env -u NO_COLOR -u DROVER_SOCKET {command}; echo \"TUI-EXITED $?\"; sleep 600",
            dir.path().display()
        );
        t.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "100",
            "-y",
            "30",
            &shell,
        ]);
        Some(t)
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running tmux");
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    fn screen_with_colors(&self) -> String {
        self.run(&["capture-pane", "-p", "-e", "-t", "t"])
    }

    /// Waits until the screen satisfies `done`; returns it.
    fn wait(&self, what: &str, mut done: impl FnMut(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let last = self.screen();
            if done(&last) {
                return last;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "gave up after {WAIT:?} waiting for {what}; the screen:\n{last}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stderr(Stdio::null())
            .status();
    }
}

/// The list row of `name` on `screen`.
fn row_of<'a>(screen: &'a str, name: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(&format!(" {name} ")) && !l.contains(" | "))
        .unwrap_or_else(|| panic!("no row for {name}:\n{screen}"))
}

/// The log pane's lines on `screen`.
fn log_lines(screen: &str) -> Vec<&str> {
    screen.lines().filter(|l| l.contains(" | ")).collect()
}

#[test]
fn tui_shows_and_steers_a_running_stack() {
    let dir = TestDir::new();
    dir.procfile(STACK);
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let rows = ps(&dir);
    let Some(tmux) = Tmux::start(&dir, &format!("{DROVER} tui")) else {
        return;
    };

    // Start: every process, the first selected, lines of all three.
    let screen = tmux.wait("the list and lines of every process", |s| {
        ["alpha tick", "beta needle", "gamma tock"]
            .iter()
            .all(|t| s.contains(t))
            && s.contains("drover: 3 processes")
    });
    assert!(row_of(&screen, "alpha.1").contains("> alpha.1"), "{screen}");
    for name in ["alpha.1", "beta.1", "gamma.1"] {
        let r = row_of(&screen, name);
        assert!(r.contains("running"), "{r}");
        assert!(r.contains(&pid_of(&rows, name).to_string()), "{r}");
    }
    assert!(screen.contains("logs: all [follow]"), "{screen}");
    assert!(screen.contains("[drover: running]"), "{screen}");

    // Select: j moves to beta; Enter shows only its lines, and back.
    tmux.keys(&["j"]);
    tmux.wait("beta selected", |s| {
        row_of(s, "beta.1").contains("> beta.1")
    });
    tmux.keys(&["Enter"]);
    let screen = tmux.wait("beta's lines alone", |s| {
        s.contains("logs: beta.1") && log_lines(s).iter().all(|l| l.contains("beta.1"))
    });
    assert!(!log_lines(&screen).is_empty(), "{screen}");
    tmux.keys(&["Enter"]);
    tmux.wait("all lines again", |s| {
        s.contains("logs: all") && s.contains("alpha tick") && s.contains("gamma tock")
    });

    // Search: the hit is drawn highlighted (yellow behind black).
    tmux.keys(&["/", "needle", "Enter"]);
    tmux.wait("the search in the title", |s| s.contains("[/needle]"));
    let colored = tmux.screen_with_colors();
    let hit = colored
        .lines()
        .find(|l| l.contains("needle") && l.contains(" |"))
        .unwrap_or_else(|| panic!("no hit:\n{colored}"));
    let before = &hit[..hit.find("needle").expect("a hit")];
    assert!(
        before.ends_with("48;5;3m") || before.ends_with("43m"),
        "the hit is not highlighted: {hit:?}"
    );
    tmux.keys(&["End"]);

    // Restart: beta's new pid is shown.
    let old = pid_of(&rows, "beta.1");
    tmux.keys(&["r"]);
    let rows = wait_for_ps(&dir, "beta restarted", |r| {
        row(r, "beta.1")["restarts"] == 1 && row(r, "beta.1")["pid"].is_i64()
    });
    let new = pid_of(&rows, "beta.1");
    assert_ne!(new, old);
    tmux.wait("beta's new pid", |s| {
        row_of(s, "beta.1").contains(&format!(" {new} "))
    });

    // Stop: beta shows stopped, without a pid; s again starts it.
    tmux.keys(&["s"]);
    tmux.wait("beta stopped", |s| row_of(s, "beta.1").contains("stopped"));
    tmux.keys(&["s"]);
    tmux.wait("beta running again", |s| {
        row_of(s, "beta.1").contains("running")
    });
    learn(
        &dir,
        &ps(&dir)
            .iter()
            .filter_map(|r| r["pid"].as_i64())
            .map(|p| p as i32)
            .collect::<Vec<_>>(),
    );

    // Resize: the screen follows the window.
    tmux.run(&["resize-window", "-t", "t", "-x", "70", "-y", "20"]);
    let screen = tmux.wait("a 70-column screen", |s| {
        s.lines()
            .next()
            .is_some_and(|l| l.chars().count() == 70 && l.ends_with('┐'))
    });
    assert_eq!(screen.lines().count(), 20, "{screen}");
    assert!(screen.contains("gamma.1"), "{screen}");

    // Quit: the TUI exits 0 and the stack keeps running.
    tmux.keys(&["q"]);
    tmux.wait("the TUI to exit", |s| s.contains("TUI-EXITED 0"));
    let rows = ps(&dir);
    assert!(rows.iter().all(|r| r["state"] == "running"), "{rows:#?}");
    client(&dir, &["shutdown"]).ok();
    run.wait_exit();
}

#[test]
fn start_tui_stops_the_stack_when_quit_after_confirming() {
    let dir = TestDir::new();
    dir.procfile(STACK);
    let Some(tmux) = Tmux::start(&dir, &format!("{DROVER} start --tui")) else {
        return;
    };
    tmux.wait("the stack in the TUI", |s| {
        s.contains("drover: 3 processes") && s.contains("alpha tick")
    });
    let pids: Vec<i32> = ps(&dir)
        .iter()
        .filter_map(|r| r["pid"].as_i64())
        .map(|p| p as i32)
        .collect();
    assert_eq!(pids.len(), 3);
    tmux.keys(&["q"]);
    tmux.wait("the confirmation", |s| {
        s.contains("stop every process and quit? (y/n)")
    });
    // Anything but y keeps it running.
    tmux.keys(&["n"]);
    tmux.wait("the keys again", |s| s.contains("[drover: running]"));
    tmux.keys(&["q"]);
    tmux.wait("the confirmation", |s| s.contains("(y/n)"));
    tmux.keys(&["y"]);
    tmux.wait("start --tui to exit", |s| s.contains("TUI-EXITED 0"));
    for pid in pids {
        assert_gone(pid, "a process of the stopped stack");
    }
    assert!(!sock(&dir).exists(), "the socket outlived drover");
}

#[test]
fn sigterm_restores_the_terminal_and_leaves_the_stack_running() {
    let dir = TestDir::new();
    dir.procfile(STACK);
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let Some(tmux) = Tmux::start(&dir, &format!("{DROVER} tui")) else {
        return;
    };
    tmux.wait("the TUI", |s| s.contains("drover: 3 processes"));
    assert_eq!(
        tmux.run(&["display", "-p", "-t", "t", "#{alternate_on}"])
            .trim(),
        "1"
    );
    // The pane runs a shell; `drover tui` is its child.
    let shell = tmux.run(&["display", "-p", "-t", "t", "#{pane_pid}"]);
    let shell = shell.trim();
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
        .expect("the shell's children");
    let tui: i32 = children
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("drover tui under the shell");
    signal(tui, libc::SIGTERM);
    tmux.wait("the TUI to exit", |s| s.contains("TUI-EXITED 0"));
    // Back on the normal screen, the cursor shown, out of raw mode (the
    // shell's echo came out as lines).
    assert_eq!(
        tmux.run(&["display", "-p", "-t", "t", "#{alternate_on}"])
            .trim(),
        "0"
    );
    assert_eq!(
        tmux.run(&["display", "-p", "-t", "t", "#{cursor_flag}"])
            .trim(),
        "1"
    );
    assert!(ps(&dir).iter().all(|r| r["state"] == "running"));
    client(&dir, &["shutdown"]).ok();
    run.wait_exit();
}
