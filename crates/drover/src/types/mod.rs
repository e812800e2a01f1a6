//! The shared vocabulary: small value types that every layer reads and
//! writes the same way. No I/O, no knowledge of any other module.

mod signal;

pub use signal::{Signal, SignalError};
