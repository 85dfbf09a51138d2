//! `ssh_auth.present` and `ssh_auth.absent`: one public key in a user's
//! `authorized_keys`, as Salt's `salt.states.ssh_auth` manages it.
//!
//! The probe resolves the user's home and primary group and reads the
//! file; the plan computes the new file on the controller (the key's line
//! added, rewritten when its options or comment differ, or removed), so
//! `test=True` shows exactly that line; the apply writes the file
//! atomically (the `file` module's write) only if it is still what was
//! read, creating `~/.ssh` (0700) and the file (0600) owned by the user.
//!
//! With `source: salt://...` the keys come from a file of the states tree,
//! read on the controller when the state is built: each key line is
//! handled as if it were given by `name`, all of them in one write.

use serde::Deserialize;
use serde_json::json;

use super::{
    Applied, BuildCtx, FnDef, LedgerKind, ModuleDef, Output, Plan, PlanMismatch, StateFunction,
};
use crate::state::Chunk;
use crate::transport::quote::quote;

pub const MODULE: ModuleDef = ModuleDef {
    name: "ssh_auth",
    functions: &[
        FnDef {
            name: "present",
            doc: "Ensure the public key `name` (or each key of the file `source`) is in `user`'s authorized_keys (enc, comment, options).",
            args: &["user", "enc", "comment", "options", "config", "source"],
            build: build_present,
        },
        FnDef {
            name: "absent",
            doc: "Ensure the public key `name` (or each key of the file `source`) is not in `user`'s authorized_keys.",
            args: &["user", "enc", "comment", "options", "config", "source"],
            build: build_absent,
        },
    ],
    // Recorded only for the default file: identity `USER KEY`.
    ledger: &[LedgerKind {
        kind: "ssh_auth",
        exists: |w| {
            format!(
                "{{ _w={w}; _h=$(getent passwd \"${{_w%% *}}\" | cut -d: -f6) && [ -n \"$_h\" ] && grep -qsF -- \"${{_w#* }}\" \"$_h/{DEFAULT_CONFIG}\"; }}"
            )
        },
        prune: ("absent", |identity| {
            let (user, key) = identity.split_once(' ').unwrap_or(("", identity));
            json!({"name": key, "user": user})
        }),
    }],
};

/// Salt's default `config`, relative to the user's home.
const DEFAULT_CONFIG: &str = ".ssh/authorized_keys";
const TAG: &str = "halite-ssh:";
/// A larger authorized_keys file is refused rather than rewritten.
const MAX_SIZE: usize = 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    user: String,
    enc: Option<String>,
    comment: Option<String>,
    options: Option<Vec<String>>,
    config: Option<String>,
    source: Option<String>,
}

/// One public key as it is to be written.
#[derive(Debug, Clone, PartialEq)]
struct Key {
    enc: String,
    key: String,
    comment: Option<String>,
    options: Vec<String>,
}

#[derive(Debug)]
struct SshAuth {
    user: String,
    /// The state's name: the key of `changes` with a source.
    name: String,
    /// The key given by `name`, or every key line of `source`.
    keys: Vec<Key>,
    /// The `salt://` URL the keys came from.
    source: Option<String>,
    /// Absolute, or relative to the home directory.
    config: String,
    present: bool,
}

fn build_present(chunk: &Chunk, ctx: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    build(chunk, ctx, true)
}

fn build_absent(chunk: &Chunk, ctx: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    build(chunk, ctx, false)
}

fn is_enc(s: &str) -> bool {
    s.starts_with("ssh-") || s.starts_with("ecdsa-") || s.starts_with("sk-")
}

