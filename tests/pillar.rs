//! Pillar through the real `halite` binary, on local-connection hosts with
//! static grains: pillar targeting (`-I`, `-J`, `I@`/`J@` in `-C`, and
//! `match: pillar` in states/top.sls), the `pillar.*` functions (each host
//! gets only its own pillar, and the pillar reaches no log or cache),
//! a pillar that fails to render, a key repeated in a pillar or state
//! file, and `state.single`.

mod local;

use std::path::Path;

use local::{stderr, stdout, Project};
use serde_json::{json, Value};

const INVENTORY: &str = "\
hosts:
  web1: {connection: local, grains: {roles: [web]}}
  db1: {connection: local, grains: {roles: [db]}}
";

const PILLAR_TOP: &str = "\
base:
  '*':
    - common
  'roles:web':
    - match: grain
    - web
  'roles:db':
    - match: grain
    - db
  'roles:broken':
    - match: grain
    - broken
";

fn write(root: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// web1 and db1, each with its own pillar (and secret), selected by grain.
fn project(inventory: &str) -> Project {
    let p = Project::new(inventory);
    write(
        p.path(),
        &[
            ("pillar/top.sls", PILLAR_TOP),
            ("pillar/common.sls", "dc: paris\n"),
            (
                "pillar/web.sls",
                "role: web\nweb_secret: w-s3cret-{{ grains.id }}\nvhosts: {shop: {port: 443}}\n",
            ),
            (
                "pillar/db.sls",
                "role: db\ndb_password: d-s3cret\nusers: {postgres: {uid: 999}, app: {uid: 1000}}\n",
            ),
            ("pillar/broken.sls", "role: {{ no_such_function() }}\n"),
        ],
    );
    p
}

/// The hosts a run targeted, sorted.
fn targeted(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v["results"].as_object().unwrap().keys().cloned().collect();
    ids.sort();
    ids
}

/// Every file under `dir`, concatenated.
fn all_text(dir: &Path) -> String {
    let mut out = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.push_str(&all_text(&path));
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            out.push_str(&text);
        }
    }
    out
}

#[test]
fn pillar_targeting_matches_each_hosts_own_pillar() {
    let p = project(INVENTORY);
    let cases: &[(&[&str], &[&str])] = &[
        (&["-I", "role:web"], &["web1"]),
        (&["-I", "role:*"], &["db1", "web1"]),
        (&["-I", "vhosts:shop:port:443"], &["web1"]),
        (&["-I", "users:postgres:uid:999"], &["db1"]),
        (&["--pillar", "dc:PARIS"], &["db1", "web1"]),
        (&["-J", "role:(web|db)$"], &["db1", "web1"]),
        (&["-J", "role:d"], &["db1"]),
        (&["--pillar-pcre", "web_secret:w-s3cret-web\\d"], &["web1"]),
        (&["-C", "I@role:db and G@roles:db"], &["db1"]),
        (&["-C", "I@role:db and G@roles:web"], &[]),
        (&["-C", "web* or I@role:db"], &["db1", "web1"]),
        (&["-C", "not I@role:web"], &["db1"]),
        (&["-C", "J@role:^w and not db*"], &["web1"]),
        (&["-C", "I|@dc|paris and L@db1"], &["db1"]),
    ];
    for (flags, expected) in cases {
        let mut args = flags.to_vec();
        args.push("test.ping");
        if expected.is_empty() {
            let out = p.run(&args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
            assert!(stderr(&out).contains("no host"), "{}", stderr(&out));
            continue;
        }
        let (code, v) = p.json(&args);
        assert_eq!(code, 0, "{args:?}: {v}");
        assert_eq!(targeted(&v), *expected, "{args:?}");
    }
    // The job records the matcher by Salt's name.
    let (_, v) = p.json(&["-J", "role:web", "test.ping"]);
    let jid = v["jid"].as_str().unwrap().to_string();
    let out = p.run(&["--out", "json", "jobs", "show", &jid]);
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["target_type"], "pillar_pcre", "{job}");
}

#[test]
fn pillar_targeting_leaks_no_pillar_into_output_logs_or_caches() {
    let p = project(INVENTORY);
    for args in [
        &["-v", "-I", "role:web", "test.ping"][..],
        &["-v", "-C", "I@db_password:* or web*", "cmd.run", "true"],
        &["-v", "-J", "web_secret:.*", "grains.items"],
    ] {
        let out = p.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!text.contains("s3cret"), "{args:?}: {text}");
    }
    // Neither the job cache nor the grains cache holds any pillar.
    let cache = all_text(&p.path().join("cache"));
    assert!(
        cache.contains("test.ping"),
        "the job cache is where expected"
    );
    assert!(!cache.contains("s3cret"), "{cache}");
    assert!(!cache.contains("paris"), "{cache}");
}

