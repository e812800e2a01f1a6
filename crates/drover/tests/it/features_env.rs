//! What drover gives real processes to talk with: sd_notify readiness (a
//! process's own `NOTIFY_SOCKET`, and drover's READY/STOPPING to the
//! systemd socket it was given), and ports (a busy `PORT` refused naming
//! its holder, named ports passed to the process and its dependents).

use std::os::unix::net::UnixDatagram;

use crate::util::*;

/// Waits for `go`, then says READY=1 on its own `NOTIFY_SOCKET` and stays.
const DB: &str = "import os, socket, time
def put(name, text):
    with open(name + '.tmp', 'w') as f:
        f.write(text)
    os.rename(name + '.tmp', name)
put('db.pid', '%d\\n' % os.getpid())
print('db socket ' + os.environ.get('NOTIFY_SOCKET', 'none'), flush=True)
while not os.path.exists('go'):
    time.sleep(0.005)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b'STATUS=warming up\\nREADY=1', os.environ['NOTIFY_SOCKET'])
print('db sent READY=1', flush=True)
while True:
    time.sleep(60)
";

/// The next datagram on `socket` (bounded by WAIT), as text.
fn next_message(socket: &UnixDatagram, what: &str) -> String {
    socket.set_read_timeout(Some(WAIT)).expect("a timeout");
    let mut buf = [0u8; 4096];
    let n = socket
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("waiting for {what} on our NOTIFY_SOCKET: {e}"));
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn sd_notify_gates_a_dependent_and_drover_tells_systemd() {
    require_python();
    let dir = TestDir::new();
    dir.write("db.py", DB);
    dir.procfile(
        "db: python3 db.py\n\
         app: $T --marker app-started --stay --pidfile app.pid\n\
         plain: sh -c 'echo plain sees ${NOTIFY_SOCKET:-none}; exec $T --stay --pidfile plain.pid'\n",
    );
    dir.write(
        "drover.toml",
        "[processes.db]\nready = \"notify\"\n\
         [processes.app]\ndepends_on = { db = \"ready\" }\n",
    );
    // drover's own NOTIFY_SOCKET, as systemd gives a Type=notify service.
    let systemd_path = dir.join("systemd.sock");
    let systemd = UnixDatagram::bind(&systemd_path).expect("binding our notify socket");
    let systemd_str = systemd_path.to_str().expect("a UTF-8 path").to_string();
    let mut run = dir.drover(PLAIN).env("NOTIFY_SOCKET", &systemd_str).spawn();
    wait_for_control(&dir, &mut run);
    let db = dir.pids("db.pid")[0];
    dir.wait_for_file("plain.pid");
    learn(&dir, &[db]);

    // db has not said READY=1 (it waits for `go`): app cannot have started.
    let rows = ps(&dir);
    assert_eq!(row(&rows, "db.1")["state"], "running", "{rows:#?}");
    assert_eq!(row(&rows, "app.1")["state"], "waiting", "{rows:#?}");
    dir.write("go", "");
    dir.wait_for_file("app.pid");
    wait_for_ps(&dir, "db.1 to be ready", |rows| {
        row(rows, "db.1")["state"] == "ready"
    });
    // Every process runs and is ready: drover tells systemd.
    assert_eq!(next_message(&systemd, "READY=1"), "READY=1");

    run.signal(libc::SIGTERM);
    assert_eq!(next_message(&systemd, "STOPPING=1"), "STOPPING=1");
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = parse_text(&f.stdout);

    // db got a socket of its own, not drover's; plain got none at all.
    let db_said = lossy(&lines_of(&lines, "db.1"));
    let socket = db_said
        .iter()
        .find_map(|l| l.strip_prefix("db socket "))
        .unwrap_or_else(|| panic!("{db_said:#?}"));
    assert!(
        socket != "none" && socket != systemd_str,
        "db's NOTIFY_SOCKET: {socket}"
    );
    assert_eq!(
        lossy(&lines_of(&lines, "plain.1")),
        ["plain sees none"],
        "a process without ready = \"notify\" sees no NOTIFY_SOCKET"
    );
    // app started only once db was ready: drover said so before app's
    // first line could exist.
    let ready_at = lines
        .iter()
        .position(|l| l.name == "system" && l.text == b"db.1 is ready")
        .unwrap_or_else(|| panic!("{:#?}", system_lines(&lines)));
    let app_at = lines
        .iter()
        .position(|l| l.name == "app.1" && l.text == b"app-started")
        .expect("app's marker");
    assert!(ready_at < app_at);
    assert_none_left(&dir, &[db], "db");
}

// ---------------------------------------------------------------------------
// Ports

#[test]
fn a_busy_port_is_refused_naming_its_holder() {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("listening on a free port");
    let port = listener
        .local_addr()
        .expect("its address")
        .port()
        .to_string();
    let dir = TestDir::new();
    dir.procfile("web: $T --marker started --stay --pidfile web.pid\n");
    let f = dir.drover(&["-p", &port]).run();
    f.assert_code(2);
    f.assert_clean_stderr();
    let want = format!(
        "port {port} for web.1 is in use by pid {} (",
        std::process::id()
    );
    assert!(
        f.stderr.contains(&want),
        "stderr lacks {want:?}:\n{}",
        f.stderr
    );
    assert!(
        !dir.join("web.pid").exists() && f.stdout.is_empty(),
        "nothing was started"
    );
    drop(listener);
}

