//! Fleet tests of the state engine through the real binary: test=True
//! predicts exactly what the apply then changes, a second apply changes
//! nothing, a no-op run costs one remote execution (two with changes),
//! requisites and conditions behave as in Salt, and bad input fails the
//! host with a clear message and nothing applied. Host: node1.

mod harness;

use harness::{run_json as run, Fleet, Workspace};
use serde_json::Value;

/// (state id -> (result, changed?, comment)) of node1's run.
fn states(v: &Value) -> std::collections::BTreeMap<String, (Value, bool, String)> {
    let ret = &v["results"]["node1"]["ret"];
    ret.as_object()
        .unwrap_or_else(|| panic!("no state results: {v}"))
        .values()
        .map(|s| {
            (
                s["__id__"].as_str().unwrap().to_string(),
                (
                    s["result"].clone(),
                    s["changes"].as_object().is_some_and(|c| !c.is_empty()),
                    s["comment"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

/// Results keyed `ID function` (one ID may hold several states).
fn results(v: &Value) -> std::collections::BTreeMap<String, (Value, bool)> {
    v["results"]["node1"]["ret"]
        .as_object()
        .unwrap_or_else(|| panic!("no state results: {v}"))
        .values()
        .map(|s| {
            (
                format!(
                    "{} {}",
                    s["__id__"].as_str().unwrap(),
                    s["function"].as_str().unwrap()
                ),
                (
                    s["result"].clone(),
                    s["changes"].as_object().is_some_and(|c| !c.is_empty()),
                ),
            )
        })
        .collect()
}

fn changed(v: &Value) -> Vec<String> {
    states(v)
        .into_iter()
        .filter(|(_, (_, c, _))| *c)
        .map(|(id, _)| id)
        .collect()
}

fn workspace(fleet: &'static Fleet, sls: &str) -> Workspace {
    let ws = fleet.workspace();
    ws.write("states/top.sls", "base:\n  node1:\n    - demo\n");
    ws.write("states/demo.sls", sls);
    ws
}

const DEMO: &str = r#"
make-dir:
  cmd.run:
    - name: mkdir -p /srv/halite-states-test && echo made > /srv/halite-states-test/made
    - creates: /srv/halite-states-test/made

react:
  cmd.run:
    - name: echo reacting >> /srv/halite-states-test/log
    - onchanges:
      - cmd: make-dir

only-if-missing:
  cmd.run:
    - name: "false"
    - unless: test -e /srv/halite-states-test/made
"#;

#[test]
fn test_mode_predicts_the_apply_and_the_second_apply_is_a_no_op() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    fleet.podman_exec_ok("node1", "rm -rf /srv/halite-states-test");
    let ws = workspace(fleet, DEMO);

    let (code, predicted) = run(&ws, &["node1", "state.apply", "test=True"]);
    assert_eq!(code, 0, "{predicted}");
    assert_eq!(
        predicted["results"]["node1"]["executions"].as_u64(),
        Some(2),
        "grains + gather"
    );
    assert!(
        fleet
            .podman_exec("node1", "test -e /srv/halite-states-test")
            .code
            != Some(0),
        "test=True changed nothing"
    );
    for (id, (result, _, _)) in states(&predicted) {
        assert!(result.is_null(), "{id} would change: {predicted}");
    }

    let (code, applied) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(code, 0, "{applied}");
    assert_eq!(
        applied["results"]["node1"]["executions"].as_u64(),
        Some(2),
        "gather + apply"
    );
    let s = states(&applied);
    assert_eq!(changed(&applied), ["make-dir", "react"], "{applied}");
    // `unless` is checked again right before the state, as in Salt: make-dir created the file.
    assert_eq!(s["only-if-missing"].0, Value::Bool(true), "{applied}");
    // The prediction named every state that changed.
    let predicted_changes: Vec<String> = states(&predicted).into_keys().collect();
    for id in changed(&applied) {
        assert!(predicted_changes.contains(&id));
    }

    let (code, again) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(code, 0);
    assert!(changed(&again).is_empty(), "{again}");
    assert_eq!(
        again["results"]["node1"]["executions"].as_u64(),
        Some(1),
        "a no-op apply is one execution"
    );
    let (_, predicted_again) = run(&ws, &["node1", "state.apply", "test=True"]);
    assert!(
        states(&predicted_again)
            .values()
            .all(|(r, _, _)| *r == Value::Bool(true)),
        "{predicted_again}"
    );
    assert_eq!(
        fleet.podman_exec_ok("node1", "cat /srv/halite-states-test/log"),
        "reacting\n"
    );
}

#[test]
fn requisites_failhard_and_onfail_behave_as_in_salt() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    fleet.podman_exec_ok(
        "node1",
        "rm -rf /srv/halite-req-test && mkdir -p /srv/halite-req-test",
    );
    let ws = workspace(
        fleet,
        r#"
breaks:
  cmd.run:
    - name: exit 3

needs-it:
  cmd.run:
    - name: touch /srv/halite-req-test/needs-it
    - require:
      - cmd: breaks

on-failure:
  cmd.run:
    - name: touch /srv/halite-req-test/on-failure
    - onfail:
      - cmd: breaks

independent:
  cmd.run:
    - name: touch /srv/halite-req-test/independent
"#,
    );
    let (code, v) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(
        code, 1,
        "a failed state fails the host and the run (salt-ssh would exit 0)"
    );
    assert_eq!(v["results"]["node1"]["status"], "failed");
    let s = states(&v);
    assert_eq!(s["breaks"].0, Value::Bool(false));
    assert_eq!(s["needs-it"].0, Value::Bool(false));
    assert!(s["needs-it"].2.contains("requisite failed"), "{v}");
    assert_eq!(s["on-failure"].0, Value::Bool(true));
    assert_eq!(s["independent"].0, Value::Bool(true));
    let files = fleet.podman_exec_ok("node1", "ls /srv/halite-req-test");
    assert_eq!(files, "independent\non-failure\n");

    // failhard: nothing after the failure runs.
    fleet.podman_exec_ok(
        "node1",
        "rm -rf /srv/halite-req-test && mkdir -p /srv/halite-req-test",
    );
    ws.write(
        "states/demo.sls",
        "first:\n  cmd.run:\n    - name: exit 1\n    - failhard: True\nsecond:\n  cmd.run:\n    - name: touch /srv/halite-req-test/second\n",
    );
    let (code, v) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(code, 1);
    assert_eq!(states(&v)["second"].0, Value::Bool(false), "{v}");
    assert_eq!(fleet.podman_exec_ok("node1", "ls /srv/halite-req-test"), "");
}

#[test]
fn bad_state_trees_fail_clearly_with_nothing_applied() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    fleet.podman_exec_ok("node1", "rm -rf /srv/halite-bad-test");
    let touch = "ok:\n  cmd.run:\n    - name: mkdir -p /srv/halite-bad-test\n";
    let cases: &[(&str, &str)] = &[
        ("bad: [\n", "demo.sls"),
        ("{{ undefined_variable }}\n", "undefined"),
        ("x:\n  cmd.rnu: []\n", "rnu"),
        ("x:\n  cmd.run:\n    - name: true\n    - bogus_arg: 1\n", "bogus_arg"),
        (
            "a:\n  cmd.run:\n    - name: true\n    - require:\n      - cmd: b\nb:\n  cmd.run:\n    - name: true\n    - require:\n      - cmd: a\n",
            "cycle",
        ),
        ("#!py\ndef run(): return {}\n", "py"),
    ];
    for (sls, needle) in cases {
        // A shebang must stay the first line.
        let text = if sls.starts_with("#!") {
            format!("{sls}{touch}")
        } else {
            format!("{touch}{sls}")
        };
        let ws = workspace(fleet, &text);
        let (code, v) = run(&ws, &["node1", "state.apply"]);
        assert_eq!(code, 1, "{sls}: {v}");
        assert_eq!(v["results"]["node1"]["status"], "failed");
        let msg = v["results"]["node1"]["ret"].to_string();
        assert!(
            msg.to_lowercase().contains(&needle.to_lowercase()),
            "{sls}: {msg}"
        );
        assert!(
            fleet
                .podman_exec("node1", "test -e /srv/halite-bad-test")
                .code
                != Some(0),
            "nothing may be applied when the tree is bad ({sls})"
        );
    }
    // Unknown SLS and usage errors.
    let ws = workspace(fleet, touch);
    let (code, v) = run(&ws, &["node1", "state.sls", "nope"]);
    assert_eq!(code, 1);
    assert!(
        v["results"]["node1"]["ret"]
            .to_string()
            .contains("no such SLS"),
        "{v}"
    );
    let out = ws.halite(["node1", "state.sls"]);
    assert_eq!(out.code, Some(2));
}

#[test]
fn show_functions_compile_without_applying() {
    let fleet = Fleet::get();
    let ws = workspace(fleet, DEMO);
    let (code, v) = run(&ws, &["node1", "state.show_top"]);
    assert_eq!(code, 0);
    assert_eq!(
        v["results"]["node1"]["ret"]["base"],
        serde_json::json!(["demo"])
    );
    let (code, v) = run(&ws, &["node1", "state.show_sls", "demo"]);
    assert_eq!(code, 0, "{v}");
    let mut ids: Vec<(u64, &str)> = v["results"]["node1"]["ret"]
        .as_object()
        .unwrap()
        .values()
        .map(|s| {
            (
                s["__run_num__"].as_u64().unwrap(),
                s["__id__"].as_str().unwrap(),
            )
        })
        .collect();
    ids.sort();
    let order: Vec<&str> = ids.into_iter().map(|(_, id)| id).collect();
    assert_eq!(order, ["make-dir", "react", "only-if-missing"]);
    assert!(
        fleet
            .podman_exec("node1", "test -e /srv/halite-show-test")
            .code
            != Some(0)
    );
}

/// The shipped example tree (Salt's apache + snmp with pillar): test=True
/// predicts every state; the apply converges, restarting services when
/// their configuration changed; the second apply is a one-execution no-op.
#[test]
fn the_shipped_example_tree_converges() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    fleet.podman_exec_ok(
        "node1",
        "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q apache2 apache2-bin snmpd >/dev/null 2>&1; rm -rf /etc/apache2 /etc/snmp /etc/motd; true",
    );
    let ws = fleet.workspace();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["states", "pillar"] {
        let status = std::process::Command::new("cp")
            .args(["-r"])
            .arg(root.join(dir))
            .arg(ws.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
    let (code, predicted) = run(&ws, &["node1", "state.apply", "test=True"]);
    assert_eq!(code, 0, "{predicted}");
    let p = results(&predicted);
    assert_eq!(p.len(), 7, "{predicted}");
    assert!(
        p.values().all(|(r, _)| r.is_null()),
        "every state would change: {predicted}"
    );

    let (code, applied) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(code, 0, "{applied}");
    let a = results(&applied);
    assert!(
        a.values().all(|(r, c)| *r == Value::Bool(true) && *c),
        "every predicted state changed: {applied}"
    );
    let conf = fleet.podman_exec_ok("node1", "cat /etc/snmp/snmpd.conf");
    assert!(conf.contains("rocommunity public 127.0.0.1"), "{conf}");
    assert_eq!(
        fleet.podman_exec_ok("node1", "systemctl is-active apache2 snmpd"),
        "active\nactive\n"
    );

    let (code, again) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(code, 0);
    assert!(
        results(&again)
            .values()
            .all(|(r, c)| *r == Value::Bool(true) && !*c),
        "{again}"
    );
    assert_eq!(again["results"]["node1"]["executions"].as_u64(), Some(1));

    // A pillar override reaches the template; only that file and the
    // service watching it change.
    let (_, v) = run(
        &ws,
        &["node1", "state.apply", "snmp", "pillar={snmpcom: s3cret}"],
    );
    let changed: Vec<String> = results(&v)
        .into_iter()
        .filter(|(_, (_, c))| *c)
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        changed,
        ["/etc/snmp/snmpd.conf file.managed", "snmpd service.running"],
        "{v}"
    );
    assert!(fleet
        .podman_exec_ok("node1", "cat /etc/snmp/snmpd.conf")
        .contains("rocommunity s3cret"));
}

#[test]
fn a_converged_twenty_state_tree_costs_one_execution() {
    // The tree bench/highstate.sh times: every module, 20 states.
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    fleet.podman_exec_ok("node1", "rm -rf /srv/halite-noop20");
    let ws = fleet.workspace();
    let tree = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/trees/noop20/states");
    for f in ["top.sls", "noop20.sls"] {
        ws.write(
            &format!("states/{f}"),
            &std::fs::read_to_string(tree.join(f)).unwrap(),
        );
    }
    let (code, first) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(code, 0, "{first}");
    assert_eq!(states(&first).len(), 20, "{first}");
    // grains + gather + apply, and one more gather + apply for the states
    // that could only be planned after earlier ones ran (the symlink and the
    // subdirectory need the directory the run creates).
    assert_eq!(
        first["results"]["node1"]["executions"].as_u64(),
        Some(5),
        "{first}"
    );
    // Converged: a no-op apply is ONE execution (grains are cached), and so is test=True.
    for args in [
        &["node1", "state.apply"][..],
        &["node1", "state.apply", "test=True"][..],
    ] {
        let (code, again) = run(&ws, args);
        assert_eq!(code, 0, "{again}");
        let s = states(&again);
        assert_eq!(s.len(), 20);
        for (id, (result, changed, comment)) in &s {
            assert_eq!(*result, Value::Bool(true), "{id}: {comment}");
            assert!(!changed, "{id} changed again: {again}");
        }
        assert_eq!(
            again["results"]["node1"]["executions"].as_u64(),
            Some(1),
            "{args:?}: one execution for 20 states"
        );
    }
}

#[test]
fn packages_unknown_to_stale_lists_refresh_the_index_once_per_run() {
    // A fresh host's lists know only the drill repository, not Debian's
    // packages: the first pkg state needing one refreshes the index, the
    // second in the same run does not refresh it again.
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    fleet.podman_exec_ok(
        "node1",
        "apt-get -q -y purge hello cowsay sl >/dev/null 2>&1; \
         find /var/lib/apt/lists -maxdepth 1 -type f -name '*debian*' -delete; \
         rm -f /run/halite-apt-refreshed",
    );
    let ws = workspace(
        fleet,
        "hello:\n  pkg.installed: []\ncowsay:\n  pkg.installed:\n    - refresh: True\nsl:\n  pkg.installed: []\n",
    );
    let (code, v) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(code, 0, "{v}");
    let s = states(&v);
    assert!(s["hello"].2.ends_with("(package index refreshed)"), "{v}");
    // Asked for explicitly, a refresh still happens once per run.
    assert!(
        s["cowsay"]
            .2
            .ends_with("(package index already refreshed in this run)"),
        "{v}"
    );
    // Known by now: no refresh at all.
    assert!(!s["sl"].2.contains("package index"), "{v}");
    assert_eq!(changed(&v), ["cowsay", "hello", "sl"], "{v}");
    let (code, again) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(code, 0, "{again}");
    assert!(changed(&again).is_empty(), "{again}");
    fleet.podman_exec_ok(
        "node1",
        "apt-get -q -y purge hello cowsay sl >/dev/null 2>&1 || true",
    );
}

#[test]
fn templates_call_execution_functions_on_the_host() {
    // salt['cmd.run'] runs on the host being rendered for, over the run's
    // own connection (one more execution per call), in SLS files and in
    // file.managed templates alike.
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    fleet.podman_exec_ok(
        "node1",
        "rm -rf /srv/halite-remote && mkdir -p /srv/halite-remote",
    );
    let ws = workspace(
        fleet,
        "{% set uid = salt['cmd.run']('id -u deploy') %}\n\
         /srv/halite-remote/uid:\n  file.managed:\n    - contents: \"deploy={{ uid }}\"\n\
         /srv/halite-remote/kernel:\n  file.managed:\n    - source: salt://kernel.j2\n    - template: jinja\n",
    );
    ws.write(
        "states/kernel.j2",
        "{{ salt['cmd.run']('uname -s') }} {{ salt['pkg.version']('sudo') != '' }}\n",
    );
    let (code, v) = run(&ws, &["node1", "state.apply", "test=True"]);
    assert_eq!(code, 0, "{v}");
    let (code, v) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        fleet.podman_exec_ok("node1", "cat /srv/halite-remote/uid"),
        "deploy=1000\n"
    );
    assert_eq!(
        fleet.podman_exec_ok("node1", "cat /srv/halite-remote/kernel"),
        "Linux True\n"
    );
    // Grains cached: 3 template calls + gather; nothing to apply.
    let (code, again) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(code, 0, "{again}");
    assert!(changed(&again).is_empty(), "{again}");
    assert_eq!(
        again["results"]["node1"]["executions"].as_u64(),
        Some(4),
        "{again}"
    );
    // A function that does not exist is a render error naming it.
    ws.write("states/demo.sls", "{{ salt['nope.nothing']() }}\n");
    let (code, v) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(code, 1, "{v}");
    assert!(v.to_string().contains("nope.nothing"), "{v}");
}

#[test]
fn retry_and_runas_conditions_behave_as_in_salt() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    fleet.podman_exec_ok(
        "node1",
        "rm -rf /srv/halite-retry && mkdir -p /srv/halite-retry",
    );
    let ws = workspace(
        fleet,
        r#"
flaky:
  cmd.run:
    - name: 'n=$(cat /srv/halite-retry/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /srv/halite-retry/n; echo try $n; [ $n -ge 3 ]'
    - retry:
        attempts: 5
        interval: 1
never:
  cmd.run:
    - name: 'echo no; false'
    - retry: {attempts: 2, interval: 1}
as-deploy:
  cmd.run:
    - name: echo ran
    - unless: '[ "$(id -un)" = deploy ]'
    - runas: deploy
as-root:
  cmd.run:
    - name: echo ran
    - unless: '[ "$(id -un)" = deploy ]'
"#,
    );
    let (code, v) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(code, 1, "never fails: {v}");
    let s = states(&v);
    assert_eq!(s["flaky"].0, Value::Bool(true), "{v}");
    assert!(s["flaky"].2.ends_with("(after 3 attempts)"), "{v}");
    assert_eq!(
        fleet.podman_exec_ok("node1", "cat /srv/halite-retry/n"),
        "3\n"
    );
    let flaky = v["results"]["node1"]["ret"]
        .as_object()
        .unwrap()
        .values()
        .find(|s| s["__id__"] == "flaky")
        .unwrap();
    assert_eq!(
        flaky["changes"]["stdout"], "try 3",
        "only the last attempt's output: {v}"
    );
    assert_eq!(s["never"].0, Value::Bool(false), "{v}");
    assert!(s["never"].2.contains("(after 2 attempts)"), "{v}");
    // unless runs as the state's runas user, as in Salt.
    assert_eq!(
        s["as-deploy"],
        (Value::Bool(true), false, "unless condition is true".into()),
        "{v}"
    );
    assert_eq!(s["as-root"].0, Value::Bool(true), "{v}");
    assert!(
        s["as-root"].1,
        "as root the unless is false, so it ran: {v}"
    );
}

#[test]
fn listen_reacts_at_the_end_of_the_run() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    fleet.podman_exec_ok(
        "node1",
        "rm -rf /srv/halite-listen && mkdir -p /srv/halite-listen",
    );
    let ws = workspace(
        fleet,
        r#"
/srv/halite-listen/conf:
  file.managed:
    - contents: listened
cron:
  service.running:
    - listen:
      - file: /srv/halite-listen/conf
later:
  cmd.run:
    - name: cut -d' ' -f1 /proc/uptime > /srv/halite-listen/later
    - require:
      - service: cron
"#,
    );
    let (code, v) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(code, 0, "{v}");
    let s = states(&v);
    assert!(
        s["cron"]
            .2
            .ends_with("reacted at the end of the run (listen)"),
        "{v}"
    );
    // The restart came after `later`, which runs after cron in order.
    let later: f64 = fleet
        .podman_exec_ok("node1", "cat /srv/halite-listen/later")
        .trim()
        .parse()
        .unwrap();
    let started: f64 = fleet
        .podman_exec_ok(
            "node1",
            "systemctl show cron -p ActiveEnterTimestampMonotonic --value",
        )
        .trim()
        .parse::<f64>()
        .unwrap()
        / 1e6;
    assert!(
        started >= later,
        "cron restarted at {started}, later ran at {later}"
    );
    // Nothing listened to changed: no reaction.
    let (code, again) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(code, 0, "{again}");
    assert!(!states(&again)["cron"].1, "{again}");
}

