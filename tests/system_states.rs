//! Fleet tests of the state functions that change a host's system
//! configuration (never this machine's): `sysctl.present` on pod1 (the
//! privileged host; only `net.*` keys, which are pod1's own network
//! namespace), `host.present/absent`, `timezone.system`, `locale.present`
//! and `locale.system` on node1. Each: test=True predicts the apply, the
//! apply converges, a second apply (and test=True) changes nothing in one
//! execution.

mod harness;

use harness::{Fleet, Workspace};
use serde_json::Value;

/// `halite --out json HOST state.apply demo ARGS`: (exit code, HOST's result).
fn apply(ws: &Workspace, host: &str, args: &[&str]) -> (i32, Value) {
    let mut all = vec![host, "state.apply", "demo"];
    all.extend_from_slice(args);
    let (out, v) = ws.halite_json(&all);
    (out.code.unwrap_or(-1), v["results"][host].clone())
}

/// State ID -> (result, changes, comment).
fn states(h: &Value) -> std::collections::BTreeMap<String, (Value, Value, String)> {
    h["ret"]
        .as_object()
        .unwrap_or_else(|| panic!("no state results: {h}"))
        .values()
        .map(|s| {
            (
                s["__id__"].as_str().unwrap().to_string(),
                (
                    s["result"].clone(),
                    s["changes"].clone(),
                    s["comment"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

/// test=True, apply, then apply and test=True again: the prediction is the
/// apply's changes, the second round changes nothing in one execution.
/// Returns the apply's states.
fn converge(
    ws: &Workspace,
    host: &str,
) -> std::collections::BTreeMap<String, (Value, Value, String)> {
    let (code, test) = apply(ws, host, &["test=True"]);
    assert_eq!(code, 0, "{test}");
    let (code, first) = apply(ws, host, &[]);
    assert_eq!(code, 0, "{first}");
    let predicted = states(&test);
    let applied = states(&first);
    for (id, (result, changes, comment)) in &applied {
        assert_eq!(result, &Value::Bool(true), "{id}: {comment}");
        assert_eq!(
            &predicted[id].1, changes,
            "{id}: test=True predicted otherwise"
        );
        let expect = if changes.as_object().is_some_and(|c| !c.is_empty()) {
            Value::Null
        } else {
            Value::Bool(true)
        };
        assert_eq!(predicted[id].0, expect, "{id}: {}", predicted[id].2);
    }
    for args in [&[][..], &["test=True"][..]] {
        let (code, again) = apply(ws, host, args);
        assert_eq!(code, 0, "{again}");
        for (id, (result, changes, comment)) in states(&again) {
            assert_eq!(result, Value::Bool(true), "{id}: {comment}");
            assert_eq!(
                changes,
                serde_json::json!({}),
                "{id} changed again: {again}"
            );
        }
        assert_eq!(again["executions"].as_u64(), Some(1), "{again}");
    }
    applied
}

#[test]
fn sysctl_present_sets_and_persists_as_salt_does() {
    let fleet = Fleet::get_with_pod();
    let _serial = fleet.serial();
    let pod = "pod1";
    fleet.podman_exec_ok(
        pod,
        "rm -f /etc/sysctl.d/99-salt.conf /etc/sysctl.d/halite-test.conf; sysctl -qw net.core.somaxconn=4096 net.ipv4.tcp_fin_timeout=60 net.ipv4.tcp_rmem='4096 131072 33554432'",
    );
    let ws = fleet.workspace_builder().with_pod().build();
    ws.write(
        "states/demo.sls",
        r#"
net.core.somaxconn:
  sysctl.present:
    - value: 1024
net.ipv4.tcp_fin_timeout:
  sysctl.present:
    - value: 45
rmem:
  sysctl.present:
    - name: net.ipv4.tcp_rmem
    - value: 4096 87380   16777216
    - config: /etc/sysctl.d/halite-test.conf
"#,
    );
    let done = converge(&ws, pod);
    assert_eq!(
        done["net.core.somaxconn"].1,
        serde_json::json!({"net.core.somaxconn": 1024})
    );
    assert_eq!(
        done["net.core.somaxconn"].2,
        "Updated sysctl value net.core.somaxconn = 1024"
    );
    assert_eq!(
        fleet.podman_exec_ok(pod, "cat /etc/sysctl.d/99-salt.conf; sysctl -n net.core.somaxconn net.ipv4.tcp_rmem; cat /etc/sysctl.d/halite-test.conf"),
        "#\n# Kernel sysctl configuration\n#\nnet.core.somaxconn = 1024\nnet.ipv4.tcp_fin_timeout = 45\n1024\n4096\t87380\t16777216\n#\n# Kernel sysctl configuration\n#\nnet.ipv4.tcp_rmem = 4096 87380   16777216\n"
    );
    // The live value drifts, the file is right: only assigned.
    fleet.podman_exec_ok(pod, "sysctl -qw net.core.somaxconn=4096");
    let (code, h) = apply(&ws, pod, &[]);
    assert_eq!(code, 0, "{h}");
    assert_eq!(
        states(&h)["net.core.somaxconn"].1,
        serde_json::json!({"net.core.somaxconn": 1024})
    );
    fleet.podman_exec(
        pod,
        "rm -f /etc/sysctl.d/99-salt.conf /etc/sysctl.d/halite-test.conf; sysctl -qw net.core.somaxconn=4096 net.ipv4.tcp_fin_timeout=60 net.ipv4.tcp_rmem='4096 131072 33554432'",
    );
}

/// Runs `f` on node1 with /etc/hosts restored afterwards.
fn with_hosts_file(f: impl FnOnce(&'static Fleet)) {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    let original = fleet.podman_exec_ok("node1", "cat /etc/hosts");
    let restore = format!("printf '%s' {} > /etc/hosts", shell_quote(&original));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(fleet)));
    fleet.podman_exec_ok("node1", &restore);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn host_present_and_absent_edit_etc_hosts_in_place() {
    with_hosts_file(|fleet| {
        fleet.podman_exec_ok(
            "node1",
            "printf '10.9.9.9 gone-host other\\n' >> /etc/hosts",
        );
        let ws = fleet.workspace();
        ws.write(
            "states/demo.sls",
            "db.example:\n  host.present:\n    - ip:\n      - 10.9.9.1\n      - 10.9.9.2\n    - comment: the database\n",
        );
        let done = converge(&ws, "node1");
        assert_eq!(
            done["db.example"].1,
            serde_json::json!({
                "added": {"10.9.9.1": ["db.example"], "10.9.9.2": ["db.example"]},
                "comment_added": {"10.9.9.1": ["the database"], "10.9.9.2": ["the database"]}
            })
        );
        ws.write(
            "states/demo.sls",
            "gone-host:\n  host.absent:\n    - ip: 10.9.9.9\n",
        );
        let done = converge(&ws, "node1");
        assert_eq!(
            done["gone-host"].1,
            serde_json::json!({"host": "gone-host"})
        );
        let hosts = fleet.podman_exec_ok("node1", "cat /etc/hosts");
        for line in [
            "10.9.9.1\t\tdb.example\t\t# the database\n",
            "10.9.9.2\t\tdb.example\t\t# the database\n",
            "10.9.9.9\t\tother \n",
        ] {
            assert!(hosts.contains(line), "{line:?} not in {hosts}");
        }
        // Still podman's bind mount: written in place.
        let mounted = fleet.podman_exec_ok("node1", "grep -c ' /etc/hosts ' /proc/self/mounts");
        assert_eq!(mounted.trim(), "1");
    });
}

/// Several states editing /etc/hosts in one run (the hostsfile formula):
/// each apply edits the file as the one before left it.
#[test]
fn several_host_states_in_one_run_edit_one_file_in_order() {
    with_hosts_file(|fleet| {
        let ws = fleet.workspace();
        ws.write(
            "states/demo.sls",
            r#"
two-names:
  host.present:
    - ip: 10.9.9.3
    - names:
      - web1.example
      - web2.example
db.example:
  host.present:
    - ip: 10.9.9.4
"#,
        );
        converge(&ws, "node1");
        let hosts = fleet.podman_exec_ok("node1", "cat /etc/hosts");
        assert!(
            hosts.contains("10.9.9.3\t\tweb1.example web2.example\n10.9.9.4\t\tdb.example\n"),
            "{hosts}"
        );
    });
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[test]
fn timezone_system_sets_the_zone_as_salt_does() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    let reset = "timedatectl set-timezone Etc/UTC; ln -sfn /usr/share/zoneinfo/Etc/UTC /etc/localtime; echo Etc/UTC > /etc/timezone";
    fleet.podman_exec_ok("node1", reset);
    let ws = fleet.workspace();
    ws.write(
        "states/demo.sls",
        "Mars/Base:\n  timezone.system:\n    - utc: False\nEurope/Paris:\n  timezone.system: []\n",
    );
    // The unknown zone fails clearly (first: after a state that changes
    // something, test=True would say it waits for it); the other converges.
    let (code, test) = apply(&ws, "node1", &["test=True"]);
    assert_ne!(code, 0, "{test}");
    let s = states(&test);
    assert_eq!(s["Mars/Base"].0, Value::Bool(false), "{test}");
    assert_eq!(
        s["Mars/Base"].2,
        "Zone does not exist: /usr/share/zoneinfo/Mars/Base"
    );
    assert_eq!(s["Europe/Paris"].2, "Timezone Europe/Paris needs to be set");
    ws.write("states/demo.sls", "Europe/Paris:\n  timezone.system: []\n");
    let done = converge(&ws, "node1");
    assert_eq!(
        done["Europe/Paris"].1,
        serde_json::json!({"timezone": "Europe/Paris"})
    );
    assert_eq!(done["Europe/Paris"].2, "Set timezone Europe/Paris");
    assert_eq!(
        fleet.podman_exec_ok("node1", "cat /etc/timezone; readlink -f /etc/localtime"),
        "Europe/Paris\n/usr/share/zoneinfo/Europe/Paris\n"
    );
    fleet.podman_exec_ok("node1", reset);
}

#[test]
fn locale_system_and_present_as_salt_reports_them() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    let reset = "localectl set-locale LANG=C.UTF-8";
    fleet.podman_exec_ok("node1", reset);
    let ws = fleet.workspace();
    ws.write(
        "states/demo.sls",
        "C.UTF-8:\n  locale.present: []\nC:\n  locale.system: []\n",
    );
    let done = converge(&ws, "node1");
    assert_eq!(done["C.UTF-8"].2, "Locale C.UTF-8 is already present");
    assert_eq!(done["C"].1, serde_json::json!({"locale": "C"}));
    assert_eq!(done["C"].2, "Set system locale C");
    assert!(fleet
        .podman_exec_ok("node1", "localectl status")
        .contains("System Locale: LANG=C\n"));
    // Without Debian's `locales` package nothing can be generated: a clear failure.
    ws.write("states/demo.sls", "en_US.UTF-8:\n  locale.present: []\n");
    let (code, h) = apply(&ws, "node1", &[]);
    assert_ne!(code, 0, "{h}");
    assert_eq!(
        states(&h)["en_US.UTF-8"].2,
        "Failed to generate locale en_US.UTF-8: en_US.UTF-8 UTF-8 is not in /usr/share/i18n/SUPPORTED"
    );
    fleet.podman_exec_ok("node1", reset);
}

/// `ssh_auth.present` / `absent` with `source: salt://...`: the keys of a
/// file of the states tree (read on the controller) are written into a
/// user's authorized_keys next to a hand-made line, each as if given by
/// name; a second run changes nothing; absent takes them all out.
#[test]
fn ssh_auth_source_adds_and_removes_the_keys_of_a_file() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    let node = "node1";
    let reset = "userdel -r hlt-src >/dev/null 2>&1; groupdel hlt-src >/dev/null 2>&1; rm -rf /home/hlt-src; true";
    fleet.podman_exec(node, reset);
    fleet.podman_exec_ok(
        node,
        "useradd -m hlt-src && install -d -o hlt-src -m 700 /home/hlt-src/.ssh && echo 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQChand hand@made' > /home/hlt-src/.ssh/authorized_keys",
    );
    let k1 = "AAAAC3NzaC1lZDI1NTE5AAAAIHaliteSourceKeyHaliteSourceKeyOne01";
    let k2 = "AAAAC3NzaC1lZDI1NTE5AAAAIHaliteSourceKeyHaliteSourceKeyTwo02";
    let ws = fleet.workspace();
    ws.write(
        "states/keys/ops.pub",
        &format!("# the ops team\nssh-ed25519 {k1} one@ops\nno-pty ssh-ed25519 {k2} two@ops\n"),
    );
    ws.write(
        "states/demo.sls",
        "ops-keys:\n  ssh_auth.present:\n    - user: hlt-src\n    - source: salt://keys/ops.pub\n",
    );
    let done = converge(&ws, node);
    assert_eq!(done["ops-keys"].1, serde_json::json!({"ops-keys": "New"}));
    assert_eq!(
        done["ops-keys"].2,
        "The authorized host key ops-keys for user hlt-src was added"
    );
    assert_eq!(
        fleet.podman_exec_ok(node, "cat /home/hlt-src/.ssh/authorized_keys"),
        format!(
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQChand hand@made\nssh-ed25519 {k1} one@ops\nno-pty ssh-ed25519 {k2} two@ops\n"
        )
    );
    ws.write(
        "states/demo.sls",
        "ops-keys:\n  ssh_auth.absent:\n    - user: hlt-src\n    - source: salt://keys/ops.pub\n",
    );
    let done = converge(&ws, node);
    assert_eq!(
        done["ops-keys"].1,
        serde_json::json!({"ops-keys": "Removed"})
    );
    assert_eq!(
        fleet.podman_exec_ok(node, "cat /home/hlt-src/.ssh/authorized_keys"),
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQChand hand@made\n"
    );
    fleet.podman_exec(node, reset);
}
