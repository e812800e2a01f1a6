//! Chaos: 50 processes that crash, fork, daemonize, flood and exit at
//! random, restarted by drover and, at random, over the control socket,
//! for a bounded time; then SIGTERM. Afterwards:
//!
//! - no process of the run is left (pids from the pid files every start
//!   writes, from `drover ps --json` samples and from what the children
//!   said about their grandchildren);
//! - every line that arrived is whole (no torn or mixed line), and each
//!   start's numbered lines arrived in order without a gap; a start that
//!   wrote all of its lines (its sentinel file exists) has every one of
//!   them on drover's stdout;
//! - drover's peak resident set stayed under a generous bound.
//!
//! Each start tags its lines with 8 random hex digits (read from the
//! kernel by the shell's `read` builtin, no fork), so two starts never
//! share a tag even when the kernel reuses a pid (`pid_max` may be 32768).
//! The run is seeded (`DROVER_CHAOS_SEED` replays one); the seed is printed.

use std::collections::HashMap;
use std::io::Read as _;
use std::thread;
use std::time::{Duration, Instant};

use crate::util::*;

/// How long the test restarts processes; the run's only wall-clock
/// length, not an assertion.
const CHAOS: Duration = Duration::from_secs(20);

/// Processes, each with this many instances: 50 in all.
const PROCESSES: usize = 10;
const INSTANCES: usize = 5;

/// drover's peak resident set may not pass this: a leak detector,
/// generous (4 MiB output budget, 256 KiB of log per instance).
const HWM_BOUND_KIB: u64 = 128 * 1024;

/// splitmix64: a small seeded generator, enough to pick behaviours.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Writes its lines, sleeps a random while, exits 3.
    Crash,
    /// Writes its lines, sleeps, SIGKILLs itself.
    KillSelf,
    /// Forks a `sleep 300` that keeps the pipes, writes, exits 0: its group
    /// outlives it.
    Fork,
    /// Forks a `sleep 300` that leaves (setsid), writes, exits 1.
    Daemon,
    /// A burst of thousands of lines, then exit 0.
    Flood,
    /// Writes its lines and stays until stopped (`bye TERM`).
    Stay,
}

const KINDS: [Kind; 6] = [
    Kind::Crash,
    Kind::KillSelf,
    Kind::Fork,
    Kind::Daemon,
    Kind::Flood,
    Kind::Stay,
];

/// What one process does; every start of it writes `lines` lines of
/// `len` bytes.
#[derive(Debug, Clone)]
struct Plan {
    kind: Kind,
    lines: u64,
    len: usize,
    command: String,
}

fn plan(index: usize, rng: &mut Rng) -> Plan {
    // One of each kind first, then any.
    let kind = if index < KINDS.len() {
        KINDS[index]
    } else {
        KINDS[rng.below(KINDS.len() as u64) as usize]
    };
    let lines = match kind {
        Kind::Flood => 2_000 + rng.below(6_000),
        _ => rng.below(200),
    };
    let len = 24 + rng.below(180) as usize;
    let write = ["raw", "block", "line"][rng.below(3) as usize];
    let stderr = if rng.below(4) == 0 { " --stderr" } else { "" };
    // A random 0..800 ms per start, from the tag's hex digits.
    let sleep = "--sleep-ms $((0x$u % 800))";
    let tail = match kind {
        Kind::Crash => format!("{sleep} --exit 3"),
        Kind::KillSelf => format!("{sleep} --kill-self KILL"),
        Kind::Fork => format!("--fork-sleep 300 {sleep} --exit 0"),
        Kind::Daemon => format!("--fork-detached 300 {sleep} --exit 1"),
        Kind::Flood => "--exit 0".to_string(),
        Kind::Stay => "--trap-term bye --stay".to_string(),
    };
    let tag = format!("p{index}-$u");
    // Not a simple command, so drover's `sh -c` runs it as written; the
    // shell then `exec`s the testchild, which keeps the shell's pid.
    let command = format!(
        "read u < /proc/sys/kernel/random/uuid; u=${{u%%-*}}; \
         exec $T --tag {tag} --lines {lines} --len {len} --write {write}{stderr} \
         --pidfile {tag}.pid --sentinel done/{tag} {tail}"
    );
    Plan {
        kind,
        lines,
        len,
        command,
    }
}

/// What the stream checker knows of one start (one tag).
#[derive(Debug)]
struct Start {
    /// The instance that printed it.
    name: String,
    /// The last whole line's number.
    last: u64,
    /// Its last line arrived partial (the process died mid-line): nothing
    /// of it may follow.
    partial: bool,
}

