//! The SSH transport (russh): one connection per host, one channel per command.
//!
//! A run opens one connection to each of hundreds of hosts at once, so what
//! OpenSSH does per process is done here once per process: known_hosts is
//! parsed once, each key file is read (and its passphrase asked for) once,
//! and every command of a host is a new channel on its one connection.
//!
//! Errors come out as [`TransportError`]s a sysadmin can act on: a refused
//! host key is `HostKeyUnknown`/`HostKeyChanged` (never a generic protocol
//! error), retries happen only for failures that a second try can fix.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use russh::client::{self, DisconnectReason, Handle, Msg};
use russh::keys::agent::client::AgentClient;
use russh::keys::agent::AgentIdentity;
use russh::keys::ssh_key::{Algorithm, Certificate, EcdsaCurve, HashAlg, PrivateKey, PublicKey};
use russh::keys::{PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{
    cipher, compression, kex, ChannelMsg, ChannelReadHalf, ChannelWriteHalf, Disconnect,
    MethodKind, Preferred, Sig,
};
use tokio::net::UnixStream;
use tokio::sync::{Notify, OnceCell, OwnedSemaphorePermit, Semaphore};

use super::known_hosts::{self, Entry, Verdict};
use super::route::{Auth, Endpoint, Route};
use super::stream::{self, Said, Stream, StreamError};
use super::{
    launch, ConnectOptions, Ended, ExecOutput, HostKeyPolicy, Received, Stop, TransportError,
};

/// OpenSSH's default `MaxSessions`: sshd refuses more session channels than
/// this on one connection, so concurrent execs queue here instead of failing.
/// A server configured lower is detected and the limit lowered (see `open`).
const MAX_SESSIONS: usize = 10;

/// curve25519 first: the cheapest exchange every OpenSSH since 6.5 offers
/// (the post-quantum hybrid costs more CPU and bytes per connection, and
/// connections are what a fleet run is made of). The rest is for old or
/// FIPS-restricted servers. The ext-info and strict-kex markers must stay.
const KEX_ORDER: &[kex::Name] = &[
    kex::CURVE25519,
    kex::CURVE25519_PRE_RFC_8731,
    kex::MLKEM768X25519_SHA256,
    kex::ECDH_SHA2_NISTP256,
    kex::DH_GEX_SHA256,
    kex::DH_G16_SHA512,
    kex::DH_G14_SHA256,
    kex::EXTENSION_SUPPORT_AS_CLIENT,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
];

/// Ed25519 host keys verify fastest; SHA-1 `ssh-rsa` is left out as OpenSSH
/// 8.8 did.
const HOST_KEY_ORDER: &[Algorithm] = &[
    Algorithm::Ed25519,
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP256,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP384,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP521,
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha512),
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha256),
    },
];

/// AEAD ciphers need no separate MAC pass; CTR is for old servers only.
const CIPHER_ORDER: &[cipher::Name] = &[
    cipher::CHACHA20_POLY1305,
    cipher::AES_128_GCM,
    cipher::AES_256_GCM,
    cipher::AES_128_CTR,
    cipher::AES_256_CTR,
];

/// Command output is small and the link is usually a LAN: compressing costs
/// more than it saves.
const COMPRESSION_ORDER: &[compression::Name] = &[compression::NONE];

/// An authenticated connection to one host.
pub struct SshConnection {
    handle: Handle<Client>,
    addr: String,
    shared: Arc<Shared>,
    /// Session channels this connection may have open at once.
    sessions: Semaphore,
    /// Permits `sessions` still has (it cannot be asked), so that lowering the
    /// limit never takes the last one.
    session_limit: AtomicUsize,
    open_channels: Arc<AtomicUsize>,
    /// Signalled whenever a command's channel is done with.
    channel_closed: Arc<Notify>,
    /// The jump host this connection runs through, kept open while it is.
    _via: Option<Arc<SshConnection>>,
}

/// State the connection's background task shares with the connection.
#[derive(Default)]
struct Shared {
    /// Why the connection ended, for `Broken` errors of commands running then.
    disconnect: Mutex<Option<String>>,
}

impl Shared {
    fn set_disconnect(&self, why: String) {
        let mut d = self.disconnect.lock().unwrap_or_else(|p| p.into_inner());
        d.get_or_insert(why);
    }

