//! The OpenRC and sysvinit service backends (src/platform/openrc.rs,
//! src/platform/sysvinit.rs) through the real init systems of the fleet's
//! `openrc` host (openrc-init as PID 1, Debian's OpenRC 0.45) and `sysv`
//! host (sysvinit-core's init as PID 1, insserv, update-rc.d), with a test
//! service halite-sleep (a sleep; tests/compat/platform/halite-sleep.*)
//! installed here. What it proves: halite picks the backend from the `init`
//! grain, the service.* execution functions and states start, stop, enable,
//! disable and reload through rc-service/rc-update and service/update-rc.d,
//! a watch restarts (or reloads), test=True predicts what apply does and a
//! converged run is one execution. What it does not: that Alpine's or
//! Gentoo's OpenRC (busybox, other runlevels) or a RHEL 6 chkconfig host
//! answers the same; both hosts are Debian 12 underneath.
//!
//! The hosts are the fleet's platform hosts (`Fleet::get_platforms`).

mod harness;

use harness::{apply_sls as apply, run_json as run, state_by_id as state, Fleet, Workspace};
use serde_json::{json, Value};

const SVC: &str = "halite-sleep";

/// `HOST FUNCTION ARGS...`'s return on that host.
fn call(ws: &Workspace, host: &str, args: &[&str]) -> Value {
    let mut a = vec![host];
    a.extend_from_slice(args);
    let (_, v) = run(ws, &a);
    v["results"][host]["ret"].clone()
}

/// Install the test service, stopped and in no runlevel.
fn install(fleet: &Fleet, host: &str) {
    let (script, reset) = match host {
        "openrc" => (
            include_str!("compat/platform/halite-sleep.openrc"),
            "rc-service halite-sleep stop >/dev/null 2>&1; rm -f /etc/runlevels/*/halite-sleep",
        ),
        _ => (
            include_str!("compat/platform/halite-sleep.sysv"),
            "service halite-sleep stop >/dev/null 2>&1; update-rc.d -f halite-sleep remove >/dev/null 2>&1",
        ),
    };
    fleet.podman_exec_ok(
        host,
        &format!(
            "cat >/etc/init.d/{SVC} <<'EOF_SVC'\n{script}EOF_SVC\nchmod +x /etc/init.d/{SVC}\n{reset}\nrm -f /run/halite-sleep.reloads /etc/halite-sleep.conf; true"
        ),
    );
}

fn pid(fleet: &Fleet, host: &str) -> String {
    fleet
        .podman_exec(host, "cat /run/halite-sleep.pid")
        .stdout
        .trim()
        .to_string()
}

fn functions(fleet: &Fleet, ws: &Workspace, host: &str) {
    let yes = json!(true);
    let no = json!(false);
    assert_eq!(call(ws, host, &["service.available", SVC]), yes, "{host}");
    assert_eq!(
        call(ws, host, &["service.missing", "nosuch"]),
        yes,
        "{host}"
    );
    assert_eq!(call(ws, host, &["service.status", SVC]), no, "{host}");
    assert_eq!(call(ws, host, &["service.start", SVC]), yes, "{host}");
    assert_eq!(call(ws, host, &["service.status", SVC]), yes, "{host}");
    assert_eq!(call(ws, host, &["service.enabled", SVC]), no, "{host}");
    assert_eq!(call(ws, host, &["service.enable", SVC]), yes, "{host}");
    assert_eq!(call(ws, host, &["service.enabled", SVC]), yes, "{host}");
    assert_eq!(call(ws, host, &["service.disabled", SVC]), no, "{host}");
    assert_eq!(call(ws, host, &["service.reload", SVC]), yes, "{host}");
    assert_eq!(
        fleet.podman_exec_ok(host, "cat /run/halite-sleep.reloads"),
        "reload\n"
    );
    assert_eq!(call(ws, host, &["service.restart", SVC]), yes, "{host}");
    let all = call(ws, host, &["service.get_all"]);
    assert!(all.as_array().unwrap().contains(&json!(SVC)), "{all}");
    assert_eq!(call(ws, host, &["service.disable", SVC]), yes, "{host}");
    assert_eq!(call(ws, host, &["service.enabled", SVC]), no, "{host}");
    assert_eq!(call(ws, host, &["service.stop", SVC]), yes, "{host}");
    assert_eq!(call(ws, host, &["service.status", SVC]), no, "{host}");
    assert_eq!(call(ws, host, &["service.status", "nosuch"]), no, "{host}");
    let (code, v) = run(ws, &[host, "service.start", "nosuch"]);
    assert_ne!(code, 0, "{v}");
}

