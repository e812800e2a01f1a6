//! drover's integration tests, one test binary: each module was its own
//! test crate, and linking one binary instead of seventeen is most of what a
//! clean `cargo test` build costs. The tests run the real `drover` binary on
//! real, misbehaving children (`drover-testchild`, from crates/testchild,
//! found beside `drover`); [`util`] holds what they share.

mod util;

mod check_run;
mod config_errors;
mod config_policies;
mod control_commands;
mod control_socket;
mod control_trust;
mod events;
mod export;
mod faults_cgroup;
mod faults_chaos;
mod faults_output;
mod faults_processes;
mod faults_protocol;
mod features_ci;
mod features_env;
mod features_reports;
mod features_stack;
mod features_stop;
mod field_death;
mod field_launch;
mod reload;
mod sockets;
mod start_input;
mod start_output;
mod start_stop;
mod tty;
mod tui;
mod watch;
