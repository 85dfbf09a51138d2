//! Walk the steps in order: gate each one on its requisites, run host steps
//! through the [`StepRunner`], and shape every result as Salt's
//! orchestrate does (`salt.state`, `salt.function`, `test.*` returns).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::{json, Map, Value};

use super::gate::{gate, Gate, Seen};
use super::step::{Action, HostStep, Step, TestOutcome};
use crate::fleet::{HostResult, Status};
use crate::state::Kind;

/// One host step to run, in test mode or not.
#[derive(Debug, Clone)]
pub struct StepRequest {
    pub id: String,
    pub host: HostStep,
    pub test: bool,
}

/// What a host step did.
#[derive(Debug, Clone, Default)]
pub struct StepRun {
    /// The step's own job id.
    pub jid: Option<String>,
    pub results: BTreeMap<String, HostResult>,
    /// Why it did not run at all (no host matched, an argument the
    /// function refuses): the step fails with this comment.
    pub refused: Option<String>,
    pub interrupted: bool,
}

/// Runs host steps: the CLI's run pipeline (targeting, batches, verify,
/// job cache, printing).
pub trait StepRunner {
    fn run(&self, req: StepRequest) -> Pin<Box<dyn Future<Output = StepRun> + '_>>;
}

/// How an orchestration ended.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Salt's shape, in step order: `{"salt_|-ID_|-NAME_|-state": {...}}`.
    pub ret: Map<String, Value>,
    /// Each step's job id, in step order (`None`: ran no host command).
    pub jids: Vec<(String, Option<String>)>,
    /// Every step that ran succeeded (test mode: none failed).
    pub success: bool,
    pub interrupted: bool,
}

/// A step's outcome.
struct Done {
    seen: Seen,
    ran: bool,
    ret: Value,
    jid: Option<String>,
    interrupted: bool,
}

/// A recorded orchestration to resume: each step's return by step ID, and
/// the job id of that run.
#[derive(Debug, Clone)]
pub struct Resume {
    pub jid: String,
    pub steps: BTreeMap<String, Value>,
}

impl Resume {
    /// Read the `ret` of an orchestration's recorded result.
    pub fn from_ret(jid: &str, ret: &Value) -> Resume {
        let steps = ret
            .as_object()
            .map(|m| {
                m.values()
                    .filter_map(|r| Some((r["__id__"].as_str()?.to_string(), r.clone())))
                    .collect()
            })
            .unwrap_or_default();
        Resume {
            jid: jid.to_string(),
            steps,
        }
    }

    /// How many leading steps of `steps` succeeded in the recorded run:
    /// the run resumes after them, at the first step that failed, did not
    /// run, or is new. When the recorded run ran an `onfail` step (a
    /// rollback), nothing is kept: the rollback may have undone what the
    /// steps before the failure did, so the resumed run starts over.
    fn kept(&self, steps: &[Step]) -> usize {
        let rolled_back = steps.iter().any(|s| {
            s.requisites
                .iter()
                .any(|(k, _)| matches!(k, Kind::Onfail | Kind::OnfailAny | Kind::OnfailAll))
                && self.steps.get(&s.id).is_some_and(|r| {
                    r.get("__state_ran__").is_none() && r.get("__not_run__").is_none()
                })
        });
        if rolled_back {
            return 0;
        }
        steps
            .iter()
            .position(|s| match self.steps.get(&s.id) {
                Some(r) => r["result"] != json!(true) || r.get("__not_run__").is_some(),
                None => true,
            })
            .unwrap_or(steps.len())
    }
}

/// Run `steps` (compiled order) through `runner`. `test`: every step in
/// test mode. `resume`: the steps a recorded run already completed, from
/// the first, are kept as recorded, not run again.
pub async fn execute(
    steps: &[Step],
    runner: &dyn StepRunner,
    test: bool,
    resume: Option<&Resume>,
) -> Finished {
    let mut done: Vec<Option<Done>> = (0..steps.len()).map(|_| None).collect();
    let mut stop: Option<String> = None;
    let mut i = 0;
    if let Some(r) = resume {
        i = r.kept(steps);
        for (j, step) in steps.iter().enumerate().take(i) {
            done[j] = Some(recorded(&r.steps[&step.id], &r.jid));
        }
    }
    while i < steps.len() {
        // A run of consecutive `parallel: True` steps goes at once.
        let end = if steps[i].parallel {
            (i..steps.len())
                .find(|&j| !steps[j].parallel)
                .unwrap_or(steps.len())
        } else {
            i + 1
        };
        if let Some(why) = &stop {
            for (j, slot) in done.iter_mut().enumerate().take(end).skip(i) {
                *slot = Some(not_run(&steps[j], why));
            }
        } else {
            run_group(steps, i..end, runner, test, &mut done).await;
            if let Some(j) = (i..end).find(|&j| stops(&steps[j], done[j].as_ref(), test)) {
                stop = Some(match done[j].as_ref().is_some_and(|d| d.interrupted) {
                    true => "interrupted by Ctrl-C".to_string(),
                    false => format!("failhard: `{}` failed", steps[j].id),
                });
            }
        }
        i = end;
    }
    finish(steps, done)
}

