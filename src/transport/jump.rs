//! The jump hosts in front of a host (`ProxyJump`, `-J`): the session
//! to the host runs over a `direct-tcpip` channel on the last jump host's
//! connection (see [`super::stream`]). Each jump host is connected to ONCE
//! per run and shared by every host behind it ([`Jumps`]): OpenSSH without
//! ControlMaster opens one bastion connection per target, which is what a
//! bastion's `MaxStartups` is there to refuse. Every hop is a full SSH
//! connection of its own: its host key is checked against its own name,
//! and pacing (`--max-handshakes`) and retries apply to it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::route::Endpoint;
use super::ssh::SshConnection;
use super::{ConnectOptions, TransportError};

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
