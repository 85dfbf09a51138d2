//! `file.directory`: a directory's existence, owner and mode, with Salt's
//! `recurse` (the same owner and modes for what it holds, to `max_depth`),
//! `clean`, and what to do with what stands where the directory goes
//! (`allow_symlink`, `force`, `backupname`).
//!
//! The probe lists everything under the directory in one `find` and asks
//! one `stat` for all of it (the names travel NUL-separated in base64, so
//! any name survives); the plan decides on the controller which paths
//! change, and the apply fixes them with one `chown` / `chmod` per
//! distinct change (in batches), inside the run's one apply execution.

use serde::Deserialize;
use serde_json::json;

use super::clean::pattern;
use super::clean::{listing, parse_listing, remove_commands, strays, Keep};
use super::{
    check_name, mkdirs_function, mode_str, owner_matches, parse_facts, parse_mode, perms,
    probe_snippet, Kind, Perms, TAG,
};
use crate::modules::{Applied, BuildCtx, Output, Plan, PlanMismatch, StateFunction};
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirArgs {
    user: Option<Value>,
    group: Option<Value>,
    mode: Option<Value>,
    /// Salt's name for `mode` here; either may be given.
    dir_mode: Option<Value>,
    /// The mode `recurse: [mode]` gives files (default: `dir_mode`).
    file_mode: Option<Value>,
    #[serde(default)]
    makedirs: bool,
    #[serde(default)]
    clean: bool,
    exclude_pat: Option<String>,
    recurse: Option<Value>,
    max_depth: Option<Value>,
    #[serde(default)]
    follow_symlinks: bool,
    #[serde(default)]
    force: bool,
    backupname: Option<String>,
    #[serde(default = "yes")]
    allow_symlink: bool,
    #[serde(default)]
    children_only: bool,
}

fn yes() -> bool {
    true
}

/// Salt's `recurse` words, in Salt's order (its error lists them so).
const RECURSE_WORDS: [&str; 6] = [
    "user",
    "group",
    "mode",
    "ignore_files",
    "ignore_dirs",
    "silent",
];

/// What `recurse` manages under the directory.
#[derive(Debug, Clone, Default, PartialEq)]
struct Recurse {
    user: bool,
    group: bool,
    mode: bool,
    files: bool,
    dirs: bool,
    /// Salt's `silent`: the apply's changes say only that they were made.
    silent: bool,
    /// Salt's `max_depth`: entries at most this deep (1: what the
    /// directory holds itself).
    max_depth: Option<u64>,
}

fn parse_recurse(v: &Option<Value>) -> Result<Option<Recurse>, String> {
    let words = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(_) => return Err("\"recurse\" must be formed as a list of strings".into()),
    };
    if words.is_empty() {
        return Ok(None);
    }
    let mut r = Recurse {
        files: true,
        dirs: true,
        ..Recurse::default()
    };
    for w in words {
        match w.as_str() {
            Some("user") => r.user = true,
            Some("group") => r.group = true,
            Some("mode") => r.mode = true,
            Some("ignore_files") => r.files = false,
            Some("ignore_dirs") => r.dirs = false,
            Some("silent") => r.silent = true,
            _ => {
                let all: Vec<String> = RECURSE_WORDS.iter().map(|w| format!("\"{w}\"")).collect();
                return Err(format!(
                    "Types for \"recurse\" limited to {}.",
                    all.join(", ")
                ));
            }
        }
    }
    if !r.files && !r.dirs {
        return Err("Must not specify \"recurse\" options \"ignore_files\" and \"ignore_dirs\" at the same time.".into());
    }
    Ok(Some(r))
}

#[derive(Debug)]
pub struct Directory {
    name: String,
    /// The directory's own owner and mode (`dir_mode`).
    perms: Perms,
    /// `recurse: [mode]`'s mode for files.
    file_mode: Option<u32>,
    makedirs: bool,
    clean: Option<Clean>,
    recurse: Option<Recurse>,
    follow_symlinks: bool,
    force: bool,
    backupname: Option<String>,
    allow_symlink: bool,
    children_only: bool,
}

