//! Fleet tests on the platform test hosts (`fleet.sh up-platforms`, see
//! tests/fleet/README.md): `rhel` (dnf), `suse` (zypper), `arch` (pacman),
//! `openrc` and `sysv` (Debian without systemd). Each is Debian underneath;
//! what these tests prove is that halite names each platform as Salt does
//! (its grains, so `-G os_family:RedHat` finds the rhel host), that the
//! package manager is chosen by the family although apt-get is on every host,
//! and that the hosts' own tools and repositories work through halite.

mod harness;

use harness::{run_json as run, Fleet};
use serde_json::Value;

/// The hosts a run answered for, sorted.
fn targeted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["results"].as_object().unwrap().keys().cloned().collect();
    out.sort();
    out
}

/// Salt's own grains for each host's release files (tests/compat/gen_os_grains.py).
fn salt_os_grains() -> Value {
    serde_json::from_str(include_str!("compat/os_grains.json")).unwrap()
}

/// Each host's `pkg_manager` and `init`.
const EXPECTED: &[(&str, &str, &str)] = &[
    ("rhel", "dnf", "systemd"),
    ("suse", "zypper", "systemd"),
    ("arch", "pacman", "systemd"),
    ("openrc", "apt", "openrc"),
    ("sysv", "apt", "sysvinit"),
];

#[test]
fn grains_name_each_platform_as_salt_does() {
    let fleet = Fleet::get_platforms();
    let ws = fleet.workspace();
    let (code, v) = run(&ws, &["*", "grains.items"]);
    assert_eq!(code, 0, "{v}");
    let salt = salt_os_grains();
    for (id, pkg, init) in EXPECTED {
        let g = &v["results"][id]["ret"];
        let want = &salt["cases"][id]["salt"];
        for (key, value) in want.as_object().unwrap() {
            assert_eq!(&g[key], value, "{id}: grain {key}");
        }
        for key in ["osmajorrelease", "osfinger", "osrelease_info"] {
            assert_eq!(g.get(key), want.get(key), "{id}: grain {key}");
        }
        assert_eq!(g["pkg_manager"], *pkg, "{id}: pkg_manager");
        assert_eq!(g["init"], *init, "{id}: init");
        assert_eq!(v["results"][id]["executions"], 1, "{id}: one execution");
    }
}

#[test]
fn grain_targeting_finds_each_platform() {
    let ws = Fleet::get_platforms().workspace();
    let cases: &[(&str, &[&str])] = &[
        ("os_family:RedHat", &["rhel"]),
        ("os_family:Suse", &["suse"]),
        ("os_family:Arch", &["arch"]),
        ("os_family:Debian", &["openrc", "sysv"]),
        ("os:Rocky", &["rhel"]),
        ("osmajorrelease:9", &["rhel"]),
        ("pkg_manager:dnf", &["rhel"]),
        ("pkg_manager:zypper", &["suse"]),
        ("pkg_manager:pacman", &["arch"]),
        ("pkg_manager:apt", &["openrc", "sysv"]),
        ("init:openrc", &["openrc"]),
        ("init:sysvinit", &["sysv"]),
        ("init:systemd", &["arch", "rhel", "suse"]),
    ];
    for (grain, want) in cases {
        let (code, v) = run(&ws, &["-G", grain, "grains.items"]);
        assert_eq!(code, 0, "-G {grain}: {v}");
        assert_eq!(targeted(&v), *want, "-G {grain}");
    }
}

