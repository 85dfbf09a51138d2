//! PyYAML's implicit resolvers (YAML 1.1, `yaml/resolver.py`): which type a
//! plain scalar's text reads back as. Salt loads and dumps YAML with them,
//! so reading a command-line value (yamlify.rs) and writing PyYAML's text
//! (emit.rs: a string that would read back as another type is quoted) both
//! ask here.

use std::sync::LazyLock;

use regex::Regex;

/// The tag PyYAML gives a plain scalar with this text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Implicit {
    Bool,
    Float,
    Int,
    Null,
    /// `<<`
    Merge,
    /// `=`
    Value,
    Timestamp,
    Str,
}

pub(crate) fn plain(text: &str) -> Implicit {
    static BOOL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
        )
        .expect("regex")
    });
    static FLOAT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(concat!(
            r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?",
            r"|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?",
            r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*",
            r"|[-+]?\.(?:inf|Inf|INF)",
            r"|\.(?:nan|NaN|NAN))$"
        ))
        .expect("regex")
    });
    static INT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(concat!(
            r"^(?:[-+]?0b[0-1_]+",
            r"|[-+]?0[0-7_]+",
            r"|[-+]?(?:0|[1-9][0-9_]*)",
            r"|[-+]?0x[0-9a-fA-F_]+",
            r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$"
        ))
        .expect("regex")
    });
    static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(concat!(
            r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]",
            r"|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?",
            r"(?:[Tt]|[ \t]+)[0-9][0-9]?",
            r":[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?",
            r"(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$"
        ))
        .expect("regex")
    });
    // Python's `$` also matches before one final newline.
    let text = text.strip_suffix('\n').unwrap_or(text);
    match text {
        _ if BOOL.is_match(text) => Implicit::Bool,
        _ if FLOAT.is_match(text) => Implicit::Float,
        _ if INT.is_match(text) => Implicit::Int,
        "~" | "null" | "Null" | "NULL" | "" => Implicit::Null,
        "<<" => Implicit::Merge,
        "=" => Implicit::Value,
        _ if TIMESTAMP.is_match(text) => Implicit::Timestamp,
        _ => Implicit::Str,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_as_pyyaml() {
        for (text, want) in [
            ("yes", Implicit::Bool),
            ("yES", Implicit::Str),
            ("y", Implicit::Str),
            ("1e3", Implicit::Str),
            ("1.0e+3", Implicit::Float),
            ("1:30", Implicit::Int),
            ("0x1F", Implicit::Int),
            ("~", Implicit::Null),
            ("", Implicit::Null),
            ("2001-12-14 21:59:43.10 -5", Implicit::Timestamp),
            ("2002-12-14", Implicit::Timestamp),
            ("<<", Implicit::Merge),
            ("=", Implicit::Value),
            ("web01", Implicit::Str),
        ] {
            assert_eq!(plain(text), want, "{text}");
        }
    }
}
