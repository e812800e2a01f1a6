//! A counter service on a Unix socket: connection jobs ask one broker job,
//! which owns every counter, and get their answer through a `oneshot`.
//!
//! ```sh
//! cargo run -p janitor --example broker [SOCKET]   # default: a temp path
//! nc -U SOCKET                                      # incr x / get x / shutdown
//! ```
//!
//! Ctrl-C or a `shutdown` request stops it; the socket file is removed.

mod server;

use std::path::PathBuf;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = match std::env::args_os().nth(1) {
        Some(path) => PathBuf::from(path),
        None => std::env::temp_dir().join(format!("janitor-broker-{}.sock", std::process::id())),
    };
    println!("broker: listening on {}; Ctrl-C stops", path.display());
    let ctrl_c = async {
        // If the handler cannot be installed, run until a `shutdown` request.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    server::serve(&path, ctrl_c).await?;
    println!("broker: stopped");
    Ok(())
}
