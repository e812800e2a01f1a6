//! A bad drover.toml stops a real `drover start` before anything starts:
//! exit status 2, nothing on stdout, no socket, and a message on stderr
//! that names the file and line (`drover.toml:LINE: problem`) and says what
//! to do.

use crate::util::*;

/// Processes that would leave a pid file if they were ever started.
const PROCFILE: &str = "web: $T --stay --pidfile web.pid\n\
                        db: $T --stay --pidfile db.pid\n";

/// Runs drover on `toml` (given with `args`, e.g. `-c`, written to `file`)
/// and checks that it was refused with `file:line:` and every needle.
fn assert_rejected(file: &str, args: &[&str], toml: &str, line: usize, needles: &[&str]) {
    let dir = TestDir::new();
    dir.procfile(PROCFILE);
    dir.write(file, toml);
    let mut all = PLAIN.to_vec();
    all.extend_from_slice(args);
    let f = dir.drover(&all).run();
    f.assert_code(2);
    f.assert_clean_stderr();
    assert!(f.stdout.is_empty(), "something ran:\n{}", f.text());
    let at = format!("{file}:{line}: ");
    assert!(
        f.stderr.starts_with("drover: ") && f.stderr.contains(&at),
        "stderr does not name {at:?}:\n{}",
        f.stderr
    );
    for needle in needles {
        assert!(
            f.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            f.stderr
        );
    }
    for left in [".drover.sock", "web.pid", "db.pid"] {
        assert!(!dir.join(left).exists(), "{left} exists: something started");
    }
}

#[test]
fn an_unknown_key_names_its_line_and_the_key_meant() {
    assert_rejected(
        "drover.toml",
        &[],
        "[processes.web]\nrestart = \"no\"\ndepnds_on = [\"db\"]\n",
        3,
        &[
            "unknown field `depnds_on`",
            "hint: did you mean \"depends_on\"?",
        ],
    );
    assert_rejected(
        "drover.toml",
        &[],
        "timout = 3\n",
        1,
        &["unknown field `timout`", "did you mean \"timeout\"?"],
    );
    assert_rejected(
        "drover.toml",
        &[],
        "[processes.web]\nbackoff = { inital = \"1s\", max = \"5s\" }\n",
        2,
        &["unknown field `inital`", "did you mean \"initial\"?"],
    );
    // Too far from any key: the keys known there.
    assert_rejected(
        "drover.toml",
        &[],
        "[processes.web]\nbackoff = { maximum = \"5s\" }\n",
        2,
        &["hint: known keys here: initial, max, reset_after"],
    );
}

#[test]
fn a_dependency_cycle_is_named() {
    assert_rejected(
        "drover.toml",
        &[],
        "[processes.web]\ndepends_on = [\"db\"]\n\n[processes.db]\ndepends_on = { web = \"ready\" }\n",
        1,
        &["dependency cycle: web -> db -> web"],
    );
}

#[test]
fn a_longer_cycle_is_named_in_full() {
    let dir = TestDir::new();
    dir.procfile("a: $T --stay --pidfile a.pid\nb: $T --stay\nc: $T --stay\n");
    dir.write(
        "drover.toml",
        "[processes.a]\ndepends_on = [\"b\"]\n\
         [processes.b]\ndepends_on = [\"c\"]\n\
         [processes.c]\ndepends_on = [\"a\"]\n",
    );
    let f = dir.drover(PLAIN).run();
    f.assert_code(2);
    assert!(
        f.stderr
            .contains("drover.toml:1: dependency cycle: a -> b -> c -> a"),
        "{}",
        f.stderr
    );
    assert!(f.stdout.is_empty());
    assert!(!dir.join("a.pid").exists());
}

#[test]
fn an_unknown_dependency_is_an_error() {
    assert_rejected(
        "drover.toml",
        &[],
        "[processes.web]\ndepends_on = { cache = \"ready\" }\n",
        2,
        &[
            "web depends on \"cache\", which is not a process",
            "the app defines: web, db",
        ],
    );
}

#[test]
fn a_bad_restart_policy_is_an_error() {
    assert_rejected(
        "drover.toml",
        &[],
        "[processes.web]\ninstances = 2\nrestart = \"sometimes\"\n",
        3,
        &[
            "web: restart = \"sometimes\" is not a restart policy",
            "use \"no\", \"on-failure\" or \"always\"",
        ],
    );
}

#[test]
fn other_bad_values_name_their_line() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "[processes.web]\ndepends_on = { db = \"finished\" }\n",
            2,
            "web: \"finished\" is not a dependency condition",
        ),
        (
            "[processes.web]\ndepends_on = [\"web\"]\n",
            2,
            "web depends on itself",
        ),
        (
            "[processes.web]\nstop_signal = \"BOGUS\"\n",
            2,
            "web: stop_signal: \"BOGUS\" is not a signal drover knows",
        ),
        (
            "[processes.web]\n\nstop_timeout = \"soon\"\n",
            3,
            "web: stop_timeout: \"soon\" is not a duration",
        ),
        (
            "[processes.db]\nready = { tcp = 5432, log = \"up\" }\n",
            2,
            "db: ready: give only one of tcp, http, command or log",
        ),
        (
            "[processes.db]\nready = { log = \"(\" }\n",
            2,
            "db: ready: log = \"(\" is not a valid regular expression",
        ),
        (
            "[processes.db]\nready = { http = \"https://127.0.0.1/\" }\n",
            2,
            "must start with http://",
        ),
        (
            "[processes.worker]\nenv = { A = \"b\" }\n",
            1,
            "process \"worker\" has no command here and is not in Procfile",
        ),
        (
            "output = \"yaml\"\n",
            1,
            "output: \"yaml\" is not an output mode",
        ),
        ("port = 1\n[processes.web\n", 2, ""),
        ("[processes.web]\ninstances = \"two\"\n", 2, "invalid type"),
    ];
    for (toml, line, needle) in cases {
        assert_rejected("drover.toml", &[], toml, *line, &[needle]);
    }
}

