//! pacman (Arch): the probe snippet (`pacman -Q` lines, the sync
//! databases' `pacman -Si`), their parsers and the apply snippets (`pacman
//! -S/-R/-Su`), as Salt's pacmanpkg runs them. pacman has no hold Salt
//! drives (`IgnorePkg` is pacman.conf's, not a pkg state's): `hold` is a
//! clear error. Versions (`epoch:pkgver-pkgrel`) are compared in rpm's
//! order (alpm's `vercmp` is rpmvercmp on epoch, version and release).
//!
//! [`PRELUDE`] prints `@@halite_pkg 1`, `@@arch` (`uname -m`), or
//! `@@unsupported TOOL` and exits on a host without pacman. It defines
//! `h_list` (`name<TAB>version` lines) and `h_refresh` (`pacman -Sy`, at
//! most once per state run). The probe reads the sync databases as they
//! are: it never refreshes them.

use std::collections::BTreeMap;

use super::apt::InstallOpts;
use super::Known;
use crate::transport::quote::join;

/// The start of every pacman script (see the module doc).
pub const PRELUDE: &str = r#"LC_ALL=C
export LC_ALL
if ! command -v pacman >/dev/null 2>&1; then
	h_pm=unknown
	for h_t in apt-get dnf yum zypper apk; do
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
	pacman -Q -- "$@" 2>/dev/null | sed 's/ /	/'
	return 0
}
"#;

/// Sets `h_lists` when pacman has some sync database.
pub const HAVE_LISTS: &str = "h_lists=\nfor h_f in /var/lib/pacman/sync/*.db; do\n\tif [ -e \"$h_f\" ]; then h_lists=1; break; fi\ndone\n";

/// Sets `h_need` unless every one of `names` (shell words) is installed:
/// `pacman -Q` fails when one is not.
pub fn need(names: &str) -> String {
    format!("h_need=\npacman -Q -- {names} >/dev/null 2>&1 || h_need=1\n")
}

/// `@@policy` and, per name the sync databases have, `name<TAB>version`
/// of the package pacman would install (the first repository's).
/// `fromrepo` is no option of `-Si`: it selects `REPO/name`.
pub fn policy_snippet(names: &str, fromrepo: Option<&str>) -> String {
    let targets = match fromrepo {
        Some(r) => format!(
            "$(for h_p in {names}; do printf '%s/%s ' {} \"$h_p\"; done)",
            crate::transport::quote::quote(r)
        ),
        None => names.to_string(),
    };
    format!(
        "printf '@@policy\\n'\npacman -Si -- {targets} 2>/dev/null </dev/null | awk -F ' *: ' '$1 == \"Name\" {{ n = $2 }} $1 == \"Version\" {{ print n \"\\t\" $2 }}'\n"
    )
}

/// h_list's lines (`name<TAB>version`) by name.
pub fn known(lines: &[String]) -> BTreeMap<String, Known> {
    let mut m: BTreeMap<String, Known> = BTreeMap::new();
    for l in lines {
        let Some((name, version)) = l.split_once('\t') else {
            continue;
        };
        let k = m.entry(name.to_string()).or_default();
        k.installed.push(version.to_string());
        k.present = true;
    }
    m
}

/// The policy lines: name to (None, the version pacman would install,
/// the first one printed).
pub fn parse_policy(lines: &[String]) -> BTreeMap<String, (Option<String>, Option<String>)> {
    let mut m: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    for l in lines {
        let Some((name, version)) = l.split_once('\t') else {
            continue;
        };
        m.entry(name.to_string())
            .or_insert_with(|| (None, Some(version.to_string())));
    }
    m
}

/// One package to install: `name` or `name=version` (Salt's target).
pub fn install_word(name: &str, version: Option<&str>) -> String {
    match version {
        Some(v) => format!("{name}={v}"),
        None => name.to_string(),
    }
}

