//! Salt's highstate outputter: state results per host, one block per state
//! (ID, Function, Name, Result, Comment, Changes), then the host's summary.

use crate::engine::{DriftReport, EntryReport, Origin};
use crate::Value;

/// True when `ret` is a map of state results (keys like `pkg_|-id_|-name_|-installed`),
/// possibly with the engine's own entries beside them (`__apply__`: the apply
/// script failed), which print after the states.
pub fn is_state_ret(ret: &Value) -> bool {
    ret.as_object().is_some_and(|m| {
        m.keys().any(|k| is_state_key(k))
            && m.keys().all(|k| is_state_key(k) || k.starts_with("__"))
    })
}

fn is_state_key(k: &str) -> bool {
    k.contains("_|-")
}

/// What went wrong with the run as a whole (the engine's `__` entries that
/// failed), in key order.
pub fn run_errors(ret: &Value) -> Vec<&str> {
    ret.as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, v)| !is_state_key(k) && v["result"] == Value::Bool(false))
                .filter_map(|(_, v)| v["comment"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// The drift block (`HostResult::drift`) printed after a host's summary: orphans (no longer
/// declared, still on the host), entries whose resource is gone, resources
/// that cannot be ledgered, prunes. Empty when there is nothing to say.
pub fn render_drift(d: &DriftReport) -> String {
    let mut out = String::new();
    let entries = |out: &mut String, title: &str, items: &[EntryReport]| {
        let lines: Vec<String> = items
            .iter()
            .map(|e| {
                let origin = match e.origin {
                    Origin::Created => "created by halite",
                    Origin::Found => "found by halite",
                };
                let mut line = format!(
                    "    {} {} (was {}:{}, {origin})",
                    e.kind, e.name, e.sls, e.id
                );
                if let Some(c) = &e.comment {
                    line.push_str(&format!(": {c}"));
                }
                line
            })
            .collect();
        block(out, title, &lines);
    };
    entries(
        &mut out,
        "Orphans (no longer declared, still on the host)",
        &d.orphans,
    );
    entries(
        &mut out,
        "Gone (in the ledger, no longer on the host)",
        &d.gone,
    );
    let unrecordable: Vec<String> = d
        .unrecordable
        .iter()
        .map(|n| format!("    {} {}", n.kind, n.name))
        .collect();
    block(
        &mut out,
        "Not ledgered (a tab or newline in the name)",
        &unrecordable,
    );
    entries(&mut out, "Pruned", d.pruned.as_deref().unwrap_or_default());
    entries(
        &mut out,
        "Released from the ledger (found, never removed)",
        d.released.as_deref().unwrap_or_default(),
    );
    if let Some(c) = &d.comment {
        out.push_str(&format!("\nDrift: {c}\n"));
    }
    // state.drift's verdict.
    match d.drifted {
        Some(true) => out.push_str(&format!(
            "\nDrift: {} state(s) would change, {} orphan(s), {} gone\n",
            d.would_change.as_ref().map_or(0, Vec::len),
            d.orphans.len(),
            d.gone.len()
        )),
        Some(false) => out.push_str("\nDrift: none\n"),
        None => {}
    }
    out
}

/// A titled list, when it has lines.
fn block(out: &mut String, title: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    out.push_str(&format!("\n{title}:\n"));
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
}

/// `--state-output`: how much of each state to print (Salt's option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StateOutput {
    /// Every state in full.
    #[default]
    Full,
    /// One line per state.
    Terse,
    /// One line per state, failed ones in full.
    Mixed,
    /// Changed and failed states (and, in test mode, those that would
    /// change) in full, the others on one line.
    Changes,
}

/// How state results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateStyle {
    pub output: StateOutput,
    /// `--state-verbose false`: leave out states that succeeded without changes.
    pub verbose: bool,
    /// Print what differs on every host: start times, durations and the
    /// host id in the summary (left out where hosts are compared, as in
    /// grouped output, so identical results still fold).
    pub per_host: bool,
}

