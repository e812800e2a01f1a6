//! What changed between two plans, instance by instance (`drover reload`),
//! and instance `k` of a process made from another of its instances
//! (`drover scale`).
//!
//! Pure: compares and builds [`ProcessSpec`]s; starts and stops nothing.

use crate::plan::spec::{Probe, ProcessSpec};

/// The difference between the instances that run and a new plan's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    /// New instances, in the new plan's order.
    pub added: Vec<ProcessSpec>,
    /// Instances no longer in the plan.
    pub removed: Vec<String>,
    /// Instances whose spec changed: the new spec, and what changed.
    pub changed: Vec<(ProcessSpec, String)>,
}

impl Diff {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// `+ worker.1`, `- old.1`, `~ web.1 (command changed)`, one a line.
    pub fn lines(&self) -> Vec<String> {
        let added = self.added.iter().map(|s| format!("+ {}", s.name));
        let removed = self.removed.iter().map(|n| format!("- {n}"));
        let changed = self
            .changed
            .iter()
            .map(|(s, why)| format!("~ {} ({why})", s.name));
        added.chain(removed).chain(changed).collect()
    }
}

/// Whether a variable was set by the allocation of named ports (at the
/// start, not by the plan): `PORT_HTTP`, `WEB_PORT_HTTP`.
fn named_port_var(key: &str) -> bool {
    key.starts_with("PORT_") || key.contains("_PORT_")
}

/// What differs between `old` and `new` (same instance), or None. Named
/// port numbers are allocated at the start, so only their names count.
fn what_changed(old: &ProcessSpec, new: &ProcessSpec) -> Option<String> {
    let env = |s: &ProcessSpec| -> Vec<(String, String)> {
        s.env
            .iter()
            .filter(|(k, _)| !named_port_var(k))
            .cloned()
            .collect()
    };
    let port_names =
        |s: &ProcessSpec| -> Vec<String> { s.named_ports.iter().map(|(n, _)| n.clone()).collect() };
    let mut what = Vec::new();
    if old.command != new.command {
        what.push("command");
    }
    if env(old) != env(new) {
        what.push("environment");
    }
    if old.cwd != new.cwd {
        what.push("cwd");
    }
    let settings = |s: &ProcessSpec| {
        let mut s = s.clone();
        s.command.clear();
        s.env.clear();
        s.cwd.clear();
        s.named_ports.clear();
        s.dotenv_keys.clear();
        // The probe was expanded with the named ports of the start.
        s.ready = None;
        s
    };
    if settings(old) != settings(new)
        || port_names(old) != port_names(new)
        || probe_changed(old, new)
    {
        what.push("settings");
    }
    (!what.is_empty()).then(|| format!("{} changed", what.join(", ")))
}

/// The readiness probe changed other than in named port numbers.
fn probe_changed(old: &ProcessSpec, new: &ProcessSpec) -> bool {
    match (&old.ready, &new.ready) {
        (None, None) => false,
        (Some(a), Some(b)) => {
            a.interval != b.interval
                || a.timeout != b.timeout
                || std::mem::discriminant(&a.probe) != std::mem::discriminant(&b.probe)
                || (old.named_ports.is_empty() && a.probe != b.probe)
        }
        _ => true,
    }
}

/// The difference from `running` (the instances that run, by name) to
/// `planned` (a new plan's). A changed instance keeps the named ports it
/// was given at the start.
pub fn diff(running: &[&ProcessSpec], planned: &[ProcessSpec]) -> Diff {
    let mut d = Diff::default();
    for new in planned {
        match running.iter().find(|o| o.name == new.name) {
            None => d.added.push(new.clone()),
            Some(old) => {
                if let Some(why) = what_changed(old, new) {
                    let mut new = new.clone();
                    keep_named_ports(old, &mut new);
                    d.changed.push((new, why));
                }
            }
        }
    }
    d.removed = running
        .iter()
        .filter(|o| !planned.iter().any(|n| n.name == o.name))
        .map(|o| o.name.clone())
        .collect();
    d
}

