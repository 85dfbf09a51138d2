//! `file.managed`: the controller decides the file's bytes (a `salt://`
//! source, `contents`, optionally through Jinja) when the state is built,
//! so the host only ever compares hashes and receives finished bytes.
//! A remote source (`http(s)://`, `ftp://`) is the exception: the host
//! downloads it itself ([`super::remote`]).
//!
//! `backup: minion` keeps the replaced file as
//! `/var/cache/halite/file_backup/<path>_<UTC time>`, like Salt's minion
//! cache. Not next to the file: a `NAME.bak` beside it would be picked up by
//! `conf.d/*` style includes.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::paths::{resolve_salt_url, SourceError};
use super::remote::{self, Check, Digest, Remote};
use super::{check_name, diff_text, mkdirs_function, parse_facts, perms, Kind, Perms};
use crate::modules::{Applied, BuildCtx, Output, Plan, PlanMismatch, StateFunction};
use crate::render::Extra;
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

/// A `file.managed` plan's data: whether it writes the content (else it
/// only fixes ownership and mode), and for a remote source the digest the
/// download must have.
#[derive(Debug, PartialEq)]
struct Write(bool, Option<Digest>);

/// Where `backup: minion` keeps replaced files.
pub const BACKUP_DIR: &str = "/var/cache/halite/file_backup";

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    source: Option<Value>,
    contents: Option<Value>,
    /// A pillar key (or a list of them) whose value is the content.
    contents_pillar: Option<Value>,
    /// The same from the host's grains.
    contents_grains: Option<Value>,
    /// The key separator of `contents_pillar` / `contents_grains`.
    contents_delimiter: Option<String>,
    #[serde(default = "yes")]
    contents_newline: bool,
    template: Option<String>,
    context: Option<serde_json::Map<String, Value>>,
    defaults: Option<serde_json::Map<String, Value>>,
    user: Option<Value>,
    group: Option<Value>,
    mode: Option<Value>,
    #[serde(default)]
    makedirs: bool,
    dir_mode: Option<Value>,
    backup: Option<Value>,
    #[serde(default = "yes")]
    replace: bool,
    #[serde(default = "yes")]
    create: bool,
    #[serde(default = "yes")]
    show_changes: bool,
    /// A remote source's digest (`TYPE=HEX` or `HEX`); ignored for
    /// `salt://` sources, as Salt does.
    source_hash: Option<Value>,
    /// The name to look for in a `salt://` file of hashes (Salt ignores
    /// it with a plain hash).
    source_hash_name: Option<String>,
    /// A remote source without a hash: the probe downloads it to compare.
    #[serde(default)]
    skip_verify: bool,
}

#[derive(Debug)]
pub struct Managed {
    name: String,
    /// The bytes the file must hold; `None`: content is not managed (no
    /// source and no contents: only created empty when missing).
    content: Option<Vec<u8>>,
    sha256: Option<String>,
    perms: Perms,
    /// For directories `makedirs` creates: the state's owner, `dir_mode`.
    dir_perms: Perms,
    makedirs: bool,
    backup: bool,
    replace: bool,
    create: bool,
    /// Salt's `show_changes`: false puts "<show_changes=False>" where the
    /// diff of an existing file would be (in test=True too).
    show_changes: bool,
    /// A remote source the host downloads (`content` is then `None`).
    remote: Option<Remote>,
}

