//! Execution functions: what `halite TARGET FUNCTION ARGS...` runs.
//!
//! A function is parsed and checked on the controller before anything
//! connects (unknown functions and arguments are usage errors), then run on
//! each host as at most ONE `sh` script. Its output is interpreted back into
//! Salt's return shape. Adding a function is one [`Spec`] in its module's
//! `FUNCTIONS` list; adding a module is one line in [`MODULES`].

mod call;
pub mod cmd;
pub mod disk;
pub mod docker;
pub mod file;
pub mod grains;
pub mod pillar;
pub mod pkg;
pub mod service;
pub mod state;
pub mod status;
pub mod sys;
pub mod test;

use std::collections::BTreeMap;
use std::fmt::Debug;

pub use call::Call;

use crate::transport::{Command, ExecOutput};
use crate::Value;

/// Every module's function list; `sys.doc` and lookup walk this.
pub const MODULES: &[&[Spec]] = &[
    test::FUNCTIONS,
    cmd::FUNCTIONS,
    grains::FUNCTIONS,
    pillar::FUNCTIONS,
    pkg::FUNCTIONS,
    service::FUNCTIONS,
    docker::FUNCTIONS,
    file::FUNCTIONS,
    disk::FUNCTIONS,
    status::FUNCTIONS,
    state::FUNCTIONS,
    sys::FUNCTIONS,
];

/// One registered function.
pub struct Spec {
    /// `module.function`.
    pub name: &'static str,
    /// One line, shown by `sys.doc`.
    pub doc: &'static str,
    /// Check the arguments and build the function.
    pub parse: fn(&Args) -> Result<Box<dyn Function>, ArgError>,
}

/// Find a function by name.
pub fn lookup(name: &str) -> Option<&'static Spec> {
    MODULES
        .iter()
        .flat_map(|m| m.iter())
        .find(|s| s.name == name)
}

/// Every function, in registry order.
pub fn all() -> impl Iterator<Item = &'static Spec> {
    MODULES.iter().flat_map(|m| m.iter())
}

/// What a host's run of a function needs to know about that host.
#[derive(Debug, Clone, Copy)]
pub struct HostCtx<'a> {
    pub id: &'a str,
    /// The host's grains, when the function asked for them ([`Function::needs_grains`]).
    pub grains: &'a Value,
}

/// The outcome of a function on one host, in Salt's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// False when the function failed on this host (the run's exit code says so).
    pub success: bool,
    /// The return value shown to the user (`True`, stdout, a dict...).
    pub ret: Value,
    /// The remote script's exit code, when one ran.
    pub retcode: Option<i32>,
}

impl Outcome {
    pub fn ok(ret: Value) -> Self {
        Outcome {
            success: true,
            ret,
            retcode: Some(0),
        }
    }
    pub fn fail(ret: Value, retcode: Option<i32>) -> Self {
        Outcome {
            success: false,
            ret,
            retcode,
        }
    }
}

/// A checked, ready-to-run function call.
pub trait Function: Send + Sync + Debug {
    /// The one script to run on the host, or `None` when the function needs
    /// no remote execution (e.g. `grains.items` from a fresh cache).
    fn command(&self, ctx: &HostCtx) -> Option<Command>;

    /// Turn the script's output (None when no script ran) into the result.
    fn interpret(&self, ctx: &HostCtx, out: Option<&ExecOutput>) -> Outcome;

    /// True when the function reads the host's grains (the runner makes sure
    /// they are known before calling [`Function::command`]).
    fn needs_grains(&self) -> bool {
        false
    }

    /// True when the function needs no connection at all (`sys.doc`).
    fn controller_only(&self) -> bool {
        false
    }

    /// State functions (`state.apply`...) are run by the state engine,
    /// not as one script: they say so here.
    fn state_call(&self) -> Option<&crate::state::engine::StateCall> {
        None
    }

    /// True when the function answers from the host's pillar (`pillar.*`):
    /// the runner compiles it on the controller from this host's grains
    /// only (or reuses the one compiled for targeting) and calls
    /// [`Function::interpret_pillar`] instead of [`Function::interpret`].
    fn needs_pillar(&self) -> bool {
        false
    }

    /// A `pillar='{...}'` argument: merged over the compiled pillar, and
    /// visible to the pillar SLS files while they render.
    fn pillar_override(&self) -> Option<&Value> {
        None
    }

    /// [`Function::interpret`] with the host's pillar, for functions that
    /// [need it](Function::needs_pillar).
    fn interpret_pillar(&self, ctx: &HostCtx, pillar: &Value) -> Outcome {
        let _ = pillar;
        self.interpret(ctx, None)
    }
}

