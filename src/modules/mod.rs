//! State modules: what `pkg.installed`, `file.managed`, `service.running`...
//! mean on a host.
//!
//! A state function is typed arguments (checked when the state tree is
//! compiled) plus three pieces the engine puts together:
//! - [`StateFunction::probe`]: a read-only `sh` snippet printing the facts
//!   the decision needs. The engine runs every state's probe in ONE remote
//!   script;
//! - [`StateFunction::plan`]: a pure function from those facts to what would
//!   change. `test=True` is "plan, don't apply", decided by the engine alone,
//!   so no module can get the dry run wrong;
//! - [`StateFunction::apply`]: a `sh` snippet making the change, run in ONE
//!   remote apply script with the other states that must change.
//!
//! Adding a module is one file here and one line in [`MODULES`]. Values
//! reach the shell only through [`crate::transport::quote`].

pub mod archive;
pub mod cmd;
pub mod conffile;
pub mod cron;
pub mod docker_container;
pub mod docker_image;
pub mod fetch;
pub mod file;
pub mod git;
pub mod group;
pub mod host;
pub mod ini;
pub mod locale;
pub mod module_run;
pub mod pkg;
pub mod pkgrepo;
pub mod service;
pub mod ssh_auth;
pub mod ssh_known_hosts;
pub mod sysctl;
pub mod test;
pub mod timezone;
pub mod user;

use std::path::Path;

use crate::state::{Chunk, MemoryRegistry, StateSpec};
use crate::Value;

/// Every module; the registry and `sys.doc` walk this.
pub const MODULES: &[ModuleDef] = &[
    cmd::MODULE,
    file::MODULE,
    pkg::MODULE,
    service::MODULE,
    user::MODULE,
    group::MODULE,
    docker_image::MODULE,
    docker_container::MODULE,
    pkgrepo::MODULE,
    ssh_auth::MODULE,
    ssh_known_hosts::MODULE,
    cron::MODULE,
    archive::MODULE,
    test::MODULE,
    sysctl::MODULE,
    host::MODULE,
    ini::MODULE,
    timezone::MODULE,
    locale::MODULE,
    git::MODULE,
    module_run::MODULE,
];

pub use crate::state::ledger::LedgerKind;

/// A module: its name and functions.
pub struct ModuleDef {
    pub name: &'static str,
    pub functions: &'static [FnDef],
    /// The kinds of resource its states record in the drift ledger.
    pub ledger: &'static [LedgerKind],
}

/// The module recording `kind` in the ledger, and how.
pub fn ledger_kind(kind: &str) -> Option<(&'static ModuleDef, &'static LedgerKind)> {
    MODULES
        .iter()
        .find_map(|m| m.ledger.iter().find(|k| k.kind == kind).map(|k| (m, k)))
}

/// The inverse state prune runs for a ledger entry of `kind`: module,
/// function, the state's name and its arguments.
pub fn prune_state(
    kind: &str,
    identity: &str,
) -> Option<(
    &'static str,
    &'static str,
    String,
    serde_json::Map<String, Value>,
)> {
    let (m, k) = ledger_kind(kind)?;
    let mut args = match (k.prune.1)(identity) {
        Value::Object(a) => a,
        _ => serde_json::Map::new(),
    };
    let name = match args.remove("name") {
        Some(Value::String(n)) => n,
        _ => identity.to_string(),
    };
    Some((m.name, k.prune.0, name, args))
}

/// Every kind the ledger records.
pub fn ledger_kinds() -> impl Iterator<Item = &'static LedgerKind> {
    MODULES.iter().flat_map(|m| m.ledger.iter())
}

/// One state function.
pub struct FnDef {
    pub name: &'static str,
    /// One line, for `sys.doc`-style listings.
    pub doc: &'static str,
    /// Accepted arguments besides `name` and the global ones.
    pub args: &'static [&'static str],
    /// Build the function for one compiled chunk (arguments already
    /// restricted to `args`; type errors are reported here).
    pub build: Build,
}

