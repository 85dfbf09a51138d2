//! Salt's smaller data and text filters (`salt/utils/data.py`,
//! `stringutils.py`, `hashutils.py`, `network.py`, `path.py`): numbers,
//! names, ids, list and dict comparisons, entries, IP checks. Each follows
//! the Salt function named in its doc; an argument halite does not
//! support (e.g. `is_ip`'s `options`) is an error, never ignored.

use std::net::IpAddr;

use hmac::{Hmac, KeyInit, Mac};
use minijinja::value::{Kwargs, Value as MjValue, ValueKind};
use minijinja::{Environment, Error, ErrorKind};

use super::pyobj::{PyDict, PyList};

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// Install these filters into `env`.
pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("to_num", to_num);
    env.add_filter("str_to_num", to_num);
    env.add_filter("uuid", |v: MjValue| uuid5(&super::pyobj::py_str(&v)));
    env.add_filter("hmac", hmac_signature);
    env.add_filter("hmac_compute", |s: &str, key: &str| {
        hmac_sha256(s, key).map(|d| hex(&d))
    });
    env.add_filter("to_snake_case", to_snake_case);
    env.add_filter("to_camelcase", to_camelcase);
    env.add_filter("sorted_ignorecase", sorted_ignorecase);
    env.add_filter("compare_lists", compare_lists);
    env.add_filter("compare_dicts", compare_dicts);
    env.add_filter("to_entries", to_entries);
    env.add_filter("from_entries", from_entries);
    env.add_filter("skip", |_: MjValue| "");
    env.add_filter("is_ip", |v: MjValue, o: Option<MjValue>| is_ip(v, o, None));
    env.add_filter("is_ipv4", |v: MjValue, o: Option<MjValue>| {
        is_ip(v, o, Some(4))
    });
    env.add_filter("is_ipv6", |v: MjValue, o: Option<MjValue>| {
        is_ip(v, o, Some(6))
    });
    env.add_filter("ipwrap", ipwrap);
    env.add_filter("path_join", path_join);
}

