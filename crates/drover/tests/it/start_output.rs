//! `drover start` output: every line a child wrote arrives, whole and in
//! order, however the child writes it and however drover is stopped.

use crate::util::*;

/// Four children that each write `lines` numbered lines in `--write MODE`,
/// then stay until stopped, and say `bye TERM` as they go.
fn four_floods(dir: &TestDir, lines: u64, mode: &str) {
    let mut procfile = String::new();
    for tag in ["a", "b", "c", "d"] {
        procfile.push_str(&format!(
            "{tag}: $T --tag {tag} --lines {lines} --write {mode} --sentinel {tag}.done --pidfile {tag}.pid --trap-term bye --stay\n"
        ));
    }
    dir.procfile(&procfile);
}

fn every_line_of_four_floods_arrives_after_sigint(mode: &str) {
    const LINES: u64 = 100_000;
    let dir = TestDir::new();
    four_floods(&dir, LINES, mode);
    let run = dir.drover(PLAIN).spawn();
    for tag in ["a", "b", "c", "d"] {
        dir.wait_for_file(&format!("{tag}.done"));
    }
    // Every child has written its last line; some of it is still in the
    // pipes or in drover when the stop begins.
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = parse_text(&f.stdout);
    for tag in ["a", "b", "c", "d"] {
        // The last words were written after the stop began.
        assert_all_lines(&lines, &format!("{tag}.1"), tag, LINES, 100, &["bye TERM"]);
    }
    let system = system_lines(&lines);
    assert!(
        system.iter().any(|l| l.contains("received SIGINT")),
        "{system:#?}"
    );
    assert_eq!(lines.len() as u64, 4 * (LINES + 1) + system.len() as u64);
}

#[test]
fn four_floods_of_100k_lines_arrive_whole_after_sigint() {
    every_line_of_four_floods_arrives_after_sigint("block");
}

#[test]
fn unaligned_raw_writes_are_reassembled_into_whole_lines() {
    every_line_of_four_floods_arrives_after_sigint("raw");
}

/// Children still writing when the stop comes: each one's output must be an
/// unbroken run of lines from 1, then its last words, written after the
/// signal arrived.
#[test]
fn lines_written_until_the_stop_signal_all_arrive() {
    let dir = TestDir::new();
    let mut procfile = String::new();
    for tag in ["a", "b", "c", "d"] {
        procfile.push_str(&format!(
            "{tag}: $T --tag {tag} --flood --write raw --trap-term bye --pidfile {tag}.pid\n"
        ));
    }
    dir.procfile(&procfile);
    let run = dir.drover(PLAIN).spawn();
    let mut seen = std::collections::BTreeSet::new();
    run.wait_for_line("a numbered line from each child", |line| {
        for tag in ["a", "b", "c", "d"] {
            if line.starts_with(format!("{tag}.1 ").as_bytes())
                && contains(line, format!(" | {tag} 0").as_bytes())
            {
                seen.insert(tag);
            }
        }
        seen.len() == 4
    });
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = parse_text(&f.stdout);
    for tag in ["a", "b", "c", "d"] {
        let name = format!("{tag}.1");
        let texts = lines_of(&lines, &name);
        let (n, others) = numbered(&texts, tag, 100);
        assert!(n >= 1, "{name}: no numbered line");
        assert_eq!(lossy(&others), ["bye TERM"], "{name}: its last words, last");
        assert_eq!(texts.last().copied(), Some(&b"bye TERM"[..]));
    }
}

/// A child that ends by itself stops drover with its status; what it and
/// the others wrote all arrives.
#[test]
fn first_process_to_exit_sets_the_status_and_every_line_arrives() {
    let dir = TestDir::new();
    dir.procfile(
        "a: $T --tag a --lines 100000 --wait-file go --exit 7 --pidfile a.pid\n\
         b: $T --tag b --flood --trap-term bye --pidfile b.pid\n\
         c: $T --tag c --lines 50000 --trap-term bye --stay --pidfile c.pid\n\
         d: $T --tag d --lines 50000 --write raw --trap-term bye --stay --pidfile d.pid\n",
    );
    let run = dir.drover(PLAIN).spawn();
    // Only once the others can take SIGTERM with their last words does `a`
    // write and exit.
    for p in ["b.pid", "c.pid", "d.pid"] {
        dir.wait_for_file(p);
    }
    dir.write("go", "");
    let f = run.finish();
    f.assert_code(7);
    f.assert_clean_stderr();
    let lines = parse_text(&f.stdout);
    assert_all_lines(&lines, "a.1", "a", 100_000, 100, &[]);
    for tag in ["b", "c", "d"] {
        let name = format!("{tag}.1");
        let texts = lines_of(&lines, &name);
        let (_, others) = numbered(&texts, tag, 100);
        assert_eq!(lossy(&others), ["bye TERM"], "{name}: its last words, last");
    }
    let system = system_lines(&lines);
    assert!(
        system.iter().any(|l| l.contains("a.1 has ended")),
        "{system:#?}"
    );
    assert!(
        system.last().is_some_and(|l| l.contains("status 7")),
        "{system:#?}"
    );
}

