//! `group_vars/` and `host_vars/` beside an Ansible inventory, as Ansible's
//! `host_group_vars` plugin reads them: `NAME`, `NAME.yml`, `NAME.yaml`,
//! `NAME.json`, or a directory `NAME/` whose YAML/JSON files are read in
//! name order (a later file wins). Their variables win over the same
//! group's or host's variables written in the inventory ([`super::Tree::merged`]).
//! A file for a group or host the inventory does not have is reported, and
//! an Ansible Vault file is refused (halite does not decrypt Vault).

use std::path::{Path, PathBuf};

use super::{Tree, Vars};
use crate::Value;

/// Read `dir/group_vars` and `dir/host_vars` into `tree`; warnings for
/// what no group or host takes.
pub(crate) fn read(tree: &mut Tree, dir: &Path) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    for (sub, groups) in [("group_vars", true), ("host_vars", false)] {
        let base = dir.join(sub);
        if !base.is_dir() {
            continue;
        }
        for (name, files) in entries(&base, &mut warnings)? {
            let target = if groups {
                tree.groups.get_mut(&name).map(|g| &mut g.file_vars)
            } else {
                tree.hosts.get_mut(&name).map(|h| &mut h.file_vars)
            };
            let Some(vars) = target else {
                let what = if groups { "group" } else { "host" };
                warnings.push(format!(
                    "{}: ignored: the inventory has no {what} `{name}`",
                    files.first().map_or(base.display(), |f| f.display())
                ));
                continue;
            };
            for file in files {
                read_file(&file, vars)?;
            }
        }
    }
    Ok(warnings)
}

/// Each name in a vars directory with its files, in the order Ansible
/// reads them.
fn entries(base: &Path, warnings: &mut Vec<String>) -> Result<Vec<(String, Vec<PathBuf>)>, String> {
    let mut out: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for path in listing(base)? {
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            let mut files = Vec::new();
            collect(&path, &mut files, warnings)?;
            out.push((file_name.to_string(), files));
            continue;
        }
        match name_of(&path) {
            Some(name) => out.push((name.to_string(), vec![path.clone()])),
            None => warnings.push(format!(
                "{}: ignored: a vars file is NAME, NAME.yml, NAME.yaml or NAME.json",
                path.display()
            )),
        }
    }
    Ok(out)
}

/// Vars files under `dir`, recursively, in name order.
fn collect(dir: &Path, files: &mut Vec<PathBuf>, warnings: &mut Vec<String>) -> Result<(), String> {
    for path in listing(dir)? {
        if path.is_dir() {
            collect(&path, files, warnings)?;
        } else if name_of(&path).is_some() {
            files.push(path);
        } else {
            warnings.push(format!(
                "{}: ignored: not a .yml, .yaml or .json file",
                path.display()
            ));
        }
    }
    Ok(())
}

/// Entries of `dir` in name order, without hidden and backup files.
fn listing(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .map(|e| {
            e.map(|e| e.path())
                .map_err(|e| format!("cannot read {}: {e}", dir.display()))
        })
        .collect::<Result<_, _>>()?;
    paths.retain(|p| {
        let n = p.file_name().and_then(|n| n.to_str()).unwrap_or(".");
        !n.starts_with('.') && !n.ends_with('~')
    });
    paths.sort();
    Ok(paths)
}

/// `web.yml` -> `web`; `web` -> `web`; `web.txt` -> none.
fn name_of(path: &Path) -> Option<&str> {
    let name = path.file_name()?.to_str()?;
    match path.extension().and_then(|e| e.to_str()) {
        None => Some(name),
        Some("yml" | "yaml" | "json") => path.file_stem()?.to_str(),
        Some(_) => None,
    }
}

fn read_file(path: &Path, vars: &mut Vars) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if text.trim_start().starts_with("$ANSIBLE_VAULT") {
        return Err(format!(
            "{}: an Ansible Vault file; halite does not decrypt Vault (move the secret to \
             encrypted pillar, or decrypt the file)",
            path.display()
        ));
    }
    if text.trim().is_empty() {
        return Ok(());
    }
    let doc: Value = crate::yaml::from_str(&text, path).map_err(|e| e.to_string())?;
    let Value::Object(map) = doc else {
        return Err(format!("{}: a vars file must be a mapping", path.display()));
    };
    for (k, v) in map {
        let place = match crate::yaml::key_line(&text, &[&k]) {
            Some(line) => format!("{}:{line}", path.display()),
            None => path.display().to_string(),
        };
        vars.insert(k, (v, place));
    }
    Ok(())
}
