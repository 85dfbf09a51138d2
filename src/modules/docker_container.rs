//! `docker_container.running`, `.stopped` and `.absent` (Salt's names) on
//! podman or docker, through the engine's CLI.
//!
//! The replacement rule: a container is replaced ONLY when its desired
//! configuration or its image differs. The desired configuration (image
//! reference, command, environment, port bindings, binds, volumes, restart
//! policy, privileged, network, hostname, labels) is normalised into
//! [`Config`] and stored on the container in two labels: `halite.config`
//! (the JSON) and `halite.fingerprint` (its SHA-256). The probe reads them
//! back with `inspect`, next to the ID of the image the container runs and
//! the ID the image reference resolves to on the host now. Nothing the
//! engine reports about the container's own config is compared (engines
//! fill in defaults and normalise values differently, which is how Salt's
//! docker_container ends up replacing containers that did not change). A
//! container without the labels (made by hand) is replaced once.
//!
//! Replacement is safe: the old container is stopped and renamed
//! `NAME-halite-old`, the new one is created and started, and must then pass
//! `health_cmd` within `health_timeout` seconds (or, without one, still be
//! running a second after its start). On success the old one is removed; on
//! failure the new one is removed, the old one renamed back and started
//! again, and the state fails with the reason. A `NAME-halite-old` left by an
//! interrupted run is removed (or, when `NAME` is missing, renamed back) first.
//!
//! `health_cmd` runs on the HOST with `sh -c`, with `HALITE_ENGINE` and
//! `HALITE_CONTAINER` set, so it can probe a published port
//! (`wget -qO- http://127.0.0.1:8080/`) or look inside
//! (`$HALITE_ENGINE exec $HALITE_CONTAINER cat /ready`).
//!
//! `watch` (Salt's mod_watch) restarts the container when a watched state
//! changed, or replaces it (safely, as above) when its image reference now
//! resolves to another image than the one it runs (a `docker_image.present`
//! with `force` pulled a newer one in the same run).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map};
use sha2::{Digest, Sha256};

use super::{
    Applied, BuildCtx, FnDef, LedgerKind, ModuleDef, Output, Plan, PlanMismatch, StateFunction,
};
use crate::platform::container::{
    bare_id, check_container_name, engine_missing, image_ref, prelude, select_engine, Engine,
};
use crate::platform::report::{markers, message};
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

pub const MODULE: ModuleDef = ModuleDef {
    name: "docker_container",
    functions: &[
        FnDef {
            name: "running",
            doc: "Ensure a container runs with this configuration, replacing it safely (health_cmd, health_timeout; rollback on failure) only when the configuration or image differs.",
            args: &[
                "image",
                "command",
                "environment",
                "port_bindings",
                "publish",
                "binds",
                "volumes",
                "restart_policy",
                "privileged",
                "network_mode",
                "network",
                "hostname",
                "labels",
                "health_cmd",
                "health_timeout",
                "stop_timeout",
                "engine",
            ],
            build: build_running,
        },
        FnDef {
            name: "stopped",
            doc: "Ensure a container is not running (stop_timeout; error_on_absent: False accepts a missing one).",
            args: &["stop_timeout", "error_on_absent", "engine"],
            build: build_stopped,
        },
        FnDef {
            name: "absent",
            doc: "Ensure a container does not exist (force: True removes a running one).",
            args: &["force", "engine"],
            build: build_absent,
        },
    ],
    ledger: &[LedgerKind {
        kind: "container",
        exists: |w| format!(
            "{{ {{ command -v podman >/dev/null 2>&1 && podman container exists {w}; }} || {{ command -v docker >/dev/null 2>&1 && docker container inspect {w} >/dev/null 2>&1; }}; }}"
        ),
        prune: ("absent", |_| serde_json::json!({"force": true})),
    }],
};

/// The label holding the desired configuration's JSON.
pub const CONFIG_LABEL: &str = "halite.config";
/// The label holding the SHA-256 of [`CONFIG_LABEL`]'s value.
pub const FINGERPRINT_LABEL: &str = "halite.fingerprint";
/// The suffix of the old container's name while a replacement is under way.
pub const OLD_SUFFIX: &str = "-halite-old";

/// The desired configuration, normalised: what the fingerprint covers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The image reference with its tag (`latest` when none was given).
    pub image: String,
    pub command: Option<Vec<String>>,
    pub environment: BTreeMap<String, String>,
    /// Sorted: the order of published ports means nothing.
    pub port_bindings: Vec<String>,
    /// In the order given: a later mount may sit inside an earlier one.
    pub binds: Vec<String>,
    pub volumes: Vec<String>,
    pub restart_policy: Option<String>,
    pub privileged: bool,
    pub network_mode: Option<String>,
    pub hostname: Option<String>,
    pub labels: BTreeMap<String, String>,
}

impl Config {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn fingerprint(&self) -> String {
        data_encoding::HEXLOWER.encode(&Sha256::digest(self.to_json().as_bytes()))
    }

    /// The keys that differ, as `{key: {old, new}}`.
    fn diff(&self, desired: &Config) -> Map<String, Value> {
        let (old, new) = (
            serde_json::to_value(self).unwrap_or_default(),
            serde_json::to_value(desired).unwrap_or_default(),
        );
        let mut out = Map::new();
        if let (Value::Object(o), Value::Object(n)) = (old, new) {
            for (k, nv) in n {
                let ov = o.get(&k).cloned().unwrap_or(Value::Null);
                if ov != nv {
                    out.insert(k, json!({"old": ov, "new": nv}));
                }
            }
        }
        out
    }

