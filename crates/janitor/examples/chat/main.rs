//! A loopback chat server that shuts down cleanly on Ctrl-C: it stops
//! accepting, tells the readers, delivers every pending message and exits.
//!
//! ```sh
//! cargo run -p janitor --example chat        # prints the port
//! nc 127.0.0.1 PORT                          # first line: your name
//! ```
//!
//! Then send `alice,bob: hello` to write to alice and bob.

mod server;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port = match std::env::args().nth(1) {
        Some(port) => port.parse()?,
        None => 0,
    };
    // Loopback only: this example has no authentication.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "chat: listening on {}; Ctrl-C stops",
        listener.local_addr()?
    );
    server::serve(listener, server::ctrl_c()?).await?;
    println!("chat: every message delivered, bye");
    Ok(())
}
