//! Unit tests for the file module: plans from canned probe output, argument
//! checks, `salt://` resolution, templates, and the snippets run by a local
//! `sh` in a tempdir (probe → plan → apply → probe is a no-op).

use std::path::Path;

use serde_json::json;
use sha2::{Digest, Sha256};

use super::*;
use crate::modules::{BuildCtx, Output, StateFunction};
use crate::render::Renderer;

pub(super) fn chunk(function: &str, name: &str, args: Value) -> Chunk {
    Chunk {
        sls: "t".into(),
        file: "t.sls".into(),
        ..Chunk::standalone("file", function, name, args)
    }
}

fn build_in(
    root: &Path,
    renderer: Option<&Renderer>,
    function: &str,
    name: &str,
    args: Value,
) -> Result<Box<dyn StateFunction>, String> {
    let def = crate::modules::lookup("file", function).expect("registered");
    (def.build)(
        &chunk(function, name, args),
        &BuildCtx {
            states_root: root,
            renderer,
        },
    )
}

fn build(function: &str, name: &str, args: Value) -> Result<Box<dyn StateFunction>, String> {
    build_in(Path::new("/nonexistent"), None, function, name, args)
}

fn sha(b: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(b))
}

/// What the probe prints for a regular file.
fn file_facts(content: &[u8], owner: &str, mode: &str) -> String {
    format!(
        "{TAG} parent dir\n{TAG} type file\n{TAG} stat 0 0 {owner} {mode}\n{TAG} sha256 {}\n{TAG} size {}\n{TAG} content\n{}\n{TAG} end\n",
        sha(content),
        content.len(),
        encode_b64(content)
    )
}

fn plan(f: &dyn StateFunction, text: &str) -> Result<Plan, String> {
    f.plan(Output { text, rc: 0 })
}

use crate::modules::Plan;

#[test]
fn missing_file_is_a_new_file() {
    let f = build("managed", "/etc/x", json!({"contents": "hi", "mode": 600})).unwrap();
    let p = plan(&*f, &format!("{TAG} parent dir\n{TAG} type missing\n")).unwrap();
    assert_eq!(p.changes["diff"], "New file");
    assert_eq!(p.changes["mode"], "0600");
    assert_eq!(p.comment, "The file /etc/x is set to be changed");
    let f = build(
        "managed",
        "/etc/x",
        json!({"contents": "hi", "create": false}),
    )
    .unwrap();
    assert!(
        plan(&*f, &format!("{TAG} parent dir\n{TAG} type missing\n"))
            .unwrap()
            .is_noop()
    );
    let f = build("managed", "/no/x", json!({"contents": "hi"})).unwrap();
    // A missing parent may come from an earlier state (a package): the plan
    // is a new file, and the apply checks the parent when its turn comes.
    let p = plan(&*f, &format!("{TAG} parent missing\n{TAG} type missing\n")).unwrap();
    assert_eq!(p.changes["diff"], "New file");
    assert!(f
        .apply(&p)
        .unwrap()
        .contains("Parent directory of /no/x is not present"));
}

#[test]
fn equal_content_is_a_noop_and_drift_is_metadata_only() {
    let f = build(
        "managed",
        "/etc/x",
        json!({"contents": ["a", "b"], "user": "root", "mode": "0644"}),
    )
    .unwrap();
    let p = plan(&*f, &file_facts(b"a\nb\n", "root root", "644")).unwrap();
    assert!(p.is_noop(), "{p:?}");

    let p = plan(&*f, &file_facts(b"a\nb\n", "daemon root", "600")).unwrap();
    assert_eq!(p.changes.len(), 2, "{p:?}");
    assert_eq!(p.changes["user"], "root");
    assert_eq!(p.changes["mode"], "0644");
    let script = f.apply(&p).unwrap();
    assert!(script.contains("chown -- root \"$p\""), "{script}");
    assert!(script.contains("chmod 0644 \"$p\""), "{script}");
    assert!(!script.contains("base64 -d"), "{script}");
}

#[test]
fn changed_content_has_a_unified_diff() {
    let f = build("managed", "/etc/x", json!({"contents": "one\ntwo\n"})).unwrap();
    let p = plan(&*f, &file_facts(b"one\nthree\n", "root root", "644")).unwrap();
    let diff = p.changes["diff"].as_str().unwrap();
    assert!(diff.contains("@@"), "{diff}");
    assert!(
        diff.contains("-three\n") && diff.contains("+two\n"),
        "{diff}"
    );
    assert_eq!(p.changes.len(), 1);
    // Too large to have been sent back: a hash mismatch only.
    let big = format!(
        "{TAG} parent dir\n{TAG} type file\n{TAG} stat 0 0 root root 644\n{TAG} sha256 {}\n{TAG} size 999999\n",
        sha(b"other")
    );
    let p = plan(&*f, &big).unwrap();
    assert!(p.changes["diff"].as_str().unwrap().contains("not diffed"));
    // replace: False leaves existing content alone.
    let f = build(
        "managed",
        "/etc/x",
        json!({"contents": "one\n", "replace": false}),
    )
    .unwrap();
    assert!(plan(&*f, &file_facts(b"zzz", "root root", "644"))
        .unwrap()
        .is_noop());
}

