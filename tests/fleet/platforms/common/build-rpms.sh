#!/bin/sh
# Why: builds the test RPMs (halite-test.spec) inside the rhel and suse image
# builds and indexes them with createrepo_c: the 1.0 releases in /srv/repo (the
# host's configured repository), the 1.1 releases in /srv/repo-updates (not
# configured: a test adds it to drill an upgrade), and the host's release
# package (build-rpms.sh NAME VERSION MAJOR), installed here.
# Usage: build-rpms.sh RELEASE-PACKAGE VERSION MAJOR
set -eu
release_pkg=$1 release_ver=$2 release_major=$3
# Debian's rpm keeps its database in each user's ~/.rpmdb; RHEL and SUSE keep
# one in /var/lib/rpm (where zypper's libzypp always looks): do as they do.
mkdir -p /etc/rpm /var/lib/rpm
echo '%_dbpath /var/lib/rpm' >/etc/rpm/macros.dbpath
top=/tmp/rpmbuild
mkdir -p "$top/SOURCES" /srv/repo /srv/repo-updates
cp /tmp/platform/bash "$top/SOURCES/bash"
for pkg in halite-hello halite-drill; do
    for ver in 1.0 1.1; do
        rpmbuild --quiet -bb --define "_topdir $top" --define "pkg $pkg" --define "ver $ver" \
            /tmp/platform/halite-test.spec
    done
done
rpmbuild --quiet -bb --define "_topdir $top" --define "pkg $release_pkg" \
    --define "ver $release_ver" --define "relver $release_major" /tmp/platform/release.spec
rpm -i --quiet "$top/RPMS/noarch/$release_pkg-$release_ver-1.noarch.rpm"
cp "$top"/RPMS/noarch/halite-*-1.0-1.noarch.rpm /srv/repo/
cp "$top"/RPMS/noarch/halite-*-1.1-1.noarch.rpm /srv/repo-updates/
createrepo_c --quiet /srv/repo
createrepo_c --quiet /srv/repo-updates
rm -rf "$top"