    /// The `create` options, each value quoted.
    fn create_options(&self) -> Vec<String> {
        let mut o = Vec::new();
        let mut opt = |flag: &str, v: &str| o.push(format!("{flag} {}", quote(v)));
        if let Some(h) = &self.hostname {
            opt("--hostname", h);
        }
        if let Some(n) = &self.network_mode {
            opt("--network", n);
        }
        if let Some(r) = &self.restart_policy {
            opt("--restart", r);
        }
        for (k, v) in &self.environment {
            opt("-e", &format!("{k}={v}"));
        }
        for p in &self.port_bindings {
            opt("-p", p);
        }
        for b in self.binds.iter().chain(&self.volumes) {
            opt("-v", b);
        }
        for (k, v) in &self.labels {
            opt("--label", &format!("{k}={v}"));
        }
        if self.privileged {
            o.push("--privileged".into());
        }
        o
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunningArgs {
    image: Option<String>,
    command: Option<Value>,
    environment: Option<Value>,
    port_bindings: Option<Value>,
    publish: Option<Value>,
    binds: Option<Value>,
    volumes: Option<Value>,
    restart_policy: Option<String>,
    #[serde(default)]
    privileged: bool,
    network_mode: Option<String>,
    network: Option<String>,
    hostname: Option<String>,
    labels: Option<Value>,
    health_cmd: Option<String>,
    health_timeout: Option<Value>,
    stop_timeout: Option<Value>,
    engine: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoppedArgs {
    stop_timeout: Option<Value>,
    error_on_absent: Option<bool>,
    engine: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AbsentArgs {
    #[serde(default)]
    force: bool,
    engine: Option<Value>,
}

/// Salt's scalars as text (`True`, `5`, `x`).
fn scalar(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(if *b { "True" } else { "False" }.into()),
        Value::Null => Ok(String::new()),
        other => Err(format!("`{other}` is not a scalar")),
    }
}

/// A list given as a YAML list or a comma-separated string.
fn list(what: &str, v: Option<&Value>) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()),
        Some(Value::Number(n)) => Ok(vec![n.to_string()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| scalar(i).map_err(|e| format!("{what}: {e}")))
            .collect(),
        Some(other) => Err(format!("{what} must be a list, not {other}")),
    }
}

/// `KEY=VALUE` pairs given as a mapping, a list of `KEY=VALUE` / `{KEY: VALUE}`
/// (a bare `KEY` means an empty value), or a comma-separated string.
fn pairs(what: &str, v: Option<&Value>) -> Result<BTreeMap<String, String>, String> {
    let mut m = BTreeMap::new();
    let mut one = |item: &Value| -> Result<(), String> {
        match item {
            Value::Object(o) => {
                for (k, v) in o {
                    m.insert(k.clone(), scalar(v).map_err(|e| format!("{what}: {e}"))?);
                }
            }
            other => {
                let text = scalar(other).map_err(|e| format!("{what}: {e}"))?;
                let (k, v) = text.split_once('=').unwrap_or((&text, ""));
                m.insert(k.trim().to_string(), v.to_string());
            }
        }
        Ok(())
    };
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for i in items {
                one(i)?;
            }
        }
        Some(Value::String(s)) => {
            for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                one(&Value::String(part.to_string()))?;
            }
        }
        Some(o @ Value::Object(_)) => one(o)?,
        Some(other) => return Err(format!("{what} must be a mapping or a list, not {other}")),
    }
    if let Some(k) = m
        .keys()
        .find(|k| k.is_empty() || k.contains(|c: char| c.is_whitespace() || c == '='))
    {
        return Err(format!("{what}: `{k}` is not a valid name"));
    }
    Ok(m)
}

/// A value that becomes one option argument: it must not look like an option.
fn check_word(what: &str, v: &str) -> Result<(), String> {
    if v.is_empty() || v.starts_with('-') || v.contains(|c: char| c.is_control()) {
        Err(format!("{what}: `{v}` is not valid"))
    } else {
        Ok(())
    }
}

fn seconds(what: &str, v: Option<&Value>, default: u64) -> Result<u64, String> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|s| s <= 3600) => {
            Ok(n.as_u64().unwrap_or(default))
        }
        Some(other) => Err(format!(
            "{what} must be whole seconds (0..3600), not {other}"
        )),
    }
}

#[derive(Debug)]
struct Running {
    name: String,
    config: Config,
    /// Whether `latest` was assumed for the image.
    defaulted: bool,
    health_cmd: Option<String>,
    health_timeout: u64,
    stop_timeout: u64,
    engine: Option<Engine>,
}

fn build_running(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    Ok(Box::new(parse_running(chunk)?))
}

fn parse_running(chunk: &Chunk) -> Result<Running, String> {
    let a: RunningArgs = super::typed_args(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    let name = chunk.name.clone();
    check_container_name(&name).map_err(err)?;
    let image = a
        .image
        .as_deref()
        .ok_or_else(|| err("`image` is required".into()))?;
    let (image, defaulted) = image_ref(image, None).map_err(err)?;
    let command = match &a.command {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            // Salt splits a string command like Python's shlex.
            shlex::split(s).ok_or_else(|| err(format!("command `{s}`: unbalanced quotes")))?,
        ),
        Some(v @ Value::Array(_)) => Some(list("command", Some(v)).map_err(err)?),
        Some(other) => {
            return Err(err(format!(
                "command must be a string or a list, not {other}"
            )))
        }
    }
    .filter(|c| !c.is_empty());
    if a.port_bindings.is_some() && a.publish.is_some() {
        return Err(err(
            "give port_bindings or publish (the same thing), not both".into(),
        ));
    }
    let mut port_bindings = list(
        "port_bindings",
        a.port_bindings.as_ref().or(a.publish.as_ref()),
    )
    .map_err(err)?;
    port_bindings.sort();
    port_bindings.dedup();
    let binds = list("binds", a.binds.as_ref()).map_err(err)?;
    let volumes = list("volumes", a.volumes.as_ref()).map_err(err)?;
    if a.network_mode.is_some() && a.network.is_some() {
        return Err(err(
            "give network_mode or network (the same thing), not both".into(),
        ));
    }
    let network_mode = a.network_mode.or(a.network);
    let labels = pairs("labels", a.labels.as_ref()).map_err(err)?;
    if let Some(k) = labels.keys().find(|k| k.starts_with("halite.")) {
        return Err(err(format!(
            "label `{k}`: the halite.* labels are halite's own"
        )));
    }
    let environment = pairs("environment", a.environment.as_ref()).map_err(err)?;
    for p in &port_bindings {
        check_word("port_bindings", p).map_err(err)?;
    }
    for b in binds.iter().chain(&volumes) {
        check_word("binds/volumes", b).map_err(err)?;
    }
    for (what, v) in [
        ("restart_policy", &a.restart_policy),
        ("network_mode", &network_mode),
        ("hostname", &a.hostname),
    ] {
        if let Some(v) = v {
            check_word(what, v).map_err(err)?;
        }
    }
    let health_timeout = seconds("health_timeout", a.health_timeout.as_ref(), 30).map_err(err)?;
    if a.health_cmd.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err(err("health_cmd is empty".into()));
    }
    Ok(Running {
        name,
        config: Config {
            image,
            command,
            environment,
            port_bindings,
            binds,
            volumes,
            restart_policy: a.restart_policy,
            privileged: a.privileged,
            network_mode,
            hostname: a.hostname,
            labels,
        },
        defaulted,
        health_cmd: a.health_cmd,
        health_timeout,
        stop_timeout: seconds("stop_timeout", a.stop_timeout.as_ref(), 10).map_err(err)?,
        engine: Engine::parse(a.engine.as_ref()).map_err(err)?,
    })
}

