//! Execution functions called from templates while a state run renders
//! (`salt['cmd.run']('id -u')`): the renderer's [`RemoteCall`], answered by
//! this registry over the run's own connection, as Salt runs them on the
//! minion while rendering. The state engine receives it from whoever starts
//! the run (the fleet runner), so the engine needs no execution function.

use std::sync::Arc;

use super::{Call, Function, HostCtx};
use crate::args::Args;
use crate::render::{RemoteCall, RemoteScript};
use crate::transport::Connection;
use crate::transport::ExecOutput;
use crate::Value;

/// Execution functions called from templates (`salt['cmd.run']('id -u')`),
/// run on the host over the run's own connection, as Salt runs them on
/// the minion while rendering. Each call is one more remote execution.
pub struct HostCall {
    pub conn: Arc<Connection>,
    pub id: String,
    pub grains: Value,
    /// The controller's mine, for `salt['mine.get']`.
    pub mine: Option<Arc<super::mine::Mine>>,
}

impl RemoteCall for HostCall {
    fn call(&self, function: &str, args: &Args) -> Result<Value, String> {
        let spec =
            super::lookup(function).ok_or_else(|| format!("unknown function `{function}`"))?;
        let f = (spec.parse)(args).map_err(|e| e.to_string())?;
        // Only a function that is one script on the host is answered
        // here, and `mine.get`, from the controller's mine.
        let f = match Call::of(f.into()) {
            Call::Script(f) => f,
            Call::Mine(super::mine::MineCall::Get(get)) => {
                let mine = self
                    .mine
                    .as_ref()
                    .ok_or_else(|| format!("{function}: no mine store in this run"))?;
                return mine.get(&get, &self.id, &self.grains);
            }
            _ => return Err(format!("{function} cannot be called from a template")),
        };
        let ctx = HostCtx {
            id: &self.id,
            grains: &self.grains,
        };
        let out = match f.command(&ctx) {
            None => None,
            Some(cmd) => {
                // Rendering is synchronous; the connection is async. The
                // run's runtime is multi-threaded, so this worker may block.
                let handle = tokio::runtime::Handle::try_current()
                    .map_err(|_| "no runtime to reach the host with".to_string())?;
                if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
                    return Err(
                        "remote calls from templates need the multi-threaded runtime".into(),
                    );
                }
                let conn = self.conn.clone();
                let out = tokio::task::block_in_place(|| handle.block_on(conn.exec(&cmd)))
                    .map_err(|e| format!("{function}: {e}"))?;
                Some(out)
            }
        };
        // As in Salt, a command's failure is its return value (cmd.run
        // gives its output), not a render error.
        Ok(f.interpret(&ctx, out.as_ref()).ret)
    }

    /// `module.run`'s function: its one script, run later in the apply.
    fn script(&self, function: &str, args: &Args) -> Result<Box<dyn RemoteScript>, String> {
        let spec =
            super::lookup(function).ok_or_else(|| format!("unknown function `{function}`"))?;
        let f = (spec.parse)(args).map_err(|e| e.to_string())?;
        let Call::Script(f) = Call::of(f.into()) else {
            return Err(format!("{function} cannot run from a state"));
        };
        let ctx = HostCtx {
            id: &self.id,
            grains: &self.grains,
        };
        let text = match f.command(&ctx) {
            Some(cmd) if cmd.stdin.is_some() => {
                return Err(format!(
                    "{function} reads its input on stdin, which a state's script cannot give it"
                ))
            }
            Some(cmd) => Some(cmd.script),
            None => None,
        };
        Ok(Box::new(HostScript {
            f,
            text,
            id: self.id.clone(),
            grains: self.grains.clone(),
        }))
    }
}

/// One execution function as part of a state run's apply script.
#[derive(Debug)]
struct HostScript {
    f: Arc<dyn Function>,
    text: Option<String>,
    id: String,
    grains: Value,
}

impl RemoteScript for HostScript {
    fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    fn read(&self, printed: &str, rc: i32) -> (bool, Value) {
        let ctx = HostCtx {
            id: &self.id,
            grains: &self.grains,
        };
        // The apply script joins stderr to stdout.
        let out = self.text.as_ref().map(|_| ExecOutput {
            stdout: printed.to_string(),
            stderr: String::new(),
            exit_code: Some(rc),
        });
        let o = self.f.interpret(&ctx, out.as_ref());
        (o.success, o.ret)
    }
}
