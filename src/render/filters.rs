//! Salt's own Jinja filters and tests (`salt/utils/jinja.py`,
//! `salt/utils/data.py`, `salt/utils/hashutils.py`), with Salt's argument
//! names and defaults, as its "Jinja" documentation lists them. Results
//! that are maps or lists are mutable ([`mutable`]), as Salt's are.

use std::borrow::Cow;
use std::sync::OnceLock;

use minijinja::value::{Kwargs, Value as MjValue, ValueKind};
use minijinja::{Environment, Error, ErrorKind};
use regex::Regex;

use super::dump;
use super::pyobj::PyList;
use super::pyobj::{parse_text, to_json};
use crate::yaml::emit::{self, Flow};
use crate::Value;

fn invalid(msg: impl Into<Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg)
}

/// Jinja2's `default(value, default_value='', boolean=False)`: the
/// default when the value is undefined, or, with `boolean`, false.
fn default_filter(
    v: MjValue,
    other: Option<MjValue>,
    boolean: Option<bool>,
    kw: Kwargs,
) -> Result<MjValue, Error> {
    let other = match other {
        Some(o) => Some(o),
        None => kw.get("default_value")?,
    };
    let boolean = match boolean {
        Some(b) => b,
        None => kw.get::<Option<bool>>("boolean")?.unwrap_or(false),
    };
    kw.assert_all_used()?;
    if v.is_undefined() || (boolean && !v.is_true()) {
        Ok(other.unwrap_or_else(|| MjValue::from("")))
    } else {
        Ok(v)
    }
}

/// Salt's `yaml_encode`: one scalar as YAML (strings double-quoted).
fn yaml_encode(v: &MjValue) -> Result<MjValue, Error> {
    match to_json(v)? {
        Value::String(s) => Ok(yaml_dquote(&s)),
        Value::Object(_) | Value::Array(_) => Err(invalid(format!(
            "yaml_encode() only works with YAML scalar data; failed for a {}",
            v.kind()
        ))),
        other => Ok(MjValue::from_safe_string(dump::yaml_scalar(&other))),
    }
}

/// Salt's `json(sort_keys=True, indent=None)`: Python's `json.dumps`.
fn json_filter(v: &MjValue, kwargs: Kwargs) -> Result<MjValue, Error> {
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    let indent: Option<usize> = kwargs.get("indent")?;
    kwargs.assert_all_used()?;
    let text = dump::json_dumps(&to_json(v)?, sort_keys.unwrap_or(true), indent, false);
    Ok(MjValue::from_safe_string(text))
}

fn yaml_dquote(s: &str) -> MjValue {
    MjValue::from_safe_string(dump::yaml_dquote(s))
}

/// Salt's `tojson(indent=None)`: Python's `json.dumps` (ASCII only, keys
/// in their order) with `<`, `>`, `&` and `'` escaped for HTML.
fn tojson(v: &MjValue, indent: Option<usize>, kw: Kwargs) -> Result<MjValue, Error> {
    let indent = match indent {
        Some(i) => Some(i),
        None => kw.get("indent")?,
    };
    let sort_keys: Option<bool> = kw.get("sort_keys")?;
    kw.assert_all_used()?;
    let text = dump::json_dumps(&to_json(v)?, sort_keys.unwrap_or(false), indent, true)
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\'', "\\u0027");
    Ok(MjValue::from_safe_string(text))
}

fn yaml_squote(s: &str) -> MjValue {
    MjValue::from_safe_string(format!("'{}'", s.replace('\'', "''")))
}

fn sequence(v: MjValue) -> MjValue {
    if v.kind() == minijinja::value::ValueKind::Seq {
        v
    } else {
        MjValue::from(vec![v])
    }
}

/// Salt's `quote` is Python's `shlex.quote`, whose text differs from
/// `transport::quote`'s (`'"'"'` for a quote): a template's output must
/// be Salt's.
fn quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

fn regex_replace(
    s: &str,
    pattern: &str,
    replacement: &str,
    kwargs: Kwargs,
) -> Result<String, Error> {
    // Salt's `ignorecase` and `multiline` flags.
    let pattern = format!("{}{pattern}", regex_flags(&kwargs)?);
    let re = Regex::new(&pattern).map_err(|e| invalid(format!("regex_replace: {e}")))?;
    // Python's `\1` backreferences are `${1}` for the regex crate.
    static BACKREF: OnceLock<Regex> = OnceLock::new();
    let backref = BACKREF.get_or_init(|| Regex::new(r"\\(\d+)").expect("static regex"));
    let replacement = backref
        .replace_all(&replacement.replace('$', "$$"), "$${$1}")
        .into_owned();
    Ok(re.replace_all(s, replacement.as_str()).into_owned())
}

