//! `module.run` / `module.wait` (and its alias `module.watch`): an
//! execution function as a state, as Salt 3008 runs it
//! (salt/states/module.py), in both of Salt's syntaxes:
//!
//! - new style, every argument naming a function: `- service.restart:
//!   [apache2]` (a list of positional values and one-key mappings, the
//!   keyword arguments); halite takes one function per state;
//! - legacy, the state's `name` is the function: `- name: service.reload`
//!   with the function's arguments beside it, `m_name` standing for the
//!   function's own `name` (likewise `m_fun`, `m_names`, `m_state`).
//!
//! The function is one of halite's execution functions, run on the host as
//! part of the run's apply script: state modules do not import execution
//! functions, so the script comes through the renderer's [`RemoteCall`]
//! (the same interface templates' `salt[...]` calls use), given by whoever
//! starts the run. `module.run` runs every time; `module.wait` only as the
//! reaction to a watched state's change.
//!
//! [`RemoteCall`]: crate::render::RemoteCall

use serde_json::json;

use super::{Applied, BuildCtx, FnDef, ModuleDef, Output, Plan, PlanMismatch, StateFunction};
use crate::args::Args;
use crate::render::RemoteScript;
use crate::state::{Chunk, ANY_ARGS};
use crate::Value;

pub const MODULE: ModuleDef = ModuleDef {
    name: "module",
    functions: &[
        FnDef {
            name: "run",
            doc: "Run an execution function (`- service.restart: [nginx]`, or legacy `name: FUNCTION` with its arguments).",
            args: &[ANY_ARGS],
            build: |c, ctx| build(c, ctx, false),
        },
        FnDef {
            name: "wait",
            doc: "Run an execution function only when a watched state changes (Salt's module.wait).",
            args: &[ANY_ARGS],
            build: |c, ctx| build(c, ctx, true),
        },
        FnDef {
            name: "watch",
            doc: "The same as module.wait.",
            args: &[ANY_ARGS],
            build: |c, ctx| build(c, ctx, true),
        },
    ],
    ledger: &[],
};

/// Salt's syntax of a module.run state.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Style {
    New,
    Legacy,
}

#[derive(Debug)]
struct ModuleRun {
    function: String,
    style: Style,
    wait: bool,
    script: Box<dyn RemoteScript>,
}

/// The function and its arguments, in the style the state is written in.
fn call_of(chunk: &Chunk) -> Result<(String, Style, Args), String> {
    let err = |m: String| format!("{}: {m}", chunk.describe());
    // Salt: new style when every argument besides `name` names a function.
    let new_style = !chunk.args.is_empty() && chunk.args.keys().all(|k| k.contains('.'));
    if !new_style {
        let mut args = Args::default();
        for (k, v) in &chunk.args {
            let key = match k.as_str() {
                "m_name" => "name",
                "m_fun" => "fun",
                "m_names" => "names",
                "m_state" => "state",
                "m_saltenv" => "saltenv",
                k => k,
            };
            if args.kwargs.insert(key.to_string(), v.clone()).is_some() {
                return Err(err(format!("`{key}` is given twice (as `{k}` and itself)")));
            }
        }
        return Ok((chunk.name.clone(), Style::Legacy, args));
    }
    if chunk.args.len() > 1 {
        let names: Vec<&str> = chunk.args.keys().map(String::as_str).collect();
        return Err(err(format!(
            "one function per module.run state in halite ({} given: {}); write one state each",
            names.len(),
            names.join(", ")
        )));
    }
    let (function, given) = chunk.args.iter().next().expect("one argument");
    // `- cmd.run:3:` style suffixes (Salt's way to call one function twice).
    let function = function.split(':').next().unwrap_or(function).to_string();
    let mut args = Args::default();
    let items = match given {
        Value::Null => Vec::new(),
        Value::Array(items) => items.clone(),
        other => {
            return Err(err(format!(
                "`{function}` takes a list of arguments, not {other}"
            )))
        }
    };
    for item in items {
        match item {
            Value::Object(m) if m.len() == 1 => {
                let (k, v) = m.into_iter().next().expect("one key");
                args.kwargs.insert(k, v);
            }
            v => args.positional.push(v),
        }
    }
    Ok((function, Style::New, args))
}

fn build(chunk: &Chunk, ctx: &BuildCtx, wait: bool) -> Result<Box<dyn StateFunction>, String> {
    let (function, style, args) = call_of(chunk)?;
    let remote = ctx.renderer.and_then(|r| r.remote()).ok_or_else(|| {
        format!(
            "{}: module.{} needs the host's execution functions, which this run does not have",
            chunk.describe(),
            if wait { "wait" } else { "run" }
        )
    })?;
    let script = remote
        .script(&function, &args)
        .map_err(|e| format!("{}: {e}", chunk.describe()))?;
    Ok(Box::new(ModuleRun {
        function,
        style,
        wait,
        script,
    }))
}

