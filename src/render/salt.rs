//! The `salt` object templates call (`salt['pillar.get']('a:b', 1)`).
//!
//! The pillar/grains/config readers answer on the controller from the
//! host's own data, with Salt's semantics (`salt/modules/pillar.py`,
//! `salt/modules/grains.py`, `salt/modules/config.py`,
//! `salt.utils.data.traverse_dict_and_list` and `filter_by`). Every other
//! function runs on the host through a [`RemoteCall`] the caller supplies
//! (the state engine, which owns the connection); rendering has no
//! transport of its own. `salt['mine.get']` goes the same way: the
//! caller answers it from the controller's mine (`functions::mine`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value as MjValue, ValueKind};
use minijinja::{Error, ErrorKind, State};

use super::pyobj::{from_json, to_json};
use crate::args::Args;
use crate::data;
use crate::target::{MatchCtx, Target, TargetType};
use crate::yaml::emit::{self, Flow};
use crate::Value;

/// Runs an execution function on the host being rendered for, e.g.
/// `salt['cmd.run']('hostname')`. Implemented by whoever holds the
/// connection.
pub trait RemoteCall: Send + Sync {
    fn call(&self, function: &str, args: &Args) -> Result<Value, String>;

    /// `function` as one script to run later, inside a state run's apply
    /// (`module.run` / `module.wait`), and how to read what it printed.
    fn script(&self, function: &str, args: &Args) -> Result<Box<dyn RemoteScript>, String> {
        let _ = args;
        Err(format!("{function} cannot run from a state here"))
    }
}

/// An execution function ready to run inside a state run's apply script.
pub trait RemoteScript: Send + Sync + fmt::Debug {
    /// The `sh` text; `None` when the function needs nothing from the host.
    fn text(&self) -> Option<&str>;
    /// Whether the function succeeded and what it returns, from what its
    /// text printed (stdout and stderr together) and its exit status.
    fn read(&self, printed: &str, rc: i32) -> (bool, Value);
}

pub(super) struct Ctx {
    pub grains: Arc<Value>,
    pub pillar: Arc<Value>,
    pub opts: Value,
    pub remote: Option<Arc<dyn RemoteCall>>,
}

impl fmt::Debug for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("remote", &self.remote.is_some())
            .finish_non_exhaustive()
    }
}

/// `salt`: indexing it (`salt['cmd.run']`) or one attribute level
/// (`salt.cmd.run`) yields a callable.
#[derive(Debug)]
pub(super) struct SaltLoader(Arc<Ctx>);

impl SaltLoader {
    pub fn new(ctx: Arc<Ctx>) -> SaltLoader {
        SaltLoader(ctx)
    }
}

impl Object for SaltLoader {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &MjValue) -> Option<MjValue> {
        let name = key.as_str()?;
        Some(if name.contains('.') {
            MjValue::from_object(SaltFunction {
                ctx: self.0.clone(),
                name: name.to_string(),
            })
        } else {
            MjValue::from_object(SaltModule {
                ctx: self.0.clone(),
                module: name.to_string(),
            })
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }
}

#[derive(Debug)]
struct SaltModule {
    ctx: Arc<Ctx>,
    module: String,
}

impl Object for SaltModule {
    fn get_value(self: &Arc<Self>, key: &MjValue) -> Option<MjValue> {
        Some(MjValue::from_object(SaltFunction {
            ctx: self.ctx.clone(),
            name: format!("{}.{}", self.module, key.as_str()?),
        }))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }

    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[MjValue],
    ) -> Result<MjValue, Error> {
        call(&self.ctx, state, &format!("{}.{method}", self.module), args)
    }
}

/// Jinja's `callable` test (Python's `callable()`): a `salt[...]`
/// function, a macro or a global function is; `salt` itself and a
/// `salt.MODULE` (dictionary-like in Salt) and data are not.
pub(super) fn is_callable(v: &MjValue) -> bool {
    if v.downcast_object_ref::<SaltFunction>().is_some() {
        return true;
    }
    if v.downcast_object_ref::<SaltLoader>().is_some()
        || v.downcast_object_ref::<SaltModule>().is_some()
    {
        return false;
    }
    // minijinja's macros show as maps of `name`, `arguments` and `caller`
    // (every dictionary a template holds is a PyDict instead).
    let is_macro = v.as_object().is_some()
        && v.downcast_object_ref::<super::pyobj::PyDict>().is_none()
        && v.kind() == ValueKind::Map
        && ["name", "arguments", "caller"]
            .iter()
            .all(|k| v.get_attr(k).is_ok_and(|a| !a.is_undefined()));
    is_macro || v.kind() == ValueKind::Plain
}

