//! The state engine: applies compiled states to one host in at most two
//! remote executions after connecting. Each phase is a file, in the order
//! [`run`] calls them:
//!
//! 1. [`compile`]: on the controller: pillar for this host only, the top
//!    file, the named SLS or the one state of `state.single`, rendering,
//!    compiling, building every state function. Any error here fails the
//!    host before anything runs on it.
//! 2. [`gather`]: ONE gather script: every state's read-only probe plus the
//!    `unless`, `onlyif` and `creates` checks, and the drift ledger.
//! 3. [`plan`]: on the controller: each state's pure plan from its facts;
//!    requisites decided where the plans decide them (onchanges, onfail,
//!    prereq). [`drift`]: the ledger's entries this run does not declare;
//!    [`prune`] (prune=True) adds their inverse states. `test=True` stops
//!    here: the plans are the prediction.
//! 4. [`apply`]: ONE apply script (on stdin): only the states that must
//!    change, in order, each guarded by its dependencies' outcomes;
//!    [`journal`]: the ledger events it writes. A no-op run skips it.
//! 5. [`replan`]: states that could only be planned once what they require
//!    had run: probed, planned and applied after the first apply.
//!
//! Every line the scripts print about themselves is [`protocol`]'s;
//! [`report`] makes Salt's result shape of it.

// A compile error ends the host's run and carries file, SLS, ID and the
// valid choices by value (`state::CompileError`); its size does not matter.
#![allow(clippy::result_large_err)]

mod apply;
mod compile;
mod drift;
mod gather;
mod journal;
mod plan;
mod progress;
mod protocol;
mod prune;
mod replan;
mod report;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Map};

pub(crate) use compile::sls_file;
pub use compile::{compile, show, Built, CompileFailure};
pub use drift::{DriftReport, EntryReport, Named, Origin, WouldChange};

use crate::inventory::Group;
use crate::modules::{self, Plan, StateFunction};
use crate::render::RemoteCall;
use crate::state::ledger::{self, LedgerError};
use crate::state::{Chunk, CompileError, SlsSource};
use crate::transport::Connection;
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
        crate::state::compile(&[Self::SLS.to_string()], &mut loader, &modules::registry())
            .map(|_| ())
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
    pub drift: Option<DriftReport>,
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
        let mut errors = vec![e.message];
        errors.extend(e.more);
        Outcome {
            duplicate: e.duplicate,
            ret: json!(errors),
            ..Outcome::error(String::new())
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

impl Decision {
    /// The state's status before it is applied: failed already, or not.
    fn status(&self) -> Status {
        match self {
            Decision::Failed(_) => Status::Fail,
            _ => Status::Ok,
        }
    }
}

/// A state's outcome as the apply script keeps it in `$s_I`, which the
/// guards of the states after it test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    /// Nothing changed (or not run yet).
    Ok,
    Changed,
    Fail,
}

impl Status {
    /// The word in the script.
    fn sh(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Changed => "changed",
            Status::Fail => "fail",
        }
    }
}

/// Why a host failed after compiling, before a result per state.
#[derive(Debug, thiserror::Error)]
enum HostError {
    #[error("gather failed: {0}")]
    Gather(#[from] gather::GatherError),
    #[error("drift ledger: {0}")]
    Ledger(LedgerError),
    #[error("prune: {0}")]
    Prune(String),
    #[error("apply: {0}")]
    Apply(protocol::ProtocolError),
}

/// One state run on one host: what every phase reads and adds to.
struct Run<'a> {
    conn: &'a Arc<Connection>,
    project: &'a Project,
    call: &'a StateCall,
    /// Starts every line the scripts print about themselves.
    marker: String,
    states: Vec<State>,
    times: Vec<report::StateTime>,
    /// The host's ledger as last read: by the gather, then from each
    /// apply execution that wrote to it.
    copy: Option<ledger::HostCopy>,
}

/// Every state function the engine runs, as (`module.function`, its
/// one-line doc, its arguments besides `name`): what `sys.state_doc` lists.
pub fn state_functions() -> impl Iterator<Item = (String, &'static str, &'static [&'static str])> {
    modules::MODULES.iter().flat_map(|m| {
        m.functions
            .iter()
            .map(move |f| (format!("{}.{}", m.name, f.name), f.doc, f.args))
    })
}

/// Run a state call on a connected host. `pillar` as for [`compile`];
/// `remote` answers the execution functions templates call (`salt[...]`)
/// on this host.
pub async fn run(
    conn: &Arc<Connection>,
    host_id: &str,
    grains: &Value,
    pillar: Option<Value>,
    project: &Project,
    call: &StateCall,
    remote: Arc<dyn RemoteCall>,
) -> Outcome {
    let built = match compile(project, host_id, grains, pillar, call, Some(remote)) {
        Ok(b) => b,
        Err(e) => return Outcome::not_compiled(e),
    };
    let states: Vec<State> = built
        .into_iter()
        .map(|(chunk, function)| State {
            chunk,
            function,
            decision: Decision::Done(String::new()),
        })
        .collect();
    let mut run = Run {
        conn,
        project,
        call,
        marker: format!("@@halite-{:016x}", rand_u64()),
        times: vec![report::StateTime::default(); states.len()],
        states,
        copy: None,
    };
    let o = match run.phases().await {
        Ok(o) => o,
        Err(e) => Outcome::error(e.to_string()),
    };
    Outcome {
        ledger: run.copy,
        ..o
    }
}

impl Run<'_> {
    /// Phases 2 to 5, once compiled.
    async fn phases(&mut self) -> Result<Outcome, HostError> {
        let read = gather::first(self).await?;
        let all = 0..self.states.len();
        plan::decide_all(&mut self.states, all, &read.facts, true);
        let mut drift = read
            .ledger
            .as_ref()
            .map(|l| drift::undeclared(l, &read.book, &self.states, &self.call.target));
        let mut released = Vec::new();
        if let (Some(limit), Some(l), Some(d)) = (self.call.prune, &read.ledger, drift.as_mut()) {
            match prune::prune(self, limit, l, d).await? {
                prune::Pruned::Refused => {
                    let mut o = self.report(None, self.call.test);
                    o.success = false;
                    return Ok(drift::with_drift(o, drift));
                }
                prune::Pruned::Released(r) => released = r,
            }
        }
        if self.call.test {
            let o = self.report(None, true);
            return Ok(drift::tested(o, drift, self.call.drift));
        }
        let o = match apply::first(self, &read, &released).await? {
            apply::Applied1::Done(o) => o,
            apply::Applied1::Deferred(o, which) => replan::deferred(self, o, &which, &read).await?,
        };
        Ok(drift::with_drift(o, drift))
    }
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
