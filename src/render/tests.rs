//! Renderer tests against small states/ trees in temporary directories.

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::*;
use crate::args::Args;

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

fn renderer(root: &Path) -> Renderer {
    Renderer::new(
        root,
        "web1",
        json!({"os": "Debian", "os_family": "Debian", "roles": ["web", "db"], "ip": {"eth0": "10.0.0.1"}}),
        json!({"snmpcom": "s3cret", "users": {"alice": {"uid": 1000}}, "pkgs": ["a", "b"]}),
    )
}

fn sls(files: &[(&str, &str)], file: &str, name: &str) -> Result<Value, RenderError> {
    let dir = tree(files);
    renderer(dir.path()).render_sls(file, name)
}

#[test]
fn default_pipeline_is_jinja_then_yaml() {
    let out = sls(
        &[("a.sls", "pkg_{{ grains['os'] }}:\n  pkg.installed: []\n")],
        "a.sls",
        "a",
    )
    .unwrap();
    assert_eq!(out, json!({"pkg_Debian": {"pkg.installed": []}}));
}

#[test]
fn shebangs_pick_the_pipeline() {
    let jy = sls(&[("a.sls", "#!jinja|yaml\nx: {{ 1 + 1 }}\n")], "a.sls", "a").unwrap();
    assert_eq!(jy, json!({"x": 2}));
    let spaced = sls(
        &[("a.sls", "#! jinja | yaml\nx: {{ 1 + 1 }}\n")],
        "a.sls",
        "a",
    )
    .unwrap();
    assert_eq!(spaced, json!({"x": 2}));
    // No templating with #!yaml: the braces are YAML flow syntax.
    let y = sls(&[("a.sls", "#!yaml\nx: {a: 1}\n")], "a.sls", "a").unwrap();
    assert_eq!(y, json!({"x": {"a": 1}}));
    let j = sls(&[("a.sls", "#!json\n{\"x\": [1, 2]}\n")], "a.sls", "a").unwrap();
    assert_eq!(j, json!({"x": [1, 2]}));
    let jj = sls(
        &[("a.sls", "#!jinja|json\n{\"x\": \"{{ grains.os }}\"}\n")],
        "a.sls",
        "a",
    )
    .unwrap();
    assert_eq!(jj, json!({"x": "Debian"}));
}

#[test]
fn unsupported_renderers_are_named() {
    for shebang in [
        "#!py",
        "#!pydsl",
        "#!mako|yaml",
        "#!yaml|jinja",
        "#!jinja|yaml|nacl",
        "#!gpg|yaml",
        "#!jinja|gpg",
    ] {
        let err = sls(
            &[("d/a.sls", &format!("{shebang}\nx: 1\n"))],
            "d/a.sls",
            "d.a",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, RenderError::UnsupportedRenderer { .. }),
            "{text}"
        );
        assert!(text.starts_with("d/a.sls: unsupported renderer"), "{text}");
        assert!(text.contains(shebang.trim_start_matches("#!")), "{text}");
    }
}

#[test]
fn empty_files_are_empty_mappings() {
    for text in [
        "",
        "\n",
        "# only a comment\n",
        "{# jinja comment #}\n",
        "---\n",
    ] {
        assert_eq!(
            sls(&[("a.sls", text)], "a.sls", "a").unwrap(),
            json!({}),
            "{text:?}"
        );
    }
}

#[test]
fn non_mapping_sls_is_an_error() {
    let err = sls(&[("a.sls", "- a\n- b\n")], "a.sls", "a").unwrap_err();
    assert_eq!(
        err.to_string(),
        "a.sls: rendered to a list, expected a mapping"
    );
}

#[test]
fn undefined_variables_are_errors_with_file_and_line() {
    let err = sls(
        &[("web/init.sls", "a: 1\nb: {{ nosuchvar }}\n")],
        "web/init.sls",
        "web",
    )
    .unwrap_err();
    assert_eq!(err.file(), "web/init.sls");
    assert_eq!(err.line(), Some(2));
    let text = err.to_string();
    assert!(
        text.starts_with("web/init.sls:2: Jinja error: undefined value"),
        "{text}"
    );
    // Missing attributes too (StrictUndefined), and `is defined` still works.
    let err = sls(
        &[("a.sls", "\n\nx: {{ pillar.nope.deeper }}\n")],
        "a.sls",
        "a",
    )
    .unwrap_err();
    assert_eq!(err.line(), Some(3));
    let ok = sls(
        &[("a.sls", "x: {{ 'y' if nosuch is defined else 'n' }}\n")],
        "a.sls",
        "a",
    )
    .unwrap();
    assert_eq!(ok, json!({"x": "n"}));
}

