//! The file state module against a real host (node3 of the podman fleet,
//! only under /srv/halite-file-tests/): for each function, the probe runs
//! there, `plan` decides, the apply snippet runs there, and a second probe
//! must plan nothing — the test=True prediction is what apply did, and a
//! second run changes nothing. The host is then checked behind halite's back.

mod harness;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use halite::modules::{lookup, BuildCtx, Output, Plan, StateFunction};
use halite::render::Renderer;
use halite::state::{Chunk, Order};
use harness::Fleet;
use serde_json::{json, Value};

const NODE: &str = "node3";
const BASE: &str = "/srv/halite-file-tests";

fn chunk(function: &str, name: &str, args: Value) -> Chunk {
    Chunk {
        id: name.into(),
        name: name.into(),
        module: "file".into(),
        function: function.into(),
        sls: "t".into(),
        file: "t.sls".into(),
        args: args.as_object().cloned().unwrap_or_default(),
        globals: Default::default(),
        requisites: vec![],
        order: Order::Auto,
    }
}

fn build(
    root: &Path,
    renderer: Option<&Renderer>,
    function: &str,
    name: &str,
    args: Value,
) -> Box<dyn StateFunction> {
    let def = lookup("file", function).expect("file module registered");
    (def.build)(
        &chunk(function, name, args),
        &BuildCtx {
            states_root: root,
            renderer,
        },
    )
    .unwrap_or_else(|e| panic!("build failed: {e}"))
}

