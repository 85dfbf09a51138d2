#!/bin/sh
# Captures what dnf 4 and rpm really print for the commands src/platform/dnf.rs
# runs, as the fixtures its parsers are tested against
# (tests/compat/platform/dnf-*.txt). Run it against a throwaway container of the
# fleet image (Debian underneath, with Debian's dnf, rpm, createrepo-c and
# dnf-plugins-core; nothing here proves behaviour on a real RHEL):
#   podman run -d --name pf-dnf IMAGE /sbin/init   (with --network host, first
#   mask its ssh unit: its sshd would listen on this machine's port 22)
#   sh tests/compat/gen_platform_dnf.sh pf-dnf
set -eu
c=$1
out=$(dirname "$0")/platform
x() { podman exec "$c" sh -c "$1"; }
x 'command -v dnf >/dev/null || { apt-get -q update && DEBIAN_FRONTEND=noninteractive apt-get -y -q install dnf rpm createrepo-c dnf-plugins-core; } >/dev/null 2>&1'
x 'set -e
mkdir -p /etc/dnf/vars /etc/yum.repos.d /srv/repo
echo 9 >/etc/dnf/vars/releasever
sed -i "s/^enabled.*/enabled=0/" /etc/dnf/plugins/local.conf
mk() {
  d=$(mktemp -d); mkdir -p $d/SPECS
  printf "Name: %s\nVersion: %s\nRelease: 1\nSummary: halite test\nLicense: MIT\nBuildArch: noarch\n%%description\nhalite test\n%%install\nmkdir -p %%{buildroot}/usr/share/%s\necho %s >%%{buildroot}/usr/share/%s/version\n%%files\n/usr/share/%s/version\n" $1 $2 $1 $2 $1 $1 >$d/SPECS/$1.spec
  rpmbuild --define "_topdir $d" -bb $d/SPECS/$1.spec >/dev/null 2>&1
  cp $d/RPMS/noarch/*.rpm /srv/repo/
}
[ -e /srv/repo/halite-hello-1.1-1.noarch.rpm ] || { mk halite-hello 1.0; mk halite-hello 1.1; mk halite-other 2.0; createrepo_c -q /srv/repo; }
printf "[local]\nname=local\nbaseurl=file:///srv/repo\ngpgcheck=0\nenabled=1\n" >/etc/yum.repos.d/local.repo
dnf -q -y remove halite-hello halite-other >/dev/null 2>&1 || true
dnf -q versionlock clear >/dev/null 2>&1 || true
dnf -q -y makecache --refresh >/dev/null
dnf -q -y install halite-hello-1.0 >/dev/null
dnf -q versionlock add halite-hello >/dev/null'
qf='%{NAME}\t%{ARCH}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\n'
# h_list with names: rpm lines, "package X is not installed", then the locks
x "LC_ALL=C rpm -q --qf '$qf' -- halite-hello halite-other bash; sed -n '/^[^#!]/s/^/lock	/p' /etc/dnf/plugins/versionlock.list" >"$out/dnf-list.txt" || true
x "cat /etc/dnf/plugins/versionlock.list" >"$out/dnf-versionlock.list"
x "LC_ALL=C dnf -q -C repoquery --latest-limit 1 --qf '%{name}\t%{arch}\t%{epoch}\t%{version}\t%{release}' -- halite-hello halite-other nosuch" >"$out/dnf-repoquery.txt"
x "LC_ALL=C dnf -q -C list --upgrades" >"$out/dnf-list-upgrades.txt"
x "LC_ALL=C dnf -q -y install -- nosuchpkg 2>&1; LC_ALL=C dnf -q -y install -- halite-hello-1.1 2>&1" >"$out/dnf-install-errors.txt" || true
x "dnf --version | head -1; rpm --version" >"$out/dnf-versions.txt"
# rpm's own order for version pairs: "A B -1|0|1" (rpm.vercmp compares EVRs)
pairs='1.0 1.0|1.0 1.1|1.0-1 1.0-2|1.0 1.0-1|1:1.0 2.0|1.0~rc1 1.0|1.0^git1 1.0|1.0^git1 1.0.1|1.0a 1.0|1.0a 1.0.1|2.0.10 2.0.9|1.010 1.9|1.0.0 1.0|1.0_1 1.0.1|a b|1.0-1.el9 1.0-1.el10|0:1.0 1.0|1.0~~ 1.0~|5.2.15-2+b2 5.2.15-3'
x "IFS='|'; for p in \$(printf %s '$pairs'); do a=\${p% *}; b=\${p#* }; printf '%s %s %s\n' \"\$a\" \"\$b\" \"\$(rpm --eval \"%{lua: print(rpm.vercmp('\$a', '\$b'))}\")\"; done" >"$out/rpm-vercmp.txt"
