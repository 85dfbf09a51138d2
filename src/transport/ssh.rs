//! The SSH transport (russh): one connection per host, one channel per command.
//!
//! STUB: the helper implementing SSH replaces this body, keeping the interface.

use std::time::Duration;

use super::{ConnectOptions, ExecOutput, TransportError};
use crate::inventory::Host;

pub struct SshConnection {}

impl SshConnection {
    /// TCP connect (with retries on transient failures), key exchange, host key
    /// verification against known_hosts, then authentication.
    pub async fn connect(
        host: &Host,
        opts: &ConnectOptions,
    ) -> Result<SshConnection, TransportError> {
        let _ = opts;
        Err(TransportError::Unreachable {
            addr: host.addr(),
            reason: "ssh not implemented yet".into(),
        })
    }

    /// Run a complete command line (already wrapped as `sh -c ...`) on a new channel.
    pub async fn exec(
        &self,
        line: &str,
        stdin: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> Result<ExecOutput, TransportError> {
        let _ = (line, stdin, timeout);
        unimplemented!()
    }

    pub async fn close(self) {}
}
