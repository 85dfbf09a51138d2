//! The platform layer: what halite knows of each package manager and init
//! system, one file per backend, each with its probe snippet, the parser of
//! what that probe prints, and its apply snippets. The execution functions
//! (`pkg.*`, `service.*`, `docker.*`) and the state modules (`pkg.*`,
//! `pkgrepo.*`, `service.*`, `docker_*`) both take their platform knowledge
//! from here, never from each other.
//!
//! A backend is chosen from the host's grains (`pkg_manager`, `init`); every
//! snippet still checks on the host that its tool is there and answers
//! `@@unsupported TOOL` when it is not, so stale grains fail the state with
//! a clear message instead of running the wrong tool.

pub mod accounts;
pub mod apt;
pub mod container;
pub mod dnf;
pub mod init;
pub mod openpgp;
pub mod openrc;
pub mod pacman;
pub mod pid1;
pub mod report;
pub mod systemd;
pub mod sysvinit;
pub mod zypper;

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::Value;

/// What the package database says of one package.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Known {
    /// Installed versions (several for a multi-version or multi-arch install).
    pub installed: Vec<String>,
    /// Versions of which only configuration files are left (dpkg's `rc`).
    pub config_only: Vec<String>,
    /// Some state other than "not installed" and "config files only"
    /// (half-installed, unpacked...): the tool can remove it.
    pub present: bool,
    /// Held (apt-mark hold, dnf versionlock).
    pub held: bool,
}

/// What the controller can tell of a package file (`pkg.installed`
/// `sources`) from its bytes, as Salt's `lowpkg.bin_pkg_info` does on the
/// minion.
#[derive(Debug, Clone, PartialEq)]
pub enum PackageFile {
    /// Read here: the package's name and version.
    Read { name: String, version: String },
    /// Read on the host by this probe snippet, which prints
    /// `@@srcinfo_LABEL NAME VERSION` (a `.deb`'s control member is
    /// compressed with whatever its builder chose: the host's dpkg-deb
    /// reads them all).
    OnHost(String),
    /// Not a package this backend can read (pacman's `.PKGINFO` sits in
    /// the compressed archive, and Salt has no reader for it either).
    Unread,
}

/// A package manager halite drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkgBackend {
    Apt,
    Dnf(dnf::Tool),
    Zypper,
    Pacman,
}

/// A `pkg_manager` grain halite has no backend for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("package manager {0} is not supported yet (apt, dnf, yum, zypper and pacman are)")]
pub struct Unsupported(pub String);

impl PkgBackend {
    /// From the host's `pkg_manager` grain. Without grains (a state built
    /// for prune, a test) apt is assumed: its prelude still names the
    /// host's real tool (`@@unsupported dnf`) if apt is not there.
    pub fn from_grains(grains: Option<&Value>) -> Result<PkgBackend, Unsupported> {
        match grains
            .and_then(|g| g.get("pkg_manager"))
            .and_then(Value::as_str)
        {
            None | Some("apt") => Ok(PkgBackend::Apt),
            Some("dnf") => Ok(PkgBackend::Dnf(dnf::Tool::Dnf)),
            Some("yum") => Ok(PkgBackend::Dnf(dnf::Tool::Yum)),
            Some("zypper") => Ok(PkgBackend::Zypper),
            Some("pacman") => Ok(PkgBackend::Pacman),
            Some(other) => Err(Unsupported(other.to_string())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PkgBackend::Apt => "apt",
            PkgBackend::Dnf(t) => t.name(),
            PkgBackend::Zypper => "zypper",
            PkgBackend::Pacman => "pacman",
        }
    }

    /// The start of every pkg script (see each backend's module doc).
    pub fn prelude(self) -> String {
        let (mut s, marker, refresh) = match self {
            PkgBackend::Apt => (apt::PRELUDE.to_string(), "apt", "apt-get -q update"),
            PkgBackend::Dnf(t) => (
                dnf::prelude(t),
                t.name(),
                "\"$h_pm\" -q -y makecache --refresh",
            ),
            PkgBackend::Zypper => (
                zypper::PRELUDE.to_string(),
                "zypper",
                "zypper -n -q refresh",
            ),
            PkgBackend::Pacman => (
                pacman::PRELUDE.to_string(),
                "pacman",
                "pacman -Sy --noprogressbar",
            ),
        };
        s.push_str(&refresh_once(marker, refresh));
        s
    }

    /// `h_list`'s lines by Salt's package name.
    pub fn known(self, lines: &[String], native_arch: &str) -> BTreeMap<String, Known> {
        match self {
            PkgBackend::Apt => apt::known(lines, native_arch),
            PkgBackend::Dnf(_) => dnf::known(lines, native_arch),
            PkgBackend::Zypper => dnf::known(lines, native_arch),
            PkgBackend::Pacman => pacman::known(lines),
        }
    }

    /// Installed packages as name to versions.
    pub fn installed(self, lines: &[String], native_arch: &str) -> BTreeMap<String, Vec<String>> {
        self.known(lines, native_arch)
            .into_iter()
            .filter(|(_, k)| !k.installed.is_empty())
            .map(|(n, k)| (n, k.installed))
            .collect()
    }

    /// A snippet printing `@@policy` and the lines [`Self::policy`] reads:
    /// what an install of `names` (shell words) would bring.
    pub fn policy_snippet(self, names: &str, fromrepo: Option<&str>) -> String {
        match self {
            PkgBackend::Apt => apt::policy_snippet(names, fromrepo),
            PkgBackend::Dnf(t) => dnf::policy_snippet(t, names, fromrepo),
            PkgBackend::Zypper => zypper::policy_snippet(names, fromrepo),
            PkgBackend::Pacman => pacman::policy_snippet(names, fromrepo),
        }
    }

    /// Name to (installed, candidate) from the `@@policy` lines; the
    /// installed version only where the tool says it there (apt).
    pub fn policy(
        self,
        lines: &[String],
        native_arch: &str,
    ) -> BTreeMap<String, (Option<String>, Option<String>)> {
        match self {
            PkgBackend::Apt => apt::parse_policy(lines),
            PkgBackend::Dnf(_) => dnf::parse_policy(lines, native_arch),
            PkgBackend::Zypper => zypper::parse_policy(lines, native_arch),
            PkgBackend::Pacman => pacman::parse_policy(lines),
        }
    }

    /// Sets `h_lists` when the tool has an index to install from.
    pub fn have_lists(self) -> &'static str {
        match self {
            PkgBackend::Apt => apt::HAVE_LISTS,
            PkgBackend::Dnf(_) => dnf::HAVE_LISTS,
            PkgBackend::Zypper => zypper::HAVE_LISTS,
            PkgBackend::Pacman => pacman::HAVE_LISTS,
        }
    }

