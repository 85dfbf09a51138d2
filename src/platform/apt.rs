//! apt and dpkg: the probe snippet (`dpkg-query` lines, `apt-cache
//! policy`), their parsers, the apply snippets (`apt-get`, `apt-mark`) and
//! Debian's version order. The `pkg` execution functions and the `pkg` /
//! `pkgrepo` states all take their apt knowledge from here.
//!
//! Every pkg script starts with [`PRELUDE`]: it prints `@@halite_pkg 1`
//! and `@@arch`, or `@@unsupported TOOL` (and exits) on a host without apt,
//! and defines `h_list` (dpkg-query lines: package, architecture, version,
//! status abbreviation) and `h_refresh` (`apt-get update`, at most once
//! per state run).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::Known;
use crate::transport::quote::{join, quote};

/// Common start of every script: quiet, non-interactive apt in the C locale,
/// and the platform check.
pub const PRELUDE: &str = r#"LC_ALL=C
export LC_ALL
DEBIAN_FRONTEND=noninteractive
APT_LISTBUGS_FRONTEND=none
APT_LISTCHANGES_FRONTEND=none
UCF_FORCE_CONFFOLD=1
export DEBIAN_FRONTEND APT_LISTBUGS_FRONTEND APT_LISTCHANGES_FRONTEND UCF_FORCE_CONFFOLD
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
	h_pm=unknown
	for h_t in dnf yum zypper apk pacman; do
		if command -v "$h_t" >/dev/null 2>&1; then
			h_pm=$h_t
			break
		fi
	done
	printf '@@unsupported %s\n' "$h_pm"
	exit 1
fi
printf '@@halite_pkg 1\n'
# The state engine's shared probe may have asked dpkg already.
h_arch=${h_pkg_arch-}
[ -n "$h_arch" ] || h_arch=$(dpkg --print-architecture 2>/dev/null)
printf '@@arch %s\n' "$h_arch"
h_list() {
	# The run's shared dpkg-query answered for these names (shared_script):
	# its lines for them, in the order asked; else dpkg-query itself.
	if [ -n "${h_pkg_listed-}" ]; then
		[ "$1" != -- ] || shift
		h_all=1
		for h_n in "$@"; do
			case $h_n in *[!a-z0-9.+-]*) h_all= ;; esac
			case $h_pkg_names in *" $h_n "*) ;; *) h_all= ;; esac
		done
		if [ -n "$h_all" ]; then
			for h_n in "$@"; do
				while IFS= read -r h_y; do
					if [ "${h_y%%	*}" = "$h_n" ]; then printf '%s\n' "$h_y"; fi
				done <<EOF
$h_pkg_list
EOF
			done
			return 0
		fi
		set -- -- "$@"
	fi
	dpkg-query -W -f='${Package}\t${Architecture}\t${Version}\t${db:Status-Abbrev}\n' "$@" 2>/dev/null
	return 0
}
"#;

/// `h_pkg_arch` from dpkg's own line of `h_pkg_list` (`dpkg<TAB>ARCH<TAB>...`),
/// else from `dpkg --print-architecture`.
const ARCH_FROM_LIST: &str = "h_pkg_arch=\nwhile IFS= read -r h_x; do\n\tcase $h_x in \"dpkg\t\"*) h_x=${h_x#dpkg\t}; h_pkg_arch=${h_x%%\t*}; break ;; esac\ndone <<EOF\n$h_pkg_list\nEOF\n[ -n \"$h_pkg_arch\" ] || h_pkg_arch=$(dpkg --print-architecture 2>/dev/null)\n";