/// `name` (or a source line, whose own options come first): the key, or a
/// whole `ENC KEY [COMMENT]` line, as Salt reads it.
fn parse_key(
    line: &str,
    enc: Option<&str>,
    comment: Option<&str>,
    options: &[String],
) -> Result<Key, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    // A source line may start with its options (`no-pty,from="..."`).
    let (own_options, words) = match words.iter().position(|w| is_enc(w)) {
        Some(i) if i > 0 && words.len() > i + 1 => (Some(words[..i].join(" ")), &words[i..]),
        _ => (None, &words[..]),
    };
    let (enc, key, comment) = match words {
        [key] => (
            enc.map(str::to_string),
            key.to_string(),
            comment.map(str::to_string),
        ),
        [enc, key, rest @ ..] if is_enc(enc) => (
            Some(enc.to_string()),
            key.to_string(),
            if rest.is_empty() {
                comment.map(str::to_string)
            } else {
                Some(rest.join(" "))
            },
        ),
        _ => {
            return Err(format!(
                "`{line}` is not a public key (KEY, or ENC KEY [COMMENT])"
            ))
        }
    };
    let b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
    if key.len() < 16 || !key.chars().all(b64) {
        return Err(format!("`{key}` is not a base64 public key"));
    }
    let enc = enc.unwrap_or_else(|| "ssh-rsa".into());
    if !is_enc(&enc) || enc.contains(char::is_whitespace) {
        return Err(format!("enc `{enc}` is not a key type"));
    }
    Ok(Key {
        enc,
        key,
        comment,
        options: own_options.map_or_else(|| options.to_vec(), |o| vec![o]),
    })
}

/// The keys of a `source` file: one per line holding one, blank lines and
/// `#` comments skipped; a line that is no key is an error naming it.
fn keys_of_source(ctx: &BuildCtx, url: &str, options: &[String]) -> Result<Vec<Key>, String> {
    use super::file::SourceError;
    let (_, path) = super::file::resolve_salt_url(ctx.states_root, url).map_err(|e| match e {
        SourceError::Missing => format!("Failed to add the ssh key. Source file {url} is missing"),
        SourceError::Unsupported => {
            format!("source `{url}`: only salt:// sources are supported")
        }
        SourceError::Escape => format!("source `{url}` leaves the states root"),
    })?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("source `{url}`: {e}"))?;
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        keys.push(
            parse_key(t, None, None, options)
                .map_err(|e| format!("source `{url}` line {}: {e}", n + 1))?,
        );
    }
    if keys.is_empty() {
        return Err(format!("source `{url}` holds no public key"));
    }
    Ok(keys)
}

fn build(chunk: &Chunk, ctx: &BuildCtx, present: bool) -> Result<Box<dyn StateFunction>, String> {
    let a: Args = super::typed_args(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    super::user::check_name("user", &a.user).map_err(err)?;
    let options = a.options.unwrap_or_default();
    // Salt: with a source, enc and comment are ignored (and `name` is
    // only the state's name).
    let keys = match &a.source {
        Some(url) => keys_of_source(ctx, url, &options).map_err(err)?,
        None => vec![parse_key(
            &chunk.name,
            a.enc.as_deref(),
            a.comment.as_deref(),
            &options,
        )
        .map_err(err)?],
    };
    let config = a.config.unwrap_or_else(|| DEFAULT_CONFIG.into());
    let config = config
        .strip_prefix("%h/")
        .map(str::to_string)
        .unwrap_or(config);
    for k in &keys {
        for text in k.options.iter().chain(k.comment.iter()) {
            if text.contains(['\n', '\r']) {
                return Err(err("options and comment must be one line".into()));
            }
        }
    }
    if config.is_empty() || config.split('/').any(|p| p == "..") {
        return Err(err(format!("config `{config}` is not a usable path")));
    }
    Ok(Box::new(SshAuth {
        user: a.user,
        name: chunk.name.clone(),
        keys,
        source: a.source,
        config,
        present,
    }))
}

/// The key field of an authorized_keys line, if it has one.
fn key_of(line: &str) -> Option<&str> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let words: Vec<&str> = t.split_whitespace().collect();
    words.windows(2).find(|w| is_enc(w[0])).map(|w| w[1])
}

impl Key {
    fn line(&self) -> String {
        let mut l = String::new();
        if !self.options.is_empty() {
            l.push_str(&self.options.join(","));
            l.push(' ');
        }
        l.push_str(&self.enc);
        l.push(' ');
        l.push_str(&self.key);
        if let Some(c) = &self.comment {
            l.push(' ');
            l.push_str(c);
        }
        l
    }
}

/// What one key's line needs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Status {
    Exists,
    Add,
    Update,
    Remove,
    Absent,
}

