#!/bin/sh
# Captures what zypper 1.14 and rpm really print for the commands
# src/platform/zypper.rs runs, as the fixtures its parsers are tested against
# (tests/compat/platform/zypper-*.txt). Run it against the fleet's `suse`
# platform host (Debian underneath, Debian's zypper and rpm; nothing here
# proves behaviour on a real SUSE):
#   HALITE_FLEET_PREFIX=pf- ... bash tests/fleet/fleet.sh up-platforms
#   sh tests/compat/gen_platform_zypper.sh pf-suse
# It leaves the host as it found it (halite-hello removed, no lock, no
# `updates` repository).
set -eu
c=$1
out=$(dirname "$0")/platform
x() { podman exec "$c" sh -c "export LC_ALL=C; $1"; }
x 'zypper -q rr updates >/dev/null 2>&1; zypper -q ar -G -n "halite updates" file:///srv/repo-updates updates >/dev/null
zypper -n -q refresh >/dev/null
zypper -n -q install -- halite-hello=1.0-1 >/dev/null 2>&1
zypper -q addlock -- halite-hello >/dev/null'
qf='%{NAME}\t%{ARCH}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\n'
# h_list with names: rpm lines, "package X is not installed", then the locks
x "rpm -q --qf '$qf' -- halite-hello halite-drill nosuch; sed -n 's/^solvable_name:[[:space:]]*/lock	/p' /etc/zypp/locks" >"$out/zypper-list.txt" || true
x "cat /etc/zypp/locks" >"$out/zypper-locks.txt"
x "zypper -q --no-refresh search -s -x -t package -- halite-hello halite-drill nosuch" >"$out/zypper-search.txt"
x "zypper -q --no-refresh list-updates" >"$out/zypper-list-updates.txt"
x "zypper -n -q install -- nosuchpkg 2>&1; zypper -n -q install -- halite-hello=1.1 2>&1" >"$out/zypper-install-errors.txt" || true
x "cat /etc/zypp/repos.d/local.repo /etc/zypp/repos.d/updates.repo" >"$out/zypper-repos.txt"
x "zypper --version; rpm --version" >"$out/zypper-versions.txt"
x 'zypper -q removelock -- halite-hello >/dev/null; zypper -n -q remove -- halite-hello >/dev/null; zypper -q rr updates >/dev/null'
