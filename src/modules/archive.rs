//! `archive.extracted`: a tar archive from `salt://` unpacked into a
//! directory, once per archive content, as Salt's `archive.extracted`
//! deploys an application tarball.
//!
//! The controller reads the archive and hashes it; the host keeps the hash
//! of what it last extracted to that directory under
//! `/var/cache/halite/archive/` (Salt keeps its own under the minion's
//! cache), so the gather can tell "already extracted" from "new archive"
//! without unpacking anything. The archive travels inside the apply
//! execution (base64, like `file.managed`'s content) and is unpacked with
//! the host's `tar`, which recognises gzip, bzip2 and xz by itself.

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
        doc: "Unpack the tar archive `source` (salt://) into the directory `name`, again only when the archive changes (if_missing, clean, user, group).",
        args: &[
            "source",
            "source_hash",
            "archive_format",
            "if_missing",
            "clean",
            "user",
            "group",
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
}

#[derive(Debug)]
struct Extracted {
    name: String,
    source: String,
    bytes: Vec<u8>,
    sha256: String,
    if_missing: Option<String>,
    clean: bool,
    owner: Option<String>,
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
    // The archive travels inside the apply execution: the shared reader
    // resolves it under the states root and enforces the size limit.
    let source = Value::String(a.source.clone());
    let bytes = super::file::read_source(chunk, ctx, &source, false, &Default::default())?;
    if let Some(want) = &a.source_hash {
        check_hash(&a.source, &bytes, want).map_err(err)?;
    }
    let perms = super::file::perms(chunk, &a.user, &a.group, &None)?;
    let owner = match (perms.user, perms.group) {
        (Some(u), Some(g)) => Some(format!("{u}:{g}")),
        (Some(u), None) => Some(u),
        (None, Some(g)) => Some(format!(":{g}")),
        (None, None) => None,
    };
    Ok(Box::new(Extracted {
        sha256: data_encoding::HEXLOWER.encode(&Sha256::digest(&bytes)),
        name,
        source: a.source,
        bytes,
        if_missing: a.if_missing,
        clean: a.clean,
        owner,
    }))
}

/// Salt's `source_hash` given inline: `TYPE=HEX` or a bare hex digest (its
/// type told by its length, as Salt tells it), compared with the archive
/// the controller read; a hash file (`salt://`, a URL) is refused.
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
    let (kind, hex) = match given.split_once('=') {
        Some((k, h)) => (k.trim().to_ascii_lowercase(), h.trim().to_ascii_lowercase()),
        None => {
            let hex = given.to_ascii_lowercase();
            let kind = match hex.len() {
                32 => "md5",
                40 => "sha1",
                56 => "sha224",
                64 => "sha256",
                96 => "sha384",
                128 => "sha512",
                n => {
                    return Err(format!(
                        "source_hash `{given}`: no hash type is {n} hex digits long"
                    ))
                }
            };
            (kind.to_string(), hex)
        }
    };
    let hexed = |d: &[u8]| data_encoding::HEXLOWER.encode(d);
    let actual = match kind.as_str() {
        "md5" => format!("{:x}", md5::compute(bytes)),
        "sha1" => hexed(&sha1::Sha1::digest(bytes)),
        "sha224" => hexed(&sha2::Sha224::digest(bytes)),
        "sha256" => hexed(&Sha256::digest(bytes)),
        "sha384" => hexed(&sha2::Sha384::digest(bytes)),
        "sha512" => hexed(&sha2::Sha512::digest(bytes)),
        other => {
            return Err(format!(
            "source_hash type `{other}` is not one of md5, sha1, sha224, sha256, sha384, sha512"
        ))
        }
    };
    if actual != hex {
        return Err(format!(
            "Specified {kind} checksum for {source} ({hex}) does not match actual checksum ({actual})"
        ));
    }
    Ok(())
}

impl Extracted {
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
        if dir && mark.as_deref() == Some(self.sha256.as_str()) {
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
            json!({"extracted": {"source": self.source, "sha256": self.sha256}}),
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
        s.push_str(&super::file::b64_heredoc(&self.bytes, "\"$t\"", "exit 1"));
        s.push_str(&format!("n={}\n", quote(&self.name)));
        if self.clean {
            s.push_str("rm -rf -- \"$n\" || exit 1\n");
        }
        s.push_str("mkdir -p -- \"$n\" && tar -xf \"$t\" -C \"$n\" --no-same-owner || exit 1\n");
        if let Some(o) = &self.owner {
            s.push_str(&format!("chown -R -- {} \"$n\" || exit 1\n", quote(o)));
        }
        s.push_str(&format!(
            "m={}\nmkdir -p {MARKS} && printf '%s\\n' {} > \"$m.tmp\" && mv -f \"$m.tmp\" \"$m\" || exit 1\n",
            quote(&self.mark()),
            quote(&self.sha256)
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
            Applied {
                result: false,
                changes: serde_json::Map::new(),
                comment: format!(
                    "Unable to extract {} to {} (exit {}): {}",
                    self.source,
                    self.name,
                    out.rc,
                    out.text.trim()
                ),
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
        let e = check_hash("salt://a.tgz", b, &json!("abc")).unwrap_err();
        assert!(e.contains("3 hex digits"), "{e}");
        let e = check_hash("salt://a.tgz", b, &json!("crc=1")).unwrap_err();
        assert!(e.contains("is not one of"), "{e}");
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
}
