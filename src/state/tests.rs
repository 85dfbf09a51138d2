//! Tests of the whole compiler through its public entry points, with state
//! trees written as literal YAML, the way users write them.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::json;

use super::*;

fn yaml(text: &str) -> Value {
    crate::yaml::from_str(text, Path::new("test.sls")).expect("valid YAML")
}

/// The real registry: the modules halite ships, with their arguments.
fn registry() -> MemoryRegistry {
    crate::modules::registry()
}

/// `files` are (path, YAML); the SLS name is the path without `.sls`, with
/// `/init` dropped and `/` as `.`, as in a Salt file tree.
fn compile_tree(files: &[(&str, &str)], sls: &[&str]) -> Result<Compiled, CompileError> {
    let tree: HashMap<String, SlsSource> = files
        .iter()
        .map(|(path, text)| {
            let name = path
                .trim_end_matches(".sls")
                .trim_end_matches("/init")
                .replace('/', ".");
            let source = SlsSource {
                file: path.to_string(),
                data: yaml(text),
            };
            (name, source)
        })
        .collect();
    let mut loads = Vec::new();
    let mut loader = |name: &str| {
        loads.push(name.to_string());
        tree.get(name).cloned().ok_or_else(|| CompileError::Load {
            sls: name.to_string(),
            message: "no such SLS".to_string(),
        })
    };
    let names: Vec<String> = sls.iter().map(|s| s.to_string()).collect();
    let out = compile(&names, &mut loader, &registry());
    let mut sorted = loads.clone();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        loads.len(),
        "an SLS was loaded twice: {loads:?}"
    );
    out
}

fn one(text: &str) -> Result<Compiled, CompileError> {
    compile_tree(&[("main.sls", text)], &["main"])
}

/// "module.function name" per chunk, in execution order.
fn seq(c: &Compiled) -> Vec<String> {
    c.chunks
        .iter()
        .map(|c| format!("{}.{} {}", c.module, c.function, c.name))
        .collect()
}

fn find<'a>(c: &'a Compiled, module: &str, name: &str) -> (usize, &'a Chunk) {
    c.chunks
        .iter()
        .enumerate()
        .find(|(_, ch)| ch.module == module && ch.name == name)
        .unwrap_or_else(|| panic!("no {module} {name} in {:?}", seq(c)))
}

fn pos(c: &Compiled, module: &str, name: &str) -> usize {
    find(c, module, name).0
}

// ---- ID declaration forms -------------------------------------------------

