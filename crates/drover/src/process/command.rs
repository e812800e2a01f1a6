//! How a Procfile command is run: the one decision `start`, `run` and the
//! exports share.
//!
//! A command is read as the shell would read it (quotes, backslashes,
//! operators, comments). When the shell would change nothing past removing
//! quotes, its words are executed directly: `nginx -g "daemon off;"` runs
//! nginx with the argument `daemon off;`, no shell at all. When it is one
//! simple command that needs the shell (a `$VAR`, a glob, a redirection), it
//! runs as `/bin/sh -c 'exec COMMAND'`, so the shell replaces itself and the
//! pid drover signals is the program's own. Anything else (lists, pipes,
//! keywords, subshells) runs as written under `/bin/sh -c`.
//!
//! Pure: it only reads the text.

/// How to run one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// Execute these words directly: the program, then its arguments.
    Direct(Vec<String>),
    /// Run `/bin/sh -c SCRIPT`; the script starts with `exec` when the
    /// command is one simple command.
    Shell(String),
}

impl Invocation {
    /// The program and arguments to execute: the words, or `/bin/sh -c SCRIPT`.
    pub fn argv(&self) -> Vec<String> {
        match self {
            Invocation::Direct(words) => words.clone(),
            Invocation::Shell(script) => vec!["/bin/sh".into(), "-c".into(), script.clone()],
        }
    }
}

/// Reads `command` and decides how to run it.
pub fn invocation(command: &str) -> Invocation {
    let Some(lexed) = lex(command) else {
        // Unbalanced quotes or substitutions: the shell says what is wrong.
        return Invocation::Shell(command.to_string());
    };
    if !lexed.simple {
        return Invocation::Shell(command.to_string());
    }
    let first = &lexed.words[lexed.assignments];
    if lexed.plain && lexed.assignments == 0 {
        return Invocation::Direct(lexed.words.into_iter().map(|w| w.text).collect());
    }
    // `A=1 B=2 exec cmd`: assignments before `exec` reach the program.
    let at = first.start;
    Invocation::Shell(format!("{}exec {}", &command[..at], &command[at..]))
}

/// Whether a shell stays in front of `command`'s program while it runs (a
/// pipeline, a list, a compound command not started with `exec`): then
/// its pid, and `LISTEN_PID`, are the shell's.
pub fn keeps_a_shell(command: &str) -> bool {
    match invocation(command) {
        Invocation::Direct(_) => false,
        Invocation::Shell(script) => {
            let simple = lex(command).is_some_and(|l| l.simple);
            !simple && !script.trim_start().starts_with("exec ")
        }
    }
}

/// Words the shell reads as keywords or that only a shell can run.
const SHELL_ONLY: &[&str] = &[
    "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac", "!",
    "{", "}", "[[", "function", "select", "exec", "cd", "export", "set", "unset", "trap", "wait",
    ".", "source", "eval", "exit", "return", "alias", "ulimit", "umask", "readonly", "local",
    "shift", "break", "continue", "times", "type", "hash", "command", "builtin",
];

#[derive(Debug)]
struct Word {
    /// The word after quote removal.
    text: String,
    /// Byte offset of its first character in the command.
    start: usize,
    /// Whether an unquoted `=` follows a valid name at its start.
    assignment: bool,
}

#[derive(Debug)]
struct Lexed {
    words: Vec<Word>,
    /// How many leading words are assignments.
    assignments: usize,
    /// One simple command, so `exec` may stand in front of it.
    simple: bool,
    /// No expansion, glob, redirection or comment: the words are the argv.
    plain: bool,
}

