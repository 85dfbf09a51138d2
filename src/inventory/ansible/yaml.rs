//! Ansible's YAML inventory format, and the JSON a dynamic-inventory script
//! prints for `--list`.
//!
//! YAML: top-level keys are groups; a group holds `hosts:` (host patterns
//! mapped to their variables), `vars:` and `children:` (groups, nested the
//! same way). JSON: top-level keys are groups, each a list of hosts or
//! `{hosts: [...], vars: {...}, children: [...]}`, and `_meta.hostvars`
//! holds every host's variables (without `_meta`, the script is asked
//! `--host NAME` for each host, as Ansible does).

use std::path::Path;

use super::{pattern, Tree};
use crate::Value;

/// Whether parsed YAML is an Ansible inventory: some top-level group holds
/// `hosts:`, `children:` or `vars:`, and the top level is not only halite's
/// own sections.
pub(crate) fn looks_like_ansible(doc: &Value) -> bool {
    let Some(map) = doc.as_object() else {
        return false;
    };
    if map
        .keys()
        .all(|k| matches!(k.as_str(), "defaults" | "hosts" | "groups"))
    {
        return false;
    }
    map.values().any(|g| {
        g.as_object().is_some_and(|g| {
            g.keys()
                .any(|k| matches!(k.as_str(), "hosts" | "children" | "vars"))
        })
    })
}

/// Read a parsed Ansible YAML inventory; `text` finds lines for messages.
pub(crate) fn from_yaml(doc: &Value, text: &str, origin: &str) -> Result<Tree, String> {
    let mut tree = Tree::default();
    let Some(top) = doc.as_object() else {
        return Err(format!(
            "{origin}: an Ansible inventory is a mapping of groups"
        ));
    };
    for (name, body) in top {
        let src = Source { text, origin };
        group(&mut tree, &src, name, body, &mut vec![name.clone()])?;
    }
    Ok(tree)
}

/// The YAML text and its name, to say where a key is.
struct Source<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Source<'_> {
    /// `file:line` of the key at `keys`.
    fn at(&self, keys: &[String]) -> String {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        match crate::yaml::key_line(self.text, &keys) {
            Some(line) => format!("{}:{line}", self.origin),
            None => self.origin.to_string(),
        }
    }
}

/// Group `name` (at `keys`) and, recursively, its children.
fn group(
    tree: &mut Tree,
    src: &Source,
    name: &str,
    body: &Value,
    keys: &mut Vec<String>,
) -> Result<(), String> {
    tree.group(name);
    let body = match body {
        Value::Null => return Ok(()),
        Value::Object(m) => m,
        _ => {
            return Err(format!(
                "{}: group `{name}` must be a mapping of hosts, vars and children",
                src.at(keys)
            ))
        }
    };
    for (key, value) in body {
        keys.push(key.clone());
        let here = src.at(keys);
        match (key.as_str(), value) {
            (_, Value::Null) => {}
            ("vars", Value::Object(vars)) => {
                let g = tree.group(name);
                for (k, v) in vars {
                    g.vars.insert(k.clone(), (v.clone(), here.clone()));
                }
            }
            ("hosts", Value::Object(hosts)) => group_hosts(tree, src, name, hosts, keys)?,
            ("children", Value::Object(children)) => {
                for (child, child_body) in children {
                    tree.group(name).children.insert(child.clone());
                    keys.push(child.clone());
                    group(tree, src, child, child_body, keys)?;
                    keys.pop();
                }
            }
            ("vars" | "hosts" | "children", _) => {
                return Err(format!(
                    "{here}: `{key}` of group `{name}` must be a mapping"
                ))
            }
            _ => {
                return Err(format!(
                    "{here}: group `{name}` has unknown key `{key}` (an Ansible group \
                     holds hosts, vars and children)"
                ))
            }
        }
        keys.pop();
    }
    Ok(())
}

/// A group's `hosts:`: patterns (ranges, `:port`) mapped to variables.
fn group_hosts(
    tree: &mut Tree,
    src: &Source,
    name: &str,
    hosts: &serde_json::Map<String, Value>,
    keys: &mut Vec<String>,
) -> Result<(), String> {
    for (pat, vars) in hosts {
        keys.push(pat.clone());
        let place = src.at(keys);
        keys.pop();
        let (names, port) = pattern::expand(pat).map_err(|e| format!("{place}: {e}"))?;
        let vars = match vars {
            Value::Null => Default::default(),
            Value::Object(v) => v.clone(),
            _ => return Err(format!("{place}: host `{pat}` must map to its variables")),
        };
        for h in names {
            let def = tree.add_host(name, &h, &place);
            if let Some(p) = port {
                def.vars
                    .insert("ansible_port".into(), (p.into(), place.clone()));
            }
            for (k, v) in &vars {
                def.vars.insert(k.clone(), (v.clone(), place.clone()));
            }
        }
    }
    Ok(())
}

