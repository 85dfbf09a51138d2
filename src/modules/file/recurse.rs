//! `file.recurse`: a directory tree from `salt://` mirrored on the host, as
//! Salt's: every source file becomes a managed file (optionally rendered
//! through Jinja), every source directory a directory, and `clean: True`
//! removes what the source does not have.
//!
//! It is a composite of the module's own `file.managed` and
//! `file.directory`, so each path gets exactly their probe, plan and
//! atomic write: the probes run in the one gather execution (one section
//! per path), the plan is theirs combined on the controller (`test=True`
//! shows every file's diff), the writes run in the one apply execution.

use std::collections::BTreeSet;
use std::path::Path;

use regex::Regex;
use serde::Deserialize;
use serde_json::{json, Map};

use super::clean::{listing, pattern, remove_commands, strays, Keep};
use super::directory::Directory;
use super::managed::{jinja_template, read_source, to_btree, Managed};
use super::paths::{resolve_salt_dir, SourceError};
use super::simple::Symlink;
use super::{check_name, perms, Perms};
use crate::modules::{Applied, BuildCtx, Output, Plan, PlanMismatch, StateFunction};
use crate::render::Extra;
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

/// Prefix of the lines the composite probe prints itself.
const TAG: &str = "halite-recurse:";
/// A source tree with more files is refused: every file is probed and
/// written inside one execution each way.
pub const MAX_FILES: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    source: String,
    #[serde(default)]
    clean: bool,
    template: Option<String>,
    context: Option<serde_json::Map<String, Value>>,
    defaults: Option<serde_json::Map<String, Value>>,
    user: Option<Value>,
    group: Option<Value>,
    dir_mode: Option<Value>,
    file_mode: Option<Value>,
    #[serde(default)]
    makedirs: bool,
    #[serde(default)]
    include_empty: bool,
    include_pat: Option<String>,
    exclude_pat: Option<String>,
    /// Links in the source become links (else they are followed).
    #[serde(default)]
    keep_symlinks: bool,
    /// Salt's `force_symlinks`: what stands where a kept link goes is
    /// removed.
    #[serde(default)]
    force_symlinks: bool,
    /// The mode of the directories a kept link's creation makes (Salt
    /// hands it to file.symlink's `mode`; a link has no mode of its own).
    sym_mode: Option<Value>,
}

/// A path of the source tree.
#[derive(Debug, Clone, PartialEq)]
enum Entry {
    Dir,
    File,
    /// A link kept as a link (`keep_symlinks`): its target as written.
    Link(String),
}

#[derive(Debug)]
pub struct Recurse {
    name: String,
    /// The target directory first, then every directory before what it
    /// holds: the order the apply creates them in.
    children: Vec<(String, Box<dyn StateFunction>)>,
    /// With `clean`: what stays besides `exclude` (the children, and what
    /// the required file states manage).
    clean: Option<Keep>,
    /// Paths (relative to `name`) `clean` leaves alone.
    exclude: Option<Regex>,
}

