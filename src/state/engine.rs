//! The state engine: applies compiled states to one host in at most two
//! remote executions after connecting.
//!
//! 1. On the controller: pillar for this host only, the top file, the
//!    named SLS or the one state of `state.single`, rendering, compiling,
//!    building every state function. Any error here fails the host before
//!    anything runs on it.
//! 2. ONE gather script: every state's read-only probe plus the `unless`,
//!    `onlyif` and `creates` checks, each fenced by a per-run marker.
//! 3. On the controller: each state's pure plan from its facts; requisites
//!    decided where the plans decide them (onchanges, onfail, prereq).
//!    `test=True` stops here: the plans are the prediction.
//! 4. ONE apply script (sent on stdin, so its size is not limited by argv):
//!    only the states that must change, in order, each guarded by shell
//!    variables holding its dependencies' outcomes, so a requisite that
//!    fails at run time still stops its dependents, `watch` reactions run
//!    only when the watched state changed, and `failhard` stops the rest.
//!    A no-op run has nothing to apply and skips this execution.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Map};

use super::ledger::{self, Gathered, Ledger, Resource};
use super::progress::{self, Applied, Progress};
use super::{Chunk, CompileError, Kind, SlsSource};
use crate::inventory::Group;
use crate::modules::{self, Output, Plan, StateFunction};
use crate::render::{RemoteCall, Renderer};
use crate::transport::quote::quote;
use crate::transport::{Command, Connection, TransportError};
use crate::Value;

/// Where the state tree and pillar live, and the inventory's groups.
#[derive(Debug, Clone)]
pub struct Project {
    pub states: PathBuf,
    pub pillar: PathBuf,
    pub groups: BTreeMap<String, Group>,
    /// Keys of the `gpg` and `age` renderers; what they decrypted this run.
    pub secrets: Arc<crate::secrets::Secrets>,
}

/// What to apply.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The top file's SLS for this host.
    Highstate,
    /// These SLS names.
    Sls(Vec<String>),
    /// One state given on the command line (`state.single`).
    Single(Single),
}

/// `state.single pkg.installed name=vim`: one state, compiled as the only
/// ID declaration of an SLS of its own (ID = name), so it goes through the
/// same checks, build, gather, plan and apply as any SLS.
#[derive(Debug, Clone, PartialEq)]
pub struct Single {
    pub module: String,
    pub function: String,
    /// `name` and the state's other arguments, in the order given.
    pub args: Map<String, Value>,
}

impl Single {
    /// The SLS name its chunk carries (`__sls__` in the output).
    pub const SLS: &'static str = "state.single";

    /// The SLS this state is the only declaration of.
    pub fn source(&self) -> SlsSource {
        let id = self.args.get("name").and_then(Value::as_str).unwrap_or("");
        let args: Vec<Value> = self
            .args
            .iter()
            .map(|(k, v)| Value::Object([(k.clone(), v.clone())].into_iter().collect()))
            .collect();
        let body = json!({ format!("{}.{}", self.module, self.function): args });
        SlsSource {
            file: "command line".to_string(),
            data: json!({ id: body }),
        }
    }

    /// Compile it on its own (no host data needed): unknown modules,
    /// functions and arguments, bad global arguments and requisites are
    /// found before anything connects.
    pub fn check(&self) -> Result<(), CompileError> {
        let source = self.source();
        let mut loader = |_: &str| Ok(source.clone());
        super::compile(&[Self::SLS.to_string()], &mut loader, &modules::registry()).map(|_| ())
    }
}

/// Apply the states, or only show what they compile to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Apply,
    /// The SLS names the top file gives this host.
    ShowTop,
    /// The compiled states, in execution order, without touching the host.
    Show,
}

/// A state run as asked on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct StateCall {
    pub action: Action,
    pub target: Target,
    pub test: bool,
    /// `pillar='{...}'`, merged over the compiled pillar.
    pub pillar: Option<Value>,
    /// `state.drift`: test mode, and the host fails when anything drifted.
    pub drift: bool,
    /// `prune=True`: remove the orphans halite created (release the ones
    /// it found), at most this many per host (`prune_limit`).
    pub prune: Option<usize>,
}

/// How the run ended on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub success: bool,
    /// Salt's shape: `{"pkg_|-apache_|-apache_|-installed": {result, changes, comment, ...}}`,
    /// or a list of error strings when the tree could not be compiled.
    pub ret: Value,
    /// The drift ledger's report: orphans, gone, unrecordable, pruned,
    /// released; `None` when there is nothing to say.
    pub drift: Option<Value>,
    /// The host's ledger as this run left it (the controller keeps it in
    /// its cache); `None` when the run did not read it.
    pub ledger: Option<ledger::HostCopy>,
    /// The tree could not be compiled because it declares a key or an ID
    /// twice ([`CompileFailure::duplicate`]).
    pub duplicate: bool,
}

impl Outcome {
    fn error(message: String) -> Outcome {
        Outcome {
            success: false,
            ret: json!([message]),
            drift: None,
            ledger: None,
            duplicate: false,
        }
    }

    fn not_compiled(e: CompileFailure) -> Outcome {
        Outcome {
            duplicate: e.duplicate,
            ..Outcome::error(e.message)
        }
    }
}

/// A compiled, built state with what the engine decided about it.
struct State {
    chunk: Chunk,
    function: Box<dyn StateFunction>,
    decision: Decision,
}

/// What happens to a state, as far as the plans can tell.
#[derive(Debug, Clone)]
enum Decision {
    /// Nothing to do: result True with this comment.
    Done(String),
    /// Failed before applying (probe/plan error, a failed requisite).
    Failed(String),
    /// The plan has changes to apply (maybe also a watch reaction).
    Apply(Plan),
    /// Already as declared, but a watched state changes: only the reaction.
    WatchOnly(Plan),
    /// Cannot be planned before states it requires have run (the service of
    /// a package this run installs): probed and planned again after them.
    Deferred(String),
}

/// When a state ran and for how long, from the host's uptime at the start
/// and end of its probe, apply and watch blocks (10 ms steps), placed on the
/// controller's clock (the moment the script was sent).
#[derive(Debug, Clone, Copy, Default)]
struct StateTime {
    started: Option<std::time::SystemTime>,
    ms: f64,
}

/// Add what `sec` says about each state's blocks to `times`. A state's
/// start is its apply's start when it was applied, else its probe's.
fn add_times(times: &mut [StateTime], sec: &Sections, sent: std::time::SystemTime) {
    for ((kind, i), (a, b)) in &sec.times {
        let Some(t) = times.get_mut(*i) else { continue };
        t.ms += ((b - a) * 1000.0).max(0.0);
        if let Some(clock) = sec.clock {
            if t.started.is_none() || kind == "apply" {
                let offset = std::time::Duration::from_secs_f64((a - clock).max(0.0));
                t.started = Some(sent + offset);
            }
        }
    }
}

/// Compiled chunks with their built state functions, in execution order.
pub type Built = Vec<(Chunk, Box<dyn StateFunction>)>;

/// The host's pillar for `call`: `known` (compiled for targeting) when the
/// call has no `pillar=` override, else compiled now with the override.
fn host_pillar(
    project: &Project,
    host_id: &str,
    grains: &Value,
    known: Option<Value>,
    call: &StateCall,
) -> Result<Value, CompileFailure> {
    match known {
        Some(p) if call.pillar.is_none() => Ok(p),
        _ => crate::pillar::compile(
            &project.pillar,
            host_id,
            grains,
            &project.groups,
            call.pillar.clone(),
            &project.secrets,
        )
        .map_err(|e| CompileFailure {
            duplicate: e.is_duplicate_key(),
            message: format!("pillar: {e}"),
        }),
    }
}

/// Why a host's state tree could not be compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct CompileFailure {
    pub message: String,
    /// A key or a state ID declared twice (in an SLS, the top file or the
    /// pillar): the tree itself is wrong, so the run starts no more hosts
    /// (see `fleet`) and exits 2 when nothing ran.
    pub duplicate: bool,
}

impl CompileFailure {
    fn plain(message: String) -> Self {
        CompileFailure {
            message,
            duplicate: false,
        }
    }

