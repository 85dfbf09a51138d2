//! Unit tests for the editing functions: each pure edit (every mode, the
//! not-found rules, empty files, files without a final newline, CRLF), the
//! Python → regex translation, and the state functions from canned probe
//! output and against a tempdir with the local `sh` (probe → plan → apply →
//! probe is a no-op; a file changed after the probe is not overwritten).

use serde_json::json;

use super::*;
use crate::modules::lookup;

// ---- helpers ----------------------------------------------------------------

/// `edit` applied to its own output changes nothing.
fn idempotent(what: &str, edit: impl Fn(&[u8]) -> Vec<u8>, old: &[u8]) -> Vec<u8> {
    let new = edit(old);
    let again = edit(&new);
    assert_eq!(
        String::from_utf8_lossy(&again),
        String::from_utf8_lossy(&new),
        "{what}: a second edit changes the result"
    );
    new
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn replace(pattern: &str, repl: &str, flags: Flags) -> Replace {
    Replace::new(pattern, repl, 0, flags, None, None, false).unwrap()
}

fn line(mode: LineMode, content: &str) -> LineEdit {
    LineEdit {
        mode,
        content: Some(content.into()),
        matcher: None,
        location: None,
        before: None,
        after: None,
        indent: true,
    }
}

fn finder(p: &str) -> Option<Finder> {
    Some(Finder::new(p).unwrap())
}

fn block(content: &str) -> Block {
    Block {
        marker_start: "#-- start managed zone --".into(),
        marker_end: "#-- end managed zone --".into(),
        content: content.into(),
        if_not_found: None,
        append_newline: None,
    }
}

fn chunk(function: &str, name: &str, args: Value) -> Chunk {
    Chunk {
        id: "the-id".into(),
        sls: "t".into(),
        file: "t.sls".into(),
        ..Chunk::standalone("file", function, name, args)
    }
}

fn build(function: &str, name: &str, args: Value) -> Result<Box<dyn StateFunction>, String> {
    let def = lookup("file", function).expect("registered");
    (def.build)(
        &chunk(function, name, args),
        &BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        },
    )
}

const TAG: &str = "halite-file:";

fn sha(b: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    data_encoding::HEXLOWER.encode(&Sha256::digest(b))
}

/// What the probe prints for a regular file.
fn facts(content: &[u8]) -> String {
    format!(
        "{TAG} parent dir\n{TAG} type file\n{TAG} stat 0 0 root root 644\n{TAG} sha256 {}\n{TAG} size {}\n{TAG} content\n{}\n{TAG} end\n",
        sha(content),
        content.len(),
        super::super::encode_b64(content)
    )
}

fn missing() -> String {
    format!("{TAG} parent dir\n{TAG} type missing\n")
}

fn plan(f: &dyn StateFunction, text: &str) -> Result<Plan, String> {
    f.plan(Output { text, rc: 0 })
}

// ---- Python re → regex --------------------------------------------------------

#[test]
fn python_patterns_are_translated() {
    let t = |p: &str| py_pattern(p).unwrap();
    assert_eq!(t(r"end\Z"), r"end\z");
    assert_eq!(t("server {"), r"server \{");
    assert_eq!(t("a{2}b{1,3}c{2,}"), "a{2}b{1,3}c{2,}");
    assert_eq!(t("a{,2}"), "a{0,2}");
    assert_eq!(t("x{a}"), r"x\{a\}");
    assert_eq!(t("[[]x"), r"[\[]x");
    assert_eq!(t("[]a]"), r"[\]a]");
    assert_eq!(t("[^]a&&b]"), r"[^\]a\&\&b]");
    assert_eq!(t(r"\{\d+\}"), r"\{\d+\}");
    assert_eq!(t("(?P<key>[a-z]+)=(?i:on)"), "(?P<key>[a-z]+)=(?i:on)");
    for (bad, why) in [
        ("a(?=b)", "look-around"),
        ("(?<!a)b", "look-around"),
        ("(?!x)", "look-around"),
        (r"(a)\1", "backreference"),
        ("(?P<n>a)(?P=n)", "backreference"),
    ] {
        let e = py_pattern(bad).unwrap_err();
        assert!(e.contains(why) && e.contains("regex crate"), "{bad}: {e}");
    }
    // Compiled: literal braces match, a class with `[` matches it.
    let r = compile("server {", Flags::default(), false).unwrap();
    assert!(r.is_match(b"server {\n"));
    let r = compile("[[]", Flags::default(), false).unwrap();
    assert!(r.is_match(b"["));
    let e = compile("(unclosed", Flags::default(), false).unwrap_err();
    assert!(e.contains("`(unclosed` is not valid"), "{e}");
}

