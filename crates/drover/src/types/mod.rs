//! The shared vocabulary: small value types that every layer reads and
//! writes the same way. No I/O, no knowledge of any other module.

mod exit;
mod pid;
pub mod resolve;
mod signal;

pub use exit::{signal_name, Exit};
pub use pid::Pid;
pub use signal::{Signal, SignalError};
