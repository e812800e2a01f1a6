//! Terminals: `tty = true` (a pseudo-terminal per process), `--force-color`
//! and what `drover check` says of them.

use crate::util::*;

#[test]
fn check_shows_a_pty_and_forced_colors() {
    let dir = TestDir::new();
    dir.procfile("repl: python3 -i\nweb: serve\nlog: tail\n");
    dir.write(
        "drover.toml",
        "force_color = true\n[processes.repl]\ntty = true\n[processes.log]\nforce_color = false\n",
    );
    let out = client(&dir, &["check"]);
    let stdout = out.ok();
    assert!(
        stdout.contains(
            "  repl: repl.1 (port 5000)\n    command: python3 -i\n    stop: SIGTERM, then SIGKILL after 5s; restart: no\n    terminal: a pty of its own (one stream; drover attach types into it)\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "  web: web.1 (port 5100)\n    command: serve\n    stop: SIGTERM, then SIGKILL after 5s; restart: no\n    colors: asked for through pipes (FORCE_COLOR=1, CLICOLOR_FORCE=1 unless set)\n"
        ),
        "{stdout}"
    );
    let log = &stdout[stdout.find("  log:").expect("log is shown")..];
    assert!(
        !log.contains("colors:"),
        "log says force_color = false: {stdout}"
    );

    // The options win over drover.toml.
    let out = client(&dir, &["check", "--force-color"]);
    let stdout = out.ok();
    assert_eq!(
        stdout.matches("    colors: asked for").count(),
        2,
        "{stdout}"
    );
    let out = client(&dir, &["check", "--tty"]);
    let stdout = out.ok();
    assert_eq!(
        stdout.matches("    terminal: a pty of its own").count(),
        3,
        "{stdout}"
    );
    assert!(!stdout.contains("colors:"), "{stdout}");
}
