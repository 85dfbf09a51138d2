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
    harness::state_results(h)
}

/// test=True, apply, then apply and test=True again: the prediction is the
/// apply's changes, the second round changes nothing in one execution.
/// Returns the apply's states.
fn converge(
    ws: &Workspace,
    host: &str,
) -> std::collections::BTreeMap<String, (Value, Value, String)> {
    converge_checking(ws, host, false)
}

/// [`converge`]; with `in_order`, a state test=True decided only after an
/// earlier one ("Decided after...") is not compared with the apply.
fn converge_checking(
    ws: &Workspace,
    host: &str,
    in_order: bool,
) -> std::collections::BTreeMap<String, (Value, Value, String)> {
    let (code, test) = apply(ws, host, &["test=True"]);
    assert_eq!(code, 0, "{test}");
    let (code, first) = apply(ws, host, &[]);
    assert_eq!(code, 0, "{first}");
    let predicted = states(&test);
    let applied = states(&first);
    for (id, (result, changes, comment)) in &applied {
        assert_eq!(result, &Value::Bool(true), "{id}: {comment}");
        if in_order && predicted[id].2.starts_with("Decided after") {
            continue;
        }
        assert_eq!(
            &predicted[id].1, changes,
            "{id}: test=True predicted otherwise"
        );
        if in_order {
            continue;
        }
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
        // host.only, as the formula's `only:` pillar drives it: exactly
        // these names on one address, none on the other.
        ws.write(
            "states/demo.sls",
            r#"
10.9.9.3-host-entry:
  host.only:
    - name: 10.9.9.3
    - hostnames:
      - web3.example
      - web1.example
10.9.9.4-host-entry:
  host.only:
    - name: 10.9.9.4
    - hostnames: []
"#,
        );
        let done = converge(&ws, "node1");
        assert_eq!(
            done["10.9.9.3-host-entry"].1,
            serde_json::json!({"10.9.9.3": {"old": "web1.example web2.example", "new": "web3.example web1.example"}})
        );
        let hosts = fleet.podman_exec_ok("node1", "cat /etc/hosts");
        assert!(
            hosts.contains("10.9.9.3\t\tweb3.example web1.example\n"),
            "{hosts}"
        );
        assert!(!hosts.contains("10.9.9.4"), "{hosts}");
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

/// [`converge`] where test=True decides a state only after an earlier one
/// changing the same file ("Decided after the states it requires have
/// run"): the other states' predictions are compared.
fn converge_in_order(
    ws: &Workspace,
    host: &str,
) -> std::collections::BTreeMap<String, (Value, Value, String)> {
    converge_checking(ws, host, true)
}

/// Runs `f` on node2 with deploy's known_hosts and the system-wide one
/// removed before and after.
fn with_clean_known_hosts(f: impl FnOnce(&'static Fleet)) {
    let fleet = Fleet::get();
    let clean = "rm -f ~deploy/.ssh/known_hosts /etc/ssh/ssh_known_hosts";
    fleet.podman_exec_ok("node2", clean);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(fleet)));
    fleet.podman_exec_ok("node2", clean);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn ssh_known_hosts_present_scans_checks_and_hashes_as_salt_does() {
    with_clean_known_hosts(|fleet| {
        // node2's own ed25519 host key and its SHA-256 fingerprint in
        // Salt's form (hex pairs).
        let key = fleet
            .podman_exec_ok("node2", "cut -d ' ' -f 2 /etc/ssh/ssh_host_ed25519_key.pub")
            .trim()
            .to_string();
        let hex = fleet.podman_exec_ok(
            "node2",
            "cut -d ' ' -f 2 /etc/ssh/ssh_host_ed25519_key.pub | base64 -d | sha256sum | cut -d ' ' -f 1",
        );
        let fingerprint = hex
            .trim()
            .as_bytes()
            .chunks(2)
            .map(|p| std::str::from_utf8(p).unwrap())
            .collect::<Vec<_>>()
            .join(":");
        // A stale key for localhost and a host to forget, as deploy's.
        fleet.podman_exec_ok(
            "node2",
            "install -d -o deploy -g deploy -m 700 ~deploy/.ssh && printf 'localhost ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOldOldOldOldOldOldOldOldOldOldOldOldOldOld\\nold.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOldOldOldOldOldOldOldOldOldOldOldOldOldOld\\nkept.example ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQ==\\n' > ~deploy/.ssh/known_hosts && chown deploy:deploy ~deploy/.ssh/known_hosts && chmod 644 ~deploy/.ssh/known_hosts",
        );
        let ws = fleet.workspace();
        ws.write(
            "states/demo.sls",
            &format!(
                "scanned:\n  ssh_known_hosts.present:\n    - name: 127.0.0.1\n    - user: deploy\n    - enc: ed25519\n    - fingerprint: {fingerprint}\n\
                 declared:\n  ssh_known_hosts.present:\n    - name: localhost\n    - user: deploy\n    - enc: ssh-ed25519\n    - key: {key}\n    - hash_known_hosts: False\n\
                 system:\n  ssh_known_hosts.present:\n    - name: 127.0.0.1\n    - config: /etc/ssh/ssh_known_hosts\n    - hash_known_hosts: False\n\
                 forget:\n  ssh_known_hosts.absent:\n    - name: old.example\n    - user: deploy\n"
            ),
        );
        let applied = converge_in_order(&ws, "node2");
        let (_, changes, comment) = &applied["scanned"];
        assert_eq!(changes["old"], Value::Null, "{changes}");
        assert_eq!(changes["new"][0]["key"], key.as_str());
        assert_eq!(changes["new"][0]["fingerprint"], fingerprint.as_str());
        assert_eq!(
            comment,
            &format!("127.0.0.1's key saved to .ssh/known_hosts (fingerprint: {fingerprint})")
        );
        let (_, changes, comment) = &applied["declared"];
        assert!(
            changes["old"][0]["key"].as_str().unwrap().contains("IOld"),
            "{changes}"
        );
        assert!(comment.ends_with(&format!("(key: {key})")), "{comment}");
        let (_, changes, _) = &applied["forget"];
        assert_eq!(changes["new"], Value::Null);
        assert_eq!(changes["old"][0]["hostname"], "old.example");
        // The system-wide file: every key the host presents, plain.
        let (_, changes, _) = &applied["system"];
        assert!(changes["new"].as_array().unwrap().len() >= 2, "{changes}");
        let system = fleet.podman_exec_ok(
            "node2",
            "stat -c '%U %a' /etc/ssh/ssh_known_hosts; cat /etc/ssh/ssh_known_hosts",
        );
        assert!(system.starts_with("root 644\n"), "{system}");
        assert!(
            system.contains(&format!("127.0.0.1 ssh-ed25519 {key}\n")),
            "{system}"
        );
        // deploy's file: the scanned key hashed (ssh-keygen finds it), the
        // declared one in place of the stale one, old.example gone, the
        // other host kept, owner and mode kept.
        let file = fleet.podman_exec_ok(
            "node2",
            "stat -c '%U %G %a' ~deploy/.ssh/known_hosts; cat ~deploy/.ssh/known_hosts; ssh-keygen -F 127.0.0.1 -f ~deploy/.ssh/known_hosts | grep -c '^|1|'",
        );
        assert!(file.starts_with("deploy deploy 644\n"), "{file}");
        assert!(file.ends_with("\n1\n"), "{file}");
        assert!(!file.contains("127.0.0.1"), "{file}");
        assert!(
            !file.contains("old.example") && !file.contains("IOld"),
            "{file}"
        );
        assert!(file.contains("kept.example ssh-rsa"), "{file}");
        assert!(
            file.contains(&format!("localhost ssh-ed25519 {key}\n")),
            "{file}"
        );
        // deploy's ssh now verifies node2's own sshd (and is then refused:
        // deploy has no key there).
        let out = fleet.podman_exec(
            "node2",
            "su -s /bin/sh -c 'ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=5 127.0.0.1 true' deploy",
        );
        assert!(!out.to_string().contains("verification failed"), "{out}");
        assert!(
            !out.to_string().contains("IDENTIFICATION HAS CHANGED"),
            "{out}"
        );
        // A fingerprint the host's keys do not match fails, changing nothing.
        ws.write(
            "states/demo.sls",
            "wrong:\n  ssh_known_hosts.present:\n    - name: 127.0.0.1\n    - user: deploy\n    - config: .ssh/other_hosts\n    - fingerprint: 00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff\n",
        );
        let (code, h) = apply(&ws, "node2", &[]);
        assert_ne!(code, 0, "{h}");
        let (result, changes, comment) = &states(&h)["wrong"];
        assert_eq!(result, &Value::Bool(false));
        assert_eq!(changes, &serde_json::json!({}));
        assert!(
            comment.contains("none of their fingerprints match"),
            "{comment}"
        );
        fleet.podman_exec_ok("node2", "! test -e ~deploy/.ssh/other_hosts");
    });
}

/// file.accumulated feeding a file.managed template and file.blockreplace
/// states: the files halite writes and the accumulated states' results are
/// Salt's (tests/compat/gen_accumulated.py -> accumulated.json); test=True
/// predicts, a second run changes nothing.
#[test]
fn file_accumulated_feeds_templates_and_blocks_as_salt_does() {
    let fleet = Fleet::get();
    let compat = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat");
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(compat.join("accumulated.json")).unwrap())
            .unwrap();
    let root = "/var/tmp/halite-accumulated";
    let sls = std::fs::read_to_string(compat.join("accumulated/demo.sls"))
        .unwrap()
        .replace("@ROOT@", root);
    // The orphan fails (checked below); the rest must converge.
    let (sls, orphan) = sls.split_at(sls.find("\norphan:").unwrap());
    let ws = fleet.workspace();
    ws.write(
        "states/animals.jinja",
        &std::fs::read_to_string(compat.join("accumulated/animals.jinja")).unwrap(),
    );
    ws.write("states/demo.sls", sls);
    // block.txt as block-base writes it, so the blocks' test=True can
    // predict (Salt's too would say "file not found" otherwise).
    let block_base = "top\n# A start\n# A end\n# B start\n# B end\n";
    fleet.podman_exec_ok(
        "node2",
        &format!(
            "rm -rf {root} && mkdir -p {root} && printf '%s' {} > {root}/block.txt",
            shell_quote(block_base)
        ),
    );
    let applied = converge_in_order(&ws, "node2");
    for (id, want) in fixture["states"].as_object().unwrap() {
        // The accumulated states (file.managed's `mode` change differs).
        if !["animals", "animals-again", "colours", "hosts-a", "hosts-b"].contains(&id.as_str()) {
            continue;
        }
        let (result, changes, comment) = &applied[id];
        assert_eq!(result, &want["result"], "{id}");
        assert_eq!(changes, &want["changes"], "{id}");
        assert_eq!(
            comment.replace(root, "@ROOT@"),
            want["comment"].as_str().unwrap(),
            "{id}"
        );
    }
    for (file, want) in fixture["files"].as_object().unwrap() {
        assert_eq!(
            fleet.podman_exec_ok("node2", &format!("cat {root}/{file}")),
            want.as_str().unwrap(),
            "{file}"
        );
    }
    // An accumulator no file state requires fails, as in Salt.
    ws.write("states/demo.sls", &format!("{sls}{orphan}"));
    let (code, h) = apply(&ws, "node2", &[]);
    assert_ne!(code, 0, "{h}");
    let want = &fixture["states"]["orphan"];
    let (result, _, comment) = &states(&h)["orphan"];
    assert_eq!(result, &want["result"]);
    assert_eq!(comment, want["comment"].as_str().unwrap());
    fleet.podman_exec_ok("node2", &format!("rm -rf {root}"));
}
