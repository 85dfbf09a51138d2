//! `halite secret encrypt`: a value in, the text to paste into a pillar
//! file out, for either renderer, so nobody needs a second tool (or Salt's
//! `gpg --armor --trust-model always --encrypt` incantation) to write one.
//!
//! The recipients come from the flags (`--gpg-recipient`, `--age-recipient`)
//! or, failing those, from halite.yaml (`gpg_recipients`, `age_recipients`);
//! a choice that is not clear is an error rather than a guess.

use super::{Cipher, Keys};

#[derive(Debug, thiserror::Error)]
pub enum EncryptError {
    #[error(
        "no recipient: give --age-recipient age1... or --gpg-recipient KEY, \
         or set age_recipients or gpg_recipients in halite.yaml"
    )]
    NoRecipient,
    #[error("--{0}: halite.yaml sets no {0}_recipients (or give --{0}-recipient)")]
    NoConfigured(&'static str),
    #[error("halite.yaml sets both gpg_recipients and age_recipients: say --gpg or --age")]
    Ambiguous,
    #[error("nothing to encrypt: the value read was empty")]
    Empty,
    #[error("--key `{0}`: expected names joined by `:`, e.g. db:password")]
    BadKey(String),
    #[error(transparent)]
    Gpg(#[from] super::GpgError),
    #[error(transparent)]
    Age(#[from] super::AgeError),
}

/// What the command line asked for.
#[derive(Debug, Default, Clone)]
pub struct Request {
    pub gpg_recipients: Vec<String>,
    pub age_recipients: Vec<String>,
    /// `--gpg` / `--age`: use halite.yaml's recipients for that format.
    pub gpg: bool,
    pub age: bool,
}

/// The format and recipients: flags first, then halite.yaml's lists.
pub fn choose(
    req: &Request,
    configured_gpg: &[String],
    configured_age: &[String],
) -> Result<(Cipher, Vec<String>), EncryptError> {
    if !req.gpg_recipients.is_empty() {
        return Ok((Cipher::Gpg, req.gpg_recipients.clone()));
    }
    if !req.age_recipients.is_empty() {
        return Ok((Cipher::Age, req.age_recipients.clone()));
    }
    let pick = |cipher: Cipher, list: &[String]| {
        if list.is_empty() {
            Err(EncryptError::NoConfigured(cipher.name()))
        } else {
            Ok((cipher, list.to_vec()))
        }
    };
    match (req.gpg, req.age) {
        (true, _) => pick(Cipher::Gpg, configured_gpg),
        (_, true) => pick(Cipher::Age, configured_age),
        _ => match (configured_gpg.is_empty(), configured_age.is_empty()) {
            (false, false) => Err(EncryptError::Ambiguous),
            (false, true) => Ok((Cipher::Gpg, configured_gpg.to_vec())),
            (true, false) => Ok((Cipher::Age, configured_age.to_vec())),
            (true, true) => Err(EncryptError::NoRecipient),
        },
    }
}

/// `plaintext` (one trailing newline dropped: the one `echo` or a terminal
/// adds; decryption drops trailing newlines anyway, as Salt's does)
/// encrypted to `recipients`, armored. gpg looks recipients up in
/// `keys.gpg_keydir`.
pub fn encrypt(
    cipher: Cipher,
    recipients: &[String],
    keys: &Keys,
    plaintext: &[u8],
) -> Result<String, EncryptError> {
    let plaintext = plaintext.strip_suffix(b"\n").unwrap_or(plaintext);
    let plaintext = plaintext.strip_suffix(b"\r").unwrap_or(plaintext);
    if plaintext.is_empty() {
        return Err(EncryptError::Empty);
    }
    Ok(match cipher {
        Cipher::Gpg => super::gpg::encrypt(&keys.gpg_keydir, recipients, plaintext)?,
        Cipher::Age => super::age::encrypt(recipients, plaintext)?,
    })
}

/// `armored` as a YAML document setting `key` (`db:password`, nested on
/// `:`) to it, in a `|` block: paste it into a pillar file whose shebang
/// names the renderer.
pub fn as_yaml(key: &str, armored: &str) -> Result<String, EncryptError> {
    let names: Vec<&str> = key.split(':').collect();
    if names.iter().any(|n| n.trim().is_empty()) {
        return Err(EncryptError::BadKey(key.to_string()));
    }
    let mut out = String::new();
    for (depth, name) in names.iter().enumerate() {
        let quoted = yaml_key(name);
        let indent = "  ".repeat(depth);
        if depth + 1 == names.len() {
            out.push_str(&format!("{indent}{quoted}: |\n"));
        } else {
            out.push_str(&format!("{indent}{quoted}:\n"));
        }
    }
    let indent = "  ".repeat(names.len());
    for line in armored.lines() {
        out.push_str(&format!("{indent}{line}\n"));
    }
    Ok(out)
}

/// `name` plain when YAML reads it back as that string, else quoted.
fn yaml_key(name: &str) -> String {
    let plain = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        && !matches!(
            name.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        name.to_string()
    } else {
        serde_json::to_string(name).expect("strings serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_win_then_the_one_configured_format() {
        let gpg = strings(&["ops@example.com"]);
        let age = strings(&["age1abc"]);
        let flag = Request {
            age_recipients: strings(&["age1flag"]),
            ..Request::default()
        };
        assert_eq!(
            choose(&flag, &gpg, &age).unwrap(),
            (Cipher::Age, strings(&["age1flag"]))
        );
        let none = Request::default();
        assert_eq!(
            choose(&none, &gpg, &[]).unwrap(),
            (Cipher::Gpg, gpg.clone())
        );
        assert_eq!(
            choose(&none, &[], &age).unwrap(),
            (Cipher::Age, age.clone())
        );
        assert!(matches!(
            choose(&none, &gpg, &age),
            Err(EncryptError::Ambiguous)
        ));
        assert!(matches!(
            choose(&none, &[], &[]),
            Err(EncryptError::NoRecipient)
        ));
        let want_age = Request {
            age: true,
            ..Request::default()
        };
        assert_eq!(choose(&want_age, &gpg, &age).unwrap().0, Cipher::Age);
        assert_eq!(
            choose(&want_age, &gpg, &[]).unwrap_err().to_string(),
            "--age: halite.yaml sets no age_recipients (or give --age-recipient)"
        );
    }

    #[test]
    fn empty_values_are_refused() {
        let keys = Keys::default();
        for v in [&b""[..], b"\n", b"\r\n"] {
            assert!(matches!(
                encrypt(Cipher::Age, &strings(&["age1x"]), &keys, v),
                Err(EncryptError::Empty)
            ));
        }
    }

    #[test]
    fn yaml_output_nests_the_key_and_round_trips() {
        let armored =
            "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n";
        let text = as_yaml("db:password", armored).unwrap();
        assert_eq!(
            text,
            "db:\n  password: |\n    -----BEGIN AGE ENCRYPTED FILE-----\n    YWdl\n    -----END AGE ENCRYPTED FILE-----\n"
        );
        let v: crate::Value = crate::yaml::from_str(&text, std::path::Path::new("x")).unwrap();
        assert_eq!(v["db"]["password"], armored);
        assert!(as_yaml("db::x", armored).is_err());
        let odd = as_yaml("on:a b", armored).unwrap();
        assert!(odd.starts_with("\"on\":\n  \"a b\": |\n"), "{odd}");
        let v: crate::Value = crate::yaml::from_str(&odd, std::path::Path::new("x")).unwrap();
        assert_eq!(v["on"]["a b"], armored);
    }
}
