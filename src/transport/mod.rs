//! Running commands on a host: over SSH (russh) or locally on the controller.
//!
//! A [`Connection`] is opened once per host per run and reused for every
//! command (one SSH channel per command, never a reconnect). Every command is
//! a POSIX `sh` script; [`quote::quote`] is the only way values get into one.
//! The connection counts the executions it performs so that tests and
//! benchmarks can check how many round trips a run costs. A command given
//! up on (time limit, Ctrl-C) is ended with its whole process group by one
//! more execution ([`launch`]).

pub mod jump;
pub mod known_hosts;
pub mod launch;
pub mod local;
pub mod quote;
pub mod route;
pub mod ssh;
pub mod ssh_config;
pub mod stream;
pub mod sudo;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

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
    /// Ctrl-C for the whole run: commands running then are ended.
    pub interrupt: Interrupt,
    /// How each inventory host is reached (ssh_config and jump hosts
    /// applied); a host not in it is reached with its inventory values alone.
    pub routes: Arc<route::Routes>,
    /// The run's jump host connections, shared by the hosts behind them.
    pub jumps: Arc<jump::Jumps>,
    /// The password for `sudo: true` hosts (`--ask-sudo-pass`,
    /// `sudo_password_file`, `sudo_password_env`); sent on stdin only.
    pub sudo_password: Option<Arc<sudo::SudoPassword>>,
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
            interrupt: Interrupt::default(),
            routes: Arc::default(),
            jumps: Arc::default(),
            sudo_password: None,
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
        "sudo on {addr} wants a password; give it with --ask-sudo-pass, sudo_password_file or sudo_password_env, configure NOPASSWD sudo for {user}, or connect as root"
    )]
    SudoPassword { user: String, addr: String },
    #[error("sudo refused the password for {user} on {addr}")]
    SudoRefused { user: String, addr: String },
    #[error("command timed out after {0:?}")]
    Timeout(Duration),
    #[error("interrupted by Ctrl-C")]
    Interrupted,
    #[error("command too long ({len} bytes, limit {limit}): only a command without stdin data can be longer")]
    CommandTooLong { len: usize, limit: usize },
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
            TransportError::Auth { .. }
            | TransportError::SudoPassword { .. }
            | TransportError::SudoRefused { .. } => FailureClass::AuthFailed,
            TransportError::HostKeyUnknown { .. }
            | TransportError::HostKeyChanged { .. }
            | TransportError::HostKeyRejected { .. } => FailureClass::HostKey,
            TransportError::Timeout(_)
            | TransportError::Interrupted
            | TransportError::CommandTooLong { .. }
            | TransportError::Broken { .. }
            | TransportError::Local(_) => FailureClass::Command,
        }
    }
}

/// Ctrl-C, shared by every connection of a run: once triggered, running
/// commands are ended (see [`launch`]) and no new one starts.
#[derive(Debug, Clone)]
pub struct Interrupt(Arc<watch::Sender<bool>>);

impl Default for Interrupt {
    fn default() -> Self {
        Interrupt(Arc::new(watch::Sender::new(false)))
    }
}

impl Interrupt {
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once triggered.
    pub async fn triggered(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives in `self`, so waiting cannot fail.
        let _ = rx.wait_for(|&v| v).await;
    }
}

/// When a running command is given up on: its time limit or Ctrl-C.
pub(crate) struct Stop<'a> {
    deadline: Option<(Instant, Duration)>,
    interrupt: &'a Interrupt,
}

