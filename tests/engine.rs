//! The state engine through the real binary on a local-connection host
//! (this machine, in a temporary directory): requisites (require, onfail,
//! onchanges, watch, prereq), failhard, watch reactions (mod_watch), the
//! drift ledger's orphans and prune, and the JSON drift report's shape.
//! What only a real host shows (packages, services, users, sudo) stays in
//! the fleet suite (tests/states.rs, tests/drift.rs).

mod local;

use std::collections::BTreeMap;
use std::path::Path;

use local::{local_hosts, Project};
use serde_json::{json, Value};

/// A project with one local host, `h1`, and `states/demo.sls` = `sls`, in
/// which `OUT` stands for the project's `out/` directory (made here).
fn project(sls: &str) -> Project {
    let p = Project::new(&local_hosts(&["h1"]));
    std::fs::create_dir_all(p.path().join("out")).unwrap();
    write_sls(&p, sls);
    p
}

fn write_sls(p: &Project, sls: &str) {
    let text = sls.replace("OUT", &out(p).display().to_string());
    std::fs::create_dir_all(p.path().join("states")).unwrap();
    std::fs::write(p.path().join("states/demo.sls"), text).unwrap();
}

fn out(p: &Project) -> std::path::PathBuf {
    p.path().join("out")
}

/// `halite h1 state.apply demo ARGS`: (exit code, h1's result).
fn apply(p: &Project, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["h1", "state.apply", "demo"];
    all.extend_from_slice(args);
    let (code, v) = p.json(&all);
    (code, v["results"]["h1"].clone())
}

/// `halite h1 state.show_sls demo`, which must succeed: its chunks.
fn show(p: &Project) -> Vec<Value> {
    let (code, v) = p.json(&["h1", "state.show_sls", "demo"]);
    assert_eq!(code, 0, "{v}");
    v["results"]["h1"]["ret"]
        .as_object()
        .unwrap_or_else(|| panic!("no chunks: {v}"))
        .values()
        .cloned()
        .collect()
}

