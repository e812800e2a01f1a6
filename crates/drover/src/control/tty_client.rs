//! The client side of `drover send` and `drover attach`: keys named on the
//! command line, and an attached session that puts the local terminal in
//! raw mode, shows the process's terminal, and types into it.
//!
//! The local terminal is restored on every way out: detach, a lost
//! connection, SIGTERM/SIGHUP/SIGINT, an error or a panic (a guard's drop).

use std::io;
use std::path::{Path, PathBuf};

use rustix::termios::{self, OptionalActions, Termios};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

use super::client::{call, ClientError};
use super::protocol::{Envelope, Frame, Message, Reply, Request, VERSION};

/// The bytes of a key named `ctrl-c`, `ctrl-]`, `enter`, `tab`, `esc`,
/// `backspace`, `up`, `down`, `left`, `right`, or one character.
pub fn key(name: &str) -> Result<Vec<u8>, String> {
    let lower = name.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("ctrl-") {
        let byte = match rest.as_bytes() {
            [c @ b'a'..=b'z'] => c - b'a' + 1,
            [b'@'] | b"space" => 0,
            [b'['] => 0x1b,
            [b'\\'] => 0x1c,
            [b']'] => 0x1d,
            [b'^'] => 0x1e,
            [b'_'] => 0x1f,
            _ => {
                return Err(format!(
                    "{name:?} is not a key: use ctrl-a to ctrl-z, ctrl-], ctrl-\\, ..."
                ))
            }
        };
        return Ok(vec![byte]);
    }
    Ok(match lower.as_str() {
        "enter" | "return" => b"\r".to_vec(),
        "tab" => b"\t".to_vec(),
        "esc" | "escape" => b"\x1b".to_vec(),
        "backspace" => b"\x7f".to_vec(),
        "up" => b"\x1b[A".to_vec(),
        "down" => b"\x1b[B".to_vec(),
        "right" => b"\x1b[C".to_vec(),
        "left" => b"\x1b[D".to_vec(),
        _ if name.chars().count() == 1 => name.as_bytes().to_vec(),
        _ => {
            return Err(format!(
                "{name:?} is not a key: use ctrl-X, enter, tab, esc, backspace, up, down, left, right or one character"
            ))
        }
    })
}

/// The bytes of a comma-separated key sequence (`ctrl-p,ctrl-q`).
pub fn keys(sequence: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for k in sequence.split(',') {
        out.extend(key(k.trim())?);
    }
    if out.is_empty() {
        return Err("no keys given".into());
    }
    Ok(out)
}

/// `drover send`: types `input` into the terminal of `name`'s instances.
pub fn send(paths: &[PathBuf], name: String, input: Vec<u8>) -> Result<(), ClientError> {
    let input = String::from_utf8(input)
        .map_err(|_| ClientError::Refused("the input is not UTF-8".into()))?;
    match call(paths, Request::Send { name, input })? {
        Reply::Sent { sent } => {
            use std::io::Write as _;
            let _ = writeln!(io::stdout().lock(), "sent to {}", sent.join(", "));
            Ok(())
        }
        other => Err(ClientError::Refused(format!("bad answer: {other:?}"))),
    }
}