#[test]
fn prereq_runs_before_its_target_only_when_the_target_will_change() {
    // Salt's example: take the site down only when its code is about to change.
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    fleet.podman_exec_ok(
        "node1",
        "rm -rf /srv/halite-prereq && mkdir -p /srv/halite-prereq",
    );
    let ws = workspace(
        fleet,
        r#"
graceful-down:
  cmd.run:
    - name: test -e /srv/halite-prereq/code && echo "down before {{ pillar.get('v', 1) }}" >> /srv/halite-prereq/log || echo "first {{ pillar.get('v', 1) }}" >> /srv/halite-prereq/log
    - prereq:
      - file: site-code
site-code:
  file.managed:
    - name: /srv/halite-prereq/code
    - contents: "v{{ pillar.get('v', 1) }}"
"#,
    );
    let (code, p) = run(&ws, &["node1", "state.apply", "test=True"]);
    assert_eq!(code, 0, "{p}");
    let s = states(&p);
    assert_eq!(s["graceful-down"].0, Value::Null, "{p}");
    assert_eq!(s["site-code"].0, Value::Null, "{p}");
    let (code, v) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(changed(&v), ["graceful-down", "site-code"], "{v}");
    assert_eq!(
        fleet.podman_exec_ok("node1", "cat /srv/halite-prereq/log"),
        "first 1\n"
    );
    // Nothing to change: the prereq state does not run either.
    let (code, v) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(code, 0, "{v}");
    assert!(changed(&v).is_empty(), "{v}");
    let (_, p) = run(&ws, &["node1", "state.apply", "test=True"]);
    assert!(
        states(&p).values().all(|(r, _, _)| *r == Value::Bool(true)),
        "{p}"
    );
    // A new version: the prereq runs first, while the old code is still there.
    let (code, v) = run(&ws, &["node1", "state.apply", "pillar={\"v\": 2}"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(changed(&v), ["graceful-down", "site-code"], "{v}");
    assert_eq!(
        fleet.podman_exec_ok(
            "node1",
            "cat /srv/halite-prereq/log; cat /srv/halite-prereq/code"
        ),
        "first 1\ndown before 2\nv2\n"
    );
}

#[test]
fn cmd_wait_reacts_to_watched_changes_and_cmd_script_ships_a_script() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    fleet.podman_exec_ok(
        "node1",
        "rm -rf /srv/halite-cmd && mkdir -p /srv/halite-cmd && chown nobody /srv/halite-cmd",
    );
    let ws = workspace(
        fleet,
        r#"
/srv/halite-cmd/conf:
  file.managed:
    - contents: {{ pillar.get('conf', 'one') }}
reload:
  cmd.wait:
    - name: echo "reloaded $(cat /srv/halite-cmd/conf)" | tee -a /srv/halite-cmd/log
    - watch:
      - file: /srv/halite-cmd/conf
report:
  cmd.script:
    - source: salt://scripts/report.sh
    - template: jinja
    - args: "first 'second word'"
    - runas: nobody
    - cwd: /srv/halite-cmd
    - creates: /srv/halite-cmd/report
"#,
    );
    ws.write(
        "states/scripts/report.sh",
        "#!/bin/sh\n# rendered for {{ grains['id'] }}\nset -e\nprintf '%s\\n' \"$(id -un)\" \"$1\" \"$2\" '{{ grains['id'] }}' > report\ncat report\n",
    );
    // test=True: the script would run; the wait reacts only because the
    // file would change.
    let (code, t) = run(&ws, &["node1", "state.apply", "test=True"]);
    assert_eq!(code, 0, "{t}");
    let s = states(&t);
    assert_eq!(s["reload"].0, Value::Null, "{t}");
    assert!(s["reload"].2.contains("would react"), "{t}");
    assert_eq!(s["report"].0, Value::Null, "{t}");
    assert!(
        !fleet
            .podman_exec("node1", "test -e /srv/halite-cmd/log")
            .success(),
        "test=True ran the command"
    );

    let (code, v) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(code, 0, "{v}");
    let ret = &v["results"]["node1"]["ret"];
    let by_id = |id: &str| {
        ret.as_object()
            .unwrap()
            .values()
            .find(|s| s["__id__"] == id)
            .unwrap_or_else(|| panic!("no {id}: {v}"))
            .clone()
    };
    assert_eq!(by_id("reload")["changes"]["stdout"], "reloaded one", "{v}");
    assert_eq!(
        by_id("report")["changes"]["stdout"],
        "nobody\nfirst\nsecond word\nnode1",
        "{v}"
    );
    assert_eq!(
        fleet
            .podman_exec_ok("node1", "stat -c %U /srv/halite-cmd/report")
            .trim(),
        "nobody"
    );
    // No temp copy of the script is left behind.
    assert_eq!(
        fleet
            .podman_exec_ok("node1", "ls -d /tmp/halite-script.* 2>/dev/null | wc -l")
            .trim(),
        "0"
    );

    // Nothing watched changed: the wait stays quiet, the script is guarded.
    let (code, again) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(code, 0, "{again}");
    assert!(changed(&again).is_empty(), "{again}");
    // The watched file changes: the wait runs again, once.
    let (code, v) = run(&ws, &["node1", "state.apply", "pillar={conf: two}"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(changed(&v), ["/srv/halite-cmd/conf", "reload"], "{v}");
    assert_eq!(
        fleet.podman_exec_ok("node1", "cat /srv/halite-cmd/log"),
        "reloaded one\nreloaded two\n"
    );
    // A failing reaction fails the state and the run.
    ws.write(
        "states/demo.sls",
        "/srv/halite-cmd/conf:\n  file.managed:\n    - contents: three\nreload:\n  cmd.wait:\n    - name: echo broken; exit 3\n    - watch:\n      - file: /srv/halite-cmd/conf\n",
    );
    let (code, v) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(code, 1, "{v}");
    let s = states(&v);
    assert_eq!(s["reload"].0, Value::Bool(false), "{v}");
    assert!(s["reload"].2.contains("exit code 3"), "{v}");
    fleet.podman_exec_ok("node1", "rm -rf /srv/halite-cmd");
}

/// The newer modules keep the speed rule: once converged, a run of
/// file.recurse, archive.extracted, ssh_auth, cron and cmd.wait states is
/// one execution, changes nothing, and test=True agrees.
#[test]
fn newer_modules_converge_to_one_execution() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    fleet.podman_exec(
        "node1",
        "rm -rf /srv/halite-newer /var/cache/halite/archive; userdel -r hlt-newer >/dev/null 2>&1; crontab -r -u root >/dev/null 2>&1; true",
    );
    let ws = workspace(
        fleet,
        r#"
{% set root = '/srv/halite-newer' %}
{{ root }}/tree:
  file.recurse:
    - source: salt://files/tree
    - makedirs: True
    - clean: True
{{ root }}/app:
  archive.extracted:
    - source: salt://files/app.tar.gz
hlt-newer:
  user.present: []
key:
  ssh_auth.present:
    - name: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHaliteNewerModulesKey0001 newer
    - user: hlt-newer
    - require:
      - user: hlt-newer
/usr/local/bin/halite-newer:
  cron.present:
    - special: '@daily'
reload:
  cmd.wait:
    - name: echo reloaded
    - watch:
      - file: {{ root }}/tree
"#,
    );
    ws.write("states/files/tree/a.conf", "a\n");
    ws.write("states/files/tree/sub/b.conf", "b {{ grains['id'] }}\n");
    let src = ws.path().join("states/files/appsrc");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("VERSION"), "1\n").unwrap();
    let ok = std::process::Command::new("tar")
        .arg("-czf")
        .arg(ws.path().join("states/files/app.tar.gz"))
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status()
        .unwrap();
    assert!(ok.success());

    let (code, first) = run(&ws, &["node1", "state.apply"]);
    assert_eq!(code, 0, "{first}");
    assert_eq!(
        changed(&first),
        [
            "/srv/halite-newer/app",
            "/srv/halite-newer/tree",
            "/usr/local/bin/halite-newer",
            "hlt-newer",
            "key",
            "reload"
        ],
        "{first}"
    );
    for args in [
        &["node1", "state.apply"][..],
        &["node1", "state.apply", "test=True"][..],
    ] {
        let (code, again) = run(&ws, args);
        assert_eq!(code, 0, "{again}");
        for (id, (result, changed, comment)) in states(&again) {
            assert_eq!(result, Value::Bool(true), "{id}: {comment}");
            assert!(!changed, "{id} changed again: {again}");
        }
        assert_eq!(
            again["results"]["node1"]["executions"].as_u64(),
            Some(1),
            "{args:?}: {again}"
        );
    }
    fleet.podman_exec(
        "node1",
        "rm -rf /srv/halite-newer /var/cache/halite/archive /var/lib/halite; userdel -r hlt-newer >/dev/null 2>&1; crontab -r -u root >/dev/null 2>&1; true",
    );
}
