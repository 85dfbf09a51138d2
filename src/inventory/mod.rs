//! The inventory: which hosts exist, how to reach them, their static grains
//! and the named groups usable as nodegroups (`-N`).
//!
//! The format is a roster in the spirit of salt-ssh's. `inventory/` may be a
//! single YAML file or a directory whose `*.yaml`/`*.yml` files are merged
//! (a host or group defined twice is an error naming both files and lines;
//! a key repeated in one file is refused by [`crate::yaml`]):
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
//!     grains: {roles: [web]}
//!   db1:
//!     proxy_jump: bastion     # as `ssh -J`: [user@]host[:port],... or a host id
//! groups:              # nodegroups: a compound expression or a list of ids
//!   webs: 'web*'
//!   dbs: [db1, db2]
//! ```
//! Unknown keys are errors naming the file and key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::Value;

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
    /// Run commands through `sudo -n` (when `user` is not root).
    pub sudo: bool,
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
    /// Load the inventory at `path` (a file, or a directory of YAML files).
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let files = if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|error| InventoryError::Read {
                    path: path.to_path_buf(),
                    error,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
                .collect();
            files.sort();
            files
        } else {
            vec![path.to_path_buf()]
        };
        let mut parsed = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|error| InventoryError::Read {
                path: file.clone(),
                error,
            })?;
            parsed.push((file, text));
        }
        Self::from_texts(&parsed)
    }

    /// Build an inventory from `(file name, YAML text)` pairs.
    pub fn from_texts(files: &[(PathBuf, String)]) -> Result<Inventory, InventoryError> {
        let mut docs = Vec::new();
        let mut defaults: Option<(Source, HostSpec)> = None;
        for (path, text) in files {
            let doc: File = if text.trim().is_empty() {
                File::default()
            } else {
                crate::yaml::from_str(text, path).map_err(InventoryError::Yaml)?
            };
            let source = (path.as_path(), text.as_str());
            if let Some(d) = doc.defaults.clone() {
                if let Some((first, _)) = defaults {
                    return Err(twice("section", &["defaults"], first, source));
                }
                defaults = Some((source, d));
            }
            docs.push((source, doc));
        }
        let defaults = defaults.map(|(_, d)| d).unwrap_or_default();
        let mut inv = Inventory::default();
        let mut hosts_from: BTreeMap<String, Source> = BTreeMap::new();
        let mut groups_from: BTreeMap<String, Source> = BTreeMap::new();
        for (source, doc) in docs {
            let path = source.0;
            for (id, spec) in doc.hosts {
                if let Some(&first) = hosts_from.get(&id) {
                    return Err(twice("host", &["hosts", &id], first, source));
                }
                let host =
                    resolve(&id, spec.unwrap_or_default(), &defaults).map_err(|message| {
                        InventoryError::Invalid {
                            path: path.to_path_buf(),
                            message,
                        }
                    })?;
                hosts_from.insert(id.clone(), source);
                inv.hosts.insert(id, host);
            }
            for (name, group) in doc.groups {
                if let Some(&first) = groups_from.get(&name) {
                    return Err(twice("group", &["groups", &name], first, source));
                }
                groups_from.insert(name.clone(), source);
                inv.groups.insert(name, group);
            }
        }
        Ok(inv)
    }
}

/// An inventory file: its path and text.
type Source<'a> = (&'a Path, &'a str);

/// `keys` (e.g. `hosts`, `web1`) written in two files.
fn twice(what: &'static str, keys: &[&str], first: Source, second: Source) -> InventoryError {
    let place = |(path, text): Source| match crate::yaml::key_line(text, keys) {
        Some(line) => format!("{}:{line}", path.display()),
        None => path.display().to_string(),
    };
    InventoryError::DefinedTwice {
        what,
        name: keys.last().copied().unwrap_or_default().to_string(),
        first: place(first),
        second: place(second),
    }
}

fn resolve(id: &str, spec: HostSpec, d: &HostSpec) -> Result<Host, String> {
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
        user: spec
            .user
            .or_else(|| d.user.clone())
            .unwrap_or_else(|| "root".to_string()),
        identity: spec
            .identity
            .or_else(|| d.identity.clone())
            .map(|p| expand_tilde(&p)),
        sudo: spec.sudo.or(d.sudo).unwrap_or(false),
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
