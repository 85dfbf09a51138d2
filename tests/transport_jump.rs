//! Jump hosts, ssh_config and user certificates, end to end: the real
//! `halite` binary against real OpenSSH servers.
//!
//! Targets sit in a network namespace the test creates, listening on that
//! namespace's own loopback: the controller cannot reach them at all. The
//! bastion is reachable from the controller on 127.0.0.1 (a listener here
//! hands each connection to `sshd -i` run inside the namespace), so the
//! only way to a target is a `direct-tcpip` channel on the bastion. No
//! traffic leaves 127.0.0.1 or the test's own namespace.
//!
//! Needs root (`ip netns`), iproute2 and /usr/sbin/sshd; without them the
//! tests say SKIPPED and pass, except under tests/all.sh
//! (HALITE_REQUIRE_TOOLS=1).

use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

fn skip(why: &str) -> bool {
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    if std::env::var_os("HALITE_REQUIRE_TOOLS").is_some() {
        panic!("{test}: {why}, and HALITE_REQUIRE_TOOLS is set");
    }
    eprintln!("SKIPPED: {test}: {why}");
    true
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn keygen(path: &Path) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "halite-test", "-f"])
        .arg(path));
}

/// A network namespace with its loopback up, deleted when dropped.
struct Netns {
    name: String,
}

impl Netns {
    fn create() -> Option<Netns> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "halite-jump-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
        let ns = Netns { name };
        run(Command::new("ip").args(["-n", &ns.name, "link", "set", "lo", "up"]));
        Some(ns)
    }

    fn exec(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// One sshd's files: config, host key, authorized keys, log.
struct Server {
    dir: PathBuf,
    name: String,
}

impl Server {
    fn new(root: &Path, name: &str, port: u16, extra: &str) -> Server {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        keygen(&dir.join("host_ed25519"));
        let d = dir.display();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_ed25519\n\
                 AuthorizedKeysFile {d}/authorized_keys\nUsePAM no\nStrictModes no\n\
                 PidFile none\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\nSetEnv SHLVL=1\nLogLevel VERBOSE\n{extra}\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.join("authorized_keys"), "").unwrap();
        Server {
            dir,
            name: name.to_string(),
        }
    }

    fn authorize(&self, public_key: &Path) {
        std::fs::write(
            self.dir.join("authorized_keys"),
            std::fs::read_to_string(public_key).unwrap(),
        )
        .unwrap();
    }

    fn host_key(&self) -> String {
        let public = std::fs::read_to_string(self.dir.join("host_ed25519.pub")).unwrap();
        public
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    fn config(&self) -> PathBuf {
        self.dir.join("sshd_config")
    }
}

/// A daemon sshd inside the namespace (a target or an inner jump host).
struct Daemon {
    child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn daemon(ns: &Netns, server: &Server) -> Daemon {
    let log = server.dir.join("sshd.log");
    let child = ns
        .exec(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(server.config())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start sshd");
    let started = Instant::now();
    while !server.log().contains("Server listening on") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} did not start:\n{}",
            server.name,
            server.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    Daemon { child }
}

/// The bastion: 127.0.0.1:PORT here, each connection served by `sshd -i`
/// inside the namespace, so its onward connections start there.
struct Bastion {
    port: u16,
    stop: Arc<AtomicBool>,
    children: Arc<Mutex<Vec<Child>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Bastion {
    fn start(ns: &Netns, server: &Server) -> Bastion {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let children = Arc::new(Mutex::new(Vec::new()));
        let (stop2, children2) = (stop.clone(), children.clone());
        let ns_name = ns.name.clone();
        let config = server.config();
        let log = server.dir.join("sshd.log");
        let pids_file = server.dir.join("sessions.pids");
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let stream = match listener.accept() {
                    Ok((s, _)) => s,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                };
                stream.set_nonblocking(false).unwrap();
                let out = stream.try_clone().unwrap();
                let child = Command::new("ip")
                    .args(["netns", "exec", &ns_name, SSHD, "-i", "-f"])
                    .arg(&config)
                    .arg("-E")
                    .arg(&log)
                    .stdin(Stdio::from(OwnedFd::from(stream)))
                    .stdout(Stdio::from(OwnedFd::from(out)))
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("sshd -i");
                // Which process serves which connection, for a test that
                // ends one (`ip netns exec` execs sshd: same pid).
                let mut pids = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&pids_file)
                    .unwrap();
                std::io::Write::write_all(&mut pids, format!("{}\n", child.id()).as_bytes())
                    .unwrap();
                children2.lock().unwrap().push(child);
            }
        });
        Bastion {
            port,
            stop,
            children,
            thread: Some(thread),
        }
    }
}