/// State ID -> (result, changed?, comment).
fn states(h: &Value) -> BTreeMap<String, (Value, bool, String)> {
    h["ret"]
        .as_object()
        .unwrap_or_else(|| panic!("no state results: {h}"))
        .values()
        .map(|s| {
            (
                s["__id__"].as_str().unwrap().to_string(),
                (
                    s["result"].clone(),
                    s["changes"].as_object().is_some_and(|c| !c.is_empty()),
                    s["comment"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

/// The IDs of the states that changed, sorted.
fn changed(h: &Value) -> Vec<String> {
    states(h)
        .into_iter()
        .filter(|(_, (_, c, _))| *c)
        .map(|(id, _)| id)
        .collect()
}

/// The files in `dir`, sorted, one per line.
fn ls(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.iter().map(|n| format!("{n}\n")).collect()
}

#[test]
fn require_onfail_and_onchanges_decide_as_in_salt() {
    let p = project(
        r#"
breaks:
  cmd.run:
    - name: exit 3
needs-it:
  cmd.run:
    - name: touch OUT/needs-it
    - require:
      - cmd: breaks
on-failure:
  cmd.run:
    - name: touch OUT/on-failure
    - onfail:
      - cmd: breaks
independent:
  cmd.run:
    - name: touch OUT/independent
after-change:
  cmd.run:
    - name: touch OUT/after-change
    - onchanges:
      - cmd: independent
quiet:
  test.succeed_without_changes: []
after-nothing:
  cmd.run:
    - name: touch OUT/after-nothing
    - onchanges:
      - test: quiet
"#,
    );
    let (code, h) = apply(&p, &[]);
    assert_eq!(code, 1, "a failed state fails the host: {h}");
    assert_eq!(h["status"], "failed");
    let s = states(&h);
    assert_eq!(s["breaks"].0, json!(false), "{h}");
    assert_eq!(
        (&s["needs-it"].0, s["needs-it"].2.as_str()),
        (&json!(false), "One or more requisite failed"),
        "{h}"
    );
    assert_eq!(s["on-failure"].0, json!(true), "{h}");
    assert_eq!(s["after-change"].0, json!(true), "{h}");
    assert_eq!(
        s["after-nothing"].2,
        "State was not run because none of the onchanges reqs changed"
    );
    assert_eq!(ls(&out(&p)), "after-change\nindependent\non-failure\n");

    // test=True: the failure is only predicted, so what requires it and
    // what reacts to its failure are predicted from the plan.
    std::fs::remove_dir_all(out(&p)).unwrap();
    std::fs::create_dir(out(&p)).unwrap();
    let (code, h) = apply(&p, &["test=True"]);
    assert_eq!(code, 0, "{h}");
    let s = states(&h);
    for id in ["breaks", "needs-it", "on-failure", "independent"] {
        assert_eq!(s[id].0, Value::Null, "{id}: {h}");
    }
    assert_eq!(ls(&out(&p)), "");
}

#[test]
fn failhard_stops_the_run_at_the_failure() {
    let p = project(
        r#"
before:
  cmd.run:
    - name: touch OUT/before
first:
  cmd.run:
    - name: exit 1
    - failhard: True
second:
  cmd.run:
    - name: touch OUT/second
"#,
    );
    let (code, h) = apply(&p, &[]);
    assert_eq!(code, 1, "{h}");
    let s = states(&h);
    assert_eq!(s["before"].0, json!(true), "{h}");
    assert_eq!(s["first"].0, json!(false), "{h}");
    assert_eq!(
        (&s["second"].0, s["second"].2.as_str()),
        (
            &json!(false),
            "Not run: an earlier state failed with failhard"
        ),
        "{h}"
    );
    assert_eq!(ls(&out(&p)), "before\n");
}

#[test]
fn watch_reacts_only_when_the_watched_state_changes() {
    let sls = |v: &str| {
        format!(
            r#"
conf:
  file.managed:
    - name: OUT/conf
    - contents: "{v}"
reload:
  cmd.wait:
    - name: echo reloaded; echo x >> OUT/reloads
    - watch:
      - file: conf
"#
        )
    };
    let p = project(&sls("v1"));
    let (code, h) = apply(&p, &["test=True"]);
    assert_eq!(code, 0, "{h}");
    let s = states(&h);
    assert_eq!(s["reload"].0, Value::Null, "{h}");
    assert!(s["reload"].2.contains("would react"), "{h}");

    let (code, h) = apply(&p, &[]);
    assert_eq!(code, 0, "{h}");
    assert_eq!(changed(&h), ["conf", "reload"], "{h}");
    let reload = h["ret"]
        .as_object()
        .unwrap()
        .values()
        .find(|s| s["__id__"] == "reload")
        .unwrap();
    assert_eq!(reload["changes"]["stdout"], "reloaded", "{h}");

    // Converged: no reaction, and nothing to apply.
    let (code, h) = apply(&p, &[]);
    assert_eq!(code, 0, "{h}");
    assert!(changed(&h).is_empty(), "{h}");
    assert_eq!(h["executions"], 1, "a no-op run is one execution: {h}");

    write_sls(&p, &sls("v2"));
    let (code, h) = apply(&p, &[]);
    assert_eq!(code, 0, "{h}");
    assert_eq!(changed(&h), ["conf", "reload"], "{h}");
    let reloads = std::fs::read_to_string(out(&p).join("reloads")).unwrap();
    assert_eq!(reloads, "x\nx\n");
}

#[test]
fn prereq_runs_before_its_target_only_when_the_target_will_change() {
    let sls = |v: u32| {
        format!(
            r#"
graceful-down:
  cmd.run:
    - name: cat OUT/code >> OUT/log 2>/dev/null || echo first >> OUT/log
    - prereq:
      - file: site-code
site-code:
  file.managed:
    - name: OUT/code
    - contents: "v{v}"
"#
        )
    };
    let p = project(&sls(1));
    let (code, h) = apply(&p, &[]);
    assert_eq!(code, 0, "{h}");
    assert_eq!(changed(&h), ["graceful-down", "site-code"], "{h}");
    let (code, h) = apply(&p, &[]);
    assert_eq!(code, 0, "{h}");
    assert!(changed(&h).is_empty(), "{h}");
    assert_eq!(
        states(&h)["graceful-down"].2,
        "No changes detected: the prereq target would not change"
    );
    // A new version: the prereq runs first, while the old code is there.
    write_sls(&p, &sls(2));
    let (code, h) = apply(&p, &[]);
    assert_eq!(code, 0, "{h}");
    let log = std::fs::read_to_string(out(&p).join("log")).unwrap();
    let code = std::fs::read_to_string(out(&p).join("code")).unwrap();
    assert_eq!((log.as_str(), code.as_str()), ("first\nv1\n", "v2\n"));
}

/// The drift report's lists, as `kind name` lines.
fn drift(h: &Value, key: &str) -> Vec<String> {
    h["drift"][key]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{} {}",
                e["kind"].as_str().unwrap(),
                e["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn a_file_dropped_from_the_states_is_an_orphan_and_prune_removes_it() {
    let both = "x:\n  file.managed:\n    - name: OUT/x\n    - contents: x\ny:\n  file.managed:\n    - name: OUT/y\n    - contents: y\n";
    let p = project(both);
    let (code, h) = apply(&p, &[]);
    assert_eq!(code, 0, "{h}");
    assert_eq!(h.get("drift"), None, "nothing to say: {h}");
    let y = out(&p).join("y").display().to_string();

    write_sls(
        &p,
        "x:\n  file.managed:\n    - name: OUT/x\n    - contents: x\n",
    );
    let (code, h) = apply(&p, &[]);
    assert_eq!(code, 0, "orphans do not fail the host: {h}");
    assert_eq!(drift(&h, "orphans"), [format!("file {y}")], "{h}");
    // The report's shape, field by field and in this order.
    let orphan = &h["drift"]["orphans"][0];
    let keys: Vec<&String> = orphan.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "kind",
            "name",
            "__id__",
            "__sls__",
            "origin",
            "first_applied",
            "last_applied"
        ]
    );
    assert_eq!(
        (&orphan["__id__"], &orphan["origin"]),
        (&json!("y"), &json!("created"))
    );
    let top: Vec<&String> = h["drift"].as_object().unwrap().keys().collect();
    assert_eq!(top, ["orphans", "gone", "unrecordable"]);

    // Above the limit nothing is pruned and the host fails.
    let (code, h) = apply(&p, &["prune=True", "prune_limit=0"]);
    assert_eq!(code, 1, "{h}");
    assert!(
        h["drift"]["comment"]
            .as_str()
            .unwrap()
            .contains("prune limit of 0"),
        "{h}"
    );
    assert!(out(&p).join("y").exists());

    let (code, h) = apply(&p, &["prune=True", "test=True"]);
    assert_eq!(code, 0, "{h}");
    assert_eq!(drift(&h, "pruned"), [format!("file {y}")], "{h}");
    assert_eq!(h["drift"]["pruned"][0]["comment"], "would be removed");
    assert!(out(&p).join("y").exists());

    let (code, h) = apply(&p, &["prune=True"]);
    assert_eq!(code, 0, "{h}");
    assert_eq!(h["drift"]["pruned"][0]["comment"], "removed", "{h}");
    assert_eq!(changed(&h), [format!("prune file {y}")], "{h}");
    assert_eq!(ls(&out(&p)), "x\n");

    let (code, h) = apply(&p, &[]);
    assert_eq!(code, 0, "{h}");
    assert_eq!(h.get("drift"), None, "pruned and forgotten: {h}");
}

#[test]
fn state_drift_fails_the_host_when_anything_drifted() {
    let p = project("x:\n  file.managed:\n    - name: OUT/x\n    - contents: x\n");
    let (code, v) = p.json(&["h1", "state.drift", "demo"]);
    let h = &v["results"]["h1"];
    assert_eq!(code, 1, "{v}");
    assert_eq!(h["drift"]["drifted"], true, "{v}");
    let would = &h["drift"]["would_change"][0];
    assert_eq!(
        (&would["__id__"], &would["function"], &would["result"]),
        (&json!("x"), &json!("file.managed"), &Value::Null),
        "{v}"
    );
    let (code, _) = apply(&p, &[]);
    assert_eq!(code, 0);
    let (code, v) = p.json(&["h1", "state.drift", "demo"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["results"]["h1"]["drift"]["drifted"], false, "{v}");
    let top: Vec<&String> = v["results"]["h1"]["drift"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(
        top,
        ["orphans", "gone", "unrecordable", "would_change", "drifted"]
    );
}

#[test]
fn a_condition_that_is_not_a_command_fails_the_state_instead_of_being_skipped() {
    let p = project(
        r#"
guarded:
  cmd.run:
    - name: touch OUT/guarded
    - onlyif:
      - fun: file.file_exists
        path: /nonexistent
after:
  cmd.run:
    - name: touch OUT/after
    - require:
      - cmd: guarded
"#,
    );
    let (code, h) = apply(&p, &[]);
    assert_eq!(code, 1, "{h}");
    let s = states(&h);
    assert_eq!(s["guarded"].0, json!(false), "{h}");
    assert!(s["guarded"].2.contains("`onlyif: "), "{h}");
    assert!(s["guarded"].2.contains("shell commands only"), "{h}");
    assert_eq!(s["after"].0, json!(false), "{h}");
    assert_eq!(ls(&out(&p)), "");
}

/// Argument values Salt only looks at when the state runs (a `backup`
/// halite does not have, `mode: keep`, a missing `salt://` source) do not
/// stop `state.show_sls`, which shows the chunks as Salt's does; applying
/// (or `test=True`) refuses the host before anything runs, naming every
/// state at fault, not just the first.
#[test]
fn argument_values_are_checked_when_applying_not_when_showing() {
    let p = project(
        "first:\n  file.managed:\n    - name: OUT/first\n    - contents: x\n\
         bad-backup:\n  file.managed:\n    - name: OUT/b\n    - contents: x\n    - backup: .bak\n\
         bad-mode:\n  file.managed:\n    - name: OUT/m\n    - contents: x\n    - mode: keep\n\
         no-source:\n  file.recurse:\n    - name: OUT/r\n    - source: salt://nothere\n",
    );
    let shown = show(&p);
    assert_eq!(shown.len(), 4, "show_sls shows what Salt shows: {shown:?}");
    for args in [&["test=True"][..], &[]] {
        let (code, h) = apply(&p, args);
        assert_ne!(code, 0, "{h}");
        let errors: Vec<&str> = h["ret"]
            .as_array()
            .unwrap_or_else(|| panic!("a list of errors: {h}"))
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert_eq!(errors.len(), 3, "one line per state at fault: {errors:?}");
        assert!(
            errors[0].contains("bad-backup") && errors[0].contains(".bak"),
            "{errors:?}"
        );
        assert!(
            errors[1].contains("bad-mode") && errors[1].contains("keep"),
            "{errors:?}"
        );
        assert!(
            errors[2].contains("no-source") && errors[2].contains("salt://nothere"),
            "{errors:?}"
        );
        assert_eq!(h["executions"], 0, "nothing ran: {h}");
        assert_eq!(ls(&out(&p)), "", "nothing was written");
    }
}

/// `state.show_sls` renders as Salt's does on the minion: a template's
/// `salt['file.file_exists'](...)` asks the host (here, this machine).
#[test]
fn show_sls_asks_the_host_what_templates_ask() {
    let p = project(
        "x:\n  test.show_notification:\n    - text: \"{{ salt['file.file_exists']('OUT') }} \
         {{ salt['file.directory_exists']('OUT') }} {{ salt['file.file_exists']('OUT/none') }}\"\n",
    );
    let chunk = show(&p).remove(0);
    assert_eq!(chunk["args"]["text"], "False True False", "{chunk}");
}

/// A `watch_in` to a state the compiled SLS files do not have: Salt's
/// show functions leave the `extend` it becomes unreconciled and show the
/// SLS, and running it is refused ("Cannot extend ID"); halite does both.
#[test]
fn an_in_requisite_to_a_missing_state_shows_but_does_not_run() {
    let p = project("x:\n  test.nop:\n    - watch_in:\n      - service: nothere\n");
    let chunk = show(&p).remove(0);
    assert_eq!(chunk["__id__"], "x", "{chunk}");
    let (code, h) = apply(&p, &["test=True"]);
    assert_ne!(code, 0, "{h}");
    assert!(
        h["ret"][0]
            .as_str()
            .unwrap()
            .contains("watch_in requisite `service: nothere` not found"),
        "{h}"
    );
    assert_eq!(h["executions"], 0, "{h}");
}

/// `module.run` in Salt's two syntaxes runs an execution function as part
/// of the apply (test=True runs nothing and says Salt's words);
/// `module.wait` runs it only when a watched state changed; an unknown
/// function is refused before anything runs, and shown by show_sls.
#[test]
fn module_run_and_module_wait_run_execution_functions() {
    let p = project(
        "new-style:\n  module.run:\n    - cmd.run:\n      - echo new >> OUT/new; echo hello\n\
         legacy:\n  module.run:\n    - name: cmd.run\n    - cmd: echo legacy >> OUT/legacy\n\
         OUT/watched:\n  file.managed:\n    - contents: one\n\
         waiter:\n  module.wait:\n    - name: cmd.run\n    - cmd: echo reacted >> OUT/reacted\n    - watch:\n      - file: OUT/watched\n",
    );
    let (code, h) = apply(&p, &["test=True"]);
    assert_eq!(code, 0, "{h}");
    let s = states(&h);
    assert_eq!(s["new-style"].0, Value::Null, "{h}");
    assert_eq!(s["new-style"].2, "Function cmd.run to be executed.");
    assert_eq!(s["legacy"].2, "Module function cmd.run is set to execute");
    assert_eq!(
        s["waiter"].0,
        Value::Null,
        "the watched file would change: {h}"
    );
    assert_eq!(ls(&out(&p)), "", "test=True ran nothing");
    let (code, h) = apply(&p, &[]);
    assert_eq!(code, 0, "{h}");
    let s = states(&h);
    assert_eq!(
        s["new-style"],
        (json!(true), true, "cmd.run: hello".to_string())
    );
    assert_eq!(s["legacy"].2, "Module function cmd.run executed");
    assert_eq!(s["waiter"].2, "Module function cmd.run executed");
    assert_eq!(ls(&out(&p)), "legacy\nnew\nreacted\nwatched\n");
    // Again: module.run runs again, module.wait does not (nothing changed).
    let (code, h) = apply(&p, &[]);
    assert_eq!(code, 0, "{h}");
    assert!(!states(&h)["waiter"].1, "{h}");
    let read = |f: &str| std::fs::read_to_string(out(&p).join(f)).unwrap();
    assert_eq!(read("new"), "new\nnew\n");
    assert_eq!(read("reacted"), "reacted\n");
    // An execution function halite does not have: refused up front.
    write_sls(&p, "x:\n  module.run:\n    - nosuch.fn: []\n");
    let (code, h) = apply(&p, &["test=True"]);
    assert_ne!(code, 0, "{h}");
    assert!(
        h["ret"][0]
            .as_str()
            .unwrap()
            .contains("unknown function `nosuch.fn`"),
        "{h}"
    );
    assert_eq!(show(&p).len(), 1, "show_sls shows it as Salt does");
}