#[derive(Debug)]
struct SaltFunction {
    ctx: Arc<Ctx>,
    name: String,
}

impl Object for SaltFunction {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        args: &[MjValue],
    ) -> Result<MjValue, Error> {
        call(&self.ctx, state, &self.name, args)
    }
}

fn invalid(msg: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg)
}

/// Positional and keyword arguments as Jinja passed them.
struct CallArgs {
    positional: Vec<MjValue>,
    kwargs: Vec<(String, MjValue)>,
}

fn split_args(args: &[MjValue]) -> Result<CallArgs, Error> {
    let (positional, kw) = match args.split_last() {
        Some((last, rest)) if last.is_kwargs() => (rest, Some(last)),
        _ => (args, None),
    };
    let mut kwargs = Vec::new();
    if let Some(kw) = kw {
        for key in kw.try_iter()? {
            let value = kw.get_item(&key)?;
            kwargs.push((key.as_str().unwrap_or_default().to_string(), value));
        }
    }
    Ok(CallArgs {
        positional: positional.to_vec(),
        kwargs,
    })
}

/// Bind arguments to a Python-style signature: `params` in order, each
/// fillable by position or keyword.
fn bind(function: &str, params: &[&str], args: CallArgs) -> Result<Vec<Option<MjValue>>, Error> {
    if args.positional.len() > params.len() {
        return Err(invalid(format!(
            "salt['{function}'] takes at most {} positional arguments ({}), got {}",
            params.len(),
            params.join(", "),
            args.positional.len()
        )));
    }
    let mut out: Vec<Option<MjValue>> = params.iter().map(|_| None).collect();
    for (i, v) in args.positional.into_iter().enumerate() {
        out[i] = Some(v);
    }
    for (k, v) in args.kwargs {
        let Some(i) = params.iter().position(|p| *p == k) else {
            return Err(invalid(format!(
                "salt['{function}'] got an unexpected keyword argument `{k}`"
            )));
        };
        if out[i].is_some() {
            return Err(invalid(format!(
                "salt['{function}'] got multiple values for argument `{k}`"
            )));
        }
        out[i] = Some(v);
    }
    Ok(out)
}

fn string_arg(
    function: &str,
    name: &str,
    v: Option<&MjValue>,
    default: &str,
) -> Result<String, Error> {
    match v {
        None => Ok(default.to_string()),
        Some(v) if v.is_none() => Ok(default.to_string()),
        Some(v) => v
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| invalid(format!("salt['{function}']: `{name}` must be a string"))),
    }
}

