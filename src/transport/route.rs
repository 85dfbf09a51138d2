//! How each host is reached: the inventory and ~/.ssh/config combined into
//! endpoints (where to connect, as whom, with which keys and known_hosts)
//! and the jump hosts in front of them.
//!
//! Built once per run, before anything connects ([`Routes::build`]), so that
//! a bad `proxy_jump`, a ProxyJump loop or a token ssh_config cannot expand
//! stops the run with exit 2 instead of failing hosts one by one.
//!
//! Precedence, per value: what the inventory wrote (for the host or in
//! `defaults:`) > ssh_config (first value obtained wins) > halite's defaults
//! (user root, port 22, 10 s connect timeout).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ssh_config::{self, Hop, Proxy, Query, Resolved, SshConfig, SshConfigError, Strict};
use crate::inventory::{ConnectionKind, Host};

/// At most this many jump hosts in front of one host (OpenSSH has no limit
/// but recursion; a loop must end somewhere).
const MAX_HOPS: usize = 8;

/// Why a host's route cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("host {host}: proxy_jump: {message}")]
    ProxyJump { host: String, message: String },
    #[error("host {host}: jump hosts form a loop or are nested deeper than {MAX_HOPS}: {chain}")]
    Loop { host: String, chain: String },
    #[error(transparent)]
    Config(#[from] SshConfigError),
}

/// How to log in to an endpoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Auth {
    /// The inventory's `identity`: only this key (as `IdentitiesOnly`).
    pub pinned: Option<PathBuf>,
    /// ssh_config's `IdentityFile`s, expanded, in order.
    pub files: Vec<PathBuf>,
    /// ssh_config's `CertificateFile`s, expanded; `KEY-cert.pub` next to a
    /// key is found without being listed.
    pub certificates: Vec<PathBuf>,
    /// `IdentitiesOnly yes`: the agent's keys are not offered on their own.
    pub identities_only: bool,
}

/// One SSH server on the way: where it is, as whom to log in, how its key
/// is checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// The name connected to (after `HostName`), also the name its key is
    /// looked up under in known_hosts.
    pub name: String,
    pub port: u16,
    pub user: String,
    pub auth: Auth,
    /// ssh_config's `UserKnownHostsFile` (empty for `none`); `None`: the
    /// run's known_hosts.
    pub known_hosts: Option<Vec<PathBuf>>,
    /// ssh_config's `StrictHostKeyChecking`, when it loosens the default.
    pub accept_new: bool,
    pub connect_timeout: Duration,
    /// `ServerAliveInterval` / `ServerAliveCountMax` when ssh_config sets them.
    pub keepalive: Option<(Duration, u32)>,
    /// ssh_config's `ProxyCommand` (tokens expanded): speak SSH over its
    /// stdin/stdout instead of a TCP connection.
    pub proxy_command: Option<String>,
}

impl Endpoint {
    /// `name:port` (`[v6]:port`), as used in messages.
    pub fn addr(&self) -> String {
        if self.name.contains(':') {
            format!("[{}]:{}", self.name, self.port)
        } else {
            format!("{}:{}", self.name, self.port)
        }
    }

    /// `user@name:port`, how a jump host is named in messages.
    pub fn label(&self) -> String {
        format!("{}@{}", self.user, self.addr())
    }
}

/// A host's endpoint and the jump hosts before it, first hop first.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub jumps: Vec<Endpoint>,
    pub target: Endpoint,
}

impl Route {
    /// The inventory's values alone (no ssh_config).
    pub fn direct(host: &Host) -> Route {
        Route {
            jumps: Vec::new(),
            target: Endpoint {
                name: host.host.clone(),
                port: host.port,
                user: host.user.clone(),
                auth: Auth {
                    pinned: host.identity.clone(),
                    ..Auth::default()
                },
                known_hosts: None,
                accept_new: false,
                connect_timeout: host.connect_timeout,
                keepalive: None,
                proxy_command: None,
            },
        }
    }
}

/// Every inventory host's route, by id.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    by_id: BTreeMap<String, Route>,
}

impl Routes {
    pub fn get(&self, id: &str) -> Option<&Route> {
        self.by_id.get(id)
    }

    /// Routes for every SSH host of the inventory. `config`: the parsed
    /// ssh_config, if one is read.
    pub fn build(
        hosts: &BTreeMap<String, Host>,
        config: Option<&SshConfig>,
        home: &Path,
        local_user: &str,
    ) -> Result<Routes, RouteError> {
        let b = Builder {
            hosts,
            config,
            home,
            local_user,
        };
        let mut by_id = BTreeMap::new();
        for host in hosts.values() {
            if host.connection == ConnectionKind::Ssh {
                by_id.insert(host.id.clone(), b.host_route(host, &mut Vec::new())?);
            }
        }
        Ok(Routes { by_id })
    }
}

struct Builder<'a> {
    hosts: &'a BTreeMap<String, Host>,
    config: Option<&'a SshConfig>,
    home: &'a Path,
    local_user: &'a str,
}