pub fn build(chunk: &Chunk, ctx: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: Args = crate::modules::typed_args(chunk)?;
    let name = check_name(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    if name == "/" {
        return Err(err("file.recurse will not manage / itself".into()));
    }
    let (rel, real) = resolve_salt_dir(ctx.states_root, &a.source).map_err(|e| {
        err(match e {
            SourceError::Missing => format!(
                "source directory not found: {} (under {})",
                a.source,
                ctx.states_root.display()
            ),
            SourceError::Escape => format!("source {} is outside the states root", a.source),
            SourceError::Unsupported => format!(
                "source {} is not supported (only salt:// sources are)",
                a.source
            ),
        })
    })?;
    let jinja = jinja_template(chunk, a.template.as_deref())?;
    let extra = Extra {
        defaults: to_btree(a.defaults),
        context: to_btree(a.context),
    };
    let include = pattern(chunk, "include_pat", &a.include_pat)?;
    let exclude = pattern(chunk, "exclude_pat", &a.exclude_pat)?;
    let dir_perms = perms(chunk, &a.user, &a.group, &a.dir_mode)?;
    let file_perms = perms(chunk, &a.user, &a.group, &a.file_mode)?;

    let root = ctx
        .states_root
        .canonicalize()
        .map_err(|e| err(format!("cannot read the states root: {e}")))?;
    let sym_perms = perms(chunk, &a.user, &a.group, &a.sym_mode)?;
    let mut entries = Vec::new();
    walk(&root, &real, "", a.keep_symlinks, &mut entries).map_err(err)?;
    let kept = |r: &str| {
        include.as_ref().is_none_or(|re| re.is_match(r))
            && exclude.as_ref().is_none_or(|re| !re.is_match(r))
    };
    let files: Vec<&String> = entries
        .iter()
        .filter(|(r, e)| *e == Entry::File && kept(r))
        .map(|(r, _)| r)
        .collect();
    if files.len() > MAX_FILES {
        return Err(err(format!(
            "source {} has {} files, more than file.recurse manages in one state ({MAX_FILES})",
            a.source,
            files.len()
        )));
    }
    // The directories to create: those holding a kept file, and with
    // include_empty the others that are not excluded.
    let mut dirs: BTreeSet<&str> = BTreeSet::new();
    for f in &files {
        let mut p = f.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            dirs.insert(parent);
            p = parent;
        }
    }
    let mut children: Vec<(String, Box<dyn StateFunction>)> = vec![(
        name.clone(),
        Box::new(Directory::new(name.clone(), dir_perms.clone(), a.makedirs)),
    )];
    for (r, entry) in &entries {
        let path = format!("{name}/{r}");
        if let Entry::Link(target) = entry {
            if kept(r) {
                // Its parent exists or is made with sym_mode (Salt's
                // file.symlink makedirs); it owns the link as user/group.
                let link_perms = Perms {
                    mode: None,
                    ..file_perms.clone()
                };
                children.push((
                    path.clone(),
                    Box::new(Symlink::new(
                        path,
                        target.clone(),
                        a.force_symlinks,
                        link_perms,
                        sym_perms.clone(),
                    )),
                ));
            }
        } else if *entry == Entry::Dir {
            let wanted = dirs.contains(r.as_str()) || (a.include_empty && exclude_ok(&exclude, r));
            if wanted {
                // makedirs: its parent is missing when planned, and
                // created just before it in the same apply.
                children.push((
                    path.clone(),
                    Box::new(Directory::new(path, dir_perms.clone(), true)),
                ));
            }
        } else if kept(r) {
            let url = Value::String(format!("salt://{rel}/{r}"));
            let content = read_source(chunk, ctx, &url, jinja, &extra)?;
            children.push((
                path.clone(),
                Box::new(Managed::file(path, content, file_perms.clone())),
            ));
        }
    }
    let clean = a.clean.then(|| {
        let mut keep = Keep::default();
        for (path, _) in &children {
            keep.path(path);
        }
        keep
    });
    Ok(Box::new(Recurse {
        name,
        children,
        clean,
        exclude,
    }))
}

fn exclude_ok(exclude: &Option<Regex>, r: &str) -> bool {
    exclude.as_ref().is_none_or(|re| !re.is_match(r))
}

/// Every file and directory under `dir` (following links, which must stay
/// inside the states root; with `keep_links` a link is an [`Entry::Link`]
/// and not followed), depth first, each directory before what it holds,
/// names sorted: `(path relative to the source, what it is)`.
fn walk(
    root: &Path,
    dir: &Path,
    prefix: &str,
    keep_links: bool,
    out: &mut Vec<(String, Entry)>,
) -> Result<(), String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .collect();
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let Some(n) = e.file_name().to_str().map(str::to_string) else {
            return Err(format!("{}: a file name that is not UTF-8", dir.display()));
        };
        let path = e.path();
        let r = if prefix.is_empty() {
            n
        } else {
            format!("{prefix}/{n}")
        };
        if keep_links && e.file_type().is_ok_and(|t| t.is_symlink()) {
            let target = std::fs::read_link(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let Some(target) = target.to_str() else {
                return Err(format!(
                    "{}: a link target that is not UTF-8",
                    path.display()
                ));
            };
            out.push((r, Entry::Link(target.to_string())));
            continue;
        }
        let real = path
            .canonicalize()
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if !real.starts_with(root) {
            return Err(format!("{} leads outside the states root", path.display()));
        }
        if real.is_dir() {
            out.push((r.clone(), Entry::Dir));
            walk(root, &real, &r, keep_links, out)?;
        } else if real.is_file() {
            out.push((r, Entry::File));
        }
    }
    Ok(())
}

/// The composite probe's output: each child's (text, rc), and with
/// `clean` every path under the target.
struct Probed {
    children: Vec<Option<(String, i32)>>,
    listed: Option<Vec<String>>,
}

