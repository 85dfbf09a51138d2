//! Running commands on a host: over SSH (russh) or locally on the controller.
//!
//! A [`Connection`] is opened once per host per run and reused for every
//! command (one SSH channel per command, never a reconnect). Every command is
//! a POSIX `sh` script; [`quote::quote`] is the only way values get into one.
//! The connection counts the executions it performs so that tests and
//! benchmarks can check how many round trips a run costs.

pub mod known_hosts;
pub mod local;
pub mod quote;
pub mod ssh;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::inventory::{ConnectionKind, Host};

/// One command to run on a host: a `sh` script, optional standard input and
/// an optional time limit.
#[derive(Debug, Clone, Default)]
pub struct Command {
    pub script: String,
    pub stdin: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
}

impl Command {
    pub fn new(script: impl Into<String>) -> Self {
        Command {
            script: script.into(),
            ..Default::default()
        }
    }
}

/// What a command produced. stdout and stderr are kept apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    pub stdout: String,
    pub stderr: String,
    /// Exit status; `None` when the remote side reported none (killed by a signal).
    pub exit_code: Option<i32>,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// How to treat host keys that are not in known_hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Unknown or changed keys are refused (the default).
    #[default]
    Strict,
    /// Unknown keys are recorded (trust on first use); changed keys are refused.
    AcceptNew,
    /// No checking at all: for throwaway labs only.
    InsecureIgnore,
}

/// Settings shared by every connection of a run.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub known_hosts: PathBuf,
    pub host_key_policy: HostKeyPolicy,
    /// Attempts for transient connect failures (refused, reset, timeout).
    pub connect_attempts: u32,
    /// First backoff delay; doubles per attempt.
    pub retry_backoff: Duration,
    pub keepalive: Duration,
    /// Default per-command time limit (a command's own timeout wins).
    pub command_timeout: Option<Duration>,
    /// At most this many SSH handshakes (TCP connect to authenticated) in
    /// flight at once for the whole run; shared by every connection.
    pub handshakes: Option<std::sync::Arc<tokio::sync::Semaphore>>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            known_hosts: default_known_hosts(),
            host_key_policy: HostKeyPolicy::Strict,
            connect_attempts: 3,
            retry_backoff: Duration::from_millis(250),
            keepalive: Duration::from_secs(15),
            command_timeout: None,
            handshakes: None,
        }
    }
}

/// `~/.ssh/known_hosts`.
pub fn default_known_hosts() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(".ssh/known_hosts")
}

/// Why a host could not be reached or a command could not run. A command
/// that ran and exited non-zero is not an error: it is an [`ExecOutput`].
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot connect to {addr}: {reason}")]
    Unreachable { addr: String, reason: String },
    #[error("host key for {addr} is not known ({fingerprint}); verify it, then rerun with --accept-new to record it in {known_hosts}")]
    HostKeyUnknown {
        addr: String,
        fingerprint: String,
        known_hosts: PathBuf,
    },
    #[error("HOST KEY CHANGED for {addr}: the server offered {fingerprint}, which does not match {known_hosts} line {line}; refusing to connect (possible man-in-the-middle)")]
    HostKeyChanged {
        addr: String,
        fingerprint: String,
        known_hosts: PathBuf,
        line: usize,
    },
    /// The host key could not be checked (unreadable or unwritable known_hosts)
    /// or is marked `@revoked` there.
    #[error("host key check for {addr} failed: {reason}")]
    HostKeyRejected { addr: String, reason: String },
    #[error("authentication failed for {user}@{addr}: {reason}")]
    Auth {
        user: String,
        addr: String,
        reason: String,
    },
    #[error(
        "sudo on {addr} wants a password; configure NOPASSWD sudo for {user} or connect as root"
    )]
    SudoPassword { user: String, addr: String },
    #[error("command timed out after {0:?}")]
    Timeout(Duration),
    #[error("connection to {addr} failed: {reason}")]
    Broken { addr: String, reason: String },
    #[error("local command failed: {0}")]
    Local(String),
}

/// A command that did not run to its end: why, whether the host may have
/// started it, and the standard output received before it was cut.
#[derive(Debug)]
pub struct Cut {
    pub error: TransportError,
    /// The host was asked to run it (and did not refuse): it may have run,
    /// in part. False: it provably did not start.
    pub sent: bool,
    pub stdout: String,
}

