//! Watching files against a real `drover start`: a change restarts its
//! process once (a new pid), `.git/` and gitignored folders do not, a burst
//! is one restart, a restart cascades to a dependent once its dependency is
//! ready again, and a process that keeps changing its own watched files is
//! no longer watched. Nothing here is timed: each negative check is
//! followed by a change that does restart, and the lines say which.

use crate::util::*;

/// `web` writes its pid to web.pid and says `up`, then stays.
const WEB: &str = "web: $T --pidfile web.pid --marker up --stay\n";

/// The system lines that say a restart was decided.
fn restarts(f: &Finished) -> Vec<String> {
    system_lines(&lines(f))
        .into_iter()
        .filter(|l| l.starts_with("restarting "))
        .collect()
}

/// drover with `toml`, once its watch is set up and web runs.
fn start(dir: &TestDir, toml: &str) -> (DroverRun, i32) {
    dir.write("drover.toml", toml);
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(dir, &mut run);
    run.wait_for_output("watching files for ");
    let pid = dir.pids("web.pid")[0];
    (run, pid)
}

fn stop(dir: &TestDir, run: DroverRun, pids: &[i32]) -> Finished {
    client(dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    assert_none_left(dir, pids, "after the shutdown");
    f
}

#[test]
fn a_change_restarts_its_process_once_and_git_or_ignored_files_do_not() {
    let dir = TestDir::new();
    dir.procfile(WEB);
    // The pid files are in the watched root too: ignored, as build output would be.
    dir.write(".gitignore", "build/\n*.tmp\n*.pid*\n");
    dir.write(".git/HEAD", "ref: refs/heads/main\n");
    dir.write("build/out.o", "");
    dir.write("src/app.py", "");
    let (run, first) = start(&dir, "[processes.web]\nwatch = [\".\"]\n");

    dir.write(".git/index", "changed");
    dir.write("build/out.o", "changed");
    dir.write("src/scratch.tmp", "changed");
    dir.write("src/app.py", "print('changed')");
    let second = new_pid(&dir, "web.pid", Some(first));
    wait_for_nth(&run, "| up", 2);
    let f = stop(&dir, run, &[first, second]);
    assert_eq!(restarts(&f), ["restarting web.1 (src/app.py changed)"]);
    assert!(!procs_alive(&[first]), "the first run was stopped");
}

fn procs_alive(pids: &[i32]) -> bool {
    pids.iter().any(|p| alive(*p))
}

#[test]
fn globs_pick_the_files_and_watch_ignore_leaves_some_out() {
    let dir = TestDir::new();
    dir.procfile(WEB);
    dir.write("src/app.py", "");
    dir.write("src/gen/x.py", "");
    dir.write("templates/a.html", "");
    let (run, first) = start(
        &dir,
        "[processes.web]\nwatch = [\"src/**/*.py\", \"templates/\"]\n\
         watch_ignore = [\"src/gen/\"]\n",
    );
    dir.write("src/notes.txt", "not a .py");
    dir.write("src/gen/x.py", "generated");
    dir.write("templates/new/b.html", "a new folder");
    let second = new_pid(&dir, "web.pid", Some(first));
    dir.write("src/app.py", "changed");
    let third = new_pid(&dir, "web.pid", Some(second));
    wait_for_nth(&run, "| up", 3);
    // A folder moved in from outside is watched too.
    dir.write("staging/c.html", "");
    std::fs::rename(dir.join("staging"), dir.join("templates/moved")).unwrap();
    let fourth = new_pid(&dir, "web.pid", Some(third));
    wait_for_nth(&run, "| up", 4);
    dir.write("templates/moved/d.html", "");
    let fifth = new_pid(&dir, "web.pid", Some(fourth));
    wait_for_nth(&run, "| up", 5);
    let f = stop(&dir, run, &[first, second, third, fourth, fifth]);
    assert_eq!(
        restarts(&f),
        [
            "restarting web.1 (templates/new/b.html changed)",
            "restarting web.1 (src/app.py changed)",
            "restarting web.1 (templates/moved/c.html changed)",
            "restarting web.1 (templates/moved/d.html changed)",
        ]
    );
}

#[test]
fn fifty_quick_changes_make_one_restart() {
    let dir = TestDir::new();
    dir.procfile(WEB);
    dir.write("src/keep", "");
    // A long quiet time, so that the burst is one even on a busy machine.
    let (run, first) = start(
        &dir,
        "[processes.web]\nwatch = [\"src/\"]\nwatch_debounce = \"1s\"\n",
    );
    for i in 0..50 {
        dir.write(&format!("src/f{i:02}.py"), "x");
    }
    let second = new_pid(&dir, "web.pid", Some(first));
    wait_for_nth(&run, "| up", 2);
    dir.write("src/last.py", "x");
    let third = new_pid(&dir, "web.pid", Some(second));
    wait_for_nth(&run, "| up", 3);
    let f = stop(&dir, run, &[first, second, third]);
    assert_eq!(
        restarts(&f),
        [
            "restarting web.1 (src/f00.py, src/f01.py, src/f02.py and 47 more changed)",
            "restarting web.1 (src/last.py changed)",
        ]
    );
}

#[test]
fn a_dependent_restarts_after_its_dependency_is_ready_again() {
    let dir = TestDir::new();
    dir.procfile(&format!(
        "db: $T --pidfile db.pid --marker 'db ready' --stay\n{WEB}"
    ));
    dir.write("db/schema.sql", "");
    dir.write(
        "drover.toml",
        "[processes.db]\nwatch = [\"db/\"]\nready = { log = \"db ready\" }\n\
         [processes.web]\ndepends_on = { db = \"ready\" }\nrestart_on_dependency = true\n",
    );
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    run.wait_for_output("watching files for db:");
    let (db1, web1) = (dir.pids("db.pid")[0], dir.pids("web.pid")[0]);
    dir.write("db/schema.sql", "create table t();");
    let db2 = new_pid(&dir, "db.pid", Some(db1));
    let web2 = new_pid(&dir, "web.pid", Some(web1));
    wait_for_nth(&run, "| up", 2);
    let f = stop(&dir, run, &[db1, web1, db2, web2]);
    let system = system_lines(&lines(&f));
    let at = |needle: &str| {
        system
            .iter()
            .position(|l| l == needle)
            .unwrap_or_else(|| panic!("no {needle:?} in {system:#?}"))
    };
    let db_ready_again = system
        .iter()
        .enumerate()
        .filter(|(_, l)| *l == "db.1 is ready")
        .nth(1)
        .map(|(i, _)| i)
        .expect("db.1 is ready twice");
    assert!(at("restarting db.1 (db/schema.sql changed)") < db_ready_again);
    assert!(db_ready_again < at("restarting web.1 (db.1 restarted)"));
    assert_eq!(restarts(&f).len(), 2, "{system:#?}");
}

#[test]
fn a_process_that_keeps_changing_its_own_files_is_no_longer_watched() {
    let dir = TestDir::new();
    // Each start appends to a file it watches: a restart loop.
    dir.procfile("web: echo x >> out/log.txt; exec $T --pidfile web.pid --marker up --stay\n");
    dir.write("out/.keep", "");
    dir.write(
        "drover.toml",
        "[processes.web]\nwatch = [\"out/\"]\nwatch_debounce = \"50ms\"\n",
    );
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    // The first start may have written before the watch was set up.
    run.wait_for_output("watching files for web:");
    dir.write("out/kick", "");
    run.wait_for_output("web.1: stopped watching its files: 5 restarts in 10s");
    let pid = dir.pids("web.pid")[0];
    let f = stop(&dir, run, &[pid]);
    assert_eq!(restarts(&f).len(), 5, "{:#?}", system_lines(&lines(&f)));
}

#[test]
fn a_bad_glob_is_refused_naming_its_line() {
    let dir = TestDir::new();
    dir.procfile(WEB);
    dir.write(
        "drover.toml",
        "[processes.web]\nwatch_debounce = \"100ms\"\nwatch = [\"src/[\"]\n",
    );
    let f = dir.drover(PLAIN).run();
    f.assert_code(2);
    assert!(
        f.stderr.contains("drover.toml:3") && f.stderr.contains("\"src/[\" is not a valid glob"),
        "{}",
        f.stderr
    );
    assert!(!dir.join("web.pid").exists(), "nothing started");
}

#[test]
fn the_watch_option_watches_the_root_for_a_process_without_watch() {
    let dir = TestDir::new();
    dir.procfile(WEB);
    dir.write(".gitignore", "*.pid*\n");
    dir.write("lib/app.js", "");
    let mut args = PLAIN.to_vec();
    args.push("--watch");
    let mut run = dir.drover(&args).spawn();
    wait_for_control(&dir, &mut run);
    run.wait_for_output("watching files for web:");
    let first = dir.pids("web.pid")[0];
    dir.write("lib/app.js", "changed");
    let second = new_pid(&dir, "web.pid", Some(first));
    wait_for_nth(&run, "| up", 2);
    let f = stop(&dir, run, &[first, second]);
    assert_eq!(restarts(&f), ["restarting web.1 (lib/app.js changed)"]);
}

#[test]
fn check_shows_each_watch() {
    let dir = TestDir::new();
    dir.procfile(&format!("{WEB}worker: $T --stay\n"));
    dir.write(
        "drover.toml",
        "[processes.web]\nwatch = [\"src/**/*.py\", \"templates/\"]\nwatch_ignore = [\"src/gen/\"]\n\
         [processes.worker]\ndepends_on = [\"web\"]\nrestart_on_dependency = true\n",
    );
    let out = client(&dir, &["check"]);
    let text = out.ok();
    assert!(
        text.contains("    watch: src/**/*.py, templates/, ignoring src/gen/ (debounce 0.2s)"),
        "{text}"
    );
    assert!(
        text.contains("    restarts once a restarted dependency is ready again"),
        "{text}"
    );
}