/// minijinja names the undefined expression only in its debug mode, which
/// is on by default in debug builds alone: a release build said just
/// "undefined value". (Cargo.toml builds minijinja for tests as for release.)
#[test]
fn undefined_values_are_named() {
    let m = "{% macro m() %}{{ pillar.inmacro }}{% endmacro %}";
    let cases = [
        (
            "x: {{ nosuchvar }}\n",
            "a.sls:1: ",
            "`nosuchvar` is undefined",
        ),
        (
            "x: {{ pillar.db.password }}\n",
            "a.sls:1: ",
            "`pillar.db` is undefined",
        ),
        (
            "\nx: {{ pillar.users.alice.gid }}\n",
            "a.sls:2: ",
            "`pillar.users.alice.gid` is undefined",
        ),
        (
            "x: {{ pillar['users']['bob'] }}\n",
            "a.sls:1: ",
            "`pillar['users']['bob']` is undefined",
        ),
        (
            "{% if grains.nope == 1 %}x: 1{% endif %}\n",
            "a.sls:1: ",
            "`grains.nope` is undefined",
        ),
        (
            "{% set a = pillar.nope %}\nx: {{ a }}\n",
            "a.sls:2: ",
            "`pillar.nope` is undefined (from line 1)",
        ),
        (
            "{% from 'm.jinja' import m %}x: {{ m() }}\n",
            "m.jinja:1: ",
            "`pillar.inmacro` is undefined",
        ),
    ];
    for (source, at, needle) in cases {
        let err = sls(&[("a.sls", source), ("m.jinja", m)], "a.sls", "a").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with(at), "{source}: {text}");
        assert!(text.contains(needle), "{source}: {text}");
    }
}

#[test]
fn jinja_syntax_errors_have_lines() {
    let err = sls(&[("a.sls", "a: 1\n{% if %}\n")], "a.sls", "a").unwrap_err();
    assert_eq!((err.file(), err.line()), ("a.sls", Some(2)), "{err}");
}

#[test]
fn yaml_errors_name_file_line_and_rendered_text() {
    let err = sls(
        &[("s/a.sls", "a: 1\nb: [{{ grains.os }}\nc: 3\n")],
        "s/a.sls",
        "s.a",
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RenderError::Parse { .. }), "{text}");
    assert!(text.starts_with("s/a.sls:"), "{text}");
    assert!(err.line().is_some(), "{text}");
    assert!(text.contains("after Jinja"), "{text}");
    let err = sls(&[("a.sls", "a: 1\n  b: 2\n")], "a.sls", "a").unwrap_err();
    assert_eq!(err.line(), Some(2), "{err}");
    assert!(err.to_string().contains("|   b: 2"), "{err}");
}

#[test]
fn context_variables_follow_salt() {
    let body = "v: [{{ sls }}, {{ slspath }}, {{ tpldir }}, {{ tplfile }}, '{{ tpldot }}', '{{ slsdotpath }}', {{ saltenv }}, {{ opts.id }}]\n";
    let out = sls(&[("apache/init.sls", body)], "apache/init.sls", "apache").unwrap();
    assert_eq!(
        out["v"],
        json!([
            "apache",
            "apache",
            "apache",
            "apache/init.sls",
            "apache",
            "apache",
            "base",
            "web1"
        ])
    );
    let out = sls(
        &[("apache/conf.sls", body)],
        "apache/conf.sls",
        "apache.conf",
    )
    .unwrap();
    assert_eq!(
        out["v"],
        json!([
            "apache.conf",
            "apache",
            "apache",
            "apache/conf.sls",
            "apache",
            "apache",
            "base",
            "web1"
        ])
    );
    let body = "v: ['{{ slspath }}', '{{ tpldir }}']\n";
    let out = sls(&[("top.sls", body)], "top.sls", "top").unwrap();
    assert_eq!(out["v"], json!(["", "."]));
}

#[test]
fn python_methods_work() {
    let body = concat!(
        "a: {{ grains.get('os') }}\n",
        "b: {{ pillar.get('missing', 'dflt') }}\n",
        "c: {{ grains['os'].upper() }}\n",
        "d: [{% for k, v in pillar.users.items() %}{{ k }}={{ v.uid }}{% endfor %}]\n",
        "e: {{ 'a,b'.split(',') | join('-') }}\n",
        "f: {{ 'x'.startswith('x') }}\n",
    );
    let out = sls(&[("a.sls", body)], "a.sls", "a").unwrap();
    assert_eq!(
        out,
        json!({"a": "Debian", "b": "dflt", "c": "DEBIAN", "d": ["alice=1000"], "e": "a-b", "f": true})
    );
}