/// A failed step with `failhard`, or an interrupted one, stops the rest.
/// In test mode failhard stops nothing (as in Salt): the prediction goes on.
fn stops(step: &Step, done: Option<&Done>, test: bool) -> bool {
    done.is_some_and(|d| {
        d.interrupted || (!test && step.failhard && d.ran && d.seen.result == Some(false))
    })
}

/// Run `group` (one step, or consecutive parallel steps, each starting as
/// soon as the steps it requires have finished).
async fn run_group(
    steps: &[Step],
    group: std::ops::Range<usize>,
    runner: &dyn StepRunner,
    test: bool,
    done: &mut [Option<Done>],
) {
    let mut waiting: Vec<usize> = group.collect();
    let mut running = FuturesUnordered::new();
    loop {
        let ready: Vec<usize> = waiting
            .iter()
            .copied()
            .filter(|&j| {
                steps[j]
                    .requisites
                    .iter()
                    .all(|(_, r)| done.get(*r).is_some_and(Option::is_some))
            })
            .collect();
        waiting.retain(|j| !ready.contains(j));
        for j in ready {
            let seen: Vec<Option<Seen>> = done.iter().map(|d| d.as_ref().map(|d| d.seen)).collect();
            match gate(steps, j, &seen, test) {
                Gate::Skip { result, comment } => {
                    done[j] = Some(skipped(&steps[j], result, comment));
                }
                Gate::Run { note } => {
                    let watched = watched_changes(steps, j, &seen);
                    running.push(async move {
                        let d = run_step(&steps[j], runner, test, note).await;
                        (j, watch_fired(&steps[j], d, watched))
                    })
                }
            }
        }
        // Skips may have made more steps ready.
        if running.is_empty() {
            if waiting.is_empty() {
                return;
            }
            if !waiting.iter().any(|&j| {
                steps[j]
                    .requisites
                    .iter()
                    .all(|(_, r)| done.get(*r).is_some_and(Option::is_some))
            }) {
                // Requires a later step: the compiler's order rules this out.
                for j in waiting {
                    done[j] = Some(skipped(
                        &steps[j],
                        false,
                        "a required step never finished".into(),
                    ));
                }
                return;
            }
            continue;
        }
        if let Some((j, d)) = running.next().await {
            done[j] = Some(d);
        }
    }
}

/// The `watch`ed steps that changed, as Salt lists them (`test: ID`).
fn watched_changes(steps: &[Step], i: usize, seen: &[Option<Seen>]) -> Vec<String> {
    steps[i]
        .requisites
        .iter()
        .filter(|(k, _)| matches!(k, Kind::Watch | Kind::WatchAny))
        .filter(|(_, j)| seen.get(*j).copied().flatten().is_some_and(|s| s.changed))
        .map(|(_, j)| {
            let module = steps[*j].function.split('.').next().unwrap_or_default();
            format!("{module}: {}", steps[*j].id)
        })
        .collect()
}

/// A `test.*` step watching a step that changed, and making no change
/// itself, reacts as Salt's `test.mod_watch` does. (`salt.state` and
/// `salt.function` have no watch reaction in Salt: there `watch` is
/// `require`.)
fn watch_fired(step: &Step, mut d: Done, watched: Vec<String>) -> Done {
    let Action::Test(_, comment) = &step.action else {
        return d;
    };
    if watched.is_empty() || d.seen.changed || d.seen.result == Some(false) {
        return d;
    }
    let comment = comment.as_deref().unwrap_or("Watch statement fired.");
    d.ret["result"] = json!(true);
    d.ret["comment"] = json!(comment);
    d.ret["changes"] = json!({"Requisites with changes": watched});
    d.seen = Seen {
        result: Some(true),
        changed: true,
    };
    d
}

