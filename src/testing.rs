//! Unit tests' one rule for a missing tool (dash, busybox, gpg, dpkg...):
//! where tests/all.sh promised every tool (`HALITE_REQUIRE_TOOLS` set), the
//! test fails; elsewhere the skip is said on stderr with the test's name,
//! never passed over in silence.

/// Say that the running test skips (part of) itself because `why`, or fail
/// it where the tools are promised.
pub(crate) fn missing_tool(why: &str) {
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    if std::env::var_os("HALITE_REQUIRE_TOOLS").is_some() {
        panic!("{test}: {why}, and HALITE_REQUIRE_TOOLS is set");
    }
    eprintln!("SKIPPED: {test}: {why}");
}

/// Whether `program` can be started (`program -c :`, a shell's no-op);
/// when it cannot, [`missing_tool`] says so.
pub(crate) fn shell_at_hand(shell: &[&str]) -> bool {
    let ok = std::process::Command::new(shell[0])
        .args(&shell[1..])
        .args(["-c", ":"])
        .output()
        .is_ok();
    if !ok {
        missing_tool(&format!("{} is not installed", shell[0]));
    }
    ok
}

/// Whether `tool --version` runs; when it cannot, [`missing_tool`] says so.
pub(crate) fn tool_at_hand(tool: &str) -> bool {
    let ok = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok();
    if !ok {
        missing_tool(&format!("{tool} is not installed"));
    }
    ok
}

/// `SHELL -c script` in each POSIX shell halite's scripts must run in
/// (dash, BusyBox ash, bash --posix) that is at hand: (shell, stdout).
pub(crate) fn in_each_shell(script: &str) -> Vec<(&'static [&'static str], String)> {
    const SHELLS: [&[&str]; 3] = [&["dash"], &["busybox", "sh"], &["bash", "--posix"]];
    SHELLS
        .into_iter()
        .filter(|shell| shell_at_hand(shell))
        .map(|shell| {
            let out = std::process::Command::new(shell[0])
                .args(&shell[1..])
                .arg("-c")
                .arg(script)
                .output()
                .unwrap();
            (shell, String::from_utf8(out.stdout).unwrap())
        })
        .collect()
}

/// For the `--ignored` tests that run a module's snippets in a fleet
/// container: `sh -c SCRIPT` in the container HALITE_TEST_CONTAINER names,
/// its stdout.
pub(crate) fn container_sh(script: &str) -> String {
    let container = std::env::var("HALITE_TEST_CONTAINER")
        .expect("set HALITE_TEST_CONTAINER to a running fleet container");
    let out = std::process::Command::new("podman")
        .args(["exec", &container, "sh", "-c", script])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A tiny `.deb` (package `name`, `version`, architecture all, one file
/// under /usr/share/NAME) built by `dpkg-deb -Z COMPRESSION` in `dir`;
/// `None` (said through [`missing_tool`]) without dpkg-deb.
pub(crate) fn build_deb(
    dir: &std::path::Path,
    name: &str,
    version: &str,
    compression: &str,
) -> Option<Vec<u8>> {
    let root = dir.join(format!("{name}-{version}-{compression}"));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/share").join(name)).unwrap();
    std::fs::write(root.join("usr/share").join(name).join("version"), version).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!("Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: halite tests <t@example.invalid>\nDescription: halite test package\n"),
    )
    .unwrap();
    let out = root.with_extension("deb");
    match std::process::Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Z", compression, "--build"])
        .arg(&root)
        .arg(&out)
        .output()
    {
        Ok(o) if o.status.success() => Some(std::fs::read(&out).unwrap()),
        Ok(o) => panic!("dpkg-deb: {}", String::from_utf8_lossy(&o.stderr)),
        Err(_) => {
            missing_tool("dpkg-deb is not installed");
            None
        }
    }
}
