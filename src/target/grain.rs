//! Grain and pillar matching (`-G` / `G@`, `-P` / `P@`, `-I` / `I@`,
//! `-J` / `J@`), a port of Salt's `salt.utils.data.subdict_match` and
//! `traverse_dict_and_list`. Salt's pillar matchers call the same
//! `subdict_match` on the pillar instead of the grains, so one matcher serves
//! both; only the data it is given differs.
//!
//! Salt's rules, kept here because they decide which hosts match:
//! - The expression is `key:subkey:pattern`, but the pattern may itself
//!   contain the delimiter (`ipv6:fe80::1`), so every split point is tried,
//!   the deepest key first.
//! - A key of exactly `*` means "any top-level grain".
//! - A list value matches when one element matches; a dict element of the
//!   list is matched as a dict too.
//! - A dict value matches when the pattern is `*`, is exactly one of its keys
//!   (no globbing, case-sensitive), or matches as a nested expression; a
//!   pattern starting with `*:` also tries every value of the dict.
//! - Scalars are compared through their Python `str()` form, lowercased on
//!   both sides: `True`/`False`/`None`, so `G@virtual:true` and
//!   `G@virtual:True` both match a JSON `true`, and `G@x:none` a `null`.
//! - An empty dict value, like a missing key, never matches.
//! - Globs use fnmatch on the lowercased value and pattern; regexes use
//!   `re.match` (anchored at the start only).
//!
//! Deliberate difference: for `P@`, Salt lowercases the regex source, which
//! silently turns `\S` into `\s`, `\D` into `\d` and so on. We compile the
//! regex as written with the case-insensitive flag instead, which gives the
//! same case folding without corrupting escapes.

use std::collections::HashMap;

use super::Pattern;

use crate::Value;

/// What a [`GrainMatcher`] looks at, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Subject {
    Grain,
    Pillar,
}

impl Subject {
    /// "grain name", and an example expression with `delimiter`.
    fn describe(self, delimiter: char) -> (&'static str, String) {
        match self {
            Subject::Grain => ("grain name", format!("os{delimiter}Debian")),
            Subject::Pillar => ("pillar key", format!("role{delimiter}web")),
        }
    }
}

/// A checked `key:pattern` grain (or pillar) expression.
#[derive(Debug, Clone)]
pub(super) struct GrainMatcher {
    expr: String,
    delimiter: char,
    /// Every value pattern Salt's algorithm can try is a suffix of the
    /// expression after a delimiter (or after a `:`, which Salt hardcodes in
    /// the dict branch); each is compiled once, at parse time. `None` marks a
    /// suffix that is not a valid regex: Salt logs it and treats it as "no
    /// match", which we keep as long as another split point is valid.
    patterns: HashMap<String, Option<Pattern>>,
}

impl GrainMatcher {
    /// Check and compile the grain expression `expr`; `regex` selects
    /// `P@` semantics over `G@`.
    #[cfg(test)]
    pub(super) fn new(expr: &str, delimiter: char, regex: bool) -> Result<Self, String> {
        Self::on(Subject::Grain, expr, delimiter, regex)
    }

    /// Check and compile `expr`, an expression on `subject`'s data.
    pub(super) fn on(
        subject: Subject,
        expr: &str,
        delimiter: char,
        regex: bool,
    ) -> Result<Self, String> {
        if !expr.contains(delimiter) {
            let (noun, example) = subject.describe(delimiter);
            return Err(format!(
                "`{expr}` needs a `{delimiter}` between the {noun} and the value pattern \
                 (e.g. `{example}`)"
            ));
        }
        let mut patterns: HashMap<String, Option<Pattern>> = HashMap::new();
        let mut errors: HashMap<String, String> = HashMap::new();
        let mut value_patterns: Vec<&str> = Vec::new();
        for (pos, c) in expr.char_indices() {
            if c != delimiter && c != ':' {
                continue;
            }
            let suffix = &expr[pos + c.len_utf8()..];
            if c == delimiter {
                value_patterns.push(suffix);
            }
            if patterns.contains_key(suffix) {
                continue;
            }
            let compiled = if regex {
                Pattern::python(suffix, true)
            } else {
                super::glob::compile(&suffix.to_lowercase()).map(Pattern::Glob)
            };
            match compiled {
                Ok(re) => {
                    patterns.insert(suffix.to_string(), Some(re));
                }
                Err(reason) => {
                    errors.insert(suffix.to_string(), reason);
                    patterns.insert(suffix.to_string(), None);
                }
            }
        }
        // `*` and `*:rest` are handled by the dict branch before any regex
        // is tried, so `P@ec2_tags:*` is valid although `*` is no regex.
        let usable = |s: &str| {
            s == "*"
                || matches!(patterns.get(s), Some(Some(_)))
                || s.strip_prefix("*:")
                    .is_some_and(|rest| matches!(patterns.get(rest), Some(Some(_))))
        };
        if !value_patterns.iter().any(|s| usable(s)) {
            // The part after the first delimiter is the most likely
            // intended pattern; its error is the one worth reporting.
            let first = value_patterns.first().copied().unwrap_or_default();
            let reason = errors
                .get(first)
                .cloned()
                .unwrap_or_else(|| "not a valid pattern".to_string());
            return Err(format!("pattern `{first}`: {reason}"));
        }
        Ok(GrainMatcher {
            expr: expr.to_string(),
            delimiter,
            patterns,
        })
    }

