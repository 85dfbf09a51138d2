//! `git.config_set` and `git.config_unset`: git configuration values of a
//! repository (`repo`) or of a user (`global: True`), as Salt's
//! `salt.states.git` sets and unsets them.
//!
//! The probe asks `git config` itself (`--get-all`, `--get-regexp`, NUL
//! separated, as `user` with that user's home); the plan compares with
//! what is declared, with Salt's comments and `changes` (test mode:
//! `{old, new}`; applied: `{NAME: {old, new}}`); the apply runs `git
//! config --replace-all` / `--unset-all` + `--add` / `--unset[-all]`.

use serde::Deserialize;
use serde_json::json;

use super::{Applied, BuildCtx, FnDef, ModuleDef, Output, Plan, PlanMismatch, StateFunction};
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

pub const MODULE: ModuleDef = ModuleDef {
    name: "git",
    functions: &[
        FnDef {
            name: "config_set",
            doc: "Set the git config key `name` to `value` (or the values `multivar`) in `repo`, or globally for `user` (global: True).",
            args: &["value", "multivar", "repo", "user", "global"],
            build: build_set,
        },
        FnDef {
            name: "config_unset",
            doc: "Unset the git config keys matching `name` (a regex), or only their values matching `value_regex` (all: True for every match).",
            args: &["value_regex", "all", "repo", "user", "global"],
            build: build_unset,
        },
    ],
    ledger: &[],
};

const TAG: &str = "halite-git:";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetArgs {
    value: Option<Value>,
    multivar: Option<Value>,
    repo: Option<String>,
    user: Option<String>,
    #[serde(default, rename = "global")]
    global: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnsetArgs {
    value_regex: Option<Value>,
    #[serde(default)]
    all: bool,
    repo: Option<String>,
    user: Option<String>,
    #[serde(default, rename = "global")]
    global: bool,
}

/// Where the configuration is: a repository's, or the user's global one.
#[derive(Debug)]
struct Scope {
    repo: Option<String>,
    user: Option<String>,
    global: bool,
}

#[derive(Debug)]
enum Want {
    /// The values, and how Salt's comments show them.
    Set { values: Vec<String>, shown: String },
    Unset {
        value_regex: Option<String>,
        all: bool,
    },
}

#[derive(Debug)]
struct GitConfig {
    name: String,
    scope: Scope,
    want: Want,
}

/// What the apply does, and its `changes` and comment once done.
#[derive(Debug, PartialEq)]
struct Todo {
    /// Keys to unset (config_unset), or none (config_set).
    keys: Vec<String>,
    changes: serde_json::Map<String, Value>,
    done: String,
}

fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

/// Python's repr of a list of strings (Salt's comment for a multivar).
fn py_list(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| crate::target::python_quote(s))
        .collect();
    format!("[{}]", quoted.join(", "))
}

fn scope(
    chunk: &Chunk,
    repo: Option<String>,
    user: Option<String>,
    global: bool,
) -> Result<Scope, String> {
    let err = |m: &str| format!("{}: {m}", chunk.describe());
    if !global && repo.is_none() {
        return Err(err(
            "Non-global config options require the 'repo' argument to be set",
        ));
    }
    if let Some(r) = &repo {
        if !r.starts_with('/') {
            return Err(err(&format!("repo `{r}` is not an absolute path")));
        }
    }
    if let Some(u) = &user {
        super::user::check_name("user", u).map_err(|e| err(&e))?;
    }
    if chunk.name.is_empty() || chunk.name.contains(['\n', '\0']) {
        return Err(err("name must be a config key"));
    }
    Ok(Scope { repo, user, global })
}

fn build_set(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: SetArgs = super::typed_args(chunk)?;
    let scope = scope(chunk, a.repo, a.user, a.global)?;
    let want = match (a.value, a.multivar) {
        (Some(_), Some(_)) => {
            return Err(format!(
                "{}: Only one of 'value' and 'multivar' is permitted",
                chunk.describe()
            ))
        }
        (Some(v), None) => {
            let v = py_str(&v);
            Want::Set {
                shown: format!("'{v}'"),
                values: vec![v],
            }
        }
        (None, Some(Value::Array(items))) => {
            let values: Vec<String> = items.iter().map(py_str).collect();
            Want::Set {
                shown: py_list(&values),
                values,
            }
        }
        (None, Some(v)) => {
            let values: Vec<String> = py_str(&v).split(',').map(str::to_string).collect();
            Want::Set {
                shown: py_list(&values),
                values,
            }
        }
        (None, None) => {
            return Err(format!(
                "{}: one of 'value' and 'multivar' is required",
                chunk.describe()
            ))
        }
    };
    Ok(Box::new(GitConfig {
        name: chunk.name.clone(),
        scope,
        want,
    }))
}

fn build_unset(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: UnsetArgs = super::typed_args(chunk)?;
    let scope = scope(chunk, a.repo, a.user, a.global)?;
    Ok(Box::new(GitConfig {
        name: chunk.name.clone(),
        scope,
        want: Want::Unset {
            value_regex: a.value_regex.as_ref().map(py_str),
            all: a.all,
        },
    }))
}

