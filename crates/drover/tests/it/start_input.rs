//! What `drover start` runs: the processes named, their environment (PORT,
//! PS, .env files), and one precise message for bad input with nothing
//! started.

use crate::util::*;

/// Starts drover with `args`, waits for the pid files `pids`, stops it with
/// SIGINT and returns its output lines.
fn run_until_started(dir: &TestDir, args: &[&str], pids: &[&str]) -> Vec<Line> {
    let mut all = PLAIN.to_vec();
    all.extend_from_slice(args);
    let run = dir.drover(&all).spawn();
    for p in pids {
        dir.wait_for_file(p);
    }
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    parse_text(&f.stdout)
}

#[test]
fn start_with_names_runs_only_those_processes() {
    let dir = TestDir::new();
    dir.procfile(
        "web: echo web here && exec $T --stay --pidfile web.pid\n\
         worker: touch worker-started; exec $T --stay --pidfile worker.pid\n\
         clock: touch clock-started; exec $T --stay --pidfile clock.pid\n",
    );
    let lines = run_until_started(&dir, &["web"], &["web.pid"]);
    assert_eq!(texts(&lines, "web.1"), ["web here"]);
    for line in &lines {
        assert!(line.name == "web.1" || line.name == "system", "{line:?}");
        assert!(
            !line.text().contains("worker") && !line.text().contains("clock"),
            "{line:?}"
        );
    }
    assert!(!dir.join("worker-started").exists());
    assert!(!dir.join("clock-started").exists());
}

const PORT_PROCFILE: &str = "\
web: echo port=$PORT ps=$PS && exec $T --stay --pidfile $PS.pid
worker: echo port=$PORT ps=$PS && exec $T --stay --pidfile $PS.pid
";

#[test]
fn port_and_ps_follow_the_formation() {
    let dir = TestDir::new();
    dir.procfile(PORT_PROCFILE);
    let pids = ["web.1.pid", "web.2.pid", "worker.1.pid"];
    let lines = run_until_started(&dir, &["-m", "web=2,worker=1"], &pids);
    assert_eq!(texts(&lines, "web.1"), ["port=5000 ps=web.1"]);
    assert_eq!(texts(&lines, "web.2"), ["port=5001 ps=web.2"]);
    assert_eq!(texts(&lines, "worker.1"), ["port=5100 ps=worker.1"]);
}

#[test]
fn port_option_shifts_the_ports() {
    let dir = TestDir::new();
    dir.procfile(PORT_PROCFILE);
    let pids = ["web.1.pid", "web.2.pid", "worker.1.pid"];
    let lines = run_until_started(&dir, &["-m", "web=2,worker=1", "-p", "6000"], &pids);
    assert_eq!(texts(&lines, "web.1"), ["port=6000 ps=web.1"]);
    assert_eq!(texts(&lines, "web.2"), ["port=6001 ps=web.2"]);
    assert_eq!(texts(&lines, "worker.1"), ["port=6100 ps=worker.1"]);
}

#[test]
fn formation_all_and_zero_counts() {
    let dir = TestDir::new();
    dir.procfile(PORT_PROCFILE);
    let lines = run_until_started(&dir, &["-m", "all=2,worker=0"], &["web.1.pid", "web.2.pid"]);
    assert_eq!(texts(&lines, "web.2"), ["port=5001 ps=web.2"]);
    assert!(
        lines.iter().all(|l| !l.name.starts_with("worker")),
        "{lines:?}"
    );
}

#[test]
fn env_file_values_reach_the_children() {
    let dir = TestDir::new();
    dir.procfile("app: echo \"greeting=$GREETING name=$NAME multi=$MULTI\" && exec $T --stay --pidfile app.pid\n");
    dir.write(
        "custom.env",
        "# values for the test\nGREETING=hello\nexport NAME='single quoted'\nMULTI=\"${GREETING} there\"\n",
    );
    // The default .env is not read when -e is given.
    dir.write(".env", "GREETING=from-default\n");
    let lines = run_until_started(&dir, &["-e", "custom.env"], &["app.pid"]);
    assert_eq!(
        texts(&lines, "app.1"),
        ["greeting=hello name=single quoted multi=hello there"]
    );
}

#[test]
fn several_env_files_are_read_in_order() {
    let dir = TestDir::new();
    dir.procfile("app: echo \"a=$A b=$B\" && exec $T --stay --pidfile app.pid\n");
    dir.write("one.env", "A=1\nB=1\n");
    dir.write("two.env", "B=2\n");
    let lines = run_until_started(&dir, &["-e", "one.env", "-e", "two.env"], &["app.pid"]);
    assert_eq!(texts(&lines, "app.1"), ["a=1 b=2"]);
}

