//! The `sys` module: `sys.doc` (execution functions) and `sys.state_doc`
//! (state functions, with the arguments each accepts), one line of
//! documentation per function, answered on the controller without
//! connecting.

use super::{ArgError, Args, Function, HostCtx, Outcome, Spec};
use crate::transport::{Command, ExecOutput};
use crate::Value;

pub const FUNCTIONS: &[Spec] = &[
    Spec {
        name: "sys.doc",
        doc: "Document every function, or those starting with the given module or name (sys.doc pkg).",
        parse: |args: &Args| -> Result<Box<dyn Function>, ArgError> {
            args.check("sys.doc", &[], 1)?;
            Ok(Box::new(Doc {
                prefix: args.string("sys.doc", 0, "name")?.unwrap_or_default(),
            }))
        },
    },
    Spec {
        name: "sys.state_doc",
        doc: "Document every state function and its arguments, or one module's (sys.state_doc file).",
        parse: |args: &Args| -> Result<Box<dyn Function>, ArgError> {
            args.check("sys.state_doc", &[], 1)?;
            Ok(Box::new(StateDoc {
                prefix: args.string("sys.state_doc", 0, "name")?.unwrap_or_default(),
            }))
        },
    },
];

#[derive(Debug)]
struct Doc {
    prefix: String,
}

fn wanted(prefix: &str, name: &str) -> bool {
    prefix.is_empty() || name == prefix || name.starts_with(&format!("{prefix}."))
}

impl Function for Doc {
    fn command(&self, _: &HostCtx) -> Option<Command> {
        None
    }
    fn interpret(&self, _: &HostCtx, _: Option<&ExecOutput>) -> Outcome {
        let p = &self.prefix;
        let docs: serde_json::Map<String, Value> = super::all()
            .filter(|s| wanted(p, s.name))
            .map(|s| (s.name.to_string(), Value::String(s.doc.to_string())))
            .collect();
        Outcome::ok(Value::Object(docs))
    }
    fn controller_only(&self) -> bool {
        true
    }
}

#[derive(Debug)]
struct StateDoc {
    prefix: String,
}

impl Function for StateDoc {
    fn command(&self, _: &HostCtx) -> Option<Command> {
        None
    }
    fn interpret(&self, _: &HostCtx, _: Option<&ExecOutput>) -> Outcome {
        let mut docs = serde_json::Map::new();
        for (name, doc, own) in crate::engine::state_functions() {
            if !wanted(&self.prefix, &name) {
                continue;
            }
            let mut args = vec!["name"];
            args.extend(own.iter().copied());
            docs.insert(
                name,
                Value::String(format!("{doc} Arguments: {}.", args.join(", "))),
            );
        }
        Outcome::ok(Value::Object(docs))
    }
    fn controller_only(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_doc_lists_state_functions_with_their_arguments() {
        let ctx = HostCtx {
            id: "h",
            grains: &Value::Null,
        };
        let all = StateDoc {
            prefix: String::new(),
        }
        .interpret(&ctx, None);
        let all = all.ret.as_object().unwrap();
        for f in [
            "file.recurse",
            "cmd.script",
            "ssh_auth.present",
            "cron.absent",
            "pkg.installed",
        ] {
            assert!(all.contains_key(f), "{f}");
        }
        let file = StateDoc {
            prefix: "file".into(),
        }
        .interpret(&ctx, None);
        let file = file.ret.as_object().unwrap();
        assert!(file.keys().all(|k| k.starts_with("file.")), "{file:?}");
        assert!(file["file.recurse"]
            .as_str()
            .unwrap()
            .contains("Arguments: name, source, clean"));
    }
}
