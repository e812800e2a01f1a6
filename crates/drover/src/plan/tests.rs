//! `plan()` as a whole: ports, environment, selection and drover.toml's
//! values, each error naming its line.

use std::path::Path;

use super::*;
use crate::types::Signal;

fn opts(dir: &Path) -> StartOptions {
    StartOptions {
        procfile: dir.join("Procfile"),
        config: None,
        env_files: vec![],
        root: None,
        formation: None,
        port: None,
        timeout: None,
        names: vec![],
        can_die: vec![],
        tty: false,
        force_color: false,
        watch: false,
    }
}

#[test]
fn ports_follow_foreman() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Procfile"), "web: a\nworker: b\n").unwrap();
    let mut o = opts(dir.path());
    o.formation = Some("web=2,worker=2".into());
    let plan = plan(&o).unwrap();
    let ports: Vec<(String, u16)> = plan
        .specs
        .iter()
        .map(|s| (s.name.clone(), s.port))
        .collect();
    assert_eq!(
        ports,
        vec![
            ("web.1".into(), 5000),
            ("web.2".into(), 5001),
            ("worker.1".into(), 5100),
            ("worker.2".into(), 5101)
        ]
    );
    let env = &plan.specs[1].env;
    assert!(env.contains(&("PS".into(), "web.2".into())));
    assert!(env.contains(&("PORT".into(), "5001".into())));
}

#[test]
fn default_env_file_is_read_from_root() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Procfile"), "web: a\n").unwrap();
    std::fs::write(dir.path().join(".env"), "GREETING=hi\n").unwrap();
    let plan = plan(&opts(dir.path())).unwrap();
    assert!(plan.specs[0]
        .env
        .contains(&("GREETING".into(), "hi".into())));
}

#[test]
fn unknown_process_and_empty_formation_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Procfile"), "web: a\n").unwrap();
    let mut o = opts(dir.path());
    o.names = vec!["api".into()];
    let e = plan(&o).unwrap_err().to_string();
    assert!(e.contains("no process named \"api\""), "{e}");
    let mut o = opts(dir.path());
    o.formation = Some("all=0".into());
    let e = plan(&o).unwrap_err().to_string();
    assert!(e.contains("runs no process"), "{e}");
}

#[test]
fn stop_ladder_from_drover_toml() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Procfile"), "web: a\nworker: b\napi: c\n").unwrap();
    std::fs::write(
        dir.path().join("drover.toml"),
        "[processes.web]\nstop = [\"INT\", \"2s\", \"TERM\", 3, \"KILL\"]\n[processes.worker]\nstop = [\"QUIT\"]\n",
    )
    .unwrap();
    let plan = plan(&opts(dir.path())).unwrap();
    let steps = |i: usize| -> Vec<(i32, u64)> {
        plan.specs[i]
            .stop_ladder
            .iter()
            .map(|s| (s.signal.number(), s.wait.as_secs()))
            .collect()
    };
    assert_eq!(
        steps(0),
        vec![(libc::SIGINT, 2), (libc::SIGTERM, 3), (libc::SIGKILL, 0)]
    );
    assert_eq!(plan.specs[0].stop_ladder[0].signal, Signal::INT);
    assert_eq!(
        steps(1),
        vec![(libc::SIGQUIT, 5), (libc::SIGKILL, 0)],
        "KILL appended after the timeout"
    );
    assert_eq!(
        steps(2),
        vec![(libc::SIGTERM, 5), (libc::SIGKILL, 0)],
        "the default ladder"
    );
}