fn call(
    ctx: &Ctx,
    state: &State<'_, '_>,
    function: &str,
    args: &[MjValue],
) -> Result<MjValue, Error> {
    let args = split_args(args)?;
    match function {
        "slsutil.renderer" => renderer(ctx, state, function, args),
        "defaults.get" => {
            let a = bind(function, &["key", "default"], args)?;
            let key = string_arg(function, "key", a[0].as_ref(), "")?;
            defaults_get(ctx, function, &key, a[1].clone())
        }
        "pillar.get" => {
            let a = bind(
                function,
                &[
                    "key",
                    "default",
                    "merge",
                    "delimiter",
                    "pillarenv",
                    "saltenv",
                ],
                args,
            )?;
            get(&ctx.pillar, function, &a)
        }
        "grains.get" => {
            let a = bind(function, &["key", "default", "delimiter", "ordered"], args)?;
            let a = [a[0].clone(), a[1].clone(), None, a[2].clone()];
            get(&ctx.grains, function, &a)
        }
        "config.option" => {
            let a = bind(
                function,
                &[
                    "value",
                    "default",
                    "omit_opts",
                    "omit_grains",
                    "omit_pillar",
                    "omit_master",
                    "omit_all",
                    "wildcard",
                ],
                args,
            )?;
            config_option(ctx, function, &a)
        }
        "config.get" => {
            let a = bind(
                function,
                &["key", "default", "delimiter", "merge", "omit_opts"],
                args,
            )?;
            let key = string_arg(function, "key", a[0].as_ref(), "")?;
            let delim = string_arg(function, "delimiter", a[2].as_ref(), ":")?;
            // Salt's search order: minion options, grains, then pillar.
            for source in [&ctx.opts, &*ctx.grains, &*ctx.pillar] {
                if let Some(v) = data::traverse(source, &key, &delim) {
                    return Ok(from_json(v));
                }
            }
            Ok(a[1].clone().unwrap_or_else(|| MjValue::from("")))
        }
        "pillar.items" | "pillar.raw" => {
            bind(function, &[], args)?;
            Ok(from_json(&ctx.pillar))
        }
        "grains.items" => {
            bind(function, &[], args)?;
            Ok(from_json(&ctx.grains))
        }
        "grains.ls" => {
            bind(function, &[], args)?;
            let keys: Vec<String> = ctx
                .grains
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            Ok(MjValue::from(keys))
        }
        "pillar.item" | "grains.item" => {
            let data = if function.starts_with("pillar") {
                &ctx.pillar
            } else {
                &ctx.grains
            };
            let mut out = serde_json::Map::new();
            for key in &args.positional {
                let key = key
                    .as_str()
                    .ok_or_else(|| invalid(format!("salt['{function}']: keys must be strings")))?;
                let v = data::traverse(data, key, ":")
                    .cloned()
                    .unwrap_or(Value::String(String::new()));
                out.insert(key.to_string(), v);
            }
            Ok(from_json(&Value::Object(out)))
        }
        "grains.filter_by" => {
            let a = bind(
                function,
                &["lookup_dict", "grain", "merge", "default", "base"],
                args,
            )?;
            let grain = string_arg(function, "grain", a[1].as_ref(), "os_family")?;
            filter_by(function, &ctx.grains, &grain, &a)
        }
        "pillar.filter_by" => {
            let a = bind(
                function,
                &["lookup_dict", "pillar", "merge", "default", "base"],
                args,
            )?;
            let key = string_arg(function, "pillar", a[1].as_ref(), "roles")?;
            filter_by(function, &ctx.pillar, &key, &a)
        }
        "cp.list_states" | "cp.list_master" | "cp.list_master_dirs" => {
            let a = bind(function, &["saltenv", "prefix"], args)?;
            let saltenv = string_arg(function, "saltenv", a[0].as_ref(), "base")?;
            let prefix = string_arg(function, "prefix", a[1].as_ref(), "")?;
            list_master(ctx, function, &saltenv, &prefix)
        }
        _ if HELPERS.contains(&function) => helper(function, args),
        // Pillar is rendered on the controller, as Salt's master renders
        // it with its own modules: the time is the controller's there.
        // A state template with a host asks the host.
        "status.time" if ctx.remote.is_none() => {
            let a = bind(function, &["format"], args)?;
            let format = string_arg(function, "format", a[0].as_ref(), "%A, %d. %B %Y %I:%M%p")?;
            strftime(function, &format)
        }
        _ => remote(ctx, function, args),
    }
}

/// The `salt[...]` functions that have no side effect on the minion and
/// need nothing from it: answered on the controller ([`helper`]).
const HELPERS: &[&str] = &[
    "slsutil.serialize",
    "slsutil.deserialize",
    "slsutil.merge",
    "slsutil.merge_all",
    "slsutil.update",
    "defaults.merge",
    "defaults.deepcopy",
    "file.basename",
    "file.dirname",
    "file.join",
    "log.debug",
    "log.info",
    "log.warning",
    "log.warn",
    "log.error",
    "log.critical",
    "log.exception",
];

