//! The `pkg` and `service` state modules against a real Debian host of the
//! test fleet (node2 only: the other hosts belong to other tests).
//!
//! Each case runs a state the way the engine will: the probe snippet on the
//! host, `plan` on its output, the apply snippet, `finish`; then probes again.
//! What `test=True` predicted must be what apply changed, and the second
//! plan must change nothing. Snippets reach the host through `podman exec`,
//! in a subshell with stdout and stderr together, as the engine runs them.

mod harness;

use halite::modules::{lookup, Applied, BuildCtx, Output, Plan, StateFunction};
use halite::state::Chunk;
use harness::Fleet;
use serde_json::{json, Value};

const NODE: &str = "node2";

fn state(module: &str, function: &str, name: &str, args: Value) -> Box<dyn StateFunction> {
    let chunk = Chunk {
        sls: "t".into(),
        file: "t.sls".into(),
        ..Chunk::standalone(module, function, name, args)
    };
    let ctx = BuildCtx {
        states_root: std::path::Path::new("/nonexistent"),
        renderer: None,
    };
    let def = lookup(module, function).unwrap_or_else(|| panic!("{module}.{function}"));
    (def.build)(&chunk, &ctx).unwrap()
}

/// Run a snippet on node2 as the engine does; its output and exit status.
fn run(fleet: &Fleet, snippet: &str) -> (String, i32) {
    let out = fleet.podman_exec(
        NODE,
        &format!("(\n{snippet}\n) 2>&1\nprintf '\\n@@@rc %s\\n' \"$?\""),
    );
    let text = out.stdout;
    let (body, rc) = text
        .rsplit_once("\n@@@rc ")
        .unwrap_or_else(|| panic!("no exit status from the snippet:\n{text}\n{}", out.stderr));
    (body.to_string(), rc.trim().parse().unwrap())
}

fn plan(fleet: &Fleet, s: &dyn StateFunction) -> Result<Plan, String> {
    let (text, rc) = run(fleet, &s.probe());
    s.plan(Output { text: &text, rc })
}

/// Plan, apply and finish; then check that a second plan is a no-op.
fn converge(fleet: &Fleet, s: &dyn StateFunction) -> (Plan, Applied) {
    let p = plan(fleet, s).unwrap();
    assert!(!p.is_noop(), "nothing to do: {p:?}");
    let (text, rc) = run(fleet, &s.apply(&p).unwrap());
    let done = s.finish(&p, Output { text: &text, rc });
    assert!(done.result, "{done:?}\n--- apply output\n{text}");
    let again = plan(fleet, s).unwrap();
    assert!(again.is_noop(), "second run would change: {again:?}");
    (p, done)
}

/// Every predicted version that was known must be the one installed; every
/// package the plan named must have changed.
fn assert_prediction(p: &Plan, done: &Applied) {
    assert_eq!(
        p.changes.keys().collect::<Vec<_>>(),
        done.changes.keys().collect::<Vec<_>>(),
        "{p:?}\n{done:?}"
    );
    for (name, c) in &p.changes {
        let new = &c["new"];
        if new.is_string() && !["installed", "removed", "purged"].contains(&new.as_str().unwrap()) {
            assert_eq!(&done.changes[name]["new"], new, "{name}");
        }
        if let Some(hold) = c.get("hold") {
            assert_eq!(&done.changes[name]["hold"], hold, "{name}");
        }
    }
}

fn pkg_status(fleet: &Fleet, name: &str) -> String {
    fleet
        .podman_exec(
            NODE,
            &format!("dpkg-query -W -f '${{db:Status-Abbrev}}' {name} 2>/dev/null"),
        )
        .stdout
        .trim()
        .to_string()
}

const PKG_CLEANUP: &str =
    "apt-mark unhold hello sl >/dev/null 2>&1; apt-get -q -y purge hello sl >/dev/null 2>&1; true";

