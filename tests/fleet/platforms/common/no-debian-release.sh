#!/bin/sh
# Why: a platform test host is Debian underneath, but its release files must be
# the platform's only: /etc/os-release (a symlink to /usr/lib/os-release on
# Debian) is replaced by the platform's, and Debian's own markers are removed so
# that nothing reading release files (Salt's rules, halite's grains) sees Debian.
# apt and dpkg stay installed on purpose: the grains must pick the package
# manager from the os-release family, as Salt does, not from which tools exist.
set -eu
rm -f /etc/os-release /usr/lib/os-release /etc/debian_version /etc/lsb-release
install -m 644 /tmp/platform/os-release /usr/lib/os-release
ln -s ../usr/lib/os-release /etc/os-release