#[test]
fn show_changes_false_hides_the_diff_like_salt() {
    let f = build(
        "managed",
        "/etc/x",
        json!({"contents": "password=new\n", "show_changes": false}),
    )
    .unwrap();
    let p = plan(&*f, &file_facts(b"password=old\n", "root root", "644")).unwrap();
    assert_eq!(p.changes["diff"], "<show_changes=False>");
    assert!(!format!("{p:?}").contains("password"), "{p:?}");
    // A new file's marker holds no content either way (Salt's "New file").
    let p = plan(&*f, &format!("{TAG} parent dir\n{TAG} type missing\n")).unwrap();
    assert_eq!(p.changes["diff"], "New file");
}

#[test]
fn binary_diffs_are_named_like_salt() {
    assert_eq!(diff_text(b"a\0", b"b\0"), "Replace binary file");
    assert_eq!(
        diff_text(b"a", b"\xff"),
        "Replace text file with binary file"
    );
    assert_eq!(diff_text(b"\0", b"a"), "Replace binary file with text file");
}

#[test]
fn type_conflicts_are_errors() {
    let dir = format!("{TAG} parent dir\n{TAG} type dir\n{TAG} stat 0 0 root root 755\n");
    let file = file_facts(b"x", "root root", "644");
    let f = build("managed", "/etc/x", json!({"contents": "x"})).unwrap();
    assert!(plan(&*f, &dir).unwrap_err().contains("is a directory"));
    let d = build("directory", "/etc/x", json!({})).unwrap();
    assert!(plan(&*d, &file)
        .unwrap_err()
        .contains("exists and is a file"));
    let l = build("symlink", "/etc/x", json!({"target": "/t"})).unwrap();
    assert!(plan(&*l, &file)
        .unwrap_err()
        .contains("File exists where the symlink"));
    assert!(plan(&*l, &dir).unwrap_err().starts_with("Directory exists"));
    let l = build("symlink", "/etc/x", json!({"target": "/t", "force": true})).unwrap();
    let p = plan(&*l, &dir).unwrap();
    assert_eq!(p.changes["new"], "/etc/x");
    assert!(l.apply(&p).unwrap().contains("rm -rf"));
}

#[test]
fn directory_and_symlink_and_absent_plans() {
    let d = build("directory", "/srv/d/", json!({"mode": 750, "user": "root"})).unwrap();
    let missing = format!("{TAG} parent dir\n{TAG} type missing\n");
    let p = plan(&*d, &missing).unwrap();
    // Salt 3008's entry for a new directory: what it makes it with is not
    // listed.
    assert_eq!(p.changes["/srv/d"], json!({"directory": "new"}));
    assert_eq!(p.changes.len(), 1);
    let ok = format!("{TAG} parent dir\n{TAG} type dir\n{TAG} stat 0 0 root root 750\n");
    assert!(plan(&*d, &ok).unwrap().is_noop());
    let nop = format!("{TAG} parent missing\n{TAG} type missing\n");
    assert!(plan(&*d, &nop)
        .unwrap_err()
        .contains("No directory to create"));

    let l = build("symlink", "/srv/l", json!({"target": "/a/b"})).unwrap();
    let link = |t: &str| {
        format!(
            "{TAG} parent dir\n{TAG} link {}\n{TAG} type symlink\n{TAG} stat 0 0 root root 777\n",
            encode_b64(format!("{t}\n").as_bytes())
        )
    };
    assert!(plan(&*l, &link("/a/./b")).unwrap().is_noop());
    let p = plan(&*l, &link("/a/c")).unwrap();
    assert_eq!(p.changes["new"], "/srv/l");
    let l = build(
        "symlink",
        "/srv/l",
        json!({"target": "/a/b", "user": "daemon"}),
    )
    .unwrap();
    let p = plan(&*l, &link("/a/b")).unwrap();
    assert_eq!(p.changes["ownership"], "daemon:root");
    assert!(l.apply(&p).unwrap().contains("chown -h -- daemon \"$p\""));

    let a = build("absent", "/srv/d", json!({})).unwrap();
    assert!(plan(&*a, &missing).unwrap().is_noop());
    let p = plan(&*a, &ok).unwrap();
    assert_eq!(p.changes["removed"], "/srv/d");
    assert_eq!(p.comment, "Directory /srv/d is set for removal");
}