#[test]
fn salt_pillar_and_grains_get_traverse_with_defaults() {
    let body = concat!(
        "a: {{ salt['pillar.get']('users:alice:uid') }}\n",
        "b: {{ salt['pillar.get']('users:bob:uid', 42) }}\n",
        "c: '{{ salt['pillar.get']('nope') }}'\n",
        "d: {{ salt['grains.get']('ip:eth0') }}\n",
        "e: {{ salt['grains.get']('roles:1') }}\n",
        "f: {{ salt.pillar.get('pkgs') | join(',') }}\n",
        "g: {{ salt['pillar.get']('users', {'carol': 1}, merge=True) | tojson }}\n",
        "h: {{ salt['pillar.get']('users/alice/uid', delimiter='/') }}\n",
        "i: {{ salt['config.get']('os') }}\n",
        "j: {{ salt['pillar.items']()['snmpcom'] }}\n",
        "k: {{ salt['grains.items']()['os_family'] }}\n",
    );
    let out = sls(&[("a.sls", body)], "a.sls", "a").unwrap();
    assert_eq!(
        out,
        json!({"a": 1000, "b": 42, "c": "", "d": "10.0.0.1", "e": "db", "f": "a,b",
               "g": {"alice": {"uid": 1000}, "carol": 1}, "h": 1000, "i": "Debian",
               "j": "s3cret", "k": "Debian"})
    );
    assert_eq!(
        crate::data::get(&json!({"a": {"b": [1, {"c": 2}]}}), "a:b:c", json!(0)),
        json!(2)
    );
}

#[test]
fn filter_by_follows_salt() {
    let body = concat!(
        "{% set m = salt['grains.filter_by']({'Debian': {'pkg': 'apache2', 'x': 1}, 'RedHat': {'pkg': 'httpd'}, 'default': {'pkg': 'www'}}) %}",
        "a: {{ m.pkg }}\n",
        "{% set m = salt['grains.filter_by']({'Deb*': 'glob', 'default': 'd'}, grain='os') %}",
        "b: {{ m }}\n",
        "{% set m = salt['grains.filter_by']({'Arch': 'a', 'fallback': 'f'}, default='fallback') %}",
        "c: {{ m }}\n",
        "{% set m = salt['grains.filter_by']({'db': 'from-list', 'x': 'no'}, grain='roles') %}",
        "d: {{ m }}\n",
        "{% set m = salt['grains.filter_by']({'Debian': {'pkg': 'apache2'}, 'common': {'port': 80, 'pkg': 'x'}}, merge={'port': 8080}, base='common') %}",
        "e: {{ m | tojson }}\n",
        "{% set m = salt['grains.filter_by']({'RedHat': 1}) %}",
        "f: {{ m }}\n",
    );
    let out = sls(&[("a.sls", body)], "a.sls", "a").unwrap();
    assert_eq!(
        out,
        json!({"a": "apache2", "b": "glob", "c": "f", "d": "from-list",
               "e": {"pkg": "apache2", "port": 8080}, "f": "None"})
    );
}

#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<(String, Args)>>,
}

impl RemoteCall for Recorder {
    fn call(&self, function: &str, args: &Args) -> Result<Value, String> {
        self.calls
            .lock()
            .unwrap()
            .push((function.to_string(), args.clone()));
        match function {
            "cmd.run" => Ok(json!("web1.example.com")),
            _ => Err(format!("'{function}' is not available")),
        }
    }
}

#[test]
fn other_salt_functions_go_to_the_host() {
    let dir = tree(&[(
        "a.sls",
        "h: {{ salt['cmd.run']('hostname -f', python_shell=True) }}\nu: {{ salt.cmd.run('id -u') }}\n",
    )]);
    let rec = Arc::new(Recorder::default());
    let r = renderer(dir.path()).with_remote(rec.clone());
    let out = r.render_sls("a.sls", "a").unwrap();
    assert_eq!(
        out,
        json!({"h": "web1.example.com", "u": "web1.example.com"})
    );
    let calls = rec.calls.lock().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].0, "cmd.run");
    assert_eq!(calls[0].1.positional, vec![json!("hostname -f")]);
    assert_eq!(calls[0].1.kwargs.get("python_shell"), Some(&json!(true)));
    assert_eq!(calls[1].1.positional, vec![json!("id -u")]);
    drop(calls);

    let dir = tree(&[("a.sls", "x: {{ salt['pkg.version']('vim') }}\n")]);
    let err = renderer(dir.path())
        .with_remote(rec)
        .render_sls("a.sls", "a")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("salt['pkg.version'] failed: 'pkg.version' is not available"),
        "{err}"
    );
}

#[test]
fn remote_calls_without_a_connection_are_errors() {
    let err = sls(
        &[("a.sls", "\nx: {{ salt['cmd.run']('hostname') }}\n")],
        "a.sls",
        "a",
    )
    .unwrap_err();
    assert_eq!((err.file(), err.line()), ("a.sls", Some(2)));
    assert!(
        err.to_string()
            .contains("salt['cmd.run'] needs a connection to the host"),
        "{err}"
    );
}

