//! file.comment and file.uncomment through the binary against a real host
//! (node3 of the podman fleet, only under /srv/halite-comment-tests/):
//! test=True shows the diff the apply then makes, the file is edited where
//! a symbolic link points (as Salt does) keeping its owner and mode, the old
//! content is kept as `NAME.bak` beside it, and the next run changes
//! nothing in one execution. Salt's exact answers are checked locally by
//! tests/file_states.rs (the `comment` case).

mod harness;

use harness::Fleet;
use serde_json::{json, Value};

const NODE: &str = "node3";
const BASE: &str = "/srv/halite-comment-tests";

fn fresh(fleet: &Fleet, test: &str) -> String {
    let dir = format!("{BASE}/{test}");
    fleet.podman_exec_ok(NODE, &format!("rm -rf '{dir}' && mkdir -p '{dir}'"));
    dir
}

fn read(fleet: &Fleet, path: &str) -> String {
    fleet.podman_exec_ok(NODE, &format!("cat -- '{path}'"))
}

fn stat(fleet: &Fleet, path: &str) -> String {
    fleet
        .podman_exec_ok(NODE, &format!("stat -c '%U %G %a' -- '{path}'"))
        .trim()
        .to_string()
}

/// ID -> the state's {result, changes, comment}.
fn states(v: &Value) -> Value {
    let ret = v["results"][NODE]["ret"]
        .as_object()
        .unwrap_or_else(|| panic!("no results: {v}"));
    ret.values()
        .map(|s| {
            (
                s["__id__"].as_str().unwrap().to_string(),
                json!({"result": s["result"], "changes": s["changes"], "comment": s["comment"]}),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[test]
fn comment_and_uncomment_through_a_link_with_a_backup() {
    let fleet = Fleet::get();
    let dir = fresh(fleet, "link");
    let real = format!("{dir}/redis.conf");
    let link = format!("{dir}/current.conf");
    let other = format!("{dir}/other.conf");
    fleet.podman_exec_ok(
        NODE,
        &format!(
            "printf 'bind 127.0.0.1\\n#port 6379\\nsave 60\\n' > '{real}' && \
             chown deploy:alice '{real}' && chmod 640 '{real}' && ln -s redis.conf '{link}' && \
             printf '#port 6379\n' > '{other}'"
        ),
    );
    let ws = fleet.workspace();
    ws.write("states/top.sls", "base:\n  node3:\n    - comment\n");
    ws.write(
        "states/comment.sls",
        &format!(
            "bind:\n  file.comment:\n    - name: {link}\n    - regex: ^bind 127.0.0.1$\n\
             port:\n  file.uncomment:\n    - name: {other}\n    - regex: ^port\n    - backup: False\n"
        ),
    );
    let (out, test) = ws.halite_json(["node3", "state.apply", "test=True"]);
    assert_eq!(out.code, Some(0), "{out}");
    let test = states(&test);
    assert_eq!(test["bind"]["result"], Value::Null, "{test}");
    assert_eq!(
        test["bind"]["changes"]["diff"],
        "--- \n+++ \n@@ -1,3 +1,3 @@\n-bind 127.0.0.1\n+#bind 127.0.0.1\n #port 6379\n save 60\n",
        "{test}"
    );
    assert_eq!(
        test["bind"]["comment"],
        format!("File {link} is set to be updated")
    );
    assert_eq!(
        test["port"],
        json!({"result": null, "changes": {"diff": "--- \n+++ \n@@ -1 +1 @@\n-#port 6379\n+port 6379\n"}, "comment": format!("File {other} is set to be updated")})
    );
    assert_eq!(
        read(fleet, &real),
        "bind 127.0.0.1\n#port 6379\nsave 60\n",
        "test=True changes nothing"
    );
    assert_eq!(read(fleet, &other), "#port 6379\n");

    let (out, v) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    let applied = states(&v);
    assert_eq!(
        applied["bind"],
        json!({"result": true, "changes": test["bind"]["changes"], "comment": "Commented lines successfully"}),
        "the apply made the change test=True showed"
    );
    assert_eq!(
        applied["port"],
        json!({"result": true, "changes": test["port"]["changes"], "comment": "Uncommented lines successfully"})
    );
    assert_eq!(read(fleet, &real), "#bind 127.0.0.1\n#port 6379\nsave 60\n");
    assert_eq!(read(fleet, &other), "port 6379\n");
    assert_eq!(
        fleet
            .podman_exec_ok(NODE, &format!("readlink '{link}'"))
            .trim(),
        "redis.conf",
        "the link stays a link"
    );
    assert_eq!(stat(fleet, &real), "deploy alice 640");
    // The backup sits beside the real file, with the old content, owner
    // and mode; uncomment had `backup: False`.
    let bak = format!("{real}.bak");
    assert_eq!(read(fleet, &bak), "bind 127.0.0.1\n#port 6379\nsave 60\n");
    assert_eq!(stat(fleet, &bak), "deploy alice 640");
    let listing = fleet.podman_exec_ok(NODE, &format!("ls -A '{dir}'"));
    assert_eq!(
        listing.split_whitespace().collect::<Vec<_>>(),
        ["current.conf", "other.conf", "redis.conf", "redis.conf.bak"]
    );

    // Converged: Salt's answers, nothing applied, the gather alone.
    let (out, v) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    let again = states(&v);
    assert_eq!(
        again["bind"],
        json!({"result": true, "changes": {}, "comment": "Pattern already commented"})
    );
    assert_eq!(
        again["port"],
        json!({"result": true, "changes": {}, "comment": "Pattern already uncommented"})
    );
    assert_eq!(v["results"][NODE]["executions"], 1, "{v}");
}

/// Bad input fails before anything connects, naming the state; a pattern
/// found nowhere is Salt's error and changes nothing.
#[test]
fn bad_arguments_and_a_missing_pattern() {
    let fleet = Fleet::get();
    let dir = fresh(fleet, "bad");
    let conf = format!("{dir}/a.conf");
    fleet.podman_exec_ok(NODE, &format!("printf 'a = 1\\n' > '{conf}'"));
    let ws = fleet.workspace();
    ws.write("states/top.sls", "base:\n  node3:\n    - bad\n");
    for (args, why) in [
        ("    - regex: ^a\n    - backup: /../../etc/x\n", "backup"),
        ("    - regex: ^(a\n", "is not valid"),
        ("    - pattern: ^a\n", "pattern"),
    ] {
        ws.write(
            "states/bad.sls",
            &format!("broken:\n  file.comment:\n    - name: {conf}\n{args}"),
        );
        let out = ws.halite(["node3", "state.apply"]);
        assert!(!out.success(), "{args}: {out}");
        let text = format!("{}{}", out.stdout, out.stderr);
        assert!(
            text.contains("broken") && text.contains(why),
            "{args}: {text}"
        );
    }
    ws.write(
        "states/bad.sls",
        &format!("absent:\n  file.comment:\n    - name: {conf}\n    - regex: ^b = 2$\n"),
    );
    let (_, v) = ws.halite_json(["node3", "state.apply"]);
    assert_eq!(
        states(&v)["absent"],
        json!({"result": false, "changes": {}, "comment": "b = 2: Pattern not found"})
    );
    assert_eq!(read(fleet, &conf), "a = 1\n");
    let listing = fleet.podman_exec_ok(NODE, &format!("ls -A '{dir}'"));
    assert_eq!(listing.trim(), "a.conf", "no backup without an edit");
}
