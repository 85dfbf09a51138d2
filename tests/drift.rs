//! Fleet tests of the drift ledger through the real binary (issue 6): what
//! the states no longer declare is reported as an orphan, `prune=True`
//! removes what halite created and releases what it found, a corrupt
//! ledger fails the host with nothing applied, an interrupted apply leaves
//! a ledger matching the host, and `state.drift` reports without changing
//! anything. Host: node2 (names prefixed `hdrift` so nothing collides with
//! tests/modules_pkg_service.rs there).

mod harness;

use harness::{run_json as run, Fleet, Workspace};
use serde_json::Value;

const NODE: &str = "node2";

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

/// The result of the state with ID `id` (panics when there is none).
fn state<'a>(v: &'a Value, id: &str) -> &'a Value {
    ret(v)
        .as_object()
        .and_then(|m| m.values().find(|s| s["__id__"] == id))
        .unwrap_or_else(|| panic!("no state {id}: {v}"))
}

fn comment(s: &Value) -> &str {
    s["comment"].as_str().unwrap_or("")
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

/// The host's ledger folded with its journal, as `kind name origin` lines
/// (what the next run will read).
fn ledger(fleet: &Fleet) -> String {
    let text = fleet.podman_exec_ok(
        NODE,
        "cat /var/lib/halite/ledger /var/lib/halite/ledger.journal 2>/dev/null; true",
    );
    let mut entries: Vec<(String, String, String)> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["drop", k, n] => entries.retain(|(a, b, _)| (a.as_str(), b.as_str()) != (*k, *n)),
            ["add", k, n, _, _, _, o] | [k, n, _, _, _, _, o]
                if !entries
                    .iter()
                    .any(|(a, b, _)| (a.as_str(), b.as_str()) == (*k, *n)) =>
            {
                entries.push((k.to_string(), n.to_string(), o.to_string()));
            }
            _ => {}
        }
    }
    entries
        .iter()
        .map(|(k, n, o)| format!("{k} {n} {o}\n"))
        .collect()
}