#[test]
fn pillar_functions_return_only_the_hosts_own_pillar() {
    let p = project(INVENTORY);
    let (code, v) = p.json(&["*", "pillar.items"]);
    assert_eq!(code, 0, "{v}");
    let web = &v["results"]["web1"]["ret"];
    let db = &v["results"]["db1"]["ret"];
    assert_eq!(
        *web,
        json!({"dc": "paris", "role": "web", "web_secret": "w-s3cret-web1",
               "vhosts": {"shop": {"port": 443}}})
    );
    assert_eq!(db["db_password"], "d-s3cret");
    assert!(db.get("web_secret").is_none(), "{db}");
    assert!(web.get("db_password").is_none(), "{web}");
    // Grains were gathered once (one execution); the pillar costs none.
    assert_eq!(v["results"]["web1"]["executions"], 1);
    let (_, v) = p.json(&["*", "pillar.ls"]);
    assert_eq!(
        v["results"]["db1"]["executions"], 0,
        "grains from the cache"
    );
    assert_eq!(
        v["results"]["db1"]["ret"],
        json!(["dc", "role", "db_password", "users"])
    );

    let (code, v) = p.json(&["*", "pillar.get", "vhosts:shop:port"]);
    assert_eq!(code, 0);
    assert_eq!(v["results"]["web1"]["ret"], 443);
    assert_eq!(v["results"]["db1"]["ret"], "", "Salt's default");
    let (_, v) = p.json(&[
        "db1",
        "pillar.get",
        "users/app/uid",
        "default=0",
        "delimiter=/",
    ]);
    assert_eq!(v["results"]["db1"]["ret"], 1000);
    let (_, v) = p.json(&["web1", "pillar.get", "nope", "default=[1, 2]"]);
    assert_eq!(v["results"]["web1"]["ret"], json!([1, 2]));
    let (_, v) = p.json(&["*", "pillar.item", "role", "dc", "users:postgres"]);
    assert_eq!(
        v["results"]["db1"]["ret"],
        json!({"role": "db", "dc": "paris", "users:postgres": {"uid": 999}})
    );
    assert_eq!(
        v["results"]["web1"]["ret"],
        json!({"role": "web", "dc": "paris", "users:postgres": ""})
    );
    let (_, v) = p.json(&["db1", "pillar.keys", "users"]);
    assert_eq!(v["results"]["db1"]["ret"], json!(["postgres", "app"]));
    let (code, v) = p.json(&["web1", "pillar.keys", "users"]);
    assert_eq!(code, 1);
    assert_eq!(v["results"]["web1"]["ret"], "Pillar key not found: users");

    // A pillar override, merged last (and visible while rendering).
    let (_, v) = p.json(&["web1", "pillar.items", "pillar={role: canary, extra: 1}"]);
    assert_eq!(v["results"]["web1"]["ret"]["role"], "canary");
    assert_eq!(v["results"]["web1"]["ret"]["extra"], 1);
    assert_eq!(v["results"]["web1"]["ret"]["dc"], "paris");

    // Targeted by pillar, and the pillar compiled for targeting is what the
    // function returns.
    let (code, v) = p.json(&["-I", "role:db", "pillar.get", "role"]);
    assert_eq!(code, 0);
    assert_eq!(v["results"], json!({"db1": v["results"]["db1"]}));
    assert_eq!(v["results"]["db1"]["ret"], "db");

    // sys.doc lists them.
    let (_, v) = p.json(&["web1", "sys.doc", "pillar"]);
    let docs = v["results"]["web1"]["ret"].as_object().unwrap();
    for f in [
        "pillar.items",
        "pillar.get",
        "pillar.item",
        "pillar.keys",
        "pillar.ls",
    ] {
        assert!(docs.contains_key(f), "{f}: {docs:?}");
    }
}