#[test]
fn python_replacements_are_translated() {
    let re = compile(r"(?P<k>\w+)=(\w+)", Flags::default(), false).unwrap();
    let t = |r: &str| s(&py_repl(r, &re).unwrap());
    assert_eq!(t(r"\1 \2"), "${1} ${2}");
    assert_eq!(t(r"\g<1>0 \g<k> \g<0>"), "${1}0 ${k} ${0}");
    assert_eq!(t("cost: $5"), "cost: $$5");
    assert_eq!(t(r"a\nb\tc\\d"), "a\nb\tc\\d");
    assert_eq!(t(r"\101\0"), "A\0");
    assert_eq!(t(r"\.\&"), r"\.\&");
    assert_eq!(t(r"\$"), r"\$$");
    for (bad, why) in [
        (r"\3", "invalid group reference 3"),
        (r"\12", "invalid group reference 12"),
        (r"\g<nope>", "unknown group name"),
        (r"\g<1", "missing >"),
        (r"\q", "bad escape \\q"),
        ("\\", "bad escape"),
    ] {
        let e = py_repl(bad, &re).unwrap_err();
        assert!(e.contains(why), "{bad}: {e}");
    }
    // End to end: Salt's documented example.
    let r = replace(
        "^(require_membership_of = )(.*)$",
        r"\1\2,new-group",
        Flags::SALT_DEFAULT,
    );
    assert_eq!(
        s(&r.edit(b"x\nrequire_membership_of = a,b\ny\n")),
        "x\nrequire_membership_of = a,b,new-group\ny\n"
    );
}

#[test]
fn flags_parse_like_salt() {
    let f = |v: Value| parse_flags(&v);
    assert_eq!(f(json!(8)).unwrap(), Flags::SALT_DEFAULT);
    assert_eq!(f(Value::Null).unwrap(), Flags::SALT_DEFAULT);
    let im = Flags {
        ignorecase: true,
        multiline: true,
        ..Flags::default()
    };
    assert_eq!(f(json!(10)).unwrap(), im);
    assert_eq!(f(json!(["IGNORECASE", "multiline"])).unwrap(), im);
    assert_eq!(f(json!(["I", "M"])).unwrap(), im);
    assert!(f(json!("DOTALL")).unwrap().dotall);
    assert!(
        !f(json!("DOTALL")).unwrap().multiline,
        "given flags replace the default"
    );
    assert!(f(json!(["BOGUS"]))
        .unwrap_err()
        .contains("Invalid re flag given: BOGUS"));
    assert!(f(json!(32)).unwrap_err().contains("not supported"));
    assert!(f(json!(1 << 20)).is_err());
    assert!(f(json!({"a": 1})).is_err());
}

// ---- file.replace -------------------------------------------------------------

#[test]
fn replace_substitutes_every_or_count_matches() {
    let r = replace("foo", "bar", Flags::SALT_DEFAULT);
    assert_eq!(s(&r.edit(b"foo foo\nfoo\n")), "bar bar\nbar\n");
    let one = Replace::new("foo", "bar", 1, Flags::SALT_DEFAULT, None, None, false).unwrap();
    assert_eq!(s(&one.edit(b"foo foo\nfoo\n")), "bar foo\nfoo\n");
    // Idempotent when the pattern no longer matches what repl wrote.
    let r = replace(
        "^#?PermitRootLogin .*$",
        "PermitRootLogin no",
        Flags::SALT_DEFAULT,
    );
    let new = idempotent(
        "replace",
        |o| r.edit(o),
        b"Port 22\n#PermitRootLogin yes\nUsePAM yes\n",
    );
    assert_eq!(s(&new), "Port 22\nPermitRootLogin no\nUsePAM yes\n");
    // Nothing matches: unchanged, including empty files.
    assert_eq!(r.edit(b"Port 22\n"), b"Port 22\n");
    assert_eq!(r.edit(b""), b"");
}

#[test]
fn replace_flags_change_matching() {
    let text = b"Key=1\nkey=2\n";
    assert_eq!(
        s(&replace("^key=.*$", "key=0", Flags::SALT_DEFAULT).edit(text)),
        "Key=1\nkey=0\n"
    );
    let im = parse_flags(&json!(["IGNORECASE", "MULTILINE"])).unwrap();
    assert_eq!(
        s(&replace("^key=.*$", "key=0", im).edit(text)),
        "key=0\nkey=0\n"
    );
    // Without MULTILINE, ^ is the start of the file.
    let none = Flags::default();
    assert_eq!(s(&replace("^k", "K", none).edit(b"a\nk\n")), "a\nk\n");
    assert_eq!(s(&replace("^a", "A", none).edit(b"a\na\n")), "A\na\n");
    // DOTALL: `.` crosses lines.
    let dot = parse_flags(&json!("DOTALL")).unwrap();
    assert_eq!(s(&replace("a.b", "X", dot).edit(b"a\nb")), "X");
    assert_eq!(s(&replace("a.b", "X", none).edit(b"a\nb")), "a\nb");
    // Bytes semantics, as Salt compiles patterns: `.` is any byte.
    assert_eq!(
        s(&replace("^v=.*$", "v=2", Flags::SALT_DEFAULT).edit(b"v=caf\xe9\n")),
        "v=2\n"
    );
}