impl Stop<'_> {
    /// `f`, unless the command is given up on first.
    pub(crate) async fn bound<F: std::future::Future>(
        &self,
        f: F,
    ) -> Result<F::Output, TransportError> {
        let deadline = async {
            match self.deadline {
                Some((at, limit)) => {
                    tokio::time::sleep_until(at).await;
                    TransportError::Timeout(limit)
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // Finishing wins over a stop that became due at the same time.
            biased;
            out = f => Ok(out),
            e = deadline => Err(e),
            _ = self.interrupt.triggered() => Err(TransportError::Interrupted),
        }
    }
}

/// How a command ended, as the connection kinds report it.
pub(crate) enum Ended {
    Exited(ExecOutput),
    /// Given up on (`Timeout` or `Interrupted`) while it may still run, with
    /// its process group when known.
    Stopped {
        why: TransportError,
        pgid: Option<u32>,
        /// A local child, killed when dropped: only after its group is ended.
        child: Option<Box<tokio::process::Child>>,
    },
}

enum Inner {
    Local(local::LocalConnection),
    Ssh(Box<ssh::SshConnection>),
}

/// An open connection to one host.
pub struct Connection {
    inner: Inner,
    sudo: bool,
    sudo_user: Option<String>,
    sudo_password: Option<Arc<sudo::SudoPassword>>,
    user: String,
    addr: String,
    default_timeout: Option<Duration>,
    interrupt: Interrupt,
    executions: AtomicU32,
}

impl Connection {
    /// Connect to `host` (for SSH: TCP, key exchange, host key check, auth).
    pub async fn open(host: &Host, opts: &ConnectOptions) -> Result<Connection, TransportError> {
        let (inner, user, addr) = match host.connection {
            ConnectionKind::Local => (
                Inner::Local(local::LocalConnection::new()),
                host.user.clone(),
                host.addr(),
            ),
            ConnectionKind::Ssh => {
                let route = match opts.routes.get(&host.id) {
                    Some(r) => r.clone(),
                    None => route::Route::direct(host),
                };
                let conn = ssh::SshConnection::connect(&route, opts).await?;
                let addr = route.target.addr();
                (Inner::Ssh(Box::new(conn)), route.target.user, addr)
            }
        };
        Ok(Connection {
            inner,
            sudo: host.sudo,
            user,
            addr,
            sudo_user: host.sudo_user.clone(),
            sudo_password: opts.sudo_password.clone(),
            default_timeout: opts.command_timeout,
            interrupt: opts.interrupt.clone(),
            executions: AtomicU32::new(0),
        })
    }

    /// Run one `sh` script. With `sudo`, it runs as `sudo -n -- sh -c ...`
    /// (`sudo -S` with the password on stdin when the run has one).
    /// A command that times out or is interrupted is ended with its whole
    /// process group before this returns.
    pub async fn exec(&self, cmd: &Command) -> Result<ExecOutput, TransportError> {
        self.exec_keeping(cmd).await.map_err(|c| c.error)
    }

    /// [`Connection::exec`], keeping what a command cut short (time limit,
    /// dropped connection) printed before, and whether it may have started.
    pub async fn exec_keeping(&self, cmd: &Command) -> Result<ExecOutput, Cut> {
        let mut seen = Received::default();
        let cut = |error, seen: Received| Cut {
            error,
            sent: seen.sent,
            stdout: String::from_utf8_lossy(&seen.stdout).into_owned(),
        };
        if self.interrupt.is_triggered() {
            return Err(cut(TransportError::Interrupted, seen));
        }
        let launch = launch::Launch::new(&cmd.script, cmd.stdin.as_deref(), self.sudo())
            .map_err(|e| cut(e, Received::default()))?;
        let timeout = cmd.timeout.or(self.default_timeout);
        let stop = Stop {
            deadline: timeout.map(|t| (Instant::now() + t, t)),
            interrupt: &self.interrupt,
        };
        let mut out = match self.run(&launch, &stop, &mut seen).await {
            Ok(Ended::Exited(out)) => out,
            Ok(Ended::Stopped {
                why, pgid, child, ..
            }) => {
                if let Some(pgid) = pgid {
                    self.end_group(pgid).await;
                }
                drop(child);
                return Err(cut(why, seen));
            }
            Err(e) => return Err(cut(e, seen)),
        };
        let ran = launch::wrapper_ran(&out.stderr);
        launch::take_pgid(&mut out.stderr);
        let with_password = self.sudo().is_some_and(|s| s.password.is_some());
        if with_password && sudo::refused(ran, out.exit_code, &out.stderr) {
            return Err(Cut {
                error: TransportError::SudoRefused {
                    user: self.user.clone(),
                    addr: self.addr.clone(),
                },
                sent: false,
                stdout: String::new(),
            });
        }
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

    /// How commands gain privileges: none without `sudo`, nor for root
    /// staying root.
    fn sudo(&self) -> Option<launch::Sudo<'_>> {
        let user = self.sudo_user.as_deref();
        (self.sudo && (self.user != "root" || user.is_some())).then_some(launch::Sudo {
            user,
            password: self.sudo_password.as_deref(),
        })
    }

    /// One execution on the host.
    async fn run(
        &self,
        launch: &launch::Launch<'_>,
        stop: &Stop<'_>,
        seen: &mut Received,
    ) -> Result<Ended, TransportError> {
        self.executions.fetch_add(1, Ordering::Relaxed);
        let stdin = launch.stdin.as_deref();
        match &self.inner {
            Inner::Local(c) => c.exec(&launch.line, stdin, stop, seen).await,
            Inner::Ssh(c) => c.exec(&launch.line, stdin, stop, seen).await,
        }
    }

    /// End a given-up command's process group (TERM, then KILL after
    /// [`launch::GRACE`]): one more execution, as the command's user (through
    /// sudo when it ran so), that Ctrl-C does not stop.
    async fn end_group(&self, pgid: u32) {
        let script = launch::kill_script(pgid);
        let Ok(launch) = launch::Launch::new(&script, None, self.sudo()) else {
            return;
        };
        let never = Interrupt::default();
        let stop = Stop {
            deadline: Some((Instant::now() + launch::GRACE * 4, launch::GRACE * 4)),
            interrupt: &never,
        };
        match self.run(&launch, &stop, &mut Received::default()).await {
            Ok(Ended::Exited(out)) if out.success() => {}
            Ok(Ended::Exited(out)) => {
                tracing::warn!(addr = %self.addr, pgid, "ending the command failed: {}", out.stderr.trim())
            }
            Ok(Ended::Stopped { why, .. }) | Err(why) => {
                tracing::warn!(addr = %self.addr, pgid, "ending the command failed: {why}")
            }
        }
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