/// Salt's `to_bool`: a string is true when it is yes/1/true (any case),
/// an integer when above 0, a list or dict when not empty; anything else
/// (floats, tuples, None) is false.
fn str_to_num_bool(v: MjValue) -> bool {
    if let Some(s) = v.as_str() {
        return matches!(s.to_ascii_lowercase().as_str(), "yes" | "true" | "1");
    }
    match v.kind() {
        ValueKind::Bool => v.is_true(),
        ValueKind::Number if v.is_integer() => v.as_i64().is_some_and(|n| n > 0),
        ValueKind::Seq if v.is_tuple() => false,
        ValueKind::Seq | ValueKind::Map => v.len().is_some_and(|n| n > 0),
        _ => false,
    }
}

/// Install Salt's filters and tests into `env`.
pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("yaml", yaml_filter);
    env.add_filter("default", default_filter);
    env.add_filter("d", default_filter);
    env.add_filter("yaml_encode", yaml_encode);
    env.add_filter("yaml_dquote", yaml_dquote);
    env.add_filter("yaml_squote", yaml_squote);
    env.add_filter("json", json_filter);
    env.add_filter("tojson", tojson);
    env.add_filter("load_yaml", |s: &str| parse_text("yaml", s, "load_yaml"));
    env.add_filter("load_json", |s: &str| parse_text("json", s, "load_json"));
    env.add_filter("load_text", |s: &str| MjValue::from(s));
    env.add_filter("sequence", sequence);
    env.add_filter("quote", quote);
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_search", |s: &str, rgx: &str, kw: Kwargs| {
        regex_groups(s, rgx, kw, false)
    });
    env.add_filter("regex_match", |s: &str, rgx: &str, kw: Kwargs| {
        regex_groups(s, rgx, kw, true)
    });
    env.add_filter("regex_escape", |s: &str| regex::escape(s));
    env.add_filter("to_bool", str_to_num_bool);
    env.add_filter("traverse", traverse);
    env.add_filter("unique", unique);
    env.add_filter("is_list", |v: MjValue| {
        v.kind() == ValueKind::Seq && !v.is_tuple()
    });
    env.add_filter("is_iter", |v: MjValue| {
        matches!(
            v.kind(),
            ValueKind::Seq | ValueKind::Map | ValueKind::Iterable
        )
    });
    env.add_filter("flatten", flatten_filter);
    env.add_filter("union", |a: MjValue, b: MjValue| set_op(a, b, SetOp::Union));
    env.add_filter("intersect", |a: MjValue, b: MjValue| {
        set_op(a, b, SetOp::Intersect)
    });
    env.add_filter("difference", |a: MjValue, b: MjValue| {
        set_op(a, b, SetOp::Difference)
    });
    env.add_filter("symmetric_difference", |a: MjValue, b: MjValue| {
        set_op(a, b, SetOp::Symmetric)
    });
    env.add_filter("exactly_n_true", exactly_n_true);
    env.add_filter("exactly_one_true", |v: MjValue| -> Result<bool, Error> {
        Ok(v.try_iter()?.filter(MjValue::is_true).count() == 1)
    });
    env.add_filter(
        "substring_in_list",
        |s: &str, l: MjValue| -> Result<bool, Error> {
            Ok(l.try_iter()?
                .any(|i| i.as_str().is_some_and(|i| i.contains(s))))
        },
    );
    env.add_filter("contains_whitespace", |s: &str| {
        s.chars().any(char::is_whitespace)
    });
    env.add_filter("is_hex", |s: &str| {
        let s = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .unwrap_or(s);
        !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit())
    });
    env.add_filter("avg", avg);
    for name in ["md5", "sha1", "sha256", "sha512"] {
        env.add_filter(name, move |s: &str| digest(name, s));
    }
    env.add_filter("base64_encode", |s: &str| {
        data_encoding::BASE64.encode(s.as_bytes())
    });
    env.add_filter("base64_decode", base64_decode);
    super::filters_data::register(env);
    env.add_test(
        "match",
        |s: &str, rgx: &str, kw: Kwargs| -> Result<bool, Error> {
            Ok(!regex_groups(s, rgx, kw, true)?.is_none())
        },
    );
    env.add_test("equalto", |a: MjValue, b: MjValue| a == b);
    env.add_test("callable", |v: MjValue| super::salt::is_callable(&v));
}

