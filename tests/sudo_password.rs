//! sudo with a password on the test fleet (#15 item 3): `alice` (whose
//! sudo asks for her password) applies a state as root with the password
//! from sudo_password_file or sudo_password_env; a wrong password fails
//! the host clearly and quickly; `deploy` (NOPASSWD) gets exactly its own
//! stdin although the password is sent too; `sudo_user` runs as another
//! user. The password appears nowhere: output, debug logs, job cache. An
//! Ansible INI inventory and a salt-ssh roster reach the same hosts.

mod harness;

use std::path::Path;
use std::time::Duration;

use harness::{Fleet, Workspace};
use serde_json::Value;

/// Hosts on node2 as alice and deploy, with sudo; `halite_yaml` says where
/// the password is.
fn workspace(fleet: &'static Fleet, halite_yaml: &str) -> Workspace {
    let node = fleet.host("node2");
    let spec = format!(
        "host: 127.0.0.1, port: {}, identity: {}, sudo: true",
        node.port,
        fleet.private_key.display()
    );
    fleet
        .workspace_builder()
        .inventory_file(
            "sudo.yaml",
            &format!(
                "hosts:\n  alice: {{{spec}, user: alice}}\n  deploy: {{{spec}, user: deploy}}\n  \
                 alice-as-deploy: {{{spec}, user: alice, sudo_user: deploy}}\n  \
                 deploy-as-alice: {{{spec}, user: deploy, sudo_user: alice}}\n"
            ),
        )
        .halite_yaml(halite_yaml)
        .build()
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = e.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path)
            .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        {
            found.push(path.display().to_string());
        }
    }
    found
}