/// Run one step that the gate let through.
async fn run_step(step: &Step, runner: &dyn StepRunner, test: bool, note: Option<String>) -> Done {
    let started = Instant::now();
    let mut d = match &step.action {
        Action::Test(t, comment) => test_state(step, *t, comment.as_deref(), test),
        Action::Hosts(h) if !h.is_state && test => Done {
            seen: Seen {
                result: None,
                changed: false,
            },
            ran: false,
            ret: ret(
                step,
                None,
                format!(
                    "Function {} would be executed on target {}",
                    h.function, h.tgt
                ),
                json!({}),
            ),
            jid: None,
            interrupted: false,
        },
        Action::Hosts(h) => {
            let req = StepRequest {
                id: step.id.clone(),
                host: (**h).clone(),
                test: test || h.test,
            };
            let run = runner.run(req).await;
            host_done(step, h, run, test || h.test)
        }
    };
    // Only a prediction made on hosts can be off; a function step in test
    // mode predicts nothing.
    let predicted = matches!(&step.action, Action::Hosts(h) if h.is_state);
    if let (Some(note), true, Some(obj)) = (note, predicted, d.ret.as_object_mut()) {
        let comment = obj["comment"].as_str().unwrap_or_default().to_string();
        obj["comment"] = json!(format!("{comment}\n{note}"));
    }
    if let Some(obj) = d.ret.as_object_mut() {
        obj.insert(
            "duration".into(),
            json!((started.elapsed().as_secs_f64() * 1e6).round() / 1e3),
        );
    }
    d
}

/// Salt's return dict for a step.
fn ret(step: &Step, result: Option<bool>, comment: String, changes: Value) -> Value {
    json!({
        "name": step.name,
        "function": step.function,
        "result": result,
        "comment": comment,
        "changes": changes,
        "__id__": step.id,
        "__sls__": step.sls,
    })
}

/// A step kept from the run being resumed.
fn recorded(ret: &Value, jid: &str) -> Done {
    let mut ret = ret.clone();
    ret["__resumed_from__"] = json!(jid);
    Done {
        seen: Seen {
            result: Some(true),
            changed: ret["changes"].as_object().is_some_and(|c| !c.is_empty()),
        },
        ran: false,
        jid: ret["__jid__"].as_str().map(str::to_string),
        ret,
        interrupted: false,
    }
}

fn skipped(step: &Step, result: bool, comment: String) -> Done {
    let mut ret = ret(step, Some(result), comment, json!({}));
    ret["__state_ran__"] = json!(false);
    Done {
        seen: Seen {
            result: Some(result),
            changed: false,
        },
        ran: false,
        ret,
        jid: None,
        interrupted: false,
    }
}

fn not_run(step: &Step, why: &str) -> Done {
    let mut d = skipped(step, false, format!("Not run: {why}"));
    d.ret["__not_run__"] = json!(true);
    d
}

/// `test.*`, with Salt's comments (test mode included; `comment` replaces
/// "Success!" / "Failure!").
fn test_state(step: &Step, t: TestOutcome, comment: Option<&str>, test: bool) -> Done {
    let pretend = json!({"testing": {"old": "Unchanged", "new": "Something pretended to change"}});
    let (result, fixed, changes) = match (t, test) {
        (TestOutcome::Nop | TestOutcome::SucceedWithoutChanges, _) => {
            (Some(true), "Success!", json!({}))
        }
        (TestOutcome::SucceedWithChanges, false) => (Some(true), "Success!", pretend),
        (TestOutcome::SucceedWithChanges, true) => (
            None,
            "If we weren't testing, this would be successful with changes",
            pretend,
        ),
        (TestOutcome::FailWithoutChanges, false) => (Some(false), "Failure!", json!({})),
        (TestOutcome::FailWithoutChanges, true) => (
            Some(false),
            "If we weren't testing, this would be a failure!",
            json!({}),
        ),
        (TestOutcome::FailWithChanges, false) => (Some(false), "Failure!", pretend),
        (TestOutcome::FailWithChanges, true) => (
            None,
            "If we weren't testing, this would be failed with changes",
            pretend,
        ),
    };
    let changed = changes.as_object().is_some_and(|m| !m.is_empty());
    let comment = match comment {
        Some(mine) if matches!(fixed, "Success!" | "Failure!") => mine,
        _ => fixed,
    };
    Done {
        seen: Seen { result, changed },
        ran: true,
        ret: ret(step, result, comment.to_string(), changes),
        jid: None,
        interrupted: false,
    }
}

/// A state run's return on one host has a state with changes.
fn has_changes(ret: &Value) -> bool {
    ret.as_object().is_some_and(|m| {
        m.values()
            .any(|s| s["changes"].as_object().is_some_and(|c| !c.is_empty()))
    })
}