#[test]
fn partial_last_line_is_written() {
    let dir = TestDir::new();
    dir.procfile("a: $T --tag a --lines 3 --no-newline partial --pidfile a.pid\n");
    let f = dir.drover(PLAIN).run();
    f.assert_code(0);
    let lines = parse_text(&f.stdout);
    assert_all_lines(&lines, "a.1", "a", 3, 100, &["partial"]);
}

/// A child that writes and exits at once: its exit, SIGCHLD and the last
/// bytes in its pipes race each other. Many short runs give an unlucky order
/// a chance to show; none may lose a byte or claim the pipes were held open.
#[test]
fn output_of_a_process_that_exits_at_once_is_never_cut() {
    let dir = TestDir::new();
    dir.procfile(
        "a: $T --tag a --lines 3 --stderr --marker out --no-newline partial --pidfile a.pid\n",
    );
    for run in 0..30 {
        let f = dir.drover(PLAIN).run();
        f.assert_code(0);
        let lines = parse_text(&f.stdout);
        let texts = lines_of(&lines, "a.1");
        let (n, others) = numbered(&texts, "a", 100);
        assert_eq!(
            (n, lossy(&others)),
            (3, vec!["out".to_string(), "partial".to_string()]),
            "run {run}: a.1's lines\n{}",
            f.text()
        );
        let system = system_lines(&lines);
        assert!(
            !system.iter().any(|l| l.contains("held open")),
            "run {run}: {system:#?}"
        );
    }
}

#[test]
fn a_one_mebibyte_line_arrives_in_64k_pieces_without_losing_a_byte() {
    const LEN: usize = 1 << 20;
    const PIECE: usize = 64 * 1024;
    let dir = TestDir::new();
    dir.procfile(&format!(
        "a: $T --tag a --lines 2 --long {LEN} --marker after --pidfile a.pid\n"
    ));
    let f = dir.drover(PLAIN).run();
    f.assert_code(0);
    let lines = parse_text(&f.stdout);
    let texts = lines_of(&lines, "a.1");
    let (n, others) = numbered(&texts, "a", 100);
    assert_eq!(n, 2);
    let last = others
        .last()
        .map(|l| String::from_utf8_lossy(&l[..l.len().min(40)]).into_owned());
    assert_eq!(
        last.as_deref(),
        Some("after"),
        "the line after the long one"
    );
    let pieces = &others[..others.len() - 1];
    for (i, p) in pieces.iter().enumerate() {
        assert!(p.len() <= PIECE, "piece {i} is {} bytes", p.len());
        if i + 1 < pieces.len() {
            assert_eq!(p.len(), PIECE, "piece {i} is cut before the limit");
        }
    }
    let joined: Vec<u8> = pieces.concat();
    assert_eq!(joined.len(), LEN, "bytes of the long line");
    assert!(joined.iter().all(|&b| b == b'x'), "the long line's bytes");
    assert_eq!(pieces.len(), LEN / PIECE);
}

#[test]
fn invalid_utf8_passes_through_unchanged_in_text_mode() {
    let dir = TestDir::new();
    dir.procfile("a: $T --invalid-utf8 --marker after --pidfile a.pid\n");
    let f = dir.drover(PLAIN).run();
    f.assert_code(0);
    assert!(
        contains(&f.stdout, b"a.1    | bad:\xff\xfe\x80end\na.1    | after\n"),
        "{:?}",
        f.text()
    );
}

#[test]
fn stderr_lines_arrive() {
    let dir = TestDir::new();
    dir.procfile("e: $T --tag e --lines 20000 --stderr --pidfile e.pid\n");
    let f = dir.drover(PLAIN).run();
    f.assert_code(0);
    let lines = parse_text(&f.stdout);
    assert_all_lines(&lines, "e.1", "e", 20_000, 100, &[]);
}