    pub fn vercmp(self, a: &str, b: &str) -> Ordering {
        match self {
            PkgBackend::Apt => apt::vercmp(a, b),
            PkgBackend::Dnf(_) | PkgBackend::Zypper | PkgBackend::Pacman => dnf::vercmp(a, b),
        }
    }

    /// Whether installed version `have` is what `want` asks for: exact,
    /// without the epoch when `want` gives none (Salt's default
    /// `ignore_epoch`), or a `1.2*` prefix (rpm: `1.2` also matches any
    /// release of 1.2).
    pub fn version_matches(self, have: &str, want: &str) -> bool {
        match self {
            PkgBackend::Apt => apt::version_matches(have, want),
            PkgBackend::Dnf(_) | PkgBackend::Zypper | PkgBackend::Pacman => {
                dnf::version_matches(have, want)
            }
        }
    }

    /// The tool's error lines in its output, for a failure's message.
    pub fn errors(self, output: &str) -> Vec<String> {
        match self {
            PkgBackend::Apt => apt::errors(output),
            PkgBackend::Dnf(_) => dnf::errors(output),
            PkgBackend::Zypper => zypper::errors(output),
            PkgBackend::Pacman => pacman::errors(output),
        }
    }

    pub fn install_word(self, name: &str, version: Option<&str>) -> String {
        match self {
            PkgBackend::Apt => apt::install_word(name, version),
            PkgBackend::Dnf(_) => dnf::install_word(name, version),
            PkgBackend::Zypper => zypper::install_word(name, version),
            PkgBackend::Pacman => pacman::install_word(name, version),
        }
    }

    /// The install line (output on stderr), `$h_rc` set.
    pub fn install(self, o: &apt::InstallOpts, words: &[String]) -> String {
        match self {
            PkgBackend::Apt => apt::install(o, words),
            PkgBackend::Dnf(t) => dnf::install(t, o, words),
            PkgBackend::Zypper => zypper::install(o, words),
            PkgBackend::Pacman => pacman::install(o, words),
        }
    }

    /// What this backend reads of a package file's `bytes`; `label` (one
    /// word of `[0-9a-z]`) names it in the host's `@@srcinfo_LABEL` answer.
    pub fn package_file(self, label: &str, bytes: &[u8]) -> PackageFile {
        match self {
            PkgBackend::Apt => match apt::deb_control(bytes) {
                Some(head) => PackageFile::OnHost(apt::deb_info_snippet(label, head)),
                None => PackageFile::Unread,
            },
            PkgBackend::Dnf(_) | PkgBackend::Zypper => match dnf::rpm_info(bytes) {
                Some((name, version)) => PackageFile::Read { name, version },
                None => PackageFile::Unread,
            },
            PkgBackend::Pacman => PackageFile::Unread,
        }
    }

