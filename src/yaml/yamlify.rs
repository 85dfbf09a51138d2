//! Salt's reading of one command-line value: `salt.utils.args.yamlify_arg`
//! (Salt 3008), the rules [`crate::yaml::parse_scalar`] follows.
//!
//! Salt keeps the text typed whenever loading it as YAML would change it
//! behind the user's back: blank text and document markers, digits with
//! `_`, text with a tab, CR or newline (a multi-line command reaches the host
//! byte for byte), text with `#` that does not load into a non-string (a
//! `#` would start a comment), lists and maps not written in brackets, and
//! anything that fails to load. The rest loads with PyYAML's safe loader,
//! which resolves plain scalars by YAML 1.1: `yes` and `on` are true, `1:30`
//! is 90, `0x1F` is 31, `1e3` is text; Salt's loader reads `042` as 42.
//!
//! serde_norway parses with the same libyaml as Salt's loader, but resolves
//! scalars by YAML 1.2. So a value is read twice: first into the library's
//! `Value`, which gives the shape (and rejects what libyaml rejects), then
//! again along that shape, asking for every scalar as the text written, which
//! is resolved here the way PyYAML and Salt's loader do. Whether a scalar was
//! quoted is told by where its text sits: the library lends a plain or
//! unescaped quoted scalar straight out of the input, so the byte before it
//! is the opening quote exactly when it was quoted; an escaped one is copied.
//!
//! A value Salt would pass but halite cannot hold (infinity, NaN, integers
//! past 64 bits, non-string map keys, bytes, sets) stays the text typed.
//! tests/compat/yamlify.json, written by Salt (tests/compat/gen_yamlify.py),
//! checks these rules.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_yaml::Value as Yaml;

use super::resolve::Implicit;
use crate::Value;

/// `yamlify_arg(arg)`.
pub(super) fn yamlify_arg(arg: &str) -> Value {
    let keep = || Value::String(arg.to_string());
    let stripped = arg.trim();
    if matches!(stripped, "" | "---" | "...")
        || (arg.contains('_') && stripped.chars().all(|c| c.is_ascii_digit() || c == '_'))
        || arg.contains(['\t', '\r', '\n'])
    {
        return keep();
    }
    let Some(loaded) = load(arg) else {
        return keep();
    };
    if arg.contains('#') {
        // Only a non-string survives: `#` may have cut the text short.
        return match loaded {
            Value::String(_) | Value::Null => keep(),
            v => v,
        };
    }
    if arg == "None" {
        return Value::Null;
    }
    match loaded {
        Value::Object(_) if !arg.starts_with('{') => keep(),
        Value::Array(_) if !arg.starts_with('[') => keep(),
        Value::String(s) if s.is_empty() && matches!(arg, "|" | "!") => keep(),
        Value::Null if stripped.starts_with('#') || arg == "!" => keep(),
        v => v,
    }
}

/// Load `arg` as Salt's loader would; `None` where Salt's loader fails or
/// gives what halite cannot hold.
fn load(arg: &str) -> Option<Value> {
    let shape: Yaml = serde_yaml::from_str(&shape_text(arg)).ok()?;
    if !collection_tags_ok(arg) {
        return None;
    }
    let again = serde_yaml::Deserializer::from_str(arg);
    let top = Shaped {
        shape: &shape,
        input: arg,
        key: false,
    };
    top.deserialize(again).ok()
}

/// The text of the first reading: the library checks the value of a
/// scalar tagged `!!bool`, `!!null`, `!!int` or `!!float` by YAML 1.2
/// (`!!bool yes` fails), so those tags read as `!!str` there; the second
/// reading sees them as written.
fn shape_text(arg: &str) -> std::borrow::Cow<'_, str> {
    static SCALAR_TAG: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(^|[ \[{,])!!(?:bool|null|int|float) ").expect("regex"));
    SCALAR_TAG.replace_all(arg, "${1}!!str ")
}

/// The first reading's node to follow, and the whole input (to locate scalars).
#[derive(Clone, Copy)]
struct Shaped<'a, 'de> {
    shape: &'a Yaml,
    input: &'de str,
    /// A map key: JSON keys are strings, so a key Salt would read as a
    /// number, boolean or null keeps the text written (`{80: http}`).
    key: bool,
}

impl<'de> DeserializeSeed<'de> for Shaped<'_, 'de> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self.shape {
            Yaml::Sequence(_) => d.deserialize_seq(self),
            Yaml::Mapping(_) => d.deserialize_map(self),
            // `!`, the non-specific tag, is read as if absent; a local tag
            // (`!x`) has no constructor in Salt's loader.
            Yaml::Tagged(t) if t.tag == "!" => Shaped {
                shape: &t.value,
                ..self
            }
            .deserialize(d),
            Yaml::Tagged(_) => Err(de::Error::custom("unknown tag")),
            _ => d.deserialize_str(self),
        }
    }
}