/// The apt states' shared probe: dpkg's architecture and ONE `dpkg-query`
/// for every package name of the run's states (each state's probe then
/// reads its lines from it, [`PRELUDE`]'s `h_list`), instead of one call
/// per state. Names other than plain Debian package names (`name:arch`,
/// a pattern) are left to each state's own call. Prints nothing.
pub fn shared_script(args: &[String]) -> String {
    let mut names: Vec<&str> = args
        .iter()
        .flat_map(|a| a.split_whitespace())
        .filter(|n| {
            n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut s = String::from("if command -v dpkg >/dev/null 2>&1; then\n");
    if names.is_empty() {
        s.push_str("h_pkg_arch=$(dpkg --print-architecture 2>/dev/null)\n");
    } else {
        // dpkg's own line gives the native architecture (dpkg's, which is
        // what --print-architecture prints): no second process.
        let list = names.join(" ");
        s.push_str(&format!(
            "h_pkg_list=$(dpkg-query -W -f='${{Package}}\\t${{Architecture}}\\t${{Version}}\\t${{db:Status-Abbrev}}\\n' -- dpkg {list} 2>/dev/null)\nh_pkg_names=' {list} '\nh_pkg_listed=1\n{ARCH_FROM_LIST}"
        ));
    }
    s.push_str("fi\n");
    s
}

/// apt-get options every change uses: keep local config files, never ask.
pub const CHANGE: &str =
    "apt-get -q -y -o DPkg::Options::=--force-confold -o DPkg::Options::=--force-confdef";

/// apt's error lines (`E: ...`), or the end of its output when it failed
/// without any.
pub fn errors(output: &str) -> Vec<String> {
    let errors: Vec<String> = output
        .lines()
        .filter(|l| l.starts_with("E: ") || l.starts_with("dpkg: error"))
        .map(str::to_string)
        .collect();
    if errors.is_empty() {
        let tail = super::report::last_lines(output, 5);
        if tail.is_empty() {
            return vec!["apt-get failed without a message".into()];
        }
        return vec![tail];
    }
    errors
}

/// `apt-cache policy` output: package to (installed, candidate), `(none)`
/// read as absent.
pub fn parse_policy(lines: &[String]) -> BTreeMap<String, (Option<String>, Option<String>)> {
    let mut m: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    let mut current: Option<String> = None;
    let value = |v: &str| -> Option<String> {
        let v = v.trim();
        (!v.is_empty() && v != "(none)").then(|| v.to_string())
    };
    for line in lines {
        if !line.starts_with(char::is_whitespace) {
            current = line.strip_suffix(':').map(str::to_string);
            if let Some(c) = &current {
                m.entry(c.clone()).or_default();
            }
            continue;
        }
        let Some(pkg) = &current else { continue };
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Installed:") {
            m.entry(pkg.clone()).or_default().0 = value(v);
        } else if let Some(v) = t.strip_prefix("Candidate:") {
            m.entry(pkg.clone()).or_default().1 = value(v);
        }
    }
    m
}

/// Debian version order (dpkg's `verrevcmp`): epoch, then upstream version,
/// then revision, where `~` sorts before everything, even the end.
pub fn vercmp(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if e.bytes().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
            _ => (0, v),
        };
        let (upstream, revision) = rest.rsplit_once('-').unwrap_or((rest, ""));
        (epoch, upstream, revision)
    }
    fn order(c: Option<u8>) -> i32 {
        match c {
            None => 0,
            Some(c) if c.is_ascii_digit() => 0,
            Some(c) if c.is_ascii_alphabetic() => i32::from(c),
            Some(b'~') => -1,
            Some(c) => i32::from(c) + 256,
        }
    }
    fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit())
            {
                let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
                if ac != bc {
                    return ac.cmp(&bc);
                }
                i += 1;
                j += 1;
            }
            while i < a.len() && a[i] == b'0' {
                i += 1;
            }
            while j < b.len() && b[j] == b'0' {
                j += 1;
            }
            let mut first_diff = Ordering::Equal;
            while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
                if first_diff == Ordering::Equal {
                    first_diff = a[i].cmp(&b[j]);
                }
                i += 1;
                j += 1;
            }
            if i < a.len() && a[i].is_ascii_digit() {
                return Ordering::Greater;
            }
            if j < b.len() && b[j].is_ascii_digit() {
                return Ordering::Less;
            }
            if first_diff != Ordering::Equal {
                return first_diff;
            }
        }
        Ordering::Equal
    }
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua.as_bytes(), ub.as_bytes()))
        .then_with(|| verrevcmp(ra.as_bytes(), rb.as_bytes()))
}

