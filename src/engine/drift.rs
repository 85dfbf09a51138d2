//! The drift report of a run, built from the host's ledger: the entries
//! this run does not declare (`orphans` still on the host, `gone` ones
//! removed by other means), the resources that cannot be ledgered, and
//! what prune removed or released; for `state.drift`, the verdict. A typed
//! value: only the output layer turns it into JSON or text.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{Decision, Outcome, State, Target};
use crate::state::ledger::{self, Gathered, Ledger, Resource};

/// The drift ledger's report of one host (`HostResult::drift`). Field
/// order is the JSON's; job records are read back into it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Named {
    pub kind: String,
    pub name: String,
}

/// Whether halite brought a resource into existence or found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Created,
    Found,
}

/// One ledger entry, as results show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub comment: Option<String>,
}

impl DriftReport {
    /// Every text in the report, for the output layer and the job cache to
    /// make harmless or withhold (control characters, decrypted values).
    pub fn texts_mut(&mut self, f: &mut dyn FnMut(&mut String)) {
        let lists = [&mut self.orphans, &mut self.gone]
            .into_iter()
            .chain(self.released.as_mut())
            .chain(self.pruned.as_mut());
        for e in lists.flatten() {
            for t in [&mut e.kind, &mut e.name, &mut e.id, &mut e.sls] {
                f(t);
            }
            e.comment.iter_mut().for_each(&mut *f);
        }
        for n in &mut self.unrecordable {
            f(&mut n.kind);
            f(&mut n.name);
        }
        for w in self.would_change.iter_mut().flatten() {
            for t in [&mut w.id, &mut w.function, &mut w.name, &mut w.comment] {
                f(t);
            }
        }
        self.comment.iter_mut().for_each(f);
    }
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
            // Checked when decided: a mismatch failed the state then.
            for r in s.function.removes(plan).into_iter().flatten() {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON is what job records and `--out json` held before the report
    /// was typed, byte for byte, and an old record reads back.
    #[test]
    fn the_report_is_the_same_json_and_reads_back() {
        let e = EntryReport {
            kind: "file".into(),
            name: "/etc/x".into(),
            id: "x".into(),
            sls: "web".into(),
            origin: Origin::Created,
            first_applied: 1,
            last_applied: 2,
            comment: Some("removed".into()),
        };
        let d = DriftReport {
            orphans: vec![EntryReport {
                comment: None,
                ..e.clone()
            }],
            unrecordable: vec![Named {
                kind: "file".into(),
                name: "/a\tb".into(),
            }],
            released: Some(vec![]),
            pruned: Some(vec![e]),
            ..DriftReport::default()
        };
        let text = serde_json::to_string(&d).unwrap();
        assert_eq!(
            text,
            r#"{"orphans":[{"kind":"file","name":"/etc/x","__id__":"x","__sls__":"web","origin":"created","first_applied":1,"last_applied":2}],"gone":[],"unrecordable":[{"kind":"file","name":"/a\tb"}],"released":[],"pruned":[{"kind":"file","name":"/etc/x","__id__":"x","__sls__":"web","origin":"created","first_applied":1,"last_applied":2,"comment":"removed"}]}"#
        );
        assert_eq!(serde_json::from_str::<DriftReport>(&text).unwrap(), d);
        let verdict = r#"{"orphans":[],"gone":[],"unrecordable":[],"would_change":[{"__id__":"x","function":"file.managed","name":"/x","result":null,"comment":"c"}],"drifted":true}"#;
        let back: DriftReport = serde_json::from_str(verdict).unwrap();
        assert_eq!(back.would_change.as_ref().unwrap()[0].result, None);
        assert_eq!(serde_json::to_string(&back).unwrap(), verdict);
    }
}
