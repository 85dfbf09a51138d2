//! The local connection: runs scripts on the controller itself, for hosts
//! with `connection: local` (the shipped inventory's `localhost`).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::{ExecOutput, Received, TransportError};

pub struct LocalConnection;

impl LocalConnection {
    pub fn new() -> Self {
        LocalConnection
    }

    /// Run `line` (already a complete command line, e.g. `sh -c '...'`) with
    /// `sh -c`. `seen.sent` once it started (its output is not kept when it
    /// is cut short).
    pub async fn exec(
        &self,
        line: &str,
        stdin: Option<&[u8]>,
        timeout: Option<Duration>,
        seen: &mut Received,
    ) -> Result<ExecOutput, TransportError> {
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
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TransportError::Local(format!("cannot start sh: {e}")))?;
        seen.sent = true;
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let data = data.to_vec();
            tokio::spawn(async move {
                let _ = pipe.write_all(&data).await;
            });
        }
        let wait = child.wait_with_output();
        let out = match timeout {
            Some(t) => tokio::time::timeout(t, wait)
                .await
                .map_err(|_| TransportError::Timeout(t))?,
            None => wait.await,
        }
        .map_err(|e| TransportError::Local(e.to_string()))?;
        Ok(ExecOutput {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            exit_code: out.status.code(),
        })
    }
}

impl Default for LocalConnection {
    fn default() -> Self {
        Self::new()
    }
}
