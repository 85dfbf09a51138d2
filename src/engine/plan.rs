//! Phase 3, on the controller: each state's pure plan from the facts its
//! probe gathered, with the requisites decided where the plans decide them
//! (onchanges, onfail, prereq, watch). `test=True` stops after this phase:
//! the decisions are the prediction.

use super::protocol::{Block, Cond, Sections};
use super::{Decision, State};
use crate::modules::Output;
use crate::state::Kind;

/// The requisites that order a state after others.
const ORDERING: [Kind; 5] = [
    Kind::Require,
    Kind::Watch,
    Kind::Onchanges,
    Kind::OnchangesAny,
    Kind::Prereq,
];

/// Requisites of state `st` of `kind`s, as indexes.
pub(super) fn deps(st: &State, kinds: &[Kind]) -> Vec<usize> {
    st.chunk
        .requisites
        .iter()
        .filter(|(k, _)| kinds.contains(k))
        .map(|(_, j)| *j)
        .collect()
}

/// The decision says the state changes something (or may, once planned).
pub(super) fn planned_change(d: &Decision) -> bool {
    matches!(
        d,
        Decision::Apply(_) | Decision::WatchOnly(_) | Decision::Deferred(_)
    )
}

/// Decide the states `which`, in order, from `facts`; `allow_defer`: the
/// first round, where a state may wait for what runs before it.
pub(super) fn decide_all(
    states: &mut [State],
    which: impl IntoIterator<Item = usize>,
    facts: &Sections,
    allow_defer: bool,
) {
    for i in which {
        let decision = decide(states, i, facts, allow_defer);
        states[i].decision = decision;
    }
}

/// What happens to state `i`, given the decisions before it.
pub(super) fn decide(states: &[State], i: usize, facts: &Sections, allow_defer: bool) -> Decision {
    let st = &states[i];
    if let Some(d) = unsupported_conditions(st) {
        return d;
    }
    if allow_defer {
        if let Some(d) = waits(states, i) {
            return d;
        }
    }
    if let Some(d) = conditions(facts, i).or_else(|| requisites(states, i)) {
        return d;
    }
    let (text, rc) = match facts.block(Block::Probe, i) {
        Some((t, rc)) => (t.as_str(), *rc),
        None => return Decision::Failed("the gather script did not reach this state".into()),
    };
    let plan = match st.function.plan(Output { text, rc }) {
        Ok(p) => p,
        // What it needs may be made by a state that runs before it: one it
        // requires (a package brings its service unit) or simply an earlier
        // one in order (a directory for a symlink), as Salt, which runs
        // states one after the other, would see it. Decide again once
        // those have run.
        Err(e) if allow_defer && st.function.plan_reads_host() && earlier_changes(states, i) => {
            return Decision::Deferred(e)
        }
        Err(e) => return Decision::Failed(e),
    };
    // prereq: this state runs only when its target would change.
    if !deps(st, &[Kind::Prereq]).is_empty() && !prereq_changes(states, i, facts) {
        return Decision::Done("No changes detected: the prereq target would not change".into());
    }
    // A plan must carry what its module applies: a mismatch (a bug) fails
    // the state here, before anything runs; never an empty apply.
    if !plan.is_noop() {
        if let Err(e) = st.function.apply(&plan).and(st.function.removes(&plan)) {
            return Decision::Failed(e.to_string());
        }
    }
    let watched = deps(st, &[Kind::Watch, Kind::WatchAny, Kind::Listen]);
    let watch_fires = watched.iter().any(|j| planned_change(&states[*j].decision));
    if !plan.is_noop() {
        Decision::Apply(plan)
    } else if watch_fires && st.function.watch(&plan).is_some() {
        Decision::WatchOnly(plan)
    } else {
        Decision::Done(plan.comment)
    }
}

