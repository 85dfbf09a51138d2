//! Pillar compilation tests against small pillar/ trees.

use serde_json::json;

use super::*;

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

fn grains() -> Value {
    json!({"os": "Debian", "os_family": "Debian", "roles": ["web"]})
}

fn keys() -> Arc<Secrets> {
    Arc::default()
}

fn groups() -> BTreeMap<String, Group> {
    [("webs".to_string(), Group::Expr("web*".into()))].into()
}

const TOP: &str = "\
base:
  '*':
    - common
  'G@os:Debian and web*':
    - match: compound
    - debian
  'os:RedHat':
    - match: grain
    - redhat
  'roles:web':
    - match: grain
    - web
  'db*':
    - db
  webs:
    - match: nodegroup
    - group
";

fn files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("top.sls", TOP),
        (
            "common.sls",
            "ntp: {servers: [a, b]}\nlevel: common\nusers: {root: {shell: /bin/sh}}\n",
        ),
        (
            "debian/init.sls",
            "level: debian\nusers: {root: {home: /root}}\n",
        ),
        ("redhat.sls", "level: redhat\n"),
        (
            "web.sls",
            "ntp: {servers: [c]}\nlevel: web-{{ grains.os }}\n",
        ),
        ("db.sls", "secret: db-password\n"),
        ("group.sls", "in_group: true\n"),
    ]
}

#[test]
fn top_matching_and_merge_order() {
    let dir = tree(&files());
    let p = compile(dir.path(), "web1", &grains(), &groups(), None, &keys()).unwrap();
    assert_eq!(
        p,
        json!({
            // lists are replaced, not merged; later top entries win
            "ntp": {"servers": ["c"]},
            "level": "web-Debian",
            "users": {"root": {"shell": "/bin/sh", "home": "/root"}},
            "in_group": true,
        })
    );
    // Another host never sees what is not assigned to it (db's secret here).
    let p = compile(
        dir.path(),
        "db1",
        &json!({"os": "RedHat"}),
        &groups(),
        None,
        &keys(),
    )
    .unwrap();
    assert_eq!(p["level"], json!("redhat"));
    assert_eq!(p["secret"], json!("db-password"));
    assert!(p.get("in_group").is_none());
}

#[test]
fn override_is_merged_last_and_visible_while_rendering() {
    let mut f = files();
    f.push((
        "group.sls",
        "in_group: true\nseen: {{ pillar.get('flag', 'unset') }}\n",
    ));
    let dir = tree(&f);
    let p = compile(
        dir.path(),
        "web1",
        &grains(),
        &groups(),
        Some(json!({"level": "cli", "users": {"root": {"shell": "/bin/zsh"}}, "flag": "set"})),
        &keys(),
    )
    .unwrap();
    assert_eq!(p["level"], json!("cli"));
    assert_eq!(
        p["users"],
        json!({"root": {"shell": "/bin/zsh", "home": "/root"}})
    );
    assert_eq!(p["seen"], json!("set"));
}

#[test]
fn missing_sls_names_top_and_the_sls() {
    let dir = tree(&[("top.sls", "base:\n  '*':\n    - nope.deeper\n")]);
    let err = compile(dir.path(), "web1", &grains(), &groups(), None, &keys()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("top.sls: SLS `nope.deeper` not found"),
        "{text}"
    );
    assert!(text.contains("nope/deeper.sls"), "{text}");
    // ignore_missing (Salt 2015.8+) skips it.
    let dir = tree(&[(
        "top.sls",
        "base:\n  '*':\n    - nope\n    - ignore_missing: True\n",
    )]);
    assert_eq!(
        compile(dir.path(), "web1", &grains(), &groups(), None, &keys()).unwrap(),
        json!({})
    );
}

#[test]
fn no_top_file_is_an_empty_pillar() {
    let dir = tree(&[]);
    assert_eq!(
        compile(dir.path(), "h", &grains(), &groups(), None, &keys()).unwrap(),
        json!({})
    );
    assert_eq!(
        compile(
            dir.path(),
            "h",
            &grains(),
            &groups(),
            Some(json!({"a": 1})),
            &keys()
        )
        .unwrap(),
        json!({"a": 1})
    );
}

#[test]
fn top_is_rendered_with_grains_and_errors_name_files() {
    let dir = tree(&[
        (
            "top.sls",
            "base:\n  '*':\n{% if grains.os == 'Debian' %}\n    - deb\n{% endif %}\n",
        ),
        ("deb.sls", "a: 1\nb: {{ pillar.x }}\n"),
    ]);
    let err = compile(dir.path(), "h", &grains(), &groups(), None, &keys()).unwrap_err();
    assert_eq!(
        err.to_string().split(": Jinja").next(),
        Some("deb.sls:2"),
        "{err}"
    );
    let dir = tree(&[("top.sls", "base:\n  '*':\n    - match: pillar\n    - x\n")]);
    let err = compile(dir.path(), "h", &grains(), &groups(), None, &keys()).unwrap_err();
    assert!(
        err.to_string()
            .contains("target `*`: the pillar top file cannot target by pillar"),
        "{err}"
    );
}

#[test]
fn the_pillar_top_file_cannot_target_by_pillar() {
    for top in [
        "base:\n  'role:web':\n    - match: pillar\n    - x\n",
        "base:\n  'role:w.*':\n    - match: pillar_pcre\n    - x\n",
        "base:\n  'web* and I@role:web':\n    - match: compound\n    - x\n",
        "base:\n  'not J@role:w':\n    - match: compound\n    - x\n",
    ] {
        let dir = tree(&[("top.sls", top), ("x.sls", "a: 1\n")]);
        let err = compile(dir.path(), "web1", &grains(), &groups(), None, &keys()).unwrap_err();
        assert!(
            err.to_string().contains("cannot target by pillar"),
            "{top}: {err}"
        );
    }
}

#[test]
fn includes_render_first_and_the_includer_wins() {
    let dir = tree(&[
        ("top.sls", "base:\n  '*':\n    - app\n"),
        (
            "app/init.sls",
            "include:\n  - .base\n  - users:\n      defaults: {shell: /bin/bash}\n      key: app:users\nlevel: app\n",
        ),
        ("app/base.sls", "level: base\nport: 80\n"),
        ("users.sls", "alice: {{ shell }}\n"),
    ]);
    let p = compile(dir.path(), "h", &grains(), &groups(), None, &keys()).unwrap();
    assert_eq!(
        p,
        json!({"level": "app", "port": 80, "app": {"users": {"alice": "/bin/bash"}}})
    );
}