/// Each package host's tool installs from its local repository and upgrades
/// from the 1.1 repository once that is added, all through `cmd.run`.
#[test]
fn package_tools_install_and_upgrade_from_local_repositories() {
    let fleet = Fleet::get_platforms();
    let _serial = fleet.serial();
    let ws = fleet.workspace();
    // (host, reset behind halite's back, install, add the 1.1 repo and upgrade, query)
    let hosts: &[(&str, &str, &str, &str, &str)] = &[
        (
            "rhel",
            "rpm -e halite-hello 2>/dev/null; rm -f /etc/yum.repos.d/updates.repo; true",
            "dnf -y -q install halite-hello",
            "printf '[updates]\\nname=updates\\nbaseurl=file:///srv/repo-updates\\ngpgcheck=0\\n' \
             >/etc/yum.repos.d/updates.repo && dnf -y -q upgrade halite-hello",
            "rpm -q halite-hello",
        ),
        (
            "suse",
            "rpm -e halite-hello 2>/dev/null; zypper -n -q rr updates >/dev/null 2>&1; true",
            "zypper -n -q install halite-hello",
            "zypper -n -q ar -G file:///srv/repo-updates updates && zypper -n -q refresh \
             && zypper -n -q update halite-hello",
            "rpm -q halite-hello",
        ),
        (
            "arch",
            "pacman -R --noconfirm halite-hello >/dev/null 2>&1; \
             sed -i '/^\\[halite-updates\\]/,+2d' /etc/pacman.conf; true",
            "pacman -S --noconfirm halite-hello >/dev/null",
            // pacman takes a package from the first repository naming it.
            "sed -i 's|^\\[halite\\]$|[halite-updates]\\nSigLevel = Never\\nServer = \
             file:///srv/repo-updates\\n\\n[halite]|' /etc/pacman.conf \
             && pacman -Sy --noconfirm halite-hello >/dev/null",
            "pacman -Q halite-hello",
        ),
    ];
    for (id, reset, install, upgrade, query) in hosts {
        fleet.podman_exec_ok(id, reset);
        let (code, v) = run(&ws, &[id, "cmd.run", install]);
        assert_eq!(code, 0, "{id}: {install}: {v}");
        let (code, v) = run(&ws, &[id, "cmd.run", query]);
        assert_eq!(code, 0, "{id}: {query}: {v}");
        let installed = v["results"][id]["ret"].as_str().unwrap().to_string();
        assert!(
            installed.starts_with("halite-hello") && installed.contains("1.0-1"),
            "{id}: {installed}"
        );
        let (code, v) = run(&ws, &[id, "cmd.run", upgrade]);
        assert_eq!(code, 0, "{id}: {upgrade}: {v}");
        let (_, v) = run(&ws, &[id, "cmd.run", query]);
        let upgraded = v["results"][id]["ret"].as_str().unwrap().to_string();
        assert!(upgraded.contains("1.1-1"), "{id}: {upgraded}");
        fleet.podman_exec_ok(id, reset);
    }
}

/// The rpm and pacman hosts carry the vulnerable drill package 1.0 (they
/// start with it; put back behind halite's back first, as a drill test may
/// have upgraded it), and its stand-in bash answers the probe through halite.
#[test]
fn package_hosts_carry_the_vulnerable_drill_package() {
    let fleet = Fleet::get_platforms();
    let _serial = fleet.serial();
    let ws = fleet.workspace();
    let reset: &[(&str, &str)] = &[
        (
            "rhel",
            "rpm -U --oldpackage --quiet /srv/repo/halite-drill-1.0-1.noarch.rpm",
        ),
        (
            "suse",
            "rpm -U --oldpackage --quiet /srv/repo/halite-drill-1.0-1.noarch.rpm",
        ),
        (
            "arch",
            "pacman -U --noconfirm /srv/repo/halite-drill-1.0-1-any.pkg.tar.gz",
        ),
    ];
    for (id, cmd) in reset {
        assert!(fleet.host(id).starts_vulnerable(), "{id}");
        let installed = fleet.podman_exec(id, "cat /usr/share/halite-drill/VERSION");
        if installed.stdout.trim() != "1.0" {
            fleet.podman_exec_ok(id, &format!("{cmd} >/dev/null 2>&1"));
        }
    }
    let probe = "env x='() { :;}; echo vulnerable' bash -c 'echo test'";
    let (code, v) = run(&ws, &["-L", "rhel,suse,arch", "cmd.run", probe]);
    assert_eq!(code, 0, "{v}");
    for (id, _) in reset {
        assert_eq!(v["results"][id]["ret"], "vulnerable\ntest", "{id}");
    }
}

/// sshd runs as an OpenRC service on `openrc` and from /etc/init.d on `sysv`,
/// and each init's own tools answer through halite.
#[test]
fn non_systemd_hosts_run_their_services_with_their_own_init() {
    let fleet = Fleet::get_platforms();
    let ws = fleet.workspace();
    let (code, v) = run(
        &ws,
        &[
            "openrc",
            "cmd.run",
            "rc-service sshd status; cat /proc/1/comm",
        ],
    );
    assert_eq!(code, 0, "{v}");
    let out = v["results"]["openrc"]["ret"].as_str().unwrap();
    assert!(out.contains("status: started"), "{out}");
    assert!(out.ends_with("openrc-init"), "{out}");
    let (code, v) = run(&ws, &["openrc", "cmd.run", "rc-update show default"]);
    assert_eq!(code, 0, "{v}");
    assert!(
        v["results"]["openrc"]["ret"]
            .as_str()
            .unwrap()
            .contains("sshd | default"),
        "{v}"
    );
    let (code, v) = run(
        &ws,
        &[
            "sysv",
            "cmd.run",
            "service ssh status; test -d /run/systemd/system || echo no-systemd",
        ],
    );
    assert_eq!(code, 0, "{v}");
    let out = v["results"]["sysv"]["ret"].as_str().unwrap();
    assert!(out.contains("sshd is running"), "{out}");
    assert!(out.ends_with("no-systemd"), "{out}");
    assert_eq!(
        fleet.host("openrc").system_state.as_deref(),
        Some("openrc:default")
    );
    assert_eq!(
        fleet.host("sysv").system_state.as_deref(),
        Some("sysvinit:N 2")
    );
}
