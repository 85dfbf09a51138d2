//! The formula-style trees of tests/compat/trees (compiled as Salt does:
//! tests/compat_trees.rs) applied on a fleet host: `state.apply test=True`
//! fails nothing and predicts every change the apply then makes, the apply
//! succeeds, and a second apply changes nothing in one execution.
//! Host: node4 (the trees make users hc-*, groups hc-*, files under
//! /srv/halite-compat; removed first, so a rerun starts clean).

mod harness;

use std::collections::BTreeMap;
use std::path::Path;

use harness::{Fleet, Workspace};
use serde_json::Value;

const HOST: &str = "node4";
const RESET: &str = "for u in hc-alice hc-bob hc-mallory; do userdel -r $u >/dev/null 2>&1; done; \
    for g in hc-ops hc-dev; do groupdel $g >/dev/null 2>&1; done; rm -rf /srv/halite-compat; true";

/// state ID -> (result, changed?) of the host's run.
fn states(v: &Value) -> BTreeMap<String, (Value, bool)> {
    v["results"][HOST]["ret"]
        .as_object()
        .unwrap_or_else(|| panic!("no state results: {v}"))
        .values()
        .map(|s| {
            let changed = s["changes"].as_object().is_some_and(|c| !c.is_empty());
            (
                s["__id__"].as_str().unwrap().to_string(),
                (s["result"].clone(), changed),
            )
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let dest = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &dest);
        } else {
            std::fs::copy(&path, &dest).unwrap();
        }
    }
}

fn apply(ws: &Workspace, test: bool) -> Value {
    let mut args = vec![HOST, "state.apply"];
    if test {
        args.push("test=True");
    }
    ws.halite_json(&args).1
}

#[test]
fn formula_style_trees_converge_on_a_fleet_host() {
    let fleet = Fleet::get();
    let _serial = fleet.serial();
    fleet.podman_exec_ok(HOST, RESET);
    let trees = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/trees");
    for tree in ["cronjobs", "accounts", "services"] {
        let ws = fleet.workspace();
        for part in ["states", "pillar"] {
            copy_dir(&trees.join(tree).join(part), &ws.path().join(part));
        }
        let predicted = apply(&ws, true);
        let predicted = states(&predicted);
        for (id, (result, _)) in &predicted {
            assert_ne!(
                result,
                &Value::Bool(false),
                "{tree} {id}: test=True fails it"
            );
        }
        let applied = apply(&ws, false);
        assert_eq!(
            applied["results"][HOST]["status"], "ok",
            "{tree}: {applied}"
        );
        for (id, (result, changed)) in states(&applied) {
            assert_eq!(result, Value::Bool(true), "{tree} {id}: {applied}");
            if changed {
                assert_eq!(
                    predicted[&id].0,
                    Value::Null,
                    "{tree} {id}: changed, but test=True did not say it would"
                );
            }
        }
        let again = apply(&ws, false);
        for (id, (result, changed)) in states(&again) {
            assert!(
                result == Value::Bool(true) && !changed,
                "{tree} {id}: {again}"
            );
        }
        assert_eq!(
            again["results"][HOST]["executions"].as_u64(),
            Some(1),
            "{tree}: a converged run is one execution"
        );
    }
    fleet.podman_exec_ok(HOST, RESET);
}
