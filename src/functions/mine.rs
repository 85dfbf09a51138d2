//! The `mine` execution module, kept on the controller (Salt keeps it on
//! the master): `mine.update` runs each host's `mine_functions` (from its
//! pillar) as ONE script on the host and stores their returns in the
//! controller's [`crate::mine::Store`]; `mine.get`, `mine.delete` and
//! `mine.flush` are answered from that store without connecting, and so
//! is a template's `salt['mine.get'](tgt, fun, tgt_type)` (through
//! [`super::HostCall`]).
//!
//! `mine_functions` is read as Salt's `salt.utils.mine.parse_function_definition`
//! reads it: `fn: [args...]`, `alias: [{mine_function: fn}, arg, {kw: v}]`,
//! `alias: {mine_function: fn, kw: v}`; `allow_tgt` / `allow_tgt_type`
//! restrict which hosts may read an entry (Salt's minion-side ACL, stored
//! in Salt's wrapped form).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{ArgError, Args, Function, HostCtx, Outcome, Spec};
use crate::engine::Project;
use crate::mine::{Funs, HostMine, Store};
use crate::target::{MatchCtx, Target, TargetType};
use crate::transport::{Command, Connection, ExecOutput, TransportError};
use crate::Value;

pub const FUNCTIONS: &[Spec] = &[
    Spec {
        name: "mine.update",
        doc: "Run the host's pillar mine_functions on it and store their returns on the controller: clear=False mine_functions=...",
        parse: parse_update,
    },
    Spec {
        name: "mine.get",
        doc: "The stored mine data of the hosts TGT names: mine.get TGT FUN [TGT_TYPE] exclude_minion=False (answered on the controller).",
        parse: parse_get,
    },
    Spec {
        name: "mine.delete",
        doc: "Forget the host's stored mine data for FUN (on the controller).",
        parse: |args| {
            args.check("mine.delete", &["fun"], 1)?;
            let fun = args.required("mine.delete", 0, "fun")?;
            Ok(Box::new(MineFunction(MineCall::Delete { fun })))
        },
    },
    Spec {
        name: "mine.flush",
        doc: "Forget all the host's stored mine data (on the controller).",
        parse: |args| {
            args.check("mine.flush", &[], 0)?;
            Ok(Box::new(MineFunction(MineCall::Flush)))
        },
    },
];

/// What a mine function asks, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum MineCall {
    /// Run the mine functions on the host and store their returns.
    Update {
        clear: bool,
        /// `mine_functions=`: these instead of the pillar's.
        functions: Option<Value>,
    },
    Get(Get),
    Delete {
        fun: String,
    },
    Flush,
}

impl MineCall {
    /// Whether the call runs on the host (`mine.update`) rather than on the
    /// controller's store alone.
    pub fn on_host(&self) -> bool {
        matches!(self, MineCall::Update { .. })
    }
}

/// `mine.get TGT FUN [TGT_TYPE] [exclude_minion]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Get {
    pub tgt: String,
    pub funs: Funs,
    pub tgt_type: TargetType,
    pub exclude_minion: bool,
}

/// A mine function as the registry holds it; the fleet runs it through
/// [`super::Call::Mine`], never through [`Function::command`].
#[derive(Debug)]
struct MineFunction(MineCall);

impl Function for MineFunction {
    fn command(&self, _: &HostCtx) -> Option<Command> {
        None
    }
    fn interpret(&self, _: &HostCtx, _: Option<&ExecOutput>) -> Outcome {
        Outcome::fail(
            Value::String("mine functions are run by the mine".into()),
            None,
        )
    }
    fn mine_call(&self) -> Option<&MineCall> {
        Some(&self.0)
    }
}

fn parse_update(args: &Args) -> Result<Box<dyn Function>, ArgError> {
    const F: &str = "mine.update";
    args.check(F, &["clear", "mine_functions"], 2)?;
    let clear = match args.kwargs.get("clear").or_else(|| args.positional.first()) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(ArgError::Invalid {
                function: F,
                message: format!("`clear` must be True or False, got {v}"),
            })
        }
    };
    let functions = args
        .kwargs
        .get("mine_functions")
        .or_else(|| args.positional.get(1))
        .filter(|v| !v.is_null())
        .cloned();
    if let Some(f) = &functions {
        // Checked now, so a typo stops the run before it connects.
        entries(f).map_err(|message| ArgError::Invalid {
            function: F,
            message,
        })?;
    }
    Ok(Box::new(MineFunction(MineCall::Update {
        clear,
        functions,
    })))
}

