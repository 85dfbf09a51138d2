//! Phase 5, only when the first plan deferred states (the service of a
//! package this run installs): once what they require has run, they are
//! probed, planned and applied in two more executions, and their results
//! replace the first report's.

use super::apply::{apply_script, execute};
use super::gather::{self, Read};
use super::journal::{ledger_events, LedgerScript};
use super::plan::decide_all;
use super::report::with_apply_note;
use super::{Decision, HostError, Outcome, Run, Status};
use crate::state::ledger;

/// Plan and apply the `deferred` states; `outcome` is the first apply's.
pub(super) async fn deferred(
    run: &mut Run<'_>,
    mut outcome: Outcome,
    deferred: &[usize],
    read: &Read,
) -> Result<Outcome, HostError> {
    let statuses = outcome.statuses(&run.states);
    settle(run, &statuses, deferred);
    let facts = match gather::again(run, deferred).await {
        Ok(f) => f,
        Err(e) => {
            let why = format!("not applied: the gather planning it failed ({e})");
            outcome.not_applied(&run.states, deferred, &why);
            return Ok(with_apply_note(outcome, format!("gather failed: {e}")));
        }
    };
    decide_all(&mut run.states, deferred.iter().copied(), &facts, false);
    let mut initial = statuses;
    for &i in deferred {
        initial[i] = run.states[i].decision.status();
    }
    let lscript = match &read.ledger {
        Some(l) => {
            let ev = ledger_events(&run.states, l, &read.book, Some(deferred));
            if ev.before.is_empty() && ev.after.is_empty() {
                LedgerScript::default()
            } else {
                LedgerScript {
                    head: ledger::apply_head(&run.marker, None) + &ev.before,
                    after: ev.after,
                }
            }
        }
        None => LedgerScript::default(),
    };
    let script = apply_script(&run.states, &run.marker, &initial, Some(deferred), &lscript);
    let second = match execute(run, &script, &lscript, &read.book.place).await? {
        Ok(sec) => sec,
        Err(e) => {
            let why = format!("not applied: drift ledger: {e}");
            outcome.not_applied(&run.states, deferred, &why);
            return Ok(outcome);
        }
    };
    let cut = second.progress.summary();
    let again = run.report(Some(second), false);
    outcome.replace(&run.states, deferred, again);
    Ok(match cut {
        Some(why) => with_apply_note(outcome, why),
        None => outcome,
    })
}

/// The states already applied keep what the first apply made of them: a
/// failure fails what requires them, a change keeps its plan (watch
/// reactions of the deferred states see it), the rest is done.
fn settle(run: &mut Run<'_>, statuses: &[Status], deferred: &[usize]) {
    for (i, st) in run.states.iter_mut().enumerate() {
        if !deferred.contains(&i) {
            st.decision = match statuses[i] {
                Status::Fail => Decision::Failed("failed earlier in this run".into()),
                Status::Changed => st.decision.clone(),
                Status::Ok => Decision::Done(String::new()),
            };
        }
    }
}
