use super::*;
use proptest::prelude::*;

/// What the framer printed: each line as text, partial ones marked `~`.
#[derive(Default)]
struct Out(Vec<String>);

impl Out {
    fn sink(&mut self) -> impl FnMut(TtyLine<'_>) + '_ {
        |l| {
            let text = String::from_utf8_lossy(l.bytes).into_owned();
            self.0
                .push(if l.partial { format!("~{text}") } else { text });
        }
    }
}

/// Frames `chunks` read at the same instant, then the end of the stream.
fn frame(keep_sgr: bool, chunks: &[&[u8]]) -> Vec<String> {
    let mut f = TtyFramer::new(keep_sgr);
    let mut out = Out::default();
    let now = Instant::now();
    for c in chunks {
        f.push(c, now, out.sink());
    }
    f.finish(out.sink());
    out.0
}

#[test]
fn crlf_and_lf_end_lines() {
    assert_eq!(
        frame(false, &[b"one\r\ntwo\nthree\r", b"\n"]),
        ["one", "two", "three"]
    );
}

#[test]
fn empty_lines_are_kept() {
    assert_eq!(frame(false, &[b"\r\n\r\nx\r\n"]), ["", "", "x"]);
}

#[test]
fn a_bare_cr_replaces_the_line_and_only_the_last_state_is_printed() {
    let bar: &[&[u8]] = &[b"  0%\r 10%", b"\r 50%\r", b"100%\r\n", b"done\r\n"];
    assert_eq!(frame(false, bar), ["100%", "done"]);
}

#[test]
fn a_cr_split_from_its_lf_across_reads_is_still_a_newline() {
    assert_eq!(frame(false, &[b"a\r", b"\nb\r", b"\r\n"]), ["a", "b"]);
}

#[test]
fn cursor_moves_titles_and_clear_screen_are_removed() {
    let data: &[u8] =
        b"\x1b]0;my title\x07\x1b[2J\x1b[H\x1b[?25lhel\x1b[1Clo\x1b[K\x1b(B\x1b7!\x1b]2;t\x1b\\\r\n";
    assert_eq!(frame(false, &[data]), ["hello!"]);
}

#[test]
fn an_escape_split_across_reads_is_still_removed() {
    assert_eq!(
        frame(false, &[b"a\x1b", b"[3", b"1mb\x1b]0;x", b"\x07c\n"]),
        ["abc"]
    );
}

#[test]
fn sgr_colors_are_kept_when_asked_and_reset_at_the_end() {
    let data: &[u8] = b"\x1b[31mred\x1b[0m \x1b[1;32mgreen\x1b[2K\r\n";
    assert_eq!(
        frame(true, &[data]),
        ["\x1b[31mred\x1b[0m \x1b[1;32mgreen\x1b[0m"]
    );
    assert_eq!(frame(false, &[data]), ["red green"]);
}

#[test]
fn a_line_of_colors_only_is_not_printed_at_the_end_of_the_stream() {
    assert_eq!(frame(true, &[b"x\n\x1b[0m"]), ["x"]);
}

#[test]
fn backspace_removes_the_last_character() {
    assert_eq!(frame(false, &["abé\x08\x08c\r\n".as_bytes()]), ["ac"]);
}

#[test]
fn other_controls_draw_nothing_and_tabs_stay() {
    assert_eq!(frame(false, &[b"a\x07\x00b\tc\x7f\r\n"]), ["ab\tc"]);
}

#[test]
fn the_last_line_without_newline_is_printed_at_the_end() {
    assert_eq!(frame(false, &[b"one\r\nlast"]), ["one", "last"]);
    assert_eq!(frame(false, &[b"50%\r"]), ["50%"]);
}

#[test]
fn overlong_lines_are_cut_without_losing_bytes() {
    let mut f = TtyFramer::with_max_line(false, 10);
    let mut out = Out::default();
    f.push(&[b'x'; 25], Instant::now(), out.sink());
    f.push(b"\r\n", Instant::now(), out.sink());
    let lens: Vec<usize> = out.0.iter().map(String::len).collect();
    assert_eq!(lens, [10, 10, 5]);
}

#[tokio::test(start_paused = true)]
async fn a_quiet_prompt_is_printed_as_partial_and_its_rest_follows_on_a_line() {
    let mut f = TtyFramer::new(false);
    let mut out = Out::default();
    f.push(b"(Pdb) ", Instant::now(), out.sink());
    let deadline = f.deadline().expect("a partial line has a deadline");
    assert_eq!(deadline, Instant::now() + QUIET);

    tokio::time::advance(QUIET - Duration::from_millis(1)).await;
    f.tick(Instant::now(), out.sink());
    assert!(out.0.is_empty(), "not quiet long enough: {:?}", out.0);

    tokio::time::sleep_until(deadline).await;
    f.tick(Instant::now(), out.sink());
    assert_eq!(out.0, ["~(Pdb) "]);
    assert_eq!(f.deadline(), None, "printed once");

    // The user's answer, echoed by the terminal, and the program's reply.
    f.push(b"p x\r\n42\r\n", Instant::now(), out.sink());
    assert_eq!(out.0, ["~(Pdb) ", "p x", "42"]);
}

#[tokio::test(start_paused = true)]
async fn a_prompt_answered_with_nothing_echoed_leaves_no_empty_line() {
    let mut f = TtyFramer::new(false);
    let mut out = Out::default();
    f.push(b"Password: ", Instant::now(), out.sink());
    tokio::time::advance(QUIET).await;
    f.tick(Instant::now(), out.sink());
    f.push(b"\r\nok\r\n", Instant::now(), out.sink());
    assert_eq!(out.0, ["~Password: ", "ok"]);
}

#[tokio::test(start_paused = true)]
async fn a_line_that_keeps_growing_is_not_printed_early() {
    let mut f = TtyFramer::new(false);
    let mut out = Out::default();
    for _ in 0..10 {
        f.push(b".", Instant::now(), out.sink());
        tokio::time::advance(QUIET / 2).await;
        f.tick(Instant::now(), out.sink());
    }
    f.push(b"\r\n", Instant::now(), out.sink());
    assert_eq!(out.0, [".........."]);
}

#[tokio::test(start_paused = true)]
async fn a_progress_line_prints_at_most_one_intermediate_state_a_second() {
    let mut f = TtyFramer::new(false);
    let mut out = Out::default();
    // 35 states, 100 ms apart: 3.5 s of a changing progress line.
    for pct in 0..35 {
        f.push(format!("\r{pct:3}%").as_bytes(), Instant::now(), out.sink());
        tokio::time::advance(Duration::from_millis(100)).await;
        f.tick(Instant::now(), out.sink());
    }
    f.push(b"\r100%\r\n", Instant::now(), out.sink());
    // One intermediate state after each full second, then the last state.
    assert_eq!(out.0, ["~  9%", "~ 19%", "~ 29%", "100%"]);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_progress_line_is_printed_as_it_stands_but_not_twice_a_second() {
    let mut f = TtyFramer::new(false);
    let mut out = Out::default();
    f.push(b"10%", Instant::now(), out.sink());
    tokio::time::advance(Duration::from_millis(100)).await;
    f.push(b"\r20%", Instant::now(), out.sink());
    // Quiet for 300 ms, but the line is a progress line begun 100 ms ago:
    // its next print is due a second after it began.
    let began = Instant::now() - Duration::from_millis(100);
    assert_eq!(f.deadline(), Some(began + PROGRESS_EVERY));
    tokio::time::sleep_until(f.deadline().unwrap()).await;
    f.tick(Instant::now(), out.sink());
    assert_eq!(out.0, ["~20%"]);
    f.push(b"\r30%\r\n", Instant::now(), out.sink());
    assert_eq!(out.0, ["~20%", "30%"]);
}

#[tokio::test(start_paused = true)]
async fn an_incomplete_utf8_character_waits_for_its_other_bytes() {
    let mut f = TtyFramer::new(false);
    let mut out = Out::default();
    let e = "é".as_bytes();
    f.push(&[b'a', e[0]], Instant::now(), out.sink());
    tokio::time::advance(QUIET).await;
    f.tick(Instant::now(), out.sink());
    f.push(&[e[1], b'\n'], Instant::now(), out.sink());
    assert_eq!(out.0, ["~a", "é"]);
}

proptest! {
    /// Plain text with `\r\n` line ends, cut anywhere, comes out as the
    /// same lines.
    #[test]
    fn plain_lines_survive_any_cut(
        lines in proptest::collection::vec("[ -~é]{0,40}", 0..20),
        cuts in proptest::collection::vec(0usize..2000, 0..20),
    ) {
        let data: Vec<u8> = lines.iter().flat_map(|l| format!("{l}\r\n").into_bytes()).collect();
        let mut cuts: Vec<usize> = cuts.into_iter().filter(|c| *c <= data.len()).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut prev = 0;
        for c in cuts { chunks.push(&data[prev..c]); prev = c; }
        chunks.push(&data[prev..]);
        prop_assert_eq!(frame(false, &chunks), lines);
    }

    /// Whatever the bytes, nothing printed holds an escape or a control
    /// other than a tab when colors are removed.
    #[test]
    fn no_escape_survives_without_colors(data in proptest::collection::vec(any::<u8>(), 0..500)) {
        for line in frame(false, &[&data]) {
            let line = line.trim_start_matches('~');
            prop_assert!(!line.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f), "{:?}", line);
        }
    }
}