#[test]
fn named_ports_reach_the_process_and_its_dependents() {
    let dir = TestDir::new();
    dir.procfile(
        "web: sh -c 'echo web http=$PORT_HTTP; exec $T --stay --pidfile web.pid'\n\
         worker: sh -c 'echo worker http=$WEB_PORT_HTTP; exec $T --stay --pidfile worker.pid'\n",
    );
    dir.write(
        "drover.toml",
        "[processes.web]\nports = [\"http\"]\n\
         [processes.worker]\ndepends_on = [\"web\"]\n",
    );
    let run = dir.drover(PLAIN).spawn();
    let web = dir.pids("web.pid")[0];
    let worker = dir.pids("worker.pid")[0];
    run.signal(libc::SIGTERM);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = parse_text(&f.stdout);
    let port_of = |name: &str, prefix: &str| -> u16 {
        let said = lossy(&lines_of(&lines, name));
        assert_eq!(said.len(), 1, "{name}: {said:#?}");
        said[0]
            .strip_prefix(prefix)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{name} said {:?}", said[0]))
    };
    let web_port = port_of("web.1", "web http=");
    let worker_port = port_of("worker.1", "worker http=");
    assert_eq!(web_port, worker_port, "the dependent gets the same port");
    assert!(web_port >= 1, "a real port: {web_port}");
    assert_none_left(&dir, &[web, worker], "web and worker");
}

/// Listens on `$PORT` (or the port in the variable `$LISTEN_VAR` names)
/// once `go-$PS` exists, and stays.
const LISTENER: &str = "import os, signal, socket, time
ps = os.environ['PS']
with open(ps + '.tmp', 'w') as f:
    f.write('%d\\n' % os.getpid())
os.rename(ps + '.tmp', ps + '.pid')
while not os.path.exists('go-' + ps):
    time.sleep(0.005)
s = socket.socket()
port = os.environ[os.environ.get('LISTEN_VAR', 'PORT')]
s.bind(('127.0.0.1', int(port)))
s.listen()
print('listening on ' + port, flush=True)
signal.pause()
";

/// A base port whose next port is free too.
fn two_free_ports() -> u16 {
    for _ in 0..100 {
        let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = first.local_addr().unwrap().port();
        if port < 65535 && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no two free ports in a row");
}

#[test]
fn each_instance_probes_its_own_port() {
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("no python3: cannot run the listeners this test probes");
        return;
    }
    let base = two_free_ports();
    let dir = TestDir::new();
    dir.write("listener.py", LISTENER);
    dir.procfile("web: python3 listener.py\n");
    dir.write(
        "drover.toml",
        "[processes.web]\nready = { tcp = \"$PORT\", interval = \"20ms\" }\n",
    );
    let base_arg = base.to_string();
    let mut args = PLAIN.to_vec();
    args.extend(["-m", "web=2", "-p", &base_arg]);
    let run = dir.drover(&args).spawn();
    dir.pids("web.1.pid");
    dir.pids("web.2.pid");
    dir.write("go-web.1", "");
    run.wait_for_output("web.1 is ready");
    // With one port for both, web.2 would pass on web.1's listener.
    let so_far = String::from_utf8_lossy(&run.stdout_so_far()).into_owned();
    assert!(!so_far.contains("web.2 is ready"), "{so_far}");
    dir.write("go-web.2", "");
    run.wait_for_output("web.2 is ready");
    run.signal(libc::SIGTERM);
    let f = run.finish();
    f.assert_code(0);
    let lines = parse_text(&f.stdout);
    let at = |name: &str, text: &str| {
        lines
            .iter()
            .position(|l| l.name == name && l.text() == text)
            .unwrap_or_else(|| panic!("no {name} | {text}:\n{}", f.text()))
    };
    let second = base + 1;
    assert!(at("web.2", &format!("listening on {second}")) < at("system", "web.2 is ready"));
    assert!(at("web.1", &format!("listening on {base}")) < at("system", "web.1 is ready"));
}

#[test]
fn a_probe_on_a_named_port_probes_the_port_allocated() {
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("no python3: cannot run the listener this test probes");
        return;
    }
    let dir = TestDir::new();
    dir.write("listener.py", LISTENER);
    dir.write("go-web.1", "");
    dir.procfile("web: python3 listener.py\n");
    dir.write(
        "drover.toml",
        "[processes.web]\nports = [\"http\"]\nenv = { LISTEN_VAR = \"PORT_HTTP\" }\n\
         ready = { tcp = \"$PORT_HTTP\", interval = \"20ms\" }\n",
    );
    let run = dir.drover(PLAIN).spawn();
    run.wait_for_output("web.1 is ready");
    run.signal(libc::SIGTERM);
    let f = run.finish();
    f.assert_code(0);
    let lines = parse_text(&f.stdout);
    let said = lossy(&lines_of(&lines, "web.1"));
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].starts_with("listening on "), "{said:?}");
    let ready = lines
        .iter()
        .position(|l| l.name == "system" && l.text() == "web.1 is ready")
        .unwrap();
    let listening = lines.iter().position(|l| l.name == "web.1").unwrap();
    assert!(listening < ready, "{}", f.text());
}
