//! Highstate assembly: SLS files, their `include`, `exclude` and `extend`,
//! merged into one list of ID declarations (Salt's "high data").
//!
//! Salt keeps high data as nested dicts and checks its shape late
//! (`verify_high`); here each ID declaration is parsed into a small typed
//! form as soon as it is loaded, so shape errors name the file they are in.
//! Declarations are kept in the order the state auto-order needs: an SLS's
//! includes (depth first, in list order) before its own IDs, as Salt's
//! `render_state` numbers them.

use std::collections::{HashMap, HashSet};

use crate::Value;

use super::{CompileError, Loader, SlsSource};

/// One `module.function` block of an ID declaration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StateDecl {
    pub module: String,
    /// None only inside `extend:`, which may add arguments without naming
    /// the function again.
    pub function: Option<String>,
    /// Arguments in written order; keys are unique.
    pub args: Vec<(String, Value)>,
}

/// An ID declaration with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IdDecl {
    pub id: String,
    pub sls: String,
    pub file: String,
    pub states: Vec<StateDecl>,
}

/// The merged state tree.
#[derive(Debug, Clone, Default)]
pub(crate) struct High {
    pub decls: Vec<IdDecl>,
    /// SLS name -> the SLS names it includes directly.
    pub includes: HashMap<String, Vec<String>>,
    /// SLS name -> the SLS whose include loaded it first (none for the
    /// SLS files named to compile): the tree of first loads.
    pub first_includer: HashMap<String, String>,
}

impl High {
    /// `sls` and the SLS files first loaded through it, at any depth: what
    /// an `- sls: name` requisite covers. This is Salt's
    /// `__sls_included_from__`: a state records the SLS files along the
    /// include path that loaded its file first, so an SLS already loaded
    /// through another path is not covered, even if `sls` includes it too.
    pub fn sls_closure(&self, sls: &str) -> HashSet<String> {
        let mut out = HashSet::from([sls.to_string()]);
        for name in self.includes.keys() {
            let mut at = name;
            // Each SLS's includer was loaded before it: the walk ends.
            while let Some(parent) = self.first_includer.get(at) {
                if parent == sls {
                    out.insert(name.clone());
                    break;
                }
                at = parent;
            }
        }
        out
    }
}

/// Where an `extend:` or `exclude:` was written.
#[derive(Debug, Clone)]
struct Origin {
    sls: String,
    file: String,
}

enum Exclude {
    Sls(String),
    Id(String),
}

struct Assembler<'l, 'a> {
    loader: &'l mut Loader<'a>,
    loaded: HashSet<String>,
    high: High,
    index: HashMap<String, usize>,
    extends: Vec<(Origin, String, Vec<StateDecl>)>,
    excludes: Vec<(Origin, Exclude)>,
}

/// Loads `sls_names` and all they include, then applies every `extend`
/// and `exclude` (in that order, as Salt's `call_high` does).
pub(crate) fn assemble(
    sls_names: &[String],
    loader: &mut Loader<'_>,
) -> Result<High, CompileError> {
    let mut asm = Assembler {
        loader,
        loaded: HashSet::new(),
        high: High::default(),
        index: HashMap::new(),
        extends: Vec::new(),
        excludes: Vec::new(),
    };
    for name in sls_names {
        asm.visit(name, None)?;
    }
    asm.apply_extends()?;
    asm.apply_excludes()?;
    Ok(asm.high)
}