/// Salt's `clean`: what stays under the directory.
#[derive(Debug)]
struct Clean {
    keep: Keep,
    /// Relative paths `clean` leaves alone (`exclude_pat`).
    exclude: Option<regex::Regex>,
}

pub fn build_directory(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: DirArgs = crate::modules::typed_args(chunk)?;
    let name = check_name(chunk)?;
    let err = |e: String| format!("{}: {e}", chunk.describe());
    if a.mode.is_some() && a.dir_mode.is_some() && a.mode != a.dir_mode {
        return Err(err("mode and dir_mode disagree; give one".into()));
    }
    let mode = a.dir_mode.or(a.mode);
    let mut recurse = parse_recurse(&a.recurse).map_err(err)?;
    let max_depth = match &a.max_depth {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.is_u64() => n.as_u64(),
        Some(other) => {
            return Err(err(format!(
                "max_depth `{other}` is not a whole number of levels"
            )))
        }
    };
    if max_depth.is_some() && a.clean {
        return Err(err("Cannot specify both max_depth and clean".into()));
    }
    if let Some(r) = &mut recurse {
        r.max_depth = max_depth;
        if name == "/" {
            return Err(err("file.directory will not recurse into /".into()));
        }
    }
    let perms = perms(chunk, &a.user, &a.group, &mode)?;
    if let Some(r) = &recurse {
        if r.user && perms.user.is_none() {
            return Err(err(
                "user not specified, but configured as a target for recursive ownership management"
                    .into(),
            ));
        }
        if r.group && perms.group.is_none() {
            return Err(err("group not specified, but configured as a target for recursive ownership management".into()));
        }
    }
    // Salt: file_mode defaults to dir_mode.
    let file_mode = match &a.file_mode {
        None | Some(Value::Null) => perms.mode,
        Some(v) => Some(parse_mode(v).map_err(err)?),
    };
    let clean = match (a.clean, &a.exclude_pat) {
        (true, _) if name == "/" => return Err(err("file.directory will not clean /".into())),
        (true, _) => Some(Clean {
            keep: Keep::default(),
            exclude: pattern(chunk, "exclude_pat", &a.exclude_pat)?,
        }),
        // Salt reads exclude_pat only for clean; checked all the same.
        (false, _) => {
            pattern(chunk, "exclude_pat", &a.exclude_pat)?;
            None
        }
    };
    if let Some(b) = &a.backupname {
        if !b.starts_with('/') || b.contains('\0') || b.trim_end_matches('/') == name {
            return Err(err(format!(
                "backupname `{b}` must be an absolute path other than the directory's"
            )));
        }
    }
    Ok(Box::new(Directory {
        name,
        perms,
        file_mode,
        makedirs: a.makedirs,
        clean,
        recurse,
        follow_symlinks: a.follow_symlinks,
        force: a.force,
        backupname: a.backupname.map(|b| b.trim_end_matches('/').to_string()),
        allow_symlink: a.allow_symlink,
        children_only: a.children_only,
    }))
}

impl Directory {
    /// A directory with `perms` (`file.recurse`'s directories).
    pub(super) fn new(name: String, perms: Perms, makedirs: bool) -> Directory {
        Directory {
            name,
            perms,
            file_mode: None,
            makedirs,
            clean: None,
            recurse: None,
            follow_symlinks: false,
            force: false,
            backupname: None,
            allow_symlink: true,
            children_only: false,
        }
    }
}

// ---- what the probe saw -----------------------------------------------------

/// One path under the directory, as the tree section of the probe saw it.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    path: String,
    /// The path is a symbolic link.
    link: bool,
    /// What it is, a link followed: os.walk's "dirs" are `Dir`.
    kind: Kind,
    /// Its owner and mode (`stat` of the link itself unless
    /// `follow_symlinks`; `None`: a dangling link followed).
    stat: Option<Stat>,
}

#[derive(Debug, Clone, PartialEq)]
struct Stat {
    uid: String,
    gid: String,
    user: String,
    group: String,
    mode: u32,
}

fn parse_stat(line: &str) -> Option<Stat> {
    let w: Vec<&str> = line.split_whitespace().collect();
    if w.len() != 5 {
        return None;
    }
    Some(Stat {
        uid: w[0].into(),
        gid: w[1].into(),
        user: w[2].into(),
        group: w[3].into(),
        mode: u32::from_str_radix(w[4], 8).ok()?,
    })
}