#[test]
fn replace_appends_or_prepends_when_not_found() {
    let ap = |old: &[u8], nf: Option<&str>| {
        let r = Replace::new(
            "^port=.*$",
            "port=8080",
            0,
            Flags::SALT_DEFAULT,
            Some(Place::Append),
            nf,
            false,
        )
        .unwrap();
        idempotent("append_if_not_found", |o| r.edit(o), old)
    };
    assert_eq!(s(&ap(b"a=1\n", None)), "a=1\nport=8080\n");
    assert_eq!(
        s(&ap(b"a=1", None)),
        "a=1\nport=8080\n",
        "newline added first"
    );
    assert_eq!(s(&ap(b"", None)), "port=8080\n");
    assert_eq!(s(&ap(b"port=1\n", None)), "port=8080\n", "found: replaced");
    assert_eq!(s(&ap(b"a\r\nb\r\n", None)), "a\r\nb\r\nport=8080\r\n");
    // repl with group references: not_found_content is what gets added,
    // and already being there as a line counts as found.
    let r = Replace::new(
        r"^(PermitRootLogin) no$",
        r"\1 yes",
        0,
        Flags::SALT_DEFAULT,
        Some(Place::Append),
        Some("PermitRootLogin yes"),
        false,
    )
    .unwrap();
    assert_eq!(s(&r.edit(b"x\n")), "x\nPermitRootLogin yes\n");
    assert_eq!(s(&r.edit(b"PermitRootLogin no\n")), "PermitRootLogin yes\n");
    assert_eq!(
        s(&r.edit(b"PermitRootLogin yes\n")),
        "PermitRootLogin yes\n"
    );
    // Only a whole line counts as present.
    assert_eq!(
        s(&r.edit(b"# PermitRootLogin yes\n")),
        "# PermitRootLogin yes\nPermitRootLogin yes\n"
    );
    let pre = Replace::new(
        "^first$",
        "first",
        0,
        Flags::SALT_DEFAULT,
        Some(Place::Prepend),
        None,
        false,
    )
    .unwrap();
    assert_eq!(
        s(&idempotent("prepend", |o| pre.edit(o), b"a\nb")),
        "first\na\nb"
    );
}

#[test]
fn replace_keeps_crlf_and_backslash_literal() {
    let r = replace("^key=.*$", "key=new", Flags::SALT_DEFAULT);
    assert_eq!(
        s(&r.edit(b"a=1\r\nkey=old\r\nb=2\r\n")),
        "a=1\r\nkey=new\r\nb=2\r\n"
    );
    let lit = Replace::new("x", r"C:\1\n$", 0, Flags::SALT_DEFAULT, None, None, true).unwrap();
    assert_eq!(s(&lit.edit(b"x")), r"C:\1\n$");
}

// ---- file.line ---------------------------------------------------------------

#[test]
fn line_ensure_after_before_and_between() {
    let mut l = line(LineMode::Ensure, "networks: files dns");
    l.after = finder("^hosts:");
    let old = b"passwd: files\nhosts: files dns\nprotocols: db files\n";
    assert_eq!(
        s(&idempotent("ensure after", |o| l.edit(o).unwrap(), old)),
        "passwd: files\nhosts: files dns\nnetworks: files dns\nprotocols: db files\n"
    );
    // After the last line of a file without a final newline.
    assert_eq!(
        s(&idempotent(
            "ensure after last",
            |o| l.edit(o).unwrap(),
            b"hosts: x"
        )),
        "hosts: x\nnetworks: files dns"
    );
    let mut l = line(LineMode::Ensure, "new");
    l.before = finder("^end$");
    assert_eq!(
        s(&idempotent(
            "ensure before",
            |o| l.edit(o).unwrap(),
            b"a\nend\n"
        )),
        "a\nnew\nend\n"
    );
    assert_eq!(
        s(&idempotent(
            "ensure before first",
            |o| l.edit(o).unwrap(),
            b"end\n"
        )),
        "new\nend\n"
    );
    // Salt's documented example: zero lines between -> inserted; one
    // non-matching line -> made the content; more -> an error.
    let mut l = line(LineMode::Ensure, "thrice");
    l.after = finder("insert after me");
    l.before = finder("insert before me");
    assert_eq!(
        s(&idempotent(
            "ensure between",
            |o| l.edit(o).unwrap(),
            b"insert after me\ninsert before me\n"
        )),
        "insert after me\nthrice\ninsert before me\n"
    );
    assert_eq!(
        s(&l.edit(b"insert after me\nother\ninsert before me\n")
            .unwrap()),
        "insert after me\nthrice\ninsert before me\n"
    );
    let e = l
        .edit(b"insert after me\nx\ny\ninsert before me\n")
        .unwrap_err();
    assert!(e.contains("more than one line between"), "{e}");
    // Boundaries must match exactly one line.
    let e = l
        .edit(b"insert after me\ninsert after me\ninsert before me\n")
        .unwrap_err();
    assert!(
        e.contains("more than expected occurrences in \"after\""),
        "{e}"
    );
    let e = l.edit(b"nothing\n").unwrap_err();
    assert!(e.contains("Neither before or after"), "{e}");
    assert!(l.edit(b"").is_err(), "an empty file has no boundary");
}

