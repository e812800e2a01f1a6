//! `drover export`, through the real binary, checked by each target's own
//! reader: `systemd-analyze verify`, `kubernetes-validate` (and PyYAML for
//! the values), and a real `supervisord` that starts and stops the exported
//! processes. The app's commands and variables are hostile on purpose:
//! spaces, both quotes, `$`, `%`, `;` and `#` after a space, backslashes,
//! newlines, commas and non-ASCII.
//!
//! The validators are not optional: when one is missing the test fails and
//! says how to install it (`scripts/test` does, into `target/test-venv`; tests look for
//! the Python tools in `$DROVER_TEST_VENV/bin`, then `target/test-venv/bin`, then
//! on PATH).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The variables every exporter must carry exactly, as the .env file
/// below defines them.
fn hostile_values(out_dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("OUT", out_dir.display().to_string()),
        ("SPACES", "a  b   c".into()),
        ("DQ", "say \"hi\" now".into()),
        ("SQ", "it's".into()),
        ("DOLLAR", "$HOME ${PORT} $$ $(date) `id`".into()),
        ("PCT", "100% %i %n %(program_name)s %%".into()),
        ("BSL", r"back\slash \n not a newline\".into()),
        (
            "NL",
            "line1\nline2 \n  indented\n;semi\n#hash\n\nafter blank".into(),
        ),
        ("SEMI", "x ;y #z,w=v".into()),
        ("UNI", "café ünï ☃".into()),
        ("EMPTY", String::new()),
    ]
}

/// Values supervisord's environment= cannot hold (it has no escapes).
const BOTH_QUOTES: (&str, &str) = ("BOTH", "it's \"both\" kinds");

fn env_file(vars: &[(&str, String)]) -> String {
    // Single quotes are literal in drover's .env, but cannot hold a `'`;
    // double quotes need `\`, `"`, `$` escaped.
    let mut text = String::new();
    for (key, value) in vars {
        if !value.contains('\'') {
            text.push_str(&format!("{key}='{value}'\n"));
        } else {
            let escaped = value
                .replace('\\', r"\\")
                .replace('"', "\\\"")
                .replace('$', "\\$")
                .replace('\n', r"\n");
            text.push_str(&format!("{key}=\"{escaped}\"\n"));
        }
    }
    text
}

/// The command of `web`, whose own text is hostile too; it records its
/// environment, the literal it printed, and its pid (last, by rename, so a
/// pid file is whole once it exists).
const WEB: &str = r#"env -0 > "$OUT/web-$PORT.env" ; printf '%s' 'a ;b #c 100% \ "q" $x' > "$OUT/web-$PORT.cmd" ; echo $$ > "$OUT/web-$PORT.tmp" && mv "$OUT/web-$PORT.tmp" "$OUT/web-$PORT.pid" ; exec sleep 300"#;
/// A process that leaves a child in its process group (and, not mentioning
/// PORT, gets no Kubernetes Service).
const WORKER: &str = r#"sleep 300 & echo $! > "$OUT/worker-bg.pid" ; echo $$ > "$OUT/w.tmp" && mv "$OUT/w.tmp" "$OUT/worker.pid" ; exec sleep 300"#;
/// The literal WEB prints.
const WEB_LITERAL: &str = r#"a ;b #c 100% \ "q" $x"#;

struct App {
    dir: tempfile::TempDir,
    out: PathBuf,
    vars: Vec<(&'static str, String)>,
}

/// A folder `my_app` with the Procfile above and a hostile .env.
fn app(with_both_quotes: bool) -> App {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("my_app");
    let out = dir.path().join("out dir");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        root.join("Procfile"),
        format!("web: {WEB}\nworker_2: {WORKER}\n"),
    )
    .unwrap();
    let mut vars = hostile_values(&out);
    if with_both_quotes {
        vars.push((BOTH_QUOTES.0, BOTH_QUOTES.1.into()));
    }
    std::fs::write(root.join(".env"), env_file(&vars)).unwrap();
    App { dir, out, vars }
}

