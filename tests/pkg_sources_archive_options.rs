//! `pkg.installed` `sources` and `archive.extracted` `options` through the
//! real binary on a Debian host of the test fleet (node2): a `.deb` built
//! here with dpkg-deb travels as `salt://` and is installed with apt-get;
//! test=True predicts the apply, a second apply changes nothing, a new
//! version of the file is installed over the old one, bad sources fail the
//! host with a clear message; a tarball is unpacked with
//! `--strip-components=1`.

mod harness;

use harness::{apply_sls, only_state as only, run_json as run, Fleet, Workspace};
use serde_json::{json, Value};

const HOST: &str = "node2";

fn apply(ws: &Workspace, sls: &str, test: bool) -> (i32, Value) {
    apply_sls(ws, HOST, sls, test)
}

/// `states/files/NAME` in `ws`: a `.deb` of `halite-src` at `version`.
fn deb(ws: &Workspace, name: &str, version: &str) {
    let dir = ws.path().join("build").join(version);
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/halite-src")).unwrap();
    std::fs::write(root.join("usr/share/halite-src/version"), version).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!("Package: halite-src\nVersion: {version}\nArchitecture: all\nMaintainer: halite tests <t@example.invalid>\nDescription: halite sources test\n"),
    )
    .unwrap();
    std::fs::create_dir_all(ws.path().join("states/files")).unwrap();
    let out = std::process::Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&root)
        .arg(ws.path().join("states/files").join(name))
        .output()
        .expect("dpkg-deb (the controller is Debian)");
    assert!(out.status.success(), "{out:?}");
}

const SLS: &str = "halite-src-pkg:\n  pkg.installed:\n    - sources:\n      - halite-src: salt://files/halite-src.deb\n";

#[test]
fn sources_install_a_salt_deb_and_converge() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    fleet.podman_exec(HOST, "dpkg -P halite-src >/dev/null 2>&1; true");
    let ws = fleet.workspace();
    ws.write("states/src.sls", SLS);
    deb(&ws, "halite-src.deb", "1.0");

    let (code, h) = apply(&ws, "src", true);
    assert_eq!(code, 0, "{h}");
    let (result, changes, comment) = only(&h);
    assert_eq!(result, Value::Null, "{h}");
    assert_eq!(changes, json!({"halite-src": {"old": "", "new": "1.0"}}));
    assert_eq!(
        comment,
        "The following packages would be installed/updated: halite-src"
    );

    let (code, h) = apply(&ws, "src", false);
    assert_eq!(code, 0, "{h}");
    let (result, changes, comment) = only(&h);
    assert_eq!(result, Value::Bool(true), "{h}");
    assert_eq!(changes, json!({"halite-src": {"old": "", "new": "1.0"}}));
    assert!(
        comment.starts_with("The following packages were installed/updated: halite-src"),
        "{comment}"
    );
    assert_eq!(
        fleet.podman_exec_ok(HOST, "cat /usr/share/halite-src/version"),
        "1.0"
    );

    for test in [false, true] {
        let (code, h) = apply(&ws, "src", test);
        assert_eq!(code, 0, "{h}");
        let (result, changes, comment) = only(&h);
        assert_eq!(result, Value::Bool(true), "{h}");
        assert_eq!(changes, json!({}), "{h}");
        assert_eq!(comment, "All specified packages are already installed");
        assert_eq!(h["executions"].as_u64(), Some(1), "{h}");
    }

    // A new file version is installed over the installed one.
    deb(&ws, "halite-src.deb", "2.0");
    let (code, h) = apply(&ws, "src", true);
    assert_eq!(code, 0, "{h}");
    assert_eq!(
        only(&h).1,
        json!({"halite-src": {"old": "1.0", "new": "2.0"}}),
        "{h}"
    );
    let (code, h) = apply(&ws, "src", false);
    assert_eq!(code, 0, "{h}");
    assert_eq!(
        only(&h).1,
        json!({"halite-src": {"old": "1.0", "new": "2.0"}}),
        "{h}"
    );
    assert_eq!(
        fleet.podman_exec_ok(HOST, "cat /usr/share/halite-src/version"),
        "2.0"
    );
    let (code, h) = apply(&ws, "src", false);
    assert_eq!(code, 0, "{h}");
    assert_eq!(only(&h).1, json!({}), "{h}");

    fleet.podman_exec(HOST, "dpkg -P halite-src >/dev/null 2>&1; true");
}

