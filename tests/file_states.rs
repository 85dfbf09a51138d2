//! The state functions whose work is paths (file.touch, file.copy,
//! file.serialize, file.directory, ini.options_present/absent,
//! git.config_set/unset, file.comment/uncomment) through the real binary on a local-connection
//! host, in a temporary directory, against what Salt 3008.3's own apply
//! returned for the same SLS (tests/compat/gen_file_states.py ->
//! tests/compat/file_states.json): test=True, apply, apply again; each
//! state's result, changes and comment, the files left, and every path's
//! type, mode and owner. Where halite
//! differs on purpose (README, "Where halite differs"), [`DIFFERENCES`]
//! holds halite's answer instead, each with its reason.

mod local;

use std::collections::BTreeMap;
use std::path::Path;

use local::{local_hosts, Project};
use serde_json::{json, Value};

/// (case, run, state ID, halite's {result, changes, comment}) where it
/// differs from Salt on purpose. Runs: 0 test=True, 1 apply, 2 apply again.
const DIFFERENCES: &[(&str, usize, &str, &str)] = &[
    // Salt's test mode says `new` with result True for an existing file,
    // and its apply bumps the times of an existing file on every run;
    // halite leaves a file that exists with the declared times alone.
    (
        "touch",
        0,
        "ROOT/exists",
        r#"{"result": true, "changes": {}, "comment": "File ROOT/exists exists and has the correct times"}"#,
    ),
    (
        "touch",
        1,
        "ROOT/exists",
        r#"{"result": true, "changes": {}, "comment": "File ROOT/exists exists and has the correct times"}"#,
    ),
    (
        "touch",
        2,
        "ROOT/exists",
        r#"{"result": true, "changes": {}, "comment": "File ROOT/exists exists and has the correct times"}"#,
    ),
    (
        "touch",
        2,
        "ROOT/new/empty",
        r#"{"result": true, "changes": {}, "comment": "File ROOT/new/empty exists and has the correct times"}"#,
    ),
    // Salt compares str(atime) with a float and so never converges.
    (
        "touch",
        2,
        "ROOT/times",
        r#"{"result": true, "changes": {}, "comment": "File ROOT/times exists and has the correct times"}"#,
    ),
    // A state that cannot be planned after states that change something
    // waits for them (an earlier state may make the source): test=True
    // says so.
    (
        "copy",
        0,
        "ROOT/missing.conf",
        r#"{"result": null, "changes": {}, "comment": "Decided after the states it requires have run (now: Source file \"ROOT/nosuch.conf\" is not present)"}"#,
    ),
    // Salt's test mode lists each unchanged key; halite's plan has nothing
    // to do, and says so as Salt's apply does.
    (
        "ini",
        0,
        "ROOT/none.ini",
        r#"{"result": true, "changes": {}, "comment": "No anomaly detected"}"#,
    ),
    // Two states of one module on one name are planned in order: the
    // second after the first has run (Salt's test mode plans both from
    // the file as it is).
    (
        "git",
        0,
        "same",
        r#"{"result": null, "changes": {}, "comment": "Decided after the states it requires have run (now: waits for git:changed (git.config_set halite.a), which changes the same git)"}"#,
    ),
    // Salt hands the key regex to `git config --unset-all` as a key name
    // and fails; halite unsets each key the regex matched.
    (
        "git",
        1,
        "drop",
        r#"{"result": true, "changes": {"foo.x": ["1"], "foo.y": ["2"]}, "comment": "Value(s) successfully unset"}"#,
    ),
    (
        "git",
        2,
        "drop",
        r#"{"result": true, "changes": {}, "comment": "No matching keys are set"}"#,
    ),
    // Salt copies over an identical file with force on every run.
    (
        "copy",
        2,
        "ROOT/forced.conf",
        r#"{"result": true, "changes": {}, "comment": "The target file \"ROOT/forced.conf\" exists and is identical to \"ROOT/src.conf\""}"#,
    ),
    // test=True shows the changes the apply makes (the list of what goes
    // besides each path), and names the paths sorted where Salt follows
    // the order its walk met them in.
    (
        "clean",
        0,
        "ROOT/d",
        r#"{"result": null, "changes": {"ROOT/d/old": {"removed": "Removed due to clean"}, "ROOT/d/old/x": {"removed": "Removed due to clean"}, "ROOT/d/old/x/y": {"removed": "Removed due to clean"}, "ROOT/d/stray": {"removed": "Removed due to clean"}, "ROOT/d/sub/stray.conf": {"removed": "Removed due to clean"}, "removed": ["ROOT/d/old", "ROOT/d/stray", "ROOT/d/sub/stray.conf"]}, "comment": "The following files will be changed:\nROOT/d/old: removed - Removed due to clean\nROOT/d/old/x: removed - Removed due to clean\nROOT/d/old/x/y: removed - Removed due to clean\nROOT/d/stray: removed - Removed due to clean\nROOT/d/sub/stray.conf: removed - Removed due to clean\n"}"#,
    ),
    (
        "clean",
        0,
        "ROOT/e",
        r#"{"result": null, "changes": {"ROOT/e/gone": {"removed": "Removed due to clean"}, "removed": ["ROOT/e/gone"]}, "comment": "The following files will be changed:\nROOT/e/gone: removed - Removed due to clean\n"}"#,
    ),
    // Salt's test mode does not see that `force` replaces a link to a
    // directory (it checks the directory the link leads to); its apply
    // does replace it, and halite's test=True says so, in the words the
    // apply reports.
    (
        "directory",
        0,
        "ROOT/fl",
        r#"{"result": null, "changes": {"ROOT/fl": {"directory": "new"}, "forced": "Symlink was forcibly replaced"}, "comment": "The following files will be changed:\nROOT/fl: directory - new\n"}"#,
    ),
    // Salt's test mode says the file is set to be updated when its search
    // finds an indented line its edit (matching from the line's start)
    // then leaves alone; halite's test=True computes the edit and fails
    // as Salt's apply does.
    (
        "comment",
        0,
        "indented line",
        r#"{"result": false, "changes": {}, "comment": "Expected commented lines not found"}"#,
    ),
];