    fn disconnect_reason(&self) -> Option<String> {
        self.disconnect
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl SshConnection {
    /// The host's route: its jump hosts (each opened once per run and
    /// shared, `ConnectOptions::jumps`), then the host itself through the
    /// last one.
    pub async fn connect(
        route: &Route,
        opts: &ConnectOptions,
    ) -> Result<SshConnection, TransportError> {
        let via = opts.jumps.reach(&route.jumps, &route.target, opts).await?;
        Self::connect_endpoint(&route.target, via, opts).await
    }

    /// Connect (TCP, a channel on `via`, or a ProxyCommand; with retries on
    /// transient failures), key exchange, host key verification against
    /// known_hosts under the endpoint's own name, then authentication.
    pub(crate) async fn connect_endpoint(
        ep: &Endpoint,
        via: Option<Arc<SshConnection>>,
        opts: &ConnectOptions,
    ) -> Result<SshConnection, TransportError> {
        let addr = ep.addr();
        let keys = KeyCheck::new(ep, opts)?;
        let config = client_config(opts, &keys.entries, ep.keepalive);
        let keys = Arc::new(keys);
        let (mut handle, shared, permit) = paced(ep, via.as_deref(), opts, &config, &keys).await?;

        let step_timeout = ep.connect_timeout.max(Duration::from_secs(10));
        let mut auth = Authenticator {
            handle: &mut handle,
            shared: &shared,
            user: &ep.user,
            addr: &addr,
            step_timeout,
            rsa_hash: None,
            certificates: &ep.auth.certificates,
            tried: Vec::new(),
            notes: Vec::new(),
            server_methods: None,
            publickey_refused: false,
        };
        if let Err(e) = auth.run(&ep.auth).await {
            let _ = handle
                .disconnect(Disconnect::ByApplication, "authentication failed", "en")
                .await;
            return Err(e);
        }
        tracing::debug!(%addr, user = %ep.user, "authenticated");
        drop(permit);
        Ok(SshConnection {
            handle,
            addr,
            shared,
            sessions: Semaphore::new(MAX_SESSIONS),
            session_limit: AtomicUsize::new(MAX_SESSIONS),
            open_channels: Arc::new(AtomicUsize::new(0)),
            channel_closed: Arc::new(Notify::new()),
            _via: via,
        })
    }

    /// Whether the connection has ended (its session task stopped).
    pub(crate) fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// `host:port` of this connection's server.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// A `direct-tcpip` channel to `host:port`, opened by this server.
    pub(crate) async fn direct_tcpip(
        &self,
        host: &str,
        port: u16,
    ) -> Result<russh::Channel<Msg>, russh::Error> {
        self.handle
            .channel_open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0)
            .await
    }

    /// Run a complete command line (already wrapped as `sh -c ...`) on a new
    /// channel. `seen` keeps whether the server took the request and, when
    /// the command is cut short, the stdout received before.
    pub(crate) async fn exec(
        &self,
        line: &str,
        stdin: Option<&[u8]>,
        stop: &Stop<'_>,
        seen: &mut Received,
    ) -> Result<Ended, TransportError> {
        let (channel, _permit) = stop.bound(self.open()).await??;
        let (mut rx, tx) = channel.split();
        let mut guard = OpenChannel::new(tx, &self.open_channels, &self.channel_closed);
        match stop.bound(guard.tx().exec(true, line)).await {
            Ok(sent) => sent.map_err(|e| self.broken(e))?,
            Err(why) => {
                guard.abandon().await;
                return Ok(Ended::Stopped {
                    why,
                    pgid: None,
                    child: None,
                });
            }
        }
        seen.sent = true;
        let (end, mut got) = self.collect(&mut rx, guard.tx(), stdin, stop).await;
        if !matches!(end, End::Done) {
            seen.stdout = std::mem::take(&mut got.stdout);
        }
        match end {
            End::Done => guard.finished(),
            End::Stopped(why) => {
                guard.abandon().await;
                let stderr = String::from_utf8_lossy(&got.stderr);
                return Ok(Ended::Stopped {
                    why,
                    pgid: launch::pgid(&stderr),
                    child: None,
                });
            }
            // The server refused the exec: the command never started.
            End::Abandon(e) => {
                seen.sent = false;
                guard.abandon().await;
                return Err(e);
            }
            End::Lost => {
                guard.finished();
                return Err(self.gone());
            }
        }
        Ok(Ended::Exited(got.output()))
    }

    /// Feed `stdin` to a command while gathering what its channel sends,
    /// until it ends, the connection goes, or the command is given up on.
    async fn collect(
        &self,
        rx: &mut ChannelReadHalf,
        tx: &ChannelWriteHalf<Msg>,
        stdin: Option<&[u8]>,
        stop: &Stop<'_>,
    ) -> (End, Gathered) {
        let mut got = Gathered::default();
        // Fed concurrently with reading: a command that writes much before
        // reading its input would otherwise deadlock on the window.
        let feed = async move {
            if let Some(data) = stdin.filter(|d| !d.is_empty()) {
                tx.data(data).await?;
            }
            tx.eof().await
        };
        let mut feed = pin!(feed);
        let mut feeding = true;
        let end = loop {
            let next = async {
                tokio::select! {
                    r = &mut feed, if feeding => Step::Fed(r),
                    m = rx.wait() => Step::Msg(m),
                }
            };
            let step = match stop.bound(next).await {
                Ok(step) => step,
                Err(e) => break End::Stopped(e),
            };
            match step {
                Step::Fed(r) => {
                    feeding = false;
                    if let Err(e) = r {
                        // The command may exit without reading its input.
                        tracing::debug!(addr = %self.addr, "stdin not fully sent: {e}");
                    }
                }
                // The only request sent with want_reply is the exec.
                Step::Msg(Some(ChannelMsg::Failure)) => {
                    break End::Abandon(TransportError::Broken {
                        addr: self.addr.clone(),
                        reason: "the server refused to run the command".into(),
                    })
                }
                Step::Msg(Some(ChannelMsg::Close)) => break End::Done,
                Step::Msg(Some(msg)) => got.take(msg),
                Step::Msg(None) if got.ended() => break End::Done,
                Step::Msg(None) => break End::Lost,
            }
        };
        (end, got)
    }

    /// A session channel, waiting while `MaxSessions` of them are busy.
    async fn open(
        &self,
    ) -> Result<(russh::Channel<Msg>, tokio::sync::SemaphorePermit<'_>), TransportError> {
        let mut refusals = 0;
        loop {
            let permit = self.sessions.acquire().await.map_err(|_| self.gone())?;
            // Registered before trying, so a command ending meanwhile counts.
            let ended = self.channel_closed.notified();
            match self.handle.channel_open_session().await {
                Ok(channel) => return Ok((channel, permit)),
                Err(russh::Error::ChannelOpenFailure(why))
                    if self.open_channels.load(Ordering::Relaxed) > 0 =>
                {
                    // sshd counts a session until it has reaped it, a moment
                    // after its channel closed: at the limit, a refusal may
                    // only mean "not yet". Refused again and again, the server
                    // allows fewer sessions than this: lower the limit for good.
                    refusals += 1;
                    tracing::debug!(addr = %self.addr, refusals, "session refused: {}", why.description());
                    if refusals >= 3 && self.session_limit.load(Ordering::Relaxed) > 1 {
                        self.session_limit.fetch_sub(1, Ordering::Relaxed);
                        permit.forget();
                        refusals = 0;
                    } else {
                        drop(permit);
                    }
                    let _ = tokio::time::timeout(Duration::from_millis(100), ended).await;
                }
                Err(russh::Error::ChannelOpenFailure(why)) => {
                    return Err(TransportError::Broken {
                        addr: self.addr.clone(),
                        reason: format!(
                            "the server refused a session channel: {}",
                            why.description()
                        ),
                    })
                }
                Err(e) => return Err(self.broken(e)),
            }
        }
    }

    fn broken(&self, e: russh::Error) -> TransportError {
        tracing::debug!(addr = %self.addr, "channel error: {e}");
        self.gone()
    }

    fn gone(&self) -> TransportError {
        TransportError::Broken {
            addr: self.addr.clone(),
            reason: self.lost_reason(),
        }
    }

    fn lost_reason(&self) -> String {
        match self.shared.disconnect_reason() {
            Some(r) => format!("connection lost: {r}"),
            None => "connection lost".into(),
        }
    }

    /// Polite disconnect: the server logs a clean logout instead of a reset.
    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "disconnected by halite", "en")
            .await;
        // Let the background task flush the disconnect message.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.handle).await;
    }
}

