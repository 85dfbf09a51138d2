//! OpenPGP through the `gpg` program (GnuPG 2.x), as Salt's gpg renderer
//! does: `gpg --homedir <gpg_keydir> --batch --decrypt`, the armored
//! message on stdin, the plaintext read from stdout into memory (never a
//! temporary file, never a command-line argument, which other users could
//! read in /proc).
//!
//! Why the program and not a Rust crate: the keyring users already have is
//! a GnuPG home directory (Salt's `/etc/salt/gpgkeys`: `pubring.kbx` and
//! `private-keys-v1.d/`, whose secret keys are held in gpg-agent's own
//! format). The pure-Rust implementations (rpgp, Sequoia) read OpenPGP
//! certificates but not that store, so using one would mean asking every
//! Salt user to export their master's secret key into a second, unprotected
//! file. GnuPG is the implementation Salt users already run and patch, and
//! decrypting with it gives exactly Salt's results (same keys, same
//! algorithms, same errors). The cost is one process per encrypted value
//! and a runtime dependency on the controller only (hosts need nothing);
//! an age secret needs no external program at all.
//!
//! Success is judged as strictly as GnuPG allows: exit status 0 *and* the
//! `DECRYPTION_OKAY` status line (gpg prints plaintext and still fails when
//! a message's integrity check does not hold). `--pinentry-mode error`: a
//! passphrase-protected key fails at once (unless gpg-agent has the
//! passphrase cached) instead of waiting for a prompt nobody sees.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::shown;

/// Why gpg could not decrypt or encrypt. Holds gpg's own messages (key ids,
/// reasons), never plaintext.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GpgError {
    #[error("gpg_keydir {} does not exist (set gpg_keydir in halite.yaml; Salt's default is /etc/salt/gpgkeys)", shown(.0))]
    NoKeydir(PathBuf),
    #[error("cannot run gpg (GnuPG must be installed on the controller): {0}")]
    Spawn(String),
    #[error("gpg with keydir {}: {message}", shown(keydir))]
    Failed { keydir: PathBuf, message: String },
}

/// Decrypt one armored message with the keys in `keydir`.
pub fn decrypt(keydir: &Path, armored: &str) -> Result<Vec<u8>, GpgError> {
    let out = run(keydir, &["--decrypt"], armored.as_bytes())?;
    let status = String::from_utf8_lossy(&out.stderr);
    let okay = status
        .lines()
        .any(|l| l.trim_end() == "[GNUPG:] DECRYPTION_OKAY");
    let failed = status
        .lines()
        .any(|l| l.starts_with("[GNUPG:] DECRYPTION_FAILED") || l.starts_with("[GNUPG:] BADMDC"));
    if out.status.success() && okay && !failed {
        Ok(out.stdout)
    } else {
        Err(failure(keydir, &out))
    }
}

/// Encrypt `plaintext` to `recipients` (key ids, fingerprints or user ids
/// of public keys in `keydir`), ASCII-armored. `--trust-model always`: the
/// recipients were named on purpose, as in Salt's documented command.
pub fn encrypt(keydir: &Path, recipients: &[String], plaintext: &[u8]) -> Result<String, GpgError> {
    let mut args = vec!["--armor", "--trust-model", "always", "--encrypt"];
    for r in recipients {
        args.extend(["--recipient", r.as_str()]);
    }
    let out = run(keydir, &args, plaintext)?;
    match String::from_utf8(out.stdout.clone()) {
        Ok(text) if out.status.success() && text.contains("-----BEGIN PGP MESSAGE-----") => {
            Ok(text)
        }
        _ => Err(failure(keydir, &out)),
    }
}

/// `gpg --homedir KEYDIR --batch ... ARGS` with `input` on stdin.
fn run(keydir: &Path, args: &[&str], input: &[u8]) -> Result<Output, GpgError> {
    if !keydir.is_dir() {
        return Err(GpgError::NoKeydir(keydir.to_path_buf()));
    }
    let mut child = Command::new("gpg")
        .arg("--homedir")
        .arg(keydir)
        .args([
            "--batch",
            "--no-tty",
            "--pinentry-mode",
            "error",
            "--status-fd",
            "2",
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| GpgError::Spawn(e.to_string()))?;
    // Written from a thread: gpg may fill its stdout before it has read all
    // of stdin, and both pipes must be served at once.
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child
        .wait_with_output()
        .map_err(|e| GpgError::Spawn(e.to_string()))?;
    let _ = writer.join();
    Ok(out)
}

/// gpg's own words for a failure: its `gpg:` lines, less the informational
/// "encrypted with" ones, joined.
fn failure(keydir: &Path, out: &Output) -> GpgError {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("gpg: "))
        .filter(|l| !l.starts_with("encrypted with"))
        .collect();
    let message = if said.is_empty() {
        match out.status.code() {
            Some(c) if c != 0 => format!("gpg exited with status {c}"),
            _ => "gpg did not report a successful decryption".to_string(),
        }
    } else {
        said.join("; ")
    };
    GpgError::Failed {
        keydir: keydir.to_path_buf(),
        message,
    }
}
