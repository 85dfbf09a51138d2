//! Integration tests against the real test fleet (Debian hosts in podman,
//! reached over SSH on 127.0.0.1; see tests/fleet/fleet.sh and tests/harness).
//!
//! This one binary holds every test that needs the fleet, so the fleet is brought
//! up once per run. To add tests, write a folder module `tests/NAME/mod.rs` and
//! declare it here with `mod NAME;`: cargo builds only `tests/*.rs` and
//! `tests/*/main.rs` as test binaries, so such a folder is compiled only through
//! this file (as `tests/harness/` is). Tests that change host state hold
//! `Fleet::serial()` while they do.
//!
//! The smoke tests here check the fleet itself and do not use halite's CLI.

mod harness;

use harness::{Fleet, FLEET_SIZE};

#[test]
fn fleet_json_lists_the_running_hosts_and_the_stopped_one() {
    let fleet = Fleet::get();
    let running: Vec<_> = fleet.running().collect();
    assert_eq!(running.len(), FLEET_SIZE, "running hosts: {running:#?}");
    for (i, host) in running.iter().enumerate() {
        assert_eq!(host.id, format!("node{}", i + 1));
        assert_eq!(host.address, "127.0.0.1");
        assert!(
            host.host_key.starts_with("ssh-ed25519 "),
            "{}: {}",
            host.id,
            host.host_key
        );
        assert_eq!(host.starts_vulnerable(), (i + 1) % 2 == 1, "{host:?}");
    }
    let down: Vec<_> = fleet.hosts.iter().filter(|h| !h.running).collect();
    assert_eq!(down.len(), 1, "stopped hosts: {down:#?}");
    assert_eq!(down[0].id, "down");

    // Every host is its own machine: distinct ports and host keys.
    let mut ports: Vec<_> = fleet.hosts.iter().map(|h| h.port).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), fleet.hosts.len(), "ports are not distinct");
    let mut keys: Vec<_> = fleet.hosts.iter().map(|h| h.host_key.as_str()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), fleet.hosts.len(), "host keys are not distinct");

    // Two Debian releases, so `osrelease` differs across the fleet.
    let mut releases: Vec<_> = running.iter().map(|h| h.release.as_str()).collect();
    releases.sort();
    releases.dedup();
    assert_eq!(releases.len(), 2, "releases: {releases:?}");

    // The stopped host's port refuses connections.
    let down = fleet.down_host();
    let err = std::net::TcpStream::connect_timeout(
        &format!("127.0.0.1:{}", down.port).parse().unwrap(),
        std::time::Duration::from_secs(5),
    )
    .expect_err("the stopped host's port accepted a connection");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn hosts_answer_ssh_with_their_recorded_keys_users_and_drill_state() {
    let fleet = Fleet::get();
    let ws = fleet.workspace();
    let _turn = fleet.serial();
    let probe = "env x='() { :;}; echo vulnerable' bash -c 'echo test'";
    std::thread::scope(|s| {
        for host in fleet.running() {
            let ws = &ws;
            s.spawn(move || {
                let kh = ws.known_hosts();
                // StrictHostKeyChecking=yes against the workspace's known_hosts:
                // proves fleet.json recorded the key this host really serves.
                fleet.ssh(host, "root", &kh, "true").assert_success();

                let deploy = fleet.ssh(host, "deploy", &kh, "sudo -n true");
                deploy.assert_success();

                let alice = fleet.ssh(host, "alice", &kh, "sudo -n true");
                assert!(
                    !alice.success(),
                    "alice got sudo without a password:\n{alice}"
                );
                assert!(alice.stderr.contains("password"), "{alice}");

                // Odd hosts start on halite-drill 1.0 (the emulated CVE-2014-6271).
                fleet.reset_drill(&host.id);
                let out = fleet.ssh(host, "root", &kh, probe);
                out.assert_success();
                let expected = if host.starts_vulnerable() {
                    "vulnerable\ntest\n"
                } else {
                    "test\n"
                };
                assert_eq!(out.stdout, expected, "{}: {out}", host.id);
            });
        }
    });
}

#[test]
fn workspace_inventory_loads_with_halites_own_loader() {
    let fleet = Fleet::get();
    let ws = fleet.workspace();
    let inv = halite::inventory::Inventory::load(&ws.inventory_dir())
        .unwrap_or_else(|e| panic!("{e}\n{}", ws.read("inventory/hosts.yaml")));
    assert_eq!(inv.hosts.len(), FLEET_SIZE + 1);
    let node1 = &inv.hosts["node1"];
    assert_eq!(node1.host, "127.0.0.1");
    assert_eq!(node1.port, fleet.host("node1").port);
    assert_eq!(node1.identity.as_deref(), Some(fleet.private_key.as_path()));
    assert_eq!(node1.grains["roles"][0], "web");
    assert!(inv.groups.contains_key("webs"));
    assert_eq!(
        ws.read("known_hosts").lines().count(),
        fleet.hosts.len(),
        "one known_hosts line per host"
    );
}
