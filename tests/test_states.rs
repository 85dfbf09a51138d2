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
        local::salt_chunks::assert_same(
            sls,
            ret,
            want["chunks"].as_array().unwrap(),
            Some(want["run_order"].as_array().unwrap()),
        );
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
