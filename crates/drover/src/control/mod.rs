//! Control while running: the socket server inside `drover start` and the
//! client behind `drover ps`, `stop`, `restart`, `kill`, `logs`, `shutdown`.
//!
//! Connection handlers never touch the process table: they send the
//! supervisor a request with a oneshot for the answer (a broker, as the
//! supervisor module explains).

mod attach;
pub mod client;
pub mod protocol;
pub mod server;
pub mod terminal;