/// Arguments as typed on the command line: positionals and `key=value` pairs,
/// each value parsed like Salt does ([`crate::yaml::parse_scalar`]).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Args {
    pub positional: Vec<Value>,
    pub kwargs: BTreeMap<String, Value>,
    /// The text typed for each positional, before YAML parsing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub raw_positional: Vec<String>,
    /// The text typed for each keyword value, before YAML parsing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub raw_kwargs: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ArgError {
    #[error("unknown function `{name}`{}; see `halite '*' sys.doc`", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownFunction {
        name: String,
        suggestion: Option<String>,
    },
    #[error("{function}: unknown argument `{arg}`; valid arguments: {valid}")]
    UnknownArg {
        function: &'static str,
        arg: String,
        valid: String,
    },
    #[error("{function}: {message}")]
    Invalid {
        function: &'static str,
        message: String,
    },
}

impl Args {
    /// Split raw CLI words into positionals and `key=value` pairs the way
    /// Salt's `parse_input` does: a word is a keyword argument when the part
    /// before its first `=` is an identifier (dots and dashes allowed after
    /// the first character) and the value does not start with `=`.
    pub fn from_words<S: AsRef<str>>(words: &[S]) -> Args {
        let mut args = Args::default();
        for w in words {
            let w = w.as_ref();
            match split_kwarg(w) {
                Some((k, v)) => {
                    args.kwargs
                        .insert(k.to_string(), crate::yaml::parse_scalar(v));
                    args.raw_kwargs.insert(k.to_string(), v.to_string());
                }
                None => {
                    args.positional.push(crate::yaml::parse_scalar(w));
                    args.raw_positional.push(w.to_string());
                }
            }
        }
        args
    }

    /// Reject keyword arguments outside `valid` and more than `max_pos` positionals.
    pub fn check(
        &self,
        function: &'static str,
        valid: &[&str],
        max_pos: usize,
    ) -> Result<(), ArgError> {
        if let Some(k) = self.kwargs.keys().find(|k| !valid.contains(&k.as_str())) {
            return Err(ArgError::UnknownArg {
                function,
                arg: k.clone(),
                valid: if valid.is_empty() {
                    "none".into()
                } else {
                    valid.join(", ")
                },
            });
        }
        if self.positional.len() > max_pos {
            return Err(ArgError::Invalid {
                function,
                message: format!(
                    "takes at most {max_pos} positional argument(s), got {}",
                    self.positional.len()
                ),
            });
        }
        Ok(())
    }

    /// The text typed for keyword `name`, else positional `i`.
    fn raw(&self, i: usize, name: &str) -> Option<&str> {
        match self.kwargs.contains_key(name) {
            true => self.raw_kwargs.get(name).map(String::as_str),
            false => self.raw_positional.get(i).map(String::as_str),
        }
    }

    /// Positional `i` or keyword `name`, as a string. A number or boolean
    /// comes back as the text typed, so `version=1.10` stays `1.10` (Salt
    /// would pass 1.1) and `cmd.run true` stays `true`.
    pub fn string(
        &self,
        function: &'static str,
        i: usize,
        name: &str,
    ) -> Result<Option<String>, ArgError> {
        let v = self.kwargs.get(name).or_else(|| self.positional.get(i));
        let typed = |fallback: String| {
            Ok(Some(
                self.raw(i, name).map(str::to_string).unwrap_or(fallback),
            ))
        };
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Bool(b)) => typed(if *b { "True".into() } else { "False".into() }),
            Some(Value::Number(n)) => typed(n.to_string()),
            Some(_) => Err(ArgError::Invalid {
                function,
                message: format!("`{name}` must be a string"),
            }),
        }
    }

    /// A required string argument.
    pub fn required(
        &self,
        function: &'static str,
        i: usize,
        name: &str,
    ) -> Result<String, ArgError> {
        self.string(function, i, name)?
            .ok_or_else(|| ArgError::Invalid {
                function,
                message: format!("missing required argument `{name}`"),
            })
    }

    /// Keyword `name` as a boolean (`True`, `true`, `yes`, `1`...).
    pub fn flag(
        &self,
        function: &'static str,
        name: &str,
        default: bool,
    ) -> Result<bool, ArgError> {
        match self.kwargs.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64() != Some(0)),
            Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
                "yes" | "on" | "y" => Ok(true),
                "no" | "off" | "n" => Ok(false),
                _ => Err(ArgError::Invalid {
                    function,
                    message: format!("`{name}` must be True or False, got `{s}`"),
                }),
            },
            Some(v) => Err(ArgError::Invalid {
                function,
                message: format!("`{name}` must be True or False, got {v}"),
            }),
        }
    }

    /// Keyword `name` as a number of seconds.
    pub fn seconds(
        &self,
        function: &'static str,
        name: &str,
    ) -> Result<Option<std::time::Duration>, ArgError> {
        match self.kwargs.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.as_f64().is_some_and(|f| f > 0.0) => Ok(Some(
                std::time::Duration::from_secs_f64(n.as_f64().unwrap_or(0.0)),
            )),
            Some(v) => Err(ArgError::Invalid {
                function,
                message: format!("`{name}` must be a positive number of seconds, got {v}"),
            }),
        }
    }

    /// Keyword or positional `name` as a list of strings: a YAML list, or a
    /// comma-separated string.
    pub fn list(
        &self,
        function: &'static str,
        i: usize,
        name: &str,
    ) -> Result<Vec<String>, ArgError> {
        match self.kwargs.get(name).or_else(|| self.positional.get(i)) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    // `pkgs=[{bash: 5.2}]`: Salt's name/version pairs.
                    Value::Object(m) if m.len() == 1 => {
                        let (k, v) = m.iter().next().expect("one entry");
                        Ok(format!(
                            "{k}={}",
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string())
                        ))
                    }
                    other => Err(ArgError::Invalid {
                        function,
                        message: format!("`{name}` items must be strings, got {other}"),
                    }),
                })
                .collect(),
            Some(Value::String(s)) => Ok(s
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()),
            Some(v) => Err(ArgError::Invalid {
                function,
                message: format!("`{name}` must be a list, got {v}"),
            }),
        }
    }
}