fn parse_get(args: &Args) -> Result<Box<dyn Function>, ArgError> {
    const F: &str = "mine.get";
    args.check(F, &["tgt", "fun", "tgt_type", "exclude_minion"], 4)?;
    let tgt = args.required(F, 0, "tgt")?;
    let fun = args
        .kwargs
        .get("fun")
        .or_else(|| args.positional.get(1))
        .ok_or_else(|| ArgError::Invalid {
            function: F,
            message: "missing required argument `fun`".into(),
        })?;
    let funs = Funs::from_value(fun).ok_or_else(|| ArgError::Invalid {
        function: F,
        message: format!("`fun` must be a function name or a list of them, got {fun}"),
    })?;
    let kind = args.string(F, 2, "tgt_type")?.unwrap_or("glob".into());
    let tgt_type = TargetType::from_name(&kind).ok_or_else(|| ArgError::Invalid {
        function: F,
        message: format!("unknown tgt_type `{kind}`"),
    })?;
    let exclude_minion = match args
        .kwargs
        .get("exclude_minion")
        .or_else(|| args.positional.get(3))
    {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(ArgError::Invalid {
                function: F,
                message: format!("`exclude_minion` must be True or False, got {v}"),
            })
        }
    };
    Ok(Box::new(MineFunction(MineCall::Get(Get {
        tgt,
        funs,
        tgt_type,
        exclude_minion,
    }))))
}

/// One `mine_functions` entry, read as Salt reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key the data is stored (and asked for) under.
    pub alias: String,
    /// The execution function run (`mine_function`, else the alias).
    pub function: String,
    pub args: Args,
    /// Salt's `allow_tgt` / `allow_tgt_type`: who may read it.
    pub allow: Option<(String, String)>,
}

/// `mine_functions` (a mapping, or `mine.update`'s list of names) as
/// entries; anything Salt would not read is an error naming the alias.
pub fn entries(functions: &Value) -> Result<Vec<Entry>, String> {
    let map = match functions {
        Value::Object(m) => m.clone(),
        Value::Array(names) => {
            let mut m = serde_json::Map::new();
            for n in names {
                let n = n
                    .as_str()
                    .ok_or_else(|| format!("mine_functions: a list holds names, got {n}"))?;
                m.insert(n.to_string(), Value::Object(Default::default()));
            }
            m
        }
        other => return Err(format!("mine_functions must be a mapping, got {other}")),
    };
    let mut out = Vec::new();
    for (alias, def) in map {
        let mut args = Args::default();
        match def {
            Value::Null => {}
            Value::Object(kw) => args.kwargs.extend(kw),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::Object(kw) => args.kwargs.extend(kw),
                        other => args.positional.push(other),
                    }
                }
            }
            other => {
                return Err(format!(
                "mine_functions `{alias}`: must be a list of arguments or a mapping, got {other}"
            ))
            }
        }
        let function = match args.kwargs.remove("mine_function") {
            None => alias.clone(),
            Some(Value::String(f)) => f,
            Some(other) => {
                return Err(format!(
                    "mine_functions `{alias}`: mine_function must be a function name, got {other}"
                ))
            }
        };
        let text = |v: Option<Value>, what: &str| match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(format!(
                "mine_functions `{alias}`: {what} must be a string, got {other}"
            )),
        };
        let allow_tgt = text(args.kwargs.remove("allow_tgt"), "allow_tgt")?;
        let allow_type = text(args.kwargs.remove("allow_tgt_type"), "allow_tgt_type")?;
        let allow = match (allow_tgt, allow_type) {
            (None, _) => None,
            (Some(t), kind) => {
                let kind = kind.unwrap_or_else(|| "glob".into());
                TargetType::from_name(&kind).ok_or_else(|| {
                    format!("mine_functions `{alias}`: unknown allow_tgt_type `{kind}`")
                })?;
                Some((t, kind))
            }
        };
        out.push(Entry {
            alias,
            function,
            args,
            allow,
        });
    }
    Ok(out)
}