fn parse(text: &str, n: usize) -> Result<Probed, String> {
    let mut p = Probed {
        children: vec![None; n],
        listed: None,
    };
    let mut buf = String::new();
    let mut list: Option<String> = None;
    for line in text.split_inclusive('\n') {
        let Some(rest) = line.strip_prefix(TAG) else {
            match &mut list {
                Some(l) => l.push_str(line.trim_end()),
                None => buf.push_str(line),
            }
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        match words.as_slice() {
            ["child", _] => buf.clear(),
            ["rc", i, rc] => {
                let (Ok(i), Ok(rc)) = (i.parse::<usize>(), rc.parse::<i32>()) else {
                    continue;
                };
                if i < n {
                    p.children[i] = Some((std::mem::take(&mut buf), rc));
                }
            }
            ["list"] => list = Some(String::new()),
            ["end"] => {
                let b64 = list.take().unwrap_or_default();
                let raw = data_encoding::BASE64
                    .decode(b64.as_bytes())
                    .map_err(|e| format!("unexpected listing from the host: {e}"))?;
                p.listed = Some(
                    raw.split(|b| *b == 0)
                        .filter(|s| !s.is_empty())
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect(),
                );
            }
            _ => {}
        }
    }
    Ok(p)
}

/// A `file.recurse` plan's data: each changing child's own plan (by its
/// index in `children`), and what `clean` removes.
#[derive(Debug, PartialEq)]
struct Todo {
    children: Vec<(usize, Plan)>,
    remove: Vec<String>,
}

impl StateFunction for Recurse {
    fn managed(&self) -> Vec<crate::modules::Managed> {
        self.children
            .iter()
            .flat_map(|(_, c)| c.managed())
            .collect()
    }

    fn removes(&self, plan: &Plan) -> Result<Vec<crate::state::ledger::Resource>, PlanMismatch> {
        Ok(plan
            .data::<Todo>()?
            .remove
            .iter()
            .map(|p| crate::state::ledger::Resource::new("file", p))
            .collect())
    }

    fn probe(&self) -> String {
        let mut s = String::new();
        for (i, (_, c)) in self.children.iter().enumerate() {
            s.push_str(&format!(
                "printf '%s child {i}\\n' '{TAG}'\n(\n{}\n)\nprintf '%s rc {i} %d\\n' '{TAG}' $?\n",
                c.probe()
            ));
        }
        if self.clean.is_some() {
            s.push_str(&listing(TAG, &self.name));
        }
        s
    }

    fn required(&mut self, states: &[crate::modules::Required<'_>]) {
        if let Some(keep) = &mut self.clean {
            keep.required(&self.name, states);
        }
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let probed = parse(out.text, self.children.len())?;
        let mut changes = Map::new();
        let mut planned = Vec::new();
        for (i, (path, c)) in self.children.iter().enumerate() {
            let Some((text, rc)) = &probed.children[i] else {
                return Err(format!(
                    "the probe of {path} did not complete: {}",
                    out.text.trim()
                ));
            };
            let p = c.plan(Output { text, rc: *rc })?;
            if !p.is_noop() {
                changes.insert(path.clone(), Value::Object(p.changes.clone()));
                planned.push((i, p));
            }
        }
        let remove = match (&self.clean, &probed.listed) {
            (Some(keep), Some(listed)) => {
                strays(&self.name, listed, keep, self.exclude.as_ref()).top
            }
            _ => Vec::new(),
        };
        if !remove.is_empty() {
            changes.insert("removed".into(), json!(remove));
        }
        if changes.is_empty() {
            return Ok(Plan::noop(format!(
                "The directory {} is in the correct state",
                self.name
            )));
        }
        Ok(Plan::change(
            Value::Object(changes),
            format!("The directory {} is set to be changed", self.name),
        )
        .with_data(Todo {
            children: planned,
            remove,
        }))
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let mut s = String::new();
        let todo = plan.data::<Todo>()?;
        for (i, p) in &todo.children {
            let (path, child) = &self.children[*i];
            s.push_str(&format!(
                "(\n{}\n) || {{ echo {}; exit 1; }}\n",
                child.apply(p)?,
                quote(&format!("failed at {path}"))
            ));
        }
        s.push_str(&remove_commands(&todo.remove));
        Ok(s)
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        if let Err(e) = plan.data::<Todo>() {
            return e.into();
        }
        if out.rc == 0 {
            Applied {
                result: true,
                changes: plan.changes.clone(),
                comment: format!("Recursively updated {}", self.name),
            }
        } else {
            Applied {
                result: false,
                changes: Map::new(),
                comment: format!(
                    "Unable to manage directory {} (exit {}): {}",
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
    use super::super::tests::{chunk as file_chunk, sh};
    use super::*;

    fn chunk(name: &str, args: Value) -> Chunk {
        file_chunk("recurse", name, args)
    }

    fn plan(f: &dyn StateFunction) -> Plan {
        let (text, rc) = sh(&f.probe());
        f.plan(Output { text: &text, rc }).unwrap()
    }

    /// Probe, plan, apply and re-plan against a real directory: the plan
    /// lists exactly what the apply changes, clean removes the rest
    /// (not what exclude_pat matches), and the second plan is a no-op.
    #[test]
    fn mirrors_a_tree_and_cleans_what_the_source_lacks() {
        let states = tempfile::tempdir().unwrap();
        let src = states.path().join("tree");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::create_dir_all(src.join("empty")).unwrap();
        std::fs::write(src.join("a.conf"), "a\n").unwrap();
        std::fs::write(src.join("sub/b.conf"), "b\n").unwrap();
        std::fs::write(src.join("skip.tmp"), "no\n").unwrap();
        let host = tempfile::tempdir().unwrap();
        let dst = host.path().join("dst").display().to_string();
        let ctx = BuildCtx {
            states_root: states.path(),
            renderer: None,
        };
        let f = build(
            &chunk(
                &dst,
                json!({"source": "salt://tree", "clean": true, "exclude_pat": "*.tmp", "file_mode": "0640"}),
            ),
            &ctx,
        )
        .unwrap();
        let managed: Vec<String> = f
            .managed()
            .into_iter()
            .map(|m| m.resource.identity)
            .collect();
        assert_eq!(
            managed,
            [
                dst.clone(),
                format!("{dst}/a.conf"),
                format!("{dst}/sub"),
                format!("{dst}/sub/b.conf")
            ]
        );

        let p = plan(f.as_ref());
        let keys: Vec<&String> = p.changes.keys().collect();
        assert_eq!(keys.len(), 4, "{:?}", p.changes);
        assert_eq!(p.changes[&format!("{dst}/a.conf")]["diff"], "New file");
        let (text, rc) = sh(&f.apply(&p).unwrap());
        assert_eq!(rc, 0, "{text}");
        assert_eq!(
            std::fs::read_to_string(format!("{dst}/sub/b.conf")).unwrap(),
            "b\n"
        );
        assert!(!Path::new(&format!("{dst}/skip.tmp")).exists());
        assert!(!Path::new(&format!("{dst}/empty")).exists());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(format!("{dst}/a.conf"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
        assert!(plan(f.as_ref()).is_noop());

        // Strays are removed (a directory once, with what it holds);
        // excluded names are kept; a changed file is rewritten.
        std::fs::create_dir_all(format!("{dst}/old/deeper")).unwrap();
        std::fs::write(format!("{dst}/old/deeper/x"), "x").unwrap();
        std::fs::write(format!("{dst}/stray"), "s").unwrap();
        std::fs::write(format!("{dst}/old-x"), "s").unwrap();
        std::fs::write(format!("{dst}/keep.tmp"), "k").unwrap();
        std::fs::write(format!("{dst}/a.conf"), "changed\n").unwrap();
        let p = plan(f.as_ref());
        assert_eq!(
            p.changes["removed"],
            json!([
                format!("{dst}/old"),
                format!("{dst}/old-x"),
                format!("{dst}/stray")
            ])
        );
        assert!(p.changes[&format!("{dst}/a.conf")]["diff"]
            .as_str()
            .unwrap()
            .contains("-changed"));
        let (text, rc) = sh(&f.apply(&p).unwrap());
        assert_eq!(rc, 0, "{text}");
        assert!(!Path::new(&format!("{dst}/old")).exists());
        assert!(Path::new(&format!("{dst}/keep.tmp")).exists());
        assert_eq!(
            std::fs::read_to_string(format!("{dst}/a.conf")).unwrap(),
            "a\n"
        );
        assert!(plan(f.as_ref()).is_noop());

        // include_empty creates empty source directories too.
        let f = build(
            &chunk(&dst, json!({"source": "salt://tree", "include_empty": true, "include_pat": "E@\\.conf$"})),
            &ctx,
        )
        .unwrap();
        let p = plan(f.as_ref());
        assert_eq!(
            p.changes.keys().collect::<Vec<_>>(),
            [&format!("{dst}/empty")]
        );
    }

    /// keep_symlinks: links in the source become links with the same
    /// target (not followed, even out of the states root or dangling);
    /// a directory holding only links is made with sym_mode; clean keeps
    /// them; the second plan is a no-op. Without it links are followed.
    #[test]
    fn keep_symlinks_makes_links() {
        let states = tempfile::tempdir().unwrap();
        let src = states.path().join("tree");
        std::fs::create_dir_all(src.join("real")).unwrap();
        std::fs::create_dir_all(src.join("links")).unwrap();
        std::fs::write(src.join("real/a.conf"), "a\n").unwrap();
        std::os::unix::fs::symlink("real/a.conf", src.join("a.link")).unwrap();
        std::os::unix::fs::symlink("real", src.join("dir.link")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", src.join("links/outside")).unwrap();
        std::os::unix::fs::symlink("nowhere", src.join("links/dangling")).unwrap();
        let host = tempfile::tempdir().unwrap();
        let dst = host.path().join("dst").display().to_string();
        let ctx = BuildCtx {
            states_root: states.path(),
            renderer: None,
        };
        let f = build(
            &chunk(
                &dst,
                json!({"source": "salt://tree", "keep_symlinks": true, "sym_mode": "0700", "clean": true}),
            ),
            &ctx,
        )
        .unwrap();
        std::fs::create_dir_all(&dst).unwrap();
        std::fs::write(format!("{dst}/stray"), "s").unwrap();
        let p = plan(f.as_ref());
        assert_eq!(
            p.changes[&format!("{dst}/a.link")]["new"],
            format!("{dst}/a.link")
        );
        assert_eq!(p.changes["removed"], json!([format!("{dst}/stray")]));
        let (text, rc) = sh(&f.apply(&p).unwrap());
        assert_eq!(rc, 0, "{text}");
        let link = |r: &str| std::fs::read_link(format!("{dst}/{r}")).unwrap();
        assert_eq!(link("a.link"), Path::new("real/a.conf"));
        assert_eq!(link("dir.link"), Path::new("real"));
        assert_eq!(link("links/outside"), Path::new("/etc/hostname"));
        assert_eq!(link("links/dangling"), Path::new("nowhere"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(format!("{dst}/links"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(plan(f.as_ref()).is_noop(), "{:?}", plan(f.as_ref()).changes);

        // Followed without keep_symlinks (inside the root), refused when
        // they lead out of it.
        let err = build(&chunk(&dst, json!({"source": "salt://tree"})), &ctx)
            .err()
            .unwrap();
        assert!(
            err.contains("outside the states root") || err.contains("cannot read"),
            "{err}"
        );
        assert!(build(
            &chunk(&dst, json!({"source": "salt://tree", "sym_mode": "bad"})),
            &ctx
        )
        .err()
        .unwrap()
        .contains("octal"));
    }

    #[test]
    fn bad_sources_and_targets_are_errors() {
        let states = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(states.path().join("tree")).unwrap();
        std::fs::write(states.path().join("file"), "").unwrap();
        let ctx = BuildCtx {
            states_root: states.path(),
            renderer: None,
        };
        let err = |name: &str, args: Value| build(&chunk(name, args), &ctx).err().unwrap();
        assert!(err("/srv/x", json!({"source": "salt://nope"})).contains("not found"));
        assert!(err("/srv/x", json!({"source": "salt://file"})).contains("not found"));
        assert!(err("/srv/x", json!({"source": "salt://../etc"})).contains("outside"));
        assert!(err("/", json!({"source": "salt://tree"})).contains("will not manage /"));
        assert!(err("rel", json!({"source": "salt://tree"})).contains("absolute"));
        assert!(err(
            "/srv/x",
            json!({"source": "salt://tree", "include_pat": "E@("})
        )
        .contains("include_pat"));
        // A link in the source tree that leads out of the states root.
        std::os::unix::fs::symlink("/etc", states.path().join("tree/etc")).unwrap();
        assert!(err("/srv/x", json!({"source": "salt://tree"})).contains("outside the states root"));
    }
}
