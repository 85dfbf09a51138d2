//! The mine on the fleet: a pillar's `mine_functions`, `halite 'node*'
//! mine.update` (one execution per host), then an SLS whose template asks
//! `salt['mine.get']` renders the other hosts' addresses (state.show_sls),
//! matched by glob, grain, pillar and compound; `mine.get`, `mine.delete`
//! and `mine.flush` from the command line, answered on the controller.
//! Each host's expected addresses are what `hostname -I` says in its
//! container.

mod harness;

use harness::{Fleet, Workspace};
use serde_json::{json, Value};

const PILLAR_TOP: &str = "base:\n  'node*':\n    - mine\n  node1:\n    - special\n";

const PILLAR_MINE: &str = "\
mine_functions:
  network.ip_addrs: []
  eth0_v4:
    - mine_function: network.ip_addrs
    - eth0
  pong:
    mine_function: test.ping
  guarded:
    - mine_function: test.ping
    - allow_tgt: node1
secret_word: pillar-only-value
";

const STATES_HOSTS: &str = "\
{% set ips = salt['mine.get']('node*', 'network.ip_addrs') %}
{% for id, addrs in ips | dictsort %}
ip-{{ id }}:
  test.succeed_without_changes:
    - name: {{ id }}={{ addrs | join(',') }}
{% endfor %}
webs:
  test.succeed_without_changes:
    - name: webs={{ salt['mine.get']('roles:web', 'pong', tgt_type='grain') | dictsort | map('first') | join(',') }}
special:
  test.succeed_without_changes:
    - name: special={{ salt['mine.get']('special:yes', 'pong', 'pillar') | list | join(',') }}
compound:
  test.succeed_without_changes:
    - name: compound={{ salt['mine.get']('G@datacenter:dc1 and not node1', 'eth0_v4', tgt_type='compound') | list | join(',') }}
others:
  test.succeed_without_changes:
    - name: others={{ salt['mine.get']('*', 'pong', exclude_minion=True) | list | sort | join(',') }}
guarded:
  test.succeed_without_changes:
    - name: guarded={{ salt['mine.get']('*', 'guarded') | list | join(',') }}
";

fn workspace(fleet: &'static Fleet) -> Workspace {
    let ws = fleet.workspace();
    ws.write("pillar/top.sls", PILLAR_TOP);
    ws.write("pillar/mine.sls", PILLAR_MINE);
    ws.write("pillar/special.sls", "special: 'yes'\n");
    ws.write("states/hosts.sls", STATES_HOSTS);
    ws
}

/// `hostname -I`'s IPv4 addresses in `node`'s container, sorted as
/// addresses (as Salt sorts them).
fn addresses(fleet: &Fleet, node: &str) -> Vec<String> {
    let mut v: Vec<std::net::Ipv4Addr> = fleet
        .podman_exec_ok(node, "hostname -I")
        .split_whitespace()
        .filter_map(|a| a.parse().ok())
        .collect();
    v.sort();
    v.iter().map(|a| a.to_string()).collect()
}

/// `halite --out json ARGS`: (exit code, results by host).
fn run(ws: &Workspace, args: &[&str]) -> (i32, Value) {
    let (out, v) = ws.halite_json(args);
    (out.code.unwrap_or(-1), v["results"].clone())
}

/// state.show_sls hosts on `host`: each state ID -> its `name` (the low
/// chunks as shown).
fn shown(ws: &Workspace, host: &str) -> std::collections::BTreeMap<String, String> {
    let (code, r) = run(ws, &[host, "state.show_sls", "hosts"]);
    assert_eq!(code, 0, "{r}");
    r[host]["ret"]
        .as_object()
        .unwrap_or_else(|| panic!("no states: {r}"))
        .values()
        .map(|s| {
            let field = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            (field("__id__"), field("name"))
        })
        .collect()
}