/// One of [`HELPERS`].
fn helper(function: &str, args: CallArgs) -> Result<MjValue, Error> {
    match function {
        "slsutil.merge" => {
            let a = bind(
                function,
                &["obj_a", "obj_b", "strategy", "renderer", "merge_lists"],
                args,
            )?;
            merge_strategy(function, a[2].as_ref())?;
            let mut out = to_json(a[0].as_ref().unwrap_or(&MjValue::from(())))?;
            let upd = to_json(a[1].as_ref().unwrap_or(&MjValue::from(())))?;
            let lists = a[4].as_ref().is_some_and(MjValue::is_true);
            merge_values(&mut out, upd, lists);
            Ok(from_json(&out))
        }
        "slsutil.merge_all" => {
            let a = bind(
                function,
                &["lst", "strategy", "renderer", "merge_lists"],
                args,
            )?;
            merge_strategy(function, a[1].as_ref())?;
            let lists = a[3].as_ref().is_some_and(MjValue::is_true);
            let items = match a[0].as_ref().map(to_json).transpose()? {
                Some(Value::Array(items)) => items,
                _ => return Err(invalid(format!("salt['{function}']: `lst` must be a list"))),
            };
            let mut out = Value::Object(Default::default());
            for item in items {
                merge_values(&mut out, item, lists);
            }
            Ok(from_json(&out))
        }
        "defaults.merge" => {
            let a = bind(
                function,
                &["dest", "src", "merge_lists", "in_place", "convert_none"],
                args,
            )?;
            let flag = |i: usize, default: bool| a[i].as_ref().map_or(default, MjValue::is_true);
            let (in_place, convert) = (flag(3, true), flag(4, true));
            let given = |i: usize| a[i].clone().filter(|v| !v.is_none());
            let empty = || from_json(&Value::Object(Default::default()));
            let src = match given(1) {
                None if convert => empty(),
                v => v.unwrap_or_default(),
            };
            let dest = match given(0) {
                None if convert && in_place => {
                    return Err(invalid(format!(
                        "salt['{function}']: Can't perform in-place merge into NoneType"
                    )))
                }
                None if convert => empty(),
                v => v.unwrap_or_default(),
            };
            dict_update(function, &dest, &src, true, flag(2, false), in_place)
        }
        "slsutil.update" => {
            let a = bind(
                function,
                &["dest", "upd", "recursive_update", "merge_lists"],
                args,
            )?;
            let flag = |i: usize, default: bool| a[i].as_ref().map_or(default, MjValue::is_true);
            let dest = a[0].clone().unwrap_or_default();
            let upd = a[1].clone().unwrap_or_default();
            dict_update(function, &dest, &upd, flag(2, true), flag(3, false), true)
        }
        "slsutil.deserialize" => {
            let a = bind(function, &["serializer", "stream_or_string"], args)?;
            let kind = string_arg(function, "serializer", a[0].as_ref(), "")?;
            let text = string_arg(function, "stream_or_string", a[1].as_ref(), "")?;
            match kind.as_str() {
                "yaml" | "json" => super::pyobj::parse_text(&kind, &text, function),
                other => Err(invalid(format!(
                    "salt['{function}']: serializer `{other}` is not available (yaml, json)"
                ))),
            }
        }
        "slsutil.serialize" => {
            let a = bind(
                function,
                &[
                    "serializer",
                    "obj",
                    "default_flow_style",
                    "allow_unicode",
                    "indent",
                    "sort_keys",
                ],
                args,
            )?;
            serialize(function, &a)
        }
        "defaults.deepcopy" => {
            let a = bind(function, &["source"], args)?;
            // Maps and lists are shared mutable objects: copy every level.
            let source = a[0].clone().unwrap_or_else(|| MjValue::from(()));
            Ok(from_json(&to_json(&source)?))
        }
        "file.basename" | "file.dirname" => {
            let a = bind(function, &["path"], args)?;
            let path = string_arg(function, "path", a[0].as_ref(), "")?;
            Ok(MjValue::from(if function == "file.basename" {
                posix_basename(&path)
            } else {
                posix_dirname(&path)
            }))
        }
        "file.join" => {
            let mut out = String::new();
            for part in &args.positional {
                let part = part
                    .as_str()
                    .ok_or_else(|| invalid(format!("salt['{function}']: parts must be strings")))?;
                if part.starts_with('/') || out.is_empty() {
                    out = part.to_string();
                } else {
                    if !out.ends_with('/') {
                        out.push('/');
                    }
                    out.push_str(part);
                }
            }
            Ok(MjValue::from(out))
        }
        "log.debug" | "log.info" | "log.warning" | "log.warn" | "log.error" | "log.critical"
        | "log.exception" => {
            let a = bind(function, &["message"], args)?;
            let message = a[0].as_ref().map(|m| m.to_string()).unwrap_or_default();
            match function {
                "log.debug" => tracing::debug!("template: {message}"),
                "log.info" => tracing::info!("template: {message}"),
                "log.warning" | "log.warn" => tracing::warn!("template: {message}"),
                _ => tracing::error!("template: {message}"),
            }
            // Salt's log functions return True.
            Ok(MjValue::from(true))
        }
        other => Err(invalid(format!(
            "salt['{other}'] is not answered on the controller"
        ))),
    }
}

/// Salt's `dictupdate.update(dest, upd, recursive_update, merge_lists)`
/// (under `defaults.merge` and `slsutil.update`): `upd` merged into `dest`
/// (recursively, lists joined without repeats when `merge_lists`), into
/// `dest` itself when `in_place` (every name bound to it sees the change,
/// as in Python), else into a copy. Both must be mappings, as in Salt.
fn dict_update(
    function: &str,
    dest: &MjValue,
    upd: &MjValue,
    recursive: bool,
    merge_lists: bool,
    in_place: bool,
) -> Result<MjValue, Error> {
    if dest.kind() != ValueKind::Map || upd.kind() != ValueKind::Map {
        return Err(invalid(format!(
            "salt['{function}']: Cannot update using non-dict types in dictupdate.update()"
        )));
    }
    let mut merged = to_json(dest)?;
    let new = to_json(upd)?;
    if recursive {
        merge_values(&mut merged, new, merge_lists);
    } else if let (Value::Object(d), Value::Object(u)) = (&mut merged, new) {
        d.extend(u);
    }
    if in_place {
        // Without merge_lists that is update_in_place's own rule, keeping
        // the objects `upd` does not touch; with it, the joined lists.
        let done = if recursive && merge_lists {
            super::pyobj::update_in_place(dest, &from_json(&merged))
        } else if recursive {
            super::pyobj::update_in_place(dest, upd)
        } else {
            super::pyobj::set_items(dest, upd)
        };
        if done {
            return Ok(dest.clone());
        }
    }
    Ok(from_json(&merged))
}