/// Salt's `yaml(flow_style=True)`: PyYAML's text through libyaml (see
/// [`crate::yaml::emit`]), flow style by default, `yaml(False)` block
/// style, with non-ASCII text kept and the ends stripped as Salt does.
fn yaml_filter(v: &MjValue, flow_style: Option<bool>, kw: Kwargs) -> Result<MjValue, Error> {
    let flow_style = match flow_style {
        Some(f) => Some(f),
        None => kw.get("flow_style")?,
    };
    kw.assert_all_used()?;
    let flow = if flow_style.unwrap_or(true) {
        Flow::Always
    } else {
        Flow::Never
    };
    let text = emit::dump(&to_json(v)?, emit::Options::new(flow).unicode(true));
    Ok(MjValue::from_safe_string(text.trim().to_string()))
}

fn regex_flags(kw: &Kwargs) -> Result<String, Error> {
    let ignorecase: Option<bool> = kw.get("ignorecase")?;
    let multiline: Option<bool> = kw.get("multiline")?;
    kw.assert_all_used()?;
    let mut flags = String::new();
    if ignorecase.unwrap_or(false) {
        flags.push('i');
    }
    if multiline.unwrap_or(false) {
        flags.push('m');
    }
    Ok(if flags.is_empty() {
        flags
    } else {
        format!("(?{flags})")
    })
}

/// `regex_search`/`regex_match`: the match's groups as a tuple (`None` for
/// a group that did not take part), the whole match when the pattern has
/// no group, `None` without a match. `anchored` is Python's `re.match`.
fn regex_groups(s: &str, rgx: &str, kw: Kwargs, anchored: bool) -> Result<MjValue, Error> {
    let flags = regex_flags(&kw)?;
    let pattern = if anchored {
        format!("{flags}^(?:{rgx})")
    } else {
        format!("{flags}{rgx}")
    };
    let re = fancy_regex::Regex::new(&pattern).map_err(|e| invalid(format!("regex: {e}")))?;
    let Some(caps) = re.captures(s).map_err(|e| invalid(format!("regex: {e}")))? else {
        return Ok(MjValue::from(()));
    };
    let groups: Vec<MjValue> = if caps.len() == 1 {
        vec![MjValue::from(caps.get(0).map_or("", |m| m.as_str()))]
    } else {
        (1..caps.len())
            .map(|i| {
                caps.get(i)
                    .map_or(MjValue::from(()), |m| MjValue::from(m.as_str()))
            })
            .collect()
    };
    Ok(MjValue::from(minijinja::value::Tuple::new(groups)))
}

/// Salt's `traverse_dict_and_list`: `key` split on `delimiter`; in a list
/// a part is first looked up in the list's dicts, then used as an index.
/// The value found is the same object (a change through it is seen).
fn traverse(
    data: MjValue,
    key: MjValue,
    default: Option<MjValue>,
    kw: Kwargs,
) -> Result<MjValue, Error> {
    let delimiter: Option<String> = kw.get("delimiter")?;
    let default = match default {
        Some(d) => Some(d),
        None => kw.get::<Option<MjValue>>("default")?,
    }
    .unwrap_or(MjValue::from(()));
    kw.assert_all_used()?;
    let delimiter = delimiter.unwrap_or_else(|| ":".into());
    let parts: Vec<MjValue> = match key.as_str() {
        Some(k) => k.split(delimiter.as_str()).map(MjValue::from).collect(),
        None if key.kind() == ValueKind::Number => vec![key],
        None => key.try_iter()?.collect(),
    };
    let mut ptr = data;
    for part in parts {
        match step(&ptr, &part)? {
            Some(next) => ptr = next,
            None => return Ok(default),
        }
    }
    Ok(ptr)
}

fn step(ptr: &MjValue, part: &MjValue) -> Result<Option<MjValue>, Error> {
    if ptr.kind() == ValueKind::Seq {
        let idx = part
            .as_str()
            .and_then(|p| p.trim().parse::<i64>().ok())
            .or_else(|| part.as_i64());
        let lookup = idx.map(MjValue::from).unwrap_or_else(|| part.clone());
        for item in ptr.try_iter()? {
            if item.kind() == ValueKind::Map {
                let v = item.get_item(&lookup)?;
                if !v.is_undefined() {
                    return Ok(Some(v));
                }
            }
        }
        let Some(i) = idx else { return Ok(None) };
        let v = ptr.get_item(&MjValue::from(i))?;
        return Ok((!v.is_undefined()).then_some(v));
    }
    if ptr.kind() != ValueKind::Map {
        return Ok(None);
    }
    let v = ptr.get_item(part)?;
    if !v.is_undefined() {
        return Ok(Some(v));
    }
    // Salt retries a numeric part as an integer key.
    if let Some(i) = part.as_str().and_then(|p| p.parse::<i64>().ok()) {
        let v = ptr.get_item(&MjValue::from(i))?;
        return Ok((!v.is_undefined()).then_some(v));
    }
    Ok(None)
}

