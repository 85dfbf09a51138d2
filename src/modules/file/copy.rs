//! `file.touch` and `file.copy`: files whose content comes from the host
//! itself (nothing, or another path), as Salt's `salt.states.file.touch`
//! and `copy_` make them.
//!
//! Two deliberate differences from Salt, so that a converged host stays
//! unchanged (README, "Where halite differs"): `file.touch` on an existing
//! file without `atime`/`mtime` changes nothing (Salt's apply bumps the
//! times on every run while its own test mode says nothing would change),
//! and `file.copy` with `force` does not copy again over an identical file
//! (Salt does, and reports it, on every run).

use serde::Deserialize;
use serde_json::json;

use super::{check_name, mkdirs_function, parse_facts, perms, probe_snippet, Facts, Kind, Perms};
use crate::modules::{finish_with, Applied, BuildCtx, Output, Plan, PlanMismatch, StateFunction};
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

const TAG: &str = "halite-copy:";

// ---- file.touch -----------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TouchArgs {
    atime: Option<Value>,
    mtime: Option<Value>,
    #[serde(default)]
    makedirs: bool,
}

#[derive(Debug)]
struct Touch {
    name: String,
    atime: Option<i64>,
    mtime: Option<i64>,
    makedirs: bool,
}

/// What a touch plan does; the comment once done.
#[derive(Debug, PartialEq)]
struct Touching(String);

fn epoch(chunk: &Chunk, what: &str, v: Option<Value>) -> Result<Option<i64>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
        Some(Value::String(s)) if s.parse::<i64>().is_ok() => Ok(s.parse().ok()),
        Some(other) => Err(format!(
            "{}: {what} `{other}` must be an integer (Unix epoch time)",
            chunk.describe()
        )),
    }
}

pub fn build_touch(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: TouchArgs = crate::modules::typed_args(chunk)?;
    Ok(Box::new(Touch {
        name: check_name(chunk)?,
        atime: epoch(chunk, "atime", a.atime)?,
        mtime: epoch(chunk, "mtime", a.mtime)?,
        makedirs: a.makedirs,
    }))
}

/// What the touch probe saw: `None` when nothing is there (then whether
/// the parent is a directory), else the times and whether it is one.
#[derive(Debug, PartialEq)]
enum Seen {
    Missing { parent: bool },
    There { atime: i64, mtime: i64, dir: bool },
}

fn seen(text: &str) -> Result<Seen, String> {
    let bad = || format!("unexpected probe output: {}", text.trim());
    let tags: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix(TAG))
        .map(str::trim)
        .collect();
    if tags.contains(&"missing") {
        return Ok(Seen::Missing {
            parent: tags.contains(&"parent"),
        });
    }
    let times = tags
        .iter()
        .find_map(|t| t.strip_prefix("times "))
        .ok_or_else(bad)?;
    let (a, m) = times.split_once(' ').ok_or_else(bad)?;
    Ok(Seen::There {
        atime: a.parse().map_err(|_| bad())?,
        mtime: m.parse().map_err(|_| bad())?,
        dir: tags.contains(&"dir"),
    })
}

impl StateFunction for Touch {
    fn managed(&self) -> Vec<crate::modules::Managed> {
        crate::modules::Managed::present("file", &self.name)
    }