/// `strategy` of `slsutil.merge`: Salt's default `smart` (for YAML data:
/// a recursive merge) and `recurse` are what halite does.
fn merge_strategy(function: &str, strategy: Option<&MjValue>) -> Result<(), Error> {
    match strategy.and_then(MjValue::as_str) {
        None | Some("smart") | Some("recurse") => Ok(()),
        Some(other) => Err(invalid(format!(
            "salt['{function}']: strategy `{other}` is not supported (smart or recurse)"
        ))),
    }
}

/// Salt's `dictupdate.update`: mappings merge recursively, `upd` wins;
/// with `merge_lists`, a list gains the items of `upd`'s it lacks.
fn merge_values(dest: &mut Value, upd: Value, merge_lists: bool) {
    match (dest, upd) {
        (Value::Object(d), Value::Object(u)) => {
            for (k, v) in u {
                match d.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        merge_values(existing, v, merge_lists)
                    }
                    Some(Value::Array(existing)) if merge_lists && v.is_array() => {
                        if let Value::Array(items) = v {
                            for item in items {
                                if !existing.contains(&item) {
                                    existing.push(item);
                                }
                            }
                        }
                    }
                    _ => {
                        d.insert(k, v);
                    }
                }
            }
        }
        (dest, upd) => *dest = upd,
    }
}

/// Python's `os.path.basename`.
fn posix_basename(path: &str) -> String {
    path.rsplit('/').next().unwrap_or_default().to_string()
}

/// Python's `os.path.dirname`: trailing slashes of the head dropped unless
/// it is all slashes.
fn posix_dirname(path: &str) -> String {
    let head = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => return String::new(),
    };
    let trimmed = head.trim_end_matches('/');
    if trimmed.is_empty() {
        head.to_string()
    } else {
        trimmed.to_string()
    }
}

/// `pillar.get`/`grains.get`: `a` is [key, default, merge, delimiter].
fn get(data: &Value, function: &str, a: &[Option<MjValue>]) -> Result<MjValue, Error> {
    let key = string_arg(function, "key", a[0].as_ref(), "")?;
    let delim = string_arg(
        function,
        "delimiter",
        a.get(3).and_then(Option::as_ref),
        ":",
    )?;
    // Salt's default for a missing key is the empty string, not None.
    let default = a[1].clone().unwrap_or_else(|| MjValue::from(""));
    let merge = a
        .get(2)
        .and_then(Option::as_ref)
        .is_some_and(MjValue::is_true);
    let found = data::traverse(data, &key, &delim);
    if merge && default.kind() == ValueKind::Map {
        // Salt: the found value is merged over a copy of the default dict.
        let mut out = to_json(&default)?;
        if let Some(v @ Value::Object(_)) = found {
            data::merge(&mut out, v.clone());
        }
        return Ok(from_json(&out));
    }
    Ok(found.map(from_json).unwrap_or(default))
}

/// Python's `str()` of a value, for `filter_by`'s fnmatch.
fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

fn fnmatch(name: &str, pattern: &str) -> bool {
    if pattern.is_empty() {
        return name.is_empty();
    }
    // The glob target matcher is exactly Python's fnmatch.
    Target::parse(TargetType::Glob, pattern, &BTreeMap::new())
        .map(|t| t.matches(&MatchCtx::new(name, &Value::Null)))
        .unwrap_or(false)
}

