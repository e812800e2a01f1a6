//! What drover gives CI: the exit reports (`--report` Markdown, also
//! appended to `$GITHUB_STEP_SUMMARY`, and `--junit` XML read back by a
//! real JUnit consumer, `junitparser` from PyPI).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

/// Stays until stopped; its pid file appears once its handler is installed.
const STAYER: &str =
    "stayer: $T --tag s --lines 2 --len 20 --trap-term bye --stay --pidfile stayer.pid\n";

/// Writes 12 numbered lines, then exits 3, once the stayer is up.
const QUITTER: &str = "crash: $T --tag c --lines 12 --len 30 --wait-file stayer.pid --exit 3\n";

/// The Python of the test venv, which must hold `junitparser`
/// (`scripts/test` installs it into `target/test-venv`).
fn venv_python() -> PathBuf {
    let venv = std::env::var_os("DROVER_TEST_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import junitparser"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{} cannot import junitparser: run scripts/test, or pip install junitparser into that venv",
        python.display()
    );
    python
}

/// The JUnit file as junitparser reads it: one line per testcase,
/// `name|result|message|failure text|system-out`, after a line with the
/// suite's counts.
fn read_junit(path: &Path) -> Vec<String> {
    const SCRIPT: &str = r#"
import sys
from junitparser import JUnitXml, Failure
xml = JUnitXml.fromfile(sys.argv[1])
suites = list(xml)
assert len(suites) == 1, suites
suite = suites[0]
print(f"suite {suite.name} tests={suite.tests} failures={suite.failures}")
for case in suite:
    failures = [r for r in case.result if isinstance(r, Failure)]
    result = "failed" if failures else "passed"
    message = failures[0].message if failures else ""
    text = (failures[0].text or "") if failures else ""
    out = case.system_out or ""
    print("|".join([case.name, result, message, text.replace("\n", "\\n"), out.replace("\n", "\\n")]))
"#;
    let out = Command::new(venv_python())
        .args(["-c", SCRIPT])
        .arg(path)
        .output()
        .expect("running python");
    assert!(
        out.status.success(),
        "junitparser could not read {}:\n{}\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(path).unwrap_or_default()
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn crash_lines(from: u64, to: u64) -> String {
    (from..=to)
        .map(|seq| String::from_utf8(expected_line("c", seq, 30)).expect("ASCII"))
        .collect::<Vec<_>>()
        .join("\\n")
}

#[test]
fn junit_and_markdown_reports_name_the_failure() {
    let dir = TestDir::new();
    dir.procfile(&format!("{QUITTER}{STAYER}"));
    let summary = dir.join("step-summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let f = dir
        .drover(&[PLAIN, &["--report", "report.md", "--junit", "junit.xml"]].concat())
        .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())
        .run();
    f.assert_code(3);
    f.assert_clean_stderr();

    let cases = read_junit(&dir.join("junit.xml"));
    assert_eq!(cases[0], "suite drover tests=2 failures=1", "{cases:#?}");
    let crash: Vec<&str> = cases[1].split('|').collect();
    assert_eq!(
        &crash[..3],
        ["crash.1", "failed", "crash.1 exited with code 3"]
    );
    assert_eq!(
        crash[3],
        format!("{}\\n", crash_lines(3, 12)),
        "the last ten lines"
    );
    assert_eq!(
        crash[4],
        format!("{}\\n", crash_lines(1, 12)),
        "recent output"
    );
    let stayer: Vec<&str> = cases[2].split('|').collect();
    assert_eq!(&stayer[..4], ["stayer.1", "passed", "", ""], "{cases:#?}");
    assert!(stayer[4].contains("bye TERM"), "{cases:#?}");

    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("| `crash.1` | exited with code 3 | 0 |") && md.contains("**FAILED** |"),
        "{md}"
    );
    assert!(md.contains("| `stayer.1` | exited with code 0 |"), "{md}");
    let fenced = format!(
        "### Last 10 lines of `crash.1`\n\n```text\n{}\n```\n",
        crash_lines(3, 12).replace("\\n", "\n")
    );
    assert!(md.contains(&fenced), "{md}");
    assert_eq!(
        std::fs::read_to_string(&summary).unwrap(),
        format!("earlier step\n{md}"),
        "the same report, appended"
    );
}

#[test]
fn reports_are_written_after_ctrl_c() {
    let dir = TestDir::new();
    dir.procfile(STAYER);
    let run = dir
        .drover(&[PLAIN, &["--report", "report.md", "--junit", "junit.xml"]].concat())
        .spawn();
    dir.pids("stayer.pid");
    run.signal(libc::SIGINT);
    let f = run.finish();
    f.assert_code(0);
    let cases = read_junit(&dir.join("junit.xml"));
    assert_eq!(cases[0], "suite drover tests=1 failures=0", "{cases:#?}");
    assert!(cases[1].starts_with("stayer.1|passed|||"), "{cases:#?}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("No process failed."), "{md}");
}
