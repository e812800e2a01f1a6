//! The chat server: one reader job per connection (stage 0), one broker
//! that owns the table of peers (stage 1), one writer per peer (stage 2).
//!
//! Shutdown is ordered by janitor's stages, not by hand-written joins:
//! 1. the accept loop stops accepting and calls `janitor::request_stop()`;
//! 2. every reader is told (`janitor::stopping()`), asks the broker to warn
//!    its client, and keeps reading until the client hangs up, so that no
//!    line the client sent is lost;
//! 3. when the last reader has ended, the broker's input closes; it drops
//!    its peers, which closes every writer's input;
//! 4. each writer delivers what is left and ends; the janitor returns.
//!
//! A client that never hangs up is aborted after the grace period and named
//! in the janitor's report.

use std::collections::hash_map::{Entry, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// The line a client receives when the server begins to shut down; it should
/// stop sending and close its side of the connection.
pub const SHUTDOWN_NOTICE: &str = "* server shutting down: finish and disconnect";

/// What readers tell the broker.
enum Event {
    /// A client introduced itself; its writer joins the table.
    NewPeer {
        name: String,
        stream: OwnedWriteHalf,
    },
    /// `from` sent `msg` to each of `to`.
    Message {
        from: String,
        to: Vec<String>,
        msg: String,
    },
    /// The server is stopping: warn this client.
    ShuttingDown { name: String },
    /// This client's reader ended.
    Left { name: String },
}

/// Serve chat clients on `listener` until `shutdown` resolves, then shut
/// down in order and deliver every message a reader accepted.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (janitor_result, callee_result) =
        janitor::try_enter_janitor(accept_loop(listener, shutdown))
            .await
            .into_tuple();
    callee_result?;
    Ok(janitor_result?)
}

/// A future that resolves on the first Ctrl-C (SIGINT). The handler is
/// installed here, before the future is first polled, so no early signal
/// can kill the process.
pub fn ctrl_c() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupts =
        signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        interrupts.recv().await;
    })
}

async fn accept_loop(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (broker_tx, broker_rx) = mpsc::unbounded_channel();
    janitor::job("broker")
        .stage(1)
        .spawn(broker_loop(broker_rx));
    let mut shutdown = pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = accepted.context("accepting a chat client")?;
                janitor::job(format!("reader:{peer}"))
                    .spawn(connection_loop(broker_tx.clone(), stream, peer));
            }
            () = &mut shutdown => break,
        }
    }
    println!("chat: shutting down");
    // No new clients from here on.
    drop(listener);
    // Tells every reader (and this callee) to stop.
    janitor::request_stop();
    // Returning drops `broker_tx`: once every reader has dropped its clone
    // too, the broker's input closes.
    Ok(())
}

async fn connection_loop(
    broker: mpsc::UnboundedSender<Event>,
    stream: TcpStream,
    peer: SocketAddr,
) -> anyhow::Result<()> {
    let (reader, writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    let mut stopping = pin!(janitor::stopping());
    let name = tokio::select! {
        line = lines.next_line() => match line {
            Ok(Some(name)) => name.trim().to_owned(),
            Ok(None) => return Ok(()),
            Err(err) => {
                println!("chat: {peer}: {err}");
                return Ok(());
            }
        },
        // Nothing to deliver for a client that has not even introduced itself.
        () = &mut stopping => return Ok(()),
    };
    let send = |event| {
        broker
            .send(event)
            .expect("the broker runs in a later stage than every reader")
    };
    send(Event::NewPeer {
        name: name.clone(),
        stream: writer,
    });
    let mut told = false;
    loop {
        // `next_line` is cancel-safe: a line half-read when `stopping` wins
        // stays buffered for the next iteration.
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => {
                    let Some((to, msg)) = line.split_once(':') else { continue };
                    send(Event::Message {
                        from: name.clone(),
                        to: to.split(',').map(|n| n.trim().to_owned()).collect(),
                        msg: msg.trim().to_owned(),
                    });
                }
                Ok(None) => break,
                Err(err) => {
                    println!("chat: {name}: {err}");
                    break;
                }
            },
            // Keep reading after telling the client: every line it sent
            // before it saw the notice must still be delivered.
            () = &mut stopping, if !told => {
                told = true;
                send(Event::ShuttingDown { name: name.clone() });
            }
        }
    }
    send(Event::Left { name });
    Ok(())
}

async fn broker_loop(mut events: mpsc::UnboundedReceiver<Event>) -> anyhow::Result<()> {
    let mut peers: HashMap<String, mpsc::UnboundedSender<String>> = HashMap::new();
    let mut shutting_down = false;
    // Ends when every reader and the accept loop dropped their senders.
    while let Some(event) = events.recv().await {
        match event {
            Event::NewPeer { name, stream } => match peers.entry(name.clone()) {
                Entry::Occupied(_) => println!("chat: name {name} already taken"),
                Entry::Vacant(entry) => {
                    let (tx, rx) = mpsc::unbounded_channel();
                    tx.send(format!("* welcome {name}"))
                        .expect("the writer is spawned just below");
                    entry.insert(tx);
                    janitor::job(format!("writer:{name}"))
                        .stage(2)
                        .spawn(writer_loop(name, rx, stream));
                }
            },
            Event::Message { from, to, msg } => {
                for dest in to {
                    if let Some(peer) = peers.get(&dest) {
                        // A writer whose client went away has ended; its
                        // messages have nowhere to go.
                        let _ = peer.send(format!("{from}: {msg}"));
                    }
                }
            }
            Event::ShuttingDown { name } => {
                shutting_down = true;
                if let Some(peer) = peers.get(&name) {
                    let _ = peer.send(SHUTDOWN_NOTICE.to_owned());
                }
            }
            // During shutdown a client that hung up may still be sent what
            // others wrote before they saw the notice: keep its writer
            // until the end.
            Event::Left { name } if !shutting_down => {
                peers.remove(&name);
            }
            Event::Left { .. } => {}
        }
    }
    // Closes every writer's input: each delivers what is left and ends.
    drop(peers);
    Ok(())
}

async fn writer_loop(
    name: String,
    mut messages: mpsc::UnboundedReceiver<String>,
    stream: OwnedWriteHalf,
) -> anyhow::Result<()> {
    let mut stream = BufWriter::new(stream);
    while let Some(first) = messages.recv().await {
        let mut next = Some(first);
        // One flush per burst, not per line.
        while let Some(line) = next {
            if let Err(err) = write_line(&mut stream, &line).await {
                println!("chat: {name}: {err}");
                return Ok(());
            }
            next = messages.try_recv().ok();
        }
        if let Err(err) = stream.flush().await {
            println!("chat: {name}: {err}");
            return Ok(());
        }
    }
    // A client gone before the end is not a server failure.
    let _ = stream.shutdown().await;
    Ok(())
}

async fn write_line(stream: &mut BufWriter<OwnedWriteHalf>, line: &str) -> std::io::Result<()> {
    stream.write_all(line.as_bytes()).await?;
    stream.write_all(b"\n").await
}