#[test]
fn default_env_file_is_read_from_the_procfile_folder() {
    let dir = TestDir::new();
    dir.write(
        "app/Procfile",
        &dir.expand("app: echo \"greeting=$GREETING\" && exec $T --stay --pidfile $D/app.pid\n"),
    );
    dir.write("app/.env", "GREETING=from-app-folder\n");
    dir.write(".env", "GREETING=from-the-working-folder\n");
    let lines = run_until_started(&dir, &["-f", "app/Procfile"], &["app.pid"]);
    assert_eq!(texts(&lines, "app.1"), ["greeting=from-app-folder"]);
}

// ---------------------------------------------------------------------------
// Bad input

/// A Procfile line that would leave a trace if drover ever started it.
const MARKER_PROC: &str = "web: touch started; exec $T --stay --pidfile web.pid";

/// Runs drover with `args` and asserts it rejected its input: status 2,
/// nothing on stdout, one message on stderr that starts with
/// `drover: {message}` (further lines only hints), and no child started.
fn assert_rejected(dir: &TestDir, args: &[&str], message: &str) -> String {
    let f = dir.drover(args).run();
    assert_eq!(
        f.status.code(),
        Some(2),
        "drover {args:?}: status {:?}\nstderr:\n{}\nstdout:\n{}",
        f.status,
        f.stderr,
        f.text()
    );
    assert!(
        f.stdout.is_empty(),
        "drover {args:?} wrote to stdout: {:?}",
        f.text()
    );
    assert!(
        f.stderr.starts_with(&format!("drover: {message}")),
        "drover {args:?}: expected a message starting with {message:?}, got:\n{}",
        f.stderr
    );
    let mut lines = f.stderr.lines();
    lines.next();
    for more in lines {
        assert!(
            more.starts_with("  hint: "),
            "drover {args:?}: a second message: {more:?}\n{}",
            f.stderr
        );
    }
    assert!(!f.stderr.contains("panicked"), "{}", f.stderr);
    assert!(
        !dir.join("started").exists(),
        "drover {args:?} started a child"
    );
    f.stderr
}

#[test]
fn procfile_line_without_colon_is_rejected_naming_the_line() {
    let dir = TestDir::new();
    dir.procfile(&format!("{MARKER_PROC}\n# a comment\nworker ./worker\n"));
    assert_rejected(
        &dir,
        &[],
        "Procfile:3: missing ':' after process name \"worker\"",
    );
}

#[test]
fn duplicate_process_name_is_rejected_naming_both_lines() {
    let dir = TestDir::new();
    dir.procfile(&format!("{MARKER_PROC}\n\nweb: ./other\n"));
    assert_rejected(
        &dir,
        &[],
        "Procfile:3: duplicate process name \"web\" (first defined on line 1)",
    );
}

#[test]
fn missing_procfile_is_rejected() {
    let dir = TestDir::new();
    assert_rejected(&dir, &[], "Procfile: cannot read: no such file");
    dir.procfile(&format!("{MARKER_PROC}\n"));
    assert_rejected(
        &dir,
        &["-f", "elsewhere/Procfile"],
        "elsewhere/Procfile: cannot read: no such file",
    );
}

#[test]
fn missing_env_file_is_rejected() {
    let dir = TestDir::new();
    dir.procfile(&format!("{MARKER_PROC}\n"));
    assert_rejected(
        &dir,
        &["-e", "nope.env"],
        "nope.env: cannot read: no such file",
    );
    std::fs::create_dir(dir.join("folder.env")).unwrap();
    assert_rejected(
        &dir,
        &["-e", "folder.env"],
        "folder.env: is not a regular file (a directory)",
    );
}

#[test]
fn unterminated_quote_in_env_file_is_rejected_naming_the_line() {
    let dir = TestDir::new();
    dir.procfile(&format!("{MARKER_PROC}\n"));
    dir.write(".env", "A=1\nB=\"open\nstill open\n");
    // The default .env, found in the Procfile's folder.
    let err = assert_rejected(&dir, &[], "");
    let first = err.lines().next().unwrap();
    assert!(
        first.ends_with(".env:2: unterminated double quote in value of \"B\""),
        "{err}"
    );
    dir.write("bad.env", "A='open\n");
    assert_rejected(
        &dir,
        &["-e", "bad.env"],
        "bad.env:1: unterminated single quote in value of \"A\"",
    );
}

#[test]
fn empty_formation_is_rejected() {
    let dir = TestDir::new();
    dir.procfile(&format!("{MARKER_PROC}\n"));
    assert_rejected(
        &dir,
        &["-m", "all=0"],
        "--formation: the formation runs no process (every count is 0)",
    );
}

#[test]
fn unknown_process_name_is_rejected() {
    let dir = TestDir::new();
    dir.procfile(&format!("{MARKER_PROC}\n"));
    assert_rejected(&dir, &["api"], "PROCESS: no process named \"api\"");
}