#[test]
fn a_config_given_with_c_is_named_in_its_errors() {
    assert_rejected(
        "custom.toml",
        &["-c", "custom.toml"],
        "\n[processes.web]\ndepnds_on = [\"db\"]\n",
        3,
        &["did you mean \"depends_on\"?"],
    );
}

/// Runs `drover start` in `dir` and checks it was refused with exactly
/// `message` (and its hint) on stderr, nothing started.
fn assert_refused(dir: &TestDir, message: &str) {
    let f = dir.drover(PLAIN).run();
    f.assert_code(2);
    assert!(f.stdout.is_empty(), "something ran:\n{}", f.text());
    assert_eq!(f.stderr, format!("drover: {message}\n"));
    for left in [".drover.sock", "web.pid", "db.pid"] {
        assert!(!dir.join(left).exists(), "{left} exists: something started");
    }
}

#[test]
fn a_default_file_that_leads_nowhere_is_an_error_not_left_out() {
    let link_hint = "\n  hint: fix or remove the link; drover reads this file when it is there";
    for file in ["drover.toml", ".env"] {
        let dir = TestDir::new();
        dir.procfile(PROCFILE);
        std::os::unix::fs::symlink("gone.toml", dir.join(file)).unwrap();
        assert_refused(
            &dir,
            &format!("./{file}: is a symlink to gone.toml, which does not exist{link_hint}"),
        );
        std::fs::remove_file(dir.join(file)).unwrap();
        std::os::unix::fs::symlink(file, dir.join(file)).unwrap();
        assert_refused(
            &dir,
            &format!("./{file}: is a symlink to {file} that loops{link_hint}"),
        );
        std::fs::remove_file(dir.join(file)).unwrap();
        std::fs::create_dir(dir.join(file)).unwrap();
        assert_refused(
            &dir,
            &format!(
                "./{file}: is not a regular file (a directory)\n  hint: give the path of a \
                 file; drover reads no pipes, devices or folders"
            ),
        );
    }
}

#[test]
fn a_probe_port_outside_1_to_65535_is_refused() {
    assert_rejected(
        "drover.toml",
        &[],
        "[processes.db]\nready = { tcp = \"127.0.0.1:99999\" }\n",
        2,
        &["db: ready: tcp = \"127.0.0.1:99999\": port 99999 is not from 1 to 65535"],
    );
    assert_rejected(
        "drover.toml",
        &[],
        "[processes.db]\n\nready = { tcp = 0 }\n",
        3,
        &["db: ready: tcp = \"0\": port 0 is not from 1 to 65535"],
    );
    assert_rejected(
        "drover.toml",
        &[],
        "[processes.web]\nready = { http = \"http://127.0.0.1:70000/health\" }\n",
        2,
        &["web: ready: http = \"http://127.0.0.1:70000/health\": port 70000 is not from 1 to 65535"],
    );
}

#[test]
fn a_bad_kill_mode_or_can_die_is_refused() {
    assert_rejected(
        "drover.toml",
        &[],
        "[processes.web]\nkill_mode = \"process\"\n",
        2,
        &[
            "web: kill_mode = \"process\" is not a kill mode",
            "hint: use \"control-group\" (every signal to the group) or \"mixed\"",
        ],
    );
    assert_rejected(
        "drover.toml",
        &[],
        "[processes.web]\n\ncan_die = \"yes\"\n",
        3,
        &["invalid type: string \"yes\", expected a boolean"],
    );
    let dir = TestDir::new();
    dir.procfile(PROCFILE);
    let mut args = PLAIN.to_vec();
    args.extend(["--can-die", "web,release"]);
    let f = dir.drover(&args).run();
    f.assert_code(2);
    assert_eq!(
        f.stderr,
        "drover: --can-die: no process named \"release\"\n  hint: the app defines: web, db\n"
    );
    assert!(f.stdout.is_empty());
}

#[test]
fn a_probe_variable_that_is_not_set_or_no_port_is_refused() {
    assert_rejected(
        "drover.toml",
        &[],
        "[processes.web]\nready = { http = \"http://127.0.0.1:$WEB_PORT_NOPE_X/\" }\n",
        2,
        &[
            "web.1: ready: http = \"http://127.0.0.1:$WEB_PORT_NOPE_X/\": $WEB_PORT_NOPE_X is not set",
            "hint: a probe sees its instance's variables",
        ],
    );
    assert_rejected(
        "drover.toml",
        &["-p", "65000"],
        "[processes.web]\ninstances = 2\n\nready = { tcp = \"127.0.0.1:${PORT}0\" }\n",
        4,
        &["web.1: ready: tcp = \"127.0.0.1:650000\": port 650000 is not from 1 to 65535"],
    );
}
