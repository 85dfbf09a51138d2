//! What an apply script writes to the host's drift ledger: a journal
//! event for each resource a state makes exist or removes, right after the
//! state succeeds, and the controller's copy of the ledger re-read from
//! what the script printed on exit.

use std::collections::BTreeMap;

use super::progress::Applied;
use super::{Decision, State};
use crate::state::ledger::{self, Gathered, Ledger};

/// After an apply execution that wrote to the ledger: the copy becomes
/// what it printed on exit, or is marked not current when it printed
/// nothing usable (dropped connection, unreadable ledger).
pub(super) fn reread(
    copy: &mut Option<ledger::HostCopy>,
    lscript: &LedgerScript,
    applied: &Applied,
    marker: &str,
) {
    if lscript.head.is_empty() {
        return;
    }
    let Some(c) = copy.as_mut() else { return };
    let book = Gathered::parse(&applied.output, marker);
    match Some(book).filter(|b| b.complete).map(|b| b.ledger()) {
        Some(Ok(l)) => {
            *c = ledger::HostCopy {
                ledger: l,
                as_of: "apply",
                current: true,
            }
        }
        _ => c.current = false,
    }
}

/// What the apply script writes to the ledger: `head` first (lock, time,
/// compaction, the entries of states already as declared), then
/// `after[i]` right after state `i` succeeds.
#[derive(Debug, Default, Clone)]
pub(super) struct LedgerScript {
    pub head: String,
    pub after: BTreeMap<usize, String>,
}

/// Journal events of a run: `before` for states already as declared,
/// `after` per state that the apply script changes.
#[derive(Debug, Default, Clone)]
pub(super) struct Events {
    pub before: String,
    pub after: BTreeMap<usize, String>,
}

/// The ledger events for `states` (those in `only`, or all): a resource a
/// state makes exist is added (created when the gather did not find it,
/// else found); one a state removes is dropped. Already-recorded resources
/// of states with nothing to do write nothing, so a converged run writes
/// nothing.
pub(super) fn ledger_events(
    states: &[State],
    ledger: &Ledger,
    book: &Gathered,
    only: Option<&[usize]>,
) -> Events {
    let mut ev = Events::default();
    for (i, st) in states.iter().enumerate() {
        if only.is_some_and(|o| !o.contains(&i)) {
            continue;
        }
        let c = &st.chunk;
        if !ledger::field_ok(&c.id) || !ledger::field_ok(&c.sls) {
            continue;
        }
        let managed = st.function.managed();
        match &st.decision {
            Decision::Done(_) | Decision::WatchOnly(_) => {
                for m in managed.iter().filter(|m| m.resource.recordable()) {
                    let known = ledger.get(&m.resource).is_some();
                    // In the second round (`only`), a deferred state found
                    // as declared is so now, maybe made by this run's
                    // earlier states (a package's service): created then.
                    let exists = book.exists(&m.resource);
                    if m.present && !known && (exists || only.is_some()) {
                        ev.before
                            .push_str(&ledger::event(Some((&c.id, &c.sls, !exists)), &m.resource));
                        ev.before.push('\n');
                    } else if !m.present && known && (!exists || only.is_some()) {
                        ev.before.push_str(&ledger::event(None, &m.resource));
                        ev.before.push('\n');
                    }
                }
            }
            Decision::Apply(plan) => {
                let mut lines: Vec<String> = managed
                    .iter()
                    .filter(|m| m.resource.recordable())
                    .map(|m| {
                        if m.present {
                            // A recorded resource keeps its origin (the
                            // gather did not ask whether it exists).
                            let created = ledger
                                .get(&m.resource)
                                .map_or_else(|| !book.exists(&m.resource), |e| e.created);
                            ledger::event(Some((&c.id, &c.sls, created)), &m.resource)
                        } else {
                            ledger::event(None, &m.resource)
                        }
                    })
                    .collect();
                // Checked when decided: a mismatch failed the state then.
                for r in st.function.removes(plan).into_iter().flatten() {
                    for e in ledger.covered(&r) {
                        lines.push(ledger::event(None, &e.resource));
                    }
                }
                if !lines.is_empty() {
                    ev.after.insert(i, lines.join("\n"));
                }
            }
            _ => {}
        }
    }
    ev
}
