//! `file.directory`'s arguments, its plans from canned probe output, the
//! tree probe under dash, bash and BusyBox (its tools too), and a local
//! converge: probe → plan → apply → probe is a no-op.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use serde_json::json;

use super::*;
use crate::modules::file::tests::{chunk, sh};

fn build(name: &str, args: Value) -> Result<Box<dyn StateFunction>, String> {
    build_directory(
        &chunk("directory", name, args),
        &BuildCtx {
            states_root: Path::new("/nonexistent"),
            renderer: None,
        },
    )
}

fn plan(f: &dyn StateFunction, text: &str) -> Result<Plan, String> {
    f.plan(Output { text, rc: 0 })
}

/// The probe's words for an existing directory owned by root, mode 755.
fn dir_facts() -> String {
    format!("{TAG} parent dir\n{TAG} type dir\n{TAG} stat 0 0 root root 755\n")
}

/// A tree section as the host prints it: (path, stat line, type code).
fn tree_text(entries: &[(&str, &str, &str)]) -> String {
    let mut names = Vec::new();
    for (p, _, _) in entries {
        names.extend_from_slice(p.as_bytes());
        names.push(0);
    }
    let mut s = format!(
        "{TAG} list\n{}\n{TAG} end\n",
        super::super::encode_b64(&names)
    );
    s.push_str(&format!("{TAG} stats\n"));
    for (_, st, _) in entries {
        if !st.is_empty() {
            s.push_str(&format!("{st}\n"));
        }
    }
    s.push_str(&format!("{TAG} types\n"));
    for (_, _, t) in entries {
        s.push_str(&format!("{t}\n"));
    }
    s.push_str(&format!("{TAG} tree-end\n"));
    s
}

#[test]
fn recurse_words_are_salts() {
    let err = |args: Value| build("/srv/d", args).unwrap_err();
    assert!(err(json!({"recurse": "user", "user": "a"}))
        .contains("\"recurse\" must be formed as a list of strings"));
    let e = err(json!({"recurse": ["owner"]}));
    assert!(
        e.contains(
            "Types for \"recurse\" limited to \"user\", \"group\", \"mode\", \"ignore_files\", \"ignore_dirs\", \"silent\"."
        ),
        "{e}"
    );
    assert!(
        err(json!({"recurse": ["mode", "ignore_files", "ignore_dirs"]}))
            .contains("at the same time")
    );
    assert!(err(json!({"recurse": ["user"]})).contains("user not specified"));
    assert!(err(json!({"recurse": ["group"], "user": "a"})).contains("group not specified"));
    assert!(err(json!({"clean": true, "max_depth": 1})).contains("Cannot specify both"));
    assert!(err(json!({"max_depth": -1, "recurse": ["mode"]})).contains("max_depth"));
    assert!(err(json!({"recurse": ["mode"], "bogus": 1})).contains("bogus"));
    assert!(err(json!({"backupname": "rel"})).contains("backupname"));
    assert!(build("/", json!({"recurse": ["mode"]})).is_err());
    // An empty list is no recursion, as in Salt.
    let f = build("/srv/d", json!({"recurse": []})).unwrap();
    assert!(!f.probe().contains("find"));
    // max_depth reaches find.
    let f = build("/srv/d", json!({"recurse": ["mode"], "max_depth": 2})).unwrap();
    assert!(
        f.probe().contains("-mindepth 1 -maxdepth 2 "),
        "{}",
        f.probe()
    );
}