/// `salt.utils.data.filter_by`: the first lookup key (in the dict's order)
/// fnmatching the value (or any item of a list value) wins, else
/// `lookup_dict[default]`; `base` is merged under and `merge` over it.
fn filter_by(
    function: &str,
    data: &Value,
    key: &str,
    a: &[Option<MjValue>],
) -> Result<MjValue, Error> {
    let lookup = a[0]
        .clone()
        .filter(|v| v.kind() == ValueKind::Map)
        .ok_or_else(|| {
            invalid(format!(
                "salt['{function}']: lookup_dict must be a dictionary"
            ))
        })?;
    let default_key = string_arg(function, "default", a[3].as_ref(), "default")?;
    let value = data::traverse(data, key, ":")
        .cloned()
        .unwrap_or(Value::Array(vec![]));
    let candidates: Vec<String> = match &value {
        Value::Array(items) => items.iter().map(py_str).collect(),
        other => vec![py_str(other)],
    };
    let mut ret: Option<MjValue> = None;
    'outer: for each in &candidates {
        for k in lookup.try_iter()? {
            let pattern = k
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| k.to_string());
            if fnmatch(each, &pattern) {
                ret = Some(lookup.get_item(&k)?);
                break 'outer;
            }
        }
    }
    if ret.is_none() {
        let d = lookup.get_item(&MjValue::from(default_key))?;
        if !d.is_undefined() {
            ret = Some(d);
        }
    }
    if let Some(base) = a[4].as_ref().filter(|b| !b.is_none()) {
        let base_values = lookup.get_item(base)?;
        if !base_values.is_undefined() {
            ret = match ret {
                None => Some(base_values),
                Some(r) if base_values.kind() == ValueKind::Map => {
                    if r.kind() != ValueKind::Map {
                        return Err(invalid(format!(
                            "salt['{function}']: default and look-up values must both be dictionaries"
                        )));
                    }
                    let mut out = to_json(&base_values)?;
                    data::merge(&mut out, to_json(&r)?);
                    Some(from_json(&out))
                }
                Some(r) => Some(r),
            };
        }
    }
    // Salt checks and merges only a truthy `merge` (an empty pillar.get
    // answer, "", is skipped).
    if let Some(merge) = a[2].as_ref().filter(|m| m.is_true()) {
        if merge.kind() != ValueKind::Map {
            return Err(invalid(format!(
                "salt['{function}']: merge argument must be a dictionary"
            )));
        }
        ret = Some(match ret {
            None => merge.clone(),
            // Salt merges a copy of `merge` into the looked-up dict itself,
            // which a later lookup in the same template then sees.
            Some(r) if super::pyobj::update_in_place(&r, &from_json(&to_json(merge)?)) => r,
            Some(r) => {
                let mut out = to_json(&r)?;
                data::merge(&mut out, to_json(merge)?);
                from_json(&out)
            }
        });
    }
    Ok(ret.unwrap_or_else(|| MjValue::from(())))
}

fn remote(ctx: &Ctx, function: &str, args: CallArgs) -> Result<MjValue, Error> {
    let Some(remote) = &ctx.remote else {
        return Err(invalid(format!(
            "salt['{function}'] needs a connection to the host"
        )));
    };
    let mut call_args = Args::default();
    for v in &args.positional {
        call_args.positional.push(to_json(v)?);
    }
    for (k, v) in &args.kwargs {
        call_args.kwargs.insert(k.clone(), to_json(v)?);
    }
    remote
        .call(function, &call_args)
        .map(|v| from_json(&v))
        .map_err(|e| invalid(format!("salt['{function}'] failed: {e}")))
}

/// Salt's `cp.list_states`, `cp.list_master`, `cp.list_master_dirs`,
/// answered from the states tree (the `base` file root) on the controller:
/// every SLS name (`a/b/init.sls` is `a.b`), file or directory under it,
/// sorted, starting with `prefix`. Hidden files are left out, as Salt's
/// fileserver ignores them by default.
/// `defaults.get('NS:a:b', default)`: the value at `a:b` of the formula
/// `NS`'s `defaults.yaml` (else `defaults.json`) at the root of the states
/// tree, read as it is (Salt does not render it); without `:a:b`, the whole
/// file. No such file reads as nothing, as in Salt.
fn defaults_get(
    ctx: &Ctx,
    function: &str,
    key: &str,
    default: Option<MjValue>,
) -> Result<MjValue, Error> {
    let (namespace, key) = match key.split_once(':') {
        Some((ns, k)) => (ns, Some(k)),
        None => (key, None),
    };
    let Some(root) = ctx.opts["file_roots"]["base"][0].as_str() else {
        return Err(invalid(format!("salt['{function}']: no states tree")));
    };
    let mut defaults = Value::Null;
    for ext in ["yaml", "json"] {
        let rel = format!("{namespace}/defaults.{ext}");
        let path = match super::source::resolve_in_root(std::path::Path::new(root), &rel) {
            Ok(p) => p,
            Err(super::source::LoadError::Missing) => continue,
            Err(_) => return Err(invalid(format!("salt['{function}']: cannot read {rel}"))),
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| invalid(format!("salt['{function}']: {rel}: {e}")))?;
        defaults = to_json(&super::pyobj::parse_text(ext, &text, &rel)?)?;
        if defaults.is_null() {
            defaults = Value::Object(Default::default());
        }
        break;
    }
    let default = default.unwrap_or_else(|| MjValue::from(""));
    match key {
        None if defaults.is_null() => Ok(MjValue::from(())),
        None => Ok(from_json(&defaults)),
        Some(k) => Ok(data::traverse(&defaults, k, ":").map_or(default, from_json)),
    }
}

