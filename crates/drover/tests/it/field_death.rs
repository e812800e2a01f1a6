//! drover's own death: after a `kill -9` of drover, nothing of the app
//! survives — not its children, not what they forked (in their group, or
//! escaped with setsid or a double fork, or behind a shell), not a child
//! that changed its credentials (which clears `PR_SET_PDEATHSIG`), not the
//! cgroups. The keeper does it; when the keeper was killed too, the next
//! `drover start` in the folder does it and says so.

use std::process::Command;

use crate::util::*;

/// The app of these tests: a child, its grandchild in its group, a detached
/// (setsid) grandchild, a shell with the program as its child, and (as
/// root, with setpriv) a child that becomes another user.
fn app(dir: &TestDir) -> bool {
    let nobody =
        unsafe { libc::getuid() } == 0 && Command::new("setpriv").arg("--version").output().is_ok();
    let shared = dir.join("shared");
    std::fs::create_dir(&shared).expect("mkdir shared");
    std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod shared");
    let mut procfile = String::from(
        "a: $T --fork-sleep 300 --marker up --stay --pidfile a.pid\n\
         d: $T --fork-detached 300 --marker up --stay --pidfile d.pid\n\
         w: sh -c '$T --marker up --stay --pidfile w.pid; echo after'\n",
    );
    if nobody {
        procfile.push_str(
            "n: setpriv --reuid=65534 --regid=65534 --clear-groups $T --fork-sleep 300 --marker up --stay --pidfile shared/n.pid\n",
        );
    } else {
        println!("skipping the credential-changing child: not root, or no setpriv");
    }
    dir.procfile(&procfile);
    nobody
}

fn app_pids(dir: &TestDir, nobody: bool) -> Vec<i32> {
    let mut pids = Vec::new();
    for file in ["a.pid", "d.pid", "w.pid"] {
        pids.extend(dir.pids(file));
    }
    if nobody {
        pids.extend(dir.pids("shared/n.pid"));
    }
    pids
}

/// The keeper: drover's child in a process group of its own, running
/// `drover-keeper` (or, from a drover without it, drover's own program).
fn keeper_of(drover: i32) -> i32 {
    let me = command_of(drover);
    let is_keeper = |command: String| {
        command == me
            || command
                .split(' ')
                .next()
                .is_some_and(|p| p.ends_with("/drover-keeper"))
    };
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .find(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let f: Vec<&str> = rest.split_whitespace().collect();
            f.get(1) == Some(&drover.to_string().as_str())
                && f.get(2) == Some(&pid.to_string().as_str())
                && is_keeper(command_of(*pid))
        })
        .expect("drover has a keeper")
}

fn kill_drover_with_the_app_running(args: &[&str]) {
    kill_drover_with_the_app_running_as(args, false);
}

/// As above; with `solo`, a copy of `drover` alone in a folder runs:
/// without `drover-keeper` beside it, drover forks its keeper.
fn kill_drover_with_the_app_running_as(args: &[&str], solo: bool) {
    let dir = TestDir::new();
    let nobody = app(&dir);
    let launch = dir.drover(args);
    let launch = if solo {
        std::fs::create_dir_all(dir.join("solo")).unwrap();
        let copy = dir.join("solo/drover");
        // A hard link: a copy's descriptor, open for writing while another
        // test forks, could make its exec fail with ETXTBSY.
        if std::fs::hard_link(DROVER, &copy).is_err() {
            std::fs::copy(DROVER, &copy).expect("copying drover");
        }
        launch.program(&copy)
    } else {
        launch
    };
    let mut run = launch.spawn();
    wait_for_control(&dir, &mut run);
    let keeper = command_of(keeper_of(run.pid()));
    assert_eq!(
        keeper.ends_with("drover-keeper") || keeper.contains("/drover-keeper "),
        !solo,
        "the keeper's program: {keeper}"
    );
    wait_for_nth(&run, "| up", if nobody { 4 } else { 3 });
    let pids = app_pids(&dir, nobody);
    assert!(pids.len() >= if nobody { 7 } else { 5 }, "{pids:?}");
    let rows = ps(&dir);
    let shell = pid_of(&rows, "w.1");

    run.signal(libc::SIGKILL);
    let status = run.wait_exit();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    let mut all = pids.clone();
    all.push(shell);
    assert_none_left(&dir, &all, "the app after drover's SIGKILL");
    wait_until("the keeper's report on stderr", || {
        run.stderr_so_far()
            .contains("ended without stopping its processes; its keeper killed")
    });

    // The next start finds nothing left over.
    dir.procfile("x: $T --marker fine --exit 0\n");
    let next = dir.drover(PLAIN).run();
    next.assert_code(0);
    assert!(!next.text().contains("left"), "{}", next.text());
}

#[test]
fn after_drover_is_sigkilled_nothing_of_the_app_survives() {
    kill_drover_with_the_app_running(PLAIN);
}

#[test]
fn a_drover_without_its_keeper_program_forks_the_keeper_and_nothing_survives() {
    kill_drover_with_the_app_running_as(PLAIN, true);
}

#[test]
fn after_drover_is_sigkilled_nothing_survives_with_cgroups_either() {
    kill_drover_with_the_app_running(&["--no-timestamp", "--color", "never", "--cgroup"]);
}

/// drover and its keeper both SIGKILLed: the direct children die with
/// drover (the death signal), what they forked is stopped by the next
/// `drover start` in the folder, which says so.
#[test]
fn what_a_drover_killed_with_its_keeper_left_is_stopped_by_the_next_start() {
    let dir = TestDir::new();
    dir.procfile("a: $T --fork-detached 300 --marker up --stay --pidfile a.pid\n");
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    run.wait_for_output("up");
    let pids = dir.pids("a.pid");
    assert_eq!(pids.len(), 2, "{pids:?}");
    let grandchild = pids[1];
    let keeper = keeper_of(run.pid());
    signal(keeper, libc::SIGKILL);
    run.signal(libc::SIGKILL);
    run.wait_exit();
    // The death signal froze the direct child (SIGSTOP, for the keeper that
    // is gone too), and the kernel sent its orphaned group SIGHUP: what
    // ignores SIGHUP and left the group runs on.
    assert!(
        alive(grandchild),
        "the detached grandchild outlived drover and its keeper"
    );

    dir.procfile("x: $T --marker fine --exit 0\n");
    let next = dir.drover(PLAIN).run();
    next.assert_code(0);
    let system = system_lines(&lines(&next));
    assert!(
        system.iter().any(|l| l.contains("a drover (pid ")
            && l.contains("that ended without stopping its processes left")
            && l.contains("a.1")),
        "{system:#?}"
    );
    assert_none_left(&dir, &pids[..1], "the child");
    assert_gone(grandchild, "the grandchild, stopped by the next start");
}
