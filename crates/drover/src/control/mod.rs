//! Control while running: the socket server inside `drover start` and the
//! client behind `drover ps`, `stop`, `restart`, `kill`, `logs`, `shutdown`.
//!
//! Connection handlers never touch the process table: they send the
//! supervisor a request with a oneshot for the answer (a broker, as the
//! supervisor module explains). Both sides trust only their own user, and
//! clients print what the socket sends only through [`terminal::clean`].

mod attach;
pub mod client;
pub mod endpoint;
mod events;
mod listener;
pub mod protocol;
pub mod server;
pub mod terminal;
pub mod tty_client;
