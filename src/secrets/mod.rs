//! Secrets at rest: encrypted values in pillar (and SLS) files, decrypted on
//! the controller only, in memory, by the `gpg` and `age` renderers of a
//! shebang pipeline (`#!yaml|gpg`, `#!jinja|yaml|gpg`, `#!yaml|age`).
//!
//! Why a module of its own: pillar trees live in git, so passwords, tokens
//! and TLS keys must be stored encrypted there, and everything that touches
//! a decrypted value (the walk, the two ciphers, the redaction of job
//! records, `halite secret encrypt`) must follow the same few rules:
//! - a value that cannot be decrypted fails the file with the file, the key
//!   path and the reason; it never renders as the ciphertext or as empty
//!   (Salt's `gpg_decrypt_must_succeed: True`, its 3008 default);
//! - a decrypted value is never written to a file, a log or an error message
//!   by halite: errors name the file and key path only, and every value
//!   decrypted in a run is withheld from its job record ([`Secrets::redact`]).
//!
//! Semantics (Salt 3008, `salt/renderers/gpg.py`): after the data renderer
//! (yaml or json) the data is walked: mapping values and list items, nested
//! to any depth (keys are never decrypted); in every string, each armored
//! block (`-----BEGIN PGP MESSAGE-----` .. `-----END PGP MESSAGE-----`) is
//! replaced by its plaintext, and when at least one was, trailing newlines
//! are removed (a YAML `|` block ends in one). A literal `\n` inside a block
//! is read as a newline, so a one-line quoted armor works, as in Salt. Other
//! values pass through unchanged. The `age` renderer does the same with
//! `-----BEGIN AGE ENCRYPTED FILE-----` blocks; there, whitespace inside a
//! block is not significant (its base64 is re-wrapped before parsing), so a
//! folded or re-indented YAML scalar still decrypts.
//!
//! The OpenPGP implementation is the `gpg` program (GnuPG), see [`gpg`] for
//! why; age is the `age` crate, the reference Rust implementation.

mod age;
pub mod encrypt;
mod gpg;

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use regex::Regex;

use crate::inventory::expand_tilde;
use crate::Value;

pub use self::age::{encrypt as age_encrypt, AgeError};
pub use self::gpg::{encrypt as gpg_encrypt, GpgError};

/// Where the controller's private keys are: halite.yaml's `gpg_keydir` and
/// `age_identity_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// A GnuPG home directory (pubring.kbx, private-keys-v1.d), given to
    /// `gpg --homedir`. Salt's default: `/etc/salt/gpgkeys`.
    pub gpg_keydir: PathBuf,
    /// A file of age identities (`AGE-SECRET-KEY-1...` lines, as
    /// `age-keygen` writes them).
    pub age_identity_file: PathBuf,
}

/// Salt's default key directory (`<config_dir>/gpgkeys`).
pub const DEFAULT_GPG_KEYDIR: &str = "/etc/salt/gpgkeys";

impl Keys {
    /// `$XDG_CONFIG_HOME/halite/age.key`, else `~/.config/halite/age.key`:
    /// outside the project, since the project's pillar lives in git.
    pub fn default_age_identity_file() -> PathBuf {
        match std::env::var_os("XDG_CONFIG_HOME") {
            Some(d) if !d.is_empty() => PathBuf::from(d).join("halite/age.key"),
            _ => expand_tilde("~/.config/halite/age.key"),
        }
    }
}

impl Default for Keys {
    fn default() -> Self {
        Keys {
            gpg_keydir: PathBuf::from(DEFAULT_GPG_KEYDIR),
            age_identity_file: Keys::default_age_identity_file(),
        }
    }
}

/// A decrypting renderer of a shebang pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    Gpg,
    Age,
}

impl Cipher {
    pub fn from_name(name: &str) -> Option<Cipher> {
        match name {
            "gpg" => Some(Cipher::Gpg),
            "age" => Some(Cipher::Age),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Cipher::Gpg => "gpg",
            Cipher::Age => "age",
        }
    }

    /// The armored blocks this renderer decrypts.
    fn armor(self) -> &'static Regex {
        static GPG: OnceLock<Regex> = OnceLock::new();
        static AGE: OnceLock<Regex> = OnceLock::new();
        let (cell, pattern) = match self {
            Cipher::Gpg => (
                &GPG,
                r"(?s)-----BEGIN PGP MESSAGE-----.*?-----END PGP MESSAGE-----",
            ),
            Cipher::Age => (
                &AGE,
                r"(?s)-----BEGIN AGE ENCRYPTED FILE-----.*?-----END AGE ENCRYPTED FILE-----",
            ),
        };
        cell.get_or_init(|| Regex::new(pattern).expect("valid armor pattern"))
    }
}