/// Builds a state function for one chunk.
pub type Build = fn(&Chunk, &BuildCtx) -> Result<Box<dyn StateFunction>, String>;

/// What building a state may need from the controller.
pub struct BuildCtx<'a> {
    /// The states/ root, for `salt://` sources.
    pub states_root: &'a Path,
    /// Renders `template: jinja` files with the host's grains and pillar.
    pub renderer: Option<&'a crate::render::Renderer>,
}

/// What a probe or an apply snippet printed (stdout and stderr together, in
/// order) and its exit status.
#[derive(Debug, Clone, Copy)]
pub struct Output<'a> {
    pub text: &'a str,
    pub rc: i32,
}

/// What a state would change.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Salt's `changes` shape (an object). Empty: already as declared.
    pub changes: serde_json::Map<String, Value>,
    /// Shown in test mode and when nothing changes.
    pub comment: String,
    /// Module-private data carried from `plan` to `apply`/`finish`: the
    /// module's own type, read back with [`Plan::data`].
    pub data: PlanData,
}

impl Plan {
    /// Nothing to do.
    pub fn noop(comment: impl Into<String>) -> Plan {
        Plan {
            comment: comment.into(),
            ..Plan::default()
        }
    }

    /// A change, described by `changes` (e.g. `{"installed": {"old": "", "new": "1.2"}}`).
    pub fn change(changes: Value, comment: impl Into<String>) -> Plan {
        Plan {
            changes: match changes {
                Value::Object(m) => m,
                other => [("changed".to_string(), other)].into_iter().collect(),
            },
            comment: comment.into(),
            data: PlanData::none(),
        }
    }

    /// Carry `data` (the module's own type) to `apply` and `finish`.
    pub fn with_data<T: PlanDatum>(mut self, data: T) -> Plan {
        self.data = PlanData::new(data);
        self
    }

    /// The module data this plan carries, as the type `T` the module put
    /// there; any other type (or none) is a [`PlanMismatch`], which fails
    /// the state: never read as an empty plan.
    pub fn data<T: PlanDatum>(&self) -> Result<&T, PlanMismatch> {
        self.data.get()
    }

    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }
}

/// What a module's plan data must be: its own type, comparable (plans are
/// compared in tests) and printable (in `Debug` output).
pub trait PlanDatum: std::any::Any + Send + Sync + std::fmt::Debug + PartialEq {}
impl<T: std::any::Any + Send + Sync + std::fmt::Debug + PartialEq> PlanDatum for T {}

/// A module's plan data behind the registry's erased interface: a value of
/// the module's own type, or nothing.
#[derive(Clone, Default)]
pub struct PlanData(Option<ErasedDatum>);

#[derive(Clone)]
struct ErasedDatum {
    value: std::sync::Arc<dyn std::any::Any + Send + Sync>,
    type_name: &'static str,
    eq: fn(&dyn std::any::Any, &dyn std::any::Any) -> bool,
    debug: fn(&dyn std::any::Any, &mut std::fmt::Formatter<'_>) -> std::fmt::Result,
}

impl PlanData {
    pub fn none() -> PlanData {
        PlanData(None)
    }

    pub fn new<T: PlanDatum>(value: T) -> PlanData {
        PlanData(Some(ErasedDatum {
            value: std::sync::Arc::new(value),
            type_name: std::any::type_name::<T>(),
            eq: |a, b| {
                a.downcast_ref::<T>()
                    .is_some_and(|a| Some(a) == b.downcast_ref::<T>())
            },
            debug: |v, f| match v.downcast_ref::<T>() {
                Some(v) => v.fmt(f),
                None => f.write_str("?"),
            },
        }))
    }

    pub fn get<T: PlanDatum>(&self) -> Result<&T, PlanMismatch> {
        let found = match &self.0 {
            None => "no data",
            Some(d) => match d.value.downcast_ref::<T>() {
                Some(v) => return Ok(v),
                None => d.type_name,
            },
        };
        Err(PlanMismatch {
            expected: std::any::type_name::<T>(),
            found,
        })
    }
}

impl PartialEq for PlanData {
    fn eq(&self, other: &PlanData) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => (a.eq)(a.value.as_ref(), b.value.as_ref()),
            _ => false,
        }
    }
}

