//! Runs the `log_appender` example for real: child processes print 100000
//! numbered lines each, and every one of them, plus every log record of the
//! program, reaches the output.
//!
//! The example's logger is process-global; no other test uses it.

#[path = "../../examples/log_appender/appender.rs"]
mod appender;

use std::path::PathBuf;
use std::time::Duration;

const CHILDREN: usize = 4;
const LINES: u64 = 100_000;

/// A file path in the temp dir, removed on drop.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_child_line_and_log_record_arrives() {
    let file = TempFile(
        std::env::temp_dir().join(format!("janitor-log-appender-{}.out", std::process::id())),
    );
    let out = tokio::fs::File::create(&file.0).await.unwrap();
    // The example's children are killed when dropped, so a timeout here
    // leaves no process behind.
    tokio::time::timeout(
        Duration::from_secs(120),
        appender::run(out, CHILDREN, LINES),
    )
    .await
    .expect("the example took more than two minutes")
    .expect("the example succeeded");

    let output = std::fs::read_to_string(&file.0).unwrap();
    let mut next = vec![1u64; CHILDREN];
    let mut records = Vec::new();
    for line in output.lines() {
        let (source, text) = line.split_once(" | ").expect("lines read `source | text`");
        if source == "system" {
            records.push(text.to_owned());
            continue;
        }
        let n: usize = source
            .strip_prefix("child-")
            .and_then(|n| n.parse().ok())
            .expect("a child's name");
        assert_eq!(
            text,
            next[n - 1].to_string(),
            "child-{n}'s lines out of order"
        );
        next[n - 1] += 1;
    }
    assert_eq!(next, vec![LINES + 1; CHILDREN], "lines per child");
    assert_eq!(records.len(), 2 + CHILDREN, "log records: {records:?}");
    assert_eq!(records[0], format!("starting {CHILDREN} children"));
    for n in 1..=CHILDREN {
        let exited = format!("child-{n} exited: exit status: 0");
        assert!(
            records.contains(&exited),
            "missing {exited:?} in {records:?}"
        );
    }
}
