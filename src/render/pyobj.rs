//! Python's mutable `dict` and `list` for templates.
//!
//! Salt formulas change data in place (`{% do d.update({...}) %}`,
//! `{% do l.append(x) %}`) and expect every name bound to the same object
//! to see the change, as in Python. minijinja's own maps and lists are
//! immutable values behind an `Arc`, so every map and list a template can
//! reach is one of these objects instead: an `Arc<Mutex<..>>` whose clones
//! are the same object. Pillar, grains, `opts`, `salt[...]` results and
//! `import_yaml` data are built as these ([`from_json`], [`mutable`]);
//! literals and `set` values are wrapped by the pre-pass in
//! `rewrite.rs`. Locks are held only while copying in or out, never while
//! the engine runs, so `d.update(d)` or a loop that mutates what it walks
//! cannot deadlock (a loop walks a snapshot, like iterating over `list(d)`).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use indexmap::IndexMap;
use minijinja::value::{Enumerator, Object, ObjectRepr, Tuple, Value as MjValue, ValueKind};
use minijinja::{Error, ErrorKind, State};

use crate::Value;

/// minijinja's own map type (with `preserve_order`).
type PlainMap = IndexMap<MjValue, MjValue>;

/// A Python `dict`: keys keep their insertion order.
#[derive(Debug, Default)]
pub(super) struct PyDict(Mutex<PlainMap>);

/// A Python `list`.
#[derive(Debug, Default)]
pub(super) struct PyList(Mutex<Vec<MjValue>>);

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the data half-written
    // (every write is one call), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PyDict {
    pub fn new_value(map: PlainMap) -> MjValue {
        MjValue::from_object(PyDict(Mutex::new(map)))
    }

    fn snapshot(&self) -> PlainMap {
        lock(&self.0).clone()
    }
}

impl PyList {
    pub fn new_value(items: Vec<MjValue>) -> MjValue {
        MjValue::from_object(PyList(Mutex::new(items)))
    }

    fn snapshot(&self) -> Vec<MjValue> {
        lock(&self.0).clone()
    }
}

/// A template value as JSON (what states, pillar and filters exchange).
pub(super) fn to_json(v: &MjValue) -> Result<Value, Error> {
    serde_json::to_value(v).map_err(|e| invalid(format!("cannot convert value: {e}")))
}

/// `load_yaml`/`load_json`/`load_text` of `text` (data made mutable).
pub(super) fn parse_text(kind: &str, text: &str, what: &str) -> Result<MjValue, Error> {
    parse_plain(kind, text, what).map(mutable)
}

fn parse_plain(kind: &str, text: &str, what: &str) -> Result<MjValue, Error> {
    match kind {
        "yaml" => {
            if text.trim().is_empty() {
                return Ok(MjValue::from(()));
            }
            crate::yaml::from_str::<MjValue>(text, std::path::Path::new(what))
                .map_err(|e| invalid(format!("load_yaml: {e}")))
        }
        "json" => serde_json::from_str::<MjValue>(text)
            .map_err(|e| invalid(format!("load_json: {what}: {e}"))),
        _ => Ok(MjValue::from(text)),
    }
}

/// Python's `repr()` of a value.
pub(super) fn repr(v: &MjValue) -> String {
    let mut out = String::new();
    write_repr(v, &mut out);
    out
}

/// Python's `str()` of a value: strings as they are, everything else as
/// its `repr()`.
pub(super) fn py_str(v: &MjValue) -> String {
    match v.as_str() {
        Some(s) => s.to_string(),
        None => repr(v),
    }
}

fn write_repr(v: &MjValue, out: &mut String) {
    match v.kind() {
        ValueKind::None | ValueKind::Undefined => out.push_str("None"),
        ValueKind::Bool => out.push_str(if v.is_true() { "True" } else { "False" }),
        ValueKind::String => out.push_str(&str_repr(v.as_str().unwrap_or_default())),
        ValueKind::Map => {
            out.push('{');
            for (i, k) in v.try_iter().into_iter().flatten().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(&k, out);
                out.push_str(": ");
                write_repr(&v.get_item(&k).unwrap_or_default(), out);
            }
            out.push('}');
        }
        ValueKind::Seq => {
            let (open, close) = if v.is_tuple() { ('(', ")") } else { ('[', "]") };
            out.push(open);
            let items: Vec<MjValue> = v.try_iter().into_iter().flatten().collect();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(item, out);
            }
            if v.is_tuple() && items.len() == 1 {
                out.push(',');
            }
            out.push_str(close);
        }
        _ => out.push_str(&v.to_string()),
    }
}

