//! The Jinja environment Salt templates expect, on minijinja: strict
//! undefined, Python string/dict methods, Salt's filters, template loading
//! confined to the root, and Salt's `import_yaml`/`import_json`/
//! `import_text`/`load_*` tags (which minijinja lacks) rewritten into plain
//! Jinja before compilation, on the same line so error lines stay true.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use minijinja::value::Value as MjValue;
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior};

use super::pyobj::{from_json, parse_text};
use super::salt::{Ctx, SaltLoader};
use super::source::{normalize, preprocess, resolve_in_root, LoadError};
use super::{RenderError, Renderer};
use crate::Value;

fn dir_of(name: &str) -> &str {
    name.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// Salt's loader: `./x` and `../x` are relative to the including template,
/// anything else is relative to the root. A path that would leave the root
/// is passed on unchanged so the loader refuses it.
fn join_path<'s>(name: &'s str, parent: &'s str) -> Cow<'s, str> {
    let relative = name.starts_with("./") || name.starts_with("../");
    let joined = if relative {
        normalize(name, Some(dir_of(parent)))
    } else {
        normalize(name, None)
    };
    match joined {
        Some(j) => Cow::Owned(j),
        None => Cow::Borrowed(name),
    }
}

fn load(root: &Path, name: &str) -> Result<Option<String>, Error> {
    match resolve_in_root(root, name) {
        Ok(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("cannot read `{name}`: {e}"),
                )
            })?;
            Ok(Some(preprocess(&text, name)))
        }
        Err(LoadError::Missing) => Ok(None),
        Err(LoadError::Escape) => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("template path `{name}` is outside the root"),
        )),
        Err(LoadError::Io(e)) => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("cannot read `{name}`: {e}"),
        )),
    }
}

fn halite_import(state: &State, kind: &str, path: &str, current: &str) -> Result<MjValue, Error> {
    let resolved = join_path(path, current).into_owned();
    let template = state.env().get_template(&resolved)?;
    let text = template.render(())?;
    parse_text(kind, &text, &resolved)
}

/// Context variables Salt derives from the template path
/// (`salt.utils.templates.generate_sls_context`).
fn path_context(root: &Path, file: &str, sls: Option<&str>) -> BTreeMap<String, Value> {
    let slspath = dir_of(file).to_string();
    let mut ctx = BTreeMap::new();
    let s = |v: &str| Value::String(v.to_string());
    ctx.insert("tplpath".into(), s(&root.join(file).display().to_string()));
    ctx.insert("tplfile".into(), s(file));
    ctx.insert(
        "tpldir".into(),
        s(if slspath.is_empty() { "." } else { &slspath }),
    );
    ctx.insert("tpldot".into(), s(&slspath.replace('/', ".")));
    if let Some(sls) = sls {
        ctx.insert("sls".into(), s(sls));
        ctx.insert("slspath".into(), s(&slspath));
        ctx.insert("slsdotpath".into(), s(&slspath.replace('/', ".")));
        ctx.insert("slscolonpath".into(), s(&slspath.replace('/', ":")));
        ctx.insert("sls_path".into(), s(&slspath.replace('/', "_")));
    }
    ctx
}

/// `opts`: the host's id, the states tree as `file_roots`, and the
/// minion defaults of Salt 3008 formulas read (paths as a root minion has
/// them: halite keeps nothing there, a formula writing there writes on the
/// host where Salt would).
fn opts(r: &Renderer) -> Value {
    serde_json::json!({
        "id": r.id,
        "saltenv": "base",
        "renderer": "jinja|yaml",
        "file_roots": {"base": [r.root.display().to_string()]},
        "grains": *r.grains,
        "config_dir": "/etc/salt",
        "conf_file": "/etc/salt/minion",
        "cachedir": "/var/cache/salt/minion",
        "extension_modules": "/var/cache/salt/minion/extmods",
        "pki_dir": "/etc/salt/pki/minion",
        "sock_dir": "/var/run/salt/minion",
        "log_file": "/var/log/salt/minion",
        "root_dir": "/",
        "user": "root",
        "hash_type": "sha256",
        "state_top": "top.sls",
        "default_top": "base",
        "top_file_merging_strategy": "merge",
        "state_output": "full",
    })
}

fn environment(r: &Renderer) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Debug mode makes an undefined value remember the expression that made
    // it, so the error names it (`pillar.db` is undefined). minijinja turns
    // it on only in debug builds. It also attaches the template source and
    // the referenced values to the error; [`jinja_error`] keeps only the
    // kind and detail, so no pillar value reaches a message.
    env.set_debug(true);
    env.set_syntax(super::rewrite::syntax());
    // Salt never auto-escapes; minijinja would for `.html`/`.json` names.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_unknown_method_callback(super::pyfmt::unknown_method_callback);
    env.set_path_join_callback(join_path);
    let root = r.root.clone();
    env.set_loader(move |name| load(&root, name));
    env.add_function("halite_import", halite_import);
    env.add_function("__halite_do", |_: MjValue| ());
    env.add_function("__halite_mut", super::pyobj::mutable);
    env.add_function("__halite_mod", super::pyfmt::percent);
    super::filters::register(&mut env);
    env
}

/// Render `file` (root-relative; its text is `source` when given, else it is
/// loaded) with the host's context plus `extra`.
pub(super) fn render(
    r: &Renderer,
    file: &str,
    sls: Option<&str>,
    extra: &BTreeMap<String, Value>,
    source: Option<&str>,
) -> Result<String, RenderError> {
    let mut env = environment(r);
    let opts = opts(r);
    let salt = SaltLoader::new(Arc::new(Ctx {
        grains: r.grains.clone(),
        pillar: r.pillar.clone(),
        opts: opts.clone(),
        remote: r.remote.clone(),
    }));
    // Salt installs the whole context as globals, so imported templates and
    // macros see it whether or not they are imported `with context`.
    env.add_global("grains", from_json(&r.grains));
    env.add_global("pillar", from_json(&r.pillar));
    env.add_global("opts", from_json(&opts));
    env.add_global("saltenv", "base");
    env.add_global("salt", MjValue::from_object(salt));
    for (k, v) in path_context(&r.root, file, sls) {
        env.add_global(k, from_json(&v));
    }
    for (k, v) in extra {
        env.add_global(k.clone(), from_json(v));
    }
    let jinja_err = |e: Error| jinja_error(e, file);
    if let Some(source) = source {
        env.add_template_owned(file.to_string(), preprocess(source, file))
            .map_err(jinja_err)?;
    }
    let template = env.get_template(file).map_err(|e| {
        if e.kind() == ErrorKind::TemplateNotFound && e.name().is_none() {
            RenderError::NotFound {
                file: file.to_string(),
            }
        } else {
            jinja_err(e)
        }
    })?;
    template.render(()).map_err(jinja_err)
}

/// Turn a minijinja error into one naming the innermost template and line.
fn jinja_error(err: Error, top: &str) -> RenderError {
    let describe = |e: &Error| match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    let mut file = err.name().map(str::to_string);
    let mut line = err.line();
    let mut message = describe(&err);
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        if let Some(inner) = s.downcast_ref::<Error>() {
            if inner.name().is_some() {
                file = inner.name().map(str::to_string);
                line = inner.line();
            }
            message = format!("{message}: {}", describe(inner));
        } else {
            message = format!("{message}: {s}");
        }
        source = s.source();
    }
    RenderError::Jinja {
        file: file.unwrap_or_else(|| top.to_string()),
        line,
        message,
        top: top.to_string(),
    }
}