/// `slsutil.renderer(path='salt://F' | string=TEXT, default_renderer=PIPE,
/// **context)`: the file or text through a pipe of `jinja`, `yaml` and
/// `json` (a `#!` first line chooses its own), with the keyword arguments
/// as Jinja variables besides the usual grains, pillar, salt and opts.
fn renderer(
    ctx: &Ctx,
    state: &State<'_, '_>,
    function: &str,
    args: CallArgs,
) -> Result<MjValue, Error> {
    let mut named = Vec::new();
    let mut context = BTreeMap::new();
    for (k, v) in args.kwargs {
        match k.as_str() {
            "path" | "string" | "default_renderer" => named.push((k, v)),
            _ => {
                context.insert(k, v);
            }
        }
    }
    let a = bind(
        function,
        &["path", "string", "default_renderer"],
        CallArgs {
            positional: args.positional,
            kwargs: named,
        },
    )?;
    let given = |i: usize| a[i].as_ref().filter(|v| v.is_true());
    let (name, text) = match (given(0), given(1)) {
        (None, None) => {
            return Err(invalid(format!(
                "salt['{function}']: Must pass path or string."
            )))
        }
        (Some(_), Some(_)) => {
            return Err(invalid(format!(
                "salt['{function}']: Must not pass both path and string."
            )))
        }
        (None, Some(s)) => (":string:".to_string(), s.to_string()),
        (Some(p), None) => {
            let p = p.to_string();
            let Some(rel) = p.strip_prefix("salt://") else {
                return Err(invalid(format!(
                    "salt['{function}']: `{p}` is on the host; only salt:// paths are rendered on the controller"
                )));
            };
            let Some(root) = ctx.opts["file_roots"]["base"][0].as_str() else {
                return Err(invalid(format!("salt['{function}']: no states tree")));
            };
            let text = super::source::resolve_in_root(std::path::Path::new(root), rel)
                .ok()
                .and_then(|path| std::fs::read_to_string(path).ok())
                .ok_or_else(|| invalid(format!("salt['{function}']: cannot read {p}")))?;
            (rel.to_string(), text)
        }
    };
    let pipe = string_arg(function, "default_renderer", a[2].as_ref(), "jinja|yaml")?;
    let (pipe, text) = match text.strip_prefix("#!") {
        Some(rest) => {
            let (first, body) = rest.split_once('\n').unwrap_or((rest, ""));
            (first.trim().to_string(), format!("\n{body}"))
        }
        None => (pipe, text),
    };
    let mut out = MjValue::from(text);
    for step in pipe.split('|').map(str::trim) {
        let now = out.as_str().map(str::to_string).ok_or_else(|| {
            invalid(format!(
                "salt['{function}']: `{step}` after a data renderer in `{pipe}`"
            ))
        });
        out = match step {
            "jinja" => {
                let source = super::source::preprocess(&now?, &name);
                MjValue::from(state.env().render_named_str(&name, &source, &context)?)
            }
            "yaml" | "json" => super::pyobj::parse_text(step, &now?, function)?,
            other => {
                return Err(invalid(format!(
                    "salt['{function}']: renderer `{other}` is not available (jinja, yaml, json)"
                )))
            }
        };
    }
    Ok(out)
}

fn list_master(ctx: &Ctx, function: &str, saltenv: &str, prefix: &str) -> Result<MjValue, Error> {
    if saltenv != "base" {
        return Ok(from_json(&Value::Array(Vec::new())));
    }
    let Some(root) = ctx.opts["file_roots"]["base"][0].as_str() else {
        return Err(invalid(format!("salt['{function}']: no states tree")));
    };
    let root = std::path::Path::new(root);
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    walk(root, root, &mut files, &mut dirs)
        .map_err(|e| invalid(format!("salt['{function}']: {}: {e}", root.display())))?;
    let mut out: Vec<String> = match function {
        "cp.list_master_dirs" => dirs,
        "cp.list_master" => files,
        _ => files
            .iter()
            .filter_map(|f| f.strip_suffix(".sls"))
            .map(|f| f.strip_suffix("/init").unwrap_or(f).replace('/', "."))
            .collect(),
    };
    out.retain(|p| p.starts_with(prefix));
    out.sort();
    out.dedup();
    Ok(from_json(&Value::from(out)))
}

