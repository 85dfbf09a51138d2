//! The test-fleet harness: lets integration tests drive the real `halite` binary
//! against real Debian hosts (systemd + OpenSSH in podman containers, built by
//! `tests/fleet/fleet.sh`).
//!
//! - [`Fleet::get`] brings the fleet up once per test process (`fleet.sh up 4`,
//!   idempotent and flock'ed, so parallel test processes are fine) and reads its
//!   description, `$HALITE_FLEET_DIR/fleet.json`.
//! - [`Fleet::workspace`] gives a fresh directory with an inventory of the whole
//!   fleet, a `known_hosts` holding the hosts' real keys, and a `halite.yaml`;
//!   [`Workspace::halite`] runs the binary there.
//! - [`Fleet::podman_exec`] reaches a host behind halite's back, for setup and
//!   verification.
//! - [`Fleet::get_platforms`] brings up the platform test hosts instead
//!   (`fleet.sh up-platforms`: rhel, suse, arch, openrc, sysv), described in
//!   `platforms.json` with fleet.json's shape, each naming its `platform`.
//! - [`Fleet::get_with_pod`] also brings up `pod1`, the privileged host that
//!   runs podman inside (`fleet.sh up 4 --with-pod`); it is kept apart from
//!   [`Fleet::hosts`] and only in a workspace's inventory when asked for
//!   ([`WorkspaceBuilder::with_pod`]), so the other tests never see it.
//!
//! Every host is reached on a published 127.0.0.1 port and nowhere else: the
//! description is refused if it names any other address.
//!
//! Uses std, serde_json and tempfile only.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The number of running hosts the harness asks for.
pub const FLEET_SIZE: usize = 4;
/// How long one `halite` run may take before the harness kills it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The script that builds and starts the fleet.
pub fn fleet_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fleet/fleet.sh")
}

/// Where fleet.sh keeps the key and `fleet.json` (`$HALITE_FLEET_DIR`).
pub fn fleet_dir() -> PathBuf {
    std::env::var_os("HALITE_FLEET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/halite-fleet"))
}

/// One host of the fleet, as `fleet.json` describes it.
#[derive(Debug, Clone)]
pub struct FleetHost {
    /// Inventory id: `node1`.. or `down`.
    pub id: String,
    /// Podman container name: `halite-node1`...
    pub container: String,
    pub hostname: String,
    /// Always a loopback address (checked when the description is read).
    pub address: String,
    pub port: u16,
    /// `false` for the host `down`, whose port refuses connections.
    pub running: bool,
    /// Debian codename from the host's /etc/os-release (`bookworm`, `trixie`, ...).
    pub release: String,
    /// `systemctl is-system-running` when the fleet came up.
    pub system_state: Option<String>,
    /// The halite-drill version the host started with (`Some("1.0")` on odd nodes).
    pub drill_initial: Option<String>,
    /// The host's ed25519 key as in its .pub file: `ssh-ed25519 AAAA... root@nodeN`.
    pub host_key: String,
    /// The platform test host's kind (`rhel`, `suse`, `arch`, `openrc`, `sysv`);
    /// `None` on the Debian fleet.
    pub platform: Option<String>,
}

impl FleetHost {
    /// The host's line for an OpenSSH known_hosts file: `[127.0.0.1]:PORT ssh-ed25519 AAAA...`.
    pub fn known_hosts_line(&self) -> String {
        let mut fields = self.host_key.split_whitespace();
        let kind = fields.next().unwrap_or_default();
        let key = fields.next().unwrap_or_default();
        format!("[{}]:{} {kind} {key}", self.address, self.port)
    }

    /// N for `nodeN`, `None` for `down`.
    pub fn index(&self) -> Option<usize> {
        self.id.strip_prefix("node")?.parse().ok()
    }

    /// Whether the host started with the vulnerable drill package.
    pub fn starts_vulnerable(&self) -> bool {
        self.drill_initial.as_deref() == Some("1.0")
    }

    /// Static grains the harness gives this host in the inventory.
    pub fn static_grains(&self) -> Value {
        match self.index() {
            Some(i) => {
                let mut roles = vec![if i % 2 == 1 { "web" } else { "db" }];
                if i == 1 {
                    roles.push("primary");
                }
                serde_json::json!({
                    "roles": roles,
                    "datacenter": if i <= 2 { "dc1" } else { "dc2" },
                    "fleet_index": i,
                })
            }
            None if self.id == "pod1" => serde_json::json!({"roles": ["containers"]}),
            None if self.platform.is_some() => serde_json::json!({"roles": ["platform"]}),
            None => serde_json::json!({"roles": ["down"], "datacenter": "dc0"}),
        }
    }
}

