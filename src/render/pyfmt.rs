//! Python's text behaviour where Salt formulas rely on it: `repr()` and
//! `str()` of values (how a dict or list prints), the `%` operator
//! (`"/home/%s" % name`, `"%(a)s" % d`, and numbers' modulo), and the
//! `str`/`dict`/`list` methods minijinja-contrib's pycompat lacks.
//!
//! Methods are found in this order: a [`PyDict`]/[`PyList`] object's own
//! (`pyobj.rs`), then [`unknown_method_callback`] here (extra `str`
//! methods, then pycompat's), so a formula's `name.rpartition('.')` works
//! as in Salt.

use minijinja::formatting::{format, FormatStyle};
use minijinja::value::{Value as MjValue, ValueKind};
use minijinja::{Error, ErrorKind, State};

use super::pyobj::{is_mutable, mutable, py_str, repr, split_kwargs, PyList};

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// The `%` operator, which the pre-pass turns into `__halite_mod(a, b)`:
/// printf-style formatting when `a` is a string (a tuple gives the
/// arguments, a mapping serves `%(name)s`), Python's modulo for numbers.
pub(super) fn percent(lhs: MjValue, rhs: MjValue) -> Result<MjValue, Error> {
    // Strict undefined, as Salt's: an undefined operand is an error, not
    // the text "None".
    let undefined = |v: &MjValue| {
        v.is_undefined()
            || (v.is_tuple() && v.try_iter().is_ok_and(|mut i| i.any(|x| x.is_undefined())))
    };
    if undefined(&lhs) || undefined(&rhs) {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "an operand of `%` is undefined",
        ));
    }
    let Some(fmt) = lhs.as_str() else {
        return modulo(&lhs, &rhs);
    };
    let (fmt, convs) = conversions(fmt);
    let args: Vec<MjValue> = if rhs.is_tuple() {
        rhs.try_iter()?.collect()
    } else {
        vec![rhs]
    };
    let keyed = convs.iter().any(|c| c.0.is_some());
    let args = if keyed && args.len() == 1 && args[0].kind() == ValueKind::Map {
        let mut map = indexmap::IndexMap::new();
        for (i, (key, conv)) in convs.iter().enumerate() {
            if let Some(key) = key {
                let v = args[0].get_item(&MjValue::from(key.as_str()))?;
                if v.is_undefined() {
                    return Err(invalid(format!(
                        "KeyError: {}",
                        repr(&MjValue::from(key.as_str()))
                    )));
                }
                map.insert(MjValue::from(i.to_string()), py_conv(v, *conv));
            }
        }
        vec![MjValue::from_object(map)]
    } else {
        return positional(&fmt, &convs, args);
    };
    format(FormatStyle::Printf, &fmt, &args).map(MjValue::from)
}

/// Positional arguments, each printed as its conversion wants; a `*`
/// width or precision (a NUL in `fmt`) is replaced by its argument.
fn positional(
    fmt: &str,
    convs: &[(Option<String>, char)],
    args: Vec<MjValue>,
) -> Result<MjValue, Error> {
    let mut fmt = fmt.to_string();
    let mut out = Vec::with_capacity(args.len());
    let mut convs = convs.iter().map(|c| c.1);
    for arg in args {
        match convs.next() {
            Some('*') => {
                let n = arg.as_i64().ok_or_else(|| invalid("* wants int"))?;
                fmt = fmt.replacen('\0', &n.to_string(), 1);
            }
            conv => out.push(py_conv(arg, conv.unwrap_or('d'))),
        }
    }
    format(FormatStyle::Printf, &fmt, &out).map(MjValue::from)
}

/// How Python's `%s` and `%r` print a value (minijinja's printf knows
/// neither `None`/`True` spelled as Python does nor `%r`).
fn py_conv(v: MjValue, conv: char) -> MjValue {
    match conv {
        's' if v.as_str().is_none() && !v.is_number() => MjValue::from(py_str(&v)),
        'r' | 'a' => MjValue::from(repr(&v)),
        _ => v,
    }
}

/// The format with `%r`/`%a` turned into `%s`, and each argument's
/// (mapping key, conversion) in order; a `*` width or precision takes an
/// argument of its own (conversion `*`, a NUL in the format).
fn conversions(fmt: &str) -> (String, Vec<(Option<String>, char)>) {
    let mut out = String::with_capacity(fmt.len());
    let mut convs = Vec::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '%' {
            continue;
        }
        // A mapping key is renamed to the spec's index, so one key used
        // with two conversions (`%(a)r %(a)s`) gets two arguments.
        let mut key = None;
        if chars.peek() == Some(&'(') {
            chars.next();
            let k: String = chars.by_ref().take_while(|&c| c != ')').collect();
            out.push_str(&format!("({})", convs.len()));
            key = Some(k);
        }
        while let Some(&c) = chars.peek() {
            if !"#0- +*.0123456789hlL".contains(c) {
                break;
            }
            if c == '*' {
                convs.push((None, '*'));
                out.push('\0');
            } else {
                out.push(c);
            }
            chars.next();
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(conv) => {
                out.push(if matches!(conv, 'r' | 'a') { 's' } else { conv });
                convs.push((key, conv));
            }
            None => {}
        }
    }
    (out, convs)
}

