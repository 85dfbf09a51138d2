//! The byte stream an SSH session runs over, and the jump hosts in front
//! of a host.
//!
//! A stream is a TCP connection, a `direct-tcpip` channel on a jump host's
//! connection (as `ssh -J` asks sshd to connect onwards), or the standard
//! input and output of a `ProxyCommand`. Each jump host is connected to ONCE
//! per run and shared by every host behind it ([`Jumps`]): OpenSSH without
//! ControlMaster opens one bastion connection per target, which is what a
//! bastion's `MaxStartups` is there to refuse. Every hop is a full SSH
//! connection of its own: its host key is checked against its own name,
//! and pacing (`--max-handshakes`) and retries apply to it.

use std::collections::HashMap;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OnceCell;

use super::route::Endpoint;
use super::ssh::SshConnection;
use super::{ConnectOptions, TransportError};

/// What an SSH session can run over.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub(crate) type Stream = Box<dyn Io>;

/// Jump host connections of a run, by the chain that reaches them.
#[derive(Default)]
pub struct Jumps {
    cells: Mutex<HashMap<Vec<String>, Arc<Cell>>>,
}

/// One jump host: connected once; a failure is kept so that every host
/// behind it reports the same reason without trying again.
type Cell = OnceCell<Result<Arc<SshConnection>, String>>;

impl std::fmt::Debug for Jumps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.cells.lock().map(|c| c.len()).unwrap_or_default();
        write!(f, "Jumps({n} jump hosts)")
    }
}

impl Jumps {
    /// The connection to the last of `chain`, opening each hop not yet
    /// open. A hop that fails makes `target` unreachable, naming the hop.
    pub(crate) async fn reach(
        &self,
        chain: &[Endpoint],
        target: &Endpoint,
        opts: &ConnectOptions,
    ) -> Result<Option<Arc<SshConnection>>, TransportError> {
        let mut via: Option<Arc<SshConnection>> = None;
        let mut key = Vec::new();
        for hop in chain {
            key.push(format!("{hop:?}"));
            let conn = self
                .hop(&key, hop, via.clone(), opts)
                .await
                .map_err(|why| TransportError::Unreachable {
                    addr: target.addr(),
                    reason: format!("through jump host {}: {why}", hop.label()),
                })?;
            via = Some(conn);
        }
        Ok(via)
    }

    /// One hop's shared connection. A connection that has closed since
    /// (the jump host restarted, keepalives went unanswered) is opened
    /// again, once, for the hosts that come after.
    async fn hop(
        &self,
        key: &[String],
        hop: &Endpoint,
        via: Option<Arc<SshConnection>>,
        opts: &ConnectOptions,
    ) -> Result<Arc<SshConnection>, String> {
        for _ in 0..2 {
            let cell = self
                .cells
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key.to_vec())
                .or_default()
                .clone();
            let prev = via.clone();
            let got = cell
                .get_or_init(|| async move {
                    tracing::debug!(jump = %hop.label(), "connecting to jump host");
                    SshConnection::connect_endpoint(hop, prev, opts)
                        .await
                        .map(Arc::new)
                        .map_err(|e| e.to_string())
                })
                .await;
            match got {
                Ok(conn) if conn.is_closed() => {
                    let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
                    // Only the first host to notice replaces it.
                    if cells.get(key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                        cells.remove(key);
                    }
                }
                Ok(conn) => return Ok(conn.clone()),
                Err(why) => return Err(why.clone()),
            }
        }
        Err("its connection closed and could not be opened again".into())
    }
}

/// Why a stream could not be had, and whether trying again may help.
pub(crate) enum StreamError {
    Transient(String),
    Fatal(String),
}

/// A `direct-tcpip` channel from `via` to `to`.
pub(crate) async fn through(via: &SshConnection, to: &Endpoint) -> Result<Stream, StreamError> {
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

/// `sh -c COMMAND`, SSH spoken over its stdin and stdout. What it says on
/// stderr is kept (the end of it) for the error message if the session
/// cannot be set up: halite prints nothing itself outside its output layer.
pub(crate) fn command(cmd: &str) -> Result<(Stream, Said), StreamError> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| StreamError::Fatal(format!("cannot start ProxyCommand `{cmd}`: {e}")))?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(StreamError::Fatal("ProxyCommand pipes missing".into()));
    };
    let said = Said::read(stderr);
    Ok((
        Box::new(Piped {
            io: tokio::io::join(stdout, stdin),
            _child: child,
        }),
        said,
    ))
}

/// The last bytes a ProxyCommand wrote to stderr. It is read for as long as
/// the command runs (a command blocked on a full stderr pipe would stall
/// the session), keeping only the end.
pub(crate) struct Said {
    tail: Arc<Mutex<Vec<u8>>>,
    done: tokio::task::JoinHandle<()>,
}

/// How much of a ProxyCommand's stderr is kept.
const SAID_KEPT: usize = 2048;

impl Said {
    fn read(mut stderr: tokio::process::ChildStderr) -> Said {
        use tokio::io::AsyncReadExt;
        let tail = Arc::new(Mutex::new(Vec::new()));
        let kept = tail.clone();
        let done = tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = stderr.read(&mut buf).await {
                let mut t = kept.lock().unwrap_or_else(|p| p.into_inner());
                t.extend_from_slice(&buf[..n]);
                let excess = t.len().saturating_sub(SAID_KEPT);
                t.drain(..excess);
            }
        });
        Said { tail, done }
    }

    /// What it said, once it has stopped talking (or after a moment), in
    /// one line; `None` when nothing.
    pub(crate) async fn text(self) -> Option<String> {
        let _ = tokio::time::timeout(std::time::Duration::from_millis(500), self.done).await;
        let t = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        let text = String::from_utf8_lossy(&t);
        let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
        (!line.is_empty()).then_some(line)
    }
}

/// A child's stdout and stdin as one stream; the child is killed when the
/// stream is dropped (the session ended).
struct Piped {
    io: tokio::io::Join<tokio::process::ChildStdout, tokio::process::ChildStdin>,
    _child: tokio::process::Child,
}

impl AsyncRead for Piped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Piped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