pub fn build(chunk: &Chunk, ctx: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let err = |m: String| format!("{}: {m}", chunk.describe());
    let (known, extras) = template_variables(chunk);
    let a: Args = serde_json::from_value(Value::Object(known))
        .map_err(|e| err(format!("invalid arguments: {e}")))?;
    let name = check_name(chunk)?;
    let p = perms(chunk, &a.user, &a.group, &a.mode)?;
    let dir_perms = Perms {
        mode: perms(chunk, &None, &None, &a.dir_mode)?.mode,
        ..p.clone()
    };
    let backup = match &a.backup {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::String(s)) if s.is_empty() => false,
        Some(Value::String(s)) if s == "minion" => true,
        Some(other) => {
            return Err(err(format!(
                "backup `{other}` is not supported (only `minion`)"
            )))
        }
    };
    let jinja = jinja_template(chunk, a.template.as_deref())?;
    let remote = match &a.source {
        Some(src) => remote_source(ctx, src, &name, &a).map_err(err)?,
        None => None,
    };
    if remote.is_some() && jinja {
        return Err(err(
            "template: jinja with a remote source is not supported (halite renders \
             templates on the controller; a remote source is downloaded by the host)"
                .into(),
        ));
    }
    let from_data = data_contents(ctx, &a).map_err(err)?;
    // Salt hands them to a `source` template only (not to `contents`);
    // where it would drop them silently, they are an error here.
    let for_template = jinja && a.source.is_some();
    if !extras.is_empty() && !for_template {
        return Err(err(format!(
            "`{}` is not an argument of file.managed; other arguments are variables \
             of a `source` template (as in Salt), and this state has none",
            extras.keys().cloned().collect::<Vec<_>>().join("`, `")
        )));
    }
    // Salt's order: the variables file.managed gives every source
    // template, the extra arguments, then `defaults`, then `context`.
    let mut defaults = match (&a.source, for_template) {
        (Some(src), true) => source_template_vars(ctx, src, &name, &a),
        _ => BTreeMap::new(),
    };
    defaults.extend(extras);
    defaults.extend(to_btree(a.defaults));
    let extra = Extra {
        defaults,
        context: to_btree(a.context),
    };
    let renderer = || {
        ctx.renderer
            .ok_or_else(|| err("template: jinja needs a renderer, and none is available".into()))
    };
    // `contents`, or what `contents_pillar` / `contents_grains` name.
    let text = match from_data {
        Some(from_data) => from_data,
        None => match &a.contents {
            Some(c) => {
                let mut text = contents_text(c).map_err(err)?;
                if a.contents_newline && !text.ends_with('\n') {
                    text.push('\n');
                }
                Some(text)
            }
            None => None,
        },
    };
    let content = match (&a.source, text) {
        (Some(_), Some(_)) => {
            return Err(err(
                "'source' cannot be used in combination with 'contents', \
                 'contents_pillar', or 'contents_grains'"
                    .into(),
            ))
        }
        (Some(_), None) if remote.is_some() => None,
        (Some(src), None) => Some(read_source(chunk, ctx, src, jinja, &extra)?),
        (None, Some(mut text)) => {
            if jinja {
                text = renderer()?
                    .render_template_str(&chunk.file, &text, &extra)
                    .map_err(|e| err(format!("cannot render contents: {e}")))?;
            }
            Some(text.into_bytes())
        }
        (None, None) if jinja => {
            return Err(err("template needs a source or contents".into()));
        }
        (None, None) => None,
    };
    let sha256 = content
        .as_ref()
        .map(|c| data_encoding::HEXLOWER.encode(&Sha256::digest(c)));
    Ok(Box::new(Managed {
        name,
        content,
        sha256,
        perms: p,
        dir_perms,
        makedirs: a.makedirs,
        backup,
        replace: a.replace,
        show_changes: a.show_changes,
        create: a.create,
        remote,
    }))
}

/// The remote source `src` names, if it names one: one URL, or a list of
/// them (tried in order on the host). A list mixing `salt://` and remote
/// URLs is refused; without `skip_verify` a `source_hash` is required, in
/// Salt's words.
fn remote_source(
    ctx: &BuildCtx,
    src: &Value,
    name: &str,
    a: &Args,
) -> Result<Option<Remote>, String> {
    let urls: Vec<String> = match src {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => return Ok(None),
    };
    let remote_count = urls
        .iter()
        .filter(|u| crate::modules::fetch::is_remote(u))
        .count();
    if remote_count == 0 {
        return Ok(None);
    }
    if remote_count != urls.len() || matches!(src, Value::Array(items) if items.len() != urls.len())
    {
        return Err(format!(
            "source {src}: a list mixing remote URLs with salt:// sources (or with \
             URL-to-hash mappings) is not supported"
        ));
    }
    let check = if a.skip_verify {
        Check::Skip
    } else {
        let hash = match &a.source_hash {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => return Err(format!("source_hash `{other}` is not a hash")),
        };
        if hash.is_empty() {
            return Err(format!(
                "Unable to verify upstream hash of source file {}, please set source_hash \
                 or set skip_verify to True",
                crate::modules::fetch::redact(&urls[0])
            ));
        }
        if hash.starts_with("salt://") {
            Check::Hash(salt_hash_file(ctx, &hash, name, &urls[0], a)?)
        } else if hash.starts_with('/')
            || hash.starts_with("file:///")
            || crate::modules::fetch::is_remote(&hash)
        {
            Check::HashFile {
                location: hash,
                name: a.source_hash_name.clone(),
            }
        } else {
            Check::Hash(remote::parse_source_hash(&hash)?)
        }
    };
    Ok(Some(Remote { urls, check }))
}

