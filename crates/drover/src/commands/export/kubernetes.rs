//! Kubernetes manifests: a ConfigMap of the app's variables (and a Secret
//! of the `--secret` ones), a Deployment per process (replicas from the
//! formation) or a Job per one-off, and a Service for each process that
//! takes `PORT`, one file each.
//!
//! This module owns the manifests' shape and Kubernetes' naming rules; the
//! YAML text is [`super::yaml`]'s, which keeps keys in Kubernetes' usual
//! order and lets each file open with a header comment. What a manifest
//! cannot say (log and notify probes, a stop signal without
//! `--k8s-stop-signal`, the order of dependencies) is said there.
//!
//! Decisions: a process "takes PORT", and gets a Service, when it is named
//! `web` or its command mentions `$PORT`/`${PORT}`. Every replica gets the
//! same `PORT` (its first instance's), since each pod has its own address;
//! `PS` is the pod's name. Deployments always restart their pods; a Job's
//! restart only on failure. `-u` must be a numeric uid (`runAsUser`). `$`
//! in commands is written `$$`, because Kubernetes expands `$(VAR)` in
//! `command` and in exec probes; ConfigMap values are not expanded.

use super::yaml::{document, map, s, Node};
use super::{ceil_secs, comment, unrepresentable, App, ExportError, Process};
use crate::plan::{Probe, Readiness, RestartPolicy};
use crate::types::Signal;

const FORMAT: &str = "kubernetes";

/// The manifest files: (file name, text).
pub fn render(app: &App) -> Result<Vec<(String, String)>, ExportError> {
    let run_as = match &app.user {
        None => None,
        Some(u) => Some(u.parse::<i64>().map_err(|_| {
            unrepresentable(
                FORMAT,
                format!("user {u:?}"),
                "a pod runs as a numeric user id (runAsUser)",
                Some("give the uid with -u, e.g. -u 1000"),
            )
        })?),
    };
    let mut out = Files {
        app,
        app_label: dns_label(&app.name, "the app name (-a)")?,
        files: Vec::new(),
        names: Vec::new(),
    };
    // One ConfigMap (and Secret) when every process has the same variables
    // (the usual case), else one per process.
    let shared_env = app.processes.windows(2).all(|w| w[0].env == w[1].env);
    let shared = match app.processes.first() {
        Some(first) if shared_env => {
            Some(out.env_sources(&app.name, None, "every process", &first.env)?)
        }
        _ => None,
    };
    for p in &app.processes {
        let component = dns_label(&p.name, &format!("process {}", p.name))?;
        let name = out.claim(
            dns_label(
                &format!("{}-{}", app.name, p.name),
                &format!("process {}", p.name),
            )?,
            format!("the Deployment of process {}", p.name),
        )?;
        let env_from = match &shared {
            Some(sources) => sources.clone(),
            None => out.env_sources(
                &name,
                Some(&component),
                &format!("process {}", p.name),
                &p.env,
            )?,
        };
        let mut notes = dependency_notes(app, p, &name);
        notes.extend(p.named_port_note());
        notes.extend(p.socket_note());
        let pod = pod_spec(app, p, &component, env_from, run_as, &mut notes)?;
        let (kind, object) = workload(p, &name, &out.app_label, &component, pod);
        let mut text = out.header(&format!(
            "process {}; set the image with --image (now {:?})",
            p.name, app.image
        ));
        for note in notes {
            text.push_str(&format!("# {}\n", comment(&note)));
        }
        out.files
            .push((format!("{name}-{kind}.yaml"), text + &document(&object)));
        if p.takes_port() {
            if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
                return Err(unrepresentable(
                    FORMAT,
                    format!("the Service of process {}", p.name),
                    format!("a Service's name must start with a letter, and {name:?} does not"),
                    Some("give the app a name that starts with a letter with -a"),
                ));
            }
            let text = out.header(&format!("process {} takes PORT", p.name))
                + &document(&service(p, &name, &out.app_label, &component));
            out.files.push((format!("{name}-service.yaml"), text));
        }
    }
    Ok(out.files)
}

/// The files written so far, and the object names they claim.
struct Files<'a> {
    app: &'a App,
    app_label: String,
    files: Vec<(String, String)>,
    names: Vec<String>,
}

