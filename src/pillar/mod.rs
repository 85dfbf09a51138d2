//! Pillar: per-host data compiled on the controller from `pillar/top.sls`
//! and the SLS files it assigns, following Salt (`salt/pillar/__init__.py`).
//!
//! A host only ever receives its own pillar: [`compile`] takes one host
//! (id and grains) and renders only the files its top entries select, with
//! a context holding nothing about other hosts, so secrets assigned to one
//! host never reach another host's templates or connection.
//!
//! Semantics:
//! - `top.sls` is rendered (Jinja+YAML) with the host's grains and an empty
//!   `pillar`; only the `base` environment is read. Entries are taken in
//!   file order; a list item `{match: TYPE}` picks the matcher (default glob).
//! - Each selected SLS (`a.b` → `a/b.sls`, else `a/b/init.sls`) is rendered
//!   with `pillar` = the command-line override (Salt makes the override
//!   visible to pillar rendering; other SLS files' data is not).
//! - Results are merged in order with Salt's default strategy (`smart`,
//!   i.e. recursive for YAML, `pillar_merge_lists: False`): mappings merge
//!   key by key, anything else (lists included) is replaced by the later one.
//! - `include:` in a pillar SLS renders the included files first, then the
//!   including file's own data is merged over them
//!   (`pillar_includes_override_sls: False`); `- name: {defaults: {...},
//!   key: a:b}` form supported; each SLS renders at most once per host.
//! - The override (`pillar='{...}'`) is merged last.
//! - An SLS whose shebang ends in `|gpg` or `|age` has its encrypted values
//!   decrypted after parsing, before merging ([`crate::secrets`]); a value
//!   that cannot be decrypted fails the whole pillar, so the host fails.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use crate::data::merge;
use crate::inventory::Group;
use crate::render::{Extra, OrderedMap, RenderError, Renderer};
use crate::secrets::Secrets;
use crate::target::{MatchCtx, Target, TargetType};
use crate::Value;

#[derive(Debug, thiserror::Error)]
pub enum PillarError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("top.sls: {0}")]
    Top(String),
    #[error("{file}: SLS `{sls}` not found in the pillar root (looked for {sls_path}.sls and {sls_path}/init.sls)", sls_path = sls.replace('.', "/"))]
    MissingSls { file: String, sls: String },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

impl PillarError {
    /// A pillar file repeats a key within one mapping.
    pub fn is_duplicate_key(&self) -> bool {
        matches!(self, PillarError::Render(e) if e.is_duplicate_key())
    }
}

/// Compile the pillar of one host from the `pillar/` tree at `root`.
/// `groups` are the inventory's nodegroups (for `match: nodegroup` and
/// `N@` in compound entries); `secrets`, the keys of the `gpg` and `age`
/// renderers (values are decrypted here, in memory). No `top.sls` means an
/// empty pillar (plus the override).
pub fn compile(
    root: &Path,
    host_id: &str,
    grains: &Value,
    groups: &BTreeMap<String, Group>,
    overrides: Option<Value>,
    secrets: &Arc<Secrets>,
) -> Result<Value, PillarError> {
    let mut pillar = Value::Object(Default::default());
    if root.join("top.sls").is_file() {
        let top_renderer = Renderer::new(
            root,
            host_id,
            grains.clone(),
            Value::Object(Default::default()),
        )
        .with_secrets(secrets.clone());
        // Ordered: later targets override earlier ones, so file order matters.
        let top: OrderedMap<OrderedMap<Value>> =
            top_renderer.render_file_as("top.sls", None, &Extra::default())?;
        let sls_names = select(top, host_id, grains, groups)?;
        let context_pillar = overrides
            .clone()
            .unwrap_or_else(|| Value::Object(Default::default()));
        let renderer = Renderer::new(root, host_id, grains.clone(), context_pillar)
            .with_secrets(secrets.clone());
        let mut done = HashSet::new();
        for (sls, ignore_missing) in sls_names {
            match render_sls(&renderer, &sls, &Extra::default(), &mut done, "top.sls") {
                Err(PillarError::MissingSls { .. }) if ignore_missing => {}
                Err(e) => return Err(e),
                Ok(data) => merge(&mut pillar, data),
            }
        }
    }
    if let Some(o) = overrides {
        if !o.is_object() {
            return Err(PillarError::Invalid {
                file: "pillar override".into(),
                message: "must be a mapping".into(),
            });
        }
        merge(&mut pillar, o);
    }
    Ok(pillar)
}