/// Whether installed version `have` is what `want` asks for: exact,
/// without the epoch when `want` gives none, or a `1.2*` prefix.
pub fn version_matches(have: &str, want: &str) -> bool {
    if let Some(prefix) = want.strip_suffix('*') {
        return have.starts_with(prefix)
            || (!prefix.contains(':')
                && have
                    .split_once(':')
                    .is_some_and(|(_, v)| v.starts_with(prefix)));
    }
    have == want || (!want.contains(':') && have.split_once(':').is_some_and(|(_, v)| v == want))
}

/// `dpkg-query` lines (package, arch, version, status abbreviation) by
/// name, `name:arch` for a foreign architecture as Salt names them.
pub fn known(lines: &[String], native_arch: &str) -> BTreeMap<String, Known> {
    let mut m: BTreeMap<String, Known> = BTreeMap::new();
    for l in lines {
        let mut cols = l.split('\t');
        let (Some(pkg), Some(arch), Some(version), Some(status)) =
            (cols.next(), cols.next(), cols.next(), cols.next())
        else {
            continue;
        };
        if pkg.is_empty() {
            continue;
        }
        let name = if arch.is_empty() || arch == "all" || arch == native_arch {
            pkg.to_string()
        } else {
            format!("{pkg}:{arch}")
        };
        let mut st = status.chars();
        let (want, state) = (st.next().unwrap_or('u'), st.next().unwrap_or('n'));
        let k = m.entry(name).or_default();
        // installed, or installed with triggers still pending
        if matches!(state, 'i' | 'W' | 't') {
            k.installed.push(version.to_string());
        }
        if state == 'c' {
            k.config_only.push(version.to_string());
        }
        k.present |= !matches!(state, 'n' | 'c');
        k.held |= want == 'h';
    }
    m
}

/// Sets `h_lists` when apt has package lists at all (fresh images ship
/// none, and nothing can be installed without them).
pub const HAVE_LISTS: &str = "h_lists=\nfor h_f in /var/lib/apt/lists/*_Packages*; do\n\t[ -e \"$h_f\" ] && h_lists=1\n\tbreak\ndone\n";

/// Sets `h_ok` when `$h_out` (h_list's lines) has package `$h_t`
/// installed, as [`known`] reads it: its name with the native (or no, or
/// `all`) architecture, and the state `i`, `W` or `t`.
pub const INSTALLED: &str = "\th_ok=\n\twhile IFS= read -r h_x; do\n\t\t[ \"${h_x%%\t*}\" = \"$h_t\" ] || continue\n\t\th_r=${h_x#*\t}\n\t\tcase ${h_r%%\t*} in '' | all | \"$h_arch\") ;; *) continue ;; esac\n\t\tcase ${h_x##*\t} in ?[iWt]*) h_ok=1 ;; esac\n\tdone <<EOF\n$h_out\nEOF\n";

/// `@@policy` and apt's candidates for `names` (shell words).
pub fn policy_snippet(names: &str, fromrepo: Option<&str>) -> String {
    let repo = match fromrepo {
        Some(r) => format!(" -o {}", quote(&format!("APT::Default-Release={r}"))),
        None => String::new(),
    };
    format!("printf '@@policy\\n'\napt-cache -q{repo} policy -- {names} 2>/dev/null\n")
}

/// What an install asks of apt-get besides the packages.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct InstallOpts {
    /// A version was pinned: apt may have to downgrade.
    pub downgrade: bool,
    pub skip_verify: bool,
    pub fromrepo: Option<String>,
    pub install_recommends: bool,
    pub only_upgrade: bool,
    pub reinstall: bool,
}

/// One package to install: `name` or `name=version`.
pub fn install_word(name: &str, version: Option<&str>) -> String {
    match version {
        Some(v) => format!("{name}={v}"),
        None => name.to_string(),
    }
}

/// The apt-get line installing `words`, its output on stderr, `$h_rc` set.
pub fn install(o: &InstallOpts, words: &[String]) -> String {
    let mut w: Vec<String> = Vec::new();
    for (on, opt) in [
        (o.downgrade, "--allow-downgrades"),
        (!o.install_recommends, "--no-install-recommends"),
        (o.only_upgrade, "--only-upgrade"),
        (o.skip_verify, "--allow-unauthenticated"),
        (o.reinstall, "--reinstall"),
    ] {
        if on {
            w.push(opt.into());
        }
    }
    if let Some(r) = &o.fromrepo {
        w.push("-t".into());
        w.push(r.clone());
    }
    w.push("install".into());
    w.push("--".into());
    w.extend(words.iter().cloned());
    format!("{CHANGE} {} >&2 </dev/null\nh_rc=$?\n", join(&w))
}