impl<'de> Visitor<'de> for Shaped<'_, 'de> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML node shaped like the first reading")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Value, E> {
        let at = (text.as_ptr() as usize).wrapping_sub(self.input.as_ptr() as usize);
        if at > self.input.len() {
            return Ok(Value::String(text.to_string()));
        }
        match scalar(self.input, at, text) {
            None => Err(E::custom("no JSON form in Salt's reading")),
            Some(Value::String(s)) => Ok(Value::String(s)),
            Some(_) if self.key => Ok(Value::String(text.to_string())),
            Some(v) => Ok(v),
        }
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Value, E> {
        // Copied, not lent: a quoted scalar with escapes (`"a\tb"`, `'it''s'`).
        Ok(Value::String(text.to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let Yaml::Sequence(items) = self.shape else {
            return Err(de::Error::custom("not the first reading's shape"));
        };
        let mut out = Vec::with_capacity(items.len());
        for shape in items {
            let seed = Shaped {
                shape,
                key: false,
                ..self
            };
            match seq.next_element_seed(seed)? {
                Some(v) => out.push(v),
                None => return Err(de::Error::custom("not the first reading's shape")),
            }
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let Yaml::Mapping(pairs) = self.shape else {
            return Err(de::Error::custom("not the first reading's shape"));
        };
        let mut out = serde_json::Map::new();
        for (k, v) in pairs {
            let key = match map.next_key_seed(Shaped {
                shape: k,
                key: true,
                ..self
            })? {
                Some(Value::String(key)) => key,
                _ => return Err(de::Error::custom("a list or map as a map key")),
            };
            let value = map.next_value_seed(Shaped {
                shape: v,
                key: false,
                ..self
            })?;
            if out.insert(key, value).is_some() {
                return Err(de::Error::custom("a key given twice"));
            }
        }
        Ok(Value::Object(out))
    }
}

/// The scalar `text`, found at byte `at` of `input`, resolved like PyYAML:
/// an explicit tag decides, else quoted text is a string and plain text is
/// resolved by YAML 1.1's implicit rules.
fn scalar(input: &str, at: usize, text: &str) -> Option<Value> {
    let quoted = at > 0 && matches!(input.as_bytes()[at - 1], b'\'' | b'"');
    let start = if quoted { at - 1 } else { at };
    match tag_before(input, start, text.is_empty()) {
        None | Some("!") if quoted => Some(Value::String(text.to_string())),
        None | Some("!") => plain(text),
        Some("!!str" | "!!timestamp") => Some(Value::String(text.to_string())),
        Some("!!int") => int(text),
        Some("!!float") => float(text),
        Some("!!bool") => bool_value(text).map(Value::Bool),
        Some("!!null") => Some(Value::Null),
        Some(_) => None,
    }
}

/// The tag written before the node starting at byte `start` (anchors
/// skipped), like `!!str` in `!!str 1` or `[&a !!int 2]`. A tag is followed
/// by a space, unless the node is empty (`!!null`, `&a`: it starts where the
/// tag or anchor ends).
fn tag_before(input: &str, start: usize, empty: bool) -> Option<&str> {
    let before = &input[..start];
    let trimmed = before.trim_end_matches(' ');
    if trimmed.len() == before.len() && !empty {
        return None;
    }
    let token_start = trimmed.rfind([' ', '[', '{', ',']).map_or(0, |i| i + 1);
    let token = &trimmed[token_start..];
    if token.starts_with('&') {
        return tag_before(input, token_start, empty);
    }
    token.starts_with('!').then_some(token)
}

/// Salt's loader fails on a tag it cannot build a list or map from
/// (`!!str [a]`) and gives a type halite has no form for on `!!set`,
/// `!!omap`, `!!pairs`: only `!!seq` and `!!map` are kept.
fn collection_tags_ok(input: &str) -> bool {
    static TAGGED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?:^|[ \[{,])(![^ \[\]{},]*) +([\[{])").expect("regex"));
    TAGGED
        .captures_iter(input)
        .all(|c| matches!((&c[1], &c[2]), ("!!seq", "[") | ("!!map", "{") | ("!", _)))
}

/// A plain scalar as PyYAML's implicit resolvers read it
/// ([`super::resolve`]). Timestamps stay text: Salt's loader builds them as
/// plain strings.
fn plain(text: &str) -> Option<Value> {
    match super::resolve::plain(text) {
        Implicit::Bool => bool_value(text).map(Value::Bool),
        Implicit::Float => float(text),
        Implicit::Int => int(text),
        Implicit::Null => Some(Value::Null),
        // `<<` (merge) and `=` (value) have no constructor of their own.
        Implicit::Merge | Implicit::Value => None,
        Implicit::Timestamp | Implicit::Str => Some(Value::String(text.to_string())),
    }
}

fn bool_value(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" => Some(true),
        "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// PyYAML's `construct_yaml_int` after Salt's loader strips the leading
/// zeros of an unsigned decimal-looking `0...` (so `042` is 42, `-042` is
/// still octal, -34).
fn int(text: &str) -> Option<Value> {
    let text = if text != "0"
        && text.starts_with('0')
        && !text.starts_with("0b")
        && !text.starts_with("0x")
    {
        match text.trim_start_matches('0') {
            "" => "0",
            rest => rest,
        }
    } else {
        text
    };
    let value = text.replace('_', "");
    let (sign, digits) = match value.as_bytes().first()? {
        b'-' => (-1, &value[1..]),
        b'+' => (1, &value[1..]),
        _ => (1, &value[..]),
    };
    let magnitude: i128 = if digits == "0" {
        0
    } else if let Some(bin) = digits.strip_prefix("0b") {
        i128::from_str_radix(bin, 2).ok()?
    } else if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if digits.starts_with('0') {
        i128::from_str_radix(digits, 8).ok()?
    } else if digits.contains(':') {
        sexagesimal(
            digits,
            |p| p.parse::<i128>().ok(),
            |a, b| a.checked_mul(60)?.checked_add(b),
        )?
    } else {
        digits.parse().ok()?
    };
    let n = magnitude.checked_mul(sign)?;
    if let Ok(i) = i64::try_from(n) {
        Some(Value::from(i))
    } else {
        u64::try_from(n).ok().map(Value::from)
    }
}

/// PyYAML's `construct_yaml_float`; infinity and NaN have no JSON form.
fn float(text: &str) -> Option<Value> {
    let value = text.replace('_', "").to_lowercase();
    let (sign, digits) = match value.as_bytes().first()? {
        b'-' => (-1.0, &value[1..]),
        b'+' => (1.0, &value[1..]),
        _ => (1.0, &value[..]),
    };
    let magnitude: f64 = if digits.contains(':') {
        sexagesimal(digits, |p| p.parse::<f64>().ok(), |a, b| Some(a * 60.0 + b))?
    } else {
        digits.parse().ok()?
    };
    serde_json::Number::from_f64(sign * magnitude).map(Value::Number)
}

/// `a:b:c` in base 60, most significant part first.
fn sexagesimal<T>(
    digits: &str,
    parse: impl Fn(&str) -> Option<T>,
    step: impl Fn(T, T) -> Option<T>,
) -> Option<T> {
    let mut parts = digits.split(':');
    let first = parse(parts.next()?)?;
    parts.try_fold(first, |acc, p| step(acc, parse(p)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Salt's own answers are in tests/compat/yamlify.json (checked by
    // functions::tests::words_parse_like_salt); these are halite's choices
    // where Salt's answer has no JSON form.

    #[test]
    fn keys_salt_reads_as_numbers_keep_their_text() {
        assert_eq!(
            yamlify_arg("{80: http, yes: 1}"),
            json!({"80": "http", "yes": 1})
        );
    }

    #[test]
    fn values_without_a_json_form_stay_text() {
        for text in [
            ".inf",
            "-.inf",
            ".nan",
            "18446744073709551616",
            "!!binary aGk=",
        ] {
            assert_eq!(yamlify_arg(text), json!(text), "{text}");
        }
    }
}
