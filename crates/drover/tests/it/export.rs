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
            // PORT in the environment sets the base port, as in foreman.
            .env_remove("PORT")
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

/// A real supervisord running an exported file, stopped when dropped.
struct Supervisor {
    run: PathBuf,
    main: PathBuf,
    procs: Processes,
}

impl Supervisor {
    /// Starts supervisord (in `dir/run`) with `conf` included.
    fn start(dir: &Path, conf: &Path) -> Supervisor {
        let run = dir.join("run");
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
        Supervisor {
            run,
            main,
            procs: Processes {
                supervisord: Some(supervisord),
                pids: Vec::new(),
            },
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.run.join("supervisord.log")).unwrap_or_default()
    }

    fn ctl(&self, args: &[&str]) -> Output {
        Command::new(venv_tool("supervisorctl"))
            .arg("-c")
            .arg(&self.main)
            .args(args)
            .output()
            .unwrap()
    }

    /// The pid supervisord gives `name` (`group:program`) once it runs.
    fn pid(&mut self, name: &str) -> i32 {
        let mut pid = 0;
        wait_for(&format!("{name} to run"), Duration::from_secs(30), || {
            if let Some(status) = self.procs.supervisord.as_mut().unwrap().try_wait().unwrap() {
                panic!("supervisord exited ({status}):\n{}", self.log());
            }
            let out = self.ctl(&["pid", name]);
            pid = text(&out.stdout).trim().parse().unwrap_or(0);
            pid > 0
        });
        self.procs.pids.push(pid);
        pid
    }
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

    let sup = Supervisor::start(app.dir.path(), &conf);
    let main = sup.main.clone();
    let mut procs = sup.procs;
    let log = || std::fs::read_to_string(sup.run.join("supervisord.log")).unwrap_or_default();

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

/// A project folder `shop` in a temporary folder, with this Procfile,
/// drover.toml (when not empty) and .env.
fn project(procfile: &str, toml: &str, env: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("shop");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("Procfile"), procfile).unwrap();
    if !toml.is_empty() {
        std::fs::write(root.join("drover.toml"), toml).unwrap();
    }
    std::fs::write(root.join(".env"), env).unwrap();
    dir
}

