//! ID declarations into chunks: one chunk per state function and name,
//! with the function and its arguments checked against the registry and the
//! global arguments typed.
//!
//! Salt's `compile_high_data` passes any argument through and lets the state
//! function fail at run time (after earlier states already changed the
//! host); halite rejects unknown modules, functions and arguments here.

use crate::Value;

use super::highstate::{type_name, High, IdDecl, StateDecl};
use super::{Chunk, CompileError, Kind, LookupError, Order, Retry, StateRegistry};

/// One `names:` entry: the name and its own argument overrides.
type NameEntry = (String, Vec<(String, Value)>);

/// What a requisite reference points at.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    /// `- id` or `- id: x`: any state whose ID or name matches.
    Id(String),
    /// `- pkg: x`: a state of that module whose ID or name matches.
    Module(String, String),
    /// `- sls: x`: every state of that SLS and what it includes.
    Sls(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Id(id) => write!(f, "{id}"),
            Target::Module(m, v) => write!(f, "{m}: {v}"),
            Target::Sls(s) => write!(f, "sls: {s}"),
        }
    }
}

/// A requisite as written, before resolution.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawReq {
    pub kind: Kind,
    /// Written as the `_in` form: the requisite belongs to the target.
    pub inverted: bool,
    pub target: Target,
}

/// Chunks in definition order, each with its unresolved requisites.
pub(crate) fn chunks(
    high: &High,
    registry: &dyn StateRegistry,
) -> Result<Vec<(Chunk, Vec<RawReq>)>, CompileError> {
    let mut out = Vec::new();
    for decl in &high.decls {
        for state in &decl.states {
            expand(decl, state, registry, &mut out)?;
        }
    }
    Ok(out)
}

fn expand(
    decl: &IdDecl,
    state: &StateDecl,
    registry: &dyn StateRegistry,
    out: &mut Vec<(Chunk, Vec<RawReq>)>,
) -> Result<(), CompileError> {
    let invalid = |message: String| CompileError::Invalid {
        sls: decl.sls.clone(),
        file: decl.file.clone(),
        id: decl.id.clone(),
        message,
    };
    let module = &state.module;
    let Some(function) = &state.function else {
        return Err(invalid(format!(
            "no function declared for state module `{module}`"
        )));
    };
    let spec = registry.lookup(module, function).map_err(|e| match e {
        LookupError::UnknownModule { modules } => CompileError::UnknownModule {
            sls: decl.sls.clone(),
            file: decl.file.clone(),
            id: decl.id.clone(),
            module: module.clone(),
            choices: modules,
        },
        LookupError::UnknownFunction { functions } => CompileError::UnknownFunction {
            sls: decl.sls.clone(),
            file: decl.file.clone(),
            id: decl.id.clone(),
            module: module.clone(),
            function: function.clone(),
            choices: functions,
        },
    })?;

    let mut base: Vec<(String, Value)> = Vec::new();
    let mut names: Option<Vec<NameEntry>> = None;
    for (key, value) in &state.args {
        if key == "names" {
            names = Some(parse_names(value).map_err(invalid)?);
        } else {
            base.push((key.clone(), value.clone()));
        }
    }
    let entries = match names {
        // `name` would be overwritten by every entry of `names`.
        Some(names) => names
            .into_iter()
            .map(|(name, overrides)| {
                let mut args: Vec<(String, Value)> =
                    base.iter().filter(|(k, _)| k != "name").cloned().collect();
                for (k, v) in overrides {
                    match args.iter_mut().find(|(seen, _)| *seen == k) {
                        Some((_, old)) => *old = v,
                        None => args.push((k, v)),
                    }
                }
                args.push(("name".to_string(), Value::String(name)));
                args
            })
            .collect(),
        None => vec![base],
    };

    for args in entries {
        let has = |k: &str| args.iter().any(|(seen, _)| seen == k);
        let templated = has("source") && has("template");
        let mut chunk = Chunk {
            sls: decl.sls.clone(),
            file: decl.file.clone(),
            ..Chunk::standalone(module, function, &decl.id, Value::Null)
        };
        let mut reqs = Vec::new();
        for (key, value) in args {
            if let Some((kind, inverted)) = requisite_kind(&key) {
                for target in parse_targets(&key, &value).map_err(invalid)? {
                    reqs.push(RawReq {
                        kind,
                        inverted,
                        target,
                    });
                }
                continue;
            }
            let g = &mut chunk.globals;
            match key.as_str() {
                "name" => {
                    chunk.name = scalar_string(&value).ok_or_else(|| {
                        invalid(format!(
                            "`name` must be a string, not {}",
                            type_name(&value)
                        ))
                    })?
                }
                "order" => chunk.order = parse_order(&value).map_err(invalid)?,
                "unless" => g.unless = one_or_many(&value),
                "onlyif" => g.onlyif = one_or_many(&value),
                "creates" => g.creates = strings(&key, &value).map_err(invalid)?,
                "check_cmd" => g.check_cmd = strings(&key, &value).map_err(invalid)?,
                "failhard" => {
                    g.failhard = Some(value.as_bool().ok_or_else(|| {
                        invalid(format!("`failhard` must be true or false, not {value}"))
                    })?)
                }
                "runas" => {
                    g.runas = Some(scalar_string(&value).ok_or_else(|| {
                        invalid(format!("`runas` must be a user name, not {value}"))
                    })?)
                }
                "retry" => g.retry = parse_retry(&value).map_err(invalid)?,
                "reload_modules" => {
                    g.reload_modules = Some(value.as_bool().ok_or_else(|| {
                        invalid(format!(
                            "`reload_modules` must be true or false, not {value}"
                        ))
                    })?)
                }
                _ if spec.accepts(&key, templated) => {
                    chunk.args.insert(key, value);
                }
                _ => {
                    return Err(CompileError::UnknownArgument {
                        sls: decl.sls.clone(),
                        file: decl.file.clone(),
                        id: decl.id.clone(),
                        module: module.clone(),
                        function: function.clone(),
                        argument: key,
                        choices: spec.args.clone(),
                    })
                }
            }
        }
        out.push((chunk, reqs));
    }
    Ok(())
}