#[test]
fn pkg_states_converge_on_a_real_host() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    fleet.podman_exec_ok(NODE, PKG_CLEANUP);

    // Missing: installed, with the version the plan predicted.
    let s = state("pkg", "installed", "hello", json!({}));
    let (p, done) = converge(fleet, &*s);
    assert_eq!(done.changes["hello"]["old"], "");
    let version = done.changes["hello"]["new"].as_str().unwrap().to_string();
    assert!(!version.is_empty());
    assert_prediction(&p, &done);
    assert_eq!(
        plan(fleet, &*s).unwrap().comment,
        "Package hello is already installed"
    );
    // The installed version asked for: nothing to do.
    let s = state("pkg", "installed", "hello", json!({"version": version}));
    assert!(plan(fleet, &*s).unwrap().is_noop());
    // And it is the latest apt knows.
    let s = state("pkg", "latest", "hello", json!({}));
    assert_eq!(
        plan(fleet, &*s).unwrap().comment,
        "Package hello is already up-to-date"
    );

    // pkgs, one new and one to hold.
    let s = state(
        "pkg",
        "installed",
        "tools",
        json!({"pkgs": ["hello", "sl"], "hold": true}),
    );
    let (p, done) = converge(fleet, &*s);
    assert_prediction(&p, &done);
    assert_eq!(
        done.changes["hello"],
        json!({"hold": {"old": "", "new": "hold"}})
    );
    assert_eq!(
        done.changes["sl"]["hold"],
        json!({"old": "", "new": "hold"})
    );
    assert_eq!(pkg_status(fleet, "hello"), "hi");
    assert_eq!(pkg_status(fleet, "sl"), "hi");
    let s = state(
        "pkg",
        "installed",
        "tools",
        json!({"pkgs": ["hello", "sl"], "hold": false}),
    );
    let (p, done) = converge(fleet, &*s);
    assert_prediction(&p, &done);
    assert_eq!(pkg_status(fleet, "sl"), "ii");

    // Removed: hello goes, the unknown name is "not installed".
    let s = state(
        "pkg",
        "removed",
        "x",
        json!({"pkgs": ["hello", "no-such-package-halite"]}),
    );
    let (p, done) = converge(fleet, &*s);
    assert_eq!(p.changes["hello"], json!({"new": "removed", "old": ""}));
    assert_eq!(done.changes["hello"], json!({"old": version, "new": ""}));
    assert_prediction(&p, &done);

    // Purged: sl installed, hello possibly only configuration left.
    let s = state("pkg", "purged", "x", json!({"pkgs": ["hello", "sl"]}));
    let p = plan(fleet, &*s).unwrap();
    assert!(p.changes.contains_key("sl"), "{p:?}");
    let (_, done) = converge(fleet, &*s);
    assert_eq!(done.changes["sl"]["new"], "");
    assert!(pkg_status(fleet, "sl").is_empty() || pkg_status(fleet, "sl").starts_with("un"));

    // Not known to apt: planned, and apply fails with apt's message.
    let s = state("pkg", "installed", "no-such-package-halite", json!({}));
    let p = plan(fleet, &*s).unwrap();
    assert_eq!(
        p.changes["no-such-package-halite"],
        json!({"old": "", "new": "installed"})
    );
    let (text, rc) = run(fleet, &s.apply(&p).unwrap());
    let done = s.finish(&p, Output { text: &text, rc });
    assert!(!done.result);
    assert!(
        done.comment
            .contains("E: Unable to locate package no-such-package-halite"),
        "{done:?}"
    );

    fleet.podman_exec_ok(NODE, PKG_CLEANUP);
}

const DRILL_CLEANUP: &str =
    "apt-mark unhold halite-drill >/dev/null 2>&1; apt-get -q -y purge halite-drill >/dev/null 2>&1; true";

