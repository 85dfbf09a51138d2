//! Settings for a run: the optional project file `halite.yaml`, environment
//! variables and command-line flags, merged in that order of strength
//! (flags win). Relative paths in the file are relative to the file.
//!
//! ```yaml
//! inventory: inventory        # file or directory
//! known_hosts: ~/.ssh/known_hosts
//! cache_dir: .halite          # grains cache, job cache, hosts' ledger copies
//! forks: 100
//! timeout: 300                # seconds per command
//! connect_attempts: 3
//! grains_ttl: 3600            # seconds
//! keep_jobs: 24               # hours a job record is kept (0: forever)
//! job_cache_diffs: false      # keep file diffs in job records (they may hold pillar)
//! gpg_keydir: /etc/salt/gpgkeys          # the gpg renderer's keyring (Salt's default)
//! age_identity_file: ~/.config/halite/age.key   # the age renderer's identities
//! gpg_recipients: [ops@example.com]      # `halite secret encrypt` (--gpg-recipient)
//! age_recipients: [age1...]              # `halite secret encrypt` (--age-recipient)
//! sudo_password_file: ~/.config/halite/sudo   # the password for `sudo: true` hosts...
//! sudo_password_env: HALITE_SUDO_PASSWORD     # ...or the variable holding it (one of the two)
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::inventory::expand_tilde;

/// The project file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectFile {
    inventory: Option<String>,
    states: Option<String>,
    pillar: Option<String>,
    known_hosts: Option<String>,
    cache_dir: Option<String>,
    forks: Option<usize>,
    timeout: Option<f64>,
    connect_attempts: Option<u32>,
    grains_ttl: Option<u64>,
    state_output: Option<crate::output::highstate::StateOutput>,
    state_verbose: Option<bool>,
    max_handshakes: Option<usize>,
    keep_jobs: Option<u64>,
    job_cache_diffs: Option<bool>,
    gpg_keydir: Option<String>,
    age_identity_file: Option<String>,
    gpg_recipients: Option<Vec<String>>,
    age_recipients: Option<Vec<String>>,
    sudo_password_file: Option<String>,
    sudo_password_env: Option<String>,
}

/// SSH handshakes in flight at once unless said otherwise: well under
/// what one sshd accepts unauthenticated before dropping (MaxStartups
/// 10:30:100 drops with rising probability from 10 to 100), and enough to
/// keep the controller's two cores busy with key exchanges.
pub const DEFAULT_MAX_HANDSHAKES: usize = 32;

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The project file that was read, if any.
    pub file: Option<PathBuf>,
    pub inventory: PathBuf,
    pub states: PathBuf,
    pub pillar: PathBuf,
    pub known_hosts: PathBuf,
    pub cache_dir: PathBuf,
    pub forks: usize,
    pub timeout: Option<Duration>,
    pub connect_attempts: u32,
    pub grains_ttl: Duration,
    /// How state results print unless `--state-output` says otherwise.
    pub state_output: crate::output::highstate::StateOutput,
    pub state_verbose: bool,
    /// SSH handshakes in flight at once (connection pacing).
    pub max_handshakes: usize,
    /// Job records older than this are removed when a run starts (Salt's
    /// `keep_jobs`, in hours in the file; `None`: keep them all).
    pub keep_jobs: Option<Duration>,
    /// Whether job records keep file diffs (`job_cache_diffs`, default
    /// false: a diff of a file rendered from pillar holds pillar values).
    pub job_cache_diffs: bool,
    /// Keys of the `gpg` and `age` renderers (`gpg_keydir`,
    /// `age_identity_file`).
    pub keys: crate::secrets::Keys,
    /// Who `halite secret encrypt` encrypts to, unless flags say.
    pub gpg_recipients: Vec<String>,
    pub age_recipients: Vec<String>,
    /// Where the sudo password is read from, unless `--ask-sudo-pass`.
    pub sudo_password: Option<PasswordSource>,
}

/// Where the sudo password of `sudo: true` hosts comes from (halite.yaml).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// `sudo_password_file`: its content: one line (a final newline is dropped).
    File(PathBuf),
    /// `sudo_password_env`: the environment variable's value.
    Env(String),
}

/// A message carries its cause in its own text and does not also return it
/// as `source()`: the CLI prints an error with its chain, which would print
/// the cause twice.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Not a `source`: the message already holds it, and the CLI prints
    /// the chain of sources after it.
    #[error("invalid project file: {0}")]
    Yaml(crate::yaml::YamlError),
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

impl From<crate::yaml::YamlError> for ConfigError {
    fn from(e: crate::yaml::YamlError) -> Self {
        ConfigError::Yaml(e)
    }
}

/// The default place for caches: `$HALITE_CACHE_DIR`, else `$XDG_CACHE_HOME/halite`, else `~/.cache/halite`.
fn default_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("HALITE_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("halite");
    }
    expand_tilde("~/.cache/halite")
}