impl std::fmt::Debug for PlanData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("PlanData(none)"),
            Some(d) => (d.debug)(d.value.as_ref(), f),
        }
    }
}

/// A plan reached `apply`/`finish` carrying another type than the module
/// plans with (or none): a bug, reported as the state's failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("internal error: the plan carries {found}, not the {expected} this state applies")]
pub struct PlanMismatch {
    pub expected: &'static str,
    pub found: &'static str,
}

impl From<PlanMismatch> for Applied {
    /// The state fails, changing nothing.
    fn from(e: PlanMismatch) -> Applied {
        Applied {
            result: false,
            changes: serde_json::Map::new(),
            comment: e.to_string(),
        }
    }
}

/// A probe the states of one run share (one `systemctl` call for every
/// unit instead of three per state): see [`StateFunction::shared_probe`].
pub struct SharedProbe {
    /// States with the same key share one run of `script`.
    pub key: &'static str,
    /// This state's part of the question (a unit name).
    pub arg: String,
    /// The script answering for every state's `arg` (deduplicated, in
    /// state order). It runs in the gather's own shell, so it only sets
    /// shell variables: it prints nothing, changes nothing and never exits.
    pub script: fn(args: &[String]) -> String,
}

/// How an applied state ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub result: bool,
    pub changes: serde_json::Map<String, Value>,
    pub comment: String,
}

/// One state function, ready for one chunk.
pub trait StateFunction: Send + Sync + std::fmt::Debug {
    /// A read-only `sh` snippet printing what [`StateFunction::plan`] needs.
    /// It runs inside the gather script; it must not change anything.
    fn probe(&self) -> String;

    /// A probe to share with the run's other states of the same kind: the
    /// gather runs its script once, before the states' own probes. The
    /// state's [`probe`](Self::probe) must answer alone too, and exactly
    /// as when shared (it asks the host itself where the shared answer is
    /// missing or not certain), so sharing changes the cost, never the
    /// answer. Default: none.
    fn shared_probe(&self) -> Option<SharedProbe> {
        None
    }

    /// Pure: what must change, from the probe's output. An `Err` fails the
    /// state with that message (e.g. an unsupported platform).
    fn plan(&self, facts: Output) -> Result<Plan, String>;

    /// A `sh` snippet making the planned change; exit status 0 is success.
    /// `Err`: the plan does not carry this module's data (the state fails).
    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch>;

    /// The final result from the apply snippet's output. By default: success
    /// means the planned changes happened.
    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        finish_with(plan, out, plan.comment.clone())
    }

    /// Whether a plan error may come from what earlier states will change
    /// (a package brings the unit file a service needs), so the engine
    /// plans again after them. `false` for a state whose plan reads nothing
    /// from the host: its error is final (`test.fail_without_changes`).
    fn plan_reads_host(&self) -> bool {
        true
    }

    /// Salt's `mod_watch`: a snippet run when a watched state changed (a
    /// service restarts). `None`: the module has no watch behaviour.
    fn watch(&self, plan: &Plan) -> Option<String> {
        let _ = plan;
        None
    }

    /// The result of the `watch` reaction, when the reaction is the
    /// state's whole job (`cmd.wait`: its output and exit code). `None`:
    /// the engine notes the reaction next to the state's own result.
    fn watch_finish(&self, plan: &Plan, out: Output) -> Option<Applied> {
        let _ = (plan, out);
        None
    }

    /// The resources this state brings into being (`present`) or removes,
    /// for the drift ledger (`crate::state::ledger`). Default: none (a
    /// command, an edit of a file the state does not own).
    fn managed(&self) -> Vec<Managed> {
        Vec::new()
    }

    /// What this plan removes besides the absent resources of
    /// [`managed`](Self::managed) (`file.recurse`'s `clean`): the ledger
    /// forgets them (and, for a directory, what it held) once the state
    /// succeeds, and they are not reported as orphans. Default: nothing.
    fn removes(&self, plan: &Plan) -> Result<Vec<crate::state::ledger::Resource>, PlanMismatch> {
        let _ = plan;
        Ok(Vec::new())
    }

    /// The states this one requires (Salt's `require`, `require_in` of
    /// the others included), told once after every state of the run is
    /// built: Salt's `clean` (`file.directory`, `file.recurse`) keeps what
    /// they manage. Default: ignored.
    fn required(&mut self, states: &[Required<'_>]) {
        let _ = states;
    }
}