/// Run `script` on node3 with `sh`, fed on stdin as the engine sends it;
/// stdout and stderr together, and the exit code.
fn run(fleet: &Fleet, script: &str) -> (String, i32) {
    let container = &fleet.host(NODE).container;
    let mut child = Command::new("podman")
        .args(["--runtime", "runc", "exec", "-i", container, "sh"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("podman exec");
    // A subshell, as the engine wraps each snippet.
    let wrapped = format!("(\n{script}\n)\n");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(wrapped.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (text, out.status.code().unwrap_or(-1))
}

fn plan_on_host(fleet: &Fleet, f: &dyn StateFunction) -> Plan {
    let (text, rc) = run(fleet, &f.probe());
    f.plan(Output { text: &text, rc })
        .unwrap_or_else(|e| panic!("plan failed: {e}\nprobe printed:\n{text}"))
}

/// probe → plan → apply → probe → plan: returns the first plan (what
/// test=True would have shown) after checking the second is a no-op.
fn converge(fleet: &Fleet, f: &dyn StateFunction) -> Plan {
    let first = plan_on_host(fleet, f);
    if !first.is_noop() {
        let script = f.apply(&first);
        let (out, rc) = run(fleet, &script);
        let done = f.finish(&first, Output { text: &out, rc });
        assert!(done.result, "apply failed: {}\n{script}", done.comment);
        assert_eq!(done.changes, first.changes, "apply reported other changes");
    }
    let second = plan_on_host(fleet, f);
    assert!(
        second.is_noop(),
        "second run would change: {:?}",
        second.changes
    );
    first
}

/// A fresh directory for one test on node3.
fn fresh(fleet: &Fleet, test: &str) -> String {
    let dir = format!("{BASE}/{test}");
    fleet.podman_exec_ok(NODE, &format!("rm -rf '{dir}' && mkdir -p '{dir}'"));
    dir
}

/// `stat -c FMT` of `path` on node3 (the path is quoted for sh).
fn stat(fleet: &Fleet, path: &str, fmt: &str) -> String {
    let q = halite::transport::quote::quote(path);
    fleet
        .podman_exec_ok(NODE, &format!("stat -c '{fmt}' -- {q}"))
        .trim()
        .to_string()
}

fn read_b64(fleet: &Fleet, path: &str) -> Vec<u8> {
    let q = halite::transport::quote::quote(path);
    let b64 = fleet.podman_exec_ok(NODE, &format!("base64 -w0 < {q}"));
    data_encoding::BASE64.decode(b64.trim().as_bytes()).unwrap()
}

fn no_states() -> &'static Path {
    Path::new("/nonexistent")
}

#[test]
fn managed_creates_updates_and_fixes_metadata() {
    let fleet = Fleet::get();
    let dir = fresh(fleet, "managed");
    let name = format!("{dir}/a/b/app.conf");
    let f = build(
        no_states(),
        None,
        "managed",
        &name,
        json!({"contents": ["one", "two"], "makedirs": true, "user": "deploy",
               "group": "alice", "mode": 640, "dir_mode": "0750"}),
    );
    let p = converge(fleet, &*f);
    assert_eq!(p.changes["diff"], "New file");
    assert_eq!(p.changes["mode"], "0640");
    assert_eq!(read_b64(fleet, &name), b"one\ntwo\n");
    assert_eq!(
        stat(fleet, &name, "%U %G %a %F"),
        "deploy alice 640 regular file"
    );
    assert_eq!(stat(fleet, &format!("{dir}/a/b"), "%U %a"), "deploy 750");

    // Content change: a unified diff; metadata kept.
    let f = build(
        no_states(),
        None,
        "managed",
        &name,
        json!({"contents": "one\nthree\n", "contents_newline": false}),
    );
    let p = converge(fleet, &*f);
    let diff = p.changes["diff"].as_str().unwrap();
    assert!(diff.contains("-two\n+three\n"), "{diff}");
    assert_eq!(p.changes.len(), 1);
    assert_eq!(read_b64(fleet, &name), b"one\nthree\n");
    assert_eq!(stat(fleet, &name, "%U %G %a"), "deploy alice 640");

    // Drift behind halite's back: only the metadata is put back.
    fleet.podman_exec_ok(NODE, &format!("chown root '{name}' && chmod 666 '{name}'"));
    let f = build(
        no_states(),
        None,
        "managed",
        &name,
        json!({"contents": "one\nthree\n", "contents_newline": false,
               "user": "deploy", "mode": "0600"}),
    );
    let p = converge(fleet, &*f);
    assert_eq!(
        p.changes,
        *json!({"user": "deploy", "mode": "0600"})
            .as_object()
            .unwrap()
    );
    assert_eq!(stat(fleet, &name, "%U %G %a"), "deploy alice 600");

    // No leftover temporary files.
    let left = fleet.podman_exec_ok(NODE, &format!("ls -A '{dir}/a/b'"));
    assert_eq!(left.trim(), "app.conf");
}

#[test]
fn managed_survives_awkward_names_and_every_byte() {
    let fleet = Fleet::get();
    let dir = fresh(fleet, "bytes");
    let states = tempfile::tempdir().unwrap();
    let all: Vec<u8> = (0..=255u8).cycle().take(256 * 3).collect();
    std::fs::write(states.path().join("blob"), &all).unwrap();
    let name = format!("{dir}/it's a \"file\" $HOME `x` \\n;");
    let f = build(
        states.path(),
        None,
        "managed",
        &name,
        json!({"source": ["salt://missing", "salt://blob"], "backup": "minion"}),
    );
    let p = converge(fleet, &*f);
    assert_eq!(p.changes["diff"], "New file");
    assert_eq!(read_b64(fleet, &name), all);

    // Replace with text: the old one is kept in the backup directory.
    std::fs::write(states.path().join("text"), "plain\n").unwrap();
    let f = build(
        states.path(),
        None,
        "managed",
        &name,
        json!({"source": "salt://text", "backup": "minion"}),
    );
    let p = converge(fleet, &*f);
    assert_eq!(p.changes["diff"], "Replace binary file with text file");
    assert_eq!(read_b64(fleet, &name), b"plain\n");
    let backups = fleet.podman_exec_ok(
        NODE,
        &format!("ls /var/cache/halite/file_backup{dir}/ | wc -l"),
    );
    assert_eq!(backups.trim(), "1");
    fleet.podman_exec_ok(NODE, &format!("rm -rf /var/cache/halite/file_backup{BASE}"));
}

#[test]
fn managed_renders_jinja_templates() {
    let fleet = Fleet::get();
    let dir = fresh(fleet, "template");
    let states = tempfile::tempdir().unwrap();
    std::fs::write(
        states.path().join("motd.j2"),
        "{{ grains['id'] }} is {{ role }} in {{ dc }}\n",
    )
    .unwrap();
    let r = Renderer::new(states.path(), NODE, json!({"id": NODE}), json!({}));
    let name = format!("{dir}/motd");
    let f = build(
        states.path(),
        Some(&r),
        "managed",
        &name,
        json!({"source": "salt://motd.j2", "template": "jinja",
               "defaults": {"role": "db", "dc": "dc2"}, "context": {"role": "web"}}),
    );
    converge(fleet, &*f);
    assert_eq!(read_b64(fleet, &name), b"node3 is web in dc2\n");
}

#[test]
fn directory_symlink_and_absent() {
    let fleet = Fleet::get();
    let dir = fresh(fleet, "dirs");
    let d = format!("{dir}/x/y z");
    let f = build(
        no_states(),
        None,
        "directory",
        &d,
        json!({"makedirs": true, "user": "alice", "mode": 2750}),
    );
    let p = converge(fleet, &*f);
    assert_eq!(p.changes[&d], "New Dir");
    assert_eq!(stat(fleet, &d, "%U %a %F"), "alice 2750 directory");

    // Mode drift on an existing directory.
    fleet.podman_exec_ok(NODE, &format!("chmod 700 '{d}'"));
    let p = converge(fleet, &*f);
    assert_eq!(p.changes, *json!({"mode": "2750"}).as_object().unwrap());

    // A symlink; retargeted without force; its owner set on the link itself.
    let link = format!("{dir}/link 'q'");
    let l = build(no_states(), None, "symlink", &link, json!({"target": d}));
    assert_eq!(converge(fleet, &*l).changes["new"], link);
    let l = build(
        no_states(),
        None,
        "symlink",
        &link,
        json!({"target": "x", "user": "deploy"}),
    );
    converge(fleet, &*l);
    let q = halite::transport::quote::quote(&link);
    assert_eq!(
        fleet.podman_exec_ok(NODE, &format!("readlink {q}")).trim(),
        "x"
    );
    assert_eq!(stat(fleet, &link, "%U %F"), "deploy symbolic link");

    // A file in the way: an error without force, replaced with it.
    let blocked = format!("{dir}/blocked");
    fleet.podman_exec_ok(NODE, &format!("echo hi > '{blocked}'"));
    let l = build(
        no_states(),
        None,
        "symlink",
        &blocked,
        json!({"target": "x"}),
    );
    let (text, rc) = run(fleet, &l.probe());
    let e = l.plan(Output { text: &text, rc }).unwrap_err();
    assert!(e.contains("File exists where the symlink"), "{e}");
    let l = build(
        no_states(),
        None,
        "symlink",
        &blocked,
        json!({"target": "x", "force": true}),
    );
    converge(fleet, &*l);
    assert_eq!(stat(fleet, &blocked, "%F"), "symbolic link");

    // file.managed on a directory is an error, not a clobber.
    let m = build(no_states(), None, "managed", &d, json!({"contents": "x"}));
    let (text, rc) = run(fleet, &m.probe());
    assert!(m.plan(Output { text: &text, rc }).is_err());

    // absent: a link (not what it points to), then the whole tree.
    let a = build(no_states(), None, "absent", &link, json!({}));
    assert_eq!(converge(fleet, &*a).changes["removed"], link);
    assert_eq!(stat(fleet, &d, "%F"), "directory");
    let a = build(no_states(), None, "absent", &format!("{dir}/x"), json!({}));
    converge(fleet, &*a);
    let left = fleet.podman_exec_ok(NODE, &format!("ls -A '{dir}'"));
    assert_eq!(left.trim(), "blocked");
}
