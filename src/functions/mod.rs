//! Execution functions: what `halite TARGET FUNCTION ARGS...` runs.
//!
//! A function is parsed and checked on the controller before anything
//! connects (unknown functions and arguments are usage errors), then run on
//! each host as at most ONE `sh` script. Its output is interpreted back into
//! Salt's return shape. Adding a function is one [`Spec`] in its module's
//! `FUNCTIONS` list; adding a module is one line in [`MODULES`].

mod call;
pub mod cmd;
pub mod disk;
pub mod docker;
pub mod file;
pub mod grains;
pub mod mine;
pub mod network;
pub mod pillar;
pub mod pkg;
pub mod service;
pub mod state;
pub mod status;
pub mod sys;
mod template_call;
pub mod test;

use std::fmt::Debug;

pub use crate::args::{ArgError, Args};
pub use call::Call;
pub use template_call::HostCall;

use crate::transport::{Command, ExecOutput};
use crate::Value;

/// Every module's function list; `sys.doc` and lookup walk this.
pub const MODULES: &[&[Spec]] = &[
    test::FUNCTIONS,
    cmd::FUNCTIONS,
    grains::FUNCTIONS,
    pillar::FUNCTIONS,
    pkg::FUNCTIONS,
    service::FUNCTIONS,
    docker::FUNCTIONS,
    file::FUNCTIONS,
    disk::FUNCTIONS,
    status::FUNCTIONS,
    state::FUNCTIONS,
    sys::FUNCTIONS,
    network::FUNCTIONS,
    mine::FUNCTIONS,
];

/// One registered function.
pub struct Spec {
    /// `module.function`.
    pub name: &'static str,
    /// One line, shown by `sys.doc`.
    pub doc: &'static str,
    /// Check the arguments and build the function.
    pub parse: fn(&Args) -> Result<Box<dyn Function>, ArgError>,
}

/// Find a function by name.
pub fn lookup(name: &str) -> Option<&'static Spec> {
    MODULES
        .iter()
        .flat_map(|m| m.iter())
        .find(|s| s.name == name)
}

/// Every function, in registry order.
pub fn all() -> impl Iterator<Item = &'static Spec> {
    MODULES.iter().flat_map(|m| m.iter())
}

/// What a host's run of a function needs to know about that host.
#[derive(Debug, Clone, Copy)]
pub struct HostCtx<'a> {
    pub id: &'a str,
    /// The host's grains, when the function asked for them ([`Function::needs_grains`]).
    pub grains: &'a Value,
}

/// The outcome of a function on one host, in Salt's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// False when the function failed on this host (the run's exit code says so).
    pub success: bool,
    /// The return value shown to the user (`True`, stdout, a dict...).
    pub ret: Value,
    /// The remote script's exit code, when one ran.
    pub retcode: Option<i32>,
}

impl Outcome {
    pub fn ok(ret: Value) -> Self {
        Outcome {
            success: true,
            ret,
            retcode: Some(0),
        }
    }
    pub fn fail(ret: Value, retcode: Option<i32>) -> Self {
        Outcome {
            success: false,
            ret,
            retcode,
        }
    }
}

/// A checked, ready-to-run function call.
pub trait Function: Send + Sync + Debug {
    /// The one script to run on the host, or `None` when the function needs
    /// no remote execution (e.g. `grains.items` from a fresh cache).
    fn command(&self, ctx: &HostCtx) -> Option<Command>;

    /// Turn the script's output (None when no script ran) into the result.
    fn interpret(&self, ctx: &HostCtx, out: Option<&ExecOutput>) -> Outcome;

    /// True when the function reads the host's grains (the runner makes sure
    /// they are known before calling [`Function::command`]).
    fn needs_grains(&self) -> bool {
        false
    }

    /// True when the function needs no connection at all (`sys.doc`).
    fn controller_only(&self) -> bool {
        false
    }

    /// State functions (`state.apply`...) are run by the state engine,
    /// not as one script: they say so here.
    fn state_call(&self) -> Option<&crate::engine::StateCall> {
        None
    }

    /// True when the function answers from the host's pillar (`pillar.*`):
    /// the runner compiles it on the controller from this host's grains
    /// only (or reuses the one compiled for targeting) and calls
    /// [`Function::interpret_pillar`] instead of [`Function::interpret`].
    fn needs_pillar(&self) -> bool {
        false
    }

    /// A `pillar='{...}'` argument: merged over the compiled pillar, and
    /// visible to the pillar SLS files while they render.
    fn pillar_override(&self) -> Option<&Value> {
        None
    }

    /// Mine functions (`mine.update`, `mine.get`...) say what they ask
    /// here: the fleet runs them with the controller's mine store.
    fn mine_call(&self) -> Option<&mine::MineCall> {
        None
    }

    /// [`Function::interpret`] with the host's pillar, for functions that
    /// [need it](Function::needs_pillar).
    fn interpret_pillar(&self, ctx: &HostCtx, pillar: &Value) -> Outcome {
        let _ = pillar;
        self.interpret(ctx, None)
    }
}

/// Parse a function call: look the name up, then let the function check its arguments.
pub fn parse_call(name: &str, args: &Args) -> Result<Box<dyn Function>, ArgError> {
    let spec = lookup(name).ok_or_else(|| ArgError::UnknownFunction {
        name: name.to_string(),
        suggestion: suggest(name),
    })?;
    (spec.parse)(args)
}

/// The registered name closest to `name`, when one is close.
fn suggest(name: &str) -> Option<String> {
    all()
        .map(|s| (edit_distance(name, s.name), s.name))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, n)| n.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_is_registered_once_with_a_doc() {
        let mut names: Vec<&str> = all().map(|s| s.name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate function names");
        for s in all() {
            assert!(s.name.contains('.'), "{}", s.name);
            assert!(!s.doc.is_empty() && !s.doc.contains('\n'), "{}", s.name);
        }
    }

    #[test]
    fn unknown_functions_suggest_a_close_one() {
        let e = parse_call("cmd.rnu", &Args::default()).unwrap_err();
        assert!(e.to_string().contains("cmd.run"), "{e}");
    }
}
