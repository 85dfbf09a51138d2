//! The drift report of a run, built from the host's ledger: the entries
//! this run does not declare (`orphans` still on the host, `gone` ones
//! removed by other means), the resources that cannot be ledgered, and
//! what prune removed or released; for `state.drift`, the verdict. A typed
//! value: only `crate::output` turns it into JSON or text.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{Decision, Outcome, State, Target};
use crate::state::ledger::{self, Gathered, Ledger, Resource};

/// The drift ledger's report of one host. Field order is the JSON's.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DriftReport {
    pub orphans: Vec<EntryReport>,
    pub gone: Vec<EntryReport>,
    /// Declared resources that cannot be ledgered (a tab or newline).
    pub unrecordable: Vec<Named>,
    /// Why prune did nothing (over the limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// prune=True: the found orphans and gone entries forgotten.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released: Option<Vec<EntryReport>>,
    /// prune=True: the orphans halite created, removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pruned: Option<Vec<EntryReport>>,
    /// `state.drift`: the states test=True says would change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_change: Option<Vec<WouldChange>>,
    /// `state.drift`: anything at all drifted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drifted: Option<bool>,
}

/// A resource by kind and name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Named {
    pub kind: String,
    pub name: String,
}

/// Whether halite brought a resource into existence or found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Created,
    Found,
}

/// One ledger entry, as results show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryReport {
    pub kind: String,
    pub name: String,
    #[serde(rename = "__id__")]
    pub id: String,
    #[serde(rename = "__sls__")]
    pub sls: String,
    pub origin: Origin,
    pub first_applied: u64,
    pub last_applied: u64,
    /// What prune did or would do with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl EntryReport {
    pub(super) fn new(e: &ledger::Entry) -> EntryReport {
        EntryReport {
            kind: e.resource.kind.clone(),
            name: e.resource.identity.clone(),
            id: e.id.clone(),
            sls: e.sls.clone(),
            origin: if e.created {
                Origin::Created
            } else {
                Origin::Found
            },
            first_applied: e.first,
            last_applied: e.last,
            comment: None,
        }
    }

    /// The ledger entry it reports.
    pub(super) fn resource(&self) -> Resource {
        Resource::new(&self.kind, &self.name)
    }
}

/// A state test=True says would change, in `state.drift`'s verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WouldChange {
    #[serde(rename = "__id__")]
    pub id: String,
    pub function: String,
    pub name: String,
    /// `None` (would change) or `false` (would fail).
    pub result: Option<bool>,
    pub comment: String,
}

impl WouldChange {
    /// From a state's row in the Salt-shaped result.
    fn from_row(s: &serde_json::Value) -> WouldChange {
        // The rows are the engine's own: these are strings.
        let text = |k: &str| match &s[k] {
            serde_json::Value::String(t) => t.clone(),
            other => other.to_string(),
        };
        WouldChange {
            id: text("__id__"),
            function: text("function"),
            name: text("name"),
            result: s["result"].as_bool(),
            comment: text("comment"),
        }
    }
}

/// Ledger entries this run does not declare: `orphans` (still on the
/// host) and `gone` (removed by other means). For `state.sls`, only the
/// entries of the SLS applied count. Also the resources that cannot be
/// ledgered (a tab or newline in their name).
pub(super) fn undeclared(
    ledger: &Ledger,
    book: &Gathered,
    states: &[State],
    target: &Target,
) -> DriftReport {
    let mut declared: BTreeSet<Resource> = states
        .iter()
        .flat_map(|s| s.function.managed())
        .map(|m| m.resource)
        .collect();
    // What this run's plans remove is not left behind: not an orphan.
    for s in states {
        if let Decision::Apply(plan) = &s.decision {
            for r in s.function.removes(plan) {
                declared.extend(ledger.covered(&r).into_iter().map(|e| e.resource.clone()));
            }
        }
    }
    let scope: Option<BTreeSet<String>> = match target {
        Target::Sls(names) => Some(
            states
                .iter()
                .map(|s| s.chunk.sls.clone())
                .chain(names.iter().cloned())
                .collect(),
        ),
        _ => None,
    };
    let mut d = DriftReport::default();
    for e in ledger::undeclared(ledger, &declared, scope.as_ref()) {
        let list = if book.exists(&e.resource) {
            &mut d.orphans
        } else {
            &mut d.gone
        };
        list.push(EntryReport::new(e));
    }
    d.unrecordable = declared
        .iter()
        .filter(|r| !r.recordable())
        .map(|r| Named {
            kind: r.kind.clone(),
            name: r.identity.clone(),
        })
        .collect();
    d
}

/// `state.drift`: the report with `would_change` (the states test=True
/// says would change) and `drifted` (anything at all: those, orphans,
/// gone entries).
fn summary(mut d: DriftReport, o: &Outcome) -> DriftReport {
    let would: Vec<WouldChange> = o
        .ret
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter(|s| s["result"] != serde_json::json!(true))
        .map(WouldChange::from_row)
        .collect();
    d.drifted = Some(!would.is_empty() || !d.orphans.is_empty() || !d.gone.is_empty());
    d.would_change = Some(would);
    d
}

/// The result of a test run: for `state.drift`, with the verdict (the host
/// fails when anything drifted).
pub(super) fn tested(mut o: Outcome, drift: Option<DriftReport>, verdict: bool) -> Outcome {
    if !verdict {
        return with_drift(o, drift);
    }
    let d = summary(drift.unwrap_or_default(), &o);
    o.success = d.drifted == Some(false);
    Outcome {
        drift: Some(d),
        ..o
    }
}

/// Add the drift report when it has anything to say.
pub(super) fn with_drift(mut o: Outcome, drift: Option<DriftReport>) -> Outcome {
    let Some(d) = drift else { return o };
    let empty = d.orphans.is_empty()
        && d.gone.is_empty()
        && d.unrecordable.is_empty()
        && d.pruned.as_ref().is_none_or(Vec::is_empty)
        && d.released.as_ref().is_none_or(Vec::is_empty)
        && d.comment.is_none();
    if empty {
        return o;
    }
    o.drift = Some(d);
    o
}