#[test]
fn line_ensure_keeps_indentation_and_stays_idempotent() {
    let mut l = line(LineMode::Ensure, "listen 80;");
    l.after = finder("^\\s*server_name");
    let old = b"server {\n    server_name x;\n}\n";
    assert_eq!(
        s(&idempotent("indent", |o| l.edit(o).unwrap(), old)),
        "server {\n    server_name x;\n    listen 80;\n}\n"
    );
    l.indent = false;
    assert_eq!(
        s(&l.edit(old).unwrap()),
        "server {\n    server_name x;\nlisten 80;\n}\n"
    );
}

#[test]
fn line_insert_at_location_and_relative() {
    let mut l = line(LineMode::Insert, "# managed");
    l.location = Some(Location::Start);
    assert_eq!(
        s(&idempotent("start", |o| l.edit(o).unwrap(), b"a\nb\n")),
        "# managed\na\nb\n"
    );
    assert_eq!(s(&l.edit(b"").unwrap()), "# managed\n");
    assert_eq!(s(&l.edit(b"a\r\n").unwrap()), "# managed\r\na\r\n");
    l.location = Some(Location::End);
    assert_eq!(
        s(&idempotent("end", |o| l.edit(o).unwrap(), b"a\nb\n")),
        "a\nb\n# managed\n"
    );
    assert_eq!(
        s(&idempotent(
            "end, no final newline",
            |o| l.edit(o).unwrap(),
            b"a\nb"
        )),
        "a\nb\n# managed"
    );
    assert_eq!(s(&l.edit(b"").unwrap()), "# managed\n");
    // Relative: after takes that line's indentation; before the `before` line's.
    let mut l = line(LineMode::Insert, "x = 1");
    l.after = finder("^\\s+a");
    assert_eq!(
        s(&idempotent(
            "after",
            |o| l.edit(o).unwrap(),
            b"[s]\n  a = 0\n  b = 2\n"
        )),
        "[s]\n  a = 0\n  x = 1\n  b = 2\n"
    );
    let mut l = line(LineMode::Insert, "thrice");
    l.after = finder("insert after me");
    l.before = finder("insert before me");
    // Salt inserts on every run here; halite not when it is already there.
    assert_eq!(
        s(&idempotent(
            "between",
            |o| l.edit(o).unwrap(),
            b"insert after me\nsomething\ninsert before me\n"
        )),
        "insert after me\nsomething\nthrice\ninsert before me\n"
    );
    let e = l.edit(b"unrelated\n").unwrap_err();
    assert!(e.contains("Neither before or after was found"), "{e}");
}