/// A state another one requires, as [`StateFunction::required`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct Required<'a> {
    pub chunk: &'a Chunk,
    /// What it manages ([`StateFunction::managed`]).
    pub managed: &'a [Managed],
}

/// The usual end of an apply: on success the planned changes with
/// `comment` (what was done), else the plan's comment, the exit code and
/// what the snippet printed.
pub fn finish_with(plan: &Plan, out: Output, comment: String) -> Applied {
    if out.rc == 0 {
        Applied {
            result: true,
            changes: plan.changes.clone(),
            comment,
        }
    } else {
        Applied {
            result: false,
            changes: serde_json::Map::new(),
            comment: format!(
                "{} failed (exit {}): {}",
                plan.comment,
                out.rc,
                out.text.trim()
            ),
        }
    }
}

/// A probe's output in the `TAG word...` style: the tagged lines (tag
/// stripped, trimmed) in order, and the text shipped base64-encoded
/// between `TAG content` and `TAG end` lines (`None` when there was none).
/// `what` names that text in errors.
pub fn tagged_probe(
    text: &str,
    tag: &str,
    what: &str,
) -> Result<(Vec<String>, Option<String>), String> {
    let mut tags = Vec::new();
    let mut b64: Option<String> = None;
    let mut content = None;
    for line in text.lines() {
        match line.strip_prefix(tag).map(str::trim) {
            Some("content") => b64 = Some(String::new()),
            Some("end") => {
                let raw = data_encoding::BASE64
                    .decode(b64.take().unwrap_or_default().as_bytes())
                    .map_err(|e| format!("unexpected probe output: {e}"))?;
                content =
                    Some(String::from_utf8(raw).map_err(|_| format!("{what} is not UTF-8 text"))?);
            }
            Some(rest) => tags.push(rest.to_string()),
            None => {
                if let Some(b) = &mut b64 {
                    b.push_str(line.trim());
                }
            }
        }
    }
    Ok((tags, content))
}

/// A resource a state declares, as the drift ledger names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Managed {
    pub resource: crate::state::ledger::Resource,
    /// `true`: the state makes it exist (user.present); `false`: the state
    /// removes it (user.absent), which drops it from the ledger.
    pub present: bool,
}

impl Managed {
    pub fn present(kind: &str, identity: &str) -> Vec<Managed> {
        vec![Managed {
            resource: crate::state::ledger::Resource::new(kind, identity),
            present: true,
        }]
    }

    pub fn absent(kind: &str, identity: &str) -> Vec<Managed> {
        vec![Managed {
            resource: crate::state::ledger::Resource::new(kind, identity),
            present: false,
        }]
    }
}

/// `run` (shell words) as `user`: runuser where it exists (util-linux),
/// else su. `exec`: replace the current shell.
pub fn run_as(user: &str, run: &str, exec: bool) -> String {
    let exec = if exec { "exec " } else { "" };
    format!(
        "if command -v runuser >/dev/null 2>&1; then {exec}runuser -u {u} -- {run}; else {exec}su -s /bin/sh -c {q} {u}; fi",
        u = crate::transport::quote::quote(user),
        q = crate::transport::quote::quote(run)
    )
}

/// The compiler's view of every module: names and accepted arguments.
pub fn registry() -> MemoryRegistry {
    let mut r = MemoryRegistry::new();
    for m in MODULES {
        for f in m.functions {
            r = r.with_spec(m.name, f.name, StateSpec::new(f.args));
        }
    }
    r
}