    /// Match against a host's grains or pillar.
    pub(super) fn matches(&self, data: &Value) -> bool {
        // Unknown data (`Null`) or a malformed document never matches.
        data.is_object() && self.subdict_match(data, &self.expr, self.delimiter)
    }

    fn subdict_match(&self, data: &Value, expr: &str, delimiter: char) -> bool {
        let cuts: Vec<usize> = expr.match_indices(delimiter).map(|(p, _)| p).collect();
        // Deepest key first: `a:b:c` tries data[a][b] == c before data[a] == "b:c".
        for &cut in cuts.iter().rev() {
            let key = &expr[..cut];
            let (pattern, found) = if key == "*" {
                (expr, Some(data))
            } else {
                (
                    &expr[cut + delimiter.len_utf8()..],
                    traverse(data, key, delimiter),
                )
            };
            let Some(found) = found else { continue };
            match found {
                Value::Object(map) if map.is_empty() => continue,
                Value::Object(_) => {
                    if self.dict_match(found, pattern) {
                        return true;
                    }
                }
                Value::Array(members) => {
                    for member in members {
                        if member.is_object() && self.dict_match(member, pattern) {
                            return true;
                        }
                        if self.value_match(member, pattern) {
                            return true;
                        }
                    }
                }
                scalar => {
                    if self.value_match(scalar, pattern) {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Salt's `_dict_match`; `target` is an object.
    fn dict_match(&self, target: &Value, pattern: &str) -> bool {
        let Value::Object(map) = target else {
            return false;
        };
        let (wildcard, pattern) = match pattern.strip_prefix("*:") {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        if pattern == "*" || map.contains_key(pattern) {
            return true;
        }
        // Salt recurses with the default delimiter here, whatever the caller's.
        if self.subdict_match(target, pattern, ':') {
            return true;
        }
        if wildcard {
            for value in map.values() {
                let hit = match value {
                    Value::Object(_) => self.dict_match(value, pattern),
                    Value::Array(items) => items.iter().any(|i| self.value_match(i, pattern)),
                    scalar => self.value_match(scalar, pattern),
                };
                if hit {
                    return true;
                }
            }
        }
        false
    }

    /// Salt's `_match`: the value's `str()`, lowercased, against the pattern.
    fn value_match(&self, value: &Value, pattern: &str) -> bool {
        let Some(Some(re)) = self.patterns.get(pattern) else {
            return false;
        };
        let text = python_str(value).to_lowercase();
        // Glob regexes are anchored at both ends already; for `P@` this is
        // `re.match`: a match must start at 0, and the leftmost match starts
        // at 0 whenever any match does.
        re.matches_at_start(&text)
    }
}

/// Salt's `traverse_dict_and_list` for JSON data: `None` where Salt returns
/// its default.
fn traverse<'v>(data: &'v Value, key: &str, delimiter: char) -> Option<&'v Value> {
    let mut ptr = data;
    for part in key.split(delimiter) {
        ptr = match ptr {
            Value::Array(items) => match part.parse::<i64>() {
                // Python indexing: negative counts from the end.
                Ok(idx) => {
                    let len = i64::try_from(items.len()).ok()?;
                    let idx = if idx < 0 { idx + len } else { idx };
                    items.get(usize::try_from(idx).ok()?)?
                }
                // A non-numeric key looks into the first dict element that
                // has it (lists of single-key dicts are common in grains).
                Err(_) => items.iter().find_map(|item| item.get(part))?,
            },
            Value::Object(map) => map.get(part)?,
            _ => return None,
        };
    }
    Some(ptr)
}

/// Python's `str()` of a JSON value, which is what Salt compares against.
fn python_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => python_repr(other),
    }
}

fn python_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".to_string(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => python_quote(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(python_repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", python_quote(k), python_repr(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

/// Python's `repr()` of a string (also the renderer's, src/render/pyfmt.rs).
pub(crate) fn python_quote(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn grains() -> Value {
        json!({
            "id": "web1",
            "os": "Ubuntu",
            "os_family": "Debian",
            "osrelease": "22.04",
            "osmajorrelease": 22,
            "virtual": true,
            "selinux": false,
            "gpu": null,
            "num_cpus": 4,
            "mem_gib": 7.5,
            "roles": ["web", "Cache", "lb:internal"],
            "empty_list": [],
            "empty_dict": {},
            "ip_interfaces": {"eth0": ["10.0.0.5", "fe80::1"], "lo": ["127.0.0.1"]},
            "ipv6": ["::1", "fe80::1"],
            "ec2_tags": {"environment": "production-eu", "team": "Core"},
            "locale_info": {"defaultencoding": "UTF-8", "detectedencoding": "utf-8"},
            "disks": [{"name": "sda", "size": 100}, {"name": "sdb"}],
            "nested": {"a": {"b": {"c": "deep"}}},
            "url": "http://example.com:8080/x",
            "matrix": [["x", "y"]],
        })
    }

    fn g(expr: &str) -> bool {
        GrainMatcher::new(expr, ':', false)
            .expect("valid grain expression")
            .matches(&grains())
    }

    fn p(expr: &str) -> bool {
        GrainMatcher::new(expr, ':', true)
            .expect("valid grain pcre expression")
            .matches(&grains())
    }

    #[test]
    fn glob_on_scalar_is_case_insensitive() {
        assert!(g("os:Ubuntu"));
        assert!(g("os:ubuntu"));
        assert!(g("os:UBU*"));
        assert!(g("os:[tu]buntu"));
        assert!(!g("os:Debian"));
        assert!(!g("os:Ubunt"));
        assert!(g("os_family:deb?an"));
    }

    #[test]
    fn keys_are_case_sensitive() {
        assert!(!g("OS:Ubuntu"));
    }

    #[test]
    fn numbers_bools_and_null_use_python_str() {
        assert!(g("osmajorrelease:22"));
        assert!(g("osmajorrelease:2*"));
        assert!(g("num_cpus:4"));
        assert!(g("mem_gib:7.5"));
        assert!(g("virtual:True"));
        assert!(g("virtual:true"));
        assert!(!g("virtual:1"));
        assert!(g("selinux:False"));
        assert!(g("gpu:None"));
        assert!(!g("gpu:null"));
        assert!(g("gpu:*"));
    }

    #[test]
    fn list_matches_when_any_element_matches() {
        assert!(g("roles:web"));
        assert!(g("roles:cache"));
        assert!(g("roles:w*"));
        assert!(!g("roles:db"));
        assert!(!g("empty_list:*"));
    }

    #[test]
    fn value_pattern_may_contain_the_delimiter() {
        assert!(g("roles:lb:internal"));
        assert!(g("roles:lb:*"));
        assert!(g("url:http://example.com:8080/*"));
        assert!(g("ipv6:fe80::1"));
        assert!(g("ipv6:fe80:*"));
        assert!(g("ip_interfaces:eth0:fe80::1"));
    }

    #[test]
    fn nested_keys_and_list_indexes() {
        assert!(g("ip_interfaces:eth0:10.0.0.*"));
        assert!(!g("ip_interfaces:lo:10.*"));
        assert!(g("ec2_tags:environment:*production*"));
        assert!(g("nested:a:b:c:deep"));
        assert!(g("ip_interfaces:eth0:0:10.0.0.5"));
        assert!(g("ip_interfaces:eth0:-1:fe80::1"));
        assert!(!g("ip_interfaces:eth0:5:*"));
        // A non-numeric key looks into dict elements of a list.
        assert!(g("disks:name:sda"));
        assert!(g("disks:size:100"));
        // Traversal stops at the first dict with the key, but the list
        // branch then matches each dict element as a nested expression.
        assert!(g("disks:name:sdb"));
        assert!(!g("disks:name:sdc"));
    }

    #[test]
    fn dict_value_matches_star_or_an_exact_key() {
        assert!(g("ec2_tags:*"));
        assert!(g("ec2_tags:team"));
        assert!(!g("ec2_tags:Team"));
        assert!(!g("ec2_tags:te*"));
        // Values of a dict are not matched without the `*:` wildcard.
        assert!(!g("ec2_tags:Core"));
        assert!(g("ec2_tags:*:core"));
        assert!(g("ip_interfaces:*:127.0.0.1"));
        assert!(!g("ip_interfaces:*:192.168.*"));
        // An empty dict is skipped like a missing key.
        assert!(!g("empty_dict:*"));
    }

    #[test]
    fn star_key_searches_every_top_level_grain() {
        assert!(g("*:Ubuntu"));
        // Only one level: a nested dict's values need their own `*:`.
        assert!(!g("*:production-eu"));
        assert!(g("*:cache"));
        assert!(!g("*:nothing-like-this"));
    }

    #[test]
    fn missing_keys_and_scalars_in_the_path_never_match() {
        assert!(!g("nope:*"));
        assert!(!g("os:sub:*"));
        assert!(!g("nested:a:x:*"));
    }

    #[test]
    fn containers_inside_lists_compare_by_python_repr() {
        assert!(g("matrix:*"));
        assert!(g("matrix:*'y'*"));
    }

    #[test]
    fn unknown_or_non_object_grains_never_match() {
        let m = GrainMatcher::new("os:*", ':', false).unwrap();
        assert!(!m.matches(&Value::Null));
        assert!(!m.matches(&json!([1, 2])));
        assert!(!m.matches(&json!({})));
    }

    #[test]
    fn pcre_is_anchored_at_start_only_and_case_insensitive() {
        assert!(p("os:(RedHat|Ubuntu)"));
        assert!(p("os:ubu"));
        assert!(p("os:UBUNTU$"));
        assert!(!p("os:buntu"));
        assert!(p("os:.*ntu"));
        assert!(p("osrelease:2\\d\\.04"));
        // `\S` stays `\S` (Salt's lowercasing would make it `\s`).
        assert!(p("os:\\S+$"));
        assert!(p("roles:^cache$"));
        assert!(p("virtual:true"));
        assert!(p("ipv6:fe80::\\d"));
        assert!(p("ec2_tags:*"));
        assert!(p("ec2_tags:*:c.re"));
    }

    #[test]
    fn pcre_split_points_with_invalid_regex_are_skipped() {
        // `(a` is not a regex, but `a:b)` is split elsewhere too; as long as
        // one split point is valid the expression is accepted.
        let m = GrainMatcher::new("x:(a:b)", ':', true).unwrap();
        assert!(m.matches(&json!({"x": "a:b"})));
        assert!(!m.matches(&json!({"x": {"(a": "b"}})));
    }

    #[test]
    fn parse_errors() {
        let err = GrainMatcher::new("os", ':', false).unwrap_err();
        assert!(err.contains("needs a `:`"), "{err}");
        let err = GrainMatcher::new("os:(Red", ':', true).unwrap_err();
        assert!(err.contains("pattern `(Red`"), "{err}");
        assert!(err.contains("unclosed group"), "{err}");
        let err = GrainMatcher::new("a:b:c(", ':', true).unwrap_err();
        assert!(err.contains("pattern `b:c(`"), "{err}");
    }

    #[test]
    fn alternate_delimiter() {
        let m = GrainMatcher::new("url|http://example.com:8080/*", '|', false).unwrap();
        assert!(m.matches(&grains()));
        let m = GrainMatcher::new("ip_interfaces;eth0;10.*", ';', false).unwrap();
        assert!(m.matches(&grains()));
        assert!(GrainMatcher::new("os:Ubuntu", ';', false).is_err());
    }

    #[test]
    fn python_repr_forms() {
        assert_eq!(python_str(&json!("it's")), "it's");
        assert_eq!(python_repr(&json!("it's")), "\"it's\"");
        assert_eq!(
            python_repr(&json!(["a", 1, true, null])),
            "['a', 1, True, None]"
        );
        assert_eq!(python_repr(&json!({"k": "v"})), "{'k': 'v'}");
    }
}
