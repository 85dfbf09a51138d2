//! age (<https://age-encryption.org>) through the `age` crate, the reference
//! Rust implementation: armored values decrypted with the identities of
//! `age_identity_file`, and encryption to X25519 recipients (`age1...`) for
//! `halite secret encrypt`. No external program, no temporary file.
//!
//! Whitespace inside an armored block is not significant here: the base64
//! body is re-wrapped at age's 64 columns before parsing, so a block pasted
//! into a folded or re-indented YAML scalar still decrypts (the ciphertext
//! is authenticated, so this cannot change what it decrypts to).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ::age::armor::{ArmoredReader, ArmoredWriter, Format};

use super::shown;

const BEGIN: &str = "-----BEGIN AGE ENCRYPTED FILE-----";
const END: &str = "-----END AGE ENCRYPTED FILE-----";

/// Why age could not decrypt or encrypt. Never holds plaintext or a key.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AgeError {
    #[error("age_identity_file {} does not exist (set age_identity_file in halite.yaml)", shown(.0))]
    NoIdentityFile(PathBuf),
    #[error("age_identity_file {}: {message}", shown(path))]
    BadIdentityFile { path: PathBuf, message: String },
    #[error("age with identities from {}: {message}", shown(path))]
    Failed { path: PathBuf, message: String },
    #[error("`{0}` is not an age recipient (an X25519 public key, age1...)")]
    BadRecipient(String),
    #[error("age: {0}")]
    Encrypt(String),
}

/// The identities of one identity file.
pub struct Identities {
    path: PathBuf,
    ids: Vec<Box<dyn ::age::Identity>>,
}

impl Identities {
    pub fn read(path: &Path) -> Result<Identities, AgeError> {
        let bad = |message: String| AgeError::BadIdentityFile {
            path: path.to_path_buf(),
            message,
        };
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(AgeError::NoIdentityFile(path.to_path_buf()))
            }
            Err(e) => return Err(bad(e.to_string())),
        };
        let ids = ::age::IdentityFile::from_buffer(std::io::BufReader::new(file))
            .map_err(|e| bad(e.to_string()))?
            .into_identities()
            .map_err(|e| bad(e.to_string()))?;
        if ids.is_empty() {
            return Err(bad("no identity in the file".into()));
        }
        Ok(Identities {
            path: path.to_path_buf(),
            ids,
        })
    }

    /// Decrypt one armored block.
    pub fn decrypt(&self, armored: &str) -> Result<Vec<u8>, AgeError> {
        let failed = |message: String| AgeError::Failed {
            path: self.path.clone(),
            message,
        };
        let canonical = canonical_armor(armored);
        let reader = ArmoredReader::new(canonical.as_bytes());
        let decryptor = ::age::Decryptor::new(reader).map_err(|e| failed(e.to_string()))?;
        let mut stream = decryptor
            .decrypt(self.ids.iter().map(|i| i.as_ref() as &dyn ::age::Identity))
            .map_err(|e| failed(e.to_string()))?;
        let mut plain = Vec::new();
        stream
            .read_to_end(&mut plain)
            .map_err(|e| failed(e.to_string()))?;
        Ok(plain)
    }
}

/// `armored` with its body's whitespace removed and re-wrapped at 64
/// columns between the markers, as age's armor parser requires.
fn canonical_armor(armored: &str) -> String {
    let body = armored
        .trim()
        .strip_prefix(BEGIN)
        .and_then(|b| b.strip_suffix(END))
        .unwrap_or(armored);
    let b64: Vec<char> = body.chars().filter(|c| !c.is_whitespace()).collect();
    let mut out = format!("{BEGIN}\n");
    for line in b64.chunks(64) {
        out.extend(line);
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

/// Encrypt `plaintext` to X25519 `recipients` (`age1...`), armored.
pub fn encrypt(recipients: &[String], plaintext: &[u8]) -> Result<String, AgeError> {
    let parsed = recipients
        .iter()
        .map(|r| {
            ::age::x25519::Recipient::from_str(r.trim())
                .map_err(|_| AgeError::BadRecipient(r.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let encryptor =
        ::age::Encryptor::with_recipients(parsed.iter().map(|r| r as &dyn ::age::Recipient))
            .map_err(|e| AgeError::Encrypt(e.to_string()))?;
    let io = |e: std::io::Error| AgeError::Encrypt(e.to_string());
    let mut out = Vec::new();
    let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(io)?;
    let mut writer = encryptor.wrap_output(armor).map_err(io)?;
    writer.write_all(plaintext).map_err(io)?;
    writer.finish().and_then(|a| a.finish()).map_err(io)?;
    Ok(String::from_utf8(out).expect("armor is ASCII"))
}
