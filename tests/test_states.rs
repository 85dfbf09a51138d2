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
