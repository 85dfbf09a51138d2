//! The inventory: which hosts exist, how to reach them, their static grains
//! and the named groups usable as nodegroups (`-N`).
//!
//! halite's own format is a roster in the spirit of salt-ssh's. `inventory/`
//! may be a single file or a directory whose files are merged (a host or
//! group defined twice is an error naming both files and lines; a key
//! repeated in one file is refused by [`crate::yaml`]):
//!
//! ```yaml
//! defaults:            # applies to every host unless the host overrides it
//!   user: root
//!   port: 22
//! hosts:
//!   localhost:
//!     connection: local
//!   web1:
//!     host: 192.0.2.10
//!     user: deploy
//!     identity: ~/.ssh/id_ed25519
//!     sudo: true
//!     sudo_user: app   # with sudo: run as app, not root (sudo -u)
//!     grains: {roles: [web]}
//!   db1:
//!     proxy_jump: bastion     # as `ssh -J`: [user@]host[:port],... or a host id
//! groups:              # nodegroups: a compound expression or a list of ids
//!   webs: 'web*'
//!   dbs: [db1, db2]
//! ```
//! Unknown keys are errors naming the file and key.
//!
//! Inventories users already keep are read beside it, told apart by file
//! name (`Kind`): Ansible's INI and YAML formats and dynamic-inventory
//! scripts (`ansible`), and salt-ssh rosters (`roster`). Every source
//! becomes a `Part` (hosts as unresolved settings, groups, warnings), and
//! one merge applies `defaults:` and refuses duplicates across all of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::Value;

pub(crate) mod ansible;
mod roster;

/// How halite reaches a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionKind {
    #[default]
    Ssh,
    /// Run on the controller itself, no SSH.
    Local,
}

/// One host, with every default applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// The id used for targeting (the key under `hosts:`).
    pub id: String,
    pub connection: ConnectionKind,
    /// Address or name to connect to (defaults to the id).
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Private key file; when absent, the ssh-agent and the default keys are tried.
    pub identity: Option<PathBuf>,
    /// Run commands through `sudo` (when `user` is not root, or
    /// `sudo_user` is another user).
    pub sudo: bool,
    /// With `sudo`, run as this user instead of root (`sudo -u`).
    pub sudo_user: Option<String>,
    pub connect_timeout: Duration,
    /// Static grains from the inventory; they win over gathered ones.
    pub grains: Value,
    /// Jump hosts, as `ssh -J` takes them (`[user@]host[:port]`, comma
    /// separated) or the id of another inventory host; `none`: connect
    /// directly even where ~/.ssh/config names a ProxyJump.
    pub proxy_jump: Option<String>,
    /// Which of the connection keys above the inventory wrote (for the host
    /// or in `defaults:`): those win over ~/.ssh/config, the others are
    /// built-in defaults that ssh_config may replace.
    pub written: Written,
}

/// See [`Host::written`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub host: bool,
    pub port: bool,
    pub user: bool,
    pub identity: bool,
    pub connect_timeout: bool,
}

impl Host {
    /// `host:port`, as used in messages.
    pub fn addr(&self) -> String {
        match self.connection {
            ConnectionKind::Local => "local".to_string(),
            ConnectionKind::Ssh if self.host.contains(':') => {
                format!("[{}]:{}", self.host, self.port)
            }
            ConnectionKind::Ssh => format!("{}:{}", self.host, self.port),
        }
    }
}

/// A nodegroup: a compound expression or an explicit list of host ids.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Group {
    Expr(String),
    List(Vec<String>),
}

/// The whole inventory.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub hosts: BTreeMap<String, Host>,
    pub groups: BTreeMap<String, Group>,
    /// What a source said that halite ignores (an Ansible variable or
    /// roster key with no meaning here, a script's stderr), each naming
    /// where it was written: the CLI prints them.
    pub warnings: Vec<String>,
}

