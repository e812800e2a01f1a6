//! Runs the `chat` example's server on loopback with real clients, stops it
//! with a real SIGINT, and checks that every message was delivered.
//!
//! This module holds the only test that sends SIGINT: the signal goes to the
//! whole test process, where this test's handler catches it (no other test
//! listens for SIGINT).

#[path = "../../examples/chat/server.rs"]
mod server;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const NAMES: [&str; 3] = ["alice", "bob", "carol"];
/// Clients send until the shutdown notice; this only bounds a broken run.
const MAX_MESSAGES: usize = 5_000_000;

struct Client {
    name: &'static str,
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    writer: BufWriter<tokio::net::tcp::OwnedWriteHalf>,
}

async fn connect(addr: SocketAddr, name: &'static str) -> Client {
    let stream = TcpStream::connect(addr)
        .await
        .expect("connecting to the chat server");
    let (reader, writer) = stream.into_split();
    let mut client = Client {
        name,
        lines: BufReader::new(reader).lines(),
        writer: BufWriter::new(writer),
    };
    client
        .writer
        .write_all(format!("{name}\n").as_bytes())
        .await
        .unwrap();
    client.writer.flush().await.unwrap();
    // The welcome proves the broker registered this client.
    let welcome = client.lines.next_line().await.unwrap().unwrap();
    assert_eq!(welcome, format!("* welcome {name}"));
    client
}

/// Sends numbered messages to every other client until the shutdown notice
/// arrives, then hangs up; collects everything received. Returns how many
/// messages it sent and, per sender, the numbers received.
async fn run_client(
    client: Client,
    first_message: watch::Sender<bool>,
) -> (usize, HashMap<String, Vec<usize>>) {
    let Client {
        name,
        mut lines,
        mut writer,
    } = client;
    let (notice_tx, mut notice_rx) = watch::channel(false);
    let receive = async move {
        let mut received: HashMap<String, Vec<usize>> = HashMap::new();
        while let Some(line) = lines.next_line().await.expect("reading from the server") {
            if line == server::SHUTDOWN_NOTICE {
                notice_tx.send_replace(true);
                continue;
            }
            let (from, msg) = line.split_once(": ").expect("messages read `from: text`");
            let (sender, number) = msg.split_once('#').expect("test messages read `name#n`");
            assert_eq!(from, sender);
            received
                .entry(from.to_owned())
                .or_default()
                .push(number.parse().unwrap());
            first_message.send_replace(true);
        }
        assert!(
            *notice_tx.borrow(),
            "{name}: connection closed without the notice"
        );
        received
    };
    let send = async move {
        let others: Vec<_> = NAMES.iter().filter(|n| **n != name).copied().collect();
        let to = others.join(",");
        let mut sent = 0;
        while sent < MAX_MESSAGES && !*notice_rx.borrow_and_update() {
            writer
                .write_all(format!("{to}: {name}#{sent}\n").as_bytes())
                .await
                .unwrap();
            sent += 1;
            if sent % 50 == 0 {
                writer.flush().await.unwrap();
                tokio::task::yield_now().await;
            }
        }
        if sent == MAX_MESSAGES {
            notice_rx.wait_for(|seen| *seen).await.unwrap();
        }
        writer.flush().await.unwrap();
        // Hang up: the server's reader reaches EOF and ends.
        writer.shutdown().await.unwrap();
        sent
    };
    let (sent, received) = tokio::join!(send, receive);
    (sent, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_delivers_every_message_then_exits() {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = server::ctrl_c().expect("installing the SIGINT handler");
    let server = tokio::spawn(server::serve(listener, shutdown));

    let test = async {
        let mut clients = Vec::new();
        for name in NAMES {
            clients.push(connect(addr, name).await);
        }
        let (first_tx, mut first_rx) = watch::channel(false);
        let running: Vec<_> = clients
            .into_iter()
            .map(|client| tokio::spawn(run_client(client, first_tx.clone())))
            .collect();
        // Ctrl-C while every client is still sending.
        first_rx.wait_for(|seen| *seen).await.unwrap();
        let status = std::process::Command::new("kill")
            .args(["-INT", &std::process::id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success());

        let mut sent = HashMap::new();
        let mut received = HashMap::new();
        for (name, client) in NAMES.iter().zip(running) {
            let (n, got) = client.await.expect("client task");
            sent.insert(*name, n);
            received.insert(*name, got);
        }
        server
            .await
            .expect("server task")
            .expect("the server stops cleanly");
        (sent, received)
    };
    let (sent, received) = tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect("the chat test took more than a minute");

    for to in NAMES {
        for from in NAMES.iter().filter(|n| **n != to) {
            let got = received[to].get(*from).cloned().unwrap_or_default();
            let expected: Vec<usize> = (0..sent[from]).collect();
            assert!(
                got == expected,
                "{to} got {} of {}'s {} messages",
                got.len(),
                from,
                sent[from]
            );
        }
    }
    // Shutdown came while messages were still being sent.
    assert!(
        sent.values().all(|n| (1..MAX_MESSAGES).contains(n)),
        "{sent:?}"
    );
    eprintln!("messages sent per client: {sent:?}");
}
