//! Phase 2: ONE gather script per host: every state's read-only probe plus
//! its `unless`, `onlyif` and `creates` checks, each fenced by the run's
//! marker ([`protocol`]), and the drift ledger read in the same script.
//! The same assembly, for some states only, probes the states prune adds
//! and the deferred states again.

use std::time::SystemTime;

use super::protocol::{self, Block, Cond, ProtocolError, Sections};
use super::report::add_times;
use super::{HostError, Run, State, Target};
use crate::modules;
use crate::state::ledger::{self, Gathered, Ledger, Resource};
use crate::transport::quote::quote;
use crate::transport::{Command, Connection, TransportError};
use crate::Value;

/// Why a gather gave nothing to plan from.
#[derive(Debug, thiserror::Error)]
pub(super) enum GatherError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

/// What the first gather read: the states' facts and the drift ledger.
pub(super) struct Read {
    pub facts: Sections,
    pub book: Gathered,
    /// `None` for `state.single`, which does not use the ledger.
    pub ledger: Option<Ledger>,
}

/// The first gather: every state, and the ledger (unless `state.single`).
/// The run's copy of the ledger is what it read.
pub(super) async fn first(run: &mut Run<'_>) -> Result<Read, HostError> {
    let ledgered = !matches!(run.call.target, Target::Single(_));
    let head = if ledgered {
        let declared: Vec<(Resource, bool)> = run
            .states
            .iter()
            .flat_map(|s| s.function.managed())
            .map(|m| (m.resource, m.present))
            .collect();
        ledger::gather_snippet(
            &run.marker,
            &declared,
            &modules::ledger_kinds().collect::<Vec<_>>(),
        )
    } else {
        String::new()
    };
    let script = gather_script(&run.states, &run.marker, None, &head);
    let sent = SystemTime::now();
    let out = exec(run.conn, &script).await.map_err(GatherError::from)?;
    let facts = protocol::parse(&out, &run.marker).map_err(GatherError::from)?;
    let book = Gathered::parse(&out, &run.marker);
    add_times(&mut run.times, &facts, sent);
    let ledger = if ledgered {
        Some(book.ledger().map_err(HostError::Ledger)?)
    } else {
        None
    };
    run.copy = ledger.clone().map(|ledger| ledger::HostCopy {
        ledger,
        as_of: "gather",
        current: true,
    });
    Ok(Read {
        facts,
        book,
        ledger,
    })
}

/// Probe the states `only` again (prune's, or the deferred ones).
pub(super) async fn again(run: &mut Run<'_>, only: &[usize]) -> Result<Sections, GatherError> {
    let script = gather_script(&run.states, &run.marker, Some(only), "");
    let sent = SystemTime::now();
    let out = exec(run.conn, &script).await?;
    let facts = protocol::parse(&out, &run.marker)?;
    add_times(&mut run.times, &facts, sent);
    Ok(facts)
}

/// Run `script` through `sh -s` on stdin; its stdout and stderr, joined.
async fn exec(conn: &Connection, script: &str) -> Result<String, TransportError> {
    let cmd = Command {
        script: "exec sh -s".into(),
        stdin: Some(script.as_bytes().to_vec()),
        timeout: None,
    };
    let out = conn.exec(&cmd).await?;
    Ok(out.stdout)
}

/// THE gather script: the prelude, `head` (the ledger's part), then each
/// state's conditions and probe (those in `only`, or all).
pub(super) fn gather_script(
    states: &[State],
    marker: &str,
    only: Option<&[usize]>,
    head: &str,
) -> String {
    let mut s = protocol::prelude(marker);
    s.push_str(head);
    s.push_str(&shared_probes(states, only));
    for (i, st) in states.iter().enumerate() {
        if only.is_some_and(|o| !o.contains(&i)) {
            continue;
        }
        s.push_str(&state_probe(st, i, marker));
    }
    s
}

