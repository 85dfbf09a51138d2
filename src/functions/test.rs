//! The `test` module: `test.ping`, the cheapest proof that a host answers.

use super::{ArgError, Args, Function, HostCtx, Outcome, Spec};
use crate::transport::{Command, ExecOutput};
use crate::Value;

pub const FUNCTIONS: &[Spec] = &[Spec {
    name: "test.ping",
    doc: "Return True when the host is reachable and can run a shell command.",
    parse: |args: &Args| -> Result<Box<dyn Function>, ArgError> {
        args.check("test.ping", &[], 0)?;
        Ok(Box::new(Ping))
    },
}];

#[derive(Debug)]
struct Ping;

impl Function for Ping {
    fn command(&self, _: &HostCtx) -> Option<Command> {
        Some(Command::new("true"))
    }
    fn interpret(&self, _: &HostCtx, out: Option<&ExecOutput>) -> Outcome {
        match out {
            Some(o) if o.success() => Outcome::ok(Value::Bool(true)),
            Some(o) => Outcome::fail(Value::String(o.stderr.trim().to_string()), o.exit_code),
            None => Outcome::fail(Value::Bool(false), None),
        }
    }
}
