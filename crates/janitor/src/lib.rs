//! janitor: ambient task lifecycle for tokio programs (work in progress).
