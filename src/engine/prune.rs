//! `prune=True`: the orphans halite created get their module's inverse
//! state (`modules::prune_state`) as states of this run, probed in one more
//! gather (only then) and planned, newest first; those it found, and the
//! gone entries, are released from the ledger. Over `prune_limit` nothing
//! is pruned or applied.

use super::drift::{DriftReport, EntryReport};
use super::gather;
use super::plan::decide_all;
use super::{Decision, HostError, Run, State};
use crate::modules;
use crate::state::ledger::{Entry, Ledger, Resource};
use crate::state::Chunk;

/// What prune made of the run.
pub(super) enum Pruned {
    /// Over the limit: the report says so; nothing runs.
    Refused,
    /// Prune's states added; these resources are to be released.
    Released(Vec<Resource>),
}

/// Add prune's states to the run and say so in `d`.
pub(super) async fn prune(
    run: &mut Run<'_>,
    limit: usize,
    l: &Ledger,
    d: &mut DriftReport,
) -> Result<Pruned, HostError> {
    let entries = |list: &[EntryReport]| -> Vec<&Entry> {
        list.iter().filter_map(|o| l.get(&o.resource())).collect()
    };
    let orphans = entries(&d.orphans);
    let remove: Vec<&Entry> = orphans
        .iter()
        .rev()
        .filter(|e| e.created)
        .copied()
        .collect();
    if remove.len() > limit {
        d.comment = Some(format!(
            "prune refused: {} orphans would be removed, above the prune limit of {limit}; nothing was pruned or applied (raise it with prune_limit={})",
            remove.len(),
            remove.len()
        ));
        return Ok(Pruned::Refused);
    }
    // Found orphans are released; gone entries (nothing left to remove)
    // are forgotten the same way.
    let gone = entries(&d.gone);
    let let_go: Vec<&Entry> = orphans
        .iter()
        .filter(|e| !e.created)
        .chain(gone.iter())
        .copied()
        .collect();
    let released = let_go.iter().map(|e| e.resource.clone()).collect();
    let test = run.call.test;
    d.released = Some(
        let_go
            .iter()
            .map(|e| EntryReport {
                comment: test.then(|| "would be released".to_string()),
                ..EntryReport::new(e)
            })
            .collect(),
    );
    let first_prune = run.states.len();
    for e in &remove {
        let state = inverse(run, e)?;
        run.states.push(state);
    }
    let pruning: Vec<usize> = (first_prune..run.states.len()).collect();
    if !pruning.is_empty() {
        run.times.resize(run.states.len(), Default::default());
        let facts = gather::again(run, &pruning).await?;
        decide_all(&mut run.states, pruning.iter().copied(), &facts, false);
    }
    let did = if test { "would be removed" } else { "removed" };
    d.pruned = Some(
        remove
            .iter()
            .map(|e| EntryReport {
                comment: Some(did.to_string()),
                ..EntryReport::new(e)
            })
            .collect(),
    );
    Ok(Pruned::Released(released))
}

/// The inverse state the entry's kind's module names, built. A kind no
/// module of this halite removes fails the host: reporting it pruned
/// would be false.
fn inverse(run: &Run<'_>, e: &Entry) -> Result<State, HostError> {
    let r = &e.resource;
    let no_inverse = || {
        HostError::Prune(format!(
            "no state module of this halite removes a `{}` ({}); nothing was pruned or applied",
            r.kind, r.identity
        ))
    };
    let (module, function, name, args) =
        modules::prune_state(&r.kind, &r.identity).ok_or_else(no_inverse)?;
    let chunk = Chunk {
        id: format!("prune {} {}", r.kind, r.identity),
        sls: e.sls.clone(),
        ..Chunk::standalone(module, function, &name, serde_json::Value::Object(args))
    };
    let def = modules::lookup(module, function).ok_or_else(no_inverse)?;
    let ctx = modules::BuildCtx {
        states_root: &run.project.states,
        renderer: None,
    };
    let function = (def.build)(&chunk, &ctx).map_err(HostError::Prune)?;
    Ok(State {
        chunk,
        function,
        decision: Decision::Done(String::new()),
    })
}
