//! The `cmd` states: run a command (`cmd.run`), a script shipped from
//! `salt://` (`cmd.script`), or a command only as the reaction to a
//! watched change (`cmd.wait`).
//!
//! `cmd.run` and `cmd.script` run every time, as in Salt, unless guarded:
//! `unless` / `onlyif` / `creates` (checked by the engine in the gather
//! script) or `onchanges`. `cmd.wait` does nothing on its own; with
//! `watch` / `listen` it runs when a watched state changed (Salt's
//! `mod_watch`), and its output is the state's result.

use serde::Deserialize;
use serde_json::json;

use super::{Applied, BuildCtx, FnDef, ModuleDef, Output, Plan, PlanMismatch, StateFunction};
use crate::render::Extra;
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

/// `cmd.script`'s arguments; the first seven are every `cmd` state's
/// (Salt's that change nothing here are accepted and ignored: output
/// levels, `stateful`, and `timeout`, which the run's `-t` governs).
const SCRIPT_ARGS: &[&str] = &[
    "cwd",
    "env",
    "stateful",
    "shell",
    "timeout",
    "output_loglevel",
    "hide_output",
    "source",
    "args",
    "template",
    "context",
    "defaults",
];
const COMMON: &[&str] = SCRIPT_ARGS.split_at(7).0;

pub const MODULE: ModuleDef = ModuleDef {
    name: "cmd",
    functions: &[
        FnDef {
            name: "run",
            doc: "Run the command `name` (guard it with unless / onlyif / creates / onchanges).",
            args: COMMON,
            build: build_run,
        },
        FnDef {
            name: "wait",
            doc: "Run the command `name` only when a state it watches (watch / listen) changed.",
            args: COMMON,
            build: build_wait,
        },
        FnDef {
            name: "script",
            doc: "Ship the script `source` (salt://, optionally a jinja template) and run it with `args`.",
            args: SCRIPT_ARGS,
            build: build_script,
        },
    ],
    ledger: &[],
};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Args {
    cwd: Option<String>,
    #[serde(default)]
    env: Option<serde_json::Map<String, Value>>,
    shell: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ScriptArgs {
    cwd: Option<String>,
    #[serde(default)]
    env: Option<serde_json::Map<String, Value>>,
    shell: Option<String>,
    source: Option<Value>,
    args: Option<Value>,
    template: Option<String>,
    context: Option<serde_json::Map<String, Value>>,
    defaults: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug)]
struct Run {
    name: String,
    args: Args,
    runas: Option<String>,
    /// `cmd.wait`: nothing to do unless a watched state changed.
    wait: bool,
    script: Option<Script>,
}

/// `cmd.script`'s script, decided on the controller.
#[derive(Debug)]
struct Script {
    body: Vec<u8>,
    /// Appended to the script's command line, as shell words (like
    /// `cmd.run`'s `name`, it is the SLS author's shell text).
    args: String,
}

fn build_run(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let args: Args = super::typed_args(chunk)?;
    Ok(Box::new(run_state(chunk, args, false, None)?))
}

fn build_wait(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let args: Args = super::typed_args(chunk)?;
    Ok(Box::new(run_state(chunk, args, true, None)?))
}

/// `cmd.script`: `source` (or a `salt://` name, as Salt allows) is read
/// (and rendered) on the controller and shipped inside the apply script.
fn build_script(chunk: &Chunk, ctx: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: ScriptArgs = super::typed_args(chunk)?;
    let source = match (&a.source, chunk.name.starts_with("salt://")) {
        (Some(s), _) => s.clone(),
        (None, true) => Value::String(chunk.name.clone()),
        (None, false) => {
            return Err(format!(
                "{}: cmd.script needs `source` (a salt:// URL)",
                chunk.describe()
            ))
        }
    };
    let jinja = super::file::jinja_template(chunk, a.template.as_deref())?;
    let extra = Extra {
        defaults: super::file::to_btree(a.defaults),
        context: super::file::to_btree(a.context),
    };
    let body = super::file::read_source(chunk, ctx, &source, jinja, &extra)?;
    let args = match &a.args {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
        Some(other) => {
            return Err(format!(
                "{}: args `{other}` must be a string",
                chunk.describe()
            ))
        }
    };
    let common = Args {
        cwd: a.cwd,
        env: a.env,
        shell: a.shell,
    };
    Ok(Box::new(run_state(
        chunk,
        common,
        false,
        Some(Script { body, args }),
    )?))
}

fn run_state(chunk: &Chunk, args: Args, wait: bool, script: Option<Script>) -> Result<Run, String> {
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
    Ok(Run {
        name: chunk.name.clone(),
        args,
        runas: chunk.globals.runas.clone(),
        wait,
        script,
    })
}

