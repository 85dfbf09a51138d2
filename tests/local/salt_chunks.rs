//! One comparison of halite's compiled states (`state.show_sls`,
//! `state.show_highstate`) with Salt's low chunks recorded in a fixture
//! (tests/compat/gen_low_sls.py, gen_trees.py): the same IDs, run order,
//! module.function, names, arguments, global arguments and requisites.

use std::collections::BTreeMap;

use serde_json::Value;

/// Salt's global arguments, which halite keeps typed apart (`globals`).
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

/// `ret`: halite's show output (chunks keyed by tag); `chunks`: Salt's, as
/// the fixture holds them (`id`, `function`, `name`, `args`); `run_order`:
/// the IDs in the order `salt-call state.* test=True` ran them (Salt's
/// `listener_*` pseudo-states of `listen` left out: halite runs the
/// listener's mod_watch in the listening state's own row).
pub fn assert_same(label: &str, ret: &Value, chunks: &[Value], run_order: Option<&[Value]>) {
    let got: BTreeMap<&str, &Value> = ret
        .as_object()
        .unwrap_or_else(|| panic!("{label}: {ret}"))
        .values()
        .map(|c| (c["__id__"].as_str().unwrap(), c))
        .collect();
    assert_eq!(got.len(), chunks.len(), "{label}: {ret}");
    if let Some(run_order) = run_order {
        let mut order: Vec<(&str, i64)> = got
            .iter()
            .map(|(id, c)| (*id, c["__run_num__"].as_i64().unwrap()))
            .collect();
        order.sort_by_key(|(_, n)| *n);
        let order: Vec<&str> = order.into_iter().map(|(id, _)| id).collect();
        let salt: Vec<&str> = run_order
            .iter()
            .map(|id| id.as_str().unwrap())
            .filter(|id| !id.starts_with("listener_"))
            .collect();
        assert_eq!(order, salt, "{label}: run order");
    }
    let inverted = inverted(chunks);
    for w in chunks {
        let id = w["id"].as_str().unwrap();
        let g = got[id];
        assert_eq!(g["function"], w["function"], "{label} {id}");
        assert_eq!(g["name"], w["name"], "{label} {id}");
        let mut args = w["args"].as_object().unwrap().clone();
        let mut salt_reqs: Vec<(String, String)> = Vec::new();
        for kind in REQUISITES {
            if let Some(Value::Array(items)) = args.remove(*kind) {
                for item in items {
                    // `sls: NAME` is every state of that SLS (halite
                    // shows them one by one).
                    match item.get("sls").and_then(Value::as_str) {
                        Some(sls) => salt_reqs.extend(
                            chunks
                                .iter()
                                .filter(|c| c["sls"] == sls)
                                .map(|c| (kind.to_string(), c["id"].as_str().unwrap().to_string())),
                        ),
                        None => salt_reqs.push((kind.to_string(), target(&item))),
                    }
                }
            }
            args.remove(&format!("{kind}_in"));
        }
        // show_lowstate also lists an `_in` on its target: once.
        for (_, kind, by) in inverted.iter().filter(|(on, _, _)| on == id) {
            let req = (kind.clone(), by.clone());
            if !salt_reqs.contains(&req) {
                salt_reqs.push(req);
            }
        }
        let mut salt_globals: Vec<String> = GLOBALS
            .iter()
            .filter_map(|k| args.remove(*k).map(|_| k.to_string()))
            .collect();
        salt_globals.sort();
        let mut ours_globals: Vec<String> =
            g["globals"].as_object().unwrap().keys().cloned().collect();
        ours_globals.sort();
        assert_eq!(ours_globals, salt_globals, "{label} {id}: global arguments");
        assert_eq!(&Value::Object(args), &g["args"], "{label} {id}: arguments");
        let ours: Vec<(String, String)> = g["requisites"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_object().unwrap().iter())
            .map(|(k, t)| (k.clone(), t.as_str().unwrap().to_string()))
            .collect();
        // The fixture's arguments are a JSON object (keys sorted): the
        // order between kinds is not Salt's to compare, within one it is.
        let mut ours = ours;
        ours.sort_by(|a, b| a.0.cmp(&b.0));
        salt_reqs.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(ours, salt_reqs, "{label} {id}: requisites");
    }
}

/// The target of one requisite item (`{file: NAME}` -> NAME).
fn target(item: &Value) -> String {
    let t = item.as_object().unwrap().values().next().unwrap();
    t.as_str().unwrap().to_string()
}

/// `X: require_in: [Y]` is Y requiring X, as halite stores it:
/// (Y, kind, X) for every `_in` requisite.
fn inverted(chunks: &[Value]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for w in chunks {
        for kind in REQUISITES {
            if let Some(Value::Array(items)) = w["args"].get(format!("{kind}_in")) {
                for item in items {
                    let id = w["id"].as_str().unwrap().to_string();
                    out.push((target(item), kind.to_string(), id));
                }
            }
        }
    }
    out
}
