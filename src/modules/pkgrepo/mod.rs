//! `pkgrepo.managed` and `pkgrepo.absent` for apt (one-line `deb` sources),
//! with Salt's argument names where Salt has them; on dnf/yum hosts (the
//! `pkg_manager` grain) the `.repo` files of [`yum`].
//!
//! A repository is a `deb` line (`name: deb [opts] URI DIST COMPS`, or its
//! parts `uri`, `dist`, `comps`, `architectures`) in a sources file (`file`,
//! default `/etc/apt/sources.list.d/<uri>_<dist>.list`). Other lines of that
//! file are kept; a line for the same type, URI and distribution is replaced
//! (one in another file is not looked for: apt warns about such duplicates).
//! The new file content is computed on the controller from the probe's copy,
//! so `test=True` shows exactly the line that will change.
//!
//! A signing key (`key_url: salt://...` or `key_text`) is written as it is to
//! a keyring file referenced with `signed-by=`: an ASCII-armored key to a
//! `.asc` file, which apt reads directly, a binary one to `.gpg`. Nothing is
//! dearmored, so gpg is not needed on the target. `signedby` names the
//! keyring (default `/etc/apt/keyrings/<uri>_<dist>.asc|.gpg`).
//!
//! The package index is refreshed only when the repository changed (its line
//! or key), and only for its sources file (`apt-get update` with that file as
//! the only source list; other lists are kept). `pkgrepo.absent` removes the
//! line (the file too when nothing else is left in it), the keyring halite
//! made for it, and the repository's downloaded lists, so the index no
//! longer offers its packages; no network is needed. deb822 `.sources` files
//! are neither read nor written.

use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

mod yum;
mod zypper;

use super::{Applied, BuildCtx, FnDef, ModuleDef, Output, Plan, PlanMismatch, StateFunction};
use crate::modules::file::{encode_b64, resolve_salt_url, SourceError};
use crate::platform::report::{markers, message};
use crate::platform::{openpgp, PkgBackend};
use crate::state::Chunk;
use crate::transport::quote::quote;
use crate::Value;

pub const MODULE: ModuleDef = ModuleDef {
    name: "pkgrepo",
    functions: &[
        FnDef {
            name: "managed",
            doc: "Ensure a repository is configured. apt: name: the deb line (or uri, dist, comps, architectures), file, key_url: salt://.. or key_text (signed-by keyring, signedby: path), refresh. dnf/yum: name: the repo id, humanname, baseurl or mirrorlist, gpgcheck, gpgkey, enabled/disabled, file, refresh.",
            args: &[
                "uri",
                "dist",
                "comps",
                "architectures",
                "file",
                "key_url",
                "key_text",
                "signedby",
                "refresh",
                "humanname",
                "baseurl",
                "mirrorlist",
                "gpgcheck",
                "gpgkey",
                "enabled",
                "disabled",
            ],
            build: build_managed,
        },
        FnDef {
            name: "absent",
            doc: "Ensure a repository is not configured. apt: name: the deb line, or uri and dist; file; with its keyring and lists; keyid: the signing key's keyring goes too. dnf/yum: name: the repo id (its section goes, the file too once empty).",
            args: &[
                "uri",
                "dist",
                "comps",
                "architectures",
                "file",
                "signedby",
                "keyid",
                "keyid_ppa",
            ],
            build: build_absent,
        },
    ],
    ledger: &[],
};

/// Where halite puts keyrings unless told otherwise.
pub const KEYRINGS: &str = "/etc/apt/keyrings";
const SOURCES_D: &str = "/etc/apt/sources.list.d";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    uri: Option<String>,
    dist: Option<String>,
    comps: Option<Value>,
    architectures: Option<Value>,
    file: Option<String>,
    key_url: Option<String>,
    key_text: Option<String>,
    signedby: Option<String>,
    refresh: Option<bool>,
    /// absent: a string, or a YAML number (`keyid: 12345678`).
    keyid: Option<Value>,
    keyid_ppa: Option<bool>,
}

/// One `deb` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebLine {
    /// `deb` or `deb-src`.
    pub kind: String,
    /// `[key=value ...]`, in the order written.
    pub options: Vec<(String, String)>,
    pub uri: String,
    pub dist: String,
    pub comps: Vec<String>,
}

impl DebLine {
    /// Parse a one-line source; `None` for comments, blanks and other text.
    pub fn parse(line: &str) -> Option<DebLine> {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace().peekable();
        let kind = words.next()?;
        if kind != "deb" && kind != "deb-src" {
            return None;
        }
        let mut options = Vec::new();
        if words.peek().is_some_and(|w| w.starts_with('[')) {
            let mut text = String::new();
            for w in words.by_ref() {
                text.push(' ');
                text.push_str(w);
                if w.ends_with(']') {
                    break;
                }
            }
            let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
            for opt in inner.split_whitespace() {
                let (k, v) = opt.split_once('=')?;
                options.push((k.to_string(), v.to_string()));
            }
        }
        let uri = words.next()?.to_string();
        let dist = words.next()?.to_string();
        let comps: Vec<String> = words.map(str::to_string).collect();
        if comps.is_empty() && !dist.ends_with('/') {
            return None;
        }
        Some(DebLine {
            kind: kind.to_string(),
            options,
            uri,
            dist,
            comps,
        })
    }

    pub fn render(&self) -> String {
        let mut s = self.kind.clone();
        if !self.options.is_empty() {
            let opts: Vec<String> = self
                .options
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            s.push_str(&format!(" [{}]", opts.join(" ")));
        }
        s.push_str(&format!(" {} {}", self.uri, self.dist));
        for c in &self.comps {
            s.push(' ');
            s.push_str(c);
        }
        s
    }

    /// The same repository: type, URI (without a trailing `/`) and distribution.
    pub fn same_repo(&self, other: &DebLine) -> bool {
        self.kind == other.kind
            && self.uri.trim_end_matches('/') == other.uri.trim_end_matches('/')
            && self.dist == other.dist
    }

    /// The same repository configured the same way (option order aside).
    pub fn same(&self, other: &DebLine) -> bool {
        let sorted = |l: &DebLine| {
            let mut o = l.options.clone();
            o.sort();
            o
        };
        self.same_repo(other) && self.comps == other.comps && sorted(self) == sorted(other)
    }

    fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `host_path_dist` from the URI and distribution: the default file and
    /// keyring name.
    pub fn derived_name(&self) -> String {
        let uri = self
            .uri
            .split_once(':')
            .map(|(_, rest)| rest)
            .unwrap_or(&self.uri);
        let mut name = String::new();
        for part in [
            uri,
            if self.dist.ends_with('/') {
                ""
            } else {
                &self.dist
            },
        ] {
            let clean: String = part
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let clean = clean.trim_matches(|c| c == '_' || c == '.');
            if !clean.is_empty() {
                if !name.is_empty() {
                    name.push('_');
                }
                name.push_str(clean);
            }
        }
        let mut out = String::new();
        for c in name.chars() {
            if !(c == '_' && out.ends_with('_')) {
                out.push(c);
            }
        }
        if out.is_empty() {
            "halite-repo".into()
        } else {
            out
        }
    }
}

/// A key's bytes and whether it is ASCII-armored.
#[derive(Debug)]
struct Key {
    bytes: Vec<u8>,
    armored: bool,
    sha256: String,
}

#[derive(Debug)]
struct Repo {
    managed: bool,
    line: DebLine,
    file: String,
    key: Option<Key>,
    /// The keyring the line refers to with signed-by (written when `key`).
    keyring: Option<String>,
    /// Keyrings `absent` removes when they exist.
    removable_keyrings: Vec<String>,
    refresh: bool,
    /// absent: the signing key to remove with the repository (uppercase
    /// hex, 8, 16 or 40 digits).
    keyid: Option<String>,
}

/// Where apt finds trusted keys that `keyid` may name: the legacy keyring,
/// its fragments and the conventional directory for third-party keys
/// (/usr/share/keyrings belongs to packages and is left alone).
const KEY_PLACES: &str = "/etc/apt/trusted.gpg /etc/apt/trusted.gpg.d/* /etc/apt/keyrings/*";

/// A key id as Salt takes it (apt-key accepts the same forms): 8 or 16
/// hex digits, or a whole v4 fingerprint; `0x` is allowed.
fn key_id(v: &Value) -> Result<String, String> {
    let text = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        other => return Err(format!("keyid `{other}` is not a key id")),
    };
    let hex = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(&text)
        .replace(' ', "");
    if matches!(hex.len(), 8 | 16 | 40) && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hex.to_ascii_uppercase())
    } else {
        Err(format!(
            "keyid `{text}` is not a key id (8 or 16 hex digits, or a 40-digit fingerprint)"
        ))
    }
}

fn text_list(v: Option<&Value>) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s
            .split([',', ' '])
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("`{v}` is not a string"))
            })
            .collect(),
        Some(other) => Err(format!("`{other}` is not a list")),
    }
}

pub(super) fn check_path(what: &str, p: &str) -> Result<(), String> {
    if !p.starts_with('/')
        || p.contains(|c: char| c.is_control())
        || p.split('/').any(|s| s == "..")
    {
        return Err(format!("{what} `{p}` must be an absolute path"));
    }
    Ok(())
}

/// The line a state declares: `name` when it is a deb line, else its parts.
fn declared_line(chunk: &Chunk, a: &Args) -> Result<DebLine, String> {
    let name = chunk.name.trim();
    let from_name = name.starts_with("deb ") || name.starts_with("deb-src ");
    let mut line = if from_name {
        if a.uri.is_some() || a.dist.is_some() || a.comps.is_some() {
            return Err(
                "give the repository as a deb line in `name` or as uri/dist/comps, not both".into(),
            );
        }
        DebLine::parse(name).ok_or_else(|| format!("`{name}` is not a valid deb line"))?
    } else {
        let uri = a
            .uri
            .clone()
            .ok_or("`name` is not a deb line (`deb URI DIST COMPS`), and no `uri` is given")?;
        let dist = a.dist.clone().ok_or("`dist` is required with `uri`")?;
        let comps = text_list(a.comps.as_ref())?;
        if comps.is_empty() && !dist.ends_with('/') {
            return Err("`comps` is required unless `dist` ends with / (a flat repository)".into());
        }
        DebLine {
            kind: "deb".into(),
            options: Vec::new(),
            uri,
            dist,
            comps,
        }
    };
    let archs = text_list(a.architectures.as_ref())?;
    if !archs.is_empty() {
        if line.option("arch").is_some() {
            return Err("the deb line already gives arch=; drop `architectures`".into());
        }
        line.options.push(("arch".into(), archs.join(",")));
    }
    let words = std::iter::once(&line.uri)
        .chain(std::iter::once(&line.dist))
        .chain(&line.comps);
    for w in words {
        if w.starts_with('-')
            || w.contains(|c: char| {
                c.is_whitespace() || c.is_control() || c == '[' || c == ']' || c == '#'
            })
        {
            return Err(format!("`{w}` is not valid in a deb line"));
        }
    }
    if !line.uri.contains(':') {
        return Err(format!("`{}` is not a URI", line.uri));
    }
    Ok(line)
}