/// The probe section listing what is under `dir` (to `max_depth` levels)
/// with each path's owner and mode: the names once (as [`listing`] prints
/// them), then one `stat` line per name, then one type line per name
/// (`L` or `-` for a link or not, then `d` directory, `f` something else,
/// `x` nothing: a dangling link), the types from shell builtins only.
fn tree_section(dir: &str, max_depth: Option<u64>, follow: bool) -> String {
    let depth = max_depth
        .map(|d| format!(" -maxdepth {d}"))
        .unwrap_or_default();
    let stat = if follow { "stat -L" } else { "stat" };
    format!(
        r#"printf '%s list\n' '{TAG}'
h_l=
if [ -d {q} ]; then h_l=$(find {qs} -mindepth 1{depth} -print0 | base64); printf '%s\n' "$h_l"; fi
printf '%s end\n' '{TAG}'
if [ -n "$h_l" ]; then
printf '%s stats\n' '{TAG}'
printf '%s\n' "$h_l" | base64 -d | xargs -0 {stat} -c '%u %g %U %G %a' -- 2>/dev/null
printf '%s types\n' '{TAG}'
printf '%s\n' "$h_l" | base64 -d | xargs -0 sh -c 'for f; do if [ -L "$f" ]; then l=L; else l=-; fi; if [ -d "$f" ]; then echo "${{l}}d"; elif [ -e "$f" ]; then echo "${{l}}f"; else echo "${{l}}x"; fi; done' sh
fi
printf '%s tree-end\n' '{TAG}'
"#,
        q = quote(dir),
        qs = quote(&format!("{dir}/"))
    )
}

/// [`tree_section`]'s entries, in the order the host listed them.
fn parse_tree(text: &str, follow: bool) -> Result<Vec<Entry>, String> {
    let names = parse_listing(TAG, text)?
        .ok_or_else(|| format!("the probe did not list the directory: {}", text.trim()))?;
    let mut stats = Vec::new();
    let mut types = Vec::new();
    let mut section = None;
    for line in text.lines() {
        match line.strip_prefix(TAG).map(str::trim) {
            Some("stats") => section = Some(&mut stats),
            Some("types") => section = Some(&mut types),
            Some(_) => section = None,
            None => {
                if let Some(s) = &mut section {
                    s.push(line.trim().to_string());
                }
            }
        }
    }
    let changed = || {
        format!(
            "what is under the directory changed while it was read, or could not be read: {}",
            text.trim()
        )
    };
    if types.len() != names.len() {
        return Err(changed());
    }
    let mut stats = stats.into_iter();
    let mut out = Vec::with_capacity(names.len());
    for (path, t) in names.into_iter().zip(types) {
        let (link, kind) = match t.as_str() {
            "-d" => (false, Kind::Dir),
            "-f" => (false, Kind::File),
            "Ld" => (true, Kind::Dir),
            "Lf" => (true, Kind::File),
            "Lx" => (true, Kind::Dangling),
            _ => return Err(changed()),
        };
        // Followed, a dangling link has no stat line.
        let stat = if follow && kind == Kind::Dangling {
            None
        } else {
            Some(
                stats
                    .next()
                    .and_then(|l| parse_stat(&l))
                    .ok_or_else(changed)?,
            )
        };
        out.push(Entry {
            path,
            link,
            kind,
            stat,
        });
    }
    if stats.next().is_some() {
        return Err(changed());
    }
    Ok(out)
}

/// `entries` in the order Salt's walk meets them, names sorted where the
/// walk follows the file system: each directory's files, then its
/// directories, then what each of those holds (a link is not entered).
fn walk_order(root: &str, entries: Vec<Entry>) -> Vec<Entry> {
    use std::collections::BTreeMap;
    let mut by_parent: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for e in entries {
        let parent = match e.path.rsplit_once('/') {
            Some(("", _)) => "/".to_string(),
            Some((p, _)) => p.to_string(),
            None => continue,
        };
        by_parent.entry(parent).or_default().push(e);
    }
    let mut out = Vec::new();
    let mut stack = vec![root.to_string()];
    while let Some(dir) = stack.pop() {
        let Some(mut here) = by_parent.remove(&dir) else {
            continue;
        };
        here.sort_by(|a, b| a.path.cmp(&b.path));
        let (dirs, files): (Vec<Entry>, Vec<Entry>) =
            here.into_iter().partition(|e| e.kind == Kind::Dir);
        out.extend(files);
        // Entered depth first in name order (pushed in reverse), after
        // this directory's own entries: os.walk's top-down walk.
        for d in dirs.iter().rev() {
            if !d.link {
                stack.push(d.path.clone());
            }
        }
        out.extend(dirs);
    }
    out
}

