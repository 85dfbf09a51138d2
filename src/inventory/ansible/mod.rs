//! Ansible inventories read as they are: INI ([`ini`]), YAML and the JSON a
//! dynamic-inventory script prints for `--list` ([`yaml`]). Each reader
//! builds the same [`Tree`] (groups with hosts, children and vars; hosts
//! with their own vars); [`Tree::into_part`] then does what Ansible does with
//! it (every group under `all`, hosts in no group in `ungrouped`, each host's
//! variables merged from `all` down to its deepest groups, then its own) and
//! maps the result to halite's keys ([`vars`]).
//!
//! Ground truth is Ansible itself: `tests/compat/gen_ansible_inventory.py`
//! records `ansible-inventory --list` for the inventories in
//! `tests/compat/ansible/`, and the tests below compare.

pub(crate) mod ini;
mod literal;
mod pattern;
mod vars;
pub(crate) mod vars_dirs;
pub(crate) mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{Entry, Group, Part};
use crate::Value;

/// A variable's value and where it was set (`file:line`).
pub(crate) type Vars = BTreeMap<String, (Value, String)>;

/// An Ansible inventory as written, before Ansible's rules apply.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    pub groups: BTreeMap<String, GroupDef>,
    pub hosts: BTreeMap<String, HostDef>,
}

#[derive(Debug, Default)]
pub(crate) struct GroupDef {
    pub hosts: BTreeSet<String>,
    pub children: BTreeSet<String>,
    pub vars: Vars,
    /// From `group_vars/` ([`vars_dirs`]).
    pub file_vars: Vars,
}

#[derive(Debug, Default)]
pub(crate) struct HostDef {
    pub vars: Vars,
    /// From `host_vars/` ([`vars_dirs`]).
    pub file_vars: Vars,
    /// Where the host first appears.
    pub place: String,
}

impl Tree {
    pub(crate) fn group(&mut self, name: &str) -> &mut GroupDef {
        self.groups.entry(name.to_string()).or_default()
    }

    /// Add `host` to `group` (creating both as needed).
    pub(crate) fn add_host(&mut self, group: &str, host: &str, place: &str) -> &mut HostDef {
        self.group(group).hosts.insert(host.to_string());
        self.hosts
            .entry(host.to_string())
            .or_insert_with(|| HostDef {
                place: place.to_string(),
                ..HostDef::default()
            })
    }

