//! The file state module against a real host (node3 of the podman fleet,
//! only under /srv/halite-file-tests/): for each function, the probe runs
//! there, `plan` decides, the apply snippet runs there, and a second probe
//! must plan nothing — the test=True prediction is what apply did, and a
//! second run changes nothing. The host is then checked behind halite's back.
//! The editing functions (replace, line, blockreplace, append) are also
//! run through the binary: test=True, apply, and a second no-op run.

mod harness;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use halite::modules::{lookup, BuildCtx, Output, Plan, StateFunction};
use halite::render::Renderer;
use halite::state::Chunk;
use harness::Fleet;
use serde_json::{json, Value};

const NODE: &str = "node3";
const BASE: &str = "/srv/halite-file-tests";

fn chunk(function: &str, name: &str, args: Value) -> Chunk {
    Chunk {
        sls: "t".into(),
        file: "t.sls".into(),
        ..Chunk::standalone("file", function, name, args)
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
        let script = f.apply(&first).unwrap();
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
    assert_eq!(p.changes[&d], json!({"directory": "new"}));
    assert_eq!(stat(fleet, &d, "%U %a %F"), "alice 2750 directory");

    // Mode drift on an existing directory.
    fleet.podman_exec_ok(NODE, &format!("chmod 700 '{d}'"));
    let p = converge(fleet, &*f);
    assert_eq!(
        p.changes,
        *json!({d.clone(): {"mode": "2750"}, "mode": "2750"})
            .as_object()
            .unwrap()
    );

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

// ---- the editing functions: file.replace, file.line, file.blockreplace, file.append

/// Put `content` at `path` on node3, owned by deploy:alice with mode 640.
fn put(fleet: &Fleet, path: &str, content: &[u8]) {
    let q = halite::transport::quote::quote(path);
    let b64 = data_encoding::BASE64.encode(content);
    fleet.podman_exec_ok(
        NODE,
        &format!("echo {b64} | base64 -d > {q} && chown deploy:alice {q} && chmod 640 {q}"),
    );
}

/// converge, and check that the diff test=True showed is the change the
/// apply made (read back behind halite's back) and that owner and mode stayed.
fn edit(fleet: &Fleet, f: &dyn StateFunction, path: &str) -> (Plan, String) {
    let before = read_b64(fleet, path);
    let meta = stat(fleet, path, "%U %G %a");
    let p = converge(fleet, f);
    let after = read_b64(fleet, path);
    assert!(!p.is_noop(), "nothing to do on {path}");
    assert_eq!(
        p.changes["diff"].as_str(),
        Some(halite::modules::file::diff_text(&before, &after).as_str()),
        "the prediction is the change"
    );
    assert_eq!(stat(fleet, path, "%U %G %a"), meta, "owner and mode kept");
    (p, String::from_utf8(after).unwrap())
}

fn plan_err(fleet: &Fleet, f: &dyn StateFunction) -> String {
    let (text, rc) = run(fleet, &f.probe());
    f.plan(Output { text: &text, rc }).unwrap_err()
}

#[test]
fn replace_edits_in_place() {
    let fleet = Fleet::get();
    let dir = fresh(fleet, "replace");
    let name = format!("{dir}/sshd config");
    put(fleet, &name, b"Port 22\n#PermitRootLogin yes\nUsePAM yes\n");
    let f = build(
        no_states(),
        None,
        "replace",
        &name,
        json!({"pattern": "^#?(PermitRootLogin) .*$", "repl": "\\1 no"}),
    );
    let (p, after) = edit(fleet, &*f, &name);
    assert_eq!(after, "Port 22\nPermitRootLogin no\nUsePAM yes\n");
    assert_eq!(p.changes.len(), 1);
    assert_eq!(p.comment, "Changes would have been made");

    // append_if_not_found: added once, the second run finds it.
    let f = build(
        no_states(),
        None,
        "replace",
        &name,
        json!({"pattern": "^X11Forwarding .*$", "repl": "X11Forwarding no",
               "append_if_not_found": true}),
    );
    let (_, after) = edit(fleet, &*f, &name);
    assert!(after.ends_with("UsePAM yes\nX11Forwarding no\n"), "{after}");
    let left = fleet.podman_exec_ok(NODE, &format!("ls -A '{dir}'"));
    assert_eq!(left.trim(), "sshd config", "no temporary files left");
}

#[test]
fn line_modes_on_a_real_file() {
    let fleet = Fleet::get();
    let dir = fresh(fleet, "line");
    let name = format!("{dir}/nsswitch.conf");
    put(
        fleet,
        &name,
        b"passwd: files\nhosts: files dns\n  # old\nprotocols: db files",
    );
    let steps: [(Value, &str); 4] = [
        (
            json!({"mode": "ensure", "content": "networks: files", "after": "^hosts:"}),
            "passwd: files\nhosts: files dns\nnetworks: files\n  # old\nprotocols: db files",
        ),
        (
            json!({"mode": "insert", "content": "# managed", "location": "start"}),
            "# managed\npasswd: files\nhosts: files dns\nnetworks: files\n  # old\nprotocols: db files",
        ),
        (
            json!({"mode": "replace", "match": "# old", "content": "group: files"}),
            "# managed\npasswd: files\nhosts: files dns\nnetworks: files\n  group: files\nprotocols: db files",
        ),
        (
            json!({"mode": "delete", "match": "^protocols"}),
            "# managed\npasswd: files\nhosts: files dns\nnetworks: files\n  group: files\n",
        ),
    ];
    for (args, want) in steps {
        let f = build(no_states(), None, "line", &name, args.clone());
        let (p, after) = edit(fleet, &*f, &name);
        assert_eq!(after, want, "{args}");
        assert_eq!(p.comment, "Changes would be made");
    }

    // create: a missing file is made, with the declared owner and mode.
    let new = format!("{dir}/new.conf");
    let f = build(
        no_states(),
        None,
        "line",
        &new,
        json!({"mode": "insert", "location": "end", "content": "a=1", "create": true,
               "user": "deploy", "file_mode": "0600"}),
    );
    let p = converge(fleet, &*f);
    assert_eq!(p.changes["mode"], "0600");
    assert_eq!(read_b64(fleet, &new), b"a=1\n");
    assert_eq!(stat(fleet, &new, "%U %a"), "deploy 600");
}

#[test]
fn blockreplace_manages_the_zone() {
    let fleet = Fleet::get();
    let dir = fresh(fleet, "block");
    let name = format!("{dir}/hosts");
    put(
        fleet,
        &name,
        b"127.0.0.1 localhost\n#-- start managed zone --\n10.0.0.9 old\n#-- end managed zone --\n::1 localhost\n",
    );
    let f = build(
        no_states(),
        None,
        "blockreplace",
        &name,
        json!({"content": "10.0.0.1 a\n10.0.0.2 b\n"}),
    );
    let (_, after) = edit(fleet, &*f, &name);
    assert_eq!(
        after,
        "127.0.0.1 localhost\n#-- start managed zone --\n10.0.0.1 a\n10.0.0.2 b\n#-- end managed zone --\n::1 localhost\n"
    );

    // No markers: an error unless append_if_not_found.
    let other = format!("{dir}/plain");
    put(fleet, &other, b"x");
    let f = build(
        no_states(),
        None,
        "blockreplace",
        &other,
        json!({"content": "y"}),
    );
    assert_eq!(
        plan_err(fleet, &*f),
        "Cannot edit marked block. Markers were not found in file."
    );
    let f = build(
        no_states(),
        None,
        "blockreplace",
        &other,
        json!({"content": "y", "append_if_not_found": true,
               "marker_start": "# BEGIN halite", "marker_end": "# END halite"}),
    );
    let (_, after) = edit(fleet, &*f, &other);
    assert_eq!(after, "x\n# BEGIN halite\ny\n# END halite\n");
}

#[test]
fn append_creates_and_extends() {
    let fleet = Fleet::get();
    let dir = fresh(fleet, "append");
    let name = format!("{dir}/a/b/motd");
    let f = build(
        no_states(),
        None,
        "append",
        &name,
        json!({"text": ["Welcome", "be nice"], "makedirs": true}),
    );
    let p = converge(fleet, &*f);
    assert_eq!(read_b64(fleet, &name), b"Welcome\nbe nice\n");
    assert_eq!(p.comment, format!("File {name} is set to be updated"));
    put(fleet, &name, b"Welcome\n");
    let (_, after) = edit(fleet, &*f, &name);
    assert_eq!(after, "Welcome\nbe nice\n");
}

#[test]
fn an_edit_never_clobbers_a_file_changed_since_the_probe() {
    let fleet = Fleet::get();
    let dir = fresh(fleet, "stale");
    let name = format!("{dir}/conf");
    put(fleet, &name, b"a=1\n");
    let f = build(
        no_states(),
        None,
        "replace",
        &name,
        json!({"pattern": "a=1", "repl": "a=2"}),
    );
    let p = plan_on_host(fleet, &*f);
    fleet.podman_exec_ok(NODE, &format!("echo b=1 >> '{name}'"));
    let (out, rc) = run(fleet, &f.apply(&p).unwrap());
    let done = f.finish(&p, Output { text: &out, rc });
    assert!(!done.result);
    assert!(
        done.comment
            .contains(&format!("{name} changed on the host after it was read")),
        "{}",
        done.comment
    );
    assert_eq!(read_b64(fleet, &name), b"a=1\nb=1\n");
    let left = fleet.podman_exec_ok(NODE, &format!("ls -A '{dir}'"));
    assert_eq!(left.trim(), "conf", "temporary file removed");
    // Planned again from what is there now, it applies.
    converge(fleet, &*f);
    assert_eq!(read_b64(fleet, &name), b"a=2\nb=1\n");
}

#[test]
fn missing_and_oversized_files_fail_clearly() {
    let fleet = Fleet::get();
    let dir = fresh(fleet, "missing");
    let gone = format!("{dir}/gone");
    let args = [
        ("replace", json!({"pattern": "a", "repl": "b"})),
        (
            "line",
            json!({"mode": "ensure", "content": "a", "after": "b"}),
        ),
        ("blockreplace", json!({"content": "a"})),
    ];
    for (function, a) in &args {
        let f = build(no_states(), None, function, &gone, a.clone());
        assert_eq!(
            plan_err(fleet, &*f),
            format!("{gone}: file not found"),
            "{function}"
        );
    }
    let f = build(
        no_states(),
        None,
        "replace",
        &gone,
        json!({"pattern": "a", "repl": "b", "ignore_if_missing": true}),
    );
    assert!(plan_on_host(fleet, &*f).is_noop());

    let big = format!("{dir}/big");
    fleet.podman_exec_ok(
        NODE,
        &format!("head -c 300000 /dev/zero | tr '\\0' a > '{big}'"),
    );
    for (function, a) in &args {
        let f = build(no_states(), None, function, &big, a.clone());
        let e = plan_err(fleet, &*f);
        assert!(
            e.contains(&big) && e.contains("262144 bytes"),
            "{function}: {e}"
        );
    }
}

/// Through the binary: test=True predicts, the apply does exactly that, and
/// the next run changes nothing.
#[test]
fn edit_states_through_the_binary() {
    let fleet = Fleet::get();
    let dir = fresh(fleet, "e2e");
    put(fleet, &format!("{dir}/r.conf"), b"listen 80\n");
    put(fleet, &format!("{dir}/l.conf"), b"[main]\nb=2\n");
    put(
        fleet,
        &format!("{dir}/b.conf"),
        b"top\n# BEGIN\nold\n# END\n",
    );
    let ws = fleet.workspace();
    ws.write("states/top.sls", "base:\n  node3:\n    - edits\n");
    ws.write(
        "states/edits.sls",
        &format!(
            r#"
port:
  file.replace:
    - name: {dir}/r.conf
    - pattern: '^(listen) \d\d$'
    - repl: '\1 8080'
key:
  file.line:
    - name: {dir}/l.conf
    - mode: ensure
    - content: a=1
    - after: '\[main\]'
zone:
  file.blockreplace:
    - name: {dir}/b.conf
    - marker_start: '# BEGIN'
    - marker_end: '# END'
    - content: |
        new
motd:
  file.append:
    - name: {dir}/motd
    - text:
      - hello
      - world
"#
        ),
    );
    let states = |v: &Value| -> Vec<(String, Value, Value, String)> {
        let ret = v["results"][NODE]["ret"]
            .as_object()
            .unwrap_or_else(|| panic!("no state results: {v}"));
        let mut out: Vec<_> = ret
            .values()
            .map(|s| {
                (
                    s["__id__"].as_str().unwrap().to_string(),
                    s["result"].clone(),
                    s["changes"].clone(),
                    s["comment"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    };
    let files = || {
        fleet.podman_exec_ok(
            NODE,
            &format!("cd '{dir}' && for f in b.conf l.conf r.conf motd; do echo \"== $f\"; cat $f 2>&1; done; true"),
        )
    };
    let before = files();

    let (out, predicted) = ws.halite_json(["node3", "state.apply", "test=True"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(files(), before, "test=True changed nothing");
    let predicted = states(&predicted);
    assert_eq!(predicted.len(), 4);
    for (id, result, changes, _) in &predicted {
        assert!(result.is_null(), "{id} would change: {predicted:?}");
        assert!(changes["diff"].is_string(), "{id}: {changes}");
    }

    let (out, applied) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    let applied = states(&applied);
    for ((id, result, changes, comment), (_, _, predicted, _)) in applied.iter().zip(&predicted) {
        assert_eq!(result, &Value::Bool(true), "{id}: {comment}");
        assert_eq!(
            changes, predicted,
            "{id}: test=True showed what the apply did"
        );
    }
    assert_eq!(
        files(),
        "== b.conf\ntop\n# BEGIN\nnew\n# END\n\
         == l.conf\n[main]\na=1\nb=2\n\
         == r.conf\nlisten 8080\n\
         == motd\nhello\nworld\n"
    );

    let (out, again) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    for (id, result, changes, _) in states(&again) {
        assert_eq!(result, Value::Bool(true), "{id}");
        assert_eq!(changes, json!({}), "{id}: the second run changes nothing");
    }
}

/// Two edits of one file in one run: the second was planned from the
/// content the first one replaced, so it fails instead of undoing it; the
/// next run applies it.
#[test]
fn two_edits_of_one_file_in_one_run() {
    let fleet = Fleet::get();
    let dir = fresh(fleet, "twice");
    let name = format!("{dir}/app.conf");
    put(fleet, &name, b"a=1\nb=1\n");
    let ws = fleet.workspace();
    ws.write("states/top.sls", "base:\n  node3:\n    - twice\n");
    ws.write(
        "states/twice.sls",
        &format!(
            "first:\n  file.replace:\n    - name: {name}\n    - pattern: a=1\n    - repl: a=2\n\
             second:\n  file.replace:\n    - name: {name}\n    - pattern: b=1\n    - repl: b=2\n"
        ),
    );
    let result = |v: &Value, id: &str| -> (Value, String) {
        let s = v["results"][NODE]["ret"]
            .as_object()
            .unwrap()
            .values()
            .find(|s| s["__id__"] == id)
            .unwrap_or_else(|| panic!("no {id}: {v}"));
        (
            s["result"].clone(),
            s["comment"].as_str().unwrap().to_string(),
        )
    };
    // test=True: the first edit is predicted; the second is decided after it.
    let (out, v) = ws.halite_json(["node3", "state.apply", "test=True"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(result(&v, "first").0, Value::Null);
    let (r, comment) = result(&v, "second");
    assert_eq!(r, Value::Null);
    assert!(comment.contains("changes the same file"), "{comment}");
    assert_eq!(read_b64(fleet, &name), b"a=1\nb=1\n");
    // The real run applies both, the second from what the first left
    // (probed again after it: one more gather + apply).
    let (out, v) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(result(&v, "first").0, Value::Bool(true));
    assert_eq!(result(&v, "second").0, Value::Bool(true), "{v}");
    assert_eq!(v["results"][NODE]["executions"], 4, "{v}");
    assert_eq!(read_b64(fleet, &name), b"a=2\nb=2\n");
    // And then nothing to do, in one execution.
    let (out, v) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(result(&v, "second").0, Value::Bool(true));
    assert_eq!(v["results"][NODE]["executions"], 1, "{v}");
    assert_eq!(read_b64(fleet, &name), b"a=2\nb=2\n");
}

/// file.recurse through the binary: a salt:// tree with a jinja template,
/// owner and modes; test=True shows exactly what the apply does; clean
/// removes strays; a file dropped from the source (without clean) becomes
/// a drift orphan that prune removes.
#[test]
fn recurse_mirrors_a_tree_through_the_binary() {
    let fleet = Fleet::get();
    // Both write node3's drift ledger: one at a time.
    let _serial = fleet.serial();
    let dir = fresh(fleet, "recurse");
    let dst = format!("{dir}/app");
    fleet.podman_exec_ok(NODE, "rm -rf /var/lib/halite");
    let ws = fleet.workspace();
    ws.write("states/top.sls", "base:\n  node3:\n    - tree\n");
    let sls = |clean: bool| {
        format!(
            "app-tree:\n  file.recurse:\n    - name: {dst}\n    - source: salt://files/app\n    - template: jinja\n    - user: nobody\n    - dir_mode: 750\n    - file_mode: 640\n    - exclude_pat: '*.swp'\n    - clean: {clean}\n"
        )
    };
    ws.write("states/tree.sls", &sls(true));
    ws.write("states/files/app/app.conf", "host={{ grains['id'] }}\n");
    ws.write("states/files/app/conf.d/extra.conf", "extra\n");
    ws.write("states/files/app/notes.swp", "editor junk\n");
    let tree = || {
        fleet.podman_exec_ok(
            NODE,
            &format!("cd '{dst}' 2>/dev/null && find . -mindepth 1 | sort | while read -r f; do echo \"$f $(stat -c '%U %a' \"$f\")\"; done; true"),
        )
    };
    let result = |v: &Value| -> Value {
        v["results"][NODE]["ret"]
            .as_object()
            .unwrap_or_else(|| panic!("no state results: {v}"))
            .values()
            .next()
            .unwrap()
            .clone()
    };

    let (out, predicted) = ws.halite_json(["node3", "state.apply", "test=True"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(tree(), "", "test=True changed nothing");
    let predicted = result(&predicted);
    assert!(predicted["result"].is_null(), "{predicted}");
    let (out, applied) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    let applied = result(&applied);
    assert_eq!(applied["result"], true, "{applied}");
    assert_eq!(
        applied["changes"], predicted["changes"],
        "test=True showed what the apply did"
    );
    assert_eq!(
        tree(),
        "./app.conf nobody 640\n./conf.d nobody 750\n./conf.d/extra.conf nobody 640\n"
    );
    assert_eq!(
        fleet.podman_exec_ok(NODE, &format!("cat {dst}/app.conf")),
        "host=node3\n"
    );
    let (out, again) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(result(&again)["changes"], json!({}), "{again}");

    // Strays are cleaned, excluded names kept.
    fleet.podman_exec_ok(
        NODE,
        &format!("mkdir -p {dst}/old && touch {dst}/old/x {dst}/stray {dst}/keep.swp"),
    );
    let (out, v) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        result(&v)["changes"]["removed"],
        json!([format!("{dst}/old"), format!("{dst}/stray")]),
        "{v}"
    );
    assert!(tree().contains("./keep.swp"), "{}", tree());
    assert!(!tree().contains("stray"), "{}", tree());

    // A file dropped from the source without clean: a drift orphan,
    // and prune removes it (halite created it).
    ws.write("states/tree.sls", &sls(false));
    std::fs::remove_file(ws.path().join("states/files/app/conf.d/extra.conf")).unwrap();
    let (out, v) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    let orphans: Vec<&str> = v["results"][NODE]["drift"]["orphans"]
        .as_array()
        .unwrap_or_else(|| panic!("no orphans: {v}"))
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        orphans,
        [format!("{dst}/conf.d"), format!("{dst}/conf.d/extra.conf")],
        "{v}"
    );
    let (out, v) = ws.halite_json(["node3", "state.apply", "prune=True"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(!tree().contains("conf.d"), "{v}\n{}", tree());

    // With clean, what is dropped from the source is removed in the same
    // run and forgotten by the ledger: no orphan now, nothing gone later.
    ws.write("states/tree.sls", &sls(true));
    ws.write("states/files/app/sub/one.conf", "1\n");
    let (out, v) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(tree().contains("./sub/one.conf"), "{v}");
    std::fs::remove_dir_all(ws.path().join("states/files/app/sub")).unwrap();
    let (out, v) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        result(&v)["changes"]["removed"],
        json!([format!("{dst}/sub")]),
        "{v}"
    );
    assert!(v["results"][NODE]["drift"].is_null(), "{v}");
    let (out, v) = ws.halite_json(["node3", "state.drift"]);
    assert_eq!(out.code, Some(0), "no drift left: {v}");
    fleet.podman_exec_ok(NODE, &format!("rm -rf {dir} /var/lib/halite"));
}

/// file.directory's `recurse` (with `max_depth`, `children_only`), a link
/// to a directory accepted as the directory (`allow_symlink`), and `force`
/// through the binary on node3: test=True changes nothing and lists each
/// path the apply fixes; the apply fixes exactly those (a link inside is
/// changed itself, never what it points to); a second apply changes nothing
/// in one execution.
#[test]
fn directory_recurse_and_links_through_the_binary() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    let dir = fresh(fleet, "dirrecurse");
    fleet.podman_exec_ok(
        NODE,
        &format!(
            "cd {dir} && mkdir -p data/sub/deep real capped/a/b kids/k && touch data/f data/sub/g 'data/sub/deep/new\nline' capped/top capped/a/b/low kids/k/x blocker \
             && ln -s /etc data/etc && ln -s real lnk && chmod 700 data/sub"
        ),
    );
    let ws = fleet.workspace();
    ws.write("states/top.sls", "base:\n  node3:\n    - dirs\n");
    ws.write(
        "states/dirs.sls",
        &format!(
            "{dir}/data:\n  file.directory:\n    - user: deploy\n    - group: alice\n    - dir_mode: 750\n    - file_mode: 640\n    - recurse: [user, group, mode]\n\
             {dir}/capped:\n  file.directory:\n    - dir_mode: 711\n    - file_mode: 600\n    - max_depth: 1\n    - recurse: [mode]\n\
             {dir}/kids:\n  file.directory:\n    - user: deploy\n    - children_only: True\n    - recurse: [user]\n\
             {dir}/lnk:\n  file.directory:\n    - group: alice\n    - mode: 700\n\
             {dir}/blocker:\n  file.directory:\n    - force: True\n"
        ),
    );
    let tree = || {
        fleet.podman_exec_ok(
            NODE,
            &format!("cd '{dir}' && find . | sort | while read -r f; do echo \"$f $(stat -c '%U:%G %a %F' -- \"$f\")\"; done; stat -c '%U:%G %a' /etc"),
        )
    };
    let before = tree();
    let states = |v: &Value| -> serde_json::Map<String, Value> {
        v["results"][NODE]["ret"]
            .as_object()
            .unwrap_or_else(|| panic!("no state results: {v}"))
            .values()
            .map(|s| (s["__id__"].as_str().unwrap().to_string(), s.clone()))
            .collect()
    };
    let (out, predicted) = ws.halite_json(["node3", "state.apply", "test=True"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(tree(), before, "test=True changed nothing");
    let predicted = states(&predicted);
    let data = format!("{dir}/data");
    let p = &predicted[&data];
    assert!(p["result"].is_null(), "{p}");
    let listed: Vec<String> = p["changes"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        listed,
        [
            format!("{data}/f"),
            format!("{data}/etc"),
            format!("{data}/sub"),
            format!("{data}/sub/g"),
            format!("{data}/sub/deep"),
            format!("{data}/sub/deep/new\nline"),
            data.clone(),
            "user".into(),
            "group".into(),
            "mode".into(),
        ],
        "{p}"
    );
    // The link inside: its owner, no mode.
    assert_eq!(
        p["changes"][format!("{data}/etc")],
        json!({"user": "deploy", "group": "alice"})
    );
    let (out, applied) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    let applied = states(&applied);
    for (id, s) in &applied {
        assert_eq!(s["result"], true, "{id}: {s}");
        // test=True predicted exactly the changes the apply reports.
        assert_eq!(s["changes"], predicted[id]["changes"], "{id}");
    }
    assert_eq!(
        applied[&data]["comment"],
        format!("Directory {data} updated")
    );
    assert_eq!(
        applied[&format!("{dir}/kids")]["comment"],
        format!("Directory {dir}/kids/* updated")
    );
    assert_eq!(
        applied[&format!("{dir}/blocker")]["changes"]["forced"],
        "File was forcibly replaced"
    );
    let t = tree();
    for want in [
        "./data deploy:alice 750 directory",
        "./data/etc deploy:alice 777 symbolic link",
        "./data/f deploy:alice 640 regular empty file",
        "./data/sub deploy:alice 750 directory",
        "./data/sub/deep deploy:alice 750 directory",
        "./capped root:root 711 directory",
        "./capped/a root:root 711 directory",
        "./capped/top root:root 600 regular empty file",
        "./capped/a/b root:root 755 directory",
        "./capped/a/b/low root:root 644 regular empty file",
        "./kids root:root 755 directory",
        "./kids/k deploy:root 755 directory",
        "./kids/k/x deploy:root 644 regular empty file",
        "./lnk root:alice 777 symbolic link",
        "./real root:root 755 directory",
        "./blocker root:root 755 directory",
        "\nroot:root 755\n",
    ] {
        assert!(t.contains(want), "{want}:\n{t}");
    }
    let (out, again) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(again["results"][NODE]["executions"], 1, "{again}");
    for (id, s) in states(&again) {
        assert_eq!(s["changes"], json!({}), "{id} changed again: {s}");
    }
    fleet.podman_exec_ok(NODE, &format!("rm -rf {dir} /var/lib/halite"));
}

/// Salt's arguments halite used to refuse, through the binary on node3:
/// `file.directory` `clean` keeping what the file states it requires
/// manage, `file.managed` `contents_pillar` from the host's pillar, and
/// `file.recurse` `keep_symlinks` / `sym_mode`. test=True changes nothing
/// and shows what the apply does; a second apply changes nothing.
#[test]
fn clean_pillar_contents_and_kept_links_through_the_binary() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    let dir = fresh(fleet, "fileargs");
    fleet.podman_exec_ok(
        NODE,
        &format!("mkdir -p {dir}/d/old {dir}/d/keepdir && touch {dir}/d/old/x {dir}/d/stray {dir}/d/app.log {dir}/d/keepdir/mine"),
    );
    let ws = fleet.workspace();
    ws.write("states/top.sls", "base:\n  node3:\n    - args\n");
    ws.write("pillar/top.sls", "base:\n  node3:\n    - data\n");
    ws.write(
        "pillar/data.sls",
        "app:\n  key: |\n    -----BEGIN KEY-----\n    c2VjcmV0\n    -----END KEY-----\n",
    );
    ws.write(
        "states/args.sls",
        &format!(
            "{dir}/d:\n  file.directory:\n    - clean: True\n    - exclude_pat: '*.log'\n    - require:\n      - file: keepdir\n\
             keepdir:\n  file.directory:\n    - name: {dir}/d/keepdir\n\
             {dir}/d/key.pem:\n  file.managed:\n    - contents_pillar: app:key\n    - mode: '0600'\n    - show_changes: False\n    - require_in:\n      - file: {dir}/d\n\
             {dir}/links:\n  file.recurse:\n    - source: salt://files/links\n    - keep_symlinks: True\n    - sym_mode: '0700'\n    - clean: True\n"
        ),
    );
    ws.write("states/files/links/real/a.conf", "a\n");
    std::os::unix::fs::symlink("real/a.conf", ws.path().join("states/files/links/a.link")).unwrap();
    std::fs::create_dir_all(ws.path().join("states/files/links/only")).unwrap();
    std::os::unix::fs::symlink(
        "/etc/hostname",
        ws.path().join("states/files/links/only/host"),
    )
    .unwrap();
    let tree = || {
        fleet.podman_exec_ok(
            NODE,
            &format!("cd '{dir}' && find . -mindepth 1 | sort | while read -r f; do echo \"$f $(stat -c '%F %a' \"$f\")\"; done"),
        )
    };
    let before = tree();
    let changes = |v: &Value| -> Value {
        v["results"][NODE]["ret"]
            .as_object()
            .unwrap_or_else(|| panic!("no state results: {v}"))
            .values()
            .map(|s| {
                (
                    s["__id__"].as_str().unwrap().to_string(),
                    s["changes"].clone(),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let (out, predicted) = ws.halite_json(["node3", "state.apply", "test=True"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(tree(), before, "test=True changed nothing");
    let (out, applied) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        changes(&applied),
        changes(&predicted),
        "test=True showed what the apply did"
    );
    let d = format!("{dir}/d");
    assert_eq!(
        changes(&applied)[&d]["removed"],
        json!([format!("{d}/old"), format!("{d}/stray")]),
        "{applied}"
    );
    let t = tree();
    for want in [
        "./d/app.log regular empty file 644",
        "./d/keepdir/mine regular empty file 644",
        "./d/key.pem regular file 600",
        "./links/a.link symbolic link 777",
        "./links/only directory 700",
        "./links/only/host symbolic link 777",
    ] {
        assert!(t.contains(want), "{want}:\n{t}");
    }
    assert!(!t.contains("stray") && !t.contains("./d/old"), "{t}");
    assert_eq!(
        fleet.podman_exec_ok(
            NODE,
            &format!("cat {d}/key.pem; readlink {dir}/links/a.link")
        ),
        "-----BEGIN KEY-----\nc2VjcmV0\n-----END KEY-----\nreal/a.conf\n"
    );
    let (out, again) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    for (id, c) in changes(&again).as_object().unwrap() {
        assert_eq!(c, &json!({}), "{id} changed again: {again}");
    }
    fleet.podman_exec_ok(NODE, &format!("rm -rf {dir} /var/lib/halite"));
}

/// archive.extracted through the binary: a tar.gz from salt:// is
/// unpacked once (test=True says so first), not again while it is
/// unchanged, again when it changes (clean: the old files go), never when
/// if_missing exists; owned as declared.
#[test]
fn archive_extracted_unpacks_once_per_archive() {
    let fleet = Fleet::get();
    // Both write node3's drift ledger: one at a time.
    let _serial = fleet.serial();
    let dir = fresh(fleet, "archive");
    let dst = format!("{dir}/app");
    let ws = fleet.workspace();
    ws.write("states/top.sls", "base:\n  node3:\n    - app\n");
    let pack = |files: &[(&str, &str)]| {
        let src = tempfile::tempdir().unwrap();
        for (name, content) in files {
            let p = src.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        std::fs::create_dir_all(ws.path().join("states/files")).unwrap();
        let ok = Command::new("tar")
            .arg("-czf")
            .arg(ws.path().join("states/files/app.tar.gz"))
            .arg("-C")
            .arg(src.path())
            .arg(".")
            .status()
            .unwrap();
        assert!(ok.success());
    };
    ws.write(
        "states/app.sls",
        &format!("{dst}:\n  archive.extracted:\n    - source: salt://files/app.tar.gz\n    - user: nobody\n    - clean: True\n"),
    );
    let tree = || {
        fleet.podman_exec_ok(
            NODE,
            &format!("cd '{dst}' 2>/dev/null && find . -mindepth 1 | sort | while read -r f; do echo \"$f $(stat -c %U \"$f\")\"; done; true"),
        )
    };
    let only = |v: &Value| -> Value {
        v["results"][NODE]["ret"]
            .as_object()
            .unwrap_or_else(|| panic!("no results: {v}"))
            .values()
            .next()
            .cloned()
            .unwrap()
    };
    pack(&[("bin/run", "#!/bin/sh\necho v1\n"), ("VERSION", "1\n")]);
    let (out, t) = ws.halite_json(["node3", "state.apply", "test=True"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(only(&t)["result"].is_null(), "{t}");
    assert_eq!(tree(), "", "test=True changed nothing");
    let (out, v) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(only(&v)["changes"], only(&t)["changes"], "{v}");
    assert_eq!(tree(), "./VERSION nobody\n./bin nobody\n./bin/run nobody\n");
    let (out, v) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(only(&v)["changes"], json!({}), "unchanged archive: {v}");

    // A new archive: extracted again, clean drops what it no longer has.
    pack(&[("bin/run2", "#!/bin/sh\necho v2\n"), ("VERSION", "2\n")]);
    let (out, v) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        only(&v)["comment"].as_str().unwrap().contains("extracted"),
        "{v}"
    );
    assert_eq!(
        tree(),
        "./VERSION nobody\n./bin nobody\n./bin/run2 nobody\n"
    );

    // if_missing: an existing path means never extract.
    pack(&[("VERSION", "3\n")]);
    ws.write(
        "states/app.sls",
        &format!("{dst}:\n  archive.extracted:\n    - source: salt://files/app.tar.gz\n    - if_missing: {dst}/VERSION\n"),
    );
    let (out, v) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(only(&v)["changes"], json!({}), "{v}");
    assert_eq!(
        fleet.podman_exec_ok(NODE, &format!("cat {dst}/VERSION")),
        "2\n"
    );
    fleet.podman_exec_ok(
        NODE,
        &format!("rm -rf {dir} /var/cache/halite/archive /var/lib/halite"),
    );
}

/// The tree probe and its fixes on every other platform the fleet has
/// (rhel, suse, arch, and Debian under OpenRC with BusyBox's account tools,
/// and under sysvinit): `recurse` with numeric owners (`nobody`'s group is
/// named differently on each) gives the same tree everywhere, test=True
/// changes nothing, and a second apply nothing at all.
#[test]
fn directory_recurse_on_every_platform() {
    let fleet = Fleet::get_platforms();
    let _serial = fleet.serial();
    let ws = fleet.workspace();
    let dir = "/srv/halite-dir-recurse";
    let ids: Vec<String> = fleet.hosts.iter().map(|h| h.id.clone()).collect();
    for id in &ids {
        fleet.podman_exec_ok(
            id,
            &format!(
                "rm -rf {dir} && mkdir -p {dir}/sub/deep && touch {dir}/f {dir}/sub/deep/g && ln -s /etc {dir}/etc"
            ),
        );
    }
    ws.write("states/top.sls", "base:\n  '*':\n    - dirs\n");
    ws.write(
        "states/dirs.sls",
        &format!(
            "{dir}:\n  file.directory:\n    - user: 65534\n    - group: 65534\n    - dir_mode: '0750'\n    - file_mode: '0604'\n    - recurse: [user, group, mode]\n"
        ),
    );
    let tree = |id: &str| {
        fleet.podman_exec_ok(
            id,
            &format!("cd {dir} && for f in . etc f sub sub/deep sub/deep/g; do echo \"$f $(stat -c '%u:%g %a' \"$f\")\"; done; stat -c '%u:%g' /etc"),
        )
    };
    let before: Vec<String> = ids.iter().map(|id| tree(id)).collect();
    let (out, v) = ws.halite_json(["*", "state.apply", "test=True"]);
    assert_eq!(out.code, Some(0), "{out}");
    for (id, b) in ids.iter().zip(&before) {
        assert_eq!(&tree(id), b, "{id}: test=True changed nothing");
        let s = v["results"][id.as_str()]["ret"]
            .as_object()
            .and_then(|r| r.values().next())
            .unwrap_or_else(|| panic!("{id}: {v}"));
        // Six paths, and the apply's top-level user/group/mode keys.
        assert_eq!(
            s["changes"].as_object().map(|c| c.len()),
            Some(9),
            "{id}: {s}"
        );
    }
    let (out, v) = ws.halite_json(["*", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}\n{v}");
    for id in &ids {
        assert_eq!(
            tree(id),
            ". 65534:65534 750\netc 65534:65534 777\nf 65534:65534 604\nsub 65534:65534 750\nsub/deep 65534:65534 750\nsub/deep/g 65534:65534 604\n0:0\n",
            "{id}"
        );
    }
    let (out, v) = ws.halite_json(["*", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    for id in &ids {
        let h = &v["results"][id.as_str()];
        assert_eq!(h["executions"], 1, "{id}: {h}");
        for s in h["ret"].as_object().unwrap().values() {
            assert_eq!(s["changes"], json!({}), "{id}: {s}");
        }
        fleet.podman_exec_ok(id, &format!("rm -rf {dir}"));
    }
}