/// The controller's copy of node2's ledger in the job cache, checked to
/// be private and written by job `jid`; returns it with its entries as
/// `kind name origin` lines (comparable with [`ledger`]).
fn cached(ws: &Workspace, jid: &Value) -> (Value, String) {
    use std::os::unix::fs::PermissionsExt;
    let path = ws.cache_dir().join("ledgers").join(format!("{NODE}.json"));
    let mode = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    let copy: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(copy["host"], NODE, "{copy}");
    assert_eq!(&copy["jid"], jid, "{copy}");
    let lines = copy["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} {}\n",
                e["kind"].as_str().unwrap(),
                e["name"].as_str().unwrap(),
                e["origin"].as_str().unwrap()
            )
        })
        .collect();
    (copy, lines)
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
    assert_eq!(l, "user hdrift-foo created\n");
    // The controller keeps a copy: what the apply left on the host.
    let (copy, lines) = cached(&ws, &first["jid"]);
    assert_eq!(lines, l, "{copy}");
    assert_eq!(copy["as_of"], "apply", "{copy}");
    assert_eq!(copy["current"], true, "{copy}");
    assert_eq!(copy["entries"][0]["sls"], "drift", "{copy}");
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
    // state.drift: the orphan is drift (exit 1), nothing changes.
    let (code, d) = run(&ws, &[NODE, "state.drift"]);
    assert_eq!(code, 1, "{d}");
    assert_eq!(
        d["results"][NODE]["drift"]["drifted"],
        Value::Bool(true),
        "{d}"
    );
    assert_eq!(drift(&d, "orphans"), ["user hdrift-foo"]);
    // A run that writes nothing keeps the copy it read.
    let (copy, lines) = cached(&ws, &d["jid"]);
    assert_eq!(copy["as_of"], "gather", "{copy}");
    assert_eq!(lines, ledger(fleet), "{copy}");

    // prune=True test=True predicts exactly the removal; prune=True does it.
    let (code, p) = run(&ws, &[NODE, "state.apply", "prune=True", "test=True"]);
    assert_eq!(code, 0, "{p}");
    assert_eq!(drift(&p, "pruned"), ["user hdrift-foo"], "{p}");
    fleet.podman_exec_ok(NODE, "getent passwd hdrift-foo");
    let (code, p) = run(&ws, &[NODE, "state.apply", "prune=True"]);
    assert_eq!(code, 0, "{p}");
    assert_eq!(drift(&p, "pruned"), ["user hdrift-foo"], "{p}");
    assert_eq!(changed(&p), ["prune user hdrift-foo"], "{p}");
    assert!(!fleet
        .podman_exec(NODE, "getent passwd hdrift-foo")
        .success());
    assert!(!ledger(fleet).contains("hdrift-foo"), "{}", ledger(fleet));
    assert_eq!(cached(&ws, &p["jid"]).1, ledger(fleet));

    // A second run is a no-op with nothing reported; no drift left.
    let (code, last) = run(&ws, &[NODE, "state.apply", "prune=True"]);
    assert_eq!(code, 0, "{last}");
    assert!(changed(&last).is_empty(), "{last}");
    assert!(last["results"][NODE]["drift"].is_null(), "{last}");
    assert_eq!(
        last["results"][NODE]["executions"].as_u64(),
        Some(1),
        "{last}"
    );
    let (code, d) = run(&ws, &[NODE, "state.drift"]);
    assert_eq!(code, 0, "{d}");
    assert_eq!(
        d["results"][NODE]["drift"]["drifted"],
        Value::Bool(false),
        "{d}"
    );

    // bar removed by hand and dropped from the states: gone, not an
    // orphan; prune forgets it.
    fleet.podman_exec_ok(NODE, "userdel hdrift-bar");
    ws.write(
        "states/drift.sls",
        "hdrift-dir:\n  file.directory:\n    - name: /tmp/hdrift-dir\n",
    );
    let (code, d) = run(&ws, &[NODE, "state.drift"]);
    assert_eq!(code, 1, "{d}");
    assert_eq!(drift(&d, "gone"), ["user hdrift-bar"], "{d}");
    assert!(drift(&d, "orphans").is_empty(), "{d}");
    let (code, p) = run(&ws, &[NODE, "state.apply", "prune=True"]);
    assert_eq!(code, 0, "{p}");
    assert_eq!(drift(&p, "released"), ["user hdrift-bar"], "{p}");
    assert_eq!(ledger(fleet), "file /tmp/hdrift-dir created\n");
    assert_eq!(cached(&ws, &p["jid"]).1, ledger(fleet));
    fleet.podman_exec_ok(NODE, "rm -rf /tmp/hdrift-dir /var/lib/halite");
}