impl Managed {
    /// The sha256 the file must have, when known before the probe.
    fn expected_sha256(&self) -> Option<&str> {
        match &self.remote {
            Some(Remote {
                check: Check::Hash(d),
                ..
            }) if d.kind == remote::HashKind::Sha256 => Some(&d.hex),
            Some(_) => None,
            None => self.sha256.as_deref(),
        }
    }

    /// A remote source checked by its `source_hash` (not downloaded
    /// before the apply).
    fn hash_checked(&self) -> bool {
        matches!(
            &self.remote,
            Some(Remote {
                check: Check::Hash(_) | Check::HashFile { .. },
                ..
            })
        )
    }

    /// A file with `content` and `perms`, nothing else declared
    /// (`file.recurse`'s files).
    pub(super) fn file(name: String, content: Vec<u8>, perms: Perms) -> Managed {
        let sha256 = Some(data_encoding::HEXLOWER.encode(&Sha256::digest(&content)));
        Managed {
            name,
            content: Some(content),
            sha256,
            perms,
            dir_perms: Perms::default(),
            makedirs: false,
            backup: false,
            replace: true,
            create: true,
            show_changes: true,
            remote: None,
        }
    }
}

/// Whether `template:` asks for Jinja (the only engine supported).
pub(crate) fn jinja_template(chunk: &Chunk, template: Option<&str>) -> Result<bool, String> {
    match template {
        None | Some("") => Ok(false),
        Some(t) if t.eq_ignore_ascii_case("jinja") => Ok(true),
        Some(t) => Err(format!(
            "{}: template `{t}` is not supported (only jinja)",
            chunk.describe()
        )),
    }
}

/// The largest `salt://` source a state ships (as the archive modules).
pub const SOURCE_LIMIT: u64 = 64 * 1024 * 1024;

/// The bytes of `src` (a `salt://` URL or a list of them: the first that
/// exists), rendered through Jinja with the host's context when `jinja`.
/// Shared by `file.managed` and `cmd.script`.
pub(crate) fn read_source(
    chunk: &Chunk,
    ctx: &BuildCtx,
    src: &Value,
    jinja: bool,
    extra: &Extra,
) -> Result<Vec<u8>, String> {
    let err = |m: String| format!("{}: {m}", chunk.describe());
    let (rel, real) = pick_source(ctx.states_root, src).map_err(err)?;
    // Content travels inside the apply execution.
    let size = std::fs::metadata(&real)
        .map_err(|e| err(format!("cannot read {}: {e}", real.display())))?
        .len();
    if size > SOURCE_LIMIT {
        return Err(err(format!(
            "{rel} is {size} bytes; files travel inside the apply execution and may be at most {SOURCE_LIMIT} bytes"
        )));
    }
    if jinja {
        let renderer = ctx
            .renderer
            .ok_or_else(|| err("template: jinja needs a renderer, and none is available".into()))?;
        let text = renderer
            .render_template_file(&rel, extra)
            .map_err(|e| err(format!("cannot render {rel}: {e}")))?;
        Ok(text.into_bytes())
    } else {
        std::fs::read(&real).map_err(|e| err(format!("cannot read {}: {e}", real.display())))
    }
}

/// The state's arguments split into file.managed's own and the others,
/// which Salt hands to the template as variables (its `**kwargs`).
fn template_variables(
    chunk: &Chunk,
) -> (
    serde_json::Map<String, Value>,
    serde_json::Map<String, Value>,
) {
    let own = crate::modules::lookup("file", "managed").map_or(&[][..], |f| f.args);
    chunk
        .args
        .clone()
        .into_iter()
        .partition(|(k, _)| own.contains(&k.as_str()))
}

pub(crate) fn to_btree(m: Option<serde_json::Map<String, Value>>) -> BTreeMap<String, Value> {
    m.unwrap_or_default().into_iter().collect()
}

