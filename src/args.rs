//! Call arguments as Salt reads them: the words of a command line
//! (`pkg.install bash refresh=True`) or of a template's `salt['...']()`
//! call, split into positionals and `key=value` pairs and typed like Salt's
//! loader, with the checks every function uses ([`Args::check`],
//! [`Args::string`]...). Below both the execution functions and the
//! renderer, which share it.

use std::collections::BTreeMap;

use crate::Value;

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
            serde_json::from_str(include_str!("../tests/compat/yamlify.json")).unwrap();
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
}