fn build(chunk: &Chunk, ctx: &BuildCtx, managed: bool) -> Result<Box<dyn StateFunction>, String> {
    let own = MODULE
        .functions
        .iter()
        .find(|f| f.name == if managed { "managed" } else { "absent" })
        .map_or(&[][..], |f| f.args);
    if let Some(k) = chunk.args.keys().find(|k| !own.contains(&k.as_str())) {
        return Err(format!(
            "{}: invalid arguments: unknown field `{k}`",
            chunk.describe()
        ));
    }
    let a: Args = super::typed_args(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    let mut line = declared_line(chunk, &a).map_err(err)?;
    let derived = line.derived_name();
    let file = a
        .file
        .clone()
        .unwrap_or_else(|| format!("{SOURCES_D}/{derived}.list"));
    check_path("file", &file).map_err(err)?;
    let key = match (&a.key_url, &a.key_text) {
        (Some(_), Some(_)) => return Err(err("give key_url or key_text, not both".into())),
        (Some(url), None) => {
            let (_, real) = resolve_salt_url(ctx.states_root, url).map_err(|e| {
                err(match e {
                    SourceError::Unsupported => format!(
                        "key_url {url} is not supported: only salt:// keys are (the controller ships them)"
                    ),
                    SourceError::Escape => format!("key_url {url} is outside the states root"),
                    SourceError::Missing => format!("key_url {url} not found"),
                })
            })?;
            Some(
                std::fs::read(&real)
                    .map_err(|e| err(format!("cannot read {}: {e}", real.display())))?,
            )
        }
        (None, Some(text)) => Some(text.trim().as_bytes().to_vec()),
        (None, None) => None,
    };
    let key = key.map(|mut bytes| {
        let armored = bytes.starts_with(b"-----BEGIN PGP PUBLIC KEY BLOCK-----");
        if armored && !bytes.ends_with(b"\n") {
            bytes.push(b'\n');
        }
        let sha256 = data_encoding::HEXLOWER.encode(&Sha256::digest(&bytes));
        Key {
            bytes,
            armored,
            sha256,
        }
    });
    if let Some(k) = &key {
        if !k.armored && k.bytes.first().is_none_or(|b| b & 0x80 == 0) {
            return Err(err(
                "the key is neither an ASCII-armored public key block nor a binary OpenPGP key"
                    .into(),
            ));
        }
    }
    let in_line = line.option("signed-by").map(str::to_string);
    if let (Some(l), Some(s)) = (&in_line, &a.signedby) {
        if l != s {
            return Err(err(format!(
                "the deb line says signed-by={l} but signedby is {s}"
            )));
        }
    }
    let default_keyring = |armored: bool| {
        format!(
            "{KEYRINGS}/{derived}.{}",
            if armored { "asc" } else { "gpg" }
        )
    };
    let keyring = in_line
        .or(a.signedby.clone())
        .or_else(|| key.as_ref().map(|k| default_keyring(k.armored)));
    if let Some(k) = &keyring {
        check_path("signed-by", k).map_err(err)?;
        // A signed-by that is not a path (a fingerprint) is left to apt.
        if line.option("signed-by").is_none() && managed {
            line.options.push(("signed-by".into(), k.clone()));
        }
    }
    if let (Some(k), Some(path)) = (&key, &keyring) {
        if k.armored && path.ends_with(".gpg") {
            return Err(err(format!(
                "the key is ASCII-armored and apt reads armored keys only from .asc files: name the keyring {}.asc (signedby), or ship the key dearmored",
                path.trim_end_matches(".gpg")
            )));
        }
        if !k.armored && path.ends_with(".asc") {
            return Err(err(format!(
                "the key is binary: its keyring {path} must not end in .asc"
            )));
        }
    }
    if a.keyid_ppa == Some(true) {
        return Err(err(
            "keyid_ppa looks the key up on launchpad.net, which halite does not do: give keyid"
                .into(),
        ));
    }
    let keyid = a.keyid.as_ref().map(key_id).transpose().map_err(err)?;
    let mut removable_keyrings = vec![default_keyring(true), default_keyring(false)];
    removable_keyrings.extend(a.signedby.clone());
    Ok(Box::new(Repo {
        managed,
        line,
        file,
        key,
        keyring,
        removable_keyrings,
        refresh: a.refresh.unwrap_or(true),
        keyid,
    }))
}

fn build_managed(chunk: &Chunk, ctx: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    build_for(chunk, ctx, true)
}

fn build_absent(chunk: &Chunk, ctx: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    build_for(chunk, ctx, false)
}

/// The host's package manager decides what a repository is.
fn build_for(
    chunk: &Chunk,
    ctx: &BuildCtx,
    managed: bool,
) -> Result<Box<dyn StateFunction>, String> {
    let backend = PkgBackend::from_grains(ctx.renderer.map(|r| r.grains()));
    if !managed
        && matches!(backend, Ok(PkgBackend::Dnf(_) | PkgBackend::Zypper))
        && ["keyid", "keyid_ppa"]
            .iter()
            .any(|k| chunk.args.get(*k).is_some_and(|v| !v.is_null()))
    {
        // Salt has no del_repo_key there: the state fails, the others run.
        return Ok(Box::new(KeyRefused {
            state: chunk.describe(),
        }));
    }
    match backend {
        Ok(PkgBackend::Apt) => build(chunk, ctx, managed),
        Ok(PkgBackend::Dnf(tool)) => yum::build(chunk, managed, tool),
        Ok(PkgBackend::Zypper) => zypper::build(chunk, managed),
        Ok(PkgBackend::Pacman) => Err(format!(
            "{}: pkgrepo on pacman is not supported yet (a repository is a section of /etc/pacman.conf: manage that file)",
            chunk.describe()
        )),
        Err(e) => Err(format!("{}: {e}", chunk.describe())),
    }
}

/// `pkgrepo.absent` with `keyid` on dnf/yum or zypper, whose Salt modules
/// have no `del_repo_key`: the state fails at plan time, changing nothing.
#[derive(Debug)]
struct KeyRefused {
    state: String,
}

impl StateFunction for KeyRefused {
    fn probe(&self) -> String {
        String::from(":\n")
    }

    fn plan(&self, _: Output) -> Result<Plan, String> {
        Err(format!(
            "{}: Repo key management is not implemented for this platform (keyid is for apt; rpm keys are rpm's: `rpm -e gpg-pubkey-...`)",
            self.state
        ))
    }

    fn plan_reads_host(&self) -> bool {
        false
    }

    fn apply(&self, _: &Plan) -> Result<String, PlanMismatch> {
        Ok(String::new())
    }
}

const CHECK_APT: &str = "if ! command -v apt-get >/dev/null 2>&1; then\n\
     \th_pm=unknown\n\
     \tfor h_t in dnf yum zypper apk pacman; do command -v \"$h_t\" >/dev/null 2>&1 && { h_pm=$h_t; break; }; done\n\
     \tprintf '@@unsupported %s\\n' \"$h_pm\"\n\
     \texit 1\n\
     fi\n";

/// The sources files the probe printed: path -> content.
pub(super) fn files(text: &str) -> Result<Vec<(String, String)>, String> {
    Ok(blocks(text, "file")?
        .into_iter()
        .map(|(path, bytes)| (path, String::from_utf8_lossy(&bytes).into_owned()))
        .collect())
}

/// The files the probe printed in base64 between `@@TAG PATH` and
/// `@@endTAG`: path -> bytes.
fn blocks(text: &str, tag: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let (start, end) = (format!("@@{tag} "), format!("@@end{tag}"));
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(path) = line.strip_prefix(&start) {
            current = Some((path.to_string(), String::new()));
        } else if line == end {
            let (path, b64) = current.take().ok_or("unexpected probe output")?;
            let bytes = data_encoding::BASE64
                .decode(b64.as_bytes())
                .map_err(|e| format!("unreadable copy of {path}: {e}"))?;
            out.push((path, bytes));
        } else if let Some((_, b64)) = &mut current {
            b64.push_str(line.trim());
        }
    }
    Ok(out)
}

/// Write `content` to `path` through a temporary file beside it.
pub(super) fn write_file(path: &str, bytes: &[u8], mode: &str) -> String {
    let mut s = format!(
        "h_p={p}\nh_d=$(dirname -- \"$h_p\")\nmkdir -p -- \"$h_d\" || exit\n\
         h_t=$(mktemp \"$h_d/.halite.XXXXXX\") || exit\n\
         base64 -d >\"$h_t\" <<'HALITE_EOF' || {{ rm -f -- \"$h_t\"; exit 1; }}\n",
        p = quote(path)
    );
    for chunk in encode_b64(bytes).as_bytes().chunks(76) {
        s.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        s.push('\n');
    }
    s.push_str(&format!(
        "HALITE_EOF\nchmod {mode} \"$h_t\" && mv -f -- \"$h_t\" \"$h_p\" || {{ rm -f -- \"$h_t\"; exit 1; }}\n"
    ));
    s
}