    /// Ansible's implicit structure: `all` above every group no other group
    /// holds, `ungrouped` holding the hosts no group (but `all`) holds.
    fn finish(&mut self) {
        self.group("all");
        self.group("ungrouped");
        let held: BTreeSet<String> = self
            .groups
            .values()
            .flat_map(|g| g.children.iter().cloned())
            .collect();
        let tops: Vec<String> = self
            .groups
            .keys()
            .filter(|g| *g != "all" && !held.contains(*g))
            .cloned()
            .collect();
        self.group("all").children.extend(tops);
        let grouped: BTreeSet<String> = self
            .groups
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "all" | "ungrouped"))
            .flat_map(|(_, g)| g.hosts.iter().cloned())
            .collect();
        let loose: Vec<String> = self
            .hosts
            .keys()
            .filter(|h| !grouped.contains(*h))
            .cloned()
            .collect();
        let all = self.group("all");
        for h in &loose {
            all.hosts.remove(h);
        }
        self.group("ungrouped").hosts.extend(loose);
    }

    /// Each group's depth below `all` (its longest path), or the first
    /// group found inside itself.
    fn depths(&self) -> Result<BTreeMap<String, usize>, String> {
        fn visit(
            tree: &Tree,
            name: &str,
            depth: usize,
            path: &mut Vec<String>,
            out: &mut BTreeMap<String, usize>,
        ) -> Result<(), String> {
            if path.iter().any(|p| p == name) {
                return Err(format!(
                    "group `{name}` is its own descendant ({} -> {name})",
                    path.join(" -> ")
                ));
            }
            if out.get(name).is_some_and(|&d| d >= depth) {
                return Ok(());
            }
            out.insert(name.to_string(), depth);
            path.push(name.to_string());
            if let Some(g) = tree.groups.get(name) {
                for child in &g.children {
                    visit(tree, child, depth + 1, path, out)?;
                }
            }
            path.pop();
            Ok(())
        }
        let mut out = BTreeMap::new();
        visit(self, "all", 0, &mut Vec::new(), &mut out)?;
        // A group only its own descendants hold is never reached from `all`.
        if let Some(lost) = self.groups.keys().find(|g| !out.contains_key(*g)) {
            let mut path = Vec::new();
            visit(self, lost, 0, &mut path, &mut BTreeMap::new())?;
            return Err(format!("group `{lost}` is its own descendant"));
        }
        Ok(out)
    }

    /// Every group `host` is in, directly or through a child group.
    fn groups_of(&self, host: &str) -> BTreeSet<String> {
        let mut found: BTreeSet<String> = self
            .groups
            .iter()
            .filter(|(_, g)| g.hosts.contains(host))
            .map(|(n, _)| n.clone())
            .collect();
        found.insert("all".into());
        loop {
            let parents: Vec<String> = self
                .groups
                .iter()
                .filter(|(n, g)| {
                    !found.contains(*n) && g.children.iter().any(|c| found.contains(c))
                })
                .map(|(n, _)| n.clone())
                .collect();
            if parents.is_empty() {
                return found;
            }
            found.extend(parents);
        }
    }

    /// A group's hosts, its children's included.
    fn members(&self, group: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo = vec![group.to_string()];
        let mut seen = BTreeSet::new();
        while let Some(g) = todo.pop() {
            if !seen.insert(g.clone()) {
                continue;
            }
            if let Some(def) = self.groups.get(&g) {
                out.extend(def.hosts.iter().cloned());
                todo.extend(def.children.iter().cloned());
            }
        }
        out
    }

    /// `host`'s variables as Ansible merges them: `all`'s, then its
    /// `group_vars/all`; the other groups' by depth, then
    /// `ansible_group_priority`, then name; then those groups' `group_vars/`
    /// files in the same order; the host's own, then its `host_vars/`.
    fn merged(&self, host: &str, depths: &BTreeMap<String, usize>) -> Vars {
        let priority = |g: &GroupDef| {
            g.file_vars
                .get("ansible_group_priority")
                .or_else(|| g.vars.get("ansible_group_priority"))
                .and_then(|(v, _)| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
                .unwrap_or(1)
        };
        let mut groups: Vec<(usize, i64, &String, &GroupDef)> = self
            .groups_of(host)
            .iter()
            .filter(|n| *n != "all")
            .filter_map(|n| self.groups.get_key_value(n))
            .map(|(n, g)| (depths.get(n).copied().unwrap_or(0), priority(g), n, g))
            .collect();
        groups.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        // (layer, is a group's): a group's `ansible_group_priority` orders
        // groups and is not one of its variables.
        let mut layers: Vec<(&Vars, bool)> = Vec::new();
        if let Some(all) = self.groups.get("all") {
            layers.extend([(&all.vars, true), (&all.file_vars, true)]);
        }
        layers.extend(groups.iter().map(|g| (&g.3.vars, true)));
        layers.extend(groups.iter().map(|g| (&g.3.file_vars, true)));
        if let Some(h) = self.hosts.get(host) {
            layers.extend([(&h.vars, false), (&h.file_vars, false)]);
        }
        let mut vars = Vars::new();
        for (layer, group) in layers {
            vars.extend(
                layer
                    .iter()
                    .filter(|(k, _)| !(group && *k == "ansible_group_priority"))
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
        }
        vars
    }

    /// Hosts (mapped to halite's keys) and groups (nodegroups; `all` and
    /// `ungrouped` are not: `'*'` targets every host). `origin` names the
    /// file or script in messages; `beside` is the directory whose `group_vars/` and `host_vars/` apply
    /// (the inventory file's own, as in Ansible).
    pub(crate) fn into_part(mut self, origin: &str, beside: Option<&Path>) -> Result<Part, String> {
        self.finish();
        let depths = self.depths().map_err(|e| format!("{origin}: {e}"))?;
        let mut part = Part {
            user: login_name(),
            ..Part::default()
        };
        if let Some(dir) = beside {
            part.warnings = vars_dirs::read(&mut self, dir)?;
        }
        vars::report_definitions(&self, &mut part.warnings)?;
        for (id, def) in &self.hosts {
            let merged = self.merged(id, &depths);
            let spec = vars::host_spec(id, &merged)?;
            part.hosts.push(Entry {
                id: id.clone(),
                spec,
                place: Some(def.place.clone()),
            });
        }
        for name in self.groups.keys() {
            if matches!(name.as_str(), "all" | "ungrouped") {
                continue;
            }
            let members: Vec<String> = self.members(name).into_iter().collect();
            part.groups
                .push((name.clone(), Group::List(members), Some(origin.to_string())));
        }
        Ok(part)
    }
}

/// The controller's login name: whom Ansible (like OpenSSH) logs in as when
/// the inventory names no user. Ansible asks Python's `getpass.getuser()`:
/// LOGNAME, USER, LNAME, USERNAME, then the password database.
fn login_name() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let env = ["LOGNAME", "USER", "LNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()));
    env.or_else(|| {
        // The process's own /proc entry belongs to its user.
        let uid = std::fs::metadata("/proc/self").ok()?.uid().to_string();
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2] == uid).then(|| f[0].to_string())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::ConnectionKind;
    use serde_json::json;
    use std::path::PathBuf;

    fn compat() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat")
    }

    /// Ansible's answer for `name` (tests/compat/gen_ansible_inventory.py).
    fn ansible(name: &str) -> Value {
        let text = std::fs::read_to_string(compat().join("ansible_inventory.json")).unwrap();
        let all: Value = serde_json::from_str(&text).unwrap();
        all["inventories"][name].clone()
    }

    /// The tree says what Ansible says: the same hosts, each group's own
    /// hosts and children, and each host's merged variables. `differences`
    /// lists (host, var, halite's value) where halite knowingly differs.
    fn same_as_ansible(mut tree: Tree, name: &str, differences: &[(&str, &str, Value)]) {
        let want = ansible(name);
        tree.finish();
        let depths = tree.depths().unwrap();
        let hostvars = want["_meta"]["hostvars"].as_object().unwrap();
        let ours: Vec<&String> = tree.hosts.keys().collect();
        let theirs: Vec<&String> = {
            let mut h: Vec<&String> = hostvars.keys().collect();
            h.sort();
            h
        };
        assert_eq!(ours, theirs, "{name}: hosts");
        for (host, vars) in hostvars {
            let merged: serde_json::Map<String, Value> = tree
                .merged(host, &depths)
                .into_iter()
                .map(|(k, (v, _))| (k, v))
                .collect();
            let mut vars = vars.as_object().unwrap().clone();
            for (h, var, ours) in differences {
                if h == host {
                    vars.insert(var.to_string(), ours.clone());
                }
            }
            assert_eq!(Value::Object(merged), Value::Object(vars), "{name}: {host}");
        }
        for (group, body) in want.as_object().unwrap() {
            if group == "_meta" {
                continue;
            }
            let def = &tree.groups[group];
            let list = |key: &str| -> Vec<String> {
                let mut v: Vec<String> = body[key]
                    .as_array()
                    .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
                    .unwrap_or_default();
                v.sort();
                v
            };
            let hosts: Vec<String> = def.hosts.iter().cloned().collect();
            assert_eq!(hosts, list("hosts"), "{name}: group {group} hosts");
            if group != "all" {
                let children: Vec<String> = def.children.iter().cloned().collect();
                assert_eq!(children, list("children"), "{name}: group {group} children");
            }
        }
    }

    #[test]
    fn ini_reads_like_ansible() {
        let path = compat().join("ansible/hosts.ini");
        let text = std::fs::read_to_string(&path).unwrap();
        same_as_ansible(ini::parse(&text, "hosts.ini").unwrap(), "hosts.ini", &[]);
    }

    #[test]
    fn tricky_ini_reads_like_ansible() {
        let path = compat().join("ansible/tricky.ini");
        let text = std::fs::read_to_string(&path).unwrap();
        same_as_ansible(ini::parse(&text, "tricky.ini").unwrap(), "tricky.ini", &[]);
    }

    #[test]
    fn yaml_reads_like_ansible() {
        let path = compat().join("ansible/inventory.yml");
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: Value = crate::yaml::from_str(&text, &path).unwrap();
        assert!(yaml::looks_like_ansible(&doc));
        let tree = yaml::from_yaml(&doc, &text, "inventory.yml").unwrap();
        // halite reads YAML 1.2: an unquoted `yes` is text, not true.
        let yes = |h| (h, "enabled", json!("yes"));
        same_as_ansible(
            tree,
            "inventory.yml",
            &[yes("web1"), yes("web2"), yes("web3")],
        );
    }

    #[test]
    fn tricky_yaml_reads_like_ansible() {
        let path = compat().join("ansible/tricky.yml");
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: Value = crate::yaml::from_str(&text, &path).unwrap();
        let tree = yaml::from_yaml(&doc, &text, "tricky.yml").unwrap();
        same_as_ansible(tree, "tricky.yml", &[]);
    }

    #[test]
    fn script_reads_like_ansible() {
        let (tree, stderr) = yaml::from_script(&compat().join("ansible/dynamic.sh")).unwrap();
        assert!(stderr.is_empty(), "{stderr:?}");
        same_as_ansible(tree, "dynamic.sh", &[]);
    }

    #[test]
    fn vars_dirs_read_like_ansible() {
        let dir = compat().join("ansible/layered");
        let text = std::fs::read_to_string(dir.join("hosts")).unwrap();
        let mut tree = ini::parse(&text, "hosts").unwrap();
        tree.finish();
        let warnings = vars_dirs::read(&mut tree, &dir).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        same_as_ansible(tree, "layered/hosts", &[]);
    }

    #[test]
    fn vars_dirs_report_strays_and_refuse_vault() {
        let dir = tempfile::tempdir().unwrap();
        let mut tree = ini::parse("[web]\nw1\n", "hosts").unwrap();
        tree.finish();
        std::fs::create_dir_all(dir.path().join("group_vars")).unwrap();
        std::fs::write(dir.path().join("group_vars/ghost.yml"), "a: 1\n").unwrap();
        std::fs::write(dir.path().join("group_vars/web.txt"), "a: 1\n").unwrap();
        let w = vars_dirs::read(&mut tree, dir.path()).unwrap().join("\n");
        assert!(
            w.contains("ghost.yml: ignored: the inventory has no group `ghost`"),
            "{w}"
        );
        assert!(w.contains("web.txt: ignored"), "{w}");
        std::fs::write(
            dir.path().join("group_vars/web.yml"),
            "$ANSIBLE_VAULT;1.1;AES256\n6134\n",
        )
        .unwrap();
        let e = vars_dirs::read(&mut tree, dir.path()).unwrap_err();
        assert!(e.contains("web.yml: an Ansible Vault file"), "{e}");
    }

    #[test]
    fn refuses_what_ansible_refuses() {
        let text = std::fs::read_to_string(compat().join("ansible_inventory.json")).unwrap();
        let all: Value = serde_json::from_str(&text).unwrap();
        for (name, ini) in all["refused_ini"].as_object().unwrap() {
            let e = ini::parse(ini.as_str().unwrap(), "x.ini")
                .and_then(|t| t.into_part("x.ini", None))
                .unwrap_err();
            assert!(e.starts_with("x.ini:"), "{name}: {e}");
        }
    }

    /// The INI fixture mapped to halite's keys: what maps, what becomes a
    /// grain, what is reported, and groups as nodegroups.
    #[test]
    fn ansible_variables_map_to_halite_keys() {
        let text = std::fs::read_to_string(compat().join("ansible/hosts.ini")).unwrap();
        let part = ini::parse(&text, "hosts.ini")
            .unwrap()
            .into_part("hosts.ini", None)
            .unwrap();
        let spec = |id: &str| &part.hosts.iter().find(|e| e.id == id).unwrap().spec;
        let web = spec("web01.example.com");
        assert_eq!(
            (web.user.as_deref(), web.sudo, web.port),
            (Some("www"), Some(true), None)
        );
        assert_eq!(web.connect_timeout, Some(7.0));
        let grains = web.grains.as_ref().unwrap();
        assert_eq!(
            (&grains["http_port"], &grains["dc"]),
            (&json!(80), &json!("paris"))
        );
        assert!(!grains.contains_key("ansible_timeout"));
        let extra = spec("web-extra");
        assert_eq!(extra.host.as_deref(), Some("192.0.2.50"));
        assert_eq!(spec("10.0.0.9").port, Some(2222));
        assert_eq!(spec("dba").connection, Some(ConnectionKind::Local));
        assert_eq!(spec("db-x").identity.as_deref(), Some("~/.ssh/db_key"));
        assert_eq!(spec("db-x").port, Some(5022));
        assert_eq!(spec("db-x").sudo_user.as_deref(), Some("postgres"));
        let groups: BTreeMap<&str, &Group> = part
            .groups
            .iter()
            .map(|(n, g, _)| (n.as_str(), g))
            .collect();
        assert!(!groups.contains_key("all") && !groups.contains_key("ungrouped"));
        let Group::List(prod) = groups["prod"] else {
            panic!()
        };
        assert_eq!(prod.len(), 8, "{prod:?}");
        assert_eq!(groups["empty"], &Group::List(vec![]));
        assert!(part.warnings.is_empty(), "{:?}", part.warnings);
    }

    #[test]
    fn unknown_ansible_variables_are_reported_or_refused() {
        let part = ini::parse(
            "[web]\nw[1:3] ansible_ssh_pass=x\n[web:vars]\nansible_shell_executable=/bin/bash\n",
            "h.ini",
        )
        .unwrap()
        .into_part("h.ini", None)
        .unwrap();
        assert_eq!(part.warnings.len(), 2, "{:?}", part.warnings);
        let w = &part.warnings;
        assert!(
            w[0].starts_with(
                "h.ini:2: host `w1` (and 2 more hosts): `ansible_ssh_pass` is ignored"
            ),
            "{w:?}"
        );
        assert!(
            w[1].starts_with("h.ini:4: group `web`: `ansible_shell_executable` is ignored"),
            "{w:?}"
        );
        for (ini, says) in [
            (
                "w1 ansible_ssh_common_args='-o ForwardAgent=yes'\n",
                "h.ini:1: host `w1`: `ansible_ssh_common_args` cannot be honoured: `-o ForwardAgent=yes`: only ProxyJump",
            ),
            (
                "w1 ansible_ssh_common_args='-J a' ansible_ssh_extra_args='-J b'\n",
                "names jump host",
            ),
            (
                "w1 ansible_connection=docker\n",
                "h.ini:1: host `w1`: `ansible_connection: docker` cannot be honoured",
            ),
            (
                "w1 ansible_become_method=su\n",
                "`ansible_become_method: su` cannot be honoured",
            ),
            (
                "w1 ansible_port=x\n",
                "h.ini:1: host `w1`: `ansible_port` must be a port number",
            ),
            ("w1 ansible_host='{{ x }}'\n", "is a Jinja template"),
            (
                "[a:children]\nb\n[b:children]\na\n",
                "is its own descendant",
            ),
        ] {
            let e = ini::parse(ini, "h.ini")
                .and_then(|t| t.into_part("h.ini", None))
                .unwrap_err();
            assert!(e.contains(says), "{ini}: {e}");
        }
    }

    /// A jump host in Ansible's SSH argument variables, on a host or a
    /// group, is `proxy_jump`; nothing else there has a halite meaning.
    #[test]
    fn a_jump_host_in_ssh_args_is_proxy_jump() {
        let ini = "[dmz]\nw1\nw2\n\
                   [dmz:vars]\nansible_ssh_common_args='-o \"ProxyJump=ops@bastion,inner\"'\n\
                   [lan]\nw3 ansible_ssh_common_args='-oProxyJump=b3 -Jb3'\n";
        let part = ini::parse(ini, "h.ini")
            .and_then(|t| t.into_part("h.ini", None))
            .unwrap();
        let jump = |id: &str| {
            part.hosts
                .iter()
                .find(|e| e.id == id)
                .and_then(|e| e.spec.proxy_jump.clone())
        };
        assert_eq!(jump("w1").as_deref(), Some("ops@bastion,inner"));
        assert_eq!(jump("w2").as_deref(), Some("ops@bastion,inner"));
        assert_eq!(jump("w3").as_deref(), Some("b3"));
    }
}