    fn render(e: crate::render::RenderError) -> Self {
        CompileFailure {
            duplicate: e.is_duplicate_key(),
            message: e.to_string(),
        }
    }
}

impl std::fmt::Display for CompileFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Compile the state tree for this host (controller only, no I/O on the
/// host). `pillar`: the host's pillar when already compiled (targeting).
/// `remote`: runs `salt['cmd.run'](...)` and the other execution functions
/// templates call on the host (without it they are render errors).
/// An error never quotes a value the `gpg` / `age` renderers decrypted (a
/// state argument's message may quote the argument).
pub fn compile(
    project: &Project,
    host_id: &str,
    grains: &Value,
    pillar: Option<Value>,
    call: &StateCall,
    remote: Option<Arc<dyn RemoteCall>>,
) -> Result<Built, CompileFailure> {
    compile_tree(project, host_id, grains, pillar, call, remote).map_err(|e| CompileFailure {
        message: project.secrets.redact_str(&e.message).into_owned(),
        ..e
    })
}

fn compile_tree(
    project: &Project,
    host_id: &str,
    grains: &Value,
    pillar: Option<Value>,
    call: &StateCall,
    remote: Option<Arc<dyn RemoteCall>>,
) -> Result<Built, CompileFailure> {
    let pillar = host_pillar(project, host_id, grains, pillar, call)?;
    let mut renderer = Renderer::new(&project.states, host_id, grains.clone(), pillar.clone())
        .with_secrets(project.secrets.clone());
    if let Some(remote) = remote {
        renderer = renderer.with_remote(remote);
    }
    let names = match &call.target {
        Target::Sls(names) => names.clone(),
        Target::Single(_) => vec![Single::SLS.to_string()],
        Target::Highstate => {
            if !project.states.join("top.sls").is_file() {
                return Err(CompileFailure::plain(format!(
                    "no top file: {} does not exist",
                    project.states.join("top.sls").display()
                )));
            }
            let top = renderer
                .render_sls("top.sls", "top")
                .map_err(CompileFailure::render)?;
            let names = super::top_sls(&top, host_id, grains, &pillar, &project.groups)
                .map_err(|e| CompileFailure::plain(e.to_string()))?;
            if names.is_empty() {
                return Err(CompileFailure::plain(format!(
                    "no state in top.sls matches {host_id}"
                )));
            }
            names
        }
    };
    // Set when an SLS repeats a key: the loader's error is only text.
    let duplicate_key = std::cell::Cell::new(false);
    let mut loader = |sls: &str| -> Result<SlsSource, super::CompileError> {
        if let Target::Single(single) = &call.target {
            return Ok(single.source());
        }
        let file = sls_file(project, sls).ok_or_else(|| super::CompileError::Load {
            sls: sls.to_string(),
            message: format!(
                "no such SLS: neither {0}.sls nor {0}/init.sls exists in {1}",
                sls.replace('.', "/"),
                project.states.display()
            ),
        })?;
        let data = renderer.render_sls(&file, sls).map_err(|e| {
            duplicate_key.set(duplicate_key.get() || e.is_duplicate_key());
            super::CompileError::Load {
                sls: sls.to_string(),
                message: e.to_string(),
            }
        })?;
        Ok(SlsSource { file, data })
    };
    let compiled =
        super::compile(&names, &mut loader, &modules::registry()).map_err(|e| CompileFailure {
            duplicate: duplicate_key.get() || e.is_duplicate(),
            message: e.to_string(),
        })?;
    let ctx = modules::BuildCtx {
        states_root: &project.states,
        renderer: Some(&renderer),
    };
    compiled
        .chunks
        .into_iter()
        .map(|chunk| {
            let def = modules::lookup(&chunk.module, &chunk.function).ok_or_else(|| {
                CompileFailure::plain(format!("{}: no such state function", chunk.describe()))
            })?;
            let f = (def.build)(&chunk, &ctx).map_err(CompileFailure::plain)?;
            Ok((chunk, f))
        })
        .collect()
}

/// `state.show_top` / `state.show_sls` / `state.show_highstate`: compile
/// only, on the controller. `pillar` as for [`compile`].
pub fn show(
    project: &Project,
    host_id: &str,
    grains: &Value,
    pillar: Option<Value>,
    call: &StateCall,
) -> Outcome {
    if call.action == Action::ShowTop {
        let pillar = match host_pillar(project, host_id, grains, pillar, call) {
            Ok(p) => p,
            Err(e) => return Outcome::not_compiled(e),
        };
        let renderer = Renderer::new(&project.states, host_id, grains.clone(), pillar.clone())
            .with_secrets(project.secrets.clone());
        let names = renderer
            .render_sls("top.sls", "top")
            .map_err(CompileFailure::render)
            .and_then(|top| {
                super::top_sls(&top, host_id, grains, &pillar, &project.groups)
                    .map_err(|e| CompileFailure::plain(e.to_string()))
            });
        return match names {
            Ok(n) => Outcome {
                success: true,
                ret: json!({"base": n}),
                drift: None,
                ledger: None,
                duplicate: false,
            },
            Err(e) => Outcome::not_compiled(e),
        };
    }
    match compile(project, host_id, grains, pillar, call, None) {
        Err(e) => Outcome::not_compiled(e),
        Ok(built) => {
            let mut ret = Map::new();
            for (i, (c, _)) in built.iter().enumerate() {
                let reqs: Vec<Value> = c
                    .requisites
                    .iter()
                    .map(|(k, j)| json!({format!("{k:?}").to_lowercase(): built[*j].0.id}))
                    .collect();
                ret.insert(
                    format!("{}_|-{}_|-{}_|-{}", c.module, c.id, c.name, c.function),
                    json!({
                        "__id__": c.id, "__sls__": c.sls, "__run_num__": i, "name": c.name,
                        "function": format!("{}.{}", c.module, c.function),
                        "args": c.args, "requisites": reqs,
                    }),
                );
            }
            Outcome {
                success: true,
                ret: Value::Object(ret),
                drift: None,
                ledger: None,
                duplicate: false,
            }
        }
    }
}

/// Execution functions called from templates (`salt['cmd.run']('id -u')`),
/// run on the host over the run's own connection, as Salt runs them on
/// the minion while rendering. Each call is one more remote execution.
struct HostCall {
    conn: Arc<Connection>,
    id: String,
    grains: Value,
}

impl RemoteCall for HostCall {
    fn call(&self, function: &str, args: &crate::functions::Args) -> Result<Value, String> {
        let spec = crate::functions::lookup(function)
            .ok_or_else(|| format!("unknown function `{function}`"))?;
        let f = (spec.parse)(args).map_err(|e| e.to_string())?;
        if f.state_call().is_some() || f.controller_only() || f.needs_pillar() {
            return Err(format!("{function} cannot be called from a template"));
        }
        let ctx = crate::functions::HostCtx {
            id: &self.id,
            grains: &self.grains,
        };
        let out = match f.command(&ctx) {
            None => None,
            Some(cmd) => {
                // Rendering is synchronous; the connection is async. The
                // run's runtime is multi-threaded, so this worker may block.
                let handle = tokio::runtime::Handle::try_current()
                    .map_err(|_| "no runtime to reach the host with".to_string())?;
                if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
                    return Err(
                        "remote calls from templates need the multi-threaded runtime".into(),
                    );
                }
                let conn = self.conn.clone();
                let out = tokio::task::block_in_place(|| handle.block_on(conn.exec(&cmd)))
                    .map_err(|e| format!("{function}: {e}"))?;
                Some(out)
            }
        };
        // As in Salt, a command's failure is its return value (cmd.run
        // gives its output), not a render error.
        Ok(f.interpret(&ctx, out.as_ref()).ret)
    }
}

/// `apache.conf` -> `apache/conf.sls` or `apache/conf/init.sls`, relative to states/.
pub(crate) fn sls_file(project: &Project, sls: &str) -> Option<String> {
    if sls.is_empty() || sls.split('.').any(|p| p.is_empty() || p == "..") {
        return None;
    }
    let base = sls.replace('.', "/");
    [format!("{base}.sls"), format!("{base}/init.sls")]
        .into_iter()
        .find(|f| project.states.join(f).is_file())
}

