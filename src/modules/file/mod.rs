//! The `file` state module: `file.managed`, `file.recurse`, `file.directory`,
//! `file.symlink`, `file.absent`, `file.touch`, `file.copy`, `file.serialize`,
//! and the editing functions `file.replace`,
//! `file.line`, `file.blockreplace`, `file.append`, `file.comment` and
//! `file.uncomment`, with Salt's semantics.
//!
//! Every function probes the path with the same read-only snippet
//! ([`probe_snippet`]) so that `plan` sees one well-defined set of facts:
//! type, owner, mode, and for small regular files the content itself (the
//! diff in `changes` is computed on the controller, where `similar` is).
//! Everything written goes through a temporary file or link in the target's
//! own directory and a `mv`, so a host never sees a half-written file.

mod accumulated;
mod clean;
mod comment;
mod copy;
mod directory;
mod edit;
mod managed;
mod paths;
mod recurse;
pub(crate) mod remote;
mod serialize;
mod simple;

use sha2::Digest as _;

use super::{FnDef, LedgerKind, ModuleDef, SharedProbe};
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

pub use accumulated::feed as feed_accumulators;
pub(crate) use managed::{jinja_template, read_source, to_btree, write_snippet};
pub use paths::{resolve_salt_url, SourceError};

pub const MODULE: ModuleDef = ModuleDef {
    name: "file",
    functions: &[
        FnDef {
            name: "managed",
            doc: "Manage a file's contents (source / contents / template), owner and mode.",
            args: &[
                "source",
                "contents",
                "contents_pillar",
                "contents_grains",
                "contents_delimiter",
                "contents_newline",
                "template",
                "context",
                "defaults",
                "user",
                "group",
                "mode",
                "makedirs",
                "dir_mode",
                "backup",
                "replace",
                "create",
                "show_changes",
                "source_hash",
                "source_hash_name",
                "skip_verify",
                crate::state::EXTRA_KWARGS,
            ],
            build: managed::build,
        },
        FnDef {
            name: "recurse",
            doc:
                "Mirror a salt:// directory tree (files, optionally jinja; clean removes the rest).",
            args: &[
                "source",
                "clean",
                "template",
                "context",
                "defaults",
                "user",
                "group",
                "dir_mode",
                "file_mode",
                "makedirs",
                "include_empty",
                "include_pat",
                "exclude_pat",
                "keep_symlinks",
                "force_symlinks",
                "sym_mode",
            ],
            build: recurse::build,
        },
        FnDef {
            name: "directory",
            doc: "Ensure a directory exists with the given owner and mode (recurse: also what it holds).",
            args: &[
                "user",
                "group",
                "mode",
                "dir_mode",
                "file_mode",
                "makedirs",
                "clean",
                "exclude_pat",
                "recurse",
                "max_depth",
                "follow_symlinks",
                "force",
                "backupname",
                "allow_symlink",
                "children_only",
            ],
            build: directory::build_directory,
        },
        FnDef {
            name: "symlink",
            doc: "Ensure `name` is a symbolic link to `target`.",
            args: &["target", "force", "makedirs", "user", "group"],
            build: simple::build_symlink,
        },
        FnDef {
            name: "replace",
            doc: "Replace a regular expression's matches in a file (Python re.sub rules).",
            args: &[
                "pattern",
                "repl",
                "count",
                "flags",
                "bufsize",
                "append_if_not_found",
                "prepend_if_not_found",
                "not_found_content",
                "backup",
                "show_changes",
                "ignore_if_missing",
                "backslash_literal",
            ],
            build: edit::build_replace,
        },
        FnDef {
            name: "line",
            doc: "Ensure, insert, replace or delete one line of a file.",
            args: &[
                "content",
                "match",
                "mode",
                "location",
                "before",
                "after",
                "show_changes",
                "backup",
                "indent",
                "create",
                "user",
                "group",
                "file_mode",
            ],
            build: edit::build_line,
        },
        FnDef {
            name: "accumulated",
            doc: "Accumulate `text` under the accumulator `name` for the file.managed (template variable `accumulator`) and file.blockreplace states of `filename` it is required by.",
            args: &["filename", "text"],
            build: accumulated::build,
        },
        FnDef {
            name: "blockreplace",
            doc: "Manage the block of lines between two marker lines of a file.",
            args: &[
                "marker_start",
                "marker_end",
                "content",
                "append_if_not_found",
                "prepend_if_not_found",
                "backup",
                "show_changes",
                "append_newline",
            ],
            build: edit::build_blockreplace,
        },
        FnDef {
            name: "comment",
            doc: "Comment out the lines a regex matches (char, backup suffix, ignore_missing).",
            args: &["regex", "char", "backup", "ignore_missing"],
            build: comment::build_comment,
        },
        FnDef {
            name: "uncomment",
            doc: "Uncomment the commented lines a regex matches (char, backup suffix).",
            args: &["regex", "char", "backup"],
            build: comment::build_uncomment,
        },
        FnDef {
            name: "append",
            doc: "Append lines to a file unless it already has them.",
            args: &["text", "makedirs", "ignore_whitespace"],
            build: edit::build_append,
        },
        FnDef {
            name: "touch",
            doc: "Create an empty file if missing; set atime/mtime (epoch) when given.",
            args: &["atime", "mtime", "makedirs"],
            build: copy::build_touch,
        },
        FnDef {
            name: "copy",
            doc: "Copy the host's file or directory `source` to `name` (force, preserve, makedirs, user, group, mode).",
            args: &["source", "force", "makedirs", "preserve", "user", "group", "mode", "dir_mode", "subdir"],
            build: copy::build_copy,
        },
        FnDef {
            name: "serialize",
            doc: "Write `dataset` (or `dataset_pillar`) as YAML or JSON (formatter), merge_if_exists.",
            args: &[
                "dataset",
                "dataset_pillar",
                "formatter",
                "serializer",
                "merge_if_exists",
                "user",
                "group",
                "mode",
                "makedirs",
                "backup",
                "show_changes",
                "create",
            ],
            build: serialize::build,
        },
        FnDef {
            name: "absent",
            doc: "Ensure a file, link or directory (recursively) is not there.",
            args: &[],
            build: simple::build_absent,
        },
    ],
    ledger: &[LedgerKind {
        kind: "file",
        exists: |w| format!("{{ [ -e {w} ] || [ -L {w} ]; }}"),
        prune: ("absent", |_| serde_json::json!({})),
    }],
};

