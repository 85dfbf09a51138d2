//! The emergency drill on a mixed fleet (issue #16 item 4): the Debian
//! fleet's node1 (apt), the `rhel` (dnf) and `suse` (zypper) platform hosts,
//! all on the vulnerable halite-drill 1.0. Probe them by grain, make the
//! fix available where the vendor would (the rpm hosts' updates repository,
//! as pkgrepo states), roll `pkg.latest` out in staged batches with
//! `--verify` (the probe again, on each host right after its change), each
//! host through its own package manager, in ONE run; re-probe; the job
//! record shows every host on the new version. The platform hosts are Debian
//! underneath (tests/fleet/README.md).

mod harness;

use harness::Fleet;
use serde_json::Value;

/// The drill's hosts, by grain: node1 of the Debian family (the openrc and
/// sysv hosts are Debian too, without the drill package), every RedHat and
/// Suse host.
const TARGET: &str = "( G@os_family:Debian and L@node1 ) or G@os_family:RedHat or G@os_family:Suse";
const HOSTS: [&str; 3] = ["node1", "rhel", "suse"];

const RESET_RHEL: &str = "rm -f /etc/yum.repos.d/drill-updates.repo /run/halite-dnf-refreshed; \
    rpm -e halite-drill >/dev/null 2>&1; dnf -q -y install halite-drill >/dev/null 2>&1; \
    rpm -q halite-drill";
const RESET_SUSE: &str =
    "zypper -q rr drill-updates >/dev/null 2>&1; rm -f /run/halite-zypper-refreshed; \
    rpm -e halite-drill >/dev/null 2>&1; zypper -q -n in halite-drill >/dev/null 2>&1; \
    rpm -q halite-drill";

/// Takes the drill's updates repository away again (test end or panic):
/// the other platform tests expect only the hosts' own repositories.
struct Cleanup(&'static Fleet);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for host in ["rhel", "suse"] {
            let _ = self.0.podman_exec(
                host,
                "rm -f /etc/yum.repos.d/drill-updates.repo; \
                 if command -v zypper >/dev/null 2>&1; then zypper -q rr drill-updates >/dev/null 2>&1; fi; true",
            );
        }
    }
}

const REPO_SLS: &str = "{% if grains['os_family'] in ['RedHat', 'Suse'] %}
drill-updates:
  pkgrepo.managed:
    - humanname: drill updates
    - baseurl: file:///srv/repo-updates
    - gpgcheck: False
{% endif %}
";

#[test]
fn the_drill_patches_apt_dnf_and_zypper_hosts_in_one_run() {
    let debian = Fleet::get();
    let platforms = Fleet::get_platforms();
    let _serial = debian.serial();
    let _cleanup = Cleanup(platforms);
    debian.reset_drill("node1");
    for (host, reset) in [("rhel", RESET_RHEL), ("suse", RESET_SUSE)] {
        let out = platforms.podman_exec_ok(host, reset);
        assert!(out.contains("halite-drill-1.0"), "{host}: {out}");
    }
    // One workspace: the platform hosts plus node1, each with its host key.
    let node1 = debian.host("node1");
    let key = debian.private_key.display();
    let ws = platforms
        .workspace_builder()
        .inventory_file(
            "debian.yaml",
            &format!(
                "hosts:\n  node1:\n    host: {}\n    port: {}\n    user: root\n    identity: {key}\n",
                node1.address, node1.port
            ),
        )
        .build();
    let known = format!("{}{}\n", ws.read("known_hosts"), node1.known_hosts_line());
    ws.write("known_hosts", &known);
    let probe = debian.json["drill"]["probe"].as_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let (out, v) = ws.halite_json(args);
        (out.code.unwrap_or(-1), v)
    };

    // (a) probe by grain: the three are vulnerable.
    let (code, v) = run(&["-C", TARGET, "cmd.run", &probe]);
    assert_eq!(code, 0, "{v}");
    let targeted: Vec<&str> = v["targeted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(targeted, HOSTS, "{v}");
    for h in HOSTS {
        assert!(
            v["results"][h]["ret"]
                .as_str()
                .unwrap()
                .contains("vulnerable"),
            "{h}: {v}"
        );
    }
    // (b) the fix where the vendor publishes it: the rpm hosts' repository.
    ws.write("states/drill_repo.sls", REPO_SLS);
    let (code, v) = run(&["-C", TARGET, "state.apply", "drill_repo"]);
    assert_eq!(code, 0, "{v}");
    // (c) ONE staged run: a canary, then the rest, each verified right after.
    let verify = format!("! ({probe}) 2>&1 | grep -q vulnerable");
    let (code, v) = run(&[
        "-b",
        "1,100%",
        "--verify",
        &verify,
        "-C",
        TARGET,
        "state.single",
        "pkg.latest",
        "name=halite-drill",
        "refresh=True",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["stages"].as_array().unwrap().len(), 2, "{v}");
    let jid = v["jid"].as_str().unwrap().to_string();
    // (d) re-probe: nobody is vulnerable.
    let (_, v) = run(&["-C", TARGET, "cmd.run", &probe]);
    for h in HOSTS {
        assert_eq!(v["results"][h]["ret"], "test", "{h}: {v}");
    }
    // (e) the job record: every host changed halite-drill to 1.1.
    let (code, shown) = run(&["jobs", "show", &jid]);
    assert_eq!(code, 0, "{shown}");
    for h in HOSTS {
        let states = shown["results"][h]["ret"]
            .as_object()
            .unwrap_or_else(|| panic!("{h}: {shown}"));
        let s = states.values().next().unwrap();
        assert_eq!(s["result"], Value::Bool(true), "{h}: {s}");
        let new = s["changes"]["halite-drill"]["new"]
            .as_str()
            .unwrap_or_default();
        assert!(new.starts_with("1.1"), "{h}: {s}");
    }
}
