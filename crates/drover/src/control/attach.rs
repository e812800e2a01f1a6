//! `send` and `attach` inside `drover start`: input to a process's
//! pseudo-terminal, and a client attached to one.
//!
//! Served from the terminals table and the log hub, never through the
//! supervisor: typing into a process changes nothing it decides. An
//! attached client sees the terminal's raw output (from the hub, so the
//! main stream loses nothing to it) and its frames become keystrokes and
//! window sizes. One client per terminal (`steal` takes it over).

use crate::supervisor::Refusal;
use std::io;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::{broadcast, watch};

use super::protocol::{Frame, Message, Reply};
use crate::output::logs::LogHub;
use crate::process::terminals::Terminals;
use crate::types::resolve::{resolve, Instance};

/// The most of the ring shown when a client attaches: its last screenful.
const SCREEN_BYTES: usize = 64 * 1024;

/// What `send` and `attach` read.
pub(super) struct Table<'a> {
    pub hub: &'a LogHub,
    pub processes: &'a [String],
    pub terminals: &'a Arc<Terminals>,
}

impl Table<'_> {
    fn resolve(&self, name: &str) -> Result<Vec<usize>, Refusal> {
        let names = self.hub.names();
        let table: Vec<Instance<'_>> = names
            .iter()
            .enumerate()
            .map(|(i, name)| Instance {
                name,
                process: super::server::process_of(self.processes, name, i),
            })
            .collect();
        resolve(&[name.to_owned()], &table).map_err(|e| Refusal(e.to_string()))
    }
}

/// `send`: writes `input` to the terminal of each instance `name` names.
pub(super) async fn serve_send(
    w: &mut (impl AsyncWrite + Unpin),
    table: Table<'_>,
    name: &str,
    input: &str,
) -> io::Result<()> {
    let message = match send(&table, name, input).await {
        Ok(sent) => Message::Ok(Reply::Sent { sent }),
        Err(e) => Message::Error(e.0),
    };
    w.write_all(&message.to_line()).await
}

async fn send(table: &Table<'_>, name: &str, input: &str) -> Result<Vec<String>, Refusal> {
    let indexes = table.resolve(name)?;
    let names = table.hub.names();
    let mut sent = Vec::new();
    for index in indexes {
        table
            .terminals
            .write(index, input.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        sent.push(names[index].clone());
    }
    Ok(sent)
}

/// `attach`: the answer, the last screenful, then output one way and
/// frames the other until the client goes, another steals the terminal,
/// or drover stops.
pub(super) async fn serve_attach(
    (mut r, w): (impl AsyncRead + Unpin, &mut (impl AsyncWrite + Unpin)),
    table: Table<'_>,
    (name, steal, size): (&str, bool, (u16, u16)),
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let index = match table.resolve(name) {
        Ok(found) if found.len() == 1 => found[0],
        Ok(found) => {
            let names = table.hub.names();
            let list: Vec<&str> = found.iter().map(|i| names[*i].as_str()).collect();
            let message = format!(
                "{name} has {} instances: attach to one of {}",
                found.len(),
                list.join(", ")
            );
            return w.write_all(&Message::Error(message).to_line()).await;
        }
        Err(e) => return w.write_all(&Message::Error(e.0).to_line()).await,
    };
    let attached = match table.terminals.attach(index, steal, Some(size)) {
        Ok(a) => a,
        Err(e) => return w.write_all(&Message::Error(e.to_string()).to_line()).await,
    };
    let instance = table.hub.names()[index].clone();
    w.write_all(&Message::Ok(Reply::Attached { attached: instance }).to_line())
        .await?;
    let (chunks, mut rx) = table.hub.snapshot(&[index]);
    w.write_all(&last_screen(&chunks, size.1)).await?;
    let mut buf = Vec::with_capacity(4096);
    let mut kicked = attached.kicked.clone();
    loop {
        tokio::select! {
            chunk = rx.recv() => match chunk {
                Ok(c) if c.index == index => w.write_all(&c.bytes).await?,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
            // Cancel-safe: read_buf takes nothing when the other arm wins.
            n = r.read_buf(&mut buf) => {
                if n? == 0 {
                    // Detached: the client closed the connection.
                    break;
                }
                while let Some((frame, used)) = Frame::decode(&buf)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
                {
                    buf.drain(..used);
                    match frame {
                        Frame::Input(bytes) => {
                            if let Err(e) = table.terminals.write(index, &bytes).await {
                                tracing::debug!("attach: {e}");
                            }
                        }
                        Frame::Resize { cols, rows } => {
                            table.terminals.resize(&attached, (cols, rows));
                        }
                    }
                }
            }
            // Another client took the terminal over (--steal).
            () = set(&mut kicked) => break,
            () = set(&mut stop) => break,
        }
    }
    Ok(())
}

/// Resolves once `flag` is set (or its sender is gone). Cancel-safe.
async fn set(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}

/// The last `rows` lines of the output in `chunks`, at most
/// [`SCREEN_BYTES`]: what the terminal last showed, roughly.
fn last_screen(chunks: &[Arc<crate::output::logs::LogChunk>], rows: u16) -> Vec<u8> {
    let mut all: Vec<u8> = Vec::new();
    for c in chunks {
        all.extend_from_slice(&c.bytes);
    }
    let mut start = all.len().saturating_sub(SCREEN_BYTES);
    let mut seen = 0;
    for (i, b) in all.iter().enumerate().rev() {
        if i < start {
            break;
        }
        if *b == b'\n' && i + 1 < all.len() {
            seen += 1;
            if seen >= usize::from(rows.max(1)) {
                start = i + 1;
                break;
            }
        }
    }
    all.split_off(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_screen_is_the_last_rows_lines() {
        let chunk = |bytes: &[u8]| {
            Arc::new(crate::output::logs::LogChunk {
                seq: 0,
                index: 0,
                stream: crate::output::format::Stream::Tty,
                time: std::time::SystemTime::now(),
                starts_line: true,
                bytes: bytes.to_vec(),
            })
        };
        let chunks = [chunk(b"one\r\ntwo\r\n"), chunk(b"three\r\n>>> ")];
        assert_eq!(last_screen(&chunks, 2), b"three\r\n>>> ");
        assert_eq!(last_screen(&chunks, 10), b"one\r\ntwo\r\nthree\r\n>>> ");
    }
}