/// The output lines; the lifecycle event objects among them (see
/// tests/it/events.rs) are checked for their version and time, and left out.
fn json_lines(out: &[u8]) -> Vec<serde_json::Value> {
    assert_eq!(out.last(), Some(&b'\n'), "output ends with a newline");
    out[..out.len() - 1]
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(i, l)| {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(l) else {
                return true;
            };
            if v.get("event").is_none() {
                return true;
            }
            assert_eq!(
                v["v"],
                1,
                "line {}: an event of another version: {v}",
                i + 1
            );
            let time = v["time"].as_str().unwrap_or_default();
            chrono::DateTime::parse_from_rfc3339(time)
                .unwrap_or_else(|e| panic!("line {}: time {time:?}: {e}", i + 1));
            false
        })
        .map(|(i, l)| {
            let v: serde_json::Value = serde_json::from_slice(l).unwrap_or_else(|e| {
                panic!(
                    "line {}: not JSON ({e}): {:?}",
                    i + 1,
                    String::from_utf8_lossy(l)
                )
            });
            for key in ["time", "process", "stream", "line"] {
                assert!(v[key].is_string(), "line {}: no string {key:?}: {v}", i + 1);
            }
            let time = v["time"].as_str().unwrap();
            chrono::DateTime::parse_from_rfc3339(time)
                .unwrap_or_else(|e| panic!("line {}: time {time:?}: {e}", i + 1));
            v
        })
        .collect()
}

/// The `line`s of `process` on `stream`, and whether each was flagged.
fn json_texts<'a>(
    lines: &'a [serde_json::Value],
    process: &str,
    stream: &str,
) -> Vec<(&'a str, bool)> {
    lines
        .iter()
        .filter(|v| v["process"] == process && v["stream"] == stream)
        .map(|v| {
            let flagged = match v.get("invalid_utf8") {
                None => false,
                Some(serde_json::Value::Bool(b)) => *b,
                Some(other) => panic!("invalid_utf8 is {other}"),
            };
            (v["line"].as_str().unwrap(), flagged)
        })
        .collect()
}

#[test]
fn json_output_carries_time_process_stream_and_line() {
    let dir = TestDir::new();
    dir.procfile(
        "a: $T --tag a --lines 2000 --both --invalid-utf8 --sentinel a.done --pidfile a.pid --stay\n\
         bee: $T --tag b --lines 1000 --stderr --sentinel b.done --pidfile b.pid --stay\n",
    );
    let run = dir.drover(&["--output", "json"]).spawn();
    dir.wait_for_file("a.done");
    dir.wait_for_file("b.done");
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = json_lines(&f.stdout);

    // `--both`: odd lines on stdout, even ones on stderr, each in order.
    let out = json_texts(&lines, "a.1", "stdout");
    let (bad, out) = out.split_last().expect("a.1 wrote to stdout");
    assert_eq!(bad.0, "bad:\u{fffd}\u{fffd}\u{fffd}end");
    assert!(bad.1, "the invalid line is flagged");
    let want: Vec<(String, bool)> = (1..=2000)
        .step_by(2)
        .map(|s| {
            (
                String::from_utf8(expected_line("a", s, 100)).unwrap(),
                false,
            )
        })
        .collect();
    let got: Vec<(String, bool)> = out.iter().map(|(l, f)| (l.to_string(), *f)).collect();
    assert!(
        got == want,
        "a.1 stdout lines differ from the odd lines 1..2000"
    );
    let err = json_texts(&lines, "a.1", "stderr");
    let want: Vec<(String, bool)> = (2..=2000)
        .step_by(2)
        .map(|s| {
            (
                String::from_utf8(expected_line("a", s, 100)).unwrap(),
                false,
            )
        })
        .collect();
    let got: Vec<(String, bool)> = err.iter().map(|(l, f)| (l.to_string(), *f)).collect();
    assert!(
        got == want,
        "a.1 stderr lines differ from the even lines 1..2000"
    );

    let err = json_texts(&lines, "bee.1", "stderr");
    assert_eq!(err.len(), 1000);
    for (i, (l, flagged)) in err.iter().enumerate() {
        assert_eq!(
            l.as_bytes(),
            expected_line("b", i as u64 + 1, 100),
            "bee.1 line {i}"
        );
        assert!(!flagged);
    }
    assert!(json_texts(&lines, "bee.1", "stdout").is_empty());

    let system = json_texts(&lines, "system", "system");
    assert!(
        system.iter().any(|(l, _)| l.contains("received SIGINT")),
        "{system:?}"
    );
    assert_eq!(
        lines.len(),
        2000 + 1 + 1000 + system.len(),
        "no other lines"
    );
}

