//! `file.symlink` and `file.absent`: the functions whose desired state is
//! a path's type, not bytes (`file.directory` is in directory.rs).

use serde::Deserialize;
use serde_json::json;

use super::{check_name, mkdirs_function, parse_facts, perms, probe_snippet, Kind, Perms};
use crate::modules::{finish_with, Applied, BuildCtx, Output, Plan, PlanMismatch, StateFunction};
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

/// What a `file.symlink` plan does.
#[derive(Debug, PartialEq)]
enum LinkTodo {
    /// Make the link; `rmdir`: a directory stands where it goes (`force`).
    Create { rmdir: bool },
    /// Change the link's owner: the keys (`user`, `group`) that drifted.
    Chown(serde_json::Map<String, Value>),
}

/// What `file.absent` removes: "File" or "Directory" (the comment says).
#[derive(Debug, PartialEq)]
struct Removing(&'static str);

// ---- file.symlink ---------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkArgs {
    target: String,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    makedirs: bool,
    user: Option<Value>,
    group: Option<Value>,
}

#[derive(Debug)]
pub struct Symlink {
    name: String,
    target: String,
    force: bool,
    makedirs: bool,
    perms: Perms,
    /// For the directories `makedirs` creates (Salt's symlink `mode`).
    dir_perms: Perms,
}

pub fn build_symlink(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: LinkArgs = crate::modules::typed_args(chunk)?;
    let name = check_name(chunk)?;
    if a.target.is_empty() || a.target.contains('\0') {
        return Err(format!("{}: target must be a path", chunk.describe()));
    }
    let perms = perms(chunk, &a.user, &a.group, &None)?;
    Ok(Box::new(Symlink {
        name,
        target: a.target,
        force: a.force,
        makedirs: a.makedirs,
        dir_perms: perms.clone(),
        perms,
    }))
}

impl Symlink {
    /// `name` -> `target` owned as `perms` (user and group), its missing
    /// parents made with `dir_perms` (`file.recurse`'s kept symlinks).
    pub(super) fn new(
        name: String,
        target: String,
        force: bool,
        perms: Perms,
        dir_perms: Perms,
    ) -> Symlink {
        Symlink {
            name,
            target,
            force,
            makedirs: true,
            perms,
            dir_perms,
        }
    }
}

/// Salt compares link targets after `os.path.normpath`.
fn normpath(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." if out.last().is_some_and(|s| *s != "..") => {
                out.pop();
            }
            ".." if abs => {}
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

impl StateFunction for Symlink {
    fn managed(&self) -> Vec<crate::modules::Managed> {
        crate::modules::Managed::present("file", &self.name)
    }

    fn shared_probe(&self) -> Option<crate::modules::SharedProbe> {
        Some(super::shared_probe(&self.name, false, false))
    }

