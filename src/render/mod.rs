//! Rendering SLS files and file templates the way Salt does: a shebang line
//! picks the renderer pipeline (default `jinja|yaml`), Jinja runs with
//! Salt's context (`grains`, `pillar`, `salt`, `opts`, `sls`, ...), and the
//! text it produces is parsed as YAML (or JSON); `gpg` and `age` renderers
//! after it decrypt armored values in the data (see [`crate::secrets`]).
//!
//! Why a layer of its own: states, pillar and `file.managed`'s
//! `template: jinja` all need the same environment, and every failure must
//! name the file (relative to the states/ or pillar/ root) and the line, so
//! a user can find the mistake without a traceback.
//!
//! Semantics followed (Salt 3006, `salt/template.py`, `salt/utils/templates.py`,
//! `salt/utils/jinja.py`, `salt/renderers/{yaml,json}.py`):
//! - the whole context is also installed as Jinja globals (Salt does
//!   `jinja_env.globals.update(context)`), so imported macros see `grains`,
//!   `pillar`, `salt`, `tpldir`... with or without `with context`;
//! - undefined variables are errors (`StrictUndefined`);
//! - a source ending in a newline renders to text ending in one;
//! - an empty rendering is an empty mapping.
//!
//! Python semantics formulas rely on, which minijinja lacks by design:
//! its values are immutable, but Salt formulas change dicts and lists in
//! place (`{% do d.update(..) %}`) and expect every name bound to one to
//! see it. So every map and list a template can reach is a shared object
//! with interior mutability (`pyobj.rs`: `Arc<Mutex<..>>`; pillar, grains,
//! `salt[...]` results and `import_yaml` data are built as such), and a
//! pre-pass (`rewrite.rs`, on minijinja's own lexer and parser, so strings
//! and comments are safe and lines do not move) wraps dict/list literals
//! and `set` values in a call making them such objects, turns `a % b`
//! into a call doing Python's `%`, and lets `{% do %}` take any
//! expression. The alternatives were worse: a fork of minijinja, or
//! `unknown_method_callback` alone, which can read but never change a
//! value, so `d.update()` would be silently lost. `pyfmt.rs` holds
//! Python's `repr`/`str`, `%` and the extra `str` methods; `filters.rs`,
//! `filters_data.rs` and `dump.rs` Salt's filters with Salt's text.

pub(crate) mod dump;
mod filters;
mod filters_data;
mod jinja;
mod pyfmt;
mod pyobj;
mod rewrite;
mod salt;
mod source;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::secrets::{Cipher, DecryptError, Secrets};
use crate::Value;

pub use salt::{RemoteCall, RemoteScript};

/// A rendering failure. Every variant names the file, relative to the root
/// it was loaded from (states/ or pillar/).
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The cause is in the text only (not `source()`), so printing the
    /// chain does not repeat it.
    #[error("{file}: cannot read: {error}")]
    Read { file: String, error: std::io::Error },
    #[error("{file}: no such template")]
    NotFound { file: String },
    #[error("{file}: template path `{path}` is outside the root")]
    PathEscape { file: String, path: String },
    #[error("{file}: unsupported renderer `{renderer}` (halite renders an optional `jinja`, then `yaml` or `json`, then optionally `gpg` and/or `age`, e.g. `#!jinja|yaml` or `#!jinja|yaml|gpg`)")]
    UnsupportedRenderer { file: String, renderer: String },
    /// A Jinja syntax or runtime error; `file`/`line` are where it happened,
    /// which may be a template included or imported by `top`.
    #[error("{file}{}: Jinja error: {message}{}", line.map(|l| format!(":{l}")).unwrap_or_default(), if top != file { format!(" (rendering {top})") } else { String::new() })]
    Jinja {
        file: String,
        line: Option<usize>,
        message: String,
        top: String,
    },
    /// The rendered text is not valid YAML/JSON. `line` counts lines of the
    /// *rendered* text (after Jinja), which equals the source line unless
    /// Jinja added or removed lines above it; `rendered_line` shows it.
    #[error("{file}{}: {format} error in the rendered text{}: {message}{}", line.map(|l| format!(":{l}")).unwrap_or_default(), line.map(|l| format!(" (line {l} after Jinja)")).unwrap_or_default(), rendered_line.as_ref().map(|t| format!("\n  | {t}")).unwrap_or_default())]
    Parse {
        file: String,
        format: &'static str,
        line: Option<usize>,
        message: String,
        rendered_line: Option<String>,
        /// The rendered text repeats a key within one mapping.
        duplicate: bool,
    },
    #[error("{file}: rendered to {found}, expected a mapping")]
    NotAMapping { file: String, found: &'static str },
    /// A `gpg` or `age` renderer could not decrypt a value (file, key path
    /// and reason; never the value).
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
}

