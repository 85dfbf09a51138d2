//! The byte stream an SSH session runs over: a TCP connection, a
//! `direct-tcpip` channel on a jump host's connection (as `ssh -J` asks
//! sshd to connect onwards; opened by the jump host's session), or the
//! standard input and output of a `ProxyCommand`, whose stderr is kept
//! for the error message.

use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What an SSH session can run over.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub(crate) type Stream = Box<dyn Io>;

/// Why a stream could not be had, and whether trying again may help.
pub(crate) enum StreamError {
    Transient(String),
    Fatal(String),
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