impl Assembler<'_, '_> {
    fn visit(&mut self, sls: &str, includer: Option<&str>) -> Result<(), CompileError> {
        // Marked before the includes are followed, so include loops end.
        if !self.loaded.insert(sls.to_string()) {
            return Ok(());
        }
        if let Some(by) = includer {
            self.high
                .first_includer
                .insert(sls.to_string(), by.to_string());
        }
        let SlsSource { file, data } = (self.loader)(sls)?;
        let err = |message: String| CompileError::Sls {
            sls: sls.to_string(),
            file: file.clone(),
            message,
        };
        let map = match data {
            Value::Null => serde_json::Map::new(),
            Value::Object(map) => map,
            other => {
                return Err(err(format!(
                    "does not render to a mapping of IDs (got {})",
                    type_name(&other)
                )))
            }
        };
        let origin = Origin {
            sls: sls.to_string(),
            file: file.clone(),
        };
        let mut includes = Vec::new();
        let mut own = Vec::new();
        for (key, value) in map {
            match key.as_str() {
                "include" => includes = parse_includes(&value, sls, &file).map_err(err)?,
                "exclude" => self.parse_excludes(&value, &origin).map_err(err)?,
                "extend" => {
                    let Value::Object(ext) = value else {
                        return Err(err("`extend` must be a mapping of IDs".to_string()));
                    };
                    for (id, body) in ext {
                        let states =
                            parse_body(&body, true).map_err(|message| CompileError::Invalid {
                                sls: sls.to_string(),
                                file: file.clone(),
                                id: id.clone(),
                                message: format!("in extend: {message}"),
                            })?;
                        self.extends.push((origin.clone(), id, states));
                    }
                }
                _ => {
                    let states =
                        parse_body(&value, false).map_err(|message| CompileError::Invalid {
                            sls: sls.to_string(),
                            file: file.clone(),
                            id: key.clone(),
                            message,
                        })?;
                    own.push(IdDecl {
                        id: key,
                        sls: sls.to_string(),
                        file: file.clone(),
                        states,
                    });
                }
            }
        }
        self.high.includes.insert(sls.to_string(), includes.clone());
        for include in &includes {
            self.visit(include, Some(sls))?;
        }
        for decl in own {
            self.insert(decl)?;
        }
        Ok(())
    }

    fn insert(&mut self, decl: IdDecl) -> Result<(), CompileError> {
        if let Some(&at) = self.index.get(&decl.id) {
            let first = &self.high.decls[at];
            return Err(CompileError::ConflictingId {
                id: decl.id,
                first_sls: first.sls.clone(),
                first_file: first.file.clone(),
                second_sls: decl.sls,
                second_file: decl.file,
            });
        }
        self.index.insert(decl.id.clone(), self.high.decls.len());
        self.high.decls.push(decl);
        Ok(())
    }

    fn parse_excludes(&mut self, value: &Value, origin: &Origin) -> Result<(), String> {
        let Value::Array(items) = value else {
            return Err("`exclude` must be a list".to_string());
        };
        for item in items {
            let exclude = match item {
                // A bare string is an SLS, as in Salt's `apply_exclude`.
                Value::String(sls) => Exclude::Sls(sls.clone()),
                Value::Object(map) if map.len() == 1 => match map.iter().next() {
                    Some((k, Value::String(v))) if k == "sls" => Exclude::Sls(v.clone()),
                    Some((k, Value::String(v))) if k == "id" => Exclude::Id(v.clone()),
                    _ => {
                        return Err(format!(
                            "invalid exclude {item}: use `- sls: name` or `- id: name`"
                        ))
                    }
                },
                _ => {
                    return Err(format!(
                        "invalid exclude {item}: use `- sls: name` or `- id: name`"
                    ))
                }
            };
            self.excludes.push((origin.clone(), exclude));
        }
        Ok(())
    }

    fn apply_extends(&mut self) -> Result<(), CompileError> {
        for (origin, target, states) in std::mem::take(&mut self.extends) {
            let missing = || CompileError::ExtendMissing {
                sls: origin.sls.clone(),
                file: origin.file.clone(),
                id: target.clone(),
            };
            let at = match self.index.get(&target) {
                Some(&at) => at,
                // Salt's `find_name`: a state whose `name` is the target,
                // with the module being extended; it must be unambiguous.
                None => {
                    let module = states.first().map(|s| s.module.as_str()).unwrap_or("");
                    let found: Vec<usize> = self
                        .high
                        .decls
                        .iter()
                        .enumerate()
                        .filter(|(_, d)| {
                            d.states.iter().any(|s| {
                                s.module == module
                                    && s.args.iter().any(|(k, v)| {
                                        k == "name" && v.as_str() == Some(target.as_str())
                                    })
                            })
                        })
                        .map(|(i, _)| i)
                        .collect();
                    match found.as_slice() {
                        [one] => *one,
                        _ => return Err(missing()),
                    }
                }
            };
            let decl = &mut self.high.decls[at];
            for ext in states {
                match decl.states.iter_mut().find(|s| s.module == ext.module) {
                    None => decl.states.push(ext),
                    Some(existing) => merge_state(existing, ext),
                }
            }
        }
        Ok(())
    }