    /// Only `stat`: reading the file would move its access time.
    fn probe(&self) -> String {
        format!(
            "p={}
if [ -e \"$p\" ]; then echo \"{TAG} times $(stat -L -c '%X %Y' -- \"$p\")\"; [ -d \"$p\" ] && echo '{TAG} dir'\n\
             else echo '{TAG} missing'; [ -d \"$(dirname -- \"$p\")\" ] && echo '{TAG} parent'; fi\ntrue\n",
            quote(&self.name)
        )
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let name = &self.name;
        let (a, m, dir) = match seen(out.text)? {
            Seen::Missing { parent } => {
                if !parent && !self.makedirs {
                    return Err(format!("Directory not present to touch file {name}"));
                }
                return Ok(Plan::change(
                    json!({"new": name}),
                    format!("File {name} is set to be created"),
                )
                .with_data(Touching(format!("Created empty file {name}"))));
            }
            Seen::There { atime, mtime, dir } => (atime, mtime, dir),
        };
        if self.atime.is_some_and(|t| t != a) || self.mtime.is_some_and(|t| t != m) {
            let what = if dir { "directory" } else { "file" };
            return Ok(Plan::change(
                json!({"touched": name}),
                format!("Times set to be updated on file {name}"),
            )
            .with_data(Touching(format!("Updated times on {what} {name}"))));
        }
        Ok(Plan::noop(format!(
            "File {name} exists and has the correct times"
        )))
    }
    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        plan.data::<Touching>()?;
        let mut s = format!("p={}\n", quote(&self.name));
        if self.makedirs {
            s.push_str(&mkdirs_function(&Perms::default()));
            s.push_str("mk \"$(dirname -- \"$p\")\" || exit 1\n");
        }
        s.push_str("touch -- \"$p\" || exit 1\n");
        // Salt: a time not given is now (the touch above).
        if let Some(t) = self.atime {
            s.push_str(&format!("touch -a -d @{t} -- \"$p\" || exit 1\n"));
        }
        if let Some(t) = self.mtime {
            s.push_str(&format!("touch -m -d @{t} -- \"$p\" || exit 1\n"));
        }
        Ok(s)
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        match plan.data::<Touching>() {
            Ok(Touching(done)) => finish_with(plan, out, done.clone()),
            Err(e) => e.into(),
        }
    }
}

// ---- file.copy ------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CopyArgs {
    source: String,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    makedirs: bool,
    #[serde(default)]
    preserve: bool,
    user: Option<Value>,
    group: Option<Value>,
    mode: Option<Value>,
    dir_mode: Option<Value>,
    #[serde(default)]
    subdir: bool,
}

#[derive(Debug)]
struct Copy {
    name: String,
    source: String,
    force: bool,
    makedirs: bool,
    preserve: bool,
    perms: Perms,
    dir_mode: Option<u32>,
}

/// A copy plan: remove what is at the target first (`force`), copy a
/// directory (`cp -R`) or a file; the mode new directories get.
#[derive(Debug, PartialEq)]
struct Copying {
    remove: bool,
    dir: bool,
    dir_perms: Perms,
}

pub fn build_copy(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: CopyArgs = crate::modules::typed_args(chunk)?;
    let err = |m: &str| format!("{}: {m}", chunk.describe());
    if !a.source.starts_with('/') || a.source.contains('\0') {
        return Err(err(&format!(
            "source `{}` must be an absolute path on the host (file.copy copies on the host; use file.managed for salt://)",
            a.source
        )));
    }
    if a.subdir {
        return Err(err("subdir is not supported: name the target file itself"));
    }
    let dir_mode = perms(chunk, &None, &None, &a.dir_mode)?.mode;
    let p = if a.preserve {
        // Salt: preserve ignores user, group and mode.
        Perms::default()
    } else {
        perms(chunk, &a.user, &a.group, &a.mode)?
    };
    Ok(Box::new(Copy {
        name: check_name(chunk)?,
        source: a.source.trim_end_matches('/').to_string(),
        force: a.force,
        makedirs: a.makedirs,
        preserve: a.preserve,
        perms: p,
        dir_mode,
    }))
}

impl Copy {
    /// Salt's directory mode for makedirs: `dir_mode`, else the file's
    /// mode with the execute bit on every non-zero digit.
    fn dir_perms(&self, file_mode: u32) -> Perms {
        let mode = self.dir_mode.unwrap_or_else(|| {
            let mut m = file_mode & 0o777;
            for shift in [0, 3, 6] {
                if (m >> shift) & 7 != 0 {
                    m |= 1 << shift;
                }
            }
            m
        });
        Perms {
            mode: Some(mode),
            ..self.perms.clone()
        }
    }

    /// The `changes` Salt's check_perms adds after the copy: what differs
    /// from a copy made by root (owner root:root, the source's mode).
    fn perm_changes(&self, src: &Facts) -> serde_json::Map<String, Value> {
        let copied = Facts {
            uid: "0".into(),
            gid: "0".into(),
            user: "root".into(),
            group: "root".into(),
            mode: src.mode,
            ..src.clone()
        };
        self.perms.drift(&copied)
    }
}