#[test]
fn line_replace_and_delete() {
    let mut l = line(LineMode::Replace, "here");
    l.matcher = finder("away");
    let old = b"[some_config]\n# this line will go away\n\nhere=False\naway=True\n";
    // Salt's documented example: each pass replaces the first line found.
    let once = l.edit(old).unwrap();
    assert_eq!(s(&once), "[some_config]\nhere\n\nhere=False\naway=True\n");
    // A match that is the content itself: idempotent.
    let mut l = line(LineMode::Replace, "  PermitRootLogin no");
    l.matcher = finder("^\\s*#?PermitRootLogin");
    assert_eq!(
        s(&idempotent(
            "replace",
            |o| l.edit(o).unwrap(),
            b"a\n\t#PermitRootLogin yes\nb"
        )),
        "a\n\tPermitRootLogin no\nb"
    );
    // No match, empty file: unchanged.
    assert_eq!(l.edit(b"x\n").unwrap(), b"x\n");
    assert_eq!(l.edit(b"").unwrap(), b"");

    // delete: the first matching line and its identical copies (Salt).
    let mut d = line(LineMode::Delete, "");
    d.content = None;
    d.matcher = finder("away");
    let old = b"a\n# go away\nkeep\n# go away\naway=True\n";
    let once = d.edit(old).unwrap();
    assert_eq!(s(&once), "a\nkeep\naway=True\n");
    assert_eq!(s(&d.edit(&once).unwrap()), "a\nkeep\n");
    assert_eq!(s(&d.edit(b"a\r\nx away\r\nb").unwrap()), "a\r\nb");
    assert_eq!(d.edit(b"").unwrap(), b"");
    // Literal fragments match too (regex OR substring, as Salt).
    let mut d = line(LineMode::Delete, "");
    d.matcher = finder("a+b");
    assert_eq!(s(&d.edit(b"x a+b y\nz\n").unwrap()), "z\n");
}

// ---- file.blockreplace -----------------------------------------------------------

#[test]
fn blockreplace_replaces_between_markers() {
    let b = block("10.0.0.1 a\n10.0.0.2 b");
    let old = b"127.0.0.1 localhost\n#-- start managed zone --\nold\nlines\n#-- end managed zone --\ntail\n";
    assert_eq!(
        s(&idempotent("block", |o| b.edit(o).unwrap(), old)),
        "127.0.0.1 localhost\n#-- start managed zone --\n10.0.0.1 a\n10.0.0.2 b\n#-- end managed zone --\ntail\n"
    );
    // The whole start line is kept; what precedes marker_end on its line is replaced.
    let old = b"# x #-- start managed zone -- y\nold#-- end managed zone -- z\n";
    assert_eq!(
        s(&b.edit(old).unwrap()),
        "# x #-- start managed zone -- y\n10.0.0.1 a\n10.0.0.2 b\n#-- end managed zone -- z\n"
    );
    // CRLF files keep CRLF.
    let old = b"a\r\n#-- start managed zone --\r\nold\r\n#-- end managed zone --\r\n";
    assert_eq!(
        s(&b.edit(old).unwrap()),
        "a\r\n#-- start managed zone --\r\n10.0.0.1 a\r\n10.0.0.2 b\r\n#-- end managed zone --\r\n"
    );
}

#[test]
fn blockreplace_newlines_and_not_found() {
    let old = b"#-- start managed zone --\n#-- end managed zone --\n";
    // Content ending with a newline gets no extra one (append_newline unset).
    assert_eq!(
        s(&block("x\n").edit(old).unwrap()),
        "#-- start managed zone --\nx\n#-- end managed zone --\n"
    );
    let mut b = block("x");
    b.append_newline = Some(false);
    assert_eq!(
        s(&b.edit(old).unwrap()),
        "#-- start managed zone --\nx#-- end managed zone --\n"
    );
    b.append_newline = Some(true);
    assert_eq!(
        s(&block("x\n").edit(old).unwrap()),
        s(&b.edit(old).unwrap())
    );
    // Markers missing.
    let e = block("x").edit(b"a\n").unwrap_err();
    assert_eq!(
        e,
        "Cannot edit marked block. Markers were not found in file."
    );
    let e = block("x")
        .edit(b"#-- start managed zone --\na\n")
        .unwrap_err();
    assert!(e.starts_with("Unterminated marked block"), "{e}");
    let mut b = block("x");
    b.if_not_found = Some(Place::Append);
    assert_eq!(
        s(&idempotent("append", |o| b.edit(o).unwrap(), b"a")),
        "a\n#-- start managed zone --\nx\n#-- end managed zone --\n"
    );
    assert_eq!(
        s(&b.edit(b"").unwrap()),
        "#-- start managed zone --\nx\n#-- end managed zone --\n"
    );
    b.if_not_found = Some(Place::Prepend);
    assert_eq!(
        s(&idempotent("prepend", |o| b.edit(o).unwrap(), b"a\n")),
        "#-- start managed zone --\nx\n#-- end managed zone --\na\n"
    );
}

// ---- file.append -------------------------------------------------------------------

