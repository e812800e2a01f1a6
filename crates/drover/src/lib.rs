//! drover: a process manager for Procfile apps.
//!
//! `drover start` reads a Procfile (and .env files), starts every process in
//! its own process group, shows their output as one stream of whole lines,
//! and stops them all cleanly. The binary (`main.rs`) only parses the command
//! line and maps the outcome to an exit status; everything else lives here,
//! one module per role.
//!
//! Exit status of `drover start`:
//!
//! | case | status |
//! |---|---|
//! | bad input (Procfile, .env, options) | 2, nothing started |
//! | a process ended on its own (then the others were stopped) | that process's status; 128 + signal if a signal killed it |
//! | a requested stop (signal, closed stdout) | 0 if every process stopped within the timeout, else 1 |
//! | a process could not be started | 1 |

#![warn(missing_docs)]

pub mod cli;
pub mod commands;
pub mod control;
pub(crate) mod output;
pub mod plan;
pub(crate) mod process;
pub(crate) mod supervisor;
pub mod tui;
pub(crate) mod types;

/// Exit status for bad input: a file, an option or an argument.
pub const EXIT_BAD_INPUT: u8 = 2;

/// The entry point of `drover-keeper`, the small program drover starts to
/// stop its processes should drover itself be killed; `args` are its
/// arguments, the program's name first. Returns its exit status.
#[doc(hidden)]
pub fn keeper_main(args: &[std::ffi::OsString]) -> i32 {
    process::keeper::program_main(args)
}