fn walk(
    root: &std::path::Path,
    dir: &std::path::Path,
    files: &mut Vec<String>,
    dirs: &mut Vec<String>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        if entry.file_type()?.is_dir() {
            dirs.push(rel);
            walk(root, &path, files, dirs)?;
        } else {
            files.push(rel);
        }
    }
    Ok(())
}

/// Salt's `slsutil.serialize(serializer, obj, **options)` for the `yaml`
/// and `json` serializers: PyYAML's text through libyaml
/// ([`crate::yaml::emit`]: `default_flow_style`, `allow_unicode`, `indent`,
/// `sort_keys` as Salt passes them on); `json.dumps` (keys in order unless
/// `sort_keys`, ASCII-escaped).
fn serialize(function: &str, a: &[Option<MjValue>]) -> Result<MjValue, Error> {
    let kind = string_arg(function, "serializer", a[0].as_ref(), "")?;
    let obj = to_json(a[1].as_ref().unwrap_or(&MjValue::from(())))?;
    let flag = |i: usize| a[i].as_ref().filter(|v| !v.is_none()).map(MjValue::is_true);
    match kind.as_str() {
        "yaml" => {
            let flow = match flag(2) {
                Some(true) => Flow::Always,
                Some(false) => Flow::Never,
                None => Flow::Leaves,
            };
            let indent = match &a[4] {
                Some(v) if !v.is_none() => usize::try_from(v.clone())
                    .map_err(|_| invalid(format!("salt['{function}']: indent must be a number")))?,
                _ => 2,
            };
            let options = emit::Options {
                indent,
                sort_keys: flag(5).unwrap_or(true),
                ..emit::Options::new(flow).unicode(flag(3).unwrap_or(false))
            };
            // Salt's serializer drops the final line break.
            let text = emit::dump(&obj, options);
            Ok(MjValue::from(text.strip_suffix('\n').unwrap_or(&text)))
        }
        "json" => {
            let indent = match &a[4] {
                Some(v) if !v.is_none() => Some(usize::try_from(v.clone()).map_err(|_| {
                    invalid(format!("salt['{function}']: indent must be a number"))
                })?),
                _ => None,
            };
            Ok(MjValue::from(super::dump::json_dumps(
                &obj,
                flag(5).unwrap_or(false),
                indent,
                true,
            )))
        }
        other => Err(invalid(format!(
            "salt['{function}']: serializer `{other}` is not available (yaml, json)"
        ))),
    }
}

/// Python's `datetime.today().strftime(format)`, in the controller's local
/// time. A directive chrono does not know is an error, not other text.
fn strftime(function: &str, format: &str) -> Result<MjValue, Error> {
    use std::fmt::Write;
    let items: Vec<chrono::format::Item> = chrono::format::StrftimeItems::new(format).collect();
    if items
        .iter()
        .any(|i| matches!(i, chrono::format::Item::Error))
    {
        return Err(invalid(format!(
            "salt['{function}']: bad format `{format}`"
        )));
    }
    let mut out = String::new();
    write!(
        out,
        "{}",
        chrono::Local::now().format_with_items(items.into_iter())
    )
    .map_err(|_| invalid(format!("salt['{function}']: bad format `{format}`")))?;
    Ok(MjValue::from(out))
}

/// Salt's `config.option(value, default, omit_*...)`: the top-level key
/// (no traversal) in the minion options, grains, pillar, then the pillar's
/// `master` mapping, the first that has it. Salt's own table of built-in
/// defaults is not reproduced: a key found nowhere with no `default` given
/// is an error naming it, not a guessed value. `wildcard` is refused.
fn config_option(ctx: &Ctx, function: &str, a: &[Option<MjValue>]) -> Result<MjValue, Error> {
    let key = string_arg(function, "value", a[0].as_ref(), "")?;
    let on = |i: usize| a[i].as_ref().is_some_and(MjValue::is_true);
    if on(7) {
        return Err(invalid(format!(
            "salt['{function}']: wildcard=True is not supported"
        )));
    }
    let all = on(6);
    let master = ctx.pillar.get("master").cloned().unwrap_or(Value::Null);
    let sources = [
        (on(2) || all, &ctx.opts),
        (on(3) || all, &*ctx.grains),
        (on(4) || all, &*ctx.pillar),
        (on(5) || all, &master),
    ];
    for (omit, source) in sources {
        if let Some(v) = source.get(&key).filter(|_| !omit) {
            return Ok(from_json(v));
        }
    }
    match a[1].as_ref().filter(|d| !d.is_none()) {
        Some(d) => Ok(d.clone()),
        None => Err(invalid(format!(
            "salt['{function}']: `{key}` is in none of opts, grains, pillar and pillar's master; \
             Salt's built-in defaults are not given: pass a default"
        ))),
    }
}
