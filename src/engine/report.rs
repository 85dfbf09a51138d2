//! Salt's result shape for every state of a run, from the decisions and
//! what the apply script's output said ([`Sections`]): result, changes,
//! comment, `__run_num__`, and each state's start and duration from the
//! host's uptime.

use std::time::SystemTime;

use serde_json::{json, Map};

use super::plan::deps;
use super::protocol::{Block, Sections};
use super::{Decision, Outcome, State, Status};
use crate::modules::{Output, Plan};
use crate::state::{Chunk, Kind};
use crate::Value;

/// When a state ran and for how long, from the host's uptime at the start
/// and end of its probe, apply and watch blocks (10 ms steps), placed on the
/// controller's clock (the moment the script was sent).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct StateTime {
    started: Option<SystemTime>,
    ms: f64,
}

/// Add what `sec` says about each state's blocks to `times`. A state's
/// start is its apply's start when it was applied, else its probe's.
pub(super) fn add_times(times: &mut [StateTime], sec: &Sections, sent: SystemTime) {
    for ((block, i), (a, b)) in &sec.times {
        let Some(t) = times.get_mut(*i) else { continue };
        t.ms += ((b - a) * 1000.0).max(0.0);
        if let Some(clock) = sec.clock {
            if t.started.is_none() || *block == Block::Apply {
                let offset = std::time::Duration::from_secs_f64((a - clock).max(0.0));
                t.started = Some(sent + offset);
            }
        }
    }
}

/// The key of a state's result: `pkg_|-apache_|-apache_|-installed`.
pub(super) fn state_key(c: &Chunk) -> String {
    format!("{}_|-{}_|-{}_|-{}", c.module, c.id, c.name, c.function)
}

/// A state's result: (result, changes, comment); `None` result is Salt's
/// `None` (test mode: would change).
type Row = (Value, Map<String, Value>, String);

/// Salt's result shape for every state.
pub(super) fn report(
    states: &[State],
    applied: Option<Sections>,
    test: bool,
    times: &[StateTime],
) -> Outcome {
    let mut ret = Map::new();
    let mut success = true;
    for (i, st) in states.iter().enumerate() {
        let c = &st.chunk;
        let (result, changes, comment) = row(st, i, applied.as_ref(), test);
        if result == json!(false) {
            success = false;
        }
        ret.insert(
            state_key(c),
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

/// One state's row, from its decision and the apply's output (if any).
fn row(st: &State, i: usize, applied: Option<&Sections>, test: bool) -> Row {
    match (&st.decision, applied) {
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
        (Decision::Apply(p), None) if test => (Value::Null, p.changes.clone(), p.comment.clone()),
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
        (Decision::Apply(p) | Decision::WatchOnly(p), Some(sec)) => applied_result(st, i, p, sec),
    }
}

/// The row of a state the apply script was to run.
fn applied_result(st: &State, i: usize, plan: &Plan, sec: &Sections) -> Row {
    if sec.skipped.contains(&i) {
        return (
            json!(false),
            Map::new(),
            "One or more requisite failed".into(),
        );
    }
    if sec.untriggered.contains(&i) {
        // Salt's words, as when decided before the run (plan.rs).
        let onchanges = !deps(st, &[Kind::Onchanges, Kind::OnchangesAny]).is_empty();
        return (
            json!(true),
            Map::new(),
            if onchanges {
                "State was not run because none of the onchanges reqs changed"
            } else {
                "State was not run because onfail req did not change"
            }
            .into(),
        );
    }
    if sec.condskipped.contains(&i) {
        return (
            json!(true),
            Map::new(),
            "Not run: its unless / onlyif / creates condition said so when its turn came".into(),
        );
    }
    let apply = sec.block(Block::Apply, i);
    let watch = sec.block(Block::Watch, i);
    let listen = sec.block(Block::Listen, i);
    // Output cut short (or ended) before this state's section or its
    // listen reaction did: the result so far, failed, and why.
    let listens = !deps(st, &[Kind::Listen]).is_empty() && st.function.watch(plan).is_some();
    let note = sec.progress.unfinished(i, listens && listen.is_none());
    if apply.is_none() && watch.is_none() && listen.is_none() {
        return no_output(st, i, plan, sec, note);
    }
    let (mut result, changes, mut comment) = match apply {
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
    let (result, changes, comment) = reactions(watch, listen, (json!(result), changes, comment));
    (result, changes, comment + &note)
}

/// A state planned to change with no block in the output: stopped before
/// it (failhard, a cut), or a watch reaction not called for after all.
fn no_output(st: &State, i: usize, plan: &Plan, sec: &Sections, note: Option<String>) -> Row {
    if sec.failhard.is_some_and(|f| f < i) {
        return (
            json!(false),
            Map::new(),
            "Not run: an earlier state failed with failhard".into(),
        );
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
    (
        json!(false),
        Map::new(),
        "not applied: the apply script stopped before this state".into(),
    )
}

/// A watch or listen reaction noted beside the state's own result.
fn reactions(watch: Option<&(String, i32)>, listen: Option<&(String, i32)>, row: Row) -> Row {
    let (mut result, mut changes, mut comment) = row;
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
            result = json!(false);
            comment = format!("{comment}; {what} failed (exit {rc}): {}", text.trim());
        }
    }
    (result, changes, comment)
}

/// Salt's `start_time`: the local wall-clock time, `HH:MM:SS.ffffff`.
fn start_time(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Local>::from(t)
        .format("%H:%M:%S%.6f")
        .to_string()
}

/// The host's result when an apply script did not run to its end: failed,
/// with why under `__apply__`.
pub(super) fn with_apply_note(mut o: Outcome, comment: String) -> Outcome {
    o.success = false;
    if let Value::Object(m) = &mut o.ret {
        m.insert(
            "__apply__".into(),
            json!({"result": false, "comment": comment, "changes": {}}),
        );
    }
    o
}

impl Outcome {
    /// Whether a failhard state stopped the run.
    pub(super) fn stopped_by_failhard(&self) -> bool {
        self.ret.as_object().is_some_and(|m| {
            m.values().any(|s| {
                s["comment"]
                    .as_str()
                    .is_some_and(|c| c.contains("failhard"))
            })
        })
    }

    /// Each state's status after an apply.
    pub(super) fn statuses(&self, states: &[State]) -> Vec<Status> {
        states
            .iter()
            .map(|st| {
                let r = &self.ret[state_key(&st.chunk)];
                match &r["result"] {
                    Value::Bool(false) => Status::Fail,
                    _ if r["changes"].as_object().is_some_and(|c| !c.is_empty()) => Status::Changed,
                    _ => Status::Ok,
                }
            })
            .collect()
    }

    /// States `which` failed, not applied, for `comment`'s reason.
    pub(super) fn not_applied(&mut self, states: &[State], which: &[usize], comment: &str) {
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
    pub(super) fn replace(&mut self, states: &[State], which: &[usize], other: Outcome) {
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