/// Run a state call on a connected host. `pillar` as for [`compile`].
pub async fn run(
    conn: &Arc<Connection>,
    host_id: &str,
    grains: &Value,
    pillar: Option<Value>,
    project: &Project,
    call: &StateCall,
) -> Outcome {
    let mut copy = None;
    let o = run_reading_ledger(conn, host_id, grains, pillar, project, call, &mut copy).await;
    Outcome { ledger: copy, ..o }
}

/// [`run`], keeping in `copy` the host's ledger as last read: by the
/// gather, then from each apply execution that wrote to it.
async fn run_reading_ledger(
    conn: &Arc<Connection>,
    host_id: &str,
    grains: &Value,
    pillar: Option<Value>,
    project: &Project,
    call: &StateCall,
    copy: &mut Option<ledger::HostCopy>,
) -> Outcome {
    let remote: Arc<dyn RemoteCall> = Arc::new(HostCall {
        conn: conn.clone(),
        id: host_id.to_string(),
        grains: grains.clone(),
    });
    let built = match compile(project, host_id, grains, pillar, call, Some(remote)) {
        Ok(b) => b,
        Err(e) => return Outcome::not_compiled(e),
    };
    let marker = format!("@@halite-{:016x}", rand_u64());
    let mut states: Vec<State> = built
        .into_iter()
        .map(|(chunk, function)| State {
            chunk,
            function,
            decision: Decision::Done(String::new()),
        })
        .collect();

    // 2. Gather (with the drift ledger, read in the same script).
    let ledgered = !matches!(call.target, Target::Single(_));
    let declared: Vec<Resource> = states
        .iter()
        .flat_map(|s| s.function.managed())
        .map(|m| m.resource)
        .collect();
    let ledger_read = if ledgered {
        ledger::gather_snippet(&marker, &declared)
    } else {
        String::new()
    };
    let mut times = vec![StateTime::default(); states.len()];
    let gather = gather_script(&states, &marker, None, &ledger_read);
    let sent = std::time::SystemTime::now();
    let (facts, book) = match exec(conn, &gather).await {
        Ok(out) => (
            parse_sections(&out, &marker),
            Gathered::parse(&out, &marker),
        ),
        Err(e) => return Outcome::error(format!("gather failed: {e}")),
    };
    add_times(&mut times, &facts, sent);
    let ledger = if ledgered {
        match book.ledger() {
            Ok(l) => Some(l),
            Err(e) => return Outcome::error(format!("drift ledger: {e}")),
        }
    } else {
        None
    };
    *copy = ledger.clone().map(|ledger| ledger::HostCopy {
        ledger,
        as_of: "gather",
        current: true,
    });

    // 3. Plan, in order, with requisites decided from the plans.
    for i in 0..states.len() {
        let decision = decide(&states, i, &facts, true);
        states[i].decision = decision;
    }
    let mut drift = ledger
        .as_ref()
        .map(|l| drift_value(l, &book, &states, &call.target));

    // Prune: the orphans halite created get their module's inverse as
    // states of this run (probed in one more gather, only then), newest
    // first; those it found are released from the ledger.
    let mut released: Vec<Resource> = Vec::new();
    if let (Some(limit), Some(l), Some(d)) = (call.prune, &ledger, drift.as_mut()) {
        // The ledger entries a drift report's list names.
        let entries = |list: &Value| -> Vec<&ledger::Entry> {
            list.as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| {
                    l.get(&Resource::new(
                        o["kind"].as_str().unwrap_or(""),
                        o["name"].as_str().unwrap_or(""),
                    ))
                })
                .collect()
        };
        let orphans = entries(&d["orphans"]);
        let remove: Vec<&ledger::Entry> = orphans
            .iter()
            .rev()
            .filter(|e| e.created)
            .copied()
            .collect();
        if remove.len() > limit {
            d["comment"] = json!(format!(
                "prune refused: {} orphans would be removed, above the prune limit of {limit}; nothing was pruned or applied (raise it with prune_limit={})",
                remove.len(),
                remove.len()
            ));
            let mut o = report(&states, None, call.test, &times);
            o.success = false;
            return with_drift(o, drift);
        }
        // Found orphans are released; gone entries (nothing left to
        // remove) are forgotten the same way.
        let gone = entries(&d["gone"]);
        let let_go: Vec<&ledger::Entry> = orphans
            .iter()
            .filter(|e| !e.created)
            .chain(gone.iter())
            .copied()
            .collect();
        released = let_go.iter().map(|e| e.resource.clone()).collect();
        d["released"] = json!(let_go.iter().map(|e| entry_value(e)).collect::<Vec<_>>());
        let first_prune = states.len();
        for e in &remove {
            // The inverse state the kind's module names.
            let Some((module, function, name, args)) =
                modules::prune_state(&e.resource.kind, &e.resource.identity)
            else {
                continue;
            };
            let chunk = Chunk {
                id: format!("prune {} {}", e.resource.kind, e.resource.identity),
                sls: e.sls.clone(),
                ..Chunk::standalone(module, function, &name, Value::Object(args))
            };
            let Some(def) = modules::lookup(module, function) else {
                continue;
            };
            let ctx = modules::BuildCtx {
                states_root: &project.states,
                renderer: None,
            };
            match (def.build)(&chunk, &ctx) {
                Ok(function) => states.push(State {
                    chunk,
                    function,
                    decision: Decision::Done(String::new()),
                }),
                Err(e) => return Outcome::error(format!("prune: {e}")),
            }
        }
        let pruning: Vec<usize> = (first_prune..states.len()).collect();
        if !pruning.is_empty() {
            times.resize(states.len(), StateTime::default());
            let gather = gather_script(&states, &marker, Some(&pruning), "");
            let sent = std::time::SystemTime::now();
            let facts = match exec(conn, &gather).await {
                Ok(out) => parse_sections(&out, &marker),
                Err(e) => return Outcome::error(format!("gather failed: {e}")),
            };
            add_times(&mut times, &facts, sent);
            for &i in &pruning {
                let decision = decide(&states, i, &facts, false);
                states[i].decision = decision;
            }
        }
        d["pruned"] = json!(remove
            .iter()
            .map(|e| {
                let mut v = entry_value(e);
                v["comment"] = json!(if call.test {
                    "would be removed"
                } else {
                    "removed"
                });
                v
            })
            .collect::<Vec<_>>());
        if call.test {
            if let Some(r) = d["released"].as_array_mut() {
                for v in r {
                    v["comment"] = json!("would be released");
                }
            }
        }
    }

    if call.test {
        let mut o = report(&states, None, true, &times);
        if call.drift {
            drift = Some(drift_summary(drift.unwrap_or_else(|| json!({})), &o));
            o.success = drift.as_ref().is_some_and(|d| d["drifted"] == json!(false));
            return Outcome { drift, ..o };
        }
        return with_drift(o, drift);
    }
    let mut events = ledger
        .as_ref()
        .map(|l| ledger_events(&states, l, &book, None))
        .unwrap_or_default();
    for r in &released {
        events.before.push_str(&ledger::event(None, r));
        events.before.push('\n');
    }
    if !states.iter().any(|s| planned_change(&s.decision)) && events.before.is_empty() {
        return with_drift(report(&states, None, false, &times), drift);
    }

    // 4. Apply (writing the ledger: the fold of what was read, then one
    //    journal event right after each state that succeeds).
    let initial: Vec<&str> = states
        .iter()
        .map(|st| {
            if matches!(st.decision, Decision::Failed(_)) {
                "fail"
            } else {
                "ok"
            }
        })
        .collect();
    // The ledger is touched only when there is something to write (a run
    // managing no resource leaves the ledger's directory alone).
    let journal_left = book.journal.as_deref().is_some_and(|j| !j.is_empty());
    let lscript = match &ledger {
        Some(l) if journal_left || !events.before.is_empty() || !events.after.is_empty() => {
            LedgerScript {
                head: ledger::apply_head(&marker, Some((l, &book.sum))) + &events.before,
                after: events.after.clone(),
            }
        }
        _ => LedgerScript::default(),
    };
    let script = apply_script(&states, &marker, &initial, None, &lscript);
    let sent = std::time::SystemTime::now();
    let first = progress::run(conn, &script).await;
    if let Some(e) = ledger::refused(&first.output, &marker, &book.place) {
        return Outcome::error(format!("drift ledger: {e}"));
    }
    reread(copy, &lscript, &first, &marker);
    let first = applied_sections(&first, &marker, &states);
    add_times(&mut times, &first, sent);
    let cut = first.progress.summary();
    let mut outcome = report(&states, Some(first), false, &times);
    let deferred: Vec<usize> = (0..states.len())
        .filter(|i| matches!(states[*i].decision, Decision::Deferred(_)))
        .collect();
    if let Some(why) = cut {
        let not_yet = "not applied: the run was interrupted before this state (waiting for states it requires) could be planned";
        outcome.not_applied(&states, &deferred, not_yet);
        return with_drift(with_apply_note(outcome, why), drift);
    }
    if deferred.is_empty() || outcome.stopped_by_failhard() {
        return with_drift(outcome, drift);
    }

    // 5. The deferred states: probed, planned and applied once what they
    //    require has run (two more executions, only in this case).
    let statuses = outcome.statuses(&states);
    for (i, st) in states.iter_mut().enumerate() {
        if !deferred.contains(&i) {
            st.decision = match statuses[i] {
                "fail" => Decision::Failed("failed earlier in this run".into()),
                "changed" => st.decision.clone(),
                _ => Decision::Done(String::new()),
            };
        }
    }
    let gather = gather_script(&states, &marker, Some(&deferred), "");
    let sent = std::time::SystemTime::now();
    let facts = match exec(conn, &gather).await {
        Ok(out) => parse_sections(&out, &marker),
        Err(e) => {
            let why = format!("not applied: the gather planning it failed ({e})");
            outcome.not_applied(&states, &deferred, &why);
            return with_drift(
                with_apply_note(outcome, format!("gather failed: {e}")),
                drift,
            );
        }
    };
    add_times(&mut times, &facts, sent);
    for &i in &deferred {
        let decision = decide(&states, i, &facts, false);
        states[i].decision = decision;
    }
    let mut initial: Vec<&str> = statuses.clone();
    for &i in &deferred {
        initial[i] = if matches!(states[i].decision, Decision::Failed(_)) {
            "fail"
        } else {
            "ok"
        };
    }
    let lscript = match &ledger {
        Some(l) => {
            let ev = ledger_events(&states, l, &book, Some(&deferred));
            if ev.before.is_empty() && ev.after.is_empty() {
                LedgerScript::default()
            } else {
                LedgerScript {
                    head: ledger::apply_head(&marker, None) + &ev.before,
                    after: ev.after,
                }
            }
        }
        None => LedgerScript::default(),
    };
    let script = apply_script(&states, &marker, &initial, Some(&deferred), &lscript);
    let sent = std::time::SystemTime::now();
    let second = progress::run(conn, &script).await;
    if let Some(e) = ledger::refused(&second.output, &marker, &book.place) {
        outcome.not_applied(
            &states,
            &deferred,
            &format!("not applied: drift ledger: {e}"),
        );
        return with_drift(outcome, drift);
    }
    reread(copy, &lscript, &second, &marker);
    let second = applied_sections(&second, &marker, &states);
    add_times(&mut times, &second, sent);
    let cut = second.progress.summary();
    let again = report(&states, Some(second), false, &times);
    outcome.replace(&states, &deferred, again);
    match cut {
        Some(why) => with_drift(with_apply_note(outcome, why), drift),
        None => with_drift(outcome, drift),
    }
}