#[test]
fn bad_arguments_are_errors() {
    let err = |f: &str, n: &str, a: Value| build(f, n, a).unwrap_err();
    // Not an argument, and no source template to take it as a variable.
    assert!(err("managed", "/x", json!({"bogus": 1}))
        .contains("`bogus` is not an argument of file.managed"));
    let e = err("managed", "/x", json!({"makedirs": "maybe"}));
    assert!(e.contains("invalid arguments"), "{e}");
    assert!(err("managed", "rel/x", json!({})).contains("absolute"));
    assert!(err(
        "managed",
        "/x",
        json!({"source": "salt://a", "contents": "b"})
    )
    .contains("cannot be used in combination"));
    assert!(err(
        "managed",
        "/x",
        json!({"contents": "b", "template": "mako"})
    )
    .contains("mako"));
    assert!(err(
        "managed",
        "/x",
        json!({"contents": "b", "template": "jinja"})
    )
    .contains("renderer"));
    assert!(err("managed", "/x", json!({"mode": "0999"})).contains("octal"));
    assert!(err("managed", "/x", json!({"mode": "rwx"})).contains("octal"));
    assert!(err("managed", "/x", json!({"backup": "master"})).contains("backup"));
    assert!(err("managed", "/x", json!({"user": "a:b"})).contains("user"));
    assert!(err("managed", "/x", json!({"source": "http://x/y"}))
        .contains("Unable to verify upstream hash of source file http://x/y, please set source_hash or set skip_verify to True"));
    assert!(err(
        "managed",
        "/x",
        json!({"source": "ftp://x/y", "source_hash": "md5=12"})
    )
    .contains("Source hash md5=12 format is invalid"));
    assert!(err(
        "managed",
        "/x",
        json!({"source": "https://x/y", "skip_verify": true, "template": "jinja"})
    )
    .contains("remote source is not supported"));
    assert!(err(
        "managed",
        "/x",
        json!({"source": ["salt://a", "https://x/y"], "skip_verify": true})
    )
    .contains("mixing"));
    assert!(err("managed", "/x", json!({"source": "file:///etc/y"})).contains("not supported"));
    assert!(err("absent", "/", json!({})).contains("Refusing"));
    assert!(err("absent", "/x", json!({"force": true})).contains("invalid"));
    assert!(err("symlink", "/x", json!({})).contains("target"));
    assert!(err("directory", "/x", json!({"mode": 755, "dir_mode": 700})).contains("disagree"));
}

#[test]
fn modes_parse_like_salt() {
    assert_eq!(parse_mode(&json!(644)).unwrap(), 0o644);
    assert_eq!(parse_mode(&json!("0644")).unwrap(), 0o644);
    assert_eq!(parse_mode(&json!("0o2755")).unwrap(), 0o2755);
    assert_eq!(parse_mode(&json!("0")).unwrap(), 0);
    assert!(parse_mode(&json!(-1)).is_err());
    assert!(parse_mode(&json!("17777")).is_err());
}

#[test]
fn salt_sources_stay_under_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("states");
    std::fs::create_dir_all(root.join("app")).unwrap();
    std::fs::write(tmp.path().join("secret"), "s").unwrap();
    std::fs::write(root.join("app/conf"), "conf\n").unwrap();
    std::os::unix::fs::symlink(tmp.path().join("secret"), root.join("app/leak")).unwrap();
    let b = |src: Value| build_in(&root, None, "managed", "/x", json!({ "source": src }));
    let e = b(json!("salt://../secret")).unwrap_err();
    assert!(e.contains("outside the states root"), "{e}");
    assert!(b(json!("salt://app/../../secret"))
        .unwrap_err()
        .contains("outside"));
    assert!(b(json!("salt://app/leak")).unwrap_err().contains("outside"));
    let e = b(json!("salt://app/nope")).unwrap_err();
    assert!(e.contains("salt://app/nope"), "{e}");
    // A list: the first that exists wins.
    let f = b(json!(["salt://app/nope", "salt://app/conf?saltenv=base"])).unwrap();
    let p = plan(&*f, &file_facts(b"conf\n", "root root", "644")).unwrap();
    assert!(p.is_noop());
    assert_eq!(
        resolve_salt_url(&root, "salt://app/./conf").unwrap().0,
        "app/conf"
    );
    // Too big to ship inside the apply execution (a sparse file).
    std::fs::File::create(root.join("app/huge"))
        .unwrap()
        .set_len(managed::SOURCE_LIMIT + 1)
        .unwrap();
    let e = b(json!("salt://app/huge")).unwrap_err();
    assert!(e.contains("may be at most"), "{e}");
}