#[test]
fn a_host_whose_pillar_fails_to_render_is_reported_not_matched() {
    let inv = format!("{INVENTORY}  broken: {{connection: local, grains: {{roles: [broken]}}}}\n");
    let p = project(&inv);
    let (code, v) = p.json(&["-I", "role:web", "test.ping"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(targeted(&v), ["broken", "web1"]);
    assert_eq!(v["results"]["web1"]["ret"], true);
    let broken = &v["results"]["broken"];
    assert_eq!(broken["status"], "failed");
    let error = broken["error"].as_str().unwrap();
    assert!(
        error.starts_with("cannot compile the pillar for targeting: broken.sls:1"),
        "{error}"
    );
    assert!(error.contains("no_such_function"), "{error}");
    assert_eq!(v["summary"]["failed"], 1);
    // The human output says it too.
    let out = p.run(&["-I", "role:web", "test.ping"]);
    assert!(
        stdout(&out).contains("cannot compile the pillar for targeting"),
        "{}",
        stdout(&out)
    );

    // When the other matchers decide, the broken pillar is not needed.
    let (code, v) = p.json(&["-C", "web* or I@role:db", "test.ping"]);
    assert_eq!(code, 1);
    assert_eq!(targeted(&v), ["broken", "db1", "web1"]);
    let (code, v) = p.json(&["-C", "I@role:web and not broken", "test.ping"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(targeted(&v), ["web1"]);

    // The pillar functions fail on that host only, saying why.
    let (code, v) = p.json(&["*", "pillar.items"]);
    assert_eq!(code, 1);
    assert_eq!(v["results"]["web1"]["status"], "ok");
    assert_eq!(v["results"]["broken"]["status"], "failed");
    let msg = v["results"]["broken"]["ret"][0].as_str().unwrap();
    assert!(msg.starts_with("pillar: broken.sls:1"), "{msg}");
}

/// A key written twice in one pillar or state file used to be read as one
/// (the last); in two pillar files it is merged, as in Salt.
#[test]
fn a_key_repeated_in_one_pillar_or_state_file_is_bad_input_exit_2_nothing_applied() {
    let p = project(INVENTORY);
    write(
        p.path(),
        &[
            ("pillar/common.sls", "dc: paris\nshared: {from: common}\n"),
            ("pillar/web.sls", "role: web\nshared: {also: web}\n"),
        ],
    );
    let (code, v) = p.json(&["web1", "pillar.get", "shared"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["results"]["web1"]["ret"],
        json!({"from": "common", "also": "web"})
    );

    write(
        p.path(),
        &[(
            "pillar/web.sls",
            "role: web\nvhosts:\n  shop: {port: 443}\n  shop: {port: 80}\n",
        )],
    );
    // Only web1 reads web.sls: db1's pillar is whole, so db1 ran and the
    // run is a failed one (1); web1 alone is bad input and nothing else (2).
    let (code, v) = p.json(&["*", "pillar.items"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["results"]["db1"]["status"], "ok");
    assert_eq!(v["results"]["web1"]["status"], "failed");
    let msg = v["results"]["web1"]["ret"][0].as_str().unwrap();
    assert!(
        msg.contains("web.sls:4: YAML error in the rendered text (line 4 after Jinja): duplicate key `shop` (first at line 3)"),
        "{msg}"
    );
    let (code, v) = p.json(&["web1", "pillar.items"]);
    assert_eq!(code, 2, "{v}");
    assert_eq!(v["results"]["web1"]["status"], "failed");
    // Pillar targeting compiles every pillar first: nothing runs anywhere.
    let out = p.run(&["-I", "role:db", "test.ping"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("web.sls:4: YAML error in the rendered text (line 4 after Jinja): duplicate key `shop` (first at line 3)")
            && stderr(&out).contains("nothing ran"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).trim().is_empty(), "nothing printed for db1");

    // Two states with one ID (Salt: "conflicting ID"); lines are those of
    // the rendered text, four more than the source's here (the loop).
    let out = p.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let touch = |name: &str| format!("  cmd.run:\n    - name: touch {}/{name}\n", out.display());
    let sls = format!(
        "{{# one line #}}\n{{% for n in ['a', 'b'] %}}\nfirst_{{{{ n }}}}:\n{}{{% endfor %}}\nnginx:\n{}nginx:\n{}",
        touch("first"),
        touch("nginx-1"),
        touch("nginx-2"),
    );
    write(
        p.path(),
        &[
            ("states/top.sls", "base:\n  '*':\n    - app\n"),
            ("states/app.sls", &sls),
        ],
    );
    write(p.path(), &[("pillar/web.sls", "role: web\n")]);
    for args in [
        &["db1", "state.apply"][..],
        &["db1", "state.show_sls", "app"],
        &["*", "state.apply"],
        &["-b", "1", "*", "state.apply", "app"],
    ] {
        let (code, v) = p.json(args);
        assert_eq!(code, 2, "{args:?}: {v}");
        assert_eq!(v["results"]["db1"]["status"], "failed");
        let msg = v["results"]["db1"]["ret"].to_string();
        assert!(
            msg.contains("app.sls:14: YAML error in the rendered text (line 14 after Jinja): duplicate key `nginx` (first at line 11)"),
            "{args:?}: {msg}"
        );
    }
    // In batches of one, the second host is not even started.
    let (_, v) = p.json(&["-b", "1", "*", "state.apply", "app"]);
    assert_eq!(v["results"]["web1"]["status"], "not_run", "{v}");
    assert!(
        v["results"]["web1"]["error"]
            .as_str()
            .unwrap()
            .contains("declares a key or ID twice (see db1)"),
        "{v}"
    );
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        0,
        "nothing applied"
    );

    // One ID in two SLS files (Salt: "Detected conflicting IDs").
    write(
        p.path(),
        &[
            ("states/top.sls", "base:\n  '*':\n    - one\n    - two\n"),
            ("states/one.sls", &format!("same:\n{}", touch("one"))),
            ("states/two.sls", &format!("same:\n{}", touch("two"))),
        ],
    );
    let (code, v) = p.json(&["*", "state.apply"]);
    assert_eq!(code, 2, "{v}");
    let msg = v["results"]["web1"]["ret"].to_string();
    assert!(msg.contains("conflicting ID `same`"), "{msg}");
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        0,
        "nothing applied"
    );

    // A JSON SLS repeats a key: refused as in YAML (serde_json keeps the last).
    write(
        p.path(),
        &[
            ("states/top.sls", "base:\n  '*':\n    - j\n"),
            (
                "states/j.sls",
                "#!json\n{\"x\": {\"cmd.run\": [{\"name\": \"true\"}]},\n \"x\": {\"cmd.run\": [{\"name\": \"true\"}]}}\n",
            ),
        ],
    );
    let (code, v) = p.json(&["db1", "state.apply"]);
    assert_eq!(code, 2, "{v}");
    let msg = v["results"]["db1"]["ret"].to_string();
    assert!(msg.contains("duplicate key `x`"), "{msg}");
}

#[test]
fn states_top_file_can_match_by_pillar() {
    let p = project(INVENTORY);
    write(
        p.path(),
        &[
            (
                "states/top.sls",
                "base:\n  'role:web':\n    - match: pillar\n    - webstate\n  'I@role:db and G@roles:db':\n    - match: compound\n    - dbstate\n",
            ),
            ("states/webstate.sls", "hello:\n  cmd.run:\n    - name: 'true'\n"),
            ("states/dbstate.sls", "hello:\n  cmd.run:\n    - name: 'true'\n"),
        ],
    );
    let (code, v) = p.json(&["*", "state.show_top"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["results"]["web1"]["ret"], json!({"base": ["webstate"]}));
    assert_eq!(v["results"]["db1"]["ret"], json!({"base": ["dbstate"]}));
    // With a pillar override, the override is what the top file sees.
    let (_, v) = p.json(&["db1", "state.show_top", "pillar={role: web}"]);
    assert_eq!(v["results"]["db1"]["ret"], json!({"base": ["webstate"]}));

    // The pillar top file cannot target by pillar: a clear error.
    write(
        p.path(),
        &[(
            "pillar/top.sls",
            "base:\n  'role:web':\n    - match: pillar\n    - web\n",
        )],
    );
    let (code, v) = p.json(&["web1", "pillar.items"]);
    assert_eq!(code, 1);
    let msg = v["results"]["web1"]["ret"][0].as_str().unwrap();
    assert!(
        msg.contains("the pillar top file cannot target by pillar"),
        "{msg}"
    );
}

#[test]
fn state_single_test_mode_then_apply() {
    let p = project(INVENTORY);
    let target = p.path().join("out/motd");
    let name = format!("name={}", target.display());
    let key = format!("file_|-{0}_|-{0}_|-managed", target.display());
    let args = |extra: &[&str]| {
        let mut a = vec![
            "web1",
            "state.single",
            "file.managed",
            &name,
            "contents=hello from state.single",
            "makedirs=True",
        ];
        a.extend_from_slice(extra);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        p.json(&a)
    };

    let (code, v) = run(&["test=True"]);
    assert_eq!(code, 0, "{v}");
    let s = &v["results"]["web1"]["ret"][&key];
    assert_eq!(s["result"], Value::Null, "{v}");
    assert_eq!(s["__id__"], target.display().to_string());
    assert_eq!(s["__sls__"], "state.single");
    assert!(!target.exists(), "test=True changed nothing");

    let (code, v) = run(&[]);
    assert_eq!(code, 0, "{v}");
    let s = &v["results"]["web1"]["ret"][&key];
    assert_eq!(s["result"], true, "{v}");
    assert!(!s["changes"].as_object().unwrap().is_empty(), "{v}");
    assert_eq!(
        std::fs::read_to_string(&target).unwrap().trim_end(),
        "hello from state.single"
    );
    // Applied again: nothing to change, one execution (gather only).
    let (code, v) = run(&[]);
    assert_eq!(code, 0);
    let s = &v["results"]["web1"]["ret"][&key];
    assert_eq!(s["result"], true);
    assert!(s["changes"].as_object().unwrap().is_empty(), "{v}");
    assert_eq!(v["results"]["web1"]["executions"], 1);

    // The human output is the state output, as for state.apply.
    let out = p.run(&["web1", "state.single", "cmd.run", "name=echo single-ran"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("single-ran"), "{text}");
    assert!(
        text.contains("          ID: echo single-ran\n    Function: cmd.run\n"),
        "{text}"
    );

    // Positional name, global arguments and the host's pillar in templates.
    let flag = p.path().join("out/flag");
    let unless = format!("unless=test -e {}", flag.display());
    std::fs::write(&flag, "").unwrap();
    let (code, v) = p.json(&["web1", "state.single", "cmd.run", "false", &unless]);
    assert_eq!(code, 0, "unless skipped the failing command: {v}");
}

#[test]
fn state_single_usage_errors_exit_2_before_connecting() {
    let p = project(INVENTORY);
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["file.manged", "name=/tmp/x"],
            &[
                "unknown state function `file.manged`",
                "`file` has:",
                "managed",
            ],
        ),
        (
            &["fiel.managed", "name=/tmp/x"],
            &[
                "unknown state module `fiel`",
                "known modules:",
                "file",
                "pkg",
            ],
        ),
        (
            &["file.managed", "name=/tmp/x", "bogus=1"],
            &[
                "`file.managed` has no argument `bogus`",
                "valid arguments: name, source, contents",
            ],
        ),
        (&["file.managed"], &["missing required argument `name`"]),
        (&["filemanaged", "name=x"], &["expected module.function"]),
        (&[], &["name the state function"]),
        (&["cmd.run", "a", "b"], &["key=value"]),
        (&["cmd.run", "a", "name=b"], &["given twice"]),
        (
            &["cmd.run", "name=true", "test=maybe"],
            &["`test` must be True or False"],
        ),
        (
            &["cmd.run", "name=true", "pillar=[1]"],
            &["pillar must be a mapping"],
        ),
        (
            &["cmd.run", "name=true", "require=[nothere]"],
            &["not found"],
        ),
    ];
    for (words, needles) in cases {
        let mut args = vec!["web1", "state.single"];
        args.extend_from_slice(words);
        let out = p.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        for needle in *needles {
            assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
        }
    }
    assert!(!p.path().join("cache/jobs").exists(), "nothing ran");
}

/// A file rendered from a pillar secret: its diff (old and new secret) shows
/// on screen, but the job cache keeps only a line count unless
/// `job_cache_diffs: true`; `show_changes: False` hides it everywhere.
#[test]
fn pillar_secrets_in_diffs_stay_out_of_the_job_cache() {
    let p = project(INVENTORY);
    let target = p.path().join("out/app.conf");
    let quiet = p.path().join("out/quiet.conf");
    let sls = format!(
        "{0}:\n  file.managed:\n    - makedirs: True\n    - contents: |\n        password={{{{ pillar['web_secret'] }}}}-{{{{ pillar.get('round', 0) }}}}\n\
         {1}:\n  file.managed:\n    - makedirs: True\n    - show_changes: False\n    - contents: |\n        password={{{{ pillar['web_secret'] }}}}-{{{{ pillar.get('round', 0) }}}}\n",
        target.display(),
        quiet.display()
    );
    write(
        p.path(),
        &[
            ("states/top.sls", "base:\n  '*':\n    - app\n"),
            ("states/app.sls", &sls),
        ],
    );
    let (code, v) = p.json(&["web1", "state.apply"]);
    assert_eq!(code, 0, "{v}");
    let key = format!("file_|-{0}_|-{0}_|-managed", target.display());
    let qkey = format!("file_|-{0}_|-{0}_|-managed", quiet.display());
    for round in ["1", "2"] {
        let over = format!("pillar={{round: {round}}}");
        let (code, v) = p.json(&["web1", "state.apply", &over]);
        assert_eq!(code, 0, "{v}");
        let ret = &v["results"]["web1"]["ret"];
        // On screen, the diff is there, as in Salt...
        let diff = ret[&key]["changes"]["diff"].as_str().unwrap();
        assert!(
            diff.contains(&format!("+password=w-s3cret-web1-{round}")),
            "{v}"
        );
        // ...except where show_changes: False says otherwise.
        assert_eq!(ret[&qkey]["changes"]["diff"], "<show_changes=False>", "{v}");
        assert!(!ret[&qkey].to_string().contains("s3cret"), "{v}");
    }
    let cache = all_text(&p.path().join("cache"));
    assert!(
        cache.contains("<diff withheld from the job cache: +1 -1 lines>"),
        "{cache}"
    );
    assert!(!cache.contains("s3cret"), "{cache}");

    // Asked for, diffs are kept.
    let settings = p.path().join("halite.yaml");
    let mut text = std::fs::read_to_string(&settings).unwrap();
    text.push_str("job_cache_diffs: true\n");
    std::fs::write(&settings, text).unwrap();
    let (code, v) = p.json(&["web1", "state.apply", "pillar={round: 3}"]);
    assert_eq!(code, 0, "{v}");
    let cache = all_text(&p.path().join("cache"));
    assert!(cache.contains("+password=w-s3cret-web1-3"), "{cache}");
}

/// `jobs rerun` of a job targeted by pillar (`-I`, `--pillar-pcre`) runs
/// again on exactly the hosts of that job that failed or did not run, named
/// by a list: the pillar expression is not read again, and no host it never
/// matched (db1) is added.
#[test]
fn jobs_rerun_of_a_pillar_targeted_job_runs_exactly_its_unfinished_hosts() {
    let inventory = "\
hosts:
  web1: {connection: local, grains: {roles: [web]}}
  web2: {connection: local, grains: {roles: [web]}}
  web3: {connection: local, grains: {roles: [web]}}
  db1: {connection: local, grains: {roles: [db]}}
";
    for (flag, expr) in [("-I", "role:web"), ("--pillar-pcre", "role:^w")] {
        let p = project(inventory);
        // The first host to run fails; the others then never start.
        let lock = p.path().join("lock");
        let cmd = format!(
            "mkdir {} 2>/dev/null && exit 3 || echo again",
            lock.display()
        );
        let args = [
            flag,
            expr,
            "-b",
            "1",
            "--batch-fail-limit",
            "1",
            "cmd.run",
            &cmd,
        ];
        let (code, v) = p.json(&args);
        assert_eq!(code, 1, "{flag}: {v}");
        assert_eq!(targeted(&v), ["web1", "web2", "web3"], "{flag}: {v}");
        assert_eq!(v["summary"]["failed"], 1, "{flag}: {v}");
        assert_eq!(v["summary"]["not_run"], 2, "{flag}: {v}");
        let jid = v["jid"].as_str().unwrap().to_string();

        let (code, again) = p.json(&["jobs", "rerun", &jid, "--failed", "--not-run"]);
        assert_eq!(code, 0, "{flag}: {again}");
        assert_eq!(
            targeted(&again),
            ["web1", "web2", "web3"],
            "{flag}: {again}"
        );
        for id in ["web1", "web2", "web3"] {
            assert_eq!(again["results"][id]["ret"], "again", "{flag}: {again}");
        }
        // The rerun is recorded as what it was: a list of those hosts,
        // with the job's function, arguments and batch plan.
        let rerun_jid = again["jid"].as_str().unwrap().to_string();
        let (_, job) = p.json(&["jobs", "show", &rerun_jid]);
        assert_eq!(job["target_type"], "list", "{flag}: {job}");
        assert_eq!(job["target"], "web1,web2,web3", "{flag}: {job}");
        assert_eq!(job["function"], "cmd.run", "{flag}: {job}");
        assert_eq!(job["batch"], "1", "{flag}: {job}");
    }
}