/// Files up to this size are sent back by the probe so that `plan` can
/// show a diff; larger ones are compared by hash only.
pub const DIFF_LIMIT: u64 = 256 * 1024;

/// Prefix of every line the probe prints itself; other lines (stderr of a
/// failing tool) are kept for error messages.
const TAG: &str = "halite-file:";

/// What is at a path, as the probe saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Missing,
    File,
    Dir,
    /// A symbolic link (only when the probe does not follow links).
    Symlink,
    /// A link whose target does not exist (only when following links).
    Dangling,
    /// A fifo, socket or device.
    Other,
}

/// The probe's findings about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub kind: Kind,
    /// Whether the parent is a directory (`Some(false)`: something else is
    /// there; `None`: nothing is).
    pub parent_dir: Option<bool>,
    /// The path itself is a symbolic link (whatever `kind` says after
    /// following it).
    pub is_link: bool,
    pub link_target: Option<String>,
    pub uid: String,
    pub gid: String,
    pub user: String,
    pub group: String,
    pub mode: u32,
    pub sha256: Option<String>,
    pub size: Option<u64>,
    /// The whole file, when it is at most [`DIFF_LIMIT`] bytes.
    pub content: Option<Vec<u8>>,
}

/// A read-only snippet describing `path`. `follow`: report on what a link
/// points to (file.managed and file.directory manage the link's target, as
/// Salt does); otherwise a link is reported as a link. Few processes: the
/// parent is found by the shell where `dirname` would say the same, and a
/// file small enough to ship is hashed by [`parse_facts`], not the host.
pub fn probe_snippet(path: &str, follow: bool) -> String {
    probe_with(path, follow, None)
}