/// Gives `new` the named port numbers (and their variables) of `old`.
fn keep_named_ports(old: &ProcessSpec, new: &mut ProcessSpec) {
    for (name, port) in &mut new.named_ports {
        if let Some((_, p)) = old.named_ports.iter().find(|(n, _)| n == name) {
            *port = *p;
        }
    }
    for (k, v) in old.env.iter().filter(|(k, _)| named_port_var(k)) {
        if !new.env.iter().any(|(n, _)| n == k) {
            new.env.push((k.clone(), v.clone()));
        }
    }
    if let (Some(o), Some(n)) = (&old.ready, &mut new.ready) {
        if std::mem::discriminant(&o.probe) == std::mem::discriminant(&n.probe) {
            n.probe = o.probe.clone();
        }
    }
}

/// Instance `k` of `like`'s process, made from `like` (another of its
/// instances) as `-m` would make it: its name `web.k`, `PORT` (base + 100 ×
/// process index + k − 1) and `PS`. Its readiness probe's port follows.
pub fn instance_like(like: &ProcessSpec, k: u32) -> ProcessSpec {
    let mut s = like.clone();
    s.name = format!("{}.{k}", like.process);
    s.instance = k;
    s.port = if like.port == 0 {
        0
    } else {
        let base = u32::from(like.port) + 1 - like.instance;
        u16::try_from(base + k - 1).unwrap_or(0)
    };
    s.env.retain(|(key, _)| key != "PORT" && key != "PS");
    if s.port != 0 {
        s.env.push(("PORT".into(), s.port.to_string()));
    }
    s.env.push(("PS".into(), s.name.clone()));
    s.env.sort();
    if let Some(r) = &mut s.ready {
        let (from, to) = (format!(":{}", like.port), format!(":{}", s.port));
        match &mut r.probe {
            Probe::Tcp(a) | Probe::Http { address: a, .. }
                if like.port != 0 && s.port != 0 && a.ends_with(&from) =>
            {
                *a = format!("{}{to}", &a[..a.len() - from.len()]);
            }
            _ => {}
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, command: &str) -> ProcessSpec {
        ProcessSpec::for_test(name, command)
    }

    #[test]
    fn diff_names_added_removed_and_changed() {
        let old = [spec("web.1", "a"), spec("old.1", "b"), spec("same.1", "c")];
        let new = [
            spec("web.1", "a2"),
            spec("same.1", "c"),
            spec("worker.1", "d"),
        ];
        let running: Vec<&ProcessSpec> = old.iter().collect();
        let d = diff(&running, &new);
        assert_eq!(
            d.lines(),
            ["+ worker.1", "- old.1", "~ web.1 (command changed)"]
        );
    }

    #[test]
    fn diff_says_what_changed_and_ignores_named_port_numbers() {
        let mut old = spec("web.1", "a");
        old.named_ports = vec![("http".into(), 41000)];
        old.env = vec![("PORT_HTTP".into(), "41000".into())];
        let mut new = spec("web.1", "a");
        new.named_ports = vec![("http".into(), 0)];
        assert!(diff(&[&old], std::slice::from_ref(&new)).is_empty());

        new.env.push(("A".into(), "1".into()));
        new.cwd = "sub".into();
        new.restart = crate::plan::RestartPolicy::Always;
        let d = diff(&[&old], &[new]);
        assert_eq!(d.lines(), ["~ web.1 (environment, cwd, settings changed)"]);
        let (kept, _) = &d.changed[0];
        assert_eq!(kept.named_ports, [("http".to_string(), 41000)]);
        assert!(kept.env.contains(&("PORT_HTTP".into(), "41000".into())));
    }

    #[test]
    fn instance_like_gives_port_and_ps() {
        let mut web = spec("web.1", "a");
        web.port = 5000;
        web.env = vec![
            ("PORT".into(), "5000".into()),
            ("PS".into(), "web.1".into()),
        ];
        let third = instance_like(&web, 3);
        assert_eq!(third.name, "web.3");
        assert_eq!(third.port, 5002);
        assert!(third.env.contains(&("PORT".into(), "5002".into())));
        assert!(third.env.contains(&("PS".into(), "web.3".into())));
    }
}