impl Settings {
    /// Load `explicit` (from `--config`), else `./halite.yaml` when present, else defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Settings, ConfigError> {
        let path = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from("halite.yaml")).filter(|p| p.is_file()),
        };
        let (file, base) = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|error| ConfigError::Read {
                    path: p.clone(),
                    error,
                })?;
                let file: ProjectFile = if text.trim().is_empty() {
                    ProjectFile::default()
                } else {
                    crate::yaml::from_str(&text, p).map_err(ConfigError::Yaml)?
                };
                let base = p.parent().map(Path::to_path_buf).unwrap_or_default();
                (file, base)
            }
            None => (ProjectFile::default(), PathBuf::new()),
        };
        let rel = |v: Option<String>, default: &str| -> PathBuf {
            let p = expand_tilde(v.as_deref().unwrap_or(default));
            if p.is_absolute() {
                p
            } else {
                base.join(p)
            }
        };
        let invalid = |message: &str| ConfigError::Invalid {
            path: path.clone().unwrap_or_default(),
            message: message.to_string(),
        };
        if file.max_handshakes == Some(0) {
            return Err(invalid("max_handshakes must be at least 1"));
        }
        if file.forks == Some(0) {
            return Err(invalid("forks must be at least 1"));
        }
        if file.timeout.is_some_and(|t| t.is_nan() || t <= 0.0) {
            return Err(invalid("timeout must be a positive number of seconds"));
        }
        let sudo_password = match (file.sudo_password_file.clone(), file.sudo_password_env.clone()) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "sudo_password_file and sudo_password_env both say where the sudo password is: keep one",
                ))
            }
            (Some(f), None) => Some(PasswordSource::File(rel(Some(f), ""))),
            (None, Some(v)) if v.is_empty() || v.contains('=') => {
                return Err(invalid("sudo_password_env must name an environment variable"))
            }
            (None, Some(v)) => Some(PasswordSource::Env(v)),
            (None, None) => None,
        };
        let cache_dir = match (std::env::var_os("HALITE_CACHE_DIR"), file.cache_dir.clone()) {
            (Some(env), _) => PathBuf::from(env),
            (None, Some(c)) => rel(Some(c), ""),
            (None, None) => default_cache_dir(),
        };
        Ok(Settings {
            inventory: rel(file.inventory, "inventory"),
            states: rel(file.states, "states"),
            pillar: rel(file.pillar, "pillar"),
            known_hosts: file
                .known_hosts
                .map(|k| rel(Some(k), ""))
                .unwrap_or_else(crate::transport::default_known_hosts),
            cache_dir,
            forks: file.forks.unwrap_or(100),
            timeout: Some(Duration::from_secs_f64(file.timeout.unwrap_or(600.0))),
            connect_attempts: file.connect_attempts.unwrap_or(3).max(1),
            grains_ttl: Duration::from_secs(file.grains_ttl.unwrap_or(3600)),
            state_output: file.state_output.unwrap_or_default(),
            state_verbose: file.state_verbose.unwrap_or(true),
            max_handshakes: file.max_handshakes.unwrap_or(DEFAULT_MAX_HANDSHAKES),
            keep_jobs: match file.keep_jobs.unwrap_or(24) {
                0 => None,
                h => Some(Duration::from_secs(h * 3600)),
            },
            job_cache_diffs: file.job_cache_diffs.unwrap_or(false),
            keys: crate::secrets::Keys {
                gpg_keydir: file
                    .gpg_keydir
                    .map(|k| rel(Some(k), ""))
                    .unwrap_or_else(|| crate::secrets::Keys::default().gpg_keydir),
                age_identity_file: file
                    .age_identity_file
                    .map(|k| rel(Some(k), ""))
                    .unwrap_or_else(crate::secrets::Keys::default_age_identity_file),
            },
            gpg_recipients: file.gpg_recipients.unwrap_or_default(),
            age_recipients: file.age_recipients.unwrap_or_default(),
            sudo_password,
            file: path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_file_and_unknown_keys_fail() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("halite.yaml");
        std::fs::write(&f, "inventory: inv\nforks: 7\n").unwrap();
        let s = Settings::load(Some(&f)).unwrap();
        assert_eq!(s.inventory, dir.path().join("inv"));
        assert_eq!(s.forks, 7);
        assert_eq!(s.keys, crate::secrets::Keys::default());
        std::fs::write(
            &f,
            "gpg_keydir: keys/gpg\nage_identity_file: /etc/halite/age.key\nage_recipients: [age1x]\n",
        )
        .unwrap();
        let s = Settings::load(Some(&f)).unwrap();
        assert_eq!(s.keys.gpg_keydir, dir.path().join("keys/gpg"));
        assert_eq!(
            s.keys.age_identity_file,
            PathBuf::from("/etc/halite/age.key")
        );
        assert_eq!(s.age_recipients, ["age1x"]);
        assert!(s.gpg_recipients.is_empty());
        std::fs::write(&f, "sudo_password_file: secret/sudo\n").unwrap();
        let s = Settings::load(Some(&f)).unwrap();
        let file = PasswordSource::File(dir.path().join("secret/sudo"));
        assert_eq!(s.sudo_password, Some(file));
        std::fs::write(&f, "sudo_password_env: SUDO_PW\n").unwrap();
        let s = Settings::load(Some(&f)).unwrap();
        assert_eq!(s.sudo_password, Some(PasswordSource::Env("SUDO_PW".into())));
        std::fs::write(&f, "sudo_password_env: A\nsudo_password_file: b\n").unwrap();
        let e = Settings::load(Some(&f)).unwrap_err().to_string();
        assert!(e.contains("keep one"), "{e}");
        std::fs::write(&f, "invetory: inv\n").unwrap();
        let e = Settings::load(Some(&f)).unwrap_err().to_string();
        assert!(e.contains("halite.yaml:1") && e.contains("invetory"), "{e}");
    }
}