/// `require` -> (Require, false), `watch_in` -> (Watch, true).
fn requisite_kind(key: &str) -> Option<(Kind, bool)> {
    Kind::ALL.iter().find_map(|&kind| {
        if kind.name() == key {
            Some((kind, false))
        } else if kind.in_name() == Some(key) {
            Some((kind, true))
        } else {
            None
        }
    })
}

/// A requisite's list. Items are `- module: target`, `- sls: name`,
/// `- id: target` or a bare `- target` (any module, Salt 2016.3+). Anything
/// but a list (nothing, a name, a mapping) is Salt's error "needs to be
/// formed as a list" (checked with `salt-call state.show_low_sls`).
fn parse_targets(key: &str, value: &Value) -> Result<Vec<Target>, String> {
    let items: Vec<Value> = match value {
        Value::Array(items) => items.clone(),
        other => {
            return Err(format!(
                "the {key} statement needs to be formed as a list, not {}",
                type_name(other)
            ))
        }
    };
    let mut out = Vec::new();
    for item in items {
        let target = match &item {
            Value::String(id) => Target::Id(id.clone()),
            Value::Object(map) if map.len() == 1 => {
                let (module, target) = map.iter().next().expect("one entry");
                // Salt skips a requisite whose target is null.
                if target.is_null() {
                    continue;
                }
                let Some(target) = scalar_string(target) else {
                    return Err(format!(
                        "`{key}` entry `{module}` must name a state with a string, not {}",
                        type_name(target)
                    ));
                };
                if let Some((m, _)) = module.split_once('.') {
                    return Err(format!(
                        "invalid requisite type `{module}` in `{key}`: requisite types must not \
                         contain dots; did you mean `{m}`?"
                    ));
                }
                match module.as_str() {
                    "sls" => Target::Sls(target),
                    "id" => Target::Id(target),
                    _ => Target::Module(module.clone(), target),
                }
            }
            other => {
                return Err(format!(
                    "invalid `{key}` entry {other}: expected `- module: id_or_name`, `- sls: name` or `- id`"
                ))
            }
        };
        out.push(target);
    }
    Ok(out)
}