#[test]
fn include_import_and_from_import_with_context() {
    let files = [
        ("common/header.sls", "included_{{ grains.os }}: {}\n"),
        (
            "apache/map.jinja",
            "{% set apache = salt['grains.filter_by']({'Debian': {'pkg': 'apache2'}}) %}\n{% macro svc(n) %}{{ n }}-{{ sls }}-{{ pillar.snmpcom }}{% endmacro %}\n",
        ),
        (
            "apache/init.sls",
            concat!(
                "{% from 'apache/map.jinja' import apache with context %}\n",
                "{% import 'apache/map.jinja' as m %}\n",
                "{% include 'common/header.sls' %}\n",
                "pkg: {{ apache.pkg }}\n",
                "svc: {{ m.svc('x') }}\n",
            ),
        ),
    ];
    let out = sls(&files, "apache/init.sls", "apache").unwrap();
    assert_eq!(
        out,
        json!({"included_Debian": {}, "pkg": "apache2", "svc": "x-apache-s3cret"})
    );
}

#[test]
fn relative_imports_resolve_against_the_current_template() {
    let files = [
        (
            "apache/map.jinja",
            "{% import_yaml './defaults.yaml' as defaults %}{% set port = defaults.port %}",
        ),
        ("apache/defaults.yaml", "port: {{ 40 + 40 }}\n"),
        (
            "apache/sub/x.sls",
            "{% from '../map.jinja' import port %}\nport: {{ port }}\n",
        ),
        (
            "apache/init.sls",
            "{% from './map.jinja' import port %}\nport: {{ port }}\n",
        ),
    ];
    assert_eq!(
        sls(&files, "apache/init.sls", "apache").unwrap(),
        json!({"port": 80})
    );
    assert_eq!(
        sls(&files, "apache/sub/x.sls", "apache.sub.x").unwrap(),
        json!({"port": 80})
    );
}

#[test]
fn import_yaml_json_text_and_load_blocks() {
    let files = [
        ("data/d.yaml", "b: 2\na: [1, 2]\n"),
        ("data/d.json", "{\"k\": \"{{ grains.os }}\"}"),
        ("data/t.txt", "hello"),
        (
            "a.sls",
            concat!(
                "{% import_yaml 'data/d.yaml' as y %}\n",
                "{%- import_json \"data/d.json\" as j -%}\n",
                "{% import_text 'data/t.txt' as t %}\n",
                "{% load_yaml as l %}\nq: {{ 3 }}\n{% endload %}\n",
                "y: {{ y | json }}\n",
                "j: {{ j.k }}\n",
                "t: {{ t }}\n",
                "l: {{ l.q }}\n",
                "keys: {{ y.keys() | list | join(',') }}\n",
                "bad: {{ nosuch }}\n",
            ),
        ),
    ];
    let err = sls(&files, "a.sls", "a").unwrap_err();
    // The rewrite keeps lines: `bad` is on line 12 of the source.
    assert_eq!(err.line(), Some(12), "{err}");
    let mut files = files;
    files[3].1 = &files[3].1[..files[3].1.find("bad:").unwrap()];
    let out = sls(&files, "a.sls", "a").unwrap();
    assert_eq!(
        out,
        json!({"y": {"b": 2, "a": [1, 2]}, "j": "Debian", "t": "hello", "l": 3, "keys": "b,a"})
    );
}

#[test]
fn templates_cannot_leave_the_root() {
    let outside = tree(&[("secret.sls", "s: 1\n")]);
    let secret = outside.path().join("secret.sls");
    for body in [
        "{% include '../../../../../../etc/passwd' %}".to_string(),
        "{% include './../../etc/passwd' %}".to_string(),
        "{% import_yaml '../../x.yaml' as x %}".to_string(),
        format!("{{% include '{}' %}}", secret.display()),
    ] {
        let err = sls(&[("d/a.sls", &body)], "d/a.sls", "d.a").unwrap_err();
        assert!(
            err.to_string().contains("outside the root"),
            "{body}: {err}"
        );
    }
    let dir = tree(&[("a.sls", "x: 1\n")]);
    let err = renderer(dir.path())
        .render_sls("../a.sls", "a")
        .unwrap_err();
    assert!(matches!(err, RenderError::PathEscape { .. }), "{err}");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&secret, dir.path().join("link.sls")).unwrap();
        let err = renderer(dir.path())
            .render_sls("link.sls", "link")
            .unwrap_err();
        assert!(matches!(err, RenderError::PathEscape { .. }), "{err}");
    }
}

#[test]
fn errors_in_included_templates_name_that_file() {
    let files = [
        ("lib/m.jinja", "ok\n{{ broken }}\n"),
        ("a.sls", "{% include 'lib/m.jinja' %}\n"),
    ];
    let err = sls(&files, "a.sls", "a").unwrap_err();
    assert_eq!((err.file(), err.line()), ("lib/m.jinja", Some(2)), "{err}");
    assert!(err.to_string().contains("(rendering a.sls)"), "{err}");
    let err = sls(&[("a.sls", "{% include 'nope.sls' %}\n")], "a.sls", "a").unwrap_err();
    assert!(err.to_string().contains("nope.sls"), "{err}");
}