/// The fleet as `fleet.json` describes it.
#[derive(Debug)]
pub struct Fleet {
    pub dir: PathBuf,
    /// The throwaway test key that every user of every host accepts.
    pub private_key: PathBuf,
    pub public_key: String,
    /// The password of the user `alice` (her sudo asks for it; `deploy`'s does not).
    pub alice_password: String,
    /// Running hosts first (`node1`..), then the stopped host `down`.
    pub hosts: Vec<FleetHost>,
    /// The container host `pod1` (podman inside, a registry on its own
    /// 127.0.0.1:5000), when the fleet was brought up with `--with-pod`.
    pub pod: Option<FleetHost>,
    /// The whole description, for anything not lifted into fields.
    pub json: Value,
}

static FLEET: OnceLock<Result<Fleet, String>> = OnceLock::new();
static FLEET_WITH_POD: OnceLock<Result<Fleet, String>> = OnceLock::new();
static PLATFORMS: OnceLock<Result<Fleet, String>> = OnceLock::new();
static SERIAL: Mutex<()> = Mutex::new(());

impl Fleet {
    /// The fleet, brought up on first use in this process. Panics with the
    /// script's output if it cannot come up.
    pub fn get() -> &'static Fleet {
        match FLEET.get_or_init(|| Fleet::bring_up(false)) {
            Ok(fleet) => fleet,
            Err(message) => panic!("{message}"),
        }
    }

    /// The fleet with the container host `pod1` as well ([`Fleet::pod_host`]).
    pub fn get_with_pod() -> &'static Fleet {
        match FLEET_WITH_POD.get_or_init(|| Fleet::bring_up(true)) {
            Ok(fleet) if fleet.pod.is_some() => fleet,
            Ok(_) => panic!("`fleet.sh up --with-pod` described no pod host"),
            Err(message) => panic!("{message}"),
        }
    }

    /// The platform test hosts (`fleet.sh up-platforms`): one each of rhel,
    /// suse, arch, openrc and sysv, as [`Fleet::hosts`]; no `down`, no pod.
    pub fn get_platforms() -> &'static Fleet {
        let up = || Fleet::bring_up_with(&["up-platforms"], "platforms.json");
        match PLATFORMS.get_or_init(up) {
            Ok(fleet) => fleet,
            Err(message) => panic!("{message}"),
        }
    }

    fn bring_up(with_pod: bool) -> Result<Fleet, String> {
        let size = FLEET_SIZE.to_string();
        let mut args = vec!["up", size.as_str()];
        if with_pod {
            args.push("--with-pod");
        }
        Fleet::bring_up_with(&args, "fleet.json")
    }

    /// Run `fleet.sh ARGS` and read the description it writes, `file`.
    fn bring_up_with(args: &[&str], file: &str) -> Result<Fleet, String> {
        let script = fleet_script();
        let shown = args.join(" ");
        eprintln!(
            "harness: `{} {shown}` (the first run builds images, a few minutes)",
            script.display()
        );
        let mut command = Command::new("bash");
        command
            .arg(&script)
            .args(args)
            .env("HALITE_FLEET_DIR", fleet_dir());
        let out = run_with_timeout(&mut command, Duration::from_secs(1800))
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.success() {
            return Err(format!(
                "the test fleet did not come up: `{} {shown}` {}\n\
                 (it needs root, podman and Debian's package mirror; run it by hand to see more)\n\
                 --- stdout\n{}\n--- stderr\n{}",
                script.display(),
                out.describe_exit(),
                out.stdout,
                out.stderr
            ));
        }
        let path = fleet_dir().join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Fleet::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parse a `fleet.json`.
    pub fn parse(text: &str) -> Result<Fleet, String> {
        let json: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        let str_at = |v: &Value, key: &str| -> Result<String, String> {
            v.get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("missing string `{key}` in {v}"))
        };
        let opt_str = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
        let parse_host = |h: &Value| -> Result<FleetHost, String> {
            let address = str_at(h, "address")?;
            let loopback = address
                .parse::<std::net::IpAddr>()
                .map(|a| a.is_loopback())
                .unwrap_or(false);
            if !loopback {
                return Err(format!(
                    "host address {address} is not a loopback address; the harness only ever connects to 127.0.0.1"
                ));
            }
            let port = h
                .get("port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| format!("missing or bad `port` in {h}"))?;
            Ok(FleetHost {
                id: str_at(h, "id")?,
                container: str_at(h, "container")?,
                hostname: str_at(h, "hostname")?,
                address,
                port,
                running: str_at(h, "state")? == "running",
                release: opt_str(h, "release").unwrap_or_default(),
                system_state: opt_str(h, "system_state"),
                drill_initial: opt_str(h, "drill_initial"),
                host_key: opt_str(h, "host_key").unwrap_or_default(),
                platform: opt_str(h, "platform"),
            })
        };
        let hosts = json
            .get("hosts")
            .and_then(Value::as_array)
            .ok_or("missing `hosts`")?
            .iter()
            .map(parse_host)
            .collect::<Result<Vec<_>, _>>()?;
        let pod = match json.get("pod") {
            None | Some(Value::Null) => None,
            Some(h) => Some(parse_host(h)?),
        };
        Ok(Fleet {
            dir: PathBuf::from(str_at(&json, "fleet_dir")?),
            private_key: PathBuf::from(str_at(&json, "private_key")?),
            public_key: str_at(&json, "public_key")?,
            alice_password: json
                .pointer("/users/alice/password")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            hosts,
            pod,
            json,
        })
    }

    /// The host with inventory id `id` (`node1`, `down`); panics if there is none.
    pub fn host(&self, id: &str) -> &FleetHost {
        self.hosts
            .iter()
            .chain(self.pod.iter())
            .find(|h| h.id == id || h.container == id)
            .unwrap_or_else(|| panic!("the fleet has no host `{id}`"))
    }

    /// The container host `pod1`; panics unless the fleet came up with it
    /// ([`Fleet::get_with_pod`]).
    pub fn pod_host(&self) -> &FleetHost {
        self.pod
            .as_ref()
            .expect("the fleet has no pod host (use Fleet::get_with_pod)")
    }

    /// The running hosts, `node1`...
    pub fn running(&self) -> impl Iterator<Item = &FleetHost> {
        self.hosts.iter().filter(|h| h.running)
    }

    /// The stopped host whose port refuses connections.
    pub fn down_host(&self) -> &FleetHost {
        self.hosts
            .iter()
            .find(|h| !h.running)
            .expect("the fleet has no stopped host")
    }

    /// Hold this while a test changes shared host state (packages, services,
    /// files), so tests of this process that do the same take turns.
    pub fn serial(&self) -> MutexGuard<'static, ()> {
        SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A fresh workspace with the default inventory, known_hosts and halite.yaml.
    pub fn workspace(&'static self) -> Workspace {
        self.workspace_builder().build()
    }

    /// A workspace to customise before it is written.
    pub fn workspace_builder(&'static self) -> WorkspaceBuilder {
        WorkspaceBuilder {
            fleet: self,
            with_pod: false,
            extra_inventory: Vec::new(),
            known_hosts: BTreeMap::new(),
            halite_yaml_extra: String::new(),
        }
    }

    /// Run `sh -c CMD` on host `node` (`node1` or `halite-node1`) with podman, not
    /// through SSH: for test setup and for checking what halite did.
    pub fn podman_exec(&self, node: &str, cmd: &str) -> RunOutput {
        let container = &self.host(node).container;
        run_with_timeout(
            Command::new("podman").args(["--runtime", "runc", "exec", container, "sh", "-c", cmd]),
            Duration::from_secs(600),
        )
        .unwrap_or_else(|e| panic!("cannot run podman exec on {container}: {e}"))
    }

    /// Like [`Fleet::podman_exec`], panicking unless the command succeeds; returns stdout.
    pub fn podman_exec_ok(&self, node: &str, cmd: &str) -> String {
        let out = self.podman_exec(node, cmd);
        if !out.success() {
            panic!("podman exec on {node} failed: {cmd}\n{out}");
        }
        out.stdout
    }

    /// The installed halite-drill version on `node`, `None` when not installed.
    pub fn drill_version(&self, node: &str) -> Option<String> {
        let out = self.podman_exec(
            node,
            "dpkg-query -W -f '${db:Status-Abbrev} ${Version}' halite-drill 2>/dev/null",
        );
        let text = out.stdout.trim();
        text.strip_prefix("ii ")
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// Put halite-drill on `node` back to how the host started (1.0 on odd nodes,
    /// not installed on even ones).
    pub fn reset_drill(&self, node: &str) {
        let host = self.host(node);
        let cmd = match host.drill_initial.as_deref() {
            Some("1.0") => "dpkg -i /srv/halite-drill-1.0.deb >/dev/null",
            _ => "dpkg -P halite-drill >/dev/null 2>&1 || true",
        };
        self.podman_exec_ok(&host.id, cmd);
    }

    /// Run `cmd` on `host` as `user` with the system's OpenSSH client, checking the
    /// host key strictly against `known_hosts` (not through halite).
    pub fn ssh(&self, host: &FleetHost, user: &str, known_hosts: &Path, cmd: &str) -> RunOutput {
        let mut command = Command::new("ssh");
        command
            .args(["-F", "/dev/null", "-i"])
            .arg(&self.private_key)
            .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
            .args([
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "ConnectTimeout=10",
                "-p",
            ])
            .arg(host.port.to_string())
            .arg(format!("{user}@{}", host.address))
            .arg("--")
            .arg(cmd)
            .env_remove("SSH_AUTH_SOCK");
        run_with_timeout(&mut command, Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("cannot run ssh: {e}"))
    }
}

/// Customises a [`Workspace`] before it is written.
pub struct WorkspaceBuilder {
    fleet: &'static Fleet,
    with_pod: bool,
    extra_inventory: Vec<(String, String)>,
    /// Host id -> replacement key line (`None` drops the host's entry).
    known_hosts: BTreeMap<String, Option<String>>,
    halite_yaml_extra: String,
}

impl WorkspaceBuilder {
    /// Put the container host `pod1` in the inventory and known_hosts too.
    pub fn with_pod(mut self) -> Self {
        self.with_pod = true;
        self
    }

    /// Add `inventory/NAME` (a YAML file merged with the generated `hosts.yaml`).
    pub fn inventory_file(mut self, name: &str, yaml: &str) -> Self {
        self.extra_inventory
            .push((name.to_string(), yaml.to_string()));
        self
    }

    /// Record `key` (`ssh-ed25519 AAAA...`) as host `id`'s key instead of its real one.
    pub fn known_host(mut self, id: &str, key: &str) -> Self {
        self.known_hosts
            .insert(id.to_string(), Some(key.to_string()));
        self
    }

    /// Leave host `id` out of `known_hosts`.
    pub fn without_known_host(mut self, id: &str) -> Self {
        self.known_hosts.insert(id.to_string(), None);
        self
    }

    /// Append YAML lines to the generated `halite.yaml`.
    pub fn halite_yaml(mut self, yaml: &str) -> Self {
        self.halite_yaml_extra.push_str(yaml);
        if !yaml.ends_with('\n') {
            self.halite_yaml_extra.push('\n');
        }
        self
    }

    pub fn build(self) -> Workspace {
        let dir = tempfile::Builder::new()
            .prefix("halite-ws-")
            .tempdir()
            .expect("cannot create a workspace tempdir");
        let ws = Workspace {
            dir,
            fleet: self.fleet,
        };
        std::fs::create_dir_all(ws.inventory_dir()).unwrap();
        std::fs::create_dir_all(ws.cache_dir()).unwrap();
        ws.write(
            "inventory/hosts.yaml",
            &inventory_yaml(self.fleet, self.with_pod),
        );
        for (name, yaml) in &self.extra_inventory {
            ws.write(&format!("inventory/{name}"), yaml);
        }
        let mut known_hosts = String::new();
        let pod = self.fleet.pod.iter().filter(|_| self.with_pod);
        for host in self.fleet.hosts.iter().chain(pod) {
            match self.known_hosts.get(&host.id) {
                None if !host.host_key.is_empty() => {
                    known_hosts.push_str(&host.known_hosts_line());
                    known_hosts.push('\n');
                }
                Some(Some(key)) => {
                    known_hosts.push_str(&format!("[{}]:{} {key}\n", host.address, host.port));
                }
                _ => {}
            }
        }
        ws.write("known_hosts", &known_hosts);
        ws.write(
            "halite.yaml",
            &format!(
                "# Written by tests/harness for one test: the fleet's inventory and host keys.\n\
                 inventory: inventory\nknown_hosts: known_hosts\ncache_dir: cache\n{}",
                self.halite_yaml_extra
            ),
        );
        ws
    }
}

/// A YAML scalar: JSON strings and numbers are valid YAML.
fn y(v: impl Into<Value>) -> String {
    v.into().to_string()
}

/// The inventory of the whole fleet: every host as root with the test key, static
/// grains, and groups.
fn inventory_yaml(fleet: &Fleet, with_pod: bool) -> String {
    let key = fleet.private_key.display().to_string();
    let mut out = String::from(
        "# Written by tests/harness: the test fleet (tests/fleet/fleet.sh).\nhosts:\n",
    );
    let pod = fleet.pod.iter().filter(|_| with_pod);
    for h in fleet.hosts.iter().chain(pod) {
        out.push_str(&format!(
            "  {}:\n    host: {}\n    port: {}\n    user: root\n    identity: {}\n    connect_timeout: {}\n    grains: {}\n",
            h.id,
            y(h.address.as_str()),
            h.port,
            y(key.as_str()),
            if h.running { 10 } else { 3 },
            h.static_grains()
        ));
    }
    let ids = |keep: &dyn Fn(&FleetHost) -> bool| -> String {
        let list: Vec<Value> = fleet
            .hosts
            .iter()
            .filter(|h| keep(h))
            .map(|h| Value::from(h.id.as_str()))
            .collect();
        Value::from(list).to_string()
    };
    let has_role = |h: &FleetHost, role: &str| {
        h.static_grains()["roles"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x == role))
    };
    let main_release = fleet
        .hosts
        .first()
        .map(|h| h.release.clone())
        .unwrap_or_default();
    out.push_str("groups:\n");
    out.push_str(&format!("  webs: {}\n", ids(&|h| has_role(h, "web"))));
    out.push_str(&format!("  dbs: {}\n", ids(&|h| has_role(h, "db"))));
    out.push_str(&format!("  up: {}\n", ids(&|h| h.running)));
    out.push_str(&format!("  everything: {}\n", ids(&|_| true)));
    out.push_str(&format!(
        "  vulnerable: {}\n",
        ids(&|h| h.starts_vulnerable())
    ));
    out.push_str(&format!(
        "  main_release: {}\n",
        ids(&|h| h.running && h.release == main_release)
    ));
    out.push_str("  nodes_glob: 'node*'\n");
    out
}