#[test]
fn bad_sources_fail_clearly_and_urls_show_as_written() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    fleet.podman_exec(HOST, "dpkg -P halite-zz >/dev/null 2>&1; true");
    let ws = fleet.workspace();
    for (sls, want) in [
        (
            "    - sources:\n      - halite-zz: files/halite-zz.deb\n",
            "Path files/halite-zz.deb for package halite-zz is either not absolute or an invalid protocol",
        ),
        (
            "    - sources:\n      - halite-zz: salt://files/nope.deb\n",
            "not found",
        ),
        (
            "    - pkgs: [halite-zz]\n    - sources:\n      - halite-zz: salt://files/nope.deb\n",
            "Only one of \"pkgs\" and \"sources\" is permitted.",
        ),
        // The fleet hosts have neither curl nor wget.
        (
            "    - sources:\n      - halite-zz: https://example.invalid/halite-zz.deb\n",
            "neither curl nor wget is on the host to download https://example.invalid/halite-zz.deb",
        ),
        (
            "    - sources:\n      - halite-zz: /srv/no/halite-zz.deb\n",
            "/srv/no/halite-zz.deb does not exist on the host",
        ),
    ] {
        ws.write("states/bad.sls", &format!("bad:\n  pkg.installed:\n{sls}"));
        for test in [true, false] {
            let (code, h) = apply(&ws, "bad", test);
            assert_eq!(code, 1, "{sls}: {h}");
            // As the JSON writes it (quotes escaped).
            let want = json!(want).to_string();
            assert!(
                h.to_string().contains(want.trim_matches('"')),
                "{sls}: {h}"
            );
        }
    }
    // show_sls shows a URL source as written (Salt refuses nothing there).
    ws.write(
        "states/url.sls",
        "url:\n  pkg.installed:\n    - sources:\n      - zoom: https://zoom.us/client/latest/zoom_amd64.deb\n",
    );
    let (code, v) = run(&ws, &[HOST, "state.show_sls", "url"]);
    assert_eq!(code, 0, "{v}");
    assert!(
        v.to_string()
            .contains("{\"zoom\":\"https://zoom.us/client/latest/zoom_amd64.deb\"}"),
        "{v}"
    );
}

#[test]
fn archive_options_strip_components_and_converge() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    fleet.podman_exec(
        HOST,
        "rm -rf /srv/halite-strip; rm -f /var/cache/halite/archive/*halite-strip*; true",
    );
    let ws = fleet.workspace();
    let src = ws.path().join("build/app");
    std::fs::create_dir_all(src.join("app-1.0/bin")).unwrap();
    std::fs::write(src.join("app-1.0/bin/run"), "run\n").unwrap();
    std::fs::create_dir_all(ws.path().join("states/files")).unwrap();
    let ok = std::process::Command::new("tar")
        .arg("-czf")
        .arg(ws.path().join("states/files/app.tar.gz"))
        .arg("-C")
        .arg(&src)
        .arg("app-1.0")
        .status()
        .unwrap();
    assert!(ok.success());
    ws.write(
        "states/app.sls",
        "/srv/halite-strip:\n  archive.extracted:\n    - source: salt://files/app.tar.gz\n    - options: '--strip-components=1'\n    - enforce_toplevel: False\n    - trim_output: True\n",
    );
    let (code, h) = apply(&ws, "app", true);
    assert_eq!(code, 0, "{h}");
    assert_eq!(only(&h).0, Value::Null, "{h}");
    let (code, h) = apply(&ws, "app", false);
    assert_eq!(code, 0, "{h}");
    let (result, changes, _) = only(&h);
    assert_eq!(result, Value::Bool(true), "{h}");
    assert_eq!(changes["extracted"]["source"], "salt://files/app.tar.gz");
    assert_eq!(
        fleet.podman_exec_ok(HOST, "cat /srv/halite-strip/bin/run"),
        "run\n"
    );
    fleet.podman_exec_ok(HOST, "test ! -e /srv/halite-strip/app-1.0");
    for test in [false, true] {
        let (code, h) = apply(&ws, "app", test);
        assert_eq!(code, 0, "{h}");
        let (result, changes, _) = only(&h);
        assert_eq!(result, Value::Bool(true), "{h}");
        assert_eq!(changes, json!({}), "{h}");
    }
    fleet.podman_exec(
        HOST,
        "rm -rf /srv/halite-strip; rm -f /var/cache/halite/archive/*halite-strip*; true",
    );
}
