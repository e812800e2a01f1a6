//! Hostile input on the control socket of a running drover: arbitrary
//! bytes and mangled JSON as the request line (proptest) never crash it;
//! each gets a well-formed answer or none, and `ps` still answers after.
//!
//! The Procfile, .env and drover.toml parsers have their property tests
//! beside them in `src/`; the fuzz targets are in `fuzz/` at the root.

use drover::control::protocol::{Envelope, Request};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::util::*;

/// The process the requests could reach.
const NAMES: &[&str] = &["web", "web.1"];

/// Whether drover would act on `line` in a way that changes the run
/// (stop, restart, kill, pause or shut down `web`, or follow logs until
/// drover exits). Random input almost never is such a request; the few
/// that are are skipped, so every case leaves the run as it was.
fn harmful(line: &[u8]) -> bool {
    let first = match line.iter().position(|b| *b == b'\n') {
        Some(i) => &line[..=i],
        None => line,
    };
    let Ok(envelope) = serde_json::from_slice::<Envelope>(first) else {
        return false;
    };
    if envelope.v != 1 {
        return false;
    }
    let reaches = |names: &[String]| names.iter().any(|n| NAMES.contains(&n.as_str()));
    match envelope.request {
        Request::Ps | Request::Digest { .. } | Request::Resume => false,
        Request::Logs { follow, .. } => follow,
        // A follower stays until drover exits.
        Request::Events { .. } => true,
        Request::Stop { names, .. } | Request::Restart { names, .. } => reaches(&names),
        Request::Kill { name, .. } => reaches(&[name]),
        Request::Pause | Request::Shutdown => true,
        // The processes here have no terminal: both are refused.
        Request::Send { .. } | Request::Attach { .. } => false,
        Request::Scale { counts } => counts.iter().any(|(n, _)| NAMES.contains(&n.as_str())),
        // The files are as they were: nothing changes.
        Request::Reload => false,
    }
}

/// A JSON value that may or may not fit the field it lands in.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("18446744073709551616".to_string()),
        Just("-1".to_string()),
        Just("1e308".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[a-z.0-9]{0,8}".prop_map(|s| format!("{s:?}")),
        "\\PC{0,12}".prop_map(|s| serde_json::to_string(&s).expect("a string")),
        proptest::collection::vec("[a-z.0-9]{0,6}", 0..4)
            .prop_map(|v| serde_json::to_string(&v).expect("a list")),
    ]
}

/// Request-shaped JSON: known and unknown commands and fields, right and
/// wrong types, then possibly cut short or with a byte changed.
fn json_request() -> impl Strategy<Value = Vec<u8>> {
    let cmd = prop_oneof![
        Just("ps"),
        Just("stop"),
        Just("restart"),
        Just("kill"),
        Just("logs"),
        Just("digest"),
        Just("pause"),
        Just("resume"),
        Just("shutdown"),
        Just("send"),
        Just("attach"),
        Just(""),
        Just("PS"),
    ];
    let field = prop_oneof![
        Just("names"),
        Just("name"),
        Just("signal"),
        Just("lines"),
        Just("follow"),
        Just("v"),
        Just("cmd"),
        Just("extra"),
    ];
    // Mostly version 1, so that the commands themselves are reached.
    let version = prop_oneof![3 => Just("1".to_string()), 1 => value()];
    (
        version,
        cmd,
        proptest::collection::vec((field, value()), 0..4),
        proptest::bool::weighted(0.9),
        any::<prop::sample::Index>(),
        any::<u8>(),
        0u8..4,
    )
        .prop_map(|(v, cmd, fields, include_v, at, byte, mangle)| {
            let mut text = String::from("{");
            if include_v {
                text.push_str(&format!("\"v\":{v},"));
            }
            text.push_str(&format!("\"cmd\":{cmd:?}"));
            for (k, val) in fields {
                text.push_str(&format!(",{k:?}:{val}"));
            }
            text.push('}');
            let mut bytes = text.into_bytes();
            match mangle {
                // Cut short.
                1 => bytes.truncate(at.index(bytes.len() + 1)),
                // One byte changed.
                2 if !bytes.is_empty() => {
                    let i = at.index(bytes.len());
                    bytes[i] = byte;
                }
                _ => {}
            }
            bytes.push(b'\n');
            bytes
        })
}

fn request_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Anything at all, newlines included, maybe without an end of line.
        proptest::collection::vec(any::<u8>(), 0..512),
        json_request(),
    ]
}

#[test]
fn arbitrary_request_lines_never_crash_drover() {
    let dir = TestDir::new();
    dir.procfile("web: $T --stay --pidfile w.pid\n");
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let web = dir.pids("w.pid")[0];
    let path = sock(&dir);
    let drover = run.pid();

    let mut runner = TestRunner::new(Config {
        cases: 64,
        // Keep regressions out of the source tree; a failure prints its input.
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&request_line(), |bytes| {
        prop_assume!(!harmful(&bytes));
        // `raw` panics if an answer line is not JSON; proptest reports that
        // as a failure with the (shrunk) input.
        let answers = raw(&path, &bytes, true);
        prop_assert!(
            answers.len() <= 1 || answers[0]["ok"] == true,
            "{answers:?}"
        );
        for a in &answers {
            prop_assert_eq!(&a["v"], 1, "{}", a);
        }
        prop_assert!(
            alive(drover),
            "drover died on {:?}",
            String::from_utf8_lossy(&bytes)
        );
        let ps = request(&path, r#"{"v":1,"cmd":"ps"}"#);
        prop_assert_eq!(&ps["ok"], true, "{}", ps);
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}\ndrover's stderr:\n{}", run.stderr_so_far());
    }

    // Nothing changed: web runs as before, and drover stops as usual.
    let rows = ps(&dir);
    assert_eq!(pid_of(&rows, "web.1"), web, "{rows:#?}");
    assert_eq!(row(&rows, "web.1")["restarts"], 0, "{rows:#?}");
    run.signal(libc::SIGTERM);
    let f = run.finish();
    f.assert_code(0);
    f.assert_clean_stderr();
}
