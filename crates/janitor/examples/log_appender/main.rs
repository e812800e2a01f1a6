//! Child processes' output and the program's own log records, through one
//! channel to one writer; at exit not a line is lost.
//!
//! ```sh
//! cargo run -p janitor --example log_appender [CHILDREN [LINES]] | tail
//! ```
//!
//! Defaults: 3 children, each printing 100000 numbered lines.

mod appender;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let children = args.next().map(|n| n.parse()).transpose()?.unwrap_or(3);
    let lines = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(100_000);
    appender::run(tokio::io::stdout(), children, lines).await
}
