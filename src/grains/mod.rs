//! Grains: facts about a host, gathered in ONE remote `sh` invocation (no
//! Python on targets), merged under the inventory's static grains, and cached
//! on the controller with a TTL.
//!
//! STUB: the helper implementing grains replaces this body, keeping the interface.

use std::path::PathBuf;
use std::time::Duration;

use crate::Value;

#[derive(Debug, thiserror::Error)]
pub enum GrainsError {
    #[error("cannot parse grains from {id}: {reason}")]
    Parse { id: String, reason: String },
}

/// The script that prints a host's grains.
pub fn gather_script() -> &'static str {
    "uname -s"
}

/// Turn the script's stdout into grains for host `id`.
pub fn parse(id: &str, stdout: &str) -> Result<Value, GrainsError> {
    Ok(serde_json::json!({"id": id, "kernel": stdout.trim()}))
}

/// Gathered grains with the inventory's static grains laid over them.
pub fn merge_static(gathered: Value, static_grains: &Value) -> Value {
    let mut g = gathered;
    if let (Value::Object(g), Value::Object(s)) = (&mut g, static_grains) {
        for (k, v) in s {
            g.insert(k.clone(), v.clone());
        }
    }
    g
}

/// Controller-side cache of gathered grains, one JSON file per host.
#[derive(Debug, Clone)]
pub struct GrainCache {
    pub dir: PathBuf,
    pub ttl: Duration,
}

impl GrainCache {
    pub fn new(dir: PathBuf, ttl: Duration) -> Self {
        GrainCache { dir, ttl }
    }
    /// Cached gathered grains for `id`, if younger than the TTL.
    pub fn get(&self, id: &str) -> Option<Value> {
        let _ = id;
        None
    }
    /// Store gathered grains for `id` (atomically).
    pub fn put(&self, id: &str, grains: &Value) -> std::io::Result<()> {
        let _ = (id, grains);
        Ok(())
    }
}
