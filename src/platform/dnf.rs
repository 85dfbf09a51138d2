//! dnf (and yum where only yum exists) with rpm: the probe snippet (`rpm
//! -q` lines, the versionlock list, `repoquery` from the cache), their
//! parsers, the apply snippets (`dnf install/remove/upgrade`, `dnf
//! versionlock`) and rpm's version order.
//!
//! [`prelude`] prints `@@halite_pkg 1`, `@@arch` (`uname -m`), and
//! `@@versionlock FILE` (the plugin's lock list, empty without the plugin),
//! or `@@unsupported TOOL` and exits on a host without the tool. It defines
//! `h_list` (rpm lines: name, arch, epoch, version, release; then a `lock`
//! line per versionlock entry) and `h_refresh` (`makecache --refresh`, at
//! most once per state run). The probe reads the cache only (`-C`): it
//! never fetches metadata; dnf fetches what it lacks when it installs.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::apt::InstallOpts;
use super::Known;
use crate::transport::quote::{join, quote};

/// Which command: dnf, or yum where only yum exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Dnf,
    Yum,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Dnf => "dnf",
            Tool::Yum => "yum",
        }
    }
}

/// The start of every dnf/yum script (see the module doc).
pub fn prelude(tool: Tool) -> String {
    let t = tool.name();
    format!(
        r#"LC_ALL=C
export LC_ALL
h_pm={t}
if ! command -v "$h_pm" >/dev/null 2>&1 || ! command -v rpm >/dev/null 2>&1; then
	h_pm=unknown
	for h_t in dnf yum apt-get zypper apk pacman; do
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
h_locks=
for h_f in /etc/dnf/plugins/versionlock.conf /etc/yum/pluginconf.d/versionlock.conf; do
	[ -r "$h_f" ] || continue
	h_locks=$(sed -n 's/^[[:space:]]*locklist[[:space:]]*=[[:space:]]*//p' "$h_f")
	break
done
printf '@@versionlock %s\n' "$h_locks"
h_list() {{
	[ "${{1-}}" = -- ] && shift
	if [ "$#" -eq 0 ]; then
		rpm -qa --qf '%{{NAME}}\t%{{ARCH}}\t%{{EPOCHNUM}}\t%{{VERSION}}\t%{{RELEASE}}\n' 2>/dev/null
	else
		rpm -q --qf '%{{NAME}}\t%{{ARCH}}\t%{{EPOCHNUM}}\t%{{VERSION}}\t%{{RELEASE}}\n' -- "$@" 2>/dev/null
	fi
	if [ -n "$h_locks" ] && [ -r "$h_locks" ]; then
		sed -n '/^[^#!]/s/^/lock	/p' "$h_locks"
	fi
	return 0
}}
"#
    )
}

/// Sets `h_lists` when the tool has cached metadata of some repository.
pub const HAVE_LISTS: &str = "h_lists=\nfor h_f in /var/cache/dnf/*/repodata/repomd.xml /var/cache/yum/*/repodata/repomd.xml /var/cache/yum/*/*/*/repodata/repomd.xml; do\n\tif [ -e \"$h_f\" ]; then h_lists=1; break; fi\ndone\n";

/// Sets `h_need` unless every one of `names` (shell words) is installed:
/// `rpm -q` exits with the number of those that are not.
pub fn need(names: &str) -> String {
    format!("h_need=\nrpm -q -- {names} >/dev/null 2>&1 || h_need=1\n")
}

/// `@@policy` and the newest version each of `names` has in the cached
/// metadata (one line per name and arch), from `fromrepo` alone if given.
pub fn policy_snippet(tool: Tool, names: &str, fromrepo: Option<&str>) -> String {
    let repo = match fromrepo {
        Some(r) => format!(" --disablerepo='*' --enablerepo={}", quote(r)),
        None => String::new(),
    };
    format!(
        "printf '@@policy\\n'\n{} -q -C{repo} repoquery --latest-limit 1 --qf '%{{name}}\\t%{{arch}}\\t%{{epoch}}\\t%{{version}}\\t%{{release}}' -- {names} 2>/dev/null </dev/null\n",
        tool.name()
    )
}

/// Salt's name of an rpm: `name`, or `name.arch` for a foreign arch.
pub(super) fn salt_name(name: &str, arch: &str, native: &str) -> String {
    if arch.is_empty() || arch == "noarch" || arch == native {
        name.to_string()
    } else {
        format!("{name}.{arch}")
    }
}

