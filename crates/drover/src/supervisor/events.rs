//! The shell's side of lifecycle events: each [`LifeEvent`] the core says
//! is stamped with the wall-clock time and written as one JSON object of
//! schema version [`SCHEMA`] — for `drover events`, for `--output json`,
//! and as `DROVER_EVENT_*` variables for a hook.
//!
//! Owns: the event schema on the wire and which hook an event runs. Must
//! not: decide anything about processes, or write output itself.

use serde::Serialize;

use super::core::events::{EventKind, LifeEvent};
use crate::plan::Hooks;
use crate::types::Exit;

/// The version of the event objects' schema (their `v` field).
pub(crate) const SCHEMA: u32 = 1;

/// One event object; fields a kind lacks are left out.
#[derive(Debug, Default, Serialize)]
struct Wire<'a> {
    v: u32,
    event: &'static str,
    time: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    after_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probe: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delay_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<&'a [String]>,
}

fn millis(d: std::time::Duration) -> Option<u64> {
    Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `e` at `time` (RFC 3339) as one JSON object, without a newline.
pub(crate) fn to_json(e: &LifeEvent, time: &str) -> String {
    let mut w = Wire {
        v: SCHEMA,
        event: e.kind.name(),
        time,
        name: e.process.as_ref().map(|(_, n)| n.as_str()),
        ..Wire::default()
    };
    match &e.kind {
        EventKind::Started { pid } => w.pid = Some(pid.get()),
        EventKind::Ready { after, probe } => {
            w.after_ms = millis(*after);
            w.probe = *probe;
        }
        EventKind::ProbeFailed { error } => w.error = Some(error),
        EventKind::Exited { exit, ran, failed } => {
            match exit {
                Exit::Code(c) => w.status = Some(*c),
                Exit::Signal(s) => w.signal = Some(crate::types::signal_name(*s)),
            }
            w.run_ms = millis(*ran);
            w.failed = Some(*failed);
        }
        EventKind::Restarting { delay, count } => {
            w.delay_ms = millis(*delay);
            w.count = Some(*count);
        }
        EventKind::Stopping { reason } | EventKind::Shutdown { reason } => w.reason = Some(reason),
        EventKind::WatchTriggered { files } => w.files = Some(files),
        EventKind::Starting
        | EventKind::Killed
        | EventKind::Paused
        | EventKind::Resumed
        | EventKind::Reloaded => {}
    }
    serde_json::to_string(&w).expect("events serialize")
}

/// The hooks `kind` runs, from `hooks`: `(which, command)`.
pub(crate) fn hooks_for<'h>(hooks: &'h Hooks, kind: &EventKind) -> Vec<(&'static str, &'h str)> {
    let mut run = Vec::new();
    let mut add = |which, command: &'h Option<String>| {
        if let Some(c) = command {
            run.push((which, c.as_str()));
        }
    };
    match kind {
        EventKind::Ready { .. } => add("on_ready", &hooks.on_ready),
        EventKind::Exited { failed, .. } => {
            add("on_exit", &hooks.on_exit);
            if *failed {
                add("on_failure", &hooks.on_failure);
            }
        }
        _ => {}
    }
    run
}

/// The event as a hook's environment: `DROVER_EVENT` (the kind),
/// `DROVER_EVENT_<FIELD>` for each other field (`DROVER_EVENT_NAME`,
/// `DROVER_EVENT_STATUS`, …; a list joined with newlines) and
/// `DROVER_EVENT_JSON`, the whole object.
pub(crate) fn hook_env(json: &str) -> Vec<(String, String)> {
    let mut vars = Vec::new();
    if let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(json) {
        for (key, value) in fields {
            let key = if key == "event" {
                "DROVER_EVENT".to_string()
            } else {
                format!("DROVER_EVENT_{}", key.to_ascii_uppercase())
            };
            let value = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join("\n"),
                other => other.to_string(),
            };
            vars.push((key, value));
        }
    }
    vars.push(("DROVER_EVENT_JSON".to_string(), json.to_string()));
    vars
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn event(kind: EventKind) -> LifeEvent {
        LifeEvent {
            process: Some((0, "web.1".into())),
            kind,
        }
    }

    #[test]
    fn an_exit_has_its_status_or_signal_and_run_time() {
        let e = event(EventKind::Exited {
            exit: Exit::Code(3),
            ran: Duration::from_millis(1500),
            failed: true,
        });
        assert_eq!(
            to_json(&e, "T"),
            r#"{"v":1,"event":"exited","time":"T","name":"web.1","status":3,"run_ms":1500,"failed":true}"#
        );
        let e = event(EventKind::Exited {
            exit: Exit::Signal(9),
            ran: Duration::ZERO,
            failed: false,
        });
        assert!(to_json(&e, "T").contains(r#""signal":"SIGKILL""#));
    }

    #[test]
    fn shutdown_has_no_name_and_watching_lists_files() {
        let e = LifeEvent {
            process: None,
            kind: EventKind::Shutdown {
                reason: "received SIGTERM".into(),
            },
        };
        assert_eq!(
            to_json(&e, "T"),
            r#"{"v":1,"event":"shutdown","time":"T","reason":"received SIGTERM"}"#
        );
        let e = event(EventKind::WatchTriggered {
            files: vec!["a.rs".into(), "b.rs".into()],
        });
        assert!(to_json(&e, "T").ends_with(r#""files":["a.rs","b.rs"]}"#));
        assert_eq!(event(EventKind::Reloaded).kind.name(), "reloaded");
    }

    #[test]
    fn a_hook_sees_every_field() {
        let e = event(EventKind::Restarting {
            delay: Duration::from_secs(2),
            count: 1,
        });
        let json = to_json(&e, "T");
        let env = hook_env(&json);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("DROVER_EVENT"), Some("restarting"));
        assert_eq!(get("DROVER_EVENT_NAME"), Some("web.1"));
        assert_eq!(get("DROVER_EVENT_DELAY_MS"), Some("2000"));
        assert_eq!(get("DROVER_EVENT_V"), Some("1"));
        assert_eq!(get("DROVER_EVENT_JSON"), Some(json.as_str()));
    }

    #[test]
    fn a_failed_exit_runs_both_exit_hooks() {
        let hooks = Hooks {
            on_ready: Some("r".into()),
            on_exit: Some("e".into()),
            on_failure: Some("f".into()),
        };
        let failed = EventKind::Exited {
            exit: Exit::Code(1),
            ran: Duration::ZERO,
            failed: true,
        };
        assert_eq!(
            hooks_for(&hooks, &failed),
            vec![("on_exit", "e"), ("on_failure", "f")]
        );
        assert!(hooks_for(&hooks, &EventKind::Killed).is_empty());
    }
}
