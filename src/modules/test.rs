//! `test.*`: states with a fixed outcome that touch nothing, as Salt's
//! `test` state module. Formulas use them as anchors for requisites
//! (`test.nop`), to say something (`test.show_notification`), and tests use
//! them to exercise requisites (`test.succeed_with_changes`...).
//!
//! The outcome is decided when the state is planned, so `test=True`
//! predicts it exactly; where Salt's test mode answers otherwise (a state
//! that will fail reported as succeeding), halite says what the real run
//! will do. The comments are Salt's.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{Applied, BuildCtx, FnDef, ModuleDef, Output, Plan, PlanMismatch, StateFunction};
use crate::state::Chunk;

pub const MODULE: ModuleDef = ModuleDef {
    name: "test",
    functions: &[
        FnDef {
            name: "nop",
            doc: "Do nothing, successfully (an anchor for requisites).",
            args: &[],
            build: |c, _| build(c, Kind::Succeed { changes: false }),
        },
        FnDef {
            name: "succeed_without_changes",
            doc: "Succeed without changes (comment).",
            args: &["comment"],
            build: |c, _| build(c, Kind::Succeed { changes: false }),
        },
        FnDef {
            name: "succeed_with_changes",
            doc: "Succeed with a pretended change (comment).",
            args: &["comment"],
            build: |c, _| build(c, Kind::Succeed { changes: true }),
        },
        FnDef {
            name: "fail_without_changes",
            doc: "Fail without changes (comment).",
            args: &["comment"],
            build: |c, _| build(c, Kind::Fail { changes: false }),
        },
        FnDef {
            name: "fail_with_changes",
            doc: "Fail with a pretended change (comment).",
            args: &["comment"],
            build: |c, _| build(c, Kind::Fail { changes: true }),
        },
        FnDef {
            name: "configurable_test_state",
            doc: "The outcome given: changes (True|False), result (True|False), comment.",
            args: &[
                "changes",
                "result",
                "comment",
                "warnings",
                "allow_test_mode_failure",
            ],
            build: build_configurable,
        },
        FnDef {
            name: "show_notification",
            doc: "Succeed without changes, with `text` as the comment.",
            args: &["text"],
            build: build_notification,
        },
    ],
    ledger: &[],
};

#[derive(Debug, Clone, Copy)]
enum Kind {
    Succeed { changes: bool },
    Fail { changes: bool },
}

#[derive(Debug)]
struct TestState {
    kind: Kind,
    /// The comment of the real run (Salt's "Success!" / "Failure!" unless given).
    comment: String,
    /// The comment of a test run that would change (Salt's wording).
    predicted: String,
}

fn pretended() -> Value {
    json!({"testing": {"old": "Unchanged", "new": "Something pretended to change"}})
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentArgs {
    comment: Option<String>,
}

fn build(chunk: &Chunk, kind: Kind) -> Result<Box<dyn StateFunction>, String> {
    let a: CommentArgs = super::typed_args(chunk)?;
    let (comment, predicted) = match kind {
        Kind::Succeed { .. } => (
            "Success!",
            "If we weren't testing, this would be successful with changes",
        ),
        Kind::Fail { .. } => (
            "Failure!",
            "If we weren't testing, this would be failed with changes",
        ),
    };
    Ok(Box::new(TestState {
        kind,
        comment: a.comment.unwrap_or_else(|| comment.to_string()),
        predicted: predicted.to_string(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Configurable {
    changes: Option<Value>,
    result: Option<Value>,
    comment: Option<String>,
    warnings: Option<Value>,
    allow_test_mode_failure: Option<bool>,
}

fn build_configurable(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: Configurable = super::typed_args(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    // Salt also takes "Random"; a run halite cannot predict is refused.
    let flag = |what: &str, v: Option<Value>| {
        match v {
        None => Ok(true),
        Some(Value::Bool(b)) => Ok(b),
        Some(other) => Err(err(format!(
            "`{what}` is {other}: True or False (Salt's \"Random\" is refused: test=True could not predict it)"
        ))),
    }
    };
    let changes = flag("changes", a.changes)?;
    let result = flag("result", a.result)?;
    match a.warnings {
        None | Some(Value::Null) => {}
        Some(_) => {
            return Err(err(
                "`warnings` is not supported (halite has no per-state warnings)".into(),
            ))
        }
    }
    // Salt's `allow_test_mode_failure: True` is what halite always does:
    // a state that will fail is predicted failing.
    let _always = a.allow_test_mode_failure;
    let comment = a.comment.unwrap_or_default();
    let kind = if result {
        Kind::Succeed { changes }
    } else {
        Kind::Fail { changes }
    };
    Ok(Box::new(TestState {
        kind,
        predicted: if comment.is_empty() {
            "This is a test".into()
        } else {
            comment.clone()
        },
        comment,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotificationArgs {
    text: Option<String>,
}

fn build_notification(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: NotificationArgs = super::typed_args(chunk)?;
    match a.text {
        Some(text) if !text.is_empty() => Ok(Box::new(TestState {
            kind: Kind::Succeed { changes: false },
            predicted: text.clone(),
            comment: text,
        })),
        _ => Err(format!(
            "{}: Missing required argument text.",
            chunk.describe()
        )),
    }
}

impl StateFunction for TestState {
    fn probe(&self) -> String {
        ":".into()
    }

    fn plan(&self, _: Output) -> Result<Plan, String> {
        match self.kind {
            Kind::Succeed { changes: false } => Ok(Plan::noop(self.comment.clone())),
            Kind::Fail { changes: false } => Err(self.comment.clone()),
            Kind::Succeed { changes: true } | Kind::Fail { changes: true } => {
                Ok(Plan::change(pretended(), self.predicted.clone()))
            }
        }
    }

    fn plan_reads_host(&self) -> bool {
        false
    }

    fn apply(&self, _: &Plan) -> Result<String, PlanMismatch> {
        Ok(":".into())
    }

    fn finish(&self, plan: &Plan, _: Output) -> Applied {
        Applied {
            result: matches!(self.kind, Kind::Succeed { .. }),
            changes: plan.changes.clone(),
            comment: self.comment.clone(),
        }
    }
}