impl Default for StateStyle {
    fn default() -> Self {
        StateStyle {
            output: StateOutput::Full,
            verbose: true,
            per_host: true,
        }
    }
}

/// Render state results in run order, with a summary.
pub fn render(ret: &Value, id: &str, style: &StateStyle) -> String {
    if !ret.is_object() {
        return String::new();
    }
    let states = states_in_order(ret);
    let mut out = String::new();
    let (mut ok, mut changed, mut failed, mut pending) = (0, 0, 0, 0);
    let mut total_ms = 0.0;
    for s in &states {
        let changes = s["changes"].as_object().filter(|c| !c.is_empty());
        match &s["result"] {
            Value::Bool(true) => ok += 1,
            Value::Bool(false) => failed += 1,
            _ => pending += 1,
        }
        if changes.is_some() && s["result"] == Value::Bool(true) {
            changed += 1;
        }
        total_ms += s["duration"].as_f64().unwrap_or(0.0);
        let clean = s["result"] == Value::Bool(true) && changes.is_none();
        if clean && !style.verbose {
            continue;
        }
        let full = match style.output {
            StateOutput::Full => true,
            StateOutput::Terse => false,
            StateOutput::Mixed => s["result"] == Value::Bool(false),
            StateOutput::Changes => !clean,
        };
        if full {
            full_state(&mut out, s, changes, style.per_host);
        } else {
            terse_state(&mut out, s, changes.is_some(), style.per_host);
        }
    }
    for e in run_errors(ret) {
        out.push_str(&format!("----------\n    Run error: {e}\n"));
    }
    if style.per_host {
        out.push_str(&format!("\nSummary for {id}\n------------\n"));
    } else {
        out.push_str("\nSummary\n------------\n");
    }
    out.push_str(&format!("Succeeded: {ok} (changed={changed})\n"));
    if pending > 0 {
        out.push_str(&format!("Would change: {pending}\n"));
    }
    out.push_str(&format!(
        "Failed:    {failed}\n------------\nTotal states run: {}\n",
        states.len()
    ));
    if style.per_host {
        out.push_str(&format!("Total run time: {}\n", seconds(total_ms)));
    }
    out
}

/// One state in full, untimed (JUnit's per-state output).
pub fn state_block(s: &Value) -> String {
    let mut out = String::new();
    full_state(
        &mut out,
        s,
        s["changes"].as_object().filter(|c| !c.is_empty()),
        false,
    );
    out
}

/// The states of a state run, in run order.
pub fn states_in_order(ret: &Value) -> Vec<&Value> {
    let mut states: Vec<&Value> = ret
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| is_state_key(k))
                .map(|(_, v)| v)
                .collect()
        })
        .unwrap_or_default();
    states.sort_by_key(|s| s["__run_num__"].as_u64().unwrap_or(u64::MAX));
    states
}

fn result_word(s: &Value) -> &'static str {
    match &s["result"] {
        Value::Bool(true) => "True",
        Value::Bool(false) => "False",
        _ => "None",
    }
}

fn full_state(
    out: &mut String,
    s: &Value,
    changes: Option<&serde_json::Map<String, Value>>,
    timing: bool,
) {
    out.push_str("----------\n");
    let field = |out: &mut String, label: &str, v: &str| {
        out.push_str(&format!("{label:>12}: {v}\n"));
    };
    field(out, "ID", s["__id__"].as_str().unwrap_or(""));
    field(out, "Function", s["function"].as_str().unwrap_or(""));
    field(out, "Name", s["name"].as_str().unwrap_or(""));
    field(out, "Result", result_word(s));
    let comment = s["comment"].as_str().unwrap_or("");
    let mut lines = comment.lines();
    field(out, "Comment", lines.next().unwrap_or(""));
    for l in lines {
        out.push_str(&format!("              {l}\n"));
    }
    if timing {
        if let Some(t) = s["start_time"].as_str() {
            field(out, "Started", t);
        }
        if let Some(d) = s["duration"].as_f64() {
            field(out, "Duration", &format!("{d} ms"));
        }
    }
    out.push_str("     Changes:\n");
    if let Some(c) = changes {
        out.push_str(&super::nested::render(&Value::Object(c.clone()), 14));
    }
}