impl RenderError {
    /// The file the error is about (relative to the root).
    pub fn file(&self) -> &str {
        match self {
            RenderError::Read { file, .. }
            | RenderError::NotFound { file }
            | RenderError::PathEscape { file, .. }
            | RenderError::UnsupportedRenderer { file, .. }
            | RenderError::Jinja { file, .. }
            | RenderError::Parse { file, .. }
            | RenderError::NotAMapping { file, .. } => file,
            RenderError::Decrypt(e) => &e.file,
        }
    }

    /// The error with every value decrypted in this run withheld from its
    /// text: a Jinja or YAML error may quote a rendered line, and a line of
    /// an SLS file can hold a decrypted pillar value.
    fn redacted(self, secrets: &Secrets) -> RenderError {
        let clean = |s: String| secrets.redact_str(&s).into_owned();
        match self {
            RenderError::Jinja {
                file,
                line,
                message,
                top,
            } => RenderError::Jinja {
                file,
                line,
                message: clean(message),
                top,
            },
            RenderError::Parse {
                file,
                format,
                line,
                message,
                rendered_line,
                duplicate,
            } => RenderError::Parse {
                file,
                format,
                line,
                message: clean(message),
                rendered_line: rendered_line.map(clean),
                duplicate,
            },
            other => other,
        }
    }

    /// The rendered text repeats a key within one mapping: the tree itself
    /// is wrong (a duplicate is never a value to pick), so a run stops.
    pub fn is_duplicate_key(&self) -> bool {
        matches!(
            self,
            RenderError::Parse {
                duplicate: true,
                ..
            }
        )
    }

    /// The line, when known (see each variant for what it counts).
    pub fn line(&self) -> Option<usize> {
        match self {
            RenderError::Jinja { line, .. } | RenderError::Parse { line, .. } => *line,
            _ => None,
        }
    }
}

/// What a host's templates see; built once per host and reused for every
/// file rendered for it.
#[derive(Clone)]
pub struct Renderer {
    root: PathBuf,
    id: String,
    grains: Arc<Value>,
    pillar: Arc<Value>,
    remote: Option<Arc<dyn RemoteCall>>,
    /// Keys for the `gpg` and `age` renderers, and the run's record of
    /// what they decrypted.
    secrets: Arc<Secrets>,
}

impl fmt::Debug for Renderer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Renderer")
            .field("root", &self.root)
            .field("id", &self.id)
            .field("remote", &self.remote.is_some())
            .finish_non_exhaustive()
    }
}

/// The renderer pipeline picked by a file's shebang line: optional Jinja,
/// one data renderer (yaml or json), then any decrypting renderers (`gpg`,
/// `age`) that walk the data, in the order written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    templated: bool,
    format: DataFormat,
    decrypt: Vec<Cipher>,
}

/// The data renderer of a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataFormat {
    Yaml,
    Json,
}

impl Pipeline {
    /// `#!jinja|yaml`, the default.
    fn jinja_yaml() -> Pipeline {
        Pipeline {
            templated: true,
            format: DataFormat::Yaml,
            decrypt: Vec::new(),
        }
    }

    /// Parse the first line of a source. `Ok(None)` when there is no shebang.
    /// Salt's syntax: `#!` then renderer names joined by `|`, spaces allowed:
    /// `[jinja|](yaml|json)[|gpg|age...]`.
    fn from_first_line(first: &str) -> Result<Option<Pipeline>, String> {
        let Some(spec) = first.trim().strip_prefix("#!") else {
            return Ok(None);
        };
        let unsupported = || spec.trim().to_string();
        let parts: Vec<String> = spec
            .split('|')
            .map(|p| p.trim().to_ascii_lowercase())
            .collect();
        let mut rest = parts.iter().map(String::as_str).peekable();
        let templated = rest.next_if_eq(&"jinja").is_some();
        let format = match rest.next() {
            Some("yaml") => DataFormat::Yaml,
            Some("json") => DataFormat::Json,
            _ => return Err(unsupported()),
        };
        let decrypt = rest
            .map(Cipher::from_name)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(unsupported)?;
        Ok(Some(Pipeline {
            templated,
            format,
            decrypt,
        }))
    }

