//! The text Salt's serializing filters write, which a file template puts
//! verbatim into a config file: Python's `json.dumps` (`json`, `tojson`:
//! `", "`/`": "` separators, ASCII-only, sorted keys on request) and
//! PyYAML's scalars (`yaml_encode`, `yaml_dquote`). Whole YAML documents
//! (the `yaml` filter, Salt's yaml serializer) are written by
//! [`crate::yaml::emit`].

use std::io;

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

/// A non-string scalar as PyYAML writes it.
pub(super) fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => crate::yaml::emit::float_text(f),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}