/// The shared probes ([`modules::StateFunction::shared_probe`]) of the
/// states probed here: each script once, with every state's argument.
fn shared_probes(states: &[State], only: Option<&[usize]>) -> String {
    type Shared = (&'static str, fn(&[String]) -> String, Vec<String>);
    let mut shared: Vec<Shared> = Vec::new();
    for (i, st) in states.iter().enumerate() {
        if only.is_some_and(|o| !o.contains(&i)) {
            continue;
        }
        let Some(p) = st.function.shared_probe() else {
            continue;
        };
        match shared.iter_mut().find(|(key, ..)| *key == p.key) {
            Some((.., args)) if !args.contains(&p.arg) => args.push(p.arg),
            Some(_) => {}
            None => shared.push((p.key, p.script, vec![p.arg])),
        }
    }
    shared
        .iter()
        .map(|(_, script, args)| script(args))
        .collect()
}

/// One state's part of the gather: its conditions, then its probe.
fn state_probe(st: &State, i: usize, marker: &str) -> String {
    // The state's time runs from here: its conditions count, as in Salt.
    let mut s = protocol::begin(marker, Block::Probe, i);
    let g = &st.chunk.globals;
    for cmd in g.unless.iter().filter_map(Value::as_str) {
        let c = sh_sub(cmd, g.runas.as_deref());
        let said = protocol::cond(marker, i, Cond::Unless);
        s.push_str(&format!("( {c} ) >/dev/null 2>&1 </dev/null; {said}\n"));
    }
    for cmd in g.onlyif.iter().filter_map(Value::as_str) {
        let c = sh_sub(cmd, g.runas.as_deref());
        let said = protocol::cond(marker, i, Cond::Onlyif);
        s.push_str(&format!("( {c} ) >/dev/null 2>&1 </dev/null; {said}\n"));
    }
    if let Some(tests) = creates_test(st) {
        let said = protocol::cond(marker, i, Cond::Creates);
        s.push_str(&format!("{tests}; {said}\n"));
    }
    let probe = st.function.probe();
    if probe.trim().is_empty() {
        s.push_str(&protocol::end(marker, i, "0"));
    } else {
        s.push_str(&format!("(\n{probe}\n) </dev/null\n_hr=$?\n"));
        s.push_str(&protocol::end(marker, i, "$_hr"));
    }
    s
}

/// `[ -e P1 ] && [ -e P2 ]` for the state's `creates`; `None` without.
fn creates_test(st: &State) -> Option<String> {
    let creates = &st.chunk.globals.creates;
    let tests: Vec<String> = creates
        .iter()
        .map(|p| format!("[ -e {} ]", quote(p)))
        .collect();
    (!tests.is_empty()).then(|| tests.join(" && "))
}

/// A shell test that is true when the state's unless / onlyif / creates
/// say it must not run; `None` when it has none. The apply script asks it
/// again right before the state.
pub(super) fn condition_test(st: &State) -> Option<String> {
    let g = &st.chunk.globals;
    let mut parts = Vec::new();
    for c in g.unless.iter().filter_map(Value::as_str) {
        parts.push(format!(
            "{{ ( {} ) >/dev/null 2>&1 </dev/null; }}",
            sh_sub(c, g.runas.as_deref())
        ));
    }
    for c in g.onlyif.iter().filter_map(Value::as_str) {
        parts.push(format!(
            "{{ ! ( {} ) >/dev/null 2>&1 </dev/null; }}",
            sh_sub(c, g.runas.as_deref())
        ));
    }
    if let Some(tests) = creates_test(st) {
        parts.push(format!("{{ {tests}; }}"));
    }
    (!parts.is_empty()).then(|| parts.join(" || "))
}

/// A user's condition command run by `sh -c`, so its syntax cannot break
/// the script; as the state's `runas` user when it has one (Salt runs
/// unless / onlyif as that user too).
fn sh_sub(cmd: &str, runas: Option<&str>) -> String {
    let run = format!("sh -c {}", quote(cmd));
    match runas {
        None => run,
        Some(u) => format!("{{ {}; }}", modules::run_as(u, &run, false)),
    }
}