/// A container as the probe's `inspect` showed it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    status: String,
    image_id: String,
    id: String,
    labels: BTreeMap<String, String>,
}

/// The inspect line: `STATUS IMAGE_ID ID {labels json}`; empty: no container.
fn seen(line: Option<&String>) -> Result<Option<Seen>, String> {
    let Some(line) = line.map(|l| l.trim()).filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    let mut parts = line.splitn(4, ' ');
    let (Some(status), Some(image_id), Some(id)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("unexpected inspect output: {line}"));
    };
    let labels = match parts.next().map(str::trim) {
        None | Some("") | Some("null") | Some("map[]") => BTreeMap::new(),
        Some(j) => serde_json::from_str::<BTreeMap<String, String>>(j)
            .map_err(|e| format!("unreadable labels ({e}): {j}"))?,
    };
    Ok(Some(Seen {
        status: status.to_string(),
        image_id: bare_id(image_id),
        id: id.to_string(),
        labels,
    }))
}

fn inspect_fn() -> &'static str {
    "h_show() { \"$h_engine\" container inspect --format '{{.State.Status}} {{.Image}} {{.Id}} {{json .Config.Labels}}' -- \"$1\" 2>/dev/null; }\n"
}

/// What a `running` plan does, carried to `apply` and `finish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum Action {
    #[default]
    Nothing,
    Create,
    Replace,
    Start,
}

/// What to do with a `NAME-halite-old` an interrupted run left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum Leftover {
    #[default]
    None,
    /// NAME exists too: the leftover goes.
    Remove,
    /// NAME is missing: the leftover is the container, renamed back first.
    Restore,
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
struct Todo {
    action: Action,
    leftover: Leftover,
    old_id: String,
}

impl Running {
    fn old_name(&self) -> String {
        format!("{}{OLD_SUFFIX}", self.name)
    }

    fn facts(&self, text: &str) -> Result<(Option<Seen>, Option<Seen>, String), String> {
        if let Some(m) = engine_missing(text) {
            return Err(m);
        }
        let m = markers(text);
        if !m.contains_key("end") {
            return Err(format!(
                "docker_container.running: the probe did not complete: {}",
                text.trim()
            ));
        }
        Ok((
            seen(m.get("current"))?,
            seen(m.get("leftover"))?,
            bare_id(m.get("image").map_or("", String::as_str)),
        ))
    }

    /// What differs between the container and the desired state: config
    /// keys, `image_id`, or the missing fingerprint of a foreign container.
    fn differences(&self, c: &Seen, image_id: &str) -> Map<String, Value> {
        let want = self.config.fingerprint();
        let mut diff = Map::new();
        match (c.labels.get(FINGERPRINT_LABEL), c.labels.get(CONFIG_LABEL)) {
            (Some(fp), _) if *fp == want => {}
            (Some(_), Some(json)) => match serde_json::from_str::<Config>(json) {
                // Same configuration written by another halite version:
                // nothing changed, nothing is replaced.
                Ok(old) => diff = old.diff(&self.config),
                Err(_) => {
                    diff.insert(
                        CONFIG_LABEL.into(),
                        json!({"old": json, "new": self.config.to_json()}),
                    );
                }
            },
            _ => {
                diff.insert(
                    FINGERPRINT_LABEL.into(),
                    json!({"old": Value::Null, "new": want}),
                );
            }
        }
        if !image_id.is_empty() && c.image_id != image_id {
            diff.insert(
                "image_id".into(),
                json!({"old": c.image_id, "new": image_id}),
            );
        }
        diff
    }

    fn decide(&self, current: Option<Seen>, leftover: Option<Seen>, image_id: &str) -> Plan {
        let n = &self.name;
        let mut todo = Todo::default();
        let mut changes = Map::new();
        let mut notes = Vec::new();
        let container = match (current, leftover) {
            (Some(c), Some(_)) => {
                todo.leftover = Leftover::Remove;
                changes.insert(
                    "leftover".into(),
                    json!({"old": self.old_name(), "new": Value::Null}),
                );
                notes.push(format!(
                    "{} (left by an interrupted run) will be removed",
                    self.old_name()
                ));
                Some(c)
            }
            (None, Some(l)) => {
                todo.leftover = Leftover::Restore;
                notes.push(format!(
                    "{} (left by an interrupted run) will be renamed back to {n}",
                    self.old_name()
                ));
                Some(l)
            }
            (c, None) => c,
        };
        let note = if self.defaulted {
            " (no tag given: using 'latest')"
        } else {
            ""
        };
        match container {
            None => {
                todo.action = Action::Create;
                changes.insert("state".into(), json!({"old": "absent", "new": "running"}));
                notes.push(format!(
                    "Container {n} will be created from {}{note} and started",
                    self.config.image
                ));
            }
            Some(c) => {
                todo.old_id = c.id.clone();
                let diff = self.differences(&c, image_id);
                if !diff.is_empty() {
                    todo.action = Action::Replace;
                    let keys: Vec<&str> = diff.keys().map(String::as_str).collect();
                    notes.push(format!(
                        "Container {n} will be replaced ({} differ{}); the old one is kept as {} until the new one is healthy",
                        keys.join(", "),
                        if keys.len() == 1 { "s" } else { "" },
                        self.old_name()
                    ));
                    changes.insert("replaced".into(), Value::Object(diff));
                } else if c.status != "running" {
                    todo.action = Action::Start;
                    changes.insert("state".into(), json!({"old": c.status, "new": "running"}));
                    notes.push(format!("Container {n} ({}) will be started", c.status));
                }
            }
        }
        if changes.is_empty() {
            return Plan::noop(format!(
                "Container {n} is already running with the declared configuration{note}"
            ));
        }
        Plan::change(Value::Object(changes), notes.join("\n")).with_data(todo)
    }