#[test]
fn serializer_filters() {
    let body = concat!(
        "a: {{ pillar.users | yaml }}\n",
        "b: {{ \"it's: x\" | yaml_squote }}\n",
        "c: {{ 'say \"hi\": x' | yaml_dquote }}\n",
        "d: {{ 'x: y' | yaml_encode }}\n",
        "e: {{ {'z': 1, 'a': 2} | json }}\n",
        "f: {{ '[1, 2]' | load_json | sum }}\n",
        "g: {{ 'k: v' | load_yaml | tojson }}\n",
        "h: {{ 'x' | sequence | tojson }}\n",
        "i: echo {{ \"it's\" | quote }}\n",
        "j: {{ 'abc' | regex_replace('(b)', '[\\\\1]') }}\n",
    );
    let out = sls(&[("a.sls", body)], "a.sls", "a").unwrap();
    assert_eq!(
        out,
        json!({"a": {"alice": {"uid": 1000}}, "b": "it's: x", "c": "say \"hi\": x", "d": "x: y",
               "e": {"a": 2, "z": 1}, "f": 3, "g": {"k": "v"}, "h": ["x"], "i": "echo 'it'\"'\"'s'", "j": "a[b]c"})
    );
}

#[test]
fn snmp_template_with_context_from_pillar() {
    // Salt's classic example: the state passes `snmpcom` in `context`.
    let dir = tree(&[
        ("snmp/snmpd.conf", "rocommunity {{ snmpcom }}\n"),
        (
            "snmp/init.sls",
            "/etc/snmp/snmpd.conf:\n  file.managed:\n    - source: salt://snmp/snmpd.conf\n    - template: jinja\n    - context:\n        snmpcom: {{ pillar.get('snmpcom', 'public') }}\n",
        ),
    ]);
    let r = renderer(dir.path());
    let state = r.render_sls("snmp/init.sls", "snmp").unwrap();
    let context = state["/etc/snmp/snmpd.conf"]["file.managed"][2]["context"]
        .as_object()
        .unwrap()
        .clone();
    let extra = Extra {
        defaults: [("snmpcom".to_string(), json!("public"))].into(),
        context: context.into_iter().collect(),
    };
    let text = r.render_template_file("snmp/snmpd.conf", &extra).unwrap();
    assert_eq!(text, "rocommunity s3cret\n");
    // defaults alone apply when the context does not set the variable.
    let only_defaults = Extra {
        defaults: extra.defaults.clone(),
        ..Extra::default()
    };
    assert_eq!(
        r.render_template_str(
            "snmp/inline.conf",
            "rocommunity {{ snmpcom }}",
            &only_defaults
        )
        .unwrap(),
        "rocommunity public"
    );
}

#[test]
fn ordered_rendering_keeps_document_order() {
    let dir = tree(&[("a.sls", "zeta: 1\nalpha: 2\nmid: 3\n")]);
    let out: OrderedMap<Value> = renderer(dir.path())
        .render_file_as("a.sls", Some("a"), &Extra::default())
        .unwrap();
    let keys: Vec<&str> = out.0.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["zeta", "alpha", "mid"]);
    let empty = tree(&[("e.sls", "")]);
    let out: OrderedMap<Value> = renderer(empty.path())
        .render_file_as("e.sls", None, &Extra::default())
        .unwrap();
    assert!(out.0.is_empty());
}

#[test]
fn loop_controls_and_trailing_newline() {
    let dir = tree(&[]);
    let r = renderer(dir.path());
    let out = r
        .render_template_str(
            "t",
            "{% for i in [1,2,3] %}{% if i == 2 %}{% break %}{% endif %}{{ i }}{% endfor %}\n",
            &Extra::default(),
        )
        .unwrap();
    assert_eq!(out, "1\n");
}

/// An age identity in `dir` (made now, never committed), the renderer
/// decrypting with it, and a function encrypting to it, indented for a
/// YAML `|` block.
fn age_setup(dir: &Path) -> (Arc<Secrets>, impl Fn(&str) -> String) {
    use ::age::secrecy::ExposeSecret;
    let id = ::age::x25519::Identity::generate();
    let idfile = dir.join("age.key");
    std::fs::write(&idfile, id.to_string().expose_secret()).unwrap();
    let recipient = id.to_public().to_string();
    let secrets = Arc::new(Secrets::new(crate::secrets::Keys {
        gpg_keydir: dir.join("gpg"),
        age_identity_file: idfile,
    }));
    let enc = move |plain: &str| {
        let armored =
            crate::secrets::age_encrypt(std::slice::from_ref(&recipient), plain.as_bytes())
                .unwrap();
        format!(
            "|\n{}",
            armored
                .lines()
                .map(|l| format!("    {l}\n"))
                .collect::<String>()
        )
    };
    (secrets, enc)
}