/// Run a dynamic-inventory script with `--list` (and `--host NAME` per host
/// when it prints no `_meta`), returning its tree and what it printed on
/// stderr.
pub(crate) fn from_script(script: &Path) -> Result<(Tree, Vec<String>), String> {
    let origin = format!("{} --list", script.display());
    let (doc, mut stderr) = run(script, &["--list"])?;
    let Value::Object(top) = doc else {
        return Err(format!(
            "{origin}: printed JSON that is not an object of groups"
        ));
    };
    let mut tree = Tree::default();
    let mut hostvars = None;
    for (name, body) in &top {
        let here = format!("{origin}: group `{name}`");
        if name == "_meta" {
            hostvars = Some(
                body.get("hostvars")
                    .and_then(Value::as_object)
                    .ok_or_else(|| format!("{origin}: `_meta` has no `hostvars` object"))?
                    .clone(),
            );
            continue;
        }
        script_group(&mut tree, name, body, &here)?;
    }
    // Ansible ignores variables of a host no group lists; so does halite, aloud.
    for host in hostvars.iter().flat_map(|h| h.keys()) {
        if !tree.hosts.contains_key(host) {
            stderr.push(format!(
                "{origin}: _meta.hostvars `{host}` is ignored: no group lists that host"
            ));
        }
    }
    let names: Vec<String> = tree.hosts.keys().cloned().collect();
    for host in names {
        let (vars, place) = match &hostvars {
            Some(all) => (
                all.get(&host)
                    .cloned()
                    .unwrap_or(Value::Object(Default::default())),
                format!("{origin}: _meta.hostvars `{host}`"),
            ),
            None => {
                let (v, err) = run(script, &["--host", &host])?;
                stderr.extend(err);
                (v, format!("{} --host {host}", script.display()))
            }
        };
        let Value::Object(vars) = vars else {
            return Err(format!("{place}: host variables must be an object"));
        };
        let def = tree.hosts.get_mut(&host).expect("listed host");
        for (k, v) in vars {
            def.vars.insert(k, (v, place.clone()));
        }
    }
    Ok((tree, stderr))
}

/// One group of `--list` output: a list of hosts, or hosts/vars/children.
fn script_group(tree: &mut Tree, name: &str, body: &Value, here: &str) -> Result<(), String> {
    let (hosts, vars, children) = match body {
        Value::Array(hosts) => (Some(hosts), None, None),
        Value::Object(g) => {
            if let Some(k) = g
                .keys()
                .find(|k| !matches!(k.as_str(), "hosts" | "vars" | "children"))
            {
                return Err(format!(
                    "{here}: unknown key `{k}` (a group holds hosts, vars and children)"
                ));
            }
            (
                g.get("hosts")
                    .map(as_list)
                    .transpose()
                    .map_err(|e| format!("{here}: hosts {e}"))?,
                g.get("vars")
                    .map(|v| {
                        v.as_object()
                            .ok_or_else(|| format!("{here}: vars must be an object"))
                    })
                    .transpose()?,
                g.get("children")
                    .map(as_list)
                    .transpose()
                    .map_err(|e| format!("{here}: children {e}"))?,
            )
        }
        _ => return Err(format!("{here}: must be a list of hosts or an object")),
    };
    tree.group(name);
    for h in hosts.into_iter().flatten() {
        let h = h
            .as_str()
            .ok_or_else(|| format!("{here}: a host name must be a string, not {h}"))?;
        tree.add_host(name, h, here);
    }
    for (k, v) in vars.into_iter().flatten() {
        tree.group(name)
            .vars
            .insert(k.clone(), (v.clone(), here.to_string()));
    }
    for c in children.into_iter().flatten() {
        let c = c
            .as_str()
            .ok_or_else(|| format!("{here}: a child group must be a string, not {c}"))?;
        tree.group(name).children.insert(c.to_string());
        tree.group(c);
    }
    Ok(())
}

fn as_list(v: &Value) -> Result<&Vec<Value>, String> {
    v.as_array().ok_or_else(|| "must be a list".to_string())
}

/// Run `script ARGS`, parse its stdout as JSON; its stderr lines come back
/// to be reported.
fn run(script: &Path, args: &[&str]) -> Result<(Value, Vec<String>), String> {
    let shown = format!("{} {}", script.display(), args.join(" "));
    // A bare relative name would be looked up in PATH.
    let program = if script.is_relative() {
        Path::new(".").join(script)
    } else {
        script.to_path_buf()
    };
    let out = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the inventory script {shown}: {e}"))?;
    let stderr: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("{shown}: {l}"))
        .collect();
    if !out.status.success() {
        return Err(format!(
            "the inventory script {shown} failed ({}){}",
            out.status,
            stderr.first().map(|l| format!(": {l}")).unwrap_or_default()
        ));
    }
    let doc = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("the inventory script {shown} printed invalid JSON: {e}"))?;
    Ok((doc, stderr))
}