impl Drop for Bastion {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for mut c in self.children.lock().unwrap().drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A bastion on 127.0.0.1 and targets reachable only through it.
struct Lab {
    root: tempfile::TempDir,
    key: PathBuf,
    bastion_server: Server,
    bastion: Bastion,
    targets: Vec<(Server, u16)>,
    _daemons: Vec<Daemon>,
    ns: Netns,
}

/// Ports of the targets inside the namespace (nothing else listens there).
const TARGET_PORTS: [u16; 3] = [2201, 2202, 2203];

impl Lab {
    fn start() -> Option<Lab> {
        if !Path::new(SSHD).exists() {
            skip("/usr/sbin/sshd is not installed");
            return None;
        }
        let Some(ns) = Netns::create() else {
            skip("cannot create a network namespace (needs root and iproute2)");
            return None;
        };
        let _ = std::fs::create_dir_all("/run/sshd");
        let root = tempfile::tempdir().unwrap();
        let key = root.path().join("id_ed25519");
        keygen(&key);
        let public = root.path().join("id_ed25519.pub");
        let bastion_server = Server::new(root.path(), "bastion", 22, "");
        bastion_server.authorize(&public);
        let mut targets = Vec::new();
        let mut daemons = Vec::new();
        for (i, port) in TARGET_PORTS.iter().enumerate() {
            let s = Server::new(root.path(), &format!("t{}", i + 1), *port, "");
            s.authorize(&public);
            daemons.push(daemon(&ns, &s));
            targets.push((s, *port));
        }
        let bastion = Bastion::start(&ns, &bastion_server);
        Some(Lab {
            root,
            key,
            bastion_server,
            bastion,
            targets,
            _daemons: daemons,
            ns,
        })
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// known_hosts with every server's real key under its own name.
    fn known_hosts(&self) -> PathBuf {
        let mut text = format!(
            "[127.0.0.1]:{} {}\n",
            self.bastion.port,
            self.bastion_server.host_key()
        );
        for (s, port) in &self.targets {
            text.push_str(&format!("[127.0.0.1]:{port} {}\n", s.host_key()));
        }
        let path = self.path("known_hosts");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn inventory(&self, yaml: &str) -> PathBuf {
        let path = self.path("inventory.yaml");
        std::fs::write(
            &path,
            yaml.replace("{key}", &self.key.display().to_string()),
        )
        .unwrap();
        path
    }

    /// `halite --out json -i INVENTORY --known-hosts KH ARGS`, with an
    /// empty HOME and no agent.
    fn halite(&self, inventory: &Path, args: &[&str]) -> Output {
        self.halite_with(inventory, &self.known_hosts(), args)
    }

    fn halite_with(&self, inventory: &Path, known_hosts: &Path, args: &[&str]) -> Output {
        let mut all = vec!["--known-hosts", known_hosts.to_str().unwrap()];
        all.extend(args);
        self.halite_bare(inventory, &all)
    }

    /// Without `--known-hosts`: the default (HOME/.ssh/known_hosts) or ssh_config's.
    fn halite_bare(&self, inventory: &Path, args: &[&str]) -> Output {
        let home = self.path("home");
        std::fs::create_dir_all(&home).unwrap();
        Command::new(env!("CARGO_BIN_EXE_halite"))
            .current_dir(self.root.path())
            .args(["--out", "json", "-i"])
            .arg(inventory)
            .args(args)
            .env("HOME", &home)
            .env("HALITE_CACHE_DIR", self.path("cache"))
            .env("NO_COLOR", "1")
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn bastion_logins(&self) -> usize {
        self.bastion_server
            .log()
            .matches("Accepted publickey for root")
            .count()
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// What host `id` returned.
fn ret(out: &Output, id: &str) -> serde_json::Value {
    json(out)["results"][id]["ret"].clone()
}

fn inventory_through_bastion(lab: &Lab, bastion_port: u16) -> String {
    let mut y = format!(
        "defaults: {{user: root, identity: '{{key}}', connect_timeout: 5}}\nhosts:\n  bastion: {{host: 127.0.0.1, port: {bastion_port}}}\n"
    );
    for (i, port) in TARGET_PORTS.iter().enumerate() {
        y.push_str(&format!(
            "  t{}: {{host: 127.0.0.1, port: {port}, proxy_jump: bastion}}\n",
            i + 1
        ));
    }
    let _ = lab;
    y
}

#[test]
fn targets_behind_one_bastion_share_its_connection() {
    let Some(lab) = Lab::start() else { return };
    // The controller itself cannot reach a target: it is in the namespace.
    assert!(std::net::TcpStream::connect(("127.0.0.1", TARGET_PORTS[0]))
        .map(|_| false)
        .unwrap_or(true));
    let inv = lab.inventory(&inventory_through_bastion(&lab, lab.bastion.port));
    // One handshake at a time: the targets' handshakes wait for the
    // bastion's to finish, none holds a slot while waiting for it.
    let out = lab.halite(
        &inv,
        &[
            "--max-handshakes",
            "1",
            "t*",
            "cmd.run",
            "echo $SSH_CONNECTION",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for (i, port) in TARGET_PORTS.iter().enumerate() {
        let line = ret(&out, &format!("t{}", i + 1))
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_string();
        // sshd saw the connection come from the namespace's loopback, to
        // the target's port there: the bastion made it.
        assert!(
            line.ends_with(&format!("127.0.0.1 {port}")),
            "{line}: {}",
            text(&out)
        );
    }
    assert_eq!(lab.bastion_logins(), 1, "{}", lab.bastion_server.log());
    for (s, _) in &lab.targets {
        assert!(
            s.log().contains("Accepted publickey for root"),
            "{}",
            s.log()
        );
    }
}

#[test]
fn two_hops() {
    let Some(lab) = Lab::start() else { return };
    // t1 is used as the second jump host on the way to t2: bastion -> t1 -> t2.
    let inv = lab.inventory(&format!(
        "defaults: {{user: root, identity: '{{key}}'}}\nhosts:\n  bastion: {{host: 127.0.0.1, port: {b}}}\n  t2: {{host: 127.0.0.1, port: {p2}, proxy_jump: 'bastion,root@127.0.0.1:{p1}'}}\n",
        b = lab.bastion.port,
        p1 = TARGET_PORTS[0],
        p2 = TARGET_PORTS[1],
    ));
    // The second hop is not an inventory host: its key comes from ssh_config.
    let cfg = lab.path("ssh_config");
    std::fs::write(
        &cfg,
        format!("Host 127.0.0.1\n  IdentityFile {}\n", lab.key.display()),
    )
    .unwrap();
    let out = lab.halite(
        &inv,
        &["--ssh-config", cfg.to_str().unwrap(), "t2", "test.ping"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(ret(&out, "t2"), true, "{}", text(&out));
    assert!(lab.targets[0]
        .0
        .log()
        .contains("Accepted publickey for root"));
    assert!(lab.targets[1]
        .0
        .log()
        .contains("Accepted publickey for root"));
}

#[test]
fn bastion_with_a_changed_host_key_is_refused_and_named() {
    let Some(lab) = Lab::start() else { return };
    let inv = lab.inventory(&inventory_through_bastion(&lab, lab.bastion.port));
    let kh = lab.known_hosts();
    let other = lab.path("other_key");
    keygen(&other);
    let fake = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let fake: Vec<&str> = fake.split_whitespace().take(2).collect();
    let text_kh = std::fs::read_to_string(&kh).unwrap();
    let first = text_kh.lines().next().unwrap().to_string();
    let replaced = text_kh.replace(
        &first,
        &format!("[127.0.0.1]:{} {}", lab.bastion.port, fake.join(" ")),
    );
    // Written after known_hosts() (which halite() rewrites): use a copy.
    let kh2 = lab.path("known_hosts_changed");
    std::fs::write(&kh2, replaced).unwrap();
    let out = lab.halite_with(&inv, &kh2, &["t*", "test.ping"]);
    let all = text(&out);
    assert_ne!(out.status.code(), Some(0), "{all}");
    let label = format!(
        "through jump host root@127.0.0.1:{}: HOST KEY CHANGED",
        lab.bastion.port
    );
    let j = json(&out);
    for t in ["t1", "t2", "t3"] {
        let r = &j["results"][t];
        assert_eq!(r["status"], "unreachable", "{all}");
        assert!(r["error"].as_str().unwrap().contains(&label), "{all}");
    }
    for (s, _) in &lab.targets {
        assert!(!s.log().contains("Accepted"), "{}", s.log());
    }
}

#[test]
fn failing_bastion_makes_its_hosts_unreachable_named() {
    let Some(lab) = Lab::start() else { return };
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let inv = lab.inventory(&inventory_through_bastion(&lab, dead_port));
    let out = lab.halite(&inv, &["t*", "test.ping"]);
    let all = text(&out);
    assert_ne!(out.status.code(), Some(0), "{all}");
    let label = format!("through jump host root@127.0.0.1:{dead_port}: cannot connect");
    let j = json(&out);
    for t in ["t1", "t2", "t3"] {
        let r = &j["results"][t];
        assert_eq!(r["status"], "unreachable", "{all}");
        assert!(r["error"].as_str().unwrap().contains(&label), "{all}");
    }
}

#[test]
fn ssh_config_gives_hostname_port_user_and_proxyjump() {
    let Some(lab) = Lab::start() else { return };
    // The inventory names only ids; everything else comes from ssh_config.
    let inv = lab.inventory("hosts:\n  web1:\n  web2:\n");
    let cfg = lab.path("ssh_config");
    std::fs::write(
        &cfg,
        format!(
            "Host web1\n  Port {p1}\nHost web2\n  Port {p2}\n\
             Host web*\n  HostName 127.0.0.1\n  User root\n  ProxyJump jump\n\
             Host jump\n  HostName 127.0.0.1\n  Port {b}\n  User root\n\
             Host *\n  IdentityFile {key}\n  IdentitiesOnly yes\n  UnknownThing 1\n",
            p1 = TARGET_PORTS[0],
            p2 = TARGET_PORTS[1],
            b = lab.bastion.port,
            key = lab.key.display(),
        ),
    )
    .unwrap();
    // An unknown keyword is an error naming the file and line, before connecting.
    let out = lab.halite(
        &inv,
        &["--ssh-config", cfg.to_str().unwrap(), "*", "test.ping"],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains(&format!(
            "{}: line 16: Bad configuration option: unknownthing",
            cfg.display()
        )),
        "{all}"
    );
    assert_eq!(lab.bastion_logins(), 0);
    let fixed = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("  UnknownThing 1\n", "");
    std::fs::write(&cfg, fixed).unwrap();
    let out = lab.halite(
        &inv,
        &["--ssh-config", cfg.to_str().unwrap(), "*", "test.ping"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(ret(&out, "web1"), true, "{}", text(&out));
    assert_eq!(ret(&out, "web2"), true, "{}", text(&out));
    assert_eq!(lab.bastion_logins(), 1);
}

#[test]
fn user_certificate_signed_by_a_trusted_ca() {
    let Some(lab) = Lab::start() else { return };
    // A target that trusts a CA and no key at all.
    let ca = lab.path("ca");
    keygen(&ca);
    let server = Server::new(
        lab.root.path(),
        "certified",
        2210,
        &format!("TrustedUserCAKeys {}", ca.with_extension("pub").display()),
    );
    let _d = daemon(&lab.ns, &server);
    let user_key = lab.path("user_key");
    keygen(&user_key);
    let inv = lab.inventory(&format!(
        "hosts:\n  bastion: {{host: 127.0.0.1, port: {b}, user: root, identity: '{{key}}'}}\n  c: {{host: 127.0.0.1, port: 2210, user: root, identity: '{k}', proxy_jump: bastion}}\n",
        b = lab.bastion.port,
        k = user_key.display()
    ));
    let kh = lab.path("kh_cert");
    let with_cert_host = |out: &Path| {
        let mut t = std::fs::read_to_string(lab.known_hosts()).unwrap();
        t.push_str(&format!("[127.0.0.1]:2210 {}\n", server.host_key()));
        std::fs::write(out, t).unwrap();
    };
    with_cert_host(&kh);
    let args = ["c", "test.ping"];
    // Without a certificate the key alone is refused.
    let out = lab.halite_with(&inv, &kh, &args);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    // Signed by the CA for principal root: user_key-cert.pub, next to the key.
    run(Command::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(&ca)
        .args(["-I", "halite-test", "-n", "root", "-V", "-5m:+1h"])
        .arg(user_key.with_extension("pub")));
    let out = lab.halite_with(&inv, &kh, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(ret(&out, "c"), true, "{}", text(&out));
    assert!(
        server.log().contains("Accepted publickey for root") && server.log().contains("CA"),
        "{}",
        server.log()
    );
    // The same certificate elsewhere, named by ssh_config's CertificateFile
    // for a host whose inventory entry names no key.
    let elsewhere = lab.path("certs/mine.pub");
    std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    let mut cert = user_key.as_os_str().to_owned();
    cert.push("-cert.pub");
    std::fs::rename(&cert, &elsewhere).unwrap();
    let inv = lab.inventory(&format!(
        "hosts:\n  bastion: {{host: 127.0.0.1, port: {b}, user: root, identity: '{{key}}'}}\n  c: {{host: 127.0.0.1, port: 2210, proxy_jump: bastion}}\n",
        b = lab.bastion.port,
    ));
    let cfg = lab.path("ssh_config");
    std::fs::write(
        &cfg,
        format!(
            "Host 127.0.0.1\n  User root\n  IdentityFile {}\n  CertificateFile {}\n",
            user_key.display(),
            elsewhere.display()
        ),
    )
    .unwrap();
    let out = lab.halite_with(
        &inv,
        &kh,
        &["--ssh-config", cfg.to_str().unwrap(), "c", "test.ping"],
    );
    assert_eq!(ret(&out, "c"), true, "{}", text(&out));
}

#[test]
fn proxy_command_speaks_ssh_over_its_pipes() {
    let Some(lab) = Lab::start() else { return };
    // The command is sshd itself in inetd mode inside the namespace, the
    // target picked by the %p token (as `nc %h %p` would pick it).
    let by_port = lab.path("by-port");
    std::fs::create_dir_all(&by_port).unwrap();
    std::os::unix::fs::symlink(&lab.targets[1].0.dir, by_port.join("2202")).unwrap();
    let inv = lab.inventory("hosts:\n  pc:\n");
    let cfg = lab.path("ssh_config");
    std::fs::write(
        &cfg,
        format!(
            "Host pc\n  HostName 127.0.0.1\n  Port 2202\n  User root\n  IdentityFile {key}\n  \
             ProxyCommand ip netns exec {ns} {SSHD} -i -f {dir}/%p/sshd_config -E {dir}/%p/sshd.log\n",
            key = lab.key.display(),
            ns = lab.ns.name,
            dir = by_port.display(),
        ),
    )
    .unwrap();
    let out = lab.halite(
        &inv,
        &[
            "--ssh-config",
            cfg.to_str().unwrap(),
            "pc",
            "cmd.run",
            "echo via-command",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(ret(&out, "pc"), "via-command", "{}", text(&out));
    assert!(lab.targets[1]
        .0
        .log()
        .contains("Accepted publickey for root"));
    assert_eq!(lab.bastion_logins(), 0);
}

#[test]
fn a_failing_proxy_command_is_quoted_in_the_error() {
    let Some(lab) = Lab::start() else { return };
    let inv = lab.inventory("hosts:\n  pc:\n");
    let cfg = lab.path("ssh_config");
    std::fs::write(
        &cfg,
        "Host pc\n  ProxyCommand echo 'no route to %h port %p' >&2; exit 1\n",
    )
    .unwrap();
    let out = lab.halite(
        &inv,
        &["--ssh-config", cfg.to_str().unwrap(), "pc", "test.ping"],
    );
    let j = json(&out);
    assert_eq!(
        j["results"]["pc"]["status"],
        "unreachable",
        "{}",
        text(&out)
    );
    let err = j["results"]["pc"]["error"].as_str().unwrap();
    assert!(
        err.contains("the ProxyCommand said: no route to pc port 22"),
        "{err}"
    );
}

/// A private ssh-agent holding `key`, killed when dropped.
struct Agent {
    child: Child,
    sock: PathBuf,
}

impl Agent {
    fn start(dir: &Path, key: &Path) -> Agent {
        let sock = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdout(Stdio::null())
            .spawn()
            .expect("ssh-agent");
        let started = Instant::now();
        while !sock.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "no agent socket"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        run(Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &sock)
            .stdin(Stdio::null()));
        Agent { child, sock }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn identities_only_keeps_the_agent_out() {
    let Some(lab) = Lab::start() else { return };
    // The agent holds the authorized key; ssh_config names another one.
    let agent = Agent::start(lab.root.path(), &lab.key);
    let wrong = lab.path("wrong_key");
    keygen(&wrong);
    let inv = lab.inventory("hosts:\n  bastion:\n");
    let cfg = lab.path("ssh_config");
    let write = |only: &str| {
        std::fs::write(
            &cfg,
            format!(
                "Host bastion\n  HostName 127.0.0.1\n  Port {}\n  User root\n  IdentityFile {}\n  IdentitiesOnly {only}\n",
                lab.bastion.port,
                wrong.display()
            ),
        )
        .unwrap()
    };
    let halite = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_halite"));
        cmd.current_dir(lab.root.path())
            .args(["--out", "json", "-i"])
            .arg(&inv)
            .arg("--known-hosts")
            .arg(lab.known_hosts())
            .arg("--ssh-config")
            .arg(&cfg)
            .args(["bastion", "test.ping"])
            .env("HOME", lab.path("home"))
            .env("HALITE_CACHE_DIR", lab.path("cache"))
            .env("SSH_AUTH_SOCK", &agent.sock)
            .stdin(Stdio::null());
        cmd.output().unwrap()
    };
    std::fs::create_dir_all(lab.path("home")).unwrap();
    write("no");
    let out = halite();
    assert_eq!(ret(&out, "bastion"), true, "{}", text(&out));
    write("yes");
    let out = halite();
    let j = json(&out);
    assert_eq!(
        j["results"]["bastion"]["status"],
        "auth_failed",
        "{}",
        text(&out)
    );
    let err = j["results"]["bastion"]["error"].as_str().unwrap();
    assert!(
        err.contains("wrong_key") && !err.contains("ssh-agent"),
        "{err}"
    );
}

#[test]
fn known_hosts_file_and_accept_new_from_ssh_config() {
    let Some(lab) = Lab::start() else { return };
    let inv = lab.inventory("hosts:\n  bastion:\n");
    let kh = lab.path("kh_from_config");
    let cfg = lab.path("ssh_config");
    std::fs::write(
        &cfg,
        format!(
            "Host bastion\n  HostName 127.0.0.1\n  Port {}\n  User root\n  IdentityFile {}\n  \
             UserKnownHostsFile {} ~/.ssh/other_known_hosts\n  StrictHostKeyChecking accept-new\n",
            lab.bastion.port,
            lab.key.display(),
            kh.display()
        ),
    )
    .unwrap();
    let args = [
        "--ssh-config",
        cfg.to_str().unwrap(),
        "bastion",
        "test.ping",
    ];
    // Unknown key, accept-new: recorded in the first UserKnownHostsFile.
    let out = lab.halite_bare(&inv, &args);
    assert_eq!(ret(&out, "bastion"), true, "{}", text(&out));
    let recorded = std::fs::read_to_string(&kh).unwrap();
    assert!(
        recorded.contains(&lab.bastion_server.host_key()),
        "{recorded}"
    );
    // A changed key is still refused, naming that file.
    let other = lab.path("other_key");
    keygen(&other);
    let fake = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let fake: Vec<&str> = fake.split_whitespace().take(2).collect();
    std::fs::write(
        &kh,
        format!("[127.0.0.1]:{} {}\n", lab.bastion.port, fake.join(" ")),
    )
    .unwrap();
    let out = lab.halite_bare(&inv, &args);
    let err = json(&out)["results"]["bastion"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        err.contains("HOST KEY CHANGED") && err.contains(&format!("{} line 1", kh.display())),
        "{}",
        text(&out)
    );
}

#[test]
fn a_bastion_connection_that_closed_is_opened_again() {
    let Some(lab) = Lab::start() else { return };
    let inv = lab.inventory(&inventory_through_bastion(&lab, lab.bastion.port));
    // t1 (first batch) ends the bastion's sshd serving this run, just after
    // it has answered; t2 (second batch, 2 s later) needs the bastion again.
    let pids = lab.bastion_server.dir.join("sessions.pids");
    let script = format!(
        "setsid sh -c 'sleep 0.3; kill $(cat {})' </dev/null >/dev/null 2>&1 & echo started",
        pids.display()
    );
    let out = lab.halite(
        &inv,
        &[
            "-b",
            "1,100%",
            "--batch-wait",
            "2",
            "-L",
            "t1,t2",
            "cmd.run",
            &script,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(ret(&out, "t1"), "started", "{}", text(&out));
    assert_eq!(ret(&out, "t2"), "started", "{}", text(&out));
    assert_eq!(lab.bastion_logins(), 2, "{}", lab.bastion_server.log());
}
