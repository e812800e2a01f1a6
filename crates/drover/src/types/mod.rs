//! The shared vocabulary: small value types that every layer reads and
//! writes the same way (signals, durations, names, the output mode). No
//! I/O, no knowledge of any other module.

mod duration;
mod exit;
mod name;
mod output_mode;
mod pid;
pub mod resolve;
mod signal;
mod size;

pub use duration::{Duration, DurationError};
pub use exit::{signal_name, Exit};
pub use name::{is_env_var_name, is_process_name, ProcessName};
pub use output_mode::OutputMode;
pub use pid::Pid;
pub use signal::{Signal, SignalError};
pub use size::ByteSize;