enum Step {
    Fed(Result<(), russh::Error>),
    Msg(Option<ChannelMsg>),
}

/// What a command's channel has sent so far.
#[derive(Default)]
struct Gathered {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    exit_code: Option<i32>,
    signal: Option<String>,
}

impl Gathered {
    fn take(&mut self, msg: ChannelMsg) {
        match msg {
            ChannelMsg::Data { data } => self.stdout.extend_from_slice(&data),
            ChannelMsg::ExtendedData { data, ext: 1 } => self.stderr.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => self.exit_code = Some(exit_status as i32),
            ChannelMsg::ExitSignal {
                signal_name,
                core_dumped,
                error_message,
                ..
            } => {
                let mut s = format!("killed by signal SIG{}", signal_name_of(&signal_name));
                if core_dumped {
                    s.push_str(" (core dumped)");
                }
                if !error_message.is_empty() {
                    s.push_str(": ");
                    s.push_str(&error_message);
                }
                self.signal = Some(s);
            }
            _ => {}
        }
    }

    /// Whether the command's end (exit status or signal) has arrived.
    fn ended(&self) -> bool {
        self.exit_code.is_some() || self.signal.is_some()
    }

    fn output(self) -> ExecOutput {
        let mut stderr = String::from_utf8_lossy(&self.stderr).into_owned();
        let mut exit_code = self.exit_code;
        if let Some(s) = self.signal {
            if !stderr.is_empty() && !stderr.ends_with('\n') {
                stderr.push('\n');
            }
            stderr.push_str(&s);
            stderr.push('\n');
            exit_code = None;
        }
        ExecOutput {
            stdout: String::from_utf8_lossy(&self.stdout).into_owned(),
            stderr,
            exit_code,
        }
    }
}

/// How the wait for a command ended.
enum End {
    Done,
    /// Given up on (time limit, Ctrl-C): the command may still run.
    Stopped(TransportError),
    /// Give up on the command (refused): close its channel.
    Abandon(TransportError),
    /// The connection went away under the command.
    Lost,
}

/// A channel whose command may still be running. Dropped before it finished
/// (the caller gave up on the exec), it closes the channel so the server
/// does not keep the command and a `MaxSessions` slot.
struct OpenChannel {
    tx: Option<ChannelWriteHalf<Msg>>,
    open_channels: Arc<AtomicUsize>,
    closed: Arc<Notify>,
}

impl OpenChannel {
    fn new(
        tx: ChannelWriteHalf<Msg>,
        open_channels: &Arc<AtomicUsize>,
        closed: &Arc<Notify>,
    ) -> Self {
        open_channels.fetch_add(1, Ordering::Relaxed);
        OpenChannel {
            tx: Some(tx),
            open_channels: open_channels.clone(),
            closed: closed.clone(),
        }
    }

    fn tx(&self) -> &ChannelWriteHalf<Msg> {
        self.tx
            .as_ref()
            .expect("OpenChannel used after it was finished")
    }

    fn finished(&mut self) {
        self.tx = None;
    }

    /// Stop the command as far as the channel can: a signal (OpenSSH 7.9+
    /// honours it only for a non-root login, and it cannot reach a sudo
    /// command), then close, which sshd answers by closing the command's
    /// pipes. `Connection` ends the command's process group itself.
    async fn abandon(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.signal(Sig::TERM).await;
            let _ = tx.close().await;
        }
    }
}

impl Drop for OpenChannel {
    fn drop(&mut self) {
        self.open_channels.fetch_sub(1, Ordering::Relaxed);
        self.closed.notify_waiters();
        if let Some(tx) = self.tx.take() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = tx.signal(Sig::TERM).await;
                    let _ = tx.close().await;
                });
            }
        }
    }
}

fn signal_name_of(sig: &Sig) -> String {
    match sig {
        Sig::Custom(name) => name.clone(),
        other => format!("{other:?}"),
    }
}

/// Handshakes with retries on transient failures. Pacing: at most
/// `opts.handshakes` connections between connect and authenticated at once,
/// across the run (each hop counts once, when it is itself connecting).
/// sshd drops unauthenticated connections beyond MaxStartups (10:30:100 by
/// default), and many hosts behind one sshd, NAT or bastion would otherwise
/// turn a large --forks into refused connections. The permit is let go
/// while waiting to retry; the caller keeps it until authenticated.
async fn paced(
    ep: &Endpoint,
    via: Option<&SshConnection>,
    opts: &ConnectOptions,
    config: &Arc<client::Config>,
    keys: &Arc<KeyCheck>,
) -> Result<(Handle<Client>, Arc<Shared>, Option<OwnedSemaphorePermit>), TransportError> {
    let addr = ep.addr();
    let attempts = opts.connect_attempts.max(1);
    let mut backoff = opts.retry_backoff;
    let mut attempt = 1;
    loop {
        let permit = match &opts.handshakes {
            Some(sem) => Some(
                sem.clone()
                    .acquire_owned()
                    .await
                    .expect("the handshake semaphore is never closed"),
            ),
            None => None,
        };
        match handshake(ep, via, config, keys).await {
            Ok((handle, shared)) => return Ok((handle, shared, permit)),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Transient(reason)) if attempt < attempts => {
                drop(permit);
                let pause = jitter(backoff, &addr);
                tracing::debug!(%addr, attempt, ?pause, "{reason}; retrying");
                tokio::time::sleep(pause).await;
                backoff = backoff.saturating_mul(2);
                attempt += 1;
            }
            Err(Failure::Transient(reason)) => {
                let reason = if attempts > 1 {
                    format!("{reason} after {attempts} attempts")
                } else {
                    reason
                };
                return Err(TransportError::Unreachable { addr, reason });
            }
        }
    }
}

/// How an endpoint's host key is checked: its known_hosts entries, the
/// file new keys go to, and the policy (a flag wins; ssh_config's
/// `StrictHostKeyChecking accept-new`/`no` only loosens the default).
struct KeyCheck {
    /// Each known_hosts file with its lines for this host.
    files: Vec<(PathBuf, Vec<Entry>)>,
    /// All of them, for the algorithm preference.
    entries: Vec<Entry>,
    /// Where a new key is recorded (--accept-new): the first file.
    file: PathBuf,
    policy: HostKeyPolicy,
}