#[test]
fn bad_formation_is_rejected() {
    let dir = TestDir::new();
    dir.procfile(&format!("{MARKER_PROC}\n"));
    assert_rejected(
        &dir,
        &["-m", "web"],
        "--formation: \"web\" is not NAME=COUNT",
    );
    assert_rejected(
        &dir,
        &["-m", "web=many"],
        "--formation: \"many\" in \"web=many\" is not a count",
    );
    assert_rejected(
        &dir,
        &["-m", "wbe=2"],
        "--formation: no process named \"wbe\"",
    );
}

#[test]
fn bad_timeout_is_rejected() {
    let dir = TestDir::new();
    dir.procfile(&format!("{MARKER_PROC}\n"));
    assert_rejected(
        &dir,
        &["--timeout=-1"],
        "--timeout: -1 is not a number of seconds from 0 to 86400",
    );
    // clap rejects what is not a number at all, also with status 2.
    let f = dir.drover(&["-t", "soon"]).run();
    assert_eq!(f.status.code(), Some(2), "{}", f.stderr);
    assert!(f.stdout.is_empty());
    assert!(
        f.stderr.contains("'soon'") && f.stderr.contains("--timeout"),
        "{}",
        f.stderr
    );
    assert!(!f.stderr.contains("panicked"), "{}", f.stderr);
    assert!(!dir.join("started").exists());
}

// ---------------------------------------------------------------------------
// Input that never ends

fn mkfifo(path: &std::path::Path) {
    let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
}

#[test]
fn a_fifo_or_a_device_as_input_is_refused_without_reading() {
    let dir = TestDir::new();
    dir.procfile(&format!("{MARKER_PROC}\n"));
    mkfifo(&dir.join("pipe"));
    let hint = "\n  hint: give the path of a file; drover reads no pipes, devices or folders\n";
    for flag in ["-f", "-e", "-c"] {
        let err = assert_rejected(
            &dir,
            &[flag, "pipe"],
            "pipe: is not a regular file (a FIFO)",
        );
        assert!(err.ends_with(hint), "{err}");
    }
    assert_rejected(
        &dir,
        &["-e", "/dev/zero"],
        "/dev/zero: is not a regular file (a character device)",
    );
}

#[test]
fn an_input_file_over_one_mebibyte_is_refused() {
    let dir = TestDir::new();
    dir.procfile(&format!("{MARKER_PROC}\n"));
    dir.write("big.env", &"#".repeat(1024 * 1024 + 1));
    assert_rejected(&dir, &["-e", "big.env"], "big.env: is larger than 1 MiB\n");
    dir.write("drover.toml", &"#".repeat(1024 * 1024 + 1));
    assert_rejected(&dir, &[], "./drover.toml: is larger than 1 MiB\n");
}

#[test]
fn a_runaway_env_expansion_is_refused_naming_its_line() {
    let dir = TestDir::new();
    dir.procfile(&format!("{MARKER_PROC}\n"));
    // Each line doubles the last; 30 lines would be 1 GiB each.
    let mut env = String::from("A0=xxxxxxxxxxxxxxxx\n");
    for i in 1..=30 {
        env.push_str(&format!("A{i}=${{A{}}}${{A{}}}\n", i - 1, i - 1));
    }
    dir.write("grow.env", &env);
    assert_rejected(
        &dir,
        &["-e", "grow.env"],
        "grow.env:14: value of \"A13\" is longer than 64 KiB\n  hint: ",
    );
}

#[test]
fn a_process_name_over_63_characters_is_refused() {
    let dir = TestDir::new();
    let long = "w".repeat(65_534);
    dir.procfile(&format!("{MARKER_PROC}\n{long}: ./server\n"));
    assert_rejected(
        &dir,
        &[],
        "Procfile:2: process name \"wwwwwwwwwwwwwwwwwwww...\" is 65534 characters long, \
         more than 63\n  hint: shorten the name to 63 characters or fewer\n",
    );
    let f = std::process::Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("check")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(f.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&f.stderr).starts_with("drover: Procfile:2: process name"));
    // The longest name runs.
    let name = "n".repeat(63);
    dir.procfile(&format!(
        "{name}: touch started; exec $T --stay --pidfile web.pid\n"
    ));
    run_until_started(&dir, &[], &["web.pid"]);
}

// ---------------------------------------------------------------------------
// .env and Procfile as foreman, honcho and python-dotenv read them

/// Starts drover with `args` (and `PORT` in its environment when given),
/// waits for the pid files `pids`, stops it and returns its lines.
fn run_with_port_env(dir: &TestDir, args: &[&str], port: Option<&str>, pids: &[&str]) -> Vec<Line> {
    let mut all = PLAIN.to_vec();
    all.extend_from_slice(args);
    let mut launch = dir.drover(&all);
    if let Some(port) = port {
        launch = launch.env("PORT", port);
    }
    let run = launch.spawn();
    for p in pids {
        dir.wait_for_file(p);
    }
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    for p in pids {
        std::fs::remove_file(dir.join(p)).unwrap();
    }
    parse_text(&f.stdout)
}