/// A fresh directory holding `inventory/hosts.yaml`, `known_hosts`, `halite.yaml`
/// and `cache/`; removed when dropped.
pub struct Workspace {
    dir: tempfile::TempDir,
    pub fleet: &'static Fleet,
}

impl Workspace {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn inventory_dir(&self) -> PathBuf {
        self.path().join("inventory")
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.path().join("known_hosts")
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.path().join("cache")
    }

    /// Write `contents` to `rel` (relative to the workspace), creating parent dirs.
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let path = self.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    pub fn read(&self, rel: &str) -> String {
        let path = self.path().join(rel);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    /// Replace host `id`'s known_hosts entry with `key` (`ssh-ed25519 AAAA...`),
    /// or drop it when `key` is `None`.
    pub fn set_known_host(&self, id: &str, key: Option<&str>) {
        let host = self.fleet.host(id);
        let prefix = format!("[{}]:{} ", host.address, host.port);
        let mut text: String = self
            .read("known_hosts")
            .lines()
            .filter(|l| !l.starts_with(&prefix))
            .map(|l| format!("{l}\n"))
            .collect();
        if let Some(key) = key {
            text.push_str(&format!("{prefix}{key}\n"));
        }
        self.write("known_hosts", &text);
    }

    /// A `halite` command ready to run here: cwd = workspace, `--inventory` and
    /// `--known-hosts` given, `HALITE_CACHE_DIR` set, no ssh-agent.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_halite"));
        cmd.current_dir(self.path())
            .arg("--inventory")
            .arg(self.inventory_dir())
            .arg("--known-hosts")
            .arg(self.known_hosts())
            .args(args)
            .env("HALITE_CACHE_DIR", self.cache_dir())
            .env("NO_COLOR", "1")
            .env_remove("SSH_AUTH_SOCK");
        cmd
    }