#[test]
fn bad_stop_ladders_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Procfile"), "web: a\n").unwrap();
    for (ladder, wanted) in [
        ("[\"INT\", \"5s\"]", "ends with a wait"),
        ("[\"KILL\", \"1s\", \"TERM\"]", "nothing can follow KILL"),
        ("[\"NOPE\"]", "not a signal"),
        ("[\"INT\", \"soon\", \"KILL\"]", "not a duration"),
    ] {
        std::fs::write(
            dir.path().join("drover.toml"),
            format!("[processes.web]\n\nstop = {ladder}\n"),
        )
        .unwrap();
        let e = plan(&opts(dir.path())).unwrap_err().to_string();
        assert!(e.contains("drover.toml:3: web: stop:"), "{e}");
        assert!(e.contains(wanted), "{e}");
    }
}

#[test]
fn more_bad_values_name_their_key_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Procfile"), "web: a\n").unwrap();
    for (toml, line, wanted) in [
        (
            "[processes.web]\n\ncwd = \"nope\"\n",
            3,
            "is not a directory",
        ),
        ("[processes.web]\ninstances = 5000\n", 2, "more than 1000"),
        ("[processes.web]\nstop = [2.7]\n", 2, "not a signal number"),
        (
            "[processes.web]\nenv = { \"A=B\" = \"x\" }\n",
            2,
            "not a variable name",
        ),
    ] {
        std::fs::write(dir.path().join("drover.toml"), toml).unwrap();
        let e = plan(&opts(dir.path())).unwrap_err().to_string();
        assert!(e.contains(&format!("drover.toml:{line}:")), "{e}");
        assert!(e.contains(wanted), "{e}");
    }
}

#[test]
fn probes_take_each_instances_variables() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Procfile"), "web: a\napi: b\n").unwrap();
    std::fs::write(
        dir.path().join("drover.toml"),
        "[processes.web]\nready = { tcp = \"$PORT\" }\n\
         [processes.api]\nports = [\"http\"]\n\
         ready = { http = \"http://localhost:${PORT_HTTP}/$PS\" }\n",
    )
    .unwrap();
    let mut o = opts(dir.path());
    o.formation = Some("web=2".into());
    let mut plan = plan(&o).unwrap();
    let probes: Vec<Probe> = plan
        .specs
        .iter()
        .map(|s| s.ready.clone().unwrap().probe)
        .collect();
    assert_eq!(
        probes,
        [
            Probe::Tcp("127.0.0.1:5000".into()),
            Probe::Tcp("127.0.0.1:5001".into()),
            Probe::Http {
                address: "localhost:${PORT_HTTP}".into(),
                path: "/api.1".into()
            },
        ]
    );
    let api = &mut plan.specs[2];
    let ready = api.ready.as_mut().unwrap();
    expand_named_ports(ready, &[("PORT_HTTP".into(), "41234".into())]).unwrap();
    assert_eq!(
        ready.probe,
        Probe::Http {
            address: "localhost:41234".into(),
            path: "/api.1".into()
        }
    );
}

#[test]
fn tty_and_force_color_come_from_the_table_the_global_key_or_the_option() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Procfile"), "web: a\nrepl: b\nworker: c\n").unwrap();
    std::fs::write(
        dir.path().join("drover.toml"),
        "force_color = true\n[processes.repl]\ntty = true\n[processes.worker]\nforce_color = false\n",
    )
    .unwrap();
    let terminal = |o: &StartOptions| -> Vec<(bool, bool)> {
        let plan = plan(o).unwrap();
        plan.specs.iter().map(|s| (s.tty, s.force_color)).collect()
    };
    let mut o = opts(dir.path());
    // web: the global force_color; repl: a pty (which needs no forcing);
    // worker: its own force_color = false.
    assert_eq!(terminal(&o), [(false, true), (true, false), (false, false)]);
    o.force_color = true;
    assert_eq!(terminal(&o), [(false, true), (true, false), (false, true)]);
    o.tty = true;
    assert_eq!(terminal(&o), [(true, false), (true, false), (true, false)]);
}

