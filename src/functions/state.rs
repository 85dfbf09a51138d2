//! The `state` module: `state.apply`, `state.sls`, `state.highstate`,
//! `state.single` and the compile-only `state.show_*`. They are parsed here
//! like every function; the state engine (`crate::engine`) runs them.

use super::{ArgError, Args, Function, HostCtx, Outcome, Spec};
use crate::engine::{Action, Single, StateCall, Target};
use crate::state::CompileError;
use crate::transport::{Command, ExecOutput};
use crate::Value;

pub const FUNCTIONS: &[Spec] = &[
    Spec {
        name: "state.apply",
        doc: "Apply the highstate, or the SLS named (state.apply nginx,users); test=True shows what would change.",
        parse: |a| parse(a, "state.apply", Action::Apply, Names::Optional),
    },
    Spec {
        name: "state.sls",
        doc: "Apply the SLS named (state.sls apache); test=True shows what would change.",
        parse: |a| parse(a, "state.sls", Action::Apply, Names::Required),
    },
    Spec {
        name: "state.highstate",
        doc: "Apply every SLS the top file gives the host; test=True shows what would change.",
        parse: |a| parse(a, "state.highstate", Action::Apply, Names::None),
    },
    Spec {
        name: "state.single",
        doc: "Apply one state given on the command line (state.single pkg.installed name=vim); test=True shows what would change.",
        parse: parse_single,
    },
    Spec {
        name: "state.drift",
        doc: "Report drift without changing anything: states that would change, orphans (ledgered, no longer declared), ledgered resources gone; fails the host when anything drifted.",
        parse: parse_drift,
    },
    Spec {
        name: "state.show_top",
        doc: "Show the SLS names the top file gives the host.",
        parse: |a| parse(a, "state.show_top", Action::ShowTop, Names::None),
    },
    Spec {
        name: "state.show_sls",
        doc: "Show the compiled states of the SLS named, in execution order, without applying.",
        parse: |a| parse(a, "state.show_sls", Action::Show, Names::Required),
    },
    Spec {
        name: "state.show_highstate",
        doc: "Show the compiled highstate, in execution order, without applying.",
        parse: |a| parse(a, "state.show_highstate", Action::Show, Names::None),
    },
];

#[derive(Clone, Copy, PartialEq)]
enum Names {
    None,
    Optional,
    Required,
}

fn parse(
    args: &Args,
    f: &'static str,
    action: Action,
    names: Names,
) -> Result<Box<dyn Function>, ArgError> {
    let valid: &[&str] = if action == Action::Apply {
        &["mods", "test", "pillar", "prune", "prune_limit"]
    } else {
        &["mods", "pillar"]
    };
    args.check(f, valid, if names == Names::None { 0 } else { 1 })?;
    let mods = args.list(f, 0, "mods")?;
    let target = match (names, mods.is_empty()) {
        (Names::Required, true) => {
            return Err(ArgError::Invalid {
                function: f,
                message: "name the SLS to apply, e.g. `state.sls apache`".into(),
            })
        }
        (_, true) => Target::Highstate,
        (Names::None, false) => {
            return Err(ArgError::Invalid {
                function: f,
                message: "takes no SLS names (use state.sls or state.apply NAMES)".into(),
            })
        }
        (_, false) => Target::Sls(mods),
    };
    let prune = if action == Action::Apply && args.flag(f, "prune", false)? {
        Some(prune_limit(args, f)?)
    } else {
        None
    };
    Ok(Box::new(StateFn(StateCall {
        action,
        target,
        test: args.flag(f, "test", false)?,
        pillar: pillar_override(args, f)?,
        drift: false,
        prune,
    })))
}

/// `prune_limit=N` (default 10): the most orphans one host may lose.
fn prune_limit(args: &Args, f: &'static str) -> Result<usize, ArgError> {
    match args.kwargs.get("prune_limit") {
        None => Ok(10),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64().unwrap_or(10) as usize),
        Some(Value::String(s)) if s.parse::<usize>().is_ok() => Ok(s.parse().unwrap_or(10)),
        Some(v) => Err(ArgError::Invalid {
            function: f,
            message: format!("prune_limit must be a whole number, got {v}"),
        }),
    }
}

/// `state.drift [SLS...] [pillar=...]`: the highstate (or SLS named) in
/// test mode, with the ledger's orphans and gone entries.
fn parse_drift(args: &Args) -> Result<Box<dyn Function>, ArgError> {
    const F: &str = "state.drift";
    args.check(F, &["mods", "pillar"], 1)?;
    let mods = args.list(F, 0, "mods")?;
    Ok(Box::new(StateFn(StateCall {
        action: Action::Apply,
        target: if mods.is_empty() {
            Target::Highstate
        } else {
            Target::Sls(mods)
        },
        test: true,
        pillar: pillar_override(args, F)?,
        drift: true,
        prune: None,
    })))
}

