//! The state compiler: rendered SLS data in, an ordered and checked list of
//! state chunks out.
//!
//! This is the pure middle of a state run. The renderer (Jinja, YAML) hands
//! over one [`Value`] per SLS file through a loader; the engine that applies
//! states takes the [`Compiled`] result. Everything in between happens here,
//! before any host is contacted, so a typo in a state, an argument or a
//! requisite fails the whole run up front with the file and ID named:
//!
//! 1. [`top_sls`]: which SLS names apply to a host (`top.sls`, base env);
//! 2. `highstate`: loading SLS files with `include`, `exclude`, `extend`,
//!    the "high data" of Salt;
//! 3. `compile`: ID declarations into chunks (one per name), checked against
//!    a [`StateRegistry`];
//! 4. `requisites`: requisite references resolved to chunks, `_in` forms
//!    inverted onto their targets;
//! 5. `order`: `order:` and definition order, with requisites pulling
//!    dependencies forward; cycles rejected.
//!
//! Semantics follow Salt (`salt/state.py`, `salt/utils/requisite.py` and the
//! "Requisites", "Ordering States", "Include and Exclude" and "Extend" docs).
//! Where halite is stricter than Salt it is documented at the spot.

// A compile error ends the run and carries file, SLS, ID and the valid
// choices by value so it reads well alone; its size does not matter.
#![allow(clippy::result_large_err)]

mod compile;
mod highstate;
pub mod ledger;
mod order;
mod requisites;
mod top;

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Map;

use crate::Value;

pub use top::top_sls;

/// One SLS file as the renderer produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct SlsSource {
    /// Where it came from, for messages (`apache/init.sls`). A name ending
    /// in `init.sls` makes relative includes resolve below the SLS, as in Salt.
    pub file: String,
    /// The rendered data (a mapping, or null for an empty file).
    pub data: Value,
}

impl CompileError {
    /// Two states with one ID in different SLS files (within one file, the
    /// YAML layer refuses the repeated key before this).
    pub fn is_duplicate(&self) -> bool {
        matches!(self, CompileError::ConflictingId { .. })
    }
}

/// Loads and renders one SLS by name (`apache.conf`).
pub type Loader<'a> = dyn FnMut(&str) -> Result<SlsSource, CompileError> + 'a;

/// Everything that can make a state tree unusable. Each variant names the
/// SLS (and its file) and the ID involved, so a message is actionable alone.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompileError {
    #[error("top file: {0}")]
    Top(String),
    #[error("SLS `{sls}`: {message}")]
    Load { sls: String, message: String },
    #[error("SLS `{sls}` ({file}): {message}")]
    Sls {
        sls: String,
        file: String,
        message: String,
    },
    #[error("SLS `{sls}` ({file}), ID `{id}`: {message}")]
    Invalid {
        sls: String,
        file: String,
        id: String,
        message: String,
    },
    #[error(
        "conflicting ID `{id}`: declared in SLS `{first_sls}` ({first_file}) and in SLS \
         `{second_sls}` ({second_file}); IDs must be unique across all SLS files"
    )]
    ConflictingId {
        id: String,
        first_sls: String,
        first_file: String,
        second_sls: String,
        second_file: String,
    },
    #[error(
        "SLS `{sls}` ({file}), ID `{id}`: unknown state module `{module}`; known modules: {}",
        choices.join(", ")
    )]
    UnknownModule {
        sls: String,
        file: String,
        id: String,
        module: String,
        choices: Vec<String>,
    },
    #[error(
        "SLS `{sls}` ({file}), ID `{id}`: unknown function `{module}.{function}`; `{module}` has: {}",
        choices.join(", ")
    )]
    UnknownFunction {
        sls: String,
        file: String,
        id: String,
        module: String,
        function: String,
        choices: Vec<String>,
    },
    #[error(
        "SLS `{sls}` ({file}), ID `{id}`: `{module}.{function}` has no argument `{argument}`; \
         valid arguments: {}",
        choices.join(", ")
    )]
    UnknownArgument {
        sls: String,
        file: String,
        id: String,
        module: String,
        function: String,
        argument: String,
        choices: Vec<String>,
    },
    #[error(
        "SLS `{sls}` ({file}): cannot extend ID `{id}`: no such ID (or state with that name) \
         in the highstate; is an include missing?"
    )]
    ExtendMissing {
        sls: String,
        file: String,
        id: String,
    },
    #[error(
        "SLS `{sls}` ({file}), ID `{id}`: {kind} requisite `{target}` not found: no state matches it"
    )]
    RequisiteNotFound {
        sls: String,
        file: String,
        id: String,
        kind: String,
        target: String,
    },
    #[error("requisite cycle between states: {}", states.join(" -> "))]
    Cycle { states: Vec<String> },
}

