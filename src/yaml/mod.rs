//! The one module that talks to the YAML library.
//!
//! serde_yaml is archived; `serde_yaml` here is the maintained fork
//! serde_norway, imported under that name in Cargo.toml. Everything else in
//! halite goes through these functions, so swapping the library is one
//! module. Every file halite reads through [`from_str`] is refused when a
//! mapping repeats a key ([`keys`]), whatever type it is read into.

pub mod emit;
mod keys;
mod resolve;

pub use keys::{find_duplicate, key_line, Duplicate};

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

/// A YAML error, with the file it came from and the line/column when known.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", path.display(), location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct YamlError {
    pub path: std::path::PathBuf,
    /// 1-based (line, column).
    pub location: Option<(usize, usize)>,
    pub message: String,
    /// A key repeated within one mapping (the file itself is wrong, whoever
    /// reads it), as opposed to text that is not YAML.
    pub duplicate: bool,
}

/// Parse YAML text into `T`; `path` is only used in the error message.
/// A key repeated within one mapping is an error naming it and both lines.
pub fn from_str<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, YamlError> {
    if let Some(dup) = keys::find_duplicate(text) {
        return Err(YamlError {
            path: path.to_path_buf(),
            location: dup.at,
            message: dup.to_string(),
            duplicate: true,
        });
    }
    serde_yaml::from_str(text).map_err(|e| {
        let location = e.location().map(|l| (l.line(), l.column()));
        // The library appends " at line X column Y"; we print the location ourselves.
        let mut message = e.to_string();
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        YamlError {
            path: path.to_path_buf(),
            location,
            message,
            duplicate: false,
        }
    })
}

/// `value` as YAML text, as Salt's `--out yaml` writes it (PyYAML's
/// `safe_dump` with `default_flow_style=False`: block style, keys sorted,
/// non-ASCII kept; see [`emit`]).
pub fn to_string<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(v) => emit::dump(&v, emit::Options::new(emit::Flow::Never).unicode(true)),
        Err(e) => format!("# unserializable: {e}\n"),
    }
}

mod yamlify;

/// Parse one command-line value the way Salt's `yamlify_arg` does (see
/// [`yamlify`]): YAML 1.1 scalars become typed values (`True`, `yes`, `42`),
/// a flow list or map only when the text starts with `[` or `{`, and text
/// with a newline, tab or CR, or a `#` that would cut it short, stays
/// exactly as typed.
pub fn parse_scalar(text: &str) -> crate::Value {
    yamlify::yamlify_arg(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_parse_like_salt() {
        assert_eq!(parse_scalar("True"), json!(true));
        assert_eq!(parse_scalar("true"), json!(true));
        assert_eq!(parse_scalar("42"), json!(42));
        assert_eq!(parse_scalar("bash"), json!("bash"));
        assert_eq!(parse_scalar("[a, b]"), json!(["a", "b"]));
        assert_eq!(parse_scalar("{a: 1}"), json!({"a": 1}));
        assert_eq!(parse_scalar("echo hi: there"), json!("echo hi: there"));
        assert_eq!(parse_scalar("a, b"), json!("a, b"));
        assert_eq!(parse_scalar("1_000"), json!("1_000"));
        assert_eq!(parse_scalar("# x"), json!("# x"));
        assert_eq!(parse_scalar("None"), json!(null));
        assert_eq!(parse_scalar("a: [unclosed"), json!("a: [unclosed"));
        assert_eq!(parse_scalar("null"), json!(null));
        assert_eq!(parse_scalar("{a: 1, a: 2}"), json!("{a: 1, a: 2}"));
    }

    #[test]
    fn errors_name_file_and_line() {
        let err = from_str::<crate::Value>("a: 1\nb: [\n", Path::new("x.yaml")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("x.yaml:"), "{text}");
        assert!(err.location.is_some());
    }

    /// Every type halite reads YAML into: serde_json's `Value`, maps and
    /// minijinja's `Value` kept the last of two equal keys without a word.
    #[test]
    fn duplicate_keys_are_errors_whatever_the_target_type() {
        let text = "a: 1\nb:\n  x: 1\n  y: 2\n  x: 3\n";
        let path = Path::new("pillar/web.sls");
        let expect = "pillar/web.sls:5:3: duplicate key `x` (first at line 3)";
        let errors = [
            from_str::<crate::Value>(text, path).unwrap_err(),
            from_str::<std::collections::BTreeMap<String, crate::Value>>(text, path).unwrap_err(),
            from_str::<minijinja::Value>(text, path).unwrap_err(),
            from_str::<serde_yaml::Value>(text, path).unwrap_err(),
        ];
        for err in errors {
            assert_eq!(err.to_string(), expect);
            assert_eq!(err.location, Some((5, 3)));
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct File {
            a: u32,
            b: Option<crate::Value>,
        }
        let err = from_str::<File>("a: 1\nb: 2\na: 3\n", path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "pillar/web.sls:3:1: duplicate key `a` (first at line 1)"
        );
        // One key per mapping, and distinct keys, stay fine.
        let ok: crate::Value = from_str("a: {x: 1}\nb: {x: 2}\n", path).unwrap();
        assert_eq!(ok, json!({"a": {"x": 1}, "b": {"x": 2}}));
    }
}