#[test]
fn a_file_and_a_package_halite_created_are_pruned_one_found_is_released() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    // `figlet`: small, used by no other test; /etc/hdrift-found exists before
    // halite declares it.
    let ws = setup(
        fleet,
        "rm -rf /etc/hdrift-made /etc/hdrift-keep; echo mine > /etc/hdrift-found; apt-get purge -y -q figlet >/dev/null 2>&1",
    );
    ws.write(
        "states/drift.sls",
        "/etc/hdrift-made:\n  file.managed:\n    - contents: made\n/etc/hdrift-found:\n  file.managed: []\nfiglet:\n  pkg.installed: []\nkeep:\n  file.directory:\n    - name: /etc/hdrift-keep\n",
    );
    let (code, first) = run(&ws, &[NODE, "state.apply"]);
    assert_eq!(code, 0, "{first}");
    let l = ledger(fleet);
    assert!(l.contains("file /etc/hdrift-found found\n"), "{l}");
    assert!(l.contains("file /etc/hdrift-made created\n"), "{l}");
    assert!(l.contains("pkg figlet created\n"), "{l}");
    assert!(l.contains("file /etc/hdrift-keep created\n"), "{l}");

    ws.write(
        "states/drift.sls",
        "keep:\n  file.directory:\n    - name: /etc/hdrift-keep\n",
    );
    let (code, p) = run(&ws, &[NODE, "state.apply", "prune=True", "test=True"]);
    assert_eq!(code, 0, "{p}");
    let mut pruned = drift(&p, "pruned");
    pruned.sort();
    assert_eq!(pruned, ["file /etc/hdrift-made", "pkg figlet"], "{p}");
    assert_eq!(drift(&p, "released"), ["file /etc/hdrift-found"], "{p}");

    // The prune limit: above it nothing is pruned and the host fails.
    let (code, refused) = run(&ws, &[NODE, "state.apply", "prune=True", "prune_limit=1"]);
    assert_eq!(code, 1, "{refused}");
    assert!(
        refused["results"][NODE]["drift"]["comment"]
            .as_str()
            .unwrap()
            .contains("prune limit"),
        "{refused}"
    );
    fleet.podman_exec_ok(
        NODE,
        "test -e /etc/hdrift-made && dpkg -s figlet >/dev/null",
    );

    let (code, p) = run(&ws, &[NODE, "state.apply", "prune=True"]);
    assert_eq!(code, 0, "{p}");
    assert!(!fleet
        .podman_exec(NODE, "test -e /etc/hdrift-made")
        .success());
    assert!(!fleet
        .podman_exec(NODE, "dpkg -s figlet 2>/dev/null | grep -q 'ok installed'")
        .success());
    // Found, so released, never removed.
    assert_eq!(
        fleet.podman_exec_ok(NODE, "cat /etc/hdrift-found"),
        "mine\n"
    );
    let l = ledger(fleet);
    assert!(
        !l.contains("hdrift-found") && !l.contains("pkg figlet"),
        "{l}"
    );
    let (code, again) = run(&ws, &[NODE, "state.apply", "prune=True"]);
    assert_eq!(code, 0, "{again}");
    assert!(again["results"][NODE]["drift"].is_null(), "{again}");
    fleet.podman_exec_ok(
        NODE,
        "rm -rf /etc/hdrift-found /etc/hdrift-keep /var/lib/halite; apt-get purge -y -q figlet >/dev/null 2>&1; true",
    );
}

#[test]
fn a_corrupt_or_newer_ledger_fails_the_host_with_nothing_applied() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    let ws = setup(fleet, "rm -f /etc/hdrift-corrupt");
    ws.write(
        "states/drift.sls",
        "/etc/hdrift-corrupt:\n  file.managed:\n    - contents: x\n",
    );
    for text in ["garbage", "halite-ledger 9"] {
        fleet.podman_exec_ok(
            NODE,
            &format!("mkdir -p -m 700 /var/lib/halite && echo '{text}' > /var/lib/halite/ledger"),
        );
        for args in [
            &[NODE, "state.apply"][..],
            &[NODE, "state.apply", "prune=True"][..],
        ] {
            let (code, v) = run(&ws, args);
            assert_eq!(code, 1, "{v}");
            let err = v["results"][NODE]["ret"][0].as_str().unwrap_or("");
            assert!(err.contains("drift ledger"), "{v}");
            assert!(!fleet
                .podman_exec(NODE, "test -e /etc/hdrift-corrupt")
                .success());
        }
    }
    fleet.podman_exec_ok(NODE, "rm -rf /var/lib/halite");
}

