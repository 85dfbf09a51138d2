//! user.* and group.* where shadow-utils is missing (issue #16 item 2): the
//! same states applied to the Debian fleet's node2 (shadow's useradd &
//! co) and to the `openrc` platform host (no shadow tools; BusyBox's
//! adduser, addgroup, deluser, delgroup and chpasswd, built from Debian's
//! busybox source: tests/fleet/README.md) give the same answers: the same
//! state IDs, results, changes and comments, test=True predicting what the
//! apply does, and a converged re-run in one execution with no changes.
//! What BusyBox cannot change (no usermod) fails on it, at plan time, so
//! test=True says the same.
//!
//! Only accounts named `hlt-acct-*` are touched.

mod harness;

use std::collections::BTreeMap;

use harness::{Fleet, Workspace};
use serde_json::{json, Value};

const SHADOW: &str = "node2";
const BUSYBOX: &str = "openrc";
const HOSTS: [&str; 2] = [SHADOW, BUSYBOX];

const RESET: &str = "export PATH=\"$PATH:/usr/sbin:/sbin\"; \
    for u in hlt-acct-alice hlt-acct-sys; do \
      if getent passwd $u >/dev/null; then \
        if command -v userdel >/dev/null; then userdel -r $u; else deluser --remove-home $u; fi; \
      fi 2>/dev/null; \
    done; \
    for g in hlt-acct-team hlt-acct-ops hlt-acct-sys hlt-acct-alice; do \
      if getent group $g >/dev/null; then \
        if command -v groupdel >/dev/null; then groupdel $g; else delgroup $g; fi; \
      fi 2>/dev/null; \
    done; \
    ! getent passwd hlt-acct-alice hlt-acct-sys && ! getent group hlt-acct-team hlt-acct-ops";

/// Accounts back to none, at the start and at the end (or on a panic).
struct Cleanup(&'static Fleet, &'static Fleet);

impl Cleanup {
    fn reset(&self) {
        self.0.podman_exec_ok(SHADOW, RESET);
        self.1.podman_exec_ok(BUSYBOX, RESET);
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = self.0.podman_exec(SHADOW, RESET);
        let _ = self.1.podman_exec(BUSYBOX, RESET);
    }
}

/// New accounts. Only groups that exist at the gather (`users`) are
/// named as a new user's groups, so nothing is decided late.
const CREATE: &str = "hlt-acct-team:
  group.present:
    - gid: 47100
hlt-acct-ops:
  group.present: []
hlt-acct-alice:
  user.present:
    - uid: 47101
    - fullname: Alice Acct
    - groups: [users]
    - password: '$6$hltacct$notarealhash'
hlt-acct-sys:
  user.present:
    - system: True
    - createhome: False
";

/// What BusyBox can change on existing accounts: memberships (addgroup and
/// delgroup from the user's side, addgroup from the group's), passwords.
const MEMBERSHIP: &str = "hlt-acct-alice:
  user.present:
    - groups: [hlt-acct-team]
    - password: '$6$hltacct$anotherhash'
hlt-acct-team:
  group.present:
    - gid: 47100
    - addusers: [hlt-acct-sys]
hlt-acct-ops:
  group.present:
    - members: [hlt-acct-sys]
";

/// What it cannot (no usermod, no groupmod).
const REFUSED: &str = "hlt-acct-alice:
  user.present:
    - shell: /bin/bash
    - fullname: Alice Renamed
hlt-acct-team:
  group.present:
    - gid: 47190
";

const REMOVE: &str = "hlt-acct-alice:
  user.absent:
    - purge: True
hlt-acct-sys:
  user.absent: []
hlt-acct-team:
  group.absent:
    - require:
      - user: hlt-acct-alice
hlt-acct-ops:
  group.absent:
    - require:
      - user: hlt-acct-alice
";

/// One host's run: state ID to (result, changes, comment), and its count
/// of executions.
type Run = (BTreeMap<String, Value>, u64);