/// The note Salt's file.managed adds to its test=True comment; halite's
/// test=True plans a state after what it requires has been planned, and
/// leaves it out.
const TEST_NOTE: &str =
    "\nNote: No changes made, actual changes may\nbe different due to other states.";

/// (case, file, halite's content) where the files left differ: Salt
/// rewrites an ini file in its own layout even when no option changes.
/// And git's config without the keys halite's `git.config_unset` removed.
const FILE_DIFFERENCES: &[(&str, &str, &str)] = &[
    ("ini", "none.ini", "[main]\nsame=1\n"),
    (
        "git",
        "repo/.git/config",
        "[core]\n\trepositoryformatversion = 0\n\tbare = false\n[halite]\n\ta = new\n\tm = 3\n\tm = 4\n[user]\n\temail = ops@example.org\n",
    ),
];

/// What halite must answer for state `id` in run `run`: the listed
/// difference, else Salt's answer, except that halite's test=True shows
/// the changes the apply will make where Salt's test mode shows none or
/// fewer (file.directory's).
fn expected(case: &str, run: usize, id: &str, salt: &Value) -> Value {
    if let Some(d) = DIFFERENCES
        .iter()
        .find(|d| d.0 == case && d.1 == run && d.2 == id)
    {
        return serde_json::from_str(d.3).unwrap();
    }
    let mut mine = salt["runs"][run][id].clone();
    if let Some(c) = mine["comment"]
        .as_str()
        .and_then(|c| c.strip_suffix(TEST_NOTE))
    {
        mine["comment"] = json!(c);
    }
    // Salt's file.managed test mode says `newfile` where its apply says
    // `diff: New file`; halite's test=True shows the apply's changes (the
    // cases whose files are file.managed's).
    let new_file = matches!(case, "clean" | "contents")
        && mine["changes"]
            .as_object()
            .is_some_and(|c| c.len() == 1 && c.get("newfile").is_some());
    // Salt's file.directory apply adds top-level keys (and `silent` drops
    // the paths) to what its test mode shows; halite's test=True shows
    // what the apply reports.
    let directory = case == "directory" && mine["changes"] != json!({});
    // Salt's file.comment/uncomment test mode says `{name: updated}`;
    // halite's test=True shows the apply's diff.
    let comment = case == "comment" && mine["changes"] != json!({});
    if run == 0
        && mine["result"].is_null()
        && (mine["changes"] == json!({}) || new_file || directory || comment)
    {
        let mut w = mine.clone();
        w["changes"] = salt["runs"][1][id]["changes"].clone();
        return w;
    }
    mine
}

fn compat() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/file_states.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// ID -> {result, changes, comment} of a run, the root written ROOT
/// (the `removed` list of `clean` sorted, as the fixture's).
fn states(h: &Value, root: &str) -> BTreeMap<String, Value> {
    let text = h["ret"].to_string().replace(root, "ROOT");
    let ret: Value = serde_json::from_str(&text).unwrap();
    ret.as_object()
        .unwrap_or_else(|| panic!("no state results: {h}"))
        .values()
        .map(|s| {
            let mut changes = s["changes"].clone();
            if let Some(Value::Array(list)) = changes.get_mut("removed") {
                list.sort_by_key(|v| v.to_string());
            }
            (
                s["__id__"].as_str().unwrap().to_string(),
                json!({"result": s["result"], "changes": changes, "comment": s["comment"]}),
            )
        })
        .collect()
}

/// The files under `root` (links followed, as Python's os.walk lists
/// them: a link to a directory is not entered).
fn files(root: &Path) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.is_symlink() {
                    stack.push(p);
                }
                continue;
            }
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
            out.insert(
                p.strip_prefix(root).unwrap().display().to_string(),
                json!({"content": std::fs::read_to_string(&p).unwrap(), "mode": format!("0o{mode:o}")}),
            );
        }
    }
    out
}

