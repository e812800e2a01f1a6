//! Output under faults, on real processes: a child that closes its stdout
//! and lives on, a gigabyte without a newline, and drover's own stdout a
//! full pipe that nobody reads while it shuts down.

use std::io::Read as _;
use std::os::fd::AsRawFd as _;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::util::*;

#[test]
fn a_child_that_closes_its_stdout_and_lives_on_keeps_running() {
    let dir = TestDir::new();
    dir.procfile("closer: $T --tag c --lines 3 --close-stdout --sentinel c.done --pidfile c.pid\n");
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let pid = dir.pids("c.pid")[0];
    dir.wait_for_file("c.done");
    // Both of its streams are closed (drover's readers see their end)...
    for fd in [1, 2] {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}/fd/{fd}")).exists(),
            "the child still has fd {fd}"
        );
    }
    wait_for_child_line(
        &run,
        "closer.1",
        &String::from_utf8_lossy(&expected_line("c", 3, 100)),
    );
    // ... but it runs, and drover knows it runs.
    let rows = ps(&dir);
    assert_eq!(row(&rows, "closer.1")["state"], "running", "{rows:#?}");
    assert_eq!(pid_of(&rows, "closer.1"), pid);
    assert!(leftover(pid, dir.path()), "the child is alive");

    run.signal(libc::SIGTERM);
    let f = run.finish();
    // A requested stop, obeyed in time.
    f.assert_code(0);
    f.assert_clean_stderr();
    let lines = parse_text(&f.stdout);
    assert_all_lines(&lines, "closer.1", "c", 3, 100, &[]);
    let system = system_lines(&lines);
    assert!(
        system.iter().any(|l| l == "closer.1 was killed by SIGTERM"),
        "{system:#?}"
    );
    assert_none_left(&dir, &[pid], "the child");
}

/// One line of this many bytes (then its newline).
const GIB: usize = 1 << 30;

/// The largest piece drover cuts a long line into.
const PIECE: usize = 64 * 1024;

/// drover's peak resident set may not pass this while it carries the
/// gigabyte: a leak detector, generous (its output budget is 4 MiB).
const HWM_BOUND_KIB: u64 = 64 * 1024;

#[test]
fn a_gigabyte_without_a_newline_arrives_whole_in_bounded_memory() {
    let dir = TestDir::new();
    dir.procfile(&format!(
        "long: $T --long {GIB} --sentinel l.done --stay --pidfile l.pid\n"
    ));
    let (run, mut stdout) = dir.drover(PLAIN).spawn_with_stdout();
    let hwm = HwmSampler::start(run.pid());
    // Counted as it streams, never kept: `long.1 | xxx…` pieces.
    let counted = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&counted);
    let reader = thread::spawn(move || {
        let xs = vec![b'x'; PIECE];
        let mut buf = vec![0u8; 1 << 20];
        let mut line: Vec<u8> = Vec::with_capacity(PIECE + 64);
        let mut pieces = 0u64;
        let mut others = Vec::new();
        loop {
            let n = match stdout.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => panic!("reading drover's stdout: {e}"),
            };
            for part in buf[..n].split_inclusive(|b| *b == b'\n') {
                line.extend_from_slice(part);
                if line.last() != Some(&b'\n') {
                    assert!(line.len() <= PIECE + 64, "a line longer than a piece");
                    continue;
                }
                let text = &line[..line.len() - 1];
                if let Some(xs_got) = text.strip_prefix(b"long.1 | ") {
                    assert!(
                        !xs_got.is_empty() && xs_got.len() <= PIECE,
                        "a piece of {} bytes",
                        xs_got.len()
                    );
                    // A slice comparison: one memcmp, fast even unoptimized.
                    assert!(xs_got == &xs[..xs_got.len()], "a piece holds more than x");
                    c.fetch_add(xs_got.len() as u64, Ordering::Relaxed);
                    pieces += 1;
                } else {
                    others.push(String::from_utf8_lossy(text).into_owned());
                }
                line.clear();
            }
        }
        assert!(line.is_empty(), "stdout ended inside a line");
        (pieces, others)
    });
    let pid = dir.pids("l.pid")[0];
    // A hang detector sized for an unoptimized build on two busy cores
    // (about 10 s alone); not a speed assertion.
    let deadline = Instant::now() + Duration::from_secs(90);
    while !dir.join("l.done").exists() {
        assert!(
            Instant::now() < deadline,
            "the child never finished writing"
        );
        thread::sleep(Duration::from_millis(5));
    }
    while counted.load(Ordering::Relaxed) < GIB as u64 {
        assert!(
            Instant::now() < deadline,
            "only {} of {GIB} bytes arrived",
            counted.load(Ordering::Relaxed)
        );
        thread::sleep(Duration::from_millis(10));
    }
    let peak = hwm.peak_kib();
    run.signal(libc::SIGTERM);
    let mut run = run;
    let status = run.wait_exit();
    let (pieces, others) = reader.join().expect("the reader thread");
    let peak = peak.max(hwm.finish());
    assert_eq!(status.code(), Some(0), "others: {others:#?}");
    assert_eq!(counted.load(Ordering::Relaxed), GIB as u64);
    assert_eq!(pieces, GIB.div_ceil(PIECE) as u64, "64 KiB pieces");
    assert!(
        others.iter().all(|l| l.starts_with("system | ")),
        "{others:#?}"
    );
    assert!(peak > 0, "VmHWM was never read");
    eprintln!("drover's VmHWM carrying 1 GiB in {pieces} pieces: {peak} KiB");
    assert!(
        peak < HWM_BOUND_KIB,
        "drover's VmHWM reached {peak} KiB carrying 1 GiB"
    );
    assert_none_left(&dir, &[pid], "the child");
}