impl KeyCheck {
    fn new(ep: &Endpoint, opts: &ConnectOptions) -> Result<KeyCheck, TransportError> {
        // ssh_config's UserKnownHostsFile counts only where the run's own
        // known_hosts is the default one (a flag or halite.yaml wins).
        let files: Vec<PathBuf> = match &ep.known_hosts {
            Some(files)
                if !files.is_empty() && opts.known_hosts == super::default_known_hosts() =>
            {
                files.clone()
            }
            _ => vec![opts.known_hosts.clone()],
        };
        let policy = match opts.host_key_policy {
            HostKeyPolicy::Strict if ep.accept_new => HostKeyPolicy::AcceptNew,
            p => p,
        };
        let mut looked = Vec::new();
        if policy != HostKeyPolicy::InsecureIgnore {
            for f in &files {
                let entries = known_hosts::lookup(f, &ep.name, ep.port).map_err(|e| {
                    TransportError::HostKeyRejected {
                        addr: ep.addr(),
                        reason: format!("cannot read {}: {e}", f.display()),
                    }
                })?;
                looked.push((f.clone(), entries));
            }
        }
        Ok(KeyCheck {
            entries: looked.iter().flat_map(|(_, e)| e.clone()).collect(),
            files: looked,
            file: files[0].clone(),
            policy,
        })
    }

    /// What the files say about `key`, and which file said it: a revoked
    /// key anywhere is refused, a match anywhere is known, else the first
    /// file naming the host with another key makes it changed.
    fn verdict(&self, key: &PublicKey) -> (Verdict, &Path) {
        let verdicts: Vec<(Verdict, &Path)> = self
            .files
            .iter()
            .map(|(f, entries)| (known_hosts::verify(entries, key), f.as_path()))
            .collect();
        let find = |want: fn(&Verdict) -> bool| verdicts.iter().find(|(v, _)| want(v)).cloned();
        find(|v| matches!(v, Verdict::Revoked { .. }))
            .or_else(|| find(|v| *v == Verdict::Known))
            .or_else(|| find(|v| matches!(v, Verdict::Changed { .. })))
            .unwrap_or((Verdict::Unknown, self.file.as_path()))
    }
}

/// Why one connection attempt failed, and whether another might succeed.
enum Failure {
    /// Refused, reset, timed out, or closed by the server during the handshake
    /// (sshd drops connections beyond `MaxStartups`): worth retrying.
    Transient(String),
    /// Host key, protocol or name resolution problems: retrying cannot help.
    Fatal(TransportError),
}

async fn handshake(
    ep: &Endpoint,
    via: Option<&SshConnection>,
    config: &Arc<client::Config>,
    keys: &Arc<KeyCheck>,
) -> Result<(Handle<Client>, Arc<Shared>), Failure> {
    let addr = ep.addr();
    let limit = ep.connect_timeout;
    let (stream, said) = match tokio::time::timeout(limit, stream(ep, via)).await {
        Err(_) => {
            return Err(Failure::Transient(format!(
                "connection timed out ({})",
                secs(limit)
            )))
        }
        Ok(r) => r?,
    };
    let shared = Arc::new(Shared::default());
    let handler = Client {
        host: ep.name.clone(),
        port: ep.port,
        addr: addr.clone(),
        keys: keys.clone(),
        shared: shared.clone(),
    };
    let failure = match tokio::time::timeout(
        limit,
        client::connect_stream(config.clone(), stream, handler),
    )
    .await
    {
        Err(_) => Failure::Transient(format!("no SSH handshake within {}", secs(limit))),
        Ok(Err(ClientError::HostKey(e))) => return Err(Failure::Fatal(e)),
        Ok(Err(ClientError::Ssh(e))) => ssh_failure(&addr, e),
        Ok(Ok(handle)) => return Ok((handle, shared)),
    };
    // A ProxyCommand's own words say more than "the server closed the
    // connection".
    let Some(said) = said else {
        return Err(failure);
    };
    let Some(text) = said.text().await else {
        return Err(failure);
    };
    let with = |reason: String| format!("{reason}; the ProxyCommand said: {text}");
    Err(match failure {
        Failure::Transient(reason) => Failure::Transient(with(reason)),
        Failure::Fatal(TransportError::Unreachable { addr, reason }) => {
            Failure::Fatal(TransportError::Unreachable {
                addr,
                reason: with(reason),
            })
        }
        other => other,
    })
}

/// A `direct-tcpip` channel from `via` to `to`.
async fn through(via: &SshConnection, to: &Endpoint) -> Result<Stream, StreamError> {
    match via.direct_tcpip(&to.name, to.port).await {
        Ok(channel) => Ok(Box::new(channel.into_stream())),
        Err(russh::Error::ChannelOpenFailure(why)) => Err(StreamError::Transient(format!(
            "the jump host {} could not connect to it: {}",
            via.addr(),
            why.description()
        ))),
        Err(e) => Err(StreamError::Fatal(format!(
            "the connection to jump host {} was lost: {e}",
            via.addr()
        ))),
    }
}

/// The stream the session runs over: a channel on the previous hop, a
/// ProxyCommand, or TCP.
async fn stream(
    ep: &Endpoint,
    via: Option<&SshConnection>,
) -> Result<(Stream, Option<Said>), Failure> {
    let addr = ep.addr();
    let fatal = |reason| {
        Failure::Fatal(TransportError::Unreachable {
            addr: addr.clone(),
            reason,
        })
    };
    let got = match (via, &ep.proxy_command) {
        (Some(via), _) => through(via, ep).await.map(|s| (s, None)),
        (None, Some(cmd)) => stream::command(cmd).map(|(s, said)| (s, Some(said))),
        (None, None) => return tcp(ep).await.map(|s| (s, None)),
    };
    got.map_err(|e| match e {
        StreamError::Transient(why) => Failure::Transient(why),
        StreamError::Fatal(why) => fatal(why),
    })
}

async fn tcp(ep: &Endpoint) -> Result<Stream, Failure> {
    let addr = ep.addr();
    let targets = tokio::net::lookup_host((ep.name.as_str(), ep.port))
        .await
        .map_err(|e| {
            Failure::Fatal(TransportError::Unreachable {
                addr: addr.clone(),
                reason: format!("cannot resolve {}: {e}", ep.name),
            })
        })?
        .collect::<Vec<_>>();
    let stream = tokio::net::TcpStream::connect(&targets[..])
        .await
        .map_err(|e| io_failure(&addr, e))?;
    // Commands are small request/response exchanges: Nagle would add delay.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%addr, "set_nodelay: {e}");
    }
    Ok(Box::new(stream))
}