/// `names:` items: a name, or `{name: [{arg: value}, ...]}` with arguments
/// for that name only (Salt also takes a mapping there; so do we).
fn parse_names(value: &Value) -> Result<Vec<NameEntry>, String> {
    let Value::Array(items) = value else {
        return Err(format!("`names` must be a list, not {}", type_name(value)));
    };
    let mut out: Vec<NameEntry> = Vec::new();
    for item in items {
        let entry = match item {
            Value::Object(map) if map.len() == 1 => {
                let (name, overrides) = map.iter().next().expect("one entry");
                let overrides = match overrides {
                    Value::Null => Vec::new(),
                    Value::Object(args) => {
                        args.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
                    }
                    Value::Array(args) => {
                        let mut list = Vec::new();
                        for arg in args {
                            match arg {
                                Value::Object(one) if one.len() == 1 => {
                                    let (k, v) = one.iter().next().expect("one entry");
                                    list.push((k.clone(), v.clone()));
                                }
                                other => {
                                    return Err(format!(
                                        "arguments of name `{name}` in `names` must be `- key: value` items, not {other}"
                                    ))
                                }
                            }
                        }
                        list
                    }
                    other => {
                        return Err(format!(
                            "arguments of name `{name}` in `names` must be a list, not {}",
                            type_name(other)
                        ))
                    }
                };
                if overrides.iter().any(|(k, _)| k == "name" || k == "names") {
                    return Err(format!(
                        "name `{name}` in `names` cannot set `name` or `names`"
                    ));
                }
                (name.clone(), overrides)
            }
            other => match scalar_string(other) {
                Some(name) => (name, Vec::new()),
                None => return Err(format!("invalid item {other} in `names`")),
            },
        };
        // Salt drops repeated names.
        if !out.iter().any(|(n, _)| *n == entry.0) {
            out.push(entry);
        }
    }
    Ok(out)
}

fn parse_order(value: &Value) -> Result<Order, String> {
    match value {
        Value::String(s) if s == "first" => Ok(Order::Number(0)),
        Value::String(s) if s == "last" => Ok(Order::Last),
        Value::Number(n) => match n.as_i64() {
            Some(n) if n >= 0 => Ok(Order::Number(n)),
            Some(n) => Ok(Order::FromEnd(n)),
            None => Err(format!(
                "`order` must be an integer, `first` or `last`, not {n}"
            )),
        },
        other => Err(format!(
            "`order` must be an integer, `first` or `last`, not {other}"
        )),
    }
}

/// Salt's `retry`: `true` for the defaults, or a mapping overriding them.
fn parse_retry(value: &Value) -> Result<Option<Retry>, String> {
    let mut retry = Retry {
        attempts: 2,
        until: true,
        interval: 30,
        splay: 0,
    };
    match value {
        Value::Bool(false) | Value::Null => return Ok(None),
        Value::Bool(true) => {}
        Value::Object(map) => {
            for (k, v) in map {
                let number = || {
                    v.as_u64().ok_or_else(|| {
                        format!("`retry: {k}` must be a non-negative integer, not {v}")
                    })
                };
                match k.as_str() {
                    "attempts" => retry.attempts = number()?,
                    "interval" => retry.interval = number()?,
                    "splay" => retry.splay = number()?,
                    "until" => {
                        retry.until = v.as_bool().ok_or_else(|| {
                            format!("`retry: until` must be true or false, not {v}")
                        })?
                    }
                    other => {
                        return Err(format!(
                        "unknown `retry` option `{other}`; valid: attempts, until, interval, splay"
                    ))
                    }
                }
            }
        }
        other => return Err(format!("`retry` must be true or a mapping, not {other}")),
    }
    Ok(Some(retry))
}

fn one_or_many(value: &Value) -> Vec<Value> {
    match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

fn strings(key: &str, value: &Value) -> Result<Vec<String>, String> {
    one_or_many(value)
        .iter()
        .map(|v| {
            scalar_string(v)
                .ok_or_else(|| format!("`{key}` must be a string or a list of strings, not {v}"))
        })
        .collect()
}

/// YAML turns `name: 8080` into a number; Salt would use it as text.
fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