impl GitConfig {
    /// `git config ARGS` in the state's scope, as its user, with that
    /// user's home (where `--global` writes).
    fn git(&self, args: &[&str]) -> String {
        let mut words = vec!["git".to_string()];
        if let Some(r) = &self.scope.repo {
            if !self.scope.global {
                words.push("-C".into());
                words.push(quote(r));
            }
        }
        words.push("config".into());
        // Salt reads and writes only the named scope (never the system's).
        words.push(
            if self.scope.global {
                "--global"
            } else {
                "--local"
            }
            .into(),
        );
        words.extend(args.iter().map(|a| quote(a)));
        let cmd = words.join(" ");
        match &self.scope.user {
            None => cmd,
            Some(u) => super::run_as(
                u,
                &format!(
                    "sh -c {} halite",
                    quote(&format!(
                        "HOME=$(getent passwd \"$(id -un)\" | cut -d: -f6) exec {cmd}"
                    ))
                ),
                false,
            ),
        }
    }

    fn key_regex(&self) -> String {
        format!(
            "^{}$",
            self.name.trim_start_matches('^').trim_end_matches('$')
        )
    }

    fn global_prefix(&self, capital: bool) -> &'static str {
        match (self.scope.global, capital) {
            (false, _) => "",
            (true, true) => "Global key ",
            (true, false) => "global key ",
        }
    }
}

/// The probe's answer: git's exit status and its NUL-separated output
/// (shipped as \x01-separated in base64, the status last).
fn shipped(text: &str) -> Result<(Option<i32>, Vec<String>), String> {
    let (tags, content) = super::tagged_probe(text, TAG, "git config's output")?;
    if tags.iter().any(|t| t == "nogit") {
        return Err("git is not installed".into());
    }
    let content = content.unwrap_or_default();
    let mut items: Vec<String> = content.split('\u{1}').map(str::to_string).collect();
    let rc = items
        .pop()
        .and_then(|l| l.strip_prefix("rc ").and_then(|r| r.trim().parse().ok()));
    items.retain(|i| !i.is_empty());
    Ok((rc, items))
}