/// Index files (and their Release files) of the sources apt-get indextargets
/// is given; one path a line.
const TARGETS_AWK: &str = r#"awk '/^URI: /{u=substr($0,6)} /^Base-URI: /{b=substr($0,11)} /^Filename: /{f=substr($0,11)}
/^$/{if(f!=""){print f; p=substr(f,1,length(f)-(length(u)-length(b))); print p "InRelease"; print p "Release"; print p "Release.gpg"} u="";b="";f=""}
END{if(f!=""){print f; p=substr(f,1,length(f)-(length(u)-length(b))); print p "InRelease"; print p "Release"; print p "Release.gpg"}}'"#;

impl Repo {
    /// The file's new content with the declared line in place of any line
    /// for the same repository (kept where the first one was).
    fn managed_content(&self, old: &str) -> (String, Option<String>) {
        let want = self.line.render();
        let mut out = Vec::new();
        let mut placed = false;
        let mut old_line = None;
        for l in old.lines() {
            match DebLine::parse(l) {
                Some(d) if d.same_repo(&self.line) => {
                    old_line.get_or_insert_with(|| l.trim().to_string());
                    if !placed {
                        out.push(want.clone());
                        placed = true;
                    }
                }
                _ => out.push(l.to_string()),
            }
        }
        if !placed {
            out.push(want);
        }
        let mut text = out.join("\n");
        text.push('\n');
        (text, old_line)
    }

    fn plan_managed(&self, text: &str) -> Result<Plan, String> {
        let m = markers(text);
        let found = files(text)?;
        let old = found.first().map(|(_, c)| c.as_str());
        let mut changes = serde_json::Map::new();
        let mut new_content = None;
        let mut new_key = false;
        let (content, old_line) = self.managed_content(old.unwrap_or(""));
        let existing: Vec<DebLine> = old
            .unwrap_or("")
            .lines()
            .filter_map(DebLine::parse)
            .filter(|d| d.same_repo(&self.line))
            .collect();
        let same = existing.len() == 1 && existing[0].same(&self.line);
        let want = self.line.render();
        if !same {
            changes.insert(
                "repo".into(),
                json!({"old": old_line.unwrap_or_default(), "new": want}),
            );
            new_content = Some(content);
        }
        if let Some(k) = &self.key {
            let have = m.get("key").map(|v| v.trim()).unwrap_or("");
            if have != k.sha256 {
                changes.insert("key".into(), json!({"old": have, "new": k.sha256}));
                new_key = true;
            }
        }
        if changes.is_empty() {
            return Ok(Plan::noop(format!(
                "Package repo '{want}' already configured in {}",
                self.file
            )));
        }
        let mut comment = format!("Package repo '{want}' will be configured in {}", self.file);
        if new_key {
            comment.push_str(&format!(
                ", with its key in {}",
                self.keyring.as_deref().unwrap_or("")
            ));
        }
        if self.refresh {
            comment.push_str("; its package index will be refreshed");
        }
        Ok(
            Plan::change(serde_json::Value::Object(changes), comment).with_data(
                RepoTodo::Configure {
                    content: new_content,
                    key: new_key,
                },
            ),
        )
    }

    /// The apply lines of a `managed` plan: the keyring and the sources
    /// file when they change, then the repository's own index refresh.
    fn configure_lines(&self, s: &mut String, content: Option<&str>, key: bool) {
        if let (Some(k), Some(path), true) = (&self.key, &self.keyring, key) {
            s.push_str(&write_file(path, &k.bytes, "644"));
        }
        if let Some(c) = content {
            s.push_str(&write_file(&self.file, c.as_bytes(), "644"));
        }
        if self.refresh {
            s.push_str(&format!(
                "printf '@@refresh\\n'\n\
                 h_out=$(apt-get -q update -o Dir::Etc::SourceList={f} -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0 2>&1 </dev/null)\n\
                 h_rc=$?\n\
                 printf '%s\\n' \"$h_out\"\n\
                 case $h_rc:$h_out in\n\
                 0:*'W: GPG error'* | 0:*'W: Failed to fetch'* | 0:*'signature verification'* | 0:*'E: '*) h_rc=100 ;;\n\
                 esac\n\
                 if [ \"$h_rc\" -ne 0 ]; then printf '@@refresh_failed %s\\n' \"$h_rc\"; exit 1; fi\n",
                f = quote(&self.file)
            ));
        }
    }

    fn plan_absent(&self, text: &str) -> Result<Plan, String> {
        let mut edits = Vec::new();
        let mut removed_lines = Vec::new();
        for (path, content) in files(text)? {
            let mut kept = Vec::new();
            let mut dropped = false;
            for l in content.lines() {
                match DebLine::parse(l) {
                    Some(d) if d.same_repo(&self.line) => {
                        removed_lines.push(l.trim().to_string());
                        dropped = true;
                    }
                    _ => kept.push(l),
                }
            }
            if !dropped {
                continue;
            }
            let empty = kept
                .iter()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
            let edit = if empty && path.starts_with(&format!("{SOURCES_D}/")) {
                None
            } else {
                let mut t = kept.join("\n");
                t.push('\n');
                Some(t)
            };
            edits.push((path, edit));
        }
        let keyrings: Vec<String> = self
            .removable_keyrings
            .iter()
            .filter(|k| {
                text.lines()
                    .any(|l| l.strip_prefix("@@keyfile ") == Some(k.as_str()))
            })
            .cloned()
            .collect();
        if removed_lines.is_empty() && keyrings.is_empty() {
            return Ok(Plan::noop(format!(
                "Package repo {} {} is absent",
                self.line.uri, self.line.dist
            )));
        }
        // As Salt: the key goes only with the repository (an absent
        // repository leaves every key alone).
        let mut key_files = Vec::new();
        let mut key_note = String::new();
        if let (Some(id), false) = (&self.keyid, removed_lines.is_empty()) {
            key_files = self.keyid_files(id, text)?;
            key_note = if key_files.is_empty() {
                format!("; key {id} is in none of apt's keyrings ({KEY_PLACES})")
            } else {
                format!(", and keyid {id} ({})", key_files.join(", "))
            };
        }
        let mut changes = serde_json::Map::new();
        if !removed_lines.is_empty() {
            changes.insert("repo".into(), json!({"old": removed_lines, "new": ""}));
        }
        if !keyrings.is_empty() {
            changes.insert("key".into(), json!({"old": keyrings, "new": ""}));
        }
        if let (Some(id), false) = (&self.keyid, key_files.is_empty()) {
            changes.insert("keyid".into(), json!(id));
        }
        let mut keyrings = keyrings;
        for f in key_files {
            if !keyrings.contains(&f) {
                keyrings.push(f);
            }
        }
        Ok(Plan::change(
            Value::Object(changes),
            format!(
                "Package repo {} {} will be removed, with its lists{key_note}",
                self.line.uri, self.line.dist
            ),
        )
        .with_data(RepoTodo::Remove {
            edits,
            keyrings,
            lines: removed_lines,
        }))
    }