/// Python's `%` for numbers: the result takes the divisor's sign.
fn modulo(a: &MjValue, b: &MjValue) -> Result<MjValue, Error> {
    let type_err = || {
        invalid(format!(
            "unsupported operand type(s) for %: '{}' and '{}'",
            a.kind(),
            b.kind()
        ))
    };
    if a.is_integer() && b.is_integer() {
        let (x, y) = (
            i128::try_from(a.clone()).map_err(|_| type_err())?,
            i128::try_from(b.clone()).map_err(|_| type_err())?,
        );
        if y == 0 {
            return Err(invalid("integer division or modulo by zero"));
        }
        let r = x.rem_euclid(y);
        let r = if y < 0 && r != 0 { r + y } else { r };
        return Ok(MjValue::from(r));
    }
    if a.is_number() && b.is_number() {
        let x = f64::try_from(a.clone()).map_err(|_| type_err())?;
        let y = f64::try_from(b.clone()).map_err(|_| type_err())?;
        if y == 0.0 {
            return Err(invalid("float modulo"));
        }
        let r = x % y;
        let r = if r != 0.0 && (r < 0.0) != (y < 0.0) {
            r + y
        } else {
            r
        };
        return Ok(MjValue::from(r));
    }
    Err(type_err())
}

/// The environment's method fallback: Python `str` methods pycompat
/// lacks, read-only `dict`/`list` methods on immutable values, then
/// pycompat.
pub(super) fn unknown_method_callback(
    state: &mut State,
    value: &MjValue,
    method: &str,
    args: &[MjValue],
) -> Result<MjValue, Error> {
    if let Some(s) = value.as_str() {
        if let Some(out) = str_method(s, method, args)? {
            return Ok(out);
        }
    } else if matches!(
        value.kind(),
        ValueKind::Map | ValueKind::Seq | ValueKind::Iterable
    ) && !is_mutable(value)
    {
        return immutable_method(state, value, method, args);
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

/// A method called on a map or list minijinja made (a filter's or an
/// operator's result, a tuple): read-only methods answer from a mutable
/// copy; a change would be lost, so it is an error instead.
fn immutable_method(
    state: &mut State,
    value: &MjValue,
    method: &str,
    args: &[MjValue],
) -> Result<MjValue, Error> {
    const CHANGES: &[&str] = &[
        "update",
        "setdefault",
        "pop",
        "popitem",
        "clear",
        "append",
        "extend",
        "insert",
        "remove",
        "reverse",
        "sort",
    ];
    if CHANGES.contains(&method) {
        return Err(invalid(format!(
            "cannot {method}() this {} in place: it was made by a filter or operator \
             (or is a tuple); bind it with `set` first",
            value.kind()
        )));
    }
    let copy = if value.is_tuple() {
        PyList::new_value(value.try_iter()?.collect())
    } else {
        mutable(value.clone())
    };
    if is_mutable(&copy) {
        return copy.call_method(state, method, args);
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

fn one_str<'a>(method: &str, args: &'a [MjValue]) -> Result<&'a str, Error> {
    match args {
        [a] => a
            .as_str()
            .ok_or_else(|| invalid(format!("str.{method}() argument must be a string"))),
        _ => Err(invalid(format!(
            "str.{method}() takes exactly one argument"
        ))),
    }
}

fn tuple3(a: &str, b: &str, c: &str) -> MjValue {
    MjValue::from(minijinja::value::Tuple::new(vec![
        MjValue::from(a),
        MjValue::from(b),
        MjValue::from(c),
    ]))
}

/// `str` methods pycompat lacks; `None` when `method` is not one.
fn str_method(s: &str, method: &str, args: &[MjValue]) -> Result<Option<MjValue>, Error> {
    let out = match method {
        "partition" | "rpartition" => {
            let sep = one_str(method, args)?;
            if sep.is_empty() {
                return Err(invalid("empty separator"));
            }
            let found = if method == "partition" {
                s.split_once(sep)
            } else {
                s.rsplit_once(sep)
            };
            match (found, method) {
                (Some((a, b)), _) => tuple3(a, sep, b),
                (None, "partition") => tuple3(s, "", ""),
                (None, _) => tuple3("", "", s),
            }
        }
        "removeprefix" => MjValue::from(s.strip_prefix(one_str(method, args)?).unwrap_or(s)),
        "removesuffix" => MjValue::from(s.strip_suffix(one_str(method, args)?).unwrap_or(s)),
        "swapcase" => MjValue::from(
            s.chars()
                .map(|c| {
                    if c.is_uppercase() {
                        c.to_lowercase().collect::<String>()
                    } else {
                        c.to_uppercase().collect()
                    }
                })
                .collect::<String>(),
        ),
        "zfill" | "ljust" | "rjust" | "center" => pad(s, method, args)?,
        "index" | "rindex" => {
            let sub = one_str(method, args)?;
            let at = if method == "index" {
                s.find(sub)
            } else {
                s.rfind(sub)
            };
            let at = at.ok_or_else(|| invalid("substring not found"))?;
            MjValue::from(s[..at].chars().count())
        }
        "rsplit" => rsplit(s, args)?,
        "isidentifier" => MjValue::from(
            s.chars()
                .next()
                .is_some_and(|c| c == '_' || c.is_alphabetic())
                && s.chars().all(|c| c == '_' || c.is_alphanumeric()),
        ),
        _ => return Ok(None),
    };
    Ok(Some(out))
}

/// `zfill(width)`, `ljust/rjust/center(width[, fillchar])`.
fn pad(s: &str, method: &str, args: &[MjValue]) -> Result<MjValue, Error> {
    let (pos, _) = split_kwargs(args)?;
    let width = pos
        .first()
        .and_then(MjValue::as_usize)
        .ok_or_else(|| invalid(format!("str.{method}() needs an integer width")))?;
    let fill = match pos.get(1).map(|f| f.as_str()) {
        None => ' ',
        Some(Some(f)) if f.chars().count() == 1 => f.chars().next().unwrap_or(' '),
        Some(_) => {
            return Err(invalid(format!(
                "str.{method}(): the fill character must be exactly one character long"
            )))
        }
    };
    let len = s.chars().count();
    if len >= width {
        return Ok(MjValue::from(s));
    }
    let n = width - len;
    let rep = |c: char, k: usize| std::iter::repeat_n(c, k).collect::<String>();
    Ok(MjValue::from(match method {
        "zfill" => match s.strip_prefix(['+', '-']) {
            Some(rest) => format!("{}{}{rest}", &s[..1], rep('0', n)),
            None => format!("{}{s}", rep('0', n)),
        },
        "ljust" => format!("{s}{}", rep(fill, n)),
        "rjust" => format!("{}{s}", rep(fill, n)),
        // Python's center puts the extra fill on the left when the text
        // length is odd.
        _ => {
            let left = n / 2 + (n & width & 1);
            format!("{}{s}{}", rep(fill, left), rep(fill, n - left))
        }
    }))
}

/// `rsplit(sep=None, maxsplit=-1)`.
fn rsplit(s: &str, args: &[MjValue]) -> Result<MjValue, Error> {
    let (pos, kw) = split_kwargs(args)?;
    let mut sep = pos.first().cloned().unwrap_or_default();
    let mut max = pos.get(1).and_then(MjValue::as_i64).unwrap_or(-1);
    for (k, v) in kw {
        match k.as_str() {
            Some("sep") => sep = v,
            Some("maxsplit") => max = v.as_i64().unwrap_or(-1),
            _ => {
                return Err(invalid(format!(
                    "rsplit() got an unexpected keyword argument {k}"
                )))
            }
        }
    }
    let mut parts: Vec<String> = match sep.as_str() {
        Some(sep) if max < 0 => s.rsplit(sep).map(str::to_string).collect(),
        Some(sep) => s
            .rsplitn(max as usize + 1, sep)
            .map(str::to_string)
            .collect(),
        None => {
            let words: Vec<&str> = s.split_whitespace().collect();
            if max < 0 || words.len() <= max as usize + 1 {
                words.iter().rev().map(|w| w.to_string()).collect()
            } else {
                // Keep the head's own spacing, as Python does.
                let mut out: Vec<String> = Vec::new();
                let mut rest = s.trim_end();
                for _ in 0..max {
                    let cut = rest.rfind(char::is_whitespace).unwrap_or(0);
                    out.push(rest[cut..].trim_start().to_string());
                    rest = rest[..cut].trim_end();
                }
                out.push(rest.to_string());
                out
            }
        }
    };
    parts.reverse();
    Ok(PyList::new_value(
        parts.into_iter().map(MjValue::from).collect(),
    ))
}