impl StateFunction for GitConfig {
    fn probe(&self) -> String {
        let cmd = match &self.want {
            Want::Set { .. } => self.git(&["--null", "--get-all", &self.name]),
            Want::Unset { value_regex, .. } => {
                let key = self.key_regex();
                let mut args = vec!["--null", "--get-regexp", key.as_str()];
                if let Some(v) = value_regex {
                    args.push(v);
                }
                self.git(&args)
            }
        };
        format!(
            "command -v git >/dev/null 2>&1 || {{ echo '{TAG} nogit'; exit 0; }}\n\
             out=$({{ {cmd} 2>&1; printf '\\001rc %s' \"$?\"; }} | tr '\\000' '\\001' | base64)\n\
             echo '{TAG} content'; printf '%s\\n' \"$out\"; echo '{TAG} end'\n"
        )
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let (rc, items) = shipped(out.text)?;
        let name = &self.name;
        match (&self.want, rc) {
            // git config: 1 is "no such key", other failures are errors.
            (_, Some(r)) if r != 0 && r != 1 => {
                Err(format!("git config failed (exit {r}): {}", items.join(" ")))
            }
            (Want::Set { values, shown }, rc) => {
                let pre = (rc == Some(0)).then_some(items);
                if pre.as_ref() == Some(values) {
                    return Ok(Plan::noop(format!(
                        "{}'{name}' is already set to {shown}",
                        self.global_prefix(true)
                    )));
                }
                let verb = if pre.is_none() { "added as" } else { "set to" };
                let mut done = serde_json::Map::new();
                done.insert(name.clone(), json!({"old": pre, "new": values}));
                Ok(Plan::change(
                    json!({"old": pre, "new": values}),
                    format!(
                        "{}'{name}' would be {verb} {shown}",
                        self.global_prefix(true)
                    ),
                )
                .with_data(Todo {
                    keys: Vec::new(),
                    changes: done,
                    done: format!("{}'{name}' was {verb} {shown}", self.global_prefix(true)),
                }))
            }
            (Want::Unset { value_regex, all }, rc) => {
                let mut matches: serde_json::Map<String, Value> = serde_json::Map::new();
                if rc == Some(0) {
                    for item in &items {
                        let (k, v) = item.split_once('\n').unwrap_or((item, ""));
                        let e = matches.entry(k.to_string()).or_insert_with(|| json!([]));
                        e.as_array_mut().expect("a list").push(json!(v));
                    }
                }
                if matches.is_empty() {
                    return Ok(Plan::noop("No matching keys are set"));
                }
                if !all {
                    let greedy: Vec<String> = matches
                        .iter()
                        .filter_map(|(k, v)| {
                            let vs: Vec<&str> =
                                v.as_array()?.iter().filter_map(Value::as_str).collect();
                            (vs.len() > 1).then(|| format!("{k} ({})", vs.join(", ")))
                        })
                        .collect();
                    if !greedy.is_empty() {
                        let what = if value_regex.is_some() {
                            "Multiple values are matched by value_regex for the following keys (set 'all' to True to force removal)"
                        } else {
                            "Multivar(s) matched by the key expression (set 'all' to True to force removal)"
                        };
                        return Err(format!("{what}: {}", greedy.join("; ")));
                    }
                }
                Ok(Plan::change(
                    Value::Object(matches.clone()),
                    format!("{} key(s) would have value(s) unset", matches.len()),
                )
                .with_data(Todo {
                    keys: matches.keys().cloned().collect(),
                    changes: matches,
                    done: "Value(s) successfully unset".into(),
                }))
            }
        }
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let t = plan.data::<Todo>()?;
        let mut s = String::new();
        match &self.want {
            Want::Set { values, .. } if values.len() == 1 => {
                s.push_str(&format!(
                    "{} || exit 1\n",
                    self.git(&["--replace-all", &self.name, &values[0]])
                ));
            }
            Want::Set { values, .. } => {
                // 5: the key was not set.
                s.push_str(&format!(
                    "{}; r=$?; [ $r -eq 0 ] || [ $r -eq 5 ] || exit 1\n",
                    self.git(&["--unset-all", &self.name])
                ));
                for v in values {
                    s.push_str(&format!(
                        "{} || exit 1\n",
                        self.git(&["--add", &self.name, v])
                    ));
                }
            }
            Want::Unset { value_regex, all } => {
                let flag = if *all { "--unset-all" } else { "--unset" };
                for k in &t.keys {
                    let mut args = vec![flag, k.as_str()];
                    if let Some(v) = value_regex {
                        args.push(v);
                    }
                    s.push_str(&format!("{} || exit 1\n", self.git(&args)));
                }
            }
        }
        Ok(s)
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        let t = match plan.data::<Todo>() {
            Ok(t) => t,
            Err(e) => return e.into(),
        };
        let mut a = super::finish_with(plan, out, t.done.clone());
        if a.result {
            a.changes = t.changes.clone();
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(function: &str, name: &str, args: Value) -> Result<Box<dyn StateFunction>, String> {
        let chunk = Chunk::standalone("git", function, name, args);
        let ctx = BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        };
        (super::super::lookup("git", function).unwrap().build)(&chunk, &ctx)
    }

    fn facts(rc: i32, items: &[&str]) -> String {
        let mut joined: String = items.iter().map(|i| format!("{i}\u{1}")).collect();
        joined.push_str(&format!("\u{1}rc {rc}"));
        format!(
            "{TAG} content\n{}\n{TAG} end\n",
            data_encoding::BASE64.encode(joined.as_bytes())
        )
    }

    #[test]
    fn config_set_as_salt_reports_it() {
        let f = state(
            "config_set",
            "user.email",
            json!({"value": "a@b", "repo": "/r"}),
        )
        .unwrap();
        let p = f
            .plan(Output {
                text: &facts(1, &[]),
                rc: 0,
            })
            .unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"old": null, "new": ["a@b"]})
        );
        assert_eq!(p.comment, "'user.email' would be added as 'a@b'");
        let t = p.data::<Todo>().unwrap();
        assert_eq!(
            Value::Object(t.changes.clone()),
            json!({"user.email": {"old": null, "new": ["a@b"]}})
        );
        assert_eq!(t.done, "'user.email' was added as 'a@b'");
        let p = f
            .plan(Output {
                text: &facts(0, &["a@b"]),
                rc: 0,
            })
            .unwrap();
        assert_eq!(p.comment, "'user.email' is already set to 'a@b'");
        let f = state(
            "config_set",
            "x.y",
            json!({"multivar": ["a", 2], "global": true}),
        )
        .unwrap();
        let p = f
            .plan(Output {
                text: &facts(0, &["a"]),
                rc: 0,
            })
            .unwrap();
        assert_eq!(p.comment, "Global key 'x.y' would be set to ['a', '2']");
    }

    #[test]
    fn config_unset_as_salt_reports_it() {
        let f = state("config_unset", "foo\\..+", json!({"repo": "/r"})).unwrap();
        let p = f
            .plan(Output {
                text: &facts(0, &["foo.a\n1", "foo.b\n2"]),
                rc: 0,
            })
            .unwrap();
        assert_eq!(
            Value::Object(p.changes.clone()),
            json!({"foo.a": ["1"], "foo.b": ["2"]})
        );
        assert_eq!(p.comment, "2 key(s) would have value(s) unset");
        let e = f
            .plan(Output {
                text: &facts(0, &["foo.a\n1", "foo.a\n2"]),
                rc: 0,
            })
            .unwrap_err();
        assert!(e.starts_with("Multivar(s) matched"), "{e}");
        assert!(f
            .plan(Output {
                text: &facts(1, &[]),
                rc: 0
            })
            .unwrap()
            .is_noop());
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(state("config_set", "a.b", json!({"value": 1}))
            .unwrap_err()
            .contains("require the 'repo'"));
        assert!(state(
            "config_set",
            "a.b",
            json!({"value": 1, "multivar": [1], "repo": "/r"})
        )
        .unwrap_err()
        .contains("Only one of"));
    }
}
