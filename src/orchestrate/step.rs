//! Typed steps from the compiled chunks of an orchestration SLS. Every
//! argument is checked here, before any step runs: a wrong one is an error
//! naming the file, the step's ID and the argument.

use serde_json::{Map, Value};

use crate::fleet::{BatchPlan, MaxFail};
use crate::state::{Chunk, Kind};
use crate::target::TargetType;

/// One step of an orchestration.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    pub name: String,
    pub sls: String,
    pub file: String,
    /// `salt.state`, `salt.function`, `test.nop`...
    pub function: String,
    pub action: Action,
    /// (kind, index of the required step), `_in` forms already inverted.
    pub requisites: Vec<(Kind, usize)>,
    /// A failure stops every later step.
    pub failhard: bool,
    /// `parallel: True`: runs at once with the neighbouring parallel steps
    /// (each still waits for the steps it requires).
    pub parallel: bool,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Run a function on the targeted hosts (`salt.state` is `state.apply`).
    Hosts(Box<HostStep>),
    /// A `test.*` state: a fixed outcome (and its `comment`), nothing runs.
    Test(TestOutcome, Option<String>),
}

/// A step that runs on hosts.
#[derive(Debug, Clone, PartialEq)]
pub struct HostStep {
    pub tgt: String,
    pub tgt_type: TargetType,
    /// `state.apply` for `salt.state`, the function named for `salt.function`.
    pub function: String,
    pub positional: Vec<Value>,
    pub kwargs: Map<String, Value>,
    pub batch: Option<BatchPlan>,
    pub max_fail: Option<MaxFail>,
    pub verify: Option<String>,
    /// Hosts allowed to fail without failing the step.
    pub fail_minions: Vec<String>,
    /// A step of `salt.state`: test mode is passed on to the hosts; a
    /// `salt.function` step does not run at all in test mode (as in Salt).
    pub is_state: bool,
    /// `test: True` on the step itself.
    pub test: bool,
    /// `expect_minions: False`: no host matching is a success.
    pub expect_minions: bool,
}

/// The `test.*` states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestOutcome {
    Nop,
    SucceedWithoutChanges,
    SucceedWithChanges,
    FailWithoutChanges,
    FailWithChanges,
}

impl TestOutcome {
    pub const NAMES: [&'static str; 5] = [
        "nop",
        "succeed_without_changes",
        "succeed_with_changes",
        "fail_without_changes",
        "fail_with_changes",
    ];

    fn parse(name: &str) -> Option<TestOutcome> {
        Some(match name {
            "nop" => TestOutcome::Nop,
            "succeed_without_changes" => TestOutcome::SucceedWithoutChanges,
            "succeed_with_changes" => TestOutcome::SucceedWithChanges,
            "fail_without_changes" => TestOutcome::FailWithoutChanges,
            "fail_with_changes" => TestOutcome::FailWithChanges,
            _ => return None,
        })
    }
}

/// A step whose arguments are wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}, step `{id}`: {message}")]
pub struct StepError {
    pub file: String,
    pub id: String,
    pub message: String,
}

impl Step {
    /// Type the compiled chunks, in order.
    pub fn from_chunks(chunks: Vec<Chunk>) -> Result<Vec<Step>, StepError> {
        chunks.into_iter().map(Step::from_chunk).collect()
    }

    fn from_chunk(chunk: Chunk) -> Result<Step, StepError> {
        let err = |message: String| StepError {
            file: chunk.file.clone(),
            id: chunk.id.clone(),
            message,
        };
        if let Some((kind, _)) = chunk
            .requisites
            .iter()
            .find(|(k, _)| matches!(k, Kind::Prereq | Kind::Listen))
        {
            return Err(err(format!(
                "`{}` is not supported between orchestration steps (use require, watch, onchanges or onfail)",
                kind.name()
            )));
        }
        let mut args = Args {
            map: chunk.args.clone(),
            err: &err,
        };
        let parallel = args.bool("parallel")?.unwrap_or(false);
        let action = match (chunk.module.as_str(), chunk.function.as_str()) {
            ("salt", "state") => Action::Hosts(Box::new(state_step(&mut args)?)),
            ("salt", "function") => Action::Hosts(Box::new(function_step(&mut args, &chunk.name)?)),
            ("test", f) => Action::Test(
                TestOutcome::parse(f).ok_or_else(|| err(format!("unknown function `test.{f}`")))?,
                args.scalar_text("comment")?,
            ),
            (m, f) => return Err(err(format!("`{m}.{f}` is not an orchestration step"))),
        };
        Ok(Step {
            function: format!("{}.{}", chunk.module, chunk.function),
            failhard: chunk.globals.failhard.unwrap_or(false),
            id: chunk.id,
            name: chunk.name,
            sls: chunk.sls,
            file: chunk.file,
            action,
            requisites: chunk.requisites,
            parallel,
        })
    }
}