/// Python's `repr()` of a string: single quotes unless the text has one
/// and no double quote.
fn str_repr(s: &str) -> String {
    crate::target::python_quote(s)
}

/// A JSON value as template data: maps and lists mutable.
pub(super) fn from_json(v: &Value) -> MjValue {
    match v {
        Value::Object(m) => PyDict::new_value(
            m.iter()
                .map(|(k, v)| (MjValue::from(k.as_str()), from_json(v)))
                .collect(),
        ),
        Value::Array(items) => PyList::new_value(items.iter().map(from_json).collect()),
        other => MjValue::from(minijinja::value::Serde(other)),
    }
}

/// `v` with every plain (immutable) map and list in it made mutable.
/// Objects that already are [`PyDict`]/[`PyList`] are kept as they are (the
/// same object, as Python keeps references); tuples stay tuples.
pub(super) fn mutable(v: MjValue) -> MjValue {
    if is_mutable(&v) {
        return v;
    }
    if let Some(map) = v.downcast_object_ref::<PlainMap>() {
        return PyDict::new_value(
            map.iter()
                .map(|(k, v)| (k.clone(), mutable(v.clone())))
                .collect(),
        );
    }
    if let Some(t) = v.downcast_object_ref::<Tuple>() {
        let items: Vec<MjValue> = t.iter().cloned().map(mutable).collect();
        return MjValue::from(Tuple::new(items));
    }
    // Iterables too: pycompat's `split()` answers with one, and Python's
    // answer is a list.
    if matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable) {
        if let Ok(iter) = v.try_iter() {
            return PyList::new_value(iter.map(mutable).collect());
        }
    }
    v
}

/// Salt's `dictupdate.update(dest, upd)` in place: a mapping in both is
/// merged recursively, anything else in `upd` replaces `dest`'s. `false`
/// (and nothing changed) when `dest` is not a [`PyDict`].
pub(super) fn update_in_place(dest: &MjValue, upd: &MjValue) -> bool {
    let Some(d) = dest.downcast_object_ref::<PyDict>() else {
        return false;
    };
    let Ok(pairs) = pairs_of(upd) else {
        return false;
    };
    for (k, v) in pairs {
        let existing = lock(&d.0).get(&k).cloned();
        let value = match existing {
            Some(e) if e.kind() == ValueKind::Map && v.kind() == ValueKind::Map => {
                let e = mutable(e);
                update_in_place(&e, &v);
                e
            }
            _ => v,
        };
        lock(&d.0).insert(k, value);
    }
    true
}

/// Python's `dest.update(upd)` (one level): each of `upd`'s keys set in
/// `dest`. `false` (and nothing changed) when `dest` is not a [`PyDict`].
pub(super) fn set_items(dest: &MjValue, upd: &MjValue) -> bool {
    let Some(d) = dest.downcast_object_ref::<PyDict>() else {
        return false;
    };
    let Ok(pairs) = pairs_of(upd) else {
        return false;
    };
    for (k, v) in pairs {
        lock(&d.0).insert(k, v);
    }
    true
}

pub(super) fn is_mutable(v: &MjValue) -> bool {
    v.downcast_object_ref::<PyDict>().is_some() || v.downcast_object_ref::<PyList>().is_some()
}

/// Keyword arguments, in the order given.
pub(super) type KwPairs = Vec<(MjValue, MjValue)>;

/// Split a method's arguments into positional ones and keyword ones.
pub(super) fn split_kwargs(args: &[MjValue]) -> Result<(&[MjValue], KwPairs), Error> {
    match args.split_last() {
        Some((last, rest)) if last.is_kwargs() => {
            let mut kw = Vec::new();
            for k in last.try_iter()? {
                let v = last.get_item(&k)?;
                kw.push((k, v));
            }
            Ok((rest, kw))
        }
        _ => Ok((args, Vec::new())),
    }
}

fn arity(method: &str, args: &[MjValue], min: usize, max: usize) -> Result<(), Error> {
    if args.len() < min || args.len() > max {
        let want = if min == max {
            format!("{min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(invalid(format!(
            "{method}() takes {want} arguments ({} given)",
            args.len()
        )));
    }
    Ok(())
}

