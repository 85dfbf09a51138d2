//! The SSH transport against a real OpenSSH server.
//!
//! Each test starts its own sshd on 127.0.0.1 (random free port, its own
//! config, host keys and authorized_keys in a temporary directory) and talks
//! to it through halite's public `Connection` API, so what is tested is what
//! a run does: no mocks. Tests that depend on the process environment (the
//! ssh-agent socket, HOME, whether stdin is a terminal) re-run themselves in a
//! child process so they neither race the other tests nor pick up the
//! developer's own agent and keys.
//!
//! Without /usr/sbin/sshd the tests say SKIPPED and pass, except under
//! `tests/all.sh` (HALITE_REQUIRE_TOOLS=1), which installs it: there a missing
//! server fails them.
//! `cargo test --test transport_sshd -- --ignored --nocapture bench` prints
//! connection timings next to OpenSSH's own client.

use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use halite::inventory::{ConnectionKind, Host};
use halite::transport::{Command, ConnectOptions, Connection, HostKeyPolicy, TransportError};

const SSHD: &str = "/usr/sbin/sshd";
const CHILD_MARK: &str = "HALITE_SSHD_TEST_CHILD";

/// A private sshd, killed when dropped.
struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server, or `None` (after saying so) where OpenSSH's server is absent.
fn sshd(extra_config: &str) -> Option<Sshd> {
    if !Path::new(SSHD).exists() {
        skip(&format!(
            "{SSHD} is not installed (apt-get install openssh-server)"
        ));
        return None;
    }
    Some(Sshd::start(extra_config))
}

/// Says a test is skipped for want of a tool, or fails it where the tools
/// are promised (tests/all.sh installs them and sets HALITE_REQUIRE_TOOLS).
fn skip(why: &str) {
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    if std::env::var_os("HALITE_REQUIRE_TOOLS").is_some() {
        panic!("{test}: {why}, and HALITE_REQUIRE_TOOLS is set");
    }
    eprintln!("SKIPPED: {test}: {why}");
}

