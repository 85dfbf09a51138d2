//! `cmd.run` as a state: run a command. Without `unless`, `onlyif` or
//! `creates` (checked by the engine in the gather script) it runs every
//! time, as in Salt; with `onchanges`/`watch` it runs only when those
//! changed (Salt's `cmd.wait`).

use serde::Deserialize;
use serde_json::json;

use super::{Applied, BuildCtx, FnDef, ModuleDef, Output, Plan, StateFunction};
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

pub const MODULE: ModuleDef = ModuleDef {
    name: "cmd",
    functions: &[FnDef {
        name: "run",
        doc: "Run the command `name` (guard it with unless / onlyif / creates / onchanges).",
        args: &[
            "cwd",
            "env",
            "stateful",
            "shell",
            "timeout",
            "output_loglevel",
            "hide_output",
        ],
        build: build_run,
    }],
};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Args {
    cwd: Option<String>,
    #[serde(default)]
    env: Option<serde_json::Map<String, Value>>,
    shell: Option<String>,
}

#[derive(Debug)]
struct Run {
    name: String,
    args: Args,
    runas: Option<String>,
}

fn build_run(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let args: Args = super::typed_args(chunk)?;
    if let Some(env) = &args.env {
        for k in env.keys() {
            let ident = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ident {
                return Err(format!(
                    "{}: env name `{k}` is not a valid variable name",
                    chunk.describe()
                ));
            }
        }
    }
    Ok(Box::new(Run {
        name: chunk.name.clone(),
        args,
        runas: chunk.globals.runas.clone(),
    }))
}

impl StateFunction for Run {
    fn probe(&self) -> String {
        String::new()
    }

    fn plan(&self, _: Output) -> Result<Plan, String> {
        Ok(Plan::change(
            json!({"command": self.name}),
            format!("Command \"{}\" would run", self.name),
        ))
    }

    fn apply(&self, _: &Plan) -> String {
        let mut s = String::new();
        if let Some(cwd) = &self.args.cwd {
            s.push_str(&format!("cd {} || exit 1\n", quote(cwd)));
        }
        if let Some(env) = &self.args.env {
            for (k, v) in env {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                s.push_str(&format!("export {k}={}\n", quote(&v)));
            }
        }
        let shell = self.args.shell.as_deref().unwrap_or("/bin/sh");
        let run = format!("{} -c {}", quote(shell), quote(&self.name));
        match &self.runas {
            Some(user) => {
                s.push_str(&super::run_as(user, &run, true));
                s.push('\n');
            }
            None => s.push_str(&format!("exec {run}\n")),
        }
        s
    }

    fn finish(&self, _: &Plan, out: Output) -> Applied {
        let text = out.text.trim_end().to_string();
        let mut changes = serde_json::Map::new();
        changes.insert("retcode".into(), json!(out.rc));
        changes.insert("stdout".into(), json!(text));
        Applied {
            result: out.rc == 0,
            changes,
            comment: if out.rc == 0 {
                format!("Command \"{}\" run", self.name)
            } else {
                format!("Command \"{}\" failed with exit code {}", self.name, out.rc)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(name: &str, args: Value) -> Chunk {
        Chunk {
            id: name.into(),
            name: name.into(),
            module: "cmd".into(),
            function: "run".into(),
            sls: "t".into(),
            file: "t.sls".into(),
            args: args.as_object().cloned().unwrap_or_default(),
            globals: Default::default(),
            requisites: vec![],
            order: crate::state::Order::Auto,
        }
    }

    fn ctx() -> BuildCtx<'static> {
        BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        }
    }

    #[test]
    fn runs_quoted_and_reports_like_salt() {
        let f = build_run(
            &chunk(
                "echo \"$GREETING\" from $(pwd)",
                json!({"cwd": "/tmp", "env": {"GREETING": "it's me"}}),
            ),
            &ctx(),
        )
        .unwrap();
        let plan = f.plan(Output { text: "", rc: 0 }).unwrap();
        assert!(!plan.is_noop());
        let script = f.apply(&plan);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "it's me from /tmp\n");
        let done = f.finish(&plan, Output { text: "x\n", rc: 0 });
        assert!(done.result);
        assert_eq!(done.changes["stdout"], "x");
        assert!(!f.finish(&plan, Output { text: "", rc: 2 }).result);
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(build_run(&chunk("x", json!({"cwdd": "/"})), &ctx()).is_err());
        assert!(build_run(&chunk("x", json!({"env": {"A B": "1"}})), &ctx()).is_err());
    }
}
