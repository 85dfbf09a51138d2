//! zypper with rpm (SUSE): the probe snippet (`rpm -q` lines, zypper's
//! lock file, `zypper search` from the cache), their parsers, the apply
//! snippets (`zypper install/remove/update`, `addlock`/`removelock`).
//! Installed versions, their order and matching are rpm's: they come from
//! [`super::dnf`].
//!
//! [`PRELUDE`] prints `@@halite_pkg 1`, `@@arch` (`uname -m`), or
//! `@@unsupported TOOL` and exits on a host without zypper. It defines
//! `h_list` (rpm lines: name, arch, epoch, version, release; then a `lock`
//! line per package name locked in /etc/zypp/locks) and `h_refresh`
//! (`zypper refresh`, at most once per state run). The probe never
//! refreshes (`--no-refresh`): it reads what zypper has cached.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::apt::InstallOpts;
use super::dnf::{salt_name, vercmp};
use crate::transport::quote::{join, quote};

/// The start of every zypper script (see the module doc).
pub const PRELUDE: &str = r#"LC_ALL=C
export LC_ALL
if ! command -v zypper >/dev/null 2>&1 || ! command -v rpm >/dev/null 2>&1; then
	h_pm=unknown
	for h_t in apt-get dnf yum apk pacman; do
		if command -v "$h_t" >/dev/null 2>&1; then
			h_pm=$h_t
			break
		fi
	done
	printf '@@unsupported %s\n' "$h_pm"
	exit 1
fi
printf '@@halite_pkg 1\n'
h_arch=$(uname -m)
printf '@@arch %s\n' "$h_arch"
h_list() {
	[ "${1-}" = -- ] && shift
	if [ "$#" -eq 0 ]; then
		rpm -qa --qf '%{NAME}\t%{ARCH}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\n' 2>/dev/null
	else
		rpm -q --qf '%{NAME}\t%{ARCH}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\n' -- "$@" 2>/dev/null
	fi
	if [ -r /etc/zypp/locks ]; then
		sed -n 's/^solvable_name:[[:space:]]*/lock	/p' /etc/zypp/locks
	fi
	return 0
}
"#;

/// Sets `h_lists` when zypper has the metadata of some repository.
pub const HAVE_LISTS: &str = "h_lists=\nfor h_f in /var/cache/zypp/raw/*/repodata/repomd.xml; do\n\tif [ -e \"$h_f\" ]; then h_lists=1; break; fi\ndone\n";

/// `@@policy` and every version of `names` the cached repositories have
/// (a table row per version and repository), from `fromrepo` alone if
/// given. zypper exits 104 when nothing matches: no error here.
pub fn policy_snippet(names: &str, fromrepo: Option<&str>) -> String {
    let repo = match fromrepo {
        Some(r) => format!(" -r {}", quote(r)),
        None => String::new(),
    };
    format!(
        "printf '@@policy\\n'\nzypper -q --no-refresh search -s -x -t package{repo} -- {names} 2>/dev/null </dev/null\n"
    )
}

/// The cells of a zypper table row (`a | b | c`), trimmed; `None` for the
/// heading, its rule and anything else.
fn row(line: &str) -> Option<Vec<&str>> {
    if !line.contains(" | ") || line.starts_with("S ") {
        return None;
    }
    Some(line.split('|').map(str::trim).collect())
}

/// `zypper search -s` rows (`S | Name | Type | Version | Arch |
/// Repository`): name to (None, the newest version a repository has),
/// as [`super::apt::parse_policy`] answers (installed versions come from
/// rpm). The `(System Packages)` rows are installed packages no
/// repository has.
pub fn parse_policy(
    lines: &[String],
    native_arch: &str,
) -> BTreeMap<String, (Option<String>, Option<String>)> {
    let mut m: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    for l in lines {
        let Some(cells) = row(l) else { continue };
        let [_, name, kind, version, arch, repo] = cells.as_slice() else {
            continue;
        };
        if *kind != "package" || *repo == "(System Packages)" {
            continue;
        }
        let e = m.entry(salt_name(name, arch, native_arch)).or_default();
        if e.1
            .as_deref()
            .is_none_or(|c| vercmp(c, version) == Ordering::Less)
        {
            e.1 = Some(version.to_string());
        }
    }
    m
}

/// One package to install: `name` or `name=version` (zypper's edition
/// match; `1.0` matches any release of 1.0).
pub fn install_word(name: &str, version: Option<&str>) -> String {
    match version {
        Some(v) => format!("{name}={v}"),
        None => name.to_string(),
    }
}

/// The zypper line installing `words`, its output on stderr, `$h_rc` set.
/// `--oldpackage` lets a pinned lower version downgrade.
pub fn install(o: &InstallOpts, words: &[String]) -> String {
    let mut w: Vec<String> = vec!["zypper".into(), "-n".into(), "-q".into()];
    if o.skip_verify {
        w.push("--no-gpg-checks".into());
    }
    w.push(if o.only_upgrade { "update" } else { "install" }.into());
    if o.reinstall {
        w.push("--force".into());
    }
    if !o.install_recommends {
        w.push("--no-recommends".into());
    }
    if words.iter().any(|x| x.contains('=')) {
        w.push("--oldpackage".into());
    }
    if let Some(r) = &o.fromrepo {
        w.push("-r".into());
        w.push(r.clone());
    }
    w.push("--".into());
    w.extend(words.iter().cloned());
    format!("{} >&2 </dev/null\nh_rc=$?\n", join(&w))
}