#[test]
fn an_interrupted_apply_leaves_a_ledger_matching_the_host() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    let ws = setup(fleet, "rm -f /etc/hdrift-before /etc/hdrift-after");
    ws.write(
        "states/drift.sls",
        "/etc/hdrift-before:\n  file.managed:\n    - contents: x\nwait:\n  cmd.run:\n    - name: sleep 30\n/etc/hdrift-after:\n  file.managed:\n    - contents: y\n",
    );
    // The connection drops (timeout) while the sleep runs.
    let (code, v) = run(&ws, &["-t", "4", NODE, "state.apply"]);
    assert_ne!(code, 0, "{v}");
    // The report says what the host confirmed, and never "not applied"
    // for what may have run.
    let before = state(&v, "/etc/hdrift-before");
    assert_eq!(before["result"], true, "{v}");
    assert!(
        before["changes"].as_object().is_some_and(|c| !c.is_empty()),
        "{v}"
    );
    let wait = comment(state(&v, "wait"));
    assert!(
        wait.starts_with("outcome unknown: this state was running when the apply script was interrupted (command timed out"),
        "{v}"
    );
    let after = comment(state(&v, "/etc/hdrift-after"));
    assert!(
        after.starts_with("outcome unknown: the apply script was interrupted (command timed out")
            && after.contains("after `/etc/hdrift-before`"),
        "{v}"
    );
    assert_eq!(state(&v, "wait")["result"], false, "{v}");
    assert_eq!(state(&v, "/etc/hdrift-after")["result"], false, "{v}");
    std::thread::sleep(std::time::Duration::from_secs(1));
    let l = ledger(fleet);
    assert!(l.contains("file /etc/hdrift-before created"), "{l}");
    assert!(!l.contains("hdrift-after"), "{l}");
    // The controller's copy says it is behind the host (the apply never
    // reported back); the next run reads the host's journal.
    let (copy, lines) = cached(&ws, &v["jid"]);
    assert_eq!(copy["current"], false, "{copy}");
    assert_eq!(lines, "", "{copy}");
    fleet.podman_exec_ok(NODE, "test -e /etc/hdrift-before");
    fleet.podman_exec_ok(
        NODE,
        "pkill -x -f 'sleep 30'; rm -f /etc/hdrift-before /etc/hdrift-after; rm -rf /var/lib/halite; true",
    );
}

/// The connection itself drops in the middle of the apply script (a state
/// kills this connection's sshd process): what the host confirmed is
/// reported, the rest is "outcome unknown", never "not applied"; the
/// ledger holds what was done.
#[test]
fn a_connection_lost_mid_apply_reports_what_ran_and_what_is_unknown() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    let ws = setup(fleet, "rm -f /etc/hdrift-lost1 /etc/hdrift-lost2");
    // The nearest sshd ancestor of the state's shell serves this connection.
    // (After a second, so sshd has passed on what the script printed.)
    let kill = "sleep 1; p=$$; while [ $p -gt 1 ]; do case $(cat /proc/$p/comm) in sshd*) kill -KILL $p; break ;; esac; set -- $(cat /proc/$p/stat); p=$4; done; sleep 2";
    ws.write(
        "states/drift.sls",
        &format!("/etc/hdrift-lost1:\n  file.managed:\n    - contents: x\ndrop:\n  cmd.run:\n    - name: '{kill}'\n/etc/hdrift-lost2:\n  file.managed:\n    - contents: y\n"),
    );
    let (code, v) = run(&ws, &[NODE, "state.apply"]);
    assert_eq!(code, 1, "{v}");
    let ret = ret(&v).as_object().unwrap_or_else(|| panic!("{v}"));
    for (k, s) in ret {
        assert!(!comment(s).starts_with("not applied"), "{k}: {v}");
    }
    let first = state(&v, "/etc/hdrift-lost1");
    assert_eq!(first["result"], true, "{v}");
    assert!(
        first["changes"].as_object().is_some_and(|c| !c.is_empty()),
        "{v}"
    );
    assert!(
        comment(state(&v, "drop")).starts_with("outcome unknown: this state was running"),
        "{v}"
    );
    let last = state(&v, "/etc/hdrift-lost2");
    assert_eq!(last["result"], false, "{v}");
    assert!(
        comment(last).contains("after `/etc/hdrift-lost1`, the last state it confirmed"),
        "{v}"
    );
    let note = comment(&ret["__apply__"]);
    assert!(note.starts_with("apply interrupted (connection to"), "{v}");
    fleet.podman_exec_ok(NODE, "test -e /etc/hdrift-lost1");
    assert!(ledger(fleet).contains("file /etc/hdrift-lost1 created"));
    std::thread::sleep(std::time::Duration::from_secs(3));
    fleet.podman_exec_ok(
        NODE,
        "rm -f /etc/hdrift-lost1 /etc/hdrift-lost2; rm -rf /var/lib/halite; true",
    );
}

