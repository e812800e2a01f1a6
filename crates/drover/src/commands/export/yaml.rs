//! A small YAML emitter for the Kubernetes manifests.
//!
//! serde_yaml is unmaintained, and the manifests use a handful of node
//! kinds: every string is double-quoted (JSON-style escapes, which YAML
//! shares, plus escapes for what YAML 1.1 readers take as line breaks or
//! refuse), so nothing is read as a number, a boolean (`no`, `on`) or
//! `null`; keys keep the order they are given in. It only builds text.

use std::fmt::Write as _;

/// A YAML node: the subset the manifests need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A mapping, in this order.
    Map(Vec<(String, Node)>),
    /// A sequence.
    Seq(Vec<Node>),
    /// A string, always written double-quoted.
    Str(String),
    /// An integer.
    Int(i64),
}

/// A mapping of `entries`, in their order.
pub(crate) fn map<const N: usize>(entries: [(&str, Node); N]) -> Node {
    Node::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// A string node.
pub(crate) fn s(text: impl Into<String>) -> Node {
    Node::Str(text.into())
}

/// One YAML document, starting with `---`.
pub fn document(node: &Node) -> String {
    let mut out = String::from("---\n");
    match node {
        Node::Map(_) | Node::Seq(_) if !is_empty(node) => block(node, 0, &mut out),
        _ => {
            inline(node, &mut out);
            out.push('\n');
        }
    }
    out
}

fn is_empty(node: &Node) -> bool {
    match node {
        Node::Map(m) => m.is_empty(),
        Node::Seq(s) => s.is_empty(),
        _ => false,
    }
}

fn is_block(node: &Node) -> bool {
    matches!(node, Node::Map(_) | Node::Seq(_)) && !is_empty(node)
}

/// A non-empty mapping or sequence, starting at the beginning of a line.
fn block(node: &Node, indent: usize, out: &mut String) {
    match node {
        Node::Map(entries) => {
            for (k, v) in entries {
                pad(indent, out);
                entry(k, v, indent, out);
            }
        }
        Node::Seq(items) => {
            for item in items {
                pad(indent, out);
                out.push_str("- ");
                item_after_dash(item, indent + 2, out);
            }
        }
        _ => unreachable!("block() is only called on a non-empty mapping or sequence"),
    }
}

/// `key: value` where the key is already indented.
fn entry(key: &str, value: &Node, indent: usize, out: &mut String) {
    key_text(key, out);
    if is_block(value) {
        out.push_str(":\n");
        block(value, indent + 2, out);
    } else {
        out.push_str(": ");
        inline(value, out);
        out.push('\n');
    }
}

/// A sequence item after its `- `, whose content is at column `indent`.
fn item_after_dash(item: &Node, indent: usize, out: &mut String) {
    match item {
        Node::Map(entries) if !entries.is_empty() => {
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    pad(indent, out);
                }
                entry(k, v, indent, out);
            }
        }
        Node::Seq(items) if !items.is_empty() => {
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    pad(indent, out);
                }
                out.push_str("- ");
                item_after_dash(it, indent + 2, out);
            }
        }
        _ => {
            inline(item, out);
            out.push('\n');
        }
    }
}

fn pad(indent: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn inline(node: &Node, out: &mut String) {
    match node {
        Node::Map(m) => {
            debug_assert!(m.is_empty(), "non-empty mappings are written as blocks");
            out.push_str("{}");
        }
        Node::Seq(s) => {
            debug_assert!(s.is_empty(), "non-empty sequences are written as blocks");
            out.push_str("[]");
        }
        Node::Str(text) => quoted(text, out),
        Node::Int(n) => write!(out, "{n}").expect("writing to a String"),
    }
}

/// A key is written plain when YAML 1.1 and 1.2 readers can only read it as
/// that string: a letter, then letters, digits, `_ . / -`, and not one of
/// the words YAML 1.1 reads as a boolean or null.
fn key_text(key: &str, out: &mut String) {
    const WORDS: [&str; 11] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf",
    ];
    let plain = key.starts_with(|c: char| c.is_ascii_alphabetic())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'))
        && !WORDS.contains(&key.to_ascii_lowercase().as_str());
    if plain {
        out.push_str(key);
    } else {
        quoted(key, out);
    }
}

/// A double-quoted YAML scalar. Escaped: `"`, `\`, C0 and C1 controls, DEL,
/// the characters YAML 1.1 reads as line breaks (U+0085, U+2028, U+2029),
/// the byte-order mark and the non-characters U+FFFE/U+FFFF; everything
/// else is written as it is (UTF-8).
pub fn quoted(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0'..='\x1f'
            | '\x7f'..='\u{9f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{feff}'
            | '\u{fffe}'
            | '\u{ffff}' => write!(out, "\\u{:04x}", u32::from(c)).expect("writing to a String"),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_blocks_and_scalars() {
        let doc = document(&map([
            ("kind", s("x")),
            ("no", s("yes")),
            ("n", Node::Int(3)),
            (
                "list",
                Node::Seq(vec![
                    map([("a", s("1")), ("b", Node::Seq(vec![]))]),
                    s("line\nbreak \"q\" \\ \u{85}"),
                ]),
            ),
            ("empty", Node::Map(vec![])),
            ("LOG_LEVEL", s("")),
        ]));
        assert_eq!(
            doc,
            "---\nkind: \"x\"\n\"no\": \"yes\"\n\"n\": 3\nlist:\n  - a: \"1\"\n    b: []\n  \
             - \"line\\nbreak \\\"q\\\" \\\\ \\u0085\"\nempty: {}\nLOG_LEVEL: \"\"\n"
        );
    }
}
