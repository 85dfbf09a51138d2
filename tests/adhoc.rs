//! Fleet tests of ad-hoc execution: the real `halite` binary against real
//! Debian hosts (systemd + OpenSSH in podman, see tests/fleet/fleet.sh).
//! Covers ping, cmd.run, grains and their cache, every matcher, pkg and
//! service functions, sudo, unreachable hosts, host keys, batches, the fail
//! limit, the job cache, and the Shellshock drill.

mod harness;

use harness::{run_json as run, Fleet};
use serde_json::Value;

fn ids(v: &Value, status: &str) -> Vec<String> {
    let mut out: Vec<String> = v["results"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["status"] == status)
        .map(|(id, _)| id.clone())
        .collect();
    out.sort();
    out
}

fn targeted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["results"].as_object().unwrap().keys().cloned().collect();
    out.sort();
    out
}

#[test]
fn ping_reports_the_stopped_host_unreachable_and_the_rest_ok() {
    let ws = Fleet::get().workspace();
    let (code, v) = run(&ws, &["*", "test.ping"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(ids(&v, "ok"), ["node1", "node2", "node3", "node4"]);
    assert_eq!(ids(&v, "unreachable"), ["down"]);
    assert!(
        v["results"]["down"]["error"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{v}"
    );
    for n in ["node1", "node2", "node3", "node4"] {
        assert_eq!(v["results"][n]["ret"], true);
        assert_eq!(v["results"][n]["executions"], 1);
    }
    let (code, _) = run(&ws, &["node*", "test.ping"]);
    assert_eq!(code, 0);
}

#[test]
fn cmd_run_keeps_output_exit_codes_and_quoting() {
    let ws = Fleet::get().workspace();
    let (code, v) = run(
        &ws,
        &[
            "node1",
            "cmd.run",
            "hostname; echo 'it''s \"quoted\" $HOME'; echo \"$HOME\"",
        ],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["results"]["node1"]["ret"],
        "node1\nits \"quoted\" $HOME\n/root"
    );
    let (code, v) = run(
        &ws,
        &["node1", "cmd.run_all", "echo out; echo err >&2; exit 4"],
    );
    assert_eq!(code, 1);
    let r = &v["results"]["node1"];
    assert_eq!(r["status"], "failed");
    assert_eq!(r["ret"]["stdout"], "out");
    assert_eq!(r["ret"]["stderr"], "err");
    assert_eq!(r["ret"]["retcode"], 4);
    let (code, v) = run(&ws, &["node1", "cmd.retcode", "exit 0"]);
    assert_eq!((code, &v["results"]["node1"]["ret"]), (0, &Value::from(0)));
    // Values reach the shell only quoted: a hostile cwd is a directory name, not code.
    let (_, v) = run(
        &ws,
        &["node1", "cmd.run", "pwd", "cwd=/tmp/$(touch /tmp/pwned)"],
    );
    assert_eq!(v["results"]["node1"]["status"], "failed");
    let (_, v) = run(&ws, &["node1", "cmd.run", "ls /tmp/pwned || echo safe"]);
    assert!(
        v["results"]["node1"]["ret"]
            .as_str()
            .unwrap()
            .contains("safe"),
        "{v}"
    );
}

#[test]
fn command_timeout_fails_the_host_not_the_run() {
    let ws = Fleet::get().workspace();
    let t = std::time::Instant::now();
    let (code, v) = run(
        &ws,
        &["-t", "1", "-L", "node1,node2", "cmd.run", "sleep 20"],
    );
    assert_eq!(code, 1);
    assert!(t.elapsed().as_secs() < 10);
    assert_eq!(ids(&v, "failed"), ["node1", "node2"]);
    assert!(
        v["results"]["node1"]["error"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{v}"
    );
}

#[test]
fn grains_are_gathered_in_one_execution_and_cached() {
    let ws = Fleet::get().workspace();
    let (code, v) = run(&ws, &["node*", "grains.items"]);
    assert_eq!(code, 0, "{v}");
    for n in ["node1", "node2", "node3", "node4"] {
        let g = &v["results"][n]["ret"];
        assert_eq!(g["id"], n);
        assert_eq!(g["os"], "Debian");
        assert_eq!(g["os_family"], "Debian");
        assert_eq!(g["kernel"], "Linux");
        assert_eq!(g["init"], "systemd");
        assert_eq!(g["pkg_manager"], "apt");
        assert_eq!(g["virtual"], "container");
        assert!(g["num_cpus"].as_u64().unwrap() >= 1);
        assert!(g["mem_total"].as_u64().unwrap() > 0);
        assert!(g["ipv4"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "127.0.0.1"));
        assert_eq!(v["results"][n]["executions"], 1, "grains in one execution");
    }
    assert_eq!(v["results"]["node1"]["ret"]["oscodename"], "bookworm");
    assert_eq!(v["results"]["node1"]["ret"]["osmajorrelease"], 12);
    assert_eq!(v["results"]["node4"]["ret"]["osmajorrelease"], 13);
    // Static inventory grains win over gathered ones.
    assert!(v["results"]["node1"]["ret"]["roles"].is_array());
    // Second run: from the cache, no remote execution at all.
    let (_, v) = run(&ws, &["node1", "grains.get", "oscodename"]);
    assert_eq!(v["results"]["node1"]["ret"], "bookworm");
    assert_eq!(v["results"]["node1"]["executions"], 0);
    let (_, v) = run(
        &ws,
        &["--refresh-grains", "node1", "grains.get", "oscodename"],
    );
    assert_eq!(v["results"]["node1"]["executions"], 1);
}

#[test]
fn every_matcher_type_on_the_fleet() {
    let ws = Fleet::get().workspace();
    let cases: &[(&[&str], &[&str])] = &[
        (&["node[12]"], &["node1", "node2"]),
        (&["-E", r"node[3-9]"], &["node3", "node4"]),
        (&["-L", "node1,node4"], &["node1", "node4"]),
        (&["-G", "oscodename:trixie"], &["node4"]),
        (&["-G", "os:debian"], &["node1", "node2", "node3", "node4"]),
        (
            &["-P", "oscodename:(bookworm|buster)"],
            &["node1", "node2", "node3"],
        ),
        (
            &["-S", "127.0.0.0/8"],
            &["node1", "node2", "node3", "node4"],
        ),
        (
            &["-C", "G@oscodename:bookworm and not node1"],
            &["node2", "node3"],
        ),
        (
            &["-C", "( node1 or E@node4 ) and G@kernel:Linux"],
            &["node1", "node4"],
        ),
        (&["-N", "webs"], &["node1", "node3"]),
        (&["-C", "N@dbs and G@roles:db"], &["node2", "node4"]),
    ];
    // Grains are gathered on first use; the stopped host is reported, not dropped.
    for (flags, expect) in cases {
        let mut args: Vec<&str> = flags.to_vec();
        if !flags[0].starts_with('-') {
            args.clear();
            args.push(flags[0]);
        }
        args.push("test.ping");
        let (code, v) = run(&ws, &args);
        let ok = ids(&v, "ok");
        assert_eq!(ok, *expect, "{flags:?}: {v}");
        let needs_grains = matches!(flags[0], "-G" | "-P" | "-S" | "-C");
        if needs_grains {
            assert_eq!(ids(&v, "unreachable"), ["down"], "{flags:?}");
            assert_eq!(code, 1);
        } else {
            assert_eq!(code, 0, "{flags:?}: {v}");
            assert_eq!(targeted(&v), *expect);
        }
    }
}

#[test]
fn grain_targeting_works_on_the_very_first_run_and_reuses_the_connection() {
    let ws = Fleet::get().workspace();
    let (_, v) = run(&ws, &["-G", "oscodename:trixie", "cmd.run", "echo hi"]);
    assert_eq!(v["results"]["node4"]["ret"], "hi");
    // One connection: grain script + command = 2 executions.
    assert_eq!(v["results"]["node4"]["executions"], 2);
    // Next run uses the cached grains: 1 execution.
    let (_, v) = run(&ws, &["-G", "oscodename:trixie", "cmd.run", "echo hi"]);
    assert_eq!(v["results"]["node4"]["executions"], 1);
}

#[test]
fn pkg_install_version_remove_of_a_real_package() {
    let _serial = Fleet::get().serial();
    let fleet = Fleet::get();
    let ws = fleet.workspace();
    fleet.podman_exec("node2", "apt-get purge -y -q sl >/dev/null 2>&1 || true");
    let (code, v) = run(&ws, &["node2", "pkg.install", "sl", "refresh=True"]);
    assert_eq!(code, 0, "{v}");
    let new = v["results"]["node2"]["ret"]["sl"]["new"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!new.is_empty(), "{v}");
    assert_eq!(v["results"]["node2"]["ret"]["sl"]["old"], "");
    let (_, v) = run(&ws, &["node2", "pkg.version", "sl"]);
    assert_eq!(v["results"]["node2"]["ret"], new.as_str());
    let out = fleet.podman_exec_ok("node2", "dpkg-query -W -f='${Version}' sl");
    assert_eq!(out.trim(), new);
    // Idempotent: nothing to change.
    let (code, v) = run(&ws, &["node2", "pkg.install", "sl"]);
    assert_eq!(code, 0);
    assert_eq!(v["results"]["node2"]["ret"], serde_json::json!({}));
    let (code, v) = run(&ws, &["node2", "pkg.remove", "sl"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["results"]["node2"]["ret"]["sl"]["new"], "");
    // A package that does not exist: a failure with apt's words, exit 1.
    let (code, v) = run(&ws, &["node2", "pkg.install", "halite-no-such-package"]);
    assert_eq!(code, 1);
    assert_eq!(v["results"]["node2"]["status"], "failed");
    assert!(
        v["results"]["node2"]["ret"]
            .to_string()
            .contains("halite-no-such-package"),
        "{v}"
    );
}

#[test]
fn service_functions_drive_systemd() {
    let fleet = Fleet::get();
    let ws = fleet.workspace();
    let unit = "[Unit]\nDescription=halite test\n[Service]\nExecStart=/bin/sleep infinity\nExecReload=/bin/true\n[Install]\nWantedBy=multi-user.target\n";
    let (code, v) = run(&ws, &[
        "node3",
        "cmd.run",
        "cat > /etc/systemd/system/halite-demo.service && systemctl daemon-reload && systemctl stop halite-demo; systemctl disable halite-demo 2>/dev/null; true",
        // A value with a newline is positional in Salt's parse_input, so the
        // unit goes as a YAML double-quoted string, as a Salt user writes it.
        &format!("stdin={}", serde_json::to_string(unit).unwrap()),
    ]);
    assert_eq!(code, 0, "{v}");
    let ret = |args: &[&str]| {
        let mut all = vec!["node3"];
        all.extend_from_slice(args);
        let (code, v) = run(&ws, &all);
        (code, v["results"]["node3"]["ret"].clone())
    };
    // A status query that answers "not running" is a successful query.
    assert_eq!(
        ret(&["service.status", "halite-demo"]),
        (0, Value::Bool(false))
    );
    assert_eq!(
        ret(&["service.start", "halite-demo"]),
        (0, Value::Bool(true))
    );
    assert_eq!(
        ret(&["service.status", "halite-demo"]),
        (0, Value::Bool(true))
    );
    let pid = |fleet: &Fleet| {
        fleet.podman_exec_ok("node3", "systemctl show -p MainPID --value halite-demo")
    };
    let before = pid(fleet);
    assert_eq!(
        ret(&["service.restart", "halite-demo"]),
        (0, Value::Bool(true))
    );
    assert_ne!(pid(fleet), before, "restart gives a new process");
    assert_eq!(
        ret(&["service.reload", "halite-demo"]),
        (0, Value::Bool(true))
    );
    assert_eq!(
        ret(&["service.enabled", "halite-demo"]).1,
        Value::Bool(false)
    );
    assert_eq!(
        ret(&["service.enable", "halite-demo"]),
        (0, Value::Bool(true))
    );
    assert_eq!(
        ret(&["service.enabled", "halite-demo"]).1,
        Value::Bool(true)
    );
    assert_eq!(
        ret(&["service.disable", "halite-demo"]),
        (0, Value::Bool(true))
    );
    assert_eq!(
        ret(&["service.stop", "halite-demo"]),
        (0, Value::Bool(true))
    );
    assert_eq!(
        ret(&["service.status", "halite-demo"]).1,
        Value::Bool(false)
    );
    let (code, _) = ret(&["service.start", "halite-no-such-unit"]);
    assert_eq!(code, 1);
}

#[test]
fn non_root_users_with_and_without_sudo() {
    let fleet = Fleet::get();
    let node1 = fleet.host("node1");
    let spec = format!(
        "host: 127.0.0.1, port: {}, identity: {}",
        node1.port,
        fleet.private_key.display()
    );
    let ws = fleet
        .workspace_builder()
        .inventory_file(
            "users.yaml",
            &format!("hosts:\n  as-deploy: {{{spec}, user: deploy}}\n  as-deploy-sudo: {{{spec}, user: deploy, sudo: true}}\n  as-alice-sudo: {{{spec}, user: alice, sudo: true}}\n"),
        )
        .build();
    let (code, v) = run(&ws, &["as-*", "cmd.run", "id -un"]);
    assert_eq!(code, 1);
    assert_eq!(v["results"]["as-deploy"]["ret"], "deploy");
    assert_eq!(v["results"]["as-deploy-sudo"]["ret"], "root");
    assert_eq!(v["results"]["as-alice-sudo"]["status"], "auth_failed");
    let e = v["results"]["as-alice-sudo"]["error"].as_str().unwrap();
    assert!(e.contains("sudo") && e.contains("password"), "{e}");
}

#[test]
fn host_keys_are_verified() {
    let fleet = Fleet::get();
    // A changed key: node2's entry replaced by another host's key.
    let ws = fleet.workspace();
    ws.set_known_host("node2", Some(&fleet.host("node1").host_key));
    let (code, v) = run(&ws, &["node*", "test.ping"]);
    assert_eq!(code, 1);
    assert_eq!(v["results"]["node2"]["status"], "host_key");
    let e = v["results"]["node2"]["error"].as_str().unwrap();
    assert!(e.contains("CHANGED") && e.contains("line"), "{e}");
    assert_eq!(ids(&v, "ok"), ["node1", "node3", "node4"]);
    // --accept-new never overrides a changed key.
    let (_, v) = run(&ws, &["--accept-new", "node2", "test.ping"]);
    assert_eq!(v["results"]["node2"]["status"], "host_key");

    // An unknown host: refused with a hint, then trusted on first use.
    let ws = fleet.workspace();
    ws.set_known_host("node1", None);
    let (code, v) = run(&ws, &["node1", "test.ping"]);
    assert_eq!(code, 1);
    assert!(
        v["results"]["node1"]["error"]
            .as_str()
            .unwrap()
            .contains("--accept-new"),
        "{v}"
    );
    let (code, _) = run(&ws, &["--accept-new", "node1", "test.ping"]);
    assert_eq!(code, 0);
    let (code, _) = run(&ws, &["node1", "test.ping"]);
    assert_eq!(code, 0, "the recorded key is used strictly afterwards");
}

#[test]
fn batches_run_in_order_and_the_fail_limit_stops_the_rest() {
    let ws = Fleet::get().workspace();
    let (code, v) = run(&ws, &["-b", "1", "node*", "cmd.run", "sleep 0.3"]);
    assert_eq!(code, 0, "{v}");
    let mut spans: Vec<(String, f64, f64)> = v["results"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, r)| {
            let s = r["started"].as_f64().unwrap();
            (
                id.clone(),
                s,
                s + r["duration_ms"].as_f64().unwrap() / 1000.0,
            )
        })
        .collect();
    spans.sort_by(|a, b| a.1.total_cmp(&b.1));
    let order: Vec<&str> = spans.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(order, ["node1", "node2", "node3", "node4"]);
    for w in spans.windows(2) {
        assert!(
            w[1].1 >= w[0].2 - 0.005,
            "batch window of 1 overlapped: {w:?}"
        );
    }
    // 50% of 4 = 2 at a time.
    let (_, v) = run(&ws, &["-b", "50%", "node*", "cmd.run", "sleep 0.5"]);
    let starts: Vec<f64> = v["results"]
        .as_object()
        .unwrap()
        .values()
        .map(|r| r["started"].as_f64().unwrap())
        .collect();
    let early = starts
        .iter()
        .filter(|s| **s < starts.iter().cloned().fold(f64::MAX, f64::min) + 0.3)
        .count();
    assert_eq!(early, 2, "{v}");
    // `down` sorts first; with a fail limit of 1 nothing else starts.
    let (code, v) = run(
        &ws,
        &["-b", "1", "--batch-fail-limit", "1", "*", "test.ping"],
    );
    assert_eq!(code, 1);
    assert_eq!(ids(&v, "unreachable"), ["down"]);
    assert_eq!(ids(&v, "not_run"), ["node1", "node2", "node3", "node4"]);
}

#[test]
fn job_cache_records_fleet_runs() {
    let ws = Fleet::get().workspace();
    let (_, v) = run(&ws, &["*", "cmd.run", "echo cached"]);
    let jid = v["jid"].as_str().unwrap().to_string();
    let (code, list) = run(&ws, &["jobs", "list"]);
    assert_eq!(code, 0);
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["jid"] == jid.as_str())
        .expect("listed");
    assert_eq!(row["summary"]["ok"], 4);
    assert_eq!(row["summary"]["unreachable"], 1);
    let (_, shown) = run(&ws, &["jobs", "show", &jid]);
    assert_eq!(shown["results"]["node3"]["ret"], "cached");
    assert_eq!(shown["results"]["down"]["status"], "unreachable");
    assert!(shown["results"]["node3"]["duration_ms"].as_u64().is_some());
    let out = ws.halite(["jobs", "show", &jid]);
    assert!(out.stdout.contains("node3:\n    cached"), "{}", out.stdout);
}

/// The users' emergency drill: probe, patch in batches, re-probe.
#[test]
fn shellshock_drill() {
    let _serial = Fleet::get().serial();
    let fleet = Fleet::get();
    let ws = fleet.workspace();
    let probe = fleet.json["drill"]["probe"].as_str().unwrap().to_string();
    // Odd hosts start on the vulnerable 1.0, even ones without the package.
    for n in ["node1", "node2", "node3", "node4"] {
        fleet.reset_drill(n);
    }
    // (a) probe
    let (code, v) = run(&ws, &["-G", "kernel:Linux", "cmd.run", &probe]);
    assert_eq!(code, 1, "the stopped host makes the run fail");
    let vulnerable: Vec<&str> = ["node1", "node2", "node3", "node4"]
        .into_iter()
        .filter(|n| {
            v["results"][n]["ret"]
                .as_str()
                .unwrap()
                .contains("vulnerable")
        })
        .collect();
    assert_eq!(vulnerable, ["node1", "node3"]);
    // (b) roll out the fix in batches of 2
    let (code, v) = run(
        &ws,
        &[
            "-b",
            "2",
            "-G",
            "kernel:Linux",
            "pkg.install",
            "halite-drill",
            "refresh=True",
        ],
    );
    assert_eq!(ids(&v, "ok"), ["node1", "node2", "node3", "node4"], "{v}");
    assert_eq!(code, 1);
    assert_eq!(
        v["results"]["node1"]["ret"]["halite-drill"],
        serde_json::json!({"old": "1.0", "new": "1.1"})
    );
    assert_eq!(
        v["results"]["node2"]["ret"]["halite-drill"],
        serde_json::json!({"old": "", "new": "1.1"})
    );
    // (c) re-probe: nobody is vulnerable, everyone has the new version.
    let (_, v) = run(&ws, &["node*", "cmd.run", &probe]);
    for n in ["node1", "node2", "node3", "node4"] {
        assert_eq!(v["results"][n]["ret"], "test", "{n}: {v}");
    }
    let (code, v) = run(&ws, &["node*", "pkg.version", "halite-drill"]);
    assert_eq!(code, 0);
    for n in ["node1", "node2", "node3", "node4"] {
        assert_eq!(v["results"][n]["ret"], "1.1");
    }
}

/// The drill as a staged rollout: the canary's fix does not take (its apt
/// source is missing), the re-probe in --verify catches it, nothing else is
/// touched; once the canary is fixed, `jobs rerun` finishes the fleet.
#[test]
fn staged_drill_stops_at_a_bad_canary_and_resumes() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    let ws = fleet.workspace();
    let probe = fleet.json["drill"]["probe"].as_str().unwrap().to_string();
    let verify = format!("! ({probe}) 2>&1 | grep -q vulnerable");
    for n in ["node1", "node2", "node3", "node4"] {
        fleet.reset_drill(n);
    }
    let source = "/etc/apt/sources.list.d/halite-drill.list";
    fleet.podman_exec_ok("node1", &format!("mv {source} /root/halite-drill.list.off"));
    let (code, v) = run(
        &ws,
        &[
            "-b",
            "1,50%,100%",
            "--verify",
            &verify,
            "node*",
            "pkg.install",
            "halite-drill",
            "refresh=True",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(v["results"]["node1"]["status"], "failed", "{v}");
    assert!(
        v["results"]["node1"]["error"]
            .as_str()
            .unwrap()
            .contains("verify failed"),
        "{v}"
    );
    assert_eq!(ids(&v, "not_run"), ["node2", "node3", "node4"]);
    assert_eq!(v["stages"], serde_json::json!([["node1"]]));
    // Nobody else was touched.
    assert_eq!(fleet.drill_version("node2"), None);
    assert_eq!(fleet.drill_version("node3").as_deref(), Some("1.0"));
    let jid = v["jid"].as_str().unwrap().to_string();

    fleet.podman_exec_ok("node1", &format!("mv /root/halite-drill.list.off {source}"));
    let (code, v) = run(&ws, &["jobs", "rerun", &jid, "--failed", "--not-run"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["stages"],
        serde_json::json!([["node1"], ["node2", "node3"], ["node4"]])
    );
    for n in ["node1", "node2", "node3", "node4"] {
        assert_eq!(fleet.drill_version(n).as_deref(), Some("1.1"), "{n}");
    }
}

/// The read-only file, status and disk functions on real hosts: one
/// execution each, answers matching what the host itself says.
#[test]
fn file_status_and_disk_functions_answer_from_the_host() {
    let fleet = Fleet::get();
    let ws = fleet.workspace();
    let want = fleet.podman_exec_ok("node1", "sha256sum < /etc/hostname | cut -d' ' -f1");
    let (code, v) = run(
        &ws,
        &["-L", "node1,node2", "file.get_hash", "/etc/hostname"],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["results"]["node1"]["ret"], want.trim(), "{v}");
    assert_eq!(v["results"]["node1"]["executions"], 1, "{v}");
    assert_ne!(
        v["results"]["node1"]["ret"], v["results"]["node2"]["ret"],
        "{v}"
    );

    let (code, v) = run(&ws, &["node1", "file.read", "/etc/os-release"]);
    assert_eq!(code, 0, "{v}");
    assert!(
        v["results"]["node1"]["ret"]
            .as_str()
            .unwrap()
            .contains("ID=debian"),
        "{v}"
    );
    let (code, v) = run(&ws, &["node1", "file.stats", "/etc/shadow"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["results"]["node1"]["ret"]["group"], "shadow", "{v}");
    assert_eq!(v["results"]["node1"]["ret"]["mode"], "0640", "{v}");
    let (code, v) = run(&ws, &["node1", "file.file_exists", "/etc/halite-nope"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["results"]["node1"]["ret"], false, "{v}");
    // A failure is the host's words and exit code 1.
    let (code, v) = run(&ws, &["node1", "file.read", "/etc/halite-nope"]);
    assert_eq!(code, 1, "{v}");
    assert!(
        v["results"]["node1"]["ret"]
            .as_str()
            .unwrap()
            .contains("not a regular file"),
        "{v}"
    );

    let (code, v) = run(&ws, &["node1", "status.loadavg"]);
    assert_eq!(code, 0, "{v}");
    assert!(v["results"]["node1"]["ret"]["15-min"].is_f64(), "{v}");
    let (code, v) = run(&ws, &["node1", "status.uptime"]);
    assert_eq!(code, 0, "{v}");
    assert!(
        v["results"]["node1"]["ret"]["since_t"].as_i64().unwrap() > 1_600_000_000,
        "{v}"
    );
    let (code, v) = run(&ws, &["node1", "status.meminfo"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["results"]["node1"]["ret"]["MemTotal"]["unit"], "kB",
        "{v}"
    );

    let (code, v) = run(&ws, &["node1", "disk.usage"]);
    assert_eq!(code, 0, "{v}");
    assert!(
        v["results"]["node1"]["ret"]["/"]["capacity"]
            .as_str()
            .unwrap()
            .ends_with('%'),
        "{v}"
    );
}