/// Salt's terse line: `Name: x - Function: f - Result: Clean ...`.
fn terse_state(out: &mut String, s: &Value, changed: bool, timing: bool) {
    let result = match (&s["result"], changed) {
        (Value::Bool(true), false) => "Clean",
        (Value::Bool(true), true) => "Changed",
        (Value::Bool(false), _) => "Failed",
        _ => "Differs",
    };
    out.push_str(&format!(
        "  Name: {} - Function: {} - Result: {result}",
        s["name"].as_str().unwrap_or(""),
        s["function"].as_str().unwrap_or("")
    ));
    if timing {
        if let Some(t) = s["start_time"].as_str() {
            out.push_str(&format!(" - Started: {t}"));
        }
        if let Some(d) = s["duration"].as_f64() {
            out.push_str(&format!(" - Duration: {d} ms"));
        }
    }
    out.push('\n');
}

/// `1.234 s` (Salt prints ms below one second).
fn seconds(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{:.3} ms", ms)
    } else {
        format!("{:.3} s", ms / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drift_blocks_list_orphans_and_the_verdict() {
        let entry = |kind: &str, name: &str, id: &str, origin| EntryReport {
            kind: kind.into(),
            name: name.into(),
            id: id.into(),
            sls: "users".into(),
            origin,
            first_applied: 1,
            last_applied: 2,
            comment: None,
        };
        let d = DriftReport {
            orphans: vec![entry("user", "foo", "foo", Origin::Created)],
            released: Some(vec![EntryReport {
                comment: Some("would be released".into()),
                ..entry("file", "/etc/x", "x", Origin::Found)
            }]),
            would_change: Some(vec![]),
            drifted: Some(true),
            ..DriftReport::default()
        };
        let text = render_drift(&d);
        assert!(text.contains("Orphans (no longer declared, still on the host):\n    user foo (was users:foo, created by halite)\n"), "{text}");
        assert!(
            text.contains("    file /etc/x (was users:x, found by halite): would be released\n"),
            "{text}"
        );
        assert!(
            text.contains("Drift: 0 state(s) would change, 1 orphan(s), 0 gone"),
            "{text}"
        );
        assert!(!text.contains("Gone"), "{text}");
        let none = DriftReport {
            drifted: Some(false),
            ..DriftReport::default()
        };
        assert_eq!(render_drift(&none), "\nDrift: none\n");
        assert_eq!(render_drift(&DriftReport::default()), "");
    }

    #[test]
    fn renders_states_in_run_order_with_a_summary() {
        let ret = json!({
            "cmd_|-b_|-b_|-run": {"__id__": "b", "__run_num__": 1, "function": "cmd.run", "name": "b", "result": false, "comment": "boom", "changes": {}},
            "cmd_|-a_|-a_|-run": {"__id__": "a", "__run_num__": 0, "function": "cmd.run", "name": "a", "result": true, "comment": "ok", "changes": {"retcode": 0}},
        });
        assert!(is_state_ret(&ret));
        let text = render(&ret, "node1", &StateStyle::default());
        assert!(
            text.find("ID: a").unwrap() < text.find("ID: b").unwrap(),
            "{text}"
        );
        assert!(text.contains("Succeeded: 1 (changed=1)\n"), "{text}");
        assert!(text.contains("Failed:    1\n"), "{text}");
        assert!(!is_state_ret(&json!({"a": 1})));
        assert!(!is_state_ret(&json!({"__apply__": {"result": false}})));
    }

    #[test]
    fn a_failed_apply_prints_in_the_asked_style_with_its_reason() {
        let ret = json!({
            "cmd_|-a_|-a_|-run": {"__id__": "a", "__run_num__": 0, "function": "cmd.run", "name": "a", "result": false, "comment": "not applied", "changes": {}},
            "__apply__": {"result": false, "comment": "apply failed: command timed out after 1s", "changes": {}},
        });
        assert!(is_state_ret(&ret));
        let style = StateStyle {
            output: StateOutput::Terse,
            ..StateStyle::default()
        };
        let text = render(&ret, "n", &style);
        assert!(
            text.starts_with("  Name: a - Function: cmd.run - Result: Failed"),
            "{text}"
        );
        assert!(
            text.contains("    Run error: apply failed: command timed out after 1s\n"),
            "{text}"
        );
        assert!(text.contains("Total states run: 1\n"), "{text}");
    }
}

#[cfg(test)]
mod mode_tests {
    use super::*;
    use serde_json::json;

    fn ret() -> Value {
        json!({
            "cmd_|-a_|-a_|-run": {"__id__": "a", "__run_num__": 0, "function": "cmd.run", "name": "a", "result": true, "comment": "ok", "changes": {}, "start_time": "10:00:00.000000", "duration": 10.0},
            "cmd_|-b_|-b_|-run": {"__id__": "b", "__run_num__": 1, "function": "cmd.run", "name": "b", "result": true, "comment": "did", "changes": {"retcode": 0}, "start_time": "10:00:00.010000", "duration": 1500.0},
            "cmd_|-c_|-c_|-run": {"__id__": "c", "__run_num__": 2, "function": "cmd.run", "name": "c", "result": false, "comment": "boom", "changes": {}, "start_time": "10:00:01.510000", "duration": 20.0},
        })
    }

    fn style(output: StateOutput) -> StateStyle {
        StateStyle {
            output,
            ..StateStyle::default()
        }
    }

    #[test]
    fn full_shows_started_duration_and_total_run_time() {
        let text = render(&ret(), "n", &style(StateOutput::Full));
        assert!(text.contains("     Started: 10:00:00.010000\n"), "{text}");
        assert!(text.contains("    Duration: 1500 ms\n"), "{text}");
        assert!(text.contains("Total run time: 1.530 s\n"), "{text}");
        assert_eq!(text.matches("          ID: ").count(), 3, "{text}");
    }

    #[test]
    fn terse_is_one_line_per_state() {
        let text = render(&ret(), "n", &style(StateOutput::Terse));
        assert!(text.contains("  Name: a - Function: cmd.run - Result: Clean - Started: 10:00:00.000000 - Duration: 10 ms\n"), "{text}");
        assert!(
            text.contains("Name: b - Function: cmd.run - Result: Changed"),
            "{text}"
        );
        assert!(
            text.contains("Name: c - Function: cmd.run - Result: Failed"),
            "{text}"
        );
        assert!(!text.contains("----------\n          ID"), "{text}");
    }

    #[test]
    fn mixed_and_changes_expand_what_matters() {
        let mixed = render(&ret(), "n", &style(StateOutput::Mixed));
        assert!(mixed.contains("          ID: c\n"), "{mixed}");
        assert!(!mixed.contains("          ID: b\n"), "{mixed}");
        let changes = render(&ret(), "n", &style(StateOutput::Changes));
        assert!(
            changes.contains("          ID: b\n") && changes.contains("          ID: c\n"),
            "{changes}"
        );
        assert!(
            changes.contains("  Name: a - Function: cmd.run - Result: Clean"),
            "{changes}"
        );
    }

    #[test]
    fn quiet_and_untimed() {
        let s = StateStyle {
            output: StateOutput::Full,
            verbose: false,
            per_host: false,
        };
        let text = render(&ret(), "n", &s);
        assert!(!text.contains("ID: a\n"), "{text}");
        assert!(
            !text.contains("Started") && !text.contains("Total run time"),
            "{text}"
        );
        assert!(text.contains("Succeeded: 2 (changed=1)"), "{text}");
    }
}
