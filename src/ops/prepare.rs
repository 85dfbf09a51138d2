//! The first phase of a run: everything that can be checked before
//! connecting (settings, inventory, target, function and arguments,
//! routes, the sudo password) becomes a [`Prepared`] or one typed
//! [`Error`] naming what is wrong. Nothing connects here.

use std::path::PathBuf;
use std::sync::Arc;

use super::{RunOptions, TargetSpec};
use crate::config::{ConfigError, PasswordSource, Settings};
use crate::engine::Project;
use crate::functions::{self, ArgError, Args, Call};
use crate::inventory::{Inventory, InventoryError};
use crate::output;
use crate::target::{Target, TargetError};
use crate::transport::route::{RouteError, Routes};
use crate::transport::ssh_config::{SshConfig, SshConfigError};
use crate::transport::sudo::{PasswordError, SudoPassword};
use crate::transport::ConnectOptions;

/// Why a run cannot start: bad input, said before anything connects.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Function(#[from] ArgError),
    #[error(transparent)]
    SshConfig(#[from] SshConfigError),
    #[error(transparent)]
    Route(#[from] RouteError),
    /// Where the password came from, never the value.
    #[error("{what}")]
    Password {
        what: String,
        #[source]
        source: PasswordError,
    },
    #[error("{what}")]
    ReadPassword {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("sudo_password_env: the environment variable {0} is not set")]
    PasswordEnvUnset(String),
}

/// Everything a run needs, checked.
pub struct Prepared {
    pub settings: Settings,
    pub inventory: Inventory,
    pub target: Target,
    pub spec: TargetSpec,
    pub function_name: String,
    pub args: Args,
    /// How the function runs on each host, decided once.
    pub call: Arc<Call>,
    pub connect: ConnectOptions,
    /// The state tree, pillar, groups and secrets.
    pub project: Arc<Project>,
}

impl Prepared {
    /// Check `options` against the project on disk.
    pub fn new(options: &RunOptions) -> Result<Prepared, Error> {
        let settings = options.overrides.settings(options.config.as_deref())?;
        let inventory = Inventory::load(&settings.inventory)?;
        for warning in &inventory.warnings {
            output::warn(warning);
        }
        let spec = options.target.clone();
        let target = Target::parse_with(spec.kind, &spec.expr, &inventory.groups, spec.delimiter)?;
        let function = functions::parse_call(&options.function, &options.args)?;
        let call = Arc::new(Call::of(Arc::from(function)));
        let routes = routes(options.connection.ssh_config.as_ref(), &inventory)?;
        let connect = ConnectOptions {
            known_hosts: settings.known_hosts.clone(),
            host_key_policy: options.connection.host_key_policy,
            connect_attempts: settings.connect_attempts,
            command_timeout: settings.timeout,
            handshakes: Some(Arc::new(tokio::sync::Semaphore::new(
                settings.max_handshakes,
            ))),
            routes: Arc::new(routes),
            sudo_password: sudo_password(
                options.connection.ask_sudo_pass,
                settings.sudo_password.as_ref(),
            )?
            .map(Arc::new),
            ..ConnectOptions::default()
        };
        let project = Arc::new(project(&settings, &inventory));
        Ok(Prepared {
            settings,
            inventory,
            target,
            spec,
            function_name: options.function.clone(),
            args: options.args.clone(),
            call,
            connect,
            project,
        })
    }
}

/// The state tree, pillar, groups and secrets of a project.
pub fn project(settings: &Settings, inventory: &Inventory) -> Project {
    Project {
        states: settings.states.clone(),
        pillar: settings.pillar.clone(),
        groups: inventory.groups.clone(),
        secrets: Arc::new(crate::secrets::Secrets::new(settings.keys.clone())),
    }
}

/// Every host's route: the inventory with ~/.ssh/config (or
/// `--ssh-config FILE`, or none) and jump hosts applied.
fn routes(ssh_config: Option<&PathBuf>, inventory: &Inventory) -> Result<Routes, Error> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    let local_user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "root".to_string());
    let file = match ssh_config {
        Some(f) if f.as_os_str() == "none" => None,
        Some(f) => Some(f.clone()),
        None => Some(home.join(".ssh/config")).filter(|f| f.exists()),
    };
    let config = match file {
        Some(f) => Some(SshConfig::load(&f, &home)?),
        None => None,
    };
    Ok(Routes::build(
        &inventory.hosts,
        config.as_ref(),
        &home,
        &local_user,
    )?)
}

/// The sudo password: typed (`--ask-sudo-pass`), else from where
/// halite.yaml says. Messages name the file or variable, never the value.
fn sudo_password(
    ask: bool,
    source: Option<&PasswordSource>,
) -> Result<Option<SudoPassword>, Error> {
    let read = |what: String| move |source| Error::ReadPassword { what, source };
    let (secret, what) = match (ask, source) {
        (true, _) => (
            output::read_secret("sudo password (not echoed): ")
                .map_err(read(
                    "--ask-sudo-pass: cannot read the password from the terminal".into(),
                ))?
                .into_bytes(),
            "--ask-sudo-pass".to_string(),
        ),
        (false, Some(PasswordSource::File(path))) => {
            warn_if_others_can_read(path);
            let secret = std::fs::read(path).map_err(read(format!(
                "cannot read sudo_password_file {}",
                path.display()
            )))?;
            (secret, format!("sudo_password_file {}", path.display()))
        }
        (false, Some(PasswordSource::Env(name))) => (
            std::env::var_os(name)
                .ok_or_else(|| Error::PasswordEnvUnset(name.clone()))?
                .into_encoded_bytes(),
            format!("sudo_password_env {name}"),
        ),
        (false, None) => return Ok(None),
    };
    SudoPassword::new(secret)
        .map(Some)
        .map_err(|source| Error::Password { what, source })
}

/// A password file others can read is said (as OpenSSH says of a key).
fn warn_if_others_can_read(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            output::warn(&format!(
                "sudo_password_file {} can be read by other users (mode {mode:o}): chmod 600 it",
                path.display()
            ));
        }
    }
}