#[test]
fn append_adds_missing_lines_once() {
    let a = Append::new(
        vec![
            "export A=1".into(),
            "two\nlines".into(),
            "export A=1".into(),
        ],
        true,
    )
    .unwrap();
    let (new, n) = a.edit(b"x");
    assert_eq!(s(&new), "x\nexport A=1\ntwo\nlines\n");
    assert_eq!(n, 3);
    assert_eq!(a.edit(&new), (new.clone(), 0));
    assert_eq!(s(&a.edit(b"").0), "export A=1\ntwo\nlines\n");
    // Whitespace does not count (Salt's ignore_whitespace default).
    let (same, n) = a.edit(b"  export   A=1\ntwo\n\tlines\n");
    assert_eq!((s(&same), n), ("  export   A=1\ntwo\n\tlines\n".into(), 0));
    // Part of a line is not the line.
    assert_eq!(a.edit(b"# export A=1\ntwo\nlines\n").1, 1);
    // CRLF files: found, and appended with CRLF.
    assert_eq!(a.edit(b"export A=1\r\ntwo\r\nlines\r\n").1, 0);
    assert_eq!(
        s(&a.edit(b"y\r\n").0),
        "y\r\nexport A=1\r\ntwo\r\nlines\r\n"
    );
    // ignore_whitespace: False searches each text as a regex.
    let a = Append::new(vec!["^v=\\d+$".into()], false).unwrap();
    assert_eq!(a.edit(b"v=12\n").1, 0);
    assert_eq!(s(&a.edit(b"v=x\n").0), "v=x\n^v=\\d+$\n");
}

// ---- the state functions -----------------------------------------------------------

#[test]
fn plans_carry_salt_shaped_changes() {
    let f = build("replace", "/etc/x", json!({"pattern": "a", "repl": "b"})).unwrap();
    let p = plan(&*f, &facts(b"a\n")).unwrap();
    assert_eq!(p.changes.len(), 1);
    let diff = p.changes["diff"].as_str().unwrap();
    assert!(diff.contains("-a\n+b\n"), "{diff}");
    assert_eq!(p.comment, "Changes would have been made");
    let p = plan(&*f, &facts(b"b\n")).unwrap();
    assert!(p.is_noop());
    assert_eq!(p.comment, "No changes needed to be made");

    let f = build(
        "replace",
        "/etc/x",
        json!({"pattern": "a", "repl": "b", "show_changes": false}),
    )
    .unwrap();
    assert_eq!(
        plan(&*f, &facts(b"a")).unwrap().changes["diff"],
        json!(true)
    );

    let f = build(
        "blockreplace",
        "/etc/x",
        json!({"content": "x", "append_if_not_found": true}),
    )
    .unwrap();
    assert_eq!(
        plan(&*f, &facts(b"")).unwrap().comment,
        "Changes would be made"
    );

    let f = build("append", "/etc/x", json!({"text": ["a", "b"]})).unwrap();
    let p = plan(&*f, &facts(b"a\n")).unwrap();
    assert_eq!(p.comment, "File /etc/x is set to be updated");
    assert!(p.changes["diff"].as_str().unwrap().contains("+b\n"));
    assert_eq!(p.data::<EditTodo>().unwrap().lines, 1);
    let done = f.finish(&p, Output { text: "", rc: 0 });
    assert!(done.result);
    assert_eq!(done.comment, "Appended 1 lines");
    assert_eq!(done.changes, p.changes);
    assert_eq!(
        plan(&*f, &facts(b"a\nb\n")).unwrap().comment,
        "File /etc/x is in correct state"
    );
}

#[test]
fn missing_large_binary_and_odd_files() {
    let missing = missing();
    let f = build("replace", "/etc/x", json!({"pattern": "a", "repl": "b"})).unwrap();
    assert_eq!(plan(&*f, &missing).unwrap_err(), "/etc/x: file not found");
    let f = build(
        "replace",
        "/etc/x",
        json!({"pattern": "a", "repl": "b", "ignore_if_missing": true}),
    )
    .unwrap();
    let p = plan(&*f, &missing).unwrap();
    assert!(p.is_noop());
    assert_eq!(p.comment, "No changes needed to be made");

    let f = build(
        "line",
        "/etc/x",
        json!({"content": "a", "mode": "insert", "location": "end"}),
    )
    .unwrap();
    assert_eq!(plan(&*f, &missing).unwrap_err(), "/etc/x: file not found");
    let f = build(
        "line",
        "/etc/x",
        json!({"content": "a", "mode": "insert", "location": "end", "create": true,
               "user": "root", "file_mode": "0600"}),
    )
    .unwrap();
    let p = plan(&*f, &missing).unwrap();
    assert!(p.changes["diff"].as_str().unwrap().contains("+a"));
    assert_eq!(p.changes["mode"], "0600");
    assert_eq!(p.changes["user"], "root");
    assert_eq!(p.data::<EditTodo>().unwrap().sha256, None);

    let f = build("blockreplace", "/etc/x", json!({"content": "x"})).unwrap();
    assert_eq!(plan(&*f, &missing).unwrap_err(), "/etc/x: file not found");
    let e = plan(&*f, &facts(b"a\n")).unwrap_err();
    assert!(e.contains("Markers were not found"), "{e}");

    let f = build("append", "/etc/x", json!({"text": "hello"})).unwrap();
    let p = plan(&*f, &missing).unwrap();
    assert!(p.changes["diff"].as_str().unwrap().contains("+hello"));
    let no_parent = format!("{TAG} parent other\n{TAG} type missing\n");
    assert!(plan(&*f, &no_parent)
        .unwrap_err()
        .contains("not a directory"));

    // Over the probe's limit: a clear error naming the path and the limit.
    let big = format!(
        "{TAG} parent dir\n{TAG} type file\n{TAG} stat 0 0 root root 644\n{TAG} sha256 {}\n{TAG} size 999999\n",
        sha(b"x")
    );
    let e = plan(&*f, &big).unwrap_err();
    assert!(
        e.contains("/etc/x") && e.contains(&super::super::DIFF_LIMIT.to_string()),
        "{e}"
    );
    let e = plan(&*f, &facts(b"a\0b")).unwrap_err();
    assert!(e.contains("binary file"), "{e}");
    let dir = format!("{TAG} parent dir\n{TAG} type dir\n{TAG} stat 0 0 root root 755\n");
    assert!(plan(&*f, &dir).unwrap_err().contains("is a directory"));
}

