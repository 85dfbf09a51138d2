//! The `state` module: `state.apply`, `state.sls`, `state.highstate` and
//! the compile-only `state.show_*`. They are parsed here like every
//! function; the state engine (`crate::state::engine`) runs them.

use super::{ArgError, Args, Function, HostCtx, Outcome, Spec};
use crate::state::engine::{Action, StateCall, Target};
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
        &["mods", "test", "pillar"]
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
    let pillar = match args.kwargs.get("pillar") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(v) => {
            return Err(ArgError::Invalid {
                function: f,
                message: format!("pillar must be a mapping like pillar='{{key: value}}', got {v}"),
            })
        }
    };
    Ok(Box::new(StateFn(StateCall {
        action,
        target,
        test: args.flag(f, "test", false)?,
        pillar,
    })))
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