/// The SLS names the `base` environment assigns to this host, in top-file
/// order, each with its entry's `ignore_missing`.
fn select(
    top: OrderedMap<OrderedMap<Value>>,
    host_id: &str,
    grains: &Value,
    groups: &BTreeMap<String, Group>,
) -> Result<Vec<(String, bool)>, PillarError> {
    let Some((_, entries)) = top.0.into_iter().find(|(env, _)| env == "base") else {
        return Ok(Vec::new());
    };
    let ctx = MatchCtx::new(host_id, grains);
    let mut out = Vec::new();
    for (expr, items) in entries.0 {
        let items = match items {
            Value::Array(items) => items,
            Value::String(s) => vec![Value::String(s)],
            _ => {
                return Err(PillarError::Top(format!(
                    "target `{expr}`: expected a list of SLS names"
                )))
            }
        };
        let mut kind = TargetType::Glob;
        let mut ignore_missing = false;
        let mut names = Vec::new();
        for item in items {
            match item {
                Value::String(s) => names.push(s),
                Value::Object(map) => {
                    for (k, v) in map {
                        match (k.as_str(), &v) {
                            ("match", Value::String(m)) => {
                                kind = TargetType::from_name(m).ok_or_else(|| {
                                    PillarError::Top(format!(
                                        "target `{expr}`: unsupported match type `{m}`"
                                    ))
                                })?
                            }
                            ("ignore_missing", Value::Bool(b)) => ignore_missing = *b,
                            _ => {
                                return Err(PillarError::Top(format!(
                                    "target `{expr}`: unexpected option `{k}`"
                                )))
                            }
                        }
                    }
                }
                other => {
                    return Err(PillarError::Top(format!(
                        "target `{expr}`: unexpected item {other}"
                    )))
                }
            }
        }
        // Salt would match against the host's previous pillar; halite
        // keeps no pillar between runs, and a pillar cannot select itself.
        let by_pillar = || {
            PillarError::Top(format!(
                "target `{expr}`: the pillar top file cannot target by pillar \
                 (`match: pillar`, `I@`, `J@`): the pillar is what it compiles; \
                 target by grains, id or nodegroup instead"
            ))
        };
        if matches!(kind, TargetType::Pillar | TargetType::PillarPcre) {
            return Err(by_pillar());
        }
        let target =
            Target::parse(kind, &expr, groups).map_err(|e| PillarError::Top(e.to_string()))?;
        if target.needs_pillar() {
            return Err(by_pillar());
        }
        if target.matches(&ctx) {
            out.extend(names.into_iter().map(|n| (n, ignore_missing)));
        }
    }
    Ok(out)
}

/// `a.b` → `a/b.sls`, else `a/b/init.sls`.
fn sls_file(root: &Path, sls: &str) -> Option<String> {
    let base = sls.replace('.', "/");
    [format!("{base}.sls"), format!("{base}/init.sls")]
        .into_iter()
        .find(|f| root.join(f).is_file())
}

fn render_sls(
    renderer: &Renderer,
    sls: &str,
    extra: &Extra,
    done: &mut HashSet<String>,
    from: &str,
) -> Result<Value, PillarError> {
    if !done.insert(sls.to_string()) {
        return Ok(Value::Object(Default::default()));
    }
    let file = sls_file(renderer.root(), sls).ok_or_else(|| PillarError::MissingSls {
        file: from.to_string(),
        sls: sls.to_string(),
    })?;
    let mut data = renderer.render_sls_with(&file, sls, extra)?;
    let Some(includes) = data.as_object_mut().and_then(|m| m.remove("include")) else {
        return Ok(data);
    };
    let Value::Array(includes) = includes else {
        return Err(PillarError::Invalid {
            file,
            message: "`include` must be a list".into(),
        });
    };
    let mut merged = Value::Object(Default::default());
    for inc in includes {
        let (name, defaults, key) = match inc {
            Value::String(s) => (s, BTreeMap::new(), None),
            Value::Object(m) if m.len() == 1 => {
                let (name, opts) = m.into_iter().next().expect("one entry");
                let defaults = opts
                    .get("defaults")
                    .and_then(Value::as_object)
                    .map(|d| d.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                let key = opts.get("key").and_then(Value::as_str).map(str::to_string);
                (name, defaults, key)
            }
            other => {
                return Err(PillarError::Invalid {
                    file,
                    message: format!("unexpected include item {other}"),
                })
            }
        };
        // `.name` is relative to this SLS's directory, as for states.
        let name = match name.strip_prefix('.') {
            Some(rest) => {
                let dir = file
                    .rsplit_once('/')
                    .map(|(d, _)| d.replace('/', "."))
                    .unwrap_or_default();
                if dir.is_empty() {
                    rest.to_string()
                } else {
                    format!("{dir}.{rest}")
                }
            }
            None => name,
        };
        let extra = Extra {
            defaults,
            context: BTreeMap::new(),
        };
        let mut nested = render_sls(renderer, &name, &extra, done, &file)?;
        if let Some(key) = key {
            for fragment in key.rsplit(':') {
                nested = serde_json::json!({ fragment: nested });
            }
        }
        merge(&mut merged, nested);
    }
    merge(&mut merged, data);
    Ok(merged)
}

#[cfg(test)]
mod tests;