/// Salt's `_get_result`: a boolean return is the result, a mapping with
/// `result: False` or a non-zero `retcode` (at any depth) is a failure.
fn salt_result(ret: &Value) -> bool {
    match ret {
        Value::Bool(b) => *b,
        Value::Object(m) => m.iter().all(|(k, v)| match (k.as_str(), v) {
            ("result", Value::Bool(false)) => false,
            ("retcode", v) if v.as_i64().is_some_and(|c| c != 0) => false,
            (_, Value::Object(_)) => salt_result(v),
            _ => true,
        }),
        _ => true,
    }
}

impl ModuleRun {
    fn command(&self) -> String {
        match self.script.text() {
            Some(t) => format!("{t}\n"),
            None => "true\n".to_string(),
        }
    }
}

impl StateFunction for ModuleRun {
    fn probe(&self) -> String {
        String::new()
    }

    fn plan(&self, _: Output) -> Result<Plan, String> {
        if self.wait {
            return Ok(Plan::noop(format!(
                "Module function {} runs only when a watched state changes",
                self.function
            )));
        }
        let comment = match self.style {
            Style::Legacy => format!("Module function {} is set to execute", self.function),
            Style::New => format!("Function {} to be executed.", self.function),
        };
        Ok(Plan::change(json!({"function": self.function}), comment))
    }

    fn plan_reads_host(&self) -> bool {
        false
    }

    fn apply(&self, _: &Plan) -> Result<String, PlanMismatch> {
        Ok(self.command())
    }

    fn watch(&self, _: &Plan) -> Option<String> {
        self.wait.then(|| self.command())
    }

    fn watch_finish(&self, plan: &Plan, out: Output) -> Option<Applied> {
        self.wait.then(|| self.finish(plan, out))
    }

    /// As Salt reports it: the return under `ret` (legacy) or under the
    /// function's name (new style); failed when the function failed (its
    /// exit status or a boolean / mapping return saying so).
    fn finish(&self, _: &Plan, out: Output) -> Applied {
        let (ok, ret) = self.script.read(out.text, out.rc);
        let result = ok && salt_result(&ret);
        let mut changes = serde_json::Map::new();
        let comment = match self.style {
            Style::Legacy => {
                changes.insert("ret".into(), ret);
                format!("Module function {} executed", self.function)
            }
            Style::New if result => {
                let shown = match &ret {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                changes.insert(self.function.clone(), ret);
                format!("{}: {shown}", self.function)
            }
            Style::New => format!("'{}' failed: {ret}", self.function),
        };
        Applied {
            result,
            changes,
            comment,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(name: &str, args: Value) -> Chunk {
        Chunk {
            sls: "t".into(),
            file: "t.sls".into(),
            ..Chunk::standalone("module", "run", name, args)
        }
    }

    #[test]
    fn both_syntaxes_give_the_function_and_its_arguments() {
        let (f, style, a) = call_of(&chunk(
            "s",
            json!({"service.restart": ["apache2", {"no_block": true}]}),
        ))
        .unwrap();
        assert_eq!((f.as_str(), style), ("service.restart", Style::New));
        assert_eq!(a.positional, vec![json!("apache2")]);
        assert_eq!(a.kwargs.get("no_block"), Some(&json!(true)));
        let (f, style, a) =
            call_of(&chunk("service.reload", json!({"m_name": "apache2"}))).unwrap();
        assert_eq!((f.as_str(), style), ("service.reload", Style::Legacy));
        assert_eq!(a.kwargs.get("name"), Some(&json!("apache2")));
        // Only `name` (no other argument): legacy, as in Salt.
        let (f, style, _) = call_of(&chunk("test.true", json!({}))).unwrap();
        assert_eq!((f.as_str(), style), ("test.true", Style::Legacy));
        let (f, _, a) = call_of(&chunk("s", json!({"test.true": null}))).unwrap();
        assert_eq!(f, "test.true");
        assert!(a.positional.is_empty() && a.kwargs.is_empty());
        let e = call_of(&chunk("s", json!({"test.true": [], "test.false": []}))).unwrap_err();
        assert!(e.contains("one function per module.run state"), "{e}");
        let e = call_of(&chunk("s", json!({"test.true": "x"}))).unwrap_err();
        assert!(e.contains("takes a list of arguments"), "{e}");
    }

    #[test]
    fn salt_result_reads_booleans_and_mappings() {
        assert!(salt_result(&json!("some output")));
        assert!(!salt_result(&json!(false)));
        assert!(!salt_result(&json!({"a": {"result": false}})));
        assert!(!salt_result(&json!({"retcode": 2})));
        assert!(salt_result(&json!({"retcode": 0, "stdout": "x"})));
    }
}
