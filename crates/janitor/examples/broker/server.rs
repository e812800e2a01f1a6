//! A Unix-socket counter service. Connection jobs never share locked state:
//! one broker job owns the counters, and every request carries a `oneshot`
//! sender for its reply.
//!
//! Protocol, one request per line, one reply per line:
//! `incr NAME` → the new value, `get NAME` → the value (0 if unknown),
//! `shutdown` → `bye`, then the server stops. Anything else → `error: …`.
//!
//! Stages: connections run in stage 0, the broker in stage 1, so the broker
//! answers every request a connection accepted before it is told to stop;
//! it ends when the last handle is dropped.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

/// What the broker is asked; each request carries where to send the answer.
enum Request {
    Incr {
        name: String,
        reply: oneshot::Sender<u64>,
    },
    Get {
        name: String,
        reply: oneshot::Sender<u64>,
    },
}

/// A connection's way to the broker. The broker ends when the last handle
/// is dropped.
#[derive(Clone)]
struct Broker {
    requests: mpsc::Sender<Request>,
}

impl Broker {
    /// Start the broker job (stage 1) and return its first handle.
    fn spawn() -> Broker {
        let (requests, inbox) = mpsc::channel(64);
        janitor::job("broker").stage(1).spawn(broker_loop(inbox));
        Broker { requests }
    }

    async fn ask<T>(&self, request: impl FnOnce(oneshot::Sender<T>) -> Request) -> T {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(request(reply))
            .await
            .expect("the broker outlives every connection (it runs in a later stage)");
        answer
            .await
            .expect("the broker answers every request it receives")
    }

    async fn incr(&self, name: String) -> u64 {
        self.ask(|reply| Request::Incr { name, reply }).await
    }

    async fn get(&self, name: String) -> u64 {
        self.ask(|reply| Request::Get { name, reply }).await
    }
}

async fn broker_loop(mut inbox: mpsc::Receiver<Request>) -> anyhow::Result<()> {
    let mut counters: HashMap<String, u64> = HashMap::new();
    while let Some(request) = inbox.recv().await {
        // A requester that went away no longer wants its answer.
        match request {
            Request::Incr { name, reply } => {
                let value = counters.entry(name).or_default();
                *value += 1;
                let _ = reply.send(*value);
            }
            Request::Get { name, reply } => {
                let _ = reply.send(counters.get(&name).copied().unwrap_or(0));
            }
        }
    }
    Ok(())
}

/// Serve on a Unix socket at `path` until `shutdown` resolves or a client
/// sends `shutdown`; the socket file is removed before returning.
pub async fn serve(path: &Path, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let listener =
        UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    let _remove = RemoveOnDrop(path.to_owned());
    let (janitor_result, callee_result) =
        janitor::try_enter_janitor(accept_loop(listener, shutdown))
            .await
            .into_tuple();
    callee_result?;
    Ok(janitor_result?)
}

/// Removes the socket file however `serve` ends.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn accept_loop(
    listener: UnixListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let broker = Broker::spawn();
    let mut shutdown = pin!(shutdown);
    let mut stopping = pin!(janitor::stopping());
    let mut accepted = 0u64;
    loop {
        tokio::select! {
            connection = listener.accept() => {
                let (stream, _) = connection.context("accepting a connection")?;
                accepted += 1;
                janitor::job(format!("connection #{accepted}"))
                    .spawn(connection_loop(stream, broker.clone()));
            }
            () = &mut shutdown => break,
            // A client asked for `shutdown`.
            () = &mut stopping => break,
        }
    }
    drop(listener);
    // Tells the connections (stage 0) to finish their current request.
    janitor::request_stop();
    Ok(())
}

async fn connection_loop(stream: UnixStream, broker: Broker) -> anyhow::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    let mut stopping = pin!(janitor::stopping());
    loop {
        // `next_line` is cancel-safe; a request once read is answered
        // before `stopping` is looked at again.
        let line = tokio::select! {
            line = lines.next_line() => line,
            () = &mut stopping => return Ok(()),
        };
        let Ok(Some(line)) = line else {
            // EOF or a broken connection: this client is done.
            return Ok(());
        };
        let reply = match line.split_once(' ') {
            Some(("incr", name)) => broker.incr(name.to_owned()).await.to_string(),
            Some(("get", name)) => broker.get(name.to_owned()).await.to_string(),
            None if line == "shutdown" => {
                janitor::request_stop();
                "bye".to_owned()
            }
            _ => format!("error: unknown request {line:?}"),
        };
        if writer
            .write_all(format!("{reply}\n").as_bytes())
            .await
            .is_err()
        {
            return Ok(());
        }
    }
}
