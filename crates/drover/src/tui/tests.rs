//! The screen drawn on ratatui's `TestBackend`, and the keys that change it.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;

use super::app::{plain, Action, App, Row};
use super::stats::Usage;
use super::view;
use crate::control::protocol::{LogLine, ProcessInfo, Request};

fn row(name: &str, state: &str, pid: Option<i32>) -> Row {
    Row {
        info: ProcessInfo {
            name: name.into(),
            pid,
            state: state.into(),
            ready: state == "ready",
            why: None,
            uptime_secs: pid.map(|_| 75),
            restarts: 1,
            last_exit: None,
            exit_status: None,
        },
        usage: pid.map(|_| Usage {
            cpu: 12.5,
            rss: 3 << 20,
        }),
    }
}

fn line(process: &str, text: &str) -> LogLine {
    LogLine {
        time: "2026-12-04T17:00:01.000Z".into(),
        process: process.into(),
        stream: "stdout".into(),
        line: text.into(),
    }
}

fn app() -> App {
    let mut a = App::new(false);
    a.set_rows(vec![
        row("web.1", "running", Some(101)),
        row("worker.1", "ready", Some(102)),
        row("clock.1", "stopped", None),
    ]);
    for i in 0..5 {
        a.push(&line("web.1", &format!("GET /{i} 200")));
        a.push(&line("worker.1", &format!("job {i} done")));
    }
    a
}

fn key(a: &mut App, code: KeyCode) -> Action {
    a.key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn draw(a: &mut App, color: bool) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(80, 20)).unwrap();
    t.draw(|f| view::render(f, a, color)).unwrap();
    t.backend().buffer().clone()
}

fn text(b: &Buffer) -> Vec<String> {
    (0..b.area.height)
        .map(|y| {
            (0..b.area.width)
                .map(|x| b[(x, y)].symbol())
                .collect::<String>()
        })
        .collect()
}

fn find(b: &Buffer, needle: &str) -> Option<(u16, u16)> {
    text(b).iter().enumerate().find_map(|(y, l)| {
        let x = l.find(needle)?;
        // Column in cells: the box characters are several bytes each.
        Some((l[..x].chars().count() as u16, y as u16))
    })
}