    /// Shell functions the apply and watch snippets share. A watch
    /// snippet's output is shown as it is when it fails, so it prints plain
    /// words, not the `@@` markers `finish` reads.
    fn helpers(&self, watch: bool) -> String {
        let mut s = if watch {
            select_engine(self.engine)
        } else {
            prelude(self.engine)
        };
        if watch {
            s.push_str(
                "h_fail() { printf '%s\\n' \"$1\"; exit 1; }\nh_mark() { :; }\nh_rb='; rolled back: the previous container is back'\n",
            );
        } else {
            s.push_str(
                "h_fail() { printf '@@failed %s\\n' \"$1\"; exit 1; }\nh_mark() { printf '@@%s\\n' \"$*\"; }\nh_rb=\n",
            );
        }
        let _ = writeln!(
            s,
            "h_n={}\nh_o={}\n\
             h_status() {{ \"$h_engine\" container inspect --format '{{{{.State.Status}}}}' -- \"$1\" 2>/dev/null; }}\n\
             h_id() {{ \"$h_engine\" container inspect --format '{{{{.Id}}}}' -- \"$1\" 2>/dev/null; }}",
            quote(&self.name),
            quote(&self.old_name())
        );
        // create
        let mut create = String::from("\"$h_engine\" create --name \"$h_n\"");
        for o in self.config.create_options() {
            create.push(' ');
            create.push_str(&o);
        }
        let _ = write!(
            create,
            " --label {} --label {} {}",
            quote(&format!(
                "{FINGERPRINT_LABEL}={}",
                self.config.fingerprint()
            )),
            quote(&format!("{CONFIG_LABEL}={}", self.config.to_json())),
            quote(&self.config.image)
        );
        for w in self.config.command.iter().flatten() {
            create.push(' ');
            create.push_str(&quote(w));
        }
        let _ = writeln!(s, "h_create() {{ {create}; }}");
        // health
        let t = self.health_timeout;
        match &self.health_cmd {
            None => s.push_str(
                "h_healthy() {\n\
                 \tsleep 1\n\
                 \th_st=$(h_status \"$h_n\")\n\
                 \t[ \"$h_st\" = running ] && return 0\n\
                 \th_why=\"the container is ${h_st:-gone} a second after its start, not running: $(\"$h_engine\" logs --tail 5 \"$h_n\" 2>&1)\"\n\
                 \treturn 1\n\
                 }\n",
            ),
            Some(cmd) => {
                let _ = write!(
                    s,
                    "h_healthy() {{\n\
                     \th_to=\n\
                     \tcommand -v timeout >/dev/null 2>&1 && h_to=\"timeout {t}\"\n\
                     \th_end=$(( $(date +%s) + {t} ))\n\
                     \twhile :; do\n\
                     \t\tif h_out=$(HALITE_ENGINE=$h_engine HALITE_CONTAINER=$h_n $h_to sh -c {cmd} 2>&1 </dev/null); then\n\
                     \t\t\treturn 0\n\
                     \t\tfi\n\
                     \t\th_st=$(h_status \"$h_n\")\n\
                     \t\tif [ \"$h_st\" != running ]; then\n\
                     \t\t\th_why=\"the container is ${{h_st:-gone}}, not running, and its health command failed${{h_out:+: $h_out}}\"\n\
                     \t\t\treturn 1\n\
                     \t\tfi\n\
                     \t\tif [ \"$(date +%s)\" -ge \"$h_end\" ]; then\n\
                     \t\t\th_why=\"the health command did not succeed within {t} s${{h_out:+: $h_out}}\"\n\
                     \t\t\treturn 1\n\
                     \t\tfi\n\
                     \t\tsleep 1\n\
                     \tdone\n\
                     }}\n",
                    cmd = quote(cmd)
                );
            }
        }
        s
    }

    /// The safe replacement of `$h_n`, as shell lines (helpers defined).
    fn replace_lines(&self) -> String {
        format!(
            "h_was=$(h_status \"$h_n\")\n\
             h_mark oldid \"$(h_id \"$h_n\")\"\n\
             if [ \"$h_was\" = running ]; then\n\
             \th_out=$(\"$h_engine\" stop -t {st} -- \"$h_n\" 2>&1) || h_fail \"cannot stop $h_n: $h_out\"\n\
             fi\n\
             if ! h_out=$(\"$h_engine\" rename \"$h_n\" \"$h_o\" 2>&1); then\n\
             \t[ \"$h_was\" = running ] && \"$h_engine\" start -- \"$h_n\" >/dev/null 2>&1\n\
             \th_fail \"cannot rename $h_n to $h_o (it was left as it was): $h_out\"\n\
             fi\n\
             h_back() {{\n\
             \t\"$h_engine\" rm -f -- \"$h_n\" >/dev/null 2>&1\n\
             \th_out=$(\"$h_engine\" rename \"$h_o\" \"$h_n\" 2>&1) || h_fail \"$1; and the previous container could not be renamed back from $h_o: $h_out\"\n\
             \tif [ \"$h_was\" = running ]; then\n\
             \t\th_out=$(\"$h_engine\" start -- \"$h_n\" 2>&1) || h_fail \"$1; and the previous container did not start again: $h_out\"\n\
             \tfi\n\
             \th_mark rolledback \"$h_was\"\n\
             \th_fail \"$1$h_rb\"\n\
             }}\n\
             h_out=$(h_create 2>&1) || h_back \"creating the new container failed: $h_out\"\n\
             h_out=$(\"$h_engine\" start -- \"$h_n\" 2>&1) || h_back \"starting the new container failed: $h_out\"\n\
             h_healthy || h_back \"$h_why\"\n\
             \"$h_engine\" rm -f -- \"$h_o\" >/dev/null 2>&1 || h_mark warning the previous container \"$h_o\" could not be removed\n\
             h_mark newid \"$(h_id \"$h_n\")\"\n",
            st = self.stop_timeout
        )
    }
}

