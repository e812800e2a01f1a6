//! `drover check` and `drover run`, through the real binary in a temp dir.

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

fn drover(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .current_dir(dir)
        .env_remove("PORT")
        .stdin(Stdio::null())
        .output()
        .expect("running drover")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn app(procfile: &str, env: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Procfile"), procfile).unwrap();
    if !env.is_empty() {
        std::fs::write(dir.path().join(".env"), env).unwrap();
    }
    dir
}

#[test]
fn check_prints_the_plan_with_values_hidden() {
    let dir = app(
        "web: serve --port $PORT\nworker: ./work\n",
        "SECRET=hunter2\nGREETING=\"hello world\"\n",
    );
    let out = drover(dir.path(), &["check", "-m", "web=2", "-p", "6000"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("env files: ./.env"), "{stdout}");
    assert!(stdout.contains("processes: 2 (3 instances)"), "{stdout}");
    assert!(
        stdout.contains("  web: web.1, web.2 (ports 6000-6001)\n    command: serve --port $PORT\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  worker: worker.1 (port 6100)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("stop: SIGTERM, then SIGKILL after 5s; restart: no"),
        "{stdout}"
    );
    assert!(stdout.contains("  SECRET=***\n"), "{stdout}");
    assert!(stdout.contains("  GREETING=***\n"), "{stdout}");
    assert!(!stdout.contains("hunter2"), "a value leaked: {stdout}");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn check_shows_dependencies_and_stop_ladders_from_drover_toml() {
    let dir = app("web: serve\napi: api\n", "");
    std::fs::write(
        dir.path().join("drover.toml"),
        "[processes.web]\nstop = [\"INT\", \"2s\", \"TERM\", \"3s\", \"KILL\"]\ndepends_on = [\"api\"]\n",
    )
    .unwrap();
    let out = drover(dir.path(), &["check"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("config: ./drover.toml\n"), "{stdout}");
    assert!(
        stdout.contains("    stop: SIGINT, wait 2s, SIGTERM, wait 3s, SIGKILL; restart: no\n    depends on: api (started)\n"),
        "{stdout}"
    );
}

#[test]
fn check_show_env_shows_values() {
    let dir = app("web: x\n", "SECRET=hunter2\nMULTI=\"a\\nb\"\n");
    let out = drover(dir.path(), &["check", "--show-env"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("  SECRET=hunter2\n"), "{stdout}");
    assert!(stdout.contains("  MULTI=\"a\\nb\"\n"), "{stdout}");
}

#[test]
fn check_reports_start_errors_with_file_and_line() {
    let dir = app("web: x\nthis line is wrong\n", "");
    let out = drover(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("drover: Procfile:2: "), "{stderr}");
    assert!(out.stdout.is_empty());

    let dir = app("web: x\n", "GOOD=1\nBAD LINE\n");
    let out = drover(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("drover: ./.env:2: "), "{stderr}");

    let dir = app("web: x\n", "");
    let out = drover(dir.path(), &["check", "-m", "nope=1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("drover: --formation: "));
}

#[test]
fn check_and_start_agree_on_errors() {
    let dir = app("web x\n", "");
    let check = drover(dir.path(), &["check"]);
    let start = drover(dir.path(), &["start"]);
    assert_eq!(check.status.code(), Some(2));
    assert_eq!(start.status.code(), Some(2));
    assert_eq!(text(&check.stderr), text(&start.stderr));
}

#[test]
fn run_passes_the_exit_status_through() {
    let dir = app("web: x\n", "");
    let out = drover(dir.path(), &["run", "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = drover(dir.path(), &["run", "exit 3"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "one string with shell syntax goes to sh -c"
    );
    let out = drover(dir.path(), &["run", "true"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn run_gives_the_app_environment() {
    let dir = app("web: x\n", "GREETING=\"hello  world\"\nPCT='100% $x'\n");
    let out = drover(
        dir.path(),
        &[
            "run",
            "-p",
            "6000",
            "--",
            "sh",
            "-c",
            r#"printf '%s|%s|%s' "$PORT" "$GREETING" "$PCT""#,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "6000|hello  world|100% $x");

    let out = drover(dir.path(), &["run", "echo $PORT"]);
    assert_eq!(text(&out.stdout), "5000\n");

    // Executed directly, without a shell: the argument stays one word.
    let out = drover(dir.path(), &["run", "printenv", "GREETING"]);
    assert_eq!(text(&out.stdout), "hello  world\n");

    let extra = dir.path().join("extra.env");
    std::fs::write(&extra, "GREETING=other\n").unwrap();
    let out = drover(
        dir.path(),
        &["run", "-e", "extra.env", "printenv", "GREETING"],
    );
    assert_eq!(text(&out.stdout), "other\n");
}

#[test]
fn run_works_without_a_procfile() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "A=1\n").unwrap();
    let out = drover(dir.path(), &["run", "printenv", "A"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "1\n");
}

#[test]
fn run_reports_missing_and_unknown_commands() {
    let dir = app("web: x\n", "");
    let out = drover(dir.path(), &["run"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    let out = drover(dir.path(), &["run", "no-such-command-drover-test", "x"]);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        text(&out.stderr),
        "drover: cannot run \"no-such-command-drover-test\": command not found\n"
    );

    let bad = app("web: x\n", "A=\"unclosed\n");
    let out = drover(bad.path(), &["run", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("drover: ./.env:1: "),
        "{}",
        text(&out.stderr)
    );
}

/// Kills the child on drop, so a failed assertion leaves no process.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn run_passes_signals_through() {
    let dir = app("web: x\n", "");
    for (signal, number) in [(libc::SIGTERM, 15), (libc::SIGINT, 2), (libc::SIGHUP, 1)] {
        let child = Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(["run", "--", "sh", "-c", "echo $$; exec sleep 30"])
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut child = Reaper(child);
        let mut line = String::new();
        BufReader::new(child.0.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        // The command runs in drover's place: same pid, so a signal sent to
        // drover is a signal sent to the command.
        assert_eq!(line.trim(), child.0.id().to_string());
        let pid = i32::try_from(child.0.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        let status = child.0.wait().unwrap();
        assert_eq!(status.signal(), Some(number), "{status:?}");
        // As a shell reports it: 128 + signal (143 for SIGTERM).
        let shell = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{} run -- sh -c 'kill -{number} $$'; echo $?",
                env!("CARGO_BIN_EXE_drover")
            ))
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(text(&shell.stdout), format!("{}\n", 128 + number));
    }
}

#[test]
fn check_shows_the_backoff_raised_to_its_floor() {
    let dir = app("web: serve\nworker: work\n", "");
    std::fs::write(
        dir.path().join("drover.toml"),
        "[processes.web]\nrestart = \"always\"\nbackoff = { initial = \"0s\" }\n\
         [processes.worker]\nrestart = \"on-failure\"\nbackoff = { initial = \"250ms\", max = \"2s\" }\n",
    )
    .unwrap();
    let out = drover(dir.path(), &["check"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("    stop: SIGTERM, then SIGKILL after 5s; restart: always (after 0.1s, doubling up to 30s)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("restart: on-failure (after 0.25s, doubling up to 2s)\n"),
        "{stdout}"
    );
}

#[test]
fn check_starts_with_foremans_line() {
    let dir = app("web: serve\nworker: work\n", "");
    std::fs::write(
        dir.path().join("drover.toml"),
        "[processes.clock]\ncommand = \"tick\"\n",
    )
    .unwrap();
    let out = drover(dir.path(), &["check", "-m", "worker=0"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with("valid procfile detected (web, worker, clock)\nprocfile: Procfile\n"),
        "{stdout}"
    );
}

#[test]
fn port_from_env_file_sets_the_base_port_for_run_and_export() {
    let dir = app("web: serve\n", "PORT=7300\n");
    let out = drover(dir.path(), &["run", "echo $PORT"]);
    assert_eq!(text(&out.stdout), "7300\n", "{}", text(&out.stderr));
    let out = drover(dir.path(), &["run", "-p", "7400", "echo $PORT"]);
    assert_eq!(text(&out.stdout), "7400\n");
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["run", "echo $PORT"])
        .current_dir(dir.path())
        .env("PORT", "7500")
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "7300\n", ".env over the environment");
    // Without a Procfile too.
    std::fs::remove_file(dir.path().join("Procfile")).unwrap();
    let out = drover(dir.path(), &["run", "echo $PORT"]);
    assert_eq!(text(&out.stdout), "7300\n", "{}", text(&out.stderr));

    let dir = app("web: serve\n", "PORT=7300\n");
    let out = drover(dir.path(), &["export", "systemd", "units", "-a", "shop"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let target = std::fs::read_to_string(dir.path().join("units/shop.target")).unwrap();
    assert!(target.contains("Wants=shop-web@7300.service\n"), "{target}");
}

#[test]
fn check_shows_kill_mode_and_can_die() {
    let dir = app("web: serve\nrelease: migrate\nworker: work\n", "");
    std::fs::write(
        dir.path().join("drover.toml"),
        "[processes.web]\nkill_mode = \"mixed\"\n[processes.release]\ncan_die = true\n\
         [processes.worker]\nkill_mode = \"control-group\"\n",
    )
    .unwrap();
    let out = drover(dir.path(), &["check"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(
            "restart: no\n    kill mode: mixed (stop signals to the main process, SIGKILL to the group)\n  release:"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("restart: no\n    can die: its end stops nothing\n  worker:"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("control-group"),
        "the default is not shown: {stdout}"
    );
    assert_eq!(stdout.matches("can die").count(), 1, "{stdout}");

    let out = drover(dir.path(), &["check", "--can-die", "worker,web"]);
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout.matches("can die: its end stops nothing").count(),
        3,
        "{stdout}"
    );
}

#[test]
fn check_shows_each_instances_probe_with_its_variables() {
    let dir = app("web: serve\napi: api\ndb: db\n", "HEALTH=/healthz\n");
    std::fs::write(
        dir.path().join("drover.toml"),
        "[processes.web]\nready = { http = \"http://127.0.0.1:$PORT${HEALTH}\" }\n\
         [processes.api]\nports = [\"admin\"]\nready = { tcp = \"${PORT_ADMIN}\" }\n\
         [processes.db]\nready = { tcp = \"$PORT\" }\n",
    )
    .unwrap();
    let out = drover(dir.path(), &["check", "-m", "web=2", "-p", "6000"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(
            "    ready, tried every 0.25s, for at most 60s:\n      web.1: http 127.0.0.1:6000/healthz\n      \
             web.2: http 127.0.0.1:6001/healthz\n"
        ),
        "{stdout}"
    );
    // A named port is allocated at the start.
    assert!(
        stdout.contains(
            "    ready: tcp 127.0.0.1:${PORT_ADMIN}, tried every 0.25s, for at most 60s\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("    ready: tcp 127.0.0.1:6200, tried every 0.25s, for at most 60s\n"),
        "{stdout}"
    );
}

#[test]
fn run_name_runs_that_procfile_entry_with_its_environment() {
    let dir = app(
        "web: x\nrelease: printf '%s|%s|%s|%s' \"$GREETING\" \"$STAGE\" \"$PS\" \"$PORT\"\n",
        "GREETING=hello\n",
    );
    std::fs::write(
        dir.path().join("drover.toml"),
        "[processes.release]\nenv = { STAGE = \"migrate\" }\n",
    )
    .unwrap();
    let out = drover(dir.path(), &["run", "release"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello|migrate|release.1|5100");
    // A word that names no process is a command, as before.
    let out = drover(dir.path(), &["run", "true"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn check_shows_sockets_and_warns_when_a_shell_would_hold_them() {
    let dir = app("web: serve --fd 3\nboth: migrate && serve --fd 3\n", "");
    std::fs::write(
        dir.path().join("drover.toml"),
        "[processes.web]\nsockets = [\"tcp:127.0.0.1:$PORT\"]\n\
         [processes.both]\nsockets = [\"api=unix:run/api.sock\"]\n",
    )
    .unwrap();
    let out = drover(dir.path(), &["check", "-p", "6000"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("    sockets: web=tcp:127.0.0.1:6000 (LISTEN_FDS)"),
        "{stdout}"
    );
    assert!(stdout.contains("    sockets: api=unix:"), "{stdout}");
    let warnings: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("LISTEN_PID names the shell"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "only both's command keeps a shell: {stdout}"
    );
}