/// `pillar='{...}'`: a mapping merged over the host's compiled pillar.
pub(super) fn pillar_override(args: &Args, f: &'static str) -> Result<Option<Value>, ArgError> {
    match args.kwargs.get("pillar") {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
        Some(v) => Err(ArgError::Invalid {
            function: f,
            message: format!("pillar must be a mapping like pillar='{{key: value}}', got {v}"),
        }),
    }
}

/// `state.single FUN [NAME] [name=NAME] [ARG=VALUE...] [test=True] [pillar=...]`
/// (Salt's `single(fun, name, test=None, **kwargs)`). The state is compiled
/// here, on its own, so an unknown module, function or argument is a usage
/// error naming the valid choices before anything connects.
fn parse_single(args: &Args) -> Result<Box<dyn Function>, ArgError> {
    const F: &str = "state.single";
    let invalid = |message: String| ArgError::Invalid {
        function: F,
        message,
    };
    if args.positional.len() > 2 {
        return Err(invalid(format!(
            "takes the state function and its name as positional arguments, got {}; \
             give the state's other arguments as key=value",
            args.positional.len()
        )));
    }
    let fun = args.string(F, 0, "")?.ok_or_else(|| {
        invalid("name the state function, e.g. `state.single pkg.installed name=vim`".into())
    })?;
    let Some((module, function)) = fun.split_once('.') else {
        return Err(invalid(format!(
            "`{fun}` is not a state function; expected module.function, e.g. pkg.installed"
        )));
    };
    if args.positional.len() == 2 && args.kwargs.contains_key("name") {
        return Err(invalid(
            "the name is given twice (positional and name=)".into(),
        ));
    }
    let name = args.string(F, 1, "name")?.ok_or_else(|| {
        invalid(format!(
            "missing required argument `name` (e.g. `state.single {fun} name=...`)"
        ))
    })?;
    if ["include", "exclude", "extend"].contains(&name.as_str()) {
        return Err(invalid(format!(
            "`{name}` cannot name a state: it is an SLS keyword"
        )));
    }
    let mut state_args = serde_json::Map::new();
    state_args.insert("name".into(), Value::String(name));
    for (k, v) in &args.kwargs {
        if !["name", "test", "pillar"].contains(&k.as_str()) {
            state_args.insert(k.clone(), v.clone());
        }
    }
    let single = Single {
        module: module.to_string(),
        function: function.to_string(),
        args: state_args,
    };
    single.check().map_err(|e| invalid(single_error(e)))?;
    Ok(Box::new(StateFn(StateCall {
        action: Action::Apply,
        target: Target::Single(single),
        test: args.flag(F, "test", false)?,
        pillar: pillar_override(args, F)?,
        drift: false,
        prune: None,
    })))
}

/// A compile error about the command line's one state, without the SLS
/// and ID context that only matters in files.
fn single_error(e: CompileError) -> String {
    match e {
        CompileError::UnknownModule {
            module, choices, ..
        } => format!(
            "unknown state module `{module}`; known modules: {}",
            choices.join(", ")
        ),
        CompileError::UnknownFunction {
            module,
            function,
            choices,
            ..
        } => format!(
            "unknown state function `{module}.{function}`; `{module}` has: {}",
            choices.join(", ")
        ),
        CompileError::UnknownArgument {
            module,
            function,
            argument,
            choices,
            ..
        } => format!(
            "`{module}.{function}` has no argument `{argument}`; valid arguments: {} \
             (and the global ones: unless, onlyif, creates, failhard, runas, retry, order, ...)",
            std::iter::once("name".to_string())
                .chain(choices)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        CompileError::Invalid { message, .. } => message,
        other => other.to_string(),
    }
}

#[derive(Debug)]
struct StateFn(StateCall);

impl Function for StateFn {
    fn command(&self, _: &HostCtx) -> Option<Command> {
        None
    }
    fn interpret(&self, _: &HostCtx, _: Option<&ExecOutput>) -> Outcome {
        Outcome::fail(
            Value::String("state functions are run by the state engine".into()),
            None,
        )
    }
    fn needs_grains(&self) -> bool {
        true
    }
    fn state_call(&self) -> Option<&StateCall> {
        Some(&self.0)
    }
}
