//! Terminals: `tty = true` (a pseudo-terminal per process), `--force-color`
//! and what `drover check` says of them.

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
