//! The install step of the test suite (`tests/fleet/fleet.sh deps`), checked
//! without depending on what this machine happens to have installed.
//!
//! A fresh machine once got no podman: the script defines a `podman()` shell
//! function, and `command -v podman` found the function. Here the detection
//! runs with a PATH that holds only the two tools the script itself needs, so
//! every test tool is absent and must be listed, whatever this machine has.

use std::collections::BTreeSet;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every Debian package the suite's tools come from. Removing a tool from
/// fleet.sh's list without removing its use fails here.
const PACKAGES: &[&str] = &[
    "bsdutils",
    "busybox",
    "curl",
    "dash",
    "debootstrap",
    "dpkg-dev",
    "gnupg",
    "iproute2",
    "openssh-client",
    "podman",
    "python3",
    "runc",
    "tar",
    "util-linux",
];

/// The one tool fleet.sh checks by absolute path (the tests start it so).
const SSHD: &str = "/usr/sbin/sshd";

/// The executable file `tool` names on this process's PATH (never a shell
/// builtin or function: `command -v true` would answer `true`).
fn which(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").expect("PATH is set");
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .unwrap_or_else(|| panic!("{tool} is needed to run this test"))
}

fn missing_with_path(path: &Path) -> BTreeSet<String> {
    let bash = which("bash");
    let out = Command::new(bash)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fleet/fleet.sh"))
        .arg("missing")
        .env_clear()
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fleet.sh missing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_tool_missing_from_path_is_listed_for_install() {
    let bin = tempfile::tempdir().unwrap();
    for tool in ["dirname", "sort"] {
        symlink(which(tool), bin.path().join(tool)).unwrap();
    }
    let mut want: BTreeSet<String> = PACKAGES.iter().map(|p| p.to_string()).collect();
    if !Path::new(SSHD).exists() {
        want.insert("openssh-server".into());
    }
    // podman is listed although fleet.sh defines a podman() function.
    assert_eq!(missing_with_path(bin.path()), want);
}

#[test]
fn nothing_is_listed_when_every_tool_is_on_path() {
    let bin = tempfile::tempdir().unwrap();
    for tool in ["dirname", "sort"] {
        symlink(which(tool), bin.path().join(tool)).unwrap();
    }
    let names = [
        "podman",
        "runc",
        "debootstrap",
        "ssh",
        "ssh-agent",
        "ssh-keygen",
        "ssh-keyscan",
        "dpkg-scanpackages",
        "flock",
        "script",
        "dash",
        "busybox",
        "tar",
        "gpg",
        "gpgconf",
        "ip",
        "curl",
        "python3",
    ];
    for name in names {
        // An executable stand-in: only its presence on PATH is looked at.
        symlink(which("true"), bin.path().join(name)).unwrap();
    }
    let got = missing_with_path(bin.path());
    let want: BTreeSet<String> = if Path::new(SSHD).exists() {
        BTreeSet::new()
    } else {
        ["openssh-server".to_string()].into()
    };
    assert_eq!(got, want);
}
