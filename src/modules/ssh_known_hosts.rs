//! `ssh_known_hosts.present` and `ssh_known_hosts.absent`: a host's keys in
//! a user's `known_hosts` (or a system-wide file), as Salt's
//! `salt.states.ssh_known_hosts` manages them.
//!
//! The probe resolves the file, reads it, asks `ssh-keygen -F` which lines
//! name the host (plain or hashed), and, when no `key` is declared, asks
//! the named host itself for its keys with `ssh-keyscan`: the target scans,
//! as Salt's minion does, and it scans in test mode too, so `test=True`
//! predicts exactly what the apply writes. The plan decides on the
//! controller (Salt's rules: which stored keys or fingerprints count, what
//! replaces the host's lines) and makes the new lines, hashed with
//! HMAC-SHA1 when `hash_known_hosts`; the apply removes the lines
//! `ssh-keygen -F` finds then and appends the new ones, through a
//! temporary file and a rename, so states of one run on one file compose.

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha1::Sha1;
use sha2::Digest as _;

use super::{Applied, BuildCtx, FnDef, ModuleDef, Output, Plan, PlanMismatch, StateFunction};
use crate::state::Chunk;
use crate::transport::quote::quote;

pub const MODULE: ModuleDef = ModuleDef {
    name: "ssh_known_hosts",
    functions: &[
        FnDef {
            name: "present",
            doc: "Ensure host `name`'s key (declared, or scanned and checked against `fingerprint`) is in a known_hosts file.",
            args: &[
                "user",
                "fingerprint",
                "key",
                "port",
                "enc",
                "config",
                "hash_known_hosts",
                "timeout",
                "fingerprint_hash_type",
            ],
            build: build_present,
        },
        FnDef {
            name: "absent",
            doc: "Ensure no line of a known_hosts file names host `name`.",
            args: &["user", "config"],
            build: build_absent,
        },
    ],
    ledger: &[],
};

