//! Shared by the test binaries that need no fleet: a temporary project
//! (inventory, halite.yaml, cache dir) whose hosts use the local connection
//! or a closed loopback port, and a way to run the real `halite` in it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

pub mod salt_chunks;

/// A temporary project: inventory, halite.yaml, cache dir.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub fn new(inventory: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("inventory")).unwrap();
        std::fs::write(dir.path().join("inventory/hosts.yaml"), inventory).unwrap();
        std::fs::write(
            dir.path().join("halite.yaml"),
            "cache_dir: cache\nknown_hosts: known_hosts\nconnect_attempts: 1\n",
        )
        .unwrap();
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `halite ARGS` ready to run in the project.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_halite"));
        c.args(args)
            .current_dir(self.path())
            .env_remove("HALITE_CACHE_DIR")
            // The local connection's scripts keep their drift ledger here,
            // not in this machine's own /var/lib/halite.
            .env("HALITE_LEDGER_DIR", self.path().join("ledger"))
            .env("NO_COLOR", "1");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `halite --out json ARGS`: (exit code, document).
    pub fn json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["--out", "json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): stdout={} stderr={}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), v)
    }

    /// A shell command that prints `first` on exactly one host and runs
    /// `otherwise` on the rest: `mkdir` is atomic, so the hosts of one run
    /// can answer differently even though they are all this machine.
    pub fn first_host_only(&self, otherwise: &str) -> String {
        let lock = self.path().join("lock");
        format!(
            "mkdir {} 2>/dev/null && echo first || {otherwise}",
            lock.display()
        )
    }
}

/// A test that cannot run for want of a tool (`why`) says so by name on
/// stderr, or fails where tests/all.sh promised every tool
/// (`HALITE_REQUIRE_TOOLS`).
pub fn missing_tool(why: &str) {
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    if std::env::var_os("HALITE_REQUIRE_TOOLS").is_some() {
        panic!("{test}: {why}, and HALITE_REQUIRE_TOOLS is set");
    }
    eprintln!("SKIPPED: {test}: {why}");
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A port on 127.0.0.1 that nothing listens on.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// An inventory of local-connection hosts.
pub fn local_hosts(ids: &[&str]) -> String {
    let mut inv = String::from("hosts:\n");
    for id in ids {
        inv.push_str(&format!("  {id}: {{connection: local}}\n"));
    }
    inv
}
