//! `drover-keeper`: what stops a drover's processes when drover itself is
//! killed. drover starts it, with the read end of a pipe; see
//! `process::keeper` for what it does. A program of its own so that it
//! costs far less memory than a fork of drover.

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(drover::keeper_main(&args));
}