    /// The keyring files holding key `id` (a fingerprint ending so), read
    /// from the probe's copies. A keyring holding other keys too is an
    /// error: halite removes whole files, never rewrites a keyring.
    fn keyid_files(&self, id: &str, text: &str) -> Result<Vec<String>, String> {
        let mut found = Vec::new();
        for (path, bytes) in blocks(text, "keyring")? {
            // Not a keyring (a README, an empty file): not the key's.
            let Ok(keys) = openpgp::primary_fingerprints(&bytes) else {
                continue;
            };
            let hits = keys
                .iter()
                .filter(|f| f.as_deref().is_some_and(|f| f.ends_with(id)))
                .count();
            if hits == 0 {
                continue;
            }
            if hits < keys.len() {
                return Err(format!(
                    "pkgrepo.absent: key {id} is in {path} with {} other key(s); halite removes whole keyring files only, never rewrites one: take the key out of it another way (apt-key del {id}, gpg --delete-keys)",
                    keys.len() - hits
                ));
            }
            found.push(path);
        }
        Ok(found)
    }
}

/// A pkgrepo plan's data.
#[derive(Debug, PartialEq)]
enum RepoTodo {
    /// `pkgrepo.managed`: the new sources file (`None`: its line is
    /// right), and whether the keyring is written.
    Configure { content: Option<String>, key: bool },
    /// `pkgrepo.absent`: each file's new content (`None`: the file goes),
    /// the keyrings removed, and the lines removed (their lists go too).
    Remove {
        edits: Vec<(String, Option<String>)>,
        keyrings: Vec<String>,
        lines: Vec<String>,
    },
}

impl StateFunction for Repo {
    /// The sources file and halite's keyring, as files: the drift ledger
    /// prunes them with file.absent when halite created them.
    fn managed(&self) -> Vec<crate::modules::Managed> {
        if !self.managed {
            return Vec::new();
        }
        let mut m = crate::modules::Managed::present("file", &self.file);
        if let (Some(_), Some(k)) = (&self.key, &self.keyring) {
            m.extend(crate::modules::Managed::present("file", k));
        }
        m
    }

    fn probe(&self) -> String {
        let mut s = String::from(CHECK_APT);
        let show = |path: &str| {
            format!(
                "if [ -f {p} ]; then printf '@@file %s\\n' {p}; base64 < {p}; printf '@@endfile\\n'; fi\n",
                p = quote(path)
            )
        };
        if self.managed {
            s.push_str(&show(&self.file));
            if let Some(k) = &self.keyring {
                s.push_str(&format!(
                    "printf '@@key %s\\n' \"$( [ -f {k} ] && sha256sum < {k} | cut -d ' ' -f 1)\"\n",
                    k = quote(k)
                ));
            }
        } else {
            if self.file.starts_with(&format!("{SOURCES_D}/")) && self.file.ends_with(".list") {
                // The default (or a sources.list.d file): look everywhere, as Salt does.
                s.push_str(&format!(
                    "for h_f in /etc/apt/sources.list {SOURCES_D}/*.list; do\n\
                     \t[ -f \"$h_f\" ] || continue\n\
                     \tprintf '@@file %s\\n' \"$h_f\"; base64 < \"$h_f\"; printf '@@endfile\\n'\n\
                     done\n"
                ));
            } else {
                s.push_str(&show(&self.file));
            }
            for k in &self.removable_keyrings {
                s.push_str(&format!(
                    "[ -f {k} ] && printf '@@keyfile %s\\n' {k}\n",
                    k = quote(k)
                ));
            }
            if self.keyid.is_some() {
                // The keyrings themselves: the controller reads the keys
                // (the host needs no gpg).
                s.push_str(&format!(
                    "for h_f in {KEY_PLACES}; do\n\
                     \t[ -f \"$h_f\" ] || continue\n\
                     \tprintf '@@keyring %s\\n' \"$h_f\"; base64 < \"$h_f\"; printf '@@endkeyring\\n'\n\
                     done\n"
                ));
            }
        }
        s.push_str("printf '@@end\\n'\n");
        s
    }