/// After an apply execution that wrote to the ledger: the copy becomes
/// what it printed on exit, or is marked not current when it printed
/// nothing usable (dropped connection, unreadable ledger).
fn reread(
    copy: &mut Option<ledger::HostCopy>,
    lscript: &LedgerScript,
    applied: &Applied,
    marker: &str,
) {
    if lscript.head.is_empty() {
        return;
    }
    let Some(c) = copy.as_mut() else { return };
    let book = Gathered::parse(&applied.output, marker);
    match Some(book).filter(|b| b.complete).map(|b| b.ledger()) {
        Some(Ok(l)) => {
            *c = ledger::HostCopy {
                ledger: l,
                as_of: "apply",
                current: true,
            }
        }
        _ => c.current = false,
    }
}

/// What the apply script writes to the ledger: `head` first (lock, time,
/// compaction, the entries of states already as declared), then
/// `after[i]` right after state `i` succeeds.
#[derive(Debug, Default, Clone)]
struct LedgerScript {
    head: String,
    after: BTreeMap<usize, String>,
}

/// Journal events of a run: `before` for states already as declared,
/// `after` per state that the apply script changes.
#[derive(Debug, Default, Clone)]
struct Events {
    before: String,
    after: BTreeMap<usize, String>,
}

/// The ledger events for `states` (those in `only`, or all): a resource a
/// state makes exist is added (created when the gather did not find it,
/// else found); one a state removes is dropped. Already-recorded resources
/// of states with nothing to do write nothing, so a converged run writes
/// nothing.
fn ledger_events(
    states: &[State],
    ledger: &Ledger,
    book: &Gathered,
    only: Option<&[usize]>,
) -> Events {
    let mut ev = Events::default();
    for (i, st) in states.iter().enumerate() {
        if only.is_some_and(|o| !o.contains(&i)) {
            continue;
        }
        let c = &st.chunk;
        if !ledger::field_ok(&c.id) || !ledger::field_ok(&c.sls) {
            continue;
        }
        let managed = st.function.managed();
        match &st.decision {
            Decision::Done(_) | Decision::WatchOnly(_) => {
                for m in managed.iter().filter(|m| m.resource.recordable()) {
                    let known = ledger.get(&m.resource).is_some();
                    // In the second round (`only`), a deferred state found
                    // as declared is so now, maybe made by this run's
                    // earlier states (a package's service): created then.
                    let exists = book.exists(&m.resource);
                    if m.present && !known && (exists || only.is_some()) {
                        ev.before
                            .push_str(&ledger::event(Some((&c.id, &c.sls, !exists)), &m.resource));
                        ev.before.push('\n');
                    } else if !m.present && known && (!exists || only.is_some()) {
                        ev.before.push_str(&ledger::event(None, &m.resource));
                        ev.before.push('\n');
                    }
                }
            }
            Decision::Apply(plan) => {
                let mut lines: Vec<String> = managed
                    .iter()
                    .filter(|m| m.resource.recordable())
                    .map(|m| {
                        if m.present {
                            let created = !book.exists(&m.resource);
                            ledger::event(Some((&c.id, &c.sls, created)), &m.resource)
                        } else {
                            ledger::event(None, &m.resource)
                        }
                    })
                    .collect();
                // Checked when decided: a mismatch failed the state then.
                for r in st.function.removes(plan).into_iter().flatten() {
                    for e in ledger.covered(&r) {
                        lines.push(ledger::event(None, &e.resource));
                    }
                }
                if !lines.is_empty() {
                    ev.after.insert(i, lines.join("\n"));
                }
            }
            _ => {}
        }
    }
    ev
}

/// One ledger entry, as results show it.
fn entry_value(e: &ledger::Entry) -> Value {
    json!({
        "kind": e.resource.kind,
        "name": e.resource.identity,
        "__id__": e.id,
        "__sls__": e.sls,
        "origin": if e.created { "created" } else { "found" },
        "first_applied": e.first,
        "last_applied": e.last,
    })
}

/// Ledger entries this run does not declare: `orphans` (still on the
/// host) and `gone` (removed by other means). For `state.sls`, only the
/// entries of the SLS applied count. Also the resources that cannot be
/// ledgered (a tab or newline in their name).
fn drift_value(ledger: &Ledger, book: &Gathered, states: &[State], target: &Target) -> Value {
    let mut declared: BTreeSet<Resource> = states
        .iter()
        .flat_map(|s| s.function.managed())
        .map(|m| m.resource)
        .collect();
    // What this run's plans remove is not left behind: not an orphan.
    for s in states {
        if let Decision::Apply(plan) = &s.decision {
            for r in s.function.removes(plan).into_iter().flatten() {
                declared.extend(ledger.covered(&r).into_iter().map(|e| e.resource.clone()));
            }
        }
    }

    let scope: Option<BTreeSet<String>> = match target {
        Target::Sls(names) => Some(
            states
                .iter()
                .map(|s| s.chunk.sls.clone())
                .chain(names.iter().cloned())
                .collect(),
        ),
        _ => None,
    };
    let (mut orphans, mut gone) = (Vec::new(), Vec::new());
    for e in ledger::undeclared(ledger, &declared, scope.as_ref()) {
        if book.exists(&e.resource) {
            orphans.push(entry_value(e));
        } else {
            gone.push(entry_value(e));
        }
    }
    let unrecordable: Vec<Value> = declared
        .iter()
        .filter(|r| !r.recordable())
        .map(|r| json!({"kind": r.kind, "name": r.identity}))
        .collect();
    json!({"orphans": orphans, "gone": gone, "unrecordable": unrecordable})
}