    fn probe(&self) -> String {
        probe_snippet(&self.name, false)
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let f = parse_facts(out.text)?;
        let (name, target) = (&self.name, &self.target);
        let create = |extra: Option<(&str, &str)>| {
            let mut changes = serde_json::Map::new();
            changes.insert("new".into(), json!(name));
            if let Some((k, v)) = extra {
                changes.insert(k.into(), json!(v));
            }
            Plan::change(
                Value::Object(changes),
                format!("Symlink {name} to {target} is set for creation"),
            )
            .with_data(LinkTodo::Create { rmdir: false })
        };
        match f.kind {
            Kind::Symlink if f.link_target.as_deref().map(normpath) == Some(normpath(target)) => {
                let drift = self.perms.drift(&f);
                let user = self.perms.user.clone().unwrap_or(f.user.clone());
                let group = self.perms.group.clone().unwrap_or(f.group.clone());
                if drift.is_empty() {
                    return Ok(Plan::noop(format!(
                        "Symlink {name} is present and owned by {}:{}",
                        f.user, f.group
                    )));
                }
                let mut changes = serde_json::Map::new();
                changes.insert("ownership".into(), json!(format!("{user}:{group}")));
                Ok(Plan::change(
                    Value::Object(changes),
                    format!("Ownership of symlink {name} is set to {user}:{group}"),
                )
                .with_data(LinkTodo::Chown(drift)))
            }
            // A link elsewhere is replaced without `force`, as in Salt.
            Kind::Symlink => Ok(create(None)),
            Kind::Missing => match f.parent_dir {
                Some(true) => Ok(create(None)),
                None if self.makedirs => Ok(create(None)),
                _ => Err(format!(
                    "Directory {} for symlink is not present",
                    parent_of(name)
                )),
            },
            Kind::File | Kind::Dir | Kind::Other | Kind::Dangling if !self.force => {
                let what = match f.kind {
                    Kind::File => "File",
                    Kind::Dir => "Directory",
                    _ => "File system entry",
                };
                Err(format!("{what} exists where the symlink {name} should be"))
            }
            _ => {
                let p = create(None);
                Ok(p.with_data(LinkTodo::Create {
                    rmdir: f.kind == Kind::Dir,
                }))
            }
        }
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let mut s = format!("p={}\n", quote(&self.name));
        let rmdir = match plan.data::<LinkTodo>()? {
            LinkTodo::Chown(which) => {
                s.push_str(&self.link_owner_commands(which, "p", "exit 1"));
                return Ok(s);
            }
            LinkTodo::Create { rmdir } => *rmdir,
        };
        s.push_str("d=$(dirname -- \"$p\")\n");
        if self.makedirs {
            s.push_str(&mkdirs_function(&self.dir_perms));
            s.push_str("mk \"$d\" || exit 1\n");
        }
        // A directory cannot be renamed over; `force` removes it first.
        if rmdir {
            s.push_str(
                "if [ -d \"$p\" ] && [ ! -L \"$p\" ]; then rm -rf -- \"$p\" || exit 1; fi\n",
            );
        }
        s.push_str(&format!(
            "tmp=$(mktemp -u \"$d/.halite.XXXXXX\") || exit 1\n\
             ln -s -- {} \"$tmp\" || exit 1\n\
             fail() {{ rm -f -- \"$tmp\"; exit 1; }}\n",
            quote(&self.target)
        ));
        s.push_str(&self.link_owner_commands(&self.perms.declared(), "tmp", "fail"));
        // -T: never move the link INTO a directory that `name` points to.
        s.push_str("mv -Tf -- \"$tmp\" \"$p\" || fail\n");
        Ok(s)
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        let comment = match plan.data::<LinkTodo>() {
            Ok(LinkTodo::Create { .. }) => {
                format!("Created new symlink {} -> {}", self.name, self.target)
            }
            Ok(LinkTodo::Chown(_)) => format!("Set ownership of symlink {}", self.name),
            Err(e) => return e.into(),
        };
        finish_with(plan, out, comment)
    }
}

impl Symlink {
    /// chown/chgrp on the link itself (`-h`), never on what it points to.
    fn link_owner_commands(
        &self,
        which: &serde_json::Map<String, Value>,
        var: &str,
        fail: &str,
    ) -> String {
        let mut s = String::new();
        if let Some(u) = self
            .perms
            .user
            .as_ref()
            .filter(|_| which.contains_key("user"))
        {
            s.push_str(&format!("chown -h -- {} \"${var}\" || {fail}\n", quote(u)));
        }
        if let Some(g) = self
            .perms
            .group
            .as_ref()
            .filter(|_| which.contains_key("group"))
        {
            s.push_str(&format!("chgrp -h -- {} \"${var}\" || {fail}\n", quote(g)));
        }
        s
    }
}

fn parent_of(name: &str) -> &str {
    match name.rsplit_once('/') {
        Some(("", _)) => "/",
        Some((d, _)) => d,
        None => ".",
    }
}

// ---- file.absent ----------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Debug)]
pub struct Absent {
    name: String,
}

pub fn build_absent(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let _: NoArgs = crate::modules::typed_args(chunk)?;
    let name = check_name(chunk)?;
    if name == "/" {
        return Err(format!(
            "{}: Refusing to make \"/\" absent",
            chunk.describe()
        ));
    }
    Ok(Box::new(Absent { name }))
}

impl StateFunction for Absent {
    fn managed(&self) -> Vec<crate::modules::Managed> {
        crate::modules::Managed::absent("file", &self.name)
    }

    fn shared_probe(&self) -> Option<crate::modules::SharedProbe> {
        Some(super::shared_probe(&self.name, false, false))
    }

    fn probe(&self) -> String {
        probe_snippet(&self.name, false)
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let f = parse_facts(out.text)?;
        let name = &self.name;
        let what = match f.kind {
            Kind::Missing => return Ok(Plan::noop(format!("File {name} is not present"))),
            Kind::Dir => "Directory",
            _ => "File",
        };
        Ok(Plan::change(
            json!({"removed": name}),
            format!("{what} {name} is set for removal"),
        )
        .with_data(Removing(what)))
    }

    fn apply(&self, _: &Plan) -> Result<String, PlanMismatch> {
        // rm -rf on a link removes the link, not what it points to.
        Ok(format!("rm -rf -- {}\n", quote(&self.name)))
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        let what = match plan.data::<Removing>() {
            Ok(Removing(what)) => *what,
            Err(e) => return e.into(),
        };
        let what = if what == "Directory" {
            "directory"
        } else {
            "file"
        };
        finish_with(plan, out, format!("Removed {what} {}", self.name))
    }
}