/// Salt's recurse: files get file_mode, directories dir_mode; user and
/// group only where recurse names them; a link not followed keeps its
/// mode; the changes list the children in Salt's walk order, then the
/// directory, and the apply's add the keys set at the top level.
#[test]
fn recurse_plans_exactly_the_paths_that_differ() {
    let f = build(
        "/srv/d",
        json!({"user": "app", "group": "app", "dir_mode": 750, "file_mode": "0640",
               "recurse": ["user", "mode"]}),
    )
    .unwrap();
    let text = dir_facts()
        + &tree_text(&[
            ("/srv/d/z", "0 0 root root 755", "-d"),
            ("/srv/d/a", "1000 1000 app app 640", "-f"),
            ("/srv/d/z/f", "0 0 root root 644", "-f"),
            ("/srv/d/b", "0 0 root root 644", "-f"),
            ("/srv/d/ln", "0 0 root root 777", "Ld"),
            ("/srv/d/ok", "1000 0 app root 750", "-d"),
        ]);
    let p = plan(&*f, &text).unwrap();
    // Each path's entry, then the keys the apply reports at the top level
    // (Salt's apply adds them; halite shows them in test mode too).
    let keys: Vec<&String> = p.changes.keys().collect();
    assert_eq!(
        keys,
        [
            "/srv/d/b",
            "/srv/d/ln",
            "/srv/d/z",
            "/srv/d/z/f",
            "/srv/d",
            "user",
            "group",
            "mode"
        ]
    );
    assert_eq!(
        p.changes["/srv/d/b"],
        json!({"user": "app", "mode": "0640"})
    );
    // The link: its own owner, no mode.
    assert_eq!(p.changes["/srv/d/ln"], json!({"user": "app"}));
    assert_eq!(
        p.changes["/srv/d/z"],
        json!({"user": "app", "mode": "0750"})
    );
    // The directory itself: everything declared.
    assert_eq!(
        p.changes["/srv/d"],
        json!({"user": "app", "group": "app", "mode": "0750"})
    );
    assert!(
        p.comment.starts_with(
            "The following files will be changed:\n/srv/d/b: user - app\n/srv/d/b: mode - 0640\n"
        ),
        "{}",
        p.comment
    );
    let script = f.apply(&p).unwrap();
    assert!(
        script.contains("chown -h -- app '/srv/d/b' '/srv/d/ln' '/srv/d/z' '/srv/d/z/f' || exit 1")
            || script.contains("chown -h -- app /srv/d/b /srv/d/ln /srv/d/z /srv/d/z/f || exit 1"),
        "{script}"
    );
    assert!(script.contains("chown -h -- app:app"), "{script}");
    assert!(!script.contains("/srv/d/ln' || exit 1\nchmod"), "{script}");
    let a = f.finish(&p, Output { text: "", rc: 0 });
    assert_eq!(a.comment, "Directory /srv/d updated");
    assert_eq!(a.changes["user"], "app");
    // The last path fixed sets the top-level mode (Salt's check_perms).
    assert_eq!(a.changes["mode"], "0640");
    assert_eq!(
        a.changes["/srv/d/z"],
        json!({"user": "app", "mode": "0750"})
    );

    // ignore_files, children_only, silent.
    let f = build(
        "/srv/d",
        json!({"user": "app", "mode": 750, "recurse": ["user", "ignore_files", "silent"],
               "children_only": true}),
    )
    .unwrap();
    let p = plan(&*f, &text).unwrap();
    // What the apply will report, in test mode too (Salt's test mode lists
    // the paths, /srv/d/ln and /srv/d/z, which `silent` drops).
    let keys: Vec<&String> = p.changes.keys().collect();
    assert_eq!(keys, ["recursion", "user"]);
    assert!(p.comment.contains("/srv/d/ln") && p.comment.contains("/srv/d/z"));
    let a = f.finish(&p, Output { text: "", rc: 0 });
    assert_eq!(a.comment, "Directory /srv/d/* updated");
    assert_eq!(
        Value::Object(a.changes),
        json!({"recursion": "Changes silenced", "user": "app"})
    );

    // follow_symlinks: the link's target is a directory, given dir_mode.
    let f = build(
        "/srv/d",
        json!({"mode": 755, "recurse": ["mode"], "follow_symlinks": true}),
    )
    .unwrap();
    let text = dir_facts()
        + &tree_text(&[
            ("/srv/d/ln", "0 0 root root 700", "Ld"),
            ("/srv/d/gone", "", "Lx"),
            ("/srv/d/f", "0 0 root root 755", "-f"),
        ]);
    let p = plan(&*f, &text).unwrap();
    assert_eq!(
        Value::Object(p.changes.clone()),
        json!({"/srv/d/ln": {"mode": "0755"}, "mode": "0755"})
    );
    assert!(!f.apply(&p).unwrap().contains("-h"));

    // Converged: nothing to do.
    let text = dir_facts()
        + &tree_text(&[
            ("/srv/d/ln", "0 0 root root 755", "Ld"),
            ("/srv/d/f", "0 0 root root 755", "-f"),
        ]);
    assert!(plan(&*f, &text).unwrap().is_noop());
    // A tree that changed while it was read is an error, not a guess.
    let text = dir_facts() + &tree_text(&[("/srv/d/f", "", "-f")]);
    assert!(plan(&*f, &text).unwrap_err().contains("changed while"));
}