/// Salt's `pacman -S --noprogressbar --noconfirm --needed` (no `--needed`
/// for a reinstall), output on stderr, `$h_rc` set. pacman has no
/// recommends, no per-command repository choice (`fromrepo` names
/// `REPO/name` targets) and verifies by pacman.conf's SigLevel.
pub fn install(o: &InstallOpts, words: &[String]) -> String {
    let mut w: Vec<String> = vec![
        "pacman".into(),
        "-S".into(),
        "--noprogressbar".into(),
        "--noconfirm".into(),
    ];
    if !o.reinstall {
        w.push("--needed".into());
    }
    w.push("--".into());
    for x in words {
        w.push(match &o.fromrepo {
            Some(r) => format!("{r}/{x}"),
            None => x.clone(),
        });
    }
    format!("{} >&2 </dev/null\nh_rc=$?\n", join(&w))
}

/// Salt's `pacman -R` (purge: `-Rsc`) for `names` (shell words, `"$@"`
/// allowed).
pub fn remove(purge: bool, names: &str) -> String {
    let arg = if purge { "-Rsc" } else { "-R" };
    format!("pacman {arg} --noprogressbar --noconfirm -- {names} >&2 </dev/null\nh_rc=$?\n")
}

/// The whole-system upgrade (`pkg.upgrade`), `$h_rc` set.
pub fn upgrade() -> String {
    "pacman -Su --noprogressbar --noconfirm >&2 </dev/null\nh_rc=$?\n".into()
}

/// pacman's `error:` lines, or the end of its output without any.
pub fn errors(output: &str) -> Vec<String> {
    let errors: Vec<String> = output
        .lines()
        .filter(|l| l.starts_with("error:"))
        .map(str::to_string)
        .collect();
    if errors.is_empty() {
        let tail = super::report::last_lines(output, 5);
        if tail.is_empty() {
            return vec!["pacman failed without a message".into()];
        }
        return vec![tail];
    }
    errors
}

/// Salt's list_upgrades line: what `-Su` would bring, from the sync
/// databases as they are.
pub const LIST_UPGRADES: &str = "pacman -S -p -u --print-format '%n %v'";

/// `name version` lines of [`LIST_UPGRADES`] as name to version.
pub fn parse_upgrades(lines: &[String]) -> BTreeMap<String, String> {
    lines
        .iter()
        .filter_map(|l| {
            let (n, v) = l.split_once(' ')?;
            (!n.is_empty() && !v.contains(' ')).then(|| (n.to_string(), v.to_string()))
        })
        .collect()
}

/// Salt's `pacman -U` for package files (`paths`), `$h_rc` set.
pub fn install_files(paths: &[String]) -> String {
    format!(
        "pacman -U --noprogressbar --noconfirm -- {} >&2 </dev/null\nh_rc=$?\n",
        join(paths)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    /// Real output (tests/compat/gen_platform_pacman.sh).
    #[test]
    fn parsers_on_real_output() {
        let k = known(&lines(include_str!(
            "../../tests/compat/platform/pacman-list.txt"
        )));
        assert_eq!(k["halite-drill"].installed, ["1.0-1"]);
        assert!(!k.contains_key("nosuch") && !k.contains_key("halite-hello"));
        let p = parse_policy(&lines(include_str!(
            "../../tests/compat/platform/pacman-policy.txt"
        )));
        assert_eq!(p["halite-hello"], (None, Some("1.1-1".into())));
        assert_eq!(p["halite-drill"], (None, Some("1.1-1".into())));
        assert_eq!(p.len(), 2);
        let u = parse_upgrades(&lines(include_str!(
            "../../tests/compat/platform/pacman-list-upgrades.txt"
        )));
        assert_eq!(u.len(), 1);
        assert_eq!(u["halite-drill"], "1.1-1");
        let e = errors(include_str!(
            "../../tests/compat/platform/pacman-install-errors.txt"
        ));
        assert_eq!(e, ["error: target not found: nosuchpkg"]);
    }

    #[test]
    fn snippets_quote() {
        let o = InstallOpts {
            fromrepo: Some("halite".into()),
            ..InstallOpts::default()
        };
        assert_eq!(
            install(&o, &[install_word("a b", Some("1.0-1"))]),
            "pacman -S --noprogressbar --noconfirm --needed -- 'halite/a b=1.0-1' >&2 </dev/null\nh_rc=$?\n"
        );
        assert!(
            remove(true, "\"$@\"").starts_with("pacman -Rsc --noprogressbar --noconfirm -- \"$@\"")
        );
    }
}