/// Splits `command` into words as the shell would, noting what it contains.
/// `None` when a quote or substitution is not closed.
fn lex(command: &str) -> Option<Lexed> {
    let bytes = command.as_bytes();
    let mut words: Vec<Word> = Vec::new();
    let mut cur: Option<Word> = None;
    let mut simple = true;
    let mut plain = true;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let word_start = cur.is_none();
        match c {
            b' ' | b'\t' => {
                words.extend(cur.take());
                i += 1;
                continue;
            }
            // `2>&1`, `<&0`: a redirection, not a background job.
            b'&' if i > 0 && matches!(bytes[i - 1], b'>' | b'<') => {}
            b'\n' | b';' | b'&' | b'|' | b'(' | b')' => {
                simple = false;
                plain = false;
                break;
            }
            b'#' if word_start => break_comment(&mut plain, &mut i, bytes),
            _ => {}
        }
        if i >= bytes.len() {
            break;
        }
        let c = bytes[i];
        let w = cur.get_or_insert_with(|| Word {
            text: String::new(),
            start: i,
            assignment: false,
        });
        match c {
            b'\'' => {
                let end = find(bytes, i + 1, b'\'')?;
                w.text.push_str(&command[i + 1..end]);
                i = end + 1;
            }
            b'"' => {
                i = double_quoted(command, i + 1, w, &mut plain)?;
            }
            b'\\' => {
                let next = command[i + 1..].chars().next()?;
                if next != '\n' {
                    w.text.push(next);
                }
                i += 1 + next.len_utf8();
            }
            b'$' | b'`' => {
                plain = false;
                i = expansion(command, i)?;
            }
            b'<' | b'>' | b'&' => {
                plain = false;
                if word_start && words.is_empty() {
                    // A redirection before the command: leave it to sh.
                    simple = false;
                }
                w.text.push(c as char);
                i += 1;
            }
            b'*' | b'?' | b'[' | b'{' | b'}' => {
                plain = false;
                w.text.push(c as char);
                i += 1;
            }
            b'~' if w.text.is_empty() => {
                plain = false;
                w.text.push('~');
                i += 1;
            }
            b'=' if !w.assignment && is_name(&w.text) && command[w.start..i] == w.text => {
                w.assignment = true;
                w.text.push('=');
                i += 1;
            }
            _ => {
                let ch = command[i..]
                    .chars()
                    .next()
                    .expect("i is on a char boundary");
                w.text.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    words.extend(cur.take());
    let assignments = words.iter().take_while(|w| w.assignment).count();
    match words.get(assignments) {
        None => simple = false,
        Some(first) if SHELL_ONLY.contains(&command_word(command, first)) => simple = false,
        Some(_) => {}
    }
    Some(Lexed {
        words,
        assignments,
        simple,
        plain: plain && simple,
    })
}

/// The command word as written (a quoted keyword is not a keyword, but a
/// quoted word is never plain either, so the raw text decides).
fn command_word<'a>(command: &'a str, w: &Word) -> &'a str {
    let rest = &command[w.start..];
    let end = rest.find([' ', '\t']).unwrap_or(rest.len());
    &rest[..end]
}

/// A comment runs to the end of the line; the command before it stands.
fn break_comment(plain: &mut bool, i: &mut usize, bytes: &[u8]) {
    *plain = false;
    *i = bytes.len();
}

/// Reads a double-quoted string from `i` (after the opening quote) into
/// `w`; returns the index after the closing quote.
fn double_quoted(command: &str, mut i: usize, w: &mut Word, plain: &mut bool) -> Option<usize> {
    let bytes = command.as_bytes();
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Some(i + 1),
            b'\\' if matches!(bytes.get(i + 1), Some(b'$' | b'`' | b'"' | b'\\' | b'\n')) => {
                if bytes[i + 1] != b'\n' {
                    w.text.push(bytes[i + 1] as char);
                }
                i += 2;
            }
            b'$' | b'`' => {
                *plain = false;
                i = expansion(command, i)?;
            }
            _ => {
                let ch = command[i..].chars().next()?;
                w.text.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    None
}

/// Skips an expansion starting at `i` (`$NAME`, `${…}`, `$(…)`, `$((…))`
/// or a backquoted command); returns the index after it.
fn expansion(command: &str, i: usize) -> Option<usize> {
    let bytes = command.as_bytes();
    if bytes[i] == b'`' {
        let mut j = i + 1;
        while j < bytes.len() {
            match bytes[j] {
                b'\\' => j += 2,
                b'`' => return Some(j + 1),
                _ => j += 1,
            }
        }
        return None;
    }
    match bytes.get(i + 1) {
        Some(b'(') => matching(bytes, i + 1, b'(', b')'),
        Some(b'{') => matching(bytes, i + 1, b'{', b'}'),
        _ => Some(i + 1),
    }
}

/// The index after the bracket closing the one at `open_at`, skipping
/// quoted text.
fn matching(bytes: &[u8], open_at: usize, open: u8, close: u8) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = open_at;
    while j < bytes.len() {
        match bytes[j] {
            b'\'' => j = find(bytes, j + 1, b'\'')?,
            b'\\' => j += 1,
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            _ => {}
        }
        j += 1;
    }
    None
}

