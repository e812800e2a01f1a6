//! janitor's integration tests, as one test crate (one binary to build and
//! link). Each module says what it covers.

mod api;
mod example_broker;
mod example_chat;
mod example_log_appender;
mod janitor;