/// What stands where the directory goes: Salt's order of checks and words.
#[test]
fn links_and_files_in_the_way() {
    let link_to = |points: &str| {
        format!(
            "{TAG} parent dir\n{TAG} link-plain /t\n{TAG} type symlink\n{TAG} stat 0 0 root root 777\n{TAG} points {points}\n"
        )
    };
    let file = format!(
        "{TAG} parent dir\n{TAG} type file\n{TAG} stat 0 0 root root 644\n{TAG} sha256 {}\n",
        "0".repeat(64)
    );
    // allow_symlink (default): a link to a directory is the directory; its
    // own owner is compared, not its mode.
    let f = build("/srv/d", json!({"mode": 700, "group": "adm"})).unwrap();
    let p = plan(&*f, &link_to("dir")).unwrap();
    assert_eq!(
        Value::Object(p.changes.clone()),
        json!({"/srv/d": {"group": "adm"}, "group": "adm"})
    );
    assert!(f.apply(&p).unwrap().contains("chgrp -h -- adm"));
    assert!(plan(&*f, &link_to("file"))
        .unwrap_err()
        .contains("exists and is a file"));
    assert!(plan(&*f, &file)
        .unwrap_err()
        .contains("exists and is a file"));
    assert!(plan(&*f, &link_to("missing"))
        .unwrap_err()
        .contains("missing target"));
    let f = build("/srv/d", json!({"allow_symlink": false})).unwrap();
    assert_eq!(
        plan(&*f, &link_to("dir")).unwrap_err(),
        "Specified location /srv/d exists and is a symlink"
    );
    // force replaces a link (allowed or not) and a file.
    let f = build("/srv/d", json!({"force": true})).unwrap();
    for (text, what) in [(link_to("dir"), "Symlink"), (file.clone(), "File")] {
        let p = plan(&*f, &text).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"/srv/d": {"directory": "new"}, "forced": format!("{what} was forcibly replaced")})
        );
        assert!(
            f.apply(&p)
                .unwrap()
                .starts_with("p='/srv/d'\nrm -f -- \"$p\" || exit 1\nmkdir")
                || f.apply(&p)
                    .unwrap()
                    .contains("rm -f -- \"$p\" || exit 1\nmkdir")
        );
        // test=True shows what the apply reports, in its words.
        let a = f.finish(&p, Output { text: "", rc: 0 });
        assert_eq!(a.changes, p.changes);
        assert_eq!(a.comment, "");
    }
    // backupname: renamed away; a backup already there needs force.
    let f = build("/srv/d", json!({"backupname": "/srv/d.bak"})).unwrap();
    let p = plan(&*f, &file).unwrap();
    assert_eq!(
        p.comment,
        "/srv/d would be backed up and replaced with a new directory"
    );
    // The changes are the apply's (Salt's test mode adds a `backup` note
    // its apply leaves out).
    assert_eq!(
        Value::Object(p.changes.clone()),
        json!({"/srv/d": {"directory": "new"}})
    );
    assert!(
        f.apply(&p)
            .unwrap()
            .contains("mv -Tf -- \"$p\" '/srv/d.bak'")
            || f.apply(&p).unwrap().contains("mv -Tf -- \"$p\" /srv/d.bak")
    );
    let taken = format!("{file}{TAG} backup exists\n");
    assert_eq!(
        plan(&*f, &taken).unwrap_err(),
        "File exists where the backup target /srv/d.bak should go"
    );
    let f = build("/srv/d", json!({"backupname": "/srv/d.bak", "force": true})).unwrap();
    let p = plan(&*f, &taken).unwrap();
    assert!(p.changes.get("forced").is_none());
    assert!(f.apply(&p).unwrap().contains("rm -rf -- "));
}