/// Bytes queued in the pipe `read_end` reads from.
fn pipe_queued(read_end: &std::fs::File) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    let r = unsafe { libc::ioctl(read_end.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(r, 0, "FIONREAD: {}", std::io::Error::last_os_error());
    n as usize
}

/// Capacity of the pipe behind `fd`.
fn pipe_capacity(fd: &std::fs::File) -> usize {
    // SAFETY: F_GETPIPE_SZ takes no argument.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETPIPE_SZ) };
    assert!(r > 0, "F_GETPIPE_SZ: {}", std::io::Error::last_os_error());
    r as usize
}

#[test]
fn a_full_stdout_nobody_reads_does_not_keep_drover_from_exiting() {
    let dir = TestDir::new();
    dir.procfile(
        "flood: $T --flood --pidfile f.pid\n\
         stubborn: $T --ignore-term --stay --pidfile s.pid\n",
    );
    // The read end stays open and unread: writes block, they do not fail.
    let (read_end, write_end) = pipe();
    let run = dir
        .drover(&["--no-timestamp", "--color", "never", "-t", "2"])
        .spawn_with_stdout_to(Stdio::from(write_end));
    let flood = dir.pids("f.pid")[0];
    let stubborn = dir.pids("s.pid")[0];
    // Full for drover: a write of up to PIPE_BUF bytes is all or nothing,
    // so a pipe with less room than that takes no more of its batches.
    wait_until("drover's stdout pipe to be full", || {
        pipe_queued(&read_end) + libc::PIPE_BUF > pipe_capacity(&read_end)
    });

    run.signal(libc::SIGTERM);
    // A hang detector: the timeout (2 s) and the stall limit (3 s) are
    // drover's; the bound only catches a drover that never exits.
    let Finished { status, stderr, .. } = run.finish_within(Duration::from_secs(30));
    // stubborn needed SIGKILL.
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let unwritten: u64 = stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("drover: ")?
                .split_once(" bytes of output could not be written")?
                .0
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("stderr does not say what was not written:\n{stderr}"));
    assert!(unwritten > 0, "{stderr}");
    assert_none_left(&dir, &[flood, stubborn], "the children");
    drop(read_end);
}