    /// Run `halite --inventory .. --known-hosts .. ARGS` here.
    pub fn halite<I, S>(&self, args: I) -> RunOutput
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.halite_timeout(args, DEFAULT_TIMEOUT)
    }

    pub fn halite_timeout<I, S>(&self, args: I, timeout: Duration) -> RunOutput
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run_with_timeout(&mut self.command(args), timeout)
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", env!("CARGO_BIN_EXE_halite")))
    }

    /// Run `halite --out json ARGS` here and parse stdout; panics (showing both
    /// streams) when stdout is not JSON. The exit code is left to the caller.
    pub fn halite_json<I, S>(&self, args: I) -> (RunOutput, Value)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all: Vec<std::ffi::OsString> = vec!["--out".into(), "json".into()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        let out = self.halite(all);
        let json = out.json();
        (out, json)
    }
}

/// What a command printed and how it ended.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// The command line, for messages.
    pub command: String,
    pub stdout: String,
    pub stderr: String,
    /// `None` when killed by a signal (or by the harness's timeout).
    pub code: Option<i32>,
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl RunOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Panic (showing both streams) unless the command exited 0.
    pub fn assert_success(&self) -> &Self {
        assert!(self.success(), "command failed:\n{self}");
        self
    }

    /// Parse stdout as JSON; panics showing both streams when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }

    fn describe_exit(&self) -> String {
        match (self.timed_out, self.code) {
            (true, _) => format!("timed out after {:?}", self.elapsed),
            (false, Some(c)) => format!("exited {c}"),
            (false, None) => "was killed by a signal".to_string(),
        }
    }
}

