//! The `.env` parser's tests: every rule of the format, its errors, and
//! properties over arbitrary text.

use super::*;
use proptest::prelude::*;

fn base(name: &str) -> Option<String> {
    match name {
        "HOME" => Some("/home/app".to_owned()),
        "PATH" => Some("/usr/bin".to_owned()),
        "DOLLAR" => Some("$HOME".to_owned()),
        _ => None,
    }
}

fn ok(text: &str) -> Vec<(String, String)> {
    parse(Path::new(".env"), text, &base).unwrap_or_else(|err| panic!("{err}"))
}

fn one(text: &str) -> String {
    let vars = ok(text);
    assert_eq!(vars.len(), 1, "{vars:?}");
    vars.into_iter().next().unwrap().1
}

fn err(text: &str) -> String {
    parse(Path::new(".env"), text, &base)
        .expect_err("input should be rejected")
        .to_string()
}

fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn key_value_lines_in_order() {
    assert_eq!(ok("B=2\nA=1\n"), pairs(&[("B", "2"), ("A", "1")]));
}

#[test]
fn export_prefix() {
    assert_eq!(
        ok("export A=1\nexport\tB=2\nexport=3\nexported=4"),
        pairs(&[("A", "1"), ("B", "2"), ("export", "3"), ("exported", "4")])
    );
}

#[test]
fn whitespace_around_equals() {
    assert_eq!(
        ok("  A = 1\nB\t=\t2\nC= 3 "),
        pairs(&[("A", "1"), ("B", "2"), ("C", "3")])
    );
}

#[test]
fn key_charset() {
    assert_eq!(
        ok("_a.B9_=1\nlog.level=debug"),
        pairs(&[("_a.B9_", "1"), ("log.level", "debug")])
    );
}

#[test]
fn comments_and_blank_lines() {
    assert_eq!(
        ok("# top\n\n   # indented\n\t\nA=1\n#B=2\n"),
        pairs(&[("A", "1")])
    );
    assert_eq!(ok(""), pairs(&[]));
    assert_eq!(ok("# only a comment"), pairs(&[]));
}

#[test]
fn unquoted_value_ends_at_comment_and_is_trimmed() {
    assert_eq!(one("A=hello world # greeting"), "hello world");
    assert_eq!(one("A=x\t#tab comment"), "x");
    assert_eq!(one("A= # only a comment"), "");
    assert_eq!(one("A=  spaced out  "), "spaced out");
}

#[test]
fn unquoted_hash_without_space_is_kept() {
    assert_eq!(one("A=#fff"), "#fff");
    assert_eq!(one("A=page#anchor"), "page#anchor");
}

