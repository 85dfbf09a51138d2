//! `archive.extracted`: a tar archive from `salt://` or a URL unpacked
//! into a directory, once per archive content, as Salt's
//! `archive.extracted` deploys an application tarball.
//!
//! A `salt://` archive: the controller reads and hashes it, and it travels
//! inside the apply execution (base64, like `file.managed`'s content). An
//! `http(s)://` / `ftp://` archive: the host downloads it in the apply
//! (curl, else wget: [`super::fetch`]) and checks it against
//! `source_hash`, which Salt requires unless `skip_verify`. Either way the
//! host keeps what identifies the archive it last extracted to that
//! directory under `/var/cache/halite/archive/` (Salt keeps its own under
//! the minion's cache): the sha256 of a `salt://` archive, the given
//! `source_hash` of a URL's (its URL under `skip_verify`), so the gather
//! tells "already extracted" from "new archive" without downloading or
//! unpacking anything. The host's `tar` recognises gzip, bzip2 and xz.

use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Applied, BuildCtx, FnDef, ModuleDef, Output, Plan, PlanMismatch, StateFunction};
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

pub const MODULE: ModuleDef = ModuleDef {
    name: "archive",
    functions: &[FnDef {
        name: "extracted",
        doc: "Unpack the tar archive `source` (salt://, or http(s)/ftp with source_hash or skip_verify) into the directory `name`, again only when the archive changes (if_missing, clean, user, group, options, enforce_toplevel, trim_output).",
        args: &[
            "source",
            "source_hash",
            "archive_format",
            "if_missing",
            "clean",
            "user",
            "group",
            "options",
            "enforce_toplevel",
            "trim_output",
            "skip_verify",
        ],
        build,
    }],
    ledger: &[],
};

/// Where each host remembers what it extracted (one file per directory).
const MARKS: &str = "/var/cache/halite/archive";
const TAG: &str = "halite-archive:";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    source: String,
    source_hash: Option<Value>,
    archive_format: Option<String>,
    if_missing: Option<String>,
    #[serde(default)]
    clean: bool,
    user: Option<Value>,
    group: Option<Value>,
    /// Salt stringifies whatever it is given (`options: 1` is "1").
    options: Option<Value>,
    enforce_toplevel: Option<bool>,
    trim_output: Option<Value>,
    #[serde(default)]
    skip_verify: bool,
}

/// Where the archive comes from.
#[derive(Debug)]
enum Origin {
    /// `salt://`: read on the controller, shipped in the apply.
    Shipped(Vec<u8>),
    /// A URL the host downloads, checked against the digest unless
    /// `skip_verify`.
    Remote {
        url: String,
        digest: Option<super::file::remote::Digest>,
    },
}

#[derive(Debug)]
struct Extracted {
    name: String,
    /// The source as messages show it (a URL's password redacted).
    source: String,
    origin: Origin,
    /// What the host's mark holds once this archive is extracted.
    identity: String,
    if_missing: Option<String>,
    clean: bool,
    owner: Option<String>,
    /// The tar command's words after `tar` and before `-f ARCHIVE`, as
    /// Salt builds them from `options`; `None`: halite's own extraction.
    tar: Option<Vec<String>>,
    /// `enforce_toplevel: True`: the leading components `options` strips
    /// (the top level is checked after them).
    toplevel: Option<u32>,
}

/// Salt's tar command for `options` (its archive.extracted): the options
/// split as a shell would (`v`, `-v`, `--verbose` dropped: `v` is always
/// there); a first option without a dash joins `xv` (its `x` and `f`
/// dropped), every other one follows as its own word; then `-f ARCHIVE`.
fn tar_words(options: &str) -> Result<Vec<String>, String> {
    let split = shlex::split(options).ok_or_else(|| {
        format!("options `{options}` cannot be split into words (a quote is open)")
    })?;
    let mut short = String::from("xv");
    let mut words = Vec::new();
    for (i, opt) in split
        .into_iter()
        .filter(|o| !matches!(o.as_str(), "v" | "-v" | "--verbose"))
        .enumerate()
    {
        if i == 0 && !opt.starts_with('-') {
            short.extend(opt.chars().filter(|c| !matches!(c, 'x' | 'f')));
        } else {
            words.push(opt);
        }
    }
    words.insert(0, short);
    Ok(words)
}