impl std::fmt::Display for RunOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ {}\n{} in {:.1?}\n--- stdout\n{}\n--- stderr\n{}",
            self.command,
            self.describe_exit(),
            self.elapsed,
            self.stdout,
            self.stderr
        )
    }
}

/// Run `cmd` with stdin closed, capturing both streams; kill it after `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> std::io::Result<RunOutput> {
    let command = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > timeout {
            timed_out = true;
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(RunOutput {
        command,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        code: if timed_out { None } else { status.code() },
        timed_out,
        elapsed: start.elapsed(),
    })
}

// ---- one host's runs, as the platform tests drive them -------------------

/// `halite --out json ARGS` in `ws`: (exit code, -1 when killed; the JSON).
pub fn run_json(ws: &Workspace, args: &[&str]) -> (i32, Value) {
    let (out, v) = ws.halite_json(args);
    (out.code.unwrap_or(-1), v)
}

/// `HOST state.apply SLS [test=True]`: (exit code, the host's result).
pub fn apply_sls(ws: &Workspace, host: &str, sls: &str, test: bool) -> (i32, Value) {
    let mut args = vec![host, "state.apply", sls];
    if test {
        args.push("test=True");
    }
    let (code, v) = run_json(ws, &args);
    (code, v["results"][host].clone())
}