#[test]
fn a_global_tty_yields_to_a_table_that_says_no() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Procfile"), "web: a\nlog: b\n").unwrap();
    std::fs::write(
        dir.path().join("drover.toml"),
        "tty = true\n[processes.log]\ntty = false\n",
    )
    .unwrap();
    let plan = plan(&opts(dir.path())).unwrap();
    let ttys: Vec<bool> = plan.specs.iter().map(|s| s.tty).collect();
    assert_eq!(ttys, [true, false]);
}

#[test]
fn terminal_variables_are_added_only_where_the_user_set_none() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Procfile"), "web: a\n").unwrap();
    std::fs::write(dir.path().join(".env"), "CLICOLOR_FORCE=0\n").unwrap();
    let mut o = opts(dir.path());
    o.force_color = true;
    let mut spec = plan(&o).unwrap().specs.remove(0);
    let nothing_inherited = |_: &str| false;
    assert_eq!(
        spec.terminal_env(nothing_inherited),
        [("FORCE_COLOR", "1")],
        "the .env's CLICOLOR_FORCE is kept"
    );
    assert_eq!(
        spec.terminal_env(|k| k == "FORCE_COLOR"),
        [],
        "drover's own FORCE_COLOR is kept"
    );
    spec.force_color = false;
    assert_eq!(spec.terminal_env(nothing_inherited), []);
    spec.tty = true;
    assert_eq!(
        spec.terminal_env(nothing_inherited),
        [("TERM", "xterm-256color")]
    );
    assert_eq!(spec.terminal_env(|k| k == "TERM"), []);
}

#[test]
fn watch_keys_and_the_watch_option() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Procfile"), "web: a\nworker: b\n").unwrap();
    std::fs::create_dir(dir.path().join("app")).unwrap();
    std::fs::write(
        dir.path().join("drover.toml"),
        "[processes.web]\ncwd = \"app\"\nwatch = [\"src/**/*.py\", \"templates/\"]\n\
         watch_ignore = [\"*.tmp\"]\nwatch_debounce = \"50ms\"\nrestart_on_dependency = true\n",
    )
    .unwrap();
    let plan = plan(&opts(dir.path())).unwrap();
    let web = plan.specs[0].watch.as_ref().unwrap();
    assert_eq!(web.dir, dir.path().join("app"));
    assert_eq!(web.paths, ["src/**/*.py", "templates/"]);
    assert_eq!(web.ignore, ["*.tmp"]);
    assert_eq!(web.debounce, Duration::from_millis(50));
    assert!(plan.specs[0].restart_on_dependency);
    assert!(plan.specs[1].watch.is_none());
    assert!(!plan.specs[1].restart_on_dependency);

    let mut o = opts(dir.path());
    o.watch = true;
    let plan = plan_of(&o);
    let worker = plan.specs[1].watch.as_ref().unwrap();
    assert_eq!(worker.dir, dir.path());
    assert_eq!(worker.paths, ["."]);
    assert_eq!(worker.debounce, WatchSpec::DEFAULT_DEBOUNCE);
    // A process's own `watch` wins over --watch.
    assert_eq!(plan.specs[0].watch.as_ref().unwrap().paths.len(), 2);
}

fn plan_of(o: &StartOptions) -> Plan {
    plan(o).unwrap()
}

#[test]
fn a_bad_watch_glob_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Procfile"), "web: a\n").unwrap();
    std::fs::write(
        dir.path().join("drover.toml"),
        "[processes.web]\nwatch = [\"src/[\"]\n",
    )
    .unwrap();
    let e = plan(&opts(dir.path())).unwrap_err().to_string();
    assert!(e.contains("drover.toml:2"), "{e}");
    assert!(
        e.contains("web: watch: \"src/[\" is not a valid glob"),
        "{e}"
    );
    std::fs::write(
        dir.path().join("drover.toml"),
        "[processes.web]\nwatch_ignore = [\"../x\"]\n",
    )
    .unwrap();
    let e = plan(&opts(dir.path())).unwrap_err().to_string();
    assert!(e.contains("outside its folder"), "{e}");
}
