//! The `test` state module against Salt's own: tests/compat/test_states/t.sls
//! applied by halite (local connection) and by `salt-call --local` (Salt
//! 3008.3, tests/compat/gen_test_states.py -> test_states.json), with and
//! without test=True. Every state's result, changes and comment must be
//! Salt's, except where halite's test mode says what the real run will say
//! (listed below, and in the README).

mod local;

use std::path::Path;

use local::Project;
use serde_json::Value;

/// (mode, state id): halite's comment differs from Salt's, on purpose. A
/// test-mode comment of a state that changes nothing is the real run's
/// comment in halite (the plan does not know the mode); Salt rewrites it.
const OWN_COMMENT: &[(&str, &str)] = &[("test=True", "failed"), ("test=True", "configured_quiet")];

#[test]
fn test_states_answer_as_salts_do() {
    let compat = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat");
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(compat.join("test_states.json")).unwrap())
            .unwrap();
    let p = Project::new("hosts:\n  l1: {connection: local}\n");
    std::fs::create_dir_all(p.path().join("states")).unwrap();
    std::fs::copy(
        compat.join("test_states/t.sls"),
        p.path().join("states/t.sls"),
    )
    .unwrap();
    for (mode, want) in fixture["cases"].as_object().unwrap() {
        let mut args = vec!["l1", "state.sls", "t"];
        if mode == "test=True" {
            args.push("test=True");
        }
        let (_, v) = p.json(&args);
        let got: serde_json::Map<String, Value> = v["results"]["l1"]["ret"]
            .as_object()
            .unwrap_or_else(|| panic!("{v}"))
            .values()
            .map(|s| (s["__id__"].as_str().unwrap().to_string(), s.clone()))
            .collect();
        let want = want.as_object().unwrap();
        assert_eq!(got.len(), want.len(), "{mode}: {v}");
        for (id, w) in want {
            let g = &got[id];
            assert_eq!(g["result"], w["result"], "{mode} {id}: {g}");
            assert_eq!(g["changes"], w["changes"], "{mode} {id}: {g}");
            if !OWN_COMMENT.contains(&(mode.as_str(), id.as_str())) {
                assert_eq!(g["comment"], w["comment"], "{mode} {id}: {g}");
            }
            assert_eq!(g["__run_num__"], w["__run_num__"], "{mode} {id}: order");
        }
    }
}

