//! The pacman backend (src/platform/pacman.rs) through the real binary on
//! the `arch` platform test host of tests/fleet (`fleet.sh up-platforms`):
//! Debian underneath, with Debian's pacman 6.0, an os-release of Arch, its
//! `[halite]` repository (halite-hello 1.0); the test adds
//! `[halite-updates]` (1.1) above it in /etc/pacman.conf itself (pkgrepo
//! on pacman is not supported yet). What it proves: halite picks pacman
//! from the host's grains and drives it as Salt's pacman module does,
//! test=True predicts what apply does, a converged run is one execution.
//! What it does not: that a real Arch's pacman (hooks, keyrings, signed
//! repositories) answers the same.

mod harness;

use harness::{apply_sls, only_state as only, run_json as run, Fleet, Workspace};
use serde_json::{json, Value};

const HOST: &str = "arch";

/// `HOST state.apply SLS [test=True]`.
fn apply(ws: &Workspace, sls: &str, test: bool) -> (i32, Value) {
    apply_sls(ws, HOST, sls, test)
}

const RESET: &str = "pacman -R --noconfirm halite-hello >/dev/null 2>&1; \
    sed -i '/^\\[halite-updates\\]/,/^$/d' /etc/pacman.conf; \
    rm -f /run/halite-pacman-refreshed /var/lib/pacman/sync/halite-updates.db; pacman -Sy >/dev/null 2>&1; true";

const ADD_UPDATES: &str = "sed -i 's|^\\[halite\\]|[halite-updates]\\nSigLevel = Never\\nServer = file:///srv/repo-updates\\n\\n[halite]|' /etc/pacman.conf";

#[test]
fn pkg_functions_and_states_drive_pacman() {
    let fleet = Fleet::get_platforms();
    let _serial = fleet.serial();
    fleet.podman_exec_ok(HOST, RESET);
    let ws = fleet.workspace();

    let (code, v) = run(&ws, &[HOST, "pkg.install", "halite-hello"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["results"][HOST]["ret"],
        json!({"halite-hello": {"old": "", "new": "1.0-1"}})
    );
    let (_, v) = run(&ws, &[HOST, "pkg.version", "halite-hello"]);
    assert_eq!(v["results"][HOST]["ret"], "1.0-1", "{v}");

    // pkg.latest with refresh: as Salt's, it refreshes the databases before
    // it decides, so the new repository's 1.1 is the latest (the RESET took
    // its database away: only that refresh can know it).
    fleet.podman_exec_ok(HOST, ADD_UPDATES);
    ws.write(
        "states/latest.sls",
        "halite-hello:\n  pkg.latest:\n    - refresh: True\n",
    );
    let (_, applied) = apply(&ws, "latest", false);
    let want = json!({"halite-hello": {"old": "1.0-1", "new": "1.1-1"}});
    assert_eq!(only(&applied).0, json!(true), "{applied}");
    assert_eq!(only(&applied).1, want, "{applied}");
    ws.write("states/latest.sls", "halite-hello:\n  pkg.latest: []\n");
    let (code, again) = apply(&ws, "latest", false);
    assert_eq!(code, 0, "{again}");
    assert_eq!(only(&again).1, json!({}), "{again}");
    assert_eq!(
        again["executions"], 1,
        "a converged run is one execution: {again}"
    );
    let (_, check) = apply(&ws, "latest", true);
    assert_eq!(only(&check).0, json!(true), "{check}");

    // The execution functions read the refreshed databases.
    let (_, v) = run(&ws, &[HOST, "pkg.list_upgrades"]);
    assert_eq!(
        v["results"][HOST]["ret"],
        json!({"halite-drill": "1.1-1"}),
        "{v}"
    );
    let (_, v) = run(&ws, &[HOST, "pkg.latest_version", "halite-drill"]);
    assert_eq!(v["results"][HOST]["ret"], "1.1-1", "{v}");
    // Salt's reading of pacman 6's ` REPO downloading...` lines.
    let (code, v) = run(&ws, &[HOST, "pkg.refresh_db"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["results"][HOST]["ret"],
        json!({"downloading": true}),
        "{v}"
    );

    // A pinned version in a pkgs list (Salt's `name=version` target):
    // test=True predicts, apply installs it, the next run is converged.
    ws.write(
        "states/pin.sls",
        "pinned:\n  pkg.installed:\n    - pkgs:\n      - halite-drill: '1.1-1'\n",
    );
    let (_, predicted) = apply(&ws, "pin", true);
    let (_, applied) = apply(&ws, "pin", false);
    assert_eq!(only(&predicted).0, Value::Null, "{predicted}");
    assert_eq!(
        only(&predicted).1,
        json!({"halite-drill": {"old": "1.0-1", "new": "1.1-1"}}),
        "{predicted}"
    );
    assert_eq!(only(&applied).0, json!(true), "{applied}");
    assert_eq!(
        only(&applied).1,
        json!({"halite-drill": {"old": "1.0-1", "new": "1.1-1"}}),
        "{applied}"
    );
    let (_, again) = apply(&ws, "pin", false);
    assert_eq!(only(&again).1, json!({}), "{again}");
    assert_eq!(again["executions"], 1, "{again}");

    // No hold on pacman: a clear error, in test=True too.
    ws.write(
        "states/hold.sls",
        "halite-hello:\n  pkg.installed:\n    - hold: True\n",
    );
    for test in [true, false] {
        let (_, h) = apply(&ws, "hold", test);
        let (result, _, comment) = only(&h);
        assert_eq!(result, json!(false), "{h}");
        assert!(comment.contains("not supported on pacman"), "{h}");
    }

    // Removal; converged in one execution.
    ws.write("states/clean.sls", "halite-hello:\n  pkg.removed: []\n");
    let (code, h) = apply(&ws, "clean", false);
    assert_eq!(code, 0, "{h}");
    assert_eq!(
        only(&h).1,
        json!({"halite-hello": {"old": "1.1-1", "new": ""}}),
        "{h}"
    );
    let (_, h) = apply(&ws, "clean", false);
    assert_eq!(h["executions"], 1, "{h}");
    assert_ne!(
        fleet.podman_exec(HOST, "pacman -Q halite-hello").code,
        Some(0)
    );
    // Put halite-drill back to 1.0 (drill_initial) and the repositories.
    fleet.podman_exec_ok(
        HOST,
        "pacman -U --noconfirm /srv/repo/halite-drill-1.0-1-any.pkg.tar.gz >/dev/null 2>&1",
    );
    fleet.podman_exec_ok(HOST, RESET);
}