/// test=True predicts, apply does it, the second apply changes nothing in
/// one execution, and test=True then agrees.
fn converge(ws: &Workspace, host: &str, sls: &str, want: Value, comment: &str) {
    let (_, predicted) = apply(ws, host, sls, true);
    assert_eq!(state(&predicted, SVC).0, Value::Null, "{predicted}");
    assert_eq!(state(&predicted, SVC).1, want, "{predicted}");
    let (code, applied) = apply(ws, host, sls, false);
    assert_eq!(code, 0, "{applied}");
    let (result, changes, c) = state(&applied, SVC);
    assert_eq!((result, changes), (json!(true), want), "{applied}");
    assert_eq!(c, comment, "{applied}");
    let (code, again) = apply(ws, host, sls, false);
    assert_eq!(code, 0, "{again}");
    assert_eq!(state(&again, SVC).1, json!({}), "{again}");
    assert_eq!(
        again["executions"], 1,
        "converged is one execution: {again}"
    );
    let (_, check) = apply(ws, host, sls, true);
    assert_eq!(state(&check, SVC).0, json!(true), "{check}");
}

fn states(fleet: &Fleet, ws: &Workspace, host: &str) {
    let changed = json!({ SVC: true });
    ws.write(
        "states/up.sls",
        &format!("{SVC}:\n  service.running:\n    - enable: True\n"),
    );
    converge(
        ws,
        host,
        "up",
        changed.clone(),
        &format!("Service {SVC} has been enabled, and is running"),
    );
    assert_eq!(call(ws, host, &["service.enabled", SVC]), json!(true));

    // A watched file's change restarts the running service (a new pid).
    for (contents, reload) in [("a", false), ("b", false), ("c", true)] {
        ws.write(
            "states/watch.sls",
            &format!(
                "conf:\n  file.managed:\n    - name: /etc/halite-sleep.conf\n    - contents: {contents}\n\
                 {SVC}:\n  service.running:\n    - reload: {reload}\n    - watch:\n      - file: conf\n"
            ),
        );
        let before = pid(fleet, host);
        let (code, h) = apply(ws, host, "watch", false);
        assert_eq!(code, 0, "{h}");
        if contents == "b" {
            assert_ne!(pid(fleet, host), before, "restarted: {h}");
        }
        if reload {
            assert_eq!(pid(fleet, host), before, "reloaded, not restarted: {h}");
            let reloads = fleet.podman_exec_ok(host, "cat /run/halite-sleep.reloads");
            assert!(reloads.contains("reload"), "{h}");
        }
    }

    ws.write(
        "states/down.sls",
        &format!("{SVC}:\n  service.dead:\n    - enable: False\n"),
    );
    converge(
        ws,
        host,
        "down",
        changed.clone(),
        &format!("Service {SVC} has been disabled, and is dead"),
    );
    assert_eq!(call(ws, host, &["service.status", SVC]), json!(false));
    ws.write(
        "states/boot.sls",
        &format!("{SVC}:\n  service.enabled: []\n"),
    );
    converge(
        ws,
        host,
        "boot",
        changed.clone(),
        &format!("Service {SVC} has been enabled, and is in the desired state"),
    );
    ws.write(
        "states/noboot.sls",
        &format!("{SVC}:\n  service.disabled: []\n"),
    );
    converge(
        ws,
        host,
        "noboot",
        changed,
        &format!("Service {SVC} has been disabled, and is in the desired state"),
    );
}

fn services_on(host: &str) {
    let fleet = Fleet::get_platforms();
    let _serial = fleet.serial();
    install(fleet, host);
    let ws = fleet.workspace();
    let (_, v) = run(&ws, &[host, "grains.item", "init"]);
    assert_eq!(
        v["results"][host]["ret"]["init"],
        if host == "openrc" {
            "openrc"
        } else {
            "sysvinit"
        },
        "{v}"
    );
    functions(fleet, &ws, host);
    states(fleet, &ws, host);
    install(fleet, host);
}

#[test]
fn openrc_services() {
    services_on("openrc");
}

#[test]
fn sysvinit_services() {
    services_on("sysv");
}