const TAG: &str = "@@known_hosts";
const DEFAULT_USER_CONFIG: &str = ".ssh/known_hosts";
const DEFAULT_SYSTEM_CONFIG: &str = "/etc/ssh/ssh_known_hosts";
/// Larger files are refused rather than shipped through the probe.
const MAX_SIZE: u64 = 1024 * 1024;
/// ssh-keyscan attempts before "Unable to receive remote host keys".
const SCAN_ATTEMPTS: u32 = 3;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PresentArgs {
    user: Option<String>,
    fingerprint: Option<String>,
    key: Option<String>,
    port: Option<u16>,
    enc: Option<String>,
    config: Option<String>,
    #[serde(default = "yes")]
    hash_known_hosts: bool,
    timeout: Option<u32>,
    fingerprint_hash_type: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AbsentArgs {
    user: Option<String>,
    config: Option<String>,
}

/// The digest a fingerprint is computed with (Salt's
/// `fingerprint_hash_type`, a hashlib name).
#[derive(Debug, Clone, Copy, PartialEq)]
enum HashType {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl HashType {
    fn parse(s: &str) -> Option<HashType> {
        match s.to_ascii_lowercase().as_str() {
            "md5" => Some(HashType::Md5),
            "sha1" => Some(HashType::Sha1),
            "sha256" => Some(HashType::Sha256),
            "sha512" => Some(HashType::Sha512),
            _ => None,
        }
    }

    fn len(self) -> usize {
        match self {
            HashType::Md5 => 16,
            HashType::Sha1 => 20,
            HashType::Sha256 => 32,
            HashType::Sha512 => 64,
        }
    }

    fn digest(self, bytes: &[u8]) -> Vec<u8> {
        match self {
            HashType::Md5 => md5::compute(bytes).0.to_vec(),
            HashType::Sha1 => Sha1::digest(bytes).to_vec(),
            HashType::Sha256 => sha2::Sha256::digest(bytes).to_vec(),
            HashType::Sha512 => sha2::Sha512::digest(bytes).to_vec(),
        }
    }
}

/// Salt's fingerprint: the digest of the decoded key blob as lowercase hex
/// pairs joined by `:`. `None` for a key that is not base64.
fn fingerprint(key: &str, hash: HashType) -> Option<String> {
    let raw = data_encoding::BASE64.decode(key.as_bytes()).ok()?;
    Some(
        hash.digest(&raw)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// The key type a public key blob names (its first SSH string).
fn blob_type(key: &str) -> Option<String> {
    let raw = data_encoding::BASE64.decode(key.as_bytes()).ok()?;
    let len = u32::from_be_bytes(raw.get(..4)?.try_into().ok()?) as usize;
    String::from_utf8(raw.get(4..4 + len)?.to_vec()).ok()
}

/// A key type as written in known_hosts, from Salt's short or full names.
/// `ecdsa` alone names no curve: `None` inside `Some`.
fn key_type(enc: &str) -> Option<Option<&'static str>> {
    Some(Some(match enc.to_ascii_lowercase().as_str() {
        "rsa" | "ssh-rsa" => "ssh-rsa",
        "dsa" | "dss" | "ssh-dss" => "ssh-dss",
        "ed25519" | "ssh-ed25519" => "ssh-ed25519",
        "ecdsa" => return Some(None),
        "ecdsa-sha2-nistp256" => "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384" => "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521" => "ecdsa-sha2-nistp521",
        "sk-ecdsa-sha2-nistp256@openssh.com" => "sk-ecdsa-sha2-nistp256@openssh.com",
        "sk-ssh-ed25519@openssh.com" => "sk-ssh-ed25519@openssh.com",
        _ => return None,
    }))
}

/// ssh-keyscan's `-t` word for a known_hosts key type.
fn scan_type(enc: Option<&str>) -> &'static str {
    match enc {
        None => "ecdsa",
        Some("ssh-rsa") => "rsa",
        Some("ssh-dss") => "dsa",
        Some("ssh-ed25519") => "ed25519",
        Some("sk-ecdsa-sha2-nistp256@openssh.com") => "ecdsa-sk",
        Some("sk-ssh-ed25519@openssh.com") => "ed25519-sk",
        Some(_) => "ecdsa",
    }
}

/// Where the file is: absolute, or relative to `user`'s home.
#[derive(Debug, Clone, PartialEq)]
struct Target {
    user: Option<String>,
    /// As declared (or the default), for comments.
    config: String,
}

impl Target {
    fn new(chunk: &Chunk, user: Option<String>, config: Option<String>) -> Result<Target, String> {
        let err = |m: String| format!("{}: {m}", chunk.describe());
        if let Some(u) = &user {
            super::user::check_name("user", u).map_err(err)?;
        }
        let config = config.unwrap_or_else(|| {
            if user.is_some() {
                DEFAULT_USER_CONFIG
            } else {
                DEFAULT_SYSTEM_CONFIG
            }
            .into()
        });
        if user.is_none() && !config.starts_with('/') {
            return Err(err(
                "If not specifying a \"user\", specify an absolute \"config\".".into(),
            ));
        }
        if config.is_empty()
            || config.contains(['\n', '\r', '\0'])
            || config.split('/').any(|p| p == "..")
        {
            return Err(err(format!("config `{config}` is not a usable path")));
        }
        Ok(Target { user, config })
    }

    /// Shell lines setting `p` to the file's path (and `g` to the user's
    /// primary group); `missing` runs when the user does not exist.
    fn path_snippet(&self, missing: &str) -> String {
        let Some(user) = &self.user else {
            return format!("g=\np={}\n", quote(&self.config));
        };
        let u = quote(user);
        let path = if self.config.starts_with('/') {
            quote(&self.config)
        } else {
            format!("\"$h\"/{}", quote(&self.config))
        };
        format!(
            "pw=$(getent passwd {u}) || {{ {missing}; }}\nh=$(printf '%s\\n' \"$pw\" | cut -d: -f6)\ng=$(id -gn -- {u}) || exit 1\np={path}\n"
        )
    }

    /// The probe's reading of the file and of the lines naming `host`.
    fn read_snippet(&self, host: &str) -> String {
        format!(
            "{}if [ -n \"$g\" ]; then printf '%s group %s\\n' '{TAG}' \"$g\"; fi\n\
             command -v ssh-keygen >/dev/null 2>&1 || {{ echo '{TAG} nokeygen'; exit 0; }}\n\
             if [ -f \"$p\" ]; then\n\
             [ \"$(wc -c < \"$p\")\" -le {MAX_SIZE} ] || {{ echo '{TAG} toolarge'; exit 0; }}\n\
             echo '{TAG} content'; base64 < \"$p\"; echo '{TAG} end'\n\
             ssh-keygen -F {} -f \"$p\" 2>/dev/null | sed -n 's/^# Host .* found: line \\([0-9][0-9]*\\).*$/{TAG} found \\1/p'\n\
             elif [ -e \"$p\" ] || [ -L \"$p\" ]; then echo '{TAG} notfile'\n\
             fi\n",
            self.path_snippet(&format!("echo '{TAG} nouser'; exit 0")),
            quote(host),
        )
    }

    /// Shell lines editing the file as it is when they run (several
    /// states of one run on one file compose): the lines `ssh-keygen -F
    /// host` finds then, of a key type in `edit.types` (all when empty),
    /// go and `edit.lines` are appended. A new file (and the user's
    /// `~/.ssh`, 0700) is created; Salt chowns the file to the user.
    fn edit_snippet(&self, edit: &Edit) -> String {
        let new_mode = if self.user.is_some() { "600" } else { "644" };
        let chown = match (&self.user, &edit.group) {
            (Some(u), Some(g)) => Some(quote(&format!("{u}:{g}"))),
            _ => None,
        };
        let mkdir = match &chown {
            Some(o) => {
                format!("( umask 077; mkdir -p -- \"$d\" ) && chown -- {o} \"$d\" || exit 1")
            }
            None => "mkdir -p -- \"$d\" || exit 1".into(),
        };
        let mut add = String::new();
        for l in &edit.lines {
            add.push_str(l);
            add.push('\n');
        }
        format!(
            "{path}d=$(dirname -- \"$p\")\n\
             if [ ! -d \"$d\" ]; then {mkdir}; fi\n\
             tmp=$(mktemp \"$d/.halite.XXXXXX\") || exit 1\n\
             fail() {{ rm -f -- \"$tmp\"; exit 1; }}\n\
             if [ -f \"$p\" ]; then\n\
             drop=$(ssh-keygen -F {host} -f \"$p\" 2>/dev/null | awk -v types={types} {found} | tr '\\n' ' ') || fail\n\
             awk -v drop=\" $drop \" 'index(drop, \" \" NR \" \") == 0' \"$p\" > \"$tmp\" || fail\n\
             o=$(stat -c '%u:%g' -- \"$p\") && chown -- \"$o\" \"$tmp\" || fail\n\
             m=$(stat -c '%a' -- \"$p\") && chmod -- \"$m\" \"$tmp\" || fail\n\
             elif [ -e \"$p\" ] || [ -L \"$p\" ]; then echo 'the known_hosts path is not a regular file'; fail\n\
             else chmod {new_mode} \"$tmp\" || fail\n\
             fi\n\
             {append}{owner}mv -f -- \"$tmp\" \"$p\" || fail\n",
            path = self.path_snippet(&format!(
                "echo {}; exit 1",
                quote(&format!(
                    "User {} does not exist",
                    self.user.as_deref().unwrap_or("")
                ))
            )),
            host = quote(&edit.host),
            types = quote(&edit.types.join(" ")),
            found = quote(FOUND_AWK),
            append = if add.is_empty() {
                String::new()
            } else {
                super::file::b64_heredoc(add.as_bytes(), "\"$tmp\"", "fail")
                    .replacen("> \"$tmp\"", ">> \"$tmp\"", 1)
            },
            owner = match &chown {
                Some(o) => format!("chown -- {o} \"$tmp\" || fail\n"),
                None => String::new(),
            },
        )
    }
}

/// Reads `ssh-keygen -F`'s output: the number of each line found whose
/// key type is in `types` (space-separated; empty: any).
const FOUND_AWK: &str = r#"/^# Host .* found: line [0-9]+/ { n = $0; sub(/.* found: line /, "", n); sub(/[^0-9].*$/, "", n); next }
n != "" { t = ($1 ~ /^@/) ? $3 : $2; if (types == "" || index(" " types " ", " " t " ") > 0) print n; n = "" }"#;

/// A plan's data: the edit the apply makes, the file it predicts from the
/// file read, and the comment once done.
#[derive(Debug, PartialEq)]
struct Edit {
    /// As `ssh-keygen -F` is asked: `host` or `[host]:port`.
    host: String,
    /// The key types whose lines go; empty: every line of the host.
    types: Vec<String>,
    lines: Vec<String>,
    group: Option<String>,
    predicted: String,
    done: String,
}

/// What a present state declares besides where.
#[derive(Debug)]
struct Present {
    name: String,
    target: Target,
    key: Option<String>,
    /// The known_hosts key type (from `enc`, or the key blob's own).
    enc: Option<&'static str>,
    /// `enc: ecdsa` without a curve: any ECDSA key.
    any_ecdsa: bool,
    fingerprint: Option<String>,
    hash_type: HashType,
    port: Option<u16>,
    hash: bool,
    timeout: u32,
}

#[derive(Debug)]
struct Absent {
    name: String,
    target: Target,
}

fn check_host(chunk: &Chunk) -> Result<String, String> {
    let n = &chunk.name;
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '%');
    if n.is_empty() || n.starts_with('-') || !n.chars().all(ok) {
        return Err(format!(
            "{}: `{n}` is not a host name or address",
            chunk.describe()
        ));
    }
    Ok(n.clone())
}

fn build_present(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: PresentArgs = super::typed_args(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    let name = check_host(chunk)?;
    let target = Target::new(chunk, a.user, a.config)?;
    if a.key.is_some() && a.fingerprint.is_some() {
        return Err(err(
            "Specify either \"key\" or \"fingerprint\", not both.".into()
        ));
    }
    let hash_type = match &a.fingerprint_hash_type {
        None => HashType::Sha256,
        Some(t) => HashType::parse(t).ok_or_else(|| {
            err(format!(
                "fingerprint_hash_type `{t}` is not one of md5, sha1, sha256, sha512"
            ))
        })?,
    };
    let (enc, any_ecdsa) = match &a.enc {
        None => (None, false),
        Some(e) => match key_type(e) {
            Some(t) => (t, t.is_none()),
            None => return Err(err(format!("enc `{e}` is not a key type"))),
        },
    };
    let mut enc = enc;
    if let Some(key) = &a.key {
        if a.enc.is_none() {
            return Err(err(
                "Required argument \"enc\" if using \"key\" argument.".into()
            ));
        }
        let blob = blob_type(key)
            .and_then(|t| key_type(&t).flatten())
            .ok_or_else(|| err(format!("`{key}` is not a base64 public key")))?;
        let fits = match enc {
            Some(e) => e == blob,
            None => blob.starts_with("ecdsa-"),
        };
        if !fits {
            return Err(err(format!(
                "enc `{}` does not match the key, which is {blob}",
                a.enc.as_deref().unwrap_or_default()
            )));
        }
        enc = Some(blob);
    }
    let fingerprint = match a.fingerprint {
        None => None,
        Some(f) => {
            let f = f.to_ascii_lowercase();
            let pairs: Vec<&str> = f.split(':').collect();
            if pairs.len() != hash_type.len()
                || !pairs
                    .iter()
                    .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
            {
                return Err(err(format!(
                    "fingerprint `{f}` is not a {} fingerprint (hex byte pairs joined by `:`, see fingerprint_hash_type)",
                    a.fingerprint_hash_type.as_deref().unwrap_or("sha256")
                )));
            }
            Some(f)
        }
    };
    if let Some(p) = a.port {
        if p == 0 {
            return Err(err("port 0 is not a port".into()));
        }
        if p != 22 && a.hash_known_hosts {
            return Err(err(
                "argument port can not be used in conjunction with argument hash_known_hosts"
                    .into(),
            ));
        }
    }
    let timeout = a.timeout.unwrap_or(5);
    if timeout == 0 {
        return Err(err("timeout must be at least 1 second".into()));
    }
    Ok(Box::new(Present {
        name,
        target,
        key: a.key,
        enc,
        any_ecdsa,
        fingerprint,
        hash_type,
        port: a.port,
        hash: a.hash_known_hosts,
        timeout,
    }))
}

fn build_absent(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    let a: AbsentArgs = super::typed_args(chunk)?;
    Ok(Box::new(Absent {
        name: check_host(chunk)?,
        target: Target::new(chunk, a.user, a.config)?,
    }))
}

/// One known_hosts entry, as Salt reports it.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    hostname: String,
    enc: String,
    key: String,
    /// `None` for a key that is not base64.
    fingerprint: Option<String>,
}

impl Entry {
    /// `[@marker] HOSTS ENC KEY [COMMENT]`.
    fn parse(line: &str, hash: HashType) -> Option<Entry> {
        let mut w = line.split_whitespace().peekable();
        if w.peek().is_some_and(|f| f.starts_with('@')) {
            w.next();
        }
        let (hostname, enc, key) = (w.next()?, w.next()?, w.next()?);
        Some(Entry {
            hostname: hostname.into(),
            enc: enc.into(),
            key: key.into(),
            fingerprint: fingerprint(key, hash),
        })
    }

    fn to_json(&self) -> Value {
        let mut v = json!({"hostname": self.hostname, "enc": self.enc, "key": self.key});
        if let Some(f) = &self.fingerprint {
            v["fingerprint"] = json!(f);
        }
        v
    }
}

/// The probe's findings.
#[derive(Debug, Default)]
struct Facts {
    /// The user's primary group (a user's file only).
    group: Option<String>,
    /// `None`: no file yet.
    content: Option<String>,
    /// 1-based numbers of the lines naming the host (`ssh-keygen -F`).
    found: Vec<usize>,
    /// What ssh-keyscan printed (`host enc key` lines).
    scanned: Vec<String>,
    /// Random bytes for hashing new host names.
    salt: Option<Vec<u8>>,
}

fn parse(text: &str, user: Option<&str>) -> Result<Facts, String> {
    let (tags, content) = super::tagged_probe(text, TAG, "the known_hosts file")?;
    let mut f = Facts {
        content,
        ..Facts::default()
    };
    let mut seen = false;
    for t in &tags {
        match t.as_str() {
            "nouser" => return Err(format!("User {} does not exist", user.unwrap_or_default())),
            "notfile" => return Err("the known_hosts path is not a regular file".into()),
            "toolarge" => {
                return Err(format!(
                    "the known_hosts file is over {} KiB",
                    MAX_SIZE / 1024
                ))
            }
            "nokeygen" => return Err("ssh-keygen is not installed on the host".into()),
            "nokeyscan" => return Err("ssh-keyscan is not installed on the host".into()),
            "probed" => seen = true,
            rest => {
                if let Some(g) = rest.strip_prefix("group ") {
                    f.group = Some(g.to_string());
                } else if let Some(n) = rest.strip_prefix("found ") {
                    f.found.push(
                        n.parse()
                            .map_err(|_| format!("unexpected probe output: {rest}"))?,
                    );
                } else if let Some(s) = rest.strip_prefix("scan ") {
                    f.scanned.push(s.to_string());
                } else if let Some(s) = rest.strip_prefix("salt ") {
                    f.salt = data_encoding::BASE64.decode(s.as_bytes()).ok();
                }
            }
        }
    }
    if !seen || (user.is_some() && f.group.is_none()) {
        return Err(format!("unexpected probe output: {}", text.trim()));
    }
    Ok(f)
}

impl Facts {
    /// The entries on the lines `ssh-keygen -F` found, with their numbers.
    fn stored(&self, hash: HashType) -> Vec<(usize, Entry)> {
        let lines: Vec<&str> = self.content.as_deref().unwrap_or("").lines().collect();
        self.found
            .iter()
            .filter_map(|&n| {
                let line = lines.get(n.checked_sub(1)?)?;
                Entry::parse(line, hash).map(|e| (n, e))
            })
            .collect()
    }

    /// The file without the lines numbered `drop`, then `add`.
    fn rewritten(&self, drop: &[usize], add: &[String]) -> String {
        let mut out: Vec<&str> = self
            .content
            .as_deref()
            .unwrap_or("")
            .lines()
            .enumerate()
            .filter(|(i, _)| !drop.contains(&(i + 1)))
            .map(|(_, l)| l)
            .collect();
        out.extend(add.iter().map(String::as_str));
        let mut s = out.join("\n");
        if !s.is_empty() {
            s.push('\n');
        }
        s
    }
}

/// `|1|base64(salt)|base64(HMAC-SHA1(salt, host))`, as `ssh-keygen -H`
/// writes; each line gets its own salt, derived from the probe's.
fn hashed_host(host: &str, salt: &[u8], index: usize) -> String {
    let mut s = Sha1::new();
    s.update(salt);
    s.update(index.to_be_bytes());
    let salt = s.finalize().to_vec();
    // HMAC takes a key of any length: this never fails.
    let mac = Hmac::<Sha1>::new_from_slice(&salt)
        .map(|m| {
            m.chain_update(host.as_bytes())
                .finalize()
                .into_bytes()
                .to_vec()
        })
        .unwrap_or_default();
    format!(
        "|1|{}|{}",
        data_encoding::BASE64.encode(&salt),
        data_encoding::BASE64.encode(&mac)
    )
}

impl Present {
    /// `host` or `[host]:port`, as ssh names a host on another port.
    fn ssh_host(&self) -> String {
        match self.port {
            Some(p) if p != 22 => format!("[{}]:{p}", self.name),
            _ => self.name.clone(),
        }
    }

    fn scan_snippet(&self) -> String {
        let mut cmd = format!("ssh-keyscan -T {}", self.timeout);
        if let Some(p) = self.port {
            cmd.push_str(&format!(" -p {p}"));
        }
        if self.enc.is_some() || self.any_ecdsa {
            cmd.push_str(&format!(" -t {}", scan_type(self.enc)));
        }
        cmd.push(' ');
        cmd.push_str(&quote(&self.name));
        format!(
            "if command -v ssh-keyscan >/dev/null 2>&1; then\n\
             n=0; s=''\n\
             while [ $n -lt {SCAN_ATTEMPTS} ]; do s=$({cmd} 2>/dev/null); [ -n \"$s\" ] && break; n=$((n+1)); done\n\
             printf '%s\\n' \"$s\" | sed -n '/^[^#]/s/^/{TAG} scan /p'\n\
             else echo '{TAG} nokeyscan'; fi\n"
        )
    }

    /// The line for one new entry, host name hashed or `[host]:port`.
    fn line(&self, e: &Entry, salt: &[u8], index: usize) -> String {
        let host = if self.hash {
            hashed_host(&self.name, salt, index)
        } else {
            self.ssh_host()
        };
        format!("{host} {} {}", e.enc, e.key)
    }

    /// The key types whose lines an update replaces (empty: all).
    fn types(&self) -> Vec<String> {
        match (self.enc, self.any_ecdsa) {
            (Some(e), _) => vec![e.to_string()],
            (None, true) => ["nistp256", "nistp384", "nistp521"]
                .iter()
                .map(|c| format!("ecdsa-sha2-{c}"))
                .collect(),
            (None, false) => Vec::new(),
        }
    }

    fn matches_enc(&self, enc: &str) -> bool {
        match self.enc {
            Some(e) => e == enc,
            None => !self.any_ecdsa || enc.starts_with("ecdsa-"),
        }
    }
}

impl StateFunction for Present {
    fn probe(&self) -> String {
        let mut s = self.target.read_snippet(&self.ssh_host());
        if self.key.is_none() {
            s.push_str(&self.scan_snippet());
        }
        if self.hash {
            s.push_str(&format!(
                "printf '%s salt %s\\n' '{TAG}' \"$(head -c 20 /dev/urandom | base64)\"\n"
            ));
        }
        s.push_str(&format!("echo '{TAG} probed'\n"));
        s
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let f = parse(out.text, self.target.user.as_deref())?;
        let config = &self.target.config;
        let stored = f.stored(self.hash_type);
        // Salt compares keys of the declared type only; fingerprints of any.
        let stored_keys: Vec<&str> = stored
            .iter()
            .filter(|(_, e)| self.matches_enc(&e.enc))
            .map(|(_, e)| e.key.as_str())
            .collect();
        let exists = Plan::noop(format!("{} already exists in {config}", self.name));
        let update = stored.is_empty()
            || self.fingerprint.as_ref().is_some_and(|fp| {
                !stored
                    .iter()
                    .any(|(_, e)| e.fingerprint.as_ref() == Some(fp))
            })
            || self
                .key
                .as_ref()
                .is_some_and(|k| !stored_keys.contains(&k.as_str()));
        if !update && (self.fingerprint.is_some() || self.key.is_some()) {
            return Ok(exists);
        }
        let new: Vec<Entry> = match (&self.key, self.enc) {
            (Some(key), Some(enc)) => vec![Entry {
                hostname: self.name.clone(),
                enc: enc.to_string(),
                key: key.clone(),
                fingerprint: None,
            }],
            _ => {
                let mut scanned: Vec<Entry> = f
                    .scanned
                    .iter()
                    .filter_map(|l| Entry::parse(l, self.hash_type))
                    .filter(|e| self.matches_enc(&e.enc))
                    .map(|e| Entry {
                        hostname: self.name.clone(),
                        ..e
                    })
                    .collect();
                // ssh-keyscan prints in the order its answers arrive.
                scanned.sort_by(|a, b| (&a.enc, &a.key).cmp(&(&b.enc, &b.key)));
                scanned.dedup();
                if scanned.is_empty() {
                    return Err("Unable to receive remote host keys".into());
                }
                if let Some(fp) = &self.fingerprint {
                    if !scanned.iter().any(|e| e.fingerprint.as_ref() == Some(fp)) {
                        return Err("Remote host public keys found but none of their fingerprints match the one you have provided".into());
                    }
                }
                // Nothing declared: known when the file holds exactly the
                // keys the host presents.
                use std::collections::BTreeSet;
                let presented: BTreeSet<&str> = scanned.iter().map(|e| e.key.as_str()).collect();
                let known: BTreeSet<&str> = stored_keys.iter().copied().collect();
                if !update && presented == known {
                    return Ok(exists);
                }
                scanned
            }
        };
        // The host's lines go (of the declared type only, when declared).
        let drop: Vec<usize> = stored
            .iter()
            .filter(|(_, e)| self.matches_enc(&e.enc))
            .map(|(n, _)| *n)
            .collect();
        let salt = match (&f.salt, self.hash) {
            (Some(s), true) if s.len() >= 16 => s.clone(),
            (_, true) => return Err("unexpected probe output: no salt to hash with".into()),
            _ => Vec::new(),
        };
        let lines: Vec<String> = new
            .iter()
            .enumerate()
            .map(|(i, e)| self.line(e, &salt, i))
            .collect();
        let old = if stored.is_empty() {
            Value::Null
        } else {
            Value::Array(stored.iter().map(|(_, e)| e.to_json()).collect())
        };
        let saved = match &self.key {
            Some(k) => format!("key: {k}"),
            None => format!(
                "fingerprint: {}",
                new[0].fingerprint.as_deref().unwrap_or_default()
            ),
        };
        let verb = if stored.is_empty() {
            format!("added to {config}")
        } else {
            format!("updated in {config}")
        };
        Ok(Plan::change(
            json!({"old": old, "new": new.iter().map(Entry::to_json).collect::<Vec<_>>()}),
            format!("Key for {} is set to be {verb}", self.name),
        )
        .with_data(Edit {
            host: self.ssh_host(),
            types: self.types(),
            predicted: f.rewritten(&drop, &lines),
            lines,
            group: f.group,
            done: format!("{}'s key saved to {config} ({saved})", self.name),
        }))
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        Ok(self.target.edit_snippet(plan.data::<Edit>()?))
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        finish_edit(plan, out)
    }
}

/// Both functions' result: the edit's own comment when it ran.
fn finish_edit(plan: &Plan, out: Output) -> Applied {
    match plan.data::<Edit>() {
        Err(e) => e.into(),
        Ok(w) => super::finish_with(plan, out, w.done.clone()),
    }
}

impl StateFunction for Absent {
    fn probe(&self) -> String {
        format!(
            "{}echo '{TAG} probed'\n",
            self.target.read_snippet(&self.name)
        )
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let f = parse(out.text, self.target.user.as_deref())?;
        let config = &self.target.config;
        let stored = f.stored(HashType::Sha256);
        if f.found.is_empty() {
            return Ok(Plan::noop("Host is already absent"));
        }
        let old: Vec<Value> = stored.iter().map(|(_, e)| e.to_json()).collect();
        Ok(Plan::change(
            json!({"old": old, "new": null}),
            format!("Key for {} is set to be removed from {config}", self.name),
        )
        .with_data(Edit {
            host: self.name.clone(),
            types: Vec::new(),
            lines: Vec::new(),
            predicted: f.rewritten(&f.found, &[]),
            group: f.group,
            done: format!("Removed {} from {config}", self.name),
        }))
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        Ok(self.target.edit_snippet(plan.data::<Edit>()?))
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        finish_edit(plan, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real ed25519 public key and a (short) RSA blob.
    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIHD+n9wL6Xb9HDW9ZaUY0koZ0WhEWWol5lHMOY0JJH3T";
    const RSA: &str = "AAAAB3NzaC1yc2EAAAADAQABAAAAgQ==";

    fn state(function: &str, name: &str, args: Value) -> Result<Box<dyn StateFunction>, String> {
        let chunk = Chunk {
            id: "k".into(),
            sls: "t".into(),
            file: "t.sls".into(),
            ..Chunk::standalone("ssh_known_hosts", function, name, args)
        };
        let ctx = BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        };
        let def = super::super::lookup("ssh_known_hosts", function).unwrap();
        (def.build)(&chunk, &ctx)
    }

    /// The probe's output: `content` (None: no file), the numbers of the
    /// lines ssh-keygen -F found, ssh-keyscan's lines.
    fn facts(content: Option<&str>, found: &[usize], scanned: &[&str]) -> String {
        let mut s = format!("{TAG} group staff\n");
        if let Some(c) = content {
            s.push_str(&format!(
                "{TAG} content\n{}\n{TAG} end\n",
                data_encoding::BASE64.encode(c.as_bytes())
            ));
        }
        for n in found {
            s.push_str(&format!("{TAG} found {n}\n"));
        }
        for l in scanned {
            s.push_str(&format!("{TAG} scan {l}\n"));
        }
        s.push_str(&format!(
            "{TAG} salt {}\n{TAG} probed\n",
            data_encoding::BASE64.encode(&[7u8; 20])
        ));
        s
    }

    fn plan(
        f: &dyn StateFunction,
        content: Option<&str>,
        found: &[usize],
        scanned: &[&str],
    ) -> Result<Plan, String> {
        f.plan(Output {
            text: &facts(content, found, scanned),
            rc: 0,
        })
    }

    fn written(p: &Plan) -> &str {
        &p.data::<Edit>().unwrap().predicted
    }

    #[test]
    fn fingerprints_are_salts_hex_pairs() {
        let sha = fingerprint(KEY, HashType::Sha256).unwrap();
        assert_eq!(sha.len(), 32 * 3 - 1);
        let raw = data_encoding::BASE64.decode(KEY.as_bytes()).unwrap();
        let b64 = data_encoding::BASE64_NOPAD.encode(&sha2::Sha256::digest(&raw));
        let back: Vec<u8> = sha
            .split(':')
            .map(|h| u8::from_str_radix(h, 16).unwrap())
            .collect();
        assert_eq!(data_encoding::BASE64_NOPAD.encode(&back), b64);
        assert_eq!(
            fingerprint(KEY, HashType::Md5).unwrap().split(':').count(),
            16
        );
        assert_eq!(blob_type(KEY).as_deref(), Some("ssh-ed25519"));
        assert_eq!(blob_type(RSA).as_deref(), Some("ssh-rsa"));
    }

    #[test]
    fn hashed_names_are_what_ssh_matches() {
        let h = hashed_host("example.com", &[1; 20], 0);
        let (salt, mac) = h.strip_prefix("|1|").unwrap().split_once('|').unwrap();
        let salt = data_encoding::BASE64.decode(salt.as_bytes()).unwrap();
        let want = Hmac::<Sha1>::new_from_slice(&salt)
            .unwrap()
            .chain_update(b"example.com")
            .finalize()
            .into_bytes();
        assert_eq!(
            data_encoding::BASE64.decode(mac.as_bytes()).unwrap(),
            want.to_vec()
        );
        assert_ne!(h, hashed_host("example.com", &[1; 20], 1));
    }

    #[test]
    fn a_declared_key_is_added_replacing_the_same_type() {
        let f = state(
            "present",
            "example.com",
            json!({"user": "alice", "key": KEY, "enc": "ed25519", "hash_known_hosts": false}),
        )
        .unwrap();
        let p = plan(f.as_ref(), None, &[], &[]).unwrap();
        assert_eq!(written(&p), format!("example.com ssh-ed25519 {KEY}\n"));
        assert_eq!(p.changes["old"], Value::Null);
        assert_eq!(p.changes["new"][0]["enc"], "ssh-ed25519");
        assert!(p.comment.contains("set to be added to .ssh/known_hosts"));
        let other = format!("other ssh-rsa {RSA}");
        let stale = "example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld";
        let rsa = format!("example.com ssh-rsa {RSA}");
        let p = plan(
            f.as_ref(),
            Some(&format!("{other}\n{stale}\n{rsa}\n")),
            &[2, 3],
            &[],
        )
        .unwrap();
        assert_eq!(
            written(&p),
            format!("{other}\n{rsa}\nexample.com ssh-ed25519 {KEY}\n")
        );
        assert_eq!(p.changes["old"].as_array().unwrap().len(), 2);
        assert!(p.comment.contains("updated in"));
        // Present: nothing to do.
        let line = format!("example.com ssh-ed25519 {KEY}");
        assert!(plan(f.as_ref(), Some(&format!("{line}\n")), &[1], &[])
            .unwrap()
            .is_noop());
        // On another port, unhashed: [host]:port.
        let f = state(
            "present",
            "example.com",
            json!({"user": "alice", "key": KEY, "enc": "ssh-ed25519", "port": 2222, "hash_known_hosts": false}),
        )
        .unwrap();
        let p = plan(f.as_ref(), Some(""), &[], &[]).unwrap();
        assert_eq!(
            written(&p),
            format!("[example.com]:2222 ssh-ed25519 {KEY}\n")
        );
        assert!(f.probe().contains("'[example.com]:2222'"));
    }

    #[test]
    fn hashed_lines_hide_the_name() {
        let f = state(
            "present",
            "example.com",
            json!({"key": KEY, "enc": "ssh-ed25519", "config": "/etc/ssh/ssh_known_hosts"}),
        )
        .unwrap();
        let p = plan(f.as_ref(), None, &[], &[]).unwrap();
        let w = written(&p);
        assert!(w.starts_with("|1|"), "{w}");
        assert!(!w.contains("example.com"));
        assert!(w.trim_end().ends_with(&format!(" ssh-ed25519 {KEY}")));
        // The changes name the host, not the random hash.
        assert_eq!(p.changes["new"][0]["hostname"], "example.com");
    }

    #[test]
    fn a_scanned_key_must_match_the_fingerprint() {
        let fp = fingerprint(KEY, HashType::Sha256).unwrap();
        let f = state(
            "present",
            "example.com",
            json!({"user": "alice", "fingerprint": fp.to_uppercase(), "hash_known_hosts": false}),
        )
        .unwrap();
        assert!(f.probe().contains("ssh-keyscan -T 5 example.com"));
        let scanned = [
            format!("example.com ssh-rsa {RSA}"),
            format!("example.com ssh-ed25519 {KEY}"),
        ];
        let scanned: Vec<&str> = scanned.iter().map(String::as_str).collect();
        let p = plan(f.as_ref(), None, &[], &scanned).unwrap();
        // Every key the host presents, once one matches (as Salt).
        assert_eq!(
            written(&p),
            format!("example.com ssh-ed25519 {KEY}\nexample.com ssh-rsa {RSA}\n")
        );
        assert_eq!(p.changes["new"][0]["fingerprint"], fp);
        let e = plan(f.as_ref(), None, &[], &scanned[..1]).unwrap_err();
        assert!(e.contains("none of their fingerprints match"), "{e}");
        assert_eq!(
            plan(f.as_ref(), None, &[], &[]).unwrap_err(),
            "Unable to receive remote host keys"
        );
        // Stored with that fingerprint: no scan needed to say so.
        let line = format!("example.com ssh-ed25519 {KEY}\n");
        assert!(plan(f.as_ref(), Some(&line), &[1], &[]).unwrap().is_noop());
    }

    #[test]
    fn without_key_or_fingerprint_any_scanned_key_known_is_enough() {
        let f = state(
            "present",
            "example.com",
            json!({"user": "alice", "hash_known_hosts": false}),
        )
        .unwrap();
        let scanned = [
            format!("example.com ssh-rsa {RSA}"),
            format!("example.com ssh-ed25519 {KEY}"),
        ];
        let scanned: Vec<&str> = scanned.iter().map(String::as_str).collect();
        let p = plan(f.as_ref(), None, &[], &scanned).unwrap();
        assert_eq!(
            written(&p),
            format!("example.com ssh-ed25519 {KEY}\nexample.com ssh-rsa {RSA}\n")
        );
        // Known when the file holds exactly the keys the host presents.
        let both = format!("example.com ssh-ed25519 {KEY}\nexample.com ssh-rsa {RSA}\n");
        assert!(plan(f.as_ref(), Some(&both), &[1, 2], &scanned)
            .unwrap()
            .is_noop());
        // Else the host's lines are replaced by what it presents.
        let stale =
            format!("example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld\nother ssh-rsa {RSA}\n");
        let p = plan(f.as_ref(), Some(&stale), &[1], &scanned).unwrap();
        assert_eq!(written(&p), format!("other ssh-rsa {RSA}\n{both}"));
        // enc limits the scan and what is taken from it.
        let f = state(
            "present",
            "example.com",
            json!({"user": "alice", "enc": "ed25519", "hash_known_hosts": false}),
        )
        .unwrap();
        assert!(f.probe().contains(" -t ed25519 "));
        let p = plan(f.as_ref(), None, &[], &scanned).unwrap();
        assert_eq!(written(&p), format!("example.com ssh-ed25519 {KEY}\n"));
    }

    #[test]
    fn absent_removes_every_line_found() {
        let f = state("absent", "example.com", json!({"user": "alice"})).unwrap();
        let other = format!("other ssh-rsa {RSA}\n");
        let content = format!("|1|x|y ssh-ed25519 {KEY}\n{other}example.com ssh-rsa {RSA}\n");
        let p = plan(f.as_ref(), Some(&content), &[1, 3], &[]).unwrap();
        assert_eq!(written(&p), other);
        assert_eq!(p.changes["new"], Value::Null);
        assert_eq!(p.changes["old"][0]["hostname"], "|1|x|y");
        assert!(plan(f.as_ref(), Some(&other), &[], &[]).unwrap().is_noop());
        assert_eq!(
            plan(f.as_ref(), None, &[], &[]).unwrap().comment,
            "Host is already absent"
        );
    }

    #[test]
    fn bad_input_and_missing_users_are_errors() {
        let err = |name: &str, args: Value| state("present", name, args).err().unwrap();
        assert!(err("h", json!({"config": "x"})).contains("absolute \"config\""));
        assert!(err("-oProxy=x", json!({"user": "a"})).contains("not a host name"));
        assert!(err("a b", json!({"user": "a"})).contains("not a host name"));
        assert!(
            err("h", json!({"user": "a", "key": KEY, "fingerprint": "aa"})).contains("not both")
        );
        assert!(err("h", json!({"user": "a", "key": KEY})).contains("\"enc\""));
        assert!(err("h", json!({"user": "a", "key": KEY, "enc": "rsa"})).contains("does not match"));
        assert!(err("h", json!({"user": "a", "key": "short!", "enc": "rsa"})).contains("base64"));
        assert!(err("h", json!({"user": "a", "enc": "foo"})).contains("key type"));
        assert!(err("h", json!({"user": "a", "port": 2222})).contains("hash_known_hosts"));
        assert!(
            err("h", json!({"user": "a", "fingerprint": "aa:bb"})).contains("sha256 fingerprint")
        );
        assert!(err("h", json!({"user": "a", "fingerprint_hash_type": "crc"})).contains("md5"));
        assert!(err("h", json!({"user": "a", "config": "../x"})).contains("usable path"));
        assert!(err("h", json!({"user": "a", "bogus": 1})).contains("bogus"));
        let f = state("present", "h", json!({"user": "ghost"})).unwrap();
        let e = f
            .plan(Output {
                text: &format!("{TAG} nouser\n"),
                rc: 0,
            })
            .unwrap_err();
        assert_eq!(e, "User ghost does not exist");
        let md5 = fingerprint(KEY, HashType::Md5).unwrap();
        assert!(state(
            "present",
            "h",
            json!({"user": "a", "fingerprint": md5, "fingerprint_hash_type": "md5"})
        )
        .is_ok());
    }

    /// The probe is valid sh and reads a real file as the plan expects.
    #[test]
    fn the_probe_reads_a_file_with_ssh_keygen() {
        if std::process::Command::new("ssh-keygen")
            .arg("-?")
            .output()
            .is_err()
        {
            return;
        }
        let dir = std::env::temp_dir().join(format!("halite-kh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("known_hosts");
        std::fs::write(
            &file,
            format!("other ssh-rsa {RSA}\nexample.com ssh-ed25519 {KEY}\n"),
        )
        .unwrap();
        let f = state(
            "present",
            "example.com",
            json!({"config": file.to_str().unwrap(), "key": KEY, "enc": "ed25519"}),
        )
        .unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(f.probe())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(&format!("{TAG} found 2")), "{text}");
        assert!(f.plan(Output { text: &text, rc: 0 }).unwrap().is_noop());
        // The apply makes the edit the plan predicts, on the file as it is.
        let run = |f: &dyn StateFunction| {
            let probe = std::process::Command::new("sh")
                .arg("-c")
                .arg(f.probe())
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&probe.stdout).into_owned();
            let p = f.plan(Output { text: &text, rc: 0 }).unwrap();
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(f.apply(&p).unwrap())
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            assert_eq!(
                std::fs::read_to_string(&file).unwrap(),
                p.data::<Edit>().unwrap().predicted
            );
        };
        let config = file.to_str().unwrap();
        let other = "AAAAC3NzaC1lZDI1NTE5AAAAIGak7utItdAW00KwTQNfwCtsiBpKFtXWolJe3ZdchWDT";
        run(state(
            "present",
            "example.com",
            json!({"config": config, "key": other, "enc": "ed25519", "hash_known_hosts": false}),
        )
        .unwrap()
        .as_ref());
        run(state(
            "present",
            "example.com",
            json!({"config": config, "key": RSA, "enc": "rsa"}),
        )
        .unwrap()
        .as_ref());
        assert!(std::fs::read_to_string(&file)
            .unwrap()
            .starts_with(&format!(
                "other ssh-rsa {RSA}\nexample.com ssh-ed25519 {other}\n|1|"
            )));
        run(state("absent", "example.com", json!({"config": config}))
            .unwrap()
            .as_ref());
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            format!("other ssh-rsa {RSA}\n")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