/// Salt's version of an rpm: `version-release`, `epoch:` first when not 0.
fn evr(epoch: &str, version: &str, release: &str) -> String {
    match epoch {
        "" | "0" | "(none)" => format!("{version}-{release}"),
        e => format!("{e}:{version}-{release}"),
    }
}

/// The name a versionlock entry locks: `NAME-EPOCH:VERSION-RELEASE.ARCH`
/// (what `versionlock add` writes), or a bare name.
fn lock_name(spec: &str) -> &str {
    let spec = spec.trim();
    let parts: Vec<&str> = spec.rsplitn(3, '-').collect();
    match parts.as_slice() {
        [_, ev, name] if ev.contains(':') => name,
        _ => spec,
    }
}

/// h_list's lines by Salt's name (see [`salt_name`]).
pub fn known(lines: &[String], native_arch: &str) -> BTreeMap<String, Known> {
    let mut m: BTreeMap<String, Known> = BTreeMap::new();
    for l in lines {
        let cols: Vec<&str> = l.split('\t').collect();
        match cols.as_slice() {
            ["lock", spec] => m.entry(lock_name(spec).to_string()).or_default().held = true,
            [name, arch, epoch, version, release] if !name.is_empty() => {
                let k = m.entry(salt_name(name, arch, native_arch)).or_default();
                k.installed.push(evr(epoch, version, release));
                k.present = true;
            }
            // `package X is not installed`
            _ => {}
        }
    }
    m
}

/// repoquery's lines: name to (None, the newest version), as
/// [`super::apt::parse_policy`] answers (rpm's installed versions come
/// from [`known`]).
pub fn parse_policy(
    lines: &[String],
    native_arch: &str,
) -> BTreeMap<String, (Option<String>, Option<String>)> {
    let mut m: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    for l in lines {
        let cols: Vec<&str> = l.split('\t').collect();
        let [name, arch, epoch, version, release] = cols.as_slice() else {
            continue;
        };
        let v = evr(epoch, version, release);
        let e = m.entry(salt_name(name, arch, native_arch)).or_default();
        if e.1
            .as_deref()
            .is_none_or(|c| vercmp(c, &v) == Ordering::Less)
        {
            e.1 = Some(v);
        }
    }
    m
}

/// One package to install: `name` or `name-version` (dnf's NEVRA forms).
pub fn install_word(name: &str, version: Option<&str>) -> String {
    match version {
        Some(v) => format!("{name}-{v}"),
        None => name.to_string(),
    }
}

/// The dnf line installing `words`, its output on stderr, `$h_rc` set. A
/// pinned lower version downgrades (dnf does so on `install`).
pub fn install(tool: Tool, o: &InstallOpts, words: &[String]) -> String {
    let mut w: Vec<String> = vec!["-y".into(), "-q".into()];
    if o.skip_verify {
        w.push("--nogpgcheck".into());
    }
    if !o.install_recommends {
        w.push("--setopt=install_weak_deps=False".into());
    }
    if let Some(r) = &o.fromrepo {
        w.push("--disablerepo=*".into());
        w.push(format!("--enablerepo={r}"));
    }
    w.push(
        if o.reinstall {
            "reinstall"
        } else if o.only_upgrade {
            "upgrade"
        } else {
            "install"
        }
        .into(),
    );
    w.push("--".into());
    w.extend(words.iter().cloned());
    format!("{} {} >&2 </dev/null\nh_rc=$?\n", tool.name(), join(&w))
}

/// The line removing the packages in `names` (shell words, `"$@"`
/// allowed); rpm keeps no configuration-only state, so a purge is a
/// remove.
pub fn remove(tool: Tool, names: &str) -> String {
    format!(
        "{} -y -q remove -- {names} >&2 </dev/null\nh_rc=$?\n",
        tool.name()
    )
}

/// `versionlock add|delete`, only when everything before succeeded.
pub fn hold(tool: Tool, hold: bool, names: &[String]) -> String {
    let verb = if hold { "add" } else { "delete" };
    format!(
        "if [ \"$h_rc\" -eq 0 ]; then\n\t{} -q versionlock {verb} -- {} >&2 </dev/null\n\th_rc=$?\nfi\n",
        tool.name(),
        join(names)
    )
}

/// The whole-system upgrade (`pkg.upgrade`), `$h_rc` set.
pub fn upgrade(tool: Tool) -> String {
    format!("{} -y -q upgrade >&2 </dev/null\nh_rc=$?\n", tool.name())
}