/// Shape a host step's outcome as Salt's `salt.state` / `salt.function`.
fn host_done(step: &Step, h: &HostStep, run: StepRun, test: bool) -> Done {
    let mut d = Done {
        seen: Seen {
            result: Some(false),
            changed: false,
        },
        ran: true,
        ret: Value::Null,
        jid: run.jid.clone(),
        interrupted: run.interrupted,
    };
    if let Some(why) = run.refused {
        let ok = !h.expect_minions && why.starts_with("no host");
        d.seen.result = Some(ok);
        d.ret = ret(step, Some(ok), why, json!({}));
        return d;
    }
    let t = Tally::of(h, &run);
    let failed = !t.fail.is_empty() || run.interrupted;
    let comment = t.comment(h, failed, run.interrupted);
    let state_changes = h.is_state && run.results.values().any(|r| has_changes(&r.ret));
    d.seen.changed = if h.is_state {
        state_changes
    } else {
        !t.changes.is_empty()
    };
    let result = match (failed, test && state_changes) {
        (true, _) => Some(false),
        (false, true) => None,
        (false, false) => Some(true),
    };
    d.seen.result = result;
    let changes = match (t.changes.is_empty(), h.is_state) {
        (true, _) => json!({}),
        (false, true) => json!({"out": "highstate", "ret": t.changes}),
        (false, false) => json!({"ret": t.changes}),
    };
    d.ret = ret(step, result, comment, changes);
    if let Some(jid) = &run.jid {
        d.ret["__jid__"] = json!(jid);
    }
    d
}

/// The hosts of a host step, sorted as Salt's `salt.state` /
/// `salt.function` sort them.
struct Tally {
    /// Failed hosts and, for a state step, hosts with changes (every host
    /// for a function step): their returns.
    changes: Map<String, Value>,
    /// Failed hosts not in `fail_minions`.
    fail: Vec<String>,
    /// Why each of those failed, when the host said.
    details: Vec<String>,
    /// State step hosts that changed nothing.
    unchanged: Vec<String>,
}

impl Tally {
    fn of(h: &HostStep, run: &StepRun) -> Tally {
        let mut t = Tally {
            changes: Map::new(),
            fail: Vec::new(),
            details: Vec::new(),
            unchanged: Vec::new(),
        };
        for (id, r) in &run.results {
            if r.status != Status::Ok {
                if !h.fail_minions.iter().any(|m| m == id) {
                    t.fail.push(id.clone());
                    if let Some(e) = &r.error {
                        t.details
                            .push(format!("{id}: {} ({})", e, r.status.as_str()));
                    }
                }
                t.changes.insert(id.clone(), r.ret.clone());
            } else if !h.is_state || has_changes(&r.ret) {
                t.changes.insert(id.clone(), r.ret.clone());
            } else {
                t.unchanged.push(id.clone());
            }
        }
        t
    }

    /// Salt's comment for the step.
    fn comment(&self, h: &HostStep, failed: bool, interrupted: bool) -> String {
        let mut comment = match (h.is_state, failed) {
            (true, true) => format!("Run failed on minions: {}", self.fail.join(", ")),
            (true, false) => "States ran successfully.".to_string(),
            (false, true) => format!(
                "Running function {} failed on minions: {}",
                h.function,
                self.fail.join(", ")
            ),
            (false, false) => "Function ran successfully.".to_string(),
        };
        if interrupted {
            comment.push_str(" (interrupted by Ctrl-C)");
        }
        if failed && !self.details.is_empty() {
            comment.push('\n');
            comment.push_str(&self.details.join("\n"));
        }
        let changed: Vec<&str> = self.changes.keys().map(String::as_str).collect();
        if !failed && h.is_state {
            if !changed.is_empty() {
                comment.push_str(&format!(" Updating {}.", changed.join(", ")));
            }
            if !self.unchanged.is_empty() {
                comment.push_str(&format!(
                    " No changes made to {}.",
                    self.unchanged.join(", ")
                ));
            }
        }
        if !h.is_state && !changed.is_empty() {
            comment.push_str(&format!(
                " Function {} ran on {}.",
                h.function,
                changed.join(", ")
            ));
        }
        comment
    }
}

fn finish(steps: &[Step], done: Vec<Option<Done>>) -> Finished {
    let mut out = Finished {
        ret: Map::new(),
        jids: Vec::new(),
        success: true,
        interrupted: false,
    };
    for (n, (step, d)) in steps.iter().zip(done).enumerate() {
        let d = d.unwrap_or_else(|| not_run(step, "never reached"));
        if d.seen.result == Some(false) {
            out.success = false;
        }
        out.interrupted |= d.interrupted;
        let mut r = d.ret;
        r["__run_num__"] = json!(n);
        let (module, function) = step
            .function
            .split_once('.')
            .unwrap_or((&step.function, ""));
        out.ret.insert(
            format!("{module}_|-{}_|-{}_|-{function}", step.id, step.name),
            r,
        );
        out.jids.push((step.id.clone(), d.jid));
    }
    out
}