/// `drover export ARGS` in the project `shop` of `dir`; fails the test
/// unless it succeeds.
fn export_ok(dir: &Path, args: &[&str]) {
    let out = export_in(dir, args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

fn export_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("export")
        .args(args)
        .current_dir(dir.join("shop"))
        .env_remove("PORT")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The file names in `dir`, sorted.
fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// `systemd-analyze verify` of the target and these instances, which must
/// pass without a word.
fn assert_units_verify(dir: &Path, instances: &[&str]) {
    let mut units = vec!["shop.target".to_owned()];
    units.extend(instances.iter().map(|u| u.to_string()));
    let (ok, printed) = verify_units(dir, &units);
    assert!(
        ok && printed.is_empty(),
        "systemd-analyze verify complained:\n{printed}"
    );
}

/// Every manifest in `dir`, checked by `kubernetes-validate --strict` and
/// read back by PyYAML: file name -> its (one) document, and the comments.
fn k8s_manifests(dir: &Path) -> BTreeMap<String, (serde_json::Value, String)> {
    let names = file_names(dir);
    let files: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
    let out = Command::new(venv_tool("kubernetes-validate"))
        .arg("--strict")
        .args(&files)
        .output()
        .unwrap();
    let report = text(&out.stdout) + &text(&out.stderr);
    assert!(
        out.status.success(),
        "kubernetes-validate rejected:\n{report}"
    );
    assert_eq!(report.matches("passed").count(), files.len(), "{report}");
    let mut docs = BTreeMap::new();
    for (file, name) in files.iter().zip(names) {
        let out = Command::new(venv_tool("python3"))
            .args([
                "-c",
                "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1], encoding='utf-8')))))",
            ])
            .arg(file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let raw = std::fs::read_to_string(file).unwrap();
        docs.insert(name, (parsed[0].clone(), raw));
    }
    docs
}

/// The pod's one container of a Deployment or Job.
fn container(doc: &serde_json::Value) -> &serde_json::Value {
    &doc["spec"]["template"]["spec"]["containers"][0]
}

/// `/proc/PID/cmdline`'s words.
fn cmdline(pid: i32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    raw.split(|&b| b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect()
}

/// Stops supervisord with `supervisorctl shutdown` and checks that every
/// process it started has ended.
fn shutdown(mut sup: Supervisor) {
    let out = sup.ctl(&["shutdown"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut child = sup.procs.supervisord.take().unwrap();
    wait_for("supervisord to exit", Duration::from_secs(30), || {
        child.try_wait().unwrap().is_some()
    });
    for &pid in &sup.procs.pids {
        assert!(!alive(pid), "{pid} survived supervisord\n{}", sup.log());
    }
}

const DIRECT_PROCFILE: &str = "web: sleep 301\n\
    quoted: env \"NOTE=daemon off;\" sleep 302\n\
    shelled: sleep $NAP\n\
    local: ./bin/serve\n";

/// A project whose commands run without a shell (`web`, `quoted`, `local`)
/// or as `sh -c 'exec ...'` (`shelled`).
fn direct_project() -> tempfile::TempDir {
    let dir = project(DIRECT_PROCFILE, "", "NAP=303\n");
    let bin = dir.path().join("shop/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("serve"), "#!/bin/sh\nexec sleep 304\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(bin.join("serve"), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn exports_run_each_command_as_start_does() {
    let dir = direct_project();
    let root = std::fs::canonicalize(dir.path().join("shop")).unwrap();

    let units = dir.path().join("units");
    export_ok(dir.path(), &["systemd", units.to_str().unwrap()]);
    let exec = |process: &str| {
        let unit = std::fs::read_to_string(units.join(format!("shop-{process}@.service"))).unwrap();
        let line = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
        line.to_owned()
    };
    assert_eq!(exec("web"), "ExecStart=sleep 301");
    assert_eq!(exec("quoted"), "ExecStart=env 'NOTE=daemon off;' sleep 302");
    assert_eq!(exec("shelled"), "ExecStart=/bin/sh -c 'exec sleep $$NAP'");
    assert_eq!(
        exec("local"),
        format!("ExecStart={}/bin/serve", root.display())
    );
    assert_units_verify(
        &units,
        &[
            "shop-web@5000.service",
            "shop-quoted@5100.service",
            "shop-shelled@5200.service",
            "shop-local@5300.service",
        ],
    );

    let k8s = dir.path().join("k8s");
    export_ok(dir.path(), &["kubernetes", k8s.to_str().unwrap()]);
    let docs = k8s_manifests(&k8s);
    let command = |process: &str| {
        container(&docs[&format!("shop-{process}-deployment.yaml")].0)["command"].clone()
    };
    assert_eq!(command("web"), serde_json::json!(["sleep", "301"]));
    assert_eq!(
        command("quoted"),
        serde_json::json!(["env", "NOTE=daemon off;", "sleep", "302"])
    );
    assert_eq!(
        command("shelled"),
        serde_json::json!(["/bin/sh", "-c", "exec sleep $$NAP"])
    );
    assert_eq!(command("local"), serde_json::json!(["./bin/serve"]));

    // Under supervisord the pid it manages is the program itself.
    let conf = dir.path().join("shop.conf");
    export_ok(dir.path(), &["supervisord", conf.to_str().unwrap()]);
    let mut sup = Supervisor::start(dir.path(), &conf);
    for (process, port, argv) in [
        ("web", 5000, ["sleep", "301"]),
        ("quoted", 5100, ["sleep", "302"]),
        ("shelled", 5200, ["sleep", "303"]),
        ("local", 5300, ["sleep", "304"]),
    ] {
        let pid = sup.pid(&format!("shop:shop-{process}-{port}"));
        assert_eq!(cmdline(pid), argv, "{process}\n{}", sup.log());
        if process == "quoted" {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
            assert!(
                environ
                    .split(|&b| b == 0)
                    .any(|kv| kv == b"NOTE=daemon off;"),
                "the quoted word did not reach env as one argument"
            );
        }
    }
    shutdown(sup);
}

const ONE_OFF_PROCFILE: &str = "db: sleep 310\nrelease: touch released\nweb: sleep 311\n";
const ONE_OFF_TOML: &str = r#"
[processes.release]
depends_on = ["db"]
restart = "always"

[processes.web]
depends_on = { release = "exited_ok", db = "started" }
"#;

#[test]
fn an_exited_ok_dependency_is_exported_as_a_one_off() {
    let dir = project(ONE_OFF_PROCFILE, ONE_OFF_TOML, "");

    let units = dir.path().join("units");
    export_ok(dir.path(), &["systemd", units.to_str().unwrap()]);
    let unit = |p: &str| std::fs::read_to_string(units.join(format!("shop-{p}@.service"))).unwrap();
    let release = unit("release");
    for expected in [
        "Type=oneshot\nRemainAfterExit=yes\nTimeoutStartSec=infinity\n",
        "Restart=on-failure\n",
        "ExecStart=touch released\n",
    ] {
        assert!(
            release.contains(expected),
            "missing {expected:?} in\n{release}"
        );
    }
    let web = unit("web");
    for expected in [
        "Type=simple\n",
        "Wants=shop-db@5000.service\n",
        "Requires=shop-release@5100.service\n",
        "After=shop-db@5000.service shop-release@5100.service\n",
    ] {
        assert!(web.contains(expected), "missing {expected:?} in\n{web}");
    }
    assert!(unit("db").contains("Type=simple\n"));
    assert_units_verify(
        &units,
        &[
            "shop-db@5000.service",
            "shop-release@5100.service",
            "shop-web@5200.service",
        ],
    );

    let k8s = dir.path().join("k8s");
    export_ok(dir.path(), &["kubernetes", k8s.to_str().unwrap()]);
    let docs = k8s_manifests(&k8s);
    assert_eq!(
        docs.keys().collect::<Vec<_>>(),
        [
            "shop-db-deployment.yaml",
            "shop-release-job.yaml",
            "shop-web-deployment.yaml",
            "shop-web-service.yaml"
        ]
    );
    let (job, raw) = &docs["shop-release-job.yaml"];
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["spec"]["completions"], 1);
    assert_eq!(
        job["spec"]["template"]["spec"]["restartPolicy"],
        "OnFailure"
    );
    assert_eq!(
        container(job)["command"],
        serde_json::json!(["touch", "released"])
    );
    assert!(
        raw.contains("kubectl wait --for=condition=complete job/shop-release"),
        "{raw}"
    );
    let (web, raw) = &docs["shop-web-deployment.yaml"];
    assert_eq!(web["kind"], "Deployment");
    assert!(raw.contains("waits for release to exit 0"), "{raw}");

    // supervisord runs it once: it exits 0 and stays so.
    let conf = dir.path().join("shop.conf");
    export_ok(dir.path(), &["supervisord", conf.to_str().unwrap()]);
    let text_conf = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text_conf.contains("; A one-off: it runs once."),
        "{text_conf}"
    );
    let mut sup = Supervisor::start(dir.path(), &conf);
    sup.pid("shop:shop-web-5200");
    wait_for("release to exit", Duration::from_secs(30), || {
        let out = sup.ctl(&["status", "shop:shop-release-5100"]);
        text(&out.stdout).contains("EXITED")
    });
    assert!(dir.path().join("shop/released").exists());
    shutdown(sup);
}

const PROBES_PROCFILE: &str = "db: sleep 320\nweb: sleep 321\napi: sleep 322\n\
    cron: sleep 323\nnotifier: sleep 324\next: sleep 325\n";
const PROBES_TOML: &str = r#"
[processes.db]
ready = { tcp = 5432 }
[processes.web]
ready = { http = "http://127.0.0.1:$PORT/health", interval = "1500ms" }
[processes.api]
ready = { command = "test -f /tmp/$PS.ready" }
[processes.cron]
ready = { log = "ready" }
[processes.notifier]
ready = "notify"
[processes.ext]
ready = { tcp = "cache.internal:6379" }
"#;

#[test]
fn readiness_probes_become_readiness_probes_where_the_format_has_them() {
    let dir = project(PROBES_PROCFILE, PROBES_TOML, "");

    let k8s = dir.path().join("k8s");
    export_ok(dir.path(), &["kubernetes", k8s.to_str().unwrap()]);
    let docs = k8s_manifests(&k8s);
    let probe = |p: &str| {
        container(&docs[&format!("shop-{p}-deployment.yaml")].0)["readinessProbe"].clone()
    };
    let raw = |p: &str| docs[&format!("shop-{p}-deployment.yaml")].1.clone();
    assert_eq!(
        probe("db"),
        serde_json::json!({"tcpSocket": {"port": 5432}, "periodSeconds": 1})
    );
    assert!(
        raw("db").contains("must listen on it (0.0.0.0)"),
        "{}",
        raw("db")
    );
    assert_eq!(
        probe("web"),
        serde_json::json!({"httpGet": {"path": "/health", "port": 5100}, "periodSeconds": 2})
    );
    assert_eq!(
        probe("api")["exec"]["command"],
        serde_json::json!(["/bin/sh", "-c", "test -f /tmp/$$PS.ready"])
    );
    assert_eq!(
        probe("ext")["tcpSocket"],
        serde_json::json!({"port": 6379, "host": "cache.internal"})
    );
    for (p, says) in [
        ("cron", "Kubernetes cannot watch output"),
        ("notifier", "Kubernetes has no such socket"),
    ] {
        assert!(probe(p).is_null(), "{p}: {}", probe(p));
        assert!(raw(p).contains(says), "{}", raw(p));
    }

    let units = dir.path().join("units");
    export_ok(dir.path(), &["systemd", units.to_str().unwrap()]);
    let unit = |p: &str| std::fs::read_to_string(units.join(format!("shop-{p}@.service"))).unwrap();
    assert!(
        unit("notifier").contains("Type=notify\nNotifyAccess=all\n"),
        "{}",
        unit("notifier")
    );
    assert!(
        unit("db")
            .contains("# drover's readiness probe (tcp 127.0.0.1:5432) has no systemd equivalent"),
        "{}",
        unit("db")
    );
    assert_units_verify(
        &units,
        &[
            "shop-db@5000.service",
            "shop-web@5100.service",
            "shop-api@5200.service",
            "shop-cron@5300.service",
            "shop-notifier@5400.service",
            "shop-ext@5500.service",
        ],
    );
}

#[test]
fn secret_keys_go_to_a_secret_instead_of_the_config_map() {
    let dir = project(
        "web: sleep 330\nworker: sleep 331\n",
        "[processes.web]\nenv = { TOKEN = \"t0k\" }\n",
        "DB_PASSWORD='p@ss \"w\" $x #y'\nLOG=info\n",
    );
    let k8s = dir.path().join("k8s");
    export_ok(
        dir.path(),
        &[
            "kubernetes",
            k8s.to_str().unwrap(),
            "--secret",
            "TOKEN,DB_PASSWORD",
        ],
    );
    let docs = k8s_manifests(&k8s);
    assert_eq!(
        docs.keys().collect::<Vec<_>>(),
        [
            "shop-web-deployment.yaml",
            "shop-web-env.yaml",
            "shop-web-secret.yaml",
            "shop-web-service.yaml",
            "shop-worker-deployment.yaml",
            "shop-worker-env.yaml",
            "shop-worker-secret.yaml"
        ]
    );
    let (secret, raw) = &docs["shop-web-secret.yaml"];
    assert_eq!(secret["kind"], "Secret");
    assert_eq!(
        secret["stringData"],
        serde_json::json!({"DB_PASSWORD": "p@ss \"w\" $x #y", "TOKEN": "t0k"})
    );
    assert!(raw.contains("keep it out of version control"), "{raw}");
    assert_eq!(
        docs["shop-worker-secret.yaml"].0["stringData"],
        serde_json::json!({"DB_PASSWORD": "p@ss \"w\" $x #y"})
    );
    for p in ["web", "worker"] {
        assert_eq!(
            docs[&format!("shop-{p}-env.yaml")].0["data"],
            serde_json::json!({"LOG": "info"})
        );
        assert_eq!(
            container(&docs[&format!("shop-{p}-deployment.yaml")].0)["envFrom"],
            serde_json::json!([
                {"configMapRef": {"name": format!("shop-{p}-env")}},
                {"secretRef": {"name": format!("shop-{p}-secret")}}
            ])
        );
    }

    let out = export_in(
        dir.path(),
        &[
            "kubernetes",
            dir.path().join("k2").to_str().unwrap(),
            "--secret",
            "TOKEN,NOPE",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .starts_with("drover: --secret: \"NOPE\" is not a variable of any process"),
        "{}",
        text(&out.stderr)
    );
    let out = export_in(
        dir.path(),
        &[
            "systemd",
            dir.path().join("u").to_str().unwrap(),
            "--secret",
            "TOKEN",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("only the kubernetes export takes --secret"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("k2").exists() && !dir.path().join("u").exists());
}

#[test]
fn supervisord_starts_dependencies_first_and_makes_its_folder() {
    // The Procfile lists them in the reverse of the dependency order.
    let dir = project(
        "web: sleep 340\nrelease: touch released\ndb: sleep 341\n",
        ONE_OFF_TOML,
        "",
    );
    let conf = dir.path().join("conf.d/more/shop.conf");
    export_ok(dir.path(), &["supervisord", conf.to_str().unwrap()]);
    let text_conf = std::fs::read_to_string(&conf).unwrap();
    for expected in [
        "programs=shop-db,shop-release,shop-web\n",
        "cannot wait for readiness",
        "; Under drover start it waits for db (started), release (exited_ok); supervisord only starts it after them.\n[program:shop-web]\n",
    ] {
        assert!(text_conf.contains(expected), "missing {expected:?} in\n{text_conf}");
    }
    let priority = |program: &str| {
        let section = text_conf
            .split(&format!("[program:{program}]\n"))
            .nth(1)
            .unwrap();
        let line = section
            .lines()
            .find(|l| l.starts_with("priority="))
            .unwrap();
        line["priority=".len()..].parse::<u32>().unwrap()
    };
    assert!(priority("shop-db") < priority("shop-release"));
    assert!(priority("shop-release") < priority("shop-web"));

    // supervisord spawns them in that order.
    let mut sup = Supervisor::start(dir.path(), &conf);
    sup.pid("shop:shop-web-5000");
    sup.pid("shop:shop-db-5200");
    let log = sup.log();
    let spawned: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split("spawned: '").nth(1))
        .filter_map(|l| l.split('\'').next())
        .collect();
    assert_eq!(
        spawned[..3],
        ["shop-db-5200", "shop-release-5100", "shop-web-5000"],
        "{log}"
    );
    shutdown(sup);
}

/// Whether `kubernetes-validate --strict -k VERSION` accepts `file`.
fn k8s_valid_at(file: &Path, version: &str) -> bool {
    Command::new(venv_tool("kubernetes-validate"))
        .args(["--strict", "-k", version])
        .arg(file)
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn kubernetes_stop_signal_only_with_k8s_stop_signal() {
    let dir = project(
        "db: sleep 350\nweb: sleep 351\n",
        "[processes.db]\nstop_signal = \"INT\"\n",
        "",
    );
    let k8s = dir.path().join("k8s");
    export_ok(dir.path(), &["kubernetes", k8s.to_str().unwrap()]);
    let docs = k8s_manifests(&k8s);
    let (db, raw) = &docs["shop-db-deployment.yaml"];
    assert!(container(db)["lifecycle"].is_null(), "{raw}");
    assert!(db["spec"]["template"]["spec"]["os"].is_null(), "{raw}");
    assert!(
        raw.contains("# drover stops this process with SIGINT, Kubernetes with SIGTERM. Export with --k8s-stop-signal"),
        "{raw}"
    );
    assert!(!docs["shop-web-deployment.yaml"].1.contains("SIGTERM"));
    // Without the flag the manifest suits clusters before 1.33 too.
    assert!(k8s_valid_at(&k8s.join("shop-db-deployment.yaml"), "1.32.0"));

    let k8s = dir.path().join("k8s-gate");
    export_ok(
        dir.path(),
        &["kubernetes", k8s.to_str().unwrap(), "--k8s-stop-signal"],
    );
    let docs = k8s_manifests(&k8s);
    let (db, raw) = &docs["shop-db-deployment.yaml"];
    assert_eq!(container(db)["lifecycle"]["stopSignal"], "SIGINT", "{raw}");
    assert_eq!(db["spec"]["template"]["spec"]["os"]["name"], "linux");
    assert!(!raw.contains("drover stops this process"), "{raw}");
    assert!(container(&docs["shop-web-deployment.yaml"].0)["lifecycle"].is_null());
    assert!(
        !k8s_valid_at(&k8s.join("shop-db-deployment.yaml"), "1.32.0"),
        "stopSignal is new in 1.33: an older schema must refuse it"
    );

    let out = export_in(
        dir.path(),
        &[
            "supervisord",
            dir.path().join("s.conf").to_str().unwrap(),
            "--k8s-stop-signal",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("only the kubernetes export takes --k8s-stop-signal"),
        "{}",
        text(&out.stderr)
    );
}

/// A prefork stand-in: a child that notes a TERM in `child-$PS.term` and
/// then exits, and a parent that, told to stop, waits for its child.
const PREFORK: &str = r#"#!/bin/sh
sh -c 'trap "echo TERM > child-$PS.term; exit 0" TERM; echo $$ > child-$PS.pid; while :; do sleep 1; done' &
child=$!
trap 'wait $child; exit 0' TERM
wait $child
"#;

const KILL_MODE_TOML: &str = r#"
[processes.web]
kill_mode = "mixed"
stop_timeout = "1s"
[processes.worker]
kill_mode = "control-group"
[processes.seed]
can_die = true
"#;

#[test]
fn kill_mode_and_can_die_are_exported() {
    let dir = project(
        "web: ./prefork\nworker: ./prefork\nseed: touch seeded\n",
        KILL_MODE_TOML,
        "",
    );
    let prefork = dir.path().join("shop/prefork");
    std::fs::write(&prefork, PREFORK).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&prefork, std::fs::Permissions::from_mode(0o755)).unwrap();

    let units = dir.path().join("units");
    export_ok(dir.path(), &["systemd", units.to_str().unwrap()]);
    let unit = |p: &str| std::fs::read_to_string(units.join(format!("shop-{p}@.service"))).unwrap();
    assert!(unit("web").contains("KillMode=mixed\n"), "{}", unit("web"));
    assert!(unit("worker").contains("KillMode=control-group\n"));
    assert!(unit("seed").contains("Type=oneshot\nRemainAfterExit=yes\n"));
    assert_units_verify(
        &units,
        &[
            "shop-web@5000.service",
            "shop-worker@5100.service",
            "shop-seed@5200.service",
        ],
    );

    let k8s = dir.path().join("k8s");
    export_ok(dir.path(), &["kubernetes", k8s.to_str().unwrap()]);
    let docs = k8s_manifests(&k8s);
    assert_eq!(docs["shop-seed-job.yaml"].0["kind"], "Job");
    assert_eq!(docs["shop-worker-deployment.yaml"].0["kind"], "Deployment");

    let conf = dir.path().join("shop.conf");
    export_ok(dir.path(), &["supervisord", conf.to_str().unwrap()]);
    let text_conf = std::fs::read_to_string(&conf).unwrap();
    let section = |program: &str| {
        text_conf
            .split(&format!("[program:{program}]\n"))
            .nth(1)
            .unwrap()
            .split("\n\n")
            .next()
            .unwrap()
            .to_owned()
    };
    assert!(section("shop-web").contains("stopasgroup=false\nkillasgroup=true\n"));
    assert!(section("shop-worker").contains("stopasgroup=true\nkillasgroup=true\n"));

    // Told to stop, the mixed parent's child gets no TERM (the final SIGKILL
    // reaches it); the control-group child gets the TERM.
    let mut sup = Supervisor::start(dir.path(), &conf);
    sup.pid("shop:shop-web-5000");
    sup.pid("shop:shop-worker-5100");
    let root = dir.path().join("shop");
    let children: Vec<i32> = ["web.5000", "worker.5100"]
        .iter()
        .map(|ps| {
            let file = root.join(format!("child-{ps}.pid"));
            wait_for(&format!("{ps}'s child"), Duration::from_secs(30), || {
                std::fs::read_to_string(&file).is_ok_and(|t| t.ends_with('\n'))
            });
            read_pid(&file)
        })
        .collect();
    sup.procs.pids.extend(&children);
    let out = sup.ctl(&["stop", "shop:*"]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    for &child in &children {
        wait_for("the children to end", Duration::from_secs(30), || {
            !alive(child)
        });
    }
    assert!(
        !root.join("child-web.5000.term").exists(),
        "kill_mode = mixed: the child got the stop signal\n{}",
        sup.log()
    );
    assert!(
        root.join("child-worker.5100.term").exists(),
        "kill_mode = control-group: the child did not get the stop signal\n{}",
        sup.log()
    );
    shutdown(sup);
}

/// The README's export table has a row for every key a process takes in
/// drover.toml, as `plan::config_file::ProcessConfig` declares them.
#[test]
fn readme_maps_every_process_key_in_each_format() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let section = readme
        .split("### What each key becomes in each export\n")
        .nth(1)
        .expect("README.md has the export table")
        .split("\n## ")
        .next()
        .unwrap();
    let rows: Vec<Vec<&str>> = section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| ---"))
        .map(|l| l.split(" | ").collect())
        .collect();
    assert_eq!(
        rows[0],
        ["| drover.toml", "systemd", "Kubernetes", "supervisord |"]
    );
    for row in &rows {
        assert_eq!(row.len(), 4, "a row with other than 4 cells: {row:?}");
    }
    let source =
        std::fs::read_to_string(repo.join("crates/drover/src/plan/config_file.rs")).unwrap();
    let process_config = source
        .split("pub struct ProcessConfig {")
        .nth(1)
        .unwrap()
        .split("\n}")
        .next()
        .unwrap();
    let keys: Vec<&str> = process_config
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub "))
        .filter_map(|l| l.split(':').next())
        .collect();
    assert!(keys.len() >= 15, "{keys:?}");
    for key in keys {
        let quoted = format!("`{key}`");
        assert!(
            rows.iter().any(|row| row[0].contains(&quoted)),
            "the README's export table has no row for {quoted}"
        );
    }
}

#[test]
fn systemd_finds_a_program_on_the_path_the_env_sets() {
    // systemd looks bare names up in its own path: without env(1) in front,
    // `systemd-analyze verify` says myserve is not executable.
    let dir = project("web: myserve --port $PORT\nworker: sleep 370\n", "", "");
    let bin = std::fs::canonicalize(dir.path().join("shop"))
        .unwrap()
        .join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("myserve"), "#!/bin/sh\nexec sleep 371\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(bin.join("myserve"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.path().join("shop/.env"),
        format!("PATH={}:/usr/bin:/bin\n", bin.display()),
    )
    .unwrap();
    let units = dir.path().join("units");
    export_ok(dir.path(), &["systemd", units.to_str().unwrap()]);
    let web = std::fs::read_to_string(units.join("shop-web@.service")).unwrap();
    assert!(
        web.contains("ExecStart=/bin/sh -c 'exec myserve --port $$PORT'\n"),
        "{web}"
    );
    let worker = std::fs::read_to_string(units.join("shop-worker@.service")).unwrap();
    assert!(
        worker.contains("ExecStart=/usr/bin/env sleep 370\n"),
        "{worker}"
    );
    std::fs::write(dir.path().join("shop/Procfile"), "web: myserve\n").unwrap();
    let units = dir.path().join("units2");
    export_ok(dir.path(), &["systemd", units.to_str().unwrap()]);
    let web = std::fs::read_to_string(units.join("shop-web@.service")).unwrap();
    assert!(web.contains("ExecStart=/usr/bin/env myserve\n"), "{web}");
    assert_units_verify(&units, &["shop-web@5000.service"]);
}

#[test]
fn named_ports_are_said_to_be_left_out() {
    let dir = project(
        "web: sleep 380\n",
        "[processes.web]\nports = [\"metrics\", \"admin_ui\"]\n",
        "",
    );
    let says = "drover start gives PORT_METRICS, PORT_ADMIN_UI a free port (and its dependents WEB_PORT_...)";

    let units = dir.path().join("units");
    export_ok(dir.path(), &["systemd", units.to_str().unwrap()]);
    let unit = std::fs::read_to_string(units.join("shop-web@.service")).unwrap();
    assert!(unit.contains(&format!("# {says}")), "{unit}");
    assert_units_verify(&units, &["shop-web@5000.service"]);

    let k8s = dir.path().join("k8s");
    export_ok(dir.path(), &["kubernetes", k8s.to_str().unwrap()]);
    let raw = &k8s_manifests(&k8s)["shop-web-deployment.yaml"].1;
    assert!(raw.contains(&format!("# {says}")), "{raw}");

    let conf = dir.path().join("shop.conf");
    export_ok(dir.path(), &["supervisord", conf.to_str().unwrap()]);
    let text_conf = std::fs::read_to_string(&conf).unwrap();
    assert!(text_conf.contains(&format!("; {says}")), "{text_conf}");
    let mut sup = Supervisor::start(dir.path(), &conf);
    sup.pid("shop:shop-web-5000");
    shutdown(sup);
}

#[test]
fn sockets_become_socket_units_that_systemd_accepts() {
    let dir = project(
        "web: sleep 300\n",
        "[processes.web]\ninstances = 2\n\
         sockets = [\"tcp:127.0.0.1:$PORT\", \"admin=unix:run/admin-$PORT.sock\"]\n",
        "",
    );
    let root = std::fs::canonicalize(dir.path().join("shop")).unwrap();
    let units = dir.path().join("units");
    export_ok(dir.path(), &["systemd", units.to_str().unwrap()]);
    assert_eq!(
        file_names(&units),
        [
            "shop-web-admin@.socket",
            "shop-web-web@.socket",
            "shop-web@.service",
            "shop.target"
        ]
    );
    let read = |name: &str| std::fs::read_to_string(units.join(name)).unwrap();
    let web = read("shop-web-web@.socket");
    assert!(web.contains("\nListenStream=127.0.0.1:%i\n"), "{web}");
    assert!(web.contains("\nFileDescriptorName=web\n"), "{web}");
    assert!(web.contains("\nService=shop-web@%i.service\n"), "{web}");
    let admin = read("shop-web-admin@.socket");
    assert!(
        admin.contains(&format!(
            "\nListenStream={}/run/admin-5000.sock\n",
            root.display()
        )),
        "a Unix path is the first instance's: {admin}"
    );
    let service = read("shop-web@.service");
    assert!(
        service.contains("\nSockets=shop-web-web@%i.socket shop-web-admin@%i.socket\n"),
        "{service}"
    );
    assert!(service.contains("\nRequires=shop-web-web@%i.socket shop-web-admin@%i.socket\n"));
    assert_units_verify(
        &units,
        &[
            "shop-web@5000.service",
            "shop-web-web@5000.socket",
            "shop-web-admin@5000.socket",
        ],
    );

    // The formats without socket activation say so.
    let conf = dir.path().join("shop.conf");
    export_ok(dir.path(), &["supervisord", conf.to_str().unwrap()]);
    let conf = std::fs::read_to_string(conf).unwrap();
    assert!(
        conf.contains("cannot: the program must listen itself"),
        "{conf}"
    );
}