/// What a state function accepts, as far as the compiler checks it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateSpec {
    /// Accepted argument names, besides the global ones ([`GLOBAL_ARGS`]).
    pub args: Vec<String>,
    /// True when the function takes arbitrary extra keyword arguments.
    pub extra_kwargs: bool,
    /// True when every argument is the function's own to read
    /// ([`ANY_ARGS`]: `module.run`, whose arguments name execution
    /// functions or are theirs).
    pub any: bool,
}

/// In a function's argument list: every argument is accepted, the
/// function's build checks them (`module.run` / `module.wait`).
pub const ANY_ARGS: &str = "*";

/// In a function's argument list: it takes any other keyword argument as a
/// variable of its `source` template (Salt's `**kwargs`, which
/// `file.managed` hands to the template), so only when the state has a
/// `source` and a `template`; otherwise an unknown argument is an error.
pub const EXTRA_KWARGS: &str = "**kwargs";

impl StateSpec {
    /// `args` as a state module declares them; an entry
    /// [`EXTRA_KWARGS`] means any other keyword is accepted too.
    pub fn new(args: &[&str]) -> StateSpec {
        StateSpec {
            args: args
                .iter()
                .filter(|a| **a != EXTRA_KWARGS && **a != ANY_ARGS)
                .map(|a| a.to_string())
                .collect(),
            extra_kwargs: args.contains(&EXTRA_KWARGS),
            any: args.contains(&ANY_ARGS),
        }
    }

    /// `templated`: the state has a `source` and a `template`, whose
    /// variables the other arguments of an [`EXTRA_KWARGS`] function are.
    fn accepts(&self, arg: &str, templated: bool) -> bool {
        self.any || (self.extra_kwargs && templated) || self.args.iter().any(|a| a == arg)
    }
}

/// Why a registry lookup failed; the lists become the error's valid choices.
#[derive(Debug, Clone, PartialEq)]
pub enum LookupError {
    UnknownModule { modules: Vec<String> },
    UnknownFunction { functions: Vec<String> },
}

/// The state functions that exist. The real implementation comes with the
/// state modules; [`MemoryRegistry`] serves tests and tools.
pub trait StateRegistry {
    fn lookup(&self, module: &str, function: &str) -> Result<&StateSpec, LookupError>;
}

/// A registry built in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryRegistry {
    modules: BTreeMap<String, BTreeMap<String, StateSpec>>,
}

impl MemoryRegistry {
    pub fn new() -> MemoryRegistry {
        MemoryRegistry::default()
    }

    /// Adds `module.function` accepting exactly `args` (plus the global ones).
    pub fn with(self, module: &str, function: &str, args: &[&str]) -> MemoryRegistry {
        self.with_spec(module, function, StateSpec::new(args))
    }

    pub fn with_spec(mut self, module: &str, function: &str, spec: StateSpec) -> MemoryRegistry {
        self.modules
            .entry(module.to_string())
            .or_default()
            .insert(function.to_string(), spec);
        self
    }
}

impl StateRegistry for MemoryRegistry {
    fn lookup(&self, module: &str, function: &str) -> Result<&StateSpec, LookupError> {
        let functions = self
            .modules
            .get(module)
            .ok_or_else(|| LookupError::UnknownModule {
                modules: self.modules.keys().cloned().collect(),
            })?;
        functions
            .get(function)
            .ok_or_else(|| LookupError::UnknownFunction {
                functions: functions.keys().cloned().collect(),
            })
    }
}