/// Find a state function definition.
pub fn lookup(module: &str, function: &str) -> Option<&'static FnDef> {
    MODULES
        .iter()
        .find(|m| m.name == module)?
        .functions
        .iter()
        .find(|f| f.name == function)
}

/// Deserialize a chunk's arguments into a module's typed argument struct,
/// with a message naming the state on failure.
pub fn typed_args<T: serde::de::DeserializeOwned>(chunk: &Chunk) -> Result<T, String> {
    serde_json::from_value(Value::Object(chunk.args.clone()))
        .map_err(|e| format!("{}: invalid arguments: {e}", chunk.describe()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan carrying another type than the module's own, or nothing,
    /// fails: apply is an error naming both types, finish a failed result
    /// with no changes. Never an empty apply reported as done.
    #[test]
    fn a_mismatched_plan_fails_the_state() {
        let ctx = BuildCtx {
            states_root: Path::new("/nonexistent"),
            renderer: None,
        };
        for (module, function, name) in [
            ("pkg", "installed", "hello"),
            ("service", "running", "nginx"),
            ("user", "present", "alice"),
            ("group", "present", "staff"),
            ("file", "directory", "/srv/x"),
            ("file", "managed", "/srv/x"),
            ("cron", "present", "true"),
        ] {
            let def = lookup(module, function).unwrap();
            let chunk = Chunk::standalone(module, function, name, serde_json::json!({}));
            let f = (def.build)(&chunk, &ctx).unwrap();
            for plan in [
                Plan::change(serde_json::json!({"x": true}), "would change").with_data(42u32),
                Plan::change(serde_json::json!({"x": true}), "would change"),
            ] {
                let e = f.apply(&plan).unwrap_err();
                assert!(
                    e.to_string().contains("internal error"),
                    "{module}.{function}: {e}"
                );
                let done = f.finish(&plan, Output { text: "", rc: 0 });
                assert!(!done.result, "{module}.{function}: {done:?}");
                assert!(done.changes.is_empty(), "{module}.{function}: {done:?}");
            }
        }
        let e = Plan::noop("").with_data(1u8).data::<String>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "internal error: the plan carries u8, not the alloc::string::String this state applies"
        );
    }

    /// Every ledger kind: one module records it, its existence test is
    /// valid `sh` and answers for a resource that is not there, and its
    /// prune state builds for an identity.
    #[test]
    fn ledger_kinds_are_unique_testable_and_prunable() {
        let mut seen = std::collections::BTreeSet::new();
        for k in ledger_kinds() {
            assert!(seen.insert(k.kind), "{} recorded twice", k.kind);
            let (m, _) = ledger_kind(k.kind).unwrap();
            let test = (k.exists)(&crate::transport::quote::quote("/nonexistent/halite x"));
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("if {test}; then echo yes; else echo no; fi"))
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "no\n",
                "{}: {test}",
                k.kind
            );
            let identity = match k.kind {
                "file" => "/srv/x",
                "ssh_auth" => "halite-x AAAAB3NzaC1yc2EAAAADAQABAAABAQC",
                "cron" => "halite-x nightly backup",
                _ => "halite-x",
            };
            let (module, function, name, args) = prune_state(k.kind, identity).unwrap();
            assert_eq!(module, m.name);
            let def = lookup(module, function)
                .unwrap_or_else(|| panic!("{}: no {module}.{function}", k.kind));
            let chunk = Chunk::standalone(m.name, function, &name, Value::Object(args));
            let ctx = BuildCtx {
                states_root: Path::new("/nonexistent"),
                renderer: None,
            };
            if let Err(e) = (def.build)(&chunk, &ctx) {
                panic!("{}: {e}", k.kind);
            }
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            [
                "container",
                "cron",
                "file",
                "group",
                "pkg",
                "service",
                "ssh_auth",
                "user"
            ]
        );
    }
}