#[test]
fn age_renderer_decrypts_after_yaml_with_or_without_jinja() {
    let keys = tempfile::tempdir().unwrap();
    let (secrets, enc) = age_setup(keys.path());
    let pw = enc("hunter22");
    let files = [
        (
            "plain.sls",
            format!("#!yaml|age\ndb:\n  password: {pw}  port: 5432\n"),
        ),
        (
            "templated.sls",
            format!("#!jinja | yaml | age\ndb:\n  host: {{{{ grains.os }}}}\n  password: {pw}"),
        ),
        ("untouched.sls", format!("#!yaml\ndb:\n  password: {pw}")),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let dir = tree(&files);
    let r = renderer(dir.path()).with_secrets(secrets.clone());
    assert_eq!(
        r.render_sls("plain.sls", "plain").unwrap(),
        json!({"db": {"password": "hunter22", "port": 5432}})
    );
    assert_eq!(
        r.render_sls("templated.sls", "templated").unwrap(),
        json!({"db": {"host": "Debian", "password": "hunter22"}})
    );
    // Without the renderer, the armor is data like any other (as in Salt).
    let raw = r.render_sls("untouched.sls", "untouched").unwrap();
    assert!(raw["db"]["password"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    // Key order is kept through the walk (states run in file order).
    let ordered: OrderedMap<Value> = r
        .render_file_as("plain.sls", None, &Extra::default())
        .unwrap();
    assert_eq!(ordered.0[0].0, "db");
}

#[test]
fn a_value_that_cannot_be_decrypted_fails_the_file_and_errors_withhold_secrets() {
    let keys = tempfile::tempdir().unwrap();
    let (secrets, enc) = age_setup(keys.path());
    let other = tempfile::tempdir().unwrap();
    let (_, enc_other) = age_setup(other.path());
    let files = [
        ("ok.sls", format!("#!yaml|age\npw: {}", enc("hunter22"))),
        (
            "wrong.sls",
            format!("#!yaml|age\napp:\n  token: {}", enc_other("x-token")),
        ),
        // A state file whose YAML breaks on the line that holds the pillar
        // value: the error quotes that line, and must not quote the value.
        (
            "broken.sls",
            "#!jinja|yaml\nkey: {{ pillar.pw }}: bad: x\n".to_string(),
        ),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let dir = tree(&files);
    let r = renderer(dir.path()).with_secrets(secrets.clone());
    let err = r.render_sls("wrong.sls", "wrong").unwrap_err();
    assert!(matches!(err, RenderError::Decrypt(_)), "{err}");
    assert_eq!(err.file(), "wrong.sls");
    assert!(
        err.to_string()
            .starts_with("wrong.sls: app:token: cannot decrypt (age with identities from"),
        "{err}"
    );

    let pillar = r.render_sls("ok.sls", "ok").unwrap();
    let states = Renderer::new(dir.path(), "web1", json!({}), pillar).with_secrets(secrets);
    let err = states
        .render_sls("broken.sls", "broken")
        .unwrap_err()
        .to_string();
    assert!(!err.contains("hunter22"), "{err}");
    assert!(err.contains(crate::secrets::WITHHELD), "{err}");
}

/// Templates written here rendered by Salt itself (`salt-call --local
/// slsutil.renderer`, tests/compat/gen_render.py -> render.json): halite
/// renders the same text.
#[test]
fn salt_helpers_render_as_salt_renders_them() {
    let compat = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat");
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(compat.join("render.json")).unwrap())
            .unwrap();
    // The templates' own directory is the root: `import_yaml` finds the
    // data files next to them, as Salt's file_roots do.
    let root = compat.join("render");
    for (name, want) in doc["rendered"].as_object().unwrap() {
        let source = std::fs::read_to_string(root.join(name)).unwrap();
        let got = renderer(&root)
            .render_template_str(name, &source, &Extra::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want.as_str().unwrap(), "{name}");
    }
    // Where Salt fails, halite fails on the same line, naming the file.
    let errors = doc["errors"].as_object().unwrap();
    assert!(!errors.is_empty());
    for (name, want) in errors {
        let source = std::fs::read_to_string(root.join(name)).unwrap();
        let err = renderer(&root)
            .render_template_str(name, &source, &Extra::default())
            .expect_err(name);
        assert_eq!(err.file(), name, "{err}");
        assert_eq!(
            err.line(),
            want["line"].as_u64().map(|l| l as usize),
            "{name}: {err} (Salt: {})",
            want["salt"]
        );
    }
}

/// Render `source` as a plain template in a tree holding `files`.
fn text(files: &[(&str, &str)], source: &str) -> Result<String, RenderError> {
    let dir = tree(files);
    renderer(dir.path()).render_template_str("t.jinja", source, &Extra::default())
}

#[test]
fn the_rewrite_leaves_strings_comments_and_raw_blocks_alone() {
    let source = concat!(
        "{{ '%s [1] {a: 1} do x' }}|{# {% do x if y %} [1] #}|",
        "{% raw %}{{ [1] }}{% do x if y %}{{ 'a' % b }}{% endraw %}|",
        "{{ \"50%\" }}|{{ '%%' % () }}\n",
    );
    assert_eq!(
        text(&[], source).unwrap(),
        "%s [1] {a: 1} do x||{{ [1] }}{% do x if y %}{{ 'a' % b }}|50%|%\n"
    );
}

#[test]
fn error_lines_survive_the_rewrite() {
    let source =
        "{% set d = {'a': [1]} %}{% do d.a.append('%s' % 1) %}\n{{ d }}\n{% do d.pop('x') %}\n";
    let err = text(&[], source).unwrap_err();
    assert_eq!((err.file(), err.line()), ("t.jinja", Some(3)), "{err}");
    assert!(err.to_string().contains("KeyError: 'x'"), "{err}");
    // A template minijinja cannot parse is reported by minijinja, on its line.
    let err = text(&[], "{% set d = {} %}\n{{ d.update( }}\n").unwrap_err();
    assert_eq!(err.line(), Some(2), "{err}");
}

#[test]
fn changes_are_seen_through_imports_macros_and_globals() {
    let files = [(
        "map.jinja",
        concat!(
            "{% set conf = {'users': []} %}",
            "{% macro add_pkg(p) %}{% do pillar.pkgs.append(p) %}{% endmacro %}",
            "{% macro add_user(c, u) %}{% do c.users.append(u) %}{% endmacro %}",
        ),
    )];
    let source = concat!(
        "{% from 'map.jinja' import conf, add_pkg, add_user %}",
        "{{ add_pkg('c') }}{{ add_user(conf, 'bob') }}{% do conf.update({'x': 1}) %}",
        "{{ pillar.pkgs | tojson }} {{ conf | tojson }}",
    );
    assert_eq!(
        text(&files, source).unwrap(),
        r#"["a", "b", "c"] {"users": ["bob"], "x": 1}"#
    );
}

#[test]
fn walking_a_list_while_changing_it_sees_a_snapshot() {
    let source = concat!(
        "{% set l = [1, 2] %}{% for x in l %}{% do l.append(x * 10) %}{% endfor %}",
        "{% set d = {'a': 1} %}{% do d.update(d) %}{% for k in d %}{% do d.update({k ~ k: 2}) %}{% endfor %}",
        "{{ l | tojson }} {{ d | tojson }}",
    );
    assert_eq!(
        text(&[], source).unwrap(),
        r#"[1, 2, 10, 20] {"a": 1, "aa": 2}"#
    );
}

#[test]
fn values_made_by_filters_are_mutable_once_set_but_not_in_place() {
    let ok = "{% set a = [1] %}{% set c = a + [2] %}{% do c.append(3) %}{% set u = 'a b'.split() %}{% do u.append('c') %}{{ c | tojson }} {{ u | tojson }} {{ a | tojson }}";
    assert_eq!(text(&[], ok).unwrap(), r#"[1, 2, 3] ["a", "b", "c"] [1]"#);
    let err = text(&[], "{% set a = [1] %}\n{% do (a + [2]).append(3) %}").unwrap_err();
    assert_eq!(err.line(), Some(2), "{err}");
    assert!(
        err.to_string().contains("bind it with `set` first"),
        "{err}"
    );
    // Read-only methods work on such values.
    let ro = "{{ ([1, 2] + [2]).count(2) }} {{ (1, 2).index(2) }} {{ dict(a=1).items() | list | tojson }}";
    assert_eq!(text(&[], ro).unwrap(), r#"2 1 [["a", 1]]"#);
}

#[test]
fn percent_formats_as_python_does() {
    let source = concat!(
        "{{ '%*d|%-*s|' % (4, 7, 3, 'x') }}{{ '%(a)r %(a)s' % {'a': 'q'} }} ",
        "{{ '%s' % ((1, 2),) }} {{ '%.2f%%' % 12.345 }} {{ 10 % 4 }} {{ '%i' % true }}",
    );
    assert_eq!(
        text(&[], source).unwrap(),
        "   7|x  |'q' q (1, 2) 12.35% 2 1"
    );
    let err = text(&[], "{{ [1] % 2 }}").unwrap_err();
    assert!(err.to_string().contains("unsupported operand"), "{err}");
}

#[test]
fn sls_files_change_data_before_yaml() {
    let body = concat!(
        "{% set pkgs = salt['pillar.get']('pkgs', []) %}{% do pkgs.append('c') %}",
        "{% set svc = {} %}{% do svc.setdefault('name', 'nginx') %}",
        "{% for p in pkgs %}\npkg_{{ p }}:\n  pkg.installed: []\n{% endfor %}",
        "svc:\n  service.running:\n    - name: {{ svc.name }}\n",
    );
    let out = sls(&[("a.sls", body)], "a.sls", "a").unwrap();
    let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["pkg_a", "pkg_b", "pkg_c", "svc"]);
}

#[test]
fn every_way_of_binding_a_value_shares_it() {
    let cases = [
        (
            "{% set x = pillar.nope | default({}) %}{% do x.update(a=1) %}{{ x }}",
            "{'a': 1}",
        ),
        (
            "{% set ns = namespace(c=[]) %}{% do ns.c.append(1) %}{% set ns.d = [2] %}{% do ns.d.append(3) %}{{ ns.c }} {{ ns.d }}",
            "[1] [2, 3]",
        ),
        ("{% set r = range(3) %}{% do r.append(9) %}{{ r }}", "[0, 1, 2, 9]"),
        (
            "{% set a, b = [1], {'k': 2} %}{% do a.append(b) %}{% do b.update(k=3) %}{{ a }}",
            "[1, {'k': 3}]",
        ),
        (
            "{% set d = {'a': [1]} %}{% for k, v in d.items() %}{% do v.append(2) %}{% endfor %}{{ d }}",
            "{'a': [1, 2]}",
        ),
        (
            "{% set l = [3, 1, 2] %}{% do l.sort() %}{{ l }} {{ l[-1] }} {{ l[1:] }} {{ 2 in l }} {{ l == [1, 2, 3] }}",
            "[1, 2, 3] 3 [2, 3] True True",
        ),
        (
            "{% set d = {'b': 1, 'a': 2} %}{{ d | dictsort }} {{ 'a' in d }} {{ d | length }} {{ d | tojson }}",
            r#"[('a', 2), ('b', 1)] True 2 {"b": 1, "a": 2}"#,
        ),
    ];
    for (source, want) in cases {
        assert_eq!(text(&[], source).unwrap(), want, "{source}");
    }
    // Strict undefined holds through the rewrite.
    let err = text(&[], "{{ '%s' % pillar.nope }}").unwrap_err();
    assert!(err.to_string().contains("undefined"), "{err}");
    assert_eq!(
        text(&[], "{% set x = pillar.nope %}{{ x is defined }}").unwrap(),
        "False"
    );
}

#[test]
fn a_conditional_expression_is_a_set_value_like_any_other() {
    let source = concat!(
        "{%- set dir = '/temp' if grains.os_family == 'Windows' else '/tmp' %}",
        "{% set l = [pillar.pkgs[0]] if pillar.pkgs is string else pillar.pkgs %}",
        "{% do l.append('c') %}{{ dir }} {{ l | tojson }} {{ pillar.pkgs | tojson }}",
        "{% set sub = pillar.opt | default(False) == 'SUB' %}{% set n = 1 + 2 * 3 %} {{ sub }} {{ n }}",
    );
    assert_eq!(
        text(&[], source).unwrap(),
        r#"/tmp ["a", "b", "c"] ["a", "b", "c"] False 7"#
    );
}

#[test]
fn cp_lists_answer_from_the_states_tree() {
    let dir = tree(&[
        ("web/init.sls", ""),
        ("web/conf.sls", ""),
        ("web/files/a.conf", ""),
        ("db.sls", ""),
        (".hidden.sls", ""),
    ]);
    let source = concat!(
        "{{ salt['cp.list_states']() | tojson }} ",
        "{{ salt['cp.list_master'](prefix='web/') | tojson }} ",
        "{{ salt['cp.list_master_dirs']() | tojson }} {{ salt['cp.list_states']('dev') | tojson }}"
    );
    std::fs::write(dir.path().join("t.jinja"), source).unwrap();
    let out = renderer(dir.path())
        .render_template_file("t.jinja", &Extra::default())
        .unwrap();
    assert_eq!(
        out,
        r#"["db", "web", "web.conf"] ["web/conf.sls", "web/files/a.conf", "web/init.sls"] ["web", "web/files"] []"#
    );
}

/// Pillar is rendered on the controller (as Salt's master renders it with
/// its own modules): `status.time` answers with the controller's clock.
#[test]
fn status_time_without_a_host_is_the_controllers() {
    let year = chrono::Local::now().format("%Y").to_string();
    let out = text(
        &[],
        "{{ salt['status.time']('%Y') }} {{ salt['status.time'] is callable }}",
    )
    .unwrap();
    assert_eq!(out, format!("{year} True"));
    let err = text(&[], "{{ salt['status.time']('%Q') }}").unwrap_err();
    assert!(err.to_string().contains("bad format"), "{err}");
}

/// config.option: a top-level key in opts, grains, pillar, then pillar's
/// `master`, or the default; found nowhere without one is an error (Salt's
/// own table of defaults is not reproduced).
#[test]
fn config_option_looks_up_top_level_keys() {
    let out = text(
        &[],
        concat!(
            "{{ salt['config.option']('os') }} {{ salt['config.option']('snmpcom') }} ",
            "{{ salt['config.option']('os', omit_grains=True, default='d') }} ",
            "{{ salt['config.option']('users:alice', 'none') }}",
        ),
    )
    .unwrap();
    assert_eq!(out, "Debian s3cret d none");
    let err = text(&[], "{{ salt['config.option']('postgres.port') }}").unwrap_err();
    assert!(err.to_string().contains("pass a default"), "{err}");
}