impl App {
    fn root(&self) -> PathBuf {
        self.dir.path().join("my_app")
    }

    fn export(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_drover"))
            .arg("export")
            .args(args)
            .current_dir(self.root())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        out
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    text(&out.stdout).trim().to_owned()
}

/// A tool from `target/test-venv` (or `$DROVER_TEST_VENV`), else from PATH; a
/// missing tool fails the test with what to do.
fn venv_tool(name: &str) -> PathBuf {
    if let Some(venv) = std::env::var_os("DROVER_TEST_VENV") {
        let path = Path::new(&venv).join("bin").join(name);
        assert!(
            path.is_file(),
            "{} is missing: DROVER_TEST_VENV is set but the venv lacks {name}; \
             run .ci/run, or pip install kubernetes-validate supervisor into it",
            path.display()
        );
        return path;
    }
    let repo_venv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-venv/bin")
        .join(name);
    if repo_venv.is_file() {
        return repo_venv;
    }
    on_path(name).unwrap_or_else(|| {
        panic!(
            "{name} not found (looked in $DROVER_TEST_VENV/bin, target/test-venv/bin and PATH): \
             run scripts/test (or .ci/run), which installs kubernetes-validate and supervisor into target/test-venv"
        )
    })
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn systemd_analyze() -> PathBuf {
    on_path("systemd-analyze").unwrap_or_else(|| {
        panic!(
            "systemd-analyze not found on PATH: install Debian's systemd package \
             (apt-get install systemd); .ci/run does"
        )
    })
}

/// Runs `systemd-analyze verify` on `units` (file names in `dir`); returns
/// its status and everything it printed.
fn verify_units(dir: &Path, units: &[String]) -> (bool, String) {
    let out = Command::new(systemd_analyze())
        .arg("verify")
        .arg("--man=no")
        .args(units.iter().map(|u| dir.join(u)))
        // Dependencies (the target's Wants=) are looked up here too.
        .env("SYSTEMD_UNIT_PATH", format!("{}:", dir.display()))
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let app = app(true);
    let dest = app.dir.path().join("units");
    let user = current_user();
    let out = app.export(&[
        "systemd",
        dest.to_str().unwrap(),
        "-m",
        "web=2",
        "-u",
        &user,
        "-t",
        "7.5",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut names: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "my_app-web@.service",
            "my_app-worker_2@.service",
            "my_app.target"
        ]
    );
    let target = std::fs::read_to_string(dest.join("my_app.target")).unwrap();
    assert!(
        target.contains("Wants=my_app-web@5000.service my_app-web@5001.service\n"),
        "{target}"
    );
    assert!(
        target.contains("Wants=my_app-worker_2@5100.service\n"),
        "{target}"
    );
    let web = std::fs::read_to_string(dest.join("my_app-web@.service")).unwrap();
    for expected in [
        "KillMode=control-group\n",
        "KillSignal=SIGTERM\n",
        "TimeoutStopSec=7500ms\n",
        "Restart=no\n",
        "Environment=PORT=%i\n",
        "PartOf=my_app.target\n",
        &format!("User={user}\n"),
        &format!("WorkingDirectory={}\n", std::fs::canonicalize(app.root()).unwrap().display()),
        "Environment=\"PCT=100%% %%i %%n %%(program_name)s %%%%\"\n",
        "Environment=\"BOTH=it's \\\"both\\\" kinds\"\n",
        "Environment=\"NL=line1\\nline2 \\n  indented\\n;semi\\n#hash\\n\\nafter blank\"\n",
        "ExecStart=/bin/sh -c 'env -0 > \"$$OUT/web-$$PORT.env\" ; printf \\'%%s\\' \\'a ;b #c 100%% \\\\ \"q\" $$x\\' ",
    ] {
        assert!(web.contains(expected), "missing {expected:?} in\n{web}");
    }

    // Every instance of the formation, through the target, as systemd loads them.
    let mut units = vec!["my_app.target".to_owned()];
    units.extend(
        [
            "my_app-web@5000.service",
            "my_app-web@5001.service",
            "my_app-worker_2@5100.service",
        ]
        .map(String::from),
    );
    let (ok, printed) = verify_units(&dest, &units);
    assert!(
        ok && printed.is_empty(),
        "systemd-analyze verify complained:\n{printed}"
    );

    // The check above would see a quoting mistake: systemd warns and goes on.
    std::fs::write(
        dest.join("broken@.service"),
        "[Service]\nEnvironment=\"A=\\q\"\nExecStart=/bin/sh -c 'echo \\q'\n",
    )
    .unwrap();
    let (_, printed) = verify_units(&dest, &["broken@1.service".to_owned()]);
    assert!(
        printed.contains("escape"),
        "systemd-analyze verify said nothing of bad escapes: {printed:?}"
    );
}

#[test]
fn existing_files_are_not_overwritten_without_force() {
    let app = app(true);
    let dest = app.dir.path().join("units");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("my_app-web@.service"), "mine").unwrap();
    let out = app.export(&["systemd", dest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!(
            "drover: {}: already exists; nothing was written\n  hint: pass --force to overwrite it\n",
            dest.join("my_app-web@.service").display()
        )
    );
    assert!(
        !dest.join("my_app.target").exists(),
        "a refused export wrote a file"
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("my_app-web@.service")).unwrap(),
        "mine"
    );
    let out = app.export(&["systemd", dest.to_str().unwrap(), "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_ne!(
        std::fs::read_to_string(dest.join("my_app-web@.service")).unwrap(),
        "mine"
    );

    let app = self::app(false);
    let conf = app.dir.path().join("app.conf");
    std::fs::write(&conf, "mine").unwrap();
    let out = app.export(&["supervisord", conf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("app.conf: already exists"));
}

#[test]
fn bad_input_and_bad_options_exit_2() {
    let app = app(true);
    let dest = app.dir.path().join("x");
    let out = app.export(&["systemd", dest.to_str().unwrap(), "-a", "bad name"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("drover: --app: \"bad name\""),
        "{}",
        text(&out.stderr)
    );
    let out = app.export(&["supervisord", dest.to_str().unwrap(), "-u", "a b"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("drover: --user: "),
        "{}",
        text(&out.stderr)
    );
    let out = app.export(&["kubernetes", dest.to_str().unwrap(), "-u", "deploy"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("numeric user id"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(app.root().join("Procfile"), "web: x\noops\n").unwrap();
    let out = app.export(&["systemd", dest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("drover: Procfile:2: "),
        "{}",
        text(&out.stderr)
    );
    assert!(!dest.exists());
}

/// Kubernetes' own expansion of `$(VAR)` in `command`, where `$$` is a `$`
/// (k8s.io/kubernetes third_party/forked/golang/expansion); no variable is
/// defined here, so a reference stays as written.
fn kubernetes_expand(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'$') {
            out.push('$');
            i += 2;
            continue;
        }
        let c = input[i..].chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

#[test]
fn kubernetes_manifests_pass_kubernetes_validate() {
    let app = app(true);
    let dest = app.dir.path().join("k8s");
    let out = app.export(&[
        "kubernetes",
        dest.to_str().unwrap(),
        "-m",
        "web=3",
        "-t",
        "2.5",
        "-u",
        "1000",
        "--image",
        "registry.example/my-app:1.2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "my-app-env.yaml",
            "my-app-web-deployment.yaml",
            "my-app-web-service.yaml",
            "my-app-worker-2-deployment.yaml"
        ]
    );

    let validate = venv_tool("kubernetes-validate");
    let version = Command::new(&validate).arg("--version").output().unwrap();
    let out = Command::new(&validate)
        .arg("--strict")
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubernetes-validate {} rejected the manifests:\n{}{}",
        text(&version.stdout).trim(),
        text(&out.stdout),
        text(&out.stderr)
    );
    let report = text(&out.stdout) + &text(&out.stderr);
    assert_eq!(report.matches("passed").count(), 4, "{report}");

    // The validator above does reject what is wrong.
    let bad = app.dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: \"three\", selector: {}, template: {}}\n",
    )
    .unwrap();
    let out = Command::new(&validate)
        .arg("--strict")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "kubernetes-validate accepted a bad manifest"
    );

    // Every value read back by a YAML reader (PyYAML, as kubectl's Go reader
    // would) is the value drover was given.
    let python = venv_tool("python3");
    let mut docs = BTreeMap::new();
    for (file, name) in files.iter().zip(&names) {
        let out = Command::new(&python)
            .args([
                "-c",
                "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1], encoding='utf-8')))))",
            ])
            .arg(file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        docs.insert(name.clone(), parsed[0].clone());
    }
    let cm = &docs["my-app-env.yaml"];
    assert_eq!(cm["kind"], "ConfigMap");
    for (key, value) in &app.vars {
        assert_eq!(
            cm["data"][key],
            serde_json::Value::from(value.as_str()),
            "variable {key}"
        );
    }
    let web = &docs["my-app-web-deployment.yaml"];
    assert_eq!(web["spec"]["replicas"], 3);
    let pod = &web["spec"]["template"]["spec"];
    assert_eq!(pod["terminationGracePeriodSeconds"], 3);
    assert_eq!(pod["securityContext"]["runAsUser"], 1000);
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "registry.example/my-app:1.2");
    assert_eq!(container["command"][0], "/bin/sh");
    assert_eq!(container["command"][1], "-c");
    assert_eq!(
        kubernetes_expand(container["command"][2].as_str().unwrap()),
        WEB
    );
    assert_eq!(
        container["env"][0],
        serde_json::json!({"name": "PORT", "value": "5000"})
    );
    assert_eq!(
        container["envFrom"][0]["configMapRef"]["name"],
        "my-app-env"
    );
    assert_eq!(container["ports"][0]["containerPort"], 5000);
    let service = &docs["my-app-web-service.yaml"];
    assert_eq!(
        service["spec"]["selector"],
        web["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(service["spec"]["ports"][0]["port"], 5000);
    let worker = &docs["my-app-worker-2-deployment.yaml"];
    assert_eq!(worker["spec"]["replicas"], 1);
    assert_eq!(
        kubernetes_expand(
            worker["spec"]["template"]["spec"]["containers"][0]["command"][2]
                .as_str()
                .unwrap()
        ),
        WORKER
    );
}

/// Everything a supervisord test starts, killed when dropped, so a failed
/// assertion leaves no process behind.
struct Processes {
    supervisord: Option<Child>,
    pids: Vec<i32>,
}

impl Drop for Processes {
    fn drop(&mut self) {
        for &pid in &self.pids {
            // SAFETY: kill(2) on pids our own supervisord started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        if let Some(mut child) = self.supervisord.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Alive, and not a zombie waiting for a parent that will never reap it.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        }
        Err(_) => false,
    }
}

/// Polls for `cond`: supervisord reports nothing we could wait on.
fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

#[derive(Clone, Copy, Debug)]
enum Stop {
    Supervisorctl,
    Sigterm,
}

fn supervisord_starts_and_stops(stop: Stop) {
    let app = app(false);
    let conf = app.dir.path().join("my_app.conf");
    let user = current_user();
    let out = app.export(&[
        "supervisord",
        conf.to_str().unwrap(),
        "-m",
        "web=2",
        "-u",
        &user,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let run = app.dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let sock = run.join("supervisor.sock");
    let main = run.join("supervisord.conf");
    std::fs::write(
        &main,
        format!(
            "[unix_http_server]\nfile={sock}\n\n\
             [supervisord]\nnodaemon=true\npidfile={run}/supervisord.pid\nlogfile={run}/supervisord.log\n\
             childlogdir={run}\n\n\
             [rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
             [supervisorctl]\nserverurl=unix://{sock}\n\n\
             [include]\nfiles={conf}\n",
            sock = sock.display(),
            run = run.display(),
            conf = conf.display(),
        ),
    )
    .unwrap();

    let supervisord = Command::new(venv_tool("supervisord"))
        .args(["-n", "-c"])
        .arg(&main)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut procs = Processes {
        supervisord: Some(supervisord),
        pids: Vec::new(),
    };
    let log = || std::fs::read_to_string(run.join("supervisord.log")).unwrap_or_default();

    let pid_files = [
        "web-5000.pid",
        "web-5001.pid",
        "worker.pid",
        "worker-bg.pid",
    ];
    wait_for(
        "every exported process to start",
        Duration::from_secs(30),
        || {
            if let Some(status) = procs.supervisord.as_mut().unwrap().try_wait().unwrap() {
                panic!("supervisord exited ({status}):\n{}", log());
            }
            pid_files.iter().all(|f| app.out.join(f).exists())
        },
    );
    procs.pids = pid_files
        .iter()
        .map(|f| read_pid(&app.out.join(f)))
        .collect();
    for (file, pid) in pid_files.iter().zip(&procs.pids) {
        assert!(alive(*pid), "{file}: {pid} is not running\n{}", log());
    }

    // The variables, read back from the running process.
    for port in [5000, 5001] {
        let raw = std::fs::read(app.out.join(format!("web-{port}.env"))).unwrap();
        let env: BTreeMap<String, String> = raw
            .split(|&b| b == 0)
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let kv = String::from_utf8(kv.to_vec()).unwrap();
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect();
        for (key, value) in &app.vars {
            assert_eq!(env.get(*key), Some(value), "variable {key} of web-{port}");
        }
        assert_eq!(env["PORT"], port.to_string());
        assert_eq!(env["PS"], format!("web.{port}"));
        let literal = std::fs::read_to_string(app.out.join(format!("web-{port}.cmd"))).unwrap();
        assert_eq!(literal, WEB_LITERAL);
    }

    match stop {
        Stop::Supervisorctl => {
            let out = Command::new(venv_tool("supervisorctl"))
                .arg("-c")
                .arg(&main)
                .arg("shutdown")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "supervisorctl shutdown: {}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        Stop::Sigterm => {
            let pid = i32::try_from(procs.supervisord.as_ref().unwrap().id()).unwrap();
            // SAFETY: kill(2) on our own child.
            assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        }
    }
    let mut child = procs.supervisord.take().unwrap();
    wait_for("supervisord to exit", Duration::from_secs(30), || {
        child.try_wait().unwrap().is_some()
    });
    // The background sleep shares its process's group: stopasgroup ended it.
    for (file, pid) in pid_files.iter().zip(&procs.pids) {
        assert!(
            !alive(*pid),
            "{file}: {pid} survived supervisord's stop ({stop:?})\n{}",
            log()
        );
    }
}

#[test]
fn supervisord_runs_the_export_and_supervisorctl_shutdown_stops_it() {
    supervisord_starts_and_stops(Stop::Supervisorctl);
}

#[test]
fn supervisord_runs_the_export_and_sigterm_stops_it() {
    supervisord_starts_and_stops(Stop::Sigterm);
}

#[test]
fn supervisord_refuses_values_it_cannot_hold() {
    let app = app(true);
    let conf = app.dir.path().join("my_app.conf");
    let out = app.export(&["supervisord", conf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "drover: export supervisord: variable BOTH: supervisord's environment= cannot hold a value \
         with both ' and \" (it has no escapes)\n  hint: export to systemd or kubernetes, which can \
         hold it, or change the value\n"
    );
    assert!(!conf.exists());
}