/// A state after a deferred one waits for it, so the order holds; two
/// states of one module on the same name (two edits of one file) are
/// planned in order: the later one from what the earlier one leaves.
fn waits(states: &[State], i: usize) -> Option<Decision> {
    let st = &states[i];
    if let Some(j) = deps(st, &ORDERING)
        .into_iter()
        .find(|j| matches!(states[*j].decision, Decision::Deferred(_)))
    {
        return Some(Decision::Deferred(format!(
            "waits for {}",
            states[j].chunk.describe()
        )));
    }
    // A plan that reads nothing from the host cannot depend on what the
    // earlier state leaves (`module.run`'s name is a function, not a thing).
    if !st.function.plan_reads_host() {
        return None;
    }
    let j = (0..i).find(|&j| {
        let o = &states[j];
        o.chunk.module == st.chunk.module
            && o.chunk.name == st.chunk.name
            && planned_change(&o.decision)
    })?;
    Some(Decision::Deferred(format!(
        "waits for {}, which changes the same {}",
        states[j].chunk.describe(),
        st.chunk.module
    )))
}

/// An `unless` / `onlyif` entry that is not a shell command (Salt's
/// `fun:` form, a bare boolean): the scripts cannot check it, so the state
/// fails rather than run as if the condition were not there.
fn unsupported_conditions(st: &State) -> Option<Decision> {
    let g = &st.chunk.globals;
    [("unless", &g.unless), ("onlyif", &g.onlyif)]
        .into_iter()
        .find_map(|(name, list)| Some((name, list.iter().find(|v| !v.is_string())?)))
        .map(|(name, v)| {
            Decision::Failed(format!(
                "`{name}: {v}` cannot be checked: halite runs `{name}` entries as shell commands only (not Salt's `fun:` form); the state was not run"
            ))
        })
}

/// unless / onlyif / creates, as Salt words them.
fn conditions(facts: &Sections, i: usize) -> Option<Decision> {
    let said = facts.conditions.get(&i).map(Vec::as_slice).unwrap_or(&[]);
    said.iter().find_map(|(cond, rc)| match (cond, *rc) {
        (Cond::Unless, 0) => Some(Decision::Done("unless condition is true".into())),
        (Cond::Onlyif, rc) if rc != 0 => Some(Decision::Done("onlyif condition is false".into())),
        (Cond::Creates, 0) => Some(Decision::Done("All files in creates exist".into())),
        _ => None,
    })
}

/// require / watch on a failed state, onchanges without a change, onfail
/// without a failure.
fn requisites(states: &[State], i: usize) -> Option<Decision> {
    let st = &states[i];
    // Salt's words: each failed requisite as `SLS.ID`.
    let failed: Vec<String> = deps(st, &[Kind::Require, Kind::Watch])
        .into_iter()
        .filter(|j| matches!(states[*j].decision, Decision::Failed(_)))
        .map(|j| format!("{}.{}", states[j].chunk.sls, states[j].chunk.id))
        .collect();
    if !failed.is_empty() {
        return Some(Decision::Failed(format!(
            "One or more requisite failed: {}",
            failed.join(", ")
        )));
    }
    let onchanges = deps(st, &[Kind::Onchanges, Kind::OnchangesAny]);
    if !onchanges.is_empty()
        && !onchanges
            .iter()
            .any(|j| planned_change(&states[*j].decision))
    {
        return Some(Decision::Done(
            "State was not run because none of the onchanges reqs changed".into(),
        ));
    }
    let onfail = deps(st, &[Kind::Onfail, Kind::OnfailAny, Kind::OnfailAll]);
    let fails = |j: &usize| {
        matches!(
            states[*j].decision,
            Decision::Failed(_) | Decision::Apply(_)
        )
    };
    if !onfail.is_empty() && !onfail.iter().any(fails) {
        return Some(Decision::Done(
            "State was not run because onfail req did not change".into(),
        ));
    }
    None
}

/// A state it requires, or any earlier one, plans a change.
fn earlier_changes(states: &[State], i: usize) -> bool {
    deps(&states[i], &ORDERING)
        .iter()
        .any(|j| planned_change(&states[*j].decision))
        || states[..i].iter().any(|o| planned_change(&o.decision))
}

/// A prereq target of state `i` would change. Targets come later in
/// order; their plans are computed here too.
fn prereq_changes(states: &[State], i: usize, facts: &Sections) -> bool {
    deps(&states[i], &[Kind::Prereq]).iter().any(|j| {
        let t = &states[*j];
        facts
            .block(Block::Probe, *j)
            .and_then(|(text, rc)| t.function.plan(Output { text, rc: *rc }).ok())
            .is_some_and(|p| !p.is_noop())
    })
}