impl Run {
    /// The command's snippet: the state's apply, and `cmd.wait`'s reaction.
    fn command(&self) -> String {
        let mut s = String::new();
        // The script goes to a private directory of its own (readable by
        // `runas`' user when there is one), removed once it has run.
        if let Some(script) = &self.script {
            s.push_str(
                "h_d=$(mktemp -d \"${TMPDIR:-/tmp}/halite-script.XXXXXX\") || exit 1\ntrap 'rm -rf \"$h_d\"' EXIT\n",
            );
            s.push_str(&super::file::b64_heredoc(
                &script.body,
                "\"$h_d/script\"",
                "exit 1",
            ));
            s.push_str("chmod 700 \"$h_d/script\" || exit 1\nexport h_d\n");
            if let Some(user) = &self.runas {
                s.push_str(&format!("chown -R {} \"$h_d\" || exit 1\n", quote(user)));
            }
        }
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
        let run = match &self.script {
            None => {
                let shell = self.args.shell.as_deref().unwrap_or("/bin/sh");
                format!("{} -c {}", quote(shell), quote(&self.name))
            }
            // A script with a `#!` line runs through it; otherwise (or with
            // `shell`) through the shell, as Salt does.
            Some(script) => {
                let interpreter = match &self.args.shell {
                    Some(sh) => format!("{} ", quote(sh)),
                    None if script.body.starts_with(b"#!") => String::new(),
                    None => "/bin/sh ".to_string(),
                };
                format!("{interpreter}\"$h_d/script\" {}", script.args)
            }
        };
        // `exec` would skip the script's clean-up trap.
        let exec = self.script.is_none();
        match &self.runas {
            Some(user) => s.push_str(&super::run_as(user, &run, exec)),
            None if exec => s.push_str(&format!("exec {run}")),
            None => s.push_str(&run),
        }
        s.push('\n');
        s
    }
}

impl StateFunction for Run {
    fn probe(&self) -> String {
        String::new()
    }

    fn plan(&self, _: Output) -> Result<Plan, String> {
        if self.wait {
            return Ok(Plan::noop(format!(
                "Command \"{}\" runs only when a watched state changes",
                self.name
            )));
        }
        Ok(Plan::change(
            json!({"command": self.name}),
            format!("Command \"{}\" would run", self.name),
        ))
    }

    fn apply(&self, _: &Plan) -> Result<String, PlanMismatch> {
        Ok(self.command())
    }

    /// `cmd.wait`'s reaction: the command itself.
    fn watch(&self, plan: &Plan) -> Option<String> {
        let _ = plan;
        self.wait.then(|| self.command())
    }

    /// ... and its output is the state's result, as for `cmd.run`.
    fn watch_finish(&self, plan: &Plan, out: Output) -> Option<Applied> {
        self.wait.then(|| self.finish(plan, out))
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
            sls: "t".into(),
            file: "t.sls".into(),
            ..Chunk::standalone("cmd", "run", name, args)
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
        let script = f.apply(&plan).unwrap();
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

    #[test]
    fn wait_does_nothing_until_a_watched_state_changes() {
        let f = build_wait(&chunk("echo reacted", json!({})), &ctx()).unwrap();
        let plan = f.plan(Output { text: "", rc: 0 }).unwrap();
        assert!(plan.is_noop(), "{plan:?}");
        let reaction = f.watch(&plan).expect("cmd.wait reacts to watch");
        assert!(reaction.contains("echo reacted"), "{reaction}");
        let done = f
            .watch_finish(
                &plan,
                Output {
                    text: "reacted\n",
                    rc: 0,
                },
            )
            .unwrap();
        assert!(done.result);
        assert_eq!(done.changes["stdout"], "reacted");
        // cmd.run's own watch behaviour is unchanged (none).
        let run = build_run(&chunk("true", json!({})), &ctx()).unwrap();
        assert!(run.watch(&plan).is_none());
    }

    /// cmd.script ships the script, runs it (through its `#!` line, or
    /// `sh`), with args as shell words, and leaves no temp files.
    #[test]
    fn script_is_shipped_run_and_cleaned_up() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("scripts")).unwrap();
        std::fs::write(
            root.path().join("scripts/hi.sh"),
            "#!/bin/sh\nprintf '%s|' \"$@\" \"$GREETING\" \"$(pwd)\"\n",
        )
        .unwrap();
        std::fs::write(root.path().join("scripts/plain"), "echo \"plain $1\"\n").unwrap();
        let ctx = BuildCtx {
            states_root: root.path(),
            renderer: None,
        };
        let tmp = tempfile::tempdir().unwrap();
        let run = |f: &dyn StateFunction| {
            let plan = f.plan(Output { text: "", rc: 0 }).unwrap();
            assert!(!plan.is_noop());
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(f.apply(&plan).unwrap())
                .env("TMPDIR", tmp.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        let f = build_script(
            &chunk(
                "greet",
                json!({"source": "salt://scripts/hi.sh", "args": "one 'two words'",
                       "cwd": "/tmp", "env": {"GREETING": "it's me"}}),
            ),
            &ctx,
        )
        .unwrap();
        assert_eq!(run(f.as_ref()), "one|two words|it's me|/tmp|");
        // The name itself may be the salt:// URL; no `#!` line: sh runs it.
        let f = build_script(&chunk("salt://scripts/plain", json!({"args": 7})), &ctx).unwrap();
        assert_eq!(run(f.as_ref()), "plain 7\n");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);

        let err = |args: Value| build_script(&chunk("x", args), &ctx).err().unwrap();
        assert!(err(json!({})).contains("needs `source`"));
        assert!(err(json!({"source": "salt://scripts/nope"})).contains("not found"));
        assert!(
            err(json!({"source": "salt://scripts/hi.sh", "args": ["a"]}))
                .contains("must be a string")
        );
        assert!(
            err(json!({"source": "salt://scripts/hi.sh", "template": "mako"}))
                .contains("only jinja")
        );
    }
}