impl SshAuth {
    /// The file with every key of the state put in (or taken out), in
    /// order, and what each key needed.
    fn edit(&self, old: &str) -> (String, Vec<Status>) {
        let mut lines: Vec<String> = old.lines().map(str::to_string).collect();
        let mut statuses = Vec::new();
        for k in &self.keys {
            let want = k.line();
            let mut kept: Vec<String> = Vec::new();
            let mut found = false;
            let mut same = true;
            for l in lines {
                if key_of(&l) == Some(k.key.as_str()) {
                    if self.present && !found {
                        same &= l == want;
                        kept.push(want.clone());
                    } else {
                        same = false;
                    }
                    found = true;
                } else {
                    kept.push(l);
                }
            }
            let status = match (self.present, found) {
                (true, true) if same => Status::Exists,
                (true, true) => Status::Update,
                (true, false) => {
                    kept.push(want);
                    Status::Add
                }
                (false, true) => Status::Remove,
                (false, false) => Status::Absent,
            };
            lines = kept;
            statuses.push(status);
        }
        let mut content = lines.join("\n");
        if !content.is_empty() {
            content.push('\n');
        }
        (content, statuses)
    }

    /// The shell lines setting `p` to the file's path (`h`: the home, `g`:
    /// the primary group); `missing` runs when the user does not exist.
    fn path_snippet(&self, missing: &str) -> String {
        let u = quote(&self.user);
        let path = if self.config.starts_with('/') {
            quote(&self.config)
        } else {
            format!("\"$h\"/{}", quote(&self.config))
        };
        format!(
            "pw=$(getent passwd {u}) || {{ {missing}; }}\nh=$(printf '%s\\n' \"$pw\" | cut -d: -f6)\ng=$(id -gn -- {u}) || exit 1\np={path}\n"
        )
    }
}

/// The probe's findings.
struct Facts {
    group: String,
    /// `None`: no file yet.
    content: Option<String>,
    sha256: Option<String>,
}

/// A plan's data: the whole new file, its group, and the hash of the file
/// it was computed from (`None`: there was none).
#[derive(Debug, PartialEq)]
struct KeysFile {
    content: String,
    group: String,
    sha256: Option<String>,
    /// The comment once written.
    done: String,
}

fn parse(text: &str, user: &str) -> Result<Facts, String> {
    let (tags, content) = super::tagged_probe(text, TAG, "the authorized keys file")?;
    let mut f = Facts {
        group: String::new(),
        content,
        sha256: None,
    };
    for t in &tags {
        match t.as_str() {
            "nouser" => return Err(format!("User {user} does not exist")),
            "notfile" => return Err("the authorized keys path is not a regular file".into()),
            "toolarge" => {
                return Err(format!(
                    "the authorized keys file is over {} KiB",
                    MAX_SIZE / 1024
                ))
            }
            rest => {
                if let Some(g) = rest.strip_prefix("group ") {
                    f.group = g.to_string();
                } else if let Some(s) = rest.strip_prefix("sha256 ") {
                    f.sha256 = Some(s.to_string());
                }
            }
        }
    }
    if f.group.is_empty() {
        return Err(format!("unexpected probe output: {}", text.trim()));
    }
    Ok(f)
}

impl StateFunction for SshAuth {
    fn managed(&self) -> Vec<super::Managed> {
        if self.config != DEFAULT_CONFIG {
            return Vec::new();
        }
        self.keys
            .iter()
            .flat_map(|k| {
                let identity = format!("{} {}", self.user, k.key);
                if self.present {
                    super::Managed::present("ssh_auth", &identity)
                } else {
                    super::Managed::absent("ssh_auth", &identity)
                }
            })
            .collect()
    }

    fn probe(&self) -> String {
        format!(
            "{}printf '%s group %s\\n' '{TAG}' \"$g\"\nif [ -f \"$p\" ]; then\n[ \"$(wc -c < \"$p\")\" -le {MAX_SIZE} ] || {{ echo '{TAG} toolarge'; exit 0; }}\nprintf '%s sha256 %s\\n' '{TAG}' \"$(sha256sum < \"$p\" | cut -d ' ' -f 1)\"\necho '{TAG} content'; base64 < \"$p\"; echo '{TAG} end'\nelif [ -e \"$p\" ] || [ -L \"$p\" ]; then echo '{TAG} notfile'\nfi\n",
            self.path_snippet(&format!("echo '{TAG} nouser'; exit 0"))
        )
    }