#[test]
fn mine_update_then_templates_and_the_command_line_read_it() {
    let fleet = Fleet::get();
    let ws = workspace(fleet);
    let nodes = ["node1", "node2", "node3"];

    // Before any update the mine is empty, as salt-call --local's is.
    let (code, r) = run(&ws, &["node1", "mine.get", "*", "network.ip_addrs"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["node1"]["ret"], json!({}));
    let before = shown(&ws, "node1");
    assert!(!before.keys().any(|k| k.starts_with("ip-")), "{before:?}");
    assert_eq!(before["guarded"], "guarded=");

    // One execution per host: the mine functions are one script (the
    // grains, which the update stores for targeting, cached first).
    let (code, r) = run(&ws, &["node[1-3]", "grains.items"]);
    assert_eq!(code, 0, "{r}");
    let (code, r) = run(&ws, &["node[1-3]", "mine.update"]);
    assert_eq!(code, 0, "{r}");
    for n in nodes {
        assert_eq!(r[n]["ret"], json!(true), "{n}: {r}");
        assert_eq!(r[n]["executions"], json!(1), "{n}: {r}");
    }
    // The store: one private file per host, no pillar in it.
    for n in nodes {
        let path = ws.cache_dir().join(format!("mine/{n}.json"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("pillar-only-value"), "{text}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    }

    // A template on node2 reads every host's addresses from the mine.
    let states = shown(&ws, "node2");
    for n in nodes {
        let want = addresses(fleet, n);
        assert!(!want.is_empty(), "{n} has no address");
        assert_eq!(
            states[&format!("ip-{n}")],
            format!("{n}={}", want.join(",")),
            "{states:?}"
        );
    }
    assert_eq!(states["webs"], "webs=node1,node3", "grain target");
    assert_eq!(states["special"], "special=node1", "pillar target");
    assert_eq!(states["compound"], "compound=node2", "compound target");
    assert_eq!(states["others"], "others=node1,node3", "exclude_minion");
    // allow_tgt: node1 only may read `guarded`.
    assert_eq!(states["guarded"], "guarded=");
    assert_eq!(shown(&ws, "node1")["guarded"], "guarded=node1,node2,node3");

    // state.apply renders through the same mine.
    let (code, r) = run(&ws, &["node3", "state.apply", "hosts", "test=True"]);
    assert_eq!(code, 0, "{r}");
    let names = r["node3"]["ret"].to_string();
    assert!(names.contains("webs=node1,node3"), "{names}");

    // The command line: get, delete one function, flush one host.
    let (code, r) = run(&ws, &["node1", "mine.get", "node*", "network.ip_addrs"]);
    assert_eq!(code, 0, "{r}");
    let got = r["node1"]["ret"].clone();
    assert_eq!(got.as_object().unwrap().len(), 3, "{got}");
    assert_eq!(got["node3"], json!(addresses(fleet, "node3")));
    let (code, r) = run(
        &ws,
        &["node1", "mine.get", "node1,node3", "pong,eth0_v4", "list"],
    );
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        r["node1"]["ret"]["pong"],
        json!({"node1": true, "node3": true})
    );
    assert_eq!(
        r["node1"]["ret"]["eth0_v4"]["node1"],
        json!(addresses(fleet, "node1"))
    );

    let (code, r) = run(&ws, &["node2", "mine.delete", "network.ip_addrs"]);
    assert_eq!((code, r["node2"]["ret"].clone()), (0, json!(true)), "{r}");
    assert_eq!(
        r["node2"]["executions"],
        json!(0),
        "answered on the controller"
    );
    let (code, r) = run(&ws, &["node3", "mine.flush"]);
    assert_eq!((code, r["node3"]["ret"].clone()), (0, json!(true)), "{r}");
    let (_, r) = run(&ws, &["node1", "mine.get", "*", "network.ip_addrs"]);
    let left: Vec<&String> = r["node1"]["ret"].as_object().unwrap().keys().collect();
    assert_eq!(left, ["node1"], "{r}");
    let (_, r) = run(&ws, &["node1", "mine.get", "*", "pong"]);
    let left: Vec<&String> = r["node1"]["ret"].as_object().unwrap().keys().collect();
    assert_eq!(left, ["node1", "node2"], "{r}");

    // clear=True with functions given: node1's mine is just those now.
    let (code, r) = run(
        &ws,
        &[
            "node1",
            "mine.update",
            "clear=True",
            "mine_functions=[test.ping]",
        ],
    );
    assert_eq!(code, 0, "{r}");
    let (_, r) = run(
        &ws,
        &["node1", "mine.get", "node1", "network.ip_addrs,test.ping"],
    );
    assert_eq!(
        r["node1"]["ret"],
        json!({"test.ping": {"node1": true}}),
        "{r}"
    );

    // Bad input is refused before anything connects.
    let out = ws.halite(["node1", "mine.get", "*", "pong", "nosuchtype"]);
    assert_eq!(out.code, Some(2), "{out}");
    assert!(out.stderr.contains("tgt_type"), "{out}");
}

#[test]
fn bad_mine_functions_fail_the_host_naming_the_alias() {
    let fleet = Fleet::get();
    let ws = fleet.workspace();
    ws.write("pillar/top.sls", "base:\n  node1:\n    - mine\n");
    ws.write(
        "pillar/mine.sls",
        "mine_functions:\n  ips:\n    - mine_function: network.ip_adrs\n",
    );
    let (code, r) = run(&ws, &["node1", "grains.items"]);
    assert_eq!(code, 0, "{r}");
    let (code, r) = run(&ws, &["node1", "mine.update"]);
    assert_ne!(code, 0, "{r}");
    let ret = r["node1"]["ret"].to_string();
    assert!(ret.contains("mine_functions `ips`"), "{ret}");
    assert_eq!(r["node1"]["executions"], json!(0), "nothing ran: {r}");
    // A host without mine_functions: nothing to do, as Salt's None.
    let (code, r) = run(&ws, &["node2", "mine.update"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["node2"]["ret"], Value::Null);
}