/// The key/value pairs of a mapping, or of an iterable of pairs (what
/// `dict.update` and `dict()` accept).
pub(super) fn pairs_of(v: &MjValue) -> Result<Vec<(MjValue, MjValue)>, Error> {
    if v.kind() == ValueKind::Map {
        let mut out = Vec::new();
        for k in v.try_iter()? {
            let val = v.get_item(&k)?;
            out.push((k, val));
        }
        return Ok(out);
    }
    let mut out = Vec::new();
    for item in v.try_iter()? {
        let kv: Vec<MjValue> = item.try_iter()?.collect();
        if kv.len() != 2 {
            return Err(invalid(format!(
                "dictionary update sequence element has length {}; 2 is required",
                kv.len()
            )));
        }
        out.push((kv[0].clone(), kv[1].clone()));
    }
    Ok(out)
}

impl Object for PyDict {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &MjValue) -> Option<MjValue> {
        lock(&self.0).get(key).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(lock(&self.0).keys().cloned().collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(lock(&self.0).len())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[MjValue],
    ) -> Result<MjValue, Error> {
        let (pos, kw) = split_kwargs(args)?;
        if !kw.is_empty() && method != "update" {
            return Err(invalid(format!(
                "dict.{method}() takes no keyword arguments"
            )));
        }
        dict_method(self, method, pos, kw)
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&repr(&MjValue::from_dyn_object(self.clone())))
    }
}

fn dict_method(
    d: &Arc<PyDict>,
    method: &str,
    pos: &[MjValue],
    kw: Vec<(MjValue, MjValue)>,
) -> Result<MjValue, Error> {
    let none = MjValue::from(());
    match method {
        "update" => {
            arity(method, pos, 0, 1)?;
            let mut new = match pos.first() {
                Some(other) => pairs_of(other)?,
                None => Vec::new(),
            };
            new.extend(kw);
            lock(&d.0).extend(new);
            Ok(none)
        }
        "get" => {
            arity(method, pos, 1, 2)?;
            Ok(d.get_value(&pos[0])
                .unwrap_or_else(|| pos.get(1).cloned().unwrap_or(none)))
        }
        "setdefault" => {
            arity(method, pos, 1, 2)?;
            let default = pos.get(1).cloned().unwrap_or(none);
            Ok(lock(&d.0).entry(pos[0].clone()).or_insert(default).clone())
        }
        "pop" => {
            arity(method, pos, 1, 2)?;
            match lock(&d.0).shift_remove(&pos[0]) {
                Some(v) => Ok(v),
                None => pos
                    .get(1)
                    .cloned()
                    .ok_or_else(|| invalid(format!("KeyError: {}", repr(&pos[0])))),
            }
        }
        "popitem" => {
            arity(method, pos, 0, 0)?;
            let (k, v) = lock(&d.0)
                .pop()
                .ok_or_else(|| invalid("popitem(): dictionary is empty"))?;
            Ok(MjValue::from(Tuple::new(vec![k, v])))
        }
        "clear" => {
            arity(method, pos, 0, 0)?;
            lock(&d.0).clear();
            Ok(none)
        }
        "copy" => {
            arity(method, pos, 0, 0)?;
            Ok(PyDict::new_value(d.snapshot()))
        }
        "keys" | "values" | "items" => {
            arity(method, pos, 0, 0)?;
            let snap = d.snapshot();
            let items = snap
                .into_iter()
                .map(|(k, v)| match method {
                    "keys" => k,
                    "values" => v,
                    _ => MjValue::from(Tuple::new(vec![k, v])),
                })
                .collect();
            Ok(PyList::new_value(items))
        }
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

impl Object for PyList {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &MjValue) -> Option<MjValue> {
        let items = lock(&self.0);
        let i = index_of(key.as_i64()?, items.len())?;
        items.get(i).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.snapshot())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(lock(&self.0).len())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[MjValue],
    ) -> Result<MjValue, Error> {
        let (pos, kw) = split_kwargs(args)?;
        if method == "sort" {
            return list_sort(self, pos, kw);
        }
        if !kw.is_empty() {
            return Err(invalid(format!(
                "list.{method}() takes no keyword arguments"
            )));
        }
        list_method(self, method, pos)
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&repr(&MjValue::from_dyn_object(self.clone())))
    }
}