/// Salt's `contents`: a string, a scalar, or a list of lines.
fn contents_text(v: &Value) -> Result<String, String> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(if *b { "True" } else { "False" }.to_string()),
        Value::Null => Ok(String::new()),
        other => Err(format!("contents `{other}` is not text")),
    };
    match v {
        Value::Array(lines) => Ok(lines
            .iter()
            .map(scalar)
            .collect::<Result<Vec<_>, _>>()?
            .join("\n")),
        other => scalar(other),
    }
}

/// `contents_pillar` / `contents_grains` (Salt: `pillar.get` /
/// `grains.get` with `contents_delimiter`, `:` by default), read from the
/// host's own pillar and grains on the controller. `Ok(None)`: neither is
/// given. `Ok(Some(None))`: the key holds null, which Salt treats as no
/// contents at all. One key's value is a string or a list of lines; a list
/// of keys joins their (string) values with newlines. The text is then
/// normalized as Salt does for every `contents`: each line ends with one
/// `\n` (`\r\n` and lone `\r` included), and with `contents_newline: False`
/// the final line break is dropped.
#[allow(clippy::option_option)]
fn data_contents(ctx: &BuildCtx, a: &Args) -> Result<Option<Option<String>>, String> {
    fn given(v: &Option<Value>) -> Option<&Value> {
        v.as_ref().filter(|v| !v.is_null())
    }
    let count = [
        given(&a.contents),
        given(&a.contents_pillar),
        given(&a.contents_grains),
    ]
    .iter()
    .filter(|v| v.is_some())
    .count();
    if count > 1 {
        return Err(
            "Only one of 'contents', 'contents_pillar', and 'contents_grains' is permitted".into(),
        );
    }
    let (what, keys, data) = match (given(&a.contents_pillar), given(&a.contents_grains)) {
        (Some(k), _) => ("Pillar", k, ctx.renderer.map(|r| r.pillar())),
        (_, Some(k)) => ("Grain", k, ctx.renderer.map(|r| r.grains())),
        _ => return Ok(None),
    };
    let data = data.unwrap_or(&Value::Null);
    let delimiter = a.contents_delimiter.as_deref().unwrap_or(":");
    if delimiter.is_empty() {
        return Err("contents_delimiter must not be empty".into());
    }
    let arg = if what == "Pillar" {
        "contents_pillar"
    } else {
        "contents_grains"
    };
    let lookup = |key: &Value| -> Result<&Value, String> {
        let Value::String(key) = key else {
            return Err(format!("{arg} `{key}` is not a key"));
        };
        crate::data::traverse(data, key, delimiter)
            .ok_or_else(|| format!("{what} {key} does not exist"))
    };
    let parts: Vec<String> = match keys {
        Value::Array(keys) => {
            let mut parts = Vec::new();
            for k in keys {
                match lookup(k)? {
                    Value::String(s) => parts.push(s.clone()),
                    other => {
                        return Err(format!(
                            "{arg}: the value of {k} is a {}, not text (a list of keys joins text values)",
                            type_name(other)
                        ))
                    }
                }
            }
            vec![parts.join("\n")]
        }
        key => {
            // The message names the type, never the value (a secret).
            let text = |v: &Value| {
                contents_text(v)
                    .map_err(|_| format!("{arg} {key}: the value is a {}, not text", type_name(v)))
            };
            match lookup(key)? {
                Value::Null => return Ok(Some(None)),
                Value::Array(items) => items.iter().map(text).collect::<Result<_, _>>()?,
                other => vec![text(other)?],
            }
        }
    };
    let mut text = String::new();
    for part in &parts {
        for line in python_splitlines(part) {
            text.push_str(line);
            text.push('\n');
        }
    }
    if !a.contents_newline {
        let trimmed = text.trim_end_matches('\n').trim_end_matches('\r').len();
        text.truncate(trimmed);
    }
    Ok(Some(Some(text)))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

/// Python's `str.splitlines()`: lines without their break, split at
/// `\n`, `\r\n`, `\r` and the other line boundaries Python knows.
fn python_splitlines(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let boundary = matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if !boundary {
            continue;
        }
        out.push(&s[start..i]);
        let mut end = i + c.len_utf8();
        if c == '\r' {
            if let Some((j, '\n')) = chars.peek().copied() {
                chars.next();
                end = j + 1;
            }
        }
        start = end;
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// What Salt's file.managed hands every source template besides the
/// host's data (salt/modules/file.py get_managed): `source` (the URL of
/// the source found), `name`, `user`, `group`, `mode`, `attrs`, `saltenv`.
fn source_template_vars(
    ctx: &BuildCtx,
    src: &Value,
    name: &str,
    a: &Args,
) -> BTreeMap<String, Value> {
    let found = pick_source(ctx.states_root, src).ok();
    let arg = |v: &Option<Value>| v.clone().unwrap_or(Value::Null);
    BTreeMap::from([
        (
            "source".to_string(),
            found.map_or(Value::Null, |(rel, _)| {
                Value::String(format!("salt://{rel}"))
            }),
        ),
        ("name".to_string(), Value::String(name.to_string())),
        ("user".to_string(), arg(&a.user)),
        ("group".to_string(), arg(&a.group)),
        (
            "mode".to_string(),
            a.mode.as_ref().map_or(Value::Null, normalize_mode),
        ),
        ("attrs".to_string(), Value::Null),
        ("saltenv".to_string(), Value::String("base".into())),
    ])
}

/// Salt's `salt.utils.files.normalize_mode`: the mode as text, `0o` read
/// as `0`, quotes and leading zeros dropped, then zero-filled to 4 digits.
fn normalize_mode(mode: &Value) -> Value {
    let text = match mode {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let text = text.replace("0o", "0");
    let digits = text
        .trim_matches('"')
        .trim_matches('\'')
        .trim_start_matches('0');
    Value::String(format!("{digits:0>4}"))
}

/// The first source that exists (Salt tries a list in order).
fn pick_source(
    root: &std::path::Path,
    src: &Value,
) -> Result<(String, std::path::PathBuf), String> {
    let list: Vec<&str> = match src {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| format!("source `{v}` is not a salt:// URL"))
            })
            .collect::<Result<_, _>>()?,
        other => return Err(format!("source `{other}` is not a salt:// URL")),
    };
    if list.is_empty() {
        return Err("source is an empty list".into());
    }
    for url in &list {
        match resolve_salt_url(root, url) {
            Ok(found) => return Ok(found),
            Err(SourceError::Missing) => continue,
            Err(SourceError::Escape) => {
                return Err(format!("source {url} is outside the states root"))
            }
            Err(SourceError::Unsupported) => {
                return Err(format!(
                    "source {url} is not supported (only salt:// sources are)"
                ))
            }
        }
    }
    Err(format!(
        "source file not found: {} (under {})",
        list.join(", "),
        root.display()
    ))
}