    fn apply_excludes(&mut self) -> Result<(), CompileError> {
        let mut sls_patterns = Vec::new();
        let mut ids = HashSet::new();
        for (origin, exclude) in &self.excludes {
            match exclude {
                Exclude::Id(id) => {
                    ids.insert(id.clone());
                }
                Exclude::Sls(pattern) => {
                    // Salt matches with fnmatch, as everywhere.
                    let glob = crate::target::fnmatch(pattern).map_err(|e| CompileError::Sls {
                        sls: origin.sls.clone(),
                        file: origin.file.clone(),
                        message: format!("invalid exclude pattern `{pattern}`: {e}"),
                    })?;
                    sls_patterns.push(glob);
                }
            }
        }
        self.high
            .decls
            .retain(|d| !ids.contains(&d.id) && !sls_patterns.iter().any(|p| p.is_match(&d.sls)));
        Ok(())
    }
}

/// Salt's `reconcile_extend`: a function replaces the function, requisites
/// are appended to the existing list, other arguments replace the existing
/// one in place (`name` also replaces `names`), new ones are appended.
///
/// Salt appends only the direct requisites (`STATE_REQUISITE_KEYWORDS`) and
/// lets an extended `require_in` replace the original; halite appends the
/// `_in` forms too, since replacing them silently drops dependencies.
fn merge_state(existing: &mut StateDecl, ext: StateDecl) {
    if ext.function.is_some() {
        existing.function = ext.function;
    }
    for (key, value) in ext.args {
        let is_requisite = super::Kind::ALL
            .iter()
            .any(|k| k.name() == key || k.in_name() == Some(key.as_str()));
        if key == "name" {
            existing.args.retain(|(k, _)| k != "names");
        }
        match existing.args.iter_mut().find(|(k, _)| *k == key) {
            Some((_, Value::Array(old))) if is_requisite => match value {
                Value::Array(new) => old.extend(new),
                other => old.push(other),
            },
            Some((_, old)) => *old = value,
            None => existing.args.push((key, value)),
        }
    }
}

/// `include:` entries: names, `{env: name}` (the env is ignored: halite has
/// one environment), and relative `.name` / `..name`.
fn parse_includes(value: &Value, sls: &str, file: &str) -> Result<Vec<String>, String> {
    let Value::Array(items) = value else {
        return Err("`include` must be a list of SLS names".to_string());
    };
    let mut out = Vec::new();
    for item in items {
        let name = match item {
            Value::String(name) => name.as_str(),
            Value::Object(map) if map.len() == 1 => match map.values().next() {
                Some(Value::String(name)) => name.as_str(),
                _ => return Err(format!("invalid include {item}")),
            },
            _ => return Err(format!("invalid include {item}")),
        };
        let resolved = resolve_relative(name, sls, file)?;
        if !out.contains(&resolved) {
            out.push(resolved);
        }
    }
    Ok(out)
}

/// Salt's relative include: each leading dot climbs one package level from
/// the including SLS, where an `init.sls` counts as a level of its own.
fn resolve_relative(name: &str, sls: &str, file: &str) -> Result<String, String> {
    let rest = name.trim_start_matches('.');
    let levels = name.len() - rest.len();
    if levels == 0 {
        return Ok(name.to_string());
    }
    if rest.is_empty() {
        return Err(format!("invalid relative include `{name}`"));
    }
    let mut comps: Vec<&str> = sls.split('.').collect();
    if file.ends_with("/init.sls") || file == "init.sls" {
        comps.push("init");
    }
    if levels > comps.len() {
        return Err(format!(
            "relative include `{name}` goes above the top of the state tree"
        ));
    }
    comps.truncate(comps.len() - levels);
    comps.push(rest);
    Ok(comps.join("."))
}