/// `state.drift`: the report with `would_change` (the states test=True
/// says would change) and `drifted` (anything at all: those, orphans,
/// gone entries).
fn drift_summary(mut d: Value, o: &Outcome) -> Value {
    let would: Vec<Value> = o
        .ret
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter(|s| s["result"] != json!(true))
        .map(|s| json!({"__id__": s["__id__"], "function": s["function"], "name": s["name"], "result": s["result"], "comment": s["comment"]}))
        .collect();
    let drifted = !would.is_empty()
        || ["orphans", "gone"]
            .iter()
            .any(|k| d[*k].as_array().is_some_and(|a| !a.is_empty()));
    d["would_change"] = json!(would);
    d["drifted"] = json!(drifted);
    d
}

/// Add the drift report when it has anything to say.
fn with_drift(mut o: Outcome, drift: Option<Value>) -> Outcome {
    let Some(d) = drift else { return o };
    let empty = ["orphans", "gone", "unrecordable", "pruned", "released"]
        .iter()
        .all(|k| d[*k].as_array().is_none_or(Vec::is_empty))
        && d["comment"].is_null();
    if empty {
        return o;
    }
    o.drift = Some(d);
    o
}

/// The host's result when an apply script did not run to its end: failed,
/// with why under `__apply__`.
fn with_apply_note(mut o: Outcome, comment: String) -> Outcome {
    o.success = false;
    if let Value::Object(m) = &mut o.ret {
        m.insert(
            "__apply__".into(),
            json!({"result": false, "comment": comment, "changes": {}}),
        );
    }
    o
}

fn state_key(c: &Chunk) -> String {
    format!("{}_|-{}_|-{}_|-{}", c.module, c.id, c.name, c.function)
}

impl Outcome {
    /// Whether a failhard state stopped the run.
    fn stopped_by_failhard(&self) -> bool {
        self.ret.as_object().is_some_and(|m| {
            m.values().any(|s| {
                s["comment"]
                    .as_str()
                    .is_some_and(|c| c.contains("failhard"))
            })
        })
    }

    /// Each state's status after an apply: ok / changed / fail.
    fn statuses(&self, states: &[State]) -> Vec<&'static str> {
        states
            .iter()
            .map(|st| {
                let r = &self.ret[state_key(&st.chunk)];
                match &r["result"] {
                    Value::Bool(false) => "fail",
                    _ if r["changes"].as_object().is_some_and(|c| !c.is_empty()) => "changed",
                    _ => "ok",
                }
            })
            .collect()
    }

    /// States `which` failed, not applied, for `comment`'s reason.
    fn not_applied(&mut self, states: &[State], which: &[usize], comment: &str) {
        if let Value::Object(mine) = &mut self.ret {
            for &i in which {
                if let Some(Value::Object(r)) = mine.get_mut(&state_key(&states[i].chunk)) {
                    r.insert("result".into(), json!(false));
                    r.insert("changes".into(), json!({}));
                    r.insert("comment".into(), json!(comment));
                    self.success = false;
                }
            }
        }
    }

    /// Take the results of states `which` from `other`.
    fn replace(&mut self, states: &[State], which: &[usize], other: Outcome) {
        if let (Value::Object(mine), Value::Object(theirs)) = (&mut self.ret, other.ret) {
            for &i in which {
                let key = state_key(&states[i].chunk);
                if let Some(v) = theirs.get(&key) {
                    mine.insert(key, v.clone());
                }
            }
            self.success = mine.values().all(|s| s["result"] != json!(false));
        }
    }
}

/// Run `script` through `sh -s` on stdin; its stdout and stderr, joined.
async fn exec(conn: &Connection, script: &str) -> Result<String, TransportError> {
    let cmd = Command {
        script: "exec sh -s".into(),
        stdin: Some(script.as_bytes().to_vec()),
        timeout: None,
    };
    let out = conn.exec(&cmd).await?;
    Ok(out.stdout)
}

/// Sections of a script's output: (kind, index, extra) -> (text, rc).
#[derive(Debug, Default)]
struct Sections {
    /// "probe"/"apply"/"watch" -> index -> (text, rc)
    blocks: BTreeMap<(String, usize), (String, i32)>,
    /// index -> (condition kind, rc) in order
    conditions: BTreeMap<usize, Vec<(String, i32)>>,
    /// indexes skipped at run time by a guard
    skipped: Vec<usize>,
    /// indexes whose unless / onlyif / creates said "skip" at run time
    condskipped: Vec<usize>,
    failhard: Option<usize>,
    /// The host's uptime (seconds) when the script started.
    clock: Option<f64>,
    /// index -> attempts made (states with `retry`).
    tries: BTreeMap<usize, u64>,
    /// (kind, index) -> uptime at the block's start and end.
    times: BTreeMap<(String, usize), (f64, f64)>,
    /// How far an apply script got (and how its output was cut short).
    progress: Progress,
}