#[test]
fn unquoted_backslashes_and_quotes_are_literal() {
    assert_eq!(one(r"A=C:\new\dir"), r"C:\new\dir");
    assert_eq!(one(r#"A=say "hi" it's"#), r#"say "hi" it's"#);
}

#[test]
fn empty_values() {
    assert_eq!(
        ok("A=\nB=\"\"\nC=''\nD=   "),
        pairs(&[("A", ""), ("B", ""), ("C", ""), ("D", "")])
    );
}

#[test]
fn single_quotes_are_literal() {
    assert_eq!(one(r"A='$HOME ${HOME} \n \' # x'"), r"$HOME ${HOME} \n \");
    assert_eq!(one("A = '  padded  '  # comment"), "  padded  ");
}

#[test]
fn single_quotes_may_span_lines() {
    assert_eq!(
        ok("KEY='-----BEGIN-----\nabc  \n-----END-----'\nB=2"),
        pairs(&[("KEY", "-----BEGIN-----\nabc  \n-----END-----"), ("B", "2")])
    );
}

#[test]
fn double_quote_escapes() {
    assert_eq!(
        one(r#"A="a\nb\tc\rd\"e\\f\$HOME""#),
        "a\nb\tc\rd\"e\\f$HOME"
    );
}

#[test]
fn double_quote_unknown_escape_is_kept() {
    assert_eq!(one(r#"A="C:\dir\x""#), r"C:\dir\x");
    assert_eq!(one("A=\"a\\\nb\""), "a\\\nb");
}

#[test]
fn double_quotes_keep_hash_and_spaces() {
    assert_eq!(one(r#"A=" x # y "  # real comment"#), " x # y ");
    assert_eq!(one(r##"A="x"# comment without space"##), "x");
}

#[test]
fn double_quotes_may_span_lines() {
    assert_eq!(
        ok("A=\"first  \n\n  third\" # done\nB=${A}"),
        pairs(&[("A", "first  \n\n  third"), ("B", "first  \n\n  third")])
    );
}

#[test]
fn expansion_from_file_then_base_then_empty() {
    assert_eq!(
        ok("HOME=/srv\nA=${HOME}/x\nB=${PATH}:${NOPE}:${NOPE}end"),
        pairs(&[("HOME", "/srv"), ("A", "/srv/x"), ("B", "/usr/bin::end")])
    );
}

#[test]
fn expansion_in_double_quotes_not_single() {
    assert_eq!(
        ok("A=\"${HOME}/a ${HOME}\"\nB='${HOME}'"),
        pairs(&[("A", "/home/app/a /home/app"), ("B", "${HOME}")])
    );
}

#[test]
fn expansion_sees_only_earlier_lines() {
    assert_eq!(
        ok("A=${LATER}\nLATER=x"),
        pairs(&[("A", ""), ("LATER", "x")])
    );
}

#[test]
fn self_reference_extends_base() {
    assert_eq!(one("PATH=${HOME}/bin:${PATH}"), "/home/app/bin:/usr/bin");
}

#[test]
fn redefinition_sees_previous_value() {
    assert_eq!(one("A=1\nA=${A}-2\nA=\"${A}-3\""), "1-2-3");
}

#[test]
fn braced_reference_may_hold_a_dot() {
    assert_eq!(
        ok("HOST=db\nA=${HOST}.example.com\nhost.name=h\nC=${host.name}"),
        pairs(&[
            ("HOST", "db"),
            ("A", "db.example.com"),
            ("host.name", "h"),
            ("C", "h")
        ])
    );
}

#[test]
fn a_bare_reference_is_kept_as_written() {
    // As foreman, honcho and python-dotenv: only ${NAME} expands.
    assert_eq!(
        ok("HOST=db\nA=$HOST.example.com\nPASSWORD=pa$word\nB=\"$HOME and ${HOME}\""),
        pairs(&[
            ("HOST", "db"),
            ("A", "$HOST.example.com"),
            ("PASSWORD", "pa$word"),
            ("B", "$HOME and /home/app")
        ])
    );
}

#[test]
fn a_single_quoted_key_is_read_without_its_quotes() {
    assert_eq!(
        ok("'A'=1\n'B' = two\nexport 'C'='three'"),
        pairs(&[("A", "1"), ("B", "two"), ("C", "three")])
    );
    assert_eq!(
        err("'A B'=1"),
        ".env:1: invalid variable name \"A B\"\n  hint: a name starts with a letter or '_' \
         and contains only letters, digits, '_' and '.'"
    );
    assert_eq!(
        err("'A=1"),
        ".env:1: unterminated single quote in the name on this line: \"'A=1\"\n  \
         hint: close the quote after the name: 'KEY'=value"
    );
    assert_eq!(
        err("'A' 1"),
        ".env:1: missing '=' after variable name \"A\" (expected \"KEY=value\")"
    );
}

#[test]
fn a_lone_cr_ends_a_line() {
    assert_eq!(
        ok("A=1\rB=\"x\ry\"\r\rC=3"),
        pairs(&[("A", "1"), ("B", "x\ny"), ("C", "3")])
    );
    assert_eq!(
        err("A=1\r\rBAD\r"),
        ".env:3: missing '=' after variable name \"BAD\" (expected \"KEY=value\")"
    );
}

#[test]
fn dollar_without_name_is_kept() {
    assert_eq!(one("A=costs $5 $ and $"), "costs $5 $ and $");
    assert_eq!(one("A=\"$ $1 $-\""), "$ $1 $-");
}

#[test]
fn expanded_values_are_not_expanded_again() {
    assert_eq!(one("A=${DOLLAR}"), "$HOME");
    assert_eq!(one("A=\"\\$HOME\""), "$HOME");
}

#[test]
fn duplicate_key_keeps_first_position_and_last_value() {
    assert_eq!(ok("A=1\nB=2\nA=3"), pairs(&[("A", "3"), ("B", "2")]));
}

#[test]
fn tolerates_crlf_and_byte_order_mark() {
    assert_eq!(
        ok("\u{feff}A=1\r\n\r\nB=\"x\r\ny\"\r\nC='z' \r\n"),
        pairs(&[("A", "1"), ("B", "x\ny"), ("C", "z")])
    );
}

#[test]
fn rejects_missing_equals() {
    assert_eq!(
        err("A=1\n\nexport DEBUG\n"),
        ".env:3: missing '=' after variable name \"DEBUG\" (expected \"KEY=value\")"
    );
    assert_eq!(
        err("A=1\nDEBUG true"),
        ".env:2: missing '=' after variable name \"DEBUG\" (expected \"KEY=value\")"
    );
}

#[test]
fn rejects_line_that_is_no_entry() {
    assert_eq!(
        err("-- oops --  "),
        ".env:1: expected \"KEY=value\", found \"-- oops --\""
    );
    assert_eq!(
        err("export  \t"),
        ".env:1: expected \"KEY=value\", found \"export\""
    );
}

#[test]
fn rejects_missing_key() {
    assert_eq!(
        err("  = value"),
        ".env:1: missing variable name before '=' (expected \"KEY=value\")"
    );
}

#[test]
fn rejects_invalid_key() {
    let hint = "\n  hint: a name starts with a letter or '_' and contains only letters, \
                digits, '_' and '.'";
    assert_eq!(
        err("1A=x"),
        format!(".env:1: invalid variable name \"1A\"{hint}")
    );
    assert_eq!(
        err("A-B=x"),
        format!(".env:1: invalid variable name \"A-B\"{hint}")
    );
    assert_eq!(
        err("A B=x"),
        format!(".env:1: invalid variable name \"A B\"{hint}")
    );
    // python-dotenv keeps double quotes in a key: no variable name.
    assert_eq!(
        err("\"A\"=x"),
        ".env:1: invalid variable name \"\\\"A\\\"\"\n  hint: python-dotenv reads double \
         quotes as part of the name; write the name bare or in single quotes"
    );
}

#[test]
fn rejects_unterminated_double_quote_naming_opening_line() {
    assert_eq!(
        err("A=1\nB=\"open\nstill open\n"),
        ".env:2: unterminated double quote in value of \"B\"\n  \
         hint: add the closing \"; a quoted value may span lines but must end \
         before the end of the file"
    );
    assert_eq!(
        err(r#"A="escaped end\""#),
        ".env:1: unterminated double quote in value of \"A\"\n  \
         hint: add the closing \"; a quoted value may span lines but must end \
         before the end of the file"
    );
}

#[test]
fn rejects_unterminated_single_quote() {
    assert_eq!(
        err("A='open"),
        ".env:1: unterminated single quote in value of \"A\"\n  \
         hint: add the closing '; a quoted value may span lines but must end \
         before the end of the file"
    );
}

#[test]
fn rejects_text_after_closing_quote() {
    assert_eq!(
        err("A=\"x\" y"),
        ".env:1: unexpected \"y\" after the closing quote of \"A\"\n  \
         hint: quote the whole value, or start a comment with '#'"
    );
    assert_eq!(
        err("A=1\nB=\"multi\nline\"oops"),
        ".env:3: unexpected \"oops\" after the closing quote of \"B\"\n  \
         hint: quote the whole value, or start a comment with '#'"
    );
}

#[test]
fn rejects_single_quote_inside_single_quotes() {
    assert_eq!(
        err("A='it's'"),
        ".env:1: unexpected \"s'\" after the closing quote of \"A\"\n  \
         hint: a single-quoted value cannot contain '; use double quotes, \
         or start a comment with '#'"
    );
}

#[test]
fn rejects_invalid_reference() {
    let hint = "\n  hint: write ${NAME} with a NAME of letters, digits, '_' and '.'; \
                defaults like ${NAME:-x} are not supported";
    assert_eq!(
        err("A=${HOME:-/root}"),
        format!(".env:1: invalid variable reference \"${{HOME:-/root}}\" in value of \"A\"{hint}")
    );
    assert_eq!(
        err("A=\"\n${}\""),
        format!(".env:2: invalid variable reference \"${{}}\" in value of \"A\"{hint}")
    );
    assert_eq!(
        err("A=${1X}"),
        format!(".env:1: invalid variable reference \"${{1X}}\" in value of \"A\"{hint}")
    );
}

#[test]
fn rejects_unterminated_reference() {
    assert_eq!(
        err("A=x\nB=\"${HOME\""),
        ".env:2: unterminated \"${\" in value of \"B\"\n  \
         hint: close the reference with '}', or write \\$ for a literal '$'"
    );
    assert_eq!(
        err("A=${"),
        ".env:1: unterminated \"${\" in value of \"A\"\n  \
         hint: close the reference with '}', or write \\$ for a literal '$'"
    );
}

#[test]
fn rejects_nul_in_value() {
    assert_eq!(
        err("A=a\0b"),
        ".env:1: value of \"A\" contains a NUL byte\n  \
         hint: environment variables cannot hold NUL bytes; remove it"
    );
}

#[test]
fn load_reads_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    std::fs::write(&path, "A=1\nB=\"${A} ${HOME}\"\n").unwrap();
    assert_eq!(
        load(&path, &base).unwrap(),
        [
            ("A".into(), "1".into(), 1),
            ("B".into(), "1 /home/app".into(), 2)
        ]
    );
}

#[test]
fn load_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env.local");
    assert_eq!(
        load(&path, &base).unwrap_err().to_string(),
        format!(
            "{}: cannot read: no such file\n  hint: check the path given to -e/--env",
            path.display()
        )
    );
}

#[test]
fn load_rejects_non_utf8_naming_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    std::fs::write(&path, b"A=1\nB=caf\xe9\n").unwrap();
    assert_eq!(
        load(&path, &base).unwrap_err().to_string(),
        format!(
            "{}:2: not valid UTF-8 (byte 0xe9 at column 6)\n  hint: save the file as UTF-8",
            path.display()
        )
    );
}

fn assert_lines_in_file(text: &str) -> Result<(), TestCaseError> {
    let lines = text.split('\n').count();
    if let Err(err) = parse(Path::new(".env"), text, &base) {
        let line = err.line.expect("every parse error names a line");
        prop_assert!(
            (1..=lines).contains(&line),
            "line {} of {}: {}",
            line,
            lines,
            err
        );
    }
    Ok(())
}

/// Renders `value` as a double-quoted `.env` value; newlines are written
/// raw (as a multi-line value) or as `\n`.
fn render(value: &str, raw_newlines: bool) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("\\$"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\n' if !raw_newlines => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        assert_lines_in_file(&text)?;
    }

    #[test]
    fn env_like_text_errors_name_a_line_in_the_file(
        text in "([A-Za-z_ =\"'#${}\\\\\t.:-]{0,14}\r?\n){0,8}[A-Za-z_ =\"'#${}\\\\.:-]{0,14}"
    ) {
        assert_lines_in_file(&text)?;
    }

    #[test]
    fn double_quoted_values_round_trip(
        vars in proptest::collection::btree_map(
            "[A-Za-z_][A-Za-z0-9_.]{0,8}",
            "[^\\x00]{0,20}",
            0..8,
        ),
        raw_newlines in any::<bool>(),
        export in any::<bool>(),
    ) {
        let text: String = vars
            .iter()
            .map(|(key, value)| {
                let export = if export { "export " } else { "" };
                format!("{export}{key} = {}  # {key}\n", render(value, raw_newlines))
            })
            .collect();
        let parsed = parse(Path::new(".env"), &text, &|_| Some("unused".to_owned()))
            .map_err(|err| TestCaseError::fail(format!("{err}\n{text}")))?;
        let want: Vec<(String, String)> = vars.into_iter().collect();
        prop_assert_eq!(parsed, want);
    }
}

#[test]
fn a_runaway_expansion_stops_at_the_value_cap() {
    // Each line doubles the last: 2^30 bytes by line 31 without the cap.
    let mut text = String::from("A0=xxxxxxxxxxxxxxxx\n");
    for i in 1..=30 {
        text.push_str(&format!("A{i}=${{A{}}}${{A{}}}\n", i - 1, i - 1));
    }
    // 16 << 12 = 64 KiB is the last value allowed; line 14 would double it.
    assert_eq!(
        err(&text),
        ".env:14: value of \"A13\" is longer than 64 KiB\n  \
         hint: check the ${NAME} references in it; a value may hold at most 64 KiB"
    );
}

#[test]
fn a_literal_value_over_the_cap_is_refused() {
    let text = format!("A=\"{}\"\n", "x".repeat(MAX_VALUE_SIZE + 1));
    assert!(err(&text).starts_with(".env:1: value of \"A\" is longer than 64 KiB"));
    let text = format!("A={}\n", "x".repeat(MAX_VALUE_SIZE));
    assert_eq!(one(&text).len(), MAX_VALUE_SIZE);
}

#[test]
fn the_whole_file_is_capped_after_expansion() {
    let mut text = format!("A={}\n", "x".repeat(60 * 1024));
    for i in 0..20 {
        text.push_str(&format!("B{i}=${{A}}\n"));
    }
    assert!(
        err(&text).starts_with(".env:18: the variables of this file pass 1 MiB in all at \"B16\""),
        "{}",
        err(&text)
    );
}