/// The apt-get line removing (or purging) the packages in `names` (shell
/// words, `"$@"` allowed), `$h_rc` set.
pub fn remove(purge: bool, names: &str) -> String {
    let verb = if purge { "--purge remove" } else { "remove" };
    format!("{CHANGE} {verb} -- {names} >&2 </dev/null\nh_rc=$?\n")
}

/// apt-mark hold/unhold, only when everything before succeeded.
pub fn hold(hold: bool, names: &[String]) -> String {
    let verb = if hold { "hold" } else { "unhold" };
    format!(
        "if [ \"$h_rc\" -eq 0 ]; then\n\tapt-mark {verb} -- {} >&2 </dev/null\n\th_rc=$?\nfi\n",
        join(names)
    )
}

/// The whole-system upgrade (`pkg.upgrade`), `$h_rc` set.
pub fn upgrade(dist_upgrade: bool) -> String {
    let verb = if dist_upgrade {
        "dist-upgrade"
    } else {
        "upgrade"
    };
    format!("{CHANGE} {verb} >&2 </dev/null\nh_rc=$?\n")
}

/// Sets `h_known` unless apt's index lacks one of `names`: an earlier
/// state of the run (a pkgrepo) may have indexed a package unknown when
/// planned.
pub fn all_known(names: &str) -> String {
    format!("h_known=1\nfor h_p in {names}; do\n\tapt-cache show -- \"$h_p\" >/dev/null 2>&1 || h_known=\ndone\n")
}

/// Adds to `"$@"` each of `names` dpkg can remove (see
/// [`super::PkgBackend::present_loop`]).
pub fn present_loop(names: &str, purge: bool) -> String {
    let config_only = if purge { "set -- \"$@\" \"$h_p\"" } else { ":" };
    format!(
        "for h_p in {names}; do\n\
         \th_st=$(dpkg-query -W -f='${{db:Status-Abbrev}}\\n' -- \"$h_p\" 2>/dev/null)\n\
         \tcase $h_st in\n\
         \t'' | ?n*) ;;\n\
         \t?c*) {config_only} ;;\n\
         \t*) set -- \"$@\" \"$h_p\" ;;\n\
         \tesac\n\
         done\n"
    )
}

/// A `.deb` up to the end of its control member, found by walking the
/// `ar` archive (`debian-binary`, `control.tar[.gz|.xz|.zst]`, then
/// `data.tar...`), or `None` when the bytes are no Debian package: a few
/// kilobytes `dpkg-deb -f` reads the fields from ([`deb_info_snippet`]),
/// with no decompressor needed on either side.
pub fn deb_control(bytes: &[u8]) -> Option<&[u8]> {
    let mut at = b"!<arch>\n".len();
    if !bytes.starts_with(b"!<arch>\n") {
        return None;
    }
    while at + 60 <= bytes.len() {
        let head = &bytes[at..at + 60];
        if &head[58..60] != b"`\n" {
            return None;
        }
        let name = std::str::from_utf8(&head[..16])
            .ok()?
            .trim_end()
            .trim_end_matches('/');
        let size: usize = std::str::from_utf8(&head[48..58])
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let end = at.checked_add(60)?.checked_add(size)?;
        if end > bytes.len() {
            return None;
        }
        if name.starts_with("control.tar") {
            return Some(&bytes[..end]);
        }
        // Members start on even offsets.
        at = end + end % 2;
    }
    None
}