/// What a connection had received of a command when it ended or was cut.
#[derive(Debug, Default)]
pub struct Received {
    /// See [`Cut::sent`].
    pub sent: bool,
    pub stdout: Vec<u8>,
}

/// The class of a transport failure, for reporting hosts apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    Unreachable,
    AuthFailed,
    HostKey,
    Command,
}

impl TransportError {
    pub fn class(&self) -> FailureClass {
        match self {
            TransportError::Unreachable { .. } => FailureClass::Unreachable,
            TransportError::Auth { .. } | TransportError::SudoPassword { .. } => {
                FailureClass::AuthFailed
            }
            TransportError::HostKeyUnknown { .. }
            | TransportError::HostKeyChanged { .. }
            | TransportError::HostKeyRejected { .. } => FailureClass::HostKey,
            TransportError::Timeout(_)
            | TransportError::Broken { .. }
            | TransportError::Local(_) => FailureClass::Command,
        }
    }
}

enum Inner {
    Local(local::LocalConnection),
    Ssh(ssh::SshConnection),
}

/// An open connection to one host.
pub struct Connection {
    inner: Inner,
    sudo: bool,
    user: String,
    addr: String,
    default_timeout: Option<Duration>,
    executions: AtomicU32,
}

impl Connection {
    /// Connect to `host` (for SSH: TCP, key exchange, host key check, auth).
    pub async fn open(host: &Host, opts: &ConnectOptions) -> Result<Connection, TransportError> {
        let inner = match host.connection {
            ConnectionKind::Local => Inner::Local(local::LocalConnection::new()),
            ConnectionKind::Ssh => Inner::Ssh(ssh::SshConnection::connect(host, opts).await?),
        };
        Ok(Connection {
            inner,
            sudo: host.sudo,
            user: host.user.clone(),
            addr: host.addr(),
            default_timeout: opts.command_timeout,
            executions: AtomicU32::new(0),
        })
    }

    /// Run one `sh` script. With `sudo`, it runs as `sudo -n -- sh -c SCRIPT`.
    pub async fn exec(&self, cmd: &Command) -> Result<ExecOutput, TransportError> {
        self.exec_keeping(cmd).await.map_err(|c| c.error)
    }

    /// [`Connection::exec`], keeping what a command cut short (time limit,
    /// dropped connection) printed before, and whether it may have started.
    pub async fn exec_keeping(&self, cmd: &Command) -> Result<ExecOutput, Cut> {
        self.executions.fetch_add(1, Ordering::Relaxed);
        let line = wrap(&cmd.script, self.sudo && self.user != "root");
        let timeout = cmd.timeout.or(self.default_timeout);
        let mut seen = Received::default();
        let stdin = cmd.stdin.as_deref();
        let out = match &self.inner {
            Inner::Local(c) => c.exec(&line, stdin, timeout, &mut seen).await,
            Inner::Ssh(c) => c.exec(&line, stdin, timeout, &mut seen).await,
        };
        let out = out.map_err(|error| Cut {
            error,
            sent: seen.sent,
            stdout: String::from_utf8_lossy(&seen.stdout).into_owned(),
        })?;
        if self.sudo
            && out.exit_code == Some(1)
            && out.stderr.contains("sudo: a password is required")
        {
            return Err(Cut {
                error: TransportError::SudoPassword {
                    user: self.user.clone(),
                    addr: self.addr.clone(),
                },
                sent: false,
                stdout: String::new(),
            });
        }
        Ok(out)
    }

    /// How many commands this connection has run.
    pub fn executions(&self) -> u32 {
        self.executions.load(Ordering::Relaxed)
    }

    /// Close politely (SSH disconnect).
    pub async fn close(self) {
        if let Inner::Ssh(c) = self.inner {
            c.close().await;
        }
    }
}

/// The command line sent to the host for `script`.
pub fn wrap(script: &str, sudo: bool) -> String {
    let sh = format!("sh -c {}", quote::quote(script));
    if sudo {
        format!("sudo -n -- {sh}")
    } else {
        sh
    }
}
