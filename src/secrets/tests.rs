//! The walk, both ciphers and their errors, and the redaction of job
//! records. gpg keyrings and age identities are made here, per test, in
//! temporary directories: no secret key is committed.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use super::*;

/// A throwaway GnuPG home with one key (no passphrase); its gpg-agent is
/// stopped when dropped.
struct Keyring {
    dir: tempfile::TempDir,
    uid: String,
}

impl Keyring {
    /// `None` when gpg is not installed (and HALITE_REQUIRE_TOOLS is unset).
    fn new(uid: &str) -> Option<Keyring> {
        if Command::new("gpg").arg("--version").output().is_err() {
            crate::testing::missing_tool("gpg is not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(dir.path())
            .args(["--batch", "--passphrase", "", "--quick-gen-key", uid])
            .args(["default", "default", "never"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        Some(Keyring {
            dir,
            uid: uid.to_string(),
        })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn encrypt(&self, plain: &str) -> String {
        gpg::encrypt(
            self.path(),
            std::slice::from_ref(&self.uid),
            plain.as_bytes(),
        )
        .unwrap()
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.dir.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// An age identity file in a temporary directory, and its recipient.
fn age_identity() -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let id = ::age::x25519::Identity::generate();
    let path = dir.path().join("age.key");
    use ::age::secrecy::ExposeSecret;
    std::fs::write(&path, format!("{}\n", id.to_string().expose_secret())).unwrap();
    (dir, path, id.to_public().to_string())
}

fn secrets(gpg_keydir: &Path, age_identity_file: &Path) -> Secrets {
    Secrets::new(Keys {
        gpg_keydir: gpg_keydir.to_path_buf(),
        age_identity_file: age_identity_file.to_path_buf(),
    })
}

#[test]
fn age_values_are_decrypted_anywhere_in_the_tree_and_others_pass() {
    let (_d, idfile, recipient) = age_identity();
    let enc = |p: &str| age_encrypt(std::slice::from_ref(&recipient), p.as_bytes()).unwrap();
    let s = secrets(Path::new("/nonexistent"), &idfile);
    let mut data = json!({
        "db": {"password": enc("hunter22"), "port": 5432, "host": "db1"},
        "tokens": [enc("tok-1"), {"api": format!("{}\n", enc("tok-2"))}],
        "embedded": format!("user=app password={} end", enc("p4ss").trim_end()),
        "enabled": true,
        "nothing": null,
        "pgp": "-----BEGIN PGP MESSAGE-----\nnot ours\n-----END PGP MESSAGE-----",
    });
    s.decrypt_tree(&mut data, Cipher::Age, "db.sls").unwrap();
    assert_eq!(
        data,
        json!({
            "db": {"password": "hunter22", "port": 5432, "host": "db1"},
            "tokens": ["tok-1", {"api": "tok-2"}],
            "embedded": "user=app password=p4ss end",
            "enabled": true,
            "nothing": null,
            "pgp": "-----BEGIN PGP MESSAGE-----\nnot ours\n-----END PGP MESSAGE-----",
        })
    );
}

#[test]
fn age_armor_survives_yaml_folding_and_literal_newlines() {
    let (_d, idfile, recipient) = age_identity();
    let armored = age_encrypt(&[recipient], b"multi\nline\n").unwrap();
    let s = secrets(Path::new("/nonexistent"), &idfile);
    // A plain (folded) YAML scalar: newlines became spaces.
    let folded = armored.split_whitespace().collect::<Vec<_>>().join(" ");
    // A one-line quoted scalar with `\n` written out, as Salt accepts.
    let escaped = armored.trim_end().replace('\n', "\\n");
    let mut data = json!({"a": folded, "b": escaped});
    s.decrypt_tree(&mut data, Cipher::Age, "x.sls").unwrap();
    // Trailing newlines go, as in Salt; inner ones stay.
    assert_eq!(data, json!({"a": "multi\nline", "b": "multi\nline"}));
}

#[test]
fn age_errors_name_file_key_path_and_reason_never_the_value() {
    let (_d, idfile, recipient) = age_identity();
    let (_d2, other_idfile, _) = age_identity();
    let armored = age_encrypt(&[recipient], b"t0p-secret").unwrap();

    // Wrong identity.
    let s = secrets(Path::new("/nonexistent"), &other_idfile);
    let mut data = json!({"db": {"users": [{"password": armored.clone()}]}});
    let e = s
        .decrypt_tree(&mut data, Cipher::Age, "db.sls")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("db.sls: db:users:0:password: cannot decrypt (age with identities from "),
        "{e}"
    );
    assert!(
        e.contains("No matching keys") || e.contains("no identity matched"),
        "{e}"
    );
    assert!(!e.contains("t0p-secret") && !e.contains("BEGIN AGE"), "{e}");
    assert!(!s.any_revealed());

    // Damaged armor.
    let s = secrets(Path::new("/nonexistent"), &idfile);
    let mid = armored.len() / 2;
    let damaged = format!("{}A{}", &armored[..mid], &armored[mid + 1..]);
    let damaged = if damaged == armored {
        format!("{}B{}", &armored[..mid], &armored[mid + 1..])
    } else {
        damaged
    };
    let mut data = json!({"k": damaged});
    let e = s
        .decrypt_tree(&mut data, Cipher::Age, "db.sls")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("db.sls: k: cannot decrypt (age "), "{e}");

    // No identity file.
    let s = secrets(Path::new("/nonexistent"), Path::new("/nonexistent/age.key"));
    let mut data = json!({"k": armored});
    let e = s
        .decrypt_tree(&mut data, Cipher::Age, "db.sls")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "db.sls: k: cannot decrypt (age_identity_file /nonexistent/age.key does not exist \
         (set age_identity_file in halite.yaml))"
    );
}

#[test]
fn an_age_file_without_encrypted_values_needs_no_identity_file() {
    let s = secrets(Path::new("/nonexistent"), Path::new("/nonexistent/age.key"));
    let mut data = json!({"a": "plain", "b": [1, "two"]});
    s.decrypt_tree(&mut data, Cipher::Age, "x.sls").unwrap();
    assert_eq!(data, json!({"a": "plain", "b": [1, "two"]}));
}

#[test]
fn age_encrypt_refuses_a_bad_recipient() {
    let e = age_encrypt(&["ssh-rsa AAAA".into()], b"x").unwrap_err();
    assert_eq!(
        e.to_string(),
        "`ssh-rsa AAAA` is not an age recipient (an X25519 public key, age1...)"
    );
}

#[test]
fn gpg_values_are_decrypted_as_salt_does() {
    let Some(ring) = Keyring::new("halite unit <unit@example.invalid>") else {
        return;
    };
    let s = secrets(ring.path(), Path::new("/nonexistent"));
    let mut data = json!({
        "db": {"password": format!("{}\n", ring.encrypt("s3cr3t-db")), "port": 5432},
        "list": [ring.encrypt("one\ntwo"), "clear"],
        "quoted": ring.encrypt("esc").trim_end().replace('\n', "\\n"),
    });
    s.decrypt_tree(&mut data, Cipher::Gpg, "db.sls").unwrap();
    assert_eq!(
        data,
        json!({
            "db": {"password": "s3cr3t-db", "port": 5432},
            "list": ["one\ntwo", "clear"],
            "quoted": "esc",
        })
    );
}

#[test]
fn gpg_errors_wrong_key_damaged_armor_missing_keyring() {
    let Some(ring) = Keyring::new("halite unit <unit@example.invalid>") else {
        return;
    };
    let Some(other) = Keyring::new("someone else <else@example.invalid>") else {
        return;
    };
    let armored = ring.encrypt("n0t-for-you");
    let decrypt = |keydir: &Path, value: &str| {
        let s = secrets(keydir, Path::new("/nonexistent"));
        let mut data = json!({"db": {"password": value}});
        let Err(e) = s.decrypt_tree(&mut data, Cipher::Gpg, "db.sls") else {
            panic!("decrypted with {}: {value}\n=> {data}", keydir.display());
        };
        assert!(!s.any_revealed());
        e.to_string()
    };

    let e = decrypt(other.path(), &armored);
    let prefix = format!(
        "db.sls: db:password: cannot decrypt (gpg with keydir {}: ",
        other.path().display()
    );
    assert!(e.starts_with(&prefix), "{e}");
    assert!(e.contains("No secret key"), "{e}");

    // One base64 character of the second line changed (to another one).
    let damaged: String = armored
        .lines()
        .enumerate()
        .map(|(i, l)| match i {
            3 => l
                .char_indices()
                .map(|(j, c)| match (j, c) {
                    (10, 'A') => 'B',
                    (10, _) => 'A',
                    _ => c,
                })
                .collect(),
            _ => l.to_string(),
        })
        .collect::<Vec<String>>()
        .join("\n")
        + "\n";
    assert_ne!(damaged, armored);
    let e = decrypt(ring.path(), &damaged);
    assert!(
        e.starts_with("db.sls: db:password: cannot decrypt (gpg with keydir "),
        "{e}"
    );

    let e = decrypt(Path::new("/nonexistent/gpgkeys"), &armored);
    assert_eq!(
        e,
        "db.sls: db:password: cannot decrypt (gpg_keydir /nonexistent/gpgkeys does not exist \
         (set gpg_keydir in halite.yaml; Salt's default is /etc/salt/gpgkeys))"
    );
}

#[test]
fn redaction_withholds_decrypted_values_and_their_lines() {
    let (_d, idfile, recipient) = age_identity();
    let s = secrets(Path::new("/nonexistent"), &idfile);
    let enc = |p: &str| age_encrypt(std::slice::from_ref(&recipient), p.as_bytes()).unwrap();
    let mut data = json!({
        "pw": enc("hunter22"),
        "short": enc("abc"),
        "key": enc("-----BEGIN KEY-----\nAAAAsecretline\n-----END KEY-----\n"),
    });
    assert!(!s.any_revealed());
    s.decrypt_tree(&mut data, Cipher::Age, "x.sls").unwrap();
    assert!(s.any_revealed());
    let mut record = json!({
        "ret": {"diff": "+password=hunter22\n+AAAAsecretline\n", "hunter22": 1},
        "error": "line `pw: hunter22`",
        "other": "abc stays: too short to be searched for",
    });
    s.redact(&mut record);
    let text = record.to_string();
    assert!(
        !text.contains("hunter22") && !text.contains("AAAAsecretline"),
        "{text}"
    );
    assert_eq!(record["error"], format!("line `pw: {WITHHELD}`"));
    assert_eq!(record["other"], "abc stays: too short to be searched for");
    assert_eq!(record["ret"][WITHHELD], 1);
}