/// (result, changes, comment) of one state's return.
fn state_parts(s: &Value) -> (Value, Value, String) {
    (
        s["result"].clone(),
        s["changes"].clone(),
        s["comment"].as_str().unwrap_or("").to_string(),
    )
}

/// The one state of a host's result: (result, changes, comment); panics
/// (showing the result) unless there is exactly one.
pub fn only_state(h: &Value) -> (Value, Value, String) {
    let states = h["ret"].as_object().unwrap_or_else(|| panic!("{h}"));
    assert_eq!(states.len(), 1, "{h}");
    state_parts(states.values().next().unwrap())
}

/// The state with ID `id` of a host's result: (result, changes, comment).
pub fn state_by_id(h: &Value, id: &str) -> (Value, Value, String) {
    let states = h["ret"].as_object().unwrap_or_else(|| panic!("{h}"));
    let s = states
        .iter()
        .find(|(k, _)| k.contains(&format!("_|-{id}_|-")))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no state {id}: {h}"));
    state_parts(s)
}

/// A host's `state.apply` result (`v["results"][HOST]`): state ID ->
/// (result, changes, comment).
pub fn state_results(h: &Value) -> BTreeMap<String, (Value, Value, String)> {
    h["ret"]
        .as_object()
        .unwrap_or_else(|| panic!("no state results: {h}"))
        .values()
        .map(|s| {
            (
                s["__id__"].as_str().unwrap().to_string(),
                (
                    s["result"].clone(),
                    s["changes"].clone(),
                    s["comment"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}
