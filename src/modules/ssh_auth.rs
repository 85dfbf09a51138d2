//! `ssh_auth.present` and `ssh_auth.absent`: one public key in a user's
//! `authorized_keys`, as Salt's `salt.states.ssh_auth` manages it.
//!
//! The probe resolves the user's home and primary group and reads the
//! file; the plan computes the new file on the controller (the key's line
//! added, rewritten when its options or comment differ, or removed), so
//! `test=True` shows exactly that line; the apply writes the file
//! atomically (the `file` module's write) only if it is still what was
//! read, creating `~/.ssh` (0700) and the file (0600) owned by the user.

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
            doc: "Ensure the public key `name` is in `user`'s authorized_keys (enc, comment, options).",
            args: &["user", "enc", "comment", "options", "config"],
            build: build_present,
        },
        FnDef {
            name: "absent",
            doc: "Ensure the public key `name` is not in `user`'s authorized_keys.",
            args: &["user", "enc", "comment", "options", "config"],
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
}

#[derive(Debug)]
struct SshAuth {
    user: String,
    enc: String,
    key: String,
    comment: Option<String>,
    options: Vec<String>,
    /// Absolute, or relative to the home directory.
    config: String,
    present: bool,
}

fn build_present(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    build(chunk, true)
}

fn build_absent(chunk: &Chunk, _: &BuildCtx) -> Result<Box<dyn StateFunction>, String> {
    build(chunk, false)
}

fn is_enc(s: &str) -> bool {
    s.starts_with("ssh-") || s.starts_with("ecdsa-") || s.starts_with("sk-")
}

fn build(chunk: &Chunk, present: bool) -> Result<Box<dyn StateFunction>, String> {
    let a: Args = super::typed_args(chunk)?;
    let err = |m: String| format!("{}: {m}", chunk.describe());
    super::user::check_name("user", &a.user).map_err(err)?;
    // Salt: `name` is the key, or a whole `ENC KEY [COMMENT]` line.
    let words: Vec<&str> = chunk.name.split_whitespace().collect();
    let (enc, key, comment) = match words.as_slice() {
        [key] => (a.enc.clone(), key.to_string(), a.comment.clone()),
        [enc, key, rest @ ..] if is_enc(enc) => (
            Some(enc.to_string()),
            key.to_string(),
            if rest.is_empty() {
                a.comment.clone()
            } else {
                Some(rest.join(" "))
            },
        ),
        _ => {
            return Err(err(format!(
                "`{}` is not a public key (KEY, or ENC KEY [COMMENT])",
                chunk.name
            )))
        }
    };
    let b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
    if key.len() < 16 || !key.chars().all(b64) {
        return Err(err(format!("`{key}` is not a base64 public key")));
    }
    let enc = enc.unwrap_or_else(|| "ssh-rsa".into());
    if !is_enc(&enc) || enc.contains(char::is_whitespace) {
        return Err(err(format!("enc `{enc}` is not a key type")));
    }
    let config = a.config.unwrap_or_else(|| DEFAULT_CONFIG.into());
    let config = config
        .strip_prefix("%h/")
        .map(str::to_string)
        .unwrap_or(config);
    let options = a.options.unwrap_or_default();
    for text in options.iter().chain(comment.iter()) {
        if text.contains(['\n', '\r']) {
            return Err(err("options and comment must be one line".into()));
        }
    }
    if config.is_empty() || config.split('/').any(|p| p == "..") {
        return Err(err(format!("config `{config}` is not a usable path")));
    }
    Ok(Box::new(SshAuth {
        user: a.user,
        enc,
        key,
        comment,
        options,
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

impl SshAuth {
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
        let identity = format!("{} {}", self.user, self.key);
        if self.present {
            super::Managed::present("ssh_auth", &identity)
        } else {
            super::Managed::absent("ssh_auth", &identity)
        }
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
        let want = self.line();
        let mut lines: Vec<String> = Vec::new();
        let mut found = false;
        let mut same = true;
        for l in old.lines() {
            if key_of(l) == Some(self.key.as_str()) {
                if self.present && !found {
                    same &= l == want;
                    lines.push(want.clone());
                } else {
                    same = false;
                }
                found = true;
            } else {
                lines.push(l.to_string());
            }
        }
        let (change, comment) = match (self.present, found) {
            (true, true) if same => {
                return Ok(Plan::noop(format!(
                    "The authorized host key {} is already present for user {}",
                    self.key, self.user
                )))
            }
            (true, true) => ("Updated", "is set to be updated"),
            (true, false) => {
                lines.push(want);
                ("New", "is set to be added")
            }
            (false, true) => ("Removed", "is set to be removed"),
            (false, false) => {
                return Ok(Plan::noop(format!(
                    "Key {} for user {} is already absent",
                    self.key, self.user
                )))
            }
        };
        let mut content = lines.join("\n");
        if !content.is_empty() {
            content.push('\n');
        }
        Ok(Plan::change(
            json!({ &self.key: change }),
            format!(
                "The authorized host key {} for user {} {comment}",
                self.key, self.user
            ),
        )
        .with_data(KeysFile {
            content,
            group: f.group,
            sha256: f.sha256,
        }))
    }

    fn apply(&self, plan: &Plan) -> Result<String, PlanMismatch> {
        let KeysFile {
            content,
            group,
            sha256,
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
        if let Err(e) = plan.data::<KeysFile>() {
            return e.into();
        }
        super::finish_with(plan, out, plan.comment.replace(" is set to be ", " was "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