/// `salt.state`: `sls` (a name, a list or a comma-separated string) or
/// `highstate: True`.
fn state_step(a: &mut Args<'_>) -> Result<HostStep, StepError> {
    let sls = match a.take("sls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.split(',').map(|s| s.trim().to_string()).collect(),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err((a.err)(format!("`sls` lists {other}, expected SLS names"))),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err((a.err)(format!("`sls` is {other}, expected SLS names"))),
    };
    let highstate = a.bool("highstate")?.unwrap_or(false);
    match (sls.is_empty(), highstate) {
        (true, false) => {
            return Err((a.err)(
                "salt.state needs `sls` or `highstate: True` (Salt: \"No highstate or sls specified, no execution made\")"
                    .into(),
            ))
        }
        (false, true) => {
            return Err((a.err)(
                "give `sls` or `highstate: True`, not both".into(),
            ))
        }
        _ => {}
    }
    let mut kwargs = Map::new();
    if let Some(p) = a.take("pillar") {
        if !p.is_object() {
            return Err((a.err)(format!("`pillar` is {p}, expected a mapping")));
        }
        kwargs.insert("pillar".into(), p);
    }
    let mut step = host_step(a, "state.apply".into())?;
    step.test = a.bool("test")?.unwrap_or(false);
    step.is_state = true;
    if !sls.is_empty() {
        step.positional = vec![Value::String(sls.join(","))];
    }
    step.kwargs = kwargs;
    Ok(step)
}

/// `salt.function`: `name` is the function, `arg` its positionals,
/// `kwarg` its keyword arguments.
fn function_step(a: &mut Args<'_>, name: &str) -> Result<HostStep, StepError> {
    let positional = match a.take("arg") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        // Salt warns and splits a string on whitespace; a list is meant.
        Some(other) => {
            return Err((a.err)(format!(
                "`arg` is {other}, expected a list of arguments"
            )))
        }
    };
    let kwargs = match a.take("kwarg") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(other) => return Err((a.err)(format!("`kwarg` is {other}, expected a mapping"))),
    };
    let mut step = host_step(a, name.to_string())?;
    step.positional = positional;
    step.kwargs = kwargs;
    Ok(step)
}

/// The arguments both host steps take.
fn host_step(a: &mut Args<'_>, function: String) -> Result<HostStep, StepError> {
    let tgt = match a.take("tgt") {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => return Err((a.err)(format!("`tgt` is {other}, expected a target"))),
        None => return Err((a.err)("`tgt` is required".into())),
    };
    let tgt_type = match a.take("tgt_type") {
        None => TargetType::Glob,
        Some(Value::String(s)) => TargetType::from_name(&s).ok_or_else(|| {
            (a.err)(format!(
                "unknown tgt_type `{s}` (glob, pcre, list, grain, grain_pcre, pillar, pillar_pcre, ipcidr, nodegroup, compound)"
            ))
        })?,
        Some(other) => return Err((a.err)(format!("`tgt_type` is {other}, expected a name"))),
    };
    let batch = match a.scalar_text("batch")? {
        None => None,
        Some(b) => Some(b.parse::<BatchPlan>().map_err(|e| (a.err)(e))?),
    };
    let max_fail = match a.scalar_text("max_fail")? {
        None => None,
        Some(m) => Some(m.parse::<MaxFail>().map_err(|e| (a.err)(e))?),
    };
    let verify = a.scalar_text("verify")?;
    let fail_minions = match a.take("fail_minions") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.split(',').map(|s| s.trim().to_string()).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect(),
        Some(other) => {
            return Err((a.err)(format!(
                "`fail_minions` is {other}, expected a list or a comma-separated string"
            )))
        }
    };
    let expect_minions = a.bool("expect_minions")?.unwrap_or(true);
    Ok(HostStep {
        tgt,
        tgt_type,
        function,
        positional: Vec::new(),
        kwargs: Map::new(),
        batch,
        max_fail,
        verify,
        fail_minions,
        is_state: false,
        test: false,
        expect_minions,
    })
}