/// The name column is as wide as the longest name, `system` included.
#[test]
fn name_column_is_padded_to_the_longest_name() {
    let dir = TestDir::new();
    dir.procfile(
        "a: $T --tag a --lines 2 --sentinel a.done --pidfile a.pid --stay\n\
         a_much_longer_name: $T --tag l --lines 2 --sentinel l.done --pidfile l.pid --stay\n",
    );
    let run = dir.drover(PLAIN).spawn();
    dir.wait_for_file("a.done");
    dir.wait_for_file("l.done");
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    let text = f.text();
    let width = "a_much_longer_name.1".len();
    for line in text.lines() {
        let name = line.split(' ').next().unwrap();
        assert!(
            line.starts_with(&format!("{name:<width$} | ")),
            "not padded to {width}: {line:?}"
        );
    }
    assert!(text.contains(&format!("{:<width$} | a 00000001", "a.1")));
    assert!(text.contains("a_much_longer_name.1 | l 00000002"));
    assert!(text.contains(&format!("{:<width$} | received SIGINT", "system")));
}

/// Two processes, their output, and a stop by SIGINT, with `args`; returns
/// drover's stdout.
fn small_run(launch: impl FnOnce(&TestDir) -> Launch) -> Vec<u8> {
    let dir = TestDir::new();
    dir.procfile(
        "web: $T --tag w --lines 3 --sentinel w.done --pidfile w.pid --stay\n\
         worker: $T --tag k --lines 3 --stderr --sentinel k.done --pidfile k.pid --stay\n",
    );
    let run = launch(&dir).spawn();
    dir.wait_for_file("w.done");
    dir.wait_for_file("k.done");
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    f.stdout
}

#[test]
fn color_always_colors_and_never_does_not() {
    let out = small_run(|d| d.drover(&["--no-timestamp", "--color", "always"]));
    let text = String::from_utf8_lossy(&out);
    for line in text.lines() {
        assert!(line.starts_with("\x1b["), "uncolored line: {line:?}");
    }
    // Each process has its own color, and system lines another.
    // The escape code before the name: `\x1b[36mweb.1 ...`.
    let color = |name: &str| {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("m{name} ")))
            .unwrap_or_else(|| panic!("no colored {name} line in {text:?}"));
        line[..line.find('m').unwrap() + 1].to_string()
    };
    let (web, worker, system) = (color("web.1"), color("worker.1"), color("system"));
    assert_ne!(web, worker);
    assert_ne!(web, system);

    let out = small_run(|d| d.drover(&["--no-timestamp", "--color", "never"]));
    assert!(
        !contains(&out, b"\x1b"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn a_terminal_gets_colors_unless_no_color_is_set() {
    let out = small_run(|d| d.drover(&["--no-timestamp"]).pty());
    assert!(
        contains(&out, b"\x1b["),
        "no color on a terminal: {:?}",
        String::from_utf8_lossy(&out)
    );
    assert!(contains(&out, b"w 00000003"));

    let out = small_run(|d| d.drover(&["--no-timestamp"]).pty().env("NO_COLOR", "1"));
    assert!(
        !contains(&out, b"\x1b"),
        "color despite NO_COLOR: {:?}",
        String::from_utf8_lossy(&out)
    );
    assert!(contains(&out, b"w 00000003"));

    // A pipe is not a terminal.
    let out = small_run(|d| d.drover(&["--no-timestamp"]));
    assert!(
        !contains(&out, b"\x1b"),
        "color on a pipe: {:?}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn lines_start_with_a_timestamp_unless_no_timestamp() {
    let out = small_run(|d| d.drover(&["--color", "never"]));
    let text = String::from_utf8_lossy(&out);
    let mut seen = 0;
    for line in text.lines() {
        let b = line.as_bytes();
        let ok = b.len() > 9
            && [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit())
            && b[2] == b':'
            && b[5] == b':'
            && b[8] == b' ';
        assert!(ok, "no `HH:MM:SS ` prefix: {line:?}");
        let rest = &line[9..];
        assert!(
            ["web.1 ", "worker.1 ", "system "]
                .iter()
                .any(|n| rest.starts_with(n)),
            "no name after the time: {line:?}"
        );
        let (h, m, s): (u32, u32, u32) = (
            line[0..2].parse().unwrap(),
            line[3..5].parse().unwrap(),
            line[6..8].parse().unwrap(),
        );
        assert!(h < 24 && m < 60 && s < 61, "{line:?}");
        seen += 1;
    }
    assert!(seen >= 6, "{text}");

    let out = small_run(|d| d.drover(PLAIN));
    let lines = parse_text(&out); // would reject a time before the name
    assert_all_lines(&lines, "web.1", "w", 3, 100, &[]);
    assert_all_lines(&lines, "worker.1", "k", 3, 100, &[]);
}