/// The tree probe under dash, BusyBox ash and bash, and with BusyBox's own
/// find, stat, xargs and base64 (an Alpine-style host): any name, links,
/// a dangling link, the depth limit.
#[test]
fn the_tree_probe_reads_any_name_with_any_tools() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    std::fs::create_dir_all(d.join("sub dir/deeper")).unwrap();
    std::fs::write(d.join("sub dir/new\nline"), "").unwrap();
    std::fs::write(d.join("sub dir/deeper/x"), "").unwrap();
    std::fs::write(d.join("f"), "").unwrap();
    std::fs::set_permissions(d.join("f"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("sub dir", d.join("ln")).unwrap();
    std::os::unix::fs::symlink("/nonexistent", d.join("dangling")).unwrap();
    let dir = d.display().to_string();
    let want = |follow: bool, depth: Option<u64>| {
        let mut w: Vec<(String, bool, Kind, Option<u32>)> = vec![
            (format!("{dir}/f"), false, Kind::File, Some(0o600)),
            (
                format!("{dir}/ln"),
                true,
                Kind::Dir,
                Some(if follow { 0o755 } else { 0o777 }),
            ),
            (
                format!("{dir}/dangling"),
                true,
                Kind::Dangling,
                (!follow).then_some(0o777),
            ),
            (format!("{dir}/sub dir"), false, Kind::Dir, Some(0o755)),
        ];
        if depth != Some(1) {
            w.push((
                format!("{dir}/sub dir/new\nline"),
                false,
                Kind::File,
                Some(0o644),
            ));
            w.push((
                format!("{dir}/sub dir/deeper"),
                false,
                Kind::Dir,
                Some(0o755),
            ));
            w.push((
                format!("{dir}/sub dir/deeper/x"),
                false,
                Kind::File,
                Some(0o644),
            ));
        }
        w.sort_by(|a, b| a.0.cmp(&b.0));
        w
    };
    let got = |text: &str, follow: bool| {
        let mut g: Vec<(String, bool, Kind, Option<u32>)> = parse_tree(text, follow)
            .unwrap()
            .into_iter()
            .map(|e| (e.path, e.link, e.kind, e.stat.map(|s| s.mode)))
            .collect();
        g.sort_by(|a, b| a.0.cmp(&b.0));
        g
    };
    // BusyBox's tools, nothing else on PATH.
    let bb = tmp.path().join("bb");
    std::fs::create_dir(&bb).unwrap();
    let busybox = std::process::Command::new("sh")
        .args(["-c", "command -v busybox"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    for follow in [false, true] {
        for depth in [None, Some(1)] {
            let script = tree_section(&dir, depth, follow);
            for (shell, text) in crate::testing::in_each_shell(&script) {
                assert_eq!(got(&text, follow), want(follow, depth), "{shell:?}");
            }
            if busybox.is_empty() {
                crate::testing::missing_tool("busybox is not installed");
                continue;
            }
            for tool in ["sh", "find", "stat", "xargs", "base64", "printf", "echo"] {
                let _ = std::os::unix::fs::symlink(&busybox, bb.join(tool));
            }
            let out = std::process::Command::new(bb.join("sh"))
                .env_clear()
                .env("PATH", &bb)
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(got(&text, follow), want(follow, depth), "busybox tools");
        }
    }
}

/// Salt's walk order: each directory's files, its directories, then what
/// each of those holds, names sorted.
#[test]
fn walk_order_is_os_walks() {
    let e = |p: &str, kind: Kind| Entry {
        path: p.into(),
        link: false,
        kind,
        stat: None,
    };
    let got: Vec<String> = walk_order(
        "/r",
        vec![
            e("/r/b/x", Kind::File),
            e("/r/a", Kind::Dir),
            e("/r/b", Kind::Dir),
            e("/r/z", Kind::File),
            e("/r/a/y", Kind::File),
            e("/r/a/s", Kind::Dir),
            e("/r/a/s/t", Kind::File),
        ],
    )
    .into_iter()
    .map(|e| e.path)
    .collect();
    assert_eq!(
        got,
        ["/r/z", "/r/a", "/r/b", "/r/a/y", "/r/a/s", "/r/a/s/t", "/r/b/x"]
    );
}

/// probe → plan → apply → probe again on this machine: recurse with modes
/// (owners need root and the fleet: tests/modules_file.rs).
#[test]
fn recurse_converges_locally() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    std::fs::create_dir_all(d.join("a/b")).unwrap();
    std::fs::write(d.join("a/b/f"), "").unwrap();
    std::fs::write(d.join("top"), "").unwrap();
    std::os::unix::fs::symlink("top", d.join("ln")).unwrap();
    let name = d.display().to_string();
    let f = build(
        &name,
        json!({"dir_mode": "0750", "file_mode": "0604", "recurse": ["mode"], "max_depth": 2}),
    )
    .unwrap();
    let (text, rc) = sh(&f.probe());
    assert_eq!(rc, 0, "{text}");
    let p = plan(&*f, &text).unwrap();
    let script = f.apply(&p).unwrap();
    let (out, rc) = sh(&script);
    assert_eq!(rc, 0, "{out}\n{script}");
    let mode = |p: &str| std::fs::metadata(d.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(""), 0o750);
    assert_eq!(mode("a"), 0o750);
    assert_eq!(mode("a/b"), 0o750);
    assert_eq!(mode("top"), 0o604);
    // Deeper than max_depth: left alone.
    assert_eq!(mode("a/b/f"), 0o666 & !umask());
    let (text, _) = sh(&f.probe());
    assert!(plan(&*f, &text).unwrap().is_noop());
}

fn umask() -> u32 {
    let (out, _) = sh("umask");
    u32::from_str_radix(out.trim(), 8).unwrap()
}