    /// The file name ending the tool needs to take a path for a package
    /// file (apt-get and dnf tell a file from a name by it).
    pub fn file_suffix(self) -> &'static str {
        match self {
            PkgBackend::Apt => ".deb",
            PkgBackend::Dnf(_) | PkgBackend::Zypper => ".rpm",
            PkgBackend::Pacman => ".pkg.tar",
        }
    }

    /// The line installing package files (`paths`: each with a `/`), with
    /// what they depend on from the repositories, as Salt runs it:
    /// `apt-get install ./x.deb`, `dnf`/`zypper install ./x.rpm`,
    /// `pacman -U`; `$h_rc` set.
    pub fn install_files(self, o: &apt::InstallOpts, paths: &[String]) -> String {
        match self {
            PkgBackend::Pacman => pacman::install_files(paths),
            other => other.install(o, paths),
        }
    }

    /// The remove (or purge) line for `names` (shell words), `$h_rc` set.
    pub fn remove(self, purge: bool, names: &str) -> String {
        match self {
            PkgBackend::Apt => apt::remove(purge, names),
            PkgBackend::Dnf(t) => dnf::remove(t, names),
            PkgBackend::Zypper => zypper::remove(names),
            PkgBackend::Pacman => pacman::remove(purge, names),
        }
    }

    /// Hold or release `names`, when `$h_rc` is still 0.
    pub fn hold(self, hold: bool, names: &[String]) -> String {
        match self {
            PkgBackend::Apt => apt::hold(hold, names),
            PkgBackend::Dnf(t) => dnf::hold(t, hold, names),
            PkgBackend::Zypper => zypper::hold(hold, names),
            // refused before: see hold_unavailable
            PkgBackend::Pacman => String::new(),
        }
    }

    /// Upgrade everything, `$h_rc` set.
    pub fn upgrade(self, dist_upgrade: bool) -> String {
        match self {
            PkgBackend::Apt => apt::upgrade(dist_upgrade),
            PkgBackend::Dnf(t) => dnf::upgrade(t),
            PkgBackend::Zypper => zypper::upgrade(dist_upgrade),
            PkgBackend::Pacman => pacman::upgrade(),
        }
    }

    /// A snippet adding to `"$@"` each of `names` (shell words) the tool
    /// can remove (installed or half-installed; with `purge`, also what
    /// left only configuration files), so an absent name is no error.
    pub fn present_loop(self, names: &str, purge: bool) -> String {
        match self {
            PkgBackend::Apt => apt::present_loop(names, purge),
            PkgBackend::Pacman => format!(
                "for h_p in {names}; do\n\tpacman -Q -- \"$h_p\" >/dev/null 2>&1 && set -- \"$@\" \"$h_p\"\ndone\n"
            ),
            PkgBackend::Dnf(_) | PkgBackend::Zypper => format!(
                "for h_p in {names}; do\n\trpm -q -- \"$h_p\" >/dev/null 2>&1 && set -- \"$@\" \"$h_p\"\ndone\n"
            ),
        }
    }

    /// The message for a host whose script found `found` (`@@unsupported
    /// TOOL`) instead of this backend's tool.
    pub fn host_has(self, found: &str) -> String {
        match found {
            "apt-get" | "dnf" | "yum" | "zypper" | "pacman" => format!(
                "this host has {found}, not {}: its `pkg_manager` grain is missing or stale (refresh the grains)",
                self.name()
            ),
            other => Unsupported(other.to_string()).to_string(),
        }
    }

    /// Why `hold` cannot work on this host, from the probe's report: dnf
    /// and yum hold only through the versionlock plugin.
    pub fn hold_unavailable(self, report: &report::Report) -> Option<String> {
        match self {
            PkgBackend::Apt | PkgBackend::Zypper => None,
            PkgBackend::Pacman => Some(
                "hold is not supported on pacman (Salt's pacman module has no hold; pacman.conf's IgnorePkg is a file to manage)".into(),
            ),
            PkgBackend::Dnf(t) => report.value("versionlock").is_some_and(str::is_empty).then(|| {
                format!(
                    "hold needs {t}'s versionlock plugin, which this host does not have (install python3-dnf-plugin-versionlock, or yum-plugin-versionlock)",
                    t = t.name()
                )
            }),
        }
    }
}

/// `h_refresh`: the package manager's index refreshed with `command` at
/// most once per state run (`$HALITE_RUN`, set by the state engine; the
/// run id kept in `/run/halite-MARKER-refreshed`), saying `@@refresh`,
/// `@@refresh_skipped` or `@@refresh_failed RC` (which ends the script).
fn refresh_once(marker: &str, command: &str) -> String {
    format!(
        r#"h_refresh() {{
	h_done=
	if [ -n "${{HALITE_RUN:-}}" ]; then
		{{ read -r h_done </run/halite-{marker}-refreshed; }} 2>/dev/null
	fi
	if [ -n "$h_done" ] && [ "$h_done" = "${{HALITE_RUN:-}}" ]; then
		printf '@@refresh_skipped\n'
		return 0
	fi
	printf '@@refresh\n'
	{command} >&2 </dev/null
	h_rc=$?
	if [ "$h_rc" -ne 0 ]; then
		printf '@@refresh_failed %s\n@@end\n' "$h_rc"
		exit "$h_rc"
	fi
	if [ -n "${{HALITE_RUN:-}}" ]; then
		{{ printf '%s\n' "$HALITE_RUN" >/run/halite-{marker}-refreshed; }} 2>/dev/null
	fi
	return 0
}}
"#
    )
}