    fn plan(&self, out: Output) -> Result<Plan, String> {
        let f = parse(out.text, &self.user)?;
        let old = f.content.clone().unwrap_or_default();
        let (content, statuses) = self.edit(&old);
        let user = &self.user;
        let (changes, comment, done) = match &self.source {
            None => {
                let key = &self.keys[0].key;
                let (change, comment) = match statuses[0] {
                    Status::Exists => {
                        return Ok(Plan::noop(format!(
                            "The authorized host key {key} is already present for user {user}"
                        )))
                    }
                    Status::Absent => {
                        return Ok(Plan::noop(format!(
                            "Key {key} for user {user} is already absent"
                        )))
                    }
                    Status::Update => ("Updated", "is set to be updated"),
                    Status::Add => ("New", "is set to be added"),
                    Status::Remove => ("Removed", "is set to be removed"),
                };
                let comment = format!("The authorized host key {key} for user {user} {comment}");
                let done = comment.replace(" is set to be ", " was ");
                (json!({ key: change }), comment, done)
            }
            // Salt's test comment lists the keys to change; the result is
            // keyed by the state's name.
            Some(url) => {
                let mut listed = Vec::new();
                for (k, st) in self.keys.iter().zip(&statuses) {
                    let what = match st {
                        Status::Add => "Set to add",
                        Status::Update => "Set to update",
                        Status::Remove => "Set to remove",
                        Status::Exists | Status::Absent => continue,
                    };
                    listed.push(format!("{what}: {}", k.key));
                }
                if listed.is_empty() {
                    let state = if self.present { "present" } else { "absent" };
                    return Ok(Plan::noop(format!(
                        "All host keys in file {url} are already {state}"
                    )));
                }
                let (change, done) = if !self.present {
                    ("Removed", "Key removed".to_string())
                } else if statuses.contains(&Status::Add) {
                    (
                        "New",
                        format!(
                            "The authorized host key {} for user {user} was added",
                            self.name
                        ),
                    )
                } else {
                    (
                        "Updated",
                        format!(
                            "The authorized host key {} for user {user} was updated",
                            self.name
                        ),
                    )
                };
                (json!({ &self.name: change }), listed.join("\n"), done)
            }
        };
        Ok(Plan::change(changes, comment).with_data(KeysFile {
            content,
            group: f.group,
            sha256: f.sha256,
            done,
        }))
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let KeysFile {
            content,
            group,
            sha256,
            ..
        } = plan.data::<KeysFile>()?;
        let owner = quote(&format!("{}:{group}", self.user));
        // Written only over what the probe read (or where nothing was).
        let guard = match sha256 {
            Some(sha) => format!(
                "[ \"$(sha256sum < \"$p\" | cut -d ' ' -f 1)\" = {} ] || {{ echo 'the file changed on the host after it was read'; fail; }}\n",
                quote(sha)
            ),
            None => "if [ -e \"$p\" ] || [ -L \"$p\" ]; then echo 'the file appeared on the host after it was read'; fail; fi\n".into(),
        };
        let perms = super::file::Perms {
            user: Some(self.user.clone()),
            group: Some(group.clone()),
            mode: Some(0o600),
        };
        Ok(format!(
            "{}d=$(dirname -- \"$p\")\nif [ ! -d \"$d\" ]; then ( umask 077; mkdir -p -- \"$d\" ) && chown -- {owner} \"$d\" || exit 1; fi\n{}",
            self.path_snippet(&format!(
                "echo {}; exit 1",
                quote(&format!("User {} does not exist", self.user))
            )),
            super::file::write_snippet(content.as_bytes(), &perms, false, &guard)
        ))
    }