/// Salt's compiled low chunks (`salt-call --local state.show_low_sls`,
/// tests/compat/gen_low_sls.py -> low_sls.json) for the SLS files in
/// tests/compat/sls/: halite's `state.show_sls` gives the same IDs,
/// module.function, names, arguments and requisites, or fails where Salt
/// fails, and runs them in the order `salt-call state.sls` runs them.
#[test]
fn compiled_states_are_salts_low_chunks() {
    let compat = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat");
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(compat.join("low_sls.json")).unwrap())
            .unwrap();
    let p = Project::new("hosts:\n  l1: {connection: local}\n");
    std::fs::create_dir_all(p.path().join("states")).unwrap();
    for entry in std::fs::read_dir(compat.join("sls")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            p.path().join("states").join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    const GLOBALS: &[&str] = &[
        "unless",
        "onlyif",
        "creates",
        "check_cmd",
        "failhard",
        "retry",
        "runas",
        "reload_modules",
    ];
    const REQUISITES: &[&str] = &[
        "require",
        "watch",
        "onchanges",
        "onfail",
        "prereq",
        "listen",
    ];
    for (sls, want) in fixture["cases"].as_object().unwrap() {
        let (code, v) = p.json(&["l1", "state.show_sls", sls]);
        let ret = &v["results"]["l1"]["ret"];
        if let Some(errors) = want.get("errors") {
            assert_eq!(code, 1, "{sls}: Salt refuses it: {errors}; halite: {v}");
            let salt = errors[0].as_str().unwrap();
            let ours = ret[0].as_str().unwrap_or_default();
            assert!(
                salt.contains("needs to be formed as a list")
                    == ours.contains("needs to be formed as a list"),
                "{sls}: Salt: {salt}; halite: {ours}"
            );
            continue;
        }
        assert_eq!(code, 0, "{sls}: {v}");
        let got: std::collections::BTreeMap<&str, &Value> = ret
            .as_object()
            .unwrap()
            .values()
            .map(|c| (c["__id__"].as_str().unwrap(), c))
            .collect();
        let chunks = want["chunks"].as_array().unwrap();
        assert_eq!(got.len(), chunks.len(), "{sls}: {v}");
        let mut order: Vec<(&str, i64)> = got
            .iter()
            .map(|(id, c)| (*id, c["__run_num__"].as_i64().unwrap()))
            .collect();
        order.sort_by_key(|(_, n)| *n);
        let order: Vec<&str> = order.into_iter().map(|(id, _)| id).collect();
        let salt: Vec<&str> = want["run_order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_str().unwrap())
            .collect();
        assert_eq!(order, salt, "{sls}: run order");
        // `X: require_in: [Y]` is Y requiring X, as halite stores it.
        let target = |item: &Value| -> String {
            let t = item.as_object().unwrap().values().next().unwrap();
            t.as_str().unwrap().to_string()
        };
        let mut inverted: Vec<(String, String, String)> = Vec::new();
        for w in chunks {
            for kind in REQUISITES {
                if let Some(Value::Array(items)) = w["args"].get(format!("{kind}_in")) {
                    for item in items {
                        let id = w["id"].as_str().unwrap().to_string();
                        inverted.push((target(item), kind.to_string(), id));
                    }
                }
            }
        }
        for w in chunks {
            let id = w["id"].as_str().unwrap();
            let g = got[id];
            assert_eq!(g["function"], w["function"], "{sls} {id}");
            assert_eq!(g["name"], w["name"], "{sls} {id}");
            let mut args = w["args"].as_object().unwrap().clone();
            let mut salt_reqs: Vec<(String, String)> = Vec::new();
            for kind in REQUISITES {
                if let Some(Value::Array(items)) = args.remove(*kind) {
                    for item in items {
                        salt_reqs.push((kind.to_string(), target(&item)));
                    }
                }
                args.remove(&format!("{kind}_in"));
            }
            salt_reqs.extend(
                inverted
                    .iter()
                    .filter(|(on, _, _)| on == id)
                    .map(|(_, kind, by)| (kind.clone(), by.clone())),
            );
            // The global arguments halite keeps typed apart: the same ones.
            let salt_globals: Vec<String> = GLOBALS
                .iter()
                .filter_map(|k| args.remove(*k).map(|_| k.to_string()))
                .collect();
            let mut ours_globals: Vec<String> =
                g["globals"].as_object().unwrap().keys().cloned().collect();
            ours_globals.sort();
            let mut sorted = salt_globals.clone();
            sorted.sort();
            assert_eq!(ours_globals, sorted, "{sls} {id}: global arguments");
            assert_eq!(&Value::Object(args), &g["args"], "{sls} {id}: arguments");
            let ours: Vec<(String, String)> = g["requisites"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r.as_object().unwrap().iter())
                .map(|(k, t)| (k.clone(), t.as_str().unwrap().to_string()))
                .collect();
            assert_eq!(ours, salt_reqs, "{sls} {id}: requisites");
        }
    }
}

/// A source template of file.managed gets the variables Salt's file.managed
/// hands it (source found, name, user, group, mode normalized, attrs,
/// saltenv), extra arguments, `defaults` and `context` in Salt's order:
/// the file halite writes is the one Salt wrote
/// (tests/compat/gen_managed_vars.py -> managed_vars.json).
#[test]
fn a_source_template_gets_the_variables_salt_gives_it() {
    let compat = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat");
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(compat.join("managed_vars.json")).unwrap())
            .unwrap();
    let p = Project::new("hosts:\n  l1: {connection: local}\n");
    std::fs::create_dir_all(p.path().join("states")).unwrap();
    std::fs::copy(
        compat.join("managed/vars.jinja"),
        p.path().join("states/vars.jinja"),
    )
    .unwrap();
    let target = p.path().join("out/halite-compat-vars");
    let name = format!("name={}", target.display());
    let mut args = vec![
        "l1",
        "state.single",
        "file.managed",
        name.as_str(),
        "makedirs=True",
    ];
    let given: Vec<&str> = fixture["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    args.extend(given);
    let (code, v) = p.json(&args);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        fixture["content"].as_str().unwrap()
    );
}