/// `update_holds`: halite-drill 1.0 (the image's .deb) installed and held,
/// 1.1 in the image's local repository.
#[test]
fn pkg_update_holds_on_a_real_host() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    fleet.podman_exec_ok(NODE, DRILL_CLEANUP);
    fleet.podman_exec_ok(
        NODE,
        "dpkg -i /srv/halite-drill-1.0.deb >/dev/null && apt-mark hold halite-drill >/dev/null",
    );
    assert_eq!(pkg_status(fleet, "halite-drill"), "hi");

    // Held and to be changed: refused with Salt's words, nothing run.
    let s = state("pkg", "latest", "halite-drill", json!({}));
    assert_eq!(
        plan(fleet, &*s).unwrap_err(),
        "The following package(s) could not be updated because they are being held: halite-drill. \
         Set 'update_holds' to True to temporarily unhold these packages so that they can be updated."
    );
    // Held at the version asked for: no obstacle, no change.
    let s = state("pkg", "installed", "halite-drill", json!({"hold": true}));
    assert!(plan(fleet, &*s).unwrap().is_noop());

    // update_holds: released, upgraded, held again; the hold is no change.
    let s = state(
        "pkg",
        "latest",
        "halite-drill",
        json!({"update_holds": true}),
    );
    let (p, done) = converge(fleet, &*s);
    assert_eq!(
        p.changes["halite-drill"],
        json!({"old": "1.0", "new": "1.1"})
    );
    assert_prediction(&p, &done);
    assert_eq!(
        done.changes["halite-drill"],
        json!({"old": "1.0", "new": "1.1"})
    );
    assert_eq!(pkg_status(fleet, "halite-drill"), "hi");

    fleet.podman_exec_ok(NODE, DRILL_CLEANUP);
}

/// An ed25519 public key made with gpg for these tests (fingerprint
/// CA6058A135165B5CA9ECDC27B3D614A3830DB473), as src/platform/openpgp.rs's.
const TEST_KEY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----

mDMEaxGj2RYJKwYBBAHaRw8BAQdAmueRZdUXqygJ9/59wTQx60NJKNizncxMA6Uk
TMWqh/+0H2hhbGl0ZSB0ZXN0IDx0QGV4YW1wbGUuaW52YWxpZD6IkAQTFggAOBYh
BMpgWKE1FltcqezcJ7PWFKODDbRzBQJrEaPZAhsDBQsJCAcCBhUKCQgLAgQWAgMB
Ah4BAheAAAoJELPWFKODDbRz3ewBAMqWr2g18NmxeqNrnmvyg8n3AUdOkUWH7Dkg
iM56sb2NAQDg97KE7InMwoqi32ytK4pKwVVG7ZroPrjvLH+tvZrDAw==
=VJAi
-----END PGP PUBLIC KEY BLOCK-----
";

/// `pkgrepo.absent` with `keyid`: the repository's line and the keyring
/// holding that key go; Debian's own keys stay; a second run changes nothing.
#[test]
fn pkgrepo_absent_keyid_on_a_real_host() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    let list = "/etc/apt/sources.list.d/halite-keyid.list";
    let keyring = "/etc/apt/keyrings/halite-keyid.asc";
    let cleanup = format!("rm -f {list} {keyring}");
    fleet.podman_exec_ok(NODE, &cleanup);
    fleet.podman_exec_ok(
        NODE,
        &format!(
            "mkdir -p /etc/apt/keyrings && printf '%s' '{TEST_KEY}' >{keyring} && \
             echo 'deb [signed-by={keyring}] file:/srv/halite-keyid ./' >{list}"
        ),
    );
    let debian_keys = || {
        fleet
            .podman_exec(NODE, "ls /etc/apt/trusted.gpg.d | wc -l")
            .stdout
    };
    let before = debian_keys();

    let s = state(
        "pkgrepo",
        "absent",
        "deb file:/srv/halite-keyid ./",
        json!({"keyid": "B3D614A3830DB473"}),
    );
    // test=True: the keyring the key is in, from the host's copies.
    let p = plan(fleet, &*s).unwrap();
    assert_eq!(p.changes["keyid"], "B3D614A3830DB473");
    assert!(
        p.comment
            .ends_with(&format!(", and keyid B3D614A3830DB473 ({keyring})")),
        "{}",
        p.comment
    );
    let (p, done) = converge(fleet, &*s);
    assert_eq!(done.changes, p.changes);
    assert!(
        done.comment.contains(", and keyid B3D614A3830DB473"),
        "{done:?}"
    );
    let gone = fleet.podman_exec(NODE, &format!("ls {list} {keyring} 2>/dev/null"));
    assert_eq!(gone.stdout.trim(), "");
    assert_eq!(debian_keys(), before);
    assert_eq!(
        plan(fleet, &*s).unwrap().comment,
        "Package repo file:/srv/halite-keyid ./ is absent"
    );
    fleet.podman_exec_ok(NODE, &cleanup);
}

const UNIT: &str = "halite-svc-test";