#[test]
fn alice_applies_a_state_as_root_with_the_password_file() {
    let fleet = Fleet::get();
    let ws = workspace(fleet, "sudo_password_file: sudo.pass\n");
    ws.write("sudo.pass", &format!("{}\n", fleet.alice_password));
    let target = "/root/halite-sudo-password-test";
    fleet.podman_exec_ok("node2", &format!("rm -f {target} {target}-long"));
    // Long enough that the apply script travels on stdin, after the password.
    let filler = "x".repeat(150_000);
    ws.write(
        "states/sudo_test.sls",
        &format!(
            "{target}:\n  file.managed:\n    - contents: made by alice through sudo\n\
             {target}-long:\n  file.managed:\n    - contents: {filler}\n"
        ),
    );
    let out = ws.halite(["-v", "--out", "json", "alice", "state.apply", "sudo_test"]);
    assert_eq!(out.code, Some(0), "{out}");
    let owner = fleet.podman_exec_ok(
        "node2",
        &format!("stat -c %U {target}; cat {target}; wc -c < {target}-long"),
    );
    assert_eq!(owner, "root\nmade by alice through sudo\n150001\n");
    // The command's own stdin reaches it whole, after the password.
    let (out, v) = ws.halite_json([
        "-v",
        "alice,deploy",
        "-L",
        "cmd.run",
        "id -un; cat",
        "stdin=\"one\\ntwo\"",
    ]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(v["results"]["alice"]["ret"], "root\none\ntwo", "{v}");
    // deploy's sudo needs no password: the password line must not reach cat.
    assert_eq!(v["results"]["deploy"]["ret"], "root\none\ntwo", "{v}");
    // Nowhere on the controller: output, debug log, job cache, grains cache.
    let pw = fleet.alice_password.as_str();
    assert!(
        !out.stdout.contains(pw) && !out.stderr.contains(pw),
        "{out}"
    );
    assert!(out.stderr.contains("DEBUG"), "debug logging was on: {out}");
    assert_eq!(files_containing(&ws.cache_dir(), pw), Vec::<String>::new());
    fleet.podman_exec_ok("node2", &format!("rm -f {target} {target}-long"));
}

#[test]
fn a_wrong_password_fails_the_host_clearly_and_quickly() {
    let fleet = Fleet::get();
    let ws = workspace(fleet, "sudo_password_env: HALITE_TEST_SUDO_PASSWORD\n");
    let wrong = "not-alices-password";
    let out = harness::run_with_timeout(
        ws.command(["--out", "json", "-L", "alice,deploy", "cmd.run", "id -un"])
            .env("HALITE_TEST_SUDO_PASSWORD", wrong),
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.elapsed < Duration::from_secs(30), "{out}");
    let v: Value = out.json();
    assert_eq!(v["results"]["alice"]["status"], "auth_failed", "{v}");
    let e = v["results"]["alice"]["error"].as_str().unwrap();
    assert_eq!(
        e,
        format!(
            "sudo refused the password for alice on 127.0.0.1:{}",
            fleet.host("node2").port
        )
    );
    assert_eq!(v["results"]["deploy"]["ret"], "root", "{v}");
    assert!(
        !out.stdout.contains(wrong) && !out.stderr.contains(wrong),
        "{out}"
    );
    assert_eq!(
        files_containing(&ws.cache_dir(), wrong),
        Vec::<String>::new()
    );
    // Unset, the variable is a usage error before connecting.
    let out = ws.halite(["alice", "test.ping"]);
    assert_eq!(out.code, Some(2), "{out}");
    assert!(
        out.stderr.contains("HALITE_TEST_SUDO_PASSWORD is not set"),
        "{out}"
    );
}

#[test]
fn sudo_user_runs_commands_as_another_user() {
    let fleet = Fleet::get();
    let ws = workspace(fleet, "sudo_password_file: sudo.pass\n");
    use std::os::unix::fs::PermissionsExt;
    let pass = ws.write("sudo.pass", &fleet.alice_password);
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (out, _) = ws.halite_json(["alice", "test.ping"]);
    assert!(
        out.stderr
            .contains("sudo.pass can be read by other users (mode 644): chmod 600 it"),
        "{out}"
    );
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (out, v) = ws.halite_json([
        "-L",
        "alice-as-deploy,deploy-as-alice",
        "cmd.run",
        "id -un; cat",
        "stdin=x",
    ]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(v["results"]["alice-as-deploy"]["ret"], "deploy\nx", "{v}");
    assert_eq!(v["results"]["deploy-as-alice"]["ret"], "alice\nx", "{v}");
    assert!(!out.stderr.contains("other users"), "{out}");
}

/// `--ask-sudo-pass` on a terminal (script(1) gives halite one): one
/// prompt, the typed password is not echoed, and alice's sudo accepts it.
#[test]
fn ask_sudo_pass_prompts_once_without_echo() {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    if Command::new("script").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("HALITE_REQUIRE_TOOLS").is_none(),
            "script(1) is not installed, and HALITE_REQUIRE_TOOLS is set"
        );
        eprintln!("SKIPPED: ask_sudo_pass_prompts_once_without_echo: script(1) is not installed");
        return;
    }
    let fleet = Fleet::get();
    let ws = workspace(fleet, "");
    let line = format!(
        "{} --inventory {} --known-hosts {} --ask-sudo-pass --out json -L alice,deploy cmd.run 'id -un'",
        env!("CARGO_BIN_EXE_halite"),
        ws.inventory_dir().display(),
        ws.known_hosts().display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(ws.path())
        .env("HALITE_CACHE_DIR", ws.cache_dir())
        .env("NO_COLOR", "1")
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    // Type the password once the prompt is there, and a moment later:
    // rpassword prints the prompt before it turns echo off.
    while !String::from_utf8_lossy(&seen).contains("(not echoed): ") {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "no prompt: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    std::thread::sleep(Duration::from_millis(1000));
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{}\n", fleet.alice_password).as_bytes())
        .unwrap();
    stdout.read_to_end(&mut seen).unwrap();
    drop(stdin);
    child.wait().unwrap();
    let text = String::from_utf8_lossy(&seen).replace('\r', "");
    assert_eq!(text.matches("sudo password").count(), 1, "{text}");
    assert!(!text.contains(&fleet.alice_password), "{text}");
    let json = &text[text.find('{').expect("JSON output")..];
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(v["results"]["alice"]["ret"], "root", "{v}");
    assert_eq!(v["results"]["deploy"]["ret"], "root", "{v}");
}

/// An Ansible INI inventory and a salt-ssh roster, as users keep them,
/// reach real hosts: become with alice's password, a roster's sudo_user,
/// and an Ansible group var as a grain to target.
#[test]
fn ansible_inventory_and_roster_reach_the_fleet() {
    let fleet = Fleet::get();
    let port = fleet.host("node3").port;
    let key = fleet.private_key.display();
    let ws = fleet
        .workspace_builder()
        .halite_yaml("sudo_password_file: sudo.pass\n")
        .build();
    ws.write("sudo.pass", &fleet.alice_password);
    // Only these hosts: grain targeting gathers from every host (`down` too).
    ws.write("inventory/hosts.yaml", "hosts: {}\n");
    ws.write(
        "inventory/hosts",
        &format!(
            "[team]\nansible-alice ansible_host=127.0.0.1 ansible_port={port} ansible_user=alice\n\
             [team:vars]\nansible_become=yes\nansible_ssh_private_key_file={key}\nrole=web\n"
        ),
    );
    ws.write(
        "inventory/roster",
        &format!(
            "roster-deploy:\n  host: 127.0.0.1\n  port: {port}\n  user: deploy\n  priv: {key}\n  \
             sudo: true\n  sudo_user: alice\n"
        ),
    );
    let (out, v) = ws.halite_json(["-N", "team", "cmd.run", "id -un"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(v["results"]["ansible-alice"]["ret"], "root", "{v}");
    let (out, v) = ws.halite_json(["-C", "G@role:web or roster-*", "cmd.run", "id -un"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(v["summary"]["targeted"], 2, "{v}");
    assert_eq!(v["results"]["roster-deploy"]["ret"], "alice", "{v}");
}