    fn plan(&self, facts: Output) -> Result<Plan, String> {
        let f = if self.managed {
            "pkgrepo.managed"
        } else {
            "pkgrepo.absent"
        };
        let m = markers(facts.text);
        if let Some(pm) = m.get("unsupported") {
            return Err(format!(
                "{f}: package manager {} is not supported yet (apt only)",
                pm.trim()
            ));
        }
        if !m.contains_key("end") {
            return Err(format!(
                "{f}: the probe did not complete: {}",
                facts.text.trim()
            ));
        }
        if self.managed {
            self.plan_managed(facts.text)
        } else {
            self.plan_absent(facts.text)
        }
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let mut s = String::from(
            "LC_ALL=C\nexport LC_ALL\nDEBIAN_FRONTEND=noninteractive\nexport DEBIAN_FRONTEND\n",
        );
        let (edits, keyrings, lines) = match plan.data::<RepoTodo>()? {
            RepoTodo::Configure { content, key } => {
                self.configure_lines(&mut s, content.as_deref(), *key);
                return Ok(s);
            }
            RepoTodo::Remove {
                edits,
                keyrings,
                lines,
            } => (edits, keyrings, lines),
        };
        // absent: note the repository's index files before its line goes.
        if !lines.is_empty() {
            s.push_str(&format!(
                "h_l=$(mktemp) || exit\nprintf '%s\\n' {} >\"$h_l\"\n\
                 h_before=$(apt-get indextargets -o Dir::Etc::SourceList=\"$h_l\" -o Dir::Etc::SourceParts=- 2>/dev/null | {TARGETS_AWK})\n\
                 rm -f -- \"$h_l\"\n",
                lines.iter().map(|l| quote(l)).collect::<Vec<_>>().join(" ")
            ));
        }
        for (path, edit) in edits {
            match edit {
                Some(content) => s.push_str(&write_file(path, content.as_bytes(), "644")),
                None => s.push_str(&format!("rm -f -- {} || exit\n", quote(path))),
            }
        }
        for k in keyrings {
            s.push_str(&format!("rm -f -- {} || exit\n", quote(k)));
        }
        if !lines.is_empty() {
            s.push_str(&format!(
                "h_after=$(apt-get indextargets 2>/dev/null | {TARGETS_AWK})\n\
                 h_n=0\n\
                 for h_f in $h_before; do\n\
                 \tprintf '%s\\n' \"$h_after\" | grep -qxF -- \"$h_f\" && continue\n\
                 \tfor h_x in \"$h_f\" \"$h_f\".gz \"$h_f\".xz \"$h_f\".lz4 \"$h_f\".zst \"$h_f\".bz2 \"$h_f\".lzma; do\n\
                 \t\tif [ -e \"$h_x\" ]; then rm -f -- \"$h_x\" && h_n=$((h_n + 1)); fi\n\
                 \tdone\n\
                 done\n\
                 printf '@@dropped %s\\n' \"$h_n\"\n"
            ));
        }
        Ok(s)
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        if let Err(e) = plan.data::<RepoTodo>() {
            return e.into();
        }
        let m = markers(out.text);
        let want = self.line.render();
        if out.rc != 0 {
            let why = if m.contains_key("refresh_failed") {
                let lines: Vec<&str> = out
                    .text
                    .lines()
                    .filter(|l| {
                        l.starts_with("E: ") || l.starts_with("W: ") || l.starts_with("Err:")
                    })
                    .collect();
                format!(
                    "the repository was written, but refreshing its package index failed:\n{}",
                    if lines.is_empty() {
                        message(out.text)
                    } else {
                        lines.join("\n")
                    }
                )
            } else {
                message(out.text)
            };
            return Applied {
                result: false,
                changes: if m.contains_key("refresh") {
                    plan.changes.clone()
                } else {
                    serde_json::Map::new()
                },
                comment: format!("Failed to configure repo '{want}': {why}"),
            };
        }
        let comment = if self.managed {
            format!(
                "Configured package repo '{want}' in {}{}",
                self.file,
                if m.contains_key("refresh") {
                    "; its package index was refreshed"
                } else {
                    ""
                }
            )
        } else {
            format!(
                "Removed package repo {} {}{}{}",
                self.line.uri,
                self.line.dist,
                plan.changes
                    .get("keyid")
                    .and_then(Value::as_str)
                    .map(|k| format!(", and keyid {k}"))
                    .unwrap_or_default(),
                m.get("dropped")
                    .map(|n| format!("; {} of its index files removed", n.trim()))
                    .unwrap_or_default()
            )
        };
        Applied {
            result: true,
            changes: plan.changes.clone(),
            comment,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n-----END PGP PUBLIC KEY BLOCK-----\n";

    fn chunk(function: &str, name: &str, args: Value) -> Chunk {
        Chunk {
            id: "repo".into(),
            sls: "t".into(),
            file: "t.sls".into(),
            ..Chunk::standalone("pkgrepo", function, name, args)
        }
    }

    fn make_in(
        root: &std::path::Path,
        function: &str,
        name: &str,
        args: Value,
    ) -> Result<Box<dyn StateFunction>, String> {
        let def = crate::modules::lookup("pkgrepo", function).unwrap();
        let ctx = BuildCtx {
            states_root: root,
            renderer: None,
        };
        (def.build)(&chunk(function, name, args), &ctx)
    }

    fn make(function: &str, name: &str, args: Value) -> Result<Box<dyn StateFunction>, String> {
        make_in(std::path::Path::new("/nonexistent"), function, name, args)
    }

    fn file_block(path: &str, content: &str) -> String {
        format!(
            "@@file {path}\n{}\n@@endfile\n",
            data_encoding::BASE64.encode(content.as_bytes())
        )
    }

    fn plan(s: &dyn StateFunction, text: &str) -> Result<Plan, String> {
        s.plan(Output { text, rc: 0 })
    }

    #[test]
    fn deb_lines_parse_render_and_name_files() {
        let l = DebLine::parse("deb [arch=amd64 signed-by=/k.gpg] http://deb.example.com/debian/ bookworm main contrib # x").unwrap();
        assert_eq!(
            l.options,
            vec![
                ("arch".into(), "amd64".into()),
                ("signed-by".into(), "/k.gpg".into())
            ]
        );
        assert_eq!(l.uri, "http://deb.example.com/debian/");
        assert_eq!(l.comps, ["main", "contrib"]);
        assert_eq!(
            l.render(),
            "deb [arch=amd64 signed-by=/k.gpg] http://deb.example.com/debian/ bookworm main contrib"
        );
        assert_eq!(l.derived_name(), "deb.example.com_debian_bookworm");
        let flat = DebLine::parse("deb file:/srv/halite-test-repo ./").unwrap();
        assert_eq!(flat.derived_name(), "srv_halite-test-repo");
        assert!(DebLine::parse("# deb http://x/ y z").is_none());
        assert!(
            DebLine::parse("deb http://x/ bookworm").is_none(),
            "no components"
        );
        let reordered = DebLine::parse(
            "deb [signed-by=/k.gpg arch=amd64] http://deb.example.com/debian bookworm main contrib",
        )
        .unwrap();
        assert!(l.same(&reordered));
        let other = DebLine::parse("deb http://deb.example.com/debian bookworm main").unwrap();
        assert!(l.same_repo(&other) && !l.same(&other));
    }

    #[test]
    fn managed_writes_the_line_and_key_and_refreshes_only_on_change() {
        let s = make(
            "managed",
            "example",
            json!({"uri": "http://deb.example.com/debian", "dist": "bookworm", "comps": "main",
                   "architectures": ["amd64"], "key_text": KEY}),
        )
        .unwrap();
        let want = "deb [arch=amd64 signed-by=/etc/apt/keyrings/deb.example.com_debian_bookworm.asc] http://deb.example.com/debian bookworm main";
        let p = plan(&*s, "@@key \n@@end\n").unwrap();
        assert_eq!(p.changes["repo"], json!({"old": "", "new": want}));
        assert!(p.changes.contains_key("key"));
        assert!(
            p.comment.ends_with("its package index will be refreshed"),
            "{}",
            p.comment
        );
        let apply = s.apply(&p).unwrap();
        assert!(apply.contains("-o Dir::Etc::SourceList=/etc/apt/sources.list.d/deb.example.com_debian_bookworm.list -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0"), "{apply}");
        assert!(
            apply.contains(&encode_b64(KEY.as_bytes())[..60]),
            "the key is shipped as it is"
        );
        let st = std::process::Command::new("sh")
            .args(["-n", "-c", &apply])
            .status()
            .unwrap();
        assert!(st.success(), "{apply}");

        // Configured, with the same key: nothing to do, so no refresh either.
        let sha = data_encoding::HEXLOWER.encode(&Sha256::digest(KEY.as_bytes()));
        let file = "/etc/apt/sources.list.d/deb.example.com_debian_bookworm.list";
        let text = format!(
            "{}@@key {sha}\n@@end\n",
            file_block(file, &format!("# mine\n{want}\n"))
        );
        let p = plan(&*s, &text).unwrap();
        assert!(p.is_noop(), "{p:?}");
        let p = p.with_data(RepoTodo::Configure {
            content: None,
            key: false,
        });
        assert!(
            s.apply(&p).unwrap().contains("apt-get -q update"),
            "refresh is in the snippet, which runs only on change"
        );

        // Another component: the line is replaced in place, comments kept.
        let old = "deb http://deb.example.com/debian/ bookworm contrib";
        let text = format!(
            "{}@@key {sha}\n@@end\n",
            file_block(file, &format!("# mine\n{old}\ndeb http://other/ x y\n"))
        );
        let p = plan(&*s, &text).unwrap();
        assert_eq!(p.changes["repo"], json!({"old": old, "new": want}));
        assert!(!p.changes.contains_key("key"));
        assert_eq!(
            *p.data::<RepoTodo>().unwrap(),
            RepoTodo::Configure {
                content: Some(format!("# mine\n{want}\ndeb http://other/ x y\n")),
                key: false
            }
        );
    }

    #[test]
    fn refresh_failures_fail_the_state() {
        let s = make("managed", "deb file:/srv/r ./", json!({})).unwrap();
        let p = plan(&*s, "@@end\n").unwrap();
        let done = s.finish(
            &p,
            Output {
                text: "@@refresh\nErr:1 file:/srv/r ./ InRelease\nW: GPG error: file:/srv/r ./ InRelease: NO_PUBKEY 09B7771C74945D95\n@@refresh_failed 100\n",
                rc: 1,
            },
        );
        assert!(!done.result);
        assert!(
            done.comment.contains("refreshing its package index failed"),
            "{}",
            done.comment
        );
        assert!(done.comment.contains("NO_PUBKEY"));
        assert!(!done.changes.is_empty(), "the line was written");
    }

    #[test]
    fn keys_are_checked_and_not_dearmored() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("keys")).unwrap();
        std::fs::write(root.path().join("keys/r.asc"), KEY).unwrap();
        let line = "deb file:/srv/r ./";
        let ok = make_in(
            root.path(),
            "managed",
            line,
            json!({"key_url": "salt://keys/r.asc"}),
        )
        .unwrap();
        let p = plan(&*ok, "@@end\n").unwrap();
        assert_eq!(
            p.changes["repo"]["new"],
            "deb [signed-by=/etc/apt/keyrings/srv_r.asc] file:/srv/r ./"
        );
        let e = make_in(
            root.path(),
            "managed",
            line,
            json!({"key_url": "salt://keys/r.asc", "signedby": "/etc/apt/keyrings/r.gpg"}),
        )
        .unwrap_err();
        assert!(e.contains("only from .asc files"), "{e}");
        assert!(
            make("managed", line, json!({"key_url": "https://x/key.asc"}))
                .unwrap_err()
                .contains("only salt://")
        );
        assert!(make(
            "managed",
            line,
            json!({"key_text": KEY, "key_url": "salt://k"})
        )
        .is_err());
        assert!(make("managed", line, json!({"key_text": "not a key"}))
            .unwrap_err()
            .contains("neither"));
        assert!(make(
            "managed",
            "deb [signed-by=/a.asc] file:/srv/r ./",
            json!({"signedby": "/b.asc"})
        )
        .is_err());
        let binary = make("managed", line, json!({"key_text": "\u{99}\u{1}"})).unwrap();
        assert!(plan(&*binary, "@@end\n").unwrap().changes["repo"]["new"]
            .as_str()
            .unwrap()
            .contains("srv_r.gpg"));
    }