/// A Python index (negative counts from the end) into a length.
fn index_of(i: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let i = if i < 0 { i + len } else { i };
    (0..len).contains(&i).then_some(i as usize)
}

fn int_arg(method: &str, v: &MjValue) -> Result<i64, Error> {
    v.as_i64().ok_or_else(|| {
        invalid(format!(
            "{method}(): an integer is required, got {}",
            v.kind()
        ))
    })
}

fn list_method(l: &Arc<PyList>, method: &str, pos: &[MjValue]) -> Result<MjValue, Error> {
    let none = MjValue::from(());
    match method {
        "append" => {
            arity(method, pos, 1, 1)?;
            lock(&l.0).push(pos[0].clone());
            Ok(none)
        }
        "extend" => {
            arity(method, pos, 1, 1)?;
            let new: Vec<MjValue> = pos[0].try_iter()?.collect();
            lock(&l.0).extend(new);
            Ok(none)
        }
        "insert" => {
            arity(method, pos, 2, 2)?;
            let i = int_arg(method, &pos[0])?;
            let mut items = lock(&l.0);
            let len = items.len() as i64;
            let at = if i < 0 { (i + len).max(0) } else { i.min(len) };
            items.insert(at as usize, pos[1].clone());
            Ok(none)
        }
        "pop" => {
            arity(method, pos, 0, 1)?;
            let i = pos
                .first()
                .map(|v| int_arg(method, v))
                .transpose()?
                .unwrap_or(-1);
            let mut items = lock(&l.0);
            let at = index_of(i, items.len()).ok_or_else(|| {
                invalid(if items.is_empty() {
                    "pop from empty list"
                } else {
                    "pop index out of range"
                })
            })?;
            Ok(items.remove(at))
        }
        "remove" => {
            arity(method, pos, 1, 1)?;
            let mut items = lock(&l.0);
            let at = items
                .iter()
                .position(|x| x == &pos[0])
                .ok_or_else(|| invalid("list.remove(x): x not in list"))?;
            items.remove(at);
            Ok(none)
        }
        "clear" => {
            arity(method, pos, 0, 0)?;
            lock(&l.0).clear();
            Ok(none)
        }
        "reverse" => {
            arity(method, pos, 0, 0)?;
            lock(&l.0).reverse();
            Ok(none)
        }
        "copy" => {
            arity(method, pos, 0, 0)?;
            Ok(PyList::new_value(l.snapshot()))
        }
        "index" => list_index(l, pos),
        "count" => {
            arity(method, pos, 1, 1)?;
            Ok(MjValue::from(
                lock(&l.0).iter().filter(|x| *x == &pos[0]).count(),
            ))
        }
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

/// `list.index(x[, start[, end]])`.
fn list_index(l: &Arc<PyList>, pos: &[MjValue]) -> Result<MjValue, Error> {
    let method = "index";
    arity(method, pos, 1, 3)?;
    let items = l.snapshot();
    let len = items.len() as i64;
    let bound = |v: Option<&MjValue>, dflt: i64| -> Result<usize, Error> {
        let i = v.map(|v| int_arg(method, v)).transpose()?.unwrap_or(dflt);
        Ok((if i < 0 { i + len } else { i }).clamp(0, len) as usize)
    };
    let (start, end) = (bound(pos.get(1), 0)?, bound(pos.get(2), len)?);
    (start..end.max(start))
        .find(|&i| items[i] == pos[0])
        .map(MjValue::from)
        .ok_or_else(|| invalid(format!("{} is not in list", repr(&pos[0]))))
}

/// `list.sort(reverse=False)` (no `key=`: Jinja has no lambdas).
fn list_sort(
    l: &Arc<PyList>,
    pos: &[MjValue],
    kw: Vec<(MjValue, MjValue)>,
) -> Result<MjValue, Error> {
    arity("sort", pos, 0, 0)?;
    let mut reverse = false;
    for (k, v) in kw {
        match k.as_str() {
            Some("reverse") => reverse = v.is_true(),
            _ => {
                return Err(invalid(format!(
                    "sort() got an unexpected keyword argument {k}"
                )))
            }
        }
    }
    let mut items = l.snapshot();
    items.sort();
    if reverse {
        items.reverse();
    }
    *lock(&l.0) = items;
    Ok(MjValue::from(()))
}