fn io_failure(addr: &str, e: std::io::Error) -> Failure {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => Failure::Transient("connection refused".into()),
        ConnectionReset | ConnectionAborted => Failure::Transient("connection reset".into()),
        TimedOut => Failure::Transient("connection timed out".into()),
        _ => Failure::Fatal(TransportError::Unreachable {
            addr: addr.to_string(),
            reason: e.to_string(),
        }),
    }
}

fn ssh_failure(addr: &str, e: russh::Error) -> Failure {
    use std::io::ErrorKind::*;
    let closed = "the server closed the connection during the SSH handshake (sshd MaxStartups?)";
    match e {
        russh::Error::Disconnect | russh::Error::HUP => Failure::Transient(closed.into()),
        russh::Error::IO(ref io)
            if matches!(
                io.kind(),
                UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
            ) =>
        {
            Failure::Transient(closed.into())
        }
        russh::Error::Version => Failure::Fatal(TransportError::Unreachable {
            addr: addr.to_string(),
            reason: "not an SSH server (no valid SSH version banner)".into(),
        }),
        russh::Error::NoCommonAlgo { kind, theirs, .. } => {
            Failure::Fatal(TransportError::Unreachable {
                addr: addr.to_string(),
                reason: format!(
                    "no {kind:?} algorithm in common with the server (it offers {})",
                    theirs.join(", ")
                ),
            })
        }
        e => Failure::Fatal(TransportError::Unreachable {
            addr: addr.to_string(),
            reason: format!("SSH handshake failed: {e}"),
        }),
    }
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// Up to +50% on a retry delay, so hosts that were refused together (a burst
/// against one sshd's MaxStartups) do not all come back at the same instant.
fn jitter(base: Duration, addr: &str) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let spread = addr
        .bytes()
        .fold(nanos, |h, b| h.rotate_left(5) ^ u32::from(b));
    base + base.mul_f64(f64::from(spread % 500) / 1000.0)
}

fn client_config(
    opts: &ConnectOptions,
    entries: &[Entry],
    keepalive: Option<(Duration, u32)>,
) -> Arc<client::Config> {
    // Ask for the key types known_hosts already has for this host first, as
    // ssh does; otherwise a host recorded by its ECDSA key would be "unknown"
    // when it also offers Ed25519.
    let known = known_hosts::known_algorithms(entries);
    let is_known = |alg: &Algorithm| {
        known.iter().any(|k| match (alg, k) {
            (Algorithm::Rsa { .. }, Algorithm::Rsa { .. }) => true,
            (a, b) => a == b,
        })
    };
    let (mut keys, others): (Vec<Algorithm>, Vec<Algorithm>) =
        HOST_KEY_ORDER.iter().cloned().partition(|a| is_known(a));
    keys.extend(others);
    Arc::new(client::Config {
        preferred: Preferred {
            kex: Cow::Borrowed(KEX_ORDER),
            key: Cow::Owned(keys),
            host_key_certificates: Cow::Borrowed(&[]),
            cipher: Cow::Borrowed(CIPHER_ORDER),
            mac: Preferred::DEFAULT.mac,
            compression: Cow::Borrowed(COMPRESSION_ORDER),
        },
        // ssh_config's ServerAliveInterval/CountMax for this host, else the run's.
        keepalive_interval: match keepalive {
            Some((every, _)) => Some(every),
            None => (!opts.keepalive.is_zero()).then_some(opts.keepalive),
        },
        keepalive_max: keepalive.map_or(3, |(_, n)| n as usize),
        nodelay: true,
        ..Default::default()
    })
}

/// The russh event handler of one connection: checks the host key and notes
/// why the connection ended.
struct Client {
    host: String,
    port: u16,
    addr: String,
    keys: Arc<KeyCheck>,
    shared: Arc<Shared>,
}

/// The handler's error: a host key verdict travels as itself through russh,
/// so that `connect` returns it typed rather than as "Unknown server key".
#[derive(Debug)]
enum ClientError {
    Ssh(russh::Error),
    HostKey(TransportError),
}

impl From<russh::Error> for ClientError {
    fn from(e: russh::Error) -> Self {
        ClientError::Ssh(e)
    }
}

impl Client {
    fn judge(&self, key: &PublicKey) -> Result<(), TransportError> {
        if self.keys.policy == HostKeyPolicy::InsecureIgnore {
            tracing::debug!(addr = %self.addr, key = %known_hosts::fingerprint(key), "host key not checked");
            return Ok(());
        }
        let (mut verdict, file) = self.keys.verdict(key);
        let file = file.to_path_buf();
        if verdict == Verdict::Unknown && self.keys.policy == HostKeyPolicy::AcceptNew {
            verdict =
                known_hosts::learn(&self.keys.file, &self.host, self.port, key).map_err(|e| {
                    TransportError::HostKeyRejected {
                        addr: self.addr.clone(),
                        reason: format!(
                            "cannot record its key in {}: {e}",
                            self.keys.file.display()
                        ),
                    }
                })?;
            if verdict == Verdict::Known {
                tracing::debug!(addr = %self.addr, key = %known_hosts::fingerprint(key), "recorded new host key");
            }
        }
        match verdict {
            Verdict::Known => Ok(()),
            Verdict::Unknown => Err(TransportError::HostKeyUnknown {
                addr: self.addr.clone(),
                fingerprint: known_hosts::fingerprint(key),
                known_hosts: self.keys.file.clone(),
            }),
            Verdict::Changed { line } => Err(TransportError::HostKeyChanged {
                addr: self.addr.clone(),
                fingerprint: known_hosts::fingerprint(key),
                known_hosts: file,
                line,
            }),
            Verdict::Revoked { line } => Err(TransportError::HostKeyRejected {
                addr: self.addr.clone(),
                reason: format!(
                    "the server offered {}, which {} line {line} marks @revoked",
                    known_hosts::fingerprint(key),
                    file.display()
                ),
            }),
        }
    }
}