/// The leading components `options` strips, as Salt reads them
/// (`--strip-components=N`, `--strip N`).
fn strip_components(options: &str) -> u32 {
    let re = regex::Regex::new(r#"--strip(?:-components)?(?:\s+|=)["']?(\d+)["']?"#)
        .expect("a valid pattern");
    re.captures(options)
        .and_then(|c| c[1].parse().ok())
        .unwrap_or(0)
}

/// Salt's `options` value as text: a string, or any scalar as Python's
/// `str()` writes it.
fn options_text(v: &Value) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone()).filter(|s| !s.trim().is_empty())),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(format!("options must be text, not {other}")),
    }
}

fn build(chunk: &Chunk, ctx: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: Args = super::typed_args(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    let name = super::file::check_name(chunk)?;
    if name == "/" {
        return Err(err("archive.extracted will not unpack into / itself".into()));
    }
    match a.archive_format.as_deref() {
        None | Some("tar") => {}
        Some(f) => {
            return Err(err(format!(
                "archive_format `{f}` is not supported (only tar, compressed or not)"
            )))
        }
    }
    if let Some(p) = &a.if_missing {
        if !p.starts_with('/') {
            return Err(err(format!("if_missing `{p}` is not an absolute path")));
        }
    }
    let (origin, identity) = origin(chunk, ctx, &a)?;
    let options = match &a.options {
        Some(v) => options_text(v).map_err(err)?,
        None => None,
    };
    let tar = options.as_deref().map(tar_words).transpose().map_err(err)?;
    // Salt: True or False, or a number of lines (halite lists no files in
    // its changes, so there is nothing to trim).
    match &a.trim_output {
        None | Some(Value::Bool(_)) => {}
        Some(Value::Number(n)) if n.is_u64() => {}
        Some(Value::String(t)) if t.trim().parse::<u64>().is_ok() => {}
        Some(other) => {
            return Err(err(format!(
                "Invalid value for trim_output, must be True/False or an integer, not {other}"
            )))
        }
    }
    let toplevel = (a.enforce_toplevel == Some(true))
        .then(|| strip_components(options.as_deref().unwrap_or_default()));
    let perms = super::file::perms(chunk, &a.user, &a.group, &None)?;
    let owner = match (perms.user, perms.group) {
        (Some(u), Some(g)) => Some(format!("{u}:{g}")),
        (Some(u), None) => Some(u),
        (None, Some(g)) => Some(format!(":{g}")),
        (None, None) => None,
    };
    Ok(Box::new(Extracted {
        identity,
        name,
        source: super::fetch::redact(&a.source),
        origin,
        if_missing: a.if_missing,
        clean: a.clean,
        owner,
        tar,
        toplevel,
    }))
}

/// The archive's origin and identity (see the module's doc).
fn origin(chunk: &Chunk, ctx: &BuildCtx, a: &Args) -> Result<(Origin, String), String> {
    let err = |m: String| format!("{}: {m}", chunk.describe());
    if super::fetch::is_remote(&a.source) {
        let digest = match (&a.source_hash, a.skip_verify) {
            (Some(Value::String(h)), _) => {
                if h.contains("://") || h.trim().starts_with('/') {
                    return Err(err(format!(
                        "source_hash `{h}` names a hash file; halite takes the hash itself (TYPE=HEX or HEX)"
                    )));
                }
                Some(super::file::remote::parse_source_hash(h).map_err(err)?)
            }
            (Some(other), _) => return Err(err(format!("source_hash must be text, not {other}"))),
            (None, true) => None,
            // Salt's words.
            (None, false) => {
                return Err(err(format!(
                    "Unable to verify upstream hash of source file {}, please set source_hash or set skip_verify to True",
                    super::fetch::redact(&a.source)
                )))
            }
        };
        let identity = match &digest {
            Some(d) => format!("{}={}", d.kind.name(), d.hex),
            None => format!("url={}", super::fetch::redact(&a.source)),
        };
        return Ok((
            Origin::Remote {
                url: a.source.clone(),
                digest,
            },
            identity,
        ));
    }
    // The archive travels inside the apply execution: the shared reader
    // resolves it under the states root and enforces the size limit.
    let source = Value::String(a.source.clone());
    let bytes = super::file::read_source(chunk, ctx, &source, false, &Default::default())?;
    if let Some(want) = &a.source_hash {
        check_hash(&a.source, &bytes, want).map_err(err)?;
    }
    let sha256 = data_encoding::HEXLOWER.encode(&Sha256::digest(&bytes));
    Ok((Origin::Shipped(bytes), sha256))
}

/// Salt's `source_hash` given inline: `TYPE=HEX` or a bare hex digest (its
/// type told by its length), read as file.managed reads it
/// ([`super::file::remote::parse_source_hash`], Salt's words for what it
/// cannot read), compared with the archive the controller read; a hash
/// file (`salt://`, a URL, a path) is refused.
fn check_hash(source: &str, bytes: &[u8], want: &Value) -> Result<(), String> {
    let given = match want {
        Value::String(s) => s.trim().to_string(),
        other => return Err(format!("source_hash must be text, not {other}")),
    };
    if given.contains("://") || given.starts_with('/') {
        return Err(format!(
            "source_hash `{given}` names a hash file; halite takes the hash itself (TYPE=HEX or HEX)"
        ));
    }
    let want = super::file::remote::parse_source_hash(&given)?;
    let actual = want.kind.hex_of(bytes);
    if actual != want.hex {
        return Err(format!(
            "Specified {} checksum for {source} ({}) does not match actual checksum ({actual})",
            want.kind.name(),
            want.hex
        ));
    }
    Ok(())
}

/// The apply's download of a URL's archive to `$t`, then its check
/// against `digest` with the host's `TYPEsum` tool (Salt's words when it
/// does not match). Exits when either fails.
fn fetch_lines(url: &str, digest: Option<&super::file::remote::Digest>) -> String {
    let mut s = format!(
        "{}h_rc=0\n{}[ \"$h_rc\" -eq 0 ] || exit 1\n",
        super::fetch::DOWNLOADER,
        super::fetch::download(url, "\"$t\"")
    );
    if let Some(d) = digest {
        s.push_str(&format!(
            "h_sum=$({}sum < \"$t\") || exit 1\nh_sum=${{h_sum%% *}}\nif [ \"$h_sum\" != {} ]; then\n\tprintf 'Specified %s checksum for %s (%s) does not match actual checksum (%s)\\n' {} {} {} \"$h_sum\" >&2\n\texit 1\nfi\n",
            d.kind.name(),
            quote(&d.hex),
            d.kind.name(),
            quote(&super::fetch::redact(url)),
            quote(&d.hex),
        ));
    }
    s
}

impl Extracted {
    /// What `changes.extracted` says of the archive.
    fn extracted(&self) -> Value {
        match &self.origin {
            Origin::Shipped(_) => json!({"source": self.source, "sha256": self.identity}),
            Origin::Remote {
                digest: Some(_), ..
            } => json!({"source": self.source, "source_hash": self.identity}),
            Origin::Remote { digest: None, .. } => json!({"source": self.source}),
        }
    }

    fn mark(&self) -> String {
        format!(
            "{MARKS}/{}.sha256",
            crate::cache_file::host_file_name(&self.name)
        )
    }
}

impl StateFunction for Extracted {
    fn managed(&self) -> Vec<super::Managed> {
        super::Managed::present("file", &self.name)
    }

    fn probe(&self) -> String {
        let mut s = format!(
            "n={}\nif [ -d \"$n\" ]; then echo '{TAG} dir'; elif [ -e \"$n\" ] || [ -L \"$n\" ]; then echo '{TAG} other'; fi\nm={}\n[ -f \"$m\" ] && printf '%s mark %s\\n' '{TAG}' \"$(cat \"$m\")\"\n",
            quote(&self.name),
            quote(&self.mark())
        );
        if let Some(p) = &self.if_missing {
            s.push_str(&format!(
                "if [ -e {q} ] || [ -L {q} ]; then echo '{TAG} present'; fi\n",
                q = quote(p)
            ));
        }
        s.push_str("true\n");
        s
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let mut dir = false;
        let mut mark = None;
        let mut present = false;
        for line in out.text.lines() {
            match line.strip_prefix(TAG).map(str::trim) {
                Some("dir") => dir = true,
                Some("other") => {
                    return Err(format!("{} exists and is not a directory", self.name))
                }
                Some("present") => present = true,
                Some(rest) => mark = rest.strip_prefix("mark ").map(str::to_string),
                None => {}
            }
        }
        if present {
            return Ok(Plan::noop(format!(
                "{} exists: not extracting (if_missing)",
                self.if_missing.as_deref().unwrap_or_default()
            )));
        }
        if dir && mark.as_deref() == Some(self.identity.as_str()) {
            return Ok(Plan::noop(format!(
                "{} is already extracted to {}",
                self.source, self.name
            )));
        }
        let why = match (dir, &mark) {
            (false, _) => "the directory is missing",
            (true, None) => "halite never extracted an archive there",
            (true, Some(_)) => "the archive changed",
        };
        Ok(Plan::change(
            json!({"extracted": self.extracted()}),
            format!(
                "{} would be extracted to {} ({why})",
                self.source, self.name
            ),
        ))
    }

    fn apply(&self, _: &Plan) -> Result<String, PlanMismatch> {
        let mut s = String::from(
            "t=$(mktemp \"${TMPDIR:-/var/tmp}/halite-archive.XXXXXX\") || exit 1\ntrap 'rm -f \"$t\"' EXIT\n",
        );
        match &self.origin {
            Origin::Shipped(bytes) => {
                s.push_str(&super::file::b64_heredoc(bytes, "\"$t\"", "exit 1"))
            }
            Origin::Remote { url, digest } => s.push_str(&fetch_lines(url, digest.as_ref())),
        }
        s.push_str(&format!("n={}\n", quote(&self.name)));
        if self.clean {
            s.push_str("rm -rf -- \"$n\" || exit 1\n");
        }
        s.push_str("mkdir -p -- \"$n\" || exit 1\n");
        if let Some(strip) = self.toplevel {
            // Salt's check, on the listing after `strip` components: one
            // top-level directory and no top-level file.
            s.push_str(&format!(
                "h_top=$(tar -tf \"$t\" | awk -v s={strip} '{{ p = $0; sub(/^(\\.\\/)+/, \"\", p); if (p == \"\" || p == \".\") next; d = (substr(p, length(p)) == \"/\"); if (d) p = substr(p, 1, length(p) - 1); n = split(p, a, \"/\"); if (n <= s) next; if (n == s + 1 && !d) f[a[s + 1]] = 1; else t[a[s + 1]] = 1 }} END {{ k = 0; for (x in t) k++; for (x in f) k += 2; print k }}') || exit 1\nif [ \"$h_top\" -gt 1 ]; then\n\tprintf '%s\\n' {} >&2\n\texit 1\nfi\n",
                quote(&format!(
                    "Archive does not have a single top-level directory. To allow this archive to be extracted, set 'enforce_toplevel' to False. To avoid a 'tar-bomb' it may also be advisable to set a top-level directory by adding it to the 'name' value (for example, setting 'name' to {}/some_dir instead of {}).",
                    self.name.trim_end_matches('/'),
                    self.name
                ))
            ));
        }
        match &self.tar {
            // Salt runs `tar xv... -f ARCHIVE` in the directory.
            Some(words) => s.push_str(&format!(
                "(cd -- \"$n\" && tar {} -f \"$t\" >/dev/null) || exit 1\n",
                crate::transport::quote::join(words)
            )),
            None => s.push_str("tar -xf \"$t\" -C \"$n\" --no-same-owner || exit 1\n"),
        }
        if let Some(o) = &self.owner {
            s.push_str(&format!("chown -R -- {} \"$n\" || exit 1\n", quote(o)));
        }
        s.push_str(&format!(
            "m={}\nmkdir -p {MARKS} && printf '%s\\n' {} > \"$m.tmp\" && mv -f \"$m.tmp\" \"$m\" || exit 1\n",
            quote(&self.mark()),
            quote(&self.identity)
        ));
        Ok(s)
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        if out.rc == 0 {
            Applied {
                result: true,
                changes: plan.changes.clone(),
                comment: format!("{} extracted to {}", self.source, self.name),
            }
        } else {
            let comment = match super::fetch::fetch_report(out.text) {
                // Salt's words for a download that failed.
                Err(failures) if !failures.is_empty() => failures
                    .iter()
                    .map(|(url, msg)| format!("Unable to cache {url}: {msg}"))
                    .collect::<Vec<_>>()
                    .join("; "),
                _ => format!(
                    "Unable to extract {} to {} (exit {}): {}",
                    self.source,
                    self.name,
                    out.rc,
                    out.text.trim()
                ),
            };
            Applied {
                result: false,
                changes: serde_json::Map::new(),
                comment,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_hash_is_checked_as_salt_gives_it() {
        let b = b"hello\n";
        let sha = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
        assert!(check_hash("salt://a.tgz", b, &json!(format!("sha256={sha}"))).is_ok());
        assert!(check_hash("salt://a.tgz", b, &json!(sha.to_uppercase())).is_ok());
        assert!(check_hash(
            "salt://a.tgz",
            b,
            &json!("md5=b1946ac92492d2347c6235b4d2611184")
        )
        .is_ok());
        let e = check_hash(
            "salt://a.tgz",
            b,
            &json!(format!("sha256={}", "0".repeat(64))),
        )
        .unwrap_err();
        assert!(
            e.starts_with("Specified sha256 checksum for salt://a.tgz (000"),
            "{e}"
        );
        assert!(
            e.ends_with(&format!("does not match actual checksum ({sha})")),
            "{e}"
        );
        let e = check_hash("salt://a.tgz", b, &json!("salt://a.tgz.sha256")).unwrap_err();
        assert!(e.contains("names a hash file"), "{e}");
        // Salt's words for a hash it cannot read.
        let e = check_hash("salt://a.tgz", b, &json!("abc")).unwrap_err();
        assert!(e.starts_with("Source hash abc format is invalid."), "{e}");
        let e = check_hash("salt://a.tgz", b, &json!("crc=1")).unwrap_err();
        assert!(e.starts_with("Invalid hash type 'crc'."), "{e}");
    }

    #[test]
    fn options_make_salts_tar_command() {
        let w = |o: &str| tar_words(o).unwrap();
        assert_eq!(w("--strip-components=1"), ["xv", "--strip-components=1"]);
        assert_eq!(w("v --strip-components=1"), ["xv", "--strip-components=1"]);
        assert_eq!(w("xzf"), ["xvz"]);
        assert_eq!(w("J --strip 2 -v"), ["xvJ", "--strip", "2"]);
        assert_eq!(w("--exclude='a b' z"), ["xv", "--exclude=a b", "z"]);
        assert!(tar_words("--exclude='a").is_err());
        assert_eq!(strip_components("--strip-components=1"), 1);
        assert_eq!(strip_components("z --strip '3'"), 3);
        assert_eq!(strip_components("z"), 0);
        assert_eq!(options_text(&json!(1)).unwrap().as_deref(), Some("1"));
        assert_eq!(options_text(&json!(" ")).unwrap(), None);
        assert!(options_text(&json!(["a"])).is_err());
    }

    /// The apply with `options` and `enforce_toplevel` run for real under
    /// `sh` with the controller's tar (the marks directory made writable
    /// by pointing the script at a temp copy of it).
    #[test]
    fn options_and_enforce_toplevel_extract_for_real() {
        let states = tempfile::tempdir().unwrap();
        let src = states.path().join("src");
        std::fs::create_dir_all(src.join("app-1.0/bin")).unwrap();
        std::fs::write(src.join("app-1.0/bin/run"), "run\n").unwrap();
        std::fs::write(src.join("loose"), "x\n").unwrap();
        let tar = |out: &str, what: &[&str]| {
            let ok = std::process::Command::new("tar")
                .arg("-czf")
                .arg(states.path().join(out))
                .arg("-C")
                .arg(&src)
                .args(what)
                .status()
                .unwrap();
            assert!(ok.success());
        };
        tar("one.tgz", &["app-1.0"]);
        tar("two.tgz", &["app-1.0", "loose"]);
        let ctx = BuildCtx {
            states_root: states.path(),
            renderer: None,
        };
        let marks = states.path().join("marks");
        let run = |source: &str, args: Value| {
            let dest = states
                .path()
                .join(format!("out-{source}-{}", args.to_string().len()));
            let mut a = json!({"source": format!("salt://{source}")});
            a.as_object_mut()
                .unwrap()
                .extend(args.as_object().unwrap().clone());
            let f = build(&chunk(dest.to_str().unwrap(), a), &ctx).unwrap();
            let p = f.plan(Output { text: "", rc: 0 }).unwrap();
            let script = f.apply(&p).unwrap().replace(MARKS, marks.to_str().unwrap());
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .unwrap();
            (
                dest,
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).to_string(),
            )
        };
        let (dest, ok, err) = run("one.tgz", json!({"options": "--strip-components=1"}));
        assert!(ok, "{err}");
        assert_eq!(
            std::fs::read_to_string(dest.join("bin/run")).unwrap(),
            "run\n"
        );
        let (dest, ok, err) = run("one.tgz", json!({"enforce_toplevel": true}));
        assert!(ok, "{err}");
        assert!(dest.join("app-1.0/bin/run").exists());
        let (dest, ok, err) = run(
            "two.tgz",
            json!({"enforce_toplevel": true, "trim_output": 5}),
        );
        assert!(!ok);
        assert!(
            err.starts_with("Archive does not have a single top-level directory."),
            "{err}"
        );
        assert!(!dest.join("loose").exists());
        // Stripped, the one directory's content is the top level (here
        // the one directory bin/).
        let (dest, ok, err) = run(
            "one.tgz",
            json!({"options": "--strip-components=1", "enforce_toplevel": true}),
        );
        assert!(ok, "{err}");
        assert!(dest.join("bin/run").exists());

        let (dest, ok, err) = run("two.tgz", json!({"enforce_toplevel": false}));
        assert!(ok, "{err}");
        assert!(dest.join("loose").exists());
        let e = build(
            &chunk(
                "/opt/x",
                json!({"source": "salt://one.tgz", "trim_output": "many"}),
            ),
            &ctx,
        )
        .err()
        .unwrap();
        assert!(e.contains("Invalid value for trim_output"), "{e}");
        let e = build(
            &chunk(
                "/opt/x",
                json!({"source": "salt://one.tgz", "options": "'open"}),
            ),
            &ctx,
        )
        .err()
        .unwrap();
        assert!(e.contains("a quote is open"), "{e}");
    }

    fn chunk(name: &str, args: Value) -> Chunk {
        Chunk {
            id: "a".into(),
            sls: "t".into(),
            file: "t.sls".into(),
            ..Chunk::standalone("archive", "extracted", name, args)
        }
    }

    /// Probe, plan and apply with the real `sh` and `tar` into a temp
    /// directory (the marks directory is the host's, so the apply is only
    /// syntax-checked here; the fleet test runs it for real).
    #[test]
    fn plans_from_the_mark_and_refuses_bad_input() {
        let states = tempfile::tempdir().unwrap();
        std::fs::write(states.path().join("app.tar.gz"), b"not really").unwrap();
        let ctx = BuildCtx {
            states_root: states.path(),
            renderer: None,
        };
        let f = build(
            &chunk("/opt/app", json!({"source": "salt://app.tar.gz"})),
            &ctx,
        )
        .unwrap();
        let sha = data_encoding::HEXLOWER.encode(&Sha256::digest(b"not really"));
        let plan = |text: &str| f.plan(Output { text, rc: 0 });
        assert!(!plan("").unwrap().is_noop());
        assert!(plan(&format!("{TAG} dir\n"))
            .unwrap()
            .comment
            .contains("never extracted"));
        assert!(plan(&format!("{TAG} dir\n{TAG} mark {sha}\n"))
            .unwrap()
            .is_noop());
        let p = plan(&format!("{TAG} dir\n{TAG} mark 00\n")).unwrap();
        assert!(p.comment.contains("the archive changed"), "{}", p.comment);
        assert_eq!(p.changes["extracted"]["sha256"], sha);
        assert!(plan(&format!("{TAG} other\n")).is_err());
        let script = f.apply(&p).unwrap();
        let ok = std::process::Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(&script)
            .status()
            .unwrap();
        assert!(ok.success(), "{script}");

        let f = build(
            &chunk(
                "/opt/app",
                json!({"source": "salt://app.tar.gz", "if_missing": "/opt/app/bin"}),
            ),
            &ctx,
        )
        .unwrap();
        assert!(f
            .plan(Output {
                text: &format!("{TAG} present\n"),
                rc: 0
            })
            .unwrap()
            .is_noop());

        let err = |name: &str, args: Value| build(&chunk(name, args), &ctx).err().unwrap();
        assert!(err("/opt/app", json!({"source": "salt://nope.tgz"})).contains("not found"));
        assert!(err("/", json!({"source": "salt://app.tar.gz"})).contains("into / itself"));
        assert!(err(
            "/opt/app",
            json!({"source": "salt://app.tar.gz", "archive_format": "zip"})
        )
        .contains("not supported"));
        assert!(err(
            "/opt/app",
            json!({"source": "salt://app.tar.gz", "if_missing": "rel"})
        )
        .contains("absolute"));
    }

    /// A URL's archive: Salt's hash rules at build time, the mark is the
    /// given hash (no download to tell "extracted"), and the apply's lines
    /// download, check and refuse a wrong archive (run under `sh` with a
    /// stand-in curl copying a local file).
    #[test]
    fn a_urls_archive_is_downloaded_and_checked_on_the_host() {
        let ctx = BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        };
        let url = "https://ops:pw@example.com/app.tar.gz";
        let e = build(&chunk("/opt/app", json!({"source": url})), &ctx)
            .err()
            .unwrap();
        assert!(
            e.ends_with("Unable to verify upstream hash of source file https://<redacted>@example.com/app.tar.gz, please set source_hash or set skip_verify to True"),
            "{e}"
        );
        let e = build(
            &chunk(
                "/opt/app",
                json!({"source": url, "source_hash": "https://example.com/SUMS"}),
            ),
            &ctx,
        )
        .err()
        .unwrap();
        assert!(e.contains("names a hash file"), "{e}");
        let e = build(
            &chunk("/opt/app", json!({"source": url, "source_hash": "abc"})),
            &ctx,
        )
        .err()
        .unwrap();
        assert!(e.contains("Source hash abc format is invalid."), "{e}");

        let data = b"pretend tarball\n";
        let sha = data_encoding::HEXLOWER.encode(&Sha256::digest(data));
        let f = build(
            &chunk(
                "/opt/app",
                json!({"source": url, "source_hash": format!("sha256={sha}")}),
            ),
            &ctx,
        )
        .unwrap();
        let plan = |text: &str| f.plan(Output { text, rc: 0 });
        assert!(plan(&format!("{TAG} dir\n{TAG} mark sha256={sha}\n"))
            .unwrap()
            .is_noop());
        let p = plan(&format!("{TAG} dir\n{TAG} mark {sha}\n")).unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"extracted": {"source": "https://<redacted>@example.com/app.tar.gz", "source_hash": format!("sha256={sha}")}})
        );
        let skip = build(
            &chunk("/opt/app", json!({"source": url, "skip_verify": true})),
            &ctx,
        )
        .unwrap();
        let p = skip
            .plan(Output {
                text: &format!("{TAG} dir\n"),
                rc: 0,
            })
            .unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"extracted": {"source": "https://<redacted>@example.com/app.tar.gz"}})
        );

        // The download and the check, with a curl that serves `served`.
        let dir = tempfile::tempdir().unwrap();
        let served = dir.path().join("served");
        std::fs::write(
            dir.path().join("curl"),
            format!(
                "#!/bin/sh\nwhile [ $# -gt 0 ]; do case $1 in -o) d=$2; shift 2 ;; *) shift ;; esac; done\ncat > /dev/null\ncp {} \"$d\"\n",
                quote(served.to_str().unwrap())
            ),
        )
        .unwrap();
        std::process::Command::new("chmod")
            .args(["+x", dir.path().join("curl").to_str().unwrap()])
            .status()
            .unwrap();
        let digest = super::super::file::remote::parse_source_hash(&sha).unwrap();
        let run = |bytes: &[u8]| {
            std::fs::write(&served, bytes).unwrap();
            let script = format!(
                "PATH={}:$PATH\nt={}\n{}echo ok\n",
                quote(dir.path().to_str().unwrap()),
                quote(dir.path().join("got").to_str().unwrap()),
                fetch_lines(url, Some(&digest))
            );
            std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .unwrap()
        };
        let out = run(data);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
        let out = run(b"tampered\n");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with(&format!(
                "Specified sha256 checksum for https://<redacted>@example.com/app.tar.gz ({sha}) does not match actual checksum ("
            )),
            "{err}"
        );
    }
}
