//! The engine's report of an apply script, run by the real `sh`, whose
//! output is then cut at every byte, as a dropped connection or a time
//! limit would cut it: a state the host confirmed is reported as it said,
//! one after is "outcome unknown", and none is ever "not applied" while
//! the host had the script.

use super::apply::{applied_sections, apply_script};
use super::gather::gather_script;
use super::journal::LedgerScript;
use super::plan::decide;
use super::progress::{whole_lines, Applied, Cut};
use super::protocol::{Block, Sections};
use super::report::{report, state_key};
use super::*;
use crate::modules::Output;
use crate::state::Kind;

const M: &str = "@@halite-test";

fn state(module_fn: (&str, &str), name: &str, requisites: Vec<(Kind, usize)>) -> State {
    let chunk = Chunk {
        requisites,
        ..Chunk::standalone(module_fn.0, module_fn.1, name, json!({}))
    };
    let def = modules::lookup(module_fn.0, module_fn.1).unwrap();
    let ctx = modules::BuildCtx {
        states_root: std::path::Path::new("/nonexistent"),
        renderer: None,
    };
    let function = (def.build)(&chunk, &ctx).unwrap();
    let plan = function.plan(Output { text: "", rc: 0 }).unwrap();
    let decision = if module_fn.1 == "wait" {
        Decision::WatchOnly(plan)
    } else {
        Decision::Apply(plan)
    };
    State {
        chunk,
        function,
        decision,
    }
}

/// 0-9 run, 10 fails, 11 requires 10 (skipped), 12 reacts to 0 (watch),
/// 13 reacts to 0 at the end (listen), 14 watches 15, which has nothing to
/// do (no reaction): two-digit indexes, so a line cut in the middle (`skip
/// 1` of `skip 11`) would name another state.
fn states() -> Vec<State> {
    let mut v: Vec<State> = (0..10)
        .map(|i| state(("cmd", "run"), &format!("echo s{i}"), vec![]))
        .collect();
    v.push(state(("cmd", "run"), "false", vec![]));
    v.push(state(("cmd", "run"), "echo s11", vec![(Kind::Require, 10)]));
    v.push(state(("cmd", "wait"), "echo w", vec![(Kind::Watch, 0)]));
    v.push(state(("cmd", "wait"), "echo l", vec![(Kind::Listen, 0)]));
    v.push(state(("cmd", "wait"), "echo nw", vec![(Kind::Watch, 15)]));
    let mut done = state(("cmd", "run"), "echo already", vec![]);
    done.decision = Decision::Done("as declared".into());
    v.push(done);
    v
}

/// The apply script for `states`, run by `sh`: its whole output.
fn run_script(states: &[State], extra: &str) -> String {
    let initial = vec![Status::Ok; states.len()];
    let script = apply_script(states, M, &initial, None, &LedgerScript::default());
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{extra}{script}"))
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn outcome(states: &[State], output: &str, cut: Option<Cut>) -> Outcome {
    let applied = Applied {
        output: output.to_string(),
        cut,
    };
    report(
        states,
        Some(applied_sections(&applied, M, states).unwrap()),
        false,
        &[],
    )
}

fn result<'a>(o: &'a Outcome, st: &State) -> &'a Value {
    &o.ret[state_key(&st.chunk)]
}

fn lost() -> Option<Cut> {
    Some(Cut {
        why: "connection to node2 failed: connection lost".into(),
        sent: true,
        after: None,
    })
}

#[test]
fn a_whole_output_reports_every_state() {
    let states = states();
    let out = run_script(&states, "");
    let o = outcome(&states, &out, None);
    for (i, st) in states.iter().enumerate() {
        let r = result(&o, st);
        let expect = !matches!(i, 10 | 11);
        assert_eq!(r["result"], json!(expect), "{i}: {r}");
        assert!(!r["comment"].as_str().unwrap().contains("unknown"), "{r}");
    }
    assert_eq!(result(&o, &states[12])["changes"]["stdout"], "w");
    assert_eq!(result(&o, &states[13])["changes"]["stdout"], "l");
    assert_eq!(result(&o, &states[14])["changes"], json!({}));
}

#[test]
fn an_output_cut_anywhere_never_says_not_applied_for_what_ran() {
    let states = states();
    let out = run_script(&states, "");
    let full = outcome(&states, &out, None);
    for n in (0..=out.len()).filter(|n| out.is_char_boundary(*n)) {
        let got = whole_lines(&out[..n]);
        let o = outcome(&states, got, lost());
        assert!(!o.success);
        for (i, st) in states.iter().enumerate() {
            let r = result(&o, st);
            let comment = r["comment"].as_str().unwrap();
            assert!(!comment.starts_with("not applied"), "cut at {n}, {i}: {r}");
            let mut confirmed = got.contains(&format!("{M} done {i}\n"));
            if i == 13 {
                // Its listen reaction runs at the end: confirmed by its
                // own result line, or by the end of the run.
                confirmed &= got.contains(&format!("{M} finished\n"))
                    || got.contains(&format!("{M} rc 13 "));
            }
            if i == 15 {
                // Not in the script: as planned, whatever the output.
                confirmed = true;
            }
            if confirmed {
                let f = result(&full, st);
                assert_eq!(
                    (&r["result"], &r["changes"], &r["comment"]),
                    (&f["result"], &f["changes"], &f["comment"]),
                    "cut at {n}, {i}"
                );
            } else {
                assert_eq!(r["result"], json!(false), "cut at {n}, {i}: {r}");
            }
        }
    }
}

