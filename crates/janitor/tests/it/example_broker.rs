//! Runs the `broker` example's server on a Unix socket in a temporary
//! directory: concurrent clients get consistent answers through the one
//! broker, and a `shutdown` request stops the server cleanly.

#[path = "../../examples/broker/server.rs"]
mod server;

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

const CLIENTS: usize = 8;
const REQUESTS: u64 = 200;

/// A fresh directory, removed with everything in it on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("janitor-broker-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("creating the test's temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Client {
    lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    writer: tokio::net::unix::OwnedWriteHalf,
}

impl Client {
    async fn connect(path: &std::path::Path) -> Client {
        let stream = UnixStream::connect(path)
            .await
            .expect("connecting to the broker");
        let (reader, writer) = stream.into_split();
        Client {
            lines: BufReader::new(reader).lines(),
            writer,
        }
    }

    async fn ask(&mut self, request: &str) -> String {
        self.writer
            .write_all(format!("{request}\n").as_bytes())
            .await
            .unwrap();
        self.lines.next_line().await.unwrap().expect("a reply")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_share_state_through_the_broker_and_shutdown_is_clean() {
    let dir = TempDir::new();
    let path = dir.0.join("broker.sock");
    let server = tokio::spawn({
        let path = path.clone();
        async move { server::serve(&path, std::future::pending()).await }
    });
    let test = async {
        // The file appears at bind(2), before listen(2): wait until the
        // server accepts (this probe connection hangs up at once).
        while UnixStream::connect(&path).await.is_err() {
            tokio::task::yield_now().await;
        }
        let clients: Vec<_> = (0..CLIENTS)
            .map(|n| {
                let path = path.clone();
                tokio::spawn(async move {
                    let mut client = Client::connect(&path).await;
                    let mut shared_answers = Vec::new();
                    for i in 1..=REQUESTS {
                        let own = client.ask(&format!("incr client{n}")).await;
                        assert_eq!(own, i.to_string(), "client{n}'s own counter");
                        shared_answers
                            .push(client.ask("incr shared").await.parse::<u64>().unwrap());
                    }
                    shared_answers
                })
            })
            .collect();
        let mut all = Vec::new();
        for client in clients {
            all.extend(client.await.expect("client task"));
        }
        // Every increment of the shared counter got a distinct answer.
        all.sort_unstable();
        let total = CLIENTS as u64 * REQUESTS;
        assert_eq!(all, (1..=total).collect::<Vec<_>>());

        let mut admin = Client::connect(&path).await;
        assert_eq!(admin.ask("get shared").await, total.to_string());
        assert!(admin.ask("frobnicate").await.starts_with("error: "));
        // An idle connection is told to stop and closed, not aborted.
        let mut idle = Client::connect(&path).await;
        assert_eq!(idle.ask("get nothing").await, "0");
        assert_eq!(admin.ask("shutdown").await, "bye");
        assert_eq!(idle.lines.next_line().await.unwrap(), None);
        server
            .await
            .expect("server task")
            .expect("the server stops cleanly");
    };
    tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect("the broker test took more than a minute");
    assert!(!path.exists(), "the socket file was left behind");
}