/// A snippet printing `@@srcinfo_LABEL PACKAGE VERSION` for a `.deb`'s
/// start ([`deb_control`], shipped as base64) as the host's `dpkg-deb -f`
/// reads it; nothing when it cannot. `LABEL` is one word of `[0-9a-z]`.
pub fn deb_info_snippet(label: &str, head: &[u8]) -> String {
    let b64 = data_encoding::BASE64.encode(head);
    let mut s = String::from(
        "h_c=$(mktemp \"${TMPDIR:-/tmp}/halite-deb.XXXXXX\") && {\nbase64 -d > \"$h_c\" <<'HALITE_EOF'\n",
    );
    for line in b64.as_bytes().chunks(76) {
        s.push_str(std::str::from_utf8(line).unwrap_or_default());
        s.push('\n');
    }
    s.push_str(&format!(
        "HALITE_EOF\nh_p=$(dpkg-deb -f \"$h_c\" Package 2>/dev/null)\nh_v=$(dpkg-deb -f \"$h_c\" Version 2>/dev/null)\nrm -f \"$h_c\"\n[ -z \"$h_p\" ] || [ -z \"$h_v\" ] || printf '@@srcinfo_%s %s %s\\n' {label} \"$h_p\" \"$h_v\"\n}}\n"
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real `.deb`'s start, whatever dpkg-deb compressed its control
    /// member with, read by the snippet under `sh` as a host reads it.
    #[test]
    fn deb_version_is_read_from_the_control_member() {
        let dir = tempfile::tempdir().unwrap();
        for z in ["gzip", "xz", "zstd", "none"] {
            let Some(deb) = crate::testing::build_deb(dir.path(), "halite-src", "1:2.0-3", z)
            else {
                return;
            };
            let head = deb_control(&deb).expect(z);
            assert!(head.len() < deb.len(), "{z}");
            let script = deb_info_snippet("s3", head);
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(text, "@@srcinfo_s3 halite-src 1:2.0-3\n", "{z}: {script}");
        }
        assert!(deb_control(b"not a deb").is_none());
        assert!(deb_control(b"!<arch>\nshort").is_none());
        let out = std::process::Command::new("sh")
            .args(["-c", &deb_info_snippet("s0", b"!<arch>\n")])
            .output()
            .unwrap();
        assert!(out.stdout.is_empty());
    }

    #[test]
    fn debian_version_order() {
        use Ordering::*;
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "1.0-0", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0", "1.0+b1", Less),
            ("1:0.1", "2.0", Greater),
            ("2.36-9+deb12u4", "2.36-9+deb12u10", Less),
            ("5.2.15-2+b2", "5.2.15-2+b7", Less),
            ("1.10", "1.9", Greater),
            ("1.0a", "1.0", Greater),
            ("1.0~~", "1.0~", Less),
            ("2:9.0.1378-2", "2:9.0.1378-2", Equal),
        ] {
            assert_eq!(vercmp(a, b), want, "{a} vs {b}");
            assert_eq!(vercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    /// The shared dpkg-query answers each state's `h_list` with exactly the
    /// lines its own dpkg-query prints (on this machine's dpkg): installed,
    /// unknown, several at once; `name:arch` and names the shared call did not
    /// ask fall back to dpkg-query itself.
    #[test]
    fn the_shared_dpkg_query_answers_as_each_call() {
        if !crate::testing::tool_at_hand("dpkg-query") {
            return;
        }
        let shared = shared_script(&["bash coreutils".into(), "hlt-no-such-pkg dash".into()]);
        let sh = |script: &str| {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap()
        };
        for names in [
            "bash",
            "coreutils bash",
            "hlt-no-such-pkg",
            "dash libc6:amd64",
            "sed",
        ] {
            let call = format!("h_list -- {names}\n");
            let alone = sh(&format!("{PRELUDE}{call}"));
            let with = sh(&format!("{shared}{PRELUDE}{call}"));
            let sorted = |t: &str| {
                let mut l: Vec<String> = t.lines().map(str::to_string).collect();
                l.sort();
                l
            };
            assert_eq!(sorted(&with), sorted(&alone), "{names}");
            if names == "bash" {
                assert!(with.contains("bash\t"), "{with}");
            }
        }
        // The architecture comes from dpkg's own line, not a second process.
        let arch = sh(&format!(
            "dpkg() {{ echo asked; }}\n{shared}echo \"$h_pkg_arch\""
        ));
        let native = sh("dpkg --print-architecture");
        assert_eq!(arch, native);
    }
}