fn parse_sections(out: &str, marker: &str) -> Sections {
    let mut s = Sections::default();
    let mut current: Option<(String, usize, String)> = None;
    let mut started: Option<f64> = None;
    for line in out.split('\n') {
        let Some(rest) = line.strip_prefix(marker) else {
            if let Some((_, _, text)) = &mut current {
                text.push_str(line);
                text.push('\n');
            }
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        if s.progress.line(&words) {
            continue;
        }
        match words.as_slice() {
            ["clock", t] => {
                s.progress.started = true;
                s.clock = t.parse().ok();
            }
            ["tries", i, n] => {
                if let (Ok(i), Ok(n)) = (i.parse(), n.parse()) {
                    s.tries.insert(i, n);
                }
            }
            [kind @ ("probe" | "apply" | "watch" | "listen"), i, rest @ ..] => {
                current = i.parse().ok().map(|i| (kind.to_string(), i, String::new()));
                started = rest.first().and_then(|t| t.parse().ok());
            }
            ["rc", i, rc, rest @ ..] => {
                if let (Some((kind, ci, text)), Ok(i), Ok(rc)) =
                    (current.take(), i.parse::<usize>(), rc.parse::<i32>())
                {
                    if ci == i {
                        let ended = rest.first().and_then(|t| t.parse::<f64>().ok());
                        if let (Some(a), Some(b)) = (started.take(), ended) {
                            s.times.insert((kind.clone(), i), (a, b));
                        }
                        // The marker line starts with a newline of its own.
                        let text = text.strip_suffix('\n').unwrap_or(&text).to_string();
                        s.blocks.insert((kind, i), (text, rc));
                    }
                }
            }
            ["cond", i, kind, rc] => {
                if let (Ok(i), Ok(rc)) = (i.parse(), rc.parse()) {
                    s.conditions
                        .entry(i)
                        .or_default()
                        .push((kind.to_string(), rc));
                }
            }
            ["skip", i] => {
                if let Ok(i) = i.parse() {
                    s.skipped.push(i);
                }
            }
            ["condskip", i] => {
                if let Ok(i) = i.parse() {
                    s.condskipped.push(i);
                }
            }
            ["failhard", i] => s.failhard = i.parse().ok(),
            _ => {}
        }
    }
    s.progress.open = current.map(|(kind, i, _)| (kind, i));
    s
}

/// The sections of an apply execution's output; when it was cut short,
/// with the cut and the last state the host confirmed.
fn applied_sections(applied: &Applied, marker: &str, states: &[State]) -> Sections {
    let mut sec = parse_sections(&applied.output, marker);
    sec.progress.cut = applied.cut.clone().map(|mut c| {
        c.after = sec
            .progress
            .done
            .last()
            .and_then(|&i| states.get(i))
            .map(|st| st.chunk.id.clone());
        c
    });
    sec
}

fn gather_script(states: &[State], marker: &str, only: Option<&[usize]>, head: &str) -> String {
    let mut s = prelude(marker);
    s.push_str(head);
    s.push_str(&shared_probes(states, only));
    for (i, st) in states.iter().enumerate() {
        if only.is_some_and(|o| !o.contains(&i)) {
            continue;
        }
        // The state's time runs from here: its conditions count, as in Salt.
        let _ = writeln!(s, "_ht; printf '\\n%s probe {i} %s\\n' '{marker}' \"$_hu\"");
        let g = &st.chunk.globals;
        for cmd in &g.unless {
            if let Some(c) = cmd.as_str() {
                let _ = writeln!(s, "( {c} ) >/dev/null 2>&1 </dev/null; printf '%s cond {i} unless %d\\n' '{marker}' $?", c = sh_sub(c, g.runas.as_deref()));
            }
        }
        for cmd in &g.onlyif {
            if let Some(c) = cmd.as_str() {
                let _ = writeln!(s, "( {c} ) >/dev/null 2>&1 </dev/null; printf '%s cond {i} onlyif %d\\n' '{marker}' $?", c = sh_sub(c, g.runas.as_deref()));
            }
        }
        if !g.creates.is_empty() {
            let tests: Vec<String> = g
                .creates
                .iter()
                .map(|p| format!("[ -e {} ]", quote(p)))
                .collect();
            let _ = writeln!(
                s,
                "{}; printf '%s cond {i} creates %d\\n' '{marker}' $?",
                tests.join(" && ")
            );
        }
        let probe = st.function.probe();
        if probe.trim().is_empty() {
            let _ = writeln!(s, "_ht; printf '\\n%s rc {i} 0 %s\\n' '{marker}' \"$_hu\"");
        } else {
            let _ = writeln!(
                s,
                "(\n{probe}\n) </dev/null\n_hr=$?; _ht; printf '\\n%s rc {i} %d %s\\n' '{marker}' $_hr \"$_hu\""
            );
        }
    }
    s
}

/// The shared probes ([`StateFunction::shared_probe`]) of the states
/// probed here: each script once, with every state's argument.
fn shared_probes(states: &[State], only: Option<&[usize]>) -> String {
    type Shared = (&'static str, fn(&[String]) -> String, Vec<String>);
    let mut shared: Vec<Shared> = Vec::new();
    for (i, st) in states.iter().enumerate() {
        if only.is_some_and(|o| !o.contains(&i)) {
            continue;
        }
        let Some(p) = st.function.shared_probe() else {
            continue;
        };
        match shared.iter_mut().find(|(key, ..)| *key == p.key) {
            Some((.., args)) if !args.contains(&p.arg) => args.push(p.arg),
            Some(_) => {}
            None => shared.push((p.key, p.script, vec![p.arg])),
        }
    }
    shared
        .iter()
        .map(|(_, script, args)| script(args))
        .collect()
}

/// The start of every engine script: stderr joined to stdout, the run's id
/// in `$HALITE_RUN` (modules use it to do a thing once per run: the
/// package-index refresh), and `_ht`,
/// which reads the host's uptime into `_hu` with a builtin (no process per
/// state) so each state's start and duration can be reported; `-` where
/// /proc/uptime does not exist.
fn prelude(marker: &str) -> String {
    let run = marker.trim_start_matches('@');
    format!(
        "exec 2>&1\nHALITE_RUN={run}\nexport HALITE_RUN\n_ht() {{ {{ read _hu _hx </proc/uptime; }} 2>/dev/null || _hu=-; }}\n_ht; printf '%s clock %s\\n' '{marker}' \"$_hu\"\n"
    )
}

/// A shell test that is true when the state's unless / onlyif / creates
/// say it must not run; `None` when it has none.
fn condition_test(st: &State) -> Option<String> {
    let g = &st.chunk.globals;
    let mut parts = Vec::new();
    for c in g.unless.iter().filter_map(Value::as_str) {
        parts.push(format!(
            "{{ ( {} ) >/dev/null 2>&1 </dev/null; }}",
            sh_sub(c, g.runas.as_deref())
        ));
    }
    for c in g.onlyif.iter().filter_map(Value::as_str) {
        parts.push(format!(
            "{{ ! ( {} ) >/dev/null 2>&1 </dev/null; }}",
            sh_sub(c, g.runas.as_deref())
        ));
    }
    if !g.creates.is_empty() {
        let tests: Vec<String> = g
            .creates
            .iter()
            .map(|p| format!("[ -e {} ]", quote(p)))
            .collect();
        parts.push(format!("{{ {}; }}", tests.join(" && ")));
    }
    (!parts.is_empty()).then(|| parts.join(" || "))
}

/// A user's condition command run by `sh -c`, so its syntax cannot break
/// the script; as the state's `runas` user when it has one (Salt runs
/// unless / onlyif as that user too).
fn sh_sub(cmd: &str, runas: Option<&str>) -> String {
    let run = format!("sh -c {}", quote(cmd));
    match runas {
        None => run,
        Some(u) => format!("{{ {}; }}", modules::run_as(u, &run, false)),
    }
}

/// Requisites of state `i` of `kind`s, as indexes.
fn deps(st: &State, kinds: &[Kind]) -> Vec<usize> {
    st.chunk
        .requisites
        .iter()
        .filter(|(k, _)| kinds.contains(k))
        .map(|(_, j)| *j)
        .collect()
}

fn planned_change(d: &Decision) -> bool {
    matches!(
        d,
        Decision::Apply(_) | Decision::WatchOnly(_) | Decision::Deferred(_)
    )
}

fn decide(states: &[State], i: usize, facts: &Sections, allow_defer: bool) -> Decision {
    let st = &states[i];
    let ordering = [
        Kind::Require,
        Kind::Watch,
        Kind::Onchanges,
        Kind::OnchangesAny,
        Kind::Prereq,
    ];
    // A state after a deferred one waits for it, so the order holds.
    if allow_defer {
        if let Some(j) = deps(st, &ordering)
            .into_iter()
            .find(|j| matches!(states[*j].decision, Decision::Deferred(_)))
        {
            return Decision::Deferred(format!("waits for {}", states[j].chunk.describe()));
        }
    }
    // Two states of one module on the same name (two edits of one file) are
    // planned in order: the later one from what the earlier one leaves.
    if allow_defer {
        if let Some(j) = (0..i).find(|&j| {
            let o = &states[j];
            o.chunk.module == st.chunk.module
                && o.chunk.name == st.chunk.name
                && planned_change(&o.decision)
        }) {
            return Decision::Deferred(format!(
                "waits for {}, which changes the same {}",
                states[j].chunk.describe(),
                st.chunk.module
            ));
        }
    }
    // unless / onlyif / creates, as Salt words them.
    for (kind, rc) in facts.conditions.get(&i).map(Vec::as_slice).unwrap_or(&[]) {
        match (kind.as_str(), *rc) {
            ("unless", 0) => return Decision::Done("unless condition is true".into()),
            ("onlyif", rc) if rc != 0 => return Decision::Done("onlyif condition is false".into()),
            ("creates", 0) => return Decision::Done("All files in creates exist".into()),
            _ => {}
        }
    }
    // Salt's words: each failed requisite as `SLS.ID`.
    let failed: Vec<String> = deps(st, &[Kind::Require, Kind::Watch])
        .into_iter()
        .filter(|j| matches!(states[*j].decision, Decision::Failed(_)))
        .map(|j| format!("{}.{}", states[j].chunk.sls, states[j].chunk.id))
        .collect();
    if !failed.is_empty() {
        return Decision::Failed(format!(
            "One or more requisite failed: {}",
            failed.join(", ")
        ));
    }
    let onchanges = deps(st, &[Kind::Onchanges, Kind::OnchangesAny]);
    if !onchanges.is_empty()
        && !onchanges
            .iter()
            .any(|j| planned_change(&states[*j].decision))
    {
        return Decision::Done(
            "State was not run because none of the onchanges reqs changed".into(),
        );
    }
    let onfail = deps(st, &[Kind::Onfail, Kind::OnfailAny, Kind::OnfailAll]);
    if !onfail.is_empty()
        && !onfail.iter().any(|j| {
            matches!(
                states[*j].decision,
                Decision::Failed(_) | Decision::Apply(_)
            )
        })
    {
        return Decision::Done("State was not run because onfail req did not change".into());
    }
    // prereq: this state runs only when its target would change.
    let prereq = deps(st, &[Kind::Prereq]);
    let (text, rc) = match facts.blocks.get(&("probe".to_string(), i)) {
        Some((t, rc)) => (t.as_str(), *rc),
        None => return Decision::Failed("the gather script did not reach this state".into()),
    };
    let plan = match st.function.plan(Output { text, rc }) {
        Ok(p) => p,
        // What it needs may be made by a state that runs before it: one it
        // requires (a package brings its service unit) or simply an earlier
        // one in order (a directory for a symlink), as Salt, which runs
        // states one after the other, would see it. Decide again once
        // those have run.
        Err(e)
            if allow_defer
                && st.function.plan_reads_host()
                && (deps(st, &ordering)
                    .iter()
                    .any(|j| planned_change(&states[*j].decision))
                    || states[..i].iter().any(|o| planned_change(&o.decision))) =>
        {
            return Decision::Deferred(e)
        }
        Err(e) => return Decision::Failed(e),
    };
    if !prereq.is_empty() {
        // Targets come later in order; their plans are computed here too.
        let changes = prereq.iter().any(|j| {
            let t = &states[*j];
            facts
                .blocks
                .get(&("probe".to_string(), *j))
                .and_then(|(text, rc)| t.function.plan(Output { text, rc: *rc }).ok())
                .is_some_and(|p| !p.is_noop())
        });
        if !changes {
            return Decision::Done(
                "No changes detected: the prereq target would not change".into(),
            );
        }
    }
    // A plan must carry what its module applies: a mismatch (a bug) fails
    // the state here, before anything runs; never an empty apply.
    if !plan.is_noop() {
        if let Err(e) = st.function.apply(&plan).and(st.function.removes(&plan)) {
            return Decision::Failed(e.to_string());
        }
    }
    let watched = deps(st, &[Kind::Watch, Kind::WatchAny, Kind::Listen]);
    let watch_fires = watched.iter().any(|j| planned_change(&states[*j].decision));
    if !plan.is_noop() {
        Decision::Apply(plan)
    } else if watch_fires && st.function.watch(&plan).is_some() {
        Decision::WatchOnly(plan)
    } else {
        Decision::Done(plan.comment)
    }
}

/// `initial`: each state's status before this script (ok / changed / fail);
/// `only`: the states this script may apply (all when `None`).
fn apply_script(
    states: &[State],
    marker: &str,
    initial: &[&str],
    only: Option<&[usize]>,
    ledger: &LedgerScript,
) -> String {
    let mut s = prelude(marker);
    if !ledger.head.is_empty() {
        s.push_str(&ledger.head);
        s.push_str(&ledger::dump_on_exit(marker));
    }
    for (i, v) in initial.iter().enumerate() {
        let _ = writeln!(s, "s_{i}={v}");
    }
    for (i, st) in states.iter().enumerate() {
        if only.is_some_and(|o| !o.contains(&i)) {
            continue;
        }
        let plan = match &st.decision {
            Decision::Apply(p) | Decision::WatchOnly(p) => p,
            _ => continue,
        };
        let mut guards: Vec<String> = deps(st, &[Kind::Require, Kind::Watch])
            .into_iter()
            .map(|j| format!("[ \"$s_{j}\" != fail ]"))
            .collect();
        // prereq: the target runs only if the states that prepare it succeeded.
        for (j, other) in states.iter().enumerate() {
            if other
                .chunk
                .requisites
                .iter()
                .any(|(k, t)| *k == Kind::Prereq && *t == i)
            {
                guards.push(format!("[ \"$s_{j}\" != fail ]"));
            }
        }
        let onchanges = deps(st, &[Kind::Onchanges, Kind::OnchangesAny]);
        if !onchanges.is_empty() {
            let any: Vec<String> = onchanges
                .iter()
                .map(|j| format!("[ \"$s_{j}\" = changed ]"))
                .collect();
            guards.push(format!("{{ {}; }}", any.join(" || ")));
        }
        let onfail = deps(st, &[Kind::Onfail, Kind::OnfailAny, Kind::OnfailAll]);
        if !onfail.is_empty() {
            let any: Vec<String> = onfail
                .iter()
                .map(|j| format!("[ \"$s_{j}\" = fail ]"))
                .collect();
            guards.push(format!("{{ {}; }}", any.join(" || ")));
        }
        let guard = if guards.is_empty() {
            "true".to_string()
        } else {
            guards.join(" && ")
        };
        // `:` keeps the branch valid when it holds nothing else (a state
        // that only reacts to `listen`, at the end of the run).
        let _ = writeln!(s, "if {guard}; then\n:");
        // unless / onlyif / creates again, right before the state, as Salt
        // does: an earlier state of this run may have changed the answer.
        let recheck = condition_test(st);
        if let Some(skip) = &recheck {
            let _ = writeln!(
                s,
                "if {skip}; then printf '%s condskip {i}\\n' '{marker}'; else :"
            );
        }
        if let (Decision::Apply(p), Some(retry)) = (&st.decision, &st.chunk.globals.retry) {
            // Salt's `retry`: run again until the result is `until`, at most
            // `attempts` times, `interval` (+ up to `splay`) seconds apart.
            // The apply's exit status stands for the result; only the last
            // attempt's output is kept, for the module to read.
            let apply = apply_snippet(st, p);
            let until = if retry.until { "-eq" } else { "-ne" };
            let pause = if retry.splay > 0 {
                format!(
                    "$(( {} + $(od -An -N2 -tu2 /dev/urandom 2>/dev/null || echo 0) % {} ))",
                    retry.interval,
                    retry.splay + 1
                )
            } else {
                retry.interval.to_string()
            };
            let _ = writeln!(
                s,
                "_ht; printf '\\n%s apply {i} %s\\n' '{marker}' \"$_hu\"\nh_try=0\nwhile :; do\nh_try=$((h_try + 1))\nh_out=$(\n(\n{apply}\n) </dev/null 2>&1\n)\nr=$?\n[ $r {until} 0 ] && break\n[ $h_try -ge {attempts} ] && break\nsleep {pause}\ndone\n_ht\nprintf '%s\\n' \"$h_out\"\nprintf '%s tries {i} %d\\n' '{marker}' $h_try\nprintf '\\n%s rc {i} %d %s\\n' '{marker}' $r \"$_hu\"\nif [ $r -eq 0 ]; then s_{i}=changed; else s_{i}=fail; fi",
                attempts = retry.attempts.max(1),
            );
        } else if let Decision::Apply(p) = &st.decision {
            let apply = apply_snippet(st, p);
            let _ = writeln!(
                s,
                "_ht; printf '\\n%s apply {i} %s\\n' '{marker}' \"$_hu\"\n(\n{apply}\n) </dev/null\nr=$?; _ht\nprintf '\\n%s rc {i} %d %s\\n' '{marker}' $r \"$_hu\"\nif [ $r -eq 0 ]; then s_{i}=changed; else s_{i}=fail; fi"
            );
        }
        // Salt's mod_watch: react when a watched state changed (`listen`
        // reacts at the end of the run instead: below).
        let watched = deps(st, &[Kind::Watch, Kind::WatchAny]);
        if let (Some(w), false) = (st.function.watch(plan), watched.is_empty()) {
            let any: Vec<String> = watched
                .iter()
                .map(|j| format!("[ \"$s_{j}\" = changed ]"))
                .collect();
            let _ = writeln!(
                s,
                "if [ \"$s_{i}\" != fail ] && {{ {}; }}; then\n_ht; printf '\\n%s watch {i} %s\\n' '{marker}' \"$_hu\"\n(\n{w}\n) </dev/null\nr=$?; _ht\nprintf '\\n%s rc {i} %d %s\\n' '{marker}' $r \"$_hu\"\nif [ $r -eq 0 ]; then s_{i}=changed; else s_{i}=fail; fi\nfi",
                any.join(" || ")
            );
        }
        if recheck.is_some() {
            let _ = writeln!(s, "fi");
        }
        if let Some(ev) = ledger.after.get(&i).filter(|e| !e.is_empty()) {
            let _ = writeln!(s, "if [ \"$s_{i}\" = changed ]; then\n{ev}\nfi");
        }
        let _ = writeln!(
            s,
            "else\ns_{i}=fail\nprintf '%s skip {i}\\n' '{marker}'\nfi"
        );
        s.push_str(&progress::done_line(marker, i));
        if st.chunk.globals.failhard == Some(true) {
            let _ = writeln!(
                s,
                "if [ \"$s_{i}\" = fail ]; then printf '%s failhard {i}\\n' '{marker}'; exit 0; fi"
            );
        }
    }
    // Salt's `listen`: the reaction (mod_watch) runs at the end of the run,
    // once, if any listened state changed and the state itself did not fail.
    for (i, st) in states.iter().enumerate() {
        if only.is_some_and(|o| !o.contains(&i)) {
            continue;
        }
        let plan = match &st.decision {
            Decision::Apply(p) | Decision::WatchOnly(p) => p,
            _ => continue,
        };
        let listened = deps(st, &[Kind::Listen]);
        if let (Some(w), false) = (st.function.watch(plan), listened.is_empty()) {
            let any: Vec<String> = listened
                .iter()
                .map(|j| format!("[ \"$s_{j}\" = changed ]"))
                .collect();
            let _ = writeln!(
                s,
                "if [ \"$s_{i}\" != fail ] && {{ {}; }}; then\n_ht; printf '\\n%s listen {i} %s\\n' '{marker}' \"$_hu\"\n(\n{w}\n) </dev/null\nr=$?; _ht\nprintf '\\n%s rc {i} %d %s\\n' '{marker}' $r \"$_hu\"\nif [ $r -eq 0 ]; then s_{i}=changed; else s_{i}=fail; fi\nfi",
                any.join(" || ")
            );
        }
    }
    s.push_str(&progress::finished_line(marker));
    s
}

/// A state's apply snippet; should its plan not carry the module's data
/// (already failed when decided, so not expected here), a snippet that
/// fails the state with that message.
fn apply_snippet(st: &State, plan: &Plan) -> String {
    st.function
        .apply(plan)
        .unwrap_or_else(|e| format!("printf '%s\\n' {}\nexit 70", quote(&e.to_string())))
}

/// Salt's result shape for every state.
fn report(states: &[State], applied: Option<Sections>, test: bool, times: &[StateTime]) -> Outcome {
    let mut ret = Map::new();
    let mut success = true;
    for (i, st) in states.iter().enumerate() {
        let c = &st.chunk;
        let key = format!("{}_|-{}_|-{}_|-{}", c.module, c.id, c.name, c.function);
        let (result, changes, comment): (Value, Map<String, Value>, String) =
            match (&st.decision, &applied) {
                (Decision::Done(comment), _) => (json!(true), Map::new(), comment.clone()),
                (Decision::Deferred(why), _) if test => (
                    Value::Null,
                    Map::new(),
                    format!("Decided after the states it requires have run (now: {why})"),
                ),
                (Decision::Deferred(why), _) => (
                    json!(false),
                    Map::new(),
                    format!("Not run: the states it requires did not let it run ({why})"),
                ),
                (Decision::Failed(why), _) => (json!(false), Map::new(), why.clone()),
                (Decision::Apply(p), None) if test => {
                    (Value::Null, p.changes.clone(), p.comment.clone())
                }
                (Decision::WatchOnly(p), None) if test => (
                    Value::Null,
                    Map::new(),
                    format!(
                        "{}; a watched state would change, so it would react (mod_watch)",
                        p.comment
                    ),
                ),
                (Decision::Apply(_) | Decision::WatchOnly(_), None) => (
                    json!(false),
                    Map::new(),
                    "not applied: the apply script did not run".into(),
                ),
                (Decision::Apply(p) | Decision::WatchOnly(p), Some(sec)) => {
                    applied_result(st, i, p, sec)
                }
            };
        if result == json!(false) {
            success = false;
        }
        ret.insert(
            key,
            json!({
                "__id__": c.id,
                "__sls__": c.sls,
                "__run_num__": i,
                "name": c.name,
                "function": format!("{}.{}", c.module, c.function),
                "result": result,
                "changes": changes,
                "comment": comment,
                "start_time": times.get(i).and_then(|t| t.started).map(start_time),
                "duration": times.get(i).map(|t| (t.ms * 1000.0).round() / 1000.0),
            }),
        );
    }
    Outcome {
        success,
        ret: Value::Object(ret),
        drift: None,
        ledger: None,
        duplicate: false,
    }
}

fn applied_result(
    st: &State,
    i: usize,
    plan: &Plan,
    sec: &Sections,
) -> (Value, Map<String, Value>, String) {
    if sec.skipped.contains(&i) {
        return (
            json!(false),
            Map::new(),
            "One or more requisite failed".into(),
        );
    }
    if sec.condskipped.contains(&i) {
        return (
            json!(true),
            Map::new(),
            "Not run: its unless / onlyif / creates condition said so when its turn came".into(),
        );
    }
    let apply = sec.blocks.get(&("apply".to_string(), i));
    let watch = sec.blocks.get(&("watch".to_string(), i));
    let listen = sec.blocks.get(&("listen".to_string(), i));
    // Output cut short (or ended) before this state's section or its
    // listen reaction did: the result so far, failed, and why.
    let listens = !deps(st, &[Kind::Listen]).is_empty() && st.function.watch(plan).is_some();
    let note = sec.progress.unfinished(i, listens && listen.is_none());
    if apply.is_none() && watch.is_none() && listen.is_none() {
        if let Some(f) = sec.failhard {
            if f < i {
                return (
                    json!(false),
                    Map::new(),
                    "Not run: an earlier state failed with failhard".into(),
                );
            }
        }
        if let Some(comment) = sec.progress.unknown(i) {
            return (json!(false), Map::new(), comment);
        }
        // Planned as a watch reaction whose watched states did not change after all.
        if matches!(st.decision, Decision::WatchOnly(_)) {
            let note = note.unwrap_or_default();
            return (
                json!(note.is_empty()),
                Map::new(),
                plan.comment.clone() + &note,
            );
        }
        return (
            json!(false),
            Map::new(),
            "not applied: the apply script stopped before this state".into(),
        );
    }
    let (mut result, mut changes, mut comment) = match apply {
        Some((text, rc)) => {
            let a = st.function.finish(plan, Output { text, rc: *rc });
            (a.result, a.changes, a.comment)
        }
        None => (true, Map::new(), plan.comment.clone()),
    };
    if let Some(n) = sec.tries.get(&i).filter(|n| **n > 1) {
        comment = format!("{comment} (after {n} attempts)");
    }
    result &= note.is_none();
    let note = note.unwrap_or_default();
    // A reaction that is the state's whole job (cmd.wait) gives its result.
    for (text, rc) in [watch, listen].into_iter().flatten() {
        if let Some(a) = st.function.watch_finish(plan, Output { text, rc: *rc }) {
            return (json!(result && a.result), a.changes, a.comment + &note);
        }
    }
    // Otherwise the reaction is noted beside the state's own result:
    // (block, changes key, what it did, what it is called when it fails).
    let reactions = [
        (
            watch,
            "watch",
            "reacted to a watched change (mod_watch)",
            "reacted to a watched change",
            "the watch reaction",
        ),
        (
            listen,
            "listen",
            "reacted at the end of the run to a listened change (mod_watch)",
            "reacted at the end of the run (listen)",
            "the listen reaction at the end of the run",
        ),
    ];
    for (block, key, change, done, what) in reactions {
        let Some((text, rc)) = block else { continue };
        if *rc == 0 {
            changes.insert(key.into(), json!(change));
            comment = format!("{comment}; {done}");
        } else {
            result = false;
            comment = format!("{comment}; {what} failed (exit {rc}): {}", text.trim());
        }
    }
    (json!(result), changes, comment + &note)
}

/// Salt's `start_time`: the local wall-clock time, `HH:MM:SS.ffffff`.
fn start_time(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Local>::from(t)
        .format("%H:%M:%S%.6f")
        .to_string()
}

/// A per-run marker nobody's output will contain by chance.
fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

#[cfg(test)]
mod tests;