/// A login without root (alice, no sudo) keeps its own ledger under its
/// home: what its runs manage is recorded and its orphans reported. When
/// that ledger exists but cannot be read, the host fails with why, and
/// nothing is applied: never "Drift: none".
#[test]
fn a_login_without_root_keeps_its_own_ledger_and_an_unreadable_one_fails_the_host() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    let home = "/home/alice";
    let state_dir = format!("{home}/.local/state/halite");
    let clean = format!(
        "rm -rf {home}/.local/state/halite {home}/hdrift-a {home}/hdrift-b /var/lib/halite; true"
    );
    fleet.podman_exec_ok(NODE, &clean);
    let node = fleet.host(NODE);
    let ws = fleet
        .workspace_builder()
        .inventory_file(
            "alice.yaml",
            &format!(
                "hosts:\n  as-alice: {{host: 127.0.0.1, port: {}, identity: {}, user: alice}}\n",
                node.port,
                fleet.private_key.display()
            ),
        )
        .build();
    ws.write("states/top.sls", "base:\n  as-alice:\n    - drift\n");
    ws.write(
        "states/drift.sls",
        &format!("{home}/hdrift-a:\n  file.managed:\n    - contents: a\n"),
    );
    let alice = |args: &[&str]| -> (i32, Value) {
        let (out, v) = ws.halite_json(args);
        (out.code.unwrap_or(-1), v)
    };
    let (code, v) = alice(&["as-alice", "state.apply"]);
    assert_eq!(code, 0, "{v}");
    let mine = fleet.podman_exec_ok(
        NODE,
        &format!("stat -c '%U %a' {state_dir}; cat {state_dir}/ledger {state_dir}/ledger.journal 2>/dev/null; test ! -e /var/lib/halite"),
    );
    assert!(mine.starts_with("alice 700\n"), "{mine}");
    assert!(
        mine.contains(&format!("\tfile\t{home}/hdrift-a\t")),
        "{mine}"
    );

    // Dropped from the states: an orphan, from alice's own ledger.
    ws.write(
        "states/drift.sls",
        &format!("{home}/hdrift-b:\n  file.managed:\n    - contents: b\n"),
    );
    let (code, v) = alice(&["as-alice", "state.drift"]);
    assert_eq!(code, 1, "{v}");
    let orphans = v["results"]["as-alice"]["drift"]["orphans"].to_string();
    assert!(orphans.contains(&format!("{home}/hdrift-a")), "{v}");

    // Unreadable (its directory no longer alice's to enter): the host
    // fails, nothing applied, with the path and the user named.
    fleet.podman_exec_ok(NODE, &format!("chown root:root {state_dir}"));
    for args in [
        &["as-alice", "state.apply"][..],
        &["as-alice", "state.drift"][..],
    ] {
        let (code, v) = alice(args);
        assert_eq!(code, 1, "{v}");
        assert!(v["results"]["as-alice"]["drift"].is_null(), "{v}");
        let err = v["results"]["as-alice"]["ret"][0].as_str().unwrap_or("");
        assert_eq!(
            err,
            format!("drift ledger: cannot read the drift ledger {state_dir}/ledger as alice (permission denied); nothing was applied"),
            "{v}"
        );
    }
    assert!(!fleet
        .podman_exec(NODE, &format!("test -e {home}/hdrift-b"))
        .success());
    fleet.podman_exec_ok(NODE, &clean);
}