impl client::Handler for Client {
    type Error = ClientError;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // No certificate algorithms are offered, so this is a plain key.
        let key = server_public_key.public_key();
        self.judge(&key).map_err(ClientError::HostKey)?;
        Ok(true)
    }

    async fn kex_done(
        &mut self,
        _shared_secret: Option<&[u8]>,
        names: &russh::Names,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        tracing::debug!(
            addr = %self.addr,
            kex = ?names.kex,
            host_key = %names.key,
            cipher = ?names.cipher,
            "key exchange done"
        );
        Ok(())
    }

    async fn disconnected(
        &mut self,
        reason: DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        match reason {
            DisconnectReason::ReceivedDisconnect(info) => {
                self.shared.set_disconnect(if info.message.is_empty() {
                    format!("the server disconnected ({:?})", info.reason_code)
                } else {
                    format!("the server disconnected: {}", info.message)
                });
                Ok(())
            }
            DisconnectReason::Error(e) => {
                self.shared.set_disconnect(match &e {
                    ClientError::Ssh(e) => describe(e),
                    ClientError::HostKey(e) => e.to_string(),
                });
                Err(e)
            }
        }
    }
}

/// A dropped connection in words a sysadmin reads without knowing russh.
fn describe(e: &russh::Error) -> String {
    use std::io::ErrorKind::*;
    match e {
        russh::Error::IO(io) if io.kind() == UnexpectedEof => {
            "the server closed the connection".into()
        }
        russh::Error::IO(io) if matches!(io.kind(), ConnectionReset | BrokenPipe) => {
            "the connection was reset".into()
        }
        russh::Error::KeepaliveTimeout => "the server stopped answering keepalives".into(),
        e => e.to_string(),
    }
}

/// Tries the configured ways to log in, in order, and keeps what was tried
/// for the error message.
struct Authenticator<'a> {
    handle: &'a mut Handle<Client>,
    shared: &'a Shared,
    user: &'a str,
    addr: &'a str,
    /// Bound on each exchange with the server, so a stalled server cannot
    /// hang the run (a passphrase prompt is outside it).
    step_timeout: Duration,
    /// The RSA signature hash the server accepts, asked once.
    rsa_hash: Option<Option<HashAlg>>,
    /// ssh_config's CertificateFiles.
    certificates: &'a [PathBuf],
    tried: Vec<String>,
    notes: Vec<String>,
    server_methods: Option<String>,
    /// The server no longer lists publickey: trying more keys is pointless.
    publickey_refused: bool,
}

enum Attempt {
    Success,
    Failed,
}