impl Files<'_> {
    /// `name` for one object, unless another already has it.
    fn claim(&mut self, name: String, what: String) -> Result<String, ExportError> {
        if self.names.contains(&name) {
            return Err(unrepresentable(
                FORMAT,
                what,
                format!("its name {name:?} is already taken by another object"),
                Some("rename one of the processes so their lowercase names differ"),
            ));
        }
        self.names.push(name.clone());
        Ok(name)
    }

    /// A file's first line.
    fn header(&self, what: &str) -> String {
        format!(
            "# Written by `drover export kubernetes` from {}: {what}.\n",
            comment(&self.app.procfile)
        )
    }

    /// The ConfigMap `BASE-env` of `env`, and the Secret `BASE-secret` of
    /// the keys given with `--secret`, each written when it holds a key;
    /// returns the container's `envFrom` entries for them.
    fn env_sources(
        &mut self,
        base: &str,
        component: Option<&str>,
        whose: &str,
        env: &[(String, String)],
    ) -> Result<Vec<Node>, ExportError> {
        let (secret, plain): (Vec<_>, Vec<_>) = env
            .iter()
            .cloned()
            .partition(|(k, _)| self.app.secrets.contains(k));
        let mut sources = Vec::new();
        for (kind, vars, suffix, reference) in [
            ("ConfigMap", plain, "env", "configMapRef"),
            ("Secret", secret, "secret", "secretRef"),
        ] {
            if vars.is_empty() {
                continue;
            }
            let what = format!("the {kind} of {whose}");
            let name = self.claim(dns_label(&format!("{base}-{suffix}"), &what)?, what)?;
            let object = env_object(kind, &name, &self.app_label, component, &vars)?;
            let mut text = self.header(&format!("the variables of {whose}"));
            if kind == "Secret" {
                text.push_str(
                    "# It holds the values of --secret keys: keep it out of version control.\n",
                );
            }
            self.files
                .push((format!("{name}.yaml"), text + &document(&object)));
            sources.push(map([(reference, map([("name", s(name))]))]));
        }
        Ok(sources)
    }
}

/// What the file of `p` says of the one-offs around it: Kubernetes starts
/// every object at once.
fn dependency_notes(app: &App, p: &Process, name: &str) -> Vec<String> {
    let mut notes = Vec::new();
    if p.one_off {
        notes.push(format!(
            "A one-off: a Job, run once. Kubernetes starts the processes that wait \
             for it at once: apply this first, then `kubectl wait --for=condition=complete \
             job/{name}`, then the rest"
        ));
    }
    for dep in &p.depends_on {
        let one_off = app
            .processes
            .iter()
            .any(|d| d.name == dep.process && d.one_off);
        if one_off {
            notes.push(format!(
                "Under drover start it waits for {} to exit 0: apply it once that Job completed",
                dep.process
            ));
        }
    }
    notes
}

fn labels(app_label: &str, component: Option<&str>) -> Node {
    let mut entries = vec![("app.kubernetes.io/name".to_owned(), s(app_label))];
    if let Some(c) = component {
        entries.push(("app.kubernetes.io/component".to_owned(), s(c)));
    }
    entries.push(("app.kubernetes.io/managed-by".to_owned(), s("drover")));
    Node::Map(entries)
}

fn selector(app_label: &str, component: &str) -> Node {
    map([
        ("app.kubernetes.io/name", s(app_label)),
        ("app.kubernetes.io/component", s(component)),
    ])
}

/// A ConfigMap (`data`) or an Opaque Secret (`stringData`) of `env`.
fn env_object(
    kind: &str,
    name: &str,
    app_label: &str,
    component: Option<&str>,
    env: &[(String, String)],
) -> Result<Node, ExportError> {
    for (key, _) in env {
        let ok = !key.is_empty()
            && key.len() <= 253
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(unrepresentable(
                FORMAT,
                format!("variable {key}"),
                format!("a {kind} key holds only letters, digits, '-', '_' and '.'"),
                Some("rename the variable in the .env file"),
            ));
        }
    }
    let data = Node::Map(env.iter().map(|(k, v)| (k.clone(), s(v.clone()))).collect());
    let metadata = map([("name", s(name)), ("labels", labels(app_label, component))]);
    let mut object = vec![
        ("apiVersion".to_owned(), s("v1")),
        ("kind".to_owned(), s(kind)),
        ("metadata".to_owned(), metadata),
    ];
    if kind == "Secret" {
        object.push(("type".to_owned(), s("Opaque")));
        object.push(("stringData".to_owned(), data));
    } else {
        object.push(("data".to_owned(), data));
    }
    Ok(Node::Map(object))
}

