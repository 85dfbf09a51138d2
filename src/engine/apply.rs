//! Phase 4: ONE apply script (sent on stdin, so its size is not limited by
//! argv): only the states that must change, in order, each guarded by shell
//! variables holding its dependencies' outcomes ([`Status`]), so a
//! requisite that fails at run time still stops its dependents, `watch`
//! reactions run only when the watched state changed, and `failhard` stops
//! the rest; `listen` reactions at the end. A no-op run has nothing to
//! apply and skips this execution.

use std::time::SystemTime;

use super::gather::condition_test;
use super::journal::{ledger_events, reread, LedgerScript};
use super::plan::{deps, planned_change};
use super::progress::{self, Applied};
use super::protocol::{self, Block, Sections};
use super::report::{add_times, report, with_apply_note};
use super::{Decision, HostError, Outcome, Run, State, Status};
use crate::modules::Plan;
use crate::state::ledger::{self, Resource};
use crate::state::Kind;

/// How the first apply left the run.
pub(super) enum Applied1 {
    /// The host's result.
    Done(Outcome),
    /// These deferred states still need planning, after `Outcome`.
    Deferred(Outcome, Vec<usize>),
}

/// Apply what the plans decided, writing the ledger: the fold of what
/// was read, the entries of states already as declared, `released`
/// forgotten, then one journal event right after each state that succeeds.
pub(super) async fn first(
    run: &mut Run<'_>,
    read: &super::gather::Read,
    released: &[Resource],
) -> Result<Applied1, HostError> {
    let mut events = read
        .ledger
        .as_ref()
        .map(|l| ledger_events(&run.states, l, &read.book, None))
        .unwrap_or_default();
    for r in released {
        events.before.push_str(&ledger::event(None, r));
        events.before.push('\n');
    }
    if !run.states.iter().any(|s| planned_change(&s.decision)) && events.before.is_empty() {
        return Ok(Applied1::Done(run.report(None, false)));
    }
    let initial: Vec<Status> = run.states.iter().map(|st| st.decision.status()).collect();
    // The ledger is touched only when there is something to write (a run
    // managing no resource leaves the ledger's directory alone).
    let journal_left = read.book.journal.as_deref().is_some_and(|j| !j.is_empty());
    let lscript = match &read.ledger {
        Some(l) if journal_left || !events.before.is_empty() || !events.after.is_empty() => {
            LedgerScript {
                head: ledger::apply_head(&run.marker, Some((l, &read.book.sum))) + &events.before,
                after: events.after.clone(),
            }
        }
        _ => LedgerScript::default(),
    };
    let script = apply_script(&run.states, &run.marker, &initial, None, &lscript);
    let first = execute(run, &script, &lscript, &read.book.place)
        .await?
        .map_err(HostError::Ledger)?;
    let cut = first.progress.summary();
    let mut outcome = run.report(Some(first), false);
    let deferred: Vec<usize> = (0..run.states.len())
        .filter(|i| matches!(run.states[*i].decision, Decision::Deferred(_)))
        .collect();
    if let Some(why) = cut {
        let not_yet = "not applied: the run was interrupted before this state (waiting for states it requires) could be planned";
        outcome.not_applied(&run.states, &deferred, not_yet);
        return Ok(Applied1::Done(with_apply_note(outcome, why)));
    }
    if deferred.is_empty() || outcome.stopped_by_failhard() {
        return Ok(Applied1::Done(outcome));
    }
    Ok(Applied1::Deferred(outcome, deferred))
}

/// Run an apply script and read its output: the sections, or why the
/// ledger refused it (the script stopped before any state); the run's
/// ledger copy re-read when the script wrote to it.
pub(super) async fn execute(
    run: &mut Run<'_>,
    script: &str,
    lscript: &LedgerScript,
    place: &ledger::Place,
) -> Result<Result<Sections, ledger::LedgerError>, HostError> {
    let sent = SystemTime::now();
    let applied = progress::run(run.conn, script).await;
    if let Some(e) = ledger::refused(&applied.output, &run.marker, place) {
        return Ok(Err(e));
    }
    reread(&mut run.copy, lscript, &applied, &run.marker);
    let sec = applied_sections(&applied, &run.marker, &run.states).map_err(HostError::Apply)?;
    add_times(&mut run.times, &sec, sent);
    Ok(Ok(sec))
}

impl Run<'_> {
    /// Salt's result shape for the states as they stand.
    pub(super) fn report(&self, applied: Option<Sections>, test: bool) -> Outcome {
        report(&self.states, applied, test, &self.times)
    }
}

/// The sections of an apply execution's output; when it was cut short,
/// with the cut and the last state the host confirmed.
pub(super) fn applied_sections(
    applied: &Applied,
    marker: &str,
    states: &[State],
) -> Result<Sections, protocol::ProtocolError> {
    let mut sec = protocol::parse(&applied.output, marker)?;
    sec.progress.cut = applied.cut.clone().map(|mut c| {
        c.after = sec
            .progress
            .done
            .last()
            .and_then(|&i| states.get(i))
            .map(|st| st.chunk.id.clone());
        c
    });
    Ok(sec)
}

