//! drover's output, checked: every line written with [`PLAIN`] flags is
//! `NAME<padding> | TEXT`, and the testchild's numbered lines must arrive
//! each once, intact and in order ([`numbered`], [`assert_all_lines`]).
//! Also the waits for a line on a running drover's stdout.

use super::*;

/// One output line: the name column (trimmed) and the text after `| `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// `web.1`, or `system`.
    pub name: String,
    /// The text, without newline.
    pub text: Vec<u8>,
}

impl Line {
    /// The text (lossy), for messages and simple comparisons.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }
}

/// Parses output written with [`PLAIN`] flags: every line is
/// `NAME<padding> | TEXT`, with the `|` in the same column on every line, and
/// the output ends with a newline. Panics on anything else (a torn line).
pub fn parse_text(out: &[u8]) -> Vec<Line> {
    if out.is_empty() {
        return Vec::new();
    }
    assert_eq!(
        out.last(),
        Some(&b'\n'),
        "output does not end with a newline"
    );
    let mut lines = Vec::new();
    let mut column = None;
    for (i, raw) in out[..out.len() - 1].split(|&b| b == b'\n').enumerate() {
        let at = find(raw, b" | ").unwrap_or_else(|| {
            panic!(
                "output line {} has no name column: {:?}",
                i + 1,
                String::from_utf8_lossy(&raw[..raw.len().min(200)])
            )
        });
        match column {
            None => column = Some(at),
            Some(c) => assert_eq!(
                c,
                at,
                "output line {} has its `|` in another column: {:?}",
                i + 1,
                String::from_utf8_lossy(&raw[..raw.len().min(200)])
            ),
        }
        let name = std::str::from_utf8(&raw[..at]).expect("names are UTF-8");
        let trimmed = name.trim_end();
        assert!(
            !trimmed.is_empty() && !trimmed.contains(' '),
            "output line {} has a bad name column: {name:?}",
            i + 1
        );
        lines.push(Line {
            name: trimmed.to_string(),
            text: raw[at + 3..].to_vec(),
        });
    }
    lines
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The texts of `name`'s lines, in order.
pub fn lines_of<'a>(lines: &'a [Line], name: &str) -> Vec<&'a [u8]> {
    lines
        .iter()
        .filter(|l| l.name == name)
        .map(|l| l.text.as_slice())
        .collect()
}

/// `texts` as strings (invalid UTF-8 replaced), for comparisons that print
/// well when they fail.
pub fn lossy(texts: &[&[u8]]) -> Vec<String> {
    texts
        .iter()
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect()
}

/// The texts of `system` lines.
pub fn system_lines(lines: &[Line]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.name == "system")
        .map(Line::text)
        .collect()
}

/// 32-bit FNV-1a, as the testchild uses for its pad letter.
fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The testchild's line `seq` for `tag`, `len` bytes with its newline
/// (returned without the newline).
pub fn expected_line(tag: &str, seq: u64, len: usize) -> Vec<u8> {
    let pad = b'a' + (fnv1a32(tag.as_bytes()) % 26) as u8;
    let mut line = format!("{tag} {:08} ", seq % 100_000_000).into_bytes();
    assert!(line.len() < len, "--len {len} too short for tag {tag:?}");
    line.resize(len - 1, pad);
    line
}

/// The numbered lines among `texts` (those starting with `TAG `), checked:
/// they must be exactly lines 1, 2, 3, ... in that order, each intact. Returns
/// how many there were and the other lines, in order.
pub fn numbered<'a>(texts: &[&'a [u8]], tag: &str, len: usize) -> (u64, Vec<&'a [u8]>) {
    let prefix = format!("{tag} ");
    let mut next = 1u64;
    let mut others = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        if !text.starts_with(prefix.as_bytes()) {
            others.push(*text);
            continue;
        }
        let want = expected_line(tag, next, len);
        if *text != want.as_slice() {
            let got_seq =
                String::from_utf8_lossy(&text[prefix.len()..text.len().min(prefix.len() + 8)]);
            panic!(
                "line {i} of {tag:?}: expected line {next}, got (seq {got_seq:?}, {} bytes):\n  {:?}\nexpected:\n  {:?}",
                text.len(),
                String::from_utf8_lossy(&text[..text.len().min(120)]),
                String::from_utf8_lossy(&want[..want.len().min(120)]),
            );
        }
        next += 1;
    }
    (next - 1, others)
}

/// Asserts that `name`'s lines are exactly `count` numbered lines of `tag`
/// (each `len` bytes) plus, in order, the `extras`.
pub fn assert_all_lines(
    lines: &[Line],
    name: &str,
    tag: &str,
    count: u64,
    len: usize,
    extras: &[&str],
) {
    let texts = lines_of(lines, name);
    let (n, others) = numbered(&texts, tag, len);
    assert_eq!(n, count, "{name}: numbered lines that arrived");
    let others: Vec<String> = others
        .iter()
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect();
    assert_eq!(others, extras, "{name}: its other lines");
}

// ---------------------------------------------------------------------------
// Output of a running or finished drover

/// Waits until `n` lines of drover's stdout contain `needle`.
pub fn wait_for_nth(run: &DroverRun, needle: &str, n: usize) {
    let mut seen = 0;
    run.wait_for_line(&format!("{needle:?} {n} times on stdout"), |l| {
        seen += usize::from(contains(l, needle.as_bytes()));
        seen == n
    });
}

/// The lines of a finished drover, parsed.
pub fn lines(f: &Finished) -> Vec<Line> {
    parse_text(&f.stdout)
}

/// Texts of `name`'s lines as strings.
pub fn texts(lines: &[Line], name: &str) -> Vec<String> {
    lossy(&lines_of(lines, name))
}

/// Index of the first line of `name` whose text contains `needle`.
pub fn position(lines: &[Line], name: &str, needle: &str) -> usize {
    lines
        .iter()
        .position(|l| l.name == name && l.text().contains(needle))
        .unwrap_or_else(|| {
            panic!(
                "no {name} line with {needle:?}:\n{}",
                lines
                    .iter()
                    .map(|l| format!("{} | {}", l.name, l.text()))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })
}

/// Waits until drover prints the line `text` for process `name` (any
/// padding of the name column): `NAME<padding> | TEXT`.
pub fn wait_for_child_line(run: &DroverRun, name: &str, text: &str) {
    run.wait_for_line(&format!("{name} | {text}"), |l| {
        let Some(at) = l.windows(3).position(|w| w == b" | ") else {
            return false;
        };
        l[..at].trim_ascii_end() == name.as_bytes() && &l[at + 3..] == text.as_bytes()
    });
}

/// The system lines after those of the start: every `NAME started (pid N)`
/// and the `every process is ready` line.
pub fn after_start(system: &[String]) -> Vec<String> {
    system
        .iter()
        .skip_while(|l| l.contains(" started (pid ") || *l == "every process is ready")
        .cloned()
        .collect()
}