/// The pod of process `p`: its one container and how it is stopped.
fn pod_spec(
    app: &App,
    p: &Process,
    component: &str,
    env_from: Vec<Node>,
    run_as: Option<i64>,
    notes: &mut Vec<String>,
) -> Result<Node, ExportError> {
    let port = i64::from(p.base_port());
    let mut container = vec![
        ("name".to_owned(), s(component)),
        ("image".to_owned(), s(app.image.clone())),
        (
            "command".to_owned(),
            // Kubernetes expands `$(VAR)` in `command`, and reads `$$` as `$`.
            Node::Seq(p.argv.iter().map(|w| s(w.replace('$', "$$"))).collect()),
        ),
        (
            "env".to_owned(),
            Node::Seq(vec![
                map([("name", s("PORT")), ("value", s(port.to_string()))]),
                map([
                    ("name", s("PS")),
                    (
                        "valueFrom",
                        map([("fieldRef", map([("fieldPath", s("metadata.name"))]))]),
                    ),
                ]),
            ]),
        ),
    ];
    if !env_from.is_empty() {
        container.push(("envFrom".to_owned(), Node::Seq(env_from)));
    }
    if p.takes_port() {
        container.push((
            "ports".to_owned(),
            Node::Seq(vec![map([
                ("name", s("http")),
                ("containerPort", Node::Int(port)),
                ("protocol", s("TCP")),
            ])]),
        ));
    }
    if let Some(ready) = &p.ready {
        if let Some(probe) = readiness_probe(p, ready, notes)? {
            container.push(("readinessProbe".to_owned(), probe));
        }
    }
    let mut pod = vec![(
        "terminationGracePeriodSeconds".to_owned(),
        Node::Int(i64::try_from(ceil_secs(p.stop_timeout)).expect("the timeout is at most a day")),
    )];
    if p.stop_signal != Signal::TERM && app.k8s_stop_signal {
        // Kubernetes sends SIGTERM unless the container says otherwise,
        // which it may only for a pod that names its OS.
        let signal = p.stop_signal.name().ok_or_else(|| {
            unrepresentable(
                FORMAT,
                format!("process {}", p.name),
                format!("stop signal {} has no name drover knows", p.stop_signal),
                None,
            )
        })?;
        container.push((
            "lifecycle".to_owned(),
            map([("stopSignal", s(format!("SIG{signal}")))]),
        ));
        pod.push(("os".to_owned(), map([("name", s("linux"))])));
    } else if p.stop_signal != Signal::TERM {
        // lifecycle.stopSignal needs the ContainerStopSignals feature gate
        // (Kubernetes 1.33+): a cluster without it refuses the manifest.
        notes.push(format!(
            "drover stops this process with {}, Kubernetes with SIGTERM. Export with \
             --k8s-stop-signal to set lifecycle.stopSignal (Kubernetes 1.33+ with the \
             ContainerStopSignals feature gate), or send the signal from a preStop hook \
             (see drover's README)",
            p.stop_signal
        ));
    }
    if let Some(uid) = run_as {
        pod.push((
            "securityContext".to_owned(),
            map([("runAsUser", Node::Int(uid))]),
        ));
    }
    pod.push((
        "containers".to_owned(),
        Node::Seq(vec![Node::Map(container)]),
    ));
    Ok(Node::Map(pod))
}

/// drover's readiness probe as a `readinessProbe`: tcp and http probe the
/// pod's address unless they name another host, a command runs in the
/// container under `/bin/sh -c`. `log` and `notify` have no equivalent:
/// `None`, and a note for the file's header.
fn readiness_probe(
    p: &Process,
    ready: &Readiness,
    notes: &mut Vec<String>,
) -> Result<Option<Node>, ExportError> {
    let (kind, action) = match &ready.probe {
        Probe::Tcp(address) => ("tcpSocket", probe_target(p, address, notes)?),
        Probe::Http { address, path } => {
            let mut target = probe_target(p, address, notes)?;
            target.insert(0, ("path".to_owned(), s(path.clone())));
            ("httpGet", target)
        }
        Probe::Command(command) => {
            // Kubernetes expands `$(VAR)` in an exec probe's command too.
            let argv = ["/bin/sh", "-c", command.as_str()];
            let argv = argv.iter().map(|w| s(w.replace('$', "$$"))).collect();
            ("exec", vec![("command".to_owned(), Node::Seq(argv))])
        }
        Probe::Log(pattern) => {
            notes.push(format!(
                "drover waits for an output line matching {pattern:?} before it counts this \
                 process as ready; Kubernetes cannot watch output, so there is no readinessProbe"
            ));
            return Ok(None);
        }
        Probe::Notify => {
            notes.push(
                "drover waits for READY=1 on $NOTIFY_SOCKET before it counts this process as \
                 ready; Kubernetes has no such socket, so there is no readinessProbe"
                    .to_owned(),
            );
            return Ok(None);
        }
    };
    let period = i64::try_from(ceil_secs(ready.interval).max(1)).expect("an interval is short");
    Ok(Some(map([
        (kind, Node::Map(action)),
        ("periodSeconds", Node::Int(period)),
    ])))
}