#[test]
fn line_perms_drift_without_content_change() {
    let f = build(
        "line",
        "/etc/x",
        json!({"content": "a", "mode": "insert", "location": "end", "file_mode": 600}),
    )
    .unwrap();
    let p = plan(&*f, &facts(b"a\n")).unwrap();
    assert_eq!(p.changes, *json!({"mode": "0600"}).as_object().unwrap());
    let script = f.apply(&p).unwrap();
    assert!(script.contains("chmod 0600 \"$p\""), "{script}");
    assert!(!script.contains("base64 -d"), "{script}");
}

#[test]
fn bad_arguments_fail_the_build_naming_the_state() {
    let err = |f: &str, a: Value| build(f, "/x", a).unwrap_err();
    let cases = [
        (
            "replace",
            json!({"pattern": "(?<=a)b", "repl": "c"}),
            "look-around",
        ),
        (
            "replace",
            json!({"pattern": "(a", "repl": "c"}),
            "is not valid",
        ),
        (
            "replace",
            json!({"pattern": "a", "repl": r"\2"}),
            "invalid group reference",
        ),
        ("replace", json!({"repl": "c"}), "`pattern` is required"),
        ("replace", json!({"pattern": "a"}), "`repl` is required"),
        (
            "replace",
            json!({"pattern": "a", "repl": "b", "flags": ["NOPE"]}),
            "Invalid re flag",
        ),
        (
            "replace",
            json!({"pattern": "a", "repl": "b", "count": -1}),
            "count",
        ),
        (
            "replace",
            json!({"pattern": "a", "repl": "b", "append_if_not_found": true, "prepend_if_not_found": true}),
            "Only one of",
        ),
        (
            "replace",
            json!({"pattern": "a", "repl": "b", "backup": ".bak"}),
            "backup",
        ),
        (
            "replace",
            json!({"pattern": "a", "repl": "b", "source": "x"}),
            "invalid arguments",
        ),
        ("line", json!({"content": "a"}), "Mode was not defined"),
        (
            "line",
            json!({"content": "a", "mode": "upsert"}),
            "Unknown mode",
        ),
        (
            "line",
            json!({"mode": "ensure", "after": "x"}),
            "Content can only be empty",
        ),
        (
            "line",
            json!({"content": "a", "mode": "ensure"}),
            "before and/or after",
        ),
        (
            "line",
            json!({"content": "a", "mode": "insert"}),
            "location",
        ),
        (
            "line",
            json!({"content": "a", "mode": "insert", "location": "middle"}),
            "start or end",
        ),
        ("line", json!({"mode": "delete"}), "need `match`"),
        (
            "line",
            json!({"content": "a", "mode": "replace", "match": "a(?!b)"}),
            "look-around",
        ),
        (
            "line",
            json!({"content": "a", "mode": "ensure", "after": "x", "file_mode": "999"}),
            "octal",
        ),
        (
            "blockreplace",
            json!({"marker_start": ""}),
            "must not be empty",
        ),
        ("blockreplace", json!({"content": {"a": 1}}), "not text"),
        ("append", json!({}), "No text found to append"),
        ("append", json!({"text": [{"a": 1}]}), "not text"),
        (
            "append",
            json!({"text": "a(", "ignore_whitespace": false}),
            "is not valid",
        ),
    ];
    for (f, args, want) in cases {
        let e = err(f, args.clone());
        assert!(e.contains(want), "{f} {args}: {e}");
        assert!(
            e.contains("the-id"),
            "{f} {args}: the error names the state: {e}"
        );
    }
    // Accepted: Salt's spellings.
    build(
        "line",
        "/x",
        json!({"content": "a", "mode": "Ensure", "after": "x", "backup": true}),
    )
    .unwrap();
    build(
        "replace",
        "/x",
        json!({"pattern": 8080, "repl": 9090, "bufsize": "file", "backup": false}),
    )
    .unwrap();
    build(
        "blockreplace",
        "/x",
        json!({"content": 42, "backup": "minion"}),
    )
    .unwrap();
}