impl StateFunction for Copy {
    fn managed(&self) -> Vec<crate::modules::Managed> {
        crate::modules::Managed::present("file", &self.name)
    }

    fn probe(&self) -> String {
        format!(
            "( {} )\necho '{TAG} source'\n( {} )\n",
            probe_snippet(&self.name, false),
            probe_snippet(&self.source, true)
        )
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let marker = format!("{TAG} source\n");
        let (dst, src) = out
            .text
            .split_once(&marker)
            .ok_or_else(|| format!("unexpected probe output: {}", out.text.trim()))?;
        let (dst, src) = (parse_facts(dst)?, parse_facts(src)?);
        let (name, source) = (&self.name, &self.source);
        if matches!(src.kind, Kind::Missing | Kind::Dangling) {
            return Err(format!("Source file \"{source}\" is not present"));
        }
        let exists = dst.kind != Kind::Missing;
        if exists && !self.force {
            return Ok(Plan::noop(format!(
                "The target file \"{name}\" exists and will not be overwritten"
            )));
        }
        let identical = dst.kind == Kind::File
            && src.kind == Kind::File
            && dst.sha256.is_some()
            && dst.sha256 == src.sha256;
        if identical && self.perms.drift(&dst).is_empty() {
            return Ok(Plan::noop(format!(
                "The target file \"{name}\" exists and is identical to \"{source}\""
            )));
        }
        if !exists && dst.parent_dir != Some(true) && !self.makedirs {
            let dir = name.rsplit_once('/').map_or("/", |(d, _)| d);
            return Err(format!("The target directory {dir} is not present"));
        }
        let mut changes = serde_json::Map::new();
        changes.insert(name.clone(), json!(source));
        if !self.preserve {
            changes.extend(self.perm_changes(&src));
        }
        Ok(Plan::change(
            Value::Object(changes),
            format!("File \"{source}\" is set to be copied to \"{name}\""),
        )
        .with_data(Copying {
            remove: exists,
            dir: src.kind == Kind::Dir,
            dir_perms: self.dir_perms(self.perms.mode.unwrap_or(src.mode)),
        }))
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let todo = plan.data::<Copying>()?;
        let mut s = format!(
            "p={}\ns={}\nd=$(dirname -- \"$p\")\n",
            quote(&self.name),
            quote(&self.source)
        );
        if self.makedirs {
            s.push_str(&mkdirs_function(&todo.dir_perms));
            s.push_str("mk \"$d\" || exit 1\n");
        }
        let keep = if self.preserve { "-p " } else { "" };
        if todo.dir {
            if todo.remove {
                s.push_str("rm -rf -- \"$p\" || exit 1\n");
            }
            s.push_str(&format!("cp -R -P {keep}-- \"$s\" \"$p\" || exit 1\n"));
            if !self.preserve {
                let owner = match (&self.perms.user, &self.perms.group) {
                    (Some(u), Some(g)) => Some(format!("{u}:{g}")),
                    (Some(u), None) => Some(u.clone()),
                    (None, Some(g)) => Some(format!(":{g}")),
                    (None, None) => None,
                };
                if let Some(o) = owner {
                    s.push_str(&format!("chown -R -h -- {} \"$p\" || exit 1\n", quote(&o)));
                }
            }
            return Ok(s);
        }
        s.push_str(&format!(
            "tmp=$(mktemp \"$d/.halite.XXXXXX\") || exit 1\nfail() {{ rm -f -- \"$tmp\"; exit 1; }}\n\
             cp {keep}-- \"$s\" \"$tmp\" || fail\n"
        ));
        if !self.preserve {
            // cp keeps the source's mode bits on a new file; mktemp made it 0600.
            s.push_str("chmod -- \"$(stat -L -c '%a' -- \"$s\")\" \"$tmp\" || fail\n");
            s.push_str(&self.perms.commands(&self.perms.declared(), "tmp", "fail"));
        }
        if todo.remove {
            s.push_str("if [ -d \"$p\" ] && [ ! -L \"$p\" ]; then rm -rf -- \"$p\" || fail; fi\n");
        }
        s.push_str("mv -f -- \"$tmp\" \"$p\" || fail\n");
        Ok(s)
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        if let Err(e) = plan.data::<Copying>() {
            return e.into();
        }
        finish_with(
            plan,
            out,
            format!("Copied \"{}\" to \"{}\"", self.source, self.name),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(function: &str, args: Value) -> Result<Box<dyn StateFunction>, String> {
        let chunk = Chunk::standalone("file", function, "/srv/t", args);
        let ctx = BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        };
        (crate::modules::lookup("file", function).unwrap().build)(&chunk, &ctx)
    }

    fn file(content: Option<&str>, mode: &str) -> String {
        match content {
            None => "halite-file: parent dir\nhalite-file: type missing\n".into(),
            Some(c) => format!(
                "halite-file: parent dir\nhalite-file: type file\nhalite-file: stat 0 0 root root {mode}\nhalite-file: size {}\nhalite-file: content\n{}\nhalite-file: end\n",
                c.len(),
                data_encoding::BASE64.encode(c.as_bytes())
            ),
        }
    }

    #[test]
    fn touch_creates_or_sets_the_declared_times_only() {
        let f = state("touch", json!({})).unwrap();
        let missing = format!("{TAG} missing\n{TAG} parent\n");
        let p = f
            .plan(Output {
                text: &missing,
                rc: 0,
            })
            .unwrap();
        assert_eq!(p.changes["new"], "/srv/t");
        assert_eq!(p.comment, "File /srv/t is set to be created");
        let e = f
            .plan(Output {
                text: &format!("{TAG} missing\n"),
                rc: 0,
            })
            .unwrap_err();
        assert_eq!(e, "Directory not present to touch file /srv/t");
        let there = format!("{TAG} times 5 6\n");
        let p = f
            .plan(Output {
                text: &there,
                rc: 0,
            })
            .unwrap();
        assert!(p.is_noop());
        assert_eq!(p.comment, "File /srv/t exists and has the correct times");
        let f = state("touch", json!({"mtime": "6", "atime": 7})).unwrap();
        let p = f
            .plan(Output {
                text: &there,
                rc: 0,
            })
            .unwrap();
        assert_eq!(p.changes["touched"], "/srv/t");
        let f = state("touch", json!({"mtime": 6, "atime": 5})).unwrap();
        assert!(f
            .plan(Output {
                text: &there,
                rc: 0
            })
            .unwrap()
            .is_noop());
        assert!(state("touch", json!({"mtime": "soon"}))
            .unwrap_err()
            .contains("integer"));
    }

    #[test]
    fn copy_keeps_an_existing_target_unless_forced() {
        let probe = |dst: Option<&str>| {
            format!(
                "{}{TAG} source\n{}",
                file(dst, "644"),
                file(Some("new\n"), "640")
            )
        };
        let f = state("copy", json!({"source": "/srv/s", "mode": "0600"})).unwrap();
        let p = f
            .plan(Output {
                text: &probe(None),
                rc: 0,
            })
            .unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"/srv/t": "/srv/s", "mode": "0600"})
        );
        assert_eq!(
            p.comment,
            "File \"/srv/s\" is set to be copied to \"/srv/t\""
        );
        let p = f
            .plan(Output {
                text: &probe(Some("old\n")),
                rc: 0,
            })
            .unwrap();
        assert!(p.is_noop());
        assert_eq!(
            p.comment,
            "The target file \"/srv/t\" exists and will not be overwritten"
        );
        let f = state("copy", json!({"source": "/srv/s", "force": true})).unwrap();
        let p = f
            .plan(Output {
                text: &probe(Some("old\n")),
                rc: 0,
            })
            .unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"/srv/t": "/srv/s"})
        );
        assert!(f
            .plan(Output {
                text: &probe(Some("new\n")),
                rc: 0
            })
            .unwrap()
            .is_noop());
        let missing = format!("{}{TAG} source\n{}", file(None, ""), file(None, ""));
        assert_eq!(
            f.plan(Output {
                text: &missing,
                rc: 0
            })
            .unwrap_err(),
            "Source file \"/srv/s\" is not present"
        );
        assert!(state("copy", json!({"source": "salt://x"}))
            .unwrap_err()
            .contains("absolute"));
    }
}