fn apply(ws: &Workspace, sls: &str, test: bool) -> BTreeMap<&'static str, Run> {
    let mut args = vec!["-L", "node2,openrc", "state.apply", sls];
    if test {
        args.push("test=True");
    }
    let (_, v) = ws.halite_json(&args);
    HOSTS
        .iter()
        .map(|h| {
            let r = &v["results"][h];
            let states = r["ret"]
                .as_object()
                .unwrap_or_else(|| panic!("{h}: no state results: {v}"));
            let states = states
                .iter()
                .map(|(id, s)| {
                    let kept = json!({"result": s["result"], "changes": s["changes"], "comment": s["comment"]});
                    (id.clone(), kept)
                })
                .collect();
            (*h, (states, r["executions"].as_u64().unwrap_or(0)))
        })
        .collect()
}

/// Both hosts answer alike; test=True predicted each apply (result None
/// where it changed, the same changes and, on failure, the same comment).
fn same_on_both(sls: &str, predicted: &BTreeMap<&str, Run>, applied: &BTreeMap<&str, Run>) {
    assert_eq!(
        predicted[SHADOW].0, predicted[BUSYBOX].0,
        "{sls}: test=True differs"
    );
    for h in HOSTS {
        let (p, a) = (&predicted[h].0, &applied[h].0);
        assert_eq!(
            p.keys().collect::<Vec<_>>(),
            a.keys().collect::<Vec<_>>(),
            "{sls} {h}"
        );
        for (id, s) in a {
            let want = &p[id];
            assert_eq!(s["changes"], want["changes"], "{sls} {h} {id}");
            match s["result"].as_bool() {
                Some(true) if s["changes"] != json!({}) => {
                    assert_eq!(want["result"], Value::Null, "{sls} {h} {id}")
                }
                Some(true) => assert_eq!(want["result"], json!(true), "{sls} {h} {id}"),
                _ => assert_eq!(
                    want, s,
                    "{sls} {h} {id}: a failure test=True did not predict"
                ),
            }
        }
    }
}

/// Apply `sls` (after test=True) on both, compare, and check a re-run is
/// converged: one execution, no changes, every state true.
fn converge(ws: &Workspace, name: &str, sls: &str) -> BTreeMap<&'static str, Run> {
    ws.write(&format!("states/{name}.sls"), sls);
    let predicted = apply(ws, name, true);
    let applied = apply(ws, name, false);
    same_on_both(name, &predicted, &applied);
    assert_eq!(
        applied[SHADOW].0, applied[BUSYBOX].0,
        "{name}: apply differs"
    );
    for (id, s) in &applied[SHADOW].0 {
        assert_eq!(s["result"], json!(true), "{name} {id}: {s}");
    }
    let again = apply(ws, name, false);
    for h in HOSTS {
        assert_eq!(
            again[h].1, 1,
            "{name} {h}: a converged run is one execution"
        );
        for (id, s) in &again[h].0 {
            assert_eq!(s["result"], json!(true), "{name} {h} {id}: {s}");
            assert_eq!(s["changes"], json!({}), "{name} {h} {id}: {s}");
        }
    }
    applied
}

fn state<'a>(run: &'a Run, id_part: &str) -> &'a Value {
    run.0
        .iter()
        .find(|(id, _)| id.contains(id_part))
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no state {id_part} in {:?}", run.0))
}

