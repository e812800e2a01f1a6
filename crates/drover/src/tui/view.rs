//! Drawing the TUI: the process list, the log pane, the status line and
//! the help, from an [`App`] onto any ratatui backend.
//!
//! Only reads the state (the pane height it records is for paging); what
//! the keys do is [`super::app`]'s business. Without color (`NO_COLOR`)
//! the selection and the search hits are shown reversed, so nothing is
//! told by color alone.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as TextLine, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::app::{uptime, App, Line, Prompt};
use super::stats::bytes;

/// The colors of `drover start`'s names, in the same order.
const NAME_COLORS: [Color; 11] = [
    Color::Cyan,
    Color::Yellow,
    Color::Green,
    Color::Magenta,
    Color::Blue,
    Color::LightRed,
    Color::LightCyan,
    Color::LightYellow,
    Color::LightGreen,
    Color::LightMagenta,
    Color::LightBlue,
];

/// The keys, for the help screen and the README.
pub(crate) const KEYS: &[(&str, &str)] = &[
    ("Up/Down, j/k", "select a process"),
    ("Enter", "log pane: the selected process / all of them"),
    ("r", "restart the selected process"),
    ("s", "stop it (start it when stopped)"),
    ("x", "send it a signal (asks which: HUP, USR1, 9, ...)"),
    ("p", "pause / resume the whole stack"),
    ("/", "search with a regex; n / N: next / previous match"),
    ("f", "follow the newest lines on / off"),
    ("PgUp/PgDn, Home/End", "scroll through the kept lines"),
    ("c", "copy the lines shown (OSC 52)"),
    (
        "a",
        "attach to the process's terminal (`tty = true`); Ctrl-] comes back",
    ),
    ("?", "this help"),
    (
        "q",
        "quit (the stack keeps running; under start --tui: asks, then stops it)",
    ),
];

