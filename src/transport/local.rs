//! The local connection: runs scripts on the controller itself, for hosts
//! with `connection: local` (the shipped inventory's `localhost`).

use std::process::Stdio;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::{Ended, ExecOutput, Received, Stop, TransportError};

pub struct LocalConnection;

impl LocalConnection {
    pub fn new() -> Self {
        LocalConnection
    }

    /// Run `line` (already a complete command line, e.g. `sh -c '...'`) with
    /// `sh -c`, as the leader of a new process group: halite's own group gets
    /// the terminal's Ctrl-C, and the command's group is what is ended when
    /// it is given up on. `seen.sent` once it started (its output is not
    /// kept when it is cut short).
    pub(crate) async fn exec(
        &self,
        line: &str,
        stdin: Option<&[u8]>,
        stop: &Stop<'_>,
        seen: &mut Received,
    ) -> Result<Ended, TransportError> {
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(line)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TransportError::Local(format!("cannot start sh: {e}")))?;
        seen.sent = true;
        let pgid = child.id();
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // May hold a sudo password: wiped when written.
            let data = zeroize::Zeroizing::new(data.to_vec());
            tokio::spawn(async move {
                let _ = pipe.write_all(&data).await;
            });
        }
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let (out_pipe, err_pipe) = (child.stdout.take(), child.stderr.take());
        let finish = async {
            let (o, e) = tokio::join!(drain(out_pipe, &mut stdout), drain(err_pipe, &mut stderr));
            o.and(e)?;
            child.wait().await
        };
        let status = match stop.bound(finish).await {
            Ok(status) => status.map_err(|e| TransportError::Local(e.to_string()))?,
            // The child is kept (not killed on drop) until its group has had
            // SIGTERM and the grace period: a script's TERM trap must run.
            Err(why) => {
                return Ok(Ended::Stopped {
                    why,
                    pgid,
                    child: Some(Box::new(child)),
                })
            }
        };
        Ok(Ended::Exited(ExecOutput {
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            exit_code: status.code(),
        }))
    }
}

/// Read `pipe` to its end into `buf`.
async fn drain(pipe: Option<impl AsyncRead + Unpin>, buf: &mut Vec<u8>) -> std::io::Result<()> {
    if let Some(mut pipe) = pipe {
        pipe.read_to_end(buf).await?;
    }
    Ok(())
}

impl Default for LocalConnection {
    fn default() -> Self {
        Self::new()
    }
}
