//! The `sys` module: `sys.doc`, one line of documentation per function,
//! answered on the controller without connecting.

use super::{ArgError, Args, Function, HostCtx, Outcome, Spec};
use crate::transport::{Command, ExecOutput};
use crate::Value;

pub const FUNCTIONS: &[Spec] = &[Spec {
    name: "sys.doc",
    doc: "Document every function, or those starting with the given module or name (sys.doc pkg).",
    parse: |args: &Args| -> Result<Box<dyn Function>, ArgError> {
        args.check("sys.doc", &[], 1)?;
        Ok(Box::new(Doc {
            prefix: args.string("sys.doc", 0, "name")?.unwrap_or_default(),
        }))
    },
}];

#[derive(Debug)]
struct Doc {
    prefix: String,
}

impl Function for Doc {
    fn command(&self, _: &HostCtx) -> Option<Command> {
        None
    }
    fn interpret(&self, _: &HostCtx, _: Option<&ExecOutput>) -> Outcome {
        let p = &self.prefix;
        let docs: serde_json::Map<String, Value> = super::all()
            .filter(|s| p.is_empty() || s.name == p || s.name.starts_with(&format!("{p}.")))
            .map(|s| (s.name.to_string(), Value::String(s.doc.to_string())))
            .collect();
        Outcome::ok(Value::Object(docs))
    }
    fn controller_only(&self) -> bool {
        true
    }
}