/// What the stream checker found.
#[derive(Default, Debug)]
struct Seen {
    /// Per tag.
    tags: HashMap<String, Start>,
    /// Pids the children named (`grandchild N`, `detached N`).
    pids: Vec<i32>,
    /// Lines from processes, partial ones among them, and from drover.
    lines: u64,
    partial: u64,
    system: u64,
    /// The first problems found (torn, mixed, out-of-order lines).
    problems: Vec<String>,
}

impl Seen {
    fn problem(&mut self, p: String) {
        if self.problems.len() < 20 {
            self.problems.push(p);
        }
    }

    /// Checks one output line (`NAME<padding> | TEXT`, no newline).
    ///
    /// A process killed mid-line leaves a partial last line, which drover
    /// prints when the stream ends: a strict prefix of the line due is
    /// accepted, as the last of its start.
    fn line(&mut self, raw: &[u8], plans: &[Plan]) {
        let Some(at) = raw.windows(3).position(|w| w == b" | ") else {
            self.problem(format!("no name column: {:?}", show(raw)));
            return;
        };
        let name = String::from_utf8_lossy(raw[..at].trim_ascii_end()).into_owned();
        let text = &raw[at + 3..];
        if name == "system" {
            self.system += 1;
            return;
        }
        self.lines += 1;
        // pN.K
        let Some(index) = name
            .strip_prefix('p')
            .and_then(|r| r.split_once('.'))
            .and_then(|(i, _)| i.parse::<usize>().ok())
            .filter(|i| *i < plans.len())
        else {
            self.problem(format!("an unknown process {name:?}"));
            return;
        };
        let t = String::from_utf8_lossy(text);
        for prefix in ["grandchild ", "detached "] {
            if let Some(pid) = t.strip_prefix(prefix).and_then(|p| p.parse().ok()) {
                self.pids.push(pid);
                return;
            }
        }
        if t == "bye TERM" {
            return;
        }
        // `pI-XXXXXXXX SSSSSSSS PAD…`
        let tag_prefix = format!("p{index}-");
        let tag_len = tag_prefix.len() + 8;
        let is_hex = |b: &[u8]| {
            b.iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        };
        if text.len() < tag_len {
            // Cut inside the tag: only a prefix of some tag of this process.
            let ok = if text.len() <= tag_prefix.len() {
                tag_prefix.as_bytes().starts_with(text)
            } else {
                text.starts_with(tag_prefix.as_bytes()) && is_hex(&text[tag_prefix.len()..])
            };
            if ok {
                self.partial += 1;
            } else {
                self.problem(format!("{name}: a torn or foreign line: {:?}", show(text)));
            }
            return;
        }
        let tag = String::from_utf8_lossy(&text[..tag_len]).into_owned();
        if !tag.starts_with(&tag_prefix) || !is_hex(&text[tag_prefix.len()..tag_len]) {
            self.problem(format!("{name}: a torn or foreign line: {:?}", show(text)));
            return;
        }
        let len = plans[index].len;
        let start = self.tags.entry(tag.clone()).or_insert_with(|| Start {
            name: name.clone(),
            last: 0,
            partial: false,
        });
        let (first, last, after_partial) = (start.name.clone(), start.last, start.partial);
        // The only line that may come: the next one, whole or cut short.
        let due = expected_line(&tag, last + 1, len);
        let whole = text == due.as_slice();
        let cut = !whole && text.len() < due.len() && due.starts_with(text);
        if whole || cut {
            start.last += u64::from(whole);
            start.partial |= cut;
            self.partial += u64::from(cut);
        }
        if first != name {
            self.problem(format!("{tag} printed by {first} and by {name}"));
        } else if after_partial {
            self.problem(format!(
                "{tag}: a line after its partial last line: {:?}",
                show(text)
            ));
        } else if !whole && !cut {
            self.problem(format!(
                "{name}: {tag} after line {last}: a damaged or misplaced line {:?}",
                show(text)
            ));
        }
    }
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(160)]).into_owned()
}

