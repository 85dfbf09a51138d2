//! Salt's "nested" outputter: the default human rendering of a return value
//! (dicts under `----------`, lists as `- item`, Python-style True/False/None).

use crate::Value;

/// Render `value` indented by `indent` spaces, one line per scalar.
pub fn render(value: &Value, indent: usize) -> String {
    let mut out = String::new();
    write_value(&mut out, value, indent);
    out
}

fn scalar(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    })
}

fn write_value(out: &mut String, v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(map) => {
            out.push_str(&format!("{pad}----------\n"));
            for (k, v) in map {
                match scalar(v) {
                    Some(s) if !s.contains('\n') => {
                        out.push_str(&format!("{pad}{k}:\n{pad}    {s}\n"))
                    }
                    _ => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        write_value(out, v, indent + 4);
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match scalar(item) {
                    Some(s) if !s.contains('\n') => out.push_str(&format!("{pad}- {s}\n")),
                    _ => {
                        out.push_str(&format!("{pad}-\n"));
                        write_value(out, item, indent + 4);
                    }
                }
            }
        }
        other => {
            let s = scalar(other).unwrap_or_default();
            if s.is_empty() {
                out.push_str(&format!("{pad}\n"));
            }
            for line in s.lines() {
                out.push_str(&format!("{pad}{line}\n"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_like_salts_nested_outputter() {
        assert_eq!(render(&json!(true), 4), "    True\n");
        assert_eq!(render(&json!("a\nb"), 4), "    a\n    b\n");
        assert_eq!(
            render(&json!({"bash": {"new": "5.2", "old": ""}, "ls": [1, "x"]}), 4),
            "    ----------\n    bash:\n        ----------\n        new:\n            5.2\n        old:\n            \n    ls:\n        - 1\n        - x\n"
        );
    }
}