/// The line removing the packages in `names` (shell words, `"$@"`
/// allowed); rpm keeps no configuration-only state, so a purge is a
/// remove.
pub fn remove(names: &str) -> String {
    format!("zypper -n -q remove -- {names} >&2 </dev/null\nh_rc=$?\n")
}

/// `addlock|removelock`, only when everything before succeeded.
pub fn hold(hold: bool, names: &[String]) -> String {
    let verb = if hold { "addlock" } else { "removelock" };
    format!(
        "if [ \"$h_rc\" -eq 0 ]; then\n\tzypper -q {verb} -- {} >&2 </dev/null\n\th_rc=$?\nfi\n",
        join(names)
    )
}

/// The whole-system upgrade (`pkg.upgrade`), `$h_rc` set: Salt's zypper
/// runs `update`, or `dist-upgrade` when asked.
pub fn upgrade(dist_upgrade: bool) -> String {
    let verb = if dist_upgrade {
        "dist-upgrade"
    } else {
        "update"
    };
    format!("zypper -n -q {verb} >&2 </dev/null\nh_rc=$?\n")
}

/// zypper's error lines (`No provider of ...`, a solver's `Problem` and
/// its solutions, `Error`), or the end of its output when it failed
/// without any.
pub fn errors(output: &str) -> Vec<String> {
    let errors: Vec<String> = output
        .lines()
        .filter(|l| {
            l.starts_with("No provider of")
                || l.starts_with("Problem")
                || l.starts_with("Error")
                || l.starts_with("ERROR")
                || l.starts_with(" Solution")
                || l.starts_with("Repository '")
        })
        .map(str::to_string)
        .collect();
    if errors.is_empty() {
        let tail = super::report::last_lines(output, 5);
        if tail.is_empty() {
            return vec!["zypper failed without a message".into()];
        }
        return vec![tail];
    }
    errors
}

/// The line listing what `update` would bring (from the cache).
pub fn list_upgrades(fromrepo: Option<&str>) -> String {
    let repo = match fromrepo {
        Some(r) => format!(" -r {}", quote(r)),
        None => String::new(),
    };
    format!("zypper -q --no-refresh list-updates{repo}")
}

/// `zypper list-updates` rows (`S | Repository | Name | Current Version |
/// Available Version | Arch`) as name to the available version.
pub fn parse_upgrades(lines: &[String], native_arch: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for l in lines {
        let Some(cells) = row(l) else { continue };
        let [_, _repo, name, _current, available, arch] = cells.as_slice() else {
            continue;
        };
        m.insert(salt_name(name, arch, native_arch), available.to_string());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    /// Real output (tests/compat/gen_platform_zypper.sh): rpm lines, rpm's
    /// "not installed" line, a zypper lock.
    #[test]
    fn list_lines_from_rpm_and_locks() {
        let k = super::super::dnf::known(
            &lines(include_str!("../../tests/compat/platform/zypper-list.txt")),
            "x86_64",
        );
        let hello = &k["halite-hello"];
        assert_eq!(hello.installed, ["1.0-1"]);
        assert!(hello.present && hello.held);
        assert!(!k["halite-drill"].held);
        assert!(!k.contains_key("nosuch"));
    }

    #[test]
    fn candidates_from_search() {
        let p = parse_policy(
            &lines(include_str!(
                "../../tests/compat/platform/zypper-search.txt"
            )),
            "x86_64",
        );
        assert_eq!(p.len(), 2);
        assert_eq!(p["halite-hello"], (None, Some("1.1-1".into())));
        assert_eq!(p["halite-drill"], (None, Some("1.1-1".into())));
        let p = parse_policy(
            &lines("i  | bash | package | 4.4-1 | x86_64 | (System Packages)\n  | glibc | package | 2.31-1 | i586 | repo-oss\n"),
            "x86_64",
        );
        assert!(!p.contains_key("bash"));
        assert_eq!(p["glibc.i586"], (None, Some("2.31-1".into())));
    }

    #[test]
    fn upgrades_and_errors() {
        let u = parse_upgrades(
            &lines(include_str!(
                "../../tests/compat/platform/zypper-list-updates.txt"
            )),
            "x86_64",
        );
        assert_eq!(u.len(), 1);
        assert_eq!(u["halite-drill"], "1.1-1");
        let e = errors(include_str!(
            "../../tests/compat/platform/zypper-install-errors.txt"
        ));
        assert_eq!(e[0], "No provider of 'nosuchpkg' found.");
        assert_eq!(e[1], "Problem: conflicting requests");
        assert_eq!(e.len(), 4, "{e:?}");
        assert_eq!(errors("\n"), ["zypper failed without a message"]);
    }

    #[test]
    fn snippets_quote_and_pin() {
        let o = InstallOpts {
            fromrepo: Some("my repo".into()),
            skip_verify: true,
            install_recommends: false,
            ..InstallOpts::default()
        };
        let s = install(&o, &[install_word("halite-hello", Some("1.0"))]);
        assert_eq!(
            s,
            "zypper -n -q --no-gpg-checks install --no-recommends --oldpackage -r 'my repo' -- halite-hello=1.0 >&2 </dev/null\nh_rc=$?\n"
        );
        assert!(hold(true, &["a b".into()]).contains("zypper -q addlock -- 'a b'"));
        assert!(hold(false, &["x".into()]).contains("zypper -q removelock -- x"));
        assert!(policy_snippet("x", Some("local")).contains("-t package -r local -- x"));
    }
}
