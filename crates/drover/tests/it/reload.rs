//! The edit loop against a real `drover start`: `autostart = false`,
//! `drover scale` and `drover reload`.

use crate::util::*;

const STAY: &str = "--trap-term bye --stay --pidfile $PS.pid";

#[test]
fn autostart_false_starts_on_restart_with_its_dependency() {
    let dir = TestDir::new();
    dir.procfile(&format!("web: $T {STAY}\ndb: $T {STAY}\napi: $T {STAY}\n"));
    dir.write(
        "drover.toml",
        "[processes.db]\nautostart = false\n\
         [processes.api]\nautostart = false\ndepends_on = [\"db\"]\n",
    );
    let mut run = dir.drover(PLAIN).spawn();
    wait_for_control(&dir, &mut run);
    let rows = ps(&dir);
    assert_eq!(row(&rows, "web.1")["state"], "running", "{rows:#?}");
    assert_eq!(row(&rows, "db.1")["state"], "stopped", "{rows:#?}");
    assert_eq!(row(&rows, "api.1")["state"], "stopped", "{rows:#?}");
    assert!(!run.exited(), "drover runs though db and api do not");

    assert_eq!(
        client(&dir, &["restart", "api"]).ok(),
        "restarting: api.1\n"
    );
    let rows = wait_for_ps(&dir, "api and db to run", |r| {
        row(r, "api.1")["state"] == "running" && row(r, "db.1")["state"] == "running"
    });
    let db = pid_of(&rows, "db.1");
    let api = pid_of(&rows, "api.1");
    assert!(alive(db) && alive(api));

    client(&dir, &["shutdown"]).ok();
    let f = run.finish();
    f.assert_code(0);
    assert_none_left(&dir, &[db, api], "after the shutdown");
}
