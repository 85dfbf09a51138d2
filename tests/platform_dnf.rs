//! The dnf backend (src/platform/dnf.rs) through the real binary on the
//! `rhel` platform test host of tests/fleet (`fleet.sh up-platforms`):
//! Debian underneath, with Debian's dnf 4.14 and rpm, an os-release of Rocky
//! 9, its `local` rpm-md repository (halite-hello 1.0) and
//! /srv/repo-updates (1.1) not configured; no versionlock plugin. What it
//! proves: halite picks dnf from the host's grains and drives dnf and rpm
//! as a RHEL host has them, test=True predicts what apply does, a converged
//! run is one execution. What it does not: that a real RHEL's dnf (its
//! plugins, subscription-manager, modules) answers the same.
//!
//! The host is the fleet's `rhel` platform host (`Fleet::get_platforms`).

mod harness;

use harness::{apply_sls, only_state as only, run_json as run, Fleet, Workspace};
use serde_json::{json, Value};

const HOST: &str = "rhel";

/// `HOST state.apply SLS [test=True]`.
fn apply(ws: &Workspace, sls: &str, test: bool) -> (i32, Value) {
    apply_sls(ws, HOST, sls, test)
}

const RESET: &str = "rpm -e halite-hello >/dev/null 2>&1; \
    rm -f /etc/yum.repos.d/updates.repo /run/halite-dnf-refreshed; true";

#[test]
fn pkg_functions_and_states_drive_dnf() {
    let fleet = Fleet::get_platforms();
    let _serial = fleet.serial();
    fleet.podman_exec_ok(HOST, RESET);
    let ws = fleet.workspace();

    // Execution functions, the backend from the pkg_manager grain.
    let (code, v) = run(&ws, &[HOST, "pkg.install", "halite-hello"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["results"][HOST]["ret"],
        json!({"halite-hello": {"old": "", "new": "1.0-1"}})
    );
    let (_, v) = run(&ws, &[HOST, "pkg.version", "halite-hello"]);
    assert_eq!(v["results"][HOST]["ret"], "1.0-1", "{v}");

    // pkgrepo writes the .repo file and fetches the repository's metadata.
    ws.write(
        "states/repo.sls",
        "updates:\n  pkgrepo.managed:\n    - humanname: halite updates\n    - baseurl: file:///srv/repo-updates\n    - gpgcheck: False\n",
    );
    let (code, h) = apply(&ws, "repo", true);
    assert_eq!(code, 0, "{h}");
    assert_eq!(only(&h).0, Value::Null, "{h}");
    let (code, h) = apply(&ws, "repo", false);
    assert_eq!(code, 0, "{h}");
    assert_eq!(only(&h).1, json!({"repo": "updates"}), "{h}");
    let repo = fleet.podman_exec_ok(HOST, "cat /etc/yum.repos.d/updates.repo");
    assert!(
        repo.contains("baseurl=file:///srv/repo-updates\ngpgcheck=0\nenabled=1"),
        "{repo}"
    );

    // pkg.latest: test=True predicts the apply, which then converges in
    // one execution, and test=True agrees that nothing is left.
    ws.write("states/latest.sls", "halite-hello:\n  pkg.latest: []\n");
    let (_, predicted) = apply(&ws, "latest", true);
    let (_, applied) = apply(&ws, "latest", false);
    let want = json!({"halite-hello": {"old": "1.0-1", "new": "1.1-1"}});
    assert_eq!(only(&predicted).1, want, "{predicted}");
    assert_eq!(only(&applied).0, json!(true), "{applied}");
    assert_eq!(only(&applied).1, want, "{applied}");
    let (code, again) = apply(&ws, "latest", false);
    assert_eq!(code, 0, "{again}");
    assert_eq!(only(&again).1, json!({}), "{again}");
    assert_eq!(
        again["executions"], 1,
        "a converged run is one execution: {again}"
    );
    let (_, check) = apply(&ws, "latest", true);
    assert_eq!(only(&check).0, json!(true), "{check}");

    // No versionlock plugin on this host: hold is a clear error, in
    // test=True too, and nothing runs.
    ws.write(
        "states/hold.sls",
        "halite-hello:\n  pkg.installed:\n    - hold: True\n",
    );
    for test in [true, false] {
        let (_, h) = apply(&ws, "hold", test);
        let (result, _, comment) = only(&h);
        assert_eq!(result, json!(false), "{h}");
        assert!(comment.contains("versionlock plugin"), "{h}");
    }

    // Removal and pkgrepo.absent put the host back.
    ws.write(
        "states/clean.sls",
        "halite-hello:\n  pkg.removed: []\nupdates:\n  pkgrepo.absent: []\n",
    );
    let (code, h) = apply(&ws, "clean", false);
    assert_eq!(code, 0, "{h}");
    let (_, h) = apply(&ws, "clean", false);
    assert_eq!(h["executions"], 1, "{h}");
    assert_ne!(fleet.podman_exec(HOST, "rpm -q halite-hello").code, Some(0));
    fleet.podman_exec_ok(HOST, RESET);
}