/// `host:port` of a tcp or http probe as `port` (and `host` when it is not
/// this machine: Kubernetes probes the pod's own address).
fn probe_target(
    p: &Process,
    address: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<(String, Node)>, ExportError> {
    let bad = || {
        unrepresentable(
            FORMAT,
            format!("the readiness probe of process {}", p.name),
            format!("{address:?} names no port Kubernetes can probe"),
            Some("give the probe a numeric port, or $PORT"),
        )
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let port = match port {
        "$PORT" | "${PORT}" => p.base_port(),
        n => n.parse::<u16>().map_err(|_| bad())?,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut target = vec![("port".to_owned(), Node::Int(i64::from(port)))];
    let loopback = host == "localhost" || host == "::1" || host.starts_with("127.");
    if loopback {
        notes.push(format!(
            "drover probes {address}; Kubernetes probes the pod's address, so the process \
             must listen on it (0.0.0.0), not on the loopback address only"
        ));
    } else if !matches!(host, "" | "0.0.0.0" | "::") {
        target.push(("host".to_owned(), s(host)));
    }
    Ok(target)
}

/// The object that runs the pods: a Job for a one-off (its pods restart only
/// on failure, `Never` under `restart = "no"`), else a Deployment (which
/// always restarts them), with one pod per instance. Returns the kind, as
/// the file name says it, and the object.
fn workload(
    p: &Process,
    name: &str,
    app_label: &str,
    component: &str,
    pod: Node,
) -> (&'static str, Node) {
    let count = Node::Int(i64::try_from(p.ports.len()).expect("a formation counts few instances"));
    let template = |pod: Node| {
        map([
            (
                "metadata",
                map([("labels", labels(app_label, Some(component)))]),
            ),
            ("spec", pod),
        ])
    };
    if !p.one_off {
        let spec = map([
            ("replicas", count),
            (
                "selector",
                map([("matchLabels", selector(app_label, component))]),
            ),
            ("template", template(pod)),
        ]);
        let object = map([
            ("apiVersion", s("apps/v1")),
            ("kind", s("Deployment")),
            ("metadata", metadata(name, app_label, component)),
            ("spec", spec),
        ]);
        return ("deployment", object);
    }
    let (restart, backoff) = match p.restart_in_force() {
        RestartPolicy::No => ("Never", Some(0)),
        _ => ("OnFailure", None),
    };
    let Node::Map(mut entries) = pod else {
        unreachable!("pod_spec returns a mapping")
    };
    entries.insert(0, ("restartPolicy".to_owned(), s(restart)));
    let mut spec = vec![
        ("completions".to_owned(), count.clone()),
        ("parallelism".to_owned(), count),
    ];
    if let Some(limit) = backoff {
        spec.push(("backoffLimit".to_owned(), Node::Int(limit)));
    }
    spec.push(("template".to_owned(), template(Node::Map(entries))));
    let object = map([
        ("apiVersion", s("batch/v1")),
        ("kind", s("Job")),
        ("metadata", metadata(name, app_label, component)),
        ("spec", Node::Map(spec)),
    ]);
    ("job", object)
}

/// `metadata` of a component's object: its name and labels.
fn metadata(name: &str, app_label: &str, component: &str) -> Node {
    map([
        ("name", s(name)),
        ("labels", labels(app_label, Some(component))),
    ])
}

fn service(p: &Process, name: &str, app_label: &str, component: &str) -> Node {
    map([
        ("apiVersion", s("v1")),
        ("kind", s("Service")),
        ("metadata", metadata(name, app_label, component)),
        (
            "spec",
            map([
                ("selector", selector(app_label, component)),
                (
                    "ports",
                    Node::Seq(vec![map([
                        ("name", s("http")),
                        ("port", Node::Int(i64::from(p.base_port()))),
                        ("targetPort", s("http")),
                        ("protocol", s("TCP")),
                    ])]),
                ),
            ]),
        ),
    ])
}

/// `text` as a DNS-1123 label (lowercase letters, digits and `-`, at most
/// 63, starting and ending with a letter or digit): lowercased, every run
/// of other characters made one `-`. `what` names it in the error.
pub fn dns_label(text: &str, what: &str) -> Result<String, ExportError> {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-');
    if out.is_empty() || out.len() > 63 {
        return Err(unrepresentable(
            FORMAT,
            what,
            format!(
                "{text:?} makes no Kubernetes name (1 to 63 lowercase letters, digits and '-')"
            ),
            Some("choose a shorter app name with -a"),
        ));
    }
    Ok(out.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        assert_eq!(dns_label("My_App-web", "x").unwrap(), "my-app-web");
        assert_eq!(dns_label("a..b", "x").unwrap(), "a-b");
        assert!(dns_label("__", "x").is_err());
        assert!(dns_label(&"a".repeat(64), "x").is_err());
    }
}