impl Authenticator<'_> {
    /// The inventory's key alone; else the agent's keys (unless
    /// `IdentitiesOnly`), then ssh_config's IdentityFiles or the default
    /// key files, as ssh does.
    async fn run(&mut self, auth: &Auth) -> Result<(), TransportError> {
        let done = match &auth.pinned {
            Some(path) => self.with_identity(path).await?,
            None => {
                let mut agent = if auth.identities_only {
                    None
                } else {
                    Agent::connect(self.handle).await
                };
                self.with_defaults(agent.as_mut(), &auth.files).await?
            }
        };
        if done {
            return Ok(());
        }
        let mut reason = if self.tried.is_empty() {
            "no key to offer: set `identity` for the host, load a key into ssh-agent, or create ~/.ssh/id_ed25519".to_string()
        } else {
            format!("the server refused {}", self.tried.join(", "))
        };
        if let Some(methods) = &self.server_methods {
            reason.push_str(&format!(" (it accepts: {methods})"));
        }
        for note in &self.notes {
            reason.push_str("; ");
            reason.push_str(note);
        }
        Err(self.fail(reason))
    }

    fn fail(&self, reason: String) -> TransportError {
        TransportError::Auth {
            user: self.user.to_string(),
            addr: self.addr.to_string(),
            reason,
        }
    }

    /// Only the given key, as `IdentitiesOnly`: a host pinned to a key must
    /// not be logged into with whatever else the agent holds.
    async fn with_identity(&mut self, path: &Path) -> Result<bool, TransportError> {
        let file = key_file(path).await;
        match &*file {
            KeyFile::Plain(key) => {
                let key = key.clone();
                Ok(matches!(self.try_key(key, path).await?, Attempt::Success))
            }
            KeyFile::Unusable(why) => Err(self.fail(format!("key {}: {why}", path.display()))),
            KeyFile::Encrypted { public, .. } => {
                // The agent is asked only here: a plain key file needs no agent.
                if let Some(public) = public {
                    if let Some(mut agent) = Agent::connect(self.handle).await {
                        if let Some(id) = agent.holding(public) {
                            let label = format!("{} (via ssh-agent)", path.display());
                            return Ok(matches!(
                                self.try_agent(&mut agent, id, &label).await?,
                                Attempt::Success
                            ));
                        }
                    }
                }
                match decrypt(path, &file).await {
                    Ok(key) => Ok(matches!(self.try_key(key, path).await?, Attempt::Success)),
                    Err(why) => Err(self.fail(why)),
                }
            }
        }
    }

    /// The agent's keys, then `files` (missing ones skipped), or when there
    /// are none ~/.ssh/id_ed25519, id_ecdsa and id_rsa, as ssh does.
    async fn with_defaults(
        &mut self,
        agent: Option<&mut Agent>,
        files: &[PathBuf],
    ) -> Result<bool, TransportError> {
        let mut offered: Vec<PublicKey> = Vec::new();
        if let Some(agent) = agent {
            for id in agent.identities.clone() {
                if self.publickey_refused {
                    break;
                }
                let label = match id.comment() {
                    "" => format!(
                        "ssh-agent key {}",
                        known_hosts::fingerprint(&id.public_key())
                    ),
                    c => format!("ssh-agent key {c}"),
                };
                offered.push(id.public_key().into_owned());
                if let Attempt::Success = self.try_agent(agent, id, &label).await? {
                    return Ok(true);
                }
            }
        }
        let files = if files.is_empty() {
            let Some(home) = std::env::var_os("HOME").map(PathBuf::from) else {
                return Ok(false);
            };
            ["id_ed25519", "id_ecdsa", "id_rsa"]
                .iter()
                .map(|name| home.join(".ssh").join(name))
                .collect()
        } else {
            files.to_vec()
        };
        for path in files {
            if self.publickey_refused {
                break;
            }
            if !path.exists() {
                continue;
            }
            let file = key_file(&path).await;
            let key = match &*file {
                KeyFile::Plain(key) => key.clone(),
                KeyFile::Unusable(why) => {
                    self.notes.push(format!("{}: {why}", path.display()));
                    continue;
                }
                KeyFile::Encrypted { public, .. } => {
                    if public
                        .as_ref()
                        .is_some_and(|p| offered.iter().any(|o| o.key_data() == p.key_data()))
                    {
                        continue;
                    }
                    match decrypt(&path, &file).await {
                        Ok(key) => key,
                        Err(why) => {
                            self.notes.push(why);
                            continue;
                        }
                    }
                }
            };
            if offered
                .iter()
                .any(|o| o.key_data() == key.public_key().key_data())
            {
                continue;
            }
            offered.push(key.public_key().clone());
            if let Attempt::Success = self.try_key(key, &path).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn hash_for(&mut self, alg: Algorithm) -> Option<HashAlg> {
        if !alg.is_rsa() {
            return None;
        }
        if self.rsa_hash.is_none() {
            // rsa-sha2-512/256 when the server lists them in server-sig-algs;
            // plain ssh-rsa (SHA-1) only for servers too old to send the list.
            let best = self.handle.best_supported_rsa_hash().await;
            self.rsa_hash = Some(best.ok().flatten().flatten());
        }
        self.rsa_hash.flatten()
    }

    async fn try_key(
        &mut self,
        key: Arc<PrivateKey>,
        path: &Path,
    ) -> Result<Attempt, TransportError> {
        // A certificate for the key (KEY-cert.pub, or a CertificateFile)
        // first, as ssh offers it first.
        for (cert, cert_path) in self.certificates_for(Some(path), key.public_key()) {
            if self.publickey_refused {
                break;
            }
            self.tried.push(format!(
                "{} with certificate {}",
                path.display(),
                cert_path.display()
            ));
            let attempt = self
                .handle
                .authenticate_openssh_cert(self.user, key.clone(), cert);
            let result = tokio::time::timeout(self.step_timeout, attempt)
                .await
                .map_err(|_| self.stalled())?
                .map_err(|e| self.dropped(e.to_string()))?;
            if let Attempt::Success = self.outcome(result) {
                return Ok(Attempt::Success);
            }
        }
        let hash = self.hash_for(key.algorithm()).await;
        let label = format!(
            "{} ({})",
            path.display(),
            known_hosts::fingerprint(key.public_key())
        );
        self.tried.push(label);
        let attempt = self
            .handle
            .authenticate_publickey(self.user, PrivateKeyWithHashAlg::new(key, hash));
        let result = tokio::time::timeout(self.step_timeout, attempt)
            .await
            .map_err(|_| self.stalled())?
            .map_err(|e| self.dropped(e.to_string()))?;
        Ok(self.outcome(result))
    }

    /// Certificates for `public`: `PATH-cert.pub` next to its key file,
    /// then the endpoint's CertificateFiles; files that are not a
    /// certificate of this key are passed over (noted when unreadable).
    fn certificates_for(
        &mut self,
        path: Option<&Path>,
        public: &PublicKey,
    ) -> Vec<(Certificate, PathBuf)> {
        let mut candidates: Vec<(PathBuf, bool)> = Vec::new();
        if let Some(path) = path {
            let mut p = path.as_os_str().to_owned();
            p.push("-cert.pub");
            candidates.push((PathBuf::from(p), false));
        }
        candidates.extend(self.certificates.iter().map(|c| (c.clone(), true)));
        let mut out: Vec<(Certificate, PathBuf)> = Vec::new();
        for (c, listed) in candidates {
            if out.iter().any(|(_, p)| p == &c) || (!listed && !c.exists()) {
                continue;
            }
            match russh::keys::load_openssh_certificate(&c) {
                Ok(cert) if cert.public_key() == public.key_data() => out.push((cert, c)),
                Ok(_) => {}
                Err(e) if listed && c.exists() => {
                    self.notes.push(format!("certificate {}: {e}", c.display()))
                }
                Err(_) => {}
            }
        }
        out
    }

    async fn try_agent(
        &mut self,
        agent: &mut Agent,
        id: AgentIdentity,
        label: &str,
    ) -> Result<Attempt, TransportError> {
        // A CertificateFile for a key the agent holds: the agent signs.
        if let AgentIdentity::PublicKey { key, .. } = &id {
            for (cert, cert_path) in self.certificates_for(None, key) {
                let hash = self.hash_for(key.algorithm()).await;
                self.tried
                    .push(format!("{label} with certificate {}", cert_path.display()));
                let attempt = self.handle.authenticate_certificate_with(
                    self.user,
                    cert,
                    hash,
                    &mut agent.client,
                );
                match tokio::time::timeout(self.step_timeout, attempt).await {
                    Err(_) => return Err(self.stalled()),
                    Ok(Ok(result)) => {
                        if let Attempt::Success = self.outcome(result) {
                            return Ok(Attempt::Success);
                        }
                    }
                    Ok(Err(russh::AgentAuthError::Send(_))) => {
                        return Err(self.dropped("connection closed".into()))
                    }
                    Ok(Err(russh::AgentAuthError::Key(e))) => self
                        .notes
                        .push(format!("ssh-agent could not sign with {label}: {e}")),
                }
            }
        }
        let hash = self.hash_for(id.public_key().algorithm()).await;
        self.tried.push(label.to_string());
        let attempt = async {
            match id {
                // A certificate (ssh-keygen -s) logs in where sshd trusts its CA.
                AgentIdentity::Certificate { certificate, .. } => {
                    self.handle
                        .authenticate_certificate_with(
                            self.user,
                            certificate,
                            hash,
                            &mut agent.client,
                        )
                        .await
                }
                AgentIdentity::PublicKey { key, .. } => {
                    self.handle
                        .authenticate_publickey_with(self.user, key, hash, &mut agent.client)
                        .await
                }
            }
        };
        match tokio::time::timeout(self.step_timeout, attempt).await {
            Err(_) => Err(self.stalled()),
            Ok(Ok(result)) => Ok(self.outcome(result)),
            Ok(Err(russh::AgentAuthError::Send(_))) => {
                Err(self.dropped("connection closed".into()))
            }
            Ok(Err(russh::AgentAuthError::Key(e))) => {
                self.notes
                    .push(format!("ssh-agent could not sign with {label}: {e}"));
                Ok(Attempt::Failed)
            }
        }
    }

    fn outcome(&mut self, result: client::AuthResult) -> Attempt {
        match result {
            client::AuthResult::Success => Attempt::Success,
            client::AuthResult::Failure {
                remaining_methods,
                partial_success,
            } => {
                let names: Vec<&str> = remaining_methods.iter().map(<&str>::from).collect();
                self.server_methods = Some(names.join(","));
                self.publickey_refused = !remaining_methods.contains(&MethodKind::PublicKey);
                if partial_success {
                    self.notes.push(
                        "the key was accepted but the server requires a further method".into(),
                    );
                    self.publickey_refused = true;
                }
                Attempt::Failed
            }
        }
    }

    fn stalled(&self) -> TransportError {
        self.fail(format!(
            "the server did not answer within {}",
            secs(self.step_timeout)
        ))
    }

    fn dropped(&self, e: String) -> TransportError {
        let why = self.shared.disconnect_reason().unwrap_or(e);
        let tried = if self.tried.is_empty() {
            String::new()
        } else {
            format!(" after trying {}", self.tried.join(", "))
        };
        self.fail(format!("the server closed the connection{tried}: {why}"))
    }
}

/// A connection to the user's ssh-agent and the identities it offers.
struct Agent {
    client: AgentClient<UnixStream>,
    identities: Vec<AgentIdentity>,
}

impl Agent {
    async fn connect(handle: &Handle<Client>) -> Option<Agent> {
        let sock = std::env::var_os("SSH_AUTH_SOCK").filter(|s| !s.is_empty())?;
        let mut client = match AgentClient::connect_uds(&sock).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!("ssh-agent at {sock:?} unusable: {e}");
                return None;
            }
        };
        // OpenSSH agents expose destination-constrained keys only to a session
        // bound to the server's host key; older agents just say no.
        if let Some(binding) = handle.agent_session_binding() {
            if let Err(e) = client.bind_session(binding, false).await {
                tracing::debug!("ssh-agent session-bind refused: {e}");
            }
        }
        match client.request_identities().await {
            Ok(identities) => Some(Agent { client, identities }),
            Err(e) => {
                tracing::debug!("ssh-agent identities: {e}");
                None
            }
        }
    }

    fn holding(&self, public: &PublicKey) -> Option<AgentIdentity> {
        self.identities
            .iter()
            .find(|id| id.public_key().key_data() == public.key_data())
            .cloned()
    }
}