#[test]
fn the_list_shows_each_process_with_state_pid_uptime_cpu_and_memory() {
    let mut a = app();
    let b = draw(&mut a, true);
    let t = text(&b);
    assert!(t[1].contains("NAME") && t[1].contains("CPU%") && t[1].contains("RSS"));
    assert!(
        t[2].starts_with("│> web.1     running    no        101    1m15s        1   12.5    3.0M"),
        "{}",
        t[2]
    );
    assert!(t[3].contains("worker.1  ready      yes"), "{}", t[3]);
    let words: Vec<&str> = t[4].split_whitespace().collect();
    assert_eq!(
        words[1..9],
        ["clock.1", "stopped", "-", "-", "-", "1", "-", "-"],
        "{}",
        t[4]
    );
    let (x, y) = find(&b, "running").unwrap();
    assert_eq!(b[(x, y)].fg, Color::Green);
    let (x, y) = find(&b, "stopped").unwrap();
    assert_eq!(b[(x, y)].fg, Color::DarkGray);
    // The first process starts selected, shown reversed.
    assert!(b[(2, 2)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn the_log_pane_merges_all_or_shows_the_selected_one_in_start_colors() {
    let mut a = app();
    let b = draw(&mut a, true);
    let t = text(&b);
    assert!(t.iter().any(|l| l.contains("logs: all [follow]")));
    assert!(t
        .iter()
        .any(|l| l.contains("17:00:01 web.1    | GET /4 200")));
    assert!(t
        .iter()
        .any(|l| l.contains("17:00:01 worker.1 | job 4 done")));
    // web.1 is cyan and worker.1 yellow, as in `drover start`.
    let (x, y) = find(&b, "web.1    | GET /4").unwrap();
    assert_eq!(b[(x, y)].fg, Color::Cyan);
    let (x, y) = find(&b, "worker.1 | job 4").unwrap();
    assert_eq!(b[(x, y)].fg, Color::Yellow);

    key(&mut a, KeyCode::Char('j'));
    key(&mut a, KeyCode::Enter);
    let t = text(&draw(&mut a, true));
    assert!(t.iter().any(|l| l.contains("logs: worker.1")));
    assert!(!t.iter().any(|l| l.contains("GET /")));
    assert_eq!(t.iter().filter(|l| l.contains("job ")).count(), 5);
    key(&mut a, KeyCode::Enter);
    assert!(text(&draw(&mut a, true))
        .iter()
        .any(|l| l.contains("GET /")));
}

#[test]
fn search_highlights_every_match_and_n_moves_between_them() {
    let mut a = app();
    key(&mut a, KeyCode::Char('/'));
    for c in "job [13]".chars() {
        key(&mut a, KeyCode::Char(c));
    }
    assert!(text(&draw(&mut a, true))
        .last()
        .unwrap()
        .starts_with("/job [13]"));
    key(&mut a, KeyCode::Enter);
    // The newest match is the lowest line shown, follow off.
    let b = draw(&mut a, true);
    let t = text(&b);
    assert!(t.iter().any(|l| l.contains("[/job [13]]")));
    let lowest = t.iter().rev().find(|l| l.contains(" | ")).unwrap();
    assert!(lowest.contains("job 3 done"), "{lowest}");
    let (x, y) = find(&b, "job 3").unwrap();
    assert_eq!((b[(x, y)].fg, b[(x, y)].bg), (Color::Black, Color::Yellow));
    let (x, y) = find(&b, "job 4").unwrap_or((0, 0));
    assert_ne!(b[(x, y)].bg, Color::Yellow);
    // N: the previous (older) match; n: back to the newer one.
    key(&mut a, KeyCode::Char('N'));
    let t = text(&draw(&mut a, true));
    let lowest = t.iter().rev().find(|l| l.contains(" | ")).unwrap();
    assert!(lowest.contains("job 1 done"), "{lowest}");
    key(&mut a, KeyCode::Char('n'));
    let t = text(&draw(&mut a, true));
    let lowest = t.iter().rev().find(|l| l.contains(" | ")).unwrap();
    assert!(lowest.contains("job 3 done"), "{lowest}");
    // Without color the hit is reversed instead.
    let b = draw(&mut a, false);
    let (x, y) = find(&b, "job 3").unwrap();
    assert!(b[(x, y)].modifier.contains(Modifier::REVERSED));
    assert_eq!(b[(x, y)].bg, Color::Reset);
}

#[test]
fn help_lists_every_key_and_any_key_closes_it() {
    let mut a = app();
    key(&mut a, KeyCode::Char('?'));
    let t = text(&draw(&mut a, true));
    for (k, _) in view::KEYS {
        assert!(t.iter().any(|l| l.contains(k)), "{k} missing");
    }
    assert_eq!(key(&mut a, KeyCode::Char('r')), Action::None);
    assert!(!text(&draw(&mut a, true))
        .iter()
        .any(|l| l.contains(" keys ")));
}

#[test]
fn the_status_line_shows_drovers_state_the_keys_and_prompts() {
    let mut a = app();
    let t = text(&draw(&mut a, true));
    assert!(
        t[19].starts_with("[drover: running] j/k select"),
        "{}",
        t[19]
    );
    assert_eq!(
        key(&mut a, KeyCode::Char('p')),
        Action::Send(Request::Pause)
    );
    assert!(text(&draw(&mut a, true))[19].starts_with("[drover: paused]"));
    assert_eq!(
        key(&mut a, KeyCode::Char('p')),
        Action::Send(Request::Resume)
    );
    let mut rows = a.rows.clone();
    for r in &mut rows {
        r.info.state = "stopping".into();
    }
    a.set_rows(rows);
    assert!(text(&draw(&mut a, true))[19].starts_with("[drover: stopping]"));
    key(&mut a, KeyCode::Char('x'));
    for c in "HUP".chars() {
        key(&mut a, KeyCode::Char(c));
    }
    assert!(text(&draw(&mut a, true))[19].contains("signal for web.1"));
    assert_eq!(
        key(&mut a, KeyCode::Enter),
        Action::Send(Request::Kill {
            name: "web.1".into(),
            signal: "HUP".into()
        })
    );
    assert_eq!(
        key(&mut a, KeyCode::Char('a')),
        Action::Attach("web.1".into())
    );
}

#[test]
fn keys_ask_drover_for_restart_stop_and_start() {
    let mut a = app();
    assert_eq!(
        key(&mut a, KeyCode::Char('r')),
        Action::Send(Request::Restart {
            names: vec!["web.1".into()],
            wait: false
        })
    );
    assert_eq!(
        key(&mut a, KeyCode::Char('s')),
        Action::Send(Request::Stop {
            names: vec!["web.1".into()],
            force: false
        })
    );
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Down);
    // clock.1 is stopped: s starts it.
    assert_eq!(
        key(&mut a, KeyCode::Char('s')),
        Action::Send(Request::Restart {
            names: vec!["clock.1".into()],
            wait: false
        })
    );
    assert_eq!(
        key(&mut a, KeyCode::Char('q')),
        Action::Quit { shutdown: false }
    );
    let mut owned = App::new(true);
    assert_eq!(key(&mut owned, KeyCode::Char('q')), Action::None);
    assert_eq!(
        key(&mut owned, KeyCode::Char('y')),
        Action::Quit { shutdown: true }
    );
}

#[test]
fn scrolling_pages_through_the_kept_lines_and_end_follows_again() {
    let mut a = App::new(false);
    a.set_rows(vec![row("web.1", "running", Some(1))]);
    for i in 0..100 {
        a.push(&line("web.1", &format!("line {i}")));
    }
    draw(&mut a, true);
    key(&mut a, KeyCode::Home);
    let t = text(&draw(&mut a, true));
    assert!(t.iter().any(|l| l.contains("| line 0 ")), "{t:#?}");
    key(&mut a, KeyCode::PageDown);
    assert!(!text(&draw(&mut a, true))
        .iter()
        .any(|l| l.contains("| line 0 ")));
    // New lines do not move a scrolled view.
    let before = text(&draw(&mut a, true));
    a.push(&line("web.1", "newest"));
    assert_eq!(text(&draw(&mut a, true)), before);
    key(&mut a, KeyCode::End);
    assert!(text(&draw(&mut a, true))
        .iter()
        .any(|l| l.contains("| newest")));
    key(&mut a, KeyCode::PageUp);
    assert!(!text(&draw(&mut a, true))
        .iter()
        .any(|l| l.contains("| newest")));
    match key(&mut a, KeyCode::Char('c')) {
        Action::Copy(t) => assert!(t.contains("web.1 | line ")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn lines_lose_every_terminal_control() {
    assert_eq!(plain("\x1b[31mred\x1b[0m\tok"), "red    ok");
    assert_eq!(plain("\x1b]0;title\x07x"), "\\x1b]0;title\\x07x");
}
