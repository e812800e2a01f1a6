//! Text from a control socket made safe for a terminal.
//!
//! Whatever a server sends (log lines, process names, error messages) is
//! printed by the clients; a terminal acts on control characters and escape
//! sequences in it (clearing the screen, moving the cursor, setting the
//! window title, answering queries into its input). Only SGR sequences,
//! the colors drover itself emits (`ESC [ … m`), pass; every other C0 or C1
//! control but the tab is shown as a visible escape (`\x1b`, `\u{9b}`).
//!
//! This module only rewrites text; it must not decide what is printed.

use std::borrow::Cow;
use std::fmt::Write as _;

/// The longest SGR parameter list kept; a longer one is shown escaped.
const MAX_SGR_PARAMS: usize = 64;

/// `text` with every control character but the tab, and every escape
/// sequence but SGR, replaced by a visible escape.
pub fn clean(text: &str) -> Cow<'_, str> {
    let Some(first) = first_unsafe(text) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    let mut rest = &text[first..];
    while let Some(c) = rest.chars().next() {
        let kept = match c {
            '\x1b' => sgr_len(rest).unwrap_or(0),
            '\t' => 1,
            c if is_control(c) => 0,
            c => c.len_utf8(),
        };
        if kept > 0 {
            out.push_str(&rest[..kept]);
            rest = &rest[kept..];
            continue;
        }
        if (c as u32) < 0x80 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// JSON text with DEL and the C1 controls, which JSON leaves as they are,
/// written as `\u` escapes: the same JSON, safe for a terminal. (JSON
/// escapes the C0 controls itself; outside strings it has none of these.)
pub fn clean_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(|c| matches!(c as u32, 0x7f..=0x9f)) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if matches!(c as u32, 0x7f..=0x9f) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Where the first character that must be escaped is, if any.
fn first_unsafe(text: &str) -> Option<usize> {
    let mut i = 0;
    while let Some(c) = text[i..].chars().next() {
        i += match c {
            '\x1b' => match sgr_len(&text[i..]) {
                Some(n) => n,
                None => return Some(i),
            },
            '\t' => 1,
            c if is_control(c) => return Some(i),
            c => c.len_utf8(),
        };
    }
    None
}

/// C0 controls, DEL and C1 controls.
fn is_control(c: char) -> bool {
    matches!(c as u32, 0..=0x1f | 0x7f..=0x9f)
}

/// The length of the SGR sequence `text` starts with (`ESC [`, digits,
/// `;` or `:`, then `m`), if it starts with one.
fn sgr_len(text: &str) -> Option<usize> {
    let params = text.strip_prefix("\x1b[")?;
    let n = params
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b';' || *b == b':')
        .count();
    (n <= MAX_SGR_PARAMS && params.as_bytes().get(n) == Some(&b'm')).then_some(2 + n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_and_colors_pass_unchanged() {
        for text in [
            "hello",
            "tab\there",
            "\x1b[31mred\x1b[0m",
            "\x1b[1;38;5;208mbold\x1b[m",
            "\x1b[38:2:1:2:3mtrue color\x1b[0m",
            "héllo wörld ✓",
        ] {
            assert!(matches!(clean(text), Cow::Borrowed(_)), "{text:?}");
        }
    }

    #[test]
    fn other_controls_and_sequences_are_shown_escaped() {
        let cases = [
            ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),
            ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
            ("a\rb", "a\\x0db"),
            ("bell\x07", "bell\\x07"),
            ("nul\0", "nul\\x00"),
            ("del\x7f", "del\\x7f"),
            ("csi\u{9b}2J", "csi\\u{9b}2J"),
            ("osc\u{9d}0;x\u{9c}", "osc\\u{9d}0;x\\u{9c}"),
            ("\x1b[31mred\x1b[0m\x1b[6n", "\x1b[31mred\x1b[0m\\x1b[6n"),
            ("cut \x1b[31", "cut \\x1b[31"),
            ("\x1b", "\\x1b"),
            ("line\nbreak", "line\\x0abreak"),
        ];
        for (text, want) in cases {
            assert_eq!(clean(text), want, "{text:?}");
        }
        let long = format!("\x1b[{}m", "1;".repeat(40));
        assert!(clean(&long).starts_with("\\x1b["));
    }

    #[test]
    fn json_keeps_its_value_without_raw_c1_controls() {
        let value = serde_json::json!({"name": "a\u{9b}2J\u{7f}\x1b[0m"});
        let text = serde_json::to_string(&value).unwrap();
        let cleaned = clean_json(&text);
        assert!(!cleaned.chars().any(is_control), "{cleaned}");
        let back: serde_json::Value = serde_json::from_str(&cleaned).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn nothing_a_terminal_acts_on_is_left() {
        // Every character below 0xa0, in every position around an ESC.
        for c in (0u32..0xa0).filter_map(char::from_u32) {
            let text = format!("a{c}\x1b{c}[{c}m{c}b");
            let out = clean(&text);
            for (i, d) in out.char_indices() {
                if d == '\x1b' {
                    assert!(sgr_len(&out[i..]).is_some(), "{text:?} -> {out:?}");
                } else {
                    assert!(d == '\t' || !is_control(d), "{text:?} -> {out:?}");
                }
            }
        }
    }
}