/// dnf's error lines (`Error: ...`, a depsolver's `Problem` and its
/// items), or the end of its output when it failed without any.
pub fn errors(output: &str) -> Vec<String> {
    let errors: Vec<String> = output
        .lines()
        .filter(|l| {
            l.starts_with("Error")
                || l.starts_with("Problem")
                || l.starts_with("No match for argument")
                || l.starts_with("  - ")
        })
        .map(str::to_string)
        .collect();
    if errors.is_empty() {
        let tail = super::report::last_lines(output, 5);
        if tail.is_empty() {
            return vec!["dnf failed without a message".into()];
        }
        return vec![tail];
    }
    errors
}

/// Whether installed `have` is what `want` asks for: exact, `version`
/// alone matching any release, without the epoch when `want` gives none,
/// or a `1.2*` prefix.
pub fn version_matches(have: &str, want: &str) -> bool {
    let bare = |v: &str| -> String {
        match v.split_once(':') {
            Some((e, rest)) if e.bytes().all(|c| c.is_ascii_digit()) => rest.to_string(),
            _ => v.to_string(),
        }
    };
    let h = if want.contains(':') {
        have.to_string()
    } else {
        bare(have)
    };
    if let Some(prefix) = want.strip_suffix('*') {
        return h.starts_with(prefix);
    }
    let w = if want.contains(':') {
        want.to_string()
    } else {
        bare(want)
    };
    h == w || (!w.contains('-') && h.rsplit_once('-').is_some_and(|(v, _)| v == w))
}

/// rpm's version order (`rpm.vercmp`: `rpmvercmp` on epoch, version and
/// release, a missing release sorting first).
pub fn vercmp(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if e.bytes().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
            _ => (0, v),
        };
        let (version, release) = rest.rsplit_once('-').unwrap_or((rest, ""));
        (epoch, version, release)
    }
    let (ea, va, ra) = split(a);
    let (eb, vb, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| rpmvercmp(va.as_bytes(), vb.as_bytes()))
        .then_with(|| rpmvercmp(ra.as_bytes(), rb.as_bytes()))
}