/// [`probe_snippet`] reading what the run's [`shared_probe`] found (its
/// `stat` line and size, and the file's sha256 when `expect` is given),
/// and asking `stat` itself only where the shared probe has no answer.
/// `expect`: the sha256 the state wants; a file that has it is reported
/// by its hash, without shipping its content (nothing to diff).
pub fn probe_with(path: &str, follow: bool, expect: Option<&str>) -> String {
    let (stat, kind) = if follow {
        (
            "stat -L",
            "if [ -L \"$p\" ] && [ ! -e \"$p\" ]; then t=dangling\n",
        )
    } else {
        ("stat", "if [ -L \"$p\" ]; then t=symlink\n")
    };
    let stat_var = shared_var(if follow { 'L' } else { 'P' }, path);
    let same = match expect {
        Some(sum) => format!(
            "eval \"h_h=\\${{{}-}}\"\nif [ \"$h_h\" = {sum} ]; then echo \"{TAG} sha256 $h_h\"; exit 0; fi\n",
            shared_var('H', path),
            sum = quote(sum)
        ),
        None => String::new(),
    };
    format!(
        r#"p={p}
case $p in
'' | *//* | */ | [!/]*) d=$(dirname -- "$p") ;;
*) d=${{p%/*}}; [ -n "$d" ] || d=/ ;;
esac
if [ -d "$d" ]; then echo '{TAG} parent dir'; elif [ -e "$d" ] || [ -L "$d" ]; then echo '{TAG} parent other'; else echo '{TAG} parent missing'; fi
if [ -L "$p" ]; then h_t=$(readlink -- "$p"; echo x); h_t=${{h_t%?x}}
case $h_t in '' | *[!A-Za-z0-9/._+@%=,:-]*) printf '%s ' '{TAG} link'; readlink -- "$p" | base64 | tr -d '\n'; echo ;;
*) echo "{TAG} link-plain $h_t" ;; esac; fi
{kind}elif [ -d "$p" ]; then t=dir
elif [ -f "$p" ]; then t=file
elif [ -e "$p" ]; then t=other
else t=missing
fi
echo "{TAG} type $t"
case $t in missing|dangling) exit 0 ;; esac
h_v=${{{stat_var}-}}
[ -n "$h_v" ] || h_v=$({stat} -c '%u %g %U %G %a %s' -- "$p")
echo "{TAG} stat ${{h_v% *}}"
[ "$t" = file ] || exit 0
s=${{h_v##* }}
echo "{TAG} size $s"
{same}if [ "$s" -le {DIFF_LIMIT} ]; then echo '{TAG} content'; base64 < "$p"; echo '{TAG} end'
else h=$(sha256sum < "$p"); echo "{TAG} sha256 ${{h%% *}}"; fi
"#,
        p = quote(path),
    )
}

/// The file states' [`SharedProbe`]: ONE `stat` for every path the run's
/// file states read (one for the followed ones, one for the others) and
/// ONE `sha256sum` for the files whose wanted content is known, instead
/// of a `stat`, a `wc` and a `base64` per file. `hash`: the state knows
/// the sha256 it wants ([`probe_with`]'s `expect`).
pub fn shared_probe(path: &str, follow: bool, hash: bool) -> SharedProbe {
    let how = match (follow, hash) {
        (true, true) => "LH",
        (true, false) => "L-",
        (false, true) => "PH",
        (false, false) => "P-",
    };
    SharedProbe {
        key: "file",
        arg: format!("{how}{path}"),
        script: shared_script,
    }
}

/// The shell variable holding the shared probe's answer for `path`:
/// `L` followed stat, `P` the link's own stat, `H` the sha256. Named from a
/// hash of the path, so both sides compute it without a lookup loop.
fn shared_var(what: char, path: &str) -> String {
    let sum = sha2::Sha256::digest(path.as_bytes());
    format!("h_f{what}_{}", data_encoding::HEXLOWER.encode(&sum[..8]))
}

/// [`shared_probe`]'s script: sets [`shared_var`]s, prints nothing. Each
/// tool runs once over every path it can answer for; its lines are taken in
/// order only when it succeeded for all of them (a path that vanished or
/// cannot be read leaves every variable unset, and each state asks itself).
fn shared_script(args: &[String]) -> String {
    let mut want: Vec<(char, &str)> = Vec::new();
    for a in args {
        let (how, path) = a.split_at(2);
        let mut how = how.chars();
        want.push((how.next().unwrap_or('L'), path));
        if how.next() == Some('H') {
            want.push(('H', path));
        }
    }
    want.sort();
    want.dedup();
    let mut s = String::new();
    for (what, tool) in [
        ('L', "stat -L -c '%u %g %U %G %a %s'"),
        ('P', "stat -c '%u %g %U %G %a %s'"),
        ('H', "sha256sum"),
    ] {
        let paths: Vec<&str> = want
            .iter()
            .filter(|(w, _)| *w == what)
            .map(|(_, p)| *p)
            .collect();
        if paths.is_empty() {
            continue;
        }
        s.push_str("h_k=\nset --\n");
        for p in paths {
            let q = quote(p);
            let test = match what {
                'L' => format!("[ -e {q} ]"),
                'P' => format!("{{ [ -e {q} ] || [ -L {q} ]; }}"),
                _ => format!("[ -f {q} ] && [ -r {q} ]"),
            };
            s.push_str(&format!(
                "if {test}; then set -- \"$@\" {q}; h_k=\"${{h_k}}{} \"; fi\n",
                shared_var(what, p)
            ));
        }
        // sha256sum marks an escaped name with a leading backslash.
        let value = if what == 'H' {
            "h_y=${h_y#\\\\}; h_y=${h_y%% *}; "
        } else {
            ""
        };
        s.push_str(&format!(
            "if [ $# -gt 0 ] && h_x=$({tool} -- \"$@\" 2>/dev/null); then\nwhile IFS= read -r h_y; do {value}eval \"${{h_k%% *}}=\\$h_y\"; h_k=${{h_k#* }}; done <<EOF\n$h_x\nEOF\nfi\n"
        ));
    }
    s.push_str("set --\nunset h_k h_x h_y\n");
    s
}

/// Parse [`probe_snippet`]'s output.
pub fn parse_facts(text: &str) -> Result<Facts, String> {
    let bad = |what: &str| format!("unexpected probe output ({what}): {}", text.trim());
    let mut f = Facts {
        kind: Kind::Missing,
        parent_dir: None,
        is_link: false,
        link_target: None,
        uid: String::new(),
        gid: String::new(),
        user: String::new(),
        group: String::new(),
        mode: 0,
        sha256: None,
        size: None,
        content: None,
    };
    let mut kind = None;
    let mut stat = false;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix(TAG) else {
            continue;
        };
        let rest = rest.trim();
        let (key, val) = rest.split_once(' ').unwrap_or((rest, ""));
        match key {
            "parent" => {
                f.parent_dir = match val {
                    "dir" => Some(true),
                    "other" => Some(false),
                    _ => None,
                }
            }
            // A target of plain characters, as is (one process, not three).
            "link-plain" => {
                f.is_link = true;
                f.link_target = Some(val.to_string());
            }
            "link" => {
                f.is_link = true;
                let bytes = decode_b64(val).ok_or_else(|| bad("link"))?;
                let mut target = String::from_utf8_lossy(&bytes).into_owned();
                // readlink ends its output with a newline.
                if target.ends_with('\n') {
                    target.pop();
                }
                f.link_target = Some(target);
            }
            "type" => {
                kind = Some(match val {
                    "missing" => Kind::Missing,
                    "file" => Kind::File,
                    "dir" => Kind::Dir,
                    "symlink" => Kind::Symlink,
                    "dangling" => Kind::Dangling,
                    "other" => Kind::Other,
                    _ => return Err(bad("type")),
                })
            }
            "stat" => {
                let w: Vec<&str> = val.split_whitespace().collect();
                if w.len() != 5 {
                    return Err(bad("stat"));
                }
                f.uid = w[0].into();
                f.gid = w[1].into();
                f.user = w[2].into();
                f.group = w[3].into();
                f.mode = u32::from_str_radix(w[4], 8).map_err(|_| bad("mode"))?;
                stat = true;
            }
            "sha256" => {
                if val.len() != 64 {
                    return Err(bad("sha256"));
                }
                f.sha256 = Some(val.to_ascii_lowercase());
            }
            "size" => f.size = Some(val.parse().map_err(|_| bad("size"))?),
            "content" => {
                let mut b64 = String::new();
                let mut ended = false;
                for l in lines.by_ref() {
                    if let Some(tail) = l.strip_prefix(TAG) {
                        ended = tail.trim() == "end";
                        break;
                    }
                    b64.push_str(l.trim());
                }
                if !ended {
                    return Err(bad("content"));
                }
                f.content = Some(decode_b64(&b64).ok_or_else(|| bad("base64"))?);
            }
            _ => {}
        }
    }
    f.kind = kind.ok_or_else(|| bad("no type"))?;
    if !matches!(f.kind, Kind::Missing | Kind::Dangling) && !stat {
        return Err(bad("no stat"));
    }
    // A file small enough to ship is hashed here rather than on the host.
    if let (Kind::File, None, Some(c)) = (f.kind, &f.sha256, &f.content) {
        f.sha256 = Some(data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(c)));
    }
    if f.kind == Kind::File && f.sha256.is_none() {
        return Err(bad("no sha256"));
    }
    Ok(f)
}

fn decode_b64(s: &str) -> Option<Vec<u8>> {
    data_encoding::BASE64.decode(s.as_bytes()).ok()
}

pub fn encode_b64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

/// Shell lines decoding `bytes`, shipped inside a script as base64 in a
/// quoted here-document, into `dest` (a shell word), running `on_fail` if
/// that fails: how file contents, image and tar archives reach a host.
pub fn b64_heredoc(bytes: &[u8], dest: &str, on_fail: &str) -> String {
    let b64 = encode_b64(bytes);
    let mut s = String::with_capacity(b64.len() + b64.len() / 76 + 64);
    s.push_str(&format!("base64 -d > {dest} <<'HALITE_EOF' || {on_fail}\n"));
    for line in b64.as_bytes().chunks(76) {
        s.push_str(std::str::from_utf8(line).unwrap_or_default());
        s.push('\n');
    }
    s.push_str("HALITE_EOF\n");
    s
}

/// A mode as Salt accepts it: `644`, `'0644'`, `'0o644'` (YAML ints are
/// read as their digits, as Salt does).
pub fn parse_mode(v: &Value) -> Result<u32, String> {
    let s = match v {
        Value::Number(n) if n.is_u64() => n.to_string(),
        Value::String(s) => s.trim().replace("0o", "0"),
        other => return Err(format!("mode `{other}` is not an octal number")),
    };
    let digits = s.trim_start_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    match u32::from_str_radix(digits, 8) {
        Ok(m) if digits.len() <= 4 => Ok(m),
        _ => Err(format!("mode `{s}` is not an octal mode like 0644")),
    }
}

/// How Salt prints a mode in `changes`.
pub fn mode_str(m: u32) -> String {
    format!("{m:04o}")
}

/// Optional user/group/mode arguments shared by the functions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Perms {
    pub user: Option<String>,
    pub group: Option<String>,
    pub mode: Option<u32>,
}

impl Perms {
    /// `changes` entries for what differs from `f` (empty when `f` already
    /// matches).
    pub fn drift(&self, f: &Facts) -> serde_json::Map<String, Value> {
        let mut out = serde_json::Map::new();
        if let Some(u) = &self.user {
            if !owner_matches(u, &f.uid, &f.user) {
                out.insert("user".into(), Value::String(u.clone()));
            }
        }
        if let Some(g) = &self.group {
            if !owner_matches(g, &f.gid, &f.group) {
                out.insert("group".into(), Value::String(g.clone()));
            }
        }
        if let Some(m) = self.mode {
            if m != f.mode {
                out.insert("mode".into(), Value::String(mode_str(m)));
            }
        }
        out
    }

    /// Every declared attribute, as `changes` entries (for something new).
    pub fn declared(&self) -> serde_json::Map<String, Value> {
        let mut out = serde_json::Map::new();
        if let Some(u) = &self.user {
            out.insert("user".into(), Value::String(u.clone()));
        }
        if let Some(g) = &self.group {
            out.insert("group".into(), Value::String(g.clone()));
        }
        if let Some(m) = self.mode {
            out.insert("mode".into(), Value::String(mode_str(m)));
        }
        out
    }

    /// Commands setting the attributes named in `which` (`user`, `group`,
    /// `mode`) on the file whose path is in shell variable `var`; each
    /// fails the snippet through `fail`.
    pub fn commands(
        &self,
        which: &serde_json::Map<String, Value>,
        var: &str,
        fail: &str,
    ) -> String {
        let mut s = String::new();
        let user = self.user.as_ref().filter(|_| which.contains_key("user"));
        let group = self.group.as_ref().filter(|_| which.contains_key("group"));
        match (user, group) {
            (Some(u), Some(g)) => s.push_str(&format!(
                "chown -- {} \"${var}\" || {fail}\n",
                quote(&format!("{u}:{g}"))
            )),
            (Some(u), None) => s.push_str(&format!("chown -- {} \"${var}\" || {fail}\n", quote(u))),
            (None, Some(g)) => s.push_str(&format!("chgrp -- {} \"${var}\" || {fail}\n", quote(g))),
            (None, None) => {}
        }
        // chmod after chown: chown clears setuid/setgid bits.
        if let Some(m) = self.mode.filter(|_| which.contains_key("mode")) {
            s.push_str(&format!("chmod {} \"${var}\" || {fail}\n", mode_str(m)));
        }
        s
    }
}

/// A declared owner matches by name, or by id when given as a number.
fn owner_matches(declared: &str, id: &str, name: &str) -> bool {
    if declared.bytes().all(|b| b.is_ascii_digit()) {
        declared == id
    } else {
        declared == name
    }
}

fn owner_arg(chunk: &Chunk, what: &str, v: &Option<Value>) -> Result<Option<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && !s.contains(':') => Ok(Some(s.clone())),
        Some(Value::Number(n)) if n.is_u64() => Ok(Some(n.to_string())),
        Some(other) => Err(format!(
            "{}: {what} `{other}` is not a user or group name",
            chunk.describe()
        )),
    }
}

/// The `user`, `group` and `mode` arguments, type-checked.
pub fn perms(
    chunk: &Chunk,
    user: &Option<Value>,
    group: &Option<Value>,
    mode: &Option<Value>,
) -> Result<Perms, String> {
    Ok(Perms {
        user: owner_arg(chunk, "user", user)?,
        group: owner_arg(chunk, "group", group)?,
        mode: match mode {
            None | Some(Value::Null) => None,
            Some(v) => Some(parse_mode(v).map_err(|e| format!("{}: {e}", chunk.describe()))?),
        },
    })
}

/// `name` as an absolute path without trailing slashes, as Salt requires.
pub fn check_name(chunk: &Chunk) -> Result<String, String> {
    let name = &chunk.name;
    if !name.starts_with('/') {
        return Err(format!(
            "{}: specified file {name} is not an absolute path",
            chunk.describe()
        ));
    }
    if name.contains('\0') {
        return Err(format!(
            "{}: the path contains a NUL byte",
            chunk.describe()
        ));
    }
    let trimmed = name.trim_end_matches('/');
    Ok(if trimmed.is_empty() { "/" } else { trimmed }.to_string())
}

/// A shell function `mk DIR` creating DIR and its missing parents, giving
/// each created directory `perms` (Salt's `makedirs` with the state's
/// user/group and `dir_mode`).
pub fn mkdirs_function(perms: &Perms) -> String {
    let all: serde_json::Map<String, Value> = ["user", "group", "mode"]
        .into_iter()
        .map(|k| (k.to_string(), Value::Null))
        .collect();
    format!(
        "mk() {{\n[ -d \"$1\" ] && return 0\nmk \"$(dirname -- \"$1\")\" || return 1\nmkdir -- \"$1\" || [ -d \"$1\" ] || return 1\nq=$1\n{}}}\n",
        perms.commands(&all, "q", "return 1")
    )
}

/// The Salt-style text describing a content change from `old` to `new`.
pub fn diff_text(old: &[u8], new: &[u8]) -> String {
    let as_text = |b: &[u8]| -> Option<String> {
        if b.contains(&0) {
            return None;
        }
        std::str::from_utf8(b).ok().map(str::to_string)
    };
    match (as_text(old), as_text(new)) {
        (Some(o), Some(n)) => similar::TextDiff::from_lines(&o, &n)
            .unified_diff()
            .context_radius(3)
            .header("", "")
            .to_string(),
        (None, None) => "Replace binary file".into(),
        (None, Some(_)) => "Replace binary file with text file".into(),
        (Some(_), None) => "Replace text file with binary file".into(),
    }
}

#[cfg(test)]
mod tests;