    fn format(&self) -> &'static str {
        match self.format {
            DataFormat::Yaml => "YAML",
            DataFormat::Json => "JSON",
        }
    }
}

/// Extra variables for one rendering: what `file.managed` passes as
/// `defaults` and `context` (context wins, as in Salt).
#[derive(Debug, Clone, Default)]
pub struct Extra {
    pub defaults: BTreeMap<String, Value>,
    pub context: BTreeMap<String, Value>,
}

impl Extra {
    fn merged(&self) -> BTreeMap<String, Value> {
        let mut out = self.defaults.clone();
        out.extend(self.context.iter().map(|(k, v)| (k.clone(), v.clone())));
        out
    }
}

impl Renderer {
    /// `root` is the states/ or pillar/ directory templates are loaded from
    /// (and may never leave); `grains` and `pillar` are this host's only.
    pub fn new(root: impl Into<PathBuf>, id: &str, grains: Value, pillar: Value) -> Renderer {
        Renderer {
            root: root.into(),
            id: id.to_string(),
            grains: Arc::new(grains),
            pillar: Arc::new(pillar),
            remote: None,
            secrets: Arc::default(),
        }
    }

    /// Decrypt with these keys (halite.yaml's `gpg_keydir`,
    /// `age_identity_file`) instead of the defaults, recording what is
    /// decrypted in `secrets`.
    pub fn with_secrets(mut self, secrets: Arc<Secrets>) -> Renderer {
        self.secrets = secrets;
        self
    }

    /// Route `salt['<anything but pillar.*, grains.*, config.get>'](...)`
    /// to the host. Without it such calls are render errors.
    /// The execution functions of the host being rendered for, when given.
    pub fn remote(&self) -> Option<&Arc<dyn RemoteCall>> {
        self.remote.as_ref()
    }