/// A private key file as read from disk, shared by every connection.
enum KeyFile {
    Plain(Arc<PrivateKey>),
    Encrypted {
        /// Known without the passphrase for OpenSSH-format keys or from
        /// `KEY.pub`; lets the agent's copy be used instead of prompting.
        public: Option<Box<PublicKey>>,
        text: String,
        /// The decrypted key, or why it could not be had: asked once.
        decrypted: OnceCell<Result<Arc<PrivateKey>, String>>,
    },
    Unusable(String),
}

type KeyCache = Mutex<HashMap<PathBuf, Arc<OnceCell<Arc<KeyFile>>>>>;

/// Each key file is read once per process: a run against hundreds of hosts
/// shares one key, and an encrypted one must not be asked for per host.
async fn key_file(path: &Path) -> Arc<KeyFile> {
    static CACHE: OnceLock<KeyCache> = OnceLock::new();
    let cell = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(path.to_path_buf())
        .or_default()
        .clone();
    cell.get_or_init(|| async {
        let path = path.to_path_buf();
        let shown = path.display().to_string();
        tokio::task::spawn_blocking(move || Arc::new(read_key_file(&path)))
            .await
            .unwrap_or_else(|e| Arc::new(KeyFile::Unusable(format!("reading {shown}: {e}"))))
    })
    .await
    .clone()
}

fn read_key_file(path: &Path) -> KeyFile {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return KeyFile::Unusable("no such file".into())
        }
        Err(e) => return KeyFile::Unusable(format!("cannot read it: {e}")),
    };
    match russh::keys::decode_secret_key(&text, None) {
        Ok(key) => KeyFile::Plain(Arc::new(key)),
        Err(e) if matches!(e, russh::keys::Error::KeyIsEncrypted) || text.contains("ENCRYPTED") => {
            let public = PrivateKey::from_openssh(&text)
                .map(|k| k.public_key().clone())
                .ok()
                .or_else(|| {
                    let mut pub_path = path.as_os_str().to_owned();
                    pub_path.push(".pub");
                    russh::keys::load_public_key(PathBuf::from(pub_path)).ok()
                });
            KeyFile::Encrypted {
                public: public.map(Box::new),
                text,
                decrypted: OnceCell::new(),
            }
        }
        Err(e) => KeyFile::Unusable(format!("not a usable private key: {e}")),
    }
}

/// Serialises passphrase prompts: two keys asked for at once would garble the
/// terminal.
static PROMPT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The decrypted key of an encrypted key file, prompting on the terminal the
/// first time (and only when there is a terminal).
async fn decrypt(path: &Path, file: &KeyFile) -> Result<Arc<PrivateKey>, String> {
    let KeyFile::Encrypted {
        text, decrypted, ..
    } = file
    else {
        return Err(format!("key {} is not encrypted", path.display()));
    };
    decrypted
        .get_or_init(|| async {
            let shown = path.display().to_string();
            if !std::io::stdin().is_terminal() {
                return Err(format!(
                    "key {shown} is encrypted: add it to ssh-agent (ssh-add {shown}) or run halite from a terminal to type its passphrase"
                ));
            }
            let _turn = PROMPT.lock().await;
            let text = text.clone();
            tokio::task::spawn_blocking(move || prompt_and_decrypt(&shown, &text))
                .await
                .unwrap_or_else(|e| Err(format!("passphrase prompt failed: {e}")))
                .map(Arc::new)
        })
        .await
        .clone()
}

fn prompt_and_decrypt(shown: &str, text: &str) -> Result<PrivateKey, String> {
    for _ in 0..3 {
        let pass = rpassword::prompt_password(format!("Enter passphrase for key '{shown}': "))
            .map_err(|e| {
                format!("key {shown} is encrypted and its passphrase could not be read: {e}")
            })?;
        if pass.is_empty() {
            break;
        }
        match russh::keys::decode_secret_key(text, Some(&pass)) {
            Ok(key) => return Ok(key),
            Err(e) => tracing::debug!("decrypting {shown}: {e}"),
        }
    }
    Err(format!(
        "key {shown} is encrypted and no correct passphrase was given"
    ))
}