/// Parses an ID declaration's body into its state blocks. The forms are
/// Salt's: `id: pkg.installed`, `{pkg.installed: [args]}`,
/// `{pkg: [installed, args]}`, with `[]` or null for no arguments (Salt
/// rejects null, "a short declaration with a trailing colon"; halite
/// accepts it: it cannot mean anything else).
fn parse_body(body: &Value, in_extend: bool) -> Result<Vec<StateDecl>, String> {
    let map = match body {
        Value::String(short) => {
            let Some((module, function)) = short.split_once('.') else {
                return Err(format!(
                    "`{short}` is not a state declaration; expected `module.function` or a mapping"
                ));
            };
            return Ok(vec![StateDecl {
                module: module.to_string(),
                function: Some(function.to_string()),
                args: Vec::new(),
            }]);
        }
        Value::Object(map) => map,
        other => {
            return Err(format!(
                "must be a mapping of state declarations, not {}",
                type_name(other)
            ))
        }
    };
    if map.is_empty() {
        return Err("declares no state".to_string());
    }
    let mut states: Vec<StateDecl> = Vec::new();
    for (key, value) in map {
        let (module, mut function) = match key.split_once('.') {
            Some((m, f)) => (m.to_string(), Some(f.to_string())),
            None => (key.clone(), None),
        };
        if module.is_empty() || function.as_deref() == Some("") {
            return Err(format!("invalid state declaration `{key}`"));
        }
        let items: &[Value] = match value {
            Value::Null => &[],
            Value::Array(items) => items,
            other => {
                return Err(format!(
                    "`{key}` must be a list of arguments, not {}",
                    type_name(other)
                ))
            }
        };
        let mut functions: Vec<String> = function.iter().cloned().collect();
        let mut args: Vec<(String, Value)> = Vec::new();
        for item in items {
            match item {
                Value::String(f) => {
                    if f.trim().contains(' ') {
                        return Err(format!(
                            "function `{f}` of `{key}` contains whitespace; is an argument missing a `:`?"
                        ));
                    }
                    functions.push(f.clone());
                }
                // Usually one `key: value` per item; an item holding more
                // (a mis-indented `- context:` followed by its keys) gives
                // each of them, in order, as Salt does. Given twice: the
                // last value wins, in the first one's place, as in Salt (a
                // list of arguments is not a mapping; both checked with
                // `salt-call state.show_low_sls`).
                Value::Object(arg) => {
                    for (k, v) in arg {
                        match args.iter_mut().find(|(seen, _)| seen == k) {
                            Some(slot) => slot.1 = v.clone(),
                            None => args.push((k.clone(), v.clone())),
                        }
                    }
                }
                other => {
                    return Err(format!(
                        "invalid item {other} in `{key}`: expected a function name or `key: value`"
                    ))
                }
            }
        }
        match functions.len() {
            0 if in_extend => function = None,
            0 => return Err(format!("no function declared for state module `{module}`")),
            1 => function = functions.pop(),
            _ => {
                return Err(format!(
                    "too many functions declared for `{module}`; choose one of: {}",
                    functions.join(", ")
                ))
            }
        }
        if let Some(other) = states.iter().find(|s| s.module == module) {
            return Err(format!(
                "two states of module `{module}` in one ID ({} and {}); an ID can have only one \
                 function per state module, use another ID",
                dotted(&other.module, other.function.as_deref()),
                dotted(&module, function.as_deref())
            ));
        }
        states.push(StateDecl {
            module,
            function,
            args,
        });
    }
    Ok(states)
}

fn dotted(module: &str, function: Option<&str>) -> String {
    match function {
        Some(f) => format!("{module}.{f}"),
        None => module.to_string(),
    }
}

pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::resolve_relative;

    #[test]
    fn relative_includes_climb_per_dot() {
        assert_eq!(
            resolve_relative(".conf", "apache", "apache/init.sls").unwrap(),
            "apache.conf"
        );
        assert_eq!(
            resolve_relative(".conf", "apache.server", "apache/server.sls").unwrap(),
            "apache.conf"
        );
        assert_eq!(
            resolve_relative("..http", "example.dev.virtual", "example/dev/virtual.sls").unwrap(),
            "example.http"
        );
        assert_eq!(
            resolve_relative("...base", "example.dev.virtual", "example/dev/virtual.sls").unwrap(),
            "base"
        );
        assert_eq!(
            resolve_relative("plain.name", "x", "x.sls").unwrap(),
            "plain.name"
        );
        assert!(resolve_relative("..up", "top", "top.sls").is_err());
    }
}
