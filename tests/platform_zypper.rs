//! The zypper backend (src/platform/zypper.rs) through the real binary on
//! the `suse` platform test host of tests/fleet (`fleet.sh up-platforms`):
//! Debian underneath, with Debian's zypper 1.14 and rpm, an os-release of
//! openSUSE Leap 15.5, its `local` repository (halite-hello 1.0) and
//! /srv/repo-updates (1.1) not configured. What it proves: halite picks
//! zypper from the host's grains and drives zypper and rpm as a SUSE host
//! has them (repositories through `zypper ar/rr`, holds through `addlock`),
//! test=True predicts what apply does, a converged run is one execution.
//! What it does not: that a real SUSE's zypper (its services, signed
//! repositories, patterns, `/usr/lib/sysimage/rpm`) answers the same.
//!
//! The host is the fleet's `suse` platform host (`Fleet::get_platforms`).

mod harness;

use harness::{apply_sls, only_state as only, run_json as run, Fleet, Workspace};
use serde_json::{json, Value};

const HOST: &str = "suse";

/// `HOST state.apply SLS [test=True]`.
fn apply(ws: &Workspace, sls: &str, test: bool) -> (i32, Value) {
    apply_sls(ws, HOST, sls, test)
}

const RESET: &str = "zypper -q removelock halite-hello >/dev/null 2>&1; \
    rpm -e halite-hello >/dev/null 2>&1; zypper -q rr updates >/dev/null 2>&1; \
    rm -f /run/halite-zypper-refreshed; true";

#[test]
fn pkg_functions_and_states_drive_zypper() {
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

    // pkgrepo adds the repository with zypper and fetches its metadata;
    // a second run finds it as zypper wrote it (file:/ URL, flags).
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
    let repo = fleet.podman_exec_ok(HOST, "cat /etc/zypp/repos.d/updates.repo");
    assert!(repo.contains("name=halite updates\n"), "{repo}");
    assert!(repo.contains("baseurl=file:/srv/repo-updates\n"), "{repo}");
    assert!(repo.contains("gpgcheck=0"), "{repo}");
    let (_, h) = apply(&ws, "repo", false);
    assert_eq!(only(&h).1, json!({}), "{h}");
    assert_eq!(h["executions"], 1, "{h}");

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

    // A pinned lower version in a pkgs list downgrades (--oldpackage).
    ws.write(
        "states/pin.sls",
        "pinned:\n  pkg.installed:\n    - pkgs:\n      - halite-hello: '1.0'\n",
    );
    let (_, predicted) = apply(&ws, "pin", true);
    let (_, applied) = apply(&ws, "pin", false);
    let want = json!({"halite-hello": {"old": "1.1-1", "new": "1.0-1"}});
    assert_eq!(only(&applied).0, json!(true), "{applied}");
    assert_eq!(only(&applied).1, want, "{applied}");
    assert_eq!(only(&predicted).0, Value::Null, "{predicted}");
    // Salt's test=True names the version asked for.
    assert_eq!(
        only(&predicted).1,
        json!({"halite-hello": {"old": "1.1-1", "new": "1.0"}}),
        "{predicted}"
    );
    let (_, again) = apply(&ws, "pin", false);
    assert_eq!(only(&again).1, json!({}), "{again}");
    assert_eq!(again["executions"], 1, "{again}");

    // hold through zypper's locks: test=True predicts, apply locks, the
    // converged run is one execution, and releasing unlocks.
    ws.write(
        "states/hold.sls",
        "halite-hello:\n  pkg.installed:\n    - hold: True\n",
    );
    let (_, predicted) = apply(&ws, "hold", true);
    let (_, applied) = apply(&ws, "hold", false);
    assert_eq!(only(&applied).0, json!(true), "{applied}");
    assert_ne!(only(&applied).1, json!({}), "{applied}");
    assert_eq!(only(&predicted).1, only(&applied).1, "{predicted}");
    let locks = fleet.podman_exec_ok(HOST, "cat /etc/zypp/locks");
    assert!(locks.contains("solvable_name: halite-hello"), "{locks}");
    let (_, again) = apply(&ws, "hold", false);
    assert_eq!(only(&again).1, json!({}), "{again}");
    assert_eq!(again["executions"], 1, "{again}");
    ws.write(
        "states/unhold.sls",
        "halite-hello:\n  pkg.installed:\n    - hold: False\n",
    );
    let (_, released) = apply(&ws, "unhold", false);
    assert_eq!(only(&released).0, json!(true), "{released}");
    let locks = fleet.podman_exec_ok(HOST, "cat /etc/zypp/locks 2>/dev/null; true");
    assert!(!locks.contains("halite-hello"), "{locks}");

    // Execution functions on the new repository.
    let (_, v) = run(&ws, &[HOST, "pkg.latest_version", "halite-hello"]);
    assert_eq!(v["results"][HOST]["ret"], "1.1-1", "{v}");
    let (code, v) = run(&ws, &[HOST, "pkg.refresh_db"]);
    assert_eq!(code, 0, "{v}");
    // Salt keys zypper's refresh by the repositories' names, as printed.
    assert_eq!(
        v["results"][HOST]["ret"],
        json!({"local": true, "halite updates": true}),
        "{v}"
    );
    let (_, v) = run(&ws, &[HOST, "pkg.list_upgrades"]);
    assert_eq!(v["results"][HOST]["ret"]["halite-hello"], "1.1-1", "{v}");

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
    assert_ne!(
        fleet
            .podman_exec(HOST, "test -e /etc/zypp/repos.d/updates.repo")
            .code,
        Some(0)
    );
    fleet.podman_exec_ok(HOST, RESET);
}