/// rpm's `rpmvercmp`: alternating digit and letter segments, `~` before
/// everything (even the end), `^` after the end but before anything else.
fn rpmvercmp(a: &[u8], b: &[u8]) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while i < a.len() && sep(a[i]) {
            i += 1;
        }
        while j < b.len() && sep(b[j]) {
            j += 1;
        }
        let (x, y) = (a.get(i).copied(), b.get(j).copied());
        if x == Some(b'~') || y == Some(b'~') {
            if x != Some(b'~') {
                return Ordering::Greater;
            }
            if y != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if x == Some(b'^') || y == Some(b'^') {
            match (x, y) {
                (None, _) => return Ordering::Less,
                (_, None) => return Ordering::Greater,
                (Some(b'^'), Some(b'^')) => {}
                (Some(b'^'), _) => return Ordering::Less,
                _ => return Ordering::Greater,
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(x), Some(_)) = (x, y) else { break };
        let digits = x.is_ascii_digit();
        let take = |s: &[u8], mut k: usize| {
            let start = k;
            while k < s.len()
                && if digits {
                    s[k].is_ascii_digit()
                } else {
                    s[k].is_ascii_alphabetic()
                }
            {
                k += 1;
            }
            (start, k)
        };
        let ((s1, e1), (s2, e2)) = (take(a, i), take(b, j));
        if s2 == e2 {
            // a number is newer than letters
            return if digits {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (mut p, mut q) = (&a[s1..e1], &b[s2..e2]);
        if digits {
            while p.first() == Some(&b'0') {
                p = &p[1..];
            }
            while q.first() == Some(&b'0') {
                q = &q[1..];
            }
            let by_len = p.len().cmp(&q.len());
            if by_len != Ordering::Equal {
                return by_len;
            }
        }
        let c = p.cmp(q);
        if c != Ordering::Equal {
            return c;
        }
        i = e1;
        j = e2;
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// The line listing what `upgrade` would bring (from the cache).
pub fn list_upgrades(tool: Tool, fromrepo: Option<&str>) -> String {
    let repo = match fromrepo {
        Some(r) => format!(" --disablerepo='*' --enablerepo={}", quote(r)),
        None => String::new(),
    };
    format!("{} -q -C{repo} list --upgrades", tool.name())
}

/// `dnf list --upgrades` lines (`name.arch  version-release  repo`) as
/// name to version; the `Available Upgrades` heading is no package.
pub fn parse_upgrades(lines: &[String], native_arch: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for l in lines {
        let cols: Vec<&str> = l.split_whitespace().collect();
        let [na, version, _repo] = cols.as_slice() else {
            continue;
        };
        let Some((name, arch)) = na.rsplit_once('.') else {
            continue;
        };
        m.insert(salt_name(name, arch, native_arch), version.to_string());
    }
    m
}

/// An rpm file's name and Salt's version (`epoch:` only when not 0) read
/// from its header on the controller (the lead, the signature header,
/// then the header itself: none of it compressed), or `None` when the
/// bytes are no rpm.
pub fn rpm_info(bytes: &[u8]) -> Option<(String, String)> {
    const MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
    let be = |b: &[u8], at: usize| -> Option<usize> {
        Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    if bytes.get(..4)? != [0xed, 0xab, 0xee, 0xdb] {
        return None;
    }
    // A header: magic, 4 reserved bytes, entry count, store size; then
    // 16-byte entries (tag, type, offset, count) and the store.
    let header = |at: usize| -> Option<(usize, usize, usize, usize)> {
        if bytes.get(at..at + 4)? != MAGIC {
            return None;
        }
        let n = be(bytes, at + 8)?;
        let size = be(bytes, at + 12)?;
        let entries = at + 16;
        let store = entries.checked_add(n.checked_mul(16)?)?;
        (store.checked_add(size)? <= bytes.len()).then_some((entries, n, store, size))
    };
    // The signature header is padded to 8 bytes.
    let (_, _, sstore, ssize) = header(96)?;
    let main = (sstore + ssize).div_ceil(8) * 8;
    let (entries, n, store, _) = header(main)?;
    let mut name = None;
    let mut version = None;
    let mut release = None;
    let mut epoch = None;
    for i in 0..n {
        let e = entries + i * 16;
        let (tag, kind, off) = (be(bytes, e)?, be(bytes, e + 4)?, be(bytes, e + 8)?);
        let at = store.checked_add(off)?;
        let text = || -> Option<String> {
            let b = bytes.get(at..)?;
            let end = b.iter().position(|&c| c == 0)?;
            String::from_utf8(b[..end].to_vec()).ok()
        };
        match (tag, kind) {
            (1000, 6) => name = text(),
            (1001, 6) => version = text(),
            (1002, 6) => release = text(),
            (1003, 4) => epoch = be(bytes, at).map(|v| v.to_string()),
            _ => {}
        }
    }
    let epoch = epoch.unwrap_or_default();
    Some((name?, evr(&epoch, &version?, &release?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An rpm's lead, an empty signature header and a header with the
    /// given (tag, type, data) entries, as rpm lays them out.
    fn rpm(entries: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut b = vec![0xed, 0xab, 0xee, 0xdb];
        b.resize(96, 0);
        let header = |b: &mut Vec<u8>, entries: &[(u32, u32, Vec<u8>)]| {
            let mut index: Vec<u8> = Vec::new();
            let mut store: Vec<u8> = Vec::new();
            for (tag, kind, data) in entries {
                for v in [*tag, *kind, store.len() as u32, 1] {
                    index.extend(v.to_be_bytes());
                }
                store.extend(data);
            }
            b.extend([0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0]);
            b.extend((entries.len() as u32).to_be_bytes());
            b.extend((store.len() as u32).to_be_bytes());
            b.extend(index);
            b.extend(store);
        };
        header(&mut b, &[(62, 7, vec![1, 2, 3])]);
        while b.len() % 8 != 0 {
            b.push(0);
        }
        header(&mut b, entries);
        b.extend(b"payload");
        b
    }

    #[test]
    fn rpm_name_and_version_from_the_header() {
        let text = |t: &str| format!("{t}\0").into_bytes();
        let base = vec![
            (1000, 6, text("halite-hello")),
            (1001, 6, text("1.1")),
            (1002, 6, text("1.el9")),
        ];
        assert_eq!(
            rpm_info(&rpm(&base)),
            Some(("halite-hello".into(), "1.1-1.el9".into()))
        );
        let mut with_epoch = base.clone();
        with_epoch.push((1003, 4, 2u32.to_be_bytes().to_vec()));
        assert_eq!(rpm_info(&rpm(&with_epoch)).unwrap().1, "2:1.1-1.el9");
        assert_eq!(rpm_info(&rpm(&base[..2])), None);
        assert_eq!(rpm_info(b"\xed\xab\xee\xdb short"), None);
        assert_eq!(rpm_info(b"!<arch>\n"), None);
    }

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    /// Real output (tests/compat/gen_platform_dnf.sh): rpm lines, rpm's
    /// "not installed" lines, a versionlock entry.
    #[test]
    fn list_lines_from_rpm_and_versionlock() {
        let k = known(
            &lines(include_str!("../../tests/compat/platform/dnf-list.txt")),
            "x86_64",
        );
        let hello = &k["halite-hello"];
        assert_eq!(hello.installed, ["1.0-1"]);
        assert!(hello.present && hello.held);
        assert!(!k.contains_key("halite-other") && !k.contains_key("bash"));
        let k = known(
            &lines("glibc\ti686\t0\t2.34\t83.el9\nglibc\tx86_64\t0\t2.34\t83.el9\nvim-enhanced\tx86_64\t2\t8.2.2637\t20.el9\n"),
            "x86_64",
        );
        assert_eq!(k["glibc"].installed, ["2.34-83.el9"]);
        assert_eq!(k["glibc.i686"].installed, ["2.34-83.el9"]);
        assert_eq!(k["vim-enhanced"].installed, ["2:8.2.2637-20.el9"]);
        assert_eq!(
            lock_name("vim-enhanced-2:8.2.2637-20.el9.*"),
            "vim-enhanced"
        );
        assert_eq!(lock_name("bash"), "bash");
    }

    #[test]
    fn candidates_from_repoquery() {
        let p = parse_policy(
            &lines(include_str!(
                "../../tests/compat/platform/dnf-repoquery.txt"
            )),
            "x86_64",
        );
        assert_eq!(p["halite-hello"], (None, Some("1.1-1".into())));
        assert_eq!(p["halite-other"], (None, Some("2.0-1".into())));
        assert!(!p.contains_key("nosuch"));
    }

    #[test]
    fn upgrades_and_errors() {
        let u = parse_upgrades(
            &lines(include_str!(
                "../../tests/compat/platform/dnf-list-upgrades.txt"
            )),
            "x86_64",
        );
        assert_eq!(u.len(), 1);
        assert_eq!(u["halite-hello"], "1.1-1");
        let e = errors(include_str!(
            "../../tests/compat/platform/dnf-install-errors.txt"
        ));
        assert_eq!(
            e,
            [
                "Error: Unable to find a match: nosuchpkg",
                "Error: Unable to find a match: halite-hello-1.1"
            ]
        );
        assert_eq!(errors("\n"), ["dnf failed without a message"]);
    }

    /// Each pair against rpm's own `rpm.vercmp` (the fixture's third column).
    #[test]
    fn version_order_is_rpms() {
        let table = include_str!("../../tests/compat/platform/rpm-vercmp.txt");
        for line in table.lines() {
            let [a, b, want] = line.split(' ').collect::<Vec<_>>()[..] else {
                panic!("bad fixture line {line}");
            };
            let want = match want {
                "-1" => Ordering::Less,
                "0" => Ordering::Equal,
                _ => Ordering::Greater,
            };
            assert_eq!(vercmp(a, b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn versions_asked_for() {
        assert!(version_matches("1.0-1", "1.0"));
        assert!(version_matches("1.0-1", "1.0-1"));
        assert!(!version_matches("1.0-1", "1.0-2"));
        assert!(!version_matches("1.0.1-1", "1.0"));
        assert!(version_matches("2:8.2-20.el9", "8.2-20.el9"));
        assert!(version_matches("2:8.2-20.el9", "2:8.2"));
        assert!(!version_matches("2:8.2-20.el9", "1:8.2"));
        assert!(version_matches("1.0.3-1", "1.0*"));
    }

    #[test]
    fn snippets_quote_and_choose_the_tool() {
        let o = InstallOpts {
            fromrepo: Some("local".into()),
            skip_verify: true,
            install_recommends: true,
            ..InstallOpts::default()
        };
        let s = install(Tool::Yum, &o, &["halite-hello-1.0".into()]);
        assert_eq!(
            s,
            "yum -y -q --nogpgcheck '--disablerepo=*' --enablerepo=local install -- halite-hello-1.0 >&2 </dev/null\nh_rc=$?\n"
        );
        assert!(hold(Tool::Dnf, true, &["a b".into()]).contains("dnf -q versionlock add -- 'a b'"));
        assert!(prelude(Tool::Yum).starts_with("LC_ALL=C\nexport LC_ALL\nh_pm=yum\n"));
        assert_eq!(
            install_word("halite-hello", Some("1.0")),
            "halite-hello-1.0"
        );
    }
}
