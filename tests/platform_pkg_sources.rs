//! `pkg.installed` `sources` on the rpm and pacman platform test hosts of
//! tests/fleet (`fleet.sh up-platforms`: rhel with dnf, suse with zypper,
//! arch with pacman): each host's own test package file, copied to the
//! controller's states tree, travels back as `salt://` and is installed
//! with the host's tool (`dnf`/`zypper install ./file`, `pacman -U`).
//! rpm versions are read from the header on the controller, so test=True
//! names the version; pacman's are not (Salt reads none either), so an
//! installed package is enough there. What it does not prove: that a real
//! RHEL, SUSE or Arch answers the same.

mod harness;

use harness::{apply_sls, only_state as only, Fleet, Workspace};
use serde_json::{json, Value};

/// The host's file `path` written to the workspace's `states/files/NAME`.
fn fetch(fleet: &Fleet, ws: &Workspace, host: &str, path: &str, name: &str) {
    let b64 = fleet.podman_exec_ok(host, &format!("base64 -w0 {path}"));
    let dest = ws.path().join("states/files").join(name);
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let mut child = std::process::Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::fs::File::create(&dest).unwrap())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b64.trim().as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn sources_install_package_files_with_each_hosts_tool() {
    let fleet = Fleet::get_platforms();
    let _serial = fleet.serial();
    // The test packages are unsigned: zypper takes a file only with
    // `skip_verify` (its --no-gpg-checks), as under Salt.
    for (host, path, file, remove, predicted, installed) in [
        (
            "rhel",
            "/srv/repo-updates/halite-hello-1.1-1.noarch.rpm",
            "hello.rpm",
            "rpm -e halite-hello",
            "1.1-1",
            "1.1-1",
        ),
        (
            "suse",
            "/srv/repo-updates/halite-hello-1.1-1.noarch.rpm",
            "hello.rpm",
            "zypper -q removelock halite-hello; rpm -e halite-hello",
            "1.1-1",
            "1.1-1",
        ),
        (
            "arch",
            "/srv/repo/halite-hello-1.0-1-any.pkg.tar.gz",
            "hello.pkg.tar.gz",
            "pacman -R --noconfirm halite-hello",
            "installed",
            "1.0-1",
        ),
    ] {
        let reset = format!("{{ {remove}; }} >/dev/null 2>&1; true");
        fleet.podman_exec_ok(host, &reset);
        let ws = fleet.workspace();
        fetch(fleet, &ws, host, path, file);
        ws.write(
            "states/src.sls",
            &format!("hello:\n  pkg.installed:\n    - skip_verify: {}\n    - sources:\n      - halite-hello: salt://files/{file}\n", host == "suse"),
        );
        let (code, h) = apply_sls(&ws, host, "src", true);
        assert_eq!(code, 0, "{host}: {h}");
        let (result, changes, _) = only(&h);
        assert_eq!(result, Value::Null, "{host}: {h}");
        assert_eq!(
            changes,
            json!({"halite-hello": {"old": "", "new": predicted}}),
            "{host}"
        );
        let (code, h) = apply_sls(&ws, host, "src", false);
        assert_eq!(code, 0, "{host}: {h}");
        let (result, changes, _) = only(&h);
        assert_eq!(result, Value::Bool(true), "{host}: {h}");
        assert_eq!(
            changes,
            json!({"halite-hello": {"old": "", "new": installed}}),
            "{host}"
        );
        for test in [false, true] {
            let (code, h) = apply_sls(&ws, host, "src", test);
            assert_eq!(code, 0, "{host}: {h}");
            let (result, changes, comment) = only(&h);
            assert_eq!(result, Value::Bool(true), "{host}: {h}");
            assert_eq!(changes, json!({}), "{host}: {h}");
            assert_eq!(comment, "All specified packages are already installed");
        }
        fleet.podman_exec_ok(host, &reset);
    }
}
