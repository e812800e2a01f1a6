//! The spawner against real programs.

use super::*;
use std::io::Read as _;

fn output(mut cmd: Command) -> (String, i32) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    let child = cmd.spawn().unwrap();
    let mut out = String::new();
    std::fs::File::from(child.stdout.unwrap())
        .read_to_string(&mut out)
        .unwrap();
    let mut status = 0;
    // SAFETY: waitpid on our own child.
    unsafe { libc::waitpid(child.pid as i32, &mut status, 0) };
    (out, libc::WEXITSTATUS(status))
}

#[test]
fn runs_a_program_from_path_with_args_env_and_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo \"$A $0 $(pwd)\"; exit 3", "zero"])
        .env("A", "a-value")
        .current_dir(dir.path());
    let (out, status) = output(cmd);
    let cwd = dir.path().canonicalize().unwrap();
    assert_eq!(out, format!("a-value zero {}\n", cwd.display()));
    assert_eq!(status, 3);
}

#[test]
fn a_removed_variable_is_gone_and_path_comes_from_the_child_env() {
    let mut cmd = Command::new("env");
    cmd.env_remove("HOME")
        .env("PATH", "/nonexistent:/usr/bin:/bin");
    let (out, _) = output(cmd);
    assert!(!out.lines().any(|l| l.starts_with("HOME=")), "{out}");
    assert!(out.lines().any(|l| l == "PATH=/nonexistent:/usr/bin:/bin"));
}

#[test]
fn a_missing_program_is_enoent_and_a_failed_step_its_errno() {
    let err = Command::new("drover-no-such-program-here")
        .spawn()
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    let mut cmd = Command::new("true");
    // SAFETY: returns a raw errno and does nothing else.
    unsafe {
        cmd.pre_exec(|| Err(io::Error::from_raw_os_error(libc::ESRCH)));
    }
    assert_eq!(cmd.spawn().unwrap_err().raw_os_error(), Some(libc::ESRCH));
}

#[test]
fn a_script_without_an_interpreter_line_runs_with_sh() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script");
    std::fs::write(&script, "echo from-sh \"$1\"\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut cmd = Command::new(&script);
    cmd.arg("x");
    assert_eq!(output(cmd).0, "from-sh x\n");
}

#[test]
fn the_child_leads_its_own_group_when_asked() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "ps -o pgid= -p $$; echo $$"])
        .process_group(0);
    let (out, _) = output(cmd);
    let nums: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(nums[0], nums[1], "{out}");
}

#[test]
fn listen_pid_is_the_childs_own_pid() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo \"$LISTEN_PID $$\""])
        .env("LISTEN_PID", "1")
        .listen_pid();
    let (out, _) = output(cmd);
    let nums: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(nums.len(), 2, "{out}");
    assert_eq!(nums[0], nums[1], "{out}");
}
