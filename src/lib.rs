//! halite: push-based, agentless configuration management over SSH.
//!
//! A controller reads an inventory, picks hosts with Salt-style target
//! expressions, and runs execution functions on them in parallel over one
//! SSH connection per host. Targets need a POSIX shell and nothing else.
//!
//! Module map (see ARCHITECTURE.md for the longer tour and its "Layers": the
//! modules import downwards only, which `tests/layers.rs` checks):
//! - [`cli`]: argument parsing and the `halite` command's entry point (the only
//!   place that uses `anyhow`); each command builds [`ops::RunOptions`].
//! - [`ops`]: a run from typed options to its job record: prepare, select the
//!   hosts, run, record; the command line, `jobs rerun` and orchestration steps
//!   all call [`ops::run`].
//! - [`config`]: the optional project file `halite.yaml`.
//! - [`yaml`]: the one place that talks to the YAML library.
//! - [`args`]: call arguments as Salt reads them (command line, `salt[...]`).
//! - [`data`]: Salt's helpers on nested data (traverse, `pillar.get`, merge).
//! - [`inventory`]: hosts, SSH settings, static grains, groups (nodegroups); also
//!   read from Ansible inventories (INI, YAML, scripts) and salt-ssh rosters.
//! - [`transport`]: running commands on a host: SSH (russh) or local; the one
//!   shell-quoting function lives in [`transport::quote`].
//! - [`grains`]: facts gathered from a host in one `sh` invocation, cached.
//! - [`target`]: glob, pcre, list, grain, pillar, ipcidr, nodegroup and compound matchers.
//! - [`platform`]: package managers (apt, dnf/yum, zypper, pacman), init systems
//!   (systemd, OpenRC, sysvinit), container engines: probe snippets, their
//!   parsers, apply snippets; used by [`functions`] and [`modules`] alike,
//!   which never import each other.
//! - [`functions`]: execution functions (`test.ping`, `cmd.run`, `pkg.install`, ...).
//! - [`fleet`]: runs a function across hosts: forks, batches, fail limits, Ctrl-C.
//! - [`orchestrate`]: `halite orchestrate`: steps across host groups (Salt's
//!   orchestrate runner), each host step run like a command-line run.
//! - [`jobs`]: the job cache behind `halite jobs list|show`, and each host's
//!   latest drift ledger copy.
//! - [`cache_file`]: atomic, owner-only writes of the controller's cache files.
//! - [`mine`]: the mine's store on the controller (`mine.update` / `mine.get`).
//! - [`output`]: everything that is printed (human, json, yaml, txt, progress).
//! - [`state`]: the state compiler: top file, SLS includes/extends, requisites, order;
//!   and the drift ledger kept on each host.
//! - [`engine`]: applies compiled states to a host with the [`modules`], one
//!   gather and at most one apply execution.
//! - [`render`]: SLS and file templates: shebang pipelines, Jinja with Salt's context.
//! - [`pillar`]: per-host pillar compiled from `pillar/top.sls`.
//! - [`secrets`]: encrypted pillar values (`gpg`, `age` renderers), decrypted on
//!   the controller only; `halite secret encrypt`.
//! - [`modules`]: state modules: probe, pure plan, apply (`pkg.installed`, ...).

pub mod args;
pub mod cache_file;
pub mod cli;
pub mod config;
pub mod data;
pub mod engine;
pub mod fleet;
pub mod functions;
pub mod grains;
pub mod inventory;
pub mod jobs;
pub mod mine;
pub mod modules;
pub mod ops;
pub mod orchestrate;
pub mod output;
pub mod pillar;
pub mod platform;
pub mod render;
pub mod secrets;
pub mod state;
pub mod target;
#[cfg(test)]
mod testing;
pub mod transport;
pub mod yaml;

/// JSON-like value used for grains, arguments and results.
pub type Value = serde_json::Value;