/// The failure reason an apply or watch snippet reported: its `@@failed`
/// line and the lines after it (a reason may span lines).
fn failure(text: &str) -> Option<String> {
    let start = text.find("@@failed ")?;
    let mut lines = text[start + "@@failed ".len()..].lines();
    let first = lines.next().unwrap_or("").trim();
    let rest = lines
        .filter(|l| !l.starts_with("@@"))
        .map(str::trim)
        .filter(|l| !l.is_empty());
    Some(
        std::iter::once(first)
            .chain(rest)
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

impl StateFunction for Running {
    fn managed(&self) -> Vec<crate::modules::Managed> {
        crate::modules::Managed::present("container", &self.name)
    }

    fn probe(&self) -> String {
        let mut s = prelude(self.engine);
        s.push_str(inspect_fn());
        let _ = write!(
            s,
            "printf '@@current %s\\n' \"$(h_show {})\"\n\
             printf '@@leftover %s\\n' \"$(h_show {})\"\n\
             printf '@@image %s\\n' \"$(\"$h_engine\" image inspect --format '{{{{.Id}}}}' -- {} 2>/dev/null)\"\n\
             printf '@@end\\n'\n",
            quote(&self.name),
            quote(&self.old_name()),
            quote(&self.config.image)
        );
        s
    }

    fn plan(&self, facts: Output) -> Result<Plan, String> {
        let (current, leftover, image_id) = self.facts(facts.text)?;
        Ok(self.decide(current, leftover, &image_id))
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let todo = plan.data::<Todo>()?;
        let mut s = self.helpers(false);
        match todo.leftover {
            Leftover::None => {}
            Leftover::Remove => s.push_str(
                "h_out=$(\"$h_engine\" rm -f -- \"$h_o\" 2>&1) || h_fail \"cannot remove the leftover $h_o: $h_out\"\n",
            ),
            Leftover::Restore => s.push_str(
                "h_out=$(\"$h_engine\" rename \"$h_o\" \"$h_n\" 2>&1) || h_fail \"cannot rename the leftover $h_o back to $h_n: $h_out\"\n",
            ),
        }
        match todo.action {
            Action::Nothing => {}
            Action::Create => s.push_str(
                "h_gone() { \"$h_engine\" rm -f -- \"$h_n\" >/dev/null 2>&1; h_fail \"$1; the new container was removed\"; }\n\
                 h_out=$(h_create 2>&1) || h_gone \"creating the container failed: $h_out\"\n\
                 h_out=$(\"$h_engine\" start -- \"$h_n\" 2>&1) || h_gone \"starting the container failed: $h_out\"\n\
                 h_healthy || h_gone \"$h_why\"\n\
                 h_mark newid \"$(h_id \"$h_n\")\"\n",
            ),
            Action::Start => s.push_str(
                "h_out=$(\"$h_engine\" start -- \"$h_n\" 2>&1) || h_fail \"starting the container failed: $h_out\"\n\
                 h_healthy || h_fail \"$h_why\"\n",
            ),
            Action::Replace => s.push_str(&self.replace_lines()),
        }
        Ok(s)
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        let todo = match plan.data::<Todo>() {
            Ok(t) => t,
            Err(e) => return e.into(),
        };
        let n = &self.name;
        let m = markers(out.text);
        if out.rc != 0 {
            let why = engine_missing(out.text)
                .or_else(|| failure(out.text))
                .unwrap_or_else(|| format!("exit {}: {}", out.rc, message(out.text)));
            let comment = match todo.action {
                Action::Replace if m.contains_key("rolledback") => format!(
                    "Replacing container {n} failed: {why}\nRolled back: the previous container {n} {}",
                    if m.get("rolledback").is_some_and(|s| s.trim() == "running") {
                        "runs again"
                    } else {
                        "is back as it was (not running)"
                    }
                ),
                Action::Replace => format!("Replacing container {n} failed: {why}"),
                Action::Create => format!("Creating container {n} failed: {why}"),
                _ => format!("Container {n} failed: {why}"),
            };
            return Applied {
                result: false,
                changes: Map::new(),
                comment,
            };
        }
        let mut changes = plan.changes.clone();
        if let Some(new) = m.get("newid") {
            changes.insert(
                "container_id".into(),
                json!({"old": if todo.old_id.is_empty() { Value::Null } else { json!(todo.old_id) }, "new": new.trim()}),
            );
        }
        let mut comment = match todo.action {
            Action::Create => format!("Container {n} was created and started"),
            Action::Replace => format!(
                "Container {n} was replaced and the previous one removed ({})",
                plan.changes
                    .get("replaced")
                    .and_then(Value::as_object)
                    .map(|d| d.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            ),
            Action::Start => format!("Container {n} was started"),
            Action::Nothing => format!("Container {n} is running"),
        };
        if let Some(w) = m.get("warning") {
            comment.push_str(&format!("\nWarning: {w}"));
        }
        Applied {
            result: true,
            changes,
            comment,
        }
    }

    fn watch(&self, plan: &Plan) -> Option<String> {
        if !plan.is_noop() {
            // Just created, replaced or started by this very state.
            return None;
        }
        let mut s = self.helpers(true);
        let _ = write!(
            s,
            "h_want=$(\"$h_engine\" image inspect --format '{{{{.Id}}}}' -- {img} 2>/dev/null)\n\
             h_have=$(\"$h_engine\" container inspect --format '{{{{.Image}}}}' -- \"$h_n\" 2>/dev/null)\n\
             if [ -n \"$h_want\" ] && [ \"${{h_want#sha256:}}\" != \"${{h_have#sha256:}}\" ]; then\n\
             {replace}\
             else\n\
             \th_out=$(\"$h_engine\" restart -t {st} -- \"$h_n\" 2>&1) || h_fail \"restarting $h_n failed: $h_out\"\n\
             \th_healthy || h_fail \"$h_why\"\n\
             fi\n",
            img = quote(&self.config.image),
            replace = self.replace_lines(),
            st = self.stop_timeout
        );
        Some(s)
    }
}

#[derive(Debug)]
struct Other {
    name: String,
    /// `stopped` (true) or `absent`.
    stop: bool,
    stop_timeout: u64,
    error_on_absent: bool,
    force: bool,
    engine: Option<Engine>,
}

fn build_stopped(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: StoppedArgs = super::typed_args(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    check_container_name(&chunk.name).map_err(err)?;
    Ok(Box::new(Other {
        name: chunk.name.clone(),
        stop: true,
        stop_timeout: seconds("stop_timeout", a.stop_timeout.as_ref(), 10).map_err(err)?,
        error_on_absent: a.error_on_absent.unwrap_or(true),
        force: false,
        engine: Engine::parse(a.engine.as_ref()).map_err(err)?,
    }))
}

fn build_absent(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: AbsentArgs = super::typed_args(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    check_container_name(&chunk.name).map_err(err)?;
    Ok(Box::new(Other {
        name: chunk.name.clone(),
        stop: false,
        stop_timeout: 10,
        error_on_absent: false,
        force: a.force,
        engine: Engine::parse(a.engine.as_ref()).map_err(err)?,
    }))
}

impl StateFunction for Other {
    fn managed(&self) -> Vec<crate::modules::Managed> {
        if self.stop {
            crate::modules::Managed::present("container", &self.name)
        } else {
            crate::modules::Managed::absent("container", &self.name)
        }
    }

    fn probe(&self) -> String {
        format!(
            "{}{}printf '@@current %s\\n' \"$(h_show {})\"\nprintf '@@leftover %s\\n' \"$(h_show {})\"\nprintf '@@end\\n'\n",
            prelude(self.engine),
            inspect_fn(),
            quote(&self.name),
            quote(&format!("{}{OLD_SUFFIX}", self.name))
        )
    }

    fn plan(&self, facts: Output) -> Result<Plan, String> {
        if let Some(m) = engine_missing(facts.text) {
            return Err(m);
        }
        let m = markers(facts.text);
        if !m.contains_key("end") {
            return Err(format!("the probe did not complete: {}", facts.text.trim()));
        }
        let n = &self.name;
        let current = seen(m.get("current"))?;
        if self.stop {
            return match current {
                None if self.error_on_absent => Err(format!("Container '{n}' absent")),
                None => Ok(Plan::noop(format!("Container '{n}' absent"))),
                Some(c) if c.status == "running" || c.status == "paused" => Ok(Plan::change(
                    json!({"state": {"old": c.status, "new": "stopped"}}),
                    format!("Container '{n}' will be stopped"),
                )),
                Some(_) => Ok(Plan::noop(format!("Container '{n}' is already stopped"))),
            };
        }
        let mut removed = Vec::new();
        for c in [current, seen(m.get("leftover"))?].into_iter().flatten() {
            if c.status == "running" && !self.force {
                return Err(format!(
                    "Container '{n}' is running, set force to True to forcibly remove it"
                ));
            }
            removed.push(c.id);
        }
        if removed.is_empty() {
            return Ok(Plan::noop(format!("Container '{n}' does not exist")));
        }
        Ok(Plan::change(
            json!({"removed": removed}),
            format!("Container '{n}' will be removed"),
        ))
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let n = quote(&self.name);
        let mut s = prelude(self.engine);
        if self.stop {
            let _ = writeln!(s, "\"$h_engine\" stop -t {} -- {n}", self.stop_timeout);
        } else {
            let f = if self.force { " -f" } else { "" };
            let ids: Vec<&str> = plan.changes["removed"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for id in ids {
                let _ = writeln!(s, "\"$h_engine\" rm{f} -- {} || exit", quote(id));
            }
        }
        Ok(s)
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        let n = &self.name;
        if out.rc == 0 {
            return Applied {
                result: true,
                changes: plan.changes.clone(),
                comment: if self.stop {
                    format!("Container '{n}' was stopped")
                } else {
                    format!("Removed container '{n}'")
                },
            };
        }
        Applied {
            result: false,
            changes: Map::new(),
            comment: format!(
                "Failed to {} container '{n}': {}",
                if self.stop { "stop" } else { "remove" },
                engine_missing(out.text).unwrap_or_else(|| message(out.text))
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(function: &str, name: &str, args: Value) -> Chunk {
        Chunk {
            sls: "t".into(),
            file: "t.sls".into(),
            ..Chunk::standalone("docker_container", function, name, args)
        }
    }

    fn build(function: &str, name: &str, args: Value) -> Result<Box<dyn StateFunction>, String> {
        let def = crate::modules::lookup("docker_container", function).unwrap();
        let ctx = BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        };
        (def.build)(&chunk(function, name, args), &ctx)
    }

    fn running(args: Value) -> Running {
        parse_running(&chunk("running", "web", args)).unwrap()
    }

    const BASE: &str = r#"{"image": "127.0.0.1:5000/app:v1", "port_bindings": ["8080:80"],
        "environment": {"A": "1"}, "health_cmd": "wget -qO- http://127.0.0.1:8080/"}"#;

    fn base() -> Running {
        running(serde_json::from_str(BASE).unwrap())
    }

    /// The probe's inspect line for a container made from `r`'s config.
    fn line(r: &Running, status: &str, image_id: &str) -> String {
        let labels = json!({
            FINGERPRINT_LABEL: r.config.fingerprint(),
            CONFIG_LABEL: r.config.to_json(),
            "other": "x",
        });
        format!("{status} {image_id} c0ffee {labels}")
    }

    fn probe_out(current: &str, leftover: &str, image: &str) -> String {
        format!(
            "@@engine podman\n@@current {current}\n@@leftover {leftover}\n@@image {image}\n@@end\n"
        )
    }

    fn plan(r: &Running, text: &str) -> Plan {
        r.plan(Output { text, rc: 0 }).unwrap()
    }

    fn todo(p: &Plan) -> &Todo {
        p.data::<Todo>().unwrap()
    }

    #[test]
    fn the_same_configuration_written_differently_has_one_fingerprint() {
        let a = running(json!({
            "image": "app", "command": "httpd -f -p '8080'",
            "environment": [{"B": 2}, "A=1"], "port_bindings": "9090:90, 8080:80",
            "labels": ["tier=web"],
        }));
        let b = running(json!({
            "image": "app:latest", "command": ["httpd", "-f", "-p", "8080"],
            "environment": {"A": "1", "B": "2"}, "publish": ["8080:80", "9090:90"],
            "labels": {"tier": "web"}, "health_cmd": "true", "health_timeout": 5,
        }));
        assert_eq!(a.config, b.config);
        assert_eq!(a.config.fingerprint(), b.config.fingerprint());
        assert!(a.defaulted && !b.defaulted);
        let c = running(json!({"image": "app", "environment": {"A": "2", "B": "2"}}));
        assert_ne!(a.config.fingerprint(), c.config.fingerprint());
    }

    #[test]
    fn nothing_changed_means_nothing_is_replaced() {
        let r = base();
        let p = plan(
            &r,
            &probe_out(&line(&r, "running", "sha256:aaa"), "", "aaa"),
        );
        assert!(p.is_noop(), "{p:?}");
        assert_eq!(
            p.comment,
            "Container web is already running with the declared configuration"
        );
        // The image is not on the host (removed by hand): still nothing to do.
        assert!(plan(&r, &probe_out(&line(&r, "running", "aaa"), "", "")).is_noop());
        // Labels from an older halite (a field it did not know) with the same
        // configuration: no replacement, although the fingerprints differ.
        let mut old = serde_json::to_value(&r.config).unwrap();
        old.as_object_mut().unwrap().remove("volumes");
        let labels = json!({FINGERPRINT_LABEL: "0123", CONFIG_LABEL: old.to_string()});
        let p = plan(
            &r,
            &probe_out(&format!("running aaa c0ffee {labels}"), "", "aaa"),
        );
        assert!(p.is_noop(), "{p:?}");
    }

    #[test]
    fn a_new_image_or_configuration_replaces_and_says_what_differs() {
        let r = base();
        let p = plan(&r, &probe_out(&line(&r, "running", "aaa"), "", "bbb"));
        assert_eq!(todo(&p).action, Action::Replace);
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"replaced": {"image_id": {"old": "aaa", "new": "bbb"}}})
        );
        assert!(p.comment.contains("(image_id differs)"), "{}", p.comment);

        let v2 = running(
            serde_json::from_str(&BASE.replace("app:v1", "app:v2").replace("\"1\"", "\"2\""))
                .unwrap(),
        );
        let p = plan(&v2, &probe_out(&line(&r, "running", "aaa"), "", ""));
        let replaced = &p.changes["replaced"];
        assert_eq!(
            replaced["image"],
            json!({"old": "127.0.0.1:5000/app:v1", "new": "127.0.0.1:5000/app:v2"})
        );
        assert_eq!(
            replaced["environment"],
            json!({"old": {"A": "1"}, "new": {"A": "2"}})
        );
        assert_eq!(replaced.as_object().unwrap().len(), 2, "{replaced}");
        assert_eq!(todo(&p).old_id, "c0ffee");

        // A container halite did not make is replaced once.
        let p = plan(&r, &probe_out("running aaa c0ffee null", "", "aaa"));
        assert!(
            p.changes["replaced"].get(FINGERPRINT_LABEL).is_some(),
            "{p:?}"
        );
    }

    #[test]
    fn create_start_and_leftovers() {
        let r = base();
        let p = plan(&r, &probe_out("", "", ""));
        assert_eq!(todo(&p).action, Action::Create);
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"state": {"old": "absent", "new": "running"}})
        );
        let p = plan(&r, &probe_out(&line(&r, "exited", "aaa"), "", "aaa"));
        assert_eq!(todo(&p).action, Action::Start);
        assert_eq!(
            p.changes["state"],
            json!({"old": "exited", "new": "running"})
        );
        // Interrupted replacement, new container present: the old one goes.
        let p = plan(
            &r,
            &probe_out(
                &line(&r, "running", "aaa"),
                &line(&r, "exited", "aaa"),
                "aaa",
            ),
        );
        assert_eq!(todo(&p).leftover, Leftover::Remove);
        assert_eq!(todo(&p).action, Action::Nothing);
        assert!(s_contains(&r.apply(&p).unwrap(), "rm -f -- \"$h_o\""));
        // Interrupted between rename and create: the old one comes back, started.
        let p = plan(&r, &probe_out("", &line(&r, "exited", "aaa"), "aaa"));
        assert_eq!(todo(&p).leftover, Leftover::Restore);
        assert_eq!(todo(&p).action, Action::Start);
        assert!(s_contains(
            &r.apply(&p).unwrap(),
            "rename \"$h_o\" \"$h_n\""
        ));
    }

    fn s_contains(s: &str, needle: &str) -> bool {
        s.contains(needle)
    }

    #[test]
    fn finish_reports_rollbacks_and_new_ids() {
        let r = base();
        let p = plan(&r, &probe_out(&line(&r, "running", "aaa"), "", "bbb"));
        let done = r.finish(
            &p,
            Output {
                text: "@@engine podman\n@@oldid c0ffee\n@@rolledback running\n@@failed the health command did not succeed within 30 s: wget: server returned error: HTTP/1.1 500\n",
                rc: 1,
            },
        );
        assert!(!done.result);
        assert!(done.changes.is_empty());
        assert_eq!(
            done.comment,
            "Replacing container web failed: the health command did not succeed within 30 s: wget: server returned error: HTTP/1.1 500\nRolled back: the previous container web runs again"
        );
        let done = r.finish(
            &p,
            Output {
                text: "@@engine podman\n@@oldid c0ffee\n@@newid beef\n",
                rc: 0,
            },
        );
        assert!(done.result);
        assert_eq!(
            done.changes["container_id"],
            json!({"old": "c0ffee", "new": "beef"})
        );
        assert!(done.comment.contains("replaced"), "{}", done.comment);
        let e = r
            .plan(Output {
                text: "@@noengine \n",
                rc: 1,
            })
            .unwrap_err();
        assert!(e.contains("neither podman nor docker"), "{e}");
    }

    #[test]
    fn snippets_are_valid_sh_and_quote_every_value() {
        let nasty = "it's $(touch /tmp/pwned) `x`";
        let r = running(json!({
            "image": "app:v1", "command": ["sh", "-c", nasty],
            "environment": {"E": nasty}, "labels": {"l": nasty},
            "binds": ["/srv/a b:/data:ro"], "hostname": "h1", "network_mode": "host",
            "restart_policy": "on-failure:3", "privileged": true, "health_cmd": nasty,
        }));
        let mut scripts = vec![r.probe()];
        for (current, leftover, image) in [
            ("", "", ""),
            (line(&r, "running", "aaa").as_str(), "", "bbb"),
            (line(&r, "exited", "aaa").as_str(), "", "aaa"),
        ] {
            let p = plan(&r, &probe_out(current, leftover, image));
            scripts.push(r.apply(&p).unwrap());
        }
        scripts.extend(r.watch(&Plan::noop("")));
        let without_health = base();
        let p = plan(&without_health, &probe_out("", "", ""));
        scripts.push(without_health.apply(&p).unwrap());
        for s in &scripts {
            let st = std::process::Command::new("sh")
                .args(["-n", "-c", s])
                .status()
                .unwrap();
            assert!(st.success(), "{s}");
        }
        let create = &scripts[1];
        assert!(create.contains(&quote(&format!("E={nasty}"))), "{create}");
        assert!(create.contains("--privileged"));
        assert!(create.contains(" -v '/srv/a b:/data:ro'"), "{create}");
        assert!(create.contains(&quote(nasty)));
        assert!(r.watch(&plan(&r, &probe_out("", "", ""))).is_none());
    }

    /// A stand-in for the engine's CLI, enough for the replacement snippet:
    /// containers are files holding `status`, `id` and `image`.
    const FAKE_ENGINE: &str = r#"#!/bin/sh
d=$FAKE_DIR
echo "$*" >>"$d/log"
verb=$1
shift
[ "$verb" = container ] || [ "$verb" = image ] && { kind=$verb; verb=$1; shift; }
name=
fmt=
while [ $# -gt 0 ]; do
	case $1 in
	--format | -t | --name) [ "$1" = --name ] && name=$2; fmt=${fmt:-$2}; shift 2 ;;
	--) shift ;;
	-*) shift ;;
	*) [ -z "$name" ] && name=$1; [ "$verb" = rename ] && { new=$2; break; }; [ "$verb" = create ] && break; shift ;;
	esac