    pub fn with_remote(mut self, remote: Arc<dyn RemoteCall>) -> Renderer {
        self.remote = Some(remote);
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn grains(&self) -> &Value {
        &self.grains
    }

    pub fn pillar(&self) -> &Value {
        &self.pillar
    }

    /// Render SLS `sls` (dotted name) from `file` (relative to the root,
    /// e.g. `apache/init.sls`) and check it is a mapping (empty → `{}`).
    pub fn render_sls(&self, file: &str, sls: &str) -> Result<Value, RenderError> {
        self.render_sls_with(file, sls, &Extra::default())
    }

    /// [`Renderer::render_sls`] with extra variables (pillar `include`'s
    /// `defaults`).
    pub fn render_sls_with(
        &self,
        file: &str,
        sls: &str,
        extra: &Extra,
    ) -> Result<Value, RenderError> {
        let value: Value = self.render_file_as(file, Some(sls), extra)?;
        match value {
            Value::Object(_) => Ok(value),
            other => Err(RenderError::NotAMapping {
                file: file.to_string(),
                found: kind_name(&other),
            }),
        }
    }

    /// Render `file` through its pipeline and deserialize the result into
    /// `T`, so a caller that needs the file's key order (the state engine:
    /// Salt runs states in file order) can use an order-keeping type such
    /// as [`OrderedMap`]. An empty result deserializes from `{}`.
    pub fn render_file_as<T: DeserializeOwned>(
        &self,
        file: &str,
        sls: Option<&str>,
        extra: &Extra,
    ) -> Result<T, RenderError> {
        let file = source::normalize(file, None).ok_or_else(|| RenderError::PathEscape {
            file: file.to_string(),
            path: file.to_string(),
        })?;
        let source = self.read(&file)?;
        let first = source.lines().next().unwrap_or("");
        let pipeline = Pipeline::from_first_line(first)
            .map_err(|renderer| RenderError::UnsupportedRenderer {
                file: file.clone(),
                renderer,
            })?
            .unwrap_or_else(Pipeline::jinja_yaml);
        let text = if pipeline.templated {
            jinja::render(self, &file, sls, &extra.merged(), None)
                .map_err(|e| e.redacted(&self.secrets))?
        } else {
            source
        };
        if pipeline.decrypt.is_empty() {
            return parse_data(&text, &file, &pipeline).map_err(|e| e.redacted(&self.secrets));
        }
        let mut data: Value =
            parse_data(&text, &file, &pipeline).map_err(|e| e.redacted(&self.secrets))?;
        for cipher in &pipeline.decrypt {
            self.secrets.decrypt_tree(&mut data, *cipher, &file)?;
        }
        serde_json::from_value(data).map_err(|e| RenderError::Parse {
            file: file.clone(),
            format: pipeline.format(),
            line: None,
            message: self.secrets.redact_str(&e.to_string()).into_owned(),
            rendered_line: None,
            duplicate: false,
        })
    }

    /// Render `file` as a plain Jinja template (no shebang handling, no
    /// YAML): `file.managed` with `template: jinja`.
    pub fn render_template_file(&self, file: &str, extra: &Extra) -> Result<String, RenderError> {
        let file = source::normalize(file, None).ok_or_else(|| RenderError::PathEscape {
            file: file.to_string(),
            path: file.to_string(),
        })?;
        jinja::render(self, &file, None, &extra.merged(), None)
            .map_err(|e| e.redacted(&self.secrets))
    }

    /// Render Jinja `source` (named `name` in errors; relative imports are
    /// resolved against `name`'s directory under the root).
    pub fn render_template_str(
        &self,
        name: &str,
        source: &str,
        extra: &Extra,
    ) -> Result<String, RenderError> {
        jinja::render(self, name, None, &extra.merged(), Some(source))
            .map_err(|e| e.redacted(&self.secrets))
    }

    fn read(&self, file: &str) -> Result<String, RenderError> {
        let path = source::resolve_in_root(&self.root, file).map_err(|e| match e {
            source::LoadError::Escape => RenderError::PathEscape {
                file: file.to_string(),
                path: file.to_string(),
            },
            source::LoadError::Missing => RenderError::NotFound {
                file: file.to_string(),
            },
            source::LoadError::Io(source) => RenderError::Read {
                file: file.to_string(),
                error: source,
            },
        })?;
        std::fs::read_to_string(&path).map_err(|source| RenderError::Read {
            file: file.to_string(),
            error: source,
        })
    }
}

/// Blank a shebang line (keeping its newline, so line numbers hold): Salt's
/// yaml and json renderers drop it before parsing.
fn strip_shebang(text: &str) -> &str {
    if text.starts_with("#!") {
        match text.find('\n') {
            Some(i) => &text[i..],
            None => "",
        }
    } else {
        text
    }
}

fn parse_data<T: DeserializeOwned>(
    text: &str,
    file: &str,
    pipeline: &Pipeline,
) -> Result<T, RenderError> {
    let body = strip_shebang(text);
    let error = |line: Option<usize>, message: String, duplicate: bool| RenderError::Parse {
        file: file.to_string(),
        format: pipeline.format(),
        line,
        message,
        rendered_line: line
            .and_then(|l| body.lines().nth(l.saturating_sub(1)))
            .map(str::to_string),
        duplicate,
    };
    let parse_err = |line: Option<usize>, message: String| error(line, message, false);
    let empty = || serde_json::from_str::<T>("{}").map_err(|e| parse_err(None, e.to_string()));
    // Only comments, blank lines or document markers is null in YAML: Salt
    // makes an empty rendering `{}`.
    let blank = body.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    });
    if blank {
        return empty();
    }
    match pipeline.format {
        DataFormat::Yaml => crate::yaml::from_str(body, Path::new(file))
            .map_err(|e| error(e.location.map(|(l, _)| l), e.message, e.duplicate)),
        // JSON text is YAML too: a repeated key is refused the same way
        // (serde_json would keep the last one).
        DataFormat::Json => match crate::yaml::find_duplicate(body) {
            Some(dup) => Err(error(dup.at.map(|(l, _)| l), dup.to_string(), true)),
            None => serde_json::from_str(body).map_err(|e| {
                let line = (e.line() > 0).then_some(e.line());
                let mut message = e.to_string();
                if let Some(i) = message.find(" at line ") {
                    message.truncate(i);
                }
                parse_err(line, message)
            }),
        },
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A mapping that keeps its keys in document order (serde_json's map sorts
/// them). Deserialize top files or SLS files into it when order matters.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderedMap<T>(pub Vec<(String, T)>);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for OrderedMap<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Visit<T> {
            type Value = OrderedMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, T>()? {
                    out.push((k, v));
                }
                Ok(OrderedMap(out))
            }
            // An empty document (`None`) is an empty mapping, as in Salt.
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(OrderedMap(Vec::new()))
            }
        }
        d.deserialize_any(Visit(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests;