    #[test]
    fn arguments_are_checked() {
        assert!(make("managed", "my repo", json!({}))
            .unwrap_err()
            .contains("no `uri`"));
        assert!(make("managed", "r", json!({"uri": "http://x/"}))
            .unwrap_err()
            .contains("`dist`"));
        assert!(
            make("managed", "r", json!({"uri": "http://x/", "dist": "b"}))
                .unwrap_err()
                .contains("comps")
        );
        assert!(make(
            "managed",
            "deb http://x/ b main",
            json!({"uri": "http://y/"})
        )
        .is_err());
        assert!(make("managed", "deb -o http://x/ b main", json!({})).is_err());
        assert!(make(
            "managed",
            "deb file:/r ./",
            json!({"file": "relative.list"})
        )
        .is_err());
        assert!(make("managed", "deb file:/r ./", json!({"keyid": "ABC"}))
            .unwrap_err()
            .contains("unknown field `keyid`"));
        assert!(make("absent", "deb file:/r ./", json!({"refresh": false}))
            .unwrap_err()
            .contains("unknown field"));
    }

    /// `keyid`: the keyring file holding only that key goes with the
    /// repository (read on the controller from the probe's copies); an
    /// absent repository leaves keys alone, as Salt does.
    #[test]
    fn absent_keyid_removes_the_keys_keyring() {
        use crate::platform::openpgp::tests::{TEST_FPR, TEST_KEY};
        let line = "deb file:/srv/r ./";
        let repo = file_block("/etc/apt/sources.list.d/srv_r.list", &format!("{line}\n"));
        let keyring = |path: &str, bytes: &[u8]| {
            format!(
                "@@keyring {path}\n{}\n@@endkeyring\n",
                data_encoding::BASE64.encode(bytes)
            )
        };
        let ours = "/etc/apt/keyrings/test.asc";
        let others = format!(
            "{}{}",
            keyring("/etc/apt/keyrings/README", b"not a key\n"),
            keyring("/etc/apt/trusted.gpg.d/empty.gpg", b""),
        );
        for id in ["830DB473", "0xb3d614a3830db473", TEST_FPR] {
            let s = make("absent", line, json!({"keyid": id})).unwrap();
            let probe = s.probe();
            assert!(probe.contains("@@keyring"), "{probe}");
            let st = std::process::Command::new("sh")
                .args(["-n", "-c", &probe])
                .status()
                .unwrap();
            assert!(st.success(), "{probe}");
            let text = format!(
                "{repo}{others}{}@@end\n",
                keyring(ours, TEST_KEY.as_bytes())
            );
            let p = plan(&*s, &text).unwrap();
            let want = id.trim_start_matches("0x").to_ascii_uppercase();
            assert_eq!(p.changes["keyid"], json!(want), "{p:?}");
            assert!(
                p.comment.ends_with(&format!(", and keyid {want} ({ours})")),
                "{}",
                p.comment
            );
            let apply = s.apply(&p).unwrap();
            assert!(apply.contains(&format!("rm -f -- {ours}")), "{apply}");
            let done = s.finish(
                &p,
                Output {
                    text: "@@dropped 0\n",
                    rc: 0,
                },
            );
            assert!(
                done.result && done.comment.contains(&format!(", and keyid {want}")),
                "{done:?}"
            );
            // Repository gone: nothing to do, the key is not looked at.
            let text = format!("{others}{}@@end\n", keyring(ours, TEST_KEY.as_bytes()));
            assert!(plan(&*s, &text).unwrap().is_noop());
        }
        let s = make("absent", line, json!({"keyid": 12345678})).unwrap();
        // Not found: the repository goes, the comment says so.
        let p = plan(
            &*s,
            &format!("{repo}{}@@end\n", keyring(ours, TEST_KEY.as_bytes())),
        )
        .unwrap();
        assert!(p.changes.get("keyid").is_none(), "{p:?}");
        assert!(
            p.comment
                .contains("key 12345678 is in none of apt's keyrings"),
            "{}",
            p.comment
        );
        // The key beside another one: refused, nothing removed.
        let s = make("absent", line, json!({"keyid": "830DB473"})).unwrap();
        let two = crate::platform::openpgp::tests::two_keys();
        let e = plan(
            &*s,
            &format!("{repo}{}@@end\n", keyring("/etc/apt/trusted.gpg", &two)),
        )
        .unwrap_err();
        assert!(
            e.contains("/etc/apt/trusted.gpg with 1 other key(s)"),
            "{e}"
        );
        // Bad ids, keyid_ppa, and keyid where Salt's managed has another meaning.
        for (args, msg) in [
            (json!({"keyid": "830DB47"}), "is not a key id"),
            (json!({"keyid": "zz0DB473"}), "is not a key id"),
            (json!({"keyid": ["830DB473"]}), "is not a key id"),
            (json!({"keyid_ppa": true}), "launchpad.net"),
        ] {
            let e = make("absent", line, args.clone()).unwrap_err();
            assert!(e.starts_with("t:repo") || e.contains("repo"), "{e}");
            assert!(e.contains(msg), "{args}: {e}");
        }
        assert!(make("absent", line, json!({"keyid_ppa": false})).is_ok());
        assert!(make("managed", line, json!({"keyid": "830DB473"})).is_err());
    }