#[test]
fn fifty_processes_in_chaos_leave_nothing_and_lose_no_line() {
    let seed = std::env::var("DROVER_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_d20e_u64);
    eprintln!("chaos seed {seed} (DROVER_CHAOS_SEED replays it)");
    let mut rng = Rng(seed);
    let plans: Vec<Plan> = (0..PROCESSES).map(|i| plan(i, &mut rng)).collect();
    for (i, p) in plans.iter().enumerate() {
        eprintln!("p{i}: {:?}, {} lines of {} bytes", p.kind, p.lines, p.len);
    }

    let dir = TestDir::new();
    std::fs::create_dir(dir.join("done")).expect("creating done/");
    let mut procfile = String::new();
    let mut toml = String::from("timeout = 2\n");
    for (i, p) in plans.iter().enumerate() {
        procfile.push_str(&format!("p{i}: {}\n", p.command));
        toml.push_str(&format!(
            "[processes.p{i}]\ninstances = {INSTANCES}\nrestart = \"always\"\n\
             backoff = {{ initial = \"20ms\", max = \"200ms\", reset_after = \"300ms\" }}\n"
        ));
    }
    dir.procfile(&procfile);
    dir.write("drover.toml", &toml);

    let (mut run, mut stdout) = dir.drover(PLAIN).spawn_with_stdout();
    let hwm = HwmSampler::start(run.pid());
    let checker_plans = plans.clone();
    let checker = thread::spawn(move || {
        let mut seen = Seen::default();
        let mut buf = vec![0u8; 1 << 20];
        let mut partial: Vec<u8> = Vec::new();
        loop {
            let n = match stdout.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => panic!("reading drover's stdout: {e}"),
            };
            let mut chunk = &buf[..n];
            while let Some(nl) = chunk.iter().position(|b| *b == b'\n') {
                if partial.is_empty() {
                    seen.line(&chunk[..nl], &checker_plans);
                } else {
                    partial.extend_from_slice(&chunk[..nl]);
                    let line = std::mem::take(&mut partial);
                    seen.line(&line, &checker_plans);
                }
                chunk = &chunk[nl + 1..];
            }
            partial.extend_from_slice(chunk);
        }
        if !partial.is_empty() {
            seen.problem(format!("stdout ends inside a line: {:?}", show(&partial)));
        }
        seen
    });

    wait_for_control(&dir, &mut run);
    let path = sock(&dir);
    let mut sampled: Vec<i32> = Vec::new();
    let (mut restarts, mut samples) = (0u32, 0u32);
    let start = Instant::now();
    while start.elapsed() < CHAOS {
        assert!(
            !run.exited(),
            "drover exited during the chaos:\n{}",
            run.stderr_so_far()
        );
        let i = rng.below(PROCESSES as u64);
        let name = match rng.below(3) {
            0 => format!("p{i}"),
            _ => format!("p{i}.{}", 1 + rng.below(INSTANCES as u64)),
        };
        if rng.below(8) == 0 {
            // Now and then through the real client.
            client(&dir, &["restart", &name]).ok();
        } else {
            let answer = request(
                &path,
                &format!(r#"{{"v":1,"cmd":"restart","names":["{name}"]}}"#),
            );
            assert_eq!(answer["ok"], true, "restart {name}: {answer}");
        }
        restarts += 1;
        if restarts % 10 == 0 {
            let rows = ps(&dir);
            sampled.extend(
                rows.iter()
                    .filter_map(|r| r["pid"].as_i64())
                    .map(|p| p as i32),
            );
            samples += 1;
        }
        // Pacing only: the chaos is in the processes, not in this loop.
        thread::sleep(Duration::from_millis(10 + rng.below(40)));
    }

    run.signal(libc::SIGTERM);
    // A hang detector: every stop is drover's timeout (2 s) at most.
    let status = run.wait_exit();
    let peak = hwm.finish();
    let seen = checker.join().expect("the checker thread");
    let f = run.finish();
    f.assert_clean_stderr();
    eprintln!(
        "chaos: {restarts} restarts asked, {samples} ps samples, {} starts seen, \
         {} lines from processes ({} partial last lines), {} from drover, VmHWM {peak} KiB",
        seen.tags.len(),
        seen.lines,
        seen.partial,
        seen.system
    );
    assert_eq!(status.code(), Some(0), "stderr:\n{}", f.stderr);

    // Nothing left.
    let mut pids = pids_in_files(dir.path());
    pids.extend(&sampled);
    pids.extend(&seen.pids);
    pids.sort_unstable();
    pids.dedup();
    learn(&dir, &pids);
    assert!(pids.len() > 100, "only {} pids were learned", pids.len());
    assert_none_left(&dir, &pids, "processes of the chaos run");

    // Every line whole and in order.
    assert!(seen.problems.is_empty(), "{:#?}", seen.problems);
    // A start that wrote all its lines has all of them on stdout.
    let mut complete = 0;
    for entry in std::fs::read_dir(dir.join("done"))
        .expect("reading done/")
        .flatten()
    {
        let tag = entry.file_name().to_string_lossy().into_owned();
        let index: usize = tag[1..tag.find('-').expect("pI-XXXXXXXX")]
            .parse()
            .expect("a process index");
        let want = plans[index].lines;
        let got = seen
            .tags
            .get(&tag)
            .map_or((0, false), |s| (s.last, s.partial));
        assert_eq!(
            got,
            (want, false),
            "{tag} wrote {want} whole lines: (arrived whole, a partial one)"
        );
        complete += 1;
    }
    assert!(
        complete > 50,
        "only {complete} starts wrote all their lines"
    );
    assert!(peak > 0, "VmHWM was never read");
    assert!(
        peak < HWM_BOUND_KIB,
        "drover's VmHWM reached {peak} KiB in the chaos"
    );
}