#[test]
fn apache_example_orders_service_after_package_and_config() {
    let c = one(r#"
apache:
  pkg.installed: []
  service.running:
    - watch:
      - pkg: apache
      - file: /etc/httpd/conf/httpd.conf
/etc/httpd/conf/httpd.conf:
  file.managed:
    - source: salt://apache/httpd.conf
    - user: root
    - group: root
    - mode: 644
"#)
    .unwrap();
    assert_eq!(
        seq(&c),
        [
            "pkg.installed apache",
            "file.managed /etc/httpd/conf/httpd.conf",
            "service.running apache",
        ]
    );
    let (_, service) = find(&c, "service", "apache");
    assert_eq!(service.requisites, vec![(Kind::Watch, 0), (Kind::Watch, 1)]);
    let (_, file) = find(&c, "file", "/etc/httpd/conf/httpd.conf");
    assert_eq!(file.args["mode"], json!(644));
    assert_eq!(file.args["source"], json!("salt://apache/httpd.conf"));
    assert!(!file.args.contains_key("name"));
    assert_eq!(file.sls, "main");
    assert_eq!(file.file, "main.sls");
}

#[test]
fn every_id_declaration_form() {
    let c = one(r#"
short: pkg.installed
dotted_empty:
  pkg.installed: []
dotted_null:
  pkg.installed:
split:
  pkg:
    - installed
    - version: "1.2"
split_function_last:
  pkg:
    - version: "2"
    - installed
"#)
    .unwrap();
    assert_eq!(
        seq(&c),
        [
            "pkg.installed short",
            "pkg.installed dotted_empty",
            "pkg.installed dotted_null",
            "pkg.installed split",
            "pkg.installed split_function_last",
        ]
    );
    assert_eq!(find(&c, "pkg", "split").1.args["version"], json!("1.2"));
}

#[test]
fn split_form_with_unknown_argument_for_latest_is_rejected() {
    // pkg.latest accepts no `version`.
    let err = one("x:\n  pkg:\n    - latest\n    - version: 1\n").unwrap_err();
    assert!(
        matches!(err, CompileError::UnknownArgument { ref argument, .. } if argument == "version")
    );
}

#[test]
fn several_modules_under_one_id_keep_their_order() {
    let c = one(r#"
nginx:
  pkg.installed: []
  file.managed:
    - name: /etc/nginx/nginx.conf
    - source: salt://nginx.conf
  service.running:
    - enable: true
"#)
    .unwrap();
    assert_eq!(
        seq(&c),
        [
            "pkg.installed nginx",
            "file.managed /etc/nginx/nginx.conf",
            "service.running nginx",
        ]
    );
    assert!(c.chunks.iter().all(|ch| ch.id == "nginx"));
}

#[test]
fn two_functions_of_one_module_in_an_id_is_an_error() {
    let err = one(
        "/etc/redis.conf:\n  file.managed:\n    - source: x\n  file.comment:\n    - regex: ^requirepass\n",
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("main.sls") && msg.contains("/etc/redis.conf"),
        "{msg}"
    );
    assert!(msg.contains("file.managed and file.comment"), "{msg}");
}

#[test]
fn malformed_declarations_name_file_and_id() {
    for (text, needle) in [
        (
            "x:\n  pkg:\n    - installed\n    - latest\n",
            "too many functions",
        ),
        ("x:\n  pkg:\n    - version: 1\n", "no function declared"),
        ("x: 42\n", "must be a mapping"),
        (
            "x:\n  test.nop:\n    - reload_modules: maybe\n",
            "`reload_modules` must be true or false",
        ),
        ("x: pkg\n", "not a state declaration"),
        ("x:\n  pkg.installed:\n    - install ed\n", "whitespace"),
    ] {
        let err = one(text).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("main.sls") && msg.contains("`x`"), "{msg}");
        assert!(msg.contains(needle), "{text}: {msg}");
    }
}

#[test]
fn non_mapping_sls_is_an_error_and_empty_sls_is_fine() {
    let err = one("- a\n- b\n").unwrap_err();
    assert!(err.to_string().contains("does not render to a mapping"));
    assert_eq!(one("").unwrap().chunks.len(), 0);
}

// ---- names ------------------------------------------------------------------

#[test]
fn names_expand_to_one_chunk_each_with_overrides() {
    let c = one(r#"
tools:
  pkg.installed:
    - version: "1"
    - names:
      - vim
      - git:
        - version: "2"
      - curl
      - vim
"#)
    .unwrap();
    assert_eq!(
        seq(&c),
        [
            "pkg.installed vim",
            "pkg.installed git",
            "pkg.installed curl"
        ]
    );
    assert_eq!(find(&c, "pkg", "vim").1.args["version"], json!("1"));
    assert_eq!(find(&c, "pkg", "git").1.args["version"], json!("2"));
    assert!(c.chunks.iter().all(|ch| ch.id == "tools"));
}

#[test]
fn names_overrides_are_checked_too() {
    let err = one("t:\n  pkg.installed:\n    - names:\n      - git:\n        - colour: red\n")
        .unwrap_err();
    assert!(
        matches!(err, CompileError::UnknownArgument { ref argument, .. } if argument == "colour")
    );
}

#[test]
fn name_defaults_to_id_and_numbers_become_text() {
    let c = one("a:\n  pkg.installed: []\nb:\n  pkg.installed:\n    - name: 8080\n").unwrap();
    assert_eq!(seq(&c), ["pkg.installed a", "pkg.installed 8080"]);
}

// ---- registry validation ---------------------------------------------------------

#[test]
fn unknown_module_function_argument_list_valid_choices() {
    match one("x:\n  pkgg.installed: []\n").unwrap_err() {
        CompileError::UnknownModule {
            module,
            choices,
            id,
            file,
            ..
        } => {
            assert_eq!(
                (module.as_str(), id.as_str(), file.as_str()),
                ("pkgg", "x", "main.sls")
            );
            // Every module halite ships, in order.
            let mut shipped: Vec<&str> = crate::modules::MODULES.iter().map(|m| m.name).collect();
            shipped.sort();
            assert_eq!(choices, shipped);
            assert!(choices.iter().any(|c| c == "pkg"));
        }
        other => panic!("{other:?}"),
    }
    let err = one("x:\n  pkg.instaled: []\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "SLS `main` (main.sls), ID `x`: unknown function `pkg.instaled`; `pkg` has: installed, latest, purged, removed"
    );
    let err = one("x:\n  pkg.installed:\n    - verison: 1\n").unwrap_err();
    assert!(
        err.to_string().starts_with(
            "SLS `main` (main.sls), ID `x`: `pkg.installed` has no argument `verison`; valid arguments: pkgs, version,"
        ),
        "{err}"
    );
    // An item with two keys gives both, in order, as Salt does (the
    // low_sls fixture's `multikey` case holds Salt's own answer).
    let c = one("x:\n  pkg.installed:\n    - version: 1\n      pkgs: []\n").unwrap();
    let keys: Vec<&String> = c.chunks[0].args.keys().collect();
    assert_eq!(keys, ["version", "pkgs"]);
}

#[test]
fn global_arguments_are_accepted_everywhere_and_typed() {
    let c = one(r#"
x:
  pkg.latest:
    - unless: test -e /x
    - onlyif:
      - true
      - fun: file.file_exists
    - creates: /opt/x
    - check_cmd: [/bin/true]
    - failhard: true
    - runas: deploy
    - retry:
        attempts: 5
        interval: 10
y:
  pkg.latest:
    - retry: true
"#)
    .unwrap();
    let g = &find(&c, "pkg", "x").1.globals;
    assert_eq!(g.unless, vec![json!("test -e /x")]);
    assert_eq!(
        g.onlyif,
        vec![json!(true), json!({"fun": "file.file_exists"})]
    );
    assert_eq!(g.creates, ["/opt/x"]);
    assert_eq!(g.check_cmd, ["/bin/true"]);
    assert_eq!(g.failhard, Some(true));
    assert_eq!(g.runas.as_deref(), Some("deploy"));
    assert_eq!(
        g.retry,
        Some(Retry {
            attempts: 5,
            until: true,
            interval: 10,
            splay: 0
        })
    );
    assert_eq!(
        find(&c, "pkg", "y")
            .1
            .globals
            .retry
            .as_ref()
            .unwrap()
            .attempts,
        2
    );
    assert!(find(&c, "pkg", "x").1.args.is_empty());
}

#[test]
fn extra_kwargs_are_template_variables_of_a_source_template() {
    // file.managed takes Salt's `**kwargs` as its source template's
    // variables: accepted with `source` and `template`, an error without.
    let c = one(
        "x:\n  file.managed:\n    - name: /a\n    - source: salt://a\n    - template: jinja\n    - whatever: 1\n",
    )
    .unwrap();
    assert_eq!(c.chunks[0].args["whatever"], json!(1));
    assert!(matches!(
        one("x:\n  file.managed:\n    - name: /a\n    - contents: a\n    - whatever: 1\n"),
        Err(CompileError::UnknownArgument { ref argument, .. }) if argument == "whatever"
    ));
    // The shipped test.nop takes none.
    assert!(matches!(
        one("x:\n  test.nop:\n    - whatever: 1\n"),
        Err(CompileError::UnknownArgument { ref argument, .. }) if argument == "whatever"
    ));
}

// ---- include / exclude / extend ---------------------------------------------------

#[test]
fn includes_come_first_and_are_loaded_once() {
    let c = compile_tree(
        &[
            (
                "web/init.sls",
                "include:\n  - .conf\n  - common\nweb_pkg:\n  pkg.installed: []\n",
            ),
            (
                "web/conf.sls",
                "include:\n  - common\nweb_conf:\n  file.managed: []\n",
            ),
            ("common.sls", "base_pkg:\n  pkg.installed: []\n"),
            (
                "db.sls",
                "include:\n  - common\ndb_pkg:\n  pkg.installed: []\n",
            ),
        ],
        &["web", "db"],
    )
    .unwrap();
    assert_eq!(
        seq(&c),
        [
            "pkg.installed base_pkg",
            "file.managed web_conf",
            "pkg.installed web_pkg",
            "pkg.installed db_pkg",
        ]
    );
    assert_eq!(find(&c, "file", "web_conf").1.sls, "web.conf");
}

#[test]
fn relative_include_from_a_non_init_file_and_parent_levels() {
    let c = compile_tree(
        &[
            (
                "app/server/main.sls",
                "include:\n  - .extra\n  - ..shared\nm:\n  pkg.installed: []\n",
            ),
            ("app/server/extra.sls", "e:\n  pkg.installed: []\n"),
            ("app/shared.sls", "s:\n  pkg.installed: []\n"),
        ],
        &["app.server.main"],
    )
    .unwrap();
    assert_eq!(
        seq(&c),
        ["pkg.installed e", "pkg.installed s", "pkg.installed m"]
    );
}

#[test]
fn include_loops_terminate() {
    let c = compile_tree(
        &[
            ("a.sls", "include: [b]\nx:\n  pkg.installed: []\n"),
            ("b.sls", "include: [a]\ny:\n  pkg.installed: []\n"),
        ],
        &["a"],
    )
    .unwrap();
    assert_eq!(seq(&c), ["pkg.installed y", "pkg.installed x"]);
}

#[test]
fn missing_include_is_the_loaders_error() {
    let err = compile_tree(&[("a.sls", "include: [nope]\n")], &["a"]).unwrap_err();
    assert_eq!(err.to_string(), "SLS `nope`: no such SLS");
}

#[test]
fn duplicate_ids_across_files_name_both() {
    let err = compile_tree(
        &[
            ("a.sls", "vim:\n  pkg.installed: []\n"),
            ("b.sls", "vim:\n  pkg.latest: []\n"),
        ],
        &["a", "b"],
    )
    .unwrap_err();
    assert_eq!(
        err,
        CompileError::ConflictingId {
            id: "vim".into(),
            first_sls: "a".into(),
            first_file: "a.sls".into(),
            second_sls: "b".into(),
            second_file: "b.sls".into(),
        }
    );
    assert!(err.to_string().contains("a.sls") && err.to_string().contains("b.sls"));
}

#[test]
fn exclude_by_sls_and_id() {
    let c = compile_tree(
        &[
            (
                "top_level.sls",
                "include: [a, b]\nexclude:\n  - sls: b\n  - id: a2\nmine:\n  pkg.installed: []\n",
            ),
            (
                "a.sls",
                "a1:\n  pkg.installed: []\na2:\n  pkg.installed: []\n",
            ),
            ("b.sls", "b1:\n  pkg.installed: []\n"),
        ],
        &["top_level"],
    )
    .unwrap();
    assert_eq!(seq(&c), ["pkg.installed a1", "pkg.installed mine"]);
}

#[test]
fn requiring_an_excluded_state_is_not_found() {
    let err = compile_tree(
        &[
            ("t.sls", "include: [a]\nexclude:\n  - id: a1\nmine:\n  pkg.installed:\n    - require:\n      - pkg: a1\n"),
            ("a.sls", "a1:\n  pkg.installed: []\n"),
        ],
        &["t"],
    )
    .unwrap_err();
    assert!(matches!(err, CompileError::RequisiteNotFound { ref id, .. } if id == "mine"));
}

#[test]
fn extend_merges_arguments_and_appends_requisites() {
    let c = compile_tree(
        &[
            (
                "apache/init.sls",
                r#"
apache:
  pkg.installed: []
  service.running:
    - enable: false
    - watch:
      - pkg: apache
"#,
            ),
            (
                "site.sls",
                r#"
include:
  - apache
extend:
  apache:
    service:
      - enable: true
      - watch:
        - file: site_conf
    file:
      - managed
      - name: /etc/apache.conf
site_conf:
  file.managed:
    - name: /etc/site.conf
"#,
            ),
        ],
        &["site"],
    )
    .unwrap();
    let (_, service) = find(&c, "service", "apache");
    assert_eq!(service.args["enable"], json!(true));
    let watched: Vec<&str> = service
        .requisites
        .iter()
        .map(|&(_, i)| c.chunks[i].name.as_str())
        .collect();
    assert_eq!(watched, ["apache", "/etc/site.conf"]);
    assert!(pos(&c, "service", "apache") > pos(&c, "file", "/etc/site.conf"));
    // A module block added by extend.
    assert_eq!(find(&c, "file", "/etc/apache.conf").1.id, "apache");
}

#[test]
fn extend_by_name_and_missing_extend() {
    let c = compile_tree(
        &[
            ("a.sls", "conf:\n  file.managed:\n    - name: /etc/a\n"),
            (
                "b.sls",
                "include: [a]\nextend:\n  /etc/a:\n    file:\n      - mode: 600\n",
            ),
        ],
        &["b"],
    )
    .unwrap();
    assert_eq!(find(&c, "file", "/etc/a").1.args["mode"], json!(600));

    let err = compile_tree(
        &[("b.sls", "extend:\n  ghost:\n    file:\n      - mode: 600\n")],
        &["b"],
    )
    .unwrap_err();
    assert_eq!(
        err,
        CompileError::ExtendMissing {
            sls: "b".into(),
            file: "b.sls".into(),
            id: "ghost".into()
        }
    );
}

#[test]
fn extend_name_replaces_names() {
    let c = compile_tree(
        &[
            (
                "a.sls",
                "tools:\n  pkg.installed:\n    - names: [vim, git]\n",
            ),
            (
                "b.sls",
                "include: [a]\nextend:\n  tools:\n    pkg:\n      - name: emacs\n",
            ),
        ],
        &["b"],
    )
    .unwrap();
    assert_eq!(seq(&c), ["pkg.installed emacs"]);
}

// ---- requisites -------------------------------------------------------------------

#[test]
fn every_requisite_kind_links_and_orders() {
    for kind in Kind::ALL {
        let text = format!(
            "dependent:\n  cmd.run:\n    - {}:\n      - pkg: target\ntarget:\n  pkg.installed: []\n",
            kind.name()
        );
        let c = one(&text).unwrap();
        let (_, dependent) = find(&c, "cmd", "dependent");
        let t = pos(&c, "pkg", "target");
        assert_eq!(dependent.requisites, vec![(kind, t)], "{kind}");
        let d = pos(&c, "cmd", "dependent");
        match kind {
            Kind::Prereq => assert!(d < t, "prereq runs first"),
            // listen does not order: definition order stays.
            Kind::Listen => assert!(d < t, "listen keeps definition order"),
            _ => assert!(t < d, "{kind}: target first"),
        }
    }
}

#[test]
fn every_in_form_is_inverted_onto_its_target() {
    for kind in Kind::ALL {
        let Some(in_name) = kind.in_name() else {
            continue;
        };
        let text = format!(
            "source:\n  pkg.installed:\n    - {in_name}:\n      - cmd: dependent\ndependent:\n  cmd.run: []\n"
        );
        let c = one(&text).unwrap();
        let s = pos(&c, "pkg", "source");
        let (d, dependent) = find(&c, "cmd", "dependent");
        assert_eq!(dependent.requisites, vec![(kind, s)], "{in_name}");
        assert!(find(&c, "pkg", "source").1.requisites.is_empty());
        if kind == Kind::Prereq {
            assert!(d < s, "the state with prereq runs before its target");
        } else {
            assert!(s < d, "{in_name}");
        }
    }
}

#[test]
fn requisites_match_by_id_name_bare_id_and_glob() {
    let c = one(r#"
last:
  cmd.run:
    - require:
      - file: /etc/by-name
      - by-id
      - id: other
      - pkg: lib*
conf:
  file.managed:
    - name: /etc/by-name
by-id:
  service.running: []
other:
  pkg.latest: []
libfoo:
  pkg.installed: []
libbar:
  pkg.installed: []
"#)
    .unwrap();
    let (l, last) = find(&c, "cmd", "last");
    let targets: Vec<&str> = last
        .requisites
        .iter()
        .map(|&(_, i)| c.chunks[i].name.as_str())
        .collect();
    assert_eq!(
        targets,
        ["/etc/by-name", "by-id", "other", "libfoo", "libbar"]
    );
    assert_eq!(l, c.chunks.len() - 1);
}

#[test]
fn bare_id_requisite_covers_all_modules_of_the_id() {
    let c = one(
        "first:\n  cmd.run:\n    - require:\n      - apache\napache:\n  pkg.installed: []\n  service.running: []\n",
    )
    .unwrap();
    assert_eq!(
        seq(&c),
        [
            "pkg.installed apache",
            "service.running apache",
            "cmd.run first"
        ]
    );
}

#[test]
fn sls_requisite_covers_the_sls_and_its_includes() {
    let c = compile_tree(
        &[
            (
                "main.sls",
                "include: [net]\nweb:\n  service.running:\n    - require:\n      - sls: net\n",
            ),
            (
                "net/init.sls",
                "include: [.dns]\niface:\n  file.managed: []\n",
            ),
            ("net/dns.sls", "resolv:\n  file.managed: []\n"),
        ],
        &["main"],
    )
    .unwrap();
    let (_, web) = find(&c, "service", "web");
    let mut names: Vec<&str> = web
        .requisites
        .iter()
        .map(|&(_, i)| c.chunks[i].name.as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["iface", "resolv"]);
}

/// Salt's `__sls_included_from__` (checked with salt-call 3008.3: in
/// `top1`, leaf's states record `[mid, top1]`; in `top2`, `[top2]`): an
/// `- sls: mid` requisite covers an SLS mid includes only when mid's
/// include loaded it first.
#[test]
fn sls_requisite_covers_what_was_first_loaded_through_it() {
    let files = [
        (
            "top1.sls",
            "include: [mid, leaf]\nt1:\n  test.nop:\n    - require:\n      - sls: mid\n",
        ),
        (
            "top2.sls",
            "include: [leaf, mid]\nt2:\n  test.nop:\n    - require:\n      - sls: mid\n",
        ),
        ("mid.sls", "include: [leaf]\nm:\n  test.nop: []\n"),
        ("leaf.sls", "l:\n  test.nop: []\n"),
    ];
    for (top, id, want) in [("top1", "t1", vec!["l", "m"]), ("top2", "t2", vec!["m"])] {
        let c = compile_tree(&files, &[top]).unwrap();
        let (_, t) = find(&c, "test", id);
        let mut names: Vec<&str> = t
            .requisites
            .iter()
            .map(|&(_, i)| c.chunks[i].name.as_str())
            .collect();
        names.sort();
        assert_eq!(names, want, "{top}");
    }
}

#[test]
fn missing_requisite_names_file_id_and_target() {
    let err = one("web:\n  service.running:\n    - require:\n      - pkg: apache\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "SLS `main` (main.sls), ID `web`: require requisite `pkg: apache` not found: no state matches it"
    );
    let err = one("web:\n  service.running:\n    - watch_in:\n      - sls: nowhere\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("watch_in requisite `sls: nowhere`"),
        "{err}"
    );
    // The module must match too.
    assert!(
        one("a:\n  pkg.installed: []\nb:\n  cmd.run:\n    - require:\n      - file: a\n").is_err()
    );
}

#[test]
fn malformed_requisites_are_errors() {
    let err =
        one("a:\n  pkg.installed: []\nb:\n  cmd.run:\n    - require:\n      - pkg.installed: a\n")
            .unwrap_err();
    assert!(err.to_string().contains("did you mean `pkg`"), "{err}");
    // Anything but a list is Salt's "needs to be formed as a list".
    for value in ["5", "", "a", "{cmd: a}"] {
        let err = one(&format!("b:\n  cmd.run:\n    - require: {value}\n")).unwrap_err();
        assert!(
            err.to_string()
                .contains("the require statement needs to be formed as a list"),
            "{value}: {err}"
        );
    }
    // An empty list is no requisite, as in Salt.
    assert!(one("b:\n  cmd.run:\n    - require: []\n").is_ok());
}

#[test]
fn an_argument_given_twice_keeps_the_last_value() {
    let c =
        one("x:\n  pkg.installed:\n    - version: 1\n    - pkgs: [a]\n    - version: 2\n").unwrap();
    assert_eq!(c.chunks[0].args["version"], 2);
    assert_eq!(
        c.chunks[0].args.keys().collect::<Vec<_>>(),
        ["version", "pkgs"],
        "in the first one's place"
    );
    let c = one("a:\n  cmd.run: []\nb:\n  cmd.run: []\nd:\n  cmd.run:\n    - require:\n      - cmd: a\n    - require:\n      - cmd: b\n")
        .unwrap();
    let d = c.chunks.iter().find(|c| c.id == "d").unwrap();
    let required: Vec<&str> = d
        .requisites
        .iter()
        .map(|(_, j)| c.chunks[*j].id.as_str())
        .collect();
    assert_eq!(required, ["b"], "the last require wins, as in Salt");
}

#[test]
fn cycles_are_reported_with_their_states() {
    let err = one(r#"
a:
  cmd.run:
    - require:
      - cmd: b
b:
  cmd.run:
    - require:
      - cmd: c
c:
  cmd.run:
    - require:
      - cmd: a
d:
  cmd.run: []
"#)
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "requisite cycle between states: main:a (cmd.run) -> main:c (cmd.run) -> main:b (cmd.run) -> main:a (cmd.run)"
    );
    let err = one("a:\n  cmd.run:\n    - require:\n      - cmd: a\n").unwrap_err();
    assert!(matches!(err, CompileError::Cycle { ref states } if states.len() == 2));
}

#[test]
fn a_prereq_cycle_is_a_cycle() {
    // a runs before b (prereq) but b must run before a (require).
    let err = one(
        "a:\n  cmd.run:\n    - prereq:\n      - cmd: b\nb:\n  cmd.run:\n    - require_in:\n      - cmd: a\n",
    )
    .unwrap_err();
    assert!(matches!(err, CompileError::Cycle { .. }), "{err:?}");
}

// ---- ordering ------------------------------------------------------------------------

#[test]
fn definition_order_is_kept_without_requisites() {
    let c = one("zeta:\n  cmd.run: []\nalpha:\n  cmd.run: []\nmid:\n  cmd.run: []\n").unwrap();
    assert_eq!(seq(&c), ["cmd.run zeta", "cmd.run alpha", "cmd.run mid"]);
}

#[test]
fn order_numbers_first_then_auto_then_negative_then_last() {
    let c = one(r#"
auto1:
  cmd.run: []
at_end:
  cmd.run:
    - order: last
two:
  cmd.run:
    - order: 2
minus:
  cmd.run:
    - order: -1
auto2:
  cmd.run: []
one:
  cmd.run:
    - order: 1
zero:
  cmd.run:
    - order: first
"#)
    .unwrap();
    assert_eq!(
        seq(&c),
        [
            "cmd.run zero",
            "cmd.run one",
            "cmd.run two",
            "cmd.run auto1",
            "cmd.run auto2",
            "cmd.run minus",
            "cmd.run at_end",
        ]
    );
    assert_eq!(find(&c, "cmd", "at_end").1.order, Order::Last);
    assert_eq!(find(&c, "cmd", "zero").1.order, Order::Number(0));
    assert!(one("x:\n  cmd.run:\n    - order: soon\n").is_err());
}

#[test]
fn requisites_override_order() {
    let c = one(
        "early:\n  cmd.run:\n    - order: 1\n    - require:\n      - cmd: late\nlate:\n  cmd.run:\n    - order: last\n",
    )
    .unwrap();
    assert_eq!(seq(&c), ["cmd.run late", "cmd.run early"]);
    // Requisite indices follow the reordering.
    assert_eq!(c.chunks[1].requisites, vec![(Kind::Require, 0)]);
}

#[test]
fn dependencies_run_as_early_as_their_first_dependent() {
    let c = one(
        "a:\n  cmd.run: []\nb:\n  cmd.run:\n    - require:\n      - cmd: d\nc:\n  cmd.run: []\nd:\n  cmd.run: []\n",
    )
    .unwrap();
    assert_eq!(
        seq(&c),
        ["cmd.run a", "cmd.run d", "cmd.run b", "cmd.run c"]
    );
}

// ---- top file ----------------------------------------------------------------------------

fn top(text: &str, id: &str, grains: Value) -> Result<Vec<String>, CompileError> {
    top_with_pillar(text, id, grains, json!({}))
}

fn top_with_pillar(
    text: &str,
    id: &str,
    grains: Value,
    pillar: Value,
) -> Result<Vec<String>, CompileError> {
    let mut groups = BTreeMap::new();
    groups.insert(
        "webs".to_string(),
        crate::inventory::Group::Expr("web*".to_string()),
    );
    top_sls(&yaml(text), id, &grains, &pillar, &groups)
}

#[test]
fn top_file_matches_the_hosts_pillar() {
    let text = r#"
base:
  'role:web':
    - match: pillar
    - web
  'role:(db|cache)$':
    - match: pillar_pcre
    - db
  'I@tier:front and G@os:Debian':
    - match: compound
    - front
"#;
    let grains = json!({"os": "Debian"});
    let web = json!({"role": "web", "tier": "front"});
    assert_eq!(
        top_with_pillar(text, "h", grains.clone(), web).unwrap(),
        ["web", "front"]
    );
    let db = json!({"role": "db"});
    assert_eq!(
        top_with_pillar(text, "h", grains.clone(), db).unwrap(),
        ["db"]
    );
    assert!(top_with_pillar(text, "h", grains, json!({}))
        .unwrap()
        .is_empty());
}

#[test]
fn top_file_matches_each_type_in_order_without_duplicates() {
    let text = r#"
base:
  '*':
    - core
  'web*':
    - web
  '^db\d+$':
    - match: pcre
    - db
  'web1,web2':
    - match: list
    - listed
  'os:Debian':
    - match: grain
    - debian
    - core
  'os:Deb.*':
    - match: grain_pcre
    - debian_re
  'G@os:Debian and web*':
    - match: compound
    - compound
  webs:
    - match: nodegroup
    - group
  10.0.0.0/8:
    - match: ipcidr
    - private
"#;
    let grains = json!({"os": "Debian", "ipv4": ["10.1.2.3"]});
    assert_eq!(
        top(text, "web1", grains.clone()).unwrap(),
        [
            "core",
            "web",
            "listed",
            "debian",
            "debian_re",
            "compound",
            "group",
            "private"
        ]
    );
    assert_eq!(
        top(text, "db12", json!({"os": "RedHat"})).unwrap(),
        ["core", "db"]
    );
}

#[test]
fn top_file_errors() {
    let err = top(
        "base:\n  '*':\n    - match: regex\n    - x\n",
        "h",
        json!({}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "top file: target `*`: unknown match type `regex`; valid: glob, pcre, list, grain, \
         grain_pcre, pillar, pillar_pcre, compound, nodegroup, ipcidr"
    );
    let err = top("dev:\n  '*': [x]\n", "h", json!({})).unwrap_err();
    assert!(err.to_string().contains("unknown environment `dev`"));
    let err = top(
        "base:\n  'a and (':\n    - match: compound\n    - x\n",
        "h",
        json!({}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("target `a and (`"), "{err}");
    assert!(top("", "h", json!({})).unwrap().is_empty());
}