/// Salt's `unique`: first occurrences, in order (a string gives its
/// characters' set, which Salt returns unordered: refused here).
fn unique(v: MjValue) -> Result<MjValue, Error> {
    if v.kind() == ValueKind::String {
        return Err(invalid(
            "unique: a string gives a Python set, whose order halite cannot reproduce",
        ));
    }
    let mut out: Vec<MjValue> = Vec::new();
    for item in v.try_iter()? {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    Ok(PyList::new_value(out))
}

fn flatten_filter(v: MjValue, kw: Kwargs) -> Result<MjValue, Error> {
    let levels: Option<i64> = kw.get("levels")?;
    let preserve_nulls: Option<bool> = kw.get("preserve_nulls")?;
    kw.assert_all_used()?;
    let mut out = Vec::new();
    flatten(&v, levels, preserve_nulls.unwrap_or(false), &mut out, 0)?;
    Ok(PyList::new_value(out))
}

fn flatten(
    v: &MjValue,
    levels: Option<i64>,
    keep_nulls: bool,
    out: &mut Vec<MjValue>,
    depth: usize,
) -> Result<(), Error> {
    if depth > 100 {
        return Err(invalid("flatten: nesting too deep (a reference cycle?)"));
    }
    for item in v.try_iter()? {
        let null = item.is_none() || matches!(item.as_str(), Some("None" | "null"));
        if !keep_nulls && null {
            continue;
        }
        let iterable = matches!(item.kind(), ValueKind::Seq | ValueKind::Map);
        match levels {
            _ if !iterable => out.push(item),
            None => flatten(&item, None, keep_nulls, out, depth + 1)?,
            Some(l) if l >= 1 => flatten(&item, Some(l - 1), keep_nulls, out, depth + 1)?,
            Some(_) => out.push(item),
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum SetOp {
    Union,
    Intersect,
    Difference,
    Symmetric,
}

/// Salt's list set operations. Salt answers with a Python set (unordered)
/// unless the items are unhashable; halite keeps first-seen order.
fn set_op(a: MjValue, b: MjValue, op: SetOp) -> Result<MjValue, Error> {
    let a: Vec<MjValue> = a.try_iter()?.collect();
    let b: Vec<MjValue> = b.try_iter()?.collect();
    let mut out: Vec<MjValue> = Vec::new();
    let mut push = |v: &MjValue| {
        if !out.contains(v) {
            out.push(v.clone());
        }
    };
    match op {
        SetOp::Union => a.iter().chain(&b).for_each(&mut push),
        SetOp::Intersect => a.iter().filter(|x| b.contains(x)).for_each(&mut push),
        SetOp::Difference => a.iter().filter(|x| !b.contains(x)).for_each(&mut push),
        SetOp::Symmetric => a
            .iter()
            .filter(|x| !b.contains(x))
            .chain(b.iter().filter(|x| !a.contains(x)))
            .for_each(&mut push),
    }
    Ok(PyList::new_value(out))
}

/// Salt's `exactly_n_true(amount=1)`.
fn exactly_n_true(v: MjValue, amount: Option<usize>, kw: Kwargs) -> Result<bool, Error> {
    let amount = match amount {
        Some(a) => Some(a),
        None => kw.get("amount")?,
    };
    kw.assert_all_used()?;
    let n = v.try_iter()?.filter(MjValue::is_true).count();
    Ok(n == amount.unwrap_or(1))
}

fn avg(v: MjValue) -> Result<f64, Error> {
    let mut sum = 0.0;
    let mut n = 0usize;
    for item in v.try_iter()? {
        sum += f64::try_from(item).map_err(|_| invalid("avg: items must be numbers"))?;
        n += 1;
    }
    if n == 0 {
        return Err(invalid("avg: division by zero (empty list)"));
    }
    Ok(sum / n as f64)
}

fn digest(name: &str, s: &str) -> String {
    use sha2::Digest;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    match name {
        "md5" => format!("{:x}", md5::compute(s.as_bytes())),
        "sha1" => hex(&sha1::Sha1::digest(s.as_bytes())),
        "sha256" => hex(&sha2::Sha256::digest(s.as_bytes())),
        _ => hex(&sha2::Sha512::digest(s.as_bytes())),
    }
}

fn base64_decode(s: &str) -> Result<String, Error> {
    let bytes = data_encoding::BASE64
        .decode(s.as_bytes())
        .map_err(|e| invalid(format!("base64_decode: {e}")))?;
    String::from_utf8(bytes).map_err(|_| invalid("base64_decode: the result is not UTF-8 text"))
}