/// Every path under `root` (links not followed) -> "TYPE MODE USER:GROUP",
/// as the generator's `tree` writes it.
fn tree(root: &Path) -> BTreeMap<String, Value> {
    use std::os::unix::fs::MetadataExt as _;
    let names = |file: &str| -> BTreeMap<u32, String> {
        std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                Some((f.get(2)?.parse().ok()?, f[0].to_string()))
            })
            .collect()
    };
    let (users, groups) = (names("/etc/passwd"), names("/etc/group"));
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let kind = if m.file_type().is_symlink() {
                "link"
            } else if m.is_dir() {
                stack.push(p.clone());
                "dir"
            } else {
                "file"
            };
            let mode = if kind == "link" {
                "-".to_string()
            } else {
                format!("0o{:o}", m.mode() & 0o7777)
            };
            out.insert(
                p.strip_prefix(root).unwrap().display().to_string(),
                json!(format!(
                    "{kind} {mode} {}:{}",
                    users[&m.uid()],
                    groups[&m.gid()]
                )),
            );
        }
    }
    out
}

/// Run one case through halite; compare with Salt's.
fn check(case: &str) {
    let compat = compat();
    let expected_case = &compat["cases"][case];
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/file_states");
    let p = Project::new(&local_hosts(&["h1"]));
    let root = p.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let root_s = root.display().to_string();
    if let Ok(setup) = std::fs::read_to_string(cases.join(format!("{case}.setup.json"))) {
        let setup: BTreeMap<String, String> = serde_json::from_str(&setup).unwrap();
        for (rel, content) in setup {
            std::fs::create_dir_all(root.join(&rel).parent().unwrap()).unwrap();
            std::fs::write(root.join(&rel), content).unwrap();
        }
    }
    if let Ok(links) = std::fs::read_to_string(cases.join(format!("{case}.links.json"))) {
        let links: BTreeMap<String, String> = serde_json::from_str(&links).unwrap();
        for (rel, target) in links {
            std::os::unix::fs::symlink(target, root.join(rel)).unwrap();
        }
    }
    // Salt's umask-made files are 0644 (the fixture); so are ours.
    for f in files(&root).keys() {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(root.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let sls = std::fs::read_to_string(cases.join(format!("{case}.sls"))).unwrap();
    std::fs::create_dir_all(p.path().join("states")).unwrap();
    std::fs::write(
        p.path().join(format!("states/{case}.sls")),
        sls.replace("ROOT", &root_s),
    )
    .unwrap();
    if let Ok(pillar) = std::fs::read_to_string(cases.join(format!("{case}.pillar.json"))) {
        std::fs::create_dir_all(p.path().join("pillar")).unwrap();
        std::fs::write(
            p.path().join("pillar/top.sls"),
            "base:\n  '*':\n    - data\n",
        )
        .unwrap();
        std::fs::write(p.path().join("pillar/data.sls"), pillar).unwrap();
    }
    let runs: [&[&str]; 3] = [&["test=True"], &[], &[]];
    for (n, args) in runs.iter().enumerate() {
        let mut all = vec!["h1", "state.apply", case];
        all.extend_from_slice(args);
        let (_, v) = p.json(&all);
        let got = states(&v["results"]["h1"], &root_s);
        let want = expected_case["runs"][n].as_object().unwrap();
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{case} run {n}: {v}"
        );
        let mut converged = true;
        for id in want.keys() {
            let w = expected(case, n, id, expected_case);
            converged &= w["changes"] == json!({});
            assert_eq!(got[id], w, "{case} run {n} {id}");
        }
        // Nothing to change (failures included): the gather alone.
        if n == 2 && converged {
            assert_eq!(
                v["results"]["h1"]["executions"], 1,
                "{case}: a converged run is one execution"
            );
        }
    }
    let mut want: BTreeMap<String, Value> =
        serde_json::from_value(expected_case["files"].clone()).unwrap();
    for (c, file, content) in FILE_DIFFERENCES {
        if *c == case {
            want.get_mut(*file).unwrap()["content"] = json!(content);
        }
    }
    assert_eq!(files(&root), want, "{case}: the files left");
    let want: BTreeMap<String, Value> =
        serde_json::from_value(expected_case["tree"].clone()).unwrap();
    assert_eq!(
        tree(&root),
        want,
        "{case}: every path's type, mode and owner"
    );
}

#[test]
fn file_touch_as_salt_applies_it() {
    check("touch");
}

#[test]
fn file_copy_as_salt_applies_it() {
    check("copy");
}

#[test]
fn file_serialize_as_salt_applies_it() {
    check("serialize");
}

#[test]
fn ini_options_as_salt_applies_them() {
    check("ini");
}

#[test]
fn git_config_as_salt_applies_it() {
    check("git");
}

#[test]
fn file_directory_clean_as_salt_applies_it() {
    check("clean");
}

#[test]
fn file_directory_recurse_and_what_stands_in_the_way_as_salt_applies_it() {
    check("directory");
}

#[test]
fn file_managed_contents_pillar_as_salt_applies_it() {
    check("contents");
}

#[test]
fn file_comment_and_uncomment_as_salt_applies_them() {
    check("comment");
}