impl Builder<'_> {
    fn resolve(&self, q: &Query) -> Result<Resolved, RouteError> {
        match self.config {
            Some(c) => Ok(c.resolve(q)?),
            None => Ok(Resolved {
                user: q.user.map(str::to_string),
                port: q.port,
                ..Resolved::default()
            }),
        }
    }

    /// An inventory host's route; `seen` holds the names on the way here.
    fn host_route(&self, host: &Host, seen: &mut Vec<String>) -> Result<Route, RouteError> {
        let w = host.written;
        let q = Query {
            host: &host.host,
            user: w.user.then_some(host.user.as_str()),
            port: w.port.then_some(host.port),
            local_user: self.local_user,
            home: self.home,
        };
        let r = self.resolve(&q)?;
        let mut target = self.endpoint(&q, &r, "root")?;
        if w.host {
            target.name = host.host.clone();
        }
        if w.identity || host.identity.is_some() {
            target.auth.pinned = host.identity.clone();
        }
        if w.connect_timeout || r.connect_timeout.is_none() {
            target.connect_timeout = host.connect_timeout;
        }
        let jumps = match host.proxy_jump.as_deref() {
            Some(j) if j.eq_ignore_ascii_case("none") => Vec::new(),
            Some(j) => {
                let hops = ssh_config::parse_jumps(j).map_err(|message| RouteError::ProxyJump {
                    host: host.id.clone(),
                    message,
                })?;
                target.proxy_command = None;
                // `defaults: {proxy_jump: bastion}` reaches the bastion
                // itself directly: a host cannot be its own jump host.
                let first_is_self = hops
                    .first()
                    .is_some_and(|h| h.user.is_none() && h.port.is_none() && h.host == host.id);
                if first_is_self {
                    Vec::new()
                } else {
                    self.hops(&host.id, &hops, seen)?
                }
            }
            None => self.config_jumps(&host.id, &r, seen)?,
        };
        Ok(Route { jumps, target })
    }

    /// ssh_config's ProxyJump for a host (ProxyCommand stays on the endpoint).
    fn config_jumps(
        &self,
        id: &str,
        r: &Resolved,
        seen: &mut Vec<String>,
    ) -> Result<Vec<Endpoint>, RouteError> {
        match &r.proxy {
            Some(Proxy::Jump(hops)) => self.hops(id, hops, seen),
            _ => Ok(Vec::new()),
        }
    }

    /// `ProxyJump a,b,c`: a is reached by its own route (its own jump
    /// hosts too); b through a, c through b, as `ssh -J` does.
    fn hops(
        &self,
        id: &str,
        hops: &[Hop],
        seen: &mut Vec<String>,
    ) -> Result<Vec<Endpoint>, RouteError> {
        let mut out = Vec::new();
        for (i, hop) in hops.iter().enumerate() {
            let key = hop.to_string();
            if seen.contains(&key) || seen.len() >= MAX_HOPS {
                seen.push(key);
                return Err(RouteError::Loop {
                    host: id.to_string(),
                    chain: seen.join(" -> "),
                });
            }
            seen.push(key);
            let route = self.hop_route(hop, seen)?;
            seen.pop();
            if i == 0 {
                out.extend(route.jumps);
            }
            out.push(route.target);
        }
        if out.len() > MAX_HOPS {
            return Err(RouteError::Loop {
                host: id.to_string(),
                chain: out
                    .iter()
                    .map(Endpoint::label)
                    .collect::<Vec<_>>()
                    .join(" -> "),
            });
        }
        Ok(out)
    }

    /// A jump host: an inventory host by id (its settings), or a name
    /// ssh_config resolves (user: the hop's, ssh_config's, else the local
    /// user, as `ssh -J` does).
    fn hop_route(&self, hop: &Hop, seen: &mut Vec<String>) -> Result<Route, RouteError> {
        if hop.user.is_none() && hop.port.is_none() {
            if let Some(h) = self.hosts.get(&hop.host) {
                if h.connection == ConnectionKind::Ssh {
                    return self.host_route(h, seen);
                }
            }
        }
        let q = Query {
            host: &hop.host,
            user: hop.user.as_deref(),
            port: hop.port,
            local_user: self.local_user,
            home: self.home,
        };
        let r = self.resolve(&q)?;
        let target = self.endpoint(&q, &r, self.local_user)?;
        let jumps = self.config_jumps(&hop.host, &r, seen)?;
        Ok(Route { jumps, target })
    }

    fn endpoint(&self, q: &Query, r: &Resolved, user: &str) -> Result<Endpoint, RouteError> {
        let files = r
            .identity_files
            .iter()
            .map(|f| r.expand_path(f, q))
            .collect::<Result<Vec<_>, _>>()?;
        let certificates = r
            .certificate_files
            .iter()
            .map(|f| r.expand_path(f, q))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Endpoint {
            name: r.hostname.clone().unwrap_or_else(|| q.host.to_string()),
            port: r.port.unwrap_or(22),
            user: r.user.clone().unwrap_or_else(|| user.to_string()),
            auth: Auth {
                pinned: None,
                files,
                certificates,
                identities_only: r.identities_only.unwrap_or(false),
            },
            known_hosts: r.known_hosts(q)?,
            // `no`/`off` would let OpenSSH connect to a host whose key
            // changed; halite only records new keys (see README).
            accept_new: matches!(r.strict, Some(Strict::AcceptNew | Strict::No)),
            connect_timeout: r.connect_timeout.unwrap_or(Duration::from_secs(10)),
            keepalive: r
                .server_alive_interval
                .filter(|d| !d.is_zero())
                .map(|d| (d, r.server_alive_count_max.unwrap_or(3))),
            proxy_command: r.proxy_command(q)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Inventory;

    fn routes(inv: &str, cfg: Option<&str>) -> Result<Routes, RouteError> {
        let inv = Inventory::from_texts(&[(PathBuf::from("inv.yaml"), inv.to_string())]).unwrap();
        let cfg = cfg.map(|c| SshConfig::parse(c, Path::new("/cfg"), Path::new("/h")).unwrap());
        Routes::build(&inv.hosts, cfg.as_ref(), Path::new("/h"), "me")
    }

    #[test]
    fn inventory_wins_over_ssh_config() {
        let r = routes(
            "defaults: {user: admin}\nhosts:\n  web1: {port: 2200}\n  web2: {host: 10.0.0.2}\n",
            Some(
                "Host web*\n  HostName %h.lan\n  User cfg\n  Port 2222\n  IdentityFile ~/.ssh/k\n",
            ),
        )
        .unwrap();
        let t = &r.get("web1").unwrap().target;
        assert_eq!(
            (t.name.as_str(), t.port, t.user.as_str()),
            ("web1.lan", 2200, "admin")
        );
        assert_eq!(t.auth.files, vec![PathBuf::from("/h/.ssh/k")]);
        // Patterns match the name ssh would be given: the inventory's
        // `host` when written (as Ansible passes ansible_host), else the id.
        let t = &r.get("web2").unwrap().target;
        assert_eq!((t.name.as_str(), t.port), ("10.0.0.2", 22));
    }

    #[test]
    fn defaults_stay_when_nothing_is_written() {
        let r = routes("hosts: {a: }\n", None).unwrap();
        let t = &r.get("a").unwrap().target;
        assert_eq!(
            (t.name.as_str(), t.port, t.user.as_str()),
            ("a", 22, "root")
        );
    }

    #[test]
    fn proxy_jump_by_id_and_by_name() {
        let r = routes(
            "hosts:\n  bastion: {host: 127.0.0.1, port: 2201, user: jump, identity: /k}\n  t1: {proxy_jump: bastion}\n  t2: {proxy_jump: 'u@b2:2202,bastion'}\n",
            None,
        )
        .unwrap();
        let j = &r.get("t1").unwrap().jumps;
        assert_eq!(j.len(), 1);
        assert_eq!(j[0].label(), "jump@127.0.0.1:2201");
        assert_eq!(j[0].auth.pinned, Some(PathBuf::from("/k")));
        let j = &r.get("t2").unwrap().jumps;
        let labels: Vec<String> = j.iter().map(Endpoint::label).collect();
        assert_eq!(labels, ["u@b2:2202", "jump@127.0.0.1:2201"]);
    }

    #[test]
    fn config_proxy_jump_chains_and_loops() {
        let r = routes(
            "hosts: {t: }\n",
            Some("Host t\n  ProxyJump b1\nHost b1\n  ProxyJump b0\n  User j1\n"),
        )
        .unwrap();
        let labels: Vec<String> = r
            .get("t")
            .unwrap()
            .jumps
            .iter()
            .map(Endpoint::label)
            .collect();
        assert_eq!(labels, ["me@b0:22", "j1@b1:22"]);
        let e = routes(
            "hosts: {t: }\n",
            Some("Host t\n  ProxyJump b1\nHost b1\n  ProxyJump t\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("loop"), "{e}");
        let e = routes("hosts: {t: {proxy_jump: 'a:x'}}\n", None)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "host t: proxy_jump: invalid ProxyJump \"a:x\"");
    }

    #[test]
    fn proxy_jump_in_defaults_skips_the_bastion_itself() {
        let r = routes(
            "defaults: {proxy_jump: bastion}\nhosts:\n  bastion: {host: 127.0.0.1}\n  a:\n  b:\n",
            None,
        )
        .unwrap();
        assert!(r.get("bastion").unwrap().jumps.is_empty());
        for id in ["a", "b"] {
            let labels: Vec<String> = r
                .get(id)
                .unwrap()
                .jumps
                .iter()
                .map(Endpoint::label)
                .collect();
            assert_eq!(labels, ["root@127.0.0.1:22"]);
        }
    }

    #[test]
    fn inventory_proxy_jump_none_overrides_config() {
        let r = routes(
            "hosts: {t: {proxy_jump: none}}\n",
            Some("Host t\n  ProxyJump b1\n"),
        )
        .unwrap();
        assert!(r.get("t").unwrap().jumps.is_empty());
    }
}
