//! Fleet tests of the drift ledger through the real binary (issue 6): what
//! the states no longer declare is reported as an orphan, `prune=True`
//! removes what halite created and releases what it found, a corrupt
//! ledger fails the host with nothing applied, an interrupted apply leaves
//! a ledger matching the host, and `state.drift` reports without changing
//! anything. Host: node2 (names prefixed `hdrift` so nothing collides with
//! tests/modules_pkg_service.rs there).

mod harness;

use harness::{Fleet, Workspace};
use serde_json::Value;

const NODE: &str = "node2";

fn run(ws: &Workspace, args: &[&str]) -> (i32, Value) {
    let (out, v) = ws.halite_json(args);
    (out.code.unwrap_or(-1), v)
}

fn ret(v: &Value) -> &Value {
    &v["results"][NODE]["ret"]
}

/// Names of the drift report's `key` list (`orphans`, `gone`...).
fn drift(v: &Value, key: &str) -> Vec<String> {
    v["results"][NODE]["drift"][key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    format!(
                        "{} {}",
                        e["kind"].as_str().unwrap(),
                        e["name"].as_str().unwrap()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn changed(v: &Value) -> Vec<String> {
    ret(v)
        .as_object()
        .unwrap_or_else(|| panic!("no state results: {v}"))
        .iter()
        .filter(|(k, _)| k.contains("_|-"))
        .filter(|(_, s)| s["changes"].as_object().is_some_and(|c| !c.is_empty()))
        .map(|(_, s)| s["__id__"].as_str().unwrap().to_string())
        .collect()
}

/// A fresh ledger on node2 and a workspace whose top gives node2 `drift`.
fn setup(fleet: &'static Fleet, cleanup: &str) -> Workspace {
    fleet.podman_exec_ok(NODE, &format!("rm -rf /var/lib/halite; {cleanup}; true"));
    let ws = fleet.workspace();
    ws.write("states/top.sls", "base:\n  node2:\n    - drift\n");
    ws
}

fn ledger(fleet: &Fleet) -> String {
    fleet.podman_exec_ok(
        NODE,
        "cat /var/lib/halite/ledger /var/lib/halite/ledger.journal 2>/dev/null; true",
    )
}

#[test]
fn a_user_dropped_from_the_states_is_an_orphan_and_prune_removes_it() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    let ws = setup(
        fleet,
        "userdel hdrift-foo 2>/dev/null; userdel hdrift-bar 2>/dev/null",
    );
    ws.write("states/drift.sls", "hdrift-foo:\n  user.present: []\n");
    let (code, first) = run(&ws, &[NODE, "state.apply"]);
    assert_eq!(code, 0, "{first}");
    assert_eq!(changed(&first), ["hdrift-foo"]);
    let l = ledger(fleet);
    assert!(l.contains("user\thdrift-foo\thdrift-foo\tdrift"), "{l}");
    assert!(l.contains("created"), "{l}");
    let perms = fleet.podman_exec_ok(
        NODE,
        "stat -c '%a %U' /var/lib/halite /var/lib/halite/ledger.journal",
    );
    assert_eq!(perms.trim(), "700 root\n600 root");

    // The states now declare bar instead: foo is reported, not removed.
    ws.write("states/drift.sls", "hdrift-bar:\n  user.present: []\n");
    let (code, second) = run(&ws, &[NODE, "state.apply"]);
    assert_eq!(code, 0, "orphans do not change the exit code: {second}");
    assert_eq!(changed(&second), ["hdrift-bar"]);
    assert_eq!(drift(&second, "orphans"), ["user hdrift-foo"], "{second}");
    fleet.podman_exec_ok(NODE, "getent passwd hdrift-foo");
    let human = ws.halite([NODE, "state.apply", "test=True"]);
    assert!(
        human.stdout.contains("Orphans") && human.stdout.contains("user hdrift-foo"),
        "{}",
        human.stdout
    );

    // A converged run with everything ledgered is still one execution.
    let (_, again) = run(&ws, &[NODE, "state.apply"]);
    assert!(changed(&again).is_empty(), "{again}");
    assert_eq!(
        again["results"][NODE]["executions"].as_u64(),
        Some(1),
        "{again}"
    );
}