/// Why one value could not be decrypted. Never holds the value.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Reason {
    #[error(transparent)]
    Gpg(#[from] GpgError),
    #[error(transparent)]
    Age(#[from] AgeError),
    #[error("the decrypted value is not UTF-8 text")]
    NotText,
}

/// A value of `file` at `key` (`a:b:0:c`, Salt's delimiter) that the
/// `cipher` renderer could not decrypt.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}: {key}: cannot decrypt ({reason})")]
pub struct DecryptError {
    pub file: String,
    pub key: String,
    pub cipher: &'static str,
    pub reason: Reason,
}

/// The keys, and every value decrypted with them in this run (so job
/// records can withhold them). One per run, shared by every host's renderer.
#[derive(Debug, Default)]
pub struct Secrets {
    keys: Keys,
    revealed: Mutex<BTreeSet<String>>,
}

/// What a withheld value becomes in a job record.
pub const WITHHELD: &str = "<decrypted secret withheld>";

/// Shorter pieces are not searched for: a secret that short is no secret,
/// and withholding every `1` or `yes` would garble records.
const MIN_WITHHELD_LEN: usize = 4;

impl Secrets {
    pub fn new(keys: Keys) -> Secrets {
        Secrets {
            keys,
            revealed: Mutex::new(BTreeSet::new()),
        }
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Decrypt, in place, every armored `cipher` block in the string values
    /// of `data` (rendered from `file`, named in errors).
    pub fn decrypt_tree(
        &self,
        data: &mut Value,
        cipher: Cipher,
        file: &str,
    ) -> Result<(), DecryptError> {
        let mut walk = Walk {
            secrets: self,
            cipher,
            file,
            path: Vec::new(),
            identities: None,
        };
        walk.value(data)
    }

    /// Remember a plaintext (and each of its lines, which is how a file diff
    /// shows a multi-line one) for [`Secrets::redact`].
    pub(crate) fn reveal(&self, plaintext: &str) {
        let mut set = self.revealed.lock().unwrap_or_else(|e| e.into_inner());
        for piece in std::iter::once(plaintext).chain(plaintext.lines()) {
            let piece = piece.trim();
            if piece.chars().count() >= MIN_WITHHELD_LEN {
                set.insert(piece.to_string());
            }
        }
    }

    /// Whether any value was decrypted in this run.
    pub fn any_revealed(&self) -> bool {
        !self
            .revealed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// `text` with every value decrypted in this run replaced by
    /// [`WITHHELD`] (longest first, so a value's lines do not split it).
    pub fn redact_str<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let set = self.revealed.lock().unwrap_or_else(|e| e.into_inner());
        if !set.iter().any(|s| text.contains(s.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut pieces: Vec<&String> = set.iter().collect();
        pieces.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut out = text.to_string();
        for piece in pieces {
            if out.contains(piece.as_str()) {
                out = out.replace(piece.as_str(), WITHHELD);
            }
        }
        Cow::Owned(out)
    }

    /// [`Secrets::redact_str`] on every string (and mapping key) of `v`.
    pub fn redact(&self, v: &mut Value) {
        if !self.any_revealed() {
            return;
        }
        match v {
            Value::String(s) => {
                if let Cow::Owned(r) = self.redact_str(s) {
                    *s = r;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.redact(i)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (k, mut value) in entries {
                    self.redact(&mut value);
                    map.insert(self.redact_str(&k).into_owned(), value);
                }
            }
            _ => {}
        }
    }
}

/// One file's walk: where it is (for errors), and the age identities once
/// read (at the first age value, not before: a file without one needs no
/// identity file).
struct Walk<'a> {
    secrets: &'a Secrets,
    cipher: Cipher,
    file: &'a str,
    path: Vec<String>,
    identities: Option<self::age::Identities>,
}

impl Walk<'_> {
    fn value(&mut self, v: &mut Value) -> Result<(), DecryptError> {
        match v {
            Value::String(s) => {
                if let Some(plain) = self.string(s)? {
                    *s = plain;
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.path.push(i.to_string());
                    self.value(item)?;
                    self.path.pop();
                }
            }
            Value::Object(map) => {
                for (k, item) in map.iter_mut() {
                    self.path.push(k.clone());
                    self.value(item)?;
                    self.path.pop();
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `s` with its armored blocks decrypted, or `None` when it has none.
    fn string(&mut self, s: &str) -> Result<Option<String>, DecryptError> {
        let armor = self.cipher.armor();
        if !armor.is_match(s) {
            return Ok(None);
        }
        let mut out = String::with_capacity(s.len());
        let mut last = 0;
        for m in armor.find_iter(s) {
            out.push_str(&s[last..m.start()]);
            let plain = self.block(m.as_str()).map_err(|reason| DecryptError {
                file: self.file.to_string(),
                key: self.key(),
                cipher: self.cipher.name(),
                reason,
            })?;
            self.secrets.reveal(&plain);
            out.push_str(&plain);
            last = m.end();
        }
        out.push_str(&s[last..]);
        let kept = out.trim_end_matches('\n').len();
        out.truncate(kept);
        Ok(Some(out))
    }

    fn block(&mut self, armored: &str) -> Result<String, Reason> {
        let armored = armored.replace("\\n", "\n");
        let bytes = match self.cipher {
            Cipher::Gpg => gpg::decrypt(&self.secrets.keys.gpg_keydir, &armored)?,
            Cipher::Age => {
                let path = &self.secrets.keys.age_identity_file;
                if self.identities.is_none() {
                    self.identities = Some(self::age::Identities::read(path)?);
                }
                let ids = self.identities.as_ref().expect("read above");
                ids.decrypt(&armored)?
            }
        };
        String::from_utf8(bytes).map_err(|_| Reason::NotText)
    }

    fn key(&self) -> String {
        if self.path.is_empty() {
            "(the whole document)".to_string()
        } else {
            self.path.join(":")
        }
    }
}

/// A path from halite.yaml, for messages.
fn shown(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests;