#[test]
fn a_service_halite_created_is_stopped_and_disabled_one_found_is_released() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    let ws = setup(
        fleet,
        "systemctl disable --now hdrift-svc >/dev/null 2>&1; rm -f /etc/systemd/system/hdrift-svc.service; systemctl daemon-reload",
    );
    ws.write(
        "states/drift.sls",
        "unit:\n  file.managed:\n    - name: /etc/systemd/system/hdrift-svc.service\n    - contents: |\n        [Service]\n        ExecStart=/bin/sleep infinity\n        [Install]\n        WantedBy=multi-user.target\nhdrift-svc:\n  service.running:\n    - enable: True\n    - require:\n      - file: unit\ncron:\n  service.running: []\n",
    );
    let (code, first) = run(&ws, &[NODE, "state.apply"]);
    assert_eq!(code, 0, "{first}");
    let l = ledger(fleet);
    assert!(l.contains("service hdrift-svc created\n"), "{l}");
    assert!(l.contains("service cron found\n"), "{l}");
    assert_eq!(
        fleet.podman_exec_ok(NODE, "systemctl is-active hdrift-svc"),
        "active\n"
    );

    ws.write(
        "states/drift.sls",
        "unit:\n  file.directory:\n    - name: /etc/hdrift-svc-keep\n",
    );
    let (code, p) = run(&ws, &[NODE, "state.apply", "prune=True", "test=True"]);
    assert_eq!(code, 0, "{p}");
    // Newest first: the service before its unit file.
    assert_eq!(
        drift(&p, "pruned"),
        [
            "service hdrift-svc",
            "file /etc/systemd/system/hdrift-svc.service"
        ],
        "{p}"
    );
    assert_eq!(drift(&p, "released"), ["service cron"], "{p}");
    let (code, p) = run(&ws, &[NODE, "state.apply", "prune=True"]);
    assert_eq!(code, 0, "{p}");
    // Stopped and disabled (its unit file then removed).
    let state = fleet.podman_exec(NODE, "systemctl is-active hdrift-svc");
    assert_eq!(state.stdout, "inactive\n");
    assert!(!fleet
        .podman_exec(
            NODE,
            "test -e /etc/systemd/system/multi-user.target.wants/hdrift-svc.service"
        )
        .success());
    assert!(!fleet
        .podman_exec(NODE, "test -e /etc/systemd/system/hdrift-svc.service")
        .success());
    assert_eq!(
        fleet.podman_exec_ok(NODE, "systemctl is-active cron"),
        "active\n"
    );
    let (code, again) = run(&ws, &[NODE, "state.apply", "prune=True"]);
    assert_eq!(code, 0, "{again}");
    assert!(again["results"][NODE]["drift"].is_null(), "{again}");
    fleet.podman_exec_ok(
        NODE,
        "rm -rf /etc/hdrift-svc-keep /var/lib/halite; systemctl daemon-reload",
    );
}

#[test]
fn two_runs_at_once_on_one_host_both_reach_the_ledger() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    let ws1 = setup(
        fleet,
        "userdel hdrift-c1 2>/dev/null; userdel hdrift-c2 2>/dev/null",
    );
    let ws2 = fleet.workspace();
    ws2.write("states/top.sls", "base:\n  node2:\n    - drift\n");
    // Both gather the same (empty) ledger, then apply at the same time.
    ws1.write(
        "states/drift.sls",
        "nap:\n  cmd.run:\n    - name: sleep 2\nhdrift-c1:\n  user.present: []\n",
    );
    ws2.write(
        "states/drift.sls",
        "nap:\n  cmd.run:\n    - name: sleep 2\nhdrift-c2:\n  user.present: []\n",
    );
    std::thread::scope(|s| {
        let a = s.spawn(|| run(&ws1, &[NODE, "state.apply"]));
        let b = s.spawn(|| run(&ws2, &[NODE, "state.apply"]));
        for h in [a, b] {
            let (code, v) = h.join().unwrap();
            assert_eq!(code, 0, "{v}");
        }
    });
    let l = ledger(fleet);
    assert!(l.contains("user hdrift-c1 created\n"), "{l}");
    assert!(l.contains("user hdrift-c2 created\n"), "{l}");
    // The next run compacts and still knows both.
    let (code, v) = run(&ws1, &[NODE, "state.apply"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(drift(&v, "orphans"), ["user hdrift-c2"], "{v}");
    let file = fleet.podman_exec_ok(
        NODE,
        "cat /var/lib/halite/ledger; wc -c < /var/lib/halite/ledger.journal",
    );
    assert!(
        file.starts_with("halite-ledger 1\n")
            && file.contains("user\thdrift-c1\t")
            && file.contains("user\thdrift-c2\t")
            && file.ends_with("\n0\n"),
        "{file}"
    );
    fleet.podman_exec_ok(
        NODE,
        "userdel hdrift-c1; userdel hdrift-c2; rm -rf /var/lib/halite",
    );
}