/// Salt's `KWARG_REGEX`, `^([^\d\W][\w.-]*)=(?!=)(.*)$` (Python, Unicode):
/// `.` stops at a newline and `$` also matches before a final one, so a
/// value with a newline inside makes the whole word a positional, and a
/// single newline at the very end is dropped.
fn split_kwarg(word: &str) -> Option<(&str, &str)> {
    let (key, value) = word.split_once('=')?;
    let word_char = |c: char| c.is_alphanumeric() || c == '_';
    let mut chars = key.chars();
    let first = chars.next()?;
    if !word_char(first) || first.is_numeric() || value.starts_with('=') {
        return None;
    }
    if !chars.all(|c| word_char(c) || c == '.' || c == '-') {
        return None;
    }
    match value.find('\n') {
        None => Some((key, value)),
        Some(i) if i + 1 == value.len() => Some((key, &value[..i])),
        Some(_) => None,
    }
}

/// Parse a function call: look the name up, then let the function check its arguments.
pub fn parse_call(name: &str, args: &Args) -> Result<Box<dyn Function>, ArgError> {
    let spec = lookup(name).ok_or_else(|| ArgError::UnknownFunction {
        name: name.to_string(),
        suggestion: suggest(name),
    })?;
    (spec.parse)(args)
}

/// The registered name closest to `name`, when one is close.
fn suggest(name: &str) -> Option<String> {
    all()
        .map(|s| (edit_distance(name, s.name), s.name))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, n)| n.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn words_split_into_positionals_and_kwargs() {
        let a = Args::from_words(&[
            "bash",
            "refresh=True",
            "version=5.2",
            "echo a=b c",
            "x=[1, 2]",
        ]);
        assert_eq!(a.positional, vec![json!("bash"), json!("echo a=b c")]);
        assert_eq!(a.kwargs["refresh"], json!(true));
        assert_eq!(a.kwargs["version"], json!(5.2));
        assert_eq!(a.kwargs["x"], json!([1, 2]));
        assert_eq!(a.string("t", 9, "version").unwrap().as_deref(), Some("5.2"));
    }

    #[test]
    fn strings_keep_the_text_typed() {
        let a = Args::from_words(&["true", "version=1.10", "n=007"]);
        assert_eq!(a.string("t", 0, "cmd").unwrap().as_deref(), Some("true"));
        assert_eq!(
            a.string("t", 9, "version").unwrap().as_deref(),
            Some("1.10")
        );
        assert_eq!(a.string("t", 9, "n").unwrap().as_deref(), Some("007"));
    }

    /// tests/compat/yamlify.json holds Salt's own reading of each word
    /// (tests/compat/gen_yamlify.py runs `salt.utils.args.parse_input`).
    #[test]
    fn words_parse_like_salt() {
        let fixture: Value =
            serde_json::from_str(include_str!("../../tests/compat/yamlify.json")).unwrap();
        let cases = fixture["cases"].as_array().unwrap();
        assert!(cases.len() > 200, "{}", cases.len());
        let mut wrong = Vec::new();
        for case in cases {
            let word = case["word"].as_str().unwrap();
            let a = Args::from_words(&[word]);
            let kwargs = Value::Object(a.kwargs.clone().into_iter().collect());
            if Value::from(a.positional.clone()) != case["args"] || kwargs != case["kwargs"] {
                wrong.push(format!(
                    "{word:?}: salt {} {}, halite {} {kwargs}",
                    case["args"],
                    case["kwargs"],
                    Value::from(a.positional)
                ));
            }
        }
        assert!(
            wrong.is_empty(),
            "{} differ:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }

    #[test]
    fn every_function_is_registered_once_with_a_doc() {
        let mut names: Vec<&str> = all().map(|s| s.name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate function names");
        for s in all() {
            assert!(s.name.contains('.'), "{}", s.name);
            assert!(!s.doc.is_empty() && !s.doc.contains('\n'), "{}", s.name);
        }
    }

    #[test]
    fn unknown_functions_suggest_a_close_one() {
        let e = parse_call("cmd.rnu", &Args::default()).unwrap_err();
        assert!(e.to_string().contains("cmd.run"), "{e}");
    }
}