// ---- the plan -------------------------------------------------------------

/// What stands where the directory goes and is replaced.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Replace {
    /// `force`: removed ("File" or "Symlink").
    Remove(&'static str),
    /// `backupname`: renamed there; `clear`: what was there first removed
    /// (`force`).
    Backup { clear: bool },
}

/// One path's owner and mode to fix.
#[derive(Debug, Clone, PartialEq)]
struct Fix {
    path: String,
    user: Option<String>,
    group: Option<String>,
    mode: Option<u32>,
}

impl Fix {
    fn is_empty(&self) -> bool {
        self.user.is_none() && self.group.is_none() && self.mode.is_none()
    }

    /// Salt's entry for the path: `{user, group, mode}` as declared.
    fn changes(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        if let Some(u) = &self.user {
            m.insert("user".into(), json!(u));
        }
        if let Some(g) = &self.group {
            m.insert("group".into(), json!(g));
        }
        if let Some(mo) = self.mode {
            m.insert("mode".into(), json!(mode_str(mo)));
        }
        m
    }
}

/// What a `file.directory` plan does.
#[derive(Debug, PartialEq)]
enum DirTodo {
    /// Make the directory, first moving away what `replace` says.
    Create(Option<Replace>),
    /// Fix `root` (unless `children_only`) and `children` (`recurse`), in
    /// Salt's walk order, and remove what `clean` does not keep.
    Update {
        root: Option<Fix>,
        children: Vec<Fix>,
        remove: Vec<String>,
    },
}

/// What differs of `want` (user, group, mode) on a path with `stat`; the
/// mode of a link not followed is not compared (Linux cannot set one).
fn fix(
    path: &str,
    stat: &Stat,
    user: Option<&String>,
    group: Option<&String>,
    mode: Option<u32>,
    link_unfollowed: bool,
) -> Fix {
    Fix {
        path: path.to_string(),
        user: user
            .filter(|u| !owner_matches(u, &stat.uid, &stat.user))
            .cloned(),
        group: group
            .filter(|g| !owner_matches(g, &stat.gid, &stat.group))
            .cloned(),
        mode: mode.filter(|m| *m != stat.mode && !link_unfollowed),
    }
}

/// Salt's entry for a directory to make.
fn new_dir() -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("directory".into(), json!("new"));
    m
}

/// Salt's test-mode comment: a line per key of each path's entry.
fn listed_comment(entries: &[(String, serde_json::Map<String, Value>)]) -> String {
    let mut s = String::from("The following files will be changed:\n");
    for (path, m) in entries {
        for (k, v) in m {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            s.push_str(&format!("{path}: {k} - {v}\n"));
        }
    }
    s
}

impl StateFunction for Directory {
    fn managed(&self) -> Vec<crate::modules::Managed> {
        crate::modules::Managed::present("file", &self.name)
    }

    fn shared_probe(&self) -> Option<crate::modules::SharedProbe> {
        Some(super::shared_probe(&self.name, self.follow_symlinks, false))
    }

