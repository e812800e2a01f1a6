//! `--cgroup`: each process in a cgroup of its own, so that a descendant
//! that left the process group is stopped with its process, not only swept
//! up at the end. Where cgroups cannot be used, drover must say so and fall
//! back to process groups plus the subreaper sweep — both end with nothing
//! left running.

use crate::util::*;

#[test]
fn a_descendant_that_left_the_group_is_stopped_with_its_process() {
    let dir = TestDir::new();
    // The child ignores SIGTERM; its detached grandchild (`sleep`) does not.
    dir.procfile("d: $T --fork-detached 300 --pidfile d.pid --ignore-term --stay\nw: sleep 100\n");
    let run = dir
        .drover(&["--no-timestamp", "--color", "never", "-t", "1", "--cgroup"])
        .spawn();
    let drover = run.pid();
    // The pid file is written once, after the fork: the child, then the grandchild.
    let pids = dir.pids("d.pid");
    assert_eq!(pids.len(), 2, "{pids:?}");
    let (child, grandchild) = (pids[0], pids[1]);
    run.wait_for_output("detached");
    run.signal(libc::SIGINT);
    let f = run.finish();
    let out = String::from_utf8_lossy(&f.stdout).into_owned();
    assert_gone(child, "the child");
    assert_gone(grandchild, "the detached grandchild");
    // A requested stop that needed SIGKILL (for the child) exits 1.
    f.assert_code(1);
    if out.contains("--cgroup: cgroups cannot be used here") {
        // Fallback: the sweep of re-parented descendants found it at the end.
        assert!(out.contains("left its process group"), "{out}");
        return;
    }
    // With a cgroup, the grandchild went down with its process's ladder,
    // not in the sweep at the end.
    assert!(!out.contains("left its process group"), "{out}");
    assert!(out.contains("d.1 was killed by SIGKILL"), "{out}");
    // drover's cgroups are gone with it.
    let name = format!("drover-{drover}");
    let leftover = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            (right.split_whitespace().next()? == "cgroup2")
                .then(|| left.split_whitespace().nth(4).map(str::to_string))?
        })
        .flat_map(|mount| std::fs::read_dir(mount).into_iter().flatten().flatten())
        .filter(|e| e.file_name().to_string_lossy() == name)
        .count();
    assert_eq!(leftover, 0, "drover's cgroup folder {name} was removed");
}