/// `to_num`/`str_to_num`: an int, else a float, else the text unchanged.
fn to_num(v: MjValue) -> MjValue {
    let Some(s) = v.as_str() else { return v };
    let t = s.trim().replace('_', "");
    if let Ok(i) = t.parse::<i64>() {
        return MjValue::from(i);
    }
    match t.parse::<f64>() {
        Ok(f) if !t.is_empty() => MjValue::from(f),
        _ => v,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Salt's `uuid`: `uuid5` of the text in Salt's own namespace.
fn uuid5(name: &str) -> String {
    use sha1::Digest;
    const SALT_NS: [u8; 16] = [
        0x91, 0x63, 0x3E, 0xBF, 0x1C, 0x86, 0x5E, 0x33, 0x93, 0x5A, 0x28, 0x06, 0x1F, 0x4B, 0x48,
        0x0E,
    ];
    let mut h = sha1::Sha1::new();
    h.update(SALT_NS);
    h.update(name.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

fn hmac_sha256(s: &str, key: &str) -> Result<Vec<u8>, Error> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes())
        .map_err(|e| invalid(format!("hmac: {e}")))?;
    mac.update(s.as_bytes());
    Ok(mac.finalize().into_bytes().to_vec())
}

/// Salt's `hmac(shared_secret, challenge_hmac)`: whether the base64 of
/// the text's HMAC-SHA256 is the challenge.
fn hmac_signature(s: &str, key: &str, challenge: &str) -> Result<bool, Error> {
    Ok(data_encoding::BASE64.encode(&hmac_sha256(s, key)?) == challenge)
}

/// Salt's `camel_to_snake_case`.
fn to_snake_case(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_uppercase() {
            let prev_lower = chars[i - 1].is_lowercase();
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev_lower || next_lower {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// Python's `str.capitalize`.
fn capitalize(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f
            .to_uppercase()
            .chain(c.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// Salt's `snake_to_camel_case(uppercamel=False)`.
fn to_camelcase(s: &str, uppercamel: Option<bool>, kw: Kwargs) -> Result<String, Error> {
    let uppercamel = match uppercamel {
        Some(u) => Some(u),
        None => kw.get("uppercamel")?,
    };
    kw.assert_all_used()?;
    let mut words = s.split('_');
    let first = words.next().unwrap_or_default();
    let mut out = if uppercamel.unwrap_or(false) {
        capitalize(first)
    } else {
        first.to_string()
    };
    out.extend(words.map(capitalize));
    Ok(out)
}

fn sorted_ignorecase(v: MjValue) -> Result<MjValue, Error> {
    let mut items: Vec<MjValue> = v.try_iter()?.collect();
    if items.iter().any(|i| i.as_str().is_none()) {
        return Err(invalid("sorted_ignorecase: items must be strings"));
    }
    items.sort_by_key(|i| i.as_str().unwrap_or_default().to_lowercase());
    Ok(PyList::new_value(items))
}

/// Salt's `compare_lists(old, new)`: `{'new': [added], 'old': [removed]}`.
fn compare_lists(old: MjValue, new: MjValue) -> Result<MjValue, Error> {
    let old: Vec<MjValue> = old.try_iter()?.collect();
    let new: Vec<MjValue> = new.try_iter()?.collect();
    let mut out = indexmap::IndexMap::new();
    let added: Vec<MjValue> = new.iter().filter(|i| !old.contains(i)).cloned().collect();
    let removed: Vec<MjValue> = old.iter().filter(|i| !new.contains(i)).cloned().collect();
    if !added.is_empty() {
        out.insert(MjValue::from("new"), PyList::new_value(added));
    }
    if !removed.is_empty() {
        out.insert(MjValue::from("old"), PyList::new_value(removed));
    }
    Ok(PyDict::new_value(out))
}

/// Salt's `compare_dicts(old, new)`: `{key: {'old': .., 'new': ..}}` for
/// every key added, removed (`''` on the missing side) or changed.
fn compare_dicts(old: MjValue, new: MjValue) -> Result<MjValue, Error> {
    let mut keys: Vec<MjValue> = new.try_iter()?.collect();
    for k in old.try_iter()? {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let mut out = indexmap::IndexMap::new();
    let side = |o: MjValue, n: MjValue| {
        PyDict::new_value([(MjValue::from("old"), o), (MjValue::from("new"), n)].into())
    };
    for k in keys {
        let (o, n) = (old.get_item(&k)?, new.get_item(&k)?);
        let entry = match (o.is_undefined(), n.is_undefined()) {
            (true, _) => side(MjValue::from(""), n),
            (_, true) => side(o, MjValue::from("")),
            _ if o != n => side(o, n),
            _ => continue,
        };
        out.insert(k, entry);
    }
    Ok(PyDict::new_value(out))
}

fn entry(key: MjValue, value: MjValue) -> MjValue {
    PyDict::new_value([(MjValue::from("key"), key), (MjValue::from("value"), value)].into())
}

/// Salt's `to_entries`: `[{'key': k, 'value': v}]` of a dict (or of a
/// list, keyed by index).
fn to_entries(v: MjValue) -> Result<MjValue, Error> {
    let out: Vec<MjValue> = match v.kind() {
        ValueKind::Map => {
            let mut out = Vec::new();
            for k in v.try_iter()? {
                let val = v.get_item(&k)?;
                out.push(entry(k, val));
            }
            out
        }
        ValueKind::Seq => v
            .try_iter()?
            .enumerate()
            .map(|(i, x)| entry(MjValue::from(i), x))
            .collect(),
        _ => return Err(invalid("to_entries: input data must be a dict or list")),
    };
    Ok(PyList::new_value(out))
}

/// Salt's `from_entries`: each entry's `key` (or `name`, any case) maps to
/// its `value`; entries without a true key are skipped, as in Salt.
fn from_entries(v: MjValue) -> Result<MjValue, Error> {
    let mut out = indexmap::IndexMap::new();
    for e in v.try_iter()? {
        let mut fields = Vec::new();
        for k in e.try_iter()? {
            let val = e.get_item(&k)?;
            fields.push((k.as_str().map(str::to_lowercase), val));
        }
        let find = |name: &str| {
            fields
                .iter()
                .rev()
                .find(|(k, _)| k.as_deref() == Some(name))
                .map(|(_, v)| v.clone())
        };
        let key = find("key")
            .filter(MjValue::is_true)
            .or_else(|| find("name"));
        if let Some(key) = key.filter(MjValue::is_true) {
            out.insert(key, find("value").unwrap_or_default());
        }
    }
    Ok(PyDict::new_value(out))
}

/// Salt's `is_ip`/`is_ipv4`/`is_ipv6` without `options`.
fn is_ip(v: MjValue, options: Option<MjValue>, version: Option<u8>) -> Result<bool, Error> {
    if options.is_some_and(|o| !o.is_none()) {
        return Err(invalid(
            "is_ip: `options` (e.g. 'global', 'loopback') is not supported by halite",
        ));
    }
    let Some(addr) = v.as_str().and_then(parse_ip) else {
        return Ok(false);
    };
    Ok(match version {
        Some(4) => addr.is_ipv4(),
        Some(_) => addr.is_ipv6(),
        None => true,
    })
}

/// An address, with or without a `/prefix` (as Salt's `ipaddress` checks
/// accept interfaces).
fn parse_ip(s: &str) -> Option<IpAddr> {
    match s.split_once('/') {
        Some((a, p)) => {
            let addr: IpAddr = a.parse().ok()?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            p.parse::<u8>().ok().filter(|p| *p <= max).map(|_| addr)
        }
        None => s.parse().ok(),
    }
}

/// Salt's `ipwrap`: IPv6 addresses in brackets (in a list too).
fn ipwrap(v: MjValue) -> Result<MjValue, Error> {
    let wrap = |x: MjValue| match x.as_str() {
        Some(s) if parse_ip(s).is_some_and(|a| a.is_ipv6()) => MjValue::from(format!("[{s}]")),
        _ => x,
    };
    if v.kind() == ValueKind::Seq {
        return Ok(PyList::new_value(v.try_iter()?.map(wrap).collect()));
    }
    Ok(wrap(v))
}

/// Python's `posixpath.normpath`.
fn normpath(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let lead = if p.starts_with("//") && !p.starts_with("///") {
        "//"
    } else if p.starts_with('/') {
        "/"
    } else {
        ""
    };
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            ".." if !lead.is_empty() => {}
            s => parts.push(s),
        }
    }
    let joined = format!("{lead}{}", parts.join("/"));
    if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

/// Salt's `path_join(*parts)`: parts normalized, later ones never
/// absolute, the result normalized.
fn path_join(first: &str, rest: minijinja::value::Rest<String>) -> String {
    let mut out = normpath(first);
    for part in rest.iter() {
        let part = normpath(part);
        let part = part.trim_start_matches('/');
        if !out.ends_with('/') {
            out.push('/');
        }
        out.push_str(part);
    }
    normpath(&out)
}