/// A step's arguments, taken one by one.
struct Args<'a> {
    map: Map<String, Value>,
    err: &'a dyn Fn(String) -> StepError,
}

impl Args<'_> {
    fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    fn bool(&mut self, key: &str) -> Result<Option<bool>, StepError> {
        match self.take(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(other) => Err((self.err)(format!(
                "`{key}` is {other}, expected True or False"
            ))),
        }
    }

    /// A string or number argument as text (`batch: 10`, `batch: '25%'`).
    fn scalar_text(&mut self, key: &str) -> Result<Option<String>, StepError> {
        match self.take(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err((self.err)(format!("`{key}` is {other}, expected a value"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chunk(module: &str, function: &str, name: &str, args: Value) -> Chunk {
        Chunk {
            file: "orch/deploy.sls".into(),
            sls: "orch.deploy".into(),
            ..Chunk::standalone(module, function, name, args)
        }
    }

    #[test]
    fn salt_state_becomes_state_apply_on_its_target() {
        let s = Step::from_chunk(chunk(
            "salt",
            "state",
            "db",
            json!({"tgt": "G@role:db", "tgt_type": "compound", "sls": ["db", "db.migrate"],
                   "pillar": {"release": 2}, "batch": "1,50%", "fail_minions": "db3, db4",
                   "max_fail": 1, "verify": "pg_isready", "parallel": true}),
        ))
        .unwrap();
        assert!(s.parallel);
        let Action::Hosts(h) = s.action else { panic!() };
        assert_eq!(h.function, "state.apply");
        assert_eq!(h.tgt_type, TargetType::Compound);
        assert_eq!(h.positional, vec![json!("db,db.migrate")]);
        assert_eq!(h.kwargs["pillar"], json!({"release": 2}));
        assert_eq!(h.batch.unwrap().to_string(), "1,50%");
        assert_eq!(h.fail_minions, vec!["db3", "db4"]);
        assert_eq!(h.verify.as_deref(), Some("pg_isready"));
        assert!(h.is_state && h.expect_minions);
    }

    #[test]
    fn salt_function_takes_its_name_arg_and_kwarg() {
        let s = Step::from_chunk(chunk(
            "salt",
            "function",
            "cmd.run",
            json!({"tgt": ["web1", "web2"], "tgt_type": "list", "arg": ["echo hi"],
                   "kwarg": {"cwd": "/tmp"}}),
        ))
        .unwrap();
        let Action::Hosts(h) = s.action else { panic!() };
        assert_eq!(h.function, "cmd.run");
        assert_eq!(h.tgt, "web1,web2");
        assert_eq!(h.positional, vec![json!("echo hi")]);
        assert_eq!(h.kwargs["cwd"], json!("/tmp"));
        assert!(!h.is_state);
    }

    #[test]
    fn wrong_arguments_name_the_file_step_and_argument() {
        let e = |module, function, args| {
            Step::from_chunk(chunk(module, function, "x", args))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            e("salt", "state", json!({"tgt": "*"})),
            "orch/deploy.sls, step `x`: salt.state needs `sls` or `highstate: True` (Salt: \"No highstate or sls specified, no execution made\")"
        );
        assert!(e("salt", "state", json!({"sls": "a"})).contains("`tgt` is required"));
        assert!(e(
            "salt",
            "state",
            json!({"tgt": "*", "sls": "a", "tgt_type": "regex"})
        )
        .contains("unknown tgt_type `regex`"));
        assert!(e(
            "salt",
            "state",
            json!({"tgt": "*", "sls": "a", "batch": "0"})
        )
        .contains("invalid batch size"));
        assert!(e("salt", "function", json!({"tgt": "*", "arg": "echo hi"}))
            .contains("`arg` is \"echo hi\", expected a list"));
        assert!(e(
            "salt",
            "state",
            json!({"tgt": "*", "sls": "a", "test": "yes"})
        )
        .contains("`test` is \"yes\", expected True or False"));
    }

    #[test]
    fn prereq_between_steps_is_refused() {
        let mut c = chunk("test", "nop", "x", json!({}));
        c.requisites.push((Kind::Prereq, 0));
        assert!(Step::from_chunk(c)
            .unwrap_err()
            .message
            .contains("`prereq` is not supported"));
    }
}