/// A `salt://` file of hashes, read on the controller: the digest it gives
/// for `name` downloaded from `source` ([`remote::extract_hash`]).
fn salt_hash_file(
    ctx: &BuildCtx,
    url: &str,
    name: &str,
    source: &str,
    a: &Args,
) -> Result<Digest, String> {
    let real = match resolve_salt_url(ctx.states_root, url) {
        Ok((_, real)) => real,
        Err(SourceError::Missing) => return Err(format!("Source hash file {url} not found")),
        Err(_) => return Err(format!("source_hash {url} is outside the states root")),
    };
    let text = std::fs::read(&real).map_err(|e| format!("cannot read {}: {e}", real.display()))?;
    remote::extract_hash(
        &String::from_utf8_lossy(&text),
        name,
        source,
        a.source_hash_name.as_deref(),
    )
    .ok_or_else(|| remote::no_hash_in_file(url))
}

impl StateFunction for Managed {
    fn managed(&self) -> Vec<crate::modules::Managed> {
        crate::modules::Managed::present("file", &self.name)
    }

    fn shared_probe(&self) -> Option<crate::modules::SharedProbe> {
        Some(super::shared_probe(
            &self.name,
            true,
            self.expected_sha256().is_some(),
        ))
    }

    fn probe(&self) -> String {
        let mut s = match self.remote.as_ref().map(|r| r.probe(&self.name)) {
            // Its own shell: it may `exit`, and the file probe follows.
            Some(lines) if !lines.is_empty() => format!("(\n{lines})\n"),
            _ => String::new(),
        };
        s.push_str(&super::probe_with(&self.name, true, self.expected_sha256()));
        s
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let f = parse_facts(out.text)?;
        let name = &self.name;
        let fetched = match &self.remote {
            Some(r) => Some(
                r.parse(name, out.text)
                    .map_err(|e| format!("Unable to manage file: {e}"))?,
            ),
            None => None,
        };
        let expect = match (&self.remote, &fetched) {
            (Some(r), Some(facts)) => r.expected(facts),
            _ => None,
        };
        match f.kind {
            Kind::Dir => Err(format!("Specified target {name} is a directory")),
            Kind::Other | Kind::Symlink => Err(format!(
                "Specified target {name} exists and is not a regular file"
            )),
            Kind::Dangling => Err(format!(
                "{name} is a symbolic link to {}, which does not exist",
                f.link_target.as_deref().unwrap_or("?")
            )),
            Kind::Missing => {
                if !self.create {
                    return Ok(Plan::noop(format!(
                        "File {name} is not present and is not set for creation"
                    )));
                }
                match f.parent_dir {
                    Some(true) => {}
                    Some(false) => return Err(format!("The parent of {name} is not a directory")),
                    // An earlier state of this run (a package) may create the
                    // parent: the apply checks it again when the state's turn comes.
                    None => {}
                }
                let mut changes = serde_json::Map::new();
                changes.insert("diff".into(), json!("New file"));
                changes.extend(self.perms.declared());
                Ok(Plan::change(
                    Value::Object(changes),
                    format!("The file {name} is set to be changed"),
                )
                .with_data(Write(true, expect)))
            }
            Kind::File => {
                let mut changes = serde_json::Map::new();
                // What the file must hold, as far as the controller knows:
                // its digest, and its bytes when they can be diffed.
                let (want, host_has, new): (Option<&str>, Option<&str>, Option<&[u8]>) =
                    match (&self.remote, &fetched) {
                        (Some(r), Some(facts)) => match (&r.check, &facts.digest) {
                            (Check::Skip, _) | (_, None) => (
                                facts.fetched_sha256.as_deref(),
                                f.sha256.as_deref(),
                                facts.fetched.as_deref(),
                            ),
                            (_, Some(d)) if d.kind == remote::HashKind::Sha256 => {
                                (Some(d.hex.as_str()), f.sha256.as_deref(), None)
                            }
                            (_, Some(d)) => (Some(d.hex.as_str()), facts.sum.as_deref(), None),
                        },
                        _ => (
                            self.sha256.as_deref(),
                            f.sha256.as_deref(),
                            self.content.as_deref(),
                        ),
                    };
                let write = self.replace && want.is_some() && want != host_has;
                if write {
                    let diff = match (&f.content, new) {
                        _ if !self.show_changes => "<show_changes=False>".to_string(),
                        (Some(old), Some(new)) => diff_text(old, new),
                        (_, None) if self.hash_checked() => "Replace file (a remote source \
                            checked by its hash is only downloaded by the apply, not diffed)"
                            .to_string(),
                        _ => format!(
                            "Replace file (over {} KiB, not diffed)",
                            super::DIFF_LIMIT / 1024
                        ),
                    };
                    changes.insert("diff".into(), json!(diff));
                }
                changes.extend(self.perms.drift(&f));
                if changes.is_empty() {
                    // Salt: a remote file already matching its source_hash
                    // is left alone as with `replace: False`.
                    let comment =
                        if (self.replace || self.content.is_none()) && !self.hash_checked() {
                            format!("File {name} is in the correct state")
                        } else {
                            format!("File {name} exists with proper permissions. No changes made.")
                        };
                    return Ok(Plan::noop(comment));
                }
                Ok(Plan::change(
                    Value::Object(changes),
                    format!("The file {name} is set to be changed"),
                )
                .with_data(Write(write, expect)))
            }
        }
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let mut s = format!(
            "p={}\n# Salt follows symlinks: manage the file the link points to.\nif [ -L \"$p\" ]; then r=$(readlink -f -- \"$p\") || exit 1; p=$r; fi\n",
            quote(&self.name)
        );
        let Write(write, expect) = plan.data::<Write>()?;
        if !write {
            s.push_str(&self.perms.commands(&plan.changes, "p", "exit 1"));
            return Ok(s);
        }
        s.push_str("d=$(dirname -- \"$p\")\n");
        if self.makedirs {
            s.push_str(&mkdirs_function(&self.dir_perms));
            s.push_str("mk \"$d\" || exit 1\n");
        } else {
            s.push_str(&format!(
                "[ -d \"$d\" ] || {{ echo {}; exit 1; }}\n",
                quote(&format!(
                    "Parent directory of {} is not present (use makedirs: True)",
                    self.name
                ))
            ));
        }
        let fill = match (&self.remote, expect) {
            (Some(r), Some(d)) => r.fill(d),
            (Some(_), None) => {
                return Err(PlanMismatch {
                    expected: "a remote source's digest",
                    found: "none",
                })
            }
            (None, _) => super::b64_heredoc(
                self.content.as_deref().unwrap_or_default(),
                "\"$tmp\"",
                "fail",
            ),
        };
        s.push_str(&write_with(&fill, &self.perms, self.backup, ""));
        Ok(s)
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        if let Err(e) = plan.data::<Write>() {
            return e.into();
        }
        if out.rc == 0 {
            Applied {
                result: true,
                changes: plan.changes.clone(),
                comment: format!("File {} updated", self.name),
            }
        } else if let Some(why) = self.remote.as_ref().and_then(|r| {
            let expect = plan.data::<Write>().ok().and_then(|w| w.1.as_ref());
            r.failure(&self.name, expect, out.text)
        }) {
            Applied {
                result: false,
                changes: serde_json::Map::new(),
                comment: why,
            }
        } else {
            Applied {
                result: false,
                changes: serde_json::Map::new(),
                comment: format!(
                    "Unable to manage file {} (exit {}): {}",
                    self.name,
                    out.rc,
                    out.text.trim()
                ),
            }
        }
    }
}