/// Arguments every state accepts because the state system, not the state
/// function, consumes them (Salt's `STATE_INTERNAL_KEYWORDS`, the part
/// halite implements).
pub const GLOBAL_ARGS: &[&str] = &[
    "name",
    "names",
    "order",
    "unless",
    "onlyif",
    "creates",
    "check_cmd",
    "failhard",
    "retry",
    "runas",
    "reload_modules",
    "require",
    "require_any",
    "watch",
    "watch_any",
    "onchanges",
    "onchanges_any",
    "onfail",
    "onfail_any",
    "onfail_all",
    "prereq",
    "listen",
    "require_in",
    "watch_in",
    "onchanges_in",
    "onfail_in",
    "prereq_in",
    "listen_in",
];

/// The kind of a requisite, as stored on the chunk that has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Require,
    RequireAny,
    Watch,
    WatchAny,
    Onchanges,
    OnchangesAny,
    Onfail,
    OnfailAny,
    OnfailAll,
    /// The chunk runs *before* its target, and only when the target, run in
    /// test mode first, reports changes.
    Prereq,
    /// Like watch, but the reaction (`mod_watch`) runs at the end of the
    /// state run; it does not order anything.
    Listen,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::Require,
        Kind::RequireAny,
        Kind::Watch,
        Kind::WatchAny,
        Kind::Onchanges,
        Kind::OnchangesAny,
        Kind::Onfail,
        Kind::OnfailAny,
        Kind::OnfailAll,
        Kind::Prereq,
        Kind::Listen,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Require => "require",
            Kind::RequireAny => "require_any",
            Kind::Watch => "watch",
            Kind::WatchAny => "watch_any",
            Kind::Onchanges => "onchanges",
            Kind::OnchangesAny => "onchanges_any",
            Kind::Onfail => "onfail",
            Kind::OnfailAny => "onfail_any",
            Kind::OnfailAll => "onfail_all",
            Kind::Prereq => "prereq",
            Kind::Listen => "listen",
        }
    }

    /// The `_in` keyword of this kind, where Salt has one.
    pub fn in_name(self) -> Option<&'static str> {
        match self {
            Kind::Require => Some("require_in"),
            Kind::Watch => Some("watch_in"),
            Kind::Onchanges => Some("onchanges_in"),
            Kind::Onfail => Some("onfail_in"),
            Kind::Prereq => Some("prereq_in"),
            Kind::Listen => Some("listen_in"),
            _ => None,
        }
    }

    /// True when the requisite constrains execution order.
    pub fn orders(self) -> bool {
        self != Kind::Listen
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a chunk goes relative to others (`order:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// `order: N` with N >= 0 (`first` is 0): before every unordered state.
    Number(i64),
    /// No `order:`: definition order, after the numbered states.
    #[default]
    Auto,
    /// `order: -N`: counted back from the end, still before `last`
    /// (Salt maps it to `cap + 1000000 - N`).
    FromEnd(i64),
    /// `order: last`.
    Last,
}

/// `retry:` of a state.
#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    pub attempts: u64,
    /// The result to wait for (Salt's `until`, default true).
    pub until: bool,
    /// Seconds between attempts.
    pub interval: u64,
    /// Random extra seconds, up to this many.
    pub splay: u64,
}

/// The global (state-system) arguments of a chunk, typed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Globals {
    /// Commands (or `{fun: ...}` maps); the state is skipped when any succeeds.
    pub unless: Vec<Value>,
    /// The state runs only when all succeed.
    pub onlyif: Vec<Value>,
    /// Paths; the state is skipped when all exist.
    pub creates: Vec<String>,
    /// Commands run after the state, to check it.
    pub check_cmd: Vec<String>,
    pub failhard: Option<bool>,
    pub retry: Option<Retry>,
    pub runas: Option<String>,
    /// Salt's `reload_modules`: reload the minion's modules after the
    /// state. halite's functions are built in, so there is nothing to
    /// reload: accepted (checked to be a boolean) and shown, nothing more.
    pub reload_modules: Option<bool>,
}

impl Globals {
    /// The global arguments this chunk sets, under Salt's names, as
    /// `state.show_sls` shows them beside the function's own.
    pub fn shown(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        if !self.unless.is_empty() {
            put("unless", Value::Array(self.unless.clone()));
        }
        if !self.onlyif.is_empty() {
            put("onlyif", Value::Array(self.onlyif.clone()));
        }
        if !self.creates.is_empty() {
            put("creates", serde_json::json!(self.creates));
        }
        if !self.check_cmd.is_empty() {
            put("check_cmd", serde_json::json!(self.check_cmd));
        }
        if let Some(f) = self.failhard {
            put("failhard", Value::Bool(f));
        }
        if let Some(r) = &self.retry {
            put(
                "retry",
                serde_json::json!({"attempts": r.attempts, "until": r.until,
                                   "interval": r.interval, "splay": r.splay}),
            );
        }
        if let Some(u) = &self.runas {
            put("runas", Value::String(u.clone()));
        }
        if let Some(r) = self.reload_modules {
            put("reload_modules", Value::Bool(r));
        }
        m
    }
}

/// One state function call with everything resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub id: String,
    pub name: String,
    pub module: String,
    pub function: String,
    pub sls: String,
    pub file: String,
    /// The function's own arguments (no `name`, no global arguments).
    pub args: Map<String, Value>,
    pub globals: Globals,
    /// Requisites of this chunk: (kind, index into [`Compiled::chunks`]),
    /// `_in` forms already inverted onto this chunk.
    pub requisites: Vec<(Kind, usize)>,
    pub order: Order,
}

impl Chunk {
    /// A state built outside an SLS tree (prune's inverse states, unit
    /// tests): ID = name, no requisites, no global arguments, automatic
    /// order; `args` an object of the function's own arguments.
    pub fn standalone(module: &str, function: &str, name: &str, args: Value) -> Chunk {
        Chunk {
            id: name.to_string(),
            name: name.to_string(),
            module: module.to_string(),
            function: function.to_string(),
            sls: String::new(),
            file: String::new(),
            args: match args {
                Value::Object(m) => m,
                _ => Map::new(),
            },
            globals: Globals::default(),
            requisites: Vec::new(),
            order: Order::Auto,
        }
    }

    /// `sls/id (module.function name)`, for messages.
    pub fn describe(&self) -> String {
        if self.name == self.id {
            format!(
                "{}:{} ({}.{})",
                self.sls, self.id, self.module, self.function
            )
        } else {
            format!(
                "{}:{} ({}.{} {})",
                self.sls, self.id, self.module, self.function, self.name
            )
        }
    }
}

/// The compiler's output: chunks in execution order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Compiled {
    pub chunks: Vec<Chunk>,
}

/// Compiles the SLS files `sls_names` (from [`top_sls`] or the command line)
/// into ordered chunks. `loader` renders one SLS by name; each is loaded once.
pub fn compile(
    sls_names: &[String],
    loader: &mut Loader<'_>,
    registry: &dyn StateRegistry,
) -> Result<Compiled, CompileError> {
    compile_as(sls_names, loader, registry, Purpose::Run)
}

/// What the compiled chunks are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// To run: every requisite must find its state.
    Run,
    /// To show (`state.show_sls`): a `require_in` / `watch_in` / ... whose
    /// target is not in the compiled SLS files is left out, as Salt's show
    /// functions leave the `extend` these become unreconciled (running the
    /// same SLS is refused, in Salt and here).
    Show,
}

/// [`compile`] for `purpose`.
pub fn compile_as(
    sls_names: &[String],
    loader: &mut Loader<'_>,
    registry: &dyn StateRegistry,
    purpose: Purpose,
) -> Result<Compiled, CompileError> {
    let high = highstate::assemble(sls_names, loader)?;
    let raw = compile::chunks(&high, registry)?;
    let requisites = requisites::resolve(&high, &raw, purpose)?;
    let chunks = raw
        .into_iter()
        .zip(requisites)
        .map(|((chunk, _), requisites)| Chunk {
            requisites,
            ..chunk
        })
        .collect();
    let chunks = order::order(chunks)?;
    Ok(Compiled { chunks })
}

#[cfg(test)]
mod tests;