// ---- against the local sh ------------------------------------------------------------

fn sh(script: &str) -> (String, i32) {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (text, out.status.code().unwrap_or(-1))
}

fn plan_here(f: &dyn StateFunction) -> Plan {
    let (text, rc) = sh(&f.probe());
    f.plan(Output { text: &text, rc }).unwrap()
}

/// probe → plan → apply → probe: the second plan is a no-op.
fn converge(f: &dyn StateFunction) -> Plan {
    let p = plan_here(f);
    if !p.is_noop() {
        let (out, rc) = sh(&f.apply(&p).unwrap());
        let done = f.finish(&p, Output { text: &out, rc });
        assert!(done.result, "{}", done.comment);
    }
    assert!(plan_here(f).is_noop(), "second run would change");
    p
}

#[test]
fn edits_converge_locally_and_keep_the_mode() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let name = tmp.path().join("it's a \"conf\" $x");
    let name = name.to_str().unwrap();
    std::fs::write(name, "Port 22\n#PermitRootLogin yes\n").unwrap();
    std::fs::set_permissions(name, std::fs::Permissions::from_mode(0o640)).unwrap();
    let f = build(
        "replace",
        name,
        json!({"pattern": "^#?PermitRootLogin .*$", "repl": "PermitRootLogin no"}),
    )
    .unwrap();
    converge(&*f);
    assert_eq!(
        std::fs::read_to_string(name).unwrap(),
        "Port 22\nPermitRootLogin no\n"
    );
    let mode = std::fs::metadata(name).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    let f = build("append", name, json!({"text": "UsePAM yes"})).unwrap();
    converge(&*f);
    let f = build(
        "line",
        name,
        json!({"content": "Protocol 2", "mode": "ensure", "after": "^Port"}),
    )
    .unwrap();
    converge(&*f);
    let f = build(
        "blockreplace",
        name,
        json!({"content": "Match User x\n  X11Forwarding no", "append_if_not_found": true}),
    )
    .unwrap();
    converge(&*f);
    assert_eq!(
        std::fs::read_to_string(name).unwrap(),
        "Port 22\nProtocol 2\nPermitRootLogin no\nUsePAM yes\n\
         #-- start managed zone --\nMatch User x\n  X11Forwarding no\n#-- end managed zone --\n"
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "no temporary files left");

    // append creates a missing file, with makedirs.
    let new = tmp.path().join("a/b/new");
    let new = new.to_str().unwrap();
    let f = build("append", new, json!({"text": ["x"], "makedirs": true})).unwrap();
    converge(&*f);
    assert_eq!(std::fs::read_to_string(new).unwrap(), "x\n");
}

#[test]
fn a_file_changed_after_the_probe_is_not_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let name = tmp.path().join("conf");
    let name = name.to_str().unwrap();
    std::fs::write(name, "a=1\n").unwrap();
    let f = build("replace", name, json!({"pattern": "a=1", "repl": "a=2"})).unwrap();
    let p = plan_here(&*f);
    std::fs::write(name, "a=1\nsomeone=else\n").unwrap();
    let (out, rc) = sh(&f.apply(&p).unwrap());
    assert_eq!(rc, STALE, "{out}");
    let done = f.finish(&p, Output { text: &out, rc });
    assert!(!done.result);
    assert!(
        done.comment
            .contains("changed on the host after it was read"),
        "{}",
        done.comment
    );
    assert!(done.changes.is_empty());
    assert_eq!(
        std::fs::read_to_string(name).unwrap(),
        "a=1\nsomeone=else\n"
    );
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "temp file removed"
    );

    // A missing file that appeared in between counts too.
    let new = tmp.path().join("new");
    let new = new.to_str().unwrap();
    let f = build("append", new, json!({"text": "x"})).unwrap();
    let p = plan_here(&*f);
    std::fs::write(new, "y\n").unwrap();
    let (_, rc) = sh(&f.apply(&p).unwrap());
    assert_eq!(rc, STALE);
    assert_eq!(std::fs::read_to_string(new).unwrap(), "y\n");
}