/// Salt's marker of an entry stored with its readers' ACL.
const ACL_ID: &str = "__saltmine_acl__";
const ACL_DATA: &str = "__data__";

/// `ret` as stored: bare, or in Salt's ACL wrapping.
fn wrap(ret: Value, allow: &Option<(String, String)>) -> Value {
    match allow {
        None => ret,
        Some((tgt, kind)) => serde_json::json!({
            ACL_DATA: ret, ACL_ID: 1, "allow_tgt": tgt, "allow_tgt_type": kind,
        }),
    }
}

/// A stored value without its wrapping, and its ACL.
fn unwrap(stored: &Value) -> (Value, Option<(String, String)>) {
    match stored {
        Value::Object(m) if m.contains_key(ACL_ID) => {
            let acl = m.get("allow_tgt").and_then(Value::as_str).map(|t| {
                let kind = m.get("allow_tgt_type").and_then(Value::as_str);
                (t.to_string(), kind.unwrap_or("glob").to_string())
            });
            (m.get(ACL_DATA).cloned().unwrap_or(Value::Null), acl)
        }
        other => (other.clone(), None),
    }
}

/// What the mine reads and writes with: the store and the project (its
/// nodegroups for targets, its pillar for pillar targets).
#[derive(Debug, Clone)]
pub struct Mine {
    pub store: Store,
    pub project: Arc<Project>,
}

impl Mine {
    /// A controller-side call (`mine.get`, `mine.delete`, `mine.flush`) for
    /// host `id`, whose grains are `grains` when known.
    pub fn answer(&self, call: &MineCall, id: &str, grains: &Value) -> Outcome {
        let done = match call {
            MineCall::Get(get) => {
                return self.get(get, id, grains).map_or_else(failed, Outcome::ok)
            }
            MineCall::Delete { fun } => self.store.delete(id, fun),
            MineCall::Flush => self.store.flush(id),
            MineCall::Update { .. } => {
                return failed("mine.update runs on the host".into());
            }
        };
        match done {
            Ok(()) => Outcome::ok(Value::Bool(true)),
            Err(e) => failed(e.to_string()),
        }
    }

    /// `mine.get` as host `asking` (grains `grains`) asks it: the hosts
    /// the target names, matched on their id and their grains as stored,
    /// a pillar matcher deciding on the host's pillar compiled now; an
    /// entry with `allow_tgt` only when that target names `asking`.
    pub fn get(&self, get: &Get, asking: &str, grains: &Value) -> Result<Value, String> {
        let target = Target::parse(get.tgt_type, &get.tgt, &self.project.groups)
            .map_err(|e| format!("mine.get: {e}"))?;
        let mut mines = self.store.all().map_err(|e| e.to_string())?;
        if get.exclude_minion {
            mines.remove(asking);
        }
        let mut failure = None;
        let mut decide = |t: &Target, id: &str, g: &Value| -> bool {
            let ctx = MatchCtx::new(id, g);
            match t.decide(&ctx) {
                Some(d) => d,
                None => match self.pillar(id, g) {
                    Ok(p) => t.matches(&ctx.with_pillar(&p)),
                    Err(e) => {
                        failure.get_or_insert(e);
                        false
                    }
                },
            }
        };
        let asking_grains = match grains {
            Value::Null => mines.get(asking).map(|m| m.grains.clone()),
            g => Some(g.clone()),
        }
        .unwrap_or(Value::Null);
        let mut chosen: BTreeMap<String, HostMine> = BTreeMap::new();
        for (id, mine) in &mines {
            if !decide(&target, id, &mine.grains) {
                continue;
            }
            let mut kept = mine.clone();
            kept.data.clear();
            for (alias, stored) in &mine.data {
                let (value, acl) = unwrap(stored);
                let allowed = match &acl {
                    None => true,
                    Some((tgt, kind)) => {
                        let kind = TargetType::from_name(kind).unwrap_or(TargetType::Glob);
                        match Target::parse(kind, tgt, &self.project.groups) {
                            Ok(t) => decide(&t, asking, &asking_grains),
                            Err(_) => false,
                        }
                    }
                };
                if allowed {
                    kept.data.insert(alias.clone(), value);
                }
            }
            chosen.insert(id.clone(), kept);
        }
        if let Some(e) = failure {
            return Err(format!("mine.get: pillar for a pillar target: {e}"));
        }
        Ok(crate::mine::select(&chosen, &get.funs, |_| true))
    }