/// Raw mode on the local terminal until dropped.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enable() -> io::Result<Self> {
        let stdin = rustix::stdio::stdin();
        let saved = termios::tcgetattr(stdin)?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(stdin, OptionalActions::Now, &raw)?;
        Ok(Self { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(rustix::stdio::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// How an attached session ended.
enum End {
    Detached,
    Lost,
    Signal(&'static str),
}

/// `drover attach`: shows `name`'s terminal and types into it until the
/// `detach` keys (named `detach_name`) are pressed.
pub fn attach(
    paths: &[PathBuf],
    name: String,
    steal: bool,
    (detach, detach_name): (Vec<u8>, &str),
) -> Result<(), ClientError> {
    // The first socket that exists, as the other clients find it.
    let path = paths
        .iter()
        .find(|p| p.exists())
        .unwrap_or(&paths[0])
        .as_path();
    let stdin = rustix::stdio::stdin();
    if !termios::isatty(stdin) {
        return Err(ClientError::Refused(
            "attach needs a terminal as stdin; `drover send` writes input without one".into(),
        ));
    }
    let (cols, rows) = window_size();
    let broken = |message: String| ClientError::Protocol {
        path: path.to_path_buf(),
        message,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| broken(e.to_string()))?;
    let request = Request::Attach {
        name,
        steal,
        cols,
        rows,
    };
    let result = runtime.block_on(session(path, request, (&detach, detach_name)));
    // The stdin reader is a blocking thread that may still wait for a key.
    runtime.shutdown_background();
    match result? {
        End::Detached => {
            eprintln!("drover: detached");
            Ok(())
        }
        End::Signal(sig) => {
            eprintln!("drover: detached on {sig}");
            Ok(())
        }
        End::Lost => Err(broken(
            "the connection ended (drover exited, or another client attached with --steal)".into(),
        )),
    }
}

async fn session(
    path: &Path,
    request: Request,
    (detach, detach_name): (&[u8], &str),
) -> Result<End, ClientError> {
    use tokio::signal::unix::{signal, SignalKind};
    let broken = |message: String| ClientError::Protocol {
        path: path.to_path_buf(),
        message,
    };
    // Connected and checked as every client is: another user's drover is
    // refused before anything is sent.
    let std_stream =
        super::endpoint::connect(path, super::client::ANSWER_TIMEOUT).map_err(|source| {
            ClientError::NotRunning {
                path: path.to_path_buf(),
                source,
            }
        })?;
    let owner = super::endpoint::peer_uid(&std_stream).map_err(|e| broken(e.to_string()))?;
    if owner != super::endpoint::own_uid() {
        return Err(ClientError::OtherUser {
            path: path.to_path_buf(),
            owner: super::endpoint::user(owner),
        });
    }
    std_stream
        .set_nonblocking(true)
        .map_err(|e| broken(e.to_string()))?;
    let stream = tokio::net::UnixStream::from_std(std_stream).map_err(|e| broken(e.to_string()))?;
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_vec(&Envelope {
        v: VERSION,
        request,
    })
    .expect("requests serialize");
    line.push(b'\n');
    write
        .write_all(&line)
        .await
        .map_err(|e| broken(e.to_string()))?;
    let mut read = BufReader::new(read);
    let mut answer = String::new();
    read.read_line(&mut answer)
        .await
        .map_err(|e| broken(e.to_string()))?;
    let attached = match Message::parse(&answer) {
        Ok(Message::Ok(Reply::Attached { attached })) => attached,
        Ok(Message::Error(e)) => return Err(ClientError::Refused(e)),
        Ok(other) => return Err(broken(format!("bad answer: {other:?}"))),
        Err(_) if answer.is_empty() => return Err(broken("drover closed the connection".into())),
        Err(e) => return Err(broken(e.to_string())),
    };
    eprintln!("drover: attached to {attached}; detach with {detach_name}");
    let signals = [
        (SignalKind::window_change(), "SIGWINCH"),
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::interrupt(), "SIGINT"),
    ];
    let mut streams = Vec::new();
    for (kind, name) in signals {
        streams.push((signal(kind).map_err(|e| broken(e.to_string()))?, name));
    }
    let [(mut winch, _), (mut term, _), (mut hup, _), (mut int, _)] =
        <[_; 4]>::try_from(streams).unwrap_or_else(|_| unreachable!("four signals"));
    let _raw = RawMode::enable().map_err(|e| broken(format!("raw mode: {e}")))?;
    let mut stdin = tokio::io::stdin();
    let mut stdout = tokio::io::stdout();
    let mut keys = [0u8; 1024];
    let mut output = vec![0u8; 16 * 1024];
    let mut matched = 0;
    loop {
        // Every arm is cancel-safe: reads take nothing when another wins.
        tokio::select! {
            n = read.read(&mut output) => match n {
                Ok(0) | Err(_) => return Ok(End::Lost),
                Ok(n) => {
                    if stdout.write_all(&output[..n]).await.is_err() {
                        return Ok(End::Lost);
                    }
                    let _ = stdout.flush().await;
                }
            },
            n = stdin.read(&mut keys) => {
                let n = match n {
                    Ok(0) | Err(_) => return Ok(End::Detached),
                    Ok(n) => n,
                };
                let (input, detached) = filter_detach(&keys[..n], detach, &mut matched);
                let mut frame = Vec::new();
                Frame::Input(input).encode(&mut frame);
                if write.write_all(&frame).await.is_err() {
                    return Ok(End::Lost);
                }
                if detached {
                    return Ok(End::Detached);
                }
            },
            Some(()) = winch.recv() => {
                let (cols, rows) = window_size();
                let mut frame = Vec::new();
                Frame::Resize { cols, rows }.encode(&mut frame);
                if write.write_all(&frame).await.is_err() {
                    return Ok(End::Lost);
                }
            },
            Some(()) = term.recv() => return Ok(End::Signal("SIGTERM")),
            Some(()) = hup.recv() => return Ok(End::Signal("SIGHUP")),
            Some(()) = int.recv() => return Ok(End::Signal("SIGINT")),
        }
    }
}

/// The keys of `read` to send, and whether the detach sequence completed.
/// `matched` carries a partly typed sequence between reads: its keys are
/// held back, and sent after all if the sequence breaks off.
fn filter_detach(read: &[u8], detach: &[u8], matched: &mut usize) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    for &b in read {
        if b == detach[*matched] {
            *matched += 1;
            if *matched == detach.len() {
                *matched = 0;
                return (out, true);
            }
            continue;
        }
        out.extend_from_slice(&detach[..*matched]);
        *matched = usize::from(b == detach[0]);
        if *matched == 0 {
            out.push(b);
        }
    }
    (out, false)
}

/// The local terminal's size, else 80x24.
fn window_size() -> (u16, u16) {
    match termios::tcgetwinsize(rustix::stdio::stdin()) {
        Ok(ws) if ws.ws_col > 0 && ws.ws_row > 0 => (ws.ws_col, ws.ws_row),
        _ => (80, 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_named_as_on_a_keyboard() {
        assert_eq!(key("ctrl-c").unwrap(), [3]);
        assert_eq!(key("Ctrl-]").unwrap(), [0x1d]);
        assert_eq!(key("enter").unwrap(), b"\r");
        assert_eq!(key("q").unwrap(), b"q");
        assert!(key("ctrl-").is_err());
        assert!(key("hyper").is_err());
        assert_eq!(keys("ctrl-p,ctrl-q").unwrap(), [0x10, 0x11]);
    }

    #[test]
    fn the_detach_sequence_is_held_back_and_given_back_if_broken() {
        let detach = [0x10, 0x11];
        let mut m = 0;
        assert_eq!(
            filter_detach(b"ab\x10", &detach, &mut m),
            (b"ab".to_vec(), false)
        );
        assert_eq!(
            filter_detach(b"c", &detach, &mut m),
            (b"\x10c".to_vec(), false)
        );
        assert_eq!(
            filter_detach(b"\x10\x11rest", &detach, &mut m),
            (Vec::new(), true)
        );
        let mut m = 0;
        assert_eq!(
            filter_detach(b"x\x1d", &[0x1d], &mut m),
            (b"x".to_vec(), true)
        );
    }
}
