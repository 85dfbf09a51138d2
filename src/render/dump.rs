//! The text Salt's serializing filters write, which a file template puts
//! verbatim into a config file: Python's `json.dumps` (`json`, `tojson`:
//! `", "`/`": "` separators, ASCII-only, sorted keys on request) and
//! PyYAML's `safe_dump` (`yaml`: sorted keys, flow style on one line or
//! block style). Known difference: PyYAML wraps a flow line longer than 80
//! columns; halite keeps it on one line (the same data either way).

use std::io;
use std::sync::OnceLock;

use serde_json::ser::{Formatter, PrettyFormatter, Serializer};

use crate::Value;

/// Python's `json.dumps(v, sort_keys=.., indent=.., ensure_ascii=..)`.
pub(crate) fn json_dumps(
    v: &Value,
    sort_keys: bool,
    indent: Option<usize>,
    ensure_ascii: bool,
) -> String {
    let sorted;
    let v = if sort_keys {
        sorted = sort(v);
        &sorted
    } else {
        v
    };
    let pad = indent.map(|n| " ".repeat(n).into_bytes());
    let fmt = PyFormatter {
        pretty: pad.as_deref().map(PrettyFormatter::with_indent),
        ascii: ensure_ascii,
    };
    let mut out = Vec::new();
    let result = serde::Serialize::serialize(v, &mut Serializer::with_formatter(&mut out, fmt));
    // Serializing a JSON value into memory cannot fail.
    debug_assert!(result.is_ok());
    String::from_utf8(out).unwrap_or_default()
}

/// `v` with every mapping's keys sorted.
pub(crate) fn sort(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), sort(&m[k]))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sort).collect()),
        other => other.clone(),
    }
}

/// Python's separators (`", "`, `": "`), or its indented layout.
struct PyFormatter<'a> {
    pretty: Option<PrettyFormatter<'a>>,
    ascii: bool,
}

impl Formatter for PyFormatter<'_> {
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        match &mut self.pretty {
            Some(p) => p.begin_array(w),
            None => w.write_all(b"["),
        }
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        match &mut self.pretty {
            Some(p) => p.end_array(w),
            None => w.write_all(b"]"),
        }
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        match &mut self.pretty {
            Some(p) => p.begin_array_value(w, first),
            None if first => Ok(()),
            None => w.write_all(b", "),
        }
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        match &mut self.pretty {
            Some(p) => p.end_array_value(w),
            None => Ok(()),
        }
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        match &mut self.pretty {
            Some(p) => p.begin_object(w),
            None => w.write_all(b"{"),
        }
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        match &mut self.pretty {
            Some(p) => p.end_object(w),
            None => w.write_all(b"}"),
        }
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        match &mut self.pretty {
            Some(p) => p.begin_object_key(w, first),
            None if first => Ok(()),
            None => w.write_all(b", "),
        }
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        match &mut self.pretty {
            Some(p) => p.end_object_value(w),
            None => Ok(()),
        }
    }
    /// Python's `ensure_ascii`: everything past ASCII as `\uXXXX`.
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if !self.ascii {
            return w.write_all(fragment.as_bytes());
        }
        for c in fragment.chars() {
            if c.is_ascii() {
                w.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
            }
        }
        Ok(())
    }
}

/// PyYAML's double-quoted scalar without `allow_unicode` (Salt's
/// `yaml_dquote`): non-ASCII and control characters escaped.
pub(super) fn yaml_dquote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\x1b' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            ' '..='~' => out.push(c),
            c if (c as u32) <= 0xff => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// PyYAML's `safe_dump(v, default_flow_style=True)` without the trailing
/// newline (and `...` document end), as Salt's `yaml` filter strips them.
pub(super) fn yaml_flow(v: &Value) -> String {
    let mut out = String::new();
    write_flow(&sort(v), &mut out);
    out
}

fn write_flow(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            out.push('{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&yaml_str(k, true));
                out.push_str(": ");
                write_flow(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_flow(item, out);
            }
            out.push(']');
        }
        Value::String(s) => out.push_str(&yaml_str(s, true)),
        other => out.push_str(&yaml_scalar(other)),
    }
}

/// A non-string scalar as PyYAML writes it.
pub(super) fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.is_infinite() => {
                if f > 0.0 { ".inf" } else { "-.inf" }.into()
            }
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// A string as PyYAML writes it: plain when it reads back as the same
/// string, else single-quoted, or double-quoted when it holds characters
/// a single-quoted scalar cannot (line breaks, control characters).
fn yaml_str(s: &str, flow: bool) -> String {
    if s.chars().any(|c| c.is_control()) {
        return serde_json::to_string(s).unwrap_or_default();
    }
    if plain_ok(s, flow) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "''"))
}

fn plain_ok(s: &str, flow: bool) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if first.is_whitespace() || s.ends_with(char::is_whitespace) || s.ends_with(':') {
        return false;
    }
    if "#,[]{}&*!|>'\"%@`".contains(first) {
        return false;
    }
    if matches!(first, '-' | '?' | ':') && (s.len() == 1 || s[1..].starts_with(' ')) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") {
        return false;
    }
    if flow && s.contains([',', '[', ']', '{', '}']) {
        return false;
    }
    // A plain scalar must not read back as another type (YAML 1.1, as
    // PyYAML resolves: booleans, null, numbers, timestamps).
    !resolves_to_other_type(s)
}

fn resolves_to_other_type(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "yes", "no", "true", "false", "on", "off", "y", "n", "null", "~", "=", "<<",
    ];
    let lower = s.to_ascii_lowercase();
    if WORDS.contains(&lower.as_str()) {
        return true;
    }
    static NUMBER: OnceLock<regex::Regex> = OnceLock::new();
    let number = NUMBER.get_or_init(|| {
        regex::Regex::new(concat!(
        r"^(?:[-+]?(?:0b[0-1_]+|0[0-7_]+|(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+|[1-9][0-9_]*(?::[0-5]?[0-9])+)",
        r"|[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?",
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
        r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*)$"
        ))
        .expect("static regex")
    });
    number.is_match(s)
}