    fn finish(&self, plan: &Plan, out: Output) -> Applied {
        match plan.data::<KeysFile>() {
            Ok(k) => super::finish_with(plan, out, k.done.clone()),
            Err(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIKeyKeyKeyKeyKey";

    fn state(
        function: &str,
        name: &str,
        args: serde_json::Value,
    ) -> Result<Box<dyn StateFunction>, String> {
        let chunk = Chunk {
            id: "k".into(),
            sls: "t".into(),
            file: "t.sls".into(),
            ..Chunk::standalone("ssh_auth", function, name, args)
        };
        let ctx = BuildCtx {
            states_root: std::path::Path::new("/nonexistent"),
            renderer: None,
        };
        let def = super::super::lookup("ssh_auth", function).unwrap();
        (def.build)(&chunk, &ctx)
    }

    /// The probe's output for a file holding `content` (None: no file).
    fn facts(content: Option<&str>) -> String {
        let mut s = format!("{TAG} group staff\n");
        if let Some(c) = content {
            s.push_str(&format!(
                "{TAG} sha256 abc\n{TAG} content\n{}\n{TAG} end\n",
                data_encoding::BASE64.encode(c.as_bytes())
            ));
        }
        s
    }

    fn plan(f: &dyn StateFunction, content: Option<&str>) -> Result<Plan, String> {
        f.plan(Output {
            text: &facts(content),
            rc: 0,
        })
    }

    #[test]
    fn present_adds_updates_or_keeps_the_line() {
        let f = state(
            "present",
            &format!("ssh-ed25519 {KEY} me@host"),
            json!({"user": "alice", "options": ["no-pty"]}),
        )
        .unwrap();
        let want = format!("no-pty ssh-ed25519 {KEY} me@host\n");
        let p = plan(f.as_ref(), None).unwrap();
        assert_eq!(p.changes[KEY], "New");
        assert_eq!(p.data::<KeysFile>().unwrap().content, want);
        assert_eq!(p.data::<KeysFile>().unwrap().group, "staff");
        let other = "ssh-rsa AAAAB3NzaC1yc2EAAAAother x\n";
        let p = plan(f.as_ref(), Some(other)).unwrap();
        assert_eq!(
            p.data::<KeysFile>().unwrap().content,
            format!("{other}{want}")
        );
        assert!(plan(f.as_ref(), Some(&format!("# c\n{want}{other}")))
            .unwrap()
            .is_noop());
        // A different comment, and a duplicate: one line, in place.
        let p = plan(
            f.as_ref(),
            Some(&format!(
                "ssh-ed25519 {KEY} old\n{other}ssh-ed25519 {KEY} dup\n"
            )),
        )
        .unwrap();
        assert_eq!(p.changes[KEY], "Updated");
        assert_eq!(
            p.data::<KeysFile>().unwrap().content,
            format!("{want}{other}")
        );
        // Options leading the name replace the `options` argument (Salt's
        // _parse_line); a quoted option keeps its words.
        let f = state(
            "present",
            &format!("command=\"echo hi\",no-pty ssh-ed25519 {KEY} me"),
            json!({"user": "alice", "options": ["restrict"]}),
        )
        .unwrap();
        assert_eq!(
            plan(f.as_ref(), None)
                .unwrap()
                .data::<KeysFile>()
                .unwrap()
                .content,
            format!("command=\"echo hi\",no-pty ssh-ed25519 {KEY} me\n")
        );
        // A bare key takes enc (default ssh-rsa) and comment arguments.
        let f = state("present", KEY, json!({"user": "alice", "comment": "c d"})).unwrap();
        let p = plan(f.as_ref(), None).unwrap();
        assert_eq!(
            p.data::<KeysFile>().unwrap().content,
            format!("ssh-rsa {KEY} c d\n")
        );
    }

    #[test]
    fn absent_removes_every_line_of_the_key() {
        let f = state("absent", KEY, json!({"user": "alice"})).unwrap();
        let p = plan(
            f.as_ref(),
            Some(&format!(
                "a ssh-ed25519 {KEY}\nssh-rsa AAAAB3NzaC1yc2EAAAAother x\n"
            )),
        )
        .unwrap();
        assert_eq!(p.changes[KEY], "Removed");
        assert_eq!(
            p.data::<KeysFile>().unwrap().content,
            "ssh-rsa AAAAB3NzaC1yc2EAAAAother x\n"
        );
        assert!(plan(f.as_ref(), None).unwrap().is_noop());
        assert!(plan(f.as_ref(), Some("")).unwrap().is_noop());
    }

    /// `source`: the keys of a file of the states tree, each as if given
    /// by name, in one write; changes keyed by the state's name.
    #[test]
    fn source_keys_from_the_states_tree() {
        let root = std::env::temp_dir().join(format!("halite-sshsrc-{}", std::process::id()));
        std::fs::create_dir_all(root.join("keys")).unwrap();
        let k2 = "AAAAB3NzaC1yc2EAAAADAQABAAABAQCsecond";
        std::fs::write(
            root.join("keys/ops.pub"),
            format!("# ops\nssh-ed25519 {KEY} a@x\n\nno-pty ssh-rsa {k2} b@y\n"),
        )
        .unwrap();
        let build_in = |function: &str, args: serde_json::Value| {
            let chunk = Chunk {
                id: "ops".into(),
                sls: "t".into(),
                file: "t.sls".into(),
                ..Chunk::standalone("ssh_auth", function, "ops", args)
            };
            let ctx = BuildCtx {
                states_root: &root,
                renderer: None,
            };
            (super::super::lookup("ssh_auth", function).unwrap().build)(&chunk, &ctx)
        };
        let f = build_in(
            "present",
            json!({"user": "alice", "source": "salt://keys/ops.pub", "options": ["restrict"]}),
        )
        .unwrap();
        assert_eq!(f.managed().len(), 2);
        let both = format!("restrict ssh-ed25519 {KEY} a@x\nno-pty ssh-rsa {k2} b@y\n");
        let p = plan(f.as_ref(), Some("ssh-rsa AAAAB3NzaC1yc2EAAAAother x\n")).unwrap();
        assert_eq!(Value::Object(p.changes.clone()), json!({"ops": "New"}));
        assert_eq!(p.comment, format!("Set to add: {KEY}\nSet to add: {k2}"));
        assert_eq!(
            p.data::<KeysFile>().unwrap().content,
            format!("ssh-rsa AAAAB3NzaC1yc2EAAAAother x\n{both}")
        );
        assert_eq!(
            f.finish(&p, Output { text: "", rc: 0 }).comment,
            "The authorized host key ops for user alice was added"
        );
        let p = plan(f.as_ref(), Some(&both)).unwrap();
        assert!(p.is_noop());
        assert_eq!(
            p.comment,
            "All host keys in file salt://keys/ops.pub are already present"
        );
        let p = plan(
            f.as_ref(),
            Some(&format!("ssh-ed25519 {KEY} old\nno-pty ssh-rsa {k2} b@y\n")),
        )
        .unwrap();
        assert_eq!(Value::Object(p.changes.clone()), json!({"ops": "Updated"}));
        assert_eq!(p.comment, format!("Set to update: {KEY}"));
        // absent: every key of the file.
        let f = build_in(
            "absent",
            json!({"user": "alice", "source": "salt://keys/ops.pub"}),
        )
        .unwrap();
        let p = plan(f.as_ref(), Some(&format!("{both}keep me\n"))).unwrap();
        assert_eq!(Value::Object(p.changes.clone()), json!({"ops": "Removed"}));
        assert_eq!(p.data::<KeysFile>().unwrap().content, "keep me\n");
        assert_eq!(
            plan(f.as_ref(), Some("keep me\n")).unwrap().comment,
            "All host keys in file salt://keys/ops.pub are already absent"
        );
        // A missing file, a line that is no key, a path out of the tree.
        let e = build_in(
            "present",
            json!({"user": "a", "source": "salt://keys/nope.pub"}),
        )
        .unwrap_err();
        assert!(
            e.ends_with("Failed to add the ssh key. Source file salt://keys/nope.pub is missing"),
            "{e}"
        );
        std::fs::write(root.join("keys/bad.pub"), "ssh-ed25519 short\n").unwrap();
        let e = build_in(
            "present",
            json!({"user": "a", "source": "salt://keys/bad.pub"}),
        )
        .unwrap_err();
        assert!(e.contains("salt://keys/bad.pub` line 1"), "{e}");
        let e = build_in(
            "present",
            json!({"user": "a", "source": "salt://../etc/passwd"}),
        )
        .unwrap_err();
        assert!(e.contains("leaves the states root"), "{e}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn bad_input_and_missing_users_are_errors() {
        let err = |name: &str, args: serde_json::Value| state("present", name, args).err().unwrap();
        assert!(err(KEY, json!({})).contains("user"));
        assert!(err("not a key at all", json!({"user": "a"})).contains("not a public key"));
        assert!(err("short", json!({"user": "a"})).contains("base64"));
        assert!(err(KEY, json!({"user": "a", "enc": "rsa"})).contains("key type"));
        assert!(err(KEY, json!({"user": "-a"})).contains("may not start"));
        assert!(err(KEY, json!({"user": "a", "comment": "x\ny"})).contains("one line"));
        assert!(err(KEY, json!({"user": "a", "config": "../x"})).contains("usable path"));
        let f = state("present", KEY, json!({"user": "ghost"})).unwrap();
        let e = f
            .plan(Output {
                text: &format!("{TAG} nouser\n"),
                rc: 0,
            })
            .unwrap_err();
        assert_eq!(e, "User ghost does not exist");
        // Only the default file is ledgered.
        assert_eq!(f.managed().len(), 1);
        let f = state(
            "present",
            KEY,
            json!({"user": "a", "config": "/etc/ssh/keys/a"}),
        )
        .unwrap();
        assert!(f.managed().is_empty());
    }
}