    /// dnf and zypper have no key removal in Salt: the state fails at plan
    /// time with Salt's words, naming the state.
    #[test]
    fn absent_keyid_is_refused_on_dnf_and_zypper() {
        for pm in ["dnf", "yum", "zypper"] {
            let r = crate::render::Renderer::new(
                "/nonexistent",
                "h",
                json!({ "pkg_manager": pm }),
                json!({}),
            );
            let ctx = BuildCtx {
                states_root: std::path::Path::new("/nonexistent"),
                renderer: Some(&r),
            };
            let def = crate::modules::lookup("pkgrepo", "absent").unwrap();
            let s = (def.build)(
                &chunk("absent", "local", json!({"keyid": "830DB473"})),
                &ctx,
            )
            .unwrap();
            assert!(!s.plan_reads_host());
            let e = plan(&*s, "").unwrap_err();
            assert!(e.starts_with("t:repo") || e.contains("repo"), "{e}");
            assert!(
                e.contains("Repo key management is not implemented for this platform"),
                "{e}"
            );
            // Without keyid, the backend's own absent.
            assert!((def.build)(&chunk("absent", "local", json!({})), &ctx).is_ok());
        }
    }

    #[test]
    fn absent_removes_lines_files_keyrings_and_lists() {
        let s = make("absent", "deb file:/srv/r ./", json!({})).unwrap();
        let ours = "/etc/apt/sources.list.d/srv_r.list";
        let text = format!(
            "{}{}@@keyfile /etc/apt/keyrings/srv_r.asc\n@@end\n",
            file_block(
                "/etc/apt/sources.list",
                "deb http://deb.debian.org/debian bookworm main\ndeb file:/srv/r/ ./\n"
            ),
            file_block(
                ours,
                "# made by halite\ndeb [signed-by=/etc/apt/keyrings/srv_r.asc] file:/srv/r ./\n"
            ),
        );
        let p = plan(&*s, &text).unwrap();
        let RepoTodo::Remove { edits, .. } = p.data::<RepoTodo>().unwrap() else {
            panic!("{p:?}")
        };
        assert_eq!(
            *edits,
            [
                (
                    "/etc/apt/sources.list".to_string(),
                    Some("deb http://deb.debian.org/debian bookworm main\n".to_string())
                ),
                (ours.to_string(), None)
            ]
        );
        assert_eq!(
            p.changes["key"],
            json!({"old": ["/etc/apt/keyrings/srv_r.asc"], "new": ""})
        );
        let apply = s.apply(&p).unwrap();
        assert!(apply.contains("apt-get indextargets"), "{apply}");
        assert!(apply.contains(&format!("rm -f -- {ours}")));
        let st = std::process::Command::new("sh")
            .args(["-n", "-c", &apply])
            .status()
            .unwrap();
        assert!(st.success(), "{apply}");
        let p = plan(
            &*s,
            &format!(
                "{}@@end\n",
                file_block(
                    "/etc/apt/sources.list",
                    "deb http://deb.debian.org/debian bookworm main\n"
                )
            ),
        )
        .unwrap();
        assert!(p.is_noop());
        assert_eq!(p.comment, "Package repo file:/srv/r ./ is absent");
    }

    /// The lists-cleanup awk program against real `apt-get indextargets`
    /// output: the index file and the Release files beside it.
    #[test]
    fn index_targets_name_the_lists_of_a_repository() {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "printf '%s\\n' 'MetaKey: Packages' 'URI: file:/srv/r/./Packages' 'Filename: /var/lib/apt/lists/_srv_r_._Packages' 'Base-URI: file:/srv/r/./' '' \
                 'URI: http://h/debian/dists/bookworm/main/binary-amd64/Packages' 'Base-URI: http://h/debian/dists/bookworm/' 'Filename: /var/lib/apt/lists/h_debian_dists_bookworm_main_binary-amd64_Packages' | {TARGETS_AWK}"
            ))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "/var/lib/apt/lists/_srv_r_._Packages\n/var/lib/apt/lists/_srv_r_._InRelease\n/var/lib/apt/lists/_srv_r_._Release\n/var/lib/apt/lists/_srv_r_._Release.gpg\n\
             /var/lib/apt/lists/h_debian_dists_bookworm_main_binary-amd64_Packages\n/var/lib/apt/lists/h_debian_dists_bookworm_InRelease\n/var/lib/apt/lists/h_debian_dists_bookworm_Release\n/var/lib/apt/lists/h_debian_dists_bookworm_Release.gpg\n"
        );
    }
}