/// The apply script. `initial`: each state's status before this script;
/// `only`: the states this script may apply (all when `None`).
pub(super) fn apply_script(
    states: &[State],
    marker: &str,
    initial: &[Status],
    only: Option<&[usize]>,
    ledger: &LedgerScript,
) -> String {
    let mut s = protocol::prelude(marker);
    if !ledger.head.is_empty() {
        s.push_str(&ledger.head);
        s.push_str(&ledger::dump_on_exit(marker));
    }
    for (i, v) in initial.iter().enumerate() {
        s.push_str(&format!("s_{i}={}\n", v.sh()));
    }
    let mine = |i: &usize| only.is_none_or(|o| o.contains(i));
    for (i, st) in states.iter().enumerate().filter(|(i, _)| mine(i)) {
        if let Decision::Apply(p) | Decision::WatchOnly(p) = &st.decision {
            s.push_str(&state_section(states, i, p, marker, ledger));
        }
    }
    // Salt's `listen`: the reaction (mod_watch) runs at the end of the run,
    // once, if any listened state changed and the state itself did not fail.
    for (i, st) in states.iter().enumerate().filter(|(i, _)| mine(i)) {
        if let Decision::Apply(p) | Decision::WatchOnly(p) = &st.decision {
            let listened = deps(st, &[Kind::Listen]);
            if let (Some(w), false) = (st.function.watch(p), listened.is_empty()) {
                s.push_str(&reaction(marker, Block::Listen, i, &w, &listened));
            }
        }
    }
    s.push_str(&protocol::finished(marker));
    s
}

/// State `i`'s section: its guard, the recheck of its conditions, its
/// apply (with `retry`), its watch reaction, its ledger events, `done`,
/// and the `failhard` stop.
fn state_section(
    states: &[State],
    i: usize,
    plan: &Plan,
    marker: &str,
    ledger: &LedgerScript,
) -> String {
    let st = &states[i];
    // `:` keeps the branch valid when it holds nothing else (a state
    // that only reacts to `listen`, at the end of the run).
    let mut s = format!("if {}; then\n:\n", guard(states, i));
    // onchanges / onfail: not triggered is not run, and not a failure.
    let trigger = trigger(states, i);
    if let Some(t) = &trigger {
        s.push_str(&format!("if {t}; then\n:\n"));
    }
    // unless / onlyif / creates again, right before the state, as Salt
    // does: an earlier state of this run may have changed the answer.
    let recheck = condition_test(st);
    if let Some(skip) = &recheck {
        let said = protocol::condskip(marker, i);
        s.push_str(&format!("if {skip}; then {said}; else :\n"));
    }
    if let Decision::Apply(p) = &st.decision {
        let apply = apply_snippet(st, p);
        match &st.chunk.globals.retry {
            Some(retry) => s.push_str(&retried(marker, i, &apply, retry)),
            None => s.push_str(&once(marker, i, &apply)),
        }
    }
    // Salt's mod_watch: react when a watched state changed (`listen`
    // reacts at the end of the run instead).
    let watched = deps(st, &[Kind::Watch, Kind::WatchAny]);
    if let (Some(w), false) = (st.function.watch(plan), watched.is_empty()) {
        s.push_str(&reaction(marker, Block::Watch, i, &w, &watched));
    }
    if recheck.is_some() {
        s.push_str("fi\n");
    }
    if trigger.is_some() {
        let said = protocol::untriggered(marker, i);
        s.push_str(&format!("else {said}\nfi\n"));
    }
    if let Some(ev) = ledger.after.get(&i).filter(|e| !e.is_empty()) {
        let changed = Status::Changed.sh();
        s.push_str(&format!("if [ \"$s_{i}\" = {changed} ]; then\n{ev}\nfi\n"));
    }
    let (fail, skip) = (Status::Fail.sh(), protocol::skip(marker, i));
    s.push_str(&format!("else\ns_{i}={fail}\n{skip}\nfi\n"));
    s.push_str(&protocol::done(marker, i));
    if st.chunk.globals.failhard == Some(true) {
        let said = protocol::failhard(marker, i);
        s.push_str(&format!(
            "if [ \"$s_{i}\" = {fail} ]; then {said}; exit 0; fi\n"
        ));
    }
    s
}