fn find(bytes: &[u8], from: usize, b: u8) -> Option<usize> {
    bytes[from..].iter().position(|x| *x == b).map(|p| from + p)
}

fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(words: &[&str]) -> Invocation {
        Invocation::Direct(words.iter().map(|w| w.to_string()).collect())
    }
    fn shell(script: &str) -> Invocation {
        Invocation::Shell(script.to_string())
    }

    #[test]
    fn plain_and_quoted_words_run_without_a_shell() {
        assert_eq!(
            invocation("python app.py --port=5000"),
            direct(&["python", "app.py", "--port=5000"])
        );
        assert_eq!(
            invocation(r#"nginx -c nginx.conf -g "daemon off;""#),
            direct(&["nginx", "-c", "nginx.conf", "-g", "daemon off;"])
        );
        assert_eq!(
            invocation(r#"echo 'a | b' c\ d "e'f""#),
            direct(&["echo", "a | b", "c d", "e'f"])
        );
        assert_eq!(
            invocation("  ./bin/server  -v a,b@c:1 "),
            direct(&["./bin/server", "-v", "a,b@c:1"])
        );
    }

    #[test]
    fn a_shell_stays_only_in_front_of_more_than_one_simple_command() {
        assert!(!keeps_a_shell("gunicorn app:app"));
        assert!(!keeps_a_shell("PORT=1 exec-me --x"));
        assert!(!keeps_a_shell("server > log.txt"));
        assert!(keeps_a_shell("migrate && serve"));
        assert!(keeps_a_shell("serve | tee log"));
        assert!(!keeps_a_shell("exec serve"));
    }

    #[test]
    fn one_simple_command_that_needs_the_shell_is_execed() {
        assert_eq!(
            invocation("rails s -p $PORT"),
            shell("exec rails s -p $PORT")
        );
        assert_eq!(
            invocation("rails s -p ${PORT}"),
            shell("exec rails s -p ${PORT}")
        );
        assert_eq!(
            invocation("server > log.txt"),
            shell("exec server > log.txt")
        );
        assert_eq!(invocation("server 2>&1"), shell("exec server 2>&1"));
        assert_eq!(invocation("ls *.py"), shell("exec ls *.py"));
        assert_eq!(invocation("cat ~/x"), shell("exec cat ~/x"));
        assert_eq!(
            invocation(r#"nginx -g "daemon off; pid $RUN/n.pid;""#),
            shell(r#"exec nginx -g "daemon off; pid $RUN/n.pid;""#)
        );
        assert_eq!(
            invocation("node $(which app) # comment; not a list"),
            shell("exec node $(which app) # comment; not a list")
        );
        assert_eq!(invocation("echo $(a; b)"), shell("exec echo $(a; b)"));
        assert_eq!(
            invocation("FOO=1 BAR='x y' worker -v"),
            shell("FOO=1 BAR='x y' exec worker -v")
        );
    }

    #[test]
    fn lists_pipes_keywords_and_builtins_run_as_written() {
        for cmd in [
            "a; b",
            "a && b",
            "a | b",
            "a &",
            "(a)",
            "a\nb",
            "if true; then a; fi",
            "cd web && rails s",
            "exec foo",
            "export A=1",
            "A=1",
            "> log cmd",
            "while true; do sleep 1; done",
            "{ a; }",
            "trap 'x' TERM",
            "sleep 1 &",
            "echo 'open",
            "echo $(unclosed",
            "",
            "   ",
        ] {
            assert_eq!(invocation(cmd), shell(cmd), "{cmd:?}");
        }
    }

    #[test]
    fn quoted_operators_do_not_make_a_list() {
        assert_eq!(invocation(r#"sh -c "a; b""#), direct(&["sh", "-c", "a; b"]));
        assert_eq!(invocation(r"echo a\;b"), direct(&["echo", "a;b"]));
        assert_eq!(
            invocation("python -c 'import x; x.run()'"),
            direct(&["python", "-c", "import x; x.run()"])
        );
    }

    #[test]
    fn argv_of_a_shell_invocation() {
        assert_eq!(
            invocation("a | b").argv(),
            vec!["/bin/sh".to_string(), "-c".into(), "a | b".into()]
        );
    }
}
