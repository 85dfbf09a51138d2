//! Salt's highstate outputter: state results per host, one block per state
//! (ID, Function, Name, Result, Comment, Changes), then the host's summary.

use crate::Value;

/// True when `ret` is a map of state results (keys like `pkg_|-id_|-name_|-installed`).
pub fn is_state_ret(ret: &Value) -> bool {
    ret.as_object()
        .is_some_and(|m| !m.is_empty() && m.keys().all(|k| k.contains("_|-")))
}

/// Render state results in run order, with a summary.
pub fn render(ret: &Value, id: &str) -> String {
    let Some(map) = ret.as_object() else {
        return String::new();
    };
    let mut states: Vec<&Value> = map.values().collect();
    states.sort_by_key(|s| s["__run_num__"].as_u64().unwrap_or(u64::MAX));
    let mut out = String::new();
    let (mut ok, mut changed, mut failed, mut pending) = (0, 0, 0, 0);
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
        let result = match &s["result"] {
            Value::Bool(true) => "True",
            Value::Bool(false) => "False",
            _ => "None",
        };
        out.push_str("----------\n");
        out.push_str(&format!(
            "          ID: {}\n",
            s["__id__"].as_str().unwrap_or("")
        ));
        out.push_str(&format!(
            "    Function: {}\n",
            s["function"].as_str().unwrap_or("")
        ));
        out.push_str(&format!(
            "        Name: {}\n",
            s["name"].as_str().unwrap_or("")
        ));
        out.push_str(&format!("      Result: {result}\n"));
        let comment = s["comment"].as_str().unwrap_or("");
        let mut lines = comment.lines();
        out.push_str(&format!("     Comment: {}\n", lines.next().unwrap_or("")));
        for l in lines {
            out.push_str(&format!("              {l}\n"));
        }
        match changes {
            None => out.push_str("     Changes:\n"),
            Some(c) => {
                out.push_str("     Changes:\n");
                out.push_str(&super::nested::render(&Value::Object(c.clone()), 14));
            }
        }
    }
    out.push_str(&format!("\nSummary for {id}\n------------\n"));
    out.push_str(&format!("Succeeded: {ok} (changed={changed})\n"));
    if pending > 0 {
        out.push_str(&format!("Would change: {pending}\n"));
    }
    out.push_str(&format!(
        "Failed:    {failed}\n------------\nTotal states run: {}\n",
        states.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_states_in_run_order_with_a_summary() {
        let ret = json!({
            "cmd_|-b_|-b_|-run": {"__id__": "b", "__run_num__": 1, "function": "cmd.run", "name": "b", "result": false, "comment": "boom", "changes": {}},
            "cmd_|-a_|-a_|-run": {"__id__": "a", "__run_num__": 0, "function": "cmd.run", "name": "a", "result": true, "comment": "ok", "changes": {"retcode": 0}},
        });
        assert!(is_state_ret(&ret));
        let text = render(&ret, "node1");
        assert!(
            text.find("ID: a").unwrap() < text.find("ID: b").unwrap(),
            "{text}"
        );
        assert!(text.contains("Succeeded: 1 (changed=1)\n"), "{text}");
        assert!(text.contains("Failed:    1\n"), "{text}");
        assert!(!is_state_ret(&json!({"a": 1})));
    }
}
