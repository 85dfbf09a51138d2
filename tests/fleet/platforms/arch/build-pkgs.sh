#!/bin/sh
# Why: builds the arch test host's packages with makepkg (as the unprivileged
# user `nobody`: makepkg refuses root) and indexes them with repo-add: the 1.0
# releases in /srv/repo (the configured repository `halite`), the 1.1 releases
# in /srv/repo-updates (not configured: a test adds it to drill an upgrade).
set -eu
work=/tmp/pkgbuild
mkdir -p "$work" /srv/repo /srv/repo-updates
# pacman's (empty) database, made by pacman itself as root: makepkg asks pacman
# about dependencies as nobody, who cannot create it (-Q on no packages fails).
pacman -Q >/dev/null || test -e /var/lib/pacman/local/ALPM_DB_VERSION
cp /tmp/platform/PKGBUILD /tmp/platform/bash "$work/"
chown -R nobody "$work"
for pkg in halite-hello halite-drill; do
    for ver in 1.0 1.1; do
        su -s /bin/sh nobody -c "cd $work && PKG=$pkg VER=$ver PKGEXT=.pkg.tar.gz makepkg -f >/dev/null"
    done
done
cp "$work"/halite-*-1.0-1-any.pkg.tar.gz /srv/repo/
cp "$work"/halite-*-1.1-1-any.pkg.tar.gz /srv/repo-updates/
repo-add -q /srv/repo/halite.db.tar.gz /srv/repo/*.pkg.tar.gz
repo-add -q /srv/repo-updates/halite-updates.db.tar.gz /srv/repo-updates/*.pkg.tar.gz
rm -rf "$work"