/// The shell test under which state `i` runs at all: what it requires or
/// watches did not fail, the states that prepare it (prereq) succeeded.
/// False: the state fails ("One or more requisite failed").
fn guard(states: &[State], i: usize) -> String {
    let st = &states[i];
    let not_failed = |j: usize| format!("[ \"$s_{j}\" != {} ]", Status::Fail.sh());
    let mut guards: Vec<String> = deps(st, &[Kind::Require, Kind::Watch])
        .into_iter()
        .map(not_failed)
        .collect();
    // prereq: the target runs only if the states that prepare it succeeded.
    for (j, other) in states.iter().enumerate() {
        if other
            .chunk
            .requisites
            .iter()
            .any(|(k, t)| *k == Kind::Prereq && *t == i)
        {
            guards.push(not_failed(j));
        }
    }
    if guards.is_empty() {
        "true".to_string()
    } else {
        guards.join(" && ")
    }
}

/// The shell test of its triggers, for a state with onchanges / onfail:
/// one of its onchanges changed, one of its onfail failed. False: the
/// state is not run, with success, as in Salt. `None` without triggers.
fn trigger(states: &[State], i: usize) -> Option<String> {
    let st = &states[i];
    let is = |j: usize, status: Status| format!("[ \"$s_{j}\" = {} ]", status.sh());
    let any_of = [
        (&[Kind::Onchanges, Kind::OnchangesAny][..], Status::Changed),
        (
            &[Kind::Onfail, Kind::OnfailAny, Kind::OnfailAll][..],
            Status::Fail,
        ),
    ];
    let mut tests = Vec::new();
    for (kinds, status) in any_of {
        let any: Vec<String> = deps(st, kinds).into_iter().map(|j| is(j, status)).collect();
        if !any.is_empty() {
            tests.push(format!("{{ {}; }}", any.join(" || ")));
        }
    }
    (!tests.is_empty()).then(|| tests.join(" && "))
}

/// `s_I` from the exit status in `$r`.
fn status_from_rc(i: usize) -> String {
    let (changed, fail) = (Status::Changed.sh(), Status::Fail.sh());
    format!("if [ $r -eq 0 ]; then s_{i}={changed}; else s_{i}={fail}; fi\n")
}

/// State `i`'s apply command, run once.
fn once(marker: &str, i: usize, apply: &str) -> String {
    let mut s = protocol::begin(marker, Block::Apply, i);
    s.push_str(&format!("(\n{apply}\n) </dev/null\nr=$?\n"));
    s.push_str(&protocol::end(marker, i, "$r"));
    s.push_str(&status_from_rc(i));
    s
}

/// Salt's `retry`: run again until the result is `until`, at most
/// `attempts` times, `interval` (+ up to `splay`) seconds apart. The
/// apply's exit status stands for the result; only the last attempt's
/// output is kept, for the module to read.
fn retried(marker: &str, i: usize, apply: &str, retry: &crate::state::Retry) -> String {
    let until = if retry.until { "-eq" } else { "-ne" };
    let pause = if retry.splay > 0 {
        format!(
            "$(( {} + $(od -An -N2 -tu2 /dev/urandom 2>/dev/null || echo 0) % {} ))",
            retry.interval,
            retry.splay + 1
        )
    } else {
        retry.interval.to_string()
    };
    let attempts = retry.attempts.max(1);
    let mut s = protocol::begin(marker, Block::Apply, i);
    s.push_str(&format!(
        "h_try=0\nwhile :; do\nh_try=$((h_try + 1))\nh_out=$(\n(\n{apply}\n) </dev/null 2>&1\n)\nr=$?\n[ $r {until} 0 ] && break\n[ $h_try -ge {attempts} ] && break\nsleep {pause}\ndone\nprintf '%s\\n' \"$h_out\"\n"
    ));
    s.push_str(&protocol::tries(marker, i, "$h_try"));
    s.push_str(&protocol::end(marker, i, "$r"));
    s.push_str(&status_from_rc(i));
    s
}

/// A watch or listen reaction of state `i`: run when it did not fail and
/// one of `on` changed.
fn reaction(marker: &str, block: Block, i: usize, command: &str, on: &[usize]) -> String {
    let changed = Status::Changed.sh();
    let any: Vec<String> = on
        .iter()
        .map(|j| format!("[ \"$s_{j}\" = {changed} ]"))
        .collect();
    let fail = Status::Fail.sh();
    let mut s = format!(
        "if [ \"$s_{i}\" != {fail} ] && {{ {}; }}; then\n",
        any.join(" || ")
    );
    s.push_str(&protocol::begin(marker, block, i));
    s.push_str(&format!("(\n{command}\n) </dev/null\nr=$?\n"));
    s.push_str(&protocol::end(marker, i, "$r"));
    s.push_str(&status_from_rc(i));
    s.push_str("fi\n");
    s
}

/// A state's apply snippet; should its plan not carry the module's data
/// (already failed when decided, so not expected here), a snippet that
/// fails the state with that message.
fn apply_snippet(st: &State, plan: &Plan) -> String {
    st.function.apply(plan).unwrap_or_else(|e| {
        format!(
            "printf '%s\\n' {}\nexit 70",
            crate::transport::quote::quote(&e.to_string())
        )
    })
}