#[test]
fn an_output_cut_after_a_state_names_it_and_keeps_its_changes() {
    let states = states();
    let out = run_script(&states, "");
    let line = format!("{M} done 3\n");
    let at = out.find(&line).unwrap() + line.len();
    let got = whole_lines(&out[..at + 5]);
    let o = outcome(&states, got, lost());
    let r = result(&o, &states[3]);
    assert_eq!(r["result"], true, "{r}");
    assert_eq!(r["changes"]["stdout"], "s3", "{r}");
    let next = result(&o, &states[4])["comment"].as_str().unwrap();
    assert!(
        next.starts_with("outcome unknown: the apply script was interrupted (connection to node2 failed: connection lost) after `echo s3`"),
        "{next}"
    );
}

#[test]
fn a_script_the_host_never_took_is_not_applied() {
    let states = states();
    let never = Cut {
        why: "connection to node2 failed: connection lost".into(),
        sent: false,
        after: None,
    };
    let o = outcome(&states, "", Some(never));
    for st in states
        .iter()
        .filter(|st| !matches!(st.decision, Decision::Done(_)))
    {
        let c = result(&o, st)["comment"].as_str().unwrap().to_string();
        assert!(
            c.starts_with("not applied: the apply script did not run ("),
            "{c}"
        );
    }
    // Taken, but nothing came back: it may have run.
    let o = outcome(&states, "", lost());
    let c = result(&o, &states[0])["comment"].as_str().unwrap();
    assert!(c.contains("before it reported starting"), "{c}");
}

#[test]
fn a_script_killed_while_a_state_ran_says_so_of_that_state_only() {
    let states: Vec<State> = ["echo a", "echo b; kill -KILL $h_main", "echo c"]
        .into_iter()
        .map(|c| state(("cmd", "run"), c, vec![]))
        .collect();
    let out = run_script(&states, "h_main=$$; export h_main\n");
    let o = outcome(&states, &out, None);
    assert_eq!(result(&o, &states[0])["result"], true);
    let c = |i: usize| {
        result(&o, &states[i])["comment"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        c(1).starts_with("outcome unknown: the apply script ended while this state ran"),
        "{}",
        c(1)
    );
    assert!(
        c(2).starts_with("not applied: the apply script stopped before this state"),
        "{}",
        c(2)
    );
}

/// A module whose plan carries one type and whose apply reads another: a
/// bug the typed plan data turns into a failed state, never an empty apply.
#[derive(Debug)]
struct Mismatched;

impl StateFunction for Mismatched {
    fn probe(&self) -> String {
        String::new()
    }

    fn plan(&self, _: Output) -> Result<Plan, String> {
        Ok(Plan::change(json!({"x": true}), "would change").with_data(1u32))
    }

    fn apply(&self, plan: &Plan) -> Result<String, modules::PlanMismatch> {
        Ok(plan.data::<String>()?.clone())
    }
}

#[test]
fn a_plan_not_carrying_the_modules_data_fails_the_state() {
    let mut st = state(("cmd", "run"), "true", vec![]);
    st.function = Box::new(Mismatched);
    let states = vec![st];
    let mut facts = Sections::default();
    facts.blocks.insert((Block::Probe, 0), (String::new(), 0));
    match decide(&states, 0, &facts, true) {
        Decision::Failed(e) => assert!(e.contains("internal error") && e.contains("u32"), "{e}"),
        d => panic!("{d:?}"),
    }
}

/// A shared probe runs once per gather, with each argument once, before
/// the states' own probes; states outside `only` do not ask for theirs.
#[test]
fn shared_probes_run_once_per_gather() {
    let service = |unit: &str| {
        let chunk = Chunk::standalone("service", "running", unit, json!({}));
        let def = modules::lookup("service", "running").unwrap();
        let ctx = modules::BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        };
        State {
            function: (def.build)(&chunk, &ctx).unwrap(),
            chunk,
            decision: Decision::Done(String::new()),
        }
    };
    let states = vec![
        service("cron"),
        service("ssh"),
        service("cron"),
        service("nginx"),
    ];
    let g = gather_script(&states, M, None, "");
    assert_eq!(
        g.matches("systemctl show -p Id,LoadState,ActiveState,UnitFileState,FragmentPath -- cron ssh nginx 2>")
            .count(),
        1,
        "{g}"
    );
    assert!(
        g.find("systemctl show -p Id,LoadState,ActiveState")
            .unwrap()
            < g.find(&format!("{M}' \"$_hu\"\n(")).unwrap_or(usize::MAX)
    );
    let g = gather_script(&states, M, Some(&[1]), "");
    assert!(g.contains("FragmentPath -- ssh 2>"), "{g}");
    assert_eq!(g.matches("h_svc_find\n").count(), 1);
}