    /// Host `id`'s pillar, compiled from its stored grains, only to decide
    /// a pillar matcher: it goes nowhere else.
    fn pillar(&self, id: &str, grains: &Value) -> Result<Value, String> {
        let p = &self.project;
        crate::pillar::compile(&p.pillar, id, grains, &p.groups, None, &p.secrets)
            .map_err(|e| e.to_string())
    }

    /// `mine.update` on one connected host: the mine functions (`clear`,
    /// `given` as [`MineCall::Update`] holds them, else the pillar's
    /// `mine_functions`) run as one script, their returns stored.
    pub async fn update(
        &self,
        ctx: &HostCtx<'_>,
        clear: bool,
        given: Option<&Value>,
        pillar: &Value,
        conn: &Connection,
    ) -> Result<Outcome, TransportError> {
        let configured = given.or_else(|| pillar.get("mine_functions"));
        let entries = match configured {
            None | Some(Value::Null) => return Ok(Outcome::ok(Value::Null)),
            Some(v) => match entries(v) {
                Ok(e) if e.is_empty() => return Ok(Outcome::ok(Value::Null)),
                Ok(e) => e,
                Err(e) => return Ok(failed(e)),
            },
        };
        let batch = match Batch::new(&entries, ctx) {
            Ok(b) => b,
            Err(e) => return Ok(failed(e)),
        };
        let out = conn.exec(&batch.command()).await?;
        let (data, errors) = batch.read(ctx, &out);
        if let Err(e) = self
            .store
            .update(ctx.id, ctx.grains, data, clear, unix_now())
        {
            return Ok(failed(e.to_string()));
        }
        Ok(if errors.is_empty() {
            Outcome::ok(Value::Bool(true))
        } else {
            Outcome::fail(
                Value::Array(errors.into_iter().map(Value::String).collect()),
                out.exit_code,
            )
        })
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn failed(message: String) -> Outcome {
    Outcome::fail(Value::String(message), None)
}

/// The mine functions of one host as one script: each function's own
/// script in a subshell, its stdout, stderr and status printed between
/// marker lines no output can forge (a token made for this run).
struct Batch<'a> {
    entries: &'a [Entry],
    functions: Vec<Arc<dyn Function>>,
    scripts: Vec<Option<Command>>,
    token: String,
}

impl<'a> Batch<'a> {
    fn new(entries: &'a [Entry], ctx: &HostCtx) -> Result<Batch<'a>, String> {
        let mut functions = Vec::new();
        let mut scripts = Vec::new();
        for e in entries {
            let named = |msg: String| format!("mine_functions `{}`: {msg}", e.alias);
            let f: Arc<dyn Function> = super::parse_call(&e.function, &e.args)
                .map_err(|err| named(err.to_string()))?
                .into();
            if !matches!(super::Call::of(f.clone()), super::Call::Script(_)) {
                return Err(named(format!(
                    "{} does not run as a script on the host",
                    e.function
                )));
            }
            let cmd = f.command(ctx);
            if cmd.as_ref().is_some_and(|c| c.stdin.is_some()) {
                return Err(named(format!("{} reads its input on stdin", e.function)));
            }
            functions.push(f);
            scripts.push(cmd);
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let token = format!("@@mine-{:x}-{:x}", nanos, std::process::id());
        Ok(Batch {
            entries,
            functions,
            scripts,
            token,
        })
    }

    fn command(&self) -> Command {
        let t = crate::transport::quote::quote(&self.token);
        // The outputs wait in a private directory, removed on the way out
        // (a TERM from a timeout or Ctrl-C exits through the EXIT trap).
        let mut s = String::from(
            "h_mine=$(mktemp -d) || exit 1\ntrap 'rm -rf \"$h_mine\"' EXIT\n\
             trap 'exit 143' TERM INT HUP\n",
        );
        for (i, cmd) in self.scripts.iter().enumerate() {
            let Some(cmd) = cmd else { continue };
            s.push_str(&format!(
                "( {}\n) >\"$h_mine/o\" 2>\"$h_mine/e\" </dev/null; h_rc=$?\n\
                 printf '%s out {i}\\n' {t}; cat \"$h_mine/o\"\n\
                 printf '\\n%s err {i}\\n' {t}; cat \"$h_mine/e\"\n\
                 printf '\\n%s rc {i} %d\\n' {t} \"$h_rc\"\n",
                cmd.script
            ));
        }
        Command {
            script: s,
            stdin: None,
            timeout: self
                .scripts
                .iter()
                .flatten()
                .filter_map(|c| c.timeout)
                .max(),
        }
    }

    /// Each function's return by alias, and what failed.
    fn read(&self, ctx: &HostCtx, out: &ExecOutput) -> (BTreeMap<String, Value>, Vec<String>) {
        let mut data = BTreeMap::new();
        let mut errors = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            let own = match &self.scripts[i] {
                None => None,
                Some(_) => match section(&out.stdout, &self.token, i) {
                    Some(o) => Some(o),
                    None => {
                        errors.push(format!(
                            "{} ({}): no output came back{}",
                            e.alias,
                            e.function,
                            match out.stderr.trim() {
                                "" => String::new(),
                                s => format!(": {s}"),
                            }
                        ));
                        continue;
                    }
                },
            };
            let o = self.functions[i].interpret(ctx, own.as_ref());
            if o.success {
                data.insert(e.alias.clone(), wrap(o.ret, &e.allow));
            } else {
                // As Salt: a failing function is left out of the mine.
                errors.push(format!(
                    "{} ({}) failed: {}",
                    e.alias,
                    e.function,
                    text(&o.ret)
                ));
            }
        }
        (data, errors)
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Function `i`'s output from the batch's stdout.
fn section(stdout: &str, token: &str, i: usize) -> Option<ExecOutput> {
    let start_mark = format!("{token} out {i}\n");
    let err_mark = format!("\n{token} err {i}\n");
    let rc_mark = format!("\n{token} rc {i} ");
    let start = stdout.find(&start_mark)? + start_mark.len();
    let rest = &stdout[start..];
    let e = rest.find(&err_mark)?;
    let o = &rest[..e];
    let rest = &rest[e + err_mark.len()..];
    let r = rest.find(&rc_mark)?;
    let err = &rest[..r];
    let rc: i32 = rest[r + rc_mark.len()..]
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()?;
    Some(ExecOutput {
        stdout: o.to_string(),
        stderr: err.to_string(),
        exit_code: Some(rc),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn yaml(text: &str) -> Value {
        crate::yaml::from_str(text, std::path::Path::new("test.sls")).unwrap()
    }

    #[test]
    fn mine_functions_are_read_as_salt_reads_them() {
        let e = entries(&yaml(
            "network.ip_addrs: [eth0]\n\
             disk.usage: []\n\
             test.ping:\n\
             internal_ip:\n  - mine_function: network.ip_addrs\n  - cidr: 10.0.0.0/8\n  - eth1\n\
             public:\n  mine_function: network.ip_addrs\n  type: public\n\
             guarded:\n  - mine_function: test.ping\n  - allow_tgt: 'web*'\n",
        ))
        .unwrap();
        let by: BTreeMap<&str, &Entry> = e.iter().map(|e| (e.alias.as_str(), e)).collect();
        assert_eq!(by["network.ip_addrs"].function, "network.ip_addrs");
        assert_eq!(by["network.ip_addrs"].args.positional, [json!("eth0")]);
        assert!(by["disk.usage"].args.positional.is_empty());
        assert_eq!(by["test.ping"].function, "test.ping");
        let i = by["internal_ip"];
        assert_eq!(i.function, "network.ip_addrs");
        assert_eq!(i.args.positional, [json!("eth1")]);
        assert_eq!(i.args.kwargs["cidr"], "10.0.0.0/8");
        assert!(!i.args.kwargs.contains_key("mine_function"));
        assert_eq!(by["public"].args.kwargs["type"], "public");
        assert_eq!(
            by["guarded"].allow,
            Some(("web*".to_string(), "glob".to_string()))
        );
        assert!(by["guarded"].args.kwargs.is_empty());
    }

    #[test]
    fn a_list_of_names_and_bad_definitions() {
        let e = entries(&json!(["test.ping", "network.ip_addrs"])).unwrap();
        assert_eq!(e.len(), 2);
        for bad in [
            json!("network.ip_addrs"),
            json!({"a": 3}),
            json!({"a": [{"mine_function": 1}]}),
            json!({"a": [{"allow_tgt": "x", "allow_tgt_type": "bogus"}]}),
        ] {
            assert!(entries(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arguments_are_checked_before_connecting() {
        let f = |w: &[&str]| super::super::parse_call(w[0], &Args::from_words(&w[1..]));
        assert!(f(&["mine.get", "*"]).is_err());
        assert!(f(&["mine.get", "*", "f", "bogus"]).is_err());
        assert!(f(&["mine.update", "mine_functions=3"]).is_err());
        assert!(f(&["mine.delete"]).is_err());
        assert!(f(&["mine.flush", "x"]).is_err());
        let g = f(&["mine.get", "web*", "a,b", "compound", "exclude_minion=True"]).unwrap();
        assert_eq!(
            g.mine_call(),
            Some(&MineCall::Get(Get {
                tgt: "web*".into(),
                funs: Funs::Many(vec!["a".into(), "b".into()]),
                tgt_type: TargetType::Compound,
                exclude_minion: true,
            }))
        );
    }

    fn ctx() -> HostCtx<'static> {
        HostCtx {
            id: "web1",
            grains: &Value::Null,
        }
    }

    #[test]
    fn functions_that_cannot_be_batched_are_refused_by_alias() {
        for bad in [
            json!({"x": {"mine_function": "state.apply"}}),
            json!({"nope.fn": []}),
        ] {
            let e = entries(&bad).unwrap();
            let err = Batch::new(&e, &ctx()).err().unwrap();
            assert!(err.contains("mine_functions `"), "{err}");
        }
    }

    #[test]
    fn the_batch_runs_each_function_apart_in_each_shell() {
        let e = entries(&yaml(
            "echo:\n  - mine_function: cmd.run\n  - 'printf \"a\\nb\"'\n\
             fails:\n  - mine_function: cmd.run\n  - 'echo oops >&2; exit 3'\n\
             marker:\n  - mine_function: cmd.run\n  - 'echo \"@@mine-0 rc 0 0\"'\n\
             ping: [{mine_function: test.ping}, {allow_tgt: 'db*'}]\n",
        ))
        .unwrap();
        let b = Batch::new(&e, &ctx()).unwrap();
        let script = b.command().script;
        for (shell, stdout) in crate::testing::in_each_shell(&script) {
            let out = ExecOutput {
                stdout,
                stderr: String::new(),
                exit_code: Some(0),
            };
            let (data, errors) = b.read(&ctx(), &out);
            assert_eq!(
                data.get("echo"),
                Some(&json!("a\nb")),
                "{shell:?}: {errors:?}"
            );
            assert_eq!(
                data.get("marker"),
                Some(&json!("@@mine-0 rc 0 0")),
                "{shell:?}"
            );
            assert_eq!(
                unwrap(&data["ping"]),
                (json!(true), Some(("db*".into(), "glob".into())))
            );
            // A function failing on the host is said, and left out.
            assert!(!data.contains_key("fails"), "{shell:?}");
            assert_eq!(errors.len(), 1, "{shell:?}: {errors:?}");
            assert!(
                errors[0].starts_with("fails (cmd.run) failed"),
                "{errors:?}"
            );
        }
    }

    /// A mine of three hosts over a project whose pillar gives db1 a role.
    fn mine_of_three() -> (tempfile::TempDir, Mine) {
        let dir = tempfile::tempdir().unwrap();
        let pillar = dir.path().join("pillar");
        std::fs::create_dir_all(&pillar).unwrap();
        std::fs::write(pillar.join("top.sls"), "base:\n  db1:\n    - db\n").unwrap();
        std::fs::write(pillar.join("db.sls"), "role: database\n").unwrap();
        let project = Arc::new(Project {
            states: dir.path().join("states"),
            pillar,
            groups: Default::default(),
            secrets: Default::default(),
        });
        let store = Store::new(&dir.path().join("cache"));
        let only_web = Some(("web*".to_string(), "glob".to_string()));
        for (id, os) in [("web1", "Debian"), ("web2", "Fedora"), ("db1", "Debian")] {
            let data = [
                ("ip".to_string(), json!([format!("10.0.0.{}", id.len())])),
                ("os".to_string(), wrap(json!(os), &only_web)),
            ];
            store
                .update(
                    id,
                    &json!({"os": os}),
                    data.into_iter().collect(),
                    false,
                    0.0,
                )
                .unwrap();
        }
        (dir, Mine { store, project })
    }

    fn get(
        mine: &Mine,
        asking: &str,
        tgt: &str,
        fun: &str,
        kind: TargetType,
        exclude: bool,
    ) -> Value {
        let get = Get {
            tgt: tgt.into(),
            funs: Funs::from_value(&json!(fun)).unwrap(),
            tgt_type: kind,
            exclude_minion: exclude,
        };
        mine.get(&get, asking, &Value::Null).unwrap()
    }

    #[test]
    fn get_matches_pillar_on_the_controller_and_keeps_the_acl() {
        let (_d, m) = mine_of_three();
        let keys = |v: Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            keys(get(
                &m,
                "web1",
                "role:database",
                "ip",
                TargetType::Pillar,
                false
            )),
            ["db1"]
        );
        assert_eq!(
            keys(get(
                &m,
                "web1",
                "I@role:data* or web2",
                "ip",
                TargetType::Compound,
                false
            )),
            ["db1", "web2"]
        );
        assert_eq!(
            keys(get(&m, "web1", "*", "ip", TargetType::Glob, true)),
            ["db1", "web2"]
        );
        // `os` is for web* only, and unwrapped for them.
        assert_eq!(
            get(&m, "web2", "os:Debian", "os", TargetType::Grain, false),
            json!({"web1": "Debian", "db1": "Debian"})
        );
        assert_eq!(
            get(&m, "db1", "*", "os", TargetType::Glob, false),
            json!({})
        );
        // The command line's answers: delete and flush act on one host.
        let ok = Outcome::ok(Value::Bool(true));
        assert_eq!(
            m.answer(&MineCall::Delete { fun: "ip".into() }, "web1", &Value::Null),
            ok
        );
        assert_eq!(m.answer(&MineCall::Flush, "db1", &Value::Null), ok);
        assert_eq!(
            keys(get(&m, "web1", "*", "ip", TargetType::Glob, false)),
            ["web2"]
        );
        let bad = Get {
            tgt: "".into(),
            funs: Funs::One("ip".into()),
            tgt_type: TargetType::Glob,
            exclude_minion: false,
        };
        assert!(m.get(&bad, "web1", &Value::Null).is_err());
    }

    #[test]
    fn a_failing_function_is_left_out_and_said() {
        let e = entries(&json!({"ips": {"mine_function": "network.ip_addrs"}})).unwrap();
        let b = Batch::new(&e, &ctx()).unwrap();
        let t = &b.token;
        let out = ExecOutput {
            stdout: format!("{t} out 0\n\n{t} err 0\nno ip\n{t} rc 0 127\n"),
            stderr: String::new(),
            exit_code: Some(0),
        };
        let (data, errors) = b.read(&ctx(), &out);
        assert!(data.is_empty());
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("ips (network.ip_addrs) failed"),
            "{errors:?}"
        );
    }
}