#[test]
fn user_and_group_answer_alike_with_shadow_and_with_busybox() {
    let debian = Fleet::get();
    let platforms = Fleet::get_platforms();
    let _serial = debian.serial();
    let cleanup = Cleanup(debian, platforms);
    cleanup.reset();
    // The hosts are what they claim.
    let tools = "export PATH=\"$PATH:/usr/sbin:/sbin\"; command -v useradd || echo no-useradd; \
                 adduser --help 2>&1 | head -n 1";
    assert!(platforms
        .podman_exec_ok(BUSYBOX, tools)
        .starts_with("no-useradd\nBusyBox v1.35.0"));
    assert!(debian
        .podman_exec_ok(SHADOW, tools)
        .starts_with("/usr/sbin/useradd\n"));

    let node2 = debian.host(SHADOW);
    let ws = platforms
        .workspace_builder()
        .inventory_file(
            "debian.yaml",
            &format!(
                "hosts:\n  node2:\n    host: {}\n    port: {}\n    user: root\n    identity: {}\n",
                node2.address,
                node2.port,
                debian.private_key.display()
            ),
        )
        .build();
    let known = format!("{}{}\n", ws.read("known_hosts"), node2.known_hosts_line());
    ws.write("known_hosts", &known);

    let created = converge(&ws, "acct_create", CREATE);
    let alice = state(&created[BUSYBOX], "hlt-acct-alice");
    assert_eq!(
        alice["changes"],
        json!({"name": "hlt-acct-alice", "uid": 47101, "home": "/home/hlt-acct-alice",
               "shell": "/bin/sh", "groups": ["users"], "fullname": "Alice Acct",
               "passwd": "XXX-REDACTED-XXX"}),
        "{alice}"
    );
    // What getent shows is the same too (uids and gids the tools picked
    // aside).
    let facts = "getent passwd hlt-acct-alice | cut -d: -f1,3,5-; \
                 getent group hlt-acct-team | cut -d: -f1,3,4; getent group hlt-acct-ops | cut -d: -f1,4; \
                 id -Gn hlt-acct-alice; \
                 getent shadow hlt-acct-alice | cut -d: -f2; \
                 getent passwd hlt-acct-sys | cut -d: -f1,5-; test -d /home/hlt-acct-sys || echo no-home";
    let shown = debian.podman_exec_ok(SHADOW, facts);
    assert_eq!(shown, platforms.podman_exec_ok(BUSYBOX, facts));
    assert!(shown.contains("$6$hltacct$notarealhash"), "{shown}");

    converge(&ws, "acct_members", MEMBERSHIP);
    let shown = debian.podman_exec_ok(SHADOW, facts);
    assert_eq!(shown, platforms.podman_exec_ok(BUSYBOX, facts));

    // Refused on BusyBox, by test=True and by the apply alike.
    ws.write("states/acct_refused.sls", REFUSED);
    let predicted = apply(&ws, "acct_refused", true);
    let applied = apply(&ws, "acct_refused", false);
    assert_eq!(predicted[BUSYBOX].0, applied[BUSYBOX].0);
    let alice = state(&applied[BUSYBOX], "hlt-acct-alice");
    assert_eq!(alice["result"], json!(false));
    assert!(
        alice["comment"].as_str().unwrap().contains(
            "user.present hlt-acct-alice: this host has BusyBox's account tools and no usermod: \
             the shell, fullname (GECOS) of existing user hlt-acct-alice cannot be changed"
        ),
        "{alice}"
    );
    let team = state(&applied[BUSYBOX], "hlt-acct-team");
    assert!(
        team["comment"]
            .as_str()
            .unwrap()
            .contains("no groupmod: the gid of existing group hlt-acct-team cannot be changed"),
        "{team}"
    );
    for id in ["hlt-acct-alice", "hlt-acct-team"] {
        let s = state(&applied[SHADOW], id);
        assert_eq!(s["result"], json!(true), "shadow changes it: {s}");
    }
    assert_eq!(
        platforms.podman_exec_ok(BUSYBOX, "getent passwd hlt-acct-alice | cut -d: -f5-"),
        "Alice Acct:/home/hlt-acct-alice:/bin/sh\n",
        "nothing changed by hand"
    );

    let removed = converge(&ws, "acct_remove", REMOVE);
    let alice = state(&removed[BUSYBOX], "hlt-acct-alice");
    assert_eq!(
        alice["changes"],
        json!({"hlt-acct-alice": "removed", "hlt-acct-alice group": "removed"}),
        "{alice}"
    );
    let gone =
        "getent passwd hlt-acct-alice hlt-acct-sys; getent group hlt-acct-team hlt-acct-ops \
                hlt-acct-alice hlt-acct-sys; test -e /home/hlt-acct-alice && echo home-left; true";
    assert_eq!(debian.podman_exec_ok(SHADOW, gone), "");
    assert_eq!(platforms.podman_exec_ok(BUSYBOX, gone), "");
    drop(cleanup);
}