/// A message carries its cause in its own text and does not also return it
/// as `source()`: the CLI prints an error with its chain, which would print
/// the cause twice.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("cannot read inventory {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Not a `source`: the message already holds it, and the CLI prints
    /// the chain of sources after it.
    #[error("invalid inventory: {0}")]
    Yaml(crate::yaml::YamlError),
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    /// An Ansible inventory or roster refused: the message names the file
    /// (and line, or script and group) itself.
    #[error("{0}")]
    Format(String),
    /// A host, group or `defaults` in two files; `first` and `second` are
    /// `file:line` (a file repeating a key is refused by the YAML layer).
    #[error("{second}: {what} `{name}` is already defined at {first}")]
    DefinedTwice {
        what: &'static str,
        name: String,
        first: String,
        second: String,
    },
}

impl From<crate::yaml::YamlError> for InventoryError {
    fn from(e: crate::yaml::YamlError) -> Self {
        InventoryError::Yaml(e)
    }
}

/// Per-host settings as written; every field optional so `defaults:` can fill them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostSpec {
    connection: Option<ConnectionKind>,
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    identity: Option<String>,
    sudo: Option<bool>,
    sudo_user: Option<String>,
    /// Seconds.
    connect_timeout: Option<f64>,
    grains: Option<BTreeMap<String, Value>>,
    proxy_jump: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    defaults: Option<HostSpec>,
    #[serde(default)]
    hosts: BTreeMap<String, Option<HostSpec>>,
    #[serde(default)]
    groups: BTreeMap<String, Group>,
}