#[test]
fn templates_render_with_grains_context_and_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::write(
        root.join("motd.j2"),
        "host={{ grains['id'] }} role={{ role }} dc={{ dc }}\n",
    )
    .unwrap();
    let r = Renderer::new(root, "node9", json!({"id": "node9"}), json!({}));
    let f = build_in(
        root,
        Some(&r),
        "managed",
        "/etc/motd",
        json!({"source": "salt://motd.j2", "template": "jinja",
               "defaults": {"role": "db", "dc": "dc1"}, "context": {"role": "web"}}),
    )
    .unwrap();
    let want = b"host=node9 role=web dc=dc1\n";
    assert!(plan(&*f, &file_facts(want, "root root", "644"))
        .unwrap()
        .is_noop());
    let f = build_in(
        root,
        Some(&r),
        "managed",
        "/etc/motd",
        json!({"contents": "id={{ grains.id }}", "template": "jinja"}),
    )
    .unwrap();
    assert!(plan(&*f, &file_facts(b"id=node9\n", "root root", "644"))
        .unwrap()
        .is_noop());
}

/// Arguments file.managed does not know are its `source` template's
/// variables (Salt's `**kwargs`), under `defaults` and `context`; without
/// a source template they are an error, not dropped.
#[test]
fn other_arguments_are_variables_of_the_source_template() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::write(root.join("a.j2"), "{{ bind }}:{{ port }} {{ role }}\n").unwrap();
    let r = Renderer::new(root, "node9", json!({"id": "node9"}), json!({}));
    let f = build_in(
        root,
        Some(&r),
        "managed",
        "/etc/a",
        json!({"source": "salt://a.j2", "template": "jinja", "bind": "0.0.0.0",
               "port": 80, "role": "x", "defaults": {"port": 81}, "context": {"role": "web"}}),
    )
    .unwrap();
    assert!(
        plan(&*f, &file_facts(b"0.0.0.0:81 web\n", "root root", "644"))
            .unwrap()
            .is_noop()
    );
    for args in [
        json!({"contents": "{{ bind }}", "template": "jinja", "bind": "x"}),
        json!({"source": "salt://a.j2", "bind": "x"}),
    ] {
        let e = build_in(root, Some(&r), "managed", "/etc/a", args).unwrap_err();
        assert!(
            e.contains("`bind` is not an argument of file.managed"),
            "{e}"
        );
    }
}

pub(super) fn sh(script: &str) -> (String, i32) {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (text, out.status.code().unwrap_or(-1))
}

fn syntax_ok(script: &str) {
    let out = std::process::Command::new("sh")
        .arg("-n")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sh -n: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// probe → plan → apply → probe again: the second plan is a no-op and the
/// first plan's changes are what happened.
fn converge(f: &dyn StateFunction) -> Plan {
    syntax_ok(&f.probe());
    let (text, rc) = sh(&f.probe());
    let p = f.plan(Output { text: &text, rc }).unwrap();
    if !p.is_noop() {
        let script = f.apply(&p).unwrap();
        syntax_ok(&script);
        let (out, rc) = sh(&script);
        assert_eq!(rc, 0, "apply failed: {out}\n{script}");
    }
    let (text, rc) = sh(&f.probe());
    let again = f.plan(Output { text: &text, rc }).unwrap();
    assert!(again.is_noop(), "second run not a no-op: {again:?}");
    p
}

#[test]
fn snippets_converge_locally() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("states");
    std::fs::create_dir_all(&root).unwrap();
    let all: Vec<u8> = (0..=255u8).collect();
    std::fs::write(root.join("bytes"), &all).unwrap();
    let base = tmp.path().join("it's $a \"dir\"");
    let base = base.to_str().unwrap();
    let name = format!("{base}/sub/f 'q' $HOME");

    let f = build(
        "managed",
        &name,
        json!({"contents": "x", "makedirs": true, "mode": 640, "dir_mode": 700}),
    )
    .unwrap();
    let p = converge(&*f);
    assert_eq!(p.changes["diff"], "New file");
    assert_eq!(std::fs::read(&name).unwrap(), b"x\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&name), 0o640);
    assert_eq!(mode(&format!("{base}/sub")), 0o700);

    let f = build_in(
        &root,
        None,
        "managed",
        &name,
        json!({"source": "salt://bytes"}),
    )
    .unwrap();
    let p = converge(&*f);
    assert_eq!(p.changes["diff"], "Replace text file with binary file");
    assert_eq!(std::fs::read(&name).unwrap(), all);
    assert_eq!(mode(&name), 0o640, "a replaced file keeps its mode");

    let f = build("managed", &name, json!({"mode": "0600"})).unwrap();
    let p = converge(&*f);
    assert_eq!(p.changes.keys().collect::<Vec<_>>(), ["mode"]);
    assert_eq!(
        std::fs::read(&name).unwrap(),
        all,
        "no source: content kept"
    );

    let link = format!("{base}/link $x");
    let l = build("symlink", &link, json!({"target": name})).unwrap();
    assert_eq!(converge(&*l).changes["new"], link);
    assert_eq!(
        std::fs::read_link(&link).unwrap().to_str(),
        Some(name.as_str())
    );
    let l = build("symlink", &link, json!({"target": "sub"})).unwrap();
    converge(&*l);
    assert_eq!(std::fs::read_link(&link).unwrap().to_str(), Some("sub"));

    let d = format!("{base}/d1/d2");
    let dir = build("directory", &d, json!({"makedirs": true, "mode": "0751"})).unwrap();
    assert_eq!(converge(&*dir).changes[&d], json!({"directory": "new"}));
    assert_eq!(mode(&d), 0o751);

    for path in [&link, &format!("{base}/d1"), &name] {
        let a = build("absent", path, json!({})).unwrap();
        assert_eq!(converge(&*a).changes["removed"], path.as_str());
        assert!(std::fs::symlink_metadata(path).is_err());
    }
}

/// The probe as it was before it saved processes (dirname, cut, tr, and
/// sha256sum for a file it ships): the reference its facts must equal.
fn probe_before(path: &str, follow: bool) -> String {
    let (stat, kind) = if follow {
        (
            "stat -L",
            "if [ -L \"$p\" ] && [ ! -e \"$p\" ]; then t=dangling\n",
        )
    } else {
        ("stat", "if [ -L \"$p\" ]; then t=symlink\n")
    };
    format!(
        r#"p={p}
d=$(dirname -- "$p")
if [ -d "$d" ]; then echo '{TAG} parent dir'; elif [ -e "$d" ] || [ -L "$d" ]; then echo '{TAG} parent other'; else echo '{TAG} parent missing'; fi
if [ -L "$p" ]; then printf '%s ' '{TAG} link'; readlink -- "$p" | base64 | tr -d '\n'; echo; fi
{kind}elif [ -d "$p" ]; then t=dir
elif [ -f "$p" ]; then t=file
elif [ -e "$p" ]; then t=other
else t=missing
fi
echo "{TAG} type $t"
case $t in missing|dangling) exit 0 ;; esac
echo "{TAG} stat $({stat} -c '%u %g %U %G %a' -- "$p")"
[ "$t" = file ] || exit 0
echo "{TAG} sha256 $(sha256sum < "$p" | cut -d ' ' -f 1)"
s=$(wc -c < "$p" | tr -d ' ')
echo "{TAG} size $s"
if [ "$s" -le {DIFF_LIMIT} ]; then echo '{TAG} content'; base64 < "$p"; echo '{TAG} end'; fi
"#,
        p = crate::transport::quote::quote(path),
    )
}