/// The atomic write shared by `file.managed` and the editing functions
/// (`file.replace`, `file.line`...): `content` goes to a temporary file in
/// the target's directory (shell variable `d`), which takes the existing
/// file's owner and mode (a new one: the umask's mode, not mktemp's 0600),
/// then `perms`' declared attributes, and is renamed over `$p`, so the host
/// never sees a half-written file. `backup`: the replaced file is copied to
/// [`BACKUP_DIR`] first. `guard`: shell lines run once the temporary file is
/// written, before anything else changes (they may `fail`).
pub(crate) fn write_snippet(content: &[u8], perms: &Perms, backup: bool, guard: &str) -> String {
    write_with(
        &super::b64_heredoc(content, "\"$tmp\"", "fail"),
        perms,
        backup,
        guard,
    )
}

/// [`write_snippet`] with `fill`: the lines writing the temporary file
/// `$tmp` (they may `fail`), a remote source's download for one.
fn write_with(fill: &str, perms: &Perms, backup: bool, guard: &str) -> String {
    let mut s = String::from(
        "tmp=$(mktemp \"$d/.halite.XXXXXX\") || exit 1\n\
         fail() { rm -f -- \"$tmp\"; exit 1; }\n",
    );
    s.push_str(fill);
    s.push_str(guard);
    // A replaced file keeps its owner and mode unless declared; a new
    // one gets the umask's mode, not mktemp's 0600.
    s.push_str(
        "if [ -e \"$p\" ]; then\n\
         o=$(stat -c '%u:%g' -- \"$p\") && chown -- \"$o\" \"$tmp\" || fail\n\
         m=$(stat -c '%a' -- \"$p\") && chmod -- \"$m\" \"$tmp\" || fail\n",
    );
    if backup {
        s.push_str(&format!(
            "b={}\"$p\"_$(date -u +%Y%m%dT%H%M%SZ)\n\
             mkdir -p -- \"$(dirname -- \"$b\")\" && cp -p -- \"$p\" \"$b\" || fail\n",
            BACKUP_DIR
        ));
    }
    s.push_str(
        "else\n\
         u=$(umask)\n\
         chmod -- \"$(printf %o $((0666 & ~0$u)))\" \"$tmp\" || fail\n\
         fi\n",
    );
    s.push_str(&perms.commands(&perms.declared(), "tmp", "fail"));
    s.push_str("mv -f -- \"$tmp\" \"$p\" || fail\n");
    s
}