impl Inventory {
    /// Load the inventory at `path`: a file, or a directory whose files are
    /// read by name (see [`Kind`]); other files in a directory are not read.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let read_err = |path: &Path, error| InventoryError::Read {
            path: path.to_path_buf(),
            error,
        };
        let files = if path.is_dir() {
            let mut files: Vec<(PathBuf, Kind)> = std::fs::read_dir(path)
                .map_err(|e| read_err(path, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .filter_map(|p| Kind::of(&p, true).map(|k| (p, k)))
                .collect();
            files.sort();
            files
        } else {
            let kind = Kind::of(path, false).unwrap_or(Kind::Ini);
            vec![(path.to_path_buf(), kind)]
        };
        let mut parts = Vec::new();
        for (file, kind) in files {
            parts.push(read_part(&file, kind)?);
        }
        Self::from_parts(parts)
    }

    /// Build an inventory from `(file name, YAML text)` pairs (halite's own
    /// format, or Ansible's YAML).
    pub fn from_texts(files: &[(PathBuf, String)]) -> Result<Inventory, InventoryError> {
        let parts = files
            .iter()
            .map(|(path, text)| yaml_part(path, text.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_parts(parts)
    }

    /// Merge what each source read: a host, group or `defaults:` in two of
    /// them is an error naming both places; `defaults:` apply to every host.
    fn from_parts(parts: Vec<Part>) -> Result<Inventory, InventoryError> {
        let mut defaults: Option<(&Part, &HostSpec)> = None;
        for part in &parts {
            if let Some(d) = &part.defaults {
                if let Some((first, _)) = defaults {
                    return Err(twice(
                        "section",
                        "defaults",
                        first.place(None, &["defaults"]),
                        part.place(None, &["defaults"]),
                    ));
                }
                defaults = Some((part, d));
            }
        }
        let empty = HostSpec::default();
        let defaults = defaults.map_or(&empty, |(_, d)| d);
        let mut inv = Inventory::default();
        let mut hosts_from: BTreeMap<&str, (&Part, &Entry)> = BTreeMap::new();
        let mut groups_from: BTreeMap<&str, (&Part, Option<&String>)> = BTreeMap::new();
        for part in &parts {
            inv.warnings.extend(part.warnings.iter().cloned());
            for entry in &part.hosts {
                let id = entry.id.as_str();
                if let Some((p, e)) = hosts_from.get(id) {
                    let first = p.place(e.place.as_ref(), &["hosts", id]);
                    let second = part.place(entry.place.as_ref(), &["hosts", id]);
                    return Err(twice("host", id, first, second));
                }
                let host = resolve(id, entry.spec.clone(), defaults, part.user.as_deref())
                    .map_err(|message| InventoryError::Invalid {
                        path: part.path.clone(),
                        message,
                    })?;
                hosts_from.insert(id, (part, entry));
                inv.hosts.insert(id.to_string(), host);
            }
            for (name, group, place) in &part.groups {
                if let Some((p, at)) = groups_from.get(name.as_str()) {
                    let first = p.place(*at, &["groups", name]);
                    let second = part.place(place.as_ref(), &["groups", name]);
                    return Err(twice("group", name, first, second));
                }
                groups_from.insert(name, (part, place.as_ref()));
                inv.groups.insert(name.clone(), group.clone());
            }
        }
        Ok(inv)
    }
}

/// The formats an inventory file may be in, told by its name: `*.yaml`,
/// `*.yml` and `*.json` (halite's own, or Ansible's YAML when its top level is groups
/// holding `hosts:`/`children:`/`vars:`), `*.ini` and `hosts` (Ansible INI),
/// `*.roster` and `roster` (salt-ssh), any other executable file (an Ansible
/// dynamic inventory, run with `--list`). A file named on the command line
/// that fits none of these is read as Ansible INI, as Ansible does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    Yaml,
    Ini,
    Roster,
    Script,
}

impl Kind {
    fn of(path: &Path, in_dir: bool) -> Option<Kind> {
        let name = path.file_name()?.to_str()?;
        if name.starts_with('.') || name.ends_with('~') {
            return None;
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml" | "json") => return Some(Kind::Yaml),
            Some("ini") => return Some(Kind::Ini),
            Some("roster") => return Some(Kind::Roster),
            _ => {}
        }
        use std::os::unix::fs::PermissionsExt;
        if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        {
            return Some(Kind::Script);
        }
        match name {
            "hosts" => Some(Kind::Ini),
            "roster" => Some(Kind::Roster),
            _ if in_dir => None,
            _ => Some(Kind::Ini),
        }
    }
}

/// Hosts and groups read from one source, before `defaults:` apply.
#[derive(Debug, Default)]
pub(crate) struct Part {
    path: PathBuf,
    /// halite's YAML text, to find a key's line when a message needs it.
    text: Option<String>,
    defaults: Option<HostSpec>,
    hosts: Vec<Entry>,
    /// Groups, with where each is defined when known without the text.
    groups: Vec<(String, Group, Option<String>)>,
    warnings: Vec<String>,
    /// Who to log in as when neither the host nor `defaults:` says (Ansible:
    /// the controller's login name; halite and salt-ssh: root). `None`:
    /// unknown, an error for a host that needs it.
    user: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Entry {
    id: String,
    spec: HostSpec,
    /// `file:line` when known without the text.
    place: Option<String>,
}

impl Part {
    /// `file:line` of `keys` (e.g. `hosts`, `web1`), or `known`.
    fn place(&self, known: Option<&String>, keys: &[&str]) -> String {
        if let Some(p) = known {
            return p.clone();
        }
        match self
            .text
            .as_deref()
            .and_then(|t| crate::yaml::key_line(t, keys))
        {
            Some(line) => format!("{}:{line}", self.path.display()),
            None => self.path.display().to_string(),
        }
    }
}

fn read_part(path: &Path, kind: Kind) -> Result<Part, InventoryError> {
    let text = || {
        std::fs::read_to_string(path).map_err(|error| InventoryError::Read {
            path: path.to_path_buf(),
            error,
        })
    };
    let origin = path.display().to_string();
    let mut part = match kind {
        Kind::Yaml => return yaml_part(path, text()?),
        Kind::Ini => ansible::ini::parse(&text()?, &origin)
            .and_then(|tree| tree.into_part(&origin, Some(beside(path))))
            .map_err(InventoryError::Format)?,
        Kind::Roster => roster::parse(&text()?, path)?,
        Kind::Script => {
            let (tree, stderr) =
                ansible::yaml::from_script(path).map_err(InventoryError::Format)?;
            let mut part = tree
                .into_part(&format!("{origin} --list"), Some(beside(path)))
                .map_err(InventoryError::Format)?;
            part.warnings.extend(stderr);
            part
        }
    };
    part.path = path.to_path_buf();
    Ok(part)
}

/// The directory an inventory file is in (`.` for a bare name): where
/// Ansible looks for `group_vars/` and `host_vars/`.
fn beside(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A YAML file: Ansible's format when it looks like it, else halite's own.
fn yaml_part(path: &Path, text: String) -> Result<Part, InventoryError> {
    if text.trim().is_empty() {
        return Ok(Part {
            path: path.to_path_buf(),
            ..Part::default()
        });
    }
    let doc: Value = crate::yaml::from_str(&text, path)?;
    if ansible::yaml::looks_like_ansible(&doc) {
        let origin = path.display().to_string();
        let mut part = ansible::yaml::from_yaml(&doc, &text, &origin)
            .and_then(|tree| tree.into_part(&origin, Some(beside(path))))
            .map_err(InventoryError::Format)?;
        part.path = path.to_path_buf();
        return Ok(part);
    }
    let file: File = crate::yaml::from_str(&text, path)?;
    Ok(Part {
        path: path.to_path_buf(),
        defaults: file.defaults,
        hosts: file
            .hosts
            .into_iter()
            .map(|(id, spec)| Entry {
                id,
                spec: spec.unwrap_or_default(),
                place: None,
            })
            .collect(),
        groups: file.groups.into_iter().map(|(n, g)| (n, g, None)).collect(),
        text: Some(text),
        warnings: Vec::new(),
        user: Some("root".into()),
    })
}

/// `name` defined at `first` and again at `second` (`file:line` each).
fn twice(what: &'static str, name: &str, first: String, second: String) -> InventoryError {
    InventoryError::DefinedTwice {
        what,
        name: name.to_string(),
        first,
        second,
    }
}

fn resolve(
    id: &str,
    spec: HostSpec,
    d: &HostSpec,
    fallback_user: Option<&str>,
) -> Result<Host, String> {
    if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c == ',') {
        return Err(format!(
            "host id `{id}` must be non-empty without spaces or commas"
        ));
    }
    let connect_timeout = spec.connect_timeout.or(d.connect_timeout).unwrap_or(10.0);
    if !(connect_timeout > 0.0 && connect_timeout < 3600.0) {
        return Err(format!(
            "hosts.{id}.connect_timeout must be between 0 and 3600 seconds"
        ));
    }
    let sudo = spec.sudo.or(d.sudo).unwrap_or(false);
    let sudo_user = spec
        .sudo_user
        .or_else(|| d.sudo_user.clone())
        .filter(|u| u != "root");
    if sudo_user.is_some() && !sudo {
        return Err(format!(
            "hosts.{id}.sudo_user takes effect only with `sudo: true`"
        ));
    }
    let mut grains = d.grains.clone().unwrap_or_default();
    grains.extend(spec.grains.unwrap_or_default());
    let written = Written {
        host: spec.host.is_some() || d.host.is_some(),
        port: spec.port.is_some() || d.port.is_some(),
        user: spec.user.is_some() || d.user.is_some(),
        identity: spec.identity.is_some() || d.identity.is_some(),
        connect_timeout: spec.connect_timeout.is_some() || d.connect_timeout.is_some(),
    };
    Ok(Host {
        id: id.to_string(),
        connection: spec.connection.or(d.connection).unwrap_or_default(),
        host: spec
            .host
            .or_else(|| d.host.clone())
            .unwrap_or_else(|| id.to_string()),
        port: spec.port.or(d.port).unwrap_or(22),
        user: match spec.user.or_else(|| d.user.clone()) {
            Some(u) => u,
            None => fallback_user.map(str::to_string).ok_or_else(|| {
                format!("host `{id}` names no user, and the login name of whoever runs halite is unknown: set ansible_user, or `user:` under `defaults:` in a halite YAML file")
            })?,
        },
        identity: spec
            .identity
            .or_else(|| d.identity.clone())
            .map(|p| expand_tilde(&p)),
        sudo,
        sudo_user,
        connect_timeout: Duration::from_secs_f64(connect_timeout),
        grains: Value::Object(grains.into_iter().collect()),
        proxy_jump: spec.proxy_jump.or_else(|| d.proxy_jump.clone()),
        written,
    })
}

/// Expand a leading `~/` to `$HOME/`.
pub fn expand_tilde(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(text: &str) -> Result<Inventory, InventoryError> {
        Inventory::from_texts(&[(PathBuf::from("inventory/hosts.yaml"), text.to_string())])
    }

    #[test]
    fn defaults_apply_and_hosts_override() {
        let i = inv("defaults:\n  user: admin\n  port: 2222\n  grains: {dc: paris}\nhosts:\n  a:\n  b:\n    host: 127.0.0.1\n    port: 22\n    grains: {roles: [web]}\n  l:\n    connection: local\n").unwrap();
        assert_eq!(i.hosts["a"].user, "admin");
        assert_eq!(i.hosts["a"].port, 2222);
        assert_eq!(i.hosts["a"].host, "a");
        assert_eq!(i.hosts["b"].port, 22);
        assert_eq!(i.hosts["b"].grains["dc"], "paris");
        assert_eq!(i.hosts["b"].grains["roles"][0], "web");
        assert_eq!(i.hosts["l"].connection, ConnectionKind::Local);
        let i = inv("defaults: {host: 127.0.0.1}\nhosts: {a: {port: 2201}}\n").unwrap();
        assert_eq!(i.hosts["a"].host, "127.0.0.1");
    }

    #[test]
    fn unknown_keys_name_file_and_key() {
        let e = inv("hosts:\n  a:\n    prot: 22\n").unwrap_err().to_string();
        assert!(e.contains("inventory/hosts.yaml:3"), "{e}");
        assert!(e.contains("prot"), "{e}");
        let e = inv("hostz: {}\n").unwrap_err().to_string();
        assert!(e.contains("hostz"), "{e}");
    }

    #[test]
    fn sudo_user_needs_sudo() {
        let e = inv("hosts:\n  a: {sudo_user: app}\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("hosts.a.sudo_user takes effect only with `sudo: true`"),
            "{e}"
        );
        let i =
            inv("defaults: {sudo: true}\nhosts:\n  a: {sudo_user: app}\n  b: {sudo_user: root}\n")
                .unwrap();
        assert_eq!(i.hosts["a"].sudo_user.as_deref(), Some("app"));
        assert_eq!(i.hosts["b"].sudo_user, None, "root is sudo's default");
    }

    #[test]
    fn groups_are_lists_or_expressions() {
        let i = inv("hosts: {a: , b: }\ngroups:\n  g1: 'a or b'\n  g2: [a, b]\n").unwrap();
        assert_eq!(i.groups["g1"], Group::Expr("a or b".into()));
        assert_eq!(i.groups["g2"], Group::List(vec!["a".into(), "b".into()]));
    }

    #[test]
    fn duplicates_across_files_are_errors() {
        let e = Inventory::from_texts(&[
            (PathBuf::from("x.yaml"), "hosts: {a: }\n".into()),
            (PathBuf::from("y.yaml"), "hosts: {a: }\n".into()),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("y.yaml") && e.contains("x.yaml"), "{e}");
    }

    #[test]
    fn duplicates_name_both_files_and_lines() {
        let two = |a: &str, b: &str| {
            Inventory::from_texts(&[
                (PathBuf::from("inventory/a.yaml"), a.into()),
                (PathBuf::from("inventory/b.yaml"), b.into()),
            ])
            .unwrap_err()
            .to_string()
        };
        assert_eq!(
            two(
                "hosts:\n  web1: {}\n  db1: {}\n",
                "# db\nhosts:\n  db1: {}\n"
            ),
            "inventory/b.yaml:3: host `db1` is already defined at inventory/a.yaml:3"
        );
        assert_eq!(
            two(
                "groups: {webs: 'web*'}\n",
                "hosts: {}\ngroups:\n  webs: [a]\n"
            ),
            "inventory/b.yaml:3: group `webs` is already defined at inventory/a.yaml:1"
        );
        assert_eq!(
            two("defaults: {}\n", "hosts: {}\ndefaults: {user: x}\n"),
            "inventory/b.yaml:2: section `defaults` is already defined at inventory/a.yaml:1"
        );
        // Within one file, the YAML layer names the key and both lines.
        let e = inv("hosts:\n  web1: {host: a}\n  web2: {}\n  web1: {host: b}\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "invalid inventory: inventory/hosts.yaml:4:3: duplicate key `web1` (first at line 2)"
        );
    }
}