fn systemctl(fleet: &Fleet, args: &str) -> String {
    fleet
        .podman_exec(NODE, &format!("systemctl {args} {UNIT}"))
        .stdout
        .trim()
        .to_string()
}

#[test]
fn service_states_converge_on_a_real_host() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    fleet.podman_exec_ok(
        NODE,
        &format!(
            "printf '[Service]\\nExecStart=/bin/sleep infinity\\nExecReload=/bin/true\\n[Install]\\nWantedBy=multi-user.target\\n' \
             >/etc/systemd/system/{UNIT}.service && systemctl daemon-reload && \
             systemctl stop {UNIT} && systemctl disable {UNIT} 2>/dev/null"
        ),
    );

    // Started and enabled; changes and comment as Salt's.
    let s = state("service", "running", UNIT, json!({"enable": true}));
    let (p, done) = converge(fleet, &*s);
    assert_eq!(Value::Object(p.changes.clone()), json!({UNIT: true}));
    assert_eq!(done.changes, p.changes);
    assert_eq!(
        done.comment,
        format!("Service {UNIT} has been enabled, and is running")
    );
    assert!(s.watch(&p).is_none(), "it was just started");
    assert_eq!(systemctl(fleet, "is-active"), "active");
    assert_eq!(systemctl(fleet, "is-enabled"), "enabled");

    // Watch on a running service: restarted (a new main process)...
    let noop = plan(fleet, &*s).unwrap();
    let pid = systemctl(fleet, "show -p MainPID");
    let (text, rc) = run(fleet, &s.watch(&noop).unwrap());
    assert_eq!(rc, 0, "{text}");
    assert_eq!(systemctl(fleet, "is-active"), "active");
    assert_ne!(systemctl(fleet, "show -p MainPID"), pid);
    // ...or reloaded with `reload: True` (the same one).
    let r = state("service", "running", UNIT, json!({"reload": true}));
    let pid = systemctl(fleet, "show -p MainPID");
    let (text, rc) = run(fleet, &r.watch(&plan(fleet, &*r).unwrap()).unwrap());
    assert_eq!(rc, 0, "{text}");
    assert_eq!(systemctl(fleet, "show -p MainPID"), pid);

    // Stopped and disabled.
    let s = state("service", "dead", UNIT, json!({"enable": false}));
    let (_, done) = converge(fleet, &*s);
    assert_eq!(
        done.comment,
        format!("Service {UNIT} has been disabled, and is dead")
    );
    assert_eq!(systemctl(fleet, "is-active"), "inactive");
    assert_eq!(systemctl(fleet, "is-enabled"), "disabled");

    // Watch on a stopped service: started.
    let r = state("service", "running", UNIT, json!({}));
    let mut p = plan(fleet, &*r).unwrap();
    assert_eq!(p.comment, format!("Service {UNIT} is set to start"));
    p.changes.clear();
    let (text, rc) = run(fleet, &r.watch(&p).unwrap());
    assert_eq!(rc, 0, "{text}");
    assert_eq!(systemctl(fleet, "is-active"), "active");
    fleet.podman_exec_ok(NODE, &format!("systemctl stop {UNIT}"));

    // Boot setting only, the service left as it is.
    let s = state("service", "enabled", UNIT, json!({}));
    converge(fleet, &*s);
    assert_eq!(systemctl(fleet, "is-enabled"), "enabled");
    assert_eq!(systemctl(fleet, "is-active"), "inactive");
    let s = state("service", "disabled", UNIT, json!({}));
    converge(fleet, &*s);
    assert_eq!(systemctl(fleet, "is-enabled"), "disabled");

    // A unit the host does not know.
    let s = state("service", "running", "no-such-unit-halite", json!({}));
    assert_eq!(
        plan(fleet, &*s).unwrap_err(),
        "The named service no-such-unit-halite is not available"
    );
    let s = state("service", "dead", "no-such-unit-halite", json!({}));
    assert!(plan(fleet, &*s).unwrap().is_noop());

    fleet.podman_exec_ok(
        NODE,
        &format!(
            "systemctl stop {UNIT}; systemctl disable {UNIT} 2>/dev/null; \
             rm -f /etc/systemd/system/{UNIT}.service && systemctl daemon-reload"
        ),
    );
}
