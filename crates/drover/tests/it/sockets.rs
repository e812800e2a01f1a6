//! Socket handover: drover binds a process's sockets once and hands them
//! to each start (`LISTEN_FDS`), so a connection made while the process
//! restarts waits and reaches the new process instead of being refused.

use std::io::{BufRead as _, BufReader};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;

use crate::util::*;

/// A server on the sockets drover passes (fds 3, 4, ...): each connection
/// gets one line, `PID LISTEN_PID LISTEN_FDNAMES SOCKET-NAME`. On SIGTERM it
/// says `stopping PID` and keeps not accepting until the file `go` exists,
/// so a test can connect while it is between stop and start.
const SERVER: &str = r#"
import os, selectors, signal, socket, sys, time
n = int(os.environ["LISTEN_FDS"])
names = os.environ["LISTEN_FDNAMES"].split(":")
socks = [socket.socket(fileno=3 + i) for i in range(n)]
def term(*_):
    print(f"stopping {os.getpid()}", flush=True)
    for _ in range(2000):
        if os.path.exists("go"):
            break
        time.sleep(0.01)
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
print(f"serving {os.getpid()}", flush=True)
sel = selectors.DefaultSelector()
for i, s in enumerate(socks):
    sel.register(s, selectors.EVENT_READ, names[i])
while True:
    for key, _ in sel.select():
        c, _ = key.fileobj.accept()
        c.sendall(f"{os.getpid()} {os.environ['LISTEN_PID']} {os.environ['LISTEN_FDNAMES']} {key.data}\n".encode())
        c.close()
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The line the server sends on a new connection to `port`.
fn ask_tcp(port: u16) -> String {
    answer(TcpStream::connect(("127.0.0.1", port)).expect("connecting: not refused"))
}

/// The line the server sends on `stream`.
fn answer(stream: TcpStream) -> String {
    stream.set_read_timeout(Some(WAIT)).unwrap();
    first_line(stream)
}

fn ask_unix(path: &std::path::Path) -> String {
    let stream = UnixStream::connect(path).expect("connecting: not refused");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    first_line(stream)
}

/// The first line read from `stream`, trimmed.
fn first_line(stream: impl std::io::Read) -> String {
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .expect("an answer");
    line.trim().to_owned()
}

#[test]
fn a_connection_made_during_a_restart_reaches_the_new_process() {
    require_python();
    let dir = TestDir::new();
    let port = free_port();
    dir.write("server.py", SERVER);
    dir.procfile("web: python3 server.py\n");
    dir.write(
        "drover.toml",
        "[processes.web]\nsockets = [\"tcp:127.0.0.1:$PORT\", \"admin=unix:run/admin.sock\"]\n",
    );
    let port_arg = port.to_string();
    let mut run = dir
        .drover(&[PLAIN, &["-p", &port_arg, "-t", "30"]].concat())
        .spawn();
    wait_for_control(&dir, &mut run);
    run.wait_for_output("serving");
    let first: Vec<String> = ask_tcp(port).split(' ').map(str::to_owned).collect();
    assert_eq!(
        first[0], first[1],
        "LISTEN_PID is the server's own pid: {first:?}"
    );
    assert_eq!(first[2], "web:admin", "LISTEN_FDNAMES");
    assert_eq!(first[3], "web");
    let admin = ask_unix(&dir.join("run/admin.sock"));
    assert!(admin.ends_with(" admin"), "{admin}");
    let old = first[0].clone();

    // The old server is stopping and accepts nothing: the connection waits
    // in the socket's queue, through the restart, for the new server.
    let restart = std::thread::spawn({
        let path = dir.path().to_path_buf();
        move || client_in(&path, &["restart", "web"], &[])
    });
    run.wait_for_output(&format!("stopping {old}"));
    // The kernel completes the connection in the socket's queue: connect
    // returns before anyone accepts it.
    let during = TcpStream::connect(("127.0.0.1", port))
        .expect("connecting during the restart: not refused");
    dir.write("go", "");
    let answer = answer(during);
    let restarted = restart.join().expect("the restart thread");
    assert_eq!(restarted.code, 0, "{restarted:?}");
    let new: Vec<&str> = answer.split(' ').collect();
    assert_ne!(new[0], old, "answered by the new server: {answer}");
    assert_eq!(new[0], new[1], "the new server's LISTEN_PID: {answer}");
    assert_eq!(
        pid_of(&ps(&dir), "web.1").to_string(),
        new[0],
        "the new server is web.1"
    );

    run.signal(libc::SIGTERM);
    let f = run.finish();
    f.assert_code(0);
    assert!(
        !dir.join("run/admin.sock").exists(),
        "the Unix socket file is removed when drover is done"
    );
}

#[test]
fn a_socket_that_cannot_be_bound_stops_the_start_with_its_address() {
    let dir = TestDir::new();
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = held.local_addr().unwrap().to_string();
    dir.procfile("web: $T --stay --pidfile web.pid\n");
    dir.write(
        "drover.toml",
        &format!("[processes.web]\nsockets = [\"tcp:{busy}\"]\n"),
    );
    let f = dir.drover(PLAIN).run();
    f.assert_code(2);
    assert!(
        f.stderr
            .contains(&format!("web.1: socket web: cannot listen on {busy}")),
        "{}",
        f.stderr
    );
    assert!(!dir.join("web.pid").exists(), "nothing started");
}

#[test]
fn a_bad_socket_entry_is_a_file_and_line_error() {
    let dir = TestDir::new();
    dir.procfile("web: $T --stay\n");
    dir.write(
        "drover.toml",
        "[processes.web]\n\nsockets = [\"udp:127.0.0.1:5000\"]\n",
    );
    let f = dir.drover(PLAIN).run();
    f.assert_code(2);
    assert!(
        f.stderr.contains("drover.toml:3")
            && f.stderr.contains(
                "web: sockets: \"udp:127.0.0.1:5000\" is neither tcp:ADDRESS nor unix:PATH"
            ),
        "{}",
        f.stderr
    );
}

#[test]
fn scaled_to_zero_the_socket_refuses_and_scaled_back_it_serves_again() {
    require_python();
    let dir = TestDir::new();
    let port = free_port();
    dir.write("server.py", SERVER);
    // The server's stop handler waits for `go`: here it need not.
    dir.write("go", "");
    // `keep` keeps drover running while web has no instance.
    dir.procfile("web: python3 server.py\nkeep: $T --stay --trap-term bye\n");
    dir.write(
        "drover.toml",
        "[processes.web]\nsockets = [\"tcp:127.0.0.1:$PORT\"]\n",
    );
    let port_arg = port.to_string();
    let mut run = dir.drover(&[PLAIN, &["-p", &port_arg]].concat()).spawn();
    wait_for_control(&dir, &mut run);
    run.wait_for_output("serving");
    let first = ask_tcp(port);

    let out = client(&dir, &["scale", "web=0"]);
    assert_eq!(out.code, 0, "{out:?}");
    let old = first.split(' ').next().unwrap().parse::<i32>().unwrap();
    assert_gone(old, "web.1, scaled away");
    let refused = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.kind());
    assert_eq!(
        refused.err(),
        Some(std::io::ErrorKind::ConnectionRefused),
        "drover no longer holds the socket"
    );

    let out = client(&dir, &["scale", "web=1"]);
    assert_eq!(out.code, 0, "{out:?}");
    wait_for_nth(&run, "| serving", 2);
    let again = ask_tcp(port);
    assert_ne!(again.split(' ').next(), Some(old.to_string().as_str()));
    client(&dir, &["shutdown"]).ok();
    run.finish().assert_code(0);
}