    fn probe(&self) -> String {
        // The file probe may end the snippet early (`exit 0`).
        let mut s = format!(
            "(\n{}\n)\n",
            probe_snippet(&self.name, self.follow_symlinks)
        );
        let p = quote(&self.name);
        if !self.follow_symlinks {
            // What a link at `name` points to.
            s.push_str(&format!(
                "if [ -L {p} ]; then if [ -d {p} ]; then echo '{TAG} points dir'; elif [ -f {p} ]; then echo '{TAG} points file'; elif [ -e {p} ]; then echo '{TAG} points other'; else echo '{TAG} points missing'; fi; fi\n"
            ));
        }
        if let Some(b) = &self.backupname {
            let b = quote(b);
            s.push_str(&format!(
                "if [ -e {b} ] || [ -L {b} ]; then echo '{TAG} backup exists'; fi\n"
            ));
        }
        match (&self.recurse, &self.clean) {
            (Some(r), _) => {
                s.push_str(&tree_section(&self.name, r.max_depth, self.follow_symlinks))
            }
            (None, Some(_)) => s.push_str(&listing(TAG, &self.name)),
            (None, None) => {}
        }
        s
    }

    fn required(&mut self, states: &[crate::modules::Required<'_>]) {
        if let Some(c) = &mut self.clean {
            c.keep.required(&self.name, states);
        }
    }

    fn removes(&self, plan: &Plan) -> Result<Vec<crate::state::ledger::Resource>, PlanMismatch> {
        Ok(match plan.data::<DirTodo>()? {
            DirTodo::Update { remove, .. } => remove
                .iter()
                .map(|p| crate::state::ledger::Resource::new("file", p))
                .collect(),
            DirTodo::Create(_) => Vec::new(),
        })
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let f = parse_facts(out.text)?;
        let name = &self.name;
        let tagged = |key: &str| {
            out.text.lines().find_map(|l| {
                l.strip_prefix(TAG)
                    .map(str::trim)
                    .and_then(|r| r.strip_prefix(key))
                    .map(|v| v.trim().to_string())
            })
        };
        // What is there, a link at `name` followed.
        let kind = match (f.kind, tagged("points ").as_deref()) {
            (Kind::Symlink, Some("dir")) => Kind::Dir,
            (Kind::Symlink, Some("file")) => Kind::File,
            (Kind::Symlink, Some("other")) => Kind::Other,
            (Kind::Symlink, _) => Kind::Dangling,
            (k, _) => k,
        };
        let link = f.is_link;
        // Salt's order: a file (a link to one included), then a link when
        // links are not allowed or `force` replaces them.
        if kind == Kind::File || (link && (!self.allow_symlink || self.force)) {
            let what = if kind == Kind::File {
                "File"
            } else {
                "Symlink"
            };
            // The changes are those Salt's apply reports (its test mode
            // adds `backup` and `forced` notes the apply leaves out, and
            // says "would be forcibly replaced" where the apply says
            // "was"): test=True shows what the apply will report.
            let mut changes = serde_json::Map::new();
            if let Some(b) = &self.backupname {
                let exists = tagged("backup ").is_some();
                if exists && !self.force {
                    return Err(format!("File exists where the backup target {b} should go"));
                }
                changes.insert(name.clone(), json!({"directory": "new"}));
                return Ok(Plan::change(
                    Value::Object(changes),
                    format!("{name} would be backed up and replaced with a new directory"),
                )
                .with_data(DirTodo::Create(Some(Replace::Backup { clear: exists }))));
            }
            if !self.force {
                return Err(if what == "File" {
                    format!("Specified location {name} exists and is a file")
                } else {
                    format!("Specified location {name} exists and is a symlink")
                });
            }
            changes.insert(name.clone(), json!({"directory": "new"}));
            let comment = listed_comment(&[(name.clone(), new_dir())]);
            changes.insert(
                "forced".into(),
                json!(format!("{what} was forcibly replaced")),
            );
            // The parent is there: what is replaced stands in it.
            return Ok(Plan::change(Value::Object(changes), comment)
                .with_data(DirTodo::Create(Some(Replace::Remove(what)))));
        }
        match kind {
            // A file was handled above, and a link became what it points to.
            Kind::Other | Kind::File | Kind::Symlink => Err(format!(
                "Specified location {name} exists and is not a directory"
            )),
            Kind::Dangling => Err(format!(
                "Specified location {name} is a symlink to a missing target"
            )),
            Kind::Missing => {
                match f.parent_dir {
                    Some(true) => {}
                    None if self.makedirs => {}
                    _ => return Err(format!("No directory to create {name} in")),
                }
                let comment = listed_comment(&[(name.clone(), new_dir())]);
                Ok(Plan::change(json!({ name.clone(): new_dir() }), comment)
                    .with_data(DirTodo::Create(None)))
            }
            Kind::Dir => self.plan_update(&f, link, out.text),
        }
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let mut s = format!("p={}\n", quote(&self.name));
        match plan.data::<DirTodo>()? {
            DirTodo::Create(replace) => {
                match replace {
                    Some(Replace::Remove(_)) => s.push_str("rm -f -- \"$p\" || exit 1\n"),
                    Some(Replace::Backup { clear }) => {
                        let b = quote(self.backupname.as_deref().unwrap_or_default());
                        if *clear {
                            s.push_str(&format!("rm -rf -- {b} || exit 1\n"));
                        }
                        s.push_str(&format!("mv -Tf -- \"$p\" {b} || exit 1\n"));
                    }
                    None => {}
                }
                if self.makedirs {
                    s.push_str(&mkdirs_function(&self.perms));
                    s.push_str("mk \"$(dirname -- \"$p\")\" || exit 1\n");
                }
                s.push_str("mkdir -- \"$p\" || [ -d \"$p\" ] || exit 1\n");
                s.push_str(&self.perms.commands(&self.perms.declared(), "p", "exit 1"));
            }
            DirTodo::Update {
                root,
                children,
                remove,
            } => {
                let all: Vec<&Fix> = root.iter().chain(children).collect();
                s.push_str(&fix_commands(&all, self.follow_symlinks));
                s.push_str(&remove_commands(remove));
            }
        }
        Ok(s)
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        let todo = match plan.data::<DirTodo>() {
            Ok(t) => t,
            Err(e) => return e.into(),
        };
        if out.rc != 0 {
            return crate::modules::finish_with(plan, out, String::new());
        }
        let name = &self.name;
        // The changes the plan showed: those Salt's apply reports.
        let comment = match todo {
            DirTodo::Create(_) => String::new(),
            DirTodo::Update { remove, .. } if !remove.is_empty() => {
                format!("Files cleaned from directory {name}")
            }
            DirTodo::Update { .. } if self.children_only => format!("Directory {name}/* updated"),
            DirTodo::Update { .. } => format!("Directory {name} updated"),
        };
        let changes = plan.changes.clone();
        Applied {
            result: true,
            changes,
            comment,
        }
    }
}

impl Directory {
    /// The plan for an existing directory (a link to one when `link`).
    fn plan_update(&self, f: &super::Facts, link: bool, text: &str) -> Result<Plan, String> {
        let name = &self.name;
        let root_stat = Stat {
            uid: f.uid.clone(),
            gid: f.gid.clone(),
            user: f.user.clone(),
            group: f.group.clone(),
            mode: f.mode,
        };
        let root = (!self.children_only)
            .then(|| {
                fix(
                    name,
                    &root_stat,
                    self.perms.user.as_ref(),
                    self.perms.group.as_ref(),
                    self.perms.mode,
                    link && !self.follow_symlinks,
                )
            })
            .filter(|r| !r.is_empty());
        let tree = match (&self.recurse, &self.clean) {
            (Some(_), _) => Some(walk_order(name, parse_tree(text, self.follow_symlinks)?)),
            _ => None,
        };
        let children = match (&self.recurse, &tree) {
            (Some(r), Some(tree)) => self.recurse_fixes(r, tree),
            _ => Vec::new(),
        };
        let strays = match &self.clean {
            Some(c) => {
                let listed = match &tree {
                    Some(t) => t.iter().map(|e| e.path.clone()).collect(),
                    None => parse_listing(TAG, text)?.ok_or_else(|| {
                        format!("the probe did not list the directory: {}", text.trim())
                    })?,
                };
                strays(name, &listed, &c.keep, c.exclude.as_ref())
            }
            None => Default::default(),
        };
        if root.is_none() && children.is_empty() && strays.top.is_empty() {
            return Ok(Plan::noop(format!(
                "The directory {name} is in the correct state"
            )));
        }
        let (changes, comment) = self.update_changes(root.as_ref(), &children, &strays);
        Ok(
            Plan::change(Value::Object(changes), comment).with_data(DirTodo::Update {
                root,
                children,
                remove: strays.top,
            }),
        )
    }