done
c=$d/c/$name
case $kind:$verb in
image:inspect) echo img1 ;;
container:inspect)
	[ -f "$c" ] || { echo "no such container $name" >&2; exit 125; }
	. "$c"
	case $fmt in *Status*) echo "$status" ;; *.Id*) echo "$id" ;; *) echo "$image" ;; esac ;;
*:create)
	[ -e "$d/create-fails" ] && { echo "create: bad option" >&2; exit 125; }
	[ -f "$c" ] && { echo "name in use" >&2; exit 125; }
	printf 'status=created\nid=new1\nimage=img1\n' >"$c" ;;
*:start)
	[ -f "$c" ] || exit 125
	sed -i 's/^status=.*/status=running/' "$c" ;;
*:stop) sed -i 's/^status=.*/status=exited/' "$c" ;;
*:rename) [ -f "$c" ] && [ ! -e "$d/c/$new" ] && mv "$c" "$d/c/$new" ;;
*:rm) rm -f "$c" ;;
*:logs) echo "log line" ;;
*) echo "fake: $kind $verb" >&2; exit 2 ;;
esac
"#;

    /// Run `r`'s replacement of a running container `web` (id old1) with
    /// the fake engine; (exit status, output, containers left as `name:status:id`).
    fn replace_with_fake(r: &Running, setup: &str) -> (i32, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("c")).unwrap();
        std::fs::create_dir_all(d.join("bin")).unwrap();
        std::fs::write(d.join("bin/podman"), FAKE_ENGINE).unwrap();
        std::fs::write(d.join("c/web"), "status=running\nid=old1\nimage=img0\n").unwrap();
        let p = plan(r, &probe_out(&line(r, "running", "img0"), "", "img1"));
        assert_eq!(todo(&p).action, Action::Replace);
        let script = format!("{setup}\n{}", r.apply(&p).unwrap());
        let out = std::process::Command::new("sh")
            .args([
                "-c",
                &format!("chmod 755 \"$FAKE_DIR/bin/podman\"; ( {script} ) 2>&1"),
            ])
            .env("FAKE_DIR", d)
            .env("PATH", format!("{}:/usr/bin:/bin", d.join("bin").display()))
            .output()
            .unwrap();
        let left = std::process::Command::new("sh")
            .arg("-c")
            .arg("cd \"$FAKE_DIR/c\" && for f in *; do . ./$f; printf '%s:%s:%s ' \"$f\" \"$status\" \"$id\"; done")
            .env("FAKE_DIR", d)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&left.stdout).trim().to_string(),
        )
    }

    #[test]
    fn replacement_keeps_the_old_container_until_the_new_one_is_healthy() {
        let r = running(
            json!({"image": "app:v2", "health_cmd": "test ! -e \"$FAKE_DIR/unhealthy\"", "health_timeout": 1}),
        );
        let (rc, out, left) = replace_with_fake(&r, "");
        assert_eq!(rc, 0, "{out}");
        assert_eq!(left, "web:running:new1", "{out}");
        let done = r.finish(
            &plan(&r, &probe_out(&line(&r, "running", "img0"), "", "img1")),
            Output { text: &out, rc },
        );
        assert_eq!(
            done.changes["container_id"],
            json!({"old": "c0ffee", "new": "new1"})
        );

        // Unhealthy: the new one goes, the old one is back and running.
        let (rc, out, left) = replace_with_fake(&r, "touch \"$FAKE_DIR/unhealthy\"");
        assert_eq!(rc, 1, "{out}");
        assert_eq!(left, "web:running:old1", "{out}");
        assert!(out.contains("@@rolledback running"), "{out}");
        assert!(
            failure(&out)
                .unwrap()
                .starts_with("the health command did not succeed within 1 s"),
            "{out}"
        );

        // The new one cannot even be created: the same rollback.
        let (rc, out, left) = replace_with_fake(&r, "touch \"$FAKE_DIR/create-fails\"");
        assert_eq!(rc, 1, "{out}");
        assert_eq!(left, "web:running:old1", "{out}");
        assert!(
            failure(&out)
                .unwrap()
                .contains("creating the new container failed: create: bad option"),
            "{out}"
        );
    }

    #[test]
    fn arguments_are_checked() {
        let bad = |args: Value| build("running", "web", args).unwrap_err();
        assert!(bad(json!({})).contains("`image` is required"));
        assert!(bad(json!({"image": "app", "ports": ["80"]})).contains("unknown field `ports`"));
        assert!(
            bad(json!({"image": "app", "port_bindings": ["80"], "publish": ["81"]}))
                .contains("not both")
        );
        assert!(
            bad(json!({"image": "app", "port_bindings": ["--privileged"]})).contains("not valid")
        );
        assert!(
            bad(json!({"image": "app", "labels": {"halite.config": "x"}})).contains("halite's own")
        );
        assert!(bad(json!({"image": "app", "command": "sh -c 'x"})).contains("unbalanced"));
        assert!(bad(json!({"image": "app", "health_timeout": "soon"})).contains("whole seconds"));
        assert!(bad(json!({"image": "app", "engine": "rkt"})).contains("podman or docker"));
        assert!(build("running", "-x", json!({"image": "app"})).is_err());
        assert!(build("stopped", "web", json!({"image": "app"})).is_err());
        assert!(build("absent", "web", json!({"force": true})).is_ok());
    }

    #[test]
    fn stopped_and_absent() {
        let p = |f: &str, args: Value, text: &str| {
            build(f, "web", args).unwrap().plan(Output { text, rc: 0 })
        };
        let running = "@@current running aaa c0ffee null\n@@leftover \n@@end\n";
        let none = "@@current \n@@leftover \n@@end\n";
        let stop = p("stopped", json!({}), running).unwrap();
        assert_eq!(
            Value::Object(stop.changes),
            json!({"state": {"old": "running", "new": "stopped"}})
        );
        assert_eq!(
            p("stopped", json!({}), none).unwrap_err(),
            "Container 'web' absent"
        );
        assert!(p("stopped", json!({"error_on_absent": false}), none)
            .unwrap()
            .is_noop());
        assert!(p("absent", json!({}), running)
            .unwrap_err()
            .contains("set force to True"));
        let rm = p("absent", json!({"force": true}), running).unwrap();
        assert_eq!(Value::Object(rm.changes), json!({"removed": ["c0ffee"]}));
        assert!(p("absent", json!({}), none).unwrap().is_noop());
    }
}