/// The probe finds the same facts as before for every kind of path:
/// small and large files, empty ones, directories, links (followed or
/// not, dangling), missing paths and parents, odd spellings of a path.
#[test]
fn probe_finds_the_same_facts_as_before() {
    let dir = std::env::temp_dir().join(format!("halite-probe-{}", std::process::id()));
    let d = dir.display().to_string();
    let (_, rc) = sh(&format!(
        "set -e; rm -rf '{d}'; mkdir -p '{d}/sub'; printf 'hi\\n' > '{d}/small'; : > '{d}/empty'\n\
         head -c {} /dev/zero | tr '\\0' x > '{d}/big'; ln -s small '{d}/link'; ln -s nowhere '{d}/dangling'; ln -s sub '{d}/dirlink'; mkfifo '{d}/fifo'",
        DIFF_LIMIT + 10
    ));
    assert_eq!(rc, 0);
    for name in [
        "small",
        "empty",
        "big",
        "sub",
        "link",
        "dangling",
        "dirlink",
        "fifo",
        "missing",
        "no/such/x",
        "sub/",
        "sub//x",
        "./small",
    ] {
        for follow in [true, false] {
            let path = format!("{d}/{name}");
            let (now, _) = sh(&probe_snippet(&path, follow));
            let (before, _) = sh(&probe_before(&path, follow));
            assert_eq!(
                parse_facts(&now),
                parse_facts(&before),
                "{path} {follow}:\n{now}\n{before}"
            );
        }
    }
    for path in ["/", "/etc", "relative/x", "x"] {
        let (now, _) = sh(&probe_snippet(path, true));
        let (before, _) = sh(&probe_before(path, true));
        assert_eq!(parse_facts(&now), parse_facts(&before), "{path}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The run's shared probe ([`shared_probe`]: one `stat`, one `sha256sum`
/// for every path) gives each state the facts its own probe found before,
/// for the paths above plus names with a space, a backslash and a newline;
/// a file already holding the wanted content is reported by its hash
/// alone. With the shared answers in hand a converged file or directory
/// costs no process: the probe still parses with no tool on PATH.
#[test]
fn the_shared_probe_finds_the_same_facts() {
    let dir = std::env::temp_dir().join(format!("halite-shared-{}", std::process::id()));
    let d = dir.display().to_string();
    let (_, rc) = sh(&format!(
        "set -e; rm -rf '{d}'; mkdir -p '{d}/sub'; printf 'hi\\n' > '{d}/small'; : > '{d}/empty'\n\
         head -c {} /dev/zero | tr '\\0' x > '{d}/big'; ln -s small '{d}/link'; ln -s nowhere '{d}/dangling'; ln -s sub '{d}/dirlink'; mkfifo '{d}/fifo'\n\
         printf 'a\\n' > '{d}/we ird'; printf 'b\\n' > '{d}/back\\\\slash'; printf 'c\\n' > '{d}/new\nline'; ln -s 'new\nline' '{d}/oddlink'; ln -s 'a b' '{d}/spacelink'",
        DIFF_LIMIT + 10
    ));
    assert_eq!(rc, 0);
    let names = [
        "small",
        "empty",
        "big",
        "sub",
        "link",
        "dangling",
        "dirlink",
        "fifo",
        "missing",
        "no/such/x",
        "sub/",
        "./small",
        "we ird",
        "back\\slash",
        "new\nline",
        "oddlink",
        "spacelink",
    ];
    let paths: Vec<String> = names.iter().map(|n| format!("{d}/{n}")).collect();
    let args: Vec<String> = paths
        .iter()
        .flat_map(|p| {
            [
                shared_probe(p, true, true).arg,
                shared_probe(p, false, false).arg,
            ]
        })
        .collect();
    let shared = (shared_probe("/", true, true).script)(&args);
    for path in &paths {
        for follow in [true, false] {
            let (before, _) = sh(&probe_before(path, follow));
            let before = parse_facts(&before).unwrap();
            let expects = [None, Some("0".repeat(64)), before.sha256.clone()];
            for expect in expects.iter().filter(|e| follow || e.is_none()) {
                let script = format!(
                    "{shared}(\n{}\n)",
                    probe_with(path, follow, expect.as_deref())
                );
                let (now, _) = sh(&script);
                let mut now = parse_facts(&now).unwrap_or_else(|e| panic!("{path}: {e}\n{now}"));
                if expect.is_some() && *expect == before.sha256 {
                    // Reported by its hash: nothing to diff, no content.
                    assert_eq!(now.content, None, "{path}");
                    now.content.clone_from(&before.content);
                }
                assert_eq!(now, before, "{path} {follow} {expect:?}");
                if expect.is_some() && *expect == before.sha256 || before.kind == Kind::Dir {
                    let bare = format!(
                        "{shared}PATH=/nonexistent\n(\n{}\n)",
                        probe_with(path, follow, expect.as_deref())
                    );
                    let (out, _) = sh(&bare);
                    assert!(
                        parse_facts(&out).is_ok(),
                        "{path}: a process was needed:\n{out}"
                    );
                }
            }
        }
    }
    // A tool that fails for any path (one vanished, one unreadable) leaves
    // every answer unset: each state asks itself, and finds the truth.
    let small = format!("{d}/small");
    let fake = format!("{d}/fakebin");
    let (_, rc) = sh(&format!(
        "mkdir -p '{fake}'; for t in stat sha256sum; do printf '#!/bin/sh\\necho 1 2 3 4 5 6\\nexit 1\\n' > '{fake}'/$t; chmod +x '{fake}'/$t; done"
    ));
    assert_eq!(rc, 0);
    let script = format!(
        "h_p=$PATH; PATH={fake}:$PATH\n{}PATH=$h_p\n(\n{}\n)",
        (shared_probe("/", true, true).script)(&[shared_probe(&small, true, true).arg]),
        probe_with(&small, true, Some(&sha(b"hi\n")))
    );
    let (out, _) = sh(&script);
    let (before, _) = sh(&probe_before(&small, true));
    assert_eq!(parse_facts(&out), parse_facts(&before), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `contents_pillar` / `contents_grains`: the value at the key (Salt's
/// `pillar.get` traversal, `contents_delimiter`), lines normalized as
/// Salt does (`\r\n` -> `\n`, one final newline unless
/// `contents_newline: False`), lists of keys joined by newlines; missing
/// keys, two content arguments and non-text values are errors.
#[test]
fn contents_from_pillar_and_grains() {
    let tmp = tempfile::tempdir().unwrap();
    let r = Renderer::new(
        tmp.path(),
        "node9",
        json!({"id": "node9", "motd": "hello", "nums": [1, 2]}),
        json!({"app": {"key": "-----BEGIN-----\r\nabc\n-----END-----", "users": [{"name": "x"}], "none": null},
               "a": "one", "b": "two\n", "deep": {"x": {"y": "z"}}}),
    );
    let b = |args: Value| build_in(tmp.path(), Some(&r), "managed", "/srv/f", args);
    let wants = |args: Value, content: &str| {
        let f = b(args.clone()).unwrap_or_else(|e| panic!("{args}: {e}"));
        let p = plan(
            f.as_ref(),
            &file_facts(content.as_bytes(), "root root", "644"),
        )
        .unwrap();
        assert!(p.is_noop(), "{args}: {:?}", p.changes);
    };
    wants(
        json!({"contents_pillar": "app:key"}),
        "-----BEGIN-----\nabc\n-----END-----\n",
    );
    wants(
        json!({"contents_pillar": "app:key", "contents_newline": false}),
        "-----BEGIN-----\nabc\n-----END-----",
    );
    wants(json!({"contents_pillar": ["a", "b"]}), "one\ntwo\n");
    wants(
        json!({"contents_pillar": "deep|x|y", "contents_delimiter": "|"}),
        "z\n",
    );
    wants(json!({"contents_grains": "motd"}), "hello\n");
    wants(json!({"contents_grains": "nums"}), "1\n2\n");
    wants(json!({"contents_grains": "nums:1"}), "2\n");
    // A key holding null manages no content (Salt: contents is None).
    let f = b(json!({"contents_pillar": "app:none"})).unwrap();
    assert!(
        plan(f.as_ref(), &file_facts(b"anything", "root root", "644"))
            .unwrap()
            .is_noop()
    );

    let err = |args: Value| b(args).err().unwrap();
    assert!(err(json!({"contents_pillar": "app:nope"})).contains("Pillar app:nope does not exist"));
    assert!(err(json!({"contents_grains": "nope"})).contains("Grain nope does not exist"));
    assert!(err(json!({"contents_pillar": "a", "contents": "x"}))
        .contains("Only one of 'contents', 'contents_pillar', and 'contents_grains'"));
    assert!(err(json!({"contents_pillar": "a", "source": "salt://x"}))
        .contains("'source' cannot be used in combination"));
    let e = err(json!({"contents_pillar": "app"}));
    assert!(e.contains("the value is a mapping, not text"), "{e}");
    assert!(
        !e.contains("BEGIN"),
        "the value stays out of the message: {e}"
    );
    assert!(err(json!({"contents_pillar": ["a", "app:users"]})).contains("not text"));
    assert!(err(json!({"contents_pillar": 5})).contains("is not a key"));
    assert!(err(json!({"contents_pillar": "a", "contents_delimiter": ""})).contains("empty"));
}

/// `file.directory` with `clean`: probe, plan, apply and re-plan against a
/// real directory. What the required file states manage stays (a file and
/// its parents, a required directory's whole tree), exclude_pat keeps its
/// matches, a removed directory is listed alone, the ledger is told what
/// went, and the second plan is a no-op.
#[test]
fn directory_clean_keeps_what_required_states_manage() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d").display().to_string();
    for dir in ["sub", "keepdir/deep", "old/x", "logs"] {
        std::fs::create_dir_all(format!("{d}/{dir}")).unwrap();
    }
    for f in [
        "sub/kept",
        "sub/stray",
        "keepdir/deep/a",
        "old/x/y",
        "stray",
        "a.log",
        "logs/b",
    ] {
        std::fs::write(format!("{d}/{f}"), "x").unwrap();
    }
    let mut f = build(
        "directory",
        &d,
        json!({"clean": true, "exclude_pat": "*.log", "mode": "0750"}),
    )
    .unwrap();
    let kept = Chunk::standalone("file", "managed", &format!("{d}/sub/kept"), json!({}));
    let keepdir = Chunk::standalone("file", "directory", &format!("{d}/keepdir"), json!({}));
    let other = Chunk::standalone("cmd", "run", &format!("{d}/stray"), json!({}));
    f.required(&[
        crate::modules::Required {
            chunk: &kept,
            managed: &[],
        },
        crate::modules::Required {
            chunk: &keepdir,
            managed: &[],
        },
        crate::modules::Required {
            chunk: &other,
            managed: &[],
        },
    ]);
    let (text, rc) = sh(&f.probe());
    assert_eq!(rc, 0, "{text}");
    let p = plan(f.as_ref(), &text).unwrap();
    assert_eq!(
        p.changes["removed"],
        json!([
            format!("{d}/logs"),
            format!("{d}/old"),
            format!("{d}/stray"),
            format!("{d}/sub/stray")
        ]),
        "{:?}",
        p.changes
    );
    assert_eq!(p.changes[&d]["mode"], "0750");
    assert!(
        p.comment.starts_with(&format!(
            "The following files will be changed:\n{d}: mode - 0750\n{d}/logs: removed"
        )),
        "{}",
        p.comment
    );
    assert_eq!(
        p.changes[&format!("{d}/old/x/y")]["removed"],
        "Removed due to clean"
    );
    let gone: Vec<String> = f
        .removes(&p)
        .unwrap()
        .into_iter()
        .map(|r| r.identity)
        .collect();
    assert_eq!(gone.len(), 4);
    let (text, rc) = sh(&f.apply(&p).unwrap());
    assert_eq!(rc, 0, "{text}");
    assert_eq!(
        f.finish(&p, Output { text: "", rc: 0 }).comment,
        format!("Files cleaned from directory {d}")
    );
    for kept in ["sub/kept", "keepdir/deep/a", "a.log"] {
        assert!(Path::new(&format!("{d}/{kept}")).exists(), "{kept}");
    }
    for gone in ["sub/stray", "old", "stray", "logs"] {
        assert!(!Path::new(&format!("{d}/{gone}")).exists(), "{gone}");
    }
    let (text, _) = sh(&f.probe());
    assert!(plan(f.as_ref(), &text).unwrap().is_noop());

    // A missing directory: created, nothing to clean; `/` is refused.
    let f = build("directory", &format!("{d}/new"), json!({"clean": true})).unwrap();
    let (text, _) = sh(&f.probe());
    let p = plan(f.as_ref(), &text).unwrap();
    assert!(p.changes.get("removed").is_none(), "{:?}", p.changes);
    assert!(build("directory", "/", json!({"clean": true}))
        .unwrap_err()
        .contains("will not clean /"));
    assert!(build(
        "directory",
        "/srv/x",
        json!({"clean": true, "exclude_pat": "E@("})
    )
    .unwrap_err()
    .contains("exclude_pat"));
}

/// Remote sources: plans from canned probe output. With a `source_hash`
/// the file's own digest decides (no bytes to diff); with `skip_verify`
/// the probe's download decides, and is diffed.
#[test]
fn remote_source_plans() {
    let url = "https://example.com/app.conf";
    let md5 = "9f9f90dbe3e5ee1218c86b8839db1995"; // of "alpha\n"
    let hashed = build(
        "managed",
        "/etc/app.conf",
        json!({"source": url, "source_hash": md5, "mode": "0644"}),
    )
    .unwrap();
    let probe = hashed.probe();
    assert!(probe.contains("md5sum <"), "{probe}");
    assert!(
        !probe.contains("curl"),
        "a hashed source is not downloaded by the probe"
    );
    let same = format!(
        "halite-remote: sum {md5}\n{}",
        file_facts(b"alpha\n", "root root", "644")
    );
    let p = plan(&*hashed, &same).unwrap();
    assert!(p.is_noop());
    assert_eq!(
        p.comment,
        "File /etc/app.conf exists with proper permissions. No changes made."
    );
    let other = format!(
        "halite-remote: sum {}\n{}",
        "0".repeat(32),
        file_facts(b"old\n", "root root", "600")
    );
    let p = plan(&*hashed, &other).unwrap();
    assert_eq!(
        Value::Object(p.changes.clone()),
        json!({"diff": "Replace file (a remote source checked by its hash is only downloaded by the apply, not diffed)", "mode": "0644"})
    );
    let apply = hashed.apply(&p).unwrap();
    assert!(apply.contains("md5sum < \"$tmp\""), "{apply}");
    assert!(apply.contains(md5), "{apply}");

    // sha256: the file probe's own hash, no extra line.
    let sha256 = sha(b"alpha\n");
    let s = build(
        "managed",
        "/etc/app.conf",
        json!({"source": url, "source_hash": format!("sha256={sha256}")}),
    )
    .unwrap();
    assert!(!s.probe().contains("halite-remote"));
    assert!(plan(&*s, &file_facts(b"alpha\n", "root root", "644"))
        .unwrap()
        .is_noop());

    let skip = build(
        "managed",
        "/etc/app.conf",
        json!({"source": url, "skip_verify": true}),
    )
    .unwrap();
    assert!(skip.probe().contains("curl"));
    let fetched = format!(
        "halite-remote: sha256 {sha256}\nhalite-remote: content\n{}\nhalite-remote: end\n",
        encode_b64(b"alpha\n")
    );
    let p = plan(
        &*skip,
        &format!("{fetched}{}", file_facts(b"old\n", "root root", "644")),
    )
    .unwrap();
    assert_eq!(
        Value::Object(p.changes.clone()),
        json!({"diff": "--- \n+++ \n@@ -1 +1 @@\n-old\n+alpha\n"})
    );
    assert!(skip.apply(&p).unwrap().contains(&sha256));
    let p = plan(
        &*skip,
        &format!("{fetched}{}", file_facts(b"alpha\n", "root root", "644")),
    )
    .unwrap();
    assert_eq!(p.comment, "File /etc/app.conf is in the correct state");
    let e = plan(
        &*skip,
        &format!(
            "@@fetch_failed {url}\ncurl: (6) Could not resolve host: example.com\n{}",
            file_facts(b"old\n", "root root", "644")
        ),
    )
    .unwrap_err();
    assert_eq!(
        e,
        format!("Unable to manage file: Failed to cache {url}: curl: (6) Could not resolve host: example.com")
    );
}