    /// What `recurse` changes under the directory, in walk order.
    fn recurse_fixes(&self, r: &Recurse, tree: &[Entry]) -> Vec<Fix> {
        let mut children = Vec::new();
        for e in tree {
            let is_dir = e.kind == Kind::Dir;
            if (is_dir && !r.dirs) || (!is_dir && !r.files) {
                continue;
            }
            let Some(stat) = &e.stat else { continue };
            let mode = if !r.mode {
                None
            } else if is_dir {
                self.perms.mode
            } else {
                self.file_mode
            };
            let fx = fix(
                &e.path,
                stat,
                self.perms.user.as_ref().filter(|_| r.user),
                self.perms.group.as_ref().filter(|_| r.group),
                mode,
                e.link && !self.follow_symlinks,
            );
            if !fx.is_empty() {
                children.push(fx);
            }
        }
        children
    }

    /// The changes and the test-mode comment of an update: Salt's apply's.
    fn update_changes(
        &self,
        root: Option<&Fix>,
        children: &[Fix],
        strays: &super::clean::Strays,
    ) -> (serde_json::Map<String, Value>, String) {
        // Salt's order: the children as walked, the directory, what goes.
        let mut entries: Vec<(String, serde_json::Map<String, Value>)> = children
            .iter()
            .chain(root)
            .map(|f| (f.path.clone(), f.changes()))
            .collect();
        for p in &strays.all {
            let mut m = serde_json::Map::new();
            m.insert("removed".into(), json!("Removed due to clean"));
            entries.push((p.clone(), m));
        }
        let comment = listed_comment(&entries);
        // What Salt's apply reports: each path's entry and, written over
        // one another at the top level, the keys of every path it fixes
        // (`silent`: only the children's keys, no entries); then what went.
        // Salt's test mode leaves the top-level keys out; halite shows
        // before the apply exactly what the apply will report.
        let silent = self.recurse.as_ref().is_some_and(|r| r.silent);
        let mut changes = serde_json::Map::new();
        let flat: Vec<&Fix> = if silent {
            changes.insert("recursion".into(), json!("Changes silenced"));
            children.iter().collect()
        } else {
            changes.extend(entries.into_iter().map(|(p, m)| (p, Value::Object(m))));
            root.into_iter().chain(children).collect()
        };
        for f in flat {
            changes.extend(f.changes());
        }
        if !strays.top.is_empty() {
            changes.insert("removed".into(), json!(strays.top));
        }
        (changes, comment)
    }
}

/// Paths per command line: well below any host's ARG_MAX.
const BATCH: usize = 100;

/// The commands fixing `fixes`: one `chown` / `chgrp` per distinct owner
/// change and one `chmod` per mode, each over its paths in batches; owners
/// first (chown clears setuid and setgid bits). A link is changed itself
/// (`-h`) unless `follow`; its mode is never in a fix then.
fn fix_commands(fixes: &[&Fix], follow: bool) -> String {
    use std::collections::BTreeMap;
    let h = if follow { "" } else { " -h" };
    let mut owners: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut modes: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    for f in fixes {
        let cmd = match (&f.user, &f.group) {
            (Some(u), Some(g)) => Some(format!("chown{h} -- {}", quote(&format!("{u}:{g}")))),
            (Some(u), None) => Some(format!("chown{h} -- {}", quote(u))),
            (None, Some(g)) => Some(format!("chgrp{h} -- {}", quote(g))),
            (None, None) => None,
        };
        if let Some(c) = cmd {
            owners.entry(c).or_default().push(&f.path);
        }
        if let Some(m) = f.mode {
            modes.entry(m).or_default().push(&f.path);
        }
    }
    let mut s = String::new();
    let mut emit = |cmd: &str, paths: &[&str]| {
        for batch in paths.chunks(BATCH) {
            s.push_str(cmd);
            for p in batch {
                s.push(' ');
                s.push_str(&quote(p));
            }
            s.push_str(" || exit 1\n");
        }
    };
    for (cmd, paths) in &owners {
        emit(cmd, paths);
    }
    for (m, paths) in &modes {
        emit(&format!("chmod {}", mode_str(*m)), paths);
    }
    s
}

#[cfg(test)]
mod tests;