fn run(cmd: &mut Process) -> String {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn keygen(path: &Path, kind: &str, passphrase: &str) {
    let mut cmd = Process::new("ssh-keygen");
    cmd.args(["-q", "-t", kind, "-N", passphrase, "-C", kind, "-f"])
        .arg(path);
    if kind == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    run(&mut cmd);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sshd {
    fn start(extra_config: &str) -> Sshd {
        // sshd refuses to start without its privilege separation directory,
        // which only an installed-and-started openssh-server creates.
        let _ = std::fs::create_dir_all("/run/sshd");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(&d.join("host_ed25519"), "ed25519", "");
        keygen(&d.join("host_ecdsa"), "ecdsa", "");
        std::fs::write(d.join("authorized_keys"), "").unwrap();
        let mut last_log = String::new();
        // A port picked free can be taken before sshd binds it: try again.
        for _ in 0..5 {
            let port = free_port();
            let config = d.join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\n\
                     ListenAddress 127.0.0.1\n\
                     HostKey {dir}/host_ed25519\n\
                     HostKey {dir}/host_ecdsa\n\
                     AuthorizedKeysFile {dir}/authorized_keys\n\
                     UsePAM no\n\
                     StrictModes no\n\
                     PidFile none\n\
                     PasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\n\
                     PermitRootLogin prohibit-password\n\
                     {no_bashrc}\n\
                     {extra}\n",
                    dir = d.display(),
                    // Debian's bash reads ~/.bashrc for commands run by sshd
                    // unless it is a nested shell, and a developer's bashrc
                    // (pyenv, conda...) can cost more than the SSH exchange
                    // under test.
                    no_bashrc = "SetEnv SHLVL=1",
                    extra = extra_config.replace("{dir}", &d.display().to_string()),
                ),
            )
            .unwrap();
            let log = d.join("sshd.log");
            let mut child = Process::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .expect("start sshd");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                last_log = std::fs::read_to_string(&log).unwrap_or_default();
                if last_log.contains("Server listening on") {
                    return Sshd { dir, port, child };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("sshd did not start:\n{last_log}");
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A new client key, authorized on the server unless `authorize` is false.
    fn key(&self, name: &str, kind: &str, passphrase: &str, authorize: bool) -> PathBuf {
        let path = self.path(name);
        keygen(&path, kind, passphrase);
        if authorize {
            let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
            let mut keys = std::fs::read_to_string(self.path("authorized_keys")).unwrap();
            keys.push_str(&public);
            std::fs::write(self.path("authorized_keys"), keys).unwrap();
        }
        path
    }

    /// `[127.0.0.1]:PORT ssh-ed25519 AAAA…`, the line ssh would record.
    fn host_key_line(&self) -> String {
        let public = std::fs::read_to_string(self.path("host_ed25519.pub")).unwrap();
        let mut fields = public.split_whitespace();
        format!(
            "[127.0.0.1]:{} {} {}",
            self.port,
            fields.next().unwrap(),
            fields.next().unwrap()
        )
    }

    /// A known_hosts file that trusts this server.
    fn known_hosts(&self) -> PathBuf {
        let path = self.path("known_hosts");
        std::fs::write(&path, format!("{}\n", self.host_key_line())).unwrap();
        path
    }

    fn host(&self, identity: Option<&Path>) -> Host {
        Host {
            id: "sshd".into(),
            connection: ConnectionKind::Ssh,
            host: "127.0.0.1".into(),
            port: self.port,
            user: user(),
            identity: identity.map(Path::to_path_buf),
            sudo: false,
            sudo_user: None,
            connect_timeout: Duration::from_secs(5),
            grains: halite::Value::Null,
            proxy_jump: None,
            written: Default::default(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("sshd.log")).unwrap_or_default()
    }

    /// Whether sshd logs `needle` within a few seconds: it logs a session's
    /// end after the client is already gone.
    fn logs(&self, needle: &str) -> bool {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

fn user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| run(Process::new("id").arg("-un")).trim().to_string())
}

fn opts(known_hosts: &Path, policy: HostKeyPolicy) -> ConnectOptions {
    ConnectOptions {
        known_hosts: known_hosts.to_path_buf(),
        host_key_policy: policy,
        connect_attempts: 3,
        retry_backoff: Duration::from_millis(100),
        keepalive: Duration::from_secs(15),
        command_timeout: None,
        handshakes: None,
        interrupt: Default::default(),
        ..ConnectOptions::default()
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn cmd(script: &str) -> Command {
    Command::new(script)
}

/// Whether this process is the child a test re-ran itself in.
fn in_child() -> bool {
    std::env::var_os(CHILD_MARK).is_some()
}

/// Re-run test `name` alone in a child process with no terminal on stdin and
/// no ssh-agent, so that it may set environment variables of its own.
fn rerun_in_child(name: &str) {
    if !Path::new(SSHD).exists() {
        skip(&format!(
            "{SSHD} is not installed (apt-get install openssh-server)"
        ));
        return;
    }
    let out = Process::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD_MARK, "1")
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child run of {name} failed:\n{stdout}\n{stderr}"
    );
}

/// A private ssh-agent, killed when dropped.
struct Agent {
    child: Child,
    sock: PathBuf,
}

impl Agent {
    fn start(dir: &Path) -> Agent {
        let sock = dir.join("agent.sock");
        let child = Process::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdout(Stdio::null())
            .spawn()
            .expect("start ssh-agent");
        let started = Instant::now();
        while !sock.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "no agent socket"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Agent { child, sock }
    }

    /// `ssh-add`, answering a passphrase prompt through SSH_ASKPASS.
    fn add(&self, key: &Path, passphrase: &str) {
        let askpass = key.with_extension("askpass");
        std::fs::write(&askpass, format!("#!/bin/sh\necho '{passphrase}'\n")).unwrap();
        run(Process::new("chmod").arg("+x").arg(&askpass));
        run(Process::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.sock)
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .stdin(Stdio::null()));
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn exec_keeps_stdout_stderr_and_exit_code_apart() {
    let Some(sshd) = sshd("") else { return };
    let key = sshd.key("id_ed25519", "ed25519", "", true);
    let kh = sshd.known_hosts();
    block_on(async {
        let conn = Connection::open(&sshd.host(Some(&key)), &opts(&kh, HostKeyPolicy::Strict))
            .await
            .unwrap();
        let out = conn
            .exec(&cmd("echo out; echo err >&2; echo \"it's quoted\"; exit 3"))
            .await
            .unwrap();
        assert_eq!(out.stdout, "out\nit's quoted\n");
        assert_eq!(out.stderr, "err\n");
        assert_eq!(out.exit_code, Some(3));

        let out = conn.exec(&cmd("id -un")).await.unwrap();
        assert!(out.success());
        assert_eq!(out.stdout.trim(), user());

        // Killed by a signal: no exit code, and stderr says which signal.
        let out = conn.exec(&cmd("kill -TERM $$")).await.unwrap();
        assert_eq!(out.exit_code, None, "{out:?}");
        assert!(out.stderr.contains("SIGTERM"), "{out:?}");

        assert_eq!(conn.executions(), 3);
        conn.close().await;
    });
}

#[test]
fn stdin_reaches_the_command_even_when_large() {
    let Some(sshd) = sshd("") else { return };
    let key = sshd.key("id_ed25519", "ed25519", "", true);
    let kh = sshd.known_hosts();
    block_on(async {
        let conn = Connection::open(&sshd.host(Some(&key)), &opts(&kh, HostKeyPolicy::Strict))
            .await
            .unwrap();
        let mut c = cmd("cat; echo done >&2");
        c.stdin = Some(b"line 1\nline 2\n".to_vec());
        let out = conn.exec(&c).await.unwrap();
        assert_eq!(out.stdout, "line 1\nline 2\n");
        assert_eq!(out.stderr, "done\n");

        // Several channel windows' worth, echoed back while still being sent.
        let big: Vec<u8> = (0..6_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut c = cmd("cat");
        c.stdin = Some(big.clone());
        let out = conn.exec(&c).await.unwrap();
        assert_eq!(out.stdout.len(), big.len());
        assert_eq!(out.stdout.as_bytes(), &big[..]);

        // A command that ignores its input still finishes.
        let mut c = cmd("echo ignored");
        c.stdin = Some(big);
        assert_eq!(conn.exec(&c).await.unwrap().stdout, "ignored\n");

        // Without stdin the command sees end of input rather than hanging.
        assert_eq!(conn.exec(&cmd("wc -c")).await.unwrap().stdout.trim(), "0");
    });
}

#[test]
fn many_concurrent_execs_share_one_connection() {
    let Some(sshd) = sshd("") else { return };
    let key = sshd.key("id_ed25519", "ed25519", "", true);
    let kh = sshd.known_hosts();
    block_on(async {
        let conn = Arc::new(
            Connection::open(&sshd.host(Some(&key)), &opts(&kh, HostKeyPolicy::Strict))
                .await
                .unwrap(),
        );
        let marks = sshd.path("marks");
        std::fs::create_dir(&marks).unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        // More than sshd's default MaxSessions (10) at once. Each command
        // waits (up to 5 s) until five of them have started: run one at a
        // time, none would see more than itself.
        for i in 0..40 {
            let conn = conn.clone();
            let script = format!(
                "touch {m}/{i}; for t in $(seq 50); do [ $(ls {m} | wc -l) -ge 5 ] && break; sleep 0.1; done; echo {i} $(ls {m} | wc -l); echo e{i} >&2",
                m = marks.display()
            );
            tasks.spawn(async move {
                let out = conn.exec(&cmd(&script)).await.unwrap();
                let mut fields = out.stdout.split_whitespace();
                assert_eq!(fields.next(), Some(i.to_string().as_str()));
                let seen: usize = fields.next().unwrap().parse().unwrap();
                assert!(seen >= 5, "command {i} saw only {seen} started");
                assert_eq!(out.stderr, format!("e{i}\n"));
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
        assert_eq!(conn.executions(), 40);
        // Still one connection: sshd accepted exactly one login.
        assert_eq!(sshd.log().matches("Accepted publickey").count(), 1);
    });
}

#[test]
fn ed25519_ecdsa_and_rsa_client_keys() {
    let Some(sshd) = sshd("") else { return };
    let kh = sshd.known_hosts();
    for kind in ["ed25519", "ecdsa", "rsa"] {
        let key = sshd.key(&format!("id_{kind}"), kind, "", true);
        block_on(async {
            let conn = Connection::open(&sshd.host(Some(&key)), &opts(&kh, HostKeyPolicy::Strict))
                .await
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(conn.exec(&cmd("echo ok")).await.unwrap().stdout, "ok\n");
            conn.close().await;
        });
    }
    let log = sshd.log();
    for shown in ["ED25519", "ECDSA", "RSA SHA256"] {
        assert!(log.contains(&format!("Accepted publickey for {} from 127.0.0.1", user())));
        assert!(
            log.contains(&format!("ssh2: {shown}")),
            "{shown} not in\n{log}"
        );
    }
}

#[test]
fn a_refused_key_names_what_was_tried() {
    let Some(sshd) = sshd("") else { return };
    let key = sshd.key("stranger", "ed25519", "", false);
    let kh = sshd.known_hosts();
    block_on(async {
        let err = Connection::open(&sshd.host(Some(&key)), &opts(&kh, HostKeyPolicy::Strict))
            .await
            .err()
            .expect("must fail");
        let TransportError::Auth { reason, .. } = &err else {
            panic!("{err}")
        };
        assert!(reason.contains("stranger"), "{err}");
        assert!(reason.contains("it accepts: publickey"), "{err}");

        let missing = sshd.path("no_such_key");
        let err = Connection::open(
            &sshd.host(Some(&missing)),
            &opts(&kh, HostKeyPolicy::Strict),
        )
        .await
        .err()
        .expect("must fail");
        assert!(matches!(err, TransportError::Auth { .. }), "{err}");
        assert!(
            err.to_string().contains("no_such_key: no such file"),
            "{err}"
        );
    });
}

#[test]
fn encrypted_key_without_agent_or_tty_is_a_clear_error() {
    if !in_child() {
        return rerun_in_child("encrypted_key_without_agent_or_tty_is_a_clear_error");
    }
    let sshd = Sshd::start("");
    let key = sshd.key("id_locked", "ed25519", "secret words", true);
    let kh = sshd.known_hosts();
    block_on(async {
        let err = Connection::open(&sshd.host(Some(&key)), &opts(&kh, HostKeyPolicy::Strict))
            .await
            .err()
            .expect("must fail");
        let msg = err.to_string();
        assert!(matches!(err, TransportError::Auth { .. }), "{msg}");
        assert!(
            msg.contains(&format!("key {} is encrypted", key.display())),
            "{msg}"
        );
        assert!(msg.contains("ssh-agent"), "{msg}");
    });
}

#[test]
fn encrypted_key_passphrase_is_asked_once_on_a_terminal() {
    const NAME: &str = "encrypted_key_passphrase_is_asked_once_on_a_terminal";
    if !in_child() {
        if !Path::new(SSHD).exists() || !Path::new("/usr/bin/script").exists() {
            skip(&format!("needs {SSHD} and script(1) for a terminal"));
            return;
        }
        // script(1) runs the child on a pseudo-terminal and types what it
        // reads from its own stdin.
        let exe = std::env::current_exe().unwrap();
        let mut child = Process::new("/usr/bin/script")
            .arg("-qec")
            .arg(format!(
                "{} {NAME} --exact --nocapture --test-threads 1",
                exe.display()
            ))
            .arg("/dev/null")
            .env(CHILD_MARK, "1")
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"secret words\n").unwrap();
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            stdout.matches("Enter passphrase for key").count(),
            1,
            "{stdout}"
        );
        return;
    }
    let sshd = Sshd::start("");
    let key = sshd.key("id_locked", "ed25519", "secret words", true);
    let kh = sshd.known_hosts();
    block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let (host, o) = (sshd.host(Some(&key)), opts(&kh, HostKeyPolicy::Strict));
            tasks.spawn(async move {
                let conn = Connection::open(&host, &o).await.unwrap();
                conn.exec(&cmd("echo hi")).await.unwrap().stdout
            });
        }
        while let Some(r) = tasks.join_next().await {
            assert_eq!(r.unwrap(), "hi\n");
        }
    });
}

#[test]
fn agent_keys_are_used_without_an_identity_file() {
    if !in_child() {
        return rerun_in_child("agent_keys_are_used_without_an_identity_file");
    }
    let sshd = Sshd::start("");
    let kh = sshd.known_hosts();
    // An empty home: no default key can be what logs in.
    let home = sshd.path("home");
    std::fs::create_dir_all(&home).unwrap();
    std::env::set_var("HOME", &home);

    let agent = Agent::start(sshd.dir.path());
    std::env::set_var("SSH_AUTH_SOCK", &agent.sock);
    let unrelated = sshd.key("unrelated", "ecdsa", "", false);
    agent.add(&unrelated, "");
    let key = sshd.key("id_agent", "ed25519", "", true);
    agent.add(&key, "");
    // Encrypted on disk, unlocked in the agent: used without a prompt.
    let locked = sshd.key("id_locked", "ecdsa", "secret words", true);
    agent.add(&locked, "secret words");

    block_on(async {
        let o = opts(&kh, HostKeyPolicy::Strict);
        let conn = Connection::open(&sshd.host(None), &o).await.unwrap();
        assert_eq!(conn.exec(&cmd("echo hi")).await.unwrap().stdout, "hi\n");
        conn.close().await;

        let conn = Connection::open(&sshd.host(Some(&locked)), &o)
            .await
            .unwrap();
        assert_eq!(conn.exec(&cmd("echo hi")).await.unwrap().stdout, "hi\n");
        conn.close().await;
    });
}

#[test]
fn agent_certificates_log_in_where_the_ca_is_trusted() {
    if !in_child() {
        return rerun_in_child("agent_certificates_log_in_where_the_ca_is_trusted");
    }
    let sshd = Sshd::start("TrustedUserCAKeys {dir}/ca.pub");
    let kh = sshd.known_hosts();
    let home = sshd.path("home");
    std::fs::create_dir_all(&home).unwrap();
    std::env::set_var("HOME", &home);
    let ca = sshd.key("ca", "ed25519", "", false);
    // Not in authorized_keys: only its certificate can log in.
    let key = sshd.key("id_cert", "ed25519", "", false);
    run(Process::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(&ca)
        .args(["-I", "halite-test", "-n", &user()])
        .arg(key.with_extension("pub")));
    let agent = Agent::start(sshd.dir.path());
    std::env::set_var("SSH_AUTH_SOCK", &agent.sock);
    agent.add(&key, "");
    block_on(async {
        let conn = Connection::open(&sshd.host(None), &opts(&kh, HostKeyPolicy::Strict))
            .await
            .unwrap();
        assert_eq!(conn.exec(&cmd("echo hi")).await.unwrap().stdout, "hi\n");
    });
    assert!(sshd.log().contains("ED25519-CERT"), "{}", sshd.log());
}

#[test]
fn default_key_files_are_tried_without_agent() {
    if !in_child() {
        return rerun_in_child("default_key_files_are_tried_without_agent");
    }
    let sshd = Sshd::start("");
    let kh = sshd.known_hosts();
    let home = sshd.path("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::env::set_var("HOME", &home);
    block_on(async {
        let o = opts(&kh, HostKeyPolicy::Strict);
        let err = Connection::open(&sshd.host(None), &o).await.err().unwrap();
        assert!(err.to_string().contains("no key to offer"), "{err}");

        let key = sshd.key("id_ecdsa", "ecdsa", "", true);
        std::fs::copy(&key, home.join(".ssh/id_ecdsa")).unwrap();
        let conn = Connection::open(&sshd.host(None), &o).await.unwrap();
        assert_eq!(conn.exec(&cmd("echo hi")).await.unwrap().stdout, "hi\n");
    });
}

#[test]
fn unknown_host_key_is_refused_when_strict() {
    let Some(sshd) = sshd("") else { return };
    let key = sshd.key("id_ed25519", "ed25519", "", true);
    let kh = sshd.path("nowhere/known_hosts");
    block_on(async {
        let err = Connection::open(&sshd.host(Some(&key)), &opts(&kh, HostKeyPolicy::Strict))
            .await
            .err()
            .expect("must fail");
        let TransportError::HostKeyUnknown {
            fingerprint,
            known_hosts,
            ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert!(fingerprint.starts_with("ssh-ed25519 SHA256:"), "{err}");
        assert_eq!(known_hosts, &kh);
        assert!(err.to_string().contains("--accept-new"), "{err}");
        assert!(!kh.exists());
        // Refused before authentication: no login was attempted.
        assert!(!sshd.log().contains("Accepted publickey"));
    });
}

#[test]
fn accept_new_records_the_key_then_strict_accepts_it() {
    let Some(sshd) = sshd("") else { return };
    let key = sshd.key("id_ed25519", "ed25519", "", true);
    let kh = sshd.path("fresh/.ssh/known_hosts");
    block_on(async {
        // Many connections at once to one new host: one line, not many.
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..6 {
            let (host, o) = (sshd.host(Some(&key)), opts(&kh, HostKeyPolicy::AcceptNew));
            tasks.spawn(async move {
                let conn = Connection::open(&host, &o).await.unwrap();
                conn.exec(&cmd("true")).await.unwrap();
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
        let recorded = std::fs::read_to_string(&kh).unwrap();
        assert_eq!(recorded, format!("{}\n", sshd.host_key_line()));

        let conn = Connection::open(&sshd.host(Some(&key)), &opts(&kh, HostKeyPolicy::Strict))
            .await
            .unwrap();
        assert!(conn.exec(&cmd("true")).await.unwrap().success());

        // OpenSSH's own client agrees with what was recorded.
        let status = Process::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
            ])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", kh.display()))
            .arg("-i")
            .arg(&key)
            .args(["-p", &sshd.port.to_string()])
            .arg(format!("{}@127.0.0.1", user()))
            .arg("true")
            .stdin(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    });
}

#[test]
fn hashed_known_hosts_entries_are_understood() {
    let Some(sshd) = sshd("") else { return };
    let key = sshd.key("id_ed25519", "ed25519", "", true);
    let kh = sshd.known_hosts();
    run(Process::new("ssh-keygen").args(["-q", "-H", "-f"]).arg(&kh));
    assert!(std::fs::read_to_string(&kh).unwrap().starts_with("|1|"));
    block_on(async {
        Connection::open(&sshd.host(Some(&key)), &opts(&kh, HostKeyPolicy::Strict))
            .await
            .unwrap();
    });
}

/// OpenSSH skips a known_hosts line it cannot read; one stray byte (a line
/// pasted in Latin-1, a truncated write) must not fail every host.
#[test]
fn a_non_utf8_known_hosts_line_is_skipped() {
    let Some(sshd) = sshd("") else { return };
    let key = sshd.key("id_ed25519", "ed25519", "", true);
    let kh = sshd.path("known_hosts");
    let mut text = b"caf\xe9.example ssh-ed25519 AAAA\xff\xfe\n".to_vec();
    text.extend_from_slice(format!("{}\n", sshd.host_key_line()).as_bytes());
    std::fs::write(&kh, text).unwrap();
    block_on(async {
        let conn = Connection::open(&sshd.host(Some(&key)), &opts(&kh, HostKeyPolicy::Strict))
            .await
            .unwrap();
        assert!(conn.exec(&cmd("true")).await.unwrap().success());
    });
}

#[test]
fn changed_host_key_is_refused_naming_the_line() {
    let Some(sshd) = sshd("") else { return };
    let key = sshd.key("id_ed25519", "ed25519", "", true);
    let impostor = sshd.key("impostor", "ed25519", "", false);
    let impostor = std::fs::read_to_string(impostor.with_extension("pub")).unwrap();
    let kh = sshd.path("known_hosts");
    std::fs::write(
        &kh,
        format!(
            "# managed by hand\n[127.0.0.1]:1 {impostor}[127.0.0.1]:{} {impostor}",
            sshd.port
        ),
    )
    .unwrap();
    block_on(async {
        for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
            let err = Connection::open(&sshd.host(Some(&key)), &opts(&kh, policy))
                .await
                .err()
                .expect("must fail");
            let TransportError::HostKeyChanged {
                line, known_hosts, ..
            } = &err
            else {
                panic!("{err:?}")
            };
            assert_eq!(*line, 3);
            assert_eq!(known_hosts, &kh);
            let msg = err.to_string();
            assert!(msg.contains(&format!("{} line 3", kh.display())), "{msg}");
        }
        // Ignoring host keys connects anyway (throwaway labs only).
        let conn = Connection::open(
            &sshd.host(Some(&key)),
            &opts(&kh, HostKeyPolicy::InsecureIgnore),
        )
        .await
        .unwrap();
        assert!(conn.exec(&cmd("true")).await.unwrap().success());
    });
}

#[test]
fn closed_port_is_unreachable_after_quick_retries() {
    let Some(sshd) = sshd("") else { return };
    let kh = sshd.known_hosts();
    let mut host = sshd.host(None);
    host.port = free_port();
    block_on(async {
        let started = Instant::now();
        let err = Connection::open(&host, &opts(&kh, HostKeyPolicy::Strict))
            .await
            .err()
            .expect("must fail");
        let elapsed = started.elapsed();
        let TransportError::Unreachable { reason, addr } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(addr, &format!("127.0.0.1:{}", host.port));
        assert_eq!(reason, "connection refused after 3 attempts");
        // Backoff 100 ms then 200 ms, plus at most 50% jitter.
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    });
}

#[test]
fn server_dropping_connections_at_max_startups_is_retried() {
    // Beyond two connections still in their handshake, sshd drops new ones.
    let Some(sshd) = sshd("MaxStartups 2") else {
        return;
    };
    let key = sshd.key("id_ed25519", "ed25519", "", true);
    let kh = sshd.known_hosts();
    block_on(async {
        let mut o = opts(&kh, HostKeyPolicy::Strict);
        o.connect_attempts = 10;
        o.retry_backoff = Duration::from_millis(50);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..12 {
            let (host, o) = (sshd.host(Some(&key)), o.clone());
            tasks.spawn(async move {
                let conn = Connection::open(&host, &o).await?;
                conn.exec(&cmd("true")).await
            });
        }
        while let Some(r) = tasks.join_next().await {
            assert!(r.unwrap().unwrap().success());
        }
    });
    assert!(sshd.log().contains("past MaxStartups"), "{}", sshd.log());
}

#[test]
fn paced_handshakes_stay_under_max_startups_without_retries() {
    // The same server, but connection starts paced to one at a time: no
    // connection is dropped, so none needs a retry (only one attempt given).
    let Some(sshd) = sshd("MaxStartups 2") else {
        return;
    };
    let key = sshd.key("id_ed25519", "ed25519", "", true);
    let kh = sshd.known_hosts();
    block_on(async {
        let mut o = opts(&kh, HostKeyPolicy::Strict);
        o.connect_attempts = 1;
        o.handshakes = Some(std::sync::Arc::new(tokio::sync::Semaphore::new(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..12 {
            let (host, o) = (sshd.host(Some(&key)), o.clone());
            tasks.spawn(async move {
                let conn = Connection::open(&host, &o).await?;
                conn.exec(&cmd("true")).await
            });
        }
        while let Some(r) = tasks.join_next().await {
            assert!(r.unwrap().unwrap().success());
        }
    });
    assert!(!sshd.log().contains("past MaxStartups"), "{}", sshd.log());
}

#[test]
fn command_timeout_closes_the_channel_and_keeps_the_connection() {
    let Some(sshd) = sshd("") else { return };
    let key = sshd.key("id_ed25519", "ed25519", "", true);
    let kh = sshd.known_hosts();
    block_on(async {
        let mut o = opts(&kh, HostKeyPolicy::Strict);
        o.command_timeout = Some(Duration::from_millis(300));
        let conn = Connection::open(&sshd.host(Some(&key)), &o).await.unwrap();
        let started = Instant::now();
        let err = conn
            .exec(&cmd("sleep 30"))
            .await
            .expect_err("must time out");
        assert!(
            matches!(err, TransportError::Timeout(t) if t == Duration::from_millis(300)),
            "{err:?}"
        );
        // Well before `sleep 30` would end: the limit ended it, however
        // slow a loaded machine is to close the channel.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        // The connection is still good for the next command, and a command's
        // own limit wins over the default.
        let mut c = cmd("sleep 0.5; echo late");
        c.timeout = Some(Duration::from_secs(5));
        assert_eq!(conn.exec(&c).await.unwrap().stdout, "late\n");
    });
}

/// A pattern for `pgrep -f` that only this test's processes match.
fn marker(test: &str) -> String {
    let n: u32 = test.bytes().map(u32::from).sum();
    format!("sleep 1000.{}{n}", std::process::id())
}

/// Whether processes matching `pattern` are gone within two seconds.
fn none_left(pattern: &str) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        let found = Process::new("pgrep")
            .args(["-f", pattern])
            .output()
            .unwrap();
        if !found.status.success() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Process::new("pkill")
        .args(["-KILL", "-f", pattern])
        .status();
    false
}

/// A command that starts children, one of which ignores SIGTERM: the
/// process group must be ended with SIGKILL after the grace period.
fn stubborn(mark: &str) -> String {
    format!("{mark} & trap '' TERM; sh -c '{mark}; :' & wait")
}

#[test]
fn a_timed_out_command_leaves_no_process_behind() {
    let Some(sshd) = sshd("") else { return };
    let key = sshd.key("id_ed25519", "ed25519", "", true);
    let kh = sshd.known_hosts();
    let mark = marker("a_timed_out_command_leaves_no_process_behind");
    block_on(async {
        let conn = Connection::open(&sshd.host(Some(&key)), &opts(&kh, HostKeyPolicy::Strict))
            .await
            .unwrap();
        let mut c = cmd(&stubborn(&mark));
        c.timeout = Some(Duration::from_secs(1));
        let started = Instant::now();
        let err = conn.exec(&c).await.expect_err("must time out");
        assert!(matches!(err, TransportError::Timeout(_)), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{:?}",
            started.elapsed()
        );
        assert!(none_left(&mark), "{mark} is still running");
        // The command, then the one execution that ended it.
        assert_eq!(conn.executions(), 2);
        assert_eq!(conn.exec(&cmd("echo ok")).await.unwrap().stdout, "ok\n");
    });
}

#[test]
fn an_interrupted_command_leaves_no_process_behind() {
    let Some(sshd) = sshd("") else { return };
    let key = sshd.key("id_ed25519", "ed25519", "", true);
    let kh = sshd.known_hosts();
    let mark = marker("an_interrupted_command_leaves_no_process_behind");
    block_on(async {
        let o = opts(&kh, HostKeyPolicy::Strict);
        let conn = Connection::open(&sshd.host(Some(&key)), &o).await.unwrap();
        let interrupt = o.interrupt.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            interrupt.trigger();
        });
        let script = format!("{mark} & {mark} & wait");
        let err = conn.exec(&cmd(&script)).await.expect_err("must stop");
        assert!(matches!(err, TransportError::Interrupted), "{err:?}");
        assert!(none_left(&mark), "{mark} is still running");
        // Nothing new starts after Ctrl-C.
        let err = conn.exec(&cmd("true")).await.expect_err("must not run");
        assert!(matches!(err, TransportError::Interrupted), "{err:?}");
        assert_eq!(conn.executions(), 2);
    });
}

/// sshd drops the connection ("connection reset") on a command line longer
/// than the host can pass on, so a long script travels on stdin instead.
#[test]
fn a_script_longer_than_one_argument_is_sent_on_stdin() {
    let Some(sshd) = sshd("") else { return };
    let key = sshd.key("id_ed25519", "ed25519", "", true);
    let kh = sshd.known_hosts();
    block_on(async {
        let conn = Connection::open(&sshd.host(Some(&key)), &opts(&kh, HostKeyPolicy::Strict))
            .await
            .unwrap();
        // Shaped like cmd.run's script: 40,000 quotes in a command quoted
        // for its own `sh -c`, in a script quoted again for the host's.
        let quotes = "'".repeat(40_000);
        let inner = format!("printf %s \"$#{quotes}\"");
        let script = format!("exec sh -c {}", halite::transport::quote::quote(&inner));
        let out = conn.exec(&cmd(&script)).await.unwrap();
        assert_eq!(out.stdout, format!("0{quotes}"));
        assert_eq!(out.stderr, "");
        // With stdin taken by the command's data, it is refused unsent.
        let mut c = cmd(&script);
        c.stdin = Some(b"data".to_vec());
        let err = conn.exec(&c).await.expect_err("too long");
        assert!(err.to_string().starts_with("command too long ("), "{err}");
        assert_eq!(conn.executions(), 1);
        assert!(conn.exec(&cmd("true")).await.unwrap().success());
    });
}

#[test]
fn connection_dropped_mid_command_is_broken() {
    let Some(sshd) = sshd("") else { return };
    let key = sshd.key("id_ed25519", "ed25519", "", true);
    let kh = sshd.known_hosts();
    block_on(async {
        let conn = Connection::open(&sshd.host(Some(&key)), &opts(&kh, HostKeyPolicy::Strict))
            .await
            .unwrap();
        // Kill this connection's own sshd process from inside the command
        // (the command's parent, or its grandparent when a login shell sits
        // in between).
        let err = conn
            .exec(&cmd(
                "p=$PPID; case $(cat /proc/$p/comm) in sshd*) ;; *) p=$(cut -d' ' -f4 /proc/$p/stat);; esac; kill -KILL $p; sleep 5",
            ))
            .await
            .expect_err("must fail");
        assert!(matches!(err, TransportError::Broken { .. }), "{err:?}");
        eprintln!("mid-command drop: {err}");
        let err = conn.exec(&cmd("true")).await.expect_err("must fail");
        assert!(matches!(err, TransportError::Broken { .. }), "{err:?}");
    });
}

/// A command cut short (time limit, dropped connection) still gives what
/// it printed first, and says the host took it: the state engine reports
/// from it what an interrupted apply script confirmed.
#[test]
fn a_command_cut_short_keeps_what_it_printed() {
    let Some(sshd) = sshd("") else { return };
    let key = sshd.key("id_ed25519", "ed25519", "", true);
    let kh = sshd.known_hosts();
    block_on(async {
        let conn = Connection::open(&sshd.host(Some(&key)), &opts(&kh, HostKeyPolicy::Strict))
            .await
            .unwrap();
        let mut c = cmd("echo first; sleep 30");
        c.timeout = Some(Duration::from_secs(1));
        let cut = conn.exec_keeping(&c).await.expect_err("must time out");
        assert!(matches!(cut.error, TransportError::Timeout(_)), "{cut:?}");
        assert!(cut.sent, "{cut:?}");
        assert_eq!(cut.stdout, "first\n");
        let cut = conn
            .exec_keeping(&cmd(
                "echo before; sleep 0.5; p=$PPID; case $(cat /proc/$p/comm) in sshd*) ;; *) p=$(cut -d' ' -f4 /proc/$p/stat);; esac; kill -KILL $p; sleep 5",
            ))
            .await
            .expect_err("must fail");
        assert!(
            matches!(cut.error, TransportError::Broken { .. }),
            "{cut:?}"
        );
        assert!(cut.sent && cut.stdout == "before\n", "{cut:?}");
        // Nothing to run it on: it provably did not start.
        let cut = conn
            .exec_keeping(&cmd("true"))
            .await
            .expect_err("must fail");
        assert!(!cut.sent && cut.stdout.is_empty(), "{cut:?}");
    });
}

#[test]
fn negotiates_fast_modern_algorithms() {
    let Some(sshd) = sshd("LogLevel DEBUG1") else {
        return;
    };
    let key = sshd.key("id_ed25519", "ed25519", "", true);
    let kh = sshd.known_hosts();
    block_on(async {
        let conn = Connection::open(&sshd.host(Some(&key)), &opts(&kh, HostKeyPolicy::Strict))
            .await
            .unwrap();
        conn.exec(&cmd("true")).await.unwrap();
        conn.close().await;
    });
    let log = sshd.log();
    for expected in [
        "kex: algorithm: curve25519-sha256",
        "kex: host key algorithm: ssh-ed25519",
        "kex: client->server cipher: chacha20-poly1305@openssh.com MAC: <implicit> compression: none",
        "kex: server->client cipher: chacha20-poly1305@openssh.com MAC: <implicit> compression: none",
    ] {
        assert!(log.contains(expected), "{expected:?} not in sshd's log:\n{log}");
    }
    // The polite disconnect reached the server.
    assert!(sshd.logs("disconnected by halite"), "{}", sshd.log());
}

#[test]
fn the_host_key_type_on_record_is_asked_for_first() {
    // The server has Ed25519 and ECDSA keys; known_hosts has only the ECDSA
    // one (as after `ssh-keyscan -t ecdsa`). Strict checking must still pass.
    let Some(sshd) = sshd("LogLevel DEBUG1") else {
        return;
    };
    let key = sshd.key("id_ed25519", "ed25519", "", true);
    let public = std::fs::read_to_string(sshd.path("host_ecdsa.pub")).unwrap();
    let kh = sshd.path("known_hosts");
    std::fs::write(&kh, format!("[127.0.0.1]:{} {public}", sshd.port)).unwrap();
    block_on(async {
        Connection::open(&sshd.host(Some(&key)), &opts(&kh, HostKeyPolicy::Strict))
            .await
            .unwrap();
    });
    assert!(sshd
        .log()
        .contains("kex: host key algorithm: ecdsa-sha2-nistp256"));
}

#[test]
fn older_or_restricted_servers_get_fallback_algorithms() {
    let Some(sshd) = sshd(
        "LogLevel DEBUG1\n\
         KexAlgorithms ecdh-sha2-nistp256,diffie-hellman-group14-sha256\n\
         Ciphers aes256-gcm@openssh.com,aes128-ctr\n\
         HostKeyAlgorithms ecdsa-sha2-nistp256",
    ) else {
        return;
    };
    let key = sshd.key("id_rsa", "rsa", "", true);
    let public = std::fs::read_to_string(sshd.path("host_ecdsa.pub")).unwrap();
    let kh = sshd.path("known_hosts");
    std::fs::write(&kh, format!("[127.0.0.1]:{} {public}", sshd.port)).unwrap();
    block_on(async {
        let conn = Connection::open(&sshd.host(Some(&key)), &opts(&kh, HostKeyPolicy::Strict))
            .await
            .unwrap();
        assert_eq!(conn.exec(&cmd("echo ok")).await.unwrap().stdout, "ok\n");
    });
    let log = sshd.log();
    for expected in [
        "kex: algorithm: ecdh-sha2-nistp256",
        "kex: client->server cipher: aes256-gcm@openssh.com",
        // An RSA user key signs with SHA-512, never SHA-1.
        "pkalg rsa-sha2-512",
        "Accepted publickey",
    ] {
        assert!(
            log.contains(expected),
            "{expected:?} not in sshd's log:\n{log}"
        );
    }
}