/// Draws the whole screen.
pub(crate) fn render(f: &mut Frame<'_>, app: &mut App, color: bool) {
    let area = f.area();
    let list_height = (app.rows.len() as u16 + 3).min(area.height.saturating_sub(4) / 2 + 1);
    let [list, logs, status] = Layout::vertical([
        Constraint::Length(list_height),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    render_list(f, app, list, color);
    render_logs(f, app, logs, color);
    render_status(f, app, status, color);
    if app.help {
        render_help(f, area);
    }
}

fn paint(color: bool, style: Style) -> Style {
    if color {
        style
    } else {
        Style::default().add_modifier(style.add_modifier)
    }
}

fn state_color(state: &str) -> Color {
    match state {
        "running" | "ready" => Color::Green,
        "waiting" | "restarting" | "starting" => Color::Yellow,
        "stopping" => Color::Magenta,
        "failed" => Color::Red,
        "paused" => Color::Blue,
        _ => Color::DarkGray,
    }
}

fn render_list(f: &mut Frame<'_>, app: &App, area: Rect, color: bool) {
    let width = app
        .rows
        .iter()
        .map(|r| r.info.name.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let head = format!(
        "  {:<width$}  {:<10} {:<5} {:>7} {:>8} {:>8} {:>6} {:>7}",
        "NAME", "STATE", "READY", "PID", "UPTIME", "RESTARTS", "CPU%", "RSS"
    );
    let mut lines = vec![TextLine::styled(
        head,
        Style::default().add_modifier(Modifier::BOLD),
    )];
    let room = area.height.saturating_sub(3) as usize;
    let first = app.selected.saturating_sub(room.saturating_sub(1));
    for (i, r) in app.rows.iter().enumerate().skip(first).take(room.max(1)) {
        let chosen = i == app.selected;
        let base = if chosen {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        };
        let dash = || "-".to_string();
        let (cpu, rss) = r.usage.map_or((dash(), dash()), |u| {
            (format!("{:.1}", u.cpu), bytes(u.rss))
        });
        lines.push(TextLine::from(vec![
            Span::styled(if chosen { "> " } else { "  " }, base),
            Span::styled(
                format!("{:<width$}", r.info.name),
                paint(color, base.fg(NAME_COLORS[i % NAME_COLORS.len()])),
            ),
            Span::styled("  ", base),
            Span::styled(
                format!("{:<10}", r.info.state),
                paint(color, base.fg(state_color(&r.info.state))),
            ),
            Span::styled(
                format!(
                    " {:<5} {:>7} {:>8} {:>8} {:>6} {:>7}",
                    match (r.info.ready, r.info.pid) {
                        (true, _) => "yes",
                        (false, Some(_)) => "no",
                        (false, None) => "-",
                    },
                    r.info.pid.map_or_else(dash, |p| p.to_string()),
                    r.info.uptime_secs.map_or_else(dash, uptime),
                    r.info.restarts,
                    cpu,
                    rss
                ),
                base,
            ),
        ]));
    }
    let title = format!(" drover: {} processes ", app.rows.len());
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}

fn render_logs(f: &mut Frame<'_>, app: &mut App, area: Rect, color: bool) {
    let height = area.height.saturating_sub(2) as usize;
    app.page = height.max(1);
    let width = app
        .rows
        .iter()
        .map(|r| r.info.name.chars().count())
        .max()
        .unwrap_or(0);
    let lines: Vec<TextLine<'_>> = app
        .window(height)
        .into_iter()
        .map(|l| log_line(app, l, width, color))
        .collect();
    let which = if app.one {
        app.selected_name().unwrap_or("-").to_owned()
    } else {
        "all".to_owned()
    };
    let mut title = format!(" logs: {which} ");
    title.push_str(if app.follow {
        "[follow] "
    } else {
        "[scrolled: End to follow] "
    });
    if let Some(re) = &app.search {
        title.push_str(&format!("[/{}] ", re.as_str()));
    }
    if app.skipped > 0 {
        title.push_str(&format!(
            "[fell behind: {} skipped, caught up from the ring] ",
            app.skipped
        ));
    }
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}

fn log_line<'a>(app: &'a App, l: &'a Line, width: usize, color: bool) -> TextLine<'a> {
    let index = app.colors.get(&l.process).copied().unwrap_or(0);
    let mut spans = vec![
        Span::styled(
            format!("{} ", l.time),
            paint(color, Style::default().fg(Color::DarkGray)),
        ),
        Span::styled(
            format!("{:<width$} |", l.process),
            paint(
                color,
                Style::default().fg(NAME_COLORS[index % NAME_COLORS.len()]),
            ),
        ),
        Span::raw(" "),
    ];
    let text_style = if l.stderr {
        paint(color, Style::default().add_modifier(Modifier::DIM))
    } else {
        Style::default()
    };
    let hit = if color {
        Style::default().fg(Color::Black).bg(Color::Yellow)
    } else {
        Style::default().add_modifier(Modifier::REVERSED)
    };
    let mut at = 0;
    if let Some(re) = &app.search {
        for m in re.find_iter(&l.text).filter(|m| !m.is_empty()) {
            spans.push(Span::styled(&l.text[at..m.start()], text_style));
            spans.push(Span::styled(m.as_str(), hit));
            at = m.end();
        }
    }
    spans.push(Span::styled(&l.text[at..], text_style));
    TextLine::from(spans)
}

fn render_status(f: &mut Frame<'_>, app: &App, area: Rect, color: bool) {
    let target = app.selected_name().unwrap_or("-");
    let text = match &app.prompt {
        Some(Prompt::Search(t)) => format!("/{t}"),
        Some(Prompt::Signal(t)) => {
            format!("signal for {target} (HUP, USR1, 9, ...; Esc cancels): {t}")
        }
        Some(Prompt::ConfirmQuit) => "stop every process and quit? (y/n)".into(),
        None => {
            let tail = if app.message.is_empty() {
                "j/k select  Enter one/all  r restart  s stop/start  x signal  p pause  / search  f follow  ? help  q quit".to_owned()
            } else {
                app.message.clone()
            };
            format!("[drover: {}] {tail}", app.drover)
        }
    };
    let style = match app.drover.as_str() {
        "running" => Style::default(),
        _ => paint(
            color,
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        ),
    };
    f.render_widget(Paragraph::new(TextLine::styled(text, style)), area);
}

fn render_help(f: &mut Frame<'_>, area: Rect) {
    let width = (area.width.saturating_sub(4)).min(90);
    let height = (KEYS.len() as u16 + 4).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let mut lines: Vec<TextLine<'_>> = KEYS
        .iter()
        .map(|(k, what)| TextLine::from(format!(" {k:<20} {what}")))
        .collect();
    lines.push(TextLine::from(" any key closes this help"));
    f.render_widget(Clear, popup);
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" keys ")),
        popup,
    );
}