#[test]
fn only_braced_references_expand_in_env_files() {
    let dir = TestDir::new();
    dir.procfile(
        "app: printf '%s|%s|%s|%s\\n' \"$PASSWORD\" \"$URL\" \"$GREETING\" \"$QUOTED\" && exec $T --stay --pidfile app.pid\n",
    );
    dir.write(
        ".env",
        "HOST=db\nPASSWORD=pa$word\nURL=\"postgres://$HOST/${HOST}\"\n'GREETING'=hello\nQUOTED=\"$HOME\"\n",
    );
    let lines = run_until_started(&dir, &[], &["app.pid"]);
    assert_eq!(
        texts(&lines, "app.1"),
        ["pa$word|postgres://$HOST/db|hello|$HOME"]
    );
}

#[test]
fn a_lone_cr_ends_a_line_in_the_procfile_and_env_files() {
    let dir = TestDir::new();
    dir.procfile(
        "# old Mac line ends\rapp: echo \"a=$A b=$B\" && exec $T --stay --pidfile app.pid\r",
    );
    dir.write(".env", "A=1\rB=\"two\"\r");
    let lines = run_until_started(&dir, &[], &["app.pid"]);
    assert_eq!(texts(&lines, "app.1"), ["a=1 b=two"]);
}

#[test]
fn env_files_may_be_given_comma_separated() {
    let dir = TestDir::new();
    dir.procfile("app: echo \"a=$A b=$B c=$C\" && exec $T --stay --pidfile app.pid\n");
    dir.write("one.env", "A=1\nB=1\n");
    dir.write("two.env", "B=2\n");
    dir.write("three.env", "C=${B}3\n");
    let lines = run_until_started(
        &dir,
        &["-e", "one.env,two.env", "-e", "three.env"],
        &["app.pid"],
    );
    assert_eq!(texts(&lines, "app.1"), ["a=1 b=2 c=23"]);
}

#[test]
fn port_in_env_files_or_the_environment_sets_the_base_port() {
    let dir = TestDir::new();
    dir.procfile(
        "web: echo \"port=$PORT\" && exec $T --stay --pidfile web.pid\n\
         worker: echo \"port=$PORT\" && exec $T --stay --pidfile worker.pid\n",
    );
    let pids = ["web.pid", "worker.pid"];
    let ports = |lines: &[Line]| [texts(lines, "web.1"), texts(lines, "worker.1")].concat();
    // The environment's PORT, when no .env sets one.
    let lines = run_with_port_env(&dir, &[], Some("47000"), &pids);
    assert_eq!(ports(&lines), ["port=47000", "port=47100"]);
    // .env over the environment.
    dir.write(".env", "PORT=47200\n");
    let lines = run_with_port_env(&dir, &[], Some("47000"), &pids);
    assert_eq!(ports(&lines), ["port=47200", "port=47300"]);
    // -p over both.
    let lines = run_with_port_env(&dir, &["-p", "47400"], Some("47000"), &pids);
    assert_eq!(ports(&lines), ["port=47400", "port=47500"]);
    // drover.toml's port only replaces the default.
    dir.write("drover.toml", "port = 47600\n");
    let lines = run_with_port_env(&dir, &[], None, &pids);
    assert_eq!(ports(&lines), ["port=47200", "port=47300"]);
    std::fs::remove_file(dir.join(".env")).unwrap();
    let lines = run_with_port_env(&dir, &[], Some("47000"), &pids);
    assert_eq!(ports(&lines), ["port=47000", "port=47100"]);
    let lines = run_with_port_env(&dir, &[], None, &pids);
    assert_eq!(ports(&lines), ["port=47600", "port=47700"]);
}

#[test]
fn a_port_in_env_files_that_is_no_port_is_refused() {
    let dir = TestDir::new();
    dir.procfile(&format!("{MARKER_PROC}\n"));
    dir.write(".env", "A=1\nPORT=http\n");
    assert_rejected(
        &dir,
        &[],
        "./.env:2: PORT = \"http\" is not a port from 0 to 65535\n  hint: ",
    );
    std::fs::remove_file(dir.join(".env")).unwrap();
    let f = dir.drover(&["-m", "all=1"]).env("PORT", "99999").run();
    assert_eq!(f.status.code(), Some(2));
    assert_eq!(
        f.stderr,
        "drover: PORT: drover's environment has PORT=\"99999\", not a port from 0 to 65535\n  \
         hint: unset PORT, or give the base port with -p\n"
    );
    assert!(!dir.join("started").exists());
}
